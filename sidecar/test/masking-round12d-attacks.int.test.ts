// Round 12d review, end to end through the real SSH target (the in-process sidecar in front of the real sshd,
// ssh-inprocess-scenario.ts): a program prints a secret CPF in two visible halves separated by `35X` and a lone BEL,
// with a decoy CPF written with spaces across the BEL that ends a window title. The kept reading
// (core/masking/sequences.ts) masked the decoy and wrote the BEL back as a space, so the title ran to the next BEL and
// hid what separated the halves: the agent's terminal showed 529.982.247-25. Unit form:
// core/masking/masking-round12d-attacks.test.ts.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { InProcessSshScenario } from './ssh-inprocess-scenario.ts';

jest.setTimeout(120_000);

const t = new InProcessSshScenario('ssh-r12d', 'esc-host', 'ops');

beforeAll(async () => {
  await t.start({ rules: [{ name: 'ops-exec', match: { ssh: { requests: ['exec'] } }, action: 'allow' }] });
});

afterAll(async () => {
  await t.stop();
});

/** What the terminal shows: string sequences (OSC up to BEL or ST) and CSIs dropped, C0 controls but newline too. */
function screen(text: string): string {
  // eslint-disable-next-line no-control-regex -- escape sequences are what is removed
  return text.replace(/\u001b\][^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, '');
}

describe('round 12d: a mask written over a string terminator joins a CPF on the agent\'s screen', () => {
  it('printf of two halves around a title whose BEL a decoy CPF spans', async () => {
    const out = await t.run(String.raw`printf 'cpf 529.982\033]0;111 444 777\00735X\007.247-25 ok\n'`);
    // What sshd sent shows the halves apart on a terminal...
    expect(screen('cpf 529.982\u001b]0;111 444 777\u000735X\u0007.247-25 ok\n')).toBe('cpf 529.98235X.247-25 ok\n');
    // ...what the agent gets must not show the CPF whole.
    expect(screen(out)).not.toContain('529.982.247-25');
    // Added by the fix: the decoy is masked around the BEL, which stays where it was (core/masking/structure.ts).
    expect(out).toBe('cpf 529.982\u001b]0;*** *** ***\u000735X\u0007.247-25 ok\n');
  });
});
