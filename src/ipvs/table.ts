import { formatIp, InputError, ipEquals } from '../base/index.js';
import type { Ip, SourceLocation } from '../base/index.js';
import { fwmHashKey, IP_VS_SVC_TAB_SIZE, svcHashKey } from './hash.js';
import { SCHEDULERS } from './schedulers/index.js';
import { destName } from './schedulers/common.js';
import type { FwdMethod, IpvsProtocol, RealServer, SchedulerName, ServiceKey, VirtualService } from './types.js';
import { emptyStats, IPPROTO, SCHEDULER_NAMES } from './types.js';

/** What the caller sets on a virtual service (`-A`/`-E`). */
export interface ServiceOptions {
  scheduler: SchedulerName;
  flags?: number;
  /** Persistence timeout, seconds (with IP_VS_SVC_F_PERSISTENT). */
  timeout?: number;
  /** Persistence netmask as a prefix length (default /32 or /128). */
  netmask?: number;
  pe?: string;
}

/** What the caller sets on a real server (`-a`/`-e`). */
export interface DestOptions {
  addr: Ip;
  port: number;
  fwd: FwdMethod;
  weight: number;
  uThreshold?: number;
  lThreshold?: number;
}

/** The result of one service lookup: one hash, one bucket, a short chain — not a walk over every service. */
export interface ServiceLookup {
  readonly service: VirtualService | null;
  /** Which table answered: the fwmark table (checked first when the packet has a mark) or the <proto,addr,port> one. */
  readonly table: 'fwmark' | 'svc';
  /** Bucket index as ip_vs_svc_hashkey / ip_vs_svc_fwm_hashkey compute it (0..255). */
  readonly bucket: number;
  /** Entries of that bucket compared before the hit (or all of them on a miss). */
  readonly compared: number;
  /** Tables probed in order, e.g. ["fwmark:17", "svc:201"]. */
  readonly probes: readonly string[];
  readonly why: string;
}

export function serviceKeyName(k: ServiceKey): string {
  if (k.kind === 'fwmark') return `FWM ${k.fwmark}${k.family === 6 ? ' IPv6' : ''}`;
  const a = k.addr.family === 4 ? formatIp(k.addr) : `[${formatIp(k.addr)}]`;
  return `${k.protocol.toUpperCase()} ${a}:${k.port}`;
}

export function sameKey(a: ServiceKey, b: ServiceKey): boolean {
  if (a.kind === 'fwmark') return b.kind === 'fwmark' && a.fwmark === b.fwmark && a.family === b.family;
  return b.kind === 'addr' && a.protocol === b.protocol && a.port === b.port && ipEquals(a.addr, b.addr);
}

function keyFamily(k: ServiceKey): 4 | 6 {
  return k.kind === 'fwmark' ? k.family : k.addr.family;
}

/**
 * One hashed service: where the kernel's chain holds it. Chains are kept oldest first, so the
 * kernel's walk (newest first, list_add at the head) reaches this entry after
 * `chain.length - idx` compares.
 */
class SvcSlot {
  /** The last hit result for this slot, reused until its bucket changes. */
  cached: ServiceLookup | null = null;
  constructor(
    readonly svc: VirtualService,
    readonly table: 'svc' | 'fwmark',
    readonly bucket: number,
    readonly chain: SvcSlot[],
    public idx: number,
  ) {}
}

/** One frozen probes list per bucket, so a plain hit allocates nothing. */
const SVC_PROBES: readonly (readonly string[])[] = Array.from({ length: IP_VS_SVC_TAB_SIZE }, (_, b) => Object.freeze([`svc:${b}`]));
const FWM_PROBES: readonly (readonly string[])[] = Array.from({ length: IP_VS_SVC_TAB_SIZE }, (_, b) => Object.freeze([`fwmark:${b}`]));

/**
 * A lookup result whose explanation is built only when read (`why` is a getter, so not an own
 * property; toJSON includes it). Everything else is computed at lookup time.
 */
