/**
 * Network devices of a namespace as data (what `ip -d link` and `bridge fdb` list), so a World can
 * be printed and materialised into real namespaces: every device, its MAC, MTU, master and kind
 * attributes, and the forwarding database entries of bridges and VXLAN devices.
 */
import { jhash2 } from '../base/index.js';
import { parseIp } from '../base/index.js';

/** Bridge port flags (IFLA_BRPORT_*): hairpin (BR_HAIRPIN_MODE) and learning (BR_LEARNING). */
export interface BridgePortFlags {
  readonly hairpin: boolean;
  readonly learning: boolean;
}

interface DeviceBase {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  /** The bridge this device is a port of (IFLA_MASTER). */
  readonly master?: string;
  readonly port?: BridgePortFlags;
}

export interface LoopbackDevice extends DeviceBase {
  readonly kind: 'loopback';
}
/** A NIC on an underlay L2 segment (a `veth` into the segment's bridge in the kernel lab). */
export interface EthDevice extends DeviceBase {
  readonly kind: 'eth';
  readonly segment: string;
}
/** One end of a veth pair; the other end is `peer` (drivers/net/veth.c: veth_xmit → peer's netif_rx). */
export interface VethDevice extends DeviceBase {
  readonly kind: 'veth';
  readonly peer: { readonly netns: string; readonly dev: string };
}
export interface BridgeDevice extends DeviceBase {
  readonly kind: 'bridge';
}
/** A VXLAN device (drivers/net/vxlan/vxlan_core.c), with the attributes flannel's netlink call leaves. */
export interface VxlanDevice extends DeviceBase {
  readonly kind: 'vxlan';
  readonly vni: number;
  readonly local: string;
  /** The underlay device (IFLA_VXLAN_LINK). */
  readonly link: string;
  readonly dstport: number;
  readonly learning: boolean;
  /** 0 = `ttl auto`: ip4_dst_hoplimit of the route (64). */
  readonly ttl: number;
  readonly udpcsum: boolean;
  /** IFLA_VXLAN_PORT_RANGE; 0/0 = the netns' ip_local_port_range (`srcport 0 0`). */
  readonly srcPortMin: number;
  readonly srcPortMax: number;
}
export interface DummyDevice extends DeviceBase {
  readonly kind: 'dummy';
}
/**
 * An IP-in-IP tunnel (net/ipv4/ipip.c on net/ipv4/ip_tunnel.c). `tunl0` is the fallback device
 * ipip_init_net makes in every namespace once the module is loaded: remote and local `any`
 * (an NBMA tunnel: the outer destination is the route's next hop), TTL inherit, no PMTU
 * discovery, NOARP, MTU 1500 − 20.
 */
export interface IpipDevice extends DeviceBase {
  readonly kind: 'ipip';
  /** The outer source (IFLA_IPTUN_LOCAL); null = any: chosen by the route to the outer destination. */
  readonly local: string | null;
  /** The outer destination (IFLA_IPTUN_REMOTE); null = any: the inner route's next hop. */
  readonly remote: string | null;
  /** Outer TTL; 0 = inherit the inner packet's. */
  readonly ttl: number;
  /** Outer TOS; 1 = inherit (the low bit), 0 = 0. */
  readonly tos: number;
  /** IFLA_IPTUN_PMTUDISC: DF set on every outer packet (else DF only when the inner packet has it). */
  readonly pmtudisc: boolean;
}

export type Device = LoopbackDevice | EthDevice | VethDevice | BridgeDevice | VxlanDevice | DummyDevice | IpipDevice;

/** The IPv4 header the ipip tunnel puts in front (t_hlen of ip_tunnel_bind_dev: no GRE/UDP, no options). */
export const IPIP_OVERHEAD = 20;

/** The name of ipip's fallback device (ipip_net_init: ip_tunnel_init_net(..., "tunl0")). */
export const IPIP_FALLBACK_DEV = 'tunl0';

/**
 * The fallback `tunl0` as the kernel creates it (ip_tunnel_init_net → __ip_tunnel_create with
 * zeroed parameters; ip_tunnel_bind_dev with no underlay: ETH_DATA_LEN − t_hlen = 1480).
 */
export function ipipFallbackDevice(): IpipDevice {
  return { kind: 'ipip', name: IPIP_FALLBACK_DEV, mac: '00:00:00:00:00:00', mtu: 1500 - IPIP_OVERHEAD, local: null, remote: null, ttl: 0, tos: 0, pmtudisc: false };
}

/**
 * One forwarding database entry. Bridge entries (`master`) map a MAC to a port; VXLAN entries
 * (`self` on the vxlan device) map a MAC to a remote VTEP IP (`dst`).
 */
export interface FdbEntry {
  readonly mac: string;
  readonly dev: string;
  readonly master?: string;
  readonly dst?: string;
  readonly self: boolean;
  readonly permanent: boolean;
}

/** net.ipv4.ip_local_port_range default (Documentation/networking/ip-sysctl.rst): 32768 60999. */
export const LOCAL_PORT_RANGE: readonly [number, number] = [32768, 60999];

