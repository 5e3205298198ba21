import Benchmark from 'benchmark';

/** One measured figure, printed by `npm run bench` and copied into the README's performance section. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The target, e.g. "≤ 2 s"; `ok` says whether it was met. */
  target?: string;
  ok?: boolean;
  note?: string;
}

export interface BenchSuite {
  name: string;
  run(): Promise<Figure[]>;
}

/**
 * Times `fn` with benchmark.js and returns the median and mean per call, in microseconds.
 * benchmark.js picks the number of iterations; `maxTime` bounds the seconds spent.
 */
export function measure(name: string, fn: () => void, opts: { maxTime?: number; minSamples?: number } = {}): { medianUs: number; meanUs: number; samples: number; hz: number } {
  const bench = new Benchmark(name, fn, { maxTime: opts.maxTime ?? 2, minSamples: opts.minSamples ?? 20 });
  bench.run({ async: false });
  if ((bench as unknown as { error?: Error }).error) throw (bench as unknown as { error: Error }).error;
  const sample = [...bench.stats.sample].sort((a, b) => a - b);
  const mid = sample.length >> 1;
  const median = sample.length % 2 ? sample[mid]! : (sample[mid - 1]! + sample[mid]!) / 2;
  return { medianUs: median * 1e6, meanUs: bench.stats.mean * 1e6, samples: sample.length, hz: bench.hz };
}

/** Wall time of one call of a long operation (e.g. a full parse), best of `runs`, in milliseconds. */
export function timeOnce(fn: () => void, runs = 3): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return best;
}

export function heapUsedMiB(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}
