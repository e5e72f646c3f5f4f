import { describe, expect, it, jest } from '@jest/globals';
import type { SessionEvent } from '../../core/recording/index.ts';
import { exampleEnforcer } from '../test/example-enforcer.ts';
import type { Session } from './enforcement.ts';
import { COMMAND_RECORD_MAX_BYTES, isoNow, sha256Hex } from './enforcer.ts';
import type { Metrics } from './metrics.ts';
import type { CompiledTarget } from './targets.ts';

describe('isoNow (a record\'s time, kept for the millisecond it names)', () => {
  it('is new Date().toISOString() of the current millisecond, also across millisecond boundaries', () => {
    let changes = 0;
    let previous = '';
    for (let i = 0; i < 20_000 && changes < 5; i++) {
      const before = Date.now();
      const text = isoNow();
      const after = Date.now();
      const ms = Date.parse(text);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
      expect(text).toBe(new Date(ms).toISOString());
      if (text !== previous) changes++;
      previous = text;
    }
    expect(changes).toBeGreaterThan(1);
  });

  it('follows the clock when it moves back or jumps (a reused text is never another millisecond\'s)', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 2, 3, 4, 5, 678) });
    try {
      expect(isoNow()).toBe('2026-01-02T03:04:05.678Z');
      jest.setSystemTime(Date.UTC(2025, 11, 31, 23, 59, 59, 999));
      expect(isoNow()).toBe('2025-12-31T23:59:59.999Z');
      jest.setSystemTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
      expect(isoNow()).toBe('2026-01-02T03:04:05.678Z');
      jest.setSystemTime(Date.UTC(2026, 0, 2, 3, 4, 5, 679));
      expect(isoNow()).toBe('2026-01-02T03:04:05.679Z');
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('a command record\'s masked text and SHA-256 (reused while a connection repeats a text)', () => {
  const cpf = '529.982.247-25';
  const sqlWith = (n: number): string => `SELECT id, total_cents FROM orders WHERE customer_cpf = '${cpf}' AND id = ${n}`;

  /** The real enforcer over the example policy with one open session; `use` swaps the policy in force as the watch would. */
  async function harness(): Promise<{
    session: Session; records: SessionEvent[]; metrics: Metrics; plans: { partial: CompiledTarget; redact: CompiledTarget }; use(plan: CompiledTarget): void;
  }> {
    const h = await exampleEnforcer();
    return { session: await h.open(), records: h.records, metrics: h.metrics, plans: h.plans, use: (plan) => h.use(plan) };
  }

  async function run(session: Session, sql: string): Promise<void> {
    const auth = await session.authorize({ protocol: 'postgres', sql });
    if (auth.verdict !== 'allow') throw new Error(`${auth.verdict}: ${'message' in auth ? auth.message : ''}`);
    await auth.complete({ result: { rows: 1, bytes: 10, sample: 'id\n1', truncated: false }, masked: {}, durationMs: 0.2 });
  }

  /** What the record of `sql` must carry under `plan`, computed afresh. */
  const expected = (plan: CompiledTarget, sql: string): { command: string; commandSha256: string } => ({ command: plan.recordMasker.newSession().maskText(sql), commandSha256: sha256Hex(sql) });
  const carried = (r: SessionEvent | undefined): { command: string | undefined; commandSha256: string | undefined } => ({ command: r?.command, commandSha256: r?.commandSha256 });

  it('the same text run again, other texts between, and the same text once more: every record as computed afresh', async () => {
    const h = await harness();
    const texts = [sqlWith(1), sqlWith(1), sqlWith(1), sqlWith(2), sqlWith(1), 'SELECT 1', 'SELECT 1', sqlWith(2)];
    for (const sql of texts) await run(h.session, sql);
    const commands = h.records.filter((r) => r.type === 'command');
    expect(commands.map(carried)).toEqual(texts.map((sql) => expected(h.plans.partial, sql)));
    // The masking is real: the CPF never reaches a record.
    expect(commands.every((r) => !(r.command ?? '').includes(cpf) && !(r.command ?? '').includes('52998224725'))).toBe(true);
  });

  it('a changed masking plan between two runs of the same text: the second record is masked under the new plan', async () => {
    const h = await harness();
    await run(h.session, sqlWith(1));
    h.use(h.plans.redact);
    await run(h.session, sqlWith(1));
    h.use(h.plans.partial);
    await run(h.session, sqlWith(1));
    const commands = h.records.filter((r) => r.type === 'command').map(carried);
    const partial = expected(h.plans.partial, sqlWith(1));
    const redact = expected(h.plans.redact, sqlWith(1));
    expect(partial.command).not.toBe(redact.command);
    expect(commands).toEqual([partial, redact, partial]);
  });

  it('a denied text run twice between allowed ones: each record as computed afresh, decisions counted per verdict and rule', async () => {
    const h = await harness();
    const denied = `DROP TABLE orders -- ${cpf}`;
    await run(h.session, denied.replace('DROP TABLE orders', 'SELECT 1'));
    for (let i = 0; i < 2; i++) {
      const auth = await h.session.authorize({ protocol: 'postgres', sql: denied });
      expect(auth.verdict).toBe('deny');
    }
    await run(h.session, sqlWith(3));
    const commands = h.records.filter((r) => r.type === 'command');
    expect(commands.map((r) => r.decision)).toEqual(['allow', 'deny', 'deny', 'allow']);
    expect(commands.map(carried)).toEqual([denied.replace('DROP TABLE orders', 'SELECT 1'), denied, denied, sqlWith(3)].map((sql) => expected(h.plans.partial, sql)));
    const decisions = (await h.metrics.decisions.get()).values.map((v) => [v.labels.decision, v.labels.rule, v.value]).sort();
    expect(decisions).toEqual([['allow', 'allow-the-rest', 2], ['deny', 'deny-ddl-and-dcl', 2]]);
  });

  describe('a text past the record bound (COMMAND_RECORD_MAX_BYTES): a masked prefix, the whole text\'s SHA-256, marked truncated', () => {
    const bound = COMMAND_RECORD_MAX_BYTES;
    const digits = /\d/;

    it('a multi-MiB query is denied unread and recorded as the first 64 KiB of its masked text, CPFs masked, SHA-256 of the whole', async () => {
      const h = await harness();
      const sql = `SELECT id FROM orders WHERE customer_cpf IN (${Array.from({ length: 200_000 }, () => `'${cpf}'`).join(',')})`;
      expect(sql.length).toBeGreaterThan(3 * 1024 * 1024);
      const auth = await h.session.authorize({ protocol: 'postgres', sql });
      expect(auth.verdict).toBe('deny');
      const [r] = h.records.filter((x) => x.type === 'command');
      expect(r?.commandTruncated).toBe(true);
      expect(r?.commandSha256).toBe(sha256Hex(sql));
      const recorded = r?.command ?? '';
      expect(Buffer.byteLength(recorded)).toBeLessThanOrEqual(bound);
      expect(Buffer.byteLength(recorded)).toBeGreaterThan(bound - 64);
      // Exactly a prefix of what masking the whole text gives (the same masks, nothing unmasked).
      expect(h.plans.partial.recordMasker.newSession().maskText(sql).startsWith(recorded)).toBe(true);
      expect(recorded.includes('529.982') || recorded.includes('52998')).toBe(false);
      // The session goes on, and the next record is a whole text again.
      await run(h.session, sqlWith(1));
      const next = h.records.filter((x) => x.type === 'command')[1];
      expect(carried(next)).toEqual(expected(h.plans.partial, sqlWith(1)));
      expect('commandTruncated' in (next ?? {})).toBe(false);
    });

    it('a CPF straddling the cut, at every offset across it: never a digit of it in the record (masked whole or left out)', async () => {
      const h = await harness();
      // Masks of the 'redact' style carry no digits, so any digit in a record is part of a CPF.
      h.use(h.plans.redact);
      const head = 'SELECT true -- ';
      for (let shift = -20; shift <= 4; shift++) {
        // Masked, the CPF becomes '[CPF]' at about the bound: the cut falls before, inside and after it.
        const sql = `${head}${'x'.repeat(bound - head.length + shift)} ${cpf} tail ${'y'.repeat(1000)}`;
        const auth = await h.session.authorize({ protocol: 'postgres', sql });
        expect(auth.verdict).toBe('allow');
        if (auth.verdict === 'allow') await auth.complete({ masked: {}, durationMs: 0 });
        const r = h.records.filter((x) => x.type === 'command').at(-1);
        expect(r?.commandTruncated).toBe(true);
        expect(r?.commandSha256).toBe(sha256Hex(sql));
        expect(digits.test(r?.command ?? '')).toBe(false);
        expect(h.plans.redact.recordMasker.newSession().maskText(sql).startsWith(r?.command ?? '\u0000')).toBe(true);
      }
    });

    it('multi-byte characters at the cut: never half a character; a text just within the bound is recorded whole as before', async () => {
      const h = await harness();
      for (const unit of ['é', '€', '😀']) {
        for (let pad = 0; pad < 4; pad++) {
          const sql = `SELECT '${'a'.repeat(pad)}${unit.repeat(Math.ceil(bound / Buffer.byteLength(unit)) + 10)}'`;
          await run(h.session, sql);
          const r = h.records.filter((x) => x.type === 'command').at(-1);
          const recorded = r?.command ?? '';
          expect(r?.commandTruncated).toBe(true);
          expect(Buffer.byteLength(recorded)).toBeLessThanOrEqual(bound);
          expect(Buffer.byteLength(recorded)).toBeGreaterThan(bound - 4);
          expect(recorded.includes('\ufffd')).toBe(false);
          expect(sql.startsWith(recorded)).toBe(true);
        }
      }
      const fits = `SELECT '${'z'.repeat(bound - 9)}'`;
      expect(Buffer.byteLength(fits)).toBe(bound);
      await run(h.session, fits);
      const whole = h.records.filter((x) => x.type === 'command').at(-1);
      expect(carried(whole)).toEqual(expected(h.plans.partial, fits));
      expect('commandTruncated' in (whole ?? {})).toBe(false);
    });

    it('a text masking shortens a lot (addresses): a shorter prefix, still a prefix of the masked whole; the same long text run twice records the same bytes', async () => {
      const h = await harness();
      const sql = `SELECT 1 -- ${Array.from({ length: 40_000 }, (_, i) => `${'a'.repeat(40)}${i}@example.com`).join(' ')}`;
      for (let i = 0; i < 2; i++) expect((await h.session.authorize({ protocol: 'postgres', sql })).verdict).toBe('deny');
      const [a, b] = h.records.filter((x) => x.type === 'command');
      expect(a?.commandTruncated).toBe(true);
      expect(carried(b)).toEqual(carried(a));
      expect(Buffer.byteLength(a?.command ?? '')).toBeLessThanOrEqual(bound);
      expect(h.plans.partial.recordMasker.newSession().maskText(sql).startsWith(a?.command ?? '\u0000')).toBe(true);
      expect((a?.command ?? '').includes('aaaaaaaaaa0@')).toBe(false);
    });
  });
});

describe('the channel a command arrived on (AuthorizeOptions.channel: SSH exec, shell and SFTP sessions)', () => {
  it('is carried by the command record whether allowed or denied, and absent when not given (other targets\' records unchanged)', async () => {
    const h = await exampleEnforcer();
    const session = await h.open();
    const allowed = await session.authorize({ protocol: 'postgres', sql: 'SELECT 1' }, { channel: 7 });
    if (allowed.verdict !== 'allow') throw new Error(`expected allow, got ${allowed.verdict}`);
    await allowed.complete({ result: { rows: 1 }, masked: {}, durationMs: 0.1 });
    const denied = await session.authorize({ protocol: 'postgres', sql: 'DROP TABLE customers' }, { channel: 9 });
    expect(denied.verdict).toBe('deny');
    const plain = await session.authorize({ protocol: 'postgres', sql: 'SELECT 2' });
    if (plain.verdict !== 'allow') throw new Error(`expected allow, got ${plain.verdict}`);
    await plain.complete({ result: { rows: 1 }, masked: {}, durationMs: 0.1 });
    const commands = h.records.filter((r) => r.type === 'command');
    expect(commands.map((r) => [r.decision, r.channel])).toEqual([['allow', 7], ['deny', 9], ['allow', undefined]]);
    expect('channel' in (commands[2] ?? {})).toBe(false);
  });
});
