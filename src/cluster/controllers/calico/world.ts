/**
 * The namespaces Calico's CNI plugin makes for pods (cni-plugin dataplane_linux.go): eth0 with the
 * pod IP as /32, `169.254.1.1 dev eth0 scope link`, `default via 169.254.1.1 dev eth0`; and the
 * host-side additions the World builder puts on the node (veths, tunnel device, FDB, sysctls).
 */
import { parseCidr, parseIp } from '../../../base/index.js';
import type { Device, FdbEntry, Listener, NetnsSpec, Sysctls } from '../../../netns/index.js';
import { applySysctls } from '../../../netns/index.js';
import { Rib } from '../../../routing/index.js';
import type { CalicoNodeState, CalicoWorkload } from './felix.js';
import { workloadSysctls, workloadVeth } from './felix.js';
import { CALI_POD_GATEWAY } from './names.js';

/** A pod's namespace as the Calico CNI plugin leaves it. */
export function calicoPodNetns(node: string, w: CalicoWorkload, mtu: number, sysctls: Sysctls, listeners: readonly Listener[]): NetnsSpec {
  const rib = new Rib(['eth0']);
  rib.addAddress('lo', '127.0.0.1/8');
  rib.addAddress('eth0', `${w.ip}/32`);
  rib.addRoute({ dst: parseCidr(`${CALI_POD_GATEWAY}/32`), nexthops: [{ dev: 'eth0' }] }, { validate: true });
  rib.addRoute({ dst: parseCidr('0.0.0.0/0'), nexthops: [{ gateway: parseIp(CALI_POD_GATEWAY), dev: 'eth0' }] }, { validate: true });
  const devices: Device[] = [
    { kind: 'loopback', name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536 },
    { kind: 'veth', name: 'eth0', mac: w.podMac, mtu, peer: { netns: node, dev: w.iface } },
  ];
  return { name: w.key, node, role: 'pod', devices, rib, fdb: [], sysctls, listeners };
}

/** What the World adds to a Calico node's namespace: devices, FDB entries, sysctls. */
export function calicoNodeAdditions(state: CalicoNodeState, base: Sysctls): { devices: Device[]; fdb: FdbEntry[]; sysctls: Sysctls } {
  const devices: Device[] = [];
  if (state.tunnelDevice) devices.push(state.tunnelDevice);
  for (const w of state.workloads) devices.push(workloadVeth(w, state.mtu));
  return { devices, fdb: [...state.fdb], sysctls: applySysctls(base, workloadSysctls(state.workloads.map((w) => w.iface))) };
}
