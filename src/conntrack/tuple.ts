/**
 * Tuples: protocol numbers, inversion (nf_ct_invert_tuple), equality and hash keys, the ICMP
 * type/code packing, and the ICMP error/query classification conntrack uses.
 */
import type { Tuple } from './types.js';

/** IP protocol numbers (IANA "Assigned Internet Protocol Numbers"; include/uapi/linux/in.h). */
export const PROTO = {
  ICMP: 1,
  IGMP: 2,
  TCP: 6,
  UDP: 17,
  DCCP: 33,
  GRE: 47,
  ICMPV6: 58,
  SCTP: 132,
  UDPLITE: 136,
} as const;

/**
 * Names `conntrack -L` prints in its first column (libnetfilter_conntrack's proto2str table);
 * any other protocol prints as "unknown".
 */
export const PROTO_NAMES: Readonly<Record<number, string>> = {
  [PROTO.TCP]: 'tcp',
  [PROTO.UDP]: 'udp',
  [PROTO.UDPLITE]: 'udplite',
  [PROTO.ICMP]: 'icmp',
  [PROTO.ICMPV6]: 'icmpv6',
  [PROTO.SCTP]: 'sctp',
  [PROTO.GRE]: 'gre',
  [PROTO.DCCP]: 'dccp',
};

export function protoName(proto: number): string {
  return PROTO_NAMES[proto] ?? 'unknown';
}

/** Protocols whose tuple carries source and destination ports (nf_conntrack_man_proto's port members). */
export function hasPorts(proto: number): boolean {
  return proto === PROTO.TCP || proto === PROTO.UDP || proto === PROTO.UDPLITE || proto === PROTO.SCTP || proto === PROTO.DCCP;
}

export function isIcmp(proto: number): boolean {
  return proto === PROTO.ICMP || proto === PROTO.ICMPV6;
}

/** The tuple's `dport` for ICMP: the kernel's `dst.u.icmp.type` and `dst.u.icmp.code` packed as (type << 8) | code. */
export function icmpDport(type: number, code: number): number {
  return ((type & 0xff) << 8) | (code & 0xff);
}
export function icmpTypeOf(t: Tuple): number {
  return (t.dport >> 8) & 0xff;
}
export function icmpCodeOf(t: Tuple): number {
  return t.dport & 0xff;
}

/** An ICMP echo (or other query) tuple: the identifier goes in `sport`, type/code in `dport`. */
export function icmpTuple(family: 4 | 6, src: string, dst: string, type: number, code: number, id: number): Tuple {
  return { family, proto: family === 4 ? PROTO.ICMP : PROTO.ICMPV6, src, dst, sport: id & 0xffff, dport: icmpDport(type, code) };
}

/**
 * ICMP query types and their answers. Models the `invmap` tables of nf_conntrack_proto_icmp.c
 * (echo 8↔0, timestamp 13↔14, info 15↔16, address mask 17↔18) and nf_conntrack_proto_icmpv6.c
 * (echo 128↔129, node information 139↔140).
 */
const ICMP_INVMAP: Readonly<Record<number, number>> = { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17 };
const ICMPV6_INVMAP: Readonly<Record<number, number>> = { 128: 129, 129: 128, 139: 140, 140: 139 };

/** ICMP types that may open a connection (icmp_packet's / icmpv6_packet's valid_new). */
const ICMP_VALID_NEW = new Set([8, 13, 15, 17]);
const ICMPV6_VALID_NEW = new Set([128, 139]);

export function icmpValidNew(proto: number, type: number): boolean {
  return proto === PROTO.ICMP ? ICMP_VALID_NEW.has(type) : ICMPV6_VALID_NEW.has(type);
}

/**
 * Is this ICMP type an error that quotes a packet? Models icmp_is_err (include/linux/icmp.h:
 * DEST_UNREACH 3, SOURCE_QUENCH 4, REDIRECT 5, TIME_EXCEEDED 11, PARAMETERPROB 12) and, for ICMPv6,
 * types below 128 (nf_conntrack_icmpv6_error: `icmp6h->icmp6_type >= 128` is not an error).
 */
export function isIcmpError(proto: number, type: number): boolean {
  if (proto === PROTO.ICMP) return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
  if (proto === PROTO.ICMPV6) return type < 128;
  return false;
}

/**
 * The tuple of the other direction. Models nf_ct_invert_tuple (nf_conntrack_core.c) with the
 * per-protocol invert_tuple: ports swap; an ICMP query keeps its id and turns into its answer type
 * (code kept). Returns null where the kernel cannot invert (an ICMP type with no answer), which
 * makes init_conntrack fail and the packet INVALID.
 */
export function invertTuple(t: Tuple): Tuple | null {
  if (isIcmp(t.proto)) {
    const map = t.proto === PROTO.ICMP ? ICMP_INVMAP : ICMPV6_INVMAP;
    const inv = map[icmpTypeOf(t)];
    if (inv === undefined) return null;
    return { family: t.family, proto: t.proto, src: t.dst, dst: t.src, sport: t.sport, dport: icmpDport(inv, icmpCodeOf(t)) };
  }
  if (hasPorts(t.proto)) return { family: t.family, proto: t.proto, src: t.dst, dst: t.src, sport: t.dport, dport: t.sport };
  return { family: t.family, proto: t.proto, src: t.dst, dst: t.src, sport: 0, dport: 0 };
}

/** nf_ct_tuple_equal. */
export function tupleEquals(a: Tuple, b: Tuple): boolean {
  return a.family === b.family && a.proto === b.proto && a.src === b.src && a.dst === b.dst && a.sport === b.sport && a.dport === b.dport;
}

/** Hash key of a tuple (stands in for hash_conntrack_raw; exact-match only). */
export function tupleKey(t: Tuple): string {
  return `${t.family}|${t.proto}|${t.src}|${t.sport}|${t.dst}|${t.dport}`;
}

/** One-line text form for traces: `tcp 10.0.0.1:40000 -> 10.96.0.10:80`. */
export function formatTuple(t: Tuple): string {
  const name = protoName(t.proto);
  if (isIcmp(t.proto)) return `${name} ${t.src} -> ${t.dst} type=${icmpTypeOf(t)} code=${icmpCodeOf(t)} id=${t.sport}`;
  if (hasPorts(t.proto)) {
    const host = (ip: string, port: number) => (t.family === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);
    return `${name} ${host(t.src, t.sport)} -> ${host(t.dst, t.dport)}`;
  }
  return `${name === 'unknown' ? `proto ${t.proto}` : name} ${t.src} -> ${t.dst}`;
}
