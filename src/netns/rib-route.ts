import { formatIp, ipEquals, parseIp } from '../base/index.js';
import { formatRoute, type Rib } from '../routing/index.js';
import type { HostAddress, RouteFn, RouteResult } from './host.js';

/**
 * The netfilter path's routing decision from a real FIB: ip_route_input_noref for received packets
 * (with the input device) and ip_route_output_key for locally generated ones, as `Rib.lookupRoute`
 * models them (net/ipv4/route.c). Replaces `simpleRoute` wherever a node's routing state exists.
 */
export function ribRoute(rib: Rib, opts: { rpFilter?: (dev: string) => 0 | 1 | 2 } = {}): RouteFn {
  return (q): RouteResult => {
    const dst = parseIp(q.dst);
    const src = q.src !== undefined ? parseIp(q.src) : undefined;
    // ip_route_input_slow → fib_validate_source (net/ipv4/fib_frontend.c): rp_filter = max(all, dev);
    // a packet from a local source is a martian unless accept_local is set on the device.
    if (q.inDev !== null && q.inDev !== 'lo' && src !== undefined && opts.rpFilter) {
      const mode = opts.rpFilter(q.inDev);
      const bad = rib.validateSource({ src, dst, iif: q.inDev, mark: q.mark }, mode);
      if (bad !== null) {
        const why = bad === 'EXDEV' ? `rp_filter=${mode} (${mode === 1 ? 'strict' : 'loose'}): the reverse path to ${q.src} does not ${mode === 1 ? `leave by ${q.inDev}` : 'exist'}` : `source ${q.src} is local (accept_local=0)`;
        return { kind: 'martian', text: `martian source ${q.src} from ${q.inDev}: ${why}` };
      }
    }
    // An output lookup may name only a local source (else the kernel answers EINVAL).
    const srcOk = src !== undefined && (q.inDev !== null || rib.addresses.some((a) => ipEquals(a.local, src)));
    const res = rib.lookupRoute({ dst, mark: q.mark, ...(srcOk ? { src: src! } : {}), ...(q.inDev !== null ? { iif: q.inDev } : {}) });
    // a failed lookup says why when routing knows (ip_route_input_slow's martian_destination /
    // martian_source for loopback addresses off lo without route_localnet), else what `ip route get` prints
    const text = res.route ? formatRoute(res.route, { table: 'all' }) : res.reason ? `${res.error ?? 'EINVAL'}: ${res.reason}` : (res.error ?? `no route to ${q.dst}`);
    switch (res.kind) {
      case 'local':
      case 'broadcast':
        return { kind: 'local', dev: res.dev ?? 'lo', text };
      case 'unicast':
        return { kind: 'unicast', dev: res.dev, gateway: res.gateway ? formatIp(res.gateway) : null, prefsrc: res.src ? formatIp(res.src) : null, text };
      case 'blackhole':
      case 'unreachable':
      case 'prohibit':
      case 'no-route':
        return { kind: res.kind, text };
    }
  };
}

/** The host addresses (`ip -br addr`) of a Rib, in the form the netfilter host reads. */
export function ribAddresses(rib: Rib): HostAddress[] {
  return rib.addresses.map((a) => ({ ip: formatIp(a.local), prefix: a.prefix, dev: a.dev }));
}
