// Shapes the kernel captures here do not hold: 802.1Q tags (no 8021q module), Ethernet padding,
// IPv4 options, fragments, trailers after a raw datagram, UDP checksum 0 over IPv6.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { icmpEcho, tcpSyn, udpDatagram } from './build.js';
import { ARP_OP } from './arp.js';
import type { ArpHeader } from './arp.js';
import { ETHERTYPE } from './ethernet.js';
import type { EthernetHeader } from './ethernet.js';
import { decodePacket, encodePacket, verifyPacket } from './packet.js';
import type { Packet } from './packet.js';
import { writePcap } from './pcap.js';
import { formatPacket } from './format.js';

const dir = mkdtempSync(join(tmpdir(), 'podpath-layers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tshark(bytes: Uint8Array, fields: string[]): string[] {
  const file = join(dir, `f${Math.random().toString(36).slice(2)}.pcap`);
  writeFileSync(file, writePcap([{ ts: 0, bytes }]));
  const r = spawnSync('tshark', ['-n', '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  if (r.error) throw new Error(`tshark is needed: apt-get install tshark (${r.error.message})`);
  return r.stdout.replace(/\n$/, '').split('\t');
}

function roundTrip(p: Packet, link: 'ethernet' | 'raw' = 'ethernet'): Packet {
  const wire = encodePacket(p);
  const back = decodePacket(wire, { link });
  expect(Buffer.from(encodePacket(back)).equals(Buffer.from(wire))).toBe(true);
  return back;
}

describe('802.1Q', () => {
  it('a tagged frame: tshark reads the VLAN id, priority and inner EtherType; decode gives them back', () => {
    const p = udpDatagram({ src: '10.10.0.1', dst: '10.10.0.2', sport: 1234, dport: 53, data: new Uint8Array(12), srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b' });
    (p.layers[0] as EthernetHeader).vlan = { pcp: 5, dei: false, vid: 10 };
    const wire = encodePacket(p);
    expect([wire[12], wire[13]]).toEqual([0x81, 0x00]);
    const [id, prio, etype, src, status] = tshark(wire, ['vlan.id', 'vlan.priority', 'vlan.etype', 'ip.src', 'udp.checksum.status']);
    expect([Number(id), Number(prio), Number(etype), src, status]).toEqual([10, 5, 0x0800, '10.10.0.1', '1']);
    const back = roundTrip(p);
    expect(back.layers[0]).toMatchObject({ vlan: { pcp: 5, dei: false, vid: 10 }, ethertype: 0x0800 });
    expect(formatPacket(back, { ethernet: true })).toMatch(/^02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype 802\.1Q \(0x8100\), length 58: vlan 10, p 5, ethertype IPv4 \(0x0800\), 10\.10\.0\.1\.1234 > 10\.10\.0\.2\.53: UDP, length 12$/);
  });

  it('a truncated tag is a PacketDecodeError naming the vlan field', () => {
    const wire = Uint8Array.from([...new Uint8Array(12), 0x81, 0x00, 0x00]);
    expect(() => decodePacket(wire)).toThrow(expect.objectContaining({ name: 'PacketDecodeError', layer: 'ethernet', field: 'vlan', offset: 14 }));
  });
});

describe('Ethernet padding and raw trailers', () => {
  it('an ARP request padded to the 60-byte minimum keeps its padding, and tshark calls it padding', () => {
    const arp: ArpHeader = { kind: 'arp', htype: 1, ptype: 0x0800, op: ARP_OP.REQUEST, senderMac: '02:00:00:00:00:0a', senderIp: '10.0.0.1', targetMac: '00:00:00:00:00:00', targetIp: '10.0.0.2' };
    const eth: EthernetHeader = { kind: 'ethernet', dst: 'ff:ff:ff:ff:ff:ff', src: '02:00:00:00:00:0a', ethertype: ETHERTYPE.ARP, padding: new Uint8Array(18) };
    const wire = encodePacket({ layers: [eth, arp], payload: new Uint8Array(0) });
    expect(wire.length).toBe(60);
    expect(tshark(wire, ['arp.dst.proto_ipv4', 'eth.padding'])).toEqual(['10.0.0.2', '00'.repeat(18)]);
    const back = decodePacket(wire);
    expect((back.layers[0] as EthernetHeader).padding).toHaveLength(18);
    expect(back.payload).toHaveLength(0);
  });

  it('a small TCP segment padded by the sender: the IPv4 total length decides where padding starts', () => {
    const p = icmpEcho({ src: '10.0.0.1', dst: '10.0.0.2', id: 1, seq: 1, srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b' });
    (p.layers[0] as EthernetHeader).padding = Uint8Array.of(0, 0, 0, 0, 0, 0, 0xde, 0xad);
    const back = roundTrip(p);
    expect(back.payload).toHaveLength(0);
    expect((back.layers[0] as EthernetHeader).padding).toEqual(Uint8Array.of(0, 0, 0, 0, 0, 0, 0xde, 0xad));
    expect(verifyPacket(encodePacket(p), 'ethernet')).toEqual([]);
  });

  it('bytes after a raw datagram are its trailer; inside a tunnel they are an inconsistency', () => {
    const raw = encodePacket({ ...udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }), trailer: Uint8Array.of(9, 9) });
    const p = decodePacket(raw, { link: 'raw' });
    expect(p.trailer).toEqual(Uint8Array.of(9, 9));
    // An IP-in-IP inner datagram two bytes shorter than the outer payload.
    const inner = encodePacket(udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }));
    const outer = encodePacket({ layers: [{ kind: 'ipv4', dscp: 0, ecn: 0, id: 0, df: false, mf: false, fragOffset: 0, ttl: 64, protocol: 4, src: '1.1.1.1', dst: '2.2.2.2' }], payload: Uint8Array.from([...inner, 0, 0]) });
    expect(() => decodePacket(outer, { link: 'raw' })).toThrow(expect.objectContaining({ layer: 'ipv4', field: 'totalLength', offset: 22 }));
  });
});

describe('IPv4 options and fragments', () => {
  it('options set the IHL; tshark reads the header length and a good checksum', () => {
    const p = tcpSyn({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b' });
    // Router alert (RFC 2113): type 148, length 4, value 0.
    (p.layers[1] as { options: Uint8Array }).options = Uint8Array.of(148, 4, 0, 0);
    const wire = encodePacket(p);
    expect(wire[14]).toBe(0x46);
    expect(tshark(wire, ['ip.hdr_len', 'ip.checksum.status', 'tcp.srcport'])).toEqual(['24', '1', '1']);
    expect(roundTrip(p).layers[1]).toMatchObject({ options: Uint8Array.of(148, 4, 0, 0) });
  });

  it('a later fragment is payload only; a first fragment keeps the transport length and checksum it carries', () => {
    const data = new Uint8Array(64).fill(7);
    const whole = udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5, dport: 6, data });
    const wire = encodePacket(whole, { recompute: true });
    const udpBytes = wire.subarray(20);
    // First fragment: IP header + the first 32 bytes of the UDP datagram, MF set.
    const first = decodePacket(wire, { link: 'raw' });
    const f1: Packet = { layers: [{ ...(first.layers[0] as object), mf: true, df: false } as Packet['layers'][number], first.layers[1]!], payload: udpBytes.subarray(8, 32) };
    const f1wire = encodePacket(f1);
    const f1back = decodePacket(f1wire, { link: 'raw' });
    expect(f1back.layers[1]).toMatchObject({ kind: 'udp', length: 72, checksum: (udpBytes[6]! << 8) | udpBytes[7]! });
    expect(verifyPacket(f1wire, 'raw')).toEqual([]);
    // Second fragment: offset 32 bytes = 4 units, the rest of the datagram, no UDP header.
    const f2: Packet = { layers: [{ ...(first.layers[0] as object), mf: false, df: false, fragOffset: 4 } as Packet['layers'][number]], payload: udpBytes.subarray(32) };
    const f2back = decodePacket(encodePacket(f2), { link: 'raw' });
    expect(f2back.layers.map((l) => l.kind)).toEqual(['ipv4']);
    expect(f2back.payload).toHaveLength(40);
    expect(formatPacket(f2back)).toBe('IP 10.0.0.1 > 10.0.0.2: UDP 40 (frag 0:40@32)');
  });
});

describe('UDP checksum 0', () => {
  it('is "no checksum" over IPv4, but a problem over IPv6', () => {
    const v4 = encodePacket(udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, zeroChecksum: true }));
    expect(verifyPacket(v4, 'raw')).toEqual([]);
    const v6 = encodePacket(udpDatagram({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, zeroChecksum: true }));
    expect(verifyPacket(v6, 'raw')).toEqual([expect.objectContaining({ layer: 'udp', field: 'checksum', offset: 46, actual: 0 })]);
  });
});
