import { InputError } from '../../../base/index.js';
import type { Provenance } from '../../../trace/types.js';
import { SERVICE_NAME_LABEL, type EndpointSlice, type Service } from '../../objects.js';
import { TOP_CHAINS, TOP_INDEX, assemble, buildPortFragment, ensuredJumpRules, flushStreams, newStreams, proxySysctls, type FragmentStreams, type PortFragment, type RuleRec } from './generate.js';
import { endpointsByPort, resolveNode, servicePorts, svcPortKey, type Ep, type ResolvedNode, type SvcPort } from './model.js';
import type {
  ChainRef,
  ChangedObject,
  GenerateInput,
  GeneratedRuleset,
  IpFamilyNumber,
  IptablesTable,
  NodeProxyConfig,
  RuleWithProvenance,
  RulesetDiff,
} from './types.js';

export interface KubeProxyIptablesOptions {
  /** Also return the partial-sync payload kube-proxy would write from update(). Default false. */
  partialSyncPayload?: boolean;
}

interface SvcEntry {
  svcKey: string;
  ports: SvcPort[];
  frags: PortFragment[];
  /** Rules per TOP_CHAINS entry of the always-rewritten part (for chain positions). */
  topCounts: number[];
  endpointCount: number;
}

function svcKeyOf(o: { metadata: { namespace?: string; name: string } }): string {
  return `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}

function sameCounts(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * One node's kube-proxy in iptables mode, for one IP family: holds the Services and
 * EndpointSlices it has seen and the chains it last wrote, the way Proxier holds svcPortMap,
 * endpointsMap and the kernel's state between syncs.
 *
 * Models kube-proxy v1.34 (pkg/proxy/iptables/proxier.go syncProxyRules, full and partial syncs).
 * Upstream iterates service ports in Go map order; podpath writes them sorted by "namespace/name",
 * then by port name and protocol — one of the orders upstream can produce, and the order upstream's
 * own test normalisation (sortIPTablesRules) gives KUBE-SERVICES and KUBE-NODEPORTS.
 */
export class KubeProxyIptables {
  readonly node: ResolvedNode;
  private readonly services = new Map<string, Service>();
  private readonly slicesBySvc = new Map<string, Map<string, EndpointSlice>>();
  private readonly sliceOwner = new Map<string, string>();
  private readonly entries = new Map<string, SvcEntry>();
  private order: string[] = [];
  private totalEndpoints = 0;
  private largeClusterMode = false;
  private warnings: string[] = [];
  private cached: GeneratedRuleset | null = null;
  /** Per TOP_CHAINS entry: rules of the services before order[i] (lazy, O(N) to rebuild). */
  private prefix: { pos: Map<string, number>; counts: Int32Array[] } | null = null;

  constructor(
    config: NodeProxyConfig,
    readonly family: IpFamilyNumber,
    private readonly options: KubeProxyIptablesOptions = {},
  ) {
    this.node = resolveNode(config, family);
  }

  /** Replaces all objects and does a full sync. Returns the full-sync ruleset. */
  load(services: readonly Service[], endpointSlices: readonly EndpointSlice[]): GeneratedRuleset {
    const problems: Array<{ field: string; message: string }> = [];
    const svcs = new Map<string, Service>();
    for (const s of services) {
      const k = svcKeyOf(s);
      if (svcs.has(k)) problems.push({ field: `Service ${k} metadata.name`, message: `duplicate Service ${k}` });
      svcs.set(k, s);
    }
    const slices = new Map<string, EndpointSlice>();
    for (const s of endpointSlices) {
      const k = svcKeyOf(s);
      if (slices.has(k)) problems.push({ field: `EndpointSlice ${k} metadata.name`, message: `duplicate EndpointSlice ${k}` });
      slices.set(k, s);
    }
    if (problems.length) throw new InputError(problems);
    this.services.clear();
    this.slicesBySvc.clear();
    this.sliceOwner.clear();
    for (const [k, s] of svcs) this.services.set(k, s);
    for (const [k, s] of slices) this.putSlice(k, s);
    return this.fullSync();
  }

  /**
   * A full sync: every service's chains are rewritten; chains written before but not now are
   * deleted (`-X`). The jump rules are (re-)ensured.
   */
  fullSync(): GeneratedRuleset {
    // Upstream counts every endpoint before writing a rule, since large-cluster mode (> 1,000
    // endpoints) drops comments. podpath builds each service's endpoints and rules in one pass,
    // in payload order into shared streams, with the mode guessed from the last sync (or from the
    // slices' raw address count), and builds again in the few cases where the guess was wrong:
    // endpoint maps then never outlive their service, which keeps the young GC generation light.
    const keys = [...this.services.keys()].sort(cmp);
    const guess = this.entries.size ? this.largeClusterMode : this.rawEndpointCount() > this.node.largeClusterThreshold;
    // The nat service chains in the kernel now are exactly those of the current entries (every
    // sync writes or keeps each entry's chains and deletes the rest), so the stale ones are those
    // of the old entries that the new entries do not write. Nothing to compare on a first sync.
    const before = this.entries.size ? this.activeChains() : null;
    let pass = this.buildAll(keys, guess);
    if (pass.total > this.node.largeClusterThreshold !== guess) pass = this.buildAll(keys, !guess);
    const { entries, streams, total, warnings } = pass;
    this.totalEndpoints = total;
    this.largeClusterMode = total > this.node.largeClusterThreshold;
    this.entries.clear();
    for (const [k, e] of entries) this.entries.set(k, e);
    this.order = [...entries.keys()];
    this.prefix = null;
    let stale: string[] = [];
    if (before) {
      const active = this.activeChains();
      stale = [...before].filter((c) => !active.has(c)).sort(cmp);
    }
    this.warnings = warnings;
    const result = this.build(() => true, stale, true, streams);
    this.cached = stale.length === 0 ? result : null;
    return result;
  }

  /** The ruleset as it stands in the kernel now, written as one full payload (no `-X`). */
  ruleset(): GeneratedRuleset {
    if (!this.cached) this.cached = this.build(() => true, [], true);
    return this.cached;
  }

  /**
   * Applies object changes and does a partial sync: only the chains of the Services named by the
   * changes (directly or through their EndpointSlices) are regenerated. Returns what changed.
   */
  update(changes: readonly ChangedObject[]): RulesetDiff {
    const touched = new Set<string>();
    const causedBy: RulesetDiff['causedBy'] = [];
    for (const ch of changes) {
      const k = svcKeyOf(ch.object);
      if (ch.kind === 'Service') {
        if (ch.op === 'delete') this.services.delete(k);
        else this.services.set(k, ch.object);
        touched.add(k);
        causedBy.push({ kind: 'Service', name: k, op: ch.op, services: [k] });
      } else {
        const before = this.sliceOwner.get(k);
        const svcs = new Set<string>();
        if (before) svcs.add(before);
        this.dropSlice(k);
        if (ch.op !== 'delete') {
          const owner = this.putSlice(k, ch.object);
          if (owner) svcs.add(owner);
        }
        for (const s of svcs) touched.add(s);
        causedBy.push({ kind: 'EndpointSlice', name: k, op: ch.op, services: [...svcs] });
      }
    }

    // Positions of the rules being replaced, in the old state.
    const removed: RuleWithProvenance[] = [];
    const oldChains: string[] = [];
    const oldRules = new Map<string, RuleWithProvenance[]>();
    for (const k of touched) {
      const e = this.entries.get(k);
      if (!e) continue;
      const rules = this.entryRules(e);
      oldRules.set(k, rules);
      for (const f of e.frags) oldChains.push(...f.natChains);
    }

    // Rebuild the touched entries (endpoints first: large-cluster mode is decided before rules).
    const warnings: string[] = [];
    const rebuilt = new Map<string, { ports: SvcPort[]; eps: Map<string, Ep[]> } | null>();
    let total = this.totalEndpoints;
    for (const k of touched) {
      const old = this.entries.get(k);
      if (old) total -= old.endpointCount;
      const svc = this.services.get(k);
      const ports = svc ? servicePorts(svc, this.family, warnings) : [];
      if (ports.length === 0) {
        rebuilt.set(k, null);
        continue;
      }
      const eps = endpointsByPort([...(this.slicesBySvc.get(k)?.values() ?? [])], this.family, this.node.nodeName, warnings);
      for (const p of ports) total += eps.get(svcPortKey(p.svcKey, p.portName, p.protocol))?.length ?? 0;
      rebuilt.set(k, { ports, eps });
    }
    this.totalEndpoints = total;
    this.largeClusterMode = total > this.node.largeClusterThreshold;
    let orderChanged = false;
    let countsChanged = false;
    for (const [k, b] of rebuilt) {
      const old = this.entries.get(k);
      if (b === null) {
        if (this.entries.delete(k)) orderChanged = true;
      } else {
        if (!old) orderChanged = true;
        const e = this.makeEntry(k, b.ports, b.eps, this.largeClusterMode);
        if (old && !sameCounts(old.topCounts, e.topCounts)) countsChanged = true;
        this.entries.set(k, e);
      }
    }
    if (orderChanged) this.order = [...this.entries.keys()].sort(cmp);
    if (orderChanged || countsChanged) this.prefix = null;
    this.warnings = [...this.warnings.filter((w) => ![...touched].some((k) => w.includes(k))), ...warnings];

    // Diff per touched service: multiset of (table, chain, text).
    const added: RuleWithProvenance[] = [];
    const newChains: string[] = [];
    for (const k of touched) {
      const before = oldRules.get(k) ?? [];
      const e = this.entries.get(k);
      const after = e ? this.entryRules(e) : [];
      if (e) for (const f of e.frags) newChains.push(...f.natChains);
      const count = new Map<string, number>();
      const key = (r: RuleWithProvenance) => `${r.table} ${r.rule}`;
      for (const r of before) count.set(key(r), (count.get(key(r)) ?? 0) + 1);
      for (const r of after) {
        const n = count.get(key(r)) ?? 0;
        if (n > 0) count.set(key(r), n - 1);
        else added.push(r);
      }
      const remaining = new Map(count);
      for (const r of before) {
        const n = remaining.get(key(r)) ?? 0;
        if (n > 0) {
          removed.push(r);
          remaining.set(key(r), n - 1);
        }
      }
    }
    const newSet = new Set(newChains);
    const oldSet = new Set(oldChains);
    const chainsAdded: ChainRef[] = newChains.filter((c) => !oldSet.has(c)).map((chain) => ({ table: 'nat', chain }));
    const chainsRemoved: ChainRef[] = oldChains.filter((c) => !newSet.has(c)).map((chain) => ({ table: 'nat', chain }));
    this.cached = null;

    const diff: RulesetDiff = {
      added,
      removed,
      chainsAdded,
      chainsRemoved,
      causedBy,
      touched: [...touched].sort(cmp),
      largeClusterMode: this.largeClusterMode,
    };
    if (this.options.partialSyncPayload) {
      const asm = assemble(
        this.node,
        this.frags(),
        (f) => touched.has(f.sp.svcKey),
        chainsRemoved.map((c) => c.chain).sort(cmp),
        [],
      );
      diff.payload = asm.payload;
    }
    return diff;
  }

  // ---------------------------------------------------------------- internals

  private putSlice(sliceKey: string, slice: EndpointSlice): string | null {
    const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svcName) return null;
    const owner = `${slice.metadata.namespace ?? 'default'}/${svcName}`;
    let m = this.slicesBySvc.get(owner);
    if (!m) this.slicesBySvc.set(owner, (m = new Map()));
    m.set(sliceKey, slice);
    this.sliceOwner.set(sliceKey, owner);
    return owner;
  }

  private dropSlice(sliceKey: string): void {
    const owner = this.sliceOwner.get(sliceKey);
    if (!owner) return;
    this.sliceOwner.delete(sliceKey);
    const m = this.slicesBySvc.get(owner);
    m?.delete(sliceKey);
    if (m && m.size === 0) this.slicesBySvc.delete(owner);
  }

  /**
   * Every service's entry, in `keys` order (sorted), written into one set of streams, with
   * large-cluster mode `large`. Warnings come out in the order of this.services, as they did when
   * endpoints were gathered in a pass of their own.
   */
  private buildAll(keys: readonly string[], large: boolean): { entries: Map<string, SvcEntry>; streams: FragmentStreams; total: number; warnings: string[] } {
    const entries = new Map<string, SvcEntry>();
    const streams = newStreams();
    const bySvc = new Map<string, string[]>();
    let total = 0;
    let w: string[] = [];
    for (const k of keys) {
      let ports: SvcPort[];
      try {
        ports = servicePorts(this.services.get(k)!, this.family, w);
      } catch (e) {
        // report the error the insertion-order pass would have met first
        for (const svc of this.services.values()) servicePorts(svc, this.family, []);
        throw e;
      }
      if (ports.length > 0) {
        const eps = endpointsByPort([...(this.slicesBySvc.get(k)?.values() ?? [])], this.family, this.node.nodeName, w);
        const e = this.makeEntry(k, ports, eps, large, streams);
        total += e.endpointCount;
        entries.set(k, e);
      }
      if (w.length) {
        bySvc.set(k, w);
        w = [];
      }
    }
    flushStreams(streams);
    const warnings: string[] = [];
    if (bySvc.size) for (const k of this.services.keys()) warnings.push(...(bySvc.get(k) ?? []));
    return { entries, streams, total, warnings };
  }

  /** Endpoint addresses × ports of the slices of this family: the first guess at the endpoint total. */
  private rawEndpointCount(): number {
    const want = this.family === 4 ? 'IPv4' : 'IPv6';
    let n = 0;
    for (const m of this.slicesBySvc.values()) for (const sl of m.values()) if (sl.addressType === want) n += sl.endpoints.length * Math.max(1, sl.ports?.length ?? 0);
    return n;
  }

  private makeEntry(svcKey: string, ports: SvcPort[], eps: Map<string, Ep[]>, large: boolean, streams?: FragmentStreams): SvcEntry {
    const sorted = [...ports].sort((a, b) => cmp(a.portName, b.portName) || cmp(a.protocol, b.protocol));
    const frags = sorted.map((p) => buildPortFragment(p, eps.get(svcPortKey(p.svcKey, p.portName, p.protocol)) ?? [], this.node, large, streams));
    const topCounts = TOP_CHAINS.map(() => 0);
    let endpointCount = 0;
    for (const f of frags) {
      endpointCount += f.endpointCount;
      for (let i = 0; i < topCounts.length; i++) topCounts[i]! += f.topCounts[i]!;
    }
    return { svcKey, ports: sorted, frags, topCounts, endpointCount };
  }

  private frags(): PortFragment[] {
    const out: PortFragment[] = [];
    for (const k of this.order) out.push(...this.entries.get(k)!.frags);
    return out;
  }

  private activeChains(): Set<string> {
    const s = new Set<string>();
    for (const e of this.entries.values()) for (const f of e.frags) for (const c of f.natChains) s.add(c);
    return s;
  }

  /** The rules of one service with their chain positions in the current order. */
  private entryRules(e: SvcEntry): RuleWithProvenance[] {
    const prefix = this.prefixCounts();
    const at = prefix.pos.get(e.svcKey) ?? 0;
    const out: RuleWithProvenance[] = [];
    const local = new Map<string, number>();
    const push = (table: IptablesTable, r: RuleRec, top: boolean) => {
      const key = `${table} ${r.chain}`;
      const i = (local.get(key) ?? 0) + 1;
      local.set(key, i);
      // static rules never precede per-service rules in the same chain (KUBE-FIREWALL,
      // KUBE-POSTROUTING and KUBE-MARK-MASQ are chains of their own)
      const t = top ? TOP_INDEX.get(key) : undefined;
      out.push({ table, chain: r.chain, index: (t !== undefined ? prefix.counts[t]![at]! : 0) + i, rule: r.text, provenance: r.prov });
    };
    for (const f of e.frags) {
      const recs = f.records();
      for (const r of recs.filter) push('filter', r, true);
      for (const r of recs.natTop) push('nat', r, true);
      for (const r of recs.natChainRules) push('nat', r, false);
    }
    return out;
  }

  private prefixCounts(): { pos: Map<string, number>; counts: Int32Array[] } {
    if (this.prefix) return this.prefix;
    const pos = new Map<string, number>();
    const n = this.order.length;
    const counts = TOP_CHAINS.map(() => new Int32Array(n + 1));
    const sums = new Int32Array(TOP_CHAINS.length);
    for (let i = 0; i < n; i++) {
      const k = this.order[i]!;
      pos.set(k, i);
      const tc = this.entries.get(k)!.topCounts;
      for (let c = 0; c < sums.length; c++) {
        counts[c]![i] = sums[c]!;
        sums[c]! += tc[c]!;
      }
    }
    for (let c = 0; c < sums.length; c++) counts[c]![n] = sums[c]!;
    return (this.prefix = { pos, counts });
  }

  private build(writeChains: (f: PortFragment) => boolean, stale: string[], withJumps: boolean, streams?: FragmentStreams): GeneratedRuleset {
    const warnings = [...this.warnings];
    const asm = assemble(this.node, this.frags(), writeChains, stale, warnings, streams);
    let index: Map<string, Provenance[]> | null = null;
    return {
      family: this.family,
      payload: asm.payload,
      get rules() {
        return asm.rules();
      },
      get chains() {
        return asm.chains();
      },
      deletedChains: asm.deleted,
      jumpRules: withJumps ? ensuredJumpRules(this.node) : [],
      sysctls: proxySysctls(this.node),
      largeClusterMode: this.largeClusterMode,
      warnings,
      provenanceAt(table, chain, i) {
        if (!index) {
          index = new Map();
          for (const r of asm.rules()) index.set(`${r.table} ${r.chain} ${r.index}`, r.provenance);
        }
        return index.get(`${table} ${chain} ${i}`);
      },
    };
  }
}

/**
 * The full-sync ruleset kube-proxy (iptables mode, v1.34) writes on one node for one IP family,
 * from Services, EndpointSlices and the node's kube-proxy configuration.
 * Models Proxier.syncProxyRules (pkg/proxy/iptables/proxier.go) on a first sync.
 */
export function generateIptablesRules(input: GenerateInput): GeneratedRuleset {
  return new KubeProxyIptables(input.node, input.family).load(input.services, input.endpointSlices);
}
