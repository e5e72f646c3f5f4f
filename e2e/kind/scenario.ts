// The LGPD scenario on a real cluster, run by e2e/kind/run.sh after `helm install` (kubectl's
// current context is the cluster). It applies the example as users do (`kubectl apply -k
// examples/lgpd-orders`: its own PostgreSQL and customers API, the agent's ServiceAccount, the
// credentials, the policies and the agent Job); the webhook injects the sidecar into the Job's pod,
// the agent runs psql and wget through it, and its kubectl container troubleshoots through the
// Kubernetes API target (pods and logs masked, Secrets and delete denied, an exec into the database
// pod held), and its ssh Job reaches the orders host through the SSH target with the real ssh, scp
// and sftp (diagnostics allowed, a log read masked, rm denied, a backup read held, a download
// allowed, an upload denied). The DPO approves the held export, exec and backup read with `kubectl
// patch`; the operator anchors the recordings in the AccessPolicy status, the exec's and the SSH
// session's stream records are in their exports, masked, and `guarita verify` verifies the chains.
// Exits non-zero naming the first expectation that failed.
//
//   node e2e/kind/scenario.ts [--approver dana --approver-group dpo] [--timeout 600]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCommand, type CommandResult } from '../harness/exec.ts';
import { EXAMPLE_DIR } from '../support/examples.ts';
import { AGENT, AGENTS_NAMESPACE, DATA_NAMESPACE, EXPORT_SQL, isBackupRead, isDatabaseExec, KUBECTL_AGENT, KUBERNETES_POLICY, rawIdentifiers, seededCustomers, SSH_AGENT, SSH_POLICY } from './manifests.ts';

const GUARITA_CLI = join(import.meta.dirname, '../../cli/bin/guarita');

interface Options { approver: string; approverGroup: string; timeoutMs: number }

const verbose = import.meta.main;
const log = (msg: string): void => {
  if (verbose) process.stdout.write(`[scenario] ${msg}\n`);
};

export class ScenarioFailure extends Error {}

