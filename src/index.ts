// podpath's public API: the only module the CLI, the server and the UI import.
// Must not contain behaviour of its own; it re-exports from the layers below.
export * from './base/index.js';
export * from './trace/index.js';
export * from './packet/index.js';
export * from './routing/index.js';
export * from './conntrack/index.js';
export * from './netns/index.js';
export * from './netfilter/index.js';
export * from './bgp/index.js';
export * from './cluster/index.js';
export * from './tracer/index.js';
export * from './tracer/pcap.js';
export * from './ipvs/index.js';
export * from './compare/index.js';
