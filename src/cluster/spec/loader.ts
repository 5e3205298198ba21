/**
 * loadTopology: a topology file and its manifests → a resolved Topology with a filled ClusterStore.
 * Every problem (syntax, types, enums, addresses, overlaps, clashes) is collected with its file,
 * line and field, and reported together in one InputError; nothing is half-loaded.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIp,
  InputError,
  ipEquals,
  networkOf,
  parseCidr,
  parseIp,
  broadcastOf,
  type Cidr,
  type Ip,
  type Problem,
} from '../../base/index.js';
import { allocate, NODE_CIDR_MASK, type AllocNode, type Located } from '../alloc.js';
import { runEndpointSliceController } from '../controllers/endpointslice.js';
import { HOSTNAME_LABEL, KINDS, objectKey, type IPFamily, type KubeObject } from '../objects.js';
import { ClusterStore } from '../store.js';
import { applyDefaults, stripNulls } from './defaults.js';
import { IGNORED_KINDS, isKubeKind, validateObject } from './object-schema.js';
import { dnsSubdomainProblem, validate, type Path } from './schema.js';
import { childOrigin, hasErrors, locate, NO_SOURCE_MAP, parseDocuments, sinkFor, type Origin } from './source.js';
import { splitList, TOPOLOGY_SCHEMA } from './topology-schema.js';
import { calicoTopology, collectCalicoObject, isCalicoObject, type LocatedCalico } from './calico.js';
import type {
  CalicoConfig,
  CalicoEncapsulation,
  CalicoMode,
  Client,
  ClusterConfig,
  CniConfig,
  FlannelConfig,
  FlannelMode,
  IpvsScheduler,
  KubeProxyConfig,
  LocalDetectorMode,
  Router,
  Topology,
  TopologyNode,
  UnderlayNetwork,
} from './types.js';

// ------------------------------------------------------------------ defaults (data, with sources)

/** Cluster CIDR of kube-flannel.yml's net-conf.json, and kubeadm's default service subnet. */
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
/** Ethernet MTU, the default of every underlay segment. */
export const DEFAULT_UNDERLAY_MTU = 1500;
/** Encapsulation overheads: flannel vxlan's encapOverhead (pkg/backend/vxlan), Felix's IPIP/VXLAN defaults. */
export const ENCAP_OVERHEAD = { flannelVxlan: 50, calicoIpip: 20, calicoVxlan: 50 } as const;
/** Calico's default AS number (confd client.go). */
export const CALICO_DEFAULT_AS = 64512;
/** kube-proxy's iptables.masqueradeBit default (0x4000 mark). */
export const DEFAULT_MASQUERADE_BIT = 14;
/** The largest service range kube-apiserver accepts: 2^20 addresses (IPv4 /12, IPv6 /108). */
const MAX_SERVICE_RANGE_BITS = 20;

const MODES: Record<'flannel' | 'calico', readonly string[]> = { flannel: ['vxlan', 'host-gw'], calico: ['bgp', 'ipip', 'vxlan'] };

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const famName = (c: { family: 4 | 6 }): IPFamily => (c.family === 4 ? 'IPv4' : 'IPv6');

// ------------------------------------------------------------------ public entry points

