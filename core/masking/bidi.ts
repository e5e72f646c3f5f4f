// Runs a reader sees reversed. A right-to-left override (U+202E, RLO) makes every character after it,
// digits included, display right to left until a pop (U+202C, PDF) or the end of the paragraph: the
// text `52-742.289.925` after an RLO shows `529.982.247-25` (Trojan Source, CVE-2021-42574). The
// decoded view drops the override (invisible.ts) and would read the digits in the stored order, so
// the engine also reads each overridden run reversed (Session#maskDecoded). Other bidi controls do
// not reorder a number: in a right-to-left embedding or isolate, digits with the dots and dashes
// between them stay one left-to-right run (UAX #9 rules W4 and I2), so only the override counts.
// The controls count as written and as a reader decodes their escapes (`\u202e`, `&#8238;`,
// `&#x202E;`, with leading zeros or without the `;` as browsers read them, `%E2%80%AE`); nesting
// follows UAX #9's stack: a pop closes the innermost embedding or override (`RLO LRO PDF digits`
// is still overridden), an isolate's end closes what opened inside it, a paragraph end closes all.

// The explicit directional controls, as characters and as the escapes a reader decodes, and paragraph ends
// (UAX #9 BD7: B class), which close every embedding, override and isolate.
// eslint-disable-next-line no-control-regex -- the information separators U+001C-U+001E end a paragraph
const CONTROL = /([\u202a-\u202e\u2066-\u2069])|\\u(202[a-eA-E]|206[6-9])|&#0*(823[4-8]|829[4-7])(?:;|(?![0-9]))|&#[xX]0*(202[a-eA-E]|206[6-9])(?:;|(?![0-9A-Fa-f]))|%[eE]2%80%[aA]([a-eA-E])|%[eE]2%81%[aA]([6-9])|([\n\r\u001c-\u001e\u0085\u2029])/g;

/** The code point a CONTROL match stands for (0x0a for a paragraph end). */
function controlOf(m: RegExpExecArray): number {
  if (m[1] !== undefined) return m[1].charCodeAt(0);
  if (m[2] !== undefined) return Number.parseInt(m[2], 16);
  if (m[3] !== undefined) return Number.parseInt(m[3], 10);
  if (m[4] !== undefined) return Number.parseInt(m[4], 16);
  // Percent-encoded UTF-8: E2 80 AA-AE is U+202A-U+202E, E2 81 A6-A9 is U+2066-U+2069.
  if (m[5] !== undefined) return 0x2020 + Number.parseInt(m[5], 16);
  if (m[6] !== undefined) return 0x2060 + Number.parseInt(m[6], 16);
  return 0x0a;
}

const RLO = 0x202e;
const ISOLATE = 0x2066;
const MAX_DEPTH = 125;

const push = (stack: number[], entry: number): void => {
  if (stack.length < MAX_DEPTH) stack.push(entry);
};

/** The embedding stack after `control` (UAX #9 X1–X8, kept to what decides an override: pushes, pops, isolates). */
function step(stack: number[], control: number): void {
  if (control === 0x0a) stack.length = 0; // a paragraph end closes all
  else if (control === 0x202c) popEmbedding(stack);
  else if (control === 0x2069) popIsolate(stack);
  else push(stack, control >= 0x2066 ? ISOLATE : control); // LRE, RLE, LRO, RLO; LRI, RLI, FSI
}

/** PDF: closes the innermost embedding or override, never an isolate. */
function popEmbedding(stack: number[]): void {
  if (stack.length > 0 && stack.at(-1) !== ISOLATE) stack.pop();
}

/** PDI: closes the innermost isolate and everything opened inside it. */
function popIsolate(stack: number[]): void {
  if (!stack.includes(ISOLATE)) return;
  while (stack.pop() !== ISOLATE) { /* pop to the matching isolate */ }
}

/** Whether the text holds a right-to-left override (as a character or an escape). */
export function mayReverse(s: string): boolean {
  return s.includes('\u202e') || /\\u202[eE]|&#0*8238(?![0-9])|&#[xX]0*202[eE](?![0-9A-Fa-f])|%[eE]2%80%[aA][eE]/.test(s);
}

