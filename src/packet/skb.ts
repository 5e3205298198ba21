/**
 * The socket buffer as the netfilter path sees it: the L3/L4 header fields the datapath decides on,
 * plus the metadata the kernel keeps beside the bytes (struct sk_buff: mark, skb->dev / dst's
 * output device, _nfct, and which NAT manipulations were applied to this packet).
 *
 * Header fields are plain data (addresses as canonical text, as `formatIp` prints them); the wire
 * layers of this module encode/decode bytes when bytes are needed (pcap, checksums).
 */
import type { Family } from '../base/index.js';
import { packetLayout, type IpLayer, type Layer, type Packet } from './packet.js';
import { tcpFlagsByte, type TcpHeaderFlags } from './tcp.js';

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
  /** IPv4 Don't Fragment (absent: set, as Linux sends with path MTU discovery on). */
  df?: boolean;
  /** IPv4 identification. */
  id?: number;
  /** TCP SYN/SYN-ACK: the MSS option the sender announces (default: from a 1500-byte MTU). */
  mss?: number;
}

/**
 * The options Linux puts on a SYN or SYN-ACK (tcp_syn_options / tcp_options_write, net/ipv4/tcp_output.c,
 * defaults tcp_sack=1, tcp_timestamps=1, tcp_window_scaling=1): MSS, SACK-permitted + timestamps
 * (val 0, ecr 0: the clock is virtual), NOP + window scale 7. 20 bytes, so the SYN's TCP header is 40.
 */