/** Reads and loads a topology file (manifest paths are relative to it). */
export async function loadTopology(path: string): Promise<Topology> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError({ file: path, message: `cannot read topology file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, severity: 'error' });
  }
  return loadTopologyText(text, file);
}

/**
 * Loads a topology from text; `file` names it in problems and anchors relative manifest paths.
 * JSON text takes a fast path (JSON.parse; lines are found in the text only for problems).
 */
export async function loadTopologyText(text: string, file = '<input>'): Promise<Topology> {
  const problems: Problem[] = [];
  const docs = parseDocuments(text, file, problems);
  if (docs.length > 1) problems.push({ ...locate(docs[1]!.origin), message: 'a topology file holds one YAML document', severity: 'error' });
  const doc = docs[0];
  if (!doc) {
    if (!hasErrors(problems)) problems.push({ file, line: 1, message: 'empty topology file', severity: 'error' });
    throw new InputError(problems);
  }
  return loadParsed(doc.value, doc.origin, problems);
}

/**
 * Loads a topology given as a plain value (what JSON.parse or a YAML parser returns), for programs
 * that build topologies: the same checks, defaults and allocation as a file. Problems name `file`
 * and the field (`nodes[3].ip`) but no line. The value is read, never changed or kept: objects are
 * copied. Manifest paths are relative to the working directory.
 */
export async function loadTopologyObject(value: unknown, file = '<object>'): Promise<Topology> {
  return loadParsed(value, { file, map: NO_SOURCE_MAP, base: [] }, []);
}

async function loadParsed(raw: unknown, origin: Origin, problems: Problem[]): Promise<Topology> {
  const file = origin.file;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InputError([...problems, { ...locate(origin), message: 'a topology file is a map (name, cluster, underlay, nodes, …)', severity: 'error' }]);
  }
  validate(raw, TOPOLOGY_SCHEMA, [], sinkFor(origin, problems));
  const top = raw as Rec;
  const err = (path: Path, message: string) => problems.push({ ...locate(origin, path), message, severity: 'error' });
  const warn = (path: Path, message: string) => problems.push({ ...locate(origin, path), message, severity: 'warning' });

  // ---- cluster CIDRs
  const clusterRaw = rec(top.cluster);
  const podCIDRs = familyList(clusterRaw.podCIDR ?? DEFAULT_POD_CIDR, ['cluster', 'podCIDR'], err);
  const serviceCIDRs = familyList(clusterRaw.serviceCIDR ?? DEFAULT_SERVICE_CIDR, ['cluster', 'serviceCIDR'], err);
  for (const c of serviceCIDRs) {
    if (c.family === 4 ? 32 - c.prefix > MAX_SERVICE_RANGE_BITS : 128 - c.prefix > MAX_SERVICE_RANGE_BITS) {
      err(['cluster', 'serviceCIDR'], `${formatCidr(c)} is too large: kube-apiserver accepts at most 2^${MAX_SERVICE_RANGE_BITS} service addresses (/${c.family === 4 ? 12 : 108} or longer)`);
    }
  }
  checkOverlaps(podCIDRs.map((c) => ({ c, path: ['cluster', 'podCIDR'] as Path, what: 'cluster podCIDR' })), serviceCIDRs.map((c) => ({ c, path: ['cluster', 'serviceCIDR'] as Path, what: 'cluster serviceCIDR' })), err);

  // ---- underlay networks
  const networks: UnderlayNetwork[] = [];
  const netCidrs = new Map<string, Cidr[]>();
  const claimed: { c: Cidr; path: Path; what: string }[] = [
    ...podCIDRs.map((c) => ({ c, path: ['cluster', 'podCIDR'] as Path, what: 'cluster podCIDR' })),
    ...serviceCIDRs.map((c) => ({ c, path: ['cluster', 'serviceCIDR'] as Path, what: 'cluster serviceCIDR' })),
  ];
  const underlay = rec(top.underlay);
  arr(underlay.networks).forEach((n0, i) => {
    const n = rec(n0);
    if (typeof n.name !== 'string') return;
    const path: Path = ['underlay', 'networks', i];
    if (netCidrs.has(n.name)) return err([...path, 'name'], `duplicate network name "${n.name}"`);
    const cs = familyList(n.cidr, [...path, 'cidr'], err);
    for (const c of cs) {
      const clash = claimed.find((x) => cidrsOverlap(x.c, c));
      if (clash) err([...path, 'cidr'], `${formatCidr(c)} overlaps ${clash.what} ${formatCidr(clash.c)} (${fieldAt(origin, clash.path)})`);
      claimed.push({ c, path: [...path, 'cidr'], what: `network ${n.name}` });
    }
    netCidrs.set(n.name, cs);
    networks.push({ name: n.name, cidrs: cs.map(formatCidr), mtu: typeof n.mtu === 'number' ? n.mtu : DEFAULT_UNDERLAY_MTU });
  });

  // ---- hosts: routers, nodes, clients share one namespace of names and one of addresses
  const hostNames = new Map<string, Path>();
  const hostIps = new Map<string, { path: Path; who: string }>();
  const claimName = (name: string, path: Path, what: string) => {
    const prev = hostNames.get(name);
    if (prev) err(path, `duplicate ${what} name "${name}" (also ${fieldAt(origin, prev)})`);
    else hostNames.set(name, path);
  };
  const claimIp = (ip: Ip, network: string | undefined, path: Path, who: string) => {
    const text = formatIp(ip);
    const prev = hostIps.get(text);
    if (prev) return err(path, `${text} is also the address of ${prev.who} (${fieldAt(origin, prev.path)})`);
    hostIps.set(text, { path, who });
    if (network === undefined) return;
    const cs = netCidrs.get(network);
    if (!cs) return;
    const c = cs.find((x) => x.family === ip.family);
    if (!c) return err(path, `${text} is IPv${ip.family}, but network ${network} has no IPv${ip.family} subnet (${cs.map(formatCidr).join(', ')})`);
    if (!cidrContains(c, ip)) return err(path, `${text} is not inside network ${network} (${formatCidr(c)})`);
    if (c.prefix < (c.family === 4 ? 31 : 127) && (ipEquals(ip, c.network) || (c.family === 4 && ipEquals(ip, broadcastOf(c))))) {
      err(path, `${text} is the ${ipEquals(ip, c.network) ? 'network' : 'broadcast'} address of ${network} (${formatCidr(c)})`);
    }
  };
  const checkNetwork = (name: unknown, path: Path): name is string => {
    if (typeof name !== 'string') return false;
    if (!netCidrs.has(name)) {
      err(path, `unknown network "${name}"${networks.length ? ` (networks: ${networks.map((n) => n.name).join(', ')})` : ' (underlay.networks is empty)'}`);
      return false;
    }
    return true;
  };

  const routers: Router[] = [];
  arr(underlay.routers).forEach((r0, i) => {
    const r = rec(r0);
    const path: Path = ['underlay', 'routers', i];
    if (typeof r.name !== 'string') return;
    claimName(r.name, [...path, 'name'], 'router');
    const ifs: { network: string; ip: string }[] = [];
    const seenNets = new Set<string>();
    arr(r.interfaces).forEach((f0, j) => {
      const f = rec(f0);
      const fp: Path = [...path, 'interfaces', j];
      const okNet = checkNetwork(f.network, [...fp, 'network']);
      const ip = tryIp(f.ip);
      if (okNet && seenNets.has(f.network as string)) err([...fp, 'network'], `router ${r.name} has two interfaces on network ${String(f.network)}`);
      if (okNet) seenNets.add(f.network as string);
      if (ip) claimIp(ip, okNet ? (f.network as string) : undefined, [...fp, 'ip'], `router ${r.name}`);
      if (okNet && ip) ifs.push({ network: f.network as string, ip: formatIp(ip) });
    });
    routers.push({ name: r.name, interfaces: ifs });
  });
  const gatewayOn = (network: string, family: 4 | 6): string | undefined => {
    for (const r of routers) for (const f of r.interfaces) if (f.network === network && (f.ip.includes(':') ? 6 : 4) === family) return f.ip;
    return undefined;
  };

  const allocNodes: AllocNode[] = [];
  const nodeMeta: { name: string; ips: string[]; network: string; addresses: string[]; labels: Record<string, string>; unschedulable: boolean }[] = [];
  const nodePodClaims: { c: Cidr; path: Path; what: string }[] = [];
  arr(top.nodes).forEach((n0, i) => {
    const n = rec(n0);
    const path: Path = ['nodes', i];
    if (typeof n.name !== 'string') return;
    const nameProblem = dnsSubdomainProblem(n.name);
    if (nameProblem) err([...path, 'name'], `node name ${nameProblem}`);
    claimName(n.name, [...path, 'name'], 'node');
    const okNet = checkNetwork(n.network, [...path, 'network']);
    const ips = hostIpList(n.ip, [...path, 'ip'], err);
    for (const ip of ips) claimIp(ip, okNet ? (n.network as string) : undefined, [...path, 'ip'], `node ${n.name}`);
    const addresses: string[] = [];
    arr(n.addresses).forEach((a, j) => {
      if (typeof a !== 'string') return;
      const ip = tryIp(a.split('/')[0]);
      if (!ip) return;
      claimIp(ip, undefined, [...path, 'addresses', j], `node ${n.name}`);
      addresses.push(`${formatIp(ip)}/${a.split('/')[1] ?? ''}`);
    });
    const given = n.podCIDR === undefined ? [] : familyList(n.podCIDR, [...path, 'podCIDR'], err);
    for (const c of given) {
      const inCluster = podCIDRs.find((x) => x.family === c.family);
      if (!inCluster) err([...path, 'podCIDR'], `${formatCidr(c)} is IPv${c.family}, but cluster.podCIDR has no IPv${c.family} range`);
      else if (!cidrContains(inCluster, c.network) || c.prefix < inCluster.prefix) {
        // flanneld (kube subnet manager) refuses a node podCIDR outside its Network; Calico ignores it.
        const msg = `${formatCidr(c)} is not inside cluster.podCIDR ${formatCidr(inCluster)}`;
        if (rec(clusterRaw.cni).plugin === 'calico') warn([...path, 'podCIDR'], msg);
        else err([...path, 'podCIDR'], `${msg} (flanneld refuses such a node)`);
      }
      const clash = [...nodePodClaims, ...claimed.filter((x) => !x.what.startsWith('cluster podCIDR'))].find((x) => cidrsOverlap(x.c, c));
      if (clash) err([...path, 'podCIDR'], `${formatCidr(c)} overlaps ${clash.what} ${formatCidr(clash.c)} (${fieldAt(origin, clash.path)})`);
      nodePodClaims.push({ c, path: [...path, 'podCIDR'], what: `podCIDR of node ${n.name}` });
    }
    if (given.length > 0 && podCIDRs.length > 0 && given.length !== podCIDRs.length) {
      err([...path, 'podCIDR'], `the cluster has ${podCIDRs.length} pod CIDR famil${podCIDRs.length === 1 ? 'y' : 'ies'}; give one podCIDR per family (or none)`);
    }
    const labels = Object.fromEntries(Object.entries(rec(n.labels)).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    const unschedulable = n.unschedulable === true;
    const ipsText = ips.map(formatIp);
    allocNodes.push({ name: n.name, ips: ipsText, podCIDRs: given.map(formatCidr), schedulable: !unschedulable, labels: { [HOSTNAME_LABEL]: n.name, ...labels }, origin, podCIDRPath: [...path, 'podCIDR'] });
    nodeMeta.push({ name: n.name, ips: ipsText, network: typeof n.network === 'string' ? n.network : '', addresses, labels, unschedulable });
  });
  for (const c of podCIDRs) {
    const mask = NODE_CIDR_MASK[c.family];
    if (c.prefix > mask && allocNodes.some((n) => n.podCIDRs.length === 0)) {
      err(['cluster', 'podCIDR'], `${formatCidr(c)} is smaller than one node's /${mask} (kube-controller-manager's node-cidr-mask-size); give nodes their podCIDR or widen the cluster CIDR`);
    }
  }

  const clients: Client[] = [];
  arr(top.clients).forEach((c0, i) => {
    const c = rec(c0);
    const path: Path = ['clients', i];
    if (typeof c.name !== 'string') return;
    claimName(c.name, [...path, 'name'], 'client');
    const okNet = checkNetwork(c.network, [...path, 'network']);
    const ips = hostIpList(c.ip, [...path, 'ip'], err);
    for (const ip of ips) claimIp(ip, okNet ? (c.network as string) : undefined, [...path, 'ip'], `client ${c.name}`);
    const gw = okNet && ips[0] ? gatewayOn(c.network as string, ips[0].family) : undefined;
    clients.push({ name: c.name, ips: ips.map(formatIp), network: String(c.network), ...(gw ? { gateway: gw } : {}) });
  });

  // ---- CNI and kube-proxy
  const cni = resolveCni(rec(clusterRaw.cni), nodeMeta, networks, err);
  const kubeProxy = resolveKubeProxy(rec(clusterRaw.kubeProxy), serviceCIDRs, err, warn);

  // ---- objects: inline and from manifests
  const located: Located[] = [];
  const calicoObjects: LocatedCalico[] = [];
  arr(top.objects).forEach((o, i) => collectObject(o, childOrigin(origin, ['objects', i]), located, problems, calicoObjects));
  const baseDir = file.startsWith('<') ? process.cwd() : dirname(file);
  const manifests = arr(top.manifests);
  for (let i = 0; i < manifests.length; i++) {
    const m = manifests[i];
    if (typeof m !== 'string') continue;
    const mfile = resolve(baseDir, m);
    let mtext: string;
    try {
      mtext = await readFile(mfile, 'utf8');
    } catch (e) {
      err(['manifests', i], `cannot read manifest ${mfile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    for (const d of parseDocuments(mtext, mfile, problems)) collectObject(d.value, d.origin, located, problems, calicoObjects);
  }
  const unique = checkDuplicateObjects(located, problems);

  // ---- Calico: IPPools, BGPPeers; its IPAM hands out pod addresses (not node.spec.podCIDR)
  const calico = calicoTopology(cni, calicoObjects, { podCIDRs, serviceCIDRs, networks, nodes: allocNodes }, problems);

  // ---- allocation (needs the CIDRs to be sane)
  let store = new ClusterStore();
  let resolvedNodes: TopologyNode[] = [];
  if (!hasErrors(problems) || (podCIDRs.length > 0 && serviceCIDRs.length > 0)) {
    const allocProblems: Problem[] = [];
    const res = allocate({ podCIDRs: podCIDRs.map(formatCidr), serviceCIDRs: serviceCIDRs.map(formatCidr), nodes: allocNodes, objects: unique, podIPsInNodeCIDR: cni.plugin === 'flannel', ...(calico ? { podIpam: calico.ipam } : {}) }, allocProblems);
    problems.push(...allocProblems);
    resolvedNodes = nodeMeta.map((n) => {
      const gw = n.ips[0] ? gatewayOn(n.network, n.ips[0].includes(':') ? 6 : 4) : undefined;
      return { name: n.name, ips: n.ips, network: n.network, podCIDRs: res.nodePodCIDRs.get(n.name) ?? [], addresses: n.addresses, labels: { [HOSTNAME_LABEL]: n.name, ...n.labels }, unschedulable: n.unschedulable, ...(gw ? { gateway: gw } : {}) };
    });
    if (!hasErrors(problems)) {
      store = new ClusterStore();
      const order = (o: KubeObject) => (o.kind === 'Namespace' ? 0 : o.kind === 'Node' ? 1 : 2);
      const objs = res.objects.map((l) => l.obj).sort((a, b) => order(a) - order(b));
      try {
        store.transaction(
          (tx) => {
            for (const o of objs) tx.apply(o);
          },
          // validated above with file and line; every object is a fresh copy (stripNulls) or generated
          { trusted: true, adopt: true },
        );
      } catch (e) {
        if (e instanceof InputError) problems.push(...e.problems);
        else throw e;
      }
    }
  }
  if (hasErrors(problems)) throw new InputError([...problems.filter((p) => p.severity !== 'warning'), ...problems.filter((p) => p.severity === 'warning')]);

  const endpointSliceController = runEndpointSliceController(store);
  const cluster: ClusterConfig = { podCIDRs: podCIDRs.map(formatCidr), serviceCIDRs: serviceCIDRs.map(formatCidr), cni, kubeProxy };
  return {
    name: String(top.name),
    file,
    cluster,
    networks,
    routers,
    nodes: resolvedNodes,
    clients,
    store,
    endpointSliceController,
    warnings: problems.filter((p) => p.severity === 'warning'),
    ...(calico ? { calico } : {}),
  };
}

