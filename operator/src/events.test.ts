import { describe, expect, it } from '@jest/globals';
import { EventRecorder, NamespaceLines, eventMessage, shedOne, type EmitOptions, type ObjectRef, type WaitingEvent } from './events.ts';
import type { KubeApi } from './kube/client.ts';
import { createMetrics } from './metrics.ts';

// Round 11 review, finding 3: the recorder had one global line of 1000 waiting Events that dropped
// its oldest, so one agent's flood of ApprovalRequests pushed other teams' ApprovalRequested Events
// (their approvers' cue) out before they were written.

interface Written { namespace: string; name: string; reason: string; message: string }

/** An apiserver whose Event writes wait until the test lets them through. */
function gatedApi(): { api: KubeApi; written: Written[]; inFlight: () => number; releaseAll: () => Promise<void> } {
  const written: Written[] = [];
  let waiting: (() => void)[] = [];
  const api = {
    create: (_path: string, body: { involvedObject: ObjectRef; reason: string; message: string }) => new Promise<void>((resolve) => {
      waiting.push(() => {
        written.push({ namespace: body.involvedObject.namespace, name: body.involvedObject.name, reason: body.reason, message: body.message });
        resolve();
      });
    }),
  } as unknown as KubeApi;
  const releaseAll = async (): Promise<void> => {
    for (let i = 0; i < 100_000 && waiting.length > 0; i++) {
      const batch = waiting;
      waiting = [];
      batch.forEach((f) => f());
      await new Promise((r) => setImmediate(r));
    }
  };
  return { api, written, inFlight: () => waiting.length, releaseAll };
}

function logger(): { warn: (obj: object, msg: string) => void; lines: { obj: object; msg: string }[] } {
  const lines: { obj: object; msg: string }[] = [];
  return { lines, warn: (obj, msg) => lines.push({ obj, msg }) };
}

