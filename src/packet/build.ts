import { ipFamily } from '../base/ip.js';
import type { Mac } from '../base/mac.js';
import { PacketEncodeError } from './errors.js';
import { ETHERTYPE } from './ethernet.js';
import type { EthernetHeader } from './ethernet.js';
import { echoRest, ICMP_TYPE, ICMP_UNREACH, isIcmpErrorType } from './icmp.js';
import type { IcmpHeader } from './icmp.js';
import { ICMPV6_TYPE, isIcmpv6ErrorType } from './icmpv6.js';
import type { Icmpv6Header } from './icmpv6.js';
import { IP_PROTO, IPV4_HEADER_LEN } from './ipv4.js';
import type { Ipv4Header } from './ipv4.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU } from './ipv6.js';
import type { Ipv6Header } from './ipv6.js';
import { decodeQuoted, encodePacket } from './packet.js';
import type { IpLayer, Layer, Packet } from './packet.js';
import type { TcpHeader } from './tcp.js';
import type { UdpHeader } from './udp.js';
import { VXLAN_FLAG_I } from './vxlan.js';
import type { VxlanHeader } from './vxlan.js';

/** Default TTL / hop limit of locally generated packets (net.ipv4.ip_default_ttl, net.ipv6.conf.*.hop_limit). */
export const DEFAULT_IP_TTL = 64;

export interface IpOptions {
  ttl?: number;
  df?: boolean;
  id?: number;
}

/** An IPv4 or IPv6 header (by the family of `src`) carrying `protocol`. Lengths/checksums come at encode. */
export function ipHeader(src: string, dst: string, protocol: number, opts: IpOptions = {}): IpLayer {
  const family = familyOf(src, 'src');
  if (familyOf(dst, 'dst') !== family) throw new PacketEncodeError(family === 4 ? 'ipv4' : 'ipv6', 'dst', `${src} and ${dst} are of different families`);
  if (family === 6) return { kind: 'ipv6', trafficClass: 0, flowLabel: 0, nextHeader: protocol, hopLimit: opts.ttl ?? DEFAULT_IP_TTL, src, dst };
  return { kind: 'ipv4', dscp: 0, ecn: 0, id: opts.id ?? 0, df: opts.df ?? true, mf: false, fragOffset: 0, ttl: opts.ttl ?? DEFAULT_IP_TTL, protocol, src, dst };
}

function familyOf(ip: string, field: string): 4 | 6 {
  try {
    return ipFamily(ip);
  } catch {
    throw new PacketEncodeError('ipv4', field, `invalid IP address "${ip}"`);
  }
}

export interface Endpoints extends IpOptions {
  src: string;
  dst: string;
  /** With both MACs, the packet starts with an Ethernet header. */
  srcMac?: Mac;
  dstMac?: Mac;
}

function withLink(e: Endpoints, ip: IpLayer, rest: Layer[], payload: Uint8Array): Packet {
  const layers: Layer[] = [ip, ...rest];
  if (e.srcMac && e.dstMac) {
    const eth: EthernetHeader = { kind: 'ethernet', dst: e.dstMac, src: e.srcMac, ethertype: ip.kind === 'ipv4' ? ETHERTYPE.IPV4 : ETHERTYPE.IPV6 };
    layers.unshift(eth);
  }
  return { layers, payload };
}

/** A TCP SYN as Linux sends one: DF set, window 64240, no options unless given. */
export function tcpSyn(e: Endpoints & { sport: number; dport: number; seq?: number; window?: number; options?: Uint8Array }): Packet {
  const tcp: TcpHeader = {
    kind: 'tcp', sport: e.sport, dport: e.dport, seq: e.seq ?? 0, ack: 0,
    flags: { fin: false, syn: true, rst: false, psh: false, ack: false, urg: false, ece: false, cwr: false },
    window: e.window ?? 64240, urgent: 0, options: e.options ?? new Uint8Array(0),
  };
  return withLink(e, ipHeader(e.src, e.dst, IP_PROTO.TCP, e), [tcp], new Uint8Array(0));
}

/** A UDP datagram carrying `data`. */
export function udpDatagram(e: Endpoints & { sport: number; dport: number; data?: Uint8Array; zeroChecksum?: boolean }): Packet {
  const udp: UdpHeader = { kind: 'udp', sport: e.sport, dport: e.dport };
  if (e.zeroChecksum) udp.zeroChecksum = true;
  return withLink(e, ipHeader(e.src, e.dst, IP_PROTO.UDP, e), [udp], e.data ?? new Uint8Array(0));
}

