import { InputError, cidrContains, formatCidr, formatIp, type Cidr, type Ip, parseIp } from '../../../base/index.js';
import type { Provenance } from '../../../trace/types.js';
import { SERVICE_NAME_LABEL, type Endpoint, type EndpointSlice, type Service } from '../../objects.js';
import { CHAIN_PREFIX, servicePortEndpointChainName, portProtoHash } from './chain-names.js';
import type { IpFamilyNumber, LocalDetectorConfig, NodeProxyConfig } from './types.js';

/** Defaults of KubeProxyConfiguration for iptables mode (source: pkg/proxy/apis/config defaults, v1.34). */
export const DEFAULTS = {
  masqueradeBit: 14,
  localhostNodePorts: true,
  largeClusterThreshold: 1000, // largeClusterEndpointsThreshold, pkg/proxy/iptables/proxier.go
  sessionAffinityTimeoutSeconds: 10800, // v1.DefaultClientIPServiceAffinitySeconds
  conntrackMaxPerCore: 32768, // KubeProxyConntrackConfiguration.maxPerCore
  conntrackMin: 131072, // KubeProxyConntrackConfiguration.min
  conntrackTCPEstablishedTimeout: 86400, // tcpEstablishedTimeout 24h
  conntrackTCPCloseWaitTimeout: 3600, // tcpCloseWaitTimeout 1h
} as const;

// ------------------------------------------------------------------ addresses (netutils "sloppy")

/**
 * Models netutils.ParseIPSloppy: like parseIp but IPv4 octets may have leading zeros, read as
 * decimal ("172.30.0.041" is 172.30.0.41). Returns null when not an address.
 */
export function parseIpSloppy(text: string): Ip | null {
  const s = text.trim();
  if (s === '') return null;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m) {
    const o = [m[1], m[2], m[3], m[4]].map((x) => Number(x));
    if (o.some((x) => x > 255)) return null;
    return { family: 4, n: ((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]! };
  }
  if (!s.includes(':')) return null;
  try {
    return parseIp(s);
  } catch {
    return null;
  }
}

/** Dotted quad without leading zeros, each octet <= 255: already what formatIp would print. */
function isCanonicalV4(s: string): boolean {
  let dots = 0;
  let start = 0;
  const n = s.length;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 46;
    if (c === 46) {
      const len = i - start;
      if (len < 1 || len > 3) return false;
      if (len > 1 && s.charCodeAt(start) === 48) return false;
      if (len === 3 && Number(s.slice(start, i)) > 255) return false;
      if (i < n) dots++;
      start = i + 1;
    } else if (c < 48 || c > 57) return false;
  }
  return dots === 3;
}

/** Models netutils.ParseCIDRSloppy + IPNet.String(): host bits cleared, canonical text. */
export function parseCidrSloppy(text: string): Cidr | null {
  const s = text.trim();
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIpSloppy(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p)) return null;
  const prefix = Number(p);
  if (prefix > (ip.family === 4 ? 32 : 128)) return null;
  // reuse base's masking through formatCidr/cidrContains on a normalised network
  const network = maskIp(ip, prefix);
  return { family: ip.family, network, prefix };
}

function maskIp(ip: Ip, prefix: number): Ip {
  if (ip.family === 4) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return { family: 4, n: (ip.n & mask) >>> 0 };
  }
  const all = (1n << 128n) - 1n;
  const mask = prefix === 0 ? 0n : (all << BigInt(128 - prefix)) & all;
  return { family: 6, n: ip.n & mask };
}

function isLoopback(ip: Ip): boolean {
  return ip.family === 4 ? ip.n >>> 24 === 127 : ip.n === 1n;
}

/** net.JoinHostPort(ip, port): IPv6 in brackets. */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

// ------------------------------------------------------------------ node configuration

