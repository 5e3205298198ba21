import type { Chooser, Cidr, Family, Ip, SourceLocation } from '../base/index.js';
import { broadcastOf, cidrContains, formatIp, ipEquals, networkOf, parseCidr, parseIp } from '../base/index.js';
import type { RouteStep, TraceRecorder } from '../trace/index.js';
import { NO_TRACE } from '../trace/index.js';
import type { InsertMode, TableHit } from './fib.js';
import { FibTable } from './fib.js';
import { chooseNexthop } from './multipath.js';
import type { Errno, RouteType } from './names.js';
import {
  ERRNO_TEXT,
  PROTO_BOOT,
  PROTO_KERNEL,
  SCOPE_HOST,
  SCOPE_LINK,
  SCOPE_NOWHERE,
  SCOPE_UNIVERSE,
  TABLE_DEFAULT,
  TABLE_LOCAL,
  TABLE_MAIN,
  routeTypeErrno,
  tableName,
} from './names.js';
import { NeighTable } from './neigh.js';
import { formatRoute } from './format.js';
import type { IfAddress, Nexthop, Route, IpRule } from './types.js';
import { RoutingError } from './types.js';

/** A route as a caller states it (`ip route add` arguments); missing fields get iproute2's defaults. */
export type RouteSpec = Partial<Omit<Route, 'dst' | 'nexthops'>> & {
  dst: Cidr;
  nexthops?: Array<Partial<Nexthop>>;
};

/**
 * Fills the defaults `ip route add` and the kernel apply (iproute2 ip/iproute.c iproute_modify):
 * table main, protocol boot, scope host for local, link for broadcast/multicast and for unicast
 * without a gateway, global otherwise; IPv4 metric 0, IPv6 metric 1024 (IP6_RT_PRIO_USER), pref medium.
 */
export function routeWithDefaults(spec: RouteSpec): Route {
  const family = spec.dst.family;
  const type = spec.type ?? 'unicast';
  const nexthops: Nexthop[] = (spec.nexthops ?? []).map((nh) => {
    const out: Nexthop = { weight: nh.weight ?? 1 };
    if (nh.gateway) out.gateway = nh.gateway;
    if (nh.dev) out.dev = nh.dev;
    if (nh.onlink) out.onlink = true;
    if (nh.flags?.length) out.flags = [...nh.flags];
    if (nh.nhScope !== undefined) out.nhScope = nh.nhScope;
    return out;
  });
  const hasGw = nexthops.some((n) => n.gateway);
  let scope = spec.scope;
  if (scope === undefined) {
    if (family === 6) scope = SCOPE_UNIVERSE;
    else if (type === 'local') scope = SCOPE_HOST;
    else if (type === 'broadcast' || type === 'multicast') scope = SCOPE_LINK;
    else if (type === 'unicast' && !hasGw) scope = SCOPE_LINK;
    else scope = SCOPE_UNIVERSE;
  }
  const route: Route = {
    family,
    type,
    dst: spec.dst,
    table: spec.table ?? TABLE_MAIN,
    protocol: spec.protocol ?? PROTO_BOOT,
    scope,
    metric: spec.metric ?? (family === 6 ? 1024 : 0),
    tos: spec.tos ?? 0,
    nexthops,
  };
  if (spec.prefsrc) route.prefsrc = spec.prefsrc;
  if (spec.metrics?.length) route.metrics = spec.metrics.map((m) => ({ ...m }));
  if (family === 6) route.pref = spec.pref ?? 'medium';
  if (spec.expires !== undefined) route.expires = spec.expires;
  return route;
}

/** What a lookup is asked (struct flowi4 / flowi6). */
export interface RouteLookupQuery {
  dst: Ip;
  /** Source address; for output, must be local (else EINVAL, as ip_route_output_key_hash_rcu). */
  src?: Ip;
  mark?: number;
  /** Input device: the packet was received (ip_route_input_slow). Absent: locally generated. */
  iif?: string;
  /** Output device bound by the sender (SO_BINDTODEVICE / `ip route get … oif`). */
  oif?: string;
  tos?: number;
  /** IPv6 multipath hash inputs. */
  proto?: number;
  flowLabel?: number;
  /** A precomputed multipath hash (31 bits); else multipathHash() of the flow. */
  flowHash?: number;
  /** When given, an ECMP choice is a branch with weight-proportional probabilities (`--all`). */
  chooser?: Chooser;
}

export type LookupKind = 'local' | 'broadcast' | 'unicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'no-route';

export interface LookupResult {
  kind: LookupKind;
  /** Input route that leaves through a device (forwarding). */
  forward: boolean;
  route: Route | null;
  nexthop: Nexthop | null;
  table: number | null;
  rule: IpRule | null;
  /** Egress device ('lo' for local delivery); null on failure. */
  dev: string | null;
  /** The gateway the packet is sent to, when the kernel uses one (nexthop scope link). */
  gateway: Ip | null;
  /** The address to resolve with ARP/NDP on `dev`: the gateway, else the destination. */
  neighbour: Ip | null;
  /** Source address selected for output (null for input routes and failures). */
  src: Ip | null;
  errno: Errno | null;
  /** What `ip route get` prints on failure ("RTNETLINK answers: …"), or a reason. */
  error: string | null;
  /** Why the kernel refused, in words, when `error` alone does not say (e.g. a martian address). */
  reason?: string;
  /** Cached route flags: RTCF_LOCAL, RTCF_BROADCAST. */
  flags: Array<'local' | 'brd'>;
  query: RouteLookupQuery;
}

