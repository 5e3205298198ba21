/**
 * iptables-save / ip6tables-save text in and out, and the iptables-restore input form
 * (kube-proxy's payload). Models iptables-nft 1.8.9: xtables-restore.c line handling,
 * xshared.c option parsing, nft-ipv4.c / nft-ipv6.c save order.
 */
import { ChainMap } from './chain-map.js';
import type { Cidr, Family } from '../base/index.js';
import { MATCH_MODULES, Seen, finishMatch, formatMatch, matchOption, needsSeen, newMatch } from './matches.js';
import { NFT_SAVE_TABLE_ORDER, PROTO, PROTO_NAMES, PROTO_NUMBERS } from './names.js';
import { TARGET_NAMES, formatTarget, newTarget, targetOption } from './targets.js';
import { BUILTIN_CHAINS, TABLE_NAMES } from './types.js';
import type { Chain, Counters, Match, NatFlags, Negatable, Rule, Ruleset, Table, TableName, Target } from './types.js';
import { Cursor, LineScan, RulesetParseError, TokenError, atomSlotOf, formatAddrMask, parseAddrMask, parseAddrMaskAt, sameAt, tokenize } from './util.js';

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
  return restore(base, text, opts, true);
}

/**
 * The same as `parseIptablesSave`, through the general tokenizer only (every line split into an
 * array by `tokenize`, no shared values): the reference the fast path is tested against.
 */
export function parseIptablesSaveGeneral(text: string, opts: ParseOptions = {}): Ruleset {
  return restore(emptyRuleset(opts.family ?? 4), text, { ...opts, noflush: false }, false);
}

function restore(base: Ruleset, text: string, opts: RestoreOptions, fast: boolean): Ruleset {
  const family = base.family;
  if (opts.family !== undefined && opts.family !== family) throw new RulesetParseError(`ruleset is IPv${family}, input is IPv${opts.family}`, { file: opts.file });
  const out: Ruleset = { family, tables: new Map() };
  for (const [n, t] of base.tables) out.tables.set(n, cloneTable(t));
  const owned = new Owned();
  const file = opts.file;
  const shared = fast ? new SharedValues() : undefined;
  const scan = fast ? new LineScan(text) : undefined;
  const lineCur = new Cursor(undefined);
  let table: Table | undefined;
  let tableLine = 0;
  let lineNo = 0;
  let pos = 0;
  const fail = (msg: string, token?: string): never => {
    throw new RulesetParseError(msg, { file, line: lineNo, token });
  };
  while (pos < text.length) {
    const start = pos;
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    pos = nl + 1;
    lineNo++;
    const end = nl > start && text.charCodeAt(nl - 1) === 13 /* \r */ ? nl - 1 : nl;
    if (end === start) continue;
    const c0 = text.charCodeAt(start);
    if (c0 === 35 /* # */) continue;
    try {
      // Fast path: a command line ("-A CHAIN …") read by position, without slicing the line.
      if (scan && c0 === 45 /* - */ && table && lineCur.reset(scan, start, end)) {
        command(table, lineCur, undefined, family, lineNo, file, owned, shared);
        continue;
      }
      // Fast path: ":NAME - [0:0]", a user chain with zero counters (single spaces, nothing after).
      if (scan && c0 === 58 /* : */ && table && end - start > 9 && sameAt(text, end - 8, ' - [0:0]')) {
        const sp = text.indexOf(' ', start + 1);
        if (sp === end - 8 && sp > start + 1) {
          const name = text.slice(start + 1, sp);
          if (!(BUILTIN_CHAINS[table.name] as readonly string[]).includes(name)) {
            declareUserChain(table, name, ZERO_COUNTERS, !!opts.noflush, owned, shared);
            continue;
          }
        }
      }
      const line = text.slice(start, end);
      if (c0 === 42 /* * */) {
        if (table) fail(`table "${table.name}" was not committed before "${line}"`, line);
        const name = line.slice(1).trim();
        if (!(TABLE_NAMES as readonly string[]).includes(name)) fail(`unknown table "${name}"`, name);
        const tn = name as TableName;
        if (opts.noflush && out.tables.has(tn)) table = out.tables.get(tn)!;
        else {
          table = emptyTable(tn);
          owned.addTable(table);
          shared?.freshTable(table);
        }
        out.tables.set(tn, table);
        tableLine = lineNo;
        continue;
      }
      if (line === 'COMMIT' || line.trimEnd() === 'COMMIT') {
        if (!table) fail('COMMIT without a table', 'COMMIT');
        checkTable(table!, family, file, owned, shared?.jumpGraph(table!));
        table = undefined;
        continue;
      }
      if (!table) fail(`"${line.split(' ')[0]}" outside a table (expected *raw, *mangle, *nat, *filter or *security)`, line.split(' ')[0]);
      const t = table!;
      if (c0 === 58 /* : */) {
        declareChain(t, line, !!opts.noflush, owned, shared);
        continue;
      }
      let counters: Counters | undefined;
      let rest = line;
      if (c0 === 91 /* [ */) {
        const close = line.indexOf(']');
        const m = close > 0 ? /^\[(\d+):(\d+)\]$/.exec(line.slice(0, close + 1)) : null;
        if (!m) fail('bad counters', line.slice(0, close + 1 || 12));
        counters = { packets: Number(m![1]), bytes: Number(m![2]) };
        rest = line.slice(close + 1).trimStart();
      }
      const cur = (fast ? Cursor.onLine(new LineScan(rest), 0, rest.length) : undefined) ?? new Cursor(tokenize(rest));
      command(t, cur, counters, family, lineNo, file, owned, shared);
    } catch (e) {
      if (e instanceof TokenError) throw new RulesetParseError(e.message, { file, line: lineNo, token: e.token });
      throw e;
    }
  }
  if (table) throw new RulesetParseError(`table "${table.name}" (line ${tableLine}) has no COMMIT`, { file, line: lineNo });
  // tables this input did not touch keep the validation of the table they copy
  for (const t of out.tables.values()) {
    if (HEIGHTS.has(t.chains) || !(t.chains instanceof ChainMap)) continue;
    const origin = t.chains.origin();
    const h = origin ? HEIGHTS.get(origin) : undefined;
    if (h) HEIGHTS.set(t.chains, h);
  }
  return out;
}

