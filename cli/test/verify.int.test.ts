// sessions / replay / export / verify against the harness: the REAL operator process (ingest,
// store, anchoring, read API with TokenReview and SubjectAccessReview), records and checkpoints
// from fake sidecars, and the CLI run in-process as harness users with their own kubeconfigs. The
// store's segment files and export files (whole and partial) are then altered byte by byte, line by
// line, and re-signed with a fresh store key, which the anchor in AccessPolicy status exposes.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigPath, requireKube, type TestUser } from '../../e2e/harness/state.ts';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { apply, createNamespaces, getObject, grantSessionReaders, userToken } from '../../e2e/support/kube-apply.ts';
import { installCrds, k, suffix } from '../../e2e/support/kubectl.ts';
import { call, parseJsonl } from '../../e2e/support/operator-api.ts';
import { operatorFixture, startOperator, waitServing, type OperatorFixture, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { sidecarClient, type SidecarClient } from '../../e2e/support/sidecar-client.ts';
import type { PolicyEntryLine, SessionRecord } from '../../core/recording/store-types.ts';
import { runCli, type CliResult } from './run-cli.ts';
import { generateSigningKey, hashOf, type Linked } from '../../core/recording/index.ts';
import { exportRecordLine, signStatement } from '../../core/recording/export-format.ts';
import { leafHashOfHex, rootFromInclusionProof } from '../../core/recording/merkle.ts';
import { signCheckpoint } from '../../core/recording/checkpoint.ts';

jest.setTimeout(120_000);

const id = suffix();
const ns = `cli-rec-${id}`;
const opNs = `cli-recop-${id}`;
const POLICIES = ['orders-db', 'tamper-byte', 'tamper-delete', 'tamper-swap', 'rewritten'] as const;
type Policy = (typeof POLICIES)[number];

let fx: OperatorFixture;
let op: OperatorProcess;
let dir: string;
const sidecars = new Map<Policy, SidecarClient>();
const sent = new Map<Policy, SessionRecord[]>();

function cli(user: TestUser, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli([...args, '-n', ns], {
    env: { KUBECONFIG: kubeconfigPath(user), GUARITA_OPERATOR_URL: op.url, GUARITA_OPERATOR_CA: requireKube().caFile, ...env },
  });
}

/** A command recorded as cut (its text only the first 64 KiB of the masked text): what the CSV must say. */
const CUT = { commandTruncated: true, commandSha256: 'c0ffee'.padEnd(64, '0') } as const;

/** Records of one sidecar for `policy`: a session with allowed, denied and held commands. */
async function record(policy: Policy): Promise<void> {
  const sc = await sidecarClient(ns, 'agent', `agent-${policy}`);
  expect((await sc.register(op.url)).status).toBe(201);
  const base = { policy, target: policy, sessionId: `s-${policy}`, subject: 'support-agent' };
  const records = [
    ...sc.next(1, { ...base, type: 'session.start', decision: 'allow', reason: 'from 10.0.0.7', command: undefined, result: undefined }),
    ...sc.next(4, (i) => ({ ...base, command: `SELECT name, cpf FROM customers WHERE id = ${i}`, masked: { cpf: 1 }, ...(policy === 'orders-db' && i === 3 ? CUT : {}) })),
    ...sc.next(1, { ...base, command: 'DELETE FROM customers', decision: 'deny', rule: 'no-deletes', reason: 'deletes are not allowed', result: undefined }),
    ...sc.next(1, { ...base, type: 'session.end', reason: 'closed by the client', command: undefined, result: undefined }),
  ];
  // Two batches: two commit groups, so the store chain has an unsigned link before a checkpoint.
  expect((await sc.send(op.url, records.slice(0, 3))).status).toBe(200);
  expect((await sc.send(op.url, records.slice(3))).status).toBe(200);
  sidecars.set(policy, sc);
  sent.set(policy, records);
}

async function anchored(policy: Policy): Promise<void> {
  const chain = await call<{ records: number }>(op.url, 'GET', `/v1/namespaces/${ns}/policies/${policy}/chain`, userToken('audrey'));
  expect(chain.status).toBe(200);
  await eventually(`${policy} anchored at ${chain.body.records}`, async () => {
    const p = await getObject<{ status?: { chain?: { records: number } } }>('accesspolicy', ns, policy);
    return p.status?.chain?.records === chain.body.records ? true : undefined;
  });
}

/** The segment file of a policy in the operator's store, and an edit of its lines. */
function editSegment(policy: Policy, edit: (lines: string[]) => void): void {
  const segDir = join(fx.dataDir, 'policies', ns, policy, 'segments');
  const [name] = readdirSync(segDir).filter((n) => n.endsWith('.seg'));
  const file = join(segDir, name!);
  const lines = readFileSync(file, 'utf8').split('\n');
  edit(lines);
  writeFileSync(file, lines.join('\n'));
}

function lineOf(lines: string[], r: SessionRecord): number {
  const i = lines.findIndex((l) => l.includes(`"hash":"${r.hash}"`) && l.includes('"r":'));
  expect(i).toBeGreaterThan(0);
  return i;
}

async function patchAnchor(policy: Policy, chain: { head: string; records: number }): Promise<void> {
  await k(['patch', 'accesspolicy', policy, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { chain: { ...chain, anchoredAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } } })]);
}

