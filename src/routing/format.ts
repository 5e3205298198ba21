import type { Cidr, Family, Ip, Problem } from '../base/index.js';
import { InputError, bitsOf, formatIp, parseCidr, parseIp, parseMac } from '../base/index.js';
import type { RouteType } from './names.js';
import { ROUTE_TYPES, TABLE_MAIN, PROTO_BOOT, SCOPE_UNIVERSE, routeProtoId, routeProtoName, scopeId, scopeName, tableId, tableName, tosText } from './names.js';
import type { LookupResult } from './rib.js';
import type { IfAddress, NeighEntry, NeighState, Nexthop, NexthopFlag, Route, RouteMetric, IpRule, IpRuleAction } from './types.js';
import { NEIGH_STATES, NEXTHOP_FLAGS } from './types.js';

/** RTA_METRICS names iproute2 prints (mx_names in ip/iproute.c), in RTAX order. */
const METRIC_NAMES = ['mtu', 'window', 'rtt', 'rttvar', 'ssthresh', 'cwnd', 'advmss', 'reordering', 'hoplimit', 'initcwnd', 'features', 'rto_min', 'initrwnd', 'quickack', 'congctl', 'fastopen_no_cookie'];

function dstText(c: Cidr): string {
  if (c.prefix === 0) return 'default';
  return c.prefix === bitsOf(c.family) ? formatIp(c.network) : `${formatIp(c.network)}/${c.prefix}`;
}

function flagsText(nh: Nexthop): string {
  const set = new Set<NexthopFlag>(nh.flags ?? []);
  if (nh.onlink) set.add('onlink');
  return NEXTHOP_FLAGS.filter((f) => set.has(f))
    .map((f) => `${f} `)
    .join('');
}

/**
 * One route as `ip route show` / `ip -6 route show` prints it (print_route, ip/iproute.c), multipath
 * nexthops on following lines. `table`: the table the listing was asked for (its name is then not
 * printed), or 'all' (`ip route show table all`: every non-main table is named).
 */
export function formatRoute(r: Route, opts: { table?: number | 'all' } = {}): string {
  const shown = opts.table ?? TABLE_MAIN;
  let s = '';
  if (r.type !== 'unicast') s += `${r.type} `;
  s += `${dstText(r.dst)} `;
  if (r.tos) s += `tos ${tosText(r.tos)} `;
  const single = r.nexthops.length === 1 ? r.nexthops[0]! : null;
  if (single?.gateway) s += `via ${r.family !== single.gateway.family ? 'inet6 ' : ''}${formatIp(single.gateway)} `;
  if (single?.dev) s += `dev ${single.dev} `;
  if (shown === 'all' ? r.table !== TABLE_MAIN : false) s += `table ${tableName(r.table)} `;
  if (r.protocol !== PROTO_BOOT) s += `proto ${routeProtoName(r.protocol)} `;
  if (r.scope !== SCOPE_UNIVERSE) s += `scope ${scopeName(r.scope)} `;
  if (r.prefsrc) s += `src ${formatIp(r.prefsrc)} `;
  if (r.metric || r.family === 6) s += `metric ${r.metric} `;
  if (single) s += flagsText(single);
  if (r.expires !== undefined) s += `expires ${r.expires}sec `;
  for (const m of r.metrics ?? []) s += `${m.name} ${m.lock ? 'lock ' : ''}${m.value} `;
  if (r.pref) s += `pref ${r.pref}`;
  if (r.nexthops.length > 1) {
    for (const nh of r.nexthops) {
      s += '\n\tnexthop ';
      if (nh.gateway) s += `via ${formatIp(nh.gateway)} `;
      s += `dev ${nh.dev ?? ''} weight ${nh.weight} ${flagsText(nh)}`;
    }
  }
  return s;
}

/** A listing as `ip route show` prints it: one route per line, each line ending with a newline. */
export function formatRoutes(routes: readonly Route[], opts: { table?: number | 'all' } = {}): string {
  return routes.map((r) => `${formatRoute(r, opts)}\n`).join('');
}

function problem(file: string | undefined, line: number, field: string, message: string): Problem {
  return { ...(file !== undefined ? { file } : {}), line, field, message };
}

