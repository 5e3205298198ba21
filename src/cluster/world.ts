/**
 * The World: every network namespace of a loaded topology, wired as a real cluster is — one
 * namespace per node (underlay NIC, cni0, one host veth per pod, flannel.1), one per pod (eth0 ↔
 * the host veth), one per router and per external client, and the underlay segments between NICs.
 * Node iptables are kubelet's + kube-proxy's (nodeIptables) + flanneld's; routes, neighbours and
 * FDB entries come from the Flannel controller. Everything is data (devices, addresses, routes,
 * neighbours, FDB, rulesets, sysctls) so a World can be listed and materialised in real namespaces.
 * Built once; every trace runs over it with fresh per-run state (`fabric.run`).
 */
import { InputError, closestName, formatIp, macFromName, nthHost, parseCidr, parseIp, cidrContains, type Problem } from '../base/index.js';
import { applyIptablesRestore, compileRuleset, IpsetStore, parseIpsetSave, type CompiledRuleset, type Ruleset } from '../netfilter/index.js';
import { Fabric, netnsIpvs, type Device, type FdbEntry, type LazyNetnsSpec, type Listener, type NetnsSpec, type Sysctls } from '../netns/index.js';
import { Rib } from '../routing/index.js';
import { refusalFor, type FlannelNodeState } from './controllers/flannel/index.js';
import { calicoMissingRouteReason, calicoNodeAdditions, calicoPodNetns, installRouterBgpRoutes, type CalicoNodeState } from './controllers/calico/index.js';
import { CNI_BRIDGE, NODE_UPLINK } from './controllers/flannel/names.js';
import { KubeProxyShare, nodeIpsets, nodeRouting, nodeSysctls } from './node.js';
import { ipvsOf, kubeIpvs0, KUBE_IPVS_DUMMY_DEVICE } from './controllers/kube-proxy-ipvs/index.js';
import { applyPortmapOps, podAddress, portMappings, portmapOps } from './controllers/portmap/index.js';
import type { Pod, Service } from './objects.js';
import type { Client, Router, Topology, TopologyNode } from './spec/types.js';

/** Where an address lives. */
export interface IpOwner {
  readonly kind: 'node' | 'pod' | 'router' | 'client' | 'cni';
  /** `node-1`, `default/web-1`, `tor`, `laptop`. */
  readonly name: string;
  readonly netns: string;
}

export interface WorldPod {
  readonly key: string;
  readonly node: string;
  readonly ip: string;
  /** The pod's namespace, or the node's for a hostNetwork pod. */
  readonly netns: string;
  /** The host side of the pod's veth pair (null for hostNetwork pods). */
  readonly hostVeth: string | null;
  readonly hostNetwork: boolean;
}

export interface WorldNode {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  readonly flannel: FlannelNodeState | null;
  /** What Calico programmed (calico clusters). */
  readonly calico?: CalicoNodeState;
  /** iptables-save of the node as traced (kubelet + kube-proxy + flanneld or Felix); made on first use. */
  readonly ruleset: Ruleset;
}

export interface World {
  readonly topology: Topology;
  readonly fabric: Fabric;
  readonly nodes: ReadonlyMap<string, WorldNode>;
  readonly pods: ReadonlyMap<string, WorldPod>;
  readonly clients: ReadonlyMap<string, string>;
  readonly routers: ReadonlyMap<string, string>;
  readonly owners: ReadonlyMap<string, IpOwner>;
}

/** A fresh network namespace's defaults (kernel-lab TRAPS: ip_forward=0, rp_filter=0). */
const NETNS_DEFAULTS: Sysctls = { ipForward: false, rpFilter: 0, acceptLocal: [], routeLocalnet: false, bridgeNfCallIptables: true, proxyArp: [] };

/**
 * The host-side veth name the CNI gives a pod: `veth` + 8 hex digits (plugins/pkg/ip RandomVethName
 * draws 4 random bytes); podpath derives them from the pod's key so they are stable.
 */
export function hostVethName(podKey: string): string {
  let h = 2166136261;
  for (let i = 0; i < podKey.length; i++) h = Math.imul(h ^ podKey.charCodeAt(i), 16777619) >>> 0;
  return `veth${h.toString(16).padStart(8, '0')}`;
}

function podKey(p: Pod): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;
}

