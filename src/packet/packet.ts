import { checksumValid, internetChecksum, onesComplementSum } from '../base/checksum.js';
import { assertNever } from '../base/assert.js';
import { decodeArp, encodeArp, ARP_HEADER_LEN } from './arp.js';
import type { ArpHeader } from './arp.js';
import { need, u16 } from './bytes.js';
import { PacketDecodeError, PacketEncodeError } from './errors.js';
import type { DecodeLayer } from './errors.js';
import { decodeEthernet, encodeEthernet, ethernetHeaderLen, ETHERTYPE } from './ethernet.js';
import type { EthernetHeader } from './ethernet.js';
import { decodeIcmp, encodeIcmp, isIcmpErrorType, ICMP_HEADER_LEN } from './icmp.js';
import type { IcmpHeader } from './icmp.js';
import { decodeIcmpv6, encodeIcmpv6, isIcmpv6ErrorType, ICMPV6_HEADER_LEN } from './icmpv6.js';
import type { Icmpv6Header } from './icmpv6.js';
import { decodeIpv4, encodeIpv4, ipv4HeaderLen, ipv4PseudoSum, IP_PROTO, isFragment, isLaterFragment } from './ipv4.js';
import type { Ipv4Header } from './ipv4.js';
import { decodeIpv6, encodeIpv6, ipv6PseudoSum, IPV6_HEADER_LEN } from './ipv6.js';
import type { Ipv6Header } from './ipv6.js';
import { decodeTcp, decodeTcpPartial, encodeTcp, tcpHeaderLen, TCP_HEADER_LEN, TCP_MIN_QUOTED } from './tcp.js';
import type { TcpHeader } from './tcp.js';
import { decodeUdp, encodeUdp, udpWireChecksum, UDP_HEADER_LEN } from './udp.js';
import type { UdpHeader } from './udp.js';
import { decodeVxlan, encodeVxlan, VXLAN_FLAG_I, VXLAN_HEADER_LEN, VXLAN_PORTS } from './vxlan.js';
import type { VxlanHeader } from './vxlan.js';

/** One wire header; `kind` tells which. */
export type Layer =
  | EthernetHeader
  | ArpHeader
  | Ipv4Header
  | Ipv6Header
  | IcmpHeader
  | Icmpv6Header
  | TcpHeader
  | UdpHeader
  | VxlanHeader;

export type IpLayer = Ipv4Header | Ipv6Header;

/**
 * A packet: its headers outermost first, then the payload of the innermost one. IP-in-IP is two
 * ipv4 layers (outer protocol 4); VXLAN is ethernet/ipv4/udp/vxlan/ethernet/ipv4/…. An ICMP error
 * is followed by the layers of the datagram it quotes (their lengths and checksums describe the
 * original datagram, so encoding keeps them as carried). `trailer` holds bytes after the outermost
 * datagram when there is no Ethernet layer to hold them as padding (a raw or cooked capture).
 */
export interface Packet {
  layers: Layer[];
  payload: Uint8Array;
  trailer?: Uint8Array;
}

/** What the first byte of the input is: an Ethernet header, or an IP header (raw IP). */
export type LinkKind = 'ethernet' | 'raw';

export interface DecodeOptions {
  link: LinkKind;
  /**
   * With `link: 'raw'`: the EtherType of what the bytes hold (as a Linux cooked-capture header
   * says; ARP has no version nibble). Without it a raw packet is IPv4 or IPv6 by its version.
   */
  ethertype?: number;
  /** UDP destination ports decoded as VXLAN (default VXLAN_PORTS: 4789 and 8472). */
  vxlanPorts?: readonly number[];
}

const DEFAULT_VXLAN_PORTS: ReadonlySet<number> = new Set(VXLAN_PORTS);

type Next = 'ethernet' | 'arp' | 'ip' | 'ipv4' | 'ipv6' | 'icmp' | 'icmpv6' | 'tcp' | 'udp' | 'vxlan' | 'payload';

function byEthertype(t: number): Next {
  return t === ETHERTYPE.IPV4 ? 'ipv4' : t === ETHERTYPE.IPV6 ? 'ipv6' : t === ETHERTYPE.ARP ? 'arp' : 'payload';
}

