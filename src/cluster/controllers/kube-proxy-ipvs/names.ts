import type { IptablesTable } from '../kube-proxy-iptables/types.js';
import type { IpvsProto, KubeIpsetType } from './types.js';

// Names, comments and tables of kube-proxy's IPVS mode (kubernetes pkg/proxy/ipvs/proxier.go and
// ipset.go, v1.34). Facts as data; podpath's own code.

/** Chains (proxier.go constants). */
export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_SOURCE_RANGES_FIREWALL = 'KUBE-SOURCE-RANGES-FIREWALL';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_NODE_PORT = 'KUBE-NODE-PORT';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_LOAD_BALANCER = 'KUBE-LOAD-BALANCER';
export const KUBE_IPVS_FILTER = 'KUBE-IPVS-FILTER';
export const KUBE_IPVS_OUT_FILTER = 'KUBE-IPVS-OUT-FILTER';

/** defaultScheduler, defaultDummyDevice. */
export const DEFAULT_SCHEDULER = 'rr';
export const DUMMY_DEVICE = 'kube-ipvs0';

/** Schedulers the kernel ships (net/netfilter/ipvs/ip_vs_*.c); kube-proxy passes the name through and the kernel refuses others. */
export const KERNEL_SCHEDULERS: readonly string[] = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];

/** iptablesChains: the chains every sync declares, in order. */
export const IPTABLES_CHAINS: ReadonlyArray<readonly [IptablesTable, string]> = [
  ['nat', KUBE_SERVICES],
  ['nat', KUBE_POSTROUTING],
  ['nat', KUBE_NODE_PORT],
  ['nat', KUBE_LOAD_BALANCER],
  ['nat', KUBE_MARK_MASQ],
  ['filter', KUBE_FORWARD],
  ['filter', KUBE_NODE_PORT],
  ['filter', KUBE_PROXY_FIREWALL],
  ['filter', KUBE_SOURCE_RANGES_FIREWALL],
  ['filter', KUBE_IPVS_FILTER],
  ['filter', KUBE_IPVS_OUT_FILTER],
];

/** iptablesJumpChain: [table, from (built-in), to, comment], in EnsureRule(Prepend) order. */
export const IPTABLES_JUMPS: ReadonlyArray<readonly [IptablesTable, string, string, string]> = [
  ['nat', 'OUTPUT', KUBE_SERVICES, 'kubernetes service portals'],
  ['nat', 'PREROUTING', KUBE_SERVICES, 'kubernetes service portals'],
  ['nat', 'POSTROUTING', KUBE_POSTROUTING, 'kubernetes postrouting rules'],
  ['filter', 'FORWARD', KUBE_FORWARD, 'kubernetes forwarding rules'],
  ['filter', 'INPUT', KUBE_NODE_PORT, 'kubernetes health check rules'],
  ['filter', 'INPUT', KUBE_PROXY_FIREWALL, 'kube-proxy firewall rules'],
  ['filter', 'FORWARD', KUBE_PROXY_FIREWALL, 'kube-proxy firewall rules'],
  ['filter', 'INPUT', KUBE_IPVS_FILTER, 'kubernetes ipvs access filter'],
  ['filter', 'OUTPUT', KUBE_IPVS_OUT_FILTER, 'kubernetes ipvs access filter'],
];

// Set names (ipset.go).
export const KUBE_LOOP_BACK = 'KUBE-LOOP-BACK';
export const KUBE_CLUSTER_IP = 'KUBE-CLUSTER-IP';
export const KUBE_EXTERNAL_IP = 'KUBE-EXTERNAL-IP';
export const KUBE_EXTERNAL_IP_LOCAL = 'KUBE-EXTERNAL-IP-LOCAL';
export const KUBE_LOAD_BALANCER_SET = 'KUBE-LOAD-BALANCER';
export const KUBE_LOAD_BALANCER_FW = 'KUBE-LOAD-BALANCER-FW';
export const KUBE_LOAD_BALANCER_LOCAL = 'KUBE-LOAD-BALANCER-LOCAL';
export const KUBE_LOAD_BALANCER_SOURCE_IP = 'KUBE-LOAD-BALANCER-SOURCE-IP';
export const KUBE_LOAD_BALANCER_SOURCE_CIDR = 'KUBE-LOAD-BALANCER-SOURCE-CIDR';
export const KUBE_NODE_PORT_TCP = 'KUBE-NODE-PORT-TCP';
export const KUBE_NODE_PORT_LOCAL_TCP = 'KUBE-NODE-PORT-LOCAL-TCP';
export const KUBE_NODE_PORT_UDP = 'KUBE-NODE-PORT-UDP';
export const KUBE_NODE_PORT_LOCAL_UDP = 'KUBE-NODE-PORT-LOCAL-UDP';
export const KUBE_NODE_PORT_SCTP = 'KUBE-NODE-PORT-SCTP-HASH';
export const KUBE_NODE_PORT_LOCAL_SCTP = 'KUBE-NODE-PORT-LOCAL-SCTP-HASH';
export const KUBE_HEALTH_CHECK_NODE_PORT = 'KUBE-HEALTH-CHECK-NODE-PORT';
export const KUBE_IPVS_IPS = 'KUBE-IPVS-IPS';

