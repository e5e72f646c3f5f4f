// The one place the sidecar takes its types from core/policy and core/masking.
export type { Identity, Command, Decision, DecisionCode, CompiledPolicy, ApprovalPlan } from '../../core/policy/types.ts';
export type { MaskSession, StreamMasker, TextStreamMasker, Masker, MaskCounts } from '../../core/masking/types.ts';
