import { describe, expect, it } from '@jest/globals';
import { firstSignificant, foldCase, isJsonLabel, jsonEncoding, readJsonBody, repeatedKey } from './http-json.ts';

const read = (text: string | Buffer, labelled = true): ReturnType<typeof readJsonBody> => readJsonBody(Buffer.isBuffer(text) ? text : Buffer.from(text), labelled);

describe('request bodies judged as JSON (match.http.jsonBody)', () => {
  it.each([
    ['an object', '{"action":"view","items":[{"id":1},{"id":2}]}'],
    ['the same key in sibling objects', '{"a":{"id":1},"b":{"id":2},"c":[{"id":1},{"id":2}]}'],
    ['keys that look alike inside strings', '{"note":"\\"action\\": 1, \\"action\\": 2","action":"view"}'],
    ['an array of scalars', '[1,"a",null]'],
  ])('reads %s', (_what, text) => {
    expect(read(text)).toEqual({ ok: true, json: JSON.parse(text) });
  });

  it.each([
    ['a repeated key', '{"action":"export","action":"view"}', /key action appears twice/],
    ['a repeated key in a nested object', '{"filter":{"status":"x","status":"y"}}', /key filter\.status appears twice/],
    ['a key repeated through an escape', '{"action":"export","\\u0061ction":"view"}', /key action appears twice/],
    ['keys equal but for case (ASP.NET binds them as one)', '{"action":"view","Action":"export"}', /key action\/Action appears twice/],
    ['a repeated key inside an array element', '{"items":[{"id":1,"id":2}]}', /key items\.id appears twice/],
    ['comments', '{"action":"view" /* "action":"export" */}', /not strict JSON/],
    ['a trailing comma', '{"action":"view",}', /not strict JSON/],
    ['single quotes', "{'action':'export'}", /not strict JSON/],
    ['a byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"action":"export"}')]), /byte-order mark/],
    ['UTF-16', Buffer.from('{"action":"export"}', 'utf16le'), /not strict JSON|not UTF-8/],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /not UTF-8/],
  ])('refuses a body labelled JSON with %s', (_what, text, problem) => {
    const r = read(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(problem);
  });

  it('judges a JSON object under another label as JSON (handlers that decode any body), and refuses its repeated keys', () => {
    expect(read('{"action":"export"}', false)).toEqual({ ok: true, json: { action: 'export' } });
    expect(read('  [{"action":"export"}]', false)).toEqual({ ok: true, json: [{ action: 'export' }] });
    expect(read('{"action":"view","action":"export"}', false)).toMatchObject({ ok: false });
  });

  it('leaves other bodies under other labels unjudged as JSON', () => {
    expect(read('action=export', false)).toEqual({ ok: true, json: undefined });
    expect(read('plain text with {"action":"export"} inside', false)).toEqual({ ok: true, json: undefined });
    expect(read('"a JSON string"', false)).toEqual({ ok: true, json: undefined });
    expect(read(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), false)).toEqual({ ok: true, json: undefined });
    expect(read(' \n\t ', false)).toEqual({ ok: true, json: undefined });
    // Text that starts with a bracket but that no JSON reader (JSON5, Json.NET, Python) takes as JSON.
    for (const text of ['[INFO] an order was exported', '{name} was exported', '{{template}}', '/* a comment */ plain text', '// note\n[INFO] x', Buffer.from('[INFO] é', 'utf16le')]) {
      expect([String(text), read(text, false)]).toEqual([String(text), { ok: true, json: undefined }]);
    }
    expect(read('', true)).toEqual({ ok: true, json: undefined });
  });
});

