// flannel controller: what flanneld (vxlan | host-gw backend) and the flannel CNI chain (bridge + host-local + portmap) leave on a node: links, addresses, routes, neighbours, FDB, subnet.env, FLANNEL-* iptables rules.
// Must not trace packets nor build namespaces; it converts the topology's nodes into per-node state (facts: ../shared/reference/flannel.md).
import { cidrContains, formatCidr, formatIp, nthHost, parseCidr, parseIp, type Cidr } from '../../../base/index.js';
import { RoutingError, type NeighEntry, type Rib } from '../../../routing/index.js';
import type { FdbEntry, VxlanDevice } from '../../../netns/index.js';
import { VXLAN_DEFAULT_PORT } from '../../../netns/index.js';
import type { Topology, TopologyNode, FlannelConfig } from '../../spec/types.js';
import { flannelVtepMac, NODE_UPLINK, CNI_BRIDGE, FLANNEL_VXLAN_DEV } from './names.js';

export { flannelVtepMac, CNI_BRIDGE, FLANNEL_VXLAN_DEV } from './names.js';

/** flanneld's defaults (pkg/backend/vxlan/vxlan.go): VNI 1; Port 0 → the kernel's 8472; 50 bytes of encapsulation overhead. */
export const FLANNEL_VNI = 1;
export const FLANNEL_ENCAP_OVERHEAD = 50;

/** A route flannel asked for and the kernel refused (host-gw to a peer that is not on-link). */
export interface RefusedRoute {
  readonly peer: string;
  readonly subnet: string;
  /** The route as `ip route add` was asked for it. */
  readonly route: string;
  /** What the kernel answered, as `ip` prints it. */
  readonly error: string;
}

/** What flannel leaves on one node. */
export interface FlannelNodeState {
  readonly node: string;
  readonly backend: FlannelConfig['mode'];
  /** The node's lease (spec.podCIDR). */
  readonly subnet: string;
  /** /run/flannel/subnet.env */
  readonly subnetEnv: string;
  /** flannel.1 (vxlan only). */
  readonly vtep: VxlanDevice | null;
  readonly mtu: number;
  readonly neigh: readonly NeighEntry[];
  readonly fdb: readonly FdbEntry[];
  readonly refused: readonly RefusedRoute[];
  /** Peers reached by DirectRouting (vxlan): a plain route via the peer's IP, no encapsulation. */
  readonly direct: readonly string[];
  /** `iptables-restore --noflush` payload of flanneld's FLANNEL-POSTRTG / FLANNEL-FWD rules (pkg/trafficmngr/iptables). */
  readonly iptables: string;
  /** Node annotations flanneld writes (flannel.alpha.coreos.com/…). */
  readonly annotations: Readonly<Record<string, string>>;
}

function v4(list: readonly string[]): string[] {
  return list.filter((a) => parseIp(a.split('/')[0]!).family === 4);
}

/** The cluster's IPv4 Network (net-conf.json "Network"). */
export function flannelNetwork(topo: Topology): string {
  return formatCidr(parseCidr(v4(topo.cluster.podCIDRs)[0] ?? '10.244.0.0/16'));
}

