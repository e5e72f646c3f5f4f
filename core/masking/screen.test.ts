// Round 15: the engine reads its output as a terminal shows it (screen.ts, Session.screenChecked). The classes: a
// cursor move by a CSI or a saved cursor (the backspace's class: `529.982.247-2X\e[D5` shows the CPF), a carriage
// return that writes a line's start over and leaves its end (`…777529.982.247-25\r.166-33cpf `), an escape a reader
// decodes right after ESC (`\e\u009c`), a backspace that lands on an escape whose decoding is invisible, a string
// sequence opened after an identifier that hides what continued it. Each in every style, cut into stream chunks,
// inside JSON and with its counts; keyed masks are not read again; text a terminal reads as it is stored is not
// touched; the screen's own parser (the DEC one terminals share).
import { describe, expect, it } from '@jest/globals';
import { decodedForScreen, plainView } from './decode.ts';
import { compileMasker } from './index.ts';
import { mayRunOnScreen, screenOf as screenOrNull, withoutControlEscapes, type ScreenView, type SourceView } from './screen.ts';

const E = '\u001b';
/** The screen of `v` (a line feed to the line's start), which these texts never make unknown nor push past the work budget. */
function screenOf(v: SourceView): ScreenView {
  const screen = screenOrNull(v)?.[0];
  if (screen === undefined) throw new Error('not the model\'s screen');
  return screen;
}
const masker = compileMasker({});
const maskText = (t: string): string => masker.newSession().maskText(t);
const shown = (t: string): string => screenOf(plainView(t)).text;
const shownDecoded = (t: string): string => screenOf(decodedForScreen(t)).text;
const SECRET = /529\.?982\.?247-?25/;
const KEY = { hashKey: Buffer.alloc(32, 7) };

/** The readers of a text: itself, its screen, the screen of it decoded, and that screen's escaped controls read as nothing. */
const readers = (t: string): string[] => [t, shown(t), shownDecoded(t), withoutControlEscapes(screenOf(plainView(t)))?.text ?? ''];
/** What the engine would still mask in what a reader of `t` holds. */
const unmasked = (t: string): string[] => readers(t).filter((view) => maskText(view) !== view);

