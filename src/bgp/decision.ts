import { PREFERENCE } from './config.js';
import type { Route, Session } from './network.js';
import type { RouteData } from './rib.js';

function neighborAs(s: Session, d: RouteData): number {
  const first = d.attrs.asPath[0];
  return first ?? s.peerAsn;
}

/**
 * Is `a` better than `b`? Models bgp_rte_better (proto/bgp/attrs.c) after nest's protocol
 * preference (static 200 over BGP 100). Order: preference, LOCAL_PREF (higher), AS_PATH length
 * (shorter), ORIGIN (lower), MED (lower, only between routes from the same neighbour AS), eBGP
 * over iBGP, IGP metric (not modelled: equal), ORIGINATOR_ID or the peer's router id (lower),
 * CLUSTER_LIST length (shorter), peer address (lower).
 */
export function betterRoute(a: Route, b: Route): boolean {
  return better(a.session, a.d, b.session, b.d);
}

/** betterRoute on a route's parts: the session it came from (null: local) and its data. */
export function better(sa: Session | null, a: RouteData, sb: Session | null, b: RouteData): boolean {
  const pa = sa ? PREFERENCE.bgp : PREFERENCE.static;
  const pb = sb ? PREFERENCE.bgp : PREFERENCE.static;
  if (pa !== pb) return pa > pb;
  if (!sa || !sb) return false; // two local routes: keep the current one
  const x = a.attrs;
  const y = b.attrs;
  const lpa = x.localPref ?? 100;
  const lpb = y.localPref ?? 100;
  if (lpa !== lpb) return lpa > lpb;
  if (x.asPath.length !== y.asPath.length) return x.asPath.length < y.asPath.length;
  if (x.origin !== y.origin) return x.origin < y.origin;
  if (neighborAs(sa, a) === neighborAs(sb, b)) {
    const ma = x.med ?? 0;
    const mb = y.med ?? 0;
    if (ma !== mb) return ma < mb;
  }
  if (sa.internal !== sb.internal) return !sa.internal;
  if (a.idN !== b.idN) return a.idN < b.idN;
  const cla = x.clusterList?.length ?? 0;
  const clb = y.clusterList?.length ?? 0;
  if (cla !== clb) return cla < clb;
  return sa.peerAddressN < sb.peerAddressN;
}
