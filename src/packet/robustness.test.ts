// Bad input: truncated, inconsistent and corrupted frames give PacketDecodeError (layer, field,
// offset) or a checksum problem, never another exception, and never a value read past the buffer.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Rng } from '../base/rng.js';
import { PacketDecodeError } from './errors.js';
import { decodePacket, encodePacket, verifyPacket } from './packet.js';
import type { LinkKind } from './packet.js';
import { readPcap } from './pcap.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/packets/', import.meta.url));

async function frames(file: string): Promise<Uint8Array[]> {
  return (await readPcap(readFileSync(FIXTURES + file), file)).map((r) => r.bytes);
}

/** A frame of each shape: ARP, ICMP echo, TCP with options, UDP, IPv6 TCP, VXLAN TCP, ICMP error, ICMPv6 PTB. */
async function sampleFrames(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const arp = await frames('arp-icmp.pcap');
  const tcp = await frames('tcp4.pcap');
  const udp = await frames('udp4.pcap');
  const v6 = await frames('ipv6.pcap');
  const vx = await frames('vxlan.pcap');
  const err = await frames('icmp-errors.pcap');
  return [
    { name: 'ARP request', bytes: arp[6]! },
    { name: 'ICMP echo', bytes: arp[8]! },
    { name: 'TCP SYN with options', bytes: tcp[0]! },
    { name: 'TCP data', bytes: tcp[3]! },
    { name: 'UDP', bytes: udp[0]! },
    { name: 'ICMP port unreachable', bytes: udp[2]! },
    { name: 'IPv6 TCP SYN', bytes: v6[4]! },
    { name: 'VXLAN TCP SYN', bytes: vx[2]! },
    { name: 'ICMP frag needed', bytes: err[1]! },
    { name: 'ICMPv6 packet too big', bytes: err[5]! },
  ];
}

function decodeOutcome(bytes: Uint8Array, link: LinkKind): 'ok' | PacketDecodeError {
  try {
    decodePacket(bytes, { link });
    return 'ok';
  } catch (e) {
    if (e instanceof PacketDecodeError) return e;
    throw new Error(`untyped exception for a ${bytes.length}-byte frame: ${String(e)}`);
  }
}

