/**
 * `podpath compare`: one request under several CNI × kube-proxy modes. Each variant is the user's
 * topology document with cluster.cni and cluster.kubeProxy replaced, loaded again by the topology
 * loader (so it is validated and its pods get the variant's IPAM addresses), built into a World and
 * traced; the row holds the figures read back from that World and trace (measure.ts).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InputError, cidrContains, parseCidr, parseIp, isIp, type Problem } from '../base/index.js';
import type { Service } from '../cluster/objects.js';
import { loadTopologyObject } from '../cluster/spec/loader.js';
import type { Topology } from '../cluster/spec/types.js';
import { buildWorld, type World } from '../cluster/world.js';
import type { Disposition, Outcome, Trace } from '../trace/index.js';
import { bgpSessions, nodeRouteCounts, pathFigures, podMtus, rangeOf, traceHasIpvs, type Range } from './measure.js';
import { CNI_MODES, CNI_MODE_SPECS, PROXY_MODES, variantDocument, type CniModeName, type ProxyModeName } from './modes.js';

/** The topology as the user wrote it: its document (plain YAML/JSON value) and the file it came from (anchors relative manifest paths). */
export interface CompareSource {
  readonly document: unknown;
  readonly file: string;
}

/** The request traced under every mode (INTERFACES.md §2 `podpath trace`'s SRC and DST). */
export interface CompareRequest {
  readonly from: string;
  readonly to: string;
  readonly proto?: 'tcp' | 'udp' | 'icmp';
  readonly sport?: number;
}

/** The tracer's request as compare uses it (a subset of src/tracer's TraceRequest). */
export interface CompareTraceRequest extends CompareRequest {
  readonly all: boolean;
  readonly seed: number;
  readonly reply: boolean;
}

/**
 * The tracer, passed in: compare and tracer are both layer 5 of DESIGN.md and may not import each
 * other, so the caller (CLI, inspector) hands over `traceRequest` from src/index.ts.
 */
export type CompareTracer = (world: World, request: CompareTraceRequest) => { readonly trace: Trace };

export interface CompareOptions {
  readonly trace: CompareTracer;
  /** CNI modes, in table order (default: all of CNI_MODES). */
  readonly modes?: readonly CniModeName[];
  /** kube-proxy modes (default: iptables, ipvs). */
  readonly proxies?: readonly ProxyModeName[];
  /** Enumerate every outcome with its probability (default: one seeded outcome). */
  readonly all?: boolean;
  readonly seed?: number;
}

/**
 * - `ok`: built and traced; the figures are the variant's.
 * - `error`: the variant does not load or build (its error text in `error`); no figures.
 * - `unmodelled`: traced, but the trace crossed no IPVS step although kube-proxy runs in IPVS mode
 *   and the destination is a Service: podpath does not yet model that datapath, so no figures.
 */
export type CompareStatus = 'ok' | 'error' | 'unmodelled';

/** One outcome of a row, as `podpath trace --all` lists them. */
export interface CompareOutcome {
  readonly probability: number;
  readonly disposition: Disposition;
  readonly reason: string | null;
  readonly endpoint: string | null;
  readonly replyDisposition: Disposition | null;
  readonly hops: number;
  readonly encapBytes: number;
  readonly rules: number;
  readonly ipvsLookups: number;
}

export interface CompareRow {
  readonly mode: CniModeName;
  readonly proxy: ProxyModeName;
  readonly status: CompareStatus;
  /** Why there are no figures (status error or unmodelled), else null. */
  readonly error: string | null;
  /** Every outcome delivered and its reply back at the client as it expects (exit 0 of `podpath trace`). */
  readonly delivered: boolean;
  /** The one disposition of every outcome, or null when they differ (see `outcomes`) or there are none. */
  readonly disposition: Disposition | null;
  readonly outcomes: readonly CompareOutcome[];
  /** Namespaces crossed by the request, over the outcomes. */
  readonly hops: Range | null;
  /** Bytes of encapsulation per packet (VXLAN 50, IPIP 20, none 0), measured from the encap steps. */
  readonly encapBytes: Range | null;
  /** Devices that encapsulated on the request path, over the outcomes. */
  readonly encapDevices: readonly string[];
  /** eth0 MTU of the pods in the variant's World (min–max over pods). */
  readonly podMtu: Range | null;
  /** Netfilter rules evaluated over the request path (linear kernel walk). */
  readonly rulesEvaluated: Range | null;
  /** IPVS lookups over the request path (0 in iptables mode). */
  readonly ipvsLookups: Range | null;
  /** Routes in each node's main table, min–max over nodes. */
  readonly nodeRoutes: Range | null;
  /** Established BGP sessions in the cluster (Calico BGP modes; 0 for Flannel and Calico VXLAN). */
  readonly bgpSessions: number | null;
  /** BGP sessions configured (established or not). */
  readonly bgpSessionsConfigured: number | null;
}

