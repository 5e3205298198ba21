/**
 * kube-proxy IPVS mode end to end (issue 6): topologies/flannel-vxlan-ipvs.yaml traced from a pod,
 * the external client and a node, compared with minimal goldens (goldens/ipvs-*.txt), and the
 * same requests under iptables mode (topologies/flannel-vxlan.yaml: same manifests, same pods)
 * reaching the same endpoints with the same probabilities.
 *
 * What each golden must show, as Linux does it (ip_vs_core.c / ip_vs_xmit.c, kube-proxy's IPVS rules):
 * - pod → ClusterIP: the VIP is local (kube-ipvs0), so IPVS DNATs at LOCAL_IN; no masquerade
 *   (KUBE-CLUSTER-IP src,dst matches only VIP sources); the reply's source is set back to the VIP
 *   by ip_vs_reply4 at FORWARD (for the endpoint on the client's bridge: br_netfilter's FORWARD).
 * - external → NodePort (eTP Cluster): KUBE-NODE-PORT marks, IPVS DNATs, KUBE-POSTROUTING
 *   masquerades to the outgoing device's address (flannel.1's .0, cni0's .1 for a local endpoint).
 * - hairpin: the endpoint reaching its own Service lands on itself: KUBE-LOOP-BACK
 *   (dst,dst,src) masquerades it to cni0's address, without --random-fully (port kept).
 * - node → ClusterIP: the source is the VIP (kube-ipvs0's local route's src), so KUBE-CLUSTER-IP
 *   src,dst marks it and KUBE-POSTROUTING masquerades; IPVS schedules at LOCAL_OUT.
 *
 * Regenerate after an intended change: UPDATE_GOLDENS=1 npx vitest run test/scenarios/ipvs.test.ts
 */
import { describe, expect, it } from 'vitest';
import { bundledWorld, expectGolden } from '../support/scenarios.js';
import { renderTrace, traceRequest, validateTrace, type Trace, type TraceRequest } from '../../src/index.js';

const world = bundledWorld;

const IPVS = 'flannel-vxlan-ipvs';
const HAIRPIN_POD = 'pod/default/web-758d5775bc-gspxk';

const SCENARIOS: { name: string; req: TraceRequest }[] = [
  { name: 'ipvs-pod-to-clusterip', req: { from: 'pod/default/client', to: 'svc/default/web:80', all: true } },
  { name: 'ipvs-external-nodeport', req: { from: 'client/laptop', to: '192.168.56.12:30080', all: true } },
  { name: 'ipvs-hairpin', req: { from: HAIRPIN_POD, to: 'svc/default/web:80', all: true } },
  { name: 'ipvs-node-to-clusterip', req: { from: 'node/node-1', to: 'svc/default/web:http', all: true } },
];

function steps(t: Trace, o: number, kind: string) {
  const all = (xs: readonly { kind: string; children?: unknown[] }[]): { kind: string; text: string }[] =>
    xs.flatMap((s) => [s as { kind: string; text: string }, ...all((s.children ?? []) as { kind: string }[])]);
  return t.outcomes[o]!.hops.flatMap((h) => all(h.steps)).filter((s) => s.kind === kind);
}

describe('kube-proxy IPVS mode: scenario goldens (minimal traces)', () => {
  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const { trace } = traceRequest(await world(IPVS), s.req);
      expect(validateTrace(trace)).toEqual([]);
      const text = `# ${IPVS}: podpath trace --from ${s.req.from} --to ${s.req.to}${s.req.all ? ' --all' : ''} --format minimal\n${renderTrace(trace, 'minimal')}`;
      expectGolden(s.name, text);
    });
  }
});

