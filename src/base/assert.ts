/** Exhaustiveness check for closed unions: a new member makes every switch that misses it fail to compile. */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}

/** Broken invariants only; bad user input gets a typed, located error instead. */
export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`invariant violated: ${message}`);
}
