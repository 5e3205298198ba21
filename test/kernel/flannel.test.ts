/**
 * Issue 5 item 8, the ground truth of the cross-node tracer: a 2-node flannel vxlan World and a
 * 2-node flannel host-gw World are materialised into real network namespaces from podpath's own
 * state (src/kernel materialize: devices, MACs, addresses, routes, PERMANENT neighbours, VXLAN FDB,
 * sysctls, iptables-restore of podpath's iptables-save, listeners). Real TCP connections are made
 * from the real source namespace and compared with podpath's `--all` trace of the same request
 * (same source port): the endpoint the kernel reached must be one of podpath's outcomes and every
 * outcome must be reached; the source address (and, when podpath does not rewrite it, the port) the
 * server sees must equal the outcome's `received`; the client must be connected to the address it
 * dialled exactly when podpath says the reply matches the request. VXLAN on the wire is captured on
 * node-1's underlay port and decoded by tshark (`-d udp.port==8472,vxlan`), then compared field by
 * field with the hop's packetOut; host-gw must put pod packets on the wire unencapsulated.
 *
 * Not compared, by construction: the outer UDP source port (the kernel hashes the inner flow with a
 * boot-time secret) and the port MASQUERADE --random-fully picks (random in both).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTopology } from '../../src/cluster/spec/loader.js';
import { buildWorld, type World } from '../../src/cluster/world.js';
import { materialize, mustRun, type ConnectResult, type Materialized } from '../../src/kernel/index.js';
import { formatNeigh, formatRoutes } from '../../src/routing/index.js';
import type { Outcome } from '../../src/trace/index.js';
import { resolveDestination, resolveSource, traceRequest } from '../../src/tracer/index.js';
import { FIXTURES, hostPort, layersOf, worldLabSupport } from './world-lab.js';

const support = worldLabSupport('test/kernel/flannel.test.ts');

/** Connections per case: with two endpoints at p = 0.5, both are reached with probability 1 − 2⁻²³. */
const CONNECTIONS = 24;

interface CaseReport {
  readonly reached: Map<string, number>;
  readonly masqPorts: { podpath: number; kernel: number }[];
}

