import type { Chooser, Ip } from '../base/index.js';
import { ipToBytes } from '../base/index.js';
import type { Nexthop } from './types.js';

/** The flow fields the kernel's default multipath hash reads. */
export interface MultipathFlow {
  src?: Ip;
  dst: Ip;
  /** IPv6 only: next header and flow label are part of the L3 hash (fib_multipath_hash_policy=0). */
  proto?: number;
  flowLabel?: number;
}

/**
 * A 31-bit hash of the fields the kernel's default policy uses: fib_multipath_hash_policy=0 hashes
 * IPv4 source and destination only (fib_multipath_hash, net/ipv4/route.c), IPv6 adds the flow label
 * and next header (rt6_multipath_hash, net/ipv6/route.c); both return `hash >> 1`.
 *
 * The kernel feeds these fields to flow_hash_from_keys, a siphash keyed with a random per-boot secret,
 * so no model can say which path a given flow takes on a given machine. podpath uses FNV-1a over the
 * same fields: deterministic per flow (every packet of a flow takes one path, as in the kernel),
 * spread like the kernel's, but not bit-identical to any real host.
 */
export function multipathHash(flow: MultipathFlow): number {
  let h = 0x811c9dc5;
  const feed = (bytes: Uint8Array) => {
    for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  };
  const zero = flow.dst.family === 4 ? new Uint8Array(4) : new Uint8Array(16);
  feed(flow.src ? ipToBytes(flow.src) : zero);
  feed(ipToBytes(flow.dst));
  if (flow.dst.family === 6) {
    const label = flow.flowLabel ?? 0;
    feed(Uint8Array.of((label >>> 16) & 0x0f, (label >>> 8) & 255, label & 255, flow.proto ?? 0));
  }
  // Final avalanche so that neighbouring addresses spread over the 31-bit range.
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) >>> 1;
}

/**
 * Upper bounds of fib_rebalance (net/ipv4/fib_semantics.c): nexthop i owns the hashes up to
 * round((w_1 + … + w_i) << 31 / total) - 1.
 */
export function upperBounds(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  let w = 0;
  return weights.map((x) => {
    w += x;
    return Math.round((w * 2 ** 31) / total) - 1;
  });
}

/** Models fib_select_multipath: the first nexthop whose upper bound is >= the hash. */
export function selectByHash(weights: readonly number[], hash: number): number {
  const ub = upperBounds(weights);
  for (let i = 0; i < ub.length; i++) if (hash <= ub[i]!) return i;
  return ub.length - 1;
}

/**
 * Picks one of `candidates` (indexes into `nexthops`): through the chooser when one is given (its
 * probabilities are exactly weight / total, so `--all` enumerates every path), else by the hash.
 */
export function chooseNexthop(
  nexthops: readonly Nexthop[],
  candidates: readonly number[],
  flow: MultipathFlow & { flowHash?: number },
  chooser: Chooser | undefined,
  point: string,
): number {
  if (candidates.length === 1) return candidates[0]!;
  const weights = candidates.map((i) => nexthops[i]!.weight);
  if (chooser) {
    const total = weights.reduce((a, b) => a + b, 0);
    return candidates[chooser.choose(point, weights.map((w) => w / total))]!;
  }
  return candidates[selectByHash(weights, flow.flowHash ?? multipathHash(flow))]!;
}
