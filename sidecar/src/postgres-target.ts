// Runs the PostgreSQL listener (sidecar/src/postgres/) of one target. The listener takes a fixed
// upstream (endpoint, database, credentials from the mounted Secret, TLS); this wrapper resolves
// it from the AccessPolicy in force and restarts the listener when it changes (open sessions end
// with 57P01, as on any endpoint or credential change). Until the policy is in force, the
// listener runs against a placeholder upstream: the enforcer refuses every session then.
import { parseDuration } from '../../core/duration.ts';
import { startPostgresListener, type PostgresListener, type PostgresTargetConfig } from './postgres/index.ts';
import type { SidecarConfig, TargetConfig } from './config.ts';
import type { SidecarEnforcer } from './enforcer.ts';
import { errorMessage, type Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { PolicyWatch } from './policy-watch.ts';
import { postgresUpstream, type CompiledTarget } from './targets.ts';

interface Ctx { config: SidecarConfig; enforcer: SidecarEnforcer; policies: PolicyWatch<CompiledTarget>; logger: Logger; metrics: Metrics }

const PLACEHOLDER = (name: string): PostgresTargetConfig => ({ name, host: '127.0.0.1', port: 1, username: 'unconfigured', password: '' });

function resolve(t: TargetConfig, ctx: Ctx): PostgresTargetConfig {
  const available = ctx.enforcer.available(t);
  if (!available.ok) return PLACEHOLDER(t.target);
  try {
    const upstream = postgresUpstream(available.target.policy, ctx.config.credentialsDir);
    const timeout = available.target.policy.spec.target.statementTimeout;
    // Part of the upstream config: a changed timeout restarts the listener like any endpoint change.
    const ms = timeout === undefined ? 0 : Math.round(parseDuration(timeout) * 1000);
    // 0 means no limit, as for PostgreSQL's own statement_timeout.
    return ms > 0 ? { ...upstream, statementTimeoutMs: ms } : upstream;
  } catch (err) {
    ctx.logger.error({ target: t.target, err: errorMessage(err) }, 'cannot resolve the postgres upstream');
    return PLACEHOLDER(t.target);
  }
}

export async function startPostgresTarget(t: TargetConfig, ctx: Ctx): Promise<{ target: string; port: number; close(drainMs: number): Promise<void> }> {
  const logger = ctx.logger.child({ listener: 'postgres', target: t.target });
  // Counted on every statement: the cells, found once, instead of a label lookup per statement.
  const decided = {
    allow: ctx.metrics.requestCell(t.target, 'postgres', 'allowed'),
    deny: ctx.metrics.requestCell(t.target, 'postgres', 'denied'),
    pending: ctx.metrics.requestCell(t.target, 'postgres', 'pending'),
  };
  const start = (upstream: PostgresTargetConfig): Promise<PostgresListener> => startPostgresListener({
    host: ctx.config.bindHost, port: t.listenPort, target: upstream, enforcer: ctx.enforcer, logger, maxConnections: ctx.config.pgMaxConnections,
    metrics: {
      statementDecided: (verdict) => decided[verdict].inc(),
      connectionRefused: (sqlstate) => ctx.metrics.requests.inc({ target: t.target, protocol: 'postgres', outcome: sqlstate === '28P01' ? 'unauthenticated' : sqlstate === '42501' ? 'forbidden' : 'unavailable' }),
    },
  });
  let current = resolve(t, ctx);
  let listener = await start(current);
  let chain: Promise<void> = Promise.resolve();
  const refresh = (): void => {
    chain = chain.then(async () => {
      const next = resolve(t, ctx);
      if (JSON.stringify(next) === JSON.stringify(current)) return;
      logger.info({ upstream: `${next.host}:${next.port}` }, 'postgres upstream changed: restarting the listener');
      await listener.close();
      current = next;
      listener = await start(current);
    }).catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'restarting the postgres listener failed'));
  };
  const unsubscribe = ctx.policies.onChange((name) => { if (name === t.policy) refresh(); });
  // The first policy sync may have landed while the listener was starting, before the subscription.
  refresh();
  return {
    target: t.target,
    port: listener.address.port,
    close: async (drainMs: number) => {
      unsubscribe();
      await chain;
      await listener.close(drainMs);
    },
  };
}
