import type { Command } from 'commander';
import type { Topology } from '../../index.js';

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
  if (what !== 'conntrack') return api.nodeDump(topo, node, what, { explain });
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
