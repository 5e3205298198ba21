/**
 * The hook pipeline on its own: netfilter's walkTable is replaced by scripted table results so
 * these tests pin the pipeline's part (hook order, conntrack, when the nat table is consulted,
 * header rewrites in both directions, REJECT replies); the real conntrack table is used.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Rng, SeededChooser, VirtualClock } from '../base/index.js';
import { ConntrackTable } from '../conntrack/index.js';
import type { CompiledRuleset, HookName, NfPacket, Rule, Ruleset, Table, TableName, TableResult } from '../netfilter/index.js';
import { createSkb, IPPROTO, TCP_FLAG, type FlowHeaders } from '../packet/skb.js';
import { StepRecorder, type Step } from '../trace/index.js';
import { HOOK_ORDER } from './hooks.js';
import { simpleRoute, type HostAddress, type NetfilterHost } from './host.js';
import { localOut, receive } from './pipeline.js';

type Script = (table: TableName, hook: HookName, pkt: NfPacket) => Partial<TableResult> | undefined;
const calls: string[] = [];
let script: Script = () => undefined;

vi.mock('../netfilter/index.js', async (orig) => {
  const real = await orig<typeof import('../netfilter/index.js')>();
  return {
    ...real,
    walkTable: (_rs: unknown, table: TableName, hook: HookName, pkt: NfPacket): TableResult => {
      calls.push(`${table}:${hook}`);
      return { verdict: 'ACCEPT', evaluated: 0, linearEvaluated: 0, ...(script(table, hook, pkt) ?? {}) };
    },
  };
});

const ADDRS: HostAddress[] = [
  { ip: '10.0.1.1', prefix: 24, dev: 'eth-c' },
  { ip: '10.0.2.1', prefix: 24, dev: 'eth-s' },
];

function rule(table: TableName, chain: string, text: string): Rule {
  return { table, chain, line: 1, text, matches: [], target: { kind: 'none' } };
}

/** A ruleset with every built-in chain of the given tables (the walk itself is scripted). */
function ruleset(tables: TableName[]): CompiledRuleset {
  const builtins: Record<TableName, HookName[]> = {
    raw: ['PREROUTING', 'OUTPUT'],
    mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
    nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
    filter: ['INPUT', 'FORWARD', 'OUTPUT'],
    security: ['INPUT', 'FORWARD', 'OUTPUT'],
  };
  const rs: Ruleset = { family: 4, tables: new Map() };
  for (const t of tables) {
    const table: Table = { name: t, chains: new Map(), order: [] };
    for (const c of builtins[t]) {
      table.chains.set(c, { name: c, builtin: true, policy: 'ACCEPT', rules: [] });
      table.order.push(c);
    }
    rs.tables.set(t, table);
  }
  return { ruleset: rs, indexed: false };
}

function host(tables: TableName[], conntrack = true): NetfilterHost {
  const clock = new VirtualClock(0);
  return {
    config: {
      name: 'h',
      family: 4,
      ruleset: ruleset(tables),
      addresses: ADDRS,
      route: simpleRoute(ADDRS, { defaultDev: 'eth-s' }),
      ipsets: { has: () => false, test: () => false },
      conntrack,
    },
    state: {
      ct: new ConntrackTable({ clock }),
      recent: { check: () => false },
      nth: { next: () => 0 },
      clock,
      rng: new Rng(1),
    },
  };
}

function tcp(src: string, sport: number, dst: string, dport: number, flags: number): FlowHeaders {
  return { family: 4, src, sport, dst, dport, proto: IPPROTO.TCP, tcpFlags: flags, ttl: 64, length: 60 };
}

function run(h: NetfilterHost, hdr: FlowHeaders, inDev: string | null) {
  const rec = new StepRecorder();
  const skb = createSkb<never>(hdr, { inDev });
  const ctx = { host: h, chooser: new SeededChooser(new Rng(1)), rec };
  const result = inDev === null ? localOut(ctx, skb as never) : receive(ctx, skb as never);
  return { result, steps: rec.take() };
}

const flat = (s: readonly Step[]): Step[] => s.flatMap((x) => [x, ...flat(x.children ?? [])]);

const DNAT_TO_EP: Script = (table, hook, pkt) =>
  table === 'nat' && hook === 'PREROUTING' && pkt.dst === '10.96.0.10'
    ? { nat: { type: 'DNAT', ranges: [{ minIp: '10.0.2.2', maxIp: '10.0.2.2', minPort: 8080, maxPort: 8080 }], flags: { random: false, randomFully: false, persistent: false }, rule: rule('nat', 'PREROUTING', '-A PREROUTING -d 10.96.0.10/32 -j DNAT --to-destination 10.0.2.2:8080') } }
    : undefined;

