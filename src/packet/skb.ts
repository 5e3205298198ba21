/**
 * The socket buffer as the netfilter path sees it: the L3/L4 header fields the datapath decides on,
 * plus the metadata the kernel keeps beside the bytes (struct sk_buff: mark, skb->dev / dst's
 * output device, _nfct, and which NAT manipulations were applied to this packet).
 *
 * Header fields are plain data (addresses as canonical text, as `formatIp` prints them); the wire
 * layers of this module encode/decode bytes when bytes are needed (pcap, checksums).
 */
import type { Family } from '../base/index.js';

/** IP protocol numbers (IANA "Assigned Internet Protocol Numbers"; include/uapi/linux/in.h). */
export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132 } as const;

/** Names as iptables/conntrack print them. */
export const IPPROTO_NAMES: ReadonlyMap<number, string> = new Map([
  [IPPROTO.ICMP, 'icmp'],
  [IPPROTO.TCP, 'tcp'],
  [IPPROTO.UDP, 'udp'],
  [IPPROTO.ICMPV6, 'icmpv6'],
  [IPPROTO.SCTP, 'sctp'],
]);

/** TCP flag bits as they sit in the header's flags byte (RFC 9293 §3.1). */
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

/** Default IPv4 TTL of a Linux sender (net.ipv4.ip_default_ttl = 64, Documentation/networking/ip-sysctl.rst). */
export const DEFAULT_TTL = 64;

/** The header fields the netfilter path reads and rewrites. */
export interface FlowHeaders {
  family: Family;
  src: string;
  dst: string;
  /** IP protocol number. */
  proto: number;
  /** TCP/UDP/SCTP ports; for ICMP echo `sport` is the identifier (as conntrack keys it). */
  sport?: number;
  dport?: number;
  /** TCP flags byte (TCP_FLAG bits). */
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** TTL (IPv4) / hop limit (IPv6). */
  ttl: number;
  /** IP total length in bytes. */
  length: number;
}

/** Which NAT manipulations were applied to this packet's headers (nf_nat_manip_pkt ran). */
export interface NatDone {
  src: boolean;
  dst: boolean;
}

/**
 * struct sk_buff, the parts netfilter uses. `Ct` is the conntrack reference type of the layer that
 * attaches it (skb->_nfct); packet/ does not know conntrack.
 */
export interface Skb<Ct = unknown> {
  hdr: FlowHeaders;
  /** skb->mark */
  mark: number;
  /** Device the packet arrived on (skb->dev at receive), null when locally generated. */
  inDev: string | null;
  /** Output device chosen by routing (skb_dst(skb)->dev), null before routing or when local. */
  outDev: string | null;
  /** skb->_nfct: null before conntrack saw the packet (or when conntrack is not loaded). */
  ct: Ct | null;
  /** IP_CT_UNTRACKED: CT --notrack / NOTRACK ran in the raw table. */
  untracked: boolean;
  natDone: NatDone;
}

export function createSkb<Ct = unknown>(hdr: FlowHeaders, opts: { inDev?: string | null; mark?: number } = {}): Skb<Ct> {
  return { hdr: { ...hdr }, mark: opts.mark ?? 0, inDev: opts.inDev ?? null, outDev: null, ct: null, untracked: false, natDone: { src: false, dst: false } };
}

export function cloneHeaders(h: FlowHeaders): FlowHeaders {
  return { ...h };
}

export function protoName(proto: number): string {
  return IPPROTO_NAMES.get(proto) ?? String(proto);
}

/** Protocols whose `sport`/`dport` are ports. */
export function hasPorts(proto: number): boolean {
  return proto === IPPROTO.TCP || proto === IPPROTO.UDP || proto === IPPROTO.SCTP;
}

function tcpFlagText(flags: number): string {
  // tcpdump's order and letters: S F R P . (ACK) U E W
  let s = '';
  if (flags & TCP_FLAG.SYN) s += 'S';
  if (flags & TCP_FLAG.FIN) s += 'F';
  if (flags & TCP_FLAG.RST) s += 'R';
  if (flags & TCP_FLAG.PSH) s += 'P';
  if (flags & TCP_FLAG.ACK) s += '.';
  if (flags & TCP_FLAG.URG) s += 'U';
  if (flags & TCP_FLAG.ECE) s += 'E';
  if (flags & TCP_FLAG.CWR) s += 'W';
  return s || 'none';
}

/** One line in tcpdump's style: "IP 10.0.1.2.40000 > 10.96.0.10.80: tcp [S]". */
export function formatFlow(h: FlowHeaders): string {
  const ip = h.family === 4 ? 'IP' : 'IP6';
  if (hasPorts(h.proto)) {
    const flags = h.proto === IPPROTO.TCP && h.tcpFlags !== undefined ? ` [${tcpFlagText(h.tcpFlags)}]` : '';
    return `${ip} ${h.src}.${h.sport ?? 0} > ${h.dst}.${h.dport ?? 0}: ${protoName(h.proto)}${flags}`;
  }
  if (h.proto === IPPROTO.ICMP || h.proto === IPPROTO.ICMPV6) {
    return `${ip} ${h.src} > ${h.dst}: ${protoName(h.proto)} type ${h.icmpType ?? 0} code ${h.icmpCode ?? 0}${h.sport !== undefined ? ` id ${h.sport}` : ''}`;
  }
  return `${ip} ${h.src} > ${h.dst}: proto ${protoName(h.proto)}`;
}
