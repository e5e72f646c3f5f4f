// The compiled masker (immutable, shareable) and its sessions (counters, stream maskers).
import { compileCustom, compileSet, MAX_CUSTOM_MATCH, scanCustom, type CompiledCustom, type RE2Set } from './custom.ts';
import { mayReverse, nearbyRuns, reversedRuns, shownLine, shownReversed, type ShownLine } from './bidi.ts';
import { CONTEXT_WINDOW, mayHoldKeyword, usefulContext } from './context.ts';
import { decodedForScreen, decodeView, needsDecoding, plainView, viewIndex, type DecodedView } from './decode.ts';
import { mayRunOnScreen, screenOf, withoutControlEscapes, type ScreenView, type SourceView } from './screen.ts';
import { fold, mayHoldIdentifier, nothingSpecial } from './fold.ts';
import {
  MAX_BUILTIN_MATCH, mayContainBuiltin, numericScanner, scanEmail, scanIpv6, scanNumeric, type DetectorSet, type Hit, type NumericScanner,
} from './detect.ts';
import type { LeftContext, MaskOps, Rule } from './internal.ts';
import { JsonStream, maskJsonValue } from './json.ts';
import { JsonLinesStream, mayOpenJsonLine } from './json-lines.ts';
import { integerSpellings } from './text-number.ts';
import { builtinNameDetector } from './names.ts';
import { utf8JsonKeysMayBeNamed, utf8MayBeJson, utf8MayHoldCandidate, utf8MayOpenJsonLine, utf8Prescan, type Utf8Prescan } from './prescan.ts';
import { Hmac, render } from './render.ts';
import { sequenceReadings, type SequenceReadings } from './sequences.ts';
import { insideOneMask, keywordWindows, loudMasks, outsideMasks, passRange, readableText, shifted, spansAfterPart, spansIn, startWindows, touchedBy, withoutRanges, type MaskSpan, type Write } from './residue.ts';
import { maskSlices, piecesOf, type Piece } from './structure.ts';
import { interleavedReadings, reencodeSpan, trimmedEnd, type ByteOrder } from './utf16.ts';
import type { CompileOptions, DetectorName, MaskCounts, Masker, MaskingSpec, MaskSession, MaskStyle, StreamMasker, TextStreamMasker } from './types.ts';
import { DETECTOR_NAMES, MaskingConfigError } from './types.ts';
import { validateMaskingSpec } from './validate.ts';
import { isWholeValue } from './whole-value.ts';

