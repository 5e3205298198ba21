/**
 * The table walk: one table at one hook, as ipt_do_table (net/ipv4/netfilter/ip_tables.c) runs
 * it — and, for iptables-nft, nft_do_chain (net/netfilter/nf_tables_core.c) with its jump stack.
 * Rules are tested in order; jump pushes a return point, goto does not, RETURN (or the end of a
 * user chain) pops, the end of a built-in chain applies its policy. Every rule tested is reported
 * through env.rec by this code; with NO_TRACE nothing is stored.
 */
import { assertNever, cidrContains, parseIp } from '../base/index.js';
import type { Ip } from '../base/index.js';
import type { ChainStep, RuleStep, RuleVerdict, TraceRecorder } from '../trace/index.js';
import { NFT_JUMP_STACK_SIZE } from './iptables-save.js';
import { ifaceMatches, isImpure, statisticOdds, testMatch } from './matches.js';
import type { MatchCtx } from './matches.js';
import { PROTO, REJECT_ICMP } from './names.js';
import type {
  Chain,
  CompileOptions,
  CompiledRuleset,
  HookName,
  Match,
  NfConntrack,
  NfEnv,
  NfNatRange,
  NfPacket,
  Rule,
  Ruleset,
  Table,
  TableName,
  TableResult,
} from './types.js';
import { mask4, parseV4 } from './util.js';

/** One rule prepared for testing: the ipt_entry address checks as numbers (IPv4). */
interface CRule {
  rule: Rule;
  /** 1-based position in its chain. */
  pos: number;
  /** Branch-point label of its statistic match ('' when it has none). */
  where: string;
  /**
   * The matches to test, in order: the rule's, less those that always match and do nothing
   * (comment, nfacct, limit), so skipping them changes no outcome.
   */
  tests: Match[];
  /** Per test: the [p, 1 - p] a random statistic match offers the chooser (undefined for others). */
  odds: (readonly number[] | undefined)[] | undefined;
  /** -s as numbers: tested when hasSrc4 (IPv4 rules with -s). */
  hasSrc4: boolean;
  srcNet: number;
  srcMask: number;
  srcNeg: boolean;
  hasDst4: boolean;
  dstNet: number;
  dstMask: number;
  dstNeg: boolean;
}

/** A chain prepared for walking, with its (dst, proto, dport) index when it has one. */
interface CChain {
  chain: Chain;
  table: TableName;
  family: 4 | 6;
  rules: CRule[];
  index: ChainIndex | undefined;
}

/**
 * Rules of the form `-d IP/32 -p P … -m P --dport N …` by (dst, proto, dport), plus the
 * positions of every other rule. Merged per packet in position order, so first-match order holds.
 */
interface ChainIndex {
  byDst: Map<number | bigint, Map<number, number[]>>;
  /** 0-based positions of rules the index cannot exclude, ascending. */
  rest: number[];
}

/**
 * A compiled table: each chain compiled when a walk first reaches it. A compiled chain depends only
 * on its Chain object (jumps are resolved by name at walk time), so rulesets that share Chain
 * objects — the nodes of a World that kube-proxy programs alike — share the compiled chain, its
 * index included.
 */
class CTable {
  private readonly own = new Map<string, CChain | null>();
  constructor(
    private readonly t: Table,
    private readonly family: 4 | 6,
    private readonly indexed: boolean,
  ) {}
  get(name: string): CChain | undefined {
    const cc = this.own.get(name);
    if (cc !== undefined) return cc ?? undefined;
    const chain = this.t.chains.get(name);
    const made = chain ? compiledChain(chain, this.t.name, this.family, this.indexed) : null;
    this.own.set(name, made);
    return made ?? undefined;
  }
}

/** Compiled chains by Chain object, with and without the index (weak: a dropped ruleset frees them). */
const COMPILED: Readonly<Record<'indexed' | 'linear', WeakMap<Chain, CChain>>> = { indexed: new WeakMap(), linear: new WeakMap() };

