/**
 * Inspector: one loaded topology the server serves. It owns the source document (source.ts), the
 * loaded Topology and a World built on demand, applies and deletes objects, and reports each change
 * as a ChangeSet: the object events and, for every watched node, the kube-proxy rules and routes
 * added and removed, each rule with the objects that made it (kube-proxy's provenance).
 *
 * Two ways a change is made, with the same result:
 *  - incremental: a Pod whose spec and address are unchanged (readiness, labels) is written to the
 *    live ClusterStore (validated by the loader's object schema); the endpointslice controller
 *    updates the slices and each watched node's KubeProxyIptables does a partial sync.
 *  - reload: anything else edits the source document and loads it again (loadTopologyObject);
 *    each watched node's rules and routes are compared before and after.
 */
import { rename, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { stringify } from 'yaml';
import * as api from '../index.js';
import type { ChangedObject, EndpointSlice, KubeKind, KubeObject, Pod, Provenance, RuleWithProvenance, Service, Topology, Trace, World } from '../index.js';
import { parseObjectsText, readSourceDocument, sourceKey, type Json } from './source.js';

export type ObjectEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ObjectEvent {
  readonly type: ObjectEventType;
  readonly kind: KubeKind;
  /** `ns/name`, or `name` for Node and Namespace. */
  readonly key: string;
  readonly object: KubeObject;
}

export interface DiffRule {
  readonly table: string;
  readonly chain: string;
  readonly rule: string;
  readonly provenance: readonly Provenance[];
}

/** One line of a tool's state (`ipset save`, `ipvsadm -Sn`) with what made it. */
export interface DiffLine {
  readonly line: string;
  readonly provenance: readonly Provenance[];
}

export interface NodeDiff {
  readonly node: string;
  readonly rules: { readonly added: readonly DiffRule[]; readonly removed: readonly DiffRule[] };
  readonly routes: { readonly added: readonly string[]; readonly removed: readonly string[] };
  /** `ipset save` lines (`add SET ENTRY`): kube-proxy's in IPVS mode, Felix's on Calico; none otherwise. */
  readonly ipsets: { readonly added: readonly DiffLine[]; readonly removed: readonly DiffLine[] };
  /** `ipvsadm -Sn` lines: virtual servers (`-A`) and real servers (`-a`), kube-proxy IPVS mode only. */
  readonly ipvs: { readonly added: readonly DiffLine[]; readonly removed: readonly DiffLine[] };
}

export interface ChangeSet {
  /** Counts every accepted change of this inspector. */
  readonly version: number;
  readonly how: 'incremental' | 'reload';
  /** The objects of the request that made the change (`Kind/ns/name`). */
  readonly cause: readonly string[];
  readonly objects: readonly ObjectEvent[];
  /** One entry per watched node whose state changed. */
  readonly nodes: readonly NodeDiff[];
}

export type ChangeListener = (change: ChangeSet) => void;

/** What a request may ask to trace (INTERFACES.md §2 trace options): the tracer's request, less what the CLI adds. */
export type TraceQuery = Pick<api.TraceRequest, 'from' | 'to' | 'proto' | 'sport' | 'all' | 'seed' | 'reply'>;

/** What the compare view asks (the options of `podpath compare`). */
export interface CompareQuery extends Omit<TraceQuery, 'reply'> {
  readonly modes?: readonly api.CniModeName[];
  readonly proxies?: readonly api.ProxyModeName[];
}

/** The `--what` values of `podpath rules` the inspector dumps (all but `all`). */
export const DUMP_WHATS = ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'ipvs', 'ipset', 'routes', 'neigh', 'links', 'fdb', 'conntrack', 'bgp', 'bgp-log'] as const;
export type DumpWhat = (typeof DUMP_WHATS)[number];

/** A watched node's state as last reported: what its diffs are computed against. */
interface NodeState {
  /** kube-proxy's iptables mode: synced incrementally on endpoint changes. */
  proxy: api.KubeProxyIptables | null;
  /** null: the proxy's current ruleset (listed only when a reload compares it). */
  rules: DiffRule[] | null;
  routes: string[];
  ipsets: DiffLine[];
  ipvs: DiffLine[];
  /** Felix's members (Calico), part of `ipsets`: they follow pools and nodes, not endpoints. */
  calico: DiffLine[];
}

interface NodeWatch extends NodeState {
  refs: number;
}

const problem = (message: string, field?: string, file = '<request>'): api.Problem => ({ file, ...(field ? { field } : {}), message, severity: 'error' });

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function ownerRs(o: KubeObject | undefined): string | undefined {
  return o?.metadata.ownerReferences?.find((r) => r.kind === 'ReplicaSet')?.name;
}

function ruleKey(r: { table: string; chain: string; rule: string }): string {
  return `${r.table}\u0000${r.chain}\u0000${r.rule}`;
}

