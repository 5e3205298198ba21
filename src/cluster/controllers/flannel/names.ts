import { macFromName, type Mac } from '../../../base/index.js';

/** The underlay device of every node (kubelet's node IP lives there). */
export const NODE_UPLINK = 'eth0';
/** Flannel's bridge for pods (the flannel CNI's `bridge` plugin default name). */
export const CNI_BRIDGE = 'cni0';
/** Flannel's VXLAN device: `flannel.<VNI>` (pkg/backend/vxlan/vxlan.go). */
export const FLANNEL_VXLAN_DEV = 'flannel.1';

/**
 * A node's VTEP MAC (flannel.1's address). flanneld picks a random locally administered unicast MAC
 * on first start and keeps it in its `backend-data` annotation; podpath derives a stable one of the
 * same form from the node name.
 */
export function flannelVtepMac(nodeName: string): Mac {
  return macFromName(`${nodeName}/${FLANNEL_VXLAN_DEV}`);
}
