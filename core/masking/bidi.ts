// Runs a reader sees reversed. A right-to-left override (U+202E, RLO) makes every character after it,
// digits included, display right to left until a pop (U+202C, PDF) or the end of the paragraph: the
// text `52-742.289.925` after an RLO shows `529.982.247-25` (Trojan Source, CVE-2021-42574). The
// decoded view drops the override (invisible.ts) and would read the digits in the stored order, so
// the engine also reads each overridden run reversed (Session#maskDecoded). Other bidi controls do
// not reorder a number: in a right-to-left embedding or isolate, digits with the dots and dashes
// between them stay one left-to-right run (UAX #9 rules W4 and I2), so only the override counts.
// The override and the pop count as written and as a reader decodes their escapes (`\u202e`,
// `&#8238;`, `&#x202E;`); nested embeddings inside an override are not tracked (the run is read
// both ways, so a left-to-right part inside it is still read in order).

// Paragraph ends per UAX #9 (BD7: B class) also end an override.
const OVERRIDE = /\u202e|\\u202[eE]|&#8238;|&#[xX]0*202[eE];/g;
// eslint-disable-next-line no-control-regex -- the information separators U+001C-U+001E end a paragraph
const POP_OR_PARAGRAPH_END = /\u202c|\\u202[cC]|&#8236;|&#[xX]0*202[cC];|[\n\r\u001c-\u001e\u0085\u2029]/g;

/** Whether the text holds a right-to-left override (as a character or an escape). */
export function mayReverse(s: string): boolean {
  return s.includes('\u202e') || /\\u202[eE]|&#8238;|&#[xX]0*202[eE];/.test(s);
}

/** The overridden runs of `s`: [start, end) offsets after each override, up to its pop or the paragraph's end. */
export function reversedRuns(s: string): [start: number, end: number][] {
  const runs: [number, number][] = [];
  OVERRIDE.lastIndex = 0;
  for (let m = OVERRIDE.exec(s); m !== null; m = OVERRIDE.exec(s)) {
    const start = m.index + m[0].length;
    POP_OR_PARAGRAPH_END.lastIndex = start;
    const end = POP_OR_PARAGRAPH_END.exec(s)?.index ?? s.length;
    if (end > start) runs.push([start, end]);
    OVERRIDE.lastIndex = Math.max(end, start);
  }
  return runs;
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
