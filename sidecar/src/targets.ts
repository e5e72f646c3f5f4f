// What a target needs besides the policy decision: the compiled masker, recording limits, and
// how to reach the upstream (endpoint, TLS, the credentials mounted from the target's Secret at
// <GUARITA_CREDENTIALS_DIR>/<target>/). Compiled once per AccessPolicy generation; any problem
// makes the policy "invalid" for this sidecar, so its target refuses requests with the reason.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileMasker } from '../../core/masking/index.ts';
import type { MaskingSpec } from '../../core/masking/index.ts';
import { compilePolicy } from '../../core/policy/index.ts';
import type { AccessPolicy } from '../../crds/types.ts';
import type { CompiledPolicy, Masker } from './core-types.ts';
import { opt } from './util.ts';
import type { PostgresTargetConfig } from './postgres/index.ts';
import type { Durability } from './spool.ts';

export interface CompiledTarget {
  policy: AccessPolicy;
  compiled: CompiledPolicy;
  masker: Masker;
  /** Masks what goes into records (command texts): the policy's masker, or the defaults when the policy disables masking. */
  recordMasker: Masker;
  limits: { maxRows: number; maxBytes: number };
  /** When a record of this target counts as kept (the spool's durability). */
  durability: Durability;
}

/** Reads `<credentialsDir>/<target>/<key>`, naming what is missing. */
export function readCredential(credentialsDir: string, target: string, key: string, what: string): string {
  const file = join(credentialsDir, target, key);
  if (!existsSync(file)) {
    throw new Error(`${what}: ${file} is not mounted (the injector mounts the target's credentialsSecretRef Secret at ${join(credentialsDir, target)}/; put key "${key}" in that Secret)`);
  }
  return readFileSync(file, 'utf8');
}

function hashKey(policy: AccessPolicy, credentialsDir: string): Uint8Array | undefined {
  const ref = policy.spec.masking?.hashKeySecretRef;
  if (ref === undefined) return undefined;
  return Buffer.from(readCredential(credentialsDir, policy.spec.target.name, ref.key, 'spec.masking.hashKeySecretRef').trim(), 'utf8');
}

/** Compiles policy, masker and limits; throws with the field at fault. */
export function compileTarget(policy: AccessPolicy, credentialsDir: string): CompiledTarget {
  const compiled = compilePolicy(policy);
  const spec = (policy.spec.masking ?? {}) as MaskingSpec;
  const key = hashKey(policy, credentialsDir);
  const masker = compileMasker(spec, key === undefined ? {} : { hashKey: key });
  const recordMasker = spec.enabled === false ? compileMasker({}) : masker;
  const recording = policy.spec.recording;
  return { policy, compiled, masker, recordMasker, limits: { maxRows: recording?.maxRows ?? 20, maxBytes: recording?.maxBytes ?? 16384 }, durability: recording?.durability ?? 'Synced' };
}

export interface HttpUpstream {
  /** scheme://host:port */
  origin: string;
  /** Path prefix of the endpoint URL (without trailing slash), prepended to request paths. */
  basePath: string;
  /** Bearer token the sidecar sends upstream (credentialsSecretRef.tokenKey). */
  token?: string;
  tls: { rejectUnauthorized: boolean; ca?: string; servername?: string };
}

type PolicyTarget = AccessPolicy['spec']['target'];

function verifyCa(target: PolicyTarget, mode: string, credentialsDir: string): string | undefined {
  const caKey = target.tls?.caSecretRef?.key;
  return mode === 'verify-full' && caKey !== undefined ? readCredential(credentialsDir, target.name, caKey, 'spec.target.tls.caSecretRef') : undefined;
}

function optionalCredential(credentialsDir: string, target: PolicyTarget, key: string | undefined, what: string): string | undefined {
  return key === undefined ? undefined : readCredential(credentialsDir, target.name, key, what).trim();
}

export function httpUpstream(policy: AccessPolicy, credentialsDir: string): HttpUpstream {
  const target = policy.spec.target;
  const url = new URL(target.endpoint);
  const mode = target.tls?.mode ?? 'verify-full';
  return {
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    ...opt('token', optionalCredential(credentialsDir, target, target.credentialsSecretRef?.tokenKey, 'spec.target.credentialsSecretRef.tokenKey')),
    tls: { rejectUnauthorized: mode !== 'require', ...opt('ca', verifyCa(target, mode, credentialsDir)), ...opt('servername', target.tls?.serverName) },
  };
}

/** The listener's upstream settings (PostgresTargetConfig), resolved from the policy and the mounted Secret. */
export function postgresUpstream(policy: AccessPolicy, credentialsDir: string): PostgresTargetConfig {
  const target = policy.spec.target;
  const ref = target.credentialsSecretRef;
  if (ref === undefined) throw new Error(`AccessPolicy ${policy.metadata.name}: spec.target.credentialsSecretRef is required for a postgres target`);
  const split = /^(.*):(\d+)$/.exec(target.endpoint);
  if (split === null) throw new Error(`AccessPolicy ${policy.metadata.name}: spec.target.endpoint must be host:port`);
  const mode = target.tls?.mode ?? 'disable';
  return {
    name: target.name,
    host: (split[1] ?? '').replace(/^\[(.*)\]$/, '$1'),
    port: Number(split[2]),
    ...opt('database', target.database),
    username: readCredential(credentialsDir, target.name, ref.usernameKey ?? 'username', 'spec.target.credentialsSecretRef.usernameKey').trim(),
    password: readCredential(credentialsDir, target.name, ref.passwordKey ?? 'password', 'spec.target.credentialsSecretRef.passwordKey').replace(/\r?\n$/, ''),
    tls: { mode, ...opt('ca', verifyCa(target, mode, credentialsDir)), ...opt('serverName', target.tls?.serverName) },
  };
}
