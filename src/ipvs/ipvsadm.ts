/**
 * `ipvsadm` text formats, as ipvsadm 1.31 (ipvsadm.c, libipvs/libipvs.c) reads and prints them:
 * `-Sn` (save, also the input of ipvsadm-restore), `-Ln`, `-Ln --stats`. Connections (`-Lnc`) are in conn.ts.
 */
import { formatIp, InputError, parseIp } from '../base/index.js';
import type { Ip, Problem, SourceLocation } from '../base/index.js';
import { IP_VS_CONN_TAB_SIZE } from './hash.js';
import { IpvsServiceTable, serviceKeyName } from './table.js';
import type { DestOptions } from './table.js';
import type { FwdMethod, IpvsProtocol, RealServer, SchedulerName, ServiceKey, VirtualService } from './types.js';
import {
  IP_VS_SVC_F_ONEPACKET,
  IP_VS_SVC_F_PERSISTENT,
  IP_VS_SVC_F_SCHED1,
  IP_VS_SVC_F_SCHED2,
  IP_VS_SVC_F_SCHED3,
  IPPROTO,
  IPVS_SVC_PERSISTENT_TIMEOUT,
  IPVSADM_DEFAULT_SCHEDULER,
  IPVSADM_MAX_TIMEOUT,
  SCHEDULER_NAMES,
} from './types.js';

/** IPVS version the kernel reports (IP_VS_VERSION_CODE 0x010201 in include/net/ip_vs.h). */
export const IPVS_VERSION = '1.2.1';

/** One line of `ipvsadm -S` / ipvsadm-restore input. */
export type IpvsadmCommand =
  | { readonly op: 'add-service' | 'edit-service'; readonly key: ServiceKey; readonly scheduler: string; readonly flags: number; readonly timeout: number; readonly netmask: number; readonly pe: string; readonly line: number }
  | { readonly op: 'delete-service'; readonly key: ServiceKey; readonly line: number }
  | { readonly op: 'add-server' | 'edit-server'; readonly key: ServiceKey; readonly dest: DestOptions; readonly line: number }
  | { readonly op: 'delete-server'; readonly key: ServiceKey; readonly addr: Ip; readonly port: number; readonly line: number }
  | { readonly op: 'clear'; readonly line: number };

const COMMANDS: Record<string, IpvsadmCommand['op']> = {
  '-A': 'add-service', '--add-service': 'add-service',
  '-E': 'edit-service', '--edit-service': 'edit-service',
  '-D': 'delete-service', '--delete-service': 'delete-service',
  '-C': 'clear', '--clear': 'clear',
  '-a': 'add-server', '--add-server': 'add-server',
  '-e': 'edit-server', '--edit-server': 'edit-server',
  '-d': 'delete-server', '--delete-server': 'delete-server',
};

/** Short and long spellings of the options a save line may carry (ipvsadm.c options table). */
const OPTION_NAMES: Record<string, string> = {
  '-t': 't', '--tcp-service': 't', '-u': 'u', '--udp-service': 'u', '--sctp-service': 'sctp', '-f': 'f', '--fwmark-service': 'f',
  '-s': 's', '--scheduler': 's', '-p': 'p', '--persistent': 'p', '-M': 'M', '--netmask': 'M', '-r': 'r', '--real-server': 'r',
  '-m': 'm', '--masquerading': 'm', '-g': 'g', '--gatewaying': 'g', '-i': 'i', '--ipip': 'i', '-w': 'w', '--weight': 'w',
  '-x': 'x', '--u-threshold': 'x', '-y': 'y', '--l-threshold': 'y', '-6': '6', '--ipv6': '6', '-o': 'o', '--ops': 'o',
  '--pe': 'pe', '-b': 'b', '--sched-flags': 'b', '--tun-type': 'tun-type',
};
const TAKES_ARG = new Set(['t', 'u', 'sctp', 'f', 's', 'M', 'r', 'w', 'x', 'y', 'pe', 'b', 'tun-type']);

