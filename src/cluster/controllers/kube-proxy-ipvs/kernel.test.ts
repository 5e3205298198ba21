import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIpsetSave } from '../../../netfilter/index.js';
import type { EndpointPort } from '../../objects.js';
import { makeService, makeSlice, tablesOf, upstreamFixtureNode } from '../kube-proxy-iptables/fixtures.js';
import { generateIpvsRules } from './proxier.js';
import type { GeneratedIpvs } from './types.js';

/**
 * IPVS mode's ipsets and iptables payload against the real kernel: in a fresh network namespace the
 * sets are created with `ipset restore`, the jump rules inserted with `iptables -I … 1`, and the
 * payload loaded with `iptables-restore --noflush --counters`; `ipset save` and `iptables-save` must
 * show what the generator declared. (This kernel has no IPVS: the VSs themselves cannot be loaded,
 * nor the `-m ipvs` rules of KUBE-IPVS-OUT-FILTER, which these cases do not produce.)
 */
const NS = `pp${process.pid}kpv`;
const canRun = (() => {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('ip', ['netns', 'add', NS], { stdio: 'ignore' }).status === 0 && spawnSync('ip', ['netns', 'exec', NS, 'ipset', 'list'], { stdio: 'ignore' }).status === 0;
})();
if (!canRun) console.warn('SKIPPED (needs root and network namespaces): kube-proxy-ipvs kernel load test');
afterAll(() => {
  if (canRun) spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
});

function inNs(cmd: string, args: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', NS, cmd, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The kernel's rules per chain, in order, by their target and set match (iptables-save rewrites marks and adds -m sctp/--reject-with). */
function checkLoaded(r: GeneratedIpvs, save: string): void {
  const t = tablesOf(save);
  for (const c of r.chains) expect(t.get(c.table)?.chains.has(c.chain), `${c.table} ${c.chain}`).toBe(true);
  const shape = (rule: string): string => `${rule.split(' ')[1]} ${/--match-set (\S+ \S+)/.exec(rule)?.[1] ?? '-'} ${rule.split(' -j ')[1]!.split(' ')[0]}`;
  for (const table of ['nat', 'filter'] as const) {
    const kube = (t.get(table)?.rules ?? []).filter((l) => /^-A KUBE-/.test(l));
    expect(kube.map(shape), table).toEqual(
      r.rules
        .filter((x) => x.table === table)
        .sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : a.index - b.index))
        .map((x) => shape(x.rule)),
    );
  }
  // jump rules end up in reverse ensure order at the top of each built-in chain
  for (const table of ['filter', 'nat'] as const)
    for (const chain of ['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']) {
      const expected = r.jumpRules.filter((j) => j.table === table && j.chain === chain).map((j) => j.target).reverse();
      const got = (t.get(table)?.rules ?? []).filter((l) => l.startsWith(`-A ${chain} `)).map((l) => l.split(' -j ')[1]);
      expect(got, `${table} ${chain}`).toEqual(expected);
    }
}

function load(r: GeneratedIpvs, bin: 'iptables' | 'ip6tables'): { save: string; sets: string } {
  inNs('ipset', ['restore', '-exist'], r.ipsetRestore);
  for (const j of r.jumpRules) {
    if (spawnSync('ip', ['netns', 'exec', NS, bin, '-t', j.table, '-C', j.chain, ...j.args], { stdio: 'ignore' }).status !== 0) {
      spawnSync('ip', ['netns', 'exec', NS, bin, '-t', j.table, '-N', j.target], { stdio: 'ignore' });
      inNs(bin, ['-t', j.table, '-I', j.chain, '1', ...j.args]);
    }
  }
  inNs(`${bin}-restore`, ['--noflush', '--counters'], r.payload);
  return { save: inNs(`${bin}-save`, []), sets: inNs('ipset', ['save']) };
}

const TCP = 'TCP' as const;
const p80: EndpointPort[] = [{ name: 'p80', port: 8080, protocol: TCP }];

describe.skipIf(!canRun)('kube-proxy IPVS mode in the real kernel', () => {
  it('IPv4: ClusterIP, NodePort (Local), externalIPs (both policies), LB with source ranges holding the node IP, UDP and SCTP NodePorts', () => {
    const services = [
      makeService('ns1', 'a', { clusterIP: '172.30.0.41', type: 'NodePort', externalTrafficPolicy: 'Local', externalIPs: ['1.2.3.4'], ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 30080 }] }),
      makeService('ns1', 'b', { clusterIP: '172.30.0.42', externalIPs: ['1.2.3.5'], sessionAffinity: 'ClientIP', ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
      makeService(
        'ns1',
        'c',
        { type: 'LoadBalancer', clusterIP: '172.30.0.43', externalTrafficPolicy: 'Local', healthCheckNodePort: 30000, loadBalancerSourceRanges: ['192.168.0.0/24'], ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 30081 }] },
        { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } },
      ),
      makeService('ns1', 'd', { type: 'NodePort', clusterIP: '172.30.0.44', ports: [{ name: 'u', port: 53, protocol: 'UDP', nodePort: 30053 }, { name: 's', port: 7, protocol: 'SCTP', nodePort: 30007 }] }),
    ];
    const slices = ['a', 'b', 'c'].map((s) => makeSlice('ns1', s, 1, 'IPv4', [{ addresses: ['10.180.0.1'], nodeName: 'test-node' }, { addresses: ['10.180.1.1'], nodeName: 'n2' }], p80));
    const r = generateIpvsRules({ services, endpointSlices: slices, node: upstreamFixtureNode({ masqueradeMark: undefined, randomFully: true }), family: 4 });
    const { save, sets } = load(r, 'iptables');
    checkLoaded(r, save);
    // iptables-save prints the address match first, the kernel's REJECT default, and escapes ' in comments
    expect(save).toContain('-A KUBE-SERVICES ! -s 10.0.0.0/8 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ');
    expect(save).toContain('-m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable');
    expect(save).toContain(`-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port for masquerade purpose with type \\'hash ip:port\\'" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ`);
    // every set and element as the kernel lists it, parsed back by podpath's ipset reader
    const store = parseIpsetSave(sets);
    for (const s of r.ipsets) {
      const k = store.sets.get(s.name);
      expect(k, s.name).toBeDefined();
      expect(k!.type).toBe(s.type);
      expect(k!.members.map((m) => m.text).sort()).toEqual(s.entries.map((e) => e.entry).sort());
    }
  });

  it('IPv6: KUBE-6- sets and the ip6tables payload load', () => {
    const svc = makeService('ns1', 'a', { clusterIP: 'fd00::41', clusterIPs: ['fd00::41'], ipFamilies: ['IPv6'], type: 'NodePort', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 30080 }] });
    const sl = makeSlice('ns1', 'a', 1, 'IPv6', [{ addresses: ['fd00:10::1'], nodeName: 'test-node' }], p80);
    const r = generateIpvsRules({ services: [svc], endpointSlices: [sl], node: upstreamFixtureNode(), family: 6 });
    const { save, sets } = load(r, 'ip6tables');
    checkLoaded(r, save);
    expect(sets).toContain('add KUBE-6-LOOP-BACK fd00:10::1,tcp:8080,fd00:10::1');
    expect(sets).toContain('add KUBE-6-CLUSTER-IP fd00::41,tcp:80');
  });
});
