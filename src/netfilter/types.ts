/**
 * The netfilter model: rulesets as iptables-save prints them, the packet and connection views a
 * table walk reads, and what the walk returns. The netns pipeline (L3) calls `walkTable` through
 * these types; netfilter never imports conntrack, netns or packet.
 */
import type { Chooser, Cidr, Clock, Family } from '../base/index.js';
import type { HookName, Provenance, TraceRecorder } from '../trace/index.js';

export type { HookName } from '../trace/index.js';

// ───────────────────────────── model ─────────────────────────────

/** Tables in the order iptables-save prints them for iptables-nft 1.8.9 is the order they appear; this is the kernel's. */
export type TableName = 'raw' | 'mangle' | 'nat' | 'filter' | 'security';
export const TABLE_NAMES: readonly TableName[] = ['raw', 'mangle', 'nat', 'filter', 'security'];

/**
 * Built-in chains of each table (net/ipv4/netfilter/iptable_*.c valid_hooks), in the order
 * iptables-save prints their `:CHAIN POLICY [p:b]` lines.
 */
export const BUILTIN_CHAINS: Readonly<Record<TableName, readonly HookName[]>> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

export interface Counters {
  packets: number;
  bytes: number;
}

export interface Ruleset {
  family: Family;
  tables: Map<TableName, Table>;
}

export interface Table {
  name: TableName;
  chains: Map<string, Chain>;
  /** Chain names in the order their `:CHAIN` lines are printed. */
  order: string[];
}

export type Policy = 'ACCEPT' | 'DROP';

export interface Chain {
  name: string;
  builtin: boolean;
  /** Built-in chains only. */
  policy?: Policy;
  counters?: Counters;
  rules: Rule[];
}

/** A value that iptables lets the user negate with `!`. */
export interface Negatable<T> {
  value: T;
  neg: boolean;
}

/** `-i`/`-o`: a name, `+` at the end makes it a prefix (xt_iface, ipt_entry iniface_mask). */
export interface IfaceSpec {
  name: string;
  neg: boolean;
}

/** `-p`: a protocol number (0 = all), keeping the name it was given so the formatter prints it as iptables-save does. */
export interface ProtoSpec {
  num: number;
  neg: boolean;
}

export interface Rule {
  table: TableName;
  chain: string;
  /** 1-based line in the file it came from (0 for generated rules without a file). */
  line: number;
  file?: string;
  /** The rule exactly as iptables-save prints it (without counters): "-A CHAIN …". */
  text: string;
  src?: Negatable<Cidr>;
  dst?: Negatable<Cidr>;
  inIface?: IfaceSpec;
  outIface?: IfaceSpec;
  proto?: ProtoSpec;
  /** `-f` / `! -f` (IPv4 only): second and further fragments. */
  fragment?: { neg: boolean };
  /** One per `-m` module, in order, including the implicit tcp/udp/icmp ones. */
  matches: Match[];
  /** `none` when the rule has no `-j`/`-g` (it only counts). */
  target: Target;
  counters?: Counters;
  /** Which Service/endpoint/controller made the rule (set by generators). */
  provenance?: Provenance[];
}

// ───────────────────────────── matches ─────────────────────────────

export interface PortRange {
  lo: number;
  hi: number;
}

export type CtStateName = 'INVALID' | 'NEW' | 'ESTABLISHED' | 'RELATED' | 'UNTRACKED' | 'SNAT' | 'DNAT';
export type CtStatusName = 'NONE' | 'EXPECTED' | 'SEEN_REPLY' | 'ASSURED' | 'CONFIRMED';
export type CtDir = 'ORIGINAL' | 'REPLY';

/** Route types as xt_addrtype names them (include/uapi/linux/netfilter/xt_addrtype.h). */
export type AddrType =
  | 'UNSPEC'
  | 'UNICAST'
  | 'LOCAL'
  | 'BROADCAST'
  | 'ANYCAST'
  | 'MULTICAST'
  | 'BLACKHOLE'
  | 'UNREACHABLE'
  | 'PROHIBIT'
  | 'THROW'
  | 'NAT'
  | 'XRESOLVE';