class LineError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** string_to_number (ipvsadm.c): a decimal integer in [min, max]. */
function toNumber(text: string, min: number, max: number, field: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new LineError(field, `illegal ${what} specified: "${text}" (${min}..${max})`);
  return Number(text);
}

/** parse_service (ipvsadm.c): `addr[:port]` or `[v6addr][:port]`; numeric only. */
function parseAddrPort(text: string, field: string, what: string): { addr: Ip; port: number | null } {
  const bad = () => new LineError(field, `illegal ${what} address[:port] specified: "${text}"`);
  let addrText: string;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') throw bad();
    addrText = text.slice(1, close);
    portText = text.slice(close + 2);
  } else if (text.split(':').length > 2) {
    addrText = text; // a bare IPv6 address has no port
  } else {
    const colon = text.lastIndexOf(':');
    addrText = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? null : text.slice(colon + 1);
  }
  let addr: Ip;
  try {
    addr = parseIp(addrText);
  } catch {
    throw bad();
  }
  if (portText === null) return { addr, port: null };
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw bad();
  return { addr, port: Number(portText) };
}

/** A dotted IPv4 netmask as a prefix length; the kernel keeps any mask, podpath needs a contiguous one. */
function maskToPrefix(text: string, field: string): number {
  let ip: Ip;
  try {
    ip = parseIp(text);
  } catch {
    throw new LineError(field, `illegal virtual server persistent mask specified: "${text}"`);
  }
  if (ip.family !== 4) throw new LineError(field, `illegal virtual server persistent mask specified: "${text}"`);
  const n = ip.n;
  const prefix = 32 - Math.log2(((~n >>> 0) + 1) || 2 ** 32);
  if (!Number.isInteger(prefix)) throw new LineError(field, `persistent mask "${text}" is not contiguous`);
  return prefix;
}

function prefixToMask(prefix: number): string {
  const n = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return formatIp({ family: 4, n });
}

