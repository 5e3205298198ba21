/**
 * Calico's own objects in a topology (IPPool, BGPPeer, BGPConfiguration; apiVersion
 * projectcalico.org/v3 as calicoctl prints them, or crd.projectcalico.org/v1 as kubectl does):
 * schema, defaults as the API sets them, and the cross-checks against the topology (a pool over
 * the node network or the service CIDR, a peer naming an unknown node, an AS out of range).
 */
import { cidrContains, cidrsOverlap, formatCidr, parseCidr, parseIp, type Cidr, type Problem } from '../../base/index.js';
import { DEFAULT_BLOCK_SIZE, DEFAULT_POOL_NAME } from '../controllers/calico/names.js';
import { CalicoIpam, type EncapMode, type IpPool } from '../controllers/calico/ipam.js';
import { parseSelector } from '../controllers/calico/selector.js';
import { bool, cidr, int, ip, known, obj, oneOf, required, str, validate, type Path, type Sink } from './schema.js';
import { locate, sinkFor, type Origin } from './source.js';
import type { CalicoConfig, CniConfig, UnderlayNetwork } from './types.js';

export const CALICO_API_VERSIONS: readonly string[] = ['projectcalico.org/v3', 'crd.projectcalico.org/v1'];
export const CALICO_KINDS = ['IPPool', 'BGPPeer', 'BGPConfiguration'] as const;
export type CalicoKind = (typeof CALICO_KINDS)[number];

/** A BGPPeer (projectcalico.org/v3 BGPPeerSpec), the fields podpath reads. */
export interface BgpPeer {
  readonly name: string;
  /** Node-scoped peer: only this node peers (`Node_<ip>` in BIRD); empty with no selector = every node (`Global_<ip>`). */
  readonly node: string | null;
  readonly nodeSelector: string | null;
  readonly peerIP: string | null;
  /** Peer nodes chosen by selector (route reflector designs): every matching node is a peer. */
  readonly peerSelector: string | null;
  readonly asNumber: number | null;
}

/** Calico's objects of a topology, resolved. */
export interface CalicoSetup {
  readonly pools: readonly IpPool[];
  readonly peers: readonly BgpPeer[];
  /** BGPConfiguration default: nodeToNodeMeshEnabled (true when absent). */
  readonly nodeToNodeMesh: boolean;
  /** BGPConfiguration default asNumber, when given (overrides cluster.cni.asNumber). */
  readonly asNumber: number | null;
}

export interface LocatedCalico {
  readonly kind: CalicoKind;
  readonly value: Record<string, unknown>;
  readonly origin: Origin;
}

const meta = obj({ name: required(str()), ...known('namespace labels annotations uid resourceVersion creationTimestamp generation managedFields') });
const encap = oneOf('Never', 'Always', 'CrossSubnet');
const asn = int(1, 4294967295);
const SCHEMAS = {
  IPPool: obj({
    apiVersion: str(),
    kind: str(),
    metadata: required(meta),
    spec: required(
      obj({
        cidr: required(cidr()),
        blockSize: int(20, 32),
        ipipMode: encap,
        vxlanMode: encap,
        natOutgoing: bool,
        nodeSelector: str(),
        disabled: bool,
        disableBGPExport: bool,
        ...known('allowedUses assignmentMode namespaceSelector'),
      }),
    ),
  }),
  BGPPeer: obj({
    apiVersion: str(),
    kind: str(),
    metadata: required(meta),
    spec: required(obj({ node: str(), nodeSelector: str(), peerIP: ip(), peerSelector: str(), asNumber: asn, ...known('keepOriginalNextHop nextHopMode password sourceAddress failureDetectionMode restartMode maxRestartTime birdGatewayMode numAllowedLocalASNumbers ttlSecurity filters reachableBy keepaliveTime') })),
  }),
  BGPConfiguration: obj({
    apiVersion: str(),
    kind: str(),
    metadata: required(meta),
    spec: obj({ nodeToNodeMeshEnabled: bool, asNumber: asn, ...known('logSeverityScreen serviceClusterIPs serviceExternalIPs serviceLoadBalancerIPs listenPort communities prefixAdvertisements bindMode ignoredInterfaces nodeMeshPassword nodeMeshMaxRestartTime localWorkloadPeeringIPV4 localWorkloadPeeringIPV6 programClusterRoutes') }),
  }),
};

/** Whether a manifest object is one of Calico's kinds podpath reads. */
export function isCalicoObject(o: Record<string, unknown>): boolean {
  return typeof o.kind === 'string' && (CALICO_KINDS as readonly string[]).includes(o.kind) && typeof o.apiVersion === 'string' && CALICO_API_VERSIONS.includes(o.apiVersion);
}

