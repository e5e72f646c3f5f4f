// Where the sidecar connects by name (its targets, the operator, OIDC issuers): never to its own
// pod. The kubelet's /etc/hosts, which every container of the pod shares and glibc reads before DNS,
// maps the pod's hostname (its name cut to 63 characters, or spec.hostname; with spec.subdomain
// also <hostname>.<subdomain>.<ns>.svc.<cluster domain>; or spec.hostnameOverride) to the pod's own
// IP: a pod named like its target's host had the proxy send the target's password, or its
// credential headers, to an agent container listening on the pod IP (round 9). Loopback is where
// every container of the pod listens too (`localhost` is in the same file). The webhook refuses the
// pods it can see doing this (webhook/src/name-resolution.ts); this lookup refuses it at connect
// time, whatever the source of the name, for policies created after the pod as well.
//
// GUARITA_POD_IPS (the downward API's status.podIPs, comma-separated) says the process runs in a
// pod: then the pod's addresses, loopback and the unspecified addresses (a connection to 0.0.0.0
// or :: reaches the local host) are refused. Without it (tests, a local run on the host's loopback)
// nothing is. IP literals are not looked up (net.connect connects to them as they are): an endpoint
// written as an address is the policy author's own choice, not name resolution.
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

export const POD_IPS_VARIABLE = 'GUARITA_POD_IPS';

/** The addresses refused, by why. */
export interface OwnAddresses { pod: BlockList; local: BlockList }

/**
 * GUARITA_POD_IPS: undefined outside a pod; in a pod, at least one address, each an IP. Throws
 * what is wrong (the caller names the variable: config.ts at start, the lookup otherwise).
 */
export function parsePodIps(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const ips = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (ips.length === 0) throw new Error('is set but lists no address: the injector sets it from the downward API (status.podIPs); unset it outside a pod');
  const bad = ips.find((ip) => isIP(ip) === 0);
  if (bad !== undefined) throw new Error(`must list the pod's IP addresses, comma-separated (the downward API's status.podIPs), got ${JSON.stringify(bad)}`);
  return ips;
}

function family(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 6 ? 'ipv6' : 'ipv4';
}

/** What a process with these pod addresses refuses (nothing without them). */
export function ownAddresses(podIps: readonly string[] | undefined): OwnAddresses {
  const pod = new BlockList();
  const local = new BlockList();
  if (podIps === undefined) return { pod, local };
  for (const ip of podIps) pod.addAddress(ip, family(ip));
  // BlockList matches IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 rules, and any IPv6 spelling.
  local.addSubnet('127.0.0.0', 8, 'ipv4');
  local.addSubnet('0.0.0.0', 8, 'ipv4');
  local.addAddress('::1', 'ipv6');
  local.addAddress('::', 'ipv6');
  return { pod, local };
}

/**
 * Why the proxy does not connect to `host` answered with `addresses`, or undefined when it may:
 * the pod's own addresses first (the /etc/hosts line for the pod's hostname), then loopback.
 */
export function refusal(host: string, addresses: readonly string[], own: OwnAddresses): string | undefined {
  const mine = addresses.find((a) => own.pod.check(a, family(a)));
  if (mine !== undefined) {
    const address = mine;
    return `guarita: ${host} resolves to ${address}, this pod's own address: the kubelet's /etc/hosts (which every container of the pod shares) maps the pod's hostname there (its name, spec.hostname and spec.subdomain, or spec.hostnameOverride), and any container of the pod can listen on it; the proxy does not connect upstream to its own pod: give the pod a name and hostname other than its upstreams' hosts`;
  }
  const address = addresses.find((a) => own.local.check(a, family(a)));
  if (address !== undefined) {
    return `guarita: ${host} resolves to ${address}, a loopback or unspecified address (localhost in /etc/hosts, or a DNS answer), where any container of this pod can listen; the proxy does not connect upstream to its own pod: name the upstream by an address outside the pod`;
  }
  return undefined;
}

/** An error net/tls report like their own resolution failures (code, hostname). */
class OwnAddressError extends Error {
  readonly code = 'EGUARITAOWNADDRESS';
  readonly hostname: string;
  constructor(message: string, hostname: string) {
    super(message);
    this.name = 'OwnAddressError';
    this.hostname = hostname;
  }
}

type Resolve = (hostname: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

const systemLookup: Resolve = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/**
 * A `lookup` for net.connect, tls.connect and undici's `connect` options: dns.lookup (every
 * address), then refused as a whole when any answer is one of `own()` (resolvers may order
 * answers differently on each call). `own` is read at each connection; a failure there refuses.
 */
export function guardedLookup(own: () => OwnAddresses, resolve: Resolve = systemLookup): LookupFunction {
  return (hostname, options, callback) => {
    const fail = (err: NodeJS.ErrnoException): void => callback(err, options.all === true ? [] : '', 0);
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) return fail(err);
      let why: string | undefined;
      try {
        const refused = own();
        why = refusal(hostname, addresses.map((a) => a.address), refused);
      } catch (e) {
        why = `guarita: cannot tell this pod's own addresses apart from ${hostname}'s: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (why !== undefined) return fail(new OwnAddressError(why, hostname));
      const first = addresses[0];
      if (options.all === true) return callback(null, addresses);
      return first === undefined ? fail(new OwnAddressError(`guarita: ${hostname} resolved to no address`, hostname)) : callback(null, first.address, first.family);
    });
  };
}

let fromEnvironment: OwnAddresses | undefined;

/** This process's own addresses, from GUARITA_POD_IPS (read once; config.ts refuses a bad value at start). */
function environmentAddresses(): OwnAddresses {
  if (fromEnvironment !== undefined) return fromEnvironment;
  try {
    fromEnvironment = ownAddresses(parsePodIps(process.env[POD_IPS_VARIABLE]));
  } catch (err) {
    throw new Error(`${POD_IPS_VARIABLE} ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return fromEnvironment;
}

/** The sidecar's lookup for every upstream it connects to by name. */
export const upstreamLookup: LookupFunction = guardedLookup(environmentAddresses);