export interface ResolvedNode {
  config: NodeProxyConfig;
  family: IpFamilyNumber;
  nodeName: string;
  /** kube-proxy's nodeIP for this family (LB source-range "allow from node"), or null. */
  nodeIP: Ip | null;
  masqueradeMark: string;
  masqueradeAll: boolean;
  /** After NewProxier's adjustment: false unless IPv4 and nodePortAddresses contains IPv4 loopback. */
  localhostNodePorts: boolean;
  largeClusterThreshold: number;
  conntrackTCPLiberal: boolean;
  randomFully: boolean;
  nfacctCtStateInvalid: boolean;
  nfacctLocalhostNodePorts: boolean;
  /** Local detector args: null when not implemented. */
  ifLocal: string[] | null;
  ifNotLocal: string[] | null;
  /** ifLocal / ifNotLocal joined by spaces, as the rules carry them. */
  ifLocalText: string;
  ifNotLocalText: string;
  detectorText: string;
  /** "localDetector " + detectorText: the provenance detail of the detector's rules. */
  detectorProvDetail: string;
  /** NodePortAddresses: match-all, or the selected node IPs. */
  nodePortMatchAll: boolean;
  nodePortIPs: Ip[];
  nodePortAddressesText: string;
  zone: string;
  preferSameTrafficDistribution: boolean;
  cpus: number;
  /** Shared provenance records for node-configuration rules, by detail text. */
  provCache: Map<string, Provenance>;
}

const FIELD = 'kubeProxy';

