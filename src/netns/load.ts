/**
 * Inputs of `podpath netfilter` that belong to the host rather than to the ruleset: its addresses.
 */
import { InputError, formatIp, parseIp, type Problem } from '../base/index.js';
import type { HostAddress } from './host.js';
import { IpsetStore, NthState, RecentStore, compileRuleset, missingIpsets, parseIpsetSave, parseIptablesSave, type IpsetLookup, type Ruleset } from '../netfilter/index.js';
import type { MatchState, NetfilterSetup } from './netfilter-trace.js';

/**
 * Parses `--local-ips`: comma-separated `IP[/PREFIX][@DEV]`, e.g. `10.0.1.1/24@eth0,10.0.2.1/24@eth1`.
 * A bare IP is a /32 (/128) on no known device: it is local, but no connected route comes with it.
 * Every bad item is reported (field `--local-ips`, the offending token).
 */
export function parseLocalIps(text: string, field = '--local-ips'): HostAddress[] {
  const out: HostAddress[] = [];
  const problems: Problem[] = [];
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    if (item === '') {
      problems.push({ field, message: `empty address in "${text}"` });
      continue;
    }
    const m = /^([^/@]+)(?:\/(\d{1,3}))?(?:@([A-Za-z0-9_.:+-]{1,15}))?$/.exec(item);
    if (!m) {
      problems.push({ field, message: `"${item}" is not IP[/PREFIX][@DEV]` });
      continue;
    }
    let ip;
    try {
      ip = parseIp(m[1]!);
    } catch (e) {
      problems.push({ field, message: `"${item}": ${(e as Error).message}` });
      continue;
    }
    const bits = ip.family === 4 ? 32 : 128;
    const prefix = m[2] === undefined ? bits : Number(m[2]);
    if (prefix > bits) {
      problems.push({ field, message: `"${item}": prefix length must be 0..${bits}` });
      continue;
    }
    out.push({ ip: formatIp(ip), prefix, dev: m[3] ?? null });
  }
  if (problems.length) throw new InputError(problems);
  return out;
}


export interface NetfilterFiles {
  readonly ruleset: { readonly text: string; readonly file: string };
  readonly ipsets?: { readonly text: string; readonly file: string };
  /** `--local-ips` text. */
  readonly localIps: string;
  readonly name?: string;
}

/**
 * Loads what `podpath netfilter` needs, all or nothing (like iptables-restore): the dump is parsed
 * completely (a bad line is an InputError naming file, line and token) before anything is built.
 */
export function loadNetfilterSetup(f: NetfilterFiles): NetfilterSetup {
  const addresses = parseLocalIps(f.localIps);
  const parsed = parseIptablesSave(f.ruleset.text, { file: f.ruleset.file });
  const ipsets = f.ipsets ? parseIpsetSave(f.ipsets.text, { file: f.ipsets.file }) : NO_IPSETS;
  checkIpsets(parsed, ipsets, f.ruleset.file);
  return { name: f.name ?? 'host', ruleset: compileRuleset(parsed), ipsets, addresses, newMatchState };
}

/** No `--ipsets` file: no set exists. */
const NO_IPSETS: IpsetLookup = new IpsetStore();

function newMatchState(): MatchState {
  return { recent: new RecentStore(), nth: new NthState() };
}

/** xt_set's checkentry refuses a rule naming a set that does not exist: iptables-restore fails, nothing is loaded. */
function checkIpsets(rs: Ruleset, ipsets: IpsetLookup, file: string): void {
  const missing = missingIpsets(rs, ipsets);
  if (missing.length === 0) return;
  throw new InputError(missing.map((m) => ({ file: m.rule.file ?? file, line: m.rule.line, field: m.set, message: `set "${m.set}" does not exist (give it with --ipsets): ${m.rule.text}` })));
}
