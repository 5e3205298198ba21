import { createHash } from 'node:crypto';

/**
 * Chain names of kube-proxy's iptables mode.
 * Models portProtoHash / servicePortPolicyClusterChain / servicePortPolicyLocalChainName /
 * serviceFirewallChainName / serviceExternalChainName / servicePortEndpointChainName
 * (kubernetes pkg/proxy/iptables/proxier.go, v1.34).
 */

/** Chain-name prefixes kube-proxy owns (source: pkg/proxy/iptables/proxier.go, v1.34). */
export const CHAIN_PREFIX = {
  svc: 'KUBE-SVC-',
  svl: 'KUBE-SVL-',
  fw: 'KUBE-FW-',
  ext: 'KUBE-EXT-',
  sep: 'KUBE-SEP-',
} as const;

/** Fixed chains (source: the const block of pkg/proxy/iptables/proxier.go, v1.34). */
export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

/** RFC 4648 base32 alphabet, as Go's base32.StdEncoding uses. */
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (with '=' padding) of bytes: what Go's base32.StdEncoding.EncodeToString returns. */
export function base32Std(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(buffer << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/**
 * First 16 characters of base32(sha256(s)). 16 base32 characters are exactly the first 10 bytes,
 * so padding never reaches them.
 */
export function hash16(s: string): string {
  const digest = createHash('sha256').update(s, 'utf8').digest();
  return base32Std(digest.subarray(0, 10));
}

/** Models portProtoHash: h16(servicePortName + protocol), protocol lower case. */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return hash16(servicePortName + protocol);
}

export function servicePortPolicyClusterChain(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.svc + portProtoHash(servicePortName, protocol);
}
export function servicePortPolicyLocalChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.svl + portProtoHash(servicePortName, protocol);
}
export function serviceFirewallChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.fw + portProtoHash(servicePortName, protocol);
}
export function serviceExternalChainName(servicePortName: string, protocol: string): string {
  return CHAIN_PREFIX.ext + portProtoHash(servicePortName, protocol);
}
/** Models servicePortEndpointChainName: h16(servicePortName + protocol + endpoint "ip:port"). */
export function servicePortEndpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return CHAIN_PREFIX.sep + hash16(servicePortName + protocol + endpoint);
}

/** Models isServiceChainName: chains kube-proxy deletes when they are no longer written. */
export function isServiceChainName(chain: string): boolean {
  return (
    chain.startsWith(CHAIN_PREFIX.svc) ||
    chain.startsWith(CHAIN_PREFIX.svl) ||
    chain.startsWith(CHAIN_PREFIX.sep) ||
    chain.startsWith(CHAIN_PREFIX.fw) ||
    chain.startsWith(CHAIN_PREFIX.ext)
  );
}

const probabilityCache: string[] = ['<bad value>'];

/**
 * Models computeProbability / Proxier.probability: Go's fmt.Sprintf("%0.10f", 1.0/float64(n)),
 * i.e. the exact binary value of the double 1/n rounded to 10 decimals, ties to even
 * (strconv's correct rounding; JavaScript's toFixed breaks ties upwards, e.g. n = 2048).
 */
export function probability(n: number): string {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`probability(${n}): n must be a positive integer`);
  const cached = probabilityCache[n];
  if (cached !== undefined) return cached;
  const s = formatFixed10(1 / n);
  if (n < 100_000) probabilityCache[n] = s;
  return s;
}

/** %0.10f of a double in [0, 1], exactly as Go formats it. */
export function formatFixed10(x: number): string {
  if (x === 0) return '0.0000000000';
  // Exact value of x = mant * 2^exp with an integer mantissa.
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp: number;
  if (biased === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = biased - 1075;
  }
  // scaled = x * 10^10 = mant * 10^10 * 2^exp
  let num = mant * 10n ** 10n;
  let den = 1n;
  if (exp >= 0) num <<= BigInt(exp);
  else den <<= BigInt(-exp);
  let q = num / den;
  const r = num - q * den;
  const twice = r * 2n;
  if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n;
  const digits = q.toString().padStart(11, '0');
  return `${digits.slice(0, -10)}.${digits.slice(-10)}`;
}
