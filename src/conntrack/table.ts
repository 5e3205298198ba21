/**
 * The connection tracking table of one network namespace: entries hashed by the tuple of either
 * direction, per-protocol state machines, timeouts on the virtual clock, NAT bindings.
 *
 * What the netns pipeline calls, in the kernel's order (see index.ts for the hook table):
 *   packetIn (nf_conntrack_in, at raw+1 of PREROUTING/OUTPUT) → natInitialized / setupNat /
 *   allocNullBinding + translate (nf_nat_inet_fn at the nat hooks) → confirm (__nf_conntrack_confirm,
 *   after POSTROUTING / INPUT) or discard (the packet was dropped before confirmation).
 */
import type { Clock, Rng } from '../base/index.js';
import { invariant } from '../base/index.js';
import type { TraceRecorder } from '../trace/index.js';
import {
  IPS,
  type ConfirmResult,
  type ConntrackEntryView,
  type CtInfo,
  type CtResult,
  type CtState,
  type Direction,
  type Manip,
  type NatRange,
  type ProtoState,
  type TcpCtState,
  type TcpFlags,
  type Timeouts,
  type Tuple,
} from './types.js';
import { NAT_CLASH_TIMEOUT_MS, UDP_STREAM_AFTER_MS, mergeTimeouts } from './timeouts.js';
import {
  PROTO,
  formatTuple,
  hasPorts,
  icmpTypeOf,
  icmpValidNew,
  invertTuple,
  isIcmp,
  isIcmpError,
  tupleEquals,
  tupleKey,
} from './tuple.js';
import { getUniqueTuple, type NatTupleOracle } from './nat.js';

/** A typed error for API misuse by the caller (a broken invariant of the pipeline, not user input). */
export class ConntrackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConntrackError';
  }
}

/** TCP bookkeeping beyond the state (struct ip_ct_tcp, without the window-tracking fields). */
interface TcpExtra {
  lastIndex: TcpIndex;
  /** IP_CT_TCP_FLAG_CLOSE_INIT per direction (seen[dir].flags). */
  closeInit: [boolean, boolean];
  simultaneousOpen: boolean;
  expChallengeAck: boolean;
}

/** enum tcp_bit_set (get_conntrack_index). */
type TcpIndex = 'SYN' | 'SYNACK' | 'FIN' | 'ACK' | 'RST' | 'NONE';
const TCP_INDEX: readonly TcpIndex[] = ['SYN', 'SYNACK', 'FIN', 'ACK', 'RST', 'NONE'];

/** A connection (struct nf_conn). */
export class ConntrackEntry implements ConntrackEntryView {
  /** Unconfirmed: the timeout relative to confirmation; confirmed: the virtual ms it expires at (ct->timeout). */
  timeout = 0;
  status = 0;
  /** ctmark (CONNMARK, `-m connmark`). */
  mark = 0;
  /** @internal */ tcp: TcpExtra | null = null;
  /** @internal set when nf_ct_delete / nf_ct_kill removed it. */ dying = false;
  /** @internal inserted reply-only by nf_ct_resolve_clash_harder (hidden from `conntrack -L`). */ clashReplyOnly = false;

  constructor(
    readonly id: number,
    public original: Tuple,
    public reply: Tuple,
    public proto: ProtoState,
  ) {}

  get confirmed(): boolean {
    return (this.status & IPS.CONFIRMED) !== 0;
  }
  get expiresAt(): number {
    return this.timeout;
  }
  tuple(dir: Direction): Tuple {
    return dir === 'ORIGINAL' ? this.original : this.reply;
  }
  has(bit: number): boolean {
    return (this.status & bit) !== 0;
  }
}

export interface ConntrackTableOptions {
  readonly clock: Clock;
  /** Overrides of the default timeouts (ms), e.g. from sysctls net.netfilter.nf_conntrack_*_timeout*. */
  readonly timeouts?: Partial<Timeouts>;
  /** net.netfilter.nf_conntrack_tcp_loose (default 1): pick up connections from a mid-stream packet. */
  readonly tcpLoose?: boolean;
}

export interface PacketInfo {
  /** TCP flags of the packet (TCP only; required for TCP). */
  readonly tcpFlags?: TcpFlags;
  /** The packet carries `CT --notrack` / NOTRACK from the raw table (skb->_nfct = IP_CT_UNTRACKED). */
  readonly untracked?: boolean;
  /** For an ICMP error: the tuple of the packet it quotes, as read from the quoted headers. */
  readonly quoted?: Tuple;
}

