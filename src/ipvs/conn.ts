/**
 * The IPVS connection table (net/netfilter/ipvs/ip_vs_conn.c): entries hashed on the client tuple
 * (protocol, caddr, cport) with ip_vs_conn_hashkey, newest first in each bucket; persistence
 * templates hashed on the masked client address with port 0. Timeouts run on the virtual clock.
 */
import { formatIp, ipEquals } from '../base/index.js';
import type { Clock, Ip } from '../base/index.js';
import { connHashKey, IP_VS_CONN_TAB_BITS } from './hash.js';
import { SCTP_TIMEOUT, TCP_TIMEOUTS, UDP_TIMEOUT } from './proto.js';
import type { TcpState } from './proto.js';
import type { FwdMethod, IpvsProtocol, RealServer, VirtualService } from './types.js';
import { IPPROTO } from './types.js';

/** One struct ip_vs_conn: a connection, or a persistence template (IP_VS_CONN_F_TEMPLATE). */
export interface IpvsConn {
  /** 'ip' for fwmark templates (IPPROTO_IP). */
  readonly protocol: IpvsProtocol | 'ip';
  readonly caddr: Ip;
  readonly cport: number;
  readonly vaddr: Ip;
  readonly vport: number;
  readonly daddr: Ip;
  readonly dport: number;
  readonly fwd: FwdMethod;
  readonly template: boolean;
  /** TCP state; UDP conns are "UDP"; templates are NONE until a controlled conn is assured, then ASSURED. */
  state: TcpState | 'UDP' | 'ASSURED';
  /** IP_VS_CONN_F_INACTIVE: counted in the dest's inactconns. New conns start inactive. */
  inactive: boolean;
  /** IP_VS_CONN_F_NOOUTPUT: DR/TUN conns see only the input direction. */
  noOutput: boolean;
  /** Virtual time (ms) at which the entry expires. */
  expires: number;
  /** Timeout of the current state, ms (templates: the service's persistence timeout). */
  timeout: number;
  dest: RealServer | null;
  readonly service: VirtualService;
  /** The template controlling this connection (ip_vs_control_add). */
  control: IpvsConn | null;
  /** Connections this template controls (n_control). */
  nControl: number;
  readonly bucket: number;
}

/** ip_vs_dest_totalconns: activeconns + inactconns. */
function totalConns(d: RealServer): number {
  return d.activeConns + d.inactConns;
}

/** Models ip_vs_bind_dest (ip_vs_conn.c): count the conn, set IP_VS_DEST_F_OVERLOAD at the upper threshold. */
export function bindDest(c: IpvsConn, d: RealServer): void {
  if (c.template) d.persistConns++;
  else if (c.inactive) d.inactConns++;
  else d.activeConns++;
  if (d.uThreshold !== 0 && totalConns(d) >= d.uThreshold) d.overloaded = true;
}

/** Models ip_vs_unbind_dest: uncount, and clear the overload flag below the lower threshold (or 3/4 of the upper). */
export function unbindDest(c: IpvsConn): void {
  const d = c.dest;
  if (!d) return;
  if (c.template) d.persistConns--;
  else if (c.inactive) d.inactConns--;
  else d.activeConns--;
  if (d.lThreshold !== 0) {
    if (totalConns(d) < d.lThreshold) d.overloaded = false;
  } else if (d.uThreshold !== 0) {
    if (totalConns(d) * 4 < d.uThreshold * 3) d.overloaded = false;
  } else d.overloaded = false;
}

export function protoNumber(p: IpvsProtocol | 'ip'): number {
  return p === 'ip' ? 0 : IPPROTO[p];
}

export function stateTimeout(c: IpvsConn): number {
  if (c.protocol === 'tcp') return TCP_TIMEOUTS[c.state as TcpState] ?? TCP_TIMEOUTS.CLOSE;
  if (c.protocol === 'udp') return UDP_TIMEOUT;
  return SCTP_TIMEOUT;
}

export interface ConnTableOptions {
  /** ip_vs_conn_rnd (random per boot in the kernel). */
  rnd?: number;
  netSalt?: number;
  /** CONFIG_IP_VS_TAB_BITS (12). */
  tabBits?: number;
}

/** The connection hash table. Expired entries are removed when the table is read (as the timer would have). */
export class IpvsConnTable {
  private readonly buckets = new Map<number, IpvsConn[]>();
  private count = 0;
  readonly tabBits: number;
  readonly rnd: number;
  readonly netSalt: number;

  constructor(private readonly clock: Clock, opts: ConnTableOptions = {}) {
    this.tabBits = opts.tabBits ?? IP_VS_CONN_TAB_BITS;
    this.rnd = opts.rnd ?? 0;
    this.netSalt = opts.netSalt ?? 0;
  }

  get size(): number {
    return this.count;
  }

  get tabSize(): number {
    return 1 << this.tabBits;
  }

  /** ip_vs_conn_hashkey on the client tuple. */
  hashKey(protocol: IpvsProtocol | 'ip', caddr: Ip, cport: number): number {
    return connHashKey(protoNumber(protocol), caddr, cport, this.rnd, this.netSalt, this.tabBits);
  }

