// The example the kind scenario (and the README) applies, rendered by the pinned kubectl's
// kustomize, without a cluster: namespaces first, valid policies with service-account identities
// pointing at the example's own Services, an agent that can only act through its audience-bound
// token, the OIDC overlay; the scenario's output checks accept a good run and reject leaks; the
// chart renders with the scenario's values.
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateAccessPolicy } from '../../crds/validators.ts';
import { find, template } from '../../charts/guarita/tests/helm.ts';
import { binDir } from '../harness/paths.ts';
import { OIDC_EXAMPLE_DIR, type Manifest } from '../support/examples.ts';
import { runCommand } from '../harness/exec.ts';
import { AGENTS_NAMESPACE, DATA_NAMESPACE, EXPORT_SQL, isBackupRead, isDatabaseExec, KUBECTL_AGENT, KUBERNETES_POLICY, kustomize, rawIdentifiers, seededCustomers, SSH_AGENT, SSH_POLICY } from './manifests.ts';
import { checkAgentOutput, checkKubectlOutput, checkSshOutput, execRecording, section, SSH_CONFIG, sshRecording } from './scenario.ts';

// helm and kubectl are real processes; a loaded machine makes them slow.
jest.setTimeout(60_000);

const KUBECTL = join(binDir(), 'kubectl');
const id = (m: Manifest): string => `${String(m.kind)}/${typeof m.metadata?.namespace === 'string' ? m.metadata.namespace : ''}/${String(m.metadata?.name)}`;
const only = (objects: Manifest[], kind: string, name: string): Record<string, any> => {
  const found = objects.filter((o) => o.kind === kind && o.metadata?.name === name);
  expect(found).toHaveLength(1);
  return found[0] as Record<string, any>;
};

const goodOutput = (rows: { select: string[]; exportRows: string[] }): string => [
  '== select', ...rows.select,
  '== delete', 'ERROR:  the statement is denied by rule deny-unbounded-writes of AccessPolicy orders-db',
  '== count', String(seededCustomers()),
  '== export', 'ERROR:  the command is held for approval: ApprovalRequest orders-db-4f2a awaits exports-need-dpo approvers',
  '== export rows', ...rows.exportRows,
  '== http', '{"customer": {"id": 1, "nome": "Larissa Oliveira", "cpf": "***.***.***-33", "email": "l***@e***.br"}}',
  '== done', '',
].join('\n');

