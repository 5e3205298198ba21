import type { CompileOptions, CompiledRuleset, HookName, NfConntrack, NfEnv, NfPacket, Ruleset, TableName, TableResult } from './types.js';

/** Models ipt_do_table (net/ipv4/netfilter/ip_tables.c). Implementation in progress. */
export function walkTable(_rs: CompiledRuleset, _table: TableName, _hook: HookName, _pkt: NfPacket, _ct: NfConntrack | undefined, _env: NfEnv): TableResult {
  throw new Error('walkTable: not implemented yet');
}

export function compileRuleset(ruleset: Ruleset, opts: CompileOptions = {}): CompiledRuleset {
  return { ruleset, indexed: opts.index ?? true };
}
