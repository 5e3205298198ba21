import { checkUint, need, put16, u16 } from './bytes.js';

/**
 * A UDP header (RFC 768). `length` and `checksum` are what a decoded header carried; encoding
 * recomputes them by default (checksum over the enclosing IP layer's pseudo-header). A computed
 * checksum of 0 is sent as 0xffff (RFC 768). `zeroChecksum` sends 0, "no checksum", which IPv4
 * allows and Linux VXLAN devices send by default (vxlan `udpcsum` off); a decoded header with
 * checksum 0 has it set.
 */
export interface UdpHeader {
  kind: 'udp';
  sport: number;
  dport: number;
  length?: number;
  checksum?: number;
  zeroChecksum?: boolean;
}

export const UDP_HEADER_LEN = 8;

export function decodeUdp(bytes: Uint8Array, offset = 0, end = bytes.length): UdpHeader {
  need(end, offset, UDP_HEADER_LEN, 'udp', 'header');
  const checksum = u16(bytes, offset + 6);
  const h: UdpHeader = { kind: 'udp', sport: u16(bytes, offset), dport: u16(bytes, offset + 2), length: u16(bytes, offset + 4), checksum };
  if (checksum === 0) h.zeroChecksum = true;
  return h;
}

/** Writes the header at `offset` with the given length and checksum field; returns 8. */
export function encodeUdp(h: UdpHeader, out: Uint8Array, offset: number, length: number, checksum = 0): number {
  put16(out, offset, checkUint(h.sport, 16, 'udp', 'sport'));
  put16(out, offset + 2, checkUint(h.dport, 16, 'udp', 'dport'));
  put16(out, offset + 4, checkUint(length, 16, 'udp', 'length'));
  put16(out, offset + 6, checkUint(checksum, 16, 'udp', 'checksum'));
  return UDP_HEADER_LEN;
}

/** RFC 768: a computed checksum of zero is transmitted as all ones (0 means "none"). */
export function udpWireChecksum(computed: number): number {
  return computed === 0 ? 0xffff : computed;
}

/** As tcpdump prints it: `40001 > 5353: UDP, length 9` (the payload length). */
export function formatUdp(h: UdpHeader, payloadLength?: number): string {
  const len = payloadLength ?? (h.length !== undefined ? h.length - UDP_HEADER_LEN : 0);
  return `${h.sport} > ${h.dport}: UDP, length ${len}`;
}
