/**
 * Kernel lab: real Linux network namespaces for differential tests (issue 3 item 9).
 *
 * Every namespace is named `pp<pid>x<counter>-<role>` so parallel runs never collide; every veth is
 * created with both ends inside namespaces (`ip link add … netns A type veth peer name … netns B`),
 * so nothing appears in the root namespace and deleting the namespaces removes every link, route,
 * rule, ipset and conntrack entry. Cleanup runs from `Lab.cleanup()` (call it in afterAll and in
 * finally blocks) and, as a last resort, from a process 'exit' handler.
 *
 * Traps of this kernel (see /work/shared/reference/kernel-lab.sh): a new netns starts with kernel
 * defaults (ip_forward=0, rp_filter=0), the LOG target is silent outside the init netns, and the
 * statistic choice is sticky in conntrack (flush between experiments).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { labEnv, teardownSync } from '../../src/kernel/index.js';

/** Whether this process can build a lab, and why not. Computed once, synchronously (vitest skipIf). */
export interface LabSupport {
  readonly ok: boolean;
  readonly reason: string;
}

const TOOLS = ['ip', 'iptables-restore', 'iptables-save', 'ipset', 'conntrack', 'node'] as const;

let support: LabSupport | undefined;

function which(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])) {
    if (dir && existsSync(`${dir}/${tool}`)) return true;
  }
  return false;
}

/** Probes root, the tools and `ip netns add` (creates and deletes one namespace). */
export function labSupport(): LabSupport {
  if (support) return support;
  support = probe();
  return support;
}

function probe(): LabSupport {
  if (process.platform !== 'linux') return { ok: false, reason: `platform is ${process.platform}, not linux` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, reason: 'not running as root' };
  const missing = TOOLS.filter((t) => !which(t));
  if (missing.length > 0) return { ok: false, reason: `missing tools: ${missing.join(', ')}` };
  const name = `pp${process.pid}probe`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe', env: labEnv() });
    try {
      execFileSync('ip', ['netns', 'exec', name, 'iptables-save'], { stdio: 'pipe', env: labEnv() });
    } finally {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe', env: labEnv() });
    }
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return { ok: false, reason: `ip netns failed: ${(err.stderr?.toString() || err.message).trim()}` };
  }
  return { ok: true, reason: '' };
}

/** The line every kernel test prints when it cannot run. */
export function skipNotice(s: LabSupport = labSupport()): string {
  return `SKIPPED (needs root and network namespaces): ${s.reason}`;
}


