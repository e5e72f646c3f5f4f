// Round 10 review of the masking engine (adversarial). Each `finding` test FAILS on the code as reviewed (070bd8c) for
// the reason its name states; the `control` tests pass and show the same value masked in its other form. The
// real-target counterparts (HTTP upstream, PostgreSQL through psql, sshd with the session record) are in
// sidecar/test/masking-round10-attacks.int.test.ts; the reasoning is in the review report.
//
// 1. JSON read as text loses the JSON reading. The JSON masker applies name rules (the policy's `fields`, the only way
//    to mask an RG; built-in names that mask a value whatever it holds: a CPF with a typo under `cpf`) and reads
//    number tokens exactly (`52998224725.0`). A JSON document that reaches the engine as TEXT gets neither: a JSON
//    document stored inside a JSON string (a ConfigMap's `clientes.json`, an event's payload) through maskJson (the
//    Kubernetes path), and in the sidecar the bodies body.ts classifies as text (application/x-ndjson,
//    application/jsonl, text/event-stream, text/json...; the HTTP tests show those).
// 2. Integral numbers written with a zero fraction or an exponent in TEXT. Round 9 made `52998224725.0` (Python's
//    json.dumps / repr of a float, pandas) and `5.2998224725E10` (Java's Double.toString) read as the integer in
//    JSON number tokens only. The same spellings in text — a CSV from pandas' to_csv of a float column, a Python
//    log line `{'cpf': 52998224725.0}`, a JSON document inside a JSON string, a text cell — are left whole:
//    the candidate rule refuses digits followed by `.digit` ("inside a decimal").
// 3. Percent-encoded UTF-8. decode.ts decodes `%XX` only below 0x80 ("UTF-8 bytes of other characters: no identifier
//    has them"), but the layouts do have them after folding: the no-break space (`%C2%A0`, a CPF pasted from a
//    spreadsheet into a search form), the en dash (`%E2%80%93`), fullwidth digits (`%EF%BC%95`), the one-dot leader,
//    and invisible characters (`%E2%80%8B`). Each alone is masked (`529\u00a0982...`, `529%20982...`); the browser's
//    encoding of the first as it lands in a URL, an access log line or a Referer column is not.
import { describe, expect, it } from '@jest/globals';
import { maskKubernetesValue } from '../policy/kubernetes-response.ts';
import { compileMasker } from './index.ts';

const CPF_DIGITS = '52998224725';
const RG = '12.345.678-9';
/** A CPF with a typo (check digits wrong): content detection leaves it, the `cpf` name rule masks it. */
const CPF_TYPO = '529.982.247-20';

const masker = compileMasker({ fields: [{ names: ['rg'] }] });
const session = () => masker.newSession();

function stream(kind: 'text' | 'json', doc: string, chunk = doc.length): string {
  const s = kind === 'json' ? session().jsonStream() : session().textStream();
  let out = '';
  for (let i = 0; i < doc.length; i += chunk) out += s.push(doc.slice(i, i + chunk));
  return out + s.end();
}

// ---- 1. JSON read as text ---------------------------------------------------------------------------------------

