/**
 * The hop-by-hop tracer: a request injected at a pod (egress of its eth0), a node (local OUTPUT,
 * source chosen by the route as ip_route_output_key does), an external client, or any address of
 * the World; then namespace after namespace until it is delivered or fails; then the reply from
 * the endpoint's socket back through conntrack to the client, checked against what the client
 * expects. Random branches (statistic, ECMP) are enumerated with their exact probabilities
 * (`all`) or taken with a seeded chooser; every run starts from the same World state.
 */
import { InputError, Rng, SeededChooser, closestName, enumerateBranches, formatIp, isIp, parseIp, type Chooser } from '../base/index.js';
import type { Service } from '../cluster/objects.js';
import { missingRouteReason, type World } from '../cluster/world.js';
import { fiveTuple, socketReply, type ErrorToSend, type FabricRun, type Visit } from '../netns/index.js';
import { formatPacket, type Packet } from '../packet/index.js';
import { DEFAULT_TTL, IPPROTO, TCP_FLAG, hasPorts, type FlowHeaders } from '../packet/skb.js';
import { StepRecorder, type Disposition, type FiveTuple, type Hop, type Outcome, type PacketSnapshot, type Reply, type Step, type Trace } from '../trace/index.js';

export type TraceProto = 'tcp' | 'udp' | 'icmp';
export const TRACE_PROTOS: readonly TraceProto[] = ['tcp', 'udp', 'icmp'];

/** Source port (or ICMP echo id) when none is given: fixed so the same request gives the same trace. */
export const TRACE_DEFAULT_SPORT = 40000;
/** Loop guard: no real path in a cluster crosses this many namespaces. */
export const MAX_HOPS = 64;

export interface TraceRequest {
  readonly from: string;
  readonly to: string;
  readonly proto?: TraceProto;
  readonly sport?: number;
  readonly all?: boolean;
  readonly seed?: number;
  /** Trace the reply too (default true). */
  readonly reply?: boolean;
  /** IP total length of the request (default: a bare SYN, an 8-byte-payload UDP datagram, a 64-byte ping). */
  readonly size?: number;
  /** IPv4 DF on the request (default set, as Linux sends with PMTU discovery). */
  readonly df?: boolean;
  /** Branch limit for `all`. */
  readonly limit?: number;
  /**
   * TCP: when the SYN-ACK reaches the client as expected, the client's ACK completes the handshake
   * along the same path (not shown in the trace), so the run's conntrack entries are ESTABLISHED
   * with the node's nf_conntrack_tcp_timeout_established, as `conntrack -L` lists a live connection.
   */
  readonly establish?: boolean;
}

interface Source {
  readonly label: string;
  readonly netns: string;
  readonly ip: string | null;
}

interface Destination {
  readonly label: string;
  readonly ip: string;
  readonly port: number | null;
  readonly proto: TraceProto;
  readonly steps: Step[];
}

/** The request's source: `pod/NS/NAME`, `node/NAME`, `client/NAME`, or an address of the World. */
export function resolveSource(world: World, from: string): Source {
  const bad = (message: string) => new InputError({ field: '--from', message });
  const [kind, ...rest] = from.split('/');
  const name = rest.join('/');
  switch (kind) {
    case 'pod': {
      const p = world.pods.get(name);
      if (!p) {
        const near = closestName(name, [...world.pods.keys()], 4);
        throw bad(`no pod ${name}${near ? `; did you mean ${near}?` : ''}`);
      }
      return { label: from, netns: p.netns, ip: p.hostNetwork ? null : p.ip };
    }
    case 'node': {
      const n = world.nodes.get(name);
      if (!n) {
        const near = closestName(name, [...world.nodes.keys()]);
        throw bad(`no node ${name}${near ? `; did you mean ${near}?` : ''}`);
      }
      return { label: from, netns: n.netns, ip: null };
    }
    case 'client': {
      const c = world.clients.get(name);
      if (!c) {
        const near = closestName(name, [...world.clients.keys()]);
        throw bad(`no client ${name}${near ? `; did you mean ${near}?` : ''}`);
      }
      return { label: from, netns: c, ip: null };
    }
    default:
      break;
  }
  if (isIp(from)) {
    const o = world.owners.get(from);
    if (!o) throw bad(`no pod, node, router or client of the topology has the address ${from}`);
    return { label: from, netns: o.netns, ip: from };
  }
  throw bad(`"${from}" is not pod/NS/NAME, node/NAME, client/NAME or an IP address`);
}