/** Fields of a CompareTraceRequest that are the user's (a bad one is bad input, not a row error). */
const REQUEST_FIELDS = new Set(['--from', '--to', '--proto', '--sport', '--size']);

const isRequestProblem = (e: unknown): boolean => e instanceof InputError && e.problems.some((p) => p.field !== undefined && REQUEST_FIELDS.has(p.field) && p.file === undefined);

function describe(e: unknown): string {
  if (e instanceof InputError) return e.problems.filter((p) => p.severity !== 'warning').map((p) => p.message).join('; ') || e.message;
  return e instanceof Error ? e.message : String(e);
}

/** Mirrors `podpath trace`'s exit status: every outcome delivered, its reply (when traced) back as the client expects. */
function delivered(trace: Trace): boolean {
  return trace.outcomes.length > 0 && trace.outcomes.every((o) => o.disposition === 'delivered' && (!o.reply || (o.reply.disposition === 'delivered' && o.reply.matchesRequest !== false)));
}

/** Is DST a Service address, so that IPVS mode must show an IPVS decision on the way? */
function addressesService(topo: Topology, to: string): boolean {
  if (to.startsWith('svc/') || /\.svc(\.cluster\.local)?(:|$)/.test(to)) return true;
  const host = to.lastIndexOf(':') >= 0 ? to.slice(0, to.lastIndexOf(':')) : to;
  if (!isIp(host)) return false;
  const ip = parseIp(host);
  if (topo.cluster.serviceCIDRs.some((c) => cidrContains(parseCidr(c), ip))) return true;
  for (const s of topo.store.list('Service') as Service[]) {
    if ((s.spec.externalIPs ?? []).includes(host)) return true;
    if ((s.status?.loadBalancer?.ingress ?? []).some((i) => i.ip === host)) return true;
  }
  return false;
}

function outcomeRow(o: Outcome): CompareOutcome {
  const f = pathFigures(o);
  return {
    probability: o.probability,
    disposition: o.disposition,
    reason: o.reason,
    endpoint: o.endpoint ? (o.endpoint.pod ?? o.endpoint.ip) : null,
    replyDisposition: o.reply ? o.reply.disposition : null,
    hops: f.hops,
    encapBytes: f.encapBytes,
    rules: f.rules,
    ipvsLookups: f.ipvsLookups,
  };
}

const EMPTY = { outcomes: [], hops: null, encapBytes: null, encapDevices: [], podMtu: null, rulesEvaluated: null, ipvsLookups: null, nodeRoutes: null, bgpSessions: null, bgpSessionsConfigured: null, disposition: null, delivered: false } as const;

