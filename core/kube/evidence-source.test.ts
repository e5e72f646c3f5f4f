import { describe, expect, it } from '@jest/globals';
import { boundPodOf, governingPolicies, judgeEvidenceSource, type NamespaceFacts, type PodFacts } from './evidence-source.ts';

const bound = { namespace: 'team', name: 'agent-0', uid: 'u-1' };
const optedIn: NamespaceFacts = { metadata: { labels: { 'guarita.io/injection': 'enabled' } } };
const proxy = { name: 'guarita-proxy', volumeMounts: [{ name: 'guarita-spool' }, { name: 'guarita-tokens' }] };
const injected: PodFacts = {
  metadata: { name: 'agent-0', namespace: 'team', uid: 'u-1', annotations: { 'guarita.io/status': 'injected', 'guarita.io/policies': 'orders-db' } },
  spec: { initContainers: [proxy], containers: [{ name: 'agent', volumeMounts: [{ name: 'work' }] }] },
};
const withSpec = (spec: PodFacts['spec']): PodFacts => ({ ...injected, spec });
const withAnnotations = (annotations: Record<string, string> | undefined): PodFacts => ({ ...injected, metadata: { ...injected.metadata, ...(annotations === undefined ? { annotations: {} } : { annotations }) } });

describe('judgeEvidenceSource', () => {
  it('accepts the injected proxy of an opted-in namespace (native or ordinary sidecar)', () => {
    expect(judgeEvidenceSource(bound, optedIn, injected)).toEqual({ ok: true, policies: ['orders-db'] });
    expect(judgeEvidenceSource(bound, optedIn, withSpec({ containers: [{ name: 'agent' }, proxy] }))).toEqual({ ok: true, policies: ['orders-db'] });
  });

  it('accepts agents that mount the kubernetes target volumes read-only (the proxy CA, the KUBECONFIG)', () => {
    const mounts = [{ name: 'guarita-agent-kube-ca', readOnly: true }, { name: 'guarita-agent-kubeconfig', readOnly: true }];
    expect(judgeEvidenceSource(bound, optedIn, withSpec({ initContainers: [proxy], containers: [{ name: 'agent', volumeMounts: mounts }] }))).toEqual({ ok: true, policies: ['orders-db'] });
  });

  it('accepts agents that mount the ssh target host key (published by the proxy) read-only', () => {
    const mounts = [{ name: 'guarita-agent-ssh', readOnly: true }];
    expect(judgeEvidenceSource(bound, optedIn, withSpec({ initContainers: [proxy], containers: [{ name: 'agent', volumeMounts: mounts }] }))).toEqual({ ok: true, policies: ['orders-db'] });
  });

  it.each<[string, NamespaceFacts | undefined, RegExp]>([
    ['no namespace', undefined, /namespace team does not exist/],
    ['no labels', {}, /not opted in .*is missing.*label the namespace/],
    ['label disabled', { metadata: { labels: { 'guarita.io/injection': 'disabled' } } }, /not opted in .*is "disabled"/],
    ['label case', { metadata: { labels: { 'guarita.io/injection': 'Enabled' } } }, /not opted in/],
    ['other label', { metadata: { labels: { 'guarita.io/inject': 'enabled' } } }, /not opted in/],
  ])('refuses a namespace that is not opted in: %s', (_what, ns, reason) => {
    const v = judgeEvidenceSource(bound, ns, injected);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(reason);
  });

  it.each<[string, PodFacts | undefined, RegExp]>([
    ['deleted pod', undefined, /does not exist/],
    ['recreated pod (other UID)', { ...injected, metadata: { ...injected.metadata, uid: 'u-2' } }, /UID u-2, the token is bound to UID u-1/],
    ['pod without UID', { ...injected, metadata: { annotations: injected.metadata?.annotations ?? {} } }, /UID \(none\)/],
    ['no status annotation', withAnnotations(undefined), /not injected.*guarita.io\/status/],
    ['status annotation with another value', withAnnotations({ 'guarita.io/status': 'skipped' }), /not injected/],
    ['status as a label is not the annotation', { ...withAnnotations(undefined), metadata: { ...withAnnotations(undefined).metadata, labels: { 'guarita.io/status': 'injected' } } as PodFacts['metadata'] }, /not injected/],
    ['annotation but no proxy', withSpec({ containers: [{ name: 'agent' }] }), /no guarita-proxy container/],
    ['proxy name in other case', withSpec({ containers: [{ name: 'Guarita-Proxy' }] }), /no guarita-proxy container/],
    ['agent mounts the spool', withSpec({ initContainers: [proxy], containers: [{ name: 'agent', volumeMounts: [{ name: 'guarita-spool' }] }] }), /container agent mounts a volume reserved/],
    ['agent mounts the kubernetes CA volume writable', withSpec({ initContainers: [proxy], containers: [{ name: 'agent', volumeMounts: [{ name: 'guarita-agent-kube-ca' }] }] }), /container agent mounts a volume reserved/],
    ['agent mounts the ssh host-key volume writable', withSpec({ initContainers: [proxy], containers: [{ name: 'agent', volumeMounts: [{ name: 'guarita-agent-ssh' }] }] }), /container agent mounts a volume reserved/],
    ['agent mounts the spool read-only', withSpec({ initContainers: [proxy], containers: [{ name: 'agent', volumeMounts: [{ name: 'guarita-spool', readOnly: true }] }] }), /container agent mounts a volume reserved/],
    ['init container mounts the tokens', withSpec({ initContainers: [{ name: 'copy', volumeMounts: [{ name: 'guarita-tokens' }] }, proxy], containers: [{ name: 'agent' }] }), /container copy mounts/],
    ['ephemeral container mounts a target', withSpec({ initContainers: [proxy], containers: [{ name: 'agent' }], ephemeralContainers: [{ name: 'debug', volumeMounts: [{ name: 'guarita-target-orders' }] }] }), /container debug mounts/],
  ])('refuses a pod that is not a genuine injected proxy: %s', (_what, pod, reason) => {
    const v = judgeEvidenceSource(bound, optedIn, pod);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(reason);
  });
});

