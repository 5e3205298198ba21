/**
 * IPVS in a namespace's netfilter path, registered as Linux registers it (ip_vs_ops4 in
 * net/netfilter/ipvs/ip_vs_core.c): requests are scheduled at LOCAL_IN after filter INPUT (so the
 * VIP must be a local address: kube-ipvs0) and at LOCAL_OUT after nat OUTPUT; NAT replies are
 * matched in the IPVS connection table and their source rewritten back at LOCAL_IN, LOCAL_OUT and
 * FORWARD. The NAT transmitter (ip_vs_nat_xmit) rewrites the destination, re-routes, and sends the
 * packet on through LOCAL_OUT and POSTROUTING (ip_vs_nat_send_or_cont → NF_HOOK): the pipeline runs
 * that part when this file answers `stolen`. With net.ipv4.vs.conntrack=1 (kube-proxy sets it) the
 * netfilter conntrack entry's reply tuple is altered (ip_vs_update_conntrack) so conntrack finds
 * the real server's reply and MASQUERADE in POSTROUTING keeps working.
 *
 * The IPVS state is per run: each run (each `--all` branch) gets a fresh Ipvs with its own service
 * table built from the node's `ipvsadm -Sn` commands, so connection counts, templates and
 * connections of one run never leak into another.
 */
import { formatIp, parseIp, type Ip } from '../base/index.js';
import { FORWARDING, Ipvs, buildIpvsTable, parseIpvsadmSave, serviceKeyName, type IpvsConn, type IpvsInResult, type IpvsPacket, type IpvsProtocol, type IpvsServiceTable, type IpvsSysctls, type IpvsadmCommand } from '../ipvs/index.js';
import type { Tuple } from '../conntrack/types.js';
import { IPPROTO, TCP_FLAG, hasPorts, type FlowHeaders } from '../packet/skb.js';
import { formatProbability, type HookName, type NatStep } from '../trace/index.js';
import { formatCtTuple } from './ct.js';
import type { NetfilterHost, NetfilterHostState, RouteResult } from './host.js';
import type { NetnsSkb, PipelineCtx } from './pipeline.js';

/** The IPVS hook functions: ip_vs_reply4 / ip_vs_local_reply4 (ip_vs_out_hook) and ip_vs_remote_request4 / ip_vs_local_request4 (ip_vs_in_hook). */
export type IpvsHookFn = 'ipvs-reply' | 'ipvs-request';

/**
 * ip_vs_ops4 (net/netfilter/ipvs/ip_vs_core.c) with NF_IP_PRI_NAT_SRC = 100, NF_IP_PRI_NAT_DST = -100.
 * ip_vs_forward_icmp (FORWARD, 99: ICMP errors about IPVS connections) is not modelled.
 */
export const IPVS_OPS: readonly { readonly hook: HookName; readonly fn: IpvsHookFn; readonly priority: number; readonly kernel: string }[] = [
  { hook: 'INPUT', fn: 'ipvs-reply', priority: 100 - 2, kernel: 'ip_vs_reply4' }, // after filtering, change source only for VS/NAT
  { hook: 'INPUT', fn: 'ipvs-request', priority: 100 - 1, kernel: 'ip_vs_remote_request4' }, // after filtering, forward through VS/DR, VS/TUN or VS/NAT
  { hook: 'OUTPUT', fn: 'ipvs-reply', priority: -100 + 1, kernel: 'ip_vs_local_reply4' }, // before ip_vs_in, change source only for VS/NAT
  { hook: 'OUTPUT', fn: 'ipvs-request', priority: -100 + 2, kernel: 'ip_vs_local_request4' }, // after mangle, schedule and forward local requests
  { hook: 'FORWARD', fn: 'ipvs-reply', priority: 100, kernel: 'ip_vs_reply4' }, // after filtering, change source only for VS/NAT
];