interface FibResult {
  hit: TableHit | null;
  table: number | null;
  rule: IpRule | null;
  errno: Errno | null;
}

/** Kernel default policy rules (fib4_rules_init / fib6_rules_net_init). */
function defaultRules(family: Family): IpRule[] {
  const rules: IpRule[] = [
    { family, priority: 0, action: 'lookup', table: TABLE_LOCAL },
    { family, priority: 32766, action: 'lookup', table: TABLE_MAIN },
  ];
  if (family === 4) rules.push({ family, priority: 32767, action: 'lookup', table: TABLE_DEFAULT });
  return rules;
}

const isV6LinkLocal = (ip: Ip) => ip.family === 6 && ip.n >> 118n === 0x3fan;

/**
 * The routing state of one network namespace: FIB tables per family, policy rules, interface
 * addresses, the neighbour table and the sysctls routing reads. Devices are names, in ifindex order
 * (`lo` first, as the kernel's device list).
 */
export class Rib {
  readonly devices: string[] = ['lo'];
  readonly addresses: IfAddress[] = [];
  readonly neigh = new NeighTable();
  /** net.ipv4.ip_forward / net.ipv6.conf.all.forwarding (kernel default 0). */
  readonly forwarding: Record<Family, boolean> = { 4: false, 6: false };
  /** net.ipv4.conf.<dev>.proxy_arp = 1. */
  readonly proxyArp = new Set<string>();
  /** net.ipv4.conf.<dev>.accept_local = 1. */
  readonly acceptLocal = new Set<string>();
  /**
   * net.ipv4.conf.<dev>.route_localnet = 1 (`all` for conf/all): 127.0.0.0/8 may arrive on that
   * device (kube-proxy sets conf/all for localhost NodePorts). Read as IN_DEV_NET_ROUTE_LOCALNET:
   * conf/all OR conf/<dev>.
   */
  readonly routeLocalnet = new Set<string>();
  private readonly tables: Record<Family, Map<number, FibTable>> = { 4: new Map(), 6: new Map() };
  private readonly tableOrder: Record<Family, number[]> = { 4: [], 6: [] };
  private readonly rulesOf: Record<Family, IpRule[]> = { 4: defaultRules(4), 6: defaultRules(6) };
  private readonly v6McastDevs = new Set<string>();

  constructor(devices: readonly string[] = []) {
    for (const d of devices) this.addDevice(d);
    this.table(4, TABLE_LOCAL, true);
    this.table(4, TABLE_MAIN, true);
    this.table(6, TABLE_LOCAL, true);
    this.table(6, TABLE_MAIN, true);
  }

  addDevice(name: string): void {
    if (!this.devices.includes(name)) this.devices.push(name);
  }

  hasDevice(name: string): boolean {
    return this.devices.includes(name);
  }

  /** A table by id; created on demand when `create` (fib_new_table). */
  table(family: Family, id: number, create = false): FibTable | undefined {
    let t = this.tables[family].get(id);
    if (!t && create) {
      t = new FibTable(family, id);
      this.tables[family].set(id, t);
      this.tableOrder[family].push(id);
    }
    return t;
  }

  /**
   * Table ids in the order `ip route show table all` walks them: the kernel's table hash has 256
   * buckets indexed by id & 255, each a list with the newest table first.
   */
  tableIds(family: Family): number[] {
    const order = this.tableOrder[family];
    return [...order].sort((a, b) => (a & 255) - (b & 255) || order.indexOf(b) - order.indexOf(a));
  }

  /** Routes as `ip route show table <id|all>` lists them (empty tables are skipped). */
  routes(family: Family, table: number | 'all' = TABLE_MAIN): Route[] {
    if (table !== 'all') return this.table(family, table)?.routes() ?? [];
    return this.tableIds(family).flatMap((id) => this.table(family, id)!.routes());
  }

  rules(family: Family): readonly IpRule[] {
    return this.rulesOf[family];
  }

  /** `ip rule add`: after the rules of lower or equal priority (fib_nl_newrule). */
  addRule(rule: IpRule, loc?: SourceLocation): void {
    if (rule.action === 'lookup' && rule.table === undefined) throw RoutingError.extack('EINVAL', 'Invalid table', loc);
    for (const dev of [rule.iif, rule.oif]) if (dev !== undefined && !this.hasDevice(dev)) this.addDevice(dev);
    const list = this.rulesOf[rule.family];
    let at = list.length;
    while (at > 0 && list[at - 1]!.priority > rule.priority) at--;
    list.splice(at, 0, { ...rule });
  }

  /** `ip rule del pref N`. */
  deleteRule(family: Family, priority: number): boolean {
    const list = this.rulesOf[family];
    const i = list.findIndex((r) => r.priority === priority);
    if (i < 0) return false;
    list.splice(i, 1);
    return true;
  }

  /** Replaces every rule of a family (loading a real node's `ip rule` dump). */
  setRules(family: Family, rules: readonly IpRule[]): void {
    this.rulesOf[family] = [...rules].sort((a, b) => a.priority - b.priority);
  }

