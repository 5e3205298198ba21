/**
 * Packet-flow cases for flows.test.ts, written from the facts of upstream kube-proxy's
 * pkg/proxy/iptables/proxier_test.go (v1.34): the same Services, EndpointSlices, node
 * configuration and expected outcomes of its `runPacketFlowTests` cases (podpath's own data,
 * not upstream code).
 *
 * Every address is written once, in upstream's IPv4 terms; `Addr` maps it to the family under
 * test (identity for IPv4, `toV6` for IPv6), so each case runs with iptables and ip6tables.
 */
import { formatIp, parseIp } from '../../../base/index.js';
import type { Endpoint, EndpointConditions, EndpointPort, EndpointSlice, Service, ServicePort, ServiceSpec } from '../../objects.js';
import { makeService, makeSlice } from './fixtures.js';
import type { IpFamilyNumber, NodeProxyConfig } from './types.js';

/** Maps an IPv4 literal (or CIDR) of upstream's fixture to the family under test. */
export type Addr = (ipOrCidr: string) => string;

/**
 * upstream's NewFakeProxier conventions (proxier_test.go): pod IPs 10.0.0.0/8, ClusterIPs
 * 172.30.0.0/16, node IPs 192.168.0.0/24 (this node 192.168.0.2; 192.168.1.2 and the external IP
 * 192.168.99.11 are also on eth0), LB IPs 1.2.3.4 / 5.6.7.8 / 9.10.11.12, non-cluster clients
 * 203.0.113.0/24 with the LB source range 203.0.113.0/25.
 */
export const TEST_NODE_IP = '192.168.0.2';
export const TEST_EXTERNAL_CLIENT = '203.0.113.2';
export const TEST_EXTERNAL_CLIENT_BLOCKED = '203.0.113.130';
/** A pod on some node (inside the cluster CIDR, not an endpoint of any case). */
export const POD = '10.0.0.2';
export const LOCALHOST = '127.0.0.1';

/**
 * podpath's IPv6 image of upstream's IPv4 plan (upstream's IPv6 fixture fixes only the node IPs
 * 2001:db8::1 / 2001:db8:1::2 and the cluster CIDR fd00:10::/64; the rest is chosen here so that
 * every containment of the IPv4 plan still holds: pods and endpoints inside fd00:10::/64, the
 * blocked client outside the source range, the node IPs inside "192.168.0.0/24"'s image).
 */
export function toV6(v: string): string {
  const slash = v.indexOf('/');
  if (slash >= 0) {
    const cidr = V6_CIDRS[v];
    if (!cidr) throw new Error(`no IPv6 image for CIDR ${v}`);
    return cidr;
  }
  const special = V6_IPS[v];
  if (special) return special;
  // canonical text (RFC 5952), as kube-proxy prints addresses
  return formatIp(parseIp(v6Image(v)));
}