/** Checks one Calico object's schema; returns it located, or null when it had errors. */
export function collectCalicoObject(o: Record<string, unknown>, origin: Origin, problems: Problem[]): LocatedCalico | null {
  const kind = o.kind as CalicoKind;
  let bad = false;
  const sink = sinkFor(origin, problems);
  const counting: Sink = { error: (p, m) => ((bad = true), sink.error(p, m)), warn: (p, m) => sink.warn(p, m) };
  validate(o, SCHEMAS[kind], [], counting);
  return bad ? null : { kind, value: o, origin };
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});

/**
 * Resolves Calico's objects against the topology. With no IPPool, calico-node's start-up creates
 * `default-ipv4-ippool` over the cluster pod CIDR (kubeadm podSubnet), blockSize 26, natOutgoing
 * true, and the encapsulation of cluster.cni (calico.md §2).
 */
export function resolveCalico(
  objs: readonly LocatedCalico[],
  cni: CalicoConfig,
  ctx: { podCIDRs: readonly Cidr[]; serviceCIDRs: readonly Cidr[]; networks: readonly UnderlayNetwork[]; nodes: readonly { name: string; labels: Readonly<Record<string, string>> }[] },
  problems: Problem[],
): CalicoSetup {
  const err = (o: Origin, path: Path, message: string) => problems.push({ ...locate(o, path), message, severity: 'error' });
  const ipipDefault: EncapMode = cni.mode === 'ipip' ? (cni.encapsulation ?? 'Always') : 'Never';
  const vxlanDefault: EncapMode = cni.mode === 'vxlan' ? (cni.encapsulation ?? 'Always') : 'Never';
  const pools: IpPool[] = [];
  const peers: BgpPeer[] = [];
  let mesh = true;
  let asNumber: number | null = null;
  const nodeNames = new Set(ctx.nodes.map((n) => n.name));
  for (const l of objs) {
    const name = String(rec(l.value.metadata).name);
    const spec = rec(l.value.spec);
    switch (l.kind) {
      case 'IPPool': {
        const c = parseCidr(String(spec.cidr));
        if (c.family !== 4) {
          err(l.origin, ['spec', 'cidr'], `${formatCidr(c)}: podpath's Calico is IPv4`);
          continue;
        }
        const blockSize = typeof spec.blockSize === 'number' ? spec.blockSize : DEFAULT_BLOCK_SIZE;
        if (blockSize < c.prefix) err(l.origin, ['spec', 'blockSize'], `blockSize /${blockSize} is larger than the pool ${formatCidr(c)}`);
        const ipipMode = (spec.ipipMode as EncapMode | undefined) ?? ipipDefault;
        const vxlanMode = (spec.vxlanMode as EncapMode | undefined) ?? vxlanDefault;
        if (ipipMode !== 'Never' && vxlanMode !== 'Never') err(l.origin, ['spec', 'vxlanMode'], 'ipipMode and vxlanMode cannot both be enabled on one IPPool');
        if (ipipMode !== 'Never' && cni.mode !== 'ipip') err(l.origin, ['spec', 'ipipMode'], `ipipMode ${ipipMode} in a cluster whose cni.mode is ${cni.mode}`);
        if (vxlanMode !== 'Never' && cni.mode !== 'vxlan') err(l.origin, ['spec', 'vxlanMode'], `vxlanMode ${vxlanMode} in a cluster whose cni.mode is ${cni.mode}`);
        const sel = typeof spec.nodeSelector === 'string' ? spec.nodeSelector : 'all()';
        const parsed = parseSelector(sel);
        if (typeof parsed === 'string') err(l.origin, ['spec', 'nodeSelector'], parsed);
        for (const n of ctx.networks) {
          for (const nc of n.cidrs) if (cidrsOverlap(parseCidr(nc), c)) err(l.origin, ['spec', 'cidr'], `IPPool ${name} ${formatCidr(c)} overlaps the node network ${n.name} (${nc}): Calico would route node addresses as pod addresses`);
        }
        for (const s of ctx.serviceCIDRs) if (cidrsOverlap(s, c)) err(l.origin, ['spec', 'cidr'], `IPPool ${name} ${formatCidr(c)} overlaps the service CIDR ${formatCidr(s)}`);
        if (!ctx.podCIDRs.some((p) => p.family === 4 && cidrContains(p, c.network) && p.prefix <= c.prefix)) {
          err(l.origin, ['spec', 'cidr'], `IPPool ${name} ${formatCidr(c)} is not inside cluster.podCIDR ${ctx.podCIDRs.map(formatCidr).join(',')} (kube-proxy's cluster CIDR must cover every pool)`);
        }
        for (const p of pools) if (cidrsOverlap(parseCidr(p.cidr), c)) err(l.origin, ['spec', 'cidr'], `IPPool ${name} ${formatCidr(c)} overlaps IPPool ${p.name} ${p.cidr}`);
        pools.push({ name, cidr: formatCidr(c), blockSize, ipipMode, vxlanMode, natOutgoing: spec.natOutgoing === true, nodeSelector: sel, disabled: spec.disabled === true, disableBGPExport: spec.disableBGPExport === true });
        break;
      }
      case 'BGPPeer': {
        const node = typeof spec.node === 'string' ? spec.node : null;
        if (node !== null && !nodeNames.has(node)) err(l.origin, ['spec', 'node'], `BGPPeer ${name} names node "${node}", which is not a node of the topology (nodes: ${[...nodeNames].join(', ')})`);
        const nodeSelector = typeof spec.nodeSelector === 'string' ? spec.nodeSelector : null;
        const peerSelector = typeof spec.peerSelector === 'string' ? spec.peerSelector : null;
        for (const [k, v] of [['nodeSelector', nodeSelector], ['peerSelector', peerSelector]] as const) {
          if (v === null) continue;
          const s = parseSelector(v);
          if (typeof s === 'string') err(l.origin, ['spec', k], s);
        }
        if (node !== null && nodeSelector !== null) err(l.origin, ['spec', 'nodeSelector'], 'give node or nodeSelector, not both');
        const peerIP = typeof spec.peerIP === 'string' ? spec.peerIP : null;
        if ((peerIP === null) === (peerSelector === null)) err(l.origin, ['spec', peerIP === null ? 'peerIP' : 'peerSelector'], 'a BGPPeer has exactly one of peerIP and peerSelector');
        if (peerIP !== null && parseIp(peerIP).family !== 4) err(l.origin, ['spec', 'peerIP'], 'podpath peers over IPv4');
        if (peerIP !== null && typeof spec.asNumber !== 'number') err(l.origin, ['spec', 'asNumber'], 'a BGPPeer with peerIP needs asNumber');
        peers.push({ name, node, nodeSelector, peerIP, peerSelector, asNumber: typeof spec.asNumber === 'number' ? spec.asNumber : null });
        break;
      }
      case 'BGPConfiguration':
        if (name !== 'default') continue; // per-node configurations (node.<name>) only override logging and the like
        if (spec.nodeToNodeMeshEnabled === false) mesh = false;
        if (typeof spec.asNumber === 'number') asNumber = spec.asNumber;
        break;
    }
  }
  if (pools.length === 0) {
    const v4 = ctx.podCIDRs.find((c) => c.family === 4);
    if (v4) pools.push({ name: DEFAULT_POOL_NAME, cidr: formatCidr(v4), blockSize: DEFAULT_BLOCK_SIZE, ipipMode: ipipDefault, vxlanMode: vxlanDefault, natOutgoing: true, nodeSelector: 'all()', disabled: false, disableBGPExport: false });
  }
  return { pools, peers, nodeToNodeMesh: mesh && !('routeReflectors' in cni.bgp), asNumber };
}

/** A Calico cluster's objects and IPAM, as the loader hands them on (Topology.calico). */
export interface CalicoTopology extends CalicoSetup {
  readonly ipam: CalicoIpam;
}

/**
 * The loader's Calico step: resolves the objects and starts IPAM with the tunnel addresses every
 * calico-node claims at start-up. Returns null for a flannel cluster (Calico objects are then
 * reported as ignored).
 */
export function calicoTopology(
  cni: CniConfig,
  objs: readonly LocatedCalico[],
  ctx: { podCIDRs: readonly Cidr[]; serviceCIDRs: readonly Cidr[]; networks: readonly UnderlayNetwork[]; nodes: readonly { name: string; labels: Readonly<Record<string, string>> }[] },
  problems: Problem[],
): CalicoTopology | null {
  if (cni.plugin !== 'calico') {
    for (const o of objs) problems.push({ ...locate(o.origin, ['kind']), message: `${o.kind} is a Calico object; this cluster uses ${cni.plugin}: ignored`, severity: 'warning' });
    return null;
  }
  const setup = resolveCalico(objs, cni, ctx, problems);
  const ipam = new CalicoIpam(setup.pools, ctx.nodes);
  ipam.allocateTunnels();
  return { ...setup, ipam };
}
