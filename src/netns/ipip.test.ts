/**
 * The ipip (tunl0) device model, from the kernel sources (this lab's kernel has no ipip module):
 * - ipip_init_net → ip_tunnel_init_net(net, ipip_net_id, &ipip_link_ops, "tunl0"): every namespace
 *   gets the fallback device tunl0 once the module is loaded; its parameters are zero: remote and
 *   local any, ttl 0 (inherit), no IP_DF in frag_off (nopmtudisc); ip_tunnel_bind_dev without an
 *   underlay gives mtu ETH_DATA_LEN − t_hlen = 1500 − 20 = 1480; flags NOARP (ipip_tunnel_setup).
 * - ip_tunnel_xmit: for an NBMA tunnel (daddr 0) the outer destination is rt_nexthop(rt, inner
 *   daddr): the gateway of the route via tunl0 (Calico's `… via <node IP> dev tunl0 onlink`);
 *   ttl 0 → the inner packet's TTL; df = tunnel frag_off | inner DF; protocol IPPROTO_IPIP (4).
 * - Receive: tunnel4_rcv → ipip_rcv → ip_tunnel_lookup (exact, remote-only, local-only, then the
 *   fallback device); no tunnel: icmp_send(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH).
 * - iproute2 `ip -d link show tunl0`: "tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 … link/ipip
 *   0.0.0.0 brd 0.0.0.0 … ipip any remote any local any ttl inherit nopmtudisc".
 */
import { describe, expect, it } from 'vitest';
import { Rng, SeededChooser, parseCidr, parseIp } from '../base/index.js';
import { IPPROTO, TCP_FLAG, type FlowHeaders } from '../packet/skb.js';
import { Rib } from '../routing/index.js';
import { StepRecorder, type Step } from '../trace/index.js';
import { formatLink, ipipFallbackDevice, IPIP_OVERHEAD, type Device } from './devices.js';
import { Fabric, type Sysctls, type Visit } from './fabric.js';

const SYSCTLS: Sysctls = { ipForward: true, rpFilter: 0, acceptLocal: [], routeLocalnet: false, bridgeNfCallIptables: false, proxyArp: [] };

function host(fabric: Fabric, name: string, ip: string, opts: { tunnel: boolean; podNet?: string; routeTo?: { net: string; via: string } }): void {
  const rib = new Rib(['eth0', ...(opts.tunnel ? ['tunl0'] : []), ...(opts.podNet ? ['dummy0'] : [])]);
  rib.forwarding[4] = true;
  rib.addAddress('lo', '127.0.0.1/8');
  rib.addAddress('eth0', `${ip}/24`);
  if (opts.podNet) rib.addAddress('dummy0', opts.podNet);
  if (opts.routeTo) rib.addRoute({ dst: parseCidr(opts.routeTo.net), nexthops: [{ gateway: parseIp(opts.routeTo.via), dev: 'tunl0', onlink: true }] }, { validate: true });
  const devices: Device[] = [
    { kind: 'loopback', name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536 },
    { kind: 'eth', name: 'eth0', mac: name === 'a' ? '02:00:00:00:00:0a' : '02:00:00:00:00:0b', mtu: 1500, segment: 'lan' },
  ];
  if (opts.tunnel) devices.push(ipipFallbackDevice());
  if (opts.podNet) devices.push({ kind: 'dummy', name: 'dummy0', mac: '02:00:00:00:01:0b', mtu: 1500 });
  fabric.add({ name, node: name, role: 'node', devices, rib, fdb: [], sysctls: SYSCTLS, listeners: [{ proto: 'any', port: null, owner: name }] });
}

function lab(bTunnel = true): Fabric {
  const f = new Fabric();
  f.addSegment('lan', 1500);
  host(f, 'a', '192.168.1.1', { tunnel: true, routeTo: { net: '10.1.0.0/24', via: '192.168.1.2' } });
  host(f, 'b', '192.168.1.2', { tunnel: bTunnel, podNet: '10.1.0.1/32' });
  return f;
}

const SYN: FlowHeaders = { family: 4, src: '192.168.1.1', dst: '10.1.0.1', proto: IPPROTO.TCP, sport: 40000, dport: 80, tcpFlags: TCP_FLAG.SYN, ttl: 30, length: 60, df: true, id: 0 };