/** An ICMP (IPv4) or ICMPv6 echo request, or reply with `reply: true`. */
export function icmpEcho(e: Endpoints & { id: number; seq: number; data?: Uint8Array; reply?: boolean }): Packet {
  const v6 = familyOf(e.src, 'src') === 6;
  const rest = echoRest(e.id, e.seq);
  const icmp: IcmpHeader | Icmpv6Header = v6
    ? { kind: 'icmpv6', type: e.reply ? ICMPV6_TYPE.ECHO_REPLY : ICMPV6_TYPE.ECHO_REQUEST, code: 0, rest }
    : { kind: 'icmp', type: e.reply ? ICMP_TYPE.ECHO_REPLY : ICMP_TYPE.ECHO, code: 0, rest };
  return withLink(e, ipHeader(e.src, e.dst, v6 ? IP_PROTO.ICMPV6 : IP_PROTO.ICMP, e), [icmp], e.data ?? new Uint8Array(0));
}

/** Puts `outerLayers` in front of the packet's layers. Protocol fields of the outer layers are the caller's. */
export function encap(inner: Packet, outerLayers: readonly Layer[]): Packet {
  const p: Packet = { layers: [...outerLayers, ...inner.layers], payload: inner.payload };
  if (inner.trailer) p.trailer = inner.trailer;
  return p;
}

/** Removes the `layerCount` outermost layers. */
export function decap(p: Packet, layerCount: number): Packet {
  if (!Number.isInteger(layerCount) || layerCount < 0 || layerCount > p.layers.length) {
    throw new RangeError(`cannot remove ${layerCount} layers from a packet of ${p.layers.length}`);
  }
  return { layers: p.layers.slice(layerCount), payload: p.payload };
}

export interface VxlanEncapOptions {
  srcMac: Mac;
  dstMac: Mac;
  srcIp: string;
  dstIp: string;
  /** Linux picks it from a hash of the inner flow (udp_flow_src_port); the caller supplies it. */
  sport: number;
  /** Default 8472, the Linux default and Flannel's port. */
  dport?: number;
  vni: number;
  ttl?: number;
  /** Default false: a vxlan device without `df set` leaves DF clear (vxlan_xmit_one). */
  df?: boolean;
  id?: number;
  /** Send UDP checksum 0 (vxlan `noudpcsum`). Default false: the checksum is computed. */
  zeroChecksum?: boolean;
}

/**
 * Wraps an Ethernet frame in outer Ethernet/IPv4/UDP/VXLAN headers, as a Linux vxlan device does
 * (vxlan_xmit_one, drivers/net/vxlan/vxlan_core.c). The inner packet must start with Ethernet.
 */
export function vxlanEncap(inner: Packet, o: VxlanEncapOptions): Packet {
  if (inner.layers[0]?.kind !== 'ethernet') throw new PacketEncodeError('vxlan', 'inner', 'VXLAN carries Ethernet frames: the inner packet must start with an ethernet layer');
  const eth: EthernetHeader = { kind: 'ethernet', dst: o.dstMac, src: o.srcMac, ethertype: ETHERTYPE.IPV4 };
  const ip = ipHeader(o.srcIp, o.dstIp, IP_PROTO.UDP, { ttl: o.ttl ?? DEFAULT_IP_TTL, df: o.df ?? false, id: o.id ?? 0 });
  if (ip.kind !== 'ipv4') throw new PacketEncodeError('vxlan', 'srcIp', 'only IPv4 underlays are supported');
  const udp: UdpHeader = { kind: 'udp', sport: o.sport, dport: o.dport ?? 8472 };
  if (o.zeroChecksum) udp.zeroChecksum = true;
  const vx: VxlanHeader = { kind: 'vxlan', flags: VXLAN_FLAG_I, vni: o.vni };
  return encap(inner, [eth, ip, udp, vx]);
}

/**
 * Wraps an IPv4 packet in an outer IPv4 header of protocol 4, as an ipip tunnel (tunl0) does
 * (ip_tunnel_xmit, net/ipv4/ip_tunnel.c). The inner packet must start with ipv4 (an Ethernet
 * header in front is dropped, as the tunnel sends the network header only). `df` defaults to the
 * inner header's DF (ip_tunnel_xmit copies it when the tunnel does not set its own).
 */
export function ipipEncap(inner: Packet, o: { src: string; dst: string; ttl?: number; df?: boolean; id?: number }): Packet {
  const start = inner.layers[0]?.kind === 'ethernet' ? decap(inner, 1) : inner;
  const first = start.layers[0];
  if (first?.kind !== 'ipv4') throw new PacketEncodeError('ipv4', 'inner', 'IP-in-IP carries IPv4: the inner packet must start with an ipv4 layer');
  const outer = ipHeader(o.src, o.dst, IP_PROTO.IPIP, { ttl: o.ttl ?? DEFAULT_IP_TTL, df: o.df ?? first.df, id: o.id ?? 0 });
  if (outer.kind !== 'ipv4') throw new PacketEncodeError('ipv4', 'src', 'the outer header of IP-in-IP is IPv4');
  return encap(start, [outer]);
}