function splitPort(text: string, field: string): { host: string; port: string | null } {
  const i = text.lastIndexOf(':');
  if (i < 0) return { host: text, port: null };
  const host = text.slice(0, i);
  const port = text.slice(i + 1);
  if (port === '') throw new InputError({ field, message: `"${text}": empty port` });
  return { host, port };
}

function numericPort(p: string, field: string): number {
  const n = Number(p);
  if (!/^\d+$/.test(p) || n < 0 || n > 65535) throw new InputError({ field, message: `"${p}" is not a port (0-65535)` });
  return n;
}

const DNS_SUFFIX = '.svc.cluster.local';

/** The request's destination: `svc/NS/NAME:PORT`, `NAME.NS.svc.cluster.local:PORT`, or `IP[:PORT]`. */
export function resolveDestination(world: World, to: string, proto: TraceProto | undefined): Destination {
  const field = '--to';
  const { host, port } = splitPort(to, field);
  const store = world.topology.store;
  // the store's key first (one lookup); the listing only when that misses
  const lookup = (ns: string, name: string): Service | undefined =>
    (store.get('Service', `${ns}/${name}`) as Service | undefined) ?? (store.list('Service') as Service[]).find((x) => x.metadata.name === name && (x.metadata.namespace ?? 'default') === ns);
  const find = (ns: string, name: string): Service => {
    const s = lookup(ns, name);
    if (!s) {
      const services = store.list('Service') as Service[];
      const near = closestName(`${ns}/${name}`, services.map((x) => `${x.metadata.namespace ?? 'default'}/${x.metadata.name}`), 4);
      throw new InputError({ field, message: `no service ${ns}/${name}${near ? `; did you mean ${near}?` : ''}` });
    }
    return s;
  };
  const servicePort = (s: Service): { ip: string; port: number; proto: TraceProto } => {
    const ip = s.spec.clusterIP;
    if (!ip || ip === 'None') throw new InputError({ field, message: `service ${s.metadata.namespace}/${s.metadata.name} has no ClusterIP` });
    if (port === null) throw new InputError({ field, message: `give the service port: ${to}:PORT` });
    const ports = s.spec.ports ?? [];
    const sp = /^\d+$/.test(port) ? ports.find((p) => p.port === Number(port) && (!proto || (p.protocol ?? 'TCP').toLowerCase() === proto)) : ports.find((p) => p.name === port);
    if (!sp) throw new InputError({ field, message: `service ${s.metadata.namespace}/${s.metadata.name} has no port ${port} (ports: ${ports.map((p) => `${p.name ? `${p.name}=` : ''}${p.port}/${p.protocol ?? 'TCP'}`).join(', ')})` });
    return { ip, port: sp.port, proto: proto ?? ((sp.protocol ?? 'TCP').toLowerCase() as TraceProto) };
  };
  if (host.startsWith('svc/')) {
    const parts = host.slice(4).split('/');
    if (parts.length !== 2) throw new InputError({ field, message: `"${to}" is not svc/NAMESPACE/NAME:PORT` });
    const r = servicePort(find(parts[0]!, parts[1]!));
    return { label: to, ip: r.ip, port: r.port, proto: r.proto, steps: [] };
  }
  if (host.endsWith(DNS_SUFFIX) || /^[a-z0-9-]+\.[a-z0-9-]+\.svc$/.test(host)) {
    const base = host.endsWith(DNS_SUFFIX) ? host.slice(0, -DNS_SUFFIX.length) : host.slice(0, -4);
    const [name, ns] = base.split('.');
    if (!name || !ns) throw new InputError({ field, message: `"${host}" is not NAME.NAMESPACE.svc.cluster.local` });
    const dns = lookup('kube-system', 'kube-dns');
    if (!dns?.spec.clusterIP) throw new InputError({ field, message: `cannot resolve ${host}: no kube-system/kube-dns Service in the topology` });
    const r = servicePort(find(ns, name));
    const fqdn = `${name}.${ns}${DNS_SUFFIX}`;
    const step: Step = {
      kind: 'note',
      text: `DNS: ${fqdn} A ${r.ip}, answered by kube-dns at ${dns.spec.clusterIP}:53 (Service kube-system/kube-dns, the pod's nameserver with dnsPolicy ClusterFirst)`,
      provenance: [{ kind: 'Service', name: 'kube-system/kube-dns', detail: `ClusterIP ${dns.spec.clusterIP}` }],
    };
    return { label: to, ip: r.ip, port: r.port, proto: r.proto, steps: [step] };
  }
  if (isIp(host)) {
    const p = proto ?? 'tcp';
    if (port === null && p !== 'icmp') throw new InputError({ field, message: `give a port: ${host}:PORT (or --proto icmp)` });
    return { label: to, ip: host, port: port === null ? null : numericPort(port, field), proto: p, steps: [] };
  }
  throw new InputError({ field, message: `"${to}" is not svc/NS/NAME:PORT, NAME.NS.svc.cluster.local:PORT or IP:PORT` });
}

