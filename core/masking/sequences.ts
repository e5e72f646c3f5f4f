// Terminal escape sequences as the raw text holds them (round 12c). The engine's first reading is what a terminal
// shows (decode.ts, invisible.ts: sequences dropped), but an agent reading the raw bytes (an LLM reading a program's
// output, a log file, an HTTP body, a PostgreSQL cell) sees what is inside them too: `cpf \e[52998224725m` (a CSI's
// parameters), `\e]8;;http://x/52998224725\a` (an OSC 8 hyperlink's URL), a window title, a DCS, APC, PM or SOS
// string. Two more readings, for text holding ESC or a C1 control (as itself or as an escape: decode.ts `framed`):
// - kept: each sequence's framing (ESC and its introducer, a CSI's final byte, the string terminator, the 8-bit C1
//   forms, BEL) read as a space, its content as text, so an identifier inside is found, and masked in place;
// - whole: every sequence dropped as a terminal drops it, of any length and kind (the first reading's pattern is
//   bounded for streams, and reads a DCS/APC/PM/SOS string as text), so an identifier a long sequence splits
//   (`529.982\e[0;0;…;0m.247-25`, `590\eP…\e\\.830.166-33`) is seen whole. Added only where it differs from the first.
// Both are built on decodeView's reading with the controls kept, so a sequence written with escapes (`\u001b[…m` in a
// JSON log line) is read like a raw one, and in one pass each: the cost is linear in the text (`sequenceWork`).
import { decodeView, isSequenceControl, type DecodedView } from './decode.ts';
import { BLANK, FRAME, mergedStructure, Structure, structureOutside, unionStructure } from './structure.ts';

export const ESC = 0x1b;
export const BEL = 0x07;
/** The 8-bit forms: CSI, OSC, DCS, SOS, PM, APC, and ST that ends a string. */
export const C1_CSI = 0x9b;
export const C1_OSC = 0x9d;
export const C1_STRINGS = new Set([0x90, 0x98, 0x9e, 0x9f]);
export const C1_ST = 0x9c;
/** After ESC: `[` opens a CSI, `]` an OSC, `P` `X` `^` `_` a DCS, SOS, PM or APC string. */
export const OPENS_STRING = new Set(['P', 'X', '^', '_'].map((c) => c.charCodeAt(0)));

/**
 * One sequence in a view's text: framing [start, content) and [contentEnd, end), content [content, contentEnd);
 * `closed` when it ends as its kind ends (a CSI's or an ESC sequence's final byte, a string's terminator), not at an
 * abort, the text's end or alone (BEL, a lone C1).
 */
interface Sequence {
  start: number;
  content: number;
  contentEnd: number;
  end: number;
  closed: boolean;
  /** ESC and its final byte (`\e7`, `\e(B`): the final is text in the kept reading, but a mask leaves it in place. */
  escFinal?: true;
  /** A control string (OSC, DCS, SOS, PM, APC): when not closed, what follows it ends it. */
  string?: true;
}

/** Characters visited by the scanner since the process started: the linear-cost tests read it. */
export const sequenceWork = { chars: 0 };

/** CAN and SUB: they abort a sequence (and are not shown). */
const ABORTS = new Set([0x18, 0x1a]);

const inRange = (c: number, lo: number, hi: number): boolean => c >= lo && c <= hi;

/**
 * A CSI whose parameters start at `p`: parameters and intermediates (any number, in any order: a terminal reads a
 * parameter byte after an intermediate as a malformed CSI it ignores up to its final byte, as xterm does), then the
 * final byte if there is one. A mask written into a CSI's parameters (`\e[*********25m`: `*` is an intermediate byte)
 * so stays one sequence to every reading, as it does on a screen.
 */
