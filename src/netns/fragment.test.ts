/**
 * ip_do_fragment's wire result, checked on the kernel (netns, 6.x): a 1428-byte UDP datagram
 * (1400 bytes of data, DF clear) forwarded out of a device with MTU 1000 left as
 * "id 59814, offset 0, flags [+], length 996" and "id 59814, offset 976, flags [none], length 452",
 * TTL decremented once, the UDP header in the first fragment only.
 */
import { describe, expect, it } from 'vitest';
import { encodePacket, verifyPacket, type Packet } from '../packet/index.js';
import { IPPROTO, packetOfHeaders } from '../packet/skb.js';
import { fragmentCount, fragmentDatagram } from './fragment.js';

function udp(length: number, df: boolean): Packet {
  return packetOfHeaders({ family: 4, src: '192.168.1.2', dst: '10.1.0.2', proto: IPPROTO.UDP, sport: 40000, dport: 9, ttl: 63, length, df, id: 59814 });
}

describe('fragmentDatagram (ip_do_fragment)', () => {
  it('1428 bytes for MTU 1000: 996 + 452, offsets 0 and 976, MF on the first, same id, own checksums', () => {
    const frags = fragmentDatagram(udp(1428, false), 1000);
    expect(frags).toHaveLength(2);
    expect(fragmentCount(1428, 1000)).toBe(2);
    const [a, b] = frags.map((f) => encodePacket(f, { recompute: false }));
    expect(a!.length).toBe(996);
    expect(b!.length).toBe(452);
    const ipa = frags[0]!.layers[0]!;
    const ipb = frags[1]!.layers[0]!;
    expect(ipa).toMatchObject({ kind: 'ipv4', id: 59814, mf: true, fragOffset: 0, ttl: 63, df: false });
    expect(ipb).toMatchObject({ kind: 'ipv4', id: 59814, mf: false, fragOffset: 976 / 8 });
    expect(frags[0]!.layers.map((l) => l.kind)).toEqual(['ipv4', 'udp']);
    expect(frags[1]!.layers.map((l) => l.kind)).toEqual(['ipv4']);
    for (const f of [a!, b!]) expect(verifyPacket(f, 'raw')).toEqual([]);
    // the data, put back together, is the datagram's
    const whole = encodePacket(udp(1428, false));
    expect(Buffer.concat([a!.subarray(20), b!.subarray(20)]).equals(Buffer.from(whole.subarray(20)))).toBe(true);
  });

  it('a datagram that fits is not split; DF set is refused', () => {
    expect(fragmentDatagram(udp(1000, false), 1000)).toHaveLength(1);
    expect(() => fragmentDatagram(udp(1428, true), 1000)).toThrow(/DF/);
  });

  it('every fragment but the last carries a multiple of 8 bytes (MTU 1450: 1424 data bytes)', () => {
    const frags = fragmentDatagram(udp(3000, false), 1450);
    const sizes = frags.map((f) => encodePacket(f, { recompute: false }).length - 20);
    expect(sizes).toEqual([1424, 1424, 132]);
    expect(fragmentCount(3000, 1450)).toBe(3);
  });
});
