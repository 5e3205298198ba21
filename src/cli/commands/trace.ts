import type { Command } from 'commander';

/**
 * `podpath trace -t TOPO --from SRC --to DST …`: a request hop by hop through the cluster, and its
 * reply (INTERFACES.md §2, §3). Exit 0 when every outcome is delivered and, unless --no-reply, its
 * reply reaches the client with the addresses it expects; 1 otherwise; 2 on bad input.
 */
interface TraceOptions {
  topology: string;
  from: string;
  to: string;
  proto?: string;
  sport?: string;
  all?: boolean;
  seed: string;
  reply: boolean;
  size?: string;
  df: boolean;
  format: string;
}

export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description('trace a request hop by hop through the cluster, and its reply')
    .requiredOption('-t, --topology <file>', 'topology YAML')
    .requiredOption('--from <src>', 'pod/NS/NAME | node/NAME | client/NAME | IP')
    .requiredOption('--to <dst>', 'svc/NS/NAME:PORT | NAME.NS.svc.cluster.local:PORT | IP:PORT')
    .option('--proto <p>', 'tcp | udp | icmp (default: the Service port\'s protocol, else tcp)')
    .option('--sport <n>', 'source port (ICMP: echo id)')
    .option('--all', 'every outcome of random branches, with its probability')
    .option('--seed <n>', 'seed of the random choices without --all', '1')
    .option('--no-reply', 'do not trace the reply')
    .option('--size <bytes>', 'IP total length of the request (e.g. 1500 to test the VXLAN MTU)')
    .option('--no-df', 'send the request without IPv4 Don\'t Fragment')
    .option('--format <f>', 'detailed | summary | minimal | json', 'summary')
    .action(async (o: TraceOptions) => {
      const api = await import('../../index.js');
      const problems: { field: string; message: string }[] = [];
      const int = (field: string, v: string | undefined, lo: number, hi: number): number | undefined => {
        if (v === undefined) return undefined;
        if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) {
          problems.push({ field, message: `"${v}" is not an integer in ${lo}..${hi}` });
          return undefined;
        }
        return Number(v);
      };
      const sport = int('--sport', o.sport, 0, 65535);
      const seed = int('--seed', o.seed, 0, 2 ** 32 - 1) ?? 1;
      const size = int('--size', o.size, 28, 65535);
      if (o.proto !== undefined && !api.TRACE_PROTOS.includes(o.proto as never)) problems.push({ field: '--proto', message: `"${o.proto}" is not one of ${api.TRACE_PROTOS.join(', ')}` });
      if (!api.TRACE_FORMATS.includes(o.format as never)) problems.push({ field: '--format', message: `"${o.format}" is not one of ${api.TRACE_FORMATS.join(', ')}` });
      if (problems.length) throw new api.InputError(problems);
      const { loadTopologyForCli } = await import('../topology.js');
      const topo = await loadTopologyForCli(o.topology);
      const world = api.buildWorld(topo);
      const { trace } = api.traceRequest(world, {
        from: o.from,
        to: o.to,
        ...(o.proto !== undefined ? { proto: o.proto as 'tcp' } : {}),
        ...(sport !== undefined ? { sport } : {}),
        ...(size !== undefined ? { size } : {}),
        all: o.all === true,
        seed,
        reply: o.reply,
        df: o.df,
      });
      process.stdout.write(api.renderTrace(trace, o.format as 'json'));
      process.exitCode = api.traceDelivered(trace) ? 0 : 1;
    });
}
