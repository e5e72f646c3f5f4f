// Batches the masked, timed frames of one channel into 'stream' records: a record is written when
// its frames reach MAX_RECORD_CHARS, when the channel has been quiet for FLUSH_DELAY_MS, and at
// the end, so records stay bounded and a fast stream is not one record per chunk. At most
// `maxChars` of a channel are recorded; past it the recording says so once and keeps the count
// (the command's record carries the total and truncated). Writes are serialized; a spool that
// cannot write fails the channel (recording is mandatory). The sidecar's own notes (a signal, the
// recording limit) are frames of their own kind (`n`, STREAM_NOTE), never text in the output's
// frames, which the command could print itself (round 12c review); `add` cannot write one.
import type { StreamFrame } from '../../../core/recording/index.ts';
import { STREAM_NOTE, type StreamDataChannel } from '../../../core/recording/session-event.ts';

export const MAX_RECORD_CHARS = 16 * 1024;
/**
 * Notes one channel records at most (they are outside `maxChars`, so a note is recorded after the
 * output's limit too): an agent sending signals without end would otherwise grow the record
 * without bound. Past it, `note` returns false and what it would note does not happen.
 */
export const MAX_NOTES = 256;
/** A note's longest text (an SFTP path, a host's error message), in characters. */
export const MAX_NOTE_CHARS = 1024;

/** A note's text as recorded: one line, at most MAX_NOTE_CHARS. */
export function noteText(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length <= MAX_NOTE_CHARS ? line : `${line.slice(0, MAX_NOTE_CHARS - 1)}…`;
}

/** A frame holding the sidecar's note `text` (noteText). */
export function noteFrame(t: number, text: string): StreamFrame {
  return { t, ch: STREAM_NOTE, data: noteText(text) };
}
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
  #notes = 0;
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

  /** What crossed the channel (never a note: `note`). */
  add(ch: StreamDataChannel, data: string): void {
    if (data === '') return;
    if (this.#total + data.length > this.#maxChars) {
      if (!this.#truncated) {
        this.#truncated = true;
        const room = Math.max(0, this.#maxChars - this.#total);
        if (room > 0) this.#push(ch, data.slice(0, room));
        this.note(`recording limit of ${this.#maxChars} characters reached for this channel; later output is not recorded`);
        void this.flush();
      }
      return;
    }
    this.#total += data.length;
    this.#push(ch, data);
  }

  /**
   * Records the sidecar's note (one line, noteText) as a frame of its own, outside the output's
   * character limit. False when the channel already has MAX_NOTES (nothing recorded: the caller
   * then does not do what it would note).
   */
  note(text: string): boolean {
    if (this.#notes >= MAX_NOTES) return false;
    this.#notes++;
    this.#pushPiece(STREAM_NOTE, noteText(text));
    return true;
  }

  #push(ch: StreamDataChannel, text: string): void {
    // A record holds at most MAX_RECORD_CHARS of frames, however large the chunk.
    for (let i = 0; i < text.length; i += MAX_RECORD_CHARS) this.#pushPiece(ch, text.slice(i, i + MAX_RECORD_CHARS));
  }

  #pushPiece(ch: StreamFrame['ch'], data: string): void {
    const t = Math.max(0, Math.round(performance.now() - this.#started));
    const last = this.#frames[this.#frames.length - 1];
    // Consecutive chunks of one channel within the same millisecond are one frame (each note its own).
    if (last !== undefined && ch !== STREAM_NOTE && last.ch === ch && last.t === t && this.#chars + data.length <= MAX_RECORD_CHARS) last.data += data;
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
