import type { Family, Ip } from '../base/index.js';
import { cidrContains, compareIp, networkOf } from '../base/index.js';
import type { Nexthop, Route } from './types.js';

/** How a route joins the routes of the same prefix (NLM_F_* of RTM_NEWROUTE). */
export type InsertMode = 'add' | 'append' | 'prepend' | 'replace';

/** What fib_table_lookup is asked: the flow's destination, TOS, minimum scope and egress device. */
export interface TableQuery {
  dst: Ip;
  tos?: number;
  /** flowi4_scope: routes of a wider scope (smaller number) are skipped. 0 = any. */
  scope?: number;
  /** flowi4_oif: only nexthops on this device are good. */
  oif?: string;
}

export interface TableHit {
  route: Route;
  /** Indexes of the route's good nexthops for this query (fib_lookup_good_nhc), in order. */
  good: number[];
}

type Key = number | bigint;

/**
 * One FIB table of one family. Models fib_table_lookup (net/ipv4/fib_trie.c) and fib6_lookup
 * (net/ipv6/ip6_fib.c): longest prefix first; among the routes of one prefix, IPv4 keeps the alias
 * order of fib_insert_alias (TOS descending, then priority ascending, then insertion — `append`
 * after equals, `prepend` before), IPv6 the order of fib6_add_rt2node (metric ascending, then
 * insertion). When no route of the longest prefix fits (TOS, scope, oif, dead nexthops) the walk
 * backtracks to shorter prefixes, as the trie's backtrace does.
 */
export class FibTable {
  private readonly byLen = new Map<number, Map<Key, Route[]>>();
  /** Prefix lengths present, longest first. */
  private lens: number[] = [];
  private count = 0;

  constructor(
    readonly family: Family,
    readonly id: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Routes of exactly this prefix, in lookup order. */
  routesOf(dst: { network: Ip; prefix: number }): readonly Route[] {
    return this.byLen.get(dst.prefix)?.get(dst.network.n) ?? [];
  }

  /**
   * Inserts in kernel order. Returns 'exists' when `add` meets a route of the same key (IPv4: TOS
   * and priority; IPv6: metric), as the kernel answers EEXIST, without changing anything.
   */
  insert(route: Route, mode: InsertMode): 'ok' | 'exists' {
    let m = this.byLen.get(route.dst.prefix);
    if (!m) {
      m = new Map();
      this.byLen.set(route.dst.prefix, m);
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    }
    const key = route.dst.network.n;
    const list = m.get(key) ?? [];
    const sameKey = (r: Route) => r.tos === route.tos && r.metric === route.metric;
    const firstSame = list.findIndex(sameKey);
    if (mode === 'add' && firstSame >= 0) return 'exists';
    if (mode === 'replace' && firstSame >= 0) {
      list[firstSame] = route;
      m.set(key, list);
      return 'ok';
    }
    let at: number;
    if (mode === 'append') {
      // After the last route that sorts before or equal to the new one.
      at = list.length;
      while (at > 0 && this.after(list[at - 1]!, route) > 0) at--;
    } else {
      // Before the first route that sorts equal or after (fib_find_alias + list_add_before).
      at = list.findIndex((r) => this.after(r, route) >= 0);
      if (at < 0) at = list.length;
    }
    list.splice(at, 0, route);
    m.set(key, list);
    this.count++;
    return 'ok';
  }

  /** > 0 when `a` sorts after `b` among routes of one prefix, 0 when they share a key. */
  private after(a: Route, b: Route): number {
    if (this.family === 4 && a.tos !== b.tos) return b.tos - a.tos;
    return a.metric - b.metric;
  }

  /** Removes the first route for which `match` holds (routes of `dst`'s prefix only). */
  remove(dst: { network: Ip; prefix: number }, match: (r: Route) => boolean): Route | null {
    const m = this.byLen.get(dst.prefix);
    const list = m?.get(dst.network.n);
    if (!m || !list) return null;
    const i = list.findIndex(match);
    if (i < 0) return null;
    const [r] = list.splice(i, 1);
    if (list.length === 0) {
      m.delete(dst.network.n);
      if (m.size === 0) {
        this.byLen.delete(dst.prefix);
        this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
      }
    }
    this.count--;
    return r ?? null;
  }

  /** Every route, in the order the kernel dumps this table (`ip route show table N`). */
  routes(): Route[] {
    const all: Route[] = [];
    for (const m of this.byLen.values()) for (const list of m.values()) all.push(...list);
    const pos = new Map<Route, number>();
    for (const m of this.byLen.values()) for (const list of m.values()) list.forEach((r, i) => pos.set(r, i));
    // IPv4 (fib_trie walk): by key; routes sharing a key sit in one leaf whose alias list
    // fib_insert_alias keeps sorted by suffix length, so the longer prefix comes first
    // (10.244.0.0/24 before 10.244.0.0/16, as `ip route` prints them on 6.18). IPv6 (fib6_walk): by
    // address, a prefix after the more specific prefixes it contains (post-order), so `default` comes last.
    all.sort((a, b) => {
      const c = compareIp(a.dst.network, b.dst.network);
      if (this.family === 4) {
        if (c !== 0) return c;
        if (a.dst.prefix !== b.dst.prefix) return b.dst.prefix - a.dst.prefix;
      } else {
        if (a.dst.prefix !== b.dst.prefix) {
          if (a.dst.prefix < b.dst.prefix && cidrContains(a.dst, b.dst.network)) return 1;
          if (b.dst.prefix < a.dst.prefix && cidrContains(b.dst, a.dst.network)) return -1;
        }
        if (c !== 0) return c;
      }
      return pos.get(a)! - pos.get(b)!;
    });
    return all;
  }

  /** Models fib_table_lookup: the first fitting route of the longest matching prefix, or null. */
  lookup(q: TableQuery): TableHit | null {
    for (const len of this.lens) {
      const list = this.byLen.get(len)!.get(networkOf(q.dst, len).n);
      if (!list) continue;
      for (const route of list) {
        if (route.tos && route.tos !== (q.tos ?? 0)) continue;
        if (route.scope < (q.scope ?? 0)) continue;
        if (route.type === 'blackhole' || route.type === 'unreachable' || route.type === 'prohibit' || route.type === 'throw') {
          return { route, good: [] };
        }
        const good: number[] = [];
        route.nexthops.forEach((nh, i) => {
          if (goodNexthop(nh, q)) good.push(i);
        });
        if (good.length > 0) return { route, good };
      }
    }
    return null;
  }
}

/** fib_lookup_good_nhc (net/ipv4/fib_trie.c). */
function goodNexthop(nh: Nexthop, q: TableQuery): boolean {
  if (nh.flags?.includes('dead')) return false;
  // A linkdown nexthop is skipped only with ignore_routes_with_linkdown=1, which podpath does not model.
  if (q.oif !== undefined && nh.dev !== q.oif) return false;
  return true;
}