export interface TcpMatch {
  kind: 'tcp';
  sport?: Negatable<PortRange>;
  dport?: Negatable<PortRange>;
  /** `--tcp-flags MASK COMP` (`--syn` is FIN,SYN,RST,ACK SYN); bits as in the TCP header. */
  flags?: { mask: number; comp: number; neg: boolean };
  option?: Negatable<number>;
}
export interface UdpMatch {
  kind: 'udp';
  sport?: Negatable<PortRange>;
  dport?: Negatable<PortRange>;
}
export interface SctpMatch {
  kind: 'sctp';
  sport?: Negatable<PortRange>;
  dport?: Negatable<PortRange>;
}
/** `-m icmp --icmp-type T[/C]` (xt_tcpudp.c icmp_match); type 255 = any. */
export interface IcmpMatch {
  kind: 'icmp';
  type: number;
  codeLo: number;
  codeHi: number;
  neg: boolean;
}
/** `-m icmp6 --icmpv6-type T[/C]` (ip6t_icmp in ip6_tables.c). */
export interface Icmp6Match {
  kind: 'icmp6';
  type: number;
  codeLo: number;
  codeHi: number;
  neg: boolean;
}
export interface MultiportMatch {
  kind: 'multiport';
  dir: 'sports' | 'dports' | 'ports';
  ports: PortRange[];
  neg: boolean;
}
export interface CommentMatch {
  kind: 'comment';
  comment: string;
}
export interface MarkMatch {
  kind: 'mark';
  value: number;
  mask: number;
  neg: boolean;
}
export interface ConnmarkMatch {
  kind: 'connmark';
  value: number;
  mask: number;
  neg: boolean;
}
/** xt_conntrack (revision 3 fields); each option may be negated on its own. */
export interface ConntrackMatch {
  kind: 'conntrack';
  /** Options in the order given; the formatter prints them in iptables-save's fixed order. */
  ctstate?: Negatable<CtStateName[]>;
  ctproto?: Negatable<number>;
  ctorigsrc?: Negatable<Cidr>;
  ctorigdst?: Negatable<Cidr>;
  ctreplsrc?: Negatable<Cidr>;
  ctrepldst?: Negatable<Cidr>;
  ctorigsrcport?: Negatable<PortRange>;
  ctorigdstport?: Negatable<PortRange>;
  ctreplsrcport?: Negatable<PortRange>;
  ctrepldstport?: Negatable<PortRange>;
  ctstatus?: Negatable<CtStatusName[]>;
  /** Remaining timeout in seconds (--ctexpire); not modelled by NfConntrack, so it never matches unless negated. */
  ctexpire?: Negatable<PortRange>;
  ctdir?: CtDir;
}
export interface StateMatch {
  kind: 'state';
  states: CtStateName[];
  neg: boolean;
}
export interface AddrtypeMatch {
  kind: 'addrtype';
  srcType?: Negatable<AddrType[]>;
  dstType?: Negatable<AddrType[]>;
  limitIfaceIn: boolean;
  limitIfaceOut: boolean;
}
export interface StatisticMatch {
  kind: 'statistic';
  mode: 'random' | 'nth';
  /** random: the integer the kernel compares with, `p * 2^31` rounded as iptables stores it. */
  probability: number;
  every: number;
  packet: number;
  neg: boolean;
}
export interface RecentMatch {
  kind: 'recent';
  mode: 'set' | 'rcheck' | 'update' | 'remove';
  name: string;
  /** 0 = not given. */
  seconds: number;
  reap: boolean;
  hitcount: number;
  rttl: boolean;
  side: 'rsource' | 'rdest';
  /** Address mask (text, canonical) applied before lookup. */
  mask: string;
  neg: boolean;
}
export type IpsetDim = 'src' | 'dst';
export interface SetMatch {
  kind: 'set';
  name: string;
  dims: IpsetDim[];
  neg: boolean;
  /** Options after the set spec, kept in the order iptables-save prints them. */
  returnNomatch: boolean;
  noUpdateCounters: boolean;
  noUpdateSubcounters: boolean;
}
export interface PhysdevMatch {
  kind: 'physdev';
  physdevIn?: IfaceSpec;
  physdevOut?: IfaceSpec;
  isIn?: { neg: boolean };
  isOut?: { neg: boolean };
  isBridged?: { neg: boolean };
}
export interface NfacctMatch {
  kind: 'nfacct';
  name: string;
}
export interface LimitMatch {
  kind: 'limit';
  /** As iptables-save prints it: "5/sec", "3/min". */
  avg: string;
  burst: number;
}