describe('examples/lgpd-orders (kubectl kustomize)', () => {
  let objects: Manifest[] = [];
  beforeAll(async () => {
    objects = await kustomize(KUBECTL);
  });

  it('puts the namespaces first and the agent Job after its policies', () => {
    expect(objects.slice(0, 2).map(id)).toEqual([`Namespace//${AGENTS_NAMESPACE}`, `Namespace//${DATA_NAMESPACE}`]);
    expect(objects[0]?.metadata?.labels).toEqual({ 'guarita.io/injection': 'enabled' });
    expect(objects[1]?.metadata?.labels).toBeUndefined();
    const at = (kind: string, name: string): number => objects.findIndex((o) => o.kind === kind && o.metadata?.name === name);
    expect(at('Secret', 'orders-db-credentials')).toBeLessThan(at('AccessPolicy', 'orders-db'));
    expect(at('AccessPolicy', 'orders-db')).toBeLessThan(at('Job', 'support-agent'));
    expect(at('AccessPolicy', 'customers-api')).toBeLessThan(at('Job', 'support-agent'));
  });

  it('has valid policies with service-account identities, aimed at the example\'s own Services', () => {
    const policies = objects.filter((o) => o.kind === 'AccessPolicy');
    // Other targets of the same agent (accesspolicy-kubernetes.yaml...) join the kustomization.
    expect(policies.map((p) => p.metadata?.name)).toEqual(expect.arrayContaining(['customers-api', 'orders-db']));
    const services = objects.filter((o) => o.kind === 'Service').map((s) => s as Record<string, any>)
      .flatMap((s) => (s.spec.ports as { port: number }[]).map((p) => `${String(s.metadata.name)}.${String(s.metadata.namespace)}.svc.cluster.local:${p.port}`));
    for (const policy of policies) {
      const spec = policy.spec as Record<string, any>;
      expect(validateAccessPolicy(policy)).toMatchObject({ ok: true });
      expect(spec.identity).toEqual({ serviceAccounts: { audiences: ['guarita'] } });
      expect(spec.subjects).toContainEqual({ kind: 'ServiceAccount', name: 'support-agent', namespace: AGENTS_NAMESPACE });
      if (['postgres', 'http', 'ssh'].includes(spec.target.protocol)) expect(services).toContain(String(spec.target.endpoint).replace(/^http:\/\//, ''));
    }
  });

  it('gives the agent an audience-bound token of its own ServiceAccount, never the credentials', () => {
    const sa = only(objects, 'ServiceAccount', 'support-agent');
    expect(sa.automountServiceAccountToken).toBe(false);
    const job = only(objects, 'Job', 'support-agent');
    const pod = job.spec.template;
    expect(pod.metadata.annotations).toEqual({ 'guarita.io/inject': 'true' });
    expect(pod.metadata.labels).toEqual({ app: 'support-agent' });
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.serviceAccountName).toBe('support-agent');
    expect(pod.spec.volumes).toEqual([{ name: 'agent-token', projected: { sources: [{ serviceAccountToken: { audience: 'guarita', expirationSeconds: 3600, path: 'token' } }] } }]);
    expect(pod.spec.containers[0].env).toContainEqual({ name: 'PGOPTIONS', value: '-c guarita.purpose=customer-support' });
    expect(JSON.stringify(job)).not.toContain('orders-db-credentials');
    expect(pod.spec.containers[0].command.join(' ')).toContain(EXPORT_SQL);
  });

  it('seeds its own PostgreSQL with seed.sql, and gives orders_app the password the sidecar uses', () => {
    const db = only(objects, 'Deployment', 'orders-db').spec.template.spec;
    const init = (db.volumes as { name: string; configMap?: { name: string } }[]).find((v) => v.name === 'init')?.configMap?.name ?? '';
    const configMap = only(objects, 'ConfigMap', init);
    expect(Object.keys(configMap.data as object).sort()).toEqual(['00-roles.sh', '10-seed.sql']);
    expect(configMap.data['10-seed.sql']).toContain('GRANT SELECT, INSERT, UPDATE, DELETE ON customers, orders TO orders_app');
    const credentials = only(objects, 'Secret', 'orders-db-credentials').stringData as Record<string, string>;
    const server = only(objects, 'Secret', 'orders-db-server').stringData as Record<string, string>;
    expect(credentials.username).toBe('orders_app');
    expect(server['orders-app-password']).toBe(credentials.password);
  });

  it('has an OIDC overlay: the same policies trusting an issuer, without the service-account agent', async () => {
    const oidc = await kustomize(KUBECTL, OIDC_EXAMPLE_DIR);
    const policies = oidc.filter((o) => o.kind === 'AccessPolicy');
    expect(policies.map((p) => String(p.metadata?.name)).sort()).toEqual(objects.filter((o) => o.kind === 'AccessPolicy').map((p) => String(p.metadata?.name)).sort());
    for (const p of policies) {
      expect((p.spec as Record<string, any>).identity).toEqual({ oidc: { issuer: 'https://idp.example.com', audiences: ['guarita'], groupsClaim: 'groups' } });
      expect(validateAccessPolicy(p)).toMatchObject({ ok: true });
    }
    expect(oidc.filter((o) => o.kind === 'Job')).toEqual([]);
  });

  it('knows the raw identifiers of the seeded customers', () => {
    expect(rawIdentifiers([1])).toEqual(['590.830.166-33', 'larissa.oliveira1@exemplo.com.br', '+55 71 91791-2186']);
    expect(seededCustomers()).toBe(50);
  });
});

describe('scenario checks', () => {
  it('accept a run with masked rows, a denial, a held then approved export', () => {
    const output = goodOutput({ select: ['1|***.***.***-33|l***@e***.br', '2|***.***.***-88|c***@e***.br', '3|***.***.***-11|t***@e***.br'], exportRows: ['1\t***.***.***-33\tl***', '2\t***.***.***-88\tc***'] });
    expect(section(output, 'export rows')).toHaveLength(2);
    expect(() => checkAgentOutput(output)).not.toThrow();
  });

  it('reject a run where a raw CPF reached the agent', () => {
    const output = goodOutput({ select: ['1|590.830.166-33|l***', '2|x|y', '3|x|y'], exportRows: ['1', '2'] });
    expect(() => checkAgentOutput(output)).toThrow('no raw CPF or e-mail reached the agent (leaked: 590.830.166-33)');
  });

  it('accept an export approved within the sidecar\'s wait (nothing printed before its rows), reject another error there', () => {
    const rows = { select: ['1|***.***.***-33|l***@e***.br', '2|x|y', '3|x|y'], exportRows: ['1', '2'] };
    const quick = goodOutput(rows).replace(/== export\n[^\n]*\n/, '== export\n');
    expect(() => checkAgentOutput(quick)).not.toThrow();
    const broken = goodOutput(rows).replace('== export\n', '== export\npsql: error: connection to server on socket failed\n');
    expect(() => checkAgentOutput(broken)).toThrow('the export was held for approval (no other error before it ran)');
  });

  it('reject a run where the DELETE went through', () => {
    const output = goodOutput({ select: ['a', 'b', 'c'], exportRows: ['1', '2'] }).replace('== count', 'DELETE WAS ALLOWED\n== count');
    expect(() => checkAgentOutput(output)).toThrow('the unbounded DELETE was denied');
  });
});

const FORBIDDEN = (rule: string, text: string): string => `Error from server (Forbidden): guarita: AccessPolicy ${KUBERNETES_POLICY}: denied (rule ${rule}): "${text}" is denied by rule "${rule}"`;
const HELD = `Error from server (Forbidden): guarita: AccessPolicy ${KUBERNETES_POLICY}: approval pending: kubectl create pods/exec orders-db-7c9d8-x2x -n orders-data; run the same command again once ApprovalRequest ${KUBERNETES_POLICY}-4f2a is approved`;
const goodKubectlOutput = (): string => [
  '== pods', 'NAME                        READY   STATUS    RESTARTS   AGE', 'orders-db-7c9d8-x2x         1/1     Running   0          2m', 'customers-api-5d6f7-abcde   1/1     Running   0          2m',
  '== logs', '2026-12-05 03:50:00.000 UTC [48] LOG:  statement: INSERT INTO customers (id, nome, cpf, cnpj, email, telefone, dt_nasc, notes) VALUES',
  "\t  (1, 'Larissa Oliveira', '***.***.***-33', NULL, 'l***@e***.br', '+** ** *****-2186', '2002-09-04', NULL),",
  "\t  (2, 'Carla Santos', '***.***.***-88', NULL, 'c***@e***.br', '+** ** *****-1968', '2002-10-04', NULL),",
  '== secrets', FORBIDDEN('no-secrets', 'kubectl list secrets -n orders-data'), 'exit status 1',
  '== secret by name', FORBIDDEN('no-secrets', 'kubectl get secrets orders-db-server -n orders-data'), 'exit status 1',
  '== exec', HELD, HELD,
  '== exec output', '1|***.***.***-33|l***@e***.br',
  '== delete', FORBIDDEN('no-deletes', 'kubectl delete pods orders-db-7c9d8-x2x -n orders-data'), 'exit status 1',
  '== delete all', FORBIDDEN('no-deletes', 'kubectl delete pods orders-db-7c9d8-x2x -n orders-data'), FORBIDDEN('no-deletes', 'kubectl delete pods customers-api-5d6f7-abcde -n orders-data'), 'exit status 1',
  '== done', '',
].join('\n');

describe('the agent\'s kubectl Job (the Kubernetes API target)', () => {
  it('runs kubectl of the apiserver\'s minor, with a shell, as the same agent, with no credential but the injected KUBECONFIG', async () => {
    const objects = await kustomize(KUBECTL);
    const agent = only(objects, 'Job', 'support-agent').spec.template;
    const job = only(objects, 'Job', KUBECTL_AGENT).spec.template;
    expect(job.metadata).toEqual(agent.metadata);
    expect({ ...job.spec, containers: [] }).toEqual({ ...agent.spec, containers: [], volumes: undefined });
    expect(job.spec.containers).toHaveLength(1);
    const container = job.spec.containers[0] as Record<string, any>;
    expect(container.name).toBe('kubectl');
    const client = await runCommand(KUBECTL, ['version', '--client', '-o', 'json']);
    const minor = (JSON.parse(client.stdout) as { clientVersion: { minor: string } }).clientVersion.minor;
    expect(container.image).toMatch(new RegExp(`^alpine/k8s:1\\.${minor}\\.\\d+$`));
    // The kind workflow's apiserver is of the same minor.
    const workflow = readFileSync(join(import.meta.dirname, '../../.github/workflows/kind-e2e.yaml'), 'utf8');
    expect(/GUARITA_KIND_NODE_IMAGE: kindest\/node:v1\.(\d+)\./.exec(workflow)?.[1]).toBe(minor);
    expect(container.command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(container.volumeMounts).toBeUndefined();
    expect(JSON.stringify(container.env ?? [])).not.toMatch(/KUBECONFIG|TOKEN/i);
    const script = String(container.command[2]);
    for (const step of ['get pods -n "$NS"', 'logs -n "$NS" deploy/orders-db', 'get secrets -n "$NS"', 'exec -n "$NS" "$DB" -c postgres -- psql', 'delete pod -n "$NS" "$DB"']) expect(script).toContain(step);
    const at = (kind: string, name: string): number => objects.findIndex((o) => o.kind === kind && o.metadata?.name === name);
    expect(at('AccessPolicy', KUBERNETES_POLICY)).toBeLessThan(at('Job', KUBECTL_AGENT));
    expect(at('Secret', 'kubernetes-api-credentials')).toBeLessThan(at('AccessPolicy', KUBERNETES_POLICY));
    expect(only(objects, 'AccessPolicy', KUBERNETES_POLICY).spec.target.protocol).toBe('kubernetes');
  });

  it('knows the held exec by the kubectl-like line the approver reads', () => {
    expect(isDatabaseExec('kubectl create pods/exec orders-db-7c9d8-x2x -n orders-data\nGET /api/v1/namespaces/orders-data/pods/orders-db-7c9d8-x2x/exec?command=psql')).toBe(true);
    expect(isDatabaseExec('kubectl create pods/exec customers-api-1 -n orders-data\nGET /x')).toBe(false);
    expect(isDatabaseExec(EXPORT_SQL)).toBe(false);
  });

  it('accept a run with the Table and logs masked, both denials, a held then approved exec', () => {
    expect(() => checkKubectlOutput(goodKubectlOutput())).not.toThrow();
    expect(() => checkKubectlOutput(goodKubectlOutput().replace(`== exec\n${HELD}\n${HELD}\n`, '== exec\n'))).not.toThrow();
  });

  it.each([
    ['a raw CPF in the logs', (o: string) => o.replace("'***.***.***-33', NULL, 'l***", "'590.830.166-33', NULL, 'l***"), 'no raw CPF, e-mail or phone reached kubectl (leaked: 590.830.166-33)'],
    ['a raw phone in the exec output', (o: string) => o.replace('1|***.***.***-33|l***@e***.br', '1|***.***.***-33|+55 71 91791-2186'), 'no raw CPF, e-mail or phone reached kubectl (leaked: +55 71 91791-2186)'],
    ['logs with nothing masked in them', (o: string) => o.replace(/\t {2}\([12], [^\n]*\n/g, ''), 'kubectl logs of the database was allowed and its CPFs came back masked'],
    ['Secrets listed', (o: string) => o.replace(`${FORBIDDEN('no-secrets', 'kubectl list secrets -n orders-data')}\nexit status 1`, 'NAME TYPE DATA AGE\nexit status 0\nSECRETS WERE LISTED'), 'kubectl get secrets was denied'],
    ['a Forbidden from the apiserver\'s RBAC instead of the policy', (o: string) => o.replace(FORBIDDEN('no-secrets', 'kubectl list secrets -n orders-data'), 'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:lgpd-orders:support-agent-kube-target" cannot list resource "secrets"'), 'kubectl get secrets was denied'],
    ['another error before the exec ran', (o: string) => o.replace('== exec\n', '== exec\nerror: unable to upgrade connection\n'), 'the kubectl exec was held for approval'],
    ['an exec that ran twice', (o: string) => o.replace('== exec output\n1|', '== exec output\n1|***.***.***-33|l***@e***.br\n1|'), 'the approved exec ran once'],
    ['an unmasked CPF of another customer', (o: string) => o.replace('== exec output\n1|***.***.***-33', '== exec output\n1|390.996.030-88'), 'the approved exec ran once and printed customer 1 with the CPF masked'],
    ['a Secret read by name', (o: string) => o.replace(`${FORBIDDEN('no-secrets', 'kubectl get secrets orders-db-server -n orders-data')}\nexit status 1`, '{"postgres-password":"Y2hhbmdlLW1l"}exit status 0\nA SECRET WAS READ'), 'kubectl get secret orders-db-server was denied'],
    ['one pod deleted by delete --all', (o: string) => o.replace(`${FORBIDDEN('no-deletes', 'kubectl delete pods customers-api-5d6f7-abcde -n orders-data')}\n`, 'pod "customers-api-5d6f7-abcde" deleted\n'), 'kubectl delete pods --all was denied for every pod'],
    ['a delete that went through', (o: string) => o.replace(`${FORBIDDEN('no-deletes', 'kubectl delete pods orders-db-7c9d8-x2x -n orders-data')}\nexit status 1`, 'pod "orders-db-7c9d8-x2x" deleted\nexit status 0\nDELETE WAS ALLOWED'), 'kubectl delete pod was denied'],
    ['a script that stopped early', (o: string) => o.replace('== done\n', ''), 'the kubectl agent finished its script'],
  ])('reject %s', (_what, alter, message) => {
    expect(() => checkKubectlOutput(alter(goodKubectlOutput()))).toThrow(message);
  });
});

describe('the exec\'s recording in the operator\'s export', () => {
  const line = (fields: Record<string, unknown>, seq: number): string => JSON.stringify({ chainId: 'c1', seq, hash: 'ab'.repeat(32), ...fields });
  const exported = (stdout: string): string => [
    JSON.stringify({ type: 'header', format: 'guarita-export/v2' }),
    line({ type: 'command', sessionId: 's-held', command: 'kubectl create pods/exec orders-db-1 -n orders-data', decision: 'requireApproval', approvalRequest: 'kubernetes-api-4f2a' }, 1),
    line({ type: 'command', sessionId: 's-exec', command: 'kubectl create pods/exec orders-db-1 -n orders-data', decision: 'allow', approvalRequest: 'kubernetes-api-4f2a', approval: { required: 1, approvals: 1 } }, 2),
    line({ type: 'stream', sessionId: 's-exec', frames: [{ t: 0, ch: 'o', data: stdout }] }, 3),
    line({ type: 'stream', sessionId: 's-other', frames: [{ t: 0, ch: 'o', data: 'unrelated\n' }] }, 4),
  ].join('\n');

  it('finds the approved exec\'s stream records, masked', () => {
    expect(execRecording(exported('1|***.***.***-33|l***@e***.br\n'), 'kubernetes-api-4f2a')).toBe('exec session s-exec: 1 recorded frames, stdout masked');
  });

  it('waits while the approved exec or its output has not arrived', () => {
    expect(execRecording(exported('1|***.***.***-33|l***@e***.br\n'), 'kubernetes-api-9999')).toBeUndefined();
    expect(execRecording(exported(''), 'kubernetes-api-4f2a')).toBeUndefined();
  });

  it('rejects a recording with the raw CPF, or without customer 1', () => {
    expect(() => execRecording(exported('1|590.830.166-33|l***@e***.br\n'), 'kubernetes-api-4f2a')).toThrow('the exec\'s recorded stdout shows customer 1 with the CPF masked');
    expect(() => execRecording(exported('(0 rows)\n'), 'kubernetes-api-4f2a')).toThrow('the exec\'s recorded stdout shows customer 1');
  });
});

const SSH_HELD = 'guarita: the command is held for approval: ApprovalRequest orders-host-8e4b-93f6 awaits dumps-and-backups-need-dpo approvers (kubectl get approvalrequest orders-host-8e4b-93f6 -n lgpd-orders); retry the same command once it is approved (ApprovalRequest orders-host-8e4b-93f6); waiting for the decision\r';
const goodSshOutput = (): string => [
  '== diagnostics', 'Filesystem      Size  Used Avail Use% Mounted on', 'overlay          98G   21G   73G  23% /',
  '== logs', '2026-12-04T09:15:41Z INFO order 1002 created for customer 2 (cpf ***.***.***-88, c***@e***.br)', '2026-12-04T09:20:07Z WARN payment retry for order 1002, customer phone +** ** *****-1968', '2026-12-04T10:02:55Z INFO order 1001 shipped',
  '== rm', 'guarita: denied (rule deny-rm): the exec of rm is denied by rule "deny-rm" (Agents never delete files on the host.)\r', 'exit status 126',
  '== backup', SSH_HELD,
  '== backup rows', '-- orders database, nightly backup 2026-12-04 (pg_dump --data-only, excerpt)', 'COPY public.customers (id, nome, cpf, email, telefone) FROM stdin;',
  '1\tLarissa Oliveira\t***.***.***-33\tl***@e***.br\t+** ** *****-2186', '2\tCarla Santos\t***.***.***-88\tc***@e***.br\t+** ** *****-1968',
  '== download', 'app.log: 4 lines',
  '== upload', 'sftp> put /tmp/app.log /var/log/orders/app.log.copy', 'dest open "/var/log/orders/app.log.copy": Permission denied\r', 'exit status 1',
  '== done', '',
].join('\n');

describe('the agent\'s ssh Job (the SSH target)', () => {
  it('runs OpenSSH\'s clients as the same agent, with no credential but its token and the injected ssh_config', async () => {
    const objects = await kustomize(KUBECTL);
    const agent = only(objects, 'Job', 'support-agent').spec.template;
    const job = only(objects, 'Job', SSH_AGENT).spec.template;
    expect(job.metadata).toEqual(agent.metadata);
    // The same pod but for its user: OpenSSH's clients need a passwd entry for their uid (nobody).
    expect({ ...job.spec, containers: [], securityContext: undefined }).toEqual({ ...agent.spec, containers: [], securityContext: undefined });
    expect(job.spec.securityContext).toEqual({ ...agent.spec.securityContext, runAsUser: 65534, runAsGroup: 65534 });
    expect(job.spec.containers).toHaveLength(1);
    const container = job.spec.containers[0] as Record<string, any>;
    expect(container.name).toBe('agent');
    expect(container.image).toBe('buildpack-deps:bookworm-scm');
    expect(container.volumeMounts).toEqual([{ name: 'agent-token', mountPath: '/var/run/agent', readOnly: true }]);
    expect(JSON.stringify(job)).not.toContain('orders-host-ssh-credentials');
    const script = String(container.command[2]);
    for (const step of ['ssh -F "$C"', 'scp -F "$C" "$H:$LOG_DIR/app.log"', 'sftp -F "$C" -o BatchMode=no -b', 'H=customer-support@orders-host', 'SSH_ASKPASS=']) expect(script).toContain(step);
    expect(script).toContain('C="$ORDERS_HOST_SSH_CONFIG"');
    expect(SSH_CONFIG).toBe('/var/run/guarita/ssh/orders-host/ssh_config');
    const at = (kind: string, name: string): number => objects.findIndex((o) => o.kind === kind && o.metadata?.name === name);
    expect(at('Secret', 'orders-host-ssh-credentials')).toBeLessThan(at('AccessPolicy', SSH_POLICY));
    expect(at('AccessPolicy', SSH_POLICY)).toBeLessThan(at('Job', SSH_AGENT));
  });

  it('aims the SSH policy at orders-host, whose host key its credentials\' known_hosts names, and which lets in the credentials\' key', async () => {
    const objects = await kustomize(KUBECTL);
    const policy = only(objects, 'AccessPolicy', SSH_POLICY).spec;
    expect(policy.target).toMatchObject({ protocol: 'ssh', endpoint: `orders-host.${DATA_NAMESPACE}.svc.cluster.local:22`, credentialsSecretRef: { name: 'orders-host-ssh-credentials' } });
    expect(only(objects, 'Service', 'orders-host').spec.ports).toEqual([{ name: 'ssh', port: 22, targetPort: 'ssh' }]);
    const credentials = only(objects, 'Secret', 'orders-host-ssh-credentials').stringData as Record<string, string>;
    const server = only(objects, 'Secret', 'orders-host-server').stringData as Record<string, string>;
    const dir = mkdtempSync(join(tmpdir(), 'guarita-example-keys-'));
    const publicKey = async (privateKey: string): Promise<string> => {
      const file = join(dir, 'key');
      writeFileSync(file, privateKey, { mode: 0o600 });
      const derived = await runCommand('ssh-keygen', ['-y', '-f', file]);
      expect(derived).toMatchObject({ code: 0 });
      return derived.stdout.trim().split(/\s+/).slice(0, 2).join(' ');
    };
    try {
      expect(credentials.known_hosts?.trim()).toBe(`orders-host.${DATA_NAMESPACE}.svc.cluster.local ${await publicKey(server.ssh_host_ed25519_key ?? '')}`);
      expect(server.authorized_keys?.trim().split(/\s+/).slice(0, 2).join(' ')).toBe(await publicKey(credentials['ssh-privatekey'] ?? ''));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(credentials.username).toBe('orders');
    const files = only(objects, 'ConfigMap', 'orders-host-files').data as Record<string, string>;
    expect(files['start.sh']).toContain('useradd --create-home --shell /bin/bash orders');
    expect(files['app.log']).toContain(rawIdentifiers([2])[0]);
  });

  it('knows the held backup read by its exact command, wherever the host keeps its backups', () => {
    expect(isBackupRead('head -n 4 /var/backups/orders-2026-12-04.sql')).toBe(true);
    expect(isBackupRead('head -n 4 /tmp/guarita-harness-x/example-ssh-1/host/var/backups/orders-2026-12-04.sql')).toBe(true);
    expect(isBackupRead('head -n 4 /var/backups/orders-2026-12-04.sql; rm -rf /')).toBe(false);
    expect(isBackupRead('cat /var/backups/orders-2026-12-04.sql')).toBe(false);
    expect(isBackupRead(EXPORT_SQL)).toBe(false);
  });

  it('accept a run with the log masked, rm denied, a held then approved backup read, the download and the refused upload', () => {
    expect(() => checkSshOutput(goodSshOutput())).not.toThrow();
    expect(() => checkSshOutput(goodSshOutput().replace(`== backup\n${SSH_HELD}\n`, `== backup\n${SSH_HELD}\n${SSH_HELD}\n${SSH_HELD}\n`))).not.toThrow();
  });

  it.each([
    ['a raw e-mail in the log', (o: string) => o.replace('-88, c***@e***.br)', '-88, carla.santos2@exemplo.com.br)'), 'no raw CPF, e-mail or phone reached the ssh agent (leaked: carla.santos2@exemplo.com.br)'],
    ['a raw CPF in the log', (o: string) => o.replace('(cpf ***.***.***-88,', '(cpf 390.996.030-88,'), 'ssh tail of the application\'s log was allowed and its CPF came back masked'],
    ['a raw phone in the backup', (o: string) => o.replace('l***@e***.br\t+** ** *****-2186', 'l***@e***.br\t+55 71 91791-2186'), 'no raw CPF, e-mail or phone reached the ssh agent (leaked: +55 71 91791-2186)'],
    ['a log with nothing masked in it', (o: string) => o.replace(/\(cpf [^\n]*\n/, 'x\n'), 'ssh tail of the application\'s log was allowed and its CPF came back masked'],
    ['df refused', (o: string) => o.replace(/== diagnostics\n[^=]*/, '== diagnostics\nguarita: denied (rule x)\n'), 'ssh df -h / was allowed'],
    ['rm that ran', (o: string) => o.replace(/== rm\n[^=]*/, '== rm\nexit status 0\nRM WAS ALLOWED\n'), 'ssh rm was denied'],
    ['rm refused by the host instead of the policy', (o: string) => o.replace(/== rm\n[^=]*/, '== rm\nrm: cannot remove \'/var/log/orders/app.log\': Permission denied\nexit status 1\n'), 'ssh rm was denied'],
    ['another error before the backup read ran', (o: string) => o.replace('== backup\n', '== backup\nssh: connect to host 127.0.0.1 port 12222: Connection refused\n'), 'the ssh read of the backup was held for approval'],
    ['a backup read that was never held', (o: string) => o.replace(`== backup\n${SSH_HELD}\n`, '== backup\n'), 'the ssh read of the backup was held for approval'],
    ['a backup with an unmasked CPF of another customer', (o: string) => o.replace('2\tCarla Santos\t***.***.***-88', '2\tCarla Santos\t482.199.351-11'), 'the approved backup read ran once and printed customers 1 and 2 with their CPFs masked'],
    ['no download', (o: string) => o.replace('app.log: 4 lines', 'scp: /var/log/orders/app.log: Permission denied'), 'scp downloaded the application\'s log'],
    ['an upload that went through', (o: string) => o.replace(/== upload\n[^=]*/, '== upload\nsftp> put /tmp/app.log /var/log/orders/app.log.copy\nexit status 0\nUPLOAD WAS ALLOWED\n'), 'sftp put was denied'],
    ['a script that stopped early', (o: string) => o.replace('== done\n', ''), 'the ssh agent finished its script'],
  ])('reject %s', (_what, alter, message) => {
    expect(() => checkSshOutput(alter(goodSshOutput()))).toThrow(message);
  });
});

describe('the ssh Job\'s records in the operator\'s export', () => {
  const line = (fields: Record<string, unknown>, seq: number): string => JSON.stringify({ chainId: 'c1', seq, hash: 'ab'.repeat(32), ...fields });
  const exported = (backup: string, uploaded = true): string => [
    JSON.stringify({ type: 'export', format: 'guarita-export/v2' }),
    line({ type: 'stream', sessionId: 's-tail', channel: 0, frames: [{ t: 0, ch: 'o', data: '2026-12-04T09:15:41Z INFO order 1002 created for customer 2 (cpf ***.***.***-88, c***@e***.br)\n' }] }, 1),
    line({ type: 'command', sessionId: 's-tail', command: 'tail -n 3 /var/log/orders/app.log', decision: 'allow', rule: 'read-only-diagnostics' }, 2),
    line({ type: 'command', sessionId: 's-rm', command: 'rm -f /var/log/orders/app.log', decision: 'deny', rule: 'deny-rm' }, 3),
    line({ type: 'approval.requested', sessionId: 's-held', command: 'head -n 4 /var/backups/orders-2026-12-04.sql', approvalRequest: 'orders-host-4f2a' }, 4),
    line({ type: 'stream', sessionId: 's-held', channel: 0, frames: [{ t: 0, ch: 'o', data: backup }] }, 5),
    line({ type: 'command', sessionId: 's-held', command: 'head -n 4 /var/backups/orders-2026-12-04.sql', decision: 'allow', rule: 'dumps-and-backups-need-dpo', approvalRequest: 'orders-host-4f2a', approval: { required: 1, approvals: 1 } }, 6),
    ...(uploaded ? [line({ type: 'command', sessionId: 's-put', command: 'sftp write /var/log/orders/app.log.copy', decision: 'deny', rule: 'deny-uploads-and-deletes' }, 7)] : []),
  ].join('\n');
  const masked = '-- orders database\nCOPY public.customers (id, nome, cpf, email, telefone) FROM stdin;\n1\tLarissa Oliveira\t***.***.***-33\tl***@e***.br\n';

  it('finds the approved backup read and the log\'s tail with their outputs masked, and the denials', () => {
    expect(sshRecording(exported(masked), 'orders-host-4f2a')).toBe('ssh: 4 commands recorded (the approved backup read in session s-held), outputs masked');
  });

  it('waits while the approved read, its output or the last request has not arrived', () => {
    expect(sshRecording(exported(masked), 'orders-host-9999')).toBeUndefined();
    expect(sshRecording(exported(''), 'orders-host-4f2a')).toBeUndefined();
    expect(sshRecording(exported(masked, false), 'orders-host-4f2a')).toBeUndefined();
  });

  it('rejects a recording with a raw CPF, or without the denied rm', () => {
    expect(() => sshRecording(exported(masked.replace('***.***.***-33', '590.830.166-33')), 'orders-host-4f2a')).toThrow('the approved backup read\'s recorded stdout shows customer 1 with the CPF masked');
    expect(() => sshRecording(exported(masked).replace('"deny-rm"', '"other"'), 'orders-host-4f2a')).toThrow('the denied rm is recorded (rule deny-rm)');
  });
});

describe('the chart with the scenario\'s values', () => {
  it('creates lgpd-orders, and renders the sidecar Role, the operator CA and the approver binding there', async () => {
    const objects = await template({ values: [join(import.meta.dirname, 'values.yaml')], set: ['image.repository=guarita', 'image.tag=e2e', 'image.pullPolicy=Never'] });
    const inAgents = objects.filter((o) => o.metadata.namespace === AGENTS_NAMESPACE).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(inAgents).toEqual(['ConfigMap/guarita-operator-ca', 'Role/guarita-sidecar', 'Role/guarita-webhook-pods', 'RoleBinding/guarita-approver-0', 'RoleBinding/guarita-auditor-0', 'RoleBinding/guarita-sidecar', 'RoleBinding/guarita-webhook-pods']);
    expect(find(objects, 'Namespace', AGENTS_NAMESPACE)[0]?.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    const webhook = find(objects, 'Deployment', 'guarita-webhook')[0]!;
    const env = ((webhook.spec as Record<string, any>).template.spec.containers[0].env as { name: string; value?: string }[]);
    expect(env).toContainEqual({ name: 'GUARITA_SIDECAR_IMAGE', value: 'guarita:e2e' });
    expect(env).toContainEqual({ name: 'GUARITA_SIDECAR_IMAGE_PULL_POLICY', value: 'Never' });
    expect(env).toContainEqual({ name: 'GUARITA_SIDECAR_NAMESPACES', value: '[{"create":true,"namespace":"lgpd-orders","serviceAccounts":["support-agent"]}]' });
  });
});