  /**
   * `ip route add|append|prepend|replace`. Validates as the kernel does at insert (fib_create_info,
   * fib_check_nh, fib_valid_prefsrc; ip6_route_check_nh for IPv6) and throws a RoutingError with
   * the text `ip` prints, changing nothing. With `validate: false` (loading a dump the kernel already
   * accepted) only the nexthop scopes are computed.
   */
  addRoute(spec: RouteSpec, opts: { mode?: InsertMode; validate?: boolean; loc?: SourceLocation } = {}): Route {
    const route = routeWithDefaults(spec);
    const loc = opts.loc;
    const validate = opts.validate ?? true;
    if (validate) this.checkRoute(route, loc);
    else for (const nh of route.nexthops) if (nh.dev) this.addDevice(nh.dev);
    if (route.family === 6 && routeTypeErrno(route.type) && route.nexthops.length === 0) route.nexthops.push({ dev: 'lo', weight: 1 });
    const t = this.table(route.family, route.table, true)!;
    if (t.insert(route, opts.mode ?? 'add') === 'exists') throw RoutingError.errno('EEXIST', loc);
    return route;
  }

  /** `ip route del`: the first route of that prefix and table matching the given fields. */
  deleteRoute(spec: { dst: Cidr; table?: number; type?: RouteType; metric?: number; tos?: number; gateway?: Ip; dev?: string }): Route | null {
    const t = this.table(spec.dst.family, spec.table ?? TABLE_MAIN);
    if (!t) return null;
    return t.remove(spec.dst, (r) => {
      if (spec.type && r.type !== spec.type) return false;
      if (spec.metric !== undefined && r.metric !== spec.metric) return false;
      if (spec.tos !== undefined && r.tos !== spec.tos) return false;
      if (spec.gateway && !r.nexthops.some((n) => n.gateway && ipEquals(n.gateway, spec.gateway!))) return false;
      if (spec.dev && !r.nexthops.some((n) => n.dev === spec.dev)) return false;
      return true;
    });
  }

  /** Computes nexthop scopes of routes loaded without validation (after the whole dump is in). */
  resolveNexthops(): void {
    for (const family of [4, 6] as const) {
      for (const id of this.tableOrder[family]) {
        for (const r of this.table(family, id)!.routes()) {
          for (const nh of r.nexthops) {
            if (nh.nhScope !== undefined) continue;
            try {
              this.checkNexthop(r, nh, undefined);
            } catch {
              nh.nhScope = SCOPE_LINK;
            }
          }
        }
      }
    }
  }

  private checkRoute(route: Route, loc: SourceLocation | undefined): void {
    for (const nh of route.nexthops) {
      if (nh.dev !== undefined && !this.hasDevice(nh.dev)) throw new RoutingError('ENODEV', `Cannot find device "${nh.dev}"`, loc);
    }
    if (routeTypeErrno(route.type)) {
      if (route.nexthops.some((n) => n.gateway || n.dev) || route.nexthops.length > 1) {
        throw RoutingError.extack('EINVAL', 'Gateway, device and multipath can not be specified for this route type', loc);
      }
      return;
    }
    if (route.nexthops.length === 0) throw RoutingError.errno('ENODEV', loc);
    if (route.family === 4 && route.scope === SCOPE_HOST) {
      if (route.nexthops.length !== 1) throw RoutingError.extack('EINVAL', 'Route with host scope can not have multiple nexthops', loc);
      if (route.nexthops[0]!.gateway) throw RoutingError.extack('EINVAL', 'Route with host scope can not have a gateway', loc);
      if (!route.nexthops[0]!.dev) throw RoutingError.errno('ENODEV', loc);
      route.nexthops[0]!.nhScope = SCOPE_NOWHERE;
    } else {
      for (const nh of route.nexthops) this.checkNexthop(route, nh, loc);
    }
    if (route.prefsrc && route.family === 4) {
      const isSelf = route.type === 'local' && ipEquals(route.prefsrc, route.dst.network) && route.dst.prefix === 32;
      if (!isSelf && !this.isLocalAddress(route.prefsrc)) throw RoutingError.extack('EINVAL', 'Invalid prefsrc address', loc);
    }
  }

  /** Models fib_check_nh_v4_gw / fib_check_nh_nongw and ip6_route_check_nh. Sets nh.dev and nh.nhScope. */
  private checkNexthop(route: Route, nh: Nexthop, loc: SourceLocation | undefined): void {
    if (!nh.gateway) {
      if (nh.onlink) throw RoutingError.extack('EINVAL', 'Invalid flags for nexthop - PERVASIVE and ONLINK can not be set', loc);
      if (!nh.dev) throw RoutingError.errno('ENODEV', loc);
      nh.nhScope = SCOPE_HOST;
      return;
    }
    const gw = nh.gateway;
    if (route.family === 6) {
      if (nh.onlink || isV6LinkLocal(gw)) {
        if (!nh.dev) throw RoutingError.extack('EINVAL', 'Egress device not specified', loc);
        nh.nhScope = SCOPE_LINK;
        return;
      }
      const res = this.gatewayLookup(route, gw, nh.dev, SCOPE_UNIVERSE);
      const r = res.hit?.route;
      const via = res.hit ? r!.nexthops[res.hit.good[0]!] : undefined;
      if (!r || r.type !== 'unicast' || !via || via.gateway) throw RoutingError.errno('EHOSTUNREACH', loc);
      nh.dev ??= via.dev;
      nh.nhScope = SCOPE_LINK;
      return;
    }
    if (nh.onlink) {
      if (route.scope >= SCOPE_LINK) throw RoutingError.extack('EINVAL', 'Nexthop has invalid scope', loc);
      if (!nh.dev) throw RoutingError.extack('ENODEV', 'Nexthop device required for onlink', loc);
      // inet_addr_type_dev_table: the gateway must be a unicast address, not local or broadcast.
      const t = this.table(4, TABLE_LOCAL)?.lookup({ dst: gw });
      if (t && (t.route.type === 'local' || t.route.type === 'broadcast')) throw RoutingError.extack('EINVAL', 'Nexthop has invalid gateway', loc);
      nh.nhScope = SCOPE_LINK;
      return;
    }
    const scope = Math.max(route.scope + 1, SCOPE_LINK);
    const res = this.gatewayLookup(route, gw, nh.dev, scope);
    if (!res.hit || (res.hit.route.type !== 'unicast' && res.hit.route.type !== 'local')) {
      throw RoutingError.extack('EINVAL', 'Nexthop has invalid gateway', loc);
    }
    const via = res.hit.route.nexthops[res.hit.good[0] ?? 0];
    nh.nhScope = res.hit.route.scope;
    nh.dev ??= via?.dev;
  }

