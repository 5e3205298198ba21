import type { Provenance } from '../../../trace/types.js';
import { formatCidr, formatIp, cidrContains } from '../../../base/index.js';
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
 * What one service port contributes to a sync, split as syncProxyRules splits it:
 * rules always rewritten (KUBE-SERVICES / KUBE-NODEPORTS in nat, every filter rule) and the
 * per-service chains (EXT, FW, SVC, SVL, SEP) that a partial sync skips when unchanged.
 */
export interface PortFragment {
  sp: SvcPort;
  natTop: RuleRec[];
  filter: RuleRec[];
  natChains: string[];
  natChainRules: RuleRec[];
  endpointCount: number;
}

/** Builds the per-service-port part of syncProxyRules (pkg/proxy/iptables/proxier.go, v1.34). */
export function buildPortFragment(sp: SvcPort, allEndpoints: readonly Ep[], node: ResolvedNode, largeClusterMode: boolean): PortFragment {
  const frag: PortFragment = { sp, natTop: [], filter: [], natChains: [], natChainRules: [], endpointCount: allEndpoints.length };
  const proto = sp.protocol;
  const name = sp.name;
  const sprov = [sp.provenance];
  const detProv = (detail: string) => [sp.provenance, nodeProv(node, detail)];
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
  const top = (chain: string, text: string, prov = sprov) => frag.natTop.push({ chain, text, prov });
  const filt = (chain: string, text: string, prov = sprov) => frag.filter.push({ chain, text, prov });
  const nat = (chain: string, text: string, prov = sprov) => frag.natChainRules.push({ chain, text, prov });

  // ClusterIP
  if (hasInternal) top(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m comment --comment "${name} cluster IP" ${mp(sp.clusterIP)} -j ${internalChain}`);
  else filt(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m comment --comment ${internalFilterComment} ${mp(sp.clusterIP)} -j ${internalFilterTarget}`);

  // externalIPs
  for (const eip of sp.externalIPs) {
    if (hasAny) top(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m comment --comment "${name} external IP" ${mp(eip)} -j ${extChain}`);
    if (!hasExternal) filt(KUBE_EXTERNAL_SERVICES, `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${mp(eip)} -j ${externalFilterTarget}`);
  }
  // load-balancer ingress
  for (const lb of sp.lbVIPs) {
    if (hasAny) top(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m comment --comment "${name} loadbalancer IP" ${mp(lb)} -j ${lbChain}`);
    if (usesFW) filt(KUBE_PROXY_FIREWALL, `-A ${KUBE_PROXY_FIREWALL} -m comment --comment "${name} traffic not accepted by ${sp.fwChain}" ${mp(lb)} -j DROP`);
  }
  if (!hasExternal)
    for (const lb of sp.lbVIPs) filt(KUBE_EXTERNAL_SERVICES, `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${mp(lb)} -j ${externalFilterTarget}`);

  // NodePort
  if (sp.nodePort !== 0) {
    const np = String(sp.nodePort);
    if (hasAny) {
      if (node.localhostNodePorts && node.family === 4 && node.nfacctLocalhostNodePorts)
        top(
          KUBE_NODEPORTS,
          `-A ${KUBE_NODEPORTS} -m comment --comment ${name} -m ${proto} -p ${proto} -d 127.0.0.0/8 --dport ${np} -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${extChain}`,
        );
      top(KUBE_NODEPORTS, `-A ${KUBE_NODEPORTS} -m comment --comment ${name} -m ${proto} -p ${proto} --dport ${np} -j ${extChain}`);
    }
    if (!hasExternal)
      filt(
        KUBE_EXTERNAL_SERVICES,
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} -m addrtype --dst-type LOCAL -m ${proto} -p ${proto} --dport ${np} -j ${externalFilterTarget}`,
      );
  }
  // health check node port
  if (sp.healthCheckNodePort !== 0)
    filt(KUBE_NODEPORTS, `-A ${KUBE_NODEPORTS} -m comment --comment "${name} health check node port" -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`);

  // ---- per-service chains (skipped by a partial sync when the service did not change)
  if (hasInternal) {
    const args = `-m comment --comment "${name} cluster IP" ${mp(sp.clusterIP)}`;
    if (node.masqueradeAll) nat(internalChain, `-A ${internalChain} ${args} -j ${KUBE_MARK_MASQ}`, detProv('masqueradeAll'));
    else if (node.ifNotLocal)
      nat(internalChain, `-A ${internalChain} ${args} ${node.ifNotLocal.join(' ')} -j ${KUBE_MARK_MASQ}`, detProv(`localDetector ${node.detectorText}`));
  }
  if (usesExtChain) {
    frag.natChains.push(extChain);
    if (!sp.externalPolicyLocal) nat(extChain, `-A ${extChain} -m comment --comment "masquerade traffic for ${name} external destinations" -j ${KUBE_MARK_MASQ}`);
    else {
      if (node.ifLocal)
        nat(
          extChain,
          `-A ${extChain} -m comment --comment "pod traffic for ${name} external destinations" ${node.ifLocal.join(' ')} -j ${sp.svcChain}`,
          detProv(`localDetector ${node.detectorText}`),
        );
      nat(extChain, `-A ${extChain} -m comment --comment "masquerade LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`);
      nat(extChain, `-A ${extChain} -m comment --comment "route LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${sp.svcChain}`);
    }
    if (hasExternal) nat(extChain, `-A ${extChain} -j ${externalPolicyChain}`);
  }
  if (usesFW) {
    const fw = sp.fwChain;
    frag.natChains.push(fw);
    const head = `-A ${fw} -m comment --comment "${name} loadbalancer IP"`;
    let allowFromNode = false;
    for (const c of sp.sourceRanges) {
      nat(fw, `${head} -s ${formatCidr(c)} -j ${extChain}`);
      if (node.nodeIP && cidrContains(c, node.nodeIP)) allowFromNode = true;
    }
    if (allowFromNode) for (const lb of sp.lbVIPs) nat(fw, `${head} -s ${lb} -j ${extChain}`, detProv(`nodeIP ${formatIp(node.nodeIP!)} is inside loadBalancerSourceRanges`));
    nat(fw, `-A ${fw} -m comment --comment "other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL"`);
  }
  const perEp = new Map<Ep, EpRef>();
  const sepOf = (ep: Ep): EpRef => {
    let s = perEp.get(ep);
    if (s === undefined) perEp.set(ep, (s = { sep: sepChainName(sp, ep), prov: [sp.provenance, ep.provenance] }));
    return s;
  };
  if (usesClusterPolicyChain) {
    frag.natChains.push(sp.svcChain);
    writeServiceToEndpointRules(frag, sp, sp.svcChain, cluster, largeClusterMode, sepOf);
  }
  if (usesLocalPolicyChain) {
    frag.natChains.push(sp.svlChain);
    writeServiceToEndpointRules(frag, sp, sp.svlChain, local, largeClusterMode, sepOf);
  }
  const comment = largeClusterMode ? '' : ` -m comment --comment ${name}`;
  for (const ep of reachable) {
    const { sep, prov } = sepOf(ep);
    frag.natChains.push(sep);
    nat(sep, `-A ${sep}${comment} -s ${ep.ip} -j ${KUBE_MARK_MASQ}`, prov);
    const recent = sp.affinityTimeout !== null ? ` -m recent --name ${sep} --set` : '';
    nat(sep, `-A ${sep}${comment}${recent} -m ${proto} -p ${proto} -j DNAT --to-destination ${ep.str}`, prov);
  }
  return frag;
}