function expectThat(ok: boolean, what: string): void {
  if (!ok) throw new ScenarioFailure(what);
  log(`ok: ${what}`);
}

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  const result: CommandResult = await runCommand('kubectl', args, { timeoutMs: 660_000, ...(input === undefined ? {} : { input }) });
  if (result.code !== 0) throw new ScenarioFailure(`kubectl ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

async function json<T>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new ScenarioFailure(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 3000));
  }
}

async function setUp(): Promise<void> {
  log(`applying the example (kubectl apply -k ${EXAMPLE_DIR})`);
  await kubectl(['-n', AGENTS_NAMESPACE, 'delete', 'job', AGENT, KUBECTL_AGENT, SSH_AGENT, '--ignore-not-found', '--wait=true']);
  await kubectl(['apply', '-k', EXAMPLE_DIR]);
  // orders-host installs openssh-server at start (apt-get): give it longer than the others.
  await kubectl(['-n', DATA_NAMESPACE, 'rollout', 'status', 'deployment/orders-db', 'deployment/customers-api', 'deployment/orders-host', '--timeout=420s']);
}

interface PodJson { metadata: { name: string }; spec: { initContainers?: { name: string; restartPolicy?: string }[]; containers: { name: string; env?: { name: string; value?: string }[]; volumeMounts?: { name: string; readOnly?: boolean }[] }[] } }

async function checkInjection(): Promise<void> {
  const pod = await poll('the agent pod', 120_000, async () => (await json<{ items: PodJson[] }>(['-n', AGENTS_NAMESPACE, 'get', 'pods', '-l', `job-name=${AGENT}`])).items[0]);
  const proxy = pod.spec.initContainers?.find((c) => c.name === 'guarita-proxy');
  expectThat(proxy?.restartPolicy === 'Always', `the webhook injected guarita-proxy as a native sidecar into ${pod.metadata.name}`);
  const agent = pod.spec.containers.find((c) => c.name === 'agent');
  expectThat(agent?.env?.some((e) => e.name === 'PGHOST' && e.value === '127.0.0.1') === true, 'the agent container reaches PostgreSQL through 127.0.0.1');
  // guarita-agent-* are the agent-facing volumes of a Kubernetes API target (the proxy's CA, a
  // KUBECONFIG with the agent's own token), read-only; every other guarita-* volume is the proxy's.
  const mounts = agent?.volumeMounts ?? [];
  expectThat(!mounts.some((m) => m.name.startsWith('guarita-') && !(m.name.startsWith('guarita-agent-') && m.readOnly === true)), 'the agent container mounts none of the sidecar\'s volumes (credentials, tokens)');
}

/** The kubectl Job's pod: the sidecar, and KUBECONFIG pointing at it through read-only agent volumes only. */
async function checkKubectlInjection(): Promise<void> {
  const pod = await poll('the kubectl agent pod', 120_000, async () => (await json<{ items: PodJson[] }>(['-n', AGENTS_NAMESPACE, 'get', 'pods', '-l', `job-name=${KUBECTL_AGENT}`])).items[0]);
  expectThat(pod.spec.initContainers?.find((c) => c.name === 'guarita-proxy')?.restartPolicy === 'Always', `the webhook injected guarita-proxy into ${pod.metadata.name}`);
  const agent = pod.spec.containers.find((c) => c.name === 'kubectl');
  expectThat(agent?.env?.some((e) => e.name === 'KUBECONFIG' && e.value === '/var/run/guarita/kubeconfig/config') === true, 'the kubectl container got the injected KUBECONFIG');
  const mounts = agent?.volumeMounts ?? [];
  expectThat(mounts.length > 0 && mounts.every((m) => m.name.startsWith('guarita-agent-') && m.readOnly === true), 'the kubectl container mounts only the read-only agent volumes (the proxy\'s CA, the KUBECONFIG with its own token)');
}

/** The ssh Job's pod: the sidecar, and the ssh_config it publishes through the read-only agent volume only. */
async function checkSshInjection(): Promise<void> {
  const pod = await poll('the ssh agent pod', 120_000, async () => (await json<{ items: PodJson[] }>(['-n', AGENTS_NAMESPACE, 'get', 'pods', '-l', `job-name=${SSH_AGENT}`])).items[0]);
  expectThat(pod.spec.initContainers?.find((c) => c.name === 'guarita-proxy')?.restartPolicy === 'Always', `the webhook injected guarita-proxy into ${pod.metadata.name}`);
  const agent = pod.spec.containers.find((c) => c.name === 'agent');
  expectThat(agent?.env?.some((e) => e.name === 'ORDERS_HOST_SSH_CONFIG' && e.value === SSH_CONFIG) === true, 'the ssh agent got ORDERS_HOST_SSH_CONFIG (the ssh_config the sidecar publishes)');
  const mounts = agent?.volumeMounts ?? [];
  expectThat(mounts.filter((m) => m.name.startsWith('guarita-')).every((m) => m.name === 'guarita-agent-ssh' && m.readOnly === true), 'the ssh agent mounts only the read-only guarita-agent-ssh volume of the sidecar\'s (no key, no known_hosts of the host)');
}

interface ApprovalJson { metadata: { name: string }; spec: { command: { text: string }; reviews?: { decision: string }[] }; status?: { phase?: string; reviews?: { reviewer?: string }[] } }

/** Waits for the ApprovalRequest of a held command and approves it as the DPO would, with kubectl patch. */
async function approveHeld(o: Options, what: string, matches: (commandText: string) => boolean): Promise<string> {
  const held = await poll(`the ApprovalRequest of ${what}`, o.timeoutMs, async () =>
    (await json<{ items: ApprovalJson[] }>(['-n', AGENTS_NAMESPACE, 'get', 'approvalrequests'])).items.find((r) => matches(r.spec.command.text)));
  log(`approving ApprovalRequest ${held.metadata.name} as ${o.approver} (group ${o.approverGroup})`);
  const review = [{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: 'kind e2e: ticket 4711' } }];
  await kubectl(['-n', AGENTS_NAMESPACE, 'patch', 'approvalrequest', held.metadata.name, '--type=json', '-p', JSON.stringify(review), '--as', o.approver, '--as-group', o.approverGroup]);
  return held.metadata.name;
}

const approveExport = (o: Options): Promise<string> => approveHeld(o, 'the held export', (text) => text === EXPORT_SQL);
const approveExec = (o: Options): Promise<string> => approveHeld(o, 'the held kubectl exec into orders-db', isDatabaseExec);
const approveBackupRead = (o: Options): Promise<string> => approveHeld(o, 'the held ssh read of the backup', isBackupRead);

/** The lines of one `== name` section of the agent's output. */
export function section(output: string, name: string): string[] {
  const lines = output.split('\n');
  const start = lines.indexOf(`== ${name}`);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && l.startsWith('== '));
  return lines.slice(start + 1, end < 0 ? undefined : end).filter((l) => l.trim() !== '');
}

export function checkAgentOutput(output: string): void {
  expectThat(section(output, 'select').length === 3, 'the agent read 3 customers');
  expectThat(section(output, 'http').some((l) => l.includes('"customer"')), 'the agent read a customer from the customers API');
  expectThat(section(output, 'delete').some((l) => l.includes('ERROR')) && !output.includes('DELETE WAS ALLOWED'), 'the unbounded DELETE was denied');
  expectThat(section(output, 'count')[0] === String(seededCustomers()), `all ${seededCustomers()} customers are still there`);
  // Held: the ApprovalRequest exists and ends Consumed (checkApproval). Approved within the sidecar's
  // wait, the first attempt runs and prints nothing here; otherwise each earlier answer is the hold.
  expectThat(section(output, 'export').every((l) => l.includes('ApprovalRequest')), 'the export was held for approval (no other error before it ran)');
  expectThat(section(output, 'export rows').length === 2, 'the approved export ran and returned 2 rows');
  const leaked = rawIdentifiers([1, 2, 3]).filter((raw) => output.includes(raw));
  expectThat(leaked.length === 0, `no raw CPF or e-mail reached the agent (leaked: ${leaked.join(', ') || 'none'})`);
  expectThat(section(output, 'done').length === 0 && output.includes('== done'), 'the agent finished its script');
}

const MASKED_CPF = /\*{3}\.\*{3}\.\*{3}-\d{2}/;

/** kubectl's answer to a denial: the Forbidden Status naming the rule, and a failed exit. */
function deniedByRule(lines: readonly string[], rule: string): boolean {
  return lines.some((l) => l.startsWith('Error from server (Forbidden):') && l.includes(`rule ${rule}`) && l.includes(`AccessPolicy ${KUBERNETES_POLICY}`))
    && lines.includes('exit status 1');
}

/** The reads the policy allows: the pods as kubectl's Table, the database's log lines masked. */
function checkKubectlReads(output: string): void {
  const pods = section(output, 'pods');
  expectThat(pods[0]?.startsWith('NAME ') === true && pods.some((l) => l.startsWith('orders-db-')), 'kubectl get pods -n orders-data was allowed (a Table listing orders-db)');
  const logs = section(output, 'logs');
  expectThat(logs.some((l) => l.includes('INSERT INTO customers')) && logs.some((l) => MASKED_CPF.test(l)), 'kubectl logs of the database was allowed and its CPFs came back masked');
}

/** What the agent's kubectl Job printed (agent-kubectl-job.yaml): the Kubernetes API target's answers. */
export function checkKubectlOutput(output: string): void {
  checkKubectlReads(output);
  expectThat(deniedByRule(section(output, 'secrets'), 'no-secrets') && !output.includes('SECRETS WERE LISTED'), 'kubectl get secrets was denied (Forbidden, rule no-secrets, exit status 1)');
  expectThat(deniedByRule(section(output, 'secret by name'), 'no-secrets') && !output.includes('A SECRET WAS READ'), 'kubectl get secret orders-db-server was denied (Forbidden, rule no-secrets, exit status 1)');
  // Approved within the sidecar's wait, the first attempt runs and prints nothing here; otherwise
  // each earlier attempt printed the pending ApprovalRequest (kubectl's Forbidden) and nothing else.
  expectThat(section(output, 'exec').every((l) => l.includes('ApprovalRequest')), 'the kubectl exec was held for approval (no other error before it ran)');
  const execOutput = section(output, 'exec output');
  expectThat(execOutput.length === 1 && execOutput[0]?.startsWith('1|') === true && MASKED_CPF.test(execOutput[0]), `the approved exec ran once and printed customer 1 with the CPF masked (${execOutput.join(' / ')})`);
  expectThat(deniedByRule(section(output, 'delete'), 'no-deletes') && !output.includes('DELETE WAS ALLOWED'), 'kubectl delete pod was denied (Forbidden, rule no-deletes, exit status 1)');
  const deleteAll = section(output, 'delete all');
  expectThat(deniedByRule(deleteAll, 'no-deletes') && !deleteAll.some((l) => / deleted$/.test(l)), 'kubectl delete pods --all was denied for every pod (Forbidden, rule no-deletes, exit status 1)');
  const leaked = rawIdentifiers(Array.from({ length: seededCustomers() }, (_, i) => i + 1)).filter((raw) => output.includes(raw));
  expectThat(leaked.length === 0, `no raw CPF, e-mail or phone reached kubectl (leaked: ${leaked.join(', ') || 'none'})`);
  expectThat(section(output, 'done').length === 0 && output.includes('== done'), 'the kubectl agent finished its script');
}

/** Where the injector tells agents the ssh_config of the orders-host target is (docs/ssh.md). */
export const SSH_CONFIG = '/var/run/guarita/ssh/orders-host/ssh_config';

/** Lines of a section without the carriage returns guarita's SSH answers end with. */
const sshSection = (output: string, name: string): string[] => section(output, name).map((l) => l.replace(/\r$/, ''));

/** The ssh Job's exec requests: allowed (masked), denied, held then approved. */
function checkSshExecs(output: string): void {
  expectThat(sshSection(output, 'diagnostics')[0]?.startsWith('Filesystem') === true, 'ssh df -h / was allowed (rule read-only-diagnostics)');
  const logs = sshSection(output, 'logs');
  expectThat(logs.length === 3 && logs.some((l) => MASKED_CPF.test(l)), `ssh tail of the application's log was allowed and its CPF came back masked (${logs.join(' / ')})`);
  const rm = sshSection(output, 'rm');
  expectThat(rm.some((l) => l.startsWith('guarita: denied (rule deny-rm)')) && rm.includes('exit status 126') && !output.includes('RM WAS ALLOWED'), `ssh rm was denied (guarita: denied (rule deny-rm), exit status 126) (${rm.join(' / ')})`);
  // Each attempt prints the pending ApprovalRequest (the sidecar's wait), and the one that ran too.
  const held = sshSection(output, 'backup');
  expectThat(held.length > 0 && held.every((l) => l.startsWith('guarita: ') && l.includes('ApprovalRequest')), `the ssh read of the backup was held for approval (no other error before it ran) (${held.join(' / ')})`);
  const rows = sshSection(output, 'backup rows');
  expectThat(rows.length === 4 && rows[1]?.startsWith('COPY public.customers ') === true && rows.slice(2).every((l, i) => l.startsWith(`${i + 1}\t`) && MASKED_CPF.test(l)), `the approved backup read ran once and printed customers 1 and 2 with their CPFs masked (${rows.join(' / ')})`);
}

