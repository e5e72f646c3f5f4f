// Round 9 review of the masking engine across targets (adversarial). Every finding test here failed on the code as
// reviewed (135e089), for the reason its name states, and passes since the fix (json-number.ts, decode.ts, the
// terminal masker; their classes are tested in json-number.test.ts, json-escapes.test.ts and
// sidecar/src/ssh/terminal-masker.test.ts); the real-target counterparts are in
// sidecar/test/masking-round9-attacks.int.test.ts.
//
// 1. JSON numbers that are integers written with a fraction or an exponent. README "JSON": "Non-negative integers
//    with 8 or more digits are scanned like bare digits (CPFs, phones and cards are often serialised as numbers)".
//    maskJson (the Kubernetes path: JSON.parse first) masks `52998224725.0` and `5.2998224725E10`, whose value is the
//    integer 52998224725; jsonStream (HTTP JSON bodies) and maskCell (PostgreSQL json/jsonb/text cells holding JSON)
//    test the token's text against /^[0-9]+$/ and copy them unchanged. Python's json.dumps of a float (and pandas,
//    whose CPF column turns float64 as soon as one value is missing) writes `52998224725.0`; Java's
//    Double.toString (Jackson, Gson for a double field) writes `5.2998224725E10`; PostgreSQL's jsonb keeps the
//    numeric's scale (`52998224725.0`). A reader (or an LLM) reads the CPF in either.
// 2. The SSH / kubectl exec terminal masker (sidecar/src/ssh/terminal-masker.ts) feeds the stream masker up to the
//    last whitespace and keeps a partial word back — but only up to 1,024 characters (MAX_PARTIAL). A longer word
//    (minified JSON, a CSV line without spaces, a URL list) goes to the masker whole, and the 30 ms idle flush then
//    emits everything, an identifier's first half included: the second half, after the pause, cannot take the first
//    back. Block-buffered output of a slow producer (curl of a slow API, jq -c, an export) pauses at arbitrary bytes.
// 3. The JSON escape `\/` left in plain text. README "Layouts" / decode.ts: "`\uXXXX` and `\xXX` escapes left in
//    plain text" are decoded (a JavaScript/JSON escape left in plain text, `529\u002e982...`), but JSON's own
//    two-character escapes are not, and `\/` is the one PHP's json_encode writes by default (Laravel's JsonResponse,
//    `echo json_encode($row)`): every formatted CNPJ has a slash, so `"cnpj":"11.222.333\/0001-81"` reaches the reader
//    whole wherever JSON is read as text — a PHP endpoint's default `text/html` answer, a log line, a file over
//    SSH, a text cell, and JSON nested in a JSON string (one level decoded by the JSON masker leaves the inner `\/`).
//    `11.222.333\u002f0001-81` is masked; `11.222.333\/0001-81` is not.
import { describe, expect, it } from '@jest/globals';
import { TerminalMasker } from '../../sidecar/src/ssh/terminal-masker.ts';
import { compileMasker } from './index.ts';

const masker = compileMasker({});

function streamed(doc: string, chunk = doc.length): string {
  const s = masker.newSession().jsonStream();
  let out = '';
  for (let i = 0; i < doc.length; i += chunk) out += s.push(doc.slice(i, i + chunk));
  return out + s.end();
}

/** [JSON number as a serialiser writes it, the identifier's digits, the mask maskJson gives]. */
const INTEGRAL_NUMBERS: readonly (readonly [string, string, string])[] = [
  ['52998224725.0', '52998224725', '*********25'], // Python json.dumps(float), pandas to_json, jsonb numeric with scale
  ['5.2998224725E10', '52998224725', '*********25'], // Java Double.toString (Jackson, Gson)
  ['5.2998224725e+10', '52998224725', '*********25'], // printf %e style, JavaScript toExponential
  ['11222333000181.0', '11222333000181', '************81'], // CNPJ
  ['1.1222333000181E13', '11222333000181', '************81'],
  ['11912345678.0', '11912345678', '*******5678'], // a mobile phone that is no CPF
  ['5.511912345678E12', '5511912345678', '*********5678'], // +55 11 91234-5678 as a double
];

describe('finding 1: integral JSON numbers written with a fraction or exponent (jsonStream, maskCell)', () => {
  it.each(INTEGRAL_NUMBERS.map(([n, digits, mask]) => [n, digits, mask] as const))('maskJson masks %s (control: the value is the integer)', (n, _digits, mask) => {
    const doc = `{"documento":${n},"ok":1}`;
    expect(masker.newSession().maskJson(JSON.parse(doc))).toEqual({ documento: mask, ok: 1 });
  });

  it.each(INTEGRAL_NUMBERS.map(([n, digits, mask]) => [n, digits, mask] as const))('jsonStream (HTTP JSON bodies) masks %s as maskJson does', (n, _digits, mask) => {
    const doc = `{"documento":${n},"ok":1}`;
    for (const chunk of [1, 7, doc.length]) {
      const out = streamed(doc, chunk);
      expect([chunk, out]).toEqual([chunk, `{"documento":"${mask}","ok":1}`]);
    }
  });

  it.each(INTEGRAL_NUMBERS.map(([n, digits, mask]) => [n, digits, mask] as const))('maskCell (a PostgreSQL json/jsonb cell) masks %s', (n, _digits, mask) => {
    const cell = `{"documento": ${n}, "ok": 1}`;
    expect(masker.newSession().maskCell('dados', cell)).toBe(`{"documento": "${mask}", "ok": 1}`);
  });

  it('an NDJSON export from pandas (one missing CPF made the column float64) comes out masked', () => {
    const ndjson = '{"nome":"Joao","cpf_cliente":null}\n{"nome":"Maria","documento":52998224725.0}\n';
    const out = streamed(ndjson, 16);
    expect(out).not.toContain('52998224725');
  });
});

