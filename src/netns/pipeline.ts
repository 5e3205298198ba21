/**
 * The netfilter path of one IPv4 network namespace: receive (ip_rcv → PREROUTING → routing →
 * ip_local_deliver/INPUT or ip_forward/FORWARD → ip_output/POSTROUTING) and local output
 * (ip_local_out → OUTPUT → POSTROUTING, looping back through PREROUTING/INPUT when local).
 *
 * At each hook the registered functions run in priority order (hooks.ts) as nf_hook_slow runs them:
 * the iptables tables through netfilter's walkTable, conntrack through the CtTable calls, NAT as
 * nf_nat_inet_fn does it (the nat table only for NEW connections, the null binding when no rule
 * bound one, then nf_nat_packet rewriting the headers from the conntrack entry).
 * Every decision is reported through the TraceRecorder by the code here that makes it.
 */
import { assertNever, type Chooser } from '../base/index.js';
import type { ConntrackEntryView, CtResult, Manip, NatRange as CtNatRange } from '../conntrack/types.js';
import { walkTable, type NatRequest, type NfConntrack, type NfEnv, type NfPacket, type RejectRequest, type Rule, type TableName } from '../netfilter/index.js';
import { ICMP_TIME_EXCEEDED, ICMP_TYPE, ICMP_UNREACH, isIcmpErrorType } from '../packet/icmp.js';
import type { Packet } from '../packet/packet.js';
import { IPPROTO, TCP_FLAG, DEFAULT_TTL, cloneHeaders, formatFlow, hasPorts, type FlowHeaders, type Skb } from '../packet/skb.js';
import type { HookName, NatStep, TraceRecorder } from '../trace/index.js';
import { applyTuple, formatCtTuple, hasStatus, nfConntrackOf, tcpFlagsInfo, tupleOfHeaders } from './ct.js';
import { fragmentCount } from './fragment.js';
import { HOOK_ORDER, HOOK_ORDER_IPVS, hookManip, tableOf, type HookFn } from './hooks.js';
import { ipvsHook, type IpvsHookResult } from './ipvs-hook.js'; // IPVS (issue 6)
import { addrTypeOf, primaryAddress, selectAddress, type NetfilterHost, type RouteResult } from './host.js';

/** The skb of a namespace; an ICMP error also carries the header it quotes (what icmp_error_message and nf_nat_icmp_reply_translation read). */
export type NetnsSkb = Skb<CtResult> & {
  quoted?: FlowHeaders;
  /**
   * A datagram that arrived as fragments: the largest fragment's IP length (IPCB(skb)->frag_max_size,
   * set by ip_defrag / nf_defrag_ipv4); ip_do_fragment cuts it again to at most that size.
   */
  fragMax?: number;
  /** How many fragments it arrived as (skb_shinfo(skb)->frag_list after reassembly). */
  fragCount?: number;
  /** The frames this skb stands for on the wire: its fragments, or the VXLAN packets that carried its fragments. */
  frames?: readonly Packet[];
  /** skb->ipvs_property: IPVS already handled this packet (its hooks leave it alone). */
  ipvsProperty?: boolean;
};

/**
 * An ICMP error or a TCP reset a host sends about a packet it refuses (icmp_send, nf_send_reset,
 * tcp_v4_send_reset), as generated — before its own OUTPUT/POSTROUTING hooks, where conntrack
 * rewrites it like a reply of the connection.
 */
export interface SentError {
  readonly kind: 'icmp' | 'tcp-reset';
  readonly packet: FlowHeaders;
  /** The refused packet as the host had it when it gave up (ICMP quotes it). */
  readonly about: FlowHeaders;
  /** nf_ct_attach: the refused packet's conntrack, turned round (RELATED_REPLY for an original-direction packet); null when none is attached. */
  readonly ct: CtResult | null;
  /** ICMP fragmentation needed: the next-hop MTU. */
  readonly mtu?: number;
  /** e.g. "ICMP fragmentation needed (mtu 1450)". */
  readonly text: string;
}

export interface PipelineCtx {
  readonly host: NetfilterHost;
  readonly chooser: Chooser;
  readonly rec: TraceRecorder;
}

/** The packet a REJECT sends back (nf_send_unreach / nf_send_reset), as it leaves the host. */
export interface RejectReply {
  readonly with: RejectRequest['with'];
  readonly packet: FlowHeaders;
  /** ICMP errors: the header quoted inside (the rejected packet as the sender sent it). */
  readonly quoted?: FlowHeaders;
}

/** How one pass of a packet through the namespace ended. */
export type PassDisposition = 'delivered' | 'transmitted' | 'dropped' | 'rejected' | 'no-route' | 'ttl-exceeded' | 'mtu-exceeded';

export interface PassResult {
  readonly disposition: PassDisposition;
  readonly verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** Where a failure happened and what caused it (rule text, route, reason). */
  readonly hook: HookName | null;
  readonly table: TableName | null;
  readonly rule: Rule | null;
  readonly reason: string | null;
  /** The packet as delivered locally or as it leaves POSTROUTING (or as it was when dropped). */
  readonly skb: NetnsSkb;
  /** Hooks traversed, in order. */
  readonly hooks: readonly HookName[];
  readonly route: RouteResult | null;
  readonly reject: RejectReply | null;
  /** A source NAT (SNAT or MASQUERADE) rewrote the source of this packet. */
  readonly masqueraded: boolean;
  readonly nat: readonly NatStep[];
  /** The packet was bridged (br_netfilter ran the IP hooks), not routed: it leaves by a bridge port. */
  readonly bridged: boolean;
  /** `mtu-exceeded`, or fragmented: the device whose MTU the packet exceeded. */
  readonly mtu: { readonly dev: string; readonly mtu: number; readonly fragments: number } | null;
  /** What the host sends back about a refused packet (ICMP error or TCP reset), or null. */
  readonly error: SentError | null;
}

/** Mutable bookkeeping of one pass. */
interface Pass {
  hooks: HookName[];
  route: RouteResult | null;
  nat: NatStep[];
  masqueraded: boolean;
  bridged: boolean;
  mtu: { dev: string; mtu: number; fragments: number } | null;
  error: SentError | null;
}

function newPass(): Pass {
  return { hooks: [], route: null, nat: [], masqueraded: false, bridged: false, mtu: null, error: null };
}

/**
 * A frame received on a port of bridge `bridge` with bridge-nf-call-iptables=1. Models
 * br_nf_pre_routing (net/bridge/br_netfilter_hooks.c): the IPv4 PREROUTING hooks run with the
 * bridge as input device; then br_nf_pre_routing_finish: a frame addressed to the bridge's own MAC
 * (`toBridge`) goes up to the IP stack (ip_sabotage_in keeps PREROUTING from running twice); a
 * frame whose destination DNAT changed is routed, unless the new route leaves by the bridge itself
 * ("bridged DNAT": it is bridged again, without a TTL decrement); any other frame is bridged.
 * Bridged frames pass `port` (br_forward's should_deliver: FDB lookup, hairpin), then the FORWARD
 * (br_nf_forward_ip) and POSTROUTING (br_nf_post_routing) hooks with the bridge as in and out device.
 */
