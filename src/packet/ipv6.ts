import { onesComplementSum } from '../base/checksum.js';
import { checkUint, hex, need, put16, put32, readIpv6, u16, u32, writeIpv6 } from './bytes.js';
import { PacketDecodeError } from './errors.js';
import { ipProtoName } from './ipv4.js';

/**
 * The fixed IPv6 header (RFC 8200 §3). Extension headers are not decoded: a packet whose
 * `nextHeader` is not a protocol podpath knows keeps the rest as payload. `payloadLength` is what a
 * decoded header carried; encoding recomputes it by default.
 */
export interface Ipv6Header {
  kind: 'ipv6';
  trafficClass: number;
  flowLabel: number;
  payloadLength?: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
}

export const IPV6_HEADER_LEN = 40;
/** IPV6_MIN_MTU (include/net/ipv6.h): the smallest link MTU IPv6 allows, RFC 8200 §5. */
export const IPV6_MIN_MTU = 1280;

export function decodeIpv6(bytes: Uint8Array, offset = 0, end = bytes.length): Ipv6Header {
  need(end, offset, IPV6_HEADER_LEN, 'ipv6', 'header');
  const w = u32(bytes, offset);
  if (w >>> 28 !== 6) throw new PacketDecodeError('ipv6', 'version', offset, `version ${w >>> 28}, expected 6`);
  return {
    kind: 'ipv6',
    trafficClass: (w >>> 20) & 0xff,
    flowLabel: w & 0xfffff,
    payloadLength: u16(bytes, offset + 4),
    nextHeader: bytes[offset + 6]!,
    hopLimit: bytes[offset + 7]!,
    src: readIpv6(bytes, offset + 8),
    dst: readIpv6(bytes, offset + 24),
  };
}

/** Writes the header at `offset` with the given payload length; returns 40. */
export function encodeIpv6(h: Ipv6Header, out: Uint8Array, offset: number, payloadLength: number): number {
  put32(out, offset, ((6 << 28) | (checkUint(h.trafficClass, 8, 'ipv6', 'trafficClass') << 20) | checkUint(h.flowLabel, 20, 'ipv6', 'flowLabel')) >>> 0);
  put16(out, offset + 4, checkUint(payloadLength, 16, 'ipv6', 'payloadLength'));
  out[offset + 6] = checkUint(h.nextHeader, 8, 'ipv6', 'nextHeader');
  out[offset + 7] = checkUint(h.hopLimit, 8, 'ipv6', 'hopLimit');
  writeIpv6(out, offset + 8, h.src, 'ipv6', 'src');
  writeIpv6(out, offset + 24, h.dst, 'ipv6', 'dst');
  return IPV6_HEADER_LEN;
}

/** The one's-complement sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an encoded header at `ipOffset`. */
export function ipv6PseudoSum(bytes: Uint8Array, ipOffset: number, nextHeader: number, length: number): number {
  return onesComplementSum(bytes, ipOffset + 8, ipOffset + 40, nextHeader + (length >>> 16) + (length & 0xffff));
}

/** `tcpdump -v` style: `IP6 (flowlabel 0x5a3f1, hlim 64, next-header TCP (6) payload length: 40) fd00::1 > fd00::2`. */
export function formatIpv6(h: Ipv6Header): string {
  const tc = h.trafficClass ? `class ${hex(h.trafficClass, 2)}, ` : '';
  const fl = h.flowLabel ? `flowlabel ${hex(h.flowLabel, 5)}, ` : '';
  const len = h.payloadLength !== undefined ? ` payload length: ${h.payloadLength}` : '';
  return `IP6 (${tc}${fl}hlim ${h.hopLimit}, next-header ${ipProtoName(h.nextHeader)} (${h.nextHeader})${len}) ${h.src} > ${h.dst}`;
}
