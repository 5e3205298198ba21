import { checkUint, hex, need, put32, u32 } from './bytes.js';

/**
 * A VXLAN header (RFC 7348): flags (0x08 = I, "VNI valid"), 24-bit VNI, and the two reserved
 * fields (kept so a decoded header encodes back byte for byte; Linux's GBP extension uses them).
 */
export interface VxlanHeader {
  kind: 'vxlan';
  flags: number;
  vni: number;
  reserved1?: number;
  reserved2?: number;
}

export const VXLAN_HEADER_LEN = 8;
/** The I flag: the VNI field is valid (RFC 7348 §5; VXLAN_HF_VNI in include/net/vxlan.h). */
export const VXLAN_FLAG_I = 0x08;
/**
 * UDP destination ports decoded as VXLAN: IANA's 4789, and 8472, the Linux kernel's default
 * (IANA_VXLAN_UDP_PORT and the legacy port in drivers/net/vxlan) that Flannel uses.
 */
export const VXLAN_PORTS: readonly number[] = [4789, 8472];

export function decodeVxlan(bytes: Uint8Array, offset = 0, end = bytes.length): VxlanHeader {
  need(end, offset, VXLAN_HEADER_LEN, 'vxlan', 'header');
  const w0 = u32(bytes, offset);
  const w1 = u32(bytes, offset + 4);
  return { kind: 'vxlan', flags: w0 >>> 24, vni: w1 >>> 8, reserved1: w0 & 0xffffff, reserved2: w1 & 0xff };
}

export function encodeVxlan(h: VxlanHeader, out: Uint8Array, offset = 0): number {
  put32(out, offset, ((checkUint(h.flags, 8, 'vxlan', 'flags') << 24) | checkUint(h.reserved1 ?? 0, 24, 'vxlan', 'reserved1')) >>> 0);
  put32(out, offset + 4, ((checkUint(h.vni, 24, 'vxlan', 'vni') << 8) | checkUint(h.reserved2 ?? 0, 8, 'vxlan', 'reserved2')) >>> 0);
  return VXLAN_HEADER_LEN;
}

/** As tcpdump prints it: `VXLAN, flags [I] (0x08), vni 1`. */
export function formatVxlan(h: VxlanHeader): string {
  return `VXLAN, flags [${h.flags & VXLAN_FLAG_I ? 'I' : '.'}] (${hex(h.flags, 2)}), vni ${h.vni}`;
}
