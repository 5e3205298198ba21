import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { podpath } from '../../../test/support/cli.js';
import { validateTrace, type Trace } from '../../index.js';

const TOPOS = join(import.meta.dirname, '..', '..', '..', 'topologies');
const VX = join(TOPOS, 'flannel-vxlan.yaml');

describe('podpath trace', () => {
  it('--all --format json: INTERFACES.md §3 shape, valid, exit 0 when every outcome and reply is delivered', async () => {
    const r = await podpath(['trace', '-t', VX, '--from', 'client/laptop', '--to', '192.168.56.11:30080', '--all', '--format', 'json']);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out) as Trace;
    expect(validateTrace(t)).toEqual([]);
    expect(t.request).toMatchObject({ from: 'client/laptop', to: '192.168.56.11:30080', proto: 'tcp' });
    for (const o of t.outcomes) {
      expect(o.masqueraded).toBe(true);
      expect(o.endpoint?.port).toBe(8080);
      expect(o.hops[0]).toHaveProperty('packetIn');
      expect(o.reply?.received).toMatchObject({ src: '192.168.56.11', sport: 30080, dst: '192.168.56.200', dport: 40000 });
    }
  });

  it('exit 1 when not delivered (eTP Local, no local endpoint), exit 2 on bad input with a suggestion', async () => {
    const drop = await podpath(['trace', '-t', VX, '--from', 'client/laptop', '--to', '192.168.56.11:30081', '--format', 'minimal']);
    expect(drop.code).toBe(1);
    expect(drop.out).toContain('has no local endpoints');
    const bad = await podpath(['trace', '-t', VX, '--from', 'pod/default/clent', '--to', 'svc/default/web:80']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/no pod default\/clent; did you mean default\/client\?/);
    const badFmt = await podpath(['trace', '-t', VX, '--from', 'client/laptop', '--to', '1.2.3.4:80', '--format', 'xml']);
    expect(badFmt.code).toBe(2);
  });

  it('host-gw across a router: no-route naming the refused flannel route', async () => {
    const r = await podpath(['trace', '-t', join(TOPOS, 'flannel-host-gw-routed.yaml'), '--from', 'pod/default/client', '--to', '10.244.2.2:8080', '--format', 'minimal']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('no-route');
    expect(r.out).toContain('host-gw needs L2 adjacency');
  });
});

describe('podpath rules --what links|fdb|conntrack', () => {
  it('links: ip -d link of the node, flannel.1 as the kernel prints a flannel VTEP', async () => {
    const r = await podpath(['rules', '-t', VX, '--node', 'node-2', '--what', 'links']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/flannel\.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 /);
    expect(r.out).toContain('vxlan id 1 local 192.168.56.12 dev eth0 srcport 0 0 dstport 8472 nolearning ttl auto ageing 300 udpcsum');
    expect(r.out).toMatch(/veth[0-9a-f]{8}@eth0: .* master cni0 /);
  });
  it('fdb: one permanent VXLAN entry per peer', async () => {
    const r = await podpath(['rules', '-t', VX, '--node', 'node-1', '--what', 'fdb']);
    expect(r.out.split('\n').filter((l) => l.includes('dev flannel.1'))).toHaveLength(2);
    expect(r.out).toMatch(/dev flannel\.1 dst 192\.168\.56\.12 self permanent/);
  });
  it('conntrack: the node\'s table after the traced request, DNAT and SNAT in the reply tuple', async () => {
    const r = await podpath(['rules', '-t', VX, '--node', 'node-1', '--what', 'conntrack', '--from', 'client/laptop', '--to', '192.168.56.11:30080']);
    expect(r.code).toBe(0);
    // the handshake is completed, so the entry is the live connection with kube-proxy's
    // nf_conntrack_tcp_timeout_established (86400 s, conntrack.tcpEstablishedTimeout 24h)
    expect(r.out).toMatch(/tcp +6 86400 ESTABLISHED src=192\.168\.56\.200 dst=192\.168\.56\.11 sport=40000 dport=30080 src=10\.244\.\d+\.\d+ dst=10\.244\.0\.[01] sport=8080 dport=\d+ \[ASSURED\]/);
    const none = await podpath(['rules', '-t', VX, '--node', 'node-1', '--what', 'conntrack']);
    expect(none.code).toBe(2);
  });
});