function v6Image(v: string): string {
  const o = v.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 literal: ${v}`);
  const [a, b, c, d] = o as [number, number, number, number];
  if (a === 10) return `fd00:10::${b}:${c}:${d}`;
  if (a === 172 && b === 30) return `fd00:172:30::${c}:${d}`;
  if (a === 192 && b === 168 && c === 99) return `2001:db8:99::${d}`;
  if (a === 203 && b === 0 && c === 113) return d < 128 ? `2001:db8:203::${d}` : `2001:db8:203:0:8000::${d}`;
  // load-balancer IPs and other non-cluster addresses
  return `2001:db8:fb::${a}:${b}:${c}:${d}`;
}

const V6_IPS: Record<string, string> = {
  '127.0.0.1': '::1',
  '192.168.0.2': '2001:db8::1',
  '192.168.1.2': '2001:db8:1::2',
};

const V6_CIDRS: Record<string, string> = {
  '10.0.0.0/8': 'fd00:10::/64',
  '192.168.0.0/24': '2001:db8::/64',
  '203.0.113.0/25': '2001:db8:203::/65',
  '127.0.0.0/8': '::1/128',
};

export const addrFor = (family: IpFamilyNumber): Addr => (family === 4 ? (v) => v : toV6);

/** What a packet ends as, in upstream's packetFlowTest.output terms. */
export type FlowOutput =
  /** DNATed to exactly these endpoints ("ip:port", upstream's IPv4 literals). */
  | string[]
  | 'DROP'
  | 'REJECT'
  /** Accepted by a kube-proxy filter rule (health check node port). */
  | 'ACCEPT'
  /** No kube-proxy rule applies: the packet goes on unchanged. */
  | ''
  /**
   * The kernel's routing refuses it before any socket or forwarding (a martian: a loopback
   * destination arriving on a non-loopback device without route_localnet). Upstream's tracer,
   * which has no routing, reports these as "" (no kube-proxy rule).
   */
  | 'NO-ROUTE';

export interface Flow {
  name: string;
  src: string;
  dst: string;
  dport: number;
  proto?: 'tcp' | 'udp' | 'sctp';
  out: FlowOutput;
  /** Upstream's `masq` (only meaningful when the packet is DNATed or accepted). */
  masq?: boolean;
  /** Where IPv6 differs by kube-proxy's or the kernel's own rules, and why. */
  v6?: { out: FlowOutput; masq?: boolean; why: string } | { skip: string };
  /**
   * A known podpath defect makes this case fail in these families: the test keeps asserting the
   * kernel's behaviour and is marked `it.fails` with this explanation (file, function, what is wrong).
   */
  defect?: { families: IpFamilyNumber[]; what: string };
}

export interface Scenario {
  /** The upstream test the facts come from. */
  upstream: string;
  name: string;
  /** Only for these families (default both). */
  families?: IpFamilyNumber[];
  node?: (family: IpFamilyNumber) => Partial<NodeProxyConfig>;
  objects: (a: Addr) => { services: Service[]; slices: EndpointSlice[] };
  flows: Flow[];
}

// ───────────────────────────── known podpath defects ─────────────────────────────

// (none at present: the looped-back re-routing defect was fixed in src/netns/pipeline.ts receiveInto)

// ───────────────────────────── object builders ─────────────────────────────

const TCP = 'TCP' as const;

/** A Service of the family under test: ClusterIP, externalIPs, LB ingress and source ranges mapped. */
export function svc(a: Addr, ns: string, name: string, spec: Partial<ServiceSpec>, lbIngress?: Array<{ ip: string; ipMode?: 'VIP' | 'Proxy' }>): Service {
  const v6 = a('127.0.0.1') !== '127.0.0.1';
  const s: Partial<ServiceSpec> = { ...spec };
  if (s.clusterIP) {
    s.clusterIP = a(s.clusterIP);
    s.clusterIPs = [s.clusterIP];
    s.ipFamilies = [v6 ? 'IPv6' : 'IPv4'];
  }
  if (s.externalIPs) s.externalIPs = s.externalIPs.map(a);
  // upstream keeps the stray whitespace of " 203.0.113.0/25" to test that kube-proxy trims it
  if (s.loadBalancerSourceRanges) s.loadBalancerSourceRanges = s.loadBalancerSourceRanges.map((r) => r.replace(r.trim(), a(r.trim())));
  return makeService(ns, name, s, lbIngress ? { loadBalancer: { ingress: lbIngress.map((i) => ({ ...i, ip: a(i.ip) })) } } : undefined);
}

export function slice(a: Addr, ns: string, svcName: string, endpoints: Endpoint[], ports: EndpointPort[]): EndpointSlice {
  const v6 = a('127.0.0.1') !== '127.0.0.1';
  return makeSlice(ns, svcName, 1, v6 ? 'IPv6' : 'IPv4', endpoints.map((e) => ({ ...e, addresses: e.addresses.map(a) })), ports);
}

export const ep = (ip: string, nodeName?: string, conditions?: EndpointConditions): Endpoint => ({
  addresses: [ip],
  ...(nodeName !== undefined ? { nodeName } : {}),
  ...(conditions ? { conditions } : {}),
});
const READY: EndpointConditions = { ready: true, serving: true, terminating: false };
const SERVING_TERMINATING: EndpointConditions = { ready: false, serving: true, terminating: true };
const TERMINATING: EndpointConditions = { ready: false, serving: false, terminating: true };

const p80: ServicePort[] = [{ name: 'p80', port: 80, protocol: TCP }];
const p80ep: EndpointPort[] = [{ name: 'p80', port: 80, protocol: TCP }];
/** Unnamed port, as upstream's TestInternalTrafficPolicyE2E and TestTerminatingEndpoints* write it. */
const unnamed: EndpointPort[] = [{ name: '', port: 80, protocol: TCP }];
const NODE = 'test-node';

// ───────────────────────────── scenarios ─────────────────────────────

export const SCENARIOS: Scenario[] = [
  {
    upstream: 'TestNoEndpointsReject',
    name: 'LoadBalancer with externalIP and no endpoints',
    objects: (a) => ({
      services: [svc(a, 'ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', externalIPs: ['192.168.99.11'], ports: [{ name: 'p80', protocol: TCP, port: 80, nodePort: 3001 }] }, [{ ip: '1.2.3.4' }])],
      slices: [],
    }),
    flows: [
      { name: 'pod to cluster IP with no endpoints', src: POD, dst: '172.30.0.41', dport: 80, out: 'REJECT' },
      { name: 'external to external IP with no endpoints', src: TEST_EXTERNAL_CLIENT, dst: '192.168.99.11', dport: 80, out: 'REJECT' },
      { name: 'pod to NodePort with no endpoints', src: POD, dst: TEST_NODE_IP, dport: 3001, out: 'REJECT' },
      { name: 'external to NodePort with no endpoints', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: 'REJECT' },
      { name: 'pod to LoadBalancer IP with no endpoints', src: POD, dst: '1.2.3.4', dport: 80, out: 'REJECT' },
      { name: 'external to LoadBalancer IP with no endpoints', src: TEST_EXTERNAL_CLIENT, dst: '1.2.3.4', dport: 80, out: 'REJECT' },
      // podpath's own (kernel): the node's own connection meets the REJECT in filter OUTPUT → KUBE-SERVICES
      { name: 'node to cluster IP with no endpoints', src: TEST_NODE_IP, dst: '172.30.0.41', dport: 80, out: 'REJECT' },
      // podpath's own (kernel): looped back through lo, filter INPUT → KUBE-EXTERNAL-SERVICES (ctstate NEW) rejects
      // (IPv6 too: the REJECT matches `--dst-type LOCAL`, and ::1 is LOCAL, whatever the NodePort DNAT rules say)
      { name: 'localhost to NodePort with no endpoints', src: LOCALHOST, dst: LOCALHOST, dport: 3001, out: 'REJECT' },
    ],
  },
  {
    upstream: 'TestClusterIPGeneral',
    name: 'ClusterIP: endpoints, hairpin, targetPort, TCP and SCTP on one port',
    objects: (a) => ({
      services: [
        svc(a, 'ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'http', port: 80, protocol: TCP }] }),
        svc(a, 'ns2', 'svc2', {
          clusterIP: '172.30.0.42',
          ports: [
            { name: 'http', port: 80, protocol: TCP },
            { name: 'https', port: 443, protocol: TCP, targetPort: 8443 },
            { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
            { name: 'dns-tcp', port: 53, protocol: TCP, targetPort: 5353 },
          ],
        }),
      ],
      slices: [
        slice(a, 'ns1', 'svc1', [ep('10.180.0.1', NODE)], [{ name: 'http', port: 80, protocol: TCP }]),
        slice(a, 'ns2', 'svc2', [ep('10.180.0.1', NODE), ep('10.180.2.1', 'host2')], [
          { name: 'http', port: 80, protocol: TCP },
          { name: 'https', port: 8443, protocol: TCP },
          { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
          { name: 'dns-tcp', port: 5353, protocol: TCP },
        ]),
      ],
    }),
    flows: [
      { name: 'simple clusterIP', src: '10.180.0.2', dst: '172.30.0.41', dport: 80, out: ['10.180.0.1:80'], masq: false },
      { name: 'hairpin to cluster IP', src: '10.180.0.1', dst: '172.30.0.41', dport: 80, out: ['10.180.0.1:80'], masq: true },
      { name: 'clusterIP with multiple endpoints', src: '10.180.0.2', dst: '172.30.0.42', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false },
      { name: 'clusterIP with TargetPort', src: '10.180.0.2', dst: '172.30.0.42', dport: 443, out: ['10.180.0.1:8443', '10.180.2.1:8443'], masq: false },
      { name: 'clusterIP with TCP and SCTP on same port (TCP)', src: '10.180.0.2', dst: '172.30.0.42', dport: 53, proto: 'tcp', out: ['10.180.0.1:5353', '10.180.2.1:5353'], masq: false },
      { name: 'clusterIP with TCP and SCTP on same port (SCTP)', src: '10.180.0.2', dst: '172.30.0.42', dport: 53, proto: 'sctp', out: ['10.180.0.1:53', '10.180.2.1:53'], masq: false },
      { name: 'TCP-only port does not match UDP traffic', src: '10.180.0.2', dst: '172.30.0.42', dport: 80, proto: 'udp', out: '' },
      { name: "svc1 does not accept svc2's ports", src: '10.180.0.2', dst: '172.30.0.41', dport: 443, out: '' },
    ],
  },
  {
    upstream: 'TestLoadBalancer',
    name: 'LoadBalancer with two ingress IPs and loadBalancerSourceRanges',
    objects: (a) => ({
      services: [
        svc(
          a,
          'ns1',
          'svc1',
          { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }], loadBalancerSourceRanges: ['192.168.0.0/24', ' 203.0.113.0/25'] },
          [{ ip: '1.2.3.4' }, { ip: '5.6.7.8' }],
        ),
      ],
      slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1')], p80ep)],
    }),
    flows: [
      { name: 'pod to cluster IP', src: POD, dst: '172.30.0.41', dport: 80, out: ['10.180.0.1:80'], masq: false },
      { name: 'external to nodePort', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.1:80'], masq: true },
      { name: 'nodePort bypasses LoadBalancerSourceRanges', src: TEST_EXTERNAL_CLIENT_BLOCKED, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.1:80'], masq: true },
      { name: 'accepted external to LB1', src: TEST_EXTERNAL_CLIENT, dst: '1.2.3.4', dport: 80, out: ['10.180.0.1:80'], masq: true },
      { name: 'accepted external to LB2', src: TEST_EXTERNAL_CLIENT, dst: '5.6.7.8', dport: 80, out: ['10.180.0.1:80'], masq: true },
      { name: 'blocked external to LB1', src: TEST_EXTERNAL_CLIENT_BLOCKED, dst: '1.2.3.4', dport: 80, out: 'DROP' },
      { name: 'blocked external to LB2', src: TEST_EXTERNAL_CLIENT_BLOCKED, dst: '5.6.7.8', dport: 80, out: 'DROP' },
      { name: 'pod to LB1 (blocked by LoadBalancerSourceRanges)', src: POD, dst: '1.2.3.4', dport: 80, out: 'DROP' },
      { name: 'pod to LB2 (blocked by LoadBalancerSourceRanges)', src: POD, dst: '5.6.7.8', dport: 80, out: 'DROP' },
      { name: 'node to LB1 (allowed by LoadBalancerSourceRanges)', src: TEST_NODE_IP, dst: '1.2.3.4', dport: 80, out: ['10.180.0.1:80'], masq: true },
      { name: 'node to LB2 (allowed by LoadBalancerSourceRanges)', src: TEST_NODE_IP, dst: '5.6.7.8', dport: 80, out: ['10.180.0.1:80'], masq: true },
      // kube-proxy assumes a node's connection to its LB IP is SNATed to the LB IP by something else,
      // so with the node IP in the ranges it also allows the LB IPs as sources
      { name: 'same node to LB1, SNATted to LB1 (implicitly allowed)', src: '1.2.3.4', dst: '1.2.3.4', dport: 80, out: ['10.180.0.1:80'], masq: true },
      { name: 'same node to LB2, SNATted to LB2 (implicitly allowed)', src: '5.6.7.8', dst: '5.6.7.8', dport: 80, out: ['10.180.0.1:80'], masq: true },
    ],
  },
  {
    upstream: 'TestNodePort',
    name: 'NodePort from pod, external host, node and localhost',
    objects: (a) => ({
      services: [svc(a, 'ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] })],
      slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1')], p80ep)],
    }),
    flows: [
      { name: 'pod to cluster IP', src: POD, dst: '172.30.0.41', dport: 80, out: ['10.180.0.1:80'], masq: false },
      { name: 'external to nodePort', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.1:80'], masq: true },
      { name: 'node to nodePort', src: TEST_NODE_IP, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.1:80'], masq: true },
      // upstream's fake network also puts 192.168.1.2 on eth0: a NodePort answers on every local address
      { name: 'external to nodePort on the second node IP', src: TEST_EXTERNAL_CLIENT, dst: '192.168.1.2', dport: 3001, out: ['10.180.0.1:80'], masq: true },
      {
        name: 'localhost to nodePort gets masqueraded',
        src: LOCALHOST,
        dst: LOCALHOST,
        dport: 3001,
        out: ['10.180.0.1:80'],
        masq: true,
        v6: { out: '', why: 'kube-proxy writes `! -d ::1/128` before KUBE-NODEPORTS: IPv6 has no localhost NodePorts (no route_localnet for IPv6)' },
      },
    ],
  },
  {
    upstream: 'TestHealthCheckNodePort',
    name: 'health check node port accepted by filter KUBE-NODEPORTS',
    // upstream sets --nodeport-addresses 127.0.0.0/8 here; IPv6 has no loopback NodePorts, so IPv6 keeps the default
    node: (f) => (f === 4 ? { nodePortAddresses: ['127.0.0.0/8'] } : {}),
    objects: (a) => ({
      services: [
        svc(a, 'ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.42', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }], healthCheckNodePort: 30000, externalTrafficPolicy: 'Local' }),
      ],
      slices: [],
    }),
    flows: [{ name: 'firewall accepts HealthCheckNodePort', src: '1.2.3.4', dst: TEST_NODE_IP, dport: 30000, out: 'ACCEPT', masq: false }],
  },
  {
    upstream: 'TestHealthCheckNodePort',
    name: 'health check node port after the Service is deleted',
    node: (f) => (f === 4 ? { nodePortAddresses: ['127.0.0.0/8'] } : {}),
    objects: () => ({ services: [], slices: [] }),
    flows: [{ name: 'HealthCheckNodePort no longer has any rule', src: '1.2.3.4', dst: TEST_NODE_IP, dport: 30000, out: '' }],
  },
  {
    upstream: 'TestExternalTrafficPolicyLocal',
    name: 'externalTrafficPolicy Local with one local endpoint',
    objects: (a) => ({
      services: [
        svc(
          a,
          'ns1',
          'svc1',
          { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }], healthCheckNodePort: 30000, externalIPs: ['192.168.99.11'], externalTrafficPolicy: 'Local' },
          [{ ip: '1.2.3.4' }],
        ),
      ],
      slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1'), ep('10.180.2.1', NODE)], p80ep)],
    }),
    flows: [
      { name: 'pod to cluster IP hits both endpoints', src: POD, dst: '172.30.0.41', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false },
      { name: 'external to external IP hits only local endpoint, unmasqueraded', src: TEST_EXTERNAL_CLIENT, dst: '192.168.99.11', dport: 80, out: ['10.180.2.1:80'], masq: false },
      { name: 'external to LB IP hits only local endpoint, unmasqueraded', src: TEST_EXTERNAL_CLIENT, dst: '1.2.3.4', dport: 80, out: ['10.180.2.1:80'], masq: false },
      { name: 'external to NodePort hits only local endpoint, unmasqueraded', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.2.1:80'], masq: false },
      // (v1.34's version of the test adds the pod cases: the EXT chain short-circuits pods to all endpoints)
      { name: 'pod to external IP hits both endpoints, unmasqueraded', src: POD, dst: '192.168.99.11', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false },
      { name: 'pod to LB IP hits both endpoints, unmasqueraded', src: POD, dst: '1.2.3.4', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false },
      { name: 'pod to NodePort hits both endpoints, unmasqueraded', src: POD, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false },
      // podpath's own: the node is short-circuited too (`--src-type LOCAL`), but masqueraded
      { name: 'node to LB IP is short-circuited to all endpoints, masqueraded', src: TEST_NODE_IP, dst: '1.2.3.4', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: true },
    ],
  },
  {
    upstream: 'TestExternalTrafficPolicyCluster',
    name: 'externalTrafficPolicy Cluster: every external path masquerades',
    objects: (a) => ({
      services: [
        svc(a, 'ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', externalIPs: ['192.168.99.11'], ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001, targetPort: 80 }], externalTrafficPolicy: 'Cluster' }, [
          { ip: '1.2.3.4' },
        ]),
      ],
      slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1'), ep('10.180.2.1', NODE)], p80ep)],
    }),
    flows: [
      { name: 'pod to cluster IP hits both endpoints, unmasqueraded', src: POD, dst: '172.30.0.41', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false },
      { name: 'pod to external IP hits both endpoints, masqueraded', src: POD, dst: '192.168.99.11', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: true },
      { name: 'external to external IP hits both endpoints, masqueraded', src: TEST_EXTERNAL_CLIENT, dst: '192.168.99.11', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: true },
      { name: 'pod to LB IP hits both endpoints, masqueraded', src: POD, dst: '1.2.3.4', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: true },
      { name: 'external to LB IP hits both endpoints, masqueraded', src: TEST_EXTERNAL_CLIENT, dst: '1.2.3.4', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: true },
      { name: 'pod to NodePort hits both endpoints, masqueraded', src: POD, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: true },
      { name: 'external to NodePort hits both endpoints, masqueraded', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: true },
    ],
  },
  ...nodePorts(),
  {
    upstream: 'TestNonLocalExternalIPs',
    name: 'externalIP with externalTrafficPolicy Cluster',
    objects: (a) => ({
      services: [svc(a, 'ns1', 'svc1', { clusterIP: '172.30.0.41', externalIPs: ['192.168.99.11'], ports: [{ name: 'p80', port: 80, protocol: TCP, targetPort: 80 }] })],
      slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1'), ep('10.180.2.1', NODE)], p80ep)],
    }),
    flows: [
      { name: 'pod to cluster IP', src: POD, dst: '172.30.0.41', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false },
      { name: 'external to external IP', src: TEST_EXTERNAL_CLIENT, dst: '192.168.99.11', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: true },
    ],
  },
  ...onlyLocalNodePorts(true),
  ...onlyLocalNodePorts(false),
  ...internalTrafficPolicy(),
  ...terminatingEndpoints('Local'),
  ...terminatingEndpoints('Cluster'),
  {
    upstream: 'TestOverallIPTablesRulesWithMultipleServices',
    name: 'eTP Local without local endpoints; externalIP of an eTP Cluster NodePort Service',
    objects: (a) => ({
      services: [
        svc(
          a,
          'ns2',
          'svc2',
          { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.42', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }], externalIPs: ['192.168.99.22'], healthCheckNodePort: 30000 },
          [{ ip: '1.2.3.4' }],
        ),
        svc(a, 'ns4', 'svc4', { type: 'NodePort', clusterIP: '172.30.0.44', externalIPs: ['192.168.99.33'], ports: [{ name: 'p80', port: 80, protocol: TCP, targetPort: 80 }] }),
      ],
      slices: [slice(a, 'ns2', 'svc2', [ep('10.180.0.2')], p80ep), slice(a, 'ns4', 'svc4', [ep('10.180.0.4'), ep('10.180.0.5', NODE)], p80ep)],
    }),
    flows: [
      // the endpoint has no nodeName, so it is not local: external traffic is dropped by KUBE-EXTERNAL-SERVICES
      { name: 'external to eTP Local external IP, no local endpoints', src: TEST_EXTERNAL_CLIENT, dst: '192.168.99.22', dport: 80, out: 'DROP' },
      { name: 'external to eTP Local LB IP, no local endpoints', src: TEST_EXTERNAL_CLIENT, dst: '1.2.3.4', dport: 80, out: 'DROP' },
      { name: 'external to eTP Local NodePort, no local endpoints', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: 'DROP' },
      { name: 'pod to eTP Local LB IP, short-circuited to the remote endpoint', src: POD, dst: '1.2.3.4', dport: 80, out: ['10.180.0.2:80'], masq: false },
      { name: 'node to eTP Local NodePort, short-circuited to the remote endpoint', src: TEST_NODE_IP, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.2:80'], masq: true },
      { name: 'pod to cluster IP of the eTP Local Service', src: POD, dst: '172.30.0.42', dport: 80, out: ['10.180.0.2:80'], masq: false },
      { name: 'external to external IP of an eTP Cluster Service', src: TEST_EXTERNAL_CLIENT, dst: '192.168.99.33', dport: 80, out: ['10.180.0.4:80', '10.180.0.5:80'], masq: true },
      { name: 'pod to external IP of an eTP Cluster Service (masqueraded: external destination)', src: POD, dst: '192.168.99.33', dport: 80, out: ['10.180.0.4:80', '10.180.0.5:80'], masq: true },
    ],
  },
  {
    upstream: 'TestLoadBalancerIngressRouteTypeProxy',
    name: 'LB ingress with ipMode Proxy gets no rules; VIP ingress does',
    objects: (a) => ({
      services: [
        svc(a, 'ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] }, [
          { ip: '1.2.3.4', ipMode: 'Proxy' },
          { ip: '5.6.7.8', ipMode: 'VIP' },
        ]),
      ],
      slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1')], p80ep)],
    }),
    flows: [
      { name: 'external to Proxy-mode LB IP is not captured', src: TEST_EXTERNAL_CLIENT, dst: '1.2.3.4', dport: 80, out: '' },
      { name: 'pod to Proxy-mode LB IP is not captured', src: POD, dst: '1.2.3.4', dport: 80, out: '' },
      { name: 'external to VIP-mode LB IP', src: TEST_EXTERNAL_CLIENT, dst: '5.6.7.8', dport: 80, out: ['10.180.0.1:80'], masq: true },
    ],
  },
];

/**
 * TestNodePorts (v1.34): a NodePort Service under combinations of --iptables-localhost-nodeports
 * and --nodeport-addresses, per family.
 */
function nodePorts(): Scenario[] {
  const cases: Array<{ name: string; family: IpFamilyNumber; localhostNodePorts: boolean; nodePortAddresses?: string[]; allowAltNodeIP: boolean }> = [
    { name: 'ipv4, localhost-nodeports enabled', family: 4, localhostNodePorts: true, allowAltNodeIP: true },
    { name: 'ipv4, localhost-nodeports disabled', family: 4, localhostNodePorts: false, allowAltNodeIP: true },
    { name: 'ipv4, localhost-nodeports disabled, localhost in nodeport-addresses', family: 4, localhostNodePorts: false, nodePortAddresses: ['192.168.0.0/24', '127.0.0.1/32'], allowAltNodeIP: false },
    { name: 'ipv4, multiple nodeport-addresses', family: 4, localhostNodePorts: false, nodePortAddresses: ['192.168.0.0/24', '192.168.1.0/24', '2001:db8::/64'], allowAltNodeIP: true },
    { name: 'ipv6, localhost-nodeports enabled', family: 6, localhostNodePorts: true, allowAltNodeIP: true },
    { name: 'ipv6, localhost-nodeports disabled', family: 6, localhostNodePorts: false, allowAltNodeIP: true },
    { name: 'ipv6, localhost-nodeports disabled, multiple nodeport-addresses', family: 6, localhostNodePorts: false, nodePortAddresses: ['192.168.0.0/24', '192.168.1.0/24', '2001:db8::/64'], allowAltNodeIP: false },
  ];
  const both = ['10.180.0.1:80', '10.180.2.1:80'];
  return cases.map((c) => {
    const localhostWorks = c.family === 4 && c.localhostNodePorts;
    return {
      upstream: 'TestNodePorts',
      name: c.name,
      families: [c.family],
      node: () => ({ localhostNodePorts: c.localhostNodePorts, ...(c.nodePortAddresses ? { nodePortAddresses: c.nodePortAddresses } : {}) }),
      objects: (a: Addr) => ({
        services: [svc(a, 'ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] })],
        slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1'), ep('10.180.2.1', NODE)], p80ep)],
      }),
      flows: [
        { name: 'pod to cluster IP', src: POD, dst: '172.30.0.41', dport: 80, out: both, masq: false },
        { name: 'external to nodePort', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: both, masq: true },
        { name: 'node to nodePort', src: TEST_NODE_IP, dst: TEST_NODE_IP, dport: 3001, out: both, masq: true },
        localhostWorks
          ? { name: 'localhost to nodePort gets masqueraded', src: LOCALHOST, dst: LOCALHOST, dport: 3001, out: both, masq: true }
          : // not DNATed: the connection goes to a local socket on 127.0.0.1 (kernel: through filter INPUT on lo)
            { name: 'localhost to nodePort is ignored', src: LOCALHOST, dst: LOCALHOST, dport: 3001, out: '' as const },
        c.allowAltNodeIP
          ? { name: 'external to nodePort on secondary IP', src: TEST_EXTERNAL_CLIENT, dst: '192.168.1.2', dport: 3001, out: both, masq: true }
          : { name: 'secondary nodeIP ignores NodePorts', src: TEST_EXTERNAL_CLIENT, dst: '192.168.1.2', dport: 3001, out: '' as const },
      ],
    };
  });
}

/**
 * TestOnlyLocalNodePorts / TestOnlyLocalNodePortsNoClusterCIDR: eTP Local NodePort,
 * --nodeport-addresses 192.168.0.0/24,2001:db8::/64, localhost NodePorts off.
 */
function onlyLocalNodePorts(detector: boolean): Scenario[] {
  return [
    {
      upstream: detector ? 'TestOnlyLocalNodePorts' : 'TestOnlyLocalNodePortsNoClusterCIDR',
      name: `eTP Local NodePort on --nodeport-addresses only${detector ? '' : ', no local traffic detector'}`,
      node: () => ({ nodePortAddresses: ['192.168.0.0/24', '2001:db8::/64'], localhostNodePorts: false, ...(detector ? {} : { localDetector: { mode: 'None' as const } }) }),
      objects: (a) => ({
        services: [svc(a, 'ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }], externalTrafficPolicy: 'Local' })],
        slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1'), ep('10.180.2.1', NODE)], p80ep)],
      }),
      flows: [
        { name: 'pod to cluster IP hit both endpoints', src: POD, dst: '172.30.0.41', dport: 80, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false },
        { name: 'external to NodePort hits only local endpoint', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.2.1:80'], masq: false },
        // upstream: "pod to localhost doesn't work because localhost is not in nodePortAddresses" (output "");
        // the kernel goes further: without route_localnet (kube-proxy sets it only for localhost NodePorts)
        // ip_route_input_slow drops 127.0.0.1 arriving on cni0 as a martian destination, and for IPv6
        // ip6_rcv_core drops ::1 arriving on a non-loopback device before PREROUTING
        { name: "pod to localhost doesn't work because localhost is not in nodePortAddresses", src: POD, dst: LOCALHOST, dport: 3001, out: 'NO-ROUTE' }, // martian: ip_route_input_slow (v4, route_localnet off) / ip6_rcv_core (v6)
        // podpath's own: 192.168.1.2 is on the node but outside --nodeport-addresses
        { name: 'external to the node IP outside nodePortAddresses is not captured', src: TEST_EXTERNAL_CLIENT, dst: '192.168.1.2', dport: 3001, out: '' },
        detector
          ? { name: 'pod to NodePort hits both endpoints', src: POD, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.0.1:80', '10.180.2.1:80'], masq: false }
          : // upstream: "pod-to-NodePort is (incorrectly) treated as external traffic when there is no LocalTrafficDetector"
            { name: 'pod to NodePort hits only local endpoint', src: POD, dst: TEST_NODE_IP, dport: 3001, out: ['10.180.2.1:80'], masq: false },
      ],
    },
  ];
}

/** TestInternalTrafficPolicyE2E: three endpoints, iTP Cluster / Local with / without a local one; then no endpoints. */
function internalTrafficPolicy(): Scenario[] {
  const service = (a: Addr, itp: 'Cluster' | 'Local') => svc(a, 'ns1', 'svc1', { clusterIP: '172.30.1.1', selector: { foo: 'bar' }, ports: [{ name: '', port: 80, protocol: TCP }], internalTrafficPolicy: itp });
  const eps = (local: boolean) => [ep('10.0.1.1', local ? NODE : 'host0', { ready: true }), ep('10.0.1.2', 'host1', { ready: true }), ep('10.0.1.3', 'host2', { ready: true })];
  const cases: Array<[string, 'Cluster' | 'Local', boolean, FlowOutput]> = [
    ['internalTrafficPolicy is cluster', 'Cluster', true, ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.3:80']],
    ['internalTrafficPolicy is local and there are local endpoints', 'Local', true, ['10.0.1.1:80']],
    ['internalTrafficPolicy is local and there are no local endpoints', 'Local', false, 'DROP'],
  ];
  const out: Scenario[] = cases.map(([name, itp, local, output]) => ({
    upstream: 'TestInternalTrafficPolicyE2E',
    name,
    objects: (a) => ({ services: [service(a, itp)], slices: [slice(a, 'ns1', 'svc1', eps(local), unnamed)] }),
    flows: [{ name: 'pod to ClusterIP', src: POD, dst: '172.30.1.1', dport: 80, out: output, masq: false }],
  }));
  for (const itp of ['Cluster', 'Local'] as const) {
    out.push({
      upstream: 'TestInternalTrafficPolicyE2E',
      name: `internalTrafficPolicy ${itp}, endpoints deleted`,
      objects: (a) => ({ services: [service(a, itp)], slices: [] }),
      flows: [{ name: 'endpoints deleted', src: POD, dst: '172.30.1.1', dport: 80, out: 'REJECT' }],
    });
  }
  return out;
}

/**
 * TestTerminatingEndpointsTrafficPolicyLocal / …Cluster: an LB Service with ClientIP affinity and
 * serving-terminating fallback, evaluated separately for cluster and local endpoints.
 */
function terminatingEndpoints(etp: 'Local' | 'Cluster'): Scenario[] {
  const service = (a: Addr) =>
    svc(
      a,
      'ns1',
      'svc1',
      {
        clusterIP: '172.30.1.1',
        type: 'LoadBalancer',
        externalTrafficPolicy: etp,
        selector: { foo: 'bar' },
        ports: [{ name: '', targetPort: 80, port: 80, protocol: TCP }],
        healthCheckNodePort: 30000,
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      },
      [{ ip: '1.2.3.4' }],
    );
  const remote = etp === 'Local' ? 'host-1' : 'another-host';
  const local = etp === 'Local';
  const cases: Array<{ name: string; eps: Endpoint[]; pod: FlowOutput; ext: FlowOutput; extMasq: boolean }> = [
    {
      name: 'ready endpoints exist',
      eps: [
        ep('10.0.1.1', NODE, READY),
        ep('10.0.1.2', NODE, READY),
        ep('10.0.1.3', local ? NODE : remote, SERVING_TERMINATING),
        ep('10.0.1.4', local ? NODE : remote, TERMINATING),
        ep('10.0.1.5', local ? 'host-1' : remote, READY),
      ],
      pod: ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.5:80'],
      ext: local ? ['10.0.1.1:80', '10.0.1.2:80'] : ['10.0.1.1:80', '10.0.1.2:80', '10.0.1.5:80'],
      extMasq: !local,
    },
    {
      name: 'only terminating endpoints exist',
      eps: [ep('10.0.1.2', NODE, SERVING_TERMINATING), ep('10.0.1.3', NODE, SERVING_TERMINATING), ep('10.0.1.4', local ? NODE : remote, TERMINATING), ep('10.0.1.5', local ? 'host-1' : remote, local ? READY : SERVING_TERMINATING)],
      pod: local ? ['10.0.1.5:80'] : ['10.0.1.2:80', '10.0.1.3:80', '10.0.1.5:80'],
      ext: local ? ['10.0.1.2:80', '10.0.1.3:80'] : ['10.0.1.2:80', '10.0.1.3:80', '10.0.1.5:80'],
      extMasq: !local,
    },
    {
      name: 'terminating endpoints on remote node',
      eps: [ep('10.0.1.5', 'host-1', SERVING_TERMINATING)],
      pod: ['10.0.1.5:80'],
      ext: local ? 'DROP' : ['10.0.1.5:80'],
      extMasq: !local,
    },
    {
      name: 'no usable endpoints on any node',
      eps: [ep('10.0.1.5', NODE, TERMINATING), ep('10.0.1.5', 'host-1', TERMINATING)],
      pod: 'REJECT',
      ext: 'REJECT',
      extMasq: false,
    },
    { name: 'endpoints deleted', eps: [], pod: 'REJECT', ext: 'REJECT', extMasq: false },
  ];
  return cases.map((c) => ({
    upstream: `TestTerminatingEndpointsTrafficPolicy${etp}`,
    name: `eTP ${etp}: ${c.name}`,
    objects: (a) => ({ services: [service(a)], slices: c.eps.length ? [slice(a, 'ns1', 'svc1', c.eps, unnamed)] : [] }),
    flows: [
      { name: 'pod to clusterIP', src: POD, dst: '172.30.1.1', dport: 80, out: c.pod, masq: false },
      { name: 'external to LB', src: TEST_EXTERNAL_CLIENT, dst: '1.2.3.4', dport: 80, out: c.ext, masq: c.extMasq },
    ],
  }));
}

// ───────────────────────────── TestInternalExternalMasquerade ─────────────────────────────

/** Three LB Services: svc1 plain, svc2 eTP Local, svc3 iTP Local; one local and one remote endpoint each. */
export function internalExternalObjects(a: Addr): { services: Service[]; slices: EndpointSlice[] } {
  const lb = (ns: string, name: string, ip: string, nodePort: number, hc: number, more: Partial<ServiceSpec>, lbIp: string) =>
    svc(a, ns, name, { type: 'LoadBalancer', clusterIP: ip, ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort }], healthCheckNodePort: hc, ...more }, [{ ip: lbIp }]);
  return {
    services: [
      lb('ns1', 'svc1', '172.30.0.41', 3001, 30001, {}, '1.2.3.4'),
      lb('ns2', 'svc2', '172.30.0.42', 3002, 30002, { externalTrafficPolicy: 'Local' }, '5.6.7.8'),
      lb('ns3', 'svc3', '172.30.0.43', 3003, 30003, { internalTrafficPolicy: 'Local' }, '9.10.11.12'),
    ],
    slices: [1, 2, 3].map((i) => slice(a, `ns${i}`, `svc${i}`, [ep(`10.180.0.${i}`, NODE), ep(`10.180.1.${i}`, 'remote')], p80ep)),
  };
}

const both = (i: number): string[] => [`10.180.0.${i}:80`, `10.180.1.${i}:80`];

/** The flows of the "base" configuration (working local detector, no masqueradeAll), upstream's values. */
export const INTERNAL_EXTERNAL_FLOWS: Flow[] = [
  { name: 'pod to ClusterIP', src: POD, dst: '172.30.0.41', dport: 80, out: both(1), masq: false },
  { name: 'pod to NodePort', src: POD, dst: TEST_NODE_IP, dport: 3001, out: both(1), masq: true },
  { name: 'pod to LB', src: POD, dst: '1.2.3.4', dport: 80, out: both(1), masq: true },
  { name: 'node to ClusterIP', src: TEST_NODE_IP, dst: '172.30.0.41', dport: 80, out: both(1), masq: true },
  { name: 'node to NodePort', src: TEST_NODE_IP, dst: TEST_NODE_IP, dport: 3001, out: both(1), masq: true },
  { name: 'localhost to NodePort', src: LOCALHOST, dst: LOCALHOST, dport: 3001, out: both(1), masq: true, v6: { skip: 'no localhost NodePorts in IPv6 (covered in TestNodePort)' } },
  { name: 'node to LB', src: TEST_NODE_IP, dst: '1.2.3.4', dport: 80, out: both(1), masq: true },
  { name: 'external to ClusterIP', src: TEST_EXTERNAL_CLIENT, dst: '172.30.0.41', dport: 80, out: both(1), masq: true },
  { name: 'external to NodePort', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3001, out: both(1), masq: true },
  { name: 'external to LB', src: TEST_EXTERNAL_CLIENT, dst: '1.2.3.4', dport: 80, out: both(1), masq: true },
  { name: 'pod to ClusterIP with eTP:Local', src: POD, dst: '172.30.0.42', dport: 80, out: both(2), masq: false },
  { name: 'pod to NodePort with eTP:Local', src: POD, dst: TEST_NODE_IP, dport: 3002, out: both(2), masq: false },
  { name: 'pod to LB with eTP:Local', src: POD, dst: '5.6.7.8', dport: 80, out: both(2), masq: false },
  { name: 'node to ClusterIP with eTP:Local', src: TEST_NODE_IP, dst: '172.30.0.42', dport: 80, out: both(2), masq: true },
  // upstream's case of this name sends to 3001 (svc1's NodePort); podpath sends to svc2's own
  // NodePort, which is what the name describes: short-circuited by `--src-type LOCAL`, masqueraded
  { name: 'node to NodePort with eTP:Local', src: TEST_NODE_IP, dst: TEST_NODE_IP, dport: 3002, out: both(2), masq: true },
  { name: 'localhost to NodePort with eTP:Local', src: LOCALHOST, dst: LOCALHOST, dport: 3002, out: both(2), masq: true, v6: { skip: 'no localhost NodePorts in IPv6' } },
  { name: 'node to LB with eTP:Local', src: TEST_NODE_IP, dst: '5.6.7.8', dport: 80, out: both(2), masq: true },
  { name: 'external to ClusterIP with eTP:Local', src: TEST_EXTERNAL_CLIENT, dst: '172.30.0.42', dport: 80, out: both(2), masq: true },
  { name: 'external to NodePort with eTP:Local', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3002, out: ['10.180.0.2:80'], masq: false },
  { name: 'external to LB with eTP:Local', src: TEST_EXTERNAL_CLIENT, dst: '5.6.7.8', dport: 80, out: ['10.180.0.2:80'], masq: false },
  { name: 'pod to ClusterIP with iTP:Local', src: POD, dst: '172.30.0.43', dport: 80, out: ['10.180.0.3:80'], masq: false },
  { name: 'pod to NodePort with iTP:Local', src: POD, dst: TEST_NODE_IP, dport: 3003, out: both(3), masq: true },
  { name: 'pod to LB with iTP:Local', src: POD, dst: '9.10.11.12', dport: 80, out: both(3), masq: true },
  { name: 'node to ClusterIP with iTP:Local', src: TEST_NODE_IP, dst: '172.30.0.43', dport: 80, out: ['10.180.0.3:80'], masq: true },
  { name: 'node to NodePort with iTP:Local', src: TEST_NODE_IP, dst: TEST_NODE_IP, dport: 3003, out: both(3), masq: true },
  { name: 'localhost to NodePort with iTP:Local', src: LOCALHOST, dst: LOCALHOST, dport: 3003, out: both(3), masq: true, v6: { skip: 'no localhost NodePorts in IPv6' } },
  { name: 'node to LB with iTP:Local', src: TEST_NODE_IP, dst: '9.10.11.12', dport: 80, out: both(3), masq: true },
  { name: 'external to ClusterIP with iTP:Local', src: TEST_EXTERNAL_CLIENT, dst: '172.30.0.43', dport: 80, out: ['10.180.0.3:80'], masq: true },
  { name: 'external to NodePort with iTP:Local', src: TEST_EXTERNAL_CLIENT, dst: TEST_NODE_IP, dport: 3003, out: both(3), masq: true },
  { name: 'external to LB with iTP:Local', src: TEST_EXTERNAL_CLIENT, dst: '9.10.11.12', dport: 80, out: both(3), masq: true },
];

/** upstream's four configurations and their overrides of the base flows. */
export const INTERNAL_EXTERNAL_CONFIGS: Array<{ name: string; masqueradeAll: boolean; localDetector: boolean; overrides: Record<string, { out?: FlowOutput; masq?: boolean }> }> = [
  { name: 'base', masqueradeAll: false, localDetector: true, overrides: {} },
  {
    name: 'no LocalTrafficDetector',
    masqueradeAll: false,
    localDetector: false,
    overrides: {
      // with no detector all ClusterIP traffic is assumed to come from pods: no masquerade
      'node to ClusterIP': { masq: false },
      'node to ClusterIP with eTP:Local': { masq: false },
      'node to ClusterIP with iTP:Local': { masq: false },
      'external to ClusterIP': { masq: false },
      'external to ClusterIP with eTP:Local': { masq: false },
      'external to ClusterIP with iTP:Local': { masq: false },
      // and no eTP:Local short-circuit for pods: they get only the local endpoint
      'pod to NodePort with eTP:Local': { out: ['10.180.0.2:80'] },
      'pod to LB with eTP:Local': { out: ['10.180.0.2:80'] },
    },
  },
  {
    name: 'masqueradeAll',
    masqueradeAll: true,
    localDetector: true,
    overrides: {
      'pod to ClusterIP': { masq: true },
      'pod to ClusterIP with eTP:Local': { masq: true },
      'pod to ClusterIP with iTP:Local': { masq: true },
    },
  },
  {
    name: 'masqueradeAll, no LocalTrafficDetector',
    masqueradeAll: true,
    localDetector: false,
    overrides: {
      'pod to ClusterIP': { masq: true },
      'pod to ClusterIP with eTP:Local': { masq: true },
      'pod to ClusterIP with iTP:Local': { masq: true },
      'pod to NodePort with eTP:Local': { out: ['10.180.0.2:80'] },
      'pod to LB with eTP:Local': { out: ['10.180.0.2:80'] },
    },
  },
];