  /** Inserts at the head of its bucket (hlist_add_head_rcu in ip_vs_conn_hash). */
  insert(c: IpvsConn): void {
    const b = this.buckets.get(c.bucket);
    if (b) b.unshift(c);
    else this.buckets.set(c.bucket, [c]);
    this.count++;
  }

  private remove(c: IpvsConn): void {
    const b = this.buckets.get(c.bucket);
    if (!b) return;
    const i = b.indexOf(c);
    if (i < 0) return;
    b.splice(i, 1);
    if (b.length === 0) this.buckets.delete(c.bucket);
    this.count--;
  }

  /**
   * Models ip_vs_conn_expire for entries whose time has come: a template that still controls
   * connections is re-armed for another timeout; others are unhashed and unbound from their dest.
   */
  private expireIfDue(c: IpvsConn, now: number): boolean {
    if (now < c.expires) return false;
    if (c.template && c.nControl > 0) {
      while (c.expires <= now) c.expires += c.timeout;
      return false;
    }
    this.remove(c);
    unbindDest(c);
    if (c.control) c.control.nControl--;
    return true;
  }

  /** Runs every due expiry (a sweep of the timers). */
  expire(): void {
    const now = this.clock.now();
    // Connections first, so templates they release can expire in the same sweep.
    for (const pass of [false, true]) for (const b of [...this.buckets.values()]) for (const c of [...b]) if (c.template === pass) this.expireIfDue(c, now);
  }

  /** Models ip_vs_conn_in_get: the non-template entry for this client → virtual tuple. */
  inGet(protocol: IpvsProtocol, caddr: Ip, cport: number, vaddr: Ip, vport: number): { conn: IpvsConn | null; bucket: number } {
    const bucket = this.hashKey(protocol, caddr, cport);
    this.expire();
    for (const c of this.buckets.get(bucket) ?? []) {
      if (!c.template && c.protocol === protocol && c.cport === cport && c.vport === vport && ipEquals(c.caddr, caddr) && ipEquals(c.vaddr, vaddr)) return { conn: c, bucket };
    }
    return { conn: null, bucket };
  }

  /** Models ip_vs_conn_out_get: the entry a reply from the real server belongs to (hashed on the client it goes to). */
  outGet(protocol: IpvsProtocol, saddr: Ip, sport: number, daddr: Ip, dport: number): { conn: IpvsConn | null; bucket: number } {
    const bucket = this.hashKey(protocol, daddr, dport);
    this.expire();
    for (const c of this.buckets.get(bucket) ?? []) {
      if (!c.template && c.protocol === protocol && c.dport === sport && c.cport === dport && ipEquals(c.daddr, saddr) && ipEquals(c.caddr, daddr)) return { conn: c, bucket };
    }
    return { conn: null, bucket };
  }

  /** Models ip_vs_ct_in_get: the persistence template for <protocol, masked caddr, 0, vaddr, vport>. */
  templateGet(protocol: IpvsProtocol | 'ip', snet: Ip, vaddr: Ip, vport: number): { conn: IpvsConn | null; bucket: number } {
    const bucket = this.hashKey(protocol, snet, 0);
    this.expire();
    for (const c of this.buckets.get(bucket) ?? []) {
      if (c.template && c.protocol === protocol && c.vport === vport && ipEquals(c.caddr, snet) && ipEquals(c.vaddr, vaddr)) return { conn: c, bucket };
    }
    return { conn: null, bucket };
  }

  /** Entries in /proc/net/ip_vs_conn order: bucket by bucket, newest first in each. */
  entries(): IpvsConn[] {
    this.expire();
    return [...this.buckets.keys()].sort((a, b) => a - b).flatMap((k) => this.buckets.get(k)!);
  }
}

function connAddr(ip: Ip, port: number): string {
  return ip.family === 4 ? `${formatIp(ip)}:${port}` : `[${formatIp(ip)}]:${port}`;
}

/**
 * Models list_conn + print_conn (ipvsadm.c) over ip_vs_conn_seq_show: `ipvsadm -Lnc`.
 * Expiry is whole seconds left (jiffies_delta_to_msecs / 1000) as mm:ss.
 */
export function formatIpvsadmConns(t: IpvsConnTable, now: number): string {
  const out = ['IPVS connection entries', `pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} destination`];
  for (const c of t.entries()) {
    const left = Math.max(0, Math.floor((c.expires - now) / 1000));
    const expire = `${String(Math.floor(left / 60)).padStart(2, '0')}:${String(left % 60).padStart(2, '0')}`;
    const proto = c.protocol === 'ip' ? 'IP' : c.protocol.toUpperCase();
    const state = c.template ? (c.state === 'ASSURED' ? 'ASSURED' : 'NONE') : c.state;
    out.push(`${proto.padEnd(3)} ${expire.padEnd(6)} ${state.padEnd(11)} ${connAddr(c.caddr, c.cport).padEnd(18)} ${connAddr(c.vaddr, c.vport).padEnd(18)} ${connAddr(c.daddr, c.dport)}`);
  }
  return out.join('\n') + '\n';
}
