import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError, Rng, SeededChooser, VirtualClock, enumerateBranches } from '../base/index.js';
import type { Chooser } from '../base/index.js';
import { NO_TRACE, StepRecorder } from '../trace/index.js';
import type { ChainStep, RuleStep, Step, TraceRecorder } from '../trace/index.js';
import { IpsetStore, parseIpsetSave } from './ipset.js';
import { parseIptablesSave } from './iptables-save.js';
import { NthState, RecentStore } from './state.js';
import { syntheticKubeProxyDump, syntheticService } from './synthetic.js';
import type { AddrType, CompiledRuleset, HookName, NfConntrack, NfEnv, NfPacket, TableName } from './types.js';
import { compileRuleset, walkTable } from './walk.js';

const dir = fileURLToPath(new URL('../../fixtures/netfilter/', import.meta.url));
const read = (f: string) => readFileSync(dir + f, 'utf8');

const LOCAL = new Set(['192.168.56.11', '127.0.0.1']);
function env(over: Partial<NfEnv> & { chooser?: Chooser; rec?: TraceRecorder } = {}): NfEnv {
  return {
    addrType: (ip: string): AddrType => (LOCAL.has(ip) ? 'LOCAL' : 'UNICAST'),
    ipsets: new IpsetStore(),
    recent: new RecentStore(),
    nth: new NthState(),
    clock: new VirtualClock(1_000_000),
    chooser: new SeededChooser(new Rng(1)),
    rec: NO_TRACE,
    ...over,
  };
}
function tcp(src: string, dst: string, dport: number, more: Partial<NfPacket> = {}): NfPacket {
  return { family: 4, src, dst, proto: 6, sport: 40000, dport, tcpFlags: 0x02, length: 60, mark: 0, ...more };
}
const walk = (rs: CompiledRuleset, t: TableName, h: HookName, p: NfPacket, e: NfEnv, ct?: NfConntrack) => walkTable(rs, t, h, p, ct, e);

