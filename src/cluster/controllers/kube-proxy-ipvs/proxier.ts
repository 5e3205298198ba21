import { InputError, cidrContains, formatCidr, formatIp, type Ip } from '../../../base/index.js';
import type { Provenance } from '../../../trace/types.js';
import type { EndpointSlice, Service } from '../../objects.js';
import { SERVICE_NAME_LABEL } from '../../objects.js';
import { nodeProv } from '../kube-proxy-iptables/generate.js';
import { DEFAULTS, categorizeEndpoints, endpointsByPort, parseIpSloppy, resolveNode, servicePorts, svcPortKey, type Ep, type ResolvedNode, type SvcPort } from '../kube-proxy-iptables/model.js';
import type { ChainRef, EnsuredJumpRule, IptablesTable, RuleWithProvenance, SysctlSetting } from '../kube-proxy-iptables/types.js';
import {
  DEFAULT_SCHEDULER,
  DUMMY_DEVICE,
  IPSET_INFO,
  IPSET_WITH_CHAIN,
  IPTABLES_CHAINS,
  IPTABLES_JUMPS,
  KERNEL_SCHEDULERS,
  KUBE_CLUSTER_IP,
  KUBE_EXTERNAL_IP,
  KUBE_EXTERNAL_IP_LOCAL,
  KUBE_FORWARD,
  KUBE_HEALTH_CHECK_NODE_PORT,
  KUBE_IPVS_FILTER,
  KUBE_IPVS_IPS,
  KUBE_IPVS_OUT_FILTER,
  KUBE_LOAD_BALANCER,
  KUBE_LOAD_BALANCER_FW,
  KUBE_LOAD_BALANCER_LOCAL,
  KUBE_LOAD_BALANCER_SET,
  KUBE_LOAD_BALANCER_SOURCE_CIDR,
  KUBE_LOAD_BALANCER_SOURCE_IP,
  KUBE_LOOP_BACK,
  KUBE_MARK_MASQ,
  KUBE_NODE_PORT,
  KUBE_NODE_PORT_LOCAL_SCTP,
  KUBE_NODE_PORT_LOCAL_TCP,
  KUBE_NODE_PORT_LOCAL_UDP,
  KUBE_NODE_PORT_SCTP,
  KUBE_NODE_PORT_TCP,
  KUBE_NODE_PORT_UDP,
  KUBE_POSTROUTING,
  KUBE_SERVICES,
  KUBE_SOURCE_RANGES_FIREWALL,
  ipsetCreateOptions,
  ipsetName,
} from './names.js';
import type { GeneratedIpset, GeneratedIpvs, IpvsGenerateInput, IpvsProto, IpvsProxyConfig, IpvsRealServer, IpvsVirtualServer, KubeIpsetType, VirtualServerKind } from './types.js';

/** Anything that knows which object made it (SvcPort, Ep): its provenance is built on first use. */
interface Source {
  readonly provenance: Provenance;
}

/** A set being filled during one sync (IPSet.activeEntries; first insertion order kept). */
class ActiveSet {
  readonly entries = new Map<string, Source | Source[]>();
  constructor(
    readonly base: string,
    readonly name: string,
    readonly type: KubeIpsetType,
    readonly comment: string,
  ) {}
  insert(entry: string, src: Source): void {
    const p = this.entries.get(entry);
    if (p === undefined) this.entries.set(entry, src);
    else if (Array.isArray(p)) {
      if (!p.includes(src)) p.push(src);
    } else if (p !== src) this.entries.set(entry, [p, src]);
  }
  get empty(): boolean {
    return this.entries.size === 0;
  }
  /** getComment(): the comment in double quotes, as the rules carry it. */
  get quotedComment(): string {
    return `"${this.comment}"`;
  }
}

/** A set element whose provenance is resolved when read. */
class Entry {
  constructor(
    readonly entry: string,
    private readonly src: Source | Source[],
  ) {}
  get provenance(): Provenance[] {
    return Array.isArray(this.src) ? this.src.map((x) => x.provenance) : [this.src.provenance];
  }
}

/** A real server whose provenance (its EndpointSlice endpoint) is resolved when read. */
class RealServer implements IpvsRealServer {
  readonly weight = 1;
  readonly forward = 'masq' as const;
  constructor(
    readonly address: string,
    readonly port: number,
    readonly local: boolean,
    private readonly ep: Source,
  ) {}
  get provenance(): Provenance[] {
    return [this.ep.provenance];
  }
}

