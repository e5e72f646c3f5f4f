// Test helpers shared by the store's unit tests, the integration tests and the benchmark: a fake
// sidecar chain producing real signed records.
import { randomBytes } from 'node:crypto';
import { ChainWriter, generateSigningKey, type SigningKey } from '../../core/recording/index.ts';
import type { SessionEvent } from '../../core/recording/session-event.ts';
import { ExportVerifier } from '../../core/recording/export-verify.ts';
import type { ChainRegistration, SessionRecord } from '../../operator/src/store/types.ts';

export interface FakeSidecar {
  chainId: string;
  namespace: string;
  pod: string;
  key: SigningKey;
  writer: ChainWriter<SessionEvent>;
  registration(registeredBy?: string): ChainRegistration;
  /** Signs `n` more records (command records unless `over` says otherwise). */
  next(n: number, over?: Partial<SessionEvent> | ((i: number) => Partial<SessionEvent>)): SessionRecord[];
}

export function event(namespace: string, pod: string, over: Partial<SessionEvent> = {}): SessionEvent {
  return {
    type: 'command', time: new Date().toISOString(), namespace, pod, policy: 'orders-db', target: 'orders-db', protocol: 'postgres',
    sessionId: 'session-1', subject: 'agent-1', subjectKind: 'User', groups: ['support'], purpose: 'customer-support',
    command: 'SELECT id, cpf FROM customers WHERE id = $1', decision: 'allow', rule: 'allow-the-rest',
    result: { rows: 1, bytes: 64, sample: 'id=1 cpf=***.***.***-33' }, durationMs: 3,
    ...over,
  };
}

export function fakeSidecar(namespace: string, pod = `agent-${randomBytes(3).toString('hex')}`): FakeSidecar {
  const key = generateSigningKey();
  const chainId = `${namespace}/${pod}/${randomBytes(6).toString('hex')}`;
  const writer = new ChainWriter<SessionEvent>(chainId, key);
  return {
    chainId, namespace, pod, key, writer,
    registration: (registeredBy = `system:serviceaccount:${namespace}:agent`) => ({
      chainId, namespace, pod, publicJwk: key.publicJwk, keyId: key.keyId, registeredBy, registeredAt: new Date().toISOString(),
    }),
    next(n, over = {}) {
      return Array.from({ length: n }, (_, i) => writer.append(event(namespace, pod, typeof over === 'function' ? over(i) : over)) as SessionRecord);
    },
  };
}

/**
 * An export verified the way an auditor verifies it (`guarita verify`, core/recording/export-verify.ts).
 * `complete`: the export was not filtered, so no chain may start after its first record.
 */
export function verifyExport(lines: Iterable<unknown>, complete: boolean): { ok: boolean; problems: string[]; count: number } {
  const verifier = new ExportVerifier();
  let line = 0;
  for (const value of lines) verifier.add(++line, value);
  const verdict = verifier.finish();
  const problems = verdict.problems.map((p) => `${p.chainId ?? ''}#${p.seq ?? ''}: ${p.problem}`);
  if (complete) {
    for (const c of verdict.chains) if (c.startsMidChain) problems.push(`${c.chainId}: the export starts at seq ${c.first ?? '?'}: the records before it are missing`);
  }
  return { ok: problems.length === 0, problems, count: verdict.records };
}
