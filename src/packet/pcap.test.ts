import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../base/errors.js';
import { PacketDecodeError } from './errors.js';
import { PcapError, readPcap, writePcap, LINKTYPE } from './pcap.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/packets/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'podpath-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fixture(name: string): Uint8Array {
  return readFileSync(FIXTURES + name);
}

/** tshark's epoch timestamps, the independent reading of the record headers. */
function tsharkTimes(file: string): number[] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch'], { encoding: 'utf8' });
  if (r.error) throw new Error(`tshark is needed: apt-get install tshark (${r.error.message})`);
  return r.stdout.trim().split('\n').map(Number);
}

describe('readPcap', () => {
  it('reads Ethernet captures with the timestamps tshark reads', async () => {
    const recs = await readPcap(fixture('tcp4.pcap'), 'tcp4.pcap');
    expect(recs.every((r) => r.linkType === LINKTYPE.ETHERNET)).toBe(true);
    const times = tsharkTimes(FIXTURES + 'tcp4.pcap');
    expect(recs.map((r) => r.ts)).toHaveLength(times.length);
    recs.forEach((r, i) => expect(r.ts).toBeCloseTo(times[i]!, 6));
    expect(recs.every((r) => r.origLength === r.bytes.length)).toBe(true);
  });

  it('reads tcpdump -i any captures: SLL2 (276) with the interface index, and SLL (113)', async () => {
    const sll2 = await readPcap(fixture('any-sll2.pcap'), 'any-sll2.pcap');
    expect(sll2[0]!.linkType).toBe(LINKTYPE.LINUX_SLL2);
    expect(sll2.map((r) => r.direction)).toEqual(['in', 'out']);
    expect(sll2[0]!.sll).toMatchObject({ protocol: 0x0800, hatype: 1, pkttype: 0 });
    expect(sll2[0]!.sll!.ifindex).toBeGreaterThan(0);
    const sll = await readPcap(fixture('any-sll.pcap'), 'any-sll.pcap');
    expect(sll[0]!.linkType).toBe(LINKTYPE.LINUX_SLL);
    expect(sll.map((r) => r.direction)).toEqual(['in', 'out']);
    expect(sll[0]!.sll!.ifindex).toBeUndefined();
    for (const r of [...sll, ...sll2]) expect(r.packet!.layers.map((l) => l.kind)).toEqual(['ipv4', 'icmp']);
  });

  it('a record that does not decode keeps its bytes and gets a PacketDecodeError; the others still decode', async () => {
    const good = (await readPcap(fixture('tcp4.pcap'))).map((r) => r.bytes);
    const file = writePcap([{ ts: 1, bytes: good[0]! }, { ts: 2, bytes: good[1]!.slice(0, 30) }]);
    const recs = await readPcap(file, 'cut.pcap');
    expect(recs[0]!.packet).toBeDefined();
    expect(recs[1]!.packet).toBeUndefined();
    expect(recs[1]!.error).toBeInstanceOf(PacketDecodeError);
    expect(recs[1]!.error).toMatchObject({ layer: 'ipv4', field: 'header', offset: 14 });
  });

  it('reads nanosecond-resolution and big-endian files (as editcap writes them)', async () => {
    const src = join(dir, 'src.pcap');
    writeFileSync(src, writePcap([{ ts: 12.5, bytes: (await readPcap(fixture('arp-icmp.pcap')))[6]!.bytes }]));
    const ns = join(dir, 'ns.pcap');
    const r = spawnSync('editcap', ['-F', 'nsecpcap', src, ns], { encoding: 'utf8' });
    if (r.error) throw new Error(`editcap (part of tshark's package) is needed: apt-get install tshark (${r.error.message})`);
    const recs = await readPcap(readFileSync(ns), 'ns.pcap');
    expect(recs[0]!.ts).toBeCloseTo(12.5, 9);
    expect(recs[0]!.packet!.layers[1]!.kind).toBe('arp');
    // Big-endian: the same file with every header field byte-swapped.
    const le = readFileSync(src);
    const be = Buffer.from(le);
    const swap32 = (o: number) => be.writeUInt32BE(le.readUInt32LE(o), o);
    const swap16 = (o: number) => be.writeUInt16BE(le.readUInt16LE(o), o);
    swap32(0); swap16(4); swap16(6); swap32(8); swap32(12); swap32(16); swap32(20);
    for (const o of [24, 28, 32, 36]) swap32(o);
    const beRecs = await readPcap(be, 'be.pcap');
    expect(beRecs[0]!.ts).toBeCloseTo(12.5, 6);
    expect(Buffer.from(beRecs[0]!.bytes).equals(Buffer.from(recs[0]!.bytes))).toBe(true);
  });
});