function v4(list: readonly string[]): string[] {
  return list.filter((a) => parseIp(a.split('/')[0]!).family === 4);
}

function listenersOf(p: Pod, owner: string): Listener[] {
  const ports = (p.spec.containers ?? []).flatMap((c) => c.ports ?? []);
  if (ports.length === 0) return [{ proto: 'any', port: null, owner }];
  return ports.map((cp) => ({ proto: (cp.protocol ?? 'TCP').toLowerCase() as 'tcp' | 'udp' | 'sctp', port: cp.containerPort, owner }));
}

function netMtu(topo: Topology, network: string): number {
  return topo.networks.find((n) => n.name === network)?.mtu ?? 1500;
}

function prefixOn(topo: Topology, network: string, ip: string): number {
  const c = topo.networks.find((n) => n.name === network)?.cidrs.find((x) => cidrContains(parseCidr(x), parseIp(ip)));
  return c ? parseCidr(c).prefix : 32;
}

/** Builds the World of a loaded topology (IPv4). */
export function buildWorld(topo: Topology): World {
  const fabric = new Fabric();
  for (const n of topo.networks) fabric.addSegment(n.name, n.mtu);
  const owners = new Map<string, IpOwner>();
  const nodes = new Map<string, WorldNode>();
  const pods = new Map<string, WorldPod>();
  // the scheduled pods with an address, by node (listed once, not once per node)
  const podsByNode = new Map<string, Pod[]>();
  for (const p of topo.store.list('Pod') as Pod[]) {
    if (!p.spec.nodeName || !p.status?.podIP) continue;
    const l = podsByNode.get(p.spec.nodeName);
    if (l) l.push(p);
    else podsByNode.set(p.spec.nodeName, [p]);
  }
  const announcements = lbAnnouncements(topo);
  const problems: Problem[] = [];
  const proxy = new KubeProxyShare(topo, 4);
  const compiled = new WeakMap<Ruleset, CompiledRuleset>();
  const compile = (rs: Ruleset): CompiledRuleset => {
    let c = compiled.get(rs);
    if (!c) compiled.set(rs, (c = compileRuleset(rs)));
    return c;
  };

  for (const node of topo.nodes) {
    const ip = v4(node.ips)[0];
    if (!ip) {
      problems.push({ file: topo.file, field: `nodes[${node.name}].ip`, message: `node ${node.name} has no IPv4 address: podpath's World is IPv4` });
      continue;
    }
    nodes.set(node.name, buildNode(topo, fabric, node, ip, podsByNode.get(node.name) ?? [], announcements, pods, owners, proxy, compile));
  }
  if (problems.length) throw new InputError(problems);
  for (const r of topo.routers) buildRouter(topo, fabric, r, owners);
  const clients = new Map<string, string>();
  for (const c of topo.clients) clients.set(c.name, buildClient(topo, fabric, c, owners));
  const routers = new Map(topo.routers.map((r) => [r.name, `router/${r.name}`]));
  return { topology: topo, fabric, nodes, pods, clients, routers, owners };
}

