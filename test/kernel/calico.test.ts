/**
 * Issue 7 item 7, kernel differential for Calico: a 2-node calico-bgp World (no encapsulation:
 * routes BIRD installs from the src/bgp Loc-RIBs, `proto bird`; cali veths with proxy ARP and the
 * 169.254.1.1 gateway) and a 2-node calico-vxlan World (vxlan.calico, VNI 4096, UDP 4789) are
 * materialised into real network namespaces (src/kernel materialize). Real TCP connections from
 * the client pod are compared with podpath's `--all` trace of the same request (same source port):
 * the endpoint the kernel reached must be one of podpath's outcomes and every outcome reached, the
 * source address the server sees must be podpath's `received`; on the underlay, tshark must see
 * VXLAN (VNI 4096, port 4789) with podpath's outer/inner addresses, or bare pod packets in BGP mode.
 *
 * IPIP is not covered: this kernel has no ipip module (tunl0 cannot be created).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTopology } from '../../src/cluster/spec/loader.js';
import { buildWorld, type World } from '../../src/cluster/world.js';
import { materialize, mustRun, type ConnectResult, type Materialized } from '../../src/kernel/index.js';
import { formatRoutes } from '../../src/routing/index.js';
import type { Outcome } from '../../src/trace/index.js';
import { resolveDestination, resolveSource, traceRequest } from '../../src/tracer/index.js';
import { FIXTURES, hostPort, layersOf, worldLabSupport } from './world-lab.js';

const support = worldLabSupport('test/kernel/calico.test.ts');

/** Connections per ClusterIP case: with two endpoints at p = 0.5, both are reached with probability 1 − 2⁻¹⁵. */
const CONNECTIONS = 16;