  /** The lookup of fib_check_nh_v4_gw: the route's own table first (unless main), then the rules. */
  private gatewayLookup(route: Route, gw: Ip, dev: string | undefined, scope: number): FibResult {
    const q = { dst: gw, scope, ...(dev !== undefined ? { oif: dev } : {}) };
    if (route.table !== TABLE_MAIN) {
      const t = this.table(route.family, route.table);
      const hit = t?.lookup(q);
      if (hit && !routeTypeErrno(hit.route.type)) return { hit, table: route.table, rule: null, errno: null };
    }
    return this.fibLookup({ family: route.family, dst: gw, iif: 'lo', mark: 0, tos: 0, scope, ...(dev !== undefined ? { oif: dev } : {}) });
  }

  /**
   * `ip addr add`: registers the address and, unless `routes: false`, installs the routes the kernel
   * adds. IPv4 models fib_add_ifaddr (net/ipv4/fib_frontend.c): `local` addr/32 in table local (scope
   * host, src = the primary address of the subnet); for a primary, the subnet route (proto kernel
   * scope link in main; on loopback a `local` route in table local) unless it is a /32 host address,
   * and the subnet broadcast for prefixes shorter than /31. An address in the subnet of an existing
   * primary becomes secondary (__inet_insert_ifa). IPv6 models addrconf: `local` addr/128 in table
   * local (metric 0), the prefix route in main (metric 256), and `multicast ff00::/8` in table local
   * for the device's first address (the kernel adds it when IPv6 comes up on the device).
   */
  addAddress(dev: string, cidr: string | { ip: Ip; prefix: number }, opts: { scope?: number; routes?: boolean; noprefixroute?: boolean; loc?: SourceLocation } = {}): IfAddress {
    let local: Ip;
    let prefix: number;
    if (typeof cidr === 'string') {
      const slash = cidr.indexOf('/');
      local = parseIp(slash < 0 ? cidr : cidr.slice(0, slash));
      prefix = parseCidr(cidr).prefix;
    } else {
      local = cidr.ip;
      prefix = cidr.prefix;
    }
    this.addDevice(dev);
    const family = local.family;
    if (this.addresses.some((a) => a.dev === dev && ipEquals(a.local, local))) throw RoutingError.errno('EEXIST', opts.loc);
    const scope = opts.scope ?? defaultAddrScope(local);
    const subnet = { family, network: networkOf(local, prefix), prefix };
    const primary =
      family === 4
        ? this.addresses.find((a) => a.dev === dev && a.family === 4 && !a.secondary && a.prefix === prefix && cidrContains(subnet, a.local))
        : undefined;
    const addr: IfAddress = { dev, family, local, prefix, scope, secondary: primary !== undefined };
    if (opts.noprefixroute) addr.noprefixroute = true;
    this.addresses.push(addr);
    if (opts.routes === false) return addr;
    const base = { protocol: PROTO_KERNEL, nexthops: [{ dev, weight: 1, nhScope: SCOPE_NOWHERE }] };
    if (family === 4) {
      const prim = primary?.local ?? local;
      const host = { family, network: local, prefix: 32 };
      this.addRoute({ ...base, type: 'local', dst: host, table: TABLE_LOCAL, scope: SCOPE_HOST, prefsrc: prim }, { validate: false, mode: 'append' });
      if (primary) return addr;
      const isLo = dev === 'lo';
      if (subnet.network.n !== 0 && !(ipEquals(subnet.network, local) && prefix === 32) && !opts.noprefixroute) {
        this.addRoute(
          { ...base, nexthops: [{ dev, weight: 1, nhScope: SCOPE_HOST }], type: isLo ? 'local' : 'unicast', dst: subnet, table: isLo ? TABLE_LOCAL : TABLE_MAIN, scope: isLo ? SCOPE_HOST : SCOPE_LINK, prefsrc: prim },
          { validate: false, mode: 'append' },
        );
      }
      if (prefix < 31) {
        const brd = { family, network: broadcastOf(subnet), prefix: 32 };
        if (!this.table(4, TABLE_LOCAL)!.routesOf(brd).some((r) => r.type === 'broadcast' && r.nexthops[0]?.dev === dev)) {
          this.addRoute({ ...base, type: 'broadcast', dst: brd, table: TABLE_LOCAL, scope: SCOPE_LINK, prefsrc: prim }, { validate: false, mode: 'append' });
        }
      }
      return addr;
    }
    this.addRoute({ ...base, type: 'local', dst: { family, network: local, prefix: 128 }, table: TABLE_LOCAL, metric: 0 }, { validate: false, mode: 'append' });
    if (prefix < 128 && !opts.noprefixroute) {
      this.addRoute({ ...base, nexthops: [{ dev, weight: 1, nhScope: SCOPE_LINK }], dst: subnet, metric: 256 }, { validate: false, mode: 'append' });
    }
    // With forwarding on, addrconf joins the subnet-router anycast address (addrconf_join_anycast).
    if (this.forwarding[6] && prefix < 127 && !opts.noprefixroute) {
      this.addRoute({ ...base, type: 'anycast', dst: { family, network: subnet.network, prefix: 128 }, table: TABLE_LOCAL, metric: 0 }, { validate: false, mode: 'append' });
    }
    if (dev !== 'lo' && !this.v6McastDevs.has(dev)) {
      this.v6McastDevs.add(dev);
      this.addRoute({ ...base, type: 'multicast', dst: parseCidr('ff00::/8'), table: TABLE_LOCAL, metric: 256 }, { validate: false, mode: 'append' });
    }
    return addr;
  }