function csi(t: string, start: number, p: number): Sequence {
  let j = p;
  // A BEL inside it is executed and the CSI goes on (xterm): `\e[12 345 67\a835X` is one sequence.
  while (j < t.length && (inRange(t.charCodeAt(j), 0x20, 0x3f) || t.charCodeAt(j) === BEL)) j++;
  sequenceWork.chars += j - p + 1;
  // Aborted by CAN or SUB: what it read so far is not shown, what follows is (`\e[529.982.247-25\x1852998224725`).
  if (j < t.length && ABORTS.has(t.charCodeAt(j))) return { start, content: p, contentEnd: j, end: j, closed: false };
  // No final byte: the introducer alone (a terminal then prints what follows).
  if (j >= t.length || !inRange(t.charCodeAt(j), 0x40, 0x7e)) return { start, content: p, contentEnd: p, end: p, closed: false };
  return { start, content: p, contentEnd: j, end: j + 1, closed: true };
}

/** Length of the string terminator at `j` (BEL for an OSC, ST as ESC `\` or U+009C), 0 for none. */
function terminator(t: string, j: number, osc: boolean): number {
  const c = t.charCodeAt(j);
  if (c === C1_ST || (osc && c === BEL)) return 1;
  return c === ESC && t.charCodeAt(j + 1) === 0x5c ? 2 : 0;
}

/**
 * A control string (OSC, DCS, SOS, PM, APC) whose content starts at `p`: up to its terminator, or to what aborts it
 * as a terminal aborts it (another ESC, CAN, SUB) or the text's end, unterminated.
 */
function controlString(t: string, start: number, p: number, osc: boolean): Sequence {
  let j = p;
  for (; j < t.length; j++) {
    const c = t.charCodeAt(j);
    if (c === C1_ST || c === ESC || ABORTS.has(c) || (osc && c === BEL)) break;
  }
  sequenceWork.chars += j - p + 1;
  const ends = terminator(t, j, osc);
  return { start, content: p, contentEnd: j, end: j + ends, closed: ends > 0, string: true };
}

/** The sequence ESC at `i` opens: CSI, a control string, or ESC, intermediates and a final (`\e7`, `\e(B`). */
function afterEsc(t: string, i: number): Sequence {
  const next = t.charCodeAt(i + 1);
  if (next === 0x5b) return csi(t, i, i + 2);
  if (next === 0x5d || OPENS_STRING.has(next)) return controlString(t, i, i + 2, next === 0x5d);
  let j = i + 1;
  while (j < t.length && inRange(t.charCodeAt(j), 0x20, 0x2f)) j++;
  sequenceWork.chars += j - i;
  const closed = j < t.length && inRange(t.charCodeAt(j), 0x30, 0x7e);
  const end = closed ? j + 1 : j;
  // Its characters after ESC stay text in the kept reading: `\e5` then `2998224725` is a CPF to a raw reader.
  return { start: i, content: i + 1, contentEnd: end, end, closed, escFinal: true };
}

/** The sequence the control at `i` opens, or the control alone (BEL, another C1). */
function sequenceAt(t: string, i: number): Sequence {
  const c = t.charCodeAt(i);
  if (c === ESC) return afterEsc(t, i);
  if (c === C1_CSI) return csi(t, i, i + 1);
  if (c === C1_OSC || C1_STRINGS.has(c)) return controlString(t, i, i + 1, c === C1_OSC);
  return { start: i, content: i + 1, contentEnd: i + 1, end: i + 1, closed: false };
}

/** The sequences and lone controls of `t`, in order, each past the last. */
function sequencesOf(t: string): Sequence[] {
  const out: Sequence[] = [];
  for (let i = 0; i < t.length; ) {
    sequenceWork.chars++;
    if (!isSequenceControl(t.charCodeAt(i))) {
      i++;
      continue;
    }
    const q = sequenceAt(t, i);
    out.push(q);
    i = Math.max(q.end, i + 1);
  }
  return out;
}

/** The source range in the original of the view characters [x, y) of `base`, added to `out` when not empty. */
function addSource(out: Structure, base: DecodedView, x: number, y: number, extent?: readonly [number, number]): void {
  if (y > x) out.add(base.at[x] ?? 0, base.end[y - 1] ?? 0, FRAME, extent);
}

/**
 * The source ranges of the framing of `sequences`: what a mask leaves as it was in every reading (structure.ts). An
 * ESC sequence's final byte with it: ESC before a mask's `*` or `.` would read them as its intermediates.
 */