/** One command line of iptables-restore input inside a table: -A/-I/-N/-X/-F/-P. */
function command(t: Table, cur: Cursor, counters: Counters | undefined, family: Family, lineNo: number, file: string | undefined, owned: Owned, shared: SharedValues | undefined): void {
  const cmd = cur.take();
  switch (cmd) {
    case '-A':
    case '--append':
    case '-I':
    case '--insert': {
      // the fast path finds the chain where its name stands in the text (no string for it)
      const ref = shared?.chainAt(t, cur);
      const chainName = ref ? ref.chain.name : cur.take();
      if (chainName === undefined) throw new TokenError(`${cmd} needs a chain`, cmd);
      const found = ref ? ref.chain : t.chains.get(chainName);
      if (!found) throw new TokenError(`chain "${chainName}" does not exist in table ${t.name}`, chainName);
      // (a table this restore made owns its chains: the one found is the one to change)
      const chain = ref ? (ref.own ??= owned.isFresh(t) ? ref.chain : owned.chain(t, chainName)) : owned.chain(t, chainName);
      let at = chain.rules.length;
      if (cmd === '-I' || cmd === '--insert') {
        at = 0;
        const n = cur.peek();
        if (n !== undefined && /^\d+$/.test(n)) {
          cur.take();
          at = Number(n) - 1;
          if (at < 0 || at > chain.rules.length) throw new TokenError(`index of insertion too big`, n);
        }
      }
      const rule = parseRuleArgs(t, chain, cur, family, lineNo, file, shared);
      if (counters) rule.counters = counters;
      if (shared) {
        if (cmd === '-A' || cmd === '--append') shared.appended(t, ref, rule);
        else shared.graphBroken(t);
      }
      const rules = chain.rules;
      // The first rules of a chain go into array literals of their exact size (see newRule).
      if (at === rules.length && at < 3) chain.rules = at === 0 ? [rule] : at === 1 ? [rules[0]!, rule] : [rules[0]!, rules[1]!, rule];
      else if (at === rules.length) rules.push(rule);
      else rules.splice(at, 0, rule);
      return;
    }
    case '-N':
    case '--new-chain': {
      shared?.graphBroken(t);
      shared?.chainsUnknown(t);
      const n = cur.take();
      if (n === undefined) throw new TokenError('-N needs a chain name', cmd);
      if (t.chains.has(n)) throw new TokenError(`chain "${n}" already exists`, n);
      checkChainName(n);
      t.chains.set(n, owned.add({ name: n, builtin: false, rules: [], counters: { packets: 0, bytes: 0 } }, t));
      t.order.push(n);
      return;
    }
    case '-X':
    case '--delete-chain': {
      shared?.graphBroken(t);
      shared?.chainsChanged();
      owned.forget();
      const n = cur.take();
      if (n === undefined) {
        for (const c of [...t.chains.values()]) if (!c.builtin) deleteChain(t, c.name);
      } else {
        const ch = t.chains.get(n);
        if (!ch) throw new TokenError(`chain "${n}" does not exist`, n);
        if (ch.builtin) throw new TokenError(`cannot delete built-in chain "${n}"`, n);
        deleteChain(t, n);
      }
      return;
    }
    case '-F':
    case '--flush': {
      shared?.graphBroken(t);
      const n = cur.take();
      if (n === undefined) for (const c of [...t.chains.keys()]) owned.chain(t, c).rules = [];
      else {
        if (!t.chains.get(n)) throw new TokenError(`chain "${n}" does not exist`, n);
        owned.chain(t, n).rules = [];
      }
      return;
    }
    case '-P':
    case '--policy': {
      const cn = cur.take();
      const ch = cn === undefined ? undefined : t.chains.get(cn);
      if (!ch || !ch.builtin) throw new TokenError(`-P needs a built-in chain`, cn ?? cmd);
      const p = cur.take();
      if (p !== 'ACCEPT' && p !== 'DROP') throw new TokenError(`bad policy "${p}"`, p ?? cmd);
      owned.chain(t, ch.name).policy = p;
      return;
    }
    default:
      throw new TokenError(`unknown command "${cmd}"`, cmd);
  }
}

/** A copy of a table that shares its chains until restore changes one (see own). */
function cloneTable(t: Table): Table {
  return { name: t.name, chains: new ChainMap(t.chains), order: [...t.order] };
}

/**
 * The chains one restore made or copied, which it may change; every other chain of its tables is
 * shared with the ruleset it started from and is copied before its first change.
 */
class Owned {
  private readonly set = new Set<Chain>();
  /** Tables this restore made (emptyTable): every chain in them is its own. */
  private readonly fresh = new Set<Table>();
  private last: Chain | undefined = undefined;
  private lastTable: Table | undefined = undefined;
  /** Table t was made by this restore (every chain in it is its own). */
  isFresh(t: Table): boolean {
    return this.fresh.has(t);
  }
  has(c: Chain, t?: Table): boolean {
    return (t !== undefined && this.fresh.has(t)) || this.set.has(c);
  }
  /** A table made by this restore. */
  addTable(t: Table): void {
    this.fresh.add(t);
    this.last = undefined;
  }
  add(c: Chain, t: Table): Chain {
    if (!this.fresh.has(t)) this.set.add(c);
    this.last = undefined;
    return c;
  }
  /** Chains were deleted: the last one looked up may be gone. */
  forget(): void {
    this.last = undefined;
  }
  /** Table t's chain `name` (which exists), as a chain this restore may change. */
  chain(t: Table, name: string): Chain {
    const last = this.last;
    if (last !== undefined && last.name === name && this.lastTable === t) return last;
    let ch = t.chains.get(name)!;
    if (!this.fresh.has(t) && !this.set.has(ch)) {
      ch = { ...ch, rules: [...ch.rules], ...(ch.counters ? { counters: { ...ch.counters } } : {}) };
      t.chains.set(name, ch);
      this.set.add(ch);
    }
    this.last = ch;
    this.lastTable = t;
    return ch;
  }
}

function checkChainName(n: string): void {
  if (n.length > 28) throw new TokenError(`chain name "${n}" is longer than 28 characters`, n);
  const c = n.charCodeAt(0);
  if (c === 45 /* - */ || c === 33 /* ! */ || (n.length <= LONGEST_TARGET_NAME && TARGET_NAMES.has(n))) throw new TokenError(`invalid chain name "${n}"`, n);
}
const LONGEST_TARGET_NAME = Math.max(...[...TARGET_NAMES].map((t) => t.length));

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

/** The counters of a chain declared `[0:0]`, shared (counters are replaced, never changed in place). */
const ZERO_COUNTERS: Counters = Object.freeze({ packets: 0, bytes: 0 });

