import { afterEach, describe, expect, it } from '@jest/globals';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPublicKey, verifyRecords, type SessionEvent } from '../../core/recording/index.ts';
import { Spool, SpoolError, SYNC_DELAY_MS, type SpoolRecord } from './spool.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'spool-test-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function event(n: number): SessionEvent {
  return {
    type: 'command', time: new Date(0).toISOString(), namespace: 'ns', pod: 'pod', policy: 'p', target: 't', protocol: 'http',
    sessionId: 's1', subject: 'agent', subjectKind: 'User', groups: ['support'], command: `GET /customers/${n}`, decision: 'allow',
  };
}

function readAll(dir: string): SpoolRecord[] {
  return readdirSync(dir).filter((n) => n.startsWith('seg-')).sort()
    .flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as SpoolRecord));
}

function verify(spool: Spool, records: SpoolRecord[]): ReturnType<typeof verifyRecords> {
  const pub = importPublicKey(spool.key.publicJwk);
  return verifyRecords(records, (id) => (id === spool.key.keyId ? pub : undefined));
}

describe('Spool', () => {
  it('appends a verifiable chain durably and group-commits concurrent appends', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(spool.chainId).toMatch(/^ns\/pod\/[0-9a-f]{12}$/);
    const records = await Promise.all(Array.from({ length: 50 }, (_, i) => spool.append(event(i))));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 50 });
    expect(spool.pendingCount).toBe(50);
    await spool.close();
  });

  it('continues the same chain after a restart, with the persisted key', async () => {
    const dir = tempDir();
    const first = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    await first.append(event(1));
    await first.append(event(2));
    await first.close();
    const second = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(second.chainId).toBe(first.chainId);
    expect(second.key.keyId).toBe(first.key.keyId);
    expect(second.position.seq).toBe(2);
    await second.append(event(3));
    expect(verify(second, readAll(dir))).toMatchObject({ ok: true, count: 3 });
    await second.close();
  });

  it('cuts a torn tail left by a crash (never acknowledged) and continues the chain', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    await spool.append(event(1));
    await spool.append(event(2));
    const segment = readdirSync(dir).find((n) => n.startsWith('seg-'))!;
    appendFileSync(join(dir, segment), '{"type":"command","seq":3,"trunc');
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    expect(reopened.position.seq).toBe(2);
    await reopened.append(event(3));
    expect(verify(reopened, readAll(dir))).toMatchObject({ ok: true, count: 3 });
  });

  it('refuses to continue past corruption in an earlier segment', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 200 });
    for (let i = 0; i < 4; i++) await spool.append(event(i));
    await spool.close();
    const segments = readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();
    expect(segments.length).toBeGreaterThan(1);
    const first = join(dir, segments[0]!);
    writeFileSync(first, readFileSync(first, 'utf8').replace('GET /customers/0', 'GET /customers/9'));
    await expect(Spool.open({ dir, chainPrefix: 'ns/pod' })).rejects.toThrow(/corrupt/);
  });

  it('forgets acknowledged records and deletes whole segments', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 300 });
    const records: SpoolRecord[] = [];
    for (let i = 0; i < 6; i++) records.push(await spool.append(event(i)));
    const before = readdirSync(dir).filter((n) => n.startsWith('seg-')).length;
    await spool.ack({ seq: 4, head: records[3]!.hash });
    expect(spool.pendingCount).toBe(2);
    expect(readdirSync(dir).filter((n) => n.startsWith('seg-')).length).toBeLessThan(before);
    expect((await spool.readAfter(4, 100, 1 << 20)).map((r) => r.seq)).toEqual([5, 6]);
    await expect(spool.ack({ seq: 5, head: 'f'.repeat(64) })).rejects.toThrow(/fork/);
    await spool.close();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 300 });
    expect(reopened.acked.seq).toBe(4);
    expect(reopened.position.seq).toBe(6);
    expect((await reopened.readAfter(4, 100, 1 << 20)).map((r) => r.seq)).toEqual([5, 6]);
  });

  it('resumes from the acknowledged position when every segment was delivered and deleted', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    const a = await spool.append(event(1));
    await spool.ack({ seq: 1, head: a.hash });
    expect(readdirSync(dir).filter((n) => n.startsWith('seg-'))).toEqual([]);
    await spool.close();
    const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod' });
    const b = await reopened.append(event(2));
    expect(b).toMatchObject({ seq: 2, prev: a.hash });
  });

  it('fails the appends of a failed write, and the chain continues from the last durable record', async () => {
    const dir = tempDir();
    let failing = false;
    const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', faults: { beforeWrite: () => { if (failing) throw new Error('ENOSPC: no space left on device'); } } });
    await spool.append(event(1));
    failing = true;
    await expect(spool.append(event(2))).rejects.toBeInstanceOf(SpoolError);
    expect(spool.health()).toMatchObject({ ok: false, message: expect.stringContaining('ENOSPC') });
    failing = false;
    // The volume takes writes again: the next probe (at most once a second) clears the failure.
    await new Promise((r) => setTimeout(r, 1100));
    expect(spool.health()).toEqual({ ok: true });
    const next = await spool.append(event(3));
    expect(next.seq).toBe(2);
    expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 2 });
  });

  describe('durability Written', () => {
    it('answers after the write, syncs within SYNC_DELAY_MS, and ships only what is synced', async () => {
      const dir = tempDir();
      let syncs = 0;
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', faults: { beforeSync: () => { syncs++; } } });
      let notified = 0;
      spool.onAppend(() => { notified++; });
      const records = await Promise.all([1, 2, 3].map((n) => spool.append(event(n), 'Written')));
      // Answered from the page cache: on file, not yet synced, not yet offered to the shipper.
      expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 3 });
      expect(syncs).toBe(0);
      expect(spool.position.seq).toBe(0);
      expect(await spool.readAfter(0, 100, 1 << 20)).toEqual([]);
      await new Promise((r) => setTimeout(r, SYNC_DELAY_MS + 40));
      expect(syncs).toBe(1);
      expect(notified).toBe(1);
      expect(spool.position).toEqual({ seq: 3, head: records[2]!.hash });
      expect((await spool.readAfter(0, 100, 1 << 20)).map((r) => r.seq)).toEqual([1, 2, 3]);
      await spool.close();
    });

    it('settle() syncs Written records at once, so a final flush counts them as pending (shutdown)', async () => {
      const dir = tempDir();
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
      const queued = [1, 2].map((n) => spool.append(event(n), 'Written'));
      expect(spool.pendingCount).toBe(0);
      await spool.settle();
      // No SYNC_DELAY_MS wait: both queued appends are written and synced when settle() returns.
      expect(spool.pendingCount).toBe(2);
      expect((await Promise.all(queued)).map((r) => r.seq)).toEqual([1, 2]);
      await spool.close();
    });

    it('a Synced append syncs the Written records before it in the same fdatasync', async () => {
      const dir = tempDir();
      let syncs = 0;
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', faults: { beforeSync: () => { syncs++; } } });
      await spool.append(event(1), 'Written');
      const strict = await spool.append(event(2), 'Synced');
      expect(syncs).toBe(1);
      expect(spool.position).toEqual({ seq: 2, head: strict.hash });
      await new Promise((r) => setTimeout(r, SYNC_DELAY_MS + 40));
      expect(syncs).toBe(1); // the timer found nothing left to sync
      await spool.close();
    });

    it('close() syncs what was only written; a reopened spool continues after it', async () => {
      const dir = tempDir();
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod' });
      await spool.append(event(1), 'Written');
      const last = await spool.append(event(2), 'Written');
      await spool.close();
      expect(spool.position).toEqual({ seq: 2, head: last.hash });
      const reopened = await Spool.open({ dir, chainPrefix: 'ns/pod' });
      expect(reopened.position.seq).toBe(2);
      expect(await reopened.append(event(3), 'Written')).toMatchObject({ seq: 3, prev: last.hash });
      await reopened.close();
    });

    it('a failed background sync refuses further requests until the volume recovers', async () => {
      const dir = tempDir();
      let failing = true;
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', faults: { beforeSync: () => { if (failing) throw new Error('EIO: i/o error'); } } });
      await spool.append(event(1), 'Written');
      await new Promise((r) => setTimeout(r, SYNC_DELAY_MS + 40));
      expect(spool.health()).toMatchObject({ ok: false, message: expect.stringContaining('EIO') });
      expect(spool.position.seq).toBe(0);
      // A Synced append while the volume still fails is refused, and nothing is shipped.
      await expect(spool.append(event(2), 'Synced')).rejects.toBeInstanceOf(SpoolError);
      failing = false;
      await new Promise((r) => setTimeout(r, 1100));
      expect(spool.health()).toEqual({ ok: true });
      const next = await spool.append(event(3), 'Synced');
      expect(next.seq).toBe(2);
      expect(spool.position.seq).toBe(2);
      expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 2 });
      await spool.close();
    });

    it('rolls segments without losing the sync of the segment it leaves', async () => {
      const dir = tempDir();
      let syncs = 0;
      const spool = await Spool.open({ dir, chainPrefix: 'ns/pod', segmentBytes: 600, faults: { beforeSync: () => { syncs++; } } });
      for (let n = 1; n <= 6; n++) await spool.append(event(n), 'Written');
      expect(readdirSync(dir).filter((n) => n.startsWith('seg-')).length).toBeGreaterThan(1);
      expect(syncs).toBeGreaterThan(0);
      await spool.close();
      expect(verify(spool, readAll(dir))).toMatchObject({ ok: true, count: 6 });
    });
  });
});