/** Parses one line (already split from the file); null for blank lines and comments. */
function parseLine(line: string, lineNo: number): IpvsadmCommand | null {
  const tokens = line.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0 || tokens[0]!.startsWith('#')) return null;
  const first = tokens[0]!;
  const op = COMMANDS[first];
  if (!op) throw new LineError(first, `unknown command "${first}" (a save line starts with -A, -E, -D, -a, -e, -d or -C)`);
  const opts = new Map<string, { value: string | null; token: string }>();
  for (let i = 1; i < tokens.length; i++) {
    let tok = tokens[i]!;
    let inline: string | null = null;
    if (tok.startsWith('--') && tok.includes('=')) {
      inline = tok.slice(tok.indexOf('=') + 1);
      tok = tok.slice(0, tok.indexOf('='));
    }
    const name = OPTION_NAMES[tok];
    if (!name) throw new LineError(tok, `unknown option "${tok}"`);
    if (opts.has(name)) throw new LineError(tok, `option "${tok}" given twice`);
    let value: string | null = inline;
    if (value === null && TAKES_ARG.has(name)) {
      value = tokens[++i] ?? null;
      if (value === null) throw new LineError(tok, `option "${tok}" needs a value`);
    } else if (value === null && name === 'p' && tokens[i + 1] !== undefined && !tokens[i + 1]!.startsWith('-')) {
      value = tokens[++i]!; // -p takes an optional timeout (POPT_ARGFLAG_OPTIONAL)
    }
    opts.set(name, { value, token: tok });
  }
  if (op === 'clear') return { op, line: lineNo };

  // The virtual service.
  const svcOpts = ['t', 'u', 'sctp', 'f'].filter((k) => opts.has(k));
  if (svcOpts.length !== 1) throw new LineError(first, svcOpts.length ? 'more than one virtual service given' : 'no virtual service given (-t, -u, --sctp-service or -f)');
  const sk = svcOpts[0]!;
  const so = opts.get(sk)!;
  let key: ServiceKey;
  if (sk === 'f') {
    const v = so.value!;
    if (!/^\d+$/.test(v) || Number(v) <= 0 || Number(v) > 0xffffffff) throw new LineError(so.token, `invalid fwmark value "${v}" specified`);
    key = { kind: 'fwmark', fwmark: Number(v), family: opts.has('6') ? 6 : 4 };
  } else {
    if (opts.has('6')) throw new LineError(opts.get('6')!.token, '-6 used before -f');
    const protocol: IpvsProtocol = sk === 't' ? 'tcp' : sk === 'u' ? 'udp' : 'sctp';
    const { addr, port } = parseAddrPort(so.value!, so.token, 'virtual server');
    key = { kind: 'addr', protocol, addr, port: port ?? 0 };
  }
  const family = key.kind === 'fwmark' ? key.family : key.addr.family;
  const svcPort = key.kind === 'addr' ? key.port : 0;
  const only = (allowed: string[]) => {
    for (const [k, o] of opts) if (k !== sk && !allowed.includes(k) && !(k === '6' && sk === 'f')) throw new LineError(o.token, `option "${o.token}" is not allowed with ${first}`);
  };

  if (op === 'delete-service') {
    only([]);
    return { op, key, line: lineNo };
  }
  if (op === 'add-service' || op === 'edit-service') {
    only(['s', 'p', 'M', 'o', 'pe', 'b']);
    const scheduler = opts.get('s')?.value ?? IPVSADM_DEFAULT_SCHEDULER;
    if (!(SCHEDULER_NAMES as readonly string[]).includes(scheduler)) {
      throw new LineError(opts.get('s')?.token ?? '-s', `unknown scheduler "${scheduler}" (known: ${SCHEDULER_NAMES.join(', ')})`);
    }
    let flags = 0;
    let timeout = 0;
    const p = opts.get('p');
    if (p) {
      flags |= IP_VS_SVC_F_PERSISTENT;
      timeout = p.value === null ? IPVS_SVC_PERSISTENT_TIMEOUT : toNumber(p.value, 1, IPVSADM_MAX_TIMEOUT, p.token, 'timeout value');
    }
    let netmask = family === 4 ? 32 : 128;
    const m = opts.get('M');
    if (m) netmask = family === 4 ? maskToPrefix(m.value!, m.token) : toNumber(m.value!, 1, 128, m.token, 'ipv6 netmask');
    if (opts.has('o')) {
      if (key.kind === 'addr' && key.protocol !== 'udp') throw new LineError(opts.get('o')!.token, 'One-Packet Scheduling is only for UDP virtual services');
      flags |= IP_VS_SVC_F_ONEPACKET;
    }
    const b = opts.get('b');
    if (b) flags |= parseSchedFlags(scheduler, b.value!, b.token);
    if (key.kind === 'addr' && key.port === 0 && !(flags & IP_VS_SVC_F_PERSISTENT)) throw new LineError(so.token, 'Zero port specified for non-persistent service');
    return { op, key, scheduler, flags, timeout, netmask, pe: opts.get('pe')?.value ?? '', line: lineNo };
  }

  // Real servers.
  const r = opts.get('r');
  if (!r) throw new LineError(first, 'no real server given (-r)');
  const rs = parseAddrPort(r.value!, r.token, 'real server');
  let rport = rs.port ?? svcPort;
  if (op === 'delete-server') {
    only(['r']);
    return { op, key, addr: rs.addr, port: rport, line: lineNo };
  }
  only(['r', 'm', 'g', 'i', 'w', 'x', 'y', 'tun-type']);
  const methods = ['m', 'g', 'i'].filter((k) => opts.has(k));
  if (methods.length > 1) throw new LineError(opts.get(methods[1]!)!.token, 'more than one forwarding method given');
  const fwd: FwdMethod = methods[0] === 'm' ? 'masq' : methods[0] === 'i' ? 'tunnel' : 'droute'; // -g is the default
  const tt = opts.get('tun-type');
  if (tt && (fwd !== 'tunnel' || tt.value !== 'ipip')) throw new LineError(tt.token, fwd !== 'tunnel' ? 'tunnel options need -i' : `unsupported tunnel type "${tt.value}" (podpath models ipip)`);
  if (key.kind === 'addr' && (fwd === 'droute' || fwd === 'tunnel')) rport = svcPort; // DR and TUN keep the virtual port
  if (rs.addr.family !== family && fwd !== 'tunnel') throw new LineError(r.token, 'Different address family is allowed only for tunneling servers');
  const w = opts.get('w');
  const x = opts.get('x');
  const y = opts.get('y');
  const dest: DestOptions = {
    addr: rs.addr,
    port: rport,
    fwd,
    weight: w ? toNumber(w.value!, 0, 65535, w.token, 'weight') : 1,
    uThreshold: x ? toNumber(x.value!, 0, 0x7fffffff, x.token, 'u_threshold') : 0,
    lThreshold: y ? toNumber(y.value!, 0, 0x7fffffff, y.token, 'l_threshold') : 0,
  };
  return { op, key, dest, line: lineNo };
}

