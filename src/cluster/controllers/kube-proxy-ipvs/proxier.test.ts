import { describe, expect, it } from 'vitest';
import { InputError } from '../../../base/index.js';
import type { Endpoint, EndpointPort, Service } from '../../objects.js';
import { makeService, makeSlice, upstreamFixtureNode } from '../kube-proxy-iptables/fixtures.js';
import { generateIpvsRules } from './proxier.js';
import type { GeneratedIpvs, IpvsProxyConfig } from './types.js';

// Expected values follow pkg/proxy/ipvs/proxier.go (v1.34) read by hand: which VS per address,
// which endpoint set per traffic policy, which set gets which element, which rule when.

const TCP = 'TCP' as const;
const p80: EndpointPort[] = [{ name: 'p80', port: 8080, protocol: TCP }];
const local = (ip: string): Endpoint => ({ addresses: [ip], nodeName: 'test-node' });
const remote = (ip: string): Endpoint => ({ addresses: [ip], nodeName: 'node-2' });

function gen(services: Service[], slices: ReturnType<typeof makeSlice>[], node: Partial<IpvsProxyConfig> = {}): GeneratedIpvs {
  return generateIpvsRules({ services, endpointSlices: slices, node: { ...upstreamFixtureNode(), ...node }, family: 4 });
}
function entries(r: GeneratedIpvs, set: string): string[] {
  return r.ipsets.find((s) => s.name === set)!.entries.map((e) => e.entry);
}
function rsOf(r: GeneratedIpvs, addr: string, port: number): string[] {
  const vs = r.virtualServers.find((v) => v.address === addr && v.port === port);
  if (!vs) throw new Error(`no VS ${addr}:${port}`);
  return vs.realServers.map((x) => `${x.address}:${x.port}`);
}

const slice = makeSlice('ns1', 'svc1', 1, 'IPv4', [local('10.180.0.1'), remote('10.180.1.1')], p80);

describe('ClusterIP', () => {
  const svc = makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: TCP }] });
  const r = gen([svc], [slice]);

  it('makes one VS on the ClusterIP with the default scheduler rr and every ready endpoint, weight 1, masq', () => {
    expect(r.virtualServers).toHaveLength(1);
    expect(r.ipvsadmSave).toBe('-A -t 172.30.0.41:80 -s rr\n-a -t 172.30.0.41:80 -r 10.180.0.1:8080 -m -w 1\n-a -t 172.30.0.41:80 -r 10.180.1.1:8080 -m -w 1\n');
  });
  it('binds the ClusterIP to kube-ipvs0 and lists it in KUBE-IPVS-IPS', () => {
    expect(r.boundAddresses).toEqual(['172.30.0.41']);
    expect(entries(r, 'KUBE-IPVS-IPS')).toEqual(['172.30.0.41']);
  });
  it('fills KUBE-CLUSTER-IP with ip,proto:port and KUBE-LOOP-BACK with each local endpoint only', () => {
    expect(entries(r, 'KUBE-CLUSTER-IP')).toEqual(['172.30.0.41,tcp:80']);
    expect(entries(r, 'KUBE-LOOP-BACK')).toEqual(['10.180.0.1,tcp:8080,10.180.0.1']);
  });
  it('writes the masquerade rule for off-cluster sources (ClusterCIDR detector) and the ACCEPT at the end of KUBE-SERVICES', () => {
    const svcRules = r.rules.filter((x) => x.table === 'nat' && x.chain === 'KUBE-SERVICES').map((x) => x.rule);
    expect(svcRules).toEqual([
      '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN',
      '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
      '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
      '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT',
    ]);
  });
  it('hairpin: KUBE-POSTROUTING masquerades dst,dst,src matches of KUBE-LOOP-BACK', () => {
    expect(r.rules.find((x) => x.chain === 'KUBE-POSTROUTING')!.rule).toBe(
      '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
    );
  });
  it('masqueradeAll uses dst,dst without the detector; detector None masquerades src,dst', () => {
    expect(gen([svc], [slice], { masqueradeAll: true }).payload).toContain('--match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ');
    expect(gen([svc], [slice], { localDetector: { mode: 'None' } }).payload).toContain('--match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ');
  });
  it('carries provenance: the VS names the Service, each real server its EndpointSlice endpoint', () => {
    const vs = r.virtualServers[0]!;
    expect(vs.provenance[0]).toMatchObject({ kind: 'Service', name: 'ns1/svc1' });
    expect(vs.realServers[0]!.provenance[0]).toMatchObject({ kind: 'EndpointSlice', name: 'ns1/svc1-1' });
    const idx = r.rules.find((x) => x.rule.includes('KUBE-CLUSTER-IP dst,dst ! -s'))!;
    expect(r.provenanceAt('nat', 'KUBE-SERVICES', idx.index)).toBe(idx.provenance);
  });
  it('a Service without endpoints keeps its VS with no real servers (no REJECT in IPVS mode)', () => {
    const g = gen([svc], []);
    expect(g.ipvsadmSave).toBe('-A -t 172.30.0.41:80 -s rr\n');
    expect(g.payload).not.toContain('REJECT --reject-with');
  });
  it('internalTrafficPolicy Local: only local endpoints; none local → the (empty) cluster set', () => {
    const itp = makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', internalTrafficPolicy: 'Local', ports: [{ name: 'p80', port: 80, protocol: TCP }] });
    expect(rsOf(gen([itp], [slice]), '172.30.0.41', 80)).toEqual(['10.180.0.1:8080']);
    const noLocal = makeSlice('ns1', 'svc1', 1, 'IPv4', [remote('10.180.1.1')], p80);
    const g = gen([itp], [noLocal]);
    expect(g.virtualServers[0]!.endpointSet).toBe('local-fallback-cluster');
    expect(rsOf(g, '172.30.0.41', 80)).toEqual([]);
  });
});

