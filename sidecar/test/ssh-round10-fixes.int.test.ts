// The round 10 fixes (findings 1, 2, 3 and 5) end to end, against the real OpenSSH server
// (internal-sftp), the real sidecar process and operator, beyond the review's own tests
// (ssh-round10-attacks.int.test.ts):
// - the class of finding 1: every SFTP request whose path has a `..` after a symlink. The sidecar
//   asks the host the path as sent and judges where the host resolves it; a link in the allowed
//   tree into the denied one (`SCRATCH/lnk/..` folds, as text, into SCRATCH) must be denied for
//   each operation, its answer naming nothing of the target, while the same operations on plain
//   SCRATCH paths run;
// - finding 2's bound does not break a client that pipelines as ssh2's fastGet and fastPut do
//   (64 requests), nor one asking for more than the bound (64 × 256 KiB): the bytes arrive whole;
// - finding 5: legacy scp records the transfer's bytes both ways (scp -f: `bytes` the file; scp -t:
//   `bytes` the upload, and `bytesIn` on both).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type SFTPWrapper } from 'ssh2';
import { eventually } from '../../e2e/support/wait.ts';
import { SshScenario, hostTree, sftpOf } from './ssh-scenario.ts';
import { fetchExport } from './support.ts';

jest.setTimeout(180_000);

const ssh = new SshScenario('sshr10f', 'files-host');
const { id, ns } = ssh;
const POLICY = ssh.policyName;
const PURPOSE = 'customer-support';
const CPF = '529.982.247-25';
const { STATUS_CODE } = ssh2.utils.sftp;

