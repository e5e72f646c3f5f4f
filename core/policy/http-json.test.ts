import { describe, expect, it } from '@jest/globals';
import { readJsonBody, repeatedKey } from './http-json.ts';

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
    expect(read('{not json', false)).toEqual({ ok: true, json: undefined });
    expect(read('', true)).toEqual({ ok: true, json: undefined });
  });

  it('finds no repeated key where there is none', () => {
    expect(repeatedKey('{"a":[1,{"a":2}],"b":{"a":3}}')).toBeUndefined();
  });
});
