/**
 * Felix's iptables (iptables mode, v3.31) as far as they decide forwarding with no NetworkPolicy:
 * the hooks from the kernel chains, cali-FORWARD / cali-INPUT / cali-OUTPUT, the workload dispatch
 * chains and per-endpoint chains ending in the namespace profile (which allows everything), and nat
 * cali-POSTROUTING with cali-nat-outgoing (felix/rules/static.go, dispatch.go, endpoints.go, nat.go).
 * Not modelled: raw and mangle chains (RPF check, untracked policy), service-account profiles,
 * host endpoints, policy chains.
 */
import { createHash } from 'node:crypto';

/** Felix's mark bits from IptablesMarkMask 0xffff0000, lowest first (felix/dataplane/driver.go). */
export const FELIX_MARKS = { accept: 0x10000, pass: 0x20000, drop: 0x40000, scratch0: 0x80000, scratch1: 0x100000 } as const;
const hex = (n: number) => `0x${n.toString(16)}`;
const ACCEPT_MARK = `${hex(FELIX_MARKS.accept)}/${hex(FELIX_MARKS.accept)}`;
/** Every mark bit Felix clears at the start of its chains except accept. */
const CLEAR_NON_ACCEPT = `0x0/${hex(FELIX_MARKS.pass | FELIX_MARKS.drop | FELIX_MARKS.scratch0 | FELIX_MARKS.scratch1)}`;
const CLEAR_ALL = `0x0/${hex(FELIX_MARKS.accept | FELIX_MARKS.pass | FELIX_MARKS.drop | FELIX_MARKS.scratch0 | FELIX_MARKS.scratch1)}`;

/** Felix's v4 IP set names (felix/rules/rule_defs.go: "cali40" + the set ID). */
export const FELIX_IPSETS = { allPools: 'cali40all-ipam-pools', masqPools: 'cali40masq-ipam-pools', allHosts: 'cali40all-hosts-net', allVxlan: 'cali40all-vxlan-net' } as const;

/** A chain as Felix holds it: rules rendered without the hash comment. */
interface FelixChain {
  readonly name: string;
  readonly rules: readonly string[];
}

/**
 * Felix's rule hash (felix/generictables Chain.RuleHashes): SHA-224 of the chain name, then for each
 * rule SHA-224(previous hash ‖ "-A <chain> HASH <rule>"), URL-safe base64 without padding, first 16
 * characters. The rule text is podpath's rendering of Felix's rule, so a hash equals the real one
 * only where that rendering is Felix's byte for byte.
 */
export function felixRuleHashes(chain: string, rules: readonly string[]): string[] {
  let hash = createHash('sha224').update(chain).digest();
  return rules.map((r) => {
    hash = createHash('sha224').update(hash).update(`-A ${chain} HASH ${r}`).digest();
    return hash.toString('base64url').slice(0, 16);
  });
}

function render(table: string, chains: readonly FelixChain[], hooks: readonly { chain: string; rules: readonly string[]; where: 'insert' | 'append' }[]): string {
  const out = [`*${table}`];
  for (const c of chains) out.push(`:${c.name} - [0:0]`);
  for (const h of hooks) {
    const hs = felixRuleHashes(h.chain, h.rules);
    h.rules.forEach((r, i) => out.push(`${h.where === 'insert' ? `-I ${h.chain} ${i + 1}` : `-A ${h.chain}`} -m comment --comment "cali:${hs[i]}" ${r}`));
  }
  for (const c of chains) {
    const hs = felixRuleHashes(c.name, c.rules);
    c.rules.forEach((r, i) => out.push(`-A ${c.name} -m comment --comment "cali:${hs[i]}" ${r}`));
  }
  out.push('COMMIT');
  return out.join('\n');
}

export interface FelixIptablesInput {
  /** Host-side interfaces of local workloads, with their namespace (for the profile chain). */
  readonly endpoints: readonly { iface: string; namespace: string }[];
  readonly ipip: boolean;
  readonly vxlan: boolean;
  /** Some pool has natOutgoing. */
  readonly natOutgoing: boolean;
  /** The tunnel device that has an address on this node (MASQUERADE of host-sourced traffic into it). */
  readonly tunnelDevice: string | null;
  readonly vxlanPort: number;
}

