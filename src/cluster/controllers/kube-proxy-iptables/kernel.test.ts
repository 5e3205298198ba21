import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointPort } from '../../objects.js';
import { makeService, makeSlice, tablesOf, upstreamFixtureNode } from './fixtures.js';
import { KubeProxyIptables, generateIptablesRules } from './proxier.js';
import type { GeneratedRuleset } from './types.js';

/**
 * The payload against the real kernel: in a fresh network namespace, kube-proxy's jump rules are
 * inserted with `iptables -I … 1`, the payload is loaded with `iptables-restore --noflush --counters`
 * (ip6tables for IPv6), and `iptables-save` must show every chain and rule the generator declared.
 */
const NS = `pp${process.pid}kp`;
const canRun = (() => {
  if (process.getuid?.() !== 0) return false;
  const r = spawnSync('ip', ['netns', 'add', NS], { stdio: 'ignore' });
  return r.status === 0;
})();
if (!canRun) console.warn('SKIPPED (needs root and network namespaces): kube-proxy-iptables kernel load test');

// Creates nfacct objects over nfnetlink (NFNL_SUBSYS_ACCT, NFNL_MSG_ACCT_NEW, NFACCT_NAME), as
// kube-proxy's nfacct.Ensure does; the `nfacct` tool need not be installed.
const NFACCT_PY = `
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.bind((0, 0))
for seq, name in enumerate(sys.argv[1:], 1):
    n = name.encode() + b'\\0'
    attr = struct.pack('=HH', 4 + len(n), 1) + n + b'\\0' * ((4 - len(n) % 4) % 4)
    body = struct.pack('=BBH', 0, 0, 0) + attr
    s.send(struct.pack('=IHHII', 16 + len(body), 7 << 8, 0x1 | 0x4 | 0x400 | 0x200, seq, 0) + body)
    err = struct.unpack('=i', s.recv(4096)[16:20])[0]
    if err not in (0, -17): sys.exit('nfacct add %s: errno %d' % (name, -err))
`;
let haveNfacct = false;

