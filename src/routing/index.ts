// routing: FIB tables, policy rules, next hops, multipath, source selection, neighbours, proxy ARP, iproute2 formats.
// Must not know about packets' bytes, netfilter, devices' behaviour or clusters; imports only base and trace.
export * from './names.js';
export * from './types.js';
export * from './fib.js';
export * from './multipath.js';
export * from './neigh.js';
export * from './rib.js';
export * from './arp.js';
export * from './format.js';
