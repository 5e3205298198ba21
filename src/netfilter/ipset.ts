/**
 * ipsets of one network namespace: `ipset save` text in and out, and membership tests as xt_set
 * asks them (ip_set_test → the type's kadt/test functions in net/netfilter/ipset/ip_set_*.c).
 */
import { cidrContains, parseCidr, parseIp } from '../base/index.js';
import type { Cidr, Family, Ip } from '../base/index.js';
import type { IpsetDim, IpsetLookup, NfPacket, Rule, Ruleset } from './types.js';
import { RulesetParseError } from './util.js';

export type IpsetType = 'hash:ip' | 'hash:ip,port' | 'hash:net' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'hash:net,port' | 'bitmap:port';

/** The dimensions of each type, in element order. */
const TYPE_DIMS: Readonly<Record<IpsetType, readonly ('ip' | 'net' | 'port')[]>> = {
  'hash:ip': ['ip'],
  'hash:ip,port': ['ip', 'port'],
  'hash:net': ['net'],
  'hash:ip,port,ip': ['ip', 'port', 'ip'],
  'hash:ip,port,net': ['ip', 'port', 'net'],
  'hash:net,port': ['net', 'port'],
  'bitmap:port': ['port'],
};

/** Protocol numbers ipset accepts in `proto:port` (ipset's parse_proto: getprotobyname). */
const IPSET_PROTOS: ReadonlyMap<string, number> = new Map([['tcp', 6], ['udp', 17], ['sctp', 132], ['udplite', 136], ['icmp', 1], ['icmpv6', 58]]);

type Part = { kind: 'ip'; cidr: Cidr } | { kind: 'port'; proto: number; lo: number; hi: number };

export interface IpsetMember {
  /** The element text as ipset save prints it (after the set name), options included. */
  text: string;
  parts: Part[];
  nomatch: boolean;
}

export interface IpSet {
  name: string;
  type: IpsetType;
  family: Family;
  /** Everything after the type on the `create` line, as printed. */
  options: string;
  members: IpsetMember[];
}

export class IpsetStore implements IpsetLookup {
  readonly sets = new Map<string, IpSet>();

  has(name: string): boolean {
    return this.sets.has(name);
  }

  /** Models set_match_v4 (xt_set.c) over the type's test: dims say where each dimension is read from. */
  test(name: string, pkt: NfPacket, dims: readonly IpsetDim[], opts: { returnNomatch?: boolean } = {}): boolean {
    const set = this.sets.get(name);
    if (!set || set.family !== pkt.family) return false;
    const tdims = TYPE_DIMS[set.type];
    // xt_set: the match's dimension count must cover the set's (extra flags are ignored).
    if (dims.length < tdims.length) return false;
    let ips: Ip[];
    try {
      ips = tdims.map((d, i) => (d === 'port' ? ({ family: 4, n: 0 } as Ip) : parseIp(dims[i] === 'src' ? pkt.src : pkt.dst)));
    } catch {
      return false;
    }
    let best: IpsetMember | undefined;
    let bestPrefix = -1;
    for (const m of set.members) {
      let ok = true;
      let prefix = 0;
      for (let i = 0; i < tdims.length && ok; i++) {
        const part = m.parts[i]!;
        if (part.kind === 'ip') {
          ok = cidrContains(part.cidr, ips[i]!);
          prefix += part.cidr.prefix;
        } else {
          const port = dims[i] === 'src' ? pkt.sport : pkt.dport;
          // bitmap:port has no protocol in its elements; hash types compare it.
          ok = port !== undefined && port >= part.lo && port <= part.hi && (set.type === 'bitmap:port' ? true : part.proto === pkt.proto);
        }
      }
      // hash:net* look up the most specific prefix first: the longest containing entry decides.
      if (ok && prefix > bestPrefix) {
        best = m;
        bestPrefix = prefix;
      }
    }
    if (!best) return false;
    // --return-nomatch reverses the sense: a nomatch element matches, a plain one does not.
    return opts.returnNomatch ? best.nomatch : !best.nomatch;
  }

  clone(): IpsetStore {
    const c = new IpsetStore();
    for (const [n, s] of this.sets) c.sets.set(n, { ...s, members: [...s.members] });
    return c;
  }
}