export function bridgeReceive(ctx: PipelineCtx, skb: NetnsSkb, opts: { bridge: string; toBridge: boolean; port: (skb: NetnsSkb) => string | null }): PassResult {
  const pass = newPass();
  const dst0 = skb.hdr.dst;
  const pre = runHook(ctx, 'PREROUTING', skb, pass);
  if (pre.kind !== 'accept') return failed(ctx, skb, pass, 'PREROUTING', pre);
  const dnat = skb.hdr.dst !== dst0;
  if (opts.toBridge && !dnat) return afterPrerouting(ctx, skb, pass);
  if (dnat) {
    const r = ctx.host.config.route({ family: skb.hdr.family, dst: skb.hdr.dst, src: skb.hdr.src, mark: skb.mark, inDev: opts.bridge });
    if (r.kind !== 'unicast' || r.dev !== opts.bridge) return afterPrerouting(ctx, skb, pass);
    ctx.rec.add({ kind: 'note', text: `br_nf_pre_routing_finish: DNAT to ${skb.hdr.dst}, which routes back out ${opts.bridge}: the frame is bridged (no TTL decrement)` });
  }
  pass.bridged = true;
  skb.outDev = opts.bridge;
  const refused = opts.port(skb);
  if (refused) {
    ctx.rec.add({ kind: 'drop', reason: refused, text: `br_forward: ${refused}` });
    return finish(skb, pass, 'dropped', 'DROP', null, null, null, refused);
  }
  const fwd = runHook(ctx, 'FORWARD', skb, pass);
  if (fwd.kind !== 'accept') return failed(ctx, skb, pass, 'FORWARD', fwd);
  const post = runHook(ctx, 'POSTROUTING', skb, pass);
  if (post.kind !== 'accept') return failed(ctx, skb, pass, 'POSTROUTING', post);
  return finish(skb, pass, 'transmitted', 'ACCEPT', null, null, null, null);
}

/**
 * The MTU check of ip_forward (ip_exceeds_mtu, before NF_INET_FORWARD) and of ip_finish_output
 * (ip_fragment): too big with DF set is dropped and ICMP fragmentation-needed goes back to the
 * sender; without DF the packet is fragmented (the trace follows the datagram; each hop's conntrack
 * defragments it again, as nf_defrag_ipv4 does).
 */
function checkMtu(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, dev: string | null, fn: string): boolean {
  if (dev === null || dev === 'lo' || !ctx.host.config.mtu) return true;
  const devMtu = ctx.host.config.mtu(dev);
  if (devMtu === null) return true;
  const dfSet = skb.hdr.df !== false || skb.hdr.family === 6;
  // ip_finish_output: fragment when too long, or when it was reassembled (frag_max_size), to at most that size
  const refrag = !dfSet && skb.fragMax !== undefined && skb.fragMax < skb.hdr.length;
  if (skb.hdr.length <= devMtu && !refrag) return true;
  const mtu = refrag ? Math.min(devMtu, skb.fragMax!) : devMtu;
  const fragments = fragmentCount(skb.hdr.length, mtu);
  pass.mtu = { dev, mtu, fragments };
  if (dfSet) {
    if (skb.inDev === null) {
      // a local socket never sends it: ip_append_data refuses with EMSGSIZE under IP_PMTUDISC_DO
      ctx.rec.add({ kind: 'drop', reason: 'mtu-exceeded', text: `${fn}: ${skb.hdr.length} bytes with DF set exceed the MTU ${mtu} of ${dev}; the socket gets EMSGSIZE` });
      return false;
    }
    pass.error = icmpSend(ctx, skb, pass.route?.kind === 'local', ICMP_TYPE.DEST_UNREACH, ICMP_UNREACH.FRAG_NEEDED, mtu);
    ctx.rec.add({ kind: 'drop', reason: 'mtu-exceeded', text: `${fn}: ${skb.hdr.length} bytes with DF set exceed the MTU ${mtu} of ${dev}; ${pass.error ? `ICMP fragmentation needed (mtu ${mtu}) sent to ${skb.hdr.src}` : 'no ICMP error sent'}` });
    return false;
  }
  ctx.rec.add({
    kind: 'note',
    text: refrag && mtu < devMtu
      ? `ip_fragment: the datagram was reassembled from fragments of at most ${skb.fragMax} bytes (frag_max_size); ip_do_fragment cuts it again: ${fragments} fragments on ${dev}`
      : `ip_fragment: ${skb.hdr.length} bytes exceed the MTU ${mtu} of ${dev}; ip_do_fragment sends ${fragments} fragments (MF, offsets in 8-byte units, one header each)`,
  });
  return true;
}

type HookOutcome =
  | { readonly kind: 'accept' }
  | { readonly kind: 'drop'; readonly table: TableName | null; readonly rule: Rule | null; readonly reason: string }
  | { readonly kind: 'reject'; readonly table: TableName; readonly rule: Rule; readonly reject: RejectRequest }
  /** NF_STOLEN: IPVS sent the packet on itself (ip_vs_nat_send_or_cont); `result` is how that ended. */ // IPVS (issue 6)
  | { readonly kind: 'stolen'; readonly result: PassResult };

// ───────────────────────────── entry points ─────────────────────────────

/**
 * A packet arriving on `skb.inDev`. Models ip_rcv (net/ipv4/ip_input.c) → NF_INET_PRE_ROUTING →
 * ip_rcv_finish (ip_route_input_noref) → ip_local_deliver or ip_forward.
 */
export function receive(ctx: PipelineCtx, skb: NetnsSkb): PassResult {
  return receiveInto(ctx, skb, newPass());
}

/**
 * A locally generated packet. Models ip_local_out (net/ipv4/ip_output.c): the socket's route
 * lookup (ip_route_output_key), NF_INET_LOCAL_OUT, a new lookup when OUTPUT changed the
 * destination or mark (ip_route_me_harder), then ip_output → NF_INET_POST_ROUTING. A packet to
 * a local address leaves through lo and is received again (PREROUTING → INPUT).
 */
