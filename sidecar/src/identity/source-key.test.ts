// Round 12, F1: the review budget's key must be something the agent cannot vary. Every spelling of
// this host's loopback Node can report (and some it does not) is one key; other addresses are keyed
// by what one host holds (IPv4 /32, IPv6 /64); anything else shares one key.
import { describe, expect, it } from '@jest/globals';
import { LOOPBACK_SOURCE, OTHER_SOURCE, sourceKey } from './source-key.ts';

describe('sourceKey', () => {
  it('every loopback address and spelling is one source', () => {
    const loopback = [
      '127.0.0.1', '127.0.0.2', '127.0.1.2', '127.255.255.254', '127.1.2.3',
      '::1', '0:0:0:0:0:0:0:1', '0000:0000:0000:0000:0000:0000:0000:0001', '::0001',
      '::ffff:127.0.0.1', '::ffff:127.0.1.61', '::FFFF:127.9.9.9', '0:0:0:0:0:ffff:127.1.2.3', '::ffff:7f00:1', '::ffff:7F00:0002', '::ffff:7fff:fffe',
      ' 127.0.0.5 ', '::1%lo',
    ];
    for (const a of loopback) expect([a, sourceKey(a)]).toEqual([a, LOOPBACK_SOURCE]);
  });

  it('an IPv4 address outside loopback is its own source, in any of its IPv6 spellings', () => {
    for (const a of ['10.0.0.7', '::ffff:10.0.0.7', '::ffff:a00:7', '0:0:0:0:0:ffff:0a00:0007']) expect([a, sourceKey(a)]).toEqual([a, 'ipv4:10.0.0.7']);
    expect(sourceKey('10.0.0.8')).not.toBe(sourceKey('10.0.0.7'));
    // Not loopback: 128.0.0.1, and 127 elsewhere than the first octet.
    expect(sourceKey('128.0.0.1')).toBe('ipv4:128.0.0.1');
    expect(sourceKey('10.127.0.1')).toBe('ipv4:10.127.0.1');
  });

  it('IPv6 addresses are keyed by their /64: a host may use any address of it', () => {
    const a = sourceKey('2001:db8:1:2::1');
    for (const same of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:DB8:1:2:0:0:0:9', '2001:0db8:0001:0002::abcd', '2001:db8:1:2::1%eth0']) expect([same, sourceKey(same)]).toEqual([same, a]);
    expect(a).toBe('ipv6:2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:3::1')).not.toBe(a);
    // Link-local: one /64 for the interface, not one key per address.
    expect(sourceKey('fe80::1%eth0')).toBe(sourceKey('fe80::aaaa:bbbb:cccc:dddd'));
    // Only ::1 is IPv6 loopback; other addresses of ::/64 are not (nor do they reach a socket).
    expect(sourceKey('::2')).toBe('ipv6:0:0:0:0::/64');
    expect(sourceKey('::127.0.0.1')).toBe('ipv6:0:0:0:0::/64');
  });

  it('what is not an address shares one source (never one per spelling)', () => {
    for (const a of ['', 'unknown', '127.1', '0177.0.0.1', '127.000.000.001', '2130706433', 'localhost', '::ffff:127.0.0.1.5', 'fe80::1::2']) {
      expect([a, sourceKey(a)]).toEqual([a, OTHER_SOURCE]);
    }
  });
});
