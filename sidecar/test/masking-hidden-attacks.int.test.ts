// Round 5 review, through the real sidecar: two ways an identifier reached agents unmasked while a
// person (or a client decoding it another way) could read it.
// 1. Invisible characters inside it (a left-to-right mark, bidi isolates, invisible operators, a
//    variation selector, tag and private-use characters: core/masking/invisible.ts), or other
//    scripts' digits (Arabic-Indic, Devanagari, Mathematical bold: core/masking/digits.ts). Stored in
//    PostgreSQL in a column no name rule covers and read by psql (simple protocol) and node-pg
//    (extended), or served by an HTTP upstream as text and JSON (also as \u escapes), written a few
//    bytes at a time: masked whole.
// 2. UTF-8 text under a label that is not UTF-8 (latin1, windows-1252, koi8-r, any single-byte
//    alias, GBK, UTF-16) with a CPF printed with no-break spaces, dashes or fullwidth digits, and
//    the reverse (latin1 bytes under a UTF-8 label or none): a 502 naming the charset (a cut when
//    the head is already out), never the identifier in a form a reader of the other reading, or of
//    the answer as sent, sees. Text with ASCII separators under those labels is masked in place.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import pg from 'pg';
import { runCommand } from '../../e2e/harness/exec.ts';
import { getToken, requireIdp, requirePostgres } from '../../e2e/harness/state.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { onScreen } from '../../core/masking/corpus.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';
import { dechunk, rawExchange, startInProcessHttpSidecar } from './support.ts';

jest.setTimeout(120_000);

const CPF = '590.830.166-33';
const DIGITS = '59083016633';
/** The CPF with `c` after each of its characters but the last. */
const spread = (c: string, v = CPF): string => [...v].join(c);

/** The ASCII digit of any decimal digit (Unicode Nd comes in runs of a multiple of ten, each from a zero). */
function asciiDigit(d: string): string {
  const cp = d.codePointAt(0) ?? 0x30;
  let zero = cp;
  while (/\p{Nd}/u.test(String.fromCodePoint(zero - 1))) zero--;
  return String((cp - zero) % 10);
}

/** The digits of any script in stored order, every other character removed. */
const digitsIn = (s: string): string => s.normalize('NFKC').replace(/\p{Nd}/gu, asciiDigit).replace(/[^0-9]/g, '');
/** What a reader sees: the digits of any script as shown, every other character removed. */
const readDigits = (s: string): string => digitsIn(onScreen(s));

// ---- PostgreSQL ------------------------------------------------------------------------------------------------

/** id → stored notes; each must come back with the CPF's digits gone (only its check digits 33 left). */
const ROWS: Record<number, string> = {
  941: `doc 590\u200e.830\u200f.166\u2066-33\u2069 fim`,
  942: `doc ${spread('\u2063')} fim`,
  943: `doc ${spread('\ufe0f')} e ${spread('\u{e0041}', DIGITS)} fim`,
  944: `doc \u202e${spread('\u034f')}\u202c fim`,
  945: `doc ${spread('\ue000')} e ${spread('\u{f0000}')} fim`,
  946: `doc ５\u180e９０.８\u2064３０.１６６-３３ fim`,
  947: `doc \u2060\u2061\u2062${spread('\u200e\u2066\u{e0100}')}\u2069 fim`,
  948: 'doc ٥٩٠\u200e.٨٣٠.١٦٦-٣٣ fim',
  949: 'doc ५९०८३०१६६३३ fim',
  950: 'doc 𝟓𝟗𝟎.𝟖𝟑𝟎.𝟏𝟔𝟔-𝟑𝟑 fim',
  // Round 6: what a screen shows whole (core/masking/terminal-attacks, bidi-attacks).
  951: 'doc \u202e33-661.038.095\u202c fim',
  952: 'doc cpf=\u001b[32m590.830.166-33\u001b[0m fim',
  953: 'doc 590\u0001.830\u0007.166\u007f-33 fim',
  954: 'doc 590.830.166-3X\b3 fim',
  955: 'doc 590\ufffd830\ufffd166\ufffd33 fim',
};
const IDS = Object.keys(ROWS).join(', ');
/** Rows holding the CPF twice: two masks, two pairs of check digits. */
const TWO_CPFS = new Set([943, 945]);

