// Integers spelled as decimals in text (text-number.ts; round 10 review, finding 2): every spelling a writer uses for
// an integer is read as the integer, in every text path (maskText, maskCell, text streams cut anywhere, decoded views),
// and real decimals, versions and amounts stay as they are.
import { describe, expect, it } from '@jest/globals';
import { NEGATIVES } from './corpus.ts';
import { compileMasker } from './index.ts';
import { integerSpellings } from './text-number.ts';

const masker = compileMasker({});
const maskText = (t: string): string => masker.newSession().maskText(t);
function streamed(t: string, size: number): string {
  const s = masker.newSession().textStream();
  let out = '';
  for (let i = 0; i < t.length; i += size) out += s.push(t.slice(i, i + size));
  return out + s.end();
}

/** The integer 52998224725 (a valid CPF) as writers print it. */
const CPF_SPELLINGS = [
  '52998224725.0', '52998224725.00', '52998224725.000000', '5.2998224725E10', '5.2998224725e10', '5.2998224725E+10', '5.2998224725e+10',
  '5.2998224725E+010', '52.998224725E9', '529982247.25e2', '0.52998224725E11', '52998224725E0', '52998224725.0e0', '52998224725.0E+0',
];

describe('integerSpellings', () => {
  it('reads each spelling as the integer it denotes', () => {
    for (const s of CPF_SPELLINGS) expect([s, integerSpellings(`x ${s} y`, 0, 100)]).toEqual([s, [{ start: 2, end: 2 + s.length, digits: '52998224725' }]]);
  });

  it('leaves fractions, short and overlong integers, and tokens inside words or longer numbers', () => {
    for (const t of ['52998224725.5', '5.2998224725E9', '5.2998224725E-10', '1.0', '1234567.0', '1e25', '12345678901234567890.0', 'v52998224725.0', '1.52998224725.0', '52998224725.0.1', '52998224725.0a', 'x-52998224725.0-1', '052998224725.0']) {
      expect([t, integerSpellings(t, 0, t.length)]).toEqual([t, []]);
    }
  });

  it('reports only spellings starting in [from, limit)', () => {
    const t = '52998224725.0 e 52998224725.0';
    expect(integerSpellings(t, 1, t.length).map((n) => n.start)).toEqual([16]);
    expect(integerSpellings(t, 0, 16).map((n) => n.start)).toEqual([0]);
  });
});

describe('the engine reads integers spelled as decimals in text', () => {
  it.each(CPF_SPELLINGS)('masks `%s` like the integer in text, cells and streams cut anywhere', (s) => {
    const csv = `nome,documento\nJoao,${s}\nMaria,${s}\n`;
    const want = 'nome,documento\nJoao,*********25\nMaria,*********25\n';
    expect(maskText(csv)).toBe(want);
    for (const size of [1, 2, 3, 7, 64]) expect(streamed(csv, size)).toBe(want);
    expect(masker.newSession().maskCell('obs', `documento=${s}`)).toBe('documento=*********25');
    expect(maskText(`{'documento': ${s}}`)).toBe("{'documento': *********25}");
  });

  it('keeps the sign outside the mask, as JSON does', () => {
    expect(maskText('saldo -52998224725.0 e +5.2998224725E10')).toBe('saldo -*********25 e +*********25');
  });

  it('reads the other identifiers the same way (card past 2^53, CNPJ, phone)', () => {
    expect(maskText('cartao 4.111111111111111E15 fim')).toBe('cartao ************1111 fim');
    expect(maskText('cnpj 11222333000181.0 fim')).toBe('cnpj ************81 fim');
    expect(maskText('cnpj 1.1222333000181E13 fim')).toBe('cnpj ************81 fim');
  });

  it('reads them in a decoded view too (a percent escape elsewhere in the text)', () => {
    expect(maskText('q=a%20b&documento=52998224725.0')).toBe('q=a%20b&documento=*********25');
    expect(maskText('documento=５２９９８２２４７２５.０')).not.toContain('５２９');
  });

  it('counts each as one hit of its type', () => {
    const s = masker.newSession();
    s.maskText('52998224725.0 5.2998224725E10');
    expect(s.counts()).toEqual({ cpf: 2 });
  });

  it('leaves real decimals, invalid integers and the negative corpus as they are (over-masking at the bare-digit rate)', () => {
    for (const t of ['valor 52998224725.5', 'valor 52998224725.05', 'x 5.2998224725E9', 'x 5.2998224726E10', 'x 12345678901.0', 'v1.2.0', 'pi 3.14159E0']) expect(maskText(t)).toBe(t);
    // Each negative with its integers re-spelled: masked exactly when the bare form is.
    for (const t of NEGATIVES) {
      const spelled = t.replace(/(?<![0-9.,-])([0-9]{8,19})(?![0-9.,-])/g, '$1.0');
      expect([spelled, maskText(spelled) !== spelled]).toEqual([spelled, maskText(t) !== t]);
    }
  });
});