export type Match =
  | TcpMatch
  | UdpMatch
  | SctpMatch
  | IcmpMatch
  | Icmp6Match
  | MultiportMatch
  | CommentMatch
  | MarkMatch
  | ConnmarkMatch
  | ConntrackMatch
  | StateMatch
  | AddrtypeMatch
  | StatisticMatch
  | RecentMatch
  | SetMatch
  | PhysdevMatch
  | NfacctMatch
  | LimitMatch;

export type MatchKind = Match['kind'];

// ───────────────────────────── targets ─────────────────────────────

/** `--reject-with` values (libipt_REJECT.c / libip6t_REJECT.c), canonical names. */
export type RejectWith =
  | 'icmp-net-unreachable'
  | 'icmp-host-unreachable'
  | 'icmp-port-unreachable'
  | 'icmp-proto-unreachable'
  | 'icmp-net-prohibited'
  | 'icmp-host-prohibited'
  | 'icmp-admin-prohibited'
  | 'tcp-reset'
  | 'icmp6-no-route'
  | 'icmp6-adm-prohibited'
  | 'icmp6-addr-unreachable'
  | 'icmp6-port-unreachable'
  | 'icmp6-policy-fail'
  | 'icmp6-reject-route';

/** One `--to-destination`/`--to-source` range (struct nf_nat_range2). Addresses as canonical text. */
export interface NfNatRange {
  minIp?: string;
  maxIp?: string;
  minPort?: number;
  maxPort?: number;
}

export interface NatFlags {
  random: boolean;
  randomFully: boolean;
  persistent: boolean;
}

export type Target =
  | { kind: 'none' }
  | { kind: 'ACCEPT' }
  | { kind: 'DROP' }
  | { kind: 'RETURN' }
  | { kind: 'QUEUE' }
  | { kind: 'JUMP'; chain: string }
  | { kind: 'GOTO'; chain: string }
  | { kind: 'REJECT'; with: RejectWith }
  | { kind: 'DNAT'; ranges: NfNatRange[]; flags: NatFlags }
  | { kind: 'SNAT'; ranges: NfNatRange[]; flags: NatFlags }
  | { kind: 'MASQUERADE'; ports?: PortRange; flags: NatFlags }
  | { kind: 'REDIRECT'; ports?: PortRange; flags: NatFlags }
  /** xt_MARK: mark = (mark & ~mask) ^ value; `--set-mark`/`--and-mark`/`--or-mark`/`--xor-mark` are forms of it. */
  | { kind: 'MARK'; value: number; mask: number }
  | { kind: 'CONNMARK'; mode: 'set'; value: number; mask: number }
  | { kind: 'CONNMARK'; mode: 'save' | 'restore'; nfmask: number; ctmask: number }
  | { kind: 'LOG'; prefix?: string; level?: number; tcpSequence: boolean; tcpOptions: boolean; ipOptions: boolean; uid: boolean; macDecode: boolean }
  | { kind: 'NFLOG'; group: number; prefix?: string; range?: number; size?: number; threshold?: number }
  | { kind: 'TRACE' }
  | { kind: 'CT'; notrack: boolean; zone?: number; helper?: string }
  | { kind: 'NOTRACK' };

export type TargetKind = Target['kind'];

// ───────────────────────────── walk inputs ─────────────────────────────

/** The packet as a table walk sees it (the skb fields xt matches read). Addresses are canonical text. */
export interface NfPacket {
  family: Family;
  src: string;
  dst: string;
  /** IP protocol number (6 tcp, 17 udp, 1 icmp, 58 ipv6-icmp, 132 sctp). */
  proto: number;
  sport?: number;
  dport?: number;
  /** TCP flag byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80. */
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** IP total length in bytes (for counters). */
  length: number;
  /** A non-first fragment (fragment offset ≠ 0). */
  fragment?: boolean;
  inIface?: string;
  outIface?: string;
  /** skb->mark; MARK and CONNMARK --restore-mark write it. */
  mark: number;
  /** Bridge ports when the packet is bridged (br_netfilter), for -m physdev. */
  physIn?: string;
  physOut?: string;
  /** True when br_netfilter saw the packet on a bridge (the skb has nf_bridge info). */
  bridged?: boolean;
  /** TCP option kinds present (for --tcp-option). */
  tcpOptions?: number[];
}

export interface NfTupleView {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  proto: number;
}

