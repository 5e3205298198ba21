/**
 * ClusterStore: the objects of one cluster, by kind and key, with a resourceVersion counter and
 * watch events, as the API server and an informer cache present them to controllers.
 * Models the contract of k8s.io/apiserver's storage + watch cache: every accepted write bumps
 * the store-wide resourceVersion and is delivered to watchers in order; a write that changes
 * nothing is a no-op (no event, no new version), as an unchanged update is.
 */
import { InputError, type Problem } from '../base/index.js';
import { KINDS, objectKey, type KubeKind, type KubeObject, type ObjectOfKind } from './objects.js';
import { isKubeKind, validateObject } from './spec/object-schema.js';
import { formatPath } from './spec/schema.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  readonly type: WatchEventType;
  /** The object after the change (for DELETED: as it was last stored). */
  readonly object: KubeObject;
  /** The store's resourceVersion after this change. */
  readonly resourceVersion: number;
}

export type WatchListener = (event: WatchEvent) => void;

/** Writes collected by `transaction`; applied all together or not at all. */
export interface StoreTransaction {
  apply(obj: KubeObject): void;
  delete(kind: KubeKind, key: string): void;
  get<K extends KubeKind>(kind: K, key: string): ObjectOfKind<K> | undefined;
}

export interface TransactionOptions {
  /** Skip validation: the caller validated every object itself, with file and line (the loader). */
  readonly trusted?: boolean;
  /**
   * Store the very objects passed to `apply`, not copies: the caller made them for this write and
   * will not touch them again (the loader, a controller building fresh objects). Without it every
   * applied object is copied, so a caller changing its object later cannot change the store.
   */
  readonly adopt?: boolean;
}

/**
 * A deep copy of a Kubernetes object (plain JSON data: maps, lists, strings, numbers, booleans,
 * null). Much faster than structuredClone for the many small objects of a cluster.
 */
export function cloneObject<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = cloneObject(v[i] as unknown);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const k in v as Record<string, unknown>) {
    const x = (v as Record<string, unknown>)[k];
    out[k] = x !== null && typeof x === 'object' ? cloneObject(x) : x;
  }
  return out as T;
}

type Op = { op: 'apply'; obj: KubeObject } | { op: 'delete'; kind: KubeKind; key: string };

export class ClusterStore {
  private readonly byKind = new Map<KubeKind, Map<string, KubeObject>>(KINDS.map((k) => [k, new Map()]));
  /** Sorted lists per kind and per (kind, namespace), rebuilt lazily after a change of that kind. */
  private readonly sorted = new Map<KubeKind, { all: KubeObject[]; byNs: Map<string, KubeObject[]> }>();
  private readonly listeners: WatchListener[] = [];
  private readonly queue: WatchEvent[] = [];
  private dispatching = false;
  private rv = 0;

  /** The store-wide resourceVersion: the number of accepted changes so far. */
  get resourceVersion(): number {
    return this.rv;
  }

  get<K extends KubeKind>(kind: K, key: string): ObjectOfKind<K> | undefined {
    return this.byKind.get(kind)!.get(key) as ObjectOfKind<K> | undefined;
  }