describe('kube-proxy IPVS mode: behaviour', () => {
  it('pod → ClusterIP: one IPVS lookup (service table bucket), rr over 3 real servers (p=1/3 each), no masquerade, reply from the VIP', async () => {
    const { trace } = traceRequest(await world(IPVS), { from: 'pod/default/client', to: 'svc/default/web:80', all: true });
    expect(trace.outcomes).toHaveLength(3);
    expect(trace.outcomes.reduce((a, o) => a + o.probability, 0)).toBeCloseTo(1, 12);
    for (const [i, o] of trace.outcomes.entries()) {
      expect(o.probability).toBeCloseTo(1 / 3, 12);
      expect(o.disposition).toBe('delivered');
      expect(o.masqueraded).toBe(false);
      expect(o.received).toMatchObject({ src: '10.244.0.3', dst: o.endpoint!.ip, dport: 8080 });
      expect(o.reply?.received).toMatchObject({ src: '10.96.100.10', sport: 80, dst: '10.244.0.3' });
      expect(o.reply?.matchesRequest).toBe(true);
      const ipvs = steps(trace, i, 'ipvs');
      expect(ipvs[0]!.text).toMatch(/ip_vs_service_find TCP 10\.96\.100\.10:80 → bucket \d+ of the service table \(entry \d+ of \d+\): one hash lookup/);
      expect(ipvs[1]!.text).toMatch(/ip_vs_schedule: rr: .*p=0\.333333.* → real server 10\.244\.\d+\.\d+:8080 Masq/);
      // no iptables DNAT anywhere: the rewrite is IPVS's
      expect(steps(trace, i, 'nat').map((s) => (s as unknown as { nat: string }).nat)).not.toContain('DNAT');
    }
  });

  it('hairpin: the endpoint that reaches itself through its Service is masqueraded to cni0 by KUBE-LOOP-BACK', async () => {
    const { trace } = traceRequest(await world(IPVS), { from: HAIRPIN_POD, to: 'svc/default/web:80', all: true });
    const self = trace.outcomes.findIndex((o) => o.endpoint?.pod === HAIRPIN_POD.slice(4));
    expect(self).toBeGreaterThanOrEqual(0);
    const o = trace.outcomes[self]!;
    expect(o.masqueraded).toBe(true);
    expect(o.received).toMatchObject({ src: '10.244.0.1', sport: 40000, dst: '10.244.0.2', dport: 8080 });
    expect(steps(trace, self, 'rule').some((r) => r.text.includes('KUBE-LOOP-BACK dst,dst,src -j MASQUERADE'))).toBe(true);
    expect(o.reply?.received).toMatchObject({ src: '10.96.100.10', sport: 80, dst: '10.244.0.2', dport: 40000 });
    // the others are not hairpins: no masquerade
    for (const x of trace.outcomes.filter((_, i) => i !== self)) expect(x.masqueraded).toBe(false);
  });

  it('node → ClusterIP: the source is the VIP itself, so it is masqueraded (KUBE-CLUSTER-IP src,dst); IPVS schedules at LOCAL_OUT', async () => {
    const { trace } = traceRequest(await world(IPVS), { from: 'node/node-1', to: 'svc/default/web:80', all: true });
    expect(trace.outcomes).toHaveLength(3);
    for (const [i, o] of trace.outcomes.entries()) {
      expect(o.disposition).toBe('delivered');
      expect(o.masqueraded).toBe(true);
      expect(steps(trace, i, 'ipvs')[0]!.text).toMatch(/^ip_vs_local_request4: /);
      expect(o.reply?.received).toMatchObject({ src: '10.96.100.10', sport: 80, dst: '10.96.100.10', dport: 40000 });
    }
  });
});

describe('the same request under iptables and IPVS mode reaches the same endpoints', () => {
  const REQUESTS: TraceRequest[] = [
    { from: 'pod/default/client', to: 'svc/default/web:80', all: true },
    { from: 'client/laptop', to: '192.168.56.12:30080', all: true },
    { from: 'node/node-1', to: 'svc/default/web:80', all: true },
  ];
  for (const req of REQUESTS) {
    it(`${req.from} → ${req.to}`, async () => {
      const ends = async (topo: string) =>
        traceRequest(await world(topo), req)
          .trace.outcomes.map((o) => `${o.disposition} ${o.endpoint?.pod} ${o.endpoint?.ip}:${o.endpoint?.port} p=${o.probability.toFixed(9)}`)
          .sort();
      const iptables = await ends('flannel-vxlan');
      const ipvs = await ends(IPVS);
      expect(iptables).toHaveLength(3);
      expect(ipvs).toEqual(iptables);
    });
  }
});
