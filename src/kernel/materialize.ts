/**
 * Materialise a World into real Linux network namespaces: one netns per World namespace (pods,
 * nodes, routers, clients) plus one "segments" netns holding a bridge per underlay L2 segment, into
 * which every NIC (`eth` device) is a veth pair. Devices, MACs, MTUs, bridge ports (hairpin,
 * learning), VXLAN devices, addresses, routes (every IPv4 table but local), policy rules beyond the
 * three defaults, PERMANENT neighbours and proxy entries, VXLAN FDB entries, sysctls, ipsets,
 * nfacct objects and iptables (iptables-restore of podpath's own iptables-save), and a listener
 * process per namespace for every listening socket of the World.
 *
 * Names: real namespaces are `<prefix>-<World name with / as _>`; devices keep the World's names
 * (they are per namespace). Every link is created inside a namespace (veth peers with
 * `peer name X netns Y`), so the root namespace is never touched and deleting the namespaces
 * removes everything. `cleanup()` kills the lab's processes and deletes its namespaces; it runs on
 * a failed build too, and from a process 'exit' hook as a last resort.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { formatIp, type Ip } from '../base/index.js';
import type { World } from '../cluster/world.js';
import { formatIpsetSave, formatIptablesSave, IpsetStore } from '../netfilter/index.js';
import type { Device, Netns } from '../netns/index.js';
import { PROTO_KERNEL, TABLE_LOCAL, TABLE_MAIN, TABLE_DEFAULT, formatIpRule, formatRoute } from '../routing/index.js';
import { KernelCommandError, labEnv, mustRun, runCommand, teardownSync, type ExecResult, type RunOptions } from './exec.js';
import { CLIENT_PROGRAM, LISTENER_PROGRAM, type ConnectJob, type ConnectResult, type ListenerReport } from './programs.js';

export interface MaterializeOptions {
  /** Namespace name prefix (default `pp<pid>m<n>`): keep it unique per run. */
  readonly prefix?: string;
  /** Start the listener processes (default true). */
  readonly listeners?: boolean;
}

/** Where a segment lives in the lab: its bridge in the segments netns, and the port of each NIC. */
export interface LabSegment {
  readonly bridge: string;
  /** `<World netns> <dev>` → the bridge port (the NIC's veth peer) in the segments netns. */
  readonly ports: ReadonlyMap<string, string>;
}

/** Something of the World the lab could not reproduce (listed, never silently dropped). */
export interface LabGap {
  readonly netns: string;
  readonly what: string;
}

export interface Materialized {
  readonly prefix: string;
  /** World netns name → real netns name. */
  readonly names: ReadonlyMap<string, string>;
  /** The real netns holding the segment bridges. */
  readonly segmentsNetns: string;
  readonly segments: ReadonlyMap<string, LabSegment>;
  readonly gaps: readonly LabGap[];
  /** The real netns of a World netns (throws for an unknown name). */
  netns(world: string): string;
  /** Runs argv inside the real netns of a World netns (or of the segments netns: pass `segmentsNetns`). */
  exec(world: string, argv: readonly string[], opts?: RunOptions): Promise<ExecResult>;
  must(world: string, argv: readonly string[], opts?: RunOptions): Promise<string>;
  /** Starts a long-running process in the namespace; killed at cleanup. */
  spawn(world: string, argv: readonly string[]): ChildProcess;
  /** TCP connections from a World netns, one after the other. */
  connect(world: string, jobs: readonly ConnectJob[]): Promise<ConnectResult[]>;
  /** Every report the listeners printed so far (one per accepted connection / datagram). */
  listenerReports(): ListenerReport[];
  /**
   * Starts `tcpdump -i DEV -w FILE` (immediate mode, packet-buffered) in a namespace and resolves once
   * it listens; `stop()` ends it with SIGTERM so the file is complete. Capture a bridge's port, not
   * the bridge: a bridge device does not see frames forwarded between its ports.
   */
  capture(world: string, dev: string, file: string): Promise<{ stop(): Promise<void> }>;
  /** Kills the lab's processes and deletes its namespaces. Safe to call more than once. */
  cleanup(): Promise<void>;
  cleanupSync(): void;
}

