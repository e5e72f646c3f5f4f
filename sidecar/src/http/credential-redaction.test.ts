// The target credential in every encoding an echo could carry it in, whole and split over chunks.
import { describe, expect, it } from '@jest/globals';
import { CREDENTIAL_MARKER, CredentialRedactor, redactedWhole } from './credential-redaction.ts';

const TOKEN = 'eyJhbGciOi.J9+abc/def=';
const redactor = CredentialRedactor.of([TOKEN]) as CredentialRedactor;

/** Every spelling of the token an echo could use (JSON, URL, HTML, base64 at each offset, hex, case). */
function spellings(token: string): [string, string][] {
  const pct = (t: string): string => [...Buffer.from(t)].map((b) => `%${b.toString(16)}`).join('');
  return [
    ['raw', token],
    ['upper-cased', token.toUpperCase()],
    ['JSON \\/ (PHP)', token.replace(/\//g, '\\/')],
    ['JSON \\u escapes', [...token].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')],
    ['encodeURIComponent', encodeURIComponent(token)],
    ['every byte percent-encoded, lower hex', pct(token)],
    ['form encoding', new URLSearchParams({ a: token }).toString().slice(2)],
    ['HTML decimal references', [...token].map((c) => `&#${c.charCodeAt(0)};`).join('')],
    ['HTML hex references with zeros', [...token].map((c) => `&#x00${c.charCodeAt(0).toString(16)};`).join('')],
    ['base64 of Authorization: Bearer <token>', Buffer.from(`Authorization: Bearer ${token}`).toString('base64')],
    ['base64 at offset 1', Buffer.from(`x${token}`).toString('base64')],
    ['base64 at offset 2', Buffer.from(`xy${token}`).toString('base64')],
    ['base64url', Buffer.from(`xy${token}`).toString('base64url')],
    ['hex', Buffer.from(token).toString('hex')],
    ['HEX', Buffer.from(token).toString('hex').toUpperCase()],
    ['base64 then JSON-escaped', Buffer.from(token).toString('base64').replace(/\//g, '\\/')],
  ];
}

/** Whether `out` still holds the token in any of the spellings. */
const leaks = (out: string): string[] => spellings(TOKEN).filter(([, s]) => out.includes(s.length > 12 ? s.slice(2, -2) : s)).map(([w]) => w);

describe('CredentialRedactor', () => {
  it.each(spellings(TOKEN))('redacts the token %s, in text and bytes', (_what, spelled) => {
    const text = `{"echo":"${spelled}"}`;
    expect(redactor.text(text)).toContain(CREDENTIAL_MARKER);
    expect(leaks(redactor.text(text))).toEqual([]);
    expect(redactor.bytes(Buffer.from(text)).toString()).toContain(CREDENTIAL_MARKER);
  });

  it('redacts UTF-16 (LE and BE) bytes', () => {
    const le = Buffer.concat([Buffer.from('\x00\x01'), Buffer.from(TOKEN, 'utf16le')]);
    expect(redactor.bytes(le).toString('latin1')).toContain(CREDENTIAL_MARKER);
    const be = Buffer.from(TOKEN, 'utf16le').swap16();
    expect(redactor.bytes(be).toString('latin1')).toContain(CREDENTIAL_MARKER);
  });

  it.each(spellings(TOKEN))('finds the token %s split over two chunks at every cut, and holds back no more than it must', (_what, spelled) => {
    const body = Buffer.from(`before ${spelled} after`);
    for (let cut = 1; cut < body.length; cut++) {
      const stream = redactor.stream(1024);
      const out = Buffer.concat([stream.push(body.subarray(0, cut)), stream.push(body.subarray(cut)), stream.end()]).toString();
      expect(out).toContain(CREDENTIAL_MARKER);
      expect(leaks(out)).toEqual([]);
      expect(stream.sample().sample).toBe(out);
    }
  });

  it('streams text with no credential on at once (no hold-back when no form can start at the end)', () => {
    const stream = redactor.stream(1024);
    expect(stream.push(Buffer.from('{"items":[1,2,3]}')).toString()).toBe('{"items":[1,2,3]}');
    expect(stream.end().length).toBe(0);
  });

  it('headers: values redacted, a header named by the credential dropped; no credential: undefined redactor', () => {
    expect(redactor.headers({ 'x-echo': `Bearer ${TOKEN}`, 'set-cookie': [`s=${Buffer.from(TOKEN).toString('base64')}`, 'plain=1'], [`x-${TOKEN.slice(0, 10).toLowerCase()}`]: '1' }))
      .toEqual({ 'x-echo': `Bearer ${CREDENTIAL_MARKER}`, 'set-cookie': [expect.stringContaining(CREDENTIAL_MARKER), 'plain=1'], [`x-${TOKEN.slice(0, 10).toLowerCase()}`]: '1' });
    expect(CredentialRedactor.of([undefined, ' '])).toBeUndefined();
  });

  it('whole bodies: the sample is of the redacted bytes, cut as the pipeline cuts it', () => {
    const { bytes, sample } = redactedWhole(redactor, Buffer.from(`a ${TOKEN} b`), 4);
    expect(bytes.toString()).toBe(`a ${CREDENTIAL_MARKER} b`);
    expect(sample).toEqual({ sample: `a ${CREDENTIAL_MARKER.slice(0, 6)}`, truncated: true });
  });

  it('a sample cut inside the credential keeps none of it', () => {
    const stream = redactor.stream(8);
    stream.push(Buffer.from(`12345 ${TOKEN}`));
    stream.end();
    expect(stream.sample().sample).not.toContain(TOKEN.slice(0, 4));
  });
});