describe('the screen a terminal shows (screen.ts)', () => {
  it.each([
    ['a backspace writes over the cell before', '529.982.247-2X\b5', '529.982.247-25'],
    ['a carriage return writes the line from its start', 'abcdef\rXY', 'XYcdef'],
    ['a line feed starts a new line at its start', 'ab\ncd', 'ab\ncd'],
    ['a tab moves to the next stop', 'ab\tc', 'ab      c'],
    ['a colour is not shown', `${E}[32m529${E}[0m.982`, '529.982'],
    ['CSI D moves the cursor back', `abcX${E}[Dd`, 'abcd'],
    ['CSI 3D three cells', `abXYZ${E}[3Dcde`, 'abcde'],
    ['C1 CSI D', 'abX\u009bDc', 'abc'],
    ['CSI C moves it forward over what stays', `abcdef\r${E}[3CX`, 'abcXef'],
    ['CSI G to a column', `abcdef${E}[2GX`, 'aXcdef'],
    ['ESC 7 saves and ESC 8 restores', `ab${E}7XY${E}8cd`, 'abcd'],
    ['CSI s saves and CSI u restores', `ab${E}[sXY${E}[ucd`, 'abcd'],
    ['CSI K erases to the line end (blank cells at a line end show nothing)', `abcdef${E}[3D${E}[K`, 'abc'],
    ['CSI P deletes at the cursor, the rest moves left', `abXcd${E}[3D${E}[P`, 'abcd'],
    ['CSI @ inserts blanks', `abcd${E}[2D${E}[2@`, 'ab  cd'],
    ['a C0 control inside an escape sequence runs and does not end it', `ab${E}.\b1X`, 'aX'],
    ['a backspace inside a CSI moves the cursor', `abc${E}[1\b2mX`, 'abX'],
    ['an OSC string hides up to BEL', `a${E}]0;title\u0007b`, 'ab'],
    ['a string hides what follows, unterminated', 'a\u0098529.982', 'a'],
    ['ST as ESC \\ ends a DCS', `a${E}Pq529${E}\\b`, 'ab'],
    ['CAN aborts a string', 'a\u009d0;x\u0018b', 'ab'],
    ['ESC aborts a string and starts a sequence', `a${E}_x${E}[31mb`, 'ab'],
    ['a format character takes no cell', 'a\u200bb\u202ec', 'abc'],
    ['a surrogate pair is one cell', 'a\ud835\udfd3\bb', 'ab'],
    ['CSI b repeats the last character', `1${E}[2b.4${E}[2b`, '111.444'],
    ['CSI a (HPR) moves forward', `abcdef\r${E}[2aX`, 'abXdef'],
    ['CSI Z moves back a tab stop, CSI I forward', `abcdefghij${E}[ZX${E}[IY`, 'abcdefghXj      Y'],
    ['ESC M goes up a line, ESC D down in the same column', `abc\ndef${E}M${E}[2GX${E}DY`, 'aXc\ndeY'],
    ['ESC E starts the next line', `ab${E}Ecd`, 'ab\ncd'],
    ['CSI J erases to the screen end', `abc\ndef${E}M${E}[2G${E}[J`, 'a'],
    ['a long run of blank cells reads as 16 spaces', `a${E}[1000Cb`, `a${' '.repeat(16)}b`],
    ['a cursor moved a billion cells or rows away costs nothing', `a${E}[999999999Cb${E}[999999999Bc`, `a${' '.repeat(16)}b\n${' '.repeat(16)}c`],
  ])('%s', (_name, text, screen) => {
    expect(shown(text)).toBe(screen);
  });

  it('maps each cell back to the source characters that wrote it, wherever the cursor put it', () => {
    const text = 'abc\rX';
    const v = screenOf(plainView(text));
    expect(v.text).toBe('Xbc');
    expect(Array.from(v.at)).toEqual([4, 1, 2]);
    expect(Array.from(v.end)).toEqual([5, 2, 3]);
    const d = screenOf(decodedForScreen('a\\u0035&#53;'));
    expect(d.text).toBe('a55');
    expect(Array.from(d.at)).toEqual([0, 1, 7]);
    expect(Array.from(d.end)).toEqual([1, 7, 12]);
  });

  it('decodes an escape right after ESC, and keeps every control for the terminal', () => {
    expect(decodedForScreen(`${E}\\u009c\\b%08&#13;x`).text).toBe(`${E}\u009c\b\b\rx`);
  });

  it.each([
    ['plain text', 'cpf 529.982.247-25', false],
    ['line ends', 'a\tb\r\nc\n', false],
    ['colours', `${E}[1;32mok${E}[0m`, false],
    ['escaped colours', '\\u001b[31m &#27;[0m %1B[0m \\x1b[m', false],
    ['a backspace', 'a\bb', true],
    ['a bare carriage return', 'a\rb', true],
    ['a cursor move', `${E}[D`, true],
    ['a saved cursor', `${E}7`, true],
    ['a C1 control', '\u009b1m', true],
    ['an escaped backspace', '\\b', true],
    ['an escaped cursor move', '\\u001b[2D', true],
    ['an escaped carriage return that ends no line', '\\rx', true],
    ['a reference to a control', '&#8;', true],
    ['a percent-encoded control', '%08', true],
  ])('text a terminal may show otherwise: %s', (_name, text, runs) => {
    expect(mayRunOnScreen(text)).toBe(runs);
  });
});