let counter = 0;
const live = new Set<Lab>();
let hooked = false;

/** IPv4 routing tables the kernel fills itself (local) are not written; main's connected routes come from the addresses. */
const DEFAULT_RULE_PRIORITIES = new Set([0, 32766, 32767]);

function realName(prefix: string, world: string, taken: Set<string>): string {
  let base = `${prefix}-${world.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  let n = base;
  for (let i = 2; taken.has(n); i++) n = `${base}.${i}`;
  taken.add(n);
  base = n;
  return base;
}

class Lab implements Materialized {
  readonly names = new Map<string, string>();
  readonly segments = new Map<string, LabSegment>();
  readonly gaps: LabGap[] = [];
  readonly segmentsNetns: string;
  private readonly created: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly reports: ListenerReport[] = [];

  constructor(readonly prefix: string) {
    const taken = new Set<string>();
    this.segmentsNetns = realName(prefix, 'segments', taken);
    this.taken = taken;
    live.add(this);
    if (!hooked) {
      hooked = true;
      process.on('exit', () => {
        for (const l of live) l.cleanupSync();
      });
    }
  }
  readonly taken: Set<string>;

  netns(world: string): string {
    if (world === this.segmentsNetns) return world;
    const n = this.names.get(world);
    if (!n) throw new Error(`no namespace ${world} in the lab`);
    return n;
  }

  exec(world: string, argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
    return runCommand(['ip', 'netns', 'exec', this.netns(world), ...argv], opts);
  }

  must(world: string, argv: readonly string[], opts: RunOptions = {}): Promise<string> {
    return mustRun(['ip', 'netns', 'exec', this.netns(world), ...argv], opts);
  }

  spawn(world: string, argv: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.netns(world), ...argv], { env: labEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  async connect(world: string, jobs: readonly ConnectJob[]): Promise<ConnectResult[]> {
    const budget = jobs.reduce((n, j) => n + (j.count ?? 1) * ((j.timeoutMs ?? 3000) + 200), 10_000);
    const out = await this.must(world, [process.execPath, '-e', CLIENT_PROGRAM, JSON.stringify(jobs)], { timeoutMs: budget });
    return out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ConnectResult);
  }

  listenerReports(): ListenerReport[] {
    return [...this.reports];
  }

  async capture(world: string, device: string, file: string): Promise<{ stop(): Promise<void> }> {
    const child = this.spawn(world, ['tcpdump', '-i', device, '-n', '--immediate-mode', '-U', '-s', '512', '-w', file]);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`tcpdump on ${device} in ${world} did not start: ${err}`)), 10_000);
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`tcpdump on ${device} in ${world} exited ${code}: ${err}`));
      });
    });
    return {
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          const t = setTimeout(() => child.kill('SIGKILL'), 3000);
          child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    };
  }

  async addNetns(real: string): Promise<void> {
    await mustRun(['ip', 'netns', 'add', real]);
    this.created.push(real);
    await mustRun(['ip', '-n', real, 'link', 'set', 'lo', 'up']);
  }

  /** `ip -n NS -batch -`: one process for many commands; the first failing line is reported. */
  async ipBatch(real: string, lines: readonly string[], tool: 'ip' | 'bridge' = 'ip'): Promise<void> {
    if (lines.length === 0) return;
    const input = `${lines.join('\n')}\n`;
    const r = await runCommand([tool, '-n', real, '-batch', '-'], { input });
    if (r.code !== 0) throw new KernelCommandError([tool, '-n', real, '-batch', '-'], { ...r, stderr: `${r.stderr}\n--- batch ---\n${input}` }, input);
  }

  async startListener(world: string, specs: { proto: 'tcp' | 'udp'; port: number; owner: string }[]): Promise<void> {
    const child = this.spawn(world, [process.execPath, '-e', LISTENER_PROGRAM, JSON.stringify(specs)]);
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      let err = '';
      let up = false;
      const timer = setTimeout(() => reject(new Error(`listener in ${world} did not start: ${err}`)), 15_000);
      child.stdout?.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === 'listening') {
            up = true;
            clearTimeout(timer);
            resolve();
          } else if (line.startsWith('{')) this.reports.push(JSON.parse(line) as ListenerReport);
        }
      });
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => {
        if (up) return;
        clearTimeout(timer);
        reject(new Error(`listener in ${world} exited ${code}: ${err}`));
      });
    });
  }

  async cleanup(): Promise<void> {
    this.cleanupSync();
  }

  cleanupSync(): void {
    teardownSync(this.children, this.created);
    live.delete(this);
  }
}

/**
 * Promise.all that waits for every promise before rejecting: a failed build cleans up only once no
 * command is still in flight (else a namespace added after the cleanup would leak).
 */
async function settledAll<T>(ps: readonly Promise<T>[]): Promise<T[]> {
  const r = await Promise.allSettled(ps);
  const bad = r.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (bad) throw bad.reason;
  return r.map((x) => (x as PromiseFulfilledResult<T>).value);
}

function ip4(a: Ip): string {
  return formatIp(a);
}

/** The device of `dev` in `ns`. */
function dev(ns: Netns, name: string): Device {
  const d = ns.device(name);
  if (!d) throw new Error(`${ns.name} has no device ${name}`);
  return d;
}

/**
 * Builds the World in the kernel and returns the handle. On any failure everything created so far
 * is removed before the error is rethrown.
 */
export async function materialize(world: World, opts: MaterializeOptions = {}): Promise<Materialized> {
  counter++;
  const lab = new Lab(opts.prefix ?? `pp${process.pid}m${counter}`);
  try {
    await build(lab, world, opts);
    return lab;
  } catch (e) {
    lab.cleanupSync();
    throw e;
  }
}

async function build(lab: Lab, world: World, opts: MaterializeOptions): Promise<void> {
  const fabric = world.fabric;
  const all = [...fabric.netns.values()];
  for (const ns of all) lab.names.set(ns.name, realName(lab.prefix, ns.name, lab.taken));

  // 1. namespaces; the segments netns with one bridge per L2 segment
  await lab.addNetns(lab.segmentsNetns);
  await settledAll(all.map((ns) => lab.addNetns(lab.names.get(ns.name)!)));
  const segLines: string[] = [];
  let i = 0;
  for (const seg of fabric.segments.values()) {
    const bridge = `br${i++}`;
    lab.segments.set(seg.name, { bridge, ports: new Map() });
    segLines.push(`link add ${bridge} mtu ${seg.mtu} type bridge`, `link set ${bridge} up`);
  }
  await lab.ipBatch(lab.segmentsNetns, segLines);
  // no IPv6 anywhere: the World is IPv4, and link-local/ND chatter would only add noise to captures
  await settledAll([lab.segmentsNetns, ...lab.names.values()].map((real) => mustRun(['ip', 'netns', 'exec', real, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])));

  // 2. links: veth pairs (once per pair), NICs into their segment bridge, bridges, dummies; then VXLAN on their underlay device
  const madePairs = new Set<string>();
  let portNo = 0;
  for (const ns of all) {
    const real = lab.names.get(ns.name)!;
    const lines: string[] = [];
    const segPorts: string[] = [];
    for (const d of ns.spec.devices) {
      switch (d.kind) {
        case 'loopback':
          if (d.mtu !== 65536) lines.push(`link set lo mtu ${d.mtu}`);
          break;
        case 'veth': {
          const key = `${ns.name} ${d.name}`;
          if (madePairs.has(key)) break;
          const peerNs = fabric.netns.get(d.peer.netns);
          if (!peerNs) {
            lab.gaps.push({ netns: ns.name, what: `veth ${d.name}: peer namespace ${d.peer.netns} does not exist` });
            break;
          }
          const p = dev(peerNs, d.peer.dev);
          madePairs.add(key).add(`${d.peer.netns} ${d.peer.dev}`);
          lines.push(`link add ${d.name} address ${d.mac} mtu ${d.mtu} type veth peer name ${p.name} address ${p.mac} mtu ${p.mtu} netns ${lab.names.get(peerNs.name)!}`);
          break;
        }
        case 'eth': {
          const seg = lab.segments.get(d.segment);
          if (!seg) {
            lab.gaps.push({ netns: ns.name, what: `${d.name}: segment ${d.segment} does not exist` });
            break;
          }
          const port = `u${portNo++}`;
          (seg.ports as Map<string, string>).set(`${ns.name} ${d.name}`, port);
          lines.push(`link add ${d.name} address ${d.mac} mtu ${d.mtu} type veth peer name ${port} mtu ${d.mtu} netns ${lab.segmentsNetns}`);
          segPorts.push(`link set ${port} master ${seg.bridge}`, `link set ${port} up`);
          break;
        }
        case 'bridge':
          lines.push(`link add ${d.name} address ${d.mac} type bridge`);
          break;
        case 'dummy':
          lines.push(`link add ${d.name} address ${d.mac} mtu ${d.mtu} type dummy`);
          break;
        case 'vxlan':
          break;
      }
    }
    await lab.ipBatch(real, lines);
    await lab.ipBatch(lab.segmentsNetns, segPorts);
  }

  // 3. per namespace, in parallel: VXLAN devices, bridge ports, MTUs, up; addresses; routes; rules; neighbours; FDB; sysctls
  await settledAll(all.map((ns) => configure(lab, ns)));

  // 4. netfilter: ipsets, nfacct objects, then iptables-restore of podpath's own iptables-save
  await settledAll(all.map((ns) => loadNetfilter(lab, ns)));

  // 5. carrier: linkwatch reports a veth's carrier asynchronously (up to a second later); a bridge
  // port forwards only once it has it. Wait until no device is NO-CARRIER, so traffic can start.
  await settle(lab, [lab.segmentsNetns, ...all.map((ns) => ns.name)]);

  // 6. listeners
  if (opts.listeners !== false) {
    await settledAll(
      all.map(async (ns) => {
        const specs: { proto: 'tcp' | 'udp'; port: number; owner: string }[] = [];
        for (const l of ns.spec.listeners) {
          if (l.port === null || l.proto === 'any' || l.proto === 'sctp') {
            lab.gaps.push({ netns: ns.name, what: `listener of ${l.owner} on ${l.proto} ${l.port ?? 'every port'}: the lab listens only on given TCP/UDP ports` });
            continue;
          }
          specs.push({ proto: l.proto, port: l.port, owner: l.owner });
        }
        if (specs.length) await lab.startListener(ns.name, specs);
      }),
    );
  }
}

async function settle(lab: Lab, names: readonly string[]): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const waiting: string[] = [];
    await settledAll(
      names.map(async (n) => {
        const out = await lab.must(n, ['ip', '-br', 'link']);
        // veth ends only (`name@ifN`): a bridge without ports stays DOWN and is no concern
        const down = out.split('\n').filter((l) => /^\S+@/.test(l) && /NO-CARRIER|\bDOWN\b|LOWERLAYERDOWN/.test(l));
        if (down.length) waiting.push(`${n}: ${down.join('; ')}`);
      }),
    );
    if (waiting.length === 0) return;
    if (Date.now() > deadline) throw new Error(`devices without carrier after 5 s: ${waiting.join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function configure(lab: Lab, ns: Netns): Promise<void> {
  const real = lab.names.get(ns.name)!;
  const spec = ns.spec;
  const lines: string[] = [];
  for (const d of spec.devices) {
    if (d.kind !== 'vxlan') continue;
    const ttl = d.ttl === 0 ? '' : ` ttl ${d.ttl}`;
    const ports = d.srcPortMin || d.srcPortMax ? ` srcport ${d.srcPortMin} ${d.srcPortMax}` : '';
    lines.push(`link add ${d.name} address ${d.mac} mtu ${d.mtu} type vxlan id ${d.vni} local ${d.local} dev ${d.link} dstport ${d.dstport}${d.learning ? ' learning' : ' nolearning'}${ttl}${ports} ${d.udpcsum ? 'udpcsum' : 'noudpcsum'}`);
  }
  for (const d of spec.devices) {
    if (d.master) lines.push(`link set ${d.name} master ${d.master}`);
    if (d.port) lines.push(`link set ${d.name} type bridge_slave hairpin ${d.port.hairpin ? 'on' : 'off'} learning ${d.port.learning ? 'on' : 'off'}`);
  }
  // a bridge takes its ports' minimum MTU unless one is set (br_mtu_auto_adjust): set it after the ports
  for (const d of spec.devices) if (d.kind === 'bridge') lines.push(`link set ${d.name} mtu ${d.mtu}`);
  for (const d of spec.devices) if (d.kind !== 'loopback') lines.push(`link set ${d.name} up`);
  for (const a of spec.rib.addresses) {
    if (a.family !== 4) continue;
    if (a.dev === 'lo' && ip4(a.local) === '127.0.0.1' && a.prefix === 8) continue;
    lines.push(`addr add ${ip4(a.local)}/${a.prefix} dev ${a.dev}${a.scope ? ` scope ${a.scope}` : ''}${a.noprefixroute ? ' noprefixroute' : ''}`);
  }
  // the kernel checks a gateway against the routes already there (fib_check_nh): write the routes
  // without a gateway (or onlink) first, e.g. Calico's `169.254.1.1 dev eth0 scope link` before `default via 169.254.1.1`
  const needsLink = (r: { nexthops: readonly { gateway?: unknown; onlink?: boolean }[] }): boolean => r.nexthops.some((h) => h.gateway !== undefined && !h.onlink);
  const ordered = spec.rib.routes(4, 'all');
  for (const r of [...ordered.filter((x) => !needsLink(x)), ...ordered.filter(needsLink)]) {
    if (r.table === TABLE_LOCAL) continue;
    if (r.protocol === PROTO_KERNEL && r.table === TABLE_MAIN) continue; // made by `addr add`
    const text = formatRoute(r, { table: 'all' }).replace(/\s+/g, ' ').trim();
    lines.push(`route add ${text}${r.table !== TABLE_MAIN && !/ table /.test(text) ? ` table ${r.table}` : ''}`);
  }
  for (const rule of spec.rib.rules(4)) {
    if (DEFAULT_RULE_PRIORITIES.has(rule.priority) && rule.action === 'lookup' && [TABLE_LOCAL, TABLE_MAIN, TABLE_DEFAULT].includes(rule.table ?? -1)) continue;
    lines.push(`rule add priority ${formatIpRule(rule).replace(/^\d+:\s*/, '')}`);
  }
  for (const e of spec.rib.neigh.entries()) {
    if (e.ip.family !== 4) continue;
    if (e.state !== 'PERMANENT' && e.state !== 'NOARP') {
      lab.gaps.push({ netns: ns.name, what: `neighbour ${ip4(e.ip)} dev ${e.dev} ${e.state ?? ''}: only static entries are written` });
      continue;
    }
    lines.push(`neigh replace ${ip4(e.ip)}${e.lladdr ? ` lladdr ${e.lladdr}` : ''} dev ${e.dev} nud ${e.state === 'PERMANENT' ? 'permanent' : 'noarp'}`);
  }
  for (const e of spec.rib.neigh.proxyEntries()) if (e.ip.family === 4) lines.push(`neigh add proxy ${ip4(e.ip)} dev ${e.dev}`);
  await lab.ipBatch(real, lines);

  const fdb: string[] = [];
  for (const e of spec.fdb) {
    const d = ns.device(e.dev);
    if (e.self && e.dst) fdb.push(`fdb append ${e.mac} dev ${e.dev} dst ${e.dst} self${e.permanent ? ' permanent' : ''}`);
    else if (e.master && d && d.mac === e.mac) continue; // the port's own address: the bridge adds this local entry itself
    else if (e.master) fdb.push(`fdb add ${e.mac} dev ${e.dev} master static`);
    else lab.gaps.push({ netns: ns.name, what: `fdb ${e.mac} dev ${e.dev}: neither a bridge port entry nor a VXLAN destination` });
  }
  await lab.ipBatch(real, fdb, 'bridge');

  const s = spec.sysctls;
  const rib = spec.rib;
  const kv: string[] = [`net.ipv4.ip_forward=${s.ipForward || rib.forwarding[4] ? 1 : 0}`, `net.ipv4.conf.all.rp_filter=${s.rpFilter}`, `net.ipv4.conf.all.route_localnet=${s.routeLocalnet ? 1 : 0}`];
  for (const [d, v] of Object.entries(s.rpFilterDev ?? {})) kv.push(`net.ipv4.conf.${d}.rp_filter=${v}`);
  for (const d of new Set([...s.acceptLocal, ...rib.acceptLocal])) kv.push(`net.ipv4.conf.${d}.accept_local=1`);
  for (const d of new Set([...s.proxyArp, ...rib.proxyArp])) kv.push(`net.ipv4.conf.${d}.proxy_arp=1`);
  for (const d of rib.routeLocalnet) kv.push(`net.ipv4.conf.${d}.route_localnet=1`);
  await mustRun(['ip', 'netns', 'exec', real, 'sysctl', '-qw', ...kv.map((x) => x.replace(/^(net\.ipv4\.conf\.)([^=]+)\.(\w+)=/, (_m, a: string, d: string, k: string) => `${a}${d.replace(/\./g, '/')}.${k}=`))]);
  // per netns once br_netfilter is loaded; absent without it (then bridged traffic never sees iptables)
  const br = await runCommand(['ip', 'netns', 'exec', real, 'sysctl', '-qw', `net.bridge.bridge-nf-call-iptables=${s.bridgeNfCallIptables ? 1 : 0}`]);
  if (br.code !== 0 && s.bridgeNfCallIptables && spec.devices.some((d) => d.kind === 'bridge')) lab.gaps.push({ netns: ns.name, what: `net.bridge.bridge-nf-call-iptables could not be set (br_netfilter not loaded?): ${br.stderr.trim()}` });
}

async function loadNetfilter(lab: Lab, ns: Netns): Promise<void> {
  const real = lab.names.get(ns.name)!;
  const ipsets = ns.spec.ipsets;
  if (ipsets instanceof IpsetStore) {
    const text = formatIpsetSave(ipsets);
    if (text.trim() !== '') await mustRun(['ip', 'netns', 'exec', real, 'ipset', 'restore'], { input: text });
  }
  const rs = ns.config.ruleset.ruleset;
  if (rs.tables.size === 0) return;
  const save = formatIptablesSave(rs, { order: 'nft' });
  // kube-proxy creates its nfacct counters before its first sync (xt_nfacct refuses unknown names)
  for (const name of new Set([...save.matchAll(/--nfacct-name\s+(\S+)/g)].map((m) => m[1]!))) {
    if ((await runCommand(['ip', 'netns', 'exec', real, 'nfacct', 'get', name])).code !== 0) await mustRun(['ip', 'netns', 'exec', real, 'nfacct', 'add', name]);
  }
  await mustRun(['ip', 'netns', 'exec', real, rs.family === 6 ? 'ip6tables-restore' : 'iptables-restore', '-w'], { input: save });
}
