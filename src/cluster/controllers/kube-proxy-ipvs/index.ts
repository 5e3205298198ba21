// kube-proxy IPVS mode (v1.34): Services + EndpointSlices + node config → virtual servers, kube-ipvs0 addresses, ipsets, the iptables-restore payload, jump rules and sysctls, with provenance.
// Must not touch a netns, run IPVS or parse ipvsadm/iptables text: it only produces text and data for the node model (src/ipvs parses the `ipvsadm -Sn` it writes).
export { generateIpvsRules, formatIpvsadmSave, formatIpsetRestore, ipvsAddr, ipvsadmProtoFlag, ipvsSysctls } from './proxier.js';
export {
  DEFAULT_SCHEDULER as IPVS_DEFAULT_SCHEDULER,
  DUMMY_DEVICE as KUBE_IPVS_DUMMY_DEVICE,
  IPSET_INFO as KUBE_PROXY_IPSETS,
  KERNEL_SCHEDULERS as IPVS_KERNEL_SCHEDULERS,
  ipsetName as kubeIpsetName,
} from './names.js';
export type {
  GeneratedIpset,
  GeneratedIpvs,
  IpsetEntryWithProvenance,
  IpvsGenerateInput,
  IpvsProto,
  IpvsProxyConfig,
  IpvsRealServer,
  IpvsVirtualServer,
  KubeIpsetType,
  VirtualServerKind,
} from './types.js';
export { ipvsAsIptables, ipvsOf, kubeIpvs0 } from './node-state.js';
