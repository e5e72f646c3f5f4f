// Round 12c: text inside terminal escape sequences. The engine's first reading is what a terminal shows (sequences
// dropped: terminal-attacks.test.ts), but an agent reading the raw bytes sees what is inside them: a CSI's parameters
// (`cpf \e[52998224725m`), an OSC title or an OSC 8 hyperlink's URL, a DCS, APC, PM or SOS string, in the 7-bit and
// the 8-bit (C1) forms, as characters and as the escapes a JSON log line or a URL writes them with. sequences.ts reads
// them as text (masked in place, the sequence kept) and dropped whole at any length (an identifier a long sequence
// splits). Also here: numeric character references without their `;` and the other reference spellings a browser
// decodes, in decode.ts and bidi.ts.
import { afterAll, describe, expect, it } from '@jest/globals';
import { ATTACK_IDENTIFIERS, exposes, placements } from './corpus.ts';
import { decodeView } from './decode.ts';
import { compileMasker } from './index.ts';
import { sequenceWork } from './sequences.ts';

const masker = compileMasker({});
const session = () => masker.newSession();
const maskText = (t: string): string => session().maskText(t);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** What a raw reader sees of the value in `out`: the digits (or the local part) with nothing dropped. */
function rawExposes(out: string, value: string): boolean {
  const digits = value.replace(/[^0-9]/g, '');
  if (digits.length >= 8) return out.replace(/[^0-9*]/g, '').includes(digits.slice(0, 6));
  return out.includes(value.split('@')[0] ?? value);
}

function streamed(t: string, size: number): string {
  const st = session().textStream();
  let out = '';
  for (let i = 0; i < t.length; i += size) out += st.push(t.slice(i, i + size));
  return out + st.end();
}

const E = '\u001b';
const ST = `${E}\\`;
/** Each sequence kind a text can hide in, as [open, close] around its content. */
const CONTAINERS: Readonly<Record<string, readonly [string, string]>> = {
  csi: [`${E}[`, 'm'],
  csiPrivate: [`${E}[?`, 'h'],
  csi8bit: ['\u009b', 'm'],
  oscTitleBel: [`${E}]0;`, '\u0007'],
  oscTitleSt: [`${E}]2;`, ST],
  osc8UrlSt: [`${E}]8;;https://crm.example/c/`, `${ST}ver${E}]8;;${ST}`],
  osc8UrlBel: [`${E}]8;id=1;http://x/`, `\u0007link${E}]8;;\u0007`],
  osc8bit: ['\u009d0;', '\u009c'],
  osc8bitBel: ['\u009d8;;http://x/', '\u0007'],
  dcs: [`${E}P0;1|`, ST],
  dcs8bit: ['\u0090', '\u009c'],
  sos: [`${E}X`, ST],
  sos8bit: ['\u0098', '\u009c'],
  pm: [`${E}^`, ST],
  pm8bit: ['\u009e', '\u009c'],
  apc: [`${E}_`, ST],
  apc8bit: ['\u009f', '\u009c'],
  unterminatedOsc: [`${E}]0;`, ''],
  escapedCsi: ['\\u001b[', 'm'],
  escapedOsc: ['\\x1b]8;;http://x/', '\\u0007'],
  referenceCsi: ['&#27;[', 'm'],
  referenceOsc: ['&#x1b;]0;', '&#7;'],
  percentOsc: ['%1B]8;;http://x/', '%1B%5C'],
};

