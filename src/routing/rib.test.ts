import { describe, expect, it } from 'vitest';
import { Rng, SeededChooser, enumerateBranches, formatIp, parseCidr, parseIp } from '../base/index.js';
import { StepRecorder } from '../trace/index.js';
import type { RouteStep } from '../trace/index.js';
import { answerArp } from './arp.js';
import { formatRouteGet, formatRoutes } from './format.js';
import { multipathHash, selectByHash, upperBounds } from './multipath.js';
import { Rib } from './rib.js';
import { RoutingError } from './types.js';

const ip = parseIp;
const cidr = (s: string) => parseCidr(s);

function node(): Rib {
  const rib = new Rib(['eth0', 'eth1']);
  rib.addAddress('lo', '127.0.0.1/8');
  rib.addAddress('eth0', '192.168.56.11/24');
  rib.addAddress('eth1', '10.0.0.1/24');
  rib.forwarding[4] = true;
  return rib;
}

describe('multipath', () => {
  it('fib_rebalance upper bounds split the 31-bit hash space by weight', () => {
    // weights 1 and 3: nexthop 0 owns [0, 2^29 - 1], nexthop 1 the rest (2^31 / 4 = 2^29).
    expect(upperBounds([1, 3])).toEqual([2 ** 29 - 1, 2 ** 31 - 1]);
    expect(selectByHash([1, 3], 2 ** 29 - 1)).toBe(0);
    expect(selectByHash([1, 3], 2 ** 29)).toBe(1);
  });

  it('the hash is per flow and spreads flows by weight', () => {
    const a = multipathHash({ src: ip('10.0.0.1'), dst: ip('10.40.0.1') });
    expect(multipathHash({ src: ip('10.0.0.1'), dst: ip('10.40.0.1') })).toBe(a);
    expect(a).toBeLessThan(2 ** 31);
    let second = 0;
    for (let i = 0; i < 4000; i++) if (selectByHash([1, 3], multipathHash({ src: ip('10.0.0.1'), dst: { family: 4, n: 0x0a280000 + i } })) === 1) second++;
    expect(second / 4000).toBeGreaterThan(0.7);
    expect(second / 4000).toBeLessThan(0.8);
  });

  it('--all enumerates every nexthop with probability weight/total', () => {
    const rib = node();
    rib.addRoute({ dst: cidr('10.40.0.0/16'), nexthops: [{ gateway: ip('192.168.56.2'), weight: 1 }, { gateway: ip('10.0.0.2'), weight: 3 }] });
    const branches = enumerateBranches((chooser) => rib.lookupRoute({ dst: ip('10.40.1.1'), chooser }).dev);
    expect(branches.map((b) => [b.result, b.probability])).toEqual([
      ['eth0', 0.25],
      ['eth1', 0.75],
    ]);
    const seeded = rib.lookupRoute({ dst: ip('10.40.1.1'), chooser: new SeededChooser(new Rng(1)) });
    expect(['eth0', 'eth1']).toContain(seeded.dev);
  });
});

describe('tie-breaks and lookup', () => {
  it('longest prefix, then lowest metric, then the first appended', () => {
    const rib = node();
    rib.addRoute({ dst: cidr('10.10.0.0/16'), nexthops: [{ gateway: ip('10.0.0.9') }], metric: 100 });
    rib.addRoute({ dst: cidr('10.10.0.0/16'), nexthops: [{ gateway: ip('192.168.56.9') }], metric: 50 });
    rib.addRoute({ dst: cidr('10.10.7.0/24'), nexthops: [{ gateway: ip('10.0.0.7') }], metric: 900 });
    rib.addRoute({ dst: cidr('10.11.0.0/16'), nexthops: [{ gateway: ip('10.0.0.5') }], metric: 5 }, { mode: 'append' });
    rib.addRoute({ dst: cidr('10.11.0.0/16'), nexthops: [{ gateway: ip('192.168.56.5') }], metric: 5 }, { mode: 'append' });
    expect(rib.lookupRoute({ dst: ip('10.10.1.1') }).dev).toBe('eth0');
    expect(rib.lookupRoute({ dst: ip('10.10.7.1') }).dev).toBe('eth1');
    expect(rib.lookupRoute({ dst: ip('10.11.0.1') }).dev).toBe('eth1');
    expect(() => rib.addRoute({ dst: cidr('10.10.0.0/16'), nexthops: [{ gateway: ip('10.0.0.3') }], metric: 50 })).toThrow('RTNETLINK answers: File exists');
  });

  it('reports a route step with the route as ip route prints it', () => {
    const rib = node();
    rib.addRoute({ dst: cidr('0.0.0.0/0'), nexthops: [{ gateway: ip('192.168.56.1') }] });
    const rec = new StepRecorder();
    const res = rib.lookupRoute({ dst: ip('8.8.8.8') }, rec);
    expect(formatIp(res.src!)).toBe('192.168.56.11');
    const step = rec.steps[0] as RouteStep;
    expect(step).toMatchObject({ kind: 'route', table: 'main', result: 'unicast', route: 'default via 192.168.56.1 dev eth0' });
    rib.addRoute({ type: 'blackhole', dst: cidr('10.99.0.0/16') });
    const bh = rib.lookupRoute({ dst: ip('10.99.0.1') }, rec);
    expect(bh.kind).toBe('blackhole');
    expect((rec.steps[1] as RouteStep).result).toBe('blackhole');
  });

  it('forwarded packets need ip_forward', () => {
    const rib = node();
    expect(rib.lookupRoute({ dst: ip('10.0.0.5'), src: ip('192.168.56.20'), iif: 'eth0' })).toMatchObject({ kind: 'unicast', forward: true, dev: 'eth1' });
    rib.forwarding[4] = false;
    expect(rib.lookupRoute({ dst: ip('10.0.0.5'), src: ip('192.168.56.20'), iif: 'eth0' }).errno).toBe('EHOSTUNREACH');
    expect(rib.lookupRoute({ dst: ip('10.0.0.1'), src: ip('192.168.56.20'), iif: 'eth0' }).kind).toBe('local');
  });
});

