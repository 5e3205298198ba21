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
import { formatIptablesSave, loadTopology, nodeAgentSteps, nodeIptables, tokenize, type Topology } from '../../src/index.js';
import { Lab, labSupport, skipNotice } from './lab.js';

const support = labSupport();
if (!support.ok) console.warn(skipNotice(support));

const TOPOLOGIES = join(import.meta.dirname, '..', '..', 'topologies');
const files = readdirSync(TOPOLOGIES).filter((f) => f.endsWith('.yaml'));

const withoutComments = (save: string) =>
  save
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');

describe.skipIf(!support.ok)('node iptables against the kernel', () => {
  const lab = new Lab('nodeipt');
  afterAll(() => lab.cleanup());

  for (const file of files) {
    it(`${file}: every node's iptables-save equals podpath's`, async () => {
      const topo: Topology = await loadTopology(join(TOPOLOGIES, file));
      expect(topo.nodes.length).toBeGreaterThan(0);
      for (const node of topo.nodes) {
        const ns = await lab.netns(`${file.replace(/\.yaml$/, '')}-${node.name}`);
        const { ensureOps, generated } = nodeAgentSteps(topo, node.name, 4);
        // kube-proxy creates its nfacct counters before the first sync (pkg/proxy/iptables: nfacct.Ensure).
        for (const name of new Set(generated.payload.match(/--nfacct-name\s+(\S+)/g)?.map((m) => m.split(/\s+/)[1]!) ?? [])) {
          await lab.must(ns, ['nfacct', 'add', name]);
        }
        for (const op of ensureOps) {
          if (op.kind === 'chain') {
            const exists = await lab.exec(ns, ['iptables', '-w', '-t', op.table, '-S', op.chain]);
            if (exists.code !== 0) await lab.must(ns, ['iptables', '-w', '-t', op.table, '-N', op.chain]);
          } else {
            const [, chain, ...args] = tokenize(op.rule);
            const check = await lab.exec(ns, ['iptables', '-w', '-t', op.table, '-C', chain!, ...args]);
            if (check.code !== 0) {
              const where = op.position === 'prepend' ? ['-I', chain!, '1'] : ['-A', chain!];
              await lab.must(ns, ['iptables', '-w', '-t', op.table, ...where, ...args]);
            }
          }
        }
        await lab.must(ns, ['iptables-restore', '-w', '--noflush', '--counters'], { input: generated.payload });
        const kernel = withoutComments(await lab.must(ns, ['iptables-save']));
        const podpath = withoutComments(formatIptablesSave(nodeIptables(topo, node.name, 4).ruleset, { order: 'nft' }));
        expect(podpath, `${file} node ${node.name}`).toBe(kernel);
        expect(kernel).toContain('-j KUBE-SERVICES');
      }
    });
  }
});