/** What a namespace's IPVS is made of: its virtual services (built afresh for each run) and its net.ipv4.vs.* sysctls. */
export interface NetnsIpvs {
  /** A new service table holding the namespace's virtual services and real servers. */
  readonly table: () => IpvsServiceTable;
  readonly sysctls: Partial<IpvsSysctls>;
}

/**
 * A namespace's IPVS from `ipvsadm -Sn` text (what kube-proxy programmed) and the sysctls written
 * under net/ipv4/vs/. The text is parsed once, on first use; each run builds its own table.
 */
export function netnsIpvs(save: string, opts: { file?: string; sysctls?: readonly { readonly key: string; readonly value: number; readonly action?: string }[] } = {}): NetnsIpvs {
  let cmds: IpvsadmCommand[] | null = null;
  const file = opts.file ?? 'ipvsadm -Sn';
  const sysctls: Partial<IpvsSysctls> = {};
  for (const s of opts.sysctls ?? []) {
    if (s.action !== undefined && s.action !== 'set') continue;
    // net/ipv4/vs/<name> (Documentation/networking/ipvs-sysctl.rst)
    if (s.key === 'net/ipv4/vs/conntrack') sysctls.conntrack = s.value !== 0;
    else if (s.key === 'net/ipv4/vs/expire_nodest_conn') sysctls.expireNodestConn = s.value !== 0;
    else if (s.key === 'net/ipv4/vs/expire_quiescent_template') sysctls.expireQuiescentTemplate = s.value !== 0;
  }
  return { table: () => buildIpvsTable((cmds ??= parseIpvsadmSave(save, { file })), { file }), sysctls };
}

/** The per-run IPVS of a namespace, keyed by the run's state (FabricRun and `podpath netfilter` make a fresh state per run). */
const runtimes = new WeakMap<NetfilterHostState, Ipvs>();

/** This run's IPVS of `host` (made on first use when `create`), or null when the namespace has none. */
export function ipvsRuntime(host: NetfilterHost, create = true): Ipvs | null {
  const spec = host.config.ipvs;
  if (!spec) return null;
  let ipvs = runtimes.get(host.state);
  if (!ipvs && create) {
    ipvs = new Ipvs({ clock: host.state.clock, sysctls: spec.sysctls }, spec.table());
    runtimes.set(host.state, ipvs);
  }
  return ipvs ?? null;
}

/** What an IPVS hook function tells nf_hook_slow. */
export type IpvsHookResult =
  /** NF_ACCEPT; `route`: the reply was re-routed as a local packet (ip_vs_route_me_harder). */
  | { readonly kind: 'accept'; readonly route?: RouteResult }
  /** NF_DROP; `icmp`: the error IPVS sends first (ip_vs_leave: port unreachable; decrement_ttl: time exceeded). */
  | { readonly kind: 'drop'; readonly reason: string; readonly icmp?: { readonly type: number; readonly code: number } }
  /** NF_STOLEN: ip_vs_nat_send_or_cont sent the packet on with NF_HOOK(LOCAL_OUT) → dst_output along `route`. */
  | { readonly kind: 'stolen'; readonly route: Extract<RouteResult, { kind: 'unicast' }> };

const ACCEPT: IpvsHookResult = { kind: 'accept' };

/** IPPROTO → the protocols IPVS registers (ip_vs_protocol_init: TCP, UDP, SCTP; AH/ESP are not modelled). */
function ipvsProto(p: number): IpvsProtocol | null {
  return p === IPPROTO.TCP ? 'tcp' : p === IPPROTO.UDP ? 'udp' : p === IPPROTO.SCTP ? 'sctp' : null;
}

function ep(ip: Ip | string, port: number): string {
  const s = typeof ip === 'string' ? ip : formatIp(ip);
  return s.includes(':') ? `[${s}]:${port}` : `${s}:${port}`;
}

