import type { PathAttributes, UpdateMessage } from './types.js';

/**
 * What a route carries apart from the session it arrived on and when. Every receiver of one
 * UPDATE (all clients of a reflector) shares one object. Immutable but for `id`, the store's bookkeeping.
 */
export interface RouteData {
  readonly prefix: string;
  readonly pid: number;
  readonly attrs: PathAttributes;
  /** Rejected by the import filter: kept for `adjRibIn`, never a candidate. */
  readonly filtered: boolean;
  /** ORIGINATOR_ID, else the router id of the peer it came from, as a number (decision step f). */
  readonly idN: number;
  /** BIRD protocol name of a local route; null for a learned one (its session's name). */
  readonly local: string | null;
  /** The UPDATE it was decoded from (null: local, or changed by an import filter). */
  readonly from: UpdateMessage | null;
  /** Index in the network's RouteStore while some table holds it, else -1. */
  id: number;
}

/**
 * The route data held by a network's tables, by number (a route slot names its data by it), with
 * a count of the slots naming each; an entry is reused once no slot names it.
 */
export class RouteStore {
  readonly data: (RouteData | undefined)[] = [];
  private refs: number[] = [];
  private freeIds: number[] = [];

  /** The number of `d`, counting one more slot naming it. */
  hold(d: RouteData): number {
    let id = d.id;
    if (id < 0) {
      id = this.freeIds.pop() ?? this.data.length;
      d.id = id;
      this.data[id] = d;
      this.refs[id] = 0;
    }
    this.refs[id]!++;
    return id;
  }

  /** One slot fewer names data `id`. */
  drop(id: number): void {
    if (--this.refs[id]! > 0) return;
    this.data[id]!.id = -1;
    this.data[id] = undefined;
    this.freeIds.push(id);
  }

  /** Entries in use (for tests). */
  get live(): number {
    return this.data.length - this.freeIds.length;
  }
}

/**
 * The typed memory of a network's tables: every Rib carves its records out of one Int32Array,
 * so tables cost no typed-array objects (and no external-memory GC pressure) of their own, and
 * the array object stays hot. Regions are never freed: a table that grows takes a new one.
 */
export class Slab {
  i32 = new Int32Array(1 << 16);
  private top = 0;

  /** Start of `n` fresh (zero) words. */
  alloc32(n: number): number {
    if (this.top + n > this.i32.length) {
      let len = this.i32.length * 2;
      while (this.top + n > len) len *= 2;
      const b = new Int32Array(len);
      b.set(this.i32);
      this.i32 = b;
    }
    const at = this.top;
    this.top += n;
    return at;
  }
}

/** Initial size of a table's prefix records; they grow fourfold as needed (copying). */
const INITIAL_PIDS = 64;
const INITIAL_POOL = 64;
/**
 * A prefix record is 16 words (64 bytes): first route, best route, announced route (slots; 0 =
 * none), which inline route records are taken (bits 0..2), then three inline route records. A
 * prefix's first three routes live in its own record, so a receiver that adds or replaces a
 * route touches one cache line; more routes (or one kept only because it is announced) go to
 * the table's pool.
 */
const PW = 16;
const P_HEAD = 0;
const P_BEST = 1;
const P_ANN = 2;
const P_USED = 3;
/** Where the inline route records start, and their size in words. */
const P_REC = 4;
const RW = 4;
/** A route record: next route of the prefix (-1 while out of its list), route data number, session uid (0 = local), time (ms; see SINCE_X). */
const R_NEXT = 0;
const R_DATA = 1;
const R_SESS = 2;
const R_SINCE = 3;
/** A pool record: a route record plus its prefix id, 8 words. */
const R_PID = 4;
const QW = 8;
/** Slots ≥ POOL are pool records (slot − POOL); below, inline record j of prefix p is slot 4p + 1 + j. */
const POOL = 1 << 30;
/** R_SINCE of a time that is not a small integer: the time is in `sinceX`. */
const SINCE_X = -0x80000000;

