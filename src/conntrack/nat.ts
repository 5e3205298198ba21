/**
 * NAT tuple selection: get_unique_tuple and its helpers from net/netfilter/nf_nat_core.c, on tuples.
 * The table supplies the "is this tuple taken" answers through NatTupleOracle.
 */
import type { Rng } from '../base/index.js';
import { parseIp, formatIp, type Ip } from '../base/index.js';
import type { ConntrackEntryView, Direction, Manip, NatRange, TcpCtState, Tuple } from './types.js';
import { IPS } from './types.js';
import { PROTO, hasPorts, invertTuple, isIcmp, tupleEquals, tupleKey } from './tuple.js';
import { jhash2, reciprocalScale } from '../base/index.js';

/** What NAT selection needs to know about the table. */
export interface NatTupleOracle {
  tupleTaken(t: Tuple, ignored: ConntrackEntryView): boolean;
  findTuple(t: Tuple): { entry: ConntrackEntryView; dir: Direction } | null;
  bySource(): readonly ConntrackEntryView[];
  tcpState(view: ConntrackEntryView): TcpCtState | null;
}

/** NF_NAT_MAX_ATTEMPTS and NF_NAT_HARDER_THRESH of nf_nat_core.c. */
const NF_NAT_MAX_ATTEMPTS = 128;

function randomAll(range: NatRange): boolean {
  return range.flags.random || range.flags.randomFully;
}

/** nf_nat_used_tuple: would the reply of this NAT tuple clash with a confirmed connection? */
function usedTuple(o: NatTupleOracle, t: Tuple, ct: ConntrackEntryView): boolean {
  const reply = invertTuple(t);
  return reply === null ? true : o.tupleTaken(reply, ct);
}

/** nf_conntrack_l4proto allow_clash: UDP and UDPLITE. */
function allowClash(proto: number): boolean {
  return proto === PROTO.UDP || proto === PROTO.UDPLITE;
}

/** nf_nat_used_tuple_new: nf_nat_used_tuple, tolerating the reverse-direction race of non-NAT UDP flows. */
function usedTupleNew(o: NatTupleOracle, t: Tuple, ct: ConntrackEntryView): boolean {
  if (!usedTuple(o, t, ct)) return false;
  if (!allowClash(ct.original.proto)) return true;
  const usesNat = IPS.SRC_NAT | IPS.DST_NAT | IPS.SEQ_ADJUST;
  if (ct.status & usesNat) return true;
  const reply = invertTuple(t);
  const hit = o.findTuple(t) ?? (reply ? o.findTuple(reply) : null);
  if (!hit) return false;
  if (hit.dir !== 'REPLY') return true;
  if (hit.entry.status & usesNat) return true;
  if (tupleEquals(hit.entry.original, ct.reply) && tupleEquals(hit.entry.reply, ct.original)) return false;
  return true;
}

function ipOf(text: string): Ip {
  return parseIp(text);
}

/** nf_nat_inet_in_range: is the tuple's source address within the range? */
function srcInRange(t: Tuple, range: NatRange): boolean {
  const ip = ipOf(t.src);
  const lo = ipOf(range.minIp);
  const hi = ipOf(range.maxIp);
  return ip.n >= lo.n && ip.n <= hi.n;
}

/** l4proto_in_range: is the manipulated port (or ICMP id) within [minPort, maxPort]? */
function l4protoInRange(t: Tuple, manip: Manip, range: NatRange): boolean {
  const min = range.minPort ?? 0;
  const max = range.maxPort ?? range.minPort ?? 65535;
  if (isIcmp(t.proto)) return t.sport >= min && t.sport <= max;
  if (hasPorts(t.proto) || t.proto === PROTO.GRE) {
    const port = manip === 'SRC' ? t.sport : t.dport;
    return port >= min && port <= max;
  }
  return true;
}

