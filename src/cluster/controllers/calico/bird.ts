/**
 * BIRD as confd configures it for Calico (v3.31 bird.cfg / bird_ipam.cfg templates; calico.md §5):
 * the peering (node-to-node mesh, route reflectors, BGPPeers, a ToR router in the underlay), the
 * export filter calico_export_to_bgp_peers, the kernel filter calico_kernel_programming (IPIP
 * krt_tunnel / CrossSubnet next-hop rewrite, `proto bird`, `gateway recursive`), and the converged
 * routing state each speaker ends with.
 *
 * The exchange itself is computed here by a synchronous propagation to a fixed point (each round:
 * every speaker re-advertises its best routes to each established neighbour, the neighbours
 * re-select). It applies BGP's rules (iBGP split horizon, RFC 4456 reflection with ORIGINATOR_ID /
 * CLUSTER_LIST, AS_PATH loop detection, eBGP next-hop self unless the next hop is on the
 * neighbour's subnet, best path by preference, AS_PATH length, eBGP over iBGP, lowest router id).
 * It is the seam where src/bgp's message-level speakers (FSM, timers, wire encoding) plug in.
 */
import { cidrContains, formatIp, parseCidr, parseIp } from '../../../base/index.js';
import type { Rib } from '../../../routing/index.js';
import type { CalicoTopology } from '../../spec/calico.js';
import type { Topology, TopologyNode } from '../../spec/types.js';
import { selectorMatchesNode } from './selector.js';
import { CALICO_IPIP_DEV, PROTO_BIRD, meshProtocolName, peerProtocolName } from './names.js';
import { encapsulates, poolOf, sameSubnet } from './felix.js';

/** The route reflector cluster ID podpath gives the nodes named in cni.bgp.routeReflectors (the docs' example value). */
export const DEFAULT_RR_CLUSTER_ID = '244.0.0.1';
/** BIRD's preferences (nest/route.h): static 200, BGP 100. */
const PREF = { static: 200, bgp: 100 } as const;

export type SessionState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

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
  /** Prefixes it originates (BIRD static blackholes of its affine blocks). */
  readonly originates: readonly string[];
}

export interface BirdSession {
  /** BIRD protocol name on `local`. */
  readonly protocol: string;
  readonly local: string;
  readonly localAddress: string;
  /** The remote speaker, or null when nobody answers at peerAddress. */
  readonly peer: string | null;
  readonly peerAddress: string;
  readonly peerAsn: number;
  readonly internal: boolean;
  readonly passive: boolean;
  readonly rrClient: boolean;
  state: SessionState;
  /** Why the session is not up. */
  info: string;
}

export interface BgpPath {
  readonly prefix: string;
  readonly nextHop: string;
  readonly asPath: readonly number[];
  readonly source: 'static' | 'bgp';
  /** BIRD protocol it came in on (`static1` for originated routes). */
  readonly protocol: string;
  readonly from: string | null;
  readonly internal: boolean;
  readonly originatorId: string | null;
  readonly clusterList: readonly string[];
  /** Router id of the speaker that sent it (tie-break). */
  readonly peerRouterId: string;
}

export interface BirdState {
  readonly speakers: ReadonlyMap<string, BirdSpeaker>;
  readonly sessions: readonly BirdSession[];
  /** Per speaker, per prefix: every path, best first. */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, readonly BgpPath[]>>;
  readonly convergence: { readonly rounds: number; readonly updates: number; readonly prefixes: number };
  /** One line per UPDATE sent, in order: `round N: A -> B (Mesh_…): 10.244.1.0/26 via … [AS path]`. */
  readonly log: readonly string[];
}

const v4 = (l: readonly string[]) => l.filter((a) => parseIp(a.split('/')[0]!).family === 4);

function nodeIp(n: TopologyNode): string {
  return v4(n.ips)[0] ?? '';
}