/** Options of a NAT setup. */
export interface NatOptions {
  /**
   * Where get_random_u16() draws from (the start offset of the port search for SRC manips and for
   * --random/--random-fully). Without it the offset is derived from a hash of the tuple, so runs
   * stay deterministic; a port pick is not an outcome branch, so the Chooser is not consulted.
   */
  readonly rng?: Rng;
  readonly rec?: TraceRecorder;
  /** How the trace names the binding (default SNAT for SRC, DNAT for DST). */
  readonly kind?: 'SNAT' | 'DNAT' | 'MASQUERADE' | 'REDIRECT';
}

/** What setupNat decided (nf_nat_setup_info). */
export interface NatBinding {
  readonly manip: Manip;
  /** The entry's reply tuple after the binding. */
  readonly reply: Tuple;
  /** The packet's tuple once this manip is applied (invert of the new reply, for that side). */
  readonly tuple: Tuple;
  /** True when the binding changes the tuple (the status gets IPS_SRC_NAT / IPS_DST_NAT). */
  readonly changed: boolean;
  /** True when a port (or ICMP id) other than the one asked for had to be chosen to stay unique. */
  readonly portChanged: boolean;
}

/** An ICMP error RELATED to a connection (nf_conntrack_inet_error). */
export interface RelatedError {
  readonly entry: ConntrackEntry;
  /** The direction the error travels in (the direction of the found tuplehash). */
  readonly dir: Direction;
  readonly ctinfo: 'RELATED' | 'RELATED_REPLY';
}

/** The rewritten headers of an ICMP error (nf_nat_icmp_reply_translation). */
export interface IcmpErrorRewrite {
  readonly outer: Tuple;
  readonly quoted: Tuple;
}

/** HOOK2MANIP: destination manipulation at PREROUTING/OUTPUT, source manipulation at POSTROUTING/INPUT. */
export function manipForHook(hook: 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING'): Manip | null {
  switch (hook) {
    case 'PREROUTING':
    case 'OUTPUT':
      return 'DST';
    case 'POSTROUTING':
    case 'INPUT':
      return 'SRC';
    case 'FORWARD':
      return null;
  }
}

function other(dir: Direction): Direction {
  return dir === 'ORIGINAL' ? 'REPLY' : 'ORIGINAL';
}
function dirIndex(dir: Direction): 0 | 1 {
  return dir === 'ORIGINAL' ? 0 : 1;
}

/** user-visible state of a ctinfo (xt_conntrack / xt_state: XT_CONNTRACK_STATE_BIT(ctinfo % IP_CT_IS_REPLY)). */
export function ctStateOf(ctinfo: CtInfo): CtState {
  switch (ctinfo) {
    case 'NEW':
      return 'NEW';
    case 'ESTABLISHED':
    case 'ESTABLISHED_REPLY':
      return 'ESTABLISHED';
    case 'RELATED':
    case 'RELATED_REPLY':
      return 'RELATED';
    case 'UNTRACKED':
      return 'UNTRACKED';
  }
}

export function dirOfCtInfo(ctinfo: CtInfo): Direction {
  return ctinfo === 'ESTABLISHED_REPLY' || ctinfo === 'RELATED_REPLY' ? 'REPLY' : 'ORIGINAL';
}