export function localOut(ctx: PipelineCtx, skb: NetnsSkb): PassResult {
  const pass = newPass();
  let route = routeOutput(ctx, skb, pass, 'ip_route_output_key');
  if (isFailedRoute(route)) return finish(skb, pass, 'no-route', 'DROP', null, null, null, `no route to ${skb.hdr.dst}: ${route.text}`);
  const before = { dst: skb.hdr.dst, mark: skb.mark };
  const out = runHook(ctx, 'OUTPUT', skb, pass);
  if (out.kind !== 'accept') return failed(ctx, skb, pass, 'OUTPUT', out);
  if (skb.hdr.dst !== before.dst || skb.mark !== before.mark) {
    route = routeOutput(ctx, skb, pass, 'ip_route_me_harder');
    if (isFailedRoute(route)) return finish(skb, pass, 'no-route', 'DROP', 'OUTPUT', null, null, `no route to ${skb.hdr.dst}: ${route.text}`);
  }
  const post = runHook(ctx, 'POSTROUTING', skb, pass);
  if (post.kind !== 'accept') return failed(ctx, skb, pass, 'POSTROUTING', post);
  if (route.kind === 'local') {
    // loopback_xmit → netif_rx: received again on lo with the conntrack reference and the output
    // route (skb_dst) still attached
    skb.inDev = 'lo';
    skb.outDev = null;
    ctx.rec.add({ kind: 'note', text: 'loopback_xmit: the packet is received again on lo, keeping its output route' });
    return receiveInto(ctx, skb, pass, route);
  }
  if (!checkMtu(ctx, skb, pass, route.kind === 'unicast' ? skb.outDev : null, 'ip_finish_output')) {
    return finish(skb, pass, 'mtu-exceeded', 'DROP', null, null, null, `${skb.hdr.length}-byte packet with DF exceeds the MTU ${pass.mtu!.mtu} of ${pass.mtu!.dev}`);
  }
  return finish(skb, pass, 'transmitted', 'ACCEPT', null, null, null, null);
}

/**
 * ip_rcv → PREROUTING → ip_rcv_finish. `kept` is the route a looped-back packet still carries
 * (loopback_xmit keeps skb_dst): ip_rcv_finish_core does the input lookup only when
 * !skb_valid_dst(skb), and nf_nat_ipv4_pre_routing drops the dst (skb_dst_drop) only when
 * PREROUTING's NAT changed the destination address; then the packet is routed like any other.
 */
function receiveInto(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, kept: RouteResult | null = null): PassResult {
  const dst0 = skb.hdr.dst;
  const pre = runHook(ctx, 'PREROUTING', skb, pass);
  if (pre.kind !== 'accept') return failed(ctx, skb, pass, 'PREROUTING', pre);
  if (kept && skb.hdr.dst === dst0) {
    ctx.rec.add({ kind: 'note', text: `ip_rcv_finish: the skb keeps its output route (${kept.text}); no input route lookup` });
    pass.route = kept;
    return afterPrerouting(ctx, skb, pass, kept);
  }
  return afterPrerouting(ctx, skb, pass);
}

function afterPrerouting(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, kept: RouteResult | null = null): PassResult {
  const route = kept ?? routeInput(ctx, skb, pass);
  switch (route.kind) {
    case 'local':
      return localDeliver(ctx, skb, pass);
    case 'unicast':
      return forward(ctx, skb, pass, route);
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
    case 'no-route':
      return finish(skb, pass, 'no-route', 'DROP', null, null, null, `no route to ${skb.hdr.dst}: ${route.text}`);
    case 'martian':
      ctx.rec.add({ kind: 'drop', reason: 'martian source', text: `ip_route_input_slow: ${route.text}` });
      return finish(skb, pass, 'dropped', 'DROP', null, null, null, `${ctx.host.config.name}: ${route.text}`);
    default:
      return assertNever(route, 'route');
  }
}

/** ip_local_deliver (net/ipv4/ip_input.c): NF_INET_LOCAL_IN, then the socket. */
function localDeliver(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass): PassResult {
  skb.outDev = null;
  if (skb.fragCount !== undefined && skb.fragCount > 1 && !ctx.host.config.conntrack) {
    ctx.rec.add({ kind: 'note', text: `ip_local_deliver → ip_defrag: ${skb.fragCount} fragments reassembled` });
  }
  const input = runHook(ctx, 'INPUT', skb, pass);
  if (input.kind !== 'accept') return failed(ctx, skb, pass, 'INPUT', input);
  const h = skb.hdr;
  ctx.rec.add({ kind: 'deliver', to: `local socket ${proto(h)}${h.dport !== undefined && hasPorts(h.proto) ? `:${h.dport}` : ''}`, text: `ip_local_deliver_finish: ${formatFlow(h)}` });
  return finish(skb, pass, 'delivered', 'ACCEPT', null, null, null, null);
}

/** ip_forward (net/ipv4/ip_forward.c): TTL check and decrement, NF_INET_FORWARD, then ip_output. */
function forward(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, route: Extract<RouteResult, { kind: 'unicast' }>): PassResult {
  if (skb.hdr.ttl <= 1) {
    pass.error = icmpSend(ctx, skb, pass.route?.kind === 'local', ICMP_TYPE.TIME_EXCEEDED, ICMP_TIME_EXCEEDED.TTL);
    ctx.rec.add({ kind: 'drop', reason: 'ttl-exceeded', text: `ip_forward: TTL ${skb.hdr.ttl} would expire${pass.error ? ` (ICMP time exceeded sent to ${skb.hdr.src})` : ''}` });
    return finish(skb, pass, 'ttl-exceeded', 'DROP', null, null, null, `TTL exceeded at ${ctx.host.config.name}`);
  }
  skb.outDev = route.dev;
  if (!checkMtu(ctx, skb, pass, route.dev, 'ip_forward')) {
    return finish(skb, pass, 'mtu-exceeded', 'DROP', null, null, null, `${skb.hdr.length}-byte packet with DF exceeds the MTU ${pass.mtu!.mtu} of ${pass.mtu!.dev} at ${ctx.host.config.name}`);
  }
  skb.hdr.ttl -= 1;
  const fwd = runHook(ctx, 'FORWARD', skb, pass);
  if (fwd.kind !== 'accept') return failed(ctx, skb, pass, 'FORWARD', fwd);
  const post = runHook(ctx, 'POSTROUTING', skb, pass);
  if (post.kind !== 'accept') return failed(ctx, skb, pass, 'POSTROUTING', post);
  return finish(skb, pass, 'transmitted', 'ACCEPT', null, null, null, null);
}

// ───────────────────────────── routing ─────────────────────────────

function routeInput(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass): RouteResult {
  const r = ctx.host.config.route({ family: skb.hdr.family, dst: skb.hdr.dst, src: skb.hdr.src, mark: skb.mark, inDev: skb.inDev });
  recordRoute(ctx, r, 'ip_route_input_noref', skb);
  pass.route = r;
  if (r.kind === 'unicast') skb.outDev = r.dev;
  return r;
}

function routeOutput(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, fn: string): RouteResult {
  const r = ctx.host.config.route({ family: skb.hdr.family, dst: skb.hdr.dst, src: skb.hdr.src, mark: skb.mark, inDev: null });
  recordRoute(ctx, r, fn, skb);
  pass.route = r;
  skb.outDev = r.kind === 'unicast' ? r.dev : r.kind === 'local' ? 'lo' : null;
  return r;
}

