// cluster: the topology loader, the ClusterStore of Kubernetes objects with watch events, allocation, and the controllers.
// Must not trace packets nor import tracer/compare/kernel or the CLI/server; controllers only convert objects into state.
export * from './objects.js';
export { ClusterStore, type WatchEvent, type WatchEventType, type WatchListener, type StoreTransaction } from './store.js';
export { loadTopology, loadTopologyText } from './spec/loader.js';
export type * from './spec/types.js';
export {
  runEndpointSliceController,
  DEFAULT_MAX_ENDPOINTS_PER_SLICE,
  type EndpointSliceController,
  type EndpointSliceControllerOptions,
} from './controllers/endpointslice.js';
export { selectorMatches, NODE_CIDR_MASK, NODE_PORT_RANGE } from './alloc.js';
