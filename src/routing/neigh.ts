import type { Ip, Mac } from '../base/index.js';
import { formatIp, ipEquals } from '../base/index.js';
import type { TraceRecorder } from '../trace/index.js';
import { NO_TRACE } from '../trace/index.js';
import type { NeighEntry, NeighState } from './types.js';

/** Answers "who has `ip` on `dev`?" on the segment behind the device: the MAC, or null for no answer. */
export type NeighResolver = (dev: string, ip: Ip) => Mac | null;

/** NUD_VALID (include/net/neighbour.h): states in which the cached lladdr is used to send. */
const VALID: ReadonlySet<NeighState> = new Set(['PERMANENT', 'NOARP', 'REACHABLE', 'PROBE', 'STALE', 'DELAY']);

export interface NeighResult {
  mac: Mac | null;
  entry: NeighEntry | null;
  /** true when the cache answered without asking the segment. */
  cached: boolean;
}

function neighKey(dev: string, ip: Ip): string {
  return `${dev}\0${ip.family}:${ip.n}`;
}

/**
 * The neighbour tables (ARP and NDP) of one namespace, plus the proxy entries (pneigh). Entries keep
 * insertion order, which is what `ip neigh show` prints for a model (the kernel prints hash order).
 */
export class NeighTable {
  private readonly list: NeighEntry[] = [];
  private readonly proxies: NeighEntry[] = [];
  /** The entries of `list` by (dev, ip): a node with 1,000 peers looks one up without a scan. */
  private readonly byKey = new Map<string, NeighEntry>();

  entries(): readonly NeighEntry[] {
    return this.list;
  }

  proxyEntries(): readonly NeighEntry[] {
    return this.proxies;
  }

  get(dev: string, ip: Ip): NeighEntry | undefined {
    return this.byKey.get(neighKey(dev, ip));
  }

  /** `ip neigh replace` (or `add`): one entry per (dev, ip); a proxy entry goes to the pneigh list. */
  set(entry: NeighEntry): NeighEntry {
    const copy = { ...entry };
    if (entry.proxy) {
      const i = this.proxies.findIndex((e) => e.dev === entry.dev && ipEquals(e.ip, entry.ip));
      if (i >= 0) this.proxies[i] = copy;
      else this.proxies.push(copy);
      return copy;
    }
    const key = neighKey(entry.dev, entry.ip);
    const old = this.byKey.get(key);
    if (old) this.list[this.list.indexOf(old)] = copy;
    else this.list.push(copy);
    this.byKey.set(key, copy);
    return copy;
  }

  delete(dev: string, ip: Ip, opts: { proxy?: boolean } = {}): boolean {
    if (opts.proxy) {
      const i = this.proxies.findIndex((e) => e.dev === dev && ipEquals(e.ip, ip));
      if (i < 0) return false;
      this.proxies.splice(i, 1);
      return true;
    }
    const key = neighKey(dev, ip);
    const old = this.byKey.get(key);
    if (!old) return false;
    this.list.splice(this.list.indexOf(old), 1);
    this.byKey.delete(key);
    return true;
  }

  /** pneigh_lookup (net/core/neighbour.c). */
  hasProxy(dev: string, ip: Ip): boolean {
    return this.proxies.some((e) => e.dev === dev && ipEquals(e.ip, ip));
  }

  /**
   * Models neigh_resolve_output / __neigh_event_send (net/core/neighbour.c) for one packet: a valid
   * entry (PERMANENT, NOARP, REACHABLE, STALE, DELAY, PROBE) is used as it is; otherwise the segment
   * is asked through `resolver` (the ARP request / neighbour solicitation), and the entry becomes
   * REACHABLE with the answer or FAILED without one. A `neigh` step is reported.
   */
  resolve(dev: string, ip: Ip, resolver: NeighResolver, rec: TraceRecorder = NO_TRACE): NeighResult {
    const known = this.get(dev, ip);
    let out: NeighResult;
    if (known?.state && VALID.has(known.state) && (known.lladdr || known.state === 'NOARP')) {
      out = { mac: known.lladdr ?? null, entry: known, cached: true };
    } else {
      const mac = resolver(dev, ip);
      const entry = mac ? this.set({ ip, dev, lladdr: mac, state: 'REACHABLE' }) : this.set({ ip, dev, state: 'FAILED' });
      out = { mac, entry, cached: false };
    }
    if (rec.enabled) {
      const how = out.cached ? `${out.entry!.state}` : out.mac ? `${ip.family === 4 ? 'ARP' : 'NDP'} reply` : `no ${ip.family === 4 ? 'ARP' : 'NDP'} reply`;
      const text = out.mac ? `${formatIp(ip)} dev ${dev} lladdr ${out.mac} (${how})` : `${formatIp(ip)} dev ${dev} unresolved: ${how}, FAILED`;
      rec.add({ kind: 'neigh', ip: formatIp(ip), mac: out.mac, dev, text });
    }
    return out;
  }
}
