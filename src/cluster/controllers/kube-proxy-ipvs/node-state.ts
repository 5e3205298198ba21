import { macFromName } from '../../../base/index.js';
import type { Device } from '../../../netns/index.js';
import type { Rib } from '../../../routing/index.js';
import type { GeneratedRuleset } from '../kube-proxy-iptables/types.js';
import { DUMMY_DEVICE } from './names.js';
import type { GeneratedIpvs } from './types.js';

const ofIptables = new WeakMap<GeneratedRuleset, GeneratedIpvs>();

/** Sysctls the node's netns does not model as Sysctls: IPVS's own (held by the IPVS state) and strictARP's arp_*. */
function ipvsOnly(key: string): boolean {
  return key.startsWith('net/ipv4/vs/') || key.startsWith('net/ipv4/conf/all/arp_');
}

/**
 * IPVS mode's iptables side in the shape of the iptables generator's result (payload, rules, jump
 * rules, sysctls the netns applies), so the node's iptables are built the same way in both modes.
 * `ipvsOf` gives back the whole IPVS-mode state.
 */
export function ipvsAsIptables(g: GeneratedIpvs): GeneratedRuleset {
  const r: GeneratedRuleset = {
    family: g.family,
    payload: g.payload,
    rules: g.rules,
    chains: g.chains,
    deletedChains: [],
    jumpRules: g.jumpRules,
    sysctls: g.sysctls.filter((s) => !ipvsOnly(s.key)),
    largeClusterMode: false,
    warnings: g.warnings,
    provenanceAt: g.provenanceAt,
  };
  ofIptables.set(r, g);
  return r;
}

/** The IPVS-mode state behind an ipvsAsIptables result; undefined in iptables mode. */
export function ipvsOf(generated: GeneratedRuleset): GeneratedIpvs | undefined {
  return ofIptables.get(generated);
}

/**
 * kube-ipvs0 as syncProxyRules leaves it (EnsureDummyDevice + EnsureAddressBind): a dummy device
 * holding every bound VIP as a /32 (/128), which makes each a local address (local-table route),
 * so IPVS sees the packets at LOCAL_IN. Adds the addresses to the node's Rib; returns the device.
 */
export function kubeIpvs0(g: GeneratedIpvs, rib: Rib, nodeName: string): Device {
  for (const ip of g.boundAddresses) rib.addAddress(DUMMY_DEVICE, `${ip}/${ip.includes(':') ? 128 : 32}`);
  return { kind: 'dummy', name: DUMMY_DEVICE, mac: macFromName(`${nodeName}/${DUMMY_DEVICE}`), mtu: 1500 };
}
