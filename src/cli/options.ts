/** A problem with a command-line option, collected so every bad option is reported at once. */
export interface OptionProblem {
  field: string;
  message: string;
  file?: string;
}

/** Parses an integer option in lo..hi; undefined when absent, and a problem when malformed or out of range. */
export function intOption(problems: OptionProblem[], field: string, v: string | undefined, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) {
    problems.push({ field, message: `"${v}" is not an integer in ${lo}..${hi}` });
    return undefined;
  }
  return Number(v);
}

/** Records a problem unless `v` is one of `allowed`. */
export function oneOfOption(problems: OptionProblem[], field: string, v: string, allowed: readonly string[]): void {
  if (!allowed.includes(v)) problems.push({ field, message: `"${v}" is not one of ${allowed.join(', ')}` });
}
