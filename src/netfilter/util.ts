/** Small shared pieces: the option cursor, located errors, fast address parsing, iptables-save quoting. */
import { InputError, formatIp, parseCidr, parseIp } from '../base/index.js';
import type { Cidr, Family, Ip } from '../base/index.js';
import type { PortRange } from './types.js';

/** A problem in an iptables-save / iptables-restore / ipset file: names the file, line and offending token. */
export class RulesetParseError extends InputError {
  constructor(message: string, loc: { file?: string; line?: number; token?: string }) {
    super({ message, file: loc.file, line: loc.line, field: loc.token });
    this.name = 'RulesetParseError';
  }
}

/** Thrown inside a line parser; the caller adds file and line. */
export class TokenError extends Error {
  constructor(message: string, readonly token: string | undefined) {
    super(message);
    this.name = 'TokenError';
  }
}

/**
 * Option words of iptables-restore input (every option the rule, match and target parsers know).
 * The fast cursor returns these very strings for a token spelled the same, instead of a new
 * string per token: no allocation, and comparisons with them are identity checks. A word missing
 * here, or sharing its slot with another, is only read the ordinary way.
 */
const OPTION_WORDS: readonly string[] = [
  '--and-mark', '--append', '--comment', '--ctdir', '--ctexpire', '--ctmask', '--ctorigdst', '--ctorigdstport',
  '--ctorigsrc', '--ctorigsrcport', '--ctproto', '--ctrepldst', '--ctrepldstport', '--ctreplsrc',
  '--ctreplsrcport', '--ctstate', '--ctstatus', '--delete-chain', '--destination', '--destination-port',
  '--destination-ports', '--dport', '--dports', '--dst', '--dst-type', '--every', '--flush', '--fragment',
  '--goto', '--helper', '--hitcount', '--icmp-type', '--icmpv6-type', '--in-interface', '--insert', '--jump',
  '--limit', '--limit-burst', '--limit-iface-in', '--limit-iface-out', '--log-ip-options', '--log-level',
  '--log-macdecode', '--log-prefix', '--log-tcp-options', '--log-tcp-sequence', '--log-uid', '--mark', '--mask',
  '--match', '--match-set', '--mode', '--name', '--new-chain', '--nfacct-name', '--nflog-group',
  '--nflog-prefix', '--nflog-range', '--nflog-size', '--nflog-threshold', '--nfmask', '--notrack', '--or-mark',
  '--out-interface', '--packet', '--persistent', '--physdev-in', '--physdev-is-bridged', '--physdev-is-in',
  '--physdev-is-out', '--physdev-out', '--policy', '--ports', '--probability', '--protocol', '--random',
  '--random-fully', '--rcheck', '--rdest', '--reap', '--reject-with', '--remove', '--restore-mark',
  '--return-nomatch', '--rsource', '--rttl', '--save-mark', '--seconds', '--set', '--set-counters',
  '--set-mark', '--set-xmark', '--source', '--source-port', '--source-ports', '--sport', '--sports', '--src',
  '--src-type', '--state', '--syn', '--tcp-flags', '--tcp-option', '--to-destination', '--to-ports',
  '--to-source', '--update', '--update-counters', '--update-subcounters', '--xor-mark', '--zone', '-A', '-F',
  '-I', '-N', '-P', '-X', '-c', '-d', '-f', '-g', '-i', '-j', '-m', '-o', '-p', '-s',
];
/** Words that follow options: match module names (-m), target names (-j), --mode values. */
const VALUE_WORDS: readonly string[] = [
  'tcp', 'udp', 'sctp', 'icmp', 'icmp6', 'icmpv6', 'multiport', 'comment', 'mark', 'connmark', 'conntrack', 'state',
  'addrtype', 'statistic', 'recent', 'set', 'physdev', 'nfacct', 'limit', 'ACCEPT', 'DROP', 'RETURN', 'QUEUE',
  'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'MARK', 'CONNMARK', 'LOG', 'NFLOG', 'TRACE', 'CT', 'NOTRACK',
  'random', 'nth', 'all',
];
const ATOM_MASK = 1023;
/** A slot from the word's length and three of its characters (options differ there, mostly). */
function atomSlot(s: string, a: number, len: number): number {
  return (len * 977 + s.charCodeAt(a + (len >> 1)) * 31 + s.charCodeAt(a + len - 1) * 7 + s.charCodeAt(a + (len > 2 ? 2 : 0))) & ATOM_MASK;
}
const ATOMS: (string | undefined)[] = new Array<string | undefined>(ATOM_MASK + 1).fill(undefined);
for (const w of [...OPTION_WORDS, ...VALUE_WORDS]) {
  const i = atomSlot(w, 0, w.length);
  if (ATOMS[i] === undefined) ATOMS[i] = w;
}

