/** Well-known names and numbers iptables reads and prints. Each table cites where it comes from. */
import type { AddrType, CtStateName, CtStatusName, RejectWith, TableName } from './types.js';

/**
 * Protocol names by number as iptables-save prints `-p` (proto_to_name: getprotobynumber, i.e.
 * Debian netbase /etc/protocols, whose first name column is used). Numbers without a name print as numbers.
 */
export const PROTO_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'icmp'], [2, 'igmp'], [3, 'ggp'], [4, 'ipencap'], [5, 'st'], [6, 'tcp'], [8, 'egp'], [9, 'igp'], [12, 'pup'],
  [17, 'udp'], [20, 'hmp'], [22, 'xns-idp'], [27, 'rdp'], [29, 'iso-tp4'], [33, 'dccp'], [36, 'xtp'], [37, 'ddp'],
  [38, 'idpr-cmtp'], [41, 'ipv6'], [43, 'ipv6-route'], [44, 'ipv6-frag'], [45, 'idrp'], [46, 'rsvp'], [47, 'gre'],
  [50, 'esp'], [51, 'ah'], [57, 'skip'], [58, 'ipv6-icmp'], [59, 'ipv6-nonxt'], [60, 'ipv6-opts'], [73, 'rspf'],
  [81, 'vmtp'], [88, 'eigrp'], [89, 'ospf'], [93, 'ax.25'], [94, 'ipip'], [97, 'etherip'], [98, 'encap'], [103, 'pim'],
  [108, 'ipcomp'], [112, 'vrrp'], [115, 'l2tp'], [124, 'isis'], [132, 'sctp'], [133, 'fc'], [135, 'mobility-header'],
  [136, 'udplite'], [137, 'mpls-in-ip'], [138, 'manet'], [139, 'hip'], [140, 'shim6'], [141, 'wesp'], [142, 'rohc'],
  [143, 'ethernet'],
]);

/** Names `-p` accepts: /etc/protocols names and aliases plus xtables_chain_protos (libxtables/xtables.c). */
export const PROTO_NUMBERS: ReadonlyMap<string, number> = new Map([
  ...[...PROTO_NAMES].map(([n, name]) => [name, n] as [string, number]),
  ['all', 0], ['ip', 0], ['hopopt', 0], ['icmpv6', 58], ['ipv6-icmp', 58], ['mh', 135], ['ipencap', 4],
  ['IP', 0], ['ICMP', 1], ['TCP', 6], ['UDP', 17], ['GRE', 47], ['ESP', 50], ['AH', 51], ['SCTP', 132],
]);

export const PROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132 } as const;

/**
 * Table order of iptables-nft's save (enum nft_table_type in iptables/nft.h, 1.8.9):
 * mangle, security, raw, filter, nat.
 */
export const NFT_SAVE_TABLE_ORDER: readonly TableName[] = ['mangle', 'security', 'raw', 'filter', 'nat'];

/** ICMP type names (libipt_icmp.c icmp_codes via xtables icmp names); name → [type, codeLo, codeHi]. */
export const ICMP_TYPES: ReadonlyMap<string, readonly [number, number, number]> = new Map([
  ['any', [0xff, 0, 0xff]],
  ['echo-reply', [0, 0, 0xff]], ['pong', [0, 0, 0xff]],
  ['destination-unreachable', [3, 0, 0xff]],
  ['network-unreachable', [3, 0, 0]], ['host-unreachable', [3, 1, 1]], ['protocol-unreachable', [3, 2, 2]],
  ['port-unreachable', [3, 3, 3]], ['fragmentation-needed', [3, 4, 4]], ['source-route-failed', [3, 5, 5]],
  ['network-unknown', [3, 6, 6]], ['host-unknown', [3, 7, 7]], ['network-prohibited', [3, 9, 9]],
  ['host-prohibited', [3, 10, 10]], ['TOS-network-unreachable', [3, 11, 11]], ['TOS-host-unreachable', [3, 12, 12]],
  ['communication-prohibited', [3, 13, 13]], ['host-precedence-violation', [3, 14, 14]], ['precedence-cutoff', [3, 15, 15]],
  ['source-quench', [4, 0, 0xff]],
  ['redirect', [5, 0, 0xff]], ['network-redirect', [5, 0, 0]], ['host-redirect', [5, 1, 1]],
  ['TOS-network-redirect', [5, 2, 2]], ['TOS-host-redirect', [5, 3, 3]],
  ['echo-request', [8, 0, 0xff]], ['ping', [8, 0, 0xff]],
  ['router-advertisement', [9, 0, 0xff]], ['router-solicitation', [10, 0, 0xff]],
  ['time-exceeded', [11, 0, 0xff]], ['ttl-exceeded', [11, 0, 0xff]], ['ttl-zero-during-transit', [11, 0, 0]],
  ['ttl-zero-during-reassembly', [11, 1, 1]],
  ['parameter-problem', [12, 0, 0xff]], ['ip-header-bad', [12, 0, 0]], ['required-option-missing', [12, 1, 1]],
  ['timestamp-request', [13, 0, 0xff]], ['timestamp-reply', [14, 0, 0xff]],
  ['address-mask-request', [17, 0, 0xff]], ['address-mask-reply', [18, 0, 0xff]],
]);