/** Stream lookahead: a candidate starting before (buffer end − HOLD) is complete; README "Streams". */
export const HOLD = Math.max(MAX_BUILTIN_MATCH, MAX_CUSTOM_MATCH) + 8;
/** Left context kept by stream maskers: keyword window, e-mail local part, boundary lookbehinds. */
export const LEFT = Math.max(CONTEXT_WINDOW, 66) + 14;
/** How far after a mask a hit it made visible may start: past a separator and the boundary rules' two-character lookbehind. */
const AFTER_MASK = 8;
/** Starts with a letter: ASCII, or any character beyond ASCII (accented letters, other scripts). */
const LETTER_FIRST = /^[^\0-@[-`{-~]/;
/** Plain text longer than this is masked a piece at a time (Session#maskPlain). */
const PIECE = 64 * 1024;
/** How many characters of text that needs decoding (or holds NUL) may spell one character of the reading keywords are read in. */
const SPELLED_WIDTH = 10;
const NUMERIC_DETECTORS: readonly DetectorName[] = ['cpf', 'cnpj', 'cnh', 'pis', 'tituloEleitor', 'cns', 'renavam', 'cep', 'phone', 'card', 'ip', 'birthDate'];
const NAME_CACHE_LIMIT = 4096;
const KEYED_CACHE_LIMIT = 4096;
const MIN_KEY_BYTES = 16;

/** Where each scanning pass resumes (absolute positions in the string being scanned). */
export interface ScanState {
  numeric: number;
  email: number;
  ipv6: number;
  custom: number[];
}

function newScanState(at: number, customCount: number): ScanState {
  return { numeric: at, email: at, ipv6: at, custom: Array<number>(customCount).fill(at) };
}

/** Rebases a scan state after `shift` characters were dropped from the front, never before `floor`. */
function rebase(st: ScanState, shift: number, floor: number): void {
  const f = (x: number): number => Math.max(x - shift, floor);
  st.numeric = f(st.numeric);
  st.email = f(st.email);
  st.ipv6 = f(st.ipv6);
  st.custom = st.custom.map(f);
}

/** Applies `f` to every resume position (to move them between the original and its decoded view). */
function mapScan(st: ScanState, f: (x: number) => number): void {
  st.numeric = f(st.numeric);
  st.email = f(st.email);
  st.ipv6 = f(st.ipv6);
  st.custom = st.custom.map(f);
}

/** The first place in the spec that asks for a keyed style, or null. */
function usesKey(spec: MaskingSpec): string | null {
  const styles: [string, MaskStyle | undefined][] = [
    ['style', spec.style],
    ...Object.entries(spec.styles ?? {}).map(([det, s]): [string, MaskStyle] => [`styles.${det}`, s]),
    ...(spec.fields ?? []).map((f, i): [string, MaskStyle | undefined] => [`fields[${i}].style`, f.style]),
    ...(spec.customPatterns ?? []).map((c, i): [string, MaskStyle | undefined] => [`customPatterns[${i}].style`, c.style]),
  ];
  return styles.find(([, s]) => s === 'hash' || s === 'surrogate')?.[0] ?? null;
}

export class CompiledMasker implements Masker {
  readonly enabled: boolean;
  readonly on: DetectorSet;
  readonly hmac: Hmac | null;
  readonly numeric: NumericScanner;
  readonly anyNumeric: boolean;
  readonly custom: readonly CompiledCustom[];
  readonly customSet: RE2Set | null;
  /** The byte-level pre-scan for the enabled detectors (prescan.ts). */
  readonly prescan: Utf8Prescan;
  readonly #styles: Readonly<Record<DetectorName, MaskStyle>>;
  readonly #fields: ReadonlyMap<string, Rule>;
  readonly #names = new Map<string, Rule | null>();
  readonly #scratch: ScanState;

  constructor(spec: MaskingSpec, opts: CompileOptions = {}) {
    const problems = validateMaskingSpec(spec);
    const first = problems[0];
    if (first !== undefined) {
      const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : '';
      throw new MaskingConfigError(first.field, first.message + more);
    }
    this.enabled = spec.enabled !== false;
    this.hmac = this.#keyFor(spec, opts);
    const enabled = new Set(spec.detectors ?? DETECTOR_NAMES);
    this.on = Object.fromEntries(DETECTOR_NAMES.map((d) => [d, enabled.has(d)])) as Record<DetectorName, boolean>;
    const base = spec.style ?? 'partial';
    this.#styles = Object.fromEntries(DETECTOR_NAMES.map((d) => [d, spec.styles?.[d] ?? base])) as Record<DetectorName, MaskStyle>;
    this.numeric = numericScanner();
    this.anyNumeric = NUMERIC_DETECTORS.some((d) => this.on[d]);
    this.prescan = utf8Prescan({ numeric: this.anyNumeric, email: this.on.email });
    const customDefault = base === 'hash' ? 'hash' : 'redact';
    this.custom = (spec.customPatterns ?? []).map((c, i) => compileCustom(c, i, customDefault));
    this.customSet = compileSet(this.custom);
    this.#scratch = newScanState(0, this.custom.length);
    this.#fields = this.#fieldRules(spec);
  }

  #keyFor(spec: MaskingSpec, opts: CompileOptions): Hmac | null {
    const where = usesKey(spec);
    if (opts.hashKey === undefined) {
      if (where !== null && spec.enabled !== false) {
        throw new MaskingConfigError(`spec.masking.${where}`, "the 'hash' and 'surrogate' styles need an HMAC key: mount the masking key Secret and pass it as hashKey (an unkeyed hash of a CPF is reversible by brute force: there are only 10^9)");
      }
      return null;
    }
    if (opts.hashKey.length < MIN_KEY_BYTES) throw new MaskingConfigError('hashKey', `the HMAC key has ${opts.hashKey.length} bytes; use at least ${MIN_KEY_BYTES} random bytes`);
    return new Hmac(opts.hashKey);
  }

  #fieldRules(spec: MaskingSpec): Map<string, Rule> {
    const rules = new Map<string, Rule>();
    for (const f of spec.fields ?? []) {
      const detector = f.detector ?? null;
      const style = f.style ?? (detector !== null ? this.#styles[detector] : (spec.style ?? 'partial'));
      for (const n of f.names) if (!rules.has(n.toLowerCase())) rules.set(n.toLowerCase(), { type: detector ?? 'field', detector, style, builtin: false });
    }
    return rules;
  }

  /**
   * False when no detector can match: no digit and no '@', ASCII or fullwidth (every built-in candidate has one), no
   * custom pattern, no NUL (UTF-16 read as UTF-8 may hold another script's digits as two ASCII characters: utf16.ts).
   */
  mayMatch(s: string): boolean {
    return this.custom.length > 0 || mayHoldIdentifier(s) || s.includes('\0');
  }

  styleOf(detector: DetectorName): MaskStyle {
    return this.#styles[detector];
  }

  /** The rule for a column/key name: user rules first (exact, case-insensitive), then the built-in names. Cached. */
  ruleFor(name: string): Rule | null {
    const cached = this.#names.get(name);
    if (cached !== undefined) return cached;
    const rule = this.#fields.get(name.toLowerCase()) ?? this.#builtinRule(name);
    if (this.#names.size >= NAME_CACHE_LIMIT) this.#names.clear();
    this.#names.set(name, rule);
    return rule;
  }

  #builtinRule(name: string): Rule | null {
    const det = name.length > 64 ? null : builtinNameDetector(name);
    if (det === null || !this.on[det]) return null;
    return { type: det, detector: det, style: this.#styles[det], builtin: true };
  }

  /**
   * Validated hits starting in [from, limit), sorted, without overlaps (earliest start, then longest, wins).
   * `scan` holds each pass's resume position (a stream's state between chunks); null scans everything from `from`.
   */
  findHits(s: string, from: number, limit: number, scan: ScanState | null = null): Hit[] {
    const st = scan ?? this.#fresh(from);
    const hits: Hit[] = [];
    let sources = mayContainBuiltin(s) ? this.#scanBuiltin(s, st, limit, hits) : 0;
    const before = hits.length;
    if (this.custom.length > 0) scanCustom(this.custom, this.customSet, s, st.custom, limit, hits);
    if (hits.length > before) sources++;
    const all = sources > 1 ? resolveOverlaps(hits) : hits;
    return (all[0]?.start ?? from) < from ? all.filter((h) => h.start >= from) : all;
  }

  /** A scan state for one synchronous call (reused: findHits never re-enters itself). */
  #fresh(from: number): ScanState {
    const st = this.#scratch;
    st.numeric = from;
    st.email = from;
    st.ipv6 = from;
    st.custom.fill(from);
    return st;
  }

  #scanBuiltin(s: string, st: ScanState, limit: number, hits: Hit[]): number {
    let sources = 0;
    let n = hits.length;
    if (this.anyNumeric) st.numeric = scanNumeric(this.numeric, this.on, s, st.numeric, limit, hits);
    if (hits.length > n) sources++;
    n = hits.length;
    if (this.on.email && s.includes('@')) st.email = scanEmail(s, st.email, limit, hits);
    if (hits.length > n) sources++;
    n = hits.length;
    if (this.on.ip) st.ipv6 = scanIpv6(s, st.ipv6, limit, hits);
    if (hits.length > n) sources++;
    return sources;
  }

  newSession(): MaskSession {
    return new Session(this);
  }
}

/** What the residue pass leaves: the text, its masks, and where the part it may have changed ends. */
export interface Residue {
  text: string;
  spans: MaskSpan[];
  end: number;
}

const toSpan = (w: Write): MaskSpan => ({ start: w.oa, end: w.ob, opaque: w.opaque, context: w.context });

/** A hit placed in the original text: its span [a, b) there and the view text it was found in. */
interface PlacedHit {
  a: number;
  b: number;
  hit: ReadHit;
  text: string;
  /** The byte order its mask is written in: a hit a reading of UTF-16 text took as UTF-16 (utf16.ts), else null. */
  order: ByteOrder | null;
  /** Its span's parts around what the mask leaves in place (structure.ts), or null when the mask takes it whole. */
  pieces: Piece[] | null;
  /** Found in text with nothing to decode (nothingSpecial): the mask is written as rendered. */
  plain?: true;
}

/** A hit in text with nothing to decode (`v`: the text, or its fold), placed where it was found. */
function plainPlaced(v: string, h: Hit): PlacedHit {
  return { a: h.start, b: h.end, hit: h, text: h.value ?? v.slice(h.start, h.end), order: null, pieces: null, plain: true };
}

function placedHit(s: string, d: DecodedView, v: string, h: ReadHit): PlacedHit {
  const a = d.at[h.start] ?? s.length;
  const b = h.end > h.start ? (d.end[h.end - 1] ?? s.length) : a;
  const order = d.utf16 !== undefined && d.utf16.wide[h.start] === 1 ? d.utf16.order : null;
  const pieces = piecesOf(d.structure, d, h.start, h.end, [a, b], d.keepsFraming === true);
  return { a, b, hit: h, text: h.value ?? v.slice(h.start, h.end), order, pieces };
}

/**
 * The mask of `p` written over its span around what stays as it was (structure.ts), from `pos` on: what is before it
 * was written by an earlier hit this one overlaps (its mask is written whole, as acrossReadings says).
 */
function writeAround(s: string, p: PlacedHit, pieces: readonly Piece[], mask: string, pos: number, out: string[]): void {
  const length = p.hit.value === undefined ? p.hit.end - p.hit.start : -1;
  const slices = maskSlices(pieces, mask, p.hit.start, length);
  pieces.forEach((q, i) => {
    if (q.kind === 'mask') out.push(reencodeSpan(s.slice(q.from, q.to), slices[i] ?? '', p.order));
    else if (q.from >= pos) out.push(q.kind === 'blank' ? reencodeSpan(s.slice(q.from, q.to), '*', p.order) : s.slice(q.from, q.to));
  });
}

/**
 * The source span [lo, hi) a hit in a shown line covers, and its run: the run's number when the hit lies inside one
 * reversed run, -1 when it touches a run and something else, 0 when it touches none.
 */
function seenSpan(h: Hit, line: ShownLine): { lo: number; hi: number; run: number } {
  let lo = Infinity;
  let hi = -1;
  let run: number | undefined;
  for (let i = h.start; i < h.end; i++) {
    const at = line.sourceOf[i] ?? 0;
    lo = Math.min(lo, at);
    hi = Math.max(hi, at);
    const r = line.runOf[i] ?? 0;
    run = run === undefined ? r : run === r ? run : r > 0 || run !== 0 ? -1 : 0;
  }
  return { lo, hi: hi + 1, run: run ?? 0 };
}

/** A hit, and whether it was read in a run shown reversed (bidi.ts). */
interface ReadHit extends Hit {
  reversed?: true;
}

const REPLACEMENT_CHARACTER = '\ufffd';
/** The separators a byte a decoder rejected may have been, besides the space fold() reads it as. */
const REJECTED_BYTE_READINGS: readonly string[] = ['.', '-', '/'];

/** `v` (the folded `unfolded`, same length) with every U+FFFD of `unfolded` read as `sep`. */
function readRejectedAs(unfolded: string, v: string, sep: string): string {
  let out = '';
  let pos = 0;
  for (let i = unfolded.indexOf(REPLACEMENT_CHARACTER); i !== -1; i = unfolded.indexOf(REPLACEMENT_CHARACTER, i + 1)) {
    out += v.slice(pos, i) + sep;
    pos = i + 1;
  }
  return out + v.slice(pos);
}

function resolveOverlaps(hits: Hit[]): Hit[] {
  return withoutOverlaps(hits, (h) => h.start, (h) => h.end, (a, b) => a.rank - b.rank);
}

/**
 * Spans sorted by start, then longest, then `tie` (else their order in `items`), and swept: a span overlapping one
 * kept before it is dropped.
 */
function withoutOverlaps<T>(items: T[], start: (t: T) => number, end: (t: T) => number, tie: (a: T, b: T) => number = () => 0): T[] {
  items.sort((a, b) => start(a) - start(b) || end(b) - end(a) || tie(a, b));
  const out: T[] = [];
  let last = -1;
  for (const t of items) {
    if (start(t) < last) continue;
    out.push(t);
    last = end(t);
  }
  return out;
}

/**
 * The hits of several readings, in the order they are written: by start, then longest, then rank, then reading. A hit
 * inside what an earlier one covers is dropped (the same identifier read twice); one reaching past it is kept and
 * written after it, as a reading's own overlapping hits are (maskRange), so what only it covers is masked too: a
 * reading must not unmask what it would have masked alone (utf16-attacks.test.ts: e-mails glued to one another).
 */
function acrossReadings(s: string, placed: PlacedHit[]): PlacedHit[] {
  placed.sort((x, y) => x.a - y.a || y.b - x.b || x.hit.rank - y.hit.rank);
  const out: PlacedHit[] = [];
  let covered = -1;
  for (const p of placed) {
    // Compared without the NUL at their ends: the byte orders' readings of one identifier differ by that NUL only.
    const b = trimmedEnd(s, p.a, p.b);
    if (b <= covered) continue;
    out.push(p);
    covered = b;
  }
  return out;
}

/**
 * The view a text is masked on when it is not the text itself (`plain`: nothing to fold or decode, nothingSpecial):
 * its escapes resolved, or for text holding a NUL the text as it is, which #maskDecoded also reads with its NULs
 * dropped (utf16.ts). s.includes is the memchr-speed pre-check that keeps text without NUL off that path.
 */
function viewToMask(s: string, plain: boolean): DecodedView | null {
  if (!plain && needsDecoding(s)) return decodeView(s);
  return s.includes('\0') ? plainView(s) : null;
}

/** `decoded` with the framing of its terminal escape sequences, and their readings (sequences.ts), or as it is. */
function framedView(s: string, decoded: DecodedView): SequenceReadings {
  return decoded.framed === true ? sequenceReadings(s, decoded) : { readings: [], screen: decoded };
}

/** cpf ↔ cnpj by length for built-in rules on columns such as `cpf_cnpj`. */
function retype(rule: Rule, value: string): Rule {
  if (!rule.builtin || (rule.detector !== 'cpf' && rule.detector !== 'cnpj') || !DOCUMENT_SHAPE.test(value)) return rule;
  const len = value.replace(/[^0-9A-Z]/g, '').length;
  const det: DetectorName | null = len === 14 ? 'cnpj' : len === 11 ? 'cpf' : null;
  return det === null || det === rule.detector ? rule : { ...rule, type: det, detector: det };
}

const DOCUMENT_SHAPE = /^\s*[0-9A-Z][0-9A-Z./ -]*\s*$/;

const JSON_START = /^\s*[[{]/;
/**
 * Only numeric candidates read a keyword (detect.ts), and they need a digit: an ASCII one (every escape of a digit
 * holds one too: `\u0035`, `%35`, `&#53;`) or a non-ASCII character that folds into one. Text with neither reads no
 * keyword, and is masked without its left context.
 */
const MAY_READ_A_KEYWORD = /[0-9]|[^\t\n\r\x20-\x7e]/;

export class Session implements MaskSession {
  readonly #m: CompiledMasker;
  readonly #counts: MaskCounts = {};
  readonly #keyed = new Map<string, string>();
  /** What this session masks is removed instead of rendered: removingSession(). */
  readonly #removing: boolean;
  /**
   * What the JSON maskers use: a value is masked as the text it is (the JSON masker has already read what is JSON in
   * it), long values and text after a syntax error stream as plain text.
   */
  readonly #ops: MaskOps = {
    maskText: (text, left) => this.#maskAfter(left, text),
    maskWhole: (value, rule) => this.maskWhole(value, rule),
    ruleFor: (name) => this.ruleFor(name),
    textStream: (left = '') => new TextStream(this, left),
  };

  constructor(m: CompiledMasker, removing = false) {
    this.#m = m;
    this.#removing = removing;
  }

  /** The MaskOps the JSON maskers of this session get (json-equivalence.test.ts runs its reference tokeniser on them). */
  get jsonOps(): MaskOps {
    return this.#ops;
  }

  /**
   * Another session of the same masker, with its own counts, that removes what it masks: for a second reading of
   * the same data (a check) that must not count in the record, and in which nothing a mask is made of can be found
   * again (a surrogate is a valid CPF, a hash can be all digits, a custom pattern may match '[CPF]').
   */
  removingSession(): Session {
    return new Session(this.#m, true);
  }

  #count(type: string): void {
    this.#counts[type] = (this.#counts[type] ?? 0) + 1;
  }

  /**
   * Masks s[from, end) where end ≥ limit is the end of the last hit or limit; returns end. Detection runs on the
   * folded text (fold.ts: same positions), masks are rendered from it, the rest is copied from `s`. `writes` gets
   * where each mask went (the residue pass reads around them).
   */
  maskRange(s: string, from: number, limit: number, out: string[], scan: ScanState | null = null, writes: Write[] | null = null): number {
    return this.#writePlaced(s, this.#place(s, from, limit, scan), from, limit, out, writes);
  }

  /** The hits of every reading of s that start in [from, limit), placed in s, in the order they are written. */
  #place(s: string, from: number, limit: number, scan: ScanState | null): PlacedHit[] {
    const plain = nothingSpecial(s);
    const d = viewToMask(s, plain);
    if (d !== null) return this.#placeDecoded(s, d, from, limit, scan);
    const v = plain ? s : fold(s);
    return this.#hits(s, v, from, limit, scan).map((h) => plainPlaced(v, h));
  }

  /**
   * #place on the decoded view (decode.ts: escapes resolved, invisible characters dropped): positions and resume
   * points move to the view and back; each hit replaces its whole escaped span, re-encoded for its context.
   */
  #placeDecoded(s: string, decoded: DecodedView, from: number, limit: number, scan: ScanState | null): PlacedHit[] {
    // Text with sequences: their framing, as the unbounded parse reads it, is what every reading's masks leave in place.
    const sequences = framedView(s, decoded);
    const d = sequences.screen;
    const v = fold(d.text);
    if (scan !== null) mapScan(scan, (o) => viewIndex(d, o));
    const viewFrom = viewIndex(d, from);
    const viewLimit = viewIndex(d, limit);
    const hits = this.#hits(d.text, v, viewFrom, viewLimit, scan);
    if (scan !== null) mapScan(scan, (i) => d.at[i] ?? s.length);
    // Other readings of what a reader sees. Where two find the same span, the first listed is rendered: the reversed
    // one (what the reader sees) before the stored order.
    const readings: PlacedHit[][] = [];
    if (mayReverse(s)) readings.push(this.#reversedHits(s, d, v, viewFrom, viewLimit).map((h) => placedHit(s, d, v, h)));
    readings.push(hits.map((h) => placedHit(s, d, v, h)));
    readings.push(...this.#screenReadings(s, sequences.readings, from, limit));
    return readings.length === 1 ? (readings[0] ?? []) : acrossReadings(s, readings.flat());
  }

  /**
   * The readings of control characters a screen does not show as the text stores them: a backspace leaves what is not
   * written over and hides what is (read both ways: decode.ts); a terminal escape sequence hides what a raw reader
   * sees in it, and the reading `d` drops one only within its bounds (sequences.ts); NUL is dropped by a terminal and
   * is the other half of each character of UTF-16 text read as UTF-8 (utf16.ts).
   */
  #screenReadings(s: string, sequences: readonly DecodedView[], from: number, limit: number): PlacedHit[][] {
    const readings: PlacedHit[][] = [];
    if (s.includes('\b')) readings.push(this.#placedHits(s, decodeView(s, true), from, limit));
    for (const v of sequences) readings.push(this.#placedHits(s, v, from, limit));
    if (s.includes('\0')) for (const u of interleavedReadings(s)) readings.push(this.#placedHits(s, u, from, limit));
    return readings;
  }

  /**
   * Writes s[from, end) with the placed hits' masks (end ≥ limit, the end of the last hit or limit); returns end.
   * `writes` gets each hit's span and where its mask went, counted from the start of what this call writes.
   */
  #writePlaced(s: string, placed: readonly PlacedHit[], from: number, limit: number, out: string[], writes: Write[] | null = null): number {
    let pos = from;
    let written = 0;
    for (const p of placed) {
      // A reversed run is shown right to left: its mask is rendered from what the reader sees and written reversed.
      const mask = p.hit.reversed === true ? shownReversed(this.#render(p.hit, shownReversed(p.text))) : this.#render(p.hit, p.text);
      const before = s.slice(pos, p.a);
      out.push(before);
      const at = out.length;
      // What carries structure in the span (a sequence's framing, a control, a backspace) is written back as it was.
      if (p.plain === true) out.push(mask);
      else if (p.pieces === null) out.push(reencodeSpan(s.slice(p.a, p.b), mask, p.order));
      else writeAround(s, p, p.pieces, mask, pos, out);
      if (writes !== null) {
        const oa = written + before.length;
        const maskText = out.slice(at).join('');
        const a = Math.max(p.a, pos);
        const replaced = s.slice(a, p.b);
        // A keyword glued before a span that starts with a letter (`cepABCDEFGH000195`: an alphanumeric CNPJ) is no
        // keyword until the mask's `*` ends its word (context.ts reads a keyword only where no letter follows).
        const context = maskText.length !== replaced.length || LETTER_FIRST.test(replaced) || mayHoldKeyword(replaced) || mayHoldKeyword(maskText);
        writes.push({ a, b: p.b, oa, ob: oa + maskText.length, opaque: this.#opaque(p.hit), context });
        written = oa + maskText.length;
      }
      pos = p.b;
    }
    const end = Math.max(pos, limit);
    out.push(s.slice(pos, end));
    return end;
  }

  /** The hits of another reading `d` of `s` (a fresh scan of [from, limit)), placed in `s`. */
  #placedHits(s: string, d: DecodedView, from: number, limit: number): PlacedHit[] {
    const v = fold(d.text);
    return this.#hits(d.text, v, viewIndex(d, from), viewIndex(d, limit), null).map((h) => placedHit(s, d, v, h));
  }

  /**
   * The hits in `v`, the folded view of `unfolded`. Where that holds U+FFFD, also those found reading it as each other
   * separator: U+FFFD is what a UTF-8 decoder shows for a byte it rejects, and text in latin1 or windows-1252 read as
   * UTF-8 (an SSH host's file, a container's log, a mislabelled answer) turns its no-break spaces, dashes and middle
   * dots between digit groups into it: `529�982�247-25` on the screen, the digits whole, once the sidecar has
   * re-encoded the text and the byte is gone. Which separator it was is unknown and the layouts take some separators
   * only in some places, so each is tried (fold() reads it as a space; masks are rendered from that reading); the
   * first reading's hits win where readings overlap.
   */
  #hits(unfolded: string, v: string, from: number, limit: number, scan: ScanState | null): Hit[] {
    const hits = this.#m.findHits(v, from, limit, scan);
    const spelled = this.#m.anyNumeric ? this.#spelledHits(v, from, limit) : [];
    if (!unfolded.includes(REPLACEMENT_CHARACTER)) return spelled.length === 0 ? hits : resolveOverlaps([...hits, ...spelled]);
    const all = [...hits, ...spelled];
    for (const sep of REJECTED_BYTE_READINGS) all.push(...this.#m.findHits(readRejectedAs(unfolded, v, sep), from, limit, null));
    return resolveOverlaps(all);
  }

  /**
   * Integers spelled as decimals (`52998224725.0`, `5.2998224725E10`: text-number.ts), read as JSON reads its number
   * tokens: the integer's digits are scanned like bare digits, and a hit on all of them covers the whole token and is
   * rendered from the digits (the token's mask is the integer's).
   */
  #spelledHits(v: string, from: number, limit: number): Hit[] {
    const out: Hit[] = [];
    for (const n of integerSpellings(v, from, limit)) {
      // In place: the line before the token is read with the digits, so a keyword before it counts as it does before
      // the bare integer (`tel 1133334444.0`, `{'cep': 22041001.0}`: round 10b review, finding 2).
      const at = Math.max(0, n.start - CONTEXT_WINDOW);
      const read = v.slice(at, n.start) + n.digits;
      const lo = n.start - at;
      const h = this.#m.findHits(read, lo, read.length, null)[0];
      if (h !== undefined && h.start === lo && h.end === read.length) out.push({ ...h, start: n.start, end: n.end, value: n.digits });
    }
    return out;
  }

  /**
   * The hits in the runs a right-to-left override shows reversed (bidi.ts), read as a reader sees the line: the text
   * before, the runs reversed in place, the text between and after (keywords before a run count; an identifier half
   * outside a run is seen whole). Runs close together are read as one line (one scan). View positions in
   * [from, limit); a hit inside one run is marked `reversed` (its mask is written reversed), one across a run's edge
   * replaces the whole span it covers.
   */
  #reversedHits(s: string, d: DecodedView, v: string, from: number, limit: number): ReadHit[] {
    const runs = reversedRuns(s).runs.map(([start, end]) => [viewIndex(d, start), viewIndex(d, end)] as const);
    const found: ReadHit[] = [];
    for (const group of nearbyRuns(runs, HOLD)) {
      const a = group[0]?.[0] ?? 0;
      const b = group.at(-1)?.[1] ?? 0;
      if (b > from - HOLD && a < limit) found.push(...this.#runHits(v, group, a, b).filter((h) => h.start >= from && h.start < limit));
    }
    return found;
  }

  /** The hits that touch the reversed runs `group` (from a to b) of the view `v`, as the line is seen, in view positions. */
  #runHits(v: string, group: readonly (readonly [number, number])[], a: number, b: number): ReadHit[] {
    const line = shownLine(v, group, Math.max(0, a - LEFT), Math.min(v.length, b + HOLD));
    const hits: ReadHit[] = [];
    for (const h of this.#m.findHits(line.text, 0, line.text.length, null)) {
      const span = seenSpan(h, line);
      if (span.run === 0) continue;
      hits.push({ ...h, start: span.lo, end: span.hi, ...(span.run > 0 ? { reversed: true as const } : {}) });
    }
    return hits;
  }

  customCount(): number {
    return this.#m.custom.length;
  }

  #render(h: Hit, text: string): string {
    this.#count(h.type);
    return this.#styled(this.#styleOf(h), h.type, h.detector, text);
  }

  #styleOf(h: Hit): MaskStyle {
    return h.detector !== null ? this.#m.styleOf(h.detector) : (this.#m.custom[h.rank - 1]?.style ?? 'redact');
  }

  /** A keyed style writes a value of the masker's choosing (a surrogate validates): the residue pass reads it as `*`. */
  #opaque(h: Hit): boolean {
    const style = this.#styleOf(h);
    return style === 'hash' || style === 'surrogate';
  }

  /** Keyed styles cost an HMAC; values repeat within a session (the same customer, row after row), so cache them. */
  #styled(style: MaskStyle, type: string, detector: DetectorName | null, text: string): string {
    if (this.#removing) return '';
    if (style !== 'hash' && style !== 'surrogate') return render(style, this.#m.hmac, type, detector, text);
    const key = `${style}\u0000${type}\u0000${text}`;
    let out = this.#keyed.get(key);
    if (out === undefined) {
      out = render(style, this.#m.hmac, type, detector, text);
      if (this.#keyed.size >= KEYED_CACHE_LIMIT) this.#keyed.clear();
      this.#keyed.set(key, out);
    }
    return out;
  }

  /** Text, whose lines that open a JSON document are read as JSON (json-lines.ts), as textStream() reads them. */
  maskText(text: string): string {
    if (!this.#m.enabled) return text;
    if (!mayOpenJsonLine(text)) return this.#maskPlain(text);
    const stream = this.textStream();
    return stream.push(text) + stream.end();
  }

  /**
   * `text` masked as plain text after `left`, which is read (keywords, boundaries) but not masked nor returned. The
   * context costs a longer scan: only a value that may hold a candidate, after a context that may matter, pays it.
   */
  #maskAfter(context: LeftContext | undefined, text: string): string {
    if (context === undefined || !this.#m.enabled || !this.#m.mayMatch(text) || !MAY_READ_A_KEYWORD.test(text)) return this.#maskPlain(text);
    const left = usefulContext(context.text);
    if (left === '') return this.#maskPlain(text);
    return this.#maskThenResidue(left + text, left.length).slice(left.length);
  }

  #maskPlain(text: string): string {
    if (!this.#m.enabled || !this.#m.mayMatch(text)) return text;
    if (text.length <= PIECE) return nothingSpecial(text) && !text.includes('\0') && !LINE_CONTROL.test(text) ? this.#maskShortPlain(text) : this.#maskThenResidue(text, 0);
    // A long text goes through the text stream a piece at a time: the same output (the stream writes what the whole
    // text gives, however it is cut), and each residue pass then works on a piece, not on the whole text (a chain of
    // glued identifiers takes one pass per link).
    const stream = new TextStream(this, '');
    const out: string[] = [];
    for (let i = 0; i < text.length; i += PIECE) out.push(stream.push(text.slice(i, i + PIECE)));
    out.push(stream.end());
    return out.join('');
  }

  /**
   * The common case as cheaply as before the residue pass: a cell or value with nothing to decode, holding no
   * identifier, or being one (nothing is left beside its mask).
   */
  #maskShortPlain(text: string): string {
    const hits = this.#hits(text, text, 0, text.length, null);
    const h = hits[0];
    if (h === undefined) return text;
    if (hits.length === 1 && h.start === 0 && h.end === text.length) return this.#render(h, h.value ?? text);
    // Plain text without a line control: a terminal shows it as stored, so the residue pass alone.
    return this.#maskedWithSpans(text, 0, hits.map((x) => plainPlaced(text, x))).text;
  }

  /**
   * s[from, end) masked, then read again next to its masks (residue) and as a terminal shows it (screenChecked), after
   * s[0, from) as it is.
   */
  #maskThenResidue(s: string, from: number): string {
    const r = this.#maskedWithSpans(s, from);
    return this.screenChecked(r.text, r.spans, from);
  }

  /** s[from, end) masked (`placed`: its hits, when found already) and read again next to its masks, with its masks. */
  #maskedWithSpans(s: string, from: number, placed: PlacedHit[] = this.#place(s, from, s.length, null)): { text: string; spans: MaskSpan[] } {
    if (placed.length === 0) return { text: s, spans: [] };
    const out: string[] = [s.slice(0, from)];
    const writes: Write[] = [];
    this.#writePlaced(s, placed, from, s.length, out, writes);
    const masked = out.join('');
    const spans = shifted(writes.map(toSpan), from);
    // A cell or value masked whole, or masks between spaces and words: nothing next to them to read again.
    if (this.#m.custom.length === 0 && !spans.some((m) => m.context) && loudMasks(masked, spans, from === 0, true).length === 0) return { text: masked, spans };
    return this.residue(masked, spans, from, masked.length, true);
  }

  /**
   * `text` (masked output whose masks sit at `spans`) read as a terminal shows it (screen.ts): its screen, the screen
   * of it once its escapes are decoded, and that screen with its escaped controls read as nothing. What the engine
   * finds there, at or after `from`, is masked in the source: each letter and digit its cells show, and each escape
   * that spelled one, written as `*` (the text keeps its length: a stream's masks keep their places). Read again until
   * nothing is found; past SCREEN_ROUNDS every letter and digit of the lines still showing one is written as `*`
   * (fails closed). A keyed style's masks (a surrogate validates) are read as `*`.
   */
  screenChecked(text: string, spans: readonly MaskSpan[], from: number): string {
    if (!mayRunOnScreen(text)) return text;
    let out = text;
    let readable = readableText(text, spans);
    for (let round = 0; round <= SCREEN_ROUNDS; round++) {
      const cells = this.#screenCells(readable, from, round > 0, round === SCREEN_ROUNDS);
      if (cells.length === 0) break;
      out = starred(out, cells);
      readable = starred(readable, cells);
    }
    return out;
  }

  /**
   * The source ranges [from, to) of the cells that show what the engine finds on `text`'s screens (and in `text`
   * itself when `withText`: a star written over a screen's hit can leave its neighbour glued to nothing), not yet
   * `*`, at or after `from`. `wholeLines`: every letter and digit of the lines holding a hit. Counts each hit (a text
   * over the screen's work budget has none to count: all of it is written as `*`).
   */
  #screenCells(text: string, from: number, withText: boolean, wholeLines: boolean): [number, number][] {
    const raw = screenOf(plainView(text));
    const received = decodedForScreen(text);
    const decoded = screenOf(received);
    const cells: [number, number][] = [];
    // A screen the model cannot tell (screen.ts, terminal.ts: a write where a real terminal's width, height or a
    // sequence the model does not run decides where it lands), or past the work budget, may show anything: every
    // letter, digit and escape at or after `from` is written as `*`, where the text holds enough to make an identifier.
    if (raw === null || decoded === null) {
      if (this.#mayShowAnIdentifier(received.text)) addCells(plainView(text), from, text.length, text, from, cells);
      return cells;
    }
    const shownBefore: string[] = [];
    for (const v of distinctViews([...raw, ...raw.map(withoutControlEscapes), ...decoded, withText ? plainView(text) : null])) {
      this.#viewCells(v, text, from, wholeLines, cells, shownBefore);
    }
    // A hit whose every cell was written before `from` (a stream's text already emitted: `529.982X.247-25`, then, after
    // an idle flush, `\e[8D\e[P` deletes the X) cannot be masked where it is. When what was written before does not
    // show it alone, what made it is in what follows: the controls there are written as `*`, and the terminal does not
    // run them.
    if (shownBefore.length > 0 && !this.#shownOnScreen(text.slice(0, from))) {
      addControls(received, text, from, cells);
      for (const type of shownBefore) this.#count(type);
    }
    return cells;
  }

  /**
   * Whether `text` (decoded) holds what any arrangement of its characters could make an identifier of: an `@`, or as
   * many digits as the shortest numeric one (an IPv4 address when that detector is on, else a CEP or a date of birth
   * beside their keyword; a `:` of an IPv6 one); always, with custom patterns.
   */
  #mayShowAnIdentifier(text: string): boolean {
    if (this.#m.custom.length > 0 || text.includes('@') || (this.#m.on.ip && text.includes(':'))) return true;
    return (text.match(/\p{Nd}/gu)?.length ?? 0) >= (this.#m.on.ip ? 4 : 8);
  }

  /** Whether a screen of `text` (as stored, or decoded) shows what the engine would mask. */
  #shownOnScreen(text: string): boolean {
    const screens = [screenOf(plainView(text)), screenOf(decodedForScreen(text))];
    return screens.some((views) => views === null || views.some((v) => this.#place(v.text, 0, v.text.length, null).length > 0));
  }

  /**
   * Adds to `cells` what #screenCells takes from one screen view `v` of `text`, counting each hit, and to `shownBefore`
   * the type of each hit there that shows only cells written before `from`.
   */
  #viewCells(v: ScreenView, text: string, from: number, wholeLines: boolean, cells: [number, number][], shownBefore: string[]): void {
    for (const p of this.#place(v.text, 0, v.text.length, null)) {
      const [a, b] = wholeLines ? lineAround(v.text, p.a, p.b) : [p.a, p.b];
      if (addCells(v, a, b, text, from, cells)) this.#count(p.hit.type);
      else if (allBefore(v, a, b, from)) shownBefore.push(p.hit.type);
    }
  }

  /**
   * The residue pass: `text` is masked output whose masks sit at `spans`; what a mask made visible next to it (a word it
   * ended, what its kept characters join) and starts in [from, limit) is masked too, and read again, until nothing new
   * is found (residue.ts). A stream passes a limit 2·HOLD before the text's end, so that a hit starting before the
   * end of what a pass wrote is complete. Returns the text, its masks and where the part it may have changed now ends.
   */
  residue(text: string, spans: MaskSpan[], from: number, limit: number, final: boolean): Residue {
    let end = limit;
    // A keyword's window is 48 characters of the reading it is found in: escapes and UTF-16 (a NUL beside each
    // character) spell one with several, up to ten (`&#x0035;`).
    const keywordAfter = (nothingSpecial(text) && !text.includes('\0') ? 1 : SPELLED_WIDTH) * (CONTEXT_WINDOW + AFTER_MASK);
    const reach = { before: HOLD, after: Math.max(AFTER_MASK, keywordAfter), left: LEFT, hold: HOLD };
    // The first pass reads next to every mask; each later one next to the masks the pass before it wrote, on the part
    // of the text around them. Each masks at least one character no mask covered, so they end (residue.ts).
    let around: readonly MaskSpan[] = spans;
    for (;;) {
      const [a, b] = passRange(around, text.length, from, reach);
      const part = text.slice(a, b);
      const partFrom = Math.max(from, a) - a;
      const edges = { start: a === 0 && from === 0, end: final && b === text.length };
      const placed = this.#residueHits(part, spansIn(spans, a, b), spansIn(around, a, b), partFrom, Math.min(end, b) - a, edges, keywordAfter);
      if (placed.length === 0) break;
      const out: string[] = [part.slice(0, partFrom)];
      const writes: Write[] = [];
      const stop = this.#writePlaced(part, placed, partFrom, partFrom, out, writes);
      const written = out.join('') + part.slice(stop);
      const shift = written.length - part.length;
      const placedWrites = writes.map((w) => ({ ...w, a: w.a + a, b: w.b + a, oa: w.oa + partFrom + a, ob: w.ob + partFrom + a }));
      spans = spansAfterPart(spans, a, b, placedWrites, stop + a, shift);
      around = touchedBy(spans, placedWrites);
      text = text.slice(0, a) + written + text.slice(b);
      end = Math.max(end, stop + a) + shift;
    }
    return { text, spans, end };
  }

  /**
   * The hits starting in [from, limit) of `text`'s reading next to the masks `around` (some of `spans`, all the masks
   * in it), but not inside one mask, in order. Next to a loud mask (residue.ts: loudMasks) a hit it made visible
   * starts at most a match's length before it (it ends in the mask or at its start) and AFTER_MASK after it; after a
   * mask that may change a keyword's reach (`context`), a number it names starts within `keywordAfter` on its line.
   * `edges`: position 0 / the text's end are the text's real edges.
   */
  #residueHits(text: string, spans: readonly MaskSpan[], around: readonly MaskSpan[], from: number, limit: number, edges: { start: boolean; end: boolean }, keywordAfter: number): PlacedHit[] {
    const loud = this.#m.custom.length > 0 ? around : loudMasks(text, around, edges.start, edges.end);
    const near = startWindows(loud, from, limit, HOLD, AFTER_MASK);
    const named = withoutRanges(keywordWindows(text, around, from, limit, keywordAfter), near);
    if (near.length === 0 && named.length === 0) return [];
    const readable = readableText(text, spans);
    // A new hit holds something no mask covers: where that cannot be a candidate's, nothing is read. Next to a mask,
    // a hit starting in the window may reach a match's length past it; a number that reads a keyword starts with a
    // digit (or an escape or look-alike of one) in its window.
    const found = this.#hitsIn(text, readable, spans, near, MAX_BUILTIN_MATCH);
    if (named.length === 0) return found;
    return [...found, ...this.#hitsIn(text, readable, spans, named, 0)].sort((x, y) => x.a - y.a || y.b - x.b);
  }

  /**
   * The hits starting in `windows`, where the text no mask covers from a window's start to `past` its end may hold one:
   * a digit or `@` (or what reads as one), or a `:` beside a mask's kept digit (`***.***.***-25::` is an IPv6 address).
   */
  #hitsIn(text: string, readable: string, spans: readonly MaskSpan[], windows: readonly [number, number][], past: number): PlacedHit[] {
    const found: PlacedHit[] = [];
    for (const [lo, hi] of windows) {
      const outside = outsideMasks(text, spans, lo, Math.min(text.length, hi + past));
      if (!this.#m.mayMatch(outside) && !(this.#m.on.ip && outside.includes(':'))) continue;
      for (const p of this.#windowHits(readable, spans, lo, hi)) found.push(p);
    }
    return found;
  }

  /** The hits of `readable` starting in [lo, hi), read with their left context and lookahead, not inside one mask. */
  #windowHits(readable: string, spans: readonly MaskSpan[], lo: number, hi: number): PlacedHit[] {
    const at = Math.max(0, lo - LEFT);
    const slice = readable.slice(at, Math.min(readable.length, hi + HOLD));
    const found: PlacedHit[] = [];
    for (const p of this.#place(slice, lo - at, hi - at, null)) {
      const a = p.a + at;
      const b = p.b + at;
      if (a < lo || a >= hi || insideOneMask(spans, a, b)) continue;
      found.push({ ...p, a, b, pieces: p.pieces?.map((q) => ({ ...q, from: q.from + at, to: q.to + at })) ?? null });
    }
    return found;
  }

  textMayChange(utf8: Uint8Array, start = 0, end = utf8.length): boolean {
    const m = this.#m;
    return m.enabled && (m.custom.length > 0 || utf8MayHoldCandidate(m.prescan, utf8, start, end) || this.#jsonLineMayChange(utf8, start, end));
  }

  /**
   * Without a candidate, a line read as JSON (maskText reads them: json-lines.ts) changes only through a name rule on
   * one of its keys.
   */
  #jsonLineMayChange(utf8: Uint8Array, start: number, end: number): boolean {
    return utf8MayOpenJsonLine(utf8, start, end) && utf8JsonKeysMayBeNamed(utf8, (key) => this.#m.ruleFor(key) !== null, start, end);
  }

  cellMayChange(columnName: string | undefined, utf8: Uint8Array, start = 0, end = utf8.length): boolean {
    if (!this.#m.enabled) return false;
    if (columnName !== undefined && this.#m.ruleFor(columnName) !== null) return true;
    return utf8MayBeJson(utf8, start, end) || this.textMayChange(utf8, start, end);
  }

  /**
   * Masks a whole value by its name rule (the name is the evidence: no detector has to find it). Its
   * type's partial layout only for a valid value of the type (whole-value.ts): any other value is
   * starred whole, so another name's layout never shows other parts of it.
   */
  maskWhole(value: string, rule: Rule): string {
    if (!this.#m.enabled || value.trim() === '') return value;
    const r = retype(rule, value);
    this.#count(r.type);
    const detector = r.style === 'partial' && r.detector !== null && !isWholeValue(r.detector, value) ? null : r.detector;
    return this.#styled(r.style, r.type, detector, value);
  }

  ruleFor(name: string): Rule | null {
    return this.#m.enabled ? this.#m.ruleFor(name) : null;
  }

  maskJson(value: unknown): unknown {
    return this.#m.enabled ? maskJsonValue(this.#ops, value) : value;
  }

  maskCell(columnName: string | undefined, value: string): string {
    if (!this.#m.enabled) return value;
    const rule = columnName === undefined ? null : this.#m.ruleFor(columnName);
    if (rule !== null) return this.maskWhole(value, rule);
    const first = value.charCodeAt(0);
    if (first === 123 || first === 91 || (first <= 32 && JSON_START.test(value))) {
      const js = new JsonStream(this.#ops);
      return js.push(value) + js.end();
    }
    return this.maskText(value);
  }

  /** Text in chunks; lines that open a JSON document are read as JSON (NDJSON, `data:` of an event stream, JSON logs). */
  textStream(): TextStreamMasker {
    return this.#m.enabled ? new JsonLinesStream(new TextStream(this, ''), () => new JsonStream(this.#ops, 0, '', { untilDocument: true })) : passThrough();
  }

  jsonStream(): StreamMasker {
    return this.#m.enabled ? new JsonStream(this.#ops) : passThrough();
  }

  counts(): MaskCounts {
    return { ...this.#counts };
  }
}

/** What text nothingSpecial() passes can still hold that a terminal runs (screen.ts: mayRunOnScreen): CR, VT, FF. */
const LINE_CONTROL = /[\r\v\f]/;
/** How often the screen check reads its own stars again before it writes whole lines as `*` (Session.screenChecked). */
const SCREEN_ROUNDS = 8;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/** `text` with each range of `cells` written as `*` (same length). */
function starred(text: string, cells: readonly [number, number][]): string {
  const units = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
  for (const [f, e] of cells) units.fill(0x2a, f, e);
  return Buffer.from(units.buffer, units.byteOffset, units.byteLength).toString('utf16le');
}

/**
 * Adds to `cells` the source range of each cell of `v` in [a, b) that shows a letter or a digit or was spelled by an
 * escape, at or after `from` in the source and not yet all `*`; true when it added one.
 */
function addCells(v: ScreenView, a: number, b: number, text: string, from: number, cells: [number, number][]): boolean {
  let added = false;
  for (let k = a; k < b; k++) {
    const f = v.at[k] ?? -1;
    const e = v.end[k] ?? -1;
    if (f < from || !(e - f > 1 || LETTER_OR_DIGIT.test(v.text[k] ?? '')) || allStars(text, f, e)) continue;
    cells.push([f, e]);
    added = true;
  }
  return added;
}

/** The views, each text once. */
function distinctViews(views: readonly (ScreenView | null)[]): ScreenView[] {
  const seen = new Set<string>();
  return views.filter((v): v is ScreenView => v !== null && !seen.has(v.text) && seen.add(v.text) !== undefined);
}

/** Whether every cell of `v` in [a, b) that shows a source character shows one before `from`. */
function allBefore(v: ScreenView, a: number, b: number, from: number): boolean {
  for (let k = a; k < b; k++) if ((v.at[k] ?? -1) >= from) return false;
  return true;
}

/** Adds to `cells` the source range of each control a terminal runs (not a line feed or a tab) at or after `from`. */
function addControls(received: SourceView, text: string, from: number, cells: [number, number][]): void {
  for (let k = 0; k < received.text.length; k++) {
    const c = received.text.charCodeAt(k);
    const f = received.at[k] ?? -1;
    const e = received.end[k] ?? -1;
    if (runsOnScreen(c) && f >= from && !allStars(text, f, e)) cells.push([f, e]);
  }
}

/** A control a terminal runs: C0 but a line feed and a tab, DEL, C1. */
const runsOnScreen = (c: number): boolean => (c < 0x20 && c !== 0x0a && c !== 0x09) || (c >= 0x7f && c <= 0x9f);

function allStars(text: string, f: number, e: number): boolean {
  for (let i = f; i < e; i++) if (text.charCodeAt(i) !== 0x2a) return false;
  return true;
}

/** The line of `text` around [a, b). */
function lineAround(text: string, a: number, b: number): [number, number] {
  const end = text.indexOf('\n', b);
  return [a === 0 ? 0 : text.lastIndexOf('\n', a - 1) + 1, end < 0 ? text.length : end];
}

/** The stream's lookahead and left context for text `s`: doubled when it holds a NUL (UTF-16 read as UTF-8). */
function widths(s: string): { hold: number; left: number } {
  return s.includes('\0') ? { hold: 2 * HOLD, left: 2 * LEFT } : { hold: HOLD, left: LEFT };
}

function passThrough(): TextStreamMasker {
  return { push: (chunk) => chunk, end: () => '', flush: () => '' };
}

/**
 * Text in arbitrary chunks. Holds back the last HOLD characters (a candidate starting there could still grow) and
 * keeps LEFT characters of already-emitted input as left context; output equals maskText of the concatenation.
 * Text holding a NUL may be UTF-16 read as UTF-8 (utf16.ts): two characters for each one a reader sees, so both are
 * doubled while the text at hand holds one. What the first pass writes is read again next to its masks (the residue
 * pass) before it leaves: it holds back HOLD more of it (2·HOLD where masks are), since a mask written later can make a
 * neighbour before it visible, and keeps LEFT characters of what it emitted, masks and all, as that pass's left context.
 */
export class TextStream implements TextStreamMasker {
  readonly #session: Session;
  #left: string;
  #pending = '';
  /** Each pass's resume position, relative to the start of #pending (see detect.ts: frontiers). */
  readonly #scan: ScanState;
  /** The residue pass's input: the first pass's output not yet emitted, and the masks in it. */
  #written = '';
  #writtenMasks: MaskSpan[] = [];
  /** What the residue pass emitted last (its left context), and the masks in it. */
  #shown = '';
  #shownMasks: MaskSpan[] = [];

  constructor(session: Session, left: string) {
    this.#session = session;
    this.#left = left.slice(-widths(left).left);
    // The context the text continues (a JSON string's key, a document before it) is both passes' left context.
    this.#shown = this.#left;
    this.#scan = newScanState(0, session.customCount());
  }

  push(chunk: string): string {
    this.#pending += chunk;
    if (this.#pending.length < 2 * widths(this.#pending).hold) return '';
    this.#emit(false);
    return this.#show(false);
  }

  end(): string {
    return this.flush();
  }

  flush(): string {
    if (this.#pending !== '') this.#emit(true);
    return this.#show(true);
  }

  /** The first pass: masks what is decided of #pending onto #written. */
  #emit(final: boolean): void {
    const s = this.#left + this.#pending;
    const from = this.#left.length;
    const { hold, left } = widths(s);
    rebase(this.#scan, -from, from);
    const out: string[] = [];
    const writes: Write[] = [];
    const end = this.#session.maskRange(s, from, final ? s.length : Math.max(from, s.length - hold), out, this.#scan, writes);
    rebase(this.#scan, end, 0);
    // An override still open where the output stops governs what comes next (bidi.ts): the left context says so.
    const open = mayReverse(s) && reversedRuns(s.slice(0, end)).openAtEnd;
    this.#left = (open ? '\u202e' : '') + s.slice(Math.max(0, end - left), end);
    this.#pending = s.slice(end);
    for (const m of shifted(writes.map(toSpan), this.#written.length)) this.#writtenMasks.push(m);
    this.#written += out.join('');
  }

  /** The residue pass over #written: emits what no mask still to come can change (all of it when `final`). */
  #show(final: boolean): string {
    if (this.#written === '') return '';
    const text = this.#shown + this.#written;
    const from = this.#shown.length;
    const { hold, left } = widths(text);
    const spans = [...this.#shownMasks, ...shifted(this.#writtenMasks, from)];
    // A mask still to come makes visible what starts at most HOLD before it. Where masks are, a hit the residue pass
    // writes may end up to a match's length past the limit, and the hit its mask shows must still be complete.
    const limit = final ? text.length : text.length - (spans.length === 0 ? hold : 2 * hold);
    if (limit <= from) return '';
    const r = spans.length === 0 ? { text, spans, end: limit } : this.#session.residue(text, spans, from, limit, final);
    // What a terminal shows of it (Session.screenChecked): written as `*` in place, so the masks keep their places.
    r.text = this.#session.screenChecked(r.text, r.spans, from);
    const open = mayReverse(r.text) && reversedRuns(r.text.slice(0, r.end)).openAtEnd;
    const keep = Math.max(0, r.end - left);
    const mark = open ? '\u202e' : '';
    this.#shown = mark + r.text.slice(keep, r.end);
    this.#shownMasks = shifted(spansIn(r.spans, keep, r.end), mark.length);
    this.#written = r.text.slice(r.end);
    this.#writtenMasks = spansIn(r.spans, r.end, r.text.length);
    return r.text.slice(from, r.end);
  }
}