/** The ATOMS slot of `word` when a position cursor returns it as an atom (Cursor.atom), else -1. */
export function atomSlotOf(word: string): number {
  const i = atomSlot(word, 0, word.length);
  return ATOMS[i] === word ? i : -1;
}

/**
 * Where a character next occurs in a text at or after a position, remembered so that asking
 * line after line costs one forward scan of the whole text (not one per line).
 */
export class NextIndex {
  // the last two answers: the character is at `at` and nowhere in [from, at)
  private at0 = -1;
  private from0 = 0;
  private at1 = -1;
  private from1 = 0;
  private turn = 0;
  constructor(
    private readonly text: string,
    private readonly ch: string,
  ) {}
  /** The first position ≥ pos holding the character, or text.length when none. */
  next(pos: number): number {
    if (this.at0 >= pos && this.from0 <= pos) return this.at0;
    if (this.at1 >= pos && this.from1 <= pos) return this.at1;
    let i = this.text.indexOf(this.ch, pos);
    if (i < 0) i = this.text.length;
    if (this.turn === 0) {
      this.at0 = i;
      this.from0 = pos;
    } else {
      this.at1 = i;
      this.from1 = pos;
    }
    this.turn ^= 1;
    return i;
  }
}

/** The special characters of iptables-restore lines, found through one NextIndex each. */
export class LineScan {
  readonly quote: NextIndex;
  readonly backslash: NextIndex;
  readonly tab: NextIndex;
  constructor(readonly text: string) {
    this.quote = new NextIndex(text, '"');
    this.backslash = new NextIndex(text, '\\');
    this.tab = new NextIndex(text, '\t');
  }
}

/**
 * Walks the arguments of one rule line, as iptables' getopt loop does. Made either from tokens
 * (`new Cursor(tokenize(line))`) or, on the parser's fast path, over a range of a larger text
 * (`Cursor.onLine`): it then reads each argument by position when asked, splitting exactly as
 * `tokenize` would, so a 320k-rule dump needs no per-line token arrays.
 */
export class Cursor {
  i = 0;
  /**
   * The ATOMS slot of the argument a position cursor returned last, when it was one of the option
   * and value words (the very string in OPTION_WORDS/VALUE_WORDS), else -1: lets a caller map the
   * word to a number by slot (see atomSlotOf) instead of looking the string up.
   */
  atom = -1;
  private pos = 0;
  private end = 0;
  private text = '';
  /** Position of the next double quote in the line (≥ pos), or end when none is left. */
  private quote = 0;
  private quotes: NextIndex | undefined = undefined;
  constructor(private readonly tokens: readonly string[] | undefined) {}

  /**
   * A cursor over `text[start, end)`, or undefined when that line needs the general tokenizer:
   * it contains a backslash or a tab, or an odd number of double quotes (an unterminated quote
   * is an error `tokenize` reports before any argument is read).
   */
  static onLine(scan: LineScan, start: number, end: number): Cursor | undefined {
    const cur = new Cursor(undefined);
    return cur.reset(scan, start, end) ? cur : undefined;
  }

  /**
   * Points a position cursor (made with `new Cursor(undefined)`) at another line, as onLine does;
   * false when that line needs the general tokenizer. Lets a parser use one cursor for every line.
   */
  reset(scan: LineScan, start: number, end: number): boolean {
    if (scan.backslash.next(start) < end || scan.tab.next(start) < end) return false;
    const first = scan.quote.next(start);
    let quotes = 0;
    for (let q = first; q < end; q = scan.quote.next(q + 1)) quotes++;
    if (quotes & 1) return false;
    this.text = scan.text;
    this.pos = start;
    this.end = end;
    this.quote = first < end ? first : end;
    this.quotes = scan.quote;
    return true;
  }

  get done(): boolean {
    if (this.tokens) return this.i >= this.tokens.length;
    const s = this.text;
    let p = this.pos;
    while (p < this.end && s.charCodeAt(p) === 32) p++;
    this.pos = p;
    return p >= this.end;
  }

  /** The next argument without taking it. */
  peek(): string | undefined {
    if (this.tokens) return this.tokens[this.i];
    const save = this.pos;
    const saveQuote = this.quote;
    const saveAtom = this.atom;
    const t = this.next();
    this.pos = save;
    this.quote = saveQuote;
    this.atom = saveAtom;
    return t;
  }

