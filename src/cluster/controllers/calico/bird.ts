/**
 * BIRD as confd configures it for Calico (v3.31 bird.cfg / bird_aggr.cfg / bird_ipam.cfg templates;
 * calico.md §5): the peering (node-to-node mesh, route reflectors, BGPPeers, a ToR router in the
 * underlay), the export filter calico_export_to_bgp_peers, and the kernel filter
 * calico_kernel_programming (IPIP krt_tunnel / CrossSubnet next-hop rewrite, `proto bird`,
 * `gateway recursive`).
 *
 * The exchange runs in src/bgp: one speaker per node (and per peering router), one `protocol bgp`
 * per configured session, the session FSM and timers on a virtual clock, real OPEN / UPDATE /
 * KEEPALIVE messages. The kernel routes come from each speaker's Loc-RIB once `run()` settles.
 */
import { cidrContains, formatIp, parseCidr, parseIp } from '../../../base/index.js';
import { InputError } from '../../../base/errors.js';
import { BgpNetwork, CALICO_BGP_TEMPLATE, bgpFrames, formatBirdProtocols, formatBirdRoutes, notificationText } from '../../../bgp/index.js';
import type { BgpFilter, BgpLogEntry, ConvergenceReport, NeighborConfig, RibRoute, SessionInfo } from '../../../bgp/index.js';
import type { Rib } from '../../../routing/index.js';
import type { CalicoTopology } from '../../spec/calico.js';
import type { Topology, TopologyNode } from '../../spec/types.js';
import { selectorMatchesNode } from './selector.js';
import { CALICO_IPIP_DEV, PROTO_BIRD, meshProtocolName, peerProtocolName } from './names.js';
import { encapsulates, poolOf, sameSubnet } from './felix.js';
import { blockCandidates } from './ipam.js';

/** The route reflector cluster ID podpath gives the nodes named in cni.bgp.routeReflectors (the docs' example value). */
export const DEFAULT_RR_CLUSTER_ID = '244.0.0.1';

export interface BirdSpeaker {
  readonly name: string;
  readonly kind: 'node' | 'router';
  readonly routerId: string;
  readonly asn: number;
  /** Every address of the speaker (routers have one per interface). */
  readonly addresses: readonly string[];
  /** Connected subnets (for eBGP next-hop keep). */
  readonly connected: readonly string[];
  /** `rr cluster id` when a route reflector. */
  readonly clusterId: string | null;
  /** Prefixes it originates (BIRD `protocol static`: a blackhole per affine block, bird_aggr.cfg). */
  readonly originates: readonly string[];
}

/** One `protocol bgp` block as confd renders it on `local`. */
export interface BirdSessionConfig {
  readonly protocol: string;
  readonly local: string;
  readonly localAddress: string;
  readonly peerAddress: string;
  readonly peerAsn: number;
  readonly passive: boolean;
  readonly rrClient: boolean;
}

/** A session as it stands after the exchange (src/bgp's view: FSM state, last error, counts) and the address it is sourced from. */
export type BirdSession = SessionInfo & { readonly localAddress: string };

function sessionsOf(net: BgpNetwork, cfgs: readonly BirdSessionConfig[]): BirdSession[] {
  const src = new Map(cfgs.map((c) => [`${c.local} ${c.protocol}`, c.localAddress]));
  return net.sessions().map((s) => ({ ...s, localAddress: src.get(`${s.speaker} ${s.protocol}`) ?? net.speakerConfig(s.speaker).address }));
}

export interface BirdState {
  /** The speakers' network after `run()`: Loc-RIBs, sessions, message log. */
  readonly net: BgpNetwork;
  readonly speakers: ReadonlyMap<string, BirdSpeaker>;
  readonly sessions: readonly BirdSession[];
  /** Per speaker, per prefix: every route (`birdc show route all`), best first. */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, readonly RibRoute[]>>;
  /** What the initial exchange took (messages by type, rounds, virtual time). */
  readonly convergence: ConvergenceReport;
}

