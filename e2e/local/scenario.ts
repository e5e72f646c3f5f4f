// The LGPD scenario, step by step, against a running stack: what the local end-to-end test asserts
// and what `npm run demo -- --scripted` prints. Each step reports what it saw, so a failure says
// which behaviour broke rather than only that something did.
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { kubectl, kubeconfigPath, requireKube, type TestUser } from '../harness/state.ts';
import type { ApprovalRequest } from '../../crds/types.ts';
import { agentHttp, agentPsql, agentToken, collect, spawnPsql, type Ran } from './agent.ts';
import { seedCpfs, seedEmails, storeDir, type Stack } from './stack.ts';

export interface StepReport { step: string; ok: boolean; detail: string; ms: number }
type Check = (stack: Stack) => Promise<string>;

const CLI = join(import.meta.dirname, '../../cli/bin/guarita');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class StepFailed extends Error {}

function expectThat(condition: boolean, message: string): void {
  if (!condition) throw new StepFailed(message);
}

function leakedCpfs(text: string): string[] {
  return seedCpfs().filter((cpf) => text.includes(cpf) || text.includes(cpf.replace(/\D/g, '')));
}

function leakedEmails(text: string): string[] {
  return seedEmails().filter((email) => text.includes(email));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(250);
  }
  throw new StepFailed(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function approvalRequests(stack: Stack): Promise<ApprovalRequest[]> {
  const res = await kubectl(['get', 'approvalrequests', '-n', stack.namespace, '-o', 'json'], { user: 'admin' });
  return (JSON.parse(res.stdout) as { items: ApprovalRequest[] }).items;
}

function cli(user: TestUser, args: string[], stack: Stack): Promise<Ran> {
  const child = spawn(CLI, [...args, '-n', stack.namespace], { env: { ...process.env, KUBECONFIG: kubeconfigPath(user), GUARITA_OPERATOR_URL: stack.operator.url, GUARITA_OPERATOR_CA: kubeCaFile() } });
  return collect(child, '');
}

function kubeCaFile(): string {
  return requireKube().caFile;
}

const readMasked: Check = async (stack) => {
  const r = await agentPsql(stack, 'support-agent', ['-A', '-t', '-c', 'SELECT id, nome, cpf, email FROM customers ORDER BY id LIMIT 5']);
  expectThat(r.code === 0, `psql failed: ${r.stderr}`);
  const rows = r.stdout.trim().split('\n');
  expectThat(rows.length === 5, `expected 5 rows, got ${rows.length}`);
  expectThat(leakedCpfs(r.stdout).length === 0, `unmasked CPF in the result: ${leakedCpfs(r.stdout).join(', ')}`);
  expectThat(leakedEmails(r.stdout).length === 0, `unmasked e-mail in the result: ${leakedEmails(r.stdout).join(', ')}`);
  return `5 rows, e.g. ${rows[0] ?? ''}`;
};

const dropDenied: Check = async (stack) => {
  const r = await agentPsql(stack, 'support-agent', ['-A', '-t', '-c', 'DROP TABLE customers', '-c', 'SELECT count(*) FROM customers']);
  expectThat(/42501/.test(r.stderr) && /deny-ddl-and-dcl/.test(r.stderr), `expected SQLSTATE 42501 naming deny-ddl-and-dcl, got: ${r.stderr}`);
  expectThat(r.stdout.trim() === '50', `the same session should still answer: got '${r.stdout.trim()}'`);
  return `${r.stderr.split('\n').find((l) => l.includes('42501')) ?? ''}; next query on the same connection: count = 50`;
};

const httpMasked: Check = async (stack) => {
  const read = await agentHttp(stack, 'support-agent', '/customers/1');
  expectThat(read.status === 200, `GET /customers/1: ${read.status} ${read.text}`);
  expectThat(leakedCpfs(read.text).length === 0, `unmasked CPF in ${read.text}`);
  const del = await agentHttp(stack, 'support-agent', '/customers/1', { method: 'DELETE' });
  expectThat(del.status === 403 && del.text.includes('deny-deletes'), `DELETE should be 403 naming deny-deletes: ${del.status} ${del.text}`);
  const body = JSON.parse(read.text) as { customer?: { cpf?: string; email?: string } };
  expectThat(leakedEmails(read.text).length === 0, `unmasked e-mail in ${read.text}`);
  return `GET 200 with cpf ${body.customer?.cpf ?? '?'}, email ${body.customer?.email ?? '?'}; DELETE 403 (deny-deletes)`;
};

async function heldExport(stack: Stack, known: Set<string>): Promise<{ psql: Promise<Ran>; request: ApprovalRequest }> {
  const psql = collect(spawnPsql(stack, await agentToken('support-agent'), ['-c', 'COPY customers TO STDOUT']), '');
  const request = await until('an ApprovalRequest for the export', async () =>
    (await approvalRequests(stack)).find((r) => !known.has(r.metadata.name) && r.spec.command.text.includes('COPY customers TO STDOUT')));
  known.add(request.metadata.name);
  return { psql, request };
}

const seen = new Set<string>();

const exportApproved: Check = async (stack) => {
  const { psql, request } = await heldExport(stack, seen);
  const name = request.metadata.name;
  const patch = JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: 'LGPD art. 18 request #4711' } }]);
  const approved = await kubectl(['patch', 'approvalrequest', name, '-n', stack.namespace, '--type=json', '-p', patch], { user: 'dana' });
  expectThat(approved.code === 0, `dana's kubectl patch failed: ${approved.stderr}`);
  const r = await psql;
  expectThat(r.code === 0, `the approved export failed: ${r.stderr}`);
  expectThat(r.stdout.trim().split('\n').length === 50, `expected 50 exported rows, got ${r.stdout.trim().split('\n').length}`);
  expectThat(leakedCpfs(r.stdout).length === 0, 'unmasked CPF in the export');
  const consumed = await until('the ApprovalRequest to be Consumed', async () => {
    const now = (await approvalRequests(stack)).find((x) => x.metadata.name === name);
    return now?.status?.phase === 'Consumed' ? now : undefined;
  });
  const reviewer = consumed.spec.reviews?.[0]?.reviewer;
  expectThat(reviewer === 'dana', `the webhook should stamp reviewer dana, got ${String(reviewer)}`);
  return `${name}: held, approved by ${reviewer}, ran once (50 masked rows), phase Consumed`;
};

