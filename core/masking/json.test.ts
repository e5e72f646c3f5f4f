import { describe, expect, it } from '@jest/globals';
import { compileMasker } from './index.ts';
import { generateCorpus, Rng } from './corpus.ts';
import { RULED_CAP, STRING_BUFFER } from './json.ts';

const masker = compileMasker({});

function streamed(doc: string, chunk = doc.length): string {
  const s = masker.newSession().jsonStream();
  let out = '';
  for (let i = 0; i < doc.length; i += chunk) out += s.push(doc.slice(i, i + chunk));
  return out + s.end();
}

describe('jsonStream', () => {
  it('copies a document with nothing to mask byte for byte, whitespace and escapes included', () => {
    const doc = '{ "a" : [1, 2.5e3, -7, true, false, null],\n  "b": "caf\\u00e9 \\"x\\" \\/ \\\\", "c": {} , "d": [] }';
    for (const chunk of [1, 2, 5, doc.length]) expect(streamed(doc, chunk)).toBe(doc);
  });

  it('masks by key and by value at any depth', () => {
    const doc = '{"cliente":{"cpf":"123","contatos":[{"email":"x"},{"obs":"ligar (11) 91234-5678"}]}}';
    expect(streamed(doc)).toBe('{"cliente":{"cpf":"***","contatos":[{"email":"*"},{"obs":"ligar (**) *****-5678"}]}}');
    expect(streamed(doc, 3)).toBe(streamed(doc));
  });

  it('decodes escapes before detection and re-escapes what it changes as the string was written', () => {
    const doc = '{"obs":"CNPJ 11.222.333\\/0001-81 \\"ok\\""}';
    expect(streamed(doc)).toBe('{"obs":"CNPJ **.***.***\\/****-81 \\"ok\\""}');
    expect(streamed(doc, 1)).toBe(streamed(doc));
  });

  it('masks numbers that are identifiers, as strings', () => {
    expect(streamed('[52998224725, 1234, 52998224725.5]')).toBe('["*********25", 1234, 52998224725.5]');
    expect(streamed('{"cpf": 52998224725}')).toBe('{"cpf": "*********25"}');
  });

  it('streams very long strings with bounded memory', () => {
    const filler = 'x'.repeat(STRING_BUFFER * 3);
    const doc = JSON.stringify({ blob: `${filler} CPF 529.982.247-25 ${filler}` });
    const expected = JSON.stringify({ blob: `${filler} CPF ***.***.***-25 ${filler}` });
    expect(streamed(doc, 1000)).toBe(expected);
    expect(streamed(doc, 7)).toBe(expected);
  });

  it('redacts a value under a name rule when it is longer than the cap', () => {
    const doc = JSON.stringify({ email: 'y'.repeat(RULED_CAP + 10) });
    expect(streamed(doc, 4096)).toBe('{"email":"[EMAIL]"}');
  });

  it('keeps memory bounded on absurd tokens: giant numbers fall back to text, giant ruled values are redacted', () => {
    const digits = '7'.repeat(50_000);
    expect(streamed(`{"n": ${digits}, "e": "a@b.com"}`, 1000)).toBe(`{"n": ${digits}, "e": "a***@b***.com"}`);
    const huge = JSON.stringify({ cpf: '1'.repeat(RULED_CAP * 4), ok: 1 });
    expect(streamed(huge, 5000)).toBe('{"cpf":"[CPF]","ok":1}');
  });

  it('handles NDJSON (several top-level values)', () => {
    const doc = '{"email":"a@b.com"}\n{"email":"c@d.com"}\n"529.982.247-25"\n';
    expect(streamed(doc, 5)).toBe('{"email":"a***@b***.com"}\n{"email":"c***@d***.com"}\n"***.***.***-25"\n');
  });

  it('falls back to plain-text masking when the input is not JSON', () => {
    expect(streamed('{"a": 1} trailing CPF 529.982.247-25')).toBe('{"a": 1} trailing CPF ***.***.***-25');
    expect(streamed('<html>e-mail a@b.com</html>', 3)).toBe('<html>e-mail a***@b***.com</html>');
    expect(streamed('{"a": tru, "cpf": "529.982.247-25"}')).toBe('{"a": tru, "cpf": "***.***.***-25"}');
  });

  it('finishes a document cut short', () => {
    expect(streamed('{"obs": "CPF 529.982.247-25')).toBe('{"obs": "CPF ***.***.***-25');
    expect(streamed('{"n": 5299822472', 4)).toBe('{"n": 5299822472');
  });

  it('counts into the session', () => {
    const s = masker.newSession();
    const st = s.jsonStream();
    st.push('[{"cpf":"1"},{"e":"a@b.com"},');
    st.push('{"x":"CEP 01310-100"}]');
    st.end();
    expect(s.counts()).toEqual({ cpf: 1, email: 1, cep: 1 });
  });
});

