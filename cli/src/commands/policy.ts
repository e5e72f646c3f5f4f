// `guarita policy`: test an AccessPolicy offline, in CI, before applying it (like `opa eval` or
// `kyverno test`). Uses the same validators as the CRD and the same decision core as the sidecar.
//
//   guarita policy eval --policy accesspolicy.yaml --sql "DELETE FROM orders" --group support --subject ana --purpose customer-support
//   guarita policy eval --policy accesspolicy.yaml --sql-file statements.sql --group support --subject ana --purpose customer-support --expect deny
//   guarita policy validate --policy accesspolicy.yaml
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { validateAccessPolicy } from '../../../crds/validators.ts';
import { compilePolicy, initPolicyEngine, PolicyCompileError, type Command, type CompiledPolicy, type Decision, type Identity, type SshRequest, type Verdict } from '../../../core/policy/index.ts';
import { kubectlAttributes } from '../../../core/policy/kubernetes-command.ts';
import { inertJson, inertLine, inertText } from '../inert.ts';
import type { CliIo } from '../io.ts';

const USAGE = `usage: guarita policy <subcommand> [flags]

subcommands:
  eval       evaluate one command (or a file of them) against an AccessPolicy file
  validate   check an AccessPolicy file with the CRD's validators

guarita policy eval --policy FILE (--sql SQL | --sql-file FILE | --http "METHOD /path[?query]" | --k8s "VERB RESOURCE[/SUB] [-n NS] [NAME]"
                    | --ssh COMMAND | --ssh-shell | --sftp "OPERATION PATH [TO-PATH]")
                    --subject NAME [--group G ...] [--purpose P] [flags]
  --policy FILE        AccessPolicy YAML (multi-document files: the AccessPolicy, or --name)
  --name NAME          which AccessPolicy of a multi-document file
  --sql SQL            one SQL string (may hold several statements)
  --sql-file FILE      one SQL string per line (blank lines skipped); "-" reads stdin. Prints one JSON object per line
  --http "M /path"     an HTTP request: method and path, optionally with ?query
  --body JSON          HTTP only: the JSON request body
  --k8s "V R [-n NS] [N]"  a Kubernetes API request as the apiserver reads it: verb (get, list, watch, create, update,
                       patch, delete, deletecollection, proxy), resource[.group][/subresource], namespace, name;
                       e.g. "delete pods -n orders orders-db-0", "create pods/exec -n orders orders-db-0", "get --raw /version"
  --ssh COMMAND        an SSH exec request: the command line as the agent sends it (e.g. "pg_dump -d orders")
  --ssh-shell          an interactive SSH shell session
  --sftp "OP PATH [TO]"  an SFTP operation (read, write, remove, list, stat, rename, mkdir, rmdir, setstat,
                       symlink, readlink) on an absolute path; rename and symlink take a second path
  --subject NAME       the verified subject (user name, or system:serviceaccount:<ns>:<name>)
  --kind KIND          User or ServiceAccount (default: ServiceAccount for system:serviceaccount:..., else User)
  --namespace NS       ServiceAccount only, when --subject is the bare name
  --group G            a group of the subject (repeatable)
  --purpose P          the declared purpose
  --expect DECISION    exit 1 unless every decision is DECISION (allow, deny or requireApproval)

Prints one JSON object per evaluated command on stdout: decision, rule (null when no rule decided),
reason, code, and approval, masking and statements when they apply; sensitiveColumns when the
policy's sensitive-column guard decided: each personal column used otherwise than returned as is,
with the use and where ({"column":"public.customers.cpf","use":"function argument md5()",
"path":"select list item 1","statement":1}). Exits 0 when it evaluated,
1 for an invalid policy, an unreadable file or an --expect mismatch, 2 for a usage error.
`;

class UsageError extends Error {}
class InputError extends Error {}

const VERDICTS: readonly Verdict[] = ['allow', 'deny', 'requireApproval'];