const exportNeedsNewApproval: Check = async (stack) => {
  const { psql, request } = await heldExport(stack, seen);
  const denied = await cli('dave', ['deny', request.metadata.name, '--reason', 'one export per ticket'], stack);
  expectThat(denied.code === 0, `guarita deny failed: ${denied.stderr}`);
  const r = await psql;
  expectThat(r.code !== 0 && r.stderr.includes(request.metadata.name), `the denied export should fail naming ${request.metadata.name}: ${r.stderr}`);
  return `a second COPY created ${request.metadata.name}; dave denied it with guarita deny; psql: ${r.stderr.trim().split('\n')[0] ?? ''}`;
};

const revocationCutsSession: Check = async (stack) => {
  const child = spawnPsql(stack, await agentToken('contractor-agent'), ['-A', '-t']);
  const done = collect(child);
  child.stdin.write("SELECT 'before revocation';\n");
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  await until('the contractor session to answer', () => Promise.resolve(out.includes('before revocation') ? true : undefined));
  const patch = JSON.stringify([{ op: 'add', path: '/spec/revokedSubjects/-', value: { kind: 'User', name: 'contractor-agent', reason: 'contract ended' } }]);
  const revoked = await kubectl(['patch', 'accesspolicy', 'orders-db', '-n', stack.namespace, '--type=json', '-p', patch], { user: 'admin' });
  expectThat(revoked.code === 0, `revoking failed: ${revoked.stderr}`);
  // psql notices a closed connection only when it next talks to the server: give the sidecar a
  // moment (revocation takes milliseconds, see bench/revocation.ts), then ask again on the same connection.
  await sleep(2000);
  child.stdin.end("SELECT 'after revocation';\n");
  const r = await done;
  expectThat(!r.stdout.includes('after revocation'), 'the revoked session still answered');
  expectThat(/revoked|terminat|closed the connection/i.test(r.stderr), `the open session should have been cut: ${r.stderr}`);
  const again = await agentPsql(stack, 'contractor-agent', ['-c', 'SELECT 1']);
  expectThat(again.code !== 0 && /revoked/i.test(again.stderr), `a new contractor session should be refused as revoked: ${again.stderr}`);
  return `open session cut (${r.stderr.trim().split('\n')[0] ?? ''}); new session refused: ${again.stderr.trim().split('\n').pop() ?? ''}`;
};