/** The FLANNEL-POSTRTG / FLANNEL-FWD rules of flanneld --ip-masq (flannel.md §1.5), in the order flanneld appends them. */
export function flannelIptablesPayload(network: string, lease: string): string {
  const c = '-m comment --comment "flanneld masq"';
  return [
    '*nat',
    ':FLANNEL-POSTRTG - [0:0]',
    `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
    `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${lease} -d ${network} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${network} -d ${lease} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${network} -d ${lease} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${network} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
    `-A FLANNEL-POSTRTG ! -s ${network} -d ${network} ${c} -j MASQUERADE --random-fully`,
    'COMMIT',
    '*filter',
    ':FLANNEL-FWD - [0:0]',
    '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
    `-A FLANNEL-FWD -s ${network} -m comment --comment "flanneld forward" -j ACCEPT`,
    `-A FLANNEL-FWD -d ${network} -m comment --comment "flanneld forward" -j ACCEPT`,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * Programs flannel's state for `node` into its Rib (which already holds the node's underlay
 * addresses and default route) and returns everything it made. Models flanneld's
 * vxlan_network.go handleSubnetEvents (per peer: neighbour, FDB, then the onlink route; or the
 * DirectRouting route when `ip route get <peer>` has no gateway), hostgw.go + route_network.go
 * (per peer `S via P dev eth0`, refused by the kernel when P is not on-link: logged, no route), and
 * the bridge CNI plugin's cni0 (.1 of the lease) once the node has a pod.
 */
export function applyFlannel(topo: Topology, node: TopologyNode, rib: Rib, opts: { hasPods: boolean }): FlannelNodeState {
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'flannel') throw new Error('applyFlannel: the topology does not use flannel');
  const network = flannelNetwork(topo);
  const lease = v4(node.podCIDRs)[0];
  if (!lease) throw new Error(`flannel: node ${node.name} has no IPv4 podCIDR (lease acquisition fails)`);
  const subnet = parseCidr(lease);
  const leaseText = formatCidr(subnet);
  const publicIp = v4(node.ips)[0] ?? '';
  const mtu = cni.mtu;
  if (opts.hasPods) rib.addAddress(CNI_BRIDGE, `${formatIp(nthHost(subnet, 1))}/${subnet.prefix}`);
  let vtep: VxlanDevice | null = null;
  if (cni.mode === 'vxlan') {
    vtep = {
      kind: 'vxlan',
      name: FLANNEL_VXLAN_DEV,
      mac: flannelVtepMac(node.name),
      mtu,
      vni: FLANNEL_VNI,
      local: publicIp,
      link: NODE_UPLINK,
      dstport: VXLAN_DEFAULT_PORT,
      learning: false,
      ttl: 0,
      udpcsum: true,
      srcPortMin: 0,
      srcPortMax: 0,
    };
    rib.addAddress(FLANNEL_VXLAN_DEV, `${formatIp(subnet.network)}/32`);
  }
  const neigh: NeighEntry[] = [];
  const fdb: FdbEntry[] = [];
  const refused: RefusedRoute[] = [];
  const direct: string[] = [];
  for (const peer of peersOf(topo)) {
    if (peer.name === node.name) continue;
    const { dst, gw, peerIp } = peer;
    if (cni.mode === 'vxlan') {
      if (cni.directRouting && isDirect(rib, gw)) {
        rib.addRoute({ dst, nexthops: [{ gateway: gw }] }, { validate: true, mode: 'replace' });
        direct.push(peer.name);
        continue;
      }
      const mac = peer.mac;
      const n: NeighEntry = { ip: dst.network, dev: FLANNEL_VXLAN_DEV, lladdr: mac, state: 'PERMANENT' };
      rib.neigh.set(n);
      neigh.push(n);
      fdb.push({ mac, dev: FLANNEL_VXLAN_DEV, dst: peerIp, self: true, permanent: true });
      rib.addRoute({ dst, nexthops: [{ gateway: dst.network, dev: FLANNEL_VXLAN_DEV, onlink: true }] }, { validate: true, mode: 'replace' });
    } else {
      try {
        rib.addRoute({ dst, nexthops: [{ gateway: gw, dev: NODE_UPLINK }] }, { validate: true, mode: 'replace' });
      } catch (e) {
        if (!(e instanceof RoutingError)) throw e;
        refused.push({ peer: peer.name, subnet: formatCidr(dst), route: `${formatCidr(dst)} via ${peerIp} dev ${NODE_UPLINK}`, error: e.iproute2 });
      }
    }
  }
  const subnetEnv = [`FLANNEL_NETWORK=${network}`, `FLANNEL_SUBNET=${formatIp(nthHost(subnet, 1))}/${subnet.prefix}`, `FLANNEL_MTU=${mtu}`, 'FLANNEL_IPMASQ=true', ''].join('\n');
  const prefix = 'flannel.alpha.coreos.com/';
  const annotations: Record<string, string> = {
    [`${prefix}backend-type`]: cni.mode,
    [`${prefix}backend-data`]: cni.mode === 'vxlan' ? JSON.stringify({ VNI: FLANNEL_VNI, VtepMAC: flannelVtepMac(node.name) }) : 'null',
    [`${prefix}public-ip`]: publicIp,
    [`${prefix}kube-subnet-manager`]: 'true',
  };
  return { node: node.name, backend: cni.mode, subnet: leaseText, subnetEnv, vtep, mtu, neigh, fdb, refused, direct, iptables: flannelIptablesPayload(network, leaseText), annotations };
}

/** What every node learns of each peer from its lease (the subnet manager's view), read once per topology. */
interface Peer {
  readonly name: string;
  readonly dst: Cidr;
  readonly gw: ReturnType<typeof parseIp>;
  readonly peerIp: string;
  readonly mac: string;
}
const PEERS = new WeakMap<Topology, Peer[]>();
function peersOf(topo: Topology): readonly Peer[] {
  let peers = PEERS.get(topo);
  if (!peers) {
    peers = [];
    for (const p of topo.nodes) {
      const lease = v4(p.podCIDRs)[0];
      const ip = v4(p.ips)[0];
      if (!lease || !ip) continue;
      peers.push({ name: p.name, dst: parseCidr(lease), gw: parseIp(ip), peerIp: ip, mac: flannelVtepMac(p.name) });
    }
    PEERS.set(topo, peers);
  }
  return peers;
}

/** DirectRouting's test (vxlan_network.go): `ip route get <peer>` gives one route without a gateway. */
function isDirect(rib: Rib, peer: ReturnType<typeof parseIp>): boolean {
  const r = rib.lookupRoute({ dst: peer });
  return r.kind === 'unicast' && r.gateway === null && r.route !== null && !r.route.nexthops.some((n) => n.gateway);
}

/** The flannel host-gw refusal that leaves `node` without a route to `ip`, if any (for no-route reasons). */
export function refusalFor(state: FlannelNodeState, ip: string): RefusedRoute | null {
  const a = parseIp(ip);
  return state.refused.find((r) => cidrContains(parseCidr(r.subnet), a)) ?? null;
}

/** One line per refused route, as flanneld logs it. */
export function formatRefusal(r: RefusedRoute): string {
  return `flannel host-gw: "ip route add ${r.route}" refused: ${r.error} (host-gw needs L2 adjacency: ${r.peer} is not on-link)`;
}

