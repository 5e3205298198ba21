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
const INITIAL_POOL = 64;

/** Where inline route slot `slot`'s record starts in its prefix record (words). */
function inlineRec(slot: number): number {
  return P_REC + ((slot - 1) & 3) * RW;
}

/** The first free inline record of a prefix whose taken ones are `used` (bits 0..2, not all set). */
function freeInline(used: number): number {
  return (used & 1) === 0 ? 0 : (used & 2) === 0 ? 1 : 2;
}

/**
 * The prefix records of a network's tables, kept by prefix: one column (an Int32Array) per
 * prefix id holds that prefix's record of every table, in table order. An UPDATE a reflector
 * sends to all its clients is received by each client's table at the same prefix, one after the
 * other: with this layout those records are neighbours in memory, not a table's size apart.
 */
export class Slab {
  /** Per prefix id, its column. */
  readonly cols: Int32Array[] = [];
  /** Records a column has room for, and tables so far. */
  private cap = 16;
  private tables = 0;

  /** A new table's index (its record's place in every column). */
  addTable(): number {
    const k = this.tables++;
    if (k >= this.cap) {
      const cap = this.cap * 2;
      for (let pid = 0; pid < this.cols.length; pid++) {
        const c = new Int32Array(cap * PW);
        c.set(this.cols[pid]!);
        this.cols[pid] = c;
      }
      this.cap = cap;
    }
    return k;
  }