/** `:NAME POLICY [packets:bytes]` */
function declareChain(t: Table, line: string, noflush: boolean, owned: Owned, shared: SharedValues | undefined): void {
  // The first three space-separated words after ':' (as line.slice(1).split(' ') without empty words).
  let p = 1;
  const word = (): string | undefined => {
    while (p < line.length && line.charCodeAt(p) === 32) p++;
    if (p >= line.length) return undefined;
    let e = line.indexOf(' ', p);
    if (e < 0) e = line.length;
    const w = line.slice(p, e);
    p = e;
    return w;
  };
  const name = word();
  const policy = word();
  const cnt = word();
  if (name === undefined || policy === undefined) throw new TokenError('bad chain line: expected ":NAME POLICY [packets:bytes]"', line);
  let counters: Counters = ZERO_COUNTERS;
  if (cnt !== undefined && cnt !== '[0:0]') {
    const m = /^\[(\d+):(\d+)\]$/.exec(cnt);
    if (!m) throw new TokenError('bad chain counters', cnt);
    counters = { packets: Number(m[1]), bytes: Number(m[2]) };
  }
  const builtin = (BUILTIN_CHAINS[t.name] as readonly string[]).includes(name);
  if (builtin) {
    if (policy !== 'ACCEPT' && policy !== 'DROP') throw new TokenError(`bad policy "${policy}" for built-in chain ${name}`, policy);
    const ch = owned.chain(t, name);
    ch.policy = policy;
    ch.counters = counters;
    return;
  }
  if (policy !== '-') throw new TokenError(`chain "${name}" is not a built-in chain of table ${t.name}; a user chain's policy is "-"`, policy);
  declareUserChain(t, name, counters, noflush, owned, shared);
}

/** Declares user chain `name` of table t (`:NAME - [p:b]`): new, or flushed under --noflush. */
function declareUserChain(t: Table, name: string, counters: Counters, noflush: boolean, owned: Owned, shared: SharedValues | undefined): void {
  checkChainName(name);
  if (!noflush && shared?.knowsAllChains(t)) {
    // The fast path has seen every chain of this table: its name table says whether the name is
    // new (one probe, where a lookup in the table's map would be another random memory access).
    const chain = owned.add({ name, builtin: false, rules: [], counters }, t);
    if (!shared.declareNew(t, chain)) throw new TokenError(`chain "${name}" declared twice`, name);
    t.chains.set(name, chain);
    t.order.push(name);
    return;
  }
  const existing = t.chains.get(name);
  if (existing) {
    if (noflush) owned.chain(t, name).rules = [];
    else throw new TokenError(`chain "${name}" declared twice`, name);
    return;
  }
  const chain = owned.add({ name, builtin: false, rules: [], counters }, t);
  t.chains.set(name, chain);
  t.order.push(name);
  shared?.declared(t, chain);
}

/** Parses the arguments of one rule: `tokens[from…]` (after `-A CHAIN`). */
export function parseRule(t: Table, chain: Chain, tokens: readonly string[], from: number, family: Family, line: number, file?: string): Rule {
  const cur = new Cursor(tokens);
  cur.i = from;
  return parseRuleArgs(t, chain, cur, family, line, file, undefined);
}

/**
 * The last few names (and their values) a parser looked up, found where a name stands in a larger
 * text by comparing characters, without a string for it. Neighbouring lines of a dump name the
 * same chains, comments and addresses; a miss replaces the entry used least recently.
 */
class RecentNames<V> {
  /** Each entry's name is keyTexts[j][keyStarts[j], keyStarts[j] + keyLens[j]) (a text it was read from). */
  private readonly keyTexts: string[] = new Array<string>(RECENT).fill('');
  private readonly keyStarts = new Int32Array(RECENT);
  private readonly keyLens = new Int32Array(RECENT).fill(-1);
  private readonly vals: (V | undefined)[] = new Array<V | undefined>(RECENT).fill(undefined);
  private readonly used = new Int32Array(RECENT);
  private clock = 0;

  /**
   * The value of the name text[start, end) when it is among the recent ones. Compared from the
   * end (names of a dump differ most there: kube-proxy's hashes, endpoint addresses), without
   * hashing: a hit costs one comparison of the name, a miss a character or two per entry.
   */
  getAt(text: string, start: number, end: number): V | undefined {
    const len = end - start;
    const lens = this.keyLens;
    for (let j = 0; j < RECENT; j++) {
      if (lens[j] !== len) continue;
      const k = this.keyTexts[j]!;
      const ks = this.keyStarts[j]!;
      let i = len - 1;
      while (i >= 0 && text.charCodeAt(start + i) === k.charCodeAt(ks + i)) i--;
      if (i < 0) {
        this.used[j] = ++this.clock;
        return this.vals[j];
      }
    }
    return undefined;
  }

  /** Remembers the name text[start, start + len) → v, in place of the entry used least recently. */
  put(text: string, start: number, len: number, v: V): void {
    let lru = 0;
    for (let j = 1; j < RECENT; j++) if (this.used[j]! < this.used[lru]!) lru = j;
    this.keyTexts[lru] = text;
    this.keyStarts[lru] = start;
    this.keyLens[lru] = len;
    this.vals[lru] = v;
    this.used[lru] = ++this.clock;
  }

  /** Forgets every entry. */
  clear(): void {
    this.keyTexts.fill('');
    this.keyLens.fill(-1);
    this.vals.fill(undefined);
  }
}

/**
 * FNV-1a over the length and the last (at most 32) characters of text[start, end): all of a chain
 * name (28 characters at most) or an address; a long comment's end, where comments differ most.
 */
function fnv1a(text: string, start: number, end: number): number {
  let h = Math.imul(0x811c9dc5 ^ (end - start), 16777619);
  for (let i = end - start > 32 ? end - 32 : start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h;
}

/** How many names a RecentNames holds. */
const RECENT = 6;

/**
 * An open-addressing table from names to values that finds a name where it stands in a larger
 * text (`getAt(text, start, end)`), hashing its characters in place, so a parser needs no string
 * per looked-up word. Entries are only added (a table lives for one parse).
 */
class NameTable<V> {
  /** Set by the owner: the table holds every name there is (see SharedValues.knowsAllChains). */
  complete = false;
  private keys: (string | undefined)[] = new Array<string | undefined>(1024).fill(undefined);
  private hashes = new Int32Array(1024);
  private vals: (V | undefined)[] = new Array<V | undefined>(1024).fill(undefined);
  private size = 0;

  getAt(text: string, start: number, end: number, h = fnv1a(text, start, end)): V | undefined {
    const mask = this.keys.length - 1;
    const len = end - start;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i];
      if (k === undefined) return undefined;
      if (this.hashes[i] === h && k.length === len && sameAt(text, start, k)) return this.vals[i];
    }
  }

  /** Adds a name (or replaces its value). */
  set(name: string, v: V): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    this.put(name, fnv1a(name, 0, name.length), v, true);
  }

  /** Adds a name that is not in the table and returns true; false (nothing changed) when it is. */
  add(name: string, v: V): boolean {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    return this.put(name, fnv1a(name, 0, name.length), v, false);
  }

  /** Files name (hash h) → v; a name already there keeps its value unless `replace`. True when it was new. */
  private put(name: string, h: number, v: V, replace: boolean): boolean {
    const mask = this.keys.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i];
      if (k === undefined) {
        this.keys[i] = name;
        this.hashes[i] = h;
        this.vals[i] = v;
        this.size++;
        return true;
      }
      if (this.hashes[i] === h && k.length === name.length && sameAt(name, 0, k)) {
        if (replace) this.vals[i] = v;
        return false;
      }
    }
  }

  private grow(): void {
    const { keys, vals, hashes } = this;
    const n = keys.length * 2;
    this.keys = new Array<string | undefined>(n).fill(undefined);
    this.hashes = new Int32Array(n);
    this.vals = new Array<V | undefined>(n).fill(undefined);
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) this.put(keys[i]!, hashes[i]!, vals[i]!, true);
  }
}

