/**
 * One host's netfilter context: its addresses, a routing function, the compiled ruleset and ipsets
 * (configuration), and the state packets change (conntrack, xt_recent tables, nth counters).
 *
 * Routing is injected (`RouteFn`). Until the FIB of issue 5 exists, `simpleRoute` decides as
 * documented there: local when the destination is one of the host's addresses, else forward.
 */
import { cidrContains, broadcastOf, formatIp, parseCidr, parseIp, ipEquals, type Clock, type Family, type Rng } from '../base/index.js';
import type { AddrType, CompiledRuleset, IpsetLookup, NthCounters, RecentLookup } from '../netfilter/index.js';
import type { CtTable } from './ct.js';
import type { NetnsIpvs } from './ipvs-hook.js';

/** An address configured on the host (`ip -br addr`): address, prefix length, device. */
export interface HostAddress {
  readonly ip: string;
  readonly prefix: number;
  readonly dev: string | null;
}

/** The routing decision (fib_lookup result type, rtn_type) reduced to what the netfilter path needs. */
export type RouteResult =
  | { readonly kind: 'local'; readonly dev: string; readonly text: string }
  | { readonly kind: 'unicast'; readonly dev: string | null; readonly gateway: string | null; readonly prefsrc: string | null; readonly text: string }
  | { readonly kind: 'blackhole' | 'unreachable' | 'prohibit' | 'no-route'; readonly text: string }
  /** ip_route_input_slow refused the source (fib_validate_source: rp_filter, a local source without accept_local). */
  | { readonly kind: 'martian'; readonly text: string };

export interface RouteQuery {
  readonly family: Family;
  readonly dst: string;
  readonly src?: string;
  readonly mark: number;
  readonly inDev: string | null;
}

/** ip_route_input / ip_route_output_key: a FIB lookup. Injected so that issue 5's FIB can replace `simpleRoute`. */
export type RouteFn = (q: RouteQuery) => RouteResult;

export interface NetfilterHostConfig {
  readonly name: string;
  readonly family: Family;
  readonly ruleset: CompiledRuleset;
  readonly addresses: readonly HostAddress[];
  readonly route: RouteFn;
  readonly ipsets: IpsetLookup;
  /**
   * Whether nf_conntrack is registered in this netns. The kernel registers it on demand
   * (nf_ct_netns_get) when a nat table, a conntrack/state/connmark match or a CT/CONNMARK target
   * is loaded; `conntrackNeeded(ruleset)` derives it.
   */
  readonly conntrack: boolean;
  /** A device's MTU (dev->mtu), for ip_forward's and ip_finish_output's checks; absent: no MTU checks. */
  readonly mtu?: (dev: string) => number | null;
  /** The namespace's IPVS virtual services (kube-proxy IPVS mode); absent: IPVS has no hooks here. */
  readonly ipvs?: NetnsIpvs;
}

/** What packets change. Make a fresh one per independent run (each `--all` branch starts from the same state). */
export interface NetfilterHostState {
  readonly ct: CtTable;
  readonly recent: RecentLookup;
  readonly nth: NthCounters;
  readonly clock: Clock;
  /** get_random_u16() of NAT port searches (SNAT/MASQUERADE offsets, --random); without it conntrack derives the offset from a tuple hash. */
  readonly rng?: Rng;
}

export interface NetfilterHost {
  readonly config: NetfilterHostConfig;
  readonly state: NetfilterHostState;
}