/** The packet the source's socket sends. */
function requestHeaders(src: string, dst: Destination, req: TraceRequest): FlowHeaders {
  const sport = req.sport ?? TRACE_DEFAULT_SPORT;
  const base = { family: 4 as const, src, dst: dst.ip, ttl: DEFAULT_TTL, df: req.df ?? true, id: 0 };
  switch (dst.proto) {
    case 'tcp':
      return { ...base, proto: IPPROTO.TCP, sport, dport: dst.port ?? 0, tcpFlags: TCP_FLAG.SYN, length: req.size ?? 60 };
    case 'udp':
      return { ...base, proto: IPPROTO.UDP, sport, dport: dst.port ?? 0, length: req.size ?? 36 };
    case 'icmp':
      return { ...base, proto: IPPROTO.ICMP, icmpType: 8, icmpCode: 0, sport, length: req.size ?? 84 };
  }
}

/** A frame as JSON: one object per layer (byte fields as hex), and the tcpdump-style line. */
export function packetSnapshot(p: Packet): PacketSnapshot {
  const layers = p.layers.map((l) => {
    const o: Record<string, string | number | boolean | null> = {};
    for (const [k, v] of Object.entries(l)) {
      if (v === undefined) continue;
      if (v instanceof Uint8Array) {
        if (v.length) o[k] = Buffer.from(v).toString('hex');
      } else if (typeof v === 'object' && v !== null) o[k] = JSON.stringify(v);
      else o[k] = v as string | number | boolean;
    }
    if (l.kind === 'ethernet' || l.kind === 'ipv4' || l.kind === 'ipv6' || l.kind === 'tcp' || l.kind === 'udp' || l.kind === 'vxlan' || l.kind === 'icmp') o.layer = l.kind;
    return o;
  });
  return { summary: formatPacket(p, { ethernet: true }), layers };
}

interface Walk {
  readonly hops: Hop[];
  readonly last: Visit;
  readonly disposition: Disposition;
  readonly reason: string | null;
  readonly masqueraded: boolean;
  readonly crossed: string[];
}

/**
 * Sets hop[key] to the snapshot of `p`, made when first read: most traces are rendered in a form
 * that shows no headers, and a snapshot (every layer's fields, bytes as hex, the tcpdump line)
 * costs more than the rest of the hop. Packets are never changed after a visit (writeHeaders and
 * the encapsulations make new ones), so the snapshot is the same whenever it is made. The property
 * is an ordinary enumerable one for JSON, spreads and comparisons.
 */
function snapshotLater(hop: Hop, key: 'packetIn' | 'packetOut', p: Packet | null): void {
  let v: Hop['packetIn'] | undefined;
  Object.defineProperty(hop, key, {
    enumerable: true,
    configurable: true,
    get: () => (v ??= p ? packetSnapshot(p) : {}),
    set: (x: Hop['packetIn']) => {
      v = x;
    },
  });
}

