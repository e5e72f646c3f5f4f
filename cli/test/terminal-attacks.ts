// Every spelling of "text that acts on the auditor's terminal" the CLI's renderers are tested
// against (round 11): cli/src/inert-classes.test.ts and the renderers' own tests.

// What inert.ts escapes: nothing of it may reach the terminal raw.
// eslint-disable-next-line no-control-regex -- control characters are what is matched
export const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/u;
export const activeIn = (text: string): string[] => [...text].filter((c) => ACTIVE.test(c)).map((c) => `U+${c.codePointAt(0)?.toString(16).padStart(4, '0') ?? '?'}`);
export const utf8 = (...bytes: number[]): string => Buffer.from(bytes).toString('utf8');

/** One of every class, by name. */
export const ATTACKS: Record<string, string> = {
  'C0 NUL, BEL, VT, FF': 'a\u0000b\u0007c\u000bd\u000c',
  'C0 ESC: erase line (7-bit CSI)': 'x\u001b[2Ky',
  'C0 CR overprint': 'DROP TABLE customers;\r  SELECT 1         ',
  'C0 BS overprint': 'DROP\b\b\b\bSHOW',
  'C0 TAB (cell alignment)': 'a\tb',
  DEL: 'a\u007fb',
  '8-bit CSI U+009B': 'a\u009b2Kb',
  '8-bit OSC U+009D title, ST U+009C': 'a\u009d0;pwned\u009cb',
  '8-bit DCS U+0090': 'a\u0090$qm\u009cb',
  '8-bit SOS U+0098, PM U+009E, APC U+009F': 'a\u0098x\u009c\u009ey\u009c\u009fz\u009cb',
  '8-bit NEL U+0085': 'a\u0085b',
  'UTF-8 encoded C1 (C2 9B, C2 9D): what a JSON record decodes to': `a${utf8(0xc2, 0x9b)}6n${utf8(0xc2, 0x9d)}52;c;eA==\u0007b`,
  '7-bit OSC 8 hyperlink': '\u001b]8;;https://evil.example/\u0007click\u001b]8;;\u0007',
  '7-bit OSC 52 clipboard': '\u001b]52;c;Y3VybCB4fHNo\u0007',
  '7-bit DCS, SOS, PM, APC': '\u001bP$qm\u001b\\\u001bXs\u001b\\\u001b^p\u001b\\\u001b_a\u001b\\',
  'bidi overrides and isolates': 'a\u202ecba\u202c\u2066x\u2069\u2067y\u2069\u2068z\u2069\u202a\u202b\u202d',
  'bidi marks': 'a\u200e\u200f\u061cb',
  'zero-width: space, joiners, word joiner, BOM, soft hyphen, Mongolian vowel separator': 'D\u200bR\u200cO\u200dP\u2060 T\ufeffA\u00adB\u180eLE',
  'invisible tag characters (ASCII smuggling)': 'ok\u{e0049}\u{e0067}\u{e006e}',
  'line and paragraph separators': 'a\u2028b\u2029c',
  'interlinear annotation': 'a\ufff9b\ufffac\ufffb',
};
