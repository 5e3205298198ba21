import { EXIT } from './exit.js';

/** Prints an error the way users should see it and returns the exit code. */
export function reportError(err: unknown): number {
  const e = err as { name?: string; message?: string; problems?: unknown };
  if (e && (e.name === 'InputError' || Array.isArray(e.problems) || /ParseError|DecodeError|InputError/.test(e.name ?? ''))) {
    process.stderr.write(`podpath: ${e.message}\n`);
    return EXIT.badInput;
  }
  process.stderr.write(`podpath: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 70;
}
