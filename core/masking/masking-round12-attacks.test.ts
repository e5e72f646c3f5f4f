// Round 12 review of the masking engine (adversarial review). Each `finding` test FAILS on the code as reviewed for
// the reason its name states; each `control` passes and shows the same value masked in the form the engine reads.
// Report: /work/tmp/masking12-review.md.
//
// 1. A JSON document is recognised (opensJson, json.ts) only when its first key or value comes within 64 whitespace
//    characters (MAX_LEADING_SPACE) of the start of the string or line. JSON.parse, jq and every reader skip any amount
//    of whitespace. With 66 or more (65 before the brace are still looked through), the document is read as text: name rules (the only way to mask an RG, a name, a
//    CPF with a typo) do not apply. Both forms: a document inside a JSON string (ConfigMap `clientes.json`, an event's
//    `payload`, `last-applied-configuration`: jsonStream, maskJson, maskCell, the HTTP JSON body) with 70 leading blanks
//    or 70 blanks after its `{`; and a text line (NDJSON body, kubectl logs, SSH, maskText) `{` + 70 blanks + `"rg":...`.
// 2. Decimal digits outside the BMP other than the Mathematical ones (Segmented digits U+1FBF0–U+1FBF9, which render as
//    a seven-segment display's 0–9; Adlam, Osmanya, Brahmi, Hanifi Rohingya, Nag Mundari, Kawi ...: all Unicode Nd) are
//    neither folded nor seen by the byte pre-scan: a CPF written in them passes every path whole, though Python's int(),
//    Java's Character.digit and ICU read it as the number (round 5's class "other scripts' digits", closed for the BMP
//    and the Mathematical digits only).
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from './index.ts';

const RG = '12.345.678-9';
const NAME = 'Joao da Silva';
const masker = compileMasker({ fields: [{ names: ['rg'] }, { names: ['nome'] }] });
const session = () => masker.newSession();
const inner = JSON.stringify({ rg: RG, nome: NAME });

function streamJson(t: string, size = t.length): string {
  const s = session().jsonStream();
  let out = '';
  for (let i = 0; i < t.length; i += size) out += s.push(t.slice(i, i + size));
  return out + s.end();
}
function streamText(t: string, size = t.length): string {
  const s = session().textStream();
  let out = '';
  for (let i = 0; i < t.length; i += size) out += s.push(t.slice(i, i + size));
  return out + s.end();
}
const leaks = (out: string): boolean => out.includes(RG) || out.includes(NAME);

describe('finding 1: a JSON document with more than 64 blanks before its first key loses its name rules', () => {
  const blanks = (n: number, unit = ' ') => unit.repeat(n);
  // A document held in a JSON string: 70 blanks before it (a templated file's leading lines), or after its brace.
  const leadDoc = (n: number, unit = ' ') => JSON.stringify({ payload: blanks(n, unit) + inner });
  const braceDoc = (n: number, unit = ' ') => JSON.stringify({ payload: '{' + blanks(n, unit) + inner.slice(1) });

  it('control: 64 blanks before the nested document, its rg and nome are masked (jsonStream, maskJson, maskCell)', () => {
    const body = leadDoc(64);
    expect(leaks(streamJson(body))).toBe(false);
    expect(leaks(JSON.stringify(session().maskJson(JSON.parse(body))))).toBe(false);
    expect(leaks(session().maskCell('evento', body))).toBe(false);
  });
  it('finding: 70 blanks before a document in a JSON string — jsonStream leaves the RG and the name', () => {
    expect(JSON.parse(JSON.parse(leadDoc(70)).payload)).toEqual({ rg: RG, nome: NAME }); // what any reader gets
    expect(leaks(streamJson(leadDoc(70)))).toBe(false);
  });
  it('finding: 70 blanks before a document in a JSON string — maskJson (Kubernetes path) leaves them', () => {
    expect(leaks(JSON.stringify(session().maskJson(JSON.parse(leadDoc(70)))))).toBe(false);
  });
  it('finding: 35 CRLF pairs (a templated file\'s blank lines) before a document in a jsonb/json cell leave them', () => {
    expect(leaks(session().maskCell('evento', leadDoc(35, '\r\n')))).toBe(false);
  });
  it('finding: 70 blanks after the brace of a document in a JSON string (jsonStream in 7-character chunks) leave them', () => {
    expect(JSON.parse(JSON.parse(braceDoc(70)).payload)).toEqual({ rg: RG, nome: NAME });
    expect(leaks(streamJson(braceDoc(70), 7))).toBe(false);
  });

  // A text line that opens a document (json-lines.ts): NDJSON bodies, kubectl logs, SSH output, text cells.
  const line = (n: number) => `{${blanks(n)}"rg":"${RG}","nome":"${NAME}"}\n`;
  it('control: a text line with 64 blanks after its brace is read as JSON (maskText and text streams)', () => {
    expect(leaks(session().maskText('inicio\n' + line(64)))).toBe(false);
    expect(leaks(streamText('inicio\n' + line(64), 5))).toBe(false);
  });
  it('finding: a text line (NDJSON, a log) with 70 blanks after its brace — maskText leaves the RG and the name', () => {
    expect(JSON.parse(line(70))).toEqual({ rg: RG, nome: NAME });
    expect(leaks(session().maskText('inicio\n' + line(70)))).toBe(false);
  });
  it('finding: the same line through a text stream in 5-character chunks (HTTP text body, kubectl logs)', () => {
    expect(leaks(streamText('inicio\n' + line(70), 5))).toBe(false);
  });
});

