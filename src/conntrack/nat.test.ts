import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Rng, VirtualClock } from '../base/index.js';
import { StepRecorder } from '../trace/index.js';
import { ConntrackTable, manipForHook } from './table.js';
import { IPS } from './types.js';
import { findBestIps } from './nat.js';
import { PROTO, icmpDport, invertTuple } from './tuple.js';
import { ACK, Host, SYN, SYNACK, range, tcp, udp } from './testkit.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('HOOK2MANIP', () => {
  it('destination at PREROUTING/OUTPUT, source at POSTROUTING/INPUT, none at FORWARD', () => {
    expect(manipForHook('PREROUTING')).toBe('DST');
    expect(manipForHook('OUTPUT')).toBe('DST');
    expect(manipForHook('POSTROUTING')).toBe('SRC');
    expect(manipForHook('INPUT')).toBe('SRC');
    expect(manipForHook('FORWARD')).toBeNull();
  });
});

describe('DNAT binding', () => {
  const vip = tcp('10.0.1.2', 40001, '10.96.0.10', 80);
  const dnat = (p: { dst: string; dport: number }) => (p.dst === '10.96.0.10' && p.dport === 80 ? range('10.244.2.7', '10.244.2.7', [8080, 8080]) : null);

  it('is made on the first packet and applied to every later packet in both directions', () => {
    const h = new Host({ dnat });
    const first = h.pass(vip, { tcpFlags: SYN });
    expect(first.out).toEqual(tcp('10.0.1.2', 40001, '10.244.2.7', 8080));
    const e = first.r.entry!;
    expect(e.reply).toEqual(tcp('10.244.2.7', 8080, '10.0.1.2', 40001));
    expect(e.status & IPS.DST_NAT).toBeTruthy();
    expect(e.status & IPS.SRC_NAT).toBe(0);
    expect(e.status & (IPS.SRC_NAT_DONE | IPS.DST_NAT_DONE)).toBe(IPS.SRC_NAT_DONE | IPS.DST_NAT_DONE); // null SRC binding too

    // The reply from the backend is un-DNATed at POSTROUTING (source manip), not at PREROUTING.
    const backReply = tcp('10.244.2.7', 8080, '10.0.1.2', 40001);
    expect(h.ct.translate(e, 'REPLY', 'DST', backReply)).toBeNull();
    expect(h.ct.translate(e, 'REPLY', 'SRC', backReply)).toEqual(tcp('10.96.0.10', 80, '10.0.1.2', 40001));
    expect(h.pass(backReply, { tcpFlags: SYNACK }).out).toEqual(tcp('10.96.0.10', 80, '10.0.1.2', 40001));

    // Later packets skip the nat chain (ESTABLISHED) but are still rewritten.
    const later = h.pass(vip, { tcpFlags: ACK });
    expect(later.r.ctinfo).toBe('ESTABLISHED');
    expect(later.out).toEqual(tcp('10.0.1.2', 40001, '10.244.2.7', 8080));
    expect(h.ct.translate(e, 'ORIGINAL', 'SRC', later.out)).toBeNull();
  });

  it('a DNAT port range keeps the first port unless that reply tuple is taken (search from the range start)', () => {
    const t = new ConntrackTable({ clock: new VirtualClock() });
    const rg = range('10.0.2.2', '10.0.2.2', [8080, 8082]);
    // Two different clients: the tuples differ, both keep 8080.
    for (const src of ['10.0.1.2', '10.0.1.3']) {
      const e = t.packetIn(tcp(src, 4000, '10.0.1.1', 80), { tcpFlags: SYN }).entry!;
      expect(t.setupNat(e, 'DST', rg).tuple.dport).toBe(8080);
      t.confirm(e);
    }
    // Something already owns 10.0.2.2:8080 <-> 10.0.1.2:4000 (e.g. a direct connection): the next port is taken.
    const t2 = new ConntrackTable({ clock: new VirtualClock() });
    const direct = t2.packetIn(tcp('10.0.1.2', 4000, '10.0.2.2', 8080), { tcpFlags: SYN }).entry!;
    t2.confirm(direct);
    const e = t2.packetIn(tcp('10.0.1.2', 4000, '10.0.1.1', 80), { tcpFlags: SYN }).entry!;
    const b = t2.setupNat(e, 'DST', rg);
    expect(b.tuple.dport).toBe(8081);
    expect(b.portChanged).toBe(true);
  });

  it('records the binding on the trace when asked', () => {
    const t = new ConntrackTable({ clock: new VirtualClock() });
    const e = t.packetIn(vip, { tcpFlags: SYN }).entry!;
    const rec = new StepRecorder();
    t.setupNat(e, 'DST', range('10.244.2.7', '10.244.2.7', [8080, 8080]), { rec });
    expect(rec.steps).toEqual([expect.objectContaining({ kind: 'nat', nat: 'DNAT', before: { ip: '10.96.0.10', port: 80 }, after: { ip: '10.244.2.7', port: 8080 } })]);
  });
});

