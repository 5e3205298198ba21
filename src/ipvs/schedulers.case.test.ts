/**
 * One case suite run against every scheduler (STYLE.md, hono): the kernel's documented sequences
 * and edge cases — weight 0, every server overloaded, persistence — with expected values worked out
 * from the kernel sources by hand, not from this code's output.
 */
import { describe, expect, it } from 'vitest';
import { enumerateBranches, parseIp, Rng, SeededChooser, VirtualClock } from '../base/index.js';
import { Ipvs } from './core.js';
import { loadIpvsadmSave } from './ipvsadm.js';
import { SCHEDULERS } from './schedulers/index.js';
import { destName } from './schedulers/common.js';
import type { Flow, SchedulerName, VirtualService } from './types.js';
import { SCHEDULER_NAMES } from './types.js';

const flow = (src = '10.244.9.9', sport = 40000): Flow => ({ protocol: 'tcp', src: parseIp(src), sport, dst: parseIp('10.96.0.10'), dport: 80 });

/** A service with real servers added in the given order (so the kernel list is the reverse). */
function svcWith(sched: SchedulerName, dests: Array<[string, number]>, extra = ''): VirtualService {
  const lines = [`-A -t 10.96.0.10:80 -s ${sched}${extra}`, ...dests.map(([ip, w]) => `-a -t 10.96.0.10:80 -r ${ip}:8080 -m -w ${w}`)];
  return loadIpvsadmSave(lines.join('\n')).services()[0]!;
}

function picks(svc: VirtualService, n: number, f = flow()): string[] {
  return Array.from({ length: n }, () => {
    const d = SCHEDULERS[svc.scheduler].schedule(svc, f).dest;
    return d ? destName(d).split(':')[0]!.split('.')[3]! : '-';
  });
}

