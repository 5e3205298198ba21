import type { Provenance } from '../../../trace/types.js';
import { formatCidr, formatIp, cidrContains } from '../../../base/index.js';
import { invariant } from '../../../base/assert.js';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  probability,
} from './chain-names.js';
import {
  DEFAULTS,
  categorizeEndpoints,
  externallyAccessible,
  sepChainName,
  usesClusterEndpoints,
  usesLocalEndpoints,
  type Ep,
  type ResolvedNode,
  type SvcPort,
} from './model.js';
import type { ChainRef, EnsuredJumpRule, IptablesTable, RuleWithProvenance, SysctlSetting } from './types.js';

/** One rule as the generator writes it: chain, full `-A` line, provenance. */
export interface RuleRec {
  chain: string;
  text: string;
  prov: Provenance[];
}

/**
 * The always-rewritten chains a service port can add rules to, as "table chain" (the order is
 * only an index: counts per fragment are kept in an Int32Array of this length).
 */
export const TOP_CHAINS = [
  `filter ${KUBE_SERVICES}`,
  `filter ${KUBE_EXTERNAL_SERVICES}`,
  `filter ${KUBE_PROXY_FIREWALL}`,
  `filter ${KUBE_NODEPORTS}`,
  `nat ${KUBE_SERVICES}`,
  `nat ${KUBE_NODEPORTS}`,
] as const;
export const TOP_INDEX: ReadonlyMap<string, number> = new Map(TOP_CHAINS.map((k, i) => [k, i]));

/** A fragment's rules as records with provenance (built on demand, by the same code as its text). */
export interface FragmentRecords {
  natTop: RuleRec[];
  filter: RuleRec[];
  natChainRules: RuleRec[];
}

/** Characters of payload text a stream gathers before joining them into one chunk. */
const CHUNK_CHARS = 136 * 1024;

/**
 * Lines of one payload section (filter rules, nat chain declarations, nat rules), joined into
 * large chunks as they come. A chunk is one flat string above V8's large-object size, so the
 * scavenger never copies it, and each line is garbage soon after it is made instead of living
 * until the whole payload is joined (per-rule strings and records surviving young-generation
 * collections were the largest cost of a 10,000-service sync: 38% of its time in GC). Fragments keep (chunk, start, end) and slice their text out on demand.
 */
export class TextStream {
  readonly chunks: string[] = [];
  private lines: string[] = [];
  private pending = 0;

  push(line: string): void {
    this.lines.push(line);
    this.pending += line.length + 1;
  }

  /** Where the next line will start: index of the chunk it will be in, and its offset there. */
  get chunk(): number {
    return this.chunks.length;
  }
  get offset(): number {
    return this.pending;
  }

  /** Joins the pending lines into a chunk once there are enough (call between fragments only). */
  maybeFlush(): void {
    if (this.pending >= CHUNK_CHARS) this.flush();
  }

  flush(): void {
    if (this.lines.length === 0) return;
    this.chunks.push(this.lines.join('\n'));
    this.lines = [];
    this.pending = 0;
  }

  /** Text of [start, end) of a flushed chunk. */
  slice(chunk: number, start: number, end: number): string {
    if (start >= end) return '';
    const c = this.chunks[chunk];
    invariant(c !== undefined, `TextStream chunk ${chunk} read before it was flushed`);
    return c.slice(start, end);
  }
}

/** The three payload sections fragments write to. */
export interface FragmentStreams {
  filter: TextStream;
  decls: TextStream;
  nat: TextStream;
}

export function newStreams(): FragmentStreams {
  return { filter: new TextStream(), decls: new TextStream(), nat: new TextStream() };
}

export function flushStreams(st: FragmentStreams): void {
  st.filter.flush();
  st.decls.flush();
  st.nat.flush();
}

/** A run of lines inside one stream chunk: [start, end) characters, no trailing newline. */
class Range {
  readonly chunk: number;
  readonly start: number;
  end = -1;
  constructor(private readonly stream: TextStream) {
    this.chunk = stream.chunk;
    this.start = stream.offset;
  }
  close(): void {
    // the stream offset is past the last line's separator
    this.end = this.stream.offset === this.start ? this.start : this.stream.offset - 1;
  }
  text(): string {
    return this.stream.slice(this.chunk, this.start, this.end);
  }
}