  /**
   * `ip addr del`: models fib_del_ifaddr — removes the address's local route and, for a primary,
   * its subnet and broadcast routes; with promote_secondaries off (the default) the secondaries of
   * that subnet go too.
   */
  removeAddress(dev: string, ip: Ip): boolean {
    const i = this.addresses.findIndex((a) => a.dev === dev && ipEquals(a.local, ip));
    if (i < 0) return false;
    const addr = this.addresses[i]!;
    this.addresses.splice(i, 1);
    const family = addr.family;
    const host = { family, network: addr.local, prefix: family === 4 ? 32 : 128 };
    const onDev = (r: Route) => r.nexthops[0]?.dev === dev && r.protocol === PROTO_KERNEL;
    this.table(family, TABLE_LOCAL)!.remove(host, (r) => r.type === 'local' && onDev(r));
    if (family === 6) this.table(6, TABLE_LOCAL)!.remove({ network: networkOf(addr.local, addr.prefix), prefix: 128 }, (r) => r.type === 'anycast' && onDev(r));
    if (addr.secondary) return true;
    const subnet = { family, network: networkOf(addr.local, addr.prefix), prefix: addr.prefix };
    this.table(family, dev === 'lo' && family === 4 ? TABLE_LOCAL : TABLE_MAIN)!.remove(subnet, onDev);
    if (family === 4) {
      this.table(4, TABLE_LOCAL)!.remove({ network: broadcastOf(subnet), prefix: 32 }, (r) => r.type === 'broadcast' && onDev(r));
      for (const s of this.addresses.filter((a) => a.dev === dev && a.secondary && a.prefix === addr.prefix && cidrContains(subnet, a.local))) {
        this.removeAddress(dev, s.local);
      }
    }
    return true;
  }

  isLocalAddress(ip: Ip): boolean {
    return this.addresses.some((a) => ipEquals(a.local, ip));
  }

