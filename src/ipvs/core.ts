/**
 * One network namespace's IPVS: the service tables, the connection table and the hooks the netns
 * pipeline calls — ip_vs_in at LOCAL_IN for requests, ip_vs_out for NAT replies
 * (net/netfilter/ipvs/ip_vs_core.c). Writes `ipvs` steps to the trace recorder it is given.
 */
import { formatIp } from '../base/index.js';
import type { Chooser, Clock, Ip } from '../base/index.js';
import { NO_TRACE } from '../trace/index.js';
import type { TraceRecorder } from '../trace/index.js';
import { bindDest, IpvsConnTable, stateTimeout, unbindDest } from './conn.js';
import type { IpvsConn } from './conn.js';
import { forwardAction } from './forward.js';
import type { ForwardAction } from './forward.js';
import { nextTcpState } from './proto.js';
import type { IpvsDirection, TcpFlags } from './proto.js';
import { SCHEDULERS } from './schedulers/index.js';
import { destName } from './schedulers/common.js';
import type { Candidate, Decision } from './schedulers/types.js';
import { IpvsServiceTable, serviceKeyName } from './table.js';
import type { ServiceLookup } from './table.js';
import type { Flow, IpvsProtocol, RealServer, VirtualService } from './types.js';
import { IP_VS_SVC_F_PERSISTENT } from './types.js';

/** The net.ipv4.vs.* sysctls that change IPVS behaviour here (defaults as the kernel's). */
export interface IpvsSysctls {
  /** expire_quiescent_template: a template whose dest has weight 0 is not reused (kube-proxy sets 1). */
  expireQuiescentTemplate: boolean;
  /** expire_nodest_conn: a conn whose dest was removed is expired on its next packet (kube-proxy sets 1). */
  expireNodestConn: boolean;
  /** conntrack: keep netfilter conntrack entries for IPVS conns (kube-proxy sets 1). Read by the pipeline. */
  conntrack: boolean;
}

export interface IpvsOptions {
  clock: Clock;
  sysctls?: Partial<IpvsSysctls>;
  /** ip_vs_conn_rnd and the per-netns pointer salt of the hash keys (0 unless told). */
  connRnd?: number;
  netSalt?: number;
}

/** The request as ip_vs_in reads it. */
export interface IpvsPacket extends Flow {
  readonly tcp?: TcpFlags;
  readonly bytes?: number;
}

export type IpvsInVerdict =
  /** Not for IPVS (no conn, no service, or a TCP non-SYN without a conn): the packet goes on. */
  | 'pass'
  /** Forwarded by the conn's transmitter. */
  | 'forward'
  /** A service but no destination: ip_vs_leave sends ICMP port unreachable and drops. */
  | 'reject';

export interface IpvsInResult {
  readonly verdict: IpvsInVerdict;
  readonly lookup: ServiceLookup | null;
  readonly conn: IpvsConn | null;
  /** True when the conn was created for this packet. */
  readonly scheduled: boolean;
  readonly decision: Decision | null;
  /** The template that decided the dest, for persistent services. */
  readonly template: IpvsConn | null;
  readonly action: ForwardAction | null;
  readonly why: string;
}

export interface IpvsOutResult {
  readonly conn: IpvsConn | null;
  /** The reply's new source (the VIP and virtual port) when a NAT conn matched. */
  readonly snat: { readonly src: Ip; readonly sport: number } | null;
  readonly why: string;
}

function ep(ip: Ip, port: number): string {
  return ip.family === 4 ? `${formatIp(ip)}:${port}` : `[${formatIp(ip)}]:${port}`;
}

function maskAddr(ip: Ip, prefix: number): Ip {
  if (ip.family === 4) return { family: 4, n: prefix === 0 ? 0 : (ip.n & ((0xffffffff << (32 - prefix)) >>> 0)) >>> 0 };
  const mask = prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n);
  return { family: 6, n: ip.n & mask };
}

export class Ipvs {
  readonly services: IpvsServiceTable;
  readonly conns: IpvsConnTable;
  readonly sysctls: IpvsSysctls;
  private readonly clock: Clock;

  constructor(opts: IpvsOptions, services?: IpvsServiceTable) {
    this.clock = opts.clock;
    this.services = services ?? new IpvsServiceTable(opts.netSalt ?? 0);
    this.conns = new IpvsConnTable(opts.clock, { rnd: opts.connRnd ?? 0, netSalt: opts.netSalt ?? 0 });
    this.sysctls = { expireQuiescentTemplate: false, expireNodestConn: false, conntrack: false, ...(opts.sysctls ?? {}) };
  }

