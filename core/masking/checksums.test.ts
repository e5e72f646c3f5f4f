import { describe, expect, it } from '@jest/globals';
import {
  isCard, isCnh, isCnpj, isCns, isCpf, isIpv4, isIpv6, isKnownCardPrefix, isPis, isPlausibleDate, isTitulo, luhnValid, phoneKind,
} from './checksums.ts';
import { refCnh, refCnpj, refCns, refCpf, refLuhn, refPis, refTitulo, Rng } from './corpus.ts';

describe('published examples', () => {
  it('CPF', () => {
    expect(isCpf('52998224725')).toBe(true); // the Receita Federal's own example
    expect(isCpf('52998224726')).toBe(false);
    expect(isCpf('11111111111')).toBe(false); // repeated digits pass mod 11 but are not issued
    expect(isCpf('00000000000')).toBe(false);
  });

  it('CNPJ, numeric and alphanumeric (value = ASCII − 48, A = 17)', () => {
    expect(isCnpj('11222333000181')).toBe(true);
    expect(isCnpj('11222333000182')).toBe(false);
    expect(isCnpj('12ABC34501DE35')).toBe(true); // RFB example of the alphanumeric format (July 2026)
    expect(isCnpj('12ABC34501DE36')).toBe(false);
    expect(isCnpj('12abc34501de35')).toBe(false); // letters are upper case
    expect(isCnpj('00000000000000')).toBe(false);
  });

  it('CNH', () => {
    expect(isCnh('79143829831')).toBe(true);
    expect(isCnh('79143829832')).toBe(false);
    expect(isCnh('22222222222')).toBe(false);
  });

  it('PIS/PASEP/NIT', () => {
    expect(isPis('12056737894')).toBe(true);
    expect(isPis('12056737891')).toBe(false);
  });

  it('Título de eleitor, with the SP/MG remainder-0 variant', () => {
    expect(isTitulo('102385010671')).toBe(true); // sequence 10238501, state 06 (PR), DVs 7 and 1
    expect(isTitulo('102385010672')).toBe(false);
    expect(isTitulo('102385012971')).toBe(false); // state code 29 does not exist
    // Sequence 00001003 has remainder 0; issued in SP (01) its DV1 is 1 by the TSE rule, 0 by validate-docbr: both pass.
    expect(isTitulo('000010030108')).toBe(true);
    expect(isTitulo('000010030116')).toBe(true);
    expect(isTitulo('000010030508')).toBe(false); // state 05 (BA): remainder 0 gives DV1 0, and DV2 must follow from it
  });

  it('CNS definitive (1/2, from a PIS) and provisional (7/8/9)', () => {
    expect(isCns('239623084710018')).toBe(true);
    expect(isCns('762376345912761')).toBe(true);
    expect(isCns('762376345912762')).toBe(false);
    expect(isCns('239623084711018')).toBe(false); // definitive numbers continue the PIS with 000 or 001
  });

  it('Luhn and card prefixes', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(isCard('4111111111111111')).toBe(true);
    expect(isCard('378282246310005')).toBe(true); // Amex
    expect(isCard('30569309025904')).toBe(true); // Diners, 14 digits
    expect(isCard('6062826786276634')).toBe(true); // Hipercard
    expect(isCard('5067000000000009')).toBe(true); // Elo
    expect(isCard('9111111111111111')).toBe(false); // unknown prefix
    expect(isKnownCardPrefix('5500000000000004')).toBe(true);
    expect(isKnownCardPrefix('5600000000000004')).toBe(false);
  });

  it('phones: DDD allow-list, 9-digit mobiles, landlines 2–5', () => {
    expect(phoneKind('11912345678')).toBe('mobile');
    expect(phoneKind('1131234567')).toBe('landline');
    expect(phoneKind('2091234567')).toBe(null); // DDD 20 does not exist
    expect(phoneKind('11812345678')).toBe(null); // 11 digits must be a mobile (9)
    expect(phoneKind('1171234567')).toBe(null); // 7 is not a landline prefix
  });

  it('IP addresses', () => {
    expect(isIpv4('192.168.0.1')).toBe(true);
    expect(isIpv4('256.1.1.1')).toBe(false);
    expect(isIpv4('01.1.1.1')).toBe(false);
    expect(isIpv4('1.1.1')).toBe(false);
    for (const ok of ['::1', 'fe80::1', '2001:db8::8a2e:370:7334', '2001:0db8:0000:0000:0000:ff00:0042:8329', '::ffff:192.0.2.1', '1::']) {
      expect(isIpv6(ok)).toBe(true);
    }
    for (const bad of ['1:2:3:4:5:6:7:8:9', '2001:db8::1::2', '12:30:45', 'g::1', ':::1', '1:2:3:4:5:6:7']) expect(isIpv6(bad)).toBe(false);
  });

  it('dates', () => {
    expect(isPlausibleDate(1988, 2, 29)).toBe(true);
    expect(isPlausibleDate(1987, 2, 29)).toBe(false);
    expect(isPlausibleDate(1900, 2, 29)).toBe(false);
    expect(isPlausibleDate(2000, 2, 29)).toBe(true);
    expect(isPlausibleDate(1985, 4, 31)).toBe(false);
    expect(isPlausibleDate(1850, 1, 1)).toBe(false);
  });
});

describe('agrees with the independent reference implementations on random input', () => {
  const r = new Rng(7);
  const randomDigits = (n: number): string => r.digits(n).join('');
  const cases: [string, (s: string) => boolean, (s: string) => boolean, () => string][] = [
    ['CPF', isCpf, refCpf, () => randomDigits(11)],
    ['CNH', isCnh, refCnh, () => randomDigits(11)],
    ['PIS', isPis, refPis, () => randomDigits(11)],
    ['título', isTitulo, refTitulo, () => randomDigits(8) + String(r.int(30)).padStart(2, '0') + randomDigits(2)],
    ['CNS', isCns, refCns, () => r.pick(['1', '2', '7', '8', '9']) + randomDigits(14)],
    ['CNPJ', isCnpj, refCnpj, () => Array.from({ length: 12 }, () => r.pick([...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'])).join('') + randomDigits(2)],
    ['Luhn', luhnValid, refLuhn, () => randomDigits(13 + r.int(7))],
  ];
  it.each(cases)('%s', (_name, mine, ref, gen) => {
    let valid = 0;
    const disagreements: string[] = [];
    for (let i = 0; i < 30000; i++) {
      const s = gen();
      const expected = ref(s);
      if (mine(s) !== expected) disagreements.push(s);
      if (expected) valid++;
    }
    expect(disagreements).toEqual([]);
    expect(valid).toBeGreaterThan(0);
  });
});