function buildNode(
  topo: Topology,
  fabric: Fabric,
  node: TopologyNode,
  ip: string,
  mine: readonly Pod[],
  announcements: readonly { ip: string; node: string }[],
  pods: Map<string, WorldPod>,
  owners: Map<string, IpOwner>,
  proxy: KubeProxyShare,
  compile: (rs: Ruleset) => CompiledRuleset,
): WorldNode {
  const { rib, flannel, calico } = nodeRouting(topo, node);
  const mtu = topo.cluster.cni.mtu;
  const devices: Device[] = [
    { kind: 'loopback', name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536 },
    { kind: 'eth', name: NODE_UPLINK, mac: macFromName(`${node.name}/${NODE_UPLINK}`), mtu: netMtu(topo, node.network), segment: node.network },
  ];
  const fdb: FdbEntry[] = [];
  const podNs = mine.filter((p) => !p.spec.hostNetwork);
  const listeners: Listener[] = [];
  const ribDevices = new Set(rib.devices);
  const cni0Mac = macFromName(`${node.name}/${CNI_BRIDGE}`);
  if (podNs.length > 0 && !calico) devices.push({ kind: 'bridge', name: CNI_BRIDGE, mac: cni0Mac, mtu });
  const cal = calico ? calicoNodeAdditions(calico, NETNS_DEFAULTS) : null;
  if (cal) devices.push(...cal.devices), fdb.push(...cal.fdb);
  if (flannel?.vtep) {
    devices.push(flannel.vtep);
    fdb.push(...flannel.fdb);
  }
  for (const p of mine) {
    const key = podKey(p);
    const podIp = p.status!.podIP!;
    if (p.spec.hostNetwork) {
      listeners.push(...listenersOf(p, `pod/${key}`));
      pods.set(key, { key, node: node.name, ip: podIp, netns: node.name, hostVeth: null, hostNetwork: true });
      continue;
    }
    const w = calico?.workloads.find((x) => x.key === key);
    if (w) {
      pods.set(key, { key, node: node.name, ip: podIp, netns: key, hostVeth: w.iface, hostNetwork: false });
      fabric.add(calicoPodNetns(node.name, w, mtu, NETNS_DEFAULTS, listenersOf(p, `pod/${key}`)));
      owners.set(podIp, { kind: 'pod', name: key, netns: key });
      continue;
    }
    const veth = hostVethName(key);
    // Rib.addDevice, without its scan of the device list per pod: a name is added once
    if (!ribDevices.has(veth)) {
      ribDevices.add(veth);
      rib.devices.push(veth);
    }
    const vethMac = macFromName(`${node.name}/${veth}`);
    devices.push({ kind: 'veth', name: veth, mac: vethMac, mtu, master: CNI_BRIDGE, port: { hairpin: true, learning: true }, peer: { netns: key, dev: 'eth0' } });
    fdb.push({ mac: vethMac, dev: veth, master: CNI_BRIDGE, self: false, permanent: true });
    pods.set(key, { key, node: node.name, ip: podIp, netns: key, hostVeth: veth, hostNetwork: false });
    fabric.add(podNetns(topo, node, p, key, veth, mtu, flannel));
    owners.set(podIp, { kind: 'pod', name: key, netns: key });
  }
  // kube-proxy's tables are shared by the nodes it programs alike; flanneld's and the portmap
  // plugin's rules are the node's own. Made and compiled when a trace first enters the node.
  let rs: Ruleset | undefined;
  const ruleset = (): Ruleset => {
    if (rs) return rs;
    let r = proxy.iptables(node.name).ruleset;
    if (flannel) r = applyIptablesRestore(r, flannel.iptables, { noflush: true, family: 4, file: `flanneld on ${node.name}` });
    if (calico) r = applyIptablesRestore(r, calico.iptables, { noflush: true, family: 4, file: `calico-node (Felix) on ${node.name}` });
    // the CNI chain's portmap plugin, at each pod's ADD (after flanneld, whose subnet.env the CNI needs)
    for (const p of podNs) {
      const mappings = portMappings(p);
      if (mappings.length === 0) continue;
      const key = podKey(p);
      const ops = portmapOps({ key, address: podAddress(p.status!.podIP!, v4(node.podCIDRs)), mappings });
      r = applyPortmapOps(r, ops, { kind: 'portmap', name: node.name, detail: `hostPort of pod ${key}` });
    }
    return (rs = r);
  };
  const announce = announcements.filter((a) => a.node === node.name).map((a) => a.ip);
  // kube-proxy IPVS mode: kube-ipvs0 holds every VIP (issue 6)
  const generated = proxy.generated(node.name);
  const ipvs = ipvsOf(generated);
  if (ipvs) devices.push(kubeIpvs0(ipvs, rib, node.name));
  const sysctls = nodeSysctls(generated);
  const ipsets = calico ? parseIpsetSave(`${ipvs ? ipvs.ipsetRestore : ''}${calico.ipsets}`, { file: `ipsets of ${node.name}` }) : ipvs ? nodeIpsets(generated) : new IpsetStore();
  const spec: NetnsSpec = {
    name: node.name,
    node: node.name,
    role: 'node',
    devices,
    rib,
    fdb,
    sysctls: cal ? { ...sysctls, proxyArp: cal.sysctls.proxyArp, routeLocalnetDev: cal.sysctls.routeLocalnetDev ?? [], rpFilterDev: cal.sysctls.rpFilterDev ?? {} } : sysctls,
    ruleset: () => compile(ruleset()),
    ipsets,
    listeners,
    ...(announce.length ? { announce } : {}),
    ...(ipvs ? { ipvs: netnsIpvs(ipvs.ipvsadmSave, { file: `ipvsadm -Sn of ${node.name}`, sysctls: ipvs.sysctls }) } : {}), // IPVS (issue 6)
  };
  fabric.add(spec);
  for (const a of rib.addresses) if (a.family === 4 && a.dev !== 'lo' && a.dev !== KUBE_IPVS_DUMMY_DEVICE) owners.set(formatIp(a.local), { kind: a.dev === NODE_UPLINK ? 'node' : 'cni', name: node.name, netns: node.name });
  return {
    name: node.name,
    netns: node.name,
    ip,
    flannel,
    ...(calico ? { calico } : {}),
    get ruleset(): Ruleset {
      return ruleset();
    },
  };
}