/** Multiset difference of two lists by key: what `after` has that `before` has not, and the reverse. */
function listDiff<T>(before: readonly T[], after: readonly T[], key: (x: T) => string): { added: T[]; removed: T[] } {
  const count = new Map<string, number>();
  for (const x of before) count.set(key(x), (count.get(key(x)) ?? 0) + 1);
  const added: T[] = [];
  for (const x of after) {
    const k = key(x);
    const n = count.get(k) ?? 0;
    if (n > 0) count.set(k, n - 1);
    else added.push(x);
  }
  const removed: T[] = [];
  for (const x of before) {
    const k = key(x);
    const n = count.get(k) ?? 0;
    if (n > 0) {
      removed.push(x);
      count.set(k, n - 1);
    }
  }
  return { added, removed };
}

const toDiffRule = (r: RuleWithProvenance): DiffRule => ({ table: r.table, chain: r.chain, rule: r.rule, provenance: r.provenance });
const lineKey = (x: DiffLine) => x.line;

/**
 * kube-proxy IPVS mode's virtual and real servers as `ipvsadm -Sn` lines, each with the VS's or the
 * RS's provenance: the generator's own save text, which has one `-A` line per VS followed by one
 * `-a` line per real server, in virtualServers order.
 */
function ipvsLines(gen: api.GeneratedIpvs): DiffLine[] {
  const lines = gen.ipvsadmSave.split('\n');
  const out: DiffLine[] = [];
  let i = 0;
  for (const vs of gen.virtualServers) {
    out.push({ line: lines[i++]!, provenance: vs.provenance });
    for (const rs of vs.realServers) out.push({ line: lines[i++]!, provenance: rs.provenance });
  }
  return out;
}

/** kube-proxy IPVS mode's ipset members as `ipset save` prints them (`add SET ENTRY`). */
function ipvsIpsetLines(gen: api.GeneratedIpvs): DiffLine[] {
  return gen.ipsets.flatMap((s) => s.entries.map((e) => ({ line: `add ${s.name} ${e.entry}`, provenance: e.provenance })));
}

/** Felix's ipset members (Calico): its restore text has no per-entry origin, so Felix on the node is named. */
function calicoIpsetLines(text: string, node: string): DiffLine[] {
  const by: Provenance[] = [{ kind: 'calico-node', name: node, detail: 'Felix' }];
  return text
    .split('\n')
    .filter((l) => l.startsWith('add '))
    .map((line) => ({ line, provenance: by }));
}

const rulesOf = (st: NodeState): DiffRule[] => st.rules ?? st.proxy?.ruleset().rules.map(toDiffRule) ?? [];

function diffState(name: string, b: NodeState, a: NodeState): NodeDiff | null {
  const rules = listDiff(rulesOf(b), rulesOf(a), ruleKey);
  const routes = listDiff(b.routes, a.routes, (x) => x);
  const ipsets = listDiff(b.ipsets, a.ipsets, lineKey);
  const ipvs = listDiff(b.ipvs, a.ipvs, lineKey);
  const n = rules.added.length + rules.removed.length + routes.added.length + routes.removed.length + ipsets.added.length + ipsets.removed.length + ipvs.added.length + ipvs.removed.length;
  return n ? { node: name, rules, routes, ipsets, ipvs } : null;
}

export class Inspector {
  private doc: Json;
  private topo: Topology;
  private worldCache: World | null = null;
  private version = 0;
  private readonly listeners = new Set<ChangeListener>();
  private readonly watches = new Map<string, NodeWatch>();
  /** Pods written into the document from a ReplicaSet's expansion (by Kind/ns/name → RS name). */
  private readonly materialised = new Map<string, string>();
  /** Pods of the document whose address pin() wrote (the allocator's choice, not the user's). */
  private readonly pinnedAddress = new Set<string>();
  private stopStoreWatch: () => void = () => undefined;
  private pending: api.WatchEvent[] = [];

  private constructor(
    doc: Json,
    topo: Topology,
    readonly file: string,
    readonly savePath: string | null,
  ) {
    this.doc = doc;
    this.topo = topo;
    this.pin();
    this.attach();
  }

