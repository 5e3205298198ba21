/**
 * `podpath netfilter`: one packet through one host's netfilter path, every outcome of its random
 * branches (or one, seeded), as a Trace of one hop (INTERFACES.md §2/§3).
 *
 * The packet enters at PREROUTING on its input device, or at OUTPUT when its source is one of the
 * host's addresses; routing decides local (INPUT) or forward (FORWARD → POSTROUTING) as host.ts's
 * `simpleRoute` documents, unless a RouteFn is given.
 */
import { enumerateBranches, formatIp, parseIp, Rng, SeededChooser, VirtualClock, cidrContains, parseCidr, InputError, type Chooser } from '../base/index.js';
import { ConntrackTable } from '../conntrack/index.js';
import type { CompiledRuleset, IpsetLookup, NthCounters, RecentLookup } from '../netfilter/index.js';
import { DEFAULT_TTL, IPPROTO, TCP_FLAG, createSkb, formatFlow, hasPorts, protoName, type FlowHeaders } from '../packet/skb.js';
import { StepRecorder, type Disposition, type FiveTuple, type Hop, type Outcome, type PacketSnapshot, type Step, type Trace } from '../trace/index.js';
import type { CtTable } from './ct.js';
import { conntrackNeeded, isLocalAddress, simpleRoute, type HostAddress, type NetfilterHost, type NetfilterHostConfig, type NetfilterHostState, type RouteFn } from './host.js';
import { localOut, receive, type PassResult } from './pipeline.js';
import type { NetnsIpvs } from './ipvs-hook.js';

export type NetfilterProto = 'tcp' | 'udp' | 'icmp' | 'sctp';
export const NETFILTER_PROTOS: readonly NetfilterProto[] = ['tcp', 'udp', 'icmp', 'sctp'];

/** Source port (or ICMP echo id) when none is given: fixed so that the same request gives the same trace. */
export const DEFAULT_SPORT = 40000;

export interface NetfilterRequest {
  readonly src: string;
  readonly sport?: number;
  readonly dst: string;
  readonly dport?: number;
  readonly proto: NetfilterProto;
  readonly inIface?: string;
  readonly outIface?: string;
  /** TCP flags of the packet (default SYN: the first packet of a connection). */
  readonly tcpFlags?: number;
}

/** The per-netns stateful helpers netfilter matches need (xt_recent tables, statistic nth counters). */
export interface MatchState {
  readonly recent: RecentLookup;
  readonly nth: NthCounters;
}

export interface NetfilterSetup {
  readonly name?: string;
  readonly ruleset: CompiledRuleset;
  readonly ipsets: IpsetLookup;
  readonly addresses: readonly HostAddress[];
  /** Fresh xt_recent / nth state for one run (every `--all` branch starts from the same state). */
  readonly newMatchState: () => MatchState;
  readonly route?: RouteFn;
  /** The host's IPVS virtual services (kube-proxy IPVS mode). */
  readonly ipvs?: NetnsIpvs;
}

export interface NetfilterBranch {
  readonly probability: number;
  readonly result: PassResult;
  readonly steps: Step[];
  readonly packetIn: FlowHeaders;
  readonly inDev: string | null;
}

/** Builds the host (config + fresh state) that one run walks. */
export function makeHost(setup: NetfilterSetup, req: Pick<NetfilterRequest, 'outIface'>, seed: number): NetfilterHost {
  const family = setup.ruleset.ruleset.family;
  const config: NetfilterHostConfig = {
    name: setup.name ?? 'host',
    family,
    ruleset: setup.ruleset,
    addresses: setup.addresses,
    route: setup.route ?? simpleRoute(setup.addresses, { defaultDev: req.outIface ?? null }),
    ipsets: setup.ipsets,
    conntrack: conntrackNeeded(setup.ruleset),
    ...(setup.ipvs ? { ipvs: setup.ipvs } : {}),
  };
  const clock = new VirtualClock(0);
  const ct: CtTable = new ConntrackTable({ clock });
  const m = setup.newMatchState();
  const state: NetfilterHostState = { ct, recent: m.recent, nth: m.nth, clock, rng: new Rng(seed) };
  return { config, state };
}