/** VXLAN_HEADROOM (include/net/vxlan.h): outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 in front of the inner datagram. */
export const VXLAN_OVERHEAD = 50;

/** Linux's default VXLAN UDP port (module parameter udp_port, drivers/net/vxlan/vxlan_core.c). */
export const VXLAN_DEFAULT_PORT = 8472;

/**
 * Models udp_flow_src_port (include/net/udp.h): the outer UDP source port from the inner flow's
 * hash, `hash ^= hash << 16`, scaled into [min, max). The kernel's skb_get_hash is keyed with a
 * secret chosen at boot, so a real host's port for a flow differs from this one; what is modelled
 * is the range and that one flow always gets one port. Here the hash is jhash2 of the inner
 * addresses and ports with a fixed seed.
 */
export function udpFlowSrcPort(inner: { src: string; dst: string; proto: number; sport?: number; dport?: number }, min = LOCAL_PORT_RANGE[0], max = LOCAL_PORT_RANGE[1]): number {
  const a = parseIp(inner.src);
  const b = parseIp(inner.dst);
  const words = [a.family === 4 ? a.n : Number(a.n & 0xffffffffn), b.family === 4 ? b.n : Number(b.n & 0xffffffffn), (((inner.sport ?? 0) << 16) | (inner.dport ?? 0)) >>> 0, inner.proto];
  let hash = jhash2(words, 0x5eed) >>> 0;
  hash = (hash ^ (hash << 16)) >>> 0;
  return Number((BigInt(hash) * BigInt(max - min)) >> 32n) + min;
}

/** `ip -d link show` for one device (index = ifindex in the namespace). */
export function formatLink(d: Device, index: number, peerIndex?: number): string {
  const flags = d.kind === 'loopback' ? 'LOOPBACK,UP,LOWER_UP' : d.kind === 'ipip' ? 'NOARP,UP,LOWER_UP' : 'BROADCAST,MULTICAST,UP,LOWER_UP';
  const qdisc = d.kind === 'eth' ? 'fq_codel' : 'noqueue';
  const master = d.master ? ` master ${d.master}` : '';
  const state = d.kind === 'loopback' || d.kind === 'vxlan' || d.kind === 'dummy' || d.kind === 'ipip' ? 'UNKNOWN' : 'UP';
  // a tunnel with no underlay device prints @NONE (iproute2 print_linkinfo: IFLA_LINK 0)
  const name = d.kind === 'veth' ? `${d.name}@${peerIndex !== undefined ? `if${peerIndex}` : d.peer.dev}` : d.kind === 'ipip' ? `${d.name}@NONE` : d.name;
  const lines = [`${index}: ${name}: <${flags}> mtu ${d.mtu} qdisc ${qdisc}${master} state ${state} mode DEFAULT group default qlen 1000`];
  lines.push(
    d.kind === 'loopback'
      ? '    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00'
      : d.kind === 'ipip'
        ? `    link/ipip ${d.local ?? '0.0.0.0'} brd ${d.remote ?? '0.0.0.0'}`
        : `    link/ether ${d.mac} brd ff:ff:ff:ff:ff:ff${d.kind === 'veth' ? ` link-netns ${d.peer.netns}` : ''}`,
  );
  switch (d.kind) {
    case 'veth':
      lines.push('    veth');
      break;
    case 'bridge':
      lines.push('    bridge forward_delay 1500 hello_time 200 max_age 2000 ageing_time 30000 stp_state 0 priority 32768 vlan_filtering 0');
      break;
    case 'vxlan':
      lines.push(
        `    vxlan id ${d.vni} local ${d.local} dev ${d.link} srcport ${d.srcPortMin} ${d.srcPortMax} dstport ${d.dstport}${d.learning ? '' : ' nolearning'} ttl ${d.ttl === 0 ? 'auto' : d.ttl} ageing 300 ${d.udpcsum ? 'udpcsum' : 'noudpcsum'} noudp6zerocsumtx noudp6zerocsumrx`,
      );
      break;
    case 'dummy':
      lines.push('    dummy');
      break;
    case 'ipip':
      // iproute2 ip/link_iptnl.c iptunnel_print_opt
      lines.push(`    ipip any remote ${d.remote ?? 'any'} local ${d.local ?? 'any'} ttl ${d.ttl === 0 ? 'inherit' : d.ttl}${d.tos === 1 ? ' tos inherit' : ''}${d.pmtudisc ? '' : ' nopmtudisc'}`);
      break;
    case 'loopback':
    case 'eth':
      break;
  }
  if (d.port) lines.push(`    bridge_slave state forwarding priority 32 cost 2 hairpin ${d.port.hairpin ? 'on' : 'off'} guard off root_block off fastleave off learning ${d.port.learning ? 'on' : 'off'} flood on`);
  return lines.join('\n');
}

/** `bridge fdb show` for one entry (iproute2 bridge/fdb.c print_fdb). */
export function formatFdb(e: FdbEntry): string {
  let s = `${e.mac} dev ${e.dev}`;
  if (e.dst) s += ` dst ${e.dst}`;
  if (e.master) s += ` master ${e.master}`;
  if (e.self) s += ' self';
  if (e.permanent) s += ' permanent';
  return s;
}
