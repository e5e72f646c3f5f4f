import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { KubeClient, WatchEvent } from './kube/client.ts';
import { silentLogger } from './log.ts';
import { PolicyWatch, type PolicyState } from './policy-watch.ts';

const example = parse(readFileSync(join(import.meta.dirname, '../../examples/lgpd-orders/accesspolicy-http.yaml'), 'utf8')) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };

function policy(generation: number, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...example, metadata: { ...example.metadata, namespace: 'ns', generation, resourceVersion: String(100 + generation) }, spec: { ...example.spec, ...spec } };
}

type Handlers = { onConnected?(): void; onEvent(ev: WatchEvent<unknown>): void };

/** Just enough of the Kubernetes API: a list, and watches the test drives. */
class FakeKube {
  items: unknown[] = [];
  failing: Error | undefined;
  lists = 0;
  watch?: { handlers: Handlers; end(): void; fail(err: Error): void };
  #watchWaiters: (() => void)[] = [];

  request<T>(): Promise<T> {
    this.lists++;
    if (this.failing !== undefined) return Promise.reject(this.failing);
    return Promise.resolve({ metadata: { resourceVersion: '100' }, items: this.items } as T);
  }

  /** Delivers an event the way the real client does: a throwing handler ends the watch with that error. */
  emit(ev: WatchEvent<unknown>): void {
    try {
      this.watch?.handlers.onEvent(ev);
    } catch (err) {
      this.watch?.fail(err as Error);
    }
  }

  watchOpened(): Promise<void> {
    return this.watch === undefined ? new Promise((r) => this.#watchWaiters.push(r)) : Promise.resolve();
  }

  async watchImpl(handlers: Handlers, signal: AbortSignal): Promise<void> {
    if (this.failing !== undefined) throw this.failing;
    if (signal.aborted) throw new Error('aborted');
    try {
      await new Promise<void>((resolve, reject) => {
        this.watch = { handlers, end: resolve, fail: reject };
        signal.addEventListener('abort', () => resolve(), { once: true });
        handlers.onConnected?.();
        for (const w of this.#watchWaiters.splice(0)) w();
      });
    } finally {
      this.watch = undefined;
    }
  }
}

function setup(compile: (p: unknown) => string = () => 'compiled'): { kube: FakeKube; watch: PolicyWatch<string>; clock: { now: number }; changes: [string, PolicyState<string>][] } {
  const kube = new FakeKube();
  const clock = { now: 1_000_000 };
  const client = {
    request: <T>() => kube.request<T>(),
    watch: (_path: string, handlers: Handlers, opts: { signal: AbortSignal }) => kube.watchImpl(handlers, opts.signal),
  } as unknown as KubeClient;
  const watch = new PolicyWatch<string>({ kube: client, namespace: 'ns', names: ['customers-api'], compile, stalenessMs: 60_000, logger: silentLogger(), now: () => clock.now });
  const changes: [string, PolicyState<string>][] = [];
  watch.onChange((name, state) => changes.push([name, state]));
  return { kube, watch, clock, changes };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

describe('PolicyWatch', () => {
  it('refuses until the first list, then serves the compiled policy', async () => {
    const { kube, watch } = setup();
    kube.items = [policy(1)];
    expect(watch.availability()).toMatchObject({ ok: false, message: expect.stringContaining('not synced yet') });
    watch.start();
    await watch.whenSynced();
    expect(watch.availability()).toEqual({ ok: true });
    expect(watch.get('customers-api')).toMatchObject({ state: 'ok', compiled: 'compiled', generation: 1 });
    await watch.stop();
  });

  it('applies watch events: a new generation, status-only updates ignored, deletion', async () => {
    const { kube, watch, changes } = setup();
    kube.items = [policy(1)];
    watch.start();
    await kube.watchOpened();
    kube.watch?.handlers.onEvent({ type: 'MODIFIED', object: policy(1) });
    expect(changes).toHaveLength(1);
    kube.watch?.handlers.onEvent({ type: 'MODIFIED', object: policy(2, { revokedSubjects: [{ kind: 'User', name: 'x' }] }) });
    expect(watch.get('customers-api')).toMatchObject({ state: 'ok', generation: 2 });
    kube.watch?.handlers.onEvent({ type: 'DELETED', object: policy(2) });
    expect(watch.get('customers-api')).toEqual({ state: 'missing' });
    expect(changes.map(([, s]) => s.state)).toEqual(['ok', 'ok', 'missing']);
    await watch.stop();
  });

  it('marks a policy that fails validation or compilation invalid, naming the field', async () => {
    const { kube, watch } = setup((p) => {
      if ((p as { spec: { purposes: unknown[] } }).spec.purposes.length > 1) throw new Error('spec.purposes[1]: cannot compile');
      return 'compiled';
    });
    kube.items = [policy(1, { rules: [] })];
    watch.start();
    await watch.whenSynced();
    expect(watch.get('customers-api')).toMatchObject({ state: 'invalid', message: expect.stringContaining('spec.rules') });
    await kube.watchOpened();
    kube.watch?.handlers.onEvent({ type: 'MODIFIED', object: policy(2, { purposes: [{ name: 'a' }, { name: 'b' }] }) });
    expect(watch.get('customers-api')).toMatchObject({ state: 'invalid', message: expect.stringContaining('cannot be enforced: spec.purposes[1]') });
    await watch.stop();
  });

  it('relists at once after 410 Gone', async () => {
    const { kube, watch } = setup();
    kube.items = [policy(1)];
    watch.start();
    await kube.watchOpened();
    const lists = kube.lists;
    kube.items = [policy(3)];
    kube.emit({ type: 'ERROR', object: { code: 410, message: 'too old resource version' } });
    await settle();
    expect(watch.availability()).toEqual({ ok: true });
    expect(kube.lists).toBeGreaterThan(lists);
    expect(watch.get('customers-api')).toMatchObject({ generation: 3 });
    await watch.stop();
  });

  it('tolerates a broken watch up to the staleness bound, then refuses, and recovers', async () => {
    const { kube, watch, clock } = setup();
    kube.items = [policy(1)];
    watch.start();
    await kube.watchOpened();
    kube.failing = new Error('connect ECONNREFUSED apiserver');
    kube.watch?.fail(kube.failing);
    await settle();
    expect(watch.availability()).toEqual({ ok: true });
    clock.now += 59_000;
    expect(watch.availability()).toEqual({ ok: true });
    clock.now += 2_000;
    expect(watch.availability()).toMatchObject({ ok: false, message: expect.stringMatching(/watch has been broken for 61s \(bound 1m\): connect ECONNREFUSED/) });
    kube.failing = undefined;
    await kube.watchOpened();
    expect(watch.availability()).toEqual({ ok: true });
    await watch.stop();
  }, 20_000);
});
