import { ICMP_TYPE, icmpEchoId } from './icmp.js';
import { ICMPV6_TYPE } from './icmpv6.js';
import type { Packet } from './packet.js';

/**
 * The 5-tuple of a packet: the FIRST IP layer (the outer header of a tunnelled packet) and the
 * transport header right after it. `proto` is that IP layer's protocol / next header. TCP and
 * UDP give their ports; an ICMP/ICMPv6 echo request or reply gives sport = identifier, dport = 0
 * (so a request and its reply have reversed keys, as conntrack pairs them); any other ICMP
 * message, and a protocol without ports (IP-in-IP: proto 4), gives 0 and 0.
 */
export interface FlowKey {
  family: 4 | 6;
  proto: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** The flow key of `p`, or undefined when it has no IP layer (ARP). */
export function flowKey(p: Packet): FlowKey | undefined {
  const layers = p.layers;
  for (let i = 0; i < layers.length; i++) {
    const ip = layers[i]!;
    if (ip.kind !== 'ipv4' && ip.kind !== 'ipv6') continue;
    const key: FlowKey = {
      family: ip.kind === 'ipv4' ? 4 : 6,
      proto: ip.kind === 'ipv4' ? ip.protocol : ip.nextHeader,
      src: ip.src,
      dst: ip.dst,
      sport: 0,
      dport: 0,
    };
    const t = layers[i + 1];
    if (t?.kind === 'tcp' || t?.kind === 'udp') {
      key.sport = t.sport;
      key.dport = t.dport;
    } else if (t?.kind === 'icmp' && (t.type === ICMP_TYPE.ECHO || t.type === ICMP_TYPE.ECHO_REPLY)) {
      key.sport = icmpEchoId(t);
    } else if (t?.kind === 'icmpv6' && (t.type === ICMPV6_TYPE.ECHO_REQUEST || t.type === ICMPV6_TYPE.ECHO_REPLY)) {
      key.sport = icmpEchoId(t);
    }
    return key;
  }
  return undefined;
}

/**
 * The key of the reply direction: addresses swapped, ports swapped; for ICMP (no ports) the
 * identifier stays in sport, so reverseFlow(flowKey(echo request)) equals flowKey(echo reply).
 */
export function reverseFlow(k: FlowKey): FlowKey {
  const icmp = k.proto === 1 || k.proto === 58;
  return {
    family: k.family,
    proto: k.proto,
    src: k.dst,
    dst: k.src,
    sport: icmp ? k.sport : k.dport,
    dport: icmp ? k.dport : k.sport,
  };
}

/** `tcp 10.0.0.1:40000 -> 10.0.0.2:8080` ([v6]:port for IPv6). */
export function formatFlowKey(k: FlowKey): string {
  const names: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };
  const ep = (a: string, p: number) => (k.family === 6 ? `[${a}]:${p}` : `${a}:${p}`);
  return `${names[k.proto] ?? `proto ${k.proto}`} ${ep(k.src, k.sport)} -> ${ep(k.dst, k.dport)}`;
}