/** What the agent's ssh Job printed (agent-ssh-job.yaml): the SSH target's answers to ssh, scp and sftp. */
export function checkSshOutput(output: string): void {
  checkSshExecs(output);
  expectThat(sshSection(output, 'download').includes('app.log: 4 lines'), 'scp downloaded the application\'s log (an SFTP read rule browse-logs allows)');
  const upload = sshSection(output, 'upload');
  expectThat(upload.some((l) => /Permission denied|deny-uploads-and-deletes/.test(l)) && upload.some((l) => /^exit status [1-9]/.test(l)) && !output.includes('UPLOAD WAS ALLOWED'), `sftp put was denied (rule deny-uploads-and-deletes) (${upload.join(' / ')})`);
  const leaked = rawIdentifiers([1, 2, 3]).filter((raw) => output.includes(raw));
  expectThat(leaked.length === 0, `no raw CPF, e-mail or phone reached the ssh agent (leaked: ${leaked.join(', ') || 'none'})`);
  expectThat(section(output, 'done').length === 0 && output.includes('== done'), 'the ssh agent finished its script');
}

async function checkAgent(o: Options): Promise<void> {
  await kubectl(['-n', AGENTS_NAMESPACE, 'wait', '--for=condition=complete', `job/${AGENT}`, `job/${KUBECTL_AGENT}`, `job/${SSH_AGENT}`, `--timeout=${Math.round(o.timeoutMs / 1000)}s`]);
  checkAgentOutput(await kubectl(['-n', AGENTS_NAMESPACE, 'logs', `job/${AGENT}`, '-c', 'agent']));
  checkKubectlOutput(await kubectl(['-n', AGENTS_NAMESPACE, 'logs', `job/${KUBECTL_AGENT}`, '-c', 'kubectl']));
  checkSshOutput(await kubectl(['-n', AGENTS_NAMESPACE, 'logs', `job/${SSH_AGENT}`, '-c', 'agent']));
}

