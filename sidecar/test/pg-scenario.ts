// For integration tests and bench/pg.ts only: the LGPD orders scenario on the harness, with
// the REAL sidecar process (node sidecar/src/main.ts, configured only through the environment
// the webhook injects) in front of the harness PostgreSQL: a database of its own loaded from
// examples/lgpd-orders/seed.sql, the example AccessPolicy in a namespace of its own (issuer =
// the harness IdP), and optionally the real operator (ApprovalRequest phases, record ingest)
// and the real admission webhook (stamps reviewers of ApprovalRequests).
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { runCommand, type CommandResult } from '../../e2e/harness/exec.ts';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, loadHarnessState, psql, requireIdp, requirePostgres, type IdpClientId } from '../../e2e/harness/state.ts';
import { logTail, supervise, waitUntilReady, type Supervised } from '../../e2e/harness/supervisor.ts';
import { loadExample, type Manifest } from '../../e2e/support/examples.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { installCrds } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { createNamespace, registerWebhooks, startWebhookProcess, unregisterWebhooks, webhookIdentity, type WebhookProcess } from '../../webhook/test/cluster.ts';
import { mountCredentials, NO_OPERATOR, sidecarEnv, sidecarFixture } from './support.ts';

const REPO = join(import.meta.dirname, '../..');
export const PURPOSE_OPTIONS = '-c guarita.purpose=customer-support';

export interface ScenarioOptions {
  /** Run the operator (ApprovalRequest phases, session ingest). */
  operator?: boolean;
  /** Run the admission webhook (reviewer stamping). Needs the operator to be useful. */
  webhook?: boolean;
  /** GUARITA_APPROVAL_WAIT of the sidecar (default 30s). */
  approvalWait?: string;
  /** Changes to the example policy's spec. */
  spec?: (spec: Record<string, unknown>) => void;
  logLevel?: string;
  /** Extra environment of the sidecar process (e.g. NODE_OPTIONS=--cpu-prof). */
  env?: Record<string, string>;
  /** The sidecar's main module: the TypeScript source (default), or the production build's. */
  entry?: string;
}

export interface PgScenario {
  id: string;
  namespace: string;
  database: string;
  /** The sidecar's PostgreSQL listener on 127.0.0.1. */
  port: number;
  adminPort: number;
  sidecar: Supervised;
  operator: OperatorProcess | undefined;
  /** A token from the harness IdP (audience guarita). */
  token(client: IdpClientId): Promise<string>;
  /** Environment for libpq tools (psql, pgbench) connecting through the sidecar. */
  libpqEnv(token: string, options?: string): NodeJS.ProcessEnv;
  /** Environment for libpq tools connecting straight to the harness PostgreSQL as orders_app. */
  directEnv(): NodeJS.ProcessEnv;
  /**
   * Inserts one customer per `notes` entry straight into the database (id → its notes column; name, e-mail and the
   * rest made from `label` and the id): a test's rows to read back through the sidecar. Throws on any psql output on
   * stderr or a failed exit.
   */
  insertNotes(label: string, notes: Readonly<Record<number, string>>): Promise<void>;
  /** Runs psql through the sidecar (no ~/.psqlrc; ON_ERROR_STOP unless asked otherwise). */
  psql(token: string, args: readonly string[], opts?: { input?: string; onErrorStop?: boolean; options?: string; timeoutMs?: number }): Promise<CommandResult>;
  applyPolicy(change: (spec: Record<string, unknown>) => void): Promise<void>;
  sidecarLog(lines?: number): string;
  stop(): Promise<void>;
}

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG') && !key.startsWith('GUARITA_')));
}

async function createDatabase(database: string): Promise<void> {
  const create = await psql(['-q', '-c', `CREATE DATABASE ${database} OWNER orders_app`], { user: 'guarita_admin', database: 'postgres' });
  if (create.code !== 0) throw new Error(`creating ${database}: ${create.stderr}`);
  const seed = await psql(['-q', '-f', join(REPO, 'examples/lgpd-orders/seed.sql')], { user: 'guarita_admin', database });
  if (seed.code !== 0) throw new Error(`seeding ${database}: ${seed.stderr}`);
}

function policyDocs(namespace: string, database: string, change?: (spec: Record<string, unknown>) => void): Manifest[] {
  const pg = requirePostgres();
  const docs = loadExample('accesspolicy.yaml', { namespace, issuer: requireIdp().issuer, postgresEndpoint: `${pg.host}:${pg.port}` });
  for (const d of docs) {
    const spec = d.spec as Record<string, unknown> & { target: Record<string, unknown> };
    spec.target.database = database;
    change?.(spec);
  }
  return docs;
}

async function readyz(port: number): Promise<boolean> {
  try {
    const res = await request(`http://127.0.0.1:${port}/readyz`, { headersTimeout: 2000 });
    await res.body.text();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

interface Side { operator: OperatorProcess | undefined; webhook: WebhookProcess | undefined; configuration: string }

/** The operator and the webhook share a system namespace, as the chart installs them (the webhook lets that operator's service account decide ApprovalRequest phases). */
async function startControlPlane(id: string, namespace: string, opts: ScenarioOptions): Promise<Side> {
  await installCrds();
  const configuration = `guarita-pg-${id}`;
  const scope = { 'guarita-pg-test': id, 'guarita.io/injection': 'enabled' };
  const system = `pg-sys-${id}`;
  let operator: OperatorProcess | undefined;
  if (opts.operator === true) {
    const fx = await operatorFixture(system);
    operator = await startOperator({ ...fx, watchNamespaces: [namespace], name: `operator-pg-${id}` });
    await waitServing(operator);
  }
  let webhook: WebhookProcess | undefined;
  if (opts.webhook === true) {
    await createNamespace(system, {});
    const kubeconfig = await webhookIdentity(system, configuration, `guarita-webhook-tls-${id}`, loadHarnessState().runDir);
    webhook = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig, name: `webhook-pg-${id}`, env: { GUARITA_WEBHOOK_TLS_SECRET: `guarita-webhook-tls-${id}` } });
    await registerWebhooks(configuration, system, webhook.url, scope);
  }
  await createNamespace(namespace, scope);
  return { operator, webhook, configuration };
}