/**
 * What one service port contributes to a sync, split as syncProxyRules splits it:
 * rules always rewritten (KUBE-SERVICES / KUBE-NODEPORTS in nat, every filter rule) and the
 * per-service chains (EXT, FW, SVC, SVL, SEP) that a partial sync skips when unchanged.
 * The rules are kept as payload text only (lines joined by "\n", "" when none); `records()`
 * regenerates them with provenance when asked, so a full sync allocates no per-rule objects.
 */
export interface PortFragment {
  sp: SvcPort;
  readonly natTopText: string;
  readonly filterText: string;
  /** The per-service nat chains it writes, in order (read back from natChainDecls). */
  readonly natChains: string[];
  /** `:CHAIN - [0:0]` of natChains. */
  readonly natChainDecls: string;
  readonly natChainText: string;
  readonly endpointCount: number;
  /** Rules per TOP_CHAINS entry (natTop and filter). */
  readonly topCounts: readonly number[];
  records(): FragmentRecords;
}

/**
 * Whose rule it is, resolved to a Provenance[] only when records are asked for: null is the
 * service port alone, an Ep is the service port and that endpoint, a string is the service port
 * and the node-configuration detail of that text.
 */
type ProvRef = Ep | string | null;

/** Collects one fragment's rules: payload lines into streams (text mode) or records with provenance. */
class FragmentWriter {
  readonly topCounts: number[] = TOP_CHAINS.map(() => 0);
  private readonly sprov: Provenance[];
  private readonly epProv = new Map<Ep, Provenance[]>();
  private inChains = false;

  constructor(
    private readonly sp: SvcPort,
    private readonly node: ResolvedNode,
    readonly recs: FragmentRecords | null,
    private readonly st: FragmentStreams | null,
  ) {
    this.sprov = [sp.provenance];
  }

  chain(name: string): void {
    this.st?.decls.push(`:${name} - [0:0]`);
  }

  /** The endpoint's KUBE-SEP chain, hashed once per Ep (an Ep belongs to exactly one service port). */
  sep(ep: Ep): string {
    return ep.sep || (ep.sep = sepChainName(this.sp, ep));
  }

  private prov(p: ProvRef): Provenance[] {
    if (p === null) return this.sprov;
    if (typeof p === 'string') return [this.sp.provenance, nodeProv(this.node, p)];
    let a = this.epProv.get(p);
    if (!a) this.epProv.set(p, (a = [this.sp.provenance, p.provenance]));
    return a;
  }

  top(chain: string, text: string, prov: ProvRef = null): void {
    this.topCounts[chain === KUBE_SERVICES ? 4 : 5]!++;
    invariant(!this.inChains, 'KUBE-SERVICES/KUBE-NODEPORTS rule written after per-service chain rules');
    if (this.recs) this.recs.natTop.push({ chain, text, prov: this.prov(prov) });
    else this.st!.nat.push(text);
  }

  filt(chain: string, text: string, prov: ProvRef = null): void {
    this.topCounts[chain === KUBE_SERVICES ? 0 : chain === KUBE_EXTERNAL_SERVICES ? 1 : chain === KUBE_PROXY_FIREWALL ? 2 : 3]!++;
    if (this.recs) this.recs.filter.push({ chain, text, prov: this.prov(prov) });
    else this.st!.filter.push(text);
  }

  nat(chain: string, text: string, prov: ProvRef = null): void {
    this.inChains = true;
    if (this.recs) this.recs.natChainRules.push({ chain, text, prov: this.prov(prov) });
    else this.st!.nat.push(text);
  }
}

/**
 * Builds the per-service-port part of syncProxyRules (pkg/proxy/iptables/proxier.go, v1.34),
 * writing its lines to `streams` (shared by every fragment of a full sync, in payload order; the
 * caller flushes them before reading any text), or to streams of its own when none are given.
 */
