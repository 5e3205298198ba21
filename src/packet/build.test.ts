import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decap, encap, icmpEcho, icmpError, ipipEncap, tcpSyn, udpDatagram, vxlanEncap } from './build.js';
import { PacketEncodeError } from './errors.js';
import { flowKey, reverseFlow } from './flow.js';
import { formatPacket } from './format.js';
import { ICMP_TYPE, ICMP_UNREACH, ICMP_TIME_EXCEEDED } from './icmp.js';
import { ICMPV6_TYPE, ICMPV6_UNREACH } from './icmpv6.js';
import { decodePacket, encodePacket, verifyPacket } from './packet.js';
import type { Packet } from './packet.js';
import { readPcap } from './pcap.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/packets/', import.meta.url));

async function packets(file: string): Promise<Packet[]> {
  return (await readPcap(readFileSync(FIXTURES + file), file)).map((r) => r.packet!);
}
function bytesOf(p: Packet): Buffer {
  return Buffer.from(encodePacket(p, { recompute: false }));
}
/** The frame from its IP layer on (what icmp_send quotes and sends). */
function fromIp(p: Packet): Packet {
  return decap(p, 1);
}

describe('encap / decap', () => {
  const inner = tcpSyn({ src: '10.244.1.2', dst: '10.244.2.3', sport: 40000, dport: 8080, seq: 1000, srcMac: '0a:58:0a:f4:01:02', dstMac: 'ee:ee:ee:ee:ee:ee' });
  const opts = { srcMac: '08:00:27:00:00:11', dstMac: '08:00:27:00:00:12', srcIp: '192.168.56.11', dstIp: '192.168.56.12', sport: 51234, vni: 1 };

  it('VXLAN: encap, encode, decode, decap gives the inner frame back, byte for byte', () => {
    const outer = vxlanEncap(inner, opts);
    const wire = encodePacket(outer);
    expect(verifyPacket(wire, 'ethernet')).toEqual([]);
    expect(wire.length).toBe(encodePacket(inner).length + 14 + 20 + 8 + 8);
    const back = decodePacket(wire, { link: 'ethernet' });
    expect(back.layers.map((l) => l.kind)).toEqual(['ethernet', 'ipv4', 'udp', 'vxlan', 'ethernet', 'ipv4', 'tcp']);
    expect(back.layers[2]).toMatchObject({ sport: 51234, dport: 8472, length: wire.length - 34 });
    expect(back.layers[3]).toMatchObject({ flags: 0x08, vni: 1 });
    expect(back.layers[1]).toMatchObject({ protocol: 17, df: false, ttl: 64, totalLength: wire.length - 14 });
    expect(Buffer.from(encodePacket(decap(back, 4))).equals(Buffer.from(encodePacket(inner)))).toBe(true);
  });

  it('VXLAN with zeroChecksum sends UDP checksum 0 and it still verifies over IPv4', () => {
    const wire = encodePacket(vxlanEncap(inner, { ...opts, zeroChecksum: true }));
    expect((wire[40]! << 8) | wire[41]!).toBe(0);
    expect(verifyPacket(wire, 'ethernet')).toEqual([]);
  });

  it('IPIP: protocol 4 outer header, DF copied from the inner header, decap restores the inner datagram', () => {
    const outer = ipipEncap(inner, { src: '192.168.56.11', dst: '192.168.56.12' });
    expect(outer.layers.map((l) => l.kind)).toEqual(['ipv4', 'ipv4', 'tcp']);
    expect(outer.layers[0]).toMatchObject({ protocol: 4, df: true });
    const wire = encodePacket(outer);
    expect(verifyPacket(wire, 'raw')).toEqual([]);
    const back = decodePacket(wire, { link: 'raw' });
    expect(back.layers[0]).toMatchObject({ src: '192.168.56.11', dst: '192.168.56.12', totalLength: wire.length });
    expect(Buffer.from(encodePacket(decap(back, 1))).equals(Buffer.from(encodePacket(decap(inner, 1))))).toBe(true);
  });

  it('encap puts any outer layers in front; decap refuses to remove more layers than there are', () => {
    const p = encap(udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }), [{ kind: 'ipv4', dscp: 0, ecn: 0, id: 0, df: false, mf: false, fragOffset: 0, ttl: 9, protocol: 4, src: '1.1.1.1', dst: '2.2.2.2' }]);
    expect(p.layers.map((l) => l.kind)).toEqual(['ipv4', 'ipv4', 'udp']);
    expect(() => decap(p, 4)).toThrow(RangeError);
    expect(() => vxlanEncap(decap(inner, 1), opts)).toThrow(PacketEncodeError);
  });

  it('UDP: a computed checksum of 0 is sent as 0xffff (RFC 768)', () => {
    // Find a payload whose checksum computes to 0: with the checksum field 0xffff the sum must fold to 0xffff.
    const base = udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 2000, data: new Uint8Array(2) });
    const wire = encodePacket(base);
    const sum = (wire[26]! << 8) | wire[27]!;
    // Adding `sum` to the data changes the complement sum by `sum`, making the checksum 0.
    const data = Uint8Array.of(sum >> 8, sum & 255);
    const zero = encodePacket(udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 2000, data }));
    expect((zero[26]! << 8) | zero[27]!).toBe(0xffff);
    expect(verifyPacket(zero, 'raw')).toEqual([]);
  });

  it('encoding rejects values that do not fit', () => {
    expect(() => encodePacket(tcpSyn({ src: '10.0.0.1', dst: '10.0.0.2', sport: 70000, dport: 1 }))).toThrow(PacketEncodeError);
    expect(() => encodePacket(tcpSyn({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 1, options: new Uint8Array(3) }))).toThrow(/multiple of 4/);
    expect(() => udpDatagram({ src: '10.0.0.1', dst: 'fd00::1', sport: 1, dport: 1 })).toThrow(PacketEncodeError);
  });
});

