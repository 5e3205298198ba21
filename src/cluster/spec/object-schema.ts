/**
 * Schemas of the Kubernetes kinds podpath reads, field names as in k8s.io/api (core/v1,
 * discovery/v1, apps/v1). Fields podpath reads are typed and checked as the API server's
 * validation does (pkg/apis/core/validation); the rest of each API type is listed as `known`
 * so `kubectl get -o yaml` output loads without warnings, while a misspelt key gets one.
 */
import { isIp } from '../../base/index.js';
import { API_VERSIONS, KINDS, type KubeKind } from '../objects.js';
import {
  any,
  bool,
  cidr,
  dnsLabelProblem,
  dnsSubdomainProblem,
  int,
  ip,
  known,
  list,
  map,
  obj,
  oneOf,
  port,
  portNameProblem,
  required,
  str,
  validate,
  type Check,
  type Schema,
  type Sink,
  type Path,
} from './schema.js';

const labelMap = map(str(), 'label key to value');

const objectMeta = obj({
  name: str(),
  namespace: str({ check: (v) => dnsLabelProblem(v) }),
  labels: labelMap,
  annotations: map(str(), 'annotation key to value'),
  ownerReferences: list(obj({ apiVersion: required(str()), kind: required(str()), name: required(str()), uid: str(), controller: bool, blockOwnerDeletion: bool })),
  deletionTimestamp: str(),
  creationTimestamp: str(),
  uid: str(),
  resourceVersion: str(),
  generation: int(0),
  generateName: str(),
  ...known('selfLink deletionGracePeriodSeconds finalizers managedFields'),
});

const protocol = oneOf('TCP', 'UDP', 'SCTP');

const labelSelector = obj(
  {
    matchLabels: labelMap,
    matchExpressions: list(obj({ key: required(str()), operator: required(oneOf('In', 'NotIn', 'Exists', 'DoesNotExist')), values: list(str()) })),
  },
  { what: 'a label selector' },
);

const containerPort = obj({
  name: str({ check: (v) => portNameProblem(v) }),
  containerPort: required(port()),
  protocol,
  hostPort: port(),
  hostIP: ip(),
});

const container = obj({
  name: required(str()),
  image: str(),
  ports: list(containerPort),
  restartPolicy: str(),
  ...known(
    'command args workingDir envFrom env resources resizePolicy volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty',
  ),
});

const podSpec = obj({
  containers: required(list(container)),
  initContainers: list(container),
  nodeName: str(),
  hostNetwork: bool,
  hostname: str({ check: (v) => dnsLabelProblem(v) }),
  subdomain: str({ check: (v) => dnsLabelProblem(v) }),
  ...known(
    'volumes ephemeralContainers restartPolicy terminationGracePeriodSeconds activeDeadlineSeconds dnsPolicy nodeSelector serviceAccountName serviceAccount automountServiceAccountToken hostPID hostIPC shareProcessNamespace securityContext imagePullSecrets affinity schedulerName tolerations hostAliases priorityClassName priority dnsConfig readinessGates runtimeClassName enableServiceLinks preemptionPolicy overhead topologySpreadConstraints setHostnameAsFQDN os hostUsers schedulingGates resourceClaims resources',
  ),
});

const podStatus = obj({
  phase: oneOf('Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'),
  conditions: list(obj({ type: required(str()), status: required(oneOf('True', 'False', 'Unknown')), ...known('lastProbeTime lastTransitionTime reason message observedGeneration') })),
  podIP: ip(),
  podIPs: list(obj({ ip: required(ip()) })),
  hostIP: ip(),
  hostIPs: list(obj({ ip: required(ip()) })),
  ...known('message reason nominatedNodeName startTime initContainerStatuses containerStatuses qosClass ephemeralContainerStatuses resize resourceClaimStatuses observedGeneration'),
});

const podTemplate = obj({ metadata: objectMeta, spec: required(podSpec) });

