import type { Flow, RealServer, VirtualService } from '../types.js';
import { destConnOverhead, destName, LazyDecision, noDest, single } from './common.js';
import type { Candidate, Decision, Scheduler } from './types.js';

/**
 * Models ip_vs_lc_schedule (net/netfilter/ipvs/ip_vs_lc.c): the server with the least overhead
 * (active*256 + inactive), skipping overloaded and weight-0 servers; ties go to the first in the list.
 */
function lcPick(svc: VirtualService): Decision {
  let least: RealServer | null = null;
  let loh = 0;
  // What the scheduler saw, captured for the explanation (counts change once the conn is bound).
  const seenDests: RealServer[] = [];
  const seenNums: number[] = [];
  for (const d of svc.dests) {
    if (d.overloaded || d.weight === 0) continue;
    const doh = destConnOverhead(d);
    seenDests.push(d);
    seenNums.push(d.activeConns, d.inactConns, doh);
    if (!least || doh < loh) {
      least = d;
      loh = doh;
    }
  }
  if (!least) return noDest('lc: no destination available');
  return new LazyDecision(least, () => {
    const seen = seenDests.map((d, i) => `${destName(d)}=${seenNums[3 * i]}*256+${seenNums[3 * i + 1]}=${seenNums[3 * i + 2]}`);
    return `lc: least overhead ${loh} (${seen.join(', ')}; ties go to the first in list order)`;
  });
}

export const lc: Scheduler = {
  name: 'lc',
  update(): void {},
  schedule: (svc: VirtualService, _flow: Flow) => lcPick(svc),
  enumerate: (svc: VirtualService, _flow: Flow): Candidate[] => single(lcPick(svc)),
};
