import type { BenchSuite, Figure } from './harness.js';
import { measure, timeOnce } from './harness.js';
import { KubeProxyIptables, generateIptablesRules } from '../src/cluster/controllers/kube-proxy-iptables/index.js';
import { makeService, makeSlice } from '../src/cluster/controllers/kube-proxy-iptables/fixtures.js';
import type { EndpointSlice, Service } from '../src/cluster/objects.js';
import type { NodeProxyConfig } from '../src/cluster/controllers/kube-proxy-iptables/index.js';

/**
 * Issue 4 item 8: one node's full kube-proxy iptables ruleset for 10,000 Services × 10 endpoints
 * (≤ 1 s), and one endpoint added to one Service → regenerate the touched chains and produce the
 * diff (≤ 10 ms).
 */
export const SERVICES = 10_000;
export const ENDPOINTS = 10;

/** The benchmark cluster: 10,000 Services (every tenth a NodePort) × 10 endpoints on 3 nodes; the IPVS-mode bench uses it too. */
export function cluster(): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const ns = `ns${i % 50}`;
    const name = `svc${i}`;
    const type = i % 10 === 0 ? 'NodePort' : 'ClusterIP';
    services.push(
      makeService(ns, name, {
        type,
        clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
        ports: [{ name: 'http', port: 80, protocol: 'TCP', ...(type === 'NodePort' ? { nodePort: 30000 + (i % 2768) } : {}) }],
      }),
    );
    slices.push(sliceFor(ns, name, i, ENDPOINTS));
  }
  return { services, slices };
}

function sliceFor(ns: string, name: string, i: number, n: number): EndpointSlice {
  const eps = Array.from({ length: n }, (_, e) => ({
    addresses: [`10.${64 + (i >> 12)}.${(i >> 4) & 255}.${((i & 15) << 4) + e}`],
    nodeName: `node-${e % 3}`,
    conditions: { ready: true },
  }));
  return makeSlice(ns, name, 1, 'IPv4', eps, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
}

const node: NodeProxyConfig = {
  nodeName: 'node-0',
  nodeIPs: ['192.168.56.11'],
  clusterCIDRs: ['10.64.0.0/10'],
  localDetector: { mode: 'ClusterCIDR' },
};

const suite: BenchSuite = {
  name: 'kube-proxy-iptables',
  async run(): Promise<Figure[]> {
    const { services, slices } = cluster();
    let rules = 0;
    let bytes = 0;
    // the first call includes JIT warm-up: reported on its own, the figure is the best of the next 3
    const full = () => {
      const r = generateIptablesRules({ services, endpointSlices: slices, node, family: 4 });
      bytes = r.payload.length;
    };
    const coldMs = timeOnce(full, 1);
    const fullMs = timeOnce(full, 3);
    // the same, also materialising every rule's (table, chain, index) and provenance
    const fullRulesMs = timeOnce(() => {
      const r = generateIptablesRules({ services, endpointSlices: slices, node, family: 4 });
      rules = r.rules.length;
    }, 2);

    const kp = new KubeProxyIptables(node, 4);
    kp.load(services, slices);
    const target = 4321;
    const ns = `ns${target % 50}`;
    const grown = sliceFor(ns, `svc${target}`, target, ENDPOINTS + 1);
    const base = sliceFor(ns, `svc${target}`, target, ENDPOINTS);
    let flip = false;
    let diffSize = 0;
    const upd = measure('add one endpoint', () => {
      flip = !flip;
      const d = kp.update([{ kind: 'EndpointSlice', op: 'update', object: flip ? grown : base }]);
      diffSize = d.added.length + d.removed.length;
    }, { maxTime: 2 });

    const kpPartial = new KubeProxyIptables(node, 4, { partialSyncPayload: true });
    kpPartial.load(services, slices);
    let partialBytes = 0;
    const updPartial = measure('add one endpoint + partial payload', () => {
      flip = !flip;
      const d = kpPartial.update([{ kind: 'EndpointSlice', op: 'update', object: flip ? grown : base }]);
      partialBytes = d.payload?.length ?? 0;
    }, { maxTime: 2 });

    return [
      { name: `full ruleset, ${SERVICES} Services × ${ENDPOINTS} endpoints`, value: fullMs, unit: 'ms', target: '≤ 1000 ms', ok: fullMs <= 1000, note: `best of 3 after a first call of ${coldMs.toFixed(0)} ms; ${rules} rules, ${(bytes / 2 ** 20).toFixed(1)} MiB payload` },
      { name: 'same, with every rule\'s position + provenance materialised', value: fullRulesMs, unit: 'ms' },
      { name: 'one endpoint added: regenerate touched chains + diff', value: upd.medianUs / 1000, unit: 'ms', target: '≤ 10 ms', ok: upd.medianUs <= 10_000, note: `median of ${upd.samples}; ${diffSize} rules in diff` },
      { name: 'same, plus kube-proxy partial-sync payload', value: updPartial.medianUs / 1000, unit: 'ms', note: `${(partialBytes / 2 ** 20).toFixed(2)} MiB payload` },
    ];
  },
};
export default suite;
