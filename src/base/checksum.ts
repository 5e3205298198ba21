/**
 * The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.
 * `partialSum` lets callers fold a pseudo-header in first, as the kernel's csum_partial does.
 */
export function onesComplementSum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Final checksum value to place in a header (complement of the folded sum). */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  return ~onesComplementSum(bytes, start, end, initial) & 0xffff;
}

/** True when a region including its checksum field sums to 0xffff (the receiver's check). */
export function checksumValid(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): boolean {
  return onesComplementSum(bytes, start, end, initial) === 0xffff;
}
