import { describe, expect, it } from 'vitest';
import {
  broadcastOf,
  cidrContains,
  cidrsOverlap,
  compareIp,
  formatCidr,
  formatIp,
  ipFromBytes,
  ipToBytes,
  nthHost,
  parseCidr,
  parseIp,
  subnetOf,
  v4Netmask,
} from './ip.js';

describe('IP addresses', () => {
  it('parses and formats IPv4 and IPv6 canonically', () => {
    expect(formatIp(parseIp('10.244.1.5'))).toBe('10.244.1.5');
    expect(parseIp('255.255.255.255')).toEqual({ family: 4, n: 0xffffffff });
    expect(formatIp(parseIp('2001:DB8:0:0:0:0:0:1'))).toBe('2001:db8::1');
    expect(formatIp(parseIp('fd00::0001'))).toBe('fd00::1');
    expect(formatIp(parseIp('::'))).toBe('::');
  });

  it('rejects non-canonical or malformed input', () => {
    for (const bad of ['10.1', '256.1.1.1', '1.2.3.4.5', 'abc', '', '1.2.3.04x', 'fe80::1%eth0', '::g']) {
      expect(() => parseIp(bad), bad).toThrow(/invalid IP address/);
    }
  });

  it('round-trips bytes', () => {
    expect([...ipToBytes(parseIp('192.168.56.11'))]).toEqual([192, 168, 56, 11]);
    expect(formatIp(ipFromBytes(ipToBytes(parseIp('fd00:10:244::7'))))).toBe('fd00:10:244::7');
  });

  it('orders addresses numerically, IPv4 before IPv6', () => {
    expect(compareIp(parseIp('10.0.0.9'), parseIp('10.0.0.10'))).toBeLessThan(0);
    expect(compareIp(parseIp('200.0.0.1'), parseIp('10.0.0.1'))).toBeGreaterThan(0);
    expect(compareIp(parseIp('255.255.255.255'), parseIp('::1'))).toBeLessThan(0);
  });
});

describe('CIDRs', () => {
  it('clears host bits unless strict', () => {
    expect(formatCidr(parseCidr('10.0.0.5/8'))).toBe('10.0.0.0/8');
    expect(() => parseCidr('10.0.0.5/8', { strict: true })).toThrow(/host bits set/);
    expect(formatCidr(parseCidr('10.96.0.10'))).toBe('10.96.0.10/32');
    expect(formatCidr(parseCidr('fd00::1'))).toBe('fd00::1/128');
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/prefix length/);
  });

  it('contains, network, broadcast and nth host', () => {
    const c = parseCidr('10.244.1.0/24');
    expect(cidrContains(c, parseIp('10.244.1.255'))).toBe(true);
    expect(cidrContains(c, parseIp('10.244.2.0'))).toBe(false);
    expect(cidrContains(c, parseIp('::1'))).toBe(false);
    expect(formatIp(broadcastOf(c))).toBe('10.244.1.255');
    expect(formatIp(nthHost(c, 1))).toBe('10.244.1.1');
    expect(() => nthHost(c, 256)).toThrow(RangeError);
    expect(cidrContains(parseCidr('0.0.0.0/0'), parseIp('203.0.113.9'))).toBe(true);
    const v6 = parseCidr('fd00:10:244:1::/64');
    expect(cidrContains(v6, parseIp('fd00:10:244:1:ffff::1'))).toBe(true);
    expect(formatIp(broadcastOf(v6))).toBe('fd00:10:244:1:ffff:ffff:ffff:ffff');
  });

  it('carves subnets and detects overlap', () => {
    const cluster = parseCidr('10.244.0.0/16');
    expect(formatCidr(subnetOf(cluster, 24, 0))).toBe('10.244.0.0/24');
    expect(formatCidr(subnetOf(cluster, 24, 255))).toBe('10.244.255.0/24');
    expect(() => subnetOf(cluster, 24, 256)).toThrow(RangeError);
    expect(cidrsOverlap(parseCidr('10.96.0.0/12'), parseCidr('10.100.0.0/16'))).toBe(true);
    expect(cidrsOverlap(parseCidr('10.96.0.0/12'), parseCidr('10.244.0.0/16'))).toBe(false);
    expect(v4Netmask(26)).toBe('255.255.255.192');
  });
});

describe('parseIp: the canonical dotted-quad fast path reads what ipaddr.js reads', () => {
  it('agrees with ipaddr.js on random and edge-case texts', async () => {
    const { default: ipaddr } = await import('ipaddr.js');
    const { Rng } = await import('./rng.js');
    const rng = new Rng(9);
    const texts = ['0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '1.2.3.4 ', ' 1.2.3.4', '10.96.0.010', '1.2.3.-4', '1.2.3.4/8', '999.1.1.1'];
    for (let i = 0; i < 2000; i++) texts.push([0, 1, 2, 3].map(() => String(rng.int(300))).join('.'));
    for (const t of texts) {
      let ours: string;
      try {
        ours = formatIp(parseIp(t));
      } catch {
        ours = 'error';
      }
      const s = t.trim();
      const theirs = !s.includes(':') && ipaddr.IPv4.isValidFourPartDecimal(s) ? ipaddr.IPv4.parse(s).toString() : 'error';
      expect(ours, t).toBe(theirs);
    }
  });
});
