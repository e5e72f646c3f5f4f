// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/), the format terminal recordings
// are replayed with (asciinema play, asciinema-player): one JSON header line, then one JSON array
// per event: [seconds since start, "o" | "i" | "r" | "m", data]. Built from the 'stream' records of
// a session (SSH shells and exec channels, Kubernetes exec): their frames are already masked. The
// sidecar's notes (frames `n`) are markers ("m", labelled with the note), which players show on
// their timeline, not in the terminal: the command's output cannot draw one. Pure.
import type { SessionEvent, StreamFrame } from './session-event.ts';
import { safeTerminalText } from './terminal-text.ts';

export interface AsciicastOptions {
  /** Which channel of the session (SessionEvent.channel); default: the first with frames. */
  channel?: number;
  /** Include what was typed as "i" events (asciinema ignores them when playing). Default true. */
  input?: boolean;
  title?: string;
}

export interface Asciicast {
  /** The channels the session's stream records hold, in order of appearance. */
  channels: number[];
  /** The channel converted. */
  channel: number;
  /** The file: header line, then one line per event, each ending in a newline. */
  text: string;
  events: number;
}

export class AsciicastError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AsciicastError';
  }
}

type StreamRecord = Pick<SessionEvent, 'type' | 'time' | 'frames' | 'channel' | 'sessionId'>;

const DEFAULT_SIZE = { width: 80, height: 24 };

function size(frames: readonly StreamFrame[]): { width: number; height: number } {
  const first = frames.find((f) => f.ch === 'r');
  const m = first === undefined ? null : /^(\d{1,4})x(\d{1,4})$/.exec(first.data);
  return m === null ? DEFAULT_SIZE : { width: Number(m[1]), height: Number(m[2]) };
}

/** The stream records' channels, in order of appearance (records without one count as channel 0). */
export function streamChannels(records: readonly StreamRecord[]): number[] {
  return [...new Set(records.filter((r) => r.type === 'stream' && (r.frames?.length ?? 0) > 0).map((r) => r.channel ?? 0))];
}

/** Converts one channel of a session's records (any order) to asciicast v2; throws when there is no stream to convert. */
export function toAsciicast(records: readonly StreamRecord[], opts: AsciicastOptions = {}): Asciicast {
  const channels = streamChannels(records);
  const channel = opts.channel ?? channels[0];
  if (channel === undefined) throw new AsciicastError('the session has no terminal stream records (only SSH exec/shell channels and Kubernetes exec sessions are recorded as streams)');
  if (!channels.includes(channel)) throw new AsciicastError(`the session has no stream records for channel ${channel} (channels: ${channels.join(', ')})`);
  const mine = records.filter((r) => r.type === 'stream' && (r.channel ?? 0) === channel).sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  const frames = mine.flatMap((r) => r.frames ?? []);
  const first = mine[0];
  // The channel started when its first record was written, less that record's last frame offset.
  const startedAt = first === undefined ? 0 : Date.parse(first.time) - (first.frames?.at(-1)?.t ?? 0);
  const header = {
    version: 2, ...size(frames), timestamp: Math.floor(startedAt / 1000),
    ...(opts.title === undefined ? {} : { title: opts.title }), env: { TERM: 'xterm-256color' },
  };
  const events = eventLines(frames, opts.input !== false);
  return { channels, channel, text: `${[JSON.stringify(header), ...events].join('\n')}\n`, events: events.length };
}

/** asciicast v2 event codes: stderr is output to a terminal; a note is a marker. */
const EVENT_CODE: Record<StreamFrame['ch'], string> = { i: 'i', o: 'o', e: 'o', r: 'r', n: 'm' };

/**
 * An event's data as `guarita replay` shows it: `asciinema play` writes output to a terminal (a size
 * is a size); a marker's label is shown by the player as text, so it is one line without controls.
 */
function eventData(f: StreamFrame): string {
  if (f.ch === 'r') return f.data;
  // eslint-disable-next-line no-control-regex -- the colour sequences safeTerminalText keeps are what is matched
  if (f.ch === 'n') return safeTerminalText(f.data.replace(/[\r\n]+/g, ' ')).replace(/\x1b\[[0-9;:]*[A-Za-z]/g, '');
  return safeTerminalText(f.data);
}

function eventLines(frames: readonly StreamFrame[], input: boolean): string[] {
  const lines: string[] = [];
  let last = 0;
  for (const f of frames) {
    if (f.ch === 'i' && !input) continue;
    // Frames are in order; a clock step back is played at once rather than out of order.
    last = Math.max(last, f.t);
    // A frame kind this version does not know (a newer sidecar's) is left out rather than written as output.
    const code = Object.hasOwn(EVENT_CODE, f.ch) ? EVENT_CODE[f.ch] : undefined;
    if (code === undefined) continue;
    lines.push(JSON.stringify([Number((last / 1000).toFixed(6)), code, eventData(f)]));
  }
  return lines;
}
