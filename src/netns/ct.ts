/**
 * The conntrack operations the netns pipeline calls, as a structural interface over conntrack's
 * ConntrackTable (so the pipeline depends on the calls it makes, not on the class), and the
 * conversions between the skb's headers, conntrack tuples and netfilter's NfConntrack view.
 */
import type { Rng } from '../base/index.js';
import type { ConfirmResult, ConntrackEntryView, CtResult, Direction, Manip, NatRange, Tuple } from '../conntrack/types.js';
import type { NfConntrack, NfTupleView } from '../netfilter/index.js';
import { IPPROTO, TCP_FLAG, hasPorts, type FlowHeaders } from '../packet/skb.js';
import type { TraceRecorder } from '../trace/index.js';

/** struct nf_nat binding result (conntrack's NatBinding). */
export interface CtNatBinding {
  readonly manip: Manip;
  readonly reply: Tuple;
  readonly changed: boolean;
  readonly portChanged: boolean;
}

/** conntrack's NatOptions: where get_random_u16() draws from, and how a binding is named. */
export interface CtNatOptions {
  readonly rng?: Rng;
  readonly rec?: TraceRecorder;
  readonly kind?: 'SNAT' | 'DNAT' | 'MASQUERADE' | 'REDIRECT';
}

/** The ConntrackTable calls of the pipeline (conntrack/table.ts ConntrackTableApi). */
export interface CtTable {
  packetIn(t: Tuple, info?: { tcpFlags?: { syn?: boolean; ack?: boolean; fin?: boolean; rst?: boolean }; untracked?: boolean; quoted?: Tuple }): CtResult;
  confirm(entry: ConntrackEntryView): ConfirmResult;
  setupNat(entry: ConntrackEntryView, manip: Manip, range: NatRange, opts?: CtNatOptions): CtNatBinding;
  allocNullBinding(entry: ConntrackEntryView, manip: Manip, opts?: CtNatOptions): CtNatBinding;
  natInitialized(entry: ConntrackEntryView, manip: Manip): boolean;
  translate(entry: ConntrackEntryView, dir: Direction, manip: Manip, packet?: Tuple): Tuple | null;
  /** nf_nat_icmp_reply_translation's rewrite of an ICMP error's outer and quoted headers. */
  translateIcmpError(entry: ConntrackEntryView, dir: Direction, manip: Manip, outer: Tuple, quoted: Tuple): { readonly outer: Tuple; readonly quoted: Tuple } | 'drop' | null;
  entries(): readonly ConntrackEntryView[];
  secondsLeft(e: ConntrackEntryView): number;
}

/** The tuple of a packet (nf_ct_get_tuple): ICMP keeps the identifier in sport, type/code in dport. */
export function tupleOfHeaders(h: FlowHeaders): Tuple {
  if (h.proto === IPPROTO.ICMP || h.proto === IPPROTO.ICMPV6) {
    return { family: h.family, proto: h.proto, src: h.src, dst: h.dst, sport: (h.sport ?? 0) & 0xffff, dport: (((h.icmpType ?? 0) & 0xff) << 8) | ((h.icmpCode ?? 0) & 0xff) };
  }
  const ports = hasPorts(h.proto);
  return { family: h.family, proto: h.proto, src: h.src, dst: h.dst, sport: ports ? (h.sport ?? 0) : 0, dport: ports ? (h.dport ?? 0) : 0 };
}

/** Writes a (translated) tuple's addresses and ports back into the headers (nf_nat_manip_pkt). */
export function applyTuple(h: FlowHeaders, t: Tuple, manip: Manip): void {
  if (manip === 'SRC') {
    h.src = t.src;
    if (hasPorts(h.proto)) h.sport = t.sport;
    else if (h.proto === IPPROTO.ICMP || h.proto === IPPROTO.ICMPV6) h.sport = t.sport; // echo id (icmp_manip_pkt)
  } else {
    h.dst = t.dst;
    if (hasPorts(h.proto)) h.dport = t.dport;
  }
}

export function tcpFlagsInfo(h: FlowHeaders): { syn: boolean; ack: boolean; fin: boolean; rst: boolean } | undefined {
  if (h.proto !== IPPROTO.TCP || h.tcpFlags === undefined) return undefined;
  const f = h.tcpFlags;
  return { syn: (f & TCP_FLAG.SYN) !== 0, ack: (f & TCP_FLAG.ACK) !== 0, fin: (f & TCP_FLAG.FIN) !== 0, rst: (f & TCP_FLAG.RST) !== 0 };
}

/** IPS_* bits (include/uapi/linux/netfilter/nf_conntrack_common.h). */
const IPS_EXPECTED = 1 << 0;
const IPS_SEEN_REPLY = 1 << 1;
const IPS_ASSURED = 1 << 2;
const IPS_CONFIRMED = 1 << 3;
const IPS_SRC_NAT = 1 << 4;
const IPS_DST_NAT = 1 << 5;

function view(t: Tuple): NfTupleView {
  return hasPorts(t.proto) ? { src: t.src, dst: t.dst, sport: t.sport, dport: t.dport, proto: t.proto } : { src: t.src, dst: t.dst, proto: t.proto };
}

/** What xt_conntrack / xt_state / xt_connmark read from skb->_nfct. */
export function nfConntrackOf(r: CtResult, untracked: boolean): NfConntrack | undefined {
  if (untracked || r.ctstate === 'UNTRACKED') {
    return { state: 'UNTRACKED', dir: 'ORIGINAL', snat: false, dnat: false, orig: { src: '', dst: '', proto: 0 }, reply: { src: '', dst: '', proto: 0 }, mark: 0 };
  }
  const e = r.entry;
  if (!e) return { state: 'INVALID', dir: r.dir, snat: false, dnat: false, orig: { src: '', dst: '', proto: 0 }, reply: { src: '', dst: '', proto: 0 }, mark: 0 };
  return {
    state: r.ctstate,
    dir: r.dir,
    snat: (e.status & IPS_SRC_NAT) !== 0,
    dnat: (e.status & IPS_DST_NAT) !== 0,
    status: {
      expected: (e.status & IPS_EXPECTED) !== 0,
      seenReply: (e.status & IPS_SEEN_REPLY) !== 0,
      assured: (e.status & IPS_ASSURED) !== 0,
      confirmed: (e.status & IPS_CONFIRMED) !== 0,
    },
    orig: view(e.original),
    reply: view(e.reply),
    mark: e.mark,
  };
}

export function hasStatus(e: ConntrackEntryView, bit: 'SRC_NAT' | 'DST_NAT'): boolean {
  return (e.status & (bit === 'SRC_NAT' ? IPS_SRC_NAT : IPS_DST_NAT)) !== 0;
}

/** One-line tuple text as `conntrack -L` prints a direction. */
export function formatCtTuple(t: Tuple): string {
  const ports = hasPorts(t.proto) ? ` sport=${t.sport} dport=${t.dport}` : '';
  return `src=${t.src} dst=${t.dst}${ports}`;
}