function framingOf(base: DecodedView, sequences: readonly Sequence[]): Structure {
  const out = new Structure();
  let before: Sequence | undefined;
  for (const q of sequences) {
    const extent = closedExtent(base, q, before);
    if (q.escFinal === true) addSource(out, base, q.start, q.end, extent);
    else {
      addSource(out, base, q.start, q.content, extent);
      addSource(out, base, q.contentEnd, q.end, extent);
    }
    before = q;
  }
  return out;
}

/**
 * The source span of `q` when a mask over all of it may take it whole: closed, and not what ends the string before
 * it (`\e^(21\e7…`: the ESC of `\e7` aborts the PM, whose start may lie outside the mask's span).
 */
function closedExtent(base: DecodedView, q: Sequence, before: Sequence | undefined): readonly [number, number] | undefined {
  const ends = before?.string === true && !before.closed && before.end === q.start;
  return q.closed && !ends ? [base.at[q.start] ?? 0, base.end[q.end - 1] ?? 0] : undefined;
}

/**
 * `base` with each sequence's framing read as spaces (the same positions: its map is shared). A mask over framing
 * leaves it as it was (structure.ts): a decoy identifier written with spaces reads across a BEL here, and a BEL
 * masked into a space let the title run on over visible text (round 12d review, finding 1).
 */
function keptReading(base: DecodedView, sequences: readonly Sequence[], framing: Structure): DecodedView {
  const units = new Uint16Array(base.text.length);
  for (let i = 0; i < units.length; i++) units[i] = base.text.charCodeAt(i);
  for (const q of sequences) {
    units.fill(0x20, q.start, q.content);
    units.fill(0x20, q.contentEnd, q.end);
  }
  sequenceWork.chars += units.length;
  const text = Buffer.from(units.buffer, units.byteOffset, units.byteLength).toString('utf16le');
  return { text, at: base.at, end: base.end, structure: mergedStructure(base.structure, framing), keepsFraming: true };
}

/**
 * `base` without its sequences, each dropped whole. A mask over one leaves its framing as it was and takes what it
 * holds (structure.ts), and the controls `base` dropped alone but those inside a closed sequence.
 */
function wholeReading(base: DecodedView, sequences: readonly Sequence[], framing: Structure): DecodedView {
  const n = base.text.length;
  const at = new Int32Array(n + 1);
  const end = new Int32Array(n + 1);
  let text = '';
  let len = 0;
  let pos = 0;
  const keep = (to: number): void => {
    text += base.text.slice(pos, to);
    at.set(base.at.subarray(pos, to), len);
    end.set(base.end.subarray(pos, to), len);
    len += to - pos;
  };
  for (const q of sequences) {
    keep(q.start);
    pos = q.end;
  }
  keep(n);
  sequenceWork.chars += n;
  at[len] = base.at[n] ?? 0;
  end[len] = base.at[n] ?? 0;
  const closed = new Structure();
  for (const q of sequences) if (q.closed) addSource(closed, base, q.start, q.end);
  const structure = mergedStructure(structureOutside(base.structure, closed), framing);
  return { text, at: at.subarray(0, len + 1), end: end.subarray(0, len + 1), structure };
}

/** sequenceReadings' answer: the readings, and the first reading with the framing a mask leaves in place. */
export interface SequenceReadings {
  readings: DecodedView[];
  screen: DecodedView;
}

/**
 * The readings of `s` with its terminal escape sequences as text and dropped whole (see above), `screen` its first
 * reading (decodeView): the whole one only where it differs from that. And `screen` with the framing of every
 * sequence as what its masks leave in place: its own bounded pattern drops some sequences whole and takes others
 * (a long title, an escaped one) for text, so an ST it dropped could end a string it read as text, and the ESC of
 * `\e7` could end one it never saw (masking-structure.test.ts). Call only when `screen.framed`.
 */