/** Values shared by a non-negative key: the first value given for a key stands for all (the last key asked is checked first; consecutive rules repeat it). */
class SharedByKey<V> {
  private readonly byKey = new Map<number, V>();
  private lastKey = -1;
  private last: V | undefined = undefined;

  /** The value shared under `key`; `v` becomes it if there is none yet. */
  share(key: number, v: V): V {
    if (key === this.lastKey) return this.last!;
    let s = this.byKey.get(key);
    if (s === undefined) this.byKey.set(key, (s = v));
    this.lastKey = key;
    this.last = s;
    return s;
  }
}

/** A new ChainRef (every field present from the start: one object shape for all). */
function chainRef(table: Table, chain: Chain, ord: number): ChainRef {
  return { table, chain, ord, own: undefined, jump: undefined, goto: undefined };
}

/** A chain found by name, with the jump/goto targets to it that rules share. */
interface ChainRef {
  table: Table;
  chain: Chain;
  /** The chain's position in table.order (see JumpGraph); -1 when unknown. */
  ord: number;
  /** The chain as this restore may change it (Owned.chain), once asked for. */
  own: Chain | undefined;
  jump: Target | undefined;
  goto: Target | undefined;
}

/**
 * The fast path's per-parse state:
 * - every table's chains by name, found where a name stands in the text (the last few first,
 *   then a hash table), with the jumps appended rules make, by chain position (JumpGraph), so
 *   COMMIT validates them without name lookups;
 * - values many rules hold alike, shared by those rules instead of allocated per rule: `-s`/`-d`
 *   specs and comment matches of recent rules, `-p` specs, jump/goto targets, option-less or
 *   single-port tcp/udp/sctp matches, random statistic matches, match lists, NAT flags when none
 *   is set.
 * Rules are not changed after parsing, so sharing changes no value; it keeps a 320k-rule model
 * small. Matches with per-rule state (statistic nth counters) are never shared.
 */
class SharedValues {
  /** Per table: its chains by name, found in place in the text (see chainAt). */
  private readonly names = new Map<Table, NameTable<ChainRef | null>>();
  private lastTable: Table | undefined = undefined;
  private lastNames: NameTable<ChainRef | null> | undefined = undefined;
  /** Chains (and target names: null) looked up last, tried before the table. */
  private readonly recentChains = new RecentNames<ChainRef | null>();
  private readonly addrs = new RecentNames<Negatable<Cidr>>();
  private readonly negAddrs = new RecentNames<Negatable<Cidr>>();
  private readonly comments = new RecentNames<Match>();
  private readonly ports = new SharedByKey<Match>();
  /** Random-mode statistic matches by probability and negation (they keep no state). */
  private readonly randoms = new SharedByKey<Match>();
  /** The jumps of the tables this restore made, while only appends and declarations built them. */
  private readonly graphs = new Map<Table, JumpGraph>();
  /** The chain the rule being parsed jumps or goes to, found by chainAt. */
  jumpRef: ChainRef | undefined = undefined;

  /** Table t was made by this restore: its jumps are recorded as its rules are appended. */
  freshTable(t: Table): void {
    this.graphs.set(t, new JumpGraph());
    this.tableNames(t).complete = true;
  }

  /**
   * Table t was made by this restore and every user chain in it was declared through `declared` /
   * `declareNew` (no -N, no chains forgotten since): its name table holds them all.
   */
  knowsAllChains(t: Table): boolean {
    return this.tableNames(t).complete;
  }

  /** Adds user chain `chain` to table t's names; false when a chain of that name is there. */
  declareNew(t: Table, chain: Chain): boolean {
    // declareUserChain adds it at the end of t.order next
    return this.tableNames(t).add(chain.name, chainRef(t, chain, t.order.length));
  }

  /** `rule` was appended to `from` (found by chainAt, or undefined): its jump, if any, is recorded. */
  appended(t: Table, from: ChainRef | undefined, rule: Rule): void {
    const kind = rule.target.kind;
    if (kind !== 'JUMP' && kind !== 'GOTO') return;
    const g = this.graphs.get(t);
    if (g === undefined) return;
    const to = this.jumpRef;
    if (from === undefined || to === undefined || from.ord < 0 || to.ord < 0) this.graphs.delete(t);
    else g.add(from.ord, to.ord, rule.line);
  }

  /** A command other than an append changed table t: its recorded jumps no longer tell. */
  graphBroken(t: Table): void {
    this.graphs.delete(t);
  }

  /** The jumps recorded for table t, when they are all of its jumps. */
  jumpGraph(t: Table): JumpGraph | undefined {
    const g = this.graphs.get(t);
    this.graphs.delete(t);
    return g;
  }

  private tableNames(t: Table): NameTable<ChainRef | null> {
    if (this.lastTable === t) return this.lastNames!;
    let n = this.names.get(t);
    if (!n) this.names.set(t, (n = new NameTable<ChainRef | null>()));
    this.lastTable = t;
    this.lastNames = n;
    // the recent chains are another table's
    this.recentChains.clear();
    return n;
  }

  /**
   * The chain of table t named by the cursor's next argument, which is then taken; undefined (and
   * nothing taken) when that argument is no existing chain, or not a plain word. Known chains are
   * found where their name stands in the text: among the last few, else by a hash of its
   * characters. Target names (never chain names: checkChainName) are remembered as no chain.
   */
  chainAt(t: Table, cur: Cursor): ChainRef | undefined {
    const p = cur.peekArg();
    if (p < 0) return undefined;
    const names = this.tableNames(t);
    const text = cur.source;
    const end = cur.argEnd;
    let ref = this.recentChains.getAt(text, p, end);
    if (ref === undefined) {
      ref = names.getAt(text, p, end);
      if (ref === undefined) {
        const name = text.slice(p, end);
        const chain = t.chains.get(name);
        if (chain) names.set(chain.name, (ref = chainRef(t, chain, chain.builtin ? (BUILTIN_CHAINS[t.name] as readonly string[]).indexOf(chain.name) : -1)));
        else if (TARGET_NAMES.has(name)) names.set(name, (ref = null));
        else return undefined;
      }
      this.recentChains.put(text, p, end - p, ref);
    }
    if (ref === null) return undefined;
    cur.skipArg();
    return ref;
  }