export function buildPortFragment(sp: SvcPort, allEndpoints: readonly Ep[], node: ResolvedNode, largeClusterMode: boolean, streams?: FragmentStreams): PortFragment {
  const st = streams ?? newStreams();
  const filter = new Range(st.filter);
  const decls = new Range(st.decls);
  const top = new Range(st.nat);
  const w = new FragmentWriter(sp, node, null, st);
  let chains: Range | null = null;
  writePortRules(w, sp, allEndpoints, node, largeClusterMode, () => {
    top.close();
    chains = new Range(st.nat);
  });
  filter.close();
  decls.close();
  if (chains === null) {
    top.close();
    chains = new Range(st.nat);
  }
  const natChainRange: Range = chains;
  natChainRange.close();
  if (streams) {
    st.filter.maybeFlush();
    st.decls.maybeFlush();
    st.nat.maybeFlush();
  } else flushStreams(st);
  return new Fragment(sp, allEndpoints, node, largeClusterMode, w.topCounts, filter, decls, top, natChainRange);
}

class Fragment implements PortFragment {
  constructor(
    readonly sp: SvcPort,
    private readonly eps: readonly Ep[],
    private readonly node: ResolvedNode,
    private readonly large: boolean,
    readonly topCounts: readonly number[],
    private readonly filterRange: Range,
    private readonly declRange: Range,
    private readonly topRange: Range,
    private readonly chainRange: Range,
  ) {}
  get endpointCount(): number {
    return this.eps.length;
  }
  get natTopText(): string {
    return this.topRange.text();
  }
  get filterText(): string {
    return this.filterRange.text();
  }
  get natChainDecls(): string {
    return this.declRange.text();
  }
  get natChains(): string[] {
    const d = this.declRange.text();
    return d === '' ? [] : d.split('\n').map((l) => l.slice(1, l.indexOf(' ')));
  }
  get natChainText(): string {
    return this.chainRange.text();
  }
  records(): FragmentRecords {
    const recs: FragmentRecords = { natTop: [], filter: [], natChainRules: [] };
    writePortRules(new FragmentWriter(this.sp, this.node, recs, null), this.sp, this.eps, this.node, this.large, () => {});
    return recs;
  }
}

