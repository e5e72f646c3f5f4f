// The listener's host key: generated at every sidecar start (it never leaves the pod), and
// published with an ssh_config into a directory the injector mounts read-only into the agent
// containers, so the agent's ssh verifies the sidecar strictly (StrictHostKeyChecking yes): no
// trust on first use on the agent's side either. Files are replaced atomically (write, rename).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { askpassScript } from './token-parts.ts';

export interface HostKey { privateKey: string; publicKey: string }

/** Tries at most: each fails with probability 1/256 (below), so 16 in a row is ~3e-39. */
const KEYGEN_TRIES = 16;

/**
 * An Ed25519 key pair ssh2 can read back. ssh2's generateKeyPairSync strips leading zero bytes
 * from the public key (keygen.js parseDERs), so one key in 256 (a public key starting with 0x00)
 * comes out malformed and ssh2.Server refuses it ("Malformed OpenSSH private key"): the sidecar
 * failed to start its SSH listener once in 256 starts (mscdex/ssh2#1513, #1390; seen in CI). A pair
 * both halves of which parse is kept.
 */
export function generateSshKeyPair(): { private: string; public: string } {
  for (let i = 0; i < KEYGEN_TRIES; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
  }
  throw new Error(`ssh2 generated ${KEYGEN_TRIES} Ed25519 keys in a row it cannot read back`);
}

export function generateHostKey(): HostKey {
  const pair = generateSshKeyPair();
  // "ssh-ed25519 AAAA... comment": keep type and key only.
  const [type = '', key = ''] = pair.public.trim().split(/\s+/);
  return { privateKey: pair.private, publicKey: `${type} ${key}` };
}

function writeAtomic(file: string, content: string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, file);
}

/** The alias the agent's ssh checks the key under (HostKeyAlias), whatever name it connects with. */
export function hostKeyAlias(target: string): string {
  return `guarita-${target}`;
}

/** Writes <dir>/<target>/known_hosts, ssh_config and askpass (token-parts.ts); returns the directory. */
export function publishHostKey(dir: string, target: string, port: number, publicKey: string): string {
  const out = join(dir, target);
  mkdirSync(out, { recursive: true, mode: 0o755 });
  const knownHosts = join(out, 'known_hosts');
  writeAtomic(knownHosts, `${hostKeyAlias(target)},[127.0.0.1]:${port},[localhost]:${port} ${publicKey}\n`);
  writeAtomic(join(out, 'ssh_config'), [
    `# Written by the Guarita sidecar for target ${target}: ssh -F ${join(out, 'ssh_config')} PURPOSE@${target} COMMAND`,
    `# The password is the agent's token (OIDC or service account); the user name is the declared purpose.`,
    `# Tokens over 1023 bytes (service-account tokens): GUARITA_SSH_TOKEN_FILE=FILE SSH_ASKPASS=${join(out, 'askpass')} SSH_ASKPASS_REQUIRE=force`,
    `Host ${target} 127.0.0.1 localhost`,
    '  HostName 127.0.0.1',
    `  Port ${port}`,
    `  HostKeyAlias ${hostKeyAlias(target)}`,
    `  UserKnownHostsFile ${knownHosts}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  PubkeyAuthentication no',
    '  PreferredAuthentications keyboard-interactive,password',
    '  ForwardAgent no',
    '  ForwardX11 no',
    '',
  ].join('\n'));
  writeAtomic(join(out, 'askpass'), askpassScript(), 0o755);
  return out;
}
