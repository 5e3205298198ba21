import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Service } from '../src/cluster/objects.js';
import { loadTopologyText } from '../src/cluster/spec/loader.js';
import type { Topology } from '../src/cluster/spec/types.js';
import { buildWorld, type World } from '../src/cluster/world.js';
import { compileRuleset, type CompiledRuleset } from '../src/netfilter/index.js';
import { traceDelivered, traceRequest } from '../src/tracer/index.js';
import { measure } from './harness.js';
import type { BenchSuite, Figure } from './harness.js';

/**
 * Issue 5 item 9: a flannel-vxlan cluster of 1,000 nodes, 10,000 ClusterIP Services and 100,000
 * endpoints — build time (topology JSON → loadTopologyText → buildWorld), memory, and the median
 * latency of one pod → ClusterIP trace with its reply (target ≤ 1 ms), then the same with the
 * netfilter index off.
 */

export interface BenchClusterShape {
  readonly nodes: number;
  readonly services: number;
  readonly endpointsPerService: number;
  /** Workloads as Deployments (expanded by the loader) or as explicit Pods. */
  readonly workloads: 'deployments' | 'pods';
  /** Namespaces the Services are spread over. */
  readonly namespaces: number;
  /**
   * Give every node a podCIDR of this prefix (node i the i-th of the cluster CIDR 10.128.0.0/14)
   * instead of the node IPAM's /24: lets a few nodes hold 100,000 pods.
   */
  readonly nodePodPrefix?: number;
}

/** The client pod every trace starts from, and where it runs. */
export const BENCH_CLIENT = 'default/client';

const SVC_PORT = 80;
const TARGET_PORT = 8080;

function nodeName(i: number): string {
  return `node-${String(i + 1).padStart(4, '0')}`;
}

/** 172.16.0.0/16 holds the nodes: node i at 172.16.0.10 + i. */
function nodeIp(i: number): string {
  const n = 10 + i;
  return `172.16.${n >> 8}.${n & 255}`;
}

/** The i-th /prefix of 10.128.0.0/14. */
function nodePodCIDR(i: number, prefix: number): string {
  const n = ((10 << 24) | (128 << 16)) + i * 2 ** (32 - prefix);
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${prefix}`;
}

export function serviceName(s: number): string {
  return `svc-${s}`;
}
export function serviceNamespace(s: number, shape: BenchClusterShape): string {
  return `team-${s % shape.namespaces}`;
}

/**
 * The topology as JSON text (YAML 1.2 reads it too): every node on one /16 segment, flannel vxlan,
 * kube-proxy iptables, one ClusterIP Service per workload, a client pod on the first node.
 */
export function benchTopologyText(shape: BenchClusterShape): string {
  const nodes = Array.from({ length: shape.nodes }, (_, i) => ({ name: nodeName(i), ip: nodeIp(i), network: 'dc', ...(shape.nodePodPrefix ? { podCIDR: nodePodCIDR(i, shape.nodePodPrefix) } : {}) }));
  const container = { name: 'app', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', ports: [{ name: 'http', containerPort: TARGET_PORT, protocol: 'TCP' }] };
  const objects: unknown[] = [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client', namespace: 'default', labels: { run: 'client' } },
      spec: { nodeName: nodeName(0), containers: [{ name: 'client', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53' }] },
    },
  ];
  for (let s = 0; s < shape.services; s++) {
    const name = serviceName(s);
    const namespace = serviceNamespace(s, shape);
    const labels = { app: name };
    if (shape.workloads === 'deployments') {
      objects.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace, labels },
        spec: { replicas: shape.endpointsPerService, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [container] } } },
      });
    } else {
      for (let e = 0; e < shape.endpointsPerService; e++) {
        objects.push({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-${e}`, namespace, labels }, spec: { containers: [container] } });
      }
    }
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { type: 'ClusterIP', selector: labels, ports: [{ name: 'http', port: SVC_PORT, targetPort: 'http', protocol: 'TCP' }] },
    });
  }
  const topo = {
    name: `bench-${shape.nodes}-nodes`,
    cluster: { podCIDR: '10.128.0.0/14', serviceCIDR: '10.96.0.0/12', cni: { plugin: 'flannel', mode: 'vxlan' }, kubeProxy: { mode: 'iptables' } },
    underlay: { networks: [{ name: 'dc', cidr: '172.16.0.0/16', mtu: 1500 }], routers: [{ name: 'gw', interfaces: [{ network: 'dc', ip: '172.16.0.1' }] }] },
    nodes,
    clients: [{ name: 'laptop', ip: '172.16.255.200', network: 'dc' }],
    objects,
  };
  return JSON.stringify(topo);
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Loads the generated topology, timed. */
export async function loadBenchTopology(shape: BenchClusterShape): Promise<{ topo: Topology; text: string; loadMs: number }> {
  const text = benchTopologyText(shape);
  const t0 = process.hrtime.bigint();
  const topo = await loadTopologyText(text, `<bench ${shape.nodes} nodes>`);
  return { topo, text, loadMs: ms(t0) };
}

