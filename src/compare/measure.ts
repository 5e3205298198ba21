/**
 * The figures of one compare row, read from the World that was built and the trace that ran over
 * it — never assumed from the mode's name: encapsulation from the trace's encap steps, rules from
 * its chain steps, MTU from the pods' eth0, routes from each node's FIB, BGP sessions from the
 * converged BIRD state of the World's topology.
 */
import { birdState } from '../cluster/controllers/calico/index.js';
import type { World } from '../cluster/world.js';
import { TABLE_MAIN } from '../routing/index.js';
import type { Hop, Outcome, Step, Trace } from '../trace/index.js';

/** A figure over several outcomes or nodes: equal min and max when there is one value. */
export interface Range {
  readonly min: number;
  readonly max: number;
}

export function rangeOf(values: readonly number[]): Range | null {
  if (values.length === 0) return null;
  return { min: Math.min(...values), max: Math.max(...values) };
}

function eachStep(hops: readonly Hop[], visit: (s: Step) => void): void {
  const walk = (s: Step): void => {
    visit(s);
    for (const c of s.children ?? []) walk(c);
  };
  for (const h of hops) for (const s of h.steps) walk(s);
}

/** What one outcome's request path did (the reply is not counted). */
export interface PathFigures {
  /** Namespaces the request crossed, the source's and the receiver's included. */
  readonly hops: number;
  /** Bytes the encapsulating devices added to each packet (sum of the encap steps' overhead). */
  readonly encapBytes: number;
  /** The encapsulating devices, in path order (flannel.1, tunl0, vxlan.calico). */
  readonly encapDevices: readonly string[];
  /**
   * Netfilter rules evaluated: the sum over every chain walked of the rules a linear kernel walk
   * evaluates there (nft_do_chain / ipt_do_table visit each rule until a verdict), over all hops.
   */
  readonly rules: number;
  /** IPVS lookups (ip_vs_in / ip_vs_out decisions) on the path: the trace's `ipvs` steps. */
  readonly ipvsLookups: number;
}

export function pathFigures(o: Outcome): PathFigures {
  let encapBytes = 0;
  const encapDevices: string[] = [];
  let rules = 0;
  let ipvsLookups = 0;
  eachStep(o.hops, (s) => {
    switch (s.kind) {
      case 'encap':
        encapBytes += s.overhead;
        encapDevices.push(s.dev);
        break;
      case 'chain':
        rules += s.linearEvaluated;
        break;
      case 'ipvs':
        ipvsLookups += 1;
        break;
      default:
        break;
    }
  });
  return { hops: o.hops.length, encapBytes, encapDevices, rules, ipvsLookups };
}

/** True when any outcome's request path holds an `ipvs` step. */
export function traceHasIpvs(trace: Trace): boolean {
  let found = false;
  for (const o of trace.outcomes) eachStep(o.hops, (s) => (found ||= s.kind === 'ipvs'));
  return found;
}

/** The MTU of eth0 in every pod namespace of the World (hostNetwork pods have none of their own). */
export function podMtus(world: World): number[] {
  const out: number[] = [];
  for (const p of world.pods.values()) {
    if (p.hostNetwork) continue;
    const eth0 = world.fabric.get(p.netns).spec.devices.find((d) => d.name === 'eth0');
    if (eth0) out.push(eth0.mtu);
  }
  return out;
}

/** Routes in each node's main table (what `ip route` lists), by node. */
export function nodeRouteCounts(world: World): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of world.nodes.values()) out.set(n.name, world.fabric.get(n.netns).spec.rib.routes(4, TABLE_MAIN).length);
  return out;
}

/**
 * BGP sessions in the cluster: distinct speaker pairs whose session BIRD brought to Established
 * (each session is configured on both sides; it counts once). Flannel and Calico VXLAN run no BGP: 0.
 * `configured` counts the pairs configured, up or not.
 */
export function bgpSessions(world: World): { established: number; configured: number } {
  const topo = world.topology;
  if (topo.cluster.cni.plugin !== 'calico') return { established: 0, configured: 0 };
  const st = birdState(topo);
  const pairs = new Map<string, boolean>();
  for (const s of st.sessions) {
    const key = [s.localAddress, s.peerAddress].sort().join(' ');
    pairs.set(key, (pairs.get(key) ?? false) || s.state === 'Established');
  }
  let established = 0;
  for (const up of pairs.values()) if (up) established++;
  return { established, configured: pairs.size };
}
