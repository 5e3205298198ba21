/**
 * src/kernel materialize: names, cleanup on every path, and the gaps it reports.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../src/cluster/spec/loader.js';
import { buildWorld } from '../../src/cluster/world.js';
import { KernelCommandError, kernelSkipNotice, kernelSupport, labEnv, materialize } from '../../src/kernel/index.js';

const support = kernelSupport();
if (!support.ok) console.warn(`\n*** test/kernel/materialize.test.ts ${kernelSkipNotice(support)} ***\n`);
const TOPO = join(import.meta.dirname, '..', '..', 'fixtures', 'topologies', 'kernel-flannel-vxlan.yaml');

function netnsWith(prefix: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { env: labEnv() })
    .toString()
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

describe.skipIf(!support.ok)('materialize', () => {
  it('one real netns per World netns plus the segments netns, the node devices with the World\'s MACs; cleanup removes every one', async () => {
    const world = buildWorld(await loadTopology(TOPO));
    const prefix = `pp${process.pid}mt1`;
    const lab = await materialize(world, { prefix, listeners: false });
    try {
      expect(new Set(lab.names.keys())).toEqual(new Set(world.fabric.netns.keys()));
      expect(netnsWith(prefix).sort()).toEqual([...lab.names.values(), lab.segmentsNetns].sort());
      expect(lab.netns('default/client')).toBe(`${prefix}-default_client`);
      const links = await lab.must('node-1', ['ip', '-o', 'link']);
      for (const d of world.fabric.get('node-1').spec.devices) {
        if (d.kind === 'loopback') continue;
        expect(links, d.name).toMatch(new RegExp(`: ${d.name.replace('.', '\\.')}[@:].*mtu ${d.mtu} .*link/ether ${d.mac}`));
      }
      // nothing in the root namespace
      expect(execFileSync('ip', ['-o', 'link'], { env: labEnv() }).toString()).not.toMatch(/flannel\.1|cni0/);
    } finally {
      await lab.cleanup();
    }
    expect(netnsWith(prefix)).toEqual([]);
  });

  it('a build that fails half-way removes what it created and rethrows the command\'s error', async () => {
    const world = buildWorld(await loadTopology(TOPO));
    const prefix = `pp${process.pid}mt2`;
    const squatter = `${prefix}-node-2`;
    execFileSync('ip', ['netns', 'add', squatter], { env: labEnv() });
    try {
      await expect(materialize(world, { prefix })).rejects.toBeInstanceOf(KernelCommandError);
      expect(netnsWith(prefix)).toEqual([squatter]);
    } finally {
      execFileSync('ip', ['netns', 'del', squatter], { env: labEnv() });
    }
  });
});
