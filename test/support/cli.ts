import { Command } from 'commander';
import { vi } from 'vitest';
import { registerCommands } from '../../src/cli/commands/registry.js';
import { reportError } from '../../src/cli/report.js';

export interface CliResult {
  out: string;
  err: string;
  /** The exit code `podpath` would exit with (0 delivered, 1 not delivered, 2 bad input). */
  code: number;
}

/** Runs `podpath ARGS…` in-process with every command registered, capturing stdout/stderr. */
export async function podpath(args: readonly string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const w = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  process.exitCode = 0;
  const program = new Command().exitOverride();
  registerCommands(program);
  let code: number;
  try {
    await program.parseAsync(['node', 'podpath', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (x) {
    code = reportError(x);
  } finally {
    w.mockRestore();
    e.mockRestore();
    process.exitCode = 0;
  }
  return { out, err, code };
}
