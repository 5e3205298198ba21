import { Rng } from './rng.js';

/** One decision point met while walking: a statistic match, a scheduler, an ECMP hash, a port pick. */
export interface Choice {
  readonly point: string;
  readonly index: number;
  readonly probability: number;
  readonly of: number;
}

/**
 * Decides branches. The datapath asks it whenever the kernel would draw a random number;
 * the seeded chooser draws, the enumerating one (see `enumerateBranches`) tries every option.
 */
export interface Chooser {
  /** Returns the index of the option taken. `probabilities` are ≥ 0 and sum to 1. */
  choose(point: string, probabilities: readonly number[]): number;
  /** The choices made so far in this run, in order. */
  readonly choices: readonly Choice[];
}

function checkProbabilities(point: string, probabilities: readonly number[]): void {
  if (probabilities.length === 0) throw new RangeError(`choice point ${point} has no options`);
  let sum = 0;
  for (const p of probabilities) {
    if (!(p >= 0)) throw new RangeError(`choice point ${point} has a negative or NaN probability`);
    sum += p;
  }
  if (Math.abs(sum - 1) > 1e-9) throw new RangeError(`choice point ${point}: probabilities sum to ${sum}, not 1`);
}

/** Draws from a seeded RNG: same seed, same choices. */
export class SeededChooser implements Chooser {
  readonly choices: Choice[] = [];
  constructor(private readonly rng: Rng) {}

  choose(point: string, probabilities: readonly number[]): number {
    checkProbabilities(point, probabilities);
    const r = this.rng.next();
    let acc = 0;
    let index = probabilities.length - 1;
    for (let i = 0; i < probabilities.length; i++) {
      acc += probabilities[i]!;
      if (r < acc && probabilities[i]! > 0) {
        index = i;
        break;
      }
    }
    while (probabilities[index] === 0 && index > 0) index--;
    this.choices.push({ point, index, probability: probabilities[index]!, of: probabilities.length });
    return index;
  }
}

/** Takes a fixed sequence of options, then the first option with a non-zero probability. */
class ScriptedChooser implements Chooser {
  readonly choices: Choice[] = [];
  /** The probabilities offered at each choice, to find the next untried option. */
  readonly offered: (readonly number[])[] = [];
  constructor(private readonly script: readonly number[]) {}

  choose(point: string, probabilities: readonly number[]): number {
    checkProbabilities(point, probabilities);
    const depth = this.choices.length;
    const index = depth < this.script.length ? this.script[depth]! : firstPossible(probabilities, 0);
    if (index < 0 || index >= probabilities.length) throw new Error(`choice point ${point} changed shape between runs`);
    this.choices.push({ point, index, probability: probabilities[index]!, of: probabilities.length });
    this.offered.push(probabilities);
    return index;
  }
}

function firstPossible(probabilities: readonly number[], from: number): number {
  for (let i = from; i < probabilities.length; i++) if (probabilities[i]! > 0) return i;
  return -1;
}

export interface Branch<T> {
  /** Product of the probabilities of the choices taken. */
  readonly probability: number;
  readonly choices: readonly Choice[];
  readonly result: T;
}

export class TooManyBranchesError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} outcomes; narrow the request (e.g. a fixed --sport) or trace without --all`);
    this.name = 'TooManyBranchesError';
  }
}

/**
 * Runs `run` once for every combination of choices it meets, depth first, and returns every
 * outcome with its exact probability (options of probability 0 are never taken). `run` must start
 * from the same state each time: it re-executes the whole walk with a scripted chooser.
 */
export function enumerateBranches<T>(run: (chooser: Chooser) => T, opts: { limit?: number } = {}): Branch<T>[] {
  const limit = opts.limit ?? 4096;
  const out: Branch<T>[] = [];
  let script: number[] | undefined = [];
  while (script) {
    const chooser = new ScriptedChooser(script);
    const result = run(chooser);
    const probability = chooser.choices.reduce((p, c) => p * c.probability, 1);
    out.push({ probability, choices: chooser.choices, result });
    if (out.length > limit) throw new TooManyBranchesError(limit);
    script = undefined;
    for (let depth = chooser.choices.length - 1; depth >= 0 && !script; depth--) {
      const next = firstPossible(chooser.offered[depth]!, chooser.choices[depth]!.index + 1);
      if (next >= 0) script = [...chooser.choices.slice(0, depth).map((c) => c.index), next];
    }
  }
  return out;
}
