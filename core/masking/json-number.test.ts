// Round 9 review, finding 1: JSON numbers that are integers written with a fraction or an exponent (Python's
// json.dumps of a float, pandas, PostgreSQL jsonb numerics with a scale, Java's Double.toString, printf %e) are read
// exactly, on their digits, and scanned like the integer in every JSON path: jsonStream (HTTP bodies), maskCell
// (PostgreSQL json/jsonb/text cells) and maskJson (Kubernetes).
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compileMasker } from './index.ts';
import { MAX_INTEGER_DIGITS, readJsonNumber } from './json-number.ts';

const masker = compileMasker({});
const ruled = compileMasker({ fields: [{ names: ['documento'], detector: 'cpf' }, { names: ['nome'] }] });

function streamed(doc: string, chunk: number, m = masker): string {
  const s = m.newSession().jsonStream();
  let out = '';
  for (let i = 0; i < doc.length; i += chunk) out += s.push(doc.slice(i, i + chunk));
  return out + s.end();
}

/** Every spelling of an integer's digits we generate: fraction zeros, the point moved by an exponent, exponent forms. */
function spellings(digits: string): string[] {
  const n = digits.length;
  const out = [digits, `${digits}.0`, `${digits}.00`, `${digits}e0`, `${digits}E+0`, `${digits}.000E-0`, `${digits}0e-1`, `${digits}00E-2`, `0.${digits}e${n}`];
  for (let k = 1; k < n; k++) {
    const mantissa = `${digits.slice(0, k)}.${digits.slice(k)}`;
    out.push(`${mantissa}e${n - k}`, `${mantissa}E+${n - k}`, `${mantissa}E+0${n - k}`, `${mantissa}0E${n - k}`);
  }
  return out;
}

describe('readJsonNumber: the exact reading of a number token', () => {
  it.each([
    ['52998224725', '52998224725'], ['52998224725.0', '52998224725'], ['52998224725.00', '52998224725'], ['5.2998224725E10', '52998224725'],
    ['5.2998224725e+10', '52998224725'], ['5.2998224725E+010', '52998224725'], ['5299822472.5e1', '52998224725'], ['529982247250e-1', '52998224725'],
    ['0.52998224725e11', '52998224725'], ['0.0052998224725E13', '52998224725'], ['52998224725.000E-0', '52998224725'], ['1e+0000000000000000000001', '10'],
    // Beyond 2^53, where a double would round: 9007199254740993 is 9007199254740992 as a double.
    ['9.007199254740993E15', '9007199254740993'], ['4.111111111111111111E18', '4111111111111111111'], ['4111111111111111111.0', '4111111111111111111'],
  ])('%s is the integer %s', (token, digits) => {
    expect(readJsonNumber(token)).toEqual({ kind: 'integer', negative: false, digits });
  });

  it('reads the sign, and every zero as 0 whatever its spelling', () => {
    expect(readJsonNumber('-52998224725.0')).toEqual({ kind: 'integer', negative: true, digits: '52998224725' });
    expect(readJsonNumber('-5.2998224725E10')).toEqual({ kind: 'integer', negative: true, digits: '52998224725' });
    for (const zero of ['0', '-0', '-0.0', '0e5', '0.000E-9', '-0e999999999', '0.0e+99999999999']) {
      expect([zero, readJsonNumber(zero)]).toEqual([zero, { kind: 'integer', negative: false, digits: '0' }]);
    }
  });

  it('tells fractions apart, however small or written', () => {
    for (const f of ['52998224725.5', '5.2998224725E9', '0.5', '1e-1', '5.2998224725E-10', '1e-9999999999', '52998224725.0000001', '-3.14']) {
      expect([f, readJsonNumber(f).kind]).toEqual([f, 'fraction']);
    }
  });

  it('does not expand integers longer than MAX_INTEGER_DIGITS (1e999999999 costs nothing) and reads them as text', () => {
    const longest = readJsonNumber(`1E${MAX_INTEGER_DIGITS - 1}`);
    expect(longest.kind === 'integer' && longest.digits.length).toBe(MAX_INTEGER_DIGITS);
    for (const t of [`1E${MAX_INTEGER_DIGITS}`, '1e999999999', '1e9999999999999999', '5.2998224725E+99999']) expect([t, readJsonNumber(t).kind]).toEqual([t, 'unreadable']);
  });

  it('calls what is not JSON\'s number grammar unreadable (it is then scanned as text)', () => {
    for (const t of ['052998224725', '529.982.247-25', '1.2.3.4', '+1', '1.', '.5', '1e', '1e+', '-', '--1', '1-', '0x1F', '']) {
      expect([t, readJsonNumber(t).kind]).toEqual([t, 'unreadable']);
    }
  });

  it('agrees with exact arithmetic on random integers in random spellings', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 10n ** 24n }), fc.nat(40), (v, pick) => {
      const digits = v.toString();
      const all = spellings(digits);
      const token = all[pick % all.length] ?? digits;
      expect(readJsonNumber(token)).toEqual({ kind: 'integer', negative: false, digits });
    }), { numRuns: 2000 });
  });

  it('agrees with JavaScript on every double JSON.stringify writes (integers as the digits written, fractions as fractions)', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
      const n = readJsonNumber(JSON.stringify(v));
      if (!Number.isInteger(v)) {
        expect(n.kind).toBe('fraction');
      } else if (n.kind === 'integer') {
        // The shortest decimal that is v (1e21 and up are written with an exponent): its digits parse back to v.
        expect([n.negative, /^(0|[1-9][0-9]*)$/.test(n.digits), Number(n.digits)]).toEqual([v < 0, true, Math.abs(v)]);
      } else {
        expect([n.kind, Math.abs(v) >= 10 ** MAX_INTEGER_DIGITS]).toEqual(['unreadable', true]);
      }
    }), { numRuns: 5000 });
  });
});