/** parse_sched_flags (ipvsadm.c). */
function parseSchedFlags(scheduler: string, text: string, field: string): number {
  let flags = 0;
  for (const f of text.split(',')) {
    const table: Record<string, [number, string | null]> = {
      'flag-1': [IP_VS_SVC_F_SCHED1, null], 'flag-2': [IP_VS_SVC_F_SCHED2, null], 'flag-3': [IP_VS_SVC_F_SCHED3, null],
      'sh-fallback': [IP_VS_SVC_F_SCHED1, 'sh'], 'sh-port': [IP_VS_SVC_F_SCHED2, 'sh'],
      'mh-fallback': [IP_VS_SVC_F_SCHED1, 'mh'], 'mh-port': [IP_VS_SVC_F_SCHED2, 'mh'],
    };
    const e = table[f];
    if (!e) throw new LineError(field, `invalid scheduler flag "${f}"`);
    if (e[1] && e[1] !== scheduler) throw new LineError(field, `incompatible scheduler flag "${f}"`);
    flags |= e[0];
  }
  return flags;
}

/**
 * Parses `ipvsadm -S` output (ipvsadm-restore input). Collects every bad line, then throws one
 * InputError naming file, line and option.
 */
export function parseIpvsadmSave(text: string, opts: { file?: string } = {}): IpvsadmCommand[] {
  const out: IpvsadmCommand[] = [];
  const problems: Problem[] = [];
  text.split('\n').forEach((raw, i) => {
    try {
      const c = parseLine(raw, i + 1);
      if (c) out.push(c);
    } catch (e) {
      if (!(e instanceof LineError)) throw e;
      problems.push({ ...(opts.file !== undefined ? { file: opts.file } : {}), line: i + 1, field: e.field, message: e.message });
    }
  });
  if (problems.length) throw new InputError(problems);
  return out;
}

/**
 * Applies commands to a fresh table, as ipvsadm-restore does after a `-C`. All or nothing: the
 * first failing command (with its line) aborts with an InputError and no table is returned.
 */
export function buildIpvsTable(cmds: readonly IpvsadmCommand[], opts: { file?: string; netSalt?: number } = {}): IpvsServiceTable {
  const t = new IpvsServiceTable(opts.netSalt ?? 0);
  applyIpvsadmCommands(t, cmds, opts);
  return t;
}