export function linuxSynOptions(mss: number): Uint8Array {
  return Uint8Array.of(2, 4, (mss >> 8) & 255, mss & 255, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7);
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

// ───────────────────────────── the skb's bytes: FlowHeaders ↔ Packet ─────────────────────────────
//
// The datapath decides on FlowHeaders (the fields above); the frame that crosses a device is a real
// Packet (wire layers), so captures can be written byte for byte. These three functions keep the
// two in step: read the decision fields out of a frame, write rewritten fields (NAT, TTL) back into
// it, and build the frame of a packet a socket sends.

/** Index of the first IP layer of a frame (after an optional Ethernet header), or -1. */
export function firstIpIndex(p: Packet): number {
  for (let i = 0; i < p.layers.length; i++) {
    const k = p.layers[i]!.kind;
    if (k === 'ipv4' || k === 'ipv6') return i;
    if (k !== 'ethernet') return -1;
  }
  return -1;
}

/** The decision fields of a frame's outermost IP datagram (ip_rcv's view), or null for a non-IP frame (ARP). */
export function headersOfPacket(p: Packet): FlowHeaders | null {
  const i = firstIpIndex(p);
  if (i < 0) return null;
  const ip = p.layers[i] as IpLayer;
  const layout = packetLayout(p);
  const length = layout.header[i]! + layout.inner[i]!;
  const l4 = p.layers[i + 1];
  const h: FlowHeaders =
    ip.kind === 'ipv4'
      ? { family: 4, src: ip.src, dst: ip.dst, proto: ip.protocol, ttl: ip.ttl, length, df: ip.df, id: ip.id }
      : { family: 6, src: ip.src, dst: ip.dst, proto: ip.nextHeader, ttl: ip.hopLimit, length };
  if (l4?.kind === 'tcp') {
    h.sport = l4.sport;
    h.dport = l4.dport;
    h.tcpFlags = tcpFlagsByte(l4.flags);
  } else if (l4?.kind === 'udp') {
    h.sport = l4.sport;
    h.dport = l4.dport;
  } else if (l4?.kind === 'icmp' || l4?.kind === 'icmpv6') {
    h.icmpType = l4.type;
    h.icmpCode = l4.code;
    if (l4.kind === 'icmp' ? l4.type === 0 || l4.type === 8 : l4.type === 128 || l4.type === 129) h.sport = (l4.rest >>> 16) & 0xffff;
  }
  return h;
}

/**
 * A copy of `p` whose outermost IP header and transport header carry `h`'s addresses, ports, TTL
 * and flags (what nf_nat_manip_pkt and ip_decrease_ttl changed). Lengths and checksums are
 * recomputed when the frame is encoded, as the kernel's incremental updates keep them right.
 */
export function writeHeaders(p: Packet, h: FlowHeaders): Packet {
  const i = firstIpIndex(p);
  if (i < 0) return p;
  const layers = p.layers.slice();
  const ip = layers[i] as IpLayer;
  layers[i] = ip.kind === 'ipv4' ? { ...ip, src: h.src, dst: h.dst, ttl: h.ttl, ...(h.df !== undefined ? { df: h.df } : {}) } : { ...ip, src: h.src, dst: h.dst, hopLimit: h.ttl };
  const l4 = layers[i + 1];
  if (l4?.kind === 'tcp') layers[i + 1] = { ...l4, sport: h.sport ?? l4.sport, dport: h.dport ?? l4.dport, ...(h.tcpFlags !== undefined ? { flags: tcpFlagsOf(h.tcpFlags) } : {}) };
  else if (l4?.kind === 'udp') layers[i + 1] = { ...l4, sport: h.sport ?? l4.sport, dport: h.dport ?? l4.dport };
  else if ((l4?.kind === 'icmp' || l4?.kind === 'icmpv6') && h.sport !== undefined && (l4.type === 0 || l4.type === 8 || l4.type === 128 || l4.type === 129)) {
    layers[i + 1] = { ...l4, rest: ((h.sport & 0xffff) << 16 | (l4.rest & 0xffff)) >>> 0 };
  }
  const out: Packet = { layers, payload: p.payload };
  if (p.trailer) out.trailer = p.trailer;
  return out;
}

/**
 * The datagram a socket sends for `h` (no link header): IPv4/IPv6, then TCP (window 64240, as a
 * Linux SYN), UDP or ICMP echo, with zero bytes of payload up to `h.length`. The IPv4 ID is `h.id`
 * (0 by default: Linux sends DF packets of a connected socket with a per-socket counter).
 */
export function packetOfHeaders(h: FlowHeaders): Packet {
  const ipLen = h.family === 4 ? 20 : 40;
  const syn = h.proto === IPPROTO.TCP && ((h.tcpFlags ?? TCP_FLAG.SYN) & TCP_FLAG.SYN) !== 0;
  const synOptions = syn && h.length >= ipLen + 40 ? linuxSynOptions(h.mss ?? 1500 - ipLen - 20) : undefined;
  const l4Len = h.proto === IPPROTO.TCP ? 20 + (synOptions?.length ?? 0) : h.proto === IPPROTO.UDP || h.proto === IPPROTO.ICMP || h.proto === IPPROTO.ICMPV6 ? 8 : 0;
  const payload = new Uint8Array(Math.max(0, h.length - ipLen - l4Len));
  const ip: IpLayer =
    h.family === 4
      ? { kind: 'ipv4', dscp: 0, ecn: 0, id: h.id ?? 0, df: h.df ?? true, mf: false, fragOffset: 0, ttl: h.ttl, protocol: h.proto, src: h.src, dst: h.dst }
      : { kind: 'ipv6', trafficClass: 0, flowLabel: 0, nextHeader: h.proto, hopLimit: h.ttl, src: h.src, dst: h.dst };
  const layers: Layer[] = [ip];
  if (h.proto === IPPROTO.TCP) {
    layers.push({ kind: 'tcp', sport: h.sport ?? 0, dport: h.dport ?? 0, seq: 0, ack: 0, flags: tcpFlagsOf(h.tcpFlags ?? TCP_FLAG.SYN), window: 64240, urgent: 0, ...(synOptions ? { options: synOptions } : {}) });
  } else if (h.proto === IPPROTO.UDP) {
    layers.push({ kind: 'udp', sport: h.sport ?? 0, dport: h.dport ?? 0 });
  } else if (h.proto === IPPROTO.ICMP || h.proto === IPPROTO.ICMPV6) {
    const rest = (((h.sport ?? 0) & 0xffff) << 16) >>> 0;
    layers.push(h.proto === IPPROTO.ICMP ? { kind: 'icmp', type: h.icmpType ?? 8, code: h.icmpCode ?? 0, rest } : { kind: 'icmpv6', type: h.icmpType ?? 128, code: h.icmpCode ?? 0, rest });
  }
  return { layers, payload };
}

function tcpFlagsOf(b: number): TcpHeaderFlags {
  return {
    fin: (b & TCP_FLAG.FIN) !== 0,
    syn: (b & TCP_FLAG.SYN) !== 0,
    rst: (b & TCP_FLAG.RST) !== 0,
    psh: (b & TCP_FLAG.PSH) !== 0,
    ack: (b & TCP_FLAG.ACK) !== 0,
    urg: (b & TCP_FLAG.URG) !== 0,
    ece: (b & TCP_FLAG.ECE) !== 0,
    cwr: (b & TCP_FLAG.CWR) !== 0,
  };
}
