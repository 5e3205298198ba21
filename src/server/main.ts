#!/usr/bin/env node
/**
 * The inspector as a program: `node dist/server/main.js TOPOLOGY HOST PORT [SAVE]`, run by
 * `podpath serve` (the CLI may not import the server module; it starts this process instead).
 * Prints the URL on stdout; bad input is reported on stderr with exit code 2.
 */
import { InputError, formatLocation } from '../index.js';
import { Inspector } from './inspector.js';
import { serveInspector } from './http.js';

const [topology, host = '127.0.0.1', portText = '7070', save] = process.argv.slice(2);
try {
  if (!topology) throw new InputError({ field: 'topology', message: 'usage: main.js TOPOLOGY [HOST] [PORT] [SAVE]' });
  const inspector = await Inspector.open(topology, save ? { savePath: save } : {});
  for (const w of inspector.topology.warnings) process.stderr.write(`podpath: warning: ${formatLocation(w)}: ${w.message}\n`);
  let running;
  try {
    running = await serveInspector(inspector, { host, port: Number(portText) });
  } catch (e) {
    throw new InputError({ field: '--port', message: `cannot listen on ${host}:${portText}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  process.stdout.write(`podpath inspector for ${inspector.topology.name} (${topology}) at ${running.url}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (e) {
  if (e instanceof InputError) {
    process.stderr.write(`podpath: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`podpath: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(70);
}