const v4 = (l: readonly string[]) => l.filter((a) => parseIp(a.split('/')[0]!).family === 4);

function nodeIp(n: TopologyNode): string {
  return v4(n.ips)[0] ?? '';
}

function calicoOf(topo: Topology): CalicoTopology {
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico' || !topo.calico) throw new Error('birdConfig: not a Calico cluster');
  return topo.calico as CalicoTopology;
}

/** The speakers and sessions confd's templates configure (calico.md §5.1-5.3), before anything runs. */
export function birdConfig(topo: Topology): { speakers: Map<string, BirdSpeaker>; sessions: BirdSessionConfig[] } {
  const calico = calicoOf(topo);
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico') throw new Error('birdConfig: not a Calico cluster');
  const asn = calico.asNumber ?? cni.asNumber;
  const speakers = new Map<string, BirdSpeaker>();
  const rrs = new Set('routeReflectors' in cni.bgp ? cni.bgp.routeReflectors : []);
  for (const n of topo.nodes) {
    const ip = nodeIp(n);
    const net = topo.networks.find((x) => x.name === n.network);
    speakers.set(n.name, {
      name: n.name,
      kind: 'node',
      routerId: ip,
      asn,
      addresses: [ip],
      connected: net ? v4(net.cidrs) : [],
      clusterId: rrs.has(n.name) ? DEFAULT_RR_CLUSTER_ID : null,
      // calico_backend vxlan runs no BIRD at all
      originates: cni.mode === 'vxlan' ? [] : calico.ipam.blocksOf(n.name).map((b) => b.cidr),
    });
  }
  const sessions: BirdSessionConfig[] = [];
  if (cni.mode === 'vxlan') return { speakers, sessions };
  const add = (local: BirdSpeaker, peerAddress: string, peerAsn: number, protocol: string, opts: { rrClient?: boolean; localAddress?: string; passive?: boolean } = {}) => {
    if (sessions.some((x) => x.local === local.name && x.peerAddress === peerAddress)) return;
    const localAddress = opts.localAddress ?? local.addresses[0]!;
    sessions.push({ protocol, local: local.name, localAddress, peerAddress, peerAsn, passive: opts.passive ?? peerAddress > localAddress, rrClient: opts.rrClient ?? false });
  };
  const nodes = [...speakers.values()];
  // node-to-node mesh: every pair of non-RR nodes (calico.md §5.2)
  if (calico.nodeToNodeMesh) {
    for (const a of nodes) {
      if (a.clusterId) continue;
      for (const b of nodes) if (b !== a && !b.clusterId) add(a, b.addresses[0]!, asn, meshProtocolName(b.addresses[0]!));
    }
  }
  // route reflectors named in cni.bgp: clients peer with each RR, RRs with each other (§5.3)
  for (const rr of nodes.filter((n) => n.clusterId)) {
    for (const other of nodes) {
      if (other === rr) continue;
      const client = other.clusterId !== rr.clusterId;
      add(rr, other.addresses[0]!, asn, peerProtocolName(other.addresses[0]!, 'Node'), { rrClient: client });
      add(other, rr.addresses[0]!, asn, peerProtocolName(rr.addresses[0]!, 'Node'));
    }
  }
  // explicit BGPPeers; a router in the underlay holding the peer IP answers (ToR peering)
  for (const p of calico.peers) {
    const locals = topo.nodes.filter((n) => (p.node ? n.name === p.node : p.nodeSelector ? selectorMatchesNode(p.nodeSelector, n.labels) : true));
    const scope = p.node ? 'Node' : 'Global';
    for (const ln of locals) {
      const local = speakers.get(ln.name)!;
      if (p.peerIP) {
        const r = topo.routers.find((x) => x.interfaces.some((i) => i.ip === p.peerIP));
        if (r && p.asNumber !== null) {
          const name = `router/${r.name}`;
          let rs = speakers.get(name);
          if (!rs) {
            const addrs = v4(r.interfaces.map((i) => i.ip));
            rs = { name, kind: 'router', routerId: [...addrs].sort()[0] ?? '', asn: p.asNumber, addresses: addrs, connected: r.interfaces.flatMap((i) => v4(topo.networks.find((x) => x.name === i.network)?.cidrs ?? [])), clusterId: null, originates: [] };
            speakers.set(name, rs);
          }
          // the router's side: configured by its operator to peer back with each node that peers with it, from the address the node peers to
          add(rs, local.addresses[0]!, local.asn, `bgp_${ln.name.replace(/[^\w]/g, '_')}`, { localAddress: p.peerIP, passive: false });
        }
        add(local, p.peerIP, p.asNumber ?? asn, peerProtocolName(p.peerIP, scope));
      } else if (p.peerSelector) {
        for (const pn of topo.nodes) {
          if (pn.name === ln.name || !selectorMatchesNode(p.peerSelector, pn.labels)) continue;
          const ps = speakers.get(pn.name)!;
          add(local, ps.addresses[0]!, ps.asn, peerProtocolName(ps.addresses[0]!, scope), { rrClient: local.clusterId !== null && local.clusterId !== ps.clusterId });
        }
      }
    }
  }
  return { speakers, sessions };
}

