/**
 * Virtual time in milliseconds. Conntrack, IPVS and recent-match timeouts and BGP timers read it;
 * nothing in podpath reads the wall clock.
 */
export interface Clock {
  now(): number;
}

export class VirtualClock implements Clock {
  private t: number;
  constructor(startMs = 0) {
    this.t = startMs;
  }
  now(): number {
    return this.t;
  }
  /** Moves time forward; time never goes back. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance the clock by ${ms} ms`);
    this.t += ms;
  }
  set(ms: number): void {
    if (ms < this.t) throw new RangeError(`cannot move the clock back from ${this.t} to ${ms} ms`);
    this.t = ms;
  }
}
