import { describe, expect, it } from 'vitest';
import { InputError } from '../../../base/index.js';
import { formatRoutes } from '../../../routing/index.js';
import { loadTopology, loadTopologyText } from '../../spec/loader.js';
import { buildWorld } from '../../world.js';
import { birdState, formatBirdLog, formatBirdShow, parseBirdEvent, runBirdEvents } from './bird.js';
import { caliVethName, calicoVtepMac } from './names.js';
import { CalicoIpam, fnv1_32, type IpPool } from './ipam.js';
import { felixRuleHashes } from './iptables.js';

describe('calico names', () => {
  it('veth name is cali + 11 hex of sha1("ns.pod")', () => {
    // sha1("default.web") = 68caf03a5f4… (coreutils sha1sum)
    expect(caliVethName('default', 'web')).toBe('cali68caf03a5f4');
    expect(caliVethName('default', 'web')).toHaveLength(15);
  });
  it('VTEP MAC is 0x66 + first 5 bytes of sha1(nodename)', () => {
    // sha1("node-1") starts b3 68 28 39 8e (python hashlib)
    expect(calicoVtepMac('node-1')).toBe('66:b3:68:28:39:8e');
  });
  it('FNV-1 (not 1a) of the hostname seeds the block choice', () => {
    // Go: fnv.New32().Write("a").Sum32() = 0x050c5d7e
    expect(fnv1_32('a')).toBe(0x050c5d7e);
  });
  it('Felix rule hashes are 16 URL-safe base64 characters, chained', () => {
    const h = felixRuleHashes('cali-FORWARD', ['-j A', '-j B']);
    expect(h[0]).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(felixRuleHashes('cali-FORWARD', ['-j X', '-j B'])[1]).not.toBe(h[1]);
  });
});

describe('calico IPAM', () => {
  const pool: IpPool = { name: 'p', cidr: '10.0.0.0/24', blockSize: 26, ipipMode: 'Always', vxlanMode: 'Never', natOutgoing: true, nodeSelector: 'all()', disabled: false, disableBGPExport: false };
  it('tunnel address is ordinal 0 of the first block, pods follow in order; blocks never shared', () => {
    const ipam = new CalicoIpam([pool], [{ name: 'a', labels: {} }, { name: 'b', labels: {} }]);
    ipam.allocateTunnels();
    const ta = ipam.tunnels.get('a')!.ip;
    const blockA = ipam.blocksOf('a')[0]!.cidr;
    expect(ta).toBe(blockA.split('/')[0]);
    const p1 = ipam.assign('a', 'h1')!;
    expect(p1.split('.')[3]).toBe(String(Number(ta.split('.')[3]) + 1));
    expect(ipam.blocksOf('b')[0]!.cidr).not.toBe(blockA);
  });
  it('a full pool yields null (no borrowing)', () => {
    const ipam = new CalicoIpam([{ ...pool, cidr: '10.0.0.0/26' }], [{ name: 'a', labels: {} }, { name: 'b', labels: {} }]);
    ipam.allocateTunnels();
    expect(ipam.tunnels.has('b')).toBe(false);
    for (let i = 0; i < 63; i++) expect(ipam.assign('a', `h${i}`)).not.toBeNull();
    expect(ipam.assign('a', 'x')).toBeNull();
  });
});

const base = (extra: string) => `name: t
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  cni: { plugin: calico, mode: bgp }
underlay:
  networks: [ { name: a, cidr: 192.168.56.0/24 } ]
nodes:
  - { name: node-1, ip: 192.168.56.11, network: a }
objects:
${extra}`;

async function problems(text: string): Promise<string[]> {
  try {
    await loadTopologyText(text, 'topo.yaml');
    return [];
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return e.problems.filter((p) => p.severity !== 'warning').map((p) => `${p.file}:${p.line} ${p.field}: ${p.message}`);
  }
}

