// calico controller: what Calico (CNI plugin + IPAM, Felix, BIRD via confd) leaves on a node: IPAM blocks and tunnel addresses, workload veths, routes (Felix's and BIRD's), VXLAN/IPIP devices, neighbours, FDB, Felix's iptables and ipsets; the BGP peering BIRD is configured with.
// Must not trace packets nor build namespaces; it converts the topology into per-node state (facts: ../shared/reference/calico.md, Calico v3.31).
import type { Rib } from '../../../routing/index.js';
import type { Topology, TopologyNode } from '../../spec/types.js';
import { applyCalico, type CalicoNodeState } from './felix.js';
import { installBirdRoutes } from './bird.js';

export * from './names.js';
export * from './ipam.js';
export * from './felix.js';
export * from './iptables.js';
export * from './world.js';
export * from './bird.js';
export { parseSelector, selectorMatchesNode } from './selector.js';

/** Calico's whole state for one node: Felix and the CNI (felix.ts), then the routes BIRD installs (bird.ts). */
export function applyCalicoNode(topo: Topology, node: TopologyNode, rib: Rib): CalicoNodeState {
  const state = applyCalico(topo, node, rib);
  installBirdRoutes(topo, node, rib);
  return state;
}
