/**
 * The topology file format (../shared/INTERFACES.md §1) as data. To add a key: add one entry
 * here, then read it where the loader resolves that section (loader.ts); unknown keys are warned
 * about automatically.
 */
import { isIp, parseCidr } from '../../base/index.js';
import { any, bool, either, int, ip, list, map, obj, oneOf, required, str, type Check, type Schema } from './schema.js';

/** Splits "a,b" (the comma-separated dual-stack form of --cluster-cidr, --node-ip …) or takes a list. */
export function splitList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((x) => String(x).trim());
  if (typeof v === 'string') return v.split(',').map((x) => x.trim()).filter((x) => x !== '');
  return [];
}

const cidrsCheck: Check<string> = (v) => {
  for (const c of splitList(v)) {
    if (!c.includes('/')) return `"${c}" is not a CIDR (address/prefix)`;
    try {
      parseCidr(c, { strict: true });
    } catch (e) {
      return (e as Error).message;
    }
  }
  return splitList(v).length === 0 ? 'must not be empty' : undefined;
};
const ipsCheck: Check<string> = (v) => {
  for (const c of splitList(v)) if (!isIp(c)) return `"${c}" is not a valid IP address`;
  return splitList(v).length === 0 ? 'must not be empty' : undefined;
};
const prefixedIpCheck: Check<string> = (v) => {
  const [a, p, extra] = v.split('/');
  if (extra !== undefined || !a || !isIp(a)) return `"${v}" is not an address with prefix (e.g. 192.168.57.99/24)`;
  try {
    parseCidr(v);
  } catch (e) {
    return (e as Error).message;
  }
  return p === undefined ? `"${v}" needs a prefix length (e.g. ${a}/24)` : undefined;
};

/** One CIDR, "v4,v6" or a list of CIDRs. */
const cidrs = either('a CIDR, "v4CIDR,v6CIDR" or a list of CIDRs', str({ check: cidrsCheck }), list(str({ check: cidrsCheck })));
/** One IP, "v4,v6" or a list of IPs (kubelet --node-ip's dual-stack form). */
const ips = either('an IP address, "v4,v6" or a list of IP addresses', str({ check: ipsCheck }), list(ip()));

/** Linux accepts MTUs from 68 (IPv4 minimum, RFC 791) to 65535 on most devices. */
const mtu = int(68, 65535);

export const TOPOLOGY_SCHEMA: Schema = obj({
  name: required(str()),
  description: str(),
  cluster: obj({
    podCIDR: cidrs,
    serviceCIDR: cidrs,
    cni: obj({
      plugin: oneOf('flannel', 'calico'),
      mode: str(),
      encapsulation: oneOf('Always', 'CrossSubnet'),
      bgp: obj({ mesh: oneOf('full'), routeReflectors: list(str()) }, { what: '{ mesh: full } or { routeReflectors: [node, …] }' }),
      asNumber: int(1, 4294967295),
      mtu,
      directRouting: bool,
    }),
    kubeProxy: obj({
      mode: oneOf('iptables', 'ipvs'),
      ipvs: obj({ scheduler: oneOf('rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'mh'), strictARP: bool }),
      masqueradeAll: bool,
      masqueradeBit: int(0, 31),
      localDetector: obj({
        mode: oneOf('ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix', 'None'),
        bridgeInterface: str(),
        interfaceNamePrefix: str(),
      }),
      nodePortAddresses: list(str()),
      localhostNodePorts: bool,
      ipFamilies: list(oneOf('IPv4', 'IPv6')),
    }),
  }),
  underlay: obj({
    networks: list(obj({ name: required(str()), cidr: required(cidrs), mtu })),
    routers: list(obj({ name: required(str()), interfaces: required(list(obj({ network: required(str()), ip: required(ip()) }))) })),
  }),
  nodes: list(
    obj({
      name: required(str()),
      ip: required(ips),
      network: required(str()),
      podCIDR: cidrs,
      addresses: list(str({ check: prefixedIpCheck })),
      labels: map(str(), 'label key to value'),
      unschedulable: bool,
    }),
  ),
  clients: list(obj({ name: required(str()), ip: required(ips), network: required(str()) })),
  manifests: list(str()),
  objects: list(any),
});