/** [identifier digits, the mask every path gives]. */
const IDS: readonly (readonly [string, string])[] = [
  ['52998224725', '*********25'], ['11222333000181', '************81'], ['11912345678', '*******5678'], ['5511912345678', '*********5678'],
  ['4111111111111111', '************1111'],
];

describe('every JSON path masks an integer however it is written', () => {
  it('jsonStream (cut into chunks of 1, 3 and whole), maskCell and maskJson give the integer form\'s mask, as valid JSON', () => {
    const failures: string[] = [];
    for (const [digits, mask] of IDS) {
      for (const n of spellings(digits)) {
        const doc = `{"documento_cliente":${n},"ok":1}`;
        const expected = `{"documento_cliente":"${mask}","ok":1}`;
        const outs = [1, 3, doc.length].map((c) => streamed(doc, c));
        outs.push(masker.newSession().maskCell('dados', doc));
        if (outs.some((o) => o !== expected)) failures.push(`${n}: ${outs.join(' | ')}`);
        const parsed = JSON.parse(doc) as unknown;
        if (Number.isSafeInteger(Number(digits)) && JSON.stringify(masker.newSession().maskJson(parsed)) !== expected) failures.push(`${n}: maskJson`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('masks negative integers like maskText masks -52998224725, keeping the sign, in every path', () => {
    for (const n of ['-52998224725', '-52998224725.0', '-5.2998224725E10']) {
      const doc = `[${n}]`;
      expect([n, streamed(doc, 1), masker.newSession().maskCell('x', doc)]).toEqual([n, '["-*********25"]', '["-*********25"]']);
      expect(masker.newSession().maskJson(JSON.parse(doc))).toEqual(['-*********25']);
    }
    expect(masker.newSession().maskText('-52998224725')).toBe('-*********25');
  });

  it('under a name rule masks the integer whole, as its integer form is masked', () => {
    for (const n of ['52998224725.0', '5.2998224725E10', '529982247250e-1']) {
      const plain = streamed('{"documento":52998224725}', 100, ruled);
      expect([n, streamed(`{"documento":${n}}`, 2, ruled)]).toEqual([n, plain]);
      expect(ruled.newSession().maskJson({ documento: Number(n) })).toEqual(JSON.parse(plain));
    }
  });

  it('scans a token that is not a JSON number as text, and keeps reading the document as JSON (name rules after it hold)', () => {
    const doc = '{"cpf_raw": 529.982.247-25, "ip": 10.1.2.3, "nome": "Maria da Silva", "n": 052998224725}';
    const out = masker.newSession().maskCell('dados', doc);
    expect(out).not.toMatch(/529\.982\.247|10\.1\.2/);
    const r = streamed(doc, 5, ruled);
    expect(r).not.toContain('Maria');
    expect(r).not.toContain('529.982.247');
  });

  it('leaves fractions, short integers, zeros and integers that are no identifier byte for byte', () => {
    const doc = '{"v":52998224725.5,"w":5.2998224725E9,"n":12345,"f":3.14,"z":-0.0,"e":1E400,"big":12345678901234567890123,"t":1e-7}';
    expect(streamed(doc, 1)).toBe(doc);
    expect(masker.newSession().maskCell('x', doc)).toBe(doc);
  });

  it('an NDJSON export (pandas float64 column) cut at every position', () => {
    const text = '{"nome":"Joao","cpf_cliente":null}\n{"nome":"Maria","documento":52998224725.0}\n{"documento":1.1222333000181E13}\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const s = masker.newSession().jsonStream();
      const out = s.push(text.slice(0, cut)) + s.push(text.slice(cut)) + s.end();
      expect([cut, out]).toEqual([cut, '{"nome":"Joao","cpf_cliente":null}\n{"nome":"Maria","documento":"*********25"}\n{"documento":"************81"}\n']);
    }
  });
});