/**
 * Which node answers ARP for each LoadBalancer ingress IP that lies on a node segment. kube-proxy
 * only installs rules for the IP; something must attract the traffic. podpath assumes an L2
 * announcer as MetalLB's speaker is: one node per IP, here the first schedulable node (by name) on
 * the segment holding the IP. Ingress IPs on no node segment are expected to be routed by the
 * underlay and are not announced.
 */
export function lbAnnouncements(topo: Topology): { ip: string; node: string; service: string }[] {
  const out: { ip: string; node: string; service: string }[] = [];
  for (const s of topo.store.list('Service') as Service[]) {
    if (s.spec.type !== 'LoadBalancer') continue;
    for (const ing of s.status?.loadBalancer?.ingress ?? []) {
      if (!ing.ip || parseIp(ing.ip).family !== 4) continue;
      const seg = topo.networks.find((n) => n.cidrs.some((c) => cidrContains(parseCidr(c), parseIp(ing.ip!))));
      const node = [...topo.nodes].filter((n) => n.network === seg?.name && !n.unschedulable).sort((a, b) => a.name.localeCompare(b.name))[0];
      if (node) out.push({ ip: ing.ip, node: node.name, service: `${s.metadata.namespace ?? 'default'}/${s.metadata.name}` });
    }
  }
  return out;
}

const LOOPBACK_V4 = parseIp('127.0.0.1').n as number;
const LOOPBACK_NET: { net: number; mask: number } = { net: LOOPBACK_V4 & 0xff000000, mask: 0xff000000 };

/**
 * A pod's namespace as the bridge + host-local CNI plugins leave it (flannel.md §1.4): made when a
 * trace first enters it. It answers ARP for its address and lo's 127.0.0.1 and 127.0.0.0/8.
 */
function podNetns(topo: Topology, node: TopologyNode, p: Pod, key: string, veth: string, mtu: number, _flannel: FlannelNodeState | null): LazyNetnsSpec {
  const devices: Device[] = [
    { kind: 'loopback', name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536 },
    { kind: 'veth', name: 'eth0', mac: macFromName(`${key}/eth0`), mtu, peer: { netns: node.name, dev: veth } },
  ];
  const podIp = p.status!.podIP!;
  return {
    name: key,
    node: node.name,
    role: 'pod',
    devices,
    arp: { host: [LOOPBACK_V4, parseIp(podIp).n as number], wide: [LOOPBACK_NET], proxyDevs: [] },
    build: () => {
      const lease = parseCidr(v4(node.podCIDRs)[0]!);
      const gw = nthHost(lease, 1);
      const rib = new Rib(['eth0']);
      rib.addAddress('lo', '127.0.0.1/8');
      rib.addAddress('eth0', `${podIp}/${lease.prefix}`);
      rib.addRoute({ dst: parseCidr('0.0.0.0/0'), nexthops: [{ gateway: gw, dev: 'eth0' }] }, { validate: true });
      const network = v4(topo.cluster.podCIDRs)[0];
      if (network) rib.addRoute({ dst: parseCidr(network), nexthops: [{ gateway: gw, dev: 'eth0' }] }, { validate: true });
      return { name: key, node: node.name, role: 'pod', devices, rib, fdb: [], sysctls: NETNS_DEFAULTS, listeners: listenersOf(p, `pod/${key}`) };
    },
  };
}

/**
 * A router: one NIC per segment, forwarding on, connected routes, and a static route to every
 * segment it is not on, via a router it shares a segment with (shortest path, first found).
 */
