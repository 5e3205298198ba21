import { SERVICE_NAME_LABEL, type Endpoint, type EndpointPort, type EndpointSlice, type Service, type ServiceSpec } from '../../objects.js';
import type { NodeProxyConfig } from './types.js';

/**
 * Object builders for tests and benchmarks, shaped like upstream proxier_test.go's makeTestService /
 * makeTestEndpointSlice (facts only; podpath's own code).
 */
export function makeService(ns: string, name: string, spec: Partial<ServiceSpec>, status?: Service['status']): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name },
    spec: { type: 'ClusterIP', ...spec },
    ...(status ? { status } : {}),
  };
}

export function makeSlice(ns: string, svc: string, n: number, addressType: 'IPv4' | 'IPv6', endpoints: Endpoint[], ports: EndpointPort[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name: `${svc}-${n}`, labels: { [SERVICE_NAME_LABEL]: svc } },
    addressType,
    endpoints,
    ports,
  };
}

/** The node of upstream's NewFakeProxier: test-node, 192.168.0.2, ClusterCIDR 10.0.0.0/8 (fd00:10::/64), mark "0x4000", no --random-fully. */
export function upstreamFixtureNode(overrides: Partial<NodeProxyConfig> = {}): NodeProxyConfig {
  return {
    nodeName: 'test-node',
    nodeIPs: ['192.168.0.2', '2001:db8::1'],
    nodeAddresses: ['127.0.0.1', '::1', '192.168.0.2', '192.168.1.2', '192.168.99.11', '2001:db8::1', '2001:db8:1::2'],
    clusterCIDRs: ['10.0.0.0/8', 'fd00:10::/64'],
    localDetector: { mode: 'ClusterCIDR' },
    masqueradeMark: '0x4000',
    randomFully: false,
    localhostNodePorts: true,
    ...overrides,
  };
}

/** An `iptables-save` dump's chain names and `-A` lines per table, as the kernel printed them (for the kernel load tests). */
export function tablesOf(save: string): Map<string, { chains: Set<string>; rules: string[] }> {
  const out = new Map<string, { chains: Set<string>; rules: string[] }>();
  let cur: { chains: Set<string>; rules: string[] } | null = null;
  for (const l of save.split('\n')) {
    if (l.startsWith('*')) out.set(l.slice(1), (cur = { chains: new Set(), rules: [] }));
    else if (l.startsWith(':')) cur!.chains.add(l.slice(1).split(' ')[0]!);
    else if (l.startsWith('-A ')) cur!.rules.push(l);
  }
  return out;
}
