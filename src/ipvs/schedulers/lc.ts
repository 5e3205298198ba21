import type { Flow, RealServer, VirtualService } from '../types.js';
import { destConnOverhead, destName, noDest, single } from './common.js';
import type { Candidate, Decision, Scheduler } from './types.js';

/**
 * Models ip_vs_lc_schedule (net/netfilter/ipvs/ip_vs_lc.c): the server with the least overhead
 * (active*256 + inactive), skipping overloaded and weight-0 servers; ties go to the first in the list.
 */
function lcPick(svc: VirtualService): Decision {
  let least: RealServer | null = null;
  let loh = 0;
  const seen: string[] = [];
  for (const d of svc.dests) {
    if (d.overloaded || d.weight === 0) continue;
    const doh = destConnOverhead(d);
    seen.push(`${destName(d)}=${d.activeConns}*256+${d.inactConns}=${doh}`);
    if (!least || doh < loh) {
      least = d;
      loh = doh;
    }
  }
  if (!least) return noDest('lc: no destination available');
  return { dest: least, why: `lc: least overhead ${loh} (${seen.join(', ')}; ties go to the first in list order)` };
}

export const lc: Scheduler = {
  name: 'lc',
  update(): void {},
  schedule: (svc: VirtualService, _flow: Flow) => lcPick(svc),
  enumerate: (svc: VirtualService, _flow: Flow): Candidate[] => single(lcPick(svc)),
};