const targetPortCheck: Check<number | string> = (v) => {
  if (typeof v === 'number') return v >= 1 && v <= 65535 ? undefined : `${v} is out of range 1–65535`;
  return portNameProblem(v);
};

const servicePort = obj({
  name: str({ check: (v) => dnsLabelProblem(v) }),
  protocol,
  appProtocol: str(),
  port: required(port()),
  targetPort: { t: 'intOrString', check: targetPortCheck },
  nodePort: port(),
});

const ipOrNone: Check<string> = (v) => (v === 'None' || v === '' || isIp(v) ? undefined : `"${v}" is not a valid IP address (or "None")`);

const serviceSpec = obj({
  type: oneOf('ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'),
  selector: labelMap,
  ports: list(servicePort),
  clusterIP: str({ check: ipOrNone }),
  clusterIPs: list(str({ check: ipOrNone })),
  ipFamilies: list(oneOf('IPv4', 'IPv6')),
  ipFamilyPolicy: oneOf('SingleStack', 'PreferDualStack', 'RequireDualStack'),
  externalIPs: list(ip()),
  loadBalancerIP: ip(),
  loadBalancerSourceRanges: list(cidr()),
  externalName: str(),
  externalTrafficPolicy: oneOf('Cluster', 'Local'),
  internalTrafficPolicy: oneOf('Cluster', 'Local'),
  healthCheckNodePort: port(),
  sessionAffinity: oneOf('None', 'ClientIP'),
  // ServiceAffinity: timeoutSeconds in (0, 86400] (pkg/apis/core/validation: MaxClientIPServiceAffinitySeconds).
  sessionAffinityConfig: obj({ clientIP: obj({ timeoutSeconds: int(1, 86400) }) }),
  publishNotReadyAddresses: bool,
  allocateLoadBalancerNodePorts: bool,
  trafficDistribution: str(),
  loadBalancerClass: str(),
});

const serviceStatus = obj({
  loadBalancer: obj({ ingress: list(obj({ ip: ip(), hostname: str(), ipMode: oneOf('VIP', 'Proxy'), ...known('ports') })) }),
  ...known('conditions'),
});

const endpoint = obj({
  addresses: required(list(str())),
  conditions: obj({ ready: bool, serving: bool, terminating: bool }),
  hostname: str(),
  targetRef: obj({ kind: str(), namespace: str(), name: str(), uid: str(), ...known('apiVersion resourceVersion fieldPath') }),
  nodeName: str(),
  zone: str(),
  hints: obj({ forZones: list(obj({ name: required(str()) })), forNodes: list(obj({ name: required(str()) })) }),
  ...known('deprecatedTopology'),
});

const endpointPort = obj({ name: str(), protocol, port: port(), appProtocol: str() });

const nodeSpec = obj({
  podCIDR: cidr(),
  podCIDRs: list(cidr()),
  unschedulable: bool,
  taints: list(any),
  ...known('providerID configSource externalID'),
});

const nodeStatus = obj({
  addresses: list(obj({ type: required(oneOf('InternalIP', 'ExternalIP', 'Hostname', 'InternalDNS', 'ExternalDNS')), address: required(str()) })),
  conditions: list(obj({ type: required(str()), status: required(oneOf('True', 'False', 'Unknown')), ...known('lastHeartbeatTime lastTransitionTime reason message') })),
  ...known('capacity allocatable phase daemonEndpoints nodeInfo images volumesInUse volumesAttached config runtimeHandlers features declaredFeatures'),
});

const workloadSpec = (extra: string) =>
  obj({ replicas: int(0), selector: required(labelSelector), template: required(podTemplate), ...known(extra) });

const top = { apiVersion: required(str()), kind: required(str()), metadata: required(objectMeta) };

