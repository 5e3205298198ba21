import { formatIp } from '../../base/index.js';
import type { Ip } from '../../base/index.js';
import { addrFold, hash32, hsiphashU32Key, sipKey32 } from '../hash.js';
import type { SipKey32 } from '../hash.js';
import type { Flow, RealServer, VirtualService } from '../types.js';
import { IP_VS_SVC_F_SCHED_MH_FALLBACK, IP_VS_SVC_F_SCHED_MH_PORT, IP_VS_SVC_F_SCHED_SH_FALLBACK, IP_VS_SVC_F_SCHED_SH_PORT } from '../types.js';
import { destName, gcd, LazyDecision, noDest, single } from './common.js';
import type { Candidate, Decision, Scheduler } from './types.js';

/** IP_VS_DH_TAB_BITS / IP_VS_SH_TAB_BITS (CONFIG_IP_VS_DH_TAB_BITS, CONFIG_IP_VS_SH_TAB_BITS default 8). */
export const IP_VS_DH_TAB_SIZE = 256;
export const IP_VS_SH_TAB_BITS = 8;
export const IP_VS_SH_TAB_SIZE = 1 << IP_VS_SH_TAB_BITS;

/** Available primes for the MH table (ip_vs_mh.c); CONFIG_IP_VS_MH_TAB_INDEX 12 selects primes[4] = 4093. */
const MH_PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071] as const;
export const IP_VS_MH_TAB_INDEX = 4; // CONFIG_IP_VS_MH_TAB_INDEX - 8
export const IP_VS_MH_TAB_SIZE: number = MH_PRIMES[4];
const IP_VS_MH_TAB_BITS = 12 / 2;
/** generate_hash_secret (ip_vs_mh.c): fixed keys, so the table is the same on every boot. */
const MH_HASH1: readonly [bigint, bigint] = [2654435761n, 2654435761n];
const MH_HASH2: readonly [bigint, bigint] = [2654446892n, 2654446892n];
/** The same keys split into u32 halves for the datapath (no BigInt per packet). */
const MH_KEY1: SipKey32 = sipKey32(MH_HASH1);
const MH_KEY2: SipKey32 = sipKey32(MH_HASH2);

function ipText(ip: Ip): string {
  return formatIp(ip);
}

/** is_unavailable (ip_vs_sh.c, ip_vs_mh.c): weight ≤ 0 or overloaded. */
function unavailable(d: RealServer): boolean {
  return d.weight <= 0 || d.overloaded;
}

// ---- dh ----

/** Models ip_vs_dh_hashkey (ip_vs_dh.c): (ntohl(addr) * 2654435761) & 255. */
export function dhHashKey(addr: Ip): number {
  return Math.imul(addrFold(addr), 2654435761 | 0) & (IP_VS_DH_TAB_SIZE - 1);
}

/** Models ip_vs_dh_reassign: buckets take the servers in list order, one each, round and round. */
function dhReassign(svc: VirtualService): void {
  const n = svc.dests.length;
  svc.schedState = Array.from({ length: IP_VS_DH_TAB_SIZE }, (_, i) => (n ? svc.dests[i % n]! : null));
}

function dhPick(svc: VirtualService, flow: Flow): Decision {
  const b = dhHashKey(flow.dst);
  const d = (svc.schedState as (RealServer | null)[])[b] ?? null;
  const dst = flow.dst;
  const head = () => `dh: destination ${ipText(dst)} → bucket ${b} of ${IP_VS_DH_TAB_SIZE}`;
  if (!d) return noDest(`${head()}: empty (no real servers)`);
  if (unavailable(d)) return noDest(`${head()} → ${destName(d)}, which is ${d.overloaded ? 'overloaded' : 'at weight 0'}: no destination available`);
  return new LazyDecision(d, () => `${head()} → ${destName(d)}`);
}

/** Models ip_vs_dh_schedule (ip_vs_dh.c). dh has no upd_dest hook; the table ignores weights. */
export const dh: Scheduler = {
  name: 'dh',
  update(svc, change): void {
    if (change.kind !== 'upd' || svc.schedState === undefined) dhReassign(svc);
  },
  schedule: dhPick,
  enumerate: (svc, flow): Candidate[] => single(dhPick(svc, flow)),
};

// ---- sh ----

