/**
 * `-m` match modules: how each parses its options, prints them as iptables-save does (the
 * extension's `save` function in iptables/extensions/libxt_*.c), and tests a packet with the
 * kernel module's semantics (net/netfilter/xt_*.c). One definition per module.
 */
import { assertNever, cidrContains, formatIp, parseIp } from '../base/index.js';
import type { Cidr, Family, Ip } from '../base/index.js';
import { ADDR_TYPES, CT_STATE_ORDER, CT_STATUS_ORDER, ICMP6_TYPES, ICMP_TYPES, PROTO, PROTO_NUMBERS, TCP_FLAGS, TCP_FLAGS_ALL } from './names.js';
import type {
  AddrType,
  AddrtypeMatch,
  ConntrackMatch,
  CtStateName,
  CtStatusName,
  IpsetDim,
  Match,
  MatchKind,
  Negatable,
  NfConntrack,
  NfEnv,
  NfPacket,
  NfTupleView,
  PortRange,
  StatisticMatch,
} from './types.js';
import {
  Cursor,
  TokenError,
  formatAddrShortMask,
  formatMarkMask,
  formatPortRange,
  parseAddr,
  parseAddrMask,
  parseMarkMask,
  parsePortRange,
  parseU32,
  saveString,
} from './util.js';

/** What a match test reads. Addresses are parsed once per walk. */
export interface MatchCtx {
  pkt: NfPacket;
  ct: NfConntrack | undefined;
  env: NfEnv;
  /** IPv4: the addresses as numbers (src/dst undefined). */
  src4: number;
  dst4: number;
  /** IPv6: the addresses. */
  src: Ip | undefined;
  dst: Ip | undefined;
}

/** Module names `-m` accepts → the match kind. */
export const MATCH_MODULES: ReadonlyMap<string, MatchKind> = new Map<string, MatchKind>([
  ['tcp', 'tcp'], ['udp', 'udp'], ['sctp', 'sctp'], ['icmp', 'icmp'], ['icmp6', 'icmp6'], ['icmpv6', 'icmp6'], ['ipv6-icmp', 'icmp6'],
  ['multiport', 'multiport'], ['comment', 'comment'], ['mark', 'mark'], ['connmark', 'connmark'], ['conntrack', 'conntrack'],
  ['state', 'state'], ['addrtype', 'addrtype'], ['statistic', 'statistic'], ['recent', 'recent'], ['set', 'set'],
  ['physdev', 'physdev'], ['nfacct', 'nfacct'], ['limit', 'limit'],
]);

/** Which module a kind is printed as after `-m`. */
export function moduleName(kind: MatchKind): string {
  return kind;
}

/** A fresh match with defaults, before its options. */
export function newMatch(kind: MatchKind): Match {
  switch (kind) {
    case 'tcp':
    case 'udp':
    case 'sctp':
      return { kind };
    case 'icmp':
      return { kind, type: 0xff, codeLo: 0, codeHi: 0xff, neg: false };
    case 'icmp6':
      return { kind, type: 0xff, codeLo: 0, codeHi: 0xff, neg: false };
    case 'multiport':
      return { kind, dir: 'ports', ports: [], neg: false };
    case 'comment':
      return { kind, comment: '' };
    case 'mark':
    case 'connmark':
      return { kind, value: 0, mask: 0xffffffff, neg: false };
    case 'conntrack':
      return { kind };
    case 'state':
      return { kind, states: [], neg: false };
    case 'addrtype':
      return { kind, limitIfaceIn: false, limitIfaceOut: false };
    case 'statistic':
      return { kind, mode: 'random', probability: 0, every: 0, packet: 0, neg: false };
    case 'recent':
      return { kind, mode: 'rcheck', name: 'DEFAULT', seconds: 0, reap: false, hitcount: 0, rttl: false, side: 'rsource', mask: '', neg: false };
    case 'set':
      return { kind, name: '', dims: [], neg: false, returnNomatch: false, noUpdateCounters: false, noUpdateSubcounters: false };
    case 'physdev':
      return { kind };
    case 'nfacct':
      return { kind, name: '' };
    case 'limit':
      return { kind, avg: '3/hour', burst: 5 };
    default:
      return assertNever(kind, 'match kind');
  }
}

/** Option groups a match's final check asks about (x6_fcheck). */
const SEEN_BITS = { multiport: 1, mode: 2, probability: 4, every: 8, packet: 16, 'recent-mode': 32, 'match-set': 64 } as const;

/** Which options of one match were given, to check required ones at the end (x6_fcheck). */
export class Seen {
  private bits = 0;
  has(n: keyof typeof SEEN_BITS): boolean {
    return (this.bits & SEEN_BITS[n]) !== 0;
  }
  add(n: keyof typeof SEEN_BITS): void {
    this.bits |= SEEN_BITS[n];
  }
}