/** The rules of one service port, in syncProxyRules' order, into a writer. */
function writePortRules(w: FragmentWriter, sp: SvcPort, allEndpoints: readonly Ep[], node: ResolvedNode, largeClusterMode: boolean, chainsStart: () => void): void {
  const proto = sp.protocol;
  const name = sp.name;
  const { cluster, local, reachable, hasAny } = categorizeEndpoints(allEndpoints, sp, node);

  const usesClusterPolicyChain = cluster.length > 0 && usesClusterEndpoints(sp);
  const usesLocalPolicyChain = local.length > 0 && usesLocalEndpoints(sp);
  let internalChain = sp.svcChain;
  let hasInternal = hasAny;
  if (sp.internalPolicyLocal) {
    internalChain = sp.svlChain;
    if (local.length === 0) hasInternal = false;
  }
  let externalPolicyChain = sp.svcChain;
  let hasExternal = hasAny;
  if (sp.externalPolicyLocal) {
    externalPolicyChain = sp.svlChain;
    if (local.length === 0) hasExternal = false;
  }
  const extChain = sp.extChain;
  const usesExtChain = hasAny && externallyAccessible(sp);
  const usesFW = hasAny && sp.lbVIPs.length > 0 && sp.sourceRanges.length > 0;
  const lbChain = usesFW ? sp.fwChain : extChain;

  let internalFilterTarget = '';
  let internalFilterComment = '';
  let externalFilterTarget = '';
  let externalFilterComment = '';
  if (!hasAny) {
    internalFilterTarget = externalFilterTarget = 'REJECT';
    internalFilterComment = externalFilterComment = `"${name} has no endpoints"`;
  } else {
    if (!hasInternal) {
      internalFilterTarget = 'DROP';
      internalFilterComment = `"${name} has no local endpoints"`;
    }
    if (!hasExternal) {
      externalFilterTarget = 'DROP';
      externalFilterComment = `"${name} has no local endpoints"`;
    }
  }
  const dport = String(sp.port);
  const mp = (ip: string) => `-m ${proto} -p ${proto} -d ${ip} --dport ${dport}`;

  // ClusterIP
  if (hasInternal) w.top(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m comment --comment "${name} cluster IP" ${mp(sp.clusterIP)} -j ${internalChain}`);
  else w.filt(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m comment --comment ${internalFilterComment} ${mp(sp.clusterIP)} -j ${internalFilterTarget}`);

  // externalIPs
  for (const eip of sp.externalIPs) {
    if (hasAny) w.top(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m comment --comment "${name} external IP" ${mp(eip)} -j ${extChain}`);
    if (!hasExternal) w.filt(KUBE_EXTERNAL_SERVICES, `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${mp(eip)} -j ${externalFilterTarget}`);
  }
  // load-balancer ingress
  for (const lb of sp.lbVIPs) {
    if (hasAny) w.top(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m comment --comment "${name} loadbalancer IP" ${mp(lb)} -j ${lbChain}`);
    if (usesFW) w.filt(KUBE_PROXY_FIREWALL, `-A ${KUBE_PROXY_FIREWALL} -m comment --comment "${name} traffic not accepted by ${sp.fwChain}" ${mp(lb)} -j DROP`);
  }
  if (!hasExternal)
    for (const lb of sp.lbVIPs) w.filt(KUBE_EXTERNAL_SERVICES, `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${mp(lb)} -j ${externalFilterTarget}`);

  // NodePort
  if (sp.nodePort !== 0) {
    const np = String(sp.nodePort);
    if (hasAny) {
      if (node.localhostNodePorts && node.family === 4 && node.nfacctLocalhostNodePorts)
        w.top(
          KUBE_NODEPORTS,
          `-A ${KUBE_NODEPORTS} -m comment --comment ${name} -m ${proto} -p ${proto} -d 127.0.0.0/8 --dport ${np} -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${extChain}`,
        );
      w.top(KUBE_NODEPORTS, `-A ${KUBE_NODEPORTS} -m comment --comment ${name} -m ${proto} -p ${proto} --dport ${np} -j ${extChain}`);
    }
    if (!hasExternal)
      w.filt(
        KUBE_EXTERNAL_SERVICES,
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} -m addrtype --dst-type LOCAL -m ${proto} -p ${proto} --dport ${np} -j ${externalFilterTarget}`,
      );
  }
  // health check node port
  if (sp.healthCheckNodePort !== 0)
    w.filt(KUBE_NODEPORTS, `-A ${KUBE_NODEPORTS} -m comment --comment "${name} health check node port" -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`);

  // ---- per-service chains (skipped by a partial sync when the service did not change)
  chainsStart();
  if (hasInternal) {
    const args = `-m comment --comment "${name} cluster IP" ${mp(sp.clusterIP)}`;
    if (node.masqueradeAll) w.nat(internalChain, `-A ${internalChain} ${args} -j ${KUBE_MARK_MASQ}`, 'masqueradeAll');
    else if (node.ifNotLocal) w.nat(internalChain, `-A ${internalChain} ${args} ${node.ifNotLocalText} -j ${KUBE_MARK_MASQ}`, node.detectorProvDetail);
  }
  if (usesExtChain) {
    w.chain(extChain);
    if (!sp.externalPolicyLocal) w.nat(extChain, `-A ${extChain} -m comment --comment "masquerade traffic for ${name} external destinations" -j ${KUBE_MARK_MASQ}`);
    else {
      if (node.ifLocal)
        w.nat(extChain, `-A ${extChain} -m comment --comment "pod traffic for ${name} external destinations" ${node.ifLocalText} -j ${sp.svcChain}`, node.detectorProvDetail);
      w.nat(extChain, `-A ${extChain} -m comment --comment "masquerade LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`);
      w.nat(extChain, `-A ${extChain} -m comment --comment "route LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${sp.svcChain}`);
    }
    if (hasExternal) w.nat(extChain, `-A ${extChain} -j ${externalPolicyChain}`);
  }
  if (usesFW) {
    const fw = sp.fwChain;
    w.chain(fw);
    const head = `-A ${fw} -m comment --comment "${name} loadbalancer IP"`;
    let allowFromNode = false;
    for (const c of sp.sourceRanges) {
      w.nat(fw, `${head} -s ${formatCidr(c)} -j ${extChain}`);
      if (node.nodeIP && cidrContains(c, node.nodeIP)) allowFromNode = true;
    }
    if (allowFromNode) for (const lb of sp.lbVIPs) w.nat(fw, `${head} -s ${lb} -j ${extChain}`, `nodeIP ${formatIp(node.nodeIP!)} is inside loadBalancerSourceRanges`);
    w.nat(fw, `-A ${fw} -m comment --comment "other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL"`);
  }
  if (usesClusterPolicyChain) {
    w.chain(sp.svcChain);
    writeServiceToEndpointRules(w, sp, sp.svcChain, cluster, largeClusterMode);
  }
  if (usesLocalPolicyChain) {
    w.chain(sp.svlChain);
    writeServiceToEndpointRules(w, sp, sp.svlChain, local, largeClusterMode);
  }
  // per-fragment constant parts as flat strings (join makes one; template literals make ropes)
  const comment = largeClusterMode ? '' : [' -m comment --comment ', name].join('');
  const masq = [comment, ' -s '].join('');
  const dnat = [' -m ', proto, ' -p ', proto, ' -j DNAT --to-destination '].join('');
  const recent = sp.affinityTimeout !== null;
  for (const ep of reachable) {
    const sep = w.sep(ep);
    w.chain(sep);
    w.nat(sep, `-A ${sep}${masq}${ep.ip}${JUMP_MARK_MASQ}`, ep);
    w.nat(sep, `-A ${sep}${comment}${recent ? ` -m recent --name ${sep} --set` : ''}${dnat}${ep.str}`, ep);
  }
}

