import { Readable } from 'node:stream';
import { parse as parsePcapStream } from 'pcap-parser';
import type { PcapGlobalHeader } from 'pcap-parser';
import { InputError } from '../base/errors.js';
import { hex, readMac, u16, u32 } from './bytes.js';
import { PacketDecodeError } from './errors.js';
import { decodePacket } from './packet.js';
import type { DecodeOptions, Packet } from './packet.js';

/**
 * Link types podpath reads (tcpdump.org/linktypes.html): Ethernet, raw IP (101, and 228/229 for
 * IPv4/IPv6 only), and the Linux cooked captures that `tcpdump -i any` writes: SLL (113, with
 * `-y LINUX_SLL`) and SLL2 (276, libpcap ≥ 1.10's default for `any`).
 */
export const LINKTYPE = { ETHERNET: 1, RAW: 101, LINUX_SLL: 113, IPV4: 228, IPV6: 229, LINUX_SLL2: 276 } as const;

const SLL_HEADER_LEN = 16;
const SLL2_HEADER_LEN = 20;
const PCAP_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
export const PCAP_SNAPLEN = 262144;

/** A Linux cooked-capture header (SLL or SLL2): which interface, which direction, what protocol. */
export interface SllHeader {
  /** 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us (PACKET_HOST … PACKET_OUTGOING). */
  pkttype: number;
  /** ARPHRD_ type of the interface (1 = Ethernet). */
  hatype: number;
  /** Link-layer source address (a MAC for Ethernet interfaces). */
  addr: string;
  /** EtherType of the payload. */
  protocol: number;
  /** SLL2 only: the interface index in the capturing namespace. */
  ifindex?: number;
}

export interface PcapRecord {
  /** Seconds since the epoch, fractional. */
  ts: number;
  linkType: number;
  /** The captured bytes, link header included. */
  bytes: Uint8Array;
  /** The frame's length on the wire (more than bytes.length when the snap length cut it). */
  origLength: number;
  packet?: Packet;
  error?: PacketDecodeError;
  sll?: SllHeader;
  /** `in` (pkttype 0–3) or `out` (4), from a cooked header. */
  direction?: 'in' | 'out';
}

/** A file that is not a classic pcap podpath can read. Names the file and what is wrong. */
export class PcapError extends InputError {
  constructor(file: string | undefined, field: string, message: string) {
    super({ file: file ?? '<pcap>', field, message });
    this.name = 'PcapError';
  }
}

const MAGIC_US_BE = 0xa1b2c3d4;
const MAGIC_US_LE = 0xd4c3b2a1;
const MAGIC_NS_BE = 0xa1b23c4d;
const MAGIC_NS_LE = 0x4d3cb2a1;
const MAGIC_PCAPNG = 0x0a0d0d0a;

/**
 * Reads a classic pcap file (microsecond or nanosecond timestamps, either byte order) with
 * pcap-parser, and decodes every record. A record that does not decode keeps its bytes and gets
 * `error`; a file that is not a pcap, is pcapng, is cut short, or has an unsupported link type
 * throws a PcapError naming `file`.
 */
export async function readPcap(bytes: Uint8Array, file?: string): Promise<PcapRecord[]> {
  if (bytes.length < 4) throw new PcapError(file, 'magic', `not a pcap file: ${bytes.length} bytes, too short for a pcap header`);
  const magic = u32(bytes, 0);
  let input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let nano = false;
  if (magic === MAGIC_NS_BE || magic === MAGIC_NS_LE) {
    // pcap-parser knows only the microsecond magic; the record layout is the same.
    nano = true;
    input = Buffer.from(input);
    input.writeUInt32BE(magic === MAGIC_NS_BE ? MAGIC_US_BE : MAGIC_US_LE, 0);
  } else if (magic === MAGIC_PCAPNG) {
    throw new PcapError(file, 'magic', 'a pcapng file, not classic pcap: convert it with `editcap -F pcap IN OUT` or capture with `tcpdump -w`');
  } else if (magic !== MAGIC_US_BE && magic !== MAGIC_US_LE) {
    throw new PcapError(file, 'magic', `not a pcap file: bad magic ${hex(magic, 8)}`);
  }
  if (bytes.length < PCAP_HEADER_LEN) throw new PcapError(file, 'header', `truncated pcap header: ${bytes.length} of 24 bytes`);

  const { header, raw } = await parseRecords(input, file);
  const linkType = header.linkLayerType;
  if (!Object.values(LINKTYPE).includes(linkType as never)) {
    throw new PcapError(file, 'linktype', `unsupported link type ${linkType} (podpath reads 1 Ethernet, 101/228/229 raw IP, 113 Linux SLL, 276 Linux SLL2)`);
  }
  let consumed = PCAP_HEADER_LEN;
  const records: PcapRecord[] = [];
  for (const r of raw) {
    consumed += RECORD_HEADER_LEN + r.data.length;
    const sub = nano ? 1e9 : 1e6;
    const rec: PcapRecord = {
      ts: r.header.timestampSeconds + r.header.timestampMicroseconds / sub,
      linkType,
      bytes: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
      origLength: r.header.originalLength,
    };
    decodeRecord(rec);
    records.push(rec);
  }
  if (consumed !== bytes.length) {
    throw new PcapError(file, 'record', `truncated: ${bytes.length - consumed} bytes after record ${records.length} do not form a whole record (offset ${consumed})`);
  }
  return records;
}