/** Follows a packet namespace to namespace from its first visit until it ends. */
function walk(world: World, run: FabricRun, first: Visit, rec: StepRecorder, lead: Step[]): Walk {
  const hops: Hop[] = [];
  const crossed: string[] = [];
  const seen = new Set<string>();
  let v = first;
  let masq = false;
  let steps = [...lead, ...rec.take()];
  for (;;) {
    crossed.push(v.netns);
    masq ||= v.masqueraded;
    const hop = { node: v.node, netns: v.netns, in: v.in, out: v.out, steps } as Hop & { fragmentsIn?: PacketSnapshot[]; fragmentsOut?: PacketSnapshot[] };
    snapshotLater(hop, 'packetIn', v.packetIn);
    snapshotLater(hop, 'packetOut', v.packetOut);
    // a fragmented datagram: packetIn/packetOut are the datagram the namespace handled, these the frames on the wire
    if (v.fragmentsIn) hop.fragmentsIn = v.fragmentsIn.map(packetSnapshot);
    if (v.fragmentsOut) hop.fragmentsOut = v.fragmentsOut.map(packetSnapshot);
    hops.push(hop);
    const end = v.end;
    switch (end.kind) {
      case 'delivered':
        return { hops, last: v, disposition: 'delivered', reason: null, masqueraded: masq, crossed };
      case 'failed': {
        let reason = end.reason;
        if (end.disposition === 'no-route' || end.disposition === 'dropped' || end.disposition === 'neighbour-unreachable') {
          const why = missingRouteReason(world, crossed, end.hdr.dst);
          if (why) reason = `${reason}; ${why}`;
        }
        return { hops, last: v, disposition: end.disposition, reason, masqueraded: masq, crossed };
      }
      case 'ignored':
        return { hops, last: v, disposition: 'dropped', reason: `${v.netns}: ${end.reason}`, masqueraded: masq, crossed };
      case 'next': {
        const key = `${end.netns}|${end.dev}|${formatPacket(end.frame)}`;
        if (seen.has(key)) return { hops, last: v, disposition: 'loop', reason: `the same packet arrives again on ${end.dev} of ${end.netns}: a forwarding loop`, masqueraded: masq, crossed };
        seen.add(key);
        if (hops.length >= MAX_HOPS) return { hops, last: v, disposition: 'loop', reason: `more than ${MAX_HOPS} hops`, masqueraded: masq, crossed };
        v = run.input(end.netns, end.dev, end.frame, rec, end.fragments);
        steps = rec.take();
        break;
      }
    }
  }
}

interface Prepared {
  readonly src: Source;
  readonly dst: Destination;
  readonly hdr: FlowHeaders;
}

function prepare(world: World, req: TraceRequest): Prepared {
  if (req.sport !== undefined && (!Number.isInteger(req.sport) || req.sport < 0 || req.sport > 65535)) throw new InputError({ field: '--sport', message: `${req.sport} is not a port (0-65535)` });
  if (req.size !== undefined && (!Number.isInteger(req.size) || req.size < 28 || req.size > 65535)) throw new InputError({ field: '--size', message: `${req.size} is not an IPv4 packet length (28-65535)` });
  const src = resolveSource(world, req.from);
  const dst = resolveDestination(world, req.to, req.proto);
  let ip = src.ip;
  if (ip === null) {
    // the socket's source: ip_route_output_key's choice (the route's prefsrc, else inet_select_addr)
    const r = world.fabric.get(src.netns).spec.rib.lookupRoute({ dst: parseIp(dst.ip) });
    ip = r.src ? formatIpText(r.src) : null;
    if (!ip) ip = world.fabric.get(src.netns).spec.rib.selectSourceV4(null, null, 0) ? formatIpText(world.fabric.get(src.netns).spec.rib.selectSourceV4(null, null, 0)!) : null;
    if (!ip) throw new InputError({ field: '--from', message: `${src.label} has no IPv4 address to send from` });
  }
  return { src, dst, hdr: requestHeaders(ip, dst, req) };
}

const formatIpText = formatIp;

