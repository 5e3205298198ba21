/**
 * What the Calico CNI plugin and Felix leave on one node (v3.31; calico.md §1, §3, §4): workload
 * veths (cali + 11 hex of SHA-1("ns.pod"), MAC ee:ee:ee:ee:ee:ee, proxy ARP, a /32 route and a
 * static ARP entry per pod), the tunnel device with its /32 tunnel address, the blackhole of each
 * local block, and in VXLAN mode every route, neighbour and FDB entry to the remote VTEPs.
 */
import { cidrContains, macFromName, parseCidr, parseIp, type Cidr } from '../../../base/index.js';
import type { Device, FdbEntry, IpipDevice, VxlanDevice } from '../../../netns/index.js';
import { ipipFallbackDevice } from '../../../netns/index.js';
import type { NeighEntry, Rib } from '../../../routing/index.js';
import type { CalicoTopology } from '../../spec/calico.js';
import type { CalicoConfig, Topology, TopologyNode } from '../../spec/types.js';
import type { Pod } from '../../objects.js';
import type { EncapMode, IpPool } from './ipam.js';
import { CALI_HOST_MAC, CALICO_IPIP_DEV, CALICO_VXLAN_DEV, CALICO_VXLAN_PORT, CALICO_VXLAN_VNI, PROTO_BIRD, PROTO_FELIX, caliVethName, calicoVtepMac } from './names.js';
import { felixIpsets, felixIptablesPayload } from './iptables.js';

/** The uplink holding the node IP (VXLAN's parent device). */
const UPLINK = 'eth0';

export interface CalicoWorkload {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  /** Host side: caliXXXXXXXXXXX. */
  readonly iface: string;
  /** Pod side eth0's MAC (kernel-random in a real pod; podpath derives it from the pod key). */
  readonly podMac: string;
}

/** What Calico programs on one node. */
export interface CalicoNodeState {
  readonly node: string;
  readonly mode: CalicoConfig['mode'];
  /** Blocks affine to this node (each has a blackhole route). */
  readonly blocks: readonly string[];
  readonly tunnel: { readonly dev: string; readonly ip: string } | null;
  /** vxlan.calico or tunl0. */
  readonly tunnelDevice: VxlanDevice | IpipDevice | null;
  readonly workloads: readonly CalicoWorkload[];
  readonly neigh: readonly NeighEntry[];
  readonly fdb: readonly FdbEntry[];
  /** iptables-restore --noflush payload of Felix's chains. */
  readonly iptables: string;
  /** ipset restore text of Felix's sets. */
  readonly ipsets: string;
  /** Pod (veth) MTU: Felix's determinePodMTU. */
  readonly mtu: number;
}

function v4(list: readonly string[]): string[] {
  return list.filter((a) => parseIp(a.split('/')[0]!).family === 4);
}

/** The node's own IPv4 network (Node.spec.bgp.ipv4Address: the node IP with its subnet's prefix). */
export function nodeIpv4Network(topo: Topology, node: TopologyNode): Cidr | null {
  const ip = v4(node.ips)[0];
  if (!ip) return null;
  const net = topo.networks.find((n) => n.name === node.network)?.cidrs.find((c) => parseCidr(c).family === 4 && cidrContains(parseCidr(c), parseIp(ip)));
  return net ? parseCidr(net) : parseCidr(`${ip}/32`);
}

/**
 * CrossSubnet's "same subnet" test (felix/calc/l3_route_resolver.go; BIRD's bgp_next_hop ~ net):
 * the remote node IP lies inside this node's configured IPv4 CIDR. A prefix test, not reachability.
 */
export function sameSubnet(topo: Topology, node: TopologyNode, remoteIp: string): boolean {
  const net = nodeIpv4Network(topo, node);
  return net !== null && cidrContains(net, parseIp(remoteIp));
}

