// The host's side of a channel after the sidecar closed it (round 12c review): sshd confirms the
// close of a session channel only once its command has exited, so a command that ignores EOF held
// the record and every slot for as long as it ran. The sidecar waits a grace for the confirmation,
// then stops waiting.
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { HOST_CLOSE_GRACE_MS, watchHostSide, type HostEnd } from './host-side.ts';

/** A host channel: counts close() calls; `confirms` says whether (and how) sshd answers them. */
function hostChannel(confirms: 'never' | 'at once' | 'later'): EventEmitter & { close(): void; closes: number } {
  const host = Object.assign(new EventEmitter(), {
    closes: 0,
    close(): void {
      host.closes++;
      if (confirms === 'at once') host.emit('close');
      if (confirms === 'later') setTimeout(() => host.emit('close'), HOST_CLOSE_GRACE_MS / 2);
    },
  });
  return host;
}

function settledWith(p: Promise<HostEnd>): { value: HostEnd | undefined } {
  const box: { value: HostEnd | undefined } = { value: undefined };
  void p.then((v) => { box.value = v; });
  return box;
}

beforeEach(() => { jest.useFakeTimers(); });
afterEach(() => { jest.useRealTimers(); });

describe('the host\'s side of a channel the sidecar closed', () => {
  it('a host that never confirms the close (a command ignoring EOF) is given up after the grace, not waited for', async () => {
    const host = hostChannel('never');
    const side = watchHostSide(host);
    const ended = settledWith(side.ended);
    side.close();
    await jest.advanceTimersByTimeAsync(HOST_CLOSE_GRACE_MS - 1);
    expect(ended.value).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(ended.value).toBe('abandoned');
    expect(host.closes).toBe(1);
  });

  it.each<['at once' | 'later']>([['at once'], ['later']])('a host that confirms within the grace (%s) has closed: its exit status is read', async (confirms) => {
    const host = hostChannel(confirms);
    const side = watchHostSide(host);
    const ended = settledWith(side.ended);
    side.close();
    await jest.advanceTimersByTimeAsync(HOST_CLOSE_GRACE_MS * 2);
    expect(ended.value).toBe('closed');
  });

  it('a host that closes by itself (the command ended) has closed, and no grace timer runs', async () => {
    const host = hostChannel('never');
    const side = watchHostSide(host);
    const ended = settledWith(side.ended);
    host.emit('close');
    await jest.advanceTimersByTimeAsync(0);
    expect(ended.value).toBe('closed');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('closing again (the bound, then a revocation, then a spool failure) asks the host once and keeps the first grace', async () => {
    const host = hostChannel('never');
    const side = watchHostSide(host, 100);
    const ended = settledWith(side.ended);
    side.close();
    await jest.advanceTimersByTimeAsync(60);
    side.close();
    side.close();
    await jest.advanceTimersByTimeAsync(40);
    expect(ended.value).toBe('abandoned');
    expect(host.closes).toBe(1);
  });

  it('a confirmation after the sidecar gave up changes nothing (settled once)', async () => {
    const host = hostChannel('never');
    const side = watchHostSide(host, 10);
    const ended = settledWith(side.ended);
    side.close();
    await jest.advanceTimersByTimeAsync(10);
    host.emit('close');
    await jest.advanceTimersByTimeAsync(0);
    expect(ended.value).toBe('abandoned');
  });

  it('the grace is below the shutdown\'s wait (3 s), so a shutdown records every channel', () => {
    expect(HOST_CLOSE_GRACE_MS).toBeLessThan(3_000);
  });
});
