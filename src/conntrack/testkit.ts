/**
 * Test support (not exported): a tuple-level stand-in for one host's hook walk, so tests can drive
 * ConntrackTable the way the netns pipeline does (conntrack in → nat DST → nat SRC → confirm).
 */
import { Rng, VirtualClock } from '../base/index.js';
import { ConntrackTable, type PacketInfo } from './table.js';
import type { CtResult, Manip, NatRange, TcpFlags, Tuple } from './types.js';
import { PROTO } from './tuple.js';

export type NatRule = (pkt: Tuple) => NatRange | null;

export function range(minIp: string, maxIp = minIp, ports?: [number, number], flags: Partial<NatRange['flags']> = {}): NatRange {
  return {
    minIp,
    maxIp,
    ...(ports ? { minPort: ports[0], maxPort: ports[1] } : {}),
    flags: { mapIps: true, protoSpecified: ports !== undefined, random: false, randomFully: false, persistent: false, ...flags },
  };
}

export function tcp(src: string, sport: number, dst: string, dport: number): Tuple {
  return { family: 4, proto: PROTO.TCP, src, dst, sport, dport };
}
export function udp(src: string, sport: number, dst: string, dport: number): Tuple {
  return { family: 4, proto: PROTO.UDP, src, dst, sport, dport };
}

export const SYN: TcpFlags = { syn: true };
export const SYNACK: TcpFlags = { syn: true, ack: true };
export const ACK: TcpFlags = { ack: true };
export const FINACK: TcpFlags = { fin: true, ack: true };
export const RST: TcpFlags = { rst: true };

export class Host {
  readonly clock = new VirtualClock(1_000_000);
  readonly rng = new Rng(7);
  readonly ct: ConntrackTable;
  constructor(readonly rules: { dnat?: NatRule; snat?: NatRule } = {}) {
    this.ct = new ConntrackTable({ clock: this.clock });
  }

  private natHook(r: CtResult, manip: Manip, pkt: Tuple): Tuple {
    const entry = r.entry;
    if (!entry) return pkt;
    if (r.ctinfo === 'NEW' && !this.ct.natInitialized(entry, manip)) {
      const rule = manip === 'DST' ? this.rules.dnat : this.rules.snat;
      const rg = rule?.(pkt) ?? null;
      if (rg) this.ct.setupNat(entry, manip, rg, { rng: this.rng });
      else this.ct.allocNullBinding(entry, manip, { rng: this.rng });
    }
    return this.ct.translate(entry, r.dir, manip, pkt) ?? pkt;
  }

  /** PREROUTING (or OUTPUT) → POSTROUTING (or INPUT) → confirm; returns the packet as it leaves. */
  pass(pkt: Tuple, info: PacketInfo = {}): { r: CtResult; out: Tuple } {
    const r = this.ct.packetIn(pkt, info);
    let out = this.natHook(r, 'DST', pkt);
    out = this.natHook(r, 'SRC', out);
    if (r.entry && !r.entry.confirmed && r.dir === 'ORIGINAL') this.ct.confirm(r.entry);
    return { r, out };
  }
}