/** Matches whose final check needs to know which options were given. */
export function needsSeen(kind: MatchKind): boolean {
  return kind === 'multiport' || kind === 'statistic' || kind === 'set' || kind === 'recent';
}

function bad(m: Match, opt: string, why: string): never {
  throw new TokenError(`${m.kind}: ${why}`, opt);
}
function noNeg(m: Match, opt: string, neg: boolean): void {
  if (neg) bad(m, opt, `option "${opt}" cannot be inverted`);
}

/**
 * Offers option `opt` to match `m`. Returns false when the option is not the module's; reads
 * its arguments from `cur` otherwise. `neg` is a preceding `!`.
 */
export function matchOption(m: Match, opt: string, cur: Cursor, neg: boolean, family: Family, seen: Seen): boolean {
  switch (m.kind) {
    case 'tcp':
    case 'udp':
    case 'sctp':
      if (opt === '--sport' || opt === '--source-port') m.sport = { value: parsePortRange(cur.arg(opt), opt), neg };
      else if (opt === '--dport' || opt === '--destination-port') m.dport = { value: parsePortRange(cur.arg(opt), opt), neg };
      else if (m.kind === 'tcp' && opt === '--syn') m.flags = { mask: 0x17, comp: 0x02, neg };
      else if (m.kind === 'tcp' && opt === '--tcp-flags') {
        const mask = parseTcpFlags(cur.arg(opt), opt);
        const comp = parseTcpFlags(cur.arg(opt), opt);
        m.flags = { mask, comp, neg };
      } else if (m.kind === 'tcp' && opt === '--tcp-option') m.option = { value: parseU32(cur.arg(opt), opt), neg };
      else return false;
      return true;
    case 'icmp':
    case 'icmp6': {
      if (opt !== (m.kind === 'icmp' ? '--icmp-type' : '--icmpv6-type')) return false;
      const [type, lo, hi] = parseIcmpType(cur.arg(opt), m.kind === 'icmp' ? ICMP_TYPES : ICMP6_TYPES, opt);
      m.type = type;
      m.codeLo = lo;
      m.codeHi = hi;
      m.neg = neg;
      return true;
    }
    case 'multiport': {
      const dir = opt === '--sports' || opt === '--source-ports' ? 'sports' : opt === '--dports' || opt === '--destination-ports' ? 'dports' : opt === '--ports' ? 'ports' : undefined;
      if (!dir) return false;
      if (seen.has('multiport')) bad(m, opt, 'only one of --sports, --dports, --ports may be given');
      seen.add('multiport');
      m.dir = dir;
      m.neg = neg;
      m.ports = cur.arg(opt).split(',').map((p) => parsePortRange(p, opt));
      if (m.ports.length > 15) bad(m, opt, 'too many ports specified (at most 15)');
      return true;
    }
    case 'comment':
      if (opt !== '--comment') return false;
      noNeg(m, opt, neg);
      m.comment = cur.arg(opt);
      if (m.comment.length > 255) bad(m, opt, 'comment is longer than 255 characters (XT_MAX_COMMENT_LEN 256)');
      return true;
    case 'mark':
    case 'connmark': {
      if (opt !== '--mark') return false;
      const { value, mask } = parseMarkMask(cur.arg(opt), opt);
      m.value = value;
      m.mask = mask;
      m.neg = neg;
      return true;
    }
    case 'conntrack':
      return conntrackOption(m, opt, cur, neg, family);
    case 'state':
      if (opt !== '--state') return false;
      m.states = parseCtStates(cur.arg(opt), opt, false);
      m.neg = neg;
      return true;
    case 'addrtype': {
      if (opt === '--src-type') m.srcType = { value: parseAddrTypes(cur.arg(opt), opt), neg };
      else if (opt === '--dst-type') m.dstType = { value: parseAddrTypes(cur.arg(opt), opt), neg };
      else if (opt === '--limit-iface-in') (noNeg(m, opt, neg), (m.limitIfaceIn = true));
      else if (opt === '--limit-iface-out') (noNeg(m, opt, neg), (m.limitIfaceOut = true));
      else return false;
      if (m.limitIfaceIn && m.limitIfaceOut) bad(m, opt, 'you can\'t specify both --limit-iface-in and --limit-iface-out');
      return true;
    }
    case 'statistic':
      switch (opt) {
        case '--mode': {
          noNeg(m, opt, neg);
          const v = cur.arg(opt);
          if (v !== 'random' && v !== 'nth') bad(m, opt, `bad mode "${v}"`);
          m.mode = v as 'random' | 'nth';
          seen.add('mode');
          return true;
        }
        case '--probability': {
          const p = Number(cur.arg(opt));
          if (!(p >= 0 && p <= 1)) bad(m, opt, '--probability must be between 0 and 1');
          // libxt_statistic.c: info->u.random.probability = lround(0x80000000 * prob)
          m.probability = Math.round(0x80000000 * p);
          m.neg = neg;
          seen.add('probability');
          return true;
        }
        case '--every': {
          const e = parseU32(cur.arg(opt), opt);
          if (e === 0) bad(m, opt, '--every cannot be 0');
          m.every = e;
          m.neg = neg;
          seen.add('every');
          return true;
        }
        case '--packet':
          noNeg(m, opt, neg);
          m.packet = parseU32(cur.arg(opt), opt);
          seen.add('packet');
          return true;
        default:
          return false;
      }
    case 'recent':
      switch (opt) {
        case '--set':
        case '--rcheck':
        case '--update':
        case '--remove':
          if (seen.has('recent-mode')) bad(m, opt, 'only one of --set, --rcheck, --update or --remove may be given');
          seen.add('recent-mode');
          m.mode = opt.slice(2) as 'set' | 'rcheck' | 'update' | 'remove';
          m.neg = neg;
          return true;
        case '--seconds':
          noNeg(m, opt, neg);
          m.seconds = parseU32(cur.arg(opt), opt);
          return true;
        case '--reap':
          noNeg(m, opt, neg);
          m.reap = true;
          return true;
        case '--hitcount':
          noNeg(m, opt, neg);
          m.hitcount = parseU32(cur.arg(opt), opt);
          return true;
        case '--rttl':
          noNeg(m, opt, neg);
          m.rttl = true;
          return true;
        case '--name':
          noNeg(m, opt, neg);
          m.name = cur.arg(opt);
          return true;
        case '--rsource':
        case '--rdest':
          noNeg(m, opt, neg);
          m.side = opt.slice(2) as 'rsource' | 'rdest';
          return true;
        case '--mask': {
          noNeg(m, opt, neg);
          const t = cur.arg(opt);
          m.mask = formatIp(parseAddr(t, family, opt));
          return true;
        }
        default:
          return false;
      }
    case 'set':
      switch (opt) {
        case '--match-set':
        case '--set': {
          m.name = cur.arg(opt);
          const dims = cur.arg(opt).split(',');
          if (dims.length > 6 || dims.some((d) => d !== 'src' && d !== 'dst')) bad(m, opt, `invalid set flags "${dims.join(',')}": expected src|dst[,src|dst…]`);
          m.dims = dims as IpsetDim[];
          m.neg = neg;
          seen.add('match-set');
          return true;
        }
        case '--return-nomatch':
          noNeg(m, opt, neg);
          m.returnNomatch = true;
          return true;
        case '--update-counters':
          if (!neg) bad(m, opt, '--update-counters is the default; only "! --update-counters" is meaningful');
          m.noUpdateCounters = true;
          return true;
        case '--update-subcounters':
          if (!neg) bad(m, opt, '--update-subcounters is the default; only "! --update-subcounters" is meaningful');
          m.noUpdateSubcounters = true;
          return true;
        default:
          return false;
      }
    case 'physdev':
      switch (opt) {
        case '--physdev-in':
          m.physdevIn = { name: cur.arg(opt), neg };
          return true;
        case '--physdev-out':
          m.physdevOut = { name: cur.arg(opt), neg };
          return true;
        case '--physdev-is-in':
          m.isIn = { neg };
          return true;
        case '--physdev-is-out':
          m.isOut = { neg };
          return true;
        case '--physdev-is-bridged':
          m.isBridged = { neg };
          return true;
        default:
          return false;
      }
    case 'nfacct':
      if (opt !== '--nfacct-name') return false;
      noNeg(m, opt, neg);
      m.name = cur.arg(opt);
      return true;
    case 'limit':
      if (opt === '--limit') {
        noNeg(m, opt, neg);
        m.avg = formatRate(parseRate(cur.arg(opt), opt));
      } else if (opt === '--limit-burst') {
        noNeg(m, opt, neg);
        m.burst = parseU32(cur.arg(opt), opt);
      } else return false;
      return true;
    default:
      return assertNever(m);
  }
}

