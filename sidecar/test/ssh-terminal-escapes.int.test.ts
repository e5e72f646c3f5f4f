// Round 12c, through the real SSH target: the real sidecar in this process in front of the real OpenSSH sshd, the
// harness IdP and kube-apiserver; the agent is a raw ssh2 client that reads the raw bytes, as an LLM agent does. A
// program's output (`printf`, `cat` of a log) holds identifiers inside terminal escape sequences (a CSI's parameters,
// a title, an OSC 8 hyperlink's URL, a DCS or APC string, 8-bit forms) and split by sequences longer than the
// engine's first reading's bounds; each comes back masked, the sequences in place. Engine: core/masking/sequences.ts
// (terminal-escapes-round12.test.ts); SSH masker: sidecar/src/ssh/terminal-masker-sequences.test.ts.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { plainView } from '../../core/masking/decode.ts';
import { screenOf } from '../../core/masking/screen.ts';
import { InProcessSshScenario } from './ssh-inprocess-scenario.ts';

jest.setTimeout(120_000);

const t = new InProcessSshScenario('ssh-esc', 'esc-host', 'ops');

/** Writes the Python program `source` to the host's data directory as `name` and runs it (see run). */
function runPython(name: string, source: string): Promise<string> {
  const script = join(t.work, 'data', name);
  writeFileSync(script, source);
  return t.run(`python3 ${script}`);
}

beforeAll(async () => {
  await t.start({ rules: [{ name: 'ops-exec', match: { ssh: { requests: ['exec'] } }, action: 'allow' }] });
});

afterAll(async () => {
  await t.stop();
});

const E = '\u001b';
const ST = `${E}\\`;
/** What a terminal shows of the agent's output (core/masking/screen.ts). */
const shownOnScreen = (out: string): string => screenOf(plainView(out))?.map((v) => v.text).join('\n') ?? 'not the screen model\'s to tell';

describe('SSH output: identifiers inside terminal escape sequences reach the agent masked, the sequences in place', () => {
  it('printf of a CSI parameter, a title and an OSC 8 hyperlink (7-bit), and a DCS string', async () => {
    // printf's own escapes: \033 is ESC, \007 BEL, \\ a backslash.
    const out = await t.run(String.raw`printf 'cpf \033[52998224725m ok\n\033]0;cliente 529.982.247-25\007$ \n\033]8;;http://crm.example/c/52998224725\033\\ficha\033]8;;\033\\\n\033P0;1|doc 52998224725\033\\ fim\n'`);
    expect(out).toBe([
      `cpf ${E}[*********25m ok`,
      `${E}]0;cliente ***.***.***-25\u0007$ `,
      `${E}]8;;http://crm.example/c/*********25${ST}ficha${E}]8;;${ST}`,
      `${E}P0;1|doc *********25${ST} fim`,
      '',
    ].join('\n'));
  });

  it('cat of a log whose CPFs are split by a CSI past 24 parameters and by an APC string, and hidden in 8-bit forms', async () => {
    const log = [
      `cpf 529.982${E}[${'0;'.repeat(40)}m.247-25 ok`,
      `cpf 529.982${E}_a b c${ST}.247-25 ok`,
      'cpf \u009b52998224725m ok',
      '\u009d0;cpf 529.982.247-25\u009c ok',
      '',
    ].join('\n');
    const file = join(t.work, 'data', 'hostile.log');
    writeFileSync(file, log);
    const out = await t.run(`cat ${file}`);
    expect(out.split('\n')).toEqual(['cpf ***.***.***-25 ok', 'cpf ***.***.***-25 ok', 'cpf \u009b*********25m ok', '\u009d0;cpf ***.***.***-25\u009c ok', '']);
  });

  it('a title printed slowly, paused inside the sequence, is masked and kept whole', async () => {
    const out = await runPython('slow.py', String.raw`import sys, time
sys.stdout.write('\x1b]0;cliente 529.982'); sys.stdout.flush(); time.sleep(0.4)
sys.stdout.write('.247-25 x\x07$ \n'); sys.stdout.flush()
`);
    expect(out).toBe(`${E}]0;cliente ***.***.***-25 x\u0007$ \n`);
  });

  it('round 15: cursor moves, a repeat and a carriage return that show a CPF on the screen are masked where they write it', async () => {
    // printf's \033 is ESC (\067 and \070 the 7 and 8 after it, unambiguous to every printf), \r a carriage return:
    // cursor back over a decoy, a repeat that spells the digits, a saved cursor restored, a line start written over
    // (each shows a CPF on a terminal; none is a CPF as stored).
    const out = await t.run(String.raw`printf '529.982.247-2X\033[D5\ncpf 1\033[2b.4\033[2b.7\033[2b-35 ok\n529.982.247-2\033\067X\033\0705\n111 444 777529.982.247-25\r.166-33cpf \n'`);
    expect(out).toBe([`***.***.***-*X${E}[D*`, `cpf *${E}[2b.*${E}[2b.*${E}[2b-** ok`, `***.***.***-*${E}7X${E}8*`, '111 444 777***.***.***-**\r.166-33cpf ', ''].join('\n'));
    expect(shownOnScreen(out)).not.toMatch(/529\.982\.247-25|111\.444\.777-35/);
  });

  it('round 15: text emitted when the program paused, then the controls that show it whole: they are not run', async () => {
    // The space ends the word, so the idle flush emits the line so far (no identifier in it); the cursor move and the
    // deletion that would join `529.982` and `.247-25` arrive after it, and go out with their ESC written as `*`.
    const out = await runPython('pause-then-delete.py', String.raw`import sys, time
sys.stdout.write('529.982X.247-25 '); sys.stdout.flush(); time.sleep(0.4)
sys.stdout.write('\x1b[9D\x1b[P\n'); sys.stdout.flush()
`);
    expect(out).toBe('529.982X.247-25 *[9D*[P\n');
    expect(shownOnScreen(`529.982X.247-25 ${E}[9D${E}[P\n`)).toContain('529.982.247-25');
    expect(shownOnScreen(out)).not.toContain('529.982.247-25');
  });

  it('a CPF split by a DCS string holding spaces, paused inside the string (an idle flush there), is masked', async () => {
    expect(await runPython('slow-dcs.py', String.raw`import sys, time
sys.stdout.write('cpf 529.982\x1bPq a '); sys.stdout.flush(); time.sleep(0.4)
sys.stdout.write('b\x1b\\.247-25 ok\n'); sys.stdout.flush()
`)).toBe('cpf ***.***.***-25 ok\n');
  });
});
