import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIptablesSave } from '../netfilter/index.js';
import { KubeProxyShare, nodeIptables } from './node.js';
import { loadTopology } from './spec/loader.js';
import { buildWorld } from './world.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TOPOLOGIES = [
  ...readdirSync(join(ROOT, 'topologies')).filter((f) => f.endsWith('.yaml')).map((f) => join(ROOT, 'topologies', f)),
  ...readdirSync(join(ROOT, 'fixtures', 'topologies')).filter((f) => f.endsWith('.yaml')).map((f) => join(ROOT, 'fixtures', 'topologies', f)),
];

/** The tables as text, without the provenance that names the nodes of a class. */
function text(rs: Parameters<typeof formatIptablesSave>[0]): string {
  return formatIptablesSave(rs, { order: 'nft' });
}

describe('kube-proxy tables shared by nodes programmed alike', () => {
  for (const file of TOPOLOGIES) {
    it(`${file.slice(ROOT.length + 1)}: every node's shared tables equal the node's own`, async () => {
      const topo = await loadTopology(file);
      if (topo.cluster.kubeProxy.mode !== 'iptables') return;
      const share = new KubeProxyShare(topo, 4);
      for (const n of topo.nodes) share.generated(n.name);
      for (const n of topo.nodes) {
        if (!n.ips.some((ip) => !ip.includes(':'))) continue;
        const own = nodeIptables(topo, n.name, 4);
        expect(text(share.iptables(n.name).ruleset), n.name).toBe(text(own.ruleset));
        expect(share.generated(n.name).payload).toBe(own.generated.payload);
      }
    });
  }

  it('nodes of one class share one parsed ruleset in the World, made on first use; provenance names the class', async () => {
    for (const name of ['default.yaml', 'flannel-vxlan.yaml']) {
      const topo = await loadTopology(join(ROOT, 'topologies', name));
      const share = new KubeProxyShare(topo, 4);
      const names = topo.nodes.map((n) => n.name);
      const classes = new Map<string, readonly string[]>();
      for (const n of names) classes.set(n, share.members(n));
      const world = buildWorld(topo);
      for (const n of names) expect(world.fabric.get(n).config.compiledYet, `${name} ${n}`).toBe(false);
      for (const [n, members] of classes) {
        const svc = (m: string) => world.nodes.get(m)!.ruleset.tables.get('nat')!.chains.get('KUBE-SERVICES')!.rules;
        for (const m of members) expect(svc(m)[0], `${name}: ${m} shares ${n}'s rules`).toBe(svc(n)[0]);
        for (const m of names.filter((x) => !members.includes(x))) expect(svc(m)[0]).not.toBe(svc(n)[0]);
        const post = world.nodes.get(n)!.ruleset.tables.get('nat')!.chains.get('KUBE-POSTROUTING')!;
        const prov = post.rules.flatMap((r) => r.provenance ?? []).find((p) => p.kind === 'kube-proxy');
        expect(prov?.name).toBe(members.join(', '));
      }
      expect([...classes.values()].some((m) => m.length > 1), `${name} has a class of several nodes`).toBe(true);
    }
  });
});

describe('pod namespaces made when first entered', () => {
  for (const file of TOPOLOGIES) {
    it(`${file.slice(ROOT.length + 1)}: what a pod answers ARP for before it is made equals what its routes give after`, async () => {
      const { arpLocalOf } = await import('../netns/index.js');
      const topo = await loadTopology(file);
      const world = buildWorld(topo);
      const sorted = (a: { host: readonly number[]; wide: readonly { net: number; mask: number }[]; proxyDevs: readonly string[] }) => ({
        host: [...new Set(a.host)].sort(),
        wide: a.wide.map((w) => `${w.net}/${w.mask}`).sort(),
        proxyDevs: [...a.proxyDevs].sort(),
      });
      let lazy = 0;
      for (const pod of world.pods.values()) {
        if (pod.hostNetwork) continue;
        const ns = world.fabric.get(pod.netns);
        if (ns.isBuilt) continue;
        lazy++;
        const hint = sorted(ns.arpLocal());
        expect(sorted(arpLocalOf(ns.spec)), pod.key).toEqual(hint);
        expect(ns.isBuilt).toBe(true);
      }
      const podNs = [...world.pods.values()].filter((p) => !p.hostNetwork).length;
      if (topo.cluster.cni.plugin === 'flannel') expect(lazy).toBe(podNs);
    });
  }
});
