// Round 5 review of the HTTP listener's masking paths (eea1a2c: a whole strict-UTF-8 body of
// declared length up to 256 KiB masked in one pass; 0e97c31: Content-Type set again from its parsed
// value, masked once). An upstream (or whoever controls its answers) picks the framing, labels and
// encodings of an answer; none of them may carry an identifier to the agent unmasked. Through the
// real listener (the sidecar in-process, as main.ts starts it, on the harness apiserver and IdP)
// from a raw upstream: every Content-Type and charset spelling, byte-order marks, UTF-16 labelled
// and mislabelled, invalid and overlong UTF-8, a Content-Length that lies either way, chunked
// answers with the identifier cut across chunks, bodies at and around the 256 KiB whole-body
// limit, content-encodings (gzip, br, identity, stacked, unknown), HEAD/204/304 and 1xx heads
// carrying identifiers. Each answer is read as raw bytes by a raw agent: it is a masked 200 or a
// 502 naming why, and no form of the identifier (formatted, digits, UTF-16) is in any byte.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { dechunk, rawExchange, startInProcessHttpSidecar } from './support.ts';

jest.setTimeout(120_000);

const ns = `sc-maskpaths-${suffix()}`;
const PURPOSE = 'customer-support';
const CPF = '590.830.166-33';
const CPF_DIGITS = '59083016633';
const WHOLE_LIMIT = 256 * 1024;
const JSON_ANSWER = `{"cliente":{"nome":"Larissa","cpf":"${CPF}"},"nota":"cpf ${CPF_DIGITS}"}`;
const TEXT_ANSWER = `Cliente Larissa, CPF ${CPF}, documento ${CPF_DIGITS}, pedido pago.`;

/** Every way the identifier could show in the agent's bytes: as printed, as digits, in UTF-16 either way. */
const FORMS = [CPF, CPF_DIGITS].flatMap((v) => [Buffer.from(v, 'latin1'), Buffer.from(v, 'utf16le'), Buffer.from(v, 'utf16le').swap16()]);

interface Script { parts: Buffer[] }
const head = (status: string, headers: Record<string, string | number>): Buffer =>
  Buffer.from(`HTTP/1.1 ${status}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}connection: close\r\n\r\n`, 'latin1');
const sized = (type: string | undefined, body: Buffer, extra: Record<string, string> = {}): Script =>
  ({ parts: [head('200 OK', { ...(type === undefined ? {} : { 'content-type': type }), 'content-length': body.length, ...extra }), body] });
const chunk = (b: Buffer): Buffer => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
const chunked = (type: string, pieces: Buffer[]): Script =>
  ({ parts: [head('200 OK', { 'content-type': type, 'transfer-encoding': 'chunked' }), ...pieces.map(chunk), Buffer.from('0\r\n\r\n')] });
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const BOM8 = Buffer.from([0xef, 0xbb, 0xbf]);
const BOM16LE = Buffer.from([0xff, 0xfe]);
const BOM16BE = Buffer.from([0xfe, 0xff]);
const utf16be = (s: string): Buffer => Buffer.from(s, 'utf16le').swap16();
/** A text body of exactly `size` bytes ending with the identifier (the last bytes the one-pass limit looks at). */
const padded = (size: number, tail = ` CPF ${CPF}`): Buffer => Buffer.concat([Buffer.alloc(size - Buffer.byteLength(tail), 'a'), utf8(tail)]);

