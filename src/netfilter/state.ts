/**
 * Per-netns state that matches keep between packets: xt_recent tables and xt_statistic nth
 * counters. Both can be cloned, so a branch enumeration can restart every run from the same state.
 */
import { formatIp, parseIp } from '../base/index.js';
import type { Family } from '../base/index.js';
import type { NthCounters, RecentLookup, RecentMatch, StatisticMatch } from './types.js';

/** Module parameters of xt_recent (net/netfilter/xt_recent.c defaults). */
export const RECENT_DEFAULTS = { ipListTot: 100, ipPktListTot: 20 } as const;

interface RecentEntry {
  addr: string;
  family: Family;
  ttl: number;
  /** Timestamps in ms, oldest first, at most ip_pkt_list_tot. */
  stamps: number[];
}

/** One named table: entries in LRU order (least recently updated first), as t->lru_list. */
class RecentTable {
  readonly entries = new Map<string, RecentEntry>();
  clone(): RecentTable {
    const t = new RecentTable();
    for (const [k, e] of this.entries) t.entries.set(k, { ...e, stamps: [...e.stamps] });
    return t;
  }
}

function maskAddr(addr: string, mask: string, family: Family): string {
  const a = parseIp(addr);
  const m = parseIp(mask);
  if (a.family !== family || m.family !== family) return addr;
  if (a.family === 4 && m.family === 4) return formatIp({ family: 4, n: (a.n & m.n) >>> 0 });
  if (a.family === 6 && m.family === 6) return formatIp({ family: 6, n: a.n & m.n });
  return addr;
}

/** xt_recent tables of one network namespace, keyed by --name (/proc/net/xt_recent/NAME). */
export class RecentStore implements RecentLookup {
  private readonly tables = new Map<string, RecentTable>();

  constructor(readonly params: { ipListTot: number; ipPktListTot: number } = RECENT_DEFAULTS) {}

  private table(name: string): RecentTable {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new RecentTable()));
    return t;
  }

  /** Models recent_mt (net/netfilter/xt_recent.c). `nowMs` from the virtual clock. */
  check(m: RecentMatch, addr: string, family: Family, ttl: number | undefined, nowMs: number): boolean {
    let ret = m.neg;
    const t = this.table(m.name);
    const key = maskAddr(addr, m.mask, family);
    const pttl = ttl ?? 0;
    let e = t.entries.get(key);
    // recent_entry_lookup: with --rttl an entry only counts when the TTL is the same.
    if (e && m.rttl && pttl !== 0 && e.ttl !== pttl) e = undefined;
    if (!e) {
      if (m.mode !== 'set') return ret;
      this.insert(t, { addr: key, family, ttl: pttl, stamps: [nowMs] });
      return !ret;
    }
    if (m.mode === 'set') ret = !ret;
    else if (m.mode === 'remove') {
      t.entries.delete(key);
      return !ret;
    } else if (m.seconds || m.hitcount) {
      const since = nowMs - m.seconds * 1000;
      let hits = 0;
      for (const s of e.stamps) {
        if (m.seconds && s < since) continue;
        if (!m.hitcount || ++hits >= m.hitcount) {
          ret = !ret;
          break;
        }
      }
      if (m.reap) this.reap(t, since, e);
    } else ret = !ret;
    if (m.mode === 'set' || (m.mode === 'update' && ret !== m.neg)) {
      // recent_entry_update: add a stamp (ring of ip_pkt_list_tot), move to the LRU tail.
      e.stamps.push(nowMs);
      if (e.stamps.length > this.params.ipPktListTot) e.stamps.shift();
      e.ttl = pttl;
      t.entries.delete(key);
      t.entries.set(key, e);
    }
    return ret;
  }

  private insert(t: RecentTable, e: RecentEntry): void {
    // recent_entry_init: a full table drops its least recently used entry.
    if (t.entries.size >= this.params.ipListTot) {
      const oldest = t.entries.keys().next().value;
      if (oldest !== undefined) t.entries.delete(oldest);
    }
    t.entries.set(e.addr, e);
  }

  /** recent_entry_reap: drops the least recently used entry when its newest stamp is older than `since`. */
  private reap(t: RecentTable, since: number, working: RecentEntry): void {
    const first = t.entries.values().next().value;
    if (!first || first === working) return;
    const last = first.stamps[first.stamps.length - 1];
    if (last !== undefined && last < since) t.entries.delete(first.addr);
  }

  /** /proc/net/xt_recent/NAME lines: `src=ADDR ttl: N last_seen: MS oldest_pkt: K MS, MS…` (times in ms). */
  list(name: string): { addr: string; ttl: number; stamps: number[] }[] {
    return [...(this.tables.get(name)?.entries.values() ?? [])].map((e) => ({ addr: e.addr, ttl: e.ttl, stamps: [...e.stamps] }));
  }

  clone(): RecentStore {
    const c = new RecentStore(this.params);
    for (const [n, t] of this.tables) c.tables.set(n, t.clone());
    return c;
  }
}

/**
 * xt_statistic nth counters. The kernel keeps one counter per rule (info->master->count),
 * starting at --packet; each test moves it on and the rule matches when it wraps to 0.
 */
export class NthState implements NthCounters {
  private readonly counts = new Map<StatisticMatch, number>();

  /** Models the XT_STATISTIC_MODE_NTH branch of statistic_mt: returns the new count (0 = match). */
  next(m: StatisticMatch): number {
    const every = m.every - 1; // iptables stores --every minus one
    const oval = this.counts.get(m) ?? m.packet;
    const nval = oval === every ? 0 : oval + 1;
    this.counts.set(m, nval);
    return nval;
  }

  clone(): NthState {
    const c = new NthState();
    for (const [k, v] of this.counts) c.counts.set(k, v);
    return c;
  }
}