/** ICMPv6 type names (libip6t_icmp6.c icmpv6_codes). */
export const ICMP6_TYPES: ReadonlyMap<string, readonly [number, number, number]> = new Map([
  ['destination-unreachable', [1, 0, 0xff]], ['no-route', [1, 0, 0]], ['communication-prohibited', [1, 1, 1]],
  ['beyond-scope', [1, 2, 2]], ['address-unreachable', [1, 3, 3]], ['port-unreachable', [1, 4, 4]],
  ['failed-policy', [1, 5, 5]], ['reject-route', [1, 6, 6]],
  ['packet-too-big', [2, 0, 0xff]],
  ['time-exceeded', [3, 0, 0xff]], ['ttl-exceeded', [3, 0, 0xff]], ['ttl-zero-during-transit', [3, 0, 0]],
  ['ttl-zero-during-reassembly', [3, 1, 1]],
  ['parameter-problem', [4, 0, 0xff]], ['bad-header', [4, 0, 0]], ['unknown-header-type', [4, 1, 1]],
  ['unknown-option', [4, 2, 2]],
  ['echo-request', [128, 0, 0xff]], ['ping', [128, 0, 0xff]], ['echo-reply', [129, 0, 0xff]], ['pong', [129, 0, 0xff]],
  ['mld-listener-query', [130, 0, 0xff]], ['mld-listener-report', [131, 0, 0xff]], ['mld-listener-done', [132, 0, 0xff]],
  ['mld-listener-reduction', [132, 0, 0xff]],
  ['router-solicitation', [133, 0, 0xff]], ['router-advertisement', [134, 0, 0xff]],
  ['neighbour-solicitation', [135, 0, 0xff]], ['neighbor-solicitation', [135, 0, 0xff]],
  ['neighbour-advertisement', [136, 0, 0xff]], ['neighbor-advertisement', [136, 0, 0xff]],
  ['redirect', [137, 0, 0xff]],
]);

/** TCP flag names in the order libxt_tcp.c prints them (tcp_flag_names); ECE/CWR are not known to iptables 1.8.9. */
export const TCP_FLAGS: readonly (readonly [string, number])[] = [
  ['FIN', 0x01], ['SYN', 0x02], ['RST', 0x04], ['PSH', 0x08], ['ACK', 0x10], ['URG', 0x20],
];
export const TCP_FLAGS_ALL = 0x3f;

/** xt_conntrack --ctstate names in libxt_conntrack.c's print order. */
export const CT_STATE_ORDER: readonly CtStateName[] = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];
export const CT_STATUS_ORDER: readonly CtStatusName[] = ['NONE', 'EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED'];

/** xt_addrtype type bits, in bit order (include/uapi/linux/netfilter/xt_addrtype.h), the order libxt_addrtype prints. */
export const ADDR_TYPES: readonly AddrType[] = [
  'UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE',
];

