/**
 * One node's datapath state as its agents program it, for the parts that exist so far: the
 * iptables tables after kubelet and kube-proxy have run, and the node's addresses and routes.
 * The tracer's World (issue 5) builds on this per node.
 */
import { InputError, cidrContains, closestName, parseCidr, parseIp, type Family } from '../base/index.js';
import {
  applyIptablesRestore,
  compileRuleset,
  emptyRuleset,
  IpsetStore,
  NthState,
  parseIpsetSave,
  parseRuleLine,
  RecentStore,
  type CompiledRuleset,
  type Ruleset,
  type TableName,
} from '../netfilter/index.js';
import { applySysctls, applySysctlsToRib, netnsIpvs, ribAddresses, ribRoute, type NetfilterSetup, type Sysctls } from '../netns/index.js';
import { Rib } from '../routing/index.js';
import { applyFlannel, type FlannelNodeState } from './controllers/flannel/index.js';
import { NODE_UPLINK } from './controllers/flannel/names.js';
import { applyCalicoNode, type CalicoNodeState } from './controllers/calico/index.js';
import type { Pod } from './objects.js';
import type { Provenance } from '../trace/index.js';
import { generateIptablesRules, NodeOutputKeys, type GeneratedRuleset, type NodeProxyConfig } from './controllers/kube-proxy-iptables/index.js';
import { generateIpvsRules, ipvsAsIptables, ipvsOf, kubeIpvs0, type GeneratedIpvs } from './controllers/kube-proxy-ipvs/index.js';
import type { EndpointSlice, Service } from './objects.js';
import type { Topology, TopologyNode } from './spec/types.js';

export { NODE_UPLINK, CNI_BRIDGE, FLANNEL_VXLAN_DEV, flannelVtepMac } from './controllers/flannel/names.js';

export function findNode(topo: Topology, name: string): TopologyNode {
  const node = topo.nodes.find((n) => n.name === name);
  if (!node) {
    const names = topo.nodes.map((n) => n.name);
    const near = closestName(name, names);
    throw new InputError({ file: topo.file, field: '--node', message: `no node "${name}" in topology ${topo.name}${near ? `; did you mean ${near}?` : ''} (nodes: ${names.join(', ')})` });
  }
  return node;
}

function ofFamily(addrs: readonly string[], family: Family): string[] {
  return addrs.filter((a) => parseIp(a.split('/')[0]!).family === family);
}

/** kube-proxy's configuration on this node: KubeProxyConfiguration from the topology + the Node object. */
export function nodeProxyConfig(topo: Topology, node: TopologyNode): NodeProxyConfig {
  const kp = topo.cluster.kubeProxy;
  const zone = node.labels['topology.kubernetes.io/zone'];
  return {
    nodeName: node.name,
    nodeIPs: [...node.ips],
    nodeAddresses: [...nodeAddressList(topo, node)],
    clusterCIDRs: [...topo.cluster.podCIDRs],
    podCIDRs: [...node.podCIDRs],
    localDetector: { ...kp.localDetector },
    masqueradeAll: kp.masqueradeAll,
    masqueradeBit: kp.masqueradeBit,
    nodePortAddresses: [...kp.nodePortAddresses],
    localhostNodePorts: kp.localhostNodePorts,
    ...(zone ? { zone } : {}),
  };
}

/** kube-proxy's input objects, as its informers see them. */
export function proxyObjects(topo: Topology): { services: Service[]; endpointSlices: EndpointSlice[] } {
  return { services: topo.store.list('Service') as Service[], endpointSlices: topo.store.list('EndpointSlice') as EndpointSlice[] };
}

export function generateNodeIptables(topo: Topology, node: TopologyNode, family: Family): GeneratedRuleset {
  // kube-proxy IPVS mode (issue 6): its iptables payload, jumps and sysctls; ipvsOf(result) has the rest
  if (topo.cluster.kubeProxy.mode === 'ipvs') return ipvsAsIptables(generateNodeIpvs(topo, node, family));
  return generateIptablesRules({ ...proxyObjects(topo), node: nodeProxyConfig(topo, node), family });
}