function isFailedRoute(r: RouteResult): r is Extract<RouteResult, { kind: 'blackhole' | 'unreachable' | 'prohibit' | 'no-route' | 'martian' }> {
  return r.kind !== 'local' && r.kind !== 'unicast';
}

function recordRoute(ctx: PipelineCtx, r: RouteResult, fn: string, skb: NetnsSkb): void {
  const result = r.kind === 'local' ? 'local' : r.kind === 'unicast' ? 'forward' : r.kind === 'martian' ? 'no-route' : r.kind;
  ctx.rec.add({ kind: 'route', table: r.kind === 'local' ? 'local' : 'main', route: r.kind === 'no-route' ? null : r.text, result, text: `${fn}: ${skb.hdr.dst} → ${r.text}` });
}

// ───────────────────────────── one hook ─────────────────────────────

/** nf_hook_slow (net/netfilter/core.c): the hook's functions in priority order, stopping at the first non-ACCEPT verdict. */
function runHook(ctx: PipelineCtx, hook: HookName, skb: NetnsSkb, pass: Pass): HookOutcome {
  pass.hooks.push(hook);
  ctx.rec.open({ kind: 'hook', hook, text: `${hook} ${formatFlow(skb.hdr)}${skb.mark ? ` mark 0x${skb.mark.toString(16)}` : ''}` });
  try {
    for (const fn of (ctx.host.config.ipvs ? HOOK_ORDER_IPVS : HOOK_ORDER)[hook]) { // IPVS (issue 6): ip_vs_ops4 registered
      const r = runHookFn(ctx, fn, hook, skb, pass);
      if (r.kind !== 'accept') return r;
    }
    return { kind: 'accept' };
  } finally {
    ctx.rec.close();
  }
}

function runHookFn(ctx: PipelineCtx, fn: HookFn, hook: HookName, skb: NetnsSkb, pass: Pass): HookOutcome {
  switch (fn) {
    case 'conntrack-in':
      return conntrackIn(ctx, skb);
    case 'conntrack-confirm':
      return conntrackConfirm(ctx, skb);
    case 'nat-dst':
    case 'nat-src':
      return natHook(ctx, hook, skb, pass);
    case 'ipvs-reply': // IPVS (issue 6): ipvs-hook.ts
    case 'ipvs-request':
      return ipvsOutcome(ctx, skb, pass, ipvsHook(ctx, fn, hook, skb));
    case 'raw':
    case 'mangle':
    case 'filter':
    case 'security': {
      const table = tableOf(fn)!;
      if (!hasBuiltin(ctx, table, hook)) return { kind: 'accept' };
      const r = walk(ctx, table, hook, skb);
      if (r.untrack) skb.untracked = true;
      return tableOutcome(table, r);
    }
    default:
      return assertNever(fn, 'hook function');
  }
}

function hasBuiltin(ctx: PipelineCtx, table: TableName, hook: HookName): boolean {
  return ctx.host.config.ruleset.ruleset.tables.get(table)?.chains.get(hook)?.builtin === true;
}

function tableOutcome(table: TableName, r: ReturnType<typeof walkTable>): HookOutcome {
  switch (r.verdict) {
    case 'ACCEPT':
      return { kind: 'accept' };
    case 'DROP':
      return { kind: 'drop', table, rule: r.rule ?? null, reason: r.error ?? (r.rule ? `dropped by ${r.rule.text}` : `dropped by the ${table} chain's policy`) };
    case 'REJECT':
      if (!r.reject || !r.rule) return { kind: 'drop', table, rule: r.rule ?? null, reason: 'REJECT without a reject request' };
      return { kind: 'reject', table, rule: r.rule, reject: r.reject };
    case 'QUEUE':
      // no userspace queue listener: nf_queue fails and the packet is dropped (NF_QUEUE without --queue-bypass)
      return { kind: 'drop', table, rule: r.rule ?? null, reason: `queued to userspace with no listener: ${r.rule?.text ?? table}` };
    default:
      return assertNever(r.verdict, 'table verdict');
  }
}

/** Builds the walk's view of the skb, walks, and writes back what targets changed (mark, ctmark). */
function walk(ctx: PipelineCtx, table: TableName, hook: HookName, skb: NetnsSkb): ReturnType<typeof walkTable> {
  const h = skb.hdr;
  const pkt: NfPacket = {
    family: h.family,
    src: h.src,
    dst: h.dst,
    proto: h.proto,
    length: h.length,
    mark: skb.mark,
  };
  if (hasPorts(h.proto)) {
    pkt.sport = h.sport;
    pkt.dport = h.dport;
  }
  if (h.proto === IPPROTO.TCP && h.tcpFlags !== undefined) pkt.tcpFlags = h.tcpFlags;
  if (h.proto === IPPROTO.ICMP || h.proto === IPPROTO.ICMPV6) {
    pkt.icmpType = h.icmpType ?? 0;
    pkt.icmpCode = h.icmpCode ?? 0;
  }
  // state->in / state->out of the hook (nf_hook_state_init): no output device before routing, no input device for local output
  if (hook === 'PREROUTING' || hook === 'INPUT' || hook === 'FORWARD') pkt.inIface = skb.inDev ?? undefined;
  if (hook === 'OUTPUT' || hook === 'FORWARD' || hook === 'POSTROUTING') pkt.outIface = skb.outDev ?? undefined;
  const ct: NfConntrack | undefined = skb.ct ? nfConntrackOf(skb.ct, skb.untracked) : skb.untracked ? nfConntrackOf({ entry: null, dir: 'ORIGINAL', ctinfo: 'UNTRACKED', ctstate: 'UNTRACKED', isNew: false }, true) : undefined;
  const env: NfEnv = {
    addrType: (ip: string) => addrType(ctx, ip),
    ipsets: ctx.host.config.ipsets,
    recent: ctx.host.state.recent,
    nth: ctx.host.state.nth,
    clock: ctx.host.state.clock,
    chooser: ctx.chooser,
    rec: ctx.rec,
    ttl: h.ttl,
  };
  const r = walkTable(ctx.host.config.ruleset, table, hook, pkt, ct, env);
  skb.mark = pkt.mark >>> 0;
  const entry = skb.ct?.entry;
  if (ct && entry && ct.mark !== entry.mark) (entry as { mark: number }).mark = ct.mark >>> 0;
  return r;
}

function addrType(ctx: PipelineCtx, ip: string) {
  return addrTypeOf(ctx.host.config.addresses, ip);
}

// ───────────────────────────── IPVS (issue 6) ─────────────────────────────

