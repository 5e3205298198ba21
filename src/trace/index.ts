// trace: the record of what the datapath did (hops, steps, dispositions) and its renderings.
// Must not decide anything about packets; imports only base.
export * from './types.js';
export * from './recorder.js';
export * from './render.js';
export * from './validate.js';
