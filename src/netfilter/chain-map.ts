import type { Chain } from './types.js';

/** How many own entries a ChainMap copies when it is cloned; beyond that the clone layers on it. */
const COPY_LIMIT = 256;

/**
 * A table's chains by name, as a copy of another table's that shares what it does not change: a
 * frozen base map, plus the chains set (or deleted) since. Restoring flanneld's ten rules on top of
 * kube-proxy's 120,000 chains copies ten chains, not the table; a 1,000-node World holds one copy
 * of the chains its nodes have alike. A map used as a base must not change afterwards: restore
 * only changes the tables it has just cloned, and returns rulesets nobody changes again.
 */
export class ChainMap extends Map<string, Chain> {
  private readonly base: ReadonlyMap<string, Chain> | undefined;
  /** Names of the base deleted here (never also own). */
  private readonly gone = new Set<string>();
  /** Own entries whose name the base does not have (live). */
  private extra = 0;
  /** The map this one was copied from. */
  private readonly from: ReadonlyMap<string, Chain> | undefined;
  /** Names deleted since the copy. */
  private deletedHere = 0;

  constructor(from?: ReadonlyMap<string, Chain>) {
    super();
    this.from = from;
    if (from instanceof ChainMap && from.ownSize() <= COPY_LIMIT) {
      this.base = from.base;
      for (const n of from.gone) this.gone.add(n);
      from.forEachOwn((c, n) => this.set(n, c));
    } else this.base = from;
  }

  /** The map this one is a copy of (undefined: none). */
  origin(): ReadonlyMap<string, Chain> | undefined {
    return this.from;
  }

  /** The entries set here (over the base). */
  ownEntries(): IterableIterator<[string, Chain]> {
    return super.entries();
  }

  /** How many names were deleted since the copy. */
  deletedCount(): number {
    return this.deletedHere;
  }

  private ownSize(): number {
    return super.size;
  }

  private forEachOwn(f: (c: Chain, n: string) => void): void {
    super.forEach((c, n) => f(c, n));
  }

  override get(name: string): Chain | undefined {
    const own = super.get(name);
    if (own !== undefined) return own;
    if (this.base === undefined || this.gone.has(name)) return undefined;
    return this.base.get(name);
  }

  override has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  override set(name: string, c: Chain): this {
    if (!super.has(name)) {
      if (this.gone.delete(name)) {
        /* a deleted base name again: counted by the base */
      } else if (this.base === undefined || !this.base.has(name)) this.extra++;
    }
    super.set(name, c);
    return this;
  }

  override delete(name: string): boolean {
    if (!this.has(name)) return false;
    this.deletedHere++;
    const inBase = this.base !== undefined && this.base.has(name);
    if (super.delete(name) && !inBase) this.extra--;
    if (inBase) this.gone.add(name);
    return true;
  }

  override clear(): void {
    this.deletedHere += this.size;
    super.clear();
    if (this.base) for (const n of this.base.keys()) this.gone.add(n);
    this.extra = 0;
  }

  override get size(): number {
    return (this.base ? this.base.size - this.gone.size : 0) + this.extra;
  }

  override *entries(): MapIterator<[string, Chain]> {
    if (this.base) {
      for (const [n, c] of this.base) {
        if (this.gone.has(n)) continue;
        yield [n, super.get(n) ?? c];
      }
      for (const e of super.entries()) if (!this.base.has(e[0])) yield e;
    } else yield* super.entries();
  }

  override [Symbol.iterator](): MapIterator<[string, Chain]> {
    return this.entries();
  }

  override *keys(): MapIterator<string> {
    for (const e of this.entries()) yield e[0];
  }

  override *values(): MapIterator<Chain> {
    for (const e of this.entries()) yield e[1];
  }

  override forEach(f: (c: Chain, n: string, m: Map<string, Chain>) => void, thisArg?: unknown): void {
    for (const [n, c] of this.entries()) f.call(thisArg, c, n, this);
  }
}
