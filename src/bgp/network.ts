import { VirtualClock } from '../base/clock.js';
import { InputError } from '../base/errors.js';
import type { Problem } from '../base/errors.js';
import { cidrContains, formatCidr, parseCidr, parseIp } from '../base/ip.js';
import type { Cidr } from '../base/ip.js';
import { Rng } from '../base/rng.js';
import { BIRD_BGP_DEFAULTS, birdProtocolName, calicoMeshPassive } from './config.js';
import type { BgpFilter, FilterRoute, FilterSession, NeighborConfig, SpeakerConfig } from './config.js';
import { better } from './decision.js';
import { Rib, RouteStore, Slab } from './rib.js';
import type { RouteData } from './rib.js';
import type { BgpMessage, BgpMessageType, BgpState, Capability, Nlri, OpenMessage, PathAttributes, UpdateMessage } from './types.js';
import { CEASE, NOTIFY, OPEN_ERROR, notificationText } from './types.js';
import { encodePathAttributes, formatBgpMessage } from './wire.js';

export type { RouteData } from './rib.js';

/** A route as `betterRoute` takes it: its data and the session it came from (null: local). Tables keep routes as Rib slots. */
export interface Route {
  readonly d: RouteData;
  /** null for a route this speaker originates (BIRD `protocol static`). */
  readonly session: Session | null;
  readonly since: number;
}

/** Route data decoded per prefix and kept for its next receivers: one per reflector of a client's route, typically. */
const DECODED_WAYS = 4;

/** A virtual time as a small integer when it is one (the table stores it unboxed either way). */
function smi(t: number): number {
  return (t | 0) === t ? t | 0 : t;
}

/**
 * A single-prefix announcement podpath creates keeps the route data its first receiver decoded,
 * for the next ones (a hidden property: the message reads as a plain UpdateMessage).
 */
const DECODED = Symbol('decoded');
type DUpdate = UpdateMessage & { [DECODED]?: RouteData | undefined };

function announcement(a: PathAttributes, nlri: Nlri): UpdateMessage {
  const m: DUpdate = { type: 'UPDATE', withdrawn: [], attrs: a, nlri: [nlri] };
  Object.defineProperty(m, DECODED, { value: undefined, writable: true, enumerable: false });
  return m;
}

/** NLRI entries podpath creates carry the prefix's interned id, so receivers skip a string lookup. */
type INlri = Nlri & { readonly pid?: number };

/**
 * Sessions of one speaker whose exports are identical (same iBGP/eBGP, rr client, cluster id, next
 * hop options, source address, export filter, peer AS; eBGP: same peer address), so an export
 * round computes their UPDATEs once.
 */
interface ExportClass {
  readonly id: number;
  readonly rep: Session;
  readonly members: Session[];
  readonly filterSession: FilterSession;
  /** The full-table feed for a newly Established member, valid while the speaker's version is `feedVersion`. */
  feed: { version: number; msgs: BgpMessage[]; count: number } | undefined;
  /** What the class's feed is made of, kept up to date from announced-route changes (speakers that export learned routes). */
  table: FeedTable | undefined;
}

/**
 * A class's full table as a feed sends it: the prefixes with their export attributes, in prefix id
 * order, and the single-prefix UPDATEs announcing them. While no two prefixes share an attribute
 * set, packing (pack) gives exactly these UPDATEs, so a feed costs the prefixes changed since the
 * last one rather than the whole table.
 */
interface FeedTable {
  readonly pids: number[];
  readonly msgs: BgpMessage[];
  readonly attrs: (PathAttributes | null | undefined)[];
  /** Prefixes per attribute set, and how many sets have more than one. */
  readonly uses: Map<PathAttributes, number>;
  shared: number;
  /** Prefixes whose announced route changed since the table was last brought up to date. */
  readonly pending: Set<number>;
}

/**
 * A timer due time meaning "not running" (holdDue, keepaliveDue). A small integer rather than
 * Infinity, so V8 keeps these often-written fields inside the session object.
 */
const NEVER = -1;

type TimerKind = 'hold' | 'keepalive' | 'connectRetry' | 'errorWait';

/** One side of a BGP session: a `protocol bgp` of one speaker. Internal; read through `sessions()`. */
export class Session {
  // The fields a received UPDATE reads come first (V8 lays fields out in this order).
  /** Index in the network's session list (route slots name their session by it). */
  uid = 0;
  /** Current TCP connection id (0 = none); messages of older connections are dropped. */
  conn = 0;
  state: BgpState = 'Idle';
  holdTime = 0;
  holdDue = NEVER;
  imported = 0;
  remoteIdN = 0;
  readonly internal: boolean;
  readonly rrClient: boolean;
  readonly clusterId: string;
  readonly peerAsn: number;
  readonly peerAddressN: number;
  readonly importFilter: BgpFilter | undefined;
  stateSince = 0;
  /** Bumps whenever a connection attempt is abandoned, so late SYN answers are ignored. */
  attempt = 0;
  remoteId = '';
  keepaliveTime = 0;
  keepaliveDue = NEVER;
  timerGen: Record<TimerKind, number> = { hold: 0, keepalive: 0, connectRetry: 0, errorWait: 0 };
  errorDelay = 0;
  lastError = '';
  /** This side opened the current TCP connection (its port is ephemeral; the peer's is 179). */
  initiator = false;
  addPathTx = false;
  addPathRx = false;
  cls!: ExportClass;
  exported = 0;
  readonly sourceAddress: string;
  readonly filterSession: FilterSession;
  /** The remote speaker's name once a connection exists. */
  remoteSpeaker: Speaker | undefined;
  /** Deconfigured (removeNeighbor). */
  removed = false;
  /** The batch of messages this session sends at `txAt` (a deliver event still queued): its own, or its part of a multicast (member `txIdx`). */
  tx: Delivery | Multicast | undefined;
  txAt = -1;
  txIdx = 0;
  remoteSession: Session | undefined;
  /** The export round in which a changed route came from this session. */
  sourceOf = 0;
  constructor(readonly speaker: Speaker, readonly name: string, readonly cfg: NeighborConfig, readonly index: number) {
    this.internal = cfg.peerAsn === speaker.cfg.asn;
    this.rrClient = cfg.rrClient ?? false;
    this.clusterId = cfg.rrClusterId ?? speaker.cfg.clusterId ?? speaker.cfg.routerId;
    this.peerAsn = cfg.peerAsn;
    this.peerAddressN = ipv4N(cfg.peerAddress);
    this.importFilter = cfg.importFilter;
    this.sourceAddress = cfg.sourceAddress ?? speaker.cfg.address;
    this.filterSession = { speaker: speaker.cfg.name, protocol: name, peerAddress: cfg.peerAddress, peerAsn: cfg.peerAsn, internal: this.internal };
  }
}

/** One BGP speaker (a BIRD instance). Internal; read through the network's views. */
export class Speaker {
  // The fields a received UPDATE reads come first.
  up = true;
  /** Routes, best and announced route per prefix (BIRD's table with the Adj-RIBs-In). */
  readonly rib: Rib<Session>;
  readonly asn: number;
  readonly routerId: string;
  readonly routerIdN: number;
  /** Some session may be sent routes learned over iBGP (an rr client or an eBGP peer). */
  mayExportLearned = false;
  /** Bumps whenever an announced route changes (feeds of one class are reused within a version). */
  version = 0;
  readonly sessions: Session[] = [];
  readonly byPeer = new Map<string, Session>();
  /** Protocol names of `sessions`. */
  readonly names = new Set<string>();
  /** Prefix ids whose best route changed since the last export round, in order of change. */
  readonly dirty = new Set<number>();
  /** Prefix ids this speaker has ever originated, ascending (feeds of a speaker that exports no learned route). */
  readonly originated: number[] = [];
  readonly classes: ExportClass[] = [];
  readonly classByKey = new Map<string, ExportClass>();
  flushQueued = false;
  readonly connected: Cidr[];
  constructor(readonly cfg: SpeakerConfig, sessions: readonly (Session | null)[], store: RouteStore, slab: Slab) {
    this.rib = new Rib<Session>(sessions, store, slab);
    this.asn = cfg.asn;
    this.routerId = cfg.routerId;
    this.routerIdN = ipv4N(cfg.routerId);
    this.connected = (cfg.connected ?? []).map((c) => parseCidr(c));
  }
}

/** One message event of the exchange, for `podpath rules --what bgp` logs and pcap output. */
export interface BgpLogEntry {
  /** Virtual time the message was sent, ms. */
  readonly t: number;
  readonly from: string;
  readonly to: string;
  readonly fromAddress: string;
  readonly toAddress: string;
  readonly protocol: string;
  readonly type: BgpMessageType | 'SYN' | 'RST' | 'STATE';
  readonly summary: string;
  readonly message?: BgpMessage;
  /** For pcap: TCP connection id (both directions share it) and whether the sender initiated it. */
  readonly conn?: number;
  readonly initiator?: boolean;
  readonly addPath?: boolean;
}

export interface ConvergenceReport {
  readonly startMs: number;
  /** Virtual time of the last event that changed something (not counting idle keepalives after it). */
  readonly endMs: number;
  readonly virtualTimeMs: number;
  /** Virtual time of the last best-route change of any speaker (≤ endMs). */
  readonly lastRouteChangeMs: number;
  readonly messages: Readonly<Record<BgpMessageType, number>>;
  readonly totalMessages: number;
  /** Prefixes announced / withdrawn in UPDATEs. */
  readonly announced: number;
  readonly withdrawn: number;
  /** Distinct virtual instants at which UPDATEs were delivered. */
  readonly rounds: number;
  readonly sessionsEstablished: number;
  readonly sessionsTotal: number;
  /** False when `maxMs` was reached before the network settled. */
  readonly converged: boolean;
}

