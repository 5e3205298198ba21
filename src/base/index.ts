// base: addresses, checksums, seeded randomness, virtual time and branch enumeration.
// Must not import any other podpath module, nor know about packets, rules or clusters.
export * from './ip.js';
export * from './mac.js';
export * from './checksum.js';
export * from './rng.js';
export * from './clock.js';
export * from './branch.js';
export * from './assert.js';
export * from './errors.js';
export * from './suggest.js';
export * from './jhash.js';
