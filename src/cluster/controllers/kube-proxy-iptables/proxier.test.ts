import { describe, expect, it } from 'vitest';
import { InputError } from '../../../base/index.js';
import type { Endpoint, EndpointPort, Service } from '../../objects.js';
import { makeService, makeSlice, upstreamFixtureNode } from './fixtures.js';
import { KubeProxyIptables, generateIptablesRules } from './proxier.js';
import type { NodeProxyConfig } from './types.js';

const TCP = 'TCP' as const;
const p80: EndpointPort[] = [{ name: 'p80', port: 80, protocol: TCP }];
const ep = (ip: string, more: Partial<Endpoint> = {}): Endpoint => ({ addresses: [ip], ...more });

function gen(services: Service[], slices: ReturnType<typeof makeSlice>[], node: Partial<NodeProxyConfig> = {}, family: 4 | 6 = 4) {
  return generateIptablesRules({ services, endpointSlices: slices, node: upstreamFixtureNode(node), family });
}
const lines = (payload: string) => payload.split('\n').filter((l) => l !== '');
const natRules = (payload: string) => lines(payload.slice(payload.indexOf('*nat'))).filter((l) => l.startsWith('-A ') || l.startsWith('-X '));
const filterRules = (payload: string) => lines(payload.slice(0, payload.indexOf('*nat'))).filter((l) => l.startsWith('-A '));

/**
 * podpath's own implementation of the facts of upstream's sortIPTablesRules test helper: tables by
 * name; chains KUBE-NODEPORTS, KUBE-SERVICES, then other KUBE-* alphabetically; rules grouped by
 * chain; KUBE-NODEPORTS and KUBE-SERVICES rules stable-sorted by the service name of their comment
 * (the "must be the last rule" rule last). Upstream uses it because it writes services in Go map order.
 */
function upstreamSort(payload: string): string {
  const tables: Array<{ name: string; chains: string[]; rules: Map<string, string[]> }> = [];
  let cur: (typeof tables)[number] | null = null;
  for (const l of lines(payload)) {
    if (l.startsWith('*')) tables.push((cur = { name: l.slice(1), chains: [], rules: new Map() }));
    else if (l.startsWith(':')) {
      const c = l.slice(1).split(' ')[0]!;
      cur!.chains.push(c);
      cur!.rules.set(c, []);
    } else if (l.startsWith('-A ')) cur!.rules.get(l.split(' ')[1]!)!.push(l);
  }
  tables.sort((a, b) => (a.name < b.name ? -1 : 1));
  const rank = (c: string) => (c === 'KUBE-NODEPORTS' ? 0 : c === 'KUBE-SERVICES' ? 1 : c.startsWith('KUBE-') ? 2 : 3);
  const svcName = (r: string) => {
    const m = /--comment "?([^" ]*)/.exec(r);
    if (!m) return null;
    const i = m[1]!.search(/[ :]/);
    return i >= 0 ? m[1]!.slice(0, i) : m[1]!;
  };
  const out: string[] = [];
  for (const t of tables) {
    t.chains.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    out.push(`*${t.name}`, ...t.chains.map((c) => `:${c} - [0:0]`));
    for (const c of t.chains) {
      let rs = t.rules.get(c)!;
      if (c === 'KUBE-NODEPORTS' || c === 'KUBE-SERVICES') {
        const last = rs.filter((r) => r.includes('must be the last rule'));
        rs = rs.filter((r) => !r.includes('must be the last rule'));
        rs = rs.map((r, i) => ({ r, i, k: svcName(r) ?? '' })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i)).map((x) => x.r);
        rs.push(...last);
      }
      out.push(...rs);
    }
    out.push('COMMIT');
  }
  return out.join('\n');
}

