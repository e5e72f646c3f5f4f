// `guarita check`'s judgement: pure rules from ClusterFacts to a checklist. Each failure carries
// the fix a platform engineer can run as is (kubectl and helm commands with the real names).
import { API_VERSION, GROUP } from '../../../crds/definitions.ts';
import type { CertificateFact, ClusterFacts, DeploymentFact, LeaseFact, NamespaceFact, PolicyFact, Readable, SecretKeysFact } from './facts.ts';

export interface CheckResult {
  section: string;
  title: string;
  ok: boolean;
  /** What was found (shown under a failure, and in -o json). */
  detail?: string;
  /** What to run or change, one line each. */
  fix?: string[];
}

const CHART = 'oci://ghcr.io/guarita/charts/guarita';
const CRD_NAMES = [`accesspolicies.${GROUP}`, `approvalrequests.${GROUP}`];
// helm installs a chart's CRDs on install only, never on upgrade: applied from the chart of this CLI's release.
const APPLY_CRDS = `helm show crds ${CHART} --version "$(guarita --version | cut -d' ' -f2)" | kubectl apply --server-side -f -`;
const INJECTION_LABEL = 'guarita.io/injection';

function duration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs >= 2 * 86_400_000) return `${Math.floor(abs / 86_400_000)}d`;
  if (abs >= 2 * 3_600_000) return `${Math.floor(abs / 3_600_000)}h`;
  if (abs >= 120_000) return `${Math.floor(abs / 60_000)}m`;
  return `${Math.floor(abs / 1000)}s`;
}

function release(deployments: readonly DeploymentFact[]): { name: string; namespace: string } | undefined {
  const d = deployments.find((x) => x.release !== undefined);
  return d === undefined ? undefined : { name: d.release ?? '', namespace: d.namespace };
}

function helmUpgrade(deployments: readonly DeploymentFact[], set: string): string {
  const r = release(deployments);
  return `helm upgrade ${r?.name ?? 'guarita'} ${CHART} -n ${r?.namespace ?? 'guarita-system'} --reuse-values --set '${set}'`;
}

function crdChecks(f: ClusterFacts): CheckResult[] {
  const section = 'Custom resource definitions';
  if (f.crds.error !== undefined) return [{ section, title: 'CRDs can be read', ok: false, detail: f.crds.error, fix: ['kubectl auth can-i list customresourcedefinitions (check needs read access to CRDs)'] }];
  const version = f.expectedVersion;
  return CRD_NAMES.map((name): CheckResult => {
    const crd = f.crds.value?.find((c) => c.name === name);
    const title = `${name} installed and serving ${version}`;
    if (crd === undefined) return { section, title, ok: false, detail: 'not installed', fix: [APPLY_CRDS] };
    if (!crd.established) return { section, title, ok: false, detail: 'not Established', fix: [`kubectl describe crd ${name}`] };
    if (!crd.served.includes(version)) return { section, title, ok: false, detail: `serves ${crd.served.join(', ') || 'no version'}; this CLI speaks ${API_VERSION}`, fix: [APPLY_CRDS, 'or install the CLI of the installed release (guarita version prints both)'] };
    const unserved = crd.storedVersions.filter((v) => !crd.served.includes(v));
    if (unserved.length > 0) return { section, title, ok: false, detail: `objects are still stored as ${unserved.join(', ')}, which the CRD no longer serves`, fix: [`migrate them (read and write back every object), then set status.storedVersions of ${name} to [${crd.storage ?? version}]`] };
    return { section, title, ok: true, detail: `stored as ${crd.storage ?? '?'}` };
  });
}

