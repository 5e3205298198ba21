// compare: one request under several CNI × kube-proxy modes — variant topologies, their Worlds, traces and figures, as a table.
// Must not import the tracer (same layer: the caller passes traceRequest in) nor the CLI/server; it never changes the caller's topology.
export * from './modes.js';
export * from './measure.js';
export * from './compare.js';
export * from './format.js';
