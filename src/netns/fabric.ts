/**
 * Network namespaces with devices, wired together: veth pairs between namespaces, L2 segments
 * between NICs, bridges inside a namespace, VXLAN devices that encapsulate into the underlay.
 * A namespace takes a frame on a device and returns what it does with it: a frame handed to the
 * next namespace, a local delivery, or a failure with its reason; every decision is reported as a
 * step through the TraceRecorder by the code that makes it.
 *
 * Configuration (devices, FIB, neighbours, FDB, rulesets, sysctls) is compiled once into the
 * Fabric; a `FabricRun` holds what packets change (conntrack, learned FDB and neighbour entries,
 * sockets) so every run — every `--all` branch — starts from the same state.
 */
import { Rng, VirtualClock, formatIp, ipEquals, parseIp, type Chooser, type Ip } from '../base/index.js';
import { ConntrackTable, type Timeouts } from '../conntrack/index.js';
import { IpsetStore, NthState, RecentStore, compileRuleset, emptyRuleset, type CompiledRuleset, type IpsetLookup } from '../netfilter/index.js';
import { ETHERTYPE, ICMP_TYPE, ICMP_UNREACH, icmpError, ipipEncap, isIcmpErrorType, vxlanEncap, decap, type EthernetHeader, type Packet } from '../packet/index.js';
import { DEFAULT_TTL, IPPROTO, TCP_FLAG, createSkb, formatFlow, hasPorts, headersOfPacket, packetOfHeaders, writeHeaders, type FlowHeaders } from '../packet/skb.js';
import { answerArp, type Rib } from '../routing/index.js';
import type { Disposition, TraceRecorder } from '../trace/index.js';
import { IPIP_OVERHEAD, udpFlowSrcPort, VXLAN_OVERHEAD, type Device, type FdbEntry, type IpipDevice, type VxlanDevice } from './devices.js';
import { conntrackNeeded, type NetfilterHost, type NetfilterHostConfig, type NetfilterHostState } from './host.js';
import { bridgeReceive, icmpSend, localOut, receive, tcpReset, type NetnsSkb, type PassResult, type PipelineCtx, type SentError } from './pipeline.js';
import { quotedOf, writeSkbFrame } from './icmp-frame.js';
import type { NetnsIpvs } from './ipvs-hook.js';
import { fragmentDatagram } from './fragment.js';
import { ribAddresses, ribRoute } from './rib-route.js';
import { applySysctlsToRib, conntrackTimeouts } from './sysctls.js';

export type NetnsRole = 'node' | 'pod' | 'router' | 'client';

/** The sysctls the datapath reads (net.ipv4.*, net.bridge.*), per namespace. */
export interface Sysctls {
  /** net.ipv4.ip_forward */
  readonly ipForward: boolean;
  /** net.ipv4.conf.all.rp_filter; the effective value on a device is max(all, dev) (IN_DEV_RPFILTER). */
  readonly rpFilter: 0 | 1 | 2;
  readonly rpFilterDev?: Readonly<Record<string, 0 | 1 | 2>>;
  /** net.ipv4.conf.<dev>.accept_local = 1 */
  readonly acceptLocal: readonly string[];
  /** net.ipv4.conf.all.route_localnet (kube-proxy sets it for localhost NodePorts). */
  readonly routeLocalnet: boolean;
  /** net.ipv4.conf.<dev>.route_localnet = 1 */
  readonly routeLocalnetDev?: readonly string[];
  /** net.bridge.bridge-nf-call-iptables (per netns; 1 once br_netfilter is loaded). */
  readonly bridgeNfCallIptables: boolean;
  /** net.ipv4.conf.<dev>.proxy_arp = 1 */
  readonly proxyArp: readonly string[];
  /** net.netfilter.nf_conntrack_max and nf_conntrack_*_timeout* (seconds, by sysctl name) written by an agent. */
  readonly conntrack?: { readonly max?: number; readonly timeouts?: Readonly<Record<string, number>> };
}

/** A listening socket: a pod's containerPort, or every port (`port: null`) for a pod declaring none. */
export interface Listener {
  readonly proto: 'tcp' | 'udp' | 'sctp' | 'any';
  readonly port: number | null;
  /** Who listens: `pod/NS/NAME`, or the namespace's own name. */
  readonly owner: string;
}

export interface NetnsSpec {
  readonly name: string;
  /** The node (or router/client) this namespace belongs to, as traces show it. */
  readonly node: string;
  readonly role: NetnsRole;
  readonly devices: readonly Device[];
  readonly rib: Rib;
  readonly fdb: readonly FdbEntry[];
  readonly sysctls: Sysctls;
  /** The compiled tables, or a function compiling them when a packet first needs them (a large World compiles only the nodes a trace crosses). */
  readonly ruleset?: CompiledRuleset | (() => CompiledRuleset);
  readonly ipsets?: IpsetLookup;
  readonly listeners: readonly Listener[];
  /**
   * Addresses a userspace speaker answers ARP for on this namespace's NICs without holding them
   * (a LoadBalancer implementation in L2 mode, e.g. MetalLB's speaker). The kernel does not answer.
   */
  readonly announce?: readonly string[];
  /** IPVS virtual services (kube-proxy IPVS mode): IPVS registers its hooks in this namespace. */
  readonly ipvs?: NetnsIpvs;
}

export interface Segment {
  readonly name: string;
  readonly mtu: number;
  readonly attachments: { readonly netns: string; readonly dev: string }[];
}

/**
 * A namespace whose routing and tables are made when first needed. Its name, role and devices are
 * known from the start (links, segments, pcap interface numbers need them), and so are the IPv4
 * addresses it answers ARP for, so the ARP index of a bridge with 30,000 pods behind it builds
 * none of them. A 100,000-pod World builds the namespaces its traces enter.
 */
export interface LazyNetnsSpec {
  readonly name: string;
  readonly node: string;
  readonly role: NetnsRole;
  readonly devices: readonly Device[];
  /** What the built namespace's local routes make it answer ARP for (ArpIndex), and its proxy-ARP devices when it forwards. */
  readonly arp: ArpLocal;
  /** The whole spec, with these same devices. */
  build(): NetnsSpec;
}

/** The IPv4 addresses a namespace answers ARP for: /32 local routes, and wider local prefixes (lo's 127.0.0.0/8). */
export interface ArpLocal {
  readonly host: readonly number[];
  readonly wide: readonly { readonly net: number; readonly mask: number }[];
  /** Devices on which it answers for anything it routes (proxy_arp or a proxy entry, with forwarding on). */
  readonly proxyDevs: readonly string[];
}

