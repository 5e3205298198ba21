/**
 * Issue 4 item 6: `podpath rules --what iptables` must print what `iptables-save` prints on a real
 * node once kubelet and kube-proxy have run. For every node of the bundled topologies, the node's
 * agent steps (podpath's own `nodeAgentSteps`: kubelet's chains, the monitors' canaries, kube-proxy's
 * ensured jump rules, then its payload with `iptables-restore --noflush --counters`) are replayed
 * with the real tools in a fresh network namespace, and the kernel's `iptables-save` is compared
 * with podpath's rendering of its own model of the same steps.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findNode, formatIptablesSave, generateNodeIpvs, loadTopology, nodeAgentSteps, nodeIptables, tokenize, type Topology } from '../../src/index.js';
import { Lab, labSupport, skipNotice } from './lab.js';

const support = labSupport();
if (!support.ok) console.warn(skipNotice(support));

const ROOT = join(import.meta.dirname, '..', '..');
/** The bundled topologies, and fixture ones made for this check (dual-stack: ip6tables too). */
const files = ['topologies', join('fixtures', 'topologies')].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(dir, f)),
);

const withoutComments = (save: string) =>
  save
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');

describe.skipIf(!support.ok)('node iptables against the kernel', () => {
  const lab = new Lab('nodeipt');
  afterAll(() => lab.cleanup());

  for (const file of files) {
    it(`${file}: every node's iptables-save (and ip6tables-save) equals podpath's`, async () => {
      const topo: Topology = await loadTopology(join(ROOT, file));
      expect(topo.nodes.length).toBeGreaterThan(0);
      const families = topo.cluster.kubeProxy.ipFamilies.map((f) => (f === 'IPv6' ? 6 : 4));
      for (const node of topo.nodes) {
        const ns = await lab.netns(`${file.replace(/^.*\/|\.yaml$/g, '')}-${node.name}`);
        for (const family of families) await replayAndCompare(topo, node.name, family, ns, `${file} node ${node.name}`);
      }
    });
  }

  /** Replays the node's agent steps with the real tools in `ns`, then compares the kernel's save with podpath's. */
  async function replayAndCompare(topo: Topology, node: string, family: 4 | 6, ns: string, what: string): Promise<void> {
    const ipt = family === 4 ? 'iptables' : 'ip6tables';
    const { ensureOps, generated } = nodeAgentSteps(topo, node, family);
    // kube-proxy creates its nfacct counters before the first sync (pkg/proxy/iptables: nfacct.Ensure).
    for (const name of new Set(generated.payload.match(/--nfacct-name\s+(\S+)/g)?.map((m) => m.split(/\s+/)[1]!) ?? [])) {
      if ((await lab.exec(ns, ['nfacct', 'get', name])).code !== 0) await lab.must(ns, ['nfacct', 'add', name]);
    }
    for (const op of ensureOps) {
      if (op.kind === 'chain') {
        if ((await lab.exec(ns, [ipt, '-w', '-t', op.table, '-S', op.chain])).code !== 0) await lab.must(ns, [ipt, '-w', '-t', op.table, '-N', op.chain]);
        continue;
      }
      const [, chain, ...args] = tokenize(op.rule);
      if ((await lab.exec(ns, [ipt, '-w', '-t', op.table, '-C', chain!, ...args])).code !== 0) {
        const where = op.position === 'prepend' ? ['-I', chain!, '1'] : ['-A', chain!];
        await lab.must(ns, [ipt, '-w', '-t', op.table, ...where, ...args]);
      }
    }
    // kube-proxy IPVS mode creates its ipsets (ipset create/add -exist) before the payload names them
    if (topo.cluster.kubeProxy.mode === 'ipvs') await lab.must(ns, ['ipset', 'restore', '-exist'], { input: generateNodeIpvs(topo, findNode(topo, node), family).ipsetRestore });
    await lab.must(ns, [`${ipt}-restore`, '-w', '--noflush', '--counters'], { input: generated.payload });
    const kernel = withoutComments(await lab.must(ns, [`${ipt}-save`]));
    const podpath = withoutComments(formatIptablesSave(nodeIptables(topo, node, family).ruleset, { order: 'nft' }));
    expect(podpath, `${what} ${ipt}`).toBe(kernel);
    expect(kernel).toContain('-j KUBE-SERVICES');
  }
});