const JUMP_MARK_MASQ = ` -j ${KUBE_MARK_MASQ}`;
const statCache: string[] = [];

/** " -m statistic --mode random --probability P" for 1/n, one flat string per n. */
function statisticMatch(n: number): string {
  let s = statCache[n];
  if (s === undefined) {
    s = [' -m statistic --mode random --probability ', probability(n)].join('');
    if (n < 100_000) statCache[n] = s;
  }
  return s;
}

/** Models Proxier.writeServiceToEndpointRules. */
function writeServiceToEndpointRules(w: FragmentWriter, sp: SvcPort, chain: string, eps: readonly Ep[], large: boolean): void {
  if (sp.affinityTimeout !== null)
    for (const ep of eps) {
      const sep = w.sep(ep);
      const c = large ? '' : ` -m comment --comment "${sp.name} -> ${ep.str}"`;
      w.nat(chain, `-A ${chain}${c} -m recent --name ${sep} --rcheck --seconds ${sp.affinityTimeout} --reap -j ${sep}`, ep);
    }
  const n = eps.length;
  for (let i = 0; i < n; i++) {
    const ep = eps[i]!;
    const sep = w.sep(ep);
    const c = large ? '' : ` -m comment --comment "${sp.name} -> ${ep.str}"`;
    const stat = i < n - 1 ? statisticMatch(n - i) : '';
    w.nat(chain, `-A ${chain}${c}${stat} -j ${sep}`, ep);
  }
}

export function nodeProv(node: ResolvedNode, detail: string): Provenance {
  let p = node.provCache.get(detail);
  if (!p) node.provCache.set(detail, (p = { kind: 'kube-proxy', name: node.nodeName, detail }));
  return p;
}

// ------------------------------------------------------------------ static parts

export const FILTER_FIXED_CHAINS = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL] as const;
export const NAT_FIXED_CHAINS = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ] as const;

/** Filter chain declarations of every sync (KUBE-FIREWALL only for IPv4 with localhost NodePorts). */
export function filterChainDecls(node: ResolvedNode): string[] {
  const out: string[] = [...FILTER_FIXED_CHAINS];
  if (node.family === 4 && node.localhostNodePorts) out.push(KUBE_FIREWALL);
  return out;
}

