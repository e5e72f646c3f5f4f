// The sidecar-only volumes class (issue 18, item 4), as a corpus: every way a container other than
// the injected proxy could read the proxy's spool, tokens or credentials, and every way to pass a
// look-alike as the proxy. Each case must be refused with a message naming the container or
// volume; the genuine injected pod (and its apiserver-defaulted form) must pass.
import { describe, expect, it } from '@jest/globals';
import { decideInjection } from './inject.ts';
import type { Container, Pod, Volume } from './kube-types.ts';
import { connectViolation, ephemeralViolations, missingProxyViolations, optInViolations, podViolations, selectionViolations, updateViolations, type GuardConfig, type InjectionContext } from './pod-guard.ts';
import { examplePod, examplePolicy, injectedExamplePod, OPTED_IN, proxyContainer, TEST_INJECTOR, TEST_SIDECAR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml'), examplePolicy('accesspolicy-http.yaml')];
const cfg: GuardConfig = { sidecar: TEST_SIDECAR, allowedCsiDrivers: ['secrets-store.csi.k8s.io'] };
const at: InjectionContext = { namespace: 'lgpd-orders', config: TEST_INJECTOR };

const injectedPod = (): Pod => injectedExamplePod(policies);
const proxy = proxyContainer;

function agent(pod: Pod): Container {
  return pod.spec.containers[0]!;
}

/** What the apiserver adds before validating webhooks run (defaults, canonical quantities). */
function defaulted(pod: Pod): Pod {
  const p = structuredClone(pod);
  const c = proxy(p);
  c.terminationMessagePath = '/dev/termination-log';
  (c.startupProbe as Record<string, unknown>).successThreshold = 1;
  c.resources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } };
  return p;
}

function violations(pod: Pod): string[] {
  return podViolations(pod, policies, cfg);
}

describe('pod guard: the genuine injected pod', () => {
  it('accepts the injector\'s output, as written and as the apiserver defaults it', () => {
    expect(violations(injectedPod())).toEqual([]);
    expect(violations(defaulted(injectedPod()))).toEqual([]);
  });

  it('accepts pods without a proxy that use no reserved name', () => {
    expect(violations(examplePod())).toEqual([]);
  });

  it('accepts an allowed inline CSI driver', () => {
    const pod = injectedPod();
    pod.spec.volumes!.push({ name: 'vault', csi: { driver: 'secrets-store.csi.k8s.io' } });
    expect(violations(pod)).toEqual([]);
  });
});

