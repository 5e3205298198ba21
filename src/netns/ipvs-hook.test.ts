/**
 * IPVS in the pipeline, on a hand-made host: the VIP 10.96.0.1 on kube-ipvs0, clients on eth-c
 * (10.0.1.0/24), real servers on eth-s (10.0.2.0/24). Expected values come from the kernel's
 * sources: ip_vs_ops4's priorities (ip_vs_core.c), ip_vs_nat_xmit / ip_vs_nat_send_or_cont /
 * decrement_ttl (ip_vs_xmit.c), ip_vs_update_conntrack and ip_vs_notrack, ip_vs_leave's ICMP.
 */
import { describe, expect, it } from 'vitest';
import { Rng, SeededChooser } from '../base/index.js';
import { createSkb, IPPROTO, TCP_FLAG, type FlowHeaders } from '../packet/skb.js';
import { StepRecorder, type Step } from '../trace/index.js';
import { HOOK_ORDER, HOOK_ORDER_IPVS } from './hooks.js';
import { ipvsRuntime, netnsIpvs } from './ipvs-hook.js';
import { loadNetfilterSetup } from './load.js';
import { makeHost, runNetfilter, type NetfilterSetup } from './netfilter-trace.js';
import { localOut, receive, type NetnsSkb } from './pipeline.js';

const SAVE = ['-A -t 10.96.0.1:80 -s rr', '-a -t 10.96.0.1:80 -r 10.0.2.5:8080 -m -w 1', '-a -t 10.96.0.1:80 -r 10.0.2.6:8080 -m -w 1', '-A -t 10.96.0.2:80 -s rr', ''].join('\n');

const RULES = `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -s 10.0.1.99/32 -j MARK --set-xmark 0x4000/0x4000
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
COMMIT
`;

function setup(conntrack: 0 | 1 = 1): NetfilterSetup {
  const base = loadNetfilterSetup({ ruleset: { text: RULES, file: 'rules' }, localIps: '10.0.1.1/24@eth-c,10.0.2.1/24@eth-s,10.96.0.1/32@kube-ipvs0,10.96.0.2/32@kube-ipvs0' });
  return { ...base, ipvs: netnsIpvs(SAVE, { sysctls: [{ key: 'net/ipv4/vs/conntrack', value: conntrack, action: 'set' }] }) };
}

const SYN = { proto: 'tcp' as const, dport: 80, tcpFlags: TCP_FLAG.SYN };

function flat(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => [s, ...flat(s.children ?? [])]);
}

