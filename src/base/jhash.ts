/**
 * Bob Jenkins' lookup3 hash as the kernel has it (include/linux/jhash.h): jhash over bytes,
 * jhash2 over 32-bit words, jhash_3words. Conntrack's NAT picks (find_best_ips_proto) and IPVS's
 * connection table (ip_vs_conn_hashkey) use it. Deterministic: the seed is the caller's.
 */

/** JHASH_INITVAL (include/linux/jhash.h). */
export const JHASH_INITVAL = 0xdeadbeef;

export function rol32(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** __jhash_mix on (a, b, c); returns the new triple. */
function mix(a: number, b: number, c: number): [number, number, number] {
  a = (a - c) >>> 0; a = (a ^ rol32(c, 4)) >>> 0; c = (c + b) >>> 0;
  b = (b - a) >>> 0; b = (b ^ rol32(a, 6)) >>> 0; a = (a + c) >>> 0;
  c = (c - b) >>> 0; c = (c ^ rol32(b, 8)) >>> 0; b = (b + a) >>> 0;
  a = (a - c) >>> 0; a = (a ^ rol32(c, 16)) >>> 0; c = (c + b) >>> 0;
  b = (b - a) >>> 0; b = (b ^ rol32(a, 19)) >>> 0; a = (a + c) >>> 0;
  c = (c - b) >>> 0; c = (c ^ rol32(b, 4)) >>> 0; b = (b + a) >>> 0;
  return [a, b, c];
}

/** __jhash_final on (a, b, c): the resulting c. */
export function jhashFinal(a: number, b: number, c: number): number {
  c = (c ^ b) >>> 0; c = (c - rol32(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rol32(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rol32(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol32(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rol32(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rol32(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol32(b, 24)) >>> 0;
  return c;
}

/** Models jhash2(k, length, initval): a hash of an array of 32-bit words. */
export function jhash2(k: readonly number[], initval: number): number {
  let length = k.length;
  let a = (JHASH_INITVAL + (length << 2) + initval) >>> 0;
  let b = a;
  let c = a;
  let i = 0;
  while (length > 3) {
    [a, b, c] = mix((a + k[i]!) >>> 0, (b + k[i + 1]!) >>> 0, (c + k[i + 2]!) >>> 0);
    length -= 3;
    i += 3;
  }
  if (length > 0) {
    if (length >= 3) c = (c + k[i + 2]!) >>> 0;
    if (length >= 2) b = (b + k[i + 1]!) >>> 0;
    a = (a + k[i]!) >>> 0;
    c = jhashFinal(a, b, c);
  }
  return c >>> 0;
}

/** Models jhash_3words(a, b, c, initval). */
export function jhash3words(a: number, b: number, c: number, initval: number): number {
  const iv = (initval + JHASH_INITVAL + (3 << 2)) >>> 0;
  return jhashFinal((a + iv) >>> 0, (b + iv) >>> 0, (c + iv) >>> 0);
}

/** Models jhash(key, length, initval) over bytes, words read little-endian. */
export function jhashBytes(key: Uint8Array, initval: number): number {
  let length = key.length;
  let a = (JHASH_INITVAL + length + initval) >>> 0;
  let b = a;
  let c = a;
  let i = 0;
  const word = (o: number) => (key[o]! | (key[o + 1]! << 8) | (key[o + 2]! << 16) | (key[o + 3]! << 24)) >>> 0;
  while (length > 12) {
    [a, b, c] = mix((a + word(i)) >>> 0, (b + word(i + 4)) >>> 0, (c + word(i + 8)) >>> 0);
    length -= 12;
    i += 12;
  }
  // The kernel's switch falls through from `length` down to 1; here one `if` per byte.
  const k = (o: number) => key[i + o]!;
  if (length >= 12) c = (c + (k(11) << 24)) >>> 0;
  if (length >= 11) c = (c + (k(10) << 16)) >>> 0;
  if (length >= 10) c = (c + (k(9) << 8)) >>> 0;
  if (length >= 9) c = (c + k(8)) >>> 0;
  if (length >= 8) b = (b + (k(7) << 24)) >>> 0;
  if (length >= 7) b = (b + (k(6) << 16)) >>> 0;
  if (length >= 6) b = (b + (k(5) << 8)) >>> 0;
  if (length >= 5) b = (b + k(4)) >>> 0;
  if (length >= 4) a = (a + (k(3) << 24)) >>> 0;
  if (length >= 3) a = (a + (k(2) << 16)) >>> 0;
  if (length >= 2) a = (a + (k(1) << 8)) >>> 0;
  if (length >= 1) {
    a = (a + k(0)) >>> 0;
    c = jhashFinal(a, b, c);
  }
  return c >>> 0;
}

/** reciprocal_scale(val, ep_ro): maps a 32-bit value onto [0, ep_ro) (include/linux/math.h). */
export function reciprocalScale(val: number, epRo: number): number {
  return Number((BigInt(val >>> 0) * BigInt(epRo >>> 0)) >> 32n);
}
