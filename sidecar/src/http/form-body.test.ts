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
      { name: 'orders', match: { http: { methods: ['POST'], paths: ['/orders'] } }, action: 'allow' },
    ],
  },
} as unknown as AccessPolicy;

const compiled = compilePolicy(policy);
function verdict(body: string, type: string): string {
  const form = readFormBody(Buffer.from(body, 'latin1'), type);
  if (!form.ok) return 'refused';
  const d = compiled.evaluate({ identity: { kind: 'User', subject: 'a', groups: ['g'] }, purpose: 'p', command: { protocol: 'http', method: 'POST', path: '/orders', jsonBody: form.fields } });
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

  it('form types and field paths', () => {
    expect(['', 'application/x-www-form-urlencoded; charset=utf-8', 'multipart/form-data; boundary=x', 'multipart/mixed'].every(isFormType)).toBe(true);
    expect(['application/json', 'text/plain'].some(isFormType)).toBe(false);
    expect(fieldPath(' [a][b].c[]')).toEqual(['a', 'b', 'c']);
    expect(fieldPath('a\0b')).toEqual(['a']);
  });
});