/** Whether traffic from `node` to a block of `pool` owned by `remoteIp` is encapsulated by `mode`. */
export function encapsulates(mode: EncapMode, topo: Topology, node: TopologyNode, remoteIp: string): boolean {
  return mode === 'Always' || (mode === 'CrossSubnet' && !sameSubnet(topo, node, remoteIp));
}

/** The pool a block belongs to. */
export function poolOf(calico: CalicoTopology, block: string): IpPool | undefined {
  const c = parseCidr(block);
  return calico.pools.find((p) => cidrContains(parseCidr(p.cidr), c.network));
}

/** The local pods (not hostNetwork, with an address) of `node`, in name order. */
export function nodeWorkloads(topo: Topology, node: string): CalicoWorkload[] {
  const out: CalicoWorkload[] = [];
  for (const p of topo.store.list('Pod') as Pod[]) {
    if (p.spec.nodeName !== node || p.spec.hostNetwork || !p.status?.podIP) continue;
    const ns = p.metadata.namespace ?? 'default';
    const key = `${ns}/${p.metadata.name}`;
    out.push({ key, namespace: ns, name: p.metadata.name, ip: p.status.podIP, iface: caliVethName(ns, p.metadata.name), podMac: macFromName(`${key}/eth0`) });
  }
  return out;
}

/**
 * Programs Calico's state for `node` into its Rib (which holds the node's uplink addresses and
 * default route) and returns what it made. BGP-learned routes are installed separately (bird.ts).
 */