function compiledChain(chain: Chain, table: TableName, family: 4 | 6, indexed: boolean): CChain {
  const cache = COMPILED[indexed ? 'indexed' : 'linear'];
  let cc = cache.get(chain);
  if (cc && cc.table === table && cc.family === family) return cc;
  const rules = chain.rules.map((rule, i) => compileRule(rule, i + 1, family, table));
  cc = { chain, table, family, rules, index: indexed ? buildIndex(rules, family) : undefined };
  cache.set(chain, cc);
  return cc;
}

class Compiled implements CompiledRuleset {
  readonly tables = new Map<TableName, CTable>();
  constructor(
    readonly ruleset: Ruleset,
    readonly indexed: boolean,
  ) {}
}

/** Minimum indexable rules for a chain to get an index (smaller chains are walked linearly). */
const INDEX_MIN_RULES = 8;

/**
 * Prepares a ruleset for walking: chain lookups, numeric address checks and the per-chain
 * (dst, proto, dport) indexes, each chain when a walk first reaches it. Call again whenever the
 * ruleset changes; never per packet.
 */
export function compileRuleset(ruleset: Ruleset, opts: CompileOptions = {}): CompiledRuleset {
  const c = new Compiled(ruleset, opts.index ?? true);
  for (const [tn, t] of ruleset.tables) c.tables.set(tn, new CTable(t, ruleset.family, c.indexed));
  return c;
}

/** Compiles every chain now (what a walk would do on first reaching each): for benchmarks and checks. */
export function compileAllChains(rs: CompiledRuleset): void {
  if (!(rs instanceof Compiled)) throw new TypeError('compileAllChains needs a ruleset from compileRuleset()');
  for (const [tn, t] of rs.ruleset.tables) for (const name of t.chains.keys()) rs.tables.get(tn)!.get(name);
}

function compileRule(rule: Rule, pos: number, family: 4 | 6, table: TableName): CRule {
  let where = '';
  let tests: Match[] = rule.matches;
  let odds: (readonly number[] | undefined)[] | undefined;
  const ms = rule.matches;
  let skip = 0;
  for (let i = 0; i < ms.length; i++) {
    const k = ms[i]!.kind;
    if (k === 'comment' || k === 'nfacct' || k === 'limit') skip++;
    else if (k === 'statistic') where = `statistic ${table}/${rule.chain} rule ${pos}`;
  }
  if (skip) tests = ms.length === skip ? NO_TESTS : ms.length - skip === 1 ? [ms.find(isTested)!] : ms.filter(isTested);
  if (where) odds = tests.map((m) => (m.kind === 'statistic' && m.mode === 'random' ? statisticOdds(m) : undefined));
  const src = family === 4 ? rule.src : undefined;
  const dst = family === 4 ? rule.dst : undefined;
  return {
    rule,
    pos,
    where,
    tests,
    odds,
    hasSrc4: !!src,
    srcNet: src ? (src.value.network.n as number) : 0,
    srcMask: src ? mask4(src.value.prefix) : 0,
    srcNeg: src ? src.neg : false,
    hasDst4: !!dst,
    dstNet: dst ? (dst.value.network.n as number) : 0,
    dstMask: dst ? mask4(dst.value.prefix) : 0,
    dstNeg: dst ? dst.neg : false,
  };
}

const NO_TESTS: Match[] = [];
/** Matches that always match and do nothing are not tested. */
function isTested(m: Match): boolean {
  return m.kind !== 'comment' && m.kind !== 'nfacct' && m.kind !== 'limit';
}

/** The (dst, proto, dport) key of a rule the index can place, or undefined. */
function indexKey(r: Rule, family: 4 | 6): { dst: number | bigint; key: number } | undefined {
  if (!r.dst || r.dst.neg || r.dst.value.prefix !== (family === 4 ? 32 : 128)) return undefined;
  if (!r.proto || r.proto.neg) return undefined;
  const p = r.proto.num;
  const kind = p === PROTO.TCP ? 'tcp' : p === PROTO.UDP ? 'udp' : p === PROTO.SCTP ? 'sctp' : undefined;
  if (!kind) return undefined;
  for (const m of r.matches) {
    // A match with side effects before the port test would run even when the port differs.
    if (isImpure(m)) return undefined;
    if (m.kind === kind && m.dport && !m.dport.neg && m.dport.value.lo === m.dport.value.hi) {
      return { dst: r.dst.value.network.n, key: p * 65536 + m.dport.value.lo };
    }
  }
  return undefined;
}