function packetOf(h: FlowHeaders, protocol: IpvsProtocol, mark: number): IpvsPacket {
  const f = h.tcpFlags ?? 0;
  return {
    protocol,
    src: parseIp(h.src),
    sport: h.sport ?? 0,
    dst: parseIp(h.dst),
    dport: h.dport ?? 0,
    mark,
    bytes: h.length,
    ...(protocol === 'tcp' ? { tcp: { syn: (f & TCP_FLAG.SYN) !== 0, ack: (f & TCP_FLAG.ACK) !== 0, fin: (f & TCP_FLAG.FIN) !== 0, rst: (f & TCP_FLAG.RST) !== 0 } } : {}),
  };
}

function kernelName(fn: IpvsHookFn, hook: HookName): string {
  return IPVS_OPS.find((o) => o.fn === fn && o.hook === hook)?.kernel ?? fn;
}

/**
 * One IPVS hook function at `hook`. Models ip_vs_in_hook / ip_vs_out_hook (ip_vs_core.c): a packet
 * IPVS already handled (skb->ipvs_property) is left alone; then the request is looked up and
 * scheduled, or the reply matched to its connection.
 */
export function ipvsHook(ctx: PipelineCtx, fn: IpvsHookFn, hook: HookName, skb: NetnsSkb): IpvsHookResult {
  if (!ctx.host.config.ipvs || skb.ipvsProperty) return ACCEPT;
  const protocol = ipvsProto(skb.hdr.proto);
  if (!protocol || skb.hdr.family !== 4) return ACCEPT;
  return fn === 'ipvs-reply' ? ipvsOut(ctx, hook, skb, protocol) : ipvsIn(ctx, hook, skb, protocol);
}

/** ip_vs_in_hook: an existing connection carries the packet, else ip_vs_try_to_schedule; then cp->packet_xmit. */
function ipvsIn(ctx: PipelineCtx, hook: HookName, skb: NetnsSkb, protocol: IpvsProtocol): IpvsHookResult {
  const ipvs = ipvsRuntime(ctx.host)!;
  const h = skb.hdr;
  const fn = kernelName('ipvs-request', hook);
  const res = ipvs.processIn(packetOf(h, protocol, skb.mark), { chooser: ctx.chooser });
  if (res.verdict === 'pass') {
    ctx.rec.add({ kind: 'note', text: `${fn}: ${res.why}` });
    return ACCEPT;
  }
  recordIn(ctx, fn, ipvs, res);
  if (res.verdict === 'reject') {
    // ip_vs_leave: "the TCP RST packet cannot be sent, instead ICMP_PORT_UNREACH is sent here no matter it is TCP/UDP"
    return { kind: 'drop', reason: `IPVS ${res.conn?.service ? serviceKeyName(res.conn.service.key) : res.lookup?.service ? serviceKeyName(res.lookup.service.key) : ''} has no destination available: ICMP port unreachable (ip_vs_leave)`, icmp: { type: 3, code: 3 } };
  }
  const c = res.conn!;
  switch (c.fwd) {
    case 'masq':
      return natXmit(ctx, hook, skb, ipvs, c);
    case 'local':
      // ip_vs_null_xmit: the real server is this host
      ctx.rec.add({ kind: 'note', text: `ip_vs_null_xmit: ${ep(c.daddr, c.dport)} is local (Local forwarding): the packet goes on unchanged` });
      skb.ipvsProperty = true;
      return ACCEPT;
    case 'droute':
    case 'tunnel': {
      const reason = `${FORWARDING[c.fwd].xmit} (${FORWARDING[c.fwd].column} forwarding to ${ep(c.daddr, c.dport)}) is not modelled by podpath's pipeline; kube-proxy programs only Masq`;
      ctx.rec.add({ kind: 'drop', reason: 'not modelled', text: reason });
      return { kind: 'drop', reason };
    }
  }
}

