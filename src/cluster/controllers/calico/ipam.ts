/**
 * Calico IPAM (libcalico-go/lib/ipam, v3.31): IPPools cut into blocks (/26 by default), blocks
 * claimed per node as block affinities, addresses handed out from a node's affine blocks in
 * ordinal order from 0 (Linux blocks reserve nothing), tunnel addresses for tunl0 / vxlan.calico
 * claimed at calico-node start-up before any pod. Calico ignores node.spec.podCIDR.
 */
import { Rng, cidrContains, cidrSize, formatCidr, formatIp, nthHost, parseCidr, parseIp, subnetOf, type Cidr } from '../../../base/index.js';
import { selectorMatchesNode } from './selector.js';

export type EncapMode = 'Never' | 'Always' | 'CrossSubnet';

/** An IPPool (projectcalico.org/v3 IPPoolSpec), defaults filled. */
export interface IpPool {
  readonly name: string;
  readonly cidr: string;
  readonly blockSize: number;
  readonly ipipMode: EncapMode;
  readonly vxlanMode: EncapMode;
  readonly natOutgoing: boolean;
  /** Calico selector syntax (`all()` when empty). */
  readonly nodeSelector: string;
  readonly disabled: boolean;
  readonly disableBGPExport: boolean;
}

/** One allocation block with its affinity (model.AllocationBlock). */
export interface IpamBlock {
  readonly cidr: string;
  readonly pool: string;
  /** `host:<node>` affinity; the node name. */
  readonly node: string;
  /** Ordinal → handle (`ipip-tunnel-addr-<node>`, `k8s-pod-network.<ns>.<pod>`). */
  readonly allocations: Map<number, string>;
}

export interface IpamNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Which tunnel device a node's tunnel address is for. */
export type TunnelKind = 'ipip' | 'vxlan';

/**
 * FNV-1 32-bit (Go's hash/fnv New32, not New32a): the seed randomBlockGenerator derives from the
 * hostname (libcalico-go ipam_block_reader_writer.go determineSeed).
 */
export function fnv1_32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) h = (Math.imul(h, 0x01000193) ^ b) >>> 0;
  return h >>> 0;
}

/**
 * Models randomBlockGenerator (ipam_block_reader_writer.go): a start index drawn from a PRNG seeded
 * with FNV-1(hostname), then every block of the pool in order from there, wrapping once.
 * Deviation: Go's math/rand sequence is not reproduced (podpath's Rng with the same seed), so the
 * block a hostname gets is deterministic and hostname-dependent, but not the one real Calico picks.
 */
export function* blockCandidates(pool: IpPool, hostname: string): Generator<Cidr> {
  const c = parseCidr(pool.cidr);
  const n = Number(cidrSize(c) >> BigInt(32 - pool.blockSize));
  const start = new Rng(fnv1_32(hostname)).int(n);
  for (let k = 0; k < n; k++) yield subnetOf(c, pool.blockSize, (start + k) % n);
}

export class IpamError extends Error {}

/** The cluster's IPAM state: pools, claimed blocks, allocations (libcalico-go ipam.go ipamClient). */
export class CalicoIpam {
  readonly blocks: IpamBlock[] = [];
  private readonly claimed = new Set<string>();
  /** Tunnel address per node (Node.spec.bgp.ipv4IPIPTunnelAddr / Node.spec.ipv4VXLANTunnelAddr). */
  readonly tunnels = new Map<string, { ip: string; kind: TunnelKind }>();

  constructor(
    readonly pools: readonly IpPool[],
    private readonly nodes: readonly IpamNode[],
  ) {}

  /** The enabled pools whose nodeSelector selects `node` (ipam.go: pools are filtered by node selector). */
  poolsFor(node: string): IpPool[] {
    const n = this.nodes.find((x) => x.name === node);
    return this.pools.filter((p) => !p.disabled && n !== undefined && selectorMatchesNode(p.nodeSelector, n.labels));
  }

