/**
 * The EndpointSlice controller: for every Service with a selector, EndpointSlices listing the
 * matching Pods. Models pkg/controller/endpointslice (endpointslice_controller.go syncService,
 * utils.go podToEndpoint/getEndpointPorts/setEndpointSliceLabels) and the reconciler of
 * staging/src/k8s.io/endpointslice (reconciler.go: per address type, per port mapping, fill
 * existing slices first, at most maxEndpointsPerSlice endpoints each, a placeholder slice when a
 * Service has no endpoints). Where upstream iterates a Go set (random order), podpath takes pods in
 * name order and slices in name order, so results are deterministic.
 *
 * Services whose slices were given in the input (or applied by someone else later) are left alone:
 * "given slices are used as they are".
 */
import { ipFamily } from '../../base/index.js';
import { nameSuffix, selectorMatches } from '../alloc.js';
import {
  ENDPOINTSLICE_CONTROLLER_NAME,
  HEADLESS_LABEL,
  MANAGED_BY_LABEL,
  objectKey,
  SERVICE_NAME_LABEL,
  ZONE_LABEL,
  type Endpoint,
  type EndpointPort,
  type EndpointSlice,
  type Node,
  type Pod,
  type Service,
} from '../objects.js';
import { cloneObject, type ClusterStore, type WatchEvent } from '../store.js';

/** kube-controller-manager --max-endpoints-per-slice default. */
export const DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100;

type AddressType = 'IPv4' | 'IPv6';

export interface EndpointSliceControllerOptions {
  readonly maxEndpointsPerSlice?: number;
}

export interface EndpointSliceController {
  /** Reconciles one Service ("namespace/name") now. */
  syncService(key: string): void;
  /** Reconciles every Service. */
  syncAll(): void;
  /** Services whose slices came from elsewhere and are left as they are. */
  readonly givenServices: ReadonlySet<string>;
  stop(): void;
}

// ------------------------------------------------------------------ upstream helpers

/** podutil.IsPodReady: the Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** endpointutil.ShouldPodBeInEndpoints(pod, includeTerminating=true): not terminal, and has an IP. */
export function shouldPodBeInEndpoints(pod: Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') return false;
  return Boolean(pod.status?.podIP) || (pod.status?.podIPs ?? []).length > 0;
}

/** getAddressTypesForService (utils.go): ipFamilies, else the clusterIP's family, else both (headless legacy). */
export function addressTypesForService(svc: Service): AddressType[] {
  const out: AddressType[] = [];
  for (const f of svc.spec.ipFamilies ?? []) if (!out.includes(f)) out.push(f);
  if (out.length > 0) return out;
  const cip = svc.spec.clusterIP;
  if (cip && cip !== 'None') return [ipFamily(cip) === 6 ? 'IPv6' : 'IPv4'];
  return ['IPv4', 'IPv6'];
}

/** podutil.FindPort: a number is used as is; a name is looked up among the pod's container ports of the same protocol. */
export function findPort(pod: Pod, targetPort: number | string | undefined, port: number, protocol: string): number | undefined {
  const tp = targetPort ?? port;
  if (typeof tp === 'number') return tp;
  for (const c of pod.spec.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  // Sidecars (init containers with restartPolicy Always) count too (KEP-753).
  for (const c of pod.spec.initContainers ?? []) {
    if ((c as { restartPolicy?: string }).restartPolicy !== 'Always') continue;
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return undefined;
}

/** getEndpointPorts (utils.go): the Service's ports resolved for one pod; unresolvable ones are left out. */
export function endpointPortsFor(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  const ports = svc.spec.ports ?? [];
  if (ports.length === 0 && svc.spec.clusterIP === 'None') return out;
  for (const sp of ports) {
    const protocol = sp.protocol ?? 'TCP';
    const n = findPort(pod, sp.targetPort, sp.port, protocol);
    if (n === undefined) continue;
    out.push({ name: sp.name ?? '', port: n, protocol, ...(sp.appProtocol !== undefined ? { appProtocol: sp.appProtocol } : {}) });
  }
  return out;
}

/** podToEndpoint (utils.go). */
export function podToEndpoint(pod: Pod, node: Node | undefined, svc: Service, addressType: AddressType): Endpoint {
  const serving = isPodReady(pod);
  const terminating = pod.metadata.deletionTimestamp !== undefined;
  // publishNotReadyAddresses makes every endpoint ready, terminating or not.
  const ready = svc.spec.publishNotReadyAddresses === true || (serving && !terminating);
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip);
  if (ips.length === 0 && pod.status?.podIP) ips.push(pod.status.podIP);
  const ep: Endpoint = {
    // Pod IPs are validated addresses: a colon makes one IPv6.
    addresses: ips.filter((ip) => ip.includes(':') === (addressType === 'IPv6')),
    conditions: { ready, serving, terminating },
  };
  const zone = node?.metadata.labels?.[ZONE_LABEL];
  if (zone) ep.zone = zone;
  // ShouldSetHostname: the pod's hostname when its subdomain names this Service in its namespace.
  if (pod.spec.hostname && pod.spec.subdomain === svc.metadata.name && (pod.metadata.namespace ?? 'default') === (svc.metadata.namespace ?? 'default')) ep.hostname = pod.spec.hostname;
  if (pod.spec.nodeName !== undefined) ep.nodeName = pod.spec.nodeName;
  ep.targetRef = { kind: 'Pod', namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) };
  return ep;
}

