import type { Command } from 'commander';
import { intOption, type OptionProblem } from '../options.js';

/**
 * `podpath serve -t TOPO [--host 127.0.0.1] [--port 7070] [--save FILE]`: the web inspector and its
 * JSON/websocket API (INTERFACES.md §4, docs/inspector-protocol.md). Prints the URL and runs until
 * interrupted. Only --save FILE may be written, and only when a client asks to save.
 * The CLI imports only src/index.ts, so it runs the server's own program (src/server/main.ts) in a
 * child process that shares its stdio and exit code.
 */
interface ServeOptions {
  topology: string;
  host: string;
  port: string;
  save?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the web inspector: cluster graph, traces, node tables and an object editor, live over a websocket')
    .requiredOption('-t, --topology <file>', 'topology YAML')
    .option('--host <addr>', 'address to bind (0.0.0.0 exposes the inspector to the network)', '127.0.0.1')
    .option('--port <n>', 'TCP port (0: any free port)', '7070')
    .option('--save <file>', 'let the UI save the edited topology to FILE (written atomically: temp file + rename)')
    .action(async (o: ServeOptions) => {
      const api = await import('../../index.js');
      const problems: OptionProblem[] = [];
      const port = intOption(problems, '--port', o.port, 0, 65535) ?? 7070;
      if (problems.length) throw new api.InputError(problems);
      const { resolve } = await import('node:path');
      const { fileURLToPath } = await import('node:url');
      const { existsSync } = await import('node:fs');
      const { spawn } = await import('node:child_process');
      const main = fileURLToPath(new URL('../../server/main.js', import.meta.url));
      if (!existsSync(main)) throw new api.InputError({ field: 'serve', message: `the inspector is not built (${main} is missing): run npm run build` });
      const args = [main, resolve(o.topology), o.host, String(port), ...(o.save !== undefined ? [resolve(o.save)] : [])];
      const child = spawn(process.execPath, args, { stdio: 'inherit' });
      const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
      process.on('SIGINT', forward('SIGINT'));
      process.on('SIGTERM', forward('SIGTERM'));
      process.exitCode = await new Promise<number>((res) => child.on('exit', (code, sig) => res(code ?? (sig ? 130 : 1))));
    });
}
