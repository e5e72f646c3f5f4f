// The JSON reading of a line never masks less than the text reading of the same line (json-context.ts; round 10b
// review, finding 1). Before round 10 a JSON log line was read as text, and a value that needs its keyword (a bare
// landline, an 8-digit CEP, a date of birth, a bare PIS) got it from the key or a neighbouring value on the line. Each
// line here is read both ways: as text (behind `app: `, which keeps json-lines.ts from opening the document and adds
// no keyword) and as JSON (maskText and text streams, a JSON body); every value the text reading masks must be masked
// by each JSON reading. Over the whole corpus in fixed shapes, then over random documents.
import { describe, expect, it } from '@jest/globals';
import { generateCorpus, KEYWORDS, Rng, type Sample } from './corpus.ts';
import { compileMasker } from './index.ts';

const corpus = generateCorpus();
const masker = compileMasker({});

function chunked(push: (s: string) => string, end: () => string, t: string, size: number): string {
  let out = '';
  for (let i = 0; i < t.length; i += size) out += push(t.slice(i, i + size));
  return out + end();
}

/** Every JSON reading of `line`: maskText, a text stream in chunks of 1 and 7, a JSON body in chunks of 5, maskJson. */
function jsonReadings(line: string): string[] {
  const text = masker.newSession().textStream();
  const text1 = masker.newSession().textStream();
  const json = masker.newSession().jsonStream();
  return [
    masker.newSession().maskText(`${line}\n`),
    chunked((s) => text.push(s), () => text.end(), `${line}\n`, 7),
    chunked((s) => text1.push(s), () => text1.end(), `${line}\n`, 1),
    chunked((s) => json.push(s), () => json.end(), line, 5),
    JSON.stringify(masker.newSession().maskJson(JSON.parse(line))),
  ];
}

/** What the text reading masks and a JSON reading leaves, for each value of `values` in `line`. */
function leftByJson(line: string, values: readonly string[]): string[] {
  const asText = masker.newSession().maskText(`app: ${line}\n`);
  const masked = values.filter((v) => line.includes(v) && !asText.includes(v));
  const failures: string[] = [];
  for (const [i, out] of jsonReadings(line).entries()) {
    for (const v of masked) if (out.includes(v)) failures.push(`reading ${i} of ${line} leaves ${v}: ${out}`);
  }
  return failures;
}

/** A key that holds the type's keyword but is no built-in or policy name (names.ts): only the keyword can tell. */
const KEYWORD_KEYS: Record<string, string> = {
  cpf: 'nr_cpf_titular', cnpj: 'cnpj_matriz_x', cnh: 'habilitação', pis: 'pis_titular', tituloEleitor: 'título', cns: 'cartão saúde',
  renavam: 'renavam_veiculo', cep: 'cep_entrega', phone: 'contato', email: 'e-mail', card: 'cartão', ip: 'acesso', birthDate: 'dt_nascto',
};

/** The shapes a JSON writer gives one value with its keyword before it; `n` is the value as a number token, or null. */
function shapes(s: Sample): string[] {
  const kw = KEYWORDS[s.type].toLowerCase();
  const key = KEYWORD_KEYS[s.type] ?? kw;
  const v = JSON.stringify(s.value);
  const out = [
    `{"level":"info","msg":"${kw} atualizado","valor":${v}}`,
    `{"campo":"${kw}","valor":${v}}`,
    `{"campo": "${kw}", "valor": ${v}}`,
    `{"${key}":${v}}`,
    `{"evento":"cadastro","${key}":[${v}]}`,
    `{"evento":"cadastro","dados":{"${key}":${v}}}`,
    `{"payload":${JSON.stringify(`{"${key}":${v}}`)}}`,
    `{"payload":${JSON.stringify(`\n{"campo":"${kw}","valor":${v}}`)}}`,
    `{"obs":"${kw} ${s.value.replace(/"/g, '')}"}`,
    `{"valor":${v}}`,
  ];
  if (/^[1-9][0-9]{7,18}$/.test(s.value)) out.push(`{"evento":"cadastro","${key}":${s.value}}`, `{"${key}":${s.value}.0}`, `[{"campo":"${kw}"},${s.value}]`);
  return out;
}

