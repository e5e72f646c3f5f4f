// Issue 19 round 4 review of the enforcer's command records: the memo (a session's last command
// text, masked, and its SHA-256, reused while the text and the masking plan are the same) and the
// bounded record of a text past 64 KiB. Attacked through the real enforcer and the real masker:
// the policy changing between authorize and complete, pipelined commands, two sessions under
// different plans, approvals, and identifiers (escaped ones included) where a long record is cut.
// Every record must be what masking the text afresh under the plan in force gives.
import { describe, expect, it } from '@jest/globals';
import type { SessionEvent } from '../../core/recording/index.ts';
import { exampleEnforcer, type ExampleEnforcer } from '../test/example-enforcer.ts';
import type { Authorization, Session } from './enforcement.ts';
import { COMMAND_RECORD_MAX_BYTES, sha256Hex } from './enforcer.ts';
import type { CompiledTarget } from './targets.ts';

const CPF = '529.982.247-25';
const sqlWith = (n: number): string => `SELECT id, total_cents FROM orders WHERE customer_cpf = '${CPF}' AND id = ${n}`;

const complete = (auth: Authorization): Promise<void> => {
  if (auth.verdict !== 'allow') throw new Error(`${auth.verdict}: ${'message' in auth ? auth.message : ''}`);
  return auth.complete({ result: { rows: 1, bytes: 10, sample: 'id\n1', truncated: false }, masked: {}, durationMs: 0.2 });
};
const afresh = (plan: CompiledTarget, sql: string): { command: string; commandSha256: string } => ({ command: plan.recordMasker.newSession().maskText(sql), commandSha256: sha256Hex(sql) });
const carried = (r: SessionEvent | undefined): { command: string | undefined; commandSha256: string | undefined } => ({ command: r?.command, commandSha256: r?.commandSha256 });
const commands = (h: ExampleEnforcer): SessionEvent[] => h.records.filter((r) => r.type === 'command');

describe('the command memo: a record is never another plan\'s or another text\'s', () => {
  it('the policy changes between authorize and complete of the same text: the record is masked under the plan in force at complete, as computed afresh', async () => {
    const h = await exampleEnforcer();
    const s = await h.open();
    await complete(await s.authorize({ protocol: 'postgres', sql: sqlWith(1) }));
    const auth = await s.authorize({ protocol: 'postgres', sql: sqlWith(1) });
    h.use(h.plans.redact);
    // The session sees the new plan at its next command; the pending complete records under it.
    const other = await s.authorize({ protocol: 'postgres', sql: 'SELECT 1' });
    await complete(auth);
    await complete(other);
    await complete(await s.authorize({ protocol: 'postgres', sql: sqlWith(1) }));
    expect(commands(h).map(carried)).toEqual([
      afresh(h.plans.partial, sqlWith(1)), afresh(h.plans.redact, sqlWith(1)), afresh(h.plans.redact, 'SELECT 1'), afresh(h.plans.redact, sqlWith(1)),
    ]);
  });

  it('pipelined commands completed out of order: each record carries its own text', async () => {
    const h = await exampleEnforcer();
    const s = await h.open();
    const a = await s.authorize({ protocol: 'postgres', sql: sqlWith(1) });
    const b = await s.authorize({ protocol: 'postgres', sql: sqlWith(2) });
    const c = await s.authorize({ protocol: 'postgres', sql: sqlWith(1) });
    await complete(b);
    await complete(a);
    await complete(c);
    expect(commands(h).map(carried)).toEqual([sqlWith(2), sqlWith(1), sqlWith(1)].map((sql) => afresh(h.plans.partial, sql)));
  });

  it('two sessions alternating the same and different texts across a plan change: no session gets the other\'s memo', async () => {
    const h = await exampleEnforcer();
    const [s1, s2] = [await h.open(), await h.open()];
    await complete(await s1.authorize({ protocol: 'postgres', sql: sqlWith(1) }));
    h.use(h.plans.redact);
    await complete(await s2.authorize({ protocol: 'postgres', sql: sqlWith(1) }));
    await complete(await s1.authorize({ protocol: 'postgres', sql: sqlWith(1) }));
    h.use(h.plans.partial);
    await complete(await s2.authorize({ protocol: 'postgres', sql: sqlWith(1) }));
    await complete(await s1.authorize({ protocol: 'postgres', sql: sqlWith(2) }));
    const bySession = (s: Session): { command: string | undefined; commandSha256: string | undefined }[] => commands(h).filter((r) => r.sessionId === s.id).map(carried);
    expect(bySession(s1)).toEqual([afresh(h.plans.partial, sqlWith(1)), afresh(h.plans.redact, sqlWith(1)), afresh(h.plans.partial, sqlWith(2))]);
    expect(bySession(s2)).toEqual([afresh(h.plans.redact, sqlWith(1)), afresh(h.plans.partial, sqlWith(1))]);
  });

  it('an approval held across a plan change: the request, the run and its consumption carry the text masked as computed afresh', async () => {
    const h = await exampleEnforcer();
    const s = await h.open();
    // Held for the DPO by the example policy (a personal column compared).
    const held = `SELECT nome FROM customers WHERE cpf = '${CPF}'`;
    const auth = await s.authorize({ protocol: 'postgres', sql: held });
    expect(auth.verdict).toBe('allow');
    h.use(h.plans.redact);
    await complete(await s.authorize({ protocol: 'postgres', sql: 'SELECT 2' }));
    await complete(auth);
    h.approve = 'denied';
    expect((await s.authorize({ protocol: 'postgres', sql: held })).verdict).toBe('deny');
    const requested = h.records.filter((r) => r.type === 'approval.requested').map(carried);
    expect(requested).toEqual([afresh(h.plans.partial, held), afresh(h.plans.redact, held)]);
    const runs = commands(h).filter((r) => r.commandSha256 === sha256Hex(held));
    expect(runs.map((r) => r.decision)).toEqual(['allow', 'deny']);
    expect(runs.map(carried)).toEqual([afresh(h.plans.redact, held), afresh(h.plans.redact, held)]);
    expect(h.records.some((r) => (r.command ?? '').includes(CPF) || (r.command ?? '').includes('52998224725'))).toBe(false);
  });
});

describe('a command past the record bound: escaped identifiers where masking stops', () => {
  const escapeU = (s: string): string => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  const email = escapeU('maria.aparecida.dos.santos.oliveira@exemplo.com.br');

  it('a \\u-escaped e-mail address at every offset across the 16 KiB marks of a long command: masked in the record, the record a prefix of the whole text masked', async () => {
    const h = await exampleEnforcer();
    const s = await h.open();
    for (const mark of [16_384, 32_768, COMMAND_RECORD_MAX_BYTES]) {
      for (let off = -email.length; off <= 8; off += 41) {
        const sql = `SELECT E'${'x'.repeat(mark + off - 10)} ${email} ${'y'.repeat(COMMAND_RECORD_MAX_BYTES)}'`;
        await complete(await s.authorize({ protocol: 'postgres', sql }));
        const r = commands(h).at(-1);
        expect(r?.commandTruncated).toBe(true);
        expect(r?.commandSha256).toBe(sha256Hex(sql));
        expect((r?.command ?? '').includes('\\u006d\\u0061')).toBe(false);
        expect(h.plans.partial.recordMasker.newSession().maskText(sql).startsWith(r?.command ?? '\u0000')).toBe(true);
      }
    }
  });
});
