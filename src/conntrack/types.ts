/**
 * Conntrack data types: tuples, directions, ctinfo, ctstate, status bits, per-protocol state and NAT
 * ranges. Plain data; the behaviour lives in table.ts (ConntrackTable) and nat.ts.
 *
 * Kernel names are kept (include/uapi/linux/netfilter/nf_conntrack_common.h,
 * include/net/netfilter/nf_conntrack_tuple.h, include/uapi/linux/netfilter/nf_nat.h).
 */
import type { Family } from '../base/index.js';

/**
 * One direction of a connection, as `struct nf_conntrack_tuple` holds it, in text form.
 *
 * Port fields per protocol (the kernel's `union nf_conntrack_man_proto` / the `dst.u` union):
 * - TCP (6), UDP (17), SCTP (132), UDPLITE (136), DCCP (33): `sport`/`dport` are the ports.
 * - ICMP (1) / ICMPv6 (58): `sport` is the echo identifier (`src.u.icmp.id`); `dport` packs the
 *   kernel's `dst.u.icmp.type` and `dst.u.icmp.code` as `(type << 8) | code` (use `icmpDport`,
 *   `icmpTypeOf`, `icmpCodeOf` from tuple.ts). The reply tuple carries the reply type
 *   (echo request 8 ↔ echo reply 0), as nf_conntrack_invert_icmp_tuple does.
 * - Any other protocol (generic tracking): both 0.
 *
 * Addresses are canonical text (as `formatIp` prints them).
 */
export interface Tuple {
  readonly family: Family;
  readonly proto: number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

/** enum ip_conntrack_dir. */
export type Direction = 'ORIGINAL' | 'REPLY';

/**
 * enum ip_conntrack_info: what the packet is to its connection (stored in skb->_nfct).
 * IP_CT_NEW has no reply form; IP_CT_UNTRACKED is `CT --notrack` / NOTRACK.
 */
export type CtInfo = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'ESTABLISHED_REPLY' | 'RELATED_REPLY' | 'UNTRACKED';

/** The user-visible state (`-m conntrack --ctstate`, `-m state --state`): xt_conntrack's XT_CONNTRACK_STATE bits. */
export type CtState = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED';

/** enum ip_conntrack_status bits (include/uapi/linux/netfilter/nf_conntrack_common.h). */
export const IPS = {
  EXPECTED: 1 << 0,
  SEEN_REPLY: 1 << 1,
  ASSURED: 1 << 2,
  CONFIRMED: 1 << 3,
  SRC_NAT: 1 << 4,
  DST_NAT: 1 << 5,
  SEQ_ADJUST: 1 << 6,
  SRC_NAT_DONE: 1 << 7,
  DST_NAT_DONE: 1 << 8,
  DYING: 1 << 9,
  FIXED_TIMEOUT: 1 << 10,
  TEMPLATE: 1 << 11,
  NAT_CLASH: 1 << 12,
  HELPER: 1 << 13,
  OFFLOAD: 1 << 14,
  HW_OFFLOAD: 1 << 15,
} as const;
export type IpsBit = keyof typeof IPS;

/** enum tcp_conntrack (include/uapi/linux/netfilter/nf_conntrack_tcp.h), names as `conntrack -L` prints them. */
export type TcpCtState =
  | 'NONE'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'ESTABLISHED'
  | 'FIN_WAIT'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'SYN_SENT2';

/** The TCP flags conntrack looks at (get_conntrack_index in nf_conntrack_proto_tcp.c). */
export interface TcpFlags {
  readonly syn?: boolean;
  readonly ack?: boolean;
  readonly fin?: boolean;
  readonly rst?: boolean;
}

/** Per-protocol state (`union nf_conntrack_proto`). */
export type ProtoState =
  | { readonly kind: 'tcp'; state: TcpCtState; /** the direction that sent the last SYN (tcp_packet's last_dir) */ lastDir: Direction }
  | { readonly kind: 'udp'; /** virtual ms after which a replied flow counts as a stream (proto.udp.stream_ts) */ streamTs: number }
  | { readonly kind: 'icmp' }
  | { readonly kind: 'generic' };

/** enum nf_nat_manip_type. */
export type Manip = 'SRC' | 'DST';

/** NF_NAT_RANGE_* flags (include/uapi/linux/netfilter/nf_nat.h). */
export interface NatRangeFlags {
  /** NF_NAT_RANGE_MAP_IPS: the range carries addresses. */
  readonly mapIps: boolean;
  /** NF_NAT_RANGE_PROTO_SPECIFIED: the range carries ports (`:port[-port]`, `--to-ports`). */
  readonly protoSpecified: boolean;
  /** NF_NAT_RANGE_PROTO_RANDOM (`--random`). */
  readonly random: boolean;
  /** NF_NAT_RANGE_PROTO_RANDOM_FULLY (`--random-fully`). */
  readonly randomFully: boolean;
  /** NF_NAT_RANGE_PERSISTENT (`--persistent`). */
  readonly persistent: boolean;
}

/** struct nf_nat_range2 (without the port offset of NF_NAT_RANGE_PROTO_OFFSET). */
export interface NatRange {
  readonly minIp: string;
  readonly maxIp: string;
  readonly minPort?: number;
  readonly maxPort?: number;
  readonly flags: NatRangeFlags;
}

/** The result of confirming an entry (__nf_conntrack_confirm). */
export type ConfirmResult =
  | { readonly ok: true; readonly entry: ConntrackEntryView }
  /** Another entry with the same original or reply tuple was confirmed first: the kernel drops
   * the packet (NF_DROP) unless nf_ct_resolve_clash can merge it; `clash` is that entry. */
  | { readonly ok: false; readonly clash: ConntrackEntryView; readonly resolved: boolean };

/** Read-only view of a conntrack entry (the class in table.ts implements it). */
export interface ConntrackEntryView {
  readonly id: number;
  /** tuplehash[IP_CT_DIR_ORIGINAL].tuple */
  readonly original: Tuple;
  /** tuplehash[IP_CT_DIR_REPLY].tuple (changed by NAT setup) */
  readonly reply: Tuple;
  readonly status: number;
  readonly proto: ProtoState;
  /** ctmark */
  readonly mark: number;
  /** Virtual ms at which the entry expires (ct->timeout). */
  readonly expiresAt: number;
  readonly confirmed: boolean;
}

/** The result of conntrack processing one packet (nf_conntrack_in). */
export interface CtResult {
  /** null when the packet is INVALID or UNTRACKED. */
  readonly entry: ConntrackEntryView | null;
  readonly dir: Direction;
  readonly ctinfo: CtInfo | null;
  readonly ctstate: CtState;
  /** True when `entry` was created by this packet and is not yet in the table (unconfirmed). */
  readonly isNew: boolean;
  /** Why the packet is INVALID, when it is. */
  readonly reason?: string;
}

/** Timeouts in virtual milliseconds, per protocol and state (defaults in timeouts.ts). */
export interface Timeouts {
  readonly tcp: Readonly<Record<Exclude<TcpCtState, 'NONE'>, number>> & { readonly RETRANS: number; readonly UNACK: number };
  readonly udp: { readonly UNREPLIED: number; readonly REPLIED: number };
  readonly icmp: number;
  readonly icmpv6: number;
  readonly generic: number;
}