function buildIndex(rules: CRule[], family: 4 | 6): ChainIndex | undefined {
  const byDst = new Map<number | bigint, Map<number, number[]>>();
  const rest: number[] = [];
  let indexed = 0;
  for (let i = 0; i < rules.length; i++) {
    const k = indexKey(rules[i]!.rule, family);
    if (!k) {
      rest.push(i);
      continue;
    }
    indexed++;
    let m = byDst.get(k.dst);
    if (!m) byDst.set(k.dst, (m = new Map()));
    const list = m.get(k.key);
    if (list) list.push(i);
    else m.set(k.key, [i]);
  }
  if (indexed < INDEX_MIN_RULES) return undefined;
  return { byDst, rest };
}

const EMPTY: number[] = [];

/** The index's candidates for this packet (the rest of the chain's rules are merged in by the walk). */
function indexHits(ix: ChainIndex, dst: number | bigint, pkt: NfPacket): number[] {
  if (pkt.dport === undefined || pkt.fragment) return EMPTY;
  return ix.byDst.get(dst)?.get(pkt.proto * 65536 + pkt.dport) ?? EMPTY;
}

/** Models ip_packet_match (ip_tables.c) / ip6_packet_match: addresses, interfaces, protocol, fragment. */
function basicMatch(cr: CRule, c: MatchCtx): boolean {
  const r = cr.rule;
  const pkt = c.pkt;
  if (cr.hasSrc4) {
    if (((c.src4 & cr.srcMask) >>> 0 === cr.srcNet) === cr.srcNeg) return false;
  } else if (r.src && cidrContains(r.src.value, c.src ?? ip4(c.src4)) === r.src.neg) return false;
  if (cr.hasDst4) {
    if (((c.dst4 & cr.dstMask) >>> 0 === cr.dstNet) === cr.dstNeg) return false;
  } else if (r.dst && cidrContains(r.dst.value, c.dst ?? ip4(c.dst4)) === r.dst.neg) return false;
  if (r.inIface && ifaceMatches(r.inIface.name, pkt.inIface) === r.inIface.neg) return false;
  if (r.outIface && ifaceMatches(r.outIface.name, pkt.outIface) === r.outIface.neg) return false;
  if (r.proto && (pkt.proto === r.proto.num) === r.proto.neg) return false;
  if (r.fragment && !!pkt.fragment === r.fragment.neg) return false;
  return true;
}

function ip4(n: number): Ip {
  return { family: 4, n };
}

function ruleMatches(cr: CRule, c: MatchCtx): boolean {
  if (!basicMatch(cr, c)) return false;
  const ms = cr.tests;
  const odds = cr.odds;
  for (let i = 0; i < ms.length; i++) if (!testMatch(ms[i]!, c, cr.where, odds ? odds[i] : undefined)) return false;
  return true;
}

function packetV4(text: string, what: string): number {
  const n = parseV4(text);
  if (n < 0) throw new RangeError(`packet ${what} "${text}" is not an IPv4 address`);
  return n;
}

function packetV6(text: string, what: string): Ip {
  const ip = parseIp(text);
  if (ip.family !== 6) throw new RangeError(`packet ${what} "${text}" is not an IPv6 address`);
  return ip;
}

/** One chain being walked. */
interface Frame {
  cc: CChain;
  /** With an index: the index's candidates for this packet, merged by position with `rest`. */
  hits: number[];
  /** With an index: the chain's rules the index cannot exclude; undefined: every rule in order. */
  rest: number[] | undefined;
  /** Next index into hits. */
  a: number;
  /** Next index into rest, or into the rules when there is no index. */
  k: number;
  /** Position (1-based) of the last rule tested here: what a linear walk would have reached. */
  reached: number;
  evaluated: number;
  /** Recorder steps to close when this frame ends (its chain step, plus the jump rule step). */
  opens: number;
  step: ChainStep | undefined;
  /** The built-in chain left by a goto: its remaining rules are not tested. */
  goneAway: boolean;
}

