/**
 * Sysctls an agent writes into a namespace (kube-proxy's `sysctls`, a CNI's), applied to the
 * namespace's model: route_localnet / accept_local / proxy_arp to the Rib, which ip_route_input_slow
 * and arp_process read; the nf_conntrack_* values to the conntrack table every run makes.
 */
import { InputError } from '../base/index.js';
import { DEFAULT_TIMEOUTS, type Timeouts } from '../conntrack/index.js';
import type { Rib } from '../routing/index.js';
import type { Sysctls } from './fabric.js';

/** One write to /proc/sys, with the path as kube-proxy names it (`net/ipv4/conf/all/route_localnet`) or dotted. */
export interface SysctlWrite {
  readonly key: string;
  readonly value: number;
}

/**
 * The nf_conntrack timeout sysctls (seconds) and the timeout each sets.
 * Source: Documentation/networking/nf_conntrack-sysctl.rst; the per-netns tcp_timeouts[] /
 * udp_timeouts[] they expose (nf_conntrack_standalone.c nf_ct_sysctl_table).
 */
const CT_TIMEOUT_KEYS: Readonly<Record<string, (t: Timeouts, ms: number) => Timeouts>> = {
  nf_conntrack_tcp_timeout_syn_sent: (t, ms) => ({ ...t, tcp: { ...t.tcp, SYN_SENT: ms } }),
  nf_conntrack_tcp_timeout_syn_recv: (t, ms) => ({ ...t, tcp: { ...t.tcp, SYN_RECV: ms } }),
  nf_conntrack_tcp_timeout_established: (t, ms) => ({ ...t, tcp: { ...t.tcp, ESTABLISHED: ms } }),
  nf_conntrack_tcp_timeout_fin_wait: (t, ms) => ({ ...t, tcp: { ...t.tcp, FIN_WAIT: ms } }),
  nf_conntrack_tcp_timeout_close_wait: (t, ms) => ({ ...t, tcp: { ...t.tcp, CLOSE_WAIT: ms } }),
  nf_conntrack_tcp_timeout_last_ack: (t, ms) => ({ ...t, tcp: { ...t.tcp, LAST_ACK: ms } }),
  nf_conntrack_tcp_timeout_time_wait: (t, ms) => ({ ...t, tcp: { ...t.tcp, TIME_WAIT: ms } }),
  nf_conntrack_tcp_timeout_close: (t, ms) => ({ ...t, tcp: { ...t.tcp, CLOSE: ms } }),
  nf_conntrack_tcp_timeout_max_retrans: (t, ms) => ({ ...t, tcp: { ...t.tcp, RETRANS: ms } }),
  nf_conntrack_tcp_timeout_unacknowledged: (t, ms) => ({ ...t, tcp: { ...t.tcp, UNACK: ms } }),
  nf_conntrack_udp_timeout: (t, ms) => ({ ...t, udp: { ...t.udp, UNREPLIED: ms } }),
  nf_conntrack_udp_timeout_stream: (t, ms) => ({ ...t, udp: { ...t.udp, REPLIED: ms } }),
  nf_conntrack_icmp_timeout: (t, ms) => ({ ...t, icmp: ms }),
  nf_conntrack_icmpv6_timeout: (t, ms) => ({ ...t, icmpv6: ms }),
  nf_conntrack_generic_timeout: (t, ms) => ({ ...t, generic: ms }),
};

const BOOL = (v: number, key: string): boolean => {
  if (v !== 0 && v !== 1) throw new InputError({ field: key, message: `${key} takes 0 or 1, not ${v}` });
  return v === 1;
};

function addDev(list: readonly string[], dev: string, on: boolean): string[] {
  const rest = list.filter((d) => d !== dev);
  return on ? [...rest, dev] : rest;
}

/**
 * Applies sysctl writes, in order, to a namespace's sysctls. Paths are read with `/` or `.`
 * separators. An unknown key is an InputError naming it (nothing is half-applied: the result is new).
 */