function deploymentChecks(f: ClusterFacts): CheckResult[] {
  const section = 'Control plane';
  if (f.deployments.error !== undefined) return [{ section, title: 'Guarita Deployments can be read', ok: false, detail: f.deployments.error, fix: ['pass --guarita-namespace NS (the release namespace) if you cannot list Deployments in every namespace'] }];
  const found = f.deployments.value ?? [];
  return (['webhook', 'operator'] as const).map((component): CheckResult => {
    const title = `${component} Deployment ready`;
    const mine = found.filter((d) => d.component === component);
    if (mine.length === 0) return { section, title, ok: false, detail: `no Deployment labelled app.kubernetes.io/part-of=guarita,app.kubernetes.io/component=${component}`, fix: [`helm upgrade --install guarita ${CHART} -n guarita-system --create-namespace (docs/operations.md lists the required values)`] };
    const notReady = mine.filter((d) => d.readyReplicas < 1 || d.readyReplicas < d.replicas);
    const names = mine.map((d) => `${d.namespace}/${d.name} ${d.readyReplicas}/${d.replicas} ready${d.version === undefined ? '' : `, version ${d.version}`}`).join('; ');
    if (notReady.length === 0) return { section, title, ok: true, detail: names };
    return {
      section, title, ok: false,
      detail: `${names}${notReady.map((d) => (d.message === undefined ? '' : ` (${d.message})`)).join('')}`,
      fix: notReady.flatMap((d) => [`kubectl -n ${d.namespace} rollout status deploy/${d.name}`, `kubectl -n ${d.namespace} describe pods -l app.kubernetes.io/instance=${d.release ?? ''},app.kubernetes.io/component=${component}`, `kubectl -n ${d.namespace} logs deploy/${d.name}`]),
    };
  });
}

function unreachableFix(f: ClusterFacts): string[] {
  const webhook = (f.deployments.value ?? []).find((d) => d.component === 'webhook');
  const ns = webhook?.namespace ?? 'guarita-system';
  const name = webhook?.name ?? 'guarita-webhook';
  return [
    `kubectl -n ${ns} get endpoints ${name} (no endpoints: the webhook pods are not ready)`,
    `kubectl -n ${ns} logs deploy/${name}`,
    'check that the control plane may reach the webhook pods on their port (NetworkPolicy networkPolicy.webhookFrom, firewall rules of managed clusters)',
  ];
}

function webhookCheck(f: ClusterFacts): CheckResult[] {
  if (f.webhook === undefined) return [];
  const section = 'Control plane';
  const ns = f.namespace.value?.name ?? 'NS';
  const title = `apiserver reaches the injection webhook (dry-run pod in ${ns})`;
  if (f.webhook.error !== undefined) return [{ section, title, ok: false, detail: f.webhook.error, fix: [`kubectl auth can-i create pods -n ${ns} (the dry run needs it; nothing is created)`] }];
  const probe = f.webhook.value ?? { reached: false, injected: false, message: 'no answer' };
  if (!probe.reached) return [{ section, title, ok: false, detail: probe.message, fix: unreachableFix(f) }];
  return [{ section, title, ok: true, detail: probe.injected ? 'the proxy was injected into the dry-run pod' : `the webhook answered: ${probe.message ?? 'admitted'}` }];
}

function renewFix(f: ClusterFacts, c: CertificateFact): string[] {
  const [ns = '', secret = ''] = c.source.split(/[/:]/);
  const deploy = secret.replace(/-tls$/, '');
  // The self-managed webhook renews its own certificate (at start and every tls.selfManaged.checkInterval,
  // when a third of its validity remains) and may only update its Secret, never re-create it.
  if (c.component === 'webhook') return [`kubectl -n ${ns} logs deploy/${deploy} | grep -i certificate (it renews its certificate itself: why not?)`, `kubectl -n ${ns} rollout restart deploy/${deploy} (it renews at start; with tls.mode=certManager: cmctl renew -n ${ns} ${deploy})`];
  return [`kubectl -n ${ns} delete secret ${secret}, then ${helmUpgrade(f.deployments.value ?? [], 'operator.tls.validityDays=3650')} (selfManaged: the chart issues a new one; certManager: cmctl renew -n ${ns} ${deploy})`, `kubectl -n ${ns} rollout restart deploy/${deploy}`];
}

function certificateCheck(f: ClusterFacts, c: CertificateFact): CheckResult {
  const section = 'Certificates';
  const title = `${c.component} serving certificate valid for more than ${duration(f.certMinRemainingMs)} (${c.source})`;
  if (c.error !== undefined) return { section, title, ok: false, detail: c.error, fix: renewFix(f, c) };
  const now = f.now.getTime();
  const notBefore = c.notBefore ?? f.now;
  if (notBefore.getTime() > now) return { section, title, ok: false, detail: `not valid before ${notBefore.toISOString()} (a clock skew?)`, fix: ['check the clocks of the control plane and the nodes (NTP)'] };
  const notAfter = c.notAfter ?? new Date(0);
  const left = notAfter.getTime() - now;
  const detail = `expires ${notAfter.toISOString()} (${left > 0 ? `in ${duration(left)}` : `${duration(left)} ago`})`;
  if (left <= 0) return { section, title, ok: false, detail: `expired: ${detail}`, fix: renewFix(f, c) };
  if (left < f.certMinRemainingMs) return { section, title, ok: false, detail: `expiring soon: ${detail}`, fix: renewFix(f, c) };
  return { section, title, ok: true, detail };
}

