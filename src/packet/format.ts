import { formatArp } from './arp.js';
import { formatEthernet } from './ethernet.js';
import { formatIcmp } from './icmp.js';
import type { QuoteSummary } from './icmp.js';
import { formatIcmpv6 } from './icmpv6.js';
import { ipProtoName } from './ipv4.js';
import { packetLayout } from './packet.js';
import type { IpLayer, Packet } from './packet.js';
import { formatTcpSummary } from './tcp.js';
import { formatVxlan } from './vxlan.js';

export interface PacketFormatOptions {
  /**
   * Show Ethernet headers as `tcpdump -e` does (default false, as plain tcpdump). Like tcpdump -e,
   * a level that starts with an Ethernet header drops the `IP `/`IP6 `/`ARP, ` tag after it.
   */
  ethernet?: boolean;
}

/**
 * One line in the style of `tcpdump -nn -S` (numeric, absolute sequence numbers; with
 * `ethernet: true`, of `tcpdump -nn -S -e`), every network and transport layer shown; each
 * encapsulation level (after VXLAN, after an IP-in-IP outer header) is separated by ` | `:
 * `IP 192.168.56.11.51234 > 192.168.56.12.8472: VXLAN, flags [I] (0x08), vni 1 | IP 10.244.1.2.40000
 * > 10.244.2.3.8080: Flags [S], seq 1000, win 64240, length 0`. VXLAN is printed as tcpdump's
 * `-T vxlan` does; application payloads are not decoded (tcpdump's `: HTTP` and the like are
 * absent). An ICMP error names the quoted datagram as tcpdump does
 * (`ICMP 10.0.0.2 udp port 9999 unreachable, length 136`) and does not print it further.
 */
export function formatPacket(p: Packet, opts: PacketFormatOptions = {}): string {
  const showEth = opts.ethernet ?? false;
  const layout = packetLayout(p);
  const levels: string[] = [];
  let cur = '';
  /** This level started with a shown Ethernet header (no protocol tag), / already has an IP header. */
  let afterEth = false;
  let hasIp = false;
  const layers = p.layers;
  const flush = () => {
    if (cur) levels.push(cur);
    cur = '';
    afterEth = false;
    hasIp = false;
  };
  for (let i = 0; i < layers.length; i++) {
    const h = layers[i]!;
    const size = layout.header[i]! + layout.inner[i]!;
    switch (h.kind) {
      case 'ethernet':
        if (!showEth) continue;
        flush();
        cur = `${formatEthernet(h, size + layout.padding[i]!)}${h.vlan ? ', ' : ': '}`;
        afterEth = true;
        continue;
      case 'arp':
        cur += afterEth ? formatArp(h).replace(/^ARP, /, '') : formatArp(h);
        continue;
      case 'ipv4':
      case 'ipv6': {
        if (hasIp) flush();
        const tag = afterEth ? '' : h.kind === 'ipv4' ? 'IP ' : 'IP6 ';
        hasIp = true;
        const { text, consumed } = formatIp(p, layout, i, h, tag);
        cur += text;
        i += consumed;
        continue;
      }
      default:
        // A transport or tunnel header without an IP layer in front: show it on its own.
        cur += `${h.kind}`;
        continue;
    }
  }
  // Nothing decoded after the last header (an unknown EtherType), or no layers at all.
  if (cur === '' || cur.endsWith(': ') || cur.endsWith(', ')) cur += `data, length ${p.payload.length}`;
  flush();
  return levels.join(' | ');
}

/** Formats IP layer i and the transport after it; returns how many following layers it used. */
function formatIp(p: Packet, layout: ReturnType<typeof packetLayout>, i: number, ip: IpLayer, tag: string): { text: string; consumed: number } {
  const layers = p.layers;
  const t = layers[i + 1];
  const ep = (a: string, port: number) => `${a}.${port}`;
  if (!t) {
    const proto = ip.kind === 'ipv4' ? ip.protocol : ip.nextHeader;
    const frag = ip.kind === 'ipv4' && ip.fragOffset !== 0 ? ` (frag ${ip.id}:${layout.inner[i]}@${ip.fragOffset * 8})` : '';
    return { text: `${tag}${ip.src} > ${ip.dst}: ${ipProtoName(proto) === 'unknown' ? `ip-proto-${proto}` : ipProtoName(proto)} ${layout.inner[i]}${frag}`, consumed: 0 };
  }
  const tsize = layout.header[i + 1]! + layout.inner[i + 1]!;
  switch (t.kind) {
    case 'tcp':
      return { text: `${tag}${ep(ip.src, t.sport)} > ${ep(ip.dst, t.dport)}: ${formatTcpSummary(t, layout.inner[i + 1]!)}`, consumed: 1 };
    case 'udp': {
      const head = `${tag}${ep(ip.src, t.sport)} > ${ep(ip.dst, t.dport)}: `;
      const vx = layers[i + 2];
      if (vx?.kind === 'vxlan') return { text: `${head}${formatVxlan(vx)}`, consumed: 2 };
      return { text: `${head}UDP, length ${layout.inner[i + 1]}`, consumed: 1 };
    }
    case 'icmp':
    case 'icmpv6': {
      const q = layers[i + 2];
      let quote: QuoteSummary | undefined;
      if (q?.kind === 'ipv4' || q?.kind === 'ipv6') {
        const qt = layers[i + 3];
        quote = { dst: q.dst, protocol: q.kind === 'ipv4' ? q.protocol : q.nextHeader };
        if (qt?.kind === 'tcp' || qt?.kind === 'udp') quote.dport = qt.dport;
      }
      const consumed = layers.length - 1 - i;
      if (t.kind === 'icmp') return { text: `${tag}${ip.src} > ${ip.dst}: ${formatIcmp(t, tsize, quote)}`, consumed };
      return { text: `${tag}${ip.src} > ${ip.dst}: ${formatIcmpv6(t, tsize, quote, layers.length === i + 2 ? p.payload : undefined)}`, consumed };
    }
    case 'ipv4':
    case 'ipv6':
      return { text: `${tag}${ip.src} > ${ip.dst}: ${t.kind === 'ipv4' ? 'IPIP' : 'IPv6-in-IP'}`, consumed: 0 };
    default:
      return { text: `${tag}${ip.src} > ${ip.dst}: ${t.kind}`, consumed: 0 };
  }
}
