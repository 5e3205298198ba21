/**
 * The World applies kube-proxy's sysctls to every node (pkg/proxy/iptables proxier: route_localnet
 * for localhost NodePorts; pkg/proxy/conntrack: nf_conntrack_max, tcp_timeout_established 86400,
 * tcp_timeout_close_wait 3600), so routing and conntrack read them as the kernel does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, SeededChooser } from '../base/index.js';
import { formatConntrackList } from '../conntrack/index.js';
import { ETHERTYPE, type Packet } from '../packet/index.js';
import { IPPROTO, TCP_FLAG, packetOfHeaders, type FlowHeaders } from '../packet/skb.js';
import { StepRecorder, type Step } from '../trace/index.js';
import { loadTopology, loadTopologyText } from '../cluster/spec/loader.js';
import { buildWorld, type World } from '../cluster/world.js';
import { traceRequest } from './trace.js';

const TOPO = join(import.meta.dirname, '..', '..', 'topologies', 'flannel-vxlan.yaml');
let world: World;
let noLocalhost: World;
beforeAll(async () => {
  world = buildWorld(await loadTopology(TOPO));
  const text = readFileSync(TOPO, 'utf8').replace('    mode: iptables\n', '    mode: iptables\n    localhostNodePorts: false\n');
  noLocalhost = buildWorld(await loadTopologyText(text, TOPO));
});

function flat(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => [s, ...flat(s.children ?? [])]);
}

/** A frame from the laptop to node-1's MAC, for a destination the laptop's own stack would never send off-box. */
function fromLaptop(w: World, h: FlowHeaders): Packet {
  const node = w.fabric.get('node-1').device('eth0')!;
  const laptop = w.fabric.get('client/laptop').device('eth0')!;
  const ip = packetOfHeaders(h);
  return { layers: [{ kind: 'ethernet', dst: node.mac, src: laptop.mac, ethertype: ETHERTYPE.IPV4 }, ...ip.layers], payload: ip.payload };
}

const TO_LOOPBACK: FlowHeaders = { family: 4, src: '192.168.56.200', dst: '127.0.0.1', proto: IPPROTO.TCP, sport: 40000, dport: 9999, tcpFlags: TCP_FLAG.SYN, ttl: 64, length: 60 };

describe("kube-proxy's sysctls on the nodes", () => {
  it('route_localnet=1 (localhostNodePorts) and the conntrack values kube-proxy writes', () => {
    const n = world.fabric.get('node-1');
    expect(n.spec.sysctls.routeLocalnet).toBe(true);
    expect(n.spec.rib.routeLocalnet.has('all')).toBe(true);
    expect(n.spec.sysctls.conntrack?.max).toBeGreaterThanOrEqual(131072);
    expect(n.timeouts.tcp.ESTABLISHED).toBe(86400 * 1000);
    expect(n.timeouts.tcp.CLOSE_WAIT).toBe(3600 * 1000);
    // pods keep a new namespace's defaults (5 days established)
    expect(world.fabric.get('default/client').timeouts.tcp.ESTABLISHED).toBe(5 * 24 * 3600 * 1000);
    expect(noLocalhost.fabric.get('node-1').spec.rib.routeLocalnet.has('all')).toBe(false);
  });

  it('an outside packet to 127.0.0.1 is a martian destination without route_localnet (ip_route_input_slow)', () => {
    const rec = new StepRecorder();
    const v = noLocalhost.fabric.run(new SeededChooser(new Rng(1)), 1).input('node-1', 'eth0', fromLaptop(noLocalhost, TO_LOOPBACK), rec);
    expect(v.end.kind).toBe('failed');
    expect(v.end.kind === 'failed' && v.end.disposition).toBe('no-route');
    expect(v.end.kind === 'failed' && v.end.reason).toMatch(/martian destination 127\.0\.0\.1 on eth0.*route_localnet=0/);
  });

  it("with route_localnet=1 it is routed to INPUT, where kubelet's KUBE-FIREWALL drops it (block incoming localnet connections)", () => {
    const rec = new StepRecorder();
    const v = world.fabric.run(new SeededChooser(new Rng(1)), 1).input('node-1', 'eth0', fromLaptop(world, TO_LOOPBACK), rec);
    expect(v.end.kind === 'failed' && v.end.disposition).toBe('dropped');
    const drop = flat(rec.take()).find((s) => s.kind === 'rule' && s.verdict === 'drop');
    expect(drop && 'rule' in drop ? drop.rule : '').toContain('block incoming localnet connections');
  });

  it("conntrack of an established connection counts down from kube-proxy's 86400 s", () => {
    const { runs } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.11:30080', establish: true });
    const text = formatConntrackList(runs[0]!.conntrack('node-1')!);
    expect(text).toMatch(/^tcp +6 86400 ESTABLISHED src=192\.168\.56\.200 dst=192\.168\.56\.11 sport=40000 dport=30080 .*\[ASSURED\]/m);
    const plain = traceRequest(world, { from: 'client/laptop', to: '192.168.56.11:30080' });
    expect(formatConntrackList(plain.runs[0]!.conntrack('node-1')!)).toMatch(/^tcp +6 60 SYN_RECV /m);
  });
});

describe('the handshake completed (establish)', () => {
  it("the client's ACK reaches the endpoint's connection (its request socket), not a reset from the listener", () => {
    const { runs, trace } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.11:30080', establish: true });
    const pod = trace.outcomes[0]!.endpoint!.pod!;
    const netns = world.pods.get(pod)!.netns;
    expect([...runs[0]!.state(netns).connected.values()]).toContain(`pod/${pod}`);
  });
});
