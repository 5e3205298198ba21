import { internetChecksum, onesComplementSum } from '../base/checksum.js';
import { checkUint, hex, need, put16, readIpv4, u16, writeIpv4 } from './bytes.js';
import { PacketDecodeError, PacketEncodeError } from './errors.js';

/**
 * An IPv4 header (RFC 791). The header length (IHL) is derived from `options` (a multiple of 4
 * bytes, at most 40). `fragOffset` is in 8-byte units, as on the wire (byte offset = fragOffset × 8).
 * `totalLength` and `checksum` are what a decoded header carried; encoding recomputes both by
 * default (see encodePacket).
 */
export interface Ipv4Header {
  kind: 'ipv4';
  dscp: number;
  ecn: number;
  totalLength?: number;
  id: number;
  /** The reserved flag bit (must be zero; kept so a decoded header encodes back byte for byte). */
  reserved?: boolean;
  df: boolean;
  mf: boolean;
  fragOffset: number;
  ttl: number;
  protocol: number;
  checksum?: number;
  src: string;
  dst: string;
  options?: Uint8Array;
}

/** IP protocol numbers (include/uapi/linux/in.h, in6.h: IPPROTO_ICMP, IPPROTO_IPIP, …). */
export const IP_PROTO = { ICMP: 1, IPIP: 4, TCP: 6, UDP: 17, IPV6: 41, ICMPV6: 58 } as const;

const PROTO_NAMES: Record<number, string> = { 1: 'ICMP', 4: 'IPIP', 6: 'TCP', 17: 'UDP', 41: 'IPv6', 58: 'ICMPv6' };

export function ipProtoName(p: number): string {
  return PROTO_NAMES[p] ?? 'unknown';
}

export const IPV4_HEADER_LEN = 20;
const MAX_OPTIONS = 40;

/** Decodes the header at `offset`; checks version, IHL and that the total length covers the header. */
export function decodeIpv4(bytes: Uint8Array, offset = 0, end = bytes.length): Ipv4Header {
  need(end, offset, IPV4_HEADER_LEN, 'ipv4', 'header');
  const vihl = bytes[offset]!;
  if (vihl >> 4 !== 4) throw new PacketDecodeError('ipv4', 'version', offset, `version ${vihl >> 4}, expected 4`);
  const hl = (vihl & 15) * 4;
  if (hl < IPV4_HEADER_LEN) throw new PacketDecodeError('ipv4', 'ihl', offset, `header length ${hl} is below 20`);
  need(end, offset, hl, 'ipv4', 'options');
  const totalLength = u16(bytes, offset + 2);
  if (totalLength < hl) throw new PacketDecodeError('ipv4', 'totalLength', offset + 2, `total length ${totalLength} is shorter than the ${hl}-byte header`);
  const frag = u16(bytes, offset + 6);
  return {
    kind: 'ipv4',
    dscp: bytes[offset + 1]! >> 2,
    ecn: bytes[offset + 1]! & 3,
    totalLength,
    id: u16(bytes, offset + 4),
    ...(frag & 0x8000 ? { reserved: true } : {}),
    df: (frag & 0x4000) !== 0,
    mf: (frag & 0x2000) !== 0,
    fragOffset: frag & 0x1fff,
    ttl: bytes[offset + 8]!,
    protocol: bytes[offset + 9]!,
    checksum: u16(bytes, offset + 10),
    src: readIpv4(bytes, offset + 12),
    dst: readIpv4(bytes, offset + 16),
    options: hl > IPV4_HEADER_LEN ? bytes.slice(offset + IPV4_HEADER_LEN, offset + hl) : EMPTY,
  };
}

const EMPTY = new Uint8Array(0);

export function ipv4HeaderLen(h: Ipv4Header): number {
  const n = h.options?.length ?? 0;
  if (n % 4 !== 0 || n > MAX_OPTIONS) throw new PacketEncodeError('ipv4', 'options', `${n} bytes of options; must be a multiple of 4, at most 40`);
  return IPV4_HEADER_LEN + n;
}

/**
 * Writes the header at `offset`. `totalLength` is written as given; the header checksum is computed
 * unless `keepChecksum` (then the carried `checksum` is written). Returns the header length.
 */
export function encodeIpv4(h: Ipv4Header, out: Uint8Array, offset: number, totalLength: number, opts: { keepChecksum?: boolean } = {}): number {
  const hl = ipv4HeaderLen(h);
  out[offset] = 0x40 | (hl >> 2);
  out[offset + 1] = (checkUint(h.dscp, 6, 'ipv4', 'dscp') << 2) | checkUint(h.ecn, 2, 'ipv4', 'ecn');
  put16(out, offset + 2, checkUint(totalLength, 16, 'ipv4', 'totalLength'));
  put16(out, offset + 4, checkUint(h.id, 16, 'ipv4', 'id'));
  put16(out, offset + 6, (h.reserved ? 0x8000 : 0) | (h.df ? 0x4000 : 0) | (h.mf ? 0x2000 : 0) | checkUint(h.fragOffset, 13, 'ipv4', 'fragOffset'));
  out[offset + 8] = checkUint(h.ttl, 8, 'ipv4', 'ttl');
  out[offset + 9] = checkUint(h.protocol, 8, 'ipv4', 'protocol');
  put16(out, offset + 10, 0);
  writeIpv4(out, offset + 12, h.src, 'ipv4', 'src');
  writeIpv4(out, offset + 16, h.dst, 'ipv4', 'dst');
  if (h.options && h.options.length > 0) out.set(h.options, offset + IPV4_HEADER_LEN);
  const sum = opts.keepChecksum && h.checksum !== undefined ? h.checksum : internetChecksum(out, offset, offset + hl);
  put16(out, offset + 10, checkUint(sum, 16, 'ipv4', 'checksum'));
  return hl;
}

/** The one's-complement sum of the IPv4 pseudo-header (RFC 793 §3.1) for an encoded header at `ipOffset`. */
export function ipv4PseudoSum(bytes: Uint8Array, ipOffset: number, protocol: number, length: number): number {
  return onesComplementSum(bytes, ipOffset + 12, ipOffset + 20, protocol + length);
}

/** Is this header a fragment other than the first (its payload starts mid-datagram)? */
export function isLaterFragment(h: Ipv4Header): boolean {
  return h.fragOffset !== 0;
}

/** Is this header part of a fragmented datagram (first or later)? */
export function isFragment(h: Ipv4Header): boolean {
  return h.mf || h.fragOffset !== 0;
}

/**
 * `tcpdump -v` style:
 * `IP (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto TCP (6), length 60) 10.0.0.1 > 10.0.0.2`.
 */
export function formatIpv4(h: Ipv4Header): string {
  const flags = [h.reserved ? '+' : '', h.df ? 'DF' : '', h.mf ? '+' : ''].filter(Boolean).join('');
  const tos = hex((h.dscp << 2) | h.ecn, 1);
  const len = h.totalLength !== undefined ? `, length ${h.totalLength}` : '';
  const opts = h.options && h.options.length ? `, options (${h.options.length} bytes)` : '';
  return `IP (tos ${tos}, ttl ${h.ttl}, id ${h.id}, offset ${h.fragOffset * 8}, flags [${flags || 'none'}], proto ${ipProtoName(h.protocol)} (${h.protocol})${len}${opts}) ${h.src} > ${h.dst}`;
}