  /**
   * The `--comment` argument's comment match (which has no other option), shared with the last
   * few rules of the same comment, found where the text stands; the argument is taken. Checks
   * what the comment module checks.
   */
  commentAt(cur: Cursor, opt: string): Match {
    const p = cur.peekArg();
    if (p < 0) return commentMatch(cur.arg(opt), opt);
    let m = this.comments.getAt(cur.source, p, cur.argEnd);
    if (m === undefined) {
      const comment = cur.source.slice(p, cur.argEnd);
      this.comments.put(cur.source, p, comment.length, (m = commentMatch(comment, opt)));
    }
    cur.skipArg();
    return m;
  }

  /** A `-s`/`-d` argument's spec, shared with the last few rules of the same text and negation, found where the text stands; taken. */
  addrAt(cur: Cursor, family: Family, opt: string, neg: boolean): Negatable<Cidr> {
    const p = cur.peekArg();
    if (p < 0) return { value: parseAddrMask(cur.arg(opt), family, opt), neg };
    const c = neg ? this.negAddrs : this.addrs;
    const text = cur.source;
    const end = cur.argEnd;
    let v = c.getAt(text, p, end);
    if (v === undefined) {
      const value = family === 4 ? parseAddrMaskAt(text, p, end, opt) : parseAddrMask(text.slice(p, end), family, opt);
      c.put(text, p, end - p, (v = { value, neg }));
    }
    cur.skipArg();
    return v;
  }

  /** A chain this restore just made in table t: found from now on without a miss. */
  declared(t: Table, chain: Chain): void {
    // declareUserChain has just added it at the end of t.order
    this.tableNames(t).set(chain.name, chainRef(t, chain, t.order.length - 1));
  }

  /** A chain was made without `declared` (-N): table t's names are no longer all its chains. */
  chainsUnknown(t: Table): void {
    this.tableNames(t).complete = false;
  }

  /** Chains were deleted or replaced: forget every cached lookup. */
  chainsChanged(): void {
    this.names.clear();
    this.recentChains.clear();
    this.lastTable = undefined;
    this.lastNames = undefined;
  }

  chainTarget(ref: ChainRef, kind: 'JUMP' | 'GOTO'): Target {
    if (kind === 'JUMP') return (ref.jump ??= { kind, chain: ref.chain.name });
    return (ref.goto ??= { kind, chain: ref.chain.name });
  }

  /** The last few match lists made, tried first by matchList. */
  private readonly lists: Match[][] = [NO_MATCHES, NO_MATCHES, NO_MATCHES, NO_MATCHES];
  private listAt = 0;

  /**
   * An exact-size array of ms[0…n): a recent rule's own when it holds the very same matches (rules
   * are not changed after parsing, so they may share it), else a new one.
   */
  matchList(ms: readonly Match[], n: number): Match[] {
    if (n === 0) return NO_MATCHES;
    const lists = this.lists;
    for (let j = 0; j < lists.length; j++) {
      const l = lists[j]!;
      if (l.length !== n) continue;
      let k = 0;
      while (k < n && l[k] === ms[k]) k++;
      if (k === n) return l;
    }
    const l = exactMatches(ms, n);
    lists[this.listAt] = l;
    this.listAt = (this.listAt + 1) & 3;
    return l;
  }

  /** The shared equal of `m` when it is one of the kinds shared, else `m`. */
  match(m: Match): Match {
    switch (m.kind) {
      case 'statistic': {
        if (m.mode !== 'random') return m;
        const key = m.probability * 2 + (m.neg ? 1 : 0);
        return this.randoms.share(key, m);
      }
      case 'tcp':
      case 'udp':
      case 'sctp': {
        if (m.sport || (m.kind === 'tcp' && (m.flags || m.option))) return m;
        if (m.dport && (m.dport.neg || m.dport.value.lo !== m.dport.value.hi)) return m;
        const key = (m.kind === 'tcp' ? 0 : m.kind === 'udp' ? 1 : 2) * 65537 + (m.dport ? m.dport.value.lo + 1 : 0);
        return this.ports.share(key, m);
      }
      default:
        return m;
    }
  }
}

/** `-p` specs, one frozen object per (protocol, negation). */
const PROTO_SPECS = new Map<number, Readonly<{ num: number; neg: boolean }>>();
function protoSpec(num: number, neg: boolean): { num: number; neg: boolean } {
  const key = num * 2 + (neg ? 1 : 0);
  let v = PROTO_SPECS.get(key);
  if (!v) PROTO_SPECS.set(key, (v = Object.freeze({ num, neg })));
  return v as { num: number; neg: boolean };
}

const NO_NAT_FLAGS: NatFlags = Object.freeze({ random: false, randomFully: false, persistent: false });

const OPT_SRC = 1;
const OPT_DST = 2;
const OPT_IN = 3;
const OPT_OUT = 4;
const OPT_PROTO = 5;
const OPT_FRAGMENT = 6;
const OPT_MATCH = 7;
const OPT_JUMP = 8;
const OPT_GOTO = 9;
const OPT_COUNTERS = 10;
/** The rule's own options (iptables/xshared.c), short and long, to the case parseRuleArgs takes. */
const RULE_OPTIONS: ReadonlyMap<string, number> = new Map([
  ['-s', OPT_SRC], ['--source', OPT_SRC], ['--src', OPT_SRC],
  ['-d', OPT_DST], ['--destination', OPT_DST], ['--dst', OPT_DST],
  ['-i', OPT_IN], ['--in-interface', OPT_IN],
  ['-o', OPT_OUT], ['--out-interface', OPT_OUT],
  ['-p', OPT_PROTO], ['--protocol', OPT_PROTO],
  ['-f', OPT_FRAGMENT], ['--fragment', OPT_FRAGMENT],
  ['-m', OPT_MATCH], ['--match', OPT_MATCH],
  ['-j', OPT_JUMP], ['--jump', OPT_JUMP],
  ['-g', OPT_GOTO], ['--goto', OPT_GOTO],
  ['-c', OPT_COUNTERS], ['--set-counters', OPT_COUNTERS],
]);

/** RULE_OPTIONS by the ATOMS slot of the option word (0: not a rule option). */
const RULE_OPTION_BY_ATOM = new Int8Array(1024);
for (const [w, o] of RULE_OPTIONS) {
  const slot = atomSlotOf(w);
  if (slot >= 0) RULE_OPTION_BY_ATOM[slot] = o;
}

/** MATCH_MODULES and PROTO_NUMBERS by the ATOMS slot of the word (undefined: not one). */
const MODULE_BY_ATOM: (Match['kind'] | undefined)[] = new Array<Match['kind'] | undefined>(1024).fill(undefined);
for (const [w, k] of MATCH_MODULES) {
  const slot = atomSlotOf(w);
  if (slot >= 0) MODULE_BY_ATOM[slot] = k;
}
const PROTO_BY_ATOM: (number | undefined)[] = new Array<number | undefined>(1024).fill(undefined);
for (const [w, n] of PROTO_NUMBERS) {
  const slot = atomSlotOf(w);
  if (slot >= 0) PROTO_BY_ATOM[slot] = n;
}