describe('NodePort', () => {
  const np = (etp: 'Cluster' | 'Local'): Service =>
    makeService('ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', externalTrafficPolicy: etp, ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 30080 }] });

  it('one VS per non-loopback node address (not bound to kube-ipvs0), bitmap:port entry, masquerade by KUBE-NODE-PORT-TCP', () => {
    const r = gen([np('Cluster')], [slice]);
    expect(r.nodePortAddresses).toEqual(['192.168.0.2', '192.168.1.2', '192.168.99.11']);
    const nps = r.virtualServers.filter((v) => v.kind === 'NodePort');
    expect(nps.map((v) => `${v.address}:${v.port}`)).toEqual(['192.168.0.2:30080', '192.168.1.2:30080', '192.168.99.11:30080']);
    expect(nps.every((v) => !v.bound && v.realServers.length === 2)).toBe(true);
    expect(r.boundAddresses).toEqual(['172.30.0.41']);
    expect(entries(r, 'KUBE-NODE-PORT-TCP')).toEqual(['30080']);
    expect(entries(r, 'KUBE-NODE-PORT-LOCAL-TCP')).toEqual([]);
    expect(r.rules.filter((x) => x.table === 'nat' && x.chain === 'KUBE-NODE-PORT').map((x) => x.rule)).toEqual([
      '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
    ]);
  });
  it('externalTrafficPolicy Local: NodePort VSs get local endpoints, the ClusterIP VS all; the LOCAL set RETURNs first', () => {
    const r = gen([np('Local')], [slice]);
    expect(rsOf(r, '192.168.0.2', 30080)).toEqual(['10.180.0.1:8080']);
    expect(rsOf(r, '172.30.0.41', 80)).toEqual(['10.180.0.1:8080', '10.180.1.1:8080']);
    expect(entries(r, 'KUBE-NODE-PORT-LOCAL-TCP')).toEqual(['30080']);
    const chain = r.rules.filter((x) => x.table === 'nat' && x.chain === 'KUBE-NODE-PORT');
    expect(chain.map((x) => x.rule.split(' -j ')[1])).toEqual(['RETURN', 'KUBE-MARK-MASQ']);
  });
  it('externalTrafficPolicy Local without a local endpoint falls back to the cluster endpoints (PR 97081)', () => {
    const r = gen([np('Local')], [makeSlice('ns1', 'svc1', 1, 'IPv4', [remote('10.180.1.1')], p80)]);
    const vs = r.virtualServers.find((v) => v.kind === 'NodePort')!;
    expect(vs.endpointSet).toBe('local-fallback-cluster');
    expect(vs.realServers.map((x) => x.address)).toEqual(['10.180.1.1']);
  });
  it('nodePortAddresses restricts the node IPs; UDP uses KUBE-NODE-PORT-UDP; SCTP a hash:ip,port per node IP', () => {
    const udp = makeService('ns1', 'u', { type: 'NodePort', clusterIP: '172.30.0.42', ports: [{ name: 'd', port: 53, protocol: 'UDP', nodePort: 30053 }] });
    const sctp = makeService('ns1', 's', { type: 'NodePort', clusterIP: '172.30.0.43', ports: [{ name: 's', port: 7777, protocol: 'SCTP', nodePort: 30777 }] });
    const r = gen([udp, sctp], [], { nodePortAddresses: ['192.168.0.0/24'] });
    expect(r.nodePortAddresses).toEqual(['192.168.0.2']);
    expect(entries(r, 'KUBE-NODE-PORT-UDP')).toEqual(['30053']);
    expect(entries(r, 'KUBE-NODE-PORT-SCTP-HASH')).toEqual(['192.168.0.2,sctp:30777']);
    expect(r.ipvsadmSave).toContain('-A -u 192.168.0.2:30053 -s rr');
    expect(r.ipvsadmSave).toContain('-A --sctp-service 192.168.0.2:30777 -s rr');
    expect(r.payload).toContain('-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port for masquerade purpose with type \'hash ip:port\'" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ');
  });
  it('no node address matches nodePortAddresses: no NodePort VS, no set entry', () => {
    const r = gen([np('Cluster')], [slice], { nodePortAddresses: ['10.99.0.0/16'] });
    expect(r.virtualServers.filter((v) => v.kind === 'NodePort')).toEqual([]);
    expect(entries(r, 'KUBE-NODE-PORT-TCP')).toEqual([]);
  });
});