/**
 * Parses `ip route show` / `ip -6 route show` output (any table, `table all` included) back into
 * routes. `table`: the table the dump was taken from when it does not name it (default main).
 * Every unreadable token is reported with its line; nothing is returned partially.
 */
export function parseRoutes(text: string, opts: { file?: string; family?: Family; table?: number } = {}): Route[] {
  const problems: Problem[] = [];
  const routes: Route[] = [];
  const lines = text.split('\n');
  let current: Route | null = null;
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    if (raw.trim() === '') return;
    const bad = (field: string, message: string) => problems.push(problem(opts.file, lineNo, field, message));
    const toks = raw.trim().split(/\s+/);
    if (toks[0] === 'nexthop') {
      if (!current) return bad('nexthop', 'a nexthop line without a route before it');
      const nh: Nexthop = { weight: 1 };
      for (let i = 1; i < toks.length; i++) {
        const t = toks[i]!;
        const v = toks[i + 1];
        if (t === 'via') {
          let gv = v;
          if (gv === 'inet' || gv === 'inet6') gv = toks[++i + 1];
          try {
            nh.gateway = parseIp(gv ?? '');
          } catch {
            bad('via', `invalid gateway "${gv ?? ''}"`);
          }
          i++;
        } else if (t === 'dev' && v) {
          nh.dev = v;
          i++;
        } else if (t === 'weight' && v && /^\d+$/.test(v)) {
          nh.weight = Number(v);
          i++;
        } else if (t === 'onlink') nh.onlink = true;
        else if ((NEXTHOP_FLAGS as readonly string[]).includes(t)) (nh.flags ??= []).push(t as NexthopFlag);
        else bad(t, `unknown nexthop token "${t}"`);
      }
      current.nexthops.push(nh);
      return;
    }
    let i = 0;
    let type: RouteType = 'unicast';
    if ((ROUTE_TYPES as readonly string[]).includes(toks[0]!)) type = toks[i++] as RouteType;
    const dstTok = toks[i++] ?? '';
    let family: Family | undefined = opts.family;
    let dst: Cidr | null = null;
    if (dstTok === 'default') {
      family ??= raw.includes(':') ? 6 : 4;
      dst = family === 4 ? parseCidr('0.0.0.0/0') : parseCidr('::/0');
    } else {
      try {
        dst = parseCidr(dstTok);
        family = dst.family;
      } catch {
        bad('dst', `invalid destination "${dstTok}"`);
        return;
      }
    }
    const r: Route = { family: family!, type, dst, table: opts.table ?? TABLE_MAIN, protocol: PROTO_BOOT, scope: SCOPE_UNIVERSE, metric: 0, tos: 0, nexthops: [] };
    const nh: Nexthop = { weight: 1 };
    let hasNh = false;
    const metrics: RouteMetric[] = [];
    for (; i < toks.length; i++) {
      const t = toks[i]!;
      const v = toks[i + 1];
      const need = (): string | null => {
        if (v === undefined) {
          bad(t, `"${t}" needs a value`);
          return null;
        }
        i++;
        return v;
      };
      if (t === 'via') {
        let gv = need();
        if (gv === 'inet' || gv === 'inet6') gv = need();
        if (gv === null) continue;
        try {
          nh.gateway = parseIp(gv);
          hasNh = true;
        } catch {
          bad('via', `invalid gateway "${gv}"`);
        }
      } else if (t === 'dev') {
        const d = need();
        if (d !== null) {
          nh.dev = d;
          hasNh = true;
        }
      } else if (t === 'table') {
        const x = need();
        const id = x === null ? null : tableId(x);
        if (id === null) bad('table', `unknown table "${x}"`);
        else r.table = id;
      } else if (t === 'proto') {
        const x = need();
        const id = x === null ? null : routeProtoId(x);
        if (id === null) bad('proto', `unknown protocol "${x}"`);
        else r.protocol = id;
      } else if (t === 'scope') {
        const x = need();
        const id = x === null ? null : scopeId(x);
        if (id === null) bad('scope', `unknown scope "${x}"`);
        else r.scope = id;
      } else if (t === 'src') {
        const x = need();
        try {
          r.prefsrc = parseIp(x ?? '');
        } catch {
          bad('src', `invalid source "${x}"`);
        }
      } else if (t === 'metric') {
        const x = need();
        if (x === null || !/^\d+$/.test(x)) bad('metric', `invalid metric "${x}"`);
        else r.metric = Number(x);
      } else if (t === 'tos') {
        const x = need();
        const n = x === null ? NaN : Number(x);
        if (!(n >= 0 && n <= 255)) bad('tos', `invalid tos "${x}"`);
        else r.tos = n;
      } else if (t === 'pref') {
        const x = need();
        if (x === 'low' || x === 'medium' || x === 'high') r.pref = x;
        else bad('pref', `invalid pref "${x}"`);
      } else if (t === 'expires') {
        const x = need();
        const m = /^(-?\d+)sec$/.exec(x ?? '');
        if (!m) bad('expires', `invalid expires "${x}"`);
        else r.expires = Number(m[1]);
      } else if (t === 'onlink') {
        nh.onlink = true;
      } else if ((NEXTHOP_FLAGS as readonly string[]).includes(t)) {
        (nh.flags ??= []).push(t as NexthopFlag);
      } else if (METRIC_NAMES.includes(t)) {
        let x = need();
        const lock = x === 'lock';
        if (lock) x = need();
        if (x === null || !/^\d+$/.test(x)) bad(t, `invalid ${t} "${x}"`);
        else metrics.push(lock ? { name: t, value: Number(x), lock } : { name: t, value: Number(x) });
      } else {
        bad(t, `unknown token "${t}"`);
      }
    }
    if (hasNh || nh.onlink || nh.flags) r.nexthops.push(nh);
    if (metrics.length) r.metrics = metrics;
    if (r.family === 6 && !raw.includes(' metric ')) r.metric = 0;
    routes.push(r);
    current = r;
  });
  if (problems.length) throw new InputError(problems);
  return routes;
}