describe('TestOverallIPTablesRules (upstream services, expected ruleset after upstream normalisation)', () => {
  const services = [
    makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
    makeService(
      'ns2',
      'svc2',
      { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.42', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }], externalIPs: ['192.168.99.22'], healthCheckNodePort: 30000 },
      { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } },
    ),
    makeService('ns3', 'svc3', { type: 'NodePort', clusterIP: '172.30.0.43', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3003 }] }),
    makeService('ns4', 'svc4', { type: 'NodePort', clusterIP: '172.30.0.44', externalIPs: ['192.168.99.33'], ports: [{ name: 'p80', port: 80, protocol: TCP, targetPort: 80 }] }),
    makeService(
      'ns5',
      'svc5',
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Cluster',
        clusterIP: '172.30.0.45',
        ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3002 }],
        healthCheckNodePort: 30000,
        loadBalancerSourceRanges: [' 203.0.113.0/25'],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      },
      { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } },
    ),
    makeService('ns6', 'svc6', { type: 'ClusterIP', clusterIP: '172.30.0.46', ports: [{ name: 'p80', port: 80, protocol: TCP, targetPort: 80 }] }),
  ];
  const slices = [
    makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1')], p80),
    makeSlice('ns2', 'svc2', 1, 'IPv4', [ep('10.180.0.2')], p80),
    makeSlice('ns3', 'svc3', 1, 'IPv4', [ep('10.180.0.3')], p80),
    makeSlice('ns4', 'svc4', 1, 'IPv4', [ep('10.180.0.4'), ep('10.180.0.5', { nodeName: 'test-node' })], p80),
    makeSlice('ns5', 'svc5', 1, 'IPv4', [ep('10.180.0.3')], p80),
  ];
  // Upstream's expected dump, transcribed line by line (masquerade mark "0x4000" as its fixture injects).
  const expected = `*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3002 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT`;

  it('equals upstream after upstream normalisation', () => {
    const r = gen(services, slices);
    expect(upstreamSort(r.payload)).toBe(expected);
  });
  it('KUBE-SERVICES is already in the normalised service order in podpath\'s own payload', () => {
    const r = gen(services, slices);
    const ours = natRules(r.payload).filter((l) => l.startsWith('-A KUBE-SERVICES '));
    const theirs = expected.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES ') && expected.indexOf('*nat') < expected.indexOf(l));
    expect(ours).toEqual(theirs);
  });
  it('production defaults differ only where upstream\'s fixture injects: mark 0x00004000, --random-fully', () => {
    const r = gen(services, slices, { masqueradeMark: undefined, randomFully: undefined });
    expect(r.payload).toContain('-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n');
    expect(r.payload).toContain('-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN\n');
    expect(r.payload).toContain('-j MASQUERADE --random-fully\n');
  });
  it('every rule carries provenance, keyed by (table, chain, index)', () => {
    const r = gen(services, slices);
    for (const rule of r.rules) expect(rule.provenance.length).toBeGreaterThan(0);
    const sep = r.rules.find((x) => x.chain === 'KUBE-SEP-C6EBXVWJJZMIWKLZ' && x.rule.includes('DNAT'))!;
    expect(sep.index).toBe(2);
    expect(r.provenanceAt('nat', 'KUBE-SEP-C6EBXVWJJZMIWKLZ', 2)).toEqual([
      { kind: 'Service', name: 'ns4/svc4', detail: 'port p80 80/TCP' },
      { kind: 'EndpointSlice', name: 'ns4/svc4-1', detail: 'endpoint 10.180.0.5:80 on test-node' },
    ]);
    // ns2's KUBE-SERVICES rules come after ns1's single rule
    expect(r.provenanceAt('nat', 'KUBE-SERVICES', 2)?.[0]?.name).toBe('ns2/svc2');
    expect(r.provenanceAt('nat', 'KUBE-POSTROUTING', 1)?.[0]?.kind).toBe('kube-proxy');
  });
});