function leaseCheck(f: ClusterFacts, l: Readable<LeaseFact>): CheckResult {
  const section = 'Control plane';
  const lease = l.value;
  const title = `operator holds its store Lease (${lease === undefined ? '?' : `${lease.namespace}/${lease.name}`})`;
  if (l.error !== undefined || lease === undefined) return { section, title, ok: false, detail: l.error ?? 'unknown', fix: ['kubectl auth can-i get leases.coordination.k8s.io -n NAMESPACE'] };
  return leaseFreshness(f, section, title, lease);
}

function leaseFreshness(f: ClusterFacts, section: string, title: string, lease: LeaseFact): CheckResult {
  const fix = [`kubectl -n ${lease.namespace} logs deploy/${lease.name.replace(/-leader$/, '')} (only the leader opens the store: no holder means no recording is ingested)`];
  const holder = lease.holder ?? '';
  if (lease.renewTime === undefined || holder === '') return { section, title, ok: false, detail: 'no operator holds it: recordings are not being ingested', fix };
  const age = f.now.getTime() - lease.renewTime.getTime();
  if (age > Math.max(30, 2 * (lease.leaseDurationSeconds ?? 15)) * 1000) return { section, title, ok: false, detail: `last renewed by ${holder} ${duration(age)} ago: the operator stopped`, fix };
  return { section, title, ok: true, detail: `held by ${holder}, renewed ${duration(age)} ago` };
}

function optedIn(section: string, ns: NamespaceFact): CheckResult {
  const title = `opted in (${INJECTION_LABEL}=enabled)`;
  const value = ns.labels[INJECTION_LABEL];
  if (value === 'enabled') return { section, title, ok: true };
  return { section, title, ok: false, detail: value === undefined ? 'label missing: pods here get no proxy' : `label is '${value}'`, fix: [`kubectl label namespace ${ns.name} ${INJECTION_LABEL}=enabled --overwrite`] };
}

function namespaceChecks(f: ClusterFacts): CheckResult[] {
  const ns = f.namespace.value;
  const section = `Namespace ${ns?.name ?? '?'}`;
  if (ns === undefined) return [{ section, title: 'namespace can be read', ok: false, detail: f.namespace.error ?? 'unknown', fix: ['pass -n NAMESPACE of your agents'] }];
  if (!ns.exists) return [{ section, title: 'namespace exists', ok: false, detail: 'not found', fix: [`kubectl create namespace ${ns.name}`] }];
  const upgrade = helmUpgrade(f.deployments.value ?? [], `sidecar.rbac.namespaces[N].namespace=${ns.name}`);
  const present = (title: string, found: string[], missing: string, fix: string): CheckResult =>
    (found.length > 0 ? { section, title, ok: true, detail: found.join(', ') } : { section, title, ok: false, detail: missing, fix: [fix] });
  return [
    optedIn(section, ns),
    present('sidecar RBAC present', ns.sidecarBindings, 'no RoleBinding to a Guarita *-sidecar Role: the proxy cannot read its policies', `${upgrade} (N: the next index of sidecar.rbac.namespaces; --reuse-values keeps the others)`),
    present('operator CA ConfigMap present', ns.operatorCaConfigMaps, 'proxies here cannot verify the operator they ship recordings to', upgrade),
  ];
}

/** credentialsSecretRef's key fields (each protocol reads some; all optional with the CRD's defaults). */
interface Credentials { name: string; usernameKey?: string; passwordKey?: string; tokenKey?: string; kubeconfigKey?: string; privateKeyKey?: string; knownHostsKey?: string }

/** The keys of credentialsSecretRef each protocol's sidecar reads (with the CRD's defaults). */
const CREDENTIAL_KEYS: Record<string, (c: Credentials) => string[]> = {
  postgres: (c) => [c.usernameKey ?? 'username', c.passwordKey ?? 'password'],
  http: (c) => (c.tokenKey === undefined ? [] : [c.tokenKey]),
  kubernetes: (c) => [c.kubeconfigKey ?? c.tokenKey ?? 'token'],
  ssh: (c) => [c.usernameKey ?? 'username', c.privateKeyKey ?? 'ssh-privatekey', c.knownHostsKey ?? 'known_hosts'],
};

