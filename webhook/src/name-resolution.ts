// A pod's name resolution is guarita-proxy's too: every container of a pod shares the /etc/hosts
// the kubelet writes and the resolv.conf it builds, and the proxy resolves its target, the operator
// and the identity provider with them (glibc, `hosts: files dns`). What the pod's spec puts there
// can send the proxy's connections (the target's password, the ingest token, the keys it trusts)
// to another address, an agent container of the same pod included. In pods with the proxy:
// - /etc/hosts: hostAliases (round 7); the line for the pod's own hostname, `<podIP> <hostname>`
//   (spec.hostname, else the pod's name cut to 63 characters) and, with spec.subdomain,
//   `<hostname>.<subdomain>.<ns>.svc.<cluster domain>` (round 9): refused when it spells a host the
//   proxy resolves; spec.hostnameOverride (HostnameOverride gate) refused outright;
// - resolv.conf: dnsPolicy None and nameservers choose who answers (round 7); searches choose which
//   name is asked first (`<target>.<pod's domain>` before the target itself, under ndots), and
//   options other than a few timing and transport ones change the same, or, with whitespace, may
//   write lines of their own (round 9).
// The sidecar refuses upstream addresses of its own pod and loopback at connect time as well
// (sidecar/src/upstream-address.ts), which also covers policies created after the pod. Pure.
import type { AccessPolicy } from '../../crds/types.ts';
import { SIDECAR_NAME } from './constants.ts';
import type { Pod } from './kube-types.ts';

/** A host the proxy resolves, and why it does (for the refusal). */
export interface ResolvedHost { host: string; role: string }

/** The kubelet's cap on the pod's hostname (kubelet_pods.go truncatePodHostnameIfNeeded). */
const HOSTNAME_MAX = 63;

/**
 * The host of an endpoint as the sidecar reads it: a URL's hostname (WHATWG parsing: lower case,
 * percent-decoding and IDNA as the sidecar's own `new URL`), else `host:port` (postgres, ssh) with
 * IPv6 brackets removed. Lower case, without a final dot (the resolver asks the same name).
 */
export function endpointHost(endpoint: string): string | undefined {
  let host: string | undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) host = URL.canParse(endpoint) ? new URL(endpoint).hostname : undefined;
  else host = /^(.*):\d+$/.exec(endpoint)?.[1];
  if (host === undefined || host === '') return undefined;
  return comparable(host.replace(/^\[(.*)\]$/, '$1'));
}

