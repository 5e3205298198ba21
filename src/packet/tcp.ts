import { checkUint, need, put16, put32, u16, u32 } from './bytes.js';
import { PacketDecodeError, PacketEncodeError } from './errors.js';

export interface TcpHeaderFlags {
  fin: boolean;
  syn: boolean;
  rst: boolean;
  psh: boolean;
  ack: boolean;
  urg: boolean;
  ece: boolean;
  cwr: boolean;
}

/**
 * A TCP header (RFC 9293). The data offset is derived from `options` (a multiple of 4 bytes, at
 * most 40). `checksum` is what a decoded header carried; encoding computes it over the IPv4/IPv6
 * pseudo-header of the enclosing IP layer by default. `partial` is set only on a header quoted
 * inside an ICMP error that holds fewer than 20 bytes of it: the number of bytes present (≥ 8).
 */
export interface TcpHeader {
  kind: 'tcp';
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: TcpHeaderFlags;
  /** The four bits between data offset and CWR (reserved, and AE/NS of RFC 3540); normally 0. */
  reserved?: number;
  window: number;
  checksum?: number;
  urgent: number;
  options?: Uint8Array;
  partial?: number;
}

export const TCP_HEADER_LEN = 20;
/** Bytes a TCP header quoted in an ICMP error must have for its ports and sequence number. */
export const TCP_MIN_QUOTED = 8;

const EMPTY = new Uint8Array(0);

export function decodeTcp(bytes: Uint8Array, offset = 0, end = bytes.length): TcpHeader {
  need(end, offset, TCP_HEADER_LEN, 'tcp', 'header');
  const doff = (bytes[offset + 12]! >> 4) * 4;
  if (doff < TCP_HEADER_LEN) throw new PacketDecodeError('tcp', 'dataOffset', offset + 12, `data offset ${doff} is below 20`);
  need(end, offset, doff, 'tcp', 'options');
  const h = decodeTcpFixed(bytes, offset);
  h.checksum = u16(bytes, offset + 16);
  h.urgent = u16(bytes, offset + 18);
  h.options = doff > TCP_HEADER_LEN ? bytes.slice(offset + TCP_HEADER_LEN, offset + doff) : EMPTY;
  return h;
}

/** The first `available` (8..19) bytes of a TCP header quoted in an ICMP error. */
export function decodeTcpPartial(bytes: Uint8Array, offset: number, available: number): TcpHeader {
  const padded = new Uint8Array(TCP_HEADER_LEN);
  padded.set(bytes.subarray(offset, offset + available));
  const h = decodeTcpFixed(padded, 0);
  if (available >= 18) h.checksum = u16(padded, 16);
  h.urgent = u16(padded, 18);
  // The options themselves were not quoted; a zero-filled stand-in keeps the data offset.
  const doff = (padded[12]! >> 4) * 4;
  h.options = available >= 13 && doff > TCP_HEADER_LEN ? new Uint8Array(doff - TCP_HEADER_LEN) : EMPTY;
  h.partial = available;
  return h;
}

function decodeTcpFixed(bytes: Uint8Array, offset: number): TcpHeader {
  const f = bytes[offset + 13]!;
  return {
    kind: 'tcp',
    sport: u16(bytes, offset),
    dport: u16(bytes, offset + 2),
    seq: u32(bytes, offset + 4),
    ack: u32(bytes, offset + 8),
    flags: {
      fin: (f & 0x01) !== 0,
      syn: (f & 0x02) !== 0,
      rst: (f & 0x04) !== 0,
      psh: (f & 0x08) !== 0,
      ack: (f & 0x10) !== 0,
      urg: (f & 0x20) !== 0,
      ece: (f & 0x40) !== 0,
      cwr: (f & 0x80) !== 0,
    },
    reserved: bytes[offset + 12]! & 0x0f,
    window: u16(bytes, offset + 14),
    urgent: 0,
  };
}

export function tcpHeaderLen(h: TcpHeader): number {
  const n = h.options?.length ?? 0;
  if (n % 4 !== 0 || n > 40) throw new PacketEncodeError('tcp', 'options', `${n} bytes of options; must be a multiple of 4, at most 40`);
  if (h.partial !== undefined) return checkUint(h.partial, 5, 'tcp', 'partial');
  return TCP_HEADER_LEN + n;
}

export function tcpFlagsByte(f: TcpHeaderFlags): number {
  return (
    (f.fin ? 0x01 : 0) | (f.syn ? 0x02 : 0) | (f.rst ? 0x04 : 0) | (f.psh ? 0x08 : 0) |
    (f.ack ? 0x10 : 0) | (f.urg ? 0x20 : 0) | (f.ece ? 0x40 : 0) | (f.cwr ? 0x80 : 0)
  );
}