function failCheck(m: Match, why: string): never {
  throw new TokenError(`${m.kind}: ${why}`, `-m ${m.kind}`);
}

/** Checks a match once all its options are read (the extension's x6_fcheck). */
export function finishMatch(m: Match, seen: Seen, family: Family): void {
  switch (m.kind) {
    case 'multiport':
      if (!seen.has('multiport')) failCheck(m, 'one of --sports, --dports or --ports is required');
      break;
    case 'comment':
      break;
    case 'statistic':
      if (!seen.has('mode')) failCheck(m, 'no --mode given');
      if (m.mode === 'random' && !seen.has('probability')) failCheck(m, '--mode random requires --probability');
      if (m.mode === 'nth') {
        if (!seen.has('every') || !seen.has('packet')) failCheck(m, 'option "--every" also requires "--packet"');
        if (m.packet > m.every - 1) failCheck(m, '--packet must be between 0 and --every - 1');
      }
      break;
    case 'set':
      if (!seen.has('match-set')) failCheck(m, 'you must specify --match-set');
      break;
    case 'recent':
      // libxt_recent.c: the mask defaults to all ones for the family.
      if (m.mask === '') m.mask = family === 4 ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
      if (m.reap && m.mode !== 'rcheck' && m.mode !== 'update') failCheck(m, '--reap is only valid with --rcheck or --update');
      if (m.reap && !m.seconds) failCheck(m, '--reap requires --seconds');
      break;
    case 'state':
      if (m.states.length === 0) failCheck(m, '--state is required');
      break;
    default:
      break;
  }
}

