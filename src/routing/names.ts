/**
 * Well-known numbers and the names iproute2 prints for them. Data, not logic.
 * Sources: /etc/iproute2/rt_protos, rt_scopes, rt_tables (iproute2 6.1), include/uapi/linux/rtnetlink.h,
 * and the errno each route type returns (fib_props[] in net/ipv4/fib_semantics.c).
 */

/** Reserved table ids (rtnetlink.h RT_TABLE_*). */
export const TABLE_UNSPEC = 0;
export const TABLE_DEFAULT = 253;
export const TABLE_MAIN = 254;
export const TABLE_LOCAL = 255;

/** /etc/iproute2/rt_tables */
const TABLE_NAMES: ReadonlyMap<number, string> = new Map([
  [TABLE_LOCAL, 'local'],
  [TABLE_MAIN, 'main'],
  [TABLE_DEFAULT, 'default'],
  [TABLE_UNSPEC, 'unspec'],
]);

/** Route scopes (rtnetlink.h enum rt_scope_t); a larger number is a narrower scope. */
export const SCOPE_UNIVERSE = 0;
export const SCOPE_SITE = 200;
export const SCOPE_LINK = 253;
export const SCOPE_HOST = 254;
export const SCOPE_NOWHERE = 255;

/** /etc/iproute2/rt_scopes */
const SCOPE_NAMES: ReadonlyMap<number, string> = new Map([
  [SCOPE_UNIVERSE, 'global'],
  [SCOPE_NOWHERE, 'nowhere'],
  [SCOPE_HOST, 'host'],
  [SCOPE_LINK, 'link'],
  [SCOPE_SITE, 'site'],
]);

/** Route protocols (rtnetlink.h RTPROT_*). */
export const PROTO_UNSPEC = 0;
export const PROTO_REDIRECT = 1;
export const PROTO_KERNEL = 2;
export const PROTO_BOOT = 3;
export const PROTO_STATIC = 4;
export const PROTO_RA = 9;
export const PROTO_BIRD = 12;

/** /etc/iproute2/rt_protos (iproute2 6.1) plus RTPROT_RA. */
const PROTO_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'unspec'],
  [1, 'redirect'],
  [2, 'kernel'],
  [3, 'boot'],
  [4, 'static'],
  [8, 'gated'],
  [9, 'ra'],
  [10, 'mrt'],
  [11, 'zebra'],
  [12, 'bird'],
  [13, 'dnrouted'],
  [14, 'xorp'],
  [15, 'ntk'],
  [16, 'dhcp'],
  [18, 'keepalived'],
  [42, 'babel'],
  [99, 'openr'],
  [186, 'bgp'],
  [187, 'isis'],
  [188, 'ospf'],
  [189, 'rip'],
  [192, 'eigrp'],
]);

/** Route types podpath models (rtnetlink.h RTN_*; nat and xresolve are not modelled). */
export type RouteType = 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw';
export const ROUTE_TYPES: readonly RouteType[] = ['unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw'];

/** Errors a lookup can end with, and the text `ip` prints for each ("RTNETLINK answers: …"). */
export type Errno = 'ENETUNREACH' | 'EHOSTUNREACH' | 'EACCES' | 'EINVAL' | 'EAGAIN' | 'EEXIST' | 'ENODEV' | 'ESRCH' | 'ENETDOWN';
export const ERRNO_TEXT: Readonly<Record<Errno, string>> = {
  ENETUNREACH: 'Network is unreachable',
  EHOSTUNREACH: 'No route to host',
  EACCES: 'Permission denied',
  EINVAL: 'Invalid argument',
  EAGAIN: 'Resource temporarily unavailable',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ESRCH: 'No such process',
  ENETDOWN: 'Network is down',
};

/** fib_props[] (net/ipv4/fib_semantics.c): the error a route type returns from fib_table_lookup. */
export function routeTypeErrno(t: RouteType): Errno | null {
  switch (t) {
    case 'blackhole':
      return 'EINVAL';
    case 'unreachable':
      return 'EHOSTUNREACH';
    case 'prohibit':
      return 'EACCES';
    case 'throw':
      return 'EAGAIN';
    case 'unicast':
    case 'local':
    case 'broadcast':
    case 'anycast':
    case 'multicast':
      return null;
  }
}

function nameOf(map: ReadonlyMap<number, string>, n: number): string {
  return map.get(n) ?? String(n);
}
function numberOf(map: ReadonlyMap<number, string>, text: string, max: number): number | null {
  for (const [n, name] of map) if (name === text) return n;
  if (/^\d+$/.test(text) && Number(text) <= max) return Number(text);
  if (/^0x[0-9a-f]+$/i.test(text) && Number(text) <= max) return Number(text);
  return null;
}

export const tableName = (id: number): string => nameOf(TABLE_NAMES, id);
export const tableId = (text: string): number | null => numberOf(TABLE_NAMES, text, 0xffffffff);
export const scopeName = (s: number): string => nameOf(SCOPE_NAMES, s);
export const scopeId = (text: string): number | null => numberOf(SCOPE_NAMES, text, 255);
export const routeProtoName = (p: number): string => nameOf(PROTO_NAMES, p);
export const routeProtoId = (text: string): number | null => numberOf(PROTO_NAMES, text, 255);

/** rtnl_dsfield_n2a: "0x10" (the names of /etc/iproute2/rt_dsfield are DSCP classes podpath does not print). */
export function tosText(tos: number): string {
  return `0x${tos.toString(16).padStart(2, '0')}`;
}
