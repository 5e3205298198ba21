// portmap: the iptables rules the CNI portmap plugin (containernetworking/plugins plugins/meta/portmap) leaves on a node for pods with containerPorts[].hostPort.
// Must not trace packets or touch routing: it only turns Pods into nat-table chains and rules, applied as the plugin's iptables calls would.
import { createHash } from 'node:crypto';
import { cidrContains, formatIp, parseCidr, parseIp } from '../../../base/index.js';
import { applyIptablesRestore, parseRuleLine, type Ruleset } from '../../../netfilter/index.js';
import type { Provenance } from '../../../trace/index.js';
import type { Pod } from '../../objects.js';

/**
 * The plugin's fixed names and defaults (portmap_iptables.go: TopLevelDNATChainName,
 * SetMarkChainName, MarkMasqChainName; main.go: DefaultMarkBit 13 — "Kubernetes uses 14 and 15").
 */
export const PORTMAP = {
  dnatChain: 'CNI-HOSTPORT-DNAT',
  setMarkChain: 'CNI-HOSTPORT-SETMARK',
  masqChain: 'CNI-HOSTPORT-MASQ',
  dnPrefix: 'CNI-DN-',
  defaultMarkBit: 13,
  /** pkg/utils: chain names are exactly maxChainLength (28) characters. */
  chainLength: 28,
  /** multiport takes at most 15 ports per rule (splitPortList). */
  multiportMax: 15,
} as const;

/** The network name of flannel's CNI conflist (kube-flannel.yml cni-conf.json: "name": "cbr0"). */
export const FLANNEL_CNI_NETWORK = 'cbr0';

/** One runtimeConfig.portMappings entry, as the container runtime passes it (protocol lower-case). */
export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly hostIP?: string;
}

/** The portMappings a runtime passes for a pod: every container port with a hostPort (kubelet → CRI PortMapping). */
export function portMappings(pod: Pod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: (p.protocol ?? 'TCP').toLowerCase() as PortMapping['protocol'], ...(p.hostIP ? { hostIP: p.hostIP } : {}) });
    }
  }
  return out;
}

/**
 * The pod sandbox's container ID the runtime hands CNI. A real runtime picks 64 random hex digits;
 * podpath derives them from the pod's key so the chain names are stable.
 */
export function sandboxId(podKey: string): string {
  return createHash('sha256').update(`sandbox/${podKey}`).digest('hex');
}

/** utils.MustFormatChainNameWithPrefix(name, id, "DN-"): "CNI-DN-" + hex(sha512(name + id)), cut to 28 characters. */
export function dnatChainName(network: string, containerId: string): string {
  return `${PORTMAP.dnPrefix}${createHash('sha512').update(network + containerId).digest('hex')}`.slice(0, PORTMAP.chainLength);
}

/** trimComment: iptables comments are at most 255 characters. */
function trimComment(s: string): string {
  return s.length <= 255 ? s : `${s.slice(0, 253)}...`;
}

/** One iptables call of the plugin: `-N` (EnsureChain) or InsertUnique (`-C`, then `-I 1` or `-A`). */
export type PortmapOp =
  | { readonly kind: 'chain'; readonly chain: string }
  | { readonly kind: 'rule'; readonly chain: string; readonly spec: string; readonly prepend: boolean };

export interface PortmapPod {
  readonly key: string;
  /** The container address as the previous plugin's result gives it (ip/prefix, e.g. 10.244.1.5/24). */
  readonly address: string;
  readonly mappings: readonly PortMapping[];
}

export interface PortmapOptions {
  readonly network?: string;
  readonly markBit?: number;
  readonly snat?: boolean;
  readonly masqAll?: boolean;
}

function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The plugin's calls for one pod's ADD, in order (portmap_iptables.go forwardPorts, chain.go setup):
 * CNI-HOSTPORT-SETMARK and CNI-HOSTPORT-MASQ (its jump prepended to POSTROUTING) when SNAT is on;
 * CNI-HOSTPORT-DNAT with `-m addrtype --dst-type LOCAL` jumps appended to PREROUTING and OUTPUT;
 * the pod's CNI-DN-<hash> chain (per mapping: mark hairpin traffic from the pod's subnet, mark
 * localhost (IPv4), DNAT), its multiport entry rules (per protocol, sorted, 15 ports a rule)
 * prepended to CNI-HOSTPORT-DNAT so the newest container wins a contested host port.
 */
