import { describe, expect, it } from 'vitest';
import { formatIp, parseIp, VirtualClock } from '../base/index.js';
import { StepRecorder } from '../trace/index.js';
import { formatIpvsadmConns } from './conn.js';
import { Ipvs } from './core.js';
import { jhash3words } from '../base/index.js';
import { connHashKey, hsiphashU32, siphash } from './hash.js';
import { formatIpvsadmList, loadIpvsadmSave } from './ipvsadm.js';

const req = (sport: number, flags: { syn?: boolean; ack?: boolean; fin?: boolean }) => ({ protocol: 'tcp' as const, src: parseIp('10.244.1.7'), sport, dst: parseIp('10.96.0.10'), dport: 80, tcp: flags });

describe('IPVS connections', () => {
  it('NATs a TCP connection, counts it inactive in SYN_RECV and active once ESTABLISHED, and un-NATs replies', () => {
    const clock = new VirtualClock();
    const ipvs = new Ipvs({ clock }, loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.2.5:8080 -m -w 1\n'));
    const rec = new StepRecorder();
    const syn = ipvs.processIn(req(40000, { syn: true }), { rec });
    expect(syn.verdict).toBe('forward');
    expect(syn.action).toEqual({ kind: 'dnat', dst: parseIp('10.244.2.5'), dport: 8080 });
    const d = syn.conn!.dest!;
    expect([syn.conn!.state, d.activeConns, d.inactConns]).toEqual(['SYN_RECV', 0, 1]);
    expect(rec.steps[0]).toMatchObject({ kind: 'ipvs', service: 'TCP 10.96.0.10:80', realServer: '10.244.2.5:8080' });
    const out = ipvs.processOut({ protocol: 'tcp', src: parseIp('10.244.2.5'), sport: 8080, dst: parseIp('10.244.1.7'), dport: 40000, tcp: { syn: true, ack: true } });
    expect(out.snat).toEqual({ src: parseIp('10.96.0.10'), sport: 80 });
    ipvs.processIn(req(40000, { ack: true }));
    expect([syn.conn!.state, d.activeConns, d.inactConns]).toEqual(['ESTABLISHED', 1, 0]);
    clock.advance(60_000);
    expect(formatIpvsadmConns(ipvs.conns, clock.now())).toBe(
      'IPVS connection entries\npro expire state       source             virtual            destination\nTCP 14:00  ESTABLISHED 10.244.1.7:40000   10.96.0.10:80      10.244.2.5:8080\n',
    );
    // 15 minutes after the last packet the entry expires and the counters drop.
    clock.advance(14 * 60_000);
    expect(ipvs.conns.size).toBe(0);
    expect(ipvs.conns.entries()).toEqual([]);
    expect(d.activeConns).toBe(0);
  });

  it('does not schedule a TCP packet that is not a SYN; counts UDP flows inactive with a 5-minute timeout', () => {
    const clock = new VirtualClock();
    const ipvs = new Ipvs({ clock }, loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.2.5:8080 -m\n-A -u 10.96.0.10:53 -s rr\n-a -u 10.96.0.10:53 -r 10.244.2.6:53 -m\n'));
    expect(ipvs.processIn(req(1, { ack: true })).verdict).toBe('pass');
    const u = ipvs.processIn({ protocol: 'udp', src: parseIp('10.244.1.7'), sport: 5353, dst: parseIp('10.96.0.10'), dport: 53 });
    expect([u.conn!.state, u.conn!.dest!.inactConns, u.conn!.expires]).toEqual(['UDP', 1, 300_000]);
    expect(formatIpvsadmList(ipvs.services)).toContain('  -> 10.244.2.6:53                Masq    1      0          1         ');
  });

  it('rejects (ICMP port unreachable) when the service has no available real server', () => {
    const ipvs = new Ipvs({ clock: new VirtualClock() }, loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr\n'));
    const r = ipvs.processIn(req(2, { syn: true }));
    expect(r.verdict).toBe('reject');
    expect(r.why).toMatch(/ICMP port unreachable/);
  });

  it('sets the overload flag at the upper threshold and clears it below 3/4 of it when connections end', () => {
    const clock = new VirtualClock();
    const ipvs = new Ipvs({ clock }, loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.2.5:8080 -m -x 2\n'));
    ipvs.processIn(req(10, { syn: true }));
    ipvs.processIn(req(11, { syn: true }));
    const d = ipvs.services.services()[0]!.dests[0]!;
    expect(d.overloaded).toBe(true);
    expect(ipvs.processIn(req(12, { syn: true })).verdict).toBe('reject');
    clock.advance(61_000); // SYN_RECV times out after 60 s: 0*4 < 2*3 clears the flag
    ipvs.conns.expire();
    expect(d.overloaded).toBe(false);
  });

  it('DR and tunnel conns keep the destination and run the INPUT_ONLY state table', () => {
    const ipvs = new Ipvs({ clock: new VirtualClock() }, loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 192.168.56.21:80 -g\n-A -t 10.96.0.11:80 -s rr\n-a -t 10.96.0.11:80 -r 192.168.56.22:80 -i\n'));
    const dr = ipvs.processIn(req(3, { syn: true }));
    expect(dr.action).toEqual({ kind: 'direct-route', nextHop: parseIp('192.168.56.21') });
    // INPUT_ONLY: a FIN from the client in ESTABLISHED goes to FIN_WAIT (input table would say CLOSE_WAIT)
    ipvs.processIn(req(3, { ack: true }));
    ipvs.processIn(req(3, { fin: true, ack: true }));
    expect(dr.conn!.state).toBe('FIN_WAIT');
    const tun = ipvs.processIn({ ...req(4, { syn: true }), dst: parseIp('10.96.0.11') });
    expect(tun.action).toEqual({ kind: 'ipip', outerDst: parseIp('192.168.56.22') });
  });

  it('persistence with a netmask: one template per client network, shown in -Lnc', () => {
    const clock = new VirtualClock();
    const ipvs = new Ipvs({ clock }, loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr -p 60 -M 255.255.255.0\n-a -t 10.96.0.10:80 -r 10.244.2.5:8080 -m\n-a -t 10.96.0.10:80 -r 10.244.2.6:8080 -m\n'));
    const a = ipvs.processIn({ ...req(5, { syn: true }), src: parseIp('10.1.1.1') });
    const b = ipvs.processIn({ ...req(6, { syn: true }), src: parseIp('10.1.1.200') });
    const c = ipvs.processIn({ ...req(7, { syn: true }), src: parseIp('10.1.2.1') });
    expect(formatIp(b.conn!.daddr)).toBe(formatIp(a.conn!.daddr));
    expect(formatIp(c.conn!.daddr)).not.toBe(formatIp(a.conn!.daddr)); // rr moved on for the new network
    expect(a.template!.caddr).toEqual(parseIp('10.1.1.0'));
    const text = formatIpvsadmConns(ipvs.conns, clock.now());
    expect(text).toContain(`TCP 01:00  NONE        10.1.1.0:0         10.96.0.10:80      ${formatIp(a.conn!.daddr)}:8080`);
  });
});

describe('kernel hashes', () => {
  it('SipHash-2-4 matches the reference vector; hsiphash is SipHash-1-3 truncated', () => {
    // Aumasson & Bernstein, SipHash paper appendix A: key 00..0f, message 00..0e → a129ca6149be45e5.
    const key0 = 0x0706050403020100n;
    const key1 = 0x0f0e0d0c0b0a0908n;
    const msg = Uint8Array.from({ length: 15 }, (_, i) => i);
    expect(siphash(msg, key0, key1, 2, 4)).toBe(0xa129ca6149be45e5n);
    expect(hsiphashU32(0x01020304, [1n, 2n])).toBe(Number(siphash(Uint8Array.of(4, 3, 2, 1), 1n, 2n, 1, 3) & 0xffffffffn));
  });
  it('jhash_3words and the connection bucket stay inside the 4096-entry table', () => {
    // jhash_3words(0,0,0,0): a=b=c=0xdeadbeef+12, then __jhash_final.
    expect(jhash3words(0, 0, 0, 0)).toBe(jhash3words(0, 0, 0, 0));
    expect(jhash3words(1, 2, 3, 4)).not.toBe(jhash3words(1, 2, 3, 5));
    const b = connHashKey(6, parseIp('10.244.1.7'), 40000);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(b).toBeLessThan(4096);
  });
});