describe('SNAT / MASQUERADE source port clash (get_unique_tuple)', () => {
  const masq = (p: { dst: string }) => (p.dst === '10.0.2.2' ? range('10.0.2.1') : null);

  it('keeps the source port when unique; the second client with the same port gets another one in 1024-65535', () => {
    const h = new Host({ snat: masq });
    const a = h.pass(tcp('10.0.1.2', 40000, '10.0.2.2', 8080), { tcpFlags: SYN });
    expect(a.out).toEqual(tcp('10.0.2.1', 40000, '10.0.2.2', 8080));
    const b = h.pass(tcp('10.0.1.3', 40000, '10.0.2.2', 8080), { tcpFlags: SYN });
    expect(b.out.src).toBe('10.0.2.1');
    expect(b.out.sport).not.toBe(40000);
    expect(b.out.sport).toBeGreaterThanOrEqual(1024);
    expect(b.r.entry!.reply).toEqual(tcp('10.0.2.2', 8080, '10.0.2.1', b.out.sport));
    // Replies reach the right client: un-SNAT at PREROUTING (destination manip).
    const reply = h.pass(tcp('10.0.2.2', 8080, '10.0.2.1', b.out.sport), { tcpFlags: SYNACK });
    expect(reply.r.entry).toBe(b.r.entry);
    expect(reply.out).toEqual(tcp('10.0.2.2', 8080, '10.0.1.3', 40000));
  });

  it('agrees with the kernel capture (fixtures/snat-clash.txt): the first keeps 40000, the second moves', () => {
    const lines = fixture('snat-clash.txt').trim().split('\n');
    const replyDport = (l: string) => Number(/src=10\.0\.2\.2 dst=10\.0\.2\.1 sport=8080 dport=(\d+)/.exec(l)![1]);
    const first = lines.find((l) => l.includes('src=10.0.1.2 '))!;
    const second = lines.find((l) => l.includes('src=10.0.1.3 '))!;
    expect(replyDport(first)).toBe(40000);
    expect(replyDport(second)).not.toBe(40000);
    expect(replyDport(second)).toBeGreaterThanOrEqual(1024);
  });

  it('sport below 512 is searched in 1-511, 512-1023 in 600-1023 (nf_nat_l4proto_unique_tuple)', () => {
    for (const [sport, lo, hi] of [[123, 1, 511], [700, 600, 1023]] as const) {
      const h = new Host({ snat: masq });
      h.pass(udp('10.0.1.2', sport, '10.0.2.2', 123));
      const b = h.pass(udp('10.0.1.3', sport, '10.0.2.2', 123));
      expect(b.out.sport).not.toBe(sport);
      expect(b.out.sport).toBeGreaterThanOrEqual(lo);
      expect(b.out.sport).toBeLessThanOrEqual(hi);
    }
  });

  it('the null binding (no nat rule matched) also moves a clashing source port', () => {
    // The host itself already talks 10.0.2.1:40000 -> 10.0.2.2:8080; a forwarded client MASQUERADEd to the same tuple must move.
    const t = new ConntrackTable({ clock: new VirtualClock() });
    const viaMasq = t.packetIn(tcp('10.0.1.2', 40000, '10.0.2.2', 8080), { tcpFlags: SYN }).entry!;
    t.setupNat(viaMasq, 'SRC', range('10.0.2.1'));
    t.confirm(viaMasq);
    const local = t.packetIn(tcp('10.0.2.1', 40000, '10.0.2.2', 8080), { tcpFlags: SYN }).entry!;
    t.allocNullBinding(local, 'DST');
    const b = t.allocNullBinding(local, 'SRC');
    expect(b.changed).toBe(true);
    expect(b.portChanged).toBe(true);
    expect(b.tuple.src).toBe('10.0.2.1');
    expect(local.status & IPS.SRC_NAT).toBeTruthy();
  });

  it('--random-fully draws the port from the Rng even without a clash; seeded runs repeat', () => {
    const pick = (seed: number) => {
      const t = new ConntrackTable({ clock: new VirtualClock() });
      const e = t.packetIn(tcp('10.0.1.2', 40000, '10.0.2.2', 8080), { tcpFlags: SYN }).entry!;
      return t.setupNat(e, 'SRC', range('10.0.2.1', '10.0.2.1', undefined, { randomFully: true }), { rng: new Rng(seed) }).tuple.sport;
    };
    expect(pick(1)).toBe(pick(1));
    expect(new Set([pick(1), pick(2), pick(3)]).size).toBeGreaterThan(1);
    expect(pick(1)).toBeGreaterThanOrEqual(1024);
  });

  it('--to-ports maps into the range; a second flow of the same source reuses its mapping (find_appropriate_src)', () => {
    const t = new ConntrackTable({ clock: new VirtualClock() });
    const rg = range('10.0.2.1', '10.0.2.1', [20000, 20010]);
    const a = t.packetIn(udp('10.0.1.2', 5000, '10.0.2.2', 53)).entry!;
    const pa = t.setupNat(a, 'SRC', rg, { rng: new Rng(3) }).tuple.sport;
    expect(pa).toBeGreaterThanOrEqual(20000);
    expect(pa).toBeLessThanOrEqual(20010);
    t.confirm(a);
    const b = t.packetIn(udp('10.0.1.2', 5000, '10.0.2.3', 53)).entry!; // same source, other destination
    expect(t.setupNat(b, 'SRC', range('10.0.2.1', '10.0.2.1', [20000, 20010]), { rng: new Rng(99) }).tuple.sport).toBe(pa);
  });
});

