/**
 * The CNI and kube-proxy modes `podpath compare` sets side by side, and the variant topology
 * document of each: the user's document with `cluster.cni` and `cluster.kubeProxy` replaced (and
 * inline Calico IPPools switched to the variant's encapsulation, as an operator switching the
 * pool's ipipMode/vxlanMode does), to be loaded again by the topology loader.
 */
import { InputError, closestName } from '../base/index.js';

/** CNI modes (INTERFACES.md §2 `podpath compare --modes`), in the order the table lists them. */
export const CNI_MODES = [
  'flannel-vxlan',
  'flannel-host-gw',
  'calico-bgp',
  'calico-ipip',
  'calico-ipip-crosssubnet',
  'calico-vxlan',
  'calico-vxlan-crosssubnet',
] as const;
export type CniModeName = (typeof CNI_MODES)[number];

export const PROXY_MODES = ['iptables', 'ipvs'] as const;
export type ProxyModeName = (typeof PROXY_MODES)[number];

/** What each mode name sets in `cluster.cni` (the topology's own keys, INTERFACES.md §1). */
export interface CniModeSpec {
  readonly plugin: 'flannel' | 'calico';
  readonly mode: 'vxlan' | 'host-gw' | 'bgp' | 'ipip';
  /** Calico ipip/vxlan: the IPPool's ipipMode/vxlanMode. */
  readonly encapsulation: 'Always' | 'CrossSubnet' | null;
}

export const CNI_MODE_SPECS: Readonly<Record<CniModeName, CniModeSpec>> = {
  'flannel-vxlan': { plugin: 'flannel', mode: 'vxlan', encapsulation: null },
  'flannel-host-gw': { plugin: 'flannel', mode: 'host-gw', encapsulation: null },
  'calico-bgp': { plugin: 'calico', mode: 'bgp', encapsulation: null },
  'calico-ipip': { plugin: 'calico', mode: 'ipip', encapsulation: 'Always' },
  'calico-ipip-crosssubnet': { plugin: 'calico', mode: 'ipip', encapsulation: 'CrossSubnet' },
  'calico-vxlan': { plugin: 'calico', mode: 'vxlan', encapsulation: 'Always' },
  'calico-vxlan-crosssubnet': { plugin: 'calico', mode: 'vxlan', encapsulation: 'CrossSubnet' },
};

/** Parses a comma-separated list of names against `allowed`; an unknown name is an error listing the valid ones. */
function parseList<T extends string>(text: string, allowed: readonly T[], field: string): T[] {
  const out: T[] = [];
  const problems: { field: string; message: string }[] = [];
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    if (item === '') {
      problems.push({ field, message: `empty name in "${text}" (valid: ${allowed.join(', ')})` });
      continue;
    }
    if (!(allowed as readonly string[]).includes(item)) {
      const near = closestName(item, allowed, 4);
      problems.push({ field, message: `unknown mode "${item}"${near ? `; did you mean ${near}?` : ''} (valid: ${allowed.join(', ')})` });
      continue;
    }
    if (!out.includes(item as T)) out.push(item as T);
  }
  if (problems.length) throw new InputError(problems);
  return out;
}

/** `--modes a,b,…`: CNI mode names (unknown → InputError listing the valid ones). */
export function parseCniModes(text: string): CniModeName[] {
  return parseList(text, CNI_MODES, '--modes');
}

/** `--proxy a,b`: kube-proxy modes (unknown → InputError listing the valid ones). */
export function parseProxyModes(text: string): ProxyModeName[] {
  return parseList(text, PROXY_MODES, '--proxy');
}

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The document's own `cluster.cni` as the (plugin, mode, encapsulation) it selects, or null when it names none of ours. */
export function cniModeOf(document: unknown): CniModeName | null {
  const cni = isMap(document) && isMap(document.cluster) && isMap(document.cluster.cni) ? document.cluster.cni : {};
  const plugin = cni.plugin === 'calico' ? 'calico' : 'flannel';
  const mode = typeof cni.mode === 'string' ? cni.mode : plugin === 'flannel' ? 'vxlan' : 'bgp';
  const enc = mode === 'bgp' || plugin === 'flannel' ? null : cni.encapsulation === 'CrossSubnet' ? 'CrossSubnet' : 'Always';
  for (const name of CNI_MODES) {
    const s = CNI_MODE_SPECS[name];
    if (s.plugin === plugin && s.mode === mode && s.encapsulation === enc) return name;
  }
  return null;
}

/**
 * The `cluster.cni` of a variant. The base's own block is kept whole when it already selects this
 * mode (its mtu and every option stay); otherwise a fresh block carries over the settings that do
 * not depend on the mode: Calico's bgp (mesh / route reflectors) and asNumber, Flannel's
 * directRouting for vxlan. A given mtu is dropped so the plugin derives it for the new mode.
 */
function variantCni(base: Json, baseMode: CniModeName | null, mode: CniModeName): Json {
  if (baseMode === mode) return structuredClone(base);
  const s = CNI_MODE_SPECS[mode];
  const out: Json = { plugin: s.plugin, mode: s.mode };
  if (s.encapsulation) out.encapsulation = s.encapsulation;
  if (base.plugin === s.plugin || (base.plugin === undefined && s.plugin === 'flannel')) {
    if (s.plugin === 'calico') {
      if (base.bgp !== undefined) out.bgp = structuredClone(base.bgp);
      if (base.asNumber !== undefined) out.asNumber = base.asNumber;
    } else if (s.mode === 'vxlan' && base.directRouting !== undefined) out.directRouting = base.directRouting;
  }
  return out;
}

/** IPPool's ipipMode/vxlanMode for a Calico variant (Never for the other encapsulation). */
function poolModes(s: CniModeSpec): { ipipMode: string; vxlanMode: string } {
  const enc = s.encapsulation ?? 'Never';
  return { ipipMode: s.mode === 'ipip' ? enc : 'Never', vxlanMode: s.mode === 'vxlan' ? enc : 'Never' };
}

/**
 * The variant document: a deep copy of `document` with cluster.cni for `mode` and
 * cluster.kubeProxy.mode = `proxy` (its other settings kept; `ipvs` settings dropped in iptables
 * mode, where kube-proxy ignores them). The input is never changed.
 */
export function variantDocument(document: unknown, mode: CniModeName, proxy: ProxyModeName): Json {
  const doc: Json = isMap(document) ? structuredClone(document) : {};
  const cluster: Json = isMap(doc.cluster) ? doc.cluster : {};
  doc.cluster = cluster;
  const baseCni: Json = isMap(cluster.cni) ? cluster.cni : {};
  const baseMode = cniModeOf(document);
  cluster.cni = variantCni(baseCni, baseMode, mode);
  const kp: Json = isMap(cluster.kubeProxy) ? { ...cluster.kubeProxy } : {};
  kp.mode = proxy;
  if (proxy === 'iptables') delete kp.ipvs;
  cluster.kubeProxy = kp;
  const s = CNI_MODE_SPECS[mode];
  if (s.plugin === 'calico' && baseMode !== mode && Array.isArray(doc.objects)) {
    for (const o of doc.objects) {
      if (!isMap(o) || o.kind !== 'IPPool' || !isMap(o.spec)) continue;
      Object.assign(o.spec, poolModes(s));
    }
  }
  return doc;
}