  /**
   * Where the next argument's characters start in the text, without taking it: a plain word, or a
   * word that is one quoted part (`"a b"`: its characters inside the quotes). Its end is then
   * `argEnd`. -1 at the end of the line, for any other quoting, and on a cursor over tokens. Lets
   * a caller look an argument up where it stands, without a string for it; skipArg takes it.
   */
  peekArg(): number {
    if (this.tokens) return -1;
    const s = this.text;
    const end = this.end;
    let p = this.pos;
    while (p < end && s.charCodeAt(p) === 32) p++;
    this.pos = p;
    if (p >= end) return -1;
    // the end of the word (a loop: words are short, and indexOf costs more per call)
    let e = p + 1;
    while (e < end && s.charCodeAt(e) !== 32) e++;
    const q = this.quote;
    if (q >= e) {
      this.argEnd = e;
      this.argNext = e;
      return p;
    }
    if (q !== p) return -1;
    const close = this.quotes!.next(q + 1);
    this.argEnd = close;
    this.argNext = close + 1;
    return q + 1;
  }
  /** The end of the characters peekArg found. */
  argEnd = 0;
  /** Where the argument peekArg found ends (past a closing quote). */
  private argNext = 0;
  /** Takes the argument peekArg found. */
  skipArg(): void {
    this.atom = -1;
    const next = this.argNext;
    if (this.quote < next) {
      const nq = this.quotes!.next(next);
      this.quote = nq < this.end ? nq : this.end;
    }
    this.pos = next;
  }
  /** The text a position cursor reads (peekArg's positions are in it). */
  get source(): string {
    return this.text;
  }

  /** The argument of option `opt`; an error naming the option when it is missing. */
  arg(opt: string): string {
    const t = this.tokens ? this.tokens[this.i++] : this.next();
    if (t === undefined) {
      if (this.tokens) this.i--;
      throw new TokenError(`option "${opt}" requires an argument`, opt);
    }
    return t;
  }

  /** The next argument, or undefined at the end of the line. */
  take(): string | undefined {
    if (this.tokens) return this.i < this.tokens.length ? this.tokens[this.i++] : undefined;
    return this.next();
  }

  /** An optional argument: taken when the next token does not start with '-' and is not '!'. */
  optArg(): string | undefined {
    const t = this.peek();
    if (t === undefined || t.startsWith('-') || t === '!') return undefined;
    this.take();
    return t;
  }

  /**
   * One argument by position, with tokenizeSlow's rules for a line without backslashes or tabs
   * and with balanced quotes: characters up to a space; a double quote opens a quoted part that
   * the next double quote closes, which also ends the argument.
   */
  private next(): string | undefined {
    const s = this.text;
    const end = this.end;
    let p = this.pos;
    while (p < end && s.charCodeAt(p) === 32) p++;
    if (p >= end) {
      this.pos = p;
      return undefined;
    }
    // the end of the word (a loop: words are short, and indexOf costs more per call)
    let e = p + 1;
    while (e < end && s.charCodeAt(e) !== 32) e++;
    const q = this.quote;
    if (q < e) {
      // A quoted part starts inside this argument: it ends at the closing quote.
      const close = this.quotes!.next(q + 1);
      const nq = this.quotes!.next(close + 1);
      this.quote = nq < end ? nq : end;
      this.pos = close + 1;
      this.atom = -1;
      return q === p ? s.slice(q + 1, close) : s.slice(p, q) + s.slice(q + 1, close);
    }
    this.pos = e;
    const len = e - p;
    const c = s.charCodeAt(p);
    // Options, and short words starting with a letter (module and target names): the atom if any.
    if (c === 45 /* - */ || (len <= 10 && c >= 65 /* A */)) {
      const slot = atomSlot(s, p, len);
      const w = ATOMS[slot];
      if (w !== undefined && w.length === len && sameAt(s, p, w)) {
        this.atom = slot;
        return w;
      }
    } else if (len === 1 && c === 33 /* ! */) {
      this.atom = -1;
      return '!';
    }
    this.atom = -1;
    return s.slice(p, e);
  }
}

/**
 * text.startsWith(word, at), compared character by character from the end: the parser's hot
 * comparisons of short words, where V8's startsWith costs several times more per call.
 */
