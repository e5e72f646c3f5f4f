// Upstream host-key verification against the known_hosts of the target's credentials Secret: no
// trust on first use. A key is accepted only when a line for the endpoint (host, or [host]:port
// for a port other than 22; plain, comma-separated or hashed |1|salt|hash names; wildcards are
// not honoured) lists exactly that key; @revoked lines refuse it; @cert-authority lines are not
// supported (they would need certificate checks) and are reported.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface KnownHostKey { names: string; keyType: string; key: Buffer; revoked: boolean }

export class KnownHostsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KnownHostsError';
  }
}

/** Parses known_hosts text; throws KnownHostsError naming the line at fault. */
export function parseKnownHosts(text: string): KnownHostKey[] {
  const keys: KnownHostKey[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    let fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith('@') === true) {
      if (fields[0] === '@revoked') revoked = true;
      else throw new KnownHostsError(`known_hosts line ${i + 1}: marker ${fields[0]} is not supported (only plain host keys and @revoked)`);
      fields = fields.slice(1);
    }
    const [names, keyType, b64] = fields;
    if (names === undefined || keyType === undefined || b64 === undefined || !/^[A-Za-z0-9+/]+=*$/.test(b64)) {
      throw new KnownHostsError(`known_hosts line ${i + 1}: expected "HOSTNAMES KEYTYPE BASE64-KEY" (the output of ssh-keyscan)`);
    }
    keys.push({ names, keyType, key: Buffer.from(b64, 'base64'), revoked });
  });
  return keys;
}

function hashedNameMatches(entry: string, name: string): boolean {
  const [, magic, salt, hash] = entry.split('|');
  if (magic !== '1' || salt === undefined || hash === undefined) return false;
  const want = Buffer.from(hash, 'base64');
  const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The name a known_hosts line uses for host:port (OpenSSH: bare host for 22, [host]:port otherwise). */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function lineNames(keyNames: string, name: string): boolean {
  return keyNames.split(',').some((n) => (n.startsWith('|1|') ? hashedNameMatches(n, name) : n.toLowerCase() === name.toLowerCase()));
}

export type HostKeyVerdict = { ok: true } | { ok: false; message: string };

/** Decides whether the upstream's host key (the raw SSH public key blob) is the endpoint's known key. */
export function verifyHostKey(known: readonly KnownHostKey[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const forHost = known.filter((k) => lineNames(k.names, name));
  if (forHost.some((k) => k.revoked && k.key.equals(key))) return { ok: false, message: `the host key of ${name} is marked @revoked in known_hosts` };
  if (forHost.some((k) => !k.revoked && k.key.equals(key))) return { ok: true };
  if (forHost.length === 0) return { ok: false, message: `known_hosts has no key for ${name} (no trust on first use: add the host's key, e.g. from ssh-keyscan checked out of band)` };
  return { ok: false, message: `the host key of ${name} does not match known_hosts (possible man-in-the-middle, or the host's key changed: update known_hosts in the target's credentials Secret)` };
}
