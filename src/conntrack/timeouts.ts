/**
 * Default conntrack timeouts, in virtual milliseconds. Sources (Linux 6.x):
 * - tcp_timeouts[] in net/netfilter/nf_conntrack_proto_tcp.c (SYN_SENT 2 min, SYN_RECV 60 s,
 *   ESTABLISHED 5 days, FIN_WAIT 2 min, CLOSE_WAIT 60 s, LAST_ACK 30 s, TIME_WAIT 2 min, CLOSE 10 s,
 *   SYN_SENT2 2 min, RETRANS 5 min, UNACK 5 min); sysctls net.netfilter.nf_conntrack_tcp_timeout_*.
 * - udp_timeouts[] in nf_conntrack_proto_udp.c (UNREPLIED 30 s, REPLIED 120 s — the "udp stream"
 *   timeout); sysctls nf_conntrack_udp_timeout and nf_conntrack_udp_timeout_stream.
 * - nf_ct_icmp_timeout (30 s) in nf_conntrack_proto_icmp.c, nf_ct_icmpv6_timeout (30 s) in
 *   nf_conntrack_proto_icmpv6.c, nf_ct_generic_timeout (600 s) in nf_conntrack_proto_generic.c.
 * Checked on the kernel of this project's lab (6.18): fixtures/dnat-tcp-udp-icmp.txt shows udp 28 s
 * and icmp 29 s just after the exchange, generic (IGMP) 596 s.
 */
import type { Timeouts } from './types.js';

const S = 1000;
const MIN = 60 * S;

export const DEFAULT_TIMEOUTS: Timeouts = {
  tcp: {
    SYN_SENT: 2 * MIN,
    SYN_RECV: 60 * S,
    ESTABLISHED: 5 * 24 * 60 * MIN,
    FIN_WAIT: 2 * MIN,
    CLOSE_WAIT: 60 * S,
    LAST_ACK: 30 * S,
    TIME_WAIT: 2 * MIN,
    CLOSE: 10 * S,
    SYN_SENT2: 2 * MIN,
    RETRANS: 5 * MIN,
    UNACK: 5 * MIN,
  },
  udp: { UNREPLIED: 30 * S, REPLIED: 120 * S },
  icmp: 30 * S,
  icmpv6: 30 * S,
  generic: 600 * S,
};

/** How long after its first packet a replied UDP flow must still be active to count as a stream (2*HZ in udp_packet). */
export const UDP_STREAM_AFTER_MS = 2 * S;

/** Timeout of an entry inserted by nf_ct_resolve_clash_harder (HZ). */
export const NAT_CLASH_TIMEOUT_MS = 1 * S;

export function mergeTimeouts(over: Partial<Timeouts> | undefined): Timeouts {
  if (!over) return DEFAULT_TIMEOUTS;
  return {
    tcp: { ...DEFAULT_TIMEOUTS.tcp, ...(over.tcp ?? {}) },
    udp: { ...DEFAULT_TIMEOUTS.udp, ...(over.udp ?? {}) },
    icmp: over.icmp ?? DEFAULT_TIMEOUTS.icmp,
    icmpv6: over.icmpv6 ?? DEFAULT_TIMEOUTS.icmpv6,
    generic: over.generic ?? DEFAULT_TIMEOUTS.generic,
  };
}