// ------------------------------------------------------------------ helpers

function fieldAt(origin: Origin, path: Path): string {
  const l = locate(origin, path);
  return `line ${l.line ?? '?'}, ${l.field ?? ''}`;
}

function tryIp(v: unknown): Ip | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    return parseIp(v);
  } catch {
    return undefined;
  }
}

/** CIDRs given as "a", "a,b" or a list: at most one per family, primary first. Bad ones were reported by the schema. */
function familyList(v: unknown, path: Path, err: (p: Path, m: string) => void): Cidr[] {
  const out: Cidr[] = [];
  for (const s of splitList(v)) {
    let c: Cidr;
    try {
      if (!s.includes('/')) return [];
      c = parseCidr(s, { strict: true });
    } catch {
      return [];
    }
    if (out.some((x) => x.family === c.family)) {
      err(path, `two IPv${c.family} CIDRs; give at most one per family (dual-stack: "v4CIDR,v6CIDR")`);
      return out;
    }
    out.push(c);
  }
  return out;
}

function hostIpList(v: unknown, path: Path, err: (p: Path, m: string) => void): Ip[] {
  const out: Ip[] = [];
  for (const s of splitList(v)) {
    const ip = tryIp(s);
    if (!ip) return [];
    if (out.some((x) => x.family === ip.family)) {
      err(path, `two IPv${ip.family} addresses; give at most one per family (dual-stack: "v4,v6")`);
      return out;
    }
    out.push(ip);
  }
  return out;
}

