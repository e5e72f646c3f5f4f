// Round 10, A: root next to the proxy rewrites the /etc/hosts (and resolv.conf) it resolves with.
// Every spelling of "this container can be or become uid 0" (container or pod level, explicit
// root, unset, false, escalation, capabilities, init / regular / ephemeral, a mutator undoing the
// injector) must be refused in a pod with the proxy; the injector's defaults must make the plain
// pod pass; pods without the proxy are not judged.
import { describe, expect, it } from '@jest/globals';
import { decideInjection } from './inject.ts';
import type { Container, Pod } from './kube-types.ts';
import { ephemeralViolations, podViolations, type GuardConfig } from './pod-guard.ts';
import { rootViolations, withoutRoot } from './run-as-non-root.ts';
import { examplePod, examplePolicy, OPTED_IN, TEST_INJECTOR, TEST_SIDECAR } from '../test/fixtures.ts';

const policies = [examplePolicy('accesspolicy.yaml'), examplePolicy('accesspolicy-http.yaml')];
const cfg: GuardConfig = { sidecar: TEST_SIDECAR, allowedCsiDrivers: [] };

/** The example pod with the agent's and the pod's security contexts replaced, then injected. */
function injected(agentSc: Record<string, unknown> | undefined, podSc?: Record<string, unknown>, more?: (p: Pod) => void): Pod {
  const pod = examplePod();
  const agent = pod.spec.containers[0]!;
  if (agentSc === undefined) delete agent.securityContext;
  else agent.securityContext = agentSc;
  if (podSc !== undefined) pod.spec.securityContext = podSc;
  more?.(pod);
  const d = decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
  if (d.action !== 'inject') throw new Error(`${d.action}: ${'message' in d ? d.message : ''}`);
  return d.pod;
}

const agentOf = (pod: Pod): Container => pod.spec.containers.find((c) => c.name === 'agent')!;
const sc = (c: Container): Record<string, unknown> => (c.securityContext ?? {}) as Record<string, unknown>;
const violations = (pod: Pod): string[] => podViolations(pod, policies, cfg);

describe('run as non-root: the injector\'s defaults', () => {
  it('sets runAsNonRoot: true and allowPrivilegeEscalation: false on a container that sets neither (the image\'s user, root for most)', () => {
    const pod = injected(undefined, undefined, (p) => { p.spec.initContainers = [{ name: 'setup', image: 'busybox' }]; });
    expect(sc(agentOf(pod))).toEqual({ capabilities: { drop: ['NET_RAW'] }, runAsNonRoot: true, allowPrivilegeEscalation: false });
    expect(sc(pod.spec.initContainers!.find((c) => c.name === 'setup')!)).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false });
    // The kubelet then refuses to start a root image: visible, fail closed. The guard has nothing left to refuse.
    expect(violations(pod)).toEqual([]);
  });

  it('leaves the proxy\'s own settings, and the container\'s or the pod\'s choices, alone', () => {
    const pod = injected({ runAsUser: 70, allowPrivilegeEscalation: false }, { runAsNonRoot: true });
    expect(sc(agentOf(pod))).toEqual({ runAsUser: 70, allowPrivilegeEscalation: false, capabilities: { drop: ['NET_RAW'] } });
    expect(violations(pod)).toEqual([]);
    const proxy = pod.spec.initContainers!.find((c) => c.name === 'guarita-proxy')!;
    expect(sc(proxy)).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  });

  it('is idempotent (reinvocation adds nothing) and hardens containers another mutator added since', () => {
    const pod = injected(undefined);
    const again = decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
    expect(again).toMatchObject({ action: 'skip', reason: 'already-injected' });
    const added = structuredClone(pod);
    added.spec.containers.push({ name: 'late', image: 'busybox' });
    const d = decideInjection({ pod: added, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
    if (d.action !== 'inject') throw new Error(d.action);
    expect(sc(d.pod.spec.containers.find((c) => c.name === 'late')!)).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false });
  });

  it('does not write allowPrivilegeEscalation: false next to privileged or CAP_SYS_ADMIN (the apiserver refuses that pair; the guard names the real problem)', () => {
    expect(sc(withoutRoot({ name: 'p', securityContext: { privileged: true } }, undefined))).toEqual({ privileged: true, runAsNonRoot: true });
    expect(sc(withoutRoot({ name: 's', securityContext: { capabilities: { add: ['CAP_SYS_ADMIN'] } } }, undefined))).not.toHaveProperty('allowPrivilegeEscalation');
    const c: Container = { name: 'same', securityContext: { runAsNonRoot: false, allowPrivilegeEscalation: true } };
    expect(withoutRoot(c, undefined)).toBe(c);
  });
});