/** KUBE-FIREWALL's anti-martian rule, first in the filter rules (IPv4 + localhost NodePorts). */
export function filterHead(node: ResolvedNode): RuleRec[] {
  if (!(node.family === 4 && node.localhostNodePorts)) return [];
  return [
    {
      chain: KUBE_FIREWALL,
      text: `-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
      prov: [nodeProv(node, 'localhostNodePorts=true (mitigation for route_localnet, issue 90259)')],
    },
  ];
}

/** The masquerade plumbing, always the first nat rules. */
export function natHead(node: ResolvedNode): RuleRec[] {
  const m = node.masqueradeMark;
  const p = [nodeProv(node, `masquerade mark ${m}`)];
  return [
    { chain: KUBE_POSTROUTING, text: `-A ${KUBE_POSTROUTING} -m mark ! --mark ${m}/${m} -j RETURN`, prov: p },
    { chain: KUBE_POSTROUTING, text: `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${m}`, prov: p },
    {
      chain: KUBE_POSTROUTING,
      text: `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${node.randomFully ? ' --random-fully' : ''}`,
      prov: p,
    },
    { chain: KUBE_MARK_MASQ, text: `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${m}`, prov: p },
  ];
}

/** The last rule(s) of nat KUBE-SERVICES: the jump to KUBE-NODEPORTS. */
export function natTail(node: ResolvedNode, warnings: string[]): RuleRec[] {
  const comment = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
  const p = [nodeProv(node, `nodePortAddresses ${node.nodePortAddressesText}`)];
  if (node.nodePortMatchAll) {
    let dest = '-m addrtype --dst-type LOCAL';
    if (node.family === 6) dest += ' ! -d ::1/128';
    else if (!node.localhostNodePorts) dest += ' ! -d 127.0.0.0/8';
    return [{ chain: KUBE_SERVICES, text: `-A ${KUBE_SERVICES} -m comment --comment ${comment} ${dest} -j ${KUBE_NODEPORTS}`, prov: p }];
  }
  const out: RuleRec[] = [];
  for (const ip of node.nodePortIPs) {
    const loop = ip.family === 4 ? ip.n >>> 24 === 127 : ip.n === 1n;
    if (loop) {
      if (node.family === 6) {
        warnings.push(`--nodeport-addresses includes localhost (${formatIp(ip)}) but localhost NodePorts are not supported on IPv6`);
        continue;
      } else if (!node.localhostNodePorts) {
        warnings.push(`--nodeport-addresses includes localhost (${formatIp(ip)}) but --iptables-localhost-nodeports=false`);
        continue;
      }
    }
    out.push({ chain: KUBE_SERVICES, text: `-A ${KUBE_SERVICES} -m comment --comment ${comment} -d ${formatIp(ip)} -j ${KUBE_NODEPORTS}`, prov: p });
  }
  return out;
}

/** The KUBE-FORWARD rules, after every per-service filter rule. */
export function filterTail(node: ResolvedNode): RuleRec[] {
  const m = node.masqueradeMark;
  const out: RuleRec[] = [];
  if (!node.conntrackTCPLiberal)
    out.push({
      chain: KUBE_FORWARD,
      text: `-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID${node.nfacctCtStateInvalid ? ' -m nfacct --nfacct-name ct_state_invalid_dropped_pkts' : ''} -j DROP`,
      prov: [nodeProv(node, 'nf_conntrack_tcp_be_liberal=0: drop ctstate INVALID (issues 74839, 117924)')],
    });
  out.push({
    chain: KUBE_FORWARD,
    text: `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${m}/${m} -j ACCEPT`,
    prov: [nodeProv(node, `masquerade mark ${m}`)],
  });
  out.push({
    chain: KUBE_FORWARD,
    text: `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    prov: [nodeProv(node, 'kube-proxy forwarding rules')],
  });
  return out;
}

