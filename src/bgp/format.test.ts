import { describe, expect, it } from 'vitest';
import { CALICO_BGP_TEMPLATE } from './config.js';
import { formatBirdProtocols, formatBirdRoutes } from './format.js';
import { BgpNetwork } from './network.js';

describe('birdc formats', () => {
  const net = new BgpNetwork({ jitter: false });
  for (const i of [1, 2, 3]) net.addSpeaker({ name: `node-${i}`, routerId: `192.168.56.1${i}`, asn: 64512, address: `192.168.56.1${i}`, ...(i === 1 ? { clusterId: '1.0.0.1' } : {}) });
  // node-1 reflects for node-2 and node-3.
  net.addPeering('node-1', 'node-2', { namePrefix: 'Node', aIsReflectorFor: true, a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
  net.addPeering('node-1', 'node-3', { namePrefix: 'Node', aIsReflectorFor: true, a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
  net.originate('node-2', '10.244.2.0/26');
  net.originate('node-3', '10.244.3.0/26');
  net.run();

  it('show route: blackhole static, a reflected route "from" the reflector, [i] origin IGP with an empty AS path', () => {
    const out = formatBirdRoutes(net, 'node-2');
    const since3 = net.locRib('node-2').find((r) => r.prefix === '10.244.3.0/26')!.since;
    const tm = new Date(since3).toISOString().slice(11, 19);
    expect(out).toBe(
      '10.244.2.0/26      blackhole [static1 00:00:00] * (200)\n' +
      `10.244.3.0/26      via 192.168.56.13 on eth0 [Node_192_168_56_11 ${tm} from 192.168.56.11] * (100/0) [i]\n`,
    );
  });

  it('show protocols: the header and one line per session, "up" and Established', () => {
    const out = formatBirdProtocols(net, 'node-1').split('\n');
    expect(out[0]).toBe('name     proto    table    state  since       info');
    expect(out[1]).toMatch(/^Node_192_168_56_12 BGP      master   up     00:00:0\d    Established$/);
  });

  it('a passive session without its peer shows Passive; a refused one shows the socket error', () => {
    const n = new BgpNetwork({ jitter: false });
    n.addSpeaker({ name: 'a', routerId: '10.0.0.1', asn: 64512, address: '10.0.0.1' });
    n.addSpeaker({ name: 'b', routerId: '10.0.0.2', asn: 64512, address: '10.0.0.2' });
    n.addNeighbor('a', { peerAddress: '10.0.0.9', peerAsn: 64512, name: 'Mesh_10_0_0_9', passive: true });
    n.addNeighbor('a', { peerAddress: '10.0.0.2', peerAsn: 64512, name: 'Mesh_10_0_0_2' });
    n.advance(10_000);
    expect(formatBirdProtocols(n, 'a')).toBe(
      'name     proto    table    state  since       info\n' +
      'Mesh_10_0_0_9 BGP      master   start  00:00:00    Passive\n' +
      'Mesh_10_0_0_2 BGP      master   start  00:00:05    Active        Socket: Connection refused\n',
    );
  });
});
