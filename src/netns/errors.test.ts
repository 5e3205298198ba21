/**
 * What a host sends about a packet it refuses, as generated (before its own hooks rewrite it):
 * ip_forward → icmp_send(ICMP_TIME_EXCEEDED, ICMP_EXC_TTL) when the TTL would reach 0, and
 * icmp_send(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu) when DF is set and the packet exceeds the
 * route's MTU; __icmp_send's source is the address the route back to the sender picks; the
 * refused packet's conntrack entry is attached turned round (nf_conntrack_attach: RELATED_REPLY).
 */
import { describe, expect, it } from 'vitest';
import { Rng, SeededChooser, VirtualClock, parseCidr, parseIp } from '../base/index.js';
import { ConntrackTable } from '../conntrack/index.js';
import { compileRuleset, IpsetStore, NthState, parseIptablesSave, RecentStore } from '../netfilter/index.js';
import { createSkb, IPPROTO, TCP_FLAG, type FlowHeaders } from '../packet/skb.js';
import { Rib } from '../routing/index.js';
import { StepRecorder } from '../trace/index.js';
import type { NetfilterHost } from './host.js';
import { checksumReplace } from './icmp-frame.js';
import { receive, type NetnsSkb } from './pipeline.js';
import { ribAddresses, ribRoute } from './rib-route.js';

function router(): NetfilterHost {
  const rib = new Rib(['eth0', 'eth1']);
  rib.forwarding[4] = true;
  rib.addAddress('lo', '127.0.0.1/8');
  rib.addAddress('eth0', '192.168.1.1/24');
  rib.addAddress('eth1', '10.1.0.1/24');
  const clock = new VirtualClock(0);
  const rules = '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n';
  return {
    config: { name: 'r', family: 4, ruleset: compileRuleset(parseIptablesSave(rules, { file: 't' })), addresses: ribAddresses(rib), route: ribRoute(rib), ipsets: new IpsetStore(), conntrack: true, mtu: (d) => (d === 'eth1' ? 1000 : 1500) },
    state: { ct: new ConntrackTable({ clock }), recent: new RecentStore(), nth: new NthState(), clock, rng: new Rng(1) },
  };
}

function pass(h: FlowHeaders) {
  const skb = createSkb<never>(h, { inDev: 'eth0' }) as NetnsSkb;
  return receive({ host: router(), chooser: new SeededChooser(new Rng(1)), rec: new StepRecorder() }, skb);
}

const SYN: FlowHeaders = { family: 4, src: '192.168.1.2', dst: '10.1.0.2', proto: IPPROTO.TCP, sport: 40000, dport: 80, tcpFlags: TCP_FLAG.SYN, ttl: 64, length: 60 };

describe('errors a forwarding host sends', () => {
  it('TTL 1: ICMP time exceeded from the address towards the sender, conntrack attached RELATED_REPLY', () => {
    const r = pass({ ...SYN, ttl: 1 });
    expect(r.disposition).toBe('ttl-exceeded');
    expect(r.error?.packet).toMatchObject({ src: '192.168.1.1', dst: '192.168.1.2', proto: IPPROTO.ICMP, icmpType: 11, icmpCode: 0 });
    expect(r.error?.ct).toMatchObject({ dir: 'REPLY', ctinfo: 'RELATED_REPLY', ctstate: 'RELATED' });
    expect(r.error?.about).toMatchObject({ dst: '10.1.0.2', ttl: 1 });
  });

  it('DF over the MTU: ICMP fragmentation needed with the next-hop MTU; the quote keeps the TTL (checked before ip_decrease_ttl)', () => {
    const r = pass({ ...SYN, length: 1400 });
    expect(r.disposition).toBe('mtu-exceeded');
    expect(r.error).toMatchObject({ kind: 'icmp', mtu: 1000, packet: { icmpType: 3, icmpCode: 4, length: 576 } });
    expect(r.error?.about.ttl).toBe(64);
  });

  it('no error is sent about an ICMP error', () => {
    const r = pass({ family: 4, src: '192.168.1.2', dst: '10.1.0.2', proto: IPPROTO.ICMP, icmpType: 3, icmpCode: 3, ttl: 1, length: 56 });
    expect(r.disposition).toBe('ttl-exceeded');
    expect(r.error).toBeNull();
  });
});

describe('checksumReplace (RFC 1624 eqn. 3)', () => {
  it('gives the checksum a full recomputation gives', () => {
    // one's complement sum over words, then changed words
    const sum = (ws: number[]) => {
      let s = 0;
      for (const w of ws) s += w;
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      return ~s & 0xffff;
    };
    const before = [0xc0a8, 0x0102, 0x0a01, 0x0002, 40000, 8080, 0x1234];
    const after = [0xc0a8, 0x0102, 0xc0a8, 0x0101, 40000, 80, 0x1234];
    expect(checksumReplace(sum(before), [0x0a01, 0x0002, 8080], [0xc0a8, 0x0101, 80])).toBe(sum(after));
  });
});