describe('finding 1: a JSON document read as text loses name rules and the number reading', () => {
  const DOC = `{"nome":"Joao","rg":"${RG}","cpf":"${CPF_TYPO}","documento":${CPF_DIGITS}.0}`;

  it('control: the document as JSON (jsonStream, maskJson, maskCell) is masked whole', () => {
    for (const out of [stream('json', DOC), JSON.stringify(session().maskJson(JSON.parse(DOC))), session().maskCell('payload', DOC)]) {
      expect(out).not.toContain(RG);
      expect(out).not.toContain(CPF_TYPO);
      expect(out).not.toContain(CPF_DIGITS);
    }
  });

  it('finding 1: the same document inside a JSON string (a ConfigMap data file) through the Kubernetes masker keeps the RG, the CPF under `cpf` and the float CPF', () => {
    const configMap = {
      kind: 'ConfigMap', apiVersion: 'v1',
      metadata: { name: 'clientes', namespace: 'crm', resourceVersion: '7', uid: '0b5c1f36-3a55-4d43-9c4f-2b1d6b9d0e11' },
      data: { 'clientes.json': `[${DOC}]` },
    };
    const out = JSON.stringify(maskKubernetesValue(configMap, session(), { secrets: false, revealSecretData: false }));
    expect(out).not.toContain(RG);
    expect(out).not.toContain(CPF_TYPO);
    expect(out).not.toContain(CPF_DIGITS);
  });

  it('finding 1: the object\'s own `rg` is masked, its copy in the last-applied-configuration annotation is not', () => {
    const applied = { apiVersion: 'crm.example.com/v1', kind: 'Cliente', metadata: { name: 'joao', namespace: 'crm' }, spec: { nome: 'Joao', rg: RG, cpf: CPF_TYPO } };
    const object = {
      ...applied,
      metadata: { ...applied.metadata, resourceVersion: '9', uid: '3e0c2b9a-8d1f-4c71-a3f5-0d6f0f1b7c22', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify(applied)}\n` } },
    };
    const out = maskKubernetesValue(object, session(), { secrets: false, revealSecretData: false }) as { spec: { rg: string }; metadata: { annotations: Record<string, string> } };
    expect(out.spec.rg).not.toBe(RG); // control: masked by the field rule
    expect(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).not.toContain(RG);
    expect(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).not.toContain(CPF_TYPO);
  });

  it('finding 1: a JSON string value holding a document (an event payload) through jsonStream keeps them too', () => {
    const out = stream('json', JSON.stringify({ evento: 'cadastro', payload: DOC }), 7);
    expect(out).not.toContain(RG);
    expect(out).not.toContain(CPF_TYPO);
    expect(out).not.toContain(CPF_DIGITS);
  });

  it('finding 1: NDJSON and server-sent events read as text (what body.ts does for application/x-ndjson, text/event-stream) keep them', () => {
    for (const body of [`${DOC}\n${DOC}\n`, `event: cliente\ndata: ${DOC}\n\n`]) {
      const out = stream('text', body, 5);
      expect(out).not.toContain(RG);
      expect(out).not.toContain(CPF_TYPO);
      expect(out).not.toContain(CPF_DIGITS);
    }
  });
});

// ---- 2. integral numbers with a fraction or an exponent, in text -----------------------------------------------

describe('finding 2: an integer written with a zero fraction or an exponent is read as the integer only in JSON number tokens', () => {
  /** [the spelling, what writes it]. Each denotes the integer 52998224725 (a valid CPF). */
  const SPELLINGS: [string, string][] = [
    [`${CPF_DIGITS}.0`, 'Python repr/json.dumps of a float, pandas to_csv'],
    [`${CPF_DIGITS}.00`, 'a numeric with scale 2'],
    ['5.2998224725E10', 'Java Double.toString'],
    ['5.2998224725e+10', 'printf %e / numpy'],
  ];

  it('control: each spelling as a JSON number is masked (round 9)', () => {
    for (const [spelling] of SPELLINGS) expect(stream('json', `{"documento":${spelling}}`)).toBe('{"documento":"*********25"}');
  });

  it('control: the bare integer in the same text is masked', () => {
    expect(session().maskText(`nome,documento\nJoao,${CPF_DIGITS}\n`)).not.toContain(CPF_DIGITS);
  });

  it.each(SPELLINGS)('finding 2: `%s` (%s) in a CSV line, a Python log line and a text cell reaches the reader whole', (spelling) => {
    const csv = `nome,documento\nJoao,${spelling}\n`;
    const log = `INFO cadastro recebido {'nome': 'Joao', 'documento': ${spelling}}`;
    const outs = [stream('text', csv, 3), session().maskText(log), session().maskCell('notes', `payload=${spelling}`)];
    for (const out of outs) expect(out).not.toContain(spelling);
  });

  it('finding 2: JSON inside a JSON string keeps `52998224725.0` (jsonStream and maskJson)', () => {
    const doc = JSON.stringify({ payload: `{"documento": ${CPF_DIGITS}.0}` });
    expect(stream('json', doc)).not.toContain(CPF_DIGITS);
    expect(JSON.stringify(session().maskJson(JSON.parse(doc)))).not.toContain(CPF_DIGITS);
  });
});

// ---- 3. percent-encoded UTF-8 -----------------------------------------------------------------------------------

describe('finding 3: percent-encoded UTF-8 of the look-alikes the layouts fold', () => {
  it('control: each form alone is masked (raw no-break space / en dash / fullwidth / zero-width; ASCII percent-encoding)', () => {
    for (const text of ['cpf=529\u00a0982\u00a0247\u00a025', 'cpf=529.982.247\u201325', 'cpf=５２９９８２２４７２５', 'cpf=529.\u200b982.247-25', 'cpf=529%20982%20247%2025', 'tel=(11)%2091234-5678']) {
      expect(session().maskText(text)).not.toMatch(/529|91234/);
    }
  });

  it.each([
    ['no-break spaces (a CPF pasted from a spreadsheet into a search form)', 'GET /busca?cpf=529%C2%A0982%C2%A0247%C2%A025 HTTP/1.1', '529%C2%A0982'],
    ['an en dash', 'GET /busca?cpf=529.982.247%E2%80%9325 HTTP/1.1', '529.982.247'],
    ['fullwidth digits (an Asian input method)', 'GET /busca?cpf=%EF%BC%95%EF%BC%92%EF%BC%99%EF%BC%99%EF%BC%98%EF%BC%92%EF%BC%92%EF%BC%94%EF%BC%97%EF%BC%92%EF%BC%95 HTTP/1.1', '%EF%BC%95%EF%BC%92%EF%BC%99'],
    ['a zero-width space', 'GET /busca?cpf=529.%E2%80%8B982.247-25 HTTP/1.1', '529.%E2%80%8B982.247-25'],
    ['a phone with a no-break space', 'GET /contato?tel=(11)%C2%A091234-5678 HTTP/1.1', '91234-5678'],
  ])('finding 3: %s, percent-encoded, reaches the reader whole (text, cell, stream)', (_what, line, leak) => {
    for (const out of [session().maskText(line), session().maskCell('referer', line), stream('text', `${line}\n`, 4)]) expect(out).not.toContain(leak);
  });
});
