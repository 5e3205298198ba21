/**
 * iptables-save / ip6tables-save text in and out, and the iptables-restore input form
 * (kube-proxy's payload). Models iptables-nft 1.8.9: xtables-restore.c line handling,
 * xshared.c option parsing, nft-ipv4.c / nft-ipv6.c save order.
 */
import type { Family } from '../base/index.js';
import { MATCH_MODULES, finishMatch, formatMatch, matchOption, newMatch } from './matches.js';
import { NFT_SAVE_TABLE_ORDER, PROTO, PROTO_NAMES, PROTO_NUMBERS } from './names.js';
import { TARGET_NAMES, formatTarget, newTarget, targetOption } from './targets.js';
import { BUILTIN_CHAINS, TABLE_NAMES } from './types.js';
import type { Chain, Counters, Match, Rule, Ruleset, Table, TableName, Target } from './types.js';
import { Cursor, RulesetParseError, TokenError, formatAddrMask, parseAddrMask, tokenize } from './util.js';

export interface ParseOptions {
  file?: string;
  /** 4 for iptables-save, 6 for ip6tables-save. Default 4. */
  family?: Family;
}

export interface RestoreOptions extends ParseOptions {
  /**
   * iptables-restore --noflush: tables named in the input are not flushed; a `:CHAIN - [0:0]` line
   * flushes that user chain if it exists (creates it otherwise); built-in chain lines only set the
   * policy. Without it, every table named in the input is emptied first (rules flushed, user
   * chains deleted), as iptables-restore does.
   */
  noflush?: boolean;
}

export interface FormatOptions {
  /** Print rule counters (`iptables-save -c`). */
  counters?: boolean;
  /**
   * 'model' (default): tables and chains in the ruleset's order. 'nft': the order iptables-nft
   * 1.8.9 prints a kernel ruleset in: tables mangle, security, raw, filter, nat; built-in chains in
   * hook order, then user chains sorted by name.
   */
  order?: 'model' | 'nft';
}

export function emptyRuleset(family: Family): Ruleset {
  return { family, tables: new Map() };
}

export function emptyTable(name: TableName): Table {
  const chains = new Map<string, Chain>();
  for (const c of BUILTIN_CHAINS[name]) chains.set(c, { name: c, builtin: true, policy: 'ACCEPT', counters: { packets: 0, bytes: 0 }, rules: [] });
  return { name, chains, order: [...BUILTIN_CHAINS[name]] };
}

/** Parses an iptables-save dump (all or nothing: an InputError names the line and token). */
export function parseIptablesSave(text: string, opts: ParseOptions = {}): Ruleset {
  return applyIptablesRestore(emptyRuleset(opts.family ?? 4), text, { ...opts, noflush: false });
}

/**
 * Applies iptables-restore input to a copy of `base` and returns the new ruleset; `base` is never
 * changed, and nothing is applied when any line is wrong. Accepts `*table`, `:CHAIN POLICY [p:b]`,
 * `[p:b] -A …`, `-A`, `-I CHAIN [n]`, `-N`, `-X`, `-F [CHAIN]`, `-P CHAIN POLICY`, `COMMIT`, `#` comments.
 * Tables take effect at their COMMIT; a table without COMMIT is an error.
 */