/** Applies commands in order to `t` (the caller decides whether to apply to a scratch table first). */
export function applyIpvsadmCommands(t: IpvsServiceTable, cmds: readonly IpvsadmCommand[], opts: { file?: string } = {}): void {
  for (const c of cmds) {
    const at: SourceLocation = { ...(opts.file !== undefined ? { file: opts.file } : {}), line: c.line };
    switch (c.op) {
      case 'clear':
        t.clear();
        break;
      case 'add-service':
      case 'edit-service': {
        const o = { scheduler: c.scheduler as SchedulerName, flags: c.flags, timeout: c.timeout, netmask: c.netmask, pe: c.pe };
        if (c.op === 'add-service') t.addService(c.key, o, { ...at, field: '-A' });
        else t.editService(c.key, o, { ...at, field: '-E' });
        break;
      }
      case 'delete-service':
        t.deleteService(c.key, { ...at, field: '-D' });
        break;
      case 'add-server':
        t.addDest(c.key, c.dest, { ...at, field: '-a' });
        break;
      case 'edit-server':
        t.editDest(c.key, c.dest, { ...at, field: '-e' });
        break;
      case 'delete-server':
        t.deleteDest(c.key, c.addr, c.port, { ...at, field: '-d' });
        break;
    }
  }
}

/** Parse + build in one call: the table described by an `ipvsadm -Sn` dump. */
export function loadIpvsadmSave(text: string, opts: { file?: string; netSalt?: number } = {}): IpvsServiceTable {
  return buildIpvsTable(parseIpvsadmSave(text, opts), opts);
}

// ---- printing ----

const AF_INET = 2;
const AF_INET6 = 10;

/** C `int r = a - b` on unsigned 32-bit values: the difference wraps into a signed int. */
function cDiffU32(a: number, b: number): number {
  return ((a >>> 0) - (b >>> 0)) | 0;
}

function addrWords(ip: Ip): number[] {
  if (ip.family === 4) return [ip.n >>> 0];
  return [0, 1, 2, 3].map((i) => Number((ip.n >> BigInt(32 * (3 - i))) & 0xffffffffn));
}

function addrCmp(a: Ip, b: Ip): number {
  const wa = addrWords(a);
  const wb = addrWords(b);
  let r = 0;
  for (let i = 0; !r && i < wa.length; i++) r = cDiffU32(wa[i]!, wb[i] ?? 0);
  return r;
}

/** Models ipvs_cmp_services (libipvs.c), including its wrapping int subtraction of addresses. */
export function ipvsCmpServices(s1: VirtualService, s2: VirtualService): number {
  const k1 = s1.key;
  const k2 = s2.key;
  let r = cDiffU32(k1.kind === 'fwmark' ? k1.fwmark : 0, k2.kind === 'fwmark' ? k2.fwmark : 0);
  if (r) return r;
  const af = (k: ServiceKey) => ((k.kind === 'fwmark' ? k.family : k.addr.family) === 6 ? AF_INET6 : AF_INET);
  r = af(k1) - af(k2);
  if (r) return r;
  // fwmark services carry protocol TCP and address 0 (ipvsadm.c case 'f').
  const proto = (k: ServiceKey) => (k.kind === 'fwmark' ? IPPROTO.tcp : IPPROTO[k.protocol]);
  r = proto(k1) - proto(k2);
  if (r) return r;
  const addr = (k: ServiceKey): Ip => (k.kind === 'fwmark' ? (k.family === 4 ? { family: 4, n: 0 } : { family: 6, n: 0n }) : k.addr);
  r = addrCmp(addr(k1), addr(k2));
  if (r) return r;
  return (k1.kind === 'addr' ? k1.port : 0) - (k2.kind === 'addr' ? k2.port : 0);
}

/** Models ipvs_cmp_dests (libipvs.c). */
export function ipvsCmpDests(d1: RealServer, d2: RealServer): number {
  const r = addrCmp(d1.addr, d2.addr);
  return r || d1.port - d2.port;
}

/**
 * glibc's qsort for arrays that fit its buffer: a stable top-down merge sort (msort.c,
 * msort_with_tmp). Reproduced so that ipvsadm's non-transitive comparators order entries as the real tool does.
 */