interface ExportedRecord { type?: string; seq?: number; hash?: string; chainId?: string; sessionId?: string; channel?: number; command?: string; decision?: string; rule?: string; approvalRequest?: string; approval?: object; frames?: { ch: string; data: string }[] }

/** The chained records of a JSONL export (the header left out). */
function exportedRecords(exportJsonl: string): ExportedRecord[] {
  return exportJsonl.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ExportedRecord)
    .filter((r) => typeof r.seq === 'number' && typeof r.hash === 'string' && typeof r.chainId === 'string');
}

/**
 * The recorded stdout of a command: the stream records of its session (and of its SSH channel when
 * the command record names one; the agent's ssh opens one connection, so one session, per command).
 */
function recordedStdout(records: readonly ExportedRecord[], command: ExportedRecord): { frames: number; stdout: string } {
  const frames = records.filter((r) => r.type === 'stream' && r.sessionId === command.sessionId && (command.channel === undefined || r.channel === command.channel)).flatMap((r) => r.frames ?? []);
  return { frames: frames.length, stdout: frames.filter((f) => f.ch === 'o').map((f) => f.data).join('') };
}

/**
 * The approved exec in a JSONL export of the Kubernetes API policy: its command record (carrying
 * the approval) and the stream records of the same session, whose stdout shows customer 1 masked.
 * Returns a summary, or undefined while the records have not arrived at the operator yet.
 */
