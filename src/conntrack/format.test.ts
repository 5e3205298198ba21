import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatConntrackList } from './format.js';
import { PROTO, icmpTuple, invertTuple } from './tuple.js';
import { ACK, FINACK, Host, SYN, SYNACK, range, tcp, udp } from './testkit.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** A line without its timeout column and with the reference count as 1; plus the timeout. */
function split(line: string): { line: string; timeout: number } {
  const m = /^(\S+\s+\d+ )(\d+)( .*)$/.exec(line)!;
  return { line: (m[1]! + 'T' + m[3]!).replace(/use=\d+$/, 'use=1'), timeout: Number(m[2]) };
}
function compare(mine: string, real: string, maxLag = 5): void {
  const a = mine.trim().split('\n').map(split).sort((x, y) => x.line.localeCompare(y.line));
  const b = real.trim().split('\n').map(split).sort((x, y) => x.line.localeCompare(y.line));
  expect(a.map((x) => x.line)).toEqual(b.map((x) => x.line));
  // The kernel listed a few seconds after the exchange; the model lists at once: at most maxLag s apart.
  for (let i = 0; i < a.length; i++) {
    expect(a[i]!.timeout - b[i]!.timeout, a[i]!.line).toBeGreaterThanOrEqual(0);
    expect(a[i]!.timeout - b[i]!.timeout, a[i]!.line).toBeLessThanOrEqual(maxLag);
  }
}

describe('conntrack -L format against the real tool (fixtures/*.txt, captured by fixtures/capture.sh)', () => {
  it('DNAT+MASQUERADE TCP, replied and unreplied UDP, ping and a generic (IGMP) entry', () => {
    // The host's rules in capture.sh: DNAT 10.0.1.1:80 -> 10.0.2.2:8080; MASQUERADE tcp to 10.0.2.2:8080 via 10.0.2.1.
    const h = new Host({
      dnat: (p) => (p.proto === PROTO.TCP && p.dst === '10.0.1.1' && p.dport === 80 ? range('10.0.2.2', '10.0.2.2', [8080, 8080]) : null),
      snat: (p) => (p.proto === PROTO.TCP && p.src.startsWith('10.0.1.') && p.dst === '10.0.2.2' && p.dport === 8080 ? range('10.0.2.1') : null),
    });
    const c = tcp('10.0.1.2', 40001, '10.0.1.1', 80);
    const s = tcp('10.0.2.2', 8080, '10.0.2.1', 40001); // what the server sends back
    const seq: Array<[typeof c, typeof SYN]> = [
      [c, SYN], [s, SYNACK], [c, ACK], [c, ACK], [s, ACK], [s, ACK], [s, FINACK], [c, ACK], [c, FINACK], [s, ACK],
    ];
    for (const [t, f] of seq) h.pass(t, { tcpFlags: f });
    const q = udp('10.0.1.2', 40002, '10.0.2.2', 5353);
    h.pass(q);
    h.pass(invertTuple(q)!);
    h.pass(udp('10.0.1.2', 40003, '10.0.2.2', 9));
    const ping = icmpTuple(4, '10.0.1.2', '10.0.2.2', 8, 0, 4660);
    h.pass(ping);
    h.pass(invertTuple(ping)!);
    h.pass({ family: 4, proto: 2, src: '10.0.1.1', dst: '224.0.0.22', sport: 0, dport: 0 }); // IGMP report sent by the host
    compare(formatConntrackList(h.ct), fixture('dnat-tcp-udp-icmp.txt'));
  });

  it('SYN_SENT entries to a DNAT address range (fixtures/dnat-range.txt)', () => {
    const h = new Host({ dnat: (p) => (p.dst === '10.0.1.1' && p.dport === 81 ? range('10.0.2.10', '10.0.2.20') : null) });
    for (const i of [2, 4, 5, 6, 7, 8, 9]) h.pass(tcp(`10.0.1.${i}`, 40010, '10.0.1.1', 81), { tcpFlags: SYN });
    // capture.sh made these seven SYNs one after another, each waiting 0.5 s plus a python start-up,
    // so the oldest had aged about 6 s when the kernel listed them.
    compare(formatConntrackList(h.ct), fixture('dnat-range.txt'), 8);
  });

  it('SNAT clash listing: identical apart from the randomly chosen port (fixtures/snat-clash.txt)', () => {
    const h = new Host({ snat: (p) => (p.dst === '10.0.2.2' ? range('10.0.2.1') : null) });
    for (const src of ['10.0.1.2', '10.0.1.3']) {
      const c = tcp(src, 40000, '10.0.2.2', 8080);
      const first = h.pass(c, { tcpFlags: SYN }).out;
      const s = invertTuple(first)!;
      for (const [t, f] of [[s, SYNACK], [c, ACK], [c, ACK], [s, ACK], [s, FINACK], [c, ACK], [c, FINACK], [s, ACK]] as const) h.pass(t, { tcpFlags: f });
    }
    const wild = (text: string) => text.replace(/(src=10\.0\.1\.3 .* dport=)\d+( \[ASSURED\])/, '$1P$2');
    compare(wild(formatConntrackList(h.ct)), wild(fixture('snat-clash.txt')));
  });

  it('lists only the IPv4 table by default, IPv6 with family 6, and omits unconfirmed entries', () => {
    const h = new Host();
    h.pass({ family: 6, proto: PROTO.UDP, src: 'fd00::1', dst: 'fd00::2', sport: 1000, dport: 53 });
    h.ct.packetIn(udp('10.0.0.1', 1, '10.0.0.2', 2)); // never confirmed
    expect(formatConntrackList(h.ct)).toBe('');
    expect(formatConntrackList(h.ct, { family: 6 })).toBe(
      'udp      17 30 src=fd00::1 dst=fd00::2 sport=1000 dport=53 [UNREPLIED] src=fd00::2 dst=fd00::1 sport=53 dport=1000 mark=0 use=1\n',
    );
  });

  it('prints the ctmark as an unsigned number', () => {
    const h = new Host();
    const e = h.pass(udp('10.0.0.1', 1, '10.0.0.2', 2)).r.entry!;
    (e as { mark: number }).mark = 0x80000000 | 0x4000;
    expect(formatConntrackList(h.ct)).toContain(' mark=2147500032 use=1');
  });
});