/** The packet of the request, with defaults: SYN for TCP, echo request for ICMP, TTL 64. */
export function requestHeaders(req: NetfilterRequest): FlowHeaders {
  const family = parseIp(req.src).family;
  const h: FlowHeaders = { family, src: formatIp(parseIp(req.src)), dst: formatIp(parseIp(req.dst)), proto: 0, ttl: DEFAULT_TTL, length: 60 };
  switch (req.proto) {
    case 'tcp':
      return { ...h, proto: IPPROTO.TCP, sport: req.sport ?? DEFAULT_SPORT, dport: req.dport ?? 0, tcpFlags: req.tcpFlags ?? TCP_FLAG.SYN, length: 60 };
    case 'udp':
      return { ...h, proto: IPPROTO.UDP, sport: req.sport ?? DEFAULT_SPORT, dport: req.dport ?? 0, length: 32 };
    case 'sctp':
      return { ...h, proto: IPPROTO.SCTP, sport: req.sport ?? DEFAULT_SPORT, dport: req.dport ?? 0, length: 80 };
    case 'icmp':
      // echo request (type 8); the identifier travels in sport, as conntrack keys it
      return { ...h, proto: family === 4 ? IPPROTO.ICMP : IPPROTO.ICMPV6, icmpType: family === 4 ? 8 : 128, icmpCode: 0, sport: req.sport ?? DEFAULT_SPORT, length: 84 };
  }
}

/** The device a packet from `src` arrives on: --in-iface, else the device of the connected subnet holding src. */
export function inputDevice(addresses: readonly HostAddress[], src: string, given?: string): string | null {
  if (given) return given;
  const s = parseIp(src);
  let best: HostAddress | null = null;
  for (const a of addresses) {
    if (a.dev === null || parseIp(a.ip).family !== s.family) continue;
    if (cidrContains(parseCidr(`${a.ip}/${a.prefix}`), s) && (!best || a.prefix > best.prefix)) best = a;
  }
  return best?.dev ?? null;
}

/** One run of the request on a fresh host with the given chooser. */
export function runOnce(setup: NetfilterSetup, req: NetfilterRequest, chooser: Chooser, seed: number): NetfilterBranch {
  const host = makeHost(setup, req, seed);
  const hdr = requestHeaders(req);
  const rec = new StepRecorder();
  const local = isLocalAddress(setup.addresses, hdr.src);
  const inDev = local ? null : inputDevice(setup.addresses, hdr.src, req.inIface);
  const skb = createSkb<never>(hdr, { inDev });
  const result = local ? localOut({ host, chooser, rec }, skb as never) : receive({ host, chooser, rec }, skb as never);
  return { probability: 1, result, steps: rec.take(), packetIn: hdr, inDev };
}

/** Every outcome (`all`) with its exact probability, or the one a seeded chooser takes. */
export function runNetfilter(setup: NetfilterSetup, req: NetfilterRequest, opts: { all: boolean; seed: number; limit?: number }): NetfilterBranch[] {
  validateRequest(setup, req);
  if (!opts.all) return [runOnce(setup, req, new SeededChooser(new Rng(opts.seed)), opts.seed)];
  return enumerateBranches((chooser) => runOnce(setup, req, chooser, opts.seed), opts.limit !== undefined ? { limit: opts.limit } : {}).map((b) => ({
    ...b.result,
    probability: b.probability,
  }));
}