/** Models ip_vs_sh_hashkey (ip_vs_sh.c): (offset + hash_32(port + ntohl(addr), 8)) & 255. */
export function shHashKey(addr: Ip, port: number, offset = 0): number {
  return (offset + hash32((port + addrFold(addr)) >>> 0, IP_VS_SH_TAB_BITS)) & (IP_VS_SH_TAB_SIZE - 1);
}

/** Models ip_vs_sh_reassign: each server fills `weight` consecutive buckets (at least one) in list order. */
function shReassign(svc: VirtualService): void {
  const table: (RealServer | null)[] = new Array(IP_VS_SH_TAB_SIZE).fill(null);
  const list = svc.dests;
  if (list.length) {
    let p = 0;
    let count = 0;
    for (let i = 0; i < IP_VS_SH_TAB_SIZE; i++) {
      const d = list[p]!;
      table[i] = d;
      if (++count >= d.weight) {
        p = (p + 1) % list.length;
        count = 0;
      }
    }
  }
  svc.schedState = table;
}

function shPick(svc: VirtualService, flow: Flow): Decision {
  const table = svc.schedState as (RealServer | null)[];
  const port = svc.flags & IP_VS_SVC_F_SCHED_SH_PORT ? flow.sport : 0;
  const ihash = shHashKey(flow.src, port, 0);
  const d = table[ihash] ?? null;
  if (d && !unavailable(d)) {
    const src = flow.src;
    return new LazyDecision(d, () => `sh: source ${ipText(src)}${port ? ` port ${port}` : ''} → bucket ${ihash} of ${IP_VS_SH_TAB_SIZE} → ${destName(d)}`);
  }
  const head = `sh: source ${ipText(flow.src)}${port ? ` port ${port}` : ''} → bucket ${ihash} of ${IP_VS_SH_TAB_SIZE}`;
  if (!d) return noDest(`${head}: empty (no real servers)`);
  if (!(svc.flags & IP_VS_SVC_F_SCHED_SH_FALLBACK)) return noDest(`${head} → ${destName(d)}, unavailable: no destination available`);
  // ip_vs_sh_get_fallback: rehash with offsets ihash, ihash+1, … until an available server.
  for (let offset = 0; offset < IP_VS_SH_TAB_SIZE; offset++) {
    const roffset = (offset + ihash) % IP_VS_SH_TAB_SIZE;
    const h = shHashKey(flow.src, port, roffset);
    const f = table[h]!;
    if (!unavailable(f)) return { dest: f, why: `${head} → ${destName(d)} unavailable; sh-fallback offset ${roffset} → bucket ${h} → ${destName(f)}` };
  }
  return noDest(`${head}: every bucket's server is unavailable`);
}

/** Models ip_vs_sh_schedule (ip_vs_sh.c) with the sh-port and sh-fallback flags. */
export const sh: Scheduler = {
  name: 'sh',
  update: (svc) => shReassign(svc),
  schedule: shPick,
  enumerate: (svc, flow): Candidate[] => single(shPick(svc, flow)),
};

// ---- mh ----

/** Models ip_vs_mh_hashkey (ip_vs_mh.c): hsiphash(offset + port + ntohl(addr_fold), key). */
export function mhHashKey(addr: Ip, port: number, key: readonly [bigint, bigint], offset = 0): number {
  return hsiphashU32Key((offset + port + addrFold(addr)) >>> 0, key === MH_HASH1 ? MH_KEY1 : key === MH_HASH2 ? MH_KEY2 : sipKey32(key));
}

/** mhHashKey with a key already split into u32 halves. */
function mhHash(addr: Ip, port: number, key: SipKey32, offset = 0): number {
  return hsiphashU32Key((offset + port + addrFold(addr)) >>> 0, key);
}

interface MhState {
  lookup: (RealServer | null)[];
  gcd: number;
  rshift: number;
}

/** fls(x): the position of the highest set bit, 1-based (0 for 0). */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/**
 * Models ip_vs_mh_gcd_weight, ip_vs_mh_shift_weight, ip_vs_mh_permutate and ip_vs_mh_populate:
 * each server has an offset and skip from two siphashes of its address and port, takes
 * turns = (weight/gcd) >> rshift preferred slots per round, and fills the 4093-entry table.
 * The kernel reads dest->last_weight, which equals the weight except while a server is being removed.
 */
