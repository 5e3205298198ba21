import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { podpath as run } from '../../../test/support/cli.js';

const SCENARIOS = join(import.meta.dirname, '..', '..', '..', 'test', 'kernel', 'scenarios');
const LOCAL = '10.0.1.1/24@eth-c,10.0.2.1/24@eth-s';

/** Runs `podpath netfilter …` in-process. */
const podpath = (args: string[]) => run(['netfilter', ...args]);

afterEach(() => {
  process.exitCode = 0;
});

describe('podpath netfilter', () => {
  it('--all lists the three DNAT outcomes with their probabilities (JSON, INTERFACES.md §3 shape)', async () => {
    const r = await podpath(['--ruleset', join(SCENARIOS, 'dnat-statistic.rules'), '--local-ips', LOCAL, '--src', '10.0.1.2', '--dst', '10.96.0.10', '--dport', '80', '--all', '--format', 'json']);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out);
    expect(t.outcomes).toHaveLength(3);
    expect(t.outcomes.map((o: { final: { dst: string } }) => o.final.dst).sort()).toEqual(['10.0.2.2', '10.0.2.3', '10.0.2.4']);
    for (const o of t.outcomes) {
      expect(o).toMatchObject({ verdict: 'ACCEPT', masqueraded: false, final: { src: '10.0.1.2', sport: 40000, dport: 8080, proto: 'tcp' } });
      expect(o.hops).toHaveLength(1);
      expect(o.probability).toBeCloseTo(1 / 3, 6);
    }
  });

  it('exit 1 and the rule when the packet is rejected', async () => {
    const r = await podpath(['--ruleset', join(SCENARIOS, 'reject.rules'), '--local-ips', LOCAL, '--src', '10.0.1.2', '--dst', '10.0.2.2', '--dport', '8082', '--format', 'summary']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('rejected');
    expect(r.out).toContain('--reject-with tcp-reset');
  });

  it('a malformed dump: exit 2, file:line and the offending token, nothing traced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ppnf-'));
    const f = join(dir, 'bad.rules');
    writeFileSync(f, '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -p tcp --dport 80 -j NOSUCHTARGET\nCOMMIT\n');
    const r = await podpath(['--ruleset', f, '--local-ips', LOCAL, '--src', '10.0.1.2', '--dst', '10.0.2.2', '--dport', '80']);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${f}:5`);
    expect(r.err).toContain('NOSUCHTARGET');
    expect(r.out).toBe('');
  });

  it('bad arguments are bad input (exit 2) naming the option', async () => {
    const r = await podpath(['--ruleset', join(SCENARIOS, 'reject.rules'), '--local-ips', '10.0.1.1/40', '--src', '10.0.1.2', '--dst', '10.0.2.2', '--dport', '99999']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--dport');
    expect(r.err).toContain('--local-ips');
  });
});