interface RuleRec {
  table: IptablesTable;
  chain: string;
  text: string;
  prov: Provenance[];
}

function svcKeyOf(o: { metadata: { namespace?: string; name: string } }): string {
  return `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}

function isLoopback(ip: Ip): boolean {
  return ip.family === 4 ? ip.n >>> 24 === 127 : ip.n === 1n;
}

function isLinkLocalV6(ip: Ip): boolean {
  return ip.family === 6 && ip.n >> 118n === 0x3fan; // fe80::/10
}

/** ipvsadm's "addr:port" (IPv6 in brackets). */
export function ipvsAddr(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** ipvsadm's protocol option for a service (-t / -u / --sctp-service). */
export function ipvsadmProtoFlag(p: IpvsProto): string {
  return p === 'tcp' ? '-t' : p === 'udp' ? '-u' : '--sctp-service';
}

/** Models `ipvsadm -Sn` (ipvsadm.c print_service / print_dest with FMT_RULE|FMT_NUMERIC) for kube-proxy's VSs. */
export function formatIpvsadmSave(vss: readonly IpvsVirtualServer[]): string {
  let out = '';
  for (const vs of vss) {
    const v = `${ipvsadmProtoFlag(vs.protocol)} ${ipvsAddr(vs.address, vs.port)}`;
    out += `-A ${v} -s ${vs.scheduler}`;
    if (vs.persistentTimeout !== null) out += ` -p ${vs.persistentTimeout}`;
    if (vs.schedFlags.length) out += ` -b ${vs.schedFlags.join(',')}`;
    out += '\n';
    for (const rs of vs.realServers) out += `-a ${v} -r ${ipvsAddr(rs.address, rs.port)} -m -w ${rs.weight}\n`;
  }
  return out;
}

/** Resolves the IPVS-mode configuration (NewProxier): scheduler, and everything resolveNode checks. */
function resolveIpvs(config: IpvsProxyConfig, family: 4 | 6): { node: ResolvedNode; scheduler: string } {
  const node = resolveNode(config, family);
  const scheduler = config.scheduler && config.scheduler !== '' ? config.scheduler : DEFAULT_SCHEDULER;
  if (!KERNEL_SCHEDULERS.includes(scheduler))
    throw new InputError({ field: 'kubeProxy.ipvs.scheduler', message: `unknown IPVS scheduler "${scheduler}" (the kernel has: ${KERNEL_SCHEDULERS.join(', ')})` });
  for (const [k, v] of [['tcpTimeout', config.tcpTimeout], ['tcpFinTimeout', config.tcpFinTimeout], ['udpTimeout', config.udpTimeout]] as const)
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new InputError({ field: `kubeProxy.ipvs.${k}`, message: `must be a non-negative number of seconds, not ${v}` });
  if (config.kernelVersion !== undefined && !/^\d+\.\d+/.test(config.kernelVersion))
    throw new InputError({ field: 'kubeProxy.kernelVersion', message: `"${config.kernelVersion}" is not a kernel version (like 6.1)` });
  return { node, scheduler };
}

/**
 * The node's addresses except kube-ipvs0's, loopback and IPv6 link-local, of this family
 * (netlinkHandle.GetAllLocalAddressesExcept + isValidForSet), in interface order.
 */
function nodeAddressSet(config: IpvsProxyConfig, family: 4 | 6): Ip[] {
  const out: Ip[] = [];
  const seen = new Set<string>();
  for (const t of config.nodeAddresses ?? config.nodeIPs) {
    const ip = parseIpSloppy(t.replace(/\/\d+$/, ''));
    if (!ip || ip.family !== family || isLoopback(ip) || isLinkLocalV6(ip)) continue;
    const k = formatIp(ip);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(ip);
    }
  }
  return out;
}

function kernelAtLeast(version: string, want: [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > want[0] || (a === want[0] && b >= want[1]);
}

/** The sysctls of IPVS mode: NewProxier's (ipvs/proxier.go) and the kube-proxy server's conntrack settings. */
export function ipvsSysctls(config: IpvsProxyConfig, family: 4 | 6): SysctlSetting[] {
  const out: SysctlSetting[] = [];
  out.push({ key: 'net/ipv4/vs/conntrack', value: 1, action: 'set', reason: 'IPVS keeps netfilter conntrack entries for its connections (needed for SNAT by KUBE-POSTROUTING)' });
  const kv = config.kernelVersion ?? '6.1';
  // utilkernel.IPVSConnReuseModeMinSupportedKernelVersion 4.1, IPVSConnReuseModeFixedKernelVersion 5.9
  if (!kernelAtLeast(kv, [4, 1])) {
    /* too old: kube-proxy logs an error and leaves it */
  } else if (kernelAtLeast(kv, [5, 9])) out.push({ key: 'net/ipv4/vs/conn_reuse_mode', value: 1, action: 'expect', reason: `left as-is on kernel ${kv} >= 5.9 (issue 93297); kernel default 1` });
  else out.push({ key: 'net/ipv4/vs/conn_reuse_mode', value: 0, action: 'set', reason: `kernel ${kv} < 5.9: avoid the 1 s delay on port reuse (issue 81775)` });
  out.push({ key: 'net/ipv4/vs/expire_nodest_conn', value: 1, action: 'set', reason: 'drop connections whose real server was removed' });
  out.push({ key: 'net/ipv4/vs/expire_quiescent_template', value: 1, action: 'set', reason: 'expire persistence templates of weight-0 real servers' });
  out.push({ key: 'net/ipv4/ip_forward', value: 1, action: 'set', reason: 'IPVS mode forwards to real servers' });
  if (config.strictARP) {
    out.push({ key: 'net/ipv4/conf/all/arp_ignore', value: 1, action: 'set', reason: 'ipvs.strictARP: answer ARP only for addresses of the receiving interface (not kube-ipvs0)' });
    out.push({ key: 'net/ipv4/conf/all/arp_announce', value: 2, action: 'set', reason: 'ipvs.strictARP: best local source address for ARP requests' });
  }
  out.push({
    key: family === 4 ? 'net/bridge/bridge-nf-call-iptables' : 'net/bridge/bridge-nf-call-ip6tables',
    value: 1,
    action: 'expect',
    reason: 'bridged pod-to-Service traffic must traverse iptables (br_netfilter); set by the CNI/node setup, not by kube-proxy',
  });
  const cpus = config.cpus ?? 1;
  out.push({
    key: 'net/netfilter/nf_conntrack_max',
    value: Math.max(DEFAULTS.conntrackMaxPerCore * cpus, DEFAULTS.conntrackMin),
    action: 'set',
    reason: 'conntrack.maxPerCore 32768 × CPUs, at least conntrack.min 131072 (raised only if lower)',
  });
  out.push({ key: 'net/netfilter/nf_conntrack_tcp_timeout_established', value: DEFAULTS.conntrackTCPEstablishedTimeout, action: 'set', reason: 'conntrack.tcpEstablishedTimeout 24h' });
  out.push({ key: 'net/netfilter/nf_conntrack_tcp_timeout_close_wait', value: DEFAULTS.conntrackTCPCloseWaitTimeout, action: 'set', reason: 'conntrack.tcpCloseWaitTimeout 1h' });
  return out;
}

function sortedPorts(services: readonly Service[], family: 4 | 6, warnings: string[]): SvcPort[] {
  const svcs = [...services].sort((a, b) => {
    const x = svcKeyOf(a);
    const y = svcKeyOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const out: SvcPort[] = [];
  for (const s of svcs) {
    const ports = servicePorts(s, family, warnings);
    ports.sort((a, b) => (a.portName < b.portName ? -1 : a.portName > b.portName ? 1 : a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
    out.push(...ports);
  }
  return out;
}

/**
 * kube-proxy's IPVS mode for one node and family: the virtual servers, kube-ipvs0 addresses, ipsets,
 * iptables payload, jump rules and sysctls of one full sync, with the objects that made each.
 *
 * Models pkg/proxy/ipvs/proxier.go (v1.34) syncProxyRules, syncService, syncEndpoint,
 * writeIptablesRules, acceptIPVSTraffic and createAndLinkKubeChain. Upstream walks service ports and
 * endpoint sets in Go map order; podpath walks them sorted (services by "namespace/name", then port
 * name and protocol; endpoints by "ip:port"), one of the orders upstream can produce.
 */
export function generateIpvsRules(input: IpvsGenerateInput): GeneratedIpvs {
  const family = input.family;
  const config = input.node;
  const { node, scheduler } = resolveIpvs(config, family);
  const warnings: string[] = [];

  const sets = new Map<string, ActiveSet>();
  for (const [base, type, comment] of IPSET_INFO) sets.set(base, new ActiveSet(base, ipsetName(base, family), type, comment));
  const set = (base: string): ActiveSet => sets.get(base)!;

  // Endpoints per service port (EndpointsMap).
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const sl of input.endpointSlices) {
    const svcName = sl.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svcName) continue;
    const k = `${sl.metadata.namespace ?? 'default'}/${svcName}`;
    const l = slicesBySvc.get(k);
    if (l) l.push(sl);
    else slicesBySvc.set(k, [sl]);
  }
  const epCache = new Map<string, Map<string, Ep[]>>();
  const endpointsOf = (sp: SvcPort): Ep[] => {
    let m = epCache.get(sp.svcKey);
    if (!m) epCache.set(sp.svcKey, (m = endpointsByPort(slicesBySvc.get(sp.svcKey) ?? [], family, node.nodeName, warnings)));
    return m.get(svcPortKey(sp.svcKey, sp.portName, sp.protocol)) ?? [];
  };

  const ports = sortedPorts(input.services, family, warnings);
  const addrSet = nodeAddressSet(config, family);
  const addrKeys = new Set(addrSet.map(formatIp));
  const hasNodePort = ports.some((p) => p.nodePort !== 0);
  let nodeIPs: string[] = [];
  if (hasNodePort) {
    if (node.nodePortMatchAll) nodeIPs = addrSet.map(formatIp);
    else nodeIPs = node.nodePortIPs.filter((ip) => !isLoopback(ip)).map(formatIp);
  }

  const vss: IpvsVirtualServer[] = [];
  const bound: string[] = [];
  const boundSeen = new Set<string>();
  const ipvsIps = set(KUBE_IPVS_IPS);
  const lbNoNodeAccess: { ip: string; proto: IpvsProto; port: number; prov: Provenance }[] = [];
  const schedFlags = scheduler === 'mh' ? ['mh-port'] : []; // FlagSourceHash (0x10 = IP_VS_SVC_F_SCHED2)

  const realServers = (sp: SvcPort, eps: readonly Ep[], onlyNodeLocal: boolean): { set: IpvsVirtualServer['endpointSet']; rs: IpvsRealServer[] } => {
    const cat = categorizeEndpoints(eps, sp, node);
    let chosen: readonly Ep[];
    let which: IpvsVirtualServer['endpointSet'];
    if (onlyNodeLocal) {
      if (cat.local.length > 0) {
        chosen = cat.local;
        which = 'local';
      } else {
        // PR 97081: allow access from local pods even when no local endpoint exists.
        chosen = cat.cluster;
        which = 'local-fallback-cluster';
      }
    } else {
      chosen = cat.cluster;
      which = 'cluster';
    }
    return { set: which, rs: chosen.map((ep) => new RealServer(ep.ip, ep.port, ep.isLocal, ep)) };
  };

  const addVs = (sp: SvcPort, kind: VirtualServerKind, address: string, port: number, bind: boolean, onlyNodeLocal: boolean, eps: readonly Ep[]): void => {
    const { set: which, rs } = realServers(sp, eps, onlyNodeLocal);
    const policy = which === 'cluster' ? '' : which === 'local' ? ' (local endpoints: traffic policy Local)' : ' (traffic policy Local, no local endpoint: falls back to all endpoints, PR 97081)';
    vss.push({
      kind,
      protocol: sp.protocol,
      address,
      port,
      scheduler,
      persistentTimeout: sp.affinityTimeout,
      schedFlags,
      bound: bind,
      endpointSet: which,
      realServers: rs,
      servicePort: sp.name,
      provenance: [{ kind: 'Service', name: sp.svcKey, detail: `${kind} ${ipvsAddr(address, port)}/${sp.protocol.toUpperCase()} port ${sp.portName || '(unnamed)'}${sp.affinityTimeout !== null ? `, ClientIP affinity ${sp.affinityTimeout}s` : ''}${policy}` }],
    });
    if (bind && !boundSeen.has(address)) {
      boundSeen.add(address);
      bound.push(address);
    }
    if (bind) ipvsIps.insert(address, sp);
  };

  for (const sp of ports) {
    const proto = sp.protocol;
    const eps = endpointsOf(sp);
    // Hairpin: every local endpoint (ready or not) in KUBE-LOOP-BACK.
    for (const ep of eps) if (ep.isLocal) set(KUBE_LOOP_BACK).insert(`${ep.ip},${proto}:${ep.port},${ep.ip}`, ep);

    set(KUBE_CLUSTER_IP).insert(`${sp.clusterIP},${proto}:${sp.port}`, sp);
    addVs(sp, 'ClusterIP', sp.clusterIP, sp.port, true, sp.internalPolicyLocal, eps);

    for (const ext of sp.externalIPs) {
      set(sp.externalPolicyLocal ? KUBE_EXTERNAL_IP_LOCAL : KUBE_EXTERNAL_IP).insert(`${ext},${proto}:${sp.port}`, sp);
      addVs(sp, 'ExternalIP', ext, sp.port, !addrKeys.has(ext), sp.externalPolicyLocal, eps);
    }

    for (const vip of sp.lbVIPs) {
      const entry = `${vip},${proto}:${sp.port}`;
      set(KUBE_LOAD_BALANCER_SET).insert(entry, sp);
      if (sp.externalPolicyLocal) set(KUBE_LOAD_BALANCER_LOCAL).insert(entry, sp);
      if (sp.sourceRanges.length) {
        set(KUBE_LOAD_BALANCER_FW).insert(entry, sp);
        let allowFromNode = false;
        for (const c of sp.sourceRanges) {
          set(KUBE_LOAD_BALANCER_SOURCE_CIDR).insert(`${vip},${proto}:${sp.port},${formatCidr(c)}`, sp);
          if (node.nodeIP && cidrContains(c, node.nodeIP)) allowFromNode = true;
        }
        if (allowFromNode) set(KUBE_LOAD_BALANCER_SOURCE_IP).insert(`${vip},${proto}:${sp.port},${vip}`, sp);
        else lbNoNodeAccess.push({ ip: vip, proto, port: sp.port, prov: sp.provenance });
      }
      addVs(sp, 'LoadBalancer', vip, sp.port, !addrKeys.has(vip), sp.externalPolicyLocal, eps);
    }

    if (sp.nodePort !== 0) {
      // No node address to serve NodePorts on: upstream skips the rest of this port (health check included).
      if (nodeIPs.length === 0) continue;
      const entries = proto === 'sctp' ? nodeIPs.map((ip) => `${ip},sctp:${sp.nodePort}`) : [String(sp.nodePort)];
      const npSet = proto === 'tcp' ? KUBE_NODE_PORT_TCP : proto === 'udp' ? KUBE_NODE_PORT_UDP : KUBE_NODE_PORT_SCTP;
      for (const e of entries) set(npSet).insert(e, sp);
      if (sp.externalPolicyLocal) {
        const lSet = proto === 'tcp' ? KUBE_NODE_PORT_LOCAL_TCP : proto === 'udp' ? KUBE_NODE_PORT_LOCAL_UDP : KUBE_NODE_PORT_LOCAL_SCTP;
        for (const e of entries) set(lSet).insert(e, sp);
      }
      for (const ip of nodeIPs) addVs(sp, 'NodePort', ip, sp.nodePort, false, sp.externalPolicyLocal, eps);
    }

    if (sp.healthCheckNodePort !== 0) set(KUBE_HEALTH_CHECK_NODE_PORT).insert(String(sp.healthCheckNodePort), sp);
  }

  // ---------------------------------------------------------------- writeIptablesRules
  const rules: RuleRec[] = [];
  const nat = (chain: string, text: string, prov: Provenance[]): void => void rules.push({ table: 'nat', chain, text, prov });
  const filter = (chain: string, text: string, prov: Provenance[]): void => void rules.push({ table: 'filter', chain, text, prov });
  const setProv = (s: ActiveSet): Provenance[] => [nodeProv(node, `set ${s.name} is not empty (${s.entries.size} entr${s.entries.size === 1 ? 'y' : 'ies'})`)];
  const always = (detail: string): Provenance[] => [nodeProv(node, detail)];

  nat(KUBE_SERVICES, `-A ${KUBE_SERVICES} -s ${family === 4 ? '127.0.0.0/8' : '::1/128'} -j RETURN`, always('dismiss connections from localhost early'));
  for (const [base, table, from, to, dirs, protoMatch] of IPSET_WITH_CHAIN) {
    const s = set(base);
    if (s.empty) continue;
    const text = `-A ${from}${protoMatch ? ` -p ${protoMatch}` : ''} -m comment --comment ${s.quotedComment} -m set --match-set ${s.name} ${dirs} -j ${to}`;
    rules.push({ table, chain: from, text, prov: setProv(s) });
  }
  const cip = set(KUBE_CLUSTER_IP);
  if (!cip.empty) {
    const head = `-A ${KUBE_SERVICES} -m comment --comment ${cip.quotedComment} -m set --match-set ${cip.name}`;
    if (node.masqueradeAll) nat(KUBE_SERVICES, `${head} dst,dst -j ${KUBE_MARK_MASQ}`, [...setProv(cip), nodeProv(node, 'masqueradeAll=true')]);
    else if (node.ifNotLocal) nat(KUBE_SERVICES, `${head} dst,dst ${node.ifNotLocalText} -j ${KUBE_MARK_MASQ}`, [...setProv(cip), nodeProv(node, node.detectorProvDetail)]);
    else nat(KUBE_SERVICES, `${head} src,dst -j ${KUBE_MARK_MASQ}`, [...setProv(cip), nodeProv(node, `${node.detectorProvDetail}: masquerade node traffic whose source is a VIP`)]);
  }
  const externalIPRules = (head: string, prov: Provenance[]): void => {
    nat(KUBE_SERVICES, `${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`, prov);
    nat(KUBE_SERVICES, `${head} -m addrtype --dst-type LOCAL -j ACCEPT`, prov);
  };
  for (const base of [KUBE_EXTERNAL_IP, KUBE_EXTERNAL_IP_LOCAL]) {
    const s = set(base);
    if (s.empty) continue;
    const head = `-A ${KUBE_SERVICES} -m comment --comment ${s.quotedComment} -m set --match-set ${s.name} dst,dst`;
    if (base === KUBE_EXTERNAL_IP) nat(KUBE_SERVICES, `${head} -j ${KUBE_MARK_MASQ}`, setProv(s));
    externalIPRules(head, setProv(s));
  }
  nat(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m addrtype --dst-type LOCAL -j ${KUBE_NODE_PORT}`, always('node ports on local addresses'));
  nat(KUBE_LOAD_BALANCER, `-A ${KUBE_LOAD_BALANCER} -j ${KUBE_MARK_MASQ}`, always('masquerade load-balancer traffic'));
  filter(KUBE_SOURCE_RANGES_FIREWALL, `-A ${KUBE_SOURCE_RANGES_FIREWALL} -j DROP`, always('drop what loadBalancerSourceRanges do not allow'));
  for (const e of lbNoNodeAccess)
    filter(KUBE_IPVS_OUT_FILTER, `-A ${KUBE_IPVS_OUT_FILTER} -s ${e.ip} -m ipvs --vaddr ${e.ip} --vproto ${e.proto} --vport ${e.port} -j DROP`, [e.prov, nodeProv(node, 'node IP outside loadBalancerSourceRanges (issue 119656)')]);
  // acceptIPVSTraffic
  for (const base of [KUBE_CLUSTER_IP, KUBE_LOAD_BALANCER_SET]) {
    const s = set(base);
    if (s.empty) continue;
    nat(KUBE_SERVICES, `-A ${KUBE_SERVICES} -m set --match-set ${s.name} ${s.type === 'bitmap:port' ? 'dst' : 'dst,dst'} -j ACCEPT`, setProv(s));
  }
  const m = node.masqueradeMark;
  const markProv = always(`masquerade mark ${m}`);
  filter(KUBE_FORWARD, `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${m}/${m} -j ACCEPT`, markProv);
  filter(KUBE_FORWARD, `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, always('kube-proxy forwarding rules'));
  const hc = set(KUBE_HEALTH_CHECK_NODE_PORT);
  filter(KUBE_NODE_PORT, `-A ${KUBE_NODE_PORT} -m comment --comment ${hc.quotedComment} -m set --match-set ${hc.name} dst -j ACCEPT`, always('health check node ports'));
  const ipvsFilterProv = always('block host ports reached through VIPs (issue 72236)');
  for (const base of [KUBE_LOAD_BALANCER_SET, KUBE_CLUSTER_IP, KUBE_EXTERNAL_IP, KUBE_EXTERNAL_IP_LOCAL])
    filter(KUBE_IPVS_FILTER, `-A ${KUBE_IPVS_FILTER} -m set --match-set ${set(base).name} dst,dst -j RETURN`, ipvsFilterProv);
  filter(KUBE_IPVS_FILTER, `-A ${KUBE_IPVS_FILTER} -m set --match-set ${hc.name} dst -j RETURN`, ipvsFilterProv);
  filter(KUBE_IPVS_FILTER, `-A ${KUBE_IPVS_FILTER} -m conntrack --ctstate NEW -m set --match-set ${ipvsIps.name} dst -j REJECT`, ipvsFilterProv);
  nat(KUBE_POSTROUTING, `-A ${KUBE_POSTROUTING} -m mark ! --mark ${m}/${m} -j RETURN`, markProv);
  nat(KUBE_POSTROUTING, `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${m}`, markProv);
  nat(KUBE_POSTROUTING, `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${node.randomFully ? ' --random-fully' : ''}`, markProv);
  nat(KUBE_MARK_MASQ, `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${m}`, markProv);

  // ---------------------------------------------------------------- assembly
  const chains: ChainRef[] = IPTABLES_CHAINS.map(([table, chain]) => ({ table, chain }));
  const out: RuleWithProvenance[] = [];
  const counts = new Map<string, number>();
  const parts: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    parts.push(`*${table}`);
    for (const c of chains) if (c.table === table) parts.push(`:${c.chain} - [0:0]`);
    for (const r of rules) {
      if (r.table !== table) continue;
      const key = `${table} ${r.chain}`;
      const index = (counts.get(key) ?? 0) + 1;
      counts.set(key, index);
      parts.push(r.text);
      out.push({ table, chain: r.chain, index, rule: r.text, provenance: r.prov });
    }
    parts.push('COMMIT');
  }
  const payload = `${parts.join('\n')}\n`;
  const byPos = new Map<string, Provenance[]>();
  for (const r of out) byPos.set(`${r.table} ${r.chain} ${r.index}`, r.provenance);

  const jumpRules: EnsuredJumpRule[] = IPTABLES_JUMPS.map(([table, chain, target, comment]) => ({
    table,
    chain,
    target,
    args: ['-m', 'comment', '--comment', comment, '-j', target],
    rule: `-A ${chain} -m comment --comment "${comment}" -j ${target}`,
    position: 'prepend' as const,
    removedOnCleanup: true,
    provenance: [nodeProv(node, 'iptablesJumpChain (IPVS mode)')],
  }));

  const ipsets: GeneratedIpset[] = [...sets.values()].map((s) => ({
    name: s.name,
    type: s.type,
    comment: s.comment,
    createOptions: ipsetCreateOptions(s.type, family),
    entries: [...s.entries].map(([entry, src]) => new Entry(entry, src)),
  }));

  let save: string | undefined;
  let restore: string | undefined;
  return {
    family,
    scheduler,
    virtualServers: vss,
    // the texts are built on first read: a node's full state need not be printed to be traced
    get ipvsadmSave() {
      return (save ??= formatIpvsadmSave(vss));
    },
    dummyDevice: DUMMY_DEVICE,
    boundAddresses: bound,
    ipsets,
    get ipsetRestore() {
      return (restore ??= formatIpsetRestore(ipsets));
    },
    payload,
    rules: out,
    chains,
    jumpRules,
    sysctls: ipvsSysctls(config, family),
    nodePortAddresses: nodeIPs,
    warnings,
    provenanceAt: (table, chain, index) => byPos.get(`${table} ${chain} ${index}`),
  };
}

/**
 * `ipset restore` input for the sets: per set, `create NAME TYPE OPTIONS` then `add NAME ENTRY`.
 * kube-proxy runs the equivalent `ipset create … -exist` / `ipset add … -exist` commands one by one;
 * this text is also what `ipset save` prints for them (without kernel-added header fields).
 */
export function formatIpsetRestore(sets: readonly GeneratedIpset[]): string {
  let out = '';
  for (const s of sets) {
    out += `create ${s.name} ${s.type} ${s.createOptions}\n`;
    for (const e of s.entries) out += `add ${s.name} ${e.entry}\n`;
  }
  return out;
}
