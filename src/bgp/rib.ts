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
  private pt = new Int32Array(INITIAL_PIDS * PW);
  private st = new Int32Array(INITIAL_SLOTS * SW);
  private sinceArr = new Float64Array(INITIAL_SLOTS);
  /** Export attributes per slot, memoised per export class (only speakers that export fill it). */
  readonly cache = new Map<number, (PathAttributes | null | undefined)[]>();
  private slots = 1;
  private free = 0;

  constructor(
    private readonly sessions: readonly (S | null | undefined)[],
    private readonly store: RouteStore,
  ) {}

  /** Prefix ids with room (iterate 0..size-1). */
  get size(): number {
    return this.pt.length / PW;
  }

  /** Makes room for prefix id `pid`. */
  reserve(pid: number): void {
    if (pid * PW < this.pt.length) return;
    let n = this.pt.length * 4;
    while (n <= pid * PW) n *= 2;
    this.pt = grow(this.pt, n);
  }

  head(pid: number): number {
    return this.pt[pid * PW + P_HEAD]!;
  }
  best(pid: number): number {
    return this.pt[pid * PW + P_BEST]!;
  }
  ann(pid: number): number {
    return this.pt[pid * PW + P_ANN]!;
  }
  setBest(pid: number, slot: number): void {
    this.pt[pid * PW + P_BEST] = slot;
  }
  next(slot: number): number {
    return this.st[slot * SW + S_NEXT]!;
  }
  sessUid(slot: number): number {
    return this.st[slot * SW + S_SESS]!;
  }
  sess(slot: number): S | null {
    return this.sessions[this.st[slot * SW + S_SESS]!]!;
  }
  data(slot: number): RouteData {
    return this.store.data[this.st[slot * SW + S_DATA]!]!;
  }
  since(slot: number): number {
    return this.sinceArr[slot]!;
  }

  /** A new route slot (not yet in a list). */
  alloc(pid: number, sessUid: number, d: RouteData, since: number): number {
    let i = this.free;
    if (i !== 0) this.free = this.st[i * SW + S_NEXT]!;
    else {
      i = this.slots++;
      if (i >= this.sinceArr.length) {
        const n = this.sinceArr.length * 4;
        this.st = grow(this.st, n * SW);
        this.sinceArr = grow(this.sinceArr, n);
      }
    }
    const st = this.st;
    const o = i * SW;
    st[o + S_NEXT] = -1;
    st[o + S_PID] = pid;
    st[o + S_DATA] = this.store.hold(d);
    st[o + S_SESS] = sessUid;
    this.sinceArr[i] = since;
    return i;
  }

  /** Puts `slot` in its prefix's list after `prev` (0: first), or in place of `old` (whose predecessor is `prev`) if given. */
  link(slot: number, prev: number, old = 0): void {
    const st = this.st;
    const pid = st[slot * SW + S_PID]!;
    if (old !== 0) {
      st[slot * SW + S_NEXT] = st[old * SW + S_NEXT]!;
      st[old * SW + S_NEXT] = -1;
    } else st[slot * SW + S_NEXT] = prev === 0 ? this.pt[pid * PW + P_HEAD]! : st[prev * SW + S_NEXT]!;
    if (prev === 0) this.pt[pid * PW + P_HEAD] = slot;
    else st[prev * SW + S_NEXT] = slot;
    if (old !== 0) this.release(old);
  }

  /** Takes `slot` (whose predecessor is `prev`, 0 if first) out of its list; frees it unless announced. */
  unlink(slot: number, prev: number): void {
    const st = this.st;
    const pid = st[slot * SW + S_PID]!;
    const next = st[slot * SW + S_NEXT]!;
    if (prev === 0) this.pt[pid * PW + P_HEAD] = next;
    else st[prev * SW + S_NEXT] = next;
    st[slot * SW + S_NEXT] = -1;
    this.release(slot);
  }

  /** Sets the announced route of `pid`; the previous one is freed if it left its list. */
  setAnn(pid: number, slot: number): void {
    const old = this.pt[pid * PW + P_ANN]!;
    if (old === slot) return;
    this.pt[pid * PW + P_ANN] = slot;
    if (old !== 0) this.release(old);
  }

  /** Sets the announced route of `pid`, keeping the previous one: the caller releases it. */
  replaceAnn(pid: number, slot: number): void {
    this.pt[pid * PW + P_ANN] = slot;
  }

  /** Frees `slot` if nothing refers to it any more. */
  release(slot: number): void {
    const st = this.st;
    const o = slot * SW;
    if (st[o + S_NEXT] !== -1 || this.pt[st[o + S_PID]! * PW + P_ANN] === slot) return;
    this.store.drop(st[o + S_DATA]!);
    st[o + S_DATA] = -1;
    this.cache.delete(slot);
    st[o + S_NEXT] = this.free;
    this.free = slot;
  }

  /** The slot of the route from session `uid` for `pid` (0 if none). */
  find(pid: number, uid: number): number {
    let i = this.pt[pid * PW + P_HEAD]!;
    while (i !== 0 && this.st[i * SW + S_SESS] !== uid) i = this.st[i * SW + S_NEXT]!;
    return i;
  }

  /** The routes of `pid` in arrival order. */
  list(pid: number): number[] {
    const out: number[] = [];
    for (let i = this.head(pid); i !== 0; i = this.next(i)) out.push(i);
    return out;
  }
}

function grow<T extends Float64Array | Int32Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
