/**
 * The API server's defaulting for the fields podpath reads, so every consumer sees objects as
 * `kubectl get -o yaml` would show them after creation. Models SetDefaults_Service,
 * SetDefaults_ServicePort, SetDefaults_ContainerPort (pkg/apis/core/v1/defaults.go),
 * SetDefaults_EndpointPort (pkg/apis/discovery/v1/defaults.go) and SetDefaults_Deployment
 * (pkg/apis/apps/v1/defaults.go). Cluster-IP family defaulting needs the cluster's CIDRs and
 * lives in alloc.ts.
 */
import type { Container, EndpointSlice, KubeObject, PodSpec, Service } from '../objects.js';

/** Default ClientIP affinity timeout: 3 hours (v1.DefaultClientIPServiceAffinitySeconds). */
export const DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800;

export function applyDefaults(o: KubeObject): void {
  switch (o.kind) {
    case 'Service':
      return defaultService(o);
    case 'Pod':
      return defaultPodSpec(o.spec);
    case 'Deployment':
    case 'ReplicaSet':
      if (o.spec.replicas === undefined) o.spec.replicas = 1;
      return defaultPodSpec(o.spec.template.spec);
    case 'EndpointSlice':
      return defaultSlice(o);
    case 'Namespace':
    case 'Node':
      return;
  }
}

function defaultService(s: Service): void {
  const spec = s.spec;
  if (spec.type === undefined) spec.type = 'ClusterIP';
  if (spec.sessionAffinity === undefined) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'ClientIP') {
    spec.sessionAffinityConfig ??= {};
    spec.sessionAffinityConfig.clientIP ??= {};
    spec.sessionAffinityConfig.clientIP.timeoutSeconds ??= DEFAULT_CLIENT_IP_AFFINITY_SECONDS;
  }
  for (const p of spec.ports ?? []) {
    if (p.protocol === undefined) p.protocol = 'TCP';
    // SetDefaults_ServicePort: targetPort defaults to port.
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
    if (spec.externalTrafficPolicy === undefined) spec.externalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) spec.allocateLoadBalancerNodePorts = true;
  if (spec.type !== 'ExternalName' && spec.internalTrafficPolicy === undefined) spec.internalTrafficPolicy = 'Cluster';
  if (spec.clusterIP !== undefined && spec.clusterIP !== '' && (spec.clusterIPs === undefined || spec.clusterIPs.length === 0)) spec.clusterIPs = [spec.clusterIP];
  if (spec.clusterIP === '') delete spec.clusterIP;
  if (spec.clusterIPs && spec.clusterIPs.length === 0) delete spec.clusterIPs;
}

function defaultContainer(c: Container): void {
  for (const p of c.ports ?? []) if (p.protocol === undefined) p.protocol = 'TCP';
}

function defaultPodSpec(spec: PodSpec): void {
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const c of spec.initContainers ?? []) defaultContainer(c);
}

function defaultSlice(s: EndpointSlice): void {
  s.endpoints ??= [];
  for (const p of s.ports ?? []) {
    if (p.protocol === undefined) p.protocol = 'TCP';
    if (p.name === undefined) p.name = '';
  }
}

/** Drops `null` values (Go decodes them as absent; kubectl prints `creationTimestamp: null`). */
export function stripNulls<T>(v: T): T {
  if (Array.isArray(v)) return v.map(stripNulls) as T;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== null && x !== undefined) out[k] = stripNulls(x);
    return out as T;
  }
  return v;
}
