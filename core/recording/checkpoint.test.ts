// Checkpoints as C2SP signed notes: the Go sumdb/note known answer (golang.org/x/mod/sumdb/note's
// PeterNeumann example, which any Go verifier accepts byte for byte), then every malformed form refused
// with its named reason.
import { describe, expect, it } from '@jest/globals';
import type { JsonWebKey } from 'node:crypto';
import {
  CheckpointError, checkpointTime, formatCheckpoint, isRealTime, noteKeyHash, noteVerifier, noteVerifierKey, parseCheckpoint, signCheckpoint, signNote, verifyCheckpoint,
  verifyNote, type Checkpoint, type CheckpointProblem,
} from './checkpoint.ts';
import { generateSigningKey, importSigningKey } from './keys.ts';
import { leafHash } from './merkle.ts';
import { isRealInstant } from './record-time.ts';

// golang.org/x/mod/sumdb/note: PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK… and its verifier key.
const GO_SEED = Buffer.from('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz', 'base64').subarray(1);
const GO_PUBLIC = Buffer.from('ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', 'base64').subarray(1);
const GO_TEXT = 'If you think cryptography is the answer to your problem,\nthen you don\'t know what your problem is.\n';
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
const GO_JWK: JsonWebKey = { kty: 'OKP', crv: 'Ed25519', x: GO_PUBLIC.toString('base64url'), d: GO_SEED.toString('base64url') };

const key = generateSigningKey();
const other = generateSigningKey();
const cp: Checkpoint = { origin: 'guarita/ns-a/agent-7/abc', size: 12345, rootHash: leafHash('root'), time: '2026-12-05T02:30:00.123Z' };
const note = signCheckpoint(cp, key);
const verifier = noteVerifier(key.publicJwk, key.keyId);

function refused(n: string, problem: CheckpointProblem, v = verifier): void {
  let err: unknown;
  try {
    verifyCheckpoint(n, v);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CheckpointError);
  expect((err as CheckpointError).problem).toBe(problem);
}