/** Matches and targets that make the kernel register conntrack in the netns (nf_ct_netns_get callers). */
const CT_MATCHES = new Set(['conntrack', 'state', 'connmark']);
const CT_TARGETS = new Set(['CONNMARK', 'CT', 'NOTRACK', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT']);

/** True when the ruleset makes the kernel load conntrack in the netns: a nat table, or a rule needing it. */
export function conntrackNeeded(rs: CompiledRuleset): boolean {
  if (rs.ruleset.tables.has('nat')) return true;
  for (const table of rs.ruleset.tables.values()) {
    for (const chain of table.chains.values()) {
      for (const rule of chain.rules) {
        if (CT_TARGETS.has(rule.target.kind)) return true;
        if (rule.matches.some((m) => CT_MATCHES.has(m.kind))) return true;
      }
    }
  }
  return false;
}

function isLoopback(ip: string): boolean {
  const a = parseIp(ip);
  return a.family === 4 ? cidrContains(parseCidr('127.0.0.0/8'), a) : ipEquals(a, parseIp('::1'));
}

/** True when `ip` is one of the host's addresses (or loopback: the local table's `local 127.0.0.0/8`). */
export function isLocalAddress(addresses: readonly HostAddress[], ip: string): boolean {
  const a = parseIp(ip);
  if (a.family === 4 ? a.n >>> 24 === 127 : a.n === 1n) return true;
  return addressSets(addresses).local.has(a.n);
}

/** The host's addresses and IPv4 subnet broadcasts as numbers, parsed once per address list (asked per packet, per rule). */
interface AddressSets {
  readonly of: number;
  readonly local: Set<number | bigint>;
  readonly broadcast: Set<number>;
}
const parsedAddresses = new WeakMap<readonly HostAddress[], AddressSets>();
function addressSets(addresses: readonly HostAddress[]): AddressSets {
  let s = parsedAddresses.get(addresses);
  if (!s || s.of !== addresses.length) {
    s = { of: addresses.length, local: new Set(), broadcast: new Set() };
    for (const h of addresses) {
      const ip = parseIp(h.ip);
      s.local.add(ip.n);
      if (ip.family === 4 && h.prefix < 31) {
        const b = broadcastOf(parseCidr(`${h.ip}/${h.prefix}`));
        if (b.family === 4) s.broadcast.add(b.n);
      }
    }
    parsedAddresses.set(addresses, s);
  }
  return s;
}

/**
 * The route type of an address as xt_addrtype reads it (inet_addr_type_table): LOCAL for the
 * host's addresses and 127.0.0.0/8, BROADCAST for 255.255.255.255 and each address's subnet
 * broadcast (the `broadcast` routes fib_add_ifaddr puts in the local table), MULTICAST for
 * 224.0.0.0/4, UNSPEC for 0.0.0.0, else UNICAST. `--limit-iface-*` is treated like the
 * unlimited lookup (one routing domain, no VRF).
 */
export function addrTypeOf(addresses: readonly HostAddress[], ip: string): AddrType {
  const a = parseIp(ip);
  if (a.family === 4) {
    if (a.n === 0) return 'UNSPEC';
    if (a.n === 0xffffffff) return 'BROADCAST';
    if (a.n >>> 28 === 0xe) return 'MULTICAST';
  } else {
    if (a.n === 0n) return 'UNSPEC';
    if (cidrContains(parseCidr('ff00::/8'), a)) return 'MULTICAST';
  }
  if (isLocalAddress(addresses, ip)) return 'LOCAL';
  if (a.family === 4 && addressSets(addresses).broadcast.has(a.n)) return 'BROADCAST';
  return 'UNICAST';
}

/**
 * The simple routing of `podpath netfilter` (until issue 5's FIB): local when the destination is
 * a local address; else out of the device whose connected prefix holds the destination; else out
 * of `defaultDev` (the `--out-iface` given, or null when unknown).
 */
export function simpleRoute(addresses: readonly HostAddress[], opts: { defaultDev?: string | null } = {}): RouteFn {
  return (q) => {
    if (isLocalAddress(addresses, q.dst)) {
      return { kind: 'local', dev: 'lo', text: `local ${q.dst} dev lo table local proto kernel scope host` };
    }
    const dst = parseIp(q.dst);
    let best: HostAddress | null = null;
    for (const h of addresses) {
      if (h.prefix === bitsOf(h.ip)) continue;
      if (cidrContains(parseCidr(`${h.ip}/${h.prefix}`), dst) && (!best || h.prefix > best.prefix)) best = h;
    }
    if (best) {
      const net = parseCidr(`${best.ip}/${best.prefix}`);
      const netText = `${formatIp(net.network)}/${best.prefix}`;
      return { kind: 'unicast', dev: best.dev, gateway: null, prefsrc: best.ip, text: `${netText} dev ${best.dev ?? '?'} proto kernel scope link src ${best.ip}` };
    }
    const dev = opts.defaultDev ?? null;
    return { kind: 'unicast', dev, gateway: null, prefsrc: null, text: `default dev ${dev ?? '?'} (assumed: no FIB given)` };
  };
}

function bitsOf(ip: string): number {
  return parseIp(ip).family === 4 ? 32 : 128;
}

/**
 * inet_select_addr(dev, dst, RT_SCOPE_UNIVERSE) (net/ipv4/devinet.c): the address MASQUERADE and
 * ICMP errors use on `dev`: the first address of `dev` whose subnet holds `dst`, else the first
 * address of `dev`, else the first address of any device.
 */
export function selectAddress(addresses: readonly HostAddress[], family: Family, dev: string | null, dst: string | null): string | null {
  const fam = addresses.filter((a) => parseIp(a.ip).family === family && !isLoopback(a.ip));
  const onDev = fam.filter((a) => dev !== null && a.dev === dev);
  if (dst) {
    const d = parseIp(dst);
    const inSubnet = onDev.find((a) => cidrContains(parseCidr(`${a.ip}/${a.prefix}`), d));
    if (inSubnet) return inSubnet.ip;
  }
  return onDev[0]?.ip ?? fam[0]?.ip ?? null;
}

/** The first (primary) address of a device, as nf_nat_redirect_ipv4 takes indev->ifa_list. */
export function primaryAddress(addresses: readonly HostAddress[], family: Family, dev: string | null): string | null {
  return addresses.find((a) => a.dev !== null && a.dev === dev && parseIp(a.ip).family === family)?.ip ?? null;
}