/** The Secrets a policy's sidecar mounts, with the keys it reads from each. */
export function requiredSecretKeys(p: PolicyFact): Map<string, string[]> {
  const need = new Map<string, string[]>();
  const add = (secret: string, keys: string[]): void => { need.set(secret, [...(need.get(secret) ?? []), ...keys]); };
  const t = p.target;
  if (t?.credentialsSecretRef !== undefined) add(t.credentialsSecretRef.name, CREDENTIAL_KEYS[t.protocol]?.(t.credentialsSecretRef) ?? []);
  for (const ref of [t?.tls?.caSecretRef, p.masking?.hashKeySecretRef]) if (ref !== undefined) add(ref.name, [ref.key]);
  return need;
}

/** Why a policy is not Ready, or undefined when it is (at its current generation). */
function notReadyReason(p: PolicyFact): string | undefined {
  const ready = p.ready;
  if (ready === undefined) return 'no Ready condition: the operator has not reconciled it (is it running and watching this namespace?)';
  const seen = ready.observedGeneration ?? p.generation ?? 0;
  const current = p.generation ?? seen;
  if (seen < current) return `Ready reports generation ${seen}, the policy is at ${current}: the operator has not reconciled the last change`;
  return ready.status === 'True' ? undefined : `${ready.reason ?? 'NotReady'}: ${ready.message ?? ''}`;
}

function readyCheck(section: string, ns: string, p: PolicyFact): CheckResult {
  const title = `AccessPolicy ${p.name} Ready`;
  const detail = notReadyReason(p);
  if (detail === undefined) return { section, title, ok: true };
  return { section, title, ok: false, detail, fix: [`kubectl -n ${ns} describe accesspolicy ${p.name}`, `fix the spec (guarita policy validate --policy FILE shows every problem), then kubectl apply -n ${ns} -f FILE`] };
}

function secretCheck(section: string, ns: string, policy: string, secret: string, keys: string[], found: SecretKeysFact | undefined): CheckResult {
  const title = `Secret ${secret} of ${policy} present${keys.length === 0 ? '' : ` with ${keys.join(', ')}`}`;
  if (found?.error !== undefined) return { section, title, ok: false, detail: found.error, fix: [`kubectl auth can-i get secrets -n ${ns}`] };
  const has = found?.keys;
  if (has === undefined) return { section, title, ok: false, detail: 'not found: pods this policy selects are refused at admission', fix: [`kubectl -n ${ns} create secret generic ${secret} ${keys.map((k) => `--from-literal=${k}=...`).join(' ')}`.trim()] };
  const missing = keys.filter((k) => !has.includes(k));
  if (missing.length === 0) return { section, title, ok: true };
  return { section, title, ok: false, detail: `missing ${missing.join(', ')} (has ${has.join(', ') || 'no key'})`, fix: [`kubectl -n ${ns} patch secret ${secret} --type merge -p '{"stringData":{${missing.map((k) => `"${k}":"..."`).join(',')}}}'`] };
}

function policyChecks(f: ClusterFacts): CheckResult[] {
  const ns = f.namespace.value?.name ?? '?';
  const section = `Namespace ${ns}`;
  if (f.policies.error !== undefined) return [{ section, title: 'AccessPolicies can be listed', ok: false, detail: f.policies.error, fix: [`kubectl auth can-i list accesspolicies.${GROUP} -n ${ns}`] }];
  const policies = f.policies.value ?? [];
  if (policies.length === 0) return [{ section, title: 'at least one AccessPolicy', ok: false, detail: 'none: the webhook refuses agent pods no policy selects', fix: [`kubectl apply -n ${ns} -f your-policy.yaml (examples/lgpd-orders/ has one; check it first with guarita policy validate)`] }];
  const secrets = new Map<string, SecretKeysFact>(f.secrets.map((s) => [s.name, s]));
  return policies.flatMap((p) => [
    readyCheck(section, ns, p),
    ...[...requiredSecretKeys(p)].map(([secret, keys]) => secretCheck(section, ns, p.name, secret, keys, secrets.get(secret))),
  ]);
}

export function evaluate(f: ClusterFacts): CheckResult[] {
  return [...crdChecks(f), ...deploymentChecks(f), ...webhookCheck(f), ...f.leases.map((l) => leaseCheck(f, l)), ...f.certificates.map((c) => certificateCheck(f, c)), ...namespaceChecks(f), ...policyChecks(f)];
}
