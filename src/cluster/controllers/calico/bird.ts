/**
 * BIRD as confd configures it for Calico (v3.31 bird.cfg templates): placeholder until src/bgp lands.
 */
import type { Rib } from '../../../routing/index.js';
import type { Topology, TopologyNode } from '../../spec/types.js';

export function installBirdRoutes(_topo: Topology, _node: TopologyNode, _rib: Rib): void {}

/** Why a router the packet crossed has no route to a pod address (placeholder). */
export function calicoMissingRouteReason(_topo: Topology, _crossed: readonly string[], _ip: string): string | null {
  return null;
}
