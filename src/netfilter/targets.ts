/**
 * `-j` targets: option parsing, iptables-save printing (iptables/extensions/libxt_*.c save
 * functions) and the names that are targets rather than chains.
 */
import { assertNever, formatIp } from '../base/index.js';
import type { Family } from '../base/index.js';
import { LOG_LEVELS, REJECT4, REJECT6 } from './names.js';
import type { NatFlags, NfNatRange, PortRange, Target } from './types.js';
import { Cursor, TokenError, formatPortRange, hex, parseAddr, parseMarkMask, parsePortRange, parseU32, saveString } from './util.js';

export const TARGET_NAMES: ReadonlySet<string> = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'QUEUE', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'MARK', 'CONNMARK', 'LOG', 'NFLOG', 'TRACE', 'CT', 'NOTRACK',
]);

const noFlags = (): NatFlags => ({ random: false, randomFully: false, persistent: false });

/** A target with its defaults, before options. */
export function newTarget(name: string, family: Family): Target {
  switch (name) {
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
    case 'QUEUE':
    case 'TRACE':
    case 'NOTRACK':
      return { kind: name };
    case 'REJECT':
      return { kind: 'REJECT', with: family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable' };
    case 'DNAT':
    case 'SNAT':
      return { kind: name, ranges: [], flags: noFlags() };
    case 'MASQUERADE':
    case 'REDIRECT':
      return { kind: name, flags: noFlags() };
    case 'MARK':
      return { kind: 'MARK', value: 0, mask: 0 };
    case 'CONNMARK':
      return { kind: 'CONNMARK', mode: 'set', value: 0, mask: 0 };
    case 'LOG':
      return { kind: 'LOG', tcpSequence: false, tcpOptions: false, ipOptions: false, uid: false, macDecode: false };
    case 'NFLOG':
      return { kind: 'NFLOG', group: 0 };
    case 'CT':
      return { kind: 'CT', notrack: false };
    default:
      throw new TokenError(`Couldn't load target \`${name}': no such target or chain`, name);
  }
}

/**
 * `[addr[-addr]][:port[-port]]`, IPv6 addresses in brackets when a port follows
 * (libxt_DNAT.c / libxt_SNAT.c parse_to).
 */
export function parseNatRange(text: string, family: Family, opt: string): NfNatRange {
  let addrPart = text;
  let portPart: string | undefined;
  if (family === 6 && text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new TokenError(`invalid address "${text}": missing ]`, opt);
    addrPart = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new TokenError(`invalid range "${text}"`, opt);
      portPart = rest.slice(1);
    }
  } else if (family === 4 || text.startsWith(':')) {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      addrPart = text.slice(0, colon);
      portPart = text.slice(colon + 1);
    }
  }
  let minIp: string | undefined;
  let maxIp: string | undefined;
  let minPort: number | undefined;
  let maxPort: number | undefined;
  if (addrPart !== '') {
    const dash = addrPart.indexOf('-');
    const loText = dash < 0 ? addrPart : addrPart.slice(0, dash);
    const lo = parseAddr(loText, family, opt);
    const hi = dash < 0 ? lo : parseAddr(addrPart.slice(dash + 1), family, opt);
    // The text itself when it is already the canonical form (one string, not a new one per rule).
    minIp = family === 4 && canonicalV4(loText) ? loText : formatIp(lo);
    maxIp = dash < 0 ? minIp : formatIp(hi);
  }
  if (portPart !== undefined) {
    const p = parsePortRange(portPart, opt, '-');
    minPort = p.lo;
    maxPort = p.hi;
  }
  if (minIp === undefined && minPort === undefined) throw new TokenError(`invalid NAT range "${text}"`, opt);
  // one object shape for every range (absent parts are undefined)
  return { minIp, maxIp, minPort, maxPort };
}

/** True when a dotted quad that parsed is already printed as inet_ntoa would print it (no leading zeros). */
function canonicalV4(s: string): boolean {
  for (let k = 0; k < s.length - 1; k++) {
    if (s.charCodeAt(k) === 48 /* 0 */ && (k === 0 || s.charCodeAt(k - 1) === 46) && s.charCodeAt(k + 1) !== 46) return false;
  }
  return true;
}

/** print_range of libxt_NAT: `a[-b][:p[-q]]`, IPv6 bracketed when a port is given. */
export function formatNatRange(r: NfNatRange, family: Family): string {
  let s = '';
  if (r.minIp !== undefined) {
    const a = r.maxIp !== undefined && r.maxIp !== r.minIp ? `${r.minIp}-${r.maxIp}` : r.minIp;
    s += family === 6 && r.minPort !== undefined ? `[${a}]` : a;
  }
  if (r.minPort !== undefined) s += `:${r.minPort}${r.maxPort !== undefined && r.maxPort !== r.minPort ? `-${r.maxPort}` : ''}`;
  return s;
}

/** The option was the target's; it cannot be negated. */
function own(t: Target, opt: string, neg: boolean): true {
  if (neg) throw new TokenError(`${t.kind}: option "${opt}" cannot be inverted`, opt);
  return true;
}