export function applyCalico(topo: Topology, node: TopologyNode, rib: Rib): CalicoNodeState {
  const cni = topo.cluster.cni;
  const calico = topo.calico;
  if (cni.plugin !== 'calico' || !calico) throw new Error('applyCalico: the topology does not use Calico');
  const nodeIp = v4(node.ips)[0] ?? '';
  const ipam = calico.ipam;
  const blocks = ipam.blocksOf(node.name).map((b) => b.cidr);
  const tun = ipam.tunnels.get(node.name) ?? null;
  const vxlanOn = calico.pools.some((p) => !p.disabled && p.vxlanMode !== 'Never');
  const ipipOn = calico.pools.some((p) => !p.disabled && p.ipipMode !== 'Never');
  let tunnelDevice: VxlanDevice | IpipDevice | null = null;
  let tunnel: { dev: string; ip: string } | null = null;
  if (vxlanOn) {
    // felix vxlan_mgr.go device(): learning off; vishvananda/netlink always sends IFLA_VXLAN_UDP_CSUM (false here)
    tunnelDevice = { kind: 'vxlan', name: CALICO_VXLAN_DEV, mac: calicoVtepMac(node.name), mtu: cni.mtu, vni: CALICO_VXLAN_VNI, local: nodeIp, link: UPLINK, dstport: CALICO_VXLAN_PORT, learning: false, ttl: 0, udpcsum: false, srcPortMin: 0, srcPortMax: 0 };
  } else if (ipipOn) {
    tunnelDevice = { ...ipipFallbackDevice(), mtu: cni.mtu };
  }
  if (tunnelDevice) {
    rib.addDevice(tunnelDevice.name);
    if (tun) {
      rib.addAddress(tunnelDevice.name, `${tun.ip}/32`);
      tunnel = { dev: tunnelDevice.name, ip: tun.ip };
    }
  }
  // local blocks: BIRD's static blackhole (bgp, ipip) or Felix's (vxlan)
  for (const b of blocks) rib.addRoute({ dst: parseCidr(b), type: 'blackhole', protocol: vxlanOn ? PROTO_FELIX : PROTO_BIRD }, { validate: true });
  // workloads: /32 dev caliX scope link + static ARP (CNI, then Felix's route table with static ARP)
  const workloads = nodeWorkloads(topo, node.name);
  const neigh: NeighEntry[] = [];
  for (const w of workloads) {
    rib.addDevice(w.iface);
    rib.addRoute({ dst: parseCidr(`${w.ip}/32`), nexthops: [{ dev: w.iface }] }, { validate: true });
    const n: NeighEntry = { ip: parseIp(w.ip), dev: w.iface, lladdr: w.podMac, state: 'PERMANENT' };
    rib.neigh.set(n);
    neigh.push(n);
  }
  const fdb: FdbEntry[] = [];
  if (vxlanOn) {
    // felix vxlan_mgr.go: per remote VTEP an ARP and an FDB entry; per remote block a route
    for (const peer of topo.nodes) {
      if (peer.name === node.name) continue;
      const peerTun = ipam.tunnels.get(peer.name);
      const peerIp = v4(peer.ips)[0];
      if (!peerTun || peerTun.kind !== 'vxlan' || !peerIp) continue;
      const mac = calicoVtepMac(peer.name);
      const n: NeighEntry = { ip: parseIp(peerTun.ip), dev: CALICO_VXLAN_DEV, lladdr: mac, state: 'PERMANENT' };
      rib.neigh.set(n);
      neigh.push(n);
      fdb.push({ mac, dev: CALICO_VXLAN_DEV, dst: peerIp, self: true, permanent: true });
      for (const b of ipam.blocksOf(peer.name)) {
        const pool = poolOf(calico, b.cidr);
        if (!pool || pool.vxlanMode === 'Never') continue;
        if (encapsulates(pool.vxlanMode, topo, node, peerIp)) {
          // route_mgr tunnelRoute: via the VTEP address, onlink; v3.31 adds the VXLAN MTU
          rib.addRoute({ dst: parseCidr(b.cidr), nexthops: [{ gateway: parseIp(peerTun.ip), dev: CALICO_VXLAN_DEV, onlink: true }], metrics: [{ name: 'mtu', value: cni.mtu }] }, { validate: true, mode: 'replace' });
        } else {
          // route_mgr noEncapRoute: VXLANSameSubnet, via the node IP on the parent device, onlink, proto 80
          rib.addRoute({ dst: parseCidr(b.cidr), nexthops: [{ gateway: parseIp(peerIp), dev: UPLINK, onlink: true }], protocol: PROTO_FELIX }, { validate: true, mode: 'replace' });
        }
      }
    }
  }
  const allHosts = topo.nodes.flatMap((n) => v4(n.ips).slice(0, 1).map((ip) => `${ip}/32`)).sort();
  const ipsets = felixIpsets(
    { allPools: calico.pools.filter((p) => !p.disabled).map((p) => p.cidr), masqPools: calico.pools.filter((p) => !p.disabled && p.natOutgoing).map((p) => p.cidr), allHosts, allVxlan: allHosts },
    { ipip: ipipOn, vxlan: vxlanOn },
  );
  const iptables = felixIptablesPayload({
    endpoints: workloads.map((w) => ({ iface: w.iface, namespace: w.namespace })),
    ipip: ipipOn,
    vxlan: vxlanOn,
    natOutgoing: calico.pools.some((p) => !p.disabled && p.natOutgoing),
    tunnelDevice: tunnel?.dev ?? null,
    vxlanPort: CALICO_VXLAN_PORT,
  });
  return { node: node.name, mode: cni.mode, blocks, tunnel, tunnelDevice, workloads, neigh, fdb, iptables, ipsets, mtu: cni.mtu };
}

/** The host-side veth of a workload as the CNI plugin leaves it. */
export function workloadVeth(w: CalicoWorkload, mtu: number): Device {
  return { kind: 'veth', name: w.iface, mac: CALI_HOST_MAC, mtu, peer: { netns: w.key, dev: 'eth0' } };
}

/** Sysctls the CNI plugin and Felix write on each cali interface (proxy_arp=1, route_localnet=1, strict rp_filter). */
export function workloadSysctls(ifaces: readonly string[]): { key: string; value: number }[] {
  return ifaces.flatMap((i) => [
    { key: `net.ipv4.conf.${i}.proxy_arp`, value: 1 },
    { key: `net.ipv4.conf.${i}.route_localnet`, value: 1 },
    { key: `net.ipv4.conf.${i}.rp_filter`, value: 1 },
  ]);
}