for (const mode of ['vxlan', 'host-gw'] as const) {
  describe.skipIf(!support.ok)(`flannel ${mode}: the kernel agrees with podpath`, () => {
    let world: World;
    let lab: Materialized;
    let dir: string;
    let sportBase = 41000;

    beforeAll(async () => {
      world = buildWorld(await loadTopology(join(FIXTURES, `kernel-flannel-${mode}.yaml`)));
      lab = await materialize(world);
      dir = mkdtempSync(join(tmpdir(), 'pp-kernel-'));
    });
    afterAll(async () => {
      await lab?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const webPod = (node: string) => [...world.pods.values()].find((p) => p.key.startsWith('default/web-') && p.node === node)!;

    /**
     * `count` connections from `from` to `to`, each compared with podpath's --all trace of the same
     * request (same source port). Returns which endpoints the kernel reached.
     */
    async function differential(from: string, to: string, count = CONNECTIONS): Promise<CaseReport> {
      const src = resolveSource(world, from);
      const dst = resolveDestination(world, to, 'tcp');
      const first = sportBase;
      sportBase += count + 10;
      const results: ConnectResult[] = await lab.connect(src.netns, [{ dst: dst.ip, port: dst.port!, count, sport: first }]);
      expect(results).toHaveLength(count);
      const reached = new Map<string, number>();
      const masqPorts: { podpath: number; kernel: number }[] = [];
      let outcomes: Outcome[] = [];
      for (const [k, r] of results.entries()) {
        const sport = first + k;
        const { trace } = traceRequest(world, { from, to, sport, all: true });
        outcomes = trace.outcomes;
        const what = `${from} → ${to} connection ${k} (sport ${sport}): kernel ${JSON.stringify(r)}`;
        if (!r.ok || !r.served) {
          // the kernel did not deliver: podpath must have a failing outcome
          expect(trace.outcomes.some((o) => o.disposition !== 'delivered'), what).toBe(true);
          continue;
        }
        const served = r.served;
        const ep = hostPort(served.local);
        const o = trace.outcomes.find((x) => x.endpoint?.ip === ep.ip && x.endpoint.port === ep.port);
        expect(o, `${what}: the endpoint reached is none of podpath's outcomes ${trace.outcomes.map((x) => JSON.stringify(x.endpoint)).join(', ')}`).toBeDefined();
        if (!o) continue;
        reached.set(ep.ip, (reached.get(ep.ip) ?? 0) + 1);
        expect(o.disposition, what).toBe('delivered');
        expect(served.owner, what).toBe(`pod/${o.endpoint!.pod}`);
        // what the server sees: podpath's `received` (masquerade decisions)
        const seen = hostPort(served.peer);
        expect(seen.ip, `${what}: source address the server sees vs podpath received ${JSON.stringify(o.received)}`).toBe(o.received!.src);
        if (o.received!.sport === sport) expect(seen.port, `${what}: podpath keeps the source port`).toBe(sport);
        else masqPorts.push({ podpath: o.received!.sport!, kernel: seen.port });
        // the reply: the client is connected to what it dialled iff podpath says the reply matches
        expect(r.local, what).toBe(`${hostPort(r.local!).ip}:${sport}`);
        expect(r.peer === `${dst.ip}:${dst.port}`, `${what}: reply ${JSON.stringify(o.reply)}`).toBe(o.reply?.matchesRequest === true);
      }
      // coverage: every endpoint podpath says is possible was reached
      for (const o of outcomes) if (o.disposition === 'delivered') expect(reached.get(o.endpoint!.ip) ?? 0, `${from} → ${to}: podpath outcome ${JSON.stringify(o.endpoint)} (p=${o.probability}) never reached in ${count} connections`).toBeGreaterThan(0);
      return { reached, masqPorts };
    }

    it('the namespaces hold podpath\'s state: routes, PERMANENT neighbours, VXLAN FDB', async () => {
      for (const n of world.nodes.values()) {
        const ns = world.fabric.get(n.netns);
        const want = formatRoutes(ns.spec.rib.routes(4)).split('\n').filter(Boolean).map((l) => l.trim()).sort();
        const got = (await lab.must(n.netns, ['ip', 'route', 'show'])).split('\n').filter(Boolean).map((l) => l.trim()).sort();
        expect(got, `${n.name} ip route`).toEqual(want);
        const neigh = (await lab.must(n.netns, ['ip', 'neigh', 'show', 'nud', 'permanent'])).split('\n').filter(Boolean).map((l) => l.trim()).sort();
        expect(neigh, `${n.name} ip neigh`).toEqual(ns.spec.rib.neigh.entries().filter((e) => e.state === 'PERMANENT').map((e) => formatNeigh(e).trim()).sort());
        const vx = ns.spec.devices.find((d) => d.kind === 'vxlan');
        if (mode === 'vxlan') expect(vx, `${n.name} has flannel.1`).toBeDefined();
        if (vx) {
          const fdb = (await lab.must(n.netns, ['bridge', 'fdb', 'show', 'dev', vx.name])).split('\n').filter(Boolean).map((l) => l.trim()).sort();
          expect(fdb).toEqual(ns.spec.fdb.filter((e) => e.dev === vx.name).map((e) => `${e.mac} dst ${e.dst} self${e.permanent ? ' permanent' : ''}`).sort());
        }
      }
      expect(lab.gaps.filter((g) => !g.what.startsWith('listener of pod/default/client'))).toEqual([]);
    });

    it('pod → ClusterIP: endpoints, addresses seen, replies', async () => {
      const r = await differential('pod/default/client', 'svc/default/web:80');
      expect(r.reached.size).toBe(2);
    });

    it('hairpin: a pod to its own Service, landing on itself and on the other pod', async () => {
      const me = webPod('node-1');
      const r = await differential(`pod/${me.key}`, 'svc/default/web:80');
      expect(r.reached.get(me.ip) ?? 0).toBeGreaterThan(0);
    });

    it('external → NodePort on node-1: endpoints, masquerade address, replies', async () => {
      const n1 = world.nodes.get('node-1')!;
      const r = await differential('client/laptop', `${n1.ip}:30080`);
      expect(r.reached.size).toBe(2);
      // --random-fully: the kernel rewrote the port of (nearly) every masqueraded connection too
      expect(r.masqPorts.length).toBeGreaterThan(0);
      expect(r.masqPorts.filter((p) => p.kernel !== p.podpath).length).toBeGreaterThan(r.masqPorts.length / 2);
    });

    it(`pod → pod across nodes: ${mode === 'vxlan' ? 'VXLAN on the wire as podpath\'s hops say (tshark)' : 'unencapsulated on the wire'}`, async () => {
      const target = webPod('node-2');
      const to = `${target.ip}:8080`;
      const seg = lab.segments.get(world.topology.nodes.find((n) => n.name === 'node-1')!.network)!;
      const port = seg.ports.get('node-1 eth0')!;
      const file = join(dir, `${mode}-underlay.pcap`);
      const cap = await lab.capture(lab.segmentsNetns, port, file);
      const sport = sportBase;
      let report: CaseReport;
      try {
        report = await differential('pod/default/client', to, 3);
      } finally {
        await cap.stop();
      }
      expect(report.reached.get(target.ip)).toBe(3);
      const fields = ['frame.number', 'eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'ip.ttl', 'udp.srcport', 'udp.dstport', 'vxlan.vni', 'tcp.srcport', 'tcp.dstport', 'tcp.flags.syn', 'tcp.flags.ack'];
      const out = await mustRun(['tshark', '-r', file, '-d', 'udp.port==8472,vxlan', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])]);
      const rows = out
        .split('\n')
        .filter(Boolean)
        .map((l) => Object.fromEntries(l.split('|').map((v, i) => [fields[i]!, v])) as Record<string, string>);
      const { trace } = traceRequest(world, { from: 'pod/default/client', to, sport, all: true });
      expect(trace.outcomes).toHaveLength(1);
      const o = trace.outcomes[0]!;
      const reqHop = o.hops.find((h) => h.netns === 'node-1' && h.out === 'eth0')!;
      const repHop = o.reply!.hops.find((h) => h.netns === 'node-2' && h.out === 'eth0')!;
      expect(reqHop, 'podpath: node-1 sends the request out of eth0').toBeDefined();
      expect(repHop, 'podpath: node-2 sends the reply out of eth0').toBeDefined();
      const syn = rows.find((r) => r['tcp.srcport'] === String(sport) && r['tcp.flags.syn'] === '1' && r['tcp.flags.ack'] === '0');
      const synAck = rows.find((r) => r['tcp.dstport'] === String(sport) && r['tcp.flags.syn'] === '1' && r['tcp.flags.ack'] === '1');
      expect(syn, `SYN on the wire:\n${out}`).toBeDefined();
      expect(synAck, `SYN-ACK on the wire:\n${out}`).toBeDefined();
      for (const [row, hop] of [
        [syn!, reqHop],
        [synAck!, repHop],
      ] as const) {
        const L = layersOf(hop, 'packetOut');
        const want = L.filter((l) => l.kind === 'ethernet' || l.kind === 'ipv4' || l.kind === 'udp' || l.kind === 'vxlan' || l.kind === 'tcp');
        const eth = want.filter((l) => l.kind === 'ethernet');
        const ip = want.filter((l) => l.kind === 'ipv4');
        const tcp = want.find((l) => l.kind === 'tcp')!;
        expect(row['eth.src'], 'eth src (outer,inner)').toBe(eth.map((l) => l.src).join(','));
        expect(row['eth.dst'], 'eth dst (outer,inner)').toBe(eth.map((l) => l.dst).join(','));
        expect(row['ip.src'], 'ip src (outer,inner)').toBe(ip.map((l) => l.src).join(','));
        expect(row['ip.dst'], 'ip dst (outer,inner)').toBe(ip.map((l) => l.dst).join(','));
        expect(row['ip.ttl'], 'ip ttl (outer,inner)').toBe(ip.map((l) => l.ttl).join(','));
        expect(row['tcp.srcport']).toBe(String(tcp.sport));
        expect(row['tcp.dstport']).toBe(String(tcp.dport));
        if (mode === 'vxlan') {
          const udp = want.find((l) => l.kind === 'udp')!;
          const vxlan = want.find((l) => l.kind === 'vxlan')!;
          expect(row['udp.dstport']).toBe('8472');
          expect(udp.dport).toBe(8472);
          expect(row['vxlan.vni']).toBe('1');
          expect(vxlan.vni).toBe(1);
          const nodes = [world.nodes.get('node-1')!.ip, world.nodes.get('node-2')!.ip];
          expect(row['ip.src']!.split(',')[0]).toBe(row === syn ? nodes[0] : nodes[1]);
        } else {
          expect(L.some((l) => l.kind === 'udp' || l.kind === 'vxlan')).toBe(false);
        }
      }
      // pod traffic crosses the underlay only as podpath says: VXLAN-wrapped, or bare
      const podRows = rows.filter((r) => /(^|,)10\.244\./.test(r['ip.src'] ?? ''));
      expect(podRows.length).toBeGreaterThan(0);
      for (const r of podRows) {
        if (mode === 'vxlan') expect(r['vxlan.vni'], JSON.stringify(r)).toBe('1');
        else expect(r['udp.dstport'] ?? '', JSON.stringify(r)).toBe('');
      }
    });
  });
}