/** An IPVS hook function's verdict (ipvs-hook.ts) as nf_hook_slow takes it. */
function ipvsOutcome(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, r: IpvsHookResult): HookOutcome {
  switch (r.kind) {
    case 'accept':
      // a reply re-routed as a local packet (ip_vs_route_me_harder); a bridged frame keeps its bridge port
      if (r.route && !pass.bridged) {
        pass.route = r.route;
        if (r.route.kind === 'unicast') skb.outDev = r.route.dev;
      }
      return { kind: 'accept' };
    case 'drop':
      if (r.icmp) pass.error = icmpSend(ctx, skb, pass.route?.kind === 'local', r.icmp.type, r.icmp.code);
      return { kind: 'drop', table: null, rule: null, reason: r.reason };
    case 'stolen':
      return { kind: 'stolen', result: ipvsSend(ctx, skb, pass, r.route) };
    default:
      return assertNever(r, 'IPVS hook result');
  }
}

/**
 * ip_vs_nat_send_or_cont (net/netfilter/ipvs/ip_vs_xmit.c) for a real server that is not local:
 * NF_HOOK(NFPROTO_IPV4, NF_INET_LOCAL_OUT, …, dst_output) with the route __ip_vs_get_out_rt set,
 * so the packet crosses the OUTPUT hook (IPVS's own functions skip it: ipvs_property) and, by
 * dst_output → ip_output, POSTROUTING, where KUBE-POSTROUTING may masquerade it.
 */
function ipvsSend(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, route: Extract<RouteResult, { kind: 'unicast' }>): PassResult {
  pass.route = route;
  skb.outDev = route.dev;
  const out = runHook(ctx, 'OUTPUT', skb, pass);
  if (out.kind !== 'accept') return failed(ctx, skb, pass, 'OUTPUT', out);
  const post = runHook(ctx, 'POSTROUTING', skb, pass);
  if (post.kind !== 'accept') return failed(ctx, skb, pass, 'POSTROUTING', post);
  if (!checkMtu(ctx, skb, pass, skb.outDev, 'ip_finish_output')) {
    return finish(skb, pass, 'mtu-exceeded', 'DROP', null, null, null, `${skb.hdr.length}-byte packet with DF exceeds the MTU ${pass.mtu!.mtu} of ${pass.mtu!.dev}`);
  }
  return finish(skb, pass, 'transmitted', 'ACCEPT', null, null, null, null);
}

// ───────────────────────────── conntrack ─────────────────────────────

/**
 * nf_conntrack_in (net/netfilter/nf_conntrack_core.c), via ipv4_conntrack_in / ipv4_conntrack_local:
 * a packet already carrying a conntrack reference (looped back) or marked untracked is left alone;
 * otherwise it is looked up by tuple, or a new unconfirmed entry is made.
 */
function conntrackIn(ctx: PipelineCtx, skb: NetnsSkb): HookOutcome {
  if (!ctx.host.config.conntrack) return { kind: 'accept' };
  if (skb.ct) {
    ctx.rec.add({ kind: 'conntrack', state: 'seen', text: skb.ipvsProperty ? 'nf_conntrack_in: IPVS sent the packet on with its conntrack entry attached (ip_vs_nat_send_or_cont), not looked up again' /* IPVS (issue 6) */ : 'nf_conntrack_in: a conntrack entry is already attached (looped back, or nf_ct_attach to an error or reset), not looked up again' });
    return { kind: 'accept' };
  }
  if (skb.untracked) {
    ctx.rec.add({ kind: 'conntrack', state: 'untracked', text: 'nf_conntrack_in: untracked (CT --notrack in raw)' });
    return { kind: 'accept' };
  }
  if (skb.fragCount !== undefined && skb.fragCount > 1) {
    ctx.rec.add({ kind: 'note', text: `nf_defrag_ipv4: ${skb.fragCount} fragments reassembled (ip_defrag) before conntrack sees the datagram (frag_max_size ${skb.fragMax})` });
  }
  const tuple = tupleOfHeaders(skb.hdr);
  const info = tcpFlagsInfo(skb.hdr);
  // an ICMP error is looked up by the header it quotes (icmp_error → nf_conntrack_inet_error)
  const quoted = isIcmpError(skb.hdr) && skb.quoted ? { quoted: tupleOfHeaders(skb.quoted) } : {};
  const r = ctx.host.state.ct.packetIn(tuple, { ...(info ? { tcpFlags: info } : {}), ...quoted });
  skb.ct = r;
  const state = r.entry === null ? 'invalid' : r.isNew ? 'new' : r.dir === 'REPLY' ? (r.ctinfo === 'RELATED_REPLY' ? 'related' : 'reply') : r.ctstate.toLowerCase();
  const entry = r.entry ? `${formatCtTuple(r.entry.original)} ${formatCtTuple(r.entry.reply)}` : undefined;
  ctx.rec.add({
    kind: 'conntrack',
    state,
    ...(entry ? { entry } : {}),
    text: `nf_conntrack_in: ${r.ctstate}${r.dir === 'REPLY' ? ' (reply direction)' : ''}${r.reason ? `: ${r.reason}` : ''}${entry ? ` [${entry}]` : ''}`,
  });
  return { kind: 'accept' };
}

/** __nf_conntrack_confirm (nf_conntrack_core.c), via ipv4_confirm at POSTROUTING / INPUT. */
function conntrackConfirm(ctx: PipelineCtx, skb: NetnsSkb): HookOutcome {
  const r = skb.ct;
  if (!r || !r.entry || r.entry.confirmed) return { kind: 'accept' };
  // a packet attached in the other direction (nf_ct_attach: REJECT's reset, icmp_send) never confirms
  if (r.dir !== 'ORIGINAL') return { kind: 'accept' };
  const c = ctx.host.state.ct.confirm(r.entry);
  if (c.ok) {
    skb.ct = { ...r, entry: c.entry, isNew: false };
    ctx.rec.add({ kind: 'conntrack', state: 'confirmed', entry: `${formatCtTuple(c.entry.original)} ${formatCtTuple(c.entry.reply)}`, text: `__nf_conntrack_confirm: entry inserted [${formatCtTuple(c.entry.original)} ${formatCtTuple(c.entry.reply)}]` });
    return { kind: 'accept' };
  }
  if (c.resolved) {
    skb.ct = { ...r, entry: c.clash, isNew: false };
    ctx.rec.add({ kind: 'conntrack', state: 'confirmed', text: `__nf_conntrack_confirm: clash with an existing entry resolved (nf_ct_resolve_clash)` });
    return { kind: 'accept' };
  }
  ctx.rec.add({ kind: 'drop', reason: 'conntrack insert clash', text: `__nf_conntrack_confirm: another entry took this tuple first; packet dropped (NF_DROP)` });
  return { kind: 'drop', table: null, rule: null, reason: 'conntrack confirm clash (insert_failed)' };
}

// ───────────────────────────── NAT ─────────────────────────────