/**
 * The answer of `ip route get` (ip -6 route get) for a lookup, as iproute2 prints the kernel's
 * reply (print_route on an RTM_F_CLONED IPv4 route; the fib6 entry for IPv6).
 */
export function formatRouteGet(res: LookupResult): string {
  if (res.errno) return `${res.error ?? res.errno}\n`;
  const q = res.query;
  const v6 = q.dst.family === 6;
  const input = q.iif !== undefined;
  let s = '';
  if (res.kind !== 'unicast') s += `${res.kind === 'broadcast' ? 'broadcast' : 'local'} `;
  s += `${formatIp(q.dst)} `;
  if (v6) s += `from ${q.src ? formatIp(q.src) : '::'} `;
  else if (q.src) s += `from ${formatIp(q.src)} `;
  if (q.tos) s += `tos ${tosText(q.tos)} `;
  if (res.gateway) s += `via ${formatIp(res.gateway)} `;
  s += `dev ${res.dev} `;
  if (res.table !== null && res.table !== TABLE_MAIN) s += `table ${tableName(res.table)} `;
  if (v6) {
    const r = res.route;
    if (r && r.protocol !== PROTO_BOOT) s += `proto ${routeProtoName(r.protocol)} `;
    if (res.src) s += `src ${formatIp(res.src)} `;
    s += `metric ${r?.metric ?? 0} pref ${r?.pref ?? 'medium'}\n`;
    return s;
  }
  if (!input && res.src && !(q.src && res.src.n === q.src.n)) s += `src ${formatIp(res.src)} `;
  if (q.mark) s += q.mark >= 16 ? `mark 0x${q.mark.toString(16)} ` : `mark ${q.mark} `;
  if (!input) s += 'uid 0 ';
  s += '\n    cache ';
  if (res.flags.length) s += `<${res.flags.join(',')}> `;
  const mtu = res.route?.metrics?.find((m) => m.name === 'mtu');
  if (mtu && res.kind === 'unicast') s += `mtu ${mtu.value} `;
  if (input) s += `iif ${q.iif} `;
  return `${s}\n`;
}

function hex(n: number): string {
  return n === 0 ? '0' : `0x${n.toString(16)}`;
}

function ruleAddr(c: Cidr): string {
  return c.prefix === bitsOf(c.family) ? formatIp(c.network) : `${formatIp(c.network)}/${c.prefix}`;
}