/** Next rule position (0-based) to test in a frame, or -1 at the chain's end. */
function nextPos(f: Frame): number {
  if (f.goneAway) return -1;
  const rest = f.rest;
  if (!rest) return f.k < f.cc.rules.length ? f.k++ : -1;
  const hits = f.hits;
  if (f.a < hits.length && (f.k >= rest.length || hits[f.a]! < rest[f.k]!)) return hits[f.a++]!;
  return f.k < rest.length ? rest[f.k++]! : -1;
}

/** The state of one table walk (one object per walk; the steps are its methods, not closures). */
class Walk {
  evaluated = 0;
  linear = 0;
  entered = 0;
  untrack = false;
  readonly stack: Frame[] = [];
  constructor(
    readonly table: TableName,
    readonly pkt: NfPacket,
    readonly rec: TraceRecorder,
    readonly tracing: boolean,
    /** The packet's destination as the index keys it. */
    readonly dstKey: number | bigint,
  ) {}

  enter(cc: CChain, opens: number): Frame {
    this.entered++;
    let step: ChainStep | undefined;
    if (this.tracing) {
      step = { kind: 'chain', table: this.table, chain: cc.chain.name, evaluated: 0, linearEvaluated: 0, text: `${this.table} ${cc.chain.name}` };
      this.rec.open(step);
    }
    const ix = cc.index;
    return {
      cc,
      hits: ix ? indexHits(ix, this.dstKey, this.pkt) : EMPTY,
      rest: ix ? ix.rest : undefined,
      a: 0,
      k: 0,
      reached: 0,
      evaluated: 0,
      opens: opens + (this.tracing ? 1 : 0),
      step,
      goneAway: false,
    };
  }

  /** Ends a frame: its linear count, and closes its recorder steps. `ranOut`: the chain's end was reached. */
  leave(f: Frame, ranOut: boolean): void {
    const lin = ranOut ? f.cc.rules.length : f.reached;
    this.linear += lin;
    if (f.step) {
      f.step.evaluated = f.evaluated;
      f.step.linearEvaluated = lin;
      f.step.text = `${this.table} ${f.cc.chain.name}: ${f.evaluated} rule(s) evaluated (${lin} by a linear walk)`;
    }
    for (let i = 0; i < f.opens; i++) this.rec.close();
  }

  /** Closes every frame still open, innermost first, and fills in the counts. */
  finish(res: TableResult): TableResult {
    const stack = this.stack;
    for (let i = stack.length - 1; i >= 0; i--) this.leave(stack[i]!, false);
    res.evaluated = this.evaluated;
    res.linearEvaluated = this.linear;
    if (this.untrack) res.untrack = true;
    return res;
  }

  ruleStep(cr: CRule, verdict: RuleVerdict, open: boolean): void {
    if (!this.tracing) return;
    const s: RuleStep = { kind: 'rule', table: this.table, chain: cr.rule.chain, index: cr.pos, rule: cr.rule.text, verdict, text: `${cr.rule.text}  → ${verdict}` };
    if (cr.rule.provenance) s.provenance = cr.rule.provenance;
    if (open) this.rec.open(s);
    else this.rec.add(s);
  }

  policy(f: Frame): TableResult {
    const policy = f.cc.chain.policy ?? 'ACCEPT';
    if (this.tracing) this.rec.add({ kind: 'policy', table: this.table, chain: f.cc.chain.name, policy, text: `${this.table} ${f.cc.chain.name} policy ${policy}` });
    return this.finish({ verdict: policy, evaluated: 0, linearEvaluated: 0 });
  }
}

/**
 * Walks `table` for a packet at `hook`. Models ipt_do_table / nft_do_chain: built-in chain of the
 * hook, rules in order, jump/goto/return, end of user chain = return, end of built-in = policy.
 * The jump stack holds NFT_JUMP_STACK_SIZE (16) return points; deeper nesting or a loop ends the
 * walk with DROP and an error (iptables-restore refuses such rulesets, so this is a guard).
 * A table without the hook's chain (or not loaded) accepts without testing anything.
 */
