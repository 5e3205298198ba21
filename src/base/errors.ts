/**
 * Where a piece of user input came from, so every error can name the file, line and field.
 * `line` is 1-based; `field` is a dotted path such as `spec.ports[0].port` or an option like `--dport`.
 */
export interface SourceLocation {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly field?: string;
}

/** `file:line:column (field)`; a command-line option without a file is just its name (`--node`). */
export function formatLocation(loc: SourceLocation): string {
  if (loc.file === undefined && loc.line === undefined) return loc.field ?? '<input>';
  let s = loc.file ?? '<input>';
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.column !== undefined) s += `:${loc.column}`;
  if (loc.field) s += ` (${loc.field})`;
  return s;
}

/** One problem found in user input. Loaders collect all of them, then throw an InputError. */
export interface Problem extends SourceLocation {
  readonly message: string;
  readonly severity?: 'error' | 'warning';
}

/**
 * Bad user input: a topology, manifest, dump, pcap or message. The CLI prints every problem and
 * exits 2; the server answers with the problems and changes nothing.
 */
/** How many problems an InputError's message lists; the rest are counted (all stay in `problems`). */
export const MESSAGE_PROBLEMS = 50;

export class InputError extends Error {
  readonly problems: readonly Problem[];
  constructor(problems: Problem | readonly Problem[]) {
    const list = Array.isArray(problems) ? (problems as readonly Problem[]) : [problems as Problem];
    const shown = list.slice(0, MESSAGE_PROBLEMS).map((p) => `${formatLocation(p)}: ${p.message}`);
    if (list.length > MESSAGE_PROBLEMS) shown.push(`… and ${list.length - MESSAGE_PROBLEMS} more problems`);
    super(shown.join('\n'));
    this.name = 'InputError';
    this.problems = list;
  }
}
