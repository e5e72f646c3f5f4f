// The shapes the sidecar uses from core/policy and core/masking. Those modules are built
// concurrently; until they land, this file states the API they promised. When they land, the
// definitions below become re-exports so the rest of the sidecar keeps one import site.

/** An authenticated caller. `subject` is the token's username claim (OIDC) or `system:serviceaccount:ns:name`. */
export interface Identity {
  subject: string;
  groups: string[];
  kind: 'User' | 'ServiceAccount';
  namespace?: string;
}

/** One command as the policy engine sees it. */
export type Command =
  | { protocol: 'postgres'; sql: string }
  | { protocol: 'http'; method: string; path: string; query?: Record<string, string | string[]>; jsonBody?: unknown };

export interface Decision {
  decision: 'allow' | 'deny' | 'requireApproval';
  rule?: string;
  reason: string;
  code: string;
  approval?: { approverGroups: string[]; minApprovals: number; ttlSeconds: number };
  masking?: unknown;
}

export interface StreamMasker {
  push(chunk: string): string;
  end(): string;
}

export interface MaskSession {
  maskText(text: string): string;
  maskJson(value: unknown): unknown;
  maskCell(column: string, value: string | null): string | null;
  textStream(): StreamMasker;
  jsonStream(): StreamMasker;
  counts(): Record<string, number>;
}