/**
 * calico_export_to_bgp_peers (calico.md §5.4) for one node: disabled / disableBGPExport pools
 * rejected; calico_aggr accepts the node's own affine blocks and rejects anything more specific
 * inside them; static routes accepted; anything else inside an enabled pool accepted; the rest
 * rejected. The filter sees the speaker's name (one per node), so it is shared by all its sessions.
 */
function calicoExportFilter(calico: CalicoTopology, affine: ReadonlyMap<string, readonly string[]>): BgpFilter {
  return (r, s) => {
    const pool = poolOf(calico, r.prefix);
    if (pool && (pool.disabled || pool.disableBGPExport)) return false;
    const c = parseCidr(r.prefix);
    for (const b of affine.get(s.speaker) ?? []) {
      if (b === r.prefix) return true;
      if (cidrContains(parseCidr(b), c.network) && c.prefix > parseCidr(b).prefix) return false;
    }
    if (r.source === 'static') return true;
    return pool !== undefined;
  };
}

/** The configured speakers in a src/bgp network: speakers, neighbours, the static blackholes. */
function buildNetwork(topo: Topology, speakers: ReadonlyMap<string, BirdSpeaker>, sessions: readonly BirdSessionConfig[]): BgpNetwork {
  const calico = calicoOf(topo);
  const net = new BgpNetwork({ delayMs: 1, seed: 1 });
  const affine = new Map([...speakers.values()].map((s) => [s.name, s.originates]));
  const exportFilter = calicoExportFilter(calico, affine);
  for (const sp of speakers.values()) {
    net.addSpeaker({
      name: sp.name, routerId: sp.routerId, asn: sp.asn, address: sp.addresses[0]!,
      ...(sp.addresses.length > 1 ? { addresses: sp.addresses.slice(1) } : {}),
      ...(sp.clusterId ? { clusterId: sp.clusterId } : {}),
      connected: sp.connected,
    });
  }
  for (const s of sessions) net.addNeighbor(s.local, neighborConfig(speakers.get(s.local)!, s, exportFilter));
  for (const sp of speakers.values()) for (const b of sp.originates) net.originate(sp.name, b);
  return net;
}

function neighborConfig(local: BirdSpeaker, s: BirdSessionConfig, exportFilter: BgpFilter): NeighborConfig {
  return {
    peerAddress: s.peerAddress, peerAsn: s.peerAsn, name: s.protocol, passive: s.passive, rrClient: s.rrClient,
    ...(s.rrClient && local.clusterId ? { rrClusterId: local.clusterId } : {}),
    sourceAddress: s.localAddress,
    // Calico's template on every node session; a router (operator-configured) exports everything
    ...(local.kind === 'node' ? { ...CALICO_BGP_TEMPLATE, exportFilter } : {}),
  };
}

