/**
 * Allocation as a real cluster does it, deterministically: node podCIDRs (kube-controller-manager's
 * node IPAM, pkg/controller/nodeipam/ipam/cidrset), pod IPs (the host-local IPAM plugin), Service
 * cluster IPs and NodePorts (kube-apiserver's allocators, pkg/registry/core/service/ipallocator and
 * portallocator), workload expansion (Deployment → ReplicaSet → Pods) and scheduling.
 * Where the real component draws at random, podpath hashes the object's name instead: same input,
 * same addresses, and adding one Service does not move the others.
 */
import {
  cidrContains,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  formatIp,
  nthHost,
  parseCidr,
  parseIp,
  subnetOf,
  type Cidr,
  type Family,
  type Problem,
} from '../base/index.js';
import {
  API_VERSIONS,
  HOSTNAME_LABEL,
  objectKey,
  POD_TEMPLATE_HASH_LABEL,
  type Deployment,
  type IPFamily,
  type KubeObject,
  type LabelSelector,
  type Node,
  type Pod,
  type ReplicaSet,
  type Service,
} from './objects.js';
import { cloneObject } from './store.js';
import { locate, type Origin } from './spec/source.js';
import type { Path } from './spec/schema.js';

/** An object and where it was written (generated objects carry the origin of what made them). */
export interface Located<T extends KubeObject = KubeObject> {
  obj: T;
  origin?: Origin;
}

// ------------------------------------------------------------------ well-known numbers

/** kube-controller-manager --node-cidr-mask-size-ipv4 / -ipv6 defaults (cmd/kube-controller-manager/app/options). */
export const NODE_CIDR_MASK = { 4: 24, 6: 64 } as const;
/** kube-apiserver --service-node-port-range default (pkg/kubeapiserver/options: DefaultServiceNodePortRange). */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;
/** Offset of the cluster DNS Service in the service CIDR: kubeadm's clusterDNS is the 10th address. */
export const KUBE_DNS_OFFSET = 10;
/** The apiserver's secure port behind `default/kubernetes` (kube-apiserver --secure-port default 6443). */
export const APISERVER_PORT = 6443;

function familyOf(f: Family): IPFamily {
  return f === 4 ? 'IPv4' : 'IPv6';
}

/** FNV-1a, 32 bit: the hash Kubernetes uses for pod-template-hash (hash/fnv New32a). */
export function fnv32a(text: string, from = 0x811c9dc5): number {
  let h = from;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The alphabet of k8s.io/apimachinery/pkg/util/rand (no vowels, no 0/1/3: no accidental words). */
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** rand.SafeEncodeString: each byte mapped onto ALPHANUMS (how pod-template-hash is spelled). */
export function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += ALPHANUMS[s.charCodeAt(i) % ALPHANUMS.length];
  return out;
}

/** A 5-character suffix as generateName produces (rand.String(5)), derived from a seed string. */
export function nameSuffix(seed: string): string {
  let h = fnv32a(seed);
  let out = '';
  for (let i = 0; i < 5; i++) {
    out += ALPHANUMS[h % ALPHANUMS.length];
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
    h = (h + i + 1) >>> 0;
  }
  return out;
}