function flat(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => [s, ...flat(s.children ?? [])]);
}

function walk(f: Fabric, h: FlowHeaders): { visits: Visit[]; steps: Step[] } {
  const run = f.run(new SeededChooser(new Rng(1)));
  const rec = new StepRecorder();
  const visits = [run.send('a', h, rec)];
  for (let v = visits[0]!; v.end.kind === 'next'; ) {
    v = run.input(v.end.netns, v.end.dev, v.end.frame, rec);
    visits.push(v);
  }
  return { visits, steps: rec.take() };
}

describe('ipip: the tunl0 fallback device', () => {
  it('MTU 1480, TTL inherit, no PMTU discovery, remote and local any; `ip -d link` as iproute2 prints it', () => {
    const d = ipipFallbackDevice();
    expect(d).toMatchObject({ name: 'tunl0', mtu: 1480, ttl: 0, pmtudisc: false, local: null, remote: null });
    expect(IPIP_OVERHEAD).toBe(20);
    expect(formatLink(d, 5).split('\n')).toEqual([
      '5: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
      '    link/ipip 0.0.0.0 brd 0.0.0.0',
      '    ipip any remote any local any ttl inherit nopmtudisc',
    ]);
  });

  it('encapsulates to the onlink route next hop, protocol 4, TTL and DF from the inner packet; decapsulated on the peer tunl0', () => {
    const { visits, steps } = walk(lab(), SYN);
    const a = visits[0]!;
    expect(a.out).toBe('eth0');
    const layers = a.packetOut!.layers;
    expect(layers.map((l) => l.kind)).toEqual(['ethernet', 'ipv4', 'ipv4', 'tcp']);
    expect(layers[1]).toMatchObject({ src: '192.168.1.1', dst: '192.168.1.2', protocol: 4, ttl: 30, df: true });
    expect(layers[2]).toMatchObject({ src: '192.168.1.1', dst: '10.1.0.1', protocol: 6 });
    const encap = flat(steps).find((s) => s.kind === 'encap');
    expect(encap).toMatchObject({ dev: 'tunl0', overhead: 20 });
    const b = visits[visits.length - 1]!;
    expect(b.end.kind).toBe('delivered');
    expect(flat(steps).some((s) => s.kind === 'decap' && s.dev === 'tunl0')).toBe(true);
    // DF clear inside: DF clear outside (the fallback device sets no DF of its own)
    const noDf = walk(lab(), { ...SYN, df: false }).visits[0]!.packetOut!.layers[1];
    expect(noDf).toMatchObject({ df: false });
  });

  it('no tunnel on the receiver: tunnel4_rcv finds no handler and answers ICMP port unreachable', () => {
    const { visits } = walk(lab(false), SYN);
    const b = visits[visits.length - 1]!;
    expect(b.end.kind).toBe('failed');
    if (b.end.kind !== 'failed') return;
    expect(b.end.reason).toMatch(/tunnel4_rcv/);
    expect(b.end.error?.error.packet).toMatchObject({ src: '192.168.1.2', dst: '192.168.1.1', icmpType: 3, icmpCode: 3 });
  });

  it('a DF packet over 1480 bytes forwarded into tunl0 is refused with fragmentation needed (mtu 1480)', () => {
    const f = lab();
    const run = f.run(new SeededChooser(new Rng(1)));
    const rec = new StepRecorder();
    // a frame from a neighbour on the LAN, forwarded by a towards the tunnel
    const from = { ...SYN, src: '192.168.1.7', length: 1500 };
    const v = run.input('a', 'eth0', { layers: [{ kind: 'ethernet', dst: '02:00:00:00:00:0a', src: '02:00:00:00:00:07', ethertype: 0x0800 }, { kind: 'ipv4', dscp: 0, ecn: 0, id: 0, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 6, src: from.src, dst: from.dst }, { kind: 'tcp', sport: 40000, dport: 80, seq: 0, ack: 0, flags: { fin: false, syn: true, rst: false, psh: false, ack: false, urg: false, ece: false, cwr: false }, window: 64240, urgent: 0 }], payload: new Uint8Array(1460) }, rec);
    expect(v.end.kind === 'failed' && v.end.disposition).toBe('mtu-exceeded');
    expect(v.end.kind === 'failed' && v.end.error?.error.mtu).toBe(1480);
  });
});