describe('invisible characters inside identifiers in PostgreSQL rows', () => {
  let s: PgScenario;
  let token: string;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    s = await startPgScenario({ spec: (spec) => { delete (spec.masking as Record<string, unknown>).detectors; } });
    token = await s.token('support-agent');
    await s.insertNotes('Hidden', ROWS);
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await s?.stop();
  }, 60_000);

  it('the database holds them as written (a reader sees the CPF)', async () => {
    const direct = await runCommand(`${requirePostgres().binDir}/psql`, ['-X', '-A', '-t', '-F', '|', '-c', `SELECT id, notes FROM customers WHERE id IN (${IDS}) ORDER BY id`], { env: s.directEnv() });
    const lines = direct.stdout.trim().split('\n');
    expect(lines).toEqual(Object.entries(ROWS).map(([id, notes]) => `${id}|${notes}`));
    // A client that ignores bidi reads the stored order, a screen the shown one: one of them holds the CPF.
    for (const line of lines) expect(`${digitsIn(line)} ${readDigits(line)}`).toContain(DIGITS);
  });

  it('psql through the sidecar reads them masked whole', async () => {
    const r = await s.psql(token, ['-A', '-t', '-F', '|', '-c', `SELECT id, notes FROM customers WHERE id IN (${IDS}) ORDER BY id`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(Object.keys(ROWS).length);
    for (const line of lines) {
      const [id = '', notes = ''] = line.split('|');
      expect({ id, digits: readDigits(notes) }).toEqual({ id, digits: TWO_CPFS.has(Number(id)) ? '3333' : '33' });
      expect(notes).toMatch(/^doc .*\*.* fim$/);
    }
  });

  it('node-pg (extended protocol) reads them masked, also built by the query itself', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    const res = await client.query<{ id: number; texto: string }>('SELECT id, notes AS texto FROM customers WHERE id = ANY($1::int[]) ORDER BY id', [Object.keys(ROWS).map(Number)]);
    for (const row of res.rows) expect({ id: row.id, digits: readDigits(row.texto) }).toEqual({ id: row.id, digits: TWO_CPFS.has(row.id) ? '3333' : '33' });
    const built = await client.query<{ linha: string }>("SELECT 'cpf ' || '590' || chr(8206) || '.830' || chr(917569) || '.166' || chr(8297) || '-33' AS linha");
    expect(readDigits(built.rows[0]?.linha ?? '')).toBe('33');
    // Look-alikes with the same characters come back as they are.
    const same = await client.query<{ v: string }>("SELECT 'v1' || chr(8206) || '.2.3 e 590.830.166' || chr(8206) || '-34' AS v");
    expect(same.rows[0]?.v).toBe('v1\u200e.2.3 e 590.830.166\u200e-34');
  });
});

// ---- HTTP ------------------------------------------------------------------------------------------------------

const utf8 = (t: string): Buffer => Buffer.from(t, 'utf8');
const head = (headers: Record<string, string | number>): Buffer =>
  Buffer.from(`HTTP/1.1 200 OK\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}connection: close\r\n\r\n`, 'latin1');
const chunk = (b: Buffer): Buffer => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
/** Sized: one write of head and body. Chunked: the body in pieces of `size` bytes, each its own write and chunk. */
const sized = (type: string, body: Buffer): Buffer[] => [head({ 'content-type': type, 'content-length': body.length }), body];
const chunked = (type: string, body: Buffer, size: number): Buffer[] => {
  const parts = [head({ 'content-type': type, 'transfer-encoding': 'chunked' })];
  for (let i = 0; i < body.length; i += size) parts.push(chunk(body.subarray(i, i + size)));
  return [...parts, Buffer.from('0\r\n\r\n')];
};

const NBSP_TEXT = `Cliente Larissa, CPF ${CPF.replace(/[.-]/g, '\u00a0')}, pedido pago.`;
const HIDDEN_UTF8: Record<string, string> = {
  nbsp: NBSP_TEXT,
  'narrow-nbsp': `CPF 590\u202f830\u202f166\u202f33`,
  'en-dash': `CPF 590.830.166\u201333`,
  'nb-hyphen': `CPF 590.830.166\u201133`,
  fullwidth: 'CPF ５９０.８３０.１６６-３３',
  'arabic-indic': 'CPF ٥٩٠.٨٣٠.١٦٦-٣٣',
  lrm: `CPF ${spread('\u200e')}`,
};
const LABELS = ['latin1', 'ISO-8859-1', 'windows-1252', 'us-ascii', 'cp1252', 'x-cp1251', 'koi8-r', 'iso-8859-15', 'gbk', 'utf-16'];