export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class LabCommandError extends Error {
  constructor(readonly argv: readonly string[], readonly result: ExecResult) {
    super(`${argv.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'LabCommandError';
  }
}

/** Runs a command (not in a namespace); resolves with its exit code and output. */
export function run(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { env: labEnv(), timeout: opts.timeoutMs ?? 20_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code !== 0 && !stderr ? err.message : '') });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

async function must(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new LabCommandError(argv, r);
  return r.stdout;
}

/** One end of a veth pair. */
export interface VethEnd {
  readonly ns: string;
  readonly dev: string;
  /** Addresses with prefix, e.g. "10.0.1.2/24". */
  readonly addrs?: readonly string[];
}

/** A connection attempt's result, as the lab's node client reports it. */
export interface TcpResult {
  readonly ok: boolean;
  /** The client's own socket address (`getsockname`). */
  readonly local?: string;
  /** The address the client is connected to (`getpeername`): the reply came back un-DNATed when it equals the target. */
  readonly peer?: string;
  /** What the server reported: its own address (the endpoint) and the client address it saw. */
  readonly servedBy?: string;
  readonly clientSeen?: string;
  /** errno code on failure: ECONNREFUSED (RST or ICMP port unreachable), EHOSTUNREACH, ETIMEDOUT … */
  readonly error?: string;
}

export interface UdpResult {
  readonly ok: boolean;
  /** Source of the reply datagram as the client received it. */
  readonly replyFrom?: string;
  readonly servedBy?: string;
  readonly clientSeen?: string;
  readonly error?: string;
}

/* The node programs run inside namespaces. Servers answer one line of JSON naming their own
 * address and the peer they saw; clients print one JSON line per attempt. */
const TCP_SERVER = `
const net = require('net');
const [port, host] = [Number(process.argv[1]), process.argv[2] || '0.0.0.0'];
const srv = net.createServer((c) => {
  c.on('error', () => {});
  c.end(JSON.stringify({ servedBy: c.localAddress + ':' + c.localPort, clientSeen: c.remoteAddress + ':' + c.remotePort }) + '\\n');
});
srv.listen({ port, host, backlog: 512 }, () => console.log('listening'));
`;

const UDP_SERVER = `
const dgram = require('dgram');
const [port, host] = [Number(process.argv[1]), process.argv[2] || '0.0.0.0'];
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => {
  const a = s.address();
  s.send(JSON.stringify({ servedBy: a.address + ':' + a.port, clientSeen: r.address + ':' + r.port }), r.port, r.address);
});
s.bind(port, host, () => console.log('listening'));
`;

const TCP_CLIENT = `
const net = require('net');
const jobs = JSON.parse(process.argv[1]);
(async () => {
  for (const j of jobs) {
    for (let k = 0; k < (j.count || 1); k++) {
      const r = await new Promise((resolve) => {
        const o = { host: j.dst, port: j.port };
        if (j.sport) o.localPort = j.sport;
        if (j.src) o.localAddress = j.src;
        const s = net.connect(o);
        let data = '', done = false, local, peer;
        const finish = (x) => { if (!done) { done = true; clearTimeout(t); s.destroy(); resolve(x); } };
        const t = setTimeout(() => finish({ ok: false, error: 'ETIMEDOUT' }), j.timeoutMs || 2000);
        s.on('connect', () => { local = s.localAddress + ':' + s.localPort; peer = s.remoteAddress + ':' + s.remotePort; });
        s.on('data', (d) => { data += d; });
        s.on('end', () => { try { finish({ ok: true, local, peer, ...JSON.parse(data) }); } catch (e) { finish({ ok: false, local, peer, error: 'BADREPLY ' + data }); } });
        s.on('error', (e) => finish({ ok: false, local, peer, error: e.code || String(e) }));
      });
      console.log(JSON.stringify(r));
      // a fixed source port is free again only once the old socket is gone: let the close finish
      if (j.sport) await new Promise((res) => setTimeout(res, 20));
    }
  }
})();
`;

const UDP_CLIENT = `
const dgram = require('dgram');
const j = JSON.parse(process.argv[1]);
const s = dgram.createSocket('udp4');
const t = setTimeout(() => { console.log(JSON.stringify({ ok: false, error: 'ETIMEDOUT' })); process.exit(0); }, j.timeoutMs || 2000);
s.on('error', (e) => { console.log(JSON.stringify({ ok: false, error: e.code || String(e) })); process.exit(0); });
s.on('message', (m, r) => { clearTimeout(t); console.log(JSON.stringify({ ok: true, replyFrom: r.address + ':' + r.port, ...JSON.parse(String(m)) })); process.exit(0); });
s.bind(j.sport || 0, j.src || '0.0.0.0', () => s.send('ping', j.port, j.dst));
`;

let labCounter = 0;
const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.cleanupSync();
  });
}

/** One set of namespaces with a common prefix; `cleanup` removes all of them and their processes. */
export class Lab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();

  constructor(tag = '') {
    labCounter++;
    this.prefix = `pp${process.pid}x${labCounter}${tag}`;
    liveLabs.add(this);
    installExitHook();
  }

  /** Namespaces created by this lab that still exist. */
  get created(): readonly string[] {
    return [...this.namespaces];
  }

  /** Creates `<prefix>-<role>` with lo up; returns its name. */
  async netns(role: string): Promise<string> {
    const name = `${this.prefix}-${role}`;
    await must(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** A veth pair created directly inside the two namespaces, both ends up, with their addresses. */
  async veth(a: VethEnd, b: VethEnd): Promise<void> {
    await must(['ip', 'link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns]);
    for (const end of [a, b]) {
      for (const addr of end.addrs ?? []) await must(['ip', '-n', end.ns, 'addr', 'add', addr, 'dev', end.dev]);
      await must(['ip', '-n', end.ns, 'link', 'set', end.dev, 'up']);
    }
  }

  async addr(ns: string, dev: string, cidr: string): Promise<void> {
    await must(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', dev]);
  }

  /** `ip route add …` in the namespace, e.g. route(ns, 'default via 10.0.1.1'). */
  async route(ns: string, spec: string): Promise<void> {
    await must(['ip', '-n', ns, 'route', 'add', ...spec.split(/\s+/)]);
  }

  /** sysctl -w inside the namespace, e.g. sysctl(ns, 'net.ipv4.ip_forward', 1). */
  async sysctl(ns: string, key: string, value: string | number): Promise<void> {
    await this.must(ns, ['sysctl', '-qw', `${key}=${value}`]);
  }

  /** Runs argv inside the namespace. */
  exec(ns: string, argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /** Runs argv inside the namespace; throws LabCommandError on a non-zero exit. */
  async must(ns: string, argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    return must(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /** Loads a ruleset with iptables-restore (or ip6tables-restore), flushing the tables it names. */
  async iptablesRestore(ns: string, rules: string, opts: { ipv6?: boolean; noflush?: boolean } = {}): Promise<void> {
    const argv = [opts.ipv6 ? 'ip6tables-restore' : 'iptables-restore', ...(opts.noflush ? ['--noflush'] : [])];
    await this.must(ns, argv, { input: rules });
  }

  /** Loads sets with `ipset restore` (sets are per network namespace). */
  async ipsetRestore(ns: string, text: string): Promise<void> {
    await this.must(ns, ['ipset', 'restore'], { input: text });
  }

  /** `iptables-save -c [-t table]`: the rules with [packets:bytes] counters. */
  async iptablesSave(ns: string, table?: string): Promise<string> {
    return this.must(ns, ['iptables-save', '-c', ...(table ? ['-t', table] : [])]);
  }

  /** Zeroes the counters of every table and flushes conntrack (between experiments). */
  async reset(ns: string): Promise<void> {
    for (const t of ['raw', 'mangle', 'nat', 'filter']) await this.must(ns, ['iptables', '-t', t, '-Z']);
    await this.exec(ns, ['conntrack', '-F']);
  }

  /** `conntrack -L -o extended` lines (empty when the table is empty). */
  async conntrack(ns: string): Promise<string[]> {
    const r = await this.exec(ns, ['conntrack', '-L', '-o', 'extended']);
    return r.stdout.split('\n').filter((l) => l.trim() !== '');
  }

  /** Starts a long-running process in the namespace; it is killed at cleanup. */
  spawn(ns: string, argv: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { env: labEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  private async serve(ns: string, program: string, port: number, host: string | undefined): Promise<ChildProcess> {
    const child = this.spawn(ns, ['node', '-e', program, String(port), ...(host ? [host] : [])]);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`server in ${ns} on port ${port} did not start: ${err}`)), 10_000);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server in ${ns} on port ${port} exited ${code}: ${err}`));
      });
    });
    return child;
  }

  /** A TCP server that answers each connection with {servedBy, clientSeen} and closes. */
  tcpServer(ns: string, port: number, host?: string): Promise<ChildProcess> {
    return this.serve(ns, TCP_SERVER, port, host);
  }

  /** A UDP server that answers each datagram with {servedBy, clientSeen}. */
  udpServer(ns: string, port: number, host?: string): Promise<ChildProcess> {
    return this.serve(ns, UDP_SERVER, port, host);
  }

  /** `count` TCP connections from ns to dst:port, one after the other (optional fixed source address/port). */
  async tcpConnect(
    ns: string,
    dst: string,
    port: number,
    opts: { count?: number; sport?: number; src?: string; timeoutMs?: number } = {},
  ): Promise<TcpResult[]> {
    return this.tcpBatch(ns, [{ dst, port, ...opts }]);
  }

  /** Several connection jobs in one client process (saves a node start per job). */
  async tcpBatch(
    ns: string,
    jobs: ReadonlyArray<{ dst: string; port: number; count?: number; sport?: number; src?: string; timeoutMs?: number }>,
  ): Promise<TcpResult[]> {
    const total = jobs.reduce((n, j) => n + (j.count ?? 1) * ((j.timeoutMs ?? 2000) + 100), 5000);
    const out = await this.must(ns, ['node', '-e', TCP_CLIENT, JSON.stringify(jobs)], { timeoutMs: total });
    return out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as TcpResult);
  }

  /** One UDP datagram from ns to dst:port and the reply (or its absence). */
  async udpSend(ns: string, dst: string, port: number, opts: { sport?: number; src?: string; timeoutMs?: number } = {}): Promise<UdpResult> {
    const out = await this.must(ns, ['node', '-e', UDP_CLIENT, JSON.stringify({ dst, port, ...opts })], { timeoutMs: (opts.timeoutMs ?? 2000) + 5000 });
    return JSON.parse(out.trim().split('\n').pop()!) as UdpResult;
  }

  /** `ping -c count -W 1 dst` inside ns. */
  async ping(ns: string, dst: string, count = 1): Promise<ExecResult> {
    return this.exec(ns, ['ping', '-n', '-c', String(count), '-i', '0.2', '-W', '1', dst]);
  }

  /** Kills every process of this lab and deletes its namespaces. Safe to call more than once. */
  async cleanup(): Promise<void> {
    this.cleanupSync();
  }

  /** Synchronous cleanup (usable from a process 'exit' handler). */
  cleanupSync(): void {
    teardownSync(this.children, this.namespaces);
    liveLabs.delete(this);
  }

  /** Namespaces with this lab's prefix that still exist (should be none after cleanup). */
  leftovers(): string[] {
    return leftoversWithPrefix(this.prefix);
  }
}