export function applyIptablesRestore(base: Ruleset, text: string, opts: RestoreOptions = {}): Ruleset {
  const family = base.family;
  if (opts.family !== undefined && opts.family !== family) throw new RulesetParseError(`ruleset is IPv${family}, input is IPv${opts.family}`, { file: opts.file });
  const out: Ruleset = { family, tables: new Map() };
  for (const [n, t] of base.tables) out.tables.set(n, cloneTable(t));
  const file = opts.file;
  let table: Table | undefined;
  let tableLine = 0;
  let lineNo = 0;
  let pos = 0;
  const fail = (msg: string, token?: string): never => {
    throw new RulesetParseError(msg, { file, line: lineNo, token });
  };
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    let line = text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '' || line.charCodeAt(0) === 35 /* # */) continue;
    const c0 = line[0]!;
    try {
      if (c0 === '*') {
        if (table) fail(`table "${table.name}" was not committed before "${line}"`, line);
        const name = line.slice(1).trim();
        if (!(TABLE_NAMES as readonly string[]).includes(name)) fail(`unknown table "${name}"`, name);
        const tn = name as TableName;
        if (opts.noflush && out.tables.has(tn)) table = out.tables.get(tn)!;
        else table = emptyTable(tn);
        out.tables.set(tn, table);
        tableLine = lineNo;
        continue;
      }
      if (line === 'COMMIT' || line.trimEnd() === 'COMMIT') {
        if (!table) fail('COMMIT without a table', 'COMMIT');
        checkTable(table!, family, file);
        table = undefined;
        continue;
      }
      if (!table) fail(`"${line.split(' ')[0]}" outside a table (expected *raw, *mangle, *nat, *filter or *security)`, line.split(' ')[0]);
      const t = table!;
      if (c0 === ':') {
        declareChain(t, line, !!opts.noflush);
        continue;
      }
      let counters: Counters | undefined;
      let rest = line;
      if (c0 === '[') {
        const close = line.indexOf(']');
        const m = close > 0 ? /^\[(\d+):(\d+)\]$/.exec(line.slice(0, close + 1)) : null;
        if (!m) fail('bad counters', line.slice(0, close + 1 || 12));
        counters = { packets: Number(m![1]), bytes: Number(m![2]) };
        rest = line.slice(close + 1).trimStart();
      }
      const tokens = tokenize(rest);
      const cmd = tokens[0];
      switch (cmd) {
        case '-A':
        case '--append':
        case '-I':
        case '--insert': {
          const chainName = tokens[1];
          if (chainName === undefined) fail(`${cmd} needs a chain`, cmd);
          const chain = t.chains.get(chainName!);
          if (!chain) fail(`chain "${chainName}" does not exist in table ${t.name}`, chainName);
          let from = 2;
          let at = chain!.rules.length;
          if (cmd === '-I' || cmd === '--insert') {
            at = 0;
            if (tokens[2] !== undefined && /^\d+$/.test(tokens[2])) {
              at = Number(tokens[2]) - 1;
              from = 3;
              if (at < 0 || at > chain!.rules.length) fail(`index of insertion too big`, tokens[2]);
            }
          }
          const rule = parseRule(t, chain!, tokens, from, family, lineNo, file);
          if (counters) rule.counters = counters;
          if (at === chain!.rules.length) chain!.rules.push(rule);
          else chain!.rules.splice(at, 0, rule);
          break;
        }
        case '-N':
        case '--new-chain': {
          const n = tokens[1];
          if (n === undefined) fail('-N needs a chain name', cmd);
          if (t.chains.has(n!)) fail(`chain "${n}" already exists`, n);
          checkChainName(n!);
          t.chains.set(n!, { name: n!, builtin: false, rules: [], counters: { packets: 0, bytes: 0 } });
          t.order.push(n!);
          break;
        }
        case '-X':
        case '--delete-chain': {
          const n = tokens[1];
          if (n === undefined) {
            for (const c of [...t.chains.values()]) if (!c.builtin) deleteChain(t, c.name);
          } else {
            const ch = t.chains.get(n);
            if (!ch) fail(`chain "${n}" does not exist`, n);
            if (ch!.builtin) fail(`cannot delete built-in chain "${n}"`, n);
            deleteChain(t, n);
          }
          break;
        }
        case '-F':
        case '--flush': {
          const n = tokens[1];
          if (n === undefined) for (const c of t.chains.values()) c.rules = [];
          else {
            const ch = t.chains.get(n);
            if (!ch) fail(`chain "${n}" does not exist`, n);
            ch!.rules = [];
          }
          break;
        }
        case '-P':
        case '--policy': {
          const ch = tokens[1] === undefined ? undefined : t.chains.get(tokens[1]);
          if (!ch || !ch.builtin) fail(`-P needs a built-in chain`, tokens[1] ?? cmd);
          const p = tokens[2];
          if (p !== 'ACCEPT' && p !== 'DROP') fail(`bad policy "${p}"`, p ?? cmd);
          ch!.policy = p as 'ACCEPT' | 'DROP';
          break;
        }
        default:
          fail(`unknown command "${cmd}"`, cmd);
      }
    } catch (e) {
      if (e instanceof TokenError) throw new RulesetParseError(e.message, { file, line: lineNo, token: e.token });
      throw e;
    }
  }
  if (table) throw new RulesetParseError(`table "${table.name}" (line ${tableLine}) has no COMMIT`, { file, line: lineNo });
  return out;
}