function comparable(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Every host the proxy of a pod these policies select connects to by name. */
export function resolvedHosts(policies: readonly AccessPolicy[], operatorUrl: string): ResolvedHost[] {
  const hosts: ResolvedHost[] = [];
  const add = (host: string | undefined, role: string): void => {
    if (host !== undefined) hosts.push({ host, role });
  };
  for (const p of policies) {
    add(endpointHost(p.spec.target.endpoint), `the endpoint of target ${p.spec.target.name} (AccessPolicy ${p.metadata.name}), where the proxy presents the target's credentials`);
    const issuer = p.spec.identity.oidc?.issuer;
    if (issuer !== undefined) add(endpointHost(issuer), `the OIDC issuer of AccessPolicy ${p.metadata.name}, whose signing keys the proxy trusts`);
  }
  add(endpointHost(operatorUrl), 'the operator, to which the proxy sends its records with its ingest token');
  return hosts;
}

/** The hostname the kubelet writes into /etc/hosts for the pod's own IP (kubelet_pods.go GeneratePodHostNameAndDomain). */
export function effectiveHostname(pod: Pod): string | undefined {
  const hostname = typeof pod.spec.hostname === 'string' && pod.spec.hostname !== '' ? pod.spec.hostname : pod.metadata.name;
  if (hostname === undefined || hostname === '') return undefined;
  return hostname.length <= HOSTNAME_MAX ? hostname : hostname.slice(0, HOSTNAME_MAX).replace(/[-.]+$/, '');
}

function hostnameSource(pod: Pod): string {
  return typeof pod.spec.hostname === 'string' && pod.spec.hostname !== '' ? `spec.hostname ${pod.spec.hostname}` : `the pod's name (spec.hostname unset: the kubelet uses the name, cut to ${HOSTNAME_MAX} characters, as the hostname)`;
}

const HOSTS_FIX = 'choose another name (or spec.hostname) for the pod';

function subdomainOf(pod: Pod): string | undefined {
  return typeof pod.spec.subdomain === 'string' && pod.spec.subdomain !== '' ? pod.spec.subdomain : undefined;
}

/** `<hostname>.<subdomain>.<ns>.svc.<cluster domain>`: the webhook does not know the cluster domain, so any ending is refused. */
function fqdnViolations(pod: Pod, hostname: string, hosts: readonly ResolvedHost[]): string[] {
  const subdomain = subdomainOf(pod);
  if (subdomain === undefined) return [];
  // The apiserver sets the namespace before admission; without it, any namespace is refused.
  const namespace = pod.metadata.namespace;
  const prefix = namespace === undefined || namespace === '' ? `${hostname}.${subdomain}.` : `${hostname}.${subdomain}.${namespace}.svc.`;
  const lower = prefix.toLowerCase();
  return hosts.filter((h) => `${h.host}.`.startsWith(lower)).map((h) => `spec.hostname and spec.subdomain make the kubelet map ${prefix}<cluster domain> to the pod's own IP in /etc/hosts, which is ${SIDECAR_NAME}'s too, and ${h.host} is ${h.role}: an agent container listening there would receive that connection; choose another spec.hostname or spec.subdomain`);
}

/** The /etc/hosts lines for the pod's own IP, when they answer for a host the proxy resolves. */
export function hostnameViolations(pod: Pod, hosts: readonly ResolvedHost[]): string[] {
  const override = pod.spec.hostnameOverride === undefined || pod.spec.hostnameOverride === null ? [] : [
    `spec.hostnameOverride sets the hostname the kubelet writes into the pod's /etc/hosts, which is ${SIDECAR_NAME}'s too, mapped to the pod's own IP: remove it (governed pods keep the kubelet's hostname)`,
  ];
  const hostname = effectiveHostname(pod);
  if (hostname === undefined) return override;
  const own = comparable(hostname);
  const plain = hosts.filter((h) => h.host === own).map((h) => `${hostnameSource(pod)} is ${h.host}, ${h.role}: the kubelet maps the pod's hostname to the pod's own IP in /etc/hosts, which is ${SIDECAR_NAME}'s too, so an agent container listening there would receive that connection; ${HOSTS_FIX}`);
  return [...override, ...plain, ...fqdnViolations(pod, hostname, hosts)];
}

/** resolv.conf options that change neither which name is asked nor who answers (resolv.conf(5)). */
const FLAG_OPTIONS: ReadonlySet<string> = new Set(['single-request', 'single-request-reopen', 'edns0', 'use-vc', 'trust-ad']);
const NUMBER_OPTIONS: ReadonlySet<string> = new Set(['timeout', 'attempts', 'ndots']);
const ALLOWED_OPTIONS = [...NUMBER_OPTIONS, ...FLAG_OPTIONS].join(', ');

/** Whitespace or a control character: the runtime writes options into resolv.conf as `name:value`, one line for all. */
const UNWRITABLE = /[\s\p{Cc}]/u;

interface DnsOption { name?: unknown; value?: unknown }

/** An option's value as the runtime would write it (absent, or its text). */
function optionValue(o: DnsOption): string | undefined {
  if (o.value === undefined || o.value === null) return undefined;
  return typeof o.value === 'string' ? o.value : JSON.stringify(o.value);
}

function valueProblem(name: string, value: string | undefined, searches: boolean): string | undefined {
  if (NUMBER_OPTIONS.has(name)) {
    if (value !== undefined && !/^\d{1,2}$/.test(value)) return `${name} takes a number (0-99), got ${JSON.stringify(value)}`;
    return name === 'ndots' && searches ? 'ndots with spec.dnsConfig.searches chooses which names the pod\'s search domains are tried with first' : undefined;
  }
  return value === undefined || value === '' ? undefined : `${name} takes no value, got ${JSON.stringify(value)}`;
}

function optionProblem(o: DnsOption, searches: boolean): string | undefined {
  const name = typeof o.name === 'string' ? o.name : '';
  const value = optionValue(o);
  if (UNWRITABLE.test(name) || UNWRITABLE.test(value ?? '')) return `${JSON.stringify(name)}${value === undefined ? '' : `:${JSON.stringify(value)}`} holds whitespace or a control character, which could write a line of its own (a nameserver) into resolv.conf`;
  if (!NUMBER_OPTIONS.has(name) && !FLAG_OPTIONS.has(name)) return `${JSON.stringify(name)} is not one of ${ALLOWED_OPTIONS} (other options change which names are asked, or how answers are chosen)`;
  return valueProblem(name, value, searches);
}

function listOf(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

/** resolv.conf: nameservers, search domains and options the pod chooses. */
export function dnsViolations(pod: Pod): string[] {
  const out: string[] = [];
  const aliases = listOf(pod.spec.hostAliases).map((a) => (typeof a === 'object' && a !== null ? a : {}) as { hostnames?: unknown });
  if (aliases.length > 0) {
    const names = aliases.flatMap((a) => listOf(a.hostnames).map(String)).slice(0, 5).join(', ');
    out.push(`spec.hostAliases (${names}) writes the pod's /etc/hosts, which is ${SIDECAR_NAME}'s too: an alias can send its connections to the target (with its credentials), the operator or the identity provider to another address; remove hostAliases and publish the names in DNS`);
  }
  const dnsConfig = pod.spec.dnsConfig as { nameservers?: unknown; searches?: unknown; options?: unknown } | undefined;
  if (pod.spec.dnsPolicy === 'None' || listOf(dnsConfig?.nameservers).length > 0) {
    out.push(`spec.dnsPolicy None or spec.dnsConfig.nameservers chooses the nameservers ${SIDECAR_NAME} resolves its target, the operator and the identity provider with; remove them`);
  }
  const searches = listOf(dnsConfig?.searches).map(String);
  if (searches.length > 0) {
    out.push(`spec.dnsConfig.searches (${searches.slice(0, 5).join(', ')}) adds search domains to the pod's resolv.conf, which is ${SIDECAR_NAME}'s too: the resolver asks <target host>.<search domain> before the target's own name (any name with fewer dots than ndots), and whoever holds that domain answers for the target, the operator or the identity provider; remove spec.dnsConfig.searches and name services in full`);
  }
  listOf(dnsConfig?.options).forEach((o, i) => {
    const problem = optionProblem(typeof o === 'object' && o !== null ? o : {}, searches.length > 0);
    if (problem !== undefined) out.push(`spec.dnsConfig.options[${i}] ${problem}; the pod's resolv.conf is ${SIDECAR_NAME}'s too: remove the option (allowed: ${ALLOWED_OPTIONS}, ndots only without searches)`);
  });
  return out;
}