describe('ICMP errors quote what Linux quotes (compared with frames the kernel sent)', () => {
  it('fragmentation needed: 548 bytes of the 1500-byte datagram, mtu in bytes 6–7, TOS 0xc0, DF clear', async () => {
    const [req, err] = await packets('icmp-errors.pcap');
    const kernel = fromIp(err!);
    const ours = icmpError(fromIp(req!), { type: ICMP_TYPE.DEST_UNREACH, code: ICMP_UNREACH.FRAG_NEEDED, mtu: 1400, src: '10.1.0.254', id: (kernel.layers[0] as { id: number }).id });
    expect(encodePacket(ours).length).toBe(576);
    expect(Buffer.from(encodePacket(ours)).equals(bytesOf(kernel))).toBe(true);
  });

  it('time exceeded: the whole 84-byte datagram fits, quoted with its TTL of 1', async () => {
    const [, , req, err] = await packets('icmp-errors.pcap');
    const kernel = fromIp(err!);
    const ours = icmpError(fromIp(req!), { type: ICMP_TYPE.TIME_EXCEEDED, code: ICMP_TIME_EXCEEDED.TTL, src: '10.1.0.254', id: (kernel.layers[0] as { id: number }).id });
    expect(Buffer.from(encodePacket(ours)).equals(bytesOf(kernel))).toBe(true);
    expect(ours.layers[2]).toMatchObject({ kind: 'ipv4', ttl: 1 });
  });

  it('port unreachable from a closed UDP port: the whole datagram is quoted, ports decoded', async () => {
    const [, dgram, err] = await packets('udp4.pcap');
    const kernel = fromIp(err!);
    const ours = icmpError(fromIp(dgram!), { type: ICMP_TYPE.DEST_UNREACH, code: ICMP_UNREACH.PORT, src: '10.0.0.2', id: (kernel.layers[0] as { id: number }).id });
    expect(Buffer.from(encodePacket(ours)).equals(bytesOf(kernel))).toBe(true);
    expect(kernel.layers.map((l) => l.kind)).toEqual(['ipv4', 'icmp', 'ipv4', 'udp']);
    expect(kernel.layers[3]).toMatchObject({ sport: 40001, dport: 9999 });
  });

  it('ICMPv6 packet too big: 1232 bytes quoted so the error is 1280 bytes, MTU in the 32-bit field', async () => {
    const all = await packets('icmp-errors.pcap');
    const [req, err] = all.slice(-2);
    const kernel = fromIp(err!);
    const ours = icmpError(fromIp(req!), { type: ICMPV6_TYPE.PACKET_TOO_BIG, code: 0, mtu: 1400, src: 'fd00:1::fe' });
    // The kernel picks an automatic flow label (ip6_make_flowlabel); everything else must match.
    (ours.layers[0] as { flowLabel: number }).flowLabel = (kernel.layers[0] as { flowLabel: number }).flowLabel;
    expect(encodePacket(ours).length).toBe(1280);
    expect(Buffer.from(encodePacket(ours)).equals(bytesOf(kernel))).toBe(true);
  });

  it('ICMPv6 port unreachable', async () => {
    const all = await packets('ipv6.pcap');
    const [dgram, err] = all.slice(-2);
    const kernel = fromIp(err!);
    const ours = icmpError(fromIp(dgram!), { type: ICMPV6_TYPE.DEST_UNREACH, code: ICMPV6_UNREACH.PORT, src: 'fd00::2' });
    (ours.layers[0] as { flowLabel: number }).flowLabel = (kernel.layers[0] as { flowLabel: number }).flowLabel;
    expect(Buffer.from(encodePacket(ours)).equals(bytesOf(kernel))).toBe(true);
  });

  it('a quoted TCP header of only 8 bytes (as RFC 792 minimum) decodes as a partial header and encodes back', () => {
    const syn = tcpSyn({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, seq: 7 });
    const full = encodePacket(icmpError(syn, { type: 3, code: 1, src: '10.0.0.254' }));
    // Cut the quote to IP header + 8 bytes and fix the outer length: an RFC 792-minimum quote.
    const cut = full.slice(0, 20 + 8 + 20 + 8);
    cut[2] = 0;
    cut[3] = cut.length;
    const p = decodePacket(cut, { link: 'raw' });
    expect(p.layers.map((l) => l.kind)).toEqual(['ipv4', 'icmp', 'ipv4', 'tcp']);
    expect(p.layers[3]).toMatchObject({ sport: 40000, dport: 80, seq: 7, partial: 8 });
    expect(Buffer.from(encodePacket(p, { recompute: false })).equals(Buffer.from(cut))).toBe(true);
    expect(flowKey(decap(p, 2))).toEqual({ family: 4, proto: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80 });
  });
});