/**
 * Writes the header at `offset` with the checksum field set to `checksum` (encodePacket computes it
 * afterwards over the pseudo-header and segment). Returns the header length (`partial` when set).
 */
export function encodeTcp(h: TcpHeader, out: Uint8Array, offset: number, checksum = 0): number {
  const hl = tcpHeaderLen(h);
  const doff = TCP_HEADER_LEN + (h.options?.length ?? 0);
  const full = h.partial === undefined;
  const buf = full ? out : new Uint8Array(TCP_HEADER_LEN);
  const o = full ? offset : 0;
  put16(buf, o, checkUint(h.sport, 16, 'tcp', 'sport'));
  put16(buf, o + 2, checkUint(h.dport, 16, 'tcp', 'dport'));
  put32(buf, o + 4, checkUint(h.seq, 32, 'tcp', 'seq'));
  put32(buf, o + 8, checkUint(h.ack, 32, 'tcp', 'ack'));
  buf[o + 12] = ((doff / 4) << 4) | checkUint(h.reserved ?? 0, 4, 'tcp', 'reserved');
  buf[o + 13] = tcpFlagsByte(h.flags);
  put16(buf, o + 14, checkUint(h.window, 16, 'tcp', 'window'));
  put16(buf, o + 16, checkUint(checksum, 16, 'tcp', 'checksum'));
  put16(buf, o + 18, checkUint(h.urgent, 16, 'tcp', 'urgent'));
  if (full) {
    if (h.options && h.options.length > 0) out.set(h.options, offset + TCP_HEADER_LEN);
  } else {
    out.set(buf.subarray(0, hl), offset);
  }
  return hl;
}

/** tcpdump's flag letters, in its order (print-tcp.c tcp_flag_values): F S R P . U E W. */
export function formatTcpFlags(f: TcpHeaderFlags): string {
  const s = (f.fin ? 'F' : '') + (f.syn ? 'S' : '') + (f.rst ? 'R' : '') + (f.psh ? 'P' : '') +
    (f.ack ? '.' : '') + (f.urg ? 'U' : '') + (f.ece ? 'E' : '') + (f.cwr ? 'W' : '');
  return s || 'none';
}

/** Options as tcpdump lists them: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`. */
export function formatTcpOptions(o: Uint8Array): string {
  const out: string[] = [];
  let i = 0;
  while (i < o.length) {
    const kind = o[i]!;
    if (kind === 0) { out.push('eol'); break; }
    if (kind === 1) { out.push('nop'); i++; continue; }
    const len = o[i + 1];
    if (len === undefined || len < 2 || i + len > o.length) { out.push('bad opt'); break; }
    switch (kind) {
      case 2: out.push(len === 4 ? `mss ${u16(o, i + 2)}` : 'mss bad'); break;
      case 3: out.push(len === 3 ? `wscale ${o[i + 2]}` : 'wscale bad'); break;
      case 4: out.push('sackOK'); break;
      case 5: {
        const blocks: string[] = [];
        for (let j = i + 2; j + 8 <= i + len; j += 8) blocks.push(`{${u32(o, j)}:${u32(o, j + 4)}}`);
        out.push(`sack ${blocks.length} ${blocks.join('')}`);
        break;
      }
      case 8: out.push(len === 10 ? `TS val ${u32(o, i + 2)} ecr ${u32(o, i + 6)}` : 'TS bad'); break;
      default: out.push(`unknown-${kind}`);
    }
    i += len;
  }
  return out.join(',');
}

/**
 * As tcpdump -S prints a segment (absolute sequence numbers):
 * `40000 > 8080: Flags [S], seq 1000, win 64240, options [mss 1460], length 0`.
 */
export function formatTcp(h: TcpHeader, payloadLength = 0): string {
  return `${h.sport} > ${h.dport}: ${formatTcpSummary(h, payloadLength)}`;
}

/** The part of formatTcp after the ports: `Flags [S], seq 1000, win 64240, length 0`. */
export function formatTcpSummary(h: TcpHeader, payloadLength = 0): string {
  const parts = [`Flags [${formatTcpFlags(h.flags)}]`];
  if (payloadLength > 0) parts.push(`seq ${h.seq}:${(h.seq + payloadLength) >>> 0}`);
  else if (h.flags.syn || h.flags.fin || h.flags.rst) parts.push(`seq ${h.seq}`);
  if (h.flags.ack) parts.push(`ack ${h.ack}`);
  parts.push(`win ${h.window}`);
  if (h.flags.urg) parts.push(`urg ${h.urgent}`);
  if (h.options && h.options.length > 0) parts.push(`options [${formatTcpOptions(h.options)}]`);
  parts.push(`length ${payloadLength}`);
  return parts.join(', ');
}
