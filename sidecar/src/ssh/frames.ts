// Batches the masked, timed frames of one channel into 'stream' records: a record is written when
// its frames reach MAX_RECORD_CHARS, when the channel has been quiet for FLUSH_DELAY_MS, and at
// the end, so records stay bounded and a fast stream is not one record per chunk. At most
// `maxChars` of a channel are recorded; past it the recording says so once and keeps the count
// (the command's record carries the total and truncated). Writes are serialized; a spool that
// cannot write fails the channel (recording is mandatory).
import type { StreamFrame } from '../../../core/recording/index.ts';

export const MAX_RECORD_CHARS = 16 * 1024;
const FLUSH_DELAY_MS = 200;

export type WriteFrames = (frames: StreamFrame[]) => Promise<unknown>;

export class FrameRecorder {
  readonly #write: WriteFrames;
  readonly #started: number;
  readonly #maxChars: number;
  #frames: StreamFrame[] = [];
  #chars = 0;
  #total = 0;
  #truncated = false;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #failure: unknown;
  readonly #onFailure: (err: unknown) => void;

  constructor(opts: { write: WriteFrames; startedAt: number; maxChars: number; onFailure: (err: unknown) => void }) {
    this.#write = opts.write;
    this.#started = opts.startedAt;
    this.#maxChars = opts.maxChars;
    this.#onFailure = opts.onFailure;
  }

  get truncated(): boolean { return this.#truncated; }

  /** Whether a write failed (nothing more is written; onFailure was called). */
  get failed(): boolean { return this.#failure !== undefined; }

  add(ch: StreamFrame['ch'], data: string): void {
    if (data === '') return;
    if (this.#total + data.length > this.#maxChars) {
      if (!this.#truncated) {
        this.#truncated = true;
        const room = Math.max(0, this.#maxChars - this.#total);
        if (room > 0) this.#push(ch, data.slice(0, room));
        this.#push('e', `\r\n[guarita: recording limit of ${this.#maxChars} characters reached for this channel; later output is not recorded]\r\n`);
        void this.flush();
      }
      return;
    }
    this.#total += data.length;
    this.#push(ch, data);
  }

  #push(ch: StreamFrame['ch'], text: string): void {
    // A record holds at most MAX_RECORD_CHARS of frames, however large the chunk.
    for (let i = 0; i < text.length; i += MAX_RECORD_CHARS) this.#pushPiece(ch, text.slice(i, i + MAX_RECORD_CHARS));
  }

  #pushPiece(ch: StreamFrame['ch'], data: string): void {
    const t = Math.max(0, Math.round(performance.now() - this.#started));
    const last = this.#frames[this.#frames.length - 1];
    // Consecutive chunks of one channel within the same millisecond are one frame.
    if (last !== undefined && last.ch === ch && last.t === t && this.#chars + data.length <= MAX_RECORD_CHARS) last.data += data;
    else this.#frames.push({ t, ch, data });
    this.#chars += data.length;
    if (this.#chars >= MAX_RECORD_CHARS) void this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.flush(), FLUSH_DELAY_MS);
      this.#timer.unref();
    }
  }

  /** Writes the frames held now (in order after earlier writes). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#frames.length > 0) {
      const frames = this.#frames;
      this.#frames = [];
      this.#chars = 0;
      this.#chain = this.#chain.then(async () => {
        if (this.#failure !== undefined) return;
        try {
          await this.#write(frames);
        } catch (err) {
          this.#failure = err;
          this.#onFailure(err);
        }
      });
    }
    return this.#chain;
  }
}
