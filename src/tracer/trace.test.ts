import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../base/index.js';
import { loadTopology } from '../cluster/spec/loader.js';
import { buildWorld, type World } from '../cluster/world.js';
import { formatRoutes } from '../routing/index.js';
import { udpFlowSrcPort, LOCAL_PORT_RANGE, type Device } from '../netns/index.js';
import { validateTrace, type Step } from '../trace/index.js';
import { traceDelivered, traceRequest } from './trace.js';

const TOPOS = join(import.meta.dirname, '..', '..', 'topologies');
let world: World;
beforeAll(async () => {
  world = buildWorld(await loadTopology(join(TOPOS, 'flannel-vxlan.yaml')));
});

function flat(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => [s, ...flat(s.children ?? [])]);
}
function webPod(node: string): string {
  return [...world.pods.values()].find((p) => p.key.startsWith('default/web-') && p.node === node)!.key;
}

describe('World', () => {
  it('wires each pod: eth0 ↔ a veth<8 hex> port of cni0 with hairpin on, routes as the bridge + host-local plugins leave them', () => {
    const p = world.pods.get('default/client')!;
    expect(p.hostVeth).toMatch(/^veth[0-9a-f]{8}$/);
    const node = world.fabric.get(p.node);
    expect(node.device(p.hostVeth!)).toMatchObject({ kind: 'veth', master: 'cni0', mtu: 1450, port: { hairpin: true } });
    const pod = world.fabric.get(p.netns);
    // flannel.md §1.4 (the kernel lists /24 before /16: fib_insert_alias orders a leaf by suffix length);
    // compared as a set here because routing's formatRoutes orders them the other way (reported).
    expect(formatRoutes(pod.spec.rib.routes(4)).split('\n').filter(Boolean).sort()).toEqual(['default via 10.244.0.1 dev eth0 ', `10.244.0.0/24 dev eth0 proto kernel scope link src ${p.ip} `, '10.244.0.0/16 via 10.244.0.1 dev eth0 '].sort());
    expect(pod.device('eth0')).toMatchObject({ mtu: 1450, peer: { netns: p.node, dev: p.hostVeth } });
  });
});

