import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../base/index.js';
import { ConntrackTable } from './table.js';
import { IPS } from './types.js';
import { icmpTuple, invertTuple } from './tuple.js';
import { ACK, FINACK, Host, RST, SYN, SYNACK, tcp, udp } from './testkit.js';

const C = tcp('10.0.1.2', 40000, '10.0.2.2', 80);
const S = invertTuple(C)!;

describe('TCP state machine (tcp_conntracks)', () => {
  it('follows the three-way handshake and a close, and becomes ASSURED on the ACK after SYN_RECV', () => {
    const h = new Host();
    const syn = h.pass(C, { tcpFlags: SYN }).r;
    expect(syn.ctstate).toBe('NEW');
    expect(syn.isNew).toBe(true);
    const e = syn.entry!;
    expect(e.proto).toMatchObject({ state: 'SYN_SENT' });
    expect(e.confirmed).toBe(true);
    expect(h.ct.secondsLeft(e)).toBe(120);

    const sa = h.pass(S, { tcpFlags: SYNACK }).r;
    expect(sa.ctinfo).toBe('ESTABLISHED_REPLY');
    expect(sa.ctstate).toBe('ESTABLISHED');
    expect(e.proto).toMatchObject({ state: 'SYN_RECV' });
    expect(e.status & IPS.SEEN_REPLY).toBeTruthy();
    expect(e.status & IPS.ASSURED).toBe(0);
    expect(h.ct.secondsLeft(e)).toBe(60);

    const a = h.pass(C, { tcpFlags: ACK }).r;
    expect(a.ctinfo).toBe('ESTABLISHED');
    expect(e.proto).toMatchObject({ state: 'ESTABLISHED' });
    expect(e.status & IPS.ASSURED).toBeTruthy();
    expect(h.ct.secondsLeft(e)).toBe(432000);

    h.pass(S, { tcpFlags: FINACK });
    expect(e.proto).toMatchObject({ state: 'FIN_WAIT' });
    h.pass(C, { tcpFlags: ACK });
    expect(e.proto).toMatchObject({ state: 'CLOSE_WAIT' });
    h.pass(C, { tcpFlags: FINACK });
    expect(e.proto).toMatchObject({ state: 'LAST_ACK' });
    h.pass(S, { tcpFlags: ACK });
    expect(e.proto).toMatchObject({ state: 'TIME_WAIT' });
    expect(h.ct.secondsLeft(e)).toBe(120);
  });

  it('a second SYN before any reply is still NEW (no SEEN_REPLY) and does not renew the timeout', () => {
    const h = new Host();
    const e = h.pass(C, { tcpFlags: SYN }).r.entry!;
    h.clock.advance(50_000);
    const again = h.pass(C, { tcpFlags: SYN }).r;
    expect(again.entry).toBe(e);
    expect(again.ctstate).toBe('NEW');
    expect(again.isNew).toBe(false);
    expect(h.ct.secondsLeft(e)).toBe(70);
  });

  it('marks a SYN/ACK with no connection, a lone FIN and an ACK before the SYN/ACK INVALID', () => {
    const h = new Host();
    expect(h.pass(C, { tcpFlags: SYNACK }).r.ctstate).toBe('INVALID');
    expect(h.pass(C, { tcpFlags: { fin: true } }).r.ctstate).toBe('INVALID'); // FIN without ACK: invalid flag combination
    h.pass(C, { tcpFlags: SYN });
    const ack = h.pass(C, { tcpFlags: ACK }).r; // sSS -> sIV in ORIGINAL
    expect(ack.ctstate).toBe('INVALID');
    expect(ack.reason).toMatch(/invalid, state SYN_SENT/);
  });

  it('picks up a mid-stream ACK as ESTABLISHED with the 5 min UNACK timeout (nf_conntrack_tcp_loose=1)', () => {
    const h = new Host();
    const r = h.pass(C, { tcpFlags: ACK }).r;
    expect(r.ctstate).toBe('NEW');
    expect(r.entry!.proto).toMatchObject({ state: 'ESTABLISHED' });
    expect(h.ct.secondsLeft(r.entry!)).toBe(300);
    const strict = new ConntrackTable({ clock: new VirtualClock(), tcpLoose: false });
    expect(strict.packetIn(C, { tcpFlags: ACK }).ctstate).toBe('INVALID');
  });

  it('a RST as the only answer deletes the connection; RST on an established one moves it to CLOSE for 10 s', () => {
    const h = new Host();
    const e = h.pass(C, { tcpFlags: SYN }).r.entry!;
    h.pass(S, { tcpFlags: { rst: true, ack: true } });
    expect(h.ct.lookup(C)).toBeNull();
    expect(e.proto).toMatchObject({ state: 'CLOSE' });

    const e2 = h.pass(C, { tcpFlags: SYN }).r.entry!;
    expect(e2).not.toBe(e);
    h.pass(S, { tcpFlags: SYNACK });
    h.pass(C, { tcpFlags: ACK });
    h.pass(C, { tcpFlags: RST });
    expect(e2.proto).toMatchObject({ state: 'CLOSE' });
    expect(h.ct.secondsLeft(e2)).toBe(10);
  });

  it('a new SYN on a TIME_WAIT connection reopens it as a fresh entry', () => {
    const h = new Host();
    const e = h.pass(C, { tcpFlags: SYN }).r.entry!;
    for (const [t, f] of [[S, SYNACK], [C, ACK], [C, FINACK], [S, ACK], [S, FINACK], [C, ACK]] as const) h.pass(t, { tcpFlags: f });
    expect(e.proto).toMatchObject({ state: 'TIME_WAIT' });
    const r = h.pass(C, { tcpFlags: SYN }).r;
    expect(r.entry).not.toBe(e);
    expect(r.ctstate).toBe('NEW');
    expect(r.entry!.proto).toMatchObject({ state: 'SYN_SENT' });
  });
});

