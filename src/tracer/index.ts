// tracer: the hop-by-hop walk of a request and its reply through a World's namespaces (INTERFACES.md §2 trace, §3 JSON).
// Must not build or change the World nor parse topologies; it injects packets and follows what the namespaces do with them.
export * from './trace.js';
export { buildWorld, hostVethName, missingRouteReason, type World, type WorldNode, type WorldPod, type IpOwner } from '../cluster/world.js';
export { applyFlannel, flannelIptablesPayload, flannelNetwork, formatRefusal, type FlannelNodeState, type RefusedRoute } from '../cluster/controllers/flannel/index.js';
