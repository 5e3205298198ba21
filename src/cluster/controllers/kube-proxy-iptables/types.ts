import type { Provenance } from '../../../trace/types.js';
import type { EndpointSlice, Service } from '../../objects.js';

export type IptablesTable = 'filter' | 'nat';
export type IpFamilyNumber = 4 | 6;

/** kube-proxy's --detect-local-mode (KubeProxyConfiguration.detectLocalMode). */
export type LocalDetectorMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix' | 'None';

export interface LocalDetectorConfig {
  mode: LocalDetectorMode;
  /** BridgeInterface mode: detectLocal.bridgeInterface (e.g. "cni0"). */
  bridgeInterface?: string;
  /** InterfaceNamePrefix mode: detectLocal.interfaceNamePrefix (e.g. "veth"). */
  interfaceNamePrefix?: string;
}

/**
 * One node's kube-proxy configuration, as KubeProxyConfiguration and the Node object give it.
 * Defaults are v1.34's for iptables mode.
 */
export interface NodeProxyConfig {
  /** Endpoints whose nodeName equals this are local. */
  nodeName: string;
  /** The node's primary IPs (at most one per family; kube-proxy's nodeIPs). */
  nodeIPs: string[];
  /**
   * Every address on the node's interfaces (what `--nodeport-addresses` CIDRs select from),
   * in interface order. Default: 127.0.0.1, ::1, then nodeIPs.
   */
  nodeAddresses?: string[];
  /** Cluster CIDR(s) (--cluster-cidr, comma-separated in kube-proxy): used by detectLocalMode ClusterCIDR. */
  clusterCIDRs?: string[];
  /** The node's spec.podCIDRs: used by detectLocalMode NodeCIDR. */
  podCIDRs?: string[];
  localDetector: LocalDetectorConfig;
  /** --masquerade-all. Default false. */
  masqueradeAll?: boolean;
  /** --iptables-masquerade-bit. Default 14 (mark 0x4000). */
  masqueradeBit?: number;
  /**
   * The mark as written into the payload. Default: Go's fmt "%#08x" of 1<<masqueradeBit
   * ("0x00004000"), as production kube-proxy writes it. Upstream's unit-test fixture uses "0x4000".
   */
  masqueradeMark?: string;
  /** --nodeport-addresses: CIDRs, or ["primary"]. Default (iptables mode): all local addresses. */
  nodePortAddresses?: string[];
  /** --iptables-localhost-nodeports. Default true; only ever effective for IPv4. */
  localhostNodePorts?: boolean;
  /** largeClusterEndpointsThreshold. Default 1000. */
  largeClusterThreshold?: number;
  /** sysctl net/netfilter/nf_conntrack_tcp_be_liberal != 0. Default false. */
  conntrackTCPLiberal?: boolean;
  /** iptables supports MASQUERADE --random-fully (iptables >= 1.6.2). Default true. */
  randomFully?: boolean;
  /** nfacct counters kube-proxy could create. Default: both available. */
  nfacct?: { ctStateInvalidDropped?: boolean; localhostNodePortsAccepted?: boolean };
  /** The node's topology.kubernetes.io/zone label (topology hints). */
  zone?: string;
  /** Feature gate PreferSameTrafficDistribution (beta, on by default in v1.34). */
  preferSameTrafficDistribution?: boolean;
  /** CPU count, for the nf_conntrack_max kube-proxy sets. Default 1. */
  cpus?: number;
}

export interface GenerateInput {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  node: NodeProxyConfig;
  family: IpFamilyNumber;
}

/** One rule of the payload, with the objects that made it. */
export interface RuleWithProvenance {
  table: IptablesTable;
  chain: string;
  /** 1-based position in its chain once the payload is loaded (as `iptables -L --line-numbers`). */
  index: number;
  /** The payload line, starting with `-A CHAIN`. */
  rule: string;
  provenance: Provenance[];
}

/**
 * A jump rule kube-proxy ensures in a built-in chain with `iptables -C` then `iptables -I CHAIN 1`
 * (EnsureRule(Prepend, …)), outside the restore payload.
 */
export interface EnsuredJumpRule {
  table: IptablesTable;
  /** Built-in chain: INPUT, FORWARD, OUTPUT, PREROUTING, POSTROUTING. */
  chain: string;
  target: string;
  /** Arguments after the chain name, as kube-proxy passes them to iptables. */
  args: string[];
  /** The rule as `iptables-save` prints it (`-A CHAIN …`). */
  rule: string;
  position: 'prepend';
  /** Whether kube-proxy also removes it on --cleanup (false for kubelet's KUBE-FIREWALL jumps). */
  removedOnCleanup: boolean;
  provenance: Provenance[];
}

export interface SysctlSetting {
  /** Path under /proc/sys, slash-separated as kube-proxy names it. */
  key: string;
  value: number;
  /** `set`: kube-proxy writes it; `expect`: kube-proxy relies on it being set by someone else. */
  action: 'set' | 'expect';
  reason: string;
}

export interface ChainRef {
  table: IptablesTable;
  chain: string;
}

export interface GeneratedRuleset {
  family: IpFamilyNumber;
  /** The exact `iptables-restore --noflush --counters` input kube-proxy writes. */
  payload: string;
  /** Every `-A` rule of the payload in payload order, with its chain position and provenance. */
  rules: RuleWithProvenance[];
  /** Chains declared (`:CHAIN - [0:0]`) in the payload, in order, per table. */
  chains: ChainRef[];
  /** Chains deleted with `-X` (stale service chains). */
  deletedChains: ChainRef[];
  /** Jump rules ensured in built-in chains, in the order kube-proxy ensures them. */
  jumpRules: EnsuredJumpRule[];
  sysctls: SysctlSetting[];
  /** More than the threshold of endpoints: SEP and SVC/SVL dispatch rules carry no comments. */
  largeClusterMode: boolean;
  /** Objects kube-proxy skips or partially ignores, with the reason (not errors: upstream logs these). */
  warnings: string[];
  /** Provenance of the rule at (table, chain, 1-based index), or undefined. */
  provenanceAt(table: IptablesTable, chain: string, index: number): Provenance[] | undefined;
}

export type ChangedObject =
  | { kind: 'Service'; op: 'add' | 'update'; object: Service }
  | { kind: 'Service'; op: 'delete'; object: Service }
  | { kind: 'EndpointSlice'; op: 'add' | 'update'; object: EndpointSlice }
  | { kind: 'EndpointSlice'; op: 'delete'; object: EndpointSlice };

export interface RulesetDiff {
  added: RuleWithProvenance[];
  removed: RuleWithProvenance[];
  chainsAdded: ChainRef[];
  chainsRemoved: ChainRef[];
  /** The objects of this update, with the Services they touched. */
  causedBy: Array<{ kind: 'Service' | 'EndpointSlice'; name: string; op: string; services: string[] }>;
  /** Service ports whose chains were regenerated ("ns/svc:port/proto"). */
  touched: string[];
  /** The partial-sync payload kube-proxy would write, when asked for. */
  payload?: string;
  largeClusterMode: boolean;
}
