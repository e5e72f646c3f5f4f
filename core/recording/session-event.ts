// What the sidecar records for every command it sees. Personal data in here is always masked:
// the command text goes through the masker before it is recorded, results are masked samples.
export type Verdict = 'allow' | 'deny' | 'requireApproval';

export type SessionEventType = 'session.start' | 'command' | 'session.end' | 'approval.requested' | 'approval.consumed';

/** A reviewer's decision as counted for an approval (the webhook stamped reviewer, groups and time). */
export interface ApprovalReviewEvidence {
  reviewer: string;
  groups: string[];
  decision: 'Approved' | 'Denied';
  reason: string;                     // masked
  time: string;                       // RFC 3339
}

/** approval.consumed (and the approved command's record): the approval as decided, kept after the ApprovalRequest is deleted. */
export interface ApprovalEvidence {
  request: string;                    // ApprovalRequest name
  rule: string;
  required: number;                   // approvals the rule required
  approvals: number;                  // approvals counted
  approverGroups?: string[];          // groups the rule accepts approvers from
  requestedAt?: string;
  decidedAt?: string;
  consumedAt?: string;
  reviews: ApprovalReviewEvidence[];
}

export interface SessionEvent {
  type: SessionEventType;
  time: string;                       // RFC 3339
  namespace: string;
  pod: string;
  policy: string;
  target: string;
  protocol: 'postgres' | 'http';
  sessionId: string;
  subject: string;
  subjectKind: 'User' | 'ServiceAccount';
  groups: string[];
  purpose?: string;
  command?: string;                   // masked SQL text or "METHOD /path"
  commandSha256?: string;             // of the exact, unmasked command (ties records to ApprovalRequests)
  decision?: Verdict;
  rule?: string;
  reason?: string;
  approvalRequest?: string;
  approval?: ApprovalEvidence;        // who approved, why, under which rule (approved commands)
  result?: { rows?: number; bytes?: number; status?: number; sample?: string; truncated?: boolean; error?: string };
  masked?: Record<string, number>;    // per-type counts of masked values
  durationMs?: number;
}
