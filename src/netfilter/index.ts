// netfilter: tables, chains, rules, matches, targets, the table walk, ipsets, iptables-save/ipset save parse + format.
// Must not import conntrack, netns or packet: the pipeline calls walkTable through the types in types.ts.
export * from './types.js';
export * from './walk.js';