describe('an identifier inside a terminal escape sequence is masked in place', () => {
  it.each(Object.entries(CONTAINERS))('%s: every family, in text', (_name, [open, close]) => {
    const leaks: string[] = [];
    for (const [value, kept] of ATTACK_IDENTIFIERS) {
      const t = `Cliente: ${open}${value}${close} fim`;
      const out = maskText(t);
      if (rawExposes(out, value) || !out.includes(kept) || !out.includes('*')) leaks.push(JSON.stringify([t, out]));
    }
    expect(leaks).toEqual([]);
  });

  it('the sequences stay where they were, around the mask', () => {
    expect(maskText(`cpf ${E}[52998224725m ok`)).toBe(`cpf ${E}[*********25m ok`);
    expect(maskText(`${E}]8;;http://x/52998224725\u0007link${E}]8;;\u0007`)).toBe(`${E}]8;;http://x/*********25\u0007link${E}]8;;\u0007`);
    expect(maskText(`${E}]8;;https://crm/c/529.982.247-25${ST}ver${E}]8;;${ST}`)).toBe(`${E}]8;;https://crm/c/***.***.***-25${ST}ver${E}]8;;${ST}`);
    expect(maskText(`${E}]0;cpf 529.982.247-25\u0007$ `)).toBe(`${E}]0;cpf ***.***.***-25\u0007$ `);
    expect(maskText(`\u009d0;tel (11) 91234-5678\u009c`)).toBe('\u009d0;tel (**) *****-5678\u009c');
    expect(maskText(`${E}_joao.silva@exemplo.com.br${ST}`)).not.toContain('joao.silva');
    expect(maskText(`x \\u001b[52998224725m`)).toBe(`x \\u001b[*********25m`);
  });

  it('a parameter the terminal reads as a number next to the identifier: `\\e[1;52998224725m`, `\\e[52998224725;1m`', () => {
    for (const t of [`${E}[1;52998224725m`, `${E}[52998224725;1m`, `${E}[38:5:52998224725m`, `${E}[>52998224725c`, `\u009b52998224725 q`]) {
      expect([t, rawExposes(maskText(`cpf ${t}`), '52998224725')]).toEqual([t, false]);
    }
  });

  it('in JSON values (characters and \\u001b escapes), cells, and the byte pre-scan', () => {
    const s = session();
    expect(s.maskJson({ log: `cpf ${E}[52998224725m`, url: `${E}]8;;http://x/529.982.247-25\u0007` })).toEqual({
      log: `cpf ${E}[*********25m`,
      url: `${E}]8;;http://x/***.***.***-25\u0007`,
    });
    expect(s.maskCell('observacao', `${E}]0;52998224725${ST}`)).toBe(`${E}]0;*********25${ST}`);
    for (const size of [1, 3, 7, 4096]) {
      const js = s.jsonStream();
      const body = '{"log":"\\u001b]8;;http://x/52998224725\\u0007link\\u001b]8;;\\u0007","msg":"\\u001b[52998224725m"}';
      let out = '';
      for (let i = 0; i < body.length; i += size) out += js.push(body.slice(i, i + size));
      expect(JSON.parse(out + js.end())).toEqual({ log: `${E}]8;;http://x/*********25\u0007link${E}]8;;\u0007`, msg: `${E}[*********25m` });
    }
    expect(s.textMayChange(utf8(`${E}[52998224725m`))).toBe(true);
    expect(s.textMayChange(utf8(`\u009d0;52998224725\u009c`))).toBe(true);
  });

  it('text streams cut at every position give maskText', () => {
    for (const t of [`cpf ${E}[52998224725m fim`, `${E}]8;;http://x/529.982.247-25${ST}l${E}]8;;${ST}`, `\u009d0;52998224725\u009c ok`]) {
      const whole = maskText(t);
      expect(rawExposes(whole, '52998224725')).toBe(false);
      for (const size of [1, 2, 5, 13]) expect([t, size, streamed(t, size)]).toEqual([t, size, whole]);
    }
  });

  it('UTF-16 text read as UTF-8 (NUL-interleaved), both byte orders', () => {
    const le = (t: string): string => [...t].map((c) => `${c}\0`).join('');
    const be = (t: string): string => [...t].map((c) => `\0${c}`).join('');
    for (const t of [`cpf ${E}[52998224725m`, `${E}]8;;http://x/52998224725\u0007`, `${E}P529.982.247-25${ST}`]) {
      for (const form of [le(t), be(t)]) {
        const out = maskText(form).replaceAll('\0', '');
        expect([t, rawExposes(out, '52998224725')]).toEqual([t, false]);
      }
    }
  });

  it('numbers in sequences that are no identifier stay, and so does a coloured line', () => {
    const same = [
      `${E}[38;2;255;0;0mred${E}[0m`, `${E}[${'0;'.repeat(40)}1m`, `${E}]8;;https://shop/p/12345678${ST}p${E}]8;;${ST}`,
      `${E}]0;pedido 52998224726\u0007`, `${E}P1$r0;1m${ST}`, `\u009b1;31mok\u009b0m`, `${E}[52998224726m`,
    ];
    for (const t of same) expect(maskText(t)).toBe(t);
  });
});

