// Guarita's control side for one integration test: the real operator and admission webhook as
// processes with their own least-privilege service accounts (each in its own namespace), the
// webhook configurations scoped to this test's agent namespace (labelled for injection), and the
// webhook's status guard pointed at this operator. Tests add their targets, policies and sidecar.
import { loadHarnessState } from '../harness/state.ts';
import { apply } from './kube-apply.ts';
import { installCrds, k, suffix } from './kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from './operator-process.ts';
import { registerWebhooks, startWebhookProcess, unregisterWebhooks, webhookIdentity, type WebhookProcess } from '../../webhook/test/cluster.ts';

export interface GuaritaSystem {
  /** The agent namespace: opted in to injection and in the webhook's scope. */
  ns: string;
  op: OperatorProcess;
  webhook: WebhookProcess;
  stop(): Promise<void>;
}

export interface GuaritaSystemOptions {
  /** Environment for both the webhook and the operator (e.g. GUARITA_OIDC_USERNAME_MAPPINGS). */
  env?: Record<string, string>;
  /** More namespaces the operator watches, outside the webhook's scope (the operator's checks on their own). */
  watchAlso?: string[];
}

/** `tag` names this test's namespaces: <tag>-<id> (agents), <tag>-op-<id>, <tag>-wh-<id>. */
export async function startGuaritaSystem(tag: string, opts: GuaritaSystemOptions = {}): Promise<GuaritaSystem> {
  const id = suffix();
  const ns = `${tag}-${id}`;
  const opNs = `${tag}-op-${id}`;
  const whNs = `${tag}-wh-${id}`;
  const configuration = `guarita-${tag}-${id}`;
  const scope = { 'guarita.io/test-scope': `${tag}-${id}` };
  await installCrds();
  const opFx = await operatorFixture(opNs);
  await k(['create', 'namespace', whNs]);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'guarita.io/injection': 'enabled', ...scope } } }]);
  const whKubeconfig = await webhookIdentity(whNs, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  const [webhook, op] = await Promise.all([
    // The webhook lets only this operator's service account decide approval phases.
    startWebhookProcess({ namespace: whNs, configurationName: configuration, kubeconfig: whKubeconfig, operatorServiceAccount: `${opNs}:guarita-operator`, ...(opts.env === undefined ? {} : { env: opts.env }) }),
    startOperator({ ...opFx, watchNamespaces: [ns, ...(opts.watchAlso ?? [])], ...(opts.env === undefined ? {} : { env: opts.env }) }),
  ]);
  await registerWebhooks(configuration, whNs, webhook.url, scope);
  await waitServing(op);
  return {
    ns, op, webhook,
    stop: async () => {
      await unregisterWebhooks(configuration).catch(() => undefined);
      await Promise.all([op.stop(), webhook.stop()]);
    },
  };
}
