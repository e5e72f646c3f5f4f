// One allowed command as it runs: its masking session, the bounded sample for the record, row
// and byte counts, timing, and the single `complete()` call that records it. The record states
// only what the server answered: a command sent upstream whose answer was never read is recorded
// as `outcomeUnknown` (abandon()), never as a count or an error the server did not send.
import type { Authorization, CommandOutcome, MaskSession, Session } from '../enforcement.ts';
import { SampleCollector } from './rows.ts';

export type Allowed = Extract<Authorization, { verdict: 'allow' }>;

/** The tag's trailing count: `SELECT 3`, `UPDATE 2`, `INSERT 0 1`, `COPY 50`. */
export function tagRows(tag: string): number | undefined {
  const m = /(\d+)$/.exec(tag);
  return m === null ? undefined : Number(m[1]);
}

export class Execution {
  readonly mask: MaskSession;
  readonly sample: SampleCollector;
  private readonly auth: Allowed;
  private started = performance.now();
  private rows = 0;
  private bytes = 0;
  private error: string | undefined;
  /** The server answered this run with an ErrorResponse: its outcome is known (it failed). */
  private serverFailed = false;
  /** Executes (or the Query) sent upstream for this run; a portal's run is sent once per Execute. */
  private sends = 0;
  private unknown = false;
  private finished: Promise<void> | undefined;
  /** Rows counted in the current result set (DataRows or COPY rows). */
  private setRows = 0;

  constructor(auth: Allowed, session: Session) {
    this.auth = auth;
    this.mask = session.newMaskSession();
    this.sample = new SampleCollector(session.recordingLimits());
  }

  get approvalRequest(): string | undefined {
    return this.auth.approvalRequest;
  }

  /** Restarts the clock (a statement authorized at Parse runs at Execute). */
  begin(): void {
    this.started = performance.now();
  }

  row(bytes: number): void {
    this.setRows++;
    this.bytes += bytes;
  }

  /** End of one result set: DataRows counted, else the tag's count (writes). */
  commandComplete(tag: string): void {
    this.rows += this.setRows > 0 ? this.setRows : (tagRows(tag) ?? 0);
    this.setRows = 0;
  }

  fail(message: string): void {
    this.error ??= message;
  }

  /** The server's ErrorResponse for this run: it ended, failed (the listener's own reason, if it gave one first, stays). */
  failedUpstream(message: string): void {
    this.serverFailed = true;
    this.fail(message);
  }

  /** The server answered with an error it ended this run with (an ErrorResponse read, no CommandComplete). */
  get answeredByError(): boolean {
    return this.serverFailed;
  }

  /** Its Query or Execute was handed to the upstream (sent); `unsent()` when those bytes were dropped before leaving. */
  sent(): void {
    this.sends++;
  }

  unsent(): void {
    this.sends = Math.max(0, this.sends - 1);
  }

  /** Whether anything of this run reached the server. */
  get wasSent(): boolean {
    return this.sends > 0;
  }

  /**
   * Recorded without the server's answer: the command was sent, the server may have run it (or
   * be running it), and nothing says how it ended. `rows` is left out (0 would state a fact);
   * `error` says why the outcome was not read. Bytes and the sample are what was read.
   */
  abandon(why: string): Promise<void> {
    if (this.finished !== undefined) return this.finished;
    this.unknown = true;
    // The listener's own reason (a COPY it cut) stays, after what the record must say first.
    this.error = this.error === undefined ? why : `${why}; before that: ${this.error}`;
    return this.finish();
  }

  get isFinished(): boolean {
    return this.finished !== undefined;
  }

  /** Records the command once; later calls return the same promise. */
  finish(error?: string): Promise<void> {
    if (error !== undefined) this.fail(error);
    this.finished ??= this.auth.complete({
      result: this.result(),
      masked: this.mask.counts(),
      durationMs: Math.round((performance.now() - this.started) * 1000) / 1000,
    });
    return this.finished;
  }

  /** The record's result: members assigned only when present (an undefined member is not the same JSON as an absent one). */
  private result(): NonNullable<CommandOutcome['result']> {
    const result: NonNullable<CommandOutcome['result']> = this.unknown ? { bytes: this.bytes } : { rows: this.rows + this.setRows, bytes: this.bytes };
    const sample = this.sample.text();
    if (sample !== undefined) result.sample = sample;
    result.truncated = this.sample.truncated;
    if (this.error !== undefined) result.error = this.error;
    if (this.unknown) result.outcomeUnknown = true;
    return result;
  }
}
