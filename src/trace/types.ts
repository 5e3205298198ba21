/**
 * The trace record (INTERFACES.md §3). Written by the code that decides, rendered several ways.
 * Plain JSON-able data only: no class instances, no bytes except hex strings.
 */

/** Closed set of final dispositions. Success: delivered, exits-cluster. Everything else is a failure. */
export type Disposition =
  | 'delivered'
  | 'exits-cluster'
  | 'dropped'
  | 'rejected'
  | 'no-route'
  | 'blackhole'
  | 'neighbour-unreachable'
  | 'ttl-exceeded'
  | 'loop'
  | 'mtu-exceeded'
  | 'no-listener';

export const DISPOSITIONS: readonly Disposition[] = [
  'delivered',
  'exits-cluster',
  'dropped',
  'rejected',
  'no-route',
  'blackhole',
  'neighbour-unreachable',
  'ttl-exceeded',
  'loop',
  'mtu-exceeded',
  'no-listener',
];

export function isSuccess(d: Disposition): boolean {
  return d === 'delivered' || d === 'exits-cluster';
}

/** Netfilter hooks (and the IPVS/bridge points that sit on them). */
export type HookName = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';

/** Closed set of step kinds. `chain`, `hook` and `rule` (for a jump) may hold child steps. */
export type StepKind =
  | 'hook'
  | 'chain'
  | 'rule'
  | 'policy'
  | 'conntrack'
  | 'nat'
  | 'route'
  | 'neigh'
  | 'bridge'
  | 'ipvs'
  | 'encap'
  | 'decap'
  | 'deliver'
  | 'drop'
  | 'note';

/** What a rule did with the packet, as the rule step reports it. */
export type RuleVerdict =
  | 'no-match'
  | 'continue' // matched, non-terminating target (MARK, LOG, CONNMARK, …), walk goes on
  | 'jump'
  | 'goto'
  | 'return'
  | 'accept'
  | 'drop'
  | 'reject'
  | 'dnat'
  | 'snat'
  | 'masquerade'
  | 'redirect'
  | 'notrack'
  | 'queue';

/** Fields common to every step. `text` is the one-line human rendering of the step. */
interface StepBase {
  kind: StepKind;
  text: string;
  children?: Step[];
  /** Where the thing that made this step came from, e.g. the Service and endpoint behind a rule. */
  provenance?: Provenance[];
}

export interface Provenance {
  kind: string; // e.g. "Service", "EndpointSlice", "Node", "kube-proxy", "flannel"
  name: string; // e.g. "default/web"
  detail?: string; // e.g. "port http", "endpoint 10.244.2.7:8080"
}

export interface HookStep extends StepBase {
  kind: 'hook';
  hook: HookName;
}
export interface ChainStep extends StepBase {
  kind: 'chain';
  table: string;
  chain: string;
  /** Rules the walk actually evaluated in this chain (after indexing). */
  evaluated: number;
  /** Rules a linear kernel walk would have evaluated in this chain. */
  linearEvaluated: number;
}
export interface RuleStep extends StepBase {
  kind: 'rule';
  table: string;
  chain: string;
  /** 1-based position of the rule in its chain (as `iptables -L --line-numbers`). */
  index: number;
  /** The rule as iptables-save prints it, starting with `-A CHAIN`. */
  rule: string;
  verdict: RuleVerdict;
}
export interface PolicyStep extends StepBase {
  kind: 'policy';
  table: string;
  chain: string;
  policy: 'ACCEPT' | 'DROP';
}
export interface ConntrackStep extends StepBase {
  kind: 'conntrack';
  /** e.g. "new", "established", "related", "reply", "confirmed", "invalid", "untracked" */
  state: string;
  entry?: string; // `conntrack -L` line
}
export interface NatStep extends StepBase {
  kind: 'nat';
  /** IPVS: ip_vs_nat_xmit's rewrite of the destination; un-IPVS: handle_response's rewrite of a reply's source. */
  nat: 'DNAT' | 'SNAT' | 'MASQUERADE' | 'REDIRECT' | 'un-DNAT' | 'un-SNAT' | 'IPVS' | 'un-IPVS';
  before: Endpoint;
  after: Endpoint;
}
export interface RouteStep extends StepBase {
  kind: 'route';
  table: string;
  /** The route as `ip route` prints it, or null when none matched. */
  route: string | null;
  result: 'local' | 'forward' | 'unicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'no-route';
}
export interface NeighStep extends StepBase {
  kind: 'neigh';
  ip: string;
  mac: string | null;
  dev: string;
}
export interface BridgeStep extends StepBase {
  kind: 'bridge';
  bridge: string;
  port: string | null;
}
export interface IpvsStep extends StepBase {
  kind: 'ipvs';
  service: string;
  realServer: string | null;
}
export interface EncapStep extends StepBase {
  kind: 'encap';
  dev: string;
  outer: string; // one-line summary of the outer headers
  overhead: number; // bytes added
}
export interface DecapStep extends StepBase {
  kind: 'decap';
  dev: string;
  outer: string;
}
export interface DeliverStep extends StepBase {
  kind: 'deliver';
  to: string; // e.g. "pod default/web-1 tcp:8080", "local socket"
}
export interface DropStep extends StepBase {
  kind: 'drop';
  reason: string;
}
export interface NoteStep extends StepBase {
  kind: 'note';
}

export type Step =
  | HookStep
  | ChainStep
  | RuleStep
  | PolicyStep
  | ConntrackStep
  | NatStep
  | RouteStep
  | NeighStep
  | BridgeStep
  | IpvsStep
  | EncapStep
  | DecapStep
  | DeliverStep
  | DropStep
  | NoteStep;

/** An address and port as a NAT step or a received packet shows it. */
export interface Endpoint {
  ip: string;
  port?: number;
}

/** The five-tuple as the receiver sees it (INTERFACES.md §3 `received`, `final`). */
export interface FiveTuple {
  src: string;
  sport?: number;
  dst: string;
  dport?: number;
  proto: string;
}

/** A packet's headers as JSON: one object per layer, outermost first, plus a tcpdump-like line. */
export interface PacketSnapshot {
  summary: string;
  layers: Array<Record<string, string | number | boolean | null>>;
  /** Frame bytes as hex, when recorded (for pcap output and hex views). */
  hex?: string;
}

export interface Hop {
  node: string;
  netns: string;
  in: string | null;
  out: string | null;
  steps: Step[];
  packetIn: PacketSnapshot | Record<string, never>;
  packetOut: PacketSnapshot | Record<string, never>;
}

export interface Reply {
  disposition: Disposition;
  reason: string | null;
  received: FiveTuple | null;
  /** True when the client sees the reply from the address and port it sent to. */
  matchesRequest?: boolean;
  hops: Hop[];
}

export interface Outcome {
  probability: number;
  disposition: Disposition;
  reason: string | null;
  endpoint: { pod: string | null; ip: string; port?: number } | null;
  received: FiveTuple | null;
  masqueraded: boolean;
  hops: Hop[];
  reply?: Reply;
  /** `podpath netfilter` only. */
  verdict?: 'ACCEPT' | 'DROP' | 'REJECT';
  final?: FiveTuple | null;
}

export interface Trace {
  request: { from: string; to: string; proto: string; [k: string]: unknown };
  outcomes: Outcome[];
}