/** The speakers and sessions confd's templates configure (calico.md §5.1-5.3), before anything runs. */
export function birdConfig(topo: Topology): { speakers: Map<string, BirdSpeaker>; sessions: BirdSession[] } {
  const cni = topo.cluster.cni;
  const calico = topo.calico as CalicoTopology;
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
      // VXLAN pools are Felix's: BIRD still originates their blocks but the kernel filter drops them; calico_backend vxlan runs no BIRD at all
      originates: cni.mode === 'vxlan' ? [] : calico.ipam.blocksOf(n.name).filter((b) => !poolOf(calico, b.cidr)?.disableBGPExport).map((b) => b.cidr),
    });
  }
  const sessions: BirdSession[] = [];
  if (cni.mode === 'vxlan') return { speakers, sessions };
  const byIp = new Map<string, string>();
  for (const s of speakers.values()) byIp.set(s.addresses[0]!, s.name);
  const add = (local: BirdSpeaker, peerAddress: string, peerAsn: number, protocol: string, opts: { rrClient?: boolean; peer?: string | null } = {}) => {
    if (sessions.some((x) => x.local === local.name && x.peerAddress === peerAddress)) return;
    const internal = peerAsn === local.asn;
    sessions.push({ protocol, local: local.name, localAddress: local.addresses[0]!, peer: opts.peer ?? byIp.get(peerAddress) ?? null, peerAddress, peerAsn, internal, passive: peerAddress > local.addresses[0]!, rrClient: opts.rrClient ?? false, state: 'Idle', info: '' });
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
  const routerSpeakers = new Map<string, BirdSpeaker>();
  for (const p of calico.peers) {
    const locals = topo.nodes.filter((n) => (p.node ? n.name === p.node : p.nodeSelector ? selectorMatchesNode(p.nodeSelector, n.labels) : true));
    const scope = p.node ? 'Node' : 'Global';
    for (const ln of locals) {
      const local = speakers.get(ln.name)!;
      if (p.peerIP) {
        const r = topo.routers.find((x) => x.interfaces.some((i) => i.ip === p.peerIP));
        let peer: string | null = byIp.get(p.peerIP) ?? null;
        if (r && p.asNumber !== null) {
          let rs = routerSpeakers.get(r.name);
          if (!rs) {
            const addrs = v4(r.interfaces.map((i) => i.ip));
            rs = { name: `router/${r.name}`, kind: 'router', routerId: [...addrs].sort()[0] ?? '', asn: p.asNumber, addresses: addrs, connected: r.interfaces.flatMap((i) => v4(topo.networks.find((x) => x.name === i.network)?.cidrs ?? [])), clusterId: null, originates: [] };
            routerSpeakers.set(r.name, rs);
            speakers.set(rs.name, rs);
          }
          peer = rs.name;
          // the router's side: configured by its operator to peer back with each node that peers with it
          add(rs, local.addresses[0]!, local.asn, `bgp_${ln.name.replace(/[^\w]/g, '_')}`, { peer: local.name });
          sessions[sessions.length - 1] = { ...sessions[sessions.length - 1]!, localAddress: p.peerIP };
        }
        add(local, p.peerIP, p.asNumber ?? asn, peerProtocolName(p.peerIP, scope), { peer });
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

/** Session establishment: both ends configured for each other, AS numbers agreeing (an OPEN with a wrong AS is refused: Bad peer AS). */
function establish(speakers: ReadonlyMap<string, BirdSpeaker>, sessions: BirdSession[]): void {
  for (const s of sessions) {
    const peer = s.peer ? speakers.get(s.peer) : undefined;
    if (!peer) {
      s.state = s.passive ? 'Active' : 'Connect';
      s.info = `nothing speaks BGP at ${s.peerAddress}:179 (connection refused)`;
      continue;
    }
    const back = sessions.find((x) => x.local === peer.name && x.peer === s.local);
    if (!back) {
      s.state = 'Active';
      s.info = `${peer.name} has no session configured for ${s.localAddress}`;
    } else if (peer.asn !== s.peerAsn) {
      s.state = 'Idle';
      s.info = `Error: Bad peer AS: ${peer.asn} (configured ${s.peerAsn})`;
    } else {
      s.state = 'Established';
      s.info = '';
    }
  }
}

/** Best path order (BIRD bgp_rte_better, the parts that differ here): preference, AS_PATH length, eBGP over iBGP, lowest router id. */
function better(a: BgpPath, b: BgpPath): number {
  const pa = a.source === 'static' ? PREF.static : PREF.bgp;
  const pb = b.source === 'static' ? PREF.static : PREF.bgp;
  if (pa !== pb) return pb - pa;
  if (a.asPath.length !== b.asPath.length) return a.asPath.length - b.asPath.length;
  if (a.internal !== b.internal) return a.internal ? 1 : -1;
  const ra = parseIp(a.peerRouterId).n as number;
  const rb = parseIp(b.peerRouterId).n as number;
  return ra - rb;
}

/** calico_export_to_bgp_peers (§5.4) for a node; routers export every best route. */
function exportAllowed(topo: Topology, sp: BirdSpeaker, path: BgpPath): boolean {
  if (sp.kind === 'router') return true;
  const calico = topo.calico as CalicoTopology;
  const pool = calico.pools.find((p) => cidrContains(parseCidr(p.cidr), parseCidr(path.prefix).network));
  if (!pool || pool.disabled || pool.disableBGPExport) return false;
  return true; // affine blocks (static) and anything inside an enabled pool
}

function onSubnet(connected: readonly string[], a: string, b: string): boolean {
  return connected.some((c) => cidrContains(parseCidr(c), parseIp(a)) && cidrContains(parseCidr(c), parseIp(b)));
}

/** Runs the exchange to a fixed point and returns every speaker's table. */
export function runBird(topo: Topology): BirdState {
  const { speakers, sessions } = birdConfig(topo);
  establish(speakers, sessions);
  const up = sessions.filter((s) => s.state === 'Established');
  // Adj-RIB-In per speaker per session protocol
  const adjIn = new Map<string, Map<string, Map<string, BgpPath>>>();
  for (const sp of speakers.values()) adjIn.set(sp.name, new Map());
  const best = (name: string): Map<string, BgpPath[]> => {
    const sp = speakers.get(name)!;
    const t = new Map<string, BgpPath[]>();
    for (const p of sp.originates) t.set(p, [{ prefix: p, nextHop: sp.addresses[0]!, asPath: [], source: 'static', protocol: 'static1', from: null, internal: true, originatorId: null, clusterList: [], peerRouterId: sp.routerId }]);
    for (const m of adjIn.get(name)!.values()) for (const path of m.values()) (t.get(path.prefix) ?? t.set(path.prefix, []).get(path.prefix)!).push(path);
    for (const l of t.values()) l.sort(better);
    return t;
  };
  const log: string[] = [];
  let updates = 0;
  let rounds = 0;
  for (;;) {
    rounds++;
    const tables = new Map([...speakers.keys()].map((n) => [n, best(n)]));
    let changed = false;
    for (const s of up) {
      const sp = speakers.get(s.local)!;
      const peer = speakers.get(s.peer!)!;
      const back = up.find((x) => x.local === peer.name && x.peer === sp.name)!;
      const out = new Map<string, BgpPath>();
      for (const [prefix, paths] of tables.get(sp.name)!) {
        const b = paths[0]!;
        if (b.from === peer.name) continue;
        if (!exportAllowed(topo, sp, b)) continue;
        let originatorId = b.originatorId;
        let clusterList = b.clusterList;
        if (b.source === 'bgp' && b.internal && s.internal) {
          // iBGP-learned to iBGP: only a reflector passes it on (RFC 4456 §6)
          const inSess = sessions.find((x) => x.local === sp.name && x.peer === b.from);
          const fromClient = inSess?.rrClient ?? false;
          if (!sp.clusterId || (!fromClient && !s.rrClient)) continue;
          originatorId ??= speakers.get(b.from!)!.routerId;
          clusterList = [sp.clusterId, ...clusterList];
        }
        let nextHop = b.nextHop;
        let asPath = b.asPath;
        if (!s.internal) {
          asPath = [sp.asn, ...b.asPath];
          if (!(b.source === 'bgp' && onSubnet(sp.connected, b.nextHop, s.peerAddress))) nextHop = back.peerAddress;
          if (b.source === 'static') nextHop = back.peerAddress;
          originatorId = null;
          clusterList = [];
        }
        // receiver side: AS loop, ORIGINATOR_ID, CLUSTER_LIST (bgp_rx_update / bgp_cluster_list_loopy)
        if (!s.internal && asPath.includes(peer.asn)) continue;
        if (originatorId === peer.routerId || (peer.clusterId && clusterList.includes(peer.clusterId))) continue;
        if (peer.addresses.includes(nextHop)) continue; // a next hop of the receiver's own is invalid
        out.set(prefix, { prefix, nextHop, asPath, source: 'bgp', protocol: back.protocol, from: sp.name, internal: s.internal, originatorId, clusterList, peerRouterId: sp.routerId });
      }
      const prev = adjIn.get(peer.name)!.get(back.protocol) ?? new Map<string, BgpPath>();
      for (const [prefix, path] of out) {
        const old = prev.get(prefix);
        if (old && old.nextHop === path.nextHop && old.asPath.join() === path.asPath.join() && old.originatorId === path.originatorId && old.clusterList.join() === path.clusterList.join()) continue;
        changed = true;
        updates++;
        log.push(`round ${rounds}: ${sp.name} -> ${peer.name} (${back.protocol}) UPDATE ${prefix} next hop ${path.nextHop} as path [${path.asPath.join(' ')}]${path.originatorId ? ` originator ${path.originatorId} cluster list [${path.clusterList.join(' ')}]` : ''}`);
      }
      for (const prefix of prev.keys()) {
        if (out.has(prefix)) continue;
        changed = true;
        updates++;
        log.push(`round ${rounds}: ${sp.name} -> ${peer.name} (${back.protocol}) WITHDRAW ${prefix}`);
      }
      adjIn.get(peer.name)!.set(back.protocol, out);
    }
    if (!changed || rounds > 64) {
      const finalTables = new Map([...speakers.keys()].map((n) => [n, best(n) as ReadonlyMap<string, readonly BgpPath[]>]));
      const prefixes = new Set([...finalTables.values()].flatMap((t) => [...t.keys()])).size;
      return { speakers, sessions, tables: finalTables, convergence: { rounds, updates, prefixes }, log };
    }
  }
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
 * calico_kernel_programming (§5.5): BGP-learned routes into the kernel with `proto bird`: IPIP pool
 * routes through tunl0 onlink to the BGP next hop (CrossSubnet: only when the next hop is outside
 * this node's subnet), VXLAN pool routes rejected, everything else recursively resolved.
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
  for (const [prefix, paths] of st.tables.get(speaker) ?? []) {
    const b = paths[0];
    if (!b || b.source !== 'bgp') continue;
    const pool = poolOf(calico, prefix);
    if (pool && pool.vxlanMode !== 'Never') continue;
    if (node && pool && pool.ipipMode !== 'Never' && encapsulates(pool.ipipMode, topo, node, b.nextHop)) {
      rib.addRoute({ dst: parseCidr(prefix), protocol: PROTO_BIRD, nexthops: [{ gateway: parseIp(b.nextHop), dev: CALICO_IPIP_DEV, onlink: true }] }, { validate: true, mode: 'replace' });
      continue;
    }
    const hop = resolveRecursive(rib, b.nextHop);
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

/** `birdc show protocols` + `birdc show route` for one speaker (BIRD 1.x cli formats, nest/proto.c, nest/rt-table.c rt_show_rte). */
export function formatBirdShow(topo: Topology, speaker: string): string {
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico') return `${speaker}: not a Calico cluster (cni.plugin ${cni.plugin}): no BIRD\n`;
  if (cni.mode === 'vxlan') return `${speaker}: Calico VXLAN mode (calico_backend: vxlan) runs no BIRD; Felix programs the routes (see --what routes)\n`;
  const st = birdState(topo);
  const lines = ['BIRD v0.3.3+birdv1.6.8 ready.', `name     proto    table    state  since       info`];
  for (const p of ['static1 Static', 'kernel1 Kernel', 'device1 Device', 'direct1 Direct']) {
    const [n, k] = p.split(' ');
    lines.push(`${n!.padEnd(8)} ${k!.padEnd(8)} master   up     00:00:00    `);
  }
  for (const s of st.sessions.filter((x) => x.local === speaker)) {
    lines.push(`${s.protocol.padEnd(8)} BGP      master   ${(s.state === 'Established' ? 'up' : 'start').padEnd(5)}  00:00:00    ${s.state}${s.info ? `  ${s.info}` : ''}`);
  }
  lines.push('', 'BIRD v0.3.3+birdv1.6.8 ready.');
  const table = st.tables.get(speaker) ?? new Map<string, readonly BgpPath[]>();
  const rows = [...table.entries()].sort((a, b) => (parseCidr(a[0]).network.n as number) - (parseCidr(b[0]).network.n as number));
  for (const [prefix, paths] of rows) {
    paths.forEach((p, i) => {
      const head = i === 0 ? prefix.padEnd(18) : ''.padEnd(18);
      if (p.source === 'static') {
        lines.push(`${head} blackhole [static1 00:00:00] ${i === 0 ? '*' : ' '} (200)`);
        return;
      }
      const sess = st.sessions.find((s) => s.local === speaker && s.protocol === p.protocol);
      const from = sess && sess.peerAddress !== p.nextHop ? ` from ${sess.peerAddress}` : '';
      const asText = p.asPath.length ? `AS${p.asPath[p.asPath.length - 1]}i` : 'i';
      lines.push(`${head} via ${p.nextHop} on eth0 [${p.protocol} 00:00:00${from}] ${i === 0 ? '*' : ' '} (100/0) [${asText}]`);
    });
  }
  return `${lines.join('\n')}\n`;
}

/** The exchange, message by message, and the convergence figures. */
export function formatBirdLog(topo: Topology): string {
  const cni = topo.cluster.cni;
  if (cni.plugin !== 'calico' || cni.mode === 'vxlan') return 'no BGP in this cluster (flannel, or Calico VXLAN mode)\n';
  const st = birdState(topo);
  const up = st.sessions.filter((s) => s.state === 'Established');
  const lines: string[] = [];
  for (const s of st.sessions) lines.push(`session ${s.local} ${s.protocol} -> ${s.peerAddress} AS${s.peerAsn} ${s.internal ? 'iBGP' : 'eBGP'}${s.rrClient ? ' rr client' : ''}${s.passive ? ' passive' : ''}: ${s.state}${s.info ? ` (${s.info})` : ''}`);
  lines.push(...st.log);
  // per established session (one TCP connection, counted once per direction): OPEN + KEEPALIVE each way
  const connections = up.length / 2;
  lines.push(
    '',
    `convergence: ${st.speakers.size} speakers, ${connections} established sessions (${st.sessions.length - up.length} configured sessions down), ${st.convergence.prefixes} prefixes`,
    `messages: ${connections * 2} OPEN, ${connections * 2} KEEPALIVE (handshake), ${st.convergence.updates} UPDATE; rounds until quiet: ${st.convergence.rounds}`,
  );
  return `${lines.join('\n')}\n`;
}
