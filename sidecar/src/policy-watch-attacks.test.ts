// Review (issue 19 round 4, noticed beside the command memo's attack: what decides that a policy
// changed): the watch skips recompiling an object whose metadata.generation it already compiled,
// so that the operator's status updates cost nothing. An AccessPolicy deleted and created again
// starts again at generation 1: when the watch missed both events (a relist after 410 Gone or a
// broken watch), the recreated policy has the generation the old one had, and the sidecar kept
// enforcing the deleted policy's rules (an admin's new revocation or deny rule never applied).
// The object's uid tells the two apart.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { AccessPolicy } from '../../crds/types.ts';
import type { KubeClient, WatchEvent } from './kube/client.ts';
import { silentLogger } from './log.ts';
import { PolicyWatch } from './policy-watch.ts';

const example = parse(readFileSync(join(import.meta.dirname, '../../examples/lgpd-orders/accesspolicy-http.yaml'), 'utf8')) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };

function policy(generation: number, uid: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...example, metadata: { ...example.metadata, namespace: 'ns', generation, uid, resourceVersion: String(100 + generation) }, spec: { ...example.spec, ...spec } };
}

type Handlers = { onConnected?(): void; onEvent(ev: WatchEvent<unknown>): void };

/** A list the test sets, and one watch the test drives. */
class FakeKube {
  items: unknown[] = [];
  handlers: Handlers | undefined;
  #fail: ((e: Error) => void) | undefined;
  #opened: (() => void)[] = [];

  request<T>(): Promise<T> {
    return Promise.resolve({ metadata: { resourceVersion: '100' }, items: this.items } as T);
  }

  opened(): Promise<void> {
    return this.handlers !== undefined ? Promise.resolve() : new Promise((r) => this.#opened.push(r));
  }

  /** 410 Gone: the watch ends and the client relists. */
  gone(): void {
    try {
      this.handlers?.onEvent({ type: 'ERROR', object: { code: 410, message: 'too old resource version' } });
    } catch (err) {
      // As the real client does: a throwing handler ends the watch with that error.
      this.#fail?.(err as Error);
    }
  }

  watchImpl(handlers: Handlers, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.handlers = handlers;
      this.#fail = reject;
      signal.addEventListener('abort', () => resolve(), { once: true });
      handlers.onConnected?.();
      for (const w of this.#opened.splice(0)) w();
    }).finally(() => { this.handlers = undefined; });
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

describe('PolicyWatch: a policy deleted and created again while the watch was away', () => {
  it('is compiled again on the relist although its generation is the old one\'s (uid differs)', async () => {
    const kube = new FakeKube();
    const compiled: unknown[] = [];
    const client = {
      request: <T>() => kube.request<T>(),
      watch: (_path: string, handlers: Handlers, opts: { signal: AbortSignal }) => kube.watchImpl(handlers, opts.signal),
    } as unknown as KubeClient;
    const watch = new PolicyWatch<AccessPolicy>({
      kube: client, namespace: 'ns', names: ['customers-api'], stalenessMs: 60_000, logger: silentLogger(),
      compile: (p) => { compiled.push(p); return p; },
    });
    kube.items = [policy(1, 'uid-old')];
    watch.start();
    await kube.opened();
    expect(compiled).toHaveLength(1);
    // Deleted and created again (a revocation added) while the watch was broken: the relist sees generation 1 again.
    kube.items = [policy(1, 'uid-new', { revokedSubjects: [{ kind: 'User', name: 'agent-7' }] })];
    kube.gone();
    await settle();
    const state = watch.get('customers-api');
    expect(state.state).toBe('ok');
    expect(state.state === 'ok' ? state.policy.metadata.uid : undefined).toBe('uid-new');
    expect(state.state === 'ok' ? state.policy.spec.revokedSubjects : undefined).toEqual([{ kind: 'User', name: 'agent-7' }]);
    // A status-only update of the same object (same uid and generation) is still not recompiled.
    const before = compiled.length;
    kube.handlers?.onEvent({ type: 'MODIFIED', object: policy(1, 'uid-new', { revokedSubjects: [{ kind: 'User', name: 'agent-7' }] }) });
    expect(compiled).toHaveLength(before);
    await watch.stop();
  });
});