/** kube-proxy IPVS mode's state for the node: virtual servers, kube-ipvs0 addresses, ipsets, iptables payload. */
export function generateNodeIpvs(topo: Topology, node: TopologyNode, family: Family): GeneratedIpvs {
  const ipvs = topo.cluster.kubeProxy.ipvs;
  return generateIpvsRules({ ...proxyObjects(topo), node: { ...nodeProxyConfig(topo, node), scheduler: ipvs.scheduler, strictARP: ipvs.strictARP }, family });
}

/** The node's ipsets as kube-proxy leaves them (empty in iptables mode). */
export function nodeIpsets(generated: GeneratedRuleset): IpsetStore {
  const ipvs = ipvsOf(generated);
  return ipvs ? parseIpsetSave(ipvs.ipsetRestore, { file: 'kube-proxy ipsets' }) : new IpsetStore();
}

/** One change a node agent makes outside a restore payload: `iptables -N` or `iptables -I/-A` after `-C`. */
export type EnsureOp =
  | { table: TableName; kind: 'chain'; chain: string; by: Provenance }
  | { table: TableName; kind: 'rule'; position: 'prepend' | 'append'; rule: string; by: Provenance };

/**
 * What kubelet does to iptables at start (pkg/kubelet/kubelet_network_linux.go syncIPTablesRules,
 * v1.34) followed by the canary chains of kubelet's and kube-proxy's iptables monitors
 * (pkg/util/iptables Monitor: one canary chain in mangle, nat and filter each).
 */
function agentStartup(node: string, family: Family): EnsureOp[] {
  const kubelet = (detail: string): Provenance => ({ kind: 'kubelet', name: node, detail });
  const proxy = (detail: string): Provenance => ({ kind: 'kube-proxy', name: node, detail });
  const ops: EnsureOp[] = [{ table: 'mangle', kind: 'chain', chain: 'KUBE-IPTABLES-HINT', by: kubelet('iptables hint chain (iptables-nft in use)') }];
  if (family === 4) {
    const why = kubelet('martian localhost protection (issue 90259)');
    ops.push(
      { table: 'filter', kind: 'chain', chain: 'KUBE-FIREWALL', by: why },
      { table: 'filter', kind: 'rule', position: 'prepend', rule: '-A OUTPUT -j KUBE-FIREWALL', by: why },
      { table: 'filter', kind: 'rule', position: 'prepend', rule: '-A INPUT -j KUBE-FIREWALL', by: why },
      {
        table: 'filter',
        kind: 'rule',
        position: 'append',
        rule: '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
        by: why,
      },
    );
  }
  for (const table of ['mangle', 'nat', 'filter'] as const) ops.push({ table, kind: 'chain', chain: 'KUBE-KUBELET-CANARY', by: kubelet('iptables monitor canary') });
  for (const table of ['mangle', 'nat', 'filter'] as const) ops.push({ table, kind: 'chain', chain: 'KUBE-PROXY-CANARY', by: proxy('iptables monitor canary') });
  return ops;
}

/** Applies one ensure operation as iptables does: `-N` only when missing, `-I 1`/`-A` only when `-C` finds no equal rule. */
function ensure(rs: Ruleset, op: EnsureOp): Ruleset {
  const table = rs.tables.get(op.table);
  if (op.kind === 'chain') {
    if (table?.chains.has(op.chain)) return rs;
    const next = applyIptablesRestore(rs, `*${op.table}\n:${op.chain} - [0:0]\nCOMMIT\n`, { noflush: true, family: rs.family });
    return next;
  }
  let next = table ? rs : applyIptablesRestore(rs, `*${op.table}\nCOMMIT\n`, { noflush: true, family: rs.family });
  const t = next.tables.get(op.table)!;
  const canonical = parseRuleLine(t, op.rule, rs.family).text;
  const chainName = op.rule.split(' ')[1]!;
  const chain = t.chains.get(chainName)!;
  if (chain.rules.some((r) => r.text === canonical)) return next;
  const cmd = op.position === 'prepend' ? op.rule.replace(/^-A (\S+)/, '-I $1 1') : op.rule;
  next = applyIptablesRestore(next, `*${op.table}\n${cmd}\nCOMMIT\n`, { noflush: true, family: rs.family });
  const rules = next.tables.get(op.table)!.chains.get(chainName)!.rules;
  const added = op.position === 'prepend' ? rules[0]! : rules[rules.length - 1]!;
  added.provenance = [op.by];
  return next;
}