/**
 * REJECT --reject-with: accepted spellings → canonical name, and the ICMP type/code sent
 * (libipt_REJECT.c reject_table, net/ipv4/netfilter/nf_reject_ipv4.c; libip6t_REJECT.c, nf_reject_ipv6.c).
 */
export const REJECT4: ReadonlyMap<string, RejectWith> = new Map([
  ['icmp-net-unreachable', 'icmp-net-unreachable'], ['net-unreach', 'icmp-net-unreachable'],
  ['icmp-host-unreachable', 'icmp-host-unreachable'], ['host-unreach', 'icmp-host-unreachable'],
  ['icmp-proto-unreachable', 'icmp-proto-unreachable'], ['proto-unreach', 'icmp-proto-unreachable'],
  ['icmp-port-unreachable', 'icmp-port-unreachable'], ['port-unreach', 'icmp-port-unreachable'],
  ['icmp-net-prohibited', 'icmp-net-prohibited'], ['net-prohib', 'icmp-net-prohibited'],
  ['icmp-host-prohibited', 'icmp-host-prohibited'], ['host-prohib', 'icmp-host-prohibited'],
  ['icmp-admin-prohibited', 'icmp-admin-prohibited'], ['admin-prohib', 'icmp-admin-prohibited'],
  ['tcp-reset', 'tcp-reset'], ['tcp-rst', 'tcp-reset'],
]);
export const REJECT6: ReadonlyMap<string, RejectWith> = new Map([
  ['icmp6-no-route', 'icmp6-no-route'], ['no-route', 'icmp6-no-route'],
  ['icmp6-adm-prohibited', 'icmp6-adm-prohibited'], ['adm-prohibited', 'icmp6-adm-prohibited'],
  ['icmp6-addr-unreachable', 'icmp6-addr-unreachable'], ['addr-unreach', 'icmp6-addr-unreachable'],
  ['icmp6-port-unreachable', 'icmp6-port-unreachable'], ['port-unreach', 'icmp6-port-unreachable'],
  ['icmp6-policy-fail', 'icmp6-policy-fail'], ['policy-fail', 'icmp6-policy-fail'],
  ['icmp6-reject-route', 'icmp6-reject-route'], ['reject-route', 'icmp6-reject-route'],
  ['tcp-reset', 'tcp-reset'],
]);
/** ICMP type/code each reject-with sends (ICMP_DEST_UNREACH = 3 codes; ICMPV6_DEST_UNREACH = 1 codes). */
export const REJECT_ICMP: Readonly<Record<Exclude<RejectWith, 'tcp-reset'>, { type: number; code: number }>> = {
  'icmp-net-unreachable': { type: 3, code: 0 },
  'icmp-host-unreachable': { type: 3, code: 1 },
  'icmp-proto-unreachable': { type: 3, code: 2 },
  'icmp-port-unreachable': { type: 3, code: 3 },
  'icmp-net-prohibited': { type: 3, code: 9 },
  'icmp-host-prohibited': { type: 3, code: 10 },
  'icmp-admin-prohibited': { type: 3, code: 13 },
  'icmp6-no-route': { type: 1, code: 0 },
  'icmp6-adm-prohibited': { type: 1, code: 1 },
  'icmp6-addr-unreachable': { type: 1, code: 3 },
  'icmp6-port-unreachable': { type: 1, code: 4 },
  'icmp6-policy-fail': { type: 1, code: 5 },
  'icmp6-reject-route': { type: 1, code: 6 },
};

/** LOG --log-level names (syslog levels, libxt_LOG.c log_names). */
export const LOG_LEVELS: ReadonlyMap<string, number> = new Map([
  ['emerg', 0], ['alert', 1], ['crit', 2], ['error', 3], ['warning', 4], ['warn', 4], ['notice', 5], ['info', 6], ['debug', 7],
  ['panic', 0], ['err', 3],
]);

/** Protocol names ipset prints in `ip,proto:port` elements (ipset's getprotobynumber; these are what it prints). */
export const IPSET_PROTO_NAMES: ReadonlyMap<number, string> = new Map([[6, 'tcp'], [17, 'udp'], [132, 'sctp'], [136, 'udplite'], [1, 'icmp'], [58, 'icmpv6']]);
