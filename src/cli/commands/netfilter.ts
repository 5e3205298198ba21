import type { Command } from 'commander';
import { intOption, oneOfOption, type OptionProblem } from '../options.js';

/**
 * `podpath netfilter --ruleset FILE --local-ips IP,… --src IP --dst IP --dport N …`:
 * one host's netfilter path for one packet (INTERFACES.md §2). Exit 0 when every outcome is
 * delivered or leaves the host, 1 otherwise, 2 on bad input (reported by main.ts).
 */
interface NetfilterOptions {
  topology?: string;
  node?: string;
  ruleset?: string;
  ipsets?: string;
  localIps?: string;
  src: string;
  sport?: string;
  dst: string;
  dport?: string;
  proto: string;
  inIface?: string;
  outIface?: string;
  all?: boolean;
  seed: string;
  format: string;
}

export function registerNetfilter(program: Command): void {
  program
    .command('netfilter')
    .description('trace one packet through one host\'s netfilter path (PREROUTING or OUTPUT → routing → INPUT or FORWARD → POSTROUTING)')
    .option('-t, --topology <file>', 'topology YAML: trace through the state podpath generates for --node')
    .option('--node <name>', 'with -t: the node whose netfilter, addresses and routes are used')
    .option('--ruleset <file>', 'iptables-save dump of the host (all tables); instead of -t')
    .option('--ipsets <file>', '`ipset save` dump of the host (with --ruleset)')
    .option('--local-ips <list>', 'with --ruleset: the host\'s addresses: IP[/PREFIX][@DEV],… (e.g. 10.0.1.1/24@eth0)')
    .requiredOption('--src <ip>', 'source address (a local address: the packet starts at OUTPUT)')
    .option('--sport <n>', 'source port (ICMP: echo id)', '40000')
    .requiredOption('--dst <ip>', 'destination address')
    .option('--dport <n>', 'destination port (required for tcp, udp, sctp)')
    .option('--proto <p>', 'tcp | udp | icmp | sctp', 'tcp')
    .option('--in-iface <if>', 'input device (default: the device of the local subnet holding --src)')
    .option('--out-iface <if>', 'output device for destinations outside the local subnets')
    .option('--all', 'every outcome of random branches, with its probability')
    .option('--seed <n>', 'seed of the random choices without --all', '1')
    .option('--format <f>', 'detailed | summary | minimal | json', 'detailed')
    .action(async (o: NetfilterOptions) => {
      const api = await import('../../index.js');
      const { readFileSync } = await import('node:fs');
      const problems: OptionProblem[] = [];
      const int = (field: string, v: string | undefined, lo: number, hi: number) => intOption(problems, field, v, lo, hi);
      const sport = int('--sport', o.sport, 0, 65535);
      const dport = int('--dport', o.dport, 0, 65535);
      const seed = int('--seed', o.seed, 0, 2 ** 32 - 1) ?? 1;
      oneOfOption(problems, '--proto', o.proto, api.NETFILTER_PROTOS);
      oneOfOption(problems, '--format', o.format, api.TRACE_FORMATS);
      const fromTopology = o.topology !== undefined;
      if (fromTopology) {
        if (!o.node) problems.push({ field: '--node', message: 'with -t TOPO, --node NAME is required' });
        for (const [flag, v] of [['--ruleset', o.ruleset], ['--ipsets', o.ipsets], ['--local-ips', o.localIps]] as const) {
          if (v !== undefined) problems.push({ field: flag, message: `${flag} describes a host by hand; it cannot be combined with -t TOPO` });
        }
      } else {
        if (!o.ruleset) problems.push({ field: '--ruleset', message: 'give either --ruleset FILE --local-ips IP,… or -t TOPO --node NAME' });
        if (o.localIps === undefined) problems.push({ field: '--local-ips', message: 'with --ruleset, --local-ips IP,… is required' });
        else {
          try {
            api.parseLocalIps(o.localIps);
          } catch (e) {
            if (e instanceof api.InputError) problems.push(...e.problems.map((p) => ({ field: p.field ?? '--local-ips', message: p.message })));
            else throw e;
          }
        }
      }
      if (!api.isIp(o.src)) problems.push({ field: '--src', message: `"${o.src}" is not an IP address` });
      if (!api.isIp(o.dst)) problems.push({ field: '--dst', message: `"${o.dst}" is not an IP address` });
      const read = (field: string, file: string | undefined): string | undefined => {
        if (file === undefined) return undefined;
        try {
          return readFileSync(file, 'utf8');
        } catch (e) {
          problems.push({ field, file, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
          return undefined;
        }
      };
      const rulesetText = read('--ruleset', o.ruleset);
      const ipsetsText = read('--ipsets', o.ipsets);
      if (problems.length) throw new api.InputError(problems);

      let setup;
      if (fromTopology) {
        const { loadTopologyForCli } = await import('../topology.js');
        const topo = await loadTopologyForCli(o.topology!);
        setup = api.nodeNetfilterSetup(topo, o.node!, api.ipFamily(o.src));
      } else {
        setup = api.loadNetfilterSetup({
          ruleset: { text: rulesetText!, file: o.ruleset! },
          ...(ipsetsText !== undefined ? { ipsets: { text: ipsetsText, file: o.ipsets! } } : {}),
          localIps: o.localIps!,
        });
      }
      const req = {
        src: o.src,
        dst: o.dst,
        proto: o.proto as 'tcp' | 'udp' | 'icmp' | 'sctp',
        ...(sport !== undefined ? { sport } : {}),
        ...(dport !== undefined ? { dport } : {}),
        ...(o.inIface ? { inIface: o.inIface } : {}),
        ...(o.outIface ? { outIface: o.outIface } : {}),
      };
      const branches = api.runNetfilter(setup, req, { all: o.all === true, seed });
      const trace = api.netfilterTrace(setup, req, branches);
      process.stdout.write(api.renderTrace(trace, o.format as 'detailed'));
      process.exitCode = trace.outcomes.every((x) => api.isSuccess(x.disposition)) ? 0 : 1;
    });
}