const SCRIPTS: Record<string, Script> = {
  // Content-Type and charset spellings the one-pass path and the pipeline must read alike.
  '/ct/json-utf8': sized('application/json; charset=utf-8', utf8(JSON_ANSWER)),
  '/ct/json-UTF8': sized('application/json; charset=UTF8', utf8(JSON_ANSWER)),
  '/ct/json-quoted': sized('application/json;charset="UTF-8"', utf8(JSON_ANSWER)),
  '/ct/json-spaced': sized('application/json ; charset = utf-8', utf8(JSON_ANSWER)),
  '/ct/json-upper': sized('APPLICATION/JSON', utf8(JSON_ANSWER)),
  '/ct/problem': sized('application/problem+json', utf8(JSON_ANSWER)),
  '/ct/vendor': sized('application/vnd.api+json; charset=utf-8', utf8(JSON_ANSWER)),
  '/ct/absent': sized(undefined, utf8(TEXT_ANSWER)),
  '/ct/empty': sized('', utf8(TEXT_ANSWER)),
  '/ct/text-latin1': sized('text/plain; charset=latin1', Buffer.from(`Atenção: ${TEXT_ANSWER}`, 'latin1')),
  '/ct/text-iso': sized('text/plain; charset=ISO-8859-1', Buffer.from(`Atenção: ${TEXT_ANSWER}`, 'latin1')),
  '/ct/text-utf16': sized('text/plain; charset=utf-16', Buffer.from(TEXT_ANSWER, 'utf16le')),
  '/ct/text-utf16le': sized('text/plain; charset=utf-16le', Buffer.from(TEXT_ANSWER, 'utf16le')),
  '/ct/text-utf16be': sized('text/plain; charset=utf-16be', utf16be(TEXT_ANSWER)),
  '/ct/json-utf16-bom': sized('application/json; charset=utf-16', Buffer.concat([BOM16LE, Buffer.from(JSON_ANSWER, 'utf16le')])),
  '/ct/json-two-charsets': sized('application/json; charset=utf-8; charset=utf-16le', utf8(JSON_ANSWER)),
  '/ct/json-bogus-charset': sized('application/json; charset=x-no-such', utf8(JSON_ANSWER)),
  '/ct/two-types': { parts: [head('200 OK', { 'content-type': 'image/png', 'Content-Type': 'application/json', 'content-length': Buffer.byteLength(JSON_ANSWER) }), utf8(JSON_ANSWER)] },
  // Byte-order marks: one that contradicts the label switches the decoding (never passed as UTF-8 bytes).
  '/bom/utf8': sized('application/json; charset=utf-8', Buffer.concat([BOM8, utf8(JSON_ANSWER)])),
  '/bom/utf16le-labelled-utf8': sized('text/plain; charset=utf-8', Buffer.concat([BOM16LE, Buffer.from(TEXT_ANSWER, 'utf16le')])),
  '/bom/utf16be-labelled-utf8': sized('text/plain; charset=utf-8', Buffer.concat([BOM16BE, utf16be(TEXT_ANSWER)])),
  '/bom/utf16le-unlabelled': sized(undefined, Buffer.concat([BOM16LE, Buffer.from(TEXT_ANSWER, 'utf16le')])),
  '/bom/utf16le-json': sized('application/json', Buffer.concat([BOM16LE, Buffer.from(JSON_ANSWER, 'utf16le')])),
  '/utf16-no-bom-labelled-utf8': sized('text/plain; charset=utf-8', Buffer.from(TEXT_ANSWER, 'utf16le')),
  // Not strict UTF-8: the pipeline's path (U+FFFD), never the bytes as sent.
  '/invalid/ff-between': sized('text/plain', Buffer.concat([utf8(`CPF ${CPF} `), Buffer.from([0xff]), utf8(` ${CPF_DIGITS}`)])),
  '/invalid/overlong-dot': sized('text/plain', Buffer.concat([utf8('CPF 590'), Buffer.from([0xc0, 0xae]), utf8('830.166-33 e 59083016633')])),
  '/invalid/cut-multibyte': sized('application/json', Buffer.concat([utf8(JSON_ANSWER.slice(0, -2)), Buffer.from([0xe2, 0x82]), utf8('"}')])),
  '/invalid/surrogate': sized('text/plain', Buffer.concat([utf8(`${CPF} `), Buffer.from([0xed, 0xa0, 0x80]), utf8(` ${CPF_DIGITS}`)])),
  // Framing: a Content-Length that lies, chunked answers with the identifier cut across chunks.
  '/cl/shorter': { parts: [head('200 OK', { 'content-type': 'text/plain', 'content-length': 40 }), utf8(TEXT_ANSWER)] },
  '/cl/longer-then-close': { parts: [head('200 OK', { 'content-type': 'text/plain', 'content-length': 4000 }), utf8(TEXT_ANSWER)] },
  '/cl/two-values': { parts: [head('200 OK', { 'content-type': 'text/plain', 'content-length': `${Buffer.byteLength(TEXT_ANSWER)}, ${Buffer.byteLength(TEXT_ANSWER)}` }), utf8(TEXT_ANSWER)] },
  '/cl/and-chunked': { parts: [head('200 OK', { 'content-type': 'text/plain', 'content-length': 5, 'transfer-encoding': 'chunked' }), chunk(utf8(TEXT_ANSWER)), Buffer.from('0\r\n\r\n')] },
  '/chunked/split-digits': chunked('application/json', [utf8('{"nota":"cpf 5908'), utf8('301'), utf8('6633","cpf":"590.'), utf8('830.166-33"}')]),
  '/chunked/split-utf8': chunked('text/plain', [Buffer.concat([utf8('Aten'), Buffer.from([0xc3])]), Buffer.concat([Buffer.from([0xa7]), utf8(`ão CPF ${CPF.slice(0, 5)}`)]), utf8(`${CPF.slice(5)} fim`)]),
  '/chunked/bom-split': chunked('text/plain; charset=utf-8', [Buffer.from([0xff]), Buffer.concat([Buffer.from([0xfe]), Buffer.from(TEXT_ANSWER, 'utf16le')])]),
  // Around the whole-body limit: one byte under, at, over; the identifier at the very end.
  '/size/under': sized('text/plain', padded(WHOLE_LIMIT - 1)),
  '/size/at': sized('text/plain', padded(WHOLE_LIMIT)),
  '/size/over': sized('text/plain', padded(WHOLE_LIMIT + 1)),
  '/size/at-json': sized('application/json', utf8(JSON.stringify({ pad: 'a'.repeat(WHOLE_LIMIT - 60), cpf: CPF })).subarray(0)),
  // Content-encodings: decoded and masked, or refused.
  '/enc/gzip': sized('application/json', gzipSync(utf8(JSON_ANSWER)), { 'content-encoding': 'gzip' }),
  '/enc/br': sized('text/plain', brotliCompressSync(utf8(TEXT_ANSWER)), { 'content-encoding': 'br' }),
  '/enc/identity': sized('application/json', utf8(JSON_ANSWER), { 'content-encoding': 'identity' }),
  '/enc/GZIP-upper': sized('application/json', gzipSync(utf8(JSON_ANSWER)), { 'content-encoding': 'GZIP' }),
  '/enc/stacked': sized('application/json', gzipSync(gzipSync(utf8(JSON_ANSWER))), { 'content-encoding': 'gzip, gzip' }),
  '/enc/unknown': sized('application/json', utf8(JSON_ANSWER), { 'content-encoding': 'x-custom' }),
  '/enc/gzip-lying-utf8': sized('text/plain; charset=utf-8', gzipSync(Buffer.from(TEXT_ANSWER, 'utf16le')), { 'content-encoding': 'gzip' }),
  '/enc/gzip-binary-label': sized('application/octet-stream', gzipSync(utf8(JSON_ANSWER)), { 'content-encoding': 'gzip' }),
  // Answers without a body, whose heads carry the identifier.
  '/nobody/204': { parts: [head('204 No Content', { 'x-cliente': CPF, link: `</c/${CPF_DIGITS}>` })] },
  '/nobody/304': { parts: [head('304 Not Modified', { etag: `"${CPF_DIGITS}"`, 'x-cliente': CPF })] },
  '/nobody/head': { parts: [head('200 OK', { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_ANSWER), 'x-cliente': CPF })] },
  // A 103 whose headers name the identifier, before an answer that carries it too.
  '/interim/hints-then-text': { parts: [utf8(`HTTP/1.1 103 Early Hints\r\nlink: </c/${CPF_DIGITS}>\r\nx-cliente: ${CPF}\r\n\r\n`), head('200 OK', { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(TEXT_ANSWER) }), utf8(TEXT_ANSWER)] },
  '/interim/hints-with-body': { parts: [utf8(`HTTP/1.1 103 Early Hints\r\ncontent-length: ${CPF.length}\r\n\r\n${CPF}`), head('200 OK', { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(TEXT_ANSWER) }), utf8(TEXT_ANSWER)] },
  '/interim/continue-then-204': { parts: [utf8(`HTTP/1.1 100 Continue\r\nx-cliente: ${CPF}\r\n\r\n`), head('204 No Content', { 'x-cliente': CPF })] },
  // Identifiers in the Content-Type's own parameters, on each masking path (one pass, unchanged body, pipeline, binary).
  '/ct/param-masked': sized(`application/json; charset=utf-8; profile="/c/${CPF_DIGITS}"`, utf8(JSON_ANSWER)),
  '/ct/param-unchanged': sized(`text/plain; name=${CPF}`, utf8('nada a mascarar aqui')),
  '/ct/param-pipeline': sized(`text/plain; charset=latin1; name=${CPF}`, Buffer.from('Atenção', 'latin1')),
  '/ct/param-binary': sized(`application/octet-stream; name=${CPF_DIGITS}`, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02])),
  '/ct/two-types-identifier': { parts: [head('200 OK', { 'content-type': `text/plain; name=${CPF}`, 'Content-Type': `text/csv; name=${CPF_DIGITS}`, 'content-length': 4 }), utf8('nada')] },
  // UTF-8 text labelled UTF-16 (or behind a UTF-16 byte-order mark): decoded as UTF-16 it is CJK text
  // no detector matches, and a client re-encoding what it got as UTF-16 reads every identifier back.
  '/mislabel/utf8-as-utf16': sized('text/plain; charset=utf-16', utf8(TEXT_ANSWER)),
  '/mislabel/utf8-as-utf16be': sized('text/plain; charset=utf-16be', utf8(`${TEXT_ANSWER} `)),
  '/mislabel/json-as-utf16le': sized('application/json; charset=utf-16le', utf8(JSON_ANSWER)),
  '/mislabel/bom-then-utf8': sized('text/plain', Buffer.concat([BOM16LE, utf8(TEXT_ANSWER)])),
  '/mislabel/chunked-utf8-as-utf16': chunked('text/plain; charset=utf-16le', [utf8(TEXT_ANSWER.slice(0, 25)), utf8(TEXT_ANSWER.slice(25, 41)), utf8(TEXT_ANSWER.slice(41))]),
  '/mislabel/octet-bom-then-utf8': sized('application/octet-stream', Buffer.concat([BOM16LE, utf8(TEXT_ANSWER)])),
  // ISO-2022-JP: an escape sequence turns the ASCII after it into two-byte characters (the identifier decodes to kanji).
  '/mislabel/iso-2022-jp': sized('text/plain; charset=iso-2022-jp', Buffer.concat([utf8('CPF '), Buffer.from([0x1b, 0x24, 0x42]), utf8(`${CPF} ${CPF_DIGITS}`), Buffer.from([0x1b, 0x28, 0x42])])),
  '/mislabel/csiso2022jp-json': sized('application/json; charset=csISO2022JP', Buffer.concat([utf8('{"nota":"'), Buffer.from([0x1b, 0x24, 0x42]), utf8(CPF_DIGITS), Buffer.from([0x1b, 0x28, 0x42]), utf8('"}')])),
  // x-user-defined: the bytes of a UTF-8 no-break space between the digits become invisible private-use characters.
  '/mislabel/x-user-defined': sized('text/plain; charset=x-user-defined', utf8(`CPF ${CPF_DIGITS.slice(0, 3)}\u00a0${CPF_DIGITS.slice(3, 6)}\u00a0${CPF_DIGITS.slice(6, 9)}\u00a0${CPF_DIGITS.slice(9)}`)),
  // Text served under a binary label, sniffed: UTF-16 without a byte-order mark.
  '/ct/octet-utf16': sized('application/octet-stream', Buffer.from(TEXT_ANSWER, 'utf16le')),
};

