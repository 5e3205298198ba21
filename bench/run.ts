import os from 'node:os';
import type { BenchSuite, Figure } from './harness.js';

/**
 * `npm run bench`: runs every suite (or those named as arguments) and prints a table of figures
 * with the machine and date, in the form the README's performance section records.
 */
// Each bench file default-exports a BenchSuite; add it to this list.
const suites: Array<() => Promise<{ default: BenchSuite }>> = [
  () => import('./kube-proxy-iptables.js'),
  () => import('./kube-proxy-ipvs.js'),
  () => import('./ipvs.js'),
  () => import('./netfilter.js'),
  () => import('./trace.js'),
  () => import('./inspector.js'),
  () => import('./bgp.js'),
];

const wanted = process.argv.slice(2);
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`podpath benchmarks — ${new Date().toISOString().slice(0, 10)} — ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
let failed = 0;
for (const load of suites) {
  const suite = (await load()).default;
  if (wanted.length && !wanted.includes(suite.name)) continue;
  console.log(`\n## ${suite.name}`);
  const figures: Figure[] = await suite.run();
  for (const f of figures) {
    const target = f.target ? `  (target ${f.target}: ${f.ok ? 'met' : 'MISSED'})` : '';
    if (f.target && !f.ok) failed++;
    console.log(`  ${f.name.padEnd(58)} ${formatValue(f.value).padStart(12)} ${f.unit}${target}${f.note ? `  — ${f.note}` : ''}`);
  }
}
if (failed) console.log(`\n${failed} target(s) missed`);

function formatValue(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3);
}