/** The `ipvs` steps of a request: the one lookup, the scheduler's decision and the connection. */
function recordIn(ctx: PipelineCtx, fn: string, ipvs: Ipvs, res: IpvsInResult): void {
  const c = res.conn;
  const svc = c?.service ?? res.lookup?.service ?? null;
  const service = svc ? serviceKeyName(svc.key) : '';
  if (!res.scheduled && c && !res.lookup) {
    ctx.rec.add({ kind: 'ipvs', service, realServer: ep(c.daddr, c.dport), text: `${fn}: ${res.why}` });
    return;
  }
  const l = res.lookup!;
  const probes = l.probes.length > 1 ? ` (probed ${l.probes.join(', ')})` : '';
  ctx.rec.add({ kind: 'ipvs', service, realServer: null, text: `${fn}: ip_vs_service_find ${l.why}${probes}: one hash lookup among ${ipvs.services.size} virtual services, not a walk` });
  const sched = svc && svc.flags & 1 ? ` (persistent ${svc.timeout} s)` : '';
  if (!c) {
    ctx.rec.add({ kind: 'ipvs', service, realServer: null, text: `ip_vs_schedule${sched}: ${res.decision ? chance(res.decision.why) : 'no destination'}` });
    return;
  }
  const why = res.decision
    ? `${chance(res.decision.why)}${res.template ? `; new persistence template ${ep(res.template.caddr, 0)}/${svc!.netmask} → ${ep(res.template.daddr, res.template.dport)} for ${svc!.timeout} s` : ''}`
    : res.template
      ? `persistence template ${ep(res.template.caddr, 0)}/${svc!.netmask} → ${ep(res.template.daddr, res.template.dport)} (connection table bucket ${res.template.bucket})`
      : res.why;
  ctx.rec.add({
    kind: 'ipvs',
    service,
    realServer: ep(c.daddr, c.dport),
    text: `ip_vs_schedule${sched}: ${why} → real server ${ep(c.daddr, c.dport)} ${FORWARDING[c.fwd].column}; ip_vs_conn_new: ${protocolName(c)} ${ep(c.caddr, c.cport)} → ${ep(c.vaddr, c.vport)} → ${ep(c.daddr, c.dport)} in connection table bucket ${c.bucket} of ${ipvs.conns.tabSize}`,
  });
}

/** Ipvs.decide's "(probability 0.3333333333333333)" as the renderers print probabilities. */
function chance(why: string): string {
  const p = /^(.*) \(probability ([0-9.e-]+)\)$/.exec(why);
  if (!p) return why;
  const prob = `p=${formatProbability(Number(p[2]))}`;
  // rr/wrr: the position in the list is state earlier connections left, which the request does not fix
  const cycle = /^(\d+ of \d+ picks in one cycle); next: (.*)$/.exec(p[1]!);
  return cycle ? `${cycle[2]} — the position depends on earlier connections: ${cycle[1]} (${prob})` : `${p[1]} (${prob})`;
}

function protocolName(c: IpvsConn): string {
  return c.protocol.toUpperCase();
}

function isLoopback(ip: string): boolean {
  return parseIp(ip).family === 4 && ip.startsWith('127.');
}

/**
 * Models ip_vs_nat_xmit (net/netfilter/ipvs/ip_vs_xmit.c): __ip_vs_get_out_rt routes to the real
 * server (an output route, IP_VS_RT_MODE_LOCAL | NON_LOCAL | RDR: crossing from a loopback source
 * to a non-local server is refused; a non-local route decrements the TTL), the destination address
 * and port are rewritten, then ip_vs_nat_send_or_cont marks the skb ipvs_property, updates
 * conntrack (IP_VS_CONN_F_NFCT) or detaches it (ip_vs_notrack), and either lets a local packet go
 * on (NF_ACCEPT) or sends it with NF_HOOK(LOCAL_OUT) → dst_output (NF_STOLEN).
 */