function buildRouter(topo: Topology, fabric: Fabric, r: Router, owners: Map<string, IpOwner>): void {
  const name = `router/${r.name}`;
  const rib = new Rib();
  rib.forwarding[4] = true;
  rib.addAddress('lo', '127.0.0.1/8');
  const devices: Device[] = [{ kind: 'loopback', name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536 }];
  r.interfaces.forEach((itf, i) => {
    if (parseIp(itf.ip).family !== 4) return;
    const dev = `eth${i}`;
    rib.addAddress(dev, `${itf.ip}/${prefixOn(topo, itf.network, itf.ip)}`);
    devices.push({ kind: 'eth', name: dev, mac: macFromName(`${name}/${dev}`), mtu: netMtu(topo, itf.network), segment: itf.network });
    owners.set(itf.ip, { kind: 'router', name: r.name, netns: name });
  });
  // BFS over segments through other routers
  const mySegs = new Set(r.interfaces.map((i) => i.network));
  const via = new Map<string, { gw: string; dev: string }>();
  const queue: { seg: string; first: { gw: string; dev: string } | null }[] = [...mySegs].map((s) => ({ seg: s, first: null }));
  const seen = new Set(mySegs);
  while (queue.length) {
    const { seg, first } = queue.shift()!;
    for (const other of topo.routers) {
      if (other.name === r.name) continue;
      const on = other.interfaces.find((i) => i.network === seg && parseIp(i.ip).family === 4);
      if (!on) continue;
      const hop = first ?? { gw: on.ip, dev: `eth${r.interfaces.findIndex((i) => i.network === seg)}` };
      for (const i of other.interfaces) {
        if (seen.has(i.network)) continue;
        seen.add(i.network);
        via.set(i.network, hop);
        queue.push({ seg: i.network, first: hop });
      }
    }
  }
  for (const [seg, hop] of via) {
    for (const c of topo.networks.find((n) => n.name === seg)?.cidrs ?? []) {
      if (parseCidr(c).family !== 4) continue;
      rib.addRoute({ dst: parseCidr(c), nexthops: [{ gateway: parseIp(hop.gw), dev: hop.dev }] }, { validate: true });
    }
  }
  installRouterBgpRoutes(topo, r.name, rib);
  fabric.add({ name, node: r.name, role: 'router', devices, rib, fdb: [], sysctls: { ...NETNS_DEFAULTS, ipForward: true }, listeners: [] });
}

function buildClient(topo: Topology, fabric: Fabric, c: Client, owners: Map<string, IpOwner>): string {
  const name = `client/${c.name}`;
  const rib = new Rib(['eth0']);
  rib.addAddress('lo', '127.0.0.1/8');
  for (const ip of v4(c.ips)) {
    rib.addAddress('eth0', `${ip}/${prefixOn(topo, c.network, ip)}`);
    owners.set(ip, { kind: 'client', name: c.name, netns: name });
  }
  if (c.gateway && parseIp(c.gateway).family === 4) rib.addRoute({ dst: parseCidr('0.0.0.0/0'), nexthops: [{ gateway: parseIp(c.gateway), dev: 'eth0' }] }, { validate: true });
  const devices: Device[] = [
    { kind: 'loopback', name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536 },
    { kind: 'eth', name: 'eth0', mac: macFromName(`${name}/eth0`), mtu: netMtu(topo, c.network), segment: c.network },
  ];
  fabric.add({ name, node: c.name, role: 'client', devices, rib, fdb: [], sysctls: NETNS_DEFAULTS, listeners: [] });
  return name;
}

/** Why a node the packet crossed has no route to `ip`, when a flannel host-gw route for it was refused. */
export function missingRouteReason(world: World, crossed: readonly string[], ip: string): string | null {
  const cal = calicoMissingRouteReason(world.topology, crossed, ip);
  if (cal) return cal;
  for (const n of world.nodes.values()) {
    if (!crossed.includes(n.netns) || !n.flannel) continue;
    const r = refusalFor(n.flannel, ip);
    if (r) return `${n.name} has no route to ${r.subnet}: flannel host-gw's "ip route add ${r.route}" was refused (${r.error}); host-gw needs L2 adjacency and ${r.peer} is not on-link`;
  }
  return null;
}

/** Every pod key, for did-you-mean suggestions. */
export function suggestPod(world: World, key: string): string | null {
  return closestName(key, [...world.pods.keys()]) ?? null;
}