/** One namespace, compiled: its netfilter host configuration is built once (when first needed for a lazy spec). */
export class Netns {
  readonly devices = new Map<string, Device>();
  readonly name: string;
  private built: NetnsSpec | undefined;
  private readonly lazy: LazyNetnsSpec | undefined;
  private parts: { vxlans: readonly VxlanDevice[]; ipips: readonly IpipDevice[]; config: NetnsConfig; timeouts: Timeouts } | undefined;
  constructor(spec: NetnsSpec | LazyNetnsSpec) {
    this.name = spec.name;
    for (const d of spec.devices) this.devices.set(d.name, d);
    if ('build' in spec) this.lazy = spec;
    else {
      this.built = spec;
      this.made();
    }
  }
  /** The namespace's spec (made now when it was given as a LazyNetnsSpec). */
  get spec(): NetnsSpec {
    if (!this.built) {
      const b = this.lazy!.build();
      if (b.name !== this.name || b.devices.length !== this.devices.size || b.devices.some((d) => this.devices.get(d.name) !== d)) throw new Error(`netns ${this.name}: built spec differs from its skeleton`);
      this.built = b;
      this.made();
    }
    return this.built;
  }
  /** Whether the spec has been made (always, for a spec given whole). */
  get isBuilt(): boolean {
    return this.built !== undefined;
  }
  private made(): NonNullable<Netns['parts']> {
    if (this.parts) return this.parts;
    if (!this.built) {
      void this.spec; // a lazy spec: making it makes the parts
      return this.parts!;
    }
    const spec = this.built;
    applySysctlsToRib(spec.sysctls, spec.rib);
    const rp = (dev: string): 0 | 1 | 2 => Math.max(spec.sysctls.rpFilter, spec.sysctls.rpFilterDev?.[dev] ?? 0) as 0 | 1 | 2;
    this.parts = {
      vxlans: [...this.devices.values()].filter((d): d is VxlanDevice => d.kind === 'vxlan'),
      ipips: [...this.devices.values()].filter((d): d is IpipDevice => d.kind === 'ipip'),
      timeouts: conntrackTimeouts(spec.sysctls),
      config: new NetnsConfig(spec.name, spec.ruleset, {
        addresses: ribAddresses(spec.rib),
        route: ribRoute(spec.rib, { rpFilter: rp }),
        ipsets: spec.ipsets ?? new IpsetStore(),
        mtu: (dev) => this.devices.get(dev)?.mtu ?? null,
        ...(spec.ipvs ? { ipvs: spec.ipvs } : {}),
      }),
    };
    return this.parts;
  }
  /** The VXLAN and ipip devices, in device order (the receive handlers look them up per packet). */
  get vxlans(): readonly VxlanDevice[] {
    return this.made().vxlans;
  }
  get ipips(): readonly IpipDevice[] {
    return this.made().ipips;
  }
  get config(): NetnsConfig {
    return this.made().config;
  }
  /** Conntrack timeouts: the kernel's defaults with this namespace's nf_conntrack sysctls. */
  get timeouts(): Timeouts {
    return this.made().timeouts;
  }
  /** What it answers ARP for: from a lazy spec's hint until built, then from its routes. */
  arpLocal(): ArpLocal {
    if (!this.built && this.lazy) return this.lazy.arp;
    return arpLocalOf(this.spec);
  }
  device(name: string): Device | undefined {
    return this.devices.get(name);
  }
  private vxlanFdb: Map<string, FdbEntry> | null = null;
  /** The first static FDB entry of a VXLAN device for a MAC that has a remote destination (what vxlan_find_mac gives). */
  remoteOf(dev: string, mac: string): FdbEntry | undefined {
    if (!this.vxlanFdb) {
      this.vxlanFdb = new Map();
      for (const e of this.spec.fdb) {
        const key = `${e.dev}\0${e.mac}`;
        if (e.dst && !this.vxlanFdb.has(key)) this.vxlanFdb.set(key, e);
      }
    }
    return this.vxlanFdb.get(`${dev}\0${mac}`);
  }
  /** Ports of a bridge, in device order. */
  portsOf(bridge: string): Device[] {
    return [...this.devices.values()].filter((d) => d.master === bridge);
  }
}

/** ArpLocal of a built namespace: its local and anycast routes (every table), announced addresses, proxy-ARP devices. */
export function arpLocalOf(spec: NetnsSpec): ArpLocal {
  const rib = spec.rib;
  const host: number[] = [];
  const wide: { net: number; mask: number }[] = [];
  for (const r of rib.routes(4, 'all')) {
    if ((r.type !== 'local' && r.type !== 'anycast') || r.dst.network.family !== 4) continue;
    if (r.dst.prefix === 32) host.push(r.dst.network.n);
    else {
      const mask = r.dst.prefix === 0 ? 0 : (~0 << (32 - r.dst.prefix)) >>> 0;
      wide.push({ net: (r.dst.network.n & mask) >>> 0, mask });
    }
  }
  for (const a of spec.announce ?? []) {
    const ip = parseIp(a);
    if (ip.family === 4) host.push(ip.n);
  }
  const proxyDevs = rib.forwarding[4] ? [...new Set([...rib.proxyArp, ...rib.neigh.proxyEntries().map((p) => p.dev)])] : [];
  return { host, wide, proxyDevs };
}

/**
 * A namespace's netfilter configuration. The compiled ruleset (and whether it makes the kernel load
 * conntrack) is made on first use when the spec gives a function: building a 1,000-node World then
 * costs no ruleset compilation for the nodes no trace enters.
 */
class NetnsConfig implements NetfilterHostConfig {
  readonly family = 4 as const;
  readonly addresses: NetfilterHostConfig['addresses'];
  readonly route: NetfilterHostConfig['route'];
  readonly ipsets: NetfilterHostConfig['ipsets'];
  readonly mtu: NonNullable<NetfilterHostConfig['mtu']>;
  readonly ipvs?: NetfilterHostConfig['ipvs'];
  private compiled: CompiledRuleset | undefined;
  private ct: boolean | undefined;
  constructor(
    readonly name: string,
    private readonly source: NetnsSpec['ruleset'],
    parts: Pick<NetfilterHostConfig, 'addresses' | 'route' | 'ipsets' | 'ipvs'> & { mtu: NonNullable<NetfilterHostConfig['mtu']> },
  ) {
    this.addresses = parts.addresses;
    this.route = parts.route;
    this.ipsets = parts.ipsets;
    this.mtu = parts.mtu;
    if (parts.ipvs) this.ipvs = parts.ipvs;
    if (typeof source !== 'function') this.compiled = source ?? compileRuleset(emptyRuleset(4));
  }
  get ruleset(): CompiledRuleset {
    if (!this.compiled) this.compiled = (this.source as () => CompiledRuleset)();
    return this.compiled;
  }
  /** Replaces the compiled ruleset (benchmarks compare an index-less one). */
  set ruleset(rs: CompiledRuleset) {
    this.compiled = rs;
    this.ct = undefined;
  }
  get conntrack(): boolean {
    if (this.ct === undefined) this.ct = conntrackNeeded(this.ruleset);
    return this.ct;
  }
  /** Whether the ruleset has been compiled yet. */
  get compiledYet(): boolean {
    return this.compiled !== undefined;
  }
}

/** The namespaces and the links between them. */
export class Fabric {
  readonly netns = new Map<string, Netns>();
  readonly segments = new Map<string, Segment>();

  addSegment(name: string, mtu: number): Segment {
    const s: Segment = { name, mtu, attachments: [] };
    this.segments.set(name, s);
    return s;
  }

  add(spec: NetnsSpec | LazyNetnsSpec): Netns {
    const ns = new Netns(spec);
    this.netns.set(spec.name, ns);
    for (const d of spec.devices) if (d.kind === 'eth') this.segments.get(d.segment)?.attachments.push({ netns: spec.name, dev: d.name });
    return ns;
  }

  get(name: string): Netns {
    const ns = this.netns.get(name);
    if (!ns) throw new Error(`no netns ${name}`);
    return ns;
  }

  private readonly arpIndexes = new Map<string, ArpIndex>();

  /**
   * The namespaces behind a bridge's veth ports (in port order), indexed by the addresses that can
   * make them answer an ARP request. Built on first use: the configuration does not change after.
   */
  bridgeArpIndex(ns: Netns, bridge: string): ArpIndex {
    const key = `bridge\0${ns.name}\0${bridge}`;
    let index = this.arpIndexes.get(key);
    if (!index) {
      const entries: ArpEntry[] = [];
      for (const p of ns.portsOf(bridge)) {
        if (p.kind !== 'veth') continue;
        const peer = this.netns.get(p.peer.netns);
        const pd = peer?.device(p.peer.dev);
        if (peer && pd) entries.push({ netns: peer, dev: pd.name, mac: pd.mac, port: p.name });
      }
      this.arpIndexes.set(key, (index = new ArpIndex(entries)));
    }
    return index;
  }

  /** The NICs attached to a segment (in attachment order), indexed like a bridge's ports. */
  segmentArpIndex(seg: Segment): ArpIndex {
    const key = `segment\0${seg.name}`;
    let index = this.arpIndexes.get(key);
    if (!index || index.entries.length !== seg.attachments.length) {
      const entries: ArpEntry[] = [];
      for (const a of seg.attachments) {
        const other = this.get(a.netns);
        entries.push({ netns: other, dev: a.dev, mac: other.device(a.dev)!.mac, port: a.dev });
      }
      this.arpIndexes.set(key, (index = new ArpIndex(entries)));
    }
    return index;
  }