describe.each(SCHEDULER_NAMES)('scheduler %s (shared cases)', (name) => {
  it('never picks a weight-0 (quiesced) server', () => {
    const svc = svcWith(name, [['10.0.0.1', 0], ['10.0.0.2', 1]]);
    for (const src of ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5']) {
      const d = SCHEDULERS[name].schedule(svc, flow(src)).dest;
      if (d) expect(destName(d)).toBe('10.0.0.2:8080');
      // dh/sh/mh return no destination when the hash lands on the quiesced server (no fallback flag)
      else expect(['dh', 'sh', 'mh']).toContain(name);
    }
  });

  it('returns no destination when every server is overloaded, and says so', () => {
    const svc = svcWith(name, [['10.0.0.1', 1], ['10.0.0.2', 3]]);
    for (const d of svc.dests) d.overloaded = true;
    const r = SCHEDULERS[name].schedule(svc, flow());
    expect(r.dest).toBeNull();
    expect(r.why).toMatch(/no destination|unavailable|overloaded/);
    expect(SCHEDULERS[name].enumerate(svc, flow())).toEqual([{ dest: null, probability: 1, why: expect.any(String) }]);
  });

  it('returns no destination for a service without real servers', () => {
    const svc = svcWith(name, []);
    expect(SCHEDULERS[name].schedule(svc, flow()).dest).toBeNull();
  });

  it('enumerates exact probabilities that sum to 1, without changing state', () => {
    const svc = svcWith(name, [['10.0.0.1', 4], ['10.0.0.2', 3], ['10.0.0.3', 2]]);
    const before = JSON.stringify(svc.schedState, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    const c = SCHEDULERS[name].enumerate(svc, flow());
    expect(c.reduce((s, x) => s + x.probability, 0)).toBeCloseTo(1, 12);
    expect(JSON.stringify(svc.schedState, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).toBe(before);
    // Stateless or request-fixed schedulers have one outcome; rr and wrr spread over the cycle.
    if (name === 'rr') expect(c.map((x) => x.probability)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    else if (name === 'wrr') expect(c.map((x) => [destName(x.dest!), x.probability]).sort()).toEqual([['10.0.0.1:8080', 4 / 9], ['10.0.0.2:8080', 3 / 9], ['10.0.0.3:8080', 2 / 9]]);
    else expect(c).toHaveLength(1);
  });

  it('keeps a persistent client on one server (ip_vs_sched_persist template)', () => {
    const clock = new VirtualClock();
    const t = loadIpvsadmSave(`-A -t 10.96.0.10:80 -s ${name} -p 10800\n-a -t 10.96.0.10:80 -r 10.0.0.1:8080 -m\n-a -t 10.96.0.10:80 -r 10.0.0.2:8080 -m\n-a -t 10.96.0.10:80 -r 10.0.0.3:8080 -m`);
    const ipvs = new Ipvs({ clock }, t);
    const first = ipvs.processIn({ ...flow('10.1.2.3', 1000), tcp: { syn: true } });
    expect(first.verdict).toBe('forward');
    for (let p = 1001; p < 1010; p++) {
      clock.advance(1000);
      const r = ipvs.processIn({ ...flow('10.1.2.3', p), tcp: { syn: true } });
      expect(r.conn!.daddr).toEqual(first.conn!.daddr);
      expect(r.template).toBe(first.template);
    }
    expect(first.template!.dest!.persistConns).toBe(1);
    expect(ipvs.enumerate(t.services()[0]!, flow('10.1.2.3', 5555))).toEqual([{ dest: first.template!.dest, probability: 1, why: expect.stringMatching(/persistence template/) }]);
  });
});

describe('kernel sequences', () => {
  it('rr walks the list from the head; the list is newest first', () => {
    const svc = svcWith('rr', [['10.0.0.1', 1], ['10.0.0.2', 1], ['10.0.0.3', 1]]);
    expect(picks(svc, 6)).toEqual(['3', '2', '1', '3', '2', '1']);
  });

  it('rr: deleting the current server moves the position to its predecessor (ip_vs_rr_del_dest)', () => {
    const t = loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr\n' + ['1', '2', '3'].map((i) => `-a -t 10.96.0.10:80 -r 10.0.0.${i}:8080 -m`).join('\n'));
    const svc = t.services()[0]!;
    expect(picks(svc, 2)).toEqual(['3', '2']);
    t.deleteDest(svc.key, parseIp('10.0.0.2'), 8080);
    expect(picks(svc, 3)).toEqual(['1', '3', '1']);
  });

  it('wrr with weights 4/3/2 gives the gcd/max-weight cycle A A B A B C A B C', () => {
    // Added C(2), B(3), A(4): the list is A, B, C (newest first). Each add runs
    // ip_vs_wrr_dest_changed: after C alone di=2, mw=2-(2-1)=1, so cw=1; adding B and A (di=1)
    // keeps cw=1 since it is neither 0 nor above mw. So the first pass is the cw=1 one: A B C.
    // Then cw restarts at mw=4: A; cw=3: A B; cw=2: A B C; cw=1: A B C.
    const svc = svcWith('wrr', [['10.0.0.3', 2], ['10.0.0.2', 3], ['10.0.0.1', 4]]);
    expect(picks(svc, 3)).toEqual(['1', '2', '3']);
    expect(picks(svc, 9)).toEqual(['1', '1', '2', '1', '2', '3', '1', '2', '3']);
    expect(picks(svc, 9)).toEqual(['1', '1', '2', '1', '2', '3', '1', '2', '3']);
  });

  it('wrr steps by the gcd: weights 4 and 2 (di 2, mw 4-(2-1)=3) alternate A, A, B', () => {
    const svc = svcWith('wrr', [['10.0.0.2', 2], ['10.0.0.1', 4]]);
    // cw=3: A; cw=1: B, A → A B A A B A
    expect(picks(svc, 6)).toEqual(['1', '2', '1', '1', '2', '1']);
  });

  it('lc picks the least active*256+inactive; ties go to the first in the list', () => {
    const svc = svcWith('lc', [['10.0.0.1', 1], ['10.0.0.2', 1], ['10.0.0.3', 1]]);
    const [c, b, a] = svc.dests as [typeof svc.dests[0], typeof svc.dests[0], typeof svc.dests[0]];
    a.activeConns = 1; // 256
    b.inactConns = 300; // 300
    c.activeConns = 1; // 256, first in list
    const r = SCHEDULERS.lc.schedule(svc, flow());
    expect(destName(r.dest!)).toBe('10.0.0.3:8080');
    expect(r.why).toMatch(/least overhead 256/);
  });

  it('wlc compares overhead/weight by cross-multiplication; sed uses active+1; nq takes an idle server first', () => {
    const mk = (s: SchedulerName) => {
      const svc = svcWith(s, [['10.0.0.1', 1], ['10.0.0.2', 3]]);
      const [b, a] = svc.dests; // b = 10.0.0.2 (weight 3), first in list
      a!.activeConns = 1; // wlc 256/1, sed 2/1
      b!.activeConns = 2; // wlc 512/3 ≈ 170, sed 3/3 = 1
      return svc;
    };
    expect(destName(SCHEDULERS.wlc.schedule(mk('wlc'), flow()).dest!)).toBe('10.0.0.2:8080');
    expect(destName(SCHEDULERS.sed.schedule(mk('sed'), flow()).dest!)).toBe('10.0.0.2:8080');
    const nq = mk('nq');
    nq.dests[1]!.activeConns = 0; // 10.0.0.1 idle → taken although its weight is lower
    expect(destName(SCHEDULERS.nq.schedule(nq, flow()).dest!)).toBe('10.0.0.1:8080');
    const sed = mk('sed');
    sed.dests[1]!.activeConns = 0; // sed: 1/1 vs 3/3: equal → first in list (10.0.0.2) keeps it
    expect(destName(SCHEDULERS.sed.schedule(sed, flow()).dest!)).toBe('10.0.0.2:8080');
  });

  it('sh hashes the source with hash_32 into 256 buckets filled by weight; sh-port adds the port', () => {
    const svc = svcWith('sh', [['10.0.0.1', 1], ['10.0.0.2', 1]]);
    // hash_32(ntohl(10.1.2.3), 8) = (0x0a010203 * 0x61c88647 mod 2^32) >> 24
    const b = Number((BigInt(0x0a010203) * 0x61c88647n) & 0xffffffffn) >>> 24;
    const r = SCHEDULERS.sh.schedule(svc, flow('10.1.2.3'));
    expect(r.why).toContain(`bucket ${b} of 256`);
    // buckets alternate over the list (10.0.0.2 first): even buckets → .2, odd → .1
    expect(destName(r.dest!)).toBe(b % 2 === 0 ? '10.0.0.2:8080' : '10.0.0.1:8080');
    const portSvc = svcWith('sh', [['10.0.0.1', 1], ['10.0.0.2', 1]], ' -b sh-port');
    const bp = Number((BigInt(0x0a010203 + 40000) * 0x61c88647n) & 0xffffffffn) >>> 24;
    expect(SCHEDULERS.sh.schedule(portSvc, flow('10.1.2.3', 40000)).why).toContain(`bucket ${bp} of 256`);
  });

  it('sh-fallback rehashes past an unavailable server', () => {
    const svc = svcWith('sh', [['10.0.0.1', 1], ['10.0.0.2', 1]], ' -b sh-fallback');
    const r0 = SCHEDULERS.sh.schedule(svc, flow('10.1.2.3'));
    r0.dest!.weight = 0;
    const r = SCHEDULERS.sh.schedule(svc, flow('10.1.2.3'));
    expect(r.dest).not.toBeNull();
    expect(r.dest).not.toBe(r0.dest);
    expect(r.why).toMatch(/sh-fallback/);
  });

  it('dh hashes the destination ((addr * 2654435761) & 255) over servers one bucket each', () => {
    const svc = svcWith('dh', [['10.0.0.1', 5], ['10.0.0.2', 1], ['10.0.0.3', 1]]);
    const b = Number((BigInt(0x0a60000a) * 2654435761n) & 0xffn);
    const r = SCHEDULERS.dh.schedule(svc, flow());
    expect(r.why).toContain(`bucket ${b} of 256`);
    // list order .3 .2 .1, bucket i → list[i % 3], weights ignored
    expect(destName(r.dest!)).toBe(`10.0.0.${3 - (b % 3)}:8080`);
  });

  it('mh builds a 4093-slot Maglev table whose shares follow the weights', () => {
    const svc = svcWith('mh', [['10.0.0.1', 1], ['10.0.0.2', 1], ['10.0.0.3', 2]]);
    const table = (svc.schedState as { lookup: Array<{ addr: { n: number } } | null> }).lookup;
    expect(table).toHaveLength(4093);
    const share = (last: number) => table.filter((d) => d && (d.addr.n & 255) === last).length;
    expect(share(1) + share(2) + share(3)).toBe(4093);
    // Maglev fills turns round-robin: weight 2 takes two slots per round → within one slot of 2/4.
    expect(Math.abs(share(3) - 4093 / 2)).toBeLessThanOrEqual(2);
    expect(Math.abs(share(1) - share(2))).toBeLessThanOrEqual(1);
    // The same source always lands on the same slot.
    expect(SCHEDULERS.mh.schedule(svc, flow('10.9.9.9')).dest).toBe(SCHEDULERS.mh.schedule(svc, flow('10.9.9.9')).dest);
  });

  it('a seeded chooser draws rr over the cycle; --all enumerates every server with its probability', () => {
    const t = loadIpvsadmSave('-A -t 10.96.0.10:80 -s wrr\n-a -t 10.96.0.10:80 -r 10.0.0.1:8080 -m -w 1\n-a -t 10.96.0.10:80 -r 10.0.0.2:8080 -m -w 3');
    const svc = t.services()[0]!;
    const ipvs = new Ipvs({ clock: new VirtualClock() }, t);
    const branches = enumerateBranches((ch) => ipvs.decide(svc, flow(), ch).dest);
    expect(branches.map((b) => [destName(b.result!), b.probability])).toEqual([['10.0.0.2:8080', 0.75], ['10.0.0.1:8080', 0.25]]);
    const a = ipvs.decide(svc, flow(), new SeededChooser(new Rng(7))).dest;
    const b = ipvs.decide(svc, flow(), new SeededChooser(new Rng(7))).dest;
    expect(a).toBe(b);
  });
});
