/**
 * Which functions run at each netfilter hook of an IPv4 network namespace, and in which order.
 * The order is the kernel's: hook entries sorted by priority (nf_hook_entries_grow keeps them
 * sorted; nf_hook_slow runs them in that order and stops at the first verdict other than ACCEPT).
 */
import type { HookName } from '../trace/index.js';
import { IPVS_OPS, type IpvsHookFn } from './ipvs-hook.js'; // IPVS (issue 6)

/** One registered hook function. Tables are the iptable_* / nft chains; the rest are conntrack and NAT core. */
export type HookFn = 'raw' | 'conntrack-in' | 'mangle' | 'nat-dst' | 'filter' | 'security' | 'nat-src' | 'conntrack-confirm' | IpvsHookFn;

/**
 * enum nf_ip_hook_priorities (include/uapi/linux/netfilter_ipv4.h). NAT_DST is the priority of
 * nat PREROUTING/OUTPUT, NAT_SRC of nat POSTROUTING/INPUT; CONNTRACK_CONFIRM is INT_MAX.
 */
export const IPV4_PRIORITY: Readonly<Record<Exclude<HookFn, IpvsHookFn>, number>> = {
  raw: -300, // NF_IP_PRI_RAW
  'conntrack-in': -200, // NF_IP_PRI_CONNTRACK
  mangle: -150, // NF_IP_PRI_MANGLE
  'nat-dst': -100, // NF_IP_PRI_NAT_DST
  filter: 0, // NF_IP_PRI_FILTER
  security: 50, // NF_IP_PRI_SECURITY
  'nat-src': 100, // NF_IP_PRI_NAT_SRC
  'conntrack-confirm': 2147483647, // NF_IP_PRI_CONNTRACK_CONFIRM
};

/**
 * The functions registered at each hook. Tables: valid_hooks of iptable_raw/mangle/nat/filter/
 * security; conntrack: ipv4_conntrack_ops (nf_conntrack_proto.c: ipv4_conntrack_in at PRE_ROUTING,
 * ipv4_conntrack_local at LOCAL_OUT, ipv4_confirm at POST_ROUTING and LOCAL_IN); NAT: nf_nat_ipv4_ops
 * (nf_nat_proto.c: DST at PRE_ROUTING/LOCAL_OUT, SRC at POST_ROUTING/LOCAL_IN).
 */
const REGISTERED: Readonly<Record<HookName, readonly Exclude<HookFn, IpvsHookFn>[]>> = {
  PREROUTING: ['raw', 'conntrack-in', 'mangle', 'nat-dst'],
  INPUT: ['mangle', 'filter', 'security', 'nat-src', 'conntrack-confirm'],
  FORWARD: ['mangle', 'filter', 'security'],
  OUTPUT: ['raw', 'conntrack-in', 'mangle', 'nat-dst', 'filter', 'security'],
  POSTROUTING: ['mangle', 'nat-src', 'conntrack-confirm'],
};

/** The functions of `hook` in the order nf_hook_slow runs them (ascending priority). */
export const HOOK_ORDER: Readonly<Record<HookName, readonly HookFn[]>> = Object.fromEntries(
  (Object.keys(REGISTERED) as HookName[]).map((h) => [h, [...REGISTERED[h]].sort((a, b) => IPV4_PRIORITY[a] - IPV4_PRIORITY[b])]),
) as unknown as Record<HookName, readonly HookFn[]>;

/** HOOK2MANIP (include/net/netfilter/nf_nat.h): source manipulation at POSTROUTING and INPUT, destination elsewhere. */
export function hookManip(hook: HookName): 'SRC' | 'DST' {
  return hook === 'POSTROUTING' || hook === 'INPUT' ? 'SRC' : 'DST';
}

/** The iptables table a table hook function walks. */
export function tableOf(fn: HookFn): 'raw' | 'mangle' | 'nat' | 'filter' | 'security' | null {
  switch (fn) {
    case 'raw':
    case 'mangle':
    case 'filter':
    case 'security':
      return fn;
    case 'nat-dst':
    case 'nat-src':
      return 'nat';
    case 'conntrack-in':
    case 'conntrack-confirm':
    case 'ipvs-reply':
    case 'ipvs-request':
      return null;
  }
}

/** HOOK_ORDER with IPVS's hooks registered (ip_vs_register_hooks runs when the netns gets its first virtual service). */ // IPVS (issue 6)
export const HOOK_ORDER_IPVS: Readonly<Record<HookName, readonly HookFn[]>> = Object.fromEntries(
  (Object.keys(REGISTERED) as HookName[]).map((h) => {
    const fns: { fn: HookFn; prio: number }[] = REGISTERED[h].map((fn) => ({ fn, prio: IPV4_PRIORITY[fn] }));
    for (const op of IPVS_OPS) if (op.hook === h) fns.push({ fn: op.fn, prio: op.priority });
    return [h, fns.sort((a, b) => a.prio - b.prio).map((x) => x.fn)];
  }),
) as unknown as Record<HookName, readonly HookFn[]>;
