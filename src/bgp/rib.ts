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
 * The typed memory of a network's tables: every Rib carves its arrays out of these two, so
 * tables cost no typed-array objects (and no external-memory GC pressure) of their own, and
 * the array objects stay hot. Regions are never freed: a table that grows takes a new one.
 */
export class Slab {
  i32 = new Int32Array(1 << 16);
  f64 = new Float64Array(1 << 14);
  private top32 = 0;
  private top64 = 0;

  /** Start of `n` fresh (zero) Int32 words. */
  alloc32(n: number): number {
    if (this.top32 + n > this.i32.length) {
      let len = this.i32.length * 2;
      while (this.top32 + n > len) len *= 2;
      const b = new Int32Array(len);
      b.set(this.i32);
      this.i32 = b;
    }
    const at = this.top32;
    this.top32 += n;
    return at;
  }

  /** Start of `n` fresh Float64 words. */
  alloc64(n: number): number {
    if (this.top64 + n > this.f64.length) {
      let len = this.f64.length * 2;
      while (this.top64 + n > len) len *= 2;
      const b = new Float64Array(len);
      b.set(this.f64);
      this.f64 = b;
    }
    const at = this.top64;
    this.top64 += n;
    return at;
  }
}

/** Initial sizes; arrays grow fourfold as needed (typed arrays are costly to allocate). */
const INITIAL_SLOTS = 256;
const INITIAL_PIDS = 256;
/** Per prefix: first route, best route, announced route, unused (slots; 0 = none). */
const P_HEAD = 0;
const P_BEST = 1;
const P_ANN = 2;
const PW = 4;
/** Per slot: next route of the prefix (-1 while out of its list), prefix id, route data number, session uid (0 = local). */
const S_NEXT = 0;
const S_PID = 1;
const S_DATA = 2;
const S_SESS = 3;
const SW = 4;

/**
 * Models BIRD's routing table (nest/rt-table.c: per net, the list of rte from each protocol,
 * plus what was last exported). One speaker's routes (its Adj-RIBs-In and local routes) and, per
 * prefix, the best route and the route last announced to peers, in flat arrays: a route is a
 * slot number, so a table of a million routes is a few arrays rather than a million objects,
 * and one prefix's or one route's fields share a cache line.
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
  /** Regions of the slab: prefix records, route records, route times (starts and lengths in words). */
  private ptAt: number;
  private ptLen = INITIAL_PIDS * PW;
  private stAt: number;
  private stLen = INITIAL_SLOTS * SW;
  private sAt: number;
  private sLen = INITIAL_SLOTS;
  /** Export attributes per slot, memoised per export class (only speakers that export fill it). */
  readonly cache = new Map<number, (PathAttributes | null | undefined)[]>();
  private slots = 1;
  private free = 0;

  constructor(
    private readonly sessions: readonly (S | null | undefined)[],
    private readonly store: RouteStore,
    private readonly slab: Slab,
  ) {
    this.ptAt = slab.alloc32(this.ptLen);
    this.stAt = slab.alloc32(this.stLen);
    this.sAt = slab.alloc64(this.sLen);
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
    return this.slab.i32[this.stAt + slot * SW + S_NEXT]!;
  }
  sessUid(slot: number): number {
    return this.slab.i32[this.stAt + slot * SW + S_SESS]!;
  }
  sess(slot: number): S | null {
    return this.sessions[this.slab.i32[this.stAt + slot * SW + S_SESS]!]!;
  }
  data(slot: number): RouteData {
    return this.store.data[this.slab.i32[this.stAt + slot * SW + S_DATA]!]!;
  }
  since(slot: number): number {
    return this.slab.f64[this.sAt + slot]!;
  }

  /** A new route slot (not yet in a list). */
  alloc(pid: number, sessUid: number, d: RouteData, since: number): number {
    let i = this.free;
    if (i !== 0) this.free = this.slab.i32[this.stAt + i * SW + S_NEXT]!;
    else {
      i = this.slots++;
      if (i >= this.sLen) {
        const n = this.sLen * 4;
        const at = this.slab.alloc32(n * SW);
        this.slab.i32.copyWithin(at, this.stAt, this.stAt + this.stLen);
        this.stAt = at;
        this.stLen = n * SW;
        const sat = this.slab.alloc64(n);
        this.slab.f64.copyWithin(sat, this.sAt, this.sAt + this.sLen);
        this.sAt = sat;
        this.sLen = n;
      }
    }
    const st = this.slab.i32;
    const sb = this.stAt;
    const o = i * SW;
    st[sb + o + S_NEXT] = -1;
    st[sb + o + S_PID] = pid;
    st[sb + o + S_DATA] = this.store.hold(d);
    st[sb + o + S_SESS] = sessUid;
    this.slab.f64[this.sAt + i] = since;
    return i;
  }

  /** Puts `slot` in its prefix's list after `prev` (0: first), or in place of `old` (whose predecessor is `prev`) if given. */
  link(slot: number, prev: number, old = 0): void {
    const st = this.slab.i32;
    const sb = this.stAt;
    const pid = st[sb + slot * SW + S_PID]!;
    if (old !== 0) {
      st[sb + slot * SW + S_NEXT] = st[sb + old * SW + S_NEXT]!;
      st[sb + old * SW + S_NEXT] = -1;
    } else st[sb + slot * SW + S_NEXT] = prev === 0 ? this.slab.i32[this.ptAt + pid * PW + P_HEAD]! : st[sb + prev * SW + S_NEXT]!;
    if (prev === 0) this.slab.i32[this.ptAt + pid * PW + P_HEAD] = slot;
    else st[sb + prev * SW + S_NEXT] = slot;
    if (old !== 0) this.release(old);
  }

  /** Takes `slot` (whose predecessor is `prev`, 0 if first) out of its list; frees it unless announced. */
  unlink(slot: number, prev: number): void {
    const st = this.slab.i32;
    const sb = this.stAt;
    const pid = st[sb + slot * SW + S_PID]!;
    const next = st[sb + slot * SW + S_NEXT]!;
    if (prev === 0) this.slab.i32[this.ptAt + pid * PW + P_HEAD] = next;
    else st[sb + prev * SW + S_NEXT] = next;
    st[sb + slot * SW + S_NEXT] = -1;
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
    const sb = this.stAt;
    const o = slot * SW;
    if (st[sb + o + S_NEXT] !== -1 || this.slab.i32[this.ptAt + st[sb + o + S_PID]! * PW + P_ANN] === slot) return;
    this.store.drop(st[sb + o + S_DATA]!);
    st[sb + o + S_DATA] = -1;
    this.cache.delete(slot);
    st[sb + o + S_NEXT] = this.free;
    this.free = slot;
  }

  /** The slot of the route from session `uid` for `pid` (0 if none). */
  find(pid: number, uid: number): number {
    let i = this.slab.i32[this.ptAt + pid * PW + P_HEAD]!;
    while (i !== 0 && this.slab.i32[this.stAt + i * SW + S_SESS] !== uid) i = this.slab.i32[this.stAt + i * SW + S_NEXT]!;
    return i;
  }

  /** The routes of `pid` in arrival order. */
  list(pid: number): number[] {
    const out: number[] = [];
    for (let i = this.head(pid); i !== 0; i = this.next(i)) out.push(i);
    return out;
  }
}