function parsePart(text: string, dim: 'ip' | 'net' | 'port', family: Family, type: IpsetType): Part {
  if (dim === 'port') {
    let proto = 6;
    let p = text;
    const colon = text.indexOf(':');
    if (colon >= 0 && type !== 'bitmap:port') {
      const pn = IPSET_PROTOS.get(text.slice(0, colon));
      if (pn === undefined) throw new Error(`unknown protocol "${text.slice(0, colon)}"`);
      proto = pn;
      p = text.slice(colon + 1);
    }
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p);
    if (!m || Number(m[1]) > 65535 || Number(m[2] ?? 0) > 65535) throw new Error(`invalid port "${p}"`);
    return { kind: 'port', proto, lo: Number(m[1]), hi: Number(m[2] ?? m[1]) };
  }
  const cidr = parseCidr(text);
  if (cidr.family !== family) throw new Error(`"${text}" is not an IPv${family} address`);
  if (dim === 'ip' && text.includes('/') && cidr.prefix !== (family === 4 ? 32 : 128)) {
    // ipset expands ip/prefix into single addresses on add; a containment test is equivalent.
  }
  return { kind: 'ip', cidr };
}

/** Parses `ipset save` output (also `ipset restore` input: create/add lines). All or nothing. */
export function parseIpsetSave(text: string, opts: { file?: string } = {}): IpsetStore {
  const store = new IpsetStore();
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const loc = { file: opts.file, line: ln + 1 };
    const words = line.split(' ').filter((w) => w !== '');
    const [cmd, name, third] = words;
    if (cmd === 'create' || cmd === '-N' || cmd === 'n') {
      if (!name || !third) throw new RulesetParseError('create needs a set name and a type', { ...loc, token: cmd });
      if (!(third in TYPE_DIMS)) throw new RulesetParseError(`unsupported set type "${third}"`, { ...loc, token: third });
      if (store.sets.has(name)) throw new RulesetParseError(`set "${name}" already exists`, { ...loc, token: name });
      const rest = words.slice(3);
      const fi = rest.indexOf('family');
      const fam = fi >= 0 ? rest[fi + 1] : 'inet';
      if (fam !== 'inet' && fam !== 'inet6') throw new RulesetParseError(`bad family "${fam}"`, { ...loc, token: 'family' });
      store.sets.set(name, { name, type: third as IpsetType, family: fam === 'inet6' ? 6 : 4, options: rest.join(' '), members: [] });
    } else if (cmd === 'add' || cmd === '-A' || cmd === 'a') {
      const set = name ? store.sets.get(name) : undefined;
      if (!set) throw new RulesetParseError(`set "${name}" does not exist`, { ...loc, token: name ?? cmd });
      if (!third) throw new RulesetParseError('add needs an element', { ...loc, token: cmd });
      const dims = TYPE_DIMS[set.type];
      const fields = third.split(',');
      if (fields.length !== dims.length) throw new RulesetParseError(`element "${third}" does not fit ${set.type}`, { ...loc, token: third });
      let parts: Part[];
      try {
        parts = fields.map((f, i) => parsePart(f, dims[i]!, set.family, set.type));
      } catch (e) {
        throw new RulesetParseError(`element "${third}": ${(e as Error).message}`, { ...loc, token: third });
      }
      const extra = words.slice(3);
      set.members.push({ text: [third, ...extra].join(' '), parts, nomatch: extra.includes('nomatch') });
    } else throw new RulesetParseError(`unknown ipset command "${cmd}"`, { ...loc, token: cmd });
  }
  return store;
}

/** `ipset save` text: per set, its create line then its members. */
export function formatIpsetSave(store: IpsetStore): string {
  let out = '';
  for (const s of store.sets.values()) {
    out += `create ${s.name} ${s.type}${s.options ? ` ${s.options}` : ''}\n`;
    for (const m of s.members) out += `add ${s.name} ${m.text}\n`;
  }
  return out;
}

/** Rules whose `-m set` names a set that does not exist (xt_set checkentry refuses to load them). */
export function missingIpsets(rs: Ruleset, store: IpsetLookup): { rule: Rule; set: string }[] {
  const out: { rule: Rule; set: string }[] = [];
  for (const t of rs.tables.values())
    for (const c of t.chains.values())
      for (const r of c.rules) for (const m of r.matches) if (m.kind === 'set' && !store.has(m.name)) out.push({ rule: r, set: m.name });
  return out;
}