describe('maskCell with JSON values (json/jsonb columns)', () => {
  it('applies key rules inside the document and keeps its formatting', () => {
    const s = masker.newSession();
    expect(s.maskCell('dados', '{"cpf": "529.982.247-25", "nome": "Ana"}')).toBe('{"cpf": "***.***.***-25", "nome": "Ana"}');
  });

  it('masks PostgreSQL array literals as text', () => {
    const s = masker.newSession();
    expect(s.maskCell('lista', '{a@b.com,c@d.com}')).toBe('{a***@b***.com,c***@d***.com}');
    expect(s.maskCell('docs', '{"529.982.247-25","11.222.333/0001-81"}')).toBe('{"***.***.***-25","**.***.***/****-81"}');
  });
});

describe('jsonStream against maskJson on random documents', () => {
  const r = new Rng(99);
  const { valid } = generateCorpus(3, 2);
  const keys = ['id', 'nome', 'cpf', 'email', 'telefones', 'obs', 'dados', 'lista', 'dt_nasc', 'cep', 'x', '52998224725', 'a@b.com', 'texto "citado"'];
  const piece = (): string => r.pick([
    r.pick(valid).value, 'texto livre', 'linha\nnova', 'aspas "x" e \\ barra', 'acentuação ção', 'emoji 🙂', '\u0001ctl', 'CEP 01310-100', 'nascimento: 12/03/1985',
  ]);
  const scalar = (): unknown => r.pick([
    () => piece(), () => `${piece()} ${piece()}`, () => r.int(1000), () => 52998224725, () => r.int(2) === 0, () => null, () => 12.5,
  ])();
  function value(depth: number): unknown {
    if (depth > 3 || r.int(3) === 0) return scalar();
    if (r.int(2) === 0) return Array.from({ length: r.int(4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.pick(keys), value(depth + 1)]));
  }

  it('agree for 300 random documents, compact and indented, in random chunks', () => {
    const failures: string[] = [];
    for (let n = 0; n < 300; n++) {
      const v = value(0);
      const indent = n % 2 === 0 ? undefined : 2;
      const doc = JSON.stringify(v, null, indent);
      const expected = JSON.stringify(masker.newSession().maskJson(v), null, indent);
      const chunk = 1 + r.int(40);
      const out = streamed(doc, chunk);
      if (out !== expected) failures.push(`${doc}\n  stream: ${out}\n  value:  ${expected}`);
    }
    expect(failures.slice(0, 3)).toEqual([]);
  });
});

