/**
 * ArpIndex: an ARP request on a bridge is asked only of the namespaces that can answer it, and
 * the answer is the one asking every port in order gives (arp_process: a local or anycast route
 * for the target, or — with forwarding on — proxy_arp on the receiving device or a proxy entry).
 */
import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp } from '../base/index.js';
import { answerArp, Rib } from '../routing/index.js';
import type { Device } from './devices.js';
import { Fabric, type NetnsSpec, type Sysctls } from './fabric.js';

const SYSCTLS: Sysctls = { ipForward: false, rpFilter: 0, acceptLocal: [], routeLocalnet: false, bridgeNfCallIptables: false, proxyArp: [] };

function pod(name: string, ip: string, opts: { proxyArp?: boolean; forward?: boolean; route?: string } = {}): NetnsSpec {
  const rib = new Rib(['eth0', 'eth1']);
  rib.addAddress('lo', '127.0.0.1/8');
  rib.addAddress('eth0', `${ip}/24`);
  if (opts.forward) rib.forwarding[4] = true;
  if (opts.route) {
    // a second device, the routed prefix behind it: what proxy ARP on eth0 answers for (arp_fwd_proxy)
    rib.addAddress('eth1', '10.5.0.1/24');
    rib.addRoute({ dst: parseCidr(opts.route), nexthops: [{ gateway: parseIp('10.5.0.2'), dev: 'eth1' }] }, { validate: true });
  }
  const devices: Device[] = [
    { kind: 'loopback', name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536 },
    { kind: 'veth', name: 'eth0', mac: `02:00:00:00:00:${name.slice(-2)}`, mtu: 1500, peer: { netns: 'host', dev: `veth${name}` } },
  ];
  return { name, node: 'host', role: 'pod', devices, rib, fdb: [], sysctls: { ...SYSCTLS, ...(opts.proxyArp ? { proxyArp: ['eth0'] } : {}), ipForward: opts.forward ?? false }, listeners: [] };
}

function world(pods: NetnsSpec[]): Fabric {
  const f = new Fabric();
  const rib = new Rib(['cni0', ...pods.map((p) => `veth${p.name}`)]);
  rib.addAddress('cni0', '10.0.0.1/24');
  const devices: Device[] = [
    { kind: 'loopback', name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536 },
    { kind: 'bridge', name: 'cni0', mac: '02:00:00:00:01:00', mtu: 1500 },
    { kind: 'dummy', name: 'dummy0', mac: '02:00:00:00:01:01', mtu: 1500, master: 'cni0' },
    ...pods.map((p): Device => ({ kind: 'veth', name: `veth${p.name}`, mac: `02:00:00:00:02:${p.name.slice(-2)}`, mtu: 1500, master: 'cni0', port: { hairpin: false, learning: true }, peer: { netns: p.name, dev: 'eth0' } })),
  ];
  f.add({ name: 'host', node: 'host', role: 'node', devices, rib, fdb: [], sysctls: SYSCTLS, listeners: [] });
  for (const p of pods) f.add(p);
  return f;
}

/** What asking every port in order answers: the first port whose peer answers. */
function askEveryPort(f: Fabric, target: string): string | null {
  const host = f.get('host');
  for (const p of host.portsOf('cni0')) {
    if (p.kind !== 'veth') continue;
    const peer = f.get(p.peer.netns);
    if (answerArp(peer.spec.rib, { dev: 'eth0', target: parseIp(target), sender: parseIp('10.0.0.1') })) return p.name;
  }
  return null;
}

function firstCandidateAnswering(f: Fabric, target: string): string | null {
  const index = f.bridgeArpIndex(f.get('host'), 'cni0');
  for (const c of index.candidates(parseIp(target))) if (answerArp(c.netns.spec.rib, { dev: c.dev, target: parseIp(target), sender: parseIp('10.0.0.1') })) return c.port;
  return null;
}

describe('ArpIndex', () => {
  const pods = [pod('p01', '10.0.0.11'), pod('p02', '10.0.0.12'), pod('p03', '10.0.0.13', { proxyArp: true, forward: true, route: '10.9.0.0/16' }), pod('p04', '10.0.0.14')];
  const f = world(pods);
  const index = f.bridgeArpIndex(f.get('host'), 'cni0');

  it('lists the bridge veth ports in port order (not the dummy port)', () => {
    expect(index.entries.map((e) => e.port)).toEqual(['vethp01', 'vethp02', 'vethp03', 'vethp04']);
  });

  it('a pod address: its owner, plus the proxy-ARP namespace that is always asked', () => {
    expect(index.candidates(parseIp('10.0.0.12')).map((e) => e.port)).toEqual(['vethp02', 'vethp03']);
    expect(index.candidates(parseIp('10.0.0.14')).map((e) => e.port)).toEqual(['vethp03', 'vethp04']);
  });

  it('a loopback target is local (127.0.0.0/8 local route) in every pod: every port is a candidate, in order', () => {
    expect(index.candidates(parseIp('127.0.0.9')).map((e) => e.port)).toEqual(['vethp01', 'vethp02', 'vethp03', 'vethp04']);
  });

  it('answers exactly as asking every port does, for owned, proxied, loopback and unknown targets', () => {
    for (const t of ['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.99', '10.9.1.1', '10.8.0.1', '10.5.0.1', '127.0.0.1', '192.168.1.1']) {
      expect(firstCandidateAnswering(f, t), t).toBe(askEveryPort(f, t));
    }
    // independent expectations: p03 forwards, has proxy_arp on eth0 and routes 10.9.0.0/16 out of eth1:
    // it answers for 10.9.1.1 (arp_fwd_proxy) and for its own eth1 address (any local address, arp_ignore=0)
    expect(askEveryPort(f, '10.9.1.1')).toBe('vethp03');
    expect(askEveryPort(f, '10.5.0.1')).toBe('vethp03');
    expect(askEveryPort(f, '10.8.0.1')).toBeNull();
    expect(askEveryPort(f, '10.0.0.13')).toBe('vethp03');
    expect(askEveryPort(f, '10.0.0.99')).toBeNull();
  });
});
