import { encodePacket } from '../packet/packet.js';
import type { Packet } from '../packet/packet.js';
import { ETHERTYPE } from '../packet/ethernet.js';
import { ipHeader } from '../packet/build.js';
import { IP_PROTO } from '../packet/ipv4.js';
import type { TcpHeader, TcpHeaderFlags } from '../packet/tcp.js';
import type { BgpLogEntry } from './network.js';
import { BGP_PORT, encodeBgpMessage } from './wire.js';

/** The MAC a frame uses for an address when the caller has none: locally administered 02:00 + the IPv4 bytes. */
export function syntheticMac(ip: string): string {
  const b = ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0'));
  return `02:00:${b.join(':')}`;
}

const FLAGS = (f: Partial<TcpHeaderFlags>): TcpHeaderFlags => ({ fin: false, syn: false, rst: false, psh: false, ack: false, urg: false, ece: false, cwr: false, ...f });

interface Conn {
  /** Sequence numbers of the initiator and of the listener. */
  seqI: number;
  seqL: number;
  portI: number;
}

/**
 * Ethernet/IPv4/TCP frames carrying the logged BGP messages, one message per segment, as a
 * capture on the wire between the speakers would hold them: each connection starts with the
 * three-way handshake to port 179, then PSH/ACK segments with consistent sequence numbers.
 * Timestamps are the virtual send times (seconds).
 */
export function bgpFrames(log: readonly BgpLogEntry[], opts: { macOf?: (ip: string) => string; epochSeconds?: number } = {}): { ts: number; bytes: Uint8Array }[] {
  const macOf = opts.macOf ?? syntheticMac;
  const epoch = opts.epochSeconds ?? 0;
  const conns = new Map<number, Conn>();
  const out: { ts: number; bytes: Uint8Array }[] = [];
  const frame = (ts: number, src: string, dst: string, sport: number, dport: number, seq: number, ack: number, flags: TcpHeaderFlags, payload: Uint8Array): void => {
    const tcp: TcpHeader = { kind: 'tcp', sport, dport, seq: seq >>> 0, ack: ack >>> 0, flags, window: 64240, urgent: 0, options: new Uint8Array(0) };
    // BIRD sets IP TOS to CS6 (0xc0) on BGP sockets (sk->tos = IP_PREC_INTERNET_CONTROL).
    const ip = { ...ipHeader(src, dst, IP_PROTO.TCP, { ttl: 64 }), dscp: 48 };
    const p: Packet = { layers: [{ kind: 'ethernet', src: macOf(src), dst: macOf(dst), ethertype: ETHERTYPE.IPV4 }, ip, tcp], payload };
    out.push({ ts: epoch + ts / 1000, bytes: encodePacket(p) });
  };
  for (const e of log) {
    if (!e.message || e.conn === undefined || e.conn === 0) continue;
    let c = conns.get(e.conn);
    const iSide = e.initiator ?? false;
    const [ci, cl] = iSide ? [e.fromAddress, e.toAddress] : [e.toAddress, e.fromAddress];
    if (!c) {
      c = { seqI: (e.conn * 0x9e3779b1) >>> 0, seqL: (e.conn * 0x85ebca6b) >>> 0, portI: 32768 + ((e.conn * 7919) % 28232) };
      conns.set(e.conn, c);
      frame(e.t, ci, cl, c.portI, BGP_PORT, c.seqI, 0, FLAGS({ syn: true }), new Uint8Array(0));
      frame(e.t, cl, ci, BGP_PORT, c.portI, c.seqL, c.seqI + 1, FLAGS({ syn: true, ack: true }), new Uint8Array(0));
      c.seqI++;
      c.seqL++;
      frame(e.t, ci, cl, c.portI, BGP_PORT, c.seqI, c.seqL, FLAGS({ ack: true }), new Uint8Array(0));
    }
    const bytes = encodeBgpMessage(e.message, { addPath: e.addPath ?? false });
    if (iSide) {
      frame(e.t, ci, cl, c.portI, BGP_PORT, c.seqI, c.seqL, FLAGS({ psh: true, ack: true }), bytes);
      c.seqI += bytes.length;
    } else {
      frame(e.t, cl, ci, BGP_PORT, c.portI, c.seqL, c.seqI, FLAGS({ psh: true, ack: true }), bytes);
      c.seqL += bytes.length;
    }
  }
  return out;
}
