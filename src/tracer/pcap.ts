/**
 * Traces as captures, and captures as traces.
 *
 * `tracePcap`: every frame of a trace as it crossed each device, in one classic pcap file of link
 * type LINUX_SLL2 (276), which is what `tcpdump -i any` writes on Linux: each record carries the
 * interface index, the packet type (PACKET_HOST 0 for a frame received, PACKET_OUTGOING 4 for a
 * frame sent) and the sender's MAC, then the frame from its network header on. The interface index
 * of (netns, device) is its position in the World: namespaces in World order, devices in each
 * namespace's order, counting from 1 (`pcapInterfaces` lists the mapping; `podpath trace --pcap`
 * prints it on stderr). Frames come outcome by outcome, the request's hops then the reply's; a frame
 * crossing a veth appears twice (sent by one end, received by the other) as in a capture taken in
 * every namespace. A VXLAN hop adds the inner frame on the VXLAN device (sent before the outer one
 * on the underlay device is sent; received after the outer one was received). Timestamps are
 * synthetic: outcome o starts at o seconds, frames 1 ms apart.
 *
 * `pcapRequests`: the requests a capture holds — one per flow-opening packet (see its comment).
 */
import { InputError, isIp, type Problem } from '../base/index.js';
import type { World } from '../cluster/world.js';
import { decodePacket, encodePacket, ethernetHeaderLen, formatPacket, LINKTYPE, writePcap, type EthernetHeader, type Layer, type Packet, type PcapRecord } from '../packet/index.js';
import type { Hop, PacketSnapshot, Step, Trace } from '../trace/index.js';
import type { TraceProto, TraceRequest } from './trace.js';

/** sll_pkttype values (include/uapi/linux/if_packet.h). */
export const PACKET_TYPE = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4 } as const;
/** ARPHRD_* (include/uapi/linux/if_arp.h): every device podpath models is Ethernet-like but lo. */
export const ARPHRD = { ETHER: 1, LOOPBACK: 772 } as const;
/** LINKTYPE_LINUX_SLL2 header length (tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html). */
export const SLL2_HEADER_LEN = 20;

export interface PcapInterface {
  readonly ifindex: number;
  readonly netns: string;
  readonly dev: string;
}

/** The interface index of every (netns, device) of the World: World order, from 1. */
export function pcapInterfaces(world: World): PcapInterface[] {
  const out: PcapInterface[] = [];
  for (const ns of world.fabric.netns.values()) for (const d of ns.devices.values()) out.push({ ifindex: out.length + 1, netns: ns.name, dev: d.name });
  return out;
}

/** One frame as it crossed a device. */
export interface TraceFrame {
  readonly outcome: number;
  readonly reply: boolean;
  readonly netns: string;
  readonly dev: string;
  readonly direction: 'in' | 'out';
  readonly packet: Packet;
}

/** Fields of Layer types that hold bytes (hex strings in a snapshot). */
const BYTE_FIELDS = new Set(['options', 'padding']);

function layerOf(o: Record<string, string | number | boolean | null>): Layer {
  const l: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'layer' || v === null) continue;
    if (typeof v === 'string' && BYTE_FIELDS.has(k)) l[k] = Uint8Array.from(Buffer.from(v, 'hex'));
    else if (typeof v === 'string' && (v.startsWith('{') || v.startsWith('['))) l[k] = JSON.parse(v) as unknown;
    else l[k] = v;
  }
  return l as unknown as Layer;
}

function numbers(s: string): number[] {
  return [...s.matchAll(/\d+/g)].map((m) => Number(m[0]));
}

/**
 * The frame a snapshot shows: its `hex` when recorded; else rebuilt from its layers with a zero
 * payload (what podpath's sockets send) whose length is solved from the summary's lengths, and
 * checked: the rebuilt frame must print exactly the snapshot's summary.
 */
export function packetOfSnapshot(s: PacketSnapshot): Packet {
  const eth = s.layers[0]?.kind === 'ethernet';
  if (s.hex) return decodePacket(Uint8Array.from(Buffer.from(s.hex, 'hex')), { link: eth ? 'ethernet' : 'raw' });
  const layers = s.layers.map(layerOf);
  const at = (n: number): Packet => ({ layers, payload: new Uint8Array(n) });
  const show = (p: Packet) => formatPacket(p, { ethernet: true });
  const a = numbers(show(at(0)));
  const b = numbers(show(at(1000)));
  const want = numbers(s.summary);
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (b[i] === a[i]! + 1000 && want[i] !== undefined) {
      n = want[i]! - a[i]!;
      break;
    }
  }
  const p = at(Math.max(0, n));
  if (show(p) !== s.summary) throw new Error(`cannot rebuild the frame "${s.summary}" from its snapshot (got "${show(p)}")`);
  return p;
}