/**
 * The runs of `s` a right-to-left override governs, [start, end) offsets between directional controls, and whether
 * one is still open at the end (a stream carries that into its next piece).
 */
export function reversedRuns(s: string): { runs: [start: number, end: number][]; openAtEnd: boolean } {
  const runs: [number, number][] = [];
  const stack: number[] = [];
  let from = 0;
  CONTROL.lastIndex = 0;
  for (let m = CONTROL.exec(s); m !== null; m = CONTROL.exec(s)) {
    if (stack.at(-1) === RLO && m.index > from) runs.push([from, m.index]);
    step(stack, controlOf(m));
    from = m.index + m[0].length;
  }
  if (stack.at(-1) === RLO && s.length > from) runs.push([from, s.length]);
  return { runs, openAtEnd: stack.at(-1) === RLO };
}

/** Text as a reader sees it around reversed runs, and where each of its characters sits in the text it was made from. */
export interface ShownLine {
  text: string;
  /** Per character of `text`: its offset in the source. */
  sourceOf: Int32Array;
  /** Per character of `text`: 1 + the index of the reversed run it comes from, 0 outside the runs. */
  runOf: Int32Array;
}

/**
 * `v` from `from` to `to` as a reader sees it: the reversed runs (sorted, inside [from, to)) shown reversed in place,
 * the text between and around them as stored. One string for runs close together, so text made of many short runs
 * costs one scan, and an identifier spread over several runs is seen whole.
 */
export function shownLine(v: string, runs: readonly (readonly [number, number])[], from: number, to: number): ShownLine {
  const sourceOf = new Int32Array(to - from);
  const runOf = new Int32Array(to - from);
  let text = '';
  const put = (a: number, b: number, run: number): void => {
    const reversed = run > 0;
    for (let i = 0; i < b - a; i++) {
      sourceOf[text.length + i] = reversed ? b - 1 - i : a + i;
      runOf[text.length + i] = run;
    }
    text += reversed ? shownReversed(v.slice(a, b)) : v.slice(a, b);
  };
  let at = from;
  runs.forEach(([a, b], i) => {
    put(at, a, 0);
    put(a, b, i + 1);
    at = b;
  });
  put(at, to, 0);
  return { text, sourceOf, runOf };
}

/** Runs (sorted) in groups whose neighbours are at most `gap` apart: each group is read as one line. */
export function nearbyRuns(runs: readonly (readonly [number, number])[], gap: number): [number, number][][] {
  const groups: [number, number][][] = [];
  for (const [a, b] of runs) {
    if (b <= a) continue;
    const group = groups.at(-1);
    const last = group?.at(-1);
    if (group !== undefined && last !== undefined && a - last[1] <= gap) group.push([a, b]);
    else groups.push([[a, b]]);
  }
  return groups;
}

/** Brackets a right-to-left run shows mirrored (Bidi_Mirrored: `(11)` is stored `(11)` and shown `)11(` reversed, mirrored back). */
const MIRRORED: Readonly<Record<string, string>> = {
  '(': ')', ')': '(', '[': ']', ']': '[', '{': '}', '}': '{', '<': '>', '>': '<',
  '\uff08': '\uff09', '\uff09': '\uff08', '\uff3b': '\uff3d', '\uff3d': '\uff3b', '\uff5b': '\uff5d', '\uff5d': '\uff5b', '\uff1c': '\uff1e', '\uff1e': '\uff1c',
};

/**
 * `s` as a right-to-left override shows it: its characters in reverse order, brackets mirrored. Its own inverse, and
 * one for one in UTF-16 units (a surrogate pair stays in order), so a position i maps to length − i.
 */
export function shownReversed(s: string): string {
  let out = '';
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const h = s.charCodeAt(i - 1);
      if (h >= 0xd800 && h <= 0xdbff) {
        out += s[i - 1] + (s[i] ?? '');
        i--;
        continue;
      }
    }
    const ch = s[i] ?? '';
    out += MIRRORED[ch] ?? ch;
  }
  return out;
}
