/**
 * Inputs of `podpath netfilter` that belong to the host rather than to the ruleset: its addresses.
 */
import { InputError, formatIp, parseIp, type Problem } from '../base/index.js';
import type { HostAddress } from './host.js';
import { compileRuleset, type IpsetLookup, type NthCounters, type RecentLookup, type RecentMatch, type StatisticMatch } from '../netfilter/index.js';
import { parseIptablesSave } from '../netfilter/iptables-save.js';
import type { MatchState, NetfilterSetup } from './netfilter-trace.js';

/**
 * Parses `--local-ips`: comma-separated `IP[/PREFIX][@DEV]`, e.g. `10.0.1.1/24@eth0,10.0.2.1/24@eth1`.
 * A bare IP is a /32 (/128) on no known device: it is local, but no connected route comes with it.
 * Every bad item is reported (field `--local-ips`, the offending token).
 */
export function parseLocalIps(text: string, field = '--local-ips'): HostAddress[] {
  const out: HostAddress[] = [];
  const problems: Problem[] = [];
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    if (item === '') {
      problems.push({ field, message: `empty address in "${text}"` });
      continue;
    }
    const m = /^([^/@]+)(?:\/(\d{1,3}))?(?:@([A-Za-z0-9_.:+-]{1,15}))?$/.exec(item);
    if (!m) {
      problems.push({ field, message: `"${item}" is not IP[/PREFIX][@DEV]` });
      continue;
    }
    let ip;
    try {
      ip = parseIp(m[1]!);
    } catch (e) {
      problems.push({ field, message: `"${item}": ${(e as Error).message}` });
      continue;
    }
    const bits = ip.family === 4 ? 32 : 128;
    const prefix = m[2] === undefined ? bits : Number(m[2]);
    if (prefix > bits) {
      problems.push({ field, message: `"${item}": prefix length must be 0..${bits}` });
      continue;
    }
    out.push({ ip: formatIp(ip), prefix, dev: m[3] ?? null });
  }
  if (problems.length) throw new InputError(problems);
  return out;
}


export interface NetfilterFiles {
  readonly ruleset: { readonly text: string; readonly file: string };
  readonly ipsets?: { readonly text: string; readonly file: string };
  /** `--local-ips` text. */
  readonly localIps: string;
  readonly name?: string;
}

/**
 * Loads what `podpath netfilter` needs, all or nothing (like iptables-restore): the dump is parsed
 * completely (a bad line is an InputError naming file, line and token) before anything is built.
 */
export function loadNetfilterSetup(f: NetfilterFiles): NetfilterSetup {
  const addresses = parseLocalIps(f.localIps);
  const ruleset = compileRuleset(parseIptablesSave(f.ruleset.text, { file: f.ruleset.file }));
  const ipsets = f.ipsets ? loadIpsets(f.ipsets.text, f.ipsets.file) : NO_IPSETS;
  return { name: f.name ?? 'host', ruleset, ipsets, addresses, newMatchState };
}

const NO_IPSETS: IpsetLookup = {
  has: () => false,
  test: () => false,
};

function loadIpsets(_text: string, file: string): IpsetLookup {
  // netfilter owns `ipset save` parsing; until it exports it, say so instead of guessing
  throw new InputError({ file, message: 'ipset files are not supported yet (netfilter has no ipset save parser exported)' });
}

/** Interim per-run state for xt_recent and statistic nth, until netfilter exports its implementations. */
function newMatchState(): MatchState {
  return { recent: new InterimRecent(), nth: new InterimNth() };
}

/** Models recent_mt (net/netfilter/xt_recent.c) for --set/--rcheck/--update/--remove with --seconds/--hitcount/--reap. */
class InterimRecent implements RecentLookup {
  private readonly tables = new Map<string, Map<string, number[]>>();
  check(m: RecentMatch, addr: string, _family: 4 | 6, _ttl: number | undefined, nowMs: number): boolean {
    const table = this.tables.get(m.name) ?? new Map<string, number[]>();
    this.tables.set(m.name, table);
    const key = maskAddr(addr, m.mask);
    const hits = table.get(key);
    if (m.mode === 'set') {
      table.set(key, [...(hits ?? []), nowMs]);
      return true;
    }
    if (!hits) return false;
    if (m.mode === 'remove') {
      table.delete(key);
      return true;
    }
    let ok = true;
    if (m.seconds > 0 || m.hitcount > 0) {
      const since = m.seconds > 0 ? nowMs - m.seconds * 1000 : -Infinity;
      const n = hits.filter((t) => t >= since).length;
      ok = m.hitcount > 0 ? n >= m.hitcount : n > 0;
      if (m.reap && m.seconds > 0) table.set(key, hits.filter((t) => t >= since));
    }
    if (m.mode === 'update' && ok) table.get(key)!.push(nowMs);
    return ok;
  }
}

function maskAddr(addr: string, mask: string): string {
  const a = parseIp(addr);
  const k = parseIp(mask);
  if (a.family === 4 && k.family === 4) return formatIp({ family: 4, n: (a.n & k.n) >>> 0 });
  if (a.family === 6 && k.family === 6) return formatIp({ family: 6, n: a.n & k.n });
  return formatIp(a);
}

/** statistic --mode nth: the per-rule counter (xt_statistic's master->count, shared by every packet). */
class InterimNth implements NthCounters {
  private readonly counts = new Map<StatisticMatch, number>();
  next(m: StatisticMatch): number {
    const n = this.counts.get(m) ?? 0;
    this.counts.set(m, n + 1);
    return n;
  }
}
