// The upstream lookup (round 9, A): a name answered with the pod's own address, loopback or the
// unspecified address is refused in a pod, in every spelling of those addresses; other answers
// pass as dns.lookup gives them; outside a pod nothing is refused.
import { describe, expect, it } from '@jest/globals';
import type { LookupAddress } from 'node:dns';
import { connect, createServer, type AddressInfo } from 'node:net';
import { guardedLookup, ownAddresses, parsePodIps, refusal } from './upstream-address.ts';

const inPod = ownAddresses(['10.244.1.7', 'fd00:10:244:1::7']);

function answering(addresses: LookupAddress[]) {
  return (_host: string, _opts: unknown, cb: (err: NodeJS.ErrnoException | null, a: LookupAddress[]) => void): void => cb(null, addresses);
}

function look(own: ReturnType<typeof ownAddresses>, addresses: LookupAddress[], all: boolean): Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family: unknown }> {
  return new Promise((resolve) => {
    guardedLookup(() => own, answering(addresses))('orders-db.orders-data.svc.cluster.local', { all }, (err, address, family) => resolve({ err, address, family }));
  });
}

describe('refusal: the pod\'s own addresses and loopback, in every spelling', () => {
  it.each([
    ['10.244.1.7', 'own'], ['::ffff:10.244.1.7', 'own'], ['::ffff:af4:107', 'own'], ['fd00:10:244:1::7', 'own'], ['FD00:10:244:1:0:0:0:7', 'own'], ['fd00:10:244:1:0::7', 'own'],
    ['127.0.0.1', 'local'], ['127.1.2.3', 'local'], ['::1', 'local'], ['0:0:0:0:0:0:0:1', 'local'], ['::ffff:127.0.0.1', 'local'], ['0.0.0.0', 'local'], ['::', 'local'], ['::ffff:0.0.0.0', 'local'],
  ])('%s is refused (%s)', (address, kind) => {
    const why = refusal('orders-db', [address], inPod);
    expect(why).toContain(`orders-db resolves to ${address}`);
    expect(why).toContain(kind === 'own' ? 'this pod\'s own address: the kubelet\'s /etc/hosts' : 'a loopback or unspecified address (localhost in /etc/hosts');
  });

  it.each(['10.244.1.8', '10.96.0.10', 'fd00:10:244:1::8', '::ffff:10.244.1.8', '128.0.0.1', '1.0.0.0'])('%s is not', (address) => {
    expect(refusal('orders-db', [address], inPod)).toBeUndefined();
  });

  it('names the pod\'s own address before a loopback one, whatever the order of the answers', () => {
    expect(refusal('orders-db', ['::1', '10.244.1.7'], inPod)).toContain('resolves to 10.244.1.7, this pod\'s own address');
  });

  it('refuses nothing outside a pod', () => {
    const host = ownAddresses(undefined);
    expect(refusal('orders-db', ['127.0.0.1', '::1', '0.0.0.0', '10.244.1.7'], host)).toBeUndefined();
  });
});

describe('guardedLookup', () => {
  it('refuses the whole answer when any address is the pod\'s, for one address and for all', async () => {
    for (const all of [false, true]) {
      const { err } = await look(inPod, [{ address: '10.96.0.10', family: 4 }, { address: '10.244.1.7', family: 4 }], all);
      expect(err?.message).toMatch(/^guarita: orders-db.orders-data.svc.cluster.local resolves to 10.244.1.7, this pod's own address: the kubelet's \/etc\/hosts/);
      expect(err?.code).toBe('EGUARITAOWNADDRESS');
    }
  });

  it('passes other answers on as net expects them', async () => {
    const answer = [{ address: '10.96.0.10', family: 4 }, { address: 'fd00::10', family: 6 }];
    expect(await look(inPod, answer, true)).toEqual({ err: null, address: answer, family: undefined });
    expect(await look(inPod, answer, false)).toEqual({ err: null, address: '10.96.0.10', family: 4 });
  });

  it('fails closed when the pod\'s addresses cannot be read, and passes resolution errors on', async () => {
    const broken = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      guardedLookup(() => { throw new Error('GUARITA_POD_IPS must list'); }, answering([{ address: '10.96.0.10', family: 4 }]))('x', {}, (err) => resolve(err));
    });
    expect(broken?.message).toContain('cannot tell this pod\'s own addresses apart from x\'s: GUARITA_POD_IPS must list');
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' });
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      guardedLookup(() => inPod, (_h, _o, cb) => cb(notFound, []))('x', {}, (e) => resolve(e));
    });
    expect(err).toBe(notFound);
  });

  it('refuses a real connection through /etc/hosts\' localhost in a pod, and makes it outside one', async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const attempt = (own: ReturnType<typeof ownAddresses>): Promise<string> => new Promise((resolve) => {
      const socket = connect({ host: 'localhost', port, family: 4, lookup: guardedLookup(() => own) });
      socket.once('connect', () => { socket.destroy(); resolve('connected'); });
      socket.once('error', (e) => resolve(e.message));
    });
    try {
      expect(await attempt(inPod)).toMatch(/^guarita: localhost resolves to 127.0.0.1, a loopback or unspecified address/);
      expect(await attempt(ownAddresses(['10.244.1.7']))).toMatch(/loopback/);
      expect(await attempt(ownAddresses(undefined))).toBe('connected');
    } finally {
      server.close();
    }
  });
});

describe('parsePodIps: the downward API\'s status.podIPs', () => {
  it('reads one or two addresses, comma-separated', () => {
    expect(parsePodIps(undefined)).toBeUndefined();
    expect(parsePodIps('10.244.1.7')).toEqual(['10.244.1.7']);
    expect(parsePodIps('10.244.1.7,fd00::7')).toEqual(['10.244.1.7', 'fd00::7']);
    expect(parsePodIps(' 10.244.1.7 , fd00::7 ')).toEqual(['10.244.1.7', 'fd00::7']);
  });

  it('refuses a blank or a non-address (fail closed: the refusal would otherwise be off)', () => {
    expect(() => parsePodIps('')).toThrow(/is set but lists no address/);
    expect(() => parsePodIps(' , ')).toThrow(/is set but lists no address/);
    expect(() => parsePodIps('10.244.1.7,pod-a')).toThrow(/must list the pod's IP addresses.*"pod-a"/);
    expect(() => parsePodIps('10.244.1.7/24')).toThrow(/must list/);
  });
});
