import type { PathAttributes, UpdateMessage } from './types.js';

/**
 * What a route carries apart from the session it arrived on and when. Every receiver of one
 * UPDATE (all clients of a reflector) shares one object. Immutable.
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
}

/**
 * One speaker's routes (its Adj-RIBs-In and local routes, what BIRD keeps in its table) and, per
 * prefix, the best route and the route last announced to peers, in flat arrays: a route is a
 * slot number, so a table of a million routes is a few arrays rather than a million objects.
 *
 * The routes of one prefix form a list in arrival order (`head`, `next`), the order BIRD's
 * decision runs in. A slot stays valid while it is in its list or is the prefix's announced
 * route (`ann`): a withdrawn best route is still what peers were told until the export round,
 * and two slots are the same route exactly when their numbers are equal.
 *
 * `S` is the session type (null for a local route).
 */
export class Rib<S extends object> {
  /** Per slot (slot 0 is never used: 0 means none); arrays grow by doubling. */
  sess: (S | null | undefined)[] = new Array<S | null | undefined>(INITIAL_SLOTS);
  data: (RouteData | undefined)[] = new Array<RouteData | undefined>(INITIAL_SLOTS);
  since = new Float64Array(INITIAL_SLOTS);
  next = new Int32Array(INITIAL_SLOTS);
  pidOf = new Int32Array(INITIAL_SLOTS);
  /** 1 while the slot is in its prefix's list. */
  linked = new Uint8Array(INITIAL_SLOTS);
  /** Export attributes per slot, memoised per export class (only speakers that export fill it). */
  readonly cache = new Map<number, (PathAttributes | null | undefined)[]>();
  /** Per prefix id: first route, best route, announced route (slots; 0 = none). */
  head = new Int32Array(INITIAL_PIDS);
  best = new Int32Array(INITIAL_PIDS);
  ann = new Int32Array(INITIAL_PIDS);
  private slots = 1;
  private free = 0;
  /** Routes in lists (for tests and views). */
  count = 0;

  /** Makes room for prefix id `pid`. */
  reserve(pid: number): void {
    if (pid < this.head.length) return;
    let n = this.head.length * 2;
    while (n <= pid) n *= 2;
    this.head = grow(this.head, n);
    this.best = grow(this.best, n);
    this.ann = grow(this.ann, n);
  }

  /** Prefix ids with room in the per-prefix arrays (iterate 0..size-1). */
  get size(): number {
    return this.head.length;
  }

  /** A new route slot (not yet in a list). */
  alloc(pid: number, s: S | null, d: RouteData, since: number): number {
    let i = this.free;
    if (i !== 0) this.free = this.next[i]!;
    else {
      i = this.slots++;
      if (i >= this.since.length) {
        const n = this.since.length * 2;
        this.since = grow(this.since, n);
        this.next = grow(this.next, n);
        this.pidOf = grow(this.pidOf, n);
        this.linked = grow(this.linked, n);
        this.sess = growArray(this.sess, n);
        this.data = growArray(this.data, n);
      }
    }
    this.sess[i] = s;
    this.data[i] = d;
    this.since[i] = since;
    this.next[i] = 0;
    this.pidOf[i] = pid;
    return i;
  }

  /** Puts `slot` in its prefix's list after `prev` (0: first), or in place of `old` if given. */
  link(slot: number, prev: number, old = 0): void {
    const pid = this.pidOf[slot]!;
    if (old !== 0) {
      this.next[slot] = this.next[old]!;
      this.unlinkAfter(old, prev);
    } else this.next[slot] = prev === 0 ? this.head[pid]! : this.next[prev]!;
    if (prev === 0) this.head[pid] = slot;
    else this.next[prev] = slot;
    this.linked[slot] = 1;
    this.count++;
  }

  /** Takes `slot` (whose predecessor is `prev`, 0 if first) out of its list; frees it unless announced. */
  unlink(slot: number, prev: number): void {
    const pid = this.pidOf[slot]!;
    if (prev === 0) this.head[pid] = this.next[slot]!;
    else this.next[prev] = this.next[slot]!;
    this.unlinkAfter(slot, prev);
  }

  private unlinkAfter(slot: number, _prev: number): void {
    this.linked[slot] = 0;
    this.count--;
    this.release(slot);
  }

  /** Sets the announced route of `pid`; the previous one is freed if it left its list. */
  setAnn(pid: number, slot: number): void {
    const old = this.ann[pid]!;
    if (old === slot) return;
    this.ann[pid] = slot;
    if (old !== 0) this.release(old);
  }

  /** Frees `slot` if nothing refers to it any more. */
  release(slot: number): void {
    if (this.linked[slot] === 1 || this.ann[this.pidOf[slot]!] === slot) return;
    this.sess[slot] = undefined;
    this.data[slot] = undefined;
    this.cache.delete(slot);
    this.next[slot] = this.free;
    this.free = slot;
  }

  /** The slot of `s`'s route for `pid` (0 if none). */
  find(pid: number, s: S | null): number {
    let i = this.head[pid]!;
    while (i !== 0 && this.sess[i] !== s) i = this.next[i]!;
    return i;
  }

  /** The slot before `slot` in its list (0 if it is first). */
  prevOf(slot: number): number {
    let p = 0;
    let i = this.head[this.pidOf[slot]!]!;
    while (i !== slot) {
      p = i;
      i = this.next[i]!;
    }
    return p;
  }

  /** The routes of `pid` in arrival order. */
  list(pid: number): number[] {
    const out: number[] = [];
    for (let i = this.head[pid]!; i !== 0; i = this.next[i]!) out.push(i);
    return out;
  }
}

/** Initial sizes; arrays double as needed. */
const INITIAL_SLOTS = 64;
const INITIAL_PIDS = 64;

function growArray<T>(a: T[], n: number): T[] {
  const b = new Array<T>(n);
  for (let i = 0; i < a.length; i++) b[i] = a[i]!;
  return b;
}

function grow<T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