  /** Objects of one kind in key order (namespace/name), so every consumer sees the same order. */
  list<K extends KubeKind>(kind: K, opts: { namespace?: string } = {}): ObjectOfKind<K>[] {
    let c = this.sorted.get(kind);
    if (!c) {
      const all = [...this.byKind.get(kind)!.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
      const byNs = new Map<string, KubeObject[]>();
      for (const o of all) {
        const ns = o.metadata.namespace ?? 'default';
        let l = byNs.get(ns);
        if (!l) byNs.set(ns, (l = []));
        l.push(o);
      }
      c = { all, byNs };
      this.sorted.set(kind, c);
    }
    const out = opts.namespace === undefined ? c.all : (c.byNs.get(opts.namespace) ?? []);
    return [...out] as ObjectOfKind<K>[];
  }

  /** Number of objects of one kind. */
  count(kind: KubeKind): number {
    return this.byKind.get(kind)!.size;
  }

  /**
   * Subscribes to changes. Events are delivered synchronously after each write, in order; a
   * listener that writes (a controller) has its events queued behind the current one.
   * Returns the unsubscribe function.
   */
  watch(listener: WatchListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Creates or replaces one object (validated first; an invalid object changes nothing). */
  apply(obj: KubeObject): WatchEvent | undefined {
    return this.transaction((tx) => tx.apply(obj))[0];
  }

  /** Deletes one object; deleting an absent object is an InputError. */
  delete(kind: KubeKind, key: string): WatchEvent | undefined {
    return this.transaction((tx) => tx.delete(kind, key))[0];
  }

  /**
   * Runs `fn` to collect writes, validates all of them, then applies them all; on any problem
   * (or an exception from `fn`) nothing changes. Returns the events the writes produced.
   * `trusted` skips validation, for callers that validated every object themselves (the loader);
   * `adopt` stores the objects given instead of copies (see TransactionOptions).
   */
  transaction(fn: (tx: StoreTransaction) => void, opts: TransactionOptions = {}): WatchEvent[] {
    const ops: Op[] = [];
    const staged = new Map<string, KubeObject | null>();
    const sk = (kind: string, key: string) => `${kind}\u0000${key}`;
    const tx: StoreTransaction = {
      apply: (obj) => {
        const o = opts.adopt ? obj : cloneObject(obj);
        ops.push({ op: 'apply', obj: o });
        if (o && typeof o === 'object' && typeof o.kind === 'string' && o.metadata && typeof o.metadata.name === 'string') staged.set(sk(o.kind, objectKey(o)), o);
      },
      delete: (kind, key) => {
        ops.push({ op: 'delete', kind, key });
        staged.set(sk(kind, key), null);
      },
      get: <K extends KubeKind>(kind: K, key: string) => {
        const s = staged.get(sk(kind, key));
        if (s !== undefined) return (s ?? undefined) as ObjectOfKind<K> | undefined;
        return this.get(kind, key);
      },
    };
    fn(tx);
    // `trusted`: the loader has already validated every object (with file and line); skip the repeat.
    const problems = opts.trusted ? [] : this.check(ops);
    if (problems.length > 0) throw new InputError(problems);
    const events: WatchEvent[] = [];
    for (const op of ops) {
      const ev = op.op === 'apply' ? this.put(op.obj) : this.remove(op.kind, op.key);
      if (ev) events.push(ev);
    }
    this.emit(events);
    return events;
  }

  private check(ops: readonly Op[]): Problem[] {
    const problems: Problem[] = [];
    const exists = new Map<string, boolean>();
    ops.forEach((op, i) => {
      const where = `<store> write ${i}`;
      if (op.op === 'delete') {
        const k = `${op.kind}\u0000${op.key}`;
        const present = exists.get(k) ?? this.byKind.get(op.kind)?.has(op.key) ?? false;
        if (!isKubeKind(op.kind)) problems.push({ file: where, field: 'kind', message: `unknown kind "${op.kind}"`, severity: 'error' });
        else if (!present) problems.push({ file: where, field: 'metadata.name', message: `no ${op.kind} ${op.key} to delete`, severity: 'error' });
        exists.set(k, false);
        return;
      }
      const o = op.obj as unknown as Record<string, unknown>;
      if (!o || typeof o !== 'object' || typeof o.kind !== 'string' || !isKubeKind(o.kind)) {
        problems.push({ file: where, field: 'kind', message: `unknown kind "${String((o as { kind?: unknown } | null)?.kind)}"`, severity: 'error' });
        return;
      }
      const found: Problem[] = [];
      validateObject(o, o.kind, {
        error: (path, message) => found.push({ file: where, field: formatPath(path), message: `${o.kind}: ${message}`, severity: 'error' }),
        warn: () => undefined,
      });
      problems.push(...found);
      if (found.length === 0) exists.set(`${o.kind}\u0000${objectKey(op.obj)}`, true);
    });
    return problems;
  }

  private put(obj: KubeObject): WatchEvent | undefined {
    const m = this.byKind.get(obj.kind)!;
    const key = objectKey(obj);
    const prev = m.get(key);
    if (obj.kind !== 'Node' && obj.kind !== 'Namespace' && obj.metadata.namespace === undefined) obj.metadata.namespace = 'default';
    if (prev && sameContent(prev, obj)) return undefined;
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    m.set(key, obj);
    if (prev) this.replaceSorted(obj.kind, key, obj);
    else this.sorted.delete(obj.kind);
    return { type: prev ? 'MODIFIED' : 'ADDED', object: obj, resourceVersion: this.rv };
  }

  /**
   * A MODIFIED object takes its predecessor's place in the sorted lists (same key, so the same
   * position): an endpoint change on a 100k-Pod cluster does not re-sort every Pod. Additions and
   * deletions still drop the lists (a bulk load would otherwise splice once per object).
   */
  private replaceSorted(kind: KubeKind, key: string, obj: KubeObject): void {
    const c = this.sorted.get(kind);
    if (!c) return;
    const ns = c.byNs.get(obj.metadata.namespace ?? 'default');
    const i = indexByKey(c.all, key);
    const j = ns ? indexByKey(ns, key) : -1;
    if (i < 0 || j < 0) {
      this.sorted.delete(kind);
      return;
    }
    c.all[i] = obj;
    ns![j] = obj;
  }

  private remove(kind: KubeKind, key: string): WatchEvent | undefined {
    const m = this.byKind.get(kind)!;
    const prev = m.get(key);
    if (!prev) return undefined;
    m.delete(key);
    this.sorted.delete(kind);
    this.rv++;
    return { type: 'DELETED', object: prev, resourceVersion: this.rv };
  }

  private emit(events: readonly WatchEvent[]): void {
    for (const ev of events) this.queue.push(ev);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      // An index, not shift(): a load delivers ~10^5 events and shift() moves the whole queue each time.
      for (let i = 0; i < this.queue.length; i++) {
        const ev = this.queue[i]!;
        for (const l of [...this.listeners]) l(ev);
      }
    } finally {
      this.queue.length = 0;
      this.dispatching = false;
    }
  }
}

/** Position of the object with this key in a list sorted by key (as `list` keeps them), or -1. */
function indexByKey(list: readonly KubeObject[], key: string): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const k = objectKey(list[mid]!);
    if (k === key) return mid;
    if (k < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Equal apart from metadata.resourceVersion (which the store owns). */
function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return strip(a) === strip(b);
}
