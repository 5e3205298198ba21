import { PREFERENCE } from './config.js';
import type { Route, Session } from './network.js';
import type { RouteData } from './rib.js';

/**
 * What the decision reads of the session each route came from, by session uid (uid 0: a local
 * route), in flat arrays: a table compares a new route with its best one without touching
 * either session object.
 */
export class SessionFacts {
  /** 1 if the session is iBGP. */
  internal = new Uint8Array(64);
  peerAsn = new Float64Array(64);
  peerAddress = new Float64Array(64);

  set(uid: number, s: Session): void {
    if (uid >= this.internal.length) {
      const n = Math.max(uid + 1, this.internal.length * 2);
      const grow = <T extends Uint8Array | Float64Array>(a: T, b: T): T => (b.set(a), b);
      this.internal = grow(this.internal, new Uint8Array(n));
      this.peerAsn = grow(this.peerAsn, new Float64Array(n));
      this.peerAddress = grow(this.peerAddress, new Float64Array(n));
    }
    this.internal[uid] = s.internal ? 1 : 0;
    this.peerAsn[uid] = s.peerAsn;
    this.peerAddress[uid] = s.peerAddressN;
  }
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
  return decide(
    a, sa !== null, sa !== null && sa.internal, sa?.peerAsn ?? 0, sa?.peerAddressN ?? 0,
    b, sb !== null, sb !== null && sb.internal, sb?.peerAsn ?? 0, sb?.peerAddressN ?? 0,
  );
}

/** betterRoute for routes that came over sessions `ua` and `ub` (0: local), whose facts are in `f`. */
export function betterByUid(ua: number, a: RouteData, ub: number, b: RouteData, f: SessionFacts): boolean {
  return decide(a, ua !== 0, f.internal[ua] === 1, f.peerAsn[ua]!, f.peerAddress[ua]!, b, ub !== 0, f.internal[ub] === 1, f.peerAsn[ub]!, f.peerAddress[ub]!);
}

/** The rules, on a route's data and facts of its session: learned (else local), iBGP, peer AS and address. */
function decide(
  a: RouteData, la: boolean, ia: boolean, asA: number, addrA: number,
  b: RouteData, lb: boolean, ib: boolean, asB: number, addrB: number,
): boolean {
  const pa = la ? PREFERENCE.bgp : PREFERENCE.static;
  const pb = lb ? PREFERENCE.bgp : PREFERENCE.static;
  if (pa !== pb) return pa > pb;
  if (!la || !lb) return false; // two local routes: keep the current one
  const x = a.attrs;
  const y = b.attrs;
  const lpa = x.localPref ?? 100;
  const lpb = y.localPref ?? 100;
  if (lpa !== lpb) return lpa > lpb;
  if (x.asPath.length !== y.asPath.length) return x.asPath.length < y.asPath.length;
  if (x.origin !== y.origin) return x.origin < y.origin;
  // MED only between routes from the same neighbour AS (the first AS of the path, else the peer's).
  if ((x.asPath[0] ?? asA) === (y.asPath[0] ?? asB)) {
    const ma = x.med ?? 0;
    const mb = y.med ?? 0;
    if (ma !== mb) return ma < mb;
  }
  if (ia !== ib) return !ia;
  if (a.idN !== b.idN) return a.idN < b.idN;
  const cla = x.clusterList?.length ?? 0;
  const clb = y.clusterList?.length ?? 0;
  if (cla !== clb) return cla < clb;
  return addrA < addrB;
}