function snapshot(net: BgpNetwork): Map<string, Map<string, RibRoute[]>> {
  const tables = new Map<string, Map<string, RibRoute[]>>();
  for (const name of net.speakerNames()) {
    const t = new Map<string, RibRoute[]>();
    for (const r of net.routes(name)) {
      if (r.filtered) continue;
      (t.get(r.prefix) ?? t.set(r.prefix, []).get(r.prefix)!).push(r);
    }
    tables.set(name, t);
  }
  return tables;
}

/** Configures the speakers, runs the exchange until it settles, and returns every speaker's table. */
export function runBird(topo: Topology): BirdState {
  const { speakers, sessions } = birdConfig(topo);
  const net = buildNetwork(topo, speakers, sessions);
  const convergence = net.run();
  return { net, speakers, sessions: sessionsOf(net, sessions), tables: snapshot(net), convergence };
}

const birdCache = new WeakMap<Topology, { rv: number; state: BirdState }>();
/** The converged BIRD state of a topology (computed once per store version). */
export function birdState(topo: Topology): BirdState {
  const c = birdCache.get(topo);
  if (c && c.rv === topo.store.resourceVersion) return c.state;
  const state = runBird(topo);
  birdCache.set(topo, { rv: topo.store.resourceVersion, state });
  return state;
}

// ------------------------------------------------------------------------------------------------
// Topology changes after convergence (`podpath rules --what bgp-log --bgp-event …`)

/**
 * A change to the converged cluster:
 * `down:NODE` — the node dies silently (power loss); its peers notice when their hold timers (240 s) expire;
 * `stop:NODE` — calico-node stops: BIRD sends Cease / Administrative shutdown on every session;
 * `remove:NODE` — the Node is deleted: confd on every peer removes its `protocol bgp` (Cease / Peer
 *   de-configured), and the node's BIRD is gone;
 * `add:NAME=IP` — a node joins (IP on a node network): it peers as the cluster's nodes do (mesh,
 *   or as a client of the route reflectors) and originates the block IPAM would claim for it first.
 */
export type BirdEvent =
  | { readonly kind: 'down' | 'stop' | 'remove'; readonly node: string }
  | { readonly kind: 'add'; readonly node: string; readonly ip: string };

/** Parses `--bgp-event` text; errors name the flag and token. */
export function parseBirdEvent(text: string, field = '--bgp-event'): BirdEvent {
  const m = /^(down|stop|remove|add):([^=\s]+)(?:=(\S+))?$/.exec(text.trim());
  if (!m) throw new InputError({ field, message: `"${text}" is not down:NODE, stop:NODE, remove:NODE or add:NAME=IP` });
  const kind = m[1] as BirdEvent['kind'];
  if (kind === 'add') {
    const ip = m[3];
    if (!ip) throw new InputError({ field, message: `"${text}": add needs the new node's address, add:NAME=IP` });
    try {
      if (parseIp(ip).family !== 4) throw new Error('not IPv4');
    } catch {
      throw new InputError({ field, message: `"${ip}" in "${text}" is not an IPv4 address` });
    }
    return { kind, node: m[2]!, ip };
  }
  if (m[3] !== undefined) throw new InputError({ field, message: `"${text}": ${kind} takes a node name only` });
  return { kind, node: m[2]! };
}

export interface BirdEventResult {
  readonly event: BirdEvent;
  readonly atMs: number;
  /** The log index where the event's messages start. */
  readonly logFrom: number;
  readonly report: ConvergenceReport;
  /** Loc-RIB changes per speaker: `+ prefix via nh (from)` / `- prefix` / `~ prefix …`. */
  readonly changes: readonly { speaker: string; prefix: string; before: RibRoute | undefined; after: RibRoute | undefined }[];
}

