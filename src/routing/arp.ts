import type { Ip } from '../base/index.js';
import type { Rib } from './rib.js';

export type ArpAnswer =
  /** The target is a local address (arp_ignore=0: any local address on any device). */
  | 'local'
  /** proxy_arp on the receiving device and the target is routed out of another device (arp_fwd_proxy). */
  | 'proxy'
  /** A proxy entry (`ip neigh add proxy IP dev DEV`) for the target on the receiving device. */
  | 'pneigh';

/**
 * Models the request branch of arp_process (net/ipv4/arp.c): routes the target as an input packet
 * from `sender` on `dev`; a local target is answered; otherwise, with forwarding on, a unicast route
 * out of a different device is answered when proxy_arp is set on `dev` (arp_fwd_proxy, medium id 0)
 * or a proxy entry exists for the target (pneigh_lookup). Returns null when no reply is sent.
 */
export function answerArp(rib: Rib, q: { dev: string; target: Ip; sender: Ip }): ArpAnswer | null {
  const r = rib.lookupRoute({ dst: q.target, src: q.sender, iif: q.dev });
  if (r.kind === 'local') return 'local';
  if (!rib.forwarding[4] || r.kind !== 'unicast' || !r.forward || r.dev === q.dev) return null;
  if (rib.proxyArp.has(q.dev)) return 'proxy';
  if (rib.neigh.hasProxy(q.dev, q.target)) return 'pneigh';
  return null;
}