function mhBuild(svc: VirtualService, prev: MhState | undefined): MhState {
  const M = IP_VS_MH_TAB_SIZE;
  const list = svc.dests;
  let g = 0;
  for (const d of list) if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
  let rshift = 0;
  if (g >= 1) {
    let mw = 0;
    for (const d of list) if (d.weight > mw) mw = d.weight;
    const shift = fls(Math.trunc(mw / g)) - IP_VS_MH_TAB_BITS;
    rshift = shift >= 0 ? shift : 0;
  }
  // The kernel keeps old entries it does not overwrite; with gcd < 1 it resets the table.
  const lookup: (RealServer | null)[] = g < 1 ? new Array(M).fill(null) : prev ? prev.lookup.map((d) => (d && list.includes(d) ? d : null)) : new Array(M).fill(null);
  if (g >= 1) {
    const setup = list.map((d) => {
      const offset = mhHash(d.addr, d.port, MH_KEY1) % M;
      const skip = (mhHash(d.addr, d.port, MH_KEY2) % (M - 1)) + 1;
      const turns = Math.trunc(d.weight / g) >> rshift || (d.weight !== 0 ? 1 : 0);
      return { offset, skip, perm: offset, turns };
    });
    const taken = new Uint8Array(M);
    let n = 0;
    let dtCount = 0;
    let p = 0;
    outer: while (n < M) {
      if (p === list.length) p = 0;
      while (p < list.length) {
        const ds = setup[p]!;
        if (ds.turns < 1) {
          p++;
          continue;
        }
        let c = ds.perm;
        while (taken[c]) {
          ds.perm += ds.skip;
          if (ds.perm >= M) ds.perm -= M;
          c = ds.perm;
        }
        taken[c] = 1;
        lookup[c] = list[p]!;
        if (++n === M) break outer;
        if (++dtCount >= ds.turns) {
          dtCount = 0;
          p++;
        }
      }
    }
  }
  return { lookup, gcd: g, rshift };
}

function mhPick(svc: VirtualService, flow: Flow): Decision {
  const s = svc.schedState as MhState;
  const M = IP_VS_MH_TAB_SIZE;
  const port = svc.flags & IP_VS_SVC_F_SCHED_MH_PORT ? flow.sport : 0;
  const ihash = mhHash(flow.src, port, MH_KEY1) % M;
  const d = s.lookup[ihash] ?? null;
  const src = flow.src;
  if (d && !unavailable(d)) return new LazyDecision(d, () => `mh: source ${ipText(src)}${port ? ` port ${port}` : ''} → slot ${ihash} of ${M} → ${destName(d)}`);
  const head = `mh: source ${ipText(flow.src)}${port ? ` port ${port}` : ''} → slot ${ihash} of ${M}`;
  if (!d) return noDest(`${head}: empty (no real servers with weight)`);
  if (!(svc.flags & IP_VS_SVC_F_SCHED_MH_FALLBACK)) return noDest(`${head} → ${destName(d)}, unavailable: no destination available`);
  for (let offset = 0; offset < M; offset++) {
    const roffset = (offset + ihash) % M;
    const h = mhHash(flow.src, port, MH_KEY1, roffset) % M;
    const f = s.lookup[h] ?? null;
    if (!f) break;
    if (!unavailable(f)) return { dest: f, why: `${head} → ${destName(d)} unavailable; mh-fallback offset ${roffset} → slot ${h} → ${destName(f)}` };
  }
  return noDest(`${head}: no available server found by mh-fallback`);
}

/** Models ip_vs_mh_schedule (ip_vs_mh.c), Maglev hashing, with the mh-port and mh-fallback flags. */
export const mh: Scheduler = {
  name: 'mh',
  update(svc, change): void {
    svc.schedState = mhBuild(svc, change.kind === 'init' ? undefined : (svc.schedState as MhState | undefined));
  },
  schedule: mhPick,
  enumerate: (svc, flow): Candidate[] => single(mhPick(svc, flow)),
};

/** The mh lookup table of a service (for tests and `--all` explanations). */
export function mhLookupTable(svc: VirtualService): readonly (RealServer | null)[] {
  return (svc.schedState as MhState).lookup;
}