function byProtocol(p: number, v6: boolean): Next {
  switch (p) {
    case IP_PROTO.TCP: return 'tcp';
    case IP_PROTO.UDP: return 'udp';
    case IP_PROTO.IPIP: return 'ipv4';
    case IP_PROTO.IPV6: return 'ipv6';
    case IP_PROTO.ICMP: return v6 ? 'payload' : 'icmp';
    case IP_PROTO.ICMPV6: return v6 ? 'icmpv6' : 'payload';
    default: return 'payload';
  }
}

/** Where each decoded layer starts and where the datagram it belongs to ends (for verifyPacket). */
interface Spans {
  offsets: number[];
  ends: number[];
  /** Layers inside an ICMP error's quote, or transport headers of a fragment: no length/checksum checks. */
  verbatim: boolean[];
}

/**
 * Decodes a frame into layers. Throws PacketDecodeError (layer, field, offset) for a truncated or
 * inconsistent frame and nothing else; never reads past `bytes`. Checksums are not checked here
 * (see verifyPacket). The payload and trailers are views into `bytes`, not copies.
 */
export function decodePacket(bytes: Uint8Array, opts: DecodeOptions = { link: 'ethernet' }): Packet {
  return decodeWalk(bytes, opts, null);
}

function decodeWalk(bytes: Uint8Array, opts: DecodeOptions, spans: Spans | null, startQuoted?: 'ipv4' | 'ipv6'): Packet {
  const layers: Layer[] = [];
  const ports = opts.vxlanPorts ? new Set(opts.vxlanPorts) : DEFAULT_VXLAN_PORTS;
  let off = 0;
  let end = bytes.length;
  let next: Next = startQuoted ?? (opts.link === 'ethernet' ? 'ethernet' : opts.ethertype !== undefined ? byEthertype(opts.ethertype) : 'ip');
  let quoted = startQuoted !== undefined;
  let fragment = false;
  /** The Ethernet layer (or, at the start of a raw frame, none) whose datagram length is not yet known. */
  let link: EthernetHeader | undefined;
  let atStart = true;
  let trailer: Uint8Array | undefined;

  const push = (h: Layer, verbatim: boolean) => {
    layers.push(h);
    if (spans) {
      spans.offsets.push(off);
      spans.ends.push(end);
      spans.verbatim.push(verbatim);
    }
  };
  /** The datagram just decoded ends at `dEnd`: bytes after it are its link layer's padding. */
  const settle = (dEnd: number, layer: DecodeLayer, field: string, fieldOffset: number) => {
    if (dEnd > end) {
      if (quoted) dEnd = end;
      else throw new PacketDecodeError(layer, field, fieldOffset, `length says the datagram ends at byte ${dEnd}, but the frame ends at ${end}`);
    }
    if (dEnd < end) {
      if (link) link.padding = bytes.subarray(dEnd, end);
      else if (atStart) trailer = bytes.subarray(dEnd, end);
      else if (!quoted) throw new PacketDecodeError(layer, field, fieldOffset, `length says the datagram ends at byte ${dEnd}, but its container holds ${end - dEnd} more bytes`);
    }
    end = dEnd;
    if (spans) spans.ends[spans.ends.length - 1] = end;
    link = undefined;
    atStart = false;
  };

  for (;;) {
    switch (next) {
      case 'ethernet': {
        const h = decodeEthernet(bytes, off, end);
        push(h, false);
        off += ethernetHeaderLen(h);
        link = h;
        atStart = false;
        next = byEthertype(h.ethertype);
        continue;
      }
      case 'arp': {
        const h = decodeArp(bytes, off, end);
        push(h, false);
        settle(off + ARP_HEADER_LEN, 'arp', 'header', off);
        off += ARP_HEADER_LEN;
        next = 'payload';
        continue;
      }
      case 'ip': {
        need(end, off, 1, 'ipv4', 'version');
        const v = bytes[off]! >> 4;
        if (v === 4) next = 'ipv4';
        else if (v === 6) next = 'ipv6';
        else throw new PacketDecodeError('ipv4', 'version', off, `IP version ${v}, expected 4 or 6`);
        continue;
      }
      case 'ipv4': {
        if (quoted && (end - off < 20 || bytes[off]! >> 4 !== 4)) { next = 'payload'; continue; }
        const h = decodeIpv4(bytes, off, end);
        push(h, false);
        settle(off + h.totalLength!, 'ipv4', 'totalLength', off + 2);
        off += ipv4HeaderLen(h);
        if (isLaterFragment(h)) next = 'payload';
        else {
          fragment = isFragment(h);
          next = byProtocol(h.protocol, false);
        }
        continue;
      }
      case 'ipv6': {
        if (quoted && (end - off < IPV6_HEADER_LEN || bytes[off]! >> 4 !== 6)) { next = 'payload'; continue; }
        const h = decodeIpv6(bytes, off, end);
        push(h, false);
        settle(off + IPV6_HEADER_LEN + h.payloadLength!, 'ipv6', 'payloadLength', off + 4);
        off += IPV6_HEADER_LEN;
        fragment = false;
        next = byProtocol(h.nextHeader, true);
        continue;
      }
      case 'tcp': {
        const verbatim = quoted || fragment;
        if (quoted) {
          const available = end - off;
          if (available < TCP_MIN_QUOTED) { next = 'payload'; continue; }
          const doff = available > 12 ? (bytes[off + 12]! >> 4) * 4 : 0;
          if (doff >= TCP_HEADER_LEN && doff <= available) {
            const h = decodeTcp(bytes, off, end);
            push(h, true);
            off += doff;
          } else {
            const n = Math.min(available, TCP_HEADER_LEN);
            push(decodeTcpPartial(bytes, off, n), true);
            off += n;
          }
        } else {
          const h = decodeTcp(bytes, off, end);
          push(h, verbatim);
          off += tcpHeaderLen(h);
        }
        next = 'payload';
        continue;
      }
      case 'udp': {
        if (quoted && end - off < UDP_HEADER_LEN) { next = 'payload'; continue; }
        const h = decodeUdp(bytes, off, end);
        const verbatim = quoted || fragment;
        push(h, verbatim);
        if (!verbatim) {
          const len = h.length!;
          if (len < UDP_HEADER_LEN) throw new PacketDecodeError('udp', 'length', off + 4, `length ${len} is shorter than the 8-byte header`);
          if (off + len !== end) throw new PacketDecodeError('udp', 'length', off + 4, `length ${len}, but the IP payload holds ${end - off} bytes`);
        }
        off += UDP_HEADER_LEN;
        next = !verbatim && ports.has(h.dport) && end - off >= VXLAN_HEADER_LEN && (bytes[off]! & VXLAN_FLAG_I) !== 0 ? 'vxlan' : 'payload';
        continue;
      }
      case 'vxlan': {
        push(decodeVxlan(bytes, off, end), false);
        off += VXLAN_HEADER_LEN;
        next = 'ethernet';
        continue;
      }
      case 'icmp': {
        if (quoted && end - off < ICMP_HEADER_LEN) { next = 'payload'; continue; }
        const h = decodeIcmp(bytes, off, end);
        push(h, quoted);
        off += ICMP_HEADER_LEN;
        if (!quoted && isIcmpErrorType(h.type)) {
          quoted = true;
          next = 'ipv4';
        } else next = 'payload';
        continue;
      }
      case 'icmpv6': {
        if (quoted && end - off < ICMPV6_HEADER_LEN) { next = 'payload'; continue; }
        const h = decodeIcmpv6(bytes, off, end);
        push(h, quoted);
        off += ICMPV6_HEADER_LEN;
        if (!quoted && isIcmpv6ErrorType(h.type)) {
          quoted = true;
          next = 'ipv6';
        } else next = 'payload';
        continue;
      }
      case 'payload': {
        const p: Packet = { layers, payload: bytes.subarray(off, end) };
        if (trailer && trailer.length > 0) p.trailer = trailer;
        return p;
      }
      default:
        return assertNever(next, 'decode state');
    }
  }
}