/** Applies `events` in order to a fresh copy of the converged exchange, running to convergence after each. */
export function runBirdEvents(topo: Topology, events: readonly BirdEvent[]): { state: BirdState; results: BirdEventResult[] } {
  const calico = calicoOf(topo);
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico' || cni.mode === 'vxlan') throw new InputError({ field: '--bgp-event', message: 'this cluster runs no BIRD (flannel, or Calico VXLAN mode)' });
  const { speakers, sessions } = birdConfig(topo);
  const net = buildNetwork(topo, speakers, sessions);
  const convergence = net.run();
  const state: BirdState = { net, speakers, sessions: sessionsOf(net, sessions), tables: snapshot(net), convergence };
  const live = new Map(speakers);
  const cfgs = [...sessions];
  const results: BirdEventResult[] = [];
  const affine = new Map([...speakers.values()].map((s) => [s.name, s.originates]));
  const exportFilter = calicoExportFilter(calico, affine);
  for (const ev of events) {
    const before = locRibs(net);
    const logFrom = net.log.length;
    const atMs = net.clock.now();
    const countsBefore = net.messageCounts();
    const known = live.get(ev.node);
    switch (ev.kind) {
      case 'down':
      case 'stop':
      case 'remove': {
        if (!known || known.kind !== 'node') throw new InputError({ field: '--bgp-event', message: `${ev.kind}:${ev.node}: no node "${ev.node}" speaks BGP here (nodes: ${[...live.values()].filter((s) => s.kind === 'node').map((s) => s.name).join(', ')})` });
        if (ev.kind === 'remove') {
          for (const c of cfgs.filter((x) => x.local !== ev.node && known.addresses.includes(x.peerAddress))) net.removeNeighbor(c.local, c.protocol);
          net.stopSpeaker(ev.node, 'crash');
          live.delete(ev.node);
        } else net.stopSpeaker(ev.node, ev.kind === 'down' ? 'crash' : 'shutdown');
        break;
      }
      case 'add': {
        if (known) throw new InputError({ field: '--bgp-event', message: `add:${ev.node}: a speaker "${ev.node}" already exists` });
        const netw = topo.networks.find((n) => v4(n.cidrs).some((c) => cidrContains(parseCidr(c), parseIp(ev.ip))));
        if (!netw) throw new InputError({ field: '--bgp-event', message: `add:${ev.node}=${ev.ip}: ${ev.ip} is on no node network (${topo.networks.map((n) => `${n.name} ${n.cidrs.join(' ')}`).join(', ')})` });
        const pool = calico.ipam.poolsFor(topo.nodes[0]?.name ?? '')[0] ?? calico.pools.find((p) => !p.disabled);
        const taken = new Set(calico.ipam.blocks.map((b) => b.cidr));
        let block: string | undefined;
        if (pool) {
          for (const c of blockCandidates(pool, ev.node)) {
            const k = `${formatIp(c.network)}/${c.prefix}`;
            if (!taken.has(k)) {
              block = k;
              break;
            }
          }
        }
        const asn = (calico.asNumber ?? (cni.plugin === 'calico' ? cni.asNumber : 64512));
        const sp: BirdSpeaker = { name: ev.node, kind: 'node', routerId: ev.ip, asn, addresses: [ev.ip], connected: v4(netw.cidrs), clusterId: null, originates: block ? [block] : [] };
        affine.set(sp.name, sp.originates);
        net.addSpeaker({ name: sp.name, routerId: sp.routerId, asn, address: ev.ip, connected: sp.connected });
        live.set(sp.name, sp);
        const rrs = [...live.values()].filter((s) => s.kind === 'node' && s.clusterId);
        const pairs: [BirdSpeaker, BirdSpeaker, boolean][] = [];
        if (calico.nodeToNodeMesh) for (const o of live.values()) if (o !== sp && o.kind === 'node' && !o.clusterId) pairs.push([o, sp, false]);
        for (const rr of rrs) pairs.push([rr, sp, true]);
        for (const [o, n, rrClient] of pairs) {
          const mk = (a: BirdSpeaker, b: BirdSpeaker, client: boolean): BirdSessionConfig => ({
            protocol: rrClient ? peerProtocolName(b.addresses[0]!, 'Node') : meshProtocolName(b.addresses[0]!),
            local: a.name, localAddress: a.addresses[0]!, peerAddress: b.addresses[0]!, peerAsn: b.asn, passive: b.addresses[0]! > a.addresses[0]!, rrClient: client,
          });
          for (const c of [mk(o, n, rrClient), mk(n, o, false)]) {
            cfgs.push(c);
            net.addNeighbor(c.local, neighborConfig(live.get(c.local)!, c, exportFilter));
          }
        }
        for (const b of sp.originates) net.originate(sp.name, b);
        break;
      }
    }
    // the report counts from the event on: a Cease sent by stop/remove happens before run()
    const ran = net.run();
    const countsAfter = net.messageCounts();
    const messages = { OPEN: 0, UPDATE: 0, NOTIFICATION: 0, KEEPALIVE: 0 };
    for (const k of Object.keys(messages) as (keyof typeof messages)[]) messages[k] = countsAfter[k] - countsBefore[k];
    const report: ConvergenceReport = { ...ran, messages, totalMessages: messages.OPEN + messages.UPDATE + messages.NOTIFICATION + messages.KEEPALIVE };
    const after = locRibs(net);
    const changes: BirdEventResult['changes'][number][] = [];
    for (const name of net.speakerNames()) {
      if (!net.isUp(name) || !live.has(name)) continue; // a stopped speaker's table is gone with it
      const b = before.get(name) ?? new Map<string, RibRoute>();
      const a = after.get(name) ?? new Map<string, RibRoute>();
      for (const prefix of new Set([...b.keys(), ...a.keys()])) {
        const x = b.get(prefix);
        const y = a.get(prefix);
        if (x?.attrs === y?.attrs && x?.from === y?.from) continue;
        changes.push({ speaker: name, prefix, before: x, after: y });
      }
    }
    results.push({ event: ev, atMs, logFrom, report, changes });
  }
  return { state, results };
}