  /**
   * Models fib_lookup with policy rules (fib_rules_lookup, net/core/fib_rules.c; fib4_rule_match /
   * fib4_rule_action / fib4_rule_suppress, net/ipv4/fib_rules.c; the fib6_rule_* equivalents): the
   * rules in priority order; `goto` jumps to the rule of that priority; a table without a match or a
   * `throw` route goes on to the next rule; `unreachable`/`prohibit`/`blackhole` actions end with
   * ENETUNREACH/EACCES/EINVAL; `suppress_prefixlength N` rejects results of prefix length <= N.
   */
  fibLookup(flow: { family: Family; dst: Ip; src?: Ip; mark: number; iif: string; oif?: string; tos: number; scope?: number }): FibResult {
    const rules = this.rulesOf[flow.family];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (!ruleMatches(rule, flow)) continue;
      switch (rule.action) {
        case 'goto': {
          const j = rules.findIndex((r) => r.priority === rule.goto);
          if (j > i) i = j - 1;
          continue;
        }
        case 'nop':
          continue;
        case 'blackhole':
          return { hit: null, table: null, rule, errno: 'EINVAL' };
        case 'unreachable':
          return { hit: null, table: null, rule, errno: 'ENETUNREACH' };
        case 'prohibit':
          return { hit: null, table: null, rule, errno: 'EACCES' };
        case 'lookup': {
          const t = this.table(flow.family, rule.table!);
          const hit = t?.lookup({ dst: flow.dst, tos: flow.tos, scope: flow.scope ?? 0, ...(flow.oif !== undefined ? { oif: flow.oif } : {}) });
          if (!hit) continue;
          const errno = routeTypeErrno(hit.route.type);
          if (errno === 'EAGAIN') continue;
          if (errno) return { hit, table: rule.table!, rule, errno };
          if (rule.suppressPrefixlength !== undefined && hit.route.dst.prefix <= rule.suppressPrefixlength) continue;
          return { hit, table: rule.table!, rule, errno: null };
        }
      }
    }
    return { hit: null, table: null, rule: null, errno: 'ENETUNREACH' };
  }

  /**
   * Routes one packet and reports a `route` step. Without `iif`, models ip_route_output_key_hash_rcu
   * (net/ipv4/route.c) / ip6_route_output: fib_lookup, then local delivery via `lo`, or
   * fib_select_path (multipath choice, then the source: the route's prefsrc, else inet_select_addr /
   * ipv6_dev_get_saddr); with an `oif` and no route, the destination is assumed on-link. With `iif`,
   * models ip_route_input_slow: local, broadcast, forward (needs forwarding on) or the error.
   */
  lookupRoute(q: RouteLookupQuery, rec: TraceRecorder = NO_TRACE): LookupResult {
    const res = q.iif !== undefined ? this.routeInput(q) : this.routeOutput(q);
    if (rec.enabled) rec.add(routeStep(res));
    return res;
  }

  private result(q: RouteLookupQuery, partial: Partial<LookupResult> & { kind: LookupKind }): LookupResult {
    return {
      forward: false,
      route: null,
      nexthop: null,
      table: null,
      rule: null,
      dev: null,
      gateway: null,
      neighbour: null,
      src: null,
      errno: null,
      error: null,
      flags: [],
      query: q,
      ...partial,
    };
  }

  private failure(q: RouteLookupQuery, f: FibResult): LookupResult {
    const errno = f.errno ?? 'ENETUNREACH';
    let kind: LookupKind = 'no-route';
    const what = f.hit?.route.type ?? f.rule?.action;
    if (what === 'blackhole' || what === 'unreachable' || what === 'prohibit') kind = what;
    return this.result(q, { kind, route: f.hit?.route ?? null, table: f.table, rule: f.rule, errno, error: `RTNETLINK answers: ${ERRNO_TEXT[errno]}` });
  }

  private pickNexthop(q: RouteLookupQuery, hit: TableHit, table: number, allowMultipath: boolean): Nexthop {
    const route = hit.route;
    if (!allowMultipath || hit.good.length === 1) return route.nexthops[hit.good[0]!]!;
    const i = chooseNexthop(route.nexthops, hit.good, q, q.chooser, `ecmp ${formatRoute(route, { table })}`.split('\n')[0]!.trim());
    return route.nexthops[i]!;
  }

  private routeOutput(q: RouteLookupQuery): LookupResult {
    const family = q.dst.family;
    if (q.src && !this.isLocalAddress(q.src)) {
      return this.result(q, { kind: 'no-route', errno: 'EINVAL', error: `RTNETLINK answers: ${ERRNO_TEXT.EINVAL}` });
    }
    const f = this.fibLookup({ family, dst: q.dst, ...(q.src ? { src: q.src } : {}), mark: q.mark ?? 0, iif: 'lo', ...(q.oif !== undefined ? { oif: q.oif } : {}), tos: q.tos ?? 0 });
    if (f.errno || !f.hit) {
      if (q.oif !== undefined && family === 4) {
        // "Apparently, routing tables are wrong. Assume, that the destination is on link."
        const src = q.src ?? this.selectSourceV4(q.oif, null, SCOPE_LINK);
        return this.result(q, { kind: 'unicast', dev: q.oif, neighbour: q.dst, src });
      }
      return this.failure(q, f);
    }
    const route = f.hit.route;
    const table = f.table!;
    if (route.type === 'local' || route.type === 'anycast') {
      const src = q.src ?? route.prefsrc ?? (family === 4 ? q.dst : this.selectSourceV6(null, q.dst));
      return this.result(q, { kind: 'local', route, nexthop: route.nexthops[0] ?? null, table, rule: f.rule, dev: 'lo', src, flags: ['local'] });
    }
    const nexthop = this.pickNexthop(q, f.hit, table, q.oif === undefined);
    const gateway = nexthop.gateway && (family === 6 || nexthop.nhScope === SCOPE_LINK || nexthop.onlink) ? nexthop.gateway : null;
    const dev = nexthop.dev ?? null;
    const src = q.src ?? route.prefsrc ?? (family === 4 ? this.selectSourceV4(dev, nexthop.gateway ?? null, route.scope) : this.selectSourceV6(dev, q.dst));
    const kind: LookupKind = route.type === 'broadcast' ? 'broadcast' : 'unicast';
    return this.result(q, {
      kind,
      route,
      nexthop,
      table,
      rule: f.rule,
      dev,
      gateway,
      neighbour: gateway ?? q.dst,
      src,
      flags: kind === 'broadcast' ? ['local', 'brd'] : [],
    });
  }

  private routeInput(q: RouteLookupQuery): LookupResult {
    const family = q.dst.family;
    const iif = q.iif!;
    const martian = this.martian(q, iif);
    if (martian) return this.result(q, { kind: 'no-route', errno: 'EINVAL', error: `RTNETLINK answers: ${ERRNO_TEXT.EINVAL}`, reason: martian });
    if (family === 4 && q.src && this.isLocalAddress(q.src) && !this.acceptLocal.has(iif)) {
      return this.result(q, { kind: 'no-route', errno: 'EINVAL', error: `RTNETLINK answers: ${ERRNO_TEXT.EINVAL}` });
    }
    const f = this.fibLookup({ family, dst: q.dst, ...(q.src ? { src: q.src } : {}), mark: q.mark ?? 0, iif, tos: q.tos ?? 0 });
    if (f.errno || !f.hit) {
      if (!this.forwarding[family]) return this.result(q, { kind: 'no-route', table: f.table, rule: f.rule, errno: 'EHOSTUNREACH', error: `RTNETLINK answers: ${ERRNO_TEXT.EHOSTUNREACH}` });
      return this.failure(q, f);
    }
    const route = f.hit.route;
    const table = f.table!;
    if (route.type === 'local' || route.type === 'anycast' || route.type === 'broadcast') {
      const kind = route.type === 'broadcast' ? 'broadcast' : 'local';
      return this.result(q, { kind, route, nexthop: route.nexthops[0] ?? null, table, rule: f.rule, dev: 'lo', flags: kind === 'local' ? ['local'] : ['local', 'brd'] });
    }
    if (!this.forwarding[family]) {
      return this.result(q, { kind: 'no-route', route, table, rule: f.rule, errno: 'EHOSTUNREACH', error: `RTNETLINK answers: ${ERRNO_TEXT.EHOSTUNREACH}` });
    }
    if (route.type !== 'unicast') return this.result(q, { kind: 'no-route', route, table, rule: f.rule, errno: 'EINVAL', error: `RTNETLINK answers: ${ERRNO_TEXT.EINVAL}` });
    const nexthop = this.pickNexthop(q, f.hit, table, true);
    const gateway = nexthop.gateway && (family === 6 || nexthop.nhScope === SCOPE_LINK || nexthop.onlink) ? nexthop.gateway : null;
    return this.result(q, { kind: 'unicast', forward: true, route, nexthop, table, rule: f.rule, dev: nexthop.dev ?? null, gateway, neighbour: gateway ?? q.dst });
  }

  /**
   * Loopback addresses arriving on a device that is not lo. IPv4: ip_route_input_slow
   * (net/ipv4/route.c) sends a loopback destination to martian_destination, and (else) a loopback
   * source to martian_source, unless route_localnet is set for the device or for all. IPv6:
   * ip6_rcv_core (net/ipv6/ip6_input.c) drops ::1 as source or destination on a non-loopback
   * device. Returns the reason, or null.
   */
  private martian(q: RouteLookupQuery, iif: string): string | null {
    if (iif === 'lo') return null;
    if (q.dst.family === 4) {
      const localnet = this.routeLocalnet.has('all') || this.routeLocalnet.has(iif);
      if (localnet) return null;
      if (q.dst.n >>> 24 === 127) return `martian destination ${formatIp(q.dst)} on ${iif} (net.ipv4.conf.${iif}.route_localnet=0): dropped by ip_route_input_slow`;
      if (q.src?.family === 4 && q.src.n >>> 24 === 127) return `martian source ${formatIp(q.src)} on ${iif} (net.ipv4.conf.${iif}.route_localnet=0): dropped by ip_route_input_slow`;
      return null;
    }
    if (q.dst.n === 1n) return `IPv6 loopback destination ::1 on ${iif}: dropped by ip6_rcv_core`;
    if (q.src?.family === 6 && q.src.n === 1n) return `IPv6 loopback source ::1 on ${iif}: dropped by ip6_rcv_core`;
    return null;
  }

  /**
   * Models __fib_validate_source (net/ipv4/fib_frontend.c) for rp_filter: the reverse route to the
   * source must be unicast (or local with accept_local); strict mode (1) also needs it to leave by
   * the receiving device; loose mode (2) needs only a route. Returns null when valid, else the errno
   * (EXDEV: reverse path fails; EINVAL: martian).
   */
  validateSource(q: { src: Ip; dst: Ip; iif: string; mark?: number; tos?: number }, rpFilter: 0 | 1 | 2): Errno | 'EXDEV' | null {
    const family = q.src.family;
    if (rpFilter === 0) {
      if (this.acceptLocal.has(q.iif)) return null;
      return this.isLocalAddress(q.src) ? 'EINVAL' : null;
    }
    const f = this.fibLookup({ family, dst: q.src, src: q.dst, mark: 0, iif: q.iif, tos: q.tos ?? 0 });
    if (f.errno || !f.hit) return 'EXDEV';
    const t = f.hit.route.type;
    if (t !== 'unicast' && (t !== 'local' || !this.acceptLocal.has(q.iif))) return 'EINVAL';
    if (f.hit.route.nexthops.some((n) => n.dev === q.iif)) return null;
    if (!this.addresses.some((a) => a.dev === q.iif && a.family === family)) return 'EXDEV';
    if (rpFilter === 1) return 'EXDEV';
    return null;
  }

  /**
   * Models inet_select_addr (net/ipv4/devinet.c): the first primary address of `dev` whose scope is
   * not narrower than `scope`, preferring one in the subnet of `dst`; else the first primary address
   * (not link-scoped, scope not narrower) of any device in device order, `lo` first.
   */
  selectSourceV4(dev: string | null, dst: Ip | null, scope: number): Ip | null {
    let first: Ip | null = null;
    if (dev !== null) {
      for (const a of this.addresses) {
        if (a.dev !== dev || a.family !== 4 || a.secondary || a.scope > scope) continue;
        if (!dst || cidrContains({ family: 4, network: networkOf(a.local, a.prefix), prefix: a.prefix }, dst)) return a.local;
        first ??= a.local;
      }
      if (first) return first;
    }
    for (const d of this.devices) {
      for (const a of this.addresses) {
        if (a.dev === d && a.family === 4 && !a.secondary && a.scope !== SCOPE_LINK && a.scope <= scope) return a.local;
      }
    }
    return null;
  }

  /**
   * Models ipv6_dev_get_saddr (net/ipv6/addrconf.c) with the RFC 6724 rules the kernel applies by
   * default: 1 same address, 2 appropriate scope, 5 prefer the outgoing interface, 6 matching label
   * (default policy table), 8 longest matching prefix (capped at the candidate's prefix length);
   * first found on a tie. Not modelled: deprecated/tentative/temporary/home addresses (rules 3, 4, 7).
   * For a link-local destination only addresses of the outgoing device are candidates.
   */
  selectSourceV6(dev: string | null, dst: Ip): Ip | null {
    const dstScope = v6Scope(dst);
    let cands = this.addresses.filter((a) => a.family === 6);
    if (dev !== null && dstScope <= 2) cands = cands.filter((a) => a.dev === dev);
    const ordered = this.devices.flatMap((d) => cands.filter((a) => a.dev === d));
    let best: IfAddress | null = null;
    for (const c of ordered) {
      if (!best || prefer6(c, best, dst, dstScope, dev) < 0) best = c;
    }
    return best?.local ?? null;
  }
}

