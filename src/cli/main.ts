#!/usr/bin/env node
// cli: the `podpath` command line. Parses arguments and prints; all behaviour comes from src/index.ts.
// Must not import any module but src/index.ts (loaded lazily, so `podpath --help` starts fast).
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/registry.js';
import { EXIT } from './exit.js';

const program = new Command();
program
  .name('podpath')
  .description('Packet-level emulator of the Kubernetes networking datapath: trace a packet hop by hop through kube-proxy, Flannel and Calico state.')
  .version(process.env.npm_package_version ?? '0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; usage errors are bad input (exit 2).
    process.exitCode = err.exitCode === 0 ? 0 : EXIT.badInput;
  } else {
    const { reportError } = await import('./report.js');
    process.exitCode = reportError(err);
  }
}
