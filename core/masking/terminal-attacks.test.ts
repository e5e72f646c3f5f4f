// Round 6: what a terminal shows is not what the text holds. Every target ends on someone's screen
// (`kubectl logs`, an SSH session, `curl` of a text answer, psql), and three kinds of text put an
// identifier on that screen whole while the engine read something no layout matched:
// - terminal escape sequences between or around its characters: a coloured log line
//   (`cpf=\e[32m590.830.166-33\e[39m`: the `m` of the colour glued the digits to a word), erases,
//   cursor saves, titles, OSC 8 hyperlinks, 8-bit CSI;
// - a backspace overwriting a character (`590.830.166-3X\b3` prints the CPF);
// - U+FFFD where a decoder rejected a byte: latin1 text read as UTF-8 by the sidecar (SSH output,
//   Kubernetes logs) shows `590�830�166�33`, and the re-encoded answer no longer holds the byte.
// Attacked in every position of every family, in text, JSON, streams cut at every position and
// the byte pre-scan; numbers that are no identifier stay as they are with the same sequences.
import { describe, expect, it } from '@jest/globals';
import { ATTACK_IDENTIFIERS, exposes, KEYWORDS, layoutCorpus, placements } from './corpus.ts';
import { compileMasker } from './index.ts';

const masker = compileMasker({});
const session = () => masker.newSession();
const maskText = (t: string): string => session().maskText(t);

/** Sequences a terminal consumes without printing, one of each kind. */
const SEQUENCES: Readonly<Record<string, string>> = {
  sgr: '\u001b[31m', sgrReset: '\u001b[0m', sgrBare: '\u001b[m', truecolour: '\u001b[38;2;255;0;0m', bold256: '\u001b[1;38;5;208m',
  eraseLine: '\u001b[K', cursorSave: '\u001b[s', cursorRestore: '\u001b[u', privateMode: '\u001b[?25l', saveEsc7: '\u001b7',
  charset: '\u001b(B', titleBel: '\u001b]0;build\u0007', titleSt: '\u001b]2;x\u001b\\', hyperlinkEnd: '\u001b]8;;\u001b\\',
  csi8bit: '\u009b32m',
};

describe('terminal escape sequences inside identifiers are read as the terminal shows them', () => {
  it.each(Object.entries(SEQUENCES))('%s in every position of every family, in text', (_name, seq) => {
    const leaks: string[] = [];
    for (const [value, kept] of ATTACK_IDENTIFIERS) {
      for (const form of placements(value, seq)) {
        const out = maskText(`Cliente: ${form} fim`);
        if (exposes(out, value) || !out.includes('*') || !out.includes(kept)) leaks.push(JSON.stringify(form));
      }
    }
    expect(leaks).toEqual([]);
  });

  it('a coloured log line keeps its colours and hyperlinks around the mask', () => {
    expect(maskText('\u001b[36mcpf\u001b[39m: \u001b[32m590.830.166-33\u001b[39m ok')).toBe('\u001b[36mcpf\u001b[39m: \u001b[32m***.***.***-33\u001b[39m ok');
    expect(maskText('\u001b]8;;https://crm/c/7\u001b\\590.830.166-33\u001b]8;;\u001b\\ ok')).toBe('\u001b]8;;https://crm/c/7\u001b\\***.***.***-33\u001b]8;;\u001b\\ ok');
    expect(maskText('pedido \u001b[1m52998224725\u001b[22m')).toBe('pedido \u001b[1m*********25\u001b[22m');
  });

  it('in JSON values (as characters and as \\u001b escapes) and in cells', () => {
    const s = session();
    expect(s.maskJson({ log: 'cpf=\u001b[32m590.830.166-33\u001b[0m' })).toEqual({ log: 'cpf=\u001b[32m***.***.***-33\u001b[0m' });
    // A complete sequence inside the span goes with the mask; a lone BEL stays where it was (structure.ts).
    expect(s.maskCell('observacao', '590\u001b[K.830\u0007.166-33')).toBe('***.***\u0007.***-33');
    const js = s.jsonStream();
    let out = '';
    for (const ch of '{"log":"\\u001b[32m590.830\\u001b[0m.166-33","ok":1}') out += js.push(ch);
    expect(JSON.parse(out + js.end())).toEqual({ log: '\u001b[32m***.***.***-33', ok: 1 });
  });
});