/**
 * nf_nat_inet_fn (net/netfilter/nf_nat_core.c) at a nat hook: for a NEW (or RELATED) connection
 * whose manip type is not set up yet, walk the nat table; its DNAT/SNAT/MASQUERADE/REDIRECT target
 * calls nf_nat_setup_info; when no rule bound one, nf_nat_alloc_null_binding. Then nf_nat_packet
 * rewrites the headers from the entry (both directions: reply packets are un-NATed here).
 */
function natHook(ctx: PipelineCtx, hook: HookName, skb: NetnsSkb, pass: Pass): HookOutcome {
  const r = skb.ct;
  if (!r || !r.entry || skb.untracked) {
    // no conntrack (not loaded, untracked, invalid): the nat table is never consulted
    return { kind: 'accept' };
  }
  const manip = hookManip(hook);
  const entry = r.entry;
  const ct = ctx.host.state.ct;
  const opts = ctx.host.state.rng ? { rng: ctx.host.state.rng } : {};
  if ((r.ctinfo === 'RELATED' || r.ctinfo === 'RELATED_REPLY') && skb.hdr.proto === IPPROTO.ICMP) {
    // nf_nat_ipv4_fn: a RELATED ICMP packet is only translated (nf_nat_icmp_reply_translation), never NATed by rules
    return icmpReplyTranslation(ctx, r, manip, skb, pass);
  }
  if (r.ctinfo === 'NEW' || r.ctinfo === 'RELATED' || r.ctinfo === 'RELATED_REPLY') {
    if (!ct.natInitialized(entry, manip)) {
      if (hasBuiltin(ctx, 'nat', hook)) {
        const res = walk(ctx, 'nat', hook, skb);
        if (res.verdict !== 'ACCEPT') return tableOutcome('nat', res);
        if (res.nat) {
          const range = natRange(ctx, hook, skb, res.nat);
          if (!range) {
            ctx.rec.add({ kind: 'drop', reason: 'no address', text: `${res.nat.type}: no address to map to on ${skb.outDev ?? skb.inDev ?? '?'}; packet dropped` });
            return { kind: 'drop', table: 'nat', rule: res.nat.rule, reason: `${res.nat.type} found no address (${res.nat.rule.text})` };
          }
          const b = ct.setupNat(entry, manip, range, { ...opts, kind: res.nat.type });
          ctx.rec.add({ kind: 'note', text: `nf_nat_setup_info: ${manip} binding, reply tuple now ${formatCtTuple(b.reply)}${b.portChanged ? ' (port changed to stay unique)' : ''}` });
          if (res.nat.type === 'SNAT' || res.nat.type === 'MASQUERADE') pass.masqueraded = true;
        }
      }
      if (!ct.natInitialized(entry, manip)) {
        ct.allocNullBinding(entry, manip, opts);
        ctx.rec.add({ kind: 'note', text: `nf_nat_alloc_null_binding: no ${manip === 'SRC' ? 'source' : 'destination'} NAT rule matched; identity binding` });
      }
    } else {
      ctx.rec.add({ kind: 'note', text: `nf_nat_inet_fn: ${manip} manip already set up for this connection; nat table not consulted` });
    }
  }
  // nf_nat_packet: rewrite when the entry's status says this manip applies in this direction
  const before = cloneHeaders(skb.hdr);
  const translated = ct.translate(entry, r.dir, manip, tupleOfHeaders(skb.hdr));
  if (translated) {
    applyTuple(skb.hdr, translated, manip);
    const changed = manip === 'SRC' ? before.src !== skb.hdr.src || before.sport !== skb.hdr.sport : before.dst !== skb.hdr.dst || before.dport !== skb.hdr.dport;
    if (changed) {
      if (manip === 'SRC') skb.natDone.src = true;
      else skb.natDone.dst = true;
      const step = natStep(r, manip, before, skb.hdr);
      pass.nat.push(step);
      ctx.rec.add(step);
    }
  }
  return { kind: 'accept' };
}

/**
 * nf_nat_icmp_reply_translation (net/netfilter/nf_nat_proto.c): an ICMP error RELATED to a NATed
 * connection gets the quoted header rewritten with the opposite manip (it travelled the other way)
 * and the outer header rewritten like a reply; a redirect about a NATed connection is dropped.
 */
function icmpReplyTranslation(ctx: PipelineCtx, r: CtResult, manip: Manip, skb: NetnsSkb, pass: Pass): HookOutcome {
  const q = skb.quoted;
  if (!q || !isIcmpError(skb.hdr) || !r.entry) return { kind: 'accept' };
  const t = ctx.host.state.ct.translateIcmpError(r.entry, r.dir, manip, tupleOfHeaders(skb.hdr), tupleOfHeaders(q));
  if (t === 'drop') {
    ctx.rec.add({ kind: 'drop', reason: 'icmp redirect about a NATed connection', text: 'nf_nat_icmp_reply_translation: a redirect about a NATed connection is dropped' });
    return { kind: 'drop', table: null, rule: null, reason: 'ICMP redirect about a NATed connection (nf_nat_icmp_reply_translation)' };
  }
  if (!t) return { kind: 'accept' };
  const before = cloneHeaders(skb.hdr);
  const quotedBefore = cloneHeaders(q);
  applyTuple(q, t.quoted, manip === 'SRC' ? 'DST' : 'SRC');
  applyTuple(skb.hdr, t.outer, manip);
  skb.quoted = q;
  // the quote travelled the other way: it gets the opposite manip, named after the NAT it undoes
  const qManip: Manip = manip === 'SRC' ? 'DST' : 'SRC';
  const reply = r.dir === 'REPLY';
  const qNat: NatStep['nat'] = qManip === 'DST' ? (reply ? 'un-DNAT' : 'DNAT') : reply ? 'un-SNAT' : 'SNAT';
  const ports = hasPorts(q.proto);
  const ep = (ip: string, port: number | undefined) => (ports && port !== undefined ? { ip, port } : { ip });
  const qb = qManip === 'DST' ? ep(quotedBefore.dst, quotedBefore.dport) : ep(quotedBefore.src, quotedBefore.sport);
  const qa = qManip === 'DST' ? ep(q.dst, q.dport) : ep(q.src, q.sport);
  const show = (e: { ip: string; port?: number }) => (e.port !== undefined ? `${e.ip}:${e.port}` : e.ip);
  if (qb.ip !== qa.ip || qb.port !== qa.port) {
    const step: NatStep = { kind: 'nat', nat: qNat, before: qb, after: qa, text: `nf_nat_icmp_reply_translation: ${qNat} of the quoted header's ${qManip === 'DST' ? 'destination' : 'source'} ${show(qb)} → ${show(qa)}` };
    pass.nat.push(step);
    ctx.rec.add(step);
  }
  const outer = natStep(r, manip, before, skb.hdr);
  if (outer.before.ip !== outer.after.ip) {
    const step: NatStep = { ...outer, text: `nf_nat_icmp_reply_translation: ${outer.nat} of the outer ${manip === 'SRC' ? 'source' : 'destination'} ${show(outer.before)} → ${show(outer.after)}` };
    pass.nat.push(step);
    ctx.rec.add(step);
  }
  return { kind: 'accept' };
}

