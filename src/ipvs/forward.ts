/**
 * Forwarding methods as data (net/netfilter/ipvs/ip_vs_xmit.c): what each transmitter does to the
 * packet. The netns pipeline applies the action; IPVS only says what it is.
 */
import type { Ip } from '../base/index.js';
import type { FwdMethod } from './types.js';

export interface FwdInfo {
  /** ipvsadm switch (-m, -g, -i) and the Forward column of `ipvsadm -Ln`. */
  readonly ipvsadm: string;
  readonly column: string;
  /** The kernel transmitter. */
  readonly xmit: string;
  readonly does: string;
}

export const FORWARDING: Readonly<Record<FwdMethod, FwdInfo>> = {
  masq: { ipvsadm: '-m', column: 'Masq', xmit: 'ip_vs_nat_xmit', does: 'rewrites the destination address and port to the real server (DNAT); replies are rewritten back by ip_vs_out' },
  droute: { ipvsadm: '-g', column: 'Route', xmit: 'ip_vs_dr_xmit', does: 'keeps the IP header (destination stays the VIP) and sends the frame to the real server’s MAC; the real server must hold the VIP and replies directly' },
  tunnel: { ipvsadm: '-i', column: 'Tunnel', xmit: 'ip_vs_tunnel_xmit', does: 'encapsulates the packet in an outer IPv4 header to the real server (IPIP, protocol 4); the inner packet still goes to the VIP' },
  local: { ipvsadm: '-g', column: 'Local', xmit: 'ip_vs_null_xmit', does: 'the real server is a local address: the packet is delivered locally unchanged' },
};

/** The rewrite a transmitter applies to the request packet. */
export type ForwardAction =
  | { readonly kind: 'dnat'; readonly dst: Ip; readonly dport: number }
  | { readonly kind: 'direct-route'; readonly nextHop: Ip }
  | { readonly kind: 'ipip'; readonly outerDst: Ip }
  | { readonly kind: 'local' };

export function forwardAction(fwd: FwdMethod, daddr: Ip, dport: number): ForwardAction {
  switch (fwd) {
    case 'masq':
      return { kind: 'dnat', dst: daddr, dport };
    case 'droute':
      return { kind: 'direct-route', nextHop: daddr };
    case 'tunnel':
      return { kind: 'ipip', outerDst: daddr };
    case 'local':
      return { kind: 'local' };
  }
}