class LookupResult implements ServiceLookup {
  private text: string | undefined;
  constructor(
    readonly service: VirtualService | null,
    readonly table: 'fwmark' | 'svc',
    readonly bucket: number,
    readonly compared: number,
    readonly probes: readonly string[],
    /** Of the bucket's chain. */
    private readonly chainLength: number,
    /** For the miss text. */
    private readonly miss: { protocol: IpvsProtocol; vaddr: Ip; vport: number; fwmark: number } | null,
  ) {}

  get why(): string {
    if (this.text !== undefined) return this.text;
    const { bucket, compared, chainLength: n } = this;
    const k = this.service?.key;
    if (k?.kind === 'fwmark') this.text = `fwmark ${k.fwmark} → bucket ${bucket} of the fwmark table (entry ${compared} of ${n})`;
    else if (k) this.text = `${serviceKeyName(k)} → bucket ${bucket} of the service table (entry ${compared} of ${n})`;
    else {
      const { protocol, vaddr, vport, fwmark } = this.miss!;
      const a = vaddr.family === 4 ? formatIp(vaddr) : `[${formatIp(vaddr)}]`;
      this.text = `no virtual service ${protocol.toUpperCase()} ${a}:${vport}${fwmark ? ` nor FWM ${fwmark}` : ''} (bucket ${bucket} holds ${n})`;
    }
    return this.text;
  }

  toJSON(): ServiceLookup {
    return { service: this.service, table: this.table, bucket: this.bucket, compared: this.compared, probes: this.probes, why: this.why };
  }
}

/** A hit: the kernel's bucket and its position in the chain the kernel walks (newest first). */
function hitResult(slot: SvcSlot, probes: readonly string[]): ServiceLookup {
  const n = slot.chain.length;
  return new LookupResult(slot.svc, slot.table, slot.bucket, n - slot.idx, probes, n, null);
}

/**
 * The IPVS service tables of one network namespace (ip_vs_svc_table and ip_vs_svc_fwm_table in
 * net/netfilter/ipvs/ip_vs_ctl.c): 256 buckets each, new services added at the head of their bucket.
 * Errors carry the messages ipvsadm prints for the kernel's errno (libipvs.c ipvs_strerror).
 *
 * The kernel's key keeps only 8 bits, so 10,000 ClusterIPs make chains of ~40 entries that the
 * kernel walks. podpath answers with one exact-key index instead and reports the bucket and the
 * entry's place in the kernel's chain (kept up to date on add and delete), so the result is what the
 * walk would give without walking.
 */
export class IpvsServiceTable {
  /** The kernel's buckets, each chain oldest first (the kernel's head is the array's end). */
  private readonly svcTab: SvcSlot[][] = Array.from({ length: IP_VS_SVC_TAB_SIZE }, () => []);
  private readonly fwmTab: SvcSlot[][] = Array.from({ length: IP_VS_SVC_TAB_SIZE }, () => []);
  /** Exact-key indexes: address → the slots of services on that address (one per protocol/port). */
  private readonly byAddr4 = new Map<number, SvcSlot[]>();
  private readonly byAddr6 = new Map<bigint, SvcSlot[]>();
  /** fwmark → slot, per family. */
  private readonly byMark4 = new Map<number, SvcSlot>();
  private readonly byMark6 = new Map<number, SvcSlot>();
  private readonly slotOf = new Map<VirtualService, SvcSlot>();
  /** <protocol, addr, 0> services: ipvs->nullsvc_counter, which turns on the port-zero probe. */
  private nullsvc = 0;
  /** Services in creation order (ipvsadm sorts them for printing). */
  private readonly all: VirtualService[] = [];

  /** `netSalt` stands for the kernel's `(size_t)ipvs >> 8` term of both hash keys. */
  constructor(readonly netSalt = 0) {}

  get size(): number {
    return this.all.length;
  }

  services(): readonly VirtualService[] {
    return this.all;
  }

  /** The bucket a key hashes to, as the kernel computes it. */
  bucketOf(key: ServiceKey): { table: 'svc' | 'fwmark'; bucket: number } {
    return key.kind === 'fwmark'
      ? { table: 'fwmark', bucket: fwmHashKey(key.fwmark, this.netSalt) }
      : { table: 'svc', bucket: svcHashKey(IPPROTO[key.protocol], key.addr, key.port, this.netSalt) };
  }