function natXmit(ctx: PipelineCtx, hook: HookName, skb: NetnsSkb, ipvs: Ipvs, c: IpvsConn): IpvsHookResult {
  const h = skb.hdr;
  const daddr = formatIp(c.daddr);
  const rt = ctx.host.config.route({ family: h.family, dst: daddr, mark: 0, inDev: null });
  const result = rt.kind === 'local' ? 'local' : rt.kind === 'unicast' ? 'forward' : rt.kind === 'martian' ? 'no-route' : rt.kind;
  ctx.rec.add({ kind: 'route', table: rt.kind === 'local' ? 'local' : 'main', route: rt.kind === 'no-route' ? null : rt.text, result, text: `__ip_vs_get_out_rt: ${daddr} → ${rt.text}` });
  if (rt.kind !== 'local' && rt.kind !== 'unicast') {
    const reason = `ip_vs_nat_xmit: no route to the real server ${daddr} (${rt.text})`;
    ctx.rec.add({ kind: 'drop', reason: 'no-route', text: reason });
    return { kind: 'drop', reason };
  }
  const local = rt.kind === 'local';
  if (!local && isLoopback(h.src)) {
    const reason = `__ip_vs_get_out_rt: a packet from ${h.src} (loopback) would leave for the non-local real server ${daddr} (crosses_local_route_boundary)`;
    ctx.rec.add({ kind: 'drop', reason: 'loopback source', text: reason });
    return { kind: 'drop', reason };
  }
  if (local && isLoopback(daddr) && hook === 'INPUT') {
    const reason = 'ip_vs_nat_xmit: stopping DNAT to loopback address';
    ctx.rec.add({ kind: 'drop', reason: 'DNAT to loopback', text: reason });
    return { kind: 'drop', reason };
  }
  if (!local) {
    // decrement_ttl (ip_vs_xmit.c)
    if (h.ttl <= 1) {
      const reason = `decrement_ttl: TTL ${h.ttl} would expire on the way to ${daddr}`;
      ctx.rec.add({ kind: 'drop', reason: 'ttl-exceeded', text: `${reason} (ICMP time exceeded)` });
      return { kind: 'drop', reason, icmp: { type: 11, code: 0 } };
    }
    h.ttl -= 1;
  }
  const before = { ip: h.dst, ...(hasPorts(h.proto) ? { port: h.dport! } : {}) };
  h.dst = daddr;
  if (hasPorts(h.proto)) h.dport = c.dport;
  const after = { ip: h.dst, ...(hasPorts(h.proto) ? { port: h.dport! } : {}) };
  const step: NatStep = { kind: 'nat', nat: 'IPVS', before, after, text: `ip_vs_nat_xmit: IPVS DNAT ${ep(before.ip, before.port ?? 0)} → ${ep(after.ip, after.port ?? 0)}${local ? '' : `, TTL ${h.ttl}`}` };
  ctx.rec.add(step);
  skb.ipvsProperty = true;
  if (ipvs.sysctls.conntrack) updateConntrack(ctx, skb, c, 'request');
  else notrack(ctx, skb);
  if (local) {
    ctx.rec.add({ kind: 'note', text: `ip_vs_nat_send_or_cont: ${daddr} is local: NF_ACCEPT, the packet goes on up this host's stack` });
    return ACCEPT;
  }
  ctx.rec.add({ kind: 'note', text: `ip_vs_nat_send_or_cont: NF_HOOK(LOCAL_OUT) towards ${rt.dev ?? '?'}, then dst_output → ip_output → POSTROUTING (NF_STOLEN for ${hook})` });
  return { kind: 'stolen', route: rt };
}

/**
 * Models ip_vs_update_conntrack (ip_vs_core.c) for a request (outin): an unconfirmed entry of the
 * original direction of a Masq connection gets its reply tuple's source set to the real server
 * (nf_conntrack_alter_reply), so the reply is found as REPLY and a later SNAT binding (MASQUERADE)
 * is set up on the real tuple. For a reply (!outin) the entry is confirmed by then: nothing changes.
 */