function checkOverlaps(a: { c: Cidr; path: Path; what: string }[], b: { c: Cidr; path: Path; what: string }[], err: (p: Path, m: string) => void): void {
  for (const x of a) for (const y of b) if (cidrsOverlap(x.c, y.c)) err(y.path, `${y.what} ${formatCidr(y.c)} overlaps ${x.what} ${formatCidr(x.c)}`);
}

function resolveCni(
  raw: Rec,
  nodes: readonly { name: string; network: string }[],
  networks: readonly UnderlayNetwork[],
  err: (p: Path, m: string) => void,
): CniConfig {
  const at = (k: string): Path => ['cluster', 'cni', k];
  const plugin = raw.plugin === 'calico' ? 'calico' : 'flannel';
  const defaultMode = plugin === 'flannel' ? 'vxlan' : 'bgp';
  let mode = typeof raw.mode === 'string' ? raw.mode : defaultMode;
  if (!MODES[plugin].includes(mode)) {
    err(at('mode'), `"${mode}" is not a ${plugin} mode (${MODES[plugin].join(', ')})`);
    mode = defaultMode;
  }
  // Host MTU: the smallest underlay MTU a node sits on (Felix's findHostMTU takes the smallest too).
  const used = networks.filter((n) => nodes.some((x) => x.network === n.name));
  const pool = used.length > 0 ? used : networks;
  const hostMtu = pool.length > 0 ? Math.min(...pool.map((n) => n.mtu)) : DEFAULT_UNDERLAY_MTU;
  const given = typeof raw.mtu === 'number' ? raw.mtu : undefined;
  if (plugin === 'flannel') {
    for (const k of ['encapsulation', 'bgp', 'asNumber']) if (raw[k] !== undefined) err(at(k), `${k} is a Calico setting; this cluster uses flannel`);
    if (raw.directRouting !== undefined && mode !== 'vxlan') err(at('directRouting'), 'DirectRouting is a flannel vxlan option');
    const m = mode as FlannelMode;
    const cfg: FlannelConfig = { plugin, mode: m, mtu: given ?? (m === 'vxlan' ? hostMtu - ENCAP_OVERHEAD.flannelVxlan : hostMtu), directRouting: raw.directRouting === true };
    return cfg;
  }
  if (raw.directRouting !== undefined) err(at('directRouting'), 'directRouting is a flannel setting; this cluster uses Calico');
  const m = mode as CalicoMode;
  let encapsulation: CalicoEncapsulation | null = null;
  if (m === 'bgp') {
    if (raw.encapsulation !== undefined) err(at('encapsulation'), 'Calico bgp mode has no encapsulation (use mode ipip or vxlan)');
  } else encapsulation = raw.encapsulation === 'CrossSubnet' ? 'CrossSubnet' : 'Always';
  const bgpRaw = rec(raw.bgp);
  let bgp: CalicoConfig['bgp'] = { mesh: 'full' };
  if (bgpRaw.mesh !== undefined && bgpRaw.routeReflectors !== undefined) err(['cluster', 'cni', 'bgp'], 'give either mesh or routeReflectors, not both');
  else if (Array.isArray(bgpRaw.routeReflectors)) {
    const names = new Set(nodes.map((n) => n.name));
    bgpRaw.routeReflectors.forEach((r, i) => {
      if (typeof r === 'string' && !names.has(r)) err(['cluster', 'cni', 'bgp', 'routeReflectors', i], `route reflector "${r}" is not a node of the topology`);
    });
    if (bgpRaw.routeReflectors.length === 0) err(['cluster', 'cni', 'bgp', 'routeReflectors'], 'at least one route reflector');
    bgp = { routeReflectors: bgpRaw.routeReflectors.filter((r): r is string => typeof r === 'string') };
  }
  const overhead = m === 'ipip' ? ENCAP_OVERHEAD.calicoIpip : m === 'vxlan' ? ENCAP_OVERHEAD.calicoVxlan : 0;
  return { plugin, mode: m, encapsulation, bgp, asNumber: typeof raw.asNumber === 'number' ? raw.asNumber : CALICO_DEFAULT_AS, mtu: given ?? hostMtu - overhead };
}

