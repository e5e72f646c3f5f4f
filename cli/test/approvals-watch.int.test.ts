// `guarita approvals --watch` against the real apiserver, as a real approver: the command runs as
// its own process (as `kubectl guarita` would), streams what changes, and ends on Ctrl-C. The
// relist after an expired version enters the watch with version 1, which the apiserver answers
// with a real 410 (too old resource version). KUBECONFIG with several files is compared with
// what kubectl itself makes of the same list.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../crds/definitions.ts';
import { kubectl, kubeconfigPath, requireKube } from '../../e2e/harness/state.ts';
import { runCommand } from '../../e2e/harness/exec.ts';
import { toYaml } from '../../e2e/support/examples.ts';
import { REPO_ROOT } from '../../e2e/harness/paths.ts';
import { loadKube } from '../src/kube.ts';
import { watchApprovalRequests, type ApprovalEvent } from '../src/approval-watch.ts';
import { runCli } from './run-cli.ts';

const ns = `cli-watch-${randomBytes(4).toString('hex')}`;
const admin = { user: 'admin' } as const;
const scratch = mkdtempSync(join(tmpdir(), 'guarita-kubeconfigs-'));

function request(name: string): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: ns },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'exports-need-dpo', requester: { username: 'support-agent', groups: ['support'], kind: 'User' },
      purpose: 'customer-support', target: { name: 'orders-db', protocol: 'postgres' },
      command: { text: `COPY ${name} TO STDOUT`, preview: `COPY ${name} TO STDOUT`, sha256: 'b'.repeat(64) },
      podRef: { name: 'support-agent' }, sessionId: 's-1', expiresAt: '2030-01-01T00:00:00Z',
    },
  };
}

async function admin_(args: string[], input?: string): Promise<void> {
  const r = await kubectl(args, { ...admin, ...(input === undefined ? {} : { input }) });
  expect(r).toEqual(expect.objectContaining({ code: 0 }));
}

/** The watch as a process: its stdout lines, waited on by content (no timing assumptions). */
class WatchProcess {
  readonly lines: string[] = [];
  readonly child: ChildProcessWithoutNullStreams;
  private waiters: (() => void)[] = [];
  stderr = '';

  constructor(args: string[], kubeconfig: string) {
    this.child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(REPO_ROOT, 'cli/src/main.ts'), ...args], { env: { PATH: process.env.PATH ?? '', HOME: scratch, KUBECONFIG: kubeconfig } });
    createInterface(this.child.stdout).on('line', (line) => { this.lines.push(line); this.waiters.forEach((w) => w()); });
    this.child.stderr.on('data', (c: Buffer) => { this.stderr += c.toString(); });
    this.child.on('exit', () => this.waiters.forEach((w) => w()));
  }

  /** Resolves with the first line (after `from`) that matches; rejects if the process ends first. */
  async line(match: (line: string) => boolean, from = 0): Promise<{ line: string; index: number }> {
    for (;;) {
      const index = this.lines.findIndex((l, i) => i >= from && match(l));
      if (index >= 0) return { line: this.lines[index] ?? '', index };
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the watch ended (${this.child.exitCode ?? this.child.signalCode}) before the line; stderr: ${this.stderr}; stdout: ${this.lines.join('\n')}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.waiters = [];
    }
  }

  /** Ctrl-C, and the exit code. */
  async interrupt(): Promise<number | null> {
    const exited = once(this.child, 'exit');
    this.child.kill('SIGINT');
    const [code] = await exited as [number | null];
    return code;
  }
}

const event = (line: string): ApprovalEvent => JSON.parse(line) as ApprovalEvent;

beforeAll(async () => {
  await admin_(['apply', '-f', join(REPO_ROOT, 'crds')]);
  await admin_(['create', 'namespace', ns]);
  await admin_(['apply', '-f', '-'], toYaml([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'approver', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dpo-approvers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
    // eve may list but not watch: the stream must end with what to ask for, not retry forever.
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'lister', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'eve-lists', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lister' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'eve' }] },
    request('export-1'),
  ]));
});

afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await kubectl(['delete', 'namespace', ns, '--wait=false'], admin);
});