describe('flow keys', () => {
  it('a TCP request and its reply have reversed keys', async () => {
    const [syn, synack] = await packets('tcp4.pcap');
    const k = flowKey(syn!)!;
    expect(k).toEqual({ family: 4, proto: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 8080 });
    expect(flowKey(synack!)).toEqual(reverseFlow(k));
    expect(reverseFlow(reverseFlow(k))).toEqual(k);
  });

  it('ICMP and ICMPv6 echo: sport is the identifier, and the reply keys as the reverse', async () => {
    const arp = await packets('arp-icmp.pcap');
    const req = arp.find((p) => p.layers[2]?.kind === 'icmp' && (p.layers[2] as { type: number }).type === 8)!;
    const rep = arp.find((p) => p.layers[2]?.kind === 'icmp' && (p.layers[2] as { type: number }).type === 0)!;
    expect(flowKey(req)!.sport).toBe((req.layers[2] as { rest: number }).rest >>> 16);
    expect(flowKey(req)!.dport).toBe(0);
    expect(flowKey(rep)).toEqual(reverseFlow(flowKey(req)!));
    const v6 = await packets('ipv6.pcap');
    const e6 = v6.filter((p) => p.layers[2]?.kind === 'icmpv6' && [128, 129].includes((p.layers[2] as { type: number }).type));
    expect(e6).toHaveLength(2);
    expect(flowKey(e6[1]!)).toEqual(reverseFlow(flowKey(e6[0]!)!));
    expect(flowKey(icmpEcho({ src: 'fd00::1', dst: 'fd00::2', id: 9, seq: 1 }))).toMatchObject({ family: 6, proto: 58, sport: 9, dport: 0 });
  });

  it('a tunnelled packet keys on its first (outer) IP header; ARP has none', async () => {
    const [, , vsyn] = await packets('vxlan.pcap');
    expect(flowKey(vsyn!)).toMatchObject({ proto: 17, src: '10.0.0.1', dst: '10.0.0.2', dport: 8472 });
    expect(flowKey(decap(vsyn!, 4))).toMatchObject({ proto: 6, src: '10.244.1.0', dst: '10.244.2.3', sport: 40004, dport: 8080 });
    const arp = (await packets('arp-icmp.pcap')).find((p) => p.layers[1]?.kind === 'arp')!;
    expect(flowKey(arp)).toBeUndefined();
  });
});