  run(chooser: Chooser, seed = 1): FabricRun {
    return new FabricRun(this, chooser, seed);
  }
}

/** A device on an L2 domain whose namespace may answer ARP: `port` is the bridge port it sits behind (a segment: the NIC itself). */
export interface ArpEntry {
  readonly netns: Netns;
  readonly dev: string;
  readonly mac: string;
  readonly port: string;
}

/**
 * Which namespaces of an L2 domain can answer an ARP request for a target, so that arp_process is
 * asked only of those (the answers are the same: the others would return none). arp_process answers
 * when the target routes as local (a `local` or `anycast` route of some table covers it: indexed by
 * address, or by prefix when wider than /32), or, with forwarding on, by proxy ARP on the device or
 * a proxy entry for it (such namespaces are always asked); a userspace announcer answers for its
 * addresses. Candidates come in the domain's order.
 */
export class ArpIndex {
  private readonly byHost = new Map<number, number[]>();
  /** Local routes wider than /32 (lo's 127.0.0.0/8 in every namespace), grouped by prefix: few distinct ones. */
  private readonly wide = new Map<string, { readonly net: number; readonly mask: number; readonly list: number[] }>();
  private readonly always: number[] = [];
  constructor(readonly entries: readonly ArpEntry[]) {
    const seen = new Map<Netns, ArpLocal>();
    entries.forEach((e, i) => {
      let local = seen.get(e.netns);
      if (!local) seen.set(e.netns, (local = e.netns.arpLocal()));
      if (local.proxyDevs.includes(e.dev)) {
        this.always.push(i);
        return;
      }
      for (const n of new Set(local.host)) {
        const l = this.byHost.get(n);
        if (l) l.push(i);
        else this.byHost.set(n, [i]);
      }
      for (const w of local.wide) {
        const key = `${w.net}/${w.mask}`;
        const g = this.wide.get(key);
        if (g) g.list.push(i);
        else this.wide.set(key, { ...w, list: [i] });
      }
    });
  }

  private macs: Map<string, ArpEntry[]> | null = null;
  /** The entries whose device has `mac`, in domain order. */
  byMac(mac: string): readonly ArpEntry[] {
    if (!this.macs) {
      this.macs = new Map();
      for (const e of this.entries) {
        const l = this.macs.get(e.mac);
        if (l) l.push(e);
        else this.macs.set(e.mac, [e]);
      }
    }
    return this.macs.get(mac) ?? [];
  }

  /** The entries that may answer for `target`, in domain order (every entry for a non-IPv4 target). */
  candidates(target: Ip): ArpEntry[] {
    if (target.family !== 4) return [...this.entries];
    const idx = new Set<number>(this.always);
    for (const i of this.byHost.get(target.n) ?? []) idx.add(i);
    for (const w of this.wide.values()) if (((target.n & w.mask) >>> 0) === w.net) for (const i of w.list) idx.add(i);
    return [...idx].sort((a, b) => a - b).map((i) => this.entries[i]!);
  }
}

/** What a namespace did with a packet. */
export type VisitEnd =
  /** `fragments`: the frames that really crossed the link when the datagram `frame` was fragmented (ip_do_fragment). */
  | { readonly kind: 'next'; readonly netns: string; readonly dev: string; readonly frame: Packet; readonly fragments?: readonly Packet[] }
  | { readonly kind: 'delivered'; readonly owner: string; readonly hdr: FlowHeaders; readonly socket: 'listener' | 'connected' | 'kernel' | 'icmp-error'; readonly quoted?: FlowHeaders }
  | { readonly kind: 'failed'; readonly disposition: Exclude<Disposition, 'delivered' | 'exits-cluster'>; readonly reason: string; readonly hdr: FlowHeaders; readonly error?: ErrorToSend }
  | { readonly kind: 'ignored'; readonly reason: string };

/** An ICMP error or TCP reset a namespace sends back about the packet it refused, ready to send. */
export interface ErrorToSend {
  readonly netns: string;
  readonly error: SentError;
  /** The datagram as generated (ICMP: outer IPv4 + ICMP + the quoted packet; RST: IPv4 + TCP). */
  readonly frame: Packet;
}

export interface Visit {
  readonly netns: string;
  readonly node: string;
  readonly in: string | null;
  readonly out: string | null;
  readonly packetIn: Packet;
  readonly packetOut: Packet | null;
  readonly end: VisitEnd;
  readonly masqueraded: boolean;
  /** The datagram arrived as these fragments (the frames on `in`); the visit followed the reassembled datagram. */
  readonly fragmentsIn?: readonly Packet[];
  /** The datagram left as these fragments (the frames on `out`). */
  readonly fragmentsOut?: readonly Packet[];
}

interface NsState extends NetfilterHostState {
  /** Learned bridge FDB: bridge → MAC → port. */
  readonly fdb: Map<string, Map<string, string>>;
  /** Learned neighbours (REACHABLE): `dev ip` → MAC. */
  readonly neigh: Map<string, string>;
  /** Connected sockets waiting for a reply: key of the reply they expect. */
  readonly connected: Map<string, string>;
}

const MAX_NESTING = 8;

/** One run over the fabric: per-namespace state is made when a namespace is first visited. */
export class FabricRun {
  private readonly states = new Map<string, NsState>();
  constructor(
    readonly fabric: Fabric,
    readonly chooser: Chooser,
    private readonly seed: number,
  ) {}

  state(name: string): NsState {
    let s = this.states.get(name);
    if (!s) {
      const clock = new VirtualClock(0);
      s = { ct: new ConntrackTable({ clock, timeouts: this.fabric.get(name).timeouts }), recent: new RecentStore(), nth: new NthState(), clock, rng: new Rng(this.seed), fdb: new Map(), neigh: new Map(), connected: new Map() };
      this.states.set(name, s);
    }
    return s;
  }

  /** Conntrack entries of a namespace after this run (`conntrack -L`). */
  conntrack(name: string): ConntrackTable | null {
    return (this.states.get(name)?.ct as ConntrackTable | undefined) ?? null;
  }

  /** Learned bridge FDB entries of a namespace after this run. */
  learnedFdb(name: string): FdbEntry[] {
    const out: FdbEntry[] = [];
    for (const [bridge, m] of this.states.get(name)?.fdb ?? []) for (const [mac, port] of m) out.push({ mac, dev: port, master: bridge, self: false, permanent: false });
    return out;
  }

  /** A connected socket in `netns` for the flow `h` (as sent): the reply to it will find it. */
  connect(netns: string, h: FlowHeaders, owner: string): void {
    this.state(netns).connected.set(replyKey(h), owner);
  }

  private host(ns: Netns): NetfilterHost {
    return { config: ns.config, state: this.state(ns.name) };
  }

  /**
   * A socket in `netns` sends `h` (ip_local_out). The source address must be set by the caller
   * (the tracer picks it as the kernel would, from the route).
   */
  send(netns: string, h: FlowHeaders, rec: TraceRecorder): Visit {
    const ns = this.fabric.get(netns);
    const frame = packetOfHeaders(h);
    const skb = createSkb<never>(h) as NetnsSkb;
    const ctx: PipelineCtx = { host: this.host(ns), chooser: this.chooser, rec };
    rec.add({ kind: 'note', text: `socket sends ${formatFlow(h)} (${h.length} bytes)` });
    const r = localOut(ctx, skb);
    return this.after(ns, ctx, r, frame, null, frame, 0);
  }

  /**
   * The ICMP error or TCP reset a namespace sends about a packet it refused: a locally generated
   * packet (ip_local_out) carrying the refused packet's conntrack when the sender attached it
   * (nf_ct_attach), so OUTPUT/POSTROUTING rewrite it like a reply of the connection.
   */
  sendError(e: ErrorToSend, rec: TraceRecorder): Visit {
    const ns = this.fabric.get(e.netns);
    const skb = createSkb<never>(e.error.packet) as NetnsSkb;
    if (e.error.ct) skb.ct = e.error.ct;
    const q = quotedOf(e.frame);
    if (q) skb.quoted = q;
    const ctx: PipelineCtx = { host: this.host(ns), chooser: this.chooser, rec };
    rec.add({ kind: 'note', text: `${e.error.text}${q ? ` quoting ${formatFlow(q)}` : ''}${e.error.ct ? ' (nf_ct_attach: the connection\'s conntrack entry, RELATED)' : ''}` });
    const r = localOut(ctx, skb);
    return this.after(ns, ctx, r, e.frame, null, e.frame, 0);
  }

