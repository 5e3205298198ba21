import type { SchedulerName } from '../types.js';
import { dh, mh, sh } from './hashing.js';
import { lc } from './lc.js';
import { rr } from './rr.js';
import type { Scheduler } from './types.js';
import { nq, sed, wlc } from './weighted.js';
import { wrr } from './wrr.js';

export type { Candidate, Decision, DestChange, Scheduler } from './types.js';

/** Every scheduler podpath models, by the name ipvsadm `-s` takes. */
export const SCHEDULERS: Readonly<Record<SchedulerName, Scheduler>> = { rr, wrr, lc, wlc, sed, nq, dh, sh, mh };

export { dhHashKey, shHashKey, mhHashKey, mhLookupTable, IP_VS_MH_TAB_SIZE, IP_VS_SH_TAB_SIZE, IP_VS_DH_TAB_SIZE } from './hashing.js';
export { destConnOverhead, destName } from './common.js';