interface EpRef {
  sep: string;
  prov: Provenance[];
}

/** Models Proxier.writeServiceToEndpointRules. */
function writeServiceToEndpointRules(frag: PortFragment, sp: SvcPort, chain: string, eps: readonly Ep[], large: boolean, sepOf: (ep: Ep) => EpRef): void {
  if (sp.affinityTimeout !== null)
    for (const ep of eps) {
      const { sep, prov } = sepOf(ep);
      const c = large ? '' : ` -m comment --comment "${sp.name} -> ${ep.str}"`;
      frag.natChainRules.push({
        chain,
        text: `-A ${chain}${c} -m recent --name ${sep} --rcheck --seconds ${sp.affinityTimeout} --reap -j ${sep}`,
        prov,
      });
    }
  const n = eps.length;
  eps.forEach((ep, i) => {
    const { sep, prov } = sepOf(ep);
    const c = large ? '' : ` -m comment --comment "${sp.name} -> ${ep.str}"`;
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
    frag.natChainRules.push({ chain, text: `-A ${chain}${c}${stat} -j ${sep}`, prov });
  });
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
  chains: ChainRef[];
  deleted: ChainRef[];
  /** Every rule with its chain position; built on first use (the payload alone is the hot path). */
  rules(): RuleWithProvenance[];
}

