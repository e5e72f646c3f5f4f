// sessions / replay / verify / export as commands, without a cluster: flags and usage errors,
// the message that says how to reach the operator, and `verify --file` end to end on exports of
// the operator's real file store (intact, a changed byte, a deleted record, two swapped records).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateSigningKey } from '../../../core/recording/index.ts';
import { FileStore } from '../../../operator/src/store/file-store.ts';
import { fakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { runCli } from '../../test/run-cli.ts';
import { exportRecordLine } from '../../../core/recording/export-format.ts';

let dir: string;
let kubeconfig: string;
let exportFile: string;
let chainId: string;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'guarita-cli-rec-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:1' } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u', namespace: 'shop' } }],
  }));
  const store = await FileStore.open({ dir: join(dir, 'store'), key: generateSigningKey(), segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet });
  const sc = fakeSidecar('shop', 'agent-1');
  chainId = sc.chainId;
  await store.registerChain(sc.registration());
  await store.append(sc.chainId, sc.next(6, (i) => ({ sessionId: 's-1', command: `SELECT name FROM customers WHERE id = ${i}` })), sc.checkpointAt(6));
  const lines: string[] = [];
  // As the read API writes them: records canonical with the hash last.
  for await (const l of store.exportLines('shop', {})) lines.push('seq' in l ? exportRecordLine(l) : JSON.stringify(l));
  await store.close();
  exportFile = join(dir, 'export.jsonl');
  writeFileSync(exportFile, `${lines.join('\n')}\n`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function variant(name: string, edit: (lines: string[]) => void): string {
  const lines = readFileSync(exportFile, 'utf8').trimEnd().split('\n');
  edit(lines);
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const env = (): NodeJS.ProcessEnv => ({ KUBECONFIG: kubeconfig });

describe('verify --file', () => {
  it('verifies an intact export offline', async () => {
    const r = await runCli(['verify', '--file', exportFile]);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain(`Export ${exportFile}: VERIFIED`);
    expect(r.out).toContain('6 record(s) of 1 chain(s)');
    expect(r.out).toContain(`${chainId}: records 1..6`);
  });

  it('fails naming the record after a byte changed, a record was deleted, or two were swapped', async () => {
    const at = (l: string[], seq: number): number => l.findIndex((x) => x.includes(`"seq":${seq},`) && x.includes('"hash"'));
    const third = at(readFileSync(exportFile, 'utf8').trimEnd().split('\n'), 3);
    const byte = variant('byte.jsonl', (l) => { l[third] = l[third]!.replace('WHERE id = 2', 'WHERE id = 7'); });
    const r1 = await runCli(['verify', '--file', byte]);
    expect(r1.code).toBe(1);
    expect(r1.out).toContain(`Export ${byte}: FAILED`);
    expect(r1.out).toContain(`first bad record: record ${chainId}#3 (line ${third + 1})`);
    expect(r1.out).toContain('command: SELECT name FROM customers WHERE id = 7');
    expect(r1.out).toContain('its content does not match its hash: the record was altered');

    const deleted = variant('deleted.jsonl', (l) => { l.splice(third, 1); });
    const r2 = await runCli(['verify', '--file', deleted]);
    expect(r2.code).toBe(1);
    expect(r2.out).toContain(`first bad record: record ${chainId}#3 (line ${third + 1})`);
    expect(r2.out).toMatch(/#3 is missing: deleted from the file/);

    const swapped = variant('swapped.jsonl', (l) => { [l[third], l[third + 1]] = [l[third + 1]!, l[third]!]; });
    const r3 = await runCli(['verify', '--file', swapped, '-o', 'json']);
    expect(r3.code).toBe(1);
    expect(JSON.parse(r3.out)).toMatchObject({ ok: false, firstBad: { chainId, seq: 3, problem: expect.stringContaining('missing') } });

    // The anchored head given from outside: a file re-signed with another store key cannot carry it.
    const r4 = await runCli(['verify', '--file', exportFile, '--anchor', 'ab'.repeat(32)]);
    expect(r4.code).toBe(1);
    expect(r4.out).toMatch(/re-signed with another key|another store head/);
  });

  it('reads stdin with --file -, and cannot verify CSV or missing files (exit 3)', async () => {
    expect((await runCli(['verify', '--file', '-'], { stdin: readFileSync(exportFile, 'utf8') })).code).toBe(0);
    const csv = join(dir, 'audit.csv');
    writeFileSync(csv, 'time,namespace,policy\r\n');
    const r = await runCli(['verify', '--file', csv]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('is not a JSONL export (it is a CSV export, which carries no hashes or signatures)');
    expect((await runCli(['verify', '--file', join(dir, 'nope.jsonl')])).err).toMatch(/could not verify: cannot read .*nope\.jsonl/);
  });
});

describe('the installed command (bin/guarita, also kubectl-guarita)', () => {
  const bin = join(import.meta.dirname, '../../bin/guarita');

  it('verifies a file (exit 0) and exits 2 on usage errors', () => {
    expect(spawnSync(bin, ['verify', '--file', exportFile], { encoding: 'utf8' })).toMatchObject({ status: 0, stdout: expect.stringContaining('VERIFIED') });
    const usage = spawnSync(bin, ['replay'], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: kubeconfig } });
    expect(usage).toMatchObject({ status: 2, stderr: expect.stringContaining('guarita: guarita replay: name one session') });
  });
});

describe('flags and usage', () => {
  it('says how to reach the operator when no URL is configured', async () => {
    const r = await runCli(['sessions', 'list'], { env: env() });
    expect(r.code).toBe(2);
    expect(r.err).toContain('kubectl -n guarita-system port-forward svc/guarita-operator 8443:8443');
    expect(r.err).toContain('--operator-url https://127.0.0.1:8443');
  });

  it('says when there is no Kubernetes context', async () => {
    const empty = join(dir, 'empty.kubeconfig');
    writeFileSync(empty, stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }));
    const r = await runCli(['sessions', 'list', '--operator-url', 'https://127.0.0.1:1'], { env: { KUBECONFIG: empty } });
    expect(r).toMatchObject({ code: 2, err: expect.stringContaining('no current Kubernetes context') });
  });

  it('rejects contradictory or malformed flags before contacting anything', async () => {
    const cases: [string[], RegExp][] = [
      [['replay'], /name one session/],
      [['replay', 's-1', '--speed', '0'], /--speed must be a positive number/],
      [['replay', 's-1', '--speed', '2', '--no-timing'], /exclude each other/],
      [['replay', 's-1', '--max-idle', 'soon'], /--max-idle must be a duration/],
      [['verify', '--anchor', 'ab'.repeat(32), '--policy', 'a', '--file', 'b'], /give one/],
      [['verify', '--anchor', 'not-a-hash', '--file', 'b'], /--anchor must be a store head or root: 64 lowercase hex digits/],
      [['verify', '--anchor', 'ab'.repeat(32)], /use it with --file/],
      [['verify', '--policy', 'Not_A_Name'], /must name an AccessPolicy/],
      [['export', '--since', '1h', '--until', '2h'], /--since .* must be before --until/],
      [['export', '--format', 'xml'], /--format must be jsonl, csv or asciicast/],
      [['sessions', 'show'], /did you mean 'guarita sessions list'/],
      [['sessions', 'list', '--since', 'last week'], /--since must be a duration ago/],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv, { env: env() });
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toMatch(message);
    }
  });

  it('documents every command, the exit codes and that CSV is not verifiable', async () => {
    for (const command of ['sessions', 'replay', 'verify', 'export']) {
      const r = await runCli([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`usage: guarita ${command}`);
      expect(r.out).toContain('--operator-url URL');
    }
    expect((await runCli(['export', '--help'])).out).toMatch(/csv .*NOT verifiable/s);
    expect((await runCli(['verify', '--help'])).out).toContain('Exit codes: 0 verified; 1 verification FAILED');
  });
});