export function glibcMsort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const b = [...items];
  const tmp: T[] = new Array(b.length);
  const rec = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = n >> 1;
    const n2 = n - n1;
    rec(lo, n1);
    rec(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    let k = 0;
    let r1 = n1;
    let r2 = n2;
    while (r1 > 0 && r2 > 0) {
      if (cmp(b[i]!, b[j]!) <= 0) {
        tmp[k++] = b[i++]!;
        r1--;
      } else {
        tmp[k++] = b[j++]!;
        r2--;
      }
    }
    while (r1-- > 0) tmp[k++] = b[i++]!;
    // the rest of the second run is already in place
    for (let m = 0; m < k; m++) b[lo + m] = tmp[m]!;
  };
  rec(0, b.length);
  return b;
}

function addrPort(ip: Ip, port: number): string {
  return ip.family === 4 ? `${formatIp(ip)}:${port}` : `[${formatIp(ip)}]:${port}`;
}

function fwdSwitch(f: FwdMethod): string {
  return f === 'masq' ? '-m' : f === 'tunnel' ? '-i' : '-g';
}

function fwdName(f: FwdMethod): string {
  return f === 'masq' ? 'Masq' : f === 'tunnel' ? 'Tunnel' : f === 'local' ? 'Local' : 'Route';
}

/** print_sched_flags (ipvsadm.c). */
function schedFlags(svc: VirtualService): string {
  const f: string[] = [];
  if (svc.scheduler === 'sh' || svc.scheduler === 'mh') {
    if (svc.flags & IP_VS_SVC_F_SCHED1) f.push(`${svc.scheduler}-fallback`);
    if (svc.flags & IP_VS_SVC_F_SCHED2) f.push(`${svc.scheduler}-port`);
  } else {
    if (svc.flags & IP_VS_SVC_F_SCHED1) f.push('flag-1');
    if (svc.flags & IP_VS_SVC_F_SCHED2) f.push('flag-2');
    if (svc.flags & IP_VS_SVC_F_SCHED3) f.push('flag-3');
  }
  return f.join(',');
}

const SCHED_FLAG_MASK = IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2 | IP_VS_SVC_F_SCHED3;

function sortedServices(t: IpvsServiceTable): VirtualService[] {
  return glibcMsort(t.services(), ipvsCmpServices);
}

function sortedDests(svc: VirtualService): RealServer[] {
  return glibcMsort(svc.dests, ipvsCmpDests);
}

function family(svc: VirtualService): 4 | 6 {
  return svc.key.kind === 'fwmark' ? svc.key.family : svc.key.addr.family;
}