function natStep(r: CtResult, manip: Manip, before: FlowHeaders, after: FlowHeaders): NatStep {
  const reply = r.dir === 'REPLY';
  const ports = hasPorts(before.proto);
  const ep = (ip: string, port: number | undefined) => (ports && port !== undefined ? { ip, port } : { ip });
  const b = manip === 'SRC' ? ep(before.src, before.sport) : ep(before.dst, before.dport);
  const a = manip === 'SRC' ? ep(after.src, after.sport) : ep(after.dst, after.dport);
  const nat: NatStep['nat'] = reply ? (manip === 'SRC' ? 'un-DNAT' : 'un-SNAT') : manip === 'SRC' ? 'SNAT' : 'DNAT';
  const show = (e: { ip: string; port?: number }) => (e.port !== undefined ? `${e.ip}:${e.port}` : e.ip);
  return { kind: 'nat', nat, before: b, after: a, text: `nf_nat_packet: ${nat} ${manip === 'SRC' ? 'source' : 'destination'} ${show(b)} → ${show(a)}` };
}

/** The nf_nat_range2 a NAT target asks for; MASQUERADE and REDIRECT pick the address here, as their targets do. */
function natRange(ctx: PipelineCtx, hook: HookName, skb: NetnsSkb, req: NatRequest): CtNatRange | null {
  const cfg = ctx.host.config;
  const fam = skb.hdr.family;
  const flags = { random: req.flags.random, randomFully: req.flags.randomFully, persistent: req.flags.persistent };
  switch (req.type) {
    case 'DNAT':
    case 'SNAT': {
      const r0 = req.ranges[0] ?? {};
      const cur = req.type === 'DNAT' ? skb.hdr.dst : skb.hdr.src;
      const mapIps = r0.minIp !== undefined;
      const protoSpecified = r0.minPort !== undefined;
      return {
        minIp: r0.minIp ?? cur,
        maxIp: r0.maxIp ?? r0.minIp ?? cur,
        ...(protoSpecified ? { minPort: r0.minPort, maxPort: r0.maxPort ?? r0.minPort } : {}),
        flags: { mapIps, protoSpecified, ...flags },
      };
    }
    case 'MASQUERADE': {
      // nf_nat_masquerade_ipv4: newsrc = inet_select_addr(out, rt_nexthop(rt, daddr), RT_SCOPE_UNIVERSE)
      const route = ctx.host.config.route({ family: fam, dst: skb.hdr.dst, src: skb.hdr.src, mark: skb.mark, inDev: skb.inDev });
      const nexthop = route.kind === 'unicast' ? (route.gateway ?? skb.hdr.dst) : skb.hdr.dst;
      const src = selectAddress(cfg.addresses, fam, skb.outDev, nexthop);
      if (!src) return null;
      return portsRange(src, req, flags);
    }
    case 'REDIRECT': {
      // nf_nat_redirect_ipv4: 127.0.0.1 for locally generated packets, else the incoming device's first address
      const dst = hook === 'OUTPUT' ? (fam === 4 ? '127.0.0.1' : '::1') : primaryAddress(cfg.addresses, fam, skb.inDev);
      if (!dst) return null;
      return portsRange(dst, req, flags);
    }
    default:
      return assertNever(req.type, 'nat kind');
  }
}

function portsRange(ip: string, req: NatRequest, flags: { random: boolean; randomFully: boolean; persistent: boolean }): CtNatRange {
  const r0 = req.ranges[0];
  const protoSpecified = r0?.minPort !== undefined;
  return {
    minIp: ip,
    maxIp: ip,
    ...(protoSpecified ? { minPort: r0!.minPort, maxPort: r0!.maxPort ?? r0!.minPort } : {}),
    flags: { mapIps: true, protoSpecified, ...flags },
  };
}

// ───────────────────────────── endings ─────────────────────────────

function failed(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, hook: HookName, o: Exclude<HookOutcome, { kind: 'accept' }>): PassResult {
  if (o.kind === 'stolen') return o.result; // IPVS (issue 6)
  if (o.kind === 'drop') {
    ctx.rec.add({ kind: 'drop', reason: o.reason, text: `${hook}: NF_DROP${o.rule ? ` by ${o.rule.text}` : ''}` });
    return finish(skb, pass, 'dropped', 'DROP', hook, o.table, o.rule, o.reason);
  }
  const sent = rejectSend(ctx, skb, pass, o.reject);
  pass.error = sent;
  const reply: RejectReply | null = sent ? { with: o.reject.with, packet: sent.packet, ...(sent.kind === 'icmp' ? { quoted: sent.about } : {}) } : null;
  ctx.rec.add({ kind: 'note', text: reply ? `REJECT sends ${formatFlow(reply.packet)}${reply.quoted ? ` quoting ${formatFlow(reply.quoted)}` : ''}` : `REJECT ${o.reject.with}: nothing sent back` });
  ctx.rec.add({ kind: 'drop', reason: `rejected with ${o.reject.with}`, text: `${hook}: REJECT --reject-with ${o.reject.with} by ${o.rule.text}` });
  return finish(skb, pass, 'rejected', 'REJECT', hook, o.table, o.rule, `rejected with ${o.reject.with} by ${o.rule.text}`, reply);
}

/**
 * What REJECT sends, as generated. tcp-reset: nf_send_reset (net/ipv4/netfilter/nf_reject_ipv4.c)
 * answers from the rejected packet's (current) destination with RST (RST+ACK when the packet had no
 * ACK), mark 0, and nf_ct_attach. ICMP: nf_send_unreach → icmp_send. The host's conntrack then
 * rewrites either like a reply of the connection on its way out (after a DNAT the sender sees it
 * come from the address it sent to).
 */
function rejectSend(ctx: PipelineCtx, skb: NetnsSkb, pass: Pass, req: RejectRequest): SentError | null {
  const h = skb.hdr;
  if (req.with === 'tcp-reset') {
    if (h.proto !== IPPROTO.TCP || ((h.tcpFlags ?? 0) & TCP_FLAG.RST) !== 0) return null;
    return tcpReset(skb, 'nf_send_reset', { attach: true });
  }
  const icmp = req.icmp;
  if (!icmp) return null;
  return icmpSend(ctx, skb, pass.route?.kind === 'local', icmp.type, icmp.code);
}