/** Decodes the datagram quoted by an ICMP/ICMPv6 error (as many bytes as were quoted). */
export function decodeQuoted(bytes: Uint8Array, family: 4 | 6): Packet {
  return decodeWalk(bytes, { link: 'raw' }, null, family === 4 ? 'ipv4' : 'ipv6');
}

// ---------------------------------------------------------------------------------------------
// Encoding

export interface EncodeOptions {
  /**
   * false: write the lengths and checksums the layers carry (decoded values), computing only those
   * that are absent, so a decoded frame, even a corrupt one, encodes back byte for byte.
   * true (default): compute every length and checksum from content, except inside an ICMP error's
   * quote and the transport header of an IP fragment, which keep what they carry.
   */
  recompute?: boolean;
}

export function headerLen(h: Layer): number {
  switch (h.kind) {
    case 'ethernet': return ethernetHeaderLen(h);
    case 'arp': return ARP_HEADER_LEN;
    case 'ipv4': return ipv4HeaderLen(h);
    case 'ipv6': return IPV6_HEADER_LEN;
    case 'icmp': return ICMP_HEADER_LEN;
    case 'icmpv6': return ICMPV6_HEADER_LEN;
    case 'tcp': return tcpHeaderLen(h);
    case 'udp': return UDP_HEADER_LEN;
    case 'vxlan': return VXLAN_HEADER_LEN;
    default: return assertNever(h, 'layer');
  }
}