  /** A frame arrives on `dev` of `netns` (netif_receive_skb). */
  input(netns: string, dev: string, frame: Packet, rec: TraceRecorder, fragments?: readonly Packet[]): Visit {
    const ns = this.fabric.get(netns);
    const frags = fragments && fragments.length > 1 ? fragments : null;
    const v = this.rx(ns, dev, frame, rec, frame, 0, frags);
    return frags ? { ...v, fragmentsIn: frags } : v;
  }

  private visit(ns: Netns, inDev: string | null, packetIn: Packet, out: string | null, packetOut: Packet | null, end: VisitEnd, masq = false): Visit {
    return { netns: ns.name, node: ns.spec.node, in: inDev, out, packetIn, packetOut, end, masqueraded: masq };
  }

  private rx(ns: Netns, dev: string, frame: Packet, rec: TraceRecorder, packetIn: Packet, depth: number, frags: readonly Packet[] | null = null): Visit {
    const d = ns.device(dev);
    if (d?.kind === 'ipip' && frame.layers[0]?.kind === 'ipv4') {
      // a tunnel device has no link header (ARPHRD_TUNNEL): ip_tunnel_rcv hands the inner packet up as it is
      const h = headersOfPacket(frame)!;
      const ctx: PipelineCtx = { host: this.host(ns), chooser: this.chooser, rec };
      const skb = withFrags(createSkb<never>(h, { inDev: dev }) as NetnsSkb, frags);
      const r = receive(ctx, skb);
      return this.after(ns, ctx, r, frame, dev, packetIn, depth);
    }
    const eth = frame.layers[0]?.kind === 'ethernet' ? (frame.layers[0] as EthernetHeader) : null;
    if (!d || !eth) return this.visit(ns, dev, packetIn, null, null, { kind: 'ignored', reason: `no device ${dev}` });
    const h = headersOfPacket(frame);
    if (!h) return this.visit(ns, dev, packetIn, null, null, { kind: 'ignored', reason: 'not an IP frame' });
    const ctx: PipelineCtx = { host: this.host(ns), chooser: this.chooser, rec };
    const ipFrame = decap(frame, 1);
    if (d.master) {
      // br_handle_frame (net/bridge/br_input.c): learn the source, then deliver up or forward.
      const bridge = ns.device(d.master)!;
      const st = this.state(ns.name);
      learn(st, bridge.name, eth.src, dev);
      const toBridge = eth.dst === bridge.mac;
      rec.add({ kind: 'bridge', bridge: bridge.name, port: dev, text: `br_handle_frame: ${bridge.name} learns ${eth.src} on ${dev}; ${toBridge ? `destination ${eth.dst} is ${bridge.name} itself: up to the IP stack` : `destination ${eth.dst}`}` });
      const skb = withFrags(withQuote(createSkb<never>(h, { inDev: bridge.name }) as NetnsSkb, frame), frags);
      const sel: { b: { mac: string; port: string } | null } = { b: null };
      const portCheck = (s: NetnsSkb): string | null => {
        const mac = toBridge || s.hdr.dst !== h.dst ? this.resolve(ns, bridge.name, s.hdr.dst, ctx.rec) : eth.dst;
        if (!mac) return `no neighbour answers for ${s.hdr.dst} on ${bridge.name}`;
        const port = st.fdb.get(bridge.name)?.get(mac) ?? null;
        if (!port) return `no FDB entry for ${mac} on ${bridge.name}`;
        if (port === dev && !d.port?.hairpin) return `${mac} is behind the input port ${dev}, which has hairpin off: the bridge does not send a frame back where it came from (should_deliver)`;
        sel.b = { mac, port };
        return null;
      };
      if (!ns.spec.sysctls.bridgeNfCallIptables) {
        if (toBridge) {
          const r = receive(ctx, skb);
          return this.after(ns, ctx, r, ipFrame, dev, packetIn, depth);
        }
        const refused = portCheck(skb);
        if (refused) return this.visit(ns, dev, packetIn, null, null, { kind: 'failed', disposition: 'dropped', reason: refused, hdr: h });
        return this.bridgeOut(ns, dev, packetIn, frame, sel.b!, rec, false, frags);
      }
      const r = bridgeReceive(ctx, skb, { bridge: bridge.name, toBridge, port: portCheck });
      if (r.disposition === 'transmitted' && r.bridged && sel.b) {
        const b = sel.b;
        const out = writeSkbFrame(frame, r.skb.hdr, r.skb.quoted);
        out.layers[0] = { ...eth, dst: b.mac };
        // br_nf_dev_queue_xmit: a datagram br_netfilter reassembled leaves as fragments of frag_max_size again
        const outFrags = frags ? frags.map((f) => ({ ...f, layers: [{ ...(f.layers[0] as EthernetHeader), dst: b.mac }, ...f.layers.slice(1)] })) : null;
        return this.bridgeOut(ns, dev, packetIn, out, b, rec, r.masqueraded, outFrags);
      }
      return this.after(ns, ctx, r, ipFrame, dev, packetIn, depth);
    }
    // eth_type_trans: a unicast frame for another MAC is PACKET_OTHERHOST, dropped by ip_rcv.
    if (eth.dst !== d.mac && eth.dst !== 'ff:ff:ff:ff:ff:ff') return this.visit(ns, dev, packetIn, null, null, { kind: 'ignored', reason: `frame for ${eth.dst}, not ${d.mac}` });
    const skb = withFrags(withQuote(createSkb<never>(h, { inDev: dev }) as NetnsSkb, frame), frags);
    const r = receive(ctx, skb);
    return this.after(ns, ctx, r, ipFrame, dev, packetIn, depth);
  }

  private bridgeOut(ns: Netns, inDev: string, packetIn: Packet, frame: Packet, b: { mac: string; port: string }, rec: TraceRecorder, masq = false, frags: readonly Packet[] | null = null): Visit {
    rec.add({ kind: 'bridge', bridge: ns.device(inDev)?.master ?? '?', port: b.port, text: `br_forward: ${b.mac} → port ${b.port}` });
    return this.xmitFrame(ns, inDev, packetIn, b.port, frame, rec, masq, frags);
  }

  /** A frame leaves by a veth or a NIC: it arrives in the peer namespace, or at the segment's owner of its MAC. */
  private xmitFrame(ns: Netns, inDev: string | null, packetIn: Packet, dev: string, frame: Packet, rec: TraceRecorder, masq = false, frags: readonly Packet[] | null = null): Visit {
    const v = this.xmitOne(ns, inDev, packetIn, dev, frame, masq, frags);
    return frags ? { ...v, fragmentsOut: frags } : v;
  }

  private xmitOne(ns: Netns, inDev: string | null, packetIn: Packet, dev: string, frame: Packet, masq: boolean, frags: readonly Packet[] | null): Visit {
    const d = ns.device(dev)!;
    const eth = frame.layers[0] as EthernetHeader;
    const fragments = frags ? { fragments: frags } : {};
    if (d.kind === 'veth') return this.visit(ns, inDev, packetIn, dev, frame, { kind: 'next', netns: d.peer.netns, dev: d.peer.dev, frame, ...fragments }, masq);
    if (d.kind === 'eth') {
      const seg = this.fabric.segments.get(d.segment);
      const to = seg ? this.fabric.segmentArpIndex(seg).byMac(eth.dst).find((a) => !(a.netns === ns && a.dev === dev)) : undefined;
      if (!to) return this.visit(ns, inDev, packetIn, dev, frame, { kind: 'failed', disposition: 'neighbour-unreachable', reason: `nothing on segment ${d.segment} has MAC ${eth.dst}`, hdr: headersOfPacket(frame)! });
      return this.visit(ns, inDev, packetIn, dev, frame, { kind: 'next', netns: to.netns.name, dev: to.dev, frame, ...fragments }, masq);
    }
    return this.visit(ns, inDev, packetIn, dev, frame, { kind: 'failed', disposition: 'dropped', reason: `${dev} (${d.kind}) does not transmit`, hdr: headersOfPacket(frame)! });
  }