  /**
   * The scheduler's choice for `flow`. Without a chooser: the kernel's exact decision, advancing
   * rr/wrr state. With a chooser: when the choice depends on state the request does not fix (rr/wrr
   * position), the chooser draws among `enumerate`'s candidates (seeded, or every branch with --all),
   * and scheduler state is left as it was.
   */
  decide(svc: VirtualService, flow: Flow, chooser?: Chooser): Decision {
    const sched = SCHEDULERS[svc.scheduler];
    if (!chooser) return sched.schedule(svc, flow);
    const cands = sched.enumerate(svc, flow);
    if (cands.length === 1) return { dest: cands[0]!.dest, why: cands[0]!.why };
    const i = chooser.choose(`ipvs ${serviceKeyName(svc.key)} ${svc.scheduler}`, cands.map((c) => c.probability));
    const c = cands[i]!;
    return { dest: c.dest, why: `${c.why} (probability ${c.probability})` };
  }

  /** Every real server `flow` could reach on `svc` now, with exact probabilities (templates fix the answer). */
  enumerate(svc: VirtualService, flow: Flow): Candidate[] {
    if (svc.flags & IP_VS_SVC_F_PERSISTENT) {
      const t = this.findTemplate(svc, flow);
      if (t) return [{ dest: t.dest, probability: 1, why: `persistence template ${ep(t.caddr, 0)} → ${ep(t.daddr, t.dport)}` }];
    }
    return SCHEDULERS[svc.scheduler].enumerate(svc, flow);
  }

  private templateKey(svc: VirtualService, flow: Flow): { protocol: IpvsProtocol | 'ip'; snet: Ip; vaddr: Ip; vport: number } {
    const snet = maskAddr(flow.src, svc.netmask);
    if (svc.key.kind === 'fwmark') {
      const fw = svc.key.fwmark;
      return { protocol: 'ip', snet, vaddr: flow.src.family === 4 ? { family: 4, n: fw >>> 0 } : { family: 6, n: BigInt(fw) << 96n }, vport: 0 };
    }
    // <protocol, caddr, 0, vaddr, vport> (port-zero services: vport 0). FTP (port 21) templates use 0 too.
    const vport = flow.dport === svc.key.port && svc.key.port !== 21 ? flow.dport : 0;
    return { protocol: flow.protocol, snet, vaddr: flow.dst, vport };
  }

  private findTemplate(svc: VirtualService, flow: Flow): IpvsConn | null {
    const k = this.templateKey(svc, flow);
    const t = this.conns.templateGet(k.protocol, k.snet, k.vaddr, k.vport).conn;
    return t && this.checkTemplate(t) ? t : null;
  }

  /** Models ip_vs_check_template: the template's dest must still be in its service (and, with expire_quiescent_template, weighted). */
  private checkTemplate(t: IpvsConn): boolean {
    const d = t.dest;
    if (d && t.service.dests.includes(d) && !(this.sysctls.expireQuiescentTemplate && d.weight === 0)) return true;
    // The kernel expires an invalid template at once.
    t.expires = this.clock.now();
    t.nControl = 0;
    this.conns.expire();
    return false;
  }

  private newConn(svc: VirtualService, p: { protocol: IpvsProtocol | 'ip'; caddr: Ip; cport: number; vaddr: Ip; vport: number }, dest: RealServer, dport: number, template: boolean): IpvsConn {
    const c: IpvsConn = {
      ...p,
      daddr: dest.addr,
      dport,
      fwd: dest.fwd,
      template,
      state: template ? 'NONE' : p.protocol === 'udp' ? 'UDP' : 'NONE',
      inactive: !template, // dest->conn_flags carries IP_VS_CONN_F_INACTIVE (__ip_vs_update_dest)
      noOutput: !template && dest.fwd !== 'masq',
      expires: 0,
      timeout: template ? svc.timeout * 1000 : 3000, // ip_vs_conn_new: 3*HZ until the first state transition
      dest,
      service: svc,
      control: null,
      nControl: 0,
      bucket: this.conns.hashKey(p.protocol, p.caddr, p.cport),
    };
    c.expires = this.clock.now() + c.timeout;
    bindDest(c, dest);
    this.conns.insert(c);
    return c;
  }