/** A stable UID (UUID-shaped) for an object that was given none. */
export function stableUid(kind: string, key: string): string {
  // fnv32a(`${i}:${kind}/${key}`) for i = 0..3, in one pass over the common suffix
  const rest = `${kind}/${key}`;
  let h0 = fnv32a('0:');
  let h1 = fnv32a('1:');
  let h2 = fnv32a('2:');
  let h3 = fnv32a('3:');
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    h0 = Math.imul(h0 ^ c, 0x01000193) >>> 0;
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000193) >>> 0;
    h3 = Math.imul(h3 ^ c, 0x01000193) >>> 0;
  }
  const hex = [h0, h1, h2, h3].map((h) => h.toString(16).padStart(8, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

// ------------------------------------------------------------------ label selectors

export function selectorMatches(sel: LabelSelector | Record<string, string> | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!sel) return false;
  const l = labels ?? {};
  const isLs = 'matchLabels' in sel || 'matchExpressions' in sel;
  const ml = (isLs ? (sel as LabelSelector).matchLabels : (sel as Record<string, string>)) ?? {};
  for (const [k, v] of Object.entries(ml)) if (l[k] !== v) return false;
  for (const e of (isLs ? (sel as LabelSelector).matchExpressions : undefined) ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const vals = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !vals.includes(l[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && vals.includes(l[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

// ------------------------------------------------------------------ input and output

export interface AllocNode {
  readonly name: string;
  readonly ips: readonly string[];
  /** Given podCIDRs (empty: allocate). */
  readonly podCIDRs: readonly string[];
  readonly schedulable: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** Where the node was declared, and the path of its podCIDR field. */
  readonly origin?: Origin;
  readonly podCIDRPath?: Path;
}

export interface AllocInput {
  readonly podCIDRs: readonly string[];
  readonly serviceCIDRs: readonly string[];
  readonly nodes: readonly AllocNode[];
  readonly objects: readonly Located[];
  /** flannel requires every pod IP inside its node's podCIDR; Calico IPAM only inside the cluster CIDR. */
  readonly podIPsInNodeCIDR: boolean;
  /** A CNI IPAM that is not host-local on node.spec.podCIDR (Calico's blocks): it hands out pod IPv4 addresses. */
  readonly podIpam?: PodIpam;
}

/** Pod addresses from a CNI's own IPAM (controllers/calico CalicoIpam). */
export interface PodIpam {
  /** Records an address the input gives a pod; returns a problem text, or null. */
  reserve(node: string, ip: string, handle: string): string | null;
  /** The next address for a pod on `node`, or null when none is left. */
  assign(node: string, handle: string): string | null;
}

export interface AllocResult {
  /** podCIDRs per node name, primary family first. */
  readonly nodePodCIDRs: ReadonlyMap<string, readonly string[]>;
  /** Every object, in a stable order: Namespaces, Nodes, then the rest in input order with expansions in place. */
  readonly objects: readonly Located[];
}

function err(problems: Problem[], origin: Origin | undefined, path: Path, message: string): void {
  problems.push({ ...locate(origin, path), message, severity: 'error' });
}

function where(origin: Origin | undefined, path: Path): string {
  const l = locate(origin, path);
  return `${l.file}${l.line !== undefined ? `:${l.line}` : ''}${l.field ? ` (${l.field})` : ''}`;
}

// ------------------------------------------------------------------ node podCIDRs

/**
 * Models CidrSet.AllocateNext (pkg/controller/nodeipam/ipam/cidrset/cidr_set.go): each node in
 * order gets the next /24 (IPv4) or /64 (IPv6) of the cluster CIDR not already occupied by a
 * podCIDR some node was given.
 */
export function allocateNodeCIDRs(clusterCIDRs: readonly Cidr[], nodes: readonly AllocNode[], problems: Problem[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  // Only the given podCIDRs can be in the way: allocated ones are distinct indexes of one mask.
  const taken: Cidr[] = [];
  for (const n of nodes) for (const c of n.podCIDRs) taken.push(parseCidr(c));
  const next = new Map<Family, number>();
  for (const n of nodes) {
    if (n.podCIDRs.length > 0) {
      out.set(n.name, [...n.podCIDRs]);
      continue;
    }
    const mine: string[] = [];
    for (const cc of clusterCIDRs) {
      const mask = Math.max(NODE_CIDR_MASK[cc.family], cc.prefix);
      const count = cidrSize(cc) / cidrSize({ ...cc, prefix: mask });
      let i = next.get(cc.family) ?? 0;
      let got: Cidr | undefined;
      while (BigInt(i) < count) {
        const cand = subnetOf(cc, mask, i);
        i++;
        if (!taken.some((t) => cidrsOverlap(t, cand))) {
          got = cand;
          break;
        }
      }
      next.set(cc.family, i);
      if (!got) {
        err(problems, n.origin, n.podCIDRPath ?? [], `no free /${mask} left in cluster CIDR ${formatCidr(cc)} for node ${n.name}`);
        continue;
      }
      mine.push(formatCidr(got));
    }
    out.set(n.name, mine);
  }
  return out;
}

// ------------------------------------------------------------------ workloads and scheduling

function podTemplateHash(tmpl: unknown): string {
  // ComputeHash (pkg/controller/controller_utils.go): FNV-32a over the template, spelled with SafeEncodeString.
  return safeEncode(String(fnv32a(JSON.stringify(tmpl))));
}

function makePodsFor(owner: ReplicaSet, replicas: number): Pod[] {
  const ns = owner.metadata.namespace ?? 'default';
  const tmpl = owner.spec.template;
  const pods: Pod[] = [];
  const used = new Set<string>();
  for (let i = 0; i < replicas; i++) {
    let suffix = nameSuffix(`${ns}/${owner.metadata.name}#${i}`);
    for (let k = 0; used.has(suffix); k++) suffix = nameSuffix(`${ns}/${owner.metadata.name}#${i}#${k}`);
    used.add(suffix);
    const name = `${owner.metadata.name}-${suffix}`;
    // A copy of the template's metadata with the pod's own fields set (keys in the order a spread
    // `{ ...meta, name, namespace, labels, ownerReferences }` gives, without its cost per pod).
    const meta: Pod['metadata'] = cloneObject(tmpl.metadata ?? {}) as Pod['metadata'];
    meta.name = name;
    meta.namespace = ns;
    meta.labels = meta.labels ?? {};
    meta.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner.metadata.name, ...(owner.metadata.uid ? { uid: owner.metadata.uid } : {}), controller: true }];
    pods.push({ apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: cloneObject(tmpl.spec) });
  }
  return pods;
}

function expandWorkloads(objects: readonly Located[]): Located[] {
  // Given Pods and ReplicaSets by namespace, so each workload looks at its own namespace only.
  const podsByNs = new Map<string, Located<Pod>[]>();
  const rssByNs = new Map<string, Located<ReplicaSet>[]>();
  for (const l of objects) {
    if (l.obj.kind !== 'Pod' && l.obj.kind !== 'ReplicaSet') continue;
    const by = (l.obj.kind === 'Pod' ? podsByNs : rssByNs) as Map<string, Located[]>;
    const ns = l.obj.metadata.namespace ?? 'default';
    let list = by.get(ns);
    if (!list) by.set(ns, (list = []));
    list.push(l);
  }
  const hasPods = (ns: string, sel: LabelSelector) => (podsByNs.get(ns) ?? []).some((p) => selectorMatches(sel, p.obj.metadata.labels));
  const out: Located[] = [];
  for (const l of objects) {
    out.push(l);
    if (l.obj.kind === 'Deployment') {
      const d = l.obj as Deployment;
      const ns = d.metadata.namespace ?? 'default';
      const owned = (rssByNs.get(ns) ?? []).some((r) => (r.obj.metadata.ownerReferences ?? []).some((o) => o.kind === 'Deployment' && o.name === d.metadata.name));
      if (owned) continue;
      const hash = podTemplateHash(d.spec.template);
      const rs: ReplicaSet = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${d.metadata.name}-${hash}`,
          namespace: ns,
          labels: { ...(d.spec.template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, ...(d.metadata.uid ? { uid: d.metadata.uid } : {}), controller: true }],
        },
        spec: {
          replicas: d.spec.replicas ?? 1,
          selector: { ...cloneObject(d.spec.selector), matchLabels: { ...(d.spec.selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } },
          template: {
            metadata: { ...cloneObject(d.spec.template.metadata ?? {}), labels: { ...(d.spec.template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } },
            spec: cloneObject(d.spec.template.spec),
          },
        },
      };
      const rsl: Located<ReplicaSet> = l.origin ? { obj: rs, origin: l.origin } : { obj: rs };
      out.push(rsl);
      if (!hasPods(ns, d.spec.selector)) for (const p of makePodsFor(rs, rs.spec.replicas ?? 1)) out.push(l.origin ? { obj: p, origin: l.origin } : { obj: p });
    } else if (l.obj.kind === 'ReplicaSet') {
      const rs = l.obj as ReplicaSet;
      const ns = rs.metadata.namespace ?? 'default';
      if (!hasPods(ns, rs.spec.selector)) for (const p of makePodsFor(rs, rs.spec.replicas ?? 1)) out.push(l.origin ? { obj: p, origin: l.origin } : { obj: p });
    }
  }
  return out;
}

/**
 * Places pods without spec.nodeName: each goes to the schedulable node with the fewest pods so far,
 * ties broken in node order (the spread the default scheduler's LeastAllocated and
 * PodTopologySpread scoring produce for identical pods), in input order.
 */
function schedule(objects: readonly Located[], nodes: readonly AllocNode[], problems: Problem[]): void {
  const load = new Map(nodes.map((n) => [n.name, 0]));
  const pods = objects.filter((l): l is Located<Pod> => l.obj.kind === 'Pod');
  for (const p of pods) {
    const nn = p.obj.spec.nodeName;
    if (nn === undefined) continue;
    if (!load.has(nn)) err(problems, p.origin, ['spec', 'nodeName'], `pod ${objectKey(p.obj)} is on node "${nn}", which is not a node of the topology (${nodes.map((n) => n.name).join(', ') || 'none'})`);
    else load.set(nn, load.get(nn)! + 1);
  }
  // A binary min-heap of schedulable nodes by (pods so far, node order): the same choice as
  // scanning every node for the least loaded, in O(log nodes) per pod.
  const heap = nodes.flatMap((n, order) => (n.schedulable ? [{ name: n.name, order, load: load.get(n.name)! }] : []));
  type Entry = (typeof heap)[number];
  const less = (a: Entry, b: Entry) => a.load < b.load || (a.load === b.load && a.order < b.order);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  for (const p of pods) {
    if (p.obj.spec.nodeName !== undefined) continue;
    const best = heap[0];
    if (!best) {
      err(problems, p.origin, ['spec'], `pod ${objectKey(p.obj)} cannot be scheduled: no schedulable node`);
      continue;
    }
    p.obj.spec.nodeName = best.name;
    best.load++;
    down(0);
  }
}

// ------------------------------------------------------------------ pod IPs

/** Running unless a status says otherwise; a pod with no status at all is taken as running and ready. */
function fillPodStatus(p: Pod): void {
  if (!p.status) {
    p.status = {
      phase: 'Running',
      conditions: [
        { type: 'Initialized', status: 'True' },
        { type: 'Ready', status: 'True' },
        { type: 'ContainersReady', status: 'True' },
        { type: 'PodScheduled', status: 'True' },
      ],
    };
  }
}

/**
 * Pod IPs: host-local (plugins/ipam/host-local) hands out addresses of the node's podCIDR in order,
 * skipping the network address and the gateway (.1, the cni0 bridge), so the first pod gets .2.
 * hostNetwork pods use the node's IPs.
 */
function allocatePodIPs(objects: readonly Located[], nodes: readonly AllocNode[], nodeCIDRs: ReadonlyMap<string, readonly string[]>, clusterCIDRs: readonly Cidr[], strictNode: boolean, problems: Problem[], ipam?: PodIpam): void {
  const byNode = new Map(nodes.map((n) => [n.name, n]));
  const owners = new Map<string, { key: string; origin: Origin | undefined; path: Path }>();
  const pods = objects.filter((l): l is Located<Pod> => l.obj.kind === 'Pod');
  // 1. Addresses given in the input are taken first.
  for (const l of pods) {
    const p = l.obj;
    fillPodStatus(p);
    const st = p.status!;
    if (st.podIP && (!st.podIPs || st.podIPs.length === 0)) st.podIPs = [{ ip: st.podIP }];
    if (!st.podIP && st.podIPs && st.podIPs.length > 0) st.podIP = st.podIPs[0]!.ip;
    if (st.podIP && st.podIPs && st.podIPs[0]!.ip !== st.podIP) err(problems, l.origin, ['status', 'podIPs', 0, 'ip'], `must equal status.podIP (${st.podIP})`);
    const node = p.spec.nodeName ? byNode.get(p.spec.nodeName) : undefined;
    if (node) {
      if (!st.hostIP) st.hostIP = node.ips[0];
      if (!st.hostIPs) st.hostIPs = node.ips.map((ip) => ({ ip }));
    }
    if (p.spec.hostNetwork) {
      if (node && !st.podIP && (st.phase === 'Running' || st.phase === undefined)) {
        st.podIP = node.ips[0];
        st.podIPs = node.ips.map((ip) => ({ ip }));
      }
      continue;
    }
    (st.podIPs ?? []).forEach((pip, i) => {
      const path: Path = i === 0 ? ['status', 'podIP'] : ['status', 'podIPs', i, 'ip'];
      let ip;
      try {
        ip = parseIp(pip.ip);
      } catch {
        return; // already reported by the schema
      }
      const text = formatIp(ip);
      const prev = owners.get(text);
      if (prev) {
        err(problems, l.origin, path, `pod IP ${text} of ${objectKey(p)} is also the IP of ${prev.key} at ${where(prev.origin, prev.path)}`);
        return;
      }
      owners.set(text, { key: `pod ${objectKey(p)}`, origin: l.origin, path });
      const ncidrs = node ? (nodeCIDRs.get(node.name) ?? []).map((c) => parseCidr(c)) : [];
      const inNode = ncidrs.some((c) => cidrContains(c, ip));
      const inCluster = clusterCIDRs.some((c) => cidrContains(c, ip));
      if (node && strictNode && !inNode) err(problems, l.origin, path, `pod IP ${text} is not inside podCIDR ${ncidrs.map(formatCidr).join(',') || '(none)'} of its node ${node.name}`);
      else if (ipam && node && ip.family === 4) {
        const why = ipam.reserve(node.name, text, ipamHandle(p));
        if (why) err(problems, l.origin, path, `pod IP ${text}: ${why}`);
      } else if (!inCluster) err(problems, l.origin, path, `pod IP ${text} is not inside the cluster podCIDR ${clusterCIDRs.map(formatCidr).join(',')}`);
    });
  }
  // 2. Running pods without an address get the next free one of their node's podCIDR(s).
  const cursor = new Map<string, bigint>();
  const parsed = new Map<string, Cidr>();
  const cidrOf = (text: string): Cidr => {
    let c = parsed.get(text);
    if (!c) parsed.set(text, (c = parseCidr(text)));
    return c;
  };
  for (const l of pods) {
    const p = l.obj;
    const st = p.status!;
    if (p.spec.hostNetwork || st.podIP || (st.phase !== 'Running' && st.phase !== undefined)) continue;
    const node = p.spec.nodeName ? byNode.get(p.spec.nodeName) : undefined;
    if (!node) continue;
    const ips: string[] = [];
    if (ipam) {
      const got = ipam.assign(node.name, ipamHandle(p));
      if (got) ips.push(got);
      else err(problems, l.origin, [], `Calico IPAM has no free address for pod ${objectKey(p)} on node ${node.name}: every block of its IPPools is claimed and full`);
    }
    for (const ctext of ipam ? [] : (nodeCIDRs.get(node.name) ?? [])) {
      const c = cidrOf(ctext);
      const size = cidrSize(c);
      // IPv4: the broadcast address is not handed out (host-local's default RangeEnd).
      const last = c.family === 4 ? size - 2n : size - 1n;
      const ck = `${node.name}|${ctext}`;
      let i = cursor.get(ck) ?? 2n;
      let got: string | undefined;
      for (; i <= last; i++) {
        const cand = formatIp(nthHost(c, i));
        if (!owners.has(cand)) {
          got = cand;
          i++;
          break;
        }
      }
      cursor.set(ck, i);
      if (!got) {
        err(problems, l.origin, [], `node ${node.name} has no free address left in ${ctext} for pod ${objectKey(p)}`);
        continue;
      }
      owners.set(got, { key: `pod ${objectKey(p)}`, origin: l.origin, path: [] });
      ips.push(got);
    }
    if (ips.length > 0) {
      st.podIP = ips[0];
      st.podIPs = ips.map((ip) => ({ ip }));
    }
  }
}

/** The IPAM handle of a pod (the Calico CNI's `k8s-pod-network.<id>`; podpath uses namespace.name as the id). */
function ipamHandle(p: Pod): string {
  return `k8s-pod-network.${p.metadata.namespace ?? 'default'}.${p.metadata.name}`;
}

// ------------------------------------------------------------------ service IPs and ports

/**
 * The dynamic band of kube-apiserver's allocators (KEP-3070 / KEP-3668): addresses (ports) below
 * min(max(16, size/step), max) are kept for static assignment, dynamic ones come from above.
 * Service IPs: step 16, max 256; NodePorts: step 32, max 128.
 */
export function staticBandSize(size: bigint, step: bigint, max: bigint): bigint {
  let off = size / step;
  if (off < 16n) off = 16n;
  if (off > max) off = max;
  return off;
}

class IpAllocator {
  readonly taken = new Map<string, { key: string; origin: Origin | undefined; path: Path }>();
  constructor(readonly cidr: Cidr) {}
  /** The usable range: network and broadcast (IPv4) addresses excluded, as ipallocator does. */
  get first(): bigint {
    return 1n;
  }
  get last(): bigint {
    const size = cidrSize(this.cidr);
    return this.cidr.family === 4 ? size - 2n : size - 1n;
  }
  allocate(seed: string): string | undefined {
    const first = this.first;
    const count = this.last - first + 1n;
    if (count <= 0n) return undefined;
    const band = staticBandSize(count, 16n, 256n);
    const dynStart = count > band ? first + band : first;
    const dynCount = this.last - dynStart + 1n;
    const start = BigInt(fnv32a(seed)) % dynCount;
    for (let k = 0n; k < count; k++) {
      // Dynamic band first, then the static band (as the allocator falls back when the upper band is full).
      const off = k < dynCount ? dynStart + ((start + k) % dynCount) : first + (k - dynCount);
      const ip = formatIp(nthHost(this.cidr, off));
      if (!this.taken.has(ip)) return ip;
    }
    return undefined;
  }
}

interface ServiceCtx {
  readonly allocators: Map<Family, IpAllocator>;
  readonly families: IPFamily[];
}

function serviceFamilies(svc: Service, ctx: ServiceCtx, l: Located<Service>, problems: Problem[]): IPFamily[] | undefined {
  const spec = svc.spec;
  const cluster = ctx.families;
  const dualCluster = cluster.length === 2;
  if (spec.ipFamilies && spec.ipFamilies.length > 0) {
    for (const [i, f] of spec.ipFamilies.entries()) {
      if (!cluster.includes(f)) {
        err(problems, l.origin, ['spec', 'ipFamilies', i], `${f} is not served by this cluster (serviceCIDR ${[...ctx.allocators.values()].map((a) => formatCidr(a.cidr)).join(',')})`);
        return undefined;
      }
    }
    if (spec.ipFamilies.length === 1 && spec.ipFamilyPolicy !== 'SingleStack' && spec.ipFamilyPolicy !== undefined && dualCluster) {
      return [spec.ipFamilies[0]!, cluster.find((f) => f !== spec.ipFamilies![0])!];
    }
    return [...spec.ipFamilies];
  }
  const ips = (spec.clusterIPs ?? []).filter((c) => c !== 'None');
  if (ips.length > 0) {
    const fams = ips.map((c) => (c.includes(':') ? 'IPv6' : 'IPv4') as IPFamily);
    if (fams.length === 1 && (spec.ipFamilyPolicy === 'PreferDualStack' || spec.ipFamilyPolicy === 'RequireDualStack') && dualCluster) fams.push(cluster.find((f) => f !== fams[0])!);
    return fams;
  }
  if (spec.ipFamilyPolicy === 'RequireDualStack' && !dualCluster) {
    err(problems, l.origin, ['spec', 'ipFamilyPolicy'], 'RequireDualStack needs a dual-stack cluster (two serviceCIDRs)');
    return undefined;
  }
  if (spec.ipFamilyPolicy === 'PreferDualStack' || spec.ipFamilyPolicy === 'RequireDualStack') return [...cluster];
  // Headless without a selector: the API server gives it every family the cluster has.
  if (spec.clusterIP === 'None' && spec.selector === undefined) return [...cluster];
  return [cluster[0]!];
}

function allocateServices(objects: Located[], serviceCIDRs: readonly Cidr[], nodes: readonly AllocNode[], problems: Problem[]): void {
  const ctx: ServiceCtx = { allocators: new Map(serviceCIDRs.map((c) => [c.family, new IpAllocator(c)])), families: serviceCIDRs.map((c) => familyOf(c.family)) };
  const services = objects.filter((l): l is Located<Service> => l.obj.kind === 'Service');
  const primary = ctx.allocators.get(serviceCIDRs[0]!.family)!;
  const kubernetesIP = formatIp(nthHost(primary.cidr, 1));
  const dnsIP = cidrSize(primary.cidr) > BigInt(KUBE_DNS_OFFSET + 1) ? formatIp(nthHost(primary.cidr, KUBE_DNS_OFFSET)) : undefined;

  // default/kubernetes, as the apiserver's bootstrap controller creates it, unless given.
  if (!services.some((l) => objectKey(l.obj) === 'default/kubernetes')) {
    const svc: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: {
        type: 'ClusterIP',
        clusterIP: kubernetesIP,
        clusterIPs: [kubernetesIP],
        ipFamilies: [familyOf(primary.cidr.family)],
        ipFamilyPolicy: 'SingleStack',
        internalTrafficPolicy: 'Cluster',
        sessionAffinity: 'None',
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: APISERVER_PORT }],
      },
    };
    const l: Located<Service> = { obj: svc };
    objects.push(l);
    services.unshift(l);
    const first = nodes[0]?.ips.find((ip) => !ip.includes(':') === (primary.cidr.family === 4));
    if (first) {
      objects.push({
        obj: {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          // The apiserver's endpoint reconciler writes this slice itself and marks it skip-mirror.
          metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true', 'kubernetes.io/service-name': 'kubernetes' } },
          addressType: familyOf(primary.cidr.family),
          endpoints: [{ addresses: [first], conditions: { ready: true } }],
          ports: [{ name: 'https', port: APISERVER_PORT, protocol: 'TCP' }],
        },
      });
    }
  }

  // 1. Given cluster IPs: inside a service CIDR, not twice.
  for (const l of services) {
    const spec = l.obj.spec;
    if (spec.type === 'ExternalName') continue;
    (spec.clusterIPs ?? []).forEach((c, i) => {
      if (c === 'None') return;
      const path: Path = ['spec', i === 0 && spec.clusterIP ? 'clusterIP' : 'clusterIPs', ...(i === 0 && spec.clusterIP ? [] : [i])];
      let ip;
      try {
        ip = parseIp(c);
      } catch {
        return;
      }
      const alloc = ctx.allocators.get(ip.family);
      const text = formatIp(ip);
      if (!alloc) {
        err(problems, l.origin, path, `${text} is IPv${ip.family}, but the cluster has no IPv${ip.family} serviceCIDR`);
        return;
      }
      const off = BigInt(ip.n) - BigInt(alloc.cidr.network.n);
      if (!cidrContains(alloc.cidr, ip) || off < alloc.first || off > alloc.last) {
        err(problems, l.origin, path, `${text} is not inside serviceCIDR ${formatCidr(alloc.cidr)}${cidrContains(alloc.cidr, ip) ? ' (network and broadcast addresses are not usable)' : ''}`);
        return;
      }
      if (text === kubernetesIP && objectKey(l.obj) !== 'default/kubernetes') {
        err(problems, l.origin, path, `${text} is reserved for the default/kubernetes Service (the first address of the serviceCIDR)`);
        return;
      }
      const prev = alloc.taken.get(text);
      if (prev) {
        err(problems, l.origin, path, `cluster IP ${text} of ${objectKey(l.obj)} is also the cluster IP of ${prev.key} at ${where(prev.origin, prev.path)}`);
        return;
      }
      alloc.taken.set(text, { key: `Service ${objectKey(l.obj)}`, origin: l.origin, path });
    });
  }
  // 2. kube-dns gets the 10th address when it has none.
  const dns = services.find((l) => objectKey(l.obj) === 'kube-system/kube-dns');
  if (dns && dnsIP && !dns.obj.spec.clusterIP && dns.obj.spec.type !== 'ExternalName' && !primary.taken.has(dnsIP)) {
    dns.obj.spec.clusterIP = dnsIP;
    dns.obj.spec.clusterIPs = [dnsIP];
    primary.taken.set(dnsIP, { key: 'Service kube-system/kube-dns', origin: dns.origin, path: ['spec'] });
  }
  // 3. Families and the remaining cluster IPs.
  for (const l of services) {
    const spec = l.obj.spec;
    if (spec.type === 'ExternalName') {
      delete spec.ipFamilies;
      delete spec.ipFamilyPolicy;
      continue;
    }
    const fams = serviceFamilies(l.obj, ctx, l, problems);
    if (!fams) continue;
    spec.ipFamilies = fams;
    if (spec.ipFamilyPolicy === undefined) spec.ipFamilyPolicy = fams.length === 2 ? (spec.clusterIP === 'None' && spec.selector === undefined ? 'RequireDualStack' : 'PreferDualStack') : 'SingleStack';
    if (spec.clusterIP === 'None') {
      spec.clusterIPs = ['None'];
      continue;
    }
    const ips = [...(spec.clusterIPs ?? [])];
    for (let i = ips.length; i < fams.length; i++) {
      const fam: Family = fams[i] === 'IPv4' ? 4 : 6;
      const alloc = ctx.allocators.get(fam)!;
      const ip = alloc.allocate(`${objectKey(l.obj)}/${fams[i]}`);
      if (!ip) {
        err(problems, l.origin, ['spec'], `serviceCIDR ${formatCidr(alloc.cidr)} is full; no cluster IP left for ${objectKey(l.obj)}`);
        break;
      }
      alloc.taken.set(ip, { key: `Service ${objectKey(l.obj)}`, origin: l.origin, path: ['spec'] });
      ips.push(ip);
    }
    if (ips.length > 0) {
      spec.clusterIPs = ips;
      spec.clusterIP = ips[0];
    }
  }
  allocateNodePorts(services, problems);
}

class PortAllocator {
  readonly taken = new Map<number, { key: string; origin: Origin | undefined; path: Path }>();
  allocate(seed: string): number | undefined {
    const size = NODE_PORT_RANGE.max - NODE_PORT_RANGE.min + 1;
    const band = Number(staticBandSize(BigInt(size), 32n, 128n));
    const dynStart = NODE_PORT_RANGE.min + band;
    const dynCount = NODE_PORT_RANGE.max - dynStart + 1;
    const start = fnv32a(seed) % dynCount;
    for (let k = 0; k < size; k++) {
      const p = k < dynCount ? dynStart + ((start + k) % dynCount) : NODE_PORT_RANGE.min + (k - dynCount);
      if (!this.taken.has(p)) return p;
    }
    return undefined;
  }
}

/**
 * NodePorts (and healthCheckNodePorts) from --service-node-port-range: given ones checked for
 * range and clashes between Services (one Service may use a port number for TCP and UDP alike),
 * missing ones allocated.
 */
function allocateNodePorts(services: readonly Located<Service>[], problems: Problem[]): void {
  const ports = new PortAllocator();
  const claim = (l: Located<Service>, n: number, path: Path): boolean => {
    if (n < NODE_PORT_RANGE.min || n > NODE_PORT_RANGE.max) {
      err(problems, l.origin, path, `${n} is outside the NodePort range ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`);
      return false;
    }
    const prev = ports.taken.get(n);
    if (prev && prev.key !== `Service ${objectKey(l.obj)}`) {
      err(problems, l.origin, path, `NodePort ${n} of ${objectKey(l.obj)} is also used by ${prev.key} at ${where(prev.origin, prev.path)}`);
      return false;
    }
    ports.taken.set(n, { key: `Service ${objectKey(l.obj)}`, origin: l.origin, path });
    return true;
  };
  const wantsNodePorts = (s: Service) => s.spec.type === 'NodePort' || (s.spec.type === 'LoadBalancer' && s.spec.allocateLoadBalancerNodePorts !== false);
  const wantsHealth = (s: Service) => s.spec.type === 'LoadBalancer' && s.spec.externalTrafficPolicy === 'Local';
  for (const l of services) {
    const spec = l.obj.spec;
    const seen = new Map<number, string>();
    (spec.ports ?? []).forEach((p, i) => {
      if (p.nodePort === undefined) return;
      const proto = p.protocol ?? 'TCP';
      if (seen.get(p.nodePort) === proto) {
        err(problems, l.origin, ['spec', 'ports', i, 'nodePort'], `NodePort ${p.nodePort}/${proto} appears twice in ${objectKey(l.obj)}`);
        return;
      }
      seen.set(p.nodePort, proto);
      claim(l, p.nodePort, ['spec', 'ports', i, 'nodePort']);
    });
    if (spec.healthCheckNodePort !== undefined) claim(l, spec.healthCheckNodePort, ['spec', 'healthCheckNodePort']);
  }
  for (const l of services) {
    const s = l.obj;
    if (wantsNodePorts(s)) {
      for (const p of s.spec.ports ?? []) {
        if (p.nodePort !== undefined) continue;
        // Same port number with another protocol shares the NodePort, as the apiserver does for e.g. DNS 53/TCP+UDP.
        const twin = (s.spec.ports ?? []).find((q) => q !== p && q.port === p.port && q.nodePort !== undefined);
        const n = twin?.nodePort ?? ports.allocate(`${objectKey(s)}/${p.protocol ?? 'TCP'}/${p.port}`);
        if (n === undefined) {
          err(problems, l.origin, ['spec', 'ports'], 'the NodePort range is full');
          return;
        }
        p.nodePort = n;
        ports.taken.set(n, { key: `Service ${objectKey(s)}`, origin: l.origin, path: ['spec', 'ports'] });
      }
    }
    if (wantsHealth(s) && s.spec.healthCheckNodePort === undefined) {
      const n = ports.allocate(`${objectKey(s)}/healthCheckNodePort`);
      if (n !== undefined) {
        s.spec.healthCheckNodePort = n;
        ports.taken.set(n, { key: `Service ${objectKey(s)}`, origin: l.origin, path: ['spec', 'healthCheckNodePort'] });
      }
    }
  }
}

// ------------------------------------------------------------------ nodes and namespaces

function nodeObjects(objects: Located[], nodes: readonly AllocNode[], nodeCIDRs: ReadonlyMap<string, readonly string[]>, problems: Problem[]): void {
  const given = new Map<string, Located<Node>>();
  for (const l of objects) if (l.obj.kind === 'Node') given.set(l.obj.metadata.name, l as Located<Node>);
  const names = new Set(nodes.map((n) => n.name));
  for (const [name, l] of given) {
    if (!names.has(name)) err(problems, l.origin, ['metadata', 'name'], `Node "${name}" is not a node of the topology (nodes: ${[...names].join(', ') || 'none'}); declare it under nodes: with its IP and network`);
  }
  for (const n of nodes) {
    const cidrs = [...(nodeCIDRs.get(n.name) ?? [])];
    const l = given.get(n.name);
    if (l) {
      const node = l.obj;
      node.spec ??= {};
      const gp = node.spec.podCIDRs ?? (node.spec.podCIDR ? [node.spec.podCIDR] : undefined);
      if (gp && gp.map((c) => formatCidr(parseCidr(c))).join(',') !== cidrs.join(',')) {
        err(problems, l.origin, ['spec', node.spec.podCIDRs ? 'podCIDRs' : 'podCIDR'], `Node ${n.name} has podCIDR ${gp.join(',')} but the topology gives it ${cidrs.join(',')}`);
      }
      node.spec.podCIDR = cidrs[0];
      node.spec.podCIDRs = cidrs;
      if (!n.schedulable) node.spec.unschedulable = true;
      node.metadata.labels = { ...n.labels, ...(node.metadata.labels ?? {}) };
      node.status ??= {};
      const internal = (node.status.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
      if (internal.length > 0 && internal.join(',') !== n.ips.join(',')) {
        err(problems, l.origin, ['status', 'addresses'], `Node ${n.name} has InternalIP ${internal.join(',')} but the topology gives it ${n.ips.join(',')}`);
      }
      if (internal.length === 0) node.status.addresses = [...n.ips.map((ip) => ({ type: 'InternalIP' as const, address: ip })), { type: 'Hostname', address: n.name }, ...(node.status.addresses ?? [])];
      node.status.conditions ??= [{ type: 'Ready', status: 'True' }];
      continue;
    }
    const obj: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, labels: { 'kubernetes.io/arch': 'amd64', [HOSTNAME_LABEL]: n.name, 'kubernetes.io/os': 'linux', ...n.labels } },
      spec: { podCIDR: cidrs[0]!, podCIDRs: cidrs, ...(n.schedulable ? {} : { unschedulable: true }) },
      status: {
        addresses: [...n.ips.map((ip) => ({ type: 'InternalIP' as const, address: ip })), { type: 'Hostname', address: n.name }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    };
    if (cidrs.length === 0) {
      delete obj.spec!.podCIDR;
      delete obj.spec!.podCIDRs;
    }
    objects.push(n.origin ? { obj, origin: n.origin } : { obj });
  }
}

/** Namespaces every cluster has (kube-apiserver's system namespaces), plus every namespace used. */
const SYSTEM_NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

function namespaceObjects(objects: Located[]): void {
  const have = new Set(objects.filter((l) => l.obj.kind === 'Namespace').map((l) => l.obj.metadata.name));
  const want = new Set(SYSTEM_NAMESPACES);
  for (const l of objects) if (l.obj.kind !== 'Namespace' && l.obj.kind !== 'Node') want.add(l.obj.metadata.namespace ?? 'default');
  for (const ns of [...want].sort()) {
    if (!have.has(ns)) objects.push({ obj: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } } } });
  }
}

// ------------------------------------------------------------------ entry point

/**
 * Runs every allocation step over the loaded objects. Problems (clashes, addresses outside their
 * ranges, unknown nodes) are appended with the location of each party; the caller throws.
 */
export function allocate(input: AllocInput, problems: Problem[]): AllocResult {
  const clusterCIDRs = input.podCIDRs.map((c) => parseCidr(c));
  const serviceCIDRs = input.serviceCIDRs.map((c) => parseCidr(c));
  const objects = expandWorkloads(input.objects);
  for (const l of objects) {
    if (l.obj.kind !== 'Node' && l.obj.kind !== 'Namespace' && l.obj.metadata.namespace === undefined) l.obj.metadata.namespace = 'default';
  }
  const nodeCIDRs = allocateNodeCIDRs(clusterCIDRs, input.nodes, problems);
  nodeObjects(objects, input.nodes, nodeCIDRs, problems);
  schedule(objects, input.nodes, problems);
  allocatePodIPs(objects, input.nodes, nodeCIDRs, clusterCIDRs, input.podIPsInNodeCIDR, problems, input.podIpam);
  allocateServices(objects, serviceCIDRs, input.nodes, problems);
  namespaceObjects(objects);
  for (const l of objects) {
    l.obj.metadata.uid ??= stableUid(l.obj.kind, objectKey(l.obj));
    if (l.obj.apiVersion !== API_VERSIONS[l.obj.kind]) (l.obj as { apiVersion: string }).apiVersion = API_VERSIONS[l.obj.kind];
  }
  fixOwnerUids(objects);
  return { nodePodCIDRs: nodeCIDRs, objects };
}

/** Owner references made before their owner had a UID get it now. */
function fixOwnerUids(objects: readonly Located[]): void {
  // Only kinds that some owner reference names without a UID need looking up.
  const kinds = new Set<string>();
  for (const l of objects) for (const o of l.obj.metadata.ownerReferences ?? []) if (!o.uid) kinds.add(o.kind);
  if (kinds.size === 0) return;
  const uid = new Map<string, string | undefined>();
  for (const l of objects) if (kinds.has(l.obj.kind)) uid.set(`${l.obj.kind}/${objectKey(l.obj)}`, l.obj.metadata.uid);
  for (const l of objects) {
    const ns = l.obj.metadata.namespace ?? 'default';
    for (const o of l.obj.metadata.ownerReferences ?? []) {
      if (!o.uid) {
        const u = uid.get(`${o.kind}/${ns}/${o.name}`);
        if (u) o.uid = u;
      }
    }
  }
}