/** One schema per kind podpath models. */
export const OBJECT_SCHEMAS: Readonly<Record<KubeKind, Schema>> = {
  Namespace: obj({ ...top, ...known('spec status') }),
  Node: obj({ ...top, spec: nodeSpec, status: nodeStatus }),
  Pod: obj({ ...top, spec: required(podSpec), status: podStatus }),
  Service: obj({ ...top, spec: required(serviceSpec), status: serviceStatus }),
  EndpointSlice: obj({ ...top, addressType: required(oneOf('IPv4', 'IPv6', 'FQDN')), endpoints: list(endpoint), ports: list(endpointPort) }),
  Deployment: obj({ ...top, spec: required(workloadSpec('strategy minReadySeconds revisionHistoryLimit paused progressDeadlineSeconds')), status: any }),
  ReplicaSet: obj({ ...top, spec: required(workloadSpec('minReadySeconds')), status: any }),
};

/**
 * Kinds of the real API that podpath does not model: loading one is a warning ("ignored"), not an
 * error, so a whole `kubectl get all -o yaml` dump loads. Anything else is an unknown kind.
 */
export const IGNORED_KINDS: ReadonlySet<string> = new Set([
  'Endpoints', 'ConfigMap', 'Secret', 'ServiceAccount', 'DaemonSet', 'StatefulSet', 'Job', 'CronJob', 'Ingress', 'IngressClass',
  'NetworkPolicy', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'PersistentVolumeClaim',
  'StorageClass', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'LimitRange', 'ResourceQuota', 'Event', 'Lease',
  'CustomResourceDefinition', 'PriorityClass', 'ControllerRevision', 'ServiceCIDR', 'IPAddress', 'PodTemplate',
]);

export function isKubeKind(kind: string): kind is KubeKind {
  return (KINDS as readonly string[]).includes(kind);
}

/**
 * Validates one object: apiVersion for its kind, structure, names, and the API server's
 * cross-field rules for the fields podpath reads. Problems go to the sink (paths relative to the object).
 */
export function validateObject(o: Record<string, unknown>, kind: KubeKind, sink: Sink): void {
  if (o.apiVersion !== API_VERSIONS[kind]) {
    sink.error(['apiVersion'], `${kind} is served as apiVersion "${API_VERSIONS[kind]}", not "${String(o.apiVersion)}"`);
  }
  validate(o, OBJECT_SCHEMAS[kind], [], sink);
  const meta = o.metadata as Record<string, unknown> | undefined;
  if (meta && typeof meta === 'object') {
    const name = meta.name;
    if (typeof name !== 'string' || name === '') sink.error(['metadata', 'name'], 'required field "name" is missing');
    else {
      const p = kind === 'Service' || kind === 'Namespace' ? dnsLabelProblem(name) : dnsSubdomainProblem(name);
      if (p) sink.error(['metadata', 'name'], p);
    }
    if ((kind === 'Node' || kind === 'Namespace') && meta.namespace !== undefined) sink.warn(['metadata', 'namespace'], `${kind} is cluster-scoped; namespace is ignored`);
  }
  const spec = o.spec as Record<string, unknown> | undefined;
  if (kind === 'Service' && spec && typeof spec === 'object') validateServiceSpec(spec, sink);
  if (kind === 'Pod' && spec && typeof spec === 'object') validatePodSpec(spec, ['spec'], sink);
  if ((kind === 'Deployment' || kind === 'ReplicaSet') && spec && typeof spec === 'object') validateWorkload(spec, sink);
  if (kind === 'EndpointSlice') validateSlice(o, sink);
}

