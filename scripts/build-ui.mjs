// Bundles the inspector UI (src/ui) with esbuild into dist/ui: index.html, app.css, app.js.
// Everything the browser loads comes from this bundle (no CDN): the inspector runs on closed networks.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'src', 'ui', 'main.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
  legalComments: 'linked',
});
for (const f of ['index.html', 'app.css']) copyFileSync(join(root, 'src', 'ui', f), join(out, f));
console.log(`podpath: UI bundled into ${out}`);