describe('traceRequest', () => {
  it('pod → ClusterIP --all: one outcome per endpoint, probabilities summing to 1, every trace valid, replies un-DNATed', () => {
    const { trace } = traceRequest(world, { from: 'pod/default/client', to: 'svc/default/web:80', all: true });
    expect(validateTrace(trace)).toEqual([]);
    expect(trace.outcomes).toHaveLength(3);
    expect(trace.outcomes.reduce((s, o) => s + o.probability, 0)).toBeCloseTo(1, 12);
    for (const o of trace.outcomes) {
      expect(o.disposition).toBe('delivered');
      expect(o.reply?.received).toEqual({ src: '10.96.100.10', sport: 80, dst: world.pods.get('default/client')!.ip, dport: 40000, proto: 'tcp' });
      expect(o.reply?.matchesRequest).toBe(true);
    }
    expect(traceDelivered(trace)).toBe(true);
  });

  it('VXLAN on the wire: outer UDP to 8472 from the node IP, source port in 32768..60999, TTL 64, DF clear, VNI 1', () => {
    const target = webPod('node-3');
    const ip = world.pods.get(target)!.ip;
    const { trace } = traceRequest(world, { from: 'pod/default/client', to: `${ip}:8080` });
    const hop = trace.outcomes[0]!.hops.find((h) => h.netns === 'node-1' && h.out === 'eth0')!;
    const layers = (hop.packetOut as { layers: Record<string, unknown>[] }).layers;
    expect(layers.map((l) => l.kind)).toEqual(['ethernet', 'ipv4', 'udp', 'vxlan', 'ethernet', 'ipv4', 'tcp']);
    expect(layers[1]).toMatchObject({ src: '192.168.56.11', dst: '192.168.56.13', ttl: 64, df: false });
    expect(layers[2]!.dport).toBe(8472);
    expect(layers[2]!.sport as number).toBeGreaterThanOrEqual(LOCAL_PORT_RANGE[0]);
    expect(layers[2]!.sport as number).toBeLessThan(LOCAL_PORT_RANGE[1]);
    expect(layers[3]!.vni).toBe(1);
    expect(layers[5]).toMatchObject({ src: world.pods.get('default/client')!.ip, dst: ip, ttl: 63 });
  });

  it('the outer packet crosses nat OUTPUT/POSTROUTING on the sender and is conntracked there (kernel-lab TRAPS)', () => {
    const { trace, runs } = traceRequest(world, { from: 'pod/default/client', to: `${world.pods.get(webPod('node-2'))!.ip}:8080`, reply: false });
    const steps = flat(trace.outcomes[0]!.hops.find((h) => h.netns === 'node-1' && h.out === 'eth0')!.steps);
    const hooks = steps.filter((s) => s.kind === 'hook').map((s) => (s as { hook: string }).hook);
    expect(hooks).toEqual(['PREROUTING', 'FORWARD', 'POSTROUTING', 'OUTPUT', 'POSTROUTING']);
    const ct = runs[0]!.conntrack('node-1')!.entries();
    expect(ct.some((e) => e.original.proto === 17 && e.original.dport === 8472)).toBe(true);
  });

  it('hairpin on cni0 (bridge-nf-call-iptables=1): SNAT to cni0\'s .1; with hairpin off the DNATed SYN is dropped before conntrack confirms it', () => {
    const self = webPod('node-1');
    const all = traceRequest(world, { from: `pod/${self}`, to: 'svc/default/web:80', all: true });
    const hairpin = all.trace.outcomes.find((o) => o.endpoint?.pod === self)!;
    expect(hairpin.received?.src).toBe('10.244.0.1');
    expect(hairpin.reply?.matchesRequest).toBe(true);
    // the same World with hairpin off on that pod's port
    const veth = world.pods.get(self)!.hostVeth!;
    const spec = world.fabric.get('node-1').spec;
    const devices = spec.devices.map((d): Device => (d.name === veth ? { ...d, port: { hairpin: false, learning: true } } : d));
    const saved = world.fabric.get('node-1');
    world.fabric.add({ ...spec, devices });
    try {
      const off = traceRequest(world, { from: `pod/${self}`, to: 'svc/default/web:80', all: true });
      const i = off.trace.outcomes.findIndex((o) => o.hops.some((h) => flat(h.steps).some((s) => s.kind === 'nat' && s.after.ip === world.pods.get(self)!.ip)) && o.disposition !== 'delivered');
      expect(i).toBeGreaterThanOrEqual(0);
      expect(off.trace.outcomes[i]!.reason).toContain('hairpin off');
      expect(off.runs[i]!.conntrack('node-1')!.entries()).toHaveLength(0);
    } finally {
      world.fabric.netns.set('node-1', saved);
    }
  });

  it('bad input: unknown pod with a suggestion, unknown service port, unknown address', () => {
    expect(() => traceRequest(world, { from: 'pod/default/clinet', to: 'svc/default/web:80' })).toThrow(/no pod default\/clinet; did you mean default\/client\?/);
    expect(() => traceRequest(world, { from: 'pod/default/client', to: 'svc/default/web:81' })).toThrow(/has no port 81/);
    expect(() => traceRequest(world, { from: '10.9.9.9', to: 'svc/default/web:80' })).toThrow(InputError);
  });

  it('UDP to a port nothing listens on: no-listener (ICMP port unreachable)', () => {
    const { trace } = traceRequest(world, { from: 'pod/default/client', to: `${world.pods.get(webPod('node-2'))!.ip}:9999`, proto: 'udp' });
    expect(trace.outcomes[0]!.disposition).toBe('no-listener');
    expect(trace.outcomes[0]!.reason).toContain('ICMP port unreachable');
  });
});

describe('udpFlowSrcPort', () => {
  it('stays in the range and is stable per flow', () => {
    const f = { src: '10.244.0.3', dst: '10.244.1.2', proto: 6, sport: 40000, dport: 8080 };
    const a = udpFlowSrcPort(f);
    expect(udpFlowSrcPort(f)).toBe(a);
    for (let p = 1; p < 2000; p += 37) {
      const x = udpFlowSrcPort({ ...f, sport: p });
      expect(x).toBeGreaterThanOrEqual(32768);
      expect(x).toBeLessThan(60999);
    }
  });
});

describe('hop snapshots made when first read', () => {
  it('read after more traces ran on the same World, they equal the snapshots of a trace read at once', async () => {
    const req = { from: 'pod/default/client', to: 'svc/default/web:80', all: true } as const;
    const fresh = buildWorld(await loadTopology(join(TOPOS, 'flannel-vxlan.yaml')));
    const atOnce = JSON.stringify(traceRequest(fresh, req).trace);
    const later = traceRequest(world, req).trace;
    for (let i = 0; i < 5; i++) traceRequest(world, { from: 'client/laptop', to: `${world.nodes.get('node-2')!.ip}:${30080 + i}`, all: true });
    traceRequest(world, { ...req, seed: 9 });
    expect(JSON.stringify(later)).toBe(atOnce);
    const hop = later.outcomes[0]!.hops[0]!;
    expect(Object.keys(hop)).toContain('packetIn');
    expect({ ...hop }.packetIn).toEqual(hop.packetIn);
  });
});