  /** The blocks affine to `node`, in claim order. */
  blocksOf(node: string): IpamBlock[] {
    return this.blocks.filter((b) => b.node === node);
  }

  /**
   * calico-node start-up (node/pkg/allocateip allocateip.go): a tunnel address for each node
   * selected by a pool with IPIP (or VXLAN) enabled, allocated as the node's first address, so it
   * claims the node's first block and takes its ordinal 0.
   */
  allocateTunnels(): void {
    for (const n of this.nodes) {
      for (const kind of ['vxlan', 'ipip'] as const) {
        if (this.tunnels.has(n.name)) break;
        const pools = this.poolsFor(n.name).filter((p) => (kind === 'ipip' ? p.ipipMode : p.vxlanMode) !== 'Never');
        if (pools.length === 0) continue;
        const ip = this.assign(n.name, `${kind}-tunnel-addr-${n.name}`, pools);
        if (ip) this.tunnels.set(n.name, { ip, kind });
      }
    }
  }

  /**
   * An address for `handle` on `node` (ipam.go autoAssign → assignFromExistingBlock, then
   * claimAffineBlock): the lowest free ordinal of the node's affine blocks, else a newly claimed
   * block. Returns null when every block of every pool for the node is claimed and full
   * (strictAffinity: podpath does not borrow from other nodes' blocks).
   */
  assign(node: string, handle: string, pools: readonly IpPool[] = this.poolsFor(node)): string | null {
    for (const pool of pools) {
      for (const b of this.blocks) {
        if (b.node !== node || b.pool !== pool.name) continue;
        const ip = this.take(b, handle);
        if (ip) return ip;
      }
      for (const cand of blockCandidates(pool, node)) {
        const key = formatCidr(cand);
        if (this.claimed.has(key)) continue;
        const b = this.claim(key, pool.name, node);
        const ip = this.take(b, handle);
        if (ip) return ip;
      }
    }
    return null;
  }

  /**
   * An address given in the input (a Pod's status.podIP): recorded in its block, which is claimed
   * for the pod's node if nobody holds it. Returns a problem text, or null.
   */
  reserve(node: string, ip: string, handle: string): string | null {
    const a = parseIp(ip);
    const pool = this.pools.find((p) => cidrContains(parseCidr(p.cidr), a));
    if (!pool) return `${ip} is in no IPPool (${this.pools.map((p) => `${p.name} ${p.cidr}`).join(', ')})`;
    const pc = parseCidr(pool.cidr);
    const bc = subnetOf(pc, pool.blockSize, Math.floor(((a.n as number) - (pc.network.n as number)) / 2 ** (32 - pool.blockSize)));
    const key = formatCidr(bc);
    const b = this.blocks.find((x) => x.cidr === key) ?? this.claim(key, pool.name, node);
    if (b.node !== node) return `${ip} is in block ${key}, affine to ${b.node}, not to ${node} (podpath does not model borrowed addresses)`;
    const ord = (a.n as number) - (bc.network.n as number);
    const prev = b.allocations.get(ord);
    if (prev) return `${ip} is already allocated to ${prev}`;
    b.allocations.set(ord, handle);
    return null;
  }

  private claim(cidr: string, pool: string, node: string): IpamBlock {
    const b: IpamBlock = { cidr, pool, node, allocations: new Map() };
    this.claimed.add(cidr);
    this.blocks.push(b);
    return b;
  }

  /** Lowest free ordinal of a block (allocationBlock.autoAssign walks `unallocated` in order). */
  private take(b: IpamBlock, handle: string): string | null {
    const c = parseCidr(b.cidr);
    const size = Number(cidrSize(c));
    for (let i = 0; i < size; i++) {
      if (b.allocations.has(i)) continue;
      b.allocations.set(i, handle);
      return formatIp(nthHost(c, i));
    }
    return null;
  }
}
