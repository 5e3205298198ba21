import { formatIp } from '../../base/index.js';
import type { RealServer } from '../types.js';
import type { Candidate, Decision } from './types.js';

/** `10.244.1.5:8080` / `[fd00::5]:8080`, as ipvsadm -n prints a real server. */
export function destName(d: RealServer): string {
  return d.addr.family === 4 ? `${formatIp(d.addr)}:${d.port}` : `[${formatIp(d.addr)}]:${d.port}`;
}

/** Models ip_vs_dest_conn_overhead (include/net/ip_vs.h): activeconns * 256 + inactconns. */
export function destConnOverhead(d: RealServer): number {
  return d.activeConns * 256 + d.inactConns;
}

/** The one-outcome enumeration of a scheduler whose choice the request and current counts fix. */
export function single(d: Decision): Candidate[] {
  return [{ dest: d.dest, probability: 1, why: d.why }];
}

/**
 * A decision whose explanation is built only when read (traces, `--all`), from values captured at
 * decision time: the datapath pays for a closure, not for strings. `why` is a getter, so it is not an
 * own property; toJSON includes it.
 */
export class LazyDecision implements Decision {
  private text: string | undefined;
  constructor(
    readonly dest: RealServer | null,
    private explain: (() => string) | null,
  ) {}

  get why(): string {
    if (this.text === undefined) {
      this.text = this.explain!();
      this.explain = null;
    }
    return this.text;
  }

  toJSON(): { dest: RealServer | null; why: string } {
    return { dest: this.dest, why: this.why };
  }
}

export function noDest(why: string): Decision {
  return { dest: null, why };
}

/** Greatest common divisor (lib/math/gcd.c). */
export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Collapses repeated dests of a cycle into candidates with exact probabilities. */
export function cycleCandidates(picks: readonly { dest: RealServer; why: string }[]): Candidate[] {
  const counts = new Map<RealServer, { n: number; why: string }>();
  for (const p of picks) {
    const c = counts.get(p.dest);
    if (c) c.n++;
    else counts.set(p.dest, { n: 1, why: p.why });
  }
  const total = picks.length;
  return [...counts.entries()].map(([dest, c]) => ({ dest, probability: c.n / total, why: `${c.n} of ${total} picks in one cycle; next: ${c.why}` }));
}