function validateRequest(setup: NetfilterSetup, req: NetfilterRequest): void {
  const problems: { field: string; message: string }[] = [];
  const fam = setup.ruleset.ruleset.family;
  for (const [field, ip] of [['--src', req.src], ['--dst', req.dst]] as const) {
    try {
      if (parseIp(ip).family !== fam) problems.push({ field, message: `${ip} is IPv${parseIp(ip).family} but the ruleset is IPv${fam}` });
    } catch (e) {
      problems.push({ field, message: (e as Error).message });
    }
  }
  if (req.proto !== 'icmp' && req.dport === undefined) problems.push({ field: '--dport', message: `--dport is required for ${req.proto}` });
  for (const [field, p] of [['--sport', req.sport], ['--dport', req.dport]] as const) {
    if (p !== undefined && (!Number.isInteger(p) || p < 0 || p > 65535)) problems.push({ field, message: `${p} is not a port (0-65535)` });
  }
  if (problems.length) throw new InputError(problems);
}

// ───────────────────────────── Trace record ─────────────────────────────

export function fiveTuple(h: FlowHeaders): FiveTuple {
  const t: FiveTuple = { src: h.src, dst: h.dst, proto: protoName(h.proto) };
  if (hasPorts(h.proto)) {
    t.sport = h.sport;
    t.dport = h.dport;
  }
  return t;
}

export function snapshot(h: FlowHeaders): PacketSnapshot {
  const ip: Record<string, string | number> = { layer: h.family === 4 ? 'ipv4' : 'ipv6', src: h.src, dst: h.dst, proto: h.proto, ttl: h.ttl, length: h.length };
  const l4: Record<string, string | number> = { layer: protoName(h.proto) };
  if (hasPorts(h.proto)) {
    l4.sport = h.sport ?? 0;
    l4.dport = h.dport ?? 0;
  }
  if (h.tcpFlags !== undefined) l4.flags = h.tcpFlags;
  if (h.icmpType !== undefined) {
    l4.type = h.icmpType;
    l4.code = h.icmpCode ?? 0;
    if (h.sport !== undefined) l4.id = h.sport;
  }
  return { summary: formatFlow(h), layers: [ip, l4] };
}

function disposition(r: PassResult): Disposition {
  switch (r.disposition) {
    case 'delivered':
      return 'delivered';
    case 'transmitted':
      // it leaves this host: beyond the one-node scope of `podpath netfilter`
      return 'exits-cluster';
    case 'dropped':
      return 'dropped';
    case 'rejected':
      return 'rejected';
    case 'no-route':
      return 'no-route';
    case 'ttl-exceeded':
      return 'ttl-exceeded';
    case 'mtu-exceeded':
      return 'mtu-exceeded';
  }
}

/** The Trace of INTERFACES.md §3 for `podpath netfilter` (one hop per outcome). */
export function netfilterTrace(setup: NetfilterSetup, req: NetfilterRequest, branches: readonly NetfilterBranch[]): Trace {
  const name = setup.name ?? 'host';
  const hdr = requestHeaders(req);
  const outcomes: Outcome[] = branches.map((b) => {
    const r = b.result;
    const ok = r.disposition === 'delivered' || r.disposition === 'transmitted';
    const final = ok ? fiveTuple(r.skb.hdr) : null;
    const hop: Hop = {
      node: name,
      netns: name,
      in: b.inDev,
      out: ok ? (r.disposition === 'delivered' ? null : r.skb.outDev) : null,
      steps: b.steps,
      packetIn: snapshot(b.packetIn),
      packetOut: ok ? snapshot(r.skb.hdr) : {},
    };
    return {
      probability: b.probability,
      disposition: disposition(r),
      reason: r.reason,
      endpoint: final ? { pod: null, ip: final.dst, ...(final.dport !== undefined ? { port: final.dport } : {}) } : null,
      received: r.disposition === 'delivered' ? final : null,
      masqueraded: r.masqueraded,
      hops: [hop],
      verdict: r.verdict,
      final,
    };
  });
  const port = (p: number | undefined) => (p !== undefined && hasPorts(hdr.proto) ? `:${p}` : '');
  return {
    request: { from: `${hdr.src}${port(hdr.sport)}`, to: `${hdr.dst}${port(hdr.dport)}`, proto: req.proto, node: name },
    outcomes,
  };
}