/** A full garbage collection: `npm run bench` starts node without --expose-gc, so the flag is set at run time. */
function collect(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
const gc = collect();

function heapMiB(): number {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** The issue's cluster. */
const ISSUE_SHAPE: BenchClusterShape = { nodes: 1000, services: 10_000, endpointsPerService: 10, workloads: 'deployments', namespaces: 50 };

/** The ClusterIP Services of the bench, in a scattered order so consecutive traces hit different Services, nodes and chains. */
function targets(topo: Topology): string[] {
  const out: string[] = [];
  const all = (topo.store.list('Service') as Service[]).filter((s) => s.metadata.name.startsWith('svc-') && s.spec.clusterIP);
  for (let i = 0; i < all.length; i++) {
    const s = all[(i * 7919) % all.length]!;
    out.push(`${s.spec.clusterIP}:80`);
  }
  return out;
}

/** The compiled ruleset of every node a trace entered swapped for one compiled with or without the index; returns the previous ones. */
function swapRulesets(world: World, index: boolean): Map<string, CompiledRuleset> {
  const before = new Map<string, CompiledRuleset>();
  for (const n of world.nodes.values()) {
    const cfg = world.fabric.get(n.netns).config;
    if (!cfg.compiledYet) continue;
    before.set(n.netns, cfg.ruleset);
    cfg.ruleset = compileRuleset(n.ruleset, { index });
  }
  return before;
}

const suite: BenchSuite = {
  name: 'trace',
  async run(): Promise<Figure[]> {
    const figures: Figure[] = [];
    const base = heapMiB();

    // ---- 1. the issue's cluster: 1,000 nodes, 10,000 Services, 100,000 endpoints — loaded and built
    const { topo, text, loadMs } = await loadBenchTopology(ISSUE_SHAPE);
    const pods = topo.store.count('Pod');
    const endpoints = (topo.store.list('EndpointSlice') as { endpoints: unknown[] }[]).reduce((n, s) => n + s.endpoints.length, 0);
    figures.push({ name: `topology: ${ISSUE_SHAPE.nodes} nodes, ${ISSUE_SHAPE.services} Services × ${ISSUE_SHAPE.endpointsPerService}`, value: text.length / 2 ** 20, unit: 'MiB JSON', note: `${ISSUE_SHAPE.services} Deployments; ${pods} pods, ${endpoints} endpoints after loading` });
    figures.push({ name: 'load (loadTopologyText: parse, validate, allocate, slices)', value: loadMs / 1000, unit: 's', target: '≤ 10 s', ok: loadMs <= 10_000 });
    const h1 = heapMiB();
    figures.push({ name: 'heap used by the loaded topology', value: h1 - base, unit: 'MiB' });
    let t = process.hrtime.bigint();
    const world = buildWorld(topo);
    const buildMs = ms(t);
    const worldMiB = heapMiB() - h1;
    figures.push({ name: `buildWorld (${ISSUE_SHAPE.nodes} nodes, ${world.pods.size} pods)`, value: buildMs / 1000, unit: 's', note: `${world.fabric.netns.size} network namespaces; kube-proxy rules generated once per class of alike nodes, rulesets made and compiled when a trace first enters a node` });
    figures.push({ name: 'heap used by the World', value: worldMiB, unit: 'MiB', note: `RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB` });

    // ---- 2. one pod → ClusterIP trace with its reply, seeded (one outcome), a different Service each time
    const all = targets(topo);
    const dests = all.slice(0, 200);
    let k = 0;
    const once = () => traceRequest(world, { from: `pod/${BENCH_CLIENT}`, to: dests[k++ % dests.length]!, seed: k });
    // The first trace into a node makes its tables (kube-proxy's shared, flanneld's own) and compiles
    // the chains the packet reaches.
    t = process.hrtime.bigint();
    const first = once();
    const firstMs = ms(t);
    if (!traceDelivered(first.trace)) throw new Error(`bench trace not delivered: ${JSON.stringify(first.trace.outcomes.map((o) => [o.disposition, o.reason]))}`);
    t = process.hrtime.bigint();
    for (let i = 1; i < dests.length; i++) {
      const r = once();
      if (!traceDelivered(r.trace)) throw new Error(`bench trace ${i} not delivered: ${JSON.stringify(r.trace.outcomes.map((o) => [o.disposition, o.reason, o.reply?.disposition]))}`);
    }
    const warmEach = ms(t) / (dests.length - 1);
    // Steady state: every endpoint of these Services reached once (--all), so every node a measured
    // trace can enter has made its tables.
    for (const d of dests) traceRequest(world, { from: `pod/${BENCH_CLIENT}`, to: d, all: true });
    const entered = [...world.nodes.values()].filter((n) => world.fabric.get(n.netns).config.compiledYet).length;
    figures.push({ name: 'first trace (the client node\'s tables made on entry)', value: firstMs, unit: 'ms' });
    figures.push({ name: `first trace into each new node (mean over ${dests.length - 1})`, value: warmEach, unit: 'ms', note: `then every endpoint of the ${dests.length} Services traced once: ${entered} nodes entered; heap now ${(heapMiB() - base).toFixed(0)} MiB` });
    const sample = once().trace.outcomes[0]!;
    const hops = sample.hops.length + (sample.reply?.hops.length ?? 0);
    const indexed = measure('trace indexed', once, { maxTime: 5, minSamples: 30 });
    figures.push({ name: 'pod → ClusterIP trace + reply, indexed (median)', value: indexed.medianUs / 1000, unit: 'ms', target: '≤ 1 ms', ok: indexed.medianUs <= 1000, note: `${indexed.samples} samples over ${dests.length} Services, mean ${(indexed.meanUs / 1000).toFixed(2)} ms; e.g. ${hops} hops` });

    // the same through the Service name (resolves svc/NS/NAME:PORT in the store first)
    const svcs = (topo.store.list('Service') as Service[]).filter((s) => s.metadata.name.startsWith('svc-'));
    const named = dests.map((_, i) => svcs[(i * 7919) % svcs.length]!);
    let j = 0;
    const byName = measure('trace svc/', () => {
      const s = named[j++ % named.length]!;
      traceRequest(world, { from: `pod/${BENCH_CLIENT}`, to: `svc/${s.metadata.namespace}/${s.metadata.name}:80`, seed: j });
    }, { maxTime: 3, minSamples: 20 });
    figures.push({ name: 'same, to svc/NS/NAME:80 (median)', value: byName.medianUs / 1000, unit: 'ms' });

    // ---- 3. the netfilter index off (the nodes entered get index-less rulesets)
    t = process.hrtime.bigint();
    const previous = swapRulesets(world, false);
    const linearCompileMs = ms(t);
    for (const d of dests) traceRequest(world, { from: `pod/${BENCH_CLIENT}`, to: d, all: true });
    const linear = measure('trace linear', once, { maxTime: 5, minSamples: 10 });
    for (const [ns, rs] of previous) world.fabric.get(ns).config.ruleset = rs;
    figures.push({ name: 'same, netfilter index off (median)', value: linear.medianUs / 1000, unit: 'ms', note: `${linear.samples} samples; ${previous.size} rulesets swapped in ${(linearCompileMs / 1000).toFixed(1)} s` });
    figures.push({ name: 'index off / indexed', value: linear.medianUs / indexed.medianUs, unit: '×' });
    return figures;
  },
};

export default suite;
