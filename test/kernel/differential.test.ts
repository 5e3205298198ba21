/**
 * Kernel differential suite (issue 3 item 9): the same ruleset is loaded into a real network
 * namespace (iptables-restore, ipset restore) and into podpath; real traffic shows what Linux did
 * (addresses the server saw, the reply addresses the client got, conntrack -L, rule counters, the
 * errors REJECT sent back) and podpath must say the same.
 *
 * Topology: test/kernel/topology.ts (client 10.0.1.2/.3 ─ host 10.0.1.1 | 10.0.2.1 ─ server
 * 10.0.2.2/.3/.4). Scenarios run one after the other on one lab; the host's ruleset, ipsets and
 * conntrack table are wiped between them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, SeededChooser } from '../../src/base/index.js';
import { createSkb, IPPROTO, TCP_FLAG, type FlowHeaders } from '../../src/packet/skb.js';
import { StepRecorder, type Step } from '../../src/trace/index.js';
import {
  loadNetfilterSetup,
  makeHost,
  receive,
  runNetfilter,
  type NetfilterBranch,
  type NetfilterHost,
  type NetfilterRequest,
  type NetfilterSetup,
  type PassResult,
} from '../../src/netns/index.js';
import { Lab, labSupport, processLeftovers, ruleCounters, skipNotice } from './lab.js';
import { buildTopology, ENDPOINTS, HOST_IPS, HOST_TCP_PORT, SERVER_UDP_PORT, VIP, type Topology } from './topology.js';

const SCENARIOS = join(import.meta.dirname, 'scenarios');
const LOCAL_IPS = `${HOST_IPS.c}/24@eth-c,${HOST_IPS.s}/24@eth-s`;
const CLIENT = '10.0.1.2';
const CLIENT2 = '10.0.1.3';

const support = labSupport();
if (!support.ok) console.warn(skipNotice(support));

function scenarioFile(name: string): { text: string; file: string } {
  const file = join(SCENARIOS, name);
  return { text: readFileSync(file, 'utf8'), file };
}

function podSetup(name: string): NetfilterSetup {
  const ipsetsFile = join(SCENARIOS, name.replace(/\.rules$/, '.ipsets'));
  let ipsets: { text: string; file: string } | undefined;
  try {
    ipsets = { text: readFileSync(ipsetsFile, 'utf8'), file: ipsetsFile };
  } catch {
    ipsets = undefined;
  }
  return loadNetfilterSetup({ ruleset: scenarioFile(name), ...(ipsets ? { ipsets } : {}), localIps: LOCAL_IPS });
}

function all(setup: NetfilterSetup, req: NetfilterRequest): NetfilterBranch[] {
  return runNetfilter(setup, req, { all: true, seed: 1 });
}

function one(setup: NetfilterSetup, req: NetfilterRequest): PassResult {
  const b = runNetfilter(setup, req, { all: false, seed: 1 });
  expect(b).toHaveLength(1);
  return b[0]!.result;
}

/** A stateful podpath host for multi-packet scenarios (conntrack, xt_recent persist between packets). */
class PodHost {
  readonly host: NetfilterHost;
  private readonly chooser: SeededChooser;
  constructor(setup: NetfilterSetup, seed: number) {
    this.host = makeHost(setup, {}, seed);
    this.chooser = new SeededChooser(new Rng(seed));
  }
  /** A packet arriving on `inDev`. */
  recv(hdr: Omit<FlowHeaders, 'family' | 'ttl' | 'length'>, inDev: string): { result: PassResult; steps: Step[] } {
    const rec = new StepRecorder();
    const skb = createSkb<never>({ family: 4, ttl: 64, length: 60, ...hdr }, { inDev });
    const result = receive({ host: this.host, chooser: this.chooser, rec }, skb as never);
    return { result, steps: rec.take() };
  }
}

function tcp(src: string, sport: number, dst: string, dport: number, flags: number) {
  return { src, sport, dst, dport, proto: IPPROTO.TCP, tcpFlags: flags };
}

/** Every step of a trace, depth first. */
function flat(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => [s, ...flat(s.children ?? [])]);
}

function natRulesHit(steps: readonly Step[]): number {
  return flat(steps).filter((s) => s.kind === 'rule' && s.table === 'nat' && s.verdict !== 'no-match').length;
}

const hostOf = (addr: string | undefined) => addr?.replace(/:\d+$/, '');
const portOf = (addr: string | undefined) => Number(addr?.replace(/^.*:/, ''));