/** iptablesJumpChains + iptablesKubeletJumpChains (pkg/proxy/iptables/proxier.go, v1.34), in ensure order. */
const JUMPS: ReadonlyArray<readonly [IptablesTable, string, string, string, boolean, boolean]> = [
  // table, target (kube chain), source (built-in chain), comment, ctstate NEW, removed on cleanup
  ['filter', KUBE_EXTERNAL_SERVICES, 'INPUT', 'kubernetes externally-visible service portals', true, true],
  ['filter', KUBE_EXTERNAL_SERVICES, 'FORWARD', 'kubernetes externally-visible service portals', true, true],
  ['filter', KUBE_NODEPORTS, 'INPUT', 'kubernetes health check service ports', false, true],
  ['filter', KUBE_SERVICES, 'FORWARD', 'kubernetes service portals', true, true],
  ['filter', KUBE_SERVICES, 'OUTPUT', 'kubernetes service portals', true, true],
  ['filter', KUBE_FORWARD, 'FORWARD', 'kubernetes forwarding rules', false, true],
  ['filter', KUBE_PROXY_FIREWALL, 'INPUT', 'kubernetes load balancer firewall', true, true],
  ['filter', KUBE_PROXY_FIREWALL, 'OUTPUT', 'kubernetes load balancer firewall', true, true],
  ['filter', KUBE_PROXY_FIREWALL, 'FORWARD', 'kubernetes load balancer firewall', true, true],
  ['nat', KUBE_SERVICES, 'OUTPUT', 'kubernetes service portals', false, true],
  ['nat', KUBE_SERVICES, 'PREROUTING', 'kubernetes service portals', false, true],
  ['nat', KUBE_POSTROUTING, 'POSTROUTING', 'kubernetes postrouting rules', false, true],
  ['filter', KUBE_FIREWALL, 'INPUT', '', false, false],
  ['filter', KUBE_FIREWALL, 'OUTPUT', '', false, false],
];

/**
 * The jump rules a full sync ensures (EnsureChain + EnsureRule(Prepend, …)), in that order. Each
 * missing one is inserted at position 1, so on clean built-in chains the final order per chain is
 * the reverse of this list.
 */
export function ensuredJumpRules(node: ResolvedNode): EnsuredJumpRule[] {
  return JUMPS.map(([table, target, chain, comment, ctNew, removed]) => {
    const args = [...(ctNew ? ['-m', 'conntrack', '--ctstate', 'NEW'] : []), ...(comment ? ['-m', 'comment', '--comment', comment] : []), '-j', target];
    const rule = `-A ${chain} ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`;
    return {
      table,
      chain,
      target,
      args,
      rule,
      position: 'prepend' as const,
      removedOnCleanup: removed,
      provenance: [nodeProv(node, removed ? 'iptablesJumpChains' : "iptablesKubeletJumpChains (duplicate of kubelet's)")],
    };
  });
}

/** Sysctls kube-proxy sets or relies on (NewProxier; cmd/kube-proxy conntrack setup). */
export function proxySysctls(node: ResolvedNode): SysctlSetting[] {
  const out: SysctlSetting[] = [];
  if (node.family === 4 && node.localhostNodePorts)
    out.push({ key: 'net/ipv4/conf/all/route_localnet', value: 1, action: 'set', reason: 'localhost NodePorts (iptables.localhostNodePorts, nodePortAddresses includes 127.0.0.0/8)' });
  out.push({
    key: family(node) === 4 ? 'net/bridge/bridge-nf-call-iptables' : 'net/bridge/bridge-nf-call-ip6tables',
    value: 1,
    action: 'expect',
    reason: 'bridged pod-to-Service traffic must traverse iptables (br_netfilter); set by the CNI/node setup, not by kube-proxy',
  });
  out.push({
    key: 'net/netfilter/nf_conntrack_max',
    value: Math.max(DEFAULTS.conntrackMaxPerCore * node.cpus, DEFAULTS.conntrackMin),
    action: 'set',
    reason: 'conntrack.maxPerCore 32768 × CPUs, at least conntrack.min 131072 (raised only if lower)',
  });
  out.push({ key: 'net/netfilter/nf_conntrack_tcp_timeout_established', value: DEFAULTS.conntrackTCPEstablishedTimeout, action: 'set', reason: 'conntrack.tcpEstablishedTimeout 24h' });
  out.push({ key: 'net/netfilter/nf_conntrack_tcp_timeout_close_wait', value: DEFAULTS.conntrackTCPCloseWaitTimeout, action: 'set', reason: 'conntrack.tcpCloseWaitTimeout 1h' });
  return out;
}

function family(node: ResolvedNode): 4 | 6 {
  return node.family;
}

// ------------------------------------------------------------------ assembly

export interface Assembly {
  payload: string;
  /** Chains declared (`:CHAIN - [0:0]`), per table, in payload order; built on first use. */
  chains(): ChainRef[];
  deleted: ChainRef[];
  /** Every rule with its chain position; built on first use (the payload alone is the hot path). */
  rules(): RuleWithProvenance[];
}

