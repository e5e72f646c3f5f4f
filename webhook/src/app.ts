// Assembles the running webhook from its configuration: API client, policy cache, TLS source,
// HTTPS server and metrics server. main.ts runs it as a process; tests and the benchmark run it
// in-process.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger as PinoLogger } from 'pino';
import type { WebhookConfig } from './config.ts';
import { serviceAccountUsername } from './approval-status.ts';
import { apiLookups, type WebhookContext } from './context.ts';
import { KubeClient } from './kube.ts';
import { maskingCheck } from './masking-check.ts';
import { createMetrics, type WebhookMetrics } from './metrics.ts';
import { PolicyCache } from './policy-cache.ts';
import { buildMetricsServer, buildServer, type ClientAuth, type WebhookServer } from './server.ts';
import { FileTls, SelfManagedTls, type ServingPair, type TlsSource } from './tls.ts';
import { expiresAt } from './tls-certs.ts';

export interface RunningWebhook {
  /** https://host:port */
  url: string;
  port: number;
  metricsPort: number | undefined;
  metrics: WebhookMetrics;
  tls: TlsSource;
  policies: PolicyCache;
  ready(): boolean;
  stop(): Promise<void>;
}

export function kubeConfigFrom(config: Pick<WebhookConfig, 'kubeconfig'>): KubeConfig {
  const kc = new KubeConfig();
  if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST !== undefined) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

function tlsSource(config: WebhookConfig, api: KubeClient, log: PinoLogger, onReload: (pair: ServingPair) => void): TlsSource {
  if (config.tls.mode === 'files') return new FileTls({ dir: config.tls.dir, checkIntervalMs: config.tls.checkIntervalMs, log, onReload });
  return new SelfManagedTls({
    api, namespace: config.namespace, secretName: config.tls.secretName, policy: config.tls.policy,
    mutatingConfigurations: [config.configurationName], validatingConfigurations: [config.configurationName],
    checkIntervalMs: config.tls.checkIntervalMs, log, onReload,
  });
}

async function listen(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  return (app.server.address() as AddressInfo).port;
}

function clientAuth(config: WebhookConfig): ClientAuth {
  if (config.clientAuth.mode === 'none') return { mode: 'none' };
  let caPem: string;
  try {
    caPem = readFileSync(config.clientAuth.caFile, 'utf8');
  } catch (err) {
    throw new Error(`GUARITA_WEBHOOK_CLIENT_CA_FILE: cannot read ${config.clientAuth.caFile} (${err instanceof Error ? err.message : String(err)}); mount the CA of the apiserver's webhook client certificate there`, { cause: err });
  }
  if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`GUARITA_WEBHOOK_CLIENT_CA_FILE: ${config.clientAuth.caFile} holds no PEM certificate`);
  return { mode: 'certificate', caPem, names: config.clientAuth.names };
}

export interface StartOptions { kubeConfig?: KubeConfig; log?: PinoLogger; defaultMetrics?: boolean }

export async function startWebhook(config: WebhookConfig, opts: StartOptions = {}): Promise<RunningWebhook> {
  const log = opts.log ?? pino({ level: config.logLevel, base: { component: 'guarita-webhook' } });
  const auth = clientAuth(config);
  if (auth.mode === 'none') log.warn('GUARITA_WEBHOOK_CLIENT_AUTH=none: the admission endpoints answer any client that reaches the port; only the NetworkPolicy keeps others out');
  const kc = opts.kubeConfig ?? kubeConfigFrom(config);
  const api = new KubeClient(kc);
  const metrics = createMetrics(opts.defaultMetrics ?? true);
  // The informer logs each failure with its retry delay; the metric counts them.
  const policies = new PolicyCache(api, { onError: () => metrics.policyCacheErrors.inc(), log: log.child({ cache: 'accesspolicies' }) });
  const holder: { server?: WebhookServer } = {};
  const expiry = (pair: ServingPair): void => {
    metrics.certificateExpiry.set((expiresAt(pair.certPem)?.getTime() ?? 0) / 1000);
  };
  const onReload = (pair: ServingPair): void => {
    if (holder.server === undefined) return; // the first certificate, from init()
    holder.server.reload(pair);
    metrics.certificateReloads.inc();
    expiry(pair);
  };
  const tls = tlsSource(config, api, log, onReload);
  const pair = await tls.init();
  expiry(pair);
  const ctx: WebhookContext = {
    injector: config.injector, allowedCsiDrivers: config.allowedCsiDrivers, missingSecret: config.missingSecret, usernameMappings: config.usernameMappings,
    operatorUsername: serviceAccountUsername(config.operatorServiceAccount.namespace, config.operatorServiceAccount.name),
    policies, lookups: apiLookups(api), metrics, log, maskingCheck, now: () => new Date(),
  };
  const ready = (): boolean => policies.synced();
  const server = await buildServer(ctx, pair, ready, auth);
  holder.server = server;
  const port = await listen(server.app, config.host, config.port);
  const metricsApp = config.metricsPort === 0 ? undefined : await buildMetricsServer(ctx, ready);
  const metricsPort = metricsApp === undefined ? undefined : await listen(metricsApp, config.host, config.metricsPort);
  tls.start();
  policies.start().then(() => metrics.policyCacheSynced.set(1), (err: unknown) => log.error({ err }, 'AccessPolicy cache did not sync'));
  log.info({ port, metricsPort, tlsMode: config.tls.mode, sidecarMode: config.injector.sidecar.mode }, 'guarita webhook listening');
  const app = server.app;
  return {
    url: `https://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`, port, metricsPort, metrics, tls, policies, ready,
    async stop(): Promise<void> {
      tls.stop();
      await policies.stop();
      await Promise.all([app.close(), metricsApp?.close()]);
    },
  };
}