/** One rule as `ip rule show` prints it (print_rule, ip/iprule.c). */
export function formatIpRule(r: IpRule): string {
  let s = `${r.priority}:\t`;
  if (r.invert) s += 'not ';
  s += `from ${r.src ? ruleAddr(r.src) : 'all'}`;
  if (r.dst) s += ` to ${ruleAddr(r.dst)}`;
  if (r.tos) s += ` tos ${tosText(r.tos)}`;
  if (r.fwmark !== undefined || r.fwmask !== undefined) {
    s += ` fwmark ${hex(r.fwmark ?? 0)}`;
    if (r.fwmask !== undefined && r.fwmask !== 0xffffffff) s += `/${hex(r.fwmask)}`;
  }
  if (r.iif !== undefined) s += ` iif ${r.iif}`;
  if (r.oif !== undefined) s += ` oif ${r.oif}`;
  if (r.action === 'lookup') {
    s += ` lookup ${tableName(r.table ?? TABLE_MAIN)}`;
    if (r.suppressPrefixlength !== undefined) s += ` suppress_prefixlength ${r.suppressPrefixlength}`;
  } else if (r.action === 'goto') s += ` goto ${r.goto ?? 'none'}`;
  else s += ` ${r.action}`;
  if (r.protocol !== undefined && r.protocol !== 2) s += ` proto ${routeProtoName(r.protocol)}`;
  return s;
}

export function formatIpRules(rules: readonly IpRule[]): string {
  return rules.map((r) => `${formatIpRule(r)}\n`).join('');
}

const RULE_ACTIONS: readonly IpRuleAction[] = ['blackhole', 'unreachable', 'prohibit', 'nop'];

/** Parses `ip rule show` / `ip -6 rule show` output. */
export function parseIpRules(text: string, opts: { file?: string; family?: Family } = {}): IpRule[] {
  const problems: Problem[] = [];
  const rules: IpRule[] = [];
  text.split('\n').forEach((raw, idx) => {
    if (raw.trim() === '') return;
    const bad = (field: string, message: string) => problems.push(problem(opts.file, idx + 1, field, message));
    const m = /^(\d+):\s+(.*)$/.exec(raw.trim());
    if (!m) return bad('priority', `expected "PRIORITY:" at the start of "${raw}"`);
    const toks = m[2]!.trim().split(/\s+/);
    const rule: IpRule = { family: opts.family ?? (raw.includes(':', m[1]!.length + 1) ? 6 : 4), priority: Number(m[1]), action: 'lookup' };
    let sawAction = false;
    const cidr = (t: string, v: string | undefined): Cidr | undefined => {
      try {
        return parseCidr(v ?? '');
      } catch {
        bad(t, `invalid address "${v}"`);
        return undefined;
      }
    };
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i]!;
      const v = toks[i + 1];
      if (t === 'not') rule.invert = true;
      else if (t === 'from') {
        i++;
        if (v !== 'all') {
          const c = cidr(t, v);
          if (c) rule.src = c;
        }
      } else if (t === 'to') {
        i++;
        const c = cidr(t, v);
        if (c) rule.dst = c;
      } else if (t === 'tos') {
        i++;
        rule.tos = Number(v);
      } else if (t === 'fwmark') {
        i++;
        const [mk, mask] = (v ?? '').split('/');
        const mark = Number(mk);
        if (!Number.isInteger(mark)) bad('fwmark', `invalid fwmark "${v}"`);
        rule.fwmark = mark;
        if (mask !== undefined) rule.fwmask = Number(mask);
      } else if (t === 'iif') {
        i++;
        rule.iif = v ?? '';
      } else if (t === 'oif') {
        i++;
        rule.oif = v ?? '';
      } else if (t === 'lookup' || t === 'table') {
        i++;
        const id = tableId(v ?? '');
        if (id === null) bad('lookup', `unknown table "${v}"`);
        else rule.table = id;
        sawAction = true;
      } else if (t === 'suppress_prefixlength') {
        i++;
        rule.suppressPrefixlength = Number(v);
      } else if (t === 'goto') {
        i++;
        rule.action = 'goto';
        rule.goto = Number(v);
        sawAction = true;
      } else if ((RULE_ACTIONS as readonly string[]).includes(t)) {
        rule.action = t as IpRuleAction;
        sawAction = true;
      } else if (t === 'proto') {
        i++;
        const id = routeProtoId(v ?? '');
        if (id === null) bad('proto', `unknown protocol "${v}"`);
        else rule.protocol = id;
      } else bad(t, `unknown token "${t}"`);
    }
    if (!sawAction) bad('action', 'no lookup, goto or action');
    if (rule.family === 4 && (rule.src?.family === 6 || rule.dst?.family === 6)) rule.family = 6;
    rules.push(rule);
  });
  if (problems.length) throw new InputError(problems);
  return rules;
}

