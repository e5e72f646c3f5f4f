// Round 5 review of 8ffc5bc: an exec held for approval whose resolution was skipped (no rule of the
// policy then judged its operands), and a policy that needs resolution swapped in while the
// approver decides. The approved command must not run on paths nobody resolved: the sidecar
// resolves again once approved, and a request skipped before and resolved now (or a link that
// leads elsewhere) is refused. Through the real exec handling (handleSessionChannel), the real
// policy engine and resolutionMatters, against an in-process ssh2 host that counts what it runs.
import { posix } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import ssh2, { type Connection, type SFTPWrapper, type Stats } from 'ssh2';
import { compilePolicy, initPolicyEngine } from '../../../core/policy/index.ts';
import type { AccessPolicy } from '../../../crds/types.ts';
import { execOnce, startChannelRig, testSession, type ChannelRig, type ExecResult } from '../../test/ssh-channel-rig.ts';
import type { Session } from '../enforcement.ts';
import { generateHostKey } from './host-key.ts';
import { sshTestPolicy } from '../../../core/policy/corpus/ssh-policy.ts';

const { STATUS_CODE } = ssh2.utils.sftp;

const TREE: Record<string, string> = { '/home/u': '/home/u', '/home/u/link': '/secret/x.txt', '/data': '/data', '/data/ok.txt': '/data/ok.txt', '/secret/x.txt': '/secret/x.txt' };

const host = { sftpChannels: 0, execs: [] as string[] };

function serveSftp(sftp: SFTPWrapper): void {
  host.sftpChannels++;
  sftp.on('REALPATH', (id: number, path: string) => {
    const real = path === '.' ? '/home/u' : TREE[posix.normalize(path)];
    if (real === undefined) sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file');
    else sftp.name(id, [{ filename: real, longname: real, attrs: {} as Stats }]);
  });
  sftp.on('LSTAT', (id: number) => sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file'));
}

const APPROVE_CAT = { name: 'approve-cat', action: 'requireApproval', approval: { approverGroups: ['dpo'] }, match: { ssh: { commands: ['cat *'] } } };
const DENY_SECRET = { name: 'secret-args', action: 'deny', match: { ssh: { commands: ['* /secret/*'] } } };
/** Approval for any cat: no rule judges the operands, resolution is skipped. */
const skipping = sshTestPolicy([APPROVE_CAT]);
/** The same with a deny on the secret tree before it: resolution needed. */
const resolving = sshTestPolicy([DENY_SECRET, APPROVE_CAT]);

/** The policy in force before the approval wait, and the one swapped in while the approver decides. */
const policies: { before: AccessPolicy; during: AccessPolicy; now: AccessPolicy } = { before: skipping, during: skipping, now: skipping };

function approvingSession(): Session {
  return testSession({
    sshResolutionMatters: (request) => compilePolicy(policies.now).resolutionMatters(request, { purpose: 'p', access: true }),
    authorize: (command, hooks) => {
      const d = compilePolicy(policies.now).evaluate({ identity: { subject: 'u', groups: ['support'], kind: 'User' }, purpose: 'p', command });
      if (d.decision === 'deny') return Promise.resolve({ verdict: 'deny', decision: d, message: `denied: ${d.code}: ${d.reason}` });
      if (d.decision === 'requireApproval') {
        hooks?.onApprovalPending?.('ar-1', 'held for approval');
        // The approver decides; meanwhile the policy is replaced.
        policies.now = policies.during;
      }
      return Promise.resolve({ verdict: 'allow', decision: d, complete: () => Promise.resolve() });
    },
  });
}

const hostKey = generateHostKey();
let rig: ChannelRig | undefined;
const hostServer = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (conn: Connection) => {
  conn.on('authentication', (auth) => auth.accept());
  conn.on('session', (accept) => {
    const session = accept();
    session.on('sftp', (acceptSftp) => serveSftp(acceptSftp()));
    session.on('exec', (acceptExec, _reject, info) => { host.execs.push(info.command); const s = acceptExec(); s.exit(0); s.end(); });
  });
});

beforeAll(async () => {
  await initPolicyEngine();
  rig = await startChannelRig(hostKey, hostServer, undefined, { session: approvingSession, resolveTimeoutMs: 10_000 });
});

afterAll(() => { rig?.close(); });

beforeEach(() => { Object.assign(host, { sftpChannels: 0, execs: [] }); });

const exec = (command: string): Promise<ExecResult> => execOnce(rig?.sidecarPort ?? 0, command);

describe('a skipped resolution and a policy that needs it swapped in during the approval wait', () => {
  it('cat of a link into the secret tree, approved under "approve any cat", with a deny on the secret tree added meanwhile: refused, nothing runs', async () => {
    Object.assign(policies, { now: skipping, during: resolving });
    const r = await exec('cat /home/u/link');
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('changed while it waited for approval');
    expect(host.execs).toEqual([]);
  });

  it('a relative link (cat link) the same way: refused', async () => {
    Object.assign(policies, { now: skipping, during: resolving });
    const r = await exec('cat link');
    expect(r.code).toBe(126);
    expect(host.execs).toEqual([]);
  });

  it('the policy unchanged during the wait: the approved command runs, the host never asked', async () => {
    Object.assign(policies, { now: skipping, during: skipping });
    const r = await exec('cat /home/u/link');
    expect(r.code).toBe(0);
    expect(host.execs).toEqual(['cat /home/u/link']);
    expect(host.sftpChannels).toBe(0);
  });

  it('resolved before and after (a policy that needs it throughout), the paths unchanged: it runs', async () => {
    Object.assign(policies, { now: resolving, during: resolving });
    const r = await exec('cat /data/ok.txt');
    expect(r.code).toBe(0);
    expect(host.execs).toEqual(['cat /data/ok.txt']);
  });

  it('resolved before, skipped after (the deny removed during the wait): refused and run again (judged afresh)', async () => {
    Object.assign(policies, { now: resolving, during: skipping });
    const r = await exec('cat /data/ok.txt');
    expect(r.code).toBe(126);
    expect(host.execs).toEqual([]);
  });
});