describe('guarita approvals --watch', () => {
  it('-o json: one watch event per line for the list, then each new, changed and deleted request; Ctrl-C ends it with 0', async () => {
    const watch = new WatchProcess(['approvals', '--watch', '-o', 'json', '-n', ns], kubeconfigPath('dana'));
    try {
      const first = await watch.line((l) => event(l).object.metadata.name === 'export-1');
      expect(event(first.line).type).toBe('ADDED');
      await admin_(['apply', '-f', '-'], toYaml([request('export-2')]));
      const added = await watch.line((l) => event(l).object.metadata.name === 'export-2', first.index + 1);
      expect(event(added.line)).toEqual(expect.objectContaining({ type: 'ADDED', object: expect.objectContaining({ spec: expect.objectContaining({ purpose: 'customer-support' }) }) }));
      await admin_(['label', 'approvalrequest', 'export-2', '-n', ns, 'ticket=42']);
      const changed = await watch.line((l) => event(l).type === 'MODIFIED', added.index + 1);
      expect(event(changed.line).object.metadata.labels).toEqual({ ticket: '42' });
      await admin_(['delete', 'approvalrequest', 'export-2', '-n', ns]);
      const deleted = await watch.line((l) => event(l).type === 'DELETED', changed.index + 1);
      expect(event(deleted.line).object.metadata.name).toBe('export-2');
      // Every line is one complete JSON object.
      for (const l of watch.lines) expect(() => JSON.parse(l) as unknown).not.toThrow();
    } finally {
      expect(await watch.interrupt()).toBe(0);
    }
    expect(watch.stderr).toBe('');
  });

  it('table: the header once, then a row per event, as kubectl get -w prints them', async () => {
    const watch = new WatchProcess(['approvals', '-w', '-n', ns], kubeconfigPath('dana'));
    try {
      const header = await watch.line((l) => l.startsWith('NAME'));
      expect(header.index).toBe(0);
      expect(header.line.split(/\s{3,}/)).toEqual(['NAME', 'REQUESTER', 'PURPOSE', 'POLICY/RULE', 'COMMAND', 'PHASE', 'AGE']);
      await watch.line((l) => l.startsWith('export-1 ') && l.includes('COPY export-1 TO STDOUT') && l.includes('Pending'));
      await admin_(['apply', '-f', '-'], toYaml([request('export-3')]));
      await watch.line((l) => l.startsWith('export-3 '));
      expect(watch.lines.filter((l) => l.startsWith('NAME'))).toHaveLength(1);
    } finally {
      expect(await watch.interrupt()).toBe(0);
    }
  });

  it('ends cleanly when its reader goes away (| head -1): the next write fails with EPIPE and the watch stops', async () => {
    const watch = new WatchProcess(['approvals', '--watch', '-o', 'json', '-n', ns], kubeconfigPath('dana'));
    await watch.line((l) => event(l).object.metadata.name === 'export-1');
    const exited = once(watch.child, 'exit');
    watch.child.stdout.destroy();
    // Something to write: the first write after the reader left fails.
    await admin_(['apply', '-f', '-'], toYaml([request('after-reader-left')]));
    const [code] = await exited as [number | null];
    expect(code).toBe(0);
    expect(watch.stderr).toBe('');
  });

  it('--pending: requests waiting for a decision, and once more the change that decides one shown; decided ones never', async () => {
    await admin_(['apply', '-f', '-'], toYaml([request('pending-1'), request('decided-1')]));
    await admin_(['patch', 'approvalrequest', 'decided-1', '-n', ns, '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Denied"}}']);
    const watch = new WatchProcess(['approvals', '--watch', '--pending', '-o', 'json', '-n', ns], kubeconfigPath('dana'));
    try {
      const shown = await watch.line((l) => event(l).object.metadata.name === 'pending-1');
      await admin_(['patch', 'approvalrequest', 'pending-1', '-n', ns, '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Approved"}}']);
      const decided = await watch.line((l) => event(l).object.metadata.name === 'pending-1' && event(l).type === 'MODIFIED', shown.index + 1);
      expect(event(decided.line).object.status?.phase).toBe('Approved');
      // decided-1 was Denied before the watch started: never printed.
      expect(watch.lines.filter((l) => event(l).object.metadata.name === 'decided-1')).toEqual([]);
    } finally {
      expect(await watch.interrupt()).toBe(0);
    }
  });

  it('lists again when the apiserver expires the version (410) and reports only what it had not reported', async () => {
    const kube = loadKube({ namespace: ns }, { KUBECONFIG: kubeconfigPath('dana') });
    const controller = new AbortController();
    const events: ApprovalEvent[] = [];
    const relists: string[] = [];
    let notify = (): void => undefined;
    const until = async (done: () => boolean): Promise<void> => {
      while (!done()) await new Promise<void>((resolve) => { notify = resolve; });
    };
    const running = watchApprovalRequests(kube, {
      allNamespaces: false, signal: controller.signal, resourceVersion: '1',
      onEvent: (e) => { events.push(e); notify(); },
      onRelist: (reason) => { relists.push(reason); notify(); },
    });
    await until(() => events.some((e) => e.object.metadata.name === 'export-1'));
    expect(relists).toEqual([expect.stringMatching(/too old resource version/)]);
    await admin_(['apply', '-f', '-'], toYaml([request('export-4')]));
    await until(() => events.some((e) => e.object.metadata.name === 'export-4'));
    controller.abort();
    await running;
    // Each request reported once: the relist after the 410 is not followed by duplicates.
    const names = events.filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('ends with what to ask for when the user may list but not watch', async () => {
    const r = await runCli(['approvals', '--watch', '-n', ns], { env: { KUBECONFIG: kubeconfigPath('eve') } });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/watching ApprovalRequests in namespace .*: not authorized.*'watch' verb/);
  });

  it('-o yaml is refused: it cannot be streamed', async () => {
    const r = await runCli(['approvals', '--watch', '-o', 'yaml', '-n', ns], { env: { KUBECONFIG: kubeconfigPath('dana') } });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/-o json/);
  });
});