/** ipsetInfo: every set kube-proxy creates, in order, with its type and comment. */
export const IPSET_INFO: ReadonlyArray<readonly [string, KubeIpsetType, string]> = [
  [KUBE_LOOP_BACK, 'hash:ip,port,ip', 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose'],
  [KUBE_CLUSTER_IP, 'hash:ip,port', 'Kubernetes service cluster ip + port for masquerade purpose'],
  [KUBE_EXTERNAL_IP, 'hash:ip,port', 'Kubernetes service external ip + port for masquerade and filter purpose'],
  [KUBE_EXTERNAL_IP_LOCAL, 'hash:ip,port', 'Kubernetes service external ip + port with externalTrafficPolicy=local'],
  [KUBE_LOAD_BALANCER_SET, 'hash:ip,port', 'Kubernetes service lb portal'],
  [KUBE_LOAD_BALANCER_FW, 'hash:ip,port', 'Kubernetes service load balancer ip + port for load balancer with sourceRange'],
  [KUBE_LOAD_BALANCER_LOCAL, 'hash:ip,port', 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local'],
  [KUBE_LOAD_BALANCER_SOURCE_IP, 'hash:ip,port,ip', 'Kubernetes service load balancer ip + port + source IP for packet filter purpose'],
  [KUBE_LOAD_BALANCER_SOURCE_CIDR, 'hash:ip,port,net', 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose'],
  [KUBE_NODE_PORT_TCP, 'bitmap:port', 'Kubernetes nodeport TCP port for masquerade purpose'],
  [KUBE_NODE_PORT_LOCAL_TCP, 'bitmap:port', 'Kubernetes nodeport TCP port with externalTrafficPolicy=local'],
  [KUBE_NODE_PORT_UDP, 'bitmap:port', 'Kubernetes nodeport UDP port for masquerade purpose'],
  [KUBE_NODE_PORT_LOCAL_UDP, 'bitmap:port', 'Kubernetes nodeport UDP port with externalTrafficPolicy=local'],
  [KUBE_NODE_PORT_SCTP, 'hash:ip,port', "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"],
  [KUBE_NODE_PORT_LOCAL_SCTP, 'hash:ip,port', "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"],
  [KUBE_HEALTH_CHECK_NODE_PORT, 'bitmap:port', 'Kubernetes health check node port'],
  [KUBE_IPVS_IPS, 'hash:ip', 'Addresses on the ipvs interface'],
];

/**
 * ipsetWithIptablesChain: [set, table, from chain, target, match dirs, protocol match]. The LOCAL
 * node-port sets come before the plain ones (their RETURN must win).
 */
export const IPSET_WITH_CHAIN: ReadonlyArray<readonly [string, IptablesTable, string, string, string, IpvsProto | '']> = [
  [KUBE_LOOP_BACK, 'nat', KUBE_POSTROUTING, 'MASQUERADE', 'dst,dst,src', ''],
  [KUBE_LOAD_BALANCER_SET, 'nat', KUBE_SERVICES, KUBE_LOAD_BALANCER, 'dst,dst', ''],
  [KUBE_LOAD_BALANCER_LOCAL, 'nat', KUBE_LOAD_BALANCER, 'RETURN', 'dst,dst', ''],
  [KUBE_NODE_PORT_LOCAL_TCP, 'nat', KUBE_NODE_PORT, 'RETURN', 'dst', 'tcp'],
  [KUBE_NODE_PORT_TCP, 'nat', KUBE_NODE_PORT, KUBE_MARK_MASQ, 'dst', 'tcp'],
  [KUBE_NODE_PORT_LOCAL_UDP, 'nat', KUBE_NODE_PORT, 'RETURN', 'dst', 'udp'],
  [KUBE_NODE_PORT_UDP, 'nat', KUBE_NODE_PORT, KUBE_MARK_MASQ, 'dst', 'udp'],
  [KUBE_NODE_PORT_LOCAL_SCTP, 'nat', KUBE_NODE_PORT, 'RETURN', 'dst,dst', 'sctp'],
  [KUBE_NODE_PORT_SCTP, 'nat', KUBE_NODE_PORT, KUBE_MARK_MASQ, 'dst,dst', 'sctp'],
  [KUBE_LOAD_BALANCER_FW, 'filter', KUBE_PROXY_FIREWALL, KUBE_SOURCE_RANGES_FIREWALL, 'dst,dst', ''],
  [KUBE_LOAD_BALANCER_SOURCE_CIDR, 'filter', KUBE_SOURCE_RANGES_FIREWALL, 'RETURN', 'dst,dst,src', ''],
  [KUBE_LOAD_BALANCER_SOURCE_IP, 'filter', KUBE_SOURCE_RANGES_FIREWALL, 'RETURN', 'dst,dst,src', ''],
];

/**
 * The set's name for a family (ipset.go NewIPSet): IPv6 sets replace the "KUBE-" prefix with
 * "KUBE-6-", truncated to ipset's 31 characters.
 */
export function ipsetName(name: string, family: 4 | 6): string {
  if (family === 4 || !name.startsWith('KUBE-')) return name;
  const n = `KUBE-6-${name.slice(5)}`;
  return n.length > 31 ? n.slice(0, 31) : n;
}

/** createSet's arguments after the type (pkg/proxy/ipvs/ipset/ipset.go; defaults of setIPSetDefaults). */
export function ipsetCreateOptions(type: KubeIpsetType, family: 4 | 6): string {
  if (type === 'bitmap:port') return 'range 0-65535';
  return `family ${family === 4 ? 'inet' : 'inet6'} hashsize 1024 maxelem 65536`;
}
