import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Endpoint, EndpointPort, EndpointSlice, Service, ServicePort } from '../../objects.js';
import { makeService, makeSlice } from './fixtures.js';
import { KubeProxyIptables, generateIptablesRules } from './proxier.js';
import type { GeneratedRuleset, NodeProxyConfig, RulesetDiff } from './types.js';

/**
 * Output pinning for large generated clusters: the payload, every rule with its position and
 * provenance, the chain lists and an incremental diff, hashed. The hashes were computed with the
 * generator as it stood before the performance work of issue 4 item 8 (commit 9724125), so any
 * optimisation that changes a byte of output fails here. Correctness of that output against
 * upstream kube-proxy is pinned by proxier.test.ts and kernel.test.ts; this file only guards
 * "same output as before" on inputs far larger and more varied than those tests use.
 */

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Deterministic cluster exercising every per-service path of buildPortFragment. */
function cluster(n: number, epsPer: number, family: 4 | 6): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  const v4 = family === 4;
  const cip = (i: number) => (v4 ? `10.96.${(i >> 8) & 255}.${i & 255}` : `fd00:96::${i.toString(16)}`);
  const podIp = (i: number, e: number) => (v4 ? `10.${64 + (i >> 12)}.${(i >> 4) & 255}.${((i & 15) << 4) + e}` : `fd00:10::${i.toString(16)}:${e.toString(16)}`);
  const extIp = (i: number) => (v4 ? `203.0.${(i >> 8) & 255}.${i & 255}` : `2001:db8:e::${i.toString(16)}`);
  const lbIp = (i: number) => (v4 ? `198.51.${(i >> 8) & 255}.${i & 255}` : `2001:db8:b::${i.toString(16)}`);
  for (let i = 0; i < n; i++) {
    const ns = `ns${i % 37}`;
    const name = `svc-${i}`;
    const kind = i % 11;
    const type = kind < 4 ? 'ClusterIP' : kind < 7 ? 'NodePort' : 'LoadBalancer';
    const twoPorts = i % 5 === 0;
    const ports: ServicePort[] = [{ name: 'http', port: 80, protocol: 'TCP', ...(type !== 'ClusterIP' ? { nodePort: 30000 + (i % 2700) } : {}) }];
    if (twoPorts) ports.push({ name: 'dns', port: 53, protocol: 'UDP', ...(type !== 'ClusterIP' ? { nodePort: 30000 + ((i + 1350) % 2700) } : {}) });
    const spec: Parameters<typeof makeService>[2] = {
      type,
      clusterIP: cip(i),
      ipFamilies: [v4 ? 'IPv4' : 'IPv6'],
      ports,
    };
    if (i % 13 === 3) spec.externalIPs = [extIp(i)];
    if (i % 7 === 2) {
      spec.sessionAffinity = 'ClientIP';
      if (i % 14 === 2) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 600 } };
    }
    if (type !== 'ClusterIP' && i % 3 === 0) spec.externalTrafficPolicy = 'Local';
    if (type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local') spec.healthCheckNodePort = 32000 + (i % 700);
    if (i % 17 === 5) spec.internalTrafficPolicy = 'Local';
    if (type === 'LoadBalancer' && i % 4 === 1) spec.loadBalancerSourceRanges = v4 ? ['192.168.56.0/24', '203.0.113.0/24'] : ['2001:db8:56::/64'];
    const status = type === 'LoadBalancer' ? { loadBalancer: { ingress: [{ ip: lbIp(i) }] } } : undefined;
    services.push(makeService(ns, name, spec, status));

    // endpoints: none for some, not-ready / terminating mixes for others
    const count = i % 19 === 7 ? 0 : 1 + ((i * 7) % epsPer);
    const eps: Endpoint[] = [];
    for (let e = 0; e < count; e++) {
      const terminating = i % 23 === 4 && e % 2 === 0;
      const notReady = i % 29 === 6 && e === 0;
      eps.push({
        addresses: [podIp(i, e)],
        nodeName: `node-${(i + e) % 4}`,
        conditions: terminating ? { ready: false, serving: true, terminating: true } : notReady ? { ready: false } : { ready: true },
        ...(i % 9 === 1 ? { targetRef: { kind: 'Pod', namespace: ns, name: `${name}-pod-${e}` } } : {}),
      });
    }
    const sp: EndpointPort[] = [{ name: 'http', port: 8080, protocol: 'TCP' }];
    if (twoPorts) sp.push({ name: 'dns', port: 5353, protocol: 'UDP' });
    slices.push(makeSlice(ns, name, 1, v4 ? 'IPv4' : 'IPv6', eps, sp));
  }
  return { services, slices };
}