function updateConntrack(ctx: PipelineCtx, skb: NetnsSkb, c: IpvsConn, dir: 'request' | 'reply'): void {
  const r = skb.ct;
  const e = r?.entry;
  if (!r || !e || skb.untracked || e.confirmed || c.fwd !== 'masq' || r.dir !== 'ORIGINAL' || dir !== 'request') return;
  const reply: Tuple = { ...e.reply, src: formatIp(c.daddr), ...(hasPorts(e.reply.proto) ? { sport: c.dport } : {}) };
  // the entry is unconfirmed, so not hashed yet: nf_conntrack_alter_reply just replaces the tuple
  (e as { reply: Tuple }).reply = reply;
  ctx.rec.add({
    kind: 'conntrack',
    state: 'altered',
    entry: `${formatCtTuple(e.original)} ${formatCtTuple(reply)}`,
    text: `ip_vs_update_conntrack (net.ipv4.vs.conntrack=1): reply tuple now ${formatCtTuple(reply)} (nf_conntrack_alter_reply)`,
  });
}

/** Models ip_vs_notrack: without net.ipv4.vs.conntrack the skb leaves its conntrack entry (IP_CT_UNTRACKED); no NAT rule sees it again. */
function notrack(ctx: PipelineCtx, skb: NetnsSkb): void {
  if (!skb.ct?.entry) return;
  skb.ct = null;
  skb.untracked = true;
  ctx.rec.add({ kind: 'conntrack', state: 'untracked', text: 'ip_vs_notrack: net.ipv4.vs.conntrack=0: the packet is detached from its conntrack entry (untracked)' });
}

/**
 * Models ip_vs_out_hook → handle_response (ip_vs_core.c): a packet from a real server matching a
 * Masq connection (ip_vs_conn_out_get: <protocol, daddr:dport, caddr:cport>) gets its source set
 * back to the virtual address and port; outside LOCAL_IN it is re-routed as a local packet
 * (ip_vs_route_me_harder, snat_reroute=1); the connection sees the output direction.
 */
function ipvsOut(ctx: PipelineCtx, hook: HookName, skb: NetnsSkb, protocol: IpvsProtocol): IpvsHookResult {
  const ipvs = ipvsRuntime(ctx.host, false);
  if (!ipvs || ipvs.conns.size === 0) return ACCEPT;
  const h = skb.hdr;
  const res = ipvs.processOut(packetOf(h, protocol, skb.mark));
  if (!res.conn || !res.snat) return ACCEPT;
  const c = res.conn;
  const before = { ip: h.src, ...(hasPorts(h.proto) ? { port: h.sport! } : {}) };
  h.src = formatIp(res.snat.src);
  if (hasPorts(h.proto)) h.sport = res.snat.sport;
  const after = { ip: h.src, ...(hasPorts(h.proto) ? { port: h.sport! } : {}) };
  const fn = kernelName('ipvs-reply', hook);
  ctx.rec.add({ kind: 'ipvs', service: serviceKeyName(c.service.key), realServer: ep(c.daddr, c.dport), text: `${fn}: ip_vs_conn_out_get: ${res.why}` });
  ctx.rec.add({ kind: 'nat', nat: 'un-IPVS', before, after, text: `handle_response: IPVS source ${ep(before.ip, before.port ?? 0)} → ${ep(after.ip, after.port ?? 0)} (connection ${ep(c.caddr, c.cport)} → ${ep(c.vaddr, c.vport)} → ${ep(c.daddr, c.dport)})` });
  skb.ipvsProperty = true;
  if (ipvs.sysctls.conntrack) updateConntrack(ctx, skb, c, 'reply');
  else notrack(ctx, skb);
  if (hook === 'INPUT') return ACCEPT;
  // ip_vs_route_me_harder → ip_route_me_harder(RTN_LOCAL): routed as if this host sent it
  const rt = ctx.host.config.route({ family: h.family, dst: h.dst, src: h.src, mark: skb.mark, inDev: null });
  if (rt.kind !== 'unicast' && rt.kind !== 'local') {
    const reason = `ip_vs_route_me_harder: no route to ${h.dst} (${rt.text})`;
    ctx.rec.add({ kind: 'drop', reason: 'no-route', text: reason });
    return { kind: 'drop', reason };
  }
  return { kind: 'accept', route: rt };
}
