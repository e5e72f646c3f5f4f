// The key a client address is charged under by the service-account review budget (round 12, F1).
// The budget bounds the TokenReviews one source can cause; it is only a bound if the agent cannot
// make up new sources. On Linux every address of 127.0.0.0/8 is this host's and binding one needs
// no privilege (`curl --interface 127.0.0.9`), so keyed by the raw address, sixty connections from
// sixty loopback addresses had sixty fresh budgets. Keys are therefore what the agent cannot vary:
// - every loopback spelling (127.0.0.0/8, ::1, IPv4-mapped ::ffff:127.x.y.z in dotted or hex form,
//   zero-padded or upper-case forms, with or without a zone) is one key, `loopback`: the listeners
//   bind loopback by default (GUARITA_BIND_HOST), so the whole pod shares one budget, as documented;
// - another IPv4 address (GUARITA_BIND_HOST a pod IP) is its own key: a pod has one, and adding
//   another to an interface needs CAP_NET_ADMIN, which an agent container is not given;
// - another IPv6 address is keyed by its /64: a host may hold any address of its /64 (SLAAC privacy
//   addresses), so the /64 is the smallest unit one host is assumed not to vary within (the
//   usual rate-limiting unit for IPv6);
// - anything that is not an address (`unknown`, an empty string) shares one key, `other`.
import { isIPv4, isIPv6 } from 'node:net';

export const LOOPBACK_SOURCE = 'loopback';
export const OTHER_SOURCE = 'other';

/** The eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 part included); undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  if (!isIPv6(address)) return undefined;
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 ? groups : undefined;
}

function ipv4Key(address: string): string {
  return address.split('.')[0] === '127' ? LOOPBACK_SOURCE : `ipv4:${address.split('.').map(Number).join('.')}`;
}

function ipv6Key(groups: number[]): string {
  const zeros = (from: number, to: number): boolean => groups.slice(from, to).every((g) => g === 0);
  // IPv4-mapped (::ffff:a.b.c.d): an IPv4 client of a dual-stack socket.
  if (zeros(0, 5) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return ipv4Key(`${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`);
  }
  if (zeros(0, 7) && groups[7] === 1) return LOOPBACK_SOURCE;
  return `ipv6:${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The budget key of a client address (see the module comment). */
export function sourceKey(address: string): string {
  // A zone (fe80::1%eth0) names the interface, not another host.
  const bare = address.trim().replace(/%.*$/, '');
  if (isIPv4(bare)) return ipv4Key(bare);
  const groups = ipv6Groups(bare);
  return groups === undefined ? OTHER_SOURCE : ipv6Key(groups);
}