/**
 * The RST answering `skb`'s segment (nf_send_reset; tcp_v4_send_reset for a segment no socket
 * wants): from its destination to its source, ports swapped, RST with the acked sequence when the
 * segment had ACK, else RST+ACK. nf_send_reset attaches the segment's conntrack (nf_ct_attach);
 * tcp_v4_send_reset does not (conntrack finds the connection by its tuple).
 */
export function tcpReset(skb: NetnsSkb, fn: 'nf_send_reset' | 'tcp_v4_send_reset', opts: { attach: boolean }): SentError {
  const h = skb.hdr;
  const flags = (h.tcpFlags ?? 0) & TCP_FLAG.ACK ? TCP_FLAG.RST : TCP_FLAG.RST | TCP_FLAG.ACK;
  const packet: FlowHeaders = { family: h.family, src: h.dst, dst: h.src, proto: IPPROTO.TCP, sport: h.dport, dport: h.sport, tcpFlags: flags, ttl: DEFAULT_TTL, length: 40, df: true, id: 0 };
  return { kind: 'tcp-reset', packet, about: cloneHeaders(h), ct: opts.attach ? attachedCt(skb) : null, text: `${fn}: TCP RST${flags & TCP_FLAG.ACK ? '+ACK' : ''} ${h.dst}:${h.dport} > ${h.src}:${h.sport}` };
}

/** nf_conntrack_attach (nf_conntrack_core.c): the new packet gets the connection in the other direction, RELATED. */
function attachedCt(skb: NetnsSkb): CtResult | null {
  const r = skb.ct;
  if (!r || !r.entry || skb.untracked) return null;
  const original = r.dir === 'ORIGINAL';
  return { entry: r.entry, dir: original ? 'REPLY' : 'ORIGINAL', ctinfo: original ? 'RELATED_REPLY' : 'RELATED', ctstate: 'RELATED', isNew: false };
}

/** ICMP error names for the trace (include/uapi/linux/icmp.h). */
function icmpText(type: number, code: number, mtu?: number): string {
  if (type === ICMP_TYPE.DEST_UNREACH) {
    switch (code) {
      case ICMP_UNREACH.FRAG_NEEDED:
        return `ICMP fragmentation needed (mtu ${mtu ?? 0})`;
      case ICMP_UNREACH.PORT:
        return 'ICMP port unreachable';
      case ICMP_UNREACH.HOST:
        return 'ICMP host unreachable';
      case ICMP_UNREACH.NET:
        return 'ICMP net unreachable';
      case ICMP_UNREACH.PROTOCOL:
        return 'ICMP protocol unreachable';
      default:
        return `ICMP destination unreachable (code ${code})`;
    }
  }
  if (type === ICMP_TYPE.TIME_EXCEEDED) return 'ICMP time exceeded in transit';
  return `ICMP type ${type} code ${code}`;
}

function isIcmpError(h: FlowHeaders): boolean {
  if (h.icmpType === undefined) return false;
  // ICMPv6 errors are types 0-127 (RFC 4443 §2.1)
  return h.proto === IPPROTO.ICMP ? isIcmpErrorType(h.icmpType) : h.proto === IPPROTO.ICMPV6 && h.icmpType < 128;
}

/**
 * Models __icmp_send (net/ipv4/icmp.c) deciding to send an error about `skb` and from which address:
 * never about an ICMP error; the source is the refused packet's destination when it was addressed
 * to this host (RTCF_LOCAL), else the one ip_route_output_key picks towards the packet's source
 * (icmp_errors_use_inbound_ifaddr=0); the offending packet's conntrack is attached in
 * icmp_glue_bits (nf_ct_attach). Rate limits (icmp_global_allow, icmp_ratelimit) are not modelled.
 */
export function icmpSend(ctx: PipelineCtx, skb: NetnsSkb, local: boolean, type: number, code: number, mtu?: number): SentError | null {
  const h = skb.hdr;
  if (isIcmpError(h)) return null;
  let src: string | null = local ? h.dst : null;
  if (!src) {
    const back = ctx.host.config.route({ family: h.family, dst: h.src, mark: 0, inDev: null });
    src = back.kind === 'unicast' ? (back.prefsrc ?? selectAddress(ctx.host.config.addresses, h.family, back.dev, h.src)) : back.kind === 'local' ? h.src : null;
  }
  if (!src) return null;
  // IP + ICMP header + the quote: as much of the packet as fits in 576 bytes (icmp_send), in the
  // IPv6 minimum MTU of 1280 (icmp6_send)
  const packet: FlowHeaders =
    h.family === 4
      ? { family: 4, src, dst: h.src, proto: IPPROTO.ICMP, icmpType: type, icmpCode: code, ttl: DEFAULT_TTL, length: 28 + Math.min(h.length, 576 - 28), df: false, id: 0 }
      : { family: 6, src, dst: h.src, proto: IPPROTO.ICMPV6, icmpType: type, icmpCode: code, ttl: DEFAULT_TTL, length: 48 + Math.min(h.length, 1280 - 48) };
  const text = h.family === 4 ? icmpText(type, code, mtu) : icmp6Text(type, code);
  return { kind: 'icmp', packet, about: cloneHeaders(h), ct: attachedCt(skb), ...(mtu !== undefined ? { mtu } : {}), text: `${h.family === 4 ? 'icmp_send' : 'icmp6_send'}: ${text} ${src} > ${h.src}` };
}

/** ICMPv6 error names (include/uapi/linux/icmpv6.h; RFC 4443). */
function icmp6Text(type: number, code: number): string {
  if (type === 1) return code === 4 ? 'ICMPv6 port unreachable' : code === 1 ? 'ICMPv6 administratively prohibited' : `ICMPv6 destination unreachable (code ${code})`;
  if (type === 2) return 'ICMPv6 packet too big';
  if (type === 3) return 'ICMPv6 time exceeded';
  return `ICMPv6 type ${type} code ${code}`;
}

function finish(
  skb: NetnsSkb,
  pass: Pass,
  disposition: PassDisposition,
  verdict: PassResult['verdict'],
  hook: HookName | null,
  table: TableName | null,
  rule: Rule | null,
  reason: string | null,
  reject: RejectReply | null = null,
): PassResult {
  return { disposition, verdict, hook, table, rule, reason, skb, hooks: pass.hooks, route: pass.route, reject, masqueraded: pass.masqueraded, nat: pass.nat, bridged: pass.bridged, mtu: pass.mtu, error: pass.error };
}

function proto(h: FlowHeaders): string {
  return h.proto === IPPROTO.TCP ? 'tcp' : h.proto === IPPROTO.UDP ? 'udp' : h.proto === IPPROTO.SCTP ? 'sctp' : h.proto === IPPROTO.ICMP ? 'icmp' : String(h.proto);
}

/** The conntrack entry the packet ended with (for `conntrack -L`-style reporting). */
export function entryOf(r: PassResult): ConntrackEntryView | null {
  return r.skb.ct?.entry ?? null;
}