  /** After one pass of the IP path: deliver locally, transmit, or fail. */
  private after(ns: Netns, ctx: PipelineCtx, r: PassResult, ipFrame: Packet, inDev: string | null, packetIn: Packet, depth: number, wire: readonly Packet[] | null = null): Visit {
    const rec = ctx.rec;
    const h = r.skb.hdr;
    switch (r.disposition) {
      case 'delivered':
        return this.deliver(ns, ctx, r, ipFrame, inDev, packetIn, depth);
      case 'transmitted':
        return this.transmit(ns, ctx, r, writeSkbFrame(ipFrame, h, r.skb.quoted), inDev, packetIn, depth, wire);
      case 'mtu-exceeded':
        return this.visit(ns, inDev, packetIn, r.mtu?.dev ?? null, null, { kind: 'failed', disposition: 'mtu-exceeded', reason: r.reason ?? 'MTU exceeded', hdr: h, ...this.errorOf(ns, r, ipFrame) });
      case 'dropped':
      case 'rejected':
      case 'no-route':
      case 'ttl-exceeded':
        if (r.disposition === 'no-route') rec.add({ kind: 'drop', reason: 'no-route', text: `${ns.name}: ${r.reason ?? 'no route'}` });
        return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: r.disposition, reason: r.reason ?? r.disposition, hdr: h, ...this.errorOf(ns, r, ipFrame) }, r.masqueraded);
    }
  }

  /** The error a pass decided to send back, with its datagram built (icmp_send quotes the refused packet as it is now). */
  private errorOf(ns: Netns, r: PassResult, ipFrame: Packet): { error?: ErrorToSend } {
    return r.error ? { error: buildError(ns.name, r.error, writeSkbFrame(ipFrame, r.error.about, r.skb.quoted)) } : {};
  }

  /** ip_local_deliver_finish → the protocol handler: VXLAN's UDP encap_rcv, a socket, or the kernel's own ICMP echo. */
  private deliver(ns: Netns, ctx: PipelineCtx, r: PassResult, ipFrame: Packet, inDev: string | null, packetIn: Packet, depth: number): Visit {
    const h = r.skb.hdr;
    const rec = ctx.rec;
    if (h.proto === IPPROTO.UDP) {
      const vx = ns.vxlans.find((d) => d.dstport === h.dport && ns.spec.rib.isLocalAddress(parseIp(h.dst)));
      if (vx) {
        // vxlan_rcv (drivers/net/vxlan/vxlan_core.c): the VNI picks the device; the inner frame is received on it.
        const framed = writeHeaders(ipFrame, h);
        const vxl = framed.layers[2];
        if (vxl?.kind !== 'vxlan' || framed.layers[3]?.kind !== 'ethernet') return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'dropped', reason: 'UDP to the VXLAN port without a VXLAN header', hdr: h });
        if (vxl.vni !== vx.vni) return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'dropped', reason: `vxlan_rcv: no device for VNI ${vxl.vni}`, hdr: h });
        const inner = decap(framed, 3);
        rec.add({ kind: 'decap', dev: vx.name, outer: `${h.src}:${h.sport} > ${h.dst}:${h.dport} vni ${vxl.vni}`, text: `vxlan_rcv: VNI ${vxl.vni} on UDP ${h.dport} → ${vx.name}, inner ${innerSummary(inner)}` });
        if (depth >= MAX_NESTING) return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'loop', reason: 'too many nested encapsulations', hdr: h });
        // the packets that carried the inner datagram's fragments, each decapsulated on its own
        const innerFrags = r.skb.frames?.map((f) => decap(f, 4)) ?? null;
        const v = this.rx(ns, vx.name, inner, rec, packetIn, depth + 1, innerFrags && innerFrags.length > 1 ? innerFrags : null);
        return { ...v, in: inDev };
      }
    }
    if (h.proto === IPIP_PROTO) {
      // tunnel4_rcv → ipip_rcv → ip_tunnel_lookup: a tunnel matching the outer addresses, else the
      // fallback tunl0; ip_tunnel_rcv receives the inner packet on it (skb_scrub_packet: no conntrack)
      const tun = ipipLookup(ns, h);
      if (!tun) {
        const reason = `tunnel4_rcv: no ipip tunnel takes ${h.src} > ${h.dst} (no tunl0: the ipip module is not loaded); ICMP port unreachable`;
        rec.add({ kind: 'drop', reason: 'no ipip tunnel', text: reason });
        const sent = icmpSend(ctx, r.skb, true, ICMP_TYPE.DEST_UNREACH, ICMP_UNREACH.PORT);
        return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'dropped', reason, hdr: h, ...(sent ? { error: buildError(ns.name, sent, writeSkbFrame(ipFrame, h)) } : {}) });
      }
      const framed = writeHeaders(ipFrame, h);
      const inner = decap(framed, 1);
      rec.add({ kind: 'decap', dev: tun.name, outer: `${h.src} > ${h.dst} proto 4`, text: `ipip_rcv: ${h.src} > ${h.dst} protocol 4 → ${tun.name}, inner ${innerSummary(inner)}` });
      if (depth >= MAX_NESTING) return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'loop', reason: 'too many nested encapsulations', hdr: h });
      const v = this.rx(ns, tun.name, inner, rec, packetIn, depth + 1);
      return { ...v, in: inDev };
    }
    const st = this.state(ns.name);
    const quoted = r.skb.quoted;
    if (h.proto === IPPROTO.ICMP && h.icmpType !== undefined && isIcmpErrorType(h.icmpType) && quoted) {
      // icmp_rcv → icmp_unreach → the protocol's err_handler (tcp_v4_err, __udp4_lib_err, ping_err)
      // finds the socket by the quoted header, as the socket sent it
      const to = st.connected.get(replyKey(quoted));
      if (to) {
        const effect = h.icmpType === ICMP_TYPE.DEST_UNREACH && h.icmpCode === ICMP_UNREACH.FRAG_NEEDED ? 'the path MTU is lowered (ip_rt_update_pmtu) and the segment resent smaller' : 'the socket reports the error (sk_err)';
        rec.add({ kind: 'deliver', to: `${to} (ICMP error)`, text: `icmp_rcv: ${formatFlow(h)} for the socket of ${to} (quoted ${formatFlow(quoted)}): ${effect}` });
        return this.visit(ns, inDev, packetIn, null, null, { kind: 'delivered', owner: to, hdr: h, socket: 'icmp-error', quoted }, r.masqueraded);
      }
      const reason = `icmp_rcv: no socket of ${ns.name} sent ${formatFlow(quoted)}: the error is ignored`;
      rec.add({ kind: 'drop', reason: 'no-listener', text: reason });
      return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'no-listener', reason, hdr: h }, r.masqueraded);
    }
    const owner = st.connected.get(flowKeyOf(h));
    if (owner) {
      rec.add({ kind: 'deliver', to: `${owner} (connected socket)`, text: `${protoText(h.proto)} socket of ${owner} receives ${formatFlow(h)}` });
      return this.visit(ns, inDev, packetIn, null, null, { kind: 'delivered', owner, hdr: h, socket: 'connected' }, r.masqueraded);
    }
    if ((h.proto === IPPROTO.ICMP && h.icmpType === 8) || (h.proto === IPPROTO.ICMPV6 && h.icmpType === 128)) {
      const me = ns.spec.listeners[0]?.owner ?? ns.name;
      rec.add({ kind: 'deliver', to: `${me} (kernel echo)`, text: `icmp_echo: the kernel of ${ns.name} answers the echo request` });
      return this.visit(ns, inDev, packetIn, null, null, { kind: 'delivered', owner: me, hdr: h, socket: 'kernel' }, r.masqueraded);
    }
    const l = hasPorts(h.proto) ? ns.spec.listeners.find((x) => (x.proto === 'any' || x.proto === protoText(h.proto)) && (x.port === null || x.port === h.dport)) : undefined;
    const flags = h.tcpFlags ?? TCP_FLAG.SYN;
    if (l && h.proto === IPPROTO.TCP && (flags & (TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.RST)) !== TCP_FLAG.SYN) {
      // tcp_rcv_state_process in LISTEN: only a SYN opens a connection; a segment with ACK is
      // answered with a reset (tcp_v4_send_reset), a RST or anything else is discarded
      const ack = (flags & TCP_FLAG.ACK) !== 0 && (flags & TCP_FLAG.RST) === 0;
      const reason = `${protoText(h.proto)} ${h.dst}:${h.dport} in ${ns.name} has a listening socket (${l.owner}) but no connection for ${h.src}:${h.sport}: tcp_rcv_state_process (LISTEN) ${ack ? 'answers the ACK with RST' : 'discards it'}`;
      rec.add({ kind: 'drop', reason: 'no-listener', text: reason });
      const error = ack ? { error: buildError(ns.name, tcpReset(r.skb, 'tcp_v4_send_reset', { attach: false }), writeSkbFrame(ipFrame, h, r.skb.quoted)) } : {};
      return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'no-listener', reason, hdr: h, ...error }, r.masqueraded);
    }
    if (l) {
      // tcp_conn_request: the SYN leaves a request socket (SYN_RECV) that takes the handshake's ACK
      if (h.proto === IPPROTO.TCP) st.connected.set(flowKeyOf(h), l.owner);
      rec.add({ kind: 'deliver', to: `${l.owner} ${protoText(h.proto)}:${h.dport}`, text: `${protoText(h.proto)} socket of ${l.owner} listening on ${l.port === null ? 'every port' : `port ${l.port}`} receives ${formatFlow(h)}` });
      return this.visit(ns, inDev, packetIn, null, null, { kind: 'delivered', owner: l.owner, hdr: h, socket: 'listener' }, r.masqueraded);
    }
    const answer = h.proto === IPPROTO.TCP ? 'tcp_v4_rcv: no socket, answers RST' : h.proto === IPPROTO.UDP ? '__udp4_lib_rcv: no socket, answers ICMP port unreachable' : 'no handler';
    const reason = `nothing listens on ${protoText(h.proto)} ${h.dst}${hasPorts(h.proto) ? `:${h.dport}` : ''} in ${ns.name} (${answer})`;
    rec.add({ kind: 'drop', reason: 'no-listener', text: reason });
    // tcp_v4_send_reset (no RST answers a RST) / icmp_send(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)
    const sent =
      h.proto === IPPROTO.TCP ? (((h.tcpFlags ?? 0) & TCP_FLAG.RST) === 0 ? tcpReset(r.skb, 'tcp_v4_send_reset', { attach: false }) : null) : h.proto === IPPROTO.UDP ? icmpSend(ctx, r.skb, true, ICMP_TYPE.DEST_UNREACH, ICMP_UNREACH.PORT) : null;
    const error = sent ? { error: buildError(ns.name, sent, writeSkbFrame(ipFrame, h, r.skb.quoted)) } : {};
    return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'no-listener', reason, hdr: h, ...error }, r.masqueraded);
  }

  /** ip_finish_output2 → neighbour output → dev_queue_xmit on the route's device. */
  private transmit(ns: Netns, ctx: PipelineCtx, r: PassResult, ipFrame: Packet, inDev: string | null, packetIn: Packet, depth: number, wire: readonly Packet[] | null = null): Visit {
    const rec = ctx.rec;
    const h = r.skb.hdr;
    const route = r.route;
    const devName = r.skb.outDev;
    const dev = devName ? ns.device(devName) : undefined;
    if (!dev || !route || route.kind !== 'unicast') return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'no-route', reason: `no output device for ${h.dst}`, hdr: h });
    if (dev.kind === 'ipip') return this.ipipXmit(ns, ctx, dev, ipFrame, r, inDev, packetIn, depth);
    const nh = route.gateway ?? h.dst;
    const mac = this.resolve(ns, dev.name, nh, rec);
    if (!mac) {
      const why = dev.kind === 'vxlan' ? `no neighbour entry for ${nh} on ${dev.name}: ARP gets no answers over a VXLAN device (flannel installs a PERMANENT entry per peer)` : `no ARP reply for ${nh} on ${dev.name}`;
      return this.visit(ns, inDev, packetIn, dev.name, null, { kind: 'failed', disposition: 'neighbour-unreachable', reason: `${ns.name}: ${why}`, hdr: h }, r.masqueraded);
    }
    const eth: EthernetHeader = { kind: 'ethernet', dst: mac, src: dev.mac, ethertype: h.family === 4 ? ETHERTYPE.IPV4 : ETHERTYPE.IPV6 };
    const frame: Packet = { layers: [eth, ...ipFrame.layers], payload: ipFrame.payload };
    // ip_finish_output → ip_fragment → ip_do_fragment: the frames that really leave (or, from a
    // tunnel, the outer packets that carry the inner fragments)
    const ipFrames = wire ?? (r.mtu && r.mtu.fragments > 1 && h.family === 4 && h.df === false ? fragmentDatagram(ipFrame, r.mtu.mtu) : null);
    const frags = ipFrames ? ipFrames.map((f): Packet => ({ layers: [eth, ...f.layers], payload: f.payload })) : null;
    switch (dev.kind) {
      case 'bridge': {
        // br_dev_xmit (net/bridge/br_device.c): FDB lookup of the destination MAC.
        const port = this.state(ns.name).fdb.get(dev.name)?.get(mac);
        if (!port) return this.visit(ns, inDev, packetIn, dev.name, null, { kind: 'failed', disposition: 'neighbour-unreachable', reason: `${dev.name}: no FDB entry for ${mac}`, hdr: h });
        rec.add({ kind: 'bridge', bridge: dev.name, port, text: `br_dev_xmit: ${mac} → port ${port}` });
        return this.xmitFrame(ns, inDev, packetIn, port, frame, rec, r.masqueraded, frags);
      }
      case 'vxlan':
        return this.vxlanXmit(ns, ctx, dev, frame, r, inDev, packetIn, depth, frags);
      case 'veth':
      case 'eth':
        return this.xmitFrame(ns, inDev, packetIn, dev.name, frame, rec, r.masqueraded, frags);
      case 'loopback':
      case 'dummy':
        return this.visit(ns, inDev, packetIn, dev.name, null, { kind: 'failed', disposition: 'dropped', reason: `${dev.name} (${dev.kind}) drops what it is given`, hdr: h });
    }
  }

  /**
   * ipip_tunnel_xmit → ip_tunnel_xmit (net/ipv4/ip_tunnel.c): the outer destination is the
   * tunnel's remote, or for an NBMA tunnel such as tunl0 the route's next hop (rt_nexthop: the
   * gateway of the route via the tunnel, else the inner destination); the outer source the
   * tunnel's local, else the one routing picks towards that destination; TTL the tunnel's, or the
   * inner packet's when it inherits (ttl 0); DF the tunnel's (pmtudisc) or the inner packet's;
   * protocol 4. Then iptunnel_xmit: skb_scrub_packet (same netns: conntrack reference dropped,
   * mark kept) and ip_local_out, so the outer packet crosses OUTPUT and POSTROUTING.
   */
  private ipipXmit(ns: Netns, ctx: PipelineCtx, dev: IpipDevice, ipFrame: Packet, r: PassResult, inDev: string | null, packetIn: Packet, depth: number): Visit {
    const rec = ctx.rec;
    const h = r.skb.hdr;
    if (h.family !== 4) return this.visit(ns, inDev, packetIn, dev.name, null, { kind: 'failed', disposition: 'dropped', reason: `${dev.name}: ipip carries IPv4 only`, hdr: h });
    const route = r.route;
    const dst = dev.remote ?? (route && route.kind === 'unicast' ? (route.gateway ?? h.dst) : null);
    if (!dst) return this.visit(ns, inDev, packetIn, dev.name, null, { kind: 'failed', disposition: 'no-route', reason: `${dev.name}: NBMA tunnel without a route next hop (tx_fifo_errors)`, hdr: h });
    const back = ns.spec.rib.lookupRoute({ dst: parseIp(dst) });
    const src = dev.local ?? (back.src ? formatIp(back.src) : null);
    if (!src) return this.visit(ns, inDev, packetIn, dev.name, null, { kind: 'failed', disposition: 'no-route', reason: `${dev.name}: no route to the tunnel endpoint ${dst}`, hdr: h });
    const ttl = dev.ttl || h.ttl;
    const df = dev.pmtudisc || h.df !== false;
    const outer: FlowHeaders = { family: 4, src, dst, proto: IPIP_PROTO, ttl, length: h.length + IPIP_OVERHEAD, df, id: 0 };
    rec.add({
      kind: 'encap',
      dev: dev.name,
      outer: `${src} > ${dst} proto 4`,
      overhead: IPIP_OVERHEAD,
      text: `ip_tunnel_xmit: ${dev.name} ${dev.remote ? `remote ${dev.remote}` : `NBMA: outer destination = the route's next hop ${dst}`}; outer IPIP ${src} > ${dst}, TTL ${ttl}${dev.ttl ? '' : ' (inherited)'}, DF ${df ? 'set' : 'clear'}${dev.pmtudisc ? '' : ' (from the inner packet)'}; mark 0x${r.skb.mark.toString(16)} kept, conntrack reference dropped`,
    });
    if (depth >= MAX_NESTING) return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'loop', reason: 'too many nested encapsulations', hdr: h });
    const skb = createSkb<never>(outer, { mark: r.skb.mark }) as NetnsSkb;
    const out = localOut({ ...ctx }, skb);
    const inner = ipFrame.layers[0]?.kind === 'ethernet' ? decap(ipFrame, 1) : ipFrame;
    const outerIp = ipipEncap(inner, { src, dst, ttl, df, id: 0 });
    const v = this.after(ns, ctx, out, outerIp, inDev, packetIn, depth + 1);
    return { ...v, masqueraded: v.masqueraded || r.masqueraded };
  }

  /**
   * vxlan_xmit → vxlan_xmit_one (drivers/net/vxlan/vxlan_core.c): the FDB gives the remote VTEP of
   * the inner destination MAC (no entry and no default destination: the frame is dropped); the
   * outer header is UDP to dstport from `local`, source port udp_flow_src_port of the inner flow,
   * TTL from the route (ttl auto: 64), DF clear, checksum per udpcsum; then udp_tunnel_xmit_skb →
   * iptunnel_xmit, whose skb_scrub_packet (same netns) drops the conntrack reference and keeps the
   * mark, and ip_local_out: the outer packet crosses OUTPUT and POSTROUTING like any local packet.
   */
  private vxlanXmit(ns: Netns, ctx: PipelineCtx, dev: VxlanDevice, frame: Packet, r: PassResult, inDev: string | null, packetIn: Packet, depth: number, innerFrags: readonly Packet[] | null = null): Visit {
    const rec = ctx.rec;
    const h = r.skb.hdr;
    const eth = frame.layers[0] as EthernetHeader;
    const fdb = ns.remoteOf(dev.name, eth.dst);
    if (!fdb) return this.visit(ns, inDev, packetIn, dev.name, null, { kind: 'failed', disposition: 'neighbour-unreachable', reason: `${dev.name}: no FDB entry for ${eth.dst} and no default destination: vxlan_xmit drops the frame`, hdr: h });
    const min = dev.srcPortMin || undefined;
    const max = dev.srcPortMax || undefined;
    // skb_get_hash of a fragment: the flow dissector stops at the IP header (no ports), for every fragment alike
    const sport = innerFrags ? udpFlowSrcPort({ src: h.src, dst: h.dst, proto: h.proto }, min, max) : udpFlowSrcPort(h, min, max);
    // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 = VXLAN_OVERHEAD in front of the inner datagram
    // (of each inner fragment: every one is encapsulated on its own, so the outer packets fit the underlay)
    const innerLen = innerFrags ? Math.max(...innerFrags.map((f) => headersOfPacket(f)?.length ?? 0)) : h.length;
    const outer: FlowHeaders = { family: 4, src: dev.local, dst: fdb.dst!, proto: IPPROTO.UDP, sport, dport: dev.dstport, ttl: dev.ttl || DEFAULT_TTL, length: innerLen + VXLAN_OVERHEAD, df: false, id: 0 };
    rec.add({ kind: 'encap', dev: dev.name, outer: `${outer.src}:${sport} > ${outer.dst}:${dev.dstport} vni ${dev.vni}`, overhead: VXLAN_OVERHEAD, text: `vxlan_xmit_one: FDB ${eth.dst} dst ${fdb.dst}; outer UDP ${outer.src}:${sport} > ${outer.dst}:${dev.dstport} VNI ${dev.vni}, TTL ${outer.ttl}, DF clear, ${dev.udpcsum ? 'UDP checksum computed' : 'UDP checksum 0'}; mark 0x${r.skb.mark.toString(16)} kept, conntrack reference dropped` });
    if (depth >= MAX_NESTING) return this.visit(ns, inDev, packetIn, null, null, { kind: 'failed', disposition: 'loop', reason: 'too many nested encapsulations', hdr: h });
    const skb = createSkb<never>(outer, { mark: r.skb.mark }) as NetnsSkb;
    const out = localOut({ ...ctx }, skb);
    const encap = (f: Packet) => decap(vxlanEncap(f, { srcMac: '00:00:00:00:00:00', dstMac: '00:00:00:00:00:00', srcIp: outer.src, dstIp: outer.dst, sport, dport: dev.dstport, vni: dev.vni, df: false, ...(dev.udpcsum ? {} : { zeroChecksum: true }) }), 1);
    const outerIp = encap(frame);
    const wire = innerFrags ? innerFrags.map((f) => writeHeaders(encap(f), out.skb.hdr)) : null;
    const v = this.after(ns, ctx, out, outerIp, inDev, packetIn, depth + 1, wire);
    return { ...v, masqueraded: v.masqueraded || r.masqueraded };
  }

  /**
   * The neighbour of `ip` on `dev` (neigh_resolve_output): a static entry (PERMANENT), one learned
   * in this run, or an ARP request answered on the device's L2 domain (arp_process: any local
   * address, arp_ignore=0; proxy ARP). Bridges learn the answer's port.
   */
  resolve(ns: Netns, dev: string, ip: string, rec: TraceRecorder): string | null {
    const st = this.state(ns.name);
    const addr = parseIp(ip);
    const stat = ns.spec.rib.neigh.get(dev, addr);
    if (stat?.lladdr && (stat.state === 'PERMANENT' || stat.state === 'NOARP' || stat.state === 'REACHABLE' || stat.state === 'STALE')) {
      rec.add({ kind: 'neigh', ip, mac: stat.lladdr, dev, text: `${ip} dev ${dev} lladdr ${stat.lladdr} ${stat.state}` });
      return stat.lladdr;
    }
    const key = `${dev} ${ip}`;
    const known = st.neigh.get(key);
    if (known) {
      rec.add({ kind: 'neigh', ip, mac: known, dev, text: `${ip} dev ${dev} lladdr ${known} REACHABLE` });
      return known;
    }
    const d = ns.device(dev);
    const sender = ns.spec.rib.selectSourceV4(dev, addr, 253) ?? parseIp('0.0.0.0');
    const mac = d ? this.arp(ns, d, addr, sender) : null;
    if (mac) st.neigh.set(key, mac);
    rec.add({ kind: 'neigh', ip, mac, dev, text: mac ? `${ip} dev ${dev} lladdr ${mac} (ARP reply)` : `${ip} dev ${dev}: no ARP reply, FAILED` });
    return mac;
  }

  private arp(ns: Netns, d: Device, target: ReturnType<typeof parseIp>, sender: ReturnType<typeof parseIp>): string | null {
    switch (d.kind) {
      case 'eth': {
        const seg = this.fabric.segments.get(d.segment);
        if (!seg) return null;
        const index = this.fabric.segmentArpIndex(seg);
        for (const a of index.candidates(target)) {
          if (a.netns === ns && a.dev === d.name) continue;
          if (answerArp(a.netns.spec.rib, { dev: a.dev, target, sender })) return a.mac;
          if (a.netns.spec.announce?.some((ip) => ipEquals(parseIp(ip), target))) return a.mac;
        }
        return null;
      }
      case 'veth': {
        const peer = this.fabric.netns.get(d.peer.netns);
        const pd = peer?.device(d.peer.dev);
        if (!peer || !pd) return null;
        if (pd.master) {
          learn(this.state(peer.name), pd.master, d.mac, pd.name);
          return this.bridgeArp(peer, pd.master, pd.name, target, sender);
        }
        return answerArp(peer.spec.rib, { dev: pd.name, target, sender }) ? pd.mac : null;
      }
      case 'bridge':
        return this.bridgeArp(ns, d.name, null, target, sender);
      case 'vxlan':
      case 'loopback':
      case 'dummy':
      case 'ipip':
        return null;
    }
  }

  private bridgeArp(ns: Netns, bridge: string, fromPort: string | null, target: ReturnType<typeof parseIp>, sender: ReturnType<typeof parseIp>): string | null {
    if (fromPort !== null && answerArp(ns.spec.rib, { dev: bridge, target, sender })) return ns.device(bridge)!.mac;
    for (const p of this.fabric.bridgeArpIndex(ns, bridge).candidates(target)) {
      if (p.port === fromPort) continue;
      if (answerArp(p.netns.spec.rib, { dev: p.dev, target, sender })) {
        learn(this.state(ns.name), bridge, p.mac, p.port);
        return p.mac;
      }
    }
    return null;
  }
}

