// Form bodies read as the policy judges them: every spelling upstreams bind to a JSON body's names.
import { describe, expect, it } from '@jest/globals';
import { compilePolicy } from '../../../core/policy/decide.ts';
import type { AccessPolicy } from '../../../crds/types.ts';
import { fieldPath, isFormType, mergedReadings, readFormBody } from './form-body.ts';

const policy: AccessPolicy = {
  apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'n' },
  spec: {
    podSelector: {}, target: { name: 't', protocol: 'http', endpoint: 'http://u', credentialsSecretRef: { name: 's' } },
    identity: { serviceAccounts: { audiences: ['guarita'] } }, subjects: [{ kind: 'Group', name: 'g' }], purposes: [{ name: 'p' }],
    rules: [
      { name: 'deny-export', match: { http: { methods: ['POST'], paths: ['/orders'], jsonBody: [{ path: 'action', equals: 'export' }] } }, action: 'deny' },
      { name: 'deny-closed', match: { http: { methods: ['POST'], paths: ['/orders'], jsonBody: [{ path: 'filter.status', equals: 'closed' }] } }, action: 'deny' },
      { name: 'deny-pii', match: { http: { methods: ['POST'], paths: ['/reports'], jsonBody: [{ path: 'include_pii', equals: 'true' }] } }, action: 'deny' },
      { name: 'deny-nested-pii', match: { http: { methods: ['POST'], paths: ['/reports'], jsonBody: [{ path: 'include.pii', equals: 'true' }] } }, action: 'deny' },
      { name: 'reports', match: { http: { methods: ['POST'], paths: ['/reports'] } }, action: 'allow' },
      { name: 'orders', match: { http: { methods: ['POST'], paths: ['/orders'] } }, action: 'allow' },
    ],
  },
} as unknown as AccessPolicy;

const compiled = compilePolicy(policy);
/** The rule a form body sent to POST /orders (or /reports, when `reports` is set: then the only field asked for) is judged by. */
function verdict(body: string, type: string, reports?: string): string {
  const form = readFormBody(Buffer.from(body, 'latin1'), type);
  if (!form.ok) return 'refused';
  const path = reports === undefined ? '/orders' : '/reports';
  const d = compiled.evaluate({ identity: { kind: 'User', subject: 'a', groups: ['g'] }, purpose: 'p', command: { protocol: 'http', method: 'POST', path, jsonBody: form.fields } });
  return d.rule ?? d.code;
}

const multipart = (name: string, value: string, extra = ''): string => `--b\r\nContent-Disposition: form-data; ${name}${extra}\r\n\r\n${value}\r\n--b--\r\n`;

