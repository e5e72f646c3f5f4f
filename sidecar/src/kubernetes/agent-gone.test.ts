// Waiting on the agent's connection leaves no listener behind (round 12b: listeners that outlived
// their exchange). drainedOrClosed: one wait per backpressured write of a watch or followed log;
// goneSignal: the upgrade path's "agent gone", seen also when the connection closed before it.
import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { drainedOrClosed } from '../listener-lifecycle.ts';
import { goneSignal } from './agent-gone.ts';

describe('drainedOrClosed', () => {
  it('N waits ended by drain leave no listener on the response (a race of events.once left one per wait)', async () => {
    const res = new EventEmitter();
    for (let i = 0; i < 1000; i++) {
      const wait = drainedOrClosed(res);
      res.emit('drain');
      await wait;
    }
    expect({ drain: res.listenerCount('drain'), close: res.listenerCount('close') }).toEqual({ drain: 0, close: 0 });
  });

  it('a wait ended by close leaves no drain listener either', async () => {
    const res = new EventEmitter();
    const wait = drainedOrClosed(res);
    res.emit('close');
    await wait;
    expect({ drain: res.listenerCount('drain'), close: res.listenerCount('close') }).toEqual({ drain: 0, close: 0 });
  });
});

describe('goneSignal', () => {
  it('a connection already gone gives a signal aborted at once (its close fired before anyone listened)', () => {
    const socket = new PassThrough();
    socket.destroy();
    const gone = goneSignal(socket);
    expect(String(gone.signal.reason)).toMatch(/the client closed the connection/);
    expect(socket.listenerCount('close')).toBe(0);
    gone.stop();
  });

  it('a half-closed connection (nothing more can be written to the agent) counts as gone', () => {
    const socket = new PassThrough();
    socket.end();
    expect(goneSignal(socket).signal.aborted).toBe(true);
  });

  it('a connection that closes later aborts it', async () => {
    const socket = new PassThrough();
    const gone = goneSignal(socket);
    expect(gone.signal.aborted).toBe(false);
    socket.destroy();
    await new Promise((r) => setImmediate(r));
    expect(gone.signal.aborted).toBe(true);
  });

  it('N exchanges stopped while their connection stays open leave no close listener on it', () => {
    const socket = new PassThrough();
    const before = socket.listenerCount('close');
    for (let i = 0; i < 100; i++) goneSignal(socket).stop();
    expect(socket.listenerCount('close')).toBe(before);
  });
});
