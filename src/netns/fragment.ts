/**
 * IPv4 fragmentation as ip_do_fragment (net/ipv4/ip_output.c) does it on the wire: each fragment
 * gets a copy of the IP header (no options here) with the datagram's identification, its own
 * total length, MF on all but the last, the offset in 8-byte units and its own header checksum;
 * every fragment but the last carries a multiple of 8 data bytes, as many as fit in the MTU. The
 * transport header (and its checksum over the whole datagram) travels in the first fragment only.
 */
import { decodePacket, encodePacket, type Ipv4Header, type Packet } from '../packet/index.js';

/** The IPv4 header length of a datagram without options (IHL 5). */
const IPV4_HLEN = 20;

/** How many fragments ip_do_fragment makes of a `length`-byte datagram for `mtu`. */
export function fragmentCount(length: number, mtu: number): number {
  if (length <= mtu) return 1;
  const per = Math.floor((mtu - IPV4_HLEN) / 8) * 8;
  return Math.ceil((length - IPV4_HLEN) / per);
}

/**
 * Splits an IPv4 datagram (starting with its IP layer, no link header) into fragments for `mtu`.
 * A datagram that fits is returned alone; a datagram with DF set is never split (the caller
 * refused it before: ip_fragment sends ICMP fragmentation needed instead).
 */
export function fragmentDatagram(datagram: Packet, mtu: number): Packet[] {
  const ip = datagram.layers[0];
  if (ip?.kind !== 'ipv4') throw new Error('fragmentDatagram: the datagram must start with an IPv4 layer');
  const bytes = encodePacket(datagram);
  if (bytes.length <= mtu) return [datagram];
  if (ip.df) throw new Error('fragmentDatagram: DF is set');
  const hlen = (bytes[0]! & 0x0f) * 4;
  const data = bytes.subarray(hlen);
  const room = Math.floor((mtu - hlen) / 8) * 8;
  const baseOffset = ip.fragOffset * 8;
  const out: Packet[] = [];
  for (let at = 0; at < data.length; at += room) {
    const len = Math.min(room, data.length - at);
    const last = at + len >= data.length;
    const header: Ipv4Header = { ...ip, mf: !last || ip.mf, fragOffset: (baseOffset + at) / 8 };
    delete header.checksum;
    delete header.totalLength;
    const head = encodePacket({ layers: [header], payload: new Uint8Array(0) });
    const frag = new Uint8Array(hlen + len);
    frag.set(head.subarray(0, hlen), 0);
    frag.set(data.subarray(at, at + len), hlen);
    // total length and header checksum of this fragment (ip_send_check)
    frag[2] = (frag.length >> 8) & 0xff;
    frag[3] = frag.length & 0xff;
    frag[10] = 0;
    frag[11] = 0;
    let sum = 0;
    for (let i = 0; i < hlen; i += 2) sum += (frag[i]! << 8) | frag[i + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const check = ~sum & 0xffff;
    frag[10] = check >> 8;
    frag[11] = check & 0xff;
    out.push(decodePacket(frag, { link: 'raw' }));
  }
  return out;
}
