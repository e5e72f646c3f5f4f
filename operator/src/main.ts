// The Guarita operator: one Deployment, several replicas, one leader (Lease). Every replica serves
// HTTPS (ingest + read APIs) and metrics; only the leader opens the session store and reconciles,
// so followers answer the APIs with 503 + Retry-After (sidecars keep spooling and retry). A leader
// that loses its Lease exits, and Kubernetes restarts it as a follower.
//
//   node operator/src/main.ts --help
import { pino, type Logger } from 'pino';
import { ConfigError, loadConfig, usage, type OperatorConfig } from './config.ts';
import { Controller } from './controller.ts';
import { EventRecorder } from './events.ts';
import { registerIngest } from './ingest/plugin.ts';
import { KubeAuth } from './auth/kube-auth.ts';
import { EvidenceSources } from './auth/evidence-source.ts';
import { KubeClient, paths, type KubeApi } from './kube/client.ts';
import { LeaderElector } from './leader.ts';
import { createMetrics } from './metrics.ts';
import { registerReadApi } from './read-api/plugin.ts';
import { createApiServer, createMetricsServer, watchCertificate } from './server.ts';

function configOrExit(): OperatorConfig {
  try {
    const argv = process.argv.slice(2);
    if (argv.includes('--help')) {
      process.stdout.write(`${usage()}\n`);
      process.exit(0);
    }
    return loadConfig(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`guarita-operator: configuration error: ${err.message}\n`);
    process.exit(2);
  }
}

async function labelPod(api: KubeApi, config: OperatorConfig, leader: boolean, log: Logger): Promise<void> {
  if (config.podName === undefined) return;
  try {
    await api.mergePatch(paths.pod(config.namespace, config.podName), { metadata: { labels: { 'guarita.io/leader': String(leader) } } });
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not label this pod (the ingest Service selects guarita.io/leader=true)');
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const log = pino({ level: config.logLevel, base: { component: 'guarita-operator', identity: config.identity } });
  const api = KubeClient.load(config.kubeconfig);
  const metrics = createMetrics();
  const events = new EventRecorder(api, { component: 'guarita-operator', instance: config.identity, log, repeatIntervalMs: config.eventRepeatIntervalMs, metrics });
  const auth = new KubeAuth(api);

  const fatal = (why: string, err?: unknown): never => {
    log.fatal({ err: err instanceof Error ? err.message : err }, why);
    process.exit(1);
  };
  const controller = new Controller({ config, api, events, metrics, log, onFatal: (err) => fatal('session store failed; restarting to recover from disk', err) });
  const served = config.watchNamespaces === undefined ? undefined : new Set(config.watchNamespaces);

  const app = createApiServer({ certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, bodyLimit: config.maxBodyBytes, logger: log,
    connections: { maxConnections: config.maxConnections, maxPerClient: config.maxConnectionsPerClient }, metrics,
  });
  registerIngest(app, {
    store: () => controller.store, auth, sources: new EvidenceSources(api), audience: config.ingestAudience, metrics, events, log, maxBatchRecords: config.maxBatchRecords, maxChainsPerPod: config.maxChainsPerPod,
    ...(served === undefined ? {} : { namespaces: served }),
    eventTarget: (ns, policy, pod) => controller.eventTarget(ns, policy, pod),
    onStored: (records) => controller.recordsStored(records),
  });
  registerReadApi(app, { store: () => controller.store, auth, metrics, anchored: (ns, p) => controller.anchored(ns, p) });
  watchCertificate(app, config.tlsCertFile, config.tlsKeyFile);

  const elector = new LeaderElector(api, {
    namespace: config.namespace, name: config.leaseName, identity: config.identity,
    leaseDurationMs: config.leaseDurationMs, renewDeadlineMs: config.renewDeadlineMs, retryPeriodMs: config.retryPeriodMs, log,
    onStartedLeading: () => {
      metrics.leader.set(1);
      controller.start().then(() => labelPod(api, config, true, log), (err: unknown) => fatal('could not start as leader', err));
    },
    onStoppedLeading: () => fatal('lost the leader Lease; exiting so a fresh process rejoins as a follower'),
  });

  const metricsServer = createMetricsServer(metrics, () => ({ identity: config.identity, pid: process.pid, leader: elector.isLeader, serving: controller.store !== undefined, ...(elector.holder === undefined ? {} : { holder: elector.holder }) }));
  await new Promise<void>((resolve) => metricsServer.listen(config.metricsPort, config.metricsHost, resolve));
  await app.listen({ host: config.listenHost, port: config.listenPort });
  await labelPod(api, config, false, log);
  log.info({ listen: `${config.listenHost}:${config.listenPort}`, metrics: `${config.metricsHost}:${config.metricsPort}`, namespaces: config.watchNamespaces ?? 'all' }, 'operator started; campaigning for leadership');
  elector.start();

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void (async () => {
      await app.close().catch(() => undefined);
      await controller.stop().catch((err: unknown) => log.error({ err: String(err) }, 'stopping the controller failed'));
      await elector.stop();
      metricsServer.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`guarita-operator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