describe('what the screen shows is masked in the source', () => {
  it.each([
    ['a cursor move back (CSI D) writes over a decoy digit', `529.982.247-2X${E}[D5`],
    ['two cells back', `529.982.247-XY${E}[2D25 `],
    ['the 8-bit CSI', '529.982.247-2X\u009bD5'],
    ['a cursor forward over a kept line start', `529.982.247-25X\r${E}[14C `],
    ['a column set', `529.982.247-2X${E}[14G5`],
    ['a saved cursor restored', `529.982.247-2${E}7X${E}85`],
    ['CSI s / CSI u', `529.982.247-2${E}[sX${E}[u5`],
    ['a deleted character joins two halves', `529.98X${E}[D${E}[P2.247-25`],
    ['an erased tail after a carriage return', `111 444 777 35999${E}[3D${E}[K`],
    ['a carriage return writes a line start over and leaves its end', '111 444 777529.982.247-25\r.166-33cpf '],
    ['the same with the carriage return escaped', 'x 111 444 777529.982.247-25\\r.166-33cpf x '],
    ['an escape decoded after ESC (ST) lets a backspace act', '\u0018\u0090\u202c\r%07\u202c\\b\u001b\\u009c\b111 444 777 35\u001b[31m\u001b_'],
    ['a backspace onto an escape whose decoding is invisible', 'a\u009d0;\u001b\\\u202c&#27;]0;590.830\b\\u202e529.982'],
    ['an escaped backspace and an escaped C1 ST', '\u001b]0;tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt\\x1b[%0735\\u009cX\bX\b\\u202e52998224725'],
    ['escaped ESC and BEL around an erased letter', 'a%1B]0;.166-33a\\b\u001b\u001bX\u0018111.444.777-35\u001b7\\x1b[%07590.830'],
    ['a repeat spells the digits', `cpf 1${E}[2b.4${E}[2b.7${E}[2b-35 ok`],
    ['a line above written over after a reverse index', `529.982.247-2X\n${E}M${E}[14G5`],
    ['a tab stop back', `529.982.X${E}[Z247-25 `],
    ['an erase frees an identifier glued to what follows it', `111 444 777 35999${E}[3D${E}[J`],
    ['a backspace over a reference', '\u200b111 444 777 35&#7;\b\\b\u202c529.982.247-25529.982%07tel \u00adok '],
  ])('%s', (_name, raw) => {
    // A screen of the input shows an identifier.
    expect(readers(raw).slice(1).some((view) => maskText(view) !== view)).toBe(true);
    expect(unmasked(maskText(raw))).toEqual([]);
  });

  it('in every style, and the hit is counted', () => {
    const raw = `cpf 529.982.247-2X${E}[D5 ok`;
    for (const style of ['partial', 'redact', 'hash', 'surrogate'] as const) {
      const session = compileMasker({ style }, KEY).newSession();
      const out = session.maskText(raw);
      expect(shown(out)).not.toMatch(SECRET);
      expect(session.counts().cpf).toBeGreaterThanOrEqual(1);
    }
    expect(maskText(raw)).toBe(`cpf ***.***.***-*X${E}[D* ok`);
  });

  it('a keyed mask (surrogate, hash) is not read again on the screen: its digits are the masker\'s', () => {
    const session = compileMasker({ style: 'surrogate' }, KEY).newSession();
    const out = session.maskText(`a\bcpf 529.982.247-25 ok`);
    expect(out).toMatch(/^a[\b]cpf \d{3}\.\d{3}\.\d{3}-\d{2} ok$/);
    expect(out).not.toContain('529.982.247-25');
  });

  it('text a terminal reads as it is stored is masked as before', () => {
    for (const raw of ['cpf 529.982.247-25 ok', `${E}[32mcpf 529.982.247-25${E}[0m`, 'a\r\nb 529.982.247-25\r\n']) {
      expect(maskText(raw)).toBe(raw.replace('529.982.247-25', '***.***.***-25'));
    }
  });

  it('cut into stream chunks anywhere, the output leaves nothing on the screen', () => {
    const raws = [`cpf 529.982.247-2X${E}[D5 ok`, '111 444 777529.982.247-25\r.166-33cpf ', `529.982.247-2${E}7X${E}85\n`];
    for (const raw of raws) {
      const whole = maskText(raw);
      for (let size = 1; size <= 13; size++) {
        const stream = masker.newSession().textStream();
        let out = '';
        for (let i = 0; i < raw.length; i += size) out += stream.push(raw.slice(i, i + size));
        out += stream.end();
        expect(out).toBe(whole);
      }
    }
  });

  it.each([
    ['a character deleted', '529.982X.247-25', `${E}[8D${E}[P\n`],
    ['a glued tail erased', 'cpf 111 444 777 35999', `${E}[3D${E}[K\n`],
    ['the display erased from the cursor', 'cpf 111 444 777 35999', `${E}[3D${E}[J\n`],
    ['backspaces and an erase written as escapes a decoder runs', 'cpf 529.982.247-25999', '\\b\\b\\b\\u001b[K ok\n'],
  ])('a stream flushed (gone idle) before the control that shows emitted text whole: %s; the control is not run', (_name, first, then) => {
    const stream = masker.newSession().textStream();
    const emitted = stream.push(first) + stream.flush();
    expect(emitted).toBe(first);
    const out = emitted + stream.push(then) + stream.end();
    expect(readers(first + then).slice(1).some((view) => maskText(view) !== view)).toBe(true);
    expect(unmasked(out)).toEqual([]);
  });

  it('after a long stretch of text in a stream (the check reads the window the stream still holds)', () => {
    const raw = `${'log line without identifiers\n'.repeat(400)}cpf 529.982.247-2X${E}[D5 ok\n`;
    const stream = masker.newSession().textStream();
    let out = '';
    for (let i = 0; i < raw.length; i += 1000) out += stream.push(raw.slice(i, i + 1000));
    out += stream.end();
    expect(shown(out)).not.toMatch(SECRET);
    expect(out).toBe(maskText(raw));
  });

  it('in a PostgreSQL cell (maskCell), plain and as a JSON document', () => {
    const session = masker.newSession();
    const cell = session.maskCell('note', `529.982.247-2X${E}[D5`);
    expect(cell).toBe(`***.***.***-*X${E}[D*`);
    const doc = session.maskCell('payload', JSON.stringify({ note: `cpf 529.982.247-2X${E}[D5` }));
    expect(shown((JSON.parse(doc) as { note: string }).note)).not.toMatch(SECRET);
  });

  it('inside a JSON string value (the value as its reader decodes it)', () => {
    const session = masker.newSession();
    const out = session.maskJson({ note: `529.982.247-2X${E}[D5`, ok: 'plain' }) as { note: string; ok: string };
    expect(shown(out.note)).not.toMatch(SECRET);
    expect(out.ok).toBe('plain');
    const text = maskText(JSON.stringify({ note: `529.982.247-2X\b5` }));
    expect(shownDecoded(text)).not.toMatch(SECRET);
  });

  it.each([
    ['a cursor moved a billion cells', `x${E}[999999999C5 cpf 529.982.247-25`],
    ['a billion rows', `x${E}[999999999B5 cpf 529.982.247-25`],
    ['a billion characters inserted and deleted', `abc${E}[D${E}[999999999@${E}[999999999P cpf 529.982.247-25`],
    ['a billion repeats', `5${E}[999999999b cpf 529.982.247-25`],
    ['parameters past any number', `x${E}[${'9'.repeat(400)}C${E}[${'9'.repeat(400)}b cpf 529.982.247-25`],
  ])('huge parameters cost nothing: %s', (_name, raw) => {
    const out = maskText(raw);
    expect(out).toContain('***.***.***-25');
    expect(unmasked(out)).toEqual([]);
  });

  it('a text asking the terminal for more work than screen output does is written as * (fails closed)', () => {
    const raw = `${'x'.repeat(2000)}${`${E}[@`.repeat(5000)} cpf 529.982.247-25 ok`;
    expect(screenOrNull(plainView(raw))).toBeNull();
    const out = maskText(raw);
    expect(out).not.toMatch(/[0-9a-z]/);
    expect(out.length).toBe(raw.length);
  });

  it('a flood of cursor moves and identifiers, one a line: each one masked', () => {
    const raw = `529.982.247-2X${E}[D5\n`.repeat(5000);
    const out = maskText(raw);
    expect(shown(out)).not.toMatch(SECRET);
    expect(out).toBe(`***.***.***-*X${E}[D*\n`.repeat(5000));
  });

  it('the same on one line: one cell back stays on the row a real terminal wrapped it into', () => {
    const raw = `529.982.247-2X${E}[D5 `.repeat(5000);
    expect(maskText(raw)).toBe(`***.***.***-*X${E}[D* `.repeat(5000));
  });

  it.each([
    ['a carriage return on a line a terminal may have wrapped', `${'A'.repeat(80)}@@@@@@@.247-25\r529.982`],
    ['a cursor moved past the right margin, then back', `@@@@@@@.247-25${E}[9999C${E}[9999D529.982`],
    ['autowrap off', `${E}[?7l${E}[9999C${E}[10D5299822472X5`],
    ['a move down that may stop at the bottom, then up', `529.982.247-2X\n${E}[9999B${E}[A${E}[14G5`],
    ['an absolute row after text', `${E}[1;1H529.982.247-2X\n\n\n${E}[1;14H5`],
    ['a tab stop set by the text', `@@@@@@@${E}H\r529.982\r\t.247-25`],
    ['the alternate screen', `529.982.247-2X${E}[?1049h${E}[?1049l${E}[D5`],
  ])('what the screen shows depends on what the model cannot know: %s; every letter and digit is written as *', (_name, raw) => {
    const out = maskText(raw);
    expect(out).not.toMatch(/[0-9]/);
    expect(out.length).toBe(raw.length);
  });

  it('a text too short to make an identifier is left alone when the screen is unknown', () => {
    // Three digits: fewer than the shortest identifier (an IPv4 address, four).
    expect(maskText(`ab${E}[?47hcd${E}[D1`)).toBe(`ab${E}[?47hcd${E}[D1`);
  });

});
