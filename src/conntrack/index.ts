// conntrack: per-netns connection tracking — tuples, TCP/UDP/ICMP state and timeouts on the virtual clock, NAT bindings and their rewrites, `conntrack -L`.
// Must not import netfilter, netns or packet, nor read packet bytes: it works on tuples and is driven by the netns pipeline.
//
// Where the pipeline calls it (the kernel's hook priorities, include/uapi/linux/netfilter_ipv4.h):
//   PREROUTING  raw(-300) → packetIn (NF_IP_PRI_CONNTRACK -200) → mangle → nat (-100, DST manip) → …
//   OUTPUT      raw → packetIn → mangle → nat (DST manip) → filter → …
//   INPUT       mangle → filter → nat (+100, SRC manip) → confirm (NF_IP_PRI_CONNTRACK_CONFIRM, last)
//   POSTROUTING mangle → nat (+100, SRC manip) → confirm (last)
// At each nat point (nf_nat_inet_fn), with manip = manipForHook(hook):
//   ctinfo NEW (or RELATED for a non-ICMP packet): if !natInitialized(entry, manip) run the nat chain;
//     a DNAT/SNAT/MASQUERADE/REDIRECT target calls setupNat(entry, manip, range); if the chain ends
//     without one, allocNullBinding(entry, manip) (the SRC null binding may still move a clashing
//     source port). Then translate(entry, dir, manip).
//   ESTABLISHED / ESTABLISHED_REPLY: no nat chain; translate(entry, dir, manip) only.
//   RELATED / RELATED_REPLY ICMP errors: no nat chain; translateIcmpError(entry, dir, manip, outer, quoted).
// translate() returns null when the hook changes nothing: for the ORIGINAL direction a DNAT applies
// at PREROUTING/OUTPUT and an SNAT at POSTROUTING/INPUT; for REPLY packets the reverse of the SNAT
// applies at PREROUTING/OUTPUT and the reverse of the DNAT at POSTROUTING/INPUT.
export * from './types.js';
export * from './tuple.js';
export * from './timeouts.js';
export { findBestIps, getUniqueTuple, type NatTupleOracle } from './nat.js';
export * from './table.js';
export * from './format.js';