describe('flannel host-gw needs the peer on-link (fib_check_nh)', () => {
  it('accepts a peer in a connected subnet and refuses one behind a router', () => {
    const rib = node();
    rib.addRoute({ dst: cidr('0.0.0.0/0'), nexthops: [{ gateway: ip('192.168.56.1') }] });
    const ok = rib.addRoute({ dst: cidr('10.244.2.0/24'), nexthops: [{ gateway: ip('192.168.56.12'), dev: 'eth0' }] });
    expect(ok.nexthops[0]!.dev).toBe('eth0');
    let err: unknown;
    try {
      rib.addRoute({ dst: cidr('10.244.3.0/24'), nexthops: [{ gateway: ip('192.168.57.13'), dev: 'eth0' }] }, { loc: { file: 'flannel', field: 'node-3' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RoutingError);
    expect((err as RoutingError).iproute2).toBe('Error: Nexthop has invalid gateway.');
    expect((err as RoutingError).errno).toBe('EINVAL');
    expect(rib.routes(4, 254).some((r) => r.dst.network.n === ip('10.244.3.0').n)).toBe(false);
    // flannel vxlan installs `onlink` routes, which skip the check.
    rib.addRoute({ dst: cidr('10.244.3.0/24'), nexthops: [{ gateway: ip('10.244.3.0'), dev: 'eth1', onlink: true }] });
  });
});

describe('addresses and source selection', () => {
  it('fib_add_ifaddr routes, and their removal', () => {
    const rib = new Rib(['eth0']);
    rib.addAddress('eth0', '10.1.0.5/24');
    rib.addAddress('eth0', '10.1.0.6/24');
    expect(formatRoutes(rib.routes(4, 'all'), { table: 'all' })).toBe(
      [
        '10.1.0.0/24 dev eth0 proto kernel scope link src 10.1.0.5 ',
        'local 10.1.0.5 dev eth0 table local proto kernel scope host src 10.1.0.5 ',
        'local 10.1.0.6 dev eth0 table local proto kernel scope host src 10.1.0.5 ',
        'broadcast 10.1.0.255 dev eth0 table local proto kernel scope link src 10.1.0.5 ',
        '',
      ].join('\n'),
    );
    rib.removeAddress('eth0', ip('10.1.0.5'));
    expect(rib.routes(4, 'all')).toEqual([]);
    expect(rib.addresses).toEqual([]);
  });

  it('inet_select_addr prefers the subnet of the gateway, then falls back to other devices', () => {
    const rib = new Rib(['eth0', 'tun0']);
    rib.addAddress('eth0', '10.1.0.5/24');
    rib.addAddress('eth0', '10.2.0.5/24');
    expect(formatIp(rib.selectSourceV4('eth0', ip('10.2.0.1'), 0)!)).toBe('10.2.0.5');
    expect(formatIp(rib.selectSourceV4('eth0', null, 0)!)).toBe('10.1.0.5');
    expect(formatIp(rib.selectSourceV4('tun0', null, 0)!)).toBe('10.1.0.5');
  });
});

describe('neighbours and proxy ARP', () => {
  it('resolves through the segment once, then from the cache', () => {
    const rib = node();
    let asked = 0;
    const resolver = () => {
      asked++;
      return '02:00:00:00:00:07';
    };
    const rec = new StepRecorder();
    expect(rib.neigh.resolve('eth0', ip('192.168.56.7'), resolver, rec).mac).toBe('02:00:00:00:00:07');
    expect(rib.neigh.resolve('eth0', ip('192.168.56.7'), resolver, rec).cached).toBe(true);
    expect(asked).toBe(1);
    expect(rib.neigh.get('eth0', ip('192.168.56.7'))?.state).toBe('REACHABLE');
    expect(rib.neigh.resolve('eth0', ip('192.168.56.8'), () => null).mac).toBeNull();
    expect(rib.neigh.get('eth0', ip('192.168.56.8'))?.state).toBe('FAILED');
    expect(rec.steps.map((s) => s.kind)).toEqual(['neigh', 'neigh']);
  });

  it('answers for addresses routed out of another device when proxy_arp is on (Calico 169.254.1.1)', () => {
    const rib = node();
    rib.addDevice('cali1');
    rib.addRoute({ dst: cidr('0.0.0.0/0'), nexthops: [{ gateway: ip('192.168.56.1') }] });
    rib.addRoute({ dst: cidr('10.244.1.5/32'), nexthops: [{ dev: 'cali1' }] });
    const q = { dev: 'cali1', target: ip('169.254.1.1'), sender: ip('10.244.1.5') };
    expect(answerArp(rib, q)).toBeNull();
    rib.proxyArp.add('cali1');
    expect(answerArp(rib, q)).toBe('proxy');
    // Not for a target routed back out of the asking device.
    expect(answerArp(rib, { dev: 'cali1', target: ip('10.244.1.5'), sender: ip('10.244.1.5') })).toBeNull();
    expect(answerArp(rib, { dev: 'eth0', target: ip('192.168.56.11'), sender: ip('192.168.56.1') })).toBe('local');
  });

  it('rp_filter strict drops a source whose reverse route leaves by another device; loose accepts it', () => {
    const rib = node();
    rib.addRoute({ dst: cidr('0.0.0.0/0'), nexthops: [{ gateway: ip('192.168.56.1') }] });
    const q = { src: ip('8.8.8.8'), dst: ip('10.0.0.1'), iif: 'eth1' };
    expect(rib.validateSource(q, 1)).toBe('EXDEV');
    expect(rib.validateSource(q, 2)).toBeNull();
    expect(rib.validateSource({ ...q, iif: 'eth0' }, 1)).toBeNull();
  });
});

describe('loopback addresses on other devices (route_localnet)', () => {
  // Expectations from `ip route get … iif va` on this kernel (6.18): EINVAL unless
  // net.ipv4.conf.{va,all}.route_localnet=1, then `local 127.0.0.1 … dev lo`.
  const build = () => {
    const rib = new Rib(['va']);
    rib.forwarding[4] = true;
    rib.addAddress('lo', '127.0.0.1/8');
    rib.addAddress('va', '10.1.0.1/24');
    return rib;
  };
  it('drops 127/8 destinations and sources arriving on va as martians', () => {
    const rib = build();
    const toLo = rib.lookupRoute({ dst: parseIp('127.0.0.1'), src: parseIp('10.1.0.2'), iif: 'va' });
    expect(toLo).toMatchObject({ kind: 'no-route', errno: 'EINVAL', error: 'RTNETLINK answers: Invalid argument' });
    expect(toLo.reason).toMatch(/martian destination 127\.0\.0\.1 on va/);
    expect(formatRouteGet(toLo)).toBe('RTNETLINK answers: Invalid argument\n');
    const fromLo = rib.lookupRoute({ dst: parseIp('10.1.0.1'), src: parseIp('127.0.0.5'), iif: 'va' });
    expect(fromLo.reason).toMatch(/martian source 127\.0\.0\.5/);
  });
  it('accepts them with route_localnet on the device or on all', () => {
    for (const key of ['va', 'all']) {
      const rib = build();
      rib.routeLocalnet.add(key);
      expect(rib.lookupRoute({ dst: parseIp('127.0.0.1'), src: parseIp('10.1.0.2'), iif: 'va' }).kind).toBe('local');
    }
  });
  it('IPv6: ::1 on a non-loopback device is dropped (ip6_rcv_core)', () => {
    const rib = build();
    rib.addAddress('lo', '::1/128');
    rib.addAddress('va', 'fd00:1::1/64');
    rib.forwarding[6] = true;
    expect(rib.lookupRoute({ dst: parseIp('::1'), src: parseIp('fd00:1::2'), iif: 'va' }).reason).toMatch(/::1 on va/);
  });
});

describe('dump order of routes sharing a key', () => {
  it('lists the longer prefix first, as `ip route` does (fib_trie leaf aliases by suffix length)', () => {
    // From the kernel: ip addr add 10.244.0.3/24 dev va; ip route add 10.244.0.0/16 via 10.244.0.1;
    // ip route add default via 10.244.0.1; ip route add 10.244.0.0/20 via 10.244.0.1 → `ip route`.
    const rib = new Rib(['va']);
    rib.addAddress('va', '10.244.0.3/24');
    const via = { gateway: parseIp('10.244.0.1'), dev: 'va' };
    rib.addRoute({ dst: parseCidr('10.244.0.0/16'), nexthops: [via] });
    rib.addRoute({ dst: parseCidr('0.0.0.0/0'), nexthops: [via] });
    rib.addRoute({ dst: parseCidr('10.244.0.0/20'), nexthops: [via] });
    expect(formatRoutes(rib.routes(4))).toBe(
      [
        'default via 10.244.0.1 dev va ',
        '10.244.0.0/24 dev va proto kernel scope link src 10.244.0.3 ',
        '10.244.0.0/20 via 10.244.0.1 dev va ',
        '10.244.0.0/16 via 10.244.0.1 dev va ',
        '',
      ].join('\n'),
    );
  });
});