describe('run as non-root: the guard refuses every way to be or become root next to the proxy', () => {
  const cases: [string, Record<string, unknown> | undefined, Record<string, unknown> | undefined, RegExp][] = [
    ['runAsUser: 0 on the container', { runAsUser: 0 }, undefined, /^container agent can run as root \(securityContext.runAsUser is 0: it runs as root\); the kubelet mounts one \/etc\/hosts/],
    ['runAsUser: 0 with runAsNonRoot: true (the kubelet would refuse; admission says why)', { runAsUser: 0, runAsNonRoot: true }, undefined, /securityContext.runAsUser is 0/],
    ['runAsUser: 0 at the pod level', {}, { runAsUser: 0 }, /^container agent can run as root \(spec.securityContext.runAsUser is 0/],
    ['runAsUser: 0 at the pod level, runAsNonRoot: true on the container', { runAsNonRoot: true }, { runAsUser: 0 }, /spec.securityContext.runAsUser is 0/],
    ['runAsNonRoot: false on the container', { runAsNonRoot: false }, undefined, /^container agent can run as root \(securityContext.runAsNonRoot is false/],
    ['runAsNonRoot: false at the pod level', {}, { runAsNonRoot: false }, /spec.securityContext.runAsNonRoot is false/],
    ['runAsNonRoot: false with a non-zero runAsUser (says it may be root)', { runAsNonRoot: false, runAsUser: 1000 }, undefined, /securityContext.runAsNonRoot is false/],
    ['a runAsUser that is no number', { runAsUser: '1000' }, undefined, /securityContext.runAsUser is "1000"/],
    ['a negative runAsUser', { runAsUser: -1 }, undefined, /securityContext.runAsUser is -1/],
    ['allowPrivilegeEscalation: true (setuid binaries)', { allowPrivilegeEscalation: true }, undefined, /^container agent may regain root \(securityContext.allowPrivilegeEscalation is true: a setuid binary/],
    ['CAP_DAC_OVERRIDE', { capabilities: { add: ['CAP_DAC_OVERRIDE'] } }, undefined, /^container agent adds capabilities CAP_DAC_OVERRIDE, with which a non-root process writes root-owned files such as \/etc\/hosts/],
    ['fowner, chown in lower case', { capabilities: { add: ['fowner', 'chown'] } }, undefined, /adds capabilities fowner, chown/],
    ['SETUID and SETGID', { capabilities: { add: ['SETUID', 'SETGID'] } }, undefined, /adds capabilities SETUID, SETGID/],
    ['SETFCAP and SETPCAP', { capabilities: { add: ['SETFCAP', 'cap_setpcap'] } }, undefined, /adds capabilities SETFCAP, cap_setpcap/],
  ];
  it.each(cases)('%s', (_name, agentSc, podSc, message) => {
    const v = violations(injected(agentSc, podSc));
    expect(v).toContainEqual(expect.stringMatching(message));
    expect(v.every((m) => m.includes('/etc/hosts') || m.includes('NET_RAW'))).toBe(true);
  });

  it('refuses a mutating webhook that ran after the injector and removed its settings', () => {
    const pod = injected(undefined);
    agentOf(pod).securityContext = { capabilities: { drop: ['NET_RAW'] } };
    expect(violations(pod)).toEqual([
      expect.stringMatching(/^container agent can run as root \(neither runAsNonRoot: true nor a non-zero runAsUser is set.*set securityContext.runAsNonRoot: true/),
      expect.stringMatching(/^container agent may regain root \(securityContext.allowPrivilegeEscalation is unset.*set securityContext.allowPrivilegeEscalation: false/),
    ]);
  });

  it('judges init containers too (their writes to the pod\'s /etc/hosts outlive them)', () => {
    const pod = injected(undefined, undefined, (p) => { p.spec.initContainers = [{ name: 'setup', image: 'busybox', securityContext: { runAsUser: 0 } }]; });
    expect(violations(pod)).toContainEqual(expect.stringMatching(/^init container setup can run as root \(securityContext.runAsUser is 0/));
  });

  it('accepts a non-zero runAsUser without runAsNonRoot, and windowsOptions count for nothing on Linux', () => {
    const c: Container = { name: 'a', securityContext: { runAsUser: 1000, allowPrivilegeEscalation: false } };
    expect(rootViolations(c, 'container', undefined)).toEqual([]);
    expect(rootViolations({ name: 'a', securityContext: { runAsUser: 1000, allowPrivilegeEscalation: false } }, 'container', { runAsNonRoot: true })).toEqual([]);
    const windows: Container = { name: 'w', securityContext: { windowsOptions: { runAsUserName: 'ContainerUser' }, allowPrivilegeEscalation: false } };
    expect(rootViolations(windows, 'container', undefined)).toEqual([expect.stringMatching(/^container w can run as root \(neither runAsNonRoot/)]);
  });

  it('does not judge pods without the proxy (root there reaches no proxy\'s /etc/hosts)', () => {
    const pod = examplePod();
    pod.spec.containers[0]!.securityContext = { runAsUser: 0, capabilities: { add: ['CHOWN'] } };
    expect(violations(pod)).toEqual([]);
  });

  it('still refuses Windows pods at injection: the proxy never runs next to a Windows container', () => {
    const pod = examplePod();
    pod.spec.os = { name: 'windows' };
    const d = decideInjection({ pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies, config: TEST_INJECTOR });
    expect(d).toMatchObject({ action: 'reject', message: expect.stringContaining('Windows pods cannot be governed') });
  });
});

describe('run as non-root: debug containers (pods/ephemeralcontainers), which the injector never sees', () => {
  const withDebug = (debugSc: Record<string, unknown> | undefined, podSc?: Record<string, unknown>): string[] => {
    const old = injected(undefined, podSc);
    const pod = structuredClone(old);
    pod.spec.ephemeralContainers = [{ name: 'dbg', image: 'busybox', targetContainerName: 'agent', ...(debugSc === undefined ? {} : { securityContext: debugSc }) }];
    return ephemeralViolations(pod, old, policies, cfg);
  };

  it('accepts what kubectl debug --profile=restricted writes', () => {
    expect(withDebug({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } })).toEqual([]);
  });

  it.each([
    ['runAsUser: 0, NET_RAW dropped', { runAsUser: 0, allowPrivilegeEscalation: false, capabilities: { drop: ['NET_RAW'] } }, /^ephemeral container dbg can run as root \(securityContext.runAsUser is 0.*\/etc\/hosts.*kubectl debug --profile=restricted does/],
    ['no user set, NET_RAW dropped', { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, /^ephemeral container dbg can run as root \(neither runAsNonRoot/],
    ['non-root but may escalate', { runAsNonRoot: true, capabilities: { drop: ['ALL'] } }, /^ephemeral container dbg may regain root \(securityContext.allowPrivilegeEscalation is unset.*kubectl debug --profile=restricted does/],
    ['DAC_OVERRIDE added', { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { add: ['DAC_OVERRIDE'], drop: ['NET_RAW'] } }, /^ephemeral container dbg adds capabilities DAC_OVERRIDE/],
  ])('refuses a debug container with %s', (_name, debugSc, message) => {
    expect(withDebug(debugSc)).toContainEqual(expect.stringMatching(message));
  });

  it('takes the pod\'s securityContext into account for debug containers too', () => {
    expect(withDebug({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, { runAsNonRoot: true, runAsUser: 1000 })).toEqual([]);
    expect(withDebug({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, { runAsUser: 0, runAsNonRoot: false })).toContainEqual(expect.stringMatching(/spec.securityContext.runAsUser is 0/));
  });
});
