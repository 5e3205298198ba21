import type { Mac } from '../base/mac.js';
import { checkUint, hex, need, put16, readMac, u16, writeMac } from './bytes.js';
import { PacketDecodeError } from './errors.js';

/** An 802.1Q tag (TPID 0x8100): priority code point, drop-eligible indicator, VLAN id. */
export interface VlanTag {
  pcp: number;
  dei: boolean;
  vid: number;
}

/**
 * An Ethernet II header, optionally with one 802.1Q tag. `ethertype` is the type of what follows
 * (after the tag when there is one). `padding` holds the bytes after the carried datagram up to the
 * end of the frame (the 60-byte minimum-frame padding); decoded frames keep it, encode appends it.
 */
export interface EthernetHeader {
  kind: 'ethernet';
  dst: Mac;
  src: Mac;
  vlan?: VlanTag;
  ethertype: number;
  padding?: Uint8Array;
}

/** EtherType values (include/uapi/linux/if_ether.h: ETH_P_IP, ETH_P_ARP, ETH_P_8021Q, ETH_P_IPV6). */
export const ETHERTYPE = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd } as const;

const ETHERTYPE_NAMES: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x8100: '802.1Q', 0x86dd: 'IPv6' };

export const ETHERNET_HEADER_LEN = 14;
export const VLAN_TAG_LEN = 4;

/** Decodes the header at `offset` (the frame ends at `end`). Padding is set by decodePacket. */
export function decodeEthernet(bytes: Uint8Array, offset = 0, end = bytes.length): EthernetHeader {
  need(end, offset, ETHERNET_HEADER_LEN, 'ethernet', 'header');
  const dst = readMac(bytes, offset);
  const src = readMac(bytes, offset + 6);
  const type = u16(bytes, offset + 12);
  if (type !== ETHERTYPE.VLAN) return { kind: 'ethernet', dst, src, ethertype: type };
  need(end, offset + 14, VLAN_TAG_LEN, 'ethernet', 'vlan');
  const tci = u16(bytes, offset + 14);
  const inner = u16(bytes, offset + 16);
  if (inner === ETHERTYPE.VLAN) throw new PacketDecodeError('ethernet', 'vlan', offset + 16, 'stacked 802.1Q tags (QinQ) are not supported');
  return { kind: 'ethernet', dst, src, vlan: { pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff }, ethertype: inner };
}

export function ethernetHeaderLen(h: EthernetHeader): number {
  return h.vlan ? ETHERNET_HEADER_LEN + VLAN_TAG_LEN : ETHERNET_HEADER_LEN;
}

/** Writes the header at `offset` of `out`; returns its length. The padding is written by encodePacket. */
export function encodeEthernet(h: EthernetHeader, out: Uint8Array, offset = 0): number {
  writeMac(out, offset, h.dst, 'ethernet', 'dst');
  writeMac(out, offset + 6, h.src, 'ethernet', 'src');
  checkUint(h.ethertype, 16, 'ethernet', 'ethertype');
  if (!h.vlan) {
    put16(out, offset + 12, h.ethertype);
    return ETHERNET_HEADER_LEN;
  }
  const { pcp, dei, vid } = h.vlan;
  checkUint(pcp, 3, 'ethernet', 'vlan.pcp');
  checkUint(vid, 12, 'ethernet', 'vlan.vid');
  put16(out, offset + 12, ETHERTYPE.VLAN);
  put16(out, offset + 14, (pcp << 13) | (dei ? 0x1000 : 0) | vid);
  put16(out, offset + 16, h.ethertype);
  return ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
}

export function ethertypeName(type: number): string {
  return `${ETHERTYPE_NAMES[type] ?? 'Unknown'} (${hex(type)})`;
}

/**
 * The link header as `tcpdump -e` prints it: `02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4
 * (0x0800), length 98` (`length` is the frame length, left out when not given); with a tag,
 * `…, ethertype 802.1Q (0x8100), length 58: vlan 10, p 0, ethertype IPv4 (0x0800)`.
 */
export function formatEthernet(h: EthernetHeader, length?: number): string {
  const len = length !== undefined ? `, length ${length}` : '';
  if (!h.vlan) return `${h.src} > ${h.dst}, ethertype ${ethertypeName(h.ethertype)}${len}`;
  return `${h.src} > ${h.dst}, ethertype ${ethertypeName(ETHERTYPE.VLAN)}${len}: vlan ${h.vlan.vid}, p ${h.vlan.pcp}${h.vlan.dei ? ', DEI' : ''}, ethertype ${ethertypeName(h.ethertype)}`;
}
