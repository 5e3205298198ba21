// kube-proxy iptables mode (v1.34): Services + EndpointSlices + node config → the iptables-restore payload, jump rules, sysctls, with provenance; incremental partial syncs.
// Must not touch a netns, parse iptables text, or run anything: it only produces text and data for the node model and the netfilter loader.
export { generateIptablesRules, KubeProxyIptables, type KubeProxyIptablesOptions } from './proxier.js';
export {
  hash16,
  portProtoHash,
  servicePortPolicyClusterChain,
  servicePortPolicyLocalChainName,
  serviceExternalChainName,
  serviceFirewallChainName,
  servicePortEndpointChainName,
  isServiceChainName,
  probability,
  CHAIN_PREFIX,
  KUBE_SERVICES,
  KUBE_EXTERNAL_SERVICES,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_MARK_MASQ,
  KUBE_FORWARD,
  KUBE_PROXY_FIREWALL,
  KUBE_PROXY_CANARY,
  KUBE_FIREWALL,
} from './chain-names.js';
export { DEFAULTS as KUBE_PROXY_IPTABLES_DEFAULTS } from './model.js';
export type {
  ChainRef,
  ChangedObject,
  EnsuredJumpRule,
  GenerateInput,
  GeneratedRuleset,
  IpFamilyNumber,
  IptablesTable,
  LocalDetectorConfig,
  LocalDetectorMode,
  NodeProxyConfig,
  RuleWithProvenance,
  RulesetDiff,
  SysctlSetting,
} from './types.js';
export { nodeOutputKey, NodeOutputKeys } from './node-key.js';
