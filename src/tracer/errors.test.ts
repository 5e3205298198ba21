/**
 * Errors sent back hop by hop (issue 5: ICMP errors traced back). Facts:
 * - ip_forward's ip_exceeds_mtu → icmp_send(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu) before the
 *   TTL decrement; icmp_glue_bits → nf_ct_attach gives the error the connection's entry (RELATED,
 *   reply direction) even before it is confirmed, and nf_nat_icmp_reply_translation un-DNATs the
 *   quote. Checked on the kernel (netns, 6.x): a 1428-byte UDP datagram with DF to a DNATed
 *   192.168.1.1:80 whose egress MTU is 1000 came back as "192.168.1.1 > 192.168.1.2: ICMP
 *   192.168.1.1 unreachable - need to frag (mtu 1000), length 556" quoting
 *   "192.168.1.2.40000 > 192.168.1.1.80", ttl 64 in the quote, IP length 576; the socket's next
 *   send failed with EMSGSIZE.
 * - tcp_v4_rcv with no socket: tcp_v4_send_reset (RST+ACK to a SYN); __udp4_lib_rcv with no
 *   socket: icmp_send(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH) from the datagram's destination.
 * - kube-proxy's REJECT for a Service without endpoints: icmp-port-unreachable from the address
 *   towards the sender (the packet was forwarded, not local).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTopology, loadTopologyText } from '../cluster/spec/loader.js';
import { buildWorld, type World } from '../cluster/world.js';
import { validateTrace, type Step } from '../trace/index.js';
import { traceRequest, type ErrorReply } from './trace.js';

const TOPO = join(import.meta.dirname, '..', '..', 'topologies', 'flannel-vxlan.yaml');
let world: World;
let withEmpty: World;
beforeAll(async () => {
  world = buildWorld(await loadTopology(TOPO));
  const empty = `
  - apiVersion: v1
    kind: Service
    metadata: { name: empty, namespace: default }
    spec:
      clusterIP: 10.96.100.99
      selector: { app: nothing }
      ports: [ { name: http, port: 80, targetPort: 8080, protocol: TCP } ]
`;
  withEmpty = buildWorld(await loadTopologyText(readFileSync(TOPO, 'utf8') + empty, TOPO));
});

function flat(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => [s, ...flat(s.children ?? [])]);
}

function podOn(w: World, node: string): { key: string; ip: string } {
  const p = [...w.pods.values()].find((x) => x.key.startsWith('default/web-') && x.node === node)!;
  return { key: p.key, ip: p.ip };
}

describe('errors traced back to the sender', () => {
  it('DF too big for flannel.1: ICMP frag-needed from node-1, quote un-DNATed, the laptop socket learns the MTU', () => {
    const { trace } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.11:30080', size: 1500, seed: 3 });
    expect(validateTrace(trace)).toEqual([]);
    const o = trace.outcomes[0]!;
    expect(o.disposition).toBe('mtu-exceeded');
    const r = o.reply as ErrorReply;
    expect(r.error).toMatchObject({ kind: 'icmp', type: 3, code: 4, mtu: 1450, from: { node: 'node-1' } });
    // as generated: from the address towards the sender, quoting the DNATed packet, before the un-DNAT
    expect(r.error.sent).toEqual({ src: '192.168.56.11', dst: '192.168.56.200', proto: 'icmp' });
    expect(r.error.quoted).toMatchObject({ src: '192.168.56.200', sport: 40000, dport: 8080, proto: 'tcp' });
    expect(r.disposition).toBe('delivered');
    expect(r.received).toEqual({ src: '192.168.56.11', dst: '192.168.56.200', proto: 'icmp' });
    expect(r.quoted).toEqual({ src: '192.168.56.200', sport: 40000, dst: '192.168.56.11', dport: 30080, proto: 'tcp' });
    expect(r.matchesRequest).toBe(true);
    const nat = flat(r.hops[0]!.steps).filter((s) => s.kind === 'nat');
    expect(nat.map((s) => s.kind === 'nat' && s.nat)).toEqual(['un-DNAT']);
    // the error's IPv4 packet: 576 bytes (icmp_send's room), DF clear; the quote keeps TTL 64 (checked before ip_decrease_ttl)
    const layers = (r.hops[r.hops.length - 1]!.packetIn as { layers: Record<string, unknown>[] }).layers;
    expect(layers.map((l) => l.kind)).toEqual(['ethernet', 'ipv4', 'icmp', 'ipv4', 'tcp']);
    expect(layers[1]).toMatchObject({ df: false, ttl: 64 });
    expect(layers[3]).toMatchObject({ src: '192.168.56.200', dst: '192.168.56.11', ttl: 64 });
    expect(layers[4]).toMatchObject({ sport: 40000, dport: 30080 });
    // JSON carries the error path additively
    expect(JSON.parse(JSON.stringify(trace)).outcomes[0].reply.error.mtu).toBe(1450);
  });

  it('TCP to a closed port of a pod on another node: RST+ACK back over VXLAN to the client socket', () => {
    const web = podOn(world, 'node-3');
    const { trace } = traceRequest(world, { from: 'pod/default/client', to: `${web.ip}:9999` });
    const o = trace.outcomes[0]!;
    expect(o.disposition).toBe('no-listener');
    const r = o.reply as ErrorReply;
    expect(r.error).toMatchObject({ kind: 'tcp-reset', from: { netns: web.key } });
    expect(r.disposition).toBe('delivered');
    expect(r.received).toEqual({ src: web.ip, sport: 9999, dst: world.pods.get('default/client')!.ip, dport: 40000, proto: 'tcp' });
    expect(r.matchesRequest).toBe(true);
    expect(r.hops.map((h) => h.netns)).toEqual([web.key, 'node-3', 'node-1', 'default/client']);
  });

  it('UDP to a closed port: ICMP port unreachable from the pod, RELATED on both nodes, received by the client socket', () => {
    const web = podOn(world, 'node-3');
    const client = world.pods.get('default/client')!.ip;
    const { trace } = traceRequest(world, { from: 'pod/default/client', to: `${web.ip}:9999`, proto: 'udp' });
    const r = trace.outcomes[0]!.reply as ErrorReply;
    expect(r.error).toMatchObject({ kind: 'icmp', type: 3, code: 3 });
    expect(r.error.sent).toEqual({ src: web.ip, dst: client, proto: 'icmp' });
    expect(r.disposition).toBe('delivered');
    expect(r.quoted).toEqual({ src: client, sport: 40000, dst: web.ip, dport: 9999, proto: 'udp' });
    expect(r.matchesRequest).toBe(true);
    const node3 = r.hops.find((h) => h.netns === 'node-3')!;
    expect(flat(node3.steps).some((s) => s.kind === 'conntrack' && s.state === 'related')).toBe(true);
  });

  it("kube-proxy's REJECT (no endpoints): ICMP port unreachable from cni0's address to the pod", () => {
    const { trace } = traceRequest(withEmpty, { from: 'pod/default/client', to: 'svc/default/empty:80' });
    const o = trace.outcomes[0]!;
    expect(o.disposition).toBe('rejected');
    const r = o.reply as ErrorReply;
    expect(r.error).toMatchObject({ kind: 'icmp', type: 3, code: 3, from: { node: 'node-1' } });
    // forwarded (not local): __icmp_send takes the source the route back to the pod gives: cni0's 10.244.0.1
    expect(r.error.sent.src).toBe('10.244.0.1');
    expect(r.quoted).toMatchObject({ dst: '10.96.100.99', dport: 80 });
    expect(r.matchesRequest).toBe(true);
    expect(r.disposition).toBe('delivered');
  });

  it('--no-reply sends nothing back', () => {
    const { trace } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.11:30080', size: 1500, seed: 3, reply: false });
    expect(trace.outcomes[0]!.reply).toBeUndefined();
  });
});

describe('fragmentation (DF clear): the trace follows the datagram, the hops show the fragments', () => {
  it('3000 bytes from the laptop: 3 fragments on its eth0; node-1 reassembles (nf_defrag_ipv4), fragments again for flannel.1 (1450) and sends each in its own VXLAN packet; the pod reassembles', () => {
    const { trace } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.11:30080', size: 3000, df: false, seed: 3 });
    expect(validateTrace(trace)).toEqual([]);
    const o = trace.outcomes[0]!;
    expect(o.disposition).toBe('delivered');
    type FragHop = { netns: string; fragmentsIn?: { layers: Record<string, unknown>[] }[]; fragmentsOut?: { layers: Record<string, unknown>[] }[]; steps: Step[] };
    const hops = o.hops as unknown as FragHop[];
    const ipOf = (f: { layers: Record<string, unknown>[] }, nth = 0) => f.layers.filter((l) => l.kind === 'ipv4')[nth]!;
    const laptop = hops[0]!;
    // 1500 MTU: 1480 data bytes per fragment: offsets 0, 1480, 2960 (in 8-byte units 0, 185, 370), lengths 1500, 1500, 60
    expect(laptop.fragmentsOut!.map((f) => [ipOf(f).fragOffset, ipOf(f).mf])).toEqual([[0, true], [185, true], [370, false]]);
    const node1 = hops.find((h) => h.netns === 'node-1')!;
    expect(node1.fragmentsIn).toHaveLength(3);
    expect(flat(node1.steps).some((s) => s.kind === 'note' && /nf_defrag_ipv4: 3 fragments/.test(s.text))).toBe(true);
    // flannel.1 MTU 1450: 1424 data bytes per inner fragment; each inner fragment in its own VXLAN packet, none over 1500
    expect(node1.fragmentsOut!.map((f) => ipOf(f, 1).fragOffset)).toEqual([0, 178, 356]);
    for (const f of node1.fragmentsOut!) {
      expect(ipOf(f, 0)).toMatchObject({ mf: false, fragOffset: 0, df: false });
      expect(f.layers.map((l) => l.kind).slice(0, 5)).toEqual(['ethernet', 'ipv4', 'udp', 'vxlan', 'ethernet']);
    }
    // the same outer UDP source port for every fragment (the flow hash of a fragment has no ports)
    expect(new Set(node1.fragmentsOut!.map((f) => f.layers[2]!.sport)).size).toBe(1);
    const pod = hops[hops.length - 1]!;
    expect(pod.fragmentsIn).toHaveLength(3);
    expect(o.received).toMatchObject({ dst: expect.stringMatching(/^10\.244\./), dport: 8080 });
  });
});