const ref = (namespace: string, name: string): ObjectRef => ({ apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', namespace, name });
const cue: EmitOptions = { priority: true };

function recorder(api: KubeApi, extra: { perNamespace?: number; total?: number; now?: () => number } = {}) {
  const log = logger();
  const metrics = createMetrics(false);
  const events = new EventRecorder(api, {
    component: 'guarita-operator', instance: 't', log, metrics,
    ...(extra.perNamespace === undefined ? {} : { maxWaitingPerNamespace: extra.perNamespace }),
    ...(extra.total === undefined ? {} : { maxWaiting: extra.total }),
    ...(extra.now === undefined ? {} : { now: extra.now }),
  });
  const shed = async (namespace: string, outcome: string): Promise<number> => {
    const m = (await metrics.eventsShed.get()).values.find((v) => v.labels.namespace === namespace && v.labels.outcome === outcome);
    return m?.value ?? 0;
  };
  return { events, log, shed };
}

describe('EventRecorder under a flood', () => {
  it('writes another namespace\'s Event next, however many one namespace has waiting', async () => {
    const g = gatedApi();
    const { events } = recorder(g.api);
    for (let i = 0; i < 5000; i++) events.emit(ref('team-a', `flood-${i}`), 'Normal', 'ApprovalRequested', 'asks', { ...cue, by: 'agent-a' });
    events.emit(ref('team-b', 'refund-export'), 'Normal', 'ApprovalRequested', 'asks', { ...cue, by: 'bob' });
    expect(g.inFlight()).toBe(8); // team-a's first eight are being written
    await g.releaseAll();
    const order = g.written.map((w) => w.namespace);
    // After the eight in flight, team-b's turn comes right after team-a's next one.
    expect(order.indexOf('team-b')).toBeLessThanOrEqual(9);
  });

  it('a full namespace line never drops another namespace\'s Events, routine or not', async () => {
    const g = gatedApi();
    const { events, shed } = recorder(g.api, { perNamespace: 10 });
    for (let i = 0; i < 3000; i++) {
      events.emit(ref('team-a', `flood-${i}`), 'Normal', 'ApprovalRequested', 'asks', { ...cue, by: 'agent-a' });
      events.emit(ref('team-a', `flood-${i}`), 'Warning', 'ReviewIgnored', 'noise');
      if (i % 300 === 299) {
        events.emit(ref('team-b', `refund-${i}`), 'Normal', 'ApprovalRequested', 'asks', { ...cue, by: 'bob' });
        events.emit(ref('team-c', `policy-${i}`), 'Normal', 'Ready', 'routine, but team-c\'s own');
      }
    }
    await g.releaseAll();
    expect(g.written.filter((w) => w.namespace === 'team-b').map((w) => w.name)).toEqual(Array.from({ length: 10 }, (_, k) => `refund-${k * 300 + 299}`));
    expect(g.written.filter((w) => w.namespace === 'team-c')).toHaveLength(10);
    expect(await shed('team-b', 'dropped') + await shed('team-b', 'collapsed') + await shed('team-c', 'dropped')).toBe(0);
    expect(await shed('team-a', 'dropped')).toBeGreaterThan(0);
  });

  it('sheds routine Events before any approval transition of the namespace', async () => {
    const g = gatedApi();
    const { events, shed } = recorder(g.api, { perNamespace: 5 });
    for (let i = 0; i < 8; i++) events.emit(ref('ns', `busy-${i}`), 'Normal', 'Ready', 'fills the writes in flight');
    for (let i = 0; i < 20; i++) events.emit(ref('ns', `r-${i}`), 'Warning', 'ReviewIgnored', 'routine');
    for (const [name, reason] of [['a', 'ApprovalRequested'], ['b', 'Approved'], ['c', 'Denied'], ['d', 'Expired'], ['e', 'Consumed']] as const) {
      events.emit(ref('ns', name), 'Normal', reason, 'transition', { ...cue, by: `requester-${name}` });
    }
    await g.releaseAll();
    expect(g.written.filter((w) => !w.name.startsWith('busy-') && !w.name.startsWith('r-')).map((w) => w.reason)).toEqual(['ApprovalRequested', 'Approved', 'Denied', 'Expired', 'Consumed']);
    expect(g.written.filter((w) => w.name.startsWith('r-'))).toHaveLength(0);
    expect(await shed('ns', 'dropped')).toBe(20);
  });

  it('collapses one requester\'s repeats into its oldest waiting Event, counting them, and keeps another requester\'s', async () => {
    const g = gatedApi();
    const { events, shed } = recorder(g.api, { perNamespace: 10 });
    for (let i = 0; i < 8; i++) events.emit(ref('team-a', `busy-${i}`), 'Normal', 'Ready', 'fills the writes in flight');
    events.emit(ref('team-a', 'flood-0'), 'Normal', 'ApprovalRequested', 'agent-a asks', { ...cue, by: 'agent-a' });
    events.emit(ref('team-a', 'bob-1'), 'Normal', 'ApprovalRequested', 'bob asks', { ...cue, by: 'bob' });
    for (let i = 1; i < 500; i++) events.emit(ref('team-a', `flood-${i}`), 'Normal', 'ApprovalRequested', 'agent-a asks', { ...cue, by: 'agent-a' });
    events.emit(ref('team-a', 'bob-2'), 'Normal', 'ApprovalRequested', 'bob asks', { ...cue, by: 'bob' });
    await g.releaseAll();
    const cues = g.written.filter((w) => w.reason === 'ApprovalRequested');
    expect(cues.filter((w) => w.name.startsWith('bob-')).map((w) => w.name)).toEqual(['bob-1', 'bob-2']);
    const flood = cues.filter((w) => w.name.startsWith('flood-'));
    // Every one of agent-a's 500 is written or counted in the carrier's message: nothing vanishes.
    const counted = flood.map((w) => Number(/\[\+(\d+) more ApprovalRequested Event\(s\) from agent-a collapsed/.exec(w.message)?.[1] ?? 0));
    expect(flood.length + counted.reduce((a, b) => a + b, 0)).toBe(500);
    expect(flood[0]?.name).toBe('flood-0');
    expect(flood[0]?.message).toMatch(/^agent-a asks \[\+\d+ more ApprovalRequested Event\(s\) from agent-a collapsed into this one: namespace team-a had too many Events waiting\]$/);
    expect(await shed('team-a', 'collapsed')).toBe(500 - flood.length);
  });

  it('never collapses different reasons or different requesters into one another', () => {
    const line: WaitingEvent[] = [
      { ref: ref('ns', 'x'), type: 'Normal', reason: 'ApprovalRequested', message: 'm', at: 0, priority: true, by: 'alice', collapsed: 0 },
      { ref: ref('ns', 'y'), type: 'Normal', reason: 'Approved', message: 'm', at: 0, priority: true, by: 'alice', collapsed: 0 },
      { ref: ref('ns', 'z'), type: 'Normal', reason: 'ApprovalRequested', message: 'm', at: 0, priority: true, by: 'bob', collapsed: 0 },
    ];
    // Nothing to collapse and nothing routine: the namespace's oldest goes, its own.
    expect(shedOne(line)).toBe('transition_dropped');
    expect(line.map((e) => e.ref.name)).toEqual(['y', 'z']);
  });

  it('collapses the largest group of repeats first, and a collapsed Event carries what it had collapsed', () => {
    const e = (name: string, by: string, collapsed = 0): WaitingEvent => ({ ref: ref('ns', name), type: 'Normal', reason: 'ApprovalRequested', message: 'm', at: 0, priority: true, by, collapsed });
    const line = [e('a1', 'alice'), e('b1', 'bob'), e('a2', 'alice'), e('b2', 'bob'), e('b3', 'bob', 4)];
    expect(shedOne(line)).toBe('collapsed');
    expect(line.map((x) => `${x.ref.name}+${x.collapsed}`)).toEqual(['a1+0', 'b1+5', 'a2+0', 'b2+0']);
  });

  it('keeps the collapse note when the message is cut to 1024 characters', () => {
    const msg = eventMessage({ ref: ref('ns', 'x'), type: 'Normal', reason: 'ApprovalRequested', message: 'x'.repeat(5000), at: 0, priority: true, by: 'agent-a', collapsed: 41 });
    expect(msg.length).toBeLessThanOrEqual(1024);
    expect(msg).toMatch(/\[\+41 more ApprovalRequested Event\(s\) from agent-a collapsed into this one: namespace ns had too many Events waiting\]$/);
  });

  it('past the overall bound sheds from the longest namespace line, never a shorter one', () => {
    const lines = new NamespaceLines(100, 50);
    const e = (ns: string, i: number): WaitingEvent => ({ ref: ref(ns, `e-${i}`), type: 'Normal', reason: 'ApprovalRequested', message: 'm', at: 0, priority: true, by: `${ns}-requester`, collapsed: 0 });
    for (let i = 0; i < 5; i++) lines.push(e('small', i));
    const shed = [];
    for (let i = 0; i < 60; i++) shed.push(...lines.push(e('big', i)));
    expect(lines.length).toBe(50);
    expect(shed.map((s) => s.namespace)).toEqual(Array.from({ length: 15 }, () => 'big'));
    const out: string[] = [];
    for (let x = lines.shift(); x !== undefined; x = lines.shift()) out.push(x.ref.namespace);
    expect(out.filter((ns) => ns === 'small')).toHaveLength(5);
  });

  it('logs a namespace\'s shedding once per interval and counts every one', async () => {
    const g = gatedApi();
    let now = 0;
    const { events, log, shed } = recorder(g.api, { perNamespace: 2, now: () => now });
    const burst = (from: number): void => {
      for (let i = from; i < from + 30; i++) events.emit(ref('team-a', `n-${i}`), 'Warning', 'ReviewIgnored', 'routine');
    };
    burst(0);
    now += 30_000;
    burst(100);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]?.obj).toMatchObject({ namespace: 'team-a', dropped: 1, collapsed: 0 });
    now += 31_000;
    burst(200);
    expect(log.lines).toHaveLength(2);
    expect(log.lines[1]?.obj).toMatchObject({ namespace: 'team-a' });
    expect((log.lines[1]?.obj as { dropped: number }).dropped).toBeGreaterThan(1);
    expect(await shed('team-a', 'dropped')).toBe(3 * 30 - 8 - 2);
    await g.releaseAll();
  });
});
