import { checkUint, need, put16, put32, readIpv6, u16, u32 } from './bytes.js';
import type { QuoteSummary } from './icmp.js';

/**
 * An ICMPv6 header (RFC 4443): type, code, checksum and the four bytes after them as `rest`
 * (echo → identifier and sequence; packet too big → the MTU, all 32 bits; parameter problem →
 * pointer; neighbour discovery → flags/reserved). The checksum covers the IPv6 pseudo-header;
 * encoding recomputes it by default. Error types (1–4) are followed by the quoted datagram's layers.
 */
export interface Icmpv6Header {
  kind: 'icmpv6';
  type: number;
  code: number;
  checksum?: number;
  rest: number;
}

/** ICMPv6 types (include/uapi/linux/icmpv6.h; neighbour discovery from include/net/ndisc.h). */
export const ICMPV6_TYPE = {
  DEST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAMETER_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  ROUTER_SOLICITATION: 133,
  ROUTER_ADVERTISEMENT: 134,
  NEIGHBOUR_SOLICITATION: 135,
  NEIGHBOUR_ADVERTISEMENT: 136,
  REDIRECT: 137,
  MLD2_REPORT: 143,
} as const;

/** Destination-unreachable codes (ICMPV6_NOROUTE, ICMPV6_ADM_PROHIBITED, … in icmpv6.h). */
export const ICMPV6_UNREACH = { NO_ROUTE: 0, ADMIN_PROHIBITED: 1, BEYOND_SCOPE: 2, ADDRESS: 3, PORT: 4, POLICY: 5, REJECT_ROUTE: 6 } as const;

export const ICMPV6_HEADER_LEN = 8;

export function isIcmpv6ErrorType(type: number): boolean {
  return type >= 1 && type <= 4;
}

export function decodeIcmpv6(bytes: Uint8Array, offset = 0, end = bytes.length): Icmpv6Header {
  need(end, offset, ICMPV6_HEADER_LEN, 'icmpv6', 'header');
  return { kind: 'icmpv6', type: bytes[offset]!, code: bytes[offset + 1]!, checksum: u16(bytes, offset + 2), rest: u32(bytes, offset + 4) };
}

export function encodeIcmpv6(h: Icmpv6Header, out: Uint8Array, offset: number, checksum = 0): number {
  out[offset] = checkUint(h.type, 8, 'icmpv6', 'type');
  out[offset + 1] = checkUint(h.code, 8, 'icmpv6', 'code');
  put16(out, offset + 2, checkUint(checksum, 16, 'icmpv6', 'checksum'));
  put32(out, offset + 4, checkUint(h.rest, 32, 'icmpv6', 'rest'));
  return ICMPV6_HEADER_LEN;
}

const UNREACH_TEXT: Record<number, string> = {
  0: 'unreachable route', 1: 'unreachable prohibited', 2: 'beyond scope', 3: 'unreachable address',
  4: 'unreachable port', 5: 'failed policy', 6: 'reject route',
};
const PROTO_WORD: Record<number, string> = { 6: 'tcp', 17: 'udp' };

/**
 * As tcpdump prints ICMPv6 (print-icmp6.c): `ICMP6, echo request, id 7, seq 1, length 64`,
 * `ICMP6, packet too big, mtu 1400, length 1240`,
 * `ICMP6, destination unreachable, unreachable port, fd00::2 udp port 9999, length 116`.
 * `body` (the bytes after the 8-byte header) lets neighbour discovery name its target.
 */
export function formatIcmpv6(h: Icmpv6Header, length: number, quote?: QuoteSummary, body?: Uint8Array): string {
  let text: string;
  const target = body && body.length >= 16 ? readIpv6(body, 0) : '?';
  switch (h.type) {
    case ICMPV6_TYPE.ECHO_REQUEST:
    case ICMPV6_TYPE.ECHO_REPLY:
      text = `echo ${h.type === ICMPV6_TYPE.ECHO_REQUEST ? 'request' : 'reply'}, id ${h.rest >>> 16}, seq ${h.rest & 0xffff}`;
      break;
    case ICMPV6_TYPE.PACKET_TOO_BIG:
      text = `packet too big, mtu ${h.rest >>> 0}`;
      break;
    case ICMPV6_TYPE.DEST_UNREACH: {
      const why = UNREACH_TEXT[h.code] ?? `code ${h.code}`;
      const word = quote ? PROTO_WORD[quote.protocol] : undefined;
      const what = quote ? (word && quote.dport !== undefined && h.code === ICMPV6_UNREACH.PORT ? `${quote.dst} ${word} port ${quote.dport}` : quote.dst) : '?';
      text = `destination unreachable, ${why}, ${what}`;
      break;
    }
    case ICMPV6_TYPE.TIME_EXCEEDED:
      text = h.code === 0 ? 'time exceeded in-transit' : 'time exceeded reassembly';
      break;
    case ICMPV6_TYPE.PARAMETER_PROBLEM:
      text = `parameter problem, pointer ${h.rest >>> 0}`;
      break;
    case ICMPV6_TYPE.NEIGHBOUR_SOLICITATION:
      text = `neighbor solicitation, who has ${target}`;
      break;
    case ICMPV6_TYPE.NEIGHBOUR_ADVERTISEMENT:
      text = `neighbor advertisement, tgt is ${target}`;
      break;
    case ICMPV6_TYPE.ROUTER_SOLICITATION:
      text = 'router solicitation';
      break;
    case ICMPV6_TYPE.ROUTER_ADVERTISEMENT:
      text = 'router advertisement';
      break;
    case ICMPV6_TYPE.MLD2_REPORT:
      text = 'multicast listener report v2';
      break;
    default:
      text = `type ${h.type}, code ${h.code}`;
  }
  return `ICMP6, ${text}, length ${length}`;
}
