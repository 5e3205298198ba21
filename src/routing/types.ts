import type { Cidr, Family, Ip, Mac } from '../base/index.js';
import { InputError } from '../base/index.js';
import type { SourceLocation } from '../base/index.js';
import type { Errno, RouteType } from './names.js';
import { ERRNO_TEXT } from './names.js';

/** Nexthop flags iproute2 prints after a nexthop (RTNH_F_*). */
export type NexthopFlag = 'onlink' | 'linkdown' | 'dead' | 'pervasive' | 'offload' | 'trap';
export const NEXTHOP_FLAGS: readonly NexthopFlag[] = ['dead', 'onlink', 'pervasive', 'offload', 'trap', 'linkdown'];

/** One path of a route (struct fib_nh / fib6_nh). */
export interface Nexthop {
  gateway?: Ip;
  /** Egress device. Routes the kernel holds always have one once installed (except reject types). */
  dev?: string;
  onlink?: boolean;
  /** 1..256, as `weight N` (rtnh_hops + 1). */
  weight: number;
  /** Other RTNH_F_* flags as iproute2 prints them (linkdown, dead …). */
  flags?: NexthopFlag[];
  /**
   * Scope of the nexthop as fib_check_nh computed it at insert: link when the gateway is on-link,
   * host when it is a local address (then the kernel does not use it as a gateway: `ip route get`
   * shows no `via`). Filled by the Rib.
   */
  nhScope?: number;
}

/** A route metric (RTA_METRICS) as iproute2 prints it: `mtu 1400`, `advmss 1360`, `hoplimit 64`. */
export interface RouteMetric {
  name: string;
  value: number;
  lock?: boolean;
}

/** A route as iproute2 shows it. `dst` 0/0 is `default`. */
export interface Route {
  family: Family;
  type: RouteType;
  dst: Cidr;
  /** 255 local, 254 main, 253 default, or a number. */
  table: number;
  /** RTPROT_*: 2 kernel, 3 boot (iproute2's default), 4 static, 12 bird … */
  protocol: number;
  /** RT_SCOPE_*: 0 global (universe), 253 link, 254 host. Always 0 for IPv6. */
  scope: number;
  /** RTA_PRIORITY; IPv4 default 0, IPv6 default 1024 (256 for kernel prefix routes, 0 for local). */
  metric: number;
  /** IPv4 TOS of the route key (`tos 0x10`), 0 for none. */
  tos: number;
  nexthops: Nexthop[];
  prefsrc?: Ip;
  metrics?: RouteMetric[];
  /** IPv6 router preference (`pref medium`). */
  pref?: 'low' | 'medium' | 'high';
  /** IPv6 `expires Nsec` (routes learned from RAs). */
  expires?: number;
}

export type IpRuleAction = 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit';

/** A policy routing rule (struct fib_rule) as `ip rule` shows it. */
export interface IpRule {
  family: Family;
  priority: number;
  /** `not`: FIB_RULE_INVERT inverts the whole match (fib_rule_match). */
  invert?: boolean;
  src?: Cidr;
  dst?: Cidr;
  tos?: number;
  fwmark?: number;
  /** Default 0xffffffff. */
  fwmask?: number;
  iif?: string;
  oif?: string;
  action: IpRuleAction;
  /** For `lookup`. */
  table?: number;
  /** For `goto`: the target priority. */
  goto?: number;
  suppressPrefixlength?: number;
  /** FRA_PROTOCOL when not kernel (`proto static`). */
  protocol?: number;
}

/** Neighbour states (NUD_*), named as `ip neigh` prints them. */
export type NeighState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE' | 'FAILED' | 'NOARP' | 'PERMANENT';
export const NEIGH_STATES: readonly NeighState[] = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NOARP', 'PERMANENT'];

/** One neighbour entry (struct neighbour) or proxy entry (struct pneigh_entry, `proxy`). */
export interface NeighEntry {
  ip: Ip;
  dev: string;
  lladdr?: Mac;
  /** Absent on proxy entries. */
  state?: NeighState;
  router?: boolean;
  proxy?: boolean;
  externLearn?: boolean;
}

/** An interface address (struct in_ifaddr / inet6_ifaddr). */
export interface IfAddress {
  dev: string;
  family: Family;
  local: Ip;
  prefix: number;
  /** RT_SCOPE_*: global unless given (host for 127/8 and ::1, link for fe80::/10, as iproute2 defaults). */
  scope: number;
  /** IFA_F_SECONDARY: the kernel sets it when a primary in the same subnet exists (IPv4 only). */
  secondary: boolean;
  /** IFA_F_NOPREFIXROUTE. */
  noprefixroute?: boolean;
}

/**
 * A route, rule or neighbour the kernel refuses, with the text `ip` prints (`Error: Nexthop has
 * invalid gateway.` or `RTNETLINK answers: No route to host`). An InputError: it names where the
 * refused object came from when the caller passes a location.
 */
export class RoutingError extends InputError {
  constructor(
    readonly errno: Errno,
    /** The text `ip` prints, exactly. */
    readonly iproute2: string,
    loc: SourceLocation = {},
  ) {
    super({ ...loc, message: iproute2 });
    this.name = 'RoutingError';
  }

  /** An extack message: `ip` prints "Error: <msg>." */
  static extack(errno: Errno, msg: string, loc?: SourceLocation): RoutingError {
    return new RoutingError(errno, `Error: ${msg}.`, loc);
  }

  /** No extack message: `ip` prints "RTNETLINK answers: <strerror>". */
  static errno(errno: Errno, loc?: SourceLocation): RoutingError {
    return new RoutingError(errno, `RTNETLINK answers: ${ERRNO_TEXT[errno]}`, loc);
  }
}