/** The datagram of an error: icmp_send builds IPv4 + ICMP + as much of the refused packet as fits in 576 bytes; a reset is a bare TCP segment. */
function buildError(netns: string, e: SentError, about: Packet): ErrorToSend {
  if (e.kind === 'tcp-reset') return { netns, error: e, frame: packetOfHeaders(e.packet) };
  const frame = icmpError(about, { type: e.packet.icmpType ?? 3, code: e.packet.icmpCode ?? 0, src: e.packet.src, ...(e.mtu !== undefined ? { mtu: e.mtu } : {}) });
  return { netns, error: { ...e, packet: { ...e.packet, length: 28 + Math.min(e.about.length, 548) } }, frame };
}

/**
 * A datagram that arrived as fragments (ip_defrag / nf_defrag_ipv4 reassemble it): how many, and
 * the largest one's IP length (frag_max_size). Frames that are whole packets (VXLAN packets each
 * carrying an inner fragment) are only kept, for the decapsulation to find the inner fragments.
 */
/** IPPROTO_IPIP (include/uapi/linux/in.h). */
const IPIP_PROTO = 4;

/**
 * ip_tunnel_lookup (net/ipv4/ip_tunnel.c) for ipip: a tunnel whose remote and local are the outer
 * source and destination, then one with only the remote, then only the local, then the fallback
 * device (remote and local any).
 */