/**
 * Models BIRD's routing table (nest/rt-table.c: per net, the list of rte from each protocol,
 * plus what was last exported). One speaker's routes (its Adj-RIBs-In and local routes) and, per
 * prefix, the best route and the route last announced to peers, in flat arrays: a route is a
 * slot number, so a table of a million routes is a few arrays rather than a million objects.
 *
 * The routes of one prefix form a list in arrival order (`head`, `next`), the order BIRD's
 * decision runs in. A slot stays valid while it is in its list or is the prefix's announced
 * route (`ann`): a withdrawn best route is still what peers were told until the export round,
 * and two slots are the same route exactly when their numbers are equal.
 *
 * Sessions are named by a uid ≥ 1 that indexes `sessions` (shared by the speakers of a network);
 * uid 0 is a local route, whose session reads as null.
 */
export class Rib<S extends object> {
  /** Regions of the slab: prefix records, pool records (starts and lengths in words). */
  private ptAt: number;
  private ptLen = INITIAL_PIDS * PW;
  private qAt: number;
  private qLen = INITIAL_POOL * QW;
  /** Times of routes that are not small integers, by slot. */
  private readonly sinceX = new Map<number, number>();
  /** Export attributes per slot, memoised per export class (only speakers that export fill it). */
  readonly cache = new Map<number, (PathAttributes | null | undefined)[]>();
  /** Pool records used so far (record 0 is never used), and the first free one (0: none). */
  private pooled = 1;
  private free = 0;

  constructor(
    private readonly sessions: readonly (S | null | undefined)[],
    private readonly store: RouteStore,
    private readonly slab: Slab,
  ) {
    this.ptAt = slab.alloc32(this.ptLen);
    this.qAt = slab.alloc32(this.qLen);
  }

  /** Prefix ids with room (iterate 0..size-1). */
  get size(): number {
    return this.ptLen / PW;
  }

  /** Makes room for prefix id `pid`. */
  reserve(pid: number): void {
    if (pid * PW < this.ptLen) return;
    let n = this.ptLen * 4;
    while (n <= pid * PW) n *= 2;
    const at = this.slab.alloc32(n);
    this.slab.i32.copyWithin(at, this.ptAt, this.ptAt + this.ptLen);
    this.ptAt = at;
    this.ptLen = n;
  }

  /** Word address of route slot `slot`'s record. */
  private at(slot: number): number {
    if (slot < POOL) {
      const k = slot - 1;
      return this.ptAt + (k >> 2) * PW + P_REC + (k & 3) * RW;
    }
    return this.qAt + (slot - POOL) * QW;
  }

  head(pid: number): number {
    return this.slab.i32[this.ptAt + pid * PW + P_HEAD]!;
  }
  best(pid: number): number {
    return this.slab.i32[this.ptAt + pid * PW + P_BEST]!;
  }
  ann(pid: number): number {
    return this.slab.i32[this.ptAt + pid * PW + P_ANN]!;
  }
  setBest(pid: number, slot: number): void {
    this.slab.i32[this.ptAt + pid * PW + P_BEST] = slot;
  }
  next(slot: number): number {
    return this.slab.i32[this.at(slot) + R_NEXT]!;
  }
  sessUid(slot: number): number {
    return this.slab.i32[this.at(slot) + R_SESS]!;
  }
  sess(slot: number): S | null {
    return this.sessions[this.slab.i32[this.at(slot) + R_SESS]!]!;
  }
  data(slot: number): RouteData {
    return this.store.data[this.slab.i32[this.at(slot) + R_DATA]!]!;
  }
  since(slot: number): number {
    const t = this.slab.i32[this.at(slot) + R_SINCE]!;
    return t === SINCE_X ? this.sinceX.get(slot)! : t;
  }
  private pidOf(slot: number): number {
    return slot < POOL ? (slot - 1) >> 2 : this.slab.i32[this.qAt + (slot - POOL) * QW + R_PID]!;
  }