describe('KUBECONFIG with several files', () => {
  it('is merged as kubectl merges it: missing files skipped, the first current-context and the first of each name win', async () => {
    // eve's and dana's kubeconfigs both name their cluster guarita-harness: client-node's
    // loadFromDefault throws "Duplicate cluster" on this list; kubectl takes the first.
    const other = join(scratch, 'other.kubeconfig');
    writeFileSync(other, toYaml([{ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'guarita-harness', cluster: { server: 'https://203.0.113.1:6443' } }, { name: 'elsewhere', cluster: { server: 'https://203.0.113.2:6443' } }], users: [{ name: 'eve', user: { token: 'not-eve' } }], contexts: [{ name: 'eve', context: { cluster: 'elsewhere', user: 'eve' } }], 'current-context': 'eve' }]));
    const list = [join(scratch, 'missing.kubeconfig'), '', kubeconfigPath('eve'), other, kubeconfigPath('dana')].join(delimiter);
    const view = await runCommand(requireKube().kubectlPath, ['config', 'view', '--raw', '-o', 'json'], { env: { ...process.env, KUBECONFIG: list } });
    expect(view.code).toBe(0);
    const theirs = JSON.parse(view.stdout) as { 'current-context': string; clusters: { name: string; cluster: { server: string } }[]; contexts: { name: string; context: { cluster: string; user: string } }[]; users: { name: string }[] };
    const ours = loadKube({}, { KUBECONFIG: list }).kc;
    expect(ours.getCurrentContext()).toBe(theirs['current-context']);
    const byName = <T extends { name: string }>(xs: readonly T[]): string[] => xs.map((x) => x.name).sort();
    expect(byName(ours.clusters)).toEqual(byName(theirs.clusters));
    expect(byName(ours.contexts)).toEqual(byName(theirs.contexts));
    expect(byName(ours.users)).toEqual(byName(theirs.users));
    for (const c of theirs.clusters) expect(ours.getCluster(c.name)?.server).toBe(c.cluster.server);
    for (const c of theirs.contexts) expect(ours.getContextObject(c.name)).toEqual(expect.objectContaining({ cluster: c.context.cluster, user: c.context.user }));
    expect(ours.getUser('eve')?.token).not.toBe('not-eve');
  });

  it('acts as the merged context\'s user against the apiserver: eve by default (first current-context), dana with --context dana', async () => {
    const list = [kubeconfigPath('eve'), kubeconfigPath('dana')].join(delimiter);
    const label = (context: string | undefined, value: string): Promise<unknown> => loadKube({ namespace: ns, ...(context === undefined ? {} : { context }) }, { KUBECONFIG: list }).objects.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: ns, plural: 'approvalrequests', name: 'export-1', body: { metadata: { labels: { seen: value } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    // eve may not patch: the default context is the first file's.
    await expect(label(undefined, 'eve')).rejects.toMatchObject({ code: 403 });
    const patched = await label('dana', 'dana') as { metadata: { labels?: Record<string, string> } };
    expect(patched.metadata.labels).toEqual(expect.objectContaining({ seen: 'dana' }));
    const unknown = await runCli(['approvals', 'list', '-n', ns, '--context', 'nobody'], { env: { KUBECONFIG: list } });
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/--context nobody: no such context/);
  });
});
