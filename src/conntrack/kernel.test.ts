// Live differential test: runs fixtures/capture.sh against this machine's kernel (in network
// namespaces it creates and removes) and checks the model agrees with what the kernel did.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findBestIps } from './nat.js';
import { range, tcp } from './testkit.js';

function canRun(): boolean {
  if (process.getuid?.() !== 0) return false;
  for (const tool of ['ip', 'iptables-restore', 'conntrack', 'python3']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return false;
  }
  const probe = `ppctprobe${process.pid}`;
  const ok = spawnSync('ip', ['netns', 'add', probe]).status === 0;
  spawnSync('ip', ['netns', 'del', probe]);
  return ok;
}

const runnable = canRun();
if (!runnable) console.warn('SKIPPED (needs root and network namespaces): src/conntrack/kernel.test.ts');

describe.skipIf(!runnable)('conntrack model vs the running kernel', () => {
  const out = mkdtempSync(join(tmpdir(), 'ppct-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const script = fileURLToPath(new URL('./fixtures/capture.sh', import.meta.url));

  it('SNAT port clash and DNAT address-range picks agree with a fresh capture', () => {
    execFileSync(script, [out], { stdio: 'pipe', timeout: 120_000 });
    const clash = readFileSync(join(out, 'snat-clash.txt'), 'utf8');
    const port = (src: string) => Number(new RegExp(`src=${src.replace(/\./g, '\\.')} .*src=10\\.0\\.2\\.2 dst=10\\.0\\.2\\.1 sport=8080 dport=(\\d+)`).exec(clash)![1]);
    expect(port('10.0.1.2')).toBe(40000);
    expect(port('10.0.1.3')).not.toBe(40000);
    expect(port('10.0.1.3')).toBeGreaterThanOrEqual(1024);

    const lines = readFileSync(join(out, 'dnat-range.txt'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(7);
    for (const line of lines) {
      const m = /src=(\S+) dst=10\.0\.1\.1 sport=40010 dport=81 \[UNREPLIED\] src=(\S+) /.exec(line)!;
      expect(findBestIps(tcp(m[1]!, 40010, '10.0.1.1', 81), range('10.0.2.10', '10.0.2.20'), 'DST').dst, line).toBe(m[2]);
    }
  }, 150_000);
});
