/**
 * Looped-back packets keep their output route (loopback_xmit leaves skb_dst on the skb;
 * ip_rcv_finish_core routes only when !skb_valid_dst; nf_nat_ipv4_pre_routing drops the dst only
 * when PREROUTING NAT changed the destination). So a node's connection to 127.0.0.1 or to its own
 * address crosses PREROUTING and INPUT on lo without a second, input-side route lookup — which on
 * iif lo would refuse the local source. Real kernel: `connect(127.0.0.1:3001)` is counted by
 * `-A INPUT -i lo -d 127.0.0.1/32 -p tcp --dport 3001 -j REJECT` and fails with ECONNREFUSED.
 */
import { describe, expect, it } from 'vitest';
import { Rng, SeededChooser, VirtualClock, parseCidr, parseIp } from '../base/index.js';
import { ConntrackTable } from '../conntrack/index.js';
import { compileRuleset, IpsetStore, NthState, parseIptablesSave, RecentStore } from '../netfilter/index.js';
import { createSkb, IPPROTO, TCP_FLAG, type FlowHeaders } from '../packet/skb.js';
import { Rib } from '../routing/index.js';
import { StepRecorder } from '../trace/index.js';
import type { NetfilterHost, RouteQuery } from './host.js';
import { localOut, type NetnsSkb } from './pipeline.js';
import { ribAddresses, ribRoute } from './rib-route.js';

const RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -d 127.0.0.1/32 -i lo -p tcp -m tcp --dport 3001 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -d 192.168.0.2/32 -p tcp -m tcp --dport 3002 -j DNAT --to-destination 127.0.0.1:3001
COMMIT
`;

function node(): { host: NetfilterHost; queries: RouteQuery[] } {
  const rib = new Rib(['eth0']);
  rib.addAddress('lo', '127.0.0.1/8');
  rib.addAddress('eth0', '192.168.0.2/24');
  rib.addRoute({ dst: parseCidr('0.0.0.0/0'), nexthops: [{ gateway: parseIp('192.168.0.1'), dev: 'eth0' }] }, { validate: true });
  const route = ribRoute(rib, { rpFilter: () => 2 });
  const queries: RouteQuery[] = [];
  const clock = new VirtualClock(0);
  const host: NetfilterHost = {
    config: {
      name: 'n',
      family: 4,
      ruleset: compileRuleset(parseIptablesSave(RULES, { file: 'test' })),
      addresses: ribAddresses(rib),
      route: (q) => {
        queries.push(q);
        return route(q);
      },
      ipsets: new IpsetStore(),
      conntrack: true,
    },
    state: { ct: new ConntrackTable({ clock }), recent: new RecentStore(), nth: new NthState(), clock, rng: new Rng(1) },
  };
  return { host, queries };
}

function syn(src: string, dst: string, dport: number): FlowHeaders {
  return { family: 4, src, dst, proto: IPPROTO.TCP, sport: 40000, dport, tcpFlags: TCP_FLAG.SYN, ttl: 64, length: 60 };
}

function send(h: FlowHeaders) {
  const n = node();
  const rec = new StepRecorder();
  const r = localOut({ host: n.host, chooser: new SeededChooser(new Rng(1)), rec }, createSkb<never>(h) as NetnsSkb);
  return { r, queries: n.queries };
}

describe('looped-back packets keep their output route', () => {
  it('127.0.0.1 → 127.0.0.1 reaches filter INPUT on lo (and its REJECT), with no input lookup', () => {
    const { r, queries } = send(syn('127.0.0.1', '127.0.0.1', 3001));
    expect(r.disposition).toBe('rejected');
    expect(r.hook).toBe('INPUT');
    expect(r.hooks).toEqual(['OUTPUT', 'POSTROUTING', 'PREROUTING', 'INPUT']);
    expect(queries.every((q) => q.inDev === null)).toBe(true);
  });

  it('node IP → node IP is delivered locally through INPUT on lo', () => {
    const { r, queries } = send(syn('192.168.0.2', '192.168.0.2', 8080));
    expect(r.disposition).toBe('delivered');
    expect(r.skb.inDev).toBe('lo');
    expect(r.hooks).toEqual(['OUTPUT', 'POSTROUTING', 'PREROUTING', 'INPUT']);
    expect(queries.filter((q) => q.inDev !== null)).toEqual([]);
  });

  it('OUTPUT DNAT to 127.0.0.1 re-routes once (ip_route_me_harder), then INPUT on lo', () => {
    const { r, queries } = send(syn('192.168.0.2', '192.168.0.2', 3002));
    expect(r.disposition).toBe('rejected');
    expect(r.skb.hdr.dst).toBe('127.0.0.1');
    expect(queries.map((q) => q.dst)).toEqual(['192.168.0.2', '127.0.0.1']);
  });
});
