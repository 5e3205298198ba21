import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatFdb } from '../../../netns/index.js';
import { formatNeighs, formatRoutes } from '../../../routing/index.js';
import { loadTopology, loadTopologyText } from '../../spec/loader.js';
import { nodeRouting } from '../../node.js';
import { flannelIptablesPayload, flannelVtepMac } from './index.js';

const TOPOS = join(import.meta.dirname, '..', '..', '..', '..', 'topologies');

describe('flannel vxlan (flannel.md §2)', () => {
  it('per peer: PERMANENT neighbour, FDB to the peer IP, onlink route; flannel.1 = lease network /32, MTU 1450', async () => {
    const topo = await loadTopology(join(TOPOS, 'flannel-vxlan.yaml'));
    const node = topo.nodes.find((n) => n.name === 'node-1')!;
    const { rib, flannel } = nodeRouting(topo, node);
    const f = flannel!;
    expect(f.subnet).toBe('10.244.0.0/24');
    expect(f.vtep).toMatchObject({ name: 'flannel.1', vni: 1, dstport: 8472, mtu: 1450, local: '192.168.56.11', learning: false, ttl: 0 });
    expect(rib.addresses.some((a) => a.dev === 'flannel.1' && a.prefix === 32 && a.local.n === ((10 << 24) | (244 << 16)) >>> 0)).toBe(true);
    const routes = formatRoutes(rib.routes(4));
    expect(routes).toContain('10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink \n');
    expect(routes).toContain('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink \n');
    expect(formatNeighs(f.neigh)).toBe(`10.244.1.0 dev flannel.1 lladdr ${flannelVtepMac('node-2')} PERMANENT \n10.244.2.0 dev flannel.1 lladdr ${flannelVtepMac('node-3')} PERMANENT \n`);
    expect(f.fdb.map(formatFdb)).toEqual([`${flannelVtepMac('node-2')} dev flannel.1 dst 192.168.56.12 self permanent`, `${flannelVtepMac('node-3')} dev flannel.1 dst 192.168.56.13 self permanent`]);
    expect(f.subnetEnv).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.0.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
    expect(JSON.parse(f.annotations['flannel.alpha.coreos.com/backend-data']!)).toEqual({ VNI: 1, VtepMAC: flannelVtepMac('node-1') });
  });

  it('the masquerade and forward rules are flanneld\'s, in its order (as kernel-lab.sh installs them)', () => {
    const p = flannelIptablesPayload('10.244.0.0/16', '10.244.1.0/24');
    const c = '-m comment --comment "flanneld masq"';
    expect(p.split('\n').filter((l) => l.startsWith('-A FLANNEL-POSTRTG'))).toEqual([
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 ${c} -j MASQUERADE --random-fully`,
    ]);
    expect(p).toContain('-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n');
  });

  it('DirectRouting: a peer on a connected subnet gets a plain route and no neighbour/FDB entry', async () => {
    const topo = await loadTopologyText(
      `name: dr\ncluster: { podCIDR: 10.244.0.0/16, cni: { plugin: flannel, mode: vxlan, directRouting: true }, kubeProxy: { mode: iptables } }\nunderlay: { networks: [ { name: a, cidr: 192.168.56.0/24 }, { name: b, cidr: 192.168.57.0/24 } ], routers: [ { name: r, interfaces: [ { network: a, ip: 192.168.56.1 }, { network: b, ip: 192.168.57.1 } ] } ] }\nnodes: [ { name: n1, ip: 192.168.56.11, network: a }, { name: n2, ip: 192.168.56.12, network: a }, { name: n3, ip: 192.168.57.13, network: b } ]\n`,
    );
    const { rib, flannel } = nodeRouting(topo, topo.nodes[0]!);
    const routes = formatRoutes(rib.routes(4));
    const n2 = topo.nodes[1]!.podCIDRs[0]!;
    const n3 = topo.nodes[2]!.podCIDRs[0]!;
    expect(routes).toContain(`${n2} via 192.168.56.12 dev eth0 \n`);
    expect(routes).toContain(`${n3} via ${n3.split('/')[0]} dev flannel.1 onlink \n`);
    expect(flannel!.direct).toEqual(['n2']);
    expect(flannel!.fdb.map((e) => e.dst)).toEqual(['192.168.57.13']);
  });
});

describe('flannel host-gw (flannel.md §3)', () => {
  it('a route via each on-link peer; a peer behind a router is refused as the kernel refuses it', async () => {
    const topo = await loadTopology(join(TOPOS, 'flannel-host-gw-routed.yaml'));
    const { rib, flannel } = nodeRouting(topo, topo.nodes.find((n) => n.name === 'node-1')!);
    const routes = formatRoutes(rib.routes(4));
    expect(routes).toContain('10.244.1.0/24 via 192.168.56.12 dev eth0 \n');
    expect(routes).not.toContain('10.244.2.0/24');
    expect(flannel!.refused).toEqual([{ peer: 'node-3', subnet: '10.244.2.0/24', route: '10.244.2.0/24 via 192.168.57.13 dev eth0', error: 'Error: Nexthop has invalid gateway.' }]);
    expect(flannel!.vtep).toBeNull();
    expect(flannel!.subnetEnv).toContain('FLANNEL_MTU=1500\n');
  });
});