describe.skipIf(!support.ok)('kernel differential: podpath netfilter agrees with Linux', () => {
  const lab = new Lab('diff');
  let topo: Topology;

  beforeAll(async () => {
    topo = await buildTopology(lab);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  /** Wipes the host's ruleset, ipsets and conntrack, then loads the scenario's files into the kernel. */
  async function loadKernel(name: string): Promise<void> {
    await lab.must(topo.host, ['nft', 'flush', 'ruleset']);
    await lab.exec(topo.host, ['ipset', 'destroy']);
    await lab.exec(topo.host, ['conntrack', '-F']);
    await lab.exec(topo.client, ['conntrack', '-F']);
    const ipsets = join(SCENARIOS, name.replace(/\.rules$/, '.ipsets'));
    try {
      await lab.ipsetRestore(topo.host, readFileSync(ipsets, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await lab.iptablesRestore(topo.host, scenarioFile(name).text);
  }

  it('DNAT across 3 endpoints with statistic: every endpoint the kernel reaches is an outcome of --all, and each outcome is reached', async () => {
    await loadKernel('dnat-statistic.rules');
    const setup = podSetup('dnat-statistic.rules');
    const outcomes = all(setup, { src: CLIENT, sport: 40000, dst: VIP, dport: 80, proto: 'tcp' });
    const podEndpoints = new Set(outcomes.map((o) => `${o.result.skb.hdr.dst}:${o.result.skb.hdr.dport}`));
    expect(outcomes.every((o) => o.result.verdict === 'ACCEPT' && o.result.disposition === 'transmitted')).toBe(true);
    expect(outcomes.reduce((p, o) => p + o.probability, 0)).toBeCloseTo(1, 9);
    for (const o of outcomes) expect(o.probability).toBeCloseTo(1 / 3, 6);

    // The closing states' timeouts (10 s for CLOSE) must outlast 60 connections on a busy machine,
    // so that conntrack -L below still lists every one of them.
    for (const state of ['close', 'time_wait', 'close_wait', 'fin_wait', 'last_ack']) await lab.sysctl(topo.host, `net.netfilter.nf_conntrack_tcp_timeout_${state}`, 3600);
    const conns = await lab.tcpConnect(topo.client, VIP, 80, { count: 60 });
    expect(conns.filter((c) => c.ok)).toHaveLength(60);
    const kernelEndpoints = new Set(conns.map((c) => c.servedBy!));
    expect([...kernelEndpoints].sort()).toEqual([...podEndpoints].sort());
    // reply un-DNAT: the client's socket is connected to the VIP; no SNAT: the server sees the client
    expect(conns.every((c) => c.peer === `${VIP}:80` && hostOf(c.clientSeen) === CLIENT)).toBe(true);
    for (const o of outcomes) expect(o.result.skb.hdr.src).toBe(CLIENT);

    // nat sees the first packet of each connection only; filter sees every packet
    const counters = ruleCounters(await lab.iptablesSave(topo.host));
    expect(counters.get('nat KUBE-SERVICES 1')).toBe(60);
    expect(counters.get('filter FORWARD 1')).toBe(60); // ctstate NEW, dport 8080 (after DNAT)
    expect(counters.get('filter FORWARD 2')!).toBeGreaterThan(60); // ctstate ESTABLISHED

    // conntrack -L: original to the VIP, reply from the endpoint the server reported
    const ct = await lab.conntrack(topo.host);
    const byPort = new Map(conns.map((c) => [portOf(c.local), c.servedBy!]));
    const vipEntries = ct.filter((l) => l.includes(`dst=${VIP} sport=`) && / dport=80 /.test(l));
    expect(vipEntries.length).toBe(60);
    for (const l of vipEntries) {
      const m = /src=(\S+) dst=\S+ sport=(\d+) dport=80 src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/.exec(l)!;
      expect(`${m[3]}:${m[5]}`).toBe(byPort.get(Number(m[2])));
      expect(m[4]).toBe(CLIENT);
      expect(m[6]).toBe(m[2]);
    }
  });

  it('ESTABLISHED packets skip the nat table and reuse the binding; replies are un-DNATed (TCP and UDP)', async () => {
    const setup = podSetup('dnat-statistic.rules');
    const h = new PodHost(setup, 7);
    const syn = h.recv(tcp(CLIENT, 41000, VIP, 80, TCP_FLAG.SYN), 'eth-c');
    expect(syn.result.verdict).toBe('ACCEPT');
    expect(natRulesHit(syn.steps)).toBeGreaterThan(0);
    const ep = syn.result.skb.hdr.dst;
    expect(ENDPOINTS).toContain(ep);
    const synack = h.recv(tcp(ep, 8080, CLIENT, 41000, TCP_FLAG.SYN | TCP_FLAG.ACK), 'eth-s');
    expect(synack.result.skb.hdr).toMatchObject({ src: VIP, sport: 80, dst: CLIENT, dport: 41000 });
    expect(natRulesHit(synack.steps)).toBe(0);
    const ack = h.recv(tcp(CLIENT, 41000, VIP, 80, TCP_FLAG.ACK), 'eth-c');
    expect(natRulesHit(ack.steps)).toBe(0);
    expect(ack.result.skb.hdr).toMatchObject({ dst: ep, dport: 8080 });
    // the kernel's counters of the previous test: nat rule 1 counted 60 connections, filter ESTABLISHED many packets

    // UDP service: kernel reply comes back from the VIP:53
    await loadKernel('dnat-statistic.rules');
    const u = await lab.udpSend(topo.client, VIP, 53, { sport: 42000 });
    expect(u).toMatchObject({ ok: true, replyFrom: `${VIP}:53`, servedBy: `${ENDPOINTS[0]}:${SERVER_UDP_PORT}`, clientSeen: `${CLIENT}:42000` });
    const req = h.recv({ src: CLIENT, sport: 42000, dst: VIP, dport: 53, proto: IPPROTO.UDP }, 'eth-c');
    expect(req.result.skb.hdr).toMatchObject({ dst: hostOf(u.servedBy), dport: portOf(u.servedBy), src: CLIENT, sport: 42000 });
    const rep = h.recv({ src: ENDPOINTS[0], sport: SERVER_UDP_PORT, dst: CLIENT, dport: 42000, proto: IPPROTO.UDP }, 'eth-s');
    expect(`${rep.result.skb.hdr.src}:${rep.result.skb.hdr.sport}`).toBe(u.replyFrom);
  });

  it('KUBE-MARK-MASQ + MASQUERADE and addrtype LOCAL (NodePort on both host addresses; ClusterIP from inside is not masqueraded)', async () => {
    await loadKernel('masquerade.rules');
    const setup = podSetup('masquerade.rules');
    const jobs = [
      { dst: HOST_IPS.c, port: 30080, sport: 41001 },
      { dst: HOST_IPS.s, port: 30080, sport: 41002 },
      { dst: VIP, port: 80, sport: 41003 },
    ];
    const k = await lab.tcpBatch(topo.client, jobs);
    for (const [i, j] of jobs.entries()) {
      const p = one(setup, { src: CLIENT, sport: j.sport, dst: j.dst, dport: j.port, proto: 'tcp' });
      expect(k[i]!.ok).toBe(true);
      expect(p.verdict).toBe('ACCEPT');
      expect(`${p.skb.hdr.dst}:${p.skb.hdr.dport}`).toBe(k[i]!.servedBy);
      expect(`${p.skb.hdr.src}:${p.skb.hdr.sport}`).toBe(k[i]!.clientSeen);
      expect(p.masqueraded).toBe(hostOf(k[i]!.clientSeen) !== CLIENT);
      expect(k[i]!.peer).toBe(`${j.dst}:${j.port}`);
    }
    expect(hostOf(k[0]!.clientSeen)).toBe(HOST_IPS.s); // MASQUERADE picked eth-s's address
    const counters = ruleCounters(await lab.iptablesSave(topo.host, 'nat'));
    expect(counters.get('nat KUBE-SERVICES 2')).toBe(2); // addrtype --dst-type LOCAL: both NodePort connections
  });

  it('REJECT (icmp-port-unreachable, tcp-reset, icmp-admin-prohibited, icmp-host-prohibited on INPUT) and DROP: the same error comes back', async () => {
    await loadKernel('reject.rules');
    const setup = podSetup('reject.rules');
    const cases = [
      { dst: ENDPOINTS[0], dport: 8081, with: 'icmp-port-unreachable', errno: 'ECONNREFUSED' },
      { dst: ENDPOINTS[0], dport: 8082, with: 'tcp-reset', errno: 'ECONNREFUSED' },
      { dst: ENDPOINTS[0], dport: 8083, with: 'icmp-admin-prohibited', errno: 'EHOSTUNREACH' },
      { dst: HOST_IPS.s, dport: HOST_TCP_PORT, with: 'icmp-host-prohibited', errno: 'EHOSTUNREACH' },
    ] as const;
    // client-side counters, one per error podpath predicts (its source address, type/code or RST flags)
    const clientRules: string[] = [];
    const preds = cases.map((c, i) => {
      const p = one(setup, { src: CLIENT, sport: 43000 + i, dst: c.dst, dport: c.dport, proto: 'tcp' });
      expect(p.verdict).toBe('REJECT');
      expect(p.reject?.with).toBe(c.with);
      const pk = p.reject!.packet;
      expect(pk.dst).toBe(CLIENT);
      if (pk.proto === IPPROTO.TCP) {
        clientRules.push(`-A INPUT -s ${pk.src}/32 -p tcp -m tcp --sport ${pk.sport} --dport ${pk.dport} --tcp-flags RST,ACK ${pk.tcpFlags === (TCP_FLAG.RST | TCP_FLAG.ACK) ? 'RST,ACK' : 'RST'}`);
      } else {
        clientRules.push(`-A INPUT -s ${pk.src}/32 -p icmp -m icmp --icmp-type ${pk.icmpType}/${pk.icmpCode}`);
      }
      return p;
    });
    await lab.iptablesRestore(topo.client, `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${clientRules.join('\n')}\nCOMMIT\n`);
    const k = await lab.tcpBatch(
      topo.client,
      cases.map((c, i) => ({ dst: c.dst, port: c.dport, sport: 43000 + i, timeoutMs: 1500 })),
    );
    const counters = ruleCounters(await lab.iptablesSave(topo.client, 'filter'));
    cases.forEach((c, i) => {
      expect(k[i], `${c.with}`).toMatchObject({ ok: false, error: c.errno });
      expect(counters.get(`filter INPUT ${i + 1}`), `${c.with}: ${clientRules[i]}`).toBeGreaterThan(0);
      expect(preds[i]!.hook).toBe(c.dst === HOST_IPS.s ? 'INPUT' : 'FORWARD');
    });
    // DROP: nothing comes back
    const u = await lab.udpSend(topo.client, ENDPOINTS[0], SERVER_UDP_PORT, { timeoutMs: 800 });
    expect(u).toMatchObject({ ok: false, error: 'ETIMEDOUT' });
    const d = one(setup, { src: CLIENT, sport: 44000, dst: ENDPOINTS[0], dport: SERVER_UDP_PORT, proto: 'udp' });
    expect(d).toMatchObject({ verdict: 'DROP', disposition: 'dropped', hook: 'FORWARD', reject: null });
    // and what passes, passes
    const [ok] = await lab.tcpConnect(topo.client, ENDPOINTS[0], 8080);
    expect(ok!.ok).toBe(true);
    expect(one(setup, { src: CLIENT, dst: ENDPOINTS[0], dport: 8080, proto: 'tcp' }).verdict).toBe('ACCEPT');
    await lab.iptablesRestore(topo.client, '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
  });

  it('user chains: jump, goto (-g) and RETURN decide as in the kernel (same verdicts, same rules counted)', async () => {
    await loadKernel('chains.rules');
    const setup = podSetup('chains.rules');
    const k = await lab.tcpBatch(topo.client, [8080, 8081, 8082].map((port) => ({ dst: ENDPOINTS[1], port, timeoutMs: 1500 })));
    expect(k.map((r) => r.ok)).toEqual([true, false, false]);
    const p = [8080, 8081, 8082].map((dport) => one(setup, { src: CLIENT, dst: ENDPOINTS[1], dport, proto: 'tcp' }));
    expect(p.map((r) => r.verdict)).toEqual(['ACCEPT', 'REJECT', 'REJECT']);
    expect(p[1]!.reject?.with).toBe('tcp-reset');
    expect(p[2]!.reject?.with).toBe('icmp-port-unreachable');
    const c = ruleCounters(await lab.iptablesSave(topo.host, 'filter'));
    // the kernel: the goto returned to FORWARD (rule 2 rejected), never to CHK rule 2
    expect(c.get('filter FORWARD 2')).toBeGreaterThan(0);
    expect(c.get('filter CHK 2')).toBe(0);
    expect(p[1]!.rule?.text).toBe('-A FORWARD -p tcp -m tcp --dport 8081 -j REJECT --reject-with tcp-reset');
    expect(p[2]!.rule?.text).toBe('-A CHK -p tcp -m tcp --dport 8082 -j REJECT --reject-with icmp-port-unreachable');
    expect(c.get('filter CHK 4')).toBeGreaterThan(0);
  });

  it('ipset match (hash:ip src, hash:ip,port dst,dst)', async () => {
    await loadKernel('ipset.rules');
    const setup = podSetup('ipset.rules');
    const jobs = [
      { src: CLIENT, dst: ENDPOINTS[0], port: 8080 },
      { src: CLIENT2, dst: ENDPOINTS[0], port: 8080 },
      { src: CLIENT, dst: ENDPOINTS[1], port: 8081 },
      { src: CLIENT, dst: ENDPOINTS[0], port: 8081 },
    ];
    const k = await lab.tcpBatch(topo.client, jobs.map((j) => ({ ...j, timeoutMs: 1500 })));
    const p = jobs.map((j) => one(setup, { src: j.src, dst: j.dst, dport: j.port, proto: 'tcp' }));
    expect(k.map((r) => r.ok)).toEqual([true, false, true, false]);
    expect(p.map((r) => r.verdict)).toEqual(k.map((r) => (r.ok ? 'ACCEPT' : 'REJECT')));
  });

  it('recent affinity: later connections from the same client reach the same endpoint', async () => {
    await loadKernel('recent.rules');
    const setup = podSetup('recent.rules');
    for (const src of [CLIENT, CLIENT2]) {
      const k = await lab.tcpConnect(topo.client, VIP, 80, { count: 8, src });
      expect(k.every((r) => r.ok)).toBe(true);
      expect(new Set(k.map((r) => r.servedBy)).size).toBe(1);
    }
    // podpath: the first connection may go anywhere (3 outcomes); for each, the next ones stick
    expect(all(setup, { src: CLIENT, dst: VIP, dport: 80, proto: 'tcp' })).toHaveLength(3);
    for (const seed of [1, 2, 3, 4, 5]) {
      const h = new PodHost(setup, seed);
      const eps = [0, 1, 2, 3, 4].map((i) => {
        const r = h.recv(tcp(CLIENT, 45000 + i, VIP, 80, TCP_FLAG.SYN), 'eth-c');
        expect(r.result.verdict).toBe('ACCEPT');
        return r.result.skb.hdr.dst;
      });
      expect(new Set(eps).size, `seed ${seed}: ${eps.join(' ')}`).toBe(1);
    }
  });

  it('SNAT port clash: the second connection with the same source port gets another port', async () => {
    await loadKernel('snat-clash.rules');
    const setup = podSetup('snat-clash.rules');
    const k = await lab.tcpBatch(topo.client, [
      { src: CLIENT, sport: 40000, dst: ENDPOINTS[0], port: 8080 },
      { src: CLIENT2, sport: 40000, dst: ENDPOINTS[0], port: 8080 },
    ]);
    expect(k.map((r) => r.ok)).toEqual([true, true]);
    expect(k[0]!.clientSeen).toBe(`${HOST_IPS.s}:40000`);
    expect(hostOf(k[1]!.clientSeen)).toBe(HOST_IPS.s);
    const kp = portOf(k[1]!.clientSeen);
    expect(kp).not.toBe(40000);
    expect(kp).toBeGreaterThanOrEqual(1024);

    const h = new PodHost(setup, 3);
    const a = h.recv(tcp(CLIENT, 40000, ENDPOINTS[0], 8080, TCP_FLAG.SYN), 'eth-c');
    const b = h.recv(tcp(CLIENT2, 40000, ENDPOINTS[0], 8080, TCP_FLAG.SYN), 'eth-c');
    expect(a.result.skb.hdr).toMatchObject({ src: HOST_IPS.s, sport: 40000 });
    expect(b.result.skb.hdr.src).toBe(HOST_IPS.s);
    expect(b.result.skb.hdr.sport).not.toBe(40000);
    expect(b.result.skb.hdr.sport).toBeGreaterThanOrEqual(1024);
    expect(a.result.masqueraded && b.result.masqueraded).toBe(true);
    // the kernel's conntrack holds both, with reply tuples to 40000 and to the new port
    const ct = await lab.conntrack(topo.host);
    expect(ct.filter((l) => l.includes(`dst=${HOST_IPS.s} sport=8080 dport=40000`))).toHaveLength(1);
    expect(ct.filter((l) => l.includes(`dst=${HOST_IPS.s} sport=8080 dport=${kp} `))).toHaveLength(1);
  });

  it('leaves no namespace of this run behind', async () => {
    await lab.cleanup();
    expect(lab.leftovers()).toEqual([]);
    expect(processLeftovers()).toEqual([]);
  });
});
