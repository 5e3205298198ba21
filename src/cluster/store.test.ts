import { describe, expect, it } from 'vitest';
import { InputError, Rng } from '../base/index.js';
import type { KubeObject, Pod, Service } from './objects.js';
import { ClusterStore, type WatchEvent } from './store.js';

const pod = (name: string, ip = '10.244.0.2'): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'web' } },
  spec: { nodeName: 'node-1', containers: [{ name: 'c' }] },
  status: { phase: 'Running', podIP: ip },
});

describe('ClusterStore', () => {
  it('emits ADDED, MODIFIED and DELETED with increasing resourceVersions', () => {
    const s = new ClusterStore();
    const seen: WatchEvent[] = [];
    s.watch((e) => seen.push(e));
    s.apply(pod('a'));
    s.apply(pod('a', '10.244.0.3'));
    s.delete('Pod', 'default/a');
    expect(seen.map((e) => [e.type, e.resourceVersion])).toEqual([
      ['ADDED', 1],
      ['MODIFIED', 2],
      ['DELETED', 3],
    ]);
    expect(seen[1]!.object.metadata.resourceVersion).toBe('2');
    expect(s.get('Pod', 'default/a')).toBeUndefined();
    expect(s.resourceVersion).toBe(3);
  });

  it('treats an unchanged write as a no-op: no event, no new version', () => {
    const s = new ClusterStore();
    s.apply(pod('a'));
    const seen: WatchEvent[] = [];
    s.watch((e) => seen.push(e));
    expect(s.apply(pod('a'))).toBeUndefined();
    expect(seen).toHaveLength(0);
    expect(s.resourceVersion).toBe(1);
  });

  it('defaults the namespace and lists in key order, filtered by namespace', () => {
    const s = new ClusterStore();
    const p = pod('z');
    delete p.metadata.namespace;
    s.apply(p);
    s.apply({ ...pod('b'), metadata: { name: 'b', namespace: 'other' } });
    s.apply(pod('a'));
    expect(s.list('Pod').map((x) => `${x.metadata.namespace}/${x.metadata.name}`)).toEqual(['default/a', 'default/z', 'other/b']);
    expect(s.list('Pod', { namespace: 'other' })).toHaveLength(1);
  });

  it('stores a copy: mutating the caller object afterwards changes nothing', () => {
    const s = new ClusterStore();
    const p = pod('a');
    s.apply(p);
    p.status!.podIP = '10.0.0.9';
    expect(s.get('Pod', 'default/a')!.status!.podIP).toBe('10.244.0.2');
  });

  it('applies a transaction all together, or nothing when one write is invalid', () => {
    const s = new ClusterStore();
    s.apply(pod('keep'));
    const seen: WatchEvent[] = [];
    s.watch((e) => seen.push(e));
    const bad = { ...pod('bad'), status: { podIP: '10.244.0.300' } } as unknown as KubeObject;
    let caught: unknown;
    try {
      s.transaction((tx) => {
        tx.apply(pod('new'));
        tx.delete('Pod', 'default/keep');
        tx.apply(bad);
      });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as InputError).problems[0]!.field).toBe('status.podIP');
    expect(s.get('Pod', 'default/new')).toBeUndefined();
    expect(s.get('Pod', 'default/keep')).toBeDefined();
    expect(seen).toHaveLength(0);
    expect(s.resourceVersion).toBe(1);
  });

  it('rejects deleting an absent object and an unknown kind', () => {
    const s = new ClusterStore();
    expect(() => s.delete('Pod', 'default/nope')).toThrow(InputError);
    expect(() => s.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } } as unknown as KubeObject)).toThrow(/unknown kind "ConfigMap"/);
  });

  it('sees its own staged writes inside a transaction', () => {
    const s = new ClusterStore();
    s.transaction((tx) => {
      tx.apply(pod('a'));
      expect(tx.get('Pod', 'default/a')!.metadata.name).toBe('a');
      tx.delete('Pod', 'default/a');
      expect(tx.get('Pod', 'default/a')).toBeUndefined();
      tx.apply(pod('a'));
    });
    expect(s.count('Pod')).toBe(1);
  });

  it('queues writes made by a listener behind the event being delivered', () => {
    const s = new ClusterStore();
    const order: string[] = [];
    s.watch((e) => {
      order.push(`A:${e.type}:${e.object.metadata.name}`);
      if (e.object.kind === 'Pod' && e.type === 'ADDED') {
        const svc: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${e.object.metadata.name}`, namespace: 'default' }, spec: { ports: [{ port: 80 }] } };
        s.apply(svc);
      }
    });
    s.watch((e) => order.push(`B:${e.type}:${e.object.metadata.name}`));
    s.apply(pod('p'));
    expect(order).toEqual(['A:ADDED:p', 'B:ADDED:p', 'A:ADDED:svc-p', 'B:ADDED:svc-p']);
  });

  it('stops delivering after unsubscribe', () => {
    const s = new ClusterStore();
    let n = 0;
    const off = s.watch(() => n++);
    s.apply(pod('a'));
    off();
    s.apply(pod('b'));
    expect(n).toBe(1);
  });

  it('keeps the key-ordered lists right when a listed object is modified (in place), added or deleted', () => {
    const s = new ClusterStore();
    const rng = new Rng(7);
    const names = Array.from({ length: 40 }, (_, i) => `p${(i * 37) % 41}`);
    const nss = ['default', 'kube-system', 'web'];
    const live = new Map<string, Pod>();
    const at = (n: string, ns: string, ip: string): Pod => ({ ...pod(n, ip), metadata: { name: n, namespace: ns, labels: { app: 'web' } } });
    for (let step = 0; step < 400; step++) {
      const n = names[rng.int(names.length)]!;
      const ns = nss[rng.int(nss.length)]!;
      const key = `${ns}/${n}`;
      const r = rng.int(10);
      if (r === 0 && live.has(key)) {
        s.delete('Pod', key);
        live.delete(key);
      } else {
        const p = at(n, ns, `10.244.${rng.int(4)}.${rng.int(250) + 2}`);
        s.apply(p);
        live.set(key, p);
      }
      // list often, so most writes find the sorted lists built
      if (rng.int(3) > 0) {
        const want = [...live.keys()].sort();
        expect(s.list('Pod').map((x) => `${x.metadata.namespace}/${x.metadata.name}`)).toEqual(want);
        for (const x of nss) expect(s.list('Pod', { namespace: x }).map((o) => `${x}/${o.metadata.name}`)).toEqual(want.filter((k) => k.startsWith(`${x}/`)));
        // the listed objects are the stored ones (a modified pod shows its new address)
        for (const o of s.list('Pod')) expect(o.status!.podIP).toBe(live.get(`${o.metadata.namespace}/${o.metadata.name}`)!.status!.podIP);
      }
    }
  });

  it('gives each caller its own list: a later modification does not change a list already returned', () => {
    const s = new ClusterStore();
    s.apply(pod('a'));
    s.apply(pod('b'));
    const before = s.list('Pod');
    s.apply(pod('a', '10.244.0.9'));
    expect(before[0]!.status!.podIP).toBe('10.244.0.2');
    expect(s.list('Pod')[0]!.status!.podIP).toBe('10.244.0.9');
  });
});
