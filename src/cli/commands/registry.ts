import type { Command } from 'commander';
import { registerCompare } from './compare.js';
import { registerNetfilter } from './netfilter.js';
import { registerRules } from './rules.js';
import { registerServe } from './serve.js';
import { registerTrace } from './trace.js';

/**
 * Each command lives in its own file and registers itself here. Command files import
 * src/index.ts lazily inside their action, so parsing and --help load nothing heavy.
 */
type Register = (program: Command) => void;

const commands: Register[] = [];
commands.push(registerNetfilter, registerRules);
commands.push(registerTrace);
commands.push(registerServe);
commands.push(registerCompare);

export function registerCommands(program: Command): void {
  for (const register of commands) register(program);
}