// ───────────────────────────── parsing helpers ─────────────────────────────

function parseTcpFlags(text: string, opt: string): number {
  let f = 0;
  for (const name of text.split(',')) {
    if (name === 'ALL') f |= TCP_FLAGS_ALL;
    else if (name === 'NONE') continue;
    else {
      const e = TCP_FLAGS.find(([n]) => n === name);
      if (!e) throw new TokenError(`Unknown TCP flag \`${name}'`, opt);
      f |= e[1];
    }
  }
  return f;
}

function parseIcmpType(text: string, names: ReadonlyMap<string, readonly [number, number, number]>, opt: string): [number, number, number] {
  const named = names.get(text);
  if (named) return [named[0], named[1], named[2]];
  const m = /^(\d{1,3})(?:\/(\d{1,3}))?$/.exec(text);
  if (!m || Number(m[1]) > 255 || (m[2] !== undefined && Number(m[2]) > 255)) throw new TokenError(`invalid ICMP type "${text}"`, opt);
  const code = m[2] === undefined ? undefined : Number(m[2]);
  return [Number(m[1]), code ?? 0, code ?? 0xff];
}

function parseCtStates(text: string, opt: string, allowNat: boolean): CtStateName[] {
  const out: CtStateName[] = [];
  for (const s of text.split(',')) {
    const ok = CT_STATE_ORDER.includes(s as CtStateName) && (allowNat || (s !== 'SNAT' && s !== 'DNAT'));
    if (!ok) throw new TokenError(`bad state "${s}"`, opt);
    if (!out.includes(s as CtStateName)) out.push(s as CtStateName);
  }
  return CT_STATE_ORDER.filter((s) => out.includes(s));
}

function parseAddrTypes(text: string, opt: string): AddrType[] {
  const out = new Set<AddrType>();
  for (const s of text.split(',')) {
    if (!ADDR_TYPES.includes(s as AddrType)) throw new TokenError(`addrtype: invalid type "${s}"`, opt);
    out.add(s as AddrType);
  }
  return ADDR_TYPES.filter((t) => out.has(t));
}

function conntrackOption(m: ConntrackMatch, opt: string, cur: Cursor, neg: boolean, family: Family): boolean {
  const addr = (): Negatable<Cidr> => ({ value: parseAddrMask(cur.arg(opt), family, opt), neg });
  const port = (): Negatable<PortRange> => ({ value: parsePortRange(cur.arg(opt), opt), neg });
  switch (opt) {
    case '--ctstate':
      m.ctstate = { value: parseCtStates(cur.arg(opt), opt, true), neg };
      return true;
    case '--ctproto': {
      const t = cur.arg(opt);
      const n = PROTO_NUMBERS.get(t) ?? (/^\d+$/.test(t) ? Number(t) : NaN);
      if (!(n >= 0 && n <= 255)) throw new TokenError(`conntrack: unknown protocol "${t}"`, opt);
      if (n === 0) throw new TokenError('conntrack: --ctproto 0 matches nothing; rule would be useless', opt);
      m.ctproto = { value: n, neg };
      return true;
    }
    case '--ctorigsrc':
      m.ctorigsrc = addr();
      return true;
    case '--ctorigdst':
      m.ctorigdst = addr();
      return true;
    case '--ctreplsrc':
      m.ctreplsrc = addr();
      return true;
    case '--ctrepldst':
      m.ctrepldst = addr();
      return true;
    case '--ctorigsrcport':
      m.ctorigsrcport = port();
      return true;
    case '--ctorigdstport':
      m.ctorigdstport = port();
      return true;
    case '--ctreplsrcport':
      m.ctreplsrcport = port();
      return true;
    case '--ctrepldstport':
      m.ctrepldstport = port();
      return true;
    case '--ctstatus': {
      const out = new Set<CtStatusName>();
      for (const s of cur.arg(opt).split(',')) {
        if (!CT_STATUS_ORDER.includes(s as CtStatusName)) throw new TokenError(`conntrack: bad status "${s}"`, opt);
        out.add(s as CtStatusName);
      }
      m.ctstatus = { value: CT_STATUS_ORDER.filter((s) => out.has(s)), neg };
      return true;
    }
    case '--ctexpire':
      m.ctexpire = { value: parsePortRange(cur.arg(opt), opt), neg };
      return true;
    case '--ctdir': {
      if (neg) throw new TokenError('conntrack: --ctdir cannot be inverted', opt);
      const d = cur.arg(opt);
      if (d !== 'ORIGINAL' && d !== 'REPLY') throw new TokenError(`conntrack: bad direction "${d}"`, opt);
      m.ctdir = d;
      return true;
    }
    default:
      return false;
  }
}

