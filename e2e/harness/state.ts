// The harness's coordinates as plain JSON, written once by whoever started the harness (Jest's
// globalSetup, main.ts) and read by test workers, which run in other processes. The helpers
// below act from that state: as a test user on the apiserver, as a role on PostgreSQL, as a
// client of the IdP. Kept free of the server-starting modules so workers load little.
import { readFileSync, writeFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { CommandResult } from './exec.ts';
import { requestToken, type IdpCoordinates, type TokenRequest } from './idp-client.ts';
import type { KubeCoordinates } from './kube.ts';
import { connectionParams, connectionUrl, runPsql, type ConnectionParams, type PostgresCoordinates, type PostgresRole, type PsqlOptions } from './psql.ts';
import { makeKubeConfig, runKubectl, type KubectlOptions, type TestUser } from './users.ts';

export type { CommandResult } from './exec.ts';
export type { IdpClientId } from './idp-config.ts';
export type { PostgresRole } from './psql.ts';
export type { TestUser } from './users.ts';

/** The env var holding the state file's path; set by globalSetup for test workers, and printed by main.ts. */
export const HARNESS_STATE_ENV = 'GUARITA_HARNESS_STATE';

export type HarnessComponent = 'kube' | 'postgres' | 'idp';
export const ALL_COMPONENTS: readonly HarnessComponent[] = ['kube', 'postgres', 'idp'];

export interface HarnessProcess {
  name: string;
  /** The watchdog's pid (= the process group of the component). */
  pid: number;
  logFile: string;
}

export interface HarnessState {
  version: 1;
  runDir: string;
  /** Where etcd, kube-apiserver, kubectl and helm live (.cache/bin). */
  binDir: string;
  /** The process that owns the harness: components die with it. */
  ownerPid: number;
  startedAt: string;
  startupMs: number;
  components: HarnessComponent[];
  processes: HarnessProcess[];
  kube?: KubeCoordinates;
  postgres?: PostgresCoordinates;
  idp?: IdpCoordinates;
}

export function writeHarnessState(file: string, state: HarnessState): void {
  // Tokens, passwords and client secrets: owner-readable only.
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

const cache = new Map<string, HarnessState>();

/** Reads the state file named by $GUARITA_HARNESS_STATE (or `file`), once per process. */
export function loadHarnessState(file: string | undefined = process.env[HARNESS_STATE_ENV]): HarnessState {
  if (file === undefined || file === '') {
    throw new Error(`${HARNESS_STATE_ENV} is not set: run integration tests through Jest's integration project (its globalSetup starts the harness), or start \`node e2e/harness/main.ts\` and export the variable it prints`);
  }
  let state = cache.get(file);
  if (state === undefined) {
    state = JSON.parse(readFileSync(file, 'utf8')) as HarnessState;
    cache.set(file, state);
  }
  return state;
}

function missing(component: HarnessComponent): Error {
  return new Error(`the harness was started without '${component}' (see GUARITA_HARNESS_COMPONENTS / --components)`);
}

export function requireKube(state: HarnessState = loadHarnessState()): KubeCoordinates {
  if (state.kube === undefined) throw missing('kube');
  return state.kube;
}

export function requirePostgres(state: HarnessState = loadHarnessState()): PostgresCoordinates {
  if (state.postgres === undefined) throw missing('postgres');
  return state.postgres;
}

export function requireIdp(state: HarnessState = loadHarnessState()): IdpCoordinates {
  if (state.idp === undefined) throw missing('idp');
  return state.idp;
}

/** A @kubernetes/client-node KubeConfig that authenticates as `user` (admin is system:masters). */
export function kubeConfigFor(user: TestUser, state?: HarnessState): KubeConfig {
  return makeKubeConfig(requireKube(state), user);
}

/** The kubeconfig file of `user`, for tools that take a path (helm, a CLI under test). */
export function kubeconfigPath(user: TestUser, state?: HarnessState): string {
  return requireKube(state).kubeconfigs[user];
}

/** Runs the real kubectl as `user`: `kubectl(['get', 'ns'], { user: 'alice' })`. */
export function kubectl(args: readonly string[], opts: KubectlOptions & { state?: HarnessState }): Promise<CommandResult> {
  return runKubectl(requireKube(opts.state), args, opts);
}

/** Runs the real psql as a role, over TCP with SCRAM: `psql(['-c', 'select 1'], { user: 'orders_app' })`. */
export function psql(args: readonly string[], opts: PsqlOptions & { state?: HarnessState }): Promise<CommandResult> {
  return runPsql(requirePostgres(opts.state), args, opts);
}

/** Connection parameters for a driver such as `pg` (database defaults to `orders`). */
export function postgresConnection(user: PostgresRole, database?: string, state?: HarnessState): ConnectionParams {
  return connectionParams(requirePostgres(state), user, database);
}

export function postgresUrl(user: PostgresRole, database?: string, state?: HarnessState): string {
  return connectionUrl(requirePostgres(state), user, database);
}

/** A client_credentials access token (JWT) from the harness IdP, with `aud` = `audience`. */
export function getToken(req: TokenRequest & { state?: HarnessState }): Promise<string> {
  return requestToken(requireIdp(req.state), req);
}