describe('formatPacket', () => {
  /** tcpdump's own line for each frame (-nn -S -e -t; -T vxlan for the VXLAN capture). */
  function tcpdump(file: string, extra: string[] = []): string[] {
    const r = spawnSync('tcpdump', ['-nn', '-S', '-e', '-t', ...extra, '-r', FIXTURES + file], { encoding: 'utf8' });
    if (r.error) throw new Error(`tcpdump is needed for this test: apt-get install tcpdump (${r.error.message})`);
    return r.stdout.replace(/\n$/, '').split('\n');
  }

  for (const file of ['tcp4.pcap', 'udp4.pcap', 'icmp-errors.pcap', 'ipv6.pcap', 'arp-icmp.pcap']) {
    it(`matches tcpdump -e line for line: ${file}`, async () => {
      const ours = (await packets(file)).map((p) => formatPacket(p, { ethernet: true }));
      const theirs = tcpdump(file);
      expect(ours).toHaveLength(theirs.length);
      let compared = 0;
      theirs.forEach((line, i) => {
        if (/HBH|domain/.test(line)) return; // hop-by-hop options and DNS: decoded by tcpdump, not by podpath
        expect(ours[i], `${file} frame ${i + 1}`).toBe(line.replace(/: HTTP$/, ''));
        compared++;
      });
      expect(compared).toBeGreaterThan(1);
    });
  }

  it('VXLAN: outer and inner levels separated, as tcpdump prints them on two lines', async () => {
    const theirs = tcpdump('vxlan.pcap', ['-T', 'vxlan']);
    const ours = (await packets('vxlan.pcap')).map((p) => formatPacket(p, { ethernet: true }));
    // tcpdump -e prints the inner frame on its own line after the outer one.
    expect(ours.map((l) => l.split(' | '))).toEqual(
      Array.from({ length: ours.length }, (_, i) => [theirs[2 * i]!, theirs[2 * i + 1]!.replace(/: HTTP$/, '')]),
    );
  });

  it('without Ethernet: the documented one-line form', () => {
    const inner = tcpSyn({ src: '10.244.1.2', dst: '10.244.2.3', sport: 40000, dport: 8080, seq: 1000, srcMac: '0a:58:0a:f4:01:02', dstMac: 'ee:ee:ee:ee:ee:ee' });
    const p = vxlanEncap(inner, { srcMac: '08:00:27:00:00:11', dstMac: '08:00:27:00:00:12', srcIp: '192.168.56.11', dstIp: '192.168.56.12', sport: 51234, vni: 1 });
    expect(formatPacket(p)).toBe('IP 192.168.56.11.51234 > 192.168.56.12.8472: VXLAN, flags [I] (0x08), vni 1 | IP 10.244.1.2.40000 > 10.244.2.3.8080: Flags [S], seq 1000, win 64240, length 0');
    expect(formatPacket(ipipEncap(inner, { src: '192.168.56.11', dst: '192.168.56.12' }))).toBe('IP 192.168.56.11 > 192.168.56.12: IPIP | IP 10.244.1.2.40000 > 10.244.2.3.8080: Flags [S], seq 1000, win 64240, length 0');
  });
});