beforeAll(async () => {
  await installCrds();
  fx = await operatorFixture(opNs);
  dir = mkdtempSync(join(tmpdir(), 'guarita-cli-int-'));
  await createNamespaces(ns);
  await apply([
    ...POLICIES.map((p) => accessPolicy(ns, p)),
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'policy-reader', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['accesspolicies'], verbs: ['get', 'list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'auditors-read-policies', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'policy-reader' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'auditors' }] },
  ]);
  await grantSessionReaders(ns, { kind: 'Group', name: 'auditors' });
  op = await startOperator({ ...fx, watchNamespaces: [ns] });
  await waitServing(op);
  for (const p of POLICIES) await record(p);
  for (const p of POLICIES) await anchored(p);
}, 180_000);

/** The same store served by a new operator process (its anchorer's interval `anchorInterval`, the fixture's 500ms by default). */
async function restartOperator(anchorInterval?: string): Promise<void> {
  await op.stop();
  op = await startOperator({ ...fx, watchNamespaces: [ns], ...(anchorInterval === undefined ? {} : { env: { GUARITA_ANCHOR_INTERVAL: anchorInterval } }) });
  await waitServing(op);
}

afterAll(async () => {
  await op?.stop();
});

describe('guarita sessions list / replay', () => {
  it('lists recorded sessions for an auditor, filtered, as a table or JSON', async () => {
    const table = await cli('audrey', ['sessions', 'list', '--policy', 'orders-db', '--since', '1h']);
    expect(table).toMatchObject({ code: 0, err: '' });
    expect(table.out).toMatch(/^SESSION\s+POLICY\s+SUBJECT\s+PURPOSE\s+STARTED\s+DURATION\s+COMMANDS\s+DENIED\s+APPROVALS\s+STATUS\n/);
    expect(table.out).toMatch(/s-orders-db\s+orders-db\s+support-agent\s+customer-support\s+\d+s ago\s+\S+\s+5\s+1\s+0\s+ended\n/);
    expect(table.out).not.toContain('s-tamper-byte');
    const json = JSON.parse((await cli('audrey', ['sessions', 'list', '-o', 'json'])).out) as { items: { sessionId: string }[] };
    expect(json.items.map((s) => s.sessionId).sort()).toEqual(POLICIES.map((p) => `s-${p}`).sort());
    expect((await cli('audrey', ['sessions', 'list', '--subject', 'nobody'])).err).toContain(`No recorded sessions in namespace ${ns}`);
  });

  it('replays a session with its decisions and masked results, checking each record\'s signature', async () => {
    const r = await cli('audrey', ['replay', 's-orders-db', '--no-timing']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Session s-orders-db  policy orders-db  target orders-db (postgres)');
    expect(r.out).toMatch(/\[\+\d\d:\d\d\.\d{3}\] ▶ session started \(from 10\.0\.0\.7\)/);
    expect(r.out).toContain('support-agent> SELECT name, cpf FROM customers WHERE id = 0');
    expect(r.out).toContain('✓ allowed · rule allow-the-rest · 1 row · 64 B · 3 ms · masked cpf=1');
    expect(r.out).toContain('│ id=1 cpf=***.***.***-33');
    expect(r.out).toContain('✗ denied · rule no-deletes · deletes are not allowed');
    expect(r.out).toContain('■ session ended: closed by the client');
    expect(r.err).toContain('7 record(s), each intact and proven by its sidecar\'s checkpoints, signed with its registered key');
    const json = JSON.parse((await cli('audrey', ['replay', 's-orders-db', '-o', 'json'])).out) as { records: unknown[]; integrity: unknown };
    expect(json).toMatchObject({ integrity: { checked: true, tampered: [] } });
    expect(json.records).toHaveLength(7);
    expect((await cli('audrey', ['replay', 's-nope'])).err).toMatch(/reading session s-nope .*: not found: no session s-nope/);
  });
});

describe('guarita export and verify --file', () => {
  let file: string;

  it('exports JSONL to a file (mode 0600) that verifies offline', async () => {
    file = join(dir, 'audit.jsonl');
    const r = await cli('audrey', ['export', '--since', '1h', '-o', file]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(new RegExp(`Exported 35 record\\(s\\) of 5 chain\\(s\\) of namespace ${ns} \\(.* \\.\\. now\\) to ${file}\\.\\nVerify it offline: guarita verify --file ${file}`));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['audit.jsonl']);
    const v = await runCli(['verify', '--file', file]);
    expect(v).toMatchObject({ code: 0 });
    expect(v.out).toContain('35 record(s) of 5 chain(s)');
  });

  it('exports to stdout for a pipe into verify --file -', async () => {
    const r = await cli('audrey', ['export']);
    expect(r.code).toBe(0);
    expect(r.err).toContain('to stdout.\nVerify it offline: guarita verify --file FILE');
    expect((await runCli(['verify', '--file', '-'], { stdin: r.out })).out).toContain('35 record(s) of 5 chain(s)');
  });

  it('fails naming the record after a byte of the export is changed, a record deleted, or two swapped', async () => {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const target = sent.get('orders-db')![2]!;
    const at = lines.findIndex((l) => l.includes(`"hash":"${target.hash}"`));
    const variants: [string, (l: string[]) => void, RegExp][] = [
      ['byte', (l) => { l[at] = l[at]!.replace('WHERE id = 1', 'WHERE id = 9'); }, /its content does not match its hash: the record was altered/],
      ['deleted', (l) => { l.splice(at, 1); }, /#3 is missing: deleted from the file/],
      ['swapped', (l) => { [l[at], l[at + 1]] = [l[at + 1]!, l[at]!]; }, /#3 is missing: deleted from the file/],
    ];
    for (const [name, edit, problem] of variants) {
      const copy = [...lines];
      edit(copy);
      const altered = join(dir, `${name}.jsonl`);
      writeFileSync(altered, `${copy.join('\n')}\n`);
      const v = await runCli(['verify', '--file', altered]);
      expect({ name, code: v.code }).toEqual({ name, code: 1 });
      expect(v.out).toContain(`first bad record: record ${target.chainId}#3 (line `);
      expect(v.out).toMatch(problem);
    }
  });

  it('names the first or the last record of a chain deleted from the export', async () => {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    for (const target of [sent.get('orders-db')![0]!, sent.get('orders-db')![6]!]) {
      const altered = join(dir, `cut-${target.seq}.jsonl`);
      writeFileSync(altered, `${lines.filter((l) => !l.includes(`"hash":"${target.hash}"}`)).join('\n')}\n`);
      const v = await runCli(['verify', '--file', altered, '-o', 'json']);
      expect(v.code).toBe(1);
      expect(JSON.parse(v.out)).toMatchObject({ ok: false, firstBad: { chainId: target.chainId, seq: target.seq, problem: expect.stringContaining('missing') } });
    }
  });

  it('exports one policy or one session verifiably, each anchored to the cluster with --policy', async () => {
    const byPolicy = join(dir, 'policy.jsonl');
    expect((await cli('audrey', ['export', '--policy', 'orders-db', '-o', byPolicy])).code).toBe(0);
    const anchored = await cli('audrey', ['verify', '--file', byPolicy, '--policy', 'orders-db']);
    expect(anchored).toMatchObject({ code: 0 });
    expect(anchored.out).toContain('7 record(s) of 1 chain(s)');
    expect(anchored.out).toMatch(/anchored: the store head given matches the file's/);
    const bySession = join(dir, 'session.jsonl');
    expect((await cli('audrey', ['export', '--session', 's-tamper-swap', '-o', bySession])).code).toBe(0);
    const v = await runCli(['verify', '--file', bySession, '-o', 'json']);
    expect(JSON.parse(v.out)).toMatchObject({ ok: true, records: 7, trust: { state: 'self-asserted' } });
    // The first record of the session cut from the partial export: named.
    const first = sent.get('tamper-swap')![0]!;
    const cut = join(dir, 'session-cut.jsonl');
    writeFileSync(cut, `${readFileSync(bySession, 'utf8').trimEnd().split('\n').filter((l) => !l.includes(`"hash":"${first.hash}"}`)).join('\n')}\n`);
    expect(JSON.parse((await runCli(['verify', '--file', cut, '-o', 'json'])).out)).toMatchObject({ ok: false, firstBad: { seq: 1, problem: expect.stringContaining('missing') } });
  });

  it('fails an export re-signed with a fresh store key against the anchor in AccessPolicy status', async () => {
    const forger = generateSigningKey();
    const genuine = join(dir, 'to-forge.jsonl');
    expect((await cli('audrey', ['export', '--policy', 'orders-db', '-o', genuine])).code).toBe(0);
    const lines = readFileSync(genuine, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const forged = lines.map((l) => {
      if (l.type === 'storeKey') return { ...l, keyId: forger.keyId, publicJwk: forger.publicJwk };
      if (l.type === 'registration' || l.type === 'manifest') return { type: l.type, ...signStatement(l.statement as object, forger) };
      if (l.type === 'anchor') {
        const { hash: _h, sig: _s, ...link } = { ...(l.link as Record<string, unknown> & { hash?: string; sig?: string }), keyId: forger.keyId };
        const hash = hashOf(link as Linked<object>);
        // A forger holding everything but the real store key signs a store checkpoint of its own over the forged link.
        const inclusion = (l.inclusion as string[] | undefined) ?? [];
        const records = l.records as number;
        const root = rootFromInclusionProof(records - 1, records, leafHashOfHex(hash), inclusion.map((h) => Buffer.from(h, 'hex')))!;
        const note = signCheckpoint({ origin: `store/${ns}/orders-db`, size: records, rootHash: root, time: new Date().toISOString() }, forger);
        return { type: 'anchor', policy: l.policy, records, head: hash, link: { ...link, hash }, root: root.toString('hex'), note, inclusion };
      }
      // The checkpoints' store links are proven in the real store log's root, which the forged anchor no longer has: dropped.
      if (l.type === 'checkpoint') return { ...l, store: undefined };
      return l;
    });
    const file2 = join(dir, 'forged.jsonl');
    writeFileSync(file2, `${forged.map((l) => ('seq' in l ? exportRecordLine(l as unknown as SessionRecord) : JSON.stringify(l))).join('\n')}\n`);
    // Alone, the file is consistent: nothing outside it vouches for its store key.
    expect(JSON.parse((await runCli(['verify', '--file', file2, '-o', 'json'])).out)).toMatchObject({ ok: true, trust: { state: 'self-asserted' } });
    const v = await cli('audrey', ['verify', '--file', file2, '--policy', 'orders-db']);
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/AccessPolicy orders-db anchors \d+ links .* re-signed/);
    const head = (await getObject<{ status?: { chain?: { head: string } } }>('accesspolicy', ns, 'orders-db')).status?.chain?.head ?? '';
    expect((await runCli(['verify', '--file', file2, '--anchor', head])).out).toMatch(/re-signed with another key/);
  });

  it('fails a real export given chain keys vouched for by a second store key beside the real one (issue 19 review)', async () => {
    const forger = generateSigningKey();
    const genuine = join(dir, 'to-splice.jsonl');
    expect((await cli('audrey', ['export', '--policy', 'orders-db', '-o', genuine])).code).toBe(0);
    const lines = readFileSync(genuine, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // The real store key, anchors and manifest stay; a forger's store key vouches for the chain keys.
    const spliced = lines.flatMap((l) => {
      if (l.type === 'storeKey') return [l, { type: 'storeKey', keyId: forger.keyId, publicJwk: forger.publicJwk }];
      if (l.type === 'registration') return [{ type: 'registration', ...signStatement(l.statement as object, forger) }];
      return [l];
    });
    const file = join(dir, 'spliced-keys.jsonl');
    writeFileSync(file, `${spliced.map((l) => ('seq' in l ? exportRecordLine(l as unknown as SessionRecord) : JSON.stringify(l))).join('\n')}\n`);
    const v = await cli('audrey', ['verify', '--file', file, '--policy', 'orders-db']);
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/signed by store key .* not the store key that signed the manifest/);
    // The genuine file, unanchored, says so in its title; anchored, it does not.
    expect((await runCli(['verify', '--file', genuine])).out).toMatch(/VERIFIED \(self-asserted: not anchored/);
    expect((await cli('audrey', ['verify', '--file', genuine, '--policy', 'orders-db'])).out).toMatch(/VERIFIED\n/);
  });

  it('fails the records of a real export rewritten as a format 1 file (a downgrade: format 2 records carry no signature)', async () => {
    const genuine = join(dir, 'to-downgrade.jsonl');
    expect((await cli('audrey', ['export', '--policy', 'orders-db', '-o', genuine])).code).toBe(0);
    const lines = readFileSync(genuine, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const keys = lines.filter((l) => l.type === 'registration').map((l) => {
      const s = l.statement as Record<string, unknown>;
      return { type: 'key', chainId: s.chainId, keyId: s.keyId, publicJwk: s.publicJwk, pod: s.pod };
    });
    const records = lines.filter((l) => 'seq' in l && typeof l.hash === 'string');
    const file = join(dir, 'downgraded.jsonl');
    writeFileSync(file, `${[...keys, ...records].map((l) => JSON.stringify(l)).join('\n')}\n`);
    const v = await runCli(['verify', '--file', file]);
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/format 2 record .* in a format 1 export/);
  });

  it('exports CSV: one row per command, with approvals and masked counts, and says it is not verifiable', async () => {
    const csv = join(dir, 'audit.csv');
    const r = await cli('audrey', ['export', '--since', '1h', '--policy', 'orders-db', '-o', csv]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('Exported 5 command row(s) from 7 record(s)');
    expect(r.err).toContain('A CSV export is not verifiable');
    const rows = readFileSync(csv, 'utf8').trimEnd().split('\r\n');
    expect(rows[0]).toBe('time,namespace,policy,target,session,subject,groups,purpose,command,decision,rule,approvalRequest,rows,bytes,masked,record,reviews,commandTruncated,commandSha256,bytesIn');
    expect(rows).toHaveLength(6);
    expect(rows[1]!.endsWith(',false,,')).toBe(true);
    expect(rows[4]).toContain('"SELECT name, cpf FROM customers WHERE id = 3"');
    expect(rows[4]!.endsWith(`,true,${CUT.commandSha256},`)).toBe(true);
    expect(rows[1]).toMatch(new RegExp(`^\\S+Z,${ns},orders-db,orders-db,s-orders-db,support-agent,support,customer-support,"SELECT name, cpf FROM customers WHERE id = 0",allow,allow-the-rest,,1,64,cpf=1,${ns}/agent-orders-db/`));
    expect(rows[5]).toContain(',DELETE FROM customers,deny,no-deletes,,,,,');
  });
});

describe('guarita verify --policy', () => {
  // The anchors stay as these tests patch them (an older genuine one, a rewritten one): a running
  // anchorer writes the store head over an overwritten status.chain within its interval
  // (AnchorOverwritten, operator/src/reconcile/anchor.test.ts), which raced the CLI on a loaded machine.
  beforeAll(() => restartOperator('1h'), 60_000);
  afterAll(() => restartOperator(), 60_000);

  it('passes on an intact store whose head matches the AccessPolicy anchor', async () => {
    const r = await cli('audrey', ['verify', '--policy', 'orders-db']);
    expect(r).toMatchObject({ code: 0 });
    expect(r.out).toContain(`Policy orders-db in namespace ${ns}: VERIFIED`);
    // Seven record links and one store.checkpoint link per batch (two batches).
    expect(r.out).toMatch(/store chain store\/.*\/orders-db: 9 link\(s\) from genesis to #9/);
    expect(r.out).toContain('7 record(s) from 1 sidecar chain(s), each intact and proven by its sidecar\'s registered key');
    expect(r.out).toContain('head matches AccessPolicy status.chain (9 links');
  });

  it('fails naming the record after a byte of a stored record is changed', async () => {
    const target = sent.get('tamper-byte')![3]!;
    editSegment('tamper-byte', (lines) => {
      const i = lineOf(lines, target);
      lines[i] = lines[i]!.replace('WHERE id = 2', 'WHERE id = 7');
    });
    const r = await cli('audrey', ['verify', '--policy', 'tamper-byte']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`Policy tamper-byte in namespace ${ns}: FAILED`);
    expect(r.out).toContain(`first bad record: record ${target.chainId}#4 (store link #5)`);
    expect(r.out).toContain(`command record of session s-tamper-byte at ${target.time}`);
    expect(r.out).toContain('command: SELECT name, cpf FROM customers WHERE id = 7');
    expect(r.out).toContain('the record was altered (its content does not match its hash)');
  });

  it('fails naming the record after a stored record is deleted', async () => {
    const target = sent.get('tamper-delete')![4]!;
    editSegment('tamper-delete', (lines) => { lines.splice(lineOf(lines, target), 1); });
    const r = await cli('audrey', ['verify', '--policy', 'tamper-delete']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`first bad record: record ${target.chainId}#5 (store link #6)`);
    expect(r.out).toContain(`store link #6 is missing: deleted from the store (the next stored record is ${target.chainId}#6)`);
    expect(r.out).not.toContain('command:');
  });

  it('fails naming the records after two stored records are swapped', async () => {
    const target = sent.get('tamper-swap')![1]!;
    editSegment('tamper-swap', (lines) => {
      const i = lineOf(lines, target);
      [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
    });
    const r = await cli('audrey', ['verify', '--policy', 'tamper-swap']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`first bad record: record ${target.chainId}#2 (store link #2)`);
    expect(r.out).toContain('store links were swapped or reordered: link #2 is stored after link #3');
  });

  it('verifies up to an anchor that lags the store and counts the links not anchored yet', async () => {
    // An older, genuine anchor (anchoring is periodic); the operator rewrites it only when the store changes.
    const entries = parseJsonl<PolicyEntryLine>((await call(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/chain/entries`, userToken('audrey'))).text);
    const fifth = entries.find((l) => l.type === 'entry' && l.link.seq === 5) as Extract<PolicyEntryLine, { type: 'entry' }>;
    await patchAnchor('orders-db', { head: fifth.link.hash, records: 5 });
    const r = await cli('audrey', ['verify', '--policy', 'orders-db']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('head matches AccessPolicy status.chain (5 links');
    expect(r.out).toContain('4 newer link(s) verified but not anchored yet');
  });

  it('fails when the store head is not the anchored one (the store was rewritten)', async () => {
    await patchAnchor('rewritten', { head: 'e'.repeat(64), records: 7 });
    const r = await cli('audrey', ['verify', '--policy', 'rewritten']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('anchored head eeeeeeeeeeee… at 7 records is not on the store chain: the store was altered');
  });

  it('verifies every policy of the namespace without --policy, failing if any fails', async () => {
    const r = await cli('audrey', ['verify', '-o', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.out) as { ok: boolean; items: { policy: string; ok: boolean }[] };
    expect(out.items.map((v) => [v.policy, v.ok])).toEqual([['orders-db', true], ['rewritten', false], ['tamper-byte', false], ['tamper-delete', false], ['tamper-swap', false]]);
  });
});

describe('errors say what to do next', () => {
  it('tells a user without RBAC on recordings that they are not authorized (403)', async () => {
    for (const args of [['sessions', 'list'], ['replay', 's-orders-db'], ['export', '-o', join(dir, 'eve.jsonl')]]) {
      const r = await cli('eve', args);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/not authorized \(403\): eve cannot (list|get) sessions\.guarita\.io in namespace .* \(grant it with a Role on apiGroups \[guarita\.io\], resources \[sessions\], verbs \[get, list\]\)/);
    }
    expect(readdirSync(dir)).not.toContain('eve.jsonl');
    const v = await cli('eve', ['verify', '--policy', 'orders-db']);
    expect(v.code).toBe(3);
    expect(v.err).toMatch(/could not verify: .*not authorized/);
  });

  it('says the operator is unreachable and how to port-forward to it', async () => {
    const r = await cli('audrey', ['sessions', 'list'], { GUARITA_OPERATOR_URL: 'https://127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot reach the Guarita operator at https://127.0.0.1:1');
    expect(r.err).toContain('kubectl -n guarita-system port-forward svc/guarita-operator 8443:8443');
  });

  it('refuses an operator certificate it cannot verify, saying which flag fixes it', async () => {
    const r = await cli('audrey', ['sessions', 'list'], { GUARITA_OPERATOR_CA: '' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the operator's TLS certificate at .* is not trusted .*--operator-ca FILE/);
    const wrongName = await cli('audrey', ['sessions', 'list', '--operator-tls-server-name', 'guarita-operator.guarita-system.svc']);
    expect(wrongName.err).toContain('--operator-tls-server-name');
  });
});

describe('an export taken while a sidecar ships and the operator anchors (issue 21, E1)', () => {
  const POLICY = 'racing';

  it('verifies against AccessPolicy status right after, and later through the operator\'s proof that the store log grew', async () => {
    await apply([accessPolicy(ns, POLICY)]);
    const sc = await sidecarClient(ns, 'agent', 'agent-racing');
    expect((await sc.register(op.url)).status).toBe(201);
    const base = { policy: POLICY, target: POLICY, sessionId: 's-racing', subject: 'support-agent' };
    let shipping = true;
    let batches = 0;
    const shipper = (async () => {
      while (shipping) {
        const r = await sc.send(op.url, sc.next(3, (i) => ({ ...base, command: `SELECT name FROM customers WHERE id = ${i}` })));
        if (r.status !== 200) throw new Error(`batch ${batches}: ${r.status} ${JSON.stringify(r.body)}`);
        batches++;
      }
    })();
    await eventually('racing anchored', async () => ((await getObject<{ status?: { chain?: unknown } }>('accesspolicy', ns, POLICY)).status?.chain === undefined ? undefined : true));

    const files: string[] = [];
    for (let i = 0; i < 4; i++) {
      const file = join(dir, `racing-${i}.jsonl`);
      const atStart = batches;
      expect((await cli('audrey', ['export', '--policy', POLICY, '-o', file])).code).toBe(0);
      // AccessPolicy status read once the file is: its head, the export's own, or newer (the operator's proof).
      const v = await cli('audrey', ['verify', '--file', file, '--policy', POLICY]);
      expect([i, v.code, v.err]).toEqual([i, 0, '']);
      expect(v.out).toMatch(/✓ anchored: /);
      files.push(file);
      await eventually(`batches after export ${i}`, () => Promise.resolve(batches > atStart + 1 ? true : undefined));
    }
    // Piped as auditors run it: the status is read after the export ends.
    const piped = await cli('audrey', ['export', '--policy', POLICY]);
    expect((await runCli(['verify', '--file', '-', '--policy', POLICY, '-n', ns], { stdin: piped.out, env: { KUBECONFIG: kubeconfigPath('audrey'), GUARITA_OPERATOR_URL: op.url, GUARITA_OPERATOR_CA: requireKube().caFile } })).code).toBe(0);
    shipping = false;
    await shipper;

    // Ingest stopped and anchored to the end: status is newer than every export taken meanwhile.
    const chain = await call<{ records: number }>(op.url, 'GET', `/v1/namespaces/${ns}/policies/${POLICY}/chain`, userToken('audrey'));
    await eventually('racing anchored to its store head', async () => ((await getObject<{ status?: { chain?: { records: number } } }>('accesspolicy', ns, POLICY)).status?.chain?.records === chain.body.records ? true : undefined));
    for (const file of files) {
      const v = await cli('audrey', ['verify', '--file', file, '--policy', POLICY, '-o', 'json']);
      const out = JSON.parse(v.out) as { ok: boolean; trust: { state: string; grown?: { records: number } } };
      expect([file, v.code, out.ok, out.trust.state, out.trust.grown?.records]).toEqual([file, 0, true, 'anchored', chain.body.records]);
    }
    expect((await cli('audrey', ['verify', '--file', files[0]!, '--policy', POLICY])).out).toMatch(new RegExp(`✓ anchored: AccessPolicy ${POLICY}'s head \\(${chain.body.records} links\\) extends the file's store head \\(\\d+ links\\): the operator's consistency proof verified`));

    // Without the operator the newer head cannot be tied to the file: could not verify (3), saying what is missing.
    const offline = await cli('audrey', ['verify', '--file', files[0]!, '--policy', POLICY], { GUARITA_OPERATOR_URL: 'https://127.0.0.1:1' });
    expect(offline.code).toBe(3);
    expect(offline.err).toMatch(new RegExp(`AccessPolicy ${POLICY} anchors ${chain.body.records} store links, more than the export's \\d+ .*needs the operator's proof.*cannot reach the Guarita operator`, 's'));
    expect(offline.err).toContain('--anchor and the head AccessPolicy status showed when the export was taken');

    // A head the store never had still fails, naming what it is not.
    const forged = await cli('audrey', ['verify', '--file', files[0]!, '--anchor', 'e'.repeat(64)]);
    expect(forged.code).toBe(1);
    expect(forged.out).toContain('no anchor of the export signed by its store key');
  });

  it('the proof endpoint names a bad parameter and what it cannot prove', async () => {
    const path = `/v1/namespaces/${ns}/policies/${POLICY}/chain/proof`;
    const token = userToken('audrey');
    expect(await call(op.url, 'GET', `${path}?from=x&to=3`, token)).toMatchObject({ status: 400, body: { message: expect.stringContaining('from: expected a store link number') } });
    expect(await call(op.url, 'GET', `${path}?from=5&to=5`, token)).toMatchObject({ status: 400, body: { message: expect.stringContaining('from (5) must be smaller than to (5)') } });
    expect(await call(op.url, 'GET', `${path}?from=1&to=999999`, token)).toMatchObject({ status: 404, body: { message: expect.stringContaining('store link #999999 of policy racing is not a stored store checkpoint') } });
    expect((await call(op.url, 'GET', `${path}?from=1&to=2`, userToken('eve'))).status).toBe(403);
  });
});
