/**
 * The kernel hash functions IPVS uses, bit for bit: the service table keys (ip_vs_ctl.c), hash_32
 * (include/linux/hash.h), jhash (include/linux/jhash.h) for the connection table, and hsiphash
 * (lib/siphash.c, 64-bit build) for the mh scheduler. Byte order follows an x86-64 (little-endian)
 * kernel wherever a __be16/__be32 value is used as a number without ntohs/ntohl.
 */
import { jhash3words, jhashBytes, type Ip } from '../base/index.js';

/** IP_VS_SVC_TAB_BITS / IP_VS_SVC_TAB_SIZE (ip_vs_ctl.c): both service tables have 256 buckets. */
export const IP_VS_SVC_TAB_BITS = 8;
export const IP_VS_SVC_TAB_SIZE = 1 << IP_VS_SVC_TAB_BITS;
const IP_VS_SVC_TAB_MASK = IP_VS_SVC_TAB_SIZE - 1;

/** CONFIG_IP_VS_TAB_BITS default 12: the connection table has 4096 buckets (`ipvsadm -Ln` prints size=4096). */
export const IP_VS_CONN_TAB_BITS = 12;
export const IP_VS_CONN_TAB_SIZE = 1 << IP_VS_CONN_TAB_BITS;

/**
 * ntohl(addr_fold): the IPv4 address as a host number; IPv6 folds its four 32-bit words with XOR
 * (addr->ip6[0]^addr->ip6[1]^addr->ip6[2]^addr->ip6[3]).
 */
export function addrFold(ip: Ip): number {
  if (ip.family === 4) return ip.n >>> 0;
  let x = 0;
  for (let i = 0; i < 4; i++) x ^= Number((ip.n >> BigInt(32 * (3 - i))) & 0xffffffffn);
  return x >>> 0;
}

/**
 * Models ip_vs_svc_hashkey (net/netfilter/ipvs/ip_vs_ctl.c):
 * (proto ^ ntohl(addr_fold) ^ (netns >> 8) ^ (port >> 8) ^ port) & 255.
 * `netSalt` stands for `(size_t)ipvs >> 8`, a per-netns kernel pointer; podpath uses 0 unless told.
 */
export function svcHashKey(protocol: number, addr: Ip, port: number, netSalt = 0): number {
  const ahash = (addrFold(addr) ^ netSalt) >>> 0;
  return (protocol ^ ahash ^ (port >>> IP_VS_SVC_TAB_BITS) ^ port) & IP_VS_SVC_TAB_MASK;
}

/** Models ip_vs_svc_fwm_hashkey (ip_vs_ctl.c): ((netns >> 8) ^ fwmark) & 255. */
export function fwmHashKey(fwmark: number, netSalt = 0): number {
  return ((netSalt ^ fwmark) >>> 0) & IP_VS_SVC_TAB_MASK;
}

/** GOLDEN_RATIO_32 (include/linux/hash.h). */
export const GOLDEN_RATIO_32 = 0x61c88647;

/** Models hash_32(val, bits) (include/linux/hash.h): the top `bits` bits of val * GOLDEN_RATIO_32. */
export function hash32(val: number, bits: number): number {
  return (Math.imul(val >>> 0, GOLDEN_RATIO_32) >>> 0) >>> (32 - bits);
}

/** A __be16 port read as a number on a little-endian CPU ((__force u32)port). */
export function be16AsHost(port: number): number {
  return ((port & 0xff) << 8) | ((port >>> 8) & 0xff);
}

/** A __be32 IPv4 address read as a number on a little-endian CPU ((__force u32)addr->ip). */
export function be32AsHost(n: number): number {
  return (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | ((n >>> 24) & 0xff)) >>> 0;
}

/**
 * Models ip_vs_conn_hashkey (net/netfilter/ipvs/ip_vs_conn.c):
 * (jhash_3words(addr, port, proto, ip_vs_conn_rnd) ^ (netns >> 8)) & ip_vs_conn_tab_mask, IPv6 first
 * folding the address with jhash(addr, 16, rnd). `rnd` is ip_vs_conn_rnd, random per boot in the
 * kernel; podpath takes it as a parameter (0 unless told).
 */
export function connHashKey(protocol: number, addr: Ip, port: number, rnd = 0, netSalt = 0, tabBits = IP_VS_CONN_TAB_BITS): number {
  const mask = (1 << tabBits) - 1;
  const p = be16AsHost(port);
  if (addr.family === 4) return ((jhash3words(be32AsHost(addr.n), p, protocol, rnd) ^ netSalt) >>> 0) & mask;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number((addr.n >> BigInt((15 - i) * 8)) & 0xffn);
  return ((jhash3words(jhashBytes(bytes, rnd), p, protocol, rnd) ^ netSalt) >>> 0) & mask;
}

// ---- SipHash (lib/siphash.c) ----

const M64 = (1n << 64n) - 1n;
const rol64 = (x: bigint, k: bigint) => ((x << k) | (x >> (64n - k))) & M64;