export function sameAt(text: string, at: number, word: string): boolean {
  for (let i = word.length - 1; i >= 0; i--) if (text.charCodeAt(at + i) !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * Splits one line into arguments as iptables-restore does (add_param_to_argv in iptables/xshared.c):
 * spaces separate, double quotes group (a closing quote ends the argument, so `""` is an empty one),
 * a backslash inside quotes takes the next character literally.
 */
export function tokenize(line: string): string[] {
  if (!line.includes('\t') && !line.includes('\\')) {
    const raw = line.split(' ');
    if (!line.includes('"')) return line.includes('  ') || line.startsWith(' ') || line.endsWith(' ') ? raw.filter((t) => t !== '') : raw;
    const fast = mergeQuoted(raw);
    if (fast) return fast;
  }
  return tokenizeSlow(line);
}

/** Fast path for quotes only at the edges of space-separated words: `"a b c"`. Undefined when it does not apply. */
function mergeQuoted(raw: string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i]!;
    if (t === '') continue;
    const q = t.indexOf('"');
    if (q < 0) {
      out.push(t);
      continue;
    }
    if (q !== 0) return undefined;
    if (t.length >= 2 && t.endsWith('"')) {
      if (t.indexOf('"', 1) !== t.length - 1) return undefined;
      out.push(t.slice(1, -1));
      continue;
    }
    if (t.indexOf('"', 1) >= 0) return undefined;
    let acc = t.slice(1);
    let closed = false;
    for (i++; i < raw.length; i++) {
      const u = raw[i]!;
      const k = u.indexOf('"');
      if (k < 0) {
        acc += ` ${u}`;
        continue;
      }
      if (k !== u.length - 1) return undefined;
      acc += ` ${u.slice(0, -1)}`;
      closed = true;
      break;
    }
    if (!closed) return undefined;
    out.push(acc);
  }
  return out;
}