/** The namespace profile chains (cali-pri-kns.<ns> / cali-pro-kns.<ns>): the profile allows all. */
function profileChain(dir: 'pri' | 'pro', ns: string): FelixChain {
  return { name: `cali-${dir}-kns.${ns}`, rules: [`-m comment --comment "Profile kns.${ns} ${dir === 'pri' ? 'ingress' : 'egress'}" -j MARK --set-xmark ${ACCEPT_MARK}`] };
}

/** The per-endpoint chain cali-fw-<iface> (from the workload, egress) or cali-tw-<iface> (to it, ingress). */
function endpointChain(dir: 'fw' | 'tw', iface: string, ns: string, opts: FelixIptablesInput): FelixChain {
  const rules = ['-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-m conntrack --ctstate INVALID -j DROP', `-j MARK --set-xmark 0x0/${hex(FELIX_MARKS.accept | FELIX_MARKS.pass)}`];
  if (dir === 'fw') {
    if (opts.vxlan) rules.push(`-p udp -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports ${opts.vxlanPort} -j DROP`);
    if (opts.ipip) rules.push('-p ipencap -m comment --comment "Drop IPinIP encapped packets originating in workloads" -j DROP');
  }
  const prof = `cali-${dir === 'fw' ? 'pro' : 'pri'}-kns.${ns}`;
  rules.push(`-j ${prof}`, `-m comment --comment "Return if profile accepted" -m mark --mark ${ACCEPT_MARK} -j RETURN`, '-m comment --comment "Drop if no profiles matched" -j DROP');
  return { name: `cali-${dir}-${iface}`, rules };
}