/**
 * `sql` as the database's administrator (guarita_admin), straight to PostgreSQL (not through the
 * sidecar): psql's unaligned tuples (`-A -t`; `quiet` adds `-q`: no command tags), trimmed. Throws
 * when psql fails (ON_ERROR_STOP).
 */
export async function adminSql(database: string, sql: string, o: { quiet?: boolean } = {}): Promise<string> {
  const r = await psql(['-X', ...(o.quiet === true ? ['-q'] : []), '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { user: 'guarita_admin', database });
  if (r.code !== 0) throw new Error(`admin SQL failed: ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

export async function startPgScenario(opts: ScenarioOptions = {}): Promise<PgScenario> {
  const id = randomBytes(3).toString('hex');
  const namespace = `pg-${id}`;
  const database = `orders_${id}`;
  const side = await startControlPlane(id, namespace, opts);
  await createDatabase(database);
  const pg = requirePostgres();
  await apply([{
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'orders-db-credentials', namespace }, type: 'Opaque',
    stringData: { username: 'orders_app', password: pg.passwords.orders_app },
  }]);
  await apply(policyDocs(namespace, database, opts.spec));
  // The pod's identity as the sidecar sees it: its ServiceAccount (with the sidecar's RBAC), tokens, the Secret's files.
  const fx = await sidecarFixture(namespace, 'support-agent', `support-agent-${id}`);
  mountCredentials(fx, 'orders-db', { username: 'orders_app', password: pg.passwords.orders_app });
  const [port = 0, adminPort = 0] = await freePorts(2);
  const logs = join(loadHarnessState().runDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const sidecar = supervise({
    name: `sidecar-pg-${id}`, command: process.execPath, cwd: REPO,
    args: ['--disable-warning=ExperimentalWarning', opts.entry ?? join(REPO, 'sidecar/src/main.ts')],
    logFile: join(logs, `sidecar-pg-${id}.log`),
    env: sidecarEnv(fx, {
      targets: [{ policy: 'orders-db', target: 'orders-db', protocol: 'postgres', listenPort: port }],
      // Without an operator the shipper retries in the background; records stay in the spool.
      operatorUrl: side.operator?.url ?? NO_OPERATOR,
      env: { GUARITA_APPROVAL_WAIT: opts.approvalWait ?? '30s', GUARITA_LOG_LEVEL: opts.logLevel ?? 'info', ...opts.env },
    }, adminPort),
  });
  await waitUntilReady(sidecar, 'the sidecar /readyz', () => readyz(adminPort), { timeoutMs: 60_000, intervalMs: 200 });
  const libpqEnv = (token: string, options = PURPOSE_OPTIONS): NodeJS.ProcessEnv => ({
    ...cleanEnv(), PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: 'agent', PGDATABASE: database, PGPASSWORD: token, PGSSLMODE: 'disable', PGOPTIONS: options, PGCONNECT_TIMEOUT: '10',
  });
  const directEnv = (): NodeJS.ProcessEnv => ({ ...cleanEnv(), PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: 'orders_app', PGDATABASE: database, PGPASSWORD: pg.passwords.orders_app, PGSSLMODE: 'disable' });
  return {
    id, namespace, database, port, adminPort, sidecar, operator: side.operator,
    token: (client) => getToken({ clientId: client, audience: 'guarita' }),
    libpqEnv,
    directEnv,
    insertNotes: async (label, notes) => {
      const lower = label.toLowerCase();
      const values = Object.entries(notes).map(([id, text]) =>
        `(${id}, '${label} ${id}', '${lower}-${id}', '${lower}${id}@exemplo.com.br', '+55 11 90000-0000', '1990-01-01', '${text.replace(/'/g, "''")}')`);
      const insert = await runCommand(join(pg.binDir, 'psql'), ['-X', '-v', 'ON_ERROR_STOP=1', '-q', '-c',
        `INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc, notes) VALUES ${values.join(', ')}`], { env: directEnv(), timeoutMs: 30_000 });
      if (insert.code !== 0 || insert.stderr !== '') throw new Error(`inserting ${label} rows: exit ${insert.code}: ${insert.stderr}`);
    },
    psql: (token, args, o = {}) => runCommand(join(pg.binDir, 'psql'), ['-X', ...(o.onErrorStop === false ? [] : ['-v', 'ON_ERROR_STOP=1']), ...args], {
      env: libpqEnv(token, o.options), ...(o.input === undefined ? {} : { input: o.input }), timeoutMs: o.timeoutMs ?? 60_000,
    }),
    applyPolicy: (change) => apply(policyDocs(namespace, database, (spec) => { opts.spec?.(spec); change(spec); })),
    sidecarLog: (lines = 60) => logTail(sidecar.logFile, lines),
    stop: async () => {
      await sidecar.stop();
      await side.operator?.stop();
      await side.webhook?.stop();
      if (side.webhook !== undefined) await unregisterWebhooks(side.configuration);
    },
  };
}