const node: NodeProxyConfig = {
  nodeName: 'node-1',
  nodeIPs: ['192.168.56.11', '2001:db8:56::11'],
  clusterCIDRs: ['10.64.0.0/10', 'fd00:10::/48'],
  localDetector: { mode: 'ClusterCIDR' },
};

/** Text every case's payload must contain: one marker per rule kind of buildPortFragment. */
const FEATURES = [
  ':KUBE-SVL-',
  ':KUBE-EXT-',
  ':KUBE-FW-',
  'has no endpoints" ',
  'has no local endpoints" ',
  ' external IP" ',
  ' loadbalancer IP" ',
  'health check node port',
  '--rcheck --seconds 10800 --reap',
  '--rcheck --seconds 600 --reap',
  '-m recent --name KUBE-SEP-',
  'traffic not accepted by KUBE-FW-',
  'pod traffic for ',
  'masquerade traffic for ',
  '-m statistic --mode random --probability 0.',
  '-m udp -p udp',
];
const FEATURES_V4_LOCALHOST = ['--nfacct-name localhost_nps_accepted_pkts'];

function rulesText(r: GeneratedRuleset): string {
  return r.rules.map((x) => `${x.table}|${x.chain}|${x.index}|${x.rule}|${JSON.stringify(x.provenance)}`).join('\n');
}

function diffText(d: RulesetDiff): string {
  return JSON.stringify(d);
}

const cases: Array<{ label: string; n: number; eps: number; family: 4 | 6; large: boolean; node?: NodeProxyConfig; hashes: { payload: string; rules: string; chains: string; diff: string } }> = [
  {
    label: '2,000 services, IPv4 (large-cluster mode)',
    n: 2000,
    eps: 6,
    family: 4,
    large: true,
    hashes: {
      payload: 'b22c10388bd95d41da56b26166fd363ddd6f51980ea075a49355f51b1183a1af',
      rules: 'd289d91f717d5f9e928ad5c4b86bc9579a463df61baded08f536d465d3774681',
      chains: '689e75594fa417b8802e3c059e4ebc7080cfbc672bb10c4dfb964f6d463cf76d',
      diff: 'de26476ae1271e65e1c96d61313c33bac685f631218e4175de3f857643c3922a',
    },
  },
  {
    label: '2,000 services, IPv6 (large-cluster mode)',
    n: 2000,
    eps: 6,
    family: 6,
    large: true,
    hashes: {
      payload: '59711f4e9166297c7267391b77fa5f76a1b1a5b3dc16def6c730392630583cc3',
      rules: 'ef4b6dbd2a2ca7532e7ac43eee703efa1b9d50ce163f6ebfdb020f6495d341ad',
      chains: '9ec1e9d2a3d927def8cac73dc46b65a8a7e089eb341514cbb092990d5b4853e5',
      diff: '4a4eba5d9d8f37f0a2e785955b0502075a0a2017fefc2f281b2a72fb0ec6fe3c',
    },
  },
  {
    label: '300 services, IPv4, masqueradeAll, nodePortAddresses (comments on SEP rules)',
    n: 300,
    eps: 5,
    family: 4,
    large: false,
    node: { ...node, masqueradeAll: true, nodePortAddresses: ['192.168.56.0/24'] },
    hashes: {
      payload: '139518d3a4e9e172ca16128a65cfadda2718646830f7b5a53bdc679d010f5857',
      rules: '48d9bc23683ccff7831fe8094a8e58767cb7dcf2fc9184cac9a365d2a7ee4eb4',
      chains: 'f82d04bf01c22ba51c41dfcaca15f626cfbe0d6455c89aec56d54a6f0c4d162f',
      diff: '3a1259489906e4436006d7d4283b31ad8ba2a04a7b11678373bd620822988809',
    },
  },
];

