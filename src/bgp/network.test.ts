import { describe, expect, it } from 'vitest';
import { InputError } from '../base/errors.js';
import { CALICO_BGP_TEMPLATE } from './config.js';
import type { NeighborConfig } from './config.js';
import { BgpNetwork } from './network.js';
import type { BgpState } from './types.js';

const ip = (i: number): string => `192.168.56.${10 + i}`;

function node(net: BgpNetwork, i: number, extra: { clusterId?: string } = {}): string {
  net.addSpeaker({ name: `node-${i}`, routerId: ip(i), asn: 64512, address: ip(i), ...extra });
  return `node-${i}`;
}

function mesh(n: number, opts: { jitter?: boolean } = {}): BgpNetwork {
  const net = new BgpNetwork({ jitter: opts.jitter ?? true });
  for (let i = 1; i <= n; i++) node(net, i);
  for (let i = 1; i <= n; i++) for (let j = i + 1; j <= n; j++) net.addPeering(`node-${i}`, `node-${j}`, { namePrefix: 'Mesh', a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
  for (let i = 1; i <= n; i++) net.originate(`node-${i}`, `10.244.${i}.0/26`);
  return net;
}

const table = (net: BgpNetwork, name: string): string[] => net.locRib(name).map((r) => `${r.prefix} ${r.source === 'static' ? 'static' : `via ${r.attrs.nextHop} [${r.protocol}]`}`);

describe('session state machine (RFC 4271 §8)', () => {
  it('Idle → Active → Connect → OpenSent → OpenConfirm → Established, with BIRD hold 240 / keepalive 80', () => {
    const net = new BgpNetwork({ jitter: false });
    node(net, 1);
    node(net, 2);
    net.addPeering('node-1', 'node-2', { namePrefix: 'Mesh', a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
    net.advance(2100);
    const seen: Record<string, BgpState[]> = { 'node-1': ['Idle'], 'node-2': ['Idle'] };
    for (const e of net.log) if (e.type === 'STATE') seen[e.from]!.push(e.summary.split(' -> ')[1] as BgpState);
    expect(net.log.find((e) => e.type === 'SYN')?.t).toBe(2000);
    // node-2 (the greater address) connects after Calico's connect delay (2 s); node-1 is passive.
    expect(seen['node-2']).toEqual(['Idle', 'Active', 'Connect', 'OpenSent', 'OpenConfirm', 'Established']);
    expect(seen['node-1']).toEqual(['Idle', 'Active', 'OpenSent', 'OpenConfirm', 'Established']);
    const s1 = net.sessions('node-1')[0]!;
    expect([s1.holdTime, s1.keepaliveTime, s1.passive]).toEqual([240, 80, true]);
    expect(net.sessions('node-2')[0]!.passive).toBe(false);
    const types = net.log.filter((e) => e.from === 'node-2' && e.type !== 'STATE').map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['SYN', 'OPEN', 'KEEPALIVE']);
  });

  it('the smaller hold time of the two OPENs wins; keepalive is a third of it', () => {
    const net = new BgpNetwork();
    node(net, 1);
    node(net, 2);
    net.addPeering('node-1', 'node-2', { a: { holdTime: 90 } });
    net.run();
    for (const s of net.sessions()) expect([s.state, s.holdTime, s.keepaliveTime]).toEqual(['Established', 90, 30]);
  });

  it('keepalives keep an idle session up; a silent peer makes the hold timer expire: NOTIFICATION 4/0, Idle, then restart after error wait', () => {
    const net = mesh(2);
    net.run();
    net.advance(1_000_000); // > 4 hold times: keepalives flowed
    expect(net.sessions().map((s) => s.state)).toEqual(['Established', 'Established']);
    const t0 = net.clock.now();
    net.stopSpeaker('node-2', 'crash');
    const rep = net.run();
    const n = net.log.filter((e) => e.type === 'NOTIFICATION');
    expect(n).toHaveLength(1);
    expect(n[0]!.from).toBe('node-1');
    expect(n[0]!.message).toMatchObject({ code: 4, subcode: 0 });
    // Hold timer: 240 s after the last KEEPALIVE node-1 received, which was at most 80 s before the crash.
    expect(n[0]!.t - t0).toBeGreaterThan(160_000);
    expect(n[0]!.t - t0).toBeLessThanOrEqual(240_000);
    const s = net.sessions('node-1')[0]!;
    expect(s.lastError).toBe('Error: Hold timer expired');
    expect(s.state).toBe('Active'); // restarted after the 5 s error wait, listening (passive)
    expect(table(net, 'node-1')).toEqual(['10.244.1.0/26 static']);
    expect(rep.lastRouteChangeMs).toBe(n[0]!.t);
  });

  it('an OPEN with the wrong AS gets NOTIFICATION 2/2 (Bad peer AS)', () => {
    const net = new BgpNetwork();
    node(net, 1);
    node(net, 2);
    net.addNeighbor('node-1', { peerAddress: ip(2), peerAsn: 64999 });
    net.addNeighbor('node-2', { peerAddress: ip(1), peerAsn: 64512 });
    expect(net.run().virtualTimeMs).toBe(0); // nothing that can ever establish: settled at once
    net.advance(20_000);
    const n = net.log.find((e) => e.type === 'NOTIFICATION');
    expect(n?.message).toMatchObject({ code: 2, subcode: 2 });
    expect(net.sessions().some((s) => s.state === 'Established')).toBe(false);
  });

  it('a peer with no matching neighbor refuses the connection: the session stays Active with "Connection refused"', () => {
    const net = new BgpNetwork();
    node(net, 1);
    node(net, 2);
    net.addNeighbor('node-1', { peerAddress: ip(2), peerAsn: 64512 });
    net.advance(20_000);
    expect(net.sessions('node-1')[0]).toMatchObject({ state: 'Active', lastError: 'Socket: Connection refused' });
  });

  it('both sides active: one connection survives (higher BGP identifier keeps its own)', () => {
    const net = new BgpNetwork({ jitter: false });
    node(net, 1);
    node(net, 2);
    net.addPeering('node-1', 'node-2', { a: { passive: false }, b: { passive: false } });
    net.run();
    expect(net.sessions().map((s) => s.state)).toEqual(['Established', 'Established']);
    expect(net.messageCounts().OPEN).toBe(2);
  });
});

describe('route exchange', () => {
  it('a full mesh of 4 converges: every node has every block, next hop = the originating node', () => {
    const net = mesh(4);
    const rep = net.run();
    expect(rep.converged).toBe(true);
    expect(rep.sessionsEstablished).toBe(12);
    // Each node announces its block once to each of 3 peers; nothing is re-advertised over iBGP.
    expect(rep.messages.UPDATE).toBe(12);
    expect(rep.announced).toBe(12);
    for (let i = 1; i <= 4; i++) {
      const expected = [1, 2, 3, 4].map((j) => (j === i ? `10.244.${j}.0/26 static` : `10.244.${j}.0/26 via ${ip(j)} [Mesh_192_168_56_${10 + j}]`));
      expect(table(net, `node-${i}`)).toEqual(expected);
    }
  });

  it('a mesh of 3: withdrawing a block and a speaker shutdown withdraw it everywhere', () => {
    const net = mesh(3);
    net.run();
    net.withdraw('node-3', '10.244.3.0/26');
    const rep = net.run();
    expect(rep.withdrawn).toBe(2);
    expect(table(net, 'node-1')).toEqual(['10.244.1.0/26 static', `10.244.2.0/26 via ${ip(2)} [Mesh_192_168_56_12]`]);
    net.originate('node-3', '10.244.3.0/26');
    net.run();
    net.stopSpeaker('node-2', 'shutdown');
    const rep2 = net.run();
    const cease = net.log.filter((e) => e.type === 'NOTIFICATION' && e.from === 'node-2');
    expect(cease.map((e) => e.message)).toEqual([
      expect.objectContaining({ code: 6, subcode: 2 }),
      expect.objectContaining({ code: 6, subcode: 2 }),
    ]);
    expect(rep2.lastRouteChangeMs - rep2.startMs).toBeLessThan(10);
    expect(table(net, 'node-1')).toEqual(['10.244.1.0/26 static', `10.244.3.0/26 via ${ip(3)} [Mesh_192_168_56_13]`]);
    expect(net.sessions('node-1').map((s) => s.lastError)).toEqual(['Received: Administrative shutdown', '']);
  });

  it('a node joining a converged mesh of 3: the report counts only what the change cost', () => {
    const net = mesh(3);
    net.run();
    node(net, 4);
    for (const i of [1, 2, 3]) net.addPeering(`node-${i}`, 'node-4', { namePrefix: 'Mesh', a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
    net.originate('node-4', '10.244.4.0/26');
    const rep = net.run();
    // 3 new sessions: 2 OPENs and 2 KEEPALIVEs each; node-4 sends its block on each, and each old
    // node sends node-4 only its own block (iBGP-learned routes are not passed on).
    expect(rep.messages).toEqual({ OPEN: 6, KEEPALIVE: 6, UPDATE: 6, NOTIFICATION: 0 });
    expect(rep.sessionsEstablished).toBe(12);
    expect(rep.virtualTimeMs).toBeGreaterThanOrEqual(1500); // Calico's 2 s connect delay, jittered to 75–100 %
    expect(rep.virtualTimeMs).toBeLessThan(2100);
    expect(table(net, 'node-4')).toHaveLength(4);
    expect(table(net, 'node-1')).toContain(`10.244.4.0/26 via ${ip(4)} [Mesh_192_168_56_14]`);
  });

  it('is deterministic: same calls, same log', () => {
    const a = mesh(5);
    const b = mesh(5);
    a.run();
    b.run();
    expect(a.log.map((e) => `${e.t} ${e.from} ${e.to} ${e.summary}`)).toEqual(b.log.map((e) => `${e.t} ${e.from} ${e.to} ${e.summary}`));
  });
});

describe('route reflection (RFC 4456)', () => {
  function rrNet(o: { clusters?: [string, string] } = {}): BgpNetwork {
    const net = new BgpNetwork();
    const [c1, c2] = o.clusters ?? ['1.0.0.1', '1.0.0.1'];
    node(net, 1, { clusterId: c1 }); // rr-1
    node(net, 2, { clusterId: c2 }); // rr-2
    for (const i of [3, 4, 5, 6]) node(net, i);
    net.addPeering('node-1', 'node-2', { namePrefix: 'Node' }); // RR ↔ RR: plain iBGP
    // node-3, node-4 are clients of rr-1 only; node-5, node-6 of rr-2 only.
    for (const i of [3, 4]) net.addPeering('node-1', `node-${i}`, { namePrefix: 'Node', aIsReflectorFor: true });
    for (const i of [5, 6]) net.addPeering('node-2', `node-${i}`, { namePrefix: 'Node', aIsReflectorFor: true });
    for (const i of [3, 4, 5, 6]) net.originate(`node-${i}`, `10.244.${i}.0/26`);
    return net;
  }

  it('clients learn each other\'s blocks only through the reflector, with ORIGINATOR_ID, CLUSTER_LIST and the originator\'s next hop', () => {
    const net = rrNet({ clusters: ['1.0.0.1', '1.0.0.2'] });
    const rep = net.run();
    expect(rep.converged).toBe(true);
    const r = net.locRib('node-4').find((x) => x.prefix === '10.244.3.0/26')!;
    expect(r.from).toBe('node-1');
    expect(r.attrs).toMatchObject({ nextHop: ip(3), originatorId: ip(3), clusterList: ['1.0.0.1'], asPath: [], localPref: 100 });
    // Across two clusters: rr-1 → rr-2 adds 1.0.0.1 (leaving the client's cluster), rr-2 → its clients adds 1.0.0.2.
    const far = net.locRib('node-5').find((x) => x.prefix === '10.244.3.0/26')!;
    expect(far.attrs).toMatchObject({ nextHop: ip(3), originatorId: ip(3), clusterList: ['1.0.0.2', '1.0.0.1'] });
    for (const i of [3, 4, 5, 6]) expect(net.locRib(`node-${i}`).map((x) => x.prefix)).toEqual(['10.244.3.0/26', '10.244.4.0/26', '10.244.5.0/26', '10.244.6.0/26']);
  });

  it('without a reflector, iBGP split horizon: a non-client RR-less chain does not pass routes on', () => {
    const net = new BgpNetwork();
    for (const i of [1, 2, 3]) node(net, i);
    net.addPeering('node-1', 'node-2');
    net.addPeering('node-2', 'node-3');
    net.originate('node-1', '10.244.1.0/26');
    net.run();
    expect(net.locRib('node-2').map((x) => x.prefix)).toEqual(['10.244.1.0/26']);
    expect(net.locRib('node-3')).toEqual([]);
  });

  it('two reflectors in one cluster: the route reflected by rr-1 carries the shared cluster id, so rr-2 does not reflect it to its clients', () => {
    const net = rrNet();
    net.run();
    // rr-2 holds the route (BIRD checks the cluster list on rr-client sessions only)…
    expect(net.routes('node-2').some((x) => x.prefix === '10.244.3.0/26' && x.attrs.clusterList?.[0] === '1.0.0.1')).toBe(true);
    // …but its clients never get it: RFC 4456 §8 loop prevention.
    expect(net.locRib('node-5').map((x) => x.prefix)).toEqual(['10.244.5.0/26', '10.244.6.0/26']);
    expect(net.adjRibOut('node-2', 'Node_192_168_56_15').map((x) => x.prefix)).toEqual(['10.244.6.0/26']);
  });

  it('a client that peers with both reflectors prefers the shorter path and drops its own route coming back (ORIGINATOR_ID)', () => {
    const net = rrNet();
    net.addPeering('node-2', 'node-3', { namePrefix: 'Node', aIsReflectorFor: true });
    net.run();
    const got = net.routes('node-3').filter((x) => x.prefix === '10.244.3.0/26');
    expect(got.map((x) => x.source)).toEqual(['static']);
    expect(net.locRib('node-5').map((x) => x.prefix)).toContain('10.244.3.0/26');
    // node-6 hears 10.244.4.0/26 (rr-1 client) only via rr-2's session with rr-1: not reflected inside the shared cluster.
    expect(net.locRib('node-6').map((x) => x.prefix)).toEqual(['10.244.3.0/26', '10.244.5.0/26', '10.244.6.0/26']);
  });

  it('with the message log off (UPDATE lists shared by a reflector\'s clients) the exchange is the same as with it on, also when the reflector stops while they are in flight', () => {
    const build = (logLimit: number): BgpNetwork => {
      const net = new BgpNetwork({ logLimit });
      for (const i of [1, 2, 3]) node(net, i, { clusterId: '1.0.0.1' });
      for (let i = 4; i <= 14; i++) node(net, i);
      for (const r of [1, 2, 3]) {
        for (const q of [1, 2, 3]) if (q > r) net.addPeering(`node-${r}`, `node-${q}`, { namePrefix: 'Node', a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
        for (let i = 4; i <= 14; i++) net.addPeering(`node-${r}`, `node-${i}`, { namePrefix: 'Node', aIsReflectorFor: true, a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
      }
      for (let i = 1; i <= 14; i++) net.originate(`node-${i}`, `10.244.${i}.0/26`);
      return net;
    };
    const state = (net: BgpNetwork): string =>
      JSON.stringify([net.messageCounts(), net.speakerNames().map((n) => [net.isUp(n), net.routes(n), net.sessions(n), net.sessions(n).map((s) => [net.adjRibIn(n, s.protocol), net.adjRibOut(n, s.protocol)])])]);
    const report = (r: ReturnType<BgpNetwork['run']>): string => JSON.stringify(r);
    // The first instant at which node-1 sends one UPDATE to several clients.
    const probe = build(1e9);
    probe.run();
    const receivers = new Map<string, Set<string>>();
    for (const e of probe.log) {
      if (e.from !== 'node-1' || e.type !== 'UPDATE' || Number(e.to.slice(5)) <= 3) continue;
      const k = `${e.t} ${e.summary}`;
      receivers.set(k, (receivers.get(k) ?? new Set()).add(e.to));
    }
    const t = Number([...receivers].find(([, to]) => to.size >= 4)![0].split(' ')[0]);
    for (const how of ['shutdown', 'crash', 'converged'] as const) {
      const [on, off] = [build(1e9), build(0)];
      const reports = [on, off].map((net) => {
        if (how === 'converged') return report(net.run());
        net.advance(t - net.clock.now());
        net.stopSpeaker('node-1', how);
        const first = report(net.run());
        net.startSpeaker('node-1');
        return first + report(net.run());
      });
      expect(off.log).toEqual([]);
      expect(on.log.length).toBeGreaterThan(100);
      expect(reports[1]).toBe(reports[0]);
      expect(state(off)).toBe(state(on));
      expect(off.locRib('node-9').length).toBe(14);
    }
  });

  it('a reflector down: its clients lose the reflected routes', () => {
    const net = rrNet({ clusters: ['1.0.0.1', '1.0.0.2'] });
    net.run();
    net.stopSpeaker('node-1', 'shutdown');
    net.run();
    expect(net.locRib('node-3').map((x) => x.prefix)).toEqual(['10.244.3.0/26']);
    expect(net.locRib('node-5').map((x) => x.prefix)).toEqual(['10.244.5.0/26', '10.244.6.0/26']);
  });
});

describe('eBGP, filters and best path', () => {
  it('a ToR in another AS learns pod blocks with AS_PATH [64512]; nodes reject them back (AS loop)', () => {
    const net = new BgpNetwork();
    node(net, 1);
    node(net, 2);
    net.addSpeaker({ name: 'tor', routerId: '192.168.56.1', asn: 65000, address: '192.168.56.1', connected: ['192.168.56.0/24'] });
    net.addPeering('tor', 'node-1');
    net.addPeering('tor', 'node-2');
    net.originate('node-1', '10.244.1.0/26');
    net.originate('node-2', '10.244.2.0/26');
    net.run();
    const tor = net.locRib('tor');
    expect(tor.map((r) => [r.prefix, r.attrs.nextHop, r.attrs.asPath, r.attrs.localPref])).toEqual([
      ['10.244.1.0/26', ip(1), [64512], 100],
      ['10.244.2.0/26', ip(2), [64512], 100],
    ]);
    expect(net.locRib('node-1').map((r) => r.prefix)).toEqual(['10.244.1.0/26']);
    // The ToR did send it (same subnet: next hop kept, AS 65000 prepended), node-1 dropped it.
    const sent = net.log.find((e) => e.from === 'tor' && e.to === 'node-1' && e.type === 'UPDATE');
    expect(sent?.summary).toBe(`UPDATE 10.244.2.0/26 next-hop ${ip(2)} as-path [65000 64512]`);
  });

  it('eBGP towards a peer not on a shared subnet: next hop = own address, AS prepended, LOCAL_PREF not sent', () => {
    const net = new BgpNetwork();
    node(net, 1);
    net.addSpeaker({ name: 'tor', routerId: '192.168.56.1', asn: 65000, address: '192.168.56.1', addresses: ['10.10.0.1'], connected: ['192.168.56.0/24', '10.10.0.0/30'] });
    net.addSpeaker({ name: 'upstream', routerId: '10.10.0.2', asn: 65100, address: '10.10.0.2' });
    net.addPeering('tor', 'node-1');
    net.addNeighbor('tor', { peerAddress: '10.10.0.2', peerAsn: 65100, sourceAddress: '10.10.0.1' });
    net.addNeighbor('upstream', { peerAddress: '10.10.0.1', peerAsn: 65000 });
    net.originate('node-1', '10.244.1.0/26');
    net.run();
    const r = net.locRib('upstream')[0]!;
    expect(r.attrs).toMatchObject({ nextHop: '10.10.0.1', asPath: [65000, 64512], localPref: 100 });
    const sent = net.log.find((e) => e.from === 'tor' && e.to === 'upstream' && e.type === 'UPDATE');
    expect(sent?.summary).toBe('UPDATE 10.244.1.0/26 next-hop 10.10.0.1 as-path [65000 64512]');
  });

  it('import and export filters decide, as Calico\'s BIRD filters do (export local blocks only; reject own blocks)', () => {
    const net = new BgpNetwork();
    node(net, 1);
    node(net, 2);
    const exportLocal: NeighborConfig['exportFilter'] = (r) => r.source === 'static' && r.prefix.startsWith('10.244.');
    net.addPeering('node-1', 'node-2', { a: { exportFilter: exportLocal }, b: { exportFilter: exportLocal, importFilter: (r) => r.prefix !== '10.244.2.0/26' } });
    net.originate('node-1', '10.244.1.0/26');
    net.originate('node-1', '172.16.0.0/16');
    net.originate('node-1', '10.244.2.0/26');
    net.originate('node-2', '10.244.2.0/26');
    net.run();
    expect(net.routes('node-2').map((r) => `${r.prefix} ${r.source}${r.filtered ? ' filtered' : ''}${r.best ? ' *' : ''}`)).toEqual([
      '10.244.1.0/26 bgp *',
      '10.244.2.0/26 static *',
      '10.244.2.0/26 bgp filtered',
    ]);
    expect(net.adjRibIn('node-2', 'bgp_192_168_56_11').map((r) => r.prefix)).toEqual(['10.244.1.0/26', '10.244.2.0/26']);
  });

  it('best path: higher LOCAL_PREF, then shorter AS_PATH, then eBGP over iBGP, then lower router id', () => {
    const net = new BgpNetwork();
    net.addSpeaker({ name: 'r', routerId: '10.0.0.100', asn: 64512, address: '10.0.0.100' });
    net.addSpeaker({ name: 'a', routerId: '10.0.0.1', asn: 64512, address: '10.0.0.1' });
    net.addSpeaker({ name: 'b', routerId: '10.0.0.2', asn: 64512, address: '10.0.0.2' });
    net.addSpeaker({ name: 'e', routerId: '10.0.0.3', asn: 65001, address: '10.0.0.3' });
    for (const p of ['a', 'b', 'e']) net.addPeering('r', p);
    const P = '203.0.113.0/24';
    net.originate('a', P);
    net.originate('b', P);
    net.run();
    expect(net.locRib('r')[0]!.from).toBe('a'); // equal but lower router id
    net.originate('e', P);
    net.run();
    expect(net.locRib('r')[0]!.from).toBe('a'); // eBGP path [65001] is longer than iBGP []
    net.withdraw('a', P);
    net.withdraw('b', P);
    net.run();
    expect(net.locRib('r')[0]!.from).toBe('e');
    net.originate('b', P, { localPref: 200 });
    net.run();
    expect(net.locRib('r')[0]).toMatchObject({ from: 'b', attrs: { localPref: 200 } });
  });

  it('bad input: typed errors naming the field', () => {
    const net = new BgpNetwork();
    expect(() => net.addSpeaker({ name: 'x', routerId: '1.1.1.1', asn: 0, address: '10.0.0.1' })).toThrow(InputError);
    expect(() => net.addSpeaker({ name: 'x', routerId: '1.1.1.1', asn: 4294967296, address: '10.0.0.1' })).toThrow(/asn: AS number 4294967296 is out of range/);
    node(net, 1);
    expect(() => net.addNeighbor('node-1', { peerAddress: 'nope', peerAsn: 64512 })).toThrow(/peerAddress/);
    expect(() => net.addNeighbor('node-9', { peerAddress: ip(2), peerAsn: 64512 })).toThrow(/no BGP speaker "node-9"/);
    expect(() => net.originate('node-1', '10.244.1.1/26')).toThrow(/not an IPv4 prefix/);
  });
});
