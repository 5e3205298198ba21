import type { Mac } from '../base/mac.js';
import { checkUint, need, put16, readIpv4, readMac, u16, writeIpv4, writeMac } from './bytes.js';
import { PacketDecodeError } from './errors.js';

/** An ARP packet for IPv4 over Ethernet (RFC 826; hardware length 6, protocol length 4). */
export interface ArpHeader {
  kind: 'arp';
  /** Hardware type: 1 = Ethernet. */
  htype: number;
  /** Protocol type: 0x0800 = IPv4. */
  ptype: number;
  /** 1 = request, 2 = reply (ARPOP_REQUEST, ARPOP_REPLY in include/uapi/linux/if_arp.h). */
  op: number;
  senderMac: Mac;
  senderIp: string;
  targetMac: Mac;
  targetIp: string;
}

export const ARP_OP = { REQUEST: 1, REPLY: 2 } as const;
export const ARP_HEADER_LEN = 28;

export function decodeArp(bytes: Uint8Array, offset = 0, end = bytes.length): ArpHeader {
  need(end, offset, 8, 'arp', 'header');
  const hlen = bytes[offset + 4]!;
  const plen = bytes[offset + 5]!;
  if (hlen !== 6) throw new PacketDecodeError('arp', 'hlen', offset + 4, `hardware address length ${hlen}, only 6 (Ethernet) is supported`);
  if (plen !== 4) throw new PacketDecodeError('arp', 'plen', offset + 5, `protocol address length ${plen}, only 4 (IPv4) is supported`);
  need(end, offset, ARP_HEADER_LEN, 'arp', 'addresses');
  return {
    kind: 'arp',
    htype: u16(bytes, offset),
    ptype: u16(bytes, offset + 2),
    op: u16(bytes, offset + 6),
    senderMac: readMac(bytes, offset + 8),
    senderIp: readIpv4(bytes, offset + 14),
    targetMac: readMac(bytes, offset + 18),
    targetIp: readIpv4(bytes, offset + 24),
  };
}

export function encodeArp(h: ArpHeader, out: Uint8Array, offset = 0): number {
  put16(out, offset, checkUint(h.htype, 16, 'arp', 'htype'));
  put16(out, offset + 2, checkUint(h.ptype, 16, 'arp', 'ptype'));
  out[offset + 4] = 6;
  out[offset + 5] = 4;
  put16(out, offset + 6, checkUint(h.op, 16, 'arp', 'op'));
  writeMac(out, offset + 8, h.senderMac, 'arp', 'senderMac');
  writeIpv4(out, offset + 14, h.senderIp, 'arp', 'senderIp');
  writeMac(out, offset + 18, h.targetMac, 'arp', 'targetMac');
  writeIpv4(out, offset + 24, h.targetIp, 'arp', 'targetIp');
  return ARP_HEADER_LEN;
}

/** As tcpdump prints it: `ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28`. */
export function formatArp(h: ArpHeader): string {
  if (h.op === ARP_OP.REQUEST) return `ARP, Request who-has ${h.targetIp} tell ${h.senderIp}, length ${ARP_HEADER_LEN}`;
  if (h.op === ARP_OP.REPLY) return `ARP, Reply ${h.senderIp} is-at ${h.senderMac}, length ${ARP_HEADER_LEN}`;
  return `ARP, op ${h.op}, sender ${h.senderIp} (${h.senderMac}), target ${h.targetIp} (${h.targetMac}), length ${ARP_HEADER_LEN}`;
}