/** fib_rule_match (net/core/fib_rules.c) + fib4_rule_match / fib6_rule_match; `not` inverts all. */
function ruleMatches(rule: IpRule, flow: { family: Family; dst: Ip; src?: Ip; mark: number; iif: string; oif?: string; tos: number }): boolean {
  let ok = true;
  if (rule.iif !== undefined && rule.iif !== flow.iif) ok = false;
  else if (rule.oif !== undefined && rule.oif !== flow.oif) ok = false;
  else if (rule.fwmark !== undefined && ((rule.fwmark ^ flow.mark) & (rule.fwmask ?? 0xffffffff)) >>> 0 !== 0) ok = false;
  else if (rule.src && !cidrContains(rule.src, flow.src ?? zeroIp(flow.family))) ok = false;
  else if (rule.dst && !cidrContains(rule.dst, flow.dst)) ok = false;
  else if (rule.tos && rule.tos !== flow.tos) ok = false;
  return rule.invert ? !ok : ok;
}

function zeroIp(family: Family): Ip {
  return family === 4 ? { family: 4, n: 0 } : { family: 6, n: 0n };
}

/** iproute2's default address scope: host for 127.0.0.0/8 and ::1, link for fe80::/10, else global. */
function defaultAddrScope(ip: Ip): number {
  if (ip.family === 4) return ip.n >>> 24 === 127 ? SCOPE_HOST : SCOPE_UNIVERSE;
  if (ip.n === 1n) return SCOPE_HOST;
  return isV6LinkLocal(ip) ? SCOPE_LINK : SCOPE_UNIVERSE;
}