  /**
   * Writes what the allocator chose into the document's own Pods and Services (node, pod IP,
   * cluster IP, node ports), so a later load of the edited document keeps them: an unrelated
   * change must not move a pod to another address, as it would not in a real cluster.
   */
  private pin(): void {
    const objects = ((this.doc.objects ??= []) as Json[]);
    const present = new Set(objects.filter((o) => o && typeof o === 'object').map((o) => sourceKey(o)));
    // A ReplicaSet's Pods become objects of the document (still owned by it): applying a Deployment
    // drops its own, which the loader then expands again; the others keep their names and addresses.
    for (const p of this.topo.store.list('Pod') as Pod[]) {
      const rs = ownerRs(p);
      const sk = sourceKey(p);
      if (!rs || present.has(sk)) continue;
      const c = clone(p) as unknown as Json & { metadata: Json };
      delete c.metadata.resourceVersion;
      objects.push(c);
      this.positions = null;
      this.materialised.set(sk, rs);
    }
    for (const o of (this.doc.objects as Json[] | undefined) ?? []) {
      if (!o || typeof o !== 'object') continue;
      const md = o.metadata as Json | undefined;
      if (!md || typeof md.name !== 'string') continue;
      const key = `${typeof md.namespace === 'string' ? md.namespace : 'default'}/${md.name}`;
      if (o.kind === 'Pod') {
        const cur = this.topo.store.get('Pod', key);
        if (!cur) continue;
        const spec = (o.spec ??= {}) as Json;
        if (spec.nodeName === undefined && cur.spec.nodeName) spec.nodeName = cur.spec.nodeName;
        // the whole status: a Pod given with an address keeps the conditions it is given (none = not Ready)
        if ((o.status as Json | undefined)?.podIP === undefined && cur.status?.podIP) {
          o.status = clone(cur.status);
          this.pinnedAddress.add(sourceKey(o));
        }
      } else if (o.kind === 'Service') {
        const cur = this.topo.store.get('Service', key);
        const spec = o.spec as Json | undefined;
        if (!cur || !spec) continue;
        if (spec.clusterIP === undefined && cur.spec.clusterIP) spec.clusterIP = cur.spec.clusterIP;
        if (spec.clusterIPs === undefined && cur.spec.clusterIPs) spec.clusterIPs = clone(cur.spec.clusterIPs);
        if (spec.healthCheckNodePort === undefined && cur.spec.healthCheckNodePort) spec.healthCheckNodePort = cur.spec.healthCheckNodePort;
        const ports = Array.isArray(spec.ports) ? (spec.ports as Json[]) : [];
        ports.forEach((p, i) => {
          const np = cur.spec.ports?.[i]?.nodePort;
          if (p && typeof p === 'object' && p.nodePort === undefined && np !== undefined) p.nodePort = np;
        });
      }
    }
  }

  /** Loads a topology file (problems reported with file and line, as the CLI does). */
  static async open(path: string, opts: { savePath?: string } = {}): Promise<Inspector> {
    await api.loadTopology(path);
    const doc = await readSourceDocument(path);
    const topo = await api.loadTopologyObject(clone(doc), path);
    return new Inspector(doc, topo, path, opts.savePath ?? null);
  }

  /** Wraps an already loaded topology given as a document (benchmarks, tests). */
  static async fromDocument(doc: Json, file = '<document>', opts: { savePath?: string } = {}): Promise<Inspector> {
    const topo = await api.loadTopologyObject(clone(doc), file);
    return new Inspector(clone(doc), topo, file, opts.savePath ?? null);
  }

  get topology(): Topology {
    return this.topo;
  }

  get changeVersion(): number {
    return this.version;
  }