/** Offers an option to the target. Returns false when it is not the target's. */
export function targetOption(t: Target, opt: string, cur: Cursor, neg: boolean, family: Family): boolean {
  switch (t.kind) {
    case 'none':
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
    case 'QUEUE':
    case 'JUMP':
    case 'GOTO':
    case 'TRACE':
    case 'NOTRACK':
      return false;
    case 'REJECT': {
      if (opt !== '--reject-with') return false;
      const v = cur.arg(opt);
      const w = (family === 4 ? REJECT4 : REJECT6).get(v);
      if (!w) throw new TokenError(`unknown reject type "${v}"`, opt);
      t.with = w;
      return own(t, opt, neg);
    }
    case 'DNAT':
    case 'SNAT':
      if (opt === (t.kind === 'DNAT' ? '--to-destination' : '--to-source')) {
        if (t.ranges.length > 0) throw new TokenError(`${t.kind}: multiple ${opt} are not supported`, opt);
        t.ranges = [parseNatRange(cur.arg(opt), family, opt)];
        return own(t, opt, neg);
      }
      return natFlag(t.flags, opt, t.kind === 'SNAT') && own(t, opt, neg);
    case 'MASQUERADE':
    case 'REDIRECT':
      if (opt === '--to-ports') {
        t.ports = parsePortRange(cur.arg(opt), opt, '-');
        return own(t, opt, neg);
      }
      return (opt === '--random' || (t.kind === 'MASQUERADE' && opt === '--random-fully')) && natFlag(t.flags, opt, true) && own(t, opt, neg);
    case 'MARK': {
      // libxt_MARK.c mark_tg_parse (revision 2)
      if (opt === '--set-xmark' || opt === '--set-mark') {
        const { value, mask } = parseMarkMask(cur.arg(opt), opt);
        t.value = value;
        t.mask = opt === '--set-xmark' ? mask : (value | mask) >>> 0;
      } else if (opt === '--and-mark') {
        t.value = 0;
        t.mask = ~parseU32(cur.arg(opt), opt) >>> 0;
      } else if (opt === '--or-mark') {
        t.value = t.mask = parseU32(cur.arg(opt), opt);
      } else if (opt === '--xor-mark') {
        t.value = parseU32(cur.arg(opt), opt);
        t.mask = 0;
      } else return false;
      return own(t, opt, neg);
    }
    case 'CONNMARK':
      return connmarkOption(t, opt, cur) && own(t, opt, neg);
    case 'LOG':
      switch (opt) {
        case '--log-prefix': {
          const p = cur.arg(opt);
          if (p.length > 29) throw new TokenError('LOG: maximum prefix length is 29 characters', opt);
          t.prefix = p;
          return own(t, opt, neg);
        }
        case '--log-level': {
          const v = cur.arg(opt);
          const n = LOG_LEVELS.get(v) ?? (/^[0-7]$/.test(v) ? Number(v) : undefined);
          if (n === undefined) throw new TokenError(`LOG: invalid log level "${v}"`, opt);
          t.level = n;
          return own(t, opt, neg);
        }
        case '--log-tcp-sequence':
          t.tcpSequence = true;
          return own(t, opt, neg);
        case '--log-tcp-options':
          t.tcpOptions = true;
          return own(t, opt, neg);
        case '--log-ip-options':
          t.ipOptions = true;
          return own(t, opt, neg);
        case '--log-uid':
          t.uid = true;
          return own(t, opt, neg);
        case '--log-macdecode':
          t.macDecode = true;
          return own(t, opt, neg);
        default:
          return false;
      }
    case 'NFLOG':
      switch (opt) {
        case '--nflog-group':
          t.group = parseU32(cur.arg(opt), opt);
          return own(t, opt, neg);
        case '--nflog-prefix':
          t.prefix = cur.arg(opt);
          return own(t, opt, neg);
        case '--nflog-range':
          t.range = parseU32(cur.arg(opt), opt);
          return own(t, opt, neg);
        case '--nflog-size':
          t.size = parseU32(cur.arg(opt), opt);
          return own(t, opt, neg);
        case '--nflog-threshold':
          t.threshold = parseU32(cur.arg(opt), opt);
          return own(t, opt, neg);
        default:
          return false;
      }
    case 'CT':
      switch (opt) {
        case '--notrack':
          t.notrack = true;
          return own(t, opt, neg);
        case '--zone':
          t.zone = parseU32(cur.arg(opt), opt);
          return own(t, opt, neg);
        case '--helper':
          t.helper = cur.arg(opt);
          return own(t, opt, neg);
        default:
          if (opt.startsWith('--')) throw new TokenError(`CT: option "${opt}" is not supported by podpath`, opt);
          return false;
      }
    default:
      return assertNever(t, 'target');
  }
}

function natFlag(f: NatFlags, opt: string, fullyOk: boolean): boolean {
  if (opt === '--random') f.random = true;
  else if (opt === '--random-fully' && fullyOk) f.randomFully = true;
  else if (opt === '--persistent') f.persistent = true;
  else return false;
  return true;
}

