import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { KnownHostsError, knownHostsName, parseKnownHosts, verifyHostKey } from './known-hosts.ts';

const KEY_A = Buffer.from('ssh-ed25519 key a, 32 bytes of it');
const KEY_B = Buffer.from('ssh-ed25519 key b, 32 bytes of it');
const b64 = (b: Buffer): string => b.toString('base64');

function hashed(name: string): string {
  const salt = Buffer.from('0123456789abcdefghij');
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts verification (no trust on first use)', () => {
  it('accepts the listed key for host:port, plain, comma-separated or hashed', () => {
    expect(verifyHostKey(parseKnownHosts(`[db.example]:2222 ssh-ed25519 ${b64(KEY_A)}\n`), 'db.example', 2222, KEY_A)).toEqual({ ok: true });
    expect(verifyHostKey(parseKnownHosts(`other,DB.example ssh-ed25519 ${b64(KEY_A)}`), 'db.example', 22, KEY_A)).toEqual({ ok: true });
    expect(verifyHostKey(parseKnownHosts(`${hashed('[10.0.0.5]:2200')} ssh-ed25519 ${b64(KEY_A)}`), '10.0.0.5', 2200, KEY_A)).toEqual({ ok: true });
  });

  it('refuses another key, a host with no entry, the wrong port, and a @revoked key, saying which', () => {
    const known = parseKnownHosts(`# comment\n\n[db.example]:2222 ssh-ed25519 ${b64(KEY_A)}\n@revoked [db.example]:2222 ssh-ed25519 ${b64(KEY_B)}\n`);
    expect(verifyHostKey(known, 'db.example', 2222, KEY_B)).toMatchObject({ ok: false, message: expect.stringContaining('@revoked') });
    expect(verifyHostKey(parseKnownHosts(`[db.example]:2222 ssh-ed25519 ${b64(KEY_A)}`), 'db.example', 2222, KEY_B)).toMatchObject({ ok: false, message: expect.stringContaining('does not match known_hosts') });
    expect(verifyHostKey(known, 'db.example', 22, KEY_A)).toMatchObject({ ok: false, message: expect.stringContaining('no trust on first use') });
    expect(verifyHostKey(known, 'other.example', 2222, KEY_A)).toMatchObject({ ok: false });
    expect(verifyHostKey(parseKnownHosts(`${hashed('[db.example]:2222')} ssh-ed25519 ${b64(KEY_A)}`), 'db.example', 22, KEY_A)).toMatchObject({ ok: false });
  });

  it('names the line of a malformed file and refuses @cert-authority', () => {
    expect(() => parseKnownHosts('db.example ssh-ed25519')).toThrow(KnownHostsError);
    expect(() => parseKnownHosts(`ok ssh-ed25519 ${b64(KEY_A)}\nbad line`)).toThrow('known_hosts line 2');
    expect(() => parseKnownHosts(`@cert-authority *.example ssh-ed25519 ${b64(KEY_A)}`)).toThrow('not supported');
    expect(knownHostsName('h', 22)).toBe('h');
    expect(knownHostsName('h', 2022)).toBe('[h]:2022');
  });
});