  /** Models ip_vs_set_state → tcp/udp state_transition, moving the conn between active and inactive. */
  private transition(c: IpvsConn, dir: 'input' | 'output', tcp: TcpFlags | undefined): void {
    let d: IpvsDirection = dir;
    if (c.noOutput) {
      if (dir === 'output') c.noOutput = false;
      else d = 'input-only';
    }
    if (c.protocol === 'tcp') {
      const prev = c.state === 'UDP' || c.state === 'ASSURED' ? 'NONE' : c.state;
      const next = nextTcpState(prev, d, tcp ?? {});
      if (next !== prev && c.dest) {
        if (!c.inactive && next !== 'ESTABLISHED') {
          c.dest.activeConns--;
          c.dest.inactConns++;
          c.inactive = true;
        } else if (c.inactive && next === 'ESTABLISHED') {
          c.dest.activeConns++;
          c.dest.inactConns--;
          c.inactive = false;
        }
      }
      c.state = next;
      if (next === 'ESTABLISHED' && c.control) c.control.state = 'ASSURED';
    } else if (c.protocol === 'udp' && dir === 'output' && c.control) {
      c.control.state = 'ASSURED';
    }
    c.timeout = stateTimeout(c);
    c.expires = this.clock.now() + c.timeout;
  }

  /**
   * Models ip_vs_in (LOCAL_IN, after filter INPUT): an existing conn carries the packet; else a
   * SYN (or any UDP/SCTP packet) to a virtual service is scheduled — ip_vs_sched_persist for
   * persistent services — and a conn is created. Records one `ipvs` step.
   */
  processIn(pkt: IpvsPacket, opts: { rec?: TraceRecorder; chooser?: Chooser } = {}): IpvsInResult {
    const rec = opts.rec ?? NO_TRACE;
    const existing = this.conns.inGet(pkt.protocol, pkt.src, pkt.sport, pkt.dst, pkt.dport);
    if (existing.conn) {
      const c = existing.conn;
      if (this.sysctls.expireNodestConn && c.dest && !c.service.dests.includes(c.dest)) {
        c.expires = this.clock.now();
        this.conns.expire();
      } else {
        this.transition(c, 'input', pkt.tcp);
        this.count(c, 'in', pkt.bytes);
        const why = `existing connection in bucket ${existing.bucket} of ${this.conns.tabSize}: ${ep(c.caddr, c.cport)} → ${ep(c.vaddr, c.vport)} → ${ep(c.daddr, c.dport)} (${c.state})`;
        rec.add({ kind: 'ipvs', text: `IPVS ${why}`, service: serviceKeyName(c.service.key), realServer: ep(c.daddr, c.dport) });
        return { verdict: 'forward', lookup: null, conn: c, scheduled: false, decision: null, template: c.control, action: forwardAction(c.fwd, c.daddr, c.dport), why };
      }
    }
    const lookup = this.services.lookup(pkt.protocol, pkt.dst, pkt.dport, pkt.mark ?? 0);
    const svc = lookup.service;
    if (!svc) return { verdict: 'pass', lookup, conn: null, scheduled: false, decision: null, template: null, action: null, why: lookup.why };
    if (pkt.protocol === 'tcp' && !(pkt.tcp?.syn && !pkt.tcp.rst)) {
      const why = `${lookup.why}; no connection and not a SYN: not scheduled (tcp_conn_schedule)`;
      return { verdict: 'pass', lookup, conn: null, scheduled: false, decision: null, template: null, action: null, why };
    }
    const r = svc.flags & IP_VS_SVC_F_PERSISTENT ? this.schedPersist(svc, pkt, opts.chooser) : this.schedule(svc, pkt, opts.chooser);
    const sname = serviceKeyName(svc.key);
    if (!r.conn) {
      const why = `${lookup.why}; ${r.decision?.why ?? r.why}; ICMP port unreachable (ip_vs_leave)`;
      rec.add({ kind: 'ipvs', text: `IPVS ${why}`, service: sname, realServer: null });
      return { verdict: 'reject', lookup, conn: null, scheduled: false, decision: r.decision, template: r.template, action: null, why };
    }
    const c = r.conn;
    this.transition(c, 'input', pkt.tcp);
    this.count(c, 'in', pkt.bytes);
    svc.stats.conns++;
    c.dest!.stats.conns++;
    const why = `${lookup.why}; ${r.why}; new connection in bucket ${c.bucket} of ${this.conns.tabSize}`;
    rec.add({ kind: 'ipvs', text: `IPVS ${why}`, service: sname, realServer: ep(c.daddr, c.dport) });
    return { verdict: 'forward', lookup, conn: c, scheduled: true, decision: r.decision, template: r.template, action: forwardAction(c.fwd, c.daddr, c.dport), why };
  }