describe('hook order (nf_hook_slow over the priority-sorted entries)', () => {
  beforeEach(() => {
    calls.length = 0;
    script = () => undefined;
  });

  it('orders each hook by the NF_IP_PRI_* priorities', () => {
    expect(HOOK_ORDER.PREROUTING).toEqual(['raw', 'conntrack-in', 'mangle', 'nat-dst']);
    expect(HOOK_ORDER.INPUT).toEqual(['mangle', 'filter', 'security', 'nat-src', 'conntrack-confirm']);
    expect(HOOK_ORDER.OUTPUT).toEqual(['raw', 'conntrack-in', 'mangle', 'nat-dst', 'filter', 'security']);
    expect(HOOK_ORDER.POSTROUTING).toEqual(['mangle', 'nat-src', 'conntrack-confirm']);
  });

  it('a forwarded NEW packet walks raw, mangle, nat, filter, security in that order per hook', () => {
    const h = host(['raw', 'mangle', 'nat', 'filter', 'security']);
    const { result } = run(h, tcp('10.0.1.2', 40000, '10.0.2.2', 8080, TCP_FLAG.SYN), 'eth-c');
    expect(result.hooks).toEqual(['PREROUTING', 'FORWARD', 'POSTROUTING']);
    expect(calls).toEqual([
      'raw:PREROUTING', 'mangle:PREROUTING', 'nat:PREROUTING',
      'mangle:FORWARD', 'filter:FORWARD', 'security:FORWARD',
      'mangle:POSTROUTING', 'nat:POSTROUTING',
    ]);
    expect(result).toMatchObject({ disposition: 'transmitted', verdict: 'ACCEPT' });
    expect(result.skb.hdr.ttl).toBe(63); // ip_forward decremented it
  });

  it('a local destination goes PREROUTING → INPUT; a local source starts at OUTPUT and loops back through lo', () => {
    const h = host(['nat', 'filter']);
    expect(run(h, tcp('10.0.1.2', 40000, '10.0.2.1', 9090, TCP_FLAG.SYN), 'eth-c').result.hooks).toEqual(['PREROUTING', 'INPUT']);
    calls.length = 0;
    const lo = run(h, tcp('10.0.1.1', 40001, '10.0.2.1', 9090, TCP_FLAG.SYN), null);
    expect(lo.result.hooks).toEqual(['OUTPUT', 'POSTROUTING', 'PREROUTING', 'INPUT']);
    expect(lo.result.disposition).toBe('delivered');
    // nat runs at OUTPUT and POSTROUTING only: the looped-back packet's manips are already set up
    expect(calls).toEqual(['nat:OUTPUT', 'filter:OUTPUT', 'nat:POSTROUTING', 'filter:INPUT']);
  });

  it('stops at the first DROP and names the hook and rule', () => {
    const h = host(['filter']);
    const r = rule('filter', 'FORWARD', '-A FORWARD -j DROP');
    script = (t, hook) => (t === 'filter' && hook === 'FORWARD' ? { verdict: 'DROP', rule: r } : undefined);
    const { result } = run(h, tcp('10.0.1.2', 40000, '10.0.2.2', 8080, TCP_FLAG.SYN), 'eth-c');
    expect(result).toMatchObject({ disposition: 'dropped', verdict: 'DROP', hook: 'FORWARD', table: 'filter' });
    expect(result.rule).toBe(r);
    expect(result.hooks).toEqual(['PREROUTING', 'FORWARD']);
  });
});