/** One run of the request (and its reply) with the given chooser, from a fresh World state. */
function runOnce(world: World, p: Prepared, req: TraceRequest, chooser: Chooser, seed: number): Outcome & { run: FabricRun } {
  const run = world.fabric.run(chooser, seed);
  const rec = new StepRecorder();
  run.connect(p.src.netns, p.hdr, p.src.label);
  const first = run.send(p.src.netns, p.hdr, rec);
  const w = walk(world, run, first, rec, p.dst.steps);
  const out: Outcome & { run: FabricRun } = { probability: 1, disposition: w.disposition, reason: w.reason, endpoint: null, received: null, masqueraded: w.masqueraded, hops: w.hops, run };
  const end = w.last.end;
  if (end.kind === 'failed' && end.error && req.reply !== false) {
    out.reply = errorReply(world, run, p, end.error, rec);
    return out;
  }
  if (end.kind !== 'delivered') return out;
  out.received = fiveTuple(end.hdr);
  const pod = end.owner.startsWith('pod/') ? end.owner.slice(4) : null;
  out.endpoint = { pod, ip: end.hdr.dst, ...(hasPorts(end.hdr.proto) ? { port: end.hdr.dport! } : {}) };
  if (req.reply === false) return out;
  const answer = socketReply(world.fabric.get(w.last.netns), end.hdr, end.socket);
  if (answer.note) rec.add({ kind: 'note', text: answer.note });
  const rh = answer.hdr;
  const rv = run.send(w.last.netns, rh, rec);
  const rw = walk(world, run, rv, rec, []);
  const reply: Reply = { disposition: rw.disposition, reason: rw.reason, received: null, hops: rw.hops };
  const rend = rw.last.end;
  const expect = (h: FlowHeaders) => h.src === p.hdr.dst && h.dst === p.hdr.src && (!hasPorts(h.proto) || (h.sport === p.hdr.dport && h.dport === p.hdr.sport));
  if (rend.kind === 'delivered') {
    reply.received = fiveTuple(rend.hdr);
    reply.matchesRequest = expect(rend.hdr);
    if (rw.last.netns !== p.src.netns) {
      reply.matchesRequest = false;
      reply.disposition = 'no-listener';
      reply.reason = `the reply reached ${rw.last.netns}, not the client ${p.src.label}`;
    }
  } else if (rend.kind === 'failed' && rw.last.netns === p.src.netns && rend.disposition === 'no-listener') {
    reply.received = fiveTuple(rend.hdr);
    reply.matchesRequest = expect(rend.hdr);
    reply.reason = `the client sent to ${p.hdr.dst}${hasPorts(p.hdr.proto) ? `:${p.hdr.dport}` : ''} but the reply comes from ${rend.hdr.src}${hasPorts(rend.hdr.proto) ? `:${rend.hdr.sport}` : ''}: no socket expects it (${rend.reason})${answer.note ? `; why: ${answer.note}` : ''}`;
  }
  out.reply = reply;
  if (req.establish && p.hdr.proto === IPPROTO.TCP && rend.kind === 'delivered' && reply.matchesRequest) {
    // tcp_rcv_synsent_state_process → tcp_send_ack: the third packet of the handshake
    const ack: FlowHeaders = { ...p.hdr, tcpFlags: TCP_FLAG.ACK, length: ACK_LENGTH };
    const quiet = new StepRecorder();
    walk(world, run, run.send(p.src.netns, ack, quiet), quiet, []);
  }
  return out;
}

/**
 * The error a refusing namespace sends back (ICMP fragmentation needed, time exceeded, port
 * unreachable, REJECT's ICMP or RST, a closed port's RST), walked hop by hop to the sender like a
 * reply: conntrack on the way rewrites it (RELATED, nf_nat_icmp_reply_translation for the ICMP
 * quote). `matchesRequest`: the sender's socket recognises it — the RST comes from the address and
 * port it sent to, or the ICMP error quotes the packet exactly as the socket sent it.
 */