  /** Models ip_vs_schedule for a non-persistent service. */
  private schedule(svc: VirtualService, pkt: IpvsPacket, chooser?: Chooser): { conn: IpvsConn | null; decision: Decision | null; template: null; why: string } {
    if (svc.key.kind === 'addr' && pkt.dport !== svc.key.port) return { conn: null, decision: null, template: null, why: 'port zero only supported in persistent services' };
    const decision = this.decide(svc, pkt, chooser);
    if (!decision.dest) return { conn: null, decision, template: null, why: decision.why };
    const d = decision.dest;
    const conn = this.newConn(svc, { protocol: pkt.protocol, caddr: pkt.src, cport: pkt.sport, vaddr: pkt.dst, vport: pkt.dport }, d, d.port || pkt.dport, false);
    return { conn, decision, template: null, why: `${decision.why} → ${destName(d)}` };
  }

  /** Models ip_vs_sched_persist: reuse the template of the client's network, or schedule and create one. */
  private schedPersist(svc: VirtualService, pkt: IpvsPacket, chooser?: Chooser): { conn: IpvsConn | null; decision: Decision | null; template: IpvsConn | null; why: string } {
    const k = this.templateKey(svc, pkt);
    const found = this.conns.templateGet(k.protocol, k.snet, k.vaddr, k.vport).conn;
    let t = found && this.checkTemplate(found) ? found : null;
    let decision: Decision | null = null;
    let why: string;
    const svcPort = svc.key.kind === 'addr' ? svc.key.port : 0;
    if (!t) {
      decision = this.decide(svc, pkt, chooser);
      if (!decision.dest) return { conn: null, decision, template: null, why: decision.why };
      const d = decision.dest;
      const tport = pkt.dport === svcPort && svcPort !== 21 ? d.port : 0;
      t = this.newConn(svc, { protocol: k.protocol, caddr: k.snet, cport: 0, vaddr: k.vaddr, vport: k.vport }, d, tport, true);
      why = `${decision.why}; new persistence template ${ep(k.snet, 0)}/${svc.netmask} → ${destName(d)} for ${svc.timeout} s`;
    } else {
      why = `persistence template ${ep(t.caddr, 0)}/${svc.netmask} (bucket ${t.bucket}) → ${ep(t.daddr, t.dport)}`;
    }
    const d = t.dest!;
    const dport = pkt.dport === svcPort && d.port ? d.port : pkt.dport;
    const conn = this.newConn(svc, { protocol: pkt.protocol, caddr: pkt.src, cport: pkt.sport, vaddr: pkt.dst, vport: pkt.dport }, d, dport, false);
    conn.control = t;
    t.nControl++;
    return { conn, decision, template: t, why };
  }

  /** Models ip_vs_out for a NAT reply from a real server: find the conn, rewrite the source back to the VIP. */
  processOut(pkt: IpvsPacket, opts: { rec?: TraceRecorder } = {}): IpvsOutResult {
    const rec = opts.rec ?? NO_TRACE;
    const { conn, bucket } = this.conns.outGet(pkt.protocol, pkt.src, pkt.sport, pkt.dst, pkt.dport);
    if (!conn || conn.fwd !== 'masq') return { conn: null, snat: null, why: `no IPVS NAT connection for ${ep(pkt.src, pkt.sport)} → ${ep(pkt.dst, pkt.dport)} (bucket ${bucket})` };
    this.transition(conn, 'output', pkt.tcp);
    this.count(conn, 'out', pkt.bytes);
    const why = `reply of connection in bucket ${bucket}: source ${ep(pkt.src, pkt.sport)} → ${ep(conn.vaddr, conn.vport)} (${conn.state})`;
    rec.add({ kind: 'nat', nat: 'IPVS', text: `IPVS un-NAT: ${why}`, before: { ip: formatIp(pkt.src), port: pkt.sport }, after: { ip: formatIp(conn.vaddr), port: conn.vport } });
    return { conn, snat: { src: conn.vaddr, sport: conn.vport }, why };
  }

  private count(c: IpvsConn, dir: 'in' | 'out', bytes = 0): void {
    for (const s of [c.service.stats, c.dest?.stats]) {
      if (!s) continue;
      if (dir === 'in') {
        s.inPkts++;
        s.inBytes += bytes;
      } else {
        s.outPkts++;
        s.outBytes += bytes;
      }
    }
  }

  /** Removes every connection (ipvsadm has no command for it; used when a node's state is rebuilt). */
  flushConnections(): void {
    for (const c of this.conns.entries()) {
      c.expires = this.clock.now();
      c.nControl = 0;
    }
    this.conns.expire();
  }
}

export { unbindDest };
