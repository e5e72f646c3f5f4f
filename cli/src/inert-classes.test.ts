// Round 11: every renderer of the CLI against every spelling of "text that acts on the terminal":
// C0 and DEL, C1 in its 7-bit (ESC) and 8-bit forms (as code points and as the UTF-8 bytes a JSON
// record decodes to), OSC 8 hyperlinks and OSC 52 clipboard writes, DCS/SOS/PM/APC strings, bidi
// overrides and isolates, zero-width and tag characters, CR and BS overprint, and the CLI's own
// marks (⏎, …) spelled by the text.
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { inert, inertError, inertJson, inertLine, inertLines, inertPreview, inertText, inertYaml, safeTerminalText } from './inert.ts';
import { paint, renderTable, streamTable } from './output.ts';
import { renderChecklist } from './check/render.ts';
import { activeIn, ATTACKS } from '../test/terminal-attacks.ts';

describe('inertText / inertLine / inertLines / inertPreview: every class, escaped visibly', () => {
  it.each(Object.entries(ATTACKS))('%s', (_name, attack) => {
    const text = `SELECT 1 ${attack}\nDELETE FROM t`;
    expect(activeIn(inertText(text))).toEqual([]);
    expect(inertText(text).split('\n')).toHaveLength(2); // newlines stay in a block
    expect(activeIn(inertLine(text))).toEqual([]);
    expect(inertLine(text)).not.toContain('\n');
    expect(inertLine(text)).toContain('⏎DELETE FROM t');
    for (const l of inertLines(text)) expect(activeIn(l)).toEqual([]);
    expect(inertLines(text)).toHaveLength(2);
    expect(activeIn(inertPreview(text))).toEqual([]);
    expect(inertPreview(text)).toMatch(/⏎… \(\+1 line\)$/);
    // Structured output: none raw, and the same value when parsed.
    expect(activeIn(inertJson({ text }))).toEqual([]);
    expect(JSON.parse(inertJson({ text }))).toEqual({ text });
    expect(activeIn(inertYaml({ text }))).toEqual([]);
    expect(parse(inertYaml({ text }))).toEqual({ text });
  });

  it('escapes as \\uXXXX (astral characters as their UTF-16 pair, as JSON does)', () => {
    expect(inertText('a\u001bb\u009bc\u202ed\u{e0041}')).toBe('a\\u001bb\\u009bc\\u202ed\\udb40\\udc41');
    expect(inertText('Aprovado por João: 529.982.247-25 → ok, 東京 😀')).toBe('Aprovado por João: 529.982.247-25 → ok, 東京 😀');
  });

  it('a raw 0x9B byte (invalid UTF-8) decodes to U+FFFD, which acts on nothing', () => {
    expect(Buffer.from([0x61, 0x9b, 0x32, 0x4b]).toString('utf8')).toBe('a\ufffd2K');
  });

  it('the CLI\'s own marks are unambiguous: ⏎ in the text is escaped, and … in a block\'s lines', () => {
    expect(inertLine('a⏎b…c\nd')).toBe('a\\u23ceb…c⏎d');
    expect(inertLines('x⏎\n… (+9 lines)')).toEqual(['x\\u23ce', '\\u2026 (+9 lines)']);
  });

  it('a preview says when the line was cut and how many lines follow', () => {
    expect(inertPreview('SELECT 1')).toBe('SELECT 1');
    expect(inertPreview('SELECT 1\n')).toBe('SELECT 1');
    expect(inertPreview('SELECT id FROM orders WHERE id = 7\n;\nDELETE FROM customers')).toBe('SELECT id FROM orders WHERE id = 7 ⏎… (+2 lines)');
    expect(inertPreview('x'.repeat(100), 80)).toBe(`${'x'.repeat(80)}…`);
    expect(inertPreview(`${'x'.repeat(100)}\ny`, 80)).toBe(`${'x'.repeat(80)}… ⏎… (+1 line)`);
  });

  it('inert() with inertLine puts every string of a value on one line, keys too', () => {
    expect(inert({ 'k\n': ['a\nb', { c: 'd\u001b' }], n: 1 }, inertLine)).toEqual({ 'k⏎': ['a⏎b', { c: 'd\\u001b' }], n: 1 });
  });

  it('an error\'s message (apiserver or operator text) is shown inert', () => {
    expect(inertError(new Error('forbidden: \u001b]0;x\u0007'))).toBe('forbidden: \\u001b]0;x\\u0007');
    expect(inertError('\u009b6n')).toBe('\\u009b6n');
  });
});