function locRibs(net: BgpNetwork): Map<string, Map<string, RibRoute>> {
  const out = new Map<string, Map<string, RibRoute>>();
  for (const name of net.speakerNames()) out.set(name, new Map(net.isUp(name) ? net.locRib(name).map((r) => [r.prefix, r]) : []));
  return out;
}

// ------------------------------------------------------------------------------------------------
// Kernel programming

/**
 * `gateway recursive`: the kernel next hop of a BGP next hop is the next hop itself when it is on a
 * connected subnet, else the gateway of the route that reaches it (calico.md §3.1).
 */
function resolveRecursive(rib: Rib, nh: string): { gateway: string; dev: string } | null {
  const r = rib.lookupRoute({ dst: parseIp(nh) });
  if (r.kind !== 'unicast' || !r.route) return null;
  const hop = r.route.nexthops[0];
  if (!hop?.dev) return null;
  return { gateway: hop.gateway ? formatIp(hop.gateway) : nh, dev: hop.dev };
}

/**
 * calico_kernel_programming (§5.5): the Loc-RIB's BGP-learned routes into the kernel with `proto
 * bird`: IPIP pool routes through tunl0 onlink to the BGP next hop (CrossSubnet: only when the next
 * hop is outside this node's subnet), VXLAN pool routes rejected, everything else recursively resolved.
 */
export function installBirdRoutes(topo: Topology, node: TopologyNode, rib: Rib): void {
  if (topo.cluster.cni.plugin !== 'calico' || topo.cluster.cni.mode === 'vxlan') return;
  installLearned(topo, birdState(topo), node.name, rib, node);
}

/** A router's learned routes (BGP-peering ToR): recursively resolved, `proto bird` (podpath's routers speak as BIRD would). */
export function installRouterBgpRoutes(topo: Topology, router: string, rib: Rib): void {
  if (topo.cluster.cni.plugin !== 'calico' || topo.cluster.cni.mode === 'vxlan' || !topo.calico) return;
  const st = birdState(topo);
  if (!st.speakers.has(`router/${router}`)) return;
  installLearned(topo, st, `router/${router}`, rib, null);
}