describe('form bodies judged as the body', () => {
  it.each([
    ['urlencoded', 'action=export&id=1', 'application/x-www-form-urlencoded'],
    ['unlabelled', 'action=export', ''],
    ['name and value in any case', 'Action=EXPORT', 'application/x-www-form-urlencoded'],
    ['a value with spaces around', 'action=+export+', 'application/x-www-form-urlencoded'],
    ['percent-encoded name', '%61ction=export', 'application/x-www-form-urlencoded'],
    ['leading space in the name (PHP)', '%20action=export', 'application/x-www-form-urlencoded'],
    ['repeated name, export last (PHP, Rails)', 'action=view&action=export', 'application/x-www-form-urlencoded'],
    ['repeated name, export first (ASP.NET)', 'action=export&action=view', 'application/x-www-form-urlencoded'],
    ['array syntax (qs, PHP)', 'action[]=export', 'application/x-www-form-urlencoded'],
    ['indexed array syntax (qs)', 'action[0]=export', 'application/x-www-form-urlencoded'],
    ['bracketed name (Rack, qs)', '[action]=export', 'application/x-www-form-urlencoded'],
    ['multipart', multipart('name="action"', 'export'), 'multipart/form-data; boundary=b'],
    ['multipart, quoted boundary, single-quoted name', multipart("name='action'", 'EXPORT'), 'multipart/form-data; boundary="b"'],
    ['multipart ext-value name (busboy)', multipart("name*=utf-8''%61ction", 'export'), 'multipart/form-data; boundary=b'],
  ])('%s: denied', (_what, body, type) => {
    expect(verdict(body, type)).toBe('deny-export');
  });

  it.each([
    ['nested with brackets (qs, Rack, PHP)', 'filter[status]=closed'],
    ['nested with dots (ASP.NET Core)', 'filter.status=closed'],
    ['nested, any case', 'Filter[Status]=CLOSED'],
  ])('%s: the nested rule sees it', (_what, body) => {
    expect(verdict(body, 'application/x-www-form-urlencoded')).toBe('deny-closed');
  });

  it('ordinary forms and file parts are allowed; a file part named like the field is not a field', () => {
    expect(verdict('action=view&id=1', 'application/x-www-form-urlencoded')).toBe('orders');
    expect(verdict(multipart('name="action"', 'export', '; filename="a.txt"'), 'multipart/form-data; boundary=b')).toBe('orders');
  });

  it('a name that is both a value and an object, or a multipart body without boundary, cannot be judged', () => {
    expect(verdict('filter=1&filter[status]=closed', 'application/x-www-form-urlencoded')).toBe('refused');
    expect(verdict('filter[status]=closed&filter=1', 'application/x-www-form-urlencoded')).toBe('refused');
    expect(verdict(multipart('name="action"', 'export'), 'multipart/form-data')).toBe('refused');
  });

  it('JSON read as a form too: the form fields join the JSON object; a field in both or beside a non-object is refused', () => {
    const form = readFormBody(Buffer.from('{"a":"&action=export&"}'), '');
    expect(form.ok && mergedReadings({ a: '&action=export&' }, form.fields)).toEqual({ ok: true, body: expect.objectContaining({ a: '&action=export&', action: 'export' }) });
    const plain = readFormBody(Buffer.from('{"action":"view","items":[1,[2]]}'), '');
    expect(plain.ok && mergedReadings({ action: 'view' }, plain.fields)).toEqual({ ok: true, body: { action: 'view' } });
    const both = readFormBody(Buffer.from('{"Action":"view&action=export"}'), '');
    expect(both.ok && mergedReadings({ Action: 'view&action=export' }, both.fields).ok).toBe(false);
    const array = readFormBody(Buffer.from('["&action=export"]'), '');
    expect(array.ok && mergedReadings(['&action=export'], array.fields).ok).toBe(false);
  });

  // Round 10b: PHP's name mangling (php_variables.c), filename* parts, boundaries read otherwise.
  it.each([
    ['a dot (PHP: include_pii)', 'include.pii=true'],
    ['a space', 'include%20pii=true'],
    ['a + (a space in a form)', 'include+pii=true'],
    ['an unmatched [', 'include%5Bpii=true'],
    ['an unmatched [ then a dot', 'include%5Bpii=true&x=1'],
    ['a leading space and a dot', '%20include.pii=true'],
    ['the mangled name with an index', 'include.pii[]=true'],
    ['any case', 'INCLUDE.PII=TRUE'],
    ['multipart, a dotted name', multipart('name="include.pii"', 'true')],
  ])('%s: read as PHP registers the name too: denied', (_what, body) => {
    const type = body.startsWith('--b') ? 'multipart/form-data; boundary=b' : 'application/x-www-form-urlencoded';
    expect(verdict(body, type, 'include_pii=true')).toBe('deny-pii');
  });

  it('PHP\'s reading keeps the nested one, and joins a field both give', () => {
    expect(readFormBody(Buffer.from('include.pii=true'), 'application/x-www-form-urlencoded')).toEqual({ ok: true, fields: { include: { pii: 'true' }, include_pii: 'true' } });
    expect(verdict('include[x]=1&include.pii=true', 'application/x-www-form-urlencoded', 'nested')).toBe('deny-pii');
    const form = readFormBody(Buffer.from('include_pii=false&include.pii=true'), 'application/x-www-form-urlencoded');
    expect(form).toEqual({ ok: true, fields: { include_pii: ['false', 'true'], include: { pii: 'true' } } });
    // A value under one reading and an object under the other: refused, naming the field.
    const clash = readFormBody(Buffer.from('a.b=1&a%20b[c]=2'), 'application/x-www-form-urlencoded');
    expect(clash.ok ? '' : clash.problem).toContain('a_b');
    // Ordinary names get no second reading.
    expect(readFormBody(Buffer.from('item[id]=1&tags[]=a&note=a.b'), 'application/x-www-form-urlencoded')).toEqual({ ok: true, fields: { item: { id: '1' }, tags: 'a', note: 'a.b' } });
  });

  it.each([
    ['filename* only (RFC 2231)', "; filename*=UTF-8''a.txt"],
    ['filename* in another case', "; FILENAME*=utf-8''a.txt"],
    ['filename= inside a quoted parameter', '; x="; filename=a.txt"'],
    ['filename= inside the quoted name', ''],
  ])('a part with %s is a field (PHP reads only a plain filename parameter): denied', (what, extra) => {
    const name = what.includes('quoted name') ? 'name="action"; x="a; filename=b"' : 'name="action"';
    expect(verdict(multipart(name, 'export', extra), 'multipart/form-data; boundary=b')).toBe('deny-export');
  });

  it.each([
    ['filename=', '; filename="a.txt"'],
    ['FILENAME= (any case)', '; FILENAME="a.txt"'],
    ['filename= and filename*', "; filename=\"a.txt\"; filename*=UTF-8''a.txt"],
    ['filename= unquoted', '; filename=a.txt'],
  ])('a part with %s is a file: not a field', (_what, extra) => {
    expect(verdict(multipart('name="action"', 'export', extra), 'multipart/form-data; boundary=b')).toBe('orders');
  });

  it.each([
    ['xboundary= before boundary= (PHP finds xboundary)', 'multipart/form-data; xboundary=b; boundary=sc'],
    ['BOUNDARY= then boundary= (PHP: the lower-case one)', 'multipart/form-data; BOUNDARY=sc; boundary=b'],
    ['boundary= twice', 'multipart/form-data; boundary=sc; boundary=b'],
    ['a parameter ending in boundary only', 'multipart/form-data; myboundary=b'],
    ['a parameter holding boundary after it', 'multipart/form-data; boundary=b; boundary_x=1'],
    ['a value PHP cuts at a comma', 'multipart/form-data; boundary=b,c'],
    ['an empty boundary', 'multipart/form-data; boundary='],
  ])('a Content-Type with %s: refused, naming the fix', (_what, type) => {
    const form = readFormBody(Buffer.from(multipart('name="action"', 'export')), type);
    expect(form.ok).toBe(false);
    expect(form.ok ? '' : form.problem).toMatch(/send (one )?(a )?boundary/);
  });

  it.each([
    ['a browser boundary (Chrome)', 'multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW', '----WebKitFormBoundary7MA4YWxkTrZu0gW'],
    ['a quoted boundary holding boundary', 'multipart/form-data; boundary="my boundary"', 'my boundary'],
    ['a charset beside it', 'multipart/form-data; charset=utf-8; boundary=b', 'b'],
  ])('%s is read', (_what, type, boundary) => {
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="action"\r\n\r\nexport\r\n--${boundary}--\r\n`;
    expect(verdict(body, type)).toBe('deny-export');
  });

  it('form types and field paths', () => {
    expect(['', 'application/x-www-form-urlencoded; charset=utf-8', 'multipart/form-data; boundary=x', 'multipart/mixed'].every(isFormType)).toBe(true);
    expect(['application/json', 'text/plain'].some(isFormType)).toBe(false);
    expect(fieldPath(' [a][b].c[]')).toEqual(['a', 'b', 'c']);
    expect(fieldPath('a\0b')).toEqual(['a']);
  });
});
