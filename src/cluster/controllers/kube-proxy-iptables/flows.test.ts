/**
 * Packet flows through podpath's own kube-proxy ruleset, walked by podpath's netfilter path,
 * compared with what upstream kube-proxy's proxier_test.go expects of the same Services (its
 * `runPacketFlowTests` cases): the set of endpoints a packet can reach (or DROP / REJECT) and
 * whether it is masqueraded, for IPv4 (iptables) and IPv6 (ip6tables).
 *
 * Upstream's tracer is a simplification (it runs nat PREROUTING then four filter chains, and its
 * `masq` is "KUBE-MARK-MASQ was hit"). Here the packet takes the kernel's path: PREROUTING for pods
 * and external hosts, OUTPUT (then a loop through lo) for the node's own addresses, routing between,
 * filter INPUT/FORWARD/OUTPUT with kube-proxy's jump rules, MASQUERADE at POSTROUTING. Where the
 * kernel's answer differs from upstream's tracer the case says so.
 */
import { describe, expect, it } from 'vitest';
import { cidrContains, parseCidr, parseIp } from '../../../base/index.js';
import { applyIptablesRestore, compileRuleset, emptyRuleset, IpsetStore, NthState, RecentStore, type Ruleset } from '../../../netfilter/index.js';
import { ribAddresses, ribRoute, runNetfilter, type NetfilterBranch, type NetfilterRequest, type NetfilterSetup } from '../../../netns/index.js';
import { Rib } from '../../../routing/index.js';
import type { Step } from '../../../trace/index.js';
import type { EndpointSlice, Service } from '../../objects.js';
import { upstreamFixtureNode } from './fixtures.js';
import {
  addrFor,
  ep,
  INTERNAL_EXTERNAL_CONFIGS,
  INTERNAL_EXTERNAL_FLOWS,
  internalExternalObjects,
  POD,
  SCENARIOS,
  slice,
  svc,
  TEST_EXTERNAL_CLIENT,
  TEST_NODE_IP,
  type Addr,
  type Flow,
  type FlowOutput,
} from './flows.fixtures.js';
import { generateIptablesRules } from './proxier.js';
import type { GeneratedRuleset, IpFamilyNumber, NodeProxyConfig } from './types.js';

const FAMILIES: IpFamilyNumber[] = [4, 6];

// ───────────────────────────── the node ─────────────────────────────

/**
 * The test node's interfaces as upstream's fake network has them (NewFakeProxier: lo with
 * 127.0.0.1/8 and ::1; eth0 with 192.168.0.2/24, 192.168.1.2/24, 192.168.99.11/24, 2001:db8::1/64,
 * 2001:db8:1::2/64), plus what a node needs to forward: a default route via a router on eth0 and
 * the pod network behind cni0 (the bridge carries no address here, so MASQUERADE picks eth0's).
 */
function testNodeRib(): Rib {
  const rib = new Rib(['eth0', 'cni0']);
  rib.forwarding[4] = true;
  rib.forwarding[6] = true;
  rib.addAddress('lo', '127.0.0.1/8');
  rib.addAddress('lo', '::1/128');
  for (const a of ['192.168.0.2/24', '192.168.1.2/24', '192.168.99.11/24', '2001:db8::1/64', '2001:db8:1::2/64', '2001:db8:99::11/64']) rib.addAddress('eth0', a);
  rib.addRoute({ dst: parseCidr('0.0.0.0/0'), nexthops: [{ gateway: parseIp('192.168.0.1'), dev: 'eth0' }] }, { validate: true });
  rib.addRoute({ dst: parseCidr('::/0'), nexthops: [{ gateway: parseIp('2001:db8::fe'), dev: 'eth0' }] }, { validate: true });
  rib.addRoute({ dst: parseCidr('10.0.0.0/8'), nexthops: [{ dev: 'cni0' }] }, { validate: true });
  rib.addRoute({ dst: parseCidr('fd00:10::/64'), nexthops: [{ dev: 'cni0' }] }, { validate: true });
  return rib;
}

/**
 * The node's tables after kube-proxy's sync (syncProxyRules): each ensured jump rule inserted at
 * position 1 of its built-in chain, in the order kube-proxy ensures them (its target chain created
 * first, as EnsureChain does), then the payload loaded with `iptables-restore --noflush`.
 */
function nodeRuleset(g: GeneratedRuleset, family: IpFamilyNumber): Ruleset {
  let rs = emptyRuleset(family);
  for (const j of g.jumpRules) {
    const declare = rs.tables.get(j.table)?.chains.has(j.target) ? '' : `:${j.target} - [0:0]\n`;
    const insert = j.rule.replace(/^-A (\S+)/, '-I $1 1');
    rs = applyIptablesRestore(rs, `*${j.table}\n${declare}${insert}\nCOMMIT\n`, { noflush: true, family });
  }
  return applyIptablesRestore(rs, g.payload, { noflush: true, family, file: 'kube-proxy payload' });
}