function ipipLookup(ns: Netns, h: FlowHeaders): IpipDevice | null {
  const tunnels = ns.ipips;
  return (
    tunnels.find((t) => t.remote === h.src && t.local === h.dst) ??
    tunnels.find((t) => t.remote === h.src && t.local === null) ??
    tunnels.find((t) => t.remote === null && t.local === h.dst) ??
    tunnels.find((t) => t.remote === null && t.local === null) ??
    null
  );
}

function withFrags(skb: NetnsSkb, frags: readonly Packet[] | null): NetnsSkb {
  if (!frags) return skb;
  skb.frames = frags;
  const ips = frags.map((f) => f.layers.find((l) => l.kind === 'ipv4'));
  if (ips.every((ip) => ip?.kind === 'ipv4' && (ip.mf || ip.fragOffset !== 0))) {
    skb.fragCount = frags.length;
    skb.fragMax = Math.max(...frags.map((f) => headersOfPacket(f)?.length ?? 0));
  }
  return skb;
}

function withQuote(skb: NetnsSkb, frame: Packet): NetnsSkb {
  const q = quotedOf(frame);
  if (q) skb.quoted = q;
  return skb;
}

function learn(st: NsState, bridge: string, mac: string, port: string): void {
  let m = st.fdb.get(bridge);
  if (!m) st.fdb.set(bridge, (m = new Map()));
  m.set(mac, port);
}

