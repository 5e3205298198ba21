import type { Command } from 'commander';
import { intOption, oneOfOption, type OptionProblem } from '../options.js';

/**
 * `podpath trace -t TOPO --from SRC --to DST …`: a request hop by hop through the cluster, and its
 * reply (INTERFACES.md §2, §3). Exit 0 when every outcome is delivered and, unless --no-reply, its
 * reply reaches the client with the addresses it expects; 1 otherwise; 2 on bad input.
 */
interface TraceOptions {
  topology: string;
  from?: string;
  to?: string;
  pcap?: string;
  pcapIn?: string;
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
    .option('--from <src>', 'pod/NS/NAME | node/NAME | client/NAME | IP (required without --pcap-in)')
    .option('--to <dst>', 'svc/NS/NAME:PORT | NAME.NS.svc.cluster.local:PORT | IP:PORT (required without --pcap-in)')
    .option('--proto <p>', 'tcp | udp | icmp (default: the Service port\'s protocol, else tcp)')
    .option('--sport <n>', 'source port (ICMP: echo id)')
    .option('--all', 'every outcome of random branches, with its probability')
    .option('--seed <n>', 'seed of the random choices without --all', '1')
    .option('--no-reply', 'do not trace the reply')
    .option('--size <bytes>', 'IP total length of the request (e.g. 1500 to test the VXLAN MTU)')
    .option('--no-df', 'send the request without IPv4 Don\'t Fragment')
    .option('--format <f>', 'detailed | summary | minimal | json', 'summary')
    .option('--pcap <file>', 'also write every frame as it crossed each device to FILE (pcap, LINUX_SLL2; interface indexes on stderr)')
    .option('--pcap-in <file>', 'trace the flow-opening packets of a capture (TCP SYN, UDP, ICMP echo), each from where its source address lives')
    .action(async (o: TraceOptions) => {
      const api = await import('../../index.js');
      const problems: OptionProblem[] = [];
      const int = (field: string, v: string | undefined, lo: number, hi: number) => intOption(problems, field, v, lo, hi);
      const sport = int('--sport', o.sport, 0, 65535);
      const seed = int('--seed', o.seed, 0, 2 ** 32 - 1) ?? 1;
      const size = int('--size', o.size, 28, 65535);
      if (o.proto !== undefined) oneOfOption(problems, '--proto', o.proto, api.TRACE_PROTOS);
      oneOfOption(problems, '--format', o.format, api.TRACE_FORMATS);
      if (o.pcapIn !== undefined) {
        for (const [field, v] of [['--from', o.from], ['--to', o.to], ['--proto', o.proto], ['--sport', o.sport], ['--size', o.size]] as const) {
          if (v !== undefined) problems.push({ field, message: `not with --pcap-in: each packet of the capture gives its own ${field.slice(2)}` });
        }
      } else {
        if (o.from === undefined) problems.push({ field: '--from', message: 'required: pod/NS/NAME, node/NAME, client/NAME or IP (or --pcap-in FILE)' });
        if (o.to === undefined) problems.push({ field: '--to', message: 'required: svc/NS/NAME:PORT, NAME.NS.svc.cluster.local:PORT or IP:PORT (or --pcap-in FILE)' });
      }
      if (problems.length) throw new api.InputError(problems);
      const { loadTopologyForCli } = await import('../topology.js');
      const topo = await loadTopologyForCli(o.topology);
      const world = api.buildWorld(topo);
      const common = { all: o.all === true, seed, reply: o.reply, df: o.df };
      const traces: import('../../index.js').Trace[] = [];
      if (o.pcapIn !== undefined) {
        const { readFile } = await import('node:fs/promises');
        let bytes: Uint8Array;
        try {
          bytes = await readFile(o.pcapIn);
        } catch (e) {
          throw new api.InputError({ file: o.pcapIn, field: '--pcap-in', message: `cannot read: ${(e as Error).message}` });
        }
        const records = await api.readPcap(bytes, o.pcapIn);
        const { requests, skipped } = api.pcapRequests(world, records, o.pcapIn);
        for (const k of skipped) process.stderr.write(`podpath: ${o.pcapIn}: record ${k.record} not traced: ${k.reason}\n`);
        if (requests.length === 0) throw new api.InputError({ file: o.pcapIn, field: '--pcap-in', message: `none of its ${records.length} records opens a flow from an address of the topology` });
        const out: { record: number; ts: number; packet: string; trace: import('../../index.js').Trace }[] = [];
        for (const r of requests) {
          const { trace } = api.traceRequest(world, { ...r.request, ...common, df: r.request.df ?? o.df });
          traces.push(trace);
          out.push({ record: r.record, ts: r.ts, packet: r.summary, trace });
        }
        if (o.format === 'json') process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        else for (const x of out) process.stdout.write(`# ${o.pcapIn} record ${x.record} (${x.ts.toFixed(6)}): ${x.packet}\n${api.renderTrace(x.trace, o.format as 'summary')}\n`);
      } else {
        const { trace } = api.traceRequest(world, {
          from: o.from!,
          to: o.to!,
          ...(o.proto !== undefined ? { proto: o.proto as 'tcp' } : {}),
          ...(sport !== undefined ? { sport } : {}),
          ...(size !== undefined ? { size } : {}),
          ...common,
        });
        traces.push(trace);
        process.stdout.write(api.renderTrace(trace, o.format as 'json'));
      }
      if (o.pcap !== undefined) {
        const pc = api.tracePcap(world, traces);
        const { writeFile } = await import('node:fs/promises');
        try {
          await writeFile(o.pcap, pc.bytes);
        } catch (e) {
          throw new api.InputError({ file: o.pcap, field: '--pcap', message: `cannot write: ${(e as Error).message}` });
        }
        const used = new Set(pc.frames.map((f) => `${f.netns}\u0000${f.dev}`));
        process.stderr.write(`podpath: ${o.pcap}: ${pc.frames.length} frames (LINUX_SLL2); interface indexes:\n`);
        for (const i of pc.interfaces) if (used.has(`${i.netns}\u0000${i.dev}`)) process.stderr.write(`podpath:   ${i.ifindex} = ${i.netns} ${i.dev}\n`);
      }
      process.exitCode = traces.every((t) => api.traceDelivered(t)) ? 0 : 1;
    });
}
