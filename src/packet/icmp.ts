import { checkUint, need, put16, put32, u16, u32 } from './bytes.js';

/**
 * An ICMP header (RFC 792): type, code, checksum and the four "rest of header" bytes, kept whole
 * as `rest` (a 32-bit number) because their meaning depends on the type: echo → identifier and
 * sequence (`icmpEchoId`, `icmpEchoSeq`); fragmentation needed → next-hop MTU in bytes 6–7
 * (RFC 1191, `icmpNextHopMtu`); redirect → gateway. `checksum` is what a decoded header carried;
 * encoding recomputes it over the whole ICMP message by default.
 *
 * For the error types (destination unreachable, source quench, redirect, time exceeded, parameter
 * problem) decodePacket decodes the quoted original datagram as the layers that follow this one.
 */
export interface IcmpHeader {
  kind: 'icmp';
  type: number;
  code: number;
  checksum?: number;
  rest: number;
}

/** ICMP types (include/uapi/linux/icmp.h). */
export const ICMP_TYPE = {
  ECHO_REPLY: 0,
  DEST_UNREACH: 3,
  SOURCE_QUENCH: 4,
  REDIRECT: 5,
  ECHO: 8,
  TIME_EXCEEDED: 11,
  PARAMETER_PROBLEM: 12,
} as const;

/** Destination-unreachable codes (include/uapi/linux/icmp.h: ICMP_NET_UNREACH …). */
export const ICMP_UNREACH = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  FRAG_NEEDED: 4,
  NET_PROHIBITED: 9,
  HOST_PROHIBITED: 10,
  ADMIN_PROHIBITED: 13,
} as const;

/** Time-exceeded codes: TTL reached 0 in transit, reassembly timed out. */
export const ICMP_TIME_EXCEEDED = { TTL: 0, REASSEMBLY: 1 } as const;

export const ICMP_HEADER_LEN = 8;

/** Types whose body quotes the offending datagram (RFC 792; icmp_pointers[].error in net/ipv4/icmp.c). */
export function isIcmpErrorType(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

export function decodeIcmp(bytes: Uint8Array, offset = 0, end = bytes.length): IcmpHeader {
  need(end, offset, ICMP_HEADER_LEN, 'icmp', 'header');
  return { kind: 'icmp', type: bytes[offset]!, code: bytes[offset + 1]!, checksum: u16(bytes, offset + 2), rest: u32(bytes, offset + 4) };
}

/** Writes the header with the given checksum field (encodePacket computes it afterwards); returns 8. */
export function encodeIcmp(h: IcmpHeader, out: Uint8Array, offset: number, checksum = 0): number {
  out[offset] = checkUint(h.type, 8, 'icmp', 'type');
  out[offset + 1] = checkUint(h.code, 8, 'icmp', 'code');
  put16(out, offset + 2, checkUint(checksum, 16, 'icmp', 'checksum'));
  put32(out, offset + 4, checkUint(h.rest, 32, 'icmp', 'rest'));
  return ICMP_HEADER_LEN;
}

export function icmpEchoId(h: { rest: number }): number {
  return h.rest >>> 16;
}
export function icmpEchoSeq(h: { rest: number }): number {
  return h.rest & 0xffff;
}
/** Next-hop MTU of a fragmentation-needed message (bytes 6–7, RFC 1191). */
export function icmpNextHopMtu(h: { rest: number }): number {
  return h.rest & 0xffff;
}
/** The `rest` word of an echo request/reply. */
export function echoRest(id: number, seq: number): number {
  return ((checkUint(id, 16, 'icmp', 'id') << 16) | checkUint(seq, 16, 'icmp', 'seq')) >>> 0;
}

/** What the text of an ICMP error names about the quoted datagram. */
export interface QuoteSummary {
  dst: string;
  protocol: number;
  dport?: number;
}

const PROTO_WORD: Record<number, string> = { 6: 'tcp', 17: 'udp' };

/**
 * As tcpdump prints ICMP (print-icmp.c): `ICMP echo request, id 5, seq 1, length 64`,
 * `ICMP 10.0.0.2 udp port 9999 unreachable, length 136`,
 * `ICMP 10.3.0.2 unreachable - need to frag (mtu 1400), length 556`,
 * `ICMP time exceeded in-transit, length 92`. `length` is the ICMP message length.
 */
export function formatIcmp(h: IcmpHeader, length: number, quote?: QuoteSummary): string {
  const dst = quote?.dst ?? '?';
  let text: string;
  switch (h.type) {
    case ICMP_TYPE.ECHO:
    case ICMP_TYPE.ECHO_REPLY:
      text = `echo ${h.type === ICMP_TYPE.ECHO ? 'request' : 'reply'}, id ${icmpEchoId(h)}, seq ${icmpEchoSeq(h)}`;
      break;
    case ICMP_TYPE.DEST_UNREACH:
      text = formatUnreach(h, dst, quote);
      break;
    case ICMP_TYPE.TIME_EXCEEDED:
      text = h.code === ICMP_TIME_EXCEEDED.REASSEMBLY ? 'ip reassembly time exceeded' : 'time exceeded in-transit';
      break;
    case ICMP_TYPE.REDIRECT:
      text = `redirect ${dst}`;
      break;
    case ICMP_TYPE.PARAMETER_PROBLEM:
      text = `parameter problem - octet ${h.rest >>> 24}`;
      break;
    default:
      text = `type ${h.type}, code ${h.code}`;
  }
  return `ICMP ${text}, length ${length}`;
}

function formatUnreach(h: IcmpHeader, dst: string, quote?: QuoteSummary): string {
  switch (h.code) {
    case ICMP_UNREACH.NET: return `net ${dst} unreachable`;
    case ICMP_UNREACH.HOST: return `host ${dst} unreachable`;
    case ICMP_UNREACH.PROTOCOL: return `${dst} protocol ${quote?.protocol ?? '?'} unreachable`;
    case ICMP_UNREACH.PORT: {
      const word = quote ? PROTO_WORD[quote.protocol] : undefined;
      return word && quote?.dport !== undefined ? `${dst} ${word} port ${quote.dport} unreachable` : `${dst} protocol ${quote?.protocol ?? '?'} port unreachable`;
    }
    case ICMP_UNREACH.FRAG_NEEDED: return `${dst} unreachable - need to frag (mtu ${icmpNextHopMtu(h)})`;
    case ICMP_UNREACH.NET_PROHIBITED: return `net ${dst} unreachable - admin prohibited`;
    case ICMP_UNREACH.HOST_PROHIBITED: return `host ${dst} unreachable - admin prohibited`;
    case ICMP_UNREACH.ADMIN_PROHIBITED: return `host ${dst} unreachable - admin prohibited filter`;
    default: return `${dst} unreachable - code ${h.code}`;
  }
}