describe('calico objects: bad input names file, line, field', () => {
  it('IPPool overlapping the service CIDR', async () => {
    const p = await problems(base('  - { apiVersion: projectcalico.org/v3, kind: IPPool, metadata: { name: bad }, spec: { cidr: 10.96.0.0/16 } }\n'));
    expect(p.some((x) => x.startsWith('topo.yaml:11 objects[0].spec.cidr') && x.includes('overlaps the service CIDR 10.96.0.0/12'))).toBe(true);
  });
  it('IPPool overlapping the node network', async () => {
    const p = await problems(base('  - { apiVersion: projectcalico.org/v3, kind: IPPool, metadata: { name: bad }, spec: { cidr: 192.168.0.0/16 } }\n'));
    expect(p.some((x) => x.includes('objects[0].spec.cidr') && x.includes('overlaps the node network a'))).toBe(true);
  });
  it('BGPPeer naming an unknown node', async () => {
    const p = await problems(base('  - apiVersion: projectcalico.org/v3\n    kind: BGPPeer\n    metadata: { name: x }\n    spec: { node: node-9, peerIP: 192.168.56.1, asNumber: 64513 }\n'));
    expect(p.some((x) => x.startsWith('topo.yaml:14 objects[0].spec.node') && x.includes('"node-9"'))).toBe(true);
  });
  it('AS number out of range', async () => {
    const p = await problems(base('  - apiVersion: projectcalico.org/v3\n    kind: BGPPeer\n    metadata: { name: x }\n    spec: { peerIP: 192.168.56.1, asNumber: 4294967296 }\n'));
    expect(p.some((x) => x.includes('objects[0].spec.asNumber'))).toBe(true);
  });
  it('pods get addresses from the IPPool, not node.spec.podCIDR', async () => {
    const t = await loadTopologyText(base('  - { apiVersion: projectcalico.org/v3, kind: IPPool, metadata: { name: p }, spec: { cidr: 10.244.128.0/18 } }\n  - { apiVersion: v1, kind: Pod, metadata: { name: a, namespace: default }, spec: { nodeName: node-1, containers: [ { name: c } ] } }\n'), 'topo.yaml');
    const pod = t.store.list('Pod')[0]!;
    const block = t.calico!.ipam.blocksOf('node-1')[0]!.cidr;
    expect(block.startsWith('10.244.')).toBe(true);
    expect(pod.status!.podIP).toBe(block.split('/')[0]); // bgp mode: no tunnel address, the first pod gets .0 of the block
    expect(Number(block.split('.')[2])).toBeGreaterThanOrEqual(128);
  });
});

describe('BIRD state of the bundled topologies', () => {
  const topo = (n: string) => loadTopology(new URL(`../../../../topologies/${n}.yaml`, import.meta.url).pathname);
  it('route reflector: clients learn each other\'s blocks from the RR with the originator\'s next hop', async () => {
    const t = await topo('calico-bgp-rr');
    const st = birdState(t);
    // 3 clients × 1 RR, both directions configured
    expect(st.sessions.filter((s) => s.state === 'Established')).toHaveLength(6);
    const show = formatBirdShow(t, 'node-2');
    const node4Block = t.calico!.ipam.blocksOf('node-4')[0]!.cidr;
    // rt_show_rte: reached via the originator (next hop kept), learned from the RR (` from`), iBGP origin IGP with an empty AS_PATH
    expect(show).toMatch(new RegExp(`${node4Block.padEnd(18).replace(/[./]/g, '\\$&')} via 192\\.168\\.56\\.14 on eth0 \\[Node_192_168_56_11 \\d\\d:\\d\\d:\\d\\d from 192\\.168\\.56\\.11\\] \\* \\(100/0\\) \\[i\\]`));
    const r = st.tables.get('node-2')!.get(node4Block)![0]!;
    // RFC 4456 §8: ORIGINATOR_ID = the client's router id, CLUSTER_LIST = the RR's cluster id
    expect(r.attrs.originatorId).toBe('192.168.56.14');
    expect(r.attrs.clusterList).toEqual(['244.0.0.1']);
    expect(r.from).toBe('node-1');
  });
  it('ToR peering: the router learns every block; nodes reject the re-advertisements (own AS in AS_PATH)', async () => {
    const t = await topo('calico-bgp-routed-tor');
    const st = birdState(t);
    expect([...st.tables.get('router/tor')!.keys()].sort()).toEqual(t.calico!.ipam.blocks.map((b) => b.cidr).sort());
    expect([...st.tables.get('node-1')!.values()].every((p) => p[0]!.source === 'static')).toBe(true);
    const routes = formatRoutes(buildWorld(t).fabric.get('router/tor').spec.rib.routes(4));
    const b3 = t.calico!.ipam.blocksOf('node-3')[0]!.cidr;
    expect(routes).toContain(`${b3} via 192.168.57.13 dev eth1 proto bird`);
  });
  it('IPIP CrossSubnet: tunl0 onlink only towards the other subnet', async () => {
    const t = await topo('calico-ipip-crosssubnet');
    const routes = formatRoutes(buildWorld(t).fabric.get('node-1').spec.rib.routes(4));
    expect(routes).toContain(`${t.calico!.ipam.blocksOf('node-3')[0]!.cidr} via 192.168.57.13 dev tunl0 proto bird onlink`);
    expect(routes).toContain(`${t.calico!.ipam.blocksOf('node-2')[0]!.cidr} via 192.168.56.12 dev eth0 proto bird`);
  });
});

