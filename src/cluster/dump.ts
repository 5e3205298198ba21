/**
 * One node's generated state in the real tools' formats: what `podpath rules --what W` prints and
 * the inspector's node dumps show (one rendering for both). `conntrack` is not here: it is the
 * state after a traced request, and the tracer sits above this layer (callers trace, then format).
 */
import type { Family } from '../base/index.js';
import { loadIpvsadmSave, formatIpvsadmList } from '../ipvs/index.js';
import { formatIptablesSave } from '../netfilter/index.js';
import { formatFdb, formatLink } from '../netns/index.js';
import { formatNeighs, formatRoutes } from '../routing/index.js';
import type { Provenance } from '../trace/index.js';
import { formatBirdLog, formatBirdShow } from './controllers/calico/index.js';
import { findNode, generateNodeIpvs, generateNodeIptables, nodeIptables, nodeRib } from './node.js';
import type { Topology } from './spec/types.js';
import { buildWorld, type World } from './world.js';

/** The `--what` values of `podpath rules` rendered here (every one but `conntrack`). */
export const NODE_DUMP_WHATS = ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'ipvs', 'ipset', 'routes', 'neigh', 'links', 'fdb', 'bgp', 'bgp-log', 'all'] as const;
export type NodeDumpWhat = (typeof NODE_DUMP_WHATS)[number];

export interface NodeDumpOptions {
  /** After each rule, a `#   made by …` line naming its origin (the text stays loadable by iptables-restore). */
  readonly explain?: boolean;
  /** The topology's World, when the caller has one already (built on first need otherwise). */
  readonly world?: () => World;
}

/** The node's state for `what`, exactly as `podpath rules --node NODE --what WHAT` prints it. */
export function nodeDump(topo: Topology, node: string, what: NodeDumpWhat, opts: NodeDumpOptions = {}): string {
  findNode(topo, node);
  let built: World | undefined;
  const world = opts.world ?? (() => (built ??= buildWorld(topo)));
  return render(topo, node, what, opts.explain === true, world);
}

function families(topo: Topology): Family[] {
  const fams = new Set(topo.cluster.kubeProxy.ipFamilies.map((f) => (f === 'IPv6' ? 6 : 4) as Family));
  return ([4, 6] as const).filter((f) => fams.has(f));
}

function render(topo: Topology, node: string, what: NodeDumpWhat, explain: boolean, world: () => World): string {
  switch (what) {
    case 'iptables':
    case 'ip6tables': {
      const family: Family = what === 'iptables' ? 4 : 6;
      // a Calico node's tables include Felix's chains (the World's ruleset); otherwise kubelet's + kube-proxy's
      const ruleset = family === 4 && topo.cluster.cni.plugin === 'calico' ? world().nodes.get(node)!.ruleset : nodeIptables(topo, node, family).ruleset;
      const text = formatIptablesSave(ruleset, { order: 'nft' });
      return explain ? explainRules(text, (t, c, i) => ruleset.tables.get(t as 'filter')?.chains.get(c)?.rules[i - 1]?.provenance) : text;
    }
    case 'iptables-restore':
    case 'ip6tables-restore': {
      const family: Family = what === 'iptables-restore' ? 4 : 6;
      const generated = generateNodeIptables(topo, findNode(topo, node), family);
      if (!explain) return generated.payload;
      return explainRules(generated.payload, (t, c, i) => generated.provenanceAt(t as 'filter' | 'nat', c, i));
    }
    case 'bgp':
      // `birdc show protocols` and `birdc show route` on the node (Calico BGP / IPIP modes); next
      // hops resolved through the node's kernel table (`gateway recursive`)
      return formatBirdShow(topo, node, topo.cluster.cni.plugin === 'calico' && topo.cluster.cni.mode !== 'vxlan' ? world().fabric.get(node).spec.rib : undefined);
    case 'bgp-log':
      // the cluster's BGP exchange: sessions, each UPDATE, convergence figures
      return formatBirdLog(topo);
    case 'ipvs':
    case 'ipset': {
      // kube-proxy's iptables mode makes no VS and no ipset: `ipvsadm -Ln` shows its header only, `ipset save` nothing.
      const ipvs = topo.cluster.kubeProxy.mode === 'ipvs' ? generateNodeIpvs(topo, findNode(topo, node), 4) : null;
      if (what === 'ipset') {
        const calico = topo.cluster.cni.plugin === 'calico' ? (world().nodes.get(node)?.calico?.ipsets ?? '') : '';
        return `${ipvs ? ipvs.ipsetRestore : ''}${calico}`;
      }
      return formatIpvsadmList(loadIpvsadmSave(ipvs?.ipvsadmSave ?? '', { file: `kube-proxy on ${node}` }));
    }
    case 'links': {
      // `ip -d link show`: the node's devices as the World wires them
      const ns = world().fabric.get(node);
      return ns.spec.devices.map((d, i) => formatLink(d, i + 1)).join('\n') + (ns.spec.devices.length ? '\n' : '');
    }
    case 'fdb':
      // `bridge fdb show`: static entries (bridge ports' own MACs, flannel's VXLAN entries)
      return world()
        .fabric.get(node)
        .spec.fdb.map((e) => `${formatFdb(e)}\n`)
        .join('');
    case 'routes': {
      const rib = nodeRib(topo, findNode(topo, node));
      return families(topo)
        .map((f) => formatRoutes(rib.routes(f)))
        .join('');
    }
    case 'neigh':
      return formatNeighs(nodeRib(topo, findNode(topo, node)).neigh.entries());
    case 'all': {
      const parts: string[] = [];
      const section = (title: string, w: NodeDumpWhat) => parts.push(`### ${title}\n${render(topo, node, w, explain, world)}`);
      for (const f of families(topo)) section(f === 4 ? 'iptables-save' : 'ip6tables-save', f === 4 ? 'iptables' : 'ip6tables');
      section('ip route', 'routes');
      section('ip neigh', 'neigh');
      section('ip -d link', 'links');
      section('bridge fdb', 'fdb');
      if (topo.cluster.kubeProxy.mode === 'ipvs') {
        section('ipvsadm -Ln', 'ipvs');
        section('ipset save', 'ipset');
      }
      return parts.join('\n');
    }
  }
}

function describe(p: readonly Provenance[]): string {
  return p.map((x) => `${x.kind} ${x.name}${x.detail ? ` (${x.detail})` : ''}`).join('; ');
}

/**
 * Rule text (iptables-save or a restore payload) with a `# made by …` line after each `-A` rule
 * whose provenance `at(table, chain, 1-based index)` knows.
 */
function explainRules(text: string, at: (table: string, chain: string, index: number) => readonly Provenance[] | undefined): string {
  let table = '';
  const seen = new Map<string, number>();
  const out: string[] = [];
  for (const line of text.split('\n')) {
    out.push(line);
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^-A (\S+)/.exec(line);
    if (!m) continue;
    const key = `${table} ${m[1]}`;
    const i = (seen.get(key) ?? 0) + 1;
    seen.set(key, i);
    const p = at(table, m[1]!, i);
    if (p?.length) out.push(`#   made by ${describe(p)}`);
  }
  return out.join('\n');
}