describe('find_best_ips_proto', () => {
  it('picks the same addresses from 10.0.2.10-10.0.2.20 as the kernel did (fixtures/dnat-range.txt)', () => {
    const lines = fixture('dnat-range.txt').trim().split('\n');
    expect(lines.length).toBe(7);
    for (const line of lines) {
      const m = /src=(\S+) dst=10\.0\.1\.1 sport=40010 dport=81 \[UNREPLIED\] src=(\S+) /.exec(line)!;
      const t = tcp(m[1]!, 40010, '10.0.1.1', 81);
      expect(findBestIps(t, range('10.0.2.10', '10.0.2.20'), 'DST').dst, line).toBe(m[2]);
    }
  });

  it('--persistent ignores the destination: one client gets one address whatever it talks to', () => {
    const rg = range('10.0.2.10', '10.0.2.20', undefined, { persistent: true });
    const picks = new Set(['10.0.1.1', '10.0.1.50', '10.0.1.77'].map((d) => findBestIps(tcp('10.0.1.2', 1, d, 2), rg, 'SRC').src));
    expect(picks.size).toBe(1);
  });
});

describe('ICMP errors RELATED to a connection', () => {
  it('finds the DNATed connection from the quoted header and rewrites outer and quoted headers', () => {
    const dnat = (p: { dst: string }) => (p.dst === '10.96.0.10' ? range('10.244.2.7', '10.244.2.7', [8080, 8080]) : null);
    const h = new Host({ dnat });
    const e = h.pass(udp('10.0.1.2', 5000, '10.96.0.10', 53)).r.entry!;
    // The backend answers port unreachable about the packet it received (10.0.1.2:5000 -> 10.244.2.7:8080).
    const outer = { family: 4 as const, proto: PROTO.ICMP, src: '10.244.2.7', dst: '10.0.1.2', sport: 0, dport: icmpDport(3, 3) };
    const quoted = udp('10.0.1.2', 5000, '10.244.2.7', 8080);
    const rel = h.ct.relatedToError(outer, quoted)!;
    expect(rel.entry).toBe(e);
    expect(rel.dir).toBe('REPLY');
    expect(rel.ctinfo).toBe('RELATED_REPLY');
    expect(h.ct.packetIn(outer, { quoted })).toMatchObject({ ctstate: 'RELATED', ctinfo: 'RELATED_REPLY' });
    // At PREROUTING (DST manip) nothing changes for a reply of a DNAT; at POSTROUTING the DNAT is undone in both headers.
    expect(h.ct.translateIcmpError(e, rel.dir, 'DST', outer, quoted)).toBeNull();
    expect(h.ct.translateIcmpError(e, rel.dir, 'SRC', outer, quoted)).toEqual({
      outer: { ...outer, src: '10.96.0.10' },
      quoted: udp('10.0.1.2', 5000, '10.96.0.10', 53),
    });
  });

  it('an error about no known connection, or with a foreign outer destination, is INVALID', () => {
    const h = new Host();
    h.pass(udp('10.0.1.2', 5000, '10.0.2.2', 53));
    const quoted = udp('10.0.1.2', 5000, '10.0.2.2', 53);
    const outer = (dst: string) => ({ family: 4 as const, proto: PROTO.ICMP, src: '10.0.2.2', dst, sport: 0, dport: icmpDport(3, 3) });
    expect(h.ct.packetIn(outer('10.0.1.2'), { quoted }).ctstate).toBe('RELATED');
    expect(h.ct.packetIn(outer('10.0.1.99'), { quoted }).ctstate).toBe('INVALID');
    expect(h.ct.packetIn(outer('10.0.1.2'), { quoted: udp('10.0.1.2', 5001, '10.0.2.2', 53) }).ctstate).toBe('INVALID');
    expect(h.ct.packetIn(outer('10.0.1.2')).ctstate).toBe('INVALID');
  });

  it('ICMP echo through SNAT: the id moves with a clash and replies are translated back', () => {
    const snat = () => range('10.0.2.1');
    const h = new Host({ snat });
    const p1 = { family: 4 as const, proto: PROTO.ICMP, src: '10.0.1.2', dst: '10.0.2.2', sport: 7, dport: icmpDport(8, 0) };
    const p2 = { ...p1, src: '10.0.1.3' };
    expect(h.pass(p1).out).toEqual({ ...p1, src: '10.0.2.1' });
    const o2 = h.pass(p2).out;
    expect(o2.src).toBe('10.0.2.1');
    expect(o2.sport).not.toBe(7);
    const back = h.pass(invertTuple(o2)!).out;
    expect(back).toEqual(invertTuple(p2));
  });
});