/**
 * libxt_limit.c: XT_LIMIT_SCALE 10000; avg = SCALE * unit / rate. `parseRate` returns avg;
 * `formatRate` is print_rate (largest unit that divides evenly enough).
 */
const LIMIT_SCALE = 10000;
const LIMIT_UNITS: readonly (readonly [string, number])[] = [
  ['day', LIMIT_SCALE * 24 * 60 * 60],
  ['hour', LIMIT_SCALE * 60 * 60],
  ['min', LIMIT_SCALE * 60],
  ['sec', LIMIT_SCALE],
];
function parseRate(text: string, opt: string): number {
  const m = /^(\d+)(?:\/(s|sec|second|m|min|minute|h|hour|d|day))?$/.exec(text);
  if (!m || Number(m[1]) === 0) throw new TokenError(`bad rate "${text}"`, opt);
  const u = m[2] ?? 'sec';
  const mult = u.startsWith('s') ? 1 : u.startsWith('m') ? 60 : u.startsWith('h') ? 3600 : 86400;
  const avg = Math.floor((LIMIT_SCALE * mult) / Number(m[1]));
  if (avg === 0) throw new TokenError(`rate too fast "${text}"`, opt);
  return avg;
}
function formatRate(period: number): string {
  let i = 1;
  for (; i < LIMIT_UNITS.length; i++) {
    const mult = LIMIT_UNITS[i]![1];
    if (period > mult || Math.floor(mult / period) < mult % period) break;
  }
  const [name, mult] = LIMIT_UNITS[i - 1]!;
  return `${Math.floor(mult / period)}/${name}`;
}

// ───────────────────────────── formatting ─────────────────────────────

const negp = (neg: boolean): string => (neg ? ' !' : '');

function fmtFlags(f: number): string {
  if (f === 0) return 'NONE';
  return TCP_FLAGS.filter(([, b]) => f & b).map(([n]) => n).join(',');
}

/** printf("%.11f", n / 2^31) exactly (round half to even on the exact binary value), as libxt_statistic prints. */
export function formatProbability(n: number): string {
  const num = BigInt(n) * 10n ** 11n;
  const den = 1n << 31n;
  let q = num / den;
  const r = num % den;
  if (r * 2n > den || (r * 2n === den && q % 2n === 1n)) q += 1n;
  const s = q.toString().padStart(12, '0');
  return `${s.slice(0, -11)}.${s.slice(-11)}`;
}