const auditorTrail: Check = async (stack) => {
  const list = await cli('audrey', ['sessions', 'list', '-o', 'json'], stack);
  expectThat(list.code === 0, `sessions list failed: ${list.stderr}`);
  const sessions = (JSON.parse(list.stdout) as { items: { sessionId: string; subject: string }[] }).items;
  expectThat(sessions.length >= 4, `expected at least 4 recorded sessions, got ${sessions.length}`);
  const replay = await cli('audrey', ['replay', sessions[0]?.sessionId ?? '', '--no-timing'], stack);
  expectThat(replay.code === 0 && replay.stdout.length > 0, `replay failed: ${replay.stderr}`);
  const verify = await cli('audrey', ['verify', '--policy', 'orders-db'], stack);
  expectThat(verify.code === 0, `verify failed on an intact store: ${verify.stdout}${verify.stderr}`);
  const file = join(storeDir(stack), '..', 'audit.jsonl');
  const exported = await cli('audrey', ['export', '--since', '24h', '--format', 'jsonl', '-o', file], stack);
  expectThat(exported.code === 0, `export failed: ${exported.stderr}`);
  const offline = await cli('audrey', ['verify', '--file', file], stack);
  expectThat(offline.code === 0, `offline verify of the export failed: ${offline.stdout}${offline.stderr}`);
  const eve = await cli('eve', ['sessions', 'list'], stack);
  expectThat(eve.code !== 0 && /not authorized|403/i.test(eve.stderr), `eve should be refused: ${eve.stderr}`);
  return `${sessions.length} sessions listed, replayed, store and export verified; eve refused`;
};

function largestSegment(dir: string): string {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile() && /seg|\.log|\.jsonl/.test(f.name));
  const paths = files.map((f) => join(f.parentPath, f.name)).sort((a, b) => statSync(b).size - statSync(a).size);
  if (paths[0] === undefined) throw new StepFailed(`no segment files under ${dir}`);
  return paths[0];
}

const tamperingDetected: Check = async (stack) => {
  const segment = largestSegment(storeDir(stack));
  const bytes = readFileSync(segment);
  const at = bytes.indexOf(Buffer.from('DROP TABLE'));
  expectThat(at >= 0, `no recorded DROP TABLE in ${segment}`);
  bytes[at] = 'd'.charCodeAt(0);
  writeFileSync(segment, bytes);
  const verify = await cli('audrey', ['verify', '--policy', 'orders-db'], stack);
  expectThat(verify.code !== 0, 'verify passed on a tampered store');
  return `changed one byte of ${segment.split('/').slice(-2).join('/')}; verify: ${(verify.stdout + verify.stderr).trim().split('\n').find((l) => /record|seq/i.test(l)) ?? ''}`;
};

export const STEPS: [string, Check][] = [
  ['an agent reads customers through psql: CPF and e-mail come back masked', readMasked],
  ['DROP TABLE is blocked (42501, rule named) and the session stays usable', dropDenied],
  ['over HTTP the customer record is masked and DELETE is denied', httpMasked],
  ['an export is held, approved by a dpo user with kubectl patch, and runs once', exportApproved],
  ['the same export needs a new approval (denied with guarita deny)', exportNeedsNewApproval],
  ['a contractor revoked in the policy while connected is cut off, and new sessions are refused', revocationCutsSession],
  ['an auditor lists, replays, verifies and exports the sessions', auditorTrail],
  ['tampering with the stored records is detected by guarita verify', tamperingDetected],
];

export async function runScenario(stack: Stack, print: (line: string) => void = () => undefined): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (const [step, check] of STEPS) {
    const started = Date.now();
    try {
      const detail = await check(stack);
      reports.push({ step, ok: true, detail, ms: Date.now() - started });
      print(`  ✓ ${step}\n      ${detail}`);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      reports.push({ step, ok: false, detail, ms: Date.now() - started });
      print(`  ✗ ${step}\n      ${detail}`);
    }
  }
  return reports;
}