export interface SessionInfo {
  readonly speaker: string;
  readonly protocol: string;
  readonly peerAddress: string;
  readonly peerAsn: number;
  readonly peer: string | undefined;
  readonly state: BgpState;
  readonly since: number;
  readonly internal: boolean;
  readonly rrClient: boolean;
  readonly passive: boolean;
  readonly holdTime: number;
  readonly keepaliveTime: number;
  readonly lastError: string;
  readonly imported: number;
  readonly exported: number;
}

/** A route as `birdc show route` lists it; `best` marks the selected one (`*`). */
export interface RibRoute {
  readonly prefix: string;
  readonly attrs: PathAttributes;
  readonly protocol: string;
  readonly source: 'static' | 'bgp';
  /** The speaker it came from (bgp), or this speaker (static). */
  readonly from: string;
  readonly peerAddress: string | undefined;
  readonly internal: boolean;
  readonly since: number;
  readonly best: boolean;
  readonly filtered: boolean;
}

export interface NetworkOptions {
  readonly clock?: VirtualClock;
  /** One-way delay of every message and TCP segment, ms (default 1). */
  readonly delayMs?: number;
  /** Seed of BIRD's timer jitter (RFC 4271 §10: timers fire at 75–100% of their value). */
  readonly seed?: number;
  /** Jitter timers as BIRD does (default true). */
  readonly jitter?: boolean;
  /** Keep at most this many log entries (default 200000; 0 = none). Counters are always kept. */
  readonly logLimit?: number;
}

export interface OriginateOptions {
  /** BIRD protocol name of the local route (default `static1`). */
  readonly protocol?: string;
  readonly origin?: 0 | 1 | 2;
  readonly med?: number;
  readonly localPref?: number;
  /** Gateway of the local route, advertised as NEXT_HOP on iBGP (default: the session source address). */
  readonly nextHop?: string;
}

/**
 * Messages one session sends at one instant, delivered together (one TCP stream, in order): the
 * first `n` of `msgs`. Once delivered (`done`), the sender reuses the object for its next batch.
 */
interface Delivery {
  readonly k: 'deliver';
  to: Session;
  conn: number;
  readonly msgs: BgpMessage[];
  n: number;
  work: boolean;
  done: boolean;
}

/**
 * One UPDATE list an export class sends to several sessions at one instant: exactly the
 * Deliveries of those sessions, in member order, as consecutive events. A member that sends
 * more at the same instant gets a list of its own (`own`), as its Delivery would grow.
 */
interface Multicast {
  readonly k: 'multicast';
  readonly at: number;
  /** Shared by the members; never changed. */
  readonly msgs: readonly BgpMessage[];
  readonly to: Session[];
  readonly conns: number[];
  own: (BgpMessage[] | undefined)[] | undefined;
}

type Ev =
  | Delivery
  | Multicast
  | { readonly k: 'syn'; readonly from: Session; readonly attempt: number }
  | { readonly k: 'synack'; readonly to: Session; readonly attempt: number; readonly peer: Session; readonly conn: number }
  | { readonly k: 'rst'; readonly to: Session; readonly attempt: number }
  | { readonly k: 'timer'; readonly s: Session; readonly timer: TimerKind; readonly gen: number }
  | { readonly k: 'flush'; readonly sp: Speaker };

const V4_CACHE = new Map<string, number>();

/** An IPv4 address as a number, memoised (router ids and next hops repeat). */
export function v4n(ip: string): number {
  let n = V4_CACHE.get(ip);
  if (n === undefined) {
    n = ipv4N(ip);
    if (V4_CACHE.size < 100_000) V4_CACHE.set(ip, n);
  }
  return n;
}

function ipv4N(ip: string): number {
  const p = parseIp(ip);
  if (p.family !== 4) throw new RangeError(`${ip} is not IPv4`);
  return p.n;
}

/** A binary min-heap of distinct event times. */
class TimeHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): number | undefined {
    return this.a[0];
  }
  push(t: number): void {
    const a = this.a;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= t) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = t;
  }
  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

const ZERO_COUNTS = (): Record<BgpMessageType, number> => ({ OPEN: 0, UPDATE: 0, NOTIFICATION: 0, KEEPALIVE: 0 });

/**
 * A set of BGP speakers exchanging messages on a virtual clock: RFC 4271 sessions (explicit FSM,
 * hold/keepalive timers), UPDATE exchange and the decision process, RFC 4456 route reflection,
 * with BIRD 1.x's choices where the RFCs leave room (see docs/bgp.md). Deterministic: the same
 * calls give the same messages in the same order.
 *
 * Events at one virtual instant run in FIFO order; messages take `delayMs`. TCP is modelled as
 * SYN / SYN-ACK / RST events, so a session needs its peer up and configured to establish.
 */
export class BgpNetwork {
  readonly clock: VirtualClock;
  readonly delayMs: number;
  private readonly rng: Rng;
  private readonly jitter: boolean;
  private readonly logLimit: number;
  private readonly speakers = new Map<string, Speaker>();
  private readonly pids = new Map<string, number>();
  private readonly interned = new Map<string, PathAttributes>();
  /** One NLRI object per prefix, shared by every table and message. */
  private readonly nlris: Nlri[] = [];
  /** Every session ever configured, by uid (0: none, a local route). */
  private readonly sessionsByUid: (Session | null)[] = [null];
  /** Route data held by the speakers' tables. */
  private readonly routeStore = new RouteStore();
  /** Typed memory of the speakers' tables. */
  private readonly slab = new Slab();
  /** Per prefix id: its withdrawal alone, and its single-prefix announcements per attribute set (shared by every session). */
  private readonly wds: (UpdateMessage | undefined)[] = [];
  private readonly singles: (Map<PathAttributes, UpdateMessage> | undefined)[] = [];
  /** Per prefix id, the route data last decoded from an UPDATE (shared by that UPDATE's receivers). */
  private readonly decoded: (RouteData[] | undefined)[] = [];
  private decodedNext = 0;
  private readonly byAddress = new Map<string, Speaker>();
  private readonly buckets = new Map<number, Ev[]>();
  private readonly times = new TimeHeap();
  /** The event pushed last (a multicast takes more members only while it is the last of its instant). */
  private lastPushed: Ev | undefined;
  private work = 0;
  private connSeq = 0;
  readonly log: BgpLogEntry[] = [];
  private counts = ZERO_COUNTS();
  private announcedCount = 0;
  private withdrawnCount = 0;
  private rounds = 0;
  private lastUpdateAt = -1;
  private lastWorkAt = 0;
  private lastRibChangeAt = 0;
  private unsettledHint: Session | undefined;
  /** Export rounds run (marks sessions that are a source of a round's changes). */
  private exportRounds = 0;

  constructor(opts: NetworkOptions = {}) {
    this.clock = opts.clock ?? new VirtualClock(0);
    this.delayMs = opts.delayMs ?? 1;
    this.rng = new Rng(opts.seed ?? 1);
    this.jitter = opts.jitter ?? true;
    this.logLimit = opts.logLimit ?? 200_000;
  }

  // ------------------------------------------------------------------------------------------
  // Configuration

  /** Adds a speaker; errors name the field. */
  addSpeaker(cfg: SpeakerConfig): void {
    const problems: Problem[] = [];
    if (!cfg.name) problems.push({ field: 'name', message: 'a speaker needs a name' });
    if (this.speakers.has(cfg.name)) problems.push({ field: 'name', message: `speaker "${cfg.name}" already exists` });
    checkAsn(cfg.asn, 'asn', problems);
    checkV4(cfg.routerId, 'routerId', problems);
    checkV4(cfg.address, 'address', problems);
    if (cfg.clusterId !== undefined) checkV4(cfg.clusterId, 'clusterId', problems);
    for (const [i, a] of (cfg.addresses ?? []).entries()) checkV4(a, `addresses[${i}]`, problems);
    for (const [i, c] of (cfg.connected ?? []).entries()) {
      try {
        parseCidr(c);
      } catch (e) {
        problems.push({ field: `connected[${i}]`, message: (e as Error).message });
      }
    }
    for (const a of [cfg.address, ...(cfg.addresses ?? [])]) {
      const other = this.byAddress.get(a);
      if (other) problems.push({ field: 'address', message: `${a} already belongs to speaker "${other.cfg.name}"` });
    }
    if (problems.length) throw new InputError(problems.map((p) => ({ ...p, field: `speaker ${cfg.name}: ${p.field}` })));
    const sp = new Speaker(cfg, this.sessionsByUid, this.routeStore, this.slab);
    this.speakers.set(cfg.name, sp);
    for (const a of [cfg.address, ...(cfg.addresses ?? [])]) this.byAddress.set(a, sp);
  }

  /** Adds one `protocol bgp` to a speaker and starts it. Returns the protocol name. */
  addNeighbor(speaker: string, cfg: NeighborConfig): string {
    const sp = this.speaker(speaker);
    const problems: Problem[] = [];
    checkV4(cfg.peerAddress, 'peerAddress', problems);
    checkAsn(cfg.peerAsn, 'peerAsn', problems);
    if (cfg.rrClusterId !== undefined) checkV4(cfg.rrClusterId, 'rrClusterId', problems);
    if (cfg.sourceAddress !== undefined) checkV4(cfg.sourceAddress, 'sourceAddress', problems);
    if (cfg.holdTime !== undefined && cfg.holdTime !== 0 && !(Number.isInteger(cfg.holdTime) && cfg.holdTime >= 3 && cfg.holdTime <= 65535)) {
      problems.push({ field: 'holdTime', message: `hold time ${cfg.holdTime} must be 0 or 3..65535 (RFC 4271 §4.2)` });
    }
    if (sp.byPeer.has(cfg.peerAddress)) problems.push({ field: 'peerAddress', message: `speaker "${speaker}" already has a neighbor ${cfg.peerAddress}` });
    const name = cfg.name ?? birdProtocolName('bgp', cfg.peerAddress);
    if (sp.names.has(name)) problems.push({ field: 'name', message: `speaker "${speaker}" already has a protocol "${name}"` });
    if (problems.length) throw new InputError(problems.map((p) => ({ ...p, field: `speaker ${speaker} neighbor ${cfg.peerAddress}: ${p.field}` })));
    const s = new Session(sp, name, cfg, sp.sessions.length + 1);
    s.uid = this.sessionsByUid.length;
    this.sessionsByUid.push(s);
    this.assignClass(sp, s);
    sp.sessions.push(s);
    sp.byPeer.set(cfg.peerAddress, s);
    sp.names.add(name);
    if (sp.up) this.start(s);
    return name;
  }

