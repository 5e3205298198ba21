/**
 * A topology after loading: every default filled in, every address allocated. This is what the
 * world builder, the controllers and the CLI read; nothing downstream re-parses the file.
 */
import type { Problem } from '../../base/index.js';
import type { IPFamily } from '../objects.js';
import type { EndpointSliceController } from '../controllers/endpointslice.js';
import type { ClusterStore } from '../store.js';
import type { CalicoTopology } from './calico.js';

export type CniPlugin = 'flannel' | 'calico';
export type FlannelMode = 'vxlan' | 'host-gw';
export type CalicoMode = 'bgp' | 'ipip' | 'vxlan';
export type CalicoEncapsulation = 'Always' | 'CrossSubnet';

export interface FlannelConfig {
  readonly plugin: 'flannel';
  readonly mode: FlannelMode;
  /** Pod/bridge MTU: underlay − 50 for vxlan, the underlay MTU for host-gw (flannel's backends). */
  readonly mtu: number;
  /** vxlan only: DirectRouting (host-gw routes to peers on the same subnet). */
  readonly directRouting: boolean;
}

export type CalicoBgp = { readonly mesh: 'full' } | { readonly routeReflectors: readonly string[] };

export interface CalicoConfig {
  readonly plugin: 'calico';
  readonly mode: CalicoMode;
  /** ipip/vxlan: the IPPool's ipipMode/vxlanMode; `null` for plain BGP (both modes Never). */
  readonly encapsulation: CalicoEncapsulation | null;
  readonly bgp: CalicoBgp;
  /** The BGP AS number of every node (Calico's default 64512). */
  readonly asNumber: number;
  /** Pod MTU as Felix derives it: host MTU − 20 (IPIP), − 50 (VXLAN), or the host MTU (BGP). */
  readonly mtu: number;
}

export type CniConfig = FlannelConfig | CalicoConfig;

export type KubeProxyMode = 'iptables' | 'ipvs';
export type IpvsScheduler = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sed' | 'nq' | 'dh' | 'sh' | 'mh';
export type LocalDetectorMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix' | 'None';

export interface KubeProxyConfig {
  readonly mode: KubeProxyMode;
  readonly ipvs: { readonly scheduler: IpvsScheduler; readonly strictARP: boolean };
  readonly masqueradeAll: boolean;
  /** iptables.masqueradeBit (kube-proxy default 14: mark 0x4000). */
  readonly masqueradeBit: number;
  readonly localDetector: { readonly mode: LocalDetectorMode; readonly bridgeInterface?: string; readonly interfaceNamePrefix?: string };
  /** CIDRs, or the keyword "primary"; empty = every local address (kube-proxy's default). */
  readonly nodePortAddresses: readonly string[];
  /** iptables mode: NodePorts answer on 127.0.0.1 (route_localnet=1); kube-proxy default true. */
  readonly localhostNodePorts: boolean;
  readonly ipFamilies: readonly IPFamily[];
}

export interface ClusterConfig {
  /** Cluster CIDRs (kube-controller-manager --cluster-cidr), primary family first. */
  readonly podCIDRs: readonly string[];
  /** Service CIDRs (kube-apiserver --service-cluster-ip-range), primary family first. */
  readonly serviceCIDRs: readonly string[];
  readonly cni: CniConfig;
  readonly kubeProxy: KubeProxyConfig;
}

export interface UnderlayNetwork {
  readonly name: string;
  /** The segment's subnets (one per family). */
  readonly cidrs: readonly string[];
  readonly mtu: number;
}

export interface RouterInterface {
  readonly network: string;
  readonly ip: string;
}

export interface Router {
  readonly name: string;
  readonly interfaces: readonly RouterInterface[];
}

export interface TopologyNode {
  readonly name: string;
  /** Node IPs (kubelet --node-ip): primary first, at most one per family; these are the InternalIPs. */
  readonly ips: readonly string[];
  readonly network: string;
  /** podCIDRs, given or allocated by the node IPAM controller, primary family first. */
  readonly podCIDRs: readonly string[];
  /** Extra addresses on the node's underlay interface, with prefix (e.g. 192.168.57.99/24). */
  readonly addresses: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly unschedulable: boolean;
  /** A router on the node's network, which its default route goes through; undefined when none. */
  readonly gateway?: string;
}

export interface Client {
  readonly name: string;
  readonly ips: readonly string[];
  readonly network: string;
  readonly gateway?: string;
}

export interface Topology {
  readonly name: string;
  /** Absolute path of the topology file ('<input>' for text). */
  readonly file: string;
  readonly cluster: ClusterConfig;
  readonly networks: readonly UnderlayNetwork[];
  readonly routers: readonly Router[];
  readonly nodes: readonly TopologyNode[];
  readonly clients: readonly Client[];
  /** Every object: given, expanded (Deployments → Pods), allocated, and derived (EndpointSlices). */
  readonly store: ClusterStore;
  /** The endpointslice controller running on `store`: Pod and Service changes update the slices. */
  readonly endpointSliceController: EndpointSliceController;
  /** Warnings found while loading (unknown fields, ignored kinds); the CLI prints them. */
  readonly warnings: readonly Problem[];
  /** Calico clusters: IPPools, BGPPeers and the IPAM state (blocks, tunnel addresses). */
  readonly calico?: CalicoTopology;
}