function cloneTable(t: Table): Table {
  const chains = new Map<string, Chain>();
  for (const [n, c] of t.chains) chains.set(n, { ...c, rules: [...c.rules], ...(c.counters ? { counters: { ...c.counters } } : {}) });
  return { name: t.name, chains, order: [...t.order] };
}

function checkChainName(n: string): void {
  if (n.length > 28) throw new TokenError(`chain name "${n}" is longer than 28 characters`, n);
  if (n.startsWith('-') || n.startsWith('!') || TARGET_NAMES.has(n)) throw new TokenError(`invalid chain name "${n}"`, n);
}

function deleteChain(t: Table, name: string): void {
  const ch = t.chains.get(name)!;
  if (ch.rules.length) throw new TokenError(`cannot delete chain "${name}": it is not empty`, name);
  for (const c of t.chains.values())
    for (const r of c.rules)
      if ((r.target.kind === 'JUMP' || r.target.kind === 'GOTO') && r.target.chain === name)
        throw new TokenError(`cannot delete chain "${name}": still referenced by ${r.chain} (line ${r.line})`, name);
  t.chains.delete(name);
  t.order.splice(t.order.indexOf(name), 1);
}

/** `:NAME POLICY [packets:bytes]` */
function declareChain(t: Table, line: string, noflush: boolean): void {
  const parts = line.slice(1).split(' ').filter((s) => s !== '');
  const [name, policy, cnt] = parts;
  if (name === undefined || policy === undefined) throw new TokenError('bad chain line: expected ":NAME POLICY [packets:bytes]"', line);
  let counters: Counters = { packets: 0, bytes: 0 };
  if (cnt !== undefined) {
    const m = /^\[(\d+):(\d+)\]$/.exec(cnt);
    if (!m) throw new TokenError('bad chain counters', cnt);
    counters = { packets: Number(m[1]), bytes: Number(m[2]) };
  }
  const builtin = (BUILTIN_CHAINS[t.name] as readonly string[]).includes(name);
  if (builtin) {
    if (policy !== 'ACCEPT' && policy !== 'DROP') throw new TokenError(`bad policy "${policy}" for built-in chain ${name}`, policy);
    const ch = t.chains.get(name)!;
    ch.policy = policy;
    ch.counters = counters;
    return;
  }
  if (policy !== '-') throw new TokenError(`chain "${name}" is not a built-in chain of table ${t.name}; a user chain's policy is "-"`, policy);
  checkChainName(name);
  const existing = t.chains.get(name);
  if (existing) {
    if (noflush) existing.rules = [];
    else throw new TokenError(`chain "${name}" declared twice`, name);
    return;
  }
  t.chains.set(name, { name, builtin: false, rules: [], counters });
  t.order.push(name);
}