/**
 * Writes the payload as syncProxyRules does: filter (chains, rules, COMMIT) then nat (fixed chains,
 * per-service chains, stale chain declarations, rules, `-X` lines, the KUBE-NODEPORTS tail, COMMIT).
 * `writeChains(frag)` says whether a fragment's per-service chains are written (false in a partial
 * sync for unchanged services). The payload is one join of blocks that are each "\n"-joined
 * lines: the fragments' texts, or, when `streams` is given (every fragment was written there in
 * this order and every one is written), the streams' chunks themselves.
 */
export function assemble(
  node: ResolvedNode,
  frags: readonly PortFragment[],
  writeChains: (frag: PortFragment) => boolean,
  stale: readonly string[],
  warnings: string[],
  streams?: FragmentStreams,
): Assembly {
  const head = filterHead(node);
  const ftail = filterTail(node);
  const nhead = natHead(node);
  const ntail = natTail(node, warnings);
  const fdecls = filterChainDecls(node);
  const nf = frags.length;
  const written = new Uint8Array(nf);
  for (let i = 0; i < nf; i++) written[i] = writeChains(frags[i]!) ? 1 : 0;

  const blocks: string[] = ['*filter'];
  const add = (b: string) => {
    if (b !== '') blocks.push(b);
  };
  for (const c of fdecls) blocks.push(`:${c} - [0:0]`);
  for (const r of head) blocks.push(r.text);
  if (streams) for (const c of streams.filter.chunks) add(c);
  else for (let i = 0; i < nf; i++) add(frags[i]!.filterText);
  for (const r of ftail) blocks.push(r.text);
  blocks.push('COMMIT', '*nat');
  for (const c of NAT_FIXED_CHAINS) blocks.push(`:${c} - [0:0]`);
  if (streams) for (const c of streams.decls.chunks) add(c);
  else for (let i = 0; i < nf; i++) if (written[i]) add(frags[i]!.natChainDecls);
  for (const c of stale) blocks.push(`:${c} - [0:0]`);
  for (const r of nhead) blocks.push(r.text);
  if (streams) for (const c of streams.nat.chunks) add(c);
  else
    for (let i = 0; i < nf; i++) {
      const f = frags[i]!;
      add(f.natTopText);
      if (written[i]) add(f.natChainText);
    }
  for (const c of stale) blocks.push(`-X ${c}`);
  for (const r of ntail) blocks.push(r.text);
  blocks.push('COMMIT', '');

  let chains: ChainRef[] | null = null;
  let rules: RuleWithProvenance[] | null = null;
  return {
    payload: blocks.join('\n'),
    deleted: stale.map((chain) => ({ table: 'nat' as const, chain })),
    chains() {
      if (chains) return chains;
      const out: ChainRef[] = fdecls.map((chain) => ({ table: 'filter' as const, chain }));
      for (const chain of NAT_FIXED_CHAINS) out.push({ table: 'nat', chain });
      for (let i = 0; i < nf; i++) if (written[i]) for (const chain of frags[i]!.natChains) out.push({ table: 'nat', chain });
      return (chains = out);
    },
    rules() {
      if (rules) return rules;
      const out: RuleWithProvenance[] = [];
      const counters = { filter: new Map<string, number>(), nat: new Map<string, number>() };
      const add = (table: IptablesTable, r: RuleRec) => {
        const m = counters[table];
        const index = (m.get(r.chain) ?? 0) + 1;
        m.set(r.chain, index);
        out.push({ table, chain: r.chain, index, rule: r.text, provenance: r.prov });
      };
      const recs = frags.map((f) => f.records());
      for (const r of head) add('filter', r);
      for (const fr of recs) for (const r of fr.filter) add('filter', r);
      for (const r of ftail) add('filter', r);
      for (const r of nhead) add('nat', r);
      for (let i = 0; i < nf; i++) {
        const fr = recs[i]!;
        for (const r of fr.natTop) add('nat', r);
        if (written[i]) for (const r of fr.natChainRules) add('nat', r);
      }
      for (const r of ntail) add('nat', r);
      return (rules = out);
    },
  };
}