describe('externalIPs and LoadBalancer', () => {
  it('externalIP of a Cluster-policy service: KUBE-EXTERNAL-IP, masquerade + the two ACCEPTs; bound unless a node address', () => {
    const svc = makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', externalIPs: ['1.2.3.4', '192.168.0.2'], ports: [{ name: 'p80', port: 80, protocol: TCP }] });
    const r = gen([svc], [slice]);
    expect(entries(r, 'KUBE-EXTERNAL-IP')).toEqual(['1.2.3.4,tcp:80', '192.168.0.2,tcp:80']);
    expect(r.boundAddresses).toEqual(['172.30.0.41', '1.2.3.4']);
    const head = '-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst';
    const lines = r.payload.split('\n');
    const i = lines.indexOf(`${head} -j KUBE-MARK-MASQ`);
    expect(i).toBeGreaterThan(0);
    expect(lines[i + 1]).toBe(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    expect(lines[i + 2]).toBe(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  });
  it('LoadBalancer VIP: VS with the service endpoints, KUBE-LOAD-BALANCER set, jump and ACCEPT', () => {
    const svc = makeService(
      'ns1',
      'svc1',
      { type: 'LoadBalancer', clusterIP: '172.30.0.41', externalTrafficPolicy: 'Local', healthCheckNodePort: 30000, ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 30080 }] },
      { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } },
    );
    const r = gen([svc], [slice]);
    expect(rsOf(r, '5.6.7.8', 80)).toEqual(['10.180.0.1:8080']);
    expect(entries(r, 'KUBE-LOAD-BALANCER')).toEqual(['5.6.7.8,tcp:80']);
    expect(entries(r, 'KUBE-LOAD-BALANCER-LOCAL')).toEqual(['5.6.7.8,tcp:80']);
    expect(entries(r, 'KUBE-HEALTH-CHECK-NODE-PORT')).toEqual(['30000']);
    expect(r.payload).toContain('-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER');
    expect(r.payload).toContain('-A KUBE-LOAD-BALANCER -m comment --comment "Kubernetes service load balancer ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN');
    expect(r.payload).toContain('-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT');
  });
  it('loadBalancerSourceRanges: FW, SOURCE-CIDR sets; SOURCE-IP when a range holds the node IP, else the -m ipvs DROP', () => {
    const mk = (ranges: string[]): Service =>
      makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: '172.30.0.41', loadBalancerSourceRanges: ranges, ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 30080 }] }, { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } });
    const a = gen([mk(['192.168.0.0/24', '203.0.113.0/24'])], [slice]);
    expect(entries(a, 'KUBE-LOAD-BALANCER-FW')).toEqual(['5.6.7.8,tcp:80']);
    expect(entries(a, 'KUBE-LOAD-BALANCER-SOURCE-CIDR')).toEqual(['5.6.7.8,tcp:80,192.168.0.0/24', '5.6.7.8,tcp:80,203.0.113.0/24']);
    expect(entries(a, 'KUBE-LOAD-BALANCER-SOURCE-IP')).toEqual(['5.6.7.8,tcp:80,5.6.7.8']);
    expect(a.payload).not.toContain('-m ipvs');
    const b = gen([mk(['203.0.113.0/24'])], [slice]);
    expect(entries(b, 'KUBE-LOAD-BALANCER-SOURCE-IP')).toEqual([]);
    expect(b.payload).toContain('-A KUBE-IPVS-OUT-FILTER -s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP');
  });
});