/** Validates and resolves a NodeProxyConfig for one family (models NewProxier's setup). */
export function resolveNode(config: NodeProxyConfig, family: IpFamilyNumber): ResolvedNode {
  const problems: Array<{ field: string; message: string }> = [];
  if (!config.nodeName) problems.push({ field: `${FIELD}.nodeName`, message: 'nodeName is required' });
  const nodeIPs: Ip[] = [];
  config.nodeIPs.forEach((t, i) => {
    const ip = parseIpSloppy(t);
    if (!ip) problems.push({ field: `${FIELD}.nodeIPs[${i}]`, message: `"${t}" is not an IP address` });
    else nodeIPs.push(ip);
  });
  const bit = config.masqueradeBit ?? DEFAULTS.masqueradeBit;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) problems.push({ field: `${FIELD}.masqueradeBit`, message: `must be 0..31, not ${bit}` });
  const addresses: Ip[] = [];
  (config.nodeAddresses ?? ['127.0.0.1', '::1', ...config.nodeIPs]).forEach((t, i) => {
    const ip = parseIpSloppy(t.replace(/\/\d+$/, ''));
    if (!ip) problems.push({ field: `${FIELD}.nodeAddresses[${i}]`, message: `"${t}" is not an IP address` });
    else addresses.push(ip);
  });

  // Local detector (models getLocalDetectors / NewDetectLocalBy* of pkg/proxy/util/localdetector.go).
  let ifLocal: string[] | null = null;
  let ifNotLocal: string[] | null = null;
  let detectorText = 'none';
  const det: LocalDetectorConfig = config.localDetector;
  const familyCidr = (list: string[] | undefined, field: string): string | null => {
    let found: string | null = null;
    (list ?? []).forEach((t, i) => {
      const c = parseCidrSloppy(t);
      if (!c) problems.push({ field: `${FIELD}.${field}[${i}]`, message: `"${t}" is not a CIDR` });
      else if (c.family === family && found === null) found = t.trim();
    });
    return found;
  };
  switch (det.mode) {
    case 'ClusterCIDR':
    case 'NodeCIDR': {
      const cidr = det.mode === 'ClusterCIDR' ? familyCidr(config.clusterCIDRs, 'clusterCIDRs') : familyCidr(config.podCIDRs, 'podCIDRs');
      if (cidr) {
        ifLocal = ['-s', cidr];
        ifNotLocal = ['!', '-s', cidr];
        detectorText = `${det.mode} ${cidr}`;
      } else detectorText = `${det.mode} (no IPv${family} CIDR: not implemented)`;
      break;
    }
    case 'BridgeInterface':
      if (!det.bridgeInterface) problems.push({ field: `${FIELD}.localDetector.bridgeInterface`, message: 'BridgeInterface mode needs bridgeInterface' });
      else {
        ifLocal = ['-i', det.bridgeInterface];
        ifNotLocal = ['!', '-i', det.bridgeInterface];
        detectorText = `BridgeInterface ${det.bridgeInterface}`;
      }
      break;
    case 'InterfaceNamePrefix':
      if (!det.interfaceNamePrefix) problems.push({ field: `${FIELD}.localDetector.interfaceNamePrefix`, message: 'InterfaceNamePrefix mode needs interfaceNamePrefix' });
      else {
        ifLocal = ['-i', `${det.interfaceNamePrefix}+`];
        ifNotLocal = ['!', '-i', `${det.interfaceNamePrefix}+`];
        detectorText = `InterfaceNamePrefix ${det.interfaceNamePrefix}`;
      }
      break;
    case 'None':
      break;
    default:
      problems.push({ field: `${FIELD}.localDetector.mode`, message: `unknown mode "${(det as { mode: string }).mode}"` });
  }

  // NodePortAddresses (models proxyutil.NewNodePortAddresses + GetNodeIPs, and server.go's "primary").
  let npaStrings = config.nodePortAddresses ?? [];
  if (npaStrings.length === 1 && npaStrings[0] === 'primary') {
    npaStrings = [];
    for (const ip of nodeIPs) if (!isLoopback(ip)) npaStrings.push(`${formatIp(ip)}/${ip.family === 4 ? 32 : 128}`);
  }
  const npaCidrs: Cidr[] = [];
  let matchAll = false;
  let containsV4Loopback = false;
  const familyStrings: string[] = [];
  npaStrings.forEach((t, i) => {
    const c = parseCidrSloppy(t);
    if (!c) problems.push({ field: `${FIELD}.nodePortAddresses[${i}]`, message: `"${t}" is not a CIDR (nor "primary")` });
    else if (c.family === family) familyStrings.push(t);
  });
  if (familyStrings.length === 0) familyStrings.push(family === 4 ? '0.0.0.0/0' : '::/0');
  for (const t of familyStrings) {
    const c = parseCidrSloppy(t)!;
    if (c.family === 4 && (isLoopback(c.network) || cidrContains(c, { family: 4, n: 0x7f000000 }))) containsV4Loopback = true;
    if (c.prefix === 0) {
      npaCidrs.length = 0;
      npaCidrs.push(c);
      matchAll = true;
      break;
    }
    npaCidrs.push(c);
  }
  const nodePortIPs: Ip[] = [];
  const seen = new Set<string>();
  for (const c of npaCidrs)
    for (const a of addresses) {
      const key = formatIp(a);
      if (cidrContains(c, a) && !seen.has(key)) {
        seen.add(key);
        nodePortIPs.push(a);
      }
    }

  if (problems.length) throw new InputError(problems.map((p) => ({ ...p, message: p.message })));

  const localhostNodePorts = family === 4 && (config.localhostNodePorts ?? DEFAULTS.localhostNodePorts) && containsV4Loopback;
  return {
    config,
    family,
    nodeName: config.nodeName,
    nodeIP: nodeIPs.find((ip) => ip.family === family) ?? null,
    masqueradeMark: config.masqueradeMark ?? goHex08(2 ** bit),
    masqueradeAll: config.masqueradeAll ?? false,
    localhostNodePorts,
    largeClusterThreshold: config.largeClusterThreshold ?? DEFAULTS.largeClusterThreshold,
    conntrackTCPLiberal: config.conntrackTCPLiberal ?? false,
    randomFully: config.randomFully ?? true,
    nfacctCtStateInvalid: config.nfacct?.ctStateInvalidDropped ?? true,
    nfacctLocalhostNodePorts: config.nfacct?.localhostNodePortsAccepted ?? true,
    ifLocal,
    ifNotLocal,
    ifLocalText: ifLocal?.join(' ') ?? '',
    ifNotLocalText: ifNotLocal?.join(' ') ?? '',
    detectorText,
    detectorProvDetail: `localDetector ${detectorText}`,
    nodePortMatchAll: matchAll,
    nodePortIPs,
    nodePortAddressesText: familyStrings.join(','),
    zone: config.zone ?? '',
    preferSameTrafficDistribution: config.preferSameTrafficDistribution ?? true,
    cpus: config.cpus ?? 1,
    provCache: new Map(),
  };
}