  /** Makes columns for prefix ids up to `pid`. */
  reserve(pid: number): void {
    while (this.cols.length <= pid) this.cols.push(new Int32Array(this.cap * PW));
  }
}

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
  /** Offset of this table's record in a column (words). */
  private readonly off: number;
  /** This table's pool records. */
  private pool = new Int32Array(INITIAL_POOL * QW);
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
    this.off = slab.addTable() * PW;
  }

  /** Prefix ids with room (iterate 0..size-1). */
  get size(): number {
    return this.slab.cols.length;
  }

  /** Makes room for prefix id `pid`. */
  reserve(pid: number): void {
    if (pid >= this.slab.cols.length) this.slab.reserve(pid);
  }

  /** The array holding route slot `slot`'s record (see at). */
  private arr(slot: number): Int32Array {
    return slot < POOL ? this.slab.cols[(slot - 1) >> 2]! : this.pool;
  }

  /** Where route slot `slot`'s record starts in its array. */
  private at(slot: number): number {
    return slot < POOL ? this.off + inlineRec(slot) : (slot - POOL) * QW;
  }

  head(pid: number): number {
    return this.slab.cols[pid]![this.off + P_HEAD]!;
  }
  best(pid: number): number {
    return this.slab.cols[pid]![this.off + P_BEST]!;
  }
  ann(pid: number): number {
    return this.slab.cols[pid]![this.off + P_ANN]!;
  }
  setBest(pid: number, slot: number): void {
    this.slab.cols[pid]![this.off + P_BEST] = slot;
  }
  next(slot: number): number {
    return this.arr(slot)[this.at(slot) + R_NEXT]!;
  }
  sessUid(slot: number): number {
    return this.arr(slot)[this.at(slot) + R_SESS]!;
  }
  sess(slot: number): S | null {
    return this.sessions[this.arr(slot)[this.at(slot) + R_SESS]!]!;
  }
  data(slot: number): RouteData {
    return this.store.data[this.arr(slot)[this.at(slot) + R_DATA]!]!;
  }
  since(slot: number): number {
    const t = this.arr(slot)[this.at(slot) + R_SINCE]!;
    return t === SINCE_X ? this.sinceX.get(slot)! : t;
  }
  private pidOf(slot: number): number {
    return slot < POOL ? (slot - 1) >> 2 : this.pool[(slot - POOL) * QW + R_PID]!;
  }

  /** A new route slot (not yet in a list). */
  alloc(pid: number, sessUid: number, d: RouteData, since: number): number {
    const col = this.slab.cols[pid]!;
    const pa = this.off;
    const used = col[pa + P_USED]!;
    let st: Int32Array;
    let o: number;
    let slot: number;
    if (used !== 7) {
      const j = freeInline(used);
      col[pa + P_USED] = used | (1 << j);
      slot = pid * 4 + 1 + j;
      st = col;
      o = pa + P_REC + j * RW;
    } else {
      let k = this.free;
      if (k !== 0) this.free = this.pool[k * QW + R_NEXT]!;
      else {
        k = this.pooled++;
        if (k * QW >= this.pool.length) {
          const q = new Int32Array(this.pool.length * 4);
          q.set(this.pool);
          this.pool = q;
        }
      }
      st = this.pool;
      o = k * QW;
      st[o + R_PID] = pid;
      slot = POOL + k;
    }
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

  /** Set by `add`: the data of the route the new one replaced (undefined: it was appended). */
  replaced: RouteData | undefined;

  /**
   * Session `uid`'s route `d` for `pid`, received at `since`: a new slot in place of the
   * session's current route (same position in arrival order) if it has one, else last (find,
   * alloc and link at once). The replaced route's data is in `replaced`.
   */
  add(pid: number, uid: number, d: RouteData, since: number): number {
    const col = this.slab.cols[pid]!;
    const off = this.off;
    const used = col[off + P_USED]!;
    if (used === 7 || (since | 0) !== since || since === SINCE_X) return this.addSlow(pid, uid, d, since);
    // Every route of the prefix in its record (the usual case): one array, no pool.
    let prev = 0;
    let old = col[off + P_HEAD]!;
    while (old !== 0) {
      if (old >= POOL) return this.addSlow(pid, uid, d, since);
      const oo = off + inlineRec(old);
      if (col[oo + R_SESS] === uid) break;
      prev = old;
      old = col[oo + R_NEXT]!;
    }
    const j = freeInline(used);
    col[off + P_USED] = used | (1 << j);
    const slot = pid * 4 + 1 + j;
    const o = off + P_REC + j * RW;
    col[o + R_DATA] = this.store.hold(d);
    col[o + R_SESS] = uid;
    col[o + R_SINCE] = since;
    let next = 0;
    if (old !== 0) {
      const oo = off + inlineRec(old);
      this.replaced = this.store.data[col[oo + R_DATA]!]!;
      next = col[oo + R_NEXT]!;
      col[oo + R_NEXT] = -1;
    } else this.replaced = undefined;
    col[o + R_NEXT] = next;
    if (prev === 0) col[off + P_HEAD] = slot;
    else col[off + inlineRec(prev) + R_NEXT] = slot;
    if (old !== 0) this.release(old);
    return slot;
  }

  /** add, in general (pool slots, or a time that is not a small integer). */
  private addSlow(pid: number, uid: number, d: RouteData, since: number): number {
    let prev = 0;
    let old = this.head(pid);
    while (old !== 0 && this.sessUid(old) !== uid) {
      prev = old;
      old = this.next(old);
    }
    const r = this.alloc(pid, uid, d, since);
    this.replaced = old !== 0 ? this.data(old) : undefined;
    this.link(r, prev, old);
    return r;
  }

  /** Sets the next route of `slot` (0: the prefix's first route, for `pid`). */
  private setNext(slot: number, pid: number, next: number): void {
    if (slot === 0) this.slab.cols[pid]![this.off + P_HEAD] = next;
    else this.arr(slot)[this.at(slot) + R_NEXT] = next;
  }

  /** Puts `slot` in its prefix's list after `prev` (0: first), or in place of `old` (whose predecessor is `prev`) if given. */
  link(slot: number, prev: number, old = 0): void {
    const pid = this.pidOf(slot);
    let next: number;
    if (old !== 0) {
      next = this.next(old);
      this.arr(old)[this.at(old) + R_NEXT] = -1;
    } else next = prev === 0 ? this.head(pid) : this.next(prev);
    this.arr(slot)[this.at(slot) + R_NEXT] = next;
    this.setNext(prev, pid, slot);
    if (old !== 0) this.release(old);
  }

  /** Takes `slot` (whose predecessor is `prev`, 0 if first) out of its list; frees it unless announced. */
  unlink(slot: number, prev: number): void {
    const st = this.arr(slot);
    const o = this.at(slot);
    this.setNext(prev, this.pidOf(slot), st[o + R_NEXT]!);
    st[o + R_NEXT] = -1;
    this.release(slot);
  }

  /** Sets the announced route of `pid`; the previous one is freed if it left its list. */
  setAnn(pid: number, slot: number): void {
    const col = this.slab.cols[pid]!;
    const old = col[this.off + P_ANN]!;
    if (old === slot) return;
    col[this.off + P_ANN] = slot;
    if (old !== 0) this.release(old);
  }

  /** Sets the announced route of `pid`, keeping the previous one: the caller releases it. */
  replaceAnn(pid: number, slot: number): void {
    this.slab.cols[pid]![this.off + P_ANN] = slot;
  }

  /** Frees `slot` if nothing refers to it any more. */
  release(slot: number): void {
    const st = this.arr(slot);
    const o = this.at(slot);
    const col = this.slab.cols[this.pidOf(slot)]!;
    if (st[o + R_NEXT] !== -1 || col[this.off + P_ANN] === slot) return;
    this.store.drop(st[o + R_DATA]!);
    st[o + R_DATA] = -1;
    if (st[o + R_SINCE] === SINCE_X) this.sinceX.delete(slot);
    this.cache.delete(slot);
    if (slot < POOL) col[this.off + P_USED] = col[this.off + P_USED]! & ~(1 << ((slot - 1) & 3));
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