function parseRecords(input: Buffer, file?: string): Promise<{ header: PcapGlobalHeader; raw: { header: { timestampSeconds: number; timestampMicroseconds: number; originalLength: number }; data: Buffer }[] }> {
  return new Promise((resolve, reject) => {
    const parser = parsePcapStream(Readable.from([input]));
    let header: PcapGlobalHeader | undefined;
    const raw: { header: { timestampSeconds: number; timestampMicroseconds: number; originalLength: number }; data: Buffer }[] = [];
    let failed = false;
    parser.on('globalHeader', (h) => {
      header = h;
    });
    parser.on('packet', (p) => {
      raw.push(p);
    });
    parser.on('error', (e) => {
      failed = true;
      reject(new PcapError(file, 'header', `not a pcap file: ${e.message}`));
    });
    parser.on('end', () => {
      if (failed) return;
      if (!header) reject(new PcapError(file, 'header', 'not a pcap file: no complete header'));
      else resolve({ header, raw });
    });
  });
}

function decodeRecord(rec: PcapRecord): void {
  const b = rec.bytes;
  try {
    let opts: DecodeOptions;
    let body = b;
    switch (rec.linkType) {
      case LINKTYPE.ETHERNET:
        opts = { link: 'ethernet' };
        break;
      case LINKTYPE.RAW:
      case LINKTYPE.IPV4:
      case LINKTYPE.IPV6:
        opts = { link: 'raw' };
        break;
      case LINKTYPE.LINUX_SLL: {
        if (b.length < SLL_HEADER_LEN) throw new PacketDecodeError('sll', 'header', 0, `truncated: needs 16 bytes, ${b.length} left`);
        const halen = Math.min(u16(b, 4), 8);
        rec.sll = { pkttype: u16(b, 0), hatype: u16(b, 2), addr: linkAddr(b, 6, halen), protocol: u16(b, 14) };
        body = b.subarray(SLL_HEADER_LEN);
        opts = { link: 'raw', ethertype: rec.sll.protocol };
        break;
      }
      case LINKTYPE.LINUX_SLL2: {
        if (b.length < SLL2_HEADER_LEN) throw new PacketDecodeError('sll2', 'header', 0, `truncated: needs 20 bytes, ${b.length} left`);
        const halen = Math.min(b[11]!, 8);
        rec.sll = { pkttype: b[10]!, hatype: u16(b, 8), addr: linkAddr(b, 12, halen), protocol: u16(b, 0), ifindex: u32(b, 4) };
        body = b.subarray(SLL2_HEADER_LEN);
        opts = { link: 'raw', ethertype: rec.sll.protocol };
        break;
      }
      default:
        return;
    }
    if (rec.sll) rec.direction = rec.sll.pkttype === 4 ? 'out' : 'in';
    rec.packet = decodePacket(body, opts);
  } catch (e) {
    if (!(e instanceof PacketDecodeError)) throw e;
    const shift = rec.sll ? (rec.linkType === LINKTYPE.LINUX_SLL ? SLL_HEADER_LEN : SLL2_HEADER_LEN) : 0;
    rec.error = shift && e.layer !== 'sll' && e.layer !== 'sll2' ? new PacketDecodeError(e.layer, e.field, e.offset + shift, e.message.replace(/^.*?: /, '')) : e;
  }
}

function linkAddr(b: Uint8Array, o: number, len: number): string {
  if (len === 6) return readMac(b, o);
  return Array.from(b.subarray(o, o + len), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * Writes a classic pcap file: little-endian, version 2.4, microsecond timestamps, snap length
 * 262144 (tcpdump's default). Records longer than that are cut to it, keeping their true length.
 */
export function writePcap(records: readonly { ts: number; bytes: Uint8Array }[], linkType: number = LINKTYPE.ETHERNET): Uint8Array {
  let size = PCAP_HEADER_LEN;
  for (const r of records) size += RECORD_HEADER_LEN + Math.min(r.bytes.length, PCAP_SNAPLEN);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC_US_BE, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, PCAP_SNAPLEN, true);
  dv.setUint32(20, linkType, true);
  let o = PCAP_HEADER_LEN;
  for (const r of records) {
    if (!(r.ts >= 0) || !Number.isFinite(r.ts)) throw new RangeError(`pcap timestamp ${r.ts} is not a non-negative number of seconds`);
    let sec = Math.floor(r.ts);
    let usec = Math.round((r.ts - sec) * 1e6);
    if (usec >= 1e6) {
      sec += 1;
      usec -= 1e6;
    }
    const cap = Math.min(r.bytes.length, PCAP_SNAPLEN);
    dv.setUint32(o, sec, true);
    dv.setUint32(o + 4, usec, true);
    dv.setUint32(o + 8, cap, true);
    dv.setUint32(o + 12, r.bytes.length, true);
    out.set(r.bytes.subarray(0, cap), o + RECORD_HEADER_LEN);
    o += RECORD_HEADER_LEN + cap;
  }
  return out;
}
