import type { Provenance } from '../../../trace/types.js';
import type { EndpointSlice, Service } from '../../objects.js';
import type { ChainRef, EnsuredJumpRule, IpFamilyNumber, IptablesTable, NodeProxyConfig, RuleWithProvenance, SysctlSetting } from '../kube-proxy-iptables/types.js';

export type { ChainRef, EnsuredJumpRule, IpFamilyNumber, IptablesTable, RuleWithProvenance, SysctlSetting };

/** ipset types kube-proxy's IPVS mode uses (pkg/proxy/ipvs/ipset/types.go). */
export type KubeIpsetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

/** The protocols a Service port can have, as IPVS and ipset spell them. */
export type IpvsProto = 'tcp' | 'udp' | 'sctp';

/** What made a virtual server: which address of the Service port it serves. */
export type VirtualServerKind = 'ClusterIP' | 'ExternalIP' | 'LoadBalancer' | 'NodePort';

/** KubeProxyConfiguration.ipvs + the IPVS-only parts of the node's configuration. */
export interface IpvsProxyConfig extends NodeProxyConfig {
  /** ipvs.scheduler; "" or undefined = rr (defaultScheduler). */
  scheduler?: string;
  /** ipvs.strictARP: arp_ignore=1 / arp_announce=2. Default false. */
  strictARP?: boolean;
  /** ipvs.excludeCIDRs: VSs there are not cleaned up (no effect on what a sync writes). */
  excludeCIDRs?: string[];
  /** The node's kernel version ("5.15"): decides whether vs/conn_reuse_mode is written. Default "6.1". */
  kernelVersion?: string;
  /** ipvs.tcpTimeout / tcpFinTimeout / udpTimeout in seconds (0 = keep the kernel's). */
  tcpTimeout?: number;
  tcpFinTimeout?: number;
  udpTimeout?: number;
}

export interface IpvsGenerateInput {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  node: IpvsProxyConfig;
  family: IpFamilyNumber;
}

/** One destination of a virtual server (utilipvs.RealServer as syncEndpoint adds it). */
export interface IpvsRealServer {
  address: string;
  port: number;
  /** kube-proxy adds every real server with weight 1. */
  weight: number;
  /** kube-proxy uses the default forwarding method: masquerading (NAT). */
  forward: 'masq';
  /** The endpoint is on this node. */
  local: boolean;
  provenance: Provenance[];
}

/** One IPVS virtual service (utilipvs.VirtualServer as syncService adds it). */
export interface IpvsVirtualServer {
  kind: VirtualServerKind;
  protocol: IpvsProto;
  address: string;
  port: number;
  scheduler: string;
  /** ClientIP affinity: the persistence timeout in seconds (FlagPersistent), else null. */
  persistentTimeout: number | null;
  /** Scheduler flags as ipvsadm names them (`mh-port` for FlagSourceHash with mh). */
  schedFlags: string[];
  /** The address is bound to kube-ipvs0 by this VS (ClusterIP; externalIP/LB VIP not on another interface). */
  bound: boolean;
  /** Which endpoint set syncEndpoint chose: Cluster, Local, or the Local→Cluster fallback (PR 97081). */
  endpointSet: 'cluster' | 'local' | 'local-fallback-cluster';
  realServers: IpvsRealServer[];
  /** "ns/svc:port" (ServicePortName.String()). */
  servicePort: string;
  provenance: Provenance[];
}

export interface IpsetEntryWithProvenance {
  /** The element as `ipset add SET ELEMENT` takes it (utilipset.Entry.String()). */
  entry: string;
  provenance: Provenance[];
}

export interface GeneratedIpset {
  /** KUBE-… for IPv4, KUBE-6-… (at most 31 characters) for IPv6. */
  name: string;
  type: KubeIpsetType;
  comment: string;
  /** Arguments after the type, as kube-proxy's createSet passes them (`family inet hashsize 1024 maxelem 65536`, `range 0-65535`). */
  createOptions: string;
  /** Entries in the order kube-proxy first inserted them (upstream adds them from an unordered set). */
  entries: IpsetEntryWithProvenance[];
}

export interface GeneratedIpvs {
  family: IpFamilyNumber;
  scheduler: string;
  /** Virtual servers in sync order (per service port: ClusterIP, externalIPs, LB VIPs, node IPs). */
  virtualServers: IpvsVirtualServer[];
  /** The VSs and RSs as `ipvsadm -Sn` prints them. */
  ipvsadmSave: string;
  /** kube-ipvs0: the dummy device every bound address is put on. */
  dummyDevice: string;
  /** Addresses bound to kube-ipvs0 (the KUBE-IPVS-IPS entries), in first-bound order. */
  boundAddresses: string[];
  /** Every set of ipsetInfo, empty ones included, in ipsetInfo order. */
  ipsets: GeneratedIpset[];
  /** `ipset restore` input creating every set and adding its entries (kube-proxy runs `ipset create/add … -exist`). */
  ipsetRestore: string;
  /** The exact `iptables-restore --noflush --counters` input of writeIptablesRules. */
  payload: string;
  rules: RuleWithProvenance[];
  chains: ChainRef[];
  jumpRules: EnsuredJumpRule[];
  sysctls: SysctlSetting[];
  /** Node addresses NodePort VSs are made on. */
  nodePortAddresses: string[];
  warnings: string[];
  provenanceAt(table: IptablesTable, chain: string, index: number): Provenance[] | undefined;
}
