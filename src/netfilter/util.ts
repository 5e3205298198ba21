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

/** Walks the arguments of one rule line, as iptables' getopt loop does. */
export class Cursor {
  i = 0;
  constructor(readonly tokens: readonly string[]) {}
  get done(): boolean {
    return this.i >= this.tokens.length;
  }
  peek(): string | undefined {
    return this.tokens[this.i];
  }
  /** The argument of option `opt`; an error naming the option when it is missing. */
  arg(opt: string): string {
    const t = this.tokens[this.i];
    if (t === undefined) throw new TokenError(`option "${opt}" requires an argument`, opt);
    this.i++;
    return t;
  }
  /** An optional argument: taken when the next token does not start with '-' and is not '!'. */
  optArg(): string | undefined {
    const t = this.tokens[this.i];
    if (t === undefined || t.startsWith('-') || t === '!') return undefined;
    this.i++;
    return t;
  }
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
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let k = 0; k < s.length; k++) {
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
  const slash = text.indexOf('/');
  const a = slash < 0 ? text : text.slice(0, slash);
  const ip = parseAddr(a, family, token);
  let prefix = family === 4 ? 32 : 128;
  if (slash >= 0) {
    const m = text.slice(slash + 1);
    if (/^\d{1,3}$/.test(m)) {
      prefix = Number(m);
      if (prefix > (family === 4 ? 32 : 128)) throw new TokenError(`invalid mask "${m}"`, token);
    } else if (family === 4) {
      const mn = parseV4(m);
      const p = MASK4.indexOf(mn);
      if (mn < 0 || p < 0) throw new TokenError(`invalid mask "${m}"`, token);
      prefix = p;
    } else throw new TokenError(`invalid mask "${m}"`, token);
  }
  if (family === 4) return { family: 4, network: { family: 4, n: ((ip.n as number) & mask4(prefix)) >>> 0 }, prefix };
  return parseCidr(`${formatIp(ip)}/${prefix}`);
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
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new TokenError(`invalid port "${text}"`, token);
  return Number(text);
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