export function portmapOps(pod: PortmapPod, opts: PortmapOptions = {}): PortmapOp[] {
  const network = opts.network ?? FLANNEL_CNI_NETWORK;
  const markBit = opts.markBit ?? PORTMAP.defaultMarkBit;
  const snat = opts.snat ?? true;
  const ops: PortmapOp[] = [];
  if (pod.mappings.length === 0) return ops;
  const [ipText, prefixText] = pod.address.split('/');
  const ip = parseIp(ipText!);
  const v6 = ip.family === 6;
  const mark = `0x${(1 << markBit >>> 0).toString(16)}`;
  const markDef = `${mark}/${mark}`;
  if (snat) {
    ops.push({ kind: 'chain', chain: PORTMAP.setMarkChain });
    ops.push({ kind: 'rule', chain: PORTMAP.setMarkChain, spec: `-m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark ${markDef}`, prepend: false });
    ops.push({ kind: 'chain', chain: PORTMAP.masqChain });
    ops.push({ kind: 'rule', chain: PORTMAP.masqChain, spec: `-m mark --mark ${markDef} -j MASQUERADE`, prepend: false });
    ops.push({ kind: 'rule', chain: 'POSTROUTING', spec: `-m comment --comment "CNI portfwd requiring masquerade" -j ${PORTMAP.masqChain}`, prepend: true });
  }
  ops.push({ kind: 'chain', chain: PORTMAP.dnatChain });
  for (const entry of ['PREROUTING', 'OUTPUT']) ops.push({ kind: 'rule', chain: entry, spec: `-m addrtype --dst-type LOCAL -j ${PORTMAP.dnatChain}`, prepend: false });
  const id = sandboxId(pod.key);
  const dn = dnatChainName(network, id);
  ops.push({ kind: 'chain', chain: dn });
  // containerNet.String(): the address with its prefix (iptables keeps the network part)
  const masqCidr = opts.masqAll ? (v6 ? '::/0' : '0.0.0.0/0') : `${formatIp(ip)}/${prefixText ?? (v6 ? 128 : 32)}`;
  for (const m of pod.mappings) {
    if (m.hostIP) {
      const h = parseIp(m.hostIP);
      if ((h.family === 6) !== v6) continue;
    }
    const dst = m.hostIP && !/^(0\.0\.0\.0|::)$/.test(m.hostIP) ? ` -d ${m.hostIP}` : '';
    const base = `-p ${m.protocol} --dport ${m.hostPort}${dst}`;
    if (snat) {
      ops.push({ kind: 'rule', chain: dn, spec: `${base} -s ${masqCidr} -j ${PORTMAP.setMarkChain}`, prepend: false });
      if (!v6 && !opts.masqAll) ops.push({ kind: 'rule', chain: dn, spec: `${base} -s 127.0.0.1 -j ${PORTMAP.setMarkChain}`, prepend: false });
    }
    ops.push({ kind: 'rule', chain: dn, spec: `${base} -j DNAT --to-destination ${v6 ? `[${formatIp(ip)}]` : formatIp(ip)}:${m.containerPort}`, prepend: false });
  }
  const comment = trimComment(`dnat name: "${network}" id: "${id}"`);
  const byProto = new Map<string, number[]>();
  for (const m of pod.mappings) byProto.set(m.protocol, [...(byProto.get(m.protocol) ?? []), m.hostPort]);
  for (const proto of [...byProto.keys()].sort()) {
    const ports = byProto.get(proto)!;
    for (let i = 0; i < ports.length; i += PORTMAP.multiportMax) {
      const list = ports.slice(i, i + PORTMAP.multiportMax).join(',');
      ops.push({ kind: 'rule', chain: PORTMAP.dnatChain, spec: `-m comment --comment ${q(comment)} -m multiport -p ${proto} --destination-ports ${list} -j ${dn}`, prepend: true });
    }
  }
  return ops;
}

/**
 * Applies the plugin's calls to a node's tables as iptables does them: `-N` only for a missing
 * chain; a rule only when `-C` finds no equal one, then `-I 1` or `-A`. Each added rule names the
 * pod it was made for.
 */
export function applyPortmapOps(rs: Ruleset, ops: readonly PortmapOp[], by: Provenance): Ruleset {
  let next = rs;
  if (!next.tables.has('nat')) next = applyIptablesRestore(next, '*nat\nCOMMIT\n', { noflush: true, family: next.family });
  for (const op of ops) {
    const table = next.tables.get('nat')!;
    if (op.kind === 'chain') {
      if (!table.chains.has(op.chain)) next = applyIptablesRestore(next, `*nat\n:${op.chain} - [0:0]\nCOMMIT\n`, { noflush: true, family: next.family });
      continue;
    }
    const canonical = parseRuleLine(table, `-A ${op.chain} ${op.spec}`, next.family).text;
    if (table.chains.get(op.chain)?.rules.some((r) => r.text === canonical)) continue;
    const cmd = op.prepend ? `-I ${op.chain} 1 ${op.spec}` : `-A ${op.chain} ${op.spec}`;
    next = applyIptablesRestore(next, `*nat\n${cmd}\nCOMMIT\n`, { noflush: true, family: next.family, file: `portmap (${by.detail ?? by.name})` });
    const rules = next.tables.get('nat')!.chains.get(op.chain)!.rules;
    const added = op.prepend ? rules[0]! : rules[rules.length - 1]!;
    added.provenance = [by];
  }
  return next;
}

/** The pod's address with the prefix of the node's pod subnet holding it (host-local's result). */
export function podAddress(ip: string, podCidrs: readonly string[]): string {
  const a = parseIp(ip);
  const c = podCidrs.map((x) => parseCidr(x)).find((x) => x.family === a.family && cidrContains(x, a));
  return `${formatIp(a)}/${c ? c.prefix : a.family === 4 ? 32 : 128}`;
}