describe('a backspace takes back the character before it, as a terminal overwrites it', () => {
  it('every character of every family overwritten (one and several backspaces)', () => {
    const leaks: string[] = [];
    for (const [value] of ATTACK_IDENTIFIERS) {
      const chars = [...value];
      const forms = chars.flatMap((c, i) => {
        const before = chars.slice(0, i).join('');
        const after = chars.slice(i).join('');
        return [`${before}X\b${after}`, `${before}XY\b\b${after}`, `${before}${c}\b${after}`];
      });
      for (const form of forms) {
        const out = maskText(`Cliente: ${form} fim`);
        if (exposes(out, value) || !out.includes('*')) leaks.push(JSON.stringify(form));
      }
    }
    expect(leaks).toEqual([]);
  });

  it('a backspace nothing writes over leaves the character on the screen: read both ways (review of round 6)', () => {
    for (const t of ['cpf 529.982.247-25\b\n', 'cpf 529.982.247-25\b', 'cpf 529.982.247-25\u001b[0m\b\n', 'cpf 529.982.247-25\b\b\b ok']) {
      expect([t, maskText(t)]).toEqual([t, expect.stringContaining('***.***.***-25')]);
    }
    const s = session();
    expect(s.maskCell('obs', '529.982.247-25\b')).toBe('***.***.***-25\b');
    const js = s.jsonStream();
    expect(JSON.parse(js.push('{"note":"cpf 529.982.247-25\\b"}') + js.end())).toEqual({ note: 'cpf ***.***.***-25\b' });
  });

  it('stops at the start of the text and at a line feed; text with backspaces and no identifier is unchanged', () => {
    expect(maskText('\b\b590.830.166-33')).toBe('\b\b***.***.***-33');
    expect(maskText('x\n\b590.830.166-33')).toBe('x\n\b***.***.***-33');
    for (const t of ['progress 10%\b\b\b20%', 'v1.2.3\b4', 'R$ 1.234,56\b7', 'CPF 529.982.247-2X\b6']) expect(maskText(t)).toBe(t);
  });
});

describe('U+FFFD (a byte the decoder rejected) is read as a separator', () => {
  it('in place of any one separator of every layout in the corpus, and of all of them where they are one kind', () => {
    // A rejected byte stands for a non-ASCII separator (a decoder never rejects '(' or '+'); which one is unknown, so
    // each reading is tried, one for all of a text's U+FFFD (README "Layouts": mixed kinds are left).
    const SEPARATOR = /[^0-9A-Za-z\uff10-\uff19()+\uff08\uff09\uff0b]/g;
    const leaks: string[] = [];
    for (const s of layoutCorpus().valid) {
      if (s.type === 'email' || s.format.includes('+')) continue;
      const seps = [...s.value.matchAll(SEPARATOR)];
      const forms = seps.map((m) => `${s.value.slice(0, m.index)}\ufffd${s.value.slice(m.index + 1)}`);
      if (new Set(seps.map((m) => m[0])).size === 1) forms.push(s.value.replace(SEPARATOR, '\ufffd'));
      for (const form of forms) {
        const out = maskText(`${KEYWORDS[s.type]}: ${form} fim`);
        if (!out.includes('*')) leaks.push(`${s.type}/${s.format} ${JSON.stringify(form)} -> ${JSON.stringify(out)}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('latin1 and windows-1252 text read as UTF-8: no-break spaces, dashes and middle dots between the groups', () => {
    const asUtf8 = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('utf8');
    expect(maskText(asUtf8('CPF 529\u00a0982\u00a0247\u00a025'))).toBe('CPF *** *** *** 25');
    expect(maskText(asUtf8('CPF 529.982.247\u009625'))).not.toContain('982');
    expect(maskText(asUtf8('CPF 529\u00b7982\u00b7247-25'))).not.toContain('982');
    expect(maskText(asUtf8('CNPJ 11.222.333/0001\u009681'))).not.toContain('222');
    expect(maskText(asUtf8('tel (11)\u00a091234\u00965678'))).not.toContain('91234');
  });

  it('dates, versions and amounts with it stay as they are', () => {
    for (const t of ['2026\ufffd07\ufffd15', 'v1\ufffd2\ufffd3', 'R$ 1\ufffd234,56', 'pedido 12345\ufffd6789', 'caf\ufffd com leite']) expect(maskText(t)).toBe(t);
  });
});

describe('streams and the pre-scan', () => {
  it('streams cut at every position give maskText of the whole', () => {
    const text = `${'a '.repeat(150)}cpf=\u001b[32m590\u001b[K.830.166-3X\b3\u001b[39m e ${'b '.repeat(150)}529\ufffd982\ufffd247\ufffd25 \u001b]8;;http://x\u001b\\(11) 91234-5678\u001b]8;;\u001b\\ fim`;
    const whole = maskText(text);
    expect(whole).not.toMatch(/91234|\.830|982/);
    for (let cut = 0; cut <= text.length; cut++) {
      const st = session().textStream();
      const out = st.push(text.slice(0, cut)) + st.push(text.slice(cut)) + st.end();
      if (out !== whole) throw new Error(`cut at ${cut}: ${JSON.stringify(out)}`);
    }
  });

  it('the byte pre-scan never lets such a text or cell pass as "no candidate"', () => {
    const s = session();
    for (const form of ['590\u001b[K.830.166-33', '590.830.166-3X\b3', '590\ufffd830\ufffd166\ufffd33', '\u009b1m52998224725']) {
      const bytes = Buffer.from(form, 'utf8');
      expect([form, s.maskText(form) !== form, s.textMayChange(bytes), s.cellMayChange('x', bytes)]).toEqual([form, true, true, true]);
    }
  });
});