interface TestNode {
  family: IpFamilyNumber;
  generated: GeneratedRuleset;
  /** Every run (and every `--all` branch) starts from a copy of the node's xt_recent tables. */
  setup: NetfilterSetup;
  /** Runs that write the node's xt_recent tables (a connection that really happened). */
  committing: NetfilterSetup;
  recent: RecentStore;
}

function testNode(family: IpFamilyNumber, objs: { services: Service[]; slices: EndpointSlice[] }, node: Partial<NodeProxyConfig> = {}): TestNode {
  const generated = generateIptablesRules({ services: objs.services, endpointSlices: objs.slices, node: upstreamFixtureNode(node), family });
  const rib = testNodeRib();
  const recent = new RecentStore();
  const base = {
    name: 'test-node',
    ruleset: compileRuleset(nodeRuleset(generated, family)),
    ipsets: new IpsetStore(),
    addresses: ribAddresses(rib),
    route: ribRoute(rib),
  };
  return {
    family,
    generated,
    recent,
    setup: { ...base, newMatchState: () => ({ recent: recent.clone(), nth: new NthState() }) },
    committing: { ...base, newMatchState: () => ({ recent, nth: new NthState() }) },
  };
}

// ───────────────────────────── one packet ─────────────────────────────

/** "ip:port" as upstream's DNAT destinations print it ("[ip]:port" for IPv6). */
function hostPort(ip: string, port: number | undefined, family: IpFamilyNumber): string {
  return family === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Maps an expected output written in upstream's IPv4 terms to the family under test. */
function expectedOutput(out: FlowOutput, a: Addr, family: IpFamilyNumber): string[] {
  if (!Array.isArray(out)) return [out];
  return out
    .map((s) => {
      const i = s.lastIndexOf(':');
      return hostPort(a(s.slice(0, i)), Number(s.slice(i + 1)), family);
    })
    .sort();
}

function flatSteps(steps: readonly Step[]): Step[] {
  const out: Step[] = [];
  const walk = (ss: readonly Step[]) => {
    for (const s of ss) {
      out.push(s);
      if (s.children) walk(s.children);
    }
  };
  walk(steps);
  return out;
}

/** The filter chains upstream's tracer reads for ACCEPT/DROP/REJECT. */
const KUBE_FILTER_CHAINS = new Set(['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL']);

/**
 * One outcome in upstream's packetFlowTest.output terms: the DNAT destination, DROP / REJECT,
 * ACCEPT (a kube-proxy filter rule accepted it), "" (it went on untouched by kube-proxy), or the
 * pipeline's own failure in capitals (NO-ROUTE, TTL-EXCEEDED, …; not an exhaustive switch, so that
 * new pipeline dispositions show up here as themselves).
 */
function outputOf(b: NetfilterBranch, family: IpFamilyNumber): string {
  const r = b.result;
  if (r.disposition === 'rejected') return 'REJECT';
  if (r.disposition === 'dropped') return 'DROP';
  if (r.disposition !== 'delivered' && r.disposition !== 'transmitted') return r.disposition.toUpperCase();
  if (r.nat.some((n) => n.nat === 'DNAT')) return hostPort(r.skb.hdr.dst, r.skb.hdr.dport, family);
  const accepted = flatSteps(b.steps).some((s) => s.kind === 'rule' && s.table === 'filter' && KUBE_FILTER_CHAINS.has(s.chain) && s.verdict === 'accept');
  return accepted ? 'ACCEPT' : '';
}

const POD_CIDRS = { 4: parseCidr('10.0.0.0/8'), 6: parseCidr('fd00:10::/64') } as const;

/** The packet; pods arrive on the bridge (cni0), other hosts on the uplink, the node's own from a socket. */
function request(family: IpFamilyNumber, src: string, dst: string, dport: number, proto: Flow['proto'] = 'tcp', sport?: number): NetfilterRequest {
  const fromPod = cidrContains(POD_CIDRS[family], parseIp(src));
  return { src, dst, dport, proto, ...(sport !== undefined ? { sport } : {}), inIface: fromPod ? 'cni0' : 'eth0' };
}

interface Observed {
  outputs: string[];
  masq: boolean;
  branches: NetfilterBranch[];
}

/** Every outcome of the packet (`--all`), as upstream's tracer summarises them. */
function observe(node: TestNode, req: NetfilterRequest): Observed {
  const branches = runNetfilter(node.setup, req, { all: true, seed: 1 });
  const outputs = [...new Set(branches.map((b) => outputOf(b, node.family)))].sort();
  return { outputs, masq: branches.some((b) => b.result.masqueraded), branches };
}

/** Asserts one flow: outputs, masquerade (the same in every branch), probabilities. */
function checkFlow(node: TestNode, flow: Flow, a: Addr): void {
  const v6 = node.family === 6 && flow.v6 && 'out' in flow.v6 ? flow.v6 : undefined;
  const out = v6 ? v6.out : flow.out;
  const masq = (v6 ? v6.masq : flow.masq) ?? false;
  const obs = observe(node, request(node.family, a(flow.src), a(flow.dst), flow.dport, flow.proto));
  expect(obs.outputs, 'outputs').toEqual(expectedOutput(out, a, node.family));
  const ends = out === 'DROP' || out === 'REJECT' || out === 'NO-ROUTE';
  for (const b of obs.branches) expect(b.result.masqueraded, `masquerade of the branch to ${outputOf(b, node.family)}`).toBe(ends ? false : masq);
  const total = obs.branches.reduce((s, b) => s + b.probability, 0);
  expect(total).toBeCloseTo(1, 12);
  if (Array.isArray(out)) {
    // kube-proxy's statistic chain spreads new connections evenly (probabilities 1/n, 1/(n-1), …)
    for (const o of obs.outputs) {
      const p = obs.branches.filter((b) => outputOf(b, node.family) === o).reduce((s, b) => s + b.probability, 0);
      expect(p, `probability of ${o}`).toBeCloseTo(1 / out.length, 8);
    }
  }
}

// ───────────────────────────── upstream's packet-flow cases ─────────────────────────────

describe.each(FAMILIES)('IPv%i packet flows (upstream proxier_test.go facts)', (family) => {
  const a = addrFor(family);
  for (const sc of SCENARIOS) {
    if (sc.families && !sc.families.includes(family)) continue;
    describe(`${sc.upstream}: ${sc.name}`, () => {
      const node = testNode(family, sc.objects(a), sc.node?.(family));
      for (const flow of sc.flows) {
        if (family === 6 && flow.v6 && 'skip' in flow.v6) continue;
        // a known podpath defect (see flow.defect.what): the assertion stays the kernel's
        const test = flow.defect?.families.includes(family) ? it.fails : it;
        test(flow.name, () => checkFlow(node, flow, a));
      }
    });
  }

  describe.each(INTERNAL_EXTERNAL_CONFIGS)('TestInternalExternalMasquerade: $name', (cfg) => {
    const node = testNode(family, internalExternalObjects(a), {
      masqueradeAll: cfg.masqueradeAll,
      ...(cfg.localDetector ? {} : { localDetector: { mode: 'None' } }),
    });
    const names = new Set(INTERNAL_EXTERNAL_FLOWS.map((f) => f.name));
    it('every override names a base case', () => {
      for (const k of Object.keys(cfg.overrides)) expect(names.has(k), k).toBe(true);
    });
    for (const base of INTERNAL_EXTERNAL_FLOWS) {
      if (family === 6 && base.v6 && 'skip' in base.v6) continue;
      const o = cfg.overrides[base.name];
      const flow: Flow = { ...base, ...(o?.out !== undefined ? { out: o.out } : {}), ...(o?.masq !== undefined ? { masq: o.masq } : {}) };
      it(flow.name, () => checkFlow(node, flow, a));
    }
  });
});

// ───────────────────────────── REJECT replies ─────────────────────────────

describe.each(FAMILIES)('IPv%i: no endpoints → REJECT with ICMP port unreachable (TestNoEndpointsReject)', (family) => {
  const a = addrFor(family);
  const node = testNode(family, SCENARIOS.find((s) => s.upstream === 'TestNoEndpointsReject')!.objects(a));
  // kube-proxy writes a bare `-j REJECT`: iptables' default is icmp-port-unreachable (type 3 code 3),
  // ip6tables' icmp6-port-unreachable (type 1 code 4)
  const icmp = family === 4 ? { with: 'icmp-port-unreachable', type: 3, code: 3 } : { with: 'icmp6-port-unreachable', type: 1, code: 4 };
  const cases: Array<[string, string, string, number, string]> = [
    ['pod to cluster IP: filter FORWARD → KUBE-SERVICES', POD, '172.30.0.41', 80, 'FORWARD'],
    ['node to cluster IP: filter OUTPUT → KUBE-SERVICES', TEST_NODE_IP, '172.30.0.41', 80, 'OUTPUT'],
    ['external to NodePort: filter INPUT → KUBE-EXTERNAL-SERVICES', TEST_EXTERNAL_CLIENT, TEST_NODE_IP, 3001, 'INPUT'],
    ['external to LB IP: filter FORWARD → KUBE-EXTERNAL-SERVICES', TEST_EXTERNAL_CLIENT, '1.2.3.4', 80, 'FORWARD'],
  ];
  it.each(cases)('%s', (_name, src, dst, dport, hook) => {
    const bs = runNetfilter(node.setup, request(family, a(src), a(dst), dport), { all: true, seed: 1 });
    expect(bs).toHaveLength(1);
    const r = bs[0]!.result;
    expect(r.disposition).toBe('rejected');
    expect(r.hook).toBe(hook);
    expect(r.table).toBe('filter');
    expect(r.reject?.with).toBe(icmp.with);
    expect(r.reject?.packet).toMatchObject({ icmpType: icmp.type, icmpCode: icmp.code, dst: a(src) });
  });
});

// ───────────────────────────── ClientIP affinity ─────────────────────────────

describe.each(FAMILIES)('IPv%i: ClientIP session affinity through xt_recent', (family) => {
  const a = addrFor(family);
  const objects = () => ({
    services: [
      svc(a, 'ns1', 'svc1', {
        type: 'NodePort',
        clusterIP: '172.30.0.41',
        ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      }),
    ],
    slices: [slice(a, 'ns1', 'svc1', [ep('10.180.0.1'), ep('10.180.0.2'), ep('10.180.0.3', 'test-node')], [{ name: 'p80', port: 80, protocol: 'TCP' }])],
  });
  const all3 = expectedOutput(['10.180.0.1:80', '10.180.0.2:80', '10.180.0.3:80'], a, family);

  it('the rules: --rcheck --seconds 10800 --reap per endpoint in SVC, --set in each SEP', () => {
    const g = testNode(family, objects()).generated;
    const svcRules = g.rules.filter((r) => r.table === 'nat' && r.chain.startsWith('KUBE-SVC-') && r.rule.includes('-m recent'));
    expect(svcRules).toHaveLength(3);
    for (const r of svcRules) expect(r.rule).toMatch(/-m recent --name (KUBE-SEP-\w+) --rcheck --seconds 10800 --reap -j \1$/);
    const sepSets = g.rules.filter((r) => r.table === 'nat' && r.chain.startsWith('KUBE-SEP-') && r.rule.includes(`-m recent --name ${r.chain} --set`));
    expect(sepSets).toHaveLength(3);
  });

  for (const [who, src, dst, dport] of [
    ['pod to ClusterIP', POD, '172.30.0.41', 80],
    ['node to ClusterIP', TEST_NODE_IP, '172.30.0.41', 80],
    ['external to NodePort (affinity keyed on the client, not the masqueraded source)', TEST_EXTERNAL_CLIENT, TEST_NODE_IP, 3001],
  ] as const) {
    it(`${who}: the second connection reaches the endpoint of the first`, () => {
      const node = testNode(family, objects());
      const first = runNetfilter(node.committing, request(family, a(src), a(dst), dport, 'tcp', 40001), { all: false, seed: 7 });
      expect(first).toHaveLength(1);
      const chosen = outputOf(first[0]!, family);
      expect(all3).toContain(chosen);
      // the SEP's `--set` recorded the client's own address (--rsource, before any SNAT) in that SEP's table
      const sep = flatSteps(first[0]!.steps).find((s) => s.kind === 'rule' && s.chain.startsWith('KUBE-SEP-') && s.rule.includes('--set'));
      expect(sep?.kind === 'rule' && node.recent.list(sep.chain).map((e) => e.addr)).toEqual([a(src)]);
      // the second connection (new source port, new conntrack entry) with every branch enumerated
      const second = observe(node, request(family, a(src), a(dst), dport, 'tcp', 40002));
      expect(second.outputs).toEqual([chosen]);
      expect(second.branches.reduce((s, b) => s + b.probability, 0)).toBeCloseTo(1, 12);
      // another client has no entry: any endpoint
      const other = src === POD ? '10.0.0.3' : src === TEST_NODE_IP ? '192.168.1.2' : '203.0.113.3';
      expect(observe(node, request(family, a(other), a(dst), dport, 'tcp', 40003)).outputs).toEqual(all3);
    });
  }

  it('without affinity state (a fresh node) every endpoint is possible, evenly', () => {
    expect(observe(testNode(family, objects()), request(family, a(POD), a('172.30.0.41'), 80)).outputs).toEqual(all3);
  });
});