describe('writePcap', () => {
  it('write → read round trip of every kernel capture, and tshark reads what we wrote', async () => {
    for (const name of ['arp-icmp.pcap', 'vxlan.pcap', 'icmp-errors.pcap', 'any-sll2.pcap']) {
      const recs = await readPcap(fixture(name), name);
      const out = writePcap(recs, recs[0]!.linkType);
      const back = await readPcap(out, `${name} rewritten`);
      expect(back.map((r) => [r.ts.toFixed(6), Buffer.from(r.bytes).toString('hex')])).toEqual(recs.map((r) => [r.ts.toFixed(6), Buffer.from(r.bytes).toString('hex')]));
      // tcpdump wrote microsecond pcap too: our header + records reproduce the original file except the snaplen field.
      const orig = fixture(name);
      expect(Buffer.from(out.subarray(24)).equals(Buffer.from(orig.subarray(24)))).toBe(true);
      const file = join(dir, name);
      writeFileSync(file, out);
      expect(tsharkTimes(file)).toHaveLength(recs.length);
    }
  });

  it('writes the classic header: magic a1b2c3d4 (little-endian), 2.4, snaplen 262144, the link type', () => {
    const out = Buffer.from(writePcap([], LINKTYPE.RAW));
    expect(out.length).toBe(24);
    expect(out.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect([out.readUInt16LE(4), out.readUInt16LE(6)]).toEqual([2, 4]);
    expect(out.readUInt32LE(16)).toBe(262144);
    expect(out.readUInt32LE(20)).toBe(101);
  });

  it('carries microseconds over into seconds when rounding reaches a whole second', async () => {
    const out = writePcap([{ ts: 1.9999996, bytes: new Uint8Array(0) }]);
    const dv = Buffer.from(out);
    expect([dv.readUInt32LE(24), dv.readUInt32LE(28)]).toEqual([2, 0]);
  });
});

describe('not a pcap', () => {
  it('a text file: PcapError (an InputError) naming the file and the bad magic', async () => {
    const err = await readPcap(new TextEncoder().encode('hello, world\n'), 'notes.txt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PcapError);
    expect(err).toBeInstanceOf(InputError);
    expect((err as PcapError).name).toBe('PcapError');
    expect((err as PcapError).message).toBe('notes.txt (magic): not a pcap file: bad magic 0x68656c6c');
    expect((err as PcapError).problems[0]).toMatchObject({ file: 'notes.txt', field: 'magic' });
  });

  it('an empty file, a pcapng file, a cut-off file, an unsupported link type', async () => {
    await expect(readPcap(new Uint8Array(0), 'empty.pcap')).rejects.toThrow(/empty\.pcap \(magic\): not a pcap file: 0 bytes/);
    const ng = Buffer.from('0a0d0d0a1c0000004d3c2b1a', 'hex');
    await expect(readPcap(ng, 'x.pcapng')).rejects.toThrow(/x\.pcapng \(magic\): a pcapng file/);
    const whole = fixture('tcp4.pcap');
    await expect(readPcap(whole.subarray(0, 20), 'short.pcap')).rejects.toThrow(/short\.pcap \(header\): truncated pcap header/);
    await expect(readPcap(whole.subarray(0, whole.length - 3), 'cut.pcap')).rejects.toThrow(/cut\.pcap \(record\): truncated: .* after record 9/);
    const odd = Buffer.from(writePcap([], 147));
    await expect(readPcap(odd, 'user0.pcap')).rejects.toThrow(/user0\.pcap \(linktype\): unsupported link type 147/);
  });
});