  onChange(l: ChangeListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** The World of the current objects, built on first use after a change. */
  world(): World {
    this.worldCache ??= api.buildWorld(this.topo);
    return this.worldCache;
  }

  // ------------------------------------------------------------------ objects

  list(kind?: KubeKind): KubeObject[] {
    const kinds = kind ? [kind] : api.KINDS;
    return kinds.flatMap((k) => this.topo.store.list(k) as KubeObject[]);
  }

  get(kind: KubeKind, key: string): KubeObject | undefined {
    return this.topo.store.get(kind, key) as KubeObject | undefined;
  }

  /** The `cluster:` section of the document (CNI, kube-proxy), for editing. */
  clusterSection(): unknown {
    return clone(this.doc.cluster ?? {});
  }

  /** Applies objects given as YAML/JSON text (one or more documents, or a List). */
  async applyText(text: string, file = '<apply>'): Promise<ChangeSet> {
    return this.apply(parseObjectsText(text, file), file);
  }

  /**
   * Creates or replaces objects. Each must load as in a topology file; on any problem nothing
   * changes and an InputError names the object and field.
   */
  async apply(objects: readonly unknown[], file = '<apply>'): Promise<ChangeSet> {
    if (objects.length === 0) throw new api.InputError(problem('no object to apply', undefined, file));
    const problems: api.Problem[] = [];
    objects.forEach((o, i) => {
      const at = objects.length > 1 ? `[${i}].` : '';
      if (!o || typeof o !== 'object' || Array.isArray(o)) return problems.push(problem('a Kubernetes object is a map with apiVersion, kind and metadata', at.slice(0, -1) || undefined, file));
      const x = o as Json;
      if (typeof x.kind !== 'string' || !(api.KINDS as readonly string[]).includes(x.kind)) problems.push(problem(`kind "${String(x.kind)}" is not one podpath models (${api.KINDS.join(', ')})`, `${at}kind`, file));
      const md = x.metadata as Json | undefined;
      if (!md || typeof md.name !== 'string' || md.name === '') problems.push(problem('required field metadata.name is missing', `${at}metadata.name`, file));
      return undefined;
    });
    if (problems.length) throw new api.InputError(problems);
    const objs = objects.map((o) => {
      const c = clone(o) as Json & { metadata: Json };
      // server-set fields: the store assigns its own
      delete c.metadata.resourceVersion;
      return c;
    });
    if (this.incrementalApplicable(objs)) return this.applyIncremental(objs, file);
    const doc = this.editedDocument((edit) => {
      for (const o of objs) edit.put(o);
    });
    return this.reload(doc, objs.map(sourceKey), file, objs);
  }

  /** Deletes one object (a Deployment's Pod: its siblings stay, as the ReplicaSet would recreate only this one). */
  async delete(kind: string, key: string): Promise<ChangeSet> {
    if (!(api.KINDS as readonly string[]).includes(kind)) throw new api.InputError(problem(`kind "${kind}" is not one podpath models (${api.KINDS.join(', ')})`, 'kind'));
    const k = kind as KubeKind;
    const [ns, name] = key.includes('/') ? key.split('/', 2) : ['default', key];
    const sk = sourceKey({ kind, metadata: { name, namespace: ns } });
    const doc = this.editedDocument((edit) => edit.remove(sk, k, key));
    return this.reload(doc, [sk], '<delete>', []);
  }

  /** Replaces the document's `cluster:` section (CNI plugin and mode, kube-proxy mode, CIDRs). */
  async setCluster(cluster: unknown): Promise<ChangeSet> {
    if (!cluster || typeof cluster !== 'object' || Array.isArray(cluster)) throw new api.InputError(problem('the cluster section is a map (podCIDR, serviceCIDR, cni, kubeProxy)', 'cluster'));
    const before = this.doc.cluster as Json | undefined;
    const after = cluster as Json;
    let doc: Json = { ...this.doc, cluster: clone(cluster) };
    // Another CNI (or pod CIDR) gives pods their addresses from its own IPAM (Calico's blocks are not
    // flannel's node podCIDRs), as the pods would be recreated. Nodes, readiness and the rest are kept.
    if (canonical(before?.cni ?? null) !== canonical(after.cni ?? null) || canonical(before?.podCIDR ?? null) !== canonical(after.podCIDR ?? null)) doc = this.unpinned(doc);
    return this.reload(doc, ['cluster'], '<cluster>', []);
  }

  /** The document without the pod addresses the inspector pinned (addresses written in the topology stay). */
  private unpinned(doc: Json): Json {
    const objects = ((doc.objects as Json[] | undefined) ?? []).map((o) => {
      if (!o || typeof o !== 'object' || o.kind !== 'Pod') return o;
      const sk = sourceKey(o);
      if (!this.pinnedAddress.has(sk) && !this.materialised.has(sk)) return o;
      const c = clone(o) as Json & { status?: Json };
      if (c.status) {
        delete c.status.podIP;
        delete c.status.podIPs;
      }
      return c;
    });
    return { ...doc, objects };
  }

  /**
   * The request under each CNI × kube-proxy mode (src/compare, as `podpath compare`), on the
   * current objects: each variant's IPAM numbers the pods afresh, so the pinned addresses are left out.
   */
  async compare(q: CompareQuery): Promise<api.CompareRow[]> {
    const source: api.CompareSource = { document: clone(this.unpinned(this.doc)), file: this.file };
    return api.compareModes(
      source,
      { from: q.from, to: q.to, ...(q.proto ? { proto: q.proto } : {}), ...(q.sport !== undefined ? { sport: q.sport } : {}) },
      { trace: api.traceRequest, all: q.all === true, seed: q.seed ?? 1, ...(q.modes ? { modes: q.modes } : {}), ...(q.proxies ? { proxies: q.proxies } : {}) },
    );
  }

  /** The document as YAML: what `save` writes, loadable with `podpath serve -t`. */
  documentYaml(): string {
    const { manifests: _m, ...rest } = this.doc;
    return `# saved by podpath serve from ${this.file}\n${stringify(rest, { lineWidth: 0 })}`;
  }

  /** Writes the document to the path given at start: a temporary file beside it, then rename. */
  async save(): Promise<string> {
    if (!this.savePath) throw new api.InputError(problem('saving is off: start the server with --save FILE to allow it', 'save'));
    const tmp = join(dirname(this.savePath), `.${basename(this.savePath)}.${process.pid}.${Date.now()}.tmp`);
    await writeFile(tmp, this.documentYaml(), { mode: 0o644 });
    await rename(tmp, this.savePath);
    return this.savePath;
  }

  // ------------------------------------------------------------------ node state

  /** Starts reporting this node's state changes (reference-counted). */
  watchNode(name: string): void {
    api.findNode(this.topo, name);
    const w = this.watches.get(name);
    if (w) {
      w.refs++;
      return;
    }
    this.watches.set(name, { refs: 1, ...this.nodeState(name) });
  }

  unwatchNode(name: string): void {
    const w = this.watches.get(name);
    if (!w) return;
    if (--w.refs <= 0) this.watches.delete(name);
  }

  watchedNodes(): string[] {
    return [...this.watches.keys()];
  }

  /**
   * The node's kube-proxy rules, routes, ipset members and IPVS servers. In iptables mode a
   * KubeProxyIptables is kept for partial syncs; in IPVS mode the generator runs again.
   */
  private nodeState(name: string, routes = this.routeLines(name), calicoKept?: DiffLine[]): NodeState {
    const node = api.findNode(this.topo, name);
    const calico = calicoKept ?? (this.topo.cluster.cni.plugin === 'calico' ? calicoIpsetLines(this.world().nodes.get(name)?.calico?.ipsets ?? '', name) : []);
    if (this.topo.cluster.kubeProxy.mode === 'ipvs') {
      const gen = api.generateNodeIpvs(this.topo, node, 4);
      return { proxy: null, rules: gen.rules.map(toDiffRule), routes, ipsets: [...ipvsIpsetLines(gen), ...calico], ipvs: ipvsLines(gen), calico };
    }
    const proxy = new api.KubeProxyIptables(api.nodeProxyConfig(this.topo, node), 4);
    const { services, endpointSlices } = api.proxyObjects(this.topo);
    proxy.load(services, endpointSlices);
    return { proxy, rules: null, routes, ipsets: calico, ipvs: [], calico };
  }

  private routeLines(name: string): string[] {
    const rib = api.nodeRib(this.topo, api.findNode(this.topo, name));
    return api.formatRoutes(rib.routes(4)).split('\n').filter((l) => l !== '');
  }

  /** One node's state in a real tool's format: the text `podpath rules --what` prints (the same rendering, nodeDump). */
  dump(nodeName: string, what: DumpWhat, after?: TraceQuery): string {
    api.findNode(this.topo, nodeName);
    if (what !== 'conntrack') return api.nodeDump(this.topo, nodeName, what, { world: () => this.world() });
    if (!after) throw new api.InputError(problem('conntrack is the state after a traced request: give from and to', 'from'));
    const { runs } = api.traceRequest(this.world(), { ...this.traceRequest(after), all: false, establish: true });
    const ct = runs[0]?.conntrack(nodeName);
    return ct ? api.formatConntrackList(ct) : '';
  }

  /** The node's iptables as traced, table by table, each rule with its provenance. */
  nodeTables(nodeName: string): { table: string; chains: { chain: string; policy: string | null; rules: { index: number; rule: string; provenance: readonly Provenance[] }[] }[] }[] {
    api.findNode(this.topo, nodeName);
    const rs = this.world().nodes.get(nodeName)?.ruleset;
    if (!rs) return [];
    return [...rs.tables.values()].map((t) => ({
      table: t.name,
      chains: t.order.map((c) => {
        const ch = t.chains.get(c)!;
        return { chain: c, policy: ch.policy ?? null, rules: ch.rules.map((r, i) => ({ index: i + 1, rule: r.text, provenance: r.provenance ?? [] })) };
      }),
    }));
  }

  // ------------------------------------------------------------------ traces

  private traceRequest(q: TraceQuery): api.TraceRequest {
    return {
      from: q.from,
      to: q.to,
      ...(q.proto ? { proto: q.proto } : {}),
      ...(q.sport !== undefined ? { sport: q.sport } : {}),
      all: q.all === true,
      seed: q.seed ?? 1,
      reply: q.reply !== false,
    };
  }

  /** The trace as `podpath trace --format json` prints it. */
  trace(q: TraceQuery): Trace {
    const { trace } = api.traceRequest(this.world(), this.traceRequest(q));
    return JSON.parse(api.renderTrace(trace, 'json')) as Trace;
  }

  /** The trace's frames as pcap bytes (as `podpath trace --pcap`). */
  pcap(q: TraceQuery): Uint8Array {
    const world = this.world();
    const { trace } = api.traceRequest(world, this.traceRequest(q));
    return api.tracePcap(world, [trace]).bytes;
  }

  // ------------------------------------------------------------------ changes

  private attach(): void {
    this.stopStoreWatch();
    this.pending = [];
    this.stopStoreWatch = this.topo.store.watch((ev) => this.pending.push(ev));
  }

  /** Pods only, each already stored with the same spec and address: readiness, labels, conditions. */
  private incrementalApplicable(objs: readonly Json[]): boolean {
    return objs.every((o) => {
      if (o.kind !== 'Pod') return false;
      const p = o as unknown as Pod;
      const cur = this.topo.store.get('Pod', `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`);
      return cur !== undefined && JSON.stringify(cur.spec) === JSON.stringify(p.spec) && cur.status?.podIP === p.status?.podIP;
    });
  }

  private applyIncremental(objs: readonly Json[], file: string): ChangeSet {
    const doc = this.editedDocument((edit) => {
      for (const o of objs) edit.put(o);
    });
    this.pending = [];
    try {
      this.topo.store.transaction((tx) => {
        for (const o of objs) tx.apply(o as unknown as KubeObject);
      });
    } catch (e) {
      this.pending = [];
      throw this.located(e, file, objs);
    }
    this.doc = doc;
    this.accepted();
    const events = this.pending;
    this.pending = [];
    const changes: ChangedObject[] = [];
    for (const ev of events) {
      if (ev.object.kind !== 'Service' && ev.object.kind !== 'EndpointSlice') continue;
      const op = ev.type === 'ADDED' ? 'add' : ev.type === 'MODIFIED' ? 'update' : 'delete';
      changes.push({ kind: ev.object.kind, op, object: ev.object } as ChangedObject);
    }
    const nodes: NodeDiff[] = [];
    if (events.length) this.worldCache = null;
    if (changes.length) {
      for (const [name, w] of this.watches) {
        if (w.proxy) {
          // iptables mode: kube-proxy's partial sync says what it wrote
          const d = w.proxy.update(changes);
          if (!d.added.length && !d.removed.length) continue;
          nodes.push({ node: name, rules: { added: d.added.map(toDiffRule), removed: d.removed.map(toDiffRule) }, routes: { added: [], removed: [] }, ipsets: { added: [], removed: [] }, ipvs: { added: [], removed: [] } });
          continue;
        }
        // IPVS mode: the node's state again, compared (routes and Felix's sets do not follow endpoints)
        const st = this.nodeState(name, w.routes, w.calico);
        const d = diffState(name, w, st);
        Object.assign(w, st);
        if (d) nodes.push(d);
      }
    }
    const objects = events.map((ev) => ({ type: ev.type, kind: ev.object.kind, key: api.objectKey(ev.object), object: ev.object }));
    return this.emit({ version: ++this.version, how: 'incremental', cause: objs.map(sourceKey), objects, nodes });
  }

  private async reload(doc: Json, cause: string[], file: string, applied: readonly Json[]): Promise<ChangeSet> {
    let next: Topology;
    try {
      next = await api.loadTopologyObject(clone(doc), file);
    } catch (e) {
      throw this.located(e, file, applied);
    }
    // the new World must build too (e.g. a node without IPv4): otherwise nothing changes
    let world: World;
    try {
      world = api.buildWorld(next);
    } catch (e) {
      throw this.located(e, file, applied);
    }
    const prev = this.topo;
    this.doc = doc;
    this.accepted();
    this.topo = next;
    this.worldCache = world;
    this.pin();
    this.attach();
    const nodes: NodeDiff[] = [];
    for (const [name, w] of this.watches) {
      if (!next.nodes.some((n) => n.name === name)) {
        this.watches.delete(name);
        continue;
      }
      const st = this.nodeState(name);
      const d = diffState(name, w, st);
      Object.assign(w, st);
      if (d) nodes.push(d);
    }
    return this.emit({ version: ++this.version, how: 'reload', cause, objects: storeDiff(prev, next), nodes });
  }

  private emit(c: ChangeSet): ChangeSet {
    for (const l of [...this.listeners]) {
      try {
        l(c);
      } catch {
        // a listener's failure must not undo or stop the change
      }
    }
    return c;
  }

  /** Problems of the loader, with fields of the document (`objects[12].spec.replicas`) named by the applied object. */
  private located(e: unknown, file: string, applied: readonly Json[]): unknown {
    if (!(e instanceof api.InputError)) return e;
    const idx = new Map<number, string>();
    const objs = (this.pendingDoc?.objects ?? []) as Json[];
    applied.forEach((a) => {
      const i = objs.findIndex((o) => o && sourceKey(o) === sourceKey(a));
      if (i >= 0) idx.set(i, sourceKey(a));
    });
    const out = e.problems
      .filter((p) => p.severity !== 'warning')
      .map((p) => {
        const m = /^objects\[(\d+)\]\.?(.*)$/.exec(p.field ?? '');
        const who = m ? idx.get(Number(m[1])) ?? (objs[Number(m[1])] ? sourceKey(objs[Number(m[1])] as Json) : undefined) : undefined;
        if (m && who) return { ...p, file, field: m[2] || undefined, message: `${who}: ${p.message}` } as api.Problem;
        return { ...p, file: p.file === this.file || p.file === '<object>' ? file : p.file };
      });
    return new api.InputError(out.length ? out : e.problems);
  }

  private pendingDoc: Json | null = null;

  /** A copy of the document with edits: put (replace or add) and remove by key, keeping Deployment semantics. */
  private editedDocument(fn: (edit: { put(o: Json): void; remove(sk: string, kind: KubeKind, key: string): void }) => void): Json {
    // objects are replaced, never changed in place, so the new document shares the others
    const objects = [...((this.doc.objects as Json[] | undefined) ?? [])];
    // changes to `this.materialised` as a delta (the map holds every Deployment Pod: no copy per edit)
    const matAdded = new Map<string, string>();
    const matGone = new Set<string>();
    const materialised = {
      set: (k: string, v: string) => (matGone.delete(k), matAdded.set(k, v)),
      delete: (k: string) => (matAdded.delete(k), matGone.add(k)),
      entries: (): [string, string][] => [...[...this.materialised].filter(([k]) => !matGone.has(k) && !matAdded.has(k)), ...matAdded],
    };
    // positions by key, kept across edits that only replace objects (a readiness flip on a large cluster)
    const positions = (this.positions ??= new Map(objects.map((o, i) => [o && typeof o === 'object' ? sourceKey(o) : `\u0000${i}`, i])));
    let moved = false;
    const indexOf = (sk: string) => (moved ? objects.findIndex((o) => o && typeof o === 'object' && sourceKey(o) === sk) : (positions.get(sk) ?? -1));
    /** A generated Pod is about to change: its ReplicaSet's Pods become explicit objects, so the rest stay as they are. */
    const materialise = (pod: Pod) => {
      const rs = ownerRs(pod);
      if (!rs) return;
      for (const p of this.topo.store.list('Pod', { namespace: pod.metadata.namespace ?? 'default' }) as Pod[]) {
        if (ownerRs(p) !== rs) continue;
        const sk = sourceKey(p);
        if (indexOf(sk) >= 0) continue;
        const c = clone(p) as unknown as Json & { metadata: Json };
        delete c.metadata.resourceVersion;
        objects.push(c);
        moved = true;
        materialised.set(sk, rs);
      }
    };
    /**
     * A Deployment changes: its Pods leave the document and the loader expands it again, except on
     * a scale-down with the same template, where the ReplicaSet keeps `replicas` of its Pods (by
     * name) and deletes the rest, as upstream's ReplicaSet controller deletes only the surplus.
     */
    const dropOwnedBy = (deployment: Json, keep = 0) => {
      const ns = String((deployment.metadata as Json).namespace ?? 'default');
      const prefix = `${String((deployment.metadata as Json).name)}-`;
      const owned = materialised.entries().filter(([sk, rs]) => sk.startsWith(`Pod/${ns}/`) && rs.startsWith(prefix)).sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (const [sk] of owned.slice(keep)) {
        const i = indexOf(sk);
        if (i >= 0) objects.splice(i, 1);
        moved = true;
        materialised.delete(sk);
      }
    };
    fn({
      put: (o) => {
        const sk = sourceKey(o);
        if (o.kind === 'Deployment') {
          const cur = this.topo.store.get('Deployment', sk.slice('Deployment/'.length));
          const spec = o.spec as Json | undefined;
          const want = typeof spec?.replicas === 'number' ? spec.replicas : 1;
          const sameTemplate = cur !== undefined && JSON.stringify(cur.spec.template) === JSON.stringify(spec?.template) && JSON.stringify(cur.spec.selector) === JSON.stringify(spec?.selector);
          dropOwnedBy(o, sameTemplate && want <= (cur.spec.replicas ?? 1) ? want : 0);
        }
        let i = indexOf(sk);
        if (i < 0 && o.kind === 'Pod') {
          const cur = this.topo.store.get('Pod', sk.slice(4));
          if (cur) materialise(cur);
          i = indexOf(sk);
        }
        if (i >= 0) objects[i] = o;
        else {
          objects.push(o);
          moved = true;
        }
      },
      remove: (sk, kind, key) => {
        let i = indexOf(sk);
        const cur = this.topo.store.get(kind, key) as KubeObject | undefined;
        if (i < 0 && cur?.kind === 'Pod') {
          materialise(cur);
          i = indexOf(sk);
        }
        if (i < 0) {
          if (cur?.kind === 'EndpointSlice') throw new api.InputError(problem(`${sk} is managed by the endpointslice controller, which would recreate it; change its Service or Pods instead`, 'metadata.name'));
          if (cur?.kind === 'ReplicaSet') throw new api.InputError(problem(`${sk} is managed by its Deployment, which would recreate it; scale or delete the Deployment instead`, 'metadata.name'));
          if (cur?.kind === 'Node') throw new api.InputError(problem(`${sk} is a node of the topology (nodes:); remove it from the topology file`, 'metadata.name'));
          throw new api.InputError(problem(`no ${kind} ${key}`, 'metadata.name'));
        }
        objects.splice(i, 1);
        moved = true;
        materialised.delete(sk);
        if (kind === 'Deployment') dropOwnedBy({ metadata: { name: key.split('/')[1], namespace: key.split('/')[0] } });
      },
    });
    const doc = { ...this.doc, objects };
    this.pendingDoc = doc;
    this.commitMaterialised = () => {
      if (moved) this.positions = null;
      for (const k of matGone) this.materialised.delete(k);
      for (const [k, v] of matAdded) this.materialised.set(k, v);
    };
    return doc;
  }

  private commitMaterialised: () => void = () => undefined;
  /** Index of the document's objects by sourceKey (null after an edit that moved them). */
  private positions: Map<string, number> | null = null;

  /** Called once a change from editedDocument is accepted. */
  private accepted(): void {
    this.commitMaterialised();
    this.commitMaterialised = () => undefined;
    this.pendingDoc = null;
  }

  /** The graph the UI draws: segments, routers, nodes, pods, Services with their endpoints, clients. */
  graph(): ClusterGraph {
    const t = this.topo;
    const pods = (t.store.list('Pod') as Pod[]).map((p) => ({
      key: `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`,
      node: p.spec.nodeName ?? null,
      ip: p.status?.podIP ?? null,
      hostNetwork: p.spec.hostNetwork === true,
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    }));
    const slices = t.store.list('EndpointSlice') as EndpointSlice[];
    const podByIp = new Map(pods.filter((p) => p.ip && !p.hostNetwork).map((p) => [p.ip!, p.key]));
    const services = (t.store.list('Service') as Service[]).map((s) => {
      const key = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
      const eps = new Set<string>();
      for (const sl of slices) {
        if (sl.metadata.labels?.[api.SERVICE_NAME_LABEL] !== s.metadata.name || (sl.metadata.namespace ?? 'default') !== (s.metadata.namespace ?? 'default')) continue;
        for (const e of sl.endpoints ?? []) {
          const target = e.targetRef?.kind === 'Pod' ? `${e.targetRef.namespace ?? s.metadata.namespace ?? 'default'}/${e.targetRef.name}` : podByIp.get(e.addresses[0] ?? '');
          if (target && e.conditions?.ready !== false) eps.add(target);
        }
      }
      return {
        key,
        type: s.spec.type ?? 'ClusterIP',
        clusterIP: s.spec.clusterIP ?? null,
        ports: (s.spec.ports ?? []).map((p) => ({ name: p.name ?? null, port: p.port, protocol: p.protocol ?? 'TCP', nodePort: p.nodePort ?? null })),
        externalTrafficPolicy: s.spec.externalTrafficPolicy ?? null,
        loadBalancerIPs: (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((x): x is string => typeof x === 'string'),
        endpoints: [...eps].sort(),
      };
    });
    return {
      name: t.name,
      cni: `${t.cluster.cni.plugin} ${t.cluster.cni.mode}`,
      proxy: t.cluster.kubeProxy.mode,
      segments: t.networks.map((n) => ({ name: n.name, cidrs: [...n.cidrs], mtu: n.mtu })),
      routers: t.routers.map((r) => ({ name: r.name, interfaces: r.interfaces.map((i) => ({ network: i.network, ip: i.ip })) })),
      // Calico gives pods addresses from its IPAM blocks, not from the node's podCIDR
      nodes: t.nodes.map((n) => ({ name: n.name, ips: [...n.ips], network: n.network, podCIDRs: t.cluster.cni.plugin === 'calico' ? [...(this.world().nodes.get(n.name)?.calico?.blocks ?? [])] : [...n.podCIDRs] })),
      clients: t.clients.map((c) => ({ name: c.name, ips: [...c.ips], network: c.network })),
      pods,
      services,
    };
  }
}

export interface ClusterGraph {
  name: string;
  cni: string;
  proxy: string;
  segments: { name: string; cidrs: string[]; mtu: number }[];
  routers: { name: string; interfaces: { network: string; ip: string }[] }[];
  nodes: { name: string; ips: string[]; network: string; podCIDRs: string[] }[];
  clients: { name: string; ips: string[]; network: string }[];
  pods: { key: string; node: string | null; ip: string | null; hostNetwork: boolean; ready: boolean }[];
  services: {
    key: string;
    type: string;
    clusterIP: string | null;
    ports: { name: string | null; port: number; protocol: string; nodePort: number | null }[];
    externalTrafficPolicy: string | null;
    loadBalancerIPs: string[];
    endpoints: string[];
  }[];
}

/** Object events that take the objects of `a` to those of `b` (resourceVersion ignored). */
function storeDiff(a: Topology, b: Topology): ObjectEvent[] {
  const out: ObjectEvent[] = [];
  const body = (o: KubeObject) => canonical({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  for (const kind of api.KINDS) {
    const before = new Map((a.store.list(kind) as KubeObject[]).map((o) => [api.objectKey(o), o]));
    for (const o of b.store.list(kind) as KubeObject[]) {
      const key = api.objectKey(o);
      const p = before.get(key);
      before.delete(key);
      if (!p) out.push({ type: 'ADDED', kind, key, object: o });
      else if (body(p) !== body(o)) out.push({ type: 'MODIFIED', kind, key, object: o });
    }
    for (const [key, o] of before) out.push({ type: 'DELETED', kind, key, object: o });
  }
  return out;
}

/** JSON with map keys sorted: equal for equal content whatever order fields were written in. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Json).sort((a, b) => (a[0] < b[0] ? -1 : 1))) : x));
}
