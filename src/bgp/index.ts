// bgp: BGP-4 speakers on a virtual clock — session FSM and timers, OPEN/UPDATE/NOTIFICATION/KEEPALIVE (real bytes), RIBs, best path, route reflection.
// Must not know about nodes, pods, netns or kernel routes: callers (the Calico controller) turn Loc-RIBs into routes.
export * from './types.js';
export * from './config.js';
export { BgpNetwork, sortPrefixes } from './network.js';
export type { BgpLogEntry, ConvergenceReport, NetworkOptions, OriginateOptions, RibRoute, SessionInfo } from './network.js';
export { betterRoute } from './decision.js';
export * from './wire.js';
export { bgpFrames, syntheticMac } from './pcap.js';
export { formatBirdProtocols, formatBirdRoutes } from './format.js';
export type { BirdFormatOptions } from './format.js';