/** libxt_CONNMARK.c connmark_tg_parse (revision 1). */
function connmarkOption(t: Extract<Target, { kind: 'CONNMARK' }>, opt: string, cur: Cursor): boolean {
  const toMode = (mode: 'save' | 'restore') => {
    if (t.mode !== mode) Object.assign(t, { mode, nfmask: 0xffffffff, ctmask: 0xffffffff, value: undefined, mask: undefined });
  };
  const set = (value: number, mask: number) => {
    Object.assign(t, { mode: 'set', value: value >>> 0, mask: mask >>> 0 });
  };
  switch (opt) {
    case '--set-xmark': {
      const { value, mask } = parseMarkMask(cur.arg(opt), opt);
      set(value, mask);
      return true;
    }
    case '--set-mark': {
      const { value, mask } = parseMarkMask(cur.arg(opt), opt);
      set(value, value | mask);
      return true;
    }
    case '--and-mark':
      set(0, ~parseU32(cur.arg(opt), opt));
      return true;
    case '--or-mark': {
      const v = parseU32(cur.arg(opt), opt);
      set(v, v);
      return true;
    }
    case '--xor-mark':
      set(parseU32(cur.arg(opt), opt), 0);
      return true;
    case '--save-mark':
    case '--restore-mark':
      toMode(opt === '--save-mark' ? 'save' : 'restore');
      return true;
    case '--nfmask':
    case '--ctmask':
    case '--mask': {
      if (t.mode === 'set') throw new TokenError(`CONNMARK: ${opt} needs --save-mark or --restore-mark first`, opt);
      const v = parseU32(cur.arg(opt), opt);
      if (opt !== '--ctmask') t.nfmask = v;
      if (opt !== '--nfmask') t.ctmask = v;
      return true;
    }
    default:
      return false;
  }
}

function fmtPorts(p: PortRange | undefined): string {
  return p ? ` --to-ports ${formatPortRange(p, '-')}` : '';
}

function fmtNatFlags(f: NatFlags): string {
  return `${f.random ? ' --random' : ''}${f.randomFully ? ' --random-fully' : ''}${f.persistent ? ' --persistent' : ''}`;
}

/** `-j NAME options` / `-g CHAIN` as iptables-save prints it (empty for a rule without a target). */
export function formatTarget(t: Target, family: Family): string {
  switch (t.kind) {
    case 'none':
      return '';
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
    case 'QUEUE':
    case 'TRACE':
    case 'NOTRACK':
      return ` -j ${t.kind}`;
    case 'JUMP':
      return ` -j ${t.chain}`;
    case 'GOTO':
      return ` -g ${t.chain}`;
    case 'REJECT':
      return ` -j REJECT --reject-with ${t.with}`;
    case 'DNAT':
    case 'SNAT': {
      const opt = t.kind === 'DNAT' ? '--to-destination' : '--to-source';
      return ` -j ${t.kind}${t.ranges.map((r) => ` ${opt} ${formatNatRange(r, family)}`).join('')}${fmtNatFlags(t.flags)}`;
    }
    case 'MASQUERADE':
    case 'REDIRECT':
      return ` -j ${t.kind}${fmtPorts(t.ports)}${fmtNatFlags(t.flags)}`;
    case 'MARK':
      return ` -j MARK --set-xmark ${hex(t.value)}/${hex(t.mask)}`;
    case 'CONNMARK':
      if (t.mode === 'set') return ` -j CONNMARK --set-xmark ${hex(t.value)}/${hex(t.mask)}`;
      return ` -j CONNMARK --${t.mode}-mark --nfmask ${hex(t.nfmask)} --ctmask ${hex(t.ctmask)}`;
    case 'LOG': {
      let s = ' -j LOG';
      if (t.prefix !== undefined) s += ` --log-prefix ${saveString(t.prefix)}`;
      if (t.level !== undefined && t.level !== 4) s += ` --log-level ${t.level}`;
      if (t.tcpSequence) s += ' --log-tcp-sequence';
      if (t.tcpOptions) s += ' --log-tcp-options';
      if (t.ipOptions) s += ' --log-ip-options';
      if (t.uid) s += ' --log-uid';
      if (t.macDecode) s += ' --log-macdecode';
      return s;
    }
    case 'NFLOG': {
      // libxt_NFLOG.c nflog_print; --nflog-range is accepted but no longer stored (never worked).
      let s = ' -j NFLOG';
      if (t.prefix !== undefined && t.prefix !== '') s += ` --nflog-prefix ${saveString(t.prefix)}`;
      if (t.group) s += ` --nflog-group ${t.group}`;
      if (t.size !== undefined) s += ` --nflog-size ${t.size}`;
      if (t.threshold !== undefined && t.threshold !== 1) s += ` --nflog-threshold ${t.threshold}`;
      return s;
    }
    case 'CT': {
      let s = ' -j CT';
      if (t.notrack) s += ' --notrack';
      if (t.helper !== undefined) s += ` --helper ${t.helper}`;
      if (t.zone !== undefined) s += ` --zone ${t.zone}`;
      return s;
    }
    default:
      return assertNever(t, 'target');
  }
}