/** Parses the arguments of one rule from `cur` (after `-A CHAIN`). */
function parseRuleArgs(t: Table, chain: Chain, cur: Cursor, family: Family, line: number, file: string | undefined, shared: SharedValues | undefined): Rule {
  const rule = newRule(t.name, chain.name, line, file, family);
  if (shared) shared.jumpRef = undefined;

  // The rule's matches and the options seen per match (only the kinds whose final check needs
  // them) are gathered in scratch arrays reused by every rule (this function does not recurse),
  // then copied into an array of the exact size.
  const matches = SCRATCH_MATCHES;
  const seen = SCRATCH_SEEN;
  let nm = 0;
  let targetSet = false;
  let neg = false;
  for (let tok = cur.take(); tok !== undefined; tok = cur.take()) {
    if (tok === '!') {
      if (neg) throw new TokenError('multiple "!" flags not allowed', tok);
      neg = true;
      continue;
    }
    const atom = cur.atom;
    switch (atom >= 0 ? RULE_OPTION_BY_ATOM[atom] : RULE_OPTIONS.get(tok)) {
      case OPT_SRC:
        rule.src = shared ? shared.addrAt(cur, family, tok, neg) : { value: parseAddrMask(cur.arg(tok), family, tok), neg };
        break;
      case OPT_DST:
        rule.dst = shared ? shared.addrAt(cur, family, tok, neg) : { value: parseAddrMask(cur.arg(tok), family, tok), neg };
        break;
      case OPT_IN:
        rule.inIface = { name: checkIface(cur.arg(tok), tok), neg };
        break;
      case OPT_OUT:
        rule.outIface = { name: checkIface(cur.arg(tok), tok), neg };
        break;
      case OPT_PROTO: {
        const p = cur.arg(tok);
        const n = (cur.atom >= 0 ? PROTO_BY_ATOM[cur.atom] : undefined) ?? PROTO_NUMBERS.get(p) ?? PROTO_NUMBERS.get(p.toLowerCase()) ?? (/^\d{1,3}$/.test(p) && Number(p) <= 255 ? Number(p) : undefined);
        if (n === undefined) throw new TokenError(`unknown protocol "${p}" specified`, tok);
        if (n === 0 && neg) throw new TokenError('rule would never match protocol', tok);
        rule.proto = n === 0 ? undefined : shared ? protoSpec(n, neg) : { num: n, neg };
        break;
      }
      case OPT_FRAGMENT:
        if (family === 6) throw new TokenError('-f is not supported by ip6tables', tok);
        rule.fragment = { neg };
        break;
      case OPT_MATCH: {
        if (neg) throw new TokenError('unexpected "!" before -m', tok);
        const name = cur.arg(tok);
        const kind = cur.atom >= 0 ? MODULE_BY_ATOM[cur.atom] : MATCH_MODULES.get(name);
        if (!kind) throw new TokenError(`Couldn't load match \`${name}': unknown or unsupported match module`, name);
        if ((kind === 'icmp' && family === 6) || (kind === 'icmp6' && family === 4)) throw new TokenError(`match "${name}" is not for IPv${family}`, name);
        // the fast path replaces a comment match at its --comment (see commentAt)
        const m = shared && kind === 'comment' ? EMPTY_COMMENT : newMatch(kind);
        matches[nm] = m;
        seen[nm++] = needsSeen(kind) ? new Seen() : NO_SEEN;
        break;
      }
      case OPT_JUMP:
      case OPT_GOTO: {
        if (neg) throw new TokenError(`unexpected "!" before ${tok}`, tok);
        if (targetSet) throw new TokenError('multiple -j/-g flags not allowed', tok);
        targetSet = true;
        const ref = shared?.chainAt(t, cur);
        const name = ref ? ref.chain.name : cur.arg(tok);
        const isGoto = RULE_OPTIONS.get(tok) === OPT_GOTO;
        const to = ref ? ref.chain : t.chains.get(name);
        if (to) {
          if (to.builtin) throw new TokenError(`cannot jump to built-in chain "${name}"`, name);
          const kind = isGoto ? 'GOTO' : 'JUMP';
          rule.target = ref ? shared!.chainTarget(ref, kind) : { kind, chain: name };
          if (shared) shared.jumpRef = ref;
        } else if (isGoto) throw new TokenError(`goto "${name}": no such chain`, name);
        else rule.target = newTarget(name, family);
        break;
      }
      case OPT_COUNTERS: {
        const p = cur.arg(tok);
        const b = cur.arg(tok);
        if (!/^\d+$/.test(p) || !/^\d+$/.test(b)) throw new TokenError('bad counters', tok);
        rule.counters = { packets: Number(p), bytes: Number(b) };
        break;
      }
      default: {
        if (!tok.startsWith('-')) throw new TokenError(`Bad argument \`${tok}'`, tok);
        // (a rule without -j yet has no target options)
        if (rule.target !== NO_TARGET && targetOption(rule.target, tok, cur, neg, family)) break;
        let taken = false;
        for (let k = nm - 1; k >= 0 && !taken; k--) {
          const m = matches[k]!;
          if (shared && m.kind === 'comment' && tok === '--comment') {
            if (neg) throw new TokenError('comment: option "--comment" cannot be inverted', tok);
            matches[k] = shared.commentAt(cur, tok);
            taken = true;
          } else taken = matchOption(m, tok, cur, neg, family, seen[k]!);
        }
        if (!taken) {
          // xtables: an unknown option loads the protocol's match implicitly (-p tcp --dport 80 ⇒ -m tcp).
          const kind = implicitKind(rule, family);
          let loaded = false;
          for (let k = 0; k < nm && !loaded; k++) loaded = matches[k]!.kind === kind;
          if (kind && !loaded) {
            const m = newMatch(kind);
            const s = new Seen();
            taken = matchOption(m, tok, cur, neg, family, s);
            if (taken) {
              matches[nm] = m;
              seen[nm++] = s;
            }
          }
        }
        if (!taken) throw new TokenError(`unknown option "${tok}"`, tok);
      }
    }
    neg = false;
  }
  if (neg) throw new TokenError('"!" at the end of the rule', '!');
  for (let k = 0; k < nm; k++) finishMatch(matches[k]!, seen[k]!, family);
  checkTarget(rule);
  if (!shared) rule.matches = exactMatches(matches, nm);
  else {
    for (let k = 0; k < nm; k++) matches[k] = shared.match(matches[k]!);
    // the same matches as a recent rule (a Service's endpoint rules): that rule's array
    rule.matches = shared.matchList(matches, nm);
    const tg = rule.target;
    if ((tg.kind === 'DNAT' || tg.kind === 'SNAT' || tg.kind === 'MASQUERADE' || tg.kind === 'REDIRECT') && !tg.flags.random && !tg.flags.randomFully && !tg.flags.persistent) tg.flags = NO_NAT_FLAGS;
  }
  return rule;
}