describe('raw payload order as syncProxyRules writes it', () => {
  it('ClusterIP with 3 endpoints: sorted by endpoint string, probabilities 1/3, 1/2, then unconditional', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1'), ep('10.180.0.11'), ep('10.180.0.2')], [{ name: 'p80', port: 8080, protocol: TCP }])],
    );
    const svc = 'KUBE-SVC-XPGD46QRK7WJZT7O';
    const nat = natRules(r.payload).filter((l) => l.startsWith(`-A ${svc}`));
    // "10.180.0.11:8080" < "10.180.0.1:8080" as strings ('1' < ':')
    expect(nat.map((l) => / -> (\S+)"/.exec(l)?.[1] ?? 'masq')).toEqual(['masq', '10.180.0.11:8080', '10.180.0.1:8080', '10.180.0.2:8080']);
    expect(nat[1]).toContain('-m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-');
    expect(nat[2]).toContain('-m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-');
    expect(nat[3]).not.toContain('statistic');
    // declarations: fixed 4, then SVC, then SEPs in endpoint order
    const decl = lines(r.payload.slice(r.payload.indexOf('*nat'))).filter((l) => l.startsWith(':'));
    expect(decl.slice(0, 5)).toEqual([':KUBE-SERVICES - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-MARK-MASQ - [0:0]', `:${svc} - [0:0]`]);
    expect(decl).toHaveLength(8);
  });

  it('whole payload, one ClusterIP service, written by hand from the rule templates', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1')], p80)],
      { localhostNodePorts: false, nfacct: { ctStateInvalidDropped: false } },
    );
    expect(r.payload).toBe(`*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS
COMMIT
`);
    expect(r.sysctls.map((s) => s.key)).not.toContain('net/ipv4/conf/all/route_localnet');
  });

  it('named ports: TCP, UDP and SCTP on the same port number get separate chains (TestClusterIPGeneral)', () => {
    const r = gen(
      [
        makeService('ns2', 'svc2', {
          clusterIP: '172.30.0.42',
          ports: [
            { name: 'dns-udp', port: 53, protocol: 'UDP' },
            { name: 'dns-tcp', port: 53, protocol: TCP, targetPort: 5353 },
            { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
          ],
        }),
      ],
      [
        makeSlice('ns2', 'svc2', 1, 'IPv4', [ep('10.180.0.1', { nodeName: 'test-node' }), ep('10.180.2.1', { nodeName: 'node2' })], [
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 5353, protocol: TCP },
          { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
        ]),
      ],
    );
    const svcRules = natRules(r.payload).filter((l) => l.startsWith('-A KUBE-SERVICES') && !l.includes('nodeports'));
    expect(svcRules).toEqual([
      expect.stringContaining('"ns2/svc2:dns-sctp cluster IP" -m sctp -p sctp -d 172.30.0.42 --dport 53'),
      expect.stringContaining('"ns2/svc2:dns-tcp cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 53'),
      expect.stringContaining('"ns2/svc2:dns-udp cluster IP" -m udp -p udp -d 172.30.0.42 --dport 53'),
    ]);
    expect(r.payload).toContain('-m tcp -p tcp -j DNAT --to-destination 10.180.0.1:5353');
    expect(r.payload).toContain('-m udp -p udp -j DNAT --to-destination 10.180.2.1:53');
  });

  it('LoadBalancer with source ranges containing the node IP: FW chain allows the LB IPs as sources (TestLoadBalancer)', () => {
    const r = gen(
      [
        makeService(
          'ns1',
          'svc1',
          { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }], loadBalancerSourceRanges: ['192.168.0.0/24', ' 203.0.113.0/25'] },
          { loadBalancer: { ingress: [{ ip: '1.2.3.4' }, { ip: '5.6.7.8' }] } },
        ),
      ],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1')], p80)],
    );
    const fw = 'KUBE-FW-XPGD46QRK7WJZT7O';
    const ext = 'KUBE-EXT-XPGD46QRK7WJZT7O';
    expect(natRules(r.payload).filter((l) => l.startsWith(`-A ${fw}`))).toEqual([
      `-A ${fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/24 -j ${ext}`,
      `-A ${fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j ${ext}`,
      `-A ${fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j ${ext}`,
      `-A ${fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 5.6.7.8 -j ${ext}`,
      `-A ${fw} -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"`,
    ]);
    expect(filterRules(r.payload).filter((l) => l.startsWith('-A KUBE-PROXY-FIREWALL'))).toEqual([
      `-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by ${fw}" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP`,
      `-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by ${fw}" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP`,
    ]);
    // NodePort bypasses source ranges: KUBE-NODEPORTS goes to EXT, not FW
    expect(r.payload).toContain(`-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j ${ext}`);
  });

  it('source range 0.0.0.0/0 means no filtering; ipMode Proxy ingress gets no rules', () => {
    const r = gen(
      [
        makeService(
          'ns1',
          'svc1',
          { type: 'LoadBalancer', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }], loadBalancerSourceRanges: ['203.0.113.0/25', '0.0.0.0/0'] },
          { loadBalancer: { ingress: [{ ip: '1.2.3.4', ipMode: 'Proxy' }, { ip: '5.6.7.8', ipMode: 'VIP' }, { hostname: 'lb.example' }] } },
        ),
      ],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1')], p80)],
    );
    expect(r.payload).not.toContain('KUBE-FW-');
    expect(r.payload).not.toContain('1.2.3.4');
    expect(r.payload).toContain('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-EXT-XPGD46QRK7WJZT7O');
  });

  it('externalTrafficPolicy Local with a local endpoint: EXT short-circuits pods and LOCAL, then jumps to SVL', () => {
    const r = gen(
      [makeService('ns2', 'svc2', { type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.42', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] })],
      [makeSlice('ns2', 'svc2', 1, 'IPv4', [ep('10.180.0.2'), ep('10.180.1.2', { nodeName: 'test-node' })], p80)],
    );
    const ext = 'KUBE-EXT-GNZBNJ2PO5MGZ6GT';
    expect(natRules(r.payload).filter((l) => l.startsWith(`-A ${ext}`)).pop()).toBe(`-A ${ext} -j KUBE-SVL-GNZBNJ2PO5MGZ6GT`);
    const svl = natRules(r.payload).filter((l) => l.startsWith('-A KUBE-SVL-GNZBNJ2PO5MGZ6GT'));
    expect(svl).toEqual([expect.stringContaining('"ns2/svc2:p80 -> 10.180.1.2:80" -j KUBE-SEP-')]);
    // no DROP filter rules since there is a local endpoint; NodePort service has no health check
    expect(filterRules(r.payload).some((l) => l.includes('ns2/svc2'))).toBe(false);
    // SVC (both endpoints, for short-circuit) then SVL declared; SEP for both endpoints
    expect(r.chains.filter((c) => c.table === 'nat').map((c) => c.chain.slice(0, 9))).toEqual([
      'KUBE-SERV', 'KUBE-NODE', 'KUBE-POST', 'KUBE-MARK', 'KUBE-EXT-', 'KUBE-SVC-', 'KUBE-SVL-', 'KUBE-SEP-', 'KUBE-SEP-',
    ]);
  });

  it('internalTrafficPolicy Local without local endpoints: ClusterIP DROP in filter KUBE-SERVICES, no nat chains', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { internalTrafficPolicy: 'Local', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1', { nodeName: 'other' })], p80)],
    );
    expect(filterRules(r.payload)).toContain('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP');
    expect(r.payload).not.toContain('KUBE-SVC-');
    expect(r.payload).not.toContain('KUBE-SEP-');
  });

  it('internalTrafficPolicy Local with a local endpoint: ClusterIP goes to SVL, masquerade rule in SVL', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { internalTrafficPolicy: 'Local', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1', { nodeName: 'test-node' }), ep('10.180.0.2', { nodeName: 'other' })], p80)],
    );
    const svl = 'KUBE-SVL-XPGD46QRK7WJZT7O';
    expect(natRules(r.payload)).toContain(`-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ${svl}`);
    expect(natRules(r.payload)).toContain(`-A ${svl} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`);
    expect(r.payload).not.toContain('KUBE-SVC-');
    expect(r.payload.match(/^:KUBE-SEP-/gm)).toHaveLength(1);
  });

  it('no endpoints: REJECT for ClusterIP, externalIP, LB IP and NodePort (TestNoEndpointsReject)', () => {
    const r = gen(
      [
        makeService(
          'ns1',
          'svc1',
          { type: 'LoadBalancer', clusterIP: '172.30.0.41', externalIPs: ['192.168.99.11'], ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] },
          { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } },
        ),
      ],
      [],
    );
    const c = '"ns1/svc1:p80 has no endpoints"';
    expect(filterRules(r.payload).filter((l) => l.includes('ns1/svc1'))).toEqual([
      `-A KUBE-SERVICES -m comment --comment ${c} -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT`,
      `-A KUBE-EXTERNAL-SERVICES -m comment --comment ${c} -m tcp -p tcp -d 192.168.99.11 --dport 80 -j REJECT`,
      `-A KUBE-EXTERNAL-SERVICES -m comment --comment ${c} -m tcp -p tcp -d 1.2.3.4 --dport 80 -j REJECT`,
      `-A KUBE-EXTERNAL-SERVICES -m comment --comment ${c} -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT`,
    ]);
    expect(natRules(r.payload).filter((l) => l.includes('ns1/svc1'))).toEqual([]);
  });

  it('terminating endpoints: cluster and local fall back independently to serving+terminating (TestEndpointsTerminating facts)', () => {
    const svc = makeService('ns1', 'svc1', { type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] });
    const r = gen(
      [svc],
      [
        makeSlice('ns1', 'svc1', 1, 'IPv4', [
          ep('10.0.1.1', { conditions: { ready: true, serving: true, terminating: false }, nodeName: 'other' }),
          ep('10.0.1.2', { conditions: { ready: false, serving: true, terminating: true }, nodeName: 'test-node' }),
          ep('10.0.1.3', { conditions: { ready: false, serving: false, terminating: true }, nodeName: 'test-node' }),
        ], p80),
      ],
    );
    const svcDispatch = natRules(r.payload).filter((l) => l.startsWith('-A KUBE-SVC-') && l.includes(' -> '));
    const svlDispatch = natRules(r.payload).filter((l) => l.startsWith('-A KUBE-SVL-'));
    expect(svcDispatch.map((l) => / -> (\S+)"/.exec(l)![1])).toEqual(['10.0.1.1:80']);
    expect(svlDispatch.map((l) => / -> (\S+)"/.exec(l)![1])).toEqual(['10.0.1.2:80']);
    // reachable = union, sorted: two SEP chains; the not-serving endpoint is never used
    expect(r.payload).not.toContain('10.0.1.3');
    expect(r.payload.match(/^:KUBE-SEP-/gm)).toHaveLength(2);
  });

  it('only serving+terminating endpoints anywhere: ClusterIP uses them; eTP Local without local ones DROPs', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.0.1.5', { conditions: { ready: false, serving: true, terminating: true }, nodeName: 'other' })], p80)],
    );
    expect(natRules(r.payload)).toContain('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(filterRules(r.payload)).toContain('-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP');
  });

  it('duplicate endpoint in two slices: the non-terminating copy wins', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] })],
      [
        makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.0.1.1', { conditions: { ready: true } })], p80),
        makeSlice('ns1', 'svc1', 2, 'IPv4', [ep('10.0.1.1', { conditions: { ready: false, serving: false, terminating: true } })], p80),
      ],
    );
    expect(r.payload.match(/^:KUBE-SEP-/gm)).toHaveLength(1);
    expect(r.payload).toContain('-j DNAT --to-destination 10.0.1.1:80');
  });

  it('masqueradeAll: the ClusterIP rule masquerades every packet (no detector args)', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1')], p80)],
      { masqueradeAll: true },
    );
    expect(natRules(r.payload)).toContain('-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ');
  });

  describe('local traffic detectors', () => {
    const svc = makeService('ns2', 'svc2', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.42', healthCheckNodePort: 30000, ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } });
    const slice = makeSlice('ns2', 'svc2', 1, 'IPv4', [ep('10.180.0.2', { nodeName: 'test-node' })], p80);
    const masq = (r: { payload: string }) => natRules(r.payload).find((l) => l.startsWith('-A KUBE-SVL-') && l.includes('cluster IP')) ?? natRules(r.payload).find((l) => l.includes('cluster IP') && l.includes('KUBE-MARK-MASQ'));
    const pod = (r: { payload: string }) => natRules(r.payload).find((l) => l.includes('pod traffic for'));
    const cases: Array<[string, Partial<NodeProxyConfig>, string | null, string | null]> = [
      ['ClusterCIDR', { localDetector: { mode: 'ClusterCIDR' } }, '! -s 10.0.0.0/8', '-s 10.0.0.0/8'],
      ['NodeCIDR', { localDetector: { mode: 'NodeCIDR' }, podCIDRs: ['10.0.0.0/24'] }, '! -s 10.0.0.0/24', '-s 10.0.0.0/24'],
      ['BridgeInterface', { localDetector: { mode: 'BridgeInterface', bridgeInterface: 'cni0' } }, '! -i cni0', '-i cni0'],
      ['InterfaceNamePrefix', { localDetector: { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' } }, '! -i veth+', '-i veth+'],
      ['None', { localDetector: { mode: 'None' } }, null, null],
      ['NodeCIDR without a CIDR of the family', { localDetector: { mode: 'NodeCIDR' }, podCIDRs: ['fd00:10::/64'] }, null, null],
    ];
    for (const [name, cfg, notLocal, local] of cases)
      it(name, () => {
        const r = gen([svc], [slice], cfg);
        if (notLocal) expect(masq(r)).toBe(`-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ${notLocal} -j KUBE-MARK-MASQ`);
        else expect(masq(r)).toBeUndefined();
        if (local) expect(pod(r)).toBe(`-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" ${local} -j KUBE-SVC-GNZBNJ2PO5MGZ6GT`);
        else expect(pod(r)).toBeUndefined();
        expect(filterRules(r.payload)).toContain('-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT');
      });
  });

  describe('nodePortAddresses and localhost NodePorts (TestNodePorts cases)', () => {
    const svc = makeService('ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] });
    const slice = makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1')], p80);
    const tail = (r: { payload: string }) => natRules(r.payload).filter((l) => l.includes('must be the last rule'));
    const C = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
    it('ipv4, localhost-nodeports enabled: addrtype LOCAL, KUBE-FIREWALL, 127.0.0.0/8 rule, route_localnet', () => {
      const r = gen([svc], [slice]);
      expect(tail(r)).toEqual([`${C} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`]);
      expect(r.payload).toContain(':KUBE-FIREWALL - [0:0]');
      expect(r.payload).toContain('-d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts');
      expect(r.sysctls).toContainEqual(expect.objectContaining({ key: 'net/ipv4/conf/all/route_localnet', value: 1, action: 'set' }));
    });
    it('ipv4, localhost-nodeports disabled: ! -d 127.0.0.0/8, no KUBE-FIREWALL, no localhost rule', () => {
      const r = gen([svc], [slice], { localhostNodePorts: false });
      expect(tail(r)).toEqual([`${C} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS`]);
      expect(r.payload).not.toContain('KUBE-FIREWALL');
      expect(r.payload).not.toContain('127.0.0.0/8 --dport');
    });
    it('ipv4, localhost in nodeport-addresses but localhost-nodeports disabled: per-IP rules, loopback skipped', () => {
      const r = gen([svc], [slice], { localhostNodePorts: false, nodePortAddresses: ['192.168.0.0/24', '127.0.0.1/32'] });
      expect(tail(r)).toEqual([`${C} -d 192.168.0.2 -j KUBE-NODEPORTS`]);
      expect(r.warnings.some((w) => w.includes('localhost'))).toBe(true);
    });
    it('ipv4, multiple nodeport-addresses: node IPs inside the CIDRs; not loopback so no localhost NodePorts', () => {
      const r = gen([svc], [slice], { nodePortAddresses: ['192.168.0.0/24', '192.168.1.0/24', '2001:db8::/64'] });
      expect(tail(r)).toEqual([`${C} -d 192.168.0.2 -j KUBE-NODEPORTS`, `${C} -d 192.168.1.2 -j KUBE-NODEPORTS`]);
      expect(r.payload).not.toContain('KUBE-FIREWALL');
    });
    it('"primary" selects the node IP of the family', () => {
      const r = gen([svc], [slice], { nodePortAddresses: ['primary'] });
      expect(tail(r)).toEqual([`${C} -d 192.168.0.2 -j KUBE-NODEPORTS`]);
    });
  });

  it('large cluster (> 1000 endpoints): SEP and dispatch rules lose comments, others keep them (TestSyncProxyRulesLargeClusterMode)', () => {
    const big = (ns: string, name: string, port: string, pn: number, cip: string, net: number) => ({
      svc: makeService(ns, name, { clusterIP: cip, ports: [{ name: port, port: pn, protocol: TCP }] }),
      slice: makeSlice(ns, name, 1, 'IPv4', Array.from({ length: 499 }, (_, i) => ep(`10.${net}.${i % 256}.${Math.floor(i / 256)}`)), [{ name: port, port: pn, protocol: TCP }]),
    });
    const a = big('ns1', 'svc1', 'p80', 80, '172.30.0.41', 0);
    const b = big('ns2', 'svc2', 'p8080', 8080, '172.30.0.42', 1);
    const small = gen([a.svc, b.svc], [a.slice, b.slice], { masqueradeAll: true });
    expect(small.largeClusterMode).toBe(false);
    expect(small.payload).toContain('-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80\n');
    const c = makeService('ns3', 'svc3', { clusterIP: '172.30.0.43', ports: [{ name: 'p8081', port: 8081, protocol: TCP }] });
    const cs = makeSlice('ns3', 'svc3', 1, 'IPv4', ['203.0.113.4', '203.0.113.8', '203.0.113.12'].map((x) => ep(x)), [{ name: 'p8081', port: 8081, protocol: TCP }]);
    const large = gen([a.svc, b.svc, c], [a.slice, b.slice, cs], { masqueradeAll: true });
    expect(large.largeClusterMode).toBe(true);
    expect(large.payload).toContain('-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80\n');
    expect(large.payload).toContain('-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081\n');
    expect(large.payload).toMatch(/^-A KUBE-SVC-XPGD46QRK7WJZT7O -m statistic --mode random --probability 0\.0020040080 -j KUBE-SEP-/m);
    expect(large.payload).toContain('-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ');
  });

  it('IPv6: ip6tables payload, bracketed endpoints, no KUBE-FIREWALL, ! -d ::1/128, IPv4 Services skipped', () => {
    const r = gen(
      [
        makeService('ns1', 'svc1', { type: 'NodePort', clusterIP: 'fd00:172:30::41', ipFamilies: ['IPv6'], clusterIPs: ['fd00:172:30::41'], ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] }),
        makeService('ns2', 'svc2', { clusterIP: '172.30.0.42', ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
      ],
      [
        makeSlice('ns1', 'svc1', 1, 'IPv6', [ep('fd00:10:180::1'), ep('fd00:10:180::2:1', { nodeName: 'test-node' })], p80),
        makeSlice('ns2', 'svc2', 1, 'IPv4', [ep('10.0.0.1')], p80),
      ],
      {},
      6,
    );
    expect(r.payload).not.toContain('ns2/svc2');
    expect(r.payload).not.toContain('KUBE-FIREWALL');
    expect(r.payload).toContain('-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d fd00:172:30::41 --dport 80 ! -s fd00:10::/64 -j KUBE-MARK-MASQ');
    expect(r.payload).toContain('-A KUBE-SEP-OGYCNMB4EMRUSJ6N -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination [fd00:10:180::1]:80');
    expect(r.payload).toContain('-A KUBE-SEP-OGYCNMB4EMRUSJ6N -m comment --comment ns1/svc1:p80 -s fd00:10:180::1 -j KUBE-MARK-MASQ');
    expect(r.payload).toContain('--comment "ns1/svc1:p80 -> [fd00:10:180::2:1]:80" -j KUBE-SEP-APSFVWOCYOGIDJM2');
    expect(r.payload).toContain('-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS');
    expect(r.payload).not.toContain('127.0.0.0/8');
    expect(r.sysctls.map((s) => s.key)).not.toContain('net/ipv4/conf/all/route_localnet');
  });

  it('dual-stack Service: each family proxier sees its own cluster IP', () => {
    const svc = makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', clusterIPs: ['172.30.0.41', 'fd00:172:30::41'], ipFamilies: ['IPv4', 'IPv6'], ports: [{ name: 'p80', port: 80, protocol: TCP }] });
    expect(gen([svc], [], {}, 4).payload).toContain('-d 172.30.0.41 --dport 80 -j REJECT');
    expect(gen([svc], [], {}, 6).payload).toContain('-d fd00:172:30::41 --dport 80 -j REJECT');
  });

  it('headless and ExternalName Services produce nothing; leading-zero IPs are canonicalised', () => {
    const r = gen(
      [
        makeService('ns1', 'headless', { clusterIP: 'None', ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
        makeService('ns1', 'ext', { type: 'ExternalName', externalName: 'example.com', clusterIP: '172.30.0.9', ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
        makeService('ns1', 'svc1', { clusterIP: '172.30.0.041', externalIPs: ['192.168.099.011'], type: 'NodePort', ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
      ],
      [],
    );
    expect(r.payload).not.toContain('headless');
    expect(r.payload).not.toContain('ns1/ext');
    expect(r.payload).toContain('-d 172.30.0.41 --dport 80 -j REJECT');
    expect(r.payload).toContain('-d 192.168.99.11 --dport 80 -j REJECT');
  });

  it('ClientIP affinity: recent --rcheck rules first in SVC, --set in SEP; default timeout 10800', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', sessionAffinity: 'ClientIP', ports: [{ name: 'p80', port: 80, protocol: TCP }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1'), ep('10.180.0.2')], p80)],
    );
    const svc = natRules(r.payload).filter((l) => l.startsWith('-A KUBE-SVC-') && l.includes(' -> '));
    expect(svc.map((l) => (l.includes('--rcheck') ? 'rcheck' : l.includes('statistic') ? 'stat' : 'last'))).toEqual(['rcheck', 'rcheck', 'stat', 'last']);
    expect(svc[0]).toMatch(/-m recent --name (KUBE-SEP-\w+) --rcheck --seconds 10800 --reap -j \1$/);
    expect(r.payload).toMatch(/-m recent --name (KUBE-SEP-\w+) --set -m tcp -p tcp -j DNAT --to-destination 10\.180\.0\.1:80/);
  });

  it('jump rules: the 14 ensured rules in upstream order; comment-less KUBE-FIREWALL jumps last', () => {
    const r = gen([], []);
    expect(r.jumpRules.map((j) => `${j.table} ${j.rule}`)).toEqual([
      'filter -A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      'filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      'filter -A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
      'filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      'filter -A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      'filter -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      'filter -A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      'filter -A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      'filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      'nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      'nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      'nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      'filter -A INPUT -j KUBE-FIREWALL',
      'filter -A OUTPUT -j KUBE-FIREWALL',
    ]);
    expect(r.jumpRules.every((j) => j.position === 'prepend')).toBe(true);
  });

  it('bad node configuration is an InputError naming the field, and nothing is generated', () => {
    expect(() => gen([], [], { masqueradeBit: 40 })).toThrow(InputError);
    let err: unknown = null;
    try {
      gen([], [], { localDetector: { mode: 'BridgeInterface' }, nodePortAddresses: ['bogus'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).problems.map((p) => p.field)).toEqual(['kubeProxy.localDetector.bridgeInterface', 'kubeProxy.nodePortAddresses[0]']);
  });

  it('slice ports without a name (nil) are ignored as upstream does, with a warning', () => {
    const r = gen(
      [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ port: 80, protocol: TCP }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1')], [{ port: 80, protocol: TCP }])],
    );
    expect(r.payload).toContain('"ns1/svc1 has no endpoints"');
    expect(r.warnings.join()).toContain('nil name');
    const ok = gen(
      [makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ port: 80, protocol: TCP }] })],
      [makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.180.0.1')], [{ name: '', port: 80, protocol: TCP }])],
    );
    expect(ok.payload).toContain('-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP"');
  });
});

describe('KubeProxyIptables incremental syncs', () => {
  const node = upstreamFixtureNode();
  const svc1 = makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] });
  const svc2 = makeService('ns2', 'svc2', { clusterIP: '172.30.0.42', ports: [{ name: 'p8080', port: 8080, protocol: TCP }] });
  const s1 = makeSlice('ns1', 'svc1', 1, 'IPv4', [ep('10.0.1.1')], p80);
  const s2 = makeSlice('ns2', 'svc2', 1, 'IPv4', [ep('10.0.2.1')], [{ name: 'p8080', port: 8080, protocol: TCP }]);

  it('adding an endpoint regenerates only that service and reports the diff with its cause', () => {
    const kp = new KubeProxyIptables(node, 4, { partialSyncPayload: true });
    kp.load([svc1, svc2], [s1, s2]);
    const s2b = makeSlice('ns2', 'svc2', 1, 'IPv4', [ep('10.0.2.1'), ep('10.0.2.2')], [{ name: 'p8080', port: 8080, protocol: TCP }]);
    const d = kp.update([{ kind: 'EndpointSlice', op: 'update', object: s2b }]);
    expect(d.touched).toEqual(['ns2/svc2']);
    expect(d.causedBy).toEqual([{ kind: 'EndpointSlice', name: 'ns2/svc2-1', op: 'update', services: ['ns2/svc2'] }]);
    expect(d.chainsAdded.map((c) => c.chain)).toEqual([expect.stringMatching(/^KUBE-SEP-/)]);
    expect(d.chainsRemoved).toEqual([]);
    // the old single dispatch rule is replaced by a 1/2 rule and a final one; SEP gets 2 rules
    expect(d.removed.map((r) => r.rule)).toEqual(['-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV']);
    expect(d.added.map((r) => [r.chain.slice(0, 9), r.index])).toEqual([
      ['KUBE-SVC-', 2],
      ['KUBE-SVC-', 3],
      ['KUBE-SEP-', 1],
      ['KUBE-SEP-', 2],
    ]);
    expect(d.added[0]!.rule).toContain('--probability 0.5000000000 -j KUBE-SEP-UHEGFW77JX3KXTOV');
    expect(d.added[2]!.provenance[1]).toEqual({ kind: 'EndpointSlice', name: 'ns2/svc2-1', detail: 'endpoint 10.0.2.2:8080' });
    // partial payload: every KUBE-SERVICES rule, but only svc2's chains (TestSyncProxyRulesRepeated)
    expect(d.payload).toContain('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP"');
    expect(d.payload).not.toContain(':KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(d.payload).toContain(':KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]');
    // the state afterwards equals a fresh full sync
    expect(kp.ruleset().payload).toBe(generateIptablesRules({ services: [svc1, svc2], endpointSlices: [s1, s2b], node, family: 4 }).payload);
  });

  it('deleting a Service deletes its chains with -X in the partial payload', () => {
    const kp = new KubeProxyIptables(node, 4, { partialSyncPayload: true });
    kp.load([svc1, svc2], [s1, s2]);
    const d = kp.update([{ kind: 'Service', op: 'delete', object: svc2 }]);
    expect(d.chainsRemoved.map((c) => c.chain).sort()).toEqual(['KUBE-SEP-UHEGFW77JX3KXTOV', 'KUBE-SVC-2VJB64SDSIJUP5T6']);
    expect(d.payload).toContain('-X KUBE-SEP-UHEGFW77JX3KXTOV\n-X KUBE-SVC-2VJB64SDSIJUP5T6\n-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports');
    expect(d.payload).toContain(':KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]');
    expect(d.removed.some((r) => r.chain === 'KUBE-SERVICES' && r.index === 2)).toBe(true);
  });

  it('crossing the large-cluster threshold in a partial sync leaves untouched chains as they were (upstream behaviour)', () => {
    const kp = new KubeProxyIptables({ ...node, largeClusterThreshold: 2 }, 4);
    kp.load([svc1, svc2], [s1, s2]);
    const svc3 = makeService('ns3', 'svc3', { clusterIP: '172.30.0.43', ports: [{ name: 'p80', port: 80, protocol: TCP }] });
    const s3 = makeSlice('ns3', 'svc3', 1, 'IPv4', [ep('10.0.3.1')], p80);
    const d = kp.update([
      { kind: 'Service', op: 'add', object: svc3 },
      { kind: 'EndpointSlice', op: 'add', object: s3 },
    ]);
    expect(d.largeClusterMode).toBe(true);
    const now = kp.ruleset().payload;
    expect(now).toContain('-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80');
    expect(now).toContain('-A KUBE-SEP-BSWRHOQ77KEXZLNL -m tcp -p tcp -j DNAT --to-destination 10.0.3.1:80');
    const full = kp.fullSync().payload;
    expect(full).toContain('-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80');
  });
});