describe('tables and the check list: every class, one line per row', () => {
  it.each(Object.entries(ATTACKS))('%s', (_name, attack) => {
    const row = { v: `${attack}\nfake-row   Approved` };
    const table = renderTable([row], [{ header: 'V', value: (r) => r.v }]);
    expect(activeIn(table)).toEqual([]);
    expect(table.trimEnd().split('\n')).toHaveLength(2); // header and the one row: a newline cannot draw a row
    const stream = streamTable<typeof row>([{ header: 'V', value: (r) => r.v }]).row(row);
    expect(activeIn(stream)).toEqual([]);
    expect(stream.trimEnd().split('\n')).toHaveLength(1);
    const checklist = renderChecklist([{ section: 'S', title: `t ${attack}`, ok: false, detail: `d ${attack}\nStatus: ✔ all checks passed`, fix: [`f ${attack}`] }], paint({ isTTY: false }, {}));
    expect(activeIn(checklist)).toEqual([]);
    expect(checklist).not.toMatch(/^Status: ✔/m);
  });

  it('a column already rendered (a preview) keeps its marks', () => {
    const table = renderTable([{ t: 'SELECT 1\nDELETE' }], [{ header: 'COMMAND', value: (r) => inertPreview(r.t), rendered: true }]);
    expect(table).toContain('SELECT 1 ⏎… (+1 line)');
  });
});

describe('safeTerminalText (recorded terminal streams): every class', () => {
  // What may reach the terminal from a stream: printable text, tab, newline, CR, and the CSI
  // sequences kept (colours, cursor movement) as 7-bit.
  // eslint-disable-next-line no-control-regex -- escape sequences are what is removed
  const KEPT_CSI = /\x1b\[[0-9;?]*[ABCDEFGHJKSTfmr]/g;
  const left = (s: string): string[] => activeIn(s.replace(KEPT_CSI, '').replace(/[\t\r\n]/g, '')).filter((c) => !/U\+(200b|200c|200d|2060|feff|00ad|180e|e00..|2028|2029|fff[9ab])/.test(c));

  it.each(Object.entries(ATTACKS))('%s', (_name, attack) => {
    const shown = safeTerminalText(`ok ${attack} end`);
    expect(shown.startsWith('ok')).toBe(true);
    expect(left(shown)).toEqual([]);
    expect(shown).not.toMatch(/[\u0080-\u009f]/);
  });

  it.each([
    ['OSC 8 hyperlink', '\u001b]8;;https://evil.example/\u0007click\u001b]8;;\u0007', 'click'],
    ['OSC 52 ended by 8-bit ST', '\u001b]52;c;eA==\u009cnext', 'next'],
    ['8-bit OSC ended by 7-bit ST', '\u009d52;c;eA==\u001b\\next', 'next'],
    ['unterminated OSC to the end of the frame', 'a\u001b]0;title never ends', 'a'],
    ['8-bit DCS, SOS, PM, APC', '\u0090q\u009c\u0098s\u009c\u009ep\u009c\u009fa\u009cnext', 'next'],
    ['8-bit CSI query (DSR 6n): introducer dropped', 'a\u009b6n', 'a[6n'],
    ['7-bit CSI query (DA, c)', 'a\u001b[c', 'a[c'],
    ['private mode (alternate screen) not kept', 'a\u001b[?1049h', 'a[?1049h'],
    ['erase scrollback (3J) not kept: it would erase replay\'s earlier lines', 'a\u001b[3J', 'a[3J'],
    ['conceal (SGR 8) not kept: it would hide what replay prints next', 'a\u001b[8m', 'a[8m'],
    ['conceal among other SGR parameters', 'a\u001b[1;8m', 'a[1;8m'],
    ['CSI with an intermediate byte (DECSCUSR) not kept', 'a\u001b[2 q', 'a[2 q'],
    ['a sequence cut at the end of the frame leaves no ESC', 'a\u001b[12', 'a[12'],
    ['a lone ESC at the end of the frame', 'a\u001b', 'a'],
    ['BS and BEL', 'a\b\u0007b', 'ab'],
    ['bidi override', 'a\u202eb', 'ab'],
  ])('%s', (_name, data, expected) => {
    expect(safeTerminalText(data)).toBe(expected);
  });

  it.each([
    ['colours', '\u001b[1;31mred\u001b[0m', '\u001b[1;31mred\u001b[0m'],
    ['256 colours with index 8 (not conceal)', '\u001b[38;5;8mgrey\u001b[48;5;8m', '\u001b[38;5;8mgrey\u001b[48;5;8m'],
    ['cursor movement and erase in line and screen', '\u001b[2A\u001b[10;5H\u001b[K\u001b[2J', '\u001b[2A\u001b[10;5H\u001b[K\u001b[2J'],
    ['an 8-bit CSI that is kept, as 7-bit', '\u009b31mred', '\u001b[31mred'],
    ['CR LF and tabs', 'a\tb\r\nc', 'a\tb\r\nc'],
  ])('keeps %s', (_name, data, expected) => {
    expect(safeTerminalText(data)).toBe(expected);
  });

  it('filtered frames cannot join into a sequence: none ends in an incomplete one', () => {
    const frames = ['a\u001b', ']52;c;eA==\u0007', 'b\u009d', '0;t\u009c', 'c\u001b[', '6n'];
    const joined = frames.map(safeTerminalText).join('');
    expect(joined).not.toContain('\u001b]');
    expect(left(joined)).toEqual([]);
  });
});