/** Cross-field rules of ValidateService (pkg/apis/core/validation/validation.go) that podpath depends on. */
function validateServiceSpec(spec: Record<string, unknown>, sink: Sink): void {
  const type = (spec.type as string | undefined) ?? 'ClusterIP';
  const ports = Array.isArray(spec.ports) ? (spec.ports as Array<Record<string, unknown>>) : [];
  if (type === 'ExternalName') {
    if (typeof spec.externalName !== 'string' || spec.externalName === '') sink.error(['spec', 'externalName'], 'required for type ExternalName');
  } else if (ports.length === 0 && spec.clusterIP !== 'None') {
    sink.error(['spec', 'ports'], 'a Service needs at least one port (only headless Services may have none)');
  }
  const names = new Map<string, number>();
  const seen = new Map<string, number>();
  ports.forEach((p, i) => {
    if (!p || typeof p !== 'object') return;
    if (ports.length > 1 && (typeof p.name !== 'string' || p.name === '')) sink.error(['spec', 'ports', i, 'name'], 'every port must be named when a Service has more than one port');
    if (typeof p.name === 'string') {
      const j = names.get(p.name);
      if (j !== undefined) sink.error(['spec', 'ports', i, 'name'], `duplicate port name "${p.name}" (also spec.ports[${j}])`);
      else names.set(p.name, i);
    }
    const k = `${String(p.protocol ?? 'TCP')}/${String(p.port)}`;
    const j = seen.get(k);
    if (j !== undefined) sink.error(['spec', 'ports', i, 'port'], `duplicate port ${k} (also spec.ports[${j}])`);
    else seen.set(k, i);
    if (p.nodePort !== undefined && p.nodePort !== null && (type === 'ClusterIP' || type === 'ExternalName')) {
      sink.error(['spec', 'ports', i, 'nodePort'], `may not be set for type ${type}`);
    }
    if (spec.clusterIP === 'None' && typeof p.targetPort === 'number' && p.targetPort !== p.port) {
      sink.error(['spec', 'ports', i, 'targetPort'], 'must equal port for a headless Service');
    }
  });
  if (spec.externalTrafficPolicy !== undefined && type !== 'NodePort' && type !== 'LoadBalancer') {
    sink.error(['spec', 'externalTrafficPolicy'], `may only be set for type NodePort or LoadBalancer, not ${type}`);
  }
  if (spec.healthCheckNodePort !== undefined && !(type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local')) {
    sink.error(['spec', 'healthCheckNodePort'], 'may only be set for type LoadBalancer with externalTrafficPolicy Local');
  }
  if (spec.clusterIP === 'None' && (type === 'NodePort' || type === 'LoadBalancer')) {
    sink.error(['spec', 'clusterIP'], `a headless Service (clusterIP None) cannot be of type ${type}`);
  }
  if (spec.sessionAffinityConfig !== undefined && spec.sessionAffinity !== 'ClientIP') {
    sink.error(['spec', 'sessionAffinityConfig'], 'may only be set when sessionAffinity is ClientIP');
  }
  const ips = Array.isArray(spec.clusterIPs) ? (spec.clusterIPs as unknown[]) : [];
  if (typeof spec.clusterIP === 'string' && ips.length > 0 && ips[0] !== spec.clusterIP) {
    sink.error(['spec', 'clusterIPs', 0], `must equal spec.clusterIP (${spec.clusterIP})`);
  }
  if (ips.length > 2) sink.error(['spec', 'clusterIPs'], 'at most two cluster IPs (one per family)');
  if (ips.length === 2 && typeof ips[0] === 'string' && typeof ips[1] === 'string' && isIp(ips[0]) && isIp(ips[1]) && ips[0].includes(':') === ips[1].includes(':')) {
    sink.error(['spec', 'clusterIPs', 1], 'two cluster IPs must be of different families');
  }
  const fams = Array.isArray(spec.ipFamilies) ? (spec.ipFamilies as unknown[]) : [];
  if (fams.length === 2 && fams[0] === fams[1]) sink.error(['spec', 'ipFamilies', 1], 'duplicate IP family');
  if (fams.length > 2) sink.error(['spec', 'ipFamilies'], 'at most two IP families');
  ips.forEach((c, i) => {
    const f = fams[i];
    if (typeof c === 'string' && isIp(c) && (f === 'IPv4' || f === 'IPv6') && (c.includes(':') ? 'IPv6' : 'IPv4') !== f) {
      sink.error(['spec', 'clusterIPs', i], `${c} is not of family ${f} (spec.ipFamilies[${i}])`);
    }
  });
  if (type === 'ExternalName' && (spec.clusterIP !== undefined && spec.clusterIP !== '' && spec.clusterIP !== null)) {
    sink.error(['spec', 'clusterIP'], 'must not be set for type ExternalName');
  }
}

function validatePodSpec(spec: Record<string, unknown>, at: Path, sink: Sink): void {
  const containers = Array.isArray(spec.containers) ? (spec.containers as Array<Record<string, unknown>>) : [];
  const portNames = new Map<string, string>();
  const cNames = new Set<string>();
  containers.forEach((c, i) => {
    if (!c || typeof c !== 'object') return;
    if (typeof c.name === 'string') {
      if (cNames.has(c.name)) sink.error([...at, 'containers', i, 'name'], `duplicate container name "${c.name}"`);
      cNames.add(c.name);
    }
    const ports = Array.isArray(c.ports) ? (c.ports as Array<Record<string, unknown>>) : [];
    ports.forEach((p, j) => {
      if (p && typeof p.name === 'string') {
        const prev = portNames.get(p.name);
        if (prev) sink.error([...at, 'containers', i, 'ports', j, 'name'], `duplicate port name "${p.name}" (also ${prev})`);
        else portNames.set(p.name, `containers[${i}].ports[${j}]`);
      }
    });
  });
}

function validateWorkload(spec: Record<string, unknown>, sink: Sink): void {
  const sel = spec.selector as Record<string, unknown> | undefined;
  const tmpl = spec.template as Record<string, unknown> | undefined;
  if (tmpl && typeof tmpl === 'object' && tmpl.spec && typeof tmpl.spec === 'object') validatePodSpec(tmpl.spec as Record<string, unknown>, ['spec', 'template', 'spec'], sink);
  const ml = sel && typeof sel === 'object' ? (sel.matchLabels as Record<string, unknown> | undefined) : undefined;
  const labels = (tmpl?.metadata as Record<string, unknown> | undefined)?.labels as Record<string, unknown> | undefined;
  if (ml && typeof ml === 'object' && !(sel?.matchExpressions)) {
    if (Object.keys(ml).length === 0) sink.error(['spec', 'selector'], 'empty selector is invalid for a workload');
    for (const [k, v] of Object.entries(ml)) {
      if (!labels || labels[k] !== v) sink.error(['spec', 'template', 'metadata', 'labels'], `selector does not match template labels (needs ${k}=${String(v)})`);
    }
  }
}

function validateSlice(o: Record<string, unknown>, sink: Sink): void {
  const type = o.addressType;
  const eps = Array.isArray(o.endpoints) ? (o.endpoints as Array<Record<string, unknown>>) : [];
  // ValidateEndpointSlice: maxEndpoints 1000, maxAddresses 100 per endpoint (pkg/apis/discovery/validation).
  if (eps.length > 1000) sink.error(['endpoints'], `${eps.length} endpoints; an EndpointSlice holds at most 1000`);
  eps.forEach((e, i) => {
    const addrs = Array.isArray(e?.addresses) ? (e.addresses as unknown[]) : [];
    if (addrs.length === 0) sink.error(['endpoints', i, 'addresses'], 'an endpoint needs at least one address');
    addrs.forEach((a, j) => {
      if (typeof a !== 'string') return;
      if (type === 'IPv4' && !(isIp(a) && !a.includes(':'))) sink.error(['endpoints', i, 'addresses', j], `"${a}" is not an IPv4 address (addressType IPv4)`);
      if (type === 'IPv6' && !(isIp(a) && a.includes(':'))) sink.error(['endpoints', i, 'addresses', j], `"${a}" is not an IPv6 address (addressType IPv6)`);
    });
  });
  const ports = Array.isArray(o.ports) ? (o.ports as Array<Record<string, unknown>>) : [];
  ports.forEach((p, i) => {
    if (p && typeof p.name === 'string' && p.name !== '') {
      const msg = dnsLabelProblem(p.name);
      if (msg) sink.error(['ports', i, 'name'], msg);
    }
  });
}