let work: string;
let secret: string;
let scratch: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-r10f-${id}-`));
  ({ secret, scratch } = hostTree(work, CPF));
  // A link in the allowed tree into the denied one (a "latest" link a host job would make).
  symlinkSync(join(secret, `cliente-${CPF}`, 'docs'), join(scratch, 'lnk'));
  writeFileSync(join(scratch, 'plain.txt'), 'plain\n');
  // Not a multiple of any chunk size: the last read is short.
  writeFileSync(join(scratch, 'big.bin'), Buffer.from(Array.from({ length: 8 * 1024 * 1024 + 12_345 }, (_, i) => (i * 7) & 0xff)));
  await ssh.start(work, {
    purposes: [PURPOSE],
    rules: [
      { name: 'secret-files', match: { ssh: { paths: [`${secret}/**`] } }, action: 'deny' },
      { name: 'scratch-files', match: { ssh: { requests: ['sftp'], operations: ['read', 'write', 'stat', 'list', 'setstat', 'rename', 'readlink', 'remove', 'mkdir'], paths: [`${scratch}`, `${scratch}/**`] } }, action: 'allow' },
    ],
    masking: { style: 'partial' },
  });
}, 240_000);

afterAll(async () => {
  await ssh.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

async function withSftp<T>(f: (s: SFTPWrapper) => Promise<T>): Promise<T> {
  const c = await ssh.connectAgent(PURPOSE);
  try {
    return await f(await sftpOf(c));
  } finally {
    c.end();
  }
}

/** An SFTP call's outcome: 'ok' with what it answered, or the status code and text. */
type Outcome = { ok: unknown } | { code: unknown; message: string };
function outcome<T>(call: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<Outcome> {
  return new Promise((resolve) => call((err, v) => resolve(err ? { code: (err as { code?: unknown }).code, message: err.message } : { ok: v ?? true })));
}

/** Each SFTP operation on `p` (and a rename's second path `q`), as the agent sends it. */
function operations(s: SFTPWrapper, p: string, q: string): Record<string, () => Promise<Outcome>> {
  return {
    stat: () => outcome((cb) => s.stat(p, cb)),
    lstat: () => outcome((cb) => s.lstat(p, cb)),
    realpath: () => outcome((cb) => s.realpath(p, cb)),
    open: () => outcome((cb) => s.open(p, 'r', cb)),
    opendir: () => outcome((cb) => s.opendir(p, cb)),
    readlink: () => outcome((cb) => s.readlink(p, cb)),
    setstat: () => outcome((cb) => s.setstat(p, { mode: 0o600 }, cb)),
    'rename from': () => outcome((cb) => s.rename(p, q, cb)),
    'rename to': () => outcome((cb) => s.rename(q, p, cb)),
  };
}

describe('finding 1, the class: a `..` after a symlink is judged where the host takes it, for every SFTP operation', () => {
  it.each([
    // Lexically in SCRATCH; on the host, the link's target's parent: the customer's directory.
    ['LINK/..', (): string => `${scratch}/lnk/..`],
    ['LINK/../docs', (): string => `${scratch}/lnk/../docs`],
    ['LINK/../docs/contrato.txt', (): string => `${scratch}/lnk/../docs/contrato.txt`],
    ['LINK/../docs/./', (): string => `${scratch}/lnk/../docs/./`],
    ['LINK//..//docs', (): string => `${scratch}/lnk//..//docs`],
  ])('%s: every operation is denied and nothing of the target is told', async (_name, path) => {
    const answers = await withSftp(async (s) => {
      const out: Record<string, Outcome> = {};
      for (const [name, run] of Object.entries(operations(s, path(), `${scratch}/moved-${id}`))) out[name] = await run();
      return out;
    });
    for (const [name, a] of Object.entries(answers)) {
      expect([name, a]).toEqual([name, expect.objectContaining({ code: STATUS_CODE.PERMISSION_DENIED })]);
      expect(JSON.stringify(a)).not.toContain(CPF);
      expect(JSON.stringify(a)).not.toContain('cliente-');
    }
    // Nothing moved into or out of the denied tree, nothing changed there.
    expect(readFileSync(join(secret, `cliente-${CPF}`, 'docs', 'contrato.txt'), 'utf8')).toBe(`cpf=${CPF}\n`);
  });

  it('control: the same operations on plain SCRATCH paths run (the denials are the link\'s, not the operations\')', async () => {
    await withSftp(async (s) => {
      expect(await outcome((cb) => s.stat(`${scratch}/plain.txt`, cb))).toMatchObject({ ok: expect.anything() });
      expect(await outcome((cb) => s.lstat(`${scratch}/./plain.txt`, cb))).toMatchObject({ ok: expect.anything() });
      expect(await outcome((cb) => s.realpath(`${scratch}/x/../plain.txt`, cb))).toMatchObject({ code: STATUS_CODE.NO_SUCH_FILE });
      expect(await outcome((cb) => s.realpath(`${scratch}//plain.txt`, cb))).toEqual({ ok: `${scratch}/plain.txt` });
      expect(await outcome((cb) => s.opendir(`${scratch}/`, cb))).toMatchObject({ ok: expect.anything() });
      expect(await outcome((cb) => s.setstat(`${scratch}/plain.txt`, { mode: 0o640 }, cb))).toEqual({ ok: true });
      expect(await outcome((cb) => s.rename(`${scratch}/plain.txt`, `${scratch}/plain2.txt`, cb))).toEqual({ ok: true });
      expect(await outcome((cb) => s.rename(`${scratch}/plain2.txt`, `${scratch}/plain.txt`, cb))).toEqual({ ok: true });
      // The link itself is named by readlink; its target is in the denied tree, so it is denied too.
      expect(await outcome((cb) => s.readlink(`${scratch}/lnk`, cb))).toMatchObject({ code: STATUS_CODE.PERMISSION_DENIED });
    });
  });

  it('the login directory, spelled with . and / only, is answered; through a `..` it is judged (nothing allows stat of it here)', async () => {
    await withSftp(async (s) => {
      const home = await outcome<string>((cb) => s.realpath('.', cb));
      expect(home).toMatchObject({ ok: expect.stringMatching(/^\//) });
      const dir = (home as { ok: string }).ok;
      for (const p of ['', dir, `${dir}/`, `${dir}/.`, `/${dir}`]) expect([p, await outcome((cb) => s.realpath(p, cb))]).toEqual([p, { ok: dir }]);
      for (const p of [`${dir}/x/..`, `${dir}/../${dir.split('/').pop() ?? ''}`]) {
        expect([p, await outcome((cb) => s.realpath(p, cb))]).toEqual([p, expect.objectContaining({ code: STATUS_CODE.PERMISSION_DENIED })]);
      }
    });
  });
});

describe('finding 2: the bound on SFTP requests in flight keeps pipelining clients whole', () => {
  const expected = (): Buffer => readFileSync(join(scratch, 'big.bin'));

  it.each([
    ['ssh2 fastGet as it pipelines by default (64 × 32 KiB)', {}],
    ['64 requests of 256 KiB (past the bytes bound: the rest wait)', { concurrency: 64, chunkSize: 256 * 1024 }],
  ])('%s: the download is byte for byte', async (_name, opts) => {
    const local = join(work, `get-${Object.keys(opts).length}.bin`);
    await withSftp((s) => new Promise<void>((resolve, reject) => s.fastGet(`${scratch}/big.bin`, local, opts, (err) => (err ? reject(err) : resolve()))));
    expect(readFileSync(local).equals(expected())).toBe(true);
  });

  it('ssh2 fastPut (64 WRITEs of 32 KiB in flight) uploads byte for byte', async () => {
    const local = join(work, 'put.bin');
    writeFileSync(local, Buffer.from(Array.from({ length: 6 * 1024 * 1024 + 77 }, (_, i) => (i * 13) & 0xff)));
    await withSftp((s) => new Promise<void>((resolve, reject) => s.fastPut(local, `${scratch}/put.bin`, { concurrency: 64, chunkSize: 256 * 1024 }, (err) => (err ? reject(err) : resolve()))));
    expect(readFileSync(join(scratch, 'put.bin')).equals(readFileSync(local))).toBe(true);
  });
});

describe('finding 5: legacy scp records the bytes of the transfer, both ways', () => {
  it('scp -O download: bytes is the file (what the host sent); scp -O upload: bytes is the upload; bytesIn is what the agent sent on both', async () => {
    const size = 150_000;
    writeFileSync(join(scratch, 'legacy-down.bin'), Buffer.alloc(size, 0x64));
    const local = join(work, 'legacy-up.bin');
    writeFileSync(local, Buffer.alloc(size, 0x75));
    expect(await ssh.scp(['-O', `${PURPOSE}@${POLICY}:${scratch}/legacy-down.bin`, join(work, 'legacy-down.bin')])).toMatchObject({ code: 0 });
    expect(await ssh.scp(['-O', local, `${PURPOSE}@${POLICY}:${scratch}/legacy-up.bin`])).toMatchObject({ code: 0 });
    const find = (records: { command?: string; result?: unknown; type: string }[], flag: string, name: string): { bytes?: number; bytesIn?: number } | undefined =>
      records.find((x) => x.type === 'command' && new RegExp(`^scp .*${flag}`).test(x.command ?? '') && (x.command ?? '').includes(name) && x.result !== undefined)?.result as { bytes?: number; bytesIn?: number } | undefined;
    const [down, up] = await eventually('both transfers\' records at the operator', async () => {
      const { records } = await fetchExport(ssh.op.url, ns);
      const pair = [find(records, '-f', 'legacy-down.bin'), find(records, '-t', 'legacy-up.bin')];
      return pair.every((r) => r !== undefined) ? pair : undefined;
    }, 30_000, 500);
    // Each side adds scp's protocol lines (a header, acknowledgements) to the file's bytes.
    expect(down?.bytes).toBeGreaterThanOrEqual(size);
    expect(down?.bytes).toBeLessThan(size + 256);
    expect(down?.bytesIn).toBeLessThan(256);
    expect(up?.bytes).toBeGreaterThanOrEqual(size);
    expect(up?.bytes).toBeLessThan(size + 256);
    expect(up?.bytesIn).toBe(up?.bytes);
  });
});