function installLearned(topo: Topology, st: BirdState, speaker: string, rib: Rib, node: TopologyNode | null): void {
  const calico = topo.calico as CalicoTopology;
  for (const b of st.net.locRib(speaker)) {
    if (b.source !== 'bgp') continue;
    const prefix = b.prefix;
    const nh = b.attrs.nextHop;
    const pool = poolOf(calico, prefix);
    if (pool && pool.vxlanMode !== 'Never') continue;
    if (node && pool && pool.ipipMode !== 'Never' && encapsulates(pool.ipipMode, topo, node, nh)) {
      rib.addRoute({ dst: parseCidr(prefix), protocol: PROTO_BIRD, nexthops: [{ gateway: parseIp(nh), dev: CALICO_IPIP_DEV, onlink: true }] }, { validate: true, mode: 'replace' });
      continue;
    }
    const hop = resolveRecursive(rib, nh);
    if (!hop) continue;
    rib.addRoute({ dst: parseCidr(prefix), protocol: PROTO_BIRD, nexthops: [{ gateway: parseIp(hop.gateway), dev: hop.dev }] }, { validate: true, mode: 'replace' });
  }
}

/**
 * Why a router has no route to a pod address in a BGP (no-encapsulation) pool: it does not peer
 * with Calico, so it never learned the block.
 */
export function calicoMissingRouteReason(topo: Topology, crossed: readonly string[], ip: string): string | null {
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico' || !topo.calico) return null;
  const a = parseIp(ip);
  const pool = topo.calico.pools.find((p) => cidrContains(parseCidr(p.cidr), a));
  if (!pool) return null;
  const block = topo.calico.ipam.blocks.find((b) => cidrContains(parseCidr(b.cidr), a));
  const st = birdState(topo);
  for (const ns of crossed) {
    if (!ns.startsWith('router/')) continue;
    const name = ns.slice('router/'.length);
    if (st.speakers.has(ns)) continue;
    const enc = pool.ipipMode !== 'Never' ? `ipipMode ${pool.ipipMode}` : pool.vxlanMode !== 'Never' ? `vxlanMode ${pool.vxlanMode}` : 'no encapsulation';
    return `router ${name} has no route to ${block ? `block ${block.cidr} (affine to ${block.node})` : `pool ${pool.cidr}`}: it does not peer BGP with Calico, and IPPool ${pool.name} (${enc}) sends pod traffic to it unencapsulated; peer it with a BGPPeer or use IPIP/VXLAN CrossSubnet`;
  }
  return null;
}

/** Same-subnet helper re-exported for the CLI's explanations. */
export { sameSubnet };

// ------------------------------------------------------------------------------------------------
// Output

/**
 * `birdc show protocols` + `birdc show route` for one speaker (BIRD 1.x formats, src/bgp
 * format.ts). `rib` is the speaker's kernel table, for `gateway recursive` resolution of next hops.
 */
