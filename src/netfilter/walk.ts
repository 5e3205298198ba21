/**
 * The table walk: one table at one hook, as ipt_do_table (net/ipv4/netfilter/ip_tables.c) runs
 * it — and, for iptables-nft, nft_do_chain (net/netfilter/nf_tables_core.c) with its jump stack.
 * Rules are tested in order; jump pushes a return point, goto does not, RETURN (or the end of a
 * user chain) pops, the end of a built-in chain applies its policy. Every rule tested is reported
 * through env.rec by this code; with NO_TRACE nothing is stored.
 */
import { assertNever, cidrContains, parseIp } from '../base/index.js';
import type { Ip } from '../base/index.js';
import type { ChainStep, RuleStep, RuleVerdict } from '../trace/index.js';
import { NFT_JUMP_STACK_SIZE } from './iptables-save.js';
import { ifaceMatches, isImpure, testMatch } from './matches.js';
import type { MatchCtx } from './matches.js';
import { PROTO, REJECT_ICMP } from './names.js';
import type {
  Chain,
  CompileOptions,
  CompiledRuleset,
  HookName,
  NfConntrack,
  NfEnv,
  NfPacket,
  Rule,
  Ruleset,
  TableName,
  TableResult,
} from './types.js';
import { mask4, parseV4 } from './util.js';

/** One rule prepared for testing: the ipt_entry address checks as numbers. */
interface CRule {
  rule: Rule;
  /** 1-based position in its chain. */
  pos: number;
  where: string;
  src4?: { net: number; mask: number; neg: boolean };
  dst4?: { net: number; mask: number; neg: boolean };
}

