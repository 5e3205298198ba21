import type { Step } from './types.js';

/**
 * The datapath reports what it does through a recorder: `add` for a leaf step, `open` for a step
 * whose children follow (a jump into a chain, a hook), `close` when that step ends.
 * Tracing off is the no-op recorder: the same code path, nothing stored.
 */
export interface TraceRecorder {
  readonly enabled: boolean;
  add(step: Step): void;
  open(step: Step): void;
  close(): void;
}

class NullRecorder implements TraceRecorder {
  readonly enabled = false;
  add(): void {}
  open(): void {}
  close(): void {}
}

export const NO_TRACE: TraceRecorder = new NullRecorder();

/** Records steps into a tree. */
export class StepRecorder implements TraceRecorder {
  readonly enabled = true;
  readonly steps: Step[] = [];
  private readonly stack: Step[] = [];

  add(step: Step): void {
    const parent = this.stack[this.stack.length - 1];
    if (parent) (parent.children ??= []).push(step);
    else this.steps.push(step);
  }

  open(step: Step): void {
    this.add(step);
    this.stack.push(step);
  }

  close(): void {
    if (this.stack.length === 0) throw new Error('StepRecorder.close without open');
    this.stack.pop();
  }

  /** Depth of open steps (0 when balanced). */
  get depth(): number {
    return this.stack.length;
  }

  /** Takes the steps recorded so far and starts afresh (one call per hop). */
  take(): Step[] {
    if (this.stack.length !== 0) throw new Error('StepRecorder.take with open steps');
    return this.steps.splice(0, this.steps.length);
  }
}
