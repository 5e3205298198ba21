/**
 * Running the real tools (ip, bridge, sysctl, iptables-restore, tcpdump …) for the kernel lab:
 * one child process per command, output collected, a typed error naming the command on failure.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A lab command that exited non-zero: names the command line and what it printed. */
export class KernelCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: ExecResult,
    readonly input?: string,
  ) {
    super(`${argv.join(' ')} exited ${result.code}: ${(result.stderr.trim() || result.stdout.trim()).slice(0, 2000)}`);
    this.name = 'KernelCommandError';
  }
}

/** PATH with the sbin directories (ip, bridge, iptables-restore live there; a test runner may not have them). */
export function labEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin` };
}

export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** Runs a command; resolves with its exit status and output (never rejects). */
export function runCommand(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(argv[0]!, argv.slice(1), { env: labEnv(), timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const raw = err ? (err as { code?: unknown }).code : 0;
      const code = typeof raw === 'number' ? raw : err ? 1 : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && !stderr ? err.message : '') });
    });
    // a command that exits without reading its input (sysctl, ip) must not fail the caller with EPIPE
    child.stdin?.on('error', () => {});
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs a command; rejects with a KernelCommandError when it exits non-zero. */
export async function mustRun(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await runCommand(argv, opts);
  if (r.code !== 0) throw new KernelCommandError(argv, r, opts.input);
  return r.stdout;
}

/** Whether `tool` is on PATH (or in an sbin directory). */
export function haveTool(tool: string): boolean {
  for (const dir of (labEnv().PATH ?? '').split(':')) if (dir && existsSync(`${dir}/${tool}`)) return true;
  return false;
}

/** The tools the materialiser needs. */
export const LAB_TOOLS = ['ip', 'bridge', 'sysctl', 'iptables-restore', 'iptables-save', 'nfacct', 'ipset'] as const;

export interface KernelSupport {
  readonly ok: boolean;
  readonly reason: string;
}

let support: KernelSupport | undefined;

/** Root, Linux, the tools, and a netns that can be created and deleted (probed once). */
export function kernelSupport(): KernelSupport {
  if (support) return support;
  support = probe();
  return support;
}

function probe(): KernelSupport {
  if (process.platform !== 'linux') return { ok: false, reason: `platform is ${process.platform}, not linux` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, reason: 'not running as root' };
  const missing = LAB_TOOLS.filter((t) => !haveTool(t));
  if (missing.length) return { ok: false, reason: `missing tools: ${missing.join(', ')}` };
  const name = `pp${process.pid}kprobe`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe', env: labEnv() });
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe', env: labEnv() });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return { ok: false, reason: `ip netns failed: ${(err.stderr?.toString() || err.message).trim()}` };
  }
  return { ok: true, reason: '' };
}

/** The line every kernel test prints when it cannot run. */
export function kernelSkipNotice(s: KernelSupport = kernelSupport()): string {
  return `SKIPPED (needs root and network namespaces): ${s.reason}`;
}

/**
 * Synchronous teardown of a lab (also from a process 'exit' handler): kills the child processes it
 * started, then, per namespace, whatever still runs inside (only the lab's own processes enter its
 * namespaces) and the namespace itself, which removes its links, routes, rules and conntrack state.
 * Empties both collections; errors are left for a leftovers check to report.
 */
export function teardownSync(children: Set<{ pid?: number | undefined }>, namespaces: string[]): void {
  for (const child of children) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
  for (const ns of namespaces.splice(0)) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { env: labEnv(), stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .split(/\s+/)
        .filter((p) => /^\d+$/.test(p));
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    } catch {
      /* namespace already gone */
    }
    try {
      execFileSync('ip', ['netns', 'del', ns], { env: labEnv(), stdio: 'ignore' });
    } catch {
      /* reported by a leftovers check */
    }
  }
}
