// ApprovalRequest: a command held by a sidecar until approvers decide. The sidecar creates it;
// approvers append a review with `kubectl patch`; the admission webhook stamps who reviewed;
// the operator moves the phase; the sidecar consumes it exactly once.
import { Type } from '@sinclair/typebox';
import { cel, conditions, dnsLabel, obj, str } from './common.ts';

const immutable = (what: string): ReturnType<typeof cel> => cel({ rule: 'self == oldSelf', message: `${what} is immutable` });

const decision = Type.Union([Type.Literal('Approved'), Type.Literal('Denied')], { description: 'Approved or Denied.' });

const review = obj('A reviewer\'s decision. Append with: kubectl patch approvalrequest NAME --type=json -p \'[{"op":"add","path":"/spec/reviews/-","value":{"decision":"Approved","reason":"ticket 123"}}]\'', {
  decision,
  reason: str('Why; required for the audit trail.', { minLength: 1, maxLength: 1024 }),
  reviewer: Type.Optional(str('Set by the admission webhook to the authenticated user. Omit it, or give your own username; a different value is rejected.', { maxLength: 256 })),
  reviewerGroups: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { description: 'Set by the admission webhook: the reviewer\'s groups at review time.', maxItems: 64 })),
  reviewerUid: Type.Optional(str('Set by the admission webhook: the reviewer\'s uid as the apiserver authenticated them (when it sets one), for the four-eyes check where the apiserver maps uids from a claim.', { maxLength: 256 })),
  time: Type.Optional(str('Set by the admission webhook: when the review was admitted.', { format: 'date-time' })),
});

export const approvalRequestSpec = obj('The held command and who asked. Everything except reviews is immutable after creation.', {
  policyRef: obj('The AccessPolicy whose rule required approval.', { name: dnsLabel('AccessPolicy name (same namespace).', 253) }, immutable('policyRef')),
  rule: Type.String({ description: 'Name of the rule that required approval.', minLength: 1, maxLength: 63, ...immutable('rule') }),
  requester: obj('The authenticated identity that issued the command.', {
    username: str('Subject name.', { minLength: 1, maxLength: 256 }),
    groups: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { description: 'Groups from the token.', maxItems: 64 })),
    kind: Type.Union([Type.Literal('User'), Type.Literal('ServiceAccount')], { description: 'User (OIDC) or ServiceAccount.' }),
    // What the four-eyes check maps to the reviewer's Kubernetes username (core/approvals/requester.ts).
    issuer: Type.Optional(str('User only: the OIDC issuer that authenticated the requester (the token\'s iss). With the apiserver\'s username mapping for it (GUARITA_OIDC_USERNAME_MAPPINGS), the webhook and the operator recognise the requester among reviewers.', { maxLength: 2048 })),
    claims: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 256 }), {
      description: 'User only: the token\'s claims an apiserver may map to usernames (sub, email, preferred_username, and the policy\'s usernameClaim), as strings.',
      maxProperties: 8,
    })),
  }, cel(
    { rule: 'self == oldSelf', message: 'requester is immutable' },
    { rule: 'self.kind != \'ServiceAccount\' || self.username.startsWith(\'system:serviceaccount:\')', message: 'a ServiceAccount requester is recorded as system:serviceaccount:<namespace>:<name>' },
  )),
  purpose: Type.String({ description: 'Purpose the requester declared.', minLength: 1, maxLength: 64, ...immutable('purpose') }),
  target: obj('Target the command is for.', {
    name: str('Target name.', { minLength: 1, maxLength: 40 }),
    protocol: Type.Union([Type.Literal('postgres'), Type.Literal('http'), Type.Literal('kubernetes'), Type.Literal('ssh')], { description: 'postgres, http, kubernetes or ssh.' }),
  }, immutable('target')),
  command: obj('The exact command; approval is bound to its SHA-256.', {
    text: str('The command (SQL text, or HTTP method and path). Literals are not masked: reviewers need to see what will run.', { minLength: 1, maxLength: 65536 }),
    preview: str('First line of the command, shortened for kubectl get.', { maxLength: 80 }),
    sha256: str('SHA-256 (hex) of text; the sidecar runs only a command with this hash.', { pattern: '^[0-9a-f]{64}$' }),
  }, immutable('command')),
  podRef: obj('The agent pod whose sidecar holds the command.', {
    name: str('Pod name.', { minLength: 1, maxLength: 253 }),
    uid: Type.Optional(str('Pod UID.', { maxLength: 64 })),
  }, immutable('podRef')),
  sessionId: Type.String({ description: 'Session the command belongs to (see guarita sessions).', minLength: 1, maxLength: 128, ...immutable('sessionId') }),
  expiresAt: Type.String({ description: 'After this time the request can no longer be approved.', format: 'date-time', ...immutable('expiresAt') }),
  // The plan the approval answers (core/approvals/plan.ts): the sidecar runs the command only while
  // the rule in force asks no more than this, and the signed evidence names it.
  approval: Type.Optional(obj('Set by the sidecar: the approval plan of the rule when the command was held (the rule\'s approval block). The webhook checks it against the rule at creation. The approval is used only while the rule in force asks no more (its approver groups include these, it needs no more approvals) and the counted reviews satisfy the rule in force; otherwise the command is held on a new request. Absent on requests of older sidecars.', {
    approverGroups: Type.Array(str('A group whose members may approve.', { minLength: 1, maxLength: 256 }), { description: 'The rule\'s approverGroups.', minItems: 1, maxItems: 16 }),
    minApprovals: Type.Integer({ description: 'The rule\'s minApprovals.', minimum: 1, maximum: 10 }),
    ttlSeconds: Type.Integer({ description: 'The rule\'s ttl, in seconds.', minimum: 0 }),
  }, immutable('approval'))),
  reviews: Type.Optional(Type.Array(review, {
    description: 'Append-only list of decisions. Reviewers must be in an approver group of the rule and cannot be the requester; one Denied ends the request.',
    maxItems: 20,
    ...cel({ rule: 'size(self) >= size(oldSelf) && oldSelf.all(r, r in self)', message: 'reviews are append-only: add one with op add at /spec/reviews/-' }),
  })),
}, cel(
  { rule: 'has(self.reviews) == has(oldSelf.reviews) || !has(oldSelf.reviews)', message: 'reviews cannot be removed', fieldPath: '.reviews' },
  { rule: 'has(self.approval) == has(oldSelf.approval)', message: 'approval is immutable: it is recorded when the request is created and cannot be added or removed', fieldPath: '.approval' },
));