describe('affinity, scheduler, families, sysctls, bad input', () => {
  const svc = makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } }, ports: [{ name: 'p80', port: 80, protocol: TCP }] });
  it('ClientIP affinity makes the VS persistent with the affinity timeout', () => {
    expect(gen([svc], [slice]).ipvsadmSave.split('\n')[0]).toBe('-A -t 172.30.0.41:80 -s rr -p 300');
  });
  it('the configured scheduler is used; mh adds the source-port hash flag', () => {
    expect(gen([svc], [slice], { scheduler: 'wlc' }).ipvsadmSave.split('\n')[0]).toBe('-A -t 172.30.0.41:80 -s wlc -p 300');
    expect(gen([svc], [slice], { scheduler: 'mh' }).virtualServers[0]!.schedFlags).toEqual(['mh-port']);
  });
  it('an unknown scheduler is an InputError naming the field', () => {
    expect(() => gen([svc], [slice], { scheduler: 'fastest' })).toThrow(InputError);
    try {
      gen([svc], [slice], { scheduler: 'fastest' });
    } catch (e) {
      expect((e as InputError).problems[0]!.field).toBe('kubeProxy.ipvs.scheduler');
    }
  });
  it('IPv6: KUBE-6- set names (31 chars max), bracketed ipvsadm addresses, ::1/128 RETURN', () => {
    const v6 = makeService('ns1', 'svc1', { clusterIP: 'fd00::41', ipFamilies: ['IPv6'], clusterIPs: ['fd00::41'], ports: [{ name: 'p80', port: 80, protocol: TCP }] });
    const s6 = makeSlice('ns1', 'svc1', 1, 'IPv6', [local('fd00:10::1')], p80);
    const r = generateIpvsRules({ services: [v6], endpointSlices: [s6], node: upstreamFixtureNode(), family: 6 });
    expect(r.ipsets.map((s) => s.name)).toContain('KUBE-6-LOAD-BALANCER-SOURCE-CID');
    expect(r.ipsets.every((s) => s.name.length <= 31)).toBe(true);
    expect(r.ipvsadmSave).toBe('-A -t [fd00::41]:80 -s rr\n-a -t [fd00::41]:80 -r [fd00:10::1]:8080 -m -w 1\n');
    expect(r.payload).toContain('-A KUBE-SERVICES -s ::1/128 -j RETURN');
    expect(r.ipsetRestore).toContain('create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536');
  });
  it('sysctls: vs/conntrack, expire_nodest_conn, expire_quiescent_template, ip_forward; arp_* only with strictARP; conn_reuse_mode by kernel', () => {
    const keys = (c: Partial<IpvsProxyConfig>): string[] => gen([svc], [], c).sysctls.filter((s) => s.action === 'set').map((s) => `${s.key}=${s.value}`);
    const base = keys({});
    expect(base).toEqual(expect.arrayContaining(['net/ipv4/vs/conntrack=1', 'net/ipv4/vs/expire_nodest_conn=1', 'net/ipv4/vs/expire_quiescent_template=1', 'net/ipv4/ip_forward=1']));
    expect(base.some((k) => k.includes('arp_'))).toBe(false);
    expect(base.some((k) => k.includes('conn_reuse_mode'))).toBe(false);
    expect(keys({ strictARP: true })).toEqual(expect.arrayContaining(['net/ipv4/conf/all/arp_ignore=1', 'net/ipv4/conf/all/arp_announce=2']));
    expect(keys({ kernelVersion: '5.4' })).toContain('net/ipv4/vs/conn_reuse_mode=0');
  });
  it('jump rules: the nine iptablesJumpChain rules with their comments', () => {
    const j = gen([svc], []).jumpRules;
    expect(j.map((x) => `${x.table} ${x.rule}`)).toEqual([
      'nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      'nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      'nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      'filter -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      'filter -A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT',
      'filter -A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
      'filter -A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
      'filter -A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
      'filter -A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER',
    ]);
  });
});

describe('contract with src/ipvs: the `ipvsadm -Sn` text', () => {
  it('loads into an IPVS table and is written back the same way (sorted as ipvsadm sorts)', async () => {
    const { loadIpvsadmSave, formatIpvsadmSave, formatIpvsadmList } = await import('../../../ipvs/index.js');
    const svcs = [
      makeService('ns1', 'a', { clusterIP: '172.30.0.41', type: 'NodePort', sessionAffinity: 'ClientIP', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 30080 }, { name: 'd', port: 53, protocol: 'UDP', nodePort: 30053 }] }),
    ];
    const sl = makeSlice('ns1', 'a', 1, 'IPv4', [local('10.180.0.1'), remote('10.180.1.1')], [...p80, { name: 'd', port: 5353, protocol: 'UDP' }]);
    for (const scheduler of ['rr', 'mh']) {
      const r = gen(svcs, [sl], { scheduler });
      const t = loadIpvsadmSave(r.ipvsadmSave, { file: 'kube-proxy' });
      expect(t.services()).toHaveLength(r.virtualServers.length);
      const back = formatIpvsadmSave(t);
      expect(back.split('\n').sort()).toEqual(r.ipvsadmSave.split('\n').sort());
      expect(formatIpvsadmList(t)).toContain(`TCP  172.30.0.41:80 ${scheduler}`);
    }
  });
});