function resolveKubeProxy(raw: Rec, serviceCIDRs: readonly Cidr[], err: (p: Path, m: string) => void, warn: (p: Path, m: string) => void): KubeProxyConfig {
  const at = (...k: (string | number)[]): Path => ['cluster', 'kubeProxy', ...k];
  const mode = raw.mode === 'ipvs' ? 'ipvs' : 'iptables';
  const ipvsRaw = rec(raw.ipvs);
  if (raw.ipvs !== undefined && mode !== 'ipvs') warn(at('ipvs'), 'ipvs settings are ignored in iptables mode');
  const ld = rec(raw.localDetector);
  const ldMode = (typeof ld.mode === 'string' ? ld.mode : 'ClusterCIDR') as LocalDetectorMode;
  if (ldMode === 'BridgeInterface' && typeof ld.bridgeInterface !== 'string') err(at('localDetector', 'bridgeInterface'), 'required when localDetector.mode is BridgeInterface (e.g. cni0)');
  if (ldMode === 'InterfaceNamePrefix' && typeof ld.interfaceNamePrefix !== 'string') err(at('localDetector', 'interfaceNamePrefix'), 'required when localDetector.mode is InterfaceNamePrefix (e.g. veth)');
  const npa = arr(raw.nodePortAddresses).filter((x): x is string => typeof x === 'string');
  npa.forEach((a, i) => {
    if (a === 'primary') {
      if (npa.length > 1) err(at('nodePortAddresses', i), '"primary" must be the only entry');
      return;
    }
    try {
      if (!a.includes('/')) throw new Error('not a CIDR');
      parseCidr(a);
    } catch {
      err(at('nodePortAddresses', i), `"${a}" is neither a CIDR nor "primary"`);
    }
  });
  const fams = arr(raw.ipFamilies).filter((f): f is IPFamily => f === 'IPv4' || f === 'IPv6');
  fams.forEach((f, i) => {
    if (fams.indexOf(f) !== i) err(at('ipFamilies', i), `duplicate family ${f}`);
    else if (!serviceCIDRs.some((c) => famName(c) === f)) err(at('ipFamilies', i), `${f} has no serviceCIDR in this cluster`);
  });
  return {
    mode,
    ipvs: { scheduler: (typeof ipvsRaw.scheduler === 'string' ? ipvsRaw.scheduler : 'rr') as IpvsScheduler, strictARP: ipvsRaw.strictARP === true },
    masqueradeAll: raw.masqueradeAll === true,
    masqueradeBit: typeof raw.masqueradeBit === 'number' ? raw.masqueradeBit : DEFAULT_MASQUERADE_BIT,
    localDetector: {
      mode: ldMode,
      ...(typeof ld.bridgeInterface === 'string' ? { bridgeInterface: ld.bridgeInterface } : {}),
      ...(typeof ld.interfaceNamePrefix === 'string' ? { interfaceNamePrefix: ld.interfaceNamePrefix } : {}),
    },
    nodePortAddresses: npa.map((a) => (a === 'primary' ? a : formatCidr(parseCidrLoose(a) ?? parseCidr('0.0.0.0/0')))),
    localhostNodePorts: raw.localhostNodePorts !== false,
    ipFamilies: fams.length > 0 ? fams : serviceCIDRs.map(famName),
  };
}