/**
 * What the node's agents do to iptables, in order: kubelet's start-up, the monitors' canaries, then
 * kube-proxy's sync (ensure each jump chain and jump rule, then `iptables-restore --noflush` of the
 * payload). The kernel differential test replays exactly these steps with the real tools.
 */
export function nodeAgentSteps(topo: Topology, nodeName: string, family: Family, given?: GeneratedRuleset): { ensureOps: EnsureOp[]; generated: GeneratedRuleset } {
  const node = findNode(topo, nodeName);
  const generated = given ?? generateNodeIptables(topo, node, family);
  const ensureOps = agentStartup(node.name, family);
  for (const j of generated.jumpRules) {
    const by = j.provenance[0] ?? { kind: 'kube-proxy', name: node.name };
    ensureOps.push({ table: j.table, kind: 'chain', chain: j.target, by }, { table: j.table, kind: 'rule', position: 'prepend', rule: j.rule, by });
  }
  return { ensureOps, generated };
}

export interface NodeIptables {
  readonly family: Family;
  /** The tables as `iptables-save` shows them on the node. */
  readonly ruleset: Ruleset;
  /** What kube-proxy generated (payload, jump rules, provenance, sysctls). */
  readonly generated: GeneratedRuleset;
}

/**
 * A node's iptables (or ip6tables) state: kubelet's start-up rules and the monitors' canaries, then
 * kube-proxy's sync: its jump rules ensured (`-C`, then `-I 1`), then its payload loaded with
 * `iptables-restore --noflush`, as pkg/proxy/iptables/proxier.go syncProxyRules does.
 * Every rule carries the provenance of the agent and objects that made it.
 */
export function nodeIptables(topo: Topology, nodeName: string, family: Family): NodeIptables {
  const node = findNode(topo, nodeName);
  const { generated, ensureOps } = nodeAgentSteps(topo, node.name, family);
  return agentTables(node.name, family, generated, ensureOps);
}

/** The node's tables once its agents ran: kubelet's and the monitors' ensure operations, then kube-proxy's jump rules and payload. */
function agentTables(nodeName: string, family: Family, generated: GeneratedRuleset, ensureOps: readonly EnsureOp[]): NodeIptables {
  let rs = emptyRuleset(family);
  for (const op of ensureOps) rs = ensure(rs, op);
  for (const j of generated.jumpRules) {
    // kubelet may have made the same jump already (KUBE-FIREWALL): the rule then carries both origins.
    const canonical = parseRuleLine(rs.tables.get(j.table)!, j.rule, family).text;
    const r = rs.tables.get(j.table)!.chains.get(j.chain)!.rules.find((x) => x.text === canonical);
    if (r) r.provenance = [...(r.provenance ?? []).filter((p) => p.kind !== 'kube-proxy'), ...j.provenance];
  }
  rs = applyIptablesRestore(rs, generated.payload, { noflush: true, family, file: `kube-proxy payload for ${nodeName}` });
  for (const r of generated.rules) {
    const rule = rs.tables.get(r.table)?.chains.get(r.chain)?.rules[r.index - 1];
    if (rule) rule.provenance = r.provenance;
  }
  return { family, ruleset: rs, generated };
}

/**
 * kube-proxy's output and the node tables it yields, made once per class of nodes that kube-proxy
 * programs alike (equal NodeOutputKeys.key: same configuration, and no difference in which
 * endpoints are local or hinted to them where that changes a rule). A 1,000-node cluster whose
 * Services use no node-local policy generates and parses its rules once. The rules are the same
 * objects on every node of a class; the provenance of the agents' own rules (kubelet, kube-proxy)
 * names the nodes of the class, which made them alike.
 */
export class KubeProxyShare {
  private readonly keys: NodeOutputKeys;
  private readonly classes = new Map<string, { members: string[]; generated: GeneratedRuleset; iptables?: NodeIptables }>();
  private readonly classOf = new Map<string, string>();

  constructor(
    private readonly topo: Topology,
    private readonly family: Family,
  ) {
    const { services, endpointSlices } = proxyObjects(topo);
    this.keys = new NodeOutputKeys(services, endpointSlices);
  }