export function execRecording(exportJsonl: string, approval: string): string | undefined {
  const records = exportedRecords(exportJsonl);
  const exec = records.find((r) => r.type === 'command' && r.approvalRequest === approval && r.approval !== undefined);
  if (exec === undefined) return undefined;
  const { frames, stdout } = recordedStdout(records, exec);
  if (!stdout.includes('\n')) return undefined;
  expectThat(/^1\|/m.test(stdout) && MASKED_CPF.test(stdout), `the exec's recorded stdout shows customer 1 with the CPF masked (${JSON.stringify(stdout.slice(0, 200))})`);
  const leaked = rawIdentifiers([1]).filter((raw) => exportJsonl.includes(raw));
  expectThat(leaked.length === 0, `the export of ${KUBERNETES_POLICY} holds no raw identifier of customer 1 (leaked: ${leaked.join(', ') || 'none'})`);
  return `exec session ${String(exec.sessionId)}: ${frames} recorded frames, stdout masked`;
}

/**
 * The ssh Job's commands in a JSONL export of the SSH policy: the approved backup read (its command
 * record carrying the approval) and the log's tail, each with its stream records, stdout masked;
 * rm and the sftp upload recorded as denied by their rules. Returns a summary, or undefined while
 * the records have not all arrived at the operator (the upload is the Job's last request).
 */
export function sshRecording(exportJsonl: string, approval: string): string | undefined {
  const records = exportedRecords(exportJsonl).filter((r) => r.type === 'command' || r.type === 'stream');
  const commands = records.filter((r) => r.type === 'command');
  const backup = commands.find((r) => r.approvalRequest === approval && r.approval !== undefined && r.decision === 'allow');
  const tail = commands.find((r) => r.decision === 'allow' && r.command?.startsWith('tail -n 3 ') === true);
  const upload = commands.find((r) => r.decision === 'deny' && r.rule === 'deny-uploads-and-deletes');
  if (backup === undefined || tail === undefined || upload === undefined) return undefined;
  const backupOut = recordedStdout(records, backup).stdout;
  const tailOut = recordedStdout(records, tail).stdout;
  if (!backupOut.includes('\n') || !tailOut.includes('\n')) return undefined;
  expectThat(/^1\t/m.test(backupOut) && MASKED_CPF.test(backupOut), `the approved backup read's recorded stdout shows customer 1 with the CPF masked (${JSON.stringify(backupOut.slice(0, 300))})`);
  expectThat(MASKED_CPF.test(tailOut), `the log tail's recorded stdout shows the CPF masked (${JSON.stringify(tailOut.slice(0, 300))})`);
  expectThat(commands.some((r) => r.decision === 'deny' && r.rule === 'deny-rm' && r.command?.startsWith('rm -f ') === true), 'the denied rm is recorded (rule deny-rm)');
  const leaked = rawIdentifiers([1, 2, 3]).filter((raw) => exportJsonl.includes(raw));
  expectThat(leaked.length === 0, `the export of ${SSH_POLICY} holds no raw identifier of the host's files (leaked: ${leaked.join(', ') || 'none'})`);
  return `ssh: ${commands.length} commands recorded (the approved backup read in session ${String(backup.sessionId)}), outputs masked`;
}