/** nf_in_range: would source-mapping to this tuple meet the range? */
function inRange(t: Tuple, range: NatRange): boolean {
  if (range.flags.mapIps && !srcInRange(t, range)) return false;
  if (!range.flags.protoSpecified) return true;
  return l4protoInRange(t, 'SRC', range);
}

/**
 * find_appropriate_src: reuse the mapping of an existing connection from the same source
 * address, port and protocol (newest first), if it lies in the range.
 */
function findAppropriateSrc(o: NatTupleOracle, t: Tuple, range: NatRange): Tuple | null {
  for (const ct of o.bySource()) {
    const ot = ct.original;
    if (ot.proto === t.proto && ot.family === t.family && ot.src === t.src && ot.sport === t.sport) {
      const inv = invertTuple(ct.reply);
      if (!inv) continue;
      const result: Tuple = { ...inv, dst: t.dst, dport: t.dport };
      if (inRange(result, range)) return result;
    }
  }
  return null;
}

/** The address as the kernel's u32 words (`union nf_inet_addr.all[]`) read on a little-endian host. */
function rawWords(ip: Ip): number[] {
  const bytes: number[] = [];
  if (ip.family === 4) {
    for (let i = 3; i >= 0; i--) bytes.push((ip.n >>> (i * 8)) & 255);
    for (let i = 0; i < 12; i++) bytes.push(0);
  } else {
    for (let i = 15; i >= 0; i--) bytes.push(Number((ip.n >> BigInt(i * 8)) & 0xffn));
  }
  const words: number[] = [];
  for (let w = 0; w < 4; w++) words.push((bytes[w * 4]! | (bytes[w * 4 + 1]! << 8) | (bytes[w * 4 + 2]! << 16) | (bytes[w * 4 + 3]! << 24)) >>> 0);
  return words;
}
function bswap(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}
function fromRawWords(family: 4 | 6, words: readonly number[]): Ip {
  if (family === 4) return { family: 4, n: bswap(words[0]!) };
  let n = 0n;
  for (const w of words) n = (n << 32n) | BigInt(bswap(w));
  return { family: 6, n };
}

/**
 * find_best_ips_proto: picks the address from a multi-address range with jhash2 over the source
 * address, seeded with the destination (or 0 with --persistent), exactly as the kernel computes it
 * (so the same client lands on the same address as on Linux; checked against the kernel in
 * fixtures/dnat-range.txt).
 */
export function findBestIps(t: Tuple, range: NatRange, manip: Manip): Tuple {
  if (!range.flags.mapIps) return t;
  if (ipOf(range.minIp).n === ipOf(range.maxIp).n) return manip === 'SRC' ? { ...t, src: range.minIp } : { ...t, dst: range.minIp };
  const family = t.family;
  const max = family === 4 ? 0 : 3;
  const src = rawWords(ipOf(t.src));
  const dst = rawWords(ipOf(t.dst));
  const minW = rawWords(ipOf(range.minIp));
  const maxW = rawWords(ipOf(range.maxIp));
  const varW = manip === 'SRC' ? src : dst;
  let j = jhash2(src, range.flags.persistent ? 0 : dst[max]!);
  let fullRange = false;
  for (let i = 0; i <= max; i++) {
    let minip: number;
    let dist: number;
    if (!fullRange) {
      minip = bswap(minW[i]!);
      const maxip = bswap(maxW[i]!);
      dist = (maxip - minip + 1) >>> 0;
    } else {
      minip = 0;
      dist = 0xffffffff;
    }
    varW[i] = bswap((minip + reciprocalScale(j, dist)) >>> 0);
    if (varW[i] !== maxW[i]) fullRange = true;
    if (!range.flags.persistent) j = (j ^ dst[i]!) >>> 0;
  }
  const picked = formatIp(fromRawWords(family, varW));
  return manip === 'SRC' ? { ...t, src: picked } : { ...t, dst: picked };
}

/** A stand-in for get_random_u16() when no Rng is given: a fixed hash of the tuple and round. */
function pseudoRandomU16(t: Tuple, round: number): number {
  let h = 2166136261 ^ round;
  const s = tupleKey(t);
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h & 0xffff;
}