describe('kube-proxy nat walk', () => {
  const rs = compileRuleset(parseIptablesSave(read('kube-proxy.save'), { file: 'kube-proxy.save' }));

  it('enumerates the three endpoints of default/web with the kernel statistic probabilities', () => {
    const outcomes = enumerateBranches((chooser) => walk(rs, 'nat', 'PREROUTING', tcp('10.244.1.5', '10.96.12.34', 80), env({ chooser })));
    // iptables stores lround(0.33333333349 * 2^31); xt_statistic matches with probability that / 2^31.
    const p1 = Math.round(0.33333333349 * 0x80000000) / 0x80000000;
    const byDest = new Map(outcomes.map((o) => [o.result.nat?.ranges[0]?.minIp, o.probability]));
    expect([...byDest.keys()].sort()).toEqual(['10.244.1.7', '10.244.2.7', '10.244.3.7']);
    expect(byDest.get('10.244.1.7')).toBeCloseTo(p1, 15);
    expect(byDest.get('10.244.2.7')).toBeCloseTo((1 - p1) * 0.5, 15);
    expect(byDest.get('10.244.3.7')).toBeCloseTo((1 - p1) * 0.5, 15);
    expect(outcomes.reduce((s, o) => s + o.probability, 0)).toBeCloseTo(1, 12);
    for (const o of outcomes) {
      expect(o.result.verdict).toBe('ACCEPT');
      expect(o.result.nat?.type).toBe('DNAT');
      expect(o.result.nat?.ranges[0]?.minPort).toBe(8080);
    }
  });

  it('a seeded chooser takes one outcome, the same for the same seed', () => {
    const a = walk(rs, 'nat', 'PREROUTING', tcp('10.244.1.5', '10.96.12.34', 80), env({ chooser: new SeededChooser(new Rng(7)) }));
    const b = walk(rs, 'nat', 'PREROUTING', tcp('10.244.1.5', '10.96.12.34', 80), env({ chooser: new SeededChooser(new Rng(7)) }));
    expect(a.nat?.ranges[0]?.minIp).toBe(b.nat?.ranges[0]?.minIp);
  });

  it('recent --set in the chosen endpoint makes the next connection from the client stick to it', () => {
    const e = env({ chooser: { choose: (_p: string, probs: readonly number[]) => (probs.length ? 0 : 0), choices: [] } });
    const first = walk(rs, 'nat', 'PREROUTING', tcp('10.244.1.5', '10.96.12.34', 80), e);
    expect(first.nat?.ranges[0]?.minIp).toBe('10.244.1.7');
    // Second connection: a chooser that would pick the last endpoint; recent --rcheck wins first.
    const e2 = { ...e, chooser: { choose: (_p: string, probs: readonly number[]) => probs.length - 1, choices: [] } };
    const second = walk(rs, 'nat', 'PREROUTING', tcp('10.244.1.5', '10.96.12.34', 80, { sport: 40001 }), e2);
    expect(second.nat?.ranges[0]?.minIp).toBe('10.244.1.7');
    // Another client is not affected.
    const other = walk(rs, 'nat', 'PREROUTING', tcp('10.244.1.6', '10.96.12.34', 80), e2);
    expect(other.nat?.ranges[0]?.minIp).toBe('10.244.3.7');
    // After --seconds 10800 the entry no longer matches.
    (e.clock as VirtualClock).advance(10_801_000);
    const late = walk(rs, 'nat', 'PREROUTING', tcp('10.244.1.5', '10.96.12.34', 80), e2);
    expect(late.nat?.ranges[0]?.minIp).toBe('10.244.3.7');
  });

  it('KUBE-MARK-MASQ sets 0x4000 and POSTROUTING masquerades, clearing the bit', () => {
    const pkt = tcp('192.168.56.200', '10.96.0.1', 443);
    const pre = walk(rs, 'nat', 'PREROUTING', pkt, env());
    expect(pre.nat?.ranges[0]).toEqual({ minIp: '192.168.56.11', maxIp: '192.168.56.11', minPort: 6443, maxPort: 6443 });
    expect(pkt.mark).toBe(0x4000);
    const post = walk(rs, 'nat', 'POSTROUTING', pkt, env());
    expect(post.nat?.type).toBe('MASQUERADE');
    expect(post.nat?.flags.randomFully).toBe(true);
    expect(pkt.mark).toBe(0);
    // Unmarked traffic RETURNs from KUBE-POSTROUTING and meets the policy.
    const plain = walk(rs, 'nat', 'POSTROUTING', tcp('10.244.1.5', '10.244.2.7', 8080), env());
    expect(plain.verdict).toBe('ACCEPT');
    expect(plain.nat).toBeUndefined();
  });

  it('reports chain and rule steps with 1-based positions, and nothing with NO_TRACE', () => {
    const rec = new StepRecorder();
    const res = walk(rs, 'nat', 'PREROUTING', tcp('10.244.1.5', '10.96.0.10', 53, { proto: 17 }), env({ rec }));
    expect(res.nat?.ranges[0]?.minIp).toBe('10.244.1.2');
    const top = rec.steps[0] as ChainStep;
    expect(top).toMatchObject({ kind: 'chain', table: 'nat', chain: 'PREROUTING' });
    const flat: Step[] = [];
    const visit = (s: Step) => {
      flat.push(s);
      s.children?.forEach(visit);
    };
    rec.steps.forEach(visit);
    const rules = flat.filter((s): s is RuleStep => s.kind === 'rule');
    const svcRule = rules.find((r) => r.chain === 'KUBE-SERVICES' && r.verdict === 'jump')!;
    expect(svcRule.index).toBe(2); // second rule of KUBE-SERVICES in the dump
    expect(svcRule.rule).toContain('kube-system/kube-dns:dns cluster IP');
    expect(rules.at(-1)!.verdict).toBe('dnat');
    expect(rec.depth).toBe(0);
  });

  it('filter REJECT reports the ICMP port unreachable it sends', () => {
    const res = walk(rs, 'filter', 'FORWARD', tcp('10.244.1.5', '10.96.0.99', 80), env(), { state: 'NEW', dir: 'ORIGINAL', snat: false, dnat: false, orig: { src: '10.244.1.5', dst: '10.96.0.99', proto: 6 }, reply: { src: '10.96.0.99', dst: '10.244.1.5', proto: 6 }, mark: 0 });
    expect(res.verdict).toBe('REJECT');
    expect(res.reject).toMatchObject({ with: 'icmp-port-unreachable', icmp: { type: 3, code: 3 } });
  });
});