async function guarita(args: readonly string[]): Promise<CommandResult> {
  return runCommand(GUARITA_CLI, args, { timeoutMs: 120_000 });
}

/** A policy's records in the operator's export (found by `recorded`, masked), and the chain verified by guarita verify, online and offline. */
async function checkRecorded(policy: string, what: string, recorded: (exportJsonl: string) => string | undefined): Promise<void> {
  const scope = ['-n', AGENTS_NAMESPACE, '--policy', policy];
  let exported = '';
  const summary = await poll(`${what} in the operator's export`, 180_000, async () => {
    const run = await guarita(['export', ...scope, '--format', 'jsonl']);
    if (run.code !== 0) throw new ScenarioFailure(`guarita export ${scope.join(' ')} exited ${run.code}: ${run.stderr.trim()}`);
    exported = run.stdout;
    return recorded(exported);
  });
  log(`ok: ${summary}`);
  const online = await guarita(['verify', ...scope]);
  expectThat(online.code === 0, `guarita verify ${scope.join(' ')} verified the operator's store against the anchor (exit ${online.code}: ${(online.stdout + online.stderr).trim().slice(-400)})`);
  const dir = mkdtempSync(join(tmpdir(), 'guarita-kind-'));
  try {
    const file = join(dir, `${policy}.jsonl`);
    writeFileSync(file, exported, { mode: 0o600 });
    const offline = await guarita(['verify', '--file', file, ...scope]);
    expectThat(offline.code === 0, `guarita verify --file verified the export against the anchored head (exit ${offline.code}: ${(offline.stdout + offline.stderr).trim().slice(-400)})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function checkApproval(name: string): Promise<void> {
  const request = await json<ApprovalJson>(['-n', AGENTS_NAMESPACE, 'get', 'approvalrequest', name]);
  expectThat(request.status?.phase === 'Consumed', `ApprovalRequest ${name} was consumed exactly once (phase ${request.status?.phase ?? 'none'})`);
}

interface PolicyJson { status?: { sessions?: { total?: number; denied?: number; approvalsRequested?: number }; chain?: { head?: string; records?: number } } }

type PolicyStatus = NonNullable<PolicyJson['status']>;

/** The anchored status once it records the session's commands and its denial. */
function anchored(s: PolicyJson['status']): PolicyStatus | undefined {
  const records = s?.chain?.records ?? 0;
  const denied = s?.sessions?.denied ?? 0;
  return s !== undefined && records > 0 && denied > 0 ? s : undefined;
}

async function checkRecording(): Promise<void> {
  const status = await poll('the recording anchored in AccessPolicy orders-db status', 180_000, async () =>
    anchored((await json<PolicyJson>(['-n', AGENTS_NAMESPACE, 'get', 'accesspolicy', 'orders-db'])).status));
  const { chain = {}, sessions = {} } = status;
  expectThat(/^[0-9a-f]{64}$/.test(chain.head ?? ''), `the operator anchored the chain head (${chain.records ?? 0} records, ${sessions.total ?? 0} sessions, ${sessions.denied ?? 0} denied)`);
  expectThat((sessions.approvalsRequested ?? 0) > 0, 'the recording counts the approval request');
}

export async function runScenario(o: Options): Promise<void> {
  await setUp();
  await checkInjection();
  await checkKubectlInjection();
  await checkSshInjection();
  // The agent's three Jobs wait at the same time: psql for the export, kubectl for the exec, ssh for the backup read.
  const [exportApproval, execApproval, backupApproval] = await Promise.all([approveExport(o), approveExec(o), approveBackupRead(o)]);
  await checkAgent(o);
  await checkApproval(exportApproval);
  await checkApproval(execApproval);
  await checkApproval(backupApproval);
  await checkRecording();
  await checkRecorded(KUBERNETES_POLICY, 'the exec\'s stream records', (exported) => execRecording(exported, execApproval));
  await checkRecorded(SSH_POLICY, 'the ssh Job\'s records', (exported) => sshRecording(exported, backupApproval));
  log('the LGPD scenario passed');
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: { approver: { type: 'string' }, 'approver-group': { type: 'string' }, timeout: { type: 'string' } },
  });
  return {
    approver: values.approver ?? 'dana',
    approverGroup: values['approver-group'] ?? 'dpo',
    timeoutMs: Number(values.timeout ?? '600') * 1000,
  };
}

if (import.meta.main) {
  runScenario(options(process.argv.slice(2))).catch((err: unknown) => {
    process.stderr.write(`[scenario] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