describe('governingPolicies (the policies a proxy may record under)', () => {
  const annotated = (policies: string | undefined, targets?: string): PodFacts => ({
    metadata: { annotations: { 'guarita.io/status': 'injected', ...(policies === undefined ? {} : { 'guarita.io/policies': policies }) } },
    spec: { containers: [{ name: 'agent' }, { name: 'guarita-proxy', ...(targets === undefined ? {} : { env: [{ name: 'GUARITA_TARGETS', value: targets }] }) }] },
  });

  it('reads the injector\'s comma-separated annotation', () => {
    expect(governingPolicies(annotated('customers-api,orders-db'))).toEqual(['customers-api', 'orders-db']);
    expect(governingPolicies(annotated(' orders-db , orders-db,,'))).toEqual(['orders-db']);
  });

  it.each<[string, PodFacts]>([
    ['no annotation', annotated(undefined)],
    ['an empty annotation', annotated('')],
    ['only commas', annotated(' , ,')],
    ['no metadata at all', {}],
    ['the annotation as a label', { metadata: { labels: { 'guarita.io/policies': 'orders-db' } } as PodFacts['metadata'] }],
  ])('allows no policy with %s (fail closed)', (_what, pod) => {
    expect(governingPolicies(pod)).toEqual([]);
  });

  it('keeps only policies the proxy\'s GUARITA_TARGETS also names: an edited annotation narrows, never widens', () => {
    const targets = JSON.stringify([{ policy: 'orders-db', target: 'orders-db' }, { policy: 'orders-db', target: 'replica' }]);
    expect(governingPolicies(annotated('orders-db', targets))).toEqual(['orders-db']);
    expect(governingPolicies(annotated('orders-db,payments-db', targets))).toEqual(['orders-db']);
    expect(governingPolicies(annotated('payments-db', targets))).toEqual([]);
  });

  it.each<[string, string]>([
    ['not JSON', '{orders-db'],
    ['not a list', JSON.stringify({ policy: 'orders-db' })],
    ['a list without policy names', JSON.stringify([{ target: 'orders-db' }, null, 'orders-db', { policy: 7 }])],
    ['empty', ''],
  ])('allows no policy when the proxy\'s GUARITA_TARGETS is %s', (_what, targets) => {
    expect(governingPolicies(annotated('orders-db', targets))).toEqual([]);
  });

  it('reads GUARITA_TARGETS of guarita-proxy only (an agent\'s variable of that name changes nothing)', () => {
    const pod: PodFacts = {
      metadata: { annotations: { 'guarita.io/policies': 'orders-db,payments-db' } },
      spec: { initContainers: [{ name: 'guarita-proxy', env: [{ name: 'GUARITA_TARGETS', value: JSON.stringify([{ policy: 'orders-db' }]) }] }], containers: [{ name: 'agent', env: [{ name: 'GUARITA_TARGETS', value: JSON.stringify([{ policy: 'payments-db' }]) }] }] },
    };
    expect(governingPolicies(pod)).toEqual(['orders-db']);
  });

  it('is what an accepted verdict carries', () => {
    expect(judgeEvidenceSource(bound, optedIn, withAnnotations({ 'guarita.io/status': 'injected' }))).toEqual({ ok: true, policies: [] });
  });
});

describe('boundPodOf', () => {
  it('reads the bound pod claims', () => {
    expect(boundPodOf('team', { 'authentication.kubernetes.io/pod-name': ['agent-0'], 'authentication.kubernetes.io/pod-uid': ['u-1'] })).toEqual({ ok: true, pod: bound });
  });

  it.each<[string, Record<string, string[]> | undefined]>([
    ['no extra', undefined],
    ['no claims', {}],
    ['name only', { 'authentication.kubernetes.io/pod-name': ['agent-0'] }],
    ['uid only', { 'authentication.kubernetes.io/pod-uid': ['u-1'] }],
    ['empty name', { 'authentication.kubernetes.io/pod-name': [''], 'authentication.kubernetes.io/pod-uid': ['u-1'] }],
    ['two names', { 'authentication.kubernetes.io/pod-name': ['a', 'b'], 'authentication.kubernetes.io/pod-uid': ['u-1'] }],
    ['bound to a Secret', { 'authentication.kubernetes.io/secret-name': ['s'], 'authentication.kubernetes.io/secret-uid': ['u'] }],
  ])('refuses a token without bound-pod claims: %s', (_what, extra) => {
    const v = boundPodOf('team', extra);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(/not bound to a pod/);
  });
});