  /** What kube-proxy generates on the node (shared with the nodes of its class). */
  generated(nodeName: string): GeneratedRuleset {
    return this.classFor(nodeName).generated;
  }

  /** The nodes kube-proxy programs like this one (itself included), in the order they were asked for. */
  members(nodeName: string): readonly string[] {
    return this.classFor(nodeName).members;
  }

  /** The node's tables as nodeIptables makes them (shared with the nodes of its class). */
  iptables(nodeName: string): NodeIptables {
    const c = this.classFor(nodeName);
    if (!c.iptables) {
      const rep = c.members[0]!;
      const ensureOps = nodeAgentSteps(this.topo, rep, this.family, c.generated).ensureOps;
      c.iptables = agentTables(rep, this.family, c.generated, ensureOps);
      if (c.members.length > 1) relabel(c.iptables.ruleset, rep, classLabel(c.members));
    }
    return c.iptables;
  }

  private classFor(nodeName: string): { members: string[]; generated: GeneratedRuleset; iptables?: NodeIptables } {
    const known = this.classOf.get(nodeName);
    if (known !== undefined) return this.classes.get(known)!;
    const node = findNode(this.topo, nodeName);
    // IPVS mode binds node IPs into virtual servers (NodePorts): every node is its own class there
    const ipvs = this.topo.cluster.kubeProxy.mode === 'ipvs';
    const config = ipvs ? null : nodeProxyConfig(this.topo, node);
    const key = config ? this.keys.key(config, this.family) : `ipvs\0${nodeName}`;
    let c = this.classes.get(key);
    if (!c) this.classes.set(key, (c = { members: [], generated: config ? generateIptablesRules({ ...proxyObjects(this.topo), node: config, family: this.family }) : generateNodeIptables(this.topo, node, this.family) }));
    else if (c.iptables) throw new Error(`KubeProxyShare: node ${nodeName} joined a class whose tables were already made`);
    c.members.push(nodeName);
    this.classOf.set(nodeName, key);
    return c;
  }
}

/** "node-1, node-2" for a few nodes, "node-0001, node-0002, … node-1000 (1000 nodes)" for many. */
function classLabel(members: readonly string[]): string {
  if (members.length <= 4) return members.join(', ');
  return `${members[0]}, ${members[1]}, … ${members[members.length - 1]} (${members.length} nodes)`;
}

/** The agents' provenance records naming `from` renamed `to` (each record once: rules share them). */
function relabel(rs: Ruleset, from: string, to: string): void {
  const done = new Set<Provenance>();
  for (const t of rs.tables.values())
    for (const ch of t.chains.values())
      for (const r of ch.rules)
        for (const p of r.provenance ?? []) {
          if (done.has(p)) continue;
          done.add(p);
          if ((p.kind === 'kube-proxy' || p.kind === 'kubelet') && p.name === from) p.name = to;
        }
}

/**
 * The node's addresses and routes, as the kernel, kubelet's node IP and the CNI leave them:
 * lo; the uplink with the node IPs and extra addresses (connected routes) and a default route via
 * the network's router; then the CNI's part (Flannel: controllers/flannel applyFlannel).
 */
export function nodeRib(topo: Topology, node: TopologyNode): Rib {
  return nodeRouting(topo, node).rib;
}

/** Whether the node runs a pod in its own network namespace (the bridge CNI plugin makes cni0 at the first one). */
export function nodeHasPods(topo: Topology, nodeName: string): boolean {
  const store = topo.store;
  let c = podNodes.get(store);
  if (!c || c.rv !== store.resourceVersion) {
    // the nodes running such a pod, listed once per version of the store (not once per node)
    const nodes = new Set<string>();
    for (const p of store.list('Pod') as Pod[]) if (p.spec.nodeName && !p.spec.hostNetwork && p.status?.podIP) nodes.add(p.spec.nodeName);
    podNodes.set(store, (c = { rv: store.resourceVersion, nodes }));
  }
  return c.nodes.has(nodeName);
}
const podNodes = new WeakMap<Topology['store'], { rv: number; nodes: Set<string> }>();