describe('signed notes: the Go sumdb/note known answer', () => {
  const goKey = importSigningKey(GO_JWK);

  it('key hash and verifier key match Go', () => {
    expect(noteKeyHash('PeterNeumann', goKey.publicJwk).toString('hex')).toBe('c74f20a3');
    expect(noteVerifierKey('PeterNeumann', goKey.publicJwk)).toBe('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
  });

  it('signing reproduces the Go note byte for byte, and it verifies', () => {
    expect(signNote(GO_TEXT, goKey, 'PeterNeumann')).toBe(GO_NOTE);
    expect(verifyNote(GO_NOTE, noteVerifier(goKey.publicJwk, 'PeterNeumann'))).toBe(GO_TEXT);
    expect(() => verifyNote(GO_NOTE.replace('cryptography', 'cryptographY'), noteVerifier(goKey.publicJwk, 'PeterNeumann'))).toThrow(/does not verify/);
  });
});

describe('checkpoints', () => {
  it('format: origin, size, base64 root, time extension, blank line, one signature line', () => {
    const lines = note.split('\n');
    expect(lines.slice(0, 5)).toEqual([cp.origin, '12345', cp.rootHash.toString('base64'), `time ${cp.time ?? ''}`, '']);
    expect(lines[5]).toMatch(new RegExp(`^\u2014 ${key.keyId.replace(/[-]/g, '\\-')} [A-Za-z0-9+/]{91}=$`));
    expect(lines[6]).toBe('');
    expect(formatCheckpoint(cp)).toBe(note.slice(0, note.indexOf('\n\n') + 1));
  });

  it('round trip: verify returns what was signed, extension lines included', () => {
    expect(verifyCheckpoint(note, verifier)).toEqual(cp);
    const ext = { ...cp, extensions: ['policy lgpd-orders'] };
    expect(verifyCheckpoint(signCheckpoint(ext, key), verifier)).toEqual(ext);
    const bare = { origin: 'o', size: 0, rootHash: leafHash('') };
    expect(verifyCheckpoint(signCheckpoint(bare, key), verifier)).toEqual(bare);
    expect(parseCheckpoint(note).checkpoint).toEqual(cp);
  });

  it('another key, or the same key under another name, is an unknown key', () => {
    refused(signCheckpoint(cp, other), 'unknown-key');
    refused(signCheckpoint(cp, key, 'someone-else'), 'unknown-key');
    expect(verifyCheckpoint(signCheckpoint(cp, other), [verifier, noteVerifier(other.publicJwk, other.keyId)])).toEqual(cp);
  });

  it('any altered byte of the text fails the signature', () => {
    refused(note.replace('12345', '12346'), 'bad-signature');
    refused(note.replace(cp.origin, 'guarita/ns-a/agent-7/abd'), 'bad-signature');
    refused(note.replace('02:30:00', '02:30:01'), 'bad-signature');
    const root = cp.rootHash.toString('base64');
    refused(note.replace(root, leafHash('other').toString('base64')), 'bad-signature');
    // The signature itself altered (keeping the key hash).
    const sigLine = note.split('\n')[5] as string;
    const blob = Buffer.from(sigLine.slice(sigLine.lastIndexOf(' ') + 1), 'base64');
    blob[10] = (blob[10] as number) ^ 1;
    refused(note.replace(sigLine, `${sigLine.slice(0, sigLine.lastIndexOf(' ') + 1)}${blob.toString('base64')}`), 'bad-signature');
  });

  const malformed: [string, string, CheckpointProblem][] = [
    ['no blank line', note.replace('\n\n', '\n'), 'missing-blank-line'],
    ['no signature line', `${formatCheckpoint(cp)}\n`, 'no-signature'],
    ['only two lines', signNote('o\n1\n', key), 'missing-lines'],
    ['empty origin', signNote(`\n1\n${cp.rootHash.toString('base64')}\n`, key), 'empty-origin'],
    ['size with a sign', note.replace('\n12345\n', '\n+12345\n'), 'bad-size'],
    ['size with leading zeros', note.replace('\n12345\n', '\n012345\n'), 'bad-size'],
    ['size in hex', note.replace('\n12345\n', '\n0x3039\n'), 'bad-size'],
    ['size with a space', note.replace('\n12345\n', '\n12345 \n'), 'bad-size'],
    ['size beyond 2^53', note.replace('\n12345\n', '\n9007199254740993\n'), 'bad-size'],
    ['root of 31 bytes', note.replace(cp.rootHash.toString('base64'), cp.rootHash.subarray(1).toString('base64')), 'bad-root-hash'],
    ['root of 33 bytes', note.replace(cp.rootHash.toString('base64'), Buffer.concat([cp.rootHash, Buffer.from([0])]).toString('base64')), 'bad-root-hash'],
    ['root in hex', note.replace(cp.rootHash.toString('base64'), cp.rootHash.toString('hex')), 'bad-root-hash'],
    ['root in base64url', note.replace(cp.rootHash.toString('base64'), cp.rootHash.toString('base64url')), 'bad-root-hash'],
    ['time not RFC 3339', note.replace(`time ${cp.time ?? ''}`, 'time yesterday'), 'bad-time'],
    ['two time lines', note.replace(`time ${cp.time ?? ''}\n`, `time ${cp.time ?? ''}\ntime ${cp.time ?? ''}\n`), 'bad-time'],
    ['signature line without em dash', note.replace('\u2014 ', '- '), 'bad-signature-line'],
    ['signature not base64', note.replace(/ ([A-Za-z0-9+/]{91}=)\n$/, ' !!!!\n'), 'bad-signature-line'],
    ['signature truncated', note.replace(/ ([A-Za-z0-9+/]{91}=)\n$/, (_m, b: string) => ` ${b.slice(0, 84)}\n`), 'bad-signature-line'],
    ['no final newline', note.slice(0, -1), 'bad-signature-line'],
    ['a second signature line', `${note}${note.split('\n')[5] ?? ''}\n`, 'extra-signature'],
    ['another signer added', `${note}${signCheckpoint(cp, other).split('\n')[5] ?? ''}\n`, 'extra-signature'],
    ['carriage returns', note.replace(/\n/g, '\r\n'), 'not-text'],
    ['too large', `${'x'.repeat(20000)}\n1\n${cp.rootHash.toString('base64')}\n\n`, 'too-large'],
  ];

  it.each(malformed)('refuses %s', (_what, bad, problem) => refused(bad, problem));

  it('errors name the problem and the fix', () => {
    expect(() => verifyCheckpoint(note.replace('\n12345\n', '\n012345\n'), verifier)).toThrow(/checkpoint: the tree size line must be a decimal number without sign or leading zeros \(got '012345'\)/);
    expect(() => formatCheckpoint({ ...cp, size: -1 })).toThrow(/non-negative integer/);
    expect(() => formatCheckpoint({ ...cp, origin: '' })).toThrow(/origin line is empty/);
    expect(() => formatCheckpoint({ ...cp, origin: 'a\nb' })).toThrow(/one line/);
    expect(() => formatCheckpoint({ ...cp, time: '2026-12-05' })).toThrow(/RFC 3339/);
    expect(() => formatCheckpoint({ ...cp, extensions: [''] })).toThrow(/empty/);
    expect(() => formatCheckpoint({ ...cp, rootHash: Buffer.alloc(20) })).toThrow(/32 bytes/);
    expect(() => signCheckpoint(cp, key, 'has space')).toThrow(/key name/);
  });
});

describe('checkpoint times name real instants (round 7 review)', () => {
  const key = generateSigningKey();
  const root = Buffer.alloc(32, 7);
  it('a time of the right form that is no date (month 13, 30 February, 24:00, second 60) is refused when signed and when read', () => {
    for (const time of ['2026-13-45T25:61:61Z', '2026-02-30T00:00:00Z', '2026-02-28T24:00:00Z', '2026-02-28T23:59:60Z', '2026-00-10T00:00:00Z']) {
      expect(isRealTime(time)).toBe(false);
      expect(() => signCheckpoint({ origin: 'o', size: 1, rootHash: root, time }, key)).toThrow(/real RFC 3339/);
      const forged = signNote(`o\n1\n${root.toString('base64')}\ntime ${time}\n`, key);
      expect(() => parseCheckpoint(forged)).toThrow(/real RFC 3339/);
    }
    for (const time of ['2026-02-28T23:59:59.999Z', '2024-02-29T00:00:00Z', '2026-12-06T03:04:05.678Z']) expect(isRealTime(time)).toBe(true);
  });

  it('checkpointTime reads the time line of a note (none: undefined), not a signature line', () => {
    const note = signCheckpoint({ origin: 'o', size: 1, rootHash: root, time: '2026-12-06T03:04:05.678Z' }, key);
    expect(checkpointTime(note)).toBe('2026-12-06T03:04:05.678Z');
    expect(checkpointTime(signCheckpoint({ origin: 'o', size: 1, rootHash: root }, key))).toBeUndefined();
  });
});

describe('record and checkpoint times agree with the calendar (arithmetic, not a Date round trip)', () => {
  it('every day of four years, each month edge and leap rule, reads as Date does', () => {
    for (const year of [1900, 2000, 2024, 2026]) {
      for (let month = 1; month <= 12; month++) {
        for (let day = 28; day <= 32; day++) {
          const date = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
          const ms = Date.parse(`${date}T00:00:00Z`);
          const real = Number.isFinite(ms) && new Date(ms).toISOString().startsWith(date);
          expect([date, isRealTime(`${date}T23:59:59.123456789Z`)]).toEqual([date, real]);
          expect([date, isRealInstant(`${date}T23:59:59-03:00`)]).toEqual([date, real]);
        }
      }
    }
  });

  it('records take any offset up to 23:59 and any fraction; checkpoints only Z and 9 digits', () => {
    expect(isRealInstant('2026-12-06T03:04:05.1234567891234+23:59')).toBe(true);
    for (const bad of ['2026-12-06T03:04:05+24:00', '2026-12-06T03:04:05-03:60', '2026-12-06T03:04:05', '2026-12-06 03:04:05Z', '2026-12-06T24:00:00Z', '2026-12-06T03:60:00Z', 12, undefined]) {
      expect([bad, isRealInstant(bad)]).toEqual([bad, false]);
    }
    expect(isRealTime('2026-12-06T03:04:05.123456789Z')).toBe(true);
    for (const bad of ['2026-12-06T03:04:05.1234567891Z', '2026-12-06T03:04:05+00:00', '0000-02-29T00:00:00Z'.replace('0000', '1900')]) expect([bad, isRealTime(bad)]).toEqual([bad, false]);
  });
});
