/**
 * The quoted header of an ICMP error frame, read and rewritten as the kernel does: icmp_error's
 * lookup reads the quoted IP and transport headers; nf_nat_icmp_reply_translation →
 * nf_nat_ipv4_manip_pkt rewrites their addresses and ports with incremental checksum updates
 * (csum_replace4 on the quoted IP header, inet_proto_csum_replace4/2 on the quoted TCP/UDP
 * checksum, pseudo-header included).
 */
import { isIcmpErrorType, type Layer, type Packet } from '../packet/index.js';
import { headersOfPacket, writeHeaders, type FlowHeaders } from '../packet/skb.js';
import { parseIp } from '../base/index.js';

function firstIp(p: Packet): number {
  return p.layers.findIndex((l) => l.kind === 'ipv4' || l.kind === 'ipv6');
}

/** Index of the first quoted layer of an ICMP error frame, or -1 when the frame is not one. */
function quoteStart(p: Packet): number {
  const i = firstIp(p);
  if (i < 0) return -1;
  const icmp = p.layers[i + 1];
  if (icmp?.kind !== 'icmp' || !isIcmpErrorType(icmp.type)) return -1;
  const q = p.layers[i + 2];
  return q?.kind === 'ipv4' ? i + 2 : -1;
}

/** The header an ICMP error quotes (icmp_error_message reads it), or null. */
export function quotedOf(p: Packet): FlowHeaders | null {
  const k = quoteStart(p);
  if (k < 0) return null;
  return headersOfPacket({ layers: p.layers.slice(k), payload: p.payload });
}

/** 16-bit words of an IPv4 address. */
function words(ip: string): number[] {
  const a = parseIp(ip);
  if (a.family !== 4) return [];
  return [(a.n >>> 16) & 0xffff, a.n & 0xffff];
}

/** RFC 1624 eqn. 3, as csum_replace2/4 do: HC' = ~(~HC + ~m + m'). */
export function checksumReplace(check: number, from: readonly number[], to: readonly number[]): number {
  let sum = ~check & 0xffff;
  for (const m of from) sum += ~m & 0xffff;
  for (const m of to) sum += m & 0xffff;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The frame with the skb's headers written back: the outer IP and transport header (writeHeaders)
 * and, for an ICMP error, the quoted header as conntrack rewrote it. The quoted IP checksum is left
 * to be recomputed; the quoted TCP/UDP checksum is updated incrementally (it covers data the
 * quote may not hold).
 */
export function writeSkbFrame(p: Packet, hdr: FlowHeaders, quoted?: FlowHeaders): Packet {
  const out = writeHeaders(p, hdr);
  const k = quoted ? quoteStart(out) : -1;
  if (!quoted || k < 0) return out;
  const was = headersOfPacket({ layers: out.layers.slice(k), payload: out.payload });
  if (!was) return out;
  const rewritten = writeHeaders({ layers: out.layers.slice(k), payload: out.payload }, { ...quoted, ttl: was.ttl, ...(was.df !== undefined ? { df: was.df } : {}) });
  const layers: Layer[] = [...out.layers.slice(0, k), ...rewritten.layers];
  const qip = layers[k];
  if (qip?.kind === 'ipv4' && (qip.src !== was.src || qip.dst !== was.dst)) {
    const { checksum: _drop, ...rest } = qip;
    layers[k] = rest;
  }
  const l4 = layers[k + 1];
  if ((l4?.kind === 'tcp' || (l4?.kind === 'udp' && l4.checksum !== 0)) && l4.checksum !== undefined) {
    const from = [...words(was.src), ...words(was.dst), was.sport ?? 0, was.dport ?? 0];
    const to = [...words(quoted.src), ...words(quoted.dst), quoted.sport ?? was.sport ?? 0, quoted.dport ?? was.dport ?? 0];
    layers[k + 1] = { ...l4, checksum: checksumReplace(l4.checksum, from, to) };
  }
  const frame: Packet = { layers, payload: out.payload };
  if (out.trailer) frame.trailer = out.trailer;
  return frame;
}