function protoText(p: number): 'tcp' | 'udp' | 'sctp' | 'icmp' {
  return p === IPPROTO.TCP ? 'tcp' : p === IPPROTO.UDP ? 'udp' : p === IPPROTO.SCTP ? 'sctp' : 'icmp';
}

/**
 * The key a connected socket is found by, from the flow it sent: TCP/UDP match all four of the
 * reply's addresses and ports (__inet_lookup_established); an ICMP echo socket matches only its
 * local address and identifier (ping_lookup), so an echo reply from another address still reaches it.
 */
function replyKey(h: FlowHeaders): string {
  if (h.proto === IPPROTO.ICMP) return `icmp ${h.src} ${h.sport ?? 0}`;
  return `${h.proto} ${h.dst} ${h.src} ${h.dport ?? 0} ${h.sport ?? 0}`;
}

function flowKeyOf(h: FlowHeaders): string {
  if (h.proto === IPPROTO.ICMP) return `icmp ${h.dst} ${h.sport ?? 0}`;
  return `${h.proto} ${h.src} ${h.dst} ${h.sport ?? 0} ${h.dport ?? 0}`;
}

function innerSummary(p: Packet): string {
  const h = headersOfPacket(p);
  return h ? formatFlow(h) : 'non-IP frame';
}

/** A TCP SYN-ACK / UDP datagram / ICMP echo reply answering `h`, as the endpoint's socket sends it. */
export function replyHeaders(h: FlowHeaders): FlowHeaders {
  const base: FlowHeaders = { family: h.family, src: h.dst, dst: h.src, proto: h.proto, ttl: DEFAULT_TTL, length: h.proto === IPPROTO.TCP ? 60 : h.length, df: true, id: 0 };
  if (h.proto === IPPROTO.TCP) return { ...base, sport: h.dport ?? 0, dport: h.sport ?? 0, tcpFlags: TCP_FLAG.SYN | TCP_FLAG.ACK };
  if (hasPorts(h.proto)) return { ...base, sport: h.dport ?? 0, dport: h.sport ?? 0 };
  if (h.proto === IPPROTO.ICMP) return { ...base, icmpType: 0, icmpCode: 0, sport: h.sport ?? 0 };
  return base;
}

/**
 * The answer a socket sends to `h`, with the source address the kernel gives it. A TCP
 * connection (and a connected or ICMP socket) answers from the address the request was sent to.
 * A UDP server's socket bound to the wildcard address answering with sendto, without
 * IP_PKTINFO (agnhost netexec, most simple servers), leaves the source to udp_sendmsg →
 * ip_route_output_flow with saddr 0: the route's preferred source towards the client, which on a
 * host with several addresses of one subnet is the primary one, not necessarily the one asked.
 */
export function socketReply(ns: Netns, h: FlowHeaders, socket: 'listener' | 'connected' | 'kernel' | 'icmp-error'): { hdr: FlowHeaders; note: string | null } {
  const hdr = replyHeaders(h);
  if (h.proto !== IPPROTO.UDP || socket !== 'listener') return { hdr, note: null };
  const r = ns.spec.rib.lookupRoute({ dst: parseIp(h.src) });
  if (!r.src) return { hdr, note: null };
  const src = formatIp(r.src);
  if (sameIp(src, h.dst)) return { hdr, note: null };
  return {
    hdr: { ...hdr, src },
    note: `udp_sendmsg: the server's socket is bound to the wildcard address and answers with sendto (no IP_PKTINFO): ip_route_output_flow picks the source ${src} (the route's preferred source), not ${h.dst} the request was sent to`,
  };
}

export function sameIp(a: string, b: string): boolean {
  return ipEquals(parseIp(a), parseIp(b));
}

