import { describe, expect, it } from 'vitest';
import { fnv32a, stableUid } from './alloc.js';
import { loadTopologyObject } from './spec/loader.js';

describe('alloc', () => {
  it('stableUid is four FNV-1a hashes of "i:kind/key" in UUID shape', () => {
    for (const [kind, key] of [['Pod', 'default/web-1'], ['Node', 'node-0001'], ['Service', 'team-3/svc-103']]) {
      const hex = [0, 1, 2, 3].map((i) => fnv32a(`${i}:${kind}/${key}`).toString(16).padStart(8, '0')).join('');
      expect(stableUid(kind!, key!)).toBe(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`);
    }
    // FNV-1a 32 of "a" (the published test vector)
    expect(fnv32a('a')).toBe(0xe40c292c);
  });

  it('schedules each pod on the least loaded schedulable node, ties in node order', async () => {
    const nodes = ['n-1', 'n-2', 'n-3', 'n-4'].map((name, i) => ({ name, ip: `192.168.56.${11 + i}`, network: 'lan', ...(name === 'n-3' ? { unschedulable: true } : {}) }));
    const pinned = (name: string, node: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node, containers: [{ name: 'c' }] } });
    const free = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c' }] } });
    const t = await loadTopologyObject({
      name: 's',
      underlay: { networks: [{ name: 'lan', cidr: '192.168.56.0/24' }] },
      nodes,
      objects: [pinned('a', 'n-1'), pinned('b', 'n-1'), pinned('c', 'n-4'), free('p1'), free('p2'), free('p3'), free('p4'), free('p5')],
    });
    // loads before: n-1 2, n-2 0, n-4 1 (n-3 unschedulable). p1 → n-2 (0), p2 → n-2 (tie n-2/n-4 at 1: n-2 first),
    // p3 → n-4 (1), then all at 2: p4 → n-1, p5 → n-2.
    const on = (p: string) => t.store.get('Pod', `default/${p}`)!.spec.nodeName;
    expect(['p1', 'p2', 'p3', 'p4', 'p5'].map(on)).toEqual(['n-2', 'n-2', 'n-4', 'n-1', 'n-2']);
  });
});