  private assignClass(sp: Speaker, s: Session): void {
    const c = s.cfg;
    const key = [s.internal ? 'i' : `e${c.peerAddress}`, c.peerAsn, s.rrClient, s.clusterId, c.nextHopSelf ?? false, c.nextHopKeep ?? false, s.sourceAddress, c.exportFilter ? filterId(c.exportFilter) : 0].join('|');
    let cls = sp.classByKey.get(key);
    if (!cls) {
      const fs: FilterSession = { speaker: sp.cfg.name, peerAsn: c.peerAsn, internal: s.internal };
      cls = { id: sp.classes.length, rep: s, members: [], filterSession: fs, feed: undefined, table: undefined };
      sp.classes.push(cls);
      sp.classByKey.set(key, cls);
    }
    cls.members.push(s);
    s.cls = cls;
    if (s.rrClient || !s.internal) sp.mayExportLearned = true;
  }

  /**
   * Both sides of a session between two speakers. Default direction is Calico's mesh rule (the
   * side with the lexically smaller IP is passive); `aIsReflectorFor: true` makes b an rr client of a.
   */
  addPeering(a: string, b: string, opts: { aIsReflectorFor?: boolean; namePrefix?: string; a?: Partial<NeighborConfig>; b?: Partial<NeighborConfig> } = {}): [string, string] {
    const sa = this.speaker(a);
    const sb = this.speaker(b);
    const prefix = opts.namePrefix ?? 'bgp';
    const na = this.addNeighbor(a, {
      peerAddress: sb.cfg.address, peerAsn: sb.cfg.asn, name: birdProtocolName(prefix, sb.cfg.address),
      passive: calicoMeshPassive(sa.cfg.address, sb.cfg.address), rrClient: opts.aIsReflectorFor ?? false, ...opts.a,
    });
    const nb = this.addNeighbor(b, {
      peerAddress: sa.cfg.address, peerAsn: sa.cfg.asn, name: birdProtocolName(prefix, sa.cfg.address),
      passive: calicoMeshPassive(sb.cfg.address, sa.cfg.address), ...opts.b,
    });
    return [na, nb];
  }

  /** Deconfigures a neighbor: BIRD sends Cease "Peer de-configured" if a connection exists. */
  removeNeighbor(speaker: string, protocol: string): void {
    const sp = this.speaker(speaker);
    const i = sp.sessions.findIndex((s) => s.name === protocol);
    if (i < 0) throw new InputError({ field: 'protocol', message: `speaker "${speaker}" has no protocol "${protocol}"` });
    const s = sp.sessions[i]!;
    this.closeSession(s, { notify: [NOTIFY.CEASE, CEASE.PEER_DECONFIGURED], restart: false, why: 'Peer de-configured' });
    sp.sessions.splice(i, 1);
    sp.names.delete(s.name);
    s.removed = true;
    s.cls.members.splice(s.cls.members.indexOf(s), 1);
    sp.byPeer.delete(s.cfg.peerAddress);
  }

  /** Originates a prefix (a BIRD static route, e.g. Calico's blackhole for an affine block). */
  originate(speaker: string, prefix: string, opts: OriginateOptions = {}): void {
    const sp = this.speaker(speaker);
    const key = normPrefix(prefix, 'prefix');
    const attrs = this.intern({ origin: opts.origin ?? 0, asPath: [], nextHop: opts.nextHop ?? '0.0.0.0', med: opts.med, localPref: opts.localPref ?? BIRD_BGP_DEFAULTS.defaultLocalPref });
    if (opts.nextHop !== undefined) checkV4Throw(opts.nextHop, 'nextHop');
    const pid = this.pidOf(key);
    const rib = sp.rib;
    rib.reserve(pid);
    this.dropStatics(rib, pid);
    const d: RouteData = { prefix: key, pid, attrs, filtered: false, idN: 0, local: opts.protocol ?? 'static1', from: null, id: -1 };
    const slot = rib.alloc(pid, 0, d, smi(this.clock.now()));
    rib.link(slot, this.lastOf(rib, pid));
    const o = sp.originated;
    if (!o.includes(pid)) {
      o.push(pid);
      o.sort((x, y) => x - y);
    }
    this.recompute(sp, pid);
  }

  /** Stops originating a prefix. */
  withdraw(speaker: string, prefix: string): void {
    const sp = this.speaker(speaker);
    const key = normPrefix(prefix, 'prefix');
    const pid = this.pids.get(key);
    const rib = sp.rib;
    if (pid === undefined || pid >= rib.size) return;
    this.dropStatics(rib, pid);
    this.recompute(sp, pid);
  }

  /**
   * Takes a speaker down. `shutdown`: BIRD stops and sends Cease/Administrative shutdown on every
   * connection. `crash`: the node vanishes silently; its peers notice when their hold timers expire.
   */
  stopSpeaker(name: string, how: 'shutdown' | 'crash' = 'crash'): void {
    const sp = this.speaker(name);
    if (!sp.up) return;
    for (const s of sp.sessions) {
      if (how === 'shutdown') this.closeSession(s, { notify: [NOTIFY.CEASE, CEASE.ADMINISTRATIVE_SHUTDOWN], restart: false, why: 'Administrative shutdown' });
      else this.closeSession(s, { restart: false, why: 'Down' });
    }
    sp.up = false;
    // Learned routes are gone with the process; local statics come back on start.
    const rib = sp.rib;
    for (let pid = 0; pid < rib.size; pid++) {
      if (rib.head(pid) === 0 && rib.best(pid) === 0 && rib.ann(pid) === 0) continue;
      let prev = 0;
      for (let i = rib.head(pid); i !== 0; ) {
        const next = rib.next(i);
        if (rib.sess(i) !== null) rib.unlink(i, prev);
        else prev = i;
        i = next;
      }
      rib.setBest(pid, rib.head(pid));
      if (rib.ann(pid) !== rib.best(pid)) this.annChanged(sp, pid);
      rib.setAnn(pid, rib.best(pid));
      sp.version++;
    }
    sp.dirty.clear();
  }