describe('pod guard: containers other than the proxy mounting sidecar-only volumes', () => {
  const cases: [string, (pod: Pod) => void, RegExp][] = [
    ['agent mounts guarita-spool', (p) => { agent(p).volumeMounts = [{ name: 'guarita-spool', mountPath: '/spool' }]; }, /^container agent mounts volume guarita-spool, the proxy's spool \(its chain signing key and unsent records\); only the injected guarita-proxy may mount it/],
    ['agent mounts guarita-tokens', (p) => { agent(p).volumeMounts = [{ name: 'guarita-tokens', mountPath: '/t', readOnly: true }]; }, /^container agent mounts volume guarita-tokens, the proxy's tokens \(the operator ingest token\)/],
    ['agent mounts a target volume', (p) => { agent(p).volumeMounts = [{ name: 'guarita-target-orders-db', mountPath: '/c' }]; }, /^container agent mounts volume guarita-target-orders-db, a target's credentials/],
    ['agent mounts the spool through subPath', (p) => { agent(p).volumeMounts = [{ name: 'guarita-spool', mountPath: '/k', subPath: 'keys' }]; }, /^container agent mounts volume guarita-spool \(subPath keys\)/],
    ['agent mounts the tokens through subPathExpr', (p) => { agent(p).volumeMounts = [{ name: 'guarita-tokens', mountPath: '/k', subPathExpr: '$(POD)' }]; }, /^container agent mounts volume guarita-tokens \(subPathExpr \$\(POD\)\)/],
    ['init container mounts the spool', (p) => { p.spec.initContainers!.push({ name: 'setup', image: 'busybox', volumeMounts: [{ name: 'guarita-spool', mountPath: '/s' }] }); }, /^init container setup mounts volume guarita-spool/],
    ['second regular container mounts the tokens', (p) => { p.spec.containers.push({ name: 'helper', image: 'busybox', volumeMounts: [{ name: 'guarita-tokens', mountPath: '/t' }] }); }, /^container helper mounts volume guarita-tokens/],
    ['agent uses the spool as a block device', (p) => { agent(p).volumeDevices = [{ name: 'guarita-spool', devicePath: '/dev/xvda' }]; }, /^container agent uses volume guarita-spool as a block device \(volumeDevices\)/],
    ['case-different names are other volumes, but the reserved prefix still applies', (p) => { agent(p).volumeMounts = [{ name: 'guarita-spool2', mountPath: '/s' }]; p.spec.volumes!.push({ name: 'guarita-spool2', emptyDir: {} }); }, /^volume guarita-spool2: names starting with guarita- are reserved/],
  ];
  it.each(cases)('refuses: %s', (_name, mutate, message) => {
    const pod = injectedPod();
    mutate(pod);
    const v = violations(pod);
    expect(v.some((m) => message.test(m))).toBe(true);
  });

  it('names the container, the volume and the fix', () => {
    const pod = injectedPod();
    agent(pod).volumeMounts = [{ name: 'guarita-spool', mountPath: '/spool' }, { name: 'guarita-tokens', mountPath: '/tokens' }];
    expect(violations(pod)).toEqual([
      'container agent mounts volume guarita-spool, the proxy\'s spool (its chain signing key and unsent records); only the injected guarita-proxy may mount it: remove the mount (agents reach targets through the proxy, see <TARGET>_URL)',
      'container agent mounts volume guarita-tokens, the proxy\'s tokens (the operator ingest token); only the injected guarita-proxy may mount it: remove the mount (agents reach targets through the proxy, see <TARGET>_URL)',
    ]);
  });
});

describe('pod guard: user volumes with reserved names or the sidecar\'s sources', () => {
  const userVolumes: [string, Volume][] = [
    ['a hostPath named like the spool, before injection', { name: 'guarita-spool', hostPath: { path: '/var/lib/kubelet/pods' } }],
    ['an emptyDir with a reserved prefix', { name: 'guarita-cache', emptyDir: {} }],
    ['a projected volume named like the tokens', { name: 'guarita-tokens', projected: { sources: [{ serviceAccountToken: { path: 'operator', audience: 'guarita-operator' } }] } }],
    ['a secret volume named like a target of no policy', { name: 'guarita-target-billing', secret: { secretName: 'billing' } }],
  ];
  it.each(userVolumes)('refuses on a pod without the proxy: %s', (_name, volume) => {
    const pod = examplePod();
    pod.spec.volumes = [volume];
    expect(violations(pod).join('\n')).toMatch(new RegExp(`volume ${volume.name}: names starting with guarita- are reserved`));
  });

  it('refuses a reserved volume that differs from the injector\'s, even for the genuine proxy', () => {
    const pod = injectedPod();
    const spool = pod.spec.volumes!.find((v) => v.name === 'guarita-spool')!;
    delete spool.emptyDir;
    spool.hostPath = { path: '/var/lib/guarita' };
    const v = violations(pod);
    expect(v.some((m) => m.startsWith('volume guarita-spool.emptyDir is nothing, the injector writes an object'))).toBe(true);
    expect(v.some((m) => m.startsWith('volume guarita-spool is a hostPath'))).toBe(true);
  });

  it('refuses a second volume with the operator-audience token the sidecar uses', () => {
    const pod = injectedPod();
    pod.spec.volumes!.push({ name: 'ingest', projected: { sources: [{ serviceAccountToken: { path: 't', audience: 'guarita-operator' } }] } });
    agent(pod).volumeMounts = [{ name: 'ingest', mountPath: '/ingest' }];
    expect(violations(pod)).toEqual([expect.stringMatching(/^container agent reads a service-account token for audience guarita-operator \(volume ingest\), the sidecar's credential for the operator's ingest API/)]);
  });

  it('refuses a second volume projecting the target\'s credentials Secret', () => {
    const pod = injectedPod();
    pod.spec.volumes!.push({ name: 'creds', projected: { sources: [{ secret: { name: 'orders-db-credentials' } }] } });
    agent(pod).volumeMounts = [{ name: 'creds', mountPath: '/creds' }];
    expect(violations(pod)[0]).toMatch(/^container agent reads Secret orders-db-credentials \(volume creds\), the credentials of target orders-db/);
  });

  it('refuses env, envFrom and secret volumes of governed Secrets', () => {
    const pod = examplePod();
    pod.spec.volumes = [{ name: 'creds', secret: { secretName: 'orders-db-credentials' } }];
    agent(pod).volumeMounts = [{ name: 'creds', mountPath: '/creds' }];
    agent(pod).envFrom = [{ secretRef: { name: 'orders-db-credentials' } }];
    agent(pod).env = [{ name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'orders-db-credentials', key: 'password' } } }];
    const v = violations(pod);
    expect(v).toHaveLength(3);
    expect(v[0]).toBe('container agent reads Secret orders-db-credentials (volume creds), the credentials of target orders-db (AccessPolicy orders-db); only the injected guarita-proxy container may read it: remove the mount or reference (agents reach the target through the proxy, see <TARGET>_URL)');
    expect(v[1]).toContain('(envFrom)');
    expect(v[2]).toContain('(env PGPASSWORD)');
  });

  it('refuses hostPath volumes (the kubelet directory holds every spool) and inline CSI drivers not allowed', () => {
    for (const path of ['/', '/var', '/var/lib/kubelet', '/var/lib/kubelet/pods/x/volumes/kubernetes.io~empty-dir/guarita-spool', '/var/lib/../lib/kubelet', '/mnt/data']) {
      const pod = examplePod();
      pod.spec.volumes = [{ name: 'node', hostPath: { path } }];
      expect(violations(pod)).toEqual([expect.stringMatching(/^volume node is a hostPath: it can reach the kubelet's directory/)]);
    }
    const csi = examplePod();
    csi.spec.volumes = [{ name: 'node', csi: { driver: 'hostpath.csi.k8s.io', volumeAttributes: { path: '/var/lib/kubelet' } } }];
    expect(violations(csi)).toEqual([expect.stringMatching(/^volume node uses CSI driver hostpath.csi.k8s.io inline, which is not in GUARITA_WEBHOOK_ALLOWED_CSI_DRIVERS/)]);
  });

  it('refuses privileged agents and capabilities that reach other containers\' files', () => {
    const pod = injectedPod();
    agent(pod).securityContext = { privileged: true, capabilities: { add: ['CAP_SYS_ADMIN', 'NET_BIND_SERVICE', 'sys_ptrace'] }, windowsOptions: { hostProcess: true } };
    expect(violations(pod)).toEqual([
      expect.stringMatching(/^container agent is privileged/),
      expect.stringMatching(/^container agent is a Windows host process/),
      expect.stringMatching(/^container agent adds capabilities CAP_SYS_ADMIN, sys_ptrace/),
      // The replaced securityContext lost the NET_RAW drop and the non-root settings the injector wrote.
      expect.stringMatching(/^container agent keeps the NET_RAW capability/),
      expect.stringMatching(/^container agent can run as root \(neither runAsNonRoot: true nor a non-zero runAsUser/),
      // allowPrivilegeEscalation unset: the injector leaves it unset next to privileged (the apiserver refuses false there).
      expect.stringMatching(/^container agent may regain root \(securityContext.allowPrivilegeEscalation is unset/),
    ]);
  });

  it('refuses a shared process namespace or host PID in a governed pod', () => {
    const pod = injectedPod();
    pod.spec.shareProcessNamespace = true;
    pod.spec.hostPID = true;
    pod.spec.hostNetwork = true;
    expect(violations(pod)).toEqual([expect.stringMatching(/^spec.hostPID: true/), expect.stringMatching(/^spec.hostNetwork: true/), expect.stringMatching(/^spec.shareProcessNamespace: true/)]);
  });
});

// Adversarial review of item 4: what reaches OTHER pods' proxies on the node, or this pod's proxy
// through the network namespace every container shares, from a pod the injector skipped or from a
// debug container. Each must be refused whether or not the pod has a proxy.
describe('pod guard: the node and the pod network, with or without a proxy', () => {
  const optedOut = (): Pod => {
    const pod = examplePod();
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    return pod;
  };
  const corpus: [string, () => Pod, (pod: Pod) => void, RegExp][] = [
    ['hostPID without a proxy', optedOut, (p) => { p.spec.hostPID = true; }, /^spec.hostPID: true lets the pod's containers read the files of every process on the node.*remove it, or run the pod in a namespace without/],
    ['hostNetwork without a proxy', optedOut, (p) => { p.spec.hostNetwork = true; }, /^spec.hostNetwork: true puts the pod on the node's network/],
    ['hostIPC without a proxy', optedOut, (p) => { p.spec.hostIPC = true; }, /^spec.hostIPC: true/],
    ['hostIPC in a governed pod', injectedPod, (p) => { p.spec.hostIPC = true; }, /^spec.hostIPC: true/],
    ['a pod-level Windows host process', optedOut, (p) => { p.spec.securityContext = { windowsOptions: { hostProcess: true } }; }, /^spec.securityContext.windowsOptions.hostProcess: true makes every container/],
    ['a pod-level Windows host process with os windows, in a governed pod', injectedPod, (p) => { p.spec.os = { name: 'windows' }; p.spec.securityContext = { windowsOptions: { hostProcess: true } }; }, /^spec.securityContext.windowsOptions.hostProcess: true/],
    ['NET_ADMIN on an agent', injectedPod, (p) => { agent(p).securityContext = { capabilities: { add: ['NET_ADMIN'] } }; }, /^container agent adds capabilities NET_ADMIN: the pod's network is guarita-proxy's too/],
    ['CAP_NET_RAW in lower case on an init container', injectedPod, (p) => { p.spec.initContainers!.push({ name: 'sniff', image: 'busybox', securityContext: { capabilities: { add: ['cap_net_raw'] } } }); }, /^init container sniff adds capabilities cap_net_raw: the pod's network/],
    ['BPF and PERFMON', optedOut, (p) => { agent(p).securityContext = { capabilities: { add: ['BPF', 'PERFMON'] } }; }, /^container agent adds capabilities BPF, PERFMON: they reach other containers' files/],
    ['a gitRepo volume', optedOut, (p) => { p.spec.volumes = [{ name: 'src', gitRepo: { repository: 'https://example.com/x.git', directory: '.' } }]; }, /^volume src is a gitRepo volume: the kubelet runs git on the node/],
    ['a flexVolume', optedOut, (p) => { p.spec.volumes = [{ name: 'flex', flexVolume: { driver: 'example/lvm' } }]; }, /^volume flex is a flexVolume/],
  ];
  it.each(corpus)('refuses %s', (_name, make, mutate, message) => {
    const pod = make();
    mutate(pod);
    expect(violations(pod)).toContainEqual(expect.stringMatching(message));
  });

  it('refuses kubectl debug --profile=netadmin and --profile=sysadmin containers on a running pod', () => {
    const old = injectedPod();
    const pod = structuredClone(old);
    pod.spec.ephemeralContainers = [
      { name: 'netadmin', image: 'busybox', targetContainerName: 'agent', securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } } },
      { name: 'sysadmin', image: 'busybox', targetContainerName: 'agent', securityContext: { privileged: true } },
    ];
    const v = ephemeralViolations(pod, old, policies, cfg);
    expect(v).toContainEqual(expect.stringMatching(/^ephemeral container netadmin adds capabilities NET_ADMIN, NET_RAW: the pod's network is guarita-proxy's too/));
    expect(v).toContainEqual(expect.stringMatching(/^ephemeral container sysadmin is privileged/));
  });

  it('judges the running pods of a namespace being opted in, naming each refused pod', () => {
    const steal = examplePod();
    steal.metadata.name = 'steal';
    steal.spec.volumes = [{ name: 'ingest', projected: { sources: [{ serviceAccountToken: { path: 't', audience: TEST_SIDECAR.operatorAudience } }] } }];
    agent(steal).volumeMounts = [{ name: 'ingest', mountPath: '/i' }];
    const done = structuredClone(steal);
    done.metadata.name = 'done';
    done.status = { phase: 'Succeeded' };
    const fine = examplePod();
    fine.metadata.name = 'fine';
    expect(optInViolations([steal, done, fine, injectedPod()], policies, cfg)).toEqual([expect.stringMatching(/^pod steal: container agent reads a service-account token for audience/)]);
    const many = Array.from({ length: 8 }, (_, i) => ({ ...structuredClone(steal), metadata: { name: `s${i}` } }));
    const v = optInViolations(many, policies, cfg);
    expect(v).toHaveLength(6);
    expect(v[5]).toBe('and 3 more pods');
  });

  it('refuses label changes that move a governed pod out of (or into) a policy, and lets others through', () => {
    const old = injectedPod();
    const moved = structuredClone(old);
    moved.metadata.labels = { app: 'billing-agent' };
    expect(selectionViolations(moved, old, policies, at)).toEqual([expect.stringMatching(/^the new labels change which AccessPolicies select this pod \(customers-api, orders-db before, none after\), but guarita-proxy keeps serving what it was injected with; delete the pod/)]);
    const relabelled = structuredClone(old);
    relabelled.metadata.labels = { ...old.metadata.labels, reviewed: 'yes' };
    expect(selectionViolations(relabelled, old, policies, at)).toEqual([]);
    // Without a proxy there is nothing the labels could keep serving: a pod the policies select
    // (created before them) may leave them; the opposite direction is the next test's.
    const plain = examplePod();
    expect(selectionViolations({ ...plain, metadata: { ...plain.metadata, labels: {} } }, plain, policies, at)).toEqual([]);
  });

  describe('a pod admitted without the proxy may not become one the injector governs (round 8, finding 3)', () => {
    const withLabels = (labels: Record<string, string>, annotations?: Record<string, string>): Pod => {
      const p = examplePod();
      p.metadata.labels = labels;
      if (annotations !== undefined) p.metadata.annotations = annotations;
      return p;
    };
    const refused: [string, Pod, Pod, RegExp][] = [
      ['opt-out label removed', withLabels({ app: 'support-agent', 'guarita.io/inject': 'false' }), withLabels({ app: 'support-agent' }), /it would get guarita-proxy for AccessPolicies customers-api, orders-db.*opted out with the label guarita.io\/inject=false/],
      ['opt-out label set to "true"', withLabels({ app: 'support-agent', 'guarita.io/inject': 'false' }), withLabels({ app: 'support-agent', 'guarita.io/inject': 'true' }), /would get guarita-proxy/],
      ['opt-out label set to another value', withLabels({ app: 'support-agent', 'guarita.io/inject': 'false' }), withLabels({ app: 'support-agent', 'guarita.io/inject': 'no' }), /would get guarita-proxy/],
      ['opt-out annotation removed', withLabels({ app: 'support-agent' }, { 'guarita.io/inject': 'false' }), withLabels({ app: 'support-agent' }, {}), /would get guarita-proxy.*opted out with guarita.io\/inject: "false"/],
      ['opt-out annotation flipped to "true"', withLabels({ app: 'support-agent' }, { 'guarita.io/inject': 'false' }), withLabels({ app: 'support-agent' }, { 'guarita.io/inject': 'true' }), /would get guarita-proxy/],
      ['label-opted-out pod whose annotation insisted, label removed', withLabels({ app: 'support-agent', 'guarita.io/inject': 'false' }, { 'guarita.io/inject': 'true' }), withLabels({ app: 'support-agent' }, { 'guarita.io/inject': 'true' }), /would get guarita-proxy/],
      ['unselected pod relabelled into a policy', withLabels({ app: 'billing-agent' }), withLabels({ app: 'support-agent' }), /would get guarita-proxy for AccessPolicies customers-api, orders-db.*no AccessPolicy in lgpd-orders selects this pod/],
      ['unselected pod gains a policy\'s label beside its own', withLabels({ tier: 'x' }), withLabels({ tier: 'x', app: 'support-agent' }), /would get guarita-proxy/],
      ['unselected pod relabelled and insisting', withLabels({ app: 'billing-agent' }), withLabels({ app: 'support-agent' }, { 'guarita.io/inject': 'true' }), /would get guarita-proxy/],
      ['unselected pod insisting without a selecting policy (the injector would refuse it)', withLabels({ app: 'billing-agent' }), withLabels({ app: 'billing-agent' }, { 'guarita.io/inject': 'true' }), /created with them it would be refused \(guarita cannot inject this pod: it carries guarita.io\/inject: "true" but no AccessPolicy/],
    ];
    it.each(refused)('refuses: %s', (_name, before, after, message) => {
      const v = selectionViolations(after, before, policies, at);
      expect(v).toHaveLength(1);
      expect(v[0]).toMatch(/^the new labels or annotations make this pod one the injector governs \(/);
      expect(v[0]).toMatch(message);
      expect(v[0]).toMatch(/an update cannot add it; delete the pod and create it with the new labels$/);
    });

    const allowed: [string, Pod, Pod][] = [
      ['opted out by label, stays opted out (other labels change)', withLabels({ app: 'support-agent', 'guarita.io/inject': 'false' }), withLabels({ app: 'support-agent', 'guarita.io/inject': 'false', team: 'b' })],
      ['opted out by label, the annotation changes (the label still keeps the injector away)', withLabels({ app: 'support-agent', 'guarita.io/inject': 'false' }), withLabels({ app: 'support-agent', 'guarita.io/inject': 'false' }, { 'guarita.io/inject': 'true' })],
      ['opted out by annotation, labels change', withLabels({ app: 'support-agent' }, { 'guarita.io/inject': 'false' }), withLabels({ app: 'support-agent', team: 'b' }, { 'guarita.io/inject': 'false' })],
      ['opt-out annotation added to a skipped pod', withLabels({ app: 'billing-agent' }), withLabels({ app: 'support-agent' }, { 'guarita.io/inject': 'false' })],
      ['unselected pod, unrelated labels', withLabels({ app: 'billing-agent' }), withLabels({ app: 'billing-agent', team: 'b' })],
      ['unselected pod, a label removed', withLabels({ app: 'billing-agent', team: 'a' }), withLabels({ app: 'billing-agent' })],
      ['a pod the current policies select already (a policy created after it), any change', withLabels({ app: 'support-agent' }), withLabels({ app: 'support-agent', team: 'b' })],
      ['a pod the current policies select already, opting out', withLabels({ app: 'support-agent' }), withLabels({ app: 'support-agent', 'guarita.io/inject': 'false' })],
    ];
    it.each(allowed)('allows: %s', (_name, before, after) => {
      expect(selectionViolations(after, before, policies, at)).toEqual([]);
    });

    it('judges with the namespace the injector would (an excluded namespace never governs)', () => {
      const before = withLabels({ app: 'billing-agent' });
      const after = withLabels({ app: 'support-agent' });
      expect(selectionViolations(after, before, policies, { ...at, namespace: 'kube-system' })).toEqual([]);
    });

    it('agrees with the injector\'s decision on every case above (the two cannot disagree)', () => {
      for (const [, before, after] of [...refused.map(([n, b, a]) => [n, b, a] as const), ...allowed]) {
        const decide = (p: Pod) => decideInjection({ pod: p, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR }).action;
        const objectSelector = (p: Pod) => p.metadata.labels?.['guarita.io/inject'] === 'false';
        const skipped = (p: Pod) => objectSelector(p) || decide(p) === 'skip';
        expect(selectionViolations(after, before, policies, at).length > 0).toBe(skipped(before) && !skipped(after));
      }
    });
  });

  it('drops the runtime\'s default NET_RAW from every container but the proxy at injection, and refuses a governed pod or debug container keeping it', () => {
    const pod = examplePod();
    pod.spec.initContainers = [{ name: 'setup', image: 'busybox' }];
    pod.spec.containers.push({ name: 'helper', image: 'busybox', securityContext: { runAsUser: 1000, capabilities: { drop: ['cap_net_raw'] } } });
    const d = decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
    if (d.action !== 'inject') throw new Error(d.action);
    const caps = (c: Container): unknown => (c.securityContext as { capabilities?: unknown } | undefined)?.capabilities;
    expect(d.pod.spec.initContainers!.map((c) => [c.name, caps(c)])).toEqual([['guarita-proxy', caps(proxy(d.pod))], ['setup', { drop: ['NET_RAW'] }]]);
    expect(caps(proxy(d.pod))).toEqual({ drop: ['ALL'] });
    expect(d.pod.spec.containers.map((c) => caps(c))).toEqual([{ drop: ['NET_RAW'] }, { drop: ['cap_net_raw'] }]);
    // The agent's own securityContext is kept around the added drop.
    expect(agent(d.pod).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 70, allowPrivilegeEscalation: false });
    expect(violations(d.pod)).toEqual([]);
    // Injecting its own output again changes nothing.
    const again = decideInjection({ pod: d.pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
    expect(again).toMatchObject({ action: 'skip', reason: 'already-injected' });

    const kept = structuredClone(d.pod);
    kept.spec.containers[1]!.securityContext = { runAsUser: 1000, allowPrivilegeEscalation: false };
    expect(violations(kept)).toEqual([expect.stringMatching(/^container helper keeps the NET_RAW capability container runtimes grant by default.*add NET_RAW \(or ALL\) to securityContext.capabilities.drop/)]);
    // Without a proxy there is no proxy traffic to capture.
    expect(violations(examplePod())).toEqual([]);

    const debug = structuredClone(d.pod);
    debug.spec.ephemeralContainers = [{ name: 'legacy', image: 'busybox', targetContainerName: 'agent', securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false } }];
    expect(ephemeralViolations(debug, d.pod, policies, cfg)).toEqual([expect.stringMatching(/^ephemeral container legacy keeps the NET_RAW capability.*kubectl debug --profile=restricted does/)]);
  });

  it('refuses hostAliases and chosen nameservers in a pod with the proxy (its name resolution is the proxy\'s)', () => {
    const aliased = injectedPod();
    aliased.spec.hostAliases = [{ ip: '10.9.9.9', hostnames: ['orders-db.lgpd-orders.svc', 'guarita-operator.guarita-system.svc'] }];
    expect(violations(aliased)).toEqual([expect.stringMatching(/^spec.hostAliases \(orders-db.lgpd-orders.svc, guarita-operator.guarita-system.svc\) writes the pod's \/etc\/hosts, which is guarita-proxy's too/)]);
    const none = injectedPod();
    none.spec.dnsPolicy = 'None';
    none.spec.dnsConfig = { nameservers: ['10.9.9.9'] };
    expect(violations(none)).toEqual([expect.stringMatching(/^spec.dnsPolicy None or spec.dnsConfig.nameservers/)]);
    const extra = injectedPod();
    extra.spec.dnsConfig = { nameservers: ['10.9.9.9'] };
    expect(violations(extra)).toHaveLength(1);
    // Round 9: search domains choose which name is asked first, so they are refused too (name-resolution.test.ts has the class).
    const searched = injectedPod();
    searched.spec.dnsConfig = { searches: ['corp.example'], options: [{ name: 'ndots', value: '2' }] };
    expect(violations(searched)).toEqual([expect.stringMatching(/^spec.dnsConfig.searches \(corp.example\)/), expect.stringMatching(/^spec.dnsConfig.options\[0\] ndots with spec.dnsConfig.searches/)]);
    const fine = injectedPod();
    fine.spec.dnsConfig = { options: [{ name: 'ndots', value: '2' }, { name: 'timeout', value: '3' }, { name: 'edns0' }] };
    expect(violations(fine)).toEqual([]);
    // Without the proxy, a pod's name resolution is its own business.
    const plain = examplePod();
    plain.spec.hostAliases = [{ ip: '10.9.9.9', hostnames: ['orders-db.lgpd-orders.svc'] }];
    expect(violations(plain)).toEqual([]);
  });

  it('refuses to inject a Windows pod (the proxy is a Linux container) with the fix', () => {
    const pod = examplePod();
    pod.spec.os = { name: 'windows' };
    expect(decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR })).toMatchObject({ action: 'reject', message: expect.stringContaining('Windows pods cannot be governed: guarita-proxy is a Linux container') });
  });

  it('still accepts harmless capabilities and settings', () => {
    const pod = injectedPod();
    agent(pod).securityContext = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { add: ['NET_BIND_SERVICE', 'KILL'], drop: ['ALL'] } };
    pod.spec.hostUsers = false;
    expect(violations(pod)).toEqual([]);
  });
});

describe('pod guard: look-alike proxies and forged injection', () => {
  const forgeries: [string, (pod: Pod) => void, string][] = [
    ['another image', (p) => { proxy(p).image = 'evil/proxy:1'; }, 'guarita-proxy.image is "evil/proxy:1", the injector writes "ghcr.io/guarita/guarita:test"'],
    ['another command', (p) => { proxy(p).command = ['sh', '-c', 'cat /var/run/guarita/tokens/operator']; }, 'guarita-proxy.command'],
    ['args', (p) => { proxy(p).args = ['--inspect']; }, 'guarita-proxy.args is set'],
    ['an extra variable', (p) => { proxy(p).env!.push({ name: 'NODE_OPTIONS', value: '--import /evil.js' }); }, 'guarita-proxy.env is'],
    ['the operator URL pointed elsewhere', (p) => { proxy(p).env!.find((e) => e.name === 'GUARITA_OPERATOR_URL')!.value = 'https://evil.example'; }, 'GUARITA_OPERATOR_URL'],
    ['an extra mount', (p) => { proxy(p).volumeMounts!.push({ name: 'shared', mountPath: '/shared' }); }, 'guarita-proxy.volumeMounts'],
    ['the spool mounted elsewhere', (p) => { proxy(p).volumeMounts![0]!.mountPath = '/tmp'; }, 'guarita-proxy.volumeMounts[guarita-spool].mountPath'],
    ['another uid (the agent\'s)', (p) => { (proxy(p).securityContext as Record<string, unknown>).runAsUser = 1000; }, 'guarita-proxy.securityContext.runAsUser is 1000'],
    ['a writable root filesystem', (p) => { (proxy(p).securityContext as Record<string, unknown>).readOnlyRootFilesystem = false; }, 'readOnlyRootFilesystem'],
    ['GUARITA_TARGETS naming a policy that does not exist', (p) => { proxy(p).env!.find((e) => e.name === 'GUARITA_TARGETS')!.value = '[{"policy":"ghost","target":"x","protocol":"http","listenPort":1}]'; }, 'names AccessPolicy ghost, which does not exist'],
    ['GUARITA_TARGETS naming only some of the selecting policies', (p) => { proxy(p).env!.find((e) => e.name === 'GUARITA_TARGETS')!.value = '[{"policy":"orders-db","target":"orders-db","protocol":"postgres","listenPort":15432}]'; }, 'names orders-db, but the AccessPolicies selecting this pod are customers-api, orders-db'],
    ['a pod its policies do not select', (p) => { p.metadata.labels = { app: 'billing' }; }, 'but the AccessPolicies selecting this pod are none'],
    ['GUARITA_TARGETS not JSON', (p) => { proxy(p).env!.find((e) => e.name === 'GUARITA_TARGETS')!.value = '{'; }, 'GUARITA_TARGETS is not JSON'],
    ['GUARITA_TARGETS with another port', (p) => { proxy(p).env!.find((e) => e.name === 'GUARITA_TARGETS')!.value = '[{"policy":"customers-api","target":"customers-api","protocol":"http","listenPort":18080},{"policy":"orders-db","target":"orders-db","protocol":"postgres","listenPort":1}]'; }, 'differs from the AccessPolicies it names'],
    ['moved to the regular containers', (p) => { const c = proxy(p); p.spec.initContainers = p.spec.initContainers!.filter((x) => x !== c); p.spec.containers.push(c); }, 'listed as a container, the injector writes it as an init container'],
  ];
  it.each(forgeries)('refuses a proxy with %s', (_name, mutate, fragment) => {
    const pod = injectedPod();
    mutate(pod);
    const v = violations(pod);
    expect(v[0]).toMatch(/^(init container|container) guarita-proxy is not the proxy the injector writes: /);
    expect(v[0]).toContain(fragment);
    expect(v[0]).toContain('remove both and the injector adds the genuine proxy');
  });

  it('refuses a pod created "injected" with a forged annotation and its own proxy reading the volumes', () => {
    const pod = examplePod();
    pod.metadata.annotations = { 'guarita.io/status': 'injected', 'guarita.io/policies': 'orders-db' };
    pod.spec.initContainers = [{ name: 'guarita-proxy', image: 'busybox', restartPolicy: 'Always', volumeMounts: [{ name: 'guarita-tokens', mountPath: '/t' }] }];
    pod.spec.volumes = [{ name: 'guarita-tokens', projected: { sources: [{ serviceAccountToken: { path: 'operator', audience: 'guarita-operator' } }] } }];
    const v = violations(pod);
    expect(v[0]).toMatch(/^init container guarita-proxy is not the proxy the injector writes: its GUARITA_TARGETS lists no target/);
    expect(v).toContainEqual(expect.stringMatching(/^volume guarita-tokens: names starting with guarita- are reserved/));
    expect(v).toContainEqual(expect.stringMatching(/^init container guarita-proxy mounts volume guarita-tokens/));
  });

  it('refuses an ephemeral container named like the proxy', () => {
    const pod = injectedPod();
    pod.spec.ephemeralContainers = [{ name: 'guarita-proxy', image: TEST_SIDECAR.image }];
    expect(violations(pod)).toContainEqual(expect.stringMatching(/^ephemeral container guarita-proxy: the name guarita-proxy is reserved/));
  });
});

describe('pod guard: updates and debug containers', () => {
  it('freezes the proxy on UPDATE (kubectl set image) and lets agents change', () => {
    const old = injectedPod();
    const next = structuredClone(old);
    agent(next).image = 'agent:2';
    next.metadata.labels = { ...next.metadata.labels, x: 'y' };
    expect(updateViolations(next, old)).toEqual([]);
    proxy(next).image = 'evil/proxy:1';
    expect(updateViolations(next, old)).toEqual(['container guarita-proxy cannot change after admission (guarita-proxy.image is "evil/proxy:1", the injector writes "ghcr.io/guarita/guarita:test"); delete the pod and create it again to get a new proxy']);
  });

  it('freezes the proxy\'s resources (pods/resize, round 8 finding 2) and lets agents resize', () => {
    const old = injectedPod();
    const agentResized = structuredClone(old);
    agent(agentResized).resources = { requests: { cpu: '2', memory: '1Gi' }, limits: { memory: '1Gi' } };
    expect(updateViolations(agentResized, old)).toEqual([]);
    const resizes: [string, (c: Container) => void][] = [
      ['a lower memory limit', (c) => { c.resources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '8Mi' } }; }],
      ['a starved CPU request', (c) => { c.resources = { requests: { cpu: '1m', memory: '64Mi' }, limits: { memory: '256Mi' } }; }],
      ['an added CPU limit', (c) => { c.resources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', cpu: '1m' } }; }],
      ['requests removed', (c) => { c.resources = { limits: { memory: '256Mi' } }; }],
      // Round 8b: entries admission leaves to mutators are still frozen after admission.
      ['an ephemeral-storage request added', (c) => { c.resources = { requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '1Gi' }, limits: { memory: '256Mi' } }; }],
      ['an ephemeral-storage limit added', (c) => { c.resources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi', 'ephemeral-storage': '1Gi' } }; }],
      ['the same value respelled', (c) => { c.resources = { requests: { cpu: '0.05', memory: '64Mi' }, limits: { memory: '256Mi' } }; }],
    ];
    for (const [, resize] of resizes) {
      const next = structuredClone(old);
      resize(proxy(next));
      expect(updateViolations(next, old)).toEqual([expect.stringMatching(/^container guarita-proxy cannot change after admission \(guarita-proxy\.resources\.(requests|limits)(\.[a-z-]+)? is .*, it was .*\); delete the pod and create it again/)]);
    }
  });

  it('refuses debug containers that target the proxy, mount its volumes, read its secrets or run privileged', () => {
    const old = injectedPod();
    const pod = structuredClone(old);
    pod.spec.ephemeralContainers = [
      { name: 'debugger', image: 'busybox', targetContainerName: 'guarita-proxy' },
      { name: 'snoop', image: 'busybox', volumeMounts: [{ name: 'guarita-target-orders-db', mountPath: '/x' }] },
      { name: 'spool', image: 'busybox', volumeMounts: [{ name: 'guarita-spool', mountPath: '/x', subPath: 'keys' }] },
      { name: 'root', image: 'busybox', securityContext: { privileged: true } },
      { name: 'guarita-proxy', image: TEST_SIDECAR.image },
      { name: 'fine', image: 'busybox', targetContainerName: 'agent', securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } },
    ];
    const v = ephemeralViolations(pod, old, policies, cfg);
    expect(v).toContain('ephemeral container debugger targets guarita-proxy, whose files hold target credentials; target an agent container instead');
    expect(v).toContainEqual(expect.stringMatching(/^ephemeral container snoop mounts volume guarita-target-orders-db/));
    expect(v).toContainEqual(expect.stringMatching(/^ephemeral container spool mounts volume guarita-spool \(subPath keys\)/));
    expect(v).toContainEqual(expect.stringMatching(/^ephemeral container root is privileged/));
    expect(v).toContainEqual(expect.stringMatching(/^ephemeral container guarita-proxy: the name guarita-proxy is reserved/));
    expect(v.some((m) => m.includes('fine'))).toBe(false);
  });

  it('rejects exec and attach into the proxy only', () => {
    expect(connectViolation('exec', { container: 'guarita-proxy' })).toContain('exec into guarita-proxy is not allowed');
    expect(connectViolation('exec', { container: 'agent' })).toBeUndefined();
  });
});

describe('pod guard: a pod the injector governs that reaches validation without the proxy (round 9, C)', () => {
  const stripped = (): Pod => {
    const pod = injectedPod();
    pod.spec.initContainers = (pod.spec.initContainers ?? []).filter((c) => c.name !== 'guarita-proxy');
    pod.spec.containers = pod.spec.containers.filter((c) => c.name !== 'guarita-proxy');
    pod.spec.volumes = (pod.spec.volumes ?? []).filter((v) => !v.name.startsWith('guarita-'));
    return pod;
  };

  it('refuses the injector\'s output with the proxy removed, naming the policies and the fix', () => {
    expect(violations(stripped())).toEqual([]);
    expect(missingProxyViolations(stripped(), policies, at)).toEqual([
      expect.stringMatching(/^the pod carries guarita.io\/status: injected but has no guarita-proxy/),
      expect.stringMatching(/^the injector governs this pod \(AccessPolicies customers-api, orders-db select it\) but it reached validation without guarita-proxy: another mutating webhook removed the proxy.*exclude these pods from that webhook/),
    ]);
  });

  it('refuses every spelling: a selected pod, an insisting pod, one the injector would refuse, the status annotation alone', () => {
    expect(missingProxyViolations(examplePod(), policies, at)).toEqual([expect.stringMatching(/^the injector governs this pod \(AccessPolicies customers-api, orders-db select it\)/)]);
    const insisting = examplePod();
    insisting.metadata.labels = { app: 'nobody' };
    insisting.metadata.annotations = { 'guarita.io/inject': 'true' };
    expect(missingProxyViolations(insisting, policies, at)).toEqual([expect.stringMatching(/^this pod reached validation without guarita-proxy, and the injector refuses it as it is: guarita cannot inject this pod: it carries guarita.io\/inject: "true" but no AccessPolicy/)]);
    const clash = examplePod();
    agent(clash).ports = [{ containerPort: 15432 }];
    expect(missingProxyViolations(clash, policies, at)).toEqual([expect.stringMatching(/injector refuses it as it is: .*declares port 15432/)]);
    const statusOnly = examplePod();
    statusOnly.metadata.labels = { app: 'nobody' };
    statusOnly.metadata.annotations = { 'guarita.io/status': 'injected', 'guarita.io/policies': 'orders-db' };
    expect(missingProxyViolations(statusOnly, policies, at)).toEqual([expect.stringMatching(/^the pod carries guarita.io\/status: injected but has no guarita-proxy/)]);
    // An opted-out pod forging the annotation is refused too: the operator keys evidence on it.
    const optedOut = stripped();
    optedOut.metadata.labels = { ...optedOut.metadata.labels, 'guarita.io/inject': 'false' };
    expect(missingProxyViolations(optedOut, policies, at)).toEqual([expect.stringMatching(/^the pod carries guarita.io\/status: injected/)]);
  });

  it('admits pods the injector skips, and leaves pods with a proxy to podViolations', () => {
    const byLabel = examplePod();
    byLabel.metadata.labels = { ...byLabel.metadata.labels, 'guarita.io/inject': 'false' };
    const byAnnotation = examplePod();
    byAnnotation.metadata.annotations = { 'guarita.io/inject': 'false' };
    const unselected = examplePod();
    unselected.metadata.labels = { app: 'nobody' };
    for (const pod of [byLabel, byAnnotation, unselected]) expect(missingProxyViolations(pod, policies, at)).toEqual([]);
    expect(missingProxyViolations(examplePod(), policies, { ...at, config: { ...TEST_INJECTOR, excludedNamespaces: ['lgpd-orders'] } })).toEqual([]);
    expect(missingProxyViolations(examplePod(), [], at)).toEqual([]);
    expect(missingProxyViolations(injectedPod(), policies, at)).toEqual([]);
    const forged = injectedPod();
    proxy(forged).image = 'evil/proxy:1';
    expect(missingProxyViolations(forged, policies, at)).toEqual([]);
    expect(violations(forged)).not.toEqual([]);
  });
});