/** A SRC or DST given as a pod's address names a different pod (or none) once IPAM changes: names only. */
function checkNames(base: World, req: CompareRequest): void {
  const problems: Problem[] = [];
  const fromIp = isIp(req.from) ? req.from : null;
  const toHost = req.to.lastIndexOf(':') >= 0 ? req.to.slice(0, req.to.lastIndexOf(':')) : req.to;
  for (const [field, ip] of [['--from', fromIp], ['--to', isIp(toHost) ? toHost : null]] as const) {
    if (ip === null) continue;
    const o = base.owners.get(ip);
    if (o?.kind === 'pod' || o?.kind === 'cni') {
      problems.push({ field, message: `${ip} is an address of ${o.kind === 'pod' ? `pod ${o.name}` : `node ${o.name}'s pod network`}, which Flannel and Calico IPAM number differently: name it (${o.kind === 'pod' ? `pod/${o.name}` : `node/${o.name}`})` });
    }
  }
  if (problems.length) throw new InputError(problems);
}

/** One variant: load, build, trace, measure. Topology and build errors become the row's error. */
async function compareOne(src: CompareSource, req: CompareRequest, mode: CniModeName, proxy: ProxyModeName, opts: CompareOptions): Promise<CompareRow> {
  const head = { mode, proxy } as const;
  let world: World;
  try {
    const topo = await loadTopologyObject(variantDocument(src.document, mode, proxy), src.file);
    world = buildWorld(topo);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { ...head, ...EMPTY, status: 'error', error: describe(e) };
  }
  let trace: Trace;
  try {
    trace = opts.trace(world, { ...req, all: opts.all === true, seed: opts.seed ?? 1, reply: true }).trace;
  } catch (e) {
    if (isRequestProblem(e)) throw e;
    if (!(e instanceof InputError)) throw e;
    return { ...head, ...EMPTY, status: 'error', error: describe(e) };
  }
  if (proxy === 'ipvs' && addressesService(world.topology, req.to) && !traceHasIpvs(trace)) {
    return { ...head, ...EMPTY, status: 'unmodelled', error: 'ipvs datapath not modelled: the trace crossed no IPVS decision' };
  }
  const outcomes = trace.outcomes.map(outcomeRow);
  const disps = new Set(outcomes.map((o) => o.disposition));
  const routes = [...nodeRouteCounts(world).values()];
  const bgp = bgpSessions(world);
  const devs: string[] = [];
  for (const o of trace.outcomes) for (const d of pathFigures(o).encapDevices) if (!devs.includes(d)) devs.push(d);
  return {
    ...head,
    status: 'ok',
    error: null,
    delivered: delivered(trace),
    disposition: disps.size === 1 ? [...disps][0]! : null,
    outcomes,
    hops: rangeOf(outcomes.map((o) => o.hops)),
    encapBytes: rangeOf(outcomes.map((o) => o.encapBytes)),
    encapDevices: devs,
    podMtu: rangeOf(podMtus(world)),
    rulesEvaluated: rangeOf(outcomes.map((o) => o.rules)),
    ipvsLookups: rangeOf(outcomes.map((o) => o.ipvsLookups)),
    nodeRoutes: rangeOf(routes),
    bgpSessions: bgp.established,
    bgpSessionsConfigured: bgp.configured,
  };
}

/**
 * The request under each (CNI mode × kube-proxy mode), modes outer, proxies inner, in the order
 * given. Bad input (unknown names, a SRC/DST that does not resolve, a pod address as SRC/DST) throws
 * InputError; a variant that does not load or build is a row with status `error`.
 * The base topology must load (callers load it first to report its problems with lines).
 */
export async function compareModes(source: CompareSource, request: CompareRequest, options: CompareOptions): Promise<CompareRow[]> {
  const modes = options.modes ?? CNI_MODES;
  const proxies = options.proxies ?? PROXY_MODES;
  for (const m of modes) if (!(m in CNI_MODE_SPECS)) throw new InputError({ field: '--modes', message: `unknown mode "${m}" (valid: ${CNI_MODES.join(', ')})` });
  for (const p of proxies) if (!PROXY_MODES.includes(p)) throw new InputError({ field: '--proxy', message: `unknown mode "${p}" (valid: ${PROXY_MODES.join(', ')})` });
  if (options.seed !== undefined && (!Number.isInteger(options.seed) || options.seed < 0)) throw new InputError({ field: '--seed', message: `${options.seed} is not a seed (a non-negative integer)` });
  // the request must make sense on the topology as given: resolve it there once
  const base = buildWorld(await loadTopologyObject(structuredClone(source.document), source.file));
  checkNames(base, request);
  options.trace(base, { ...request, all: false, seed: options.seed ?? 1, reply: false });
  const rows: CompareRow[] = [];
  for (const m of modes) for (const p of proxies) rows.push(await compareOne(source, request, m, p, options));
  return rows;
}

/** Exit status of `podpath compare`: 0 when every row delivered. */
export function compareDelivered(rows: readonly CompareRow[]): boolean {
  return rows.length > 0 && rows.every((r) => r.status === 'ok' && r.delivered);
}

/**
 * Reads a topology file's document as a compare source. Load the file with loadTopology first:
 * it reports the file's problems with their lines; the variants name file and field.
 */
export async function readCompareSource(path: string): Promise<CompareSource> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError({ file: path, message: `cannot read topology file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  return { document: parseYaml(text, { maxAliasCount: 100 }) as unknown, file };
}