export function sequenceReadings(s: string, screen: DecodedView): SequenceReadings {
  const base = decodeView(s, false, true);
  const sequences = sequencesOf(base.text);
  let framing = framingOf(base, sequences);
  // The sequences as a terminal reads them, where the text holds an escaped control: only the raw ones frame (a raw
  // OSC is not ended by `%07`: `529.982.24\u009d0;%07111.444.777-35\e77-25` shows the CPF, round 12e).
  const raw = escapesAControl(base) ? decodeView(s, false, 'raw') : null;
  const rawSequences = raw === null ? [] : sequencesOf(raw.text);
  if (raw !== null) framing = unionStructure(framing, framingOf(raw, rawSequences));
  const readings = [keptReading(base, sequences, framing)];
  const texts = new Set([screen.text, base.text]);
  const add = (v: DecodedView): void => {
    if (texts.has(v.text)) return;
    texts.add(v.text);
    readings.push(v);
  };
  const whole = wholeReading(base, sequences, framing);
  add(whole);
  // A backspace after a sequence only this reading drops takes back what is before that sequence (round 12e).
  if (s.includes('\b')) add(erasingReading(s, base, sequences, whole));
  if (raw !== null) {
    add(keptReading(raw, rawSequences, framing));
    const rawWhole = wholeReading(raw, rawSequences, framing);
    add(rawWhole);
    if (s.includes('\b')) add(erasingReading(s, raw, rawSequences, rawWhole));
  }
  const structure = mergedStructure(structureOutside(screen.structure, framing), framing);
  return { readings, screen: { ...screen, structure } };
}

/** Whether `base` holds a sequence control read from an escape (`%07`, `\u001b`, `&#7;`). */
function escapesAControl(base: DecodedView): boolean {
  const t = base.text;
  sequenceWork.chars += t.length;
  for (let i = 0; i < t.length; i++) {
    if (isSequenceControl(t.charCodeAt(i)) && (base.end[i] ?? 0) - (base.at[i] ?? 0) !== 1) return true;
  }
  return false;
}

/**
 * `whole` (sequences dropped) with each raw backspace outside them taking back the character before it, as a screen
 * shows `24\e]0;…\a \b7` once the title is gone (round 12d, found by the property tests). The characters taken back
 * are written as one `*` each by a mask (structure.ts BLANK).
 */
function erasingReading(s: string, base: DecodedView, sequences: readonly Sequence[], whole: DecodedView): DecodedView {
  const n = whole.text.length;
  const units = new Uint16Array(n);
  const at = new Int32Array(n + 1);
  const end = new Int32Array(n + 1);
  const blanks = new Structure();
  let len = 0;
  let q = 0;
  let b = s.indexOf('\b');
  // Whether the backspace at `b` lies in a sequence (dropped with it); `q` the first sequence not ending before it.
  const inSequence = (): boolean => {
    while (q < sequences.length && (base.end[(sequences[q]?.end ?? 1) - 1] ?? 0) <= b) q++;
    return q < sequences.length && (base.at[sequences[q]?.start ?? 0] ?? 0) <= b;
  };
  const takeBack = (): void => {
    const kept = backOne(units, len);
    if (kept < len) blanks.add(at[kept] ?? 0, end[len - 1] ?? 0, BLANK);
    len = kept;
  };
  const erase = (before: number): void => {
    for (; b !== -1 && b < before; b = s.indexOf('\b', b + 1)) if (!inSequence()) takeBack();
  };
  for (let k = 0; k < n; k++) {
    erase(whole.at[k] ?? 0);
    at[len] = whole.at[k] ?? 0;
    end[len] = whole.end[k] ?? 0;
    units[len++] = whole.text.charCodeAt(k);
  }
  erase(s.length);
  sequenceWork.chars += n + s.length;
  at[len] = s.length;
  end[len] = s.length;
  const text = Buffer.from(units.buffer, units.byteOffset, len * 2).toString('utf16le');
  const structure = unionStructure(whole.structure ?? new Structure(), blanks.sorted());
  return { text, at: at.subarray(0, len + 1), end: end.subarray(0, len + 1), structure };
}

/** The view's length without its last character (a surrogate pair whole), unless it is empty or ends a line. */
function backOne(units: Uint16Array, len: number): number {
  const last = units[len - 1] ?? 0;
  if (len === 0 || last === 0x0a) return len;
  return len - (last >= 0xdc00 && last <= 0xdfff && len > 1 ? 2 : 1);
}