const mini = (body: string, policy = 'ACCEPT') =>
  compileRuleset(parseIptablesSave(`*filter\n:INPUT ${policy} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${body}\nCOMMIT\n`));

describe('jump, goto, return and policy', () => {
  it('end of a user chain returns; RETURN returns; end of built-in is the policy', () => {
    const rs = mini(':A - [0:0]\n-A INPUT -j A\n-A INPUT -p udp -j ACCEPT\n-A A -p tcp -j RETURN\n-A A -j DROP', 'DROP');
    const r = walk(rs, 'filter', 'INPUT', tcp('1.1.1.1', '2.2.2.2', 1), env());
    expect(r).toMatchObject({ verdict: 'DROP', evaluated: 3, linearEvaluated: 3 });
    expect(r.rule).toBeUndefined();
    expect(walk(rs, 'filter', 'INPUT', { ...tcp('1.1.1.1', '2.2.2.2', 1), proto: 17 }, env()).rule?.chain).toBe('A');
  });

  it('goto does not come back: the caller of the chain that did the goto resumes', () => {
    const rs = mini(':A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A INPUT -j ACCEPT\n-A A -g B\n-A A -j DROP\n-A B -p udp -j DROP', 'DROP');
    const r = walk(rs, 'filter', 'INPUT', tcp('1.1.1.1', '2.2.2.2', 1), env());
    expect(r.verdict).toBe('ACCEPT');
    expect(r.rule?.line).toBe(8); // -A INPUT -j ACCEPT (line 8 of the mini file)
  });

  it('goto from a built-in chain ends in the policy, skipping the built-in chain\'s other rules', () => {
    const rs = mini(':B - [0:0]\n-A INPUT -g B\n-A INPUT -j ACCEPT\n-A B -p udp -j ACCEPT', 'DROP');
    const r = walk(rs, 'filter', 'INPUT', tcp('1.1.1.1', '2.2.2.2', 1), env());
    expect(r).toMatchObject({ verdict: 'DROP', evaluated: 2, linearEvaluated: 1 + 0 + 1 });
    expect(r.rule).toBeUndefined();
  });

  it('a loop between chains is refused at load, naming the line', () => {
    const text = '*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -g A\nCOMMIT\n';
    expect(() => parseIptablesSave(text, { file: 'loop.rules' })).toThrow(InputError);
    expect(() => parseIptablesSave(text, { file: 'loop.rules' })).toThrow(/loop\.rules:\d+.*loop/);
  });

  it('more than 15 nested jumps are refused (nft_chain_validate, NFT_JUMP_STACK_SIZE 16)', () => {
    const chain = (n: number) => {
      const names = Array.from({ length: n }, (_, i) => `C${i}`);
      return `*filter\n:INPUT ACCEPT [0:0]\n${names.map((c) => `:${c} - [0:0]`).join('\n')}\n-A INPUT -j C0\n${names.slice(0, -1).map((c, i) => `-A ${c} -j C${i + 1}`).join('\n')}\nCOMMIT\n`;
    };
    expect(() => parseIptablesSave(chain(15))).not.toThrow();
    expect(() => parseIptablesSave(chain(16))).toThrow(/EMLINK/);
  });

  it('MARK and CONNMARK mutate the packet and connection marks', () => {
    const rs = compileRuleset(parseIptablesSave('*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-xmark 0x10/0xf0\n-A PREROUTING -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff\n-A PREROUTING -j MARK --set-xmark 0x0/0xffffffff\n-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xf --ctmask 0xf\nCOMMIT\n'));
    const pkt = tcp('1.1.1.1', '2.2.2.2', 1, { mark: 0x123 });
    const ct: NfConntrack = { state: 'NEW', dir: 'ORIGINAL', snat: false, dnat: false, orig: { src: '1.1.1.1', dst: '2.2.2.2', proto: 6 }, reply: { src: '2.2.2.2', dst: '1.1.1.1', proto: 6 }, mark: 0xab00 };
    walk(rs, 'mangle', 'PREROUTING', pkt, env(), ct);
    // (0x123 & ~0xf0) ^ 0x10 = 0x113; ctmark = (0xab00 & ~0xff) ^ (0x113 & 0xff) = 0xab13
    expect(ct.mark).toBe(0xab13);
    // mark cleared, then restore: (0 & ~0xf) ^ (0xab13 & 0xf) = 0x3
    expect(pkt.mark).toBe(0x3);
  });
});