const EVAL_OPTIONS = {
  policy: { type: 'string' },
  name: { type: 'string' },
  sql: { type: 'string' },
  'sql-file': { type: 'string' },
  http: { type: 'string' },
  k8s: { type: 'string' },
  ssh: { type: 'string' },
  'ssh-shell': { type: 'boolean' },
  sftp: { type: 'string' },
  body: { type: 'string' },
  subject: { type: 'string' },
  kind: { type: 'string' },
  namespace: { type: 'string' },
  group: { type: 'string', multiple: true },
  purpose: { type: 'string' },
  expect: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type EvalFlags = ReturnType<typeof parseArgs<{ options: typeof EVAL_OPTIONS; strict: true; allowPositionals: false }>>['values'];

function parseFlags(argv: string[]): EvalFlags {
  try {
    return parseArgs({ args: argv, options: EVAL_OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function readText(file: string, io: CliIo): Promise<string> | string {
  if (file !== '-') {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new InputError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    io.stdin.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c));
    io.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    io.stdin.on('error', reject);
  });
}

function pickDocument(docs: unknown[], file: string, name: string | undefined): unknown {
  const policies = docs.filter((d) => (d as { kind?: unknown } | null)?.kind === 'AccessPolicy');
  const named = name === undefined ? policies : policies.filter((d) => (d as { metadata?: { name?: unknown } }).metadata?.name === name);
  if (named.length === 1) return named[0];
  if (named.length === 0 && docs.length === 1) return docs[0]; // let the validator say what is wrong with it
  if (named.length === 0) throw new InputError(`${file}: no AccessPolicy${name === undefined ? '' : ` named ${name}`} in the file`);
  throw new InputError(`${file}: ${named.length} AccessPolicies in the file; choose one with --name`);
}

/** Reads, validates (CRD validators) and compiles the policy. Throws InputError with every problem. */
function loadPolicy(file: string, text: string, name: string | undefined): CompiledPolicy {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const yamlErrors = list.flatMap((d) => d.errors.map((e) => e.message));
  if (yamlErrors.length > 0) throw new InputError(`${file}: not valid YAML:\n${yamlErrors.map((e) => `  - ${e}`).join('\n')}`);
  const doc = pickDocument(list.map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined), file, name);
  const result = validateAccessPolicy(doc);
  if (!result.ok) throw new InputError(`${file}: AccessPolicy is invalid:\n${result.errors.map((e) => `  - ${e.field}: ${e.message}`).join('\n')}`);
  try {
    return compilePolicy(result.value);
  } catch (err) {
    if (err instanceof PolicyCompileError) throw new InputError(`${file}: AccessPolicy is invalid:\n  - ${err.field}: ${err.message.slice(err.field.length + 2)}`);
    throw err;
  }
}

function identityOf(flags: EvalFlags): Identity {
  const subject = flags.subject;
  if (subject === undefined || subject === '') throw new UsageError('--subject is required');
  const kind = flags.kind ?? (subject.startsWith('system:serviceaccount:') ? 'ServiceAccount' : 'User');
  if (kind !== 'User' && kind !== 'ServiceAccount') throw new UsageError('--kind must be User or ServiceAccount');
  return { subject, groups: flags.group ?? [], kind, ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }) };
}