describe('UDP and ICMP', () => {
  it('UDP: UNREPLIED 30 s; a reply clears [UNREPLIED] but ASSURED (120 s) needs traffic after 2 s', () => {
    const h = new Host();
    const q = udp('10.0.1.2', 5000, '10.0.2.2', 53);
    const e = h.pass(q).r.entry!;
    expect(h.ct.secondsLeft(e)).toBe(30);
    expect(e.status & IPS.SEEN_REPLY).toBe(0);
    h.clock.advance(100);
    expect(h.pass(invertTuple(q)!).r.ctstate).toBe('ESTABLISHED');
    expect(e.status & IPS.SEEN_REPLY).toBeTruthy();
    expect(e.status & IPS.ASSURED).toBe(0);
    expect(h.ct.secondsLeft(e)).toBe(30);
    h.clock.advance(1000); // still within 2 s of the first packet
    h.pass(q);
    expect(e.status & IPS.ASSURED).toBe(0);
    h.clock.advance(1500);
    h.pass(q);
    expect(e.status & IPS.ASSURED).toBeTruthy();
    expect(h.ct.secondsLeft(e)).toBe(120);
  });

  it('ICMP echo: tracked with the reply type, 30 s; a stray echo reply or unknown query type is INVALID', () => {
    const h = new Host();
    const ping = icmpTuple(4, '10.0.1.2', '10.0.2.2', 8, 0, 4660);
    const e = h.pass(ping).r.entry!;
    expect(e.reply).toEqual(icmpTuple(4, '10.0.2.2', '10.0.1.2', 0, 0, 4660));
    expect(h.pass(e.reply).r.ctinfo).toBe('ESTABLISHED_REPLY');
    expect(h.ct.secondsLeft(e)).toBe(30);
    expect(h.pass(icmpTuple(4, '10.0.1.9', '10.0.2.2', 0, 0, 1)).r.ctstate).toBe('INVALID');
    expect(h.pass(icmpTuple(4, '10.0.1.9', '10.0.2.2', 9, 0, 1)).r.ctstate).toBe('INVALID'); // router advert: no inverse
  });

  it('untracked packets (CT --notrack) get UNTRACKED and no entry', () => {
    const h = new Host();
    const r = h.pass(C, { tcpFlags: SYN, untracked: true }).r;
    expect(r).toMatchObject({ entry: null, ctinfo: 'UNTRACKED', ctstate: 'UNTRACKED' });
    expect(h.ct.entries()).toHaveLength(0);
  });
});

describe('timeouts on the virtual clock', () => {
  it('entries expire exactly at their timeout; lookup and expire() both drop them', () => {
    const h = new Host();
    const q = udp('10.0.1.2', 5000, '10.0.2.2', 53);
    const e = h.pass(q).r.entry!;
    h.clock.advance(29_999);
    expect(h.ct.expire()).toHaveLength(0);
    expect(h.ct.lookup(q)?.entry).toBe(e);
    h.clock.advance(1);
    expect(h.ct.lookup(q)).toBeNull();
    const e2 = h.pass(q).r.entry!;
    expect(e2).not.toBe(e);
    h.clock.advance(30_000);
    expect(h.ct.expire()).toEqual([e2]);
    expect(h.ct.entries()).toHaveLength(0);
  });

  it('timeouts can be overridden like the nf_conntrack_*_timeout sysctls', () => {
    const t = new ConntrackTable({ clock: new VirtualClock(), timeouts: { udp: { UNREPLIED: 5000, REPLIED: 180_000 } } });
    const r = t.packetIn(udp('1.1.1.1', 1, '2.2.2.2', 2));
    t.confirm(r.entry!);
    expect(t.secondsLeft(r.entry!)).toBe(5);
  });
});

describe('confirm (__nf_conntrack_confirm)', () => {
  it('a TCP entry whose tuple was confirmed meanwhile is not inserted and reports the winner', () => {
    const t = new ConntrackTable({ clock: new VirtualClock() });
    const a = t.packetIn(C, { tcpFlags: SYN }).entry!;
    const b = t.packetIn(C, { tcpFlags: SYN }).entry!; // both unconfirmed: same tuple, two CPUs
    expect(a).not.toBe(b);
    expect(t.confirm(a)).toMatchObject({ ok: true });
    const r = t.confirm(b);
    expect(r).toMatchObject({ ok: false, resolved: false });
    expect(r.ok ? null : r.clash).toBe(a);
    expect(t.entries()).toEqual([a]);
  });

  it('UDP clash with an identical winner is resolved onto the winner (nf_ct_resolve_clash)', () => {
    const t = new ConntrackTable({ clock: new VirtualClock() });
    const q = udp('10.0.1.2', 5000, '10.0.2.2', 53);
    const a = t.packetIn(q).entry!;
    const b = t.packetIn(q).entry!;
    t.confirm(a);
    const r = t.confirm(b);
    expect(r).toMatchObject({ ok: false, resolved: true });
    expect(r.entry).toBe(a);
  });
});
