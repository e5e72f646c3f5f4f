// Round 9 review, finding 3 and its class: every escape JSON allows (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate
// pairs), left in plain text — JSON read as text: a PHP endpoint's text/html answer, a log line, a file over SSH, a
// text cell, JSON nested in a JSON string — is read by the decoded view (decode.ts) as the \uXXXX escape of the same
// character is. `\/` is how PHP's json_encode writes every slash (every formatted CNPJ has one); `\n` and `\t`
// glued a letter to the digits after them (a JSON string's line break before a CPF); a surrogate pair written as
// two escapes is one character (a Mathematical digit, an invisible tag).
import { describe, expect, it } from '@jest/globals';
import { ESCAPE, needsDecoding } from './decode.ts';
import { compileMasker } from './index.ts';

const masker = compileMasker({});
const maskText = (t: string): string => masker.newSession().maskText(t);
const mathDigits = (d: string): string => [...d].map((c) => String.fromCodePoint(0x1d7ce + Number(c))).join('');
/** Every supplementary character written as the two \u escapes of its surrogate pair. */
const escapePairs = (t: string): string => t.replace(/[\ud800-\udbff][\udc00-\udfff]/g, (p) => `\\u${p.charCodeAt(0).toString(16)}\\u${p.charCodeAt(1).toString(16)}`);

/** [what, text holding it, what must not survive, the exact masked text (null: only that it is masked)]. */
const CASES: readonly (readonly [string, string, RegExp, string | null])[] = [
  ['\\/ in a CNPJ (PHP json_encode)', '{"doc":"11.222.333\\/0001-81"}', /11\.222\.333/, '{"doc":"**.***.***\\/****-81"}'],
  ['\\/ in an alphanumeric CNPJ', '{"doc":"12.ABC.345\\/01DE-35"}', /12\.ABC\.345/, null],
  ['\\/ in a CPF written 529.982.247/25', '{"doc":"529.982.247\\/25"}', /529\.982\.247/, null],
  ['\\/ in a date of birth after its keyword', '{"obs":"data de nascimento: 15\\/07\\/1985"}', /15\\\/07/, '{"obs":"data de nascimento: **\\/**\\/1985"}'],
  ['\\/ in a CNPJ without dots', 'cnpj 11222333\\/0001-81', /11222333/, null],
  ['\\n glued before a CPF', '{"msg":"linha\\n52998224725"}', /52998224725/, '{"msg":"linha\\n*********25"}'],
  ['\\r\\n glued before a CPF', '{"msg":"linha\\r\\n52998224725"}', /52998224725/, null],
  ['\\t glued before a CNPJ', 'a\\t11.222.333/0001-81', /11\.222\.333/, null],
  ['\\f glued before a CPF', 'pagina\\f52998224725', /52998224725/, null],
  ['\\n glued before an e-mail', 'contatos:\\njoao.silva@gmail.com', /joao\.silva@gmail/, null],
  ['\\n glued before a phone', 'tel:\\n+55 11 91234-5678', /91234/, null],
  // A backspace is kept where it was, as written (structure.ts): a decoding terminal takes back one of the mask's `*`.
  ['\\b between groups (as \\u0008: invisible)', '529.982.247\\b-25', /529\.982/, '***.***.***\\b-25'],
  ['\\" around a CPF (JSON in a JSON string)', '{\\"cpf\\":\\"52998224725\\"}', /52998224725/, '{\\"cpf\\":\\"*********25\\"}'],
  ['\\\\ before a CPF (a Windows path)', 'C:\\\\dados\\\\52998224725.pdf', /52998224725/, null],
  ['\\\\n: an escaped backslash before n', 'a\\\\n52998224725', /52998224725/, null],
  ['Mathematical digits as surrogate-pair escapes', escapePairs(`cpf ${mathDigits('52998224725')}`), /ud835/, 'cpf *********25'],
  ['a tag character as a surrogate-pair escape between groups', escapePairs('529\u{E0020}.982.247-25'), /529/, '***.***.***-25'],
  ['a supplementary variation selector as escapes', escapePairs('529.982\u{E0100}.247-25'), /529/, '***.***.***-25'],
  ['a plane 15 private-use character as escapes', escapePairs('529.982.247\u{F0000}-25'), /529/, '***.***.***-25'],
  ['upper-case \\u escapes of a pair', '529.982.247\\uDB40\\uDC20-25', /529/, '***.***.***-25'],
];

describe('JSON escapes left in plain text are read as the characters they stand for', () => {
  it.each(CASES.map(([name, text, leak, exact]) => [name, text, leak, exact] as const))('maskText: %s', (_name, text, leak, exact) => {
    const out = maskText(text);
    expect(out).not.toMatch(leak);
    if (exact !== null) expect(out).toBe(exact);
  });

  it.each(CASES.map(([name, text, leak]) => [name, text, leak] as const))('textStream cut at every position, and a text cell: %s', (_name, text, leak) => {
    const expected = maskText(text);
    for (let cut = 0; cut <= text.length; cut++) {
      const s = masker.newSession().textStream();
      expect([cut, s.push(text.slice(0, cut)) + s.push(text.slice(cut)) + s.end()]).toEqual([cut, expected]);
    }
    expect(masker.newSession().maskCell('notes', `payload=${text}`)).not.toMatch(leak);
  });

  it.each(CASES.map(([name, text, leak]) => [name, text, leak] as const))('JSON nested in a JSON string (one level decoded by the JSON masker): %s', (_name, text, leak) => {
    const outer = JSON.stringify({ evento: 'pedido', payload: text });
    const s = masker.newSession().jsonStream();
    let out = '';
    for (let i = 0; i < outer.length; i += 5) out += s.push(outer.slice(i, i + 5));
    out += s.end();
    expect((JSON.parse(out) as { payload: string }).payload).not.toMatch(leak);
    expect((masker.newSession().maskJson(JSON.parse(outer)) as { payload: string }).payload).not.toMatch(leak);
  });

  it('the pre-scan never says "no change" for them (their digits are still there)', () => {
    const session = masker.newSession();
    for (const [, text] of CASES) {
      const bytes = Buffer.from(text);
      expect([text, session.textMayChange(bytes), session.cellMayChange('notes', bytes)]).toEqual([text, true, true]);
    }
  });

  it('the fast escape test agrees with the escape pattern on every JSON escape', () => {
    const samples = ['\\/', '\\b', '\\f', '\\n', '\\r', '\\t', '\\"', '\\\\', '\\u002f', '\\ud835\\udfd3', '\\uD835', '\\a', '\\0', '\\', 'a/b', ...CASES.map(([, t]) => t)];
    expect(samples.filter((t) => needsDecoding(t) !== ESCAPE.test(t))).toEqual([]);
  });

  it('leaves text with JSON escapes and no identifier byte for byte (URLs, paths, dates without their keyword, look-alikes)', () => {
    const texts = [
      '{"url":"https:\\/\\/api.exemplo.com.br\\/v1\\/pedidos?page=2&size=20"}', 'C:\\\\temp\\\\new\\\\arquivo.txt', 'linha 1\\nlinha 2\\tcoluna',
      '{"data":"15\\/07\\/2026","versao":"1.2.3"}', '{"doc":"11.222.333\\/0001-82"}', '{"doc":"529.982.247\\/26"}', 'pedido\\n123456',
      'total\\t1.234.567,89', '\\"aspas\\" e \\\\barras\\\\',
    ];
    for (const t of texts) expect(maskText(t)).toBe(t);
  });
});