function parseBody(body: string | undefined): unknown {
  if (body === undefined) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw new UsageError(`--body is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function httpCommand(spec: string, body: string | undefined): Command {
  const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(spec);
  if (m === null) throw new UsageError('--http takes "METHOD /path", e.g. --http "GET /customers/42"');
  const jsonBody = parseBody(body);
  return { protocol: 'http', method: m[1] ?? '', path: m[2] ?? '', ...(jsonBody === undefined ? {} : { jsonBody }) };
}

function k8sCommand(spec: string): Command {
  const request = kubectlAttributes(spec);
  if ('problem' in request) throw new UsageError(`--k8s: ${request.problem}`);
  return { protocol: 'kubernetes', request };
}

const SFTP_OPERATIONS: readonly string[] = ['read', 'write', 'remove', 'list', 'stat', 'rename', 'mkdir', 'rmdir', 'setstat', 'symlink', 'readlink'];

function sftpCommand(spec: string): Command {
  const [operation = '', path, toPath, ...rest] = spec.trim().split(/\s+/);
  if (!SFTP_OPERATIONS.includes(operation) || path === undefined || rest.length > 0) {
    throw new UsageError(`--sftp takes "OPERATION PATH [TO-PATH]" with OPERATION one of ${SFTP_OPERATIONS.join(', ')}, e.g. --sftp "read /var/backups/orders.sql"`);
  }
  if ((toPath !== undefined) !== (operation === 'rename' || operation === 'symlink')) throw new UsageError('--sftp: rename and symlink take two paths, the other operations one');
  return { protocol: 'ssh', ssh: { kind: 'sftp', operation: operation as Extract<SshRequest, { kind: 'sftp' }>['operation'], path, ...(toPath === undefined ? {} : { toPath }) } };
}

function sshCommand(flags: EvalFlags): Command | undefined {
  if (flags.ssh !== undefined) return { protocol: 'ssh', ssh: { kind: 'exec', command: flags.ssh } };
  if (flags['ssh-shell'] === true) return { protocol: 'ssh', ssh: { kind: 'shell' } };
  return flags.sftp === undefined ? undefined : sftpCommand(flags.sftp);
}

function checkSources(flags: EvalFlags): void {
  const given = [flags.sql, flags['sql-file'], flags.http, flags.k8s, flags.ssh, flags['ssh-shell'] === true ? true : undefined, flags.sftp].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UsageError('give exactly one of --sql, --sql-file, --http, --k8s, --ssh, --ssh-shell or --sftp');
  if (flags.body !== undefined && flags.http === undefined) throw new UsageError('--body applies to --http only');
  if (flags.expect !== undefined && !VERDICTS.includes(flags.expect as Verdict)) throw new UsageError('--expect must be allow, deny or requireApproval');
}

function output(d: Decision, extra: Record<string, unknown> = {}): string {
  const { decision, rule, reason, code, approval, statements, masking, sensitiveColumns } = d;
  return `${inertJson({ ...extra, decision, rule: rule ?? null, reason, code, approval, sensitiveColumns, statements, masking })}\n`;
}

interface Evaluation { policy: CompiledPolicy; identity: Identity; purpose: string | undefined }

function evaluateOne(e: Evaluation, command: Command): Decision {
  return e.policy.evaluate({ identity: e.identity, purpose: e.purpose, command });
}

async function evalSqlFile(e: Evaluation, file: string, io: CliIo, expect: string | undefined): Promise<boolean> {
  const lines = (await readText(file, io)).split(/\r?\n/);
  let ok = true;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const d = evaluateOne(e, { protocol: 'postgres', sql: line });
    ok &&= expect === undefined || d.decision === expect;
    io.stdout.write(output(d, { line: i + 1 }));
  });
  return ok;
}

async function prepareEval(flags: EvalFlags, io: CliIo): Promise<Evaluation> {
  if (flags.policy === undefined) throw new UsageError('--policy is required');
  checkSources(flags);
  const identity = identityOf(flags);
  const policy = loadPolicy(flags.policy, await readText(flags.policy, io), flags.name);
  if (policy.policy.spec.target.protocol === 'postgres') await initPolicyEngine();
  return { policy, identity, purpose: flags.purpose };
}

async function runEval(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv);
  if (flags.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const command = flags.k8s !== undefined ? k8sCommand(flags.k8s) : flags.http === undefined ? sshCommand(flags) : httpCommand(flags.http, flags.body);
  const e = await prepareEval(flags, io);
  if (flags['sql-file'] !== undefined) return (await evalSqlFile(e, flags['sql-file'], io, flags.expect)) ? 0 : 1;
  const d = evaluateOne(e, command ?? { protocol: 'postgres', sql: flags.sql ?? '' });
  io.stdout.write(output(d));
  return flags.expect === undefined || d.decision === flags.expect ? 0 : 1;
}

async function runValidate(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv);
  if (flags.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (flags.policy === undefined) throw new UsageError('--policy is required');
  const policy = loadPolicy(flags.policy, await readText(flags.policy, io), flags.name);
  const meta = policy.policy.metadata;
  io.stdout.write(`${inertLine(flags.policy)}: AccessPolicy ${inertLine(meta.namespace === undefined ? '' : `${meta.namespace}/`)}${inertLine(meta.name)} is valid (${policy.policy.spec.rules.length} rules)\n`);
  return 0;
}

function report(err: unknown, io: CliIo): number {
  if (err instanceof UsageError) {
    io.stderr.write(`guarita policy: ${inertText(err.message)}\n\n${USAGE}`);
    return 2;
  }
  if (err instanceof InputError) {
    io.stderr.write(`guarita policy: ${inertText(err.message)}\n`);
    return 1;
  }
  throw err;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === 'eval') return await runEval(rest, io);
    if (sub === 'validate') return await runValidate(rest, io);
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown subcommand '${sub}'`);
  } catch (err) {
    return report(err, io);
  }
}