/** Every network namespace name `ip netns list` shows. */
export function listNetns(): string[] {
  let text = '';
  try {
    text = execFileSync('ip', ['netns', 'list'], { env: labEnv(), stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Namespaces whose name starts with `<prefix>-`. */
export function leftoversWithPrefix(prefix: string): string[] {
  return listNetns().filter((n) => n.startsWith(`${prefix}-`));
}

/** The prefix every lab of this process uses (for the "nothing left" check). */
export function processPrefix(): string {
  return `pp${process.pid}x`;
}

/** Every namespace any lab of this process created and that still exists. */
export function processLeftovers(): string[] {
  return listNetns().filter((n) => n.startsWith(processPrefix()));
}

/** Parses `iptables-save -c` into per-rule packet counters: key "table chain index" → packets. */
export function ruleCounters(save: string): Map<string, number> {
  const out = new Map<string, number>();
  let table = '';
  const index = new Map<string, number>();
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      index.clear();
      continue;
    }
    const m = /^\[(\d+):(\d+)\] -A (\S+) /.exec(line);
    if (!m) continue;
    const chain = m[3]!;
    const i = (index.get(chain) ?? 0) + 1;
    index.set(chain, i);
    out.set(`${table} ${chain} ${i}`, Number(m[1]));
  }
  return out;
}
