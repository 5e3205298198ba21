// packet: wire headers (one file per protocol), the Packet layer stack, encode/decode/verify, encapsulation and ICMP-error builders, flow keys, tcpdump-style text, pcap in and out.
// Must not know about netns, rules, routes or conntrack state, and must not import anything above base/ (Skb metadata lives in skb.ts, owned separately).
export * from './errors.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './icmp.js';
export * from './icmpv6.js';
export * from './tcp.js';
export * from './udp.js';
export * from './vxlan.js';
export * from './packet.js';
export * from './build.js';
export * from './flow.js';
export * from './format.js';
export * from './pcap.js';
