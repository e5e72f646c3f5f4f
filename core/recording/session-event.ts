// What the sidecar records for every command it sees. Personal data in here is always masked:
// the command text goes through the masker before it is recorded, results are masked samples.
export type Verdict = 'allow' | 'deny' | 'requireApproval';

export type SessionEventType = 'session.start' | 'command' | 'session.end' | 'approval.requested' | 'approval.consumed' | 'stream';

/** The wire protocols a target speaks (AccessPolicy spec.target.protocol). */
export type TargetProtocol = 'postgres' | 'http' | 'kubernetes' | 'ssh';

/**
 * One chunk of an interactive stream (an SSH shell/exec channel, a Kubernetes exec/attach
 * session), already masked. `t` is milliseconds since the session started, so a replay can keep
 * the timing (asciicast v2 keeps seconds since start; the exporter divides). Channels: `i` what
 * the agent typed (stdin), `o` stdout, `e` stderr, `r` a terminal resize ("COLSxROWS"), `n` a
 * note of the sidecar's own (STREAM_NOTE).
 */
export interface StreamFrame { t: number; ch: 'i' | 'o' | 'e' | 'r' | 'n'; data: string }

/**
 * The frame kind of the sidecar's notes on a stream: a signal the agent sent, the recording limit
 * reached, an SFTP transfer's or a forwarded connection's end. `data` is the note's sentence,
 * masked, on one line, without the `[guarita: …]` brackets: replay and the asciicast export show it
 * in a form of their own. Only the sidecar writes these frames; what the command prints is `o` or
 * `e`, whatever its text. Before round 12c the notes were `e` frames reading `[guarita: …]`, which
 * the command's own output could print byte for byte (records of that time cannot tell them apart).
 */
export const STREAM_NOTE = 'n' as const;

/** The frame kinds that carry what crossed the channel (the agent's input, the host's output, a resize), never a note. */
export type StreamDataChannel = Exclude<StreamFrame['ch'], typeof STREAM_NOTE>;

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
  protocol: TargetProtocol;
  sessionId: string;
  subject: string;
  subjectKind: 'User' | 'ServiceAccount';
  groups: string[];
  purpose?: string;
  command?: string;                   // masked SQL text or "METHOD /path"
  commandSha256?: string;             // of the exact, unmasked command (ties records to ApprovalRequests)
  /** True when `command` is only the first 64 KiB (UTF-8) of the masked text; `commandSha256` is still of the whole command. Absent otherwise. */
  commandTruncated?: boolean;
  decision?: Verdict;
  rule?: string;
  reason?: string;
  approvalRequest?: string;
  approval?: ApprovalEvidence;        // who approved, why, under which rule (approved commands)
  /**
   * What the command did, as far as the target answered it. `outcomeUnknown`: the command reached the
   * target, but the agent left before the target's answer and the sidecar could not read it within its
   * bound either, so `rows`/`status` say nothing about what the target did (absent, never 0 or an
   * invented status); `error` says why.
   */
  result?: { rows?: number; bytes?: number; bytesIn?: number; status?: number; sample?: string; truncated?: boolean; error?: string; outcomeUnknown?: boolean };
  masked?: Record<string, number>;    // per-type counts of masked values
  durationMs?: number;
  /** type 'stream': consecutive masked frames of one session, in order (several per record, so a fast stream is not one record per byte). */
  frames?: StreamFrame[];
  /** SSH: the channel (one exec, shell or sftp session inside the connection) a command or stream record belongs to. */
  channel?: number;
}