/**
 * One neighbour as `ip neigh show` prints it (print_neigh, ip/ipneigh.c): `IP dev DEV lladdr MAC
 * [router] [proxy] STATE `. `ip neigh show` hides NOARP entries unless `nud all` (`all: true`).
 */
export function formatNeigh(e: NeighEntry): string {
  let s = `${formatIp(e.ip)} dev ${e.dev} `;
  if (e.lladdr) s += `lladdr ${e.lladdr} `;
  if (e.router) s += 'router ';
  if (e.proxy) s += 'proxy ';
  if (e.externLearn) s += 'extern_learn ';
  if (e.state) s += `${e.state} `;
  return s;
}

export function formatNeighs(entries: readonly NeighEntry[], opts: { all?: boolean } = {}): string {
  return entries
    .filter((e) => opts.all || e.proxy || e.state !== 'NOARP')
    .map((e) => `${formatNeigh(e)}\n`)
    .join('');
}

/** Parses `ip neigh show` (and `ip neigh show proxy`) output. */
export function parseNeighs(text: string, opts: { file?: string } = {}): NeighEntry[] {
  const problems: Problem[] = [];
  const out: NeighEntry[] = [];
  text.split('\n').forEach((raw, idx) => {
    if (raw.trim() === '') return;
    const bad = (field: string, message: string) => problems.push(problem(opts.file, idx + 1, field, message));
    const toks = raw.trim().split(/\s+/);
    let ip: Ip;
    try {
      ip = parseIp(toks[0] ?? '');
    } catch {
      return bad('ip', `invalid address "${toks[0]}"`);
    }
    const e: NeighEntry = { ip, dev: '' };
    for (let i = 1; i < toks.length; i++) {
      const t = toks[i]!;
      if (t === 'dev') e.dev = toks[++i] ?? '';
      else if (t === 'lladdr') {
        try {
          e.lladdr = parseMac(toks[++i] ?? '');
        } catch {
          bad('lladdr', `invalid lladdr "${toks[i]}"`);
        }
      } else if (t === 'router') e.router = true;
      else if (t === 'proxy') e.proxy = true;
      else if (t === 'extern_learn') e.externLearn = true;
      else if ((NEIGH_STATES as readonly string[]).includes(t)) e.state = t as NeighState;
      else bad(t, `unknown token "${t}"`);
    }
    if (!e.dev) bad('dev', 'no device');
    out.push(e);
  });
  if (problems.length) throw new InputError(problems);
  return out;
}

/** Parses `ip -o addr show` lines into addresses (enough to load a real node: dev, address, scope, secondary). */
export function parseAddresses(text: string, opts: { file?: string } = {}): IfAddress[] {
  const problems: Problem[] = [];
  const out: IfAddress[] = [];
  text.split('\n').forEach((raw, idx) => {
    if (raw.trim() === '') return;
    const m = /^\d+:\s+(\S+)\s+(inet6?)\s+(\S+)(.*)$/.exec(raw.trim());
    if (!m) {
      problems.push(problem(opts.file, idx + 1, 'line', `not an "ip -o addr" line: "${raw}"`));
      return;
    }
    const [addr, len] = m[3]!.split('/');
    let local: Ip;
    try {
      local = parseIp(addr ?? '');
    } catch {
      problems.push(problem(opts.file, idx + 1, 'address', `invalid address "${m[3]}"`));
      return;
    }
    const rest = m[4]!;
    const scope = /scope (\S+)/.exec(rest)?.[1] ?? 'global';
    out.push({
      dev: m[1]!.replace(/@.*$/, ''),
      family: local.family,
      local,
      prefix: Number(len ?? bitsOf(local.family)),
      scope: scopeId(scope) ?? 0,
      secondary: /\bsecondary\b/.test(rest),
    });
  });
  if (problems.length) throw new InputError(problems);
  return out;
}