  /** The indexed slot of an <protocol, addr, port> key, or undefined. */
  private addrSlot(protocol: IpvsProtocol, addr: Ip, port: number): SvcSlot | undefined {
    const list = addr.family === 4 ? this.byAddr4.get(addr.n) : this.byAddr6.get(addr.n);
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      const k = s.svc.key as Extract<ServiceKey, { kind: 'addr' }>;
      if (k.port === port && k.protocol === protocol) return s;
    }
    return undefined;
  }

  private slotFor(key: ServiceKey): SvcSlot | undefined {
    if (key.kind === 'addr') return this.addrSlot(key.protocol, key.addr, key.port);
    return (key.family === 4 ? this.byMark4 : this.byMark6).get(key.fwmark);
  }

  /** __ip_vs_service_find / __ip_vs_svc_fwm_find: the service with exactly this key, or null. */
  find(key: ServiceKey): VirtualService | null {
    return this.slotFor(key)?.svc ?? null;
  }

  /**
   * Models ip_vs_service_get (ip_vs_ctl.c): the fwmark table first when the packet carries a mark,
   * then <protocol, vaddr, vport>, then the port-zero catch-all service (<protocol, vaddr, 0>) when
   * one exists. (The FTP-data fallback needs the ftp helper, which podpath does not model.)
   * `bucket` and `compared` are the kernel's: the hash bucket and how many entries of its chain the
   * kernel compares before the hit (all of them on a miss).
   */
  lookup(protocol: IpvsProtocol, vaddr: Ip, vport: number, fwmark = 0): ServiceLookup {
    let fwProbe: string | null = null;
    if (fwmark) {
      const slot = (vaddr.family === 4 ? this.byMark4 : this.byMark6).get(fwmark);
      if (slot) return (slot.cached ??= hitResult(slot, FWM_PROBES[slot.bucket]!));
      fwProbe = FWM_PROBES[fwmHashKey(fwmark, this.netSalt)]![0]!;
    }
    const hit = this.addrSlot(protocol, vaddr, vport);
    if (hit) return fwProbe === null ? (hit.cached ??= hitResult(hit, SVC_PROBES[hit.bucket]!)) : hitResult(hit, [fwProbe, SVC_PROBES[hit.bucket]![0]!]);
    const missBucket = svcHashKey(IPPROTO[protocol], vaddr, vport, this.netSalt);
    const probes: string[] = fwProbe === null ? [SVC_PROBES[missBucket]![0]!] : [fwProbe, SVC_PROBES[missBucket]![0]!];
    if (vport !== 0 && this.nullsvc > 0) {
      const zeroBucket = svcHashKey(IPPROTO[protocol], vaddr, 0, this.netSalt);
      probes.push(SVC_PROBES[zeroBucket]![0]!);
      const zero = this.addrSlot(protocol, vaddr, 0);
      if (zero) return hitResult(zero, probes);
    }
    const held = this.svcTab[missBucket]!.length;
    return new LookupResult(null, 'svc', missBucket, held, probes, held, { protocol, vaddr, vport, fwmark });
  }

  /** The kernel's chain of one bucket, head first (for traces that list what the kernel walks). */
  chain(table: 'svc' | 'fwmark', bucket: number): VirtualService[] {
    const c = (table === 'svc' ? this.svcTab : this.fwmTab)[bucket] ?? [];
    const out: VirtualService[] = [];
    for (let i = c.length - 1; i >= 0; i--) out.push(c[i]!.svc);
    return out;
  }

  /** Hashes a new service at the head of its bucket (list_add) and indexes it. */
  private hash(svc: VirtualService): void {
    const { table, bucket } = this.bucketOf(svc.key);
    const chain = (table === 'svc' ? this.svcTab : this.fwmTab)[bucket]!;
    const slot = new SvcSlot(svc, table, bucket, chain, chain.length);
    chain.push(slot);
    for (const s of chain) s.cached = null; // every position in the bucket moved
    this.slotOf.set(svc, slot);
    const k = svc.key;
    if (k.kind === 'fwmark') {
      (k.family === 4 ? this.byMark4 : this.byMark6).set(k.fwmark, slot);
      return;
    }
    if (k.port === 0) this.nullsvc++;
    if (k.addr.family === 4) {
      const l = this.byAddr4.get(k.addr.n);
      if (l) l.push(slot);
      else this.byAddr4.set(k.addr.n, [slot]);
    } else {
      const l = this.byAddr6.get(k.addr.n);
      if (l) l.push(slot);
      else this.byAddr6.set(k.addr.n, [slot]);
    }
  }

  /** Unhashes a service (ip_vs_svc_unhash): the entries behind it in the kernel's walk move up. */
  private unhash(svc: VirtualService): void {
    const slot = this.slotOf.get(svc);
    if (!slot) return;
    this.slotOf.delete(svc);
    const chain = slot.chain;
    chain.splice(slot.idx, 1);
    for (let i = 0; i < chain.length; i++) {
      chain[i]!.idx = i;
      chain[i]!.cached = null;
    }
    const k = svc.key;
    if (k.kind === 'fwmark') {
      (k.family === 4 ? this.byMark4 : this.byMark6).delete(k.fwmark);
      return;
    }
    if (k.port === 0) this.nullsvc--;
    const l = k.addr.family === 4 ? this.byAddr4.get(k.addr.n) : this.byAddr6.get(k.addr.n);
    if (!l) return;
    l.splice(l.indexOf(slot), 1);
    if (l.length === 0) {
      if (k.addr.family === 4) this.byAddr4.delete(k.addr.n);
      else this.byAddr6.delete(k.addr.n);
    }
  }

  /** Models ip_vs_add_service: ESRCH/EEXIST become the messages ipvsadm prints. */
  addService(key: ServiceKey, opts: ServiceOptions, at: SourceLocation = {}): VirtualService {
    if (this.find(key)) throw new InputError({ ...at, message: `Service already exists: ${serviceKeyName(key)}` });
    checkScheduler(opts.scheduler, at);
    const fam = keyFamily(key);
    const svc: VirtualService = {
      key,
      scheduler: opts.scheduler,
      flags: opts.flags ?? 0,
      timeout: opts.timeout ?? 0,
      netmask: opts.netmask ?? (fam === 4 ? 32 : 128),
      pe: opts.pe ?? '',
      dests: [],
      stats: emptyStats(),
      schedState: undefined,
    };
    SCHEDULERS[svc.scheduler].update(svc, { kind: 'init' });
    this.hash(svc); // list_add: head of the bucket
    this.all.push(svc);
    return svc;
  }

  /** Models ip_vs_edit_service: a new scheduler starts from a fresh state. */
  editService(key: ServiceKey, opts: ServiceOptions, at: SourceLocation = {}): VirtualService {
    const svc = this.find(key);
    if (!svc) throw new InputError({ ...at, message: `No such service: ${serviceKeyName(key)}` });
    checkScheduler(opts.scheduler, at);
    const changed = svc.scheduler !== opts.scheduler;
    svc.scheduler = opts.scheduler;
    svc.flags = opts.flags ?? 0;
    svc.timeout = opts.timeout ?? 0;
    svc.netmask = opts.netmask ?? (keyFamily(key) === 4 ? 32 : 128);
    svc.pe = opts.pe ?? '';
    if (changed) {
      svc.schedState = undefined;
      SCHEDULERS[svc.scheduler].update(svc, { kind: 'init' });
    }
    return svc;
  }

  deleteService(key: ServiceKey, at: SourceLocation = {}): void {
    const svc = this.find(key);
    if (!svc) throw new InputError({ ...at, message: `No such service: ${serviceKeyName(key)}` });
    this.unhash(svc);
    this.all.splice(this.all.indexOf(svc), 1);
  }

  /** `ipvsadm -C`. */
  clear(): void {
    for (const c of this.svcTab) c.length = 0;
    for (const c of this.fwmTab) c.length = 0;
    this.byAddr4.clear();
    this.byAddr6.clear();
    this.byMark4.clear();
    this.byMark6.clear();
    this.slotOf.clear();
    this.nullsvc = 0;
    this.all.length = 0;
  }

  /** Models ip_vs_add_dest → __ip_vs_update_dest(add): the new real server goes to the head of the list. */
  addDest(key: ServiceKey, o: DestOptions, at: SourceLocation = {}): RealServer {
    const svc = this.find(key);
    if (!svc) throw new InputError({ ...at, message: `Service not defined: ${serviceKeyName(key)}` });
    checkDest(o, at);
    if (svc.dests.some((d) => d.port === o.port && ipEquals(d.addr, o.addr))) {
      throw new InputError({ ...at, message: `Destination already exists: ${destName({ addr: o.addr, port: o.port } as RealServer)}` });
    }
    const dest: RealServer = {
      addr: o.addr,
      port: o.port,
      fwd: o.fwd,
      weight: o.weight,
      uThreshold: o.uThreshold ?? 0,
      lThreshold: o.lThreshold ?? 0,
      activeConns: 0,
      inactConns: 0,
      persistConns: 0,
      overloaded: false,
      stats: emptyStats(),
    };
    svc.dests.unshift(dest);
    SCHEDULERS[svc.scheduler].update(svc, { kind: 'add', dest });
    return dest;
  }

  /** Models ip_vs_edit_dest → __ip_vs_update_dest(update): raising or clearing -x clears the overload flag. */
  editDest(key: ServiceKey, o: DestOptions, at: SourceLocation = {}): RealServer {
    const svc = this.find(key);
    if (!svc) throw new InputError({ ...at, message: `Service not defined: ${serviceKeyName(key)}` });
    checkDest(o, at);
    const dest = svc.dests.find((d) => d.port === o.port && ipEquals(d.addr, o.addr));
    if (!dest) throw new InputError({ ...at, message: `No such destination: ${destName({ addr: o.addr, port: o.port } as RealServer)}` });
    const u = o.uThreshold ?? 0;
    if (u === 0 || u > dest.uThreshold) dest.overloaded = false;
    dest.fwd = o.fwd;
    dest.weight = o.weight;
    dest.uThreshold = u;
    dest.lThreshold = o.lThreshold ?? 0;
    SCHEDULERS[svc.scheduler].update(svc, { kind: 'upd', dest });
    return dest;
  }

  /** Models ip_vs_del_dest: the scheduler's del_dest hook sees where the server was. */
  deleteDest(key: ServiceKey, addr: Ip, port: number, at: SourceLocation = {}): void {
    const svc = this.find(key);
    if (!svc) throw new InputError({ ...at, message: `Service not defined: ${serviceKeyName(key)}` });
    const index = svc.dests.findIndex((d) => d.port === port && ipEquals(d.addr, addr));
    if (index < 0) throw new InputError({ ...at, message: `No such destination: ${destName({ addr, port } as RealServer)}` });
    const [dest] = svc.dests.splice(index, 1);
    SCHEDULERS[svc.scheduler].update(svc, { kind: 'del', dest: dest!, index });
  }
}

function checkScheduler(name: string, at: SourceLocation): asserts name is SchedulerName {
  if (!(SCHEDULER_NAMES as readonly string[]).includes(name)) {
    throw new InputError({ ...at, message: `Scheduler not found: ip_vs_${name}.ko (known: ${SCHEDULER_NAMES.join(', ')})` });
  }
}

function checkDest(o: DestOptions, at: SourceLocation): void {
  if (!Number.isInteger(o.weight) || o.weight < 0 || o.weight > 65535) throw new InputError({ ...at, message: `illegal weight specified: ${o.weight} (0..65535)` });
  for (const [name, v] of [['u_threshold', o.uThreshold ?? 0], ['l_threshold', o.lThreshold ?? 0]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new InputError({ ...at, message: `illegal ${name} specified: ${v}` });
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new InputError({ ...at, message: `illegal port ${o.port}` });
}