function errorReply(world: World, run: FabricRun, p: Prepared, e: ErrorToSend, rec: StepRecorder): ErrorReply {
  const v = run.sendError(e, rec);
  const w = walk(world, run, v, rec, []);
  const reply: ErrorReply = {
    disposition: w.disposition,
    reason: w.reason,
    received: null,
    hops: w.hops,
    error: {
      kind: e.error.kind === 'icmp' ? 'icmp' : 'tcp-reset',
      from: { node: world.fabric.get(e.netns).spec.node, netns: e.netns },
      sent: fiveTuple(e.error.packet),
      ...(e.error.kind === 'icmp' ? { type: e.error.packet.icmpType ?? 0, code: e.error.packet.icmpCode ?? 0, quoted: fiveTuple(e.error.about) } : {}),
      ...(e.error.mtu !== undefined ? { mtu: e.error.mtu } : {}),
      text: e.error.text,
    },
  };
  const end = w.last.end;
  const sent = p.hdr;
  const samePorts = (h: FlowHeaders) => !hasPorts(h.proto) || (h.sport === sent.sport && h.dport === sent.dport);
  if (end.kind === 'delivered') {
    reply.received = fiveTuple(end.hdr);
    if (end.quoted) {
      reply.quoted = fiveTuple(end.quoted);
      reply.matchesRequest = end.quoted.src === sent.src && end.quoted.dst === sent.dst && samePorts(end.quoted);
    } else {
      reply.matchesRequest = end.hdr.src === sent.dst && end.hdr.dst === sent.src && (!hasPorts(end.hdr.proto) || (end.hdr.sport === sent.dport && end.hdr.dport === sent.sport));
    }
    if (w.last.netns !== p.src.netns) {
      reply.matchesRequest = false;
      reply.disposition = 'no-listener';
      reply.reason = `the ${reply.error.kind === 'icmp' ? 'ICMP error' : 'reset'} reached ${w.last.netns}, not the client ${p.src.label}`;
    } else {
      reply.reason = `${e.error.text.replace(/^\w+: /, '')} from ${e.netns}, received by ${p.src.label}`;
    }
  } else if (end.kind === 'failed') {
    reply.received = w.last.netns === p.src.netns ? fiveTuple(end.hdr) : null;
    if (w.last.netns === p.src.netns) reply.matchesRequest = false;
  }
  return reply;
}

/** IP total length of Linux's bare ACK: 20 (IPv4) + 20 (TCP) + 12 (nop, nop, timestamps). */
const ACK_LENGTH = 52;

/**
 * The error path of an outcome whose request was refused (INTERFACES.md §3 `reply`, extended):
 * `error` says what the refusing namespace sent; `quoted` is the header the ICMP error quotes as
 * the sender received it.
 */
export interface ErrorReply extends Reply {
  error: {
    kind: 'icmp' | 'tcp-reset';
    from: { node: string; netns: string };
    /** The error as generated, before the sender's own conntrack rewrote it. */
    sent: FiveTuple;
    type?: number;
    code?: number;
    mtu?: number;
    /** The refused packet as the refusing namespace had it (what it quotes before any un-NAT). */
    quoted?: FiveTuple;
    text: string;
  };
  quoted?: FiveTuple;
}

export interface TraceResult {
  readonly trace: Trace;
  /** Each outcome's run (its conntrack and learned state), in outcome order. */
  readonly runs: readonly FabricRun[];
}

/** Traces a request through the World: every outcome with `all`, else one seeded outcome. */
export function traceRequest(world: World, req: TraceRequest): TraceResult {
  const p = prepare(world, req);
  const seed = req.seed ?? 1;
  const results: (Outcome & { run: FabricRun })[] = req.all
    ? enumerateBranches((chooser) => runOnce(world, p, req, chooser, seed), req.limit !== undefined ? { limit: req.limit } : {}).map((b) => ({ ...b.result, probability: b.probability }))
    : [runOnce(world, p, req, new SeededChooser(new Rng(seed)), seed)];
  const runs = results.map((r) => r.run);
  const outcomes: Outcome[] = results.map(({ run: _run, ...o }) => o);
  return { trace: { request: { from: p.src.label, to: p.dst.label, proto: p.dst.proto, ...(req.size !== undefined ? { size: req.size } : {}) }, outcomes }, runs };
}

/** Exit status of `podpath trace`: 0 when every outcome is delivered (and its reply, when traced, reaches the client as expected). */
export function traceDelivered(trace: Trace): boolean {
  return trace.outcomes.every((o) => o.disposition === 'delivered' && (!o.reply || (o.reply.disposition === 'delivered' && o.reply.matchesRequest !== false)));
}

