// One allowed command as it runs: its masking session, the bounded sample for the record, row
// and byte counts, timing, and the single `complete()` call that records it.
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
    const result: NonNullable<CommandOutcome['result']> = { rows: this.rows + this.setRows, bytes: this.bytes };
    const sample = this.sample.text();
    if (sample !== undefined) result.sample = sample;
    result.truncated = this.sample.truncated;
    if (this.error !== undefined) result.error = this.error;
    return result;
  }
}