/** The iptables-restore --noflush payload Felix's tables amount to on one node (filter and nat). */
export function felixIptablesPayload(opts: FelixIptablesInput): string {
  const eps = [...opts.endpoints].sort((a, b) => (a.iface < b.iface ? -1 : a.iface > b.iface ? 1 : 0));
  const namespaces = [...new Set(eps.map((e) => e.namespace))].sort();
  const filter: FelixChain[] = [
    {
      name: 'cali-FORWARD',
      rules: [
        `-m comment --comment "Clear marks" -j MARK --set-xmark ${CLEAR_NON_ACCEPT}`,
        `-m mark --mark 0x0/${hex(FELIX_MARKS.accept)} -j cali-from-hep-forward`,
        '-i cali+ -j cali-from-wl-dispatch',
        '-o cali+ -j cali-to-wl-dispatch',
        '-j cali-to-hep-forward',
        '-j cali-cidr-block',
      ],
    },
    {
      name: 'cali-INPUT',
      rules: [
        ...(opts.ipip
          ? [
              `-p ipencap -m comment --comment "Allow IPIP packets from Calico hosts" -m set --match-set ${FELIX_IPSETS.allHosts} src -m addrtype --dst-type LOCAL -j ACCEPT`,
              '-p ipencap -m comment --comment "Drop IPIP packets from non-Calico hosts" -j DROP',
            ]
          : []),
        ...(opts.vxlan
          ? [
              `-p udp -m comment --comment "Allow IPv4 VXLAN packets from allowed hosts" -m multiport --dports ${opts.vxlanPort} -m set --match-set ${FELIX_IPSETS.allVxlan} src -m addrtype --dst-type LOCAL -j ACCEPT`,
              `-p udp -m comment --comment "Drop IPv4 VXLAN packets from non-allowed hosts" -m multiport --dports ${opts.vxlanPort} -m addrtype --dst-type LOCAL -j DROP`,
            ]
          : []),
        '-i cali+ -g cali-wl-to-host',
        `-m mark --mark ${ACCEPT_MARK} -j ACCEPT`,
        `-j MARK --set-xmark ${CLEAR_ALL}`,
        '-j cali-from-host-endpoint',
        `-m comment --comment "Host endpoint policy accepted packet." -m mark --mark ${ACCEPT_MARK} -j ACCEPT`,
      ],
    },
    {
      name: 'cali-OUTPUT',
      rules: [
        `-m mark --mark ${ACCEPT_MARK} -j ACCEPT`,
        '-o cali+ -j RETURN',
        `-j MARK --set-xmark ${CLEAR_ALL}`,
        '-m conntrack ! --ctstate DNAT -j cali-to-host-endpoint',
        `-m comment --comment "Host endpoint policy accepted packet." -m mark --mark ${ACCEPT_MARK} -j ACCEPT`,
      ],
    },
    { name: 'cali-cidr-block', rules: [] },
    { name: 'cali-from-hep-forward', rules: [] },
    { name: 'cali-from-host-endpoint', rules: [] },
    { name: 'cali-from-wl-dispatch', rules: [...eps.map((e) => `-i ${e.iface} -g cali-fw-${e.iface}`), '-m comment --comment "Unknown interface" -j DROP'] },
    { name: 'cali-to-hep-forward', rules: [] },
    { name: 'cali-to-host-endpoint', rules: [] },
    { name: 'cali-to-wl-dispatch', rules: [...eps.map((e) => `-o ${e.iface} -g cali-tw-${e.iface}`), '-m comment --comment "Unknown interface" -j DROP'] },
    { name: 'cali-wl-to-host', rules: ['-j cali-from-wl-dispatch', '-m comment --comment "Configured DefaultEndpointToHostAction" -j ACCEPT'] },
    ...eps.flatMap((e) => [endpointChain('fw', e.iface, e.namespace, opts), endpointChain('tw', e.iface, e.namespace, opts)]),
    ...namespaces.flatMap((ns) => [profileChain('pri', ns), profileChain('pro', ns)]),
  ];
  const filterHooks = [
    { chain: 'INPUT', rules: ['-j cali-INPUT'], where: 'insert' as const },
    { chain: 'FORWARD', rules: ['-j cali-FORWARD'], where: 'insert' as const },
    { chain: 'OUTPUT', rules: ['-j cali-OUTPUT'], where: 'insert' as const },
    // StaticFilterForwardAppendRules: after every other FORWARD rule
    { chain: 'FORWARD', rules: [`-m comment --comment "Policy explicitly accepted packet." -m mark --mark ${ACCEPT_MARK} -j ACCEPT`, `-j MARK --set-xmark ${ACCEPT_MARK}`], where: 'append' as const },
  ];
  const natPost: string[] = ['-j cali-fip-snat', '-j cali-nat-outgoing'];
  if (opts.tunnelDevice) natPost.push(`-o ${opts.tunnelDevice} -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully`);
  const nat: FelixChain[] = [
    { name: 'cali-OUTPUT', rules: ['-j cali-fip-dnat'] },
    { name: 'cali-POSTROUTING', rules: natPost },
    { name: 'cali-PREROUTING', rules: ['-j cali-fip-dnat'] },
    { name: 'cali-fip-dnat', rules: [] },
    { name: 'cali-fip-snat', rules: [] },
    { name: 'cali-nat-outgoing', rules: opts.natOutgoing ? [`-m set --match-set ${FELIX_IPSETS.masqPools} src -m set ! --match-set ${FELIX_IPSETS.allPools} dst -j MASQUERADE --random-fully`] : [] },
  ];
  const natHooks = [
    { chain: 'PREROUTING', rules: ['-j cali-PREROUTING'], where: 'insert' as const },
    { chain: 'OUTPUT', rules: ['-j cali-OUTPUT'], where: 'insert' as const },
    { chain: 'POSTROUTING', rules: ['-j cali-POSTROUTING'], where: 'append' as const },
  ];
  return `${render('filter', filter, filterHooks)}\n${render('nat', nat, natHooks)}\n`;
}

/** `ipset restore` text of Felix's IP sets on a node (felix/ipsets: hash:net, family inet). */
export function felixIpsets(sets: { allPools: readonly string[]; masqPools: readonly string[]; allHosts: readonly string[]; allVxlan: readonly string[] }, opts: { ipip: boolean; vxlan: boolean }): string {
  const out: string[] = [];
  const one = (name: string, members: readonly string[]) => {
    out.push(`create ${name} hash:net family inet hashsize 1024 maxelem 1048576`);
    for (const m of members) out.push(`add ${name} ${m}`);
  };
  one(FELIX_IPSETS.allPools, sets.allPools);
  one(FELIX_IPSETS.masqPools, sets.masqPools);
  if (opts.ipip) one(FELIX_IPSETS.allHosts, sets.allHosts);
  if (opts.vxlan) one(FELIX_IPSETS.allVxlan, sets.allVxlan);
  return `${out.join('\n')}\n`;
}