describe('NAT through conntrack (nf_nat_inet_fn, nf_nat_packet)', () => {
  beforeEach(() => {
    calls.length = 0;
    script = DNAT_TO_EP;
  });

  it('DNATs the first packet, skips the nat table for ESTABLISHED ones, and un-DNATs replies', () => {
    const h = host(['nat', 'filter']);
    const syn = run(h, tcp('10.0.1.2', 40000, '10.96.0.10', 80, TCP_FLAG.SYN), 'eth-c');
    expect(syn.result.skb.hdr).toMatchObject({ dst: '10.0.2.2', dport: 8080, src: '10.0.1.2', sport: 40000 });
    expect(syn.result.skb.outDev).toBe('eth-s'); // routed after DNAT
    expect(calls.filter((c) => c.startsWith('nat:'))).toEqual(['nat:PREROUTING', 'nat:POSTROUTING']);
    const nat = flat(syn.steps).filter((s) => s.kind === 'nat');
    expect(nat).toMatchObject([{ nat: 'DNAT', before: { ip: '10.96.0.10', port: 80 }, after: { ip: '10.0.2.2', port: 8080 } }]);

    calls.length = 0;
    const synack = run(h, tcp('10.0.2.2', 8080, '10.0.1.2', 40000, TCP_FLAG.SYN | TCP_FLAG.ACK), 'eth-s');
    expect(synack.result.skb.hdr).toMatchObject({ src: '10.96.0.10', sport: 80, dst: '10.0.1.2', dport: 40000 });
    expect(calls.filter((c) => c.startsWith('nat:'))).toEqual([]);
    expect(flat(synack.steps).filter((s) => s.kind === 'nat')).toMatchObject([{ nat: 'un-DNAT' }]);

    const ack = run(h, tcp('10.0.1.2', 40000, '10.96.0.10', 80, TCP_FLAG.ACK), 'eth-c');
    expect(ack.result.skb.hdr).toMatchObject({ dst: '10.0.2.2', dport: 8080 });
    expect(calls.filter((c) => c.startsWith('nat:'))).toEqual([]);
  });

  it('MASQUERADE takes the address of the output device (inet_select_addr) and marks the outcome masqueraded', () => {
    const h = host(['nat']);
    script = (t, hook) =>
      t === 'nat' && hook === 'POSTROUTING'
        ? { nat: { type: 'MASQUERADE', ranges: [], flags: { random: false, randomFully: false, persistent: false }, rule: rule('nat', 'POSTROUTING', '-A POSTROUTING -j MASQUERADE') } }
        : undefined;
    const { result } = run(h, tcp('10.0.1.2', 40000, '10.0.2.2', 8080, TCP_FLAG.SYN), 'eth-c');
    expect(result.skb.hdr).toMatchObject({ src: '10.0.2.1', sport: 40000 });
    expect(result.masqueraded).toBe(true);
  });

  it('without conntrack loaded the nat table is never consulted', () => {
    const h = host(['filter'], false);
    run(h, tcp('10.0.1.2', 40000, '10.96.0.10', 80, TCP_FLAG.SYN), 'eth-c');
    expect(calls.some((c) => c.startsWith('nat:'))).toBe(false);
  });
});

describe('REJECT replies (nf_send_reset, nf_send_unreach → icmp_send)', () => {
  beforeEach(() => {
    calls.length = 0;
  });

  it('tcp-reset answers a SYN with RST,ACK from the rejected destination', () => {
    const h = host(['filter']);
    const r = rule('filter', 'FORWARD', '-A FORWARD -j REJECT --reject-with tcp-reset');
    script = (t, hook) => (t === 'filter' && hook === 'FORWARD' ? { verdict: 'REJECT', rule: r, reject: { with: 'tcp-reset', rule: r } } : undefined);
    const { result } = run(h, tcp('10.0.1.2', 40000, '10.0.2.2', 8082, TCP_FLAG.SYN), 'eth-c');
    expect(result.verdict).toBe('REJECT');
    expect(result.reject?.packet).toMatchObject({ src: '10.0.2.2', sport: 8082, dst: '10.0.1.2', dport: 40000, tcpFlags: TCP_FLAG.RST | TCP_FLAG.ACK });
  });

  it('an ICMP error for a forwarded packet comes from the address towards the sender; on INPUT from the address it was sent to', () => {
    const h = host(['filter']);
    const r = rule('filter', 'X', '-A X -j REJECT');
    script = (t) => (t === 'filter' ? { verdict: 'REJECT', rule: r, reject: { with: 'icmp-port-unreachable', icmp: { type: 3, code: 3 }, rule: r } } : undefined);
    const fwd = run(h, tcp('10.0.1.2', 40000, '10.0.2.2', 8081, TCP_FLAG.SYN), 'eth-c').result;
    expect(fwd.reject?.packet).toMatchObject({ src: '10.0.1.1', dst: '10.0.1.2', proto: IPPROTO.ICMP, icmpType: 3, icmpCode: 3 });
    expect(fwd.reject?.quoted).toMatchObject({ src: '10.0.1.2', dst: '10.0.2.2', dport: 8081 });
    const inp = run(h, tcp('10.0.1.2', 40000, '10.0.2.1', 9090, TCP_FLAG.SYN), 'eth-c').result;
    expect(inp.hook).toBe('INPUT');
    expect(inp.reject?.packet).toMatchObject({ src: '10.0.2.1', dst: '10.0.1.2' });
  });
});
