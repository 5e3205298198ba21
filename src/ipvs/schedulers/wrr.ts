import type { Flow, RealServer, VirtualService } from '../types.js';
import { cycleCandidates, destName, gcd, LazyDecision, noDest } from './common.js';
import type { Candidate, Decision, DestChange, Scheduler } from './types.js';

/** struct ip_vs_wrr_mark: cl = index of the current dest (-1 = the list head), cw, mw, di. */
interface WrrMark {
  cl: number;
  cw: number;
  mw: number;
  di: number;
}

/** ip_vs_wrr_gcd_weight: gcd of the positive weights, 1 when there is none. */
function gcdWeight(svc: VirtualService): number {
  let g = 0;
  for (const d of svc.dests) if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
  return g || 1;
}

function maxWeight(svc: VirtualService): number {
  let w = 0;
  for (const d of svc.dests) if (d.weight > w) w = d.weight;
  return w;
}

function mark(svc: VirtualService): WrrMark {
  return svc.schedState as WrrMark;
}

/**
 * Models ip_vs_wrr_schedule (net/netfilter/ipvs/ip_vs_wrr.c): passes with cw = mw, mw-di, …, 1
 * over the list, each pass taking the next server with weight ≥ cw that is not overloaded.
 * Mutates `m` as the kernel mutates svc->sched_data.
 */
function step(svc: VirtualService, m: WrrMark): Decision {
  const list = svc.dests;
  const n = list.length;
  if (m.mw === 0) return noDest('wrr: no destination available (every weight is 0)');
  let i = m.cl; // the list_for_each_entry_continue cursor
  const last = m.cl;
  let stop: number | null = null;
  let lastPass = false;
  let restarted = false;
  for (;;) {
    for (i = i + 1; i < n; i++) {
      const d = list[i]!;
      if (!d.overloaded && d.weight >= m.cw) {
        m.cl = i;
        const { cw, mw, di } = m;
        const w = d.weight;
        return new LazyDecision(d, () => `wrr: cw=${cw} (mw=${mw}, di=${di}); first server after ${last < 0 ? 'the list head' : `position ${last + 1}`} with weight ≥ ${cw} is ${destName(d)} (weight ${w})`);
      }
      if (i === stop) {
        m.cl = i;
        return noDest('wrr: no destination available: all destinations are overloaded');
      }
    }
    i = -1; // the cursor is back at the list head
    m.cw -= m.di;
    if (m.cw <= 0) {
      m.cw = m.mw;
      if (lastPass || last === -1) {
        m.cl = -1;
        return noDest('wrr: no destination available: all destinations are overloaded');
      }
      restarted = true;
    }
    lastPass = m.cw <= m.di;
    if (lastPass && restarted && last !== -1) stop = last;
  }
}

export const wrr: Scheduler = {
  name: 'wrr',
  /** Models ip_vs_wrr_init_svc and ip_vs_wrr_dest_changed. */
  update(svc: VirtualService, change: DestChange): void {
    const di = gcdWeight(svc);
    const mw = maxWeight(svc) - (di - 1);
    if (change.kind === 'init' || svc.schedState === undefined) {
      svc.schedState = { cl: -1, di, mw, cw: mw } satisfies WrrMark;
      return;
    }
    const m = mark(svc);
    m.cl = -1;
    m.di = di;
    m.mw = mw;
    if (m.cw > m.mw || !m.cw) m.cw = m.mw;
    else if (m.di > 1) m.cw = Math.trunc(m.cw / m.di) * m.di + 1;
  },
  schedule(svc: VirtualService, _flow: Flow): Decision {
    return step(svc, mark(svc));
  },
  /** Simulates one full cycle (Σ weight/di picks) from the current position: weighted over the cycle. */
  enumerate(svc: VirtualService, _flow: Flow): Candidate[] {
    const m = { ...mark(svc) };
    const di = m.di;
    const cycle = svc.dests.filter((d) => !d.overloaded && d.weight > 0).reduce((s, d) => s + Math.max(1, Math.ceil(d.weight / di)), 0);
    const picks: { dest: RealServer; why: string }[] = [];
    for (let k = 0; k < cycle; k++) {
      const r = step(svc, m);
      if (!r.dest) break;
      picks.push({ dest: r.dest, why: r.why });
    }
    if (picks.length === 0) return [{ dest: null, probability: 1, why: step(svc, { ...mark(svc) }).why }];
    return cycleCandidates(picks);
  },
};