export function formatBirdShow(topo: Topology, speaker: string, rib?: Rib): string {
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico') return `${speaker}: not a Calico cluster (cni.plugin ${cni.plugin}): no BIRD\n`;
  if (cni.mode === 'vxlan') return `${speaker}: Calico VXLAN mode (calico_backend: vxlan) runs no BIRD; Felix programs the routes (see --what routes)\n`;
  const st = birdState(topo);
  if (!st.speakers.has(speaker)) return `${speaker}: runs no BIRD\n`;
  const resolve = rib
    ? (nh: string) => {
        const h = resolveRecursive(rib, nh);
        return h ? { gateway: h.gateway, iface: h.dev } : undefined;
      }
    : undefined;
  const protos = formatBirdProtocols(st.net, speaker).split('\n');
  const statics = ['static1 Static', 'kernel1 Kernel', 'device1 Device', 'direct1 Direct'].map((p) => {
    const [n, k] = p.split(' ');
    return `${n!.padEnd(8)} ${k!.padEnd(8)} ${'master'.padEnd(8)} ${'up'.padEnd(5)}  ${'00:00:00'.padEnd(10)}  `.trimEnd();
  });
  const lines = ['BIRD v0.3.3+birdv1.6.8 ready.', protos[0]!, ...statics, ...protos.slice(1).filter((l) => l !== '')];
  lines.push('', 'BIRD v0.3.3+birdv1.6.8 ready.');
  const routes = formatBirdRoutes(st.net, speaker, resolve ? { resolve } : {});
  return `${lines.join('\n')}\n${routes}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

function logLine(e: BgpLogEntry): string {
  const m = e.message;
  const why = m?.type === 'NOTIFICATION' ? ` (${notificationText(m.code, m.subcode)})` : '';
  return `${seconds(e.t).padStart(10)}  ${e.from} → ${e.to}  ${e.protocol}  ${e.type.padEnd(12)} ${e.summary}${why}`;
}

function reportLines(r: ConvergenceReport, what: string): string[] {
  const m = r.messages;
  return [
    `convergence${what}: routes settled ${seconds(r.lastRouteChangeMs - r.startMs)} ${what ? 'after the event' : 'after start'} (at ${seconds(r.lastRouteChangeMs)} virtual time), exchange ${r.converged ? 'quiet' : 'NOT quiet'} after ${seconds(r.virtualTimeMs)}; ${r.rounds} round${r.rounds === 1 ? '' : 's'} of UPDATEs`,
    `messages: ${r.totalMessages} (OPEN ${m.OPEN}, UPDATE ${m.UPDATE}, KEEPALIVE ${m.KEEPALIVE}, NOTIFICATION ${m.NOTIFICATION}); prefixes announced ${r.announced}, withdrawn ${r.withdrawn}; sessions Established ${r.sessionsEstablished}/${r.sessionsTotal}`,
  ];
}

function eventText(e: BirdEvent): string {
  return e.kind === 'add' ? `add:${e.node}=${e.ip}` : `${e.kind}:${e.node}`;
}

function routeText(r: RibRoute): string {
  return r.source === 'static' ? 'blackhole (static1)' : `via ${r.attrs.nextHop} [${r.protocol} from ${r.from}]`;
}

/**
 * The exchange, message by message (virtual time, from → to, protocol, type, summary), and the
 * convergence report; with events, each event's messages, Loc-RIB changes and its own report.
 */
export function formatBirdLog(topo: Topology, events: readonly BirdEvent[] = []): string {
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico' || cni.mode === 'vxlan') return 'no BGP in this cluster (flannel, or Calico VXLAN mode)\n';
  const { state: st, results } = events.length ? runBirdEvents(topo, events) : { state: birdState(topo), results: [] };
  const log = st.net.log;
  const lines: string[] = [];
  const end = results[0]?.logFrom ?? log.length;
  for (let i = 0; i < end; i++) lines.push(logLine(log[i]!));
  lines.push('', ...reportLines(st.convergence, ''));
  results.forEach((r, k) => {
    lines.push('', `event ${eventText(r.event)} at ${seconds(r.atMs)}`);
    const until = results[k + 1]?.logFrom ?? log.length;
    for (let i = r.logFrom; i < until; i++) lines.push(logLine(log[i]!));
    lines.push('', 'Loc-RIB changes:');
    for (const c of r.changes) {
      const sign = !c.before ? '+' : !c.after ? '-' : '~';
      lines.push(`  ${sign} ${c.speaker}: ${c.prefix}${c.before ? ` was ${routeText(c.before)}` : ''}${c.after ? ` now ${routeText(c.after)}` : ''}`);
    }
    if (!r.changes.length) lines.push('  (none)');
    lines.push(...reportLines(r.report, ` after ${eventText(r.event)}`));
  });
  return `${lines.join('\n')}\n`;
}

/** The exchange (with events) as Ethernet/IPv4/TCP-179 frames for a pcap (src/bgp bgpFrames). */
export function birdPcapFrames(topo: Topology, events: readonly BirdEvent[] = []): { ts: number; bytes: Uint8Array }[] {
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico' || cni.mode === 'vxlan') return [];
  const st = events.length ? runBirdEvents(topo, events).state : birdState(topo);
  return bgpFrames(st.net.log);
}