describe('generated output is unchanged on large clusters (hashes from the pre-optimisation generator)', () => {
  for (const c of cases)
    it(c.label, () => {
      const { services, slices } = cluster(c.n, c.eps, c.family);
      const nd = c.node ?? node;
      const r = generateIptablesRules({ services, endpointSlices: slices, node: nd, family: c.family });
      expect(r.largeClusterMode).toBe(c.large);
      // the generated cluster reaches every per-service path (else the hash guards less than it seems)
      for (const marker of FEATURES) expect(r.payload, marker).toContain(marker);
      if (c.family === 4 && !c.node) for (const marker of FEATURES_V4_LOCALHOST) expect(r.payload, marker).toContain(marker);
      if (!c.large) expect(r.payload).toMatch(/-A KUBE-SEP-\w+ -m comment --comment /);
      const got = {
        payload: sha(r.payload),
        rules: sha(rulesText(r)),
        chains: sha(JSON.stringify([r.chains, r.deletedChains, r.warnings])),
        diff: '',
      };
      // a partial sync: one endpoint added to one Service, one Service deleted, and the full ruleset after
      const kp = new KubeProxyIptables(nd, c.family, { partialSyncPayload: true });
      kp.load(services, slices);
      const t = 42;
      const grown = cluster(t + 1, c.eps + 1, c.family).slices[t]!;
      const eps = [...grown.endpoints, { addresses: [c.family === 4 ? '10.127.0.1' : 'fd00:10::ffff'], nodeName: 'node-1', conditions: { ready: true } }];
      const d1 = kp.update([{ kind: 'EndpointSlice', op: 'update', object: { ...grown, endpoints: eps } }]);
      const d2 = kp.update([{ kind: 'Service', op: 'delete', object: services[17]! }]);
      const after = kp.ruleset();
      got.diff = sha([diffText(d1), diffText(d2), after.payload, rulesText(after)].join('\n--\n'));
      expect(got).toEqual(c.hashes);
    });
});

describe('full sync: large-cluster mode is decided by the deduplicated endpoint total, whatever the first guess', () => {
  const n600 = (base: number): Endpoint[] =>
    Array.from({ length: 600 }, (_, e) => ({ addresses: [`10.70.${(base + e) >> 8}.${(base + e) & 255}`], nodeName: 'node-2', conditions: { ready: true } }));
  const ports: EndpointPort[] = [{ name: 'http', port: 8080, protocol: 'TCP' }];
  const svc = makeService('ns', 'big', { clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });

  it('600 endpoints listed twice (1,200 addresses in slices) are 600 endpoints: comments kept', () => {
    const once = generateIptablesRules({ services: [svc], endpointSlices: [makeSlice('ns', 'big', 1, 'IPv4', n600(0), ports)], node, family: 4 });
    const twice = generateIptablesRules({
      services: [svc],
      endpointSlices: [makeSlice('ns', 'big', 1, 'IPv4', n600(0), ports), makeSlice('ns', 'big', 2, 'IPv4', n600(0), ports)],
      node,
      family: 4,
    });
    expect(once.largeClusterMode).toBe(false);
    expect(twice.largeClusterMode).toBe(false);
    expect(twice.payload).toMatch(/-A KUBE-SEP-\w+ -m comment --comment ns\/big:http -s 10\.70\.0\.0 -j KUBE-MARK-MASQ/);
    expect(twice.payload).toBe(once.payload);
  });

  it('1,200 distinct endpoints: no comments on SEP rules', () => {
    const r = generateIptablesRules({
      services: [svc],
      endpointSlices: [makeSlice('ns', 'big', 1, 'IPv4', n600(0), ports), makeSlice('ns', 'big', 2, 'IPv4', n600(600), ports)],
      node,
      family: 4,
    });
    expect(r.largeClusterMode).toBe(true);
    expect(r.payload).toMatch(/-A KUBE-SEP-\w+ -s 10\.70\.0\.0 -j KUBE-MARK-MASQ/);
    expect(r.payload).not.toMatch(/-A KUBE-SEP-\w+ -m comment/);
  });

  it('slices of a Service that does not exist count for nothing', () => {
    const r = generateIptablesRules({
      services: [svc],
      endpointSlices: [makeSlice('ns', 'big', 1, 'IPv4', n600(0), ports), makeSlice('ns', 'gone', 1, 'IPv4', n600(600), ports)],
      node,
      family: 4,
    });
    expect(r.largeClusterMode).toBe(false);
  });
});

describe('full sync: warnings keep the order of the Services given', () => {
  it('services given z, a: the warning about z comes first', () => {
    const mk = (name: string, ip: string) =>
      makeService('ns', name, { clusterIP: ip, externalIPs: [`not-an-ip-${name}`], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    const r = generateIptablesRules({ services: [mk('z', '10.96.0.2'), mk('a', '10.96.0.3')], endpointSlices: [], node, family: 4 });
    expect(r.warnings).toEqual(['Service ns/z: skipping invalid externalIP "not-an-ip-z"', 'Service ns/a: skipping invalid externalIP "not-an-ip-a"']);
  });
});