describe('matches', () => {
  it('nth: --every 3 --packet 0 matches every third packet (xt_statistic counter)', () => {
    const rs = mini('-A INPUT -m statistic --mode nth --every 3 --packet 0 -j DROP');
    const e = env();
    const v = [1, 2, 3, 4, 5, 6].map(() => walk(rs, 'filter', 'INPUT', tcp('1.1.1.1', '2.2.2.2', 1), e).verdict);
    expect(v).toEqual(['ACCEPT', 'ACCEPT', 'DROP', 'ACCEPT', 'ACCEPT', 'DROP']);
  });

  it('conntrack/state, addrtype, multiport, tcp flags, icmp, ipset', () => {
    const sets = parseIpsetSave(read('ipsets.save'));
    const rs = mini(
      [
        '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        '-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m addrtype --dst-type LOCAL -m multiport --dports 22,8000:8080 -j ACCEPT',
        '-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT',
        '-A INPUT -m set --match-set svc-ports dst,dst -j ACCEPT',
        '-A INPUT -m set --match-set nets src -j ACCEPT',
      ].join('\n'),
      'DROP',
    );
    const e = env({ ipsets: sets });
    const est: NfConntrack = { state: 'ESTABLISHED', dir: 'REPLY', snat: false, dnat: false, orig: { src: '2.2.2.2', dst: '1.1.1.1', proto: 6 }, reply: { src: '1.1.1.1', dst: '2.2.2.2', proto: 6 }, mark: 0 };
    expect(walk(rs, 'filter', 'INPUT', tcp('9.9.9.9', '1.1.1.1', 1, { tcpFlags: 0x10 }), e, est).rule?.line).toBe(5);
    expect(walk(rs, 'filter', 'INPUT', tcp('9.9.9.9', '192.168.56.11', 8080), e).rule?.line).toBe(6);
    expect(walk(rs, 'filter', 'INPUT', tcp('9.9.9.9', '192.168.56.11', 8081), e).verdict).toBe('DROP');
    expect(walk(rs, 'filter', 'INPUT', tcp('9.9.9.9', '192.168.56.11', 22, { tcpFlags: 0x12 }), e).verdict).toBe('DROP');
    expect(walk(rs, 'filter', 'INPUT', { family: 4, src: '9.9.9.9', dst: '1.1.1.1', proto: 1, icmpType: 8, icmpCode: 0, length: 84, mark: 0 }, e).rule?.line).toBe(7);
    expect(walk(rs, 'filter', 'INPUT', { ...tcp('9.9.9.9', '10.96.0.10', 53), proto: 17 }, e).rule?.line).toBe(8);
    expect(walk(rs, 'filter', 'INPUT', tcp('9.9.9.9', '10.96.0.10', 54), e).verdict).toBe('DROP');
    // hash:net with a more specific nomatch entry: 10.244.5.0/24 is excluded from 10.244.0.0/16.
    expect(walk(rs, 'filter', 'INPUT', tcp('10.244.1.1', '3.3.3.3', 1), e).rule?.line).toBe(9);
    expect(walk(rs, 'filter', 'INPUT', tcp('10.244.5.1', '3.3.3.3', 1), e).verdict).toBe('DROP');
  });
});