// Round 10b review, finding 2: the integer a spelling denotes is read in place, with the line before it, so the
// identifiers masked only after their keyword (bare landlines, 8-digit CEPs, dates of birth, bare PIS) are masked
// in every spelling exactly when their bare form is.
describe('spellings of identifiers that need their keyword', () => {
  // (A leading zero is no writer's float: `01310100.0` is not read, by design; a float column prints 1310100.0.)
  const BARE: readonly [string, string][] = [
    ['tel', '1133334444'], ['telefone:', '1133334444'], ['contato', '1133334444'], ['cep', '22041001'], ['CEP:', '22041001'],
    ['nascimento', '19850312'], ['data de nascimento:', '19850312'], ['pis', '12056412545'], ['renavam', '63969782458'],
  ];
  const spellings = (d: string): string[] => {
    const exp = d.length - 1;
    return [`${d}.0`, `${d}.00`, `${d.slice(0, 1)}.${d.slice(1)}E${exp}`, `${d.slice(0, 1)}.${d.slice(1)}e+${exp}`, `${d}E0`];
  };

  it('masks each spelling after its keyword when the bare integer is masked there, in maskText and streams', () => {
    const cases = BARE.flatMap(([kw, d]) => spellings(d).flatMap((sp) => [`${kw} ${sp}`, `INFO cliente {'${kw.replace(/:$/, '')}': ${sp}}`, `${kw}=${sp};`].map((t) => ({ kw, d, t }))));
    const failures: string[] = [];
    for (const { kw, d, t } of cases) {
      const bareMasked = maskText(`${kw} ${d}`) !== `${kw} ${d}`;
      for (const out of [maskText(t), streamed(t, 1), streamed(t, 4)]) if ((out !== t) !== bareMasked || (bareMasked && out.includes(d))) failures.push(`${t} -> ${out}`);
    }
    // Not vacuous: most of these are masked through their keyword.
    expect(cases.filter(({ t }) => maskText(t) !== t).length).toBeGreaterThan(cases.length / 2);
    expect(failures).toEqual([]);
  });

  it('a Python log line of a dict with float columns is masked as its int twin', () => {
    const line = "INFO cliente {'telefone': 1133334444.0, 'cep': 22041001.0, 'nascimento': 19850312.0}";
    expect(maskText(line)).toBe("INFO cliente {'telefone': ******4444, 'cep': 22******, 'nascimento': 1985****}");
    expect(maskText(line)).toBe(maskText(line.replaceAll('.0', '')));
  });

  it('without the keyword (or with it on another line, or beyond the window) they stay, as the bare integer does', () => {
    for (const t of ['pedido 1133334444.0', 'cep\n22041001.0', `cep ${'x'.repeat(60)} 22041001.0`, 'valor 19850312.0']) {
      expect([t, maskText(t)]).toEqual([t, t]);
      expect(maskText(t.replace('.0', ''))).toBe(t.replace('.0', ''));
    }
  });
});
