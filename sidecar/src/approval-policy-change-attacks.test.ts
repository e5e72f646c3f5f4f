// An approval answers the policy in force when it was asked for; the wait lasts up to
// GUARITA_APPROVAL_WAIT (an approval given earlier is found at once). The command runs only if
// the policy in force when the approval arrives still lets it: allowed, or held by the same rule
// with a plan the approval satisfies. Through the real enforcer over the example policy, the
// policy swapped during the wait as the policy watch would swap it.
import { describe, expect, it } from '@jest/globals';
import type { AccessPolicy } from '../../crds/types.ts';
import { exampleEnforcer, type ExampleEnforcer } from '../test/example-enforcer.ts';

const HELD = 'COPY orders TO STDOUT';
type Spec = AccessPolicy['spec'];
type Rule = Spec['rules'][number];

const rule = (spec: Spec, name: string): Rule => {
  const found = spec.rules.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no rule ${name}`);
  return found;
};

async function heldAcross(edit: ((spec: Spec) => void) | undefined): Promise<{ h: ExampleEnforcer; verdict: string; message: string }> {
  const h = await exampleEnforcer();
  const s = await h.open();
  if (edit !== undefined) {
    const changed = h.variant(edit);
    h.duringWait = () => h.use(changed);
  }
  const auth = await s.authorize({ protocol: 'postgres', sql: HELD });
  const message = auth.verdict === 'allow' ? '' : auth.message;
  if (auth.verdict === 'allow') await auth.complete({ result: { rows: 0, bytes: 0, sample: '', truncated: false }, masked: {}, durationMs: 1 });
  return { h, verdict: auth.verdict, message };
}

describe('a policy changed while an approval is awaited decides whether the approved command runs', () => {
  it('unchanged (or changed elsewhere): the approved command runs', async () => {
    expect((await heldAcross(undefined)).verdict).toBe('allow');
    expect((await heldAcross((spec) => { spec.masking = { ...(spec.masking ?? {}), style: 'redact' }; })).verdict).toBe('allow');
    // A lower bar for the same rule: the approval given still covers it.
    expect((await heldAcross((spec) => { rule(spec, 'exports-need-dpo').approval = { approverGroups: ['dpo'], minApprovals: 1, ttl: '5m' }; })).verdict).toBe('allow');
  });

  it('the rule turned into a deny: denied, recorded with the approval and why', async () => {
    const { h, verdict, message } = await heldAcross((spec) => {
      const r = rule(spec, 'exports-need-dpo');
      // sensitiveColumns names it as its approval rule: it goes with it.
      delete spec.sensitiveColumns;
      r.action = 'deny';
      delete r.approval;
    });
    expect(verdict).toBe('deny');
    expect(message).toMatch(/the policy changed while approval was awaited, and now denies it/);
    const last = h.records.filter((r) => r.type === 'command').at(-1);
    expect(last).toMatchObject({ decision: 'deny', rule: 'exports-need-dpo', approvalRequest: expect.stringMatching(/^ar-/) });
  });

  it('a deny rule added before it, or the rule removed (no rule matches): denied', async () => {
    const before = await heldAcross((spec) => { spec.rules.unshift({ name: 'freeze-exports', match: { sql: { traits: ['copyExport'] } }, action: 'deny' }); });
    expect(before).toMatchObject({ verdict: 'deny' });
    expect(before.message).toMatch(/rule freeze-exports/);
    const removed = await heldAcross((spec) => {
      delete spec.sensitiveColumns;
      spec.rules = spec.rules.filter((r) => r.name !== 'exports-need-dpo' && r.name !== 'allow-the-rest');
    });
    expect(removed.verdict).toBe('deny');
  });

  it('the same rule now asks for more approvals, or other approvers: denied, naming the rule to ask again under', async () => {
    const more = await heldAcross((spec) => { rule(spec, 'exports-need-dpo').approval = { approverGroups: ['dpo'], minApprovals: 2, ttl: '15m' }; });
    expect(more.verdict).toBe('deny');
    expect(more.message).toMatch(/rule exports-need-dpo now holds the command for another approval than the one given/);
    const others = await heldAcross((spec) => { rule(spec, 'exports-need-dpo').approval = { approverGroups: ['legal'], minApprovals: 1, ttl: '15m' }; });
    expect(others.verdict).toBe('deny');
  });

  it('another rule now holds it: denied (its approvers never saw it)', async () => {
    const moved = await heldAcross((spec) => {
      spec.rules.unshift({ name: 'exports-need-legal', match: { sql: { traits: ['copyExport'] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' } });
    });
    expect(moved.verdict).toBe('deny');
    expect(moved.message).toMatch(/rule exports-need-legal now holds the command/);
  });

  it('now allowed outright: runs', async () => {
    expect((await heldAcross((spec) => {
      delete spec.sensitiveColumns;
      spec.rules = spec.rules.filter((r) => r.name !== 'exports-need-dpo');
    })).verdict).toBe('allow');
  });

  it('the session\'s purpose no longer allowed: denied', async () => {
    const { verdict } = await heldAcross((spec) => { spec.purposes = [{ name: 'billing' }]; });
    expect(verdict).toBe('deny');
  });
});