/** Parses the arguments of one rule: `tokens[from…]` (after `-A CHAIN`). */
export function parseRule(t: Table, chain: Chain, tokens: readonly string[], from: number, family: Family, line: number, file?: string): Rule {
  const cur = new Cursor(tokens);
  cur.i = from;
  const rule = new ParsedRule(t.name, chain.name, line, file, family);
  const seen = new Map<Match, Set<string>>();
  let targetSet = false;
  let neg = false;
  while (!cur.done) {
    const tok = cur.arg('');
    if (tok === '!') {
      if (neg) throw new TokenError('multiple "!" flags not allowed', tok);
      neg = true;
      continue;
    }
    switch (tok) {
      case '-s':
      case '--source':
      case '--src':
        rule.src = { value: parseAddrMask(cur.arg(tok), family, tok), neg };
        break;
      case '-d':
      case '--destination':
      case '--dst':
        rule.dst = { value: parseAddrMask(cur.arg(tok), family, tok), neg };
        break;
      case '-i':
      case '--in-interface':
        rule.inIface = { name: checkIface(cur.arg(tok), tok), neg };
        break;
      case '-o':
      case '--out-interface':
        rule.outIface = { name: checkIface(cur.arg(tok), tok), neg };
        break;
      case '-p':
      case '--protocol': {
        const p = cur.arg(tok);
        const n = PROTO_NUMBERS.get(p) ?? PROTO_NUMBERS.get(p.toLowerCase()) ?? (/^\d{1,3}$/.test(p) && Number(p) <= 255 ? Number(p) : undefined);
        if (n === undefined) throw new TokenError(`unknown protocol "${p}" specified`, tok);
        if (n === 0 && neg) throw new TokenError('rule would never match protocol', tok);
        rule.proto = n !== 0 ? { num: n, neg } : undefined;
        break;
      }
      case '-f':
      case '--fragment':
        if (family === 6) throw new TokenError('-f is not supported by ip6tables', tok);
        rule.fragment = { neg };
        break;
      case '-m':
      case '--match': {
        if (neg) throw new TokenError('unexpected "!" before -m', tok);
        const name = cur.arg(tok);
        const kind = MATCH_MODULES.get(name);
        if (!kind) throw new TokenError(`Couldn't load match \`${name}': unknown or unsupported match module`, name);
        if ((kind === 'icmp' && family === 6) || (kind === 'icmp6' && family === 4)) throw new TokenError(`match "${name}" is not for IPv${family}`, name);
        const m = newMatch(kind);
        rule.matches.push(m);
        seen.set(m, NEEDS_SEEN.has(kind) ? new Set() : NO_SEEN);
        break;
      }
      case '-j':
      case '--jump':
      case '-g':
      case '--goto': {
        if (neg) throw new TokenError(`unexpected "!" before ${tok}`, tok);
        if (targetSet) throw new TokenError('multiple -j/-g flags not allowed', tok);
        targetSet = true;
        const name = cur.arg(tok);
        const isGoto = tok === '-g' || tok === '--goto';
        if (t.chains.has(name)) {
          if (t.chains.get(name)!.builtin) throw new TokenError(`cannot jump to built-in chain "${name}"`, name);
          rule.target = isGoto ? { kind: 'GOTO', chain: name } : { kind: 'JUMP', chain: name };
        } else if (isGoto) throw new TokenError(`goto "${name}": no such chain`, name);
        else rule.target = newTarget(name, family);
        break;
      }
      case '-c':
      case '--set-counters': {
        const p = cur.arg(tok);
        const b = cur.arg(tok);
        if (!/^\d+$/.test(p) || !/^\d+$/.test(b)) throw new TokenError('bad counters', tok);
        rule.counters = { packets: Number(p), bytes: Number(b) };
        break;
      }
      default: {
        if (!tok.startsWith('-')) throw new TokenError(`Bad argument \`${tok}'`, tok);
        if (targetOption(rule.target, tok, cur, neg, family)) break;
        let taken = false;
        for (let k = rule.matches.length - 1; k >= 0 && !taken; k--) {
          const m = rule.matches[k]!;
          taken = matchOption(m, tok, cur, neg, family, seen.get(m)!);
        }
        if (!taken) {
          // xtables: an unknown option loads the protocol's match implicitly (-p tcp --dport 80 ⇒ -m tcp).
          const kind = implicitKind(rule, family);
          if (kind && !rule.matches.some((m) => m.kind === kind)) {
            const m = newMatch(kind);
            const s = new Set<string>();
            taken = matchOption(m, tok, cur, neg, family, s);
            if (taken) {
              rule.matches.push(m);
              seen.set(m, s);
            }
          }
        }
        if (!taken) throw new TokenError(`unknown option "${tok}"`, tok);
      }
    }
    neg = false;
  }
  if (neg) throw new TokenError('"!" at the end of the rule', '!');
  for (const m of rule.matches) finishMatch(m, seen.get(m)!, family);
  checkTarget(rule);
  return rule;
}

/** Matches whose final check needs to know which options were given. */
const NEEDS_SEEN: ReadonlySet<Match['kind']> = new Set(['multiport', 'statistic', 'set', 'recent']);
const NO_SEEN = new Set<string>();

/**
 * A parsed rule. Its `text` (the iptables-save line) is rendered on first use and cached, so
 * loading a 320k-rule dump does not build 320k strings nobody reads.
 */