let rawUpstream: NetServer;
const upstreamSockets = new Set<Socket>();
let sidecar: RunningSidecar;
let token: string;
let listenPort = 0;

function startRawUpstream(): Promise<NetServer> {
  const server = createNetServer((socket) => {
    upstreamSockets.add(socket);
    socket.once('close', () => upstreamSockets.delete(socket));
    socket.on('error', () => undefined);
    let seen = '';
    socket.on('data', (c: Buffer) => {
      seen += c.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      const path = /^\w+ (\S+)/.exec(seen)?.[1] ?? '';
      seen = '';
      const script = SCRIPTS[path];
      if (script === undefined) {
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return;
      }
      void (async () => {
        for (const part of script.parts) {
          if (socket.destroyed) return;
          socket.write(part);
          await new Promise((r) => setImmediate(r));
        }
        socket.end();
      })();
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

beforeAll(async () => {
  await installCrds();
  rawUpstream = await startRawUpstream();
  const address = rawUpstream.address();
  const upstreamPort = typeof address === 'object' && address !== null ? address.port : 0;
  ({ sidecar, listenPort } = await startInProcessHttpSidecar(ns, 'mask-paths', { upstreamUrl: `http://127.0.0.1:${upstreamPort}`, issuer: requireIdp().issuer, rules: [{ name: 'all', match: { http: { methods: ['GET', 'HEAD'], paths: ['/**'] } }, action: 'allow' }] }));
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  await sidecar?.shutdown('test over');
  for (const s of upstreamSockets) s.destroy();
  await new Promise((r) => rawUpstream?.close(r));
});

interface RawAnswer { raw: Buffer; heads: string[]; status: number; headText: string; body: Buffer }

/** One request on a fresh connection; every byte the agent receives is kept. */
async function rawRequest(target: string, method = 'GET'): Promise<RawAnswer> {
  const raw = await rawExchange(listenPort, [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, `X-Guarita-Purpose: ${PURPOSE}`, 'Accept-Encoding: gzip, br', 'Connection: close', '', ''].join('\r\n'));
  const text = raw.toString('latin1');
  const heads = [...text.matchAll(/(?:^|\r\n)(HTTP\/1\.1 \d{3}[^\r]*)/g)].map((m) => m[1] ?? '');
  const end = raw.indexOf('\r\n\r\n');
  const headText = raw.subarray(0, end).toString('latin1');
  return { raw, heads, status: Number(headText.split(' ')[1] ?? 0), headText, body: method === 'HEAD' ? Buffer.alloc(0) : dechunk(raw.subarray(end + 4), headText) };
}

/** No form of the identifier anywhere in what the agent received. */
function expectNoIdentifier(path: string, a: RawAnswer): void {
  for (const form of FORMS) expect({ path, leaks: a.raw.includes(form) }).toEqual({ path, leaks: false });
}

const MASKED = [
  '/ct/json-utf8', '/ct/json-UTF8', '/ct/json-quoted', '/ct/json-spaced', '/ct/json-upper', '/ct/problem', '/ct/vendor', '/ct/absent', '/ct/empty',
  '/ct/text-latin1', '/ct/text-iso', '/ct/text-utf16', '/ct/text-utf16le', '/ct/text-utf16be', '/ct/json-utf16-bom',
  '/bom/utf8', '/bom/utf16le-labelled-utf8', '/bom/utf16be-labelled-utf8', '/bom/utf16le-unlabelled', '/bom/utf16le-json',
  '/invalid/ff-between', '/invalid/overlong-dot', '/invalid/cut-multibyte', '/invalid/surrogate',
  '/chunked/split-digits', '/chunked/split-utf8', '/chunked/bom-split',
  '/size/under', '/size/at', '/size/over', '/size/at-json',
  '/enc/gzip', '/enc/br', '/enc/identity', '/enc/GZIP-upper', '/enc/gzip-binary-label',
  '/interim/hints-then-text', '/ct/param-masked', '/ct/octet-utf16',
];

describe('answers masked whatever their labels, encodings and framing', () => {
  it.each(MASKED)('%s: one masked 200, UTF-8, no form of the identifier in any byte', async (path) => {
    const a = await rawRequest(path);
    expectNoIdentifier(path, a);
    expect({ path, heads: a.heads.length, status: a.status }).toEqual({ path, heads: 1, status: 200 });
    // Masked, not emptied: the answer still says what it is about, in UTF-8 as labelled.
    const text = a.body.toString('utf8');
    expect({ path, masked: text.includes('*') }).toEqual({ path, masked: true });
    expect({ path, encoded: /\r\ncontent-encoding:/i.test(a.headText) }).toEqual({ path, encoded: false });
    const type = /\r\ncontent-type: ([^\r]*)/i.exec(a.headText)?.[1];
    if (type !== undefined && /charset/i.test(type)) expect({ path, type: type.toLowerCase().replace(/["\s]/g, '') }).toEqual({ path, type: expect.stringMatching(/charset=utf-?8/) });
  });
});

describe('answers the sidecar cannot mask are refused or cut, never passed', () => {
  it.each([
    '/ct/json-bogus-charset', '/enc/stacked', '/enc/unknown', '/utf16-no-bom-labelled-utf8', '/enc/gzip-lying-utf8', '/ct/json-two-charsets', '/ct/two-types',
  ])('%s: 502 naming why, or masked; never the identifier', async (path) => {
    const a = await rawRequest(path);
    expectNoIdentifier(path, a);
    expect({ path, status: [200, 502].includes(a.status) }).toEqual({ path, status: true });
    if (a.status === 502) expect(JSON.parse(a.body.toString('utf8'))).toMatchObject({ error: 'BadGateway', message: expect.stringMatching(/refused rather than passed unmasked|cannot be masked|cannot be decoded|not decoded/) });
    else expect(a.body.toString('utf8')).toContain('*');
  });

  it.each(['/cl/shorter', '/cl/longer-then-close', '/cl/two-values', '/cl/and-chunked'])('%s (a Content-Length that lies or conflicts): no identifier, whatever the upstream parser made of it', async (path) => {
    const a = await rawRequest(path);
    expectNoIdentifier(path, a);
    // A 200 is a masked body, a 502 the refusal; a connection cut mid-answer carries at most masked bytes.
    if (a.status === 200 && a.body.length > 40) expect(a.body.toString('utf8')).toContain('*');
  });
});

describe('identifiers in the Content-Type\'s parameters and in interim answers', () => {
  it.each(['/ct/param-unchanged', '/ct/param-pipeline', '/ct/param-binary', '/ct/two-types-identifier', '/interim/hints-with-body'])('%s: never in the agent\'s bytes', async (path) => {
    const a = await rawRequest(path);
    expectNoIdentifier(path, a);
    expect({ path, status: [200, 502].includes(a.status) }).toEqual({ path, status: true });
  });

  it.each([['/interim/hints-then-text', 'HEAD'], ['/interim/continue-then-204', 'GET']])('%s (%s): the interim answer is skipped, the final head masked', async (path, method) => {
    const a = await rawRequest(path, method);
    expectNoIdentifier(path, a);
    expect(a.heads).toHaveLength(1);
    expect(a.status).toBe(method === 'HEAD' ? 200 : 204);
  });
});

describe('UTF-8 text labelled UTF-16: no identifier a client gets back by reading the answer as UTF-16', () => {
  it.each(['/mislabel/utf8-as-utf16', '/mislabel/utf8-as-utf16be', '/mislabel/json-as-utf16le', '/mislabel/bom-then-utf8', '/mislabel/chunked-utf8-as-utf16', '/mislabel/octet-bom-then-utf8'])('%s: refused or cut, never recoverable', async (path) => {
    const a = await rawRequest(path);
    expectNoIdentifier(path, a);
    // What the agent got, read back as the UTF-16 the sidecar decoded it as: the original bytes.
    const text = a.body.toString('utf8');
    const back = [Buffer.from(text, 'utf16le'), Buffer.from(text, 'utf16le').swap16()].map((b) => b.toString('latin1'));
    for (const form of [CPF, CPF_DIGITS]) expect({ path, recoverable: back.some((b) => b.includes(form)) }).toEqual({ path, recoverable: false });
  });
});

describe('charsets that turn the bytes of an identifier into characters no pattern matches', () => {
  it.each([
    ['/mislabel/iso-2022-jp', /ISO-2022-JP/], ['/mislabel/csiso2022jp-json', /ISO-2022-JP/], ['/mislabel/x-user-defined', /x-user-defined/],
  ] as const)('%s: refused (502) naming the charset, never decoded into characters that hide the identifier', async (path, named) => {
    const a = await rawRequest(path);
    expectNoIdentifier(path, a);
    // The digits with whatever sits between them dropped: what a reader of the answer would see.
    expect(a.body.toString('utf8').replace(/[^0-9]/g, '')).not.toContain(CPF_DIGITS);
    expect(a.status).toBe(502);
    const message = (JSON.parse(a.body.toString('utf8')) as { message: string }).message;
    expect(message).toMatch(named);
    expect(message).toMatch(/not supported.*refused rather than passed unmasked/);
  });
});

describe('answers without a body', () => {
  it.each([['/nobody/204', 'GET'], ['/nobody/304', 'GET'], ['/nobody/head', 'HEAD']])('%s (%s): the head\'s identifiers are masked', async (path, method) => {
    const a = await rawRequest(path, method);
    expectNoIdentifier(path, a);
    expect(a.heads).toHaveLength(1);
    expect(a.headText).toMatch(/\r\nx-cliente: [^\r]*\*/i);
  });
});
