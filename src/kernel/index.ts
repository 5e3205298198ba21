// kernel: the real-kernel lab — materialise a World into Linux network namespaces (devices, addresses, routes, neighbours, FDB, sysctls, iptables, listeners) and drive real traffic through it.
// Must not model or decide anything itself, nor touch the root namespace: it writes the World's own data with the real tools and reports what it could not reproduce.
export * from './exec.js';
export * from './programs.js';
export * from './materialize.js';
