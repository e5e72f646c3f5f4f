// The decision core's public types. The sidecar (HTTP and PostgreSQL paths) and the CLI are built
// against these names: change them only together with their users.
import type { AccessPolicy, PolicyMasking, SqlStatementKind, SqlTrait } from '../../crds/types.ts';
import type { KubernetesAttributes } from './kubernetes-request.ts';
import type { SshRequest } from './ssh.ts';

export type { SqlStatementKind, SqlTrait, KubernetesAttributes, SshRequest };

/** The verified caller: the sidecar fills it from a validated token, the CLI from its flags. */
export interface Identity {
  subject: string;
  groups: string[];
  kind: 'User' | 'ServiceAccount';
  /** ServiceAccount only, when `subject` is the bare name rather than system:serviceaccount:<ns>:<name>. */
  namespace?: string;
  /** User (OIDC) only: the token's issuer and the claims an apiserver may map to usernames (recorded in ApprovalRequests for the four-eyes check). */
  issuer?: string;
  claims?: Record<string, string>;
}

export type Command =
  | { protocol: 'postgres'; sql: string }
  | { protocol: 'http'; method: string; path: string; query?: Record<string, string | string[]>; jsonBody?: unknown }
  // Kubernetes: the attributes the apiserver derives (core/policy/kubernetes-request.ts), or why
  // the request cannot be read (denied as Unparseable, and recorded).
  | { protocol: 'kubernetes'; request: KubernetesAttributes | { problem: string } }
  // SSH: a channel request (exec, shell, port forwarding) or one SFTP operation (core/policy/ssh.ts).
  | { protocol: 'ssh'; ssh: SshRequest };

export type Verdict = 'allow' | 'deny' | 'requireApproval';

export type DecisionCode =
  | 'Allowed' | 'NoMatchingRule' | 'RuleDenied' | 'ApprovalRequired' | 'SubjectNotAllowed' | 'SubjectRevoked'
  | 'PurposeMissing' | 'PurposeNotAllowed' | 'Unparseable' | 'ProtocolMismatch'
  // spec.sensitiveColumns: a personal column used otherwise than returned as is (deny; held statements are ApprovalRequired).
  | 'SensitiveColumnUse'
  // SSH: a path the host could not resolve, under a rule that judges paths (fail closed, core/policy/ssh.ts).
  | 'PathUnresolved';

export interface ApprovalPlan { approverGroups: string[]; minApprovals: number; ttlSeconds: number }

export interface Decision {
  decision: Verdict;
  /** The deciding rule's name (absent for identity, purpose, protocol and parse denials). */
  rule?: string;
  /** Human readable. Names rules, statement kinds, traits, tables and functions, never literals from the command. */
  reason: string;
  code: DecisionCode;
  /** requireApproval only: who must approve, how many, and how long the request stays open. */
  approval?: ApprovalPlan;
  /** allow and requireApproval only: policy.spec.masking (undefined = the masking defaults). */
  masking?: PolicyMasking;
  /** Kubernetes allow only: the deciding rule shows Secret data in clear (masked by detectors) instead of redacting it. */
  revealSecretData?: boolean;
  /** SQL only: the classification and verdict of every statement, in order. */
  statements?: StatementInfo[];
  /** SQL only: personal columns (spec.sensitiveColumns) used otherwise than returned as is: which column, how and where. */
  sensitiveColumns?: SensitiveColumnUse[];
}

export interface SensitiveColumnUse {
  /** schema.table.column as spec.sensitiveColumns names it (through views, CTEs and subqueries). */
  column: string;
  /** The construct using it: "function argument md5()", "comparison LIKE", "cast to int8", "whole-row reference in ...". */
  use: string;
  /** Where: "select list item 1", "WHERE", "CTE x: ORDER BY item 1". */
  path: string;
  /** 1-based statement number in the text. */
  statement: number;
}

export interface StatementInfo {
  kind: SqlStatementKind;
  traits: SqlTrait[];
  /** Tables touched: schema.table when qualified in the SQL, the plain name otherwise. */
  tables: string[];
  /** Functions called explicitly (schema-qualified as written). */
  functions: string[];
  /** Set by evaluate(). classifySql() (no policy) reports 'deny' and no rule: unevaluated is not allowed. */
  verdict: Verdict;
  rule?: string;
}

export interface CompiledPolicy {
  readonly policy: AccessPolicy;
  /** undefined = subject and purpose are fine; otherwise the denial (session start, revocation sweeps). */
  checkAccess(identity: Identity, purpose: string | undefined): Decision | undefined;
  /** Synchronous once initPolicyEngine() has resolved. Never throws for any command: what it cannot follow it denies. */
  evaluate(input: { identity: Identity; purpose: string | undefined; command: Command }): Decision;
  /**
   * SSH targets: whether resolving an exec's paths on the host can change its decision, for a
   * session of `purpose` that `access` says may use the policy (core/policy/ssh.ts resolutionMatters).
   */
  resolutionMatters(request: SshRequest, facts: { purpose: string; access: boolean }): boolean;
}