describe('bodies under another label (or none) that a lenient reader takes as JSON', () => {
  const doc = '{"action":"export"}';
  const bom8 = Buffer.from([0xef, 0xbb, 0xbf]);
  const utf16be = (t: string): Buffer => Buffer.from(t, 'utf16le').swap16();
  const utf32 = (t: string, le: boolean): Buffer => Buffer.concat([...t].map((c) => {
    const b = Buffer.alloc(4);
    if (le) b.writeUInt32LE(c.codePointAt(0) ?? 0);
    else b.writeUInt32BE(c.codePointAt(0) ?? 0);
    return b;
  }));

  it.each([
    ['64 spaces first (past the old 64-byte window)', `${' '.repeat(64)}${doc}`],
    ['100 newlines first', `${'\n'.repeat(100)}${doc}`],
    ['a megabyte of tabs and carriage returns first', `${'\t\r'.repeat(512 * 1024)}${doc}`],
    ['an array after whitespace', `\r\n [${doc}]`],
  ])('judges %s as the JSON it is', (_what, text) => {
    expect(read(text, false)).toEqual({ ok: true, json: JSON.parse(text) });
  });

  it.each([
    ['a UTF-8 byte-order mark (json.loads(bytes), System.Text.Json skip it)', Buffer.concat([bom8, Buffer.from(doc)]), /byte-order mark/],
    ['a UTF-8 byte-order mark, then whitespace', Buffer.concat([bom8, Buffer.from(`\n  ${doc}`)]), /byte-order mark/],
    ['UTF-16LE without a mark (told by its NULs)', Buffer.from(doc, 'utf16le'), /UTF-16LE/],
    ['UTF-16LE with a mark', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(doc, 'utf16le')]), /UTF-16LE/],
    ['UTF-16BE without a mark', utf16be(doc), /UTF-16BE/],
    ['UTF-16BE with a mark', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(doc)]), /UTF-16BE/],
    ['UTF-16LE after whitespace', Buffer.from(`   \n${doc}`, 'utf16le'), /UTF-16LE/],
    ['UTF-32LE without a mark', utf32(doc, true), /UTF-32LE/],
    ['UTF-32LE with a mark', Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), utf32(doc, true)]), /UTF-32LE/],
    ['UTF-32BE without a mark', utf32(doc, false), /UTF-32BE/],
    ['UTF-32BE with a mark', Buffer.concat([Buffer.from([0, 0, 0xfe, 0xff]), utf32(doc, false)]), /UTF-32BE/],
    ['whitespace JSON does not allow (form feed, no-break space: Json.NET skips any)', `\f\u00a0${doc}`, /not strict JSON/],
    ['a repeated key', '{"action":"view","action":"export"}', /key action appears twice/],
    ['a comment', '{"action":"view" /* x */}', /not strict JSON/],
    ['a trailing comma', '[1,2,]', /not strict JSON/],
    ['single quotes', "{'action':'export'}", /not strict JSON/],
    ['NaN (Python\'s json.loads reads it)', '{"action":"export","n":NaN}', /not strict JSON/],
    ['trailing text after the object (Go\'s json.Decoder and gin read the first value)', '{"action":"export"} trailing', /not strict JSON/],
    ['a second value after the object', '{"action":"export"}{"action":"view"}', /not strict JSON/],
    ['a stray bracket after the array', '[{"action":"export"}]]', /not strict JSON/],
    ['an array of one number, then text', '[1] first item', /not strict JSON/],
    ['a block comment before the object (JSON5, Json.NET)', '/* c */{"action":"export"}', /not strict JSON/],
    ['a line comment before the object', '// c\n{"action":"export"}', /not strict JSON/],
    ['a comment holding brackets, then trailing text', '{"a":"}" /* ] */} and more', /not strict JSON/],
    ['unquoted keys (Json.NET, JSON5)', '{action:"export"}', /not strict JSON/],
    ['invalid UTF-8 after {', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /not UTF-8/],
  ])('refuses %s, rather than leaving it unjudged', (_what, body, problem) => {
    const r = read(body, false);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(/starts like JSON/);
    if (!r.ok) expect(r.problem).toMatch(problem);
  });

  it('refuses keys that fold onto another (Go folds the long s and the Kelvin sign) and integers JSON.parse rounds', () => {
    expect(read('{"status":"open","ſtatus":"cancelled"}', true)).toMatchObject({ ok: false, problem: expect.stringMatching(/appears twice/) });
    expect(read('{"kind":"a","\u212Aind":"b"}', true)).toMatchObject({ ok: false, problem: expect.stringMatching(/appears twice/) });
    expect(foldCase('ſtatus')).toBe(foldCase('STATUS'));
    expect(read('{"customer_id":1234567890123456789}', true)).toMatchObject({ ok: false, problem: expect.stringMatching(/1234567890123456789 is beyond/) });
    expect(read('{"customer_id":-9007199254740993}', true)).toMatchObject({ ok: false });
    // Safe integers, long digit runs in strings, and decimals stay judged.
    expect(read('{"customer_id":9007199254740991,"note":"12345678901234567890","x":1.2345678901234567}', true)).toMatchObject({ ok: true });
  });

  it('tells the encoding as json.detect_encoding does', () => {
    expect(jsonEncoding(Buffer.from('{}'))).toEqual({ encoding: 'utf-8', bom: 0 });
    expect(jsonEncoding(Buffer.concat([bom8, Buffer.from('{}')]))).toEqual({ encoding: 'utf-8', bom: 3 });
    expect(jsonEncoding(Buffer.from('{', 'utf16le'))).toEqual({ encoding: 'utf-16le', bom: 0 });
    expect(jsonEncoding(utf16be('{'))).toEqual({ encoding: 'utf-16be', bom: 0 });
    expect(jsonEncoding(Buffer.from([0x7b, 0, 0x7d, 0]))).toEqual({ encoding: 'utf-16le', bom: 0 });
    expect(jsonEncoding(Buffer.from([0x7b, 0, 0, 0]))).toEqual({ encoding: 'utf-32le', bom: 0 });
    expect(jsonEncoding(Buffer.from([0, 0, 0, 0x7b]))).toEqual({ encoding: 'utf-32be', bom: 0 });
    expect(jsonEncoding(Buffer.from([0xff, 0xfe, 0, 0]))).toEqual({ encoding: 'utf-32le', bom: 4 });
    expect(jsonEncoding(Buffer.from([0xff, 0xfe, 0x7b, 0]))).toEqual({ encoding: 'utf-16le', bom: 2 });
  });

  it('finds the first significant character across scan steps and split characters', () => {
    expect(firstSignificant(Buffer.from(`${' '.repeat(4095)}\u00e9`))).toBe('\u00e9');
    expect(firstSignificant(Buffer.from(`${' '.repeat(10_000)}[`, 'utf16le'))).toBe('[');
    expect(firstSignificant(Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), utf32(`${'\u3000'.repeat(5000)}{`, true)]))).toBe('{');
    expect(firstSignificant(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${'\u2028\u00a0'.repeat(3000)}[`)]))).toBe('[');
    expect(firstSignificant(Buffer.from('   '))).toBeUndefined();
  });

  it('takes every label frameworks bind as JSON as a JSON label, with parameters and in any case', () => {
    for (const label of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'text/json', 'text/json;charset=utf-8', 'application/problem+json',
      'application/+json', 'application/vnd.api+json; ext=x', 'application/merge-patch+json', 'application/x-json', 'text/x-json', 'application/json-seq', 'application/json;']) {
      expect([label, isJsonLabel(label)]).toEqual([label, true]);
    }
    for (const label of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/jsonl', 'application/octet-stream', '', undefined]) {
      expect([label, isJsonLabel(label)]).toEqual([label, false]);
    }
  });

  it('finds no repeated key where there is none', () => {
    expect(repeatedKey('{"a":[1,{"a":2}],"b":{"a":3}}')).toBeUndefined();
  });
});