describe('truncated frames', () => {
  it('every truncation of every sample frame is a PacketDecodeError naming layer, field and an offset inside the frame', async () => {
    let checked = 0;
    for (const { name, bytes } of await sampleFrames()) {
      for (let len = 0; len < bytes.length; len++) {
        const cut = bytes.slice(0, len);
        const out = decodeOutcome(cut, 'ethernet');
        expect(out, `${name} cut to ${len} bytes`).toBeInstanceOf(PacketDecodeError);
        const e = out as PacketDecodeError;
        expect(e.name).toBe('PacketDecodeError');
        expect(e.layer).toMatch(/^(ethernet|arp|ipv4|ipv6|icmp|icmpv6|tcp|udp|vxlan)$/);
        expect(e.field.length).toBeGreaterThan(0);
        expect(e.offset).toBeGreaterThanOrEqual(0);
        expect(e.offset).toBeLessThanOrEqual(len);
        expect(e.message).toContain(`at offset ${e.offset}`);
        // verifyPacket reports the same problem rather than throwing.
        const problems = verifyPacket(cut, 'ethernet');
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatchObject({ layer: e.layer, field: e.field, offset: e.offset, index: -1 });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(2000);
  });

  it('names the layer and field that ran out', async () => {
    const [, , syn] = await sampleFrames().then((f) => f.map((x) => x.bytes));
    expect(decodeOutcome(syn!.slice(0, 10), 'ethernet')).toMatchObject({ layer: 'ethernet', field: 'header', offset: 0 });
    // IPv4 header complete, datagram cut: the total length field at offset 14 + 2 is named.
    expect(decodeOutcome(syn!.slice(0, 40), 'ethernet')).toMatchObject({ layer: 'ipv4', field: 'totalLength', offset: 16 });
  });
});

describe('inconsistent frames', () => {
  it('an IPv4 total length shorter than the header, a TCP data offset below 5, a UDP length that disagrees', async () => {
    const s = await sampleFrames();
    const tcp = s.find((x) => x.name === 'TCP SYN with options')!.bytes.slice();
    const bad1 = tcp.slice();
    bad1[16] = 0;
    bad1[17] = 12; // total length 12 < 20
    expect(decodeOutcome(bad1, 'ethernet')).toMatchObject({ layer: 'ipv4', field: 'totalLength', offset: 16 });
    const bad2 = tcp.slice();
    bad2[14 + 20 + 12] = 0x40; // data offset 4 words
    expect(decodeOutcome(bad2, 'ethernet')).toMatchObject({ layer: 'tcp', field: 'dataOffset', offset: 46 });
    const udp = s.find((x) => x.name === 'UDP')!.bytes.slice();
    udp[14 + 20 + 5] = udp[14 + 20 + 5]! - 1; // UDP length one short of the IP payload
    expect(decodeOutcome(udp, 'ethernet')).toMatchObject({ layer: 'udp', field: 'length', offset: 38 });
    const v = tcp.slice();
    v[14] = 0x55; // version 5
    expect(decodeOutcome(v, 'ethernet')).toMatchObject({ layer: 'ipv4', field: 'version', offset: 14 });
  });
});

describe('flipped bits', () => {
  it('verifyPacket catches every single-bit flip in a checksummed region of each sample frame', async () => {
    let flips = 0;
    for (const { name, bytes } of await sampleFrames()) {
      if (name === 'ARP request') continue; // ARP has no checksum
      // Everything after the Ethernet header is covered by some checksum or length check, except
      // IPv6's version/traffic class/flow label, next header (a flip can name an unknown protocol)
      // and hop limit (no IPv6 header checksum), and
      // between the outer IPv4 header and the inner IP header of VXLAN sent with UDP checksum 0.
      const uncovered = (i: number) =>
        (/IPv6|ICMPv6/.test(name) && ((i >= 14 && i < 18) || i === 20 || i === 21)) || (name.includes('VXLAN') && i >= 34 && i < 34 + 8 + 8 + 14);
      for (let i = 14; i < bytes.length; i++) {
        if (uncovered(i)) continue;
        for (const bit of [0, 7]) {
          const x = bytes.slice();
          x[i] = x[i]! ^ (1 << bit);
          const problems = verifyPacket(x, 'ethernet');
          expect(problems.length, `${name}: bit ${bit} of byte ${i}`).toBeGreaterThan(0);
          flips++;
        }
      }
    }
    expect(flips).toBeGreaterThan(3000);
  });

  it('names the layer, field and offset of a bad checksum and what it should be', async () => {
    const s = await sampleFrames();
    const syn = s.find((x) => x.name === 'TCP SYN with options')!.bytes;
    const x = syn.slice();
    x[14 + 20 + 4] = x[14 + 20 + 4]! ^ 0x10; // a bit of the sequence number
    const problems = verifyPacket(x, 'ethernet');
    expect(problems).toEqual([
      expect.objectContaining({ layer: 'tcp', index: 2, field: 'checksum', offset: 14 + 20 + 16, actual: (syn[50]! << 8) | syn[51]! }),
    ]);
    // The expected value is the checksum of the changed segment: writing it fixes the frame.
    const fixed = x.slice();
    fixed[50] = problems[0]!.expected! >> 8;
    fixed[51] = problems[0]!.expected! & 255;
    expect(verifyPacket(fixed, 'ethernet')).toEqual([]);
    const y = syn.slice();
    y[14 + 8] = y[14 + 8]! ^ 1; // the TTL: only the IPv4 header checksum covers it
    expect(verifyPacket(y, 'ethernet')).toEqual([expect.objectContaining({ layer: 'ipv4', index: 1, field: 'checksum', offset: 24 })]);
  });

  it('a decoded corrupt frame encodes back unchanged with recompute: false, and repaired by default', async () => {
    const s = await sampleFrames();
    const vx = s.find((x) => x.name === 'VXLAN TCP SYN')!.bytes;
    const x = vx.slice();
    x[x.length - 25] = x[x.length - 25]! ^ 0x04; // inside the inner TCP header
    const p = decodePacket(x, { link: 'ethernet' });
    expect(Buffer.from(encodePacket(p, { recompute: false })).equals(Buffer.from(x))).toBe(true);
    const repaired = encodePacket(p);
    expect(verifyPacket(repaired, 'ethernet')).toEqual([]);
    expect(Buffer.from(repaired).equals(Buffer.from(x))).toBe(false);
  });
});

describe('random corruption (seeded)', () => {
  it('decode either fails typed, or succeeds and re-encodes the same bytes (no field came from past the end)', async () => {
    const rng = new Rng(7);
    const all = [
      ...(await frames('arp-icmp.pcap')),
      ...(await frames('tcp4.pcap')),
      ...(await frames('udp4.pcap')),
      ...(await frames('ipv6.pcap')),
      ...(await frames('vxlan.pcap')),
      ...(await frames('icmp-errors.pcap')),
    ];
    let ok = 0;
    let failed = 0;
    for (let round = 0; round < 3000; round++) {
      const src = all[rng.int(all.length)]!;
      const x = src.slice(0, rng.int(4) === 0 ? rng.int(src.length + 1) : src.length);
      const flips = 1 + rng.int(4);
      for (let k = 0; k < flips && x.length > 0; k++) x[rng.int(x.length)] = rng.int(256);
      const link: LinkKind = rng.int(5) === 0 ? 'raw' : 'ethernet';
      const out = decodeOutcome(x, link);
      if (out === 'ok') {
        const p = decodePacket(x, { link });
        expect(Buffer.from(encodePacket(p, { recompute: false })).equals(Buffer.from(x)), `round ${round}`).toBe(true);
        ok++;
      } else failed++;
      expect(() => verifyPacket(x, link)).not.toThrow();
    }
    expect(ok).toBeGreaterThan(500);
    expect(failed).toBeGreaterThan(100);
  });
});
