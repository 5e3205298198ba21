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
 * The IPVS service tables of one network namespace (ip_vs_svc_table and ip_vs_svc_fwm_table in
 * net/netfilter/ipvs/ip_vs_ctl.c): 256 buckets each, new services added at the head of their bucket.
 * Errors carry the messages ipvsadm prints for the kernel's errno (libipvs.c ipvs_strerror).
 */
export class IpvsServiceTable {
  private readonly svcTab: VirtualService[][] = Array.from({ length: IP_VS_SVC_TAB_SIZE }, () => []);
  private readonly fwmTab: VirtualService[][] = Array.from({ length: IP_VS_SVC_TAB_SIZE }, () => []);
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

  /** __ip_vs_service_find / __ip_vs_svc_fwm_find: the service with exactly this key, or null. */
  find(key: ServiceKey): VirtualService | null {
    const { table, bucket } = this.bucketOf(key);
    const chain = (table === 'svc' ? this.svcTab : this.fwmTab)[bucket]!;
    for (const s of chain) if (sameKey(s.key, key)) return s;
    return null;
  }

  /**
   * Models ip_vs_service_get (ip_vs_ctl.c): the fwmark table first when the packet carries a mark,
   * then <protocol, vaddr, vport>, then the port-zero catch-all service (<protocol, vaddr, 0>) when
   * one exists. (The FTP-data fallback needs the ftp helper, which podpath does not model.)
   */
  lookup(protocol: IpvsProtocol, vaddr: Ip, vport: number, fwmark = 0): ServiceLookup {
    const probes: string[] = [];
    if (fwmark) {
      const bucket = fwmHashKey(fwmark, this.netSalt);
      probes.push(`fwmark:${bucket}`);
      const chain = this.fwmTab[bucket]!;
      for (let i = 0; i < chain.length; i++) {
        const s = chain[i]!;
        if (s.key.kind === 'fwmark' && s.key.fwmark === fwmark && s.key.family === vaddr.family) {
          return { service: s, table: 'fwmark', bucket, compared: i + 1, probes, why: `fwmark ${fwmark} → bucket ${bucket} of the fwmark table (entry ${i + 1} of ${chain.length})` };
        }
      }
    }
    const tryKey = (port: number): ServiceLookup | null => {
      const bucket = svcHashKey(IPPROTO[protocol], vaddr, port, this.netSalt);
      probes.push(`svc:${bucket}`);
      const chain = this.svcTab[bucket]!;
      for (let i = 0; i < chain.length; i++) {
        const s = chain[i]!;
        const k = s.key;
        if (k.kind === 'addr' && k.protocol === protocol && k.port === port && ipEquals(k.addr, vaddr)) {
          return { service: s, table: 'svc', bucket, compared: i + 1, probes: [...probes], why: `${serviceKeyName(k)} → bucket ${bucket} of the service table (entry ${i + 1} of ${chain.length})` };
        }
      }
      return null;
    };
    const hit = tryKey(vport);
    if (hit) return hit;
    const missBucket = svcHashKey(IPPROTO[protocol], vaddr, vport, this.netSalt);
    const missChain = this.svcTab[missBucket]!.length;
    if (vport !== 0 && this.all.some((s) => s.key.kind === 'addr' && s.key.port === 0)) {
      const zero = tryKey(0);
      if (zero) return zero;
    }
    const a = vaddr.family === 4 ? formatIp(vaddr) : `[${formatIp(vaddr)}]`;
    return { service: null, table: 'svc', bucket: missBucket, compared: missChain, probes, why: `no virtual service ${protocol.toUpperCase()} ${a}:${vport}${fwmark ? ` nor FWM ${fwmark}` : ''} (bucket ${missBucket} holds ${missChain})` };
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
    const { table, bucket } = this.bucketOf(key);
    (table === 'svc' ? this.svcTab : this.fwmTab)[bucket]!.unshift(svc); // list_add: head of the bucket
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
    const { table, bucket } = this.bucketOf(key);
    const chain = (table === 'svc' ? this.svcTab : this.fwmTab)[bucket]!;
    chain.splice(chain.indexOf(svc), 1);
    this.all.splice(this.all.indexOf(svc), 1);
  }

  /** `ipvsadm -C`. */
  clear(): void {
    for (const c of this.svcTab) c.length = 0;
    for (const c of this.fwmTab) c.length = 0;
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