const SCRIPTS: Record<string, Buffer[]> = {
  // Invisible characters inside identifiers, UTF-8 labelled: the one-pass path (declared length) and the pipeline (chunked).
  '/invisible/text': sized('text/plain; charset=utf-8', utf8(`Cliente: CPF ${spread('\u200e')} e tel (11)\u2066 91234\u2069-5678 ok`)),
  '/invisible/text-chunked': chunked('text/plain', utf8(`Cliente: CPF 590\u{e0041}.830\ufe0f.166\u2063-33 ok`), 1),
  '/invisible/json': sized('application/json', utf8(JSON.stringify({ nota: `CPF ${spread('\u202e')}`, outra: `doc ${spread('\u{f0000}', DIGITS)}` }))),
  '/invisible/json-escapes': sized('application/json', utf8(`{"nota":"CPF 590\\u200e.830\\u2066.166\\u2069-33","b":"x"}`)),
  '/invisible/json-chunked': chunked('application/json', utf8(`{"nota":"CPF 5\\u20639\\u20630.830.166-33 e ${spread('\ue000')}"}`), 3),
  // Genuine latin1 and UTF-8 with ASCII separators under a single-byte label: masked in place.
  '/latin1/genuine': sized('text/plain; charset=latin1', Buffer.from(`Atenção: José, CPF ${CPF} e ${CPF.replace(/[.-]/g, '\u00a0')}.`, 'latin1')),
  '/latin1/utf8-ascii-separators': sized('text/plain; charset=latin1', utf8(`Atenção: José, CPF ${CPF}.`)),
  '/latin1/utf8-ascii-separators-chunked': chunked('text/plain; charset=windows-1252', utf8(`Atenção: José, CPF ${CPF}.`), 2),
};
for (const label of LABELS) {
  for (const [name, text] of Object.entries(HIDDEN_UTF8)) {
    SCRIPTS[`/mislabel/${label}/${name}`] = sized(`text/plain; charset=${label}`, utf8(`${text} `));
    SCRIPTS[`/mislabel/${label}/${name}/chunked`] = chunked(`text/plain; charset=${label}`, utf8(`${text} `), 1);
  }
  SCRIPTS[`/mislabel/${label}/json`] = sized(`application/json; charset=${label}`, utf8(JSON.stringify({ nota: NBSP_TEXT })));
}
// The reverse: latin1 bytes under a UTF-8 label (or none), the CPF's groups split by the latin1 no-break space 0xA0.
const LATIN1_NBSP = Buffer.from(`Atenção: ${NBSP_TEXT}`, 'latin1');
SCRIPTS['/reverse/latin1-as-utf8'] = sized('text/plain; charset=utf-8', LATIN1_NBSP);
SCRIPTS['/reverse/latin1-unlabelled'] = [Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${LATIN1_NBSP.length}\r\nconnection: close\r\n\r\n`, 'latin1'), LATIN1_NBSP];
SCRIPTS['/reverse/latin1-as-utf8-chunked'] = chunked('text/plain; charset=utf-8', LATIN1_NBSP, 1);
SCRIPTS['/reverse/json-latin1-as-utf8'] = sized('application/json', Buffer.from(JSON.stringify({ nota: NBSP_TEXT, nome: 'José' }), 'latin1'));
SCRIPTS['/reverse/latin1-ascii-separators'] = sized('text/plain; charset=utf-8', Buffer.from(`Atenção: José, CPF ${CPF}.`, 'latin1'));
// A long streamed answer: its head is out before the identifier arrives, so it is cut, not refused.
SCRIPTS['/mislabel/long-stream'] = chunked('text/plain; charset=latin1', utf8(`${'linha sem nada '.repeat(4000)}${NBSP_TEXT}${' fim'.repeat(100)}`), 4096);

describe('HTTP answers: invisible characters, and UTF-8 under labels that are not UTF-8', () => {
  const ns = `sc-hidden-${suffix()}`;
  let upstream: NetServer;
  const sockets = new Set<Socket>();
  let sidecar: RunningSidecar;
  let token: string;
  let listenPort = 0;

  beforeAll(async () => {
    await installCrds();
    upstream = createNetServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      let seen = '';
      socket.on('data', (c: Buffer) => {
        seen += c.toString('latin1');
        if (!seen.includes('\r\n\r\n')) return;
        const parts = SCRIPTS[/^\w+ (\S+)/.exec(seen)?.[1] ?? ''] ?? [Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')];
        seen = '';
        void (async () => {
          for (const part of parts) {
            if (socket.destroyed) return;
            socket.write(part);
            await new Promise((r) => setImmediate(r));
          }
          socket.end();
        })();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const address = upstream.address();
    const upstreamPort = typeof address === 'object' && address !== null ? address.port : 0;
    ({ sidecar, listenPort } = await startInProcessHttpSidecar(ns, 'hidden', { upstreamUrl: `http://127.0.0.1:${upstreamPort}`, issuer: requireIdp().issuer, rules: [{ name: 'all', match: { http: { methods: ['GET'], paths: ['/**'] } }, action: 'allow' }] }));
    token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  }, 180_000);

  afterAll(async () => {
    await sidecar?.shutdown('test over');
    for (const s of sockets) s.destroy();
    await new Promise((r) => upstream?.close(r));
  });

  interface Answer { status: number; headText: string; body: Buffer; raw: Buffer }

  async function get(target: string): Promise<Answer> {
    const raw = await rawExchange(listenPort, [`GET ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, 'X-Guarita-Purpose: customer-support', 'Connection: close', '', ''].join('\r\n'));
    const end = raw.indexOf('\r\n\r\n');
    const headText = raw.subarray(0, Math.max(0, end)).toString('latin1');
    let body: Buffer;
    try {
      body = dechunk(raw.subarray(end + 4), headText);
    } catch {
      body = raw.subarray(end + 4); // a cut chunked answer: what arrived
    }
    return { status: Number(headText.split(' ')[1] ?? 0), headText, body, raw };
  }

  /** Every reading of the agent's bytes a client or a person could make: as sent, and mojibake undone to UTF-8. */
  function readings(a: Answer): string[] {
    const sent = a.raw.toString('utf8');
    return [sent, Buffer.from(sent, 'latin1').toString('utf8'), a.raw.toString('latin1')];
  }

  const expectNoCpf = (path: string, a: Answer): void => {
    for (const r of readings(a)) expect({ path, leaks: readDigits(r).includes(DIGITS) }).toEqual({ path, leaks: false });
  };

  it.each(['/invisible/text', '/invisible/text-chunked', '/invisible/json', '/invisible/json-escapes', '/invisible/json-chunked'])('%s: masked whole, 200', async (path) => {
    const a = await get(path);
    expect({ path, status: a.status }).toEqual({ path, status: 200 });
    expectNoCpf(path, a);
    expect(a.body.toString('utf8')).toContain('*');
    expect(readDigits(a.body.toString('utf8').replace(/\\u[0-9a-f]{4}/gi, ''))).not.toMatch(/91234|830|590/);
  });

  it.each(['/latin1/genuine', '/latin1/utf8-ascii-separators', '/latin1/utf8-ascii-separators-chunked'])('%s: masked in place, 200, UTF-8 out', async (path) => {
    const a = await get(path);
    expect({ path, status: a.status }).toEqual({ path, status: 200 });
    expectNoCpf(path, a);
    const text = a.body.toString('utf8');
    expect(text).toContain('***.***.***-33');
    expect(text).toMatch(/Atenção|AtenÃ§Ã£o/);
    expect(a.headText).toMatch(/content-type: text\/plain; charset=utf-8/i);
  });

  const mislabelled = Object.keys(SCRIPTS).filter((p) => p.startsWith('/mislabel/') && p !== '/mislabel/long-stream');
  it.each(mislabelled)('%s: refused (502 naming the charset), the CPF in no reading of the bytes', async (path) => {
    const a = await get(path);
    expectNoCpf(path, a);
    expect({ path, status: a.status }).toEqual({ path, status: 502 });
    const message = (JSON.parse(a.body.toString('utf8')) as { message: string }).message;
    // Node's GBK decoder throws on some invalid sequences cut by a one-byte chunk: refused as not GBK, before any check.
    expect(message).toMatch(/labelled charset [\w-]+, but its bytes are also UTF-8 text|read as ASCII or UTF-8 carry identifiers|bytes are not valid gbk/);
    expect(message).toMatch(/refused rather than passed unmasked/);
  });

  it.each(['/reverse/latin1-as-utf8', '/reverse/latin1-unlabelled', '/reverse/latin1-as-utf8-chunked', '/reverse/json-latin1-as-utf8'])('%s: latin1 under a UTF-8 label refused (502), the CPF in no reading of the bytes', async (path) => {
    const a = await get(path);
    expectNoCpf(path, a);
    expect({ path, status: a.status }).toEqual({ path, status: 502 });
    expect((JSON.parse(a.body.toString('utf8')) as { message: string }).message).toMatch(/labelled UTF-8 but is not valid UTF-8.*windows-1252.*refused rather than passed unmasked/);
  });

  it('latin1 with ASCII separators under a UTF-8 label is masked in place', async () => {
    const a = await get('/reverse/latin1-ascii-separators');
    expect(a.status).toBe(200);
    expectNoCpf('/reverse/latin1-ascii-separators', a);
    expect(a.body.toString('utf8')).toContain('***.***.***-33');
  });

  it('a long streamed answer whose identifier comes after the head is cut, the CPF in no reading of what arrived', async () => {
    const a = await get('/mislabel/long-stream');
    expectNoCpf('/mislabel/long-stream', a);
    expect([200, 502]).toContain(a.status);
    // Cut: no last chunk reached the agent.
    if (a.status === 200) expect(a.raw.subarray(-5).toString('latin1')).not.toBe('0\r\n\r\n');
  });
});