export function applySysctls(base: Sysctls, writes: readonly SysctlWrite[]): Sysctls {
  let s: Sysctls = base;
  for (const w of writes) {
    const key = w.key.replace(/\//g, '.');
    const v = w.value;
    const conf = /^net\.ipv4\.conf\.([^.]+)\.(route_localnet|accept_local|proxy_arp|rp_filter)$/.exec(key);
    if (conf) {
      const dev = conf[1]!;
      switch (conf[2]) {
        case 'route_localnet':
          s = dev === 'all' ? { ...s, routeLocalnet: BOOL(v, key) } : { ...s, routeLocalnetDev: addDev(s.routeLocalnetDev ?? [], dev, BOOL(v, key)) };
          break;
        case 'accept_local':
          s = { ...s, acceptLocal: addDev(s.acceptLocal, dev, BOOL(v, key)) };
          break;
        case 'proxy_arp':
          s = { ...s, proxyArp: addDev(s.proxyArp, dev, BOOL(v, key)) };
          break;
        case 'rp_filter': {
          if (v !== 0 && v !== 1 && v !== 2) throw new InputError({ field: key, message: `${key} takes 0, 1 or 2, not ${v}` });
          s = dev === 'all' ? { ...s, rpFilter: v } : { ...s, rpFilterDev: { ...(s.rpFilterDev ?? {}), [dev]: v } };
          break;
        }
      }
      continue;
    }
    if (key === 'net.ipv4.ip_forward') {
      s = { ...s, ipForward: BOOL(v, key) };
      continue;
    }
    if (key === 'net.bridge.bridge-nf-call-iptables') {
      s = { ...s, bridgeNfCallIptables: BOOL(v, key) };
      continue;
    }
    if (key === 'net.bridge.bridge-nf-call-ip6tables') continue; // IPv6 bridged traffic: the World is IPv4
    const nf = /^net\.netfilter\.(nf_conntrack_\w+)$/.exec(key);
    if (nf) {
      const name = nf[1]!;
      if (!Number.isInteger(v) || v < 0) throw new InputError({ field: key, message: `${key} takes a non-negative integer, not ${v}` });
      if (name === 'nf_conntrack_max') {
        s = { ...s, conntrack: { ...s.conntrack, max: v } };
        continue;
      }
      const set = CT_TIMEOUT_KEYS[name];
      if (set) {
        s = { ...s, conntrack: { ...s.conntrack, timeouts: { ...(s.conntrack?.timeouts ?? {}), [name]: v } } };
        continue;
      }
    }
    throw new InputError({ field: w.key, message: `sysctl ${w.key} is not modelled` });
  }
  return s;
}

/** The conntrack timeouts of a namespace: the kernel's defaults with its nf_conntrack_*_timeout* sysctls (seconds) applied. */
export function conntrackTimeouts(s: Sysctls): Timeouts {
  let t = DEFAULT_TIMEOUTS;
  for (const [name, secs] of Object.entries(s.conntrack?.timeouts ?? {})) t = CT_TIMEOUT_KEYS[name]!(t, secs * 1000);
  return t;
}

/**
 * Writes the sysctls routing reads into the namespace's Rib (IN_DEV_NET_ROUTE_LOCALNET,
 * IN_DEV_ACCEPT_LOCAL, IN_DEV_PROXY_ARP are conf/all OR conf/<dev>).
 */
export function applySysctlsToRib(s: Sysctls, rib: Rib): void {
  if (s.routeLocalnet) rib.routeLocalnet.add('all');
  for (const d of s.routeLocalnetDev ?? []) rib.routeLocalnet.add(d);
  for (const d of s.acceptLocal) rib.acceptLocal.add(d);
  for (const d of s.proxyArp) rib.proxyArp.add(d);
}

/** `sysctl -a`-style lines of what differs from a new namespace's defaults (for listings). */
export function formatSysctls(s: Sysctls): string {
  const lines = [`net.ipv4.ip_forward = ${s.ipForward ? 1 : 0}`, `net.ipv4.conf.all.rp_filter = ${s.rpFilter}`];
  for (const [d, v] of Object.entries(s.rpFilterDev ?? {})) lines.push(`net.ipv4.conf.${d}.rp_filter = ${v}`);
  lines.push(`net.ipv4.conf.all.route_localnet = ${s.routeLocalnet ? 1 : 0}`);
  for (const d of s.routeLocalnetDev ?? []) lines.push(`net.ipv4.conf.${d}.route_localnet = 1`);
  for (const d of s.acceptLocal) lines.push(`net.ipv4.conf.${d}.accept_local = 1`);
  for (const d of s.proxyArp) lines.push(`net.ipv4.conf.${d}.proxy_arp = 1`);
  lines.push(`net.bridge.bridge-nf-call-iptables = ${s.bridgeNfCallIptables ? 1 : 0}`);
  if (s.conntrack?.max !== undefined) lines.push(`net.netfilter.nf_conntrack_max = ${s.conntrack.max}`);
  for (const [k, v] of Object.entries(s.conntrack?.timeouts ?? {})) lines.push(`net.netfilter.${k} = ${v}`);
  return lines.join('\n') + '\n';
}