function stepsOf(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => [s, ...stepsOf(s.children ?? [])]);
}

/** The inner frame of a VXLAN-encapsulated frame (the layers after the vxlan header). */
function innerOf(p: Packet): Packet | null {
  const i = p.layers.findIndex((l) => l.kind === 'vxlan');
  if (i < 0 || p.layers[i + 1]?.kind !== 'ethernet') return null;
  return { layers: p.layers.slice(i + 1), payload: p.payload };
}

function hopFrames(h: Hop, outcome: number, reply: boolean): TraceFrame[] {
  const out: TraceFrame[] = [];
  const steps = stepsOf(h.steps);
  const frame = (netns: string, dev: string, direction: 'in' | 'out', packet: Packet) => out.push({ outcome, reply, netns, dev, direction, packet });
  if (h.in !== null && 'layers' in h.packetIn) {
    const p = packetOfSnapshot(h.packetIn as PacketSnapshot);
    frame(h.netns, h.in, 'in', p);
    const decap = steps.find((s) => s.kind === 'decap');
    const inner = innerOf(p);
    if (decap && decap.kind === 'decap' && inner) frame(h.netns, decap.dev, 'in', inner);
  }
  if (h.out !== null && 'layers' in h.packetOut) {
    const p = packetOfSnapshot(h.packetOut as PacketSnapshot);
    const encap = steps.find((s) => s.kind === 'encap');
    const inner = innerOf(p);
    if (encap && encap.kind === 'encap' && inner) frame(h.netns, encap.dev, 'out', inner);
    frame(h.netns, h.out, 'out', p);
  }
  return out;
}

/** Every frame of a trace, in order: outcome by outcome, request hops then reply hops. */
export function traceFrames(trace: Trace): TraceFrame[] {
  return trace.outcomes.flatMap((o, i) => [...o.hops.flatMap((h) => hopFrames(h, i, false)), ...(o.reply?.hops ?? []).flatMap((h) => hopFrames(h, i, true))]);
}

/** One LINUX_SLL2 record: the 20-byte header, then the frame from its network header on. */
export function sll2Record(p: Packet, ifindex: number, direction: 'in' | 'out', hatype: number = ARPHRD.ETHER): Uint8Array {
  const bytes = encodePacket(p);
  const eth = p.layers[0]?.kind === 'ethernet' ? (p.layers[0] as EthernetHeader) : null;
  const body = eth ? bytes.subarray(ethernetHeaderLen(eth)) : bytes;
  const out = new Uint8Array(SLL2_HEADER_LEN + body.length);
  const dv = new DataView(out.buffer);
  const proto = eth ? eth.ethertype : (bytes[0]! >> 4) === 6 ? 0x86dd : 0x0800;
  dv.setUint16(0, proto);
  dv.setUint16(2, 0);
  dv.setUint32(4, ifindex);
  dv.setUint16(8, hatype);
  out[10] = direction === 'out' ? PACKET_TYPE.OUTGOING : PACKET_TYPE.HOST;
  if (eth) {
    // sll2_halen and sll2_addr: the frame's source MAC (the sender's link-layer address)
    out[11] = 6;
    eth.src.split(':').forEach((x, i) => (out[12 + i] = parseInt(x, 16)));
  }
  out.set(body, SLL2_HEADER_LEN);
  return out;
}

export interface TracePcap {
  readonly bytes: Uint8Array;
  readonly frames: readonly TraceFrame[];
  readonly interfaces: readonly PcapInterface[];
}

/** A pcap (LINUX_SLL2) of every frame of the traces, one after the other (trace t starts at 1000·t s). */
export function tracePcap(world: World, traces: readonly Trace[]): TracePcap {
  const interfaces = pcapInterfaces(world);
  const index = new Map(interfaces.map((i) => [`${i.netns}\u0000${i.dev}`, i.ifindex]));
  const frames: TraceFrame[] = [];
  const records: { ts: number; bytes: Uint8Array }[] = [];
  traces.forEach((t, ti) => {
    let k = 0;
    let last = -1;
    for (const f of traceFrames(t)) {
      if (f.outcome !== last) {
        last = f.outcome;
        k = 0;
      }
      const ifindex = index.get(`${f.netns}\u0000${f.dev}`) ?? 0;
      const dev = world.fabric.netns.get(f.netns)?.device(f.dev);
      records.push({ ts: ti * 1000 + f.outcome + k++ * 0.001, bytes: sll2Record(f.packet, ifindex, f.direction, dev?.kind === 'loopback' ? ARPHRD.LOOPBACK : ARPHRD.ETHER) });
      frames.push(f);
    }
  });
  return { bytes: writePcap(records, LINKTYPE.LINUX_SLL2), frames, interfaces };
}