/** IPv6 address scope values of RFC 4291 (node-local 1, link 2, site 5, global 14). */
function v6Scope(ip: Ip): number {
  if (ip.family !== 6) return 14;
  if (ip.n === 1n) return 1;
  if (isV6LinkLocal(ip)) return 2;
  if (ip.n >> 118n === 0x3fbn) return 5;
  return 14;
}

function addrV6Scope(a: IfAddress): number {
  if (a.scope === SCOPE_HOST) return 1;
  if (a.scope === SCOPE_LINK) return 2;
  return v6Scope(a.local);
}

/** RFC 6724 default policy table: prefix, length, label (longest match wins). */
const V6_LABELS: ReadonlyArray<readonly [string, number, number]> = [
  ['::1', 128, 0],
  ['::', 0, 1],
  ['::ffff:0:0', 96, 4],
  ['2002::', 16, 2],
  ['2001::', 32, 5],
  ['fc00::', 7, 13],
  ['::', 96, 3],
  ['fec0::', 10, 11],
  ['3ffe::', 16, 12],
];
const LABEL_TABLE = V6_LABELS.map(([p, len, label]) => ({ cidr: parseCidr(`${p}/${len}`), label })).sort((a, b) => b.cidr.prefix - a.cidr.prefix);
function v6Label(ip: Ip): number {
  return LABEL_TABLE.find((e) => cidrContains(e.cidr, ip))?.label ?? 1;
}

function commonPrefix(a: Ip, b: Ip): number {
  const x = (a.n as bigint) ^ (b.n as bigint);
  if (x === 0n) return 128;
  return 128 - x.toString(2).length;
}

/** < 0 when candidate `a` is preferred over `b` for `dst` (ipv6_get_saddr_eval, in rule order). */
function prefer6(a: IfAddress, b: IfAddress, dst: Ip, dstScope: number, dev: string | null): number {
  const sameA = ipEquals(a.local, dst);
  const sameB = ipEquals(b.local, dst);
  if (sameA !== sameB) return sameA ? -1 : 1;
  const sa = addrV6Scope(a);
  const sb = addrV6Scope(b);
  if (sa !== sb) {
    if (sa < sb) return sa < dstScope ? 1 : -1;
    return sb < dstScope ? -1 : 1;
  }
  if (dev !== null) {
    const oa = a.dev === dev;
    const ob = b.dev === dev;
    if (oa !== ob) return oa ? -1 : 1;
  }
  const dl = v6Label(dst);
  const la = v6Label(a.local) === dl;
  const lb = v6Label(b.local) === dl;
  if (la !== lb) return la ? -1 : 1;
  const pa = Math.min(commonPrefix(a.local, dst), a.prefix);
  const pb = Math.min(commonPrefix(b.local, dst), b.prefix);
  if (pa !== pb) return pb - pa;
  return 0;
}

/** The `route` step of a lookup: the route as `ip route` prints it (with its table unless main). */
export function routeStep(res: LookupResult): RouteStep {
  const table = res.table ?? TABLE_MAIN;
  const text = res.route ? formatRoute(res.route, { table: 'all' }).replace(/\s+$/, '').replace(/\n\t/g, ' ') : null;
  let result: RouteStep['result'];
  switch (res.kind) {
    case 'local':
    case 'broadcast':
      result = 'local';
      break;
    case 'unicast':
      result = res.forward ? 'forward' : 'unicast';
      break;
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
    case 'no-route':
      result = res.kind;
      break;
  }
  const dst = formatIp(res.query.dst);
  let line: string;
  if (res.errno) line = `${dst}: ${res.reason ?? res.error ?? res.errno}${text ? ` (${text})` : ''}`;
  else if (text) line = text;
  else line = `${dst} dev ${res.dev ?? '?'} (no route; assumed on-link because the socket is bound to ${res.dev ?? '?'})`;
  return { kind: 'route', table: tableName(table), route: text, result, text: line };
}