describe('finding 2: a CPF in decimal digits outside the BMP (other than the Mathematical ones) passes whole', () => {
  const spell = (zero: number, s: string) => [...s].map((c) => (c >= '0' && c <= '9' ? String.fromCodePoint(zero + Number(c)) : c)).join('');
  const CPF = '529.982.247-25';
  it('control: Mathematical bold digits (U+1D7CE) are read as the CPF', () => {
    expect(session().maskText(`cpf ${spell(0x1d7ce, CPF)}`)).toBe('cpf ***.***.***-25');
  });
  const runs: [string, number][] = [
    ['Segmented digits U+1FBF0 (a seven-segment display)', 0x1fbf0],
    ['Adlam digits U+1E950', 0x1e950],
    ['Osmanya digits U+104A0', 0x104a0],
  ];
  for (const [name, zero] of runs) {
    it(`finding: ${name} — maskText, the byte pre-scan and a text stream leave the CPF`, () => {
      const t = `cliente Joao cpf ${spell(zero, CPF)} ok`;
      expect(/^\p{Nd}$/u.test(String.fromCodePoint(zero + 5))).toBe(true); // Unicode's decimal digit five
      expect(session().textMayChange(Buffer.from(t))).toBe(true);
      expect(session().maskText(t)).not.toBe(t);
      expect(streamText(t, 3)).not.toBe(t);
    });
  }
  it('finding: Segmented digits in a JSON string value and in a cell pass whole', () => {
    const v = spell(0x1fbf0, CPF);
    expect(streamJson(JSON.stringify({ doc: v }))).not.toContain(v);
    expect(session().maskCell('observacao', v)).not.toBe(v);
  });
});

// 3. maskJson (the Kubernetes path: every object, list and watch event an agent reads through kubectl) hands a subtree
//    deeper than MAX_DEPTH (256) to a fresh JsonStream (json.ts maskDeep) without the rule the subtree inherits: an
//    array inherits its key's rule (`"telefones": [...]`), and past depth 256 the strings in it are only content-scanned.
//    jsonStream (HTTP, PostgreSQL cells) keeps the rule at any depth.
describe('finding 3: maskJson drops the rule an array inherits from its key past depth 256', () => {
  const nested = (d: number) => JSON.parse('{"rg":' + '['.repeat(d) + `"${RG}"` + ']'.repeat(d) + '}') as unknown;
  const RG_BARE = '12345678'; // RG digits; the masked form keeps none
  const flat = (v: unknown) => JSON.stringify(v).replaceAll(/[.-]/g, '');
  it('control: at depth 250 the RG under `rg` is masked by maskJson and by jsonStream', () => {
    expect(flat(session().maskJson(nested(250)))).not.toContain(RG_BARE);
    expect(flat(streamJson(JSON.stringify(nested(250))))).not.toContain(RG_BARE);
  });
  it('control: at depth 300 jsonStream still masks it', () => {
    expect(flat(streamJson(JSON.stringify(nested(300))))).not.toContain(RG_BARE);
  });
  it('finding: at depth 300 maskJson leaves the RG under `rg` whole', () => {
    expect(flat(session().maskJson(nested(300)))).not.toContain(RG_BARE);
  });
  it('finding: a custom resource read through the Kubernetes response masker leaves it whole', async () => {
    const { maskKubernetesValue } = await import('../policy/kubernetes-response.ts');
    const cr = { apiVersion: 'clientes.example.com/v1', kind: 'Cliente', metadata: { name: 'c1', namespace: 'a' }, spec: { titular: { rg: (nested(300) as { rg: unknown }).rg } } };
    const out = maskKubernetesValue(cr, session(), { secrets: false, revealSecretData: false });
    expect(flat(out)).toContain('Cliente');
    expect(flat(out)).not.toContain(RG_BARE);
  });
});