function parseCidrLoose(a: string): Cidr | undefined {
  try {
    const c = parseCidr(a);
    return { ...c, network: networkOf(c.network, c.prefix) };
  } catch {
    return undefined;
  }
}

/** One object (or a `kind: List` of them): kind and apiVersion known, schema valid, defaults applied. */
function collectObject(value: unknown, origin: Origin, out: Located[], problems: Problem[], calico: LocatedCalico[]): void {
  const sink = sinkFor(origin, problems);
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    sink.error([], 'a Kubernetes object is a map with apiVersion, kind and metadata');
    return;
  }
  const o = value as Rec;
  if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
    if (o.apiVersion !== 'v1' && o.kind === 'List') sink.error(['apiVersion'], `List is apiVersion "v1", not "${String(o.apiVersion)}"`);
    arr(o.items).forEach((item, i) => collectObject(item, childOrigin(origin, ['items', i]), out, problems, calico));
    return;
  }
  if (typeof o.kind !== 'string') {
    sink.error(['kind'], 'required field "kind" is missing');
    return;
  }
  if (isCalicoObject(o)) {
    const c = collectCalicoObject(o, origin, problems);
    if (c) calico.push(c);
    return;
  }
  if (!isKubeKind(o.kind)) {
    if (IGNORED_KINDS.has(o.kind)) sink.warn(['kind'], `${o.kind} is not modelled by podpath; ignored`);
    else sink.error(['kind'], `unknown kind "${o.kind}" (podpath reads ${KINDS.join(', ')}, and List)`);
    return;
  }
  let invalid = false;
  validateObject(o, o.kind, {
    error: (path, message) => {
      invalid = true;
      sink.error(path, message);
    },
    warn: (path, message) => sink.warn(path, message),
  });
  if (invalid) return;
  // stripNulls copies every map and list: the stored object shares nothing with the parsed value.
  const obj = stripNulls(o) as unknown as KubeObject;
  applyDefaults(obj);
  out.push({ obj, origin });
}

/** Same kind, namespace and name twice: an error at the second, naming the first. */
function checkDuplicateObjects(objects: readonly Located[], problems: Problem[]): Located[] {
  const seen = new Map<string, Located>();
  for (const l of objects) {
    const k = `${l.obj.kind}/${objectKey({ ...l.obj, metadata: { ...l.obj.metadata, namespace: l.obj.metadata.namespace ?? 'default' } })}`;
    const prev = seen.get(k);
    if (prev) {
      const p = locate(prev.origin, ['metadata', 'name']);
      problems.push({ ...locate(l.origin, ['metadata', 'name']), message: `duplicate ${l.obj.kind} ${objectKey(l.obj)} (first defined at ${p.file}:${p.line ?? '?'})`, severity: 'error' });
    } else seen.set(k, l);
  }
  return [...seen.values()];
}

