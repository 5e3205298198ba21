import type { Flow, RealServer, VirtualService } from '../types.js';
import { destConnOverhead, destName, LazyDecision, noDest, single } from './common.js';
import type { Candidate, Decision, Scheduler } from './types.js';

/** ip_vs_sed_dest_overhead / ip_vs_nq_dest_overhead (ip_vs_sed.c, ip_vs_nq.c): activeconns + 1. */
function activePlusOne(d: RealServer): number {
  return d.activeConns + 1;
}

/**
 * The weighted-least walk shared by wlc, sed and nq: the first available server, then any later
 * one with loh * w(dest) > doh * w(least) (64-bit products in the kernel; exact here). nq takes an
 * idle server (activeconns == 0) at once.
 */
function weightedLeast(svc: VirtualService, name: 'wlc' | 'sed' | 'nq', overhead: (d: RealServer) => number, formula: string): Decision {
  let least: RealServer | null = null;
  let loh = 0;
  for (const d of svc.dests) {
    if (d.overloaded) continue;
    if (name === 'nq' || !least) {
      if (d.weight <= 0) continue; // wlc/sed's first stage and nq skip weight 0
    }
    const doh = overhead(d);
    if (name === 'nq' && d.activeConns === 0) {
      return { dest: d, why: `nq: ${destName(d)} is idle (0 active connections), taken at once` };
    }
    if (!least || loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  if (!least) return noDest(`${name}: no destination available`);
  const chosen = least;
  const chosenOh = loh;
  // The explanation lists what the scheduler saw: capture it now (counts change once the conn is bound).
  const list = svc.dests;
  const seenDests: RealServer[] = [];
  const seenNums: number[] = [];
  for (let i = 0; i < list.length; i++) {
    const d = list[i]!;
    if (d.overloaded) continue;
    seenDests.push(d);
    seenNums.push(overhead(d), d.weight);
  }
  const chosenW = chosen.weight;
  return new LazyDecision(chosen, () => {
    const seen = seenDests.map((d, i) => `${destName(d)} ${seenNums[2 * i]}/${seenNums[2 * i + 1]}`);
    return `${name}: least ${formula}/weight is ${destName(chosen)} ${chosenOh}/${chosenW} (${seen.join(', ')}; ties go to the first in list order)`;
  });
}

/** Models ip_vs_wlc_schedule (ip_vs_wlc.c): overhead = active*256 + inactive, divided by weight. */
export const wlc: Scheduler = {
  name: 'wlc',
  update(): void {},
  schedule: (svc: VirtualService, _flow: Flow) => weightedLeast(svc, 'wlc', destConnOverhead, '(active*256+inactive)'),
  enumerate: (svc: VirtualService, _flow: Flow): Candidate[] => single(weightedLeast(svc, 'wlc', destConnOverhead, '(active*256+inactive)')),
};

/** Models ip_vs_sed_schedule (ip_vs_sed.c): shortest expected delay, (active+1)/weight. */
export const sed: Scheduler = {
  name: 'sed',
  update(): void {},
  schedule: (svc: VirtualService, _flow: Flow) => weightedLeast(svc, 'sed', activePlusOne, '(active+1)'),
  enumerate: (svc: VirtualService, _flow: Flow): Candidate[] => single(weightedLeast(svc, 'sed', activePlusOne, '(active+1)')),
};

/** Models ip_vs_nq_schedule (ip_vs_nq.c): an idle server first, else shortest expected delay. */
export const nq: Scheduler = {
  name: 'nq',
  update(): void {},
  schedule: (svc: VirtualService, _flow: Flow) => weightedLeast(svc, 'nq', activePlusOne, '(active+1)'),
  enumerate: (svc: VirtualService, _flow: Flow): Candidate[] => single(weightedLeast(svc, 'nq', activePlusOne, '(active+1)')),
};