/** The options part iptables-save prints after `-m NAME` (starts with a space, or is empty). */
export function formatMatch(m: Match): string {
  switch (m.kind) {
    case 'tcp':
    case 'udp':
    case 'sctp': {
      let s = '';
      if (m.sport) s += `${negp(m.sport.neg)} --sport ${formatPortRange(m.sport.value)}`;
      if (m.dport) s += `${negp(m.dport.neg)} --dport ${formatPortRange(m.dport.value)}`;
      if (m.kind === 'tcp') {
        if (m.option) s += `${negp(m.option.neg)} --tcp-option ${m.option.value}`;
        if (m.flags) s += `${negp(m.flags.neg)} --tcp-flags ${fmtFlags(m.flags.mask)} ${fmtFlags(m.flags.comp)}`;
      }
      return s;
    }
    case 'icmp':
    case 'icmp6': {
      const opt = m.kind === 'icmp' ? '--icmp-type' : '--icmpv6-type';
      if (m.type === 0xff && m.kind === 'icmp') return `${negp(m.neg)} ${opt} any`;
      const code = m.codeLo !== 0 || m.codeHi !== 0xff ? `/${m.codeLo}` : '';
      return `${negp(m.neg)} ${opt} ${m.type}${code}`;
    }
    case 'multiport':
      return `${negp(m.neg)} --${m.dir} ${m.ports.map((p) => formatPortRange(p)).join(',')}`;
    case 'comment':
      return ` --comment ${saveString(m.comment)}`;
    case 'mark':
    case 'connmark':
      return `${negp(m.neg)} --mark ${formatMarkMask(m.value, m.mask)}`;
    case 'conntrack':
      return formatConntrack(m);
    case 'state':
      return `${negp(m.neg)} --state ${m.states.join(',')}`;
    case 'addrtype': {
      let s = '';
      if (m.srcType) s += `${negp(m.srcType.neg)} --src-type ${m.srcType.value.join(',')}`;
      if (m.dstType) s += `${negp(m.dstType.neg)} --dst-type ${m.dstType.value.join(',')}`;
      if (m.limitIfaceIn) s += ' --limit-iface-in';
      if (m.limitIfaceOut) s += ' --limit-iface-out';
      return s;
    }
    case 'statistic':
      if (m.mode === 'random') return ` --mode random${negp(m.neg)} --probability ${formatProbability(m.probability)}`;
      return ` --mode nth${negp(m.neg)} --every ${m.every} --packet ${m.packet}`;
    case 'recent': {
      let s = `${negp(m.neg)} --${m.mode}`;
      if (m.seconds) s += ` --seconds ${m.seconds}`;
      if (m.reap) s += ' --reap';
      if (m.hitcount) s += ` --hitcount ${m.hitcount}`;
      if (m.rttl) s += ' --rttl';
      s += ` --name ${m.name}`;
      s += ` --mask ${m.mask}`;
      s += ` --${m.side}`;
      return s;
    }
    case 'set': {
      let s = `${negp(m.neg)} --match-set ${m.name} ${m.dims.join(',')}`;
      if (m.returnNomatch) s += ' --return-nomatch';
      if (m.noUpdateCounters) s += ' ! --update-counters';
      if (m.noUpdateSubcounters) s += ' ! --update-subcounters';
      return s;
    }
    case 'physdev': {
      let s = '';
      if (m.isIn) s += `${negp(m.isIn.neg)} --physdev-is-in`;
      if (m.physdevIn) s += `${negp(m.physdevIn.neg)} --physdev-in ${m.physdevIn.name}`;
      if (m.isOut) s += `${negp(m.isOut.neg)} --physdev-is-out`;
      if (m.physdevOut) s += `${negp(m.physdevOut.neg)} --physdev-out ${m.physdevOut.name}`;
      if (m.isBridged) s += `${negp(m.isBridged.neg)} --physdev-is-bridged`;
      return s;
    }
    case 'nfacct':
      // libxt_nfacct's save prints "--nfacct-name " and then the name with xtables_save_string's own
      // leading space: iptables-save shows two spaces (seen on iptables 1.8.9, test/kernel/node-iptables).
      return ` --nfacct-name  ${saveString(m.name)}`;
    case 'limit':
      return ` --limit ${m.avg}${m.burst !== 5 ? ` --limit-burst ${m.burst}` : ''}`;
    default:
      return assertNever(m);
  }
}

/** libxt_conntrack.c conntrack_dump order. */
function formatConntrack(m: ConntrackMatch): string {
  let s = '';
  if (m.ctstate) s += `${negp(m.ctstate.neg)} --ctstate ${m.ctstate.value.join(',')}`;
  if (m.ctproto) s += `${negp(m.ctproto.neg)} --ctproto ${m.ctproto.value}`;
  if (m.ctorigsrc) s += `${negp(m.ctorigsrc.neg)} --ctorigsrc ${formatAddrShortMask(m.ctorigsrc.value)}`;
  if (m.ctorigdst) s += `${negp(m.ctorigdst.neg)} --ctorigdst ${formatAddrShortMask(m.ctorigdst.value)}`;
  if (m.ctreplsrc) s += `${negp(m.ctreplsrc.neg)} --ctreplsrc ${formatAddrShortMask(m.ctreplsrc.value)}`;
  if (m.ctrepldst) s += `${negp(m.ctrepldst.neg)} --ctrepldst ${formatAddrShortMask(m.ctrepldst.value)}`;
  if (m.ctorigsrcport) s += `${negp(m.ctorigsrcport.neg)} --ctorigsrcport ${formatPortRange(m.ctorigsrcport.value)}`;
  if (m.ctorigdstport) s += `${negp(m.ctorigdstport.neg)} --ctorigdstport ${formatPortRange(m.ctorigdstport.value)}`;
  if (m.ctreplsrcport) s += `${negp(m.ctreplsrcport.neg)} --ctreplsrcport ${formatPortRange(m.ctreplsrcport.value)}`;
  if (m.ctrepldstport) s += `${negp(m.ctrepldstport.neg)} --ctrepldstport ${formatPortRange(m.ctrepldstport.value)}`;
  if (m.ctstatus) s += `${negp(m.ctstatus.neg)} --ctstatus ${m.ctstatus.value.join(',')}`;
  if (m.ctexpire) s += `${negp(m.ctexpire.neg)} --ctexpire ${formatPortRange(m.ctexpire.value)}`;
  if (m.ctdir) s += ` --ctdir ${m.ctdir}`;
  return s;
}

// ───────────────────────────── packet tests ─────────────────────────────