// tcp_conntracks[dir][index][state] of nf_conntrack_proto_tcp.c (Linux 6.x), states in the order
// sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2; 'IV' = invalid, 'IG' = ignore.
type TcpNext = TcpCtState | 'IV' | 'IG';
const TCP_STATES: readonly TcpCtState[] = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];
const sNO = 'NONE', sSS = 'SYN_SENT', sSR = 'SYN_RECV', sES = 'ESTABLISHED', sFW = 'FIN_WAIT', sCW = 'CLOSE_WAIT', sLA = 'LAST_ACK', sTW = 'TIME_WAIT', sCL = 'CLOSE', sS2 = 'SYN_SENT2', sIV = 'IV', sIG = 'IG';
void sNO;
const TCP_CONNTRACKS: Readonly<Record<Direction, Readonly<Record<TcpIndex, readonly TcpNext[]>>>> = {
  ORIGINAL: {
    SYN: [sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2],
    SYNACK: [sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR],
    FIN: [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    ACK: [sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV],
    RST: [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    NONE: [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  },
  REPLY: {
    SYN: [sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2],
    SYNACK: [sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR],
    FIN: [sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV],
    ACK: [sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG],
    RST: [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    NONE: [sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV],
  },
};

/** get_conntrack_index. */
function tcpIndex(f: TcpFlags): TcpIndex {
  if (f.rst) return 'RST';
  if (f.syn) return f.ack ? 'SYNACK' : 'SYN';
  if (f.fin) return 'FIN';
  if (f.ack) return 'ACK';
  return 'NONE';
}

/** tcp_valid_flags[] of nf_conntrack_proto_tcp.c over SYN/ACK/FIN/RST (URG, PSH, ECE, CWR do not change validity). */
function tcpFlagsValid(f: TcpFlags): boolean {
  const syn = !!f.syn, ack = !!f.ack, fin = !!f.fin, rst = !!f.rst;
  if (syn) return !fin && !rst; // SYN, SYN|ACK
  if (rst) return !fin; // RST, RST|ACK
  if (fin) return ack; // FIN|ACK
  return ack; // ACK
}

type Verdict = 'accept' | 'invalid' | 'repeat';

/** The per-netns conntrack table. */
export class ConntrackTable implements NatTupleOracle {
  readonly clock: Clock;
  readonly timeouts: Timeouts;
  readonly tcpLoose: boolean;
  private readonly byKey = new Map<string, { entry: ConntrackEntry; dir: Direction }>();
  /** Confirmed entries in insertion order (conntrack -L walks these). */
  private readonly live = new Set<ConntrackEntry>();
  /** nf_nat_bysource: entries with a SRC manip set up, newest first (hlist_add_head). */
  private bysource: ConntrackEntry[] = [];
  private nextId = 1;

  constructor(opts: ConntrackTableOptions) {
    this.clock = opts.clock;
    this.timeouts = mergeTimeouts(opts.timeouts);
    this.tcpLoose = opts.tcpLoose ?? true;
  }

  // ---- lookup and lifecycle -------------------------------------------------------------

  /**
   * Finds the confirmed entry holding `t` as its original or reply tuple.
   * Models __nf_conntrack_find_get: expired entries are collected on the way (nf_ct_gc_expired).
   */
  lookup(t: Tuple): { entry: ConntrackEntry; dir: Direction } | null {
    const hit = this.byKey.get(tupleKey(t));
    if (!hit) return null;
    if (this.isExpired(hit.entry)) {
      this.remove(hit.entry);
      return null;
    }
    return hit;
  }

  /**
   * A new, unconfirmed entry for a packet with tuple `t` (init_conntrack): reply = inverse of `t`,
   * status 0, not yet in the table. Throws ConntrackError when the tuple cannot be inverted.
   */
  newEntry(t: Tuple): ConntrackEntry {
    const reply = invertTuple(t);
    if (!reply) throw new ConntrackError(`cannot track ${formatTuple(t)}: the kernel has no inverse for it`);
    return new ConntrackEntry(this.nextId++, t, reply, this.initialProto(t));
  }

  private initialProto(t: Tuple): ProtoState {
    if (t.proto === PROTO.TCP) return { kind: 'tcp', state: 'NONE', lastDir: 'ORIGINAL' };
    if (t.proto === PROTO.UDP || t.proto === PROTO.UDPLITE) return { kind: 'udp', streamTs: 0 };
    if (isIcmp(t.proto)) return { kind: 'icmp' };
    return { kind: 'generic' };
  }

  /**
   * Conntrack processing of one packet. Models nf_conntrack_in (nf_conntrack_core.c): untracked
   * packets pass; ICMP errors are resolved to the connection they quote (RELATED) or INVALID;
   * otherwise resolve_normal_ct finds or creates the entry, the protocol tracker updates state and
   * timeout (or declares the packet INVALID), and a reply marks IPS_SEEN_REPLY.
   */
  packetIn(t: Tuple, info: PacketInfo = {}): CtResult & { readonly entry: ConntrackEntry | null } {
    if (info.untracked) return { entry: null, dir: 'ORIGINAL', ctinfo: 'UNTRACKED', ctstate: 'UNTRACKED', isNew: false };
    const invalid = (reason: string) => ({ entry: null, dir: 'ORIGINAL' as Direction, ctinfo: null, ctstate: 'INVALID' as CtState, isNew: false, reason });

    if (isIcmp(t.proto)) {
      const type = icmpTypeOf(t);
      // nf_conntrack_icmpv4_error: types above NR_ICMP_TYPES (18) are invalid.
      if (t.proto === PROTO.ICMP && type > 18) return invalid('invalid icmp type');
      if (isIcmpError(t.proto, type)) {
        if (!info.quoted) return invalid('icmp error without a quoted header');
        const rel = this.relatedToError(t, info.quoted);
        if (!rel) return invalid('icmp error not related to a known connection');
        return { entry: rel.entry, dir: rel.dir, ctinfo: rel.ctinfo, ctstate: 'RELATED', isNew: false };
      }
    }

    for (let round = 0; round < 2; round++) {
      // resolve_normal_ct
      const hit = this.lookup(t);
      let entry: ConntrackEntry;
      let dir: Direction;
      let isNew = false;
      if (hit) {
        entry = hit.entry;
        dir = hit.dir;
      } else {
        if (!invertTuple(t)) return invalid('cannot invert tuple');
        entry = this.newEntry(t);
        dir = 'ORIGINAL';
        isNew = true;
      }
      let ctinfo: CtInfo;
      if (dir === 'REPLY') ctinfo = 'ESTABLISHED_REPLY';
      else if (entry.has(IPS.SEEN_REPLY)) ctinfo = 'ESTABLISHED';
      else if (entry.has(IPS.EXPECTED)) ctinfo = 'RELATED';
      else ctinfo = 'NEW';

      const verdict = this.handlePacket(entry, t, dir, info);
      if (verdict === 'invalid') return invalid(this.lastInvalid);
      if (verdict === 'repeat') {
        this.remove(entry);
        continue;
      }
      if (ctinfo === 'ESTABLISHED_REPLY') entry.status |= IPS.SEEN_REPLY;
      return { entry, dir, ctinfo, ctstate: ctStateOf(ctinfo), isNew };
    }
    invariant(false, 'nf_conntrack_in repeated twice');
  }

  private lastInvalid = '';

  /** nf_conntrack_handle_packet: the per-protocol tracker. */
  private handlePacket(ct: ConntrackEntry, t: Tuple, dir: Direction, info: PacketInfo): Verdict {
    this.lastInvalid = '';
    switch (ct.proto.kind) {
      case 'tcp':
        return this.tcpPacket(ct, dir, info.tcpFlags);
      case 'udp':
        return this.udpPacket(ct);
      case 'icmp': {
        // nf_conntrack_icmp_packet / nf_conntrack_icmpv6_packet
        if (!icmpValidNew(ct.original.proto, icmpTypeOf(ct.original))) {
          this.lastInvalid = `icmp: can't create new conn with type ${icmpTypeOf(ct.original)}`;
          return 'invalid';
        }
        this.refresh(ct, t.proto === PROTO.ICMP ? this.timeouts.icmp : this.timeouts.icmpv6);
        return 'accept';
      }
      case 'generic':
        this.refresh(ct, this.timeouts.generic);
        return 'accept';
    }
  }

  /** nf_ct_refresh_acct: relative while unconfirmed, absolute once confirmed; fixed timeouts stay. */
  private refresh(ct: ConntrackEntry, ms: number): void {
    if (ct.has(IPS.FIXED_TIMEOUT)) return;
    ct.timeout = ct.confirmed ? this.clock.now() + ms : ms;
  }

  /** nf_conntrack_udp_packet. */
  private udpPacket(ct: ConntrackEntry): Verdict {
    const p = ct.proto;
    invariant(p.kind === 'udp', 'udp state');
    const status = ct.status;
    if (!(status & IPS.CONFIRMED)) p.streamTs = this.clock.now() + UDP_STREAM_AFTER_MS;
    if (status & IPS.SEEN_REPLY) {
      let extra = this.timeouts.udp.UNREPLIED;
      let stream = false;
      if (this.clock.now() > p.streamTs) {
        extra = this.timeouts.udp.REPLIED;
        stream = (status & IPS.ASSURED) === 0;
      }
      this.refresh(ct, extra);
      if (status & IPS.NAT_CLASH) return 'accept';
      if (stream) ct.status |= IPS.ASSURED;
    } else {
      this.refresh(ct, this.timeouts.udp.UNREPLIED);
    }
    return 'accept';
  }

  /**
   * nf_conntrack_tcp_packet (with tcp_new for unconfirmed entries), without window tracking:
   * every segment counts as in window (as with nf_conntrack_tcp_be_liberal and no sequence checks),
   * the retransmission / unacknowledged-data / zero-window timeouts are not modelled.
   */
  private tcpPacket(ct: ConntrackEntry, dir: Direction, flags: TcpFlags | undefined): Verdict {
    const p = ct.proto;
    invariant(p.kind === 'tcp', 'tcp state');
    if (!flags) throw new ConntrackError(`TCP packet for ${formatTuple(ct.original)} without tcpFlags`);
    if (!tcpFlagsValid(flags)) {
      this.lastInvalid = 'invalid tcp flag combination';
      return 'invalid';
    }
    const index = tcpIndex(flags);
    if (!ct.confirmed && ct.tcp === null) {
      // tcp_new
      const first = TCP_CONNTRACKS.ORIGINAL[index][0]!;
      if (first === 'IV' || first === 'IG') {
        this.lastInvalid = 'invalid new';
        return 'invalid';
      }
      if (first !== 'SYN_SENT' && !this.tcpLoose) {
        this.lastInvalid = 'invalid new (nf_conntrack_tcp_loose=0)';
        return 'invalid';
      }
      ct.tcp = { lastIndex: 'NONE', closeInit: [false, false], simultaneousOpen: false, expChallengeAck: false };
    }
    const x = ct.tcp;
    invariant(x !== null, 'tcp extra state');
    const oldState = p.state;
    let newState = TCP_CONNTRACKS[dir][index][TCP_STATES.indexOf(oldState)]!;

    const ignore = (): Verdict => {
      x.lastIndex = index;
      p.lastDir = dir;
      if (index === 'SYN' && dir === 'ORIGINAL') x.expChallengeAck = oldState === 'LAST_ACK';
      return 'accept';
    };

    switch (newState) {
      case 'SYN_SENT':
        if (TCP_STATES.indexOf(oldState) < TCP_STATES.indexOf('TIME_WAIT')) break;
        // Reopen a closed/aborted connection: delete and look up again (-NF_REPEAT).
        if (x.closeInit[0] || x.closeInit[1] || (p.lastDir === dir && x.lastIndex === 'RST')) return 'repeat';
        return ignore();
      case 'IG':
        return ignore();
      case 'IV':
        this.lastInvalid = `packet (index ${TCP_INDEX.indexOf(index)}) in dir ${dirIndex(dir)} invalid, state ${oldState}`;
        return 'invalid';
      case 'TIME_WAIT':
        if (oldState === 'LAST_ACK' && index === 'ACK' && p.lastDir !== dir && x.lastIndex === 'SYN' && x.expChallengeAck) {
          x.expChallengeAck = false;
          return 'accept'; // RFC 5961 challenge ACK: don't change state
        }
        break;
      case 'SYN_SENT2':
        x.simultaneousOpen = true;
        break;
      case 'SYN_RECV':
        if (dir === 'REPLY' && index === 'ACK' && x.simultaneousOpen) newState = 'ESTABLISHED';
        break;
      default:
        break;
    }
    const state = newState as TcpCtState;
    // in_window:
    x.lastIndex = index;
    p.lastDir = dir;
    p.state = state;
    if (oldState !== state && state === 'FIN_WAIT') x.closeInit[dirIndex(dir)] = true;

    let timeout = index === 'RST' ? this.timeouts.tcp.CLOSE : this.tcpTimeout(state);
    if (!ct.has(IPS.SEEN_REPLY)) {
      if (flags.rst) {
        this.kill(ct); // only reply is a RST: no established connection
        return 'accept';
      }
      if (index === 'SYN' && oldState === 'SYN_SENT') return 'accept'; // no timeout renewal on SYN retransmit
      if (state === 'ESTABLISHED' && timeout > this.timeouts.tcp.UNACK) timeout = this.timeouts.tcp.UNACK;
    } else if (!ct.has(IPS.ASSURED) && (oldState === 'SYN_RECV' || oldState === 'ESTABLISHED') && state === 'ESTABLISHED') {
      ct.status |= IPS.ASSURED;
    }
    this.refresh(ct, timeout);
    return 'accept';
  }

  private tcpTimeout(s: TcpCtState): number {
    return s === 'NONE' ? this.timeouts.tcp.SYN_SENT : this.timeouts.tcp[s];
  }

  /**
   * Inserts an unconfirmed entry into the table. Models __nf_conntrack_confirm: only a packet of the
   * ORIGINAL direction confirms; if another confirmed entry already holds the original or the reply
   * tuple, the clash is resolved as nf_ct_resolve_clash does for protocols that allow it (UDP,
   * UDPLITE): an identical winner (or one without NAT) takes the packet over, or the loser is
   * inserted for its reply direction only with a 1 s fixed timeout and IPS_NAT_CLASH
   * (nf_ct_resolve_clash_harder); otherwise the packet is dropped (`resolved: false`).
   */
  confirm(view: ConntrackEntryView): ConfirmResult & { readonly entry?: ConntrackEntry } {
    const entry = this.own(view);
    if (entry.confirmed) return { ok: true, entry };
    if (entry.dying) throw new ConntrackError(`cannot confirm entry ${entry.id}: it was deleted`);
    const origHit = this.lookup(entry.original);
    const replyHit = this.lookup(entry.reply);
    const winner = origHit ?? replyHit;
    if (!winner) {
      entry.timeout += this.clock.now();
      entry.status |= IPS.CONFIRMED;
      this.insert(entry);
      return { ok: true, entry };
    }
    const w = winner.entry;
    if (entry.original.proto === PROTO.UDP || entry.original.proto === PROTO.UDPLITE) {
      // __nf_ct_resolve_clash
      const natDone = IPS.SRC_NAT_DONE | IPS.DST_NAT_DONE;
      if ((w.status & natDone) === 0 || (tupleEquals(w.original, entry.original) && tupleEquals(w.reply, entry.reply))) {
        this.discard(entry);
        return { ok: false, clash: w, resolved: true, entry: w };
      }
      // nf_ct_resolve_clash_harder: only the original direction clashes
      if (!replyHit) {
        entry.timeout = this.clock.now() + NAT_CLASH_TIMEOUT_MS;
        entry.status |= IPS.CONFIRMED | IPS.FIXED_TIMEOUT | IPS.NAT_CLASH;
        entry.clashReplyOnly = true;
        this.byKey.set(tupleKey(entry.reply), { entry, dir: 'REPLY' });
        this.live.add(entry);
        return { ok: false, clash: w, resolved: true, entry };
      }
    }
    this.discard(entry);
    return { ok: false, clash: w, resolved: false };
  }

  private insert(entry: ConntrackEntry): void {
    this.byKey.set(tupleKey(entry.original), { entry, dir: 'ORIGINAL' });
    this.byKey.set(tupleKey(entry.reply), { entry, dir: 'REPLY' });
    this.live.add(entry);
  }

  private remove(entry: ConntrackEntry): void {
    entry.dying = true;
    for (const t of [entry.original, entry.reply]) {
      const k = tupleKey(t);
      if (this.byKey.get(k)?.entry === entry) this.byKey.delete(k);
    }
    this.live.delete(entry);
    if (entry.has(IPS.SRC_NAT_DONE)) this.bysource = this.bysource.filter((e) => e !== entry);
  }

  /** An unconfirmed entry whose packet was dropped before confirmation is freed (nf_conntrack_free). */
  discard(view: ConntrackEntryView): void {
    const entry = this.own(view);
    if (entry.confirmed) throw new ConntrackError(`entry ${entry.id} is confirmed; use kill()`);
    this.remove(entry);
  }

  /** Deletes an entry now (nf_ct_kill / `conntrack -D`). */
  kill(view: ConntrackEntryView): void {
    this.remove(this.own(view));
  }

  private isExpired(e: ConntrackEntry): boolean {
    return e.confirmed && e.timeout - this.clock.now() <= 0;
  }

  /** Removes every confirmed entry whose timeout has passed (gc_worker); returns them. */
  expire(): ConntrackEntry[] {
    const out: ConntrackEntry[] = [];
    for (const e of [...this.live]) {
      if (this.isExpired(e)) {
        this.remove(e);
        out.push(e);
      }
    }
    return out;
  }

  /** Confirmed, unexpired entries in insertion order, without the reply-only clash entries (as ctnetlink dumps them). */
  entries(): ConntrackEntry[] {
    return [...this.live].filter((e) => !e.clashReplyOnly && !this.isExpired(e));
  }

  /** Seconds left, as `conntrack -L` prints them (nf_ct_expires / HZ, rounded down, never below 0). */
  secondsLeft(e: ConntrackEntryView): number {
    const ms = e.confirmed ? e.expiresAt - this.clock.now() : e.expiresAt;
    return Math.max(0, Math.floor(ms / 1000));
  }

  private own(view: ConntrackEntryView): ConntrackEntry {
    if (!(view instanceof ConntrackEntry)) throw new ConntrackError('not an entry of a ConntrackTable');
    return view;
  }

  // ---- NAT ------------------------------------------------------------------------------

  /** nf_nat_initialized: has this manip been set up (IPS_SRC_NAT_DONE / IPS_DST_NAT_DONE)? */
  natInitialized(view: ConntrackEntryView, manip: Manip): boolean {
    return (view.status & (manip === 'SRC' ? IPS.SRC_NAT_DONE : IPS.DST_NAT_DONE)) !== 0;
  }

  /**
   * Sets up a NAT binding on an unconfirmed entry. Models nf_nat_setup_info (nf_nat_core.c):
   * the tuple the packet has so far (inverse of the reply tuple) is mapped into `range` by
   * get_unique_tuple so that no other confirmed connection has the resulting reply tuple; the
   * entry's reply tuple becomes the inverse of the result; IPS_SRC_NAT/IPS_DST_NAT is set when the
   * tuple changed, and IPS_*_NAT_DONE always. On a confirmed entry it does nothing (as the kernel).
   */
  setupNat(view: ConntrackEntryView, manip: Manip, range: NatRange, opts: NatOptions = {}): NatBinding {
    const entry = this.own(view);
    const curr = invertTuple(entry.reply);
    invariant(curr !== null, 'reply tuple must be invertible');
    if (entry.confirmed) return { manip, reply: entry.reply, tuple: curr, changed: false, portChanged: false };
    if (this.natInitialized(entry, manip)) throw new ConntrackError(`${manip} NAT already set up for entry ${entry.id}`);
    if (range.minIp.includes(':') !== (entry.original.family === 6)) {
      throw new ConntrackError(`NAT range ${range.minIp} does not match the ${entry.original.family === 6 ? 'IPv6' : 'IPv4'} connection`);
    }
    const next = getUniqueTuple(this, curr, range, entry, manip, opts.rng);
    const changed = !tupleEquals(next, curr);
    if (changed) {
      const reply = invertTuple(next);
      invariant(reply !== null, 'NAT tuple must be invertible');
      entry.reply = reply;
      entry.status |= manip === 'SRC' ? IPS.SRC_NAT : IPS.DST_NAT;
    }
    if (manip === 'SRC') this.bysource.unshift(entry);
    entry.status |= manip === 'SRC' ? IPS.SRC_NAT_DONE : IPS.DST_NAT_DONE;
    // The port (or ICMP id) the packet had on the manipulated side, and whether the binding moved it.
    const key = (t: Tuple) => (isIcmp(t.proto) ? t.sport : manip === 'SRC' ? t.sport : t.dport);
    const portChanged = (hasPorts(next.proto) || isIcmp(next.proto)) && key(next) !== key(curr);
    if (opts.rec?.enabled && changed) {
      const ep = (t: Tuple) => (manip === 'SRC' ? { ip: t.src, ...(hasPorts(t.proto) ? { port: t.sport } : {}) } : { ip: t.dst, ...(hasPorts(t.proto) ? { port: t.dport } : {}) });
      const kind = opts.kind ?? (manip === 'SRC' ? 'SNAT' : 'DNAT');
      const before = ep(curr);
      const after = ep(next);
      opts.rec.add({
        kind: 'nat',
        nat: kind,
        before,
        after,
        text: `${kind} binding ${before.ip}${before.port !== undefined ? `:${before.port}` : ''} -> ${after.ip}${after.port !== undefined ? `:${after.port}` : ''}${portChanged ? ' (port changed: clash)' : ''}`,
      });
    }
    return { manip, reply: entry.reply, tuple: next, changed, portChanged };
  }

  /**
   * The binding the kernel makes when no nat rule matched a NEW connection at this manip.
   * Models __nf_nat_alloc_null_binding: the range is the address the packet already has (the
   * reply tuple's dst for SRC, its src for DST), ports unspecified — so a SRC null binding still
   * moves the source port when the tuple would clash with another connection.
   */
  allocNullBinding(view: ConntrackEntryView, manip: Manip, opts: NatOptions = {}): NatBinding {
    const ip = manip === 'SRC' ? view.reply.dst : view.reply.src;
    return this.setupNat(view, manip, { minIp: ip, maxIp: ip, flags: { mapIps: true, protoSpecified: false, random: false, randomFully: false, persistent: false } }, opts);
  }

  /**
   * What the packet's tuple becomes at a NAT hook. Models nf_nat_packet + nf_nat_manip_pkt
   * (nf_nat_core.c / nf_nat_proto.c): the manip applies when the entry has IPS_SRC_NAT (for SRC)
   * or IPS_DST_NAT (for DST) — swapped for REPLY packets — and rewrites the packet's source (or
   * destination) address and port to the inverse of the other direction's tuple. ICMP queries get
   * that tuple's id whichever side is rewritten. Returns null when this hook changes nothing.
   *
   * `packet` defaults to the packet as it is at that point: the tuple of its direction, with the
   * DST manip already applied when asking for the SRC manip (DST manips come first on every path:
   * PREROUTING/OUTPUT before POSTROUTING/INPUT).
   */
  translate(view: ConntrackEntryView, dir: Direction, manip: Manip, packet?: Tuple): Tuple | null {
    let statusbit = manip === 'SRC' ? IPS.SRC_NAT : IPS.DST_NAT;
    if (dir === 'REPLY') statusbit = statusbit === IPS.SRC_NAT ? IPS.DST_NAT : IPS.SRC_NAT;
    if ((view.status & statusbit) === 0) return null;
    const base = packet ?? (manip === 'SRC' ? (this.translate(view, dir, 'DST') ?? tupleOf(view, dir)) : tupleOf(view, dir));
    const target = invertTuple(tupleOf(view, other(dir)));
    invariant(target !== null, 'tuple must be invertible');
    return manipTuple(base, target, manip);
  }

  /**
   * Finds the connection an ICMP error belongs to. Models nf_conntrack_inet_error
   * (nf_conntrack_proto_icmp.c): the quoted header's tuple is inverted and looked up; the outer
   * destination must be the found direction's destination, else the error is INVALID (null).
   */
  relatedToError(outer: Tuple, quoted: Tuple): RelatedError | null {
    const inner = invertTuple(quoted);
    if (!inner) return null;
    const hit = this.lookup(inner);
    if (!hit) return null;
    if (hit.entry.tuple(hit.dir).dst !== outer.dst) return null;
    return { entry: hit.entry, dir: hit.dir, ctinfo: hit.dir === 'REPLY' ? 'RELATED_REPLY' : 'RELATED' };
  }

  /**
   * How an ICMP error RELATED to `entry` is rewritten at a NAT hook. Models
   * nf_nat_icmp_reply_translation (nf_nat_proto.c): when the manip applies (same status-bit rule as
   * translate), the quoted packet — which travelled in the other direction — gets the opposite
   * manip from tuplehash[!dir], and the outer header gets this manip from its inverse. A REDIRECT
   * (type 5) about a NATed connection is dropped (returns 'drop'). Returns null when nothing changes.
   */
  translateIcmpError(view: ConntrackEntryView, dir: Direction, manip: Manip, outer: Tuple, quoted: Tuple): IcmpErrorRewrite | 'drop' | null {
    if (outer.proto === PROTO.ICMP && icmpTypeOf(outer) === 5) {
      const done = IPS.SRC_NAT_DONE | IPS.DST_NAT_DONE;
      if ((view.status & done) !== done) return 'drop';
      if (view.status & (IPS.SRC_NAT | IPS.DST_NAT)) return 'drop';
    }
    let statusbit = manip === 'SRC' ? IPS.SRC_NAT : IPS.DST_NAT;
    if (dir === 'REPLY') statusbit = statusbit === IPS.SRC_NAT ? IPS.DST_NAT : IPS.SRC_NAT;
    if ((view.status & statusbit) === 0) return null;
    const otherTuple = tupleOf(view, other(dir));
    const newQuoted = manipTuple(quoted, otherTuple, manip === 'SRC' ? 'DST' : 'SRC');
    const target = invertTuple(otherTuple);
    invariant(target !== null, 'tuple must be invertible');
    // The outer header is ICMP: only its addresses change (icmp_manip_pkt leaves error messages alone).
    const newOuter = manip === 'SRC' ? { ...outer, src: target.src } : { ...outer, dst: target.dst };
    return { outer: newOuter, quoted: newQuoted };
  }

  // ---- NatTupleOracle (used by nat.ts) ----------------------------------------------------

  /**
   * nf_conntrack_tuple_taken: does a confirmed connection other than `ignored` hold `t` in either
   * direction? A connection with the same original tuple as `ignored` does not count.
   */
  tupleTaken(t: Tuple, ignored: ConntrackEntryView): boolean {
    const hit = this.lookup(t);
    if (!hit || hit.entry === ignored) return false;
    if (tupleEquals(hit.entry.original, ignored.original)) return false;
    return true;
  }

  /** The confirmed tuplehash holding `t`, for nf_nat_used_tuple_new. */
  findTuple(t: Tuple): { entry: ConntrackEntryView; dir: Direction } | null {
    return this.lookup(t);
  }

  /** nf_nat_bysource walk for find_appropriate_src: SRC-manipped connections, newest first. */
  bySource(): readonly ConntrackEntryView[] {
    return this.bysource;
  }

  /** The TCP state of an entry (for nf_nat_used_tuple_harder's SYN_SENT check), or null. */
  tcpState(view: ConntrackEntryView): TcpCtState | null {
    return view.proto.kind === 'tcp' ? view.proto.state : null;
  }
}

function tupleOf(view: ConntrackEntryView, dir: Direction): Tuple {
  return dir === 'ORIGINAL' ? view.original : view.reply;
}

/** nf_nat_ipv4_manip_pkt / nf_nat_ipv6_manip_pkt on tuples: rewrite one side from `target`. */
function manipTuple(pkt: Tuple, target: Tuple, manip: Manip): Tuple {
  if (isIcmp(pkt.proto)) {
    // icmp_manip_pkt: queries get the target's id whichever side is rewritten; errors keep theirs.
    const query = !isIcmpError(pkt.proto, icmpTypeOf(pkt));
    const sport = query ? target.sport : pkt.sport;
    return manip === 'SRC' ? { ...pkt, src: target.src, sport } : { ...pkt, dst: target.dst, sport };
  }
  if (hasPorts(pkt.proto)) {
    return manip === 'SRC' ? { ...pkt, src: target.src, sport: target.sport } : { ...pkt, dst: target.dst, dport: target.dport };
  }
  return manip === 'SRC' ? { ...pkt, src: target.src } : { ...pkt, dst: target.dst };
}