/** Quoting limit of an ICMPv4 error: the whole ICMP datagram stays within 576 bytes (RFC 1812 §4.3.2.3). */
export const ICMP_ERROR_MAX = 576;

export interface IcmpErrorOptions {
  type: number;
  code: number;
  /** The address the error is sent from (the router or host that drops the packet). */
  src: string;
  /** Next-hop MTU: fragmentation needed (ICMP 3/4) and packet too big (ICMPv6 2). */
  mtu?: number;
  ttl?: number;
  /** IPv4 identification of the error datagram (the kernel's is random; default 0). */
  id?: number;
}

/**
 * The ICMP error a Linux host sends about `original` (which starts at its IP layer; a leading
 * Ethernet header is skipped). Models __icmp_send (net/ipv4/icmp.c): the reply quotes as much of
 * the original datagram as keeps the ICMP datagram within 576 bytes (576 − 20 − 8 = 548 bytes of
 * quote, assuming no reply IP options and a route MTU ≥ 576), goes to the original source with TTL
 * 64, DF clear, and TOS = (original TOS & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL (0xc0).
 * For IPv6, icmp6_send (net/ipv6/icmp.c): quote up to IPV6_MIN_MTU − 40 − 8 = 1232 bytes, hop
 * limit 64, traffic class 0. The quoted bytes are the original as it was (its lengths and
 * checksums as carried), decoded into the layers after the ICMP header.
 * Whether the kernel would send an error at all (not about an ICMP error, a non-first fragment,
 * a broadcast; rate limits) is the caller's decision.
 */
export function icmpError(original: Packet, o: IcmpErrorOptions): Packet {
  const start = original.layers[0]?.kind === 'ethernet' ? decap(original, 1) : original;
  const ip = start.layers[0];
  if (ip?.kind !== 'ipv4' && ip?.kind !== 'ipv6') throw new PacketEncodeError('icmp', 'original', 'the original packet must start with an IP layer');
  const bytes = encodePacket(start, { recompute: false });
  if (ip.kind === 'ipv4') {
    if (!isIcmpErrorType(o.type)) throw new PacketEncodeError('icmp', 'type', `ICMP type ${o.type} is not an error type`);
    const room = ICMP_ERROR_MAX - IPV4_HEADER_LEN - 8;
    const quote = bytes.subarray(0, Math.min(bytes.length, room));
    const q = decodeQuoted(quote, 4);
    const rest = o.type === ICMP_TYPE.DEST_UNREACH && o.code === ICMP_UNREACH.FRAG_NEEDED ? (o.mtu ?? 0) & 0xffff : 0;
    const tos = ((ip.dscp << 2) | ip.ecn) & 0x1e;
    const outer: Ipv4Header = {
      kind: 'ipv4', dscp: (tos | 0xc0) >> 2, ecn: tos & 3, id: o.id ?? 0, df: false, mf: false, fragOffset: 0,
      ttl: o.ttl ?? DEFAULT_IP_TTL, protocol: IP_PROTO.ICMP, src: o.src, dst: ip.src,
    };
    const icmp: IcmpHeader = { kind: 'icmp', type: o.type, code: o.code, rest };
    return { layers: [outer, icmp, ...q.layers], payload: q.payload };
  }
  if (!isIcmpv6ErrorType(o.type)) throw new PacketEncodeError('icmpv6', 'type', `ICMPv6 type ${o.type} is not an error type`);
  const room = IPV6_MIN_MTU - IPV6_HEADER_LEN - 8;
  const quote = bytes.subarray(0, Math.min(bytes.length, room));
  const q = decodeQuoted(quote, 6);
  const rest = o.type === ICMPV6_TYPE.PACKET_TOO_BIG ? (o.mtu ?? IPV6_MIN_MTU) >>> 0 : 0;
  const outer: Ipv6Header = { kind: 'ipv6', trafficClass: 0, flowLabel: 0, nextHeader: IP_PROTO.ICMPV6, hopLimit: o.ttl ?? DEFAULT_IP_TTL, src: o.src, dst: ip.src };
  const icmp: Icmpv6Header = { kind: 'icmpv6', type: o.type, code: o.code, rest };
  return { layers: [outer, icmp, ...q.layers], payload: q.payload };
}
