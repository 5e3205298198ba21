// netns: one Linux network namespace — its addresses, routing hook-in, and the netfilter hook pipeline (raw, conntrack, mangle, nat, filter, security, confirm) that packets walk.
// Must not parse rules or implement matches/targets/conntrack itself: it calls netfilter's walkTable and conntrack's table through their interfaces.
export * from './hooks.js';
export { IPVS_OPS, ipvsRuntime, netnsIpvs } from './ipvs-hook.js';
export type { IpvsHookFn, NetnsIpvs } from './ipvs-hook.js';
export * from './host.js';
export * from './ct.js';
export * from './pipeline.js';
export * from './netfilter-trace.js';
export * from './load.js';
export * from './rib-route.js';
export * from './devices.js';
export * from './fabric.js';
export * from './sysctls.js';