function inNs(cmd: string, args: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', NS, cmd, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

beforeAll(() => {
  if (!canRun) return;
  const r = spawnSync('ip', ['netns', 'exec', NS, 'python3', '-c', NFACCT_PY, 'ct_state_invalid_dropped_pkts', 'localhost_nps_accepted_pkts'], { encoding: 'utf8' });
  haveNfacct = r.status === 0;
  if (!haveNfacct) console.warn(`kube-proxy-iptables kernel test: could not create nfacct objects (${r.stderr || r.error}); loading payloads generated without nfacct counters`);
});
afterAll(() => {
  if (canRun) spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
});

const TCP = 'TCP' as const;
const p80: EndpointPort[] = [{ name: 'p80', port: 80, protocol: TCP }];

function load(r: GeneratedRuleset, bin: 'iptables' | 'ip6tables'): string {
  for (const j of r.jumpRules) {
    const check = spawnSync('ip', ['netns', 'exec', NS, bin, '-t', j.table, '-C', j.chain, ...j.args], { stdio: 'ignore' });
    if (check.status !== 0) {
      if (j.table === 'filter' || j.table === 'nat') spawnSync('ip', ['netns', 'exec', NS, bin, '-t', j.table, '-N', j.target], { stdio: 'ignore' });
      inNs(bin, ['-t', j.table, '-I', j.chain, '1', ...j.args]);
    }
  }
  inNs(`${bin}-restore`, ['--noflush', '--counters'], r.payload);
  return inNs(`${bin}-save`, []);
}

function checkLoaded(r: GeneratedRuleset, save: string): void {
  const t = tablesOf(save);
  for (const c of r.chains) expect(t.get(c.table)?.chains.has(c.chain), `${c.table} ${c.chain}`).toBe(true);
  const want = new Map<string, number>();
  for (const x of r.rules) want.set(`${x.table} ${x.chain}`, (want.get(`${x.table} ${x.chain}`) ?? 0) + 1);
  for (const [k, n] of want) {
    const [table, chain] = k.split(' ') as [string, string];
    expect(t.get(table)!.rules.filter((l) => l.startsWith(`-A ${chain} `)).length, k).toBe(n);
  }
  // jump rules end up in reverse ensure order at the top of each built-in chain
  for (const table of ['filter', 'nat'] as const)
    for (const chain of ['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']) {
      const expected = r.jumpRules.filter((j) => j.table === table && j.chain === chain).map((j) => j.target).reverse();
      const got = (t.get(table)?.rules ?? []).filter((l) => l.startsWith(`-A ${chain} `)).map((l) => l.split(' -j ')[1]);
      expect(got, `${table} ${chain}`).toEqual(expected);
    }
}

describe.skipIf(!canRun)('real kernel accepts the payload', () => {
  it('IPv4: every feature at once loads with iptables-restore, and iptables-save shows every chain and rule', () => {
    const nfacct = haveNfacct ? {} : { nfacct: { ctStateInvalidDropped: false, localhostNodePortsAccepted: false } };
    const node = upstreamFixtureNode({ masqueradeMark: undefined, randomFully: true, ...nfacct });
    const kp = new KubeProxyIptables(node, 4, { partialSyncPayload: true });
    const services = [
      makeService('ns1', 'svc1', { clusterIP: '172.30.0.41', sessionAffinity: 'ClientIP', ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
      makeService('ns2', 'svc2', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '172.30.0.42', healthCheckNodePort: 30000, externalIPs: ['192.168.99.22'], loadBalancerSourceRanges: ['203.0.113.0/25', '192.168.0.0/24'], ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }),
      makeService('ns3', 'svc3', { type: 'NodePort', internalTrafficPolicy: 'Local', clusterIP: '172.30.0.43', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 3003 }, { name: 'sctp', port: 99, protocol: 'SCTP' }] }),
      makeService('ns6', 'svc6', { clusterIP: '172.30.0.46', ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
    ];
    const slices = [
      makeSlice('ns1', 'svc1', 1, 'IPv4', [{ addresses: ['10.180.0.1'] }, { addresses: ['10.180.0.2'] }, { addresses: ['10.180.0.3'] }], p80),
      makeSlice('ns2', 'svc2', 1, 'IPv4', [{ addresses: ['10.180.0.4'], nodeName: 'test-node' }, { addresses: ['10.180.0.5'], conditions: { ready: false, serving: true, terminating: true } }], p80),
      makeSlice('ns3', 'svc3', 1, 'IPv4', [{ addresses: ['10.180.0.6'], nodeName: 'other' }], [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'sctp', port: 99, protocol: 'SCTP' }]),
    ];
    const r = kp.load(services, slices);
    checkLoaded(r, load(r, 'iptables'));
    const save = inNs('iptables-save', []);
    // the kernel keeps --or-mark/--xor-mark as set-xmark value/mask pairs and a u32 probability
    expect(save).toContain('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000');
    expect(save).toContain('-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0');
    expect(save).toContain('-m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-');
    expect(save).toContain('-j MASQUERADE --random-fully');

    // a partial sync that deletes a Service's chains also loads, and the chains are gone
    const d = kp.update([{ kind: 'Service', op: 'delete', object: services[0]! }]);
    expect(d.payload).toContain('-X KUBE-SVC-XPGD46QRK7WJZT7O');
    inNs('iptables-restore', ['--noflush', '--counters'], d.payload);
    const after = tablesOf(inNs('iptables-save', []));
    expect(after.get('nat')!.chains.has('KUBE-SVC-XPGD46QRK7WJZT7O')).toBe(false);
    for (const c of d.chainsRemoved) expect(after.get('nat')!.chains.has(c.chain)).toBe(false);
    checkLoaded(kp.ruleset(), inNs('iptables-save', []));
  });

  it('IPv6: ip6tables-restore accepts the payload', () => {
    const r = generateIptablesRules({
      family: 6,
      node: upstreamFixtureNode({ masqueradeMark: undefined }),
      services: [
        makeService('ns1', 'svc1', { type: 'LoadBalancer', clusterIP: 'fd00:172:30::41', ipFamilies: ['IPv6'], clusterIPs: ['fd00:172:30::41'], loadBalancerSourceRanges: ['2001:db8::/64'], sessionAffinity: 'ClientIP', ports: [{ name: 'p80', port: 80, protocol: TCP, nodePort: 3001 }] }, { loadBalancer: { ingress: [{ ip: '2001:db8:ffff::1' }] } }),
        makeService('ns2', 'svc2', { clusterIP: 'fd00:172:30::42', ipFamilies: ['IPv6'], ports: [{ name: 'p80', port: 80, protocol: TCP }] }),
      ],
      endpointSlices: [makeSlice('ns1', 'svc1', 1, 'IPv6', [{ addresses: ['fd00:10:180::1'] }, { addresses: ['fd00:10:180::2:1'], nodeName: 'test-node' }], p80)],
    });
    checkLoaded(r, load(r, 'ip6tables'));
  });
});