/**
 * Sequences longer than the first reading's bounds (CSI parameter and intermediate bytes > 28 since round 12d, 24
 * before; OSC > 80) and the strings it reads as text.
 */
const LONG: Readonly<Record<string, string>> = {
  csi25: `${E}[${'0;'.repeat(12)}0m`,
  csi29: `${E}[${'0;'.repeat(14)}0m`,
  csi200: `${E}[${'0;'.repeat(100)}0m`,
  csi8bit: `\u009b${'1;'.repeat(60)}0m`,
  oscTitle: `${E}]0;${'x'.repeat(150)}\u0007`,
  osc8: `${E}]8;;https://crm/${'a'.repeat(120)}${ST}`,
  dcs: `${E}Pq#0;2;0;0;0#1;2;100;100;0${ST}`,
  apc: `${E}_Gf=100,a=T;AAAA${ST}`,
  pm8bit: '\u009esecret note\u009c',
  sos: `${E}Xhidden${ST}`,
  escapedCsi: `\\u001b[${'0;'.repeat(40)}0m`,
};

describe('an identifier a sequence splits is masked whatever the sequence length or kind', () => {
  it.each(Object.entries(LONG))('%s between the characters of every family, in text', (_name, seq) => {
    const leaks: string[] = [];
    for (const [value] of ATTACK_IDENTIFIERS) {
      for (const form of placements(value, seq).slice(2)) {
        const out = maskText(`Cliente: ${form} fim`);
        if (exposes(out, value) || !out.includes('*')) leaks.push(JSON.stringify(form));
      }
    }
    expect(leaks).toEqual([]);
  });

  it('the review finding: `529.982\\e[0;0;…m.247-25`, whole and streamed', () => {
    for (const n of [25, 60, 100]) {
      const t = `cpf 529.982${E}[${'0;'.repeat(n)}m.247-25 fim`;
      expect(maskText(t)).toBe('cpf ***.***.***-25 fim');
      for (const size of [1, 7, 64]) expect(streamed(t, size)).toBe('cpf ***.***.***-25 fim');
    }
  });

  it('the first reading is as it was: bounded, string sequences read as text', () => {
    expect(decodeView(`a${E}[31mb`).text).toBe('ab');
    // A CSI past 28 parameter and intermediate bytes: its ESC and `[` dropped as a two-character sequence, the rest
    // read as text.
    expect(decodeView(`a${E}[${'0;'.repeat(15)}mb`).text).toBe(`a${'0;'.repeat(15)}mb`);
    // Parameter bytes after an intermediate (a mask's `*` in a CSI's parameters): still one sequence (round 12d).
    expect(decodeView(`a${E}[*********25mb`).text).toBe('ab');
    expect(decodeView(`a${E}Pxy${ST}b`).text).toBe('axyb');
    expect(decodeView(`a${E}]0;t\u0007b`).text).toBe('ab');
  });
});

describe('the cost stays linear in the text', () => {
  const HOSTILE: Readonly<Record<string, (n: number) => string>> = {
    openOscs: (n) => `${E}]`.repeat(n / 2),
    unterminatedCsi: (n) => `${E}[${'0'.repeat(n)}`,
    shortCsis: (n) => `${E}[${'1'.repeat(50)}`.repeat(n / 52),
    intermediates: (n) => `${E}${' '.repeat(n)}`,
    c1Runs: (n) => '\u009d\u0090\u009b'.repeat(n / 3),
    strings: (n) => `${E}P${'x5'.repeat(n / 4)}`.repeat(2),
    terminators: (n) => ST.repeat(n / 2),
    digitsAndEscapes: (n) => `52998224725${E}[`.repeat(n / 13),
    // Round 12e: the raw-controls reading (escaped terminators in raw strings) and the erasing whole reading.
    mixedFraming: (n) => `\u009d0;%07${E}]0;\\u0007`.repeat(n / 20),
    backspacesAfterSequences: (n) => `5\u009b1 2\b3X \b`.repeat(n / 10),
  };

  it.each(Object.entries(HOSTILE))('%s: the work grows with the text, not faster', (_name, make) => {
    const work = (n: number): number => {
      const before = sequenceWork.chars;
      maskText(`cpf 1 ${make(n)}`);
      return sequenceWork.chars - before;
    };
    const small = work(20_000);
    const large = work(80_000);
    expect(large).toBeGreaterThan(0);
    expect(large).toBeLessThan(40 * 80_000);
    expect(large / Math.max(small, 1)).toBeLessThan(5);
    ratios.push(`${_name} ${(large / 80_000).toFixed(2)}`);
  });

  const ratios: string[] = [];
  afterAll(() => {
    if (process.env.MASKING_WORK_RATIOS === '1') console.log(ratios.join('\n'));
  });

  it('references with long runs of zeros or digits: each run is read once per `&#` (no sequence: decoded, not counted)', () => {
    for (const t of [`&#${'0'.repeat(200_000)}53`, `&#${'0'.repeat(200_000)}`, `&#${'1'.repeat(200_000)}`, '&#0000000000053'.repeat(20_000)]) {
      expect(decodeView(t).text.length).toBeGreaterThan(0);
    }
    expect(decodeView('&#0000000000053'.repeat(3)).text).toBe('555');
  });
});

