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
const B32_CODES = Uint8Array.from(B32, (c) => c.charCodeAt(0));

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
 * so padding never reaches them. SHA-256 (FIPS 180-4) is computed here without allocation: kube-proxy
 * hashes one name per service port and per endpoint, and node:crypto's per-call overhead (~2.5 µs)
 * dominated a 100,000-endpoint sync.
 */
export function hash16(s: string): string {
  const d = sha256Words(s);
  return base32First80(d[0]!, d[1]!, d[2]!, '');
}

/** prefix + h16(s) as one flat string (no concatenation rope for the 25-character chain names). */
function prefixedHash16(prefix: string, s: string): string {
  const d = sha256Words(s);
  return base32First80(d[0]!, d[1]!, d[2]!, prefix);
}

/**
 * prefix + the 16 base32 characters of digest bits 0..79 (words w0, w1 and the top half of w2):
 * character i is bits 5i..5i+4. String.fromCharCode with the prefix's codes makes one flat string.
 */
function base32First80(w0: number, w1: number, w2: number, prefix: string): string {
  const B = B32_CODES;
  const c0 = B[w0 >>> 27]!, c1 = B[(w0 >>> 22) & 31]!, c2 = B[(w0 >>> 17) & 31]!, c3 = B[(w0 >>> 12) & 31]!;
  const c4 = B[(w0 >>> 7) & 31]!, c5 = B[(w0 >>> 2) & 31]!, c6 = B[((w0 << 3) | (w1 >>> 29)) & 31]!, c7 = B[(w1 >>> 24) & 31]!;
  const c8 = B[(w1 >>> 19) & 31]!, c9 = B[(w1 >>> 14) & 31]!, c10 = B[(w1 >>> 9) & 31]!, c11 = B[(w1 >>> 4) & 31]!;
  const c12 = B[((w1 << 1) | (w2 >>> 31)) & 31]!, c13 = B[(w2 >>> 26) & 31]!, c14 = B[(w2 >>> 21) & 31]!, c15 = B[(w2 >>> 16) & 31]!;
  if (prefix === CHAIN_PREFIX.sep)
    // "KUBE-SEP-"
    return String.fromCharCode(75, 85, 66, 69, 45, 83, 69, 80, 45, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
  return prefix + String.fromCharCode(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
}

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const W = new Int32Array(64);
const H = new Int32Array(8);
const enc = new TextEncoder();

/**
 * SHA-256 of the UTF-8 bytes of s; returns the 8 digest words (a shared buffer: copy to keep).
 * ASCII input (every chain-name input kube-proxy hashes in practice) is hashed straight from the
 * string's char codes; other input is UTF-8 encoded into a byte string first.
 */
export function sha256Words(s: string): Int32Array {
  const n = s.length;
  for (let i = 0; i < n; i++)
    if (s.charCodeAt(i) > 0x7f) {
      let bytes = '';
      for (const b of enc.encode(s)) bytes += String.fromCharCode(b);
      return sha256ByteString(bytes);
    }
  return sha256ByteString(s);
}

/**
 * SHA-256 (FIPS 180-4) of a string whose char codes are bytes (0..255). State lives in locals and
 * every addition is truncated to int32 as it happens, so V8 never falls back to float arithmetic.
 */
function sha256ByteString(s: string): Int32Array {
  const len = s.length;
  // padded length: data, 0x80, zeros, 8-byte big-endian bit length; a multiple of 64 (§5.1.1)
  const total = ((len + 9 + 63) >>> 6) << 6;
  const bitLen = len * 8;
  let h0 = 0x6a09e667, h1 = 0xbb67ae85 | 0, h2 = 0x3c6ef372, h3 = 0xa54ff53a | 0;
  let h4 = 0x510e527f, h5 = 0x9b05688c | 0, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) {
      const j = off + i * 4;
      let w = 0;
      if (j + 4 <= len) w = (s.charCodeAt(j) << 24) | (s.charCodeAt(j + 1) << 16) | (s.charCodeAt(j + 2) << 8) | s.charCodeAt(j + 3);
      else
        for (let k = 0; k < 4; k++) {
          const b = j + k;
          const fromEnd = total - 1 - b;
          const v =
            b < len ? s.charCodeAt(b)
            : b === len ? 0x80
            : fromEnd >= 5 ? 0 // a string's bit length is below 2^40
            : fromEnd === 4 ? Math.floor(bitLen / 4294967296) & 0xff
            : (bitLen >>> (8 * fromEnd)) & 0xff;
          w = (w << 8) | v;
        }
      W[i] = w;
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15]!;
      const y = W[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (((((W[i - 16]! + s0) | 0) + W[i - 7]!) | 0) + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (((((((h + S1) | 0) + ch) | 0) + K[i]!) | 0) + W[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  H[0] = h0; H[1] = h1; H[2] = h2; H[3] = h3; H[4] = h4; H[5] = h5; H[6] = h6; H[7] = h7;
  return H;
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
  return prefixedHash16(CHAIN_PREFIX.sep, servicePortName + protocol + endpoint);
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