describe('BGP exchange (src/bgp speakers configured as confd does)', () => {
  const topo = (n: string) => loadTopology(new URL(`../../../../topologies/${n}.yaml`, import.meta.url).pathname);
  it('3-node mesh: 3 TCP sessions, one OPEN per side, each block announced to the 2 other nodes', async () => {
    const t = await topo('calico-bgp-mesh');
    const st = birdState(t);
    expect(st.sessions.map((s) => `${s.speaker} ${s.protocol} ${s.state}`).sort()).toEqual([
      'node-1 Mesh_192_168_56_12 Established', 'node-1 Mesh_192_168_56_13 Established',
      'node-2 Mesh_192_168_56_11 Established', 'node-2 Mesh_192_168_56_13 Established',
      'node-3 Mesh_192_168_56_11 Established', 'node-3 Mesh_192_168_56_12 Established',
    ]);
    expect(st.convergence.messages.OPEN).toBe(6);
    expect(st.convergence.announced).toBe(6);
    expect(st.convergence.withdrawn).toBe(0);
    expect(st.convergence.converged).toBe(true);
    // Calico's template: connect delay time 2 (BIRD fires it at 75-100 %): nothing is up before 1.5 s
    expect(st.convergence.virtualTimeMs).toBeGreaterThanOrEqual(1500);
    // the mesh direction: node-1 (smallest IP string) is passive towards both peers
    expect(st.sessions.filter((s) => s.speaker === 'node-1').every((s) => s.passive)).toBe(true);
  });
  it('a crashed route reflector: clients withdraw the reflected blocks when their hold timers (240 s) expire', async () => {
    const t = await topo('calico-bgp-rr');
    const { results } = runBirdEvents(t, [parseBirdEvent('down:node-1')]);
    const r = results[0]!;
    // each client loses the RR's block and the two other clients' blocks
    expect(r.changes.filter((c) => !c.after)).toHaveLength(9);
    expect(r.changes.every((c) => !c.after)).toBe(true);
    // hold time 240 s, last KEEPALIVE at most 80 s before the crash: expiry 160..240 s later
    const took = r.report.lastRouteChangeMs - r.atMs;
    expect(took).toBeGreaterThanOrEqual(160_000);
    expect(took).toBeLessThanOrEqual(240_100);
    expect(r.report.messages.NOTIFICATION).toBe(3); // Hold timer expired, from each client
    expect(r.report.messages.UPDATE).toBe(0); // nobody left to tell: the clients only peered with the RR
  });
  it('calico-node stopping on the RR: Cease at once, no waiting for hold timers', async () => {
    const t = await topo('calico-bgp-rr');
    const r = runBirdEvents(t, [parseBirdEvent('stop:node-1')]).results[0]!;
    expect(r.report.messages.NOTIFICATION).toBe(3);
    expect(r.report.lastRouteChangeMs - r.atMs).toBeLessThan(1000);
    expect(r.changes.filter((c) => !c.after)).toHaveLength(9);
  });
  it('a node joining the mesh: 3 new sessions, 6 new Loc-RIB entries; removing it again withdraws its block', async () => {
    const t = await topo('calico-bgp-mesh');
    const { results } = runBirdEvents(t, [parseBirdEvent('add:node-4=192.168.56.14'), parseBirdEvent('remove:node-4')]);
    const [add, rm] = results;
    expect(add!.report.messages.OPEN).toBe(6);
    // 3 learned by node-4, node-4's block learned by the 3 others, node-4's own static blackhole
    expect(add!.changes.filter((c) => c.before === undefined && c.after)).toHaveLength(7);
    const block = add!.changes.find((c) => c.speaker === 'node-1')!.prefix;
    expect(add!.changes.find((c) => c.speaker === 'node-4' && c.prefix === block)!.after!.source).toBe('static');
    expect(add!.changes.filter((c) => c.prefix === block).map((c) => c.speaker).sort()).toEqual(['node-1', 'node-2', 'node-3', 'node-4']);
    // node-4's block is one no other node holds
    expect(t.calico!.ipam.blocks.map((b) => b.cidr)).not.toContain(block);
    expect(rm!.report.messages.NOTIFICATION).toBe(3); // Cease / Peer de-configured from each remaining node
    expect(rm!.changes.map((c) => `${c.speaker} ${c.prefix} ${c.after ? 'kept' : 'gone'}`).sort()).toEqual(['node-1', 'node-2', 'node-3'].map((n) => `${n} ${block} gone`));
    const text = formatBirdLog(t, [parseBirdEvent('stop:node-2')]);
    expect(text).toContain('event stop:node-2 at ');
    expect(text).toMatch(/NOTIFICATION +.*Administrative shutdown/);
  });
  it('bad --bgp-event values name the flag and token', () => {
    expect(() => parseBirdEvent('explode:node-1')).toThrow(InputError);
    expect(() => parseBirdEvent('add:node-9')).toThrow(/add:NAME=IP/);
    expect(() => parseBirdEvent('add:node-9=10.0.0')).toThrow(/not an IPv4 address/);
  });
});