class ParsedRule implements Rule {
  src?: Rule['src'] = undefined;
  dst?: Rule['dst'] = undefined;
  inIface?: Rule['inIface'] = undefined;
  outIface?: Rule['outIface'] = undefined;
  proto?: Rule['proto'] = undefined;
  fragment?: Rule['fragment'] = undefined;
  matches: Match[] = [];
  target: Target = { kind: 'none' };
  counters?: Counters = undefined;
  provenance?: Rule['provenance'] = undefined;
  #text: string | undefined = undefined;
  readonly #family: Family;
  constructor(
    public table: TableName,
    public chain: string,
    public line: number,
    public file: string | undefined,
    family: Family,
  ) {
    this.#family = family;
  }
  get text(): string {
    return (this.#text ??= formatRule(this, this.#family));
  }
  set text(v: string) {
    this.#text = v;
  }
  toJSON(): object {
    return { ...this, text: this.text };
  }
}

function checkIface(name: string, tok: string): string {
  if (name.length === 0 || name.length > 15) throw new TokenError(`interface name "${name}" must be 1 to 15 characters (IFNAMSIZ)`, tok);
  return name;
}

function implicitKind(rule: Rule, family: Family): Match['kind'] | undefined {
  if (!rule.proto || rule.proto.neg) return undefined;
  switch (rule.proto.num) {
    case PROTO.TCP:
      return 'tcp';
    case PROTO.UDP:
      return 'udp';
    case PROTO.SCTP:
      return 'sctp';
    case PROTO.ICMP:
      return family === 4 ? 'icmp' : undefined;
    case PROTO.ICMPV6:
      return family === 6 ? 'icmp6' : undefined;
    default:
      return undefined;
  }
}

/** Checks the extensions do at load (libxt_*.c final checks, ipt_REJECT/xt_nat checkentry). */
function checkTarget(rule: Rule): void {
  const t = rule.target;
  const proto = rule.proto && !rule.proto.neg ? rule.proto.num : 0;
  const portsOk = proto === PROTO.TCP || proto === PROTO.UDP || proto === PROTO.SCTP || proto === 33; /* dccp */
  const needPorts = (): never => {
    throw new TokenError('Need TCP, UDP, SCTP or DCCP with port specification', `-j ${t.kind}`);
  };
  switch (t.kind) {
    case 'REJECT':
      if (t.with === 'tcp-reset' && proto !== PROTO.TCP) throw new TokenError('REJECT --reject-with tcp-reset is only valid with -p tcp', '--reject-with');
      break;
    case 'DNAT':
    case 'SNAT':
      if (t.ranges.length === 0 && t.kind === 'SNAT') throw new TokenError('SNAT needs --to-source', '-j SNAT');
      if (t.ranges.length === 0 && t.kind === 'DNAT') throw new TokenError('DNAT needs --to-destination', '-j DNAT');
      if (t.ranges.some((r) => r.minPort !== undefined) && !portsOk) needPorts();
      break;
    case 'MASQUERADE':
    case 'REDIRECT':
      if (t.ports && !portsOk) needPorts();
      break;
    case 'MARK':
    case 'CONNMARK':
      break;
    default:
      break;
  }
}

/** Validates a committed table: jump targets exist, no loops, nesting within NFT_JUMP_STACK_SIZE. */
function checkTable(t: Table, family: Family, file?: string): void {
  void family;
  const height = new Map<string, number>();
  const onPath = new Set<string>();
  const visit = (name: string, via: Rule | undefined): number => {
    const h = height.get(name);
    if (h !== undefined) return h;
    if (onPath.has(name)) {
      throw new RulesetParseError(`loop in table ${t.name}: chain ${name} reaches itself (iptables-restore fails with ELOOP)`, { file, line: via?.line, token: name });
    }
    const ch = t.chains.get(name);
    if (!ch) throw new RulesetParseError(`jump to missing chain "${name}"`, { file, line: via?.line, token: name });
    onPath.add(name);
    let max = 0;
    for (const r of ch.rules) {
      if (r.target.kind === 'JUMP' || r.target.kind === 'GOTO') max = Math.max(max, 1 + visit(r.target.chain, r));
    }
    onPath.delete(name);
    height.set(name, max);
    return max;
  };
  for (const name of t.order) {
    const h = visit(name, undefined);
    const ch = t.chains.get(name)!;
    // nft_chain_validate: a chain validated at level NFT_JUMP_STACK_SIZE (16) fails with EMLINK.
    if (ch.builtin && h >= NFT_JUMP_STACK_SIZE) {
      throw new RulesetParseError(`chain ${name} of table ${t.name} nests jumps ${h} deep; the kernel allows ${NFT_JUMP_STACK_SIZE - 1} (EMLINK)`, { file, token: name });
    }
  }
}

/** include/net/netfilter/nf_tables.h */
export const NFT_JUMP_STACK_SIZE = 16;

// ───────────────────────────── formatting ─────────────────────────────

function protoName(num: number): string {
  return PROTO_NAMES.get(num) ?? String(num);
}

/** `-A CHAIN …` exactly as iptables-nft's save prints the rule (nft-ipv4.c/nft-ipv6.c save_rule + extensions). */
export function formatRule(r: Rule, family: Family): string {
  let s = `-A ${r.chain}`;
  if (r.src) s += `${r.src.neg ? ' !' : ''} -s ${formatAddrMask(r.src.value)}`;
  if (r.dst) s += `${r.dst.neg ? ' !' : ''} -d ${formatAddrMask(r.dst.value)}`;
  if (r.inIface) s += `${r.inIface.neg ? ' !' : ''} -i ${r.inIface.name}`;
  if (r.outIface) s += `${r.outIface.neg ? ' !' : ''} -o ${r.outIface.name}`;
  if (r.proto) s += `${r.proto.neg ? ' !' : ''} -p ${protoName(r.proto.num)}`;
  if (r.fragment) s += `${r.fragment.neg ? ' !' : ''} -f`;
  for (const m of r.matches) s += ` -m ${m.kind}${formatMatch(m)}`;
  s += formatTarget(r.target, family);
  return s;
}

function fmtCounters(c: Counters | undefined): string {
  return `[${c?.packets ?? 0}:${c?.bytes ?? 0}]`;
}

function chainOrder(t: Table, order: 'model' | 'nft'): string[] {
  if (order === 'model') return t.order;
  const builtins = BUILTIN_CHAINS[t.name].filter((c) => t.chains.has(c));
  const users = t.order.filter((c) => !t.chains.get(c)!.builtin).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return [...builtins, ...users];
}

/** The ruleset as iptables-save prints it (without the `#` header/footer lines). */
export function formatIptablesSave(rs: Ruleset, opts: FormatOptions = {}): string {
  const order = opts.order ?? 'model';
  const tables = order === 'nft' ? NFT_SAVE_TABLE_ORDER.filter((n) => rs.tables.has(n)) : [...rs.tables.keys()];
  const out: string[] = [];
  for (const tn of tables) {
    const t = rs.tables.get(tn)!;
    const chains = chainOrder(t, order);
    out.push(`*${tn}`);
    for (const cn of chains) {
      const c = t.chains.get(cn)!;
      out.push(`:${cn} ${c.builtin ? c.policy ?? 'ACCEPT' : '-'} ${fmtCounters(c.counters)}`);
    }
    for (const cn of chains) {
      for (const r of t.chains.get(cn)!.rules) out.push(opts.counters ? `${fmtCounters(r.counters)} ${r.text}` : r.text);
    }
    out.push('COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Re-renders every rule's `text` (after a generator built rules in code). */
export function renderRule(r: Rule, family: Family): Rule {
  r.text = formatRule(r, family);
  return r;
}

/** Convenience for generators: parses one `-A CHAIN …` line against a table (chains must exist). */
export function parseRuleLine(t: Table, line: string, family: Family, opts: { file?: string; line?: number } = {}): Rule {
  try {
    const tokens = tokenize(line);
    if (tokens[0] !== '-A') throw new TokenError('expected "-A CHAIN …"', tokens[0]);
    const chain = t.chains.get(tokens[1] ?? '');
    if (!chain) throw new TokenError(`chain "${tokens[1]}" does not exist in table ${t.name}`, tokens[1]);
    return parseRule(t, chain, tokens, 2, family, opts.line ?? 0, opts.file);
  } catch (e) {
    if (e instanceof TokenError) throw new RulesetParseError(e.message, { file: opts.file, line: opts.line, token: e.token });
    throw e;
  }
}