/** A generic SipHash-c-d over bytes with a 128-bit key given as two 64-bit words (k0, k1); returns 64 bits. */
export function siphash(data: Uint8Array, k0: bigint, k1: bigint, cRounds: number, dRounds: number): bigint {
  let v0 = 0x736f6d6570736575n ^ k0;
  let v1 = 0x646f72616e646f6dn ^ k1;
  let v2 = 0x6c7967656e657261n ^ k0;
  let v3 = 0x7465646279746573n ^ k1;
  const round = () => {
    v0 = (v0 + v1) & M64; v1 = rol64(v1, 13n); v1 ^= v0; v0 = rol64(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rol64(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rol64(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rol64(v1, 17n); v1 ^= v2; v2 = rol64(v2, 32n);
  };
  const len = data.length;
  const end = len - (len % 8);
  for (let i = 0; i < end; i += 8) {
    let m = 0n;
    for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(data[i + j]!);
    v3 ^= m;
    for (let r = 0; r < cRounds; r++) round();
    v0 ^= m;
  }
  let b = BigInt(len & 0xff) << 56n;
  for (let j = len - 1; j >= end; j--) b |= BigInt(data[j]!) << BigInt(8 * (j - end));
  v3 ^= b;
  for (let r = 0; r < cRounds; r++) round();
  v0 ^= b;
  v2 ^= 0xffn;
  for (let r = 0; r < dRounds; r++) round();
  return (v0 ^ v1 ^ v2 ^ v3) & M64;
}

/** A 128-bit SipHash key as four u32 halves (k0 high/low, k1 high/low), ready for the 32-bit implementation. */
export interface SipKey32 {
  readonly k0h: number;
  readonly k0l: number;
  readonly k1h: number;
  readonly k1l: number;
}

/** Splits a (k0, k1) key of 64-bit words into u32 halves, once, outside the datapath. */
export function sipKey32(key: readonly [bigint, bigint]): SipKey32 {
  const w = (x: bigint, shift: bigint) => Number((x >> shift) & 0xffffffffn);
  return { k0h: w(key[0], 32n), k0l: w(key[0], 0n), k1h: w(key[1], 32n), k1l: w(key[1], 0n) };
}

/**
 * Models hsiphash(&v, sizeof(u32), key) on a 64-bit kernel (lib/siphash.c, hsiphash_1u32 there):
 * SipHash-1-3 with 64-bit key words over the 4 bytes of `v` as stored (little-endian), truncated
 * to u32. Computed on u32 halves of each 64-bit word (add with carry, rotations across halves),
 * without BigInt, because mh hashes every new connection with it. `siphash` is the reference.
 */
export function hsiphashU32Key(v: number, key: SipKey32): number {
  // v0..v3 = the "somepseudorandomlygeneratedbytes" constants ^ key, as (high, low) u32 pairs.
  let v0h = (0x736f6d65 ^ key.k0h) >>> 0, v0l = (0x70736575 ^ key.k0l) >>> 0;
  let v1h = (0x646f7261 ^ key.k1h) >>> 0, v1l = (0x6e646f6d ^ key.k1l) >>> 0;
  let v2h = (0x6c796765 ^ key.k0h) >>> 0, v2l = (0x6e657261 ^ key.k0l) >>> 0;
  let v3h = (0x74656462 ^ key.k1h) >>> 0, v3l = (0x79746573 ^ key.k1l) >>> 0;
  // The last (only) block: b = (len << 56) | the 4 bytes, len = 4.
  const bh = 0x04000000;
  const bl = v >>> 0;
  v3h = (v3h ^ bh) >>> 0; v3l = (v3l ^ bl) >>> 0;
  // One compression round (c = 1), then v0 ^= b, v2 ^= 0xff and three finalization rounds (d = 3).
  for (let r = 0; r < 4; r++) {
    if (r === 1) {
      v0h = (v0h ^ bh) >>> 0; v0l = (v0l ^ bl) >>> 0;
      v2l = (v2l ^ 0xff) >>> 0;
    }
    let s: number, th: number;
    // v0 += v1; v1 = rol64(v1, 13); v1 ^= v0; v0 = rol64(v0, 32)
    s = v0l + v1l; v0l = s >>> 0; v0h = (v0h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    th = v1h; v1h = ((th << 13) | (v1l >>> 19)) >>> 0; v1l = ((v1l << 13) | (th >>> 19)) >>> 0;
    v1h = (v1h ^ v0h) >>> 0; v1l = (v1l ^ v0l) >>> 0;
    th = v0h; v0h = v0l; v0l = th;
    // v2 += v3; v3 = rol64(v3, 16); v3 ^= v2
    s = v2l + v3l; v2l = s >>> 0; v2h = (v2h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    th = v3h; v3h = ((th << 16) | (v3l >>> 16)) >>> 0; v3l = ((v3l << 16) | (th >>> 16)) >>> 0;
    v3h = (v3h ^ v2h) >>> 0; v3l = (v3l ^ v2l) >>> 0;
    // v0 += v3; v3 = rol64(v3, 21); v3 ^= v0
    s = v0l + v3l; v0l = s >>> 0; v0h = (v0h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    th = v3h; v3h = ((th << 21) | (v3l >>> 11)) >>> 0; v3l = ((v3l << 21) | (th >>> 11)) >>> 0;
    v3h = (v3h ^ v0h) >>> 0; v3l = (v3l ^ v0l) >>> 0;
    // v2 += v1; v1 = rol64(v1, 17); v1 ^= v2; v2 = rol64(v2, 32)
    s = v2l + v1l; v2l = s >>> 0; v2h = (v2h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0;
    th = v1h; v1h = ((th << 17) | (v1l >>> 15)) >>> 0; v1l = ((v1l << 17) | (th >>> 15)) >>> 0;
    v1h = (v1h ^ v2h) >>> 0; v1l = (v1l ^ v2l) >>> 0;
    th = v2h; v2h = v2l; v2l = th;
  }
  // (v0 ^ v1 ^ v2 ^ v3) truncated to u32: only the low halves matter.
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/**
 * Models hsiphash(&v, sizeof(u32), key) on a 64-bit kernel (lib/siphash.c): there HalfSipHash is
 * SipHash-1-3 with 64-bit key words, truncated to u32. `v` is the u32 as stored (little-endian).
 */
export function hsiphashU32(v: number, key: readonly [bigint, bigint]): number {
  return hsiphashU32Key(v, sipKey32(key));
}