/** Sizes of an encoded packet: header length, bytes inside each layer (before its padding), offsets. */
export interface PacketLayout {
  header: number[];
  /** Bytes after layer i's header up to its own padding: the layers inside it plus the payload. */
  inner: number[];
  padding: number[];
  offset: number[];
  total: number;
}

export function packetLayout(p: Packet): PacketLayout {
  const n = p.layers.length;
  const header = new Array<number>(n);
  const inner = new Array<number>(n);
  const padding = new Array<number>(n);
  const offset = new Array<number>(n);
  let acc = p.payload.length;
  for (let i = n - 1; i >= 0; i--) {
    const h = p.layers[i]!;
    header[i] = headerLen(h);
    padding[i] = h.kind === 'ethernet' ? (h.padding?.length ?? 0) : 0;
    inner[i] = acc;
    acc += header[i]! + padding[i]!;
  }
  let o = 0;
  for (let i = 0; i < n; i++) {
    offset[i] = o;
    o += header[i]!;
  }
  return { header, inner, padding, offset, total: acc + (p.trailer?.length ?? 0) };
}

/** Layers whose lengths/checksums describe something not all here: an ICMP quote, a fragment's transport header. */
function verbatimFlags(layers: readonly Layer[]): boolean[] {
  const out = new Array<boolean>(layers.length);
  let quoted = false;
  for (let i = 0; i < layers.length; i++) {
    const h = layers[i]!;
    const prev = layers[i - 1];
    const fragTransport = (h.kind === 'tcp' || h.kind === 'udp') && prev?.kind === 'ipv4' && isFragment(prev);
    out[i] = quoted || fragTransport;
    if (!quoted && ((h.kind === 'icmp' && isIcmpErrorType(h.type)) || (h.kind === 'icmpv6' && isIcmpv6ErrorType(h.type)))) quoted = true;
  }
  return out;
}

function enclosingIp(layers: readonly Layer[], i: number): { index: number; ip: IpLayer } | undefined {
  for (let j = i - 1; j >= 0; j--) {
    const h = layers[j]!;
    if (h.kind === 'ipv4' || h.kind === 'ipv6') return { index: j, ip: h };
  }
  return undefined;
}

function pseudoSum(out: Uint8Array, layout: PacketLayout, layers: readonly Layer[], i: number, proto: number, kind: 'tcp' | 'udp' | 'icmpv6'): number {
  const enc = enclosingIp(layers, i);
  if (!enc) throw new PacketEncodeError(kind, 'checksum', 'no enclosing IP layer for the pseudo-header');
  const len = layout.header[i]! + layout.inner[i]!;
  const o = layout.offset[enc.index]!;
  return enc.ip.kind === 'ipv4' ? ipv4PseudoSum(out, o, proto, len) : ipv6PseudoSum(out, o, proto, len);
}

/**
 * Encodes a packet into one new buffer. Lengths and checksums are computed from content (see
 * EncodeOptions); TCP, UDP and ICMPv6 checksums use the pseudo-header of the nearest enclosing IP
 * layer. Throws PacketEncodeError for a field that does not fit its wire format.
 */
