import { describe, expect, it } from '@jest/globals';
import { Informer, type KubeObject, type ListWatch } from './informer.ts';
import type { ListResult, WatchEvent } from './rest.ts';

interface Obj extends KubeObject { v: number }

const obj = (namespace: string, name: string, rv: string, v = 0): Obj => ({ metadata: { namespace, name, resourceVersion: rv }, v });

/** A list/watch source the test drives: the list answers what `items` holds, each watch is kept to be fed and ended. */
class Source implements ListWatch {
  items: Obj[] = [];
  rv = '1';
  lists = 0;
  watches: { query: Record<string, string>; onEvent: (e: WatchEvent<Obj>) => void; onDone: (err: unknown) => void; aborted: boolean }[] = [];
  list<T>(): Promise<ListResult<T>> {
    this.lists++;
    return Promise.resolve({ items: structuredClone(this.items) as unknown as T[], metadata: { resourceVersion: this.rv } });
  }
  watch<T>(_path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<{ abort(): void }> {
    const w = { query, onEvent: onEvent as unknown as (e: WatchEvent<Obj>) => void, onDone, aborted: false };
    this.watches.push(w);
    return Promise.resolve({ abort: () => { w.aborted = true; } });
  }
  last(): Source['watches'][number] {
    const w = this.watches.at(-1);
    if (w === undefined) throw new Error('no watch');
    return w;
  }
}

const quiet = { warn: (): void => undefined, info: (): void => undefined };
const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setImmediate(r));
};

describe('the shared informer (core/kube/informer.ts)', () => {
  it('indexes objects by namespace through adds, moves and deletes, and reports the old object', async () => {
    const src = new Source();
    src.items = [obj('a', 'p1', '1'), obj('b', 'p1', '1')];
    const changes: [string, string, number | undefined][] = [];
    const inf = new Informer<Obj>(src, { paths: ['/apis/x/v1/things'], log: quiet, onChange: (t, o, old) => changes.push([t, `${o.metadata.namespace}/${o.metadata.name}`, old?.v]) });
    expect(inf.synced()).toBe(false);
    await inf.start();
    expect(inf.synced()).toBe(true);
    expect(inf.list('a').map((o) => o.metadata.name)).toEqual(['p1']);
    expect(inf.list('c')).toEqual([]);
    src.last().onEvent({ type: 'ADDED', object: obj('a', 'p2', '2') });
    src.last().onEvent({ type: 'MODIFIED', object: obj('a', 'p1', '3', 7) });
    src.last().onEvent({ type: 'DELETED', object: obj('b', 'p1', '4') });
    expect(inf.list('a').map((o) => [o.metadata.name, o.v])).toEqual([['p1', 7], ['p2', 0]]);
    expect(inf.list('b')).toEqual([]);
    expect(inf.list()).toHaveLength(2);
    expect(inf.get('a', 'p1')?.v).toBe(7);
    expect(changes.slice(2)).toEqual([['added', 'a/p2', undefined], ['modified', 'a/p1', 0], ['deleted', 'b/p1', 0]]);
    inf.stop();
  });

  it('relists at once on 410 Gone, dropping from the index what disappeared meanwhile, and reports errors to onError', async () => {
    const src = new Source();
    src.items = [obj('a', 'p1', '1'), obj('a', 'p2', '1')];
    const errors: unknown[] = [];
    const inf = new Informer<Obj>(src, { paths: ['/apis/x/v1/things'], log: quiet, onChange: () => undefined, onError: (e) => errors.push(e) });
    await inf.start();
    src.items = [obj('a', 'p2', '5', 1)];
    src.rv = '5';
    src.last().onEvent({ type: 'ERROR', object: { code: 410, message: 'too old' } });
    src.last().onDone(null);
    await until(() => src.watches.length === 2);
    expect(src.lists).toBe(2);
    expect(src.last().query.resourceVersion).toBe('5');
    expect(inf.list('a').map((o) => [o.metadata.name, o.v])).toEqual([['p2', 1]]);
    expect(errors).toEqual([]); // 410 is the protocol, not an error
    inf.stop();
    expect(src.last().aborted).toBe(true);
  });
});