/** Go's fmt.Sprintf("%#08x", v): "0x" then at least 8 hex digits (the width does not count the prefix). */
export function goHex08(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

// ------------------------------------------------------------------ service ports

export type Proto = 'tcp' | 'udp' | 'sctp';

/** Models BaseServicePortInfo + the iptables servicePortInfo (pkg/proxy/serviceport.go, v1.34). */
export interface SvcPort {
  /** "ns/svc" */
  svcKey: string;
  /** ServicePortName.String(): "ns/svc" or "ns/svc:port". */
  name: string;
  portName: string;
  protocol: Proto;
  clusterIP: string;
  port: number;
  nodePort: number;
  externalIPs: string[];
  lbVIPs: string[];
  sourceRanges: Cidr[];
  affinityTimeout: number | null;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  healthCheckNodePort: number;
  hash: string;
  svcChain: string;
  svlChain: string;
  extChain: string;
  fwChain: string;
  provenance: Provenance;
}

function serviceKey(s: { metadata: { namespace?: string; name: string } }): string {
  return `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
}

/** Models proxyutil.GetClusterIPByFamily (allowing clusterIPs to default to [clusterIP] as the API server does). */
function clusterIPByFamily(svc: Service, family: IpFamilyNumber): string {
  const spec = svc.spec;
  const fam = family === 4 ? 'IPv4' : 'IPv6';
  if (!spec.ipFamilies || spec.ipFamilies.length === 0) {
    const cip = spec.clusterIP ?? spec.clusterIPs?.[0] ?? '';
    if (cip === '' || cip === 'None') return '';
    return cip.includes(':') === (family === 6) ? cip : '';
  }
  const ips = spec.clusterIPs && spec.clusterIPs.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const idx = spec.ipFamilies.indexOf(fam);
  return idx >= 0 && idx < ips.length ? ips[idx]! : '';
}

/** Models apiservice.ExternallyAccessible (pkg/api/v1/service/util.go). */
function externallyAccessibleType(svc: Service): boolean {
  const t = svc.spec.type ?? 'ClusterIP';
  return t === 'LoadBalancer' || t === 'NodePort' || (t === 'ClusterIP' && (svc.spec.externalIPs?.length ?? 0) > 0);
}

/**
 * Models ServiceChangeTracker.serviceToServiceMap + newBaseServiceInfo + newServiceInfo for one
 * family. Returns [] for Services kube-proxy skips (headless, ExternalName, other family).
 */
export function servicePorts(svc: Service, family: IpFamilyNumber, warnings: string[]): SvcPort[] {
  const key = serviceKey(svc);
  const spec = svc.spec;
  // proxyutil.ShouldSkipService
  if (!spec.clusterIP || spec.clusterIP === 'None') return [];
  if (spec.type === 'ExternalName') return [];
  const cipText = clusterIPByFamily(svc, family);
  if (cipText === '') return [];
  const cip = parseIpSloppy(cipText);
  if (!cip) throw new InputError({ field: `Service ${key} spec.clusterIPs`, message: `"${cipText}" is not an IP address` });
  const externalPolicyLocal = externallyAccessibleType(svc) && spec.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const affinity = spec.sessionAffinity === 'ClientIP' ? spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULTS.sessionAffinityTimeoutSeconds : null;

  const externalIPs: string[] = [];
  for (const t of spec.externalIPs ?? []) {
    const ip = parseIpSloppy(t);
    if (!ip) {
      if (t.trim() !== '') warnings.push(`Service ${key}: skipping invalid externalIP "${t}"`);
    } else if (ip.family === family) externalIPs.push(formatIp(ip));
  }
  let sourceRanges: Cidr[] = [];
  for (const t of spec.loadBalancerSourceRanges ?? []) {
    const c = parseCidrSloppy(t);
    if (!c) {
      if (t.trim() !== '') warnings.push(`Service ${key}: invalid loadBalancerSourceRanges entry "${t}" ignored`);
    } else if (c.family === family) sourceRanges.push(c);
  }
  if (sourceRanges.some((c) => c.prefix === 0)) sourceRanges = [];
  const lbVIPs: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (!ing.ip) continue;
    if (ing.ipMode !== undefined && ing.ipMode !== 'VIP') continue; // proxyutil.IsVIPMode
    const ip = parseIpSloppy(ing.ip);
    if (ip && ip.family === family) lbVIPs.push(formatIp(ip));
  }
  let healthCheckNodePort = 0;
  if ((spec.type ?? 'ClusterIP') === 'LoadBalancer' && externalPolicyLocal) {
    if (!spec.healthCheckNodePort) warnings.push(`Service ${key} has no healthcheck nodeport`);
    else healthCheckNodePort = spec.healthCheckNodePort;
  }

  const out: SvcPort[] = [];
  (spec.ports ?? []).forEach((p) => {
    const portName = p.name ?? '';
    const protocol = (p.protocol ?? 'TCP').toLowerCase() as Proto;
    const name = portName ? `${key}:${portName}` : key;
    const hash = portProtoHash(name, protocol);
    // KUBE-SVC/SVL/EXT/FW share the hash (servicePortPolicyClusterChain etc. each recompute it)
    out.push({
      svcKey: key,
      name,
      portName,
      protocol,
      clusterIP: formatIp(cip),
      port: p.port,
      nodePort: p.nodePort ?? 0,
      externalIPs,
      lbVIPs,
      sourceRanges,
      affinityTimeout: affinity,
      externalPolicyLocal,
      internalPolicyLocal,
      healthCheckNodePort,
      hash,
      svcChain: CHAIN_PREFIX.svc + hash,
      svlChain: CHAIN_PREFIX.svl + hash,
      extChain: CHAIN_PREFIX.ext + hash,
      fwChain: CHAIN_PREFIX.fw + hash,
      provenance: { kind: 'Service', name: key, detail: `port ${portName || '(unnamed)'} ${p.port}/${protocol.toUpperCase()}` },
    });
  });
  return out;
}

export function externallyAccessible(sp: SvcPort): boolean {
  return sp.nodePort !== 0 || sp.lbVIPs.length !== 0 || sp.externalIPs.length !== 0;
}
export function usesClusterEndpoints(sp: SvcPort): boolean {
  return !sp.internalPolicyLocal || externallyAccessible(sp);
}
export function usesLocalEndpoints(sp: SvcPort): boolean {
  return sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible(sp));
}

/** "ns/svc" + port name + protocol: the key of the endpoints map (ServicePortName). */
export function svcPortKey(svcKey: string, portName: string, protocol: string): string {
  return `${svcKey}\u0000${portName}\u0000${protocol}`;
}

// ------------------------------------------------------------------ endpoints

/** Models BaseEndpointInfo + the iptables endpointInfo (pkg/proxy/endpoint.go, v1.34). */
export interface Ep {
  readonly ip: string;
  readonly port: number;
  /** "ip:port", IPv6 bracketed (BaseEndpointInfo.String()). */
  readonly str: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly isLocal: boolean;
  readonly zoneHints: Set<string> | null;
  readonly nodeHints: Set<string> | null;
  readonly provenance: Provenance;
  /** KUBE-SEP chain name once computed ("" before): the generator's cache. */
  sep: string;
}

/** An endpoint as endpointsByPort makes it: its provenance text is built on first use. */
class EpInfo implements Ep {
  sep = '';
  private prov: Provenance | undefined;
  constructor(
    readonly ip: string,
    readonly port: number,
    readonly str: string,
    readonly ready: boolean,
    readonly serving: boolean,
    readonly terminating: boolean,
    readonly isLocal: boolean,
    readonly zoneHints: Set<string> | null,
    readonly nodeHints: Set<string> | null,
    private readonly src: Endpoint,
    private readonly sliceName: string,
    private readonly ns: string,
  ) {}

  get provenance(): Provenance {
    if (this.prov) return this.prov;
    const ep = this.src;
    return (this.prov = {
      kind: 'EndpointSlice',
      name: this.sliceName,
      detail: `endpoint ${this.str}${ep.targetRef ? ` (${ep.targetRef.kind} ${ep.targetRef.namespace ?? this.ns}/${ep.targetRef.name})` : ''}${ep.nodeName ? ` on ${ep.nodeName}` : ''}`,
    });
  }
}

/**
 * Models EndpointSliceCache.endpointInfoByServicePort + addEndpoints + endpointsMapFromEndpointInfo
 * for the slices of one Service: endpoints per (port name, protocol), deduplicated by "ip:port"
 * (a non-terminating copy wins), sorted by endpoint string. Slices of another address type are
 * ignored (EndpointsChangeTracker.EndpointSliceUpdate). Upstream walks slices in map order; podpath
 * walks them by name.
 */
export function endpointsByPort(
  slices: readonly EndpointSlice[],
  family: IpFamilyNumber,
  nodeName: string,
  warnings: string[],
): Map<string, Ep[]> {
  const want = family === 4 ? 'IPv4' : 'IPv6';
  const bySp = new Map<string, Map<string, Ep>>();
  const sorted = [...slices].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  for (const slice of sorted) {
    if (slice.addressType !== want) continue;
    const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svcName) continue;
    const ns = slice.metadata.namespace ?? 'default';
    const svcKey = `${ns}/${svcName}`;
    const sliceName = `${ns}/${slice.metadata.name}`;
    (slice.ports ?? []).forEach((port, pi) => {
      if (port.name === undefined || port.name === null) {
        warnings.push(`EndpointSlice ${sliceName} ports[${pi}]: nil name, ignored by kube-proxy (unnamed ports must say name: "")`);
        return;
      }
      if (!port.port) {
        warnings.push(`EndpointSlice ${sliceName} ports[${pi}]: invalid port, ignored`);
        return;
      }
      const proto = (port.protocol ?? 'TCP').toLowerCase();
      const key = svcPortKey(svcKey, port.name, proto);
      let set = bySp.get(key);
      if (!set) bySp.set(key, (set = new Map()));
      slice.endpoints.forEach((ep) => {
        const addr = ep.addresses[0];
        if (addr === undefined) return;
        let ipText: string;
        if (isCanonicalV4(addr)) ipText = addr;
        else {
          const ip = parseIpSloppy(addr);
          if (!ip) {
            warnings.push(`EndpointSlice ${sliceName}: invalid address "${addr}" ignored`);
            return;
          }
          ipText = formatIp(ip);
        }
        const c = ep.conditions ?? {};
        const terminating = c.terminating === true;
        const str = joinHostPort(ipText, port.port!);
        const info = new EpInfo(
          ipText,
          port.port!,
          str,
          c.ready === undefined || c.ready === null ? true : c.ready,
          c.serving === undefined || c.serving === null ? true : c.serving,
          terminating,
          !!ep.nodeName && nodeName.length > 0 && ep.nodeName === nodeName,
          ep.hints?.forZones?.length ? new Set(ep.hints.forZones.map((z) => z.name)) : null,
          ep.hints?.forNodes?.length ? new Set(ep.hints.forNodes.map((z) => z.name)) : null,
          ep,
          sliceName,
          ns,
        );
        if (!set!.has(str) || !terminating) set!.set(str, info);
      });
    });
  }
  const out = new Map<string, Ep[]>();
  for (const [k, set] of bySp) {
    if (set.size === 0) continue;
    out.set(k, [...set.values()].sort((a, b) => (a.str < b.str ? -1 : a.str > b.str ? 1 : 0)));
  }
  return out;
}

export interface Categorized {
  cluster: Ep[];
  local: Ep[];
  reachable: Ep[];
  hasAny: boolean;
}

/** Models proxy.CategorizeEndpoints (pkg/proxy/topology.go, v1.34). */
export function categorizeEndpoints(eps: readonly Ep[], sp: SvcPort, node: ResolvedNode): Categorized {
  let cluster: Ep[] = [];
  let local: Ep[] = [];
  let hasAny = false;
  let topologyMode = '';
  let useServingTerminating = false;
  const usesCluster = usesClusterEndpoints(sp);
  if (usesCluster) {
    topologyMode = topologyModeFromHints(eps, node);
    cluster = eps.filter((ep) => ep.ready && availableForTopology(ep, topologyMode, node));
    if (cluster.length === 0) cluster = eps.filter((ep) => ep.serving && ep.terminating);
    if (cluster.length > 0) hasAny = true;
  }
  if (!usesLocalEndpoints(sp)) return { cluster, local, reachable: cluster, hasAny };
  let hasLocalReady = false;
  let hasLocalST = false;
  for (const ep of eps) {
    if (ep.ready) {
      hasAny = true;
      if (ep.isLocal) hasLocalReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAny = true;
      if (ep.isLocal) hasLocalST = true;
    }
  }
  if (hasLocalReady) local = eps.filter((ep) => ep.isLocal && ep.ready);
  else if (hasLocalST) {
    useServingTerminating = true;
    local = eps.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  }
  if (!usesCluster) return { cluster, local, reachable: local, hasAny };
  if (topologyMode === '' && !useServingTerminating) return { cluster, local, reachable: cluster, hasAny };
  // Upstream merges through a map (random order); podpath keeps endpoint-string order.
  const merged = new Map<string, Ep>();
  for (const ep of cluster) merged.set(ep.str, ep);
  for (const ep of local) merged.set(ep.str, ep);
  const reachable = [...merged.values()].sort((a, b) => (a.str < b.str ? -1 : a.str > b.str ? 1 : 0));
  return { cluster, local, reachable, hasAny };
}

function topologyModeFromHints(eps: readonly Ep[], node: ResolvedNode): string {
  let hasForNode = false;
  let allNodeHints = true;
  let hasForZone = false;
  let allZoneHints = true;
  for (const ep of eps) {
    if (!ep.ready) continue;
    if (!ep.nodeHints) allNodeHints = false;
    else if (ep.nodeHints.has(node.nodeName)) hasForNode = true;
    if (!ep.zoneHints) allZoneHints = false;
    else if (ep.zoneHints.has(node.zone)) hasForZone = true;
  }
  if (node.preferSameTrafficDistribution && allNodeHints && hasForNode) return 'PreferSameNode';
  if (allZoneHints && hasForZone) return 'PreferSameZone';
  return '';
}

function availableForTopology(ep: Ep, mode: string, node: ResolvedNode): boolean {
  switch (mode) {
    case '':
      return true;
    case 'PreferSameNode':
      return ep.nodeHints?.has(node.nodeName) ?? false;
    case 'PreferSameZone':
      return ep.zoneHints?.has(node.zone) ?? false;
    default:
      return false;
  }
}

export function sepChainName(sp: SvcPort, ep: Ep): string {
  return servicePortEndpointChainName(sp.name, sp.protocol, ep.str);
}

export { formatCidr };
