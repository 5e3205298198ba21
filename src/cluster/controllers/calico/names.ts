/**
 * Names and constants Calico uses on a node (facts: ../shared/reference/calico.md, pinned to
 * Calico v3.31): interface names, MACs, tunnel parameters, route protocols.
 */
import { createHash } from 'node:crypto';
import type { Mac } from '../../../base/index.js';

/** Felix's default interface prefix (FELIX_INTERFACEPREFIX "cali"). */
export const CALI_PREFIX = 'cali';
/** The MAC the CNI plugin forces on every host-side cali interface (cni-plugin dataplane_linux.go). */
export const CALI_HOST_MAC: Mac = 'ee:ee:ee:ee:ee:ee';
/** The pod's gateway: nothing owns it, the host side answers by proxy ARP (cni-plugin dataplane_linux.go). */
export const CALI_POD_GATEWAY = '169.254.1.1';
/** Felix's VXLAN device and parameters (felix/config/config_params.go VXLANVNI, VXLANPort). */
export const CALICO_VXLAN_DEV = 'vxlan.calico';
export const CALICO_VXLAN_VNI = 4096;
export const CALICO_VXLAN_PORT = 4789;
/** The ipip module's fallback device Felix configures (felix dataplane_defs.go). */
export const CALICO_IPIP_DEV = 'tunl0';
/** RTPROT_BIRD (include/uapi/linux/rtnetlink.h): routes BIRD installs print `proto bird`. */
export const PROTO_BIRD = 12;
/** Felix's DefaultRouteProto (felix dataplanedefs): its blackholes and same-subnet routes print `proto 80`. */
export const PROTO_FELIX = 80;
/** Calico's default AS (confd client.go). */
export const CALICO_DEFAULT_AS = 64512;
/** BGP's TCP port (RFC 4271 §8.2.1; BGPConfiguration listenPort default). */
export const BGP_PORT = 179;
/** IPPool defaults (api IPPool: blockSize 26 for IPv4; default pool name of calico-node startup.go). */
export const DEFAULT_BLOCK_SIZE = 26;
export const DEFAULT_POOL_NAME = 'default-ipv4-ippool';

/**
 * The host-side interface of a workload (libcalico-go conversion VethNameForWorkload): "cali" +
 * the first 11 hex digits of SHA-1("<namespace>.<pod>").
 */
export function caliVethName(namespace: string, pod: string): string {
  return CALI_PREFIX + createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11);
}

/**
 * A node's VTEP MAC when the Node does not set one (felix/calc/vxlan_resolver.go vtepMACForHost):
 * the byte 'f' (0x66) followed by the first 5 bytes of SHA-1(nodename).
 */
export function calicoVtepMac(nodeName: string): Mac {
  const sha = createHash('sha1').update(nodeName).digest();
  return [0x66, ...sha.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** BIRD's protocol name for a mesh peer (confd bird.cfg.template): `Mesh_` + the IP with dots as underscores. */
export function meshProtocolName(ip: string): string {
  return `Mesh_${ip.replace(/[.:]/g, '_')}`;
}
/** BIRD's protocol name for a BGPPeer-derived session: `Node_<ip>` (node-scoped) or `Global_<ip>`. */
export function peerProtocolName(ip: string, scope: 'Node' | 'Global'): string {
  return `${scope}_${ip.replace(/[.:]/g, '_')}`;
}
