import type { Flow, RealServer, SchedulerName, VirtualService } from '../types.js';

/** One scheduling decision: the real server chosen (null = "no destination available") and why. */
export interface Decision {
  readonly dest: RealServer | null;
  /** Human reason: rr position, lc/wlc overheads, sh/dh/mh hash bucket … */
  readonly why: string;
}

/** One possible outcome of a scheduler in the current state, with its exact probability. */
export interface Candidate {
  readonly dest: RealServer | null;
  readonly probability: number;
  readonly why: string;
}

/** A change of the destination list, as the kernel reports it to add_dest / del_dest / upd_dest. */
export type DestChange =
  | { readonly kind: 'init' }
  | { readonly kind: 'add'; readonly dest: RealServer }
  /** `index` is where the dest was in the list before it was removed. */
  | { readonly kind: 'del'; readonly dest: RealServer; readonly index: number }
  | { readonly kind: 'upd'; readonly dest: RealServer };

/**
 * One IPVS scheduler (struct ip_vs_scheduler). `schedule` is the kernel's schedule hook and may
 * advance the service's state (rr/wrr position); `enumerate` returns every real server the
 * scheduler could pick when the choice depends on state the request does not fix, without changing
 * anything; probabilities are exact and sum to 1.
 */
export interface Scheduler {
  readonly name: SchedulerName;
  /** init_service / add_dest / del_dest / upd_dest: (re)build svc.schedState. */
  update(svc: VirtualService, change: DestChange): void;
  schedule(svc: VirtualService, flow: Flow): Decision;
  enumerate(svc: VirtualService, flow: Flow): Candidate[];
}
