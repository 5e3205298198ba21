import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Node, Pod, Service } from '../objects.js';
import { ClusterStore } from '../store.js';
import { runEndpointSliceController } from './endpointslice.js';

function node(name: string, zone?: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} }, spec: {}, status: {} };
}

interface PodOpts {
  ips?: string[];
  ready?: boolean;
  phase?: 'Running' | 'Pending' | 'Succeeded' | 'Failed';
  terminating?: boolean;
  labels?: Record<string, string>;
  ports?: { name: string; containerPort: number; protocol?: 'TCP' | 'UDP' }[];
  node?: string;
  ns?: string;
}

function pod(name: string, o: PodOpts = {}): Pod {
  const ips = o.ips ?? ['10.244.0.2'];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.ns ?? 'default', uid: `uid-${name}`, labels: o.labels ?? { app: 'web' }, ...(o.terminating ? { deletionTimestamp: '2026-11-23T10:00:00Z' } : {}) },
    spec: { nodeName: o.node ?? 'node-1', containers: [{ name: 'c', ports: (o.ports ?? [{ name: 'http', containerPort: 8080 }]).map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' })) }] },
    status: {
      phase: o.phase ?? 'Running',
      ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

function service(name: string, spec: Partial<Service['spec']> = {}, ns = 'default'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, uid: `uid-svc-${name}`, labels: { team: 'a' } },
    spec: { type: 'ClusterIP', selector: { app: 'web' }, clusterIP: '10.96.0.20', ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' }], ...spec },
  };
}

function setup(objs: (Node | Pod | Service | EndpointSlice)[], opts: { max?: number } = {}) {
  const store = new ClusterStore();
  store.transaction((tx) => {
    for (const o of [node('node-1', 'zone-a'), node('node-2', 'zone-b'), ...objs]) tx.apply(o);
  });
  const ctl = runEndpointSliceController(store, opts.max ? { maxEndpointsPerSlice: opts.max } : {});
  const slices = (svc = 'web', ns = 'default') => store.list('EndpointSlice', { namespace: ns }).filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === svc);
  return { store, ctl, slices };
}

const byName = (eps: EndpointSlice['endpoints']) => [...eps].sort((a, b) => (a.targetRef!.name < b.targetRef!.name ? -1 : 1));

describe('endpointslice controller', () => {
  it('makes one slice with ready endpoints, named target ports resolved, owner labels and reference', () => {
    const { slices } = setup([service('web'), pod('web-1'), pod('web-2', { ips: ['10.244.1.2'], node: 'node-2' })]);
    const s = slices();
    expect(s).toHaveLength(1);
    const sl = s[0]!;
    expect(sl.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(sl.addressType).toBe('IPv4');
    expect(sl.metadata.labels).toEqual({ team: 'a', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    expect(sl.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'uid-svc-web', controller: true, blockOwnerDeletion: true }]);
    expect(sl.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(byName(sl.endpoints)).toEqual([
      { addresses: ['10.244.0.2'], conditions: { ready: true, serving: true, terminating: false }, zone: 'zone-a', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'uid-web-1' } },
      { addresses: ['10.244.1.2'], conditions: { ready: true, serving: true, terminating: false }, zone: 'zone-b', nodeName: 'node-2', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-2', uid: 'uid-web-2' } },
    ]);
  });

  it('derives ready/serving/terminating from readiness and deletionTimestamp, skipping terminal and IP-less pods', () => {
    const { slices } = setup([
      service('web'),
      pod('ready'),
      pod('unready', { ips: ['10.244.0.3'], ready: false }),
      pod('term-ready', { ips: ['10.244.0.4'], terminating: true }),
      pod('term-unready', { ips: ['10.244.0.5'], terminating: true, ready: false }),
      pod('pending-noip', { ips: [], phase: 'Pending', ready: false }),
      pod('done', { ips: ['10.244.0.6'], phase: 'Succeeded' }),
      pod('failed', { ips: ['10.244.0.7'], phase: 'Failed' }),
      pod('other-app', { ips: ['10.244.0.8'], labels: { app: 'db' } }),
      pod('other-ns', { ips: ['10.244.0.9'], ns: 'prod' }),
    ]);
    const eps = Object.fromEntries(slices()[0]!.endpoints.map((e) => [e.targetRef!.name, e.conditions]));
    expect(eps).toEqual({
      ready: { ready: true, serving: true, terminating: false },
      unready: { ready: false, serving: false, terminating: false },
      'term-ready': { ready: false, serving: true, terminating: true },
      'term-unready': { ready: false, serving: false, terminating: true },
    });
  });

  it('publishNotReadyAddresses makes every endpoint ready, terminating ones too', () => {
    const { slices } = setup([service('web', { publishNotReadyAddresses: true }), pod('unready', { ready: false }), pod('term', { ips: ['10.244.0.4'], terminating: true, ready: false })]);
    for (const e of slices()[0]!.endpoints) expect(e.conditions!.ready).toBe(true);
    const term = slices()[0]!.endpoints.find((e) => e.targetRef!.name === 'term')!;
    expect(term.conditions).toEqual({ ready: true, serving: false, terminating: true });
  });

  it('groups pods by resolved port mapping: a pod whose port name does not resolve lands in a slice without that port', () => {
    const { slices } = setup([
      service('web'),
      pod('a', { ports: [{ name: 'http', containerPort: 8080 }] }),
      pod('b', { ips: ['10.244.0.3'], ports: [{ name: 'http', containerPort: 9090 }] }),
      pod('c', { ips: ['10.244.0.4'], ports: [{ name: 'metrics', containerPort: 9100 }] }),
      // same name, wrong protocol: FindPort compares protocols too
      pod('d', { ips: ['10.244.0.5'], ports: [{ name: 'http', containerPort: 8080, protocol: 'UDP' }] }),
    ]);
    const got = slices()
      .map((s) => [JSON.stringify(s.ports), s.endpoints.map((e) => e.targetRef!.name).sort().join(',')])
      .sort();
    expect(got).toEqual([
      ['[]', 'c,d'],
      [JSON.stringify([{ name: 'http', port: 8080, protocol: 'TCP' }]), 'a'],
      [JSON.stringify([{ name: 'http', port: 9090, protocol: 'TCP' }]), 'b'],
    ]);
  });

  it('uses a numeric targetPort as is and names an unnamed port ""', () => {
    const { slices } = setup([service('web', { ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] }), pod('a', { ports: [] })]);
    expect(slices()[0]!.ports).toEqual([{ name: '', port: 8080, protocol: 'TCP' }]);
  });

  it('puts at most 100 endpoints in a slice: 250 pods make 3 slices of 100, 100 and 50', () => {
    const pods = Array.from({ length: 250 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, { ips: [`10.244.${Math.floor(i / 200)}.${(i % 200) + 2}`] }));
    const { slices } = setup([service('web'), ...pods]);
    const sizes = slices().map((s) => s.endpoints.length).sort((a, b) => b - a);
    expect(sizes).toEqual([100, 100, 50]);
    const names = new Set(slices().map((s) => s.metadata.name));
    expect(names.size).toBe(3);
    const all = new Set(slices().flatMap((s) => s.endpoints.map((e) => e.addresses[0])));
    expect(all.size).toBe(250);
  });

  it('honours a smaller maxEndpointsPerSlice', () => {
    const pods = Array.from({ length: 5 }, (_, i) => pod(`p${i}`, { ips: [`10.244.0.${i + 2}`] }));
    const { slices } = setup([service('web'), ...pods], { max: 2 });
    expect(slices().map((s) => s.endpoints.length).sort()).toEqual([1, 2, 2]);
  });

  it('gives headless Services slices, labelled headless, with hostnames for pods in the subdomain', () => {
    const p = pod('db-0');
    p.spec.hostname = 'db-0';
    p.spec.subdomain = 'db';
    const { slices } = setup([service('db', { clusterIP: 'None', ports: [] }), p]);
    const s = slices('db');
    expect(s).toHaveLength(1);
    expect(s[0]!.metadata.labels!['service.kubernetes.io/headless']).toBe('');
    expect(s[0]!.ports).toEqual([]);
    expect(s[0]!.endpoints[0]!.hostname).toBe('db-0');
  });

  it('gives ExternalName and selector-less Services no slices', () => {
    const ext = service('ext', { type: 'ExternalName', externalName: 'example.com' });
    delete ext.spec.clusterIP;
    delete ext.spec.selector;
    const manual = service('manual');
    delete manual.spec.selector;
    const { slices } = setup([ext, manual, pod('a')]);
    expect(slices('ext')).toHaveLength(0);
    expect(slices('manual')).toHaveLength(0);
  });

  it('creates an empty placeholder slice for a selector that matches nothing', () => {
    const { slices } = setup([service('web', { selector: { app: 'none' } }), pod('a')]);
    const s = slices();
    expect(s).toHaveLength(1);
    expect(s[0]!.endpoints).toEqual([]);
    expect(s[0]!.ports).toEqual([]);
  });

  it('makes one slice per address type for a dual-stack Service', () => {
    const { slices } = setup([
      service('web', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack', clusterIPs: ['10.96.0.20', 'fd00:10:96::20'] }),
      pod('a', { ips: ['10.244.0.2', 'fd00:10:244::2'] }),
      pod('v4only', { ips: ['10.244.0.3'] }),
    ]);
    const byType = Object.fromEntries(slices().map((s) => [s.addressType, s.endpoints.map((e) => e.addresses.join(',')).sort()]));
    expect(byType).toEqual({ IPv4: ['10.244.0.2', '10.244.0.3'], IPv6: ['fd00:10:244::2'] });
  });

  it('leaves Services whose slices were given alone', () => {
    const given: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-manual', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.1.2.3'] }],
      ports: [{ name: 'http', port: 1234, protocol: 'TCP' }],
    };
    const { slices, store } = setup([service('web'), pod('a'), given]);
    expect(slices().map((s) => s.metadata.name)).toEqual(['web-manual']);
    store.apply(pod('b', { ips: ['10.244.0.3'] }));
    expect(slices().map((s) => s.metadata.name)).toEqual(['web-manual']);
  });

  it('reacts to watch events: a new pod is added to the existing slice, a deleted one removed, readiness updated', () => {
    const { slices, store } = setup([service('web'), pod('a')]);
    const name = slices()[0]!.metadata.name;
    const rv0 = Number(slices()[0]!.metadata.resourceVersion);
    store.apply(pod('b', { ips: ['10.244.0.3'] }));
    expect(slices()).toHaveLength(1);
    expect(slices()[0]!.metadata.name).toBe(name);
    expect(slices()[0]!.endpoints.map((e) => e.targetRef!.name).sort()).toEqual(['a', 'b']);
    expect(Number(slices()[0]!.metadata.resourceVersion)).toBeGreaterThan(rv0);
    store.apply(pod('b', { ips: ['10.244.0.3'], ready: false }));
    expect(slices()[0]!.endpoints.find((e) => e.targetRef!.name === 'b')!.conditions!.ready).toBe(false);
    store.delete('Pod', 'default/a');
    expect(slices()[0]!.endpoints.map((e) => e.targetRef!.name)).toEqual(['b']);
    // relabelled away from the selector: it leaves the slice, which becomes the placeholder
    store.apply(pod('b', { ips: ['10.244.0.3'], labels: { app: 'other' } }));
    expect(slices()).toHaveLength(1);
    expect(slices()[0]!.endpoints).toEqual([]);
  });

  it('deletes its slices when the Service goes away or becomes ExternalName, and recreates a slice deleted by someone else', () => {
    const { slices, store } = setup([service('web'), pod('a')]);
    const first = slices()[0]!.metadata.name;
    store.delete('EndpointSlice', `default/${first}`);
    expect(slices()).toHaveLength(1);
    store.apply(service('web', { type: 'ExternalName', externalName: 'example.com', clusterIP: undefined }));
    expect(slices()).toHaveLength(0);
    store.apply(service('web'));
    expect(slices()).toHaveLength(1);
    store.delete('Service', 'default/web');
    expect(slices()).toHaveLength(0);
  });

  it('is deterministic: the same input gives the same slice names and contents', () => {
    const objs = () => [service('web'), pod('a'), pod('b', { ips: ['10.244.0.3'] })];
    const a = setup(objs()).slices();
    const b = setup(objs()).slices();
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });
});