/** A comment match, checked as libxt_comment checks it. */
function commentMatch(comment: string, opt: string): Match {
  if (comment.length > 255) throw new TokenError('comment: comment is longer than 255 characters (XT_MAX_COMMENT_LEN 256)', opt);
  return { kind: 'comment', comment };
}

/** `-m comment` before its --comment on the fast path (never changed: commentAt replaces it). */
const EMPTY_COMMENT: Match = Object.freeze({ kind: 'comment', comment: '' }) as Match;

/** The matches of a rule without -m (rules are not changed after parsing: one array for all). */
const NO_MATCHES: Match[] = [];

/** parseRuleArgs' scratch arrays (see there). */
const SCRATCH_MATCHES: Match[] = [];
const SCRATCH_SEEN: Seen[] = [];

/** Shared by the matches whose final check asks nothing (they never add to it). */
const NO_SEEN = new Seen();

/** The `text` of parsed rules, rendered on first use (or set by renderRule). */
const RULE_TEXT = new WeakMap<object, string>();

/**
 * A parsed rule. Its `text` (the iptables-save line) is rendered on first use and cached, so
 * loading a 320k-rule dump does not build 320k strings nobody reads. One subclass per family
 * (the family picks the formatter) keeps every parsed rule of one shape.
 */
/** The class of parsed rules of one family (not derived from another: V8 inlines its construction). */
function parsedRuleClass(family: Family) {
  return class ParsedRule {
    table: TableName;
    chain: string;
    line: number;
    file: string | undefined;
    src: Negatable<Cidr> | undefined = undefined;
    dst: Negatable<Cidr> | undefined = undefined;
    inIface: Rule['inIface'] = undefined;
    outIface: Rule['outIface'] = undefined;
    proto: Rule['proto'] = undefined;
    fragment: Rule['fragment'] = undefined;
    matches: Match[] = NO_MATCHES;
    target: Target = NO_TARGET;
    counters: Counters | undefined = undefined;
    provenance: Rule['provenance'] = undefined;
    constructor(table: TableName, chain: string, line: number, file: string | undefined) {
      this.table = table;
      this.chain = chain;
      this.line = line;
      this.file = file;
    }
    get text(): string {
      let s = RULE_TEXT.get(this);
      if (s === undefined) RULE_TEXT.set(this, (s = formatRule(this as unknown as Rule, family)));
      return s;
    }
    set text(v: string) {
      RULE_TEXT.set(this, v);
    }
    toJSON(): object {
      return { ...this, text: this.text };
    }
  };
}
const ParsedRule4 = parsedRuleClass(4);
const ParsedRule6 = parsedRuleClass(6);

/** The target of a rule without -j/-g (never changed: targetOption takes no option for it). */
const NO_TARGET: Target = { kind: 'none' };

/** A new parsed rule of `family`. */
function newRule(table: TableName, chain: string, line: number, file: string | undefined, family: Family): Rule {
  return (family === 4 ? new ParsedRule4(table, chain, line, file) : new ParsedRule6(table, chain, line, file)) as unknown as Rule;
}

