import { Rng, SeededChooser, VirtualClock } from '../src/base/index.js';
import { NO_TRACE } from '../src/trace/index.js';
import { NthState, RecentStore, applyIptablesRestore, compileRuleset, emptyRuleset, parseIpsetSave, walkTable } from '../src/netfilter/index.js';
import type { NfEnv, NfPacket } from '../src/netfilter/index.js';
import { generateIpvsRules } from '../src/cluster/controllers/kube-proxy-ipvs/index.js';
import { generateIptablesRules } from '../src/cluster/controllers/kube-proxy-iptables/index.js';
import { cluster, ENDPOINTS, SERVICES } from './kube-proxy-iptables.js';
import type { IpvsProxyConfig } from '../src/cluster/controllers/kube-proxy-ipvs/index.js';
import { timeOnce } from './harness.js';
import type { BenchSuite, Figure } from './harness.js';

/**
 * Issue 6 item 6: one node's kube-proxy IPVS-mode state (VSs, ipsets, iptables payload) for 10,000
 * Services × 10 endpoints (≤ 1 s); and the iptables rules a pod's packet to a ClusterIP is tested
 * against in nat PREROUTING under each mode (a linear kernel walk), for the same cluster.
 */
const node: IpvsProxyConfig = { nodeName: 'node-0', nodeIPs: ['192.168.56.11'], clusterCIDRs: ['10.64.0.0/10'], localDetector: { mode: 'ClusterCIDR' } };

/** nat PREROUTING of a node after kube-proxy's jump + payload, walked linearly for one packet: rules tested. */
function natRulesTested(payload: string, jump: string, ipsets: string, pkt: NfPacket, local: ReadonlySet<string>): { evaluated: number; verdict: string } {
  let rs = applyIptablesRestore(emptyRuleset(4), `*nat\n:KUBE-SERVICES - [0:0]\n${jump}\nCOMMIT\n`, { noflush: true, family: 4 });
  rs = applyIptablesRestore(rs, payload, { noflush: true, family: 4 });
  const env: NfEnv = {
    addrType: (ip: string) => (local.has(ip) ? 'LOCAL' : 'UNICAST'),
    ipsets: parseIpsetSave(ipsets),
    recent: new RecentStore(),
    nth: new NthState(),
    clock: new VirtualClock(0),
    chooser: new SeededChooser(new Rng(1)),
    rec: NO_TRACE,
  };
  const r = walkTable(compileRuleset(rs, { index: false }), 'nat', 'PREROUTING', pkt, undefined, env);
  return { evaluated: r.linearEvaluated, verdict: r.nat ? `${r.nat.type}` : r.verdict };
}

const suite: BenchSuite = {
  name: 'kube-proxy-ipvs',
  async run(): Promise<Figure[]> {
    const { services, slices } = cluster();
    let vss = 0;
    let setEntries = 0;
    const full = () => {
      const r = generateIpvsRules({ services, endpointSlices: slices, node, family: 4 });
      vss = r.virtualServers.length;
      setEntries = r.ipsets.reduce((n, s) => n + s.entries.length, 0);
    };
    const coldMs = timeOnce(full, 1);
    const fullMs = timeOnce(full, 3);

    // the same request in both modes: a pod on node-0 to the ClusterIP of a Service late in the order
    const target = SERVICES - 7;
    const cip = `10.96.${(target >> 8) & 255}.${target & 255}`;
    const pkt: NfPacket = { family: 4, src: '10.64.0.5', dst: cip, proto: 6, sport: 40000, dport: 80, length: 60, mark: 0 };
    const ipt = generateIptablesRules({ services, endpointSlices: slices, node, family: 4 });
    const a = natRulesTested(ipt.payload, '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', '', pkt, new Set(['192.168.56.11']));
    const ipvs = generateIpvsRules({ services, endpointSlices: slices, node, family: 4 });
    const b = natRulesTested(ipvs.payload, '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', ipvs.ipsetRestore, pkt, new Set(['192.168.56.11', ...ipvs.boundAddresses]));
    return [
      { name: `IPVS-mode state, ${SERVICES} Services × ${ENDPOINTS} endpoints`, value: fullMs, unit: 'ms', target: '≤ 1000 ms', ok: fullMs <= 1000, note: `best of 3 after a first call of ${coldMs.toFixed(0)} ms; ${vss} VSs, ${setEntries} set entries` },
      { name: 'pod → ClusterIP: nat PREROUTING rules tested, iptables mode', value: a.evaluated, unit: 'rules', note: `linear walk, ends in ${a.verdict}` },
      { name: 'pod → ClusterIP: nat PREROUTING rules tested, IPVS mode', value: b.evaluated, unit: 'rules', note: `linear walk (${b.verdict}), then one IPVS service-table lookup at LOCAL_IN` },
    ];
  },
};
export default suite;