export function walkTable(rs: CompiledRuleset, table: TableName, hook: HookName, pkt: NfPacket, ct: NfConntrack | undefined, env: NfEnv): TableResult {
  if (!(rs instanceof Compiled)) throw new TypeError('walkTable needs a ruleset from compileRuleset()');
  const chains = rs.tables.get(table);
  const base = chains?.get(hook);
  if (!chains || !base || !base.chain.builtin) return { verdict: 'ACCEPT', evaluated: 0, linearEvaluated: 0 };
  if (pkt.family !== rs.ruleset.family) throw new RangeError(`IPv${pkt.family} packet walked through an IPv${rs.ruleset.family} ruleset`);
  let ctx: MatchCtx;
  let dstKey: number | bigint;
  if (pkt.family === 4) {
    const src4 = packetV4(pkt.src, 'source');
    const dst4 = packetV4(pkt.dst, 'destination');
    ctx = { pkt, ct, env, src4, dst4, src: undefined, dst: undefined };
    dstKey = dst4;
  } else {
    const src = packetV6(pkt.src, 'source');
    const dst = packetV6(pkt.dst, 'destination');
    ctx = { pkt, ct, env, src4: 0, dst4: 0, src, dst };
    dstKey = dst.n;
  }
  const rec = env.rec;
  const w = new Walk(table, pkt, rec, rec.enabled, dstKey);
  const stack = w.stack;

  stack.push(w.enter(base, 0));
  for (;;) {
    const f = stack[stack.length - 1]!;
    const rules = f.cc.rules;
    const i = nextPos(f);
    if (i < 0) {
      // End of chain: a user chain returns, a built-in applies its policy.
      if (stack.length === 1) {
        if (!f.goneAway) f.reached = rules.length;
        return w.policy(f);
      }
      stack.pop();
      w.leave(f, true);
      continue;
    }
    const cr = rules[i]!;
    f.reached = cr.pos;
    f.evaluated++;
    w.evaluated++;
    if (!ruleMatches(cr, ctx)) {
      w.ruleStep(cr, 'no-match', false);
      continue;
    }
    const t = cr.rule.target;
    switch (t.kind) {
      case 'none':
      case 'LOG':
      case 'NFLOG':
      case 'TRACE':
        w.ruleStep(cr, 'continue', false);
        continue;
      case 'ACCEPT':
        w.ruleStep(cr, 'accept', false);
        return w.finish({ verdict: 'ACCEPT', rule: cr.rule, evaluated: 0, linearEvaluated: 0 });
      case 'DROP':
        w.ruleStep(cr, 'drop', false);
        return w.finish({ verdict: 'DROP', rule: cr.rule, evaluated: 0, linearEvaluated: 0 });
      case 'QUEUE':
        w.ruleStep(cr, 'queue', false);
        return w.finish({ verdict: 'QUEUE', rule: cr.rule, evaluated: 0, linearEvaluated: 0 });
      case 'REJECT': {
        w.ruleStep(cr, 'reject', false);
        const reject = t.with === 'tcp-reset' ? { with: t.with, rule: cr.rule } : { with: t.with, icmp: { ...REJECT_ICMP[t.with] }, rule: cr.rule };
        return w.finish({ verdict: 'REJECT', reject, rule: cr.rule, evaluated: 0, linearEvaluated: 0 });
      }
      case 'DNAT':
      case 'SNAT': {
        w.ruleStep(cr, t.kind === 'DNAT' ? 'dnat' : 'snat', false);
        const ranges: NfNatRange[] = [];
        for (let k = 0; k < t.ranges.length; k++) ranges.push({ ...t.ranges[k]! });
        const flags = { random: t.flags.random, randomFully: t.flags.randomFully, persistent: t.flags.persistent };
        return w.finish({ verdict: 'ACCEPT', rule: cr.rule, nat: { type: t.kind, ranges, flags, rule: cr.rule }, evaluated: 0, linearEvaluated: 0 });
      }
      case 'MASQUERADE':
      case 'REDIRECT': {
        w.ruleStep(cr, t.kind === 'MASQUERADE' ? 'masquerade' : 'redirect', false);
        const ranges = t.ports ? [{ minPort: t.ports.lo, maxPort: t.ports.hi }] : [];
        const flags = { random: t.flags.random, randomFully: t.flags.randomFully, persistent: t.flags.persistent };
        return w.finish({ verdict: 'ACCEPT', rule: cr.rule, nat: { type: t.kind, ranges, flags, rule: cr.rule }, evaluated: 0, linearEvaluated: 0 });
      }
      case 'MARK':
        // mark_tg (xt_mark.c): skb->mark = (skb->mark & ~info->mask) ^ info->mark
        pkt.mark = ((pkt.mark & ~t.mask) ^ t.value) >>> 0;
        w.ruleStep(cr, 'continue', false);
        continue;
      case 'CONNMARK':
        // connmark_tg_shift (xt_connmark.c), shift 0; no conntrack entry → no effect.
        if (ct && ct.state !== 'INVALID' && ct.state !== 'UNTRACKED') {
          if (t.mode === 'set') ct.mark = ((ct.mark & ~t.mask) ^ t.value) >>> 0;
          else if (t.mode === 'save') ct.mark = ((ct.mark & ~t.ctmask) ^ (pkt.mark & t.nfmask)) >>> 0;
          else pkt.mark = ((pkt.mark & ~t.nfmask) ^ (ct.mark & t.ctmask)) >>> 0;
        }
        w.ruleStep(cr, 'continue', false);
        continue;
      case 'CT':
      case 'NOTRACK':
        // xt_CT: --notrack attaches the untracked template; the walk goes on (XT_CONTINUE).
        if (t.kind === 'NOTRACK' || t.notrack) {
          w.untrack = true;
          w.ruleStep(cr, 'notrack', false);
        } else w.ruleStep(cr, 'continue', false);
        continue;
      case 'RETURN':
        w.ruleStep(cr, 'return', false);
        // RETURN in a built-in chain: the policy decides (the underflow rule).
        if (stack.length === 1) return w.policy(f);
        stack.pop();
        w.leave(f, false);
        continue;
      case 'JUMP':
      case 'GOTO': {
        const next = chains.get(t.chain);
        if (!next) {
          w.ruleStep(cr, t.kind === 'JUMP' ? 'jump' : 'goto', false);
          return w.finish({ verdict: 'DROP', rule: cr.rule, error: `jump to missing chain ${t.chain}`, evaluated: 0, linearEvaluated: 0 });
        }
        if (t.kind === 'JUMP' && stack.length >= NFT_JUMP_STACK_SIZE) {
          w.ruleStep(cr, 'jump', false);
          return w.finish({ verdict: 'DROP', rule: cr.rule, error: `jump stack exhausted: more than ${NFT_JUMP_STACK_SIZE} nested jumps (NFT_JUMP_STACK_SIZE)`, evaluated: 0, linearEvaluated: 0 });
        }
        if (w.entered > LOOP_GUARD) {
          w.ruleStep(cr, t.kind === 'JUMP' ? 'jump' : 'goto', false);
          return w.finish({ verdict: 'DROP', rule: cr.rule, error: `loop: more than ${LOOP_GUARD} chains entered`, evaluated: 0, linearEvaluated: 0 });
        }
        w.ruleStep(cr, t.kind === 'JUMP' ? 'jump' : 'goto', true);
        const opens = w.tracing ? 1 : 0;
        if (t.kind === 'JUMP') stack.push(w.enter(next, opens));
        else {
          // goto: the called chain replaces this one; its end returns to this chain's caller.
          // (In a built-in chain the policy still applies at the end: the base frame stays.)
          if (stack.length === 1) {
            // From a built-in chain: nothing is pushed, so the called chain's end hits the
            // underflow (the policy); the built-in's remaining rules are skipped.
            f.goneAway = true;
            stack.push(w.enter(next, opens));
          } else {
            stack.pop();
            const lin = f.reached;
            w.linear += lin;
            if (f.step) {
              f.step.evaluated = f.evaluated;
              f.step.linearEvaluated = lin;
              f.step.text = `${table} ${f.cc.chain.name}: ${f.evaluated} rule(s) evaluated (${lin} by a linear walk)`;
            }
            const nf = w.enter(next, opens);
            nf.opens += f.opens;
            stack.push(nf);
          }
        }
        continue;
      }
      default:
        return assertNever(t, 'target');
    }
  }
}

/** Chains entered in one walk before it is declared a loop. */
const LOOP_GUARD = 100_000;