const inRange = (r: PortRange, p: number | undefined): boolean => p !== undefined && p >= r.lo && p <= r.hi;
/** port_match in xt_tcpudp.c: (min <= port <= max) ^ invert. */
const portOk = (n: Negatable<PortRange> | undefined, p: number | undefined): boolean => !n || inRange(n.value, p) !== n.neg;

/** ifname_compare / xt_physdev: a trailing '+' makes the name a prefix. */
export function ifaceMatches(pattern: string, name: string | undefined): boolean {
  if (name === undefined) return false;
  if (pattern.endsWith('+')) return name.startsWith(pattern.slice(0, -1));
  return name === pattern;
}

function ctStateBits(ct: NfConntrack | undefined): Set<CtStateName> {
  const s = new Set<CtStateName>();
  if (!ct || ct.state === 'INVALID') s.add('INVALID');
  else if (ct.state === 'UNTRACKED') s.add('UNTRACKED');
  else {
    s.add(ct.state);
    if (ct.snat) s.add('SNAT');
    if (ct.dnat) s.add('DNAT');
  }
  return s;
}

/** Whether the connection counts as a real one for xt_conntrack (nf_ct_get returns a ct). */
function liveCt(ct: NfConntrack | undefined): ct is NfConntrack {
  return !!ct && ct.state !== 'INVALID' && ct.state !== 'UNTRACKED';
}

function addrIn(c: Negatable<Cidr> | undefined, ip: string | undefined): boolean {
  if (!c) return true;
  let inside = false;
  if (ip !== undefined) {
    try {
      inside = cidrContains(c.value, parseIp(ip));
    } catch {
      inside = false;
    }
  }
  return inside !== c.neg;
}

/** Models conntrack_mt (net/netfilter/xt_conntrack.c), revision 3. */
function conntrackTest(m: ConntrackMatch, ct: NfConntrack | undefined): boolean {
  if (m.ctstate) {
    const bits = ctStateBits(ct);
    if (m.ctstate.value.some((s) => bits.has(s)) === m.ctstate.neg) return false;
  }
  if (!liveCt(ct)) return !!m.ctstate;
  if (m.ctdir && (ct.dir === 'ORIGINAL') !== (m.ctdir === 'ORIGINAL')) return false;
  const o: NfTupleView = ct.orig;
  const r: NfTupleView = ct.reply;
  if (m.ctproto && (o.proto === m.ctproto.value) === m.ctproto.neg) return false;
  if (!addrIn(m.ctorigsrc, o.src) || !addrIn(m.ctorigdst, o.dst) || !addrIn(m.ctreplsrc, r.src) || !addrIn(m.ctrepldst, r.dst)) return false;
  if (!portOk(m.ctorigsrcport, o.sport) || !portOk(m.ctorigdstport, o.dport) || !portOk(m.ctreplsrcport, r.sport) || !portOk(m.ctrepldstport, r.dport)) return false;
  if (m.ctstatus) {
    const st = ct.status ?? {};
    const has = (s: CtStatusName): boolean =>
      s === 'NONE' ? false : s === 'EXPECTED' ? !!st.expected : s === 'SEEN_REPLY' ? !!st.seenReply : s === 'ASSURED' ? !!st.assured : !!st.confirmed;
    if (m.ctstatus.value.some(has) === m.ctstatus.neg) return false;
  }
  if (m.ctexpire && !m.ctexpire.neg) return false;
  return true;
}

/** Models addrtype_mt_v1 (net/netfilter/xt_addrtype.c). */
function addrtypeTest(m: AddrtypeMatch, c: MatchCtx): boolean {
  const dev = m.limitIfaceIn ? c.pkt.inIface : m.limitIfaceOut ? c.pkt.outIface : undefined;
  if (m.srcType && m.srcType.value.includes(c.env.addrType(c.pkt.src, dev)) === m.srcType.neg) return false;
  if (m.dstType && m.dstType.value.includes(c.env.addrType(c.pkt.dst, dev)) === m.dstType.neg) return false;
  return true;
}

/**
 * The options a random statistic match offers the chooser, [P(match), P(no match)]: made once
 * when the ruleset is compiled (frozen: choosers may keep it).
 */
export function statisticOdds(m: StatisticMatch): readonly number[] {
  // (get_random_u32() & 0x7FFFFFFF) < probability  ⇒  P(match) = probability / 2^31
  const p = m.probability / 0x80000000;
  return Object.freeze([p, 1 - p]);
}

/** Models statistic_mt (net/netfilter/xt_statistic.c). Random mode is a branch point of the chooser. */
function statisticTest(m: StatisticMatch, c: MatchCtx, where: string, odds: readonly number[] | undefined): boolean {
  if (m.mode === 'random') {
    const o = odds ?? statisticOdds(m);
    const p = o[0]!;
    const hit = p >= 1 ? true : p <= 0 ? false : c.env.chooser.choose(where, o) === 0;
    return hit !== m.neg;
  }
  return (c.env.nth.next(m) === 0) !== m.neg;
}