export function encodePacket(p: Packet, opts: EncodeOptions = {}): Uint8Array {
  const keep = opts.recompute === false;
  const layers = p.layers;
  const n = layers.length;
  const layout = packetLayout(p);
  const out = new Uint8Array(layout.total);
  const verbatim = verbatimFlags(layers);

  for (let i = 0; i < n; i++) {
    const h = layers[i]!;
    const o = layout.offset[i]!;
    const size = layout.header[i]! + layout.inner[i]!;
    const carried = keep || verbatim[i]!;
    switch (h.kind) {
      case 'ethernet':
        encodeEthernet(h, out, o);
        if (h.padding && h.padding.length > 0) out.set(h.padding, o + size);
        break;
      case 'arp':
        encodeArp(h, out, o);
        break;
      case 'ipv4':
        encodeIpv4(h, out, o, carried ? (h.totalLength ?? size) : size, { keepChecksum: keep });
        break;
      case 'ipv6':
        encodeIpv6(h, out, o, carried ? (h.payloadLength ?? size - IPV6_HEADER_LEN) : size - IPV6_HEADER_LEN);
        break;
      case 'icmp':
        encodeIcmp(h, out, o);
        break;
      case 'icmpv6':
        encodeIcmpv6(h, out, o);
        break;
      case 'tcp':
        encodeTcp(h, out, o);
        break;
      case 'udp':
        encodeUdp(h, out, o, carried ? (h.length ?? size) : size);
        break;
      case 'vxlan':
        encodeVxlan(h, out, o);
        break;
      default:
        assertNever(h, 'layer');
    }
  }
  const payloadAt = n > 0 ? layout.offset[n - 1]! + layout.header[n - 1]! : 0;
  out.set(p.payload, payloadAt);
  if (p.trailer && p.trailer.length > 0) out.set(p.trailer, layout.total - p.trailer.length);

  // Checksums, innermost first: an outer checksum covers inner headers.
  for (let i = n - 1; i >= 0; i--) {
    const h = layers[i]!;
    const o = layout.offset[i]!;
    const size = layout.header[i]! + layout.inner[i]!;
    const carried = keep || verbatim[i]!;
    let sum: number | undefined;
    switch (h.kind) {
      case 'tcp':
        if (h.partial !== undefined && h.partial < 18) continue;
        sum = carried ? h.checksum : undefined;
        if (sum === undefined) sum = verbatim[i] ? 0 : internetChecksum(out, o, o + size, pseudoSum(out, layout, layers, i, IP_PROTO.TCP, 'tcp'));
        writeSum(out, o + 16, sum, 'tcp');
        break;
      case 'udp':
        sum = carried ? h.checksum : undefined;
        if (sum === undefined) {
          if (h.zeroChecksum || verbatim[i]) sum = 0;
          else sum = udpWireChecksum(internetChecksum(out, o, o + size, pseudoSum(out, layout, layers, i, IP_PROTO.UDP, 'udp')));
        }
        writeSum(out, o + 6, sum, 'udp');
        break;
      case 'icmp':
        sum = carried ? h.checksum : undefined;
        if (sum === undefined) sum = internetChecksum(out, o, o + size);
        writeSum(out, o + 2, sum, 'icmp');
        break;
      case 'icmpv6':
        sum = carried ? h.checksum : undefined;
        if (sum === undefined) sum = verbatim[i] ? 0 : internetChecksum(out, o, o + size, pseudoSum(out, layout, layers, i, IP_PROTO.ICMPV6, 'icmpv6'));
        writeSum(out, o + 2, sum, 'icmpv6');
        break;
      default:
        break;
    }
  }
  return out;
}

function writeSum(out: Uint8Array, at: number, v: number, layer: 'tcp' | 'udp' | 'icmp' | 'icmpv6'): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new PacketEncodeError(layer, 'checksum', `${v} is not an unsigned 16-bit integer`);
  out[at] = v >>> 8;
  out[at + 1] = v & 255;
}

// ---------------------------------------------------------------------------------------------
// Verification

/** One checksum or length problem in a frame. `index` is the layer's position (-1: decoding stopped). */
export interface PacketProblem {
  layer: DecodeLayer;
  index: number;
  field: string;
  offset: number;
  message: string;
  expected?: number;
  actual?: number;
}