/**
 * Writes the payload as syncProxyRules does: filter (chains, rules, COMMIT) then nat (fixed chains,
 * per-service chains, stale chain declarations, rules, `-X` lines, the KUBE-NODEPORTS tail, COMMIT).
 * `writeChains(frag)` says whether a fragment's per-service chains are written (false in a partial
 * sync for unchanged services).
 */
export function assemble(
  node: ResolvedNode,
  frags: readonly PortFragment[],
  writeChains: (frag: PortFragment) => boolean,
  stale: readonly string[],
  warnings: string[],
): Assembly {
  const chains: ChainRef[] = [];
  const lines: string[] = ['*filter'];
  const head = filterHead(node);
  const ftail = filterTail(node);
  const nhead = natHead(node);
  const ntail = natTail(node, warnings);
  for (const c of filterChainDecls(node)) {
    lines.push(`:${c} - [0:0]`);
    chains.push({ table: 'filter', chain: c });
  }
  for (const r of head) lines.push(r.text);
  for (const f of frags) for (const r of f.filter) lines.push(r.text);
  for (const r of ftail) lines.push(r.text);
  lines.push('COMMIT', '*nat');
  for (const c of NAT_FIXED_CHAINS) {
    lines.push(`:${c} - [0:0]`);
    chains.push({ table: 'nat', chain: c });
  }
  const written = frags.map((f) => writeChains(f));
  frags.forEach((f, i) => {
    if (written[i])
      for (const c of f.natChains) {
        lines.push(`:${c} - [0:0]`);
        chains.push({ table: 'nat', chain: c });
      }
  });
  for (const c of stale) lines.push(`:${c} - [0:0]`);
  for (const r of nhead) lines.push(r.text);
  frags.forEach((f, i) => {
    for (const r of f.natTop) lines.push(r.text);
    if (written[i]) for (const r of f.natChainRules) lines.push(r.text);
  });
  for (const c of stale) lines.push(`-X ${c}`);
  for (const r of ntail) lines.push(r.text);
  lines.push('COMMIT', '');
  let rules: RuleWithProvenance[] | null = null;
  return {
    payload: lines.join('\n'),
    chains,
    deleted: stale.map((chain) => ({ table: 'nat' as const, chain })),
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
      for (const r of head) add('filter', r);
      for (const f of frags) for (const r of f.filter) add('filter', r);
      for (const r of ftail) add('filter', r);
      for (const r of nhead) add('nat', r);
      frags.forEach((f, i) => {
        for (const r of f.natTop) add('nat', r);
        if (written[i]) for (const r of f.natChainRules) add('nat', r);
      });
      for (const r of ntail) add('nat', r);
      return (rules = out);
    },
  };
}