for (const mode of ['bgp', 'vxlan'] as const) {
  describe.skipIf(!support.ok)(`calico ${mode}: the kernel agrees with podpath`, () => {
    let world: World;
    let lab: Materialized;
    let dir: string;
    let sportBase = 43000;

    beforeAll(async () => {
      world = buildWorld(await loadTopology(join(FIXTURES, `kernel-calico-${mode}.yaml`)));
      lab = await materialize(world);
      dir = mkdtempSync(join(tmpdir(), 'pp-kernel-calico-'));
    });
    afterAll(async () => {
      await lab?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const webPod = (node: string) => [...world.pods.values()].find((p) => p.key.startsWith('default/web-') && p.node === node)!;

    async function differential(from: string, to: string, count: number): Promise<Map<string, number>> {
      const src = resolveSource(world, from);
      const dst = resolveDestination(world, to, 'tcp');
      const first = sportBase;
      sportBase += count + 10;
      const results: ConnectResult[] = await lab.connect(src.netns, [{ dst: dst.ip, port: dst.port!, count, sport: first }]);
      expect(results).toHaveLength(count);
      const reached = new Map<string, number>();
      let outcomes: Outcome[] = [];
      for (const [k, r] of results.entries()) {
        const sport = first + k;
        const { trace } = traceRequest(world, { from, to, sport, all: true });
        outcomes = trace.outcomes;
        const what = `${from} → ${to} connection ${k} (sport ${sport}): kernel ${JSON.stringify(r)}`;
        expect(r.ok && r.served, `${what}: podpath says ${trace.outcomes.map((o) => o.disposition).join(', ')}`).toBeTruthy();
        if (!r.ok || !r.served) continue;
        const ep = hostPort(r.served.local);
        const o = trace.outcomes.find((x) => x.endpoint?.ip === ep.ip && x.endpoint.port === ep.port);
        expect(o, `${what}: the endpoint reached is none of podpath's outcomes`).toBeDefined();
        if (!o) continue;
        reached.set(ep.ip, (reached.get(ep.ip) ?? 0) + 1);
        expect(o.disposition, what).toBe('delivered');
        expect(r.served.owner, what).toBe(`pod/${o.endpoint!.pod}`);
        const seen = hostPort(r.served.peer);
        expect(seen.ip, `${what}: source the server sees vs podpath received`).toBe(o.received!.src);
        expect(seen.port, `${what}: no masquerade pod → pod`).toBe(o.received!.sport);
        expect(r.peer === `${dst.ip}:${dst.port}`, `${what}: reply matches the request`).toBe(o.reply?.matchesRequest === true);
      }
      for (const o of outcomes) if (o.disposition === 'delivered') expect(reached.get(o.endpoint!.ip) ?? 0, `${from} → ${to}: outcome ${JSON.stringify(o.endpoint)} never reached`).toBeGreaterThan(0);
      return reached;
    }

    it('the namespaces hold podpath\'s routes (BIRD\'s proto bird / Felix\'s), and the pods their 169.254.1.1 gateway', async () => {
      for (const n of world.nodes.values()) {
        const ns = world.fabric.get(n.netns);
        const want = formatRoutes(ns.spec.rib.routes(4)).split('\n').filter(Boolean).map((l) => l.trim()).sort();
        const got = (await lab.must(n.netns, ['ip', 'route', 'show'])).split('\n').filter(Boolean).map((l) => l.trim()).sort();
        expect(got, `${n.name} ip route`).toEqual(want);
        const other = [...world.nodes.values()].find((x) => x !== n)!;
        const block = world.topology.calico!.ipam.blocksOf(other.name)[0]!.cidr;
        // independent of podpath's text: the remote block's route as calico.md §3 / §5.5 describe it
        if (mode === 'bgp') expect(got).toContain(`${block} via ${other.ip} dev eth0 proto bird`);
        else expect(got.some((l) => l.startsWith(`${block} via `) && l.includes(' dev vxlan.calico ') && l.includes('onlink'))).toBe(true);
        expect(got.some((l) => /^blackhole \S+ proto (bird|80)/.test(l))).toBe(true);
      }
      const client = resolveSource(world, 'pod/default/client');
      const pr = await lab.must(client.netns, ['ip', 'route', 'show']);
      expect(pr).toContain('default via 169.254.1.1 dev eth0');
      expect(pr).toContain('169.254.1.1 dev eth0 scope link');
      // the host side answers ARP for 169.254.1.1 by proxy ARP on the cali veth
      const w = world.nodes.get('node-1')!.calico!.workloads.find((x) => x.key === 'default/client')!;
      expect((await lab.must('node-1', ['sysctl', '-n', `net.ipv4.conf.${w.iface}.proxy_arp`])).trim()).toBe('1');
      expect(lab.gaps.filter((g) => !g.what.startsWith('listener of pod/default/client'))).toEqual([]);
    });

    it('pod → ClusterIP: both endpoints (one across nodes), addresses seen, replies', async () => {
      const r = await differential('pod/default/client', 'svc/default/web:80', CONNECTIONS);
      expect(r.size).toBe(2);
    });

    it(`pod → pod across nodes: ${mode === 'vxlan' ? 'VXLAN VNI 4096 on UDP 4789 as podpath\'s hops say (tshark)' : 'bare pod packets on the wire'}`, async () => {
      const target = webPod('node-2');
      const to = `${target.ip}:8080`;
      const seg = lab.segments.get(world.topology.nodes.find((n) => n.name === 'node-1')!.network)!;
      const port = seg.ports.get('node-1 eth0')!;
      const file = join(dir, `${mode}-underlay.pcap`);
      const cap = await lab.capture(lab.segmentsNetns, port, file);
      const sport = sportBase;
      let reached: Map<string, number>;
      try {
        reached = await differential('pod/default/client', to, 3);
      } finally {
        await cap.stop();
      }
      expect(reached.get(target.ip)).toBe(3);
      const fields = ['eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'udp.dstport', 'vxlan.vni', 'tcp.srcport', 'tcp.dstport', 'tcp.flags.syn', 'tcp.flags.ack'];
      const out = await mustRun(['tshark', '-r', file, '-d', 'udp.port==4789,vxlan', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])]);
      const rows = out.split('\n').filter(Boolean).map((l) => Object.fromEntries(l.split('|').map((v, i) => [fields[i]!, v])) as Record<string, string>);
      const { trace } = traceRequest(world, { from: 'pod/default/client', to, sport, all: true });
      expect(trace.outcomes).toHaveLength(1);
      const o = trace.outcomes[0]!;
      const reqHop = o.hops.find((h) => h.netns === 'node-1' && h.out === 'eth0')!;
      const repHop = o.reply!.hops.find((h) => h.netns === 'node-2' && h.out === 'eth0')!;
      expect(reqHop).toBeDefined();
      expect(repHop).toBeDefined();
      const syn = rows.find((r) => r['tcp.srcport'] === String(sport) && r['tcp.flags.syn'] === '1' && r['tcp.flags.ack'] === '0');
      const synAck = rows.find((r) => r['tcp.dstport'] === String(sport) && r['tcp.flags.syn'] === '1' && r['tcp.flags.ack'] === '1');
      expect(syn, `SYN on the wire:\n${out}`).toBeDefined();
      expect(synAck, `SYN-ACK on the wire:\n${out}`).toBeDefined();
      const n1 = world.nodes.get('node-1')!.ip;
      const n2 = world.nodes.get('node-2')!.ip;
      for (const [row, hop, outerSrc] of [
        [syn!, reqHop, n1],
        [synAck!, repHop, n2],
      ] as const) {
        const L = layersOf(hop, 'packetOut');
        const eth = L.filter((l) => l.kind === 'ethernet');
        const ip = L.filter((l) => l.kind === 'ipv4');
        expect(row['eth.src'], 'eth src (outer,inner)').toBe(eth.map((l) => l.src).join(','));
        expect(row['eth.dst'], 'eth dst (outer,inner)').toBe(eth.map((l) => l.dst).join(','));
        expect(row['ip.src'], 'ip src (outer,inner)').toBe(ip.map((l) => l.src).join(','));
        expect(row['ip.dst'], 'ip dst (outer,inner)').toBe(ip.map((l) => l.dst).join(','));
        if (mode === 'vxlan') {
          // Felix's device: VNI 4096 on UDP 4789, outer source the sending node (calico.md §4)
          expect(row['udp.dstport']).toBe('4789');
          expect(row['vxlan.vni']).toBe('4096');
          expect(row['ip.src']!.split(',')[0]).toBe(outerSrc);
          expect(row['eth.src']!.split(',')[1]).toMatch(/^66:/); // inner source: the sender's VTEP MAC, 0x66 + SHA-1(node)
        } else {
          expect(L.some((l) => l.kind === 'udp' || l.kind === 'vxlan')).toBe(false);
          expect(row['udp.dstport']).toBe('');
          expect(row['ip.src']).not.toContain(','); // one IP header
        }
      }
    });
  });
}
