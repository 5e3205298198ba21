import type { Ip } from '../base/index.js';

/** Virtual-service protocols ipvsadm knows (`-t`, `-u`, `--sctp-service`), with their IPPROTO numbers. */
export type IpvsProtocol = 'tcp' | 'udp' | 'sctp';

/** IPPROTO_* numbers (include/uapi/linux/in.h). */
export const IPPROTO: Readonly<Record<IpvsProtocol, number>> = { tcp: 6, udp: 17, sctp: 132 };

/** Forwarding methods (IP_VS_CONN_F_MASQ / _DROUTE / _TUNNEL / _LOCALNODE in include/uapi/linux/ip_vs.h). */
export type FwdMethod = 'masq' | 'droute' | 'tunnel' | 'local';

/** Service flags (include/uapi/linux/ip_vs.h). */
export const IP_VS_SVC_F_PERSISTENT = 0x0001;
export const IP_VS_SVC_F_HASHED = 0x0002;
export const IP_VS_SVC_F_ONEPACKET = 0x0004;
export const IP_VS_SVC_F_SCHED1 = 0x0008;
export const IP_VS_SVC_F_SCHED2 = 0x0010;
export const IP_VS_SVC_F_SCHED3 = 0x0020;
/** sh/mh reuse SCHED1/SCHED2 (ip_vs_sh.c, ip_vs_mh.c). */
export const IP_VS_SVC_F_SCHED_SH_FALLBACK = IP_VS_SVC_F_SCHED1;
export const IP_VS_SVC_F_SCHED_SH_PORT = IP_VS_SVC_F_SCHED2;
export const IP_VS_SVC_F_SCHED_MH_FALLBACK = IP_VS_SVC_F_SCHED1;
export const IP_VS_SVC_F_SCHED_MH_PORT = IP_VS_SVC_F_SCHED2;

/** ipvsadm's default persistence timeout when `-p` has no value (IPVS_SVC_PERSISTENT_TIMEOUT, libipvs.h). */
export const IPVS_SVC_PERSISTENT_TIMEOUT = 6 * 60;
/** ipvsadm's MAX_TIMEOUT (86400*31 s, ipvsadm.c). */
export const IPVSADM_MAX_TIMEOUT = 86400 * 31;
/** ipvsadm's default scheduler (DEF_SCHED, ipvsadm.c). */
export const IPVSADM_DEFAULT_SCHEDULER = 'wlc';

/** The schedulers podpath models, as the kernel modules ip_vs_<name>.ko name them. */
export type SchedulerName = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sed' | 'nq' | 'dh' | 'sh' | 'mh';
export const SCHEDULER_NAMES: readonly SchedulerName[] = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'mh'];

/** A real server (struct ip_vs_dest). Counters change as connections are bound and change state. */
export interface RealServer {
  readonly addr: Ip;
  readonly port: number;
  fwd: FwdMethod;
  /** 0..65535; 0 = quiesced: no new connections, existing ones continue. */
  weight: number;
  /** Upper connection threshold (-x); 0 = none. */
  uThreshold: number;
  /** Lower connection threshold (-y); 0 = none. */
  lThreshold: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  /** IP_VS_DEST_F_OVERLOAD: set when active+inactive reaches uThreshold (ip_vs_bind_dest). */
  overloaded: boolean;
  /** Stats as `ipvsadm -Ln --stats` shows them. */
  stats: IpvsStats;
}

export interface IpvsStats {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

/** What identifies a virtual service: fwmark > 0, or (protocol, address, port). */
export type ServiceKey =
  | { readonly kind: 'addr'; readonly protocol: IpvsProtocol; readonly addr: Ip; readonly port: number }
  | { readonly kind: 'fwmark'; readonly fwmark: number; readonly family: 4 | 6 };

/** A virtual service (struct ip_vs_service). */
export interface VirtualService {
  readonly key: ServiceKey;
  scheduler: SchedulerName;
  /** IP_VS_SVC_F_* flags: persistent, one-packet, scheduler flags. */
  flags: number;
  /** Persistence timeout in seconds (when IP_VS_SVC_F_PERSISTENT). */
  timeout: number;
  /** Persistence granularity: a prefix length (IPv4 /32 = 255.255.255.255 as ipvsadm prints it). */
  netmask: number;
  /** Persistence engine (`--pe`), e.g. "sip"; empty when none. */
  pe: string;
  /**
   * Destinations in the kernel's list order: ip_vs_new_dest adds with list_add_rcu, so the newest
   * real server comes first. Scheduler walks and tie-breaks follow this order.
   */
  readonly dests: RealServer[];
  stats: IpvsStats;
  /** Scheduler state (rr position, wrr cw/mw/di, sh/dh/mh tables). Owned by the scheduler. */
  schedState: unknown;
}

/** The request a scheduler decides on: what ip_vs_schedule reads from the first packet. */
export interface Flow {
  readonly protocol: IpvsProtocol;
  readonly src: Ip;
  readonly sport: number;
  readonly dst: Ip;
  readonly dport: number;
  /** skb->mark (for fwmark services). */
  readonly mark?: number;
}

export function emptyStats(): IpvsStats {
  return { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };
}
