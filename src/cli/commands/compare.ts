import type { Command } from 'commander';
import { intOption, oneOfOption, type OptionProblem } from '../options.js';

/**
 * `podpath compare -t TOPO --from SRC --to DST …`: the same request under each CNI mode × kube-proxy
 * mode, side by side (INTERFACES.md §2). Exit 0 when every row delivered, 1 otherwise, 2 on bad input.
 */
interface CompareCliOptions {
  topology: string;
  from: string;
  to: string;
  modes?: string;
  proxy?: string;
  proto?: string;
  sport?: string;
  all?: boolean;
  seed: string;
  format: string;
}

const FORMATS = ['text', 'json'] as const;

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('the same request under each CNI and kube-proxy mode, side by side')
    .requiredOption('-t, --topology <file>', 'topology YAML (its nodes, underlay and objects are kept; cluster.cni and cluster.kubeProxy vary)')
    .requiredOption('--from <src>', 'pod/NS/NAME | node/NAME | client/NAME (names: pod IPs differ between IPAMs)')
    .requiredOption('--to <dst>', 'svc/NS/NAME:PORT | NAME.NS.svc.cluster.local:PORT | IP:PORT')
    .option('--modes <list>', 'CNI modes, comma-separated (default: all): flannel-vxlan, flannel-host-gw, calico-bgp, calico-ipip, calico-ipip-crosssubnet, calico-vxlan, calico-vxlan-crosssubnet')
    .option('--proxy <list>', 'kube-proxy modes, comma-separated (default: iptables,ipvs)')
    .option('--proto <p>', 'tcp | udp | icmp (default: the Service port\'s protocol, else tcp)')
    .option('--sport <n>', 'source port (ICMP: echo id)')
    .option('--all', 'every outcome of random branches; figures become min-max ranges and the disposition the outcome mix')
    .option('--seed <n>', 'seed of the random choices without --all', '1')
    .option('--format <f>', 'text | json', 'text')
    .action(async (o: CompareCliOptions) => {
      const api = await import('../../index.js');
      const problems: OptionProblem[] = [];
      const seed = intOption(problems, '--seed', o.seed, 0, 2 ** 32 - 1) ?? 1;
      const sport = intOption(problems, '--sport', o.sport, 0, 65535);
      if (o.proto !== undefined) oneOfOption(problems, '--proto', o.proto, api.TRACE_PROTOS);
      oneOfOption(problems, '--format', o.format, FORMATS);
      const collect = <T>(f: () => T): T | undefined => {
        try {
          return f();
        } catch (e) {
          if (!(e instanceof api.InputError)) throw e;
          problems.push(...e.problems.map((p) => ({ field: p.field ?? '', message: p.message })));
          return undefined;
        }
      };
      const modes = o.modes !== undefined ? collect(() => api.parseCniModes(o.modes!)) : undefined;
      const proxies = o.proxy !== undefined ? collect(() => api.parseProxyModes(o.proxy!)) : undefined;
      if (problems.length) throw new api.InputError(problems);
      const { loadTopologyForCli } = await import('../topology.js');
      await loadTopologyForCli(o.topology);
      const source = await api.readCompareSource(o.topology);
      const rows = await api.compareModes(
        source,
        { from: o.from, to: o.to, ...(o.proto !== undefined ? { proto: o.proto as 'tcp' } : {}), ...(sport !== undefined ? { sport } : {}) },
        { trace: api.traceRequest, all: o.all === true, seed, ...(modes ? { modes } : {}), ...(proxies ? { proxies } : {}) },
      );
      process.stdout.write(o.format === 'json' ? api.formatCompareJson(rows) : api.formatCompareTable(rows));
      process.exitCode = api.compareDelivered(rows) ? 0 : 1;
    });
}
