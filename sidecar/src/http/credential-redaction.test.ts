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

// Round 10b: HTML5 named references (PHP's htmlentities with ENT_HTML5), and a long credential
// (a signed JWT is over a kilobyte) found wherever it is in large bodies, in any chunking.
describe('CredentialRedactor: HTML5 named references', () => {
  /** Every ASCII punctuation character, so each has its HTML5 names spelled. */
  const PUNCT = 'tok.en_a/b+c=d:e-f!g#h$i%j&k(l)m*n,o;p?q@r[s\\t]u^v`w{x|y}z~\'"<>';
  const punct = CredentialRedactor.of([PUNCT]) as CredentialRedactor;
  const NAMES: Record<string, string[]> = {
    '.': ['&period;'], _: ['&lowbar;', '&UnderBar;'], '/': ['&sol;'], '+': ['&plus;'], '=': ['&equals;'], ':': ['&colon;'], '!': ['&excl;'], '#': ['&num;'],
    $: ['&dollar;'], '%': ['&percnt;'], '&': ['&amp;', '&AMP;'], '(': ['&lpar;'], ')': ['&rpar;'], '*': ['&ast;', '&midast;'], ',': ['&comma;'], ';': ['&semi;'],
    '?': ['&quest;'], '@': ['&commat;'], '[': ['&lsqb;', '&lbrack;'], '\\': ['&bsol;'], ']': ['&rsqb;', '&rbrack;'], '^': ['&Hat;'], '`': ['&grave;', '&DiacriticalGrave;'],
    '{': ['&lcub;', '&lbrace;'], '|': ['&verbar;', '&vert;', '&VerticalLine;'], '}': ['&rcub;', '&rbrace;'], "'": ['&apos;'], '"': ['&quot;', '&QUOT;'], '<': ['&lt;', '&LT;'], '>': ['&gt;', '&GT;'],
  };
  /** The token with each punctuation character as its `which`-th name (the last when it has fewer). */
  const named = (which: number): string => [...PUNCT].map((c) => { const n = NAMES[c]; return n === undefined ? c : n[Math.min(which, n.length - 1)] ?? c; }).join('');

  it.each([0, 1, 2])('names set %i, whole and mixed with other escapes', (which) => {
    const spelled = named(which);
    expect(punct.text(`<p>${spelled}</p>`)).toBe(`<p>${CREDENTIAL_MARKER}</p>`);
    const mixed = spelled.replace('&period;', '&#46;').replace('tok', 't%6Fk').replace('&colon;', '\\u003a');
    expect(punct.text(`<p>${mixed}</p>`)).toBe(`<p>${CREDENTIAL_MARKER}</p>`);
  });

  it('PHP htmlentities(ENT_QUOTES|ENT_HTML5) of a JWT, split at every cut and in 1- to 3-byte chunks', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaWRlY2FyIn0.Xk3_-q9Zt0vW';
    const r = CredentialRedactor.of([jwt]) as CredentialRedactor;
    const page = Buffer.from(`<p>Authorization: Bearer ${jwt.replace(/\./g, '&period;').replace(/_/g, '&lowbar;')}</p>`);
    for (const size of [1, 2, 3]) {
      for (let cut = 1; cut < page.length; cut += 1) {
        const s = r.stream(1 << 16);
        const parts = [s.push(page.subarray(0, cut))];
        for (let i = cut; i < page.length; i += size) parts.push(s.push(page.subarray(i, i + size)));
        parts.push(s.end());
        expect(Buffer.concat(parts).toString()).toBe(`<p>Authorization: Bearer ${CREDENTIAL_MARKER}</p>`);
      }
    }
  });
});

describe('CredentialRedactor: a long credential in large bodies (correctness only; credential-redaction.bench.ts measures the cost)', () => {
  const signature = Buffer.from(Array.from({ length: 900 }, (_v, i) => (i * 151 + 17) % 256)).toString('base64url');
  const JWT = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdmMifQ.${signature}`;
  const r = CredentialRedactor.of([JWT]) as CredentialRedactor;
  const through = (body: Buffer, chunk: number): string => {
    const s = r.stream(1024);
    const parts: Buffer[] = [];
    for (let i = 0; i < body.length; i += chunk) parts.push(s.push(body.subarray(i, i + chunk)));
    parts.push(s.end());
    return Buffer.concat(parts).toString('latin1');
  };
  const pct = (t: string): string => [...Buffer.from(t)].map((b) => `%${b.toString(16)}`).join('');

  it.each([
    ['its prefix repeated', JWT.slice(0, -1)],
    ['its percent-encoded prefix repeated', pct(JWT.slice(0, -1))],
    ['its first 8 characters repeated', JWT.slice(0, 8)],
    ['an escape of its first character repeated', '&#x0065;'],
  ])('after 512 KiB of %s, the credential in every form is found, and nothing else changes', (_what, unit) => {
    const filler = `${unit} `.repeat(Math.ceil((512 * 1024) / (unit.length + 1)));
    for (const spelled of [JWT, pct(JWT), Buffer.from(`Bearer ${JWT}`).toString('base64'), JWT.replace(/\./g, '&period;').replace(/_/g, '&lowbar;')]) {
      const body = Buffer.from(`${filler}|${spelled}|${filler}`, 'latin1');
      for (const chunk of [16 * 1024, 65_521]) {
        const out = through(body, chunk);
        expect(out).toBe(`${filler}|${out.slice(filler.length + 1, -filler.length - 1)}|${filler}`);
        expect(out.slice(filler.length + 1, -filler.length - 1)).toContain(CREDENTIAL_MARKER);
      }
      expect(r.bytes(body).toString('latin1')).toBe(through(body, 16 * 1024));
    }
  });

  it('holds back at most longestMatch - 1 bytes, and none after text that cannot start a match', () => {
    const s = r.stream(1024);
    expect(s.push(Buffer.from(JWT.slice(0, -1))).length).toBe(0);
    expect(s.push(Buffer.from('!')).toString()).toBe(`${JWT.slice(0, -1)}!`);
    const long = Buffer.from('x'.repeat(r.longestMatch * 2));
    expect(s.push(long).length).toBe(long.length);
  });
});
