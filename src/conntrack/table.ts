/**
 * The connection tracking table of one network namespace: entries hashed by the tuple of either
 * direction, per-protocol state machines, timeouts on the virtual clock, NAT bindings.
 */
import type { Clock } from '../base/index.js';
import type { Chooser } from '../base/index.js';
import type { TraceRecorder } from '../trace/index.js';
import type {
  ConfirmResult,
  ConntrackEntryView,
  CtResult,
  Direction,
  Manip,
  NatRange,
  ProtoState,
  TcpFlags,
  Timeouts,
  Tuple,
} from './types.js';

/** A connection (struct nf_conn). */
export class ConntrackEntry implements ConntrackEntryView {
  constructor(
    readonly id: number,
    public original: Tuple,
    public reply: Tuple,
    public proto: ProtoState,
    public expiresAt: number,
    public status = 0,
    /** ctmark (CONNMARK, `-m connmark`). */
    public mark = 0,
  ) {}
  get confirmed(): boolean {
    return (this.status & 8) !== 0;
  }
}

export interface ConntrackTableOptions {
  readonly clock: Clock;
  /** Overrides of the default timeouts (ms), e.g. from sysctls net.netfilter.nf_conntrack_*_timeout*. */
  readonly timeouts?: Partial<Timeouts>;
}

export interface PacketInfo {
  /** TCP flags of the packet (TCP only). */
  readonly tcpFlags?: TcpFlags;
  /** The packet carries `CT --notrack` from the raw table (skb->_nfct = IP_CT_UNTRACKED). */
  readonly untracked?: boolean;
}

/** What setupNat decided (nf_nat_setup_info). */
export interface NatBinding {
  readonly manip: Manip;
  /** The entry's reply tuple after the binding. */
  readonly reply: Tuple;
  /** True when a port (or id) other than the original one had to be chosen to stay unique. */
  readonly portChanged: boolean;
}

/** How to rewrite an ICMP error RELATED to a connection (nf_nat_icmp_reply_translation). */
export interface RelatedError {
  readonly entry: ConntrackEntryView;
  /** Direction of the quoted packet's connection that the error travels in (the error's dir). */
  readonly dir: Direction;
  readonly ctinfo: 'RELATED' | 'RELATED_REPLY';
}

/** The API ConntrackTable implements (implementation follows in this file). */
export declare class ConntrackTableApi {
  constructor(opts: ConntrackTableOptions);
  lookup(t: Tuple): { entry: ConntrackEntry; dir: Direction } | null;
  newEntry(t: Tuple): ConntrackEntry;
  packetIn(t: Tuple, info?: PacketInfo): CtResult;
  confirm(entry: ConntrackEntryView): ConfirmResult;
  expire(): ConntrackEntry[];
  entries(): readonly ConntrackEntry[];
  setupNat(entry: ConntrackEntryView, manip: Manip, range: NatRange, opts: { chooser: Chooser; rec?: TraceRecorder }): NatBinding;
  allocNullBinding(entry: ConntrackEntryView, manip: Manip, opts: { chooser: Chooser; rec?: TraceRecorder }): NatBinding;
  natInitialized(entry: ConntrackEntryView, manip: Manip): boolean;
  translate(entry: ConntrackEntryView, dir: Direction, manip: Manip, packet?: Tuple): Tuple | null;
  relatedToError(outer: Tuple, quoted: Tuple): RelatedError | null;
}
