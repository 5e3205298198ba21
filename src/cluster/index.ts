// cluster: the topology loader, the ClusterStore of Kubernetes objects with watch events, allocation, and the controllers.
// Must not trace packets nor import tracer/compare/kernel or the CLI/server; controllers only convert objects into state.
export type {
  ObjectMeta,
  LabelSelector,
  Protocol,
  IPFamily,
  Namespace,
  NodeAddress,
  Node,
  ContainerPort,
  Container,
  PodCondition,
  PodSpec,
  Pod,
  ServicePort,
  ServiceType,
  ServiceSpec,
  LoadBalancerIngress,
  Service,
  EndpointConditions,
  // trace/ exports its own Endpoint (the endpoint of a traced outcome); the slice's is renamed here.
  Endpoint as EndpointSliceEndpoint,
  EndpointPort,
  EndpointSlice,
  PodTemplate,
  Deployment,
  ReplicaSet,
  KubeObject,
  KubeKind,
  ObjectOfKind,
} from './objects.js';
export {
  SERVICE_NAME_LABEL,
  MANAGED_BY_LABEL,
  API_VERSIONS,
  ZONE_LABEL,
  HOSTNAME_LABEL,
  HEADLESS_LABEL,
  POD_TEMPLATE_HASH_LABEL,
  ENDPOINTSLICE_CONTROLLER_NAME,
  KINDS,
  objectKey,
} from './objects.js';
export { ClusterStore, type WatchEvent, type WatchEventType, type WatchListener, type StoreTransaction } from './store.js';
export { loadTopology, loadTopologyText, loadTopologyObject } from './spec/loader.js';
export type * from './spec/types.js';
export {
  runEndpointSliceController,
  DEFAULT_MAX_ENDPOINTS_PER_SLICE,
  type EndpointSliceController,
  type EndpointSliceControllerOptions,
} from './controllers/endpointslice.js';
export { selectorMatches, NODE_CIDR_MASK, NODE_PORT_RANGE } from './alloc.js';
export {
  generateIptablesRules,
  KubeProxyIptables,
  KUBE_PROXY_IPTABLES_DEFAULTS,
  type KubeProxyIptablesOptions,
  type ChangedObject,
  type EnsuredJumpRule,
  type GeneratedRuleset,
  type LocalDetectorConfig,
  type NodeProxyConfig,
  type RuleWithProvenance,
  type RulesetDiff,
  type SysctlSetting,
} from './controllers/kube-proxy-iptables/index.js';
export { generateIpvsRules, type GeneratedIpvs, type GeneratedIpset, type IpvsProxyConfig, type IpvsVirtualServer, type IpvsRealServer } from './controllers/kube-proxy-ipvs/index.js';
export {
  findNode,
  generateNodeIpvs,
  nodeProxyConfig,
  proxyObjects,
  generateNodeIptables,
  nodeIptables,
  nodeAgentSteps,
  type EnsureOp,
  nodeRib,
  flannelVtepMac,
  nodeNetfilterSetup,
  NODE_UPLINK,
  CNI_BRIDGE,
  FLANNEL_VXLAN_DEV,
  type NodeIptables,
} from './node.js';
export { formatBirdShow, formatBirdLog, birdState, birdPcapFrames, parseBirdEvent, runBirdEvents, type BirdState, type BirdSession, type BirdEvent, type BirdEventResult, type CalicoNodeState } from './controllers/calico/index.js';
export { nodeDump, NODE_DUMP_WHATS, type NodeDumpWhat, type NodeDumpOptions } from './dump.js';