/**
 * Checks a frame as a receiver would: decodes it (a PacketDecodeError becomes one problem: the
 * truncated or inconsistent length), then checks the IPv4 header, TCP, UDP, ICMP and ICMPv6
 * checksums. UDP checksum 0 is "none" over IPv4 and a problem over IPv6 (RFC 8200 §8.1).
 * Headers quoted in an ICMP error and transport headers of fragments are not checked (they cover
 * bytes that are not here), except the quoted IPv4 header's own checksum. Empty list: all good.
 */
export function verifyPacket(bytes: Uint8Array, link: LinkKind | DecodeOptions): PacketProblem[] {
  const opts: DecodeOptions = typeof link === 'string' ? { link } : link;
  const spans: Spans = { offsets: [], ends: [], verbatim: [] };
  let p: Packet;
  try {
    p = decodeWalk(bytes, opts, spans);
  } catch (e) {
    if (e instanceof PacketDecodeError) return [{ layer: e.layer, index: -1, field: e.field, offset: e.offset, message: e.message }];
    throw e;
  }
  const problems: PacketProblem[] = [];
  const bad = (i: number, layer: DecodeLayer, field: string, at: number, message: string, expected?: number) => {
    const pr: PacketProblem = { layer, index: i, field, offset: at, message, actual: u16(bytes, at) };
    if (expected !== undefined) pr.expected = expected;
    problems.push(pr);
  };
  const ipOf = (i: number) => {
    for (let j = i - 1; j >= 0; j--) {
      const h = p.layers[j]!;
      if (h.kind === 'ipv4' || h.kind === 'ipv6') return { h, o: spans.offsets[j]! };
    }
    return undefined;
  };
  const pseudo = (i: number, proto: number, len: number) => {
    const ip = ipOf(i);
    if (!ip) return undefined;
    return ip.h.kind === 'ipv4' ? ipv4PseudoSum(bytes, ip.o, proto, len) : ipv6PseudoSum(bytes, ip.o, proto, len);
  };
  /** The value the field should hold: the checksum of the region with the field read as zero. */
  const expectedSum = (start: number, end: number, field: number, initial: number) => {
    const withField = onesComplementSum(bytes, start, end, initial);
    let s = withField + (~u16(bytes, field) & 0xffff);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  };

  for (let i = 0; i < p.layers.length; i++) {
    const h = p.layers[i]!;
    const o = spans.offsets[i]!;
    const end = spans.ends[i]!;
    if (h.kind === 'ipv4') {
      const hl = ipv4HeaderLen(h);
      if (!checksumValid(bytes, o, o + hl)) bad(i, 'ipv4', 'checksum', o + 10, 'bad IPv4 header checksum', expectedSum(o, o + hl, o + 10, 0));
      continue;
    }
    if (spans.verbatim[i]) continue;
    switch (h.kind) {
      case 'tcp': {
        const ps = pseudo(i, IP_PROTO.TCP, end - o);
        if (ps !== undefined && !checksumValid(bytes, o, end, ps)) bad(i, 'tcp', 'checksum', o + 16, 'bad TCP checksum', expectedSum(o, end, o + 16, ps));
        break;
      }
      case 'udp': {
        const ip = ipOf(i);
        if (h.checksum === 0) {
          if (ip?.h.kind === 'ipv6') bad(i, 'udp', 'checksum', o + 6, 'UDP checksum 0 (none) is not allowed over IPv6');
          break;
        }
        const ps = pseudo(i, IP_PROTO.UDP, end - o);
        if (ps !== undefined && !checksumValid(bytes, o, end, ps)) {
          const e = expectedSum(o, end, o + 6, ps);
          bad(i, 'udp', 'checksum', o + 6, 'bad UDP checksum', e === 0 ? 0xffff : e);
        }
        break;
      }
      case 'icmp':
        if (!checksumValid(bytes, o, end)) bad(i, 'icmp', 'checksum', o + 2, 'bad ICMP checksum', expectedSum(o, end, o + 2, 0));
        break;
      case 'icmpv6': {
        const ps = pseudo(i, IP_PROTO.ICMPV6, end - o);
        if (ps !== undefined && !checksumValid(bytes, o, end, ps)) bad(i, 'icmpv6', 'checksum', o + 2, 'bad ICMPv6 checksum', expectedSum(o, end, o + 2, ps));
        break;
      }
      default:
        break;
    }
  }
  return problems;
}