/** setEndpointSliceLabels (utils.go): the Service's labels minus reserved ones, headless marker, owner labels. */
export function sliceLabels(svc: Service): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(svc.metadata.labels ?? {})) {
    if (k === SERVICE_NAME_LABEL || k === MANAGED_BY_LABEL || k === HEADLESS_LABEL) continue;
    out[k] = v;
  }
  if (svc.spec.clusterIP === 'None') out[HEADLESS_LABEL] = '';
  out[SERVICE_NAME_LABEL] = svc.metadata.name;
  out[MANAGED_BY_LABEL] = ENDPOINTSLICE_CONTROLLER_NAME;
  return out;
}

/** getEndpointSlicePrefix: "<service>-", or "slice-" when that is not a valid name prefix; generateName keeps 58 characters. */
export function slicePrefix(serviceName: string): string {
  const p = `${serviceName}-`;
  return p.length <= 63 && /^[a-z0-9]([-a-z0-9]*)?$/.test(p) ? p : 'slice-';
}

function portMapKey(ports: readonly EndpointPort[]): string {
  return JSON.stringify([...ports].map((p) => [p.name ?? '', p.port ?? 0, p.protocol ?? 'TCP', p.appProtocol ?? '']).sort());
}

function endpointKey(ep: Endpoint): string {
  return `${ep.targetRef?.namespace ?? ''}/${ep.targetRef?.name ?? ''}|${[...ep.addresses].sort().join(',')}|${ep.hostname ?? ''}`;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

// ------------------------------------------------------------------ the controller

class Controller implements EndpointSliceController {
  readonly givenServices = new Set<string>();
  /** Keys ("ns/name") of the slices this controller manages → the Service they belong to. */
  private readonly mine = new Map<string, string>();
  /** The reverse: per Service, the keys of its slices. */
  private readonly mineBySvc = new Map<string, Set<string>>();
  /** Services a pod was last seen matching (a superset: stale entries only cost a no-op sync). */
  private readonly podServices = new Map<string, Set<string>>();
  private readonly max: number;
  private unwatch: () => void = () => undefined;

  constructor(private readonly store: ClusterStore, opts: EndpointSliceControllerOptions) {
    this.max = opts.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE;
    for (const s of store.list('EndpointSlice')) {
      const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
      if (svc) this.givenServices.add(`${s.metadata.namespace ?? 'default'}/${svc}`);
    }
  }

  start(): void {
    this.unwatch = this.store.watch((ev) => this.onEvent(ev));
    this.syncAll();
  }

  stop(): void {
    this.unwatch();
  }

  private onEvent(ev: WatchEvent): void {
    const o = ev.object;
    switch (o.kind) {
      case 'Service':
        this.syncService(objectKey(o));
        return;
      case 'Pod': {
        const ns = o.metadata.namespace ?? 'default';
        const affected = new Set<string>();
        for (const svc of this.store.list('Service', { namespace: ns })) {
          if (svc.spec.selector && selectorMatches(svc.spec.selector, o.metadata.labels)) affected.add(objectKey(svc));
        }
        // Services that listed this pod before (its labels may have changed, or it was deleted).
        for (const k of this.podServices.get(objectKey(o)) ?? []) affected.add(k);
        for (const k of [...affected].sort()) this.syncService(k);
        if (ev.type === 'DELETED') this.podServices.delete(objectKey(o));
        return;
      }
      case 'Node':
        // Zones come from node labels; a node change can change any endpoint on it.
        this.syncAll();
        return;
      case 'EndpointSlice': {
        const svc = o.metadata.labels?.[SERVICE_NAME_LABEL];
        if (!svc) return;
        const skey = `${o.metadata.namespace ?? 'default'}/${svc}`;
        if (this.mine.has(objectKey(o))) {
          // A slice we manage was deleted by someone else: reconcile it back, as upstream does.
          if (ev.type === 'DELETED') {
            this.forget(objectKey(o));
            this.syncService(skey);
          }
          return;
        }
        if (ev.type !== 'DELETED') this.adoptGiven(skey);
        return;
      }
      case 'Namespace':
      case 'Deployment':
      case 'ReplicaSet':
        return;
    }
  }

  /** A slice for this Service arrived from outside: the Service's slices are now given; ours go. */
  private adoptGiven(skey: string): void {
    if (this.givenServices.has(skey)) return;
    this.givenServices.add(skey);
    this.deleteMine(skey);
  }

  private remember(sliceKey: string, svcKey: string): void {
    this.mine.set(sliceKey, svcKey);
    let set = this.mineBySvc.get(svcKey);
    if (!set) this.mineBySvc.set(svcKey, (set = new Set()));
    set.add(sliceKey);
  }

  private forget(sliceKey: string): void {
    const svc = this.mine.get(sliceKey);
    this.mine.delete(sliceKey);
    if (svc !== undefined) this.mineBySvc.get(svc)?.delete(sliceKey);
  }

  /** The slices of one Service this controller manages, in name order. */
  private slicesOf(svcKey: string): EndpointSlice[] {
    const out: EndpointSlice[] = [];
    for (const k of [...(this.mineBySvc.get(svcKey) ?? [])].sort()) {
      const s = this.store.get('EndpointSlice', k);
      if (s) out.push(s);
    }
    return out;
  }

  private deleteMine(skey: string): void {
    const doomed = [...(this.mineBySvc.get(skey) ?? [])].filter((k) => this.store.get('EndpointSlice', k) !== undefined);
    for (const k of [...(this.mineBySvc.get(skey) ?? [])]) this.forget(k);
    if (doomed.length === 0) return;
    this.store.transaction((tx) => {
      for (const k of doomed) tx.delete('EndpointSlice', k);
    });
  }

  syncAll(): void {
    // Index pods by namespace and label once, so each Service looks at its candidates only.
    const index = new Map<string, Pod[]>();
    for (const p of this.store.list('Pod')) {
      const ns = p.metadata.namespace ?? 'default';
      for (const [k, v] of Object.entries(p.metadata.labels ?? {})) {
        const ik = `${ns}\u0000${k}=${v}`;
        let l = index.get(ik);
        if (!l) index.set(ik, (l = []));
        l.push(p);
      }
    }
    for (const svc of this.store.list('Service')) this.syncService(objectKey(svc), index);
  }

  /** Pods of the Service's namespace that may match its selector (all of them for an empty selector). */
  private candidates(svc: Service, index?: Map<string, Pod[]>): Pod[] {
    const ns = svc.metadata.namespace ?? 'default';
    const sel = Object.entries(svc.spec.selector ?? {});
    if (!index || sel.length === 0) return this.store.list('Pod', { namespace: ns });
    let best: Pod[] | undefined;
    for (const [k, v] of sel) {
      const l = index.get(`${ns}\u0000${k}=${v}`) ?? [];
      if (!best || l.length < best.length) best = l;
    }
    return best ?? [];
  }

  /** Models Controller.syncService + Reconciler.Reconcile. */
  syncService(key: string, index?: Map<string, Pod[]>): void {
    if (this.givenServices.has(key)) return;
    const svc = this.store.get('Service', key);
    // ExternalName Services and Services without a selector get no slices from this controller.
    if (!svc || svc.spec.type === 'ExternalName' || svc.spec.selector === undefined) {
      this.deleteMine(key);
      return;
    }
    const ns = svc.metadata.namespace ?? 'default';
    const types = addressTypesForService(svc);
    const existing = this.slicesOf(key);

    // Desired endpoints, per address type and port mapping, in pod-name order.
    const desired = new Map<AddressType, Map<string, { ports: EndpointPort[]; eps: Map<string, Endpoint> }>>(types.map((t) => [t, new Map()]));
    for (const pod of this.candidates(svc, index)) {
      if (!selectorMatches(svc.spec.selector, pod.metadata.labels)) continue;
      const pkey = objectKey(pod);
      let ps = this.podServices.get(pkey);
      if (!ps) this.podServices.set(pkey, (ps = new Set()));
      ps.add(key);
      if (!shouldPodBeInEndpoints(pod)) continue;
      const node = pod.spec.nodeName !== undefined ? this.store.get('Node', pod.spec.nodeName) : undefined;
      // A pod whose node does not exist is left out (upstream requeues the Service).
      if (!node) continue;
      const ports = endpointPortsFor(svc, pod);
      const pk = portMapKey(ports);
      for (const t of types) {
        const ep = podToEndpoint(pod, node, svc, t);
        if (ep.addresses.length === 0) continue;
        const byPm = desired.get(t)!;
        if (!byPm.has(pk)) byPm.set(pk, { ports, eps: new Map() });
        byPm.get(pk)!.eps.set(endpointKey(ep), ep);
      }
    }

    const toCreate: EndpointSlice[] = [];
    const toUpdate: EndpointSlice[] = [];
    const toDelete: EndpointSlice[] = [];
    for (const s of existing) if (!types.includes(s.addressType as AddressType)) toDelete.push(s);
    for (const t of types) {
      const ex = existing.filter((s) => s.addressType === t);
      const r = this.reconcileByAddressType(svc, t, desired.get(t)!, ex);
      toCreate.push(...r.create);
      toUpdate.push(...r.update);
      toDelete.push(...r.delete);
    }
    // finalize: creates become updates of slices that would otherwise be deleted (same address type).
    for (let i = 0; i < toDelete.length && toCreate.length > 0; ) {
      const del = toDelete[i]!;
      const cr = toCreate[toCreate.length - 1]!;
      if (del.addressType === cr.addressType) {
        cr.metadata.name = del.metadata.name;
        toCreate.pop();
        toUpdate.push(cr);
        toDelete.splice(i, 1);
      } else i++;
    }
    const taken = new Set<string>();
    let n = 0;
    for (const s of toCreate) {
      const prefix = s.metadata.generateName!;
      let name: string;
      do name = `${prefix.slice(0, 58)}${nameSuffix(`${key}#${s.addressType}#${n++}`)}`;
      while (taken.has(name) || this.store.get('EndpointSlice', `${ns}/${name}`) !== undefined);
      taken.add(name);
      s.metadata.name = name;
    }
    if (toCreate.length + toUpdate.length + toDelete.length === 0) return;
    for (const s of [...toCreate, ...toUpdate]) this.remember(objectKey(s), key);
    for (const s of toDelete) this.forget(objectKey(s));
    // Every slice written here was built (or copied) for this write, from validated Services and
    // Pods: the store keeps it as is, without validating it again.
    this.store.transaction(
      (tx) => {
        for (const s of toDelete) tx.delete('EndpointSlice', objectKey(s));
        for (const s of [...toUpdate, ...toCreate]) tx.apply(s);
      },
      { adopt: true, trusted: true },
    );
  }

  private newSlice(svc: Service, t: AddressType, ports: EndpointPort[]): EndpointSlice {
    return {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: '',
        generateName: slicePrefix(svc.metadata.name),
        namespace: svc.metadata.namespace ?? 'default',
        labels: sliceLabels(svc),
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, ...(svc.metadata.uid ? { uid: svc.metadata.uid } : {}), controller: true, blockOwnerDeletion: true }],
      },
      addressType: t,
      endpoints: [],
      ports: cloneObject(ports),
    };
  }

  /** reconcileByAddressType + reconcileByPortMapping (reconciler.go), with ordered sets. */
  private reconcileByAddressType(
    svc: Service,
    t: AddressType,
    desired: Map<string, { ports: EndpointPort[]; eps: Map<string, Endpoint> }>,
    existing: readonly EndpointSlice[],
  ): { create: EndpointSlice[]; update: EndpointSlice[]; delete: EndpointSlice[] } {
    const create: EndpointSlice[] = [];
    const update: EndpointSlice[] = [];
    const del: EndpointSlice[] = [];
    const labels = sliceLabels(svc);
    const byPm = new Map<string, EndpointSlice[]>();
    for (const s of existing) {
      const k = portMapKey(s.ports ?? []);
      if (!byPm.has(k)) byPm.set(k, []);
      byPm.get(k)!.push(s);
    }
    for (const [pk, want] of desired) {
      const slices = byPm.get(pk) ?? [];
      const set = new Map(want.eps);
      const byName = new Map<string, EndpointSlice>();
      const unchanged = new Set<string>();
      const toUpdate = new Set<string>();
      const toDelete = new Set<string>();
      // 1. Keep desired endpoints where they are; drop the rest.
      for (const s of slices) {
        byName.set(s.metadata.name, s);
        const kept: Endpoint[] = [];
        let changed = false;
        for (const ep of s.endpoints) {
          const got = set.get(endpointKey(ep));
          if (got) {
            kept.push(got);
            if (!same(got, ep)) changed = true;
            set.delete(endpointKey(ep));
          }
        }
        const labelsChanged = !same(s.metadata.labels ?? {}, labels);
        if (changed || kept.length !== s.endpoints.length) {
          if (kept.length === 0) toDelete.add(s.metadata.name);
          else {
            const c = cloneObject(s);
            c.endpoints = kept;
            c.metadata.labels = { ...labels };
            byName.set(c.metadata.name, c);
            toUpdate.add(c.metadata.name);
          }
        } else if (labelsChanged) {
          const c = cloneObject(s);
          c.metadata.labels = { ...labels };
          byName.set(c.metadata.name, c);
          toUpdate.add(c.metadata.name);
        } else unchanged.add(s.metadata.name);
      }
      const pop = (): Endpoint => {
        const [k, v] = set.entries().next().value as [string, Endpoint];
        set.delete(k);
        return v;
      };
      // 2. Fill slices being updated anyway, fullest first.
      if (set.size > 0 && toUpdate.size > 0) {
        const ups = [...toUpdate].map((n) => byName.get(n)!).sort((a, b) => b.endpoints.length - a.endpoints.length);
        for (const s of ups) while (set.size > 0 && s.endpoints.length < this.max) s.endpoints.push(pop());
      }
      // 3. Fit the rest into an unchanged slice with room, or new slices.
      while (set.size > 0) {
        let fill: EndpointSlice | undefined;
        if (set.size < this.max && unchanged.size > 0) {
          let closest = this.max;
          for (const n of unchanged) {
            const s = byName.get(n)!;
            const diff = this.max - (set.size + s.endpoints.length);
            if (diff >= 0 && diff < closest) {
              closest = diff;
              fill = s;
            }
          }
        }
        if (!fill) fill = this.newSlice(svc, t, want.ports);
        else {
          fill = cloneObject(fill);
          byName.set(fill.metadata.name, fill);
        }
        while (set.size > 0 && fill.endpoints.length < this.max) fill.endpoints.push(pop());
        if (fill.metadata.name !== '') {
          toUpdate.add(fill.metadata.name);
          unchanged.delete(fill.metadata.name);
        } else create.push(fill);
      }
      for (const n of toUpdate) update.push(byName.get(n)!);
      for (const n of toDelete) del.push(byName.get(n)!);
    }
    for (const [pk, slices] of byPm) if (!desired.has(pk)) del.push(...slices);
    // A placeholder slice when no slice would exist for this address type.
    if (existing.length === del.length && create.length === 0) {
      const ph = this.newSlice(svc, t, []);
      const keep = del.length === 1 && same(del[0]!.ports ?? [], []) && del[0]!.endpoints.length === 0 && same(del[0]!.metadata.labels, ph.metadata.labels);
      if (keep) del.length = 0;
      else create.push(ph);
    }
    return { create, update, delete: del };
  }
}

/**
 * Starts the controller on a store: reconciles every Service now, then on every Service, Pod,
 * Node and EndpointSlice change. Services that already have slices are left as they are.
 */
export function runEndpointSliceController(store: ClusterStore, opts: EndpointSliceControllerOptions = {}): EndpointSliceController {
  const c = new Controller(store, opts);
  c.start();
  return c;
}