/** status.execution.outcome: Unknown when the sidecar never read the upstream's answer (the record's result.outcomeUnknown). */
export const EXECUTION_OUTCOMES = ['Succeeded', 'Failed', 'Unknown'] as const;

const execution = obj('What happened when the sidecar ran the approved command.', {
  startedAt: str('When it started.', { format: 'date-time' }),
  finishedAt: Type.Optional(str('When it finished.', { format: 'date-time' })),
  outcome: Type.Union(EXECUTION_OUTCOMES.map((o) => Type.Literal(o)), { description: 'Succeeded, Failed, or Unknown: the command reached the upstream but its answer was never read (the agent left, the upstream closed, the sidecar ended the session), so it may have taken effect; error says why. Records of older sidecars have no Unknown.' }),
  rows: Type.Optional(Type.Integer({ description: 'Rows returned or affected.', minimum: 0 })),
  bytes: Type.Optional(Type.Integer({ description: 'Response bytes.', minimum: 0 })),
  error: Type.Optional(str('Upstream error, if any (masked).', { maxLength: 4096 })),
  recordSequence: Type.Optional(Type.Integer({ description: 'Sequence of the session record describing it.', minimum: 0 })),
});

export const PHASES = ['Pending', 'Approved', 'Denied', 'Expired', 'Consumed'] as const;

export const approvalRequestStatus = obj('Observed state, written by the operator and the sidecar.', {
  phase: Type.Optional(Type.Union(PHASES.map((p) => Type.Literal(p)), { description: 'Pending, Approved, Denied, Expired or Consumed.' })),
  approvals: Type.Optional(Type.Integer({ description: 'Approved reviews counted so far.', minimum: 0 })),
  required: Type.Optional(Type.Integer({ description: 'Approvals the rule requires.', minimum: 1 })),
  reviews: Type.Optional(Type.Array(obj('A counted review with the authenticated reviewer.', {
    reviewer: str('Authenticated user (from the admission request, not the client).', { maxLength: 256 }),
    decision,
    reason: str('Reason given.', { maxLength: 1024 }),
    time: str('When it was admitted.', { format: 'date-time' }),
  }), { description: 'Reviews as counted by the operator.', maxItems: 20 })),
  decidedAt: Type.Optional(str('When the phase left Pending.', { format: 'date-time' })),
  consumeBy: Type.Optional(str('Set by the operator while Approved: the last moment the sidecar may run the approved command (spec.expiresAt plus the operator\'s GUARITA_APPROVED_GRACE); the request expires after it. Sidecars refuse to claim past it (spec.expiresAt when absent) even while the operator is down.', { format: 'date-time' })),
  consumedAt: Type.Optional(str('When the sidecar ran the command.', { format: 'date-time' })),
  message: Type.Optional(str('Human-readable state.', { maxLength: 1024 })),
  execution: Type.Optional(execution),
  conditions: Type.Optional(conditions),
});