  /** A new route slot (not yet in a list). */
  alloc(pid: number, sessUid: number, d: RouteData, since: number): number {
    const pa = this.ptAt + pid * PW;
    const used = this.slab.i32[pa + P_USED]!;
    let slot: number;
    if (used !== 7) {
      const j = (used & 1) === 0 ? 0 : (used & 2) === 0 ? 1 : 2;
      this.slab.i32[pa + P_USED] = used | (1 << j);
      slot = pid * 4 + 1 + j;
    } else {
      let k = this.free;
      if (k !== 0) this.free = this.slab.i32[this.qAt + k * QW + R_NEXT]!;
      else {
        k = this.pooled++;
        if (k * QW >= this.qLen) {
          const n = this.qLen * 4;
          const at = this.slab.alloc32(n);
          this.slab.i32.copyWithin(at, this.qAt, this.qAt + this.qLen);
          this.qAt = at;
          this.qLen = n;
        }
      }
      this.slab.i32[this.qAt + k * QW + R_PID] = pid;
      slot = POOL + k;
    }
    const st = this.slab.i32;
    const o = this.at(slot);
    st[o + R_NEXT] = -1;
    st[o + R_DATA] = this.store.hold(d);
    st[o + R_SESS] = sessUid;
    if ((since | 0) === since && since !== SINCE_X) st[o + R_SINCE] = since;
    else {
      st[o + R_SINCE] = SINCE_X;
      this.sinceX.set(slot, since);
    }
    return slot;
  }

  /** Puts `slot` in its prefix's list after `prev` (0: first), or in place of `old` (whose predecessor is `prev`) if given. */
  link(slot: number, prev: number, old = 0): void {
    const st = this.slab.i32;
    const o = this.at(slot);
    const ph = this.ptAt + this.pidOf(slot) * PW + P_HEAD;
    if (old !== 0) {
      const oo = this.at(old);
      st[o + R_NEXT] = st[oo + R_NEXT]!;
      st[oo + R_NEXT] = -1;
    } else st[o + R_NEXT] = prev === 0 ? st[ph]! : st[this.at(prev) + R_NEXT]!;
    if (prev === 0) st[ph] = slot;
    else st[this.at(prev) + R_NEXT] = slot;
    if (old !== 0) this.release(old);
  }

  /** Takes `slot` (whose predecessor is `prev`, 0 if first) out of its list; frees it unless announced. */
  unlink(slot: number, prev: number): void {
    const st = this.slab.i32;
    const o = this.at(slot);
    const next = st[o + R_NEXT]!;
    if (prev === 0) st[this.ptAt + this.pidOf(slot) * PW + P_HEAD] = next;
    else st[this.at(prev) + R_NEXT] = next;
    st[o + R_NEXT] = -1;
    this.release(slot);
  }

  /** Sets the announced route of `pid`; the previous one is freed if it left its list. */
  setAnn(pid: number, slot: number): void {
    const old = this.slab.i32[this.ptAt + pid * PW + P_ANN]!;
    if (old === slot) return;
    this.slab.i32[this.ptAt + pid * PW + P_ANN] = slot;
    if (old !== 0) this.release(old);
  }

  /** Sets the announced route of `pid`, keeping the previous one: the caller releases it. */
  replaceAnn(pid: number, slot: number): void {
    this.slab.i32[this.ptAt + pid * PW + P_ANN] = slot;
  }

  /** Frees `slot` if nothing refers to it any more. */
  release(slot: number): void {
    const st = this.slab.i32;
    const o = this.at(slot);
    const pid = this.pidOf(slot);
    const pa = this.ptAt + pid * PW;
    if (st[o + R_NEXT] !== -1 || st[pa + P_ANN] === slot) return;
    this.store.drop(st[o + R_DATA]!);
    st[o + R_DATA] = -1;
    if (st[o + R_SINCE] === SINCE_X) this.sinceX.delete(slot);
    this.cache.delete(slot);
    if (slot < POOL) st[pa + P_USED] = st[pa + P_USED]! & ~(1 << ((slot - 1) & 3));
    else {
      st[o + R_NEXT] = this.free;
      this.free = slot - POOL;
    }
  }

  /** The slot of the route from session `uid` for `pid` (0 if none). */
  find(pid: number, uid: number): number {
    let i = this.head(pid);
    while (i !== 0 && this.sessUid(i) !== uid) i = this.next(i);
    return i;
  }

  /** The routes of `pid` in arrival order. */
  list(pid: number): number[] {
    const out: number[] = [];
    for (let i = this.head(pid); i !== 0; i = this.next(i)) out.push(i);
    return out;
  }
}