describe('IPVS hooks (ip_vs_ops4)', () => {
  it('registers at the kernel priorities: after filter INPUT and before nat INPUT, after nat OUTPUT and before filter OUTPUT, after filter FORWARD', () => {
    expect(HOOK_ORDER_IPVS.INPUT).toEqual(['mangle', 'filter', 'security', 'ipvs-reply', 'ipvs-request', 'nat-src', 'conntrack-confirm']);
    expect(HOOK_ORDER_IPVS.OUTPUT).toEqual(['raw', 'conntrack-in', 'mangle', 'nat-dst', 'ipvs-reply', 'ipvs-request', 'filter', 'security']);
    expect(HOOK_ORDER_IPVS.FORWARD).toEqual(['mangle', 'filter', 'security', 'ipvs-reply']);
    expect(HOOK_ORDER_IPVS.PREROUTING).toEqual(HOOK_ORDER.PREROUTING);
    expect(HOOK_ORDER_IPVS.POSTROUTING).toEqual(HOOK_ORDER.POSTROUTING);
  });

  it('a remote request is scheduled at LOCAL_IN, DNATed and sent on through LOCAL_OUT and POSTROUTING; rr over 2 servers: p=1/2 each', () => {
    const bs = runNetfilter(setup(), { src: '10.0.1.7', dst: '10.96.0.1', ...SYN }, { all: true, seed: 1 });
    expect(bs.map((b) => [b.probability, b.result.skb.hdr.dst, b.result.skb.hdr.dport]).sort()).toEqual([
      [0.5, '10.0.2.5', 8080],
      [0.5, '10.0.2.6', 8080],
    ]);
    for (const b of bs) {
      const r = b.result;
      expect(r.disposition).toBe('transmitted');
      expect(r.hooks).toEqual(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);
      expect(r.skb.outDev).toBe('eth-s');
      // decrement_ttl: a non-local real server costs one TTL
      expect(r.skb.hdr.ttl).toBe(63);
      expect(r.skb.hdr.src).toBe('10.0.1.7');
      // ip_vs_update_conntrack: the reply tuple's source is the real server
      expect(r.skb.ct?.entry?.reply).toMatchObject({ src: r.skb.hdr.dst, sport: 8080, dst: '10.0.1.7', dport: 40000 });
      const steps = flat(b.steps);
      const ipvs = steps.filter((s) => s.kind === 'ipvs');
      expect(ipvs[0]!.text).toMatch(/ip_vs_remote_request4: ip_vs_service_find TCP 10\.96\.0\.1:80 → bucket \d+ of the service table \(entry 1 of 1\): one hash lookup among 2 virtual services/);
      expect(ipvs[1]).toMatchObject({ kind: 'ipvs', service: 'TCP 10.96.0.1:80', realServer: `${r.skb.hdr.dst}:8080` });
      expect(steps.find((s) => s.kind === 'nat')).toMatchObject({ nat: 'IPVS', before: { ip: '10.96.0.1', port: 80 }, after: { ip: r.skb.hdr.dst, port: 8080 } });
    }
  });

  it('net.ipv4.vs.conntrack=1 keeps conntrack, so KUBE-MARK-MASQ-style marks are masqueraded in POSTROUTING; with 0 the packet is untracked and leaves unmasqueraded', () => {
    const on = runNetfilter(setup(1), { src: '10.0.1.99', dst: '10.96.0.1', ...SYN }, { all: false, seed: 1 })[0]!.result;
    expect(on.masqueraded).toBe(true);
    expect(on.skb.hdr.src).toBe('10.0.2.1');
    const off = runNetfilter(setup(0), { src: '10.0.1.99', dst: '10.96.0.1', ...SYN }, { all: false, seed: 1 })[0]!;
    expect(off.result.masqueraded).toBe(false);
    expect(off.result.skb.hdr.src).toBe('10.0.1.99');
    expect(off.result.skb.untracked).toBe(true);
    expect(flat(off.steps).some((s) => s.kind === 'conntrack' && s.state === 'untracked' && s.text.includes('ip_vs_notrack'))).toBe(true);
  });

  it('a virtual service without real servers: ip_vs_leave sends ICMP port unreachable and drops', () => {
    const r = runNetfilter(setup(), { src: '10.0.1.7', dst: '10.96.0.2', ...SYN }, { all: true, seed: 1 });
    expect(r).toHaveLength(1);
    expect(r[0]!.result.disposition).toBe('dropped');
    expect(r[0]!.result.reason).toMatch(/ip_vs_leave/);
    expect(r[0]!.result.error).toMatchObject({ kind: 'icmp', packet: { icmpType: 3, icmpCode: 3, src: '10.96.0.2', dst: '10.0.1.7' } });
  });

  it('a TCP segment without SYN and without a connection is not scheduled: it goes on to the local stack', () => {
    const r = runNetfilter(setup(), { src: '10.0.1.7', dst: '10.96.0.1', proto: 'tcp', dport: 80, tcpFlags: TCP_FLAG.ACK }, { all: true, seed: 1 });
    expect(r).toHaveLength(1);
    expect(r[0]!.result.disposition).toBe('delivered');
    expect(r[0]!.result.skb.hdr.dst).toBe('10.96.0.1');
  });

  it('the reply is found in the IPVS connection table at FORWARD and its source set back to the VIP; each run has its own IPVS', () => {
    const s = setup();
    const host = makeHost(s, {}, 1);
    const chooser = new SeededChooser(new Rng(1));
    const req: FlowHeaders = { family: 4, src: '10.0.1.7', dst: '10.96.0.1', proto: IPPROTO.TCP, sport: 40000, dport: 80, tcpFlags: TCP_FLAG.SYN, ttl: 64, length: 60 };
    const out = receive({ host, chooser, rec: new StepRecorder() }, createSkb<never>(req, { inDev: 'eth-c' }) as NetnsSkb);
    const rs = out.skb.hdr.dst;
    expect(ipvsRuntime(host, false)!.conns.size).toBe(1);
    const rec = new StepRecorder();
    const reply: FlowHeaders = { family: 4, src: rs, dst: '10.0.1.7', proto: IPPROTO.TCP, sport: 8080, dport: 40000, tcpFlags: TCP_FLAG.SYN | TCP_FLAG.ACK, ttl: 64, length: 60 };
    const back = receive({ host, chooser, rec }, createSkb<never>(reply, { inDev: 'eth-s' }) as NetnsSkb);
    expect(back.disposition).toBe('transmitted');
    expect(back.hooks).toEqual(['PREROUTING', 'FORWARD', 'POSTROUTING']);
    expect(back.skb.hdr).toMatchObject({ src: '10.96.0.1', sport: 80, dst: '10.0.1.7', dport: 40000 });
    const steps = flat(rec.take());
    expect(steps.find((x) => x.kind === 'conntrack')).toMatchObject({ state: 'reply' });
    expect(steps.find((x) => x.kind === 'nat')).toMatchObject({ nat: 'un-IPVS', before: { ip: rs, port: 8080 }, after: { ip: '10.96.0.1', port: 80 } });
    // a fresh run (fresh state) starts with no IPVS connections
    expect(ipvsRuntime(makeHost(s, {}, 1), false)).toBeNull();
  });

  it('a local request is scheduled at LOCAL_OUT and sent on through LOCAL_OUT again (NF_HOOK) and POSTROUTING', () => {
    const s = setup();
    const host = makeHost(s, {}, 1);
    const h: FlowHeaders = { family: 4, src: '10.0.2.1', dst: '10.96.0.1', proto: IPPROTO.TCP, sport: 40000, dport: 80, tcpFlags: TCP_FLAG.SYN, ttl: 64, length: 60 };
    const rec = new StepRecorder();
    const r = localOut({ host, chooser: new SeededChooser(new Rng(3)), rec }, createSkb<never>(h) as NetnsSkb);
    expect(r.disposition).toBe('transmitted');
    expect(r.hooks).toEqual(['OUTPUT', 'OUTPUT', 'POSTROUTING']);
    expect(['10.0.2.5', '10.0.2.6']).toContain(r.skb.hdr.dst);
    expect(flat(rec.take()).some((x) => x.kind === 'ipvs' && x.text.startsWith('ip_vs_local_request4:'))).toBe(true);
  });

  it('a namespace without IPVS keeps the plain hook order and no IPVS state', () => {
    const base = loadNetfilterSetup({ ruleset: { text: RULES, file: 'rules' }, localIps: '10.0.1.1/24@eth-c,10.96.0.1/32@kube-ipvs0' });
    const r = runNetfilter(base, { src: '10.0.1.7', dst: '10.96.0.1', ...SYN }, { all: true, seed: 1 });
    expect(r[0]!.result.disposition).toBe('delivered');
    expect(flat(r[0]!.steps).some((s) => s.kind === 'ipvs')).toBe(false);
  });
});
