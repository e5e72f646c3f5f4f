// The sidecar's SSH client towards the host (ssh2): endpoint from the AccessPolicy, user, private
// key and known_hosts from the target's credentials Secret (mounted into the sidecar only). Read
// per agent connection, so a rotated key or known_hosts applies to the next connection. The host
// key is verified against known_hosts before authentication: no trust on first use.
import { connect as netConnect } from 'node:net';
import ssh2, { type Client, type ConnectConfig } from 'ssh2';
import type { AccessPolicy } from '../../../crds/types.ts';
import { readCredential } from '../targets.ts';
import { upstreamLookup } from '../upstream-address.ts';
import { parseKnownHosts, verifyHostKey, type KnownHostKey } from './known-hosts.ts';

export interface SshUpstreamConfig {
  host: string;
  port: number;
  username: string;
  privateKey: string;
  knownHosts: KnownHostKey[];
}

/** Resolves the upstream from the policy and the mounted Secret; throws naming the field or key at fault. */
export function sshUpstream(policy: AccessPolicy, credentialsDir: string): SshUpstreamConfig {
  const target = policy.spec.target;
  const ref = target.credentialsSecretRef;
  if (ref === undefined) throw new Error(`AccessPolicy ${policy.metadata.name}: spec.target.credentialsSecretRef is required for an ssh target (username, private key, known_hosts)`);
  const split = /^(.*):(\d+)$/.exec(target.endpoint);
  if (split === null) throw new Error(`AccessPolicy ${policy.metadata.name}: spec.target.endpoint must be host:port`);
  const knownHosts = parseKnownHosts(readCredential(credentialsDir, target.name, ref.knownHostsKey ?? 'known_hosts', 'spec.target.credentialsSecretRef.knownHostsKey'));
  if (knownHosts.length === 0) throw new Error(`AccessPolicy ${policy.metadata.name}: the known_hosts of credentialsSecretRef ${ref.name} lists no host key (no trust on first use)`);
  return {
    host: (split[1] ?? '').replace(/^\[(.*)\]$/, '$1'),
    port: Number(split[2]),
    username: readCredential(credentialsDir, target.name, ref.usernameKey ?? 'username', 'spec.target.credentialsSecretRef.usernameKey').trim(),
    privateKey: readCredential(credentialsDir, target.name, ref.privateKeyKey ?? 'ssh-privatekey', 'spec.target.credentialsSecretRef.privateKeyKey'),
    knownHosts,
  };
}

export class UpstreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/** Connects and authenticates to the host; rejects with what went wrong (host key refused, auth failed, unreachable). */
export function connectUpstream(cfg: SshUpstreamConfig, opts: { readyTimeoutMs: number }): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let hostKeyProblem: string | undefined;
    const config: ConnectConfig = {
      host: cfg.host, port: cfg.port, username: cfg.username, privateKey: cfg.privateKey,
      // ssh2 connects without a lookup of ours: the socket is opened here, never to this pod's own
      // addresses (upstream-address.ts); ssh2 reports its errors and times the handshake as its own.
      sock: netConnect({ host: cfg.host, port: cfg.port, lookup: upstreamLookup }),
      readyTimeout: opts.readyTimeoutMs, keepaliveInterval: 30_000, keepaliveCountMax: 3,
      hostVerifier: (key: Buffer): boolean => {
        const verdict = verifyHostKey(cfg.knownHosts, cfg.host, cfg.port, key);
        if (!verdict.ok) hostKeyProblem = verdict.message;
        return verdict.ok;
      },
    };
    const fail = (err: Error): void => {
      client.removeAllListeners('ready');
      client.end();
      reject(new UpstreamError(hostKeyProblem === undefined ? `cannot reach the SSH host ${cfg.host}:${cfg.port}: ${err.message}` : `SSH host ${cfg.host}:${cfg.port} refused: ${hostKeyProblem}`));
    };
    client.once('error', fail);
    client.once('ready', () => {
      client.off('error', fail);
      // Later errors surface on the channels; an unhandled 'error' event would crash the process.
      client.on('error', () => undefined);
      resolve(client);
    });
    client.connect(config);
  });
}