/** A chain prepared for walking, with its (dst, proto, dport) index when it has one. */
interface CChain {
  chain: Chain;
  table: TableName;
  rules: CRule[];
  index?: ChainIndex;
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

class Compiled implements CompiledRuleset {
  readonly tables = new Map<TableName, Map<string, CChain>>();
  constructor(
    readonly ruleset: Ruleset,
    readonly indexed: boolean,
  ) {}
}

/** Minimum indexable rules for a chain to get an index (smaller chains are walked linearly). */
const INDEX_MIN_RULES = 8;

/**
 * Prepares a ruleset for walking: chain lookups, numeric address checks and the per-chain
 * (dst, proto, dport) indexes. Call again whenever the ruleset changes; never per packet.
 */
export function compileRuleset(ruleset: Ruleset, opts: CompileOptions = {}): CompiledRuleset {
  const c = new Compiled(ruleset, opts.index ?? true);
  for (const [tn, t] of ruleset.tables) {
    const chains = new Map<string, CChain>();
    for (const [cn, ch] of t.chains) {
      const rules = ch.rules.map((rule, i) => compileRule(rule, i + 1, ruleset.family, tn));
      const cc: CChain = { chain: ch, table: tn, rules };
      if (c.indexed) {
        const index = buildIndex(rules, ruleset.family);
        if (index) cc.index = index;
      }
      chains.set(cn, cc);
    }
    c.tables.set(tn, chains);
  }
  return c;
}

function compileRule(rule: Rule, pos: number, family: 4 | 6, table: TableName): CRule {
  const cr: CRule = { rule, pos, where: `statistic ${table}/${rule.chain} rule ${pos}` };
  if (family === 4) {
    if (rule.src) cr.src4 = { net: rule.src.value.network.n as number, mask: mask4(rule.src.value.prefix), neg: rule.src.neg };
    if (rule.dst) cr.dst4 = { net: rule.dst.value.network.n as number, mask: mask4(rule.dst.value.prefix), neg: rule.dst.neg };
  }
  return cr;
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

/** Positions (0-based) the walk must test in this chain for this packet, in order. */
function candidates(ix: ChainIndex, dst: Ip, pkt: NfPacket): number[] {
  let hits: number[] = EMPTY;
  if (pkt.dport !== undefined && !pkt.fragment) hits = ix.byDst.get(dst.n)?.get(pkt.proto * 65536 + pkt.dport) ?? EMPTY;
  if (hits.length === 0) return ix.rest;
  if (ix.rest.length === 0) return hits;
  const out: number[] = [];
  let a = 0;
  let b = 0;
  while (a < hits.length || b < ix.rest.length) {
    if (b >= ix.rest.length || (a < hits.length && hits[a]! < ix.rest[b]!)) out.push(hits[a++]!);
    else out.push(ix.rest[b++]!);
  }
  return out;
}

/** Models ip_packet_match (ip_tables.c) / ip6_packet_match: addresses, interfaces, protocol, fragment. */
function basicMatch(cr: CRule, pkt: NfPacket, src: Ip, dst: Ip): boolean {
  const r = cr.rule;
  if (cr.src4) {
    if ((((src.n as number) & cr.src4.mask) >>> 0 === cr.src4.net) === cr.src4.neg) return false;
  } else if (r.src && cidrContains(r.src.value, src) === r.src.neg) return false;
  if (cr.dst4) {
    if ((((dst.n as number) & cr.dst4.mask) >>> 0 === cr.dst4.net) === cr.dst4.neg) return false;
  } else if (r.dst && cidrContains(r.dst.value, dst) === r.dst.neg) return false;
  if (r.inIface && ifaceMatches(r.inIface.name, pkt.inIface) === r.inIface.neg) return false;
  if (r.outIface && ifaceMatches(r.outIface.name, pkt.outIface) === r.outIface.neg) return false;
  if (r.proto && (pkt.proto === r.proto.num) === r.proto.neg) return false;
  if (r.fragment && !!pkt.fragment === r.fragment.neg) return false;
  return true;
}

function ruleMatches(cr: CRule, c: MatchCtx): boolean {
  if (!basicMatch(cr, c.pkt, c.src, c.dst)) return false;
  const ms = cr.rule.matches;
  for (let i = 0; i < ms.length; i++) if (!testMatch(ms[i]!, c, cr.where)) return false;
  return true;
}

function parsePacketIp(text: string, family: 4 | 6, what: string): Ip {
  if (family === 4) {
    const n = parseV4(text);
    if (n < 0) throw new RangeError(`packet ${what} "${text}" is not an IPv4 address`);
    return { family: 4, n };
  }
  const ip = parseIp(text);
  if (ip.family !== 6) throw new RangeError(`packet ${what} "${text}" is not an IPv6 address`);
  return ip;
}

interface Frame {
  cc: CChain;
  /** Positions to test (indexed), or undefined for every rule in order. */
  seq: number[] | undefined;
  /** Next index into seq (or into the rules). */
  k: number;
  /** Position (1-based) of the last rule tested here: what a linear walk would have reached. */
  reached: number;
  evaluated: number;
  /** Recorder steps to close when this frame ends (its chain step, plus the jump rule step). */
  opens: number;
  step: ChainStep | undefined;
  /** The built-in chain left by a goto: its remaining rules are not tested. */
  goneAway?: boolean;
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
  const src = parsePacketIp(pkt.src, pkt.family, 'source');
  const dst = parsePacketIp(pkt.dst, pkt.family, 'destination');
  const ctx: MatchCtx = { pkt, ct, env, src, dst };
  const rec = env.rec;
  const tracing = rec.enabled;
  let evaluated = 0;
  let linear = 0;
  let entered = 0;
  let untrack = false;
  const stack: Frame[] = [];

  const enter = (cc: CChain, opens: number): Frame => {
    entered++;
    let step: ChainStep | undefined;
    if (tracing) {
      step = { kind: 'chain', table, chain: cc.chain.name, evaluated: 0, linearEvaluated: 0, text: `${table} ${cc.chain.name}` };
      rec.open(step);
    }
    const seq = cc.index ? candidates(cc.index, dst, pkt) : undefined;
    return { cc, seq, k: 0, reached: 0, evaluated: 0, opens: opens + (tracing ? 1 : 0), step };
  };
  /** Ends a frame: its linear count, and closes its recorder steps. `ranOut`: the chain's end was reached. */
  const leave = (f: Frame, ranOut: boolean): void => {
    const lin = ranOut ? f.cc.rules.length : f.reached;
    linear += lin;
    if (f.step) {
      f.step.evaluated = f.evaluated;
      f.step.linearEvaluated = lin;
      f.step.text = `${table} ${f.cc.chain.name}: ${f.evaluated} rule(s) evaluated (${lin} by a linear walk)`;
    }
    for (let i = 0; i < f.opens; i++) rec.close();
  };
  const finish = (res: Omit<TableResult, 'evaluated' | 'linearEvaluated'>): TableResult => {
    // Close every frame still open, innermost first.
    for (let i = stack.length - 1; i >= 0; i--) leave(stack[i]!, false);
    const out: TableResult = { ...res, evaluated, linearEvaluated: linear };
    if (untrack) out.untrack = true;
    return out;
  };
  const ruleStep = (cr: CRule, verdict: RuleVerdict, open: boolean): void => {
    if (!tracing) return;
    const s: RuleStep = { kind: 'rule', table, chain: cr.rule.chain, index: cr.pos, rule: cr.rule.text, verdict, text: `${cr.rule.text}  → ${verdict}` };
    if (cr.rule.provenance) s.provenance = cr.rule.provenance;
    if (open) rec.open(s);
    else rec.add(s);
  };

  stack.push(enter(base, 0));
  for (;;) {
    const f = stack[stack.length - 1]!;
    const rules = f.cc.rules;
    let i: number;
    if (f.seq) i = f.k < f.seq.length ? f.seq[f.k]! : -1;
    else i = f.k < rules.length ? f.k : -1;
    if (i < 0) {
      // End of chain: a user chain returns, a built-in applies its policy.
      if (stack.length === 1) {
        if (!f.goneAway) f.reached = rules.length;
        const policy = f.cc.chain.policy ?? 'ACCEPT';
        if (tracing) rec.add({ kind: 'policy', table, chain: f.cc.chain.name, policy, text: `${table} ${f.cc.chain.name} policy ${policy}` });
        return finish({ verdict: policy });
      }
      stack.pop();
      leave(f, true);
      continue;
    }
    f.k++;
    const cr = rules[i]!;
    f.reached = cr.pos;
    f.evaluated++;
    evaluated++;
    if (!ruleMatches(cr, ctx)) {
      ruleStep(cr, 'no-match', false);
      continue;
    }
    const t = cr.rule.target;
    switch (t.kind) {
      case 'none':
      case 'LOG':
      case 'NFLOG':
      case 'TRACE':
        ruleStep(cr, 'continue', false);
        continue;
      case 'ACCEPT':
        ruleStep(cr, 'accept', false);
        return finish({ verdict: 'ACCEPT', rule: cr.rule });
      case 'DROP':
        ruleStep(cr, 'drop', false);
        return finish({ verdict: 'DROP', rule: cr.rule });
      case 'QUEUE':
        ruleStep(cr, 'queue', false);
        return finish({ verdict: 'QUEUE', rule: cr.rule });
      case 'REJECT': {
        ruleStep(cr, 'reject', false);
        const reject = t.with === 'tcp-reset' ? { with: t.with, rule: cr.rule } : { with: t.with, icmp: { ...REJECT_ICMP[t.with] }, rule: cr.rule };
        return finish({ verdict: 'REJECT', reject, rule: cr.rule });
      }
      case 'DNAT':
      case 'SNAT':
        ruleStep(cr, t.kind === 'DNAT' ? 'dnat' : 'snat', false);
        return finish({ verdict: 'ACCEPT', rule: cr.rule, nat: { type: t.kind, ranges: t.ranges.map((r) => ({ ...r })), flags: { ...t.flags }, rule: cr.rule } });
      case 'MASQUERADE':
      case 'REDIRECT': {
        ruleStep(cr, t.kind === 'MASQUERADE' ? 'masquerade' : 'redirect', false);
        const ranges = t.ports ? [{ minPort: t.ports.lo, maxPort: t.ports.hi }] : [];
        return finish({ verdict: 'ACCEPT', rule: cr.rule, nat: { type: t.kind, ranges, flags: { ...t.flags }, rule: cr.rule } });
      }
      case 'MARK':
        // mark_tg (xt_mark.c): skb->mark = (skb->mark & ~info->mask) ^ info->mark
        pkt.mark = ((pkt.mark & ~t.mask) ^ t.value) >>> 0;
        ruleStep(cr, 'continue', false);
        continue;
      case 'CONNMARK':
        // connmark_tg_shift (xt_connmark.c), shift 0; no conntrack entry → no effect.
        if (ct && ct.state !== 'INVALID' && ct.state !== 'UNTRACKED') {
          if (t.mode === 'set') ct.mark = ((ct.mark & ~t.mask) ^ t.value) >>> 0;
          else if (t.mode === 'save') ct.mark = ((ct.mark & ~t.ctmask) ^ (pkt.mark & t.nfmask)) >>> 0;
          else pkt.mark = ((pkt.mark & ~t.nfmask) ^ (ct.mark & t.ctmask)) >>> 0;
        }
        ruleStep(cr, 'continue', false);
        continue;
      case 'CT':
      case 'NOTRACK':
        // xt_CT: --notrack attaches the untracked template; the walk goes on (XT_CONTINUE).
        if (t.kind === 'NOTRACK' || t.notrack) {
          untrack = true;
          ruleStep(cr, 'notrack', false);
        } else ruleStep(cr, 'continue', false);
        continue;
      case 'RETURN':
        ruleStep(cr, 'return', false);
        if (stack.length === 1) {
          // RETURN in a built-in chain: the policy decides (the underflow rule).
          const policy = f.cc.chain.policy ?? 'ACCEPT';
          if (tracing) rec.add({ kind: 'policy', table, chain: f.cc.chain.name, policy, text: `${table} ${f.cc.chain.name} policy ${policy}` });
          return finish({ verdict: policy });
        }
        stack.pop();
        leave(f, false);
        continue;
      case 'JUMP':
      case 'GOTO': {
        const next = chains.get(t.chain);
        if (!next) {
          ruleStep(cr, t.kind === 'JUMP' ? 'jump' : 'goto', false);
          return finish({ verdict: 'DROP', rule: cr.rule, error: `jump to missing chain ${t.chain}` });
        }
        if (t.kind === 'JUMP' && stack.length >= NFT_JUMP_STACK_SIZE) {
          ruleStep(cr, 'jump', false);
          return finish({ verdict: 'DROP', rule: cr.rule, error: `jump stack exhausted: more than ${NFT_JUMP_STACK_SIZE} nested jumps (NFT_JUMP_STACK_SIZE)` });
        }
        if (entered > LOOP_GUARD) {
          ruleStep(cr, t.kind === 'JUMP' ? 'jump' : 'goto', false);
          return finish({ verdict: 'DROP', rule: cr.rule, error: `loop: more than ${LOOP_GUARD} chains entered` });
        }
        ruleStep(cr, t.kind === 'JUMP' ? 'jump' : 'goto', true);
        const opens = tracing ? 1 : 0;
        if (t.kind === 'JUMP') stack.push(enter(next, opens));
        else {
          // goto: the called chain replaces this one; its end returns to this chain's caller.
          // (In a built-in chain the policy still applies at the end: the base frame stays.)
          if (stack.length === 1) {
            // From a built-in chain: nothing is pushed, so the called chain's end hits the
            // underflow (the policy); the built-in's remaining rules are skipped.
            f.k = Number.MAX_SAFE_INTEGER;
            f.goneAway = true;
            stack.push(enter(next, opens));
          } else {
            stack.pop();
            const lin = f.reached;
            linear += lin;
            if (f.step) {
              f.step.evaluated = f.evaluated;
              f.step.linearEvaluated = lin;
              f.step.text = `${table} ${f.cc.chain.name}: ${f.evaluated} rule(s) evaluated (${lin} by a linear walk)`;
            }
            const nf = enter(next, opens);
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