describe('character references as browsers decode them (round 12c)', () => {
  const decimal = (v: string, term: string): string => v.replace(/[^A-Za-z]/g, (c) => `&#${c.charCodeAt(0)}${term}`);
  // Every character, so that what follows a reference is never a hex digit (`&#x40e` is U+040E to a browser too).
  const hexRef = (v: string, term: string): string => [...v].map((c) => `&#x${c.charCodeAt(0).toString(16)}${term}`).join('');

  it.each([
    ['decimal without ;', (v: string) => decimal(v, '')],
    ['hex without ;', (v: string) => hexRef(v, '')],
    ['decimal, leading zeros, without ;', (v: string) => v.replace(/[^A-Za-z]/g, (c) => `&#000${c.charCodeAt(0)}`)],
    ['alternately with and without ;', (v: string) => [...v].map((c, i) => `&#${c.charCodeAt(0)}${i % 2 === 0 ? ';' : ''}`).join('')],
  ])('every family, %s', (_name, encode) => {
    const leaks: string[] = [];
    for (const [value, kept] of ATTACK_IDENTIFIERS) {
      const t = `Cliente: ${encode(value)} fim`;
      const out = maskText(t);
      if (!out.includes('*') || out.includes(encode(value)) || !session().textMayChange(utf8(t))) leaks.push(JSON.stringify([t, out, kept]));
    }
    expect(leaks).toEqual([]);
  });

  it('without `;` the reference takes every digit that follows, as a browser does', () => {
    // &#5352 is U+14E8, not `5` then `352`.
    expect(decodeView('&#5352.982').text).toBe('\u14e8.982');
    expect(decodeView('&#53 &#x35x &#53;').text).toBe('5 5x 5');
    expect(decodeView('&#12345678').text).toBe('&#12345678');
  });

  it('legacy named references without `;`, and named references of invisible characters', () => {
    expect(maskText('cpf 529&nbsp982&nbsp247&nbsp25')).not.toMatch(/529|982/);
    expect(maskText('cpf 529&shy;.982&zwj;.247&ZeroWidthSpace;-25')).toContain('-25');
    expect(maskText('cpf 529&shy;.982&zwj;.247&ZeroWidthSpace;-25')).not.toContain('982');
    expect(maskText('cpf 529&shy.982.247-25')).not.toContain('982');
    expect(maskText('Tom &amp Jerry 123')).toBe('Tom &amp Jerry 123');
  });

  it('a right-to-left override as a reference without `;`, with leading zeros, or percent-encoded', () => {
    // Without `;` a digit after the reference would be part of it: a space ends it, and is shown at the run's end.
    for (const rlo of ['&#8238 ', '&#08238;', '&#x202E ', '&#x0202e;', '%E2%80%AE', '%e2%80%ae']) {
      const t = `cpf ${rlo}52-742.289.925`;
      expect([t, maskText(t)]).toEqual([t, expect.not.stringContaining('742.289')]);
    }
    expect(maskText('x &#82389 52-742.289.925')).toBe('x &#82389 52-742.289.925');
  });

  it('the pre-check and the decoder agree on every new spelling', () => {
    for (const t of ['&#53', '&#x35', '&#00053', '&nbsp', '&shy', 'a&ZeroWidthSpace;b']) expect([t, decodeView(t).text === t]).toEqual([t, false]);
  });
});