// Round 10 review, finding 1: a JSON document inside a JSON string (a ConfigMap's data file, kubectl's
// last-applied-configuration, an event's payload) is masked as JSON, by both JSON maskers, and re-escaped as written.
describe('JSON documents inside JSON strings', () => {
  const fields = compileMasker({ fields: [{ names: ['rg'] }] });
  const RG = '12.345.678-9';
  const INNER = { rg: RG, cpf: '529.982.247-20', n: 52998224725, email: 'ana at exemplo' };
  const LEAKS = [RG, '529.982.247-20', '52998224725', 'ana at exemplo'];
  function both(doc: string, chunk = doc.length): [string, string] {
    const s = fields.newSession().jsonStream();
    let out = '';
    for (let i = 0; i < doc.length; i += chunk) out += s.push(doc.slice(i, i + chunk));
    return [out + s.end(), JSON.stringify(fields.newSession().maskJson(JSON.parse(doc)))];
  }
  const inner = (v: unknown, level: number): string => (level === 0 ? JSON.stringify(v) : JSON.stringify({ payload: inner(v, level - 1) }));

  it.each([
    ['an object', JSON.stringify({ payload: JSON.stringify(INNER) })],
    ['an array, pretty-printed, with a leading newline', JSON.stringify({ 'clientes.json': `\n${JSON.stringify([INNER, INNER], null, 2)}\n` })],
    ['two levels deep', inner(INNER, 2)],
    ['three levels deep', inner(INNER, 3)],
    ['the number written 52998224725.0', JSON.stringify({ payload: JSON.stringify(INNER).replace('52998224725', '52998224725.0') })],
  ])('masks %s with key rules and the number reading, in any chunks, as valid JSON', (_what, doc) => {
    for (const chunk of [1, 3, 7, doc.length]) {
      for (const out of both(doc, chunk)) {
        for (const leak of LEAKS) expect(out).not.toContain(leak);
        expect(() => JSON.parse(out) as unknown).not.toThrow();
      }
    }
  });

  it('reads deeper documents as text (bounded work): content detection still applies', () => {
    const out = both(inner({ rg: RG, doc: '529.982.247-25' }, 4));
    for (const o of out) {
      expect(o).toContain(RG);
      expect(o).not.toContain('529.982.247-25');
    }
  });

  it('streams a document longer than the string buffer as JSON', () => {
    const long = JSON.stringify({ payload: JSON.stringify([...Array(400).keys()].map((i) => ({ i, ...INNER }))) });
    expect(long.length).toBeGreaterThan(STRING_BUFFER * 2);
    for (const out of both(long, 1000)) {
      for (const leak of LEAKS) expect(out).not.toContain(leak);
      expect((JSON.parse(JSON.parse(out).payload as string) as unknown[]).length).toBe(400);
    }
  });

  it('keeps the string\'s own escaping: escaped slashes, ASCII-only, and unchanged strings byte for byte', () => {
    const php = '{"p":"{\\"rg\\":\\"12.345.678-9\\",\\"url\\":\\"http:\\\\/\\\\/x\\\\/y\\"}"}';
    expect(both(php)[0]).toBe('{"p":"{\\"rg\\":\\"**.***.***-*\\",\\"url\\":\\"http:\\\\/\\\\/x\\\\/y\\"}"}');
    const python = JSON.stringify({ p: JSON.stringify({ rg: RG, nome: 'João' }) }).replace('ã', '\\\\u00e3');
    expect(both(python)[0]).toBe('{"p":"{\\"rg\\": \\"**.***.***-*\\", \\"nome\\": \\"Jo\\\\u00e3o\\"}"}'.replace(/": /g, '":').replace(/, /g, ','));
    const slashOnce = '{"a":"529.982.247-25 em http:\\/\\/x"}';
    expect(streamed(slashOnce)).toBe('{"a":"***.***.***-25 em http:\\/\\/x"}');
    const unchanged = '{"p":"{\\"status\\":\\"ok\\",\\"u\\":\\"\\\\u00e9\\"}"}';
    expect(streamed(unchanged)).toBe(unchanged);
  });

  it('does not read strings under a name rule, keys, or strings that only start with a brace', () => {
    const s = fields.newSession();
    expect(s.maskJson({ rg: JSON.stringify({ a: 1 }) })).toEqual({ rg: '{"*":*}' }); // masked whole by the rule
    expect(both(JSON.stringify({ [JSON.stringify({ rg: RG })]: 1 }))[0]).toContain(RG); // a key is a name, not a document
    for (const t of ['[INFO] ok', '{ nao json }', '[1,2]', '{']) expect(both(JSON.stringify({ a: t }))).toEqual([JSON.stringify({ a: t }), JSON.stringify({ a: t })]);
  });
});
