import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { podpath } from '../../../test/support/cli.js';

const T = (n: string) => join(import.meta.dirname, '..', '..', '..', 'topologies', `${n}.yaml`);
const dir = mkdtempSync(join(tmpdir(), 'pp-bgp-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('podpath rules --what bgp / bgp-log', () => {
  it('bgp: the sessions with their FSM state and the route table with the peer each route came from', async () => {
    const r = await podpath(['rules', '-t', T('calico-bgp-routed-tor'), '--node', 'node-3', '--what', 'bgp']);
    expect(r.code).toBe(0);
    // node-3 (rack b) peers eBGP with the tor's rack-b address; the tor is AS 64513
    expect(r.out).toMatch(/^Global_192_168_57_1 BGP +master +up +\d\d:\d\d:\d\d +Established/m);
    // its own block is BIRD's static blackhole; the tor's re-advertisements carry AS 64512 and are dropped
    expect(r.out).toMatch(/^10\.244\.\d+\.\d+\/26 +blackhole \[static1 /m);
    expect(r.out).not.toContain('[Global_192_168_57_1');
  });
  it('bgp-log --bgp-event stop:NODE: the Cease, the withdrawals and a second convergence report', async () => {
    const r = await podpath(['rules', '-t', T('calico-bgp-mesh'), '--node', 'node-1', '--what', 'bgp-log', '--bgp-event', 'stop:node-3']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/node-3 → node-1 +Mesh_192_168_56_11 +NOTIFICATION .*Administrative shutdown/);
    expect(r.out).toContain('convergence after stop:node-3:');
    // node-1 and node-2 each lose node-3's block
    expect(r.out.match(/^ {2}- node-[12]: /gm)).toHaveLength(2);
  });
  it('bad --bgp-event and --pcap without bgp-log are input errors naming the flag', async () => {
    const a = await podpath(['rules', '-t', T('calico-bgp-mesh'), '--node', 'node-1', '--what', 'bgp-log', '--bgp-event', 'down:node-9']);
    expect(a.code).not.toBe(0);
    expect(a.err).toContain('--bgp-event');
    const b = await podpath(['rules', '-t', T('calico-bgp-mesh'), '--node', 'node-1', '--what', 'routes', '--pcap', join(dir, 'x.pcap')]);
    expect(b.code).not.toBe(0);
    expect(b.err).toContain('--pcap');
  });
  it.skipIf(!hasTshark())('--pcap: tshark decodes the exchange as BGP on TCP 179', async () => {
    const file = join(dir, 'mesh.pcap');
    const r = await podpath(['rules', '-t', T('calico-bgp-mesh'), '--node', 'node-1', '--what', 'bgp-log', '--pcap', file]);
    expect(r.code).toBe(0);
    const types = execFileSync('tshark', ['-r', file, '-Y', 'bgp', '-T', 'fields', '-e', 'bgp.type'], { encoding: 'utf8' });
    const counts = new Map<string, number>();
    for (const line of types.trim().split('\n')) for (const t of line.split(',')) counts.set(t, (counts.get(t) ?? 0) + 1);
    // 3 mesh sessions: an OPEN and a KEEPALIVE from each side (1 = OPEN, 4 = KEEPALIVE)
    expect(counts.get('1')).toBe(6);
    expect(counts.get('4')).toBeGreaterThanOrEqual(6);
    // each node's block reaches the two others: 6 announced prefixes in UPDATEs (2)
    const nlri = execFileSync('tshark', ['-r', file, '-Y', 'bgp.type == 2', '-T', 'fields', '-e', 'bgp.nlri_prefix'], { encoding: 'utf8' });
    expect(nlri.trim().split('\n').flatMap((l) => l.split(',')).filter((x) => x !== '')).toHaveLength(6);
    const ports = execFileSync('tshark', ['-r', file, '-Y', 'bgp', '-T', 'fields', '-e', 'tcp.port'], { encoding: 'utf8' });
    expect(ports.trim().split('\n').every((l) => l.split(',').includes('179'))).toBe(true);
  });
});
