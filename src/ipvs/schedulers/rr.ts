import type { Flow, RealServer, VirtualService } from '../types.js';
import { cycleCandidates, destName, LazyDecision, noDest } from './common.js';
import type { Candidate, Decision, DestChange, Scheduler } from './types.js';

/** rr state: svc->sched_data, the list position of the last pick (null = the list head). */
interface RrState {
  last: RealServer | null;
}

function state(svc: VirtualService): RrState {
  return (svc.schedState as RrState | undefined) ?? (svc.schedState = { last: null } as RrState);
}

function available(d: RealServer): boolean {
  return !d.overloaded && d.weight > 0;
}

/**
 * Models ip_vs_rr_schedule (net/netfilter/ipvs/ip_vs_rr.c): walk the list from the entry after
 * the last pick, wrapping once, and take the first server that is not overloaded and has weight > 0.
 */
function pick(svc: VirtualService, st: RrState): Decision {
  const list = svc.dests;
  const n = list.length;
  const start = st.last ? list.indexOf(st.last) : -1;
  // From the head: one pass over the list. From a dest at i: i+1 … n-1, then 0 … i.
  for (let k = 1; k <= n; k++) {
    const i = start < 0 ? k - 1 : (start + k) % n;
    const d = list[i]!;
    if (available(d)) {
      const prev = start < 0 ? null : list[start]!;
      // Built only when read: the datapath does not pay for the explanation.
      return new LazyDecision(d, () => {
        const from = prev === null ? 'the list head' : `${destName(prev)} (position ${start + 1})`;
        return `rr: next after ${from} is ${destName(d)} (position ${i + 1} of ${n})`;
      });
    }
  }
  return noDest(n === 0 ? 'rr: no destination available (no real servers)' : 'rr: no destination available (every real server has weight 0 or is overloaded)');
}

export const rr: Scheduler = {
  name: 'rr',
  /** Models ip_vs_rr_init_svc / ip_vs_rr_del_dest: a removed current entry moves the position to its predecessor. */
  update(svc: VirtualService, change: DestChange): void {
    const st = state(svc);
    if (change.kind === 'init') st.last = null;
    else if (change.kind === 'del' && st.last === change.dest) st.last = change.index > 0 ? svc.dests[change.index - 1] ?? null : null;
  },
  schedule(svc: VirtualService, _flow: Flow): Decision {
    const st = state(svc);
    const r = pick(svc, st);
    if (r.dest) st.last = r.dest;
    return r;
  },
  /** Over one cycle every available server is picked once: uniform over them. */
  enumerate(svc: VirtualService, _flow: Flow): Candidate[] {
    const sim: RrState = { last: state(svc).last };
    const picks: { dest: RealServer; why: string }[] = [];
    const n = svc.dests.filter(available).length;
    for (let i = 0; i < n; i++) {
      const r = pick(svc, sim);
      if (!r.dest) break;
      picks.push({ dest: r.dest, why: r.why });
      sim.last = r.dest;
    }
    if (picks.length === 0) return [{ dest: null, probability: 1, why: pick(svc, sim).why }];
    return cycleCandidates(picks);
  },
};