/** The connection a packet belongs to, as xt_conntrack/xt_state/xt_connmark read it. */
export interface NfConntrack {
  state: 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED';
  dir: CtDir;
  /** IPS_SRC_NAT / IPS_DST_NAT: the connection has a source / destination NAT binding. */
  snat: boolean;
  dnat: boolean;
  /** ct->status bits for --ctstatus. */
  status?: { expected?: boolean; seenReply?: boolean; assured?: boolean; confirmed?: boolean };
  orig: NfTupleView;
  reply: NfTupleView;
  /** ct->mark; CONNMARK writes it. */
  mark: number;
}

/** Ipset membership, as xt_set asks ip_set_test. */
export interface IpsetLookup {
  /** True when a set of that name exists (a missing set makes the rule fail to load in the kernel). */
  has(name: string): boolean;
  /** Tests the packet against the set, reading each dimension from src or dst as `dims` says. */
  test(name: string, pkt: NfPacket, dims: readonly IpsetDim[], opts?: { returnNomatch?: boolean }): boolean;
}

/** xt_recent tables of one network namespace. */
export interface RecentLookup {
  /**
   * Runs one recent match (recent_mt in net/netfilter/xt_recent.c): look up `addr` in table
   * `name`, update per mode, and say whether it matched (before negation).
   */
  check(m: RecentMatch, addr: string, family: Family, ttl: number | undefined, nowMs: number): boolean;
}

/** State that xt_statistic nth mode keeps per rule (the counter lives in the rule's match data). */
export interface NthCounters {
  next(m: StatisticMatch): number;
}

export interface NfEnv {
  /** The route type of `ip` (as xt_addrtype's lookup: inet_addr_type / inet_dev_addr_type when limited to `iface`). */
  addrType(ip: string, iface?: string): AddrType;
  ipsets: IpsetLookup;
  recent: RecentLookup;
  nth: NthCounters;
  clock: Clock;
  chooser: Chooser;
  rec: TraceRecorder;
  /** TTL (IPv4) / hop limit (IPv6) for recent --rttl; optional. */
  ttl?: number;
}

// ───────────────────────────── walk outputs ─────────────────────────────

export type NatKind = 'DNAT' | 'SNAT' | 'MASQUERADE' | 'REDIRECT';

/**
 * A NAT target's request. The caller applies it through conntrack (nf_nat_setup_info), as the
 * kernel's xt_nat / xt_MASQUERADE / xt_REDIRECT targets do. MASQUERADE/REDIRECT carry no address:
 * the caller picks the egress device's address / the incoming device's primary address.
 */
export interface NatRequest {
  type: NatKind;
  ranges: NfNatRange[];
  flags: NatFlags;
  rule: Rule;
}

/** What REJECT sends back (net/ipv4/netfilter/nf_reject_ipv4.c, ipv6 likewise). */
export interface RejectRequest {
  with: RejectWith;
  /** 'tcp-reset' sends a RST; otherwise an ICMP(v6) error of this type/code. */
  icmp?: { type: number; code: number };
  rule: Rule;
}

export type TableVerdict = 'ACCEPT' | 'DROP' | 'REJECT' | 'QUEUE';

export interface TableResult {
  verdict: TableVerdict;
  nat?: NatRequest;
  reject?: RejectRequest;
  /** CT --notrack / NOTRACK ran: the packet is untracked from here on (raw table). */
  untrack?: boolean;
  /** The rule that decided (absent when the built-in chain's policy did). */
  rule?: Rule;
  /** Set when the walk stopped on an error (jump depth, loop, missing chain): verdict is DROP. */
  error?: string;
  /** Rules tested (with the index). */
  evaluated: number;
  /** Rules a linear ipt_do_table walk would have tested. */
  linearEvaluated: number;
}

export interface CompileOptions {
  /** Build (dst, proto, dport) hash indexes for KUBE-SERVICES-like chains. Default true. */
  index?: boolean;
}

/**
 * A ruleset prepared for walking: chain lookups resolved and indexes built. Made by
 * `compileRuleset(ruleset, opts)` whenever the ruleset changes; never rebuilt per packet.
 * The walk is `walkTable(compiled, table, hook, pkt, ct, env): TableResult`.
 */
export interface CompiledRuleset {
  readonly ruleset: Ruleset;
  readonly indexed: boolean;
}
