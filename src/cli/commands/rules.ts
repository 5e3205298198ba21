import type { Command } from 'commander';
import type { Family, Provenance, Topology } from '../../index.js';

/**
 * `podpath rules -t TOPO --node NAME --what …`: one node's state in the real tools' formats
 * (INTERFACES.md §2). `--explain` adds, after each rule, a `#` line naming what made it, so the
 * output stays loadable by iptables-restore.
 */
export const WHATS = ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'ipvs', 'ipset', 'routes', 'neigh', 'links', 'fdb', 'conntrack', 'bgp', 'bgp-log', 'all'] as const;
/** Named in INTERFACES.md, modelled by later issues. */
const LATER: Record<string, string> = {
};

type What = (typeof WHATS)[number];

interface RulesOptions {
  topology: string;
  node: string;
  what: string;
  explain?: boolean;
  from?: string;
  to?: string;
  proto?: string;
  sport?: string;
  seed: string;
  bgpEvent?: string[];
  pcap?: string;
}

/** `--what conntrack`: the request traced (seeded, with its reply) before the table is listed. */
interface AfterTrace {
  from?: string;
  to?: string;
  proto?: string;
  sport?: string;
  seed: string;
}

export function registerRules(program: Command): void {
  program
    .command('rules')
    .description("print a node's generated state in the real tools' formats")
    .requiredOption('-t, --topology <file>', 'topology YAML')
    .requiredOption('--node <name>', 'node name')
    .option('--what <what>', `${WHATS.join(' | ')}`, 'iptables')
    .option('--explain', 'after each rule, a # line naming the object that made it')
    .option('--from <src>', 'with --what conntrack: the traced request\'s source (as podpath trace --from)')
    .option('--to <dst>', 'with --what conntrack: the traced request\'s destination (as podpath trace --to)')
    .option('--proto <p>', 'with --what conntrack: tcp | udp | icmp')
    .option('--sport <n>', 'with --what conntrack: source port')
    .option('--seed <n>', 'with --what conntrack: seed of the random choices', '1')
    .option('--bgp-event <event>', 'with --what bgp-log: after convergence, down:NODE (crash; peers wait for the hold timer) | stop:NODE (BIRD shuts down: Cease) | remove:NODE (Node deleted) | add:NAME=IP (node joins); repeatable, applied in order', (v: string, prev: string[] = []) => [...prev, v])
    .option('--pcap <file>', 'with --what bgp-log: also write the exchange as Ethernet/IPv4/TCP-179 frames to FILE (pcap)')
    .action(async (o: RulesOptions) => {
      const api = await import('../../index.js');
      if (!(WHATS as readonly string[]).includes(o.what)) {
        const later = LATER[o.what];
        throw new api.InputError({ field: '--what', message: later ? `"${o.what}" is not modelled yet: it comes with ${later}` : `"${o.what}" is not one of ${WHATS.join(', ')}` });
      }
      const { loadTopologyForCli } = await import('../topology.js');
      const topo = await loadTopologyForCli(o.topology);
      api.findNode(topo, o.node);
      if (o.what === 'conntrack' && (!o.from || !o.to)) {
        throw new api.InputError({ field: '--what', message: 'conntrack is the state after a traced request: give --from SRC --to DST (as podpath trace)' });
      }
      if ((o.bgpEvent?.length || o.pcap !== undefined) && o.what !== 'bgp-log') {
        throw new api.InputError({ field: o.pcap !== undefined ? '--pcap' : '--bgp-event', message: 'only with --what bgp-log' });
      }
      const events = (o.bgpEvent ?? []).map((e) => api.parseBirdEvent(e));
      if (o.pcap !== undefined) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(o.pcap, api.writePcap(api.birdPcapFrames(topo, events)));
      }
      const text = o.what === 'bgp-log' ? api.formatBirdLog(topo, events) : await render(api, topo, o.node, o.what as What, o.explain === true, o);
      process.stdout.write(text === '' || text.endsWith('\n') ? text : `${text}\n`);
    });
}

type Api = typeof import('../../index.js');