describe('finding 2: a word longer than 1,024 characters is cut by the terminal masker\'s idle flush', () => {
  const record = (i: number): string => `{"id":${i},"nome":"Cliente${i}","status":"ativo","plano":"premium"}`;
  /** A minified JSON array (no whitespace at all) over 1,024 characters, its last record's CPF cut after `529.982.`. */
  const head = ((): string => {
    let s = '[';
    for (let i = 0; s.length < 1100; i++) s += `${record(i)},`;
    return `${s}{"id":99,"cpf":"529.982.`;
  })();
  const tail = '247-25"}]\n';

  it('control: the same output without a pause is masked', () => {
    const m = new TerminalMasker(masker.newSession());
    const shown = m.push(Buffer.from(head)) + m.push(Buffer.from(tail)) + m.end();
    expect(shown).toContain('"cpf":"***.***.***-25"');
  });

  it('control: a short word paused mid-identifier is kept back (README/docs/ssh.md)', () => {
    const m = new TerminalMasker(masker.newSession());
    const short = '{"id":99,"cpf":"529.982.';
    const shown = m.push(Buffer.from(short)) + m.flushIdle() + m.push(Buffer.from(tail)) + m.end();
    expect(shown).toContain('"cpf":"***.***.***-25"');
  });

  it('the output paused 30 ms after `529.982.` shows the CPF whole', () => {
    const m = new TerminalMasker(masker.newSession());
    const shown = m.push(Buffer.from(head)) + m.flushIdle() + m.push(Buffer.from(tail)) + m.end();
    expect(shown).not.toContain('529.982.247-25');
    expect(shown).toContain('"cpf":"***.***.***-25"');
    // The same output as without the pause.
    const whole = new TerminalMasker(masker.newSession());
    expect(shown).toBe(whole.push(Buffer.from(head + tail)) + whole.end());
  });

  it('the same with a bare CPF in a long CSV-like line (no spaces) cut after five digits', () => {
    const line = `${'campo;'.repeat(200)}52998`;
    const m = new TerminalMasker(masker.newSession());
    const shown = m.push(Buffer.from(line)) + m.flushIdle() + m.push(Buffer.from('224725;fim\n')) + m.end();
    expect(shown).not.toContain('52998224725');
  });
});

describe('finding 3: the JSON escape \\/ (PHP json_encode\'s default) in text', () => {
  it('control: the same CNPJ with its slash written \\u002f is masked', () => {
    expect(masker.newSession().maskText('{"cnpj":"11.222.333\\u002f0001-81"}')).toBe('{"cnpj":"**.***.***/****-81"}');
  });

  it('control: a JSON body is decoded by the JSON masker and masked', () => {
    // Its slash stays escaped as the writer escaped it (round 10: a changed string keeps its escaping).
    expect(streamed('{"cnpj":"11.222.333\\/0001-81"}')).toBe('{"cnpj":"**.***.***\\/****-81"}');
  });

  it.each([
    ['a PHP endpoint\'s text/html answer (echo json_encode)', '[{"razao":"ACME","doc":"11.222.333\\/0001-81"}]'],
    ['an alphanumeric CNPJ', '{"doc":"12.ABC.345\\/01DE-35"}'],
    ['a CPF in its 529.982.247/25 layout', '{"doc":"529.982.247\\/25"}'],
    ['a log line with a JSON payload', 'INFO pedido criado payload={"doc":"11.222.333\\/0001-81","valor":10}'],
  ])('maskText: %s', (_name, text) => {
    const out = masker.newSession().maskText(text);
    expect(out).not.toMatch(/11\.222\.333|12\.ABC\.345|529\.982\.247/);
    // Only the identifier changes, and its mask keeps the slash escaped as the text had it.
    expect(out).toBe(text.replace(/11\.222\.333\\\/0001-81/, '**.***.***\\/****-81').replace(/12\.ABC\.345\\\/01DE-35/, '**.***.***\\/****-35').replace(/529\.982\.247\\\/25/, '***.***.***\\/25'));
  });

  it('textStream (SSH output, kubectl logs, text bodies) cut at every position', () => {
    const text = 'payload={"doc":"11.222.333\\/0001-81"}\n';
    for (let cut = 1; cut < text.length; cut++) {
      const s = masker.newSession().textStream();
      const out = s.push(text.slice(0, cut)) + s.push(text.slice(cut)) + s.end();
      expect([cut, out.includes('11.222.333')]).toEqual([cut, false]);
    }
  });

  it('JSON nested in a JSON string (PHP json_encode twice): the inner \\/ survives the JSON masker', () => {
    const inner = JSON.stringify({ cnpj: '11.222.333/0001-81' }).replaceAll('/', '\\/');
    const outer = JSON.stringify({ evento: 'pedido', payload: inner }).replaceAll('/', '\\/');
    expect(streamed(outer, 5)).not.toContain('11.222.333');
    expect(JSON.stringify(masker.newSession().maskJson(JSON.parse(outer)))).not.toContain('11.222.333');
  });

  it('maskCell: a text cell holding such a log line (not JSON: no leading brace)', () => {
    expect(masker.newSession().maskCell('notes', 'payload={"doc":"11.222.333\\/0001-81"}')).not.toContain('11.222.333');
  });
});