/** A request read from a capture record. */
export interface PcapRequest {
  /** 1-based record number (as tshark's frame.number). */
  readonly record: number;
  readonly ts: number;
  readonly summary: string;
  readonly request: TraceRequest;
}

export interface PcapSkip {
  readonly record: number;
  readonly reason: string;
}

/**
 * The requests of a capture (`podpath trace --pcap-in`). Per record, the innermost IPv4 header
 * followed by TCP, UDP or ICMP is the packet (for VXLAN on the underlay: the encapsulated pod
 * packet). Only packets that open a flow are traced — a TCP SYN without ACK, a UDP datagram, an
 * ICMP echo request — each 5-tuple once (retransmissions and later datagrams of a flow are the same
 * request); podpath traces the reply of each itself, so SYN-ACKs, ACKs, data segments and echo
 * replies are skipped with that reason, as are non-IP records, records that do not decode, and
 * packets whose source is no address of the topology. The request is injected where its source
 * address lives (a pod, a node, a router or a client, as `--from IP`), to `DST:DPORT` (`DST` for
 * ICMP) with the packet's protocol, source port (ICMP: echo id), IP total length and DF bit.
 */
export function pcapRequests(world: World, records: readonly PcapRecord[], file = '<pcap>'): { requests: PcapRequest[]; skipped: PcapSkip[] } {
  const requests: PcapRequest[] = [];
  const skipped: PcapSkip[] = [];
  const seen = new Set<string>();
  const problems: Problem[] = [];
  records.forEach((r, i) => {
    const record = i + 1;
    const skip = (reason: string) => skipped.push({ record, reason });
    if (!r.packet) return skip(r.error ? `does not decode: ${r.error.message}` : 'link type without a decoder');
    const p = r.packet;
    let at = -1;
    for (let j = p.layers.length - 2; j >= 0; j--) {
      const l = p.layers[j]!;
      const next = p.layers[j + 1]!.kind;
      if (l.kind === 'ipv4' && (next === 'tcp' || next === 'udp' || next === 'icmp')) {
        at = j;
        break;
      }
    }
    if (at < 0) return skip(p.layers.some((l) => l.kind === 'ipv6') ? 'IPv6: podpath traces IPv4' : 'no IPv4 TCP/UDP/ICMP packet');
    const ip = p.layers[at] as Extract<Layer, { kind: 'ipv4' }>;
    const l4 = p.layers[at + 1]!;
    const summary = formatPacket({ layers: p.layers.slice(at), payload: p.payload });
    if (ip.fragOffset !== 0) return skip('a later fragment: no transport header');
    let proto: TraceProto;
    let sport: number;
    let to: string;
    if (l4.kind === 'tcp') {
      if (!l4.flags.syn || l4.flags.ack) return skip(`TCP ${l4.flags.syn ? 'SYN-ACK' : 'segment'} of a connection: podpath traces the SYN and its reply`);
      proto = 'tcp';
      sport = l4.sport;
      to = `${ip.dst}:${l4.dport}`;
    } else if (l4.kind === 'udp') {
      proto = 'udp';
      sport = l4.sport;
      to = `${ip.dst}:${l4.dport}`;
    } else if (l4.kind === 'icmp') {
      if (l4.type !== 8) return skip(`ICMP type ${l4.type}: podpath traces echo requests`);
      proto = 'icmp';
      sport = (l4.rest >>> 16) & 0xffff;
      to = ip.dst;
    } else return skip('no transport header');
    const key = `${proto} ${ip.src} ${sport} ${to}`;
    if (seen.has(key)) return skip(`same flow as an earlier record (${proto} ${ip.src}:${sport} > ${to})`);
    seen.add(key);
    if (!isIp(ip.src) || !world.owners.has(ip.src)) return skip(`source ${ip.src} is no address of the topology`);
    const size = ip.totalLength ?? r.origLength;
    if (size < 28) {
      problems.push({ file, field: `record ${record}`, message: `IPv4 total length ${size} is shorter than a header` });
      return;
    }
    requests.push({ record, ts: r.ts, summary, request: { from: ip.src, to, proto, sport, size, df: ip.df } });
  });
  if (problems.length) throw new InputError(problems);
  return { requests, skipped };
}