/** Models physdev_mt (net/netfilter/xt_physdev.c). */
function physdevTest(m: Extract<Match, { kind: 'physdev' }>, pkt: NfPacket): boolean {
  if (!pkt.bridged) {
    // Not bridged: matches only when every option given is inverted.
    for (const o of [m.isBridged, m.isIn, m.isOut, m.physdevIn, m.physdevOut]) if (o && !o.neg) return false;
    return true;
  }
  if (m.isBridged && !!pkt.physOut === m.isBridged.neg) return false;
  if (m.isIn && !pkt.physIn !== m.isIn.neg) return false;
  if (m.isOut && !pkt.physOut !== m.isOut.neg) return false;
  if (m.physdevIn && pkt.physIn !== undefined && ifaceMatches(m.physdevIn.name, pkt.physIn) === m.physdevIn.neg) return false;
  if (!m.physdevOut || pkt.physOut === undefined) return true;
  return ifaceMatches(m.physdevOut.name, pkt.physOut) !== m.physdevOut.neg;
}

/**
 * Tests one match against the packet. `where` is the branch-point label of the rule
 * (e.g. "statistic nat/KUBE-SVC-X rule 2") and `odds` a random statistic match's
 * statisticOdds, both made once when the ruleset is compiled.
 */
export function testMatch(m: Match, c: MatchCtx, where: string, odds?: readonly number[]): boolean {
  const pkt = c.pkt;
  switch (m.kind) {
    case 'tcp':
      // tcp_mt: non-first fragments never match; ports, then flags, then options.
      if (pkt.fragment || pkt.proto !== PROTO.TCP) return false;
      if (!portOk(m.sport, pkt.sport) || !portOk(m.dport, pkt.dport)) return false;
      if (m.flags && (((pkt.tcpFlags ?? 0) & m.flags.mask) === m.flags.comp) === m.flags.neg) return false;
      if (m.option && (pkt.tcpOptions ?? []).includes(m.option.value) === m.option.neg) return false;
      return true;
    case 'udp':
    case 'sctp':
      if (pkt.fragment || pkt.proto !== (m.kind === 'udp' ? PROTO.UDP : PROTO.SCTP)) return false;
      return portOk(m.sport, pkt.sport) && portOk(m.dport, pkt.dport);
    case 'icmp':
    case 'icmp6': {
      // icmp_type_code_match: type 0xFF matches any; else type equal and code within range.
      if (pkt.fragment || pkt.proto !== (m.kind === 'icmp' ? PROTO.ICMP : PROTO.ICMPV6)) return false;
      const hit = m.type === 0xff || (pkt.icmpType === m.type && (pkt.icmpCode ?? 0) >= m.codeLo && (pkt.icmpCode ?? 0) <= m.codeHi);
      return hit !== m.neg;
    }
    case 'multiport': {
      // ports_match_v1 (xt_multiport.c)
      if (pkt.fragment) return false;
      let hit = false;
      for (const r of m.ports) {
        if ((m.dir !== 'dports' && inRange(r, pkt.sport)) || (m.dir !== 'sports' && inRange(r, pkt.dport))) {
          hit = true;
          break;
        }
      }
      return hit !== m.neg;
    }
    case 'comment':
    case 'nfacct':
    case 'limit':
      return true;
    case 'mark':
      // mark_mt: ((skb->mark & mask) == mark) ^ invert
      return ((pkt.mark & m.mask) >>> 0 === m.value >>> 0) !== m.neg;
    case 'connmark':
      // connmark_mt: no conntrack → false
      if (!liveCt(c.ct)) return false;
      return ((c.ct.mark & m.mask) >>> 0 === m.value >>> 0) !== m.neg;
    case 'conntrack':
      return conntrackTest(m, c.ct);
    case 'state': {
      // state_mt (xt_state.c)
      const bits = ctStateBits(c.ct);
      return m.states.some((s) => bits.has(s)) !== m.neg;
    }
    case 'addrtype':
      return addrtypeTest(m, c);
    case 'statistic':
      return statisticTest(m, c, where, odds);
    case 'recent': {
      const addr = m.side === 'rsource' ? pkt.src : pkt.dst;
      return c.env.recent.check(m, addr, pkt.family, c.env.ttl, c.env.clock.now());
    }
    case 'set':
      return c.env.ipsets.test(m.name, pkt, m.dims, { returnNomatch: m.returnNomatch }) !== m.neg;
    case 'physdev':
      return physdevTest(m, pkt);
    default:
      return assertNever(m);
  }
}

/** True for matches whose test has side effects or draws randomness (they must not be skipped by an index). */
export function isImpure(m: Match): boolean {
  return m.kind === 'statistic' || m.kind === 'recent';
}
