import ipaddr from 'ipaddr.js';

/** An IP address as a number: IPv4 as an unsigned 32-bit number, IPv6 as a 128-bit bigint. */
export type Ip = { readonly family: 4; readonly n: number } | { readonly family: 6; readonly n: bigint };
export type Family = 4 | 6;

/** A CIDR whose address is the network address (host bits cleared). */
export interface Cidr {
  readonly family: Family;
  readonly network: Ip;
  readonly prefix: number;
}

export class IpParseError extends Error {
  constructor(readonly input: string, detail: string) {
    super(`invalid IP address "${input}": ${detail}`);
    this.name = 'IpParseError';
  }
}

const V6_MASK = (1n << 128n) - 1n;

/** Parses a dotted-quad IPv4 or an IPv6 address (no zone, no prefix). Strict: "10.1" is rejected. */
export function parseIp(text: string): Ip {
  const fast = canonicalV4(text);
  if (fast >= 0) return { family: 4, n: fast };
  const s = text.trim();
  if (s.includes(':')) {
    if (!ipaddr.IPv6.isValid(s)) throw new IpParseError(text, 'not an IPv6 address');
    const v6 = ipaddr.IPv6.parse(s);
    if (v6.zoneId) throw new IpParseError(text, 'zone identifiers are not supported');
    let n = 0n;
    for (const part of v6.parts) n = (n << 16n) | BigInt(part);
    return { family: 6, n };
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) throw new IpParseError(text, 'not a dotted-quad IPv4 address');
  const o = ipaddr.IPv4.parse(s).octets;
  return { family: 4, n: ((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]! };
}

/**
 * The value of a canonical dotted quad ("10.96.0.1": four decimal octets without leading zeros),
 * or -1 for any other text, which ipaddr.js then reads. Canonical addresses are most of what
 * podpath parses (topologies, rules, routes); ipaddr.js reads them to the same value.
 */
function canonicalV4(s: string): number {
  const len = s.length;
  if (len < 7 || len > 15) return -1;
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + octet;
      dots++;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero: ipaddr.js decides (octal)
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + octet;
}

export function isIp(text: string): boolean {
  try {
    parseIp(text);
    return true;
  } catch {
    return false;
  }
}

export function ipFamily(text: string): Family {
  return parseIp(text).family;
}

/** Canonical text: dotted quad, or RFC 5952 for IPv6 (as iproute2 and iptables print them). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const n = ip.n;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((ip.n >> BigInt(i * 16)) & 0xffffn));
  return ipaddr.fromByteArray(partsToBytes(parts)).toString();
}

function partsToBytes(parts: number[]): number[] {
  const bytes: number[] = [];
  for (const p of parts) bytes.push(p >> 8, p & 255);
  return bytes;
}

/** Canonical form of an address given as text ("::0001" → "::1"). */
export function normalizeIp(text: string): string {
  return formatIp(parseIp(text));
}

export function ipToBytes(ip: Ip): Uint8Array {
  if (ip.family === 4) return Uint8Array.of(ip.n >>> 24, (ip.n >>> 16) & 255, (ip.n >>> 8) & 255, ip.n & 255);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number((ip.n >> BigInt((15 - i) * 8)) & 0xffn);
  return out;
}

export function ipFromBytes(bytes: Uint8Array): Ip {
  if (bytes.length === 4) return { family: 4, n: ((bytes[0]! << 24) >>> 0) + (bytes[1]! << 16) + (bytes[2]! << 8) + bytes[3]! };
  if (bytes.length === 16) {
    let n = 0n;
    for (const b of bytes) n = (n << 8n) | BigInt(b);
    return { family: 6, n };
  }
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

export function bitsOf(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** The mask of a prefix length, as the family's number type. */
function maskV4(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}
function maskV6(prefix: number): bigint {
  return prefix === 0 ? 0n : (V6_MASK << BigInt(128 - prefix)) & V6_MASK;
}

export function compareIp(a: Ip, b: Ip): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

export function ipEquals(a: Ip, b: Ip): boolean {
  return a.family === b.family && a.n === b.n;
}

/** Adds an offset to an address (wrapping is an error). */
export function addToIp(ip: Ip, offset: number | bigint): Ip {
  if (ip.family === 4) {
    const n = ip.n + Number(offset);
    if (n < 0 || n > 0xffffffff) throw new RangeError(`${formatIp(ip)} + ${offset} leaves the IPv4 space`);
    return { family: 4, n };
  }
  const n = ip.n + BigInt(offset);
  if (n < 0n || n > V6_MASK) throw new RangeError(`${formatIp(ip)} + ${offset} leaves the IPv6 space`);
  return { family: 6, n };
}

export class CidrParseError extends Error {
  constructor(readonly input: string, detail: string) {
    super(`invalid CIDR "${input}": ${detail}`);
    this.name = 'CidrParseError';
  }
}

/**
 * Parses "addr/prefix" (a bare address is a host route: /32 or /128).
 * With `strict`, host bits must be zero (as Kubernetes validates CIDRs); otherwise they are cleared
 * (as iptables and iproute2 do: `-s 10.0.0.5/8` is stored as 10.0.0.0/8).
 */
export function parseCidr(text: string, opts: { strict?: boolean } = {}): Cidr {
  const s = text.trim();
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  let ip: Ip;
  try {
    ip = parseIp(addrText);
  } catch (e) {
    throw new CidrParseError(text, (e as Error).message);
  }
  const bits = bitsOf(ip.family);
  let prefix = bits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) throw new CidrParseError(text, `prefix length must be 0..${bits}`);
    prefix = Number(p);
  }
  const network = networkOf(ip, prefix);
  if (opts.strict && !ipEquals(network, ip)) throw new CidrParseError(text, `host bits set (network is ${formatIp(network)}/${prefix})`);
  return { family: ip.family, network, prefix };
}

export function networkOf(ip: Ip, prefix: number): Ip {
  return ip.family === 4 ? { family: 4, n: (ip.n & maskV4(prefix)) >>> 0 } : { family: 6, n: ip.n & maskV6(prefix) };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.network)}/${c.prefix}`;
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  if (c.family !== ip.family) return false;
  if (ip.family === 4) return ((ip.n & maskV4(c.prefix)) >>> 0) === c.network.n;
  return (ip.n & maskV6(c.prefix)) === c.network.n;
}

/** Last address of the CIDR (the broadcast address for IPv4). */
export function broadcastOf(c: Cidr): Ip {
  if (c.network.family === 4) return { family: 4, n: (c.network.n | (~maskV4(c.prefix) >>> 0)) >>> 0 };
  return { family: 6, n: c.network.n | (~maskV6(c.prefix) & V6_MASK) };
}

/** The n-th address of the CIDR counted from the network address (n = 1 is the first host). */
export function nthHost(c: Cidr, n: number | bigint): Ip {
  const size = cidrSize(c);
  if (BigInt(n) < 0n || BigInt(n) >= size) throw new RangeError(`${formatCidr(c)} has no address number ${n}`);
  return addToIp(c.network, n);
}

/** Number of addresses in the CIDR. */
export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(bitsOf(c.family) - c.prefix);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefix <= b.prefix ? cidrContains(a, b.network) : cidrContains(b, a.network);
}

/** Splits a CIDR into consecutive subnets of `prefix`, returning the index-th one. */
export function subnetOf(c: Cidr, prefix: number, index: number): Cidr {
  if (prefix < c.prefix || prefix > bitsOf(c.family)) throw new RangeError(`cannot carve /${prefix} from ${formatCidr(c)}`);
  const count = 1n << BigInt(prefix - c.prefix);
  if (BigInt(index) >= count || index < 0) throw new RangeError(`${formatCidr(c)} holds only ${count} /${prefix} subnets`);
  const step = 1n << BigInt(bitsOf(c.family) - prefix);
  return { family: c.family, network: addToIp(c.network, step * BigInt(index)), prefix };
}

/** Convenience for text-level callers: does CIDR text contain IP text? */
export function ipInCidr(ip: string, cidr: string): boolean {
  return cidrContains(parseCidr(cidr), parseIp(ip));
}

/** Subnet mask in dotted-quad form for an IPv4 prefix (255.255.255.0 for /24). */
export function v4Netmask(prefix: number): string {
  return formatIp({ family: 4, n: maskV4(prefix) });
}