function tokenizeSlow(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quoted = false;
  let escaped = false;
  for (let k = 0; k < line.length; k++) {
    const c = line[k]!;
    if (quoted) {
      if (escaped) {
        cur += c;
        escaped = false;
      } else if (c === '\\') escaped = true;
      else if (c === '"') {
        quoted = false;
        out.push(cur);
        cur = '';
        has = false;
      } else cur += c;
      continue;
    }
    if (c === '"') {
      quoted = true;
      has = true;
    } else if (c === ' ' || c === '\t') {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quoted) throw new TokenError('unterminated quoted string', cur);
  if (has) out.push(cur);
  return out;
}

const NO_QUOTE = /^[_\-0-9a-zA-Z]+$/;

/** Models xtables_save_string (libxtables/xtables.c): bare when only [_-0-9a-zA-Z], else double-quoted with " \ ' escaped. */
export function saveString(value: string): string {
  if (NO_QUOTE.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

/** Fast dotted-quad parser (strict), or -1. */
export function parseV4(s: string): number {
  return parseV4At(s, 0, s.length);
}

/** parseV4 of s[start, end). */
export function parseV4At(s: string, start: number, end: number): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let k = start; k < end; k++) {
    const c = s.charCodeAt(k);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

const MASK4: number[] = [];
for (let p = 0; p <= 32; p++) MASK4.push(p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0);
export function mask4(prefix: number): number {
  return MASK4[prefix]!;
}

/** Parses an address for the family; throws TokenError naming `token`. */
export function parseAddr(text: string, family: Family, token: string): Ip {
  if (family === 4) {
    const n = parseV4(text);
    if (n < 0) throw new TokenError(`invalid IPv4 address "${text}"`, token);
    return { family: 4, n };
  }
  try {
    const ip = parseIp(text);
    if (ip.family !== 6) throw new Error('not IPv6');
    return ip;
  } catch {
    throw new TokenError(`invalid IPv6 address "${text}"`, token);
  }
}

/**
 * `-s`/`-d`/`--ctorigdst` argument: address[/prefix or /dotted-mask]. Host bits are cleared, as
 * iptables stores address & mask. No prefix = host (/32, /128).
 */
export function parseAddrMask(text: string, family: Family, token: string): Cidr {
  if (family === 4) return parseAddrMaskAt(text, 0, text.length, token);
  const slash = text.indexOf('/');
  const a = slash < 0 ? text : text.slice(0, slash);
  const ip = parseAddr(a, family, token);
  let prefix = 128;
  if (slash >= 0) {
    const m = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(m)) throw new TokenError(`invalid mask "${m}"`, token);
    prefix = Number(m);
    if (prefix > 128) throw new TokenError(`invalid mask "${m}"`, token);
  }
  return parseCidr(`${formatIp(ip)}/${prefix}`);
}

/** parseAddrMask of IPv4 text[start, end) (`a.b.c.d`, `/len` or `/a.b.c.d` mask), read in place. */
export function parseAddrMaskAt(text: string, start: number, end: number, token: string): Cidr {
  let slash = text.indexOf('/', start);
  if (slash < 0 || slash >= end) slash = -1;
  const n = parseV4At(text, start, slash < 0 ? end : slash);
  if (n < 0) throw new TokenError(`invalid IPv4 address "${text.slice(start, slash < 0 ? end : slash)}"`, token);
  let prefix = 32;
  if (slash >= 0) {
    const len = end - slash - 1;
    let digits = len >= 1 && len <= 3;
    let v = 0;
    for (let k = slash + 1; k < end && digits; k++) {
      const c = text.charCodeAt(k);
      digits = c >= 48 && c <= 57;
      v = v * 10 + (c - 48);
    }
    if (digits) {
      prefix = v;
      if (prefix > 32) throw new TokenError(`invalid mask "${text.slice(slash + 1, end)}"`, token);
    } else {
      const mn = parseV4At(text, slash + 1, end);
      const p = MASK4.indexOf(mn);
      if (mn < 0 || p < 0) throw new TokenError(`invalid mask "${text.slice(slash + 1, end)}"`, token);
      prefix = p;
    }
  }
  return { family: 4, network: { family: 4, n: (n & mask4(prefix)) >>> 0 }, prefix };
}

export function formatAddrMask(c: Cidr): string {
  return `${formatIp(c.network)}/${c.prefix}`;
}

/** As xtables_ipaddr_to_numeric + xtables_ipmask_to_numeric: the prefix is omitted for a host. */
export function formatAddrShortMask(c: Cidr): string {
  return c.prefix === (c.family === 4 ? 32 : 128) ? formatIp(c.network) : formatAddrMask(c);
}

/** Port or range "N", "N:M", ":M", "N:" (xtables_parse_port / parse_ports in libxt_tcp.c). */
export function parsePortRange(text: string, token: string, sep = ':'): PortRange {
  const k = text.indexOf(sep);
  if (k < 0) {
    const p = parsePort(text, token);
    return { lo: p, hi: p };
  }
  const lo = k === 0 ? 0 : parsePort(text.slice(0, k), token);
  const hi = k === text.length - 1 ? 0xffff : parsePort(text.slice(k + 1), token);
  if (lo > hi) throw new TokenError(`invalid port range "${text}": start above end`, token);
  return { lo, hi };
}

export function parsePort(text: string, token: string): number {
  // 1 to 5 decimal digits, at most 65535
  const n = text.length;
  let v = n >= 1 && n <= 5 ? 0 : -1;
  for (let i = 0; i < n && v >= 0; i++) {
    const c = text.charCodeAt(i);
    v = c >= 48 && c <= 57 ? v * 10 + (c - 48) : -1;
  }
  if (v < 0 || v > 65535) throw new TokenError(`invalid port "${text}"`, token);
  return v;
}

export function formatPortRange(r: PortRange, sep = ':'): string {
  return r.lo === r.hi ? String(r.lo) : `${r.lo}${sep}${r.hi}`;
}

/** Unsigned 32-bit number from decimal or 0x hex (xtables_strtoui). */
export function parseU32(text: string, token: string): number {
  if (!/^(0x[0-9a-fA-F]{1,8}|0[0-7]*|[1-9]\d*)$/.test(text)) throw new TokenError(`invalid number "${text}"`, token);
  const n = text.startsWith('0x') ? parseInt(text.slice(2), 16) : text.length > 1 && text.startsWith('0') ? parseInt(text, 8) : Number(text);
  if (n > 0xffffffff) throw new TokenError(`value "${text}" does not fit in 32 bits`, token);
  return n;
}

/** `value[/mask]` as libxt_mark / libxt_MARK read it; mask defaults to 0xffffffff. */
export function parseMarkMask(text: string, token: string): { value: number; mask: number } {
  const k = text.indexOf('/');
  if (k < 0) return { value: parseU32(text, token), mask: 0xffffffff };
  return { value: parseU32(text.slice(0, k), token), mask: parseU32(text.slice(k + 1), token) };
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/** `value` alone when the mask is all ones, else `value/mask` (libxt_mark print_mark). */
export function formatMarkMask(value: number, mask: number): string {
  return mask === 0xffffffff ? hex(value) : `${hex(value)}/${hex(mask)}`;
}
