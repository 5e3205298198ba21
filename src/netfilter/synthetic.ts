/**
 * A kube-proxy-shaped iptables-save dump of any size, for the benchmark and the index tests:
 * the chain layout and rule text of kube-proxy's iptables proxier (pkg/proxy/iptables/proxier.go)
 * — KUBE-SERVICES → KUBE-SVC-… (masquerade rule + one statistic rule per endpoint) → KUBE-SEP-…
 * (hairpin mark + DNAT), with a trailing KUBE-NODEPORTS rule — not a real cluster's state.
 */
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * Deterministic, unique 16-character chain suffix (kube-proxy uses base32 of a SHA-256 prefix,
 * so every character of its names looks random): (i, j) spelled in 7 base32 characters, so no two
 * chains collide, then 9 hash-looking characters, so names end as differently as real ones do.
 */
function suffix(kind: string, i: number, j = 0): string {
  let out = '';
  let u = i * 1024 + j;
  for (let k = 0; k < 7; k++) {
    out += B32[u & 31];
    u = Math.floor(u / 32);
  }
  let h = 2166136261;
  const seed = `${kind}/${i}/${j}`;
  for (let k = 0; k < 9; k++) {
    for (let c = 0; c < seed.length; c++) h = Math.imul(h ^ seed.charCodeAt(c), 16777619) >>> 0;
    h = Math.imul(h ^ k, 16777619) >>> 0;
    out += B32[h & 31];
  }
  return out;
}

export interface SyntheticOptions {
  services: number;
  endpointsPerService: number;
  /** Cluster IPs are carved from 10.96.0.0/12 (service i gets 10.96.0.0 + i + 1). */
  clusterCidr?: string;
}

export interface SyntheticService {
  clusterIp: string;
  port: number;
  proto: 'tcp' | 'udp';
  endpoints: string[];
  svcChain: string;
}

function v4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The i-th service of the synthetic cluster. */
export function syntheticService(i: number, endpoints: number): SyntheticService {
  const clusterIp = v4(((10 << 24) | (96 << 16)) + i + 1);
  const proto = i % 10 === 9 ? 'udp' : 'tcp';
  const port = [80, 443, 8080, 53, 9090][i % 5]!;
  const eps: string[] = [];
  for (let j = 0; j < endpoints; j++) eps.push(v4(((10 << 24) | (244 << 16)) + i * endpoints + j + 1));
  return { clusterIp, port, proto, endpoints: eps, svcChain: `KUBE-SVC-${suffix('svc', i)}` };
}

/** kube-proxy's probability text: fmt.Sprintf("%0.10f", 1.0/float64(n-i)). */
function prob(n: number): string {
  return (1 / n).toFixed(10);
}

/** The nat table (and an empty filter table) as iptables-save would print them. */
export function syntheticKubeProxyDump(opts: SyntheticOptions): string {
  const { services, endpointsPerService: eps } = opts;
  const decl: string[] = [':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]'];
  decl.push(':KUBE-MARK-MASQ - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-SERVICES - [0:0]');
  const rules: string[] = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  ];
  const svcRules: string[] = [];
  const chainRules: string[] = [];
  for (let i = 0; i < services; i++) {
    const s = syntheticService(i, eps);
    const name = `ns-${i % 97}/svc-${i}:p${s.port}`;
    decl.push(`:${s.svcChain} - [0:0]`);
    svcRules.push(`-A KUBE-SERVICES -d ${s.clusterIp}/32 -p ${s.proto} -m comment --comment "${name} cluster IP" -m ${s.proto} --dport ${s.port} -j ${s.svcChain}`);
    chainRules.push(`-A ${s.svcChain} ! -s 10.244.0.0/16 -d ${s.clusterIp}/32 -p ${s.proto} -m comment --comment "${name} cluster IP" -m ${s.proto} --dport ${s.port} -j KUBE-MARK-MASQ`);
    for (let j = 0; j < eps; j++) {
      const sep = `KUBE-SEP-${suffix('sep', i, j)}`;
      const ep = s.endpoints[j]!;
      decl.push(`:${sep} - [0:0]`);
      const stat = j < eps - 1 ? ` -m statistic --mode random --probability ${prob(eps - j)}` : '';
      chainRules.push(`-A ${s.svcChain} -m comment --comment "${name} -> ${ep}:8080"${stat} -j ${sep}`);
      chainRules.push(`-A ${sep} -s ${ep}/32 -m comment --comment "${name}" -j KUBE-MARK-MASQ`);
      chainRules.push(`-A ${sep} -p ${s.proto} -m comment --comment "${name}" -m ${s.proto} -j DNAT --to-destination ${ep}:8080`);
    }
  }
  svcRules.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  return [
    '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', 'COMMIT',
    '*nat', ...decl, ...rules, ...svcRules, ...chainRules, 'COMMIT', '',
  ].join('\n');
}