describe('the (dst, proto, dport) index', () => {
  const text = syntheticKubeProxyDump({ services: 300, endpointsPerService: 3 });
  const rs = parseIptablesSave(text);
  const indexed = compileRuleset(rs, { index: true });
  const linear = compileRuleset(rs, { index: false });

  it('gives the same verdict, NAT, rule and linear count as the linear walk on random packets', () => {
    const rng = new Rng(42);
    for (let n = 0; n < 800; n++) {
      const s = syntheticService(rng.int(320), 3);
      const hit = rng.next() < 0.7;
      const pkt: NfPacket = {
        family: 4,
        src: `10.${rng.int(2) ? 244 : 1}.${rng.int(256)}.${rng.int(256)}`,
        dst: hit ? s.clusterIp : `10.96.${rng.int(3)}.${rng.int(256)}`,
        proto: rng.int(4) === 0 ? 17 : rng.int(10) === 0 ? 1 : 6,
        sport: 30000 + rng.int(1000),
        dport: hit && rng.next() < 0.8 ? s.port : [80, 443, 53, 8080, 9090, 1][rng.int(6)],
        length: 60,
        mark: 0,
      };
      const seed = rng.u32();
      const a = walkTable(indexed, 'nat', 'PREROUTING', { ...pkt }, undefined, env({ chooser: new SeededChooser(new Rng(seed)) }));
      const b = walkTable(linear, 'nat', 'PREROUTING', { ...pkt }, undefined, env({ chooser: new SeededChooser(new Rng(seed)) }));
      expect(a.verdict).toBe(b.verdict);
      expect(a.nat).toEqual(b.nat);
      expect(a.rule).toBe(b.rule);
      expect(a.linearEvaluated).toBe(b.linearEvaluated);
      expect(b.evaluated).toBe(b.linearEvaluated);
      expect(a.evaluated).toBeLessThanOrEqual(b.evaluated);
    }
  });

  it('tests only a few rules of KUBE-SERVICES, and reports the linear position', () => {
    const s = syntheticService(250, 3);
    const rec = new StepRecorder();
    const res = walkTable(indexed, 'nat', 'PREROUTING', tcp('10.1.2.3', s.clusterIp, s.port), undefined, env({ rec }));
    expect(res.nat?.type).toBe('DNAT');
    const svc = (rec.steps[0]!.children![0]!.children![0] as ChainStep);
    expect(svc).toMatchObject({ kind: 'chain', chain: 'KUBE-SERVICES', evaluated: 1, linearEvaluated: 251 });
    expect((svc.children![0] as RuleStep).index).toBe(251);
  });
});

describe('bad input', () => {
  it('an unknown match or target names the line and the token', () => {
    expect(() => parseIptablesSave('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m bogus --x 1 -j ACCEPT\nCOMMIT\n', { file: 'f' })).toThrow(/f:3 \(bogus\).*Couldn't load match/);
    expect(() => parseIptablesSave('*filter\n:INPUT ACCEPT [0:0]\n\n-A INPUT -j NOPE\nCOMMIT\n', { file: 'f' })).toThrow(/f:4 \(NOPE\)/);
    expect(() => parseIptablesSave('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dportx 1 -j ACCEPT\nCOMMIT\n')).toThrow(/--dportx/);
    expect(() => parseIptablesSave('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n')).toThrow(/no COMMIT/);
  });
});
