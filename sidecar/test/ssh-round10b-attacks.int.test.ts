// Round 10b: adversarial review of the round 10 SSH fixes (1e61d7e, a31bc56), through the real
// path: a real sshd, the sidecar process, the operator, the agent as a raw ssh2 client. Setup as in
// ssh-round10-attacks.int. Report: docs/security-model.md, "Round 10b review: runners, interpreters and awk".
//
// Finding A (program text on stdin, the round 10 finding 6 class): the stdin rule and
// COMMAND_RUNNERS match exact names, so programs installed under their versioned or variant
// names read program text from stdin unjudged: `tclsh8.6` (Debian's tcl8.6 binary; `tclsh` is only
// the alternatives link, and is a runner), and mawk's `-W exec FILE` (its -f that ends option
// reading), given /dev/stdin. Both are on this machine and most Debian/Ubuntu hosts (mawk is
// Debian's default awk).
//
// Finding B (SFTP intake): the round 10 bound is per SFTP channel (64 requests / 4 MiB), but an
// agent connection may hold 32 session channels and the sidecar takes 256 connections, so READs
// pipelined on many SFTP channels, answers never read, still grow the sidecar past its pod's 256 MiB.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshScenario, hostTree, rawOpen, reviewPolicy, sftpRead } from './ssh-scenario.ts';

const ssh = new SshScenario('sshr10b', 'files-host');
const PURPOSE = 'customer-support';
const OPS = 'ops';
const CPF = '529.982.247-25';

let work: string;
let secret: string;
let scratch: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-r10b-${ssh.id}-`));
  ({ secret, scratch } = hostTree(work, CPF));
  writeFileSync(join(scratch, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 0x61));
  writeFileSync(join(scratch, 'small.txt'), 'small file\n');
  await ssh.start(work, reviewPolicy({ secret, scratch, purpose: PURPOSE, ops: OPS, tunnels: false }));
}, 240_000);

afterAll(async () => {
  await ssh.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('finding A: interpreters under their versioned or variant spellings read program text from stdin', () => {
  const file = (): string => `${secret}/cliente-${CPF}/docs/contrato.txt`;

  it('control: tclsh, awk -f /dev/stdin and perl with no script are refused', async () => {
    expect((await ssh.execWithInput(OPS, 'tclsh', `puts "MARK:[exec cat ${file()}]"\n`)).code).toBe(126);
    expect((await ssh.execWithInput(OPS, 'mawk -f /dev/stdin', `BEGIN { while ((getline l < "${file()}") > 0) print "MARK:" l }\n`)).code).toBe(126);
    expect((await ssh.execWithInput(OPS, 'perl', `open(F, "<${file()}"); print "MARK:", <F>;\n`)).code).toBe(126);
  });

  it.each([
    // Debian's tcl8.6 binary; `tclsh` is only its alternatives link. Tcl's `exec` runs any command.
    ['tclsh8.6 (no script)', 'tclsh8.6', () => `puts "MARK:[exec cat ${file()}]"\n`],
    // mawk -W exec FILE: "Program text is read from file and this is the last option" (mawk(1)); Debian's default awk.
    ['mawk -W exec /dev/stdin', 'mawk -W exec /dev/stdin', () => `BEGIN { while ((getline l < "${file()}") > 0) print "MARK:" l }\n`],
  ])('%s under an allow-the-rest policy does not read the denied tree', async (_name, command, program) => {
    const r = await ssh.execWithInput(OPS, command, program());
    // On the reviewed code: exit 0 and stdout `MARK:cpf=***.***.***-25`: the program came on stdin,
    // never judged; `cat` of the same file is denied by the secret-commands rule.
    expect(r.stdout).not.toContain('MARK:');
    expect(r.code).toBe(126);
  });
});

// --- flood: last (the sidecar's memory is what it measures) ---

describe('finding B: the SFTP intake bounds each channel, not the agent', () => {
  it('READs pipelined on 2 connections x 30 SFTP channels, answers never read, keep the sidecar within 64 MiB more memory', async () => {
    const clients = [await ssh.connectAgent(PURPOSE), await ssh.connectAgent(PURPOSE)];
    try {
      const before = await ssh.rssMiB();
      const size = 8 * 1024 * 1024;
      for (const c of clients) {
        for (let n = 0; n < 30; n++) {
          const { ch, handle } = await rawOpen(c, `${scratch}/big.bin`);
          // 64 READs of 256 KiB: each channel's own bound (64 requests, 4 MiB) is what is admitted.
          ch.write(Buffer.concat(Array.from({ length: 64 }, (_, i) => sftpRead(100 + i, handle, (i * 256 * 1024) % size, 256 * 1024))));
        }
      }
      const peak = await ssh.peakRss(15_000);
      // On the reviewed code: each channel admits its 4 MiB of READs and its answers wait for an
      // agent that never reads; 60 channels hold about 60 x 4 MiB (the round 10 test's own bound,
      // 64 MiB, is met by one channel only).
      expect(peak - before).toBeLessThan(64);
      // Fair share (fix): the flood's unread answers fill the shared budget, yet another agent
      // connection is still served, a request at a time at least.
      const other = await ssh.connectAgent(PURPOSE);
      clients.push(other);
      const small = await new Promise<string>((resolve, reject) => other.sftp((err, sftp) => {
        if (err) return reject(err);
        sftp.readFile(`${scratch}/small.txt`, (e, data) => (e ? reject(e) : resolve(data.toString('utf8'))));
      }));
      expect(small).toBe('small file\n');
    } finally {
      for (const c of clients) c.end();
    }
  }, 120_000);
});