/** Models print_service_entry with FMT_RULE|FMT_NUMERIC: the lines of `ipvsadm -Sn`. */
export function formatIpvsadmSave(t: IpvsServiceTable): string {
  const out: string[] = [];
  for (const svc of sortedServices(t)) {
    const k = svc.key;
    const name = k.kind === 'fwmark' ? `-f ${k.fwmark}${k.family === 6 ? ' -6' : ''}` : `${k.protocol === 'tcp' ? '-t' : k.protocol === 'udp' ? '-u' : '--sctp-service'} ${addrPort(k.addr, k.port)}`;
    let line = `-A ${name} -s ${svc.scheduler}`;
    if (svc.flags & IP_VS_SVC_F_PERSISTENT) {
      line += ` -p ${svc.timeout}`;
      if (family(svc) === 4 && svc.netmask !== 32) line += ` -M ${prefixToMask(svc.netmask)}`;
      if (family(svc) === 6 && svc.netmask !== 128) line += ` -M ${svc.netmask}`;
    }
    if (svc.pe) line += ` --pe ${svc.pe}`;
    if (svc.flags & IP_VS_SVC_F_ONEPACKET) line += ' -o';
    if (svc.flags & SCHED_FLAG_MASK) line += ` -b ${schedFlags(svc)}`;
    out.push(line);
    for (const d of sortedDests(svc)) {
      const base = `-a ${name} -r ${addrPort(d.addr, d.port)} ${fwdSwitch(d.fwd)} -w ${d.weight}`;
      out.push(d.fwd === 'tunnel' ? `${base} --tun-type ipip` : base);
    }
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** svc_name for listings: "%-4s %s" (truncated to 33 characters for IPv4) or "FWM  %d". */
function listName(svc: VirtualService): string {
  const k = svc.key;
  if (k.kind === 'fwmark') return `FWM  ${k.fwmark}${k.family === 6 ? ' IPv6' : ''}`;
  const s = `${k.protocol.toUpperCase().padEnd(4)} ${addrPort(k.addr, k.port)}`;
  return k.addr.family === 4 ? s.slice(0, 33) : s;
}

function destListName(d: RealServer): string {
  const s = addrPort(d.addr, d.port);
  return d.addr.family === 4 ? s.slice(0, 28) : s;
}

export interface ListOptions {
  /** `--stats`: the counters instead of weights and connection counts. */
  stats?: boolean;
  /** `--exact` (-X): print counters in full. */
  exact?: boolean;
  /** Connection table size in the header (ip_vs_conn_tab_size, default 4096). */
  connTabSize?: number;
}

/** print_largenum (ipvsadm.c). */
function largenum(i: number, exact: boolean): string {
  if (exact) {
    const s = String(i);
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 1e8) return String(i).padStart(9);
  if (i < 1e9) return `${String(Math.floor(i / 1e3)).padStart(8)}K`;
  if (i < 1e11) return `${String(Math.floor(i / 1e6)).padStart(8)}M`;
  if (i < 1e14) return `${String(Math.floor(i / 1e9)).padStart(8)}G`;
  return `${String(Math.floor(i / 1e12)).padStart(8)}T`;
}

/** Models list_all + print_title + print_service_entry with FMT_NUMERIC: `ipvsadm -Ln` and `-Ln --stats`. */
export function formatIpvsadmList(t: IpvsServiceTable, opts: ListOptions = {}): string {
  const out: string[] = [`IP Virtual Server version ${IPVS_VERSION} (size=${opts.connTabSize ?? IP_VS_CONN_TAB_SIZE})`];
  const exact = opts.exact ?? false;
  if (opts.stats) {
    out.push(`${'Prot LocalAddress:Port'.padEnd(33)} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((h) => h.padStart(8)).join(' ')}`);
    out.push('  -> RemoteAddress:Port');
  } else {
    out.push('Prot LocalAddress:Port Scheduler Flags');
    out.push('  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn');
  }
  for (const svc of sortedServices(t)) {
    const name = listName(svc);
    if (opts.stats) {
      const s = svc.stats;
      out.push(name.padEnd(33) + [s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes].map((v) => largenum(v, exact)).join(''));
    } else {
      let line = `${name} ${svc.scheduler}`;
      if (svc.flags & SCHED_FLAG_MASK) line += ` (${schedFlags(svc)})`;
      if (svc.flags & IP_VS_SVC_F_PERSISTENT) {
        line += ` persistent ${svc.timeout}`;
        if (family(svc) === 4 && svc.netmask !== 32) line += ` mask ${prefixToMask(svc.netmask)}`;
        if (family(svc) === 6 && svc.netmask !== 128) line += ` mask ${svc.netmask}`;
        if (svc.pe) line += ` pe ${svc.pe}`;
      }
      if (svc.flags & IP_VS_SVC_F_ONEPACKET) line += ' ops';
      out.push(line);
    }
    for (const d of sortedDests(svc)) {
      const dn = destListName(d);
      if (opts.stats) {
        const s = d.stats;
        out.push(`  -> ${dn.padEnd(28)}` + [s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes].map((v) => largenum(v, exact)).join(''));
      } else {
        out.push(`  -> ${dn.padEnd(28)} ${fwdName(d.fwd).padEnd(7)} ${String(d.weight).padEnd(6)} ${String(d.activeConns).padEnd(10)} ${String(d.inactConns).padEnd(10)}`);
      }
    }
  }
  return out.join('\n') + '\n';
}

export { serviceKeyName };