/** The node's Rib and what the CNI programmed into it. */
export function nodeRouting(topo: Topology, node: TopologyNode): { rib: Rib; flannel: FlannelNodeState | null; calico: CalicoNodeState | null } {
  const rib = new Rib([NODE_UPLINK]);
  rib.forwarding[4] = true;
  rib.forwarding[6] = true;
  rib.addAddress('lo', '127.0.0.1/8');
  rib.addAddress('lo', '::1/128');
  const net = topo.networks.find((n) => n.name === node.network);
  for (const ip of node.ips) {
    const fam = parseIp(ip).family;
    const cidr = net?.cidrs.find((c) => parseCidr(c).family === fam && cidrContains(parseCidr(c), parseIp(ip)));
    rib.addAddress(NODE_UPLINK, `${ip}/${cidr ? parseCidr(cidr).prefix : fam === 4 ? 32 : 128}`);
  }
  for (const a of node.addresses) rib.addAddress(NODE_UPLINK, a);
  if (node.gateway) {
    const gw = parseIp(node.gateway);
    rib.addRoute({ dst: parseCidr(gw.family === 4 ? '0.0.0.0/0' : '::/0'), nexthops: [{ gateway: gw, dev: NODE_UPLINK }] }, { validate: true });
  }
  const flannel = topo.cluster.cni.plugin === 'flannel' ? applyFlannel(topo, node, rib, { hasPods: nodeHasPods(topo, node.name) }) : null;
  const calico = topo.cluster.cni.plugin === 'calico' ? applyCalicoNode(topo, node, rib) : null;
  nodeAddresses.set(node, { topo, rv: topo.store.resourceVersion, ips: ribAddresses(rib).map((a) => a.ip) });
  return { rib, flannel, calico };
}

/**
 * The node's addresses as its Rib has them once the CNI ran (kube-proxy's nodeAddresses): noted by
 * nodeRouting, so kube-proxy's configuration does not build the node's routing a second time.
 */
const nodeAddresses = new WeakMap<TopologyNode, { topo: Topology; rv: number; ips: readonly string[] }>();
function nodeAddressList(topo: Topology, node: TopologyNode): readonly string[] {
  const m = nodeAddresses.get(node);
  if (m && m.topo === topo && m.rv === topo.store.resourceVersion) return m.ips;
  return ribAddresses(nodeRib(topo, node)).map((a) => a.ip);
}

/**
 * The sysctls of a Kubernetes node before kube-proxy starts: forwarding on, br_netfilter loaded,
 * rp_filter loose (systemd's 50-default.conf). kube-proxy's own writes (route_localnet for
 * localhost NodePorts, nf_conntrack_max and TCP timeouts) are applied from what it generated.
 */
export const NODE_SYSCTLS: Sysctls = { ipForward: true, rpFilter: 2, acceptLocal: [], routeLocalnet: false, bridgeNfCallIptables: true, proxyArp: [] };

/** The sysctls kube-proxy writes on the node (GeneratedRuleset.sysctls with action `set`), applied to the node's defaults. */
export function nodeSysctls(generated: { readonly sysctls: readonly { key: string; value: number; action: 'set' | 'expect' }[] }): Sysctls {
  return applySysctls(
    NODE_SYSCTLS,
    generated.sysctls.filter((x) => x.action === 'set'),
  );
}
/** Everything `podpath netfilter -t TOPO --node N` walks: the node's tables, addresses and FIB. */
export function nodeNetfilterSetup(topo: Topology, nodeName: string, family: Family): NetfilterSetup & { iptables: NodeIptables } {
  const node = findNode(topo, nodeName);
  const iptables = nodeIptables(topo, nodeName, family);
  const rib = nodeRib(topo, node);
  applySysctlsToRib(nodeSysctls(iptables.generated), rib);
  const ruleset: CompiledRuleset = compileRuleset(iptables.ruleset);
  const ipvs = ipvsOf(iptables.generated);
  if (ipvs) kubeIpvs0(ipvs, rib, node.name);
  return {
    name: node.name,
    ruleset,
    ipsets: nodeIpsets(iptables.generated),
    addresses: ribAddresses(rib),
    newMatchState: () => ({ recent: new RecentStore(), nth: new NthState() }),
    route: ribRoute(rib),
    ...(ipvs ? { ipvs: netnsIpvs(ipvs.ipvsadmSave, { file: `ipvsadm -Sn of ${node.name}`, sysctls: ipvs.sysctls }) } : {}), // IPVS (issue 6)
    iptables,
  };
}
