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