/**
 * nf_nat_l4proto_unique_tuple: search the port (or ICMP id) range for a free tuple. The search
 * starts at a random offset for SRC manips and for --random/--random-fully, at the range start for
 * DST manips; at most 128 attempts, then rounds of halving attempts from new random offsets.
 */
function l4protoUniqueTuple(o: NatTupleOracle, t: Tuple, range: NatRange, manip: Manip, ct: ConntrackEntryView, rng: Rng | undefined): Tuple {
  let min: number;
  let rangeSize: number;
  let field: 'sport' | 'dport';
  if (isIcmp(t.proto)) {
    field = 'sport';
    if (!range.flags.protoSpecified) {
      min = 0;
      rangeSize = 65536;
    } else {
      min = range.minPort ?? 0;
      rangeSize = (range.maxPort ?? min) - min + 1;
    }
  } else if (hasPorts(t.proto)) {
    field = manip === 'SRC' ? 'sport' : 'dport';
    if (!range.flags.protoSpecified) {
      if (manip === 'DST') return t; // a dst rewrite can't change the port
      const port = t[field];
      if (port < 1024) {
        if (port < 512) {
          min = 1;
          rangeSize = 511;
        } else {
          min = 600;
          rangeSize = 1023 - 600 + 1;
        }
      } else {
        min = 1024;
        rangeSize = 65535 - 1024 + 1;
      }
    } else {
      let lo = range.minPort ?? 0;
      let hi = range.maxPort ?? lo;
      if (hi < lo) [lo, hi] = [hi, lo];
      min = lo;
      rangeSize = hi - lo + 1;
    }
  } else {
    return t;
  }
  let round = 0;
  const draw = () => (rng ? rng.u32() & 0xffff : pseudoRandomU16(t, round++));
  let off = randomAll(range) || manip !== 'DST' ? draw() : 0;
  let attempts = Math.min(rangeSize, NF_NAT_MAX_ATTEMPTS);
  let cur = t;
  for (;;) {
    for (let i = 0; i < attempts; i++, off = (off + 1) & 0xffff) {
      cur = { ...cur, [field]: min + (off % rangeSize) };
      // nf_nat_used_tuple_harder: the TIME_WAIT eviction needs sequence numbers, which are not
      // modelled, so it answers as nf_nat_used_tuple.
      if (!usedTuple(o, cur, ct)) return cur;
    }
    if (attempts >= rangeSize || attempts < 16) return cur;
    attempts = Math.floor(attempts / 2);
    off = draw();
  }
}

/**
 * get_unique_tuple (nf_nat_core.c): 1) for SRC manips without --random*, keep the original tuple
 * if it is in range and unique, or reuse an existing mapping of the same source; 2) pick the address
 * (find_best_ips_proto); 3) keep the port if in range and unique (or a single-port range), else
 * search the port range.
 */
export function getUniqueTuple(o: NatTupleOracle, orig: Tuple, range: NatRange, ct: ConntrackEntryView, manip: Manip, rng: Rng | undefined): Tuple {
  if (manip === 'SRC' && !randomAll(range)) {
    if (inRange(orig, range)) {
      if (!usedTupleNew(o, orig, ct)) return orig;
    } else {
      const found = findAppropriateSrc(o, orig, range);
      if (found && !usedTuple(o, found, ct)) return found;
    }
  }
  const t = findBestIps(orig, range, manip);
  if (!randomAll(range)) {
    if (range.flags.protoSpecified) {
      const single = (range.minPort ?? 0) === (range.maxPort ?? range.minPort ?? 0);
      if (l4protoInRange(t, manip, range) && (single || !usedTuple(o, t, ct))) return t;
    } else if (!usedTuple(o, t, ct)) {
      return t;
    }
  }
  return l4protoUniqueTuple(o, t, range, manip, ct, rng);
}