/** An exact-size copy of a rule's matches, from array literals for the usual counts (see newRule). */
function exactMatches(ms: readonly Match[], n: number): Match[] {
  switch (n) {
    case 0:
      return [];
    case 1:
      return [ms[0]!];
    case 2:
      return [ms[0]!, ms[1]!];
    case 3:
      return [ms[0]!, ms[1]!, ms[2]!];
    case 4:
      return [ms[0]!, ms[1]!, ms[2]!, ms[3]!];
    default:
      return ms.slice(0, n);
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

function needPorts(t: Target): never {
  throw new TokenError('Need TCP, UDP, SCTP or DCCP with port specification', `-j ${t.kind}`);
}

/** Checks the extensions do at load (libxt_*.c final checks, ipt_REJECT/xt_nat checkentry). */
function checkTarget(rule: Rule): void {
  const t = rule.target;
  const proto = rule.proto && !rule.proto.neg ? rule.proto.num : 0;
  const portsOk = proto === PROTO.TCP || proto === PROTO.UDP || proto === PROTO.SCTP || proto === 33; /* dccp */
  switch (t.kind) {
    case 'REJECT':
      if (t.with === 'tcp-reset' && proto !== PROTO.TCP) throw new TokenError('REJECT --reject-with tcp-reset is only valid with -p tcp', '--reject-with');
      break;
    case 'DNAT':
    case 'SNAT':
      if (t.ranges.length === 0 && t.kind === 'SNAT') throw new TokenError('SNAT needs --to-source', '-j SNAT');
      if (t.ranges.length === 0 && t.kind === 'DNAT') throw new TokenError('DNAT needs --to-destination', '-j DNAT');
      if (t.ranges.some((r) => r.minPort !== undefined) && !portsOk) needPorts(t);
      break;
    case 'MASQUERADE':
    case 'REDIRECT':
      if (t.ports && !portsOk) needPorts(t);
      break;
    case 'MARK':
    case 'CONNMARK':
      break;
    default:
      break;
  }
}

/**
 * The nesting height of every chain of a validated table (by its chains map): a later restore on a
 * copy of it validates only the chains it changed, as long as no unchanged chain can reach them.
 */
const HEIGHTS = new WeakMap<ReadonlyMap<string, Chain>, Heights>();

/** Heights of a table's chains: those found for a copy, over those of the table it copies. */
class Heights {
  readonly depth: number;
  private own: ReadonlyMap<string, { readonly height: number }> | undefined;
  /**
   * `own` is the heights by name, or `[names, heights]` (by position), made into a map when first
   * asked: a table validated once and never copied needs none.
   */
  constructor(
    own: ReadonlyMap<string, { readonly height: number }> | readonly [readonly string[], Int32Array],
    private readonly parent?: Heights,
  ) {
    this.depth = parent ? parent.depth + 1 : 0;
    if (own instanceof Map) this.own = own;
    else this.byPosition = own as readonly [readonly string[], Int32Array];
  }
  private byPosition: readonly [readonly string[], Int32Array] | undefined;
  get(name: string): number | undefined {
    let own = this.own;
    if (own === undefined) {
      const [names, heights] = this.byPosition!;
      const m = new Map<string, { height: number }>();
      for (let i = 0; i < names.length; i++) m.set(names[i]!, { height: heights[i]! });
      this.own = own = m;
      this.byPosition = undefined;
    }
    const h = own.get(name);
    return h !== undefined ? h.height : this.parent?.get(name);
  }
}

/**
 * The jumps of a table as the fast path read them, by chain position in table.order: one
 * (from, to, line) per jumping rule, in the order of the input. Valid while the table was built by
 * declarations and appends only (rules then stand in their chains in input order).
 */
class JumpGraph {
  private edges = new Int32Array(3 * 1024);
  private n = 0;

  add(from: number, to: number, line: number): void {
    let e = this.edges;
    if (this.n * 3 + 3 > e.length) {
      const bigger = new Int32Array(e.length * 2);
      bigger.set(e);
      this.edges = e = bigger;
    }
    const k = this.n++ * 3;
    e[k] = from;
    e[k + 1] = to;
    e[k + 2] = line;
  }

  /**
   * Per chain position (of `chains` chains), its jumps in input order: targets[start[c]…start[c+1])
   * with their lines (a stable counting sort of the edges by their source).
   */
  adjacency(chains: number): { start: Int32Array; targets: Int32Array; lines: Int32Array } {
    const { edges, n } = this;
    const start = new Int32Array(chains + 1);
    for (let k = 0; k < n; k++) start[edges[k * 3]! + 1]!++;
    for (let c = 0; c < chains; c++) start[c + 1]! += start[c]!;
    const fill = start.slice(0, chains);
    const targets = new Int32Array(n);
    const lines = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const at = fill[edges[k * 3]!]!++;
      targets[at] = edges[k * 3 + 1]!;
      lines[at] = edges[k * 3 + 2]!;
    }
    return { start, targets, lines };
  }
}
/** Beyond this many layers of copies, a table is validated whole again (lookups stay short). */
const MAX_HEIGHT_LAYERS = 8;

/**
 * Validates a committed table: jump targets exist, no loops, nesting within NFT_JUMP_STACK_SIZE.
 * On a copy of a validated table (a ChainMap over it) whose changed chains are all built-in or new
 * (nothing unchanged can jump to them: built-ins are no jump targets and new names were not there),
 * only the changed chains are visited; the unchanged keep their heights. Otherwise all are.
 */
function checkTable(t: Table, family: Family, file?: string, owned?: Owned, graph?: JumpGraph): void {
  void family;
  const baseMap = t.chains instanceof ChainMap ? t.chains.origin() : undefined;
  if (graph !== undefined && baseMap === undefined) {
    checkGraph(t, graph, file);
    return;
  }
  const known = baseMap ? HEIGHTS.get(baseMap) : undefined;
  let incremental = known !== undefined && owned !== undefined && known.depth < MAX_HEIGHT_LAYERS;
  const dirty: string[] = [];
  if (incremental) {
    for (const [name, ch] of (t.chains as ChainMap).ownEntries()) {
      if (!owned!.has(ch, t)) continue;
      if (!ch.builtin && baseMap!.has(name)) {
        incremental = false;
        break;
      }
      dirty.push(name);
    }
    // a deleted base chain: whatever jumped to it must be checked again
    if ((t.chains as ChainMap).deletedCount() > 0) incremental = false;
  }
  /** Per chain: its nesting height once known; ON_PATH while its own rules are being visited. */
  const ON_PATH = -1;
  const UNSEEN = -2;
  const nodes = new Map<string, { chain: Chain; height: number }>();
  if (!incremental) for (const [name, chain] of t.chains) nodes.set(name, { chain, height: UNSEEN });
  // Consecutive rules often jump to the same chain (KUBE-MARK-MASQ): remember the last lookup.
  let lastName = '';
  let lastNode: { chain: Chain; height: number } | undefined;
  const lookup = (name: string): { chain: Chain; height: number } | undefined => {
    let node = nodes.get(name);
    if (node === undefined && incremental) {
      // an unchanged chain of the copied table: its height is known
      const chain = t.chains.get(name);
      if (!chain) return undefined;
      const h = owned!.has(chain, t) ? undefined : known!.get(name);
      node = { chain, height: h ?? UNSEEN };
      nodes.set(name, node);
    }
    return node;
  };
  const visit = (name: string, via: Rule | undefined): number => {
    let node: { chain: Chain; height: number } | undefined;
    if (name === lastName) node = lastNode;
    else {
      node = incremental ? lookup(name) : nodes.get(name);
      lastName = name;
      lastNode = node;
    }
    if (!node) throw new RulesetParseError(`jump to missing chain "${name}"`, { file, line: via?.line, token: name });
    const h = node.height;
    if (h >= 0) return h;
    if (h === ON_PATH) {
      throw new RulesetParseError(`loop in table ${t.name}: chain ${name} reaches itself (iptables-restore fails with ELOOP)`, { file, line: via?.line, token: name });
    }
    node.height = ON_PATH;
    let max = 0;
    const rules = node.chain.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      const tg = r.target;
      if (tg.kind === 'JUMP' || tg.kind === 'GOTO') {
        const d = 1 + visit(tg.chain, r);
        if (d > max) max = d;
      }
    }
    node.height = max;
    return max;
  };
  const check = (name: string): void => {
    const h = visit(name, undefined);
    // nft_chain_validate: a chain validated at level NFT_JUMP_STACK_SIZE (16) fails with EMLINK.
    if (h >= NFT_JUMP_STACK_SIZE && t.chains.get(name)!.builtin) {
      throw new RulesetParseError(`chain ${name} of table ${t.name} nests jumps ${h} deep; the kernel allows ${NFT_JUMP_STACK_SIZE - 1} (EMLINK)`, { file, token: name });
    }
  };
  if (incremental) {
    for (const name of dirty) check(name);
    HEIGHTS.set(t.chains, new Heights(nodes, known));
    return;
  }
  for (const name of t.order) check(name);
  HEIGHTS.set(t.chains, new Heights(nodes));
}

/**
 * checkTable over the jumps the fast path recorded (a table this restore made from declarations and
 * appends): the same walk in the same order, by chain position instead of by name, so it finds the
 * same heights and reports the same first error.
 */
function checkGraph(t: Table, graph: JumpGraph, file: string | undefined): void {
  const names = t.order;
  const n = names.length;
  const { start, targets, lines } = graph.adjacency(n);
  const ON_PATH = -1;
  const UNSEEN = -2;
  const height = new Int32Array(n).fill(UNSEEN);
  const visit = (c: number, viaLine: number | undefined): number => {
    const h = height[c]!;
    if (h >= 0) return h;
    if (h === ON_PATH) {
      throw new RulesetParseError(`loop in table ${t.name}: chain ${names[c]} reaches itself (iptables-restore fails with ELOOP)`, { file, line: viaLine, token: names[c] });
    }
    height[c] = ON_PATH;
    let max = 0;
    for (let k = start[c]!, end = start[c + 1]!; k < end; k++) {
      const d = 1 + visit(targets[k]!, lines[k]!);
      if (d > max) max = d;
    }
    height[c] = max;
    return max;
  };
  for (let c = 0; c < n; c++) {
    const h = visit(c, undefined);
    if (h >= NFT_JUMP_STACK_SIZE && t.chains.get(names[c]!)!.builtin) {
      throw new RulesetParseError(`chain ${names[c]} of table ${t.name} nests jumps ${h} deep; the kernel allows ${NFT_JUMP_STACK_SIZE - 1} (EMLINK)`, { file, token: names[c] });
    }
  }
  HEIGHTS.set(t.chains, new Heights([names.slice(), height]));
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