  /** Brings a stopped speaker back; its sessions start from Idle. */
  startSpeaker(name: string): void {
    const sp = this.speaker(name);
    if (sp.up) return;
    sp.up = true;
    for (const s of sp.sessions) {
      s.errorDelay = 0;
      this.start(s);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Running

  /**
   * Runs until the network settles (no message or connection attempt in flight that can change
   * anything, every session that can establish has, every dead peer noticed) or `maxMs` of
   * virtual time passes. Returns what it took from the call.
   */
  run(opts: { maxMs?: number } = {}): ConvergenceReport {
    const start = this.clock.now();
    const deadline = start + (opts.maxMs ?? 3_600_000);
    const before = { counts: { ...this.counts }, ann: this.announcedCount, wd: this.withdrawnCount, rounds: this.rounds };
    this.lastWorkAt = start;
    let converged = true;
    for (;;) {
      if (this.work === 0 && !this.unsettled()) break;
      const t = this.times.peek();
      if (t === undefined) break;
      if (t > deadline) {
        converged = false;
        break;
      }
      this.runBucket(t);
    }
    if (converged && this.clock.now() < this.lastWorkAt) this.clock.set(this.lastWorkAt);
    const messages = ZERO_COUNTS();
    let total = 0;
    for (const k of Object.keys(messages) as BgpMessageType[]) {
      messages[k] = this.counts[k] - before.counts[k];
      total += messages[k];
    }
    let est = 0;
    let all = 0;
    for (const sp of this.speakers.values()) {
      for (const s of sp.sessions) {
        all++;
        if (s.state === 'Established') est++;
      }
    }
    return {
      startMs: start, endMs: this.lastWorkAt, virtualTimeMs: this.lastWorkAt - start, lastRouteChangeMs: Math.max(start, this.lastRibChangeAt), messages, totalMessages: total,
      announced: this.announcedCount - before.ann, withdrawn: this.withdrawnCount - before.wd, rounds: this.rounds - before.rounds,
      sessionsEstablished: est, sessionsTotal: all, converged,
    };
  }

  /** Runs every event due in the next `ms` of virtual time (keepalives included), then sets the clock. */
  advance(ms: number): void {
    const until = this.clock.now() + ms;
    for (;;) {
      const t = this.times.peek();
      if (t === undefined || t > until) break;
      this.runBucket(t);
    }
    this.clock.set(until);
  }

  private runBucket(t: number): void {
    this.times.pop();
    this.clock.set(t);
    const b = this.buckets.get(t)!;
    for (let i = 0; i < b.length; i++) {
      const ev = b[i]!;
      if (isWork(ev)) {
        this.work--;
        this.lastWorkAt = t;
      }
      this.dispatch(ev);
    }
    this.buckets.delete(t);
  }

  private push(t: number, ev: Ev): void {
    let b = this.buckets.get(t);
    if (!b) {
      b = [];
      this.buckets.set(t, b);
      this.times.push(t);
    }
    b.push(ev);
    this.lastPushed = ev;
    if (isWork(ev)) this.work++;
  }

  /** Is some session still going to change state by itself (connect, or notice a dead peer)? */
  private unsettled(): boolean {
    const hint = this.unsettledHint;
    if (hint && this.sessionUnsettled(hint)) return true;
    for (const sp of this.speakers.values()) {
      if (!sp.up) continue;
      for (const s of sp.sessions) {
        if (this.sessionUnsettled(s)) {
          this.unsettledHint = s;
          return true;
        }
      }
    }
    this.unsettledHint = undefined;
    return false;
  }

  private sessionUnsettled(s: Session): boolean {
    if (!s.speaker.up) return false;
    const remote = this.byAddress.get(s.cfg.peerAddress);
    if (s.state === 'Established') {
      const r = s.remoteSession;
      return !(r && r.speaker.up && r.state === 'Established' && r.conn === s.conn && !r.removed);
    }
    if (!remote || !remote.up) return false;
    const rs = remote.byPeer.get(s.sourceAddress);
    if (!rs || rs.cfg.peerAsn !== s.speaker.cfg.asn || s.cfg.peerAsn !== remote.cfg.asn) return false;
    if (s.cfg.passive && rs.cfg.passive) return false;
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Session state machine (RFC 4271 §8.2.2; BIRD's bgp_* in proto/bgp/bgp.c and packets.c)

  /** ManualStart/AutomaticStart: Idle → Active (listening); the active side connects after the connect delay. */
  private start(s: Session): void {
    this.setState(s, 'Active');
    if (!s.cfg.passive) this.startTimer(s, 'connectRetry', this.cfgTime(s, 'connectDelayTime'));
  }

  private dispatch(ev: Ev): void {
    switch (ev.k) {
      case 'deliver':
        this.deliver(ev.to, ev.conn, ev.msgs, ev.n);
        ev.done = true;
        return;
      case 'multicast': {
        const own = ev.own;
        for (let j = 0; j < ev.to.length; j++) {
          const msgs = own?.[j] ?? ev.msgs;
          this.deliver(ev.to[j]!, ev.conns[j]!, msgs, msgs.length);
        }
        return;
      }
      case 'syn':
        this.onSyn(ev.from, ev.attempt);
        return;
      case 'synack': {
        const s = ev.to;
        if (s.attempt !== ev.attempt || s.state !== 'Connect' || !s.speaker.up) return;
        this.connected(s, ev.peer, ev.conn);
        return;
      }
      case 'rst': {
        const s = ev.to;
        if (s.attempt !== ev.attempt || s.state !== 'Connect' || !s.speaker.up) return;
        // TcpConnectionFails in Connect: BIRD goes Active and retries after `connect retry time`.
        s.lastError = 'Socket: Connection refused';
        this.setState(s, 'Active');
        this.startTimer(s, 'connectRetry', this.cfgTime(s, 'connectRetryTime'));
        return;
      }
      case 'timer':
        if (ev.s.timerGen[ev.timer] !== ev.gen || !ev.s.speaker.up) return;
        this.onTimer(ev.s, ev.timer);
        return;
      case 'flush':
        ev.sp.flushQueued = false;
        if (ev.sp.up) this.flush(ev.sp);
        return;
    }
  }

  /** The first `n` of `msgs`, arriving in order on `to`'s connection `conn` (dropped once it is gone). */
  private deliver(to: Session, conn: number, msgs: readonly BgpMessage[], n: number): void {
    const now = this.clock.now();
    for (let i = 0; i < n; i++) {
      const m = msgs[i]!;
      if (to.conn !== conn || !to.speaker.up) break;
      if (m.type === 'UPDATE') {
        if (this.lastUpdateAt !== now) {
          this.lastUpdateAt = now;
          this.rounds++;
        }
        if (to.state === 'Established') {
          // receive() of an UPDATE on an Established session, inline.
          if (to.holdTime > 0) to.holdDue = now + to.holdTime * 1000;
          this.onUpdate(to, m);
          continue;
        }
      }
      this.receive(to, m);
    }
  }

  private onTimer(s: Session, timer: TimerKind): void {
    const now = this.clock.now();
    switch (timer) {
      case 'connectRetry':
        if (s.state === 'Active' || s.state === 'Connect') {
          // ConnectRetryTimer_Expires: (re)initiate the TCP connection, go Connect.
          s.attempt++;
          this.setState(s, 'Connect');
          this.logEvent(s, 'SYN', `${s.speaker.cfg.name} connects to ${s.cfg.peerAddress}:179`);
          this.push(now + this.delayMs, { k: 'syn', from: s, attempt: s.attempt });
          this.startTimer(s, 'connectRetry', this.cfgTime(s, 'connectRetryTime'));
        }
        return;
      case 'hold':
        if (s.state !== 'OpenSent' && s.state !== 'OpenConfirm' && s.state !== 'Established') return;
        if (s.holdDue === NEVER) return;
        if (now < s.holdDue) {
          this.armAt(s, 'hold', s.holdDue);
          return;
        }
        this.closeSession(s, { notify: [NOTIFY.HOLD_TIMER_EXPIRED, 0], restart: true, why: 'Error: Hold timer expired' });
        return;
      case 'keepalive':
        if (s.state !== 'OpenConfirm' && s.state !== 'Established') return;
        if (s.keepaliveDue === NEVER) return;
        if (now < s.keepaliveDue) {
          this.armAt(s, 'keepalive', s.keepaliveDue);
          return;
        }
        this.send(s, { type: 'KEEPALIVE' });
        return;
      case 'errorWait':
        if (s.state === 'Idle') this.start(s);
        return;
    }
  }

  /** An incoming SYN at the speaker owning `from.cfg.peerAddress`. */
  private onSyn(from: Session, attempt: number): void {
    const now = this.clock.now();
    const target = this.byAddress.get(from.cfg.peerAddress);
    if (!target || !target.up) return; // no answer: the connect retry timer will try again
    const s = target.byPeer.get(from.sourceAddress);
    const refuse = (): void => {
      this.push(now + this.delayMs, { k: 'rst', to: from, attempt });
    };
    if (!s || s.state === 'Idle' || s.state === 'OpenSent' || s.state === 'OpenConfirm' || s.state === 'Established') return refuse();
    if (s.state === 'Connect') {
      // Both sides connecting: keep the connection opened by the higher BGP identifier (RFC 4271 §6.8).
      if (target.routerIdN > from.speaker.routerIdN) return refuse();
      s.attempt++;
    }
    // Accept: TcpConnectionConfirmed on the listening side.
    const conn = ++this.connSeq;
    this.push(now + this.delayMs, { k: 'synack', to: from, attempt, peer: s, conn });
    this.connected(s, from, conn);
  }

  /** TCP is up: send OPEN, go OpenSent, hold timer = initial hold time (BIRD bgp_connected). */
  private connected(s: Session, peer: Session, conn: number): void {
    s.conn = conn;
    s.initiator = s.state === 'Connect' && peer.state !== 'Connect';
    s.remoteSession = peer;
    s.remoteSpeaker = peer.speaker;
    s.timerGen.connectRetry++;
    this.setState(s, 'OpenSent');
    this.send(s, this.openFor(s));
    s.holdDue = this.clock.now() + BIRD_BGP_DEFAULTS.initialHoldTime * 1000;
    this.armAt(s, 'hold', s.holdDue);
  }

  /** Models bgp_create_open with Calico's template options (capabilities in BIRD's order). */
  private openFor(s: Session): OpenMessage {
    const caps: Capability[] = [{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'route-refresh' }];
    const gr = s.cfg.gracefulRestart ?? BIRD_BGP_DEFAULTS.gracefulRestart;
    if (gr === true) caps.push({ kind: 'graceful-restart', restarting: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: false }] });
    else if (gr === 'aware') caps.push({ kind: 'graceful-restart', restarting: false, restartTime: 0, families: [] });
    caps.push({ kind: 'as4', asn: s.speaker.cfg.asn });
    if (s.cfg.addPaths ?? BIRD_BGP_DEFAULTS.addPaths) caps.push({ kind: 'add-path', afi: 1, safi: 1, sendReceive: 3 });
    caps.push({ kind: 'enhanced-route-refresh' });
    // BIRD: llgr_mode defaults to "aware" whenever graceful restart is on (bgp_check_config).
    if (gr) caps.push({ kind: 'llgr', data: new Uint8Array(0) });
    return { type: 'OPEN', version: 4, asn: s.speaker.cfg.asn, holdTime: s.cfg.holdTime ?? BIRD_BGP_DEFAULTS.holdTime, bgpId: s.speaker.cfg.routerId, capabilities: caps };
  }

  private receive(s: Session, m: BgpMessage): void {
    const now = this.clock.now();
    if (s.holdTime > 0 || s.state === 'OpenSent') s.holdDue = now + (s.state === 'OpenSent' ? BIRD_BGP_DEFAULTS.initialHoldTime : s.holdTime) * 1000;
    if (m.type === 'NOTIFICATION') {
      this.closeSession(s, { restart: true, why: `Received: ${notificationText(m.code, m.subcode)}` });
      return;
    }
    switch (s.state) {
      case 'OpenSent': {
        if (m.type !== 'OPEN') return this.fsmError(s);
        const err = this.checkOpen(s, m);
        if (err) {
          this.closeSession(s, { notify: err, restart: true, why: `Error: ${notificationText(err[0], err[1])}` });
          return;
        }
        s.remoteId = m.bgpId;
        s.remoteIdN = ipv4N(m.bgpId);
        const local = s.cfg.holdTime ?? BIRD_BGP_DEFAULTS.holdTime;
        s.holdTime = Math.min(local, m.holdTime);
        s.keepaliveTime = s.cfg.keepaliveTime ?? Math.floor(s.holdTime / 3);
        const ours = s.cfg.addPaths ?? BIRD_BGP_DEFAULTS.addPaths;
        const theirs = m.capabilities.find((c) => c.kind === 'add-path');
        const tr = theirs && theirs.kind === 'add-path' ? theirs.sendReceive : 0;
        s.addPathTx = ours && (tr & 1) !== 0;
        s.addPathRx = ours && (tr & 2) !== 0;
        this.setState(s, 'OpenConfirm');
        this.send(s, { type: 'KEEPALIVE' });
        if (s.holdTime > 0) {
          s.holdDue = now + s.holdTime * 1000;
          this.armAt(s, 'hold', s.holdDue);
        } else {
          s.timerGen.hold++;
          s.timerGen.keepalive++;
        }
        return;
      }
      case 'OpenConfirm':
        if (m.type !== 'KEEPALIVE') return this.fsmError(s);
        this.setState(s, 'Established');
        s.lastError = '';
        s.errorDelay = 0;
        this.feed(s);
        return;
      case 'Established':
        if (m.type === 'UPDATE') this.onUpdate(s, m);
        else if (m.type !== 'KEEPALIVE') this.fsmError(s);
        return;
      case 'Idle':
      case 'Connect':
      case 'Active':
        return;
    }
  }

  private checkOpen(s: Session, m: OpenMessage): [number, number] | undefined {
    if (m.version !== 4) return [NOTIFY.OPEN_MESSAGE_ERROR, OPEN_ERROR.UNSUPPORTED_VERSION];
    if (m.asn !== s.cfg.peerAsn) return [NOTIFY.OPEN_MESSAGE_ERROR, OPEN_ERROR.BAD_PEER_AS];
    if (m.holdTime === 1 || m.holdTime === 2) return [NOTIFY.OPEN_MESSAGE_ERROR, OPEN_ERROR.UNACCEPTABLE_HOLD_TIME];
    if (m.bgpId === '0.0.0.0' || (s.internal && m.bgpId === s.speaker.cfg.routerId)) return [NOTIFY.OPEN_MESSAGE_ERROR, OPEN_ERROR.BAD_BGP_ID];
    return undefined;
  }

  private fsmError(s: Session): void {
    this.closeSession(s, { notify: [NOTIFY.FSM_ERROR, 0], restart: true, why: 'Error: Finite state machine error' });
  }

  /**
   * Ends the connection: optional NOTIFICATION, routes learned on it withdrawn, state Idle; with
   * `restart`, BIRD's error wait (min, doubling to max) before starting again.
   */
  private closeSession(s: Session, o: { notify?: [number, number]; restart: boolean; why: string }): void {
    if (o.notify && s.conn !== 0 && (s.state === 'OpenSent' || s.state === 'OpenConfirm' || s.state === 'Established')) {
      this.send(s, { type: 'NOTIFICATION', code: o.notify[0], subcode: o.notify[1], data: new Uint8Array(0) });
    }
    const wasEstablished = s.state === 'Established';
    s.conn = 0;
    s.attempt++;
    s.remoteSession = undefined;
    for (const k of Object.keys(s.timerGen) as TimerKind[]) s.timerGen[k]++;
    s.holdDue = NEVER;
    s.keepaliveDue = NEVER;
    s.lastError = o.why;
    this.setState(s, 'Idle');
    if (wasEstablished) this.dropRoutesOf(s);
    s.exported = 0;
    if (o.restart) {
      const [min, max] = s.cfg.errorWaitTime ?? BIRD_BGP_DEFAULTS.errorWaitTime;
      s.errorDelay = s.errorDelay === 0 ? min : Math.min(2 * s.errorDelay, max);
      this.startTimer(s, 'errorWait', s.errorDelay, { jitter: false });
    }
  }

  private setState(s: Session, st: BgpState): void {
    if (s.state === st) return;
    this.logEvent(s, 'STATE', `${s.name}: ${s.state} -> ${st}`);
    s.state = st;
    s.stateSince = this.clock.now();
  }

  private cfgTime(s: Session, k: 'connectDelayTime' | 'connectRetryTime'): number {
    return s.cfg[k] ?? BIRD_BGP_DEFAULTS[k];
  }

  /** Models bgp_start_timer: a timer of v seconds fires after v − v/4 + random(0..v/4). */
  private startTimer(s: Session, timer: TimerKind, seconds: number, o: { jitter?: boolean } = {}): void {
    let ms = seconds * 1000;
    if (this.jitter && o.jitter !== false && seconds > 0) {
      const r = Math.floor(ms / 4);
      ms = ms - r + this.rng.int(r + 1);
    }
    this.armAt(s, timer, this.clock.now() + ms);
  }

  private armAt(s: Session, timer: TimerKind, at: number): void {
    const gen = ++s.timerGen[timer];
    this.push(at, { k: 'timer', s, timer, gen });
  }

  private send(s: Session, m: BgpMessage): void {
    const now = this.clock.now();
    const peer = s.remoteSession;
    if (m.type !== 'UPDATE') this.counts[m.type]++;
    else {
      this.counts.UPDATE++;
      this.announcedCount += m.nlri.length;
      this.withdrawnCount += m.withdrawn.length;
    }
    if (this.log.length < this.logLimit) {
      this.log.push({
        t: now, from: s.speaker.cfg.name, to: peer?.speaker.cfg.name ?? s.cfg.peerAddress, fromAddress: s.sourceAddress, toAddress: s.cfg.peerAddress,
        protocol: s.name, type: m.type, summary: formatBgpMessage(m), message: m, conn: s.conn, initiator: s.initiator, addPath: s.addPathTx,
      });
    }
    if (s.keepaliveTime > 0 && (s.state === 'OpenConfirm' || s.state === 'Established')) {
      // BIRD restarts the keepalive timer after every message it sends (bgp_fire_tx).
      const due = now + s.keepaliveTime * 1000;
      const first = s.keepaliveDue === NEVER || m.type === 'KEEPALIVE';
      s.keepaliveDue = due;
      if (first) this.startTimer(s, 'keepalive', s.keepaliveTime);
    }
    if (!peer) return;
    // Messages one session sends at one instant travel together (one TCP stream, in order).
    const at = now + this.delayMs;
    if (this.openTx(s, at)) {
      this.appendTx(s, m);
      return;
    }
    const batch = s.tx;
    let ev: Delivery;
    if (batch && batch.k === 'deliver' && batch.done) {
      // The last batch was delivered: reuse it.
      ev = batch;
      ev.to = peer;
      ev.conn = s.conn;
      ev.msgs[0] = m;
      ev.n = 1;
      ev.work = m.type !== 'KEEPALIVE';
      ev.done = false;
    } else ev = { k: 'deliver', to: peer, conn: s.conn, msgs: [m], n: 1, work: m.type !== 'KEEPALIVE', done: false };
    s.tx = ev;
    s.txAt = at;
    this.push(at, ev);
  }

  /** Does `s` have a batch open at `at` on its current connection? */
  private openTx(s: Session, at: number): boolean {
    const b = s.tx;
    if (b === undefined || s.txAt !== at) return false;
    return (b.k === 'deliver' ? b.conn : b.conns[s.txIdx]) === s.conn;
  }

  /** Adds `m` to `s`'s open batch (see openTx). */
  private appendTx(s: Session, m: BgpMessage): void {
    const b = s.tx!;
    if (b.k === 'multicast') {
      const own = (b.own ??= []);
      (own[s.txIdx] ??= b.msgs.slice()).push(m);
      return;
    }
    b.msgs[b.n++] = m;
    if (!b.work && m.type !== 'KEEPALIVE') {
      b.work = true;
      this.work++;
    }
  }

  private logEvent(s: Session, type: 'SYN' | 'RST' | 'STATE', summary: string): void {
    if (this.log.length < this.logLimit) {
      this.log.push({ t: this.clock.now(), from: s.speaker.cfg.name, to: this.byAddress.get(s.cfg.peerAddress)?.cfg.name ?? s.cfg.peerAddress, fromAddress: s.sourceAddress, toAddress: s.cfg.peerAddress, protocol: s.name, type, summary });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Routes (RFC 4271 §9; BIRD proto/bgp/attrs.c bgp_decode_attrs, bgp_import_control, bgp_rte_better)

  /** A small integer per prefix, shared by all speakers (tables index by it). */
  private pidOf(prefix: string): number {
    let id = this.pids.get(prefix);
    if (id === undefined) {
      this.pids.set(prefix, (id = this.pids.size));
      const n: INlri = { prefix, pid: id };
      this.nlris.push(n);
    }
    return id;
  }

  /** The last route of `pid`'s list (0 if none). */
  private lastOf(rib: Rib<Session>, pid: number): number {
    let last = 0;
    for (let i = rib.head(pid); i !== 0; i = rib.next(i)) last = i;
    return last;
  }

  /** Takes the local (static) routes of `pid` out of its list. */
  private dropStatics(rib: Rib<Session>, pid: number): void {
    let prev = 0;
    for (let i = rib.head(pid); i !== 0; ) {
      const next = rib.next(i);
      if (rib.sess(i) === null) rib.unlink(i, prev);
      else prev = i;
      i = next;
    }
  }

  /** Is the route in slot `i` better than the one in slot `j` (bgp_rte_better)? */
  private betterSlot(rib: Rib<Session>, i: number, j: number): boolean {
    return better(rib.sess(i), rib.data(i), rib.sess(j), rib.data(j));
  }

  /** Decision process for one prefix: BIRD picks the best by pairwise `rte_better`, in arrival order. */
  private recompute(sp: Speaker, pid: number): void {
    const rib = sp.rib;
    let best = 0;
    for (let i = rib.head(pid); i !== 0; i = rib.next(i)) {
      if (rib.data(i).filtered) continue;
      if (best === 0 || this.betterSlot(rib, i, best)) best = i;
    }
    if (best !== rib.best(pid)) this.setBest(sp, pid, best);
  }

  /** The best route of `pid` changed: note it, and queue an export round if peers may hear of it. */
  private setBest(sp: Speaker, pid: number, best: number): void {
    const rib = sp.rib;
    rib.setBest(pid, best);
    this.lastRibChangeAt = this.clock.now();
    const ann = rib.ann(pid);
    if (!sp.mayExportLearned && (best === 0 || rib.sessUid(best) !== 0) && (ann === 0 || rib.sessUid(ann) !== 0)) {
      // Nothing learned over iBGP can leave this speaker (no rr client, no eBGP peer): no export round.
      if (rib.ann(pid) !== best) this.annChanged(sp, pid);
      rib.setAnn(pid, best);
      sp.version++;
      return;
    }
    sp.dirty.add(pid);
    if (!sp.flushQueued) {
      sp.flushQueued = true;
      this.push(this.clock.now(), { k: 'flush', sp });
    }
  }

  private onUpdate(s: Session, m: UpdateMessage): void {
    const sp = s.speaker;
    const wd = m.withdrawn;
    for (let i = 0; i < wd.length; i++) this.removeRoute(s, (wd[i] as INlri).pid ?? this.pids.get(wd[i]!.prefix));
    const a0 = m.attrs;
    if (!m.nlri.length || !a0) return;
    // bgp_decode_attrs: routes that loop are treated as withdrawn.
    const loop = (a0.asPath.length !== 0 && a0.asPath.includes(sp.asn)) || (a0.originatorId !== undefined && a0.originatorId === sp.routerId) || (s.rrClient && (a0.clusterList?.includes(s.clusterId) ?? false));
    if (loop) {
      for (const n of m.nlri) this.removeRoute(s, (n as INlri).pid ?? this.pids.get(n.prefix));
      return;
    }
    const since = smi(this.clock.now());
    const filter = s.importFilter;
    const rib = sp.rib;
    let a: PathAttributes | undefined;
    let idA = 0;
    for (const n of m.nlri) {
      const pid = (n as INlri).pid ?? this.pidOf(n.prefix);
      // Every receiver of one UPDATE decodes it alike (the router id of the sender aside, when
      // there is no ORIGINATOR_ID): share the decoded route, unless an import filter runs.
      let d: RouteData | undefined;
      const dm = filter ? undefined : (m as DUpdate)[DECODED];
      if (dm !== undefined && (a0.originatorId !== undefined || dm.idN === s.remoteIdN)) d = dm;
      const ds = filter || d ? undefined : this.decoded[pid];
      if (ds) {
        for (let k = 0; k < ds.length; k++) {
          const x = ds[k]!;
          if (x.from === m && (a0.originatorId !== undefined || x.idN === s.remoteIdN)) {
            d = x;
            break;
          }
        }
      }
      if (d === undefined) {
        if (a === undefined) {
          a = a0.localPref === undefined ? this.intern({ ...a0, localPref: BIRD_BGP_DEFAULTS.defaultLocalPref }) : a0;
          idA = a.originatorId !== undefined ? v4n(a.originatorId) : s.remoteIdN;
        }
        let attrs = a;
        let filtered = false;
        let idN = idA;
        if (filter) {
          const v = filter(filterView(n.prefix, a, s), s.filterSession);
          if (v === false) filtered = true;
          else if (v !== true) {
            attrs = this.intern(v);
            idN = attrs.originatorId !== undefined ? v4n(attrs.originatorId) : s.remoteIdN;
          }
        }
        d = { prefix: n.prefix, pid, attrs, filtered, idN, local: null, from: filter ? null : m, id: -1 };
        if (!filter) {
          if (DECODED in m) (m as DUpdate)[DECODED] = d;
          if (!ds) this.decoded[pid] = [d];
          else if (ds.length < DECODED_WAYS) ds.push(d);
          else ds[this.decodedNext++ % DECODED_WAYS] = d;
        }
      }
      rib.reserve(pid);
      const r = rib.add(pid, s.uid, d, since);
      if (!d.filtered) s.imported++;
      const replaced = rib.replaced;
      if (replaced !== undefined) {
        // Replaced the session's route in place (same position in arrival order).
        if (!replaced.filtered) s.imported--;
        this.recompute(sp, pid);
      } else if (!d.filtered) {
        // Appended last: the pairwise scan would end with comparing it to the best so far.
        const b = rib.best(pid);
        if (b === 0 || better(s, d, rib.sess(b), rib.data(b))) this.setBest(sp, pid, r);
      }
    }
  }

  private removeRoute(s: Session, pid: number | undefined): void {
    const rib = s.speaker.rib;
    if (pid === undefined || pid >= rib.size) return;
    let prev = 0;
    let i = rib.head(pid);
    while (i !== 0 && rib.sessUid(i) !== s.uid) {
      prev = i;
      i = rib.next(i);
    }
    if (i === 0) return;
    if (!rib.data(i).filtered) s.imported--;
    rib.unlink(i, prev);
    this.recompute(s.speaker, pid);
  }

  private dropRoutesOf(s: Session): void {
    const rib = s.speaker.rib;
    for (let pid = 0; pid < rib.size; pid++) if (rib.find(pid, s.uid) !== 0) this.removeRoute(s, pid);
    s.imported = 0;
  }

  /** A newly Established session gets the whole table (BIRD's route feed). */
  private feed(s: Session): void {
    // No announced route came from `s` (its routes went when it last closed), so the class's
    // feed is this session's feed; sessions established at one instant share it.
    const sp = s.speaker;
    const c = s.cls;
    let f = c.feed;
    if (!f || f.version !== sp.version) {
      const rib = sp.rib;
      if (sp.mayExportLearned) {
        const t = this.feedTable(sp, c);
        c.feed = f = { version: sp.version, msgs: t.shared === 0 ? t.msgs : this.pack(t.pids, t.pids.map((p) => t.attrs[p]!)), count: t.pids.length };
      } else {
        // A speaker that exports no learned route (see mayExportLearned) sends its own prefixes only.
        const ps: number[] = [];
        const as: PathAttributes[] = [];
        for (const pid of sp.originated) {
          const r = pid < rib.size ? rib.ann(pid) : 0;
          const a = r !== 0 ? this.exportAttrs(rib, r, s) : null;
          if (a) {
            ps.push(pid);
            as.push(a);
          }
        }
        c.feed = f = { version: sp.version, msgs: this.pack(ps, as), count: ps.length };
      }
    }
    this.sendAll(s, f.msgs, f.count, 0);
  }

  /** The announced route of `pid` changed: feed tables catch up when next read. */
  private annChanged(sp: Speaker, pid: number): void {
    if (!sp.mayExportLearned) return; // no feed tables (see feed)
    for (const c of sp.classes) c.table?.pending.add(pid);
  }

  /** The class's feed table, brought up to date. */
  private feedTable(sp: Speaker, c: ExportClass): FeedTable {
    const rib = sp.rib;
    let t = c.table;
    if (!t) {
      t = { pids: [], msgs: [], attrs: [], uses: new Map(), shared: 0, pending: new Set() };
      for (let pid = 0; pid < rib.size; pid++) t.pending.add(pid);
      c.table = t;
    }
    if (t.pending.size === 0) return t;
    const changed = [...t.pending].sort((x, y) => x - y);
    t.pending.clear();
    for (const pid of changed) {
      const r = pid < rib.size ? rib.ann(pid) : 0;
      const a = r !== 0 ? this.classAttrs(rib, r, c) : null;
      const was = t.attrs[pid] ?? null;
      if (a === was) continue;
      t.attrs[pid] = a;
      if (was) {
        const n = t.uses.get(was)! - 1;
        if (n === 1) t.shared--;
        if (n === 0) t.uses.delete(was);
        else t.uses.set(was, n);
      }
      if (a) {
        const n = (t.uses.get(a) ?? 0) + 1;
        if (n === 2) t.shared++;
        t.uses.set(a, n);
      }
      const i = lowerBound(t.pids, pid);
      const here = i < t.pids.length && t.pids[i] === pid;
      if (a && here) t.msgs[i] = this.single(pid, a);
      else if (a) {
        t.pids.splice(i, 0, pid);
        t.msgs.splice(i, 0, this.single(pid, a));
      } else if (here) {
        t.pids.splice(i, 1);
        t.msgs.splice(i, 1);
      }
    }
    return t;
  }

  /**
   * One export round (BIRD's rt_notify for each changed best route): every Established session
   * is told of the prefixes whose best route changed. Sessions with the same export settings get
   * the same UPDATEs, computed once; a session that is the source of a changed route gets its own
   * (a route never goes back to the session it came from).
   */
  private flush(sp: Speaker): void {
    const rib = sp.rib;
    const pids: number[] = [];
    const olds: number[] = [];
    const neus: number[] = [];
    // Sessions a changed route came from get their own UPDATEs: marked with this round's number.
    const mark = ++this.exportRounds;
    for (const pid of sp.dirty) {
      const old = rib.ann(pid);
      const neu = rib.best(pid);
      sp.version++;
      if (old === neu) continue;
      // The old route stays readable until the round is done (released below).
      rib.replaceAnn(pid, neu);
      this.annChanged(sp, pid);
      pids.push(pid);
      olds.push(old);
      neus.push(neu);
      const so = old !== 0 ? rib.sess(old) : null;
      const sn = neu !== 0 ? rib.sess(neu) : null;
      if (so) so.sourceOf = mark;
      if (sn) sn.sourceOf = mark;
    }
    sp.dirty.clear();
    if (pids.length) this.exportChanges(sp, pids, olds, neus, mark);
    for (const old of olds) if (old !== 0) rib.release(old);
  }

  private exportChanges(sp: Speaker, pids: readonly number[], olds: readonly number[], neus: readonly number[], mark: number): void {
    const rib = sp.rib;
    for (const c of sp.classes) {
      let generic: BgpMessage[] | undefined;
      let ann = 0;
      let wd = 0;
      for (const s of c.members) {
        if (s.state !== 'Established') continue;
        if (s.sourceOf === mark) {
          const ps: number[] = [];
          const as: (PathAttributes | null)[] = [];
          let w = 0;
          for (let k = 0; k < pids.length; k++) {
            const neu = neus[k]!;
            const old = olds[k]!;
            const an = neu !== 0 ? this.exportAttrs(rib, neu, s) : null;
            if (an || (old !== 0 && this.exportAttrs(rib, old, s))) {
              ps.push(pids[k]!);
              as.push(an);
              if (!an) w++;
            }
          }
          this.sendAll(s, this.pack(ps, as), ps.length - w, w);
          continue;
        }
        if (!generic) {
          const ps: number[] = [];
          const as: (PathAttributes | null)[] = [];
          for (let k = 0; k < pids.length; k++) {
            const neu = neus[k]!;
            const old = olds[k]!;
            const an = neu !== 0 ? this.classAttrs(rib, neu, c) : null;
            if (an || (old !== 0 && this.classAttrs(rib, old, c))) {
              ps.push(pids[k]!);
              as.push(an);
              if (!an) wd++;
            }
          }
          ann = ps.length - wd;
          generic = this.pack(ps, as);
        }
        this.sendShared(s, generic, ann, wd);
      }
    }
  }

  private sendAll(s: Session, msgs: readonly BgpMessage[], announced: number, withdrawn: number): void {
    s.exported += announced - withdrawn;
    const n = msgs.length;
    if (n < 4 || this.log.length < this.logLimit) {
      for (const m of msgs) this.send(s, m);
      return;
    }
    // A long list of UPDATEs (a feed): what send() does for each, at once. The first message
    // opens or extends the batch and starts the keepalive timer if due; the others only count.
    this.send(s, msgs[0]!);
    let nlri = 0;
    let wd = 0;
    for (let i = 1; i < n; i++) {
      const m = msgs[i]!;
      if (m.type !== 'UPDATE') throw new Error(`sendAll: ${m.type} in an UPDATE list`);
      nlri += m.nlri.length;
      wd += m.withdrawn.length;
    }
    this.counts.UPDATE += n - 1;
    this.announcedCount += nlri;
    this.withdrawnCount += wd;
    if (s.keepaliveTime > 0 && (s.state === 'OpenConfirm' || s.state === 'Established')) s.keepaliveDue = this.clock.now() + s.keepaliveTime * 1000;
    const batch = s.tx;
    if (!s.remoteSession || !batch) return;
    if (batch.k === 'multicast') {
      for (let i = 1; i < n; i++) this.appendTx(s, msgs[i]!);
      return;
    }
    const out = batch.msgs;
    let k = batch.n;
    for (let i = 1; i < n; i++) out[k++] = msgs[i]!;
    batch.n = k;
  }

  /**
   * sendAll of a class's UPDATE list to one of its members (`msgs` is shared and never changed):
   * the member joins the multicast the previous member opened if no event came between, else
   * opens one; either way exactly what its own Delivery would be (see Multicast).
   */
  private sendShared(s: Session, msgs: readonly BgpMessage[], announced: number, withdrawn: number): void {
    const peer = s.remoteSession;
    const now = this.clock.now();
    const at = now + this.delayMs;
    if (msgs.length === 0 || peer === undefined || this.log.length < this.logLimit || this.openTx(s, at)) {
      this.sendAll(s, msgs, announced, withdrawn);
      return;
    }
    // What send() does for each message (no log).
    s.exported += announced - withdrawn;
    let nlri = 0;
    let wd = 0;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (m.type !== 'UPDATE') throw new Error(`sendShared: ${m.type} in an UPDATE list`);
      nlri += m.nlri.length;
      wd += m.withdrawn.length;
    }
    this.counts.UPDATE += msgs.length;
    this.announcedCount += nlri;
    this.withdrawnCount += wd;
    if (s.keepaliveTime > 0 && (s.state === 'OpenConfirm' || s.state === 'Established')) {
      const first = s.keepaliveDue === NEVER;
      s.keepaliveDue = now + s.keepaliveTime * 1000;
      if (first) this.startTimer(s, 'keepalive', s.keepaliveTime);
    }
    let g = this.lastPushed;
    if (g === undefined || g.k !== 'multicast' || g.msgs !== msgs || g.at !== at) {
      g = { k: 'multicast', at, msgs, to: [], conns: [], own: undefined };
      this.push(at, g);
    }
    g.to.push(peer);
    g.conns.push(s.conn);
    s.tx = g;
    s.txAt = at;
    s.txIdx = g.to.length - 1;
  }

  /** The UPDATE for one prefix alone (announced with `a`, or withdrawn), shared by every session sending it. */
  private single(pid: number, a: PathAttributes | null): UpdateMessage {
    const nlri = this.nlris[pid]!;
    if (a === null) return this.wds[pid] ?? (this.wds[pid] = { type: 'UPDATE', withdrawn: [nlri], nlri: [] });
    let msgs = this.singles[pid];
    if (!msgs) this.singles[pid] = msgs = new Map();
    let m = msgs.get(a);
    if (!m) msgs.set(a, (m = announcement(a, nlri)));
    return m;
  }

  /**
   * Packs changes into UPDATEs as BIRD's buckets do: withdrawals first, then one UPDATE per set of
   * equal attributes, each within 4096 bytes. Single-prefix UPDATEs are shared between sessions.
   */
  private pack(ps: readonly number[], as: readonly (PathAttributes | null)[]): BgpMessage[] {
    if (ps.length === 0) return [];
    if (ps.length === 1) return [this.single(ps[0]!, as[0]!)];
    const out: BgpMessage[] = [];
    const withdrawn: Nlri[] = [];
    const groups = new Map<PathAttributes, number[] | number>();
    for (let i = 0; i < ps.length; i++) {
      const e = ps[i]!;
      const a = as[i]!;
      if (a === null) {
        withdrawn.push(this.nlris[e]!);
        continue;
      }
      const g = groups.get(a);
      if (g === undefined) groups.set(a, e);
      else if (Array.isArray(g)) g.push(e);
      else groups.set(a, [g, e]);
    }
    // Sizes as if ADD-PATH were on (9 bytes per /25–/32 prefix), so a chunk fits either way.
    const per = 9;
    const room = 4096 - 19 - 4;
    const k = Math.floor(room / per);
    for (let i = 0; i < withdrawn.length; i += k) out.push({ type: 'UPDATE', withdrawn: withdrawn.slice(i, i + k), nlri: [] });
    for (const [a, g] of groups) {
      if (!Array.isArray(g)) {
        out.push(this.single(g, a));
        continue;
      }
      const nlri = g.map((e) => this.nlris[e]!);
      const n = nlri.length <= 200 ? nlri.length : Math.max(1, Math.floor((room - attrsSize(a)) / per));
      for (let i = 0; i < nlri.length; i += n) out.push({ type: 'UPDATE', withdrawn: [], attrs: a, nlri: nlri.slice(i, i + n) });
    }
    return out;
  }

  /**
   * The attributes `r` is sent with on `s`, or null if it is not sent. Models bgp_import_control,
   * bgp_create_attrs and bgp_update_attrs (proto/bgp/attrs.c), then the export filter.
   */
  private exportAttrs(rib: Rib<Session>, slot: number, s: Session): PathAttributes | null {
    if (rib.sess(slot) === s) return null; // never back to where it came from
    return this.classAttrs(rib, slot, s.cls);
  }

  /** exportAttrs for any session of an export class, poison reverse aside; memoised on the route. */
  private classAttrs(rib: Rib<Session>, slot: number, c: ExportClass): PathAttributes | null {
    const src = rib.sess(slot);
    const r = rib.data(slot);
    const s = c.rep;
    if (src) {
      if (s.rrClient && r.attrs.clusterList?.includes(s.clusterId)) return null;
      if (s.internal && src.internal && !(s.rrClient || src.rrClient)) return null; // iBGP split horizon
    }
    let cache = rib.cache.get(slot);
    if (cache) {
      const v = cache[c.id];
      if (v !== undefined) return v;
    } else rib.cache.set(slot, (cache = []));
    let base: PathAttributes;
    if (!src) base = this.localAttrs(r, s);
    else if (s.internal && src.internal) base = this.reflectAttrs(r, src, s);
    else base = this.forwardAttrs(r, s);
    let out: PathAttributes | null = base;
    const f = s.cfg.exportFilter;
    if (f) {
      const v = f(filterView(r.prefix, base, src, r.local ?? undefined), c.filterSession);
      out = v === false ? null : v === true ? base : this.intern(v);
    }
    cache[c.id] = out;
    return out;
  }

  /** Route reflection (RFC 4456 §8): ORIGINATOR_ID if absent, cluster id prepended; next hop kept. */
  private reflectAttrs(r: RouteData, src: Session, s: Session): PathAttributes {
    const cid = src.rrClient ? src.clusterId : s.clusterId;
    const twice = src.rrClient && s.rrClient && src.clusterId !== s.clusterId;
    const selfNh = s.cfg.nextHopSelf || r.attrs.nextHop === '0.0.0.0';
    const cl = twice ? [s.clusterId, cid, ...(r.attrs.clusterList ?? [])] : [cid, ...(r.attrs.clusterList ?? [])];
    return this.intern({ ...r.attrs, originatorId: r.attrs.originatorId ?? src.remoteId, clusterList: cl, nextHop: selfNh ? s.sourceAddress : r.attrs.nextHop });
  }

  /** A learned route towards eBGP (or eBGP-learned towards iBGP): AS prepend on eBGP, MED dropped, next hop rules. */
  private forwardAttrs(r: RouteData, s: Session): PathAttributes {
    const nh = r.attrs.nextHop;
    const keep = !s.cfg.nextHopSelf && (s.cfg.nextHopKeep || (s.internal && nh !== '0.0.0.0') || this.sameSubnet(s.speaker, nh, s.cfg.peerAddress));
    const a = this.intern({ ...r.attrs, nextHop: keep ? nh : s.sourceAddress });
    if (s.internal) return a;
    return this.stripForEbgp({ ...a, asPath: [s.speaker.cfg.asn, ...a.asPath] });
  }

  /** bgp_create_attrs: ORIGIN IGP, AS_PATH empty (iBGP) or [local AS] (eBGP), NEXT_HOP = source address unless a gateway route. */
  private localAttrs(r: RouteData, s: Session): PathAttributes {
    const gw = r.attrs.nextHop !== '0.0.0.0' && !s.cfg.nextHopSelf && (s.internal || this.sameSubnet(s.speaker, r.attrs.nextHop, s.cfg.peerAddress));
    const a = this.intern({ ...r.attrs, nextHop: gw ? r.attrs.nextHop : s.sourceAddress, localPref: r.attrs.localPref ?? BIRD_BGP_DEFAULTS.defaultLocalPref });
    return s.internal ? a : this.stripForEbgp({ ...a, asPath: [s.speaker.cfg.asn] });
  }

  /**
   * One object per distinct attribute set (all keys, fixed order): UPDATEs group prefixes by
   * object identity, as BIRD's buckets group equal attributes, and the decision code stays monomorphic.
   */
  private intern(a: PathAttributes): PathAttributes {
    const key = `${a.origin}|${a.asPath.join(' ')}|${a.nextHop}|${a.med ?? ''}|${a.localPref ?? ''}|${a.originatorId ?? ''}|${a.clusterList?.join(' ') ?? ''}`;
    let x = this.interned.get(key);
    if (!x) this.interned.set(key, (x = mkAttrs(a)));
    return x;
  }

  /** LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST and MED are not sent to external peers (RFC 4271 §5.1.5, RFC 4456 §8; bgp_update_attrs). */
  private stripForEbgp(a: PathAttributes): PathAttributes {
    return this.intern({ origin: a.origin, asPath: a.asPath, nextHop: a.nextHop });
  }

  private sameSubnet(sp: Speaker, a: string, b: string): boolean {
    if (!sp.connected.length || a === '0.0.0.0') return false;
    const ia = parseIp(a);
    const ib = parseIp(b);
    return sp.connected.some((c) => cidrContains(c, ia) && cidrContains(c, ib));
  }

  // ------------------------------------------------------------------------------------------
  // Views

  private speaker(name: string): Speaker {
    const sp = this.speakers.get(name);
    if (!sp) throw new InputError({ field: 'speaker', message: `no BGP speaker "${name}"` });
    return sp;
  }

  speakerNames(): string[] {
    return [...this.speakers.keys()];
  }

  speakerConfig(name: string): SpeakerConfig {
    return this.speaker(name).cfg;
  }

  isUp(name: string): boolean {
    return this.speaker(name).up;
  }

  /** Sessions of one speaker (or all), in configuration order. */
  sessions(name?: string): SessionInfo[] {
    const list = name === undefined ? [...this.speakers.values()] : [this.speaker(name)];
    const out: SessionInfo[] = [];
    for (const sp of list) {
      for (const s of sp.sessions) {
        out.push({
          speaker: sp.cfg.name, protocol: s.name, peerAddress: s.cfg.peerAddress, peerAsn: s.cfg.peerAsn,
          peer: this.byAddress.get(s.cfg.peerAddress)?.cfg.name, state: s.state, since: s.stateSince,
          internal: s.internal, rrClient: s.rrClient, passive: s.cfg.passive ?? false, holdTime: s.holdTime, keepaliveTime: s.keepaliveTime,
          lastError: s.lastError, imported: s.imported, exported: s.state === 'Established' ? s.exported : 0,
        });
      }
    }
    return out;
  }

  /** Every route of a speaker's table (`birdc show route all`), best first per prefix, prefixes in address order. */
  routes(name: string): RibRoute[] {
    const sp = this.speaker(name);
    const rib = sp.rib;
    const out: RibRoute[] = [];
    for (const pid of this.sortedPids(rib, (p) => rib.head(p) !== 0)) {
      const b = rib.best(pid);
      const rs = rib.list(pid).sort((x, y) => (x === b ? -1 : y === b ? 1 : 0));
      for (const r of rs) out.push(this.ribRoute(sp, r, r === b));
    }
    return out;
  }

  /** The Loc-RIB: the best route per prefix with the peer it came from. */
  locRib(name: string): RibRoute[] {
    const sp = this.speaker(name);
    const rib = sp.rib;
    return this.sortedPids(rib, (p) => rib.best(p) !== 0).map((pid) => this.ribRoute(sp, rib.best(pid), true));
  }

  /** What a session has received and kept (after loop checks; `filtered` = rejected by the import filter). */
  adjRibIn(name: string, protocol: string): RibRoute[] {
    const sp = this.speaker(name);
    const s = sp.sessions.find((x) => x.name === protocol);
    if (!s) throw new InputError({ field: 'protocol', message: `speaker "${name}" has no protocol "${protocol}"` });
    const rib = sp.rib;
    const out: RibRoute[] = [];
    for (const pid of this.sortedPids(rib, (p) => rib.head(p) !== 0)) {
      for (const r of rib.list(pid)) if (rib.sess(r) === s) out.push(this.ribRoute(sp, r, r === rib.best(pid)));
    }
    return out;
  }

  /** What the speaker advertises on a session now: prefix → attributes as sent (computed as BIRD does, from the table). */
  adjRibOut(name: string, protocol: string): { prefix: string; attrs: PathAttributes }[] {
    const sp = this.speaker(name);
    const s = sp.sessions.find((x) => x.name === protocol);
    if (!s) throw new InputError({ field: 'protocol', message: `speaker "${name}" has no protocol "${protocol}"` });
    if (s.state !== 'Established') return [];
    const rib = sp.rib;
    const out: { prefix: string; attrs: PathAttributes }[] = [];
    for (const pid of this.sortedPids(rib, (p) => rib.ann(p) !== 0)) {
      const x = this.exportAttrs(rib, rib.ann(pid), s);
      if (x) out.push({ prefix: this.nlris[pid]!.prefix, attrs: x });
    }
    return out;
  }

  /** Prefix ids of a table that pass `keep`, in address order (then length). */
  private sortedPids(rib: Rib<Session>, keep: (pid: number) => boolean): number[] {
    const ps: number[] = [];
    for (let pid = 0; pid < rib.size && pid < this.nlris.length; pid++) if (keep(pid)) ps.push(pid);
    const byPrefix = new Map(ps.map((p) => [this.nlris[p]!.prefix, p]));
    return sortPrefixes([...byPrefix.keys()]).map((k) => byPrefix.get(k)!);
  }

  private ribRoute(sp: Speaker, slot: number, best: boolean): RibRoute {
    const rib = sp.rib;
    const s = rib.sess(slot);
    const d = rib.data(slot);
    return {
      prefix: d.prefix, attrs: d.attrs, protocol: s ? s.name : (d.local ?? 'static1'), source: s ? 'bgp' : 'static',
      from: s ? (s.remoteSpeaker?.cfg.name ?? s.cfg.peerAddress) : sp.cfg.name, peerAddress: s?.cfg.peerAddress,
      internal: s ? s.internal : true, since: rib.since(slot), best, filtered: d.filtered,
    };
  }

  /** Message counters since the network was made. */
  messageCounts(): Readonly<Record<BgpMessageType, number>> {
    return { ...this.counts };
  }
}

const FILTER_IDS = new WeakMap<BgpFilter, number>();
let filterSeq = 0;
function filterId(f: BgpFilter): number {
  let id = FILTER_IDS.get(f);
  if (id === undefined) FILTER_IDS.set(f, (id = ++filterSeq));
  return id;
}

function filterView(prefix: string, attrs: PathAttributes, s: Session | null, protocol?: string): FilterRoute {
  if (!s) return { prefix, attrs, source: 'static', protocol: protocol ?? 'static1' };
  const from = s.remoteSpeaker?.cfg.name;
  return from === undefined ? { prefix, attrs, source: 'bgp', protocol: s.name } : { prefix, attrs, source: 'bgp', protocol: s.name, fromSpeaker: from };
}


/** An attribute object in the one shape every internal attribute object has. */
function mkAttrs(a: PathAttributes): PathAttributes {
  return { origin: a.origin, asPath: a.asPath, nextHop: a.nextHop, med: a.med, localPref: a.localPref, originatorId: a.originatorId, clusterList: a.clusterList };
}

function attrsSize(a: PathAttributes): number {
  return encodePathAttributes(a).length;
}

function isWork(ev: Ev): boolean {
  if (ev.k === 'timer') return ev.timer === 'errorWait';
  if (ev.k === 'deliver') return ev.work;
  return true;
}

/** The first index of sorted `a` whose value is ≥ `x`. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkAsn(asn: number, field: string, problems: Problem[]): void {
  if (!Number.isInteger(asn) || asn < 1 || asn > 4294967295) problems.push({ field, message: `AS number ${asn} is out of range 1..4294967295` });
}

function checkV4(ip: string, field: string, problems: Problem[]): void {
  try {
    if (parseIp(ip).family !== 4) problems.push({ field, message: `${ip} is not an IPv4 address` });
  } catch {
    problems.push({ field, message: `"${ip}" is not an IPv4 address` });
  }
}

function checkV4Throw(ip: string, field: string): void {
  const p: Problem[] = [];
  checkV4(ip, field, p);
  if (p.length) throw new InputError(p);
}

function normPrefix(prefix: string, field: string): string {
  try {
    const c = parseCidr(prefix, { strict: true });
    if (c.family !== 4) throw new Error('only IPv4 unicast is modelled');
    return formatCidr(c);
  } catch (e) {
    throw new InputError({ field, message: `"${prefix}" is not an IPv4 prefix: ${(e as Error).message}` });
  }
}

/** Prefixes in address order, then by length. */
export function sortPrefixes(keys: string[]): string[] {
  const k = (p: string): [number, number] => {
    const [ip, len] = p.split('/');
    return [ipv4N(ip!), Number(len)];
  };
  return keys.map((p) => [p, ...k(p)] as const).sort((a, b) => a[1] - b[1] || a[2] - b[2]).map((x) => x[0]);
}