describe('the JSON reading of a line masks every value its text reading masks', () => {
  it('over the whole corpus (valid values and look-alikes) in the shapes JSON writers give a value and its keyword', () => {
    const failures: string[] = [];
    let maskedByText = 0;
    for (const s of [...corpus.valid, ...corpus.lookAlikes]) {
      for (const line of shapes(s)) {
        if (!masker.newSession().maskText(`app: ${line}\n`).includes(s.value)) maskedByText++;
        failures.push(...leftByJson(line, [s.value]));
      }
    }
    expect(failures.slice(0, 5)).toEqual([]);
    // Not vacuous: the text reading masks values that need their keyword in these shapes.
    expect(maskedByText).toBeGreaterThan(corpus.valid.length * 5);
  });

  it('in 600 random documents: keys with and without keywords, values of every type, nesting, writers\' spacing', () => {
    const r = new Rng(20261206);
    const values = corpus.valid.map((s) => s.value);
    const words = ['id', 'valor', 'campo', 'obs', 'msg', 'contato', 'dt_nascto', 'cep_entrega', 'zip', 'tel', 'nascimento em', 'pis', 'renavam', 'cartão sus', 'título', 'x'];
    const scalar = (): unknown => r.pick([
      () => r.pick(values), () => r.pick(words), () => `${r.pick(words)} ${r.pick(values)}`, () => Number(r.pick(values).replace(/[^0-9]/g, '').slice(0, 15)) || 1, () => null, () => true,
    ])();
    const value = (depth: number): unknown => {
      if (depth > 2 || r.int(3) === 0) return scalar();
      if (r.int(3) === 0) return Array.from({ length: 1 + r.int(3) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: 1 + r.int(4) }, () => [r.pick(words), value(depth + 1)]));
    };
    const failures: string[] = [];
    for (let n = 0; n < 600; n++) {
      const doc = JSON.stringify({ [r.pick(words)]: value(0), [r.pick(words)]: value(0) });
      const line = n % 3 === 0 ? doc.replace(/([,:])/g, '$1 ') : doc; // Python's json.dumps spacing
      failures.push(...leftByJson(line, values));
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it('the keyword comes from the document before the value, also across the lines of a pretty-printed document', () => {
    const s = masker.newSession();
    expect(s.maskText('{"campo":"cep","valor":"01310-100"}\n')).toBe('{"campo":"cep","valor":"01***-***"}\n');
    expect(s.maskText('{\n  "campo": "cep",\n  "valor": "01310-100"\n}\n')).toBe('{\n  "campo": "cep",\n  "valor": "01***-***"\n}\n');
    expect(s.maskText('{"contato":1133334444}\n')).toBe('{"contato":"******4444"}\n');
    expect(s.maskText('{"contato":1.133334444E9}\n')).toBe('{"contato":"******4444"}\n');
    expect(s.maskJson({ campo: 'data_nascimento', valor: '12/03/1985' })).toEqual({ campo: 'data_nascimento', valor: '**/**/1985' });
    // Without a keyword, the same values stay (no over-masking from the context itself).
    expect(s.maskText('{"campo":"pedido","valor":"01310-100","n":1133334444}\n')).toBe('{"campo":"pedido","valor":"01310-100","n":1133334444}\n');
    // Each NDJSON value starts a context of its own, as its line does.
    const json = masker.newSession().jsonStream();
    expect(json.push('{"campo":"cep"}\n{"valor":"01310-100"}\n') + json.end()).toBe('{"campo":"cep"}\n{"valor":"01310-100"}\n');
  });
});
