/**
 * Kubernetes objects as `kubectl get -o yaml` prints them (the fields podpath reads).
 * Field names and nesting are the API's own; optional where the API server may omit them.
 */

export interface ObjectMeta {
  name: string;
  /** Prefix the API server completed with a random suffix to make `name` (EndpointSlices have one). */
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid?: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type IPFamily = 'IPv4' | 'IPv6';

// ---------------------------------------------------------------- Namespace, Node

export interface Namespace {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: ObjectMeta;
}

export interface NodeAddress {
  type: 'InternalIP' | 'ExternalIP' | 'Hostname' | 'InternalDNS' | 'ExternalDNS';
  address: string;
}

export interface Node {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: ObjectMeta;
  spec?: { podCIDR?: string; podCIDRs?: string[]; unschedulable?: boolean; taints?: unknown[] };
  status?: {
    addresses?: NodeAddress[];
    conditions?: Array<{ type: string; status: 'True' | 'False' | 'Unknown' }>;
  };
}

// ---------------------------------------------------------------- Pod

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: Protocol;
  hostPort?: number;
  hostIP?: string;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
}

export interface PodCondition {
  type: 'Ready' | 'ContainersReady' | 'Initialized' | 'PodScheduled' | string;
  status: 'True' | 'False' | 'Unknown';
}

export interface PodSpec {
  nodeName?: string;
  hostNetwork?: boolean;
  /** With `subdomain` equal to a headless Service's name, the endpoint gets this hostname. */
  hostname?: string;
  subdomain?: string;
  containers: Container[];
  initContainers?: Container[];
}

export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: {
    phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    hostIP?: string;
    hostIPs?: Array<{ ip: string }>;
    conditions?: PodCondition[];
  };
}

// ---------------------------------------------------------------- Service

export interface ServicePort {
  name?: string;
  protocol?: Protocol;
  appProtocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

export interface ServiceSpec {
  type?: ServiceType;
  selector?: Record<string, string>;
  ports?: ServicePort[];
  clusterIP?: string; // "None" for headless
  clusterIPs?: string[];
  ipFamilies?: IPFamily[];
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  externalIPs?: string[];
  loadBalancerIP?: string;
  loadBalancerSourceRanges?: string[];
  externalName?: string;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy?: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
  sessionAffinity?: 'None' | 'ClientIP';
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  publishNotReadyAddresses?: boolean;
  allocateLoadBalancerNodePorts?: boolean;
  trafficDistribution?: string;
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ipMode?: 'VIP' | 'Proxy';
}

export interface Service {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

// ---------------------------------------------------------------- EndpointSlice (discovery.k8s.io/v1)

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  targetRef?: { kind: string; namespace?: string; name: string; uid?: string };
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: Array<{ name: string }>; forNodes?: Array<{ name: string }> };
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: Protocol;
  appProtocol?: string;
}

export interface EndpointSlice {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: ObjectMeta; // labels["kubernetes.io/service-name"] names the Service
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';

// ---------------------------------------------------------------- Deployment, ReplicaSet

export interface PodTemplate {
  metadata?: Omit<ObjectMeta, 'name'> & { name?: string };
  spec: PodSpec;
}

export interface Deployment {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  metadata: ObjectMeta;
  spec: { replicas?: number; selector: LabelSelector; template: PodTemplate };
}

export interface ReplicaSet {
  apiVersion: 'apps/v1';
  kind: 'ReplicaSet';
  metadata: ObjectMeta;
  spec: { replicas?: number; selector: LabelSelector; template: PodTemplate };
}

export type KubeObject = Namespace | Node | Pod | Service | EndpointSlice | Deployment | ReplicaSet;
export type KubeKind = KubeObject['kind'];
/** The object type of one kind: `ObjectOfKind<'Service'>` is `Service`. */
export type ObjectOfKind<K extends KubeKind> = Extract<KubeObject, { kind: K }>;

/** The apiVersion each kind is served at (the versions `kubectl get -o yaml` prints). */
export const API_VERSIONS: Readonly<Record<KubeKind, string>> = {
  Namespace: 'v1',
  Node: 'v1',
  Pod: 'v1',
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Deployment: 'apps/v1',
  ReplicaSet: 'apps/v1',
};

/** Labels and annotations podpath reads (well-known names from k8s.io/api). */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** The value of MANAGED_BY_LABEL on slices the endpointslice controller owns. */
export const ENDPOINTSLICE_CONTROLLER_NAME = 'endpointslice-controller.k8s.io';

export const KINDS: readonly KubeKind[] = ['Namespace', 'Node', 'Pod', 'Service', 'EndpointSlice', 'Deployment', 'ReplicaSet'];

/** "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(o: { metadata: ObjectMeta; kind: string }): string {
  return o.kind === 'Node' || o.kind === 'Namespace' ? o.metadata.name : `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}
