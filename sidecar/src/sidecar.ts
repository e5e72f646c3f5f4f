// Wiring of the sidecar process: spool and chain, Kubernetes client, live policies, identity,
// approvals, enforcer, shipper, listeners and the admin server; and the graceful shutdown that
// drains in-flight requests, closes sessions (recording their end) and flushes the spool.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initPolicyEngine } from '../../core/policy/index.ts';
import { startAdmin } from './admin.ts';
import { Approvals } from './approvals.ts';
import type { SidecarConfig, TargetConfig } from './config.ts';
import { SidecarEnforcer } from './enforcer.ts';
import { startHttpListener } from './http/proxy.ts';
import { startIdleMemoryTrim } from './idle-memory.ts';
import { Authenticator } from './identity/index.ts';
import { OidcVerifier } from './identity/oidc.ts';
import { ServiceAccountVerifier, tokenIssuer } from './identity/service-account.ts';
import { KubeClient, kubeConnection } from './kube/client.ts';
import { errorMessage, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { PolicyWatch } from './policy-watch.ts';
import { Shipper } from './shipper.ts';
import { Spool, type SpoolOptions } from './spool.ts';
import { compileTarget, type CompiledTarget } from './targets.ts';

export interface Listener { readonly target: string; readonly port: number; close(drainMs: number): Promise<void> }

export interface RunningSidecar {
  readonly config: SidecarConfig;
  readonly adminPort: number;
  readonly listeners: readonly Listener[];
  readonly spool: Spool;
  readonly enforcer: SidecarEnforcer;
  readonly metrics: Metrics;
  /** Resolves when policies are synced and listeners are up (what /readyz reports). */
  readonly ready: Promise<void>;
  shutdown(reason: string): Promise<void>;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function startListener(t: TargetConfig, ctx: { config: SidecarConfig; enforcer: SidecarEnforcer; policies: PolicyWatch<CompiledTarget>; logger: Logger; metrics: Metrics }): Promise<Listener> {
  // Loaded only where a PostgreSQL target exists: the wire protocol and the SQL parser cost an
  // HTTP-only sidecar memory and start time for nothing.
  if (t.protocol === 'postgres') return (await import('./postgres-target.ts')).startPostgresTarget(t, ctx);
  // ssh2 loaded only where an SSH target exists.
  if (t.protocol === 'ssh') return (await import('./ssh/index.ts')).startSshTarget(t, ctx);
  if (t.protocol === 'kubernetes') {
    const k = await (await import('./kubernetes/proxy.ts')).startKubeListener({
      host: ctx.config.bindHost, port: t.listenPort, target: t, enforcer: ctx.enforcer, credentialsDir: ctx.config.credentialsDir, caDir: ctx.config.kubeCaDir,
      logger: ctx.logger.child({ listener: 'kubernetes', target: t.target }), metrics: ctx.metrics, maxBufferedBody: ctx.config.httpMaxBufferedBody,
      maxResponseBytes: ctx.config.kubeMaxResponseBytes, memoryLimitBytes: ctx.config.kubeMemoryLimit, maxWatches: ctx.config.kubeMaxWatches, requestTimeoutMs: ctx.config.httpRequestTimeoutMs, maxConnections: ctx.config.httpMaxConnections,
    });
    return { target: t.target, port: k.address.port, close: (ms) => k.close(ms) };
  }
  const l = await startHttpListener({
    host: ctx.config.bindHost, port: t.listenPort, target: t, enforcer: ctx.enforcer, credentialsDir: ctx.config.credentialsDir,
    logger: ctx.logger.child({ listener: 'http', target: t.target }), metrics: ctx.metrics, binary: ctx.config.httpBinary, maxBufferedBody: ctx.config.httpMaxBufferedBody,
    requestTimeoutMs: ctx.config.httpRequestTimeoutMs, maxConnections: ctx.config.httpMaxConnections,
  }, sha256);
  return { target: t.target, port: l.address.port, close: (ms) => l.close(ms) };
}

/** The OIDC and service-account verifiers with the settings of this process. */
function identityVerifiers(config: SidecarConfig, kube: KubeClient, metrics: Metrics): Authenticator {
  // The pod's own projected token names the apiserver's service-account issuer.
  const ownIssuer = existsSync(join(config.tokenDir, 'kube')) ? tokenIssuer(readFileSync(join(config.tokenDir, 'kube'), 'utf8')) : undefined;
  const issuers = config.serviceAccountIssuers.length > 0 ? config.serviceAccountIssuers : ownIssuer === undefined ? [] : [ownIssuer];
  return new Authenticator(
    new OidcVerifier({ cacheMaxAgeMs: config.oidcJwksRefreshMs, maxStaleMs: config.oidcJwksMaxStaleMs, metrics }),
    new ServiceAccountVerifier(kube, { issuers, ttlMs: config.tokenReviewCacheTtlMs, perSource: { burst: config.tokenReviewBurst, perMinute: config.tokenReviewPerMinute }, metrics }),
  );
}

export interface StartOptions {
  /** Tests: simulate a failing spool volume. */
  spoolFaults?: SpoolOptions['faults'];
}

export async function startSidecar(config: SidecarConfig, logger: Logger, opts: StartOptions = {}): Promise<RunningSidecar> {
  const started = performance.now();
  const metrics = new Metrics({ defaultMetrics: true });
  // The SQL parser only where a PostgreSQL target needs it (HTTP-only sidecars save its memory).
  const enginePromise = config.targets.some((t) => t.protocol === 'postgres') ? initPolicyEngine() : Promise.resolve();
  const spool = await Spool.open({
    dir: config.spoolDir, chainPrefix: `${config.namespace}/${config.podName}`, ...(config.spoolMaxBytes === undefined ? {} : { maxBytes: config.spoolMaxBytes }), logger: logger.child({ part: 'spool' }), metrics, ...(opts.spoolFaults === undefined ? {} : { faults: opts.spoolFaults }),
  });
  const kube = new KubeClient(kubeConnection(config));
  await enginePromise;
  const policyNames = [...new Set(config.targets.map((t) => t.policy))];
  const policies = new PolicyWatch<CompiledTarget>({
    kube, namespace: config.namespace, names: policyNames, compile: (p) => compileTarget(p, config.credentialsDir),
    stalenessMs: config.policyStalenessMs, logger: logger.child({ part: 'policy' }), metrics,
  });
  const enforcer = new SidecarEnforcer({
    config, policies, metrics, spool, logger: logger.child({ part: 'enforcer' }),
    authenticator: identityVerifiers(config, kube, metrics),
    approvals: new Approvals({ kube, namespace: config.namespace, podName: config.podName, ...(config.podUid === undefined ? {} : { podUid: config.podUid }), logger: logger.child({ part: 'approvals' }) }),
  });
  const shipper = new Shipper({
    spool, operatorUrl: config.operatorUrl, ...(config.operatorCaFile === undefined ? {} : { operatorCaFile: config.operatorCaFile }), tokenDir: config.tokenDir,
    namespace: config.namespace, podName: config.podName, logger: logger.child({ part: 'shipper' }), metrics,
  });
  shipper.start();
  policies.start();

  let shuttingDown = false;
  const listeners: Listener[] = [];
  const admin = await startAdmin({
    host: config.bindHost, port: config.adminPort, metrics,
    readiness: () => {
      const reasons: string[] = [];
      if (shuttingDown) reasons.push('shutting down');
      const p = policies.availability();
      if (!p.ok) reasons.push(p.message);
      if (listeners.length < config.targets.length) reasons.push('listeners are starting');
      const s = spool.health();
      if (!s.ok) reasons.push(s.message);
      return { ready: reasons.length === 0, reasons };
    },
    details: () => ({
      pid: process.pid, chainId: spool.chainId, spoolPending: spool.pendingCount, delivery: shipper.lastError ?? 'ok', sessions: enforcer.openSessions,
      // The generation of each AccessPolicy as last compiled, so a rollout (or a test) can wait until
      // a change is in force instead of guessing how long the watch takes.
      policies: Object.fromEntries(policyNames.map((name) => {
        const p = policies.get(name);
        return [name, p.state === 'missing' ? { state: p.state } : { state: p.state, generation: p.generation ?? null }];
      })),
    }),
  });
  const ctx = { config, enforcer, policies, logger, metrics };
  const idleMemory = startIdleMemoryTrim({ logger: logger.child({ part: 'memory' }) });
  const ready = (async () => {
    for (const t of config.targets) listeners.push(await startListener(t, ctx));
    await policies.whenSynced();
    logger.info({ startupMs: Math.round(performance.now() - started), chainId: spool.chainId, listeners: listeners.map((l) => ({ target: l.target, port: l.port })) }, 'guarita-proxy ready');
    // Start-up's garbage and grown heap go back to the system now; later bursts after they end.
    idleMemory.trimNow();
  })();

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      shuttingDown = true;
      logger.info({ reason, inFlightSessions: enforcer.openSessions }, 'shutting down: draining');
      const deadline = Date.now() + config.drainTimeoutMs;
      const step = (what: string): void => logger.debug({ step: what }, 'shutdown');
      await Promise.allSettled(listeners.map((l) => l.close(Math.max(0, deadline - Date.now()))));
      step('listeners closed');
      await enforcer.closeAll('the Guarita sidecar is shutting down');
      step('sessions closed');
      // The session.end records just appended (and Written answers) are synced before the final
      // flush counts what is left to ship.
      await spool.settle().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'syncing the spool before the final delivery'));
      const delivered = await shipper.flush(Math.max(1000, Math.min(5000, deadline - Date.now())));
      await shipper.stop();
      step('shipper stopped');
      await policies.stop();
      step('policy watch stopped');
      await spool.close();
      await admin.close();
      idleMemory.stop();
      step('admin closed');
      await kube.close().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'closing the Kubernetes client'));
      logger.info({ spoolPending: spool.pendingCount, delivered }, delivered ? 'stopped; spool fully delivered' : 'stopped; undelivered records stay in the spool for the next start');
    })();
    return stopping;
  };
  return { config, adminPort: admin.port, listeners, spool, enforcer, metrics, ready, shutdown };
}