async function render(api: Api, topo: Topology, node: string, what: What, explain: boolean, after: AfterTrace = { seed: '1' }): Promise<string> {
  const families = (): Family[] => {
    const fams = new Set(topo.cluster.kubeProxy.ipFamilies.map((f) => (f === 'IPv6' ? 6 : 4) as Family));
    return [4, 6].filter((f) => fams.has(f as Family)) as Family[];
  };
  switch (what) {
    case 'iptables':
    case 'ip6tables': {
      const family: Family = what === 'iptables' ? 4 : 6;
      // a Calico node's tables include Felix's chains (the World's ruleset); otherwise kubelet's + kube-proxy's
      const ruleset = family === 4 && topo.cluster.cni.plugin === 'calico' ? api.buildWorld(topo).nodes.get(node)!.ruleset : api.nodeIptables(topo, node, family).ruleset;
      const text = api.formatIptablesSave(ruleset, { order: 'nft' });
      return explain ? explainRules(text, (t, c, i) => ruleset.tables.get(t as 'filter')?.chains.get(c)?.rules[i - 1]?.provenance) : text;
    }
    case 'iptables-restore':
    case 'ip6tables-restore': {
      const family: Family = what === 'iptables-restore' ? 4 : 6;
      const generated = api.generateNodeIptables(topo, api.findNode(topo, node), family);
      if (!explain) return generated.payload;
      return explainRules(generated.payload, (t, c, i) => generated.provenanceAt(t as 'filter' | 'nat', c, i));
    }
    case 'bgp':
      // `birdc show protocols` and `birdc show route` on the node (Calico BGP / IPIP modes)
      // next hops resolved through the node's kernel table (`gateway recursive`)
      return api.formatBirdShow(topo, node, topo.cluster.cni.plugin === 'calico' && topo.cluster.cni.mode !== 'vxlan' ? api.buildWorld(topo).fabric.get(node).spec.rib : undefined);
    case 'bgp-log':
      // the cluster's BGP exchange: sessions, each UPDATE, convergence figures
      return api.formatBirdLog(topo);
    case 'ipvs':
    case 'ipset': {
      // kube-proxy's iptables mode makes no VS and no ipset: `ipvsadm -Ln` shows its header only, `ipset save` nothing.
      const ipvs = topo.cluster.kubeProxy.mode === 'ipvs' ? api.generateNodeIpvs(topo, api.findNode(topo, node), 4) : null;
      if (what === 'ipset') {
        const calico = topo.cluster.cni.plugin === 'calico' ? (api.buildWorld(topo).nodes.get(node)?.calico?.ipsets ?? '') : '';
        return `${ipvs ? ipvs.ipsetRestore : ''}${calico}`;
      }
      return api.formatIpvsadmList(api.loadIpvsadmSave(ipvs?.ipvsadmSave ?? '', { file: `kube-proxy on ${node}` }));
    }
    case 'links': {
      // `ip -d link show`: the node's devices as the World wires them
      const ns = api.buildWorld(topo).fabric.get(node);
      const names = ns.spec.devices.map((d) => d.name);
      return ns.spec.devices.map((d, i) => api.formatLink(d, i + 1)).join('\n') + (names.length ? '\n' : '');
    }
    case 'fdb': {
      // `bridge fdb show`: static entries (bridge ports' own MACs, flannel's VXLAN entries)
      const ns = api.buildWorld(topo).fabric.get(node);
      return ns.spec.fdb.map((e) => `${api.formatFdb(e)}\n`).join('');
    }
    case 'conntrack': {
      // `conntrack -L` on the node after one seeded trace of --from/--to: request, reply and, for TCP,
      // the client's ACK, so the entry is the live connection a user would list (ESTABLISHED).
      const world = api.buildWorld(topo);
      const seed = /^\d+$/.test(after.seed) ? Number(after.seed) : 1;
      const { runs } = api.traceRequest(world, {
        from: after.from!,
        to: after.to!,
        seed,
        establish: true,
        ...(after.proto ? { proto: after.proto as 'tcp' } : {}),
        ...(after.sport && /^\d+$/.test(after.sport) ? { sport: Number(after.sport) } : {}),
      });
      const ct = runs[0]?.conntrack(node);
      return ct ? api.formatConntrackList(ct) : '';
    }
    case 'routes': {
      const rib = api.nodeRib(topo, api.findNode(topo, node));
      return families()
        .map((f) => api.formatRoutes(rib.routes(f)))
        .join('');
    }
    case 'neigh': {
      const rib = api.nodeRib(topo, api.findNode(topo, node));
      return api.formatNeighs(rib.neigh.entries());
    }
    case 'all': {
      const parts: string[] = [];
      const section = async (title: string, w: What) => parts.push(`### ${title}\n${await render(api, topo, node, w, explain)}`);
      for (const f of families()) await section(f === 4 ? 'iptables-save' : 'ip6tables-save', f === 4 ? 'iptables' : 'ip6tables');
      await section('ip route', 'routes');
      await section('ip neigh', 'neigh');
      await section('ip -d link', 'links');
      await section('bridge fdb', 'fdb');
      if (topo.cluster.kubeProxy.mode === 'ipvs') {
        await section('ipvsadm -Ln', 'ipvs');
        await section('ipset save', 'ipset');
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
