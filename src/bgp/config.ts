import type { PathAttributes } from './types.js';

/**
 * BIRD 1.x `protocol bgp` defaults, in seconds (projectcalico/bird proto/bgp/config.Y,
 * bgp_proto_start; keepalive = hold / 3 when unset, proto/bgp/packets.c bgp_rx_open).
 */
export const BIRD_BGP_DEFAULTS = {
  holdTime: 240,
  initialHoldTime: 240,
  connectDelayTime: 5,
  connectRetryTime: 120,
  errorWaitTime: [60, 300] as const,
  defaultLocalPref: 100,
  addPaths: false,
  gracefulRestart: 'aware' as const,
};

/**
 * What Calico's bird.cfg template sets on every BGP session (confd templates `bgp_template`,
 * golden bird.cfg of v3.30/v3.31): `graceful restart; connect delay time 2; connect retry time 5;
 * error wait time 5,30; add paths on; gateway recursive`. Hold and keepalive stay at BIRD's 240/80.
 */
export const CALICO_BGP_TEMPLATE = {
  connectDelayTime: 2,
  connectRetryTime: 5,
  errorWaitTime: [5, 30] as const,
  addPaths: true,
  gracefulRestart: true,
} as const;

/** BIRD's protocol preferences (nest/route.h DEF_PREF_STATIC 200, DEF_PREF_BGP 100): a local route beats a BGP one. */
export const PREFERENCE = { static: 200, bgp: 100 } as const;

/** One BGP speaker (a BIRD instance): `router id`, `local as`, its source address. */
export interface SpeakerConfig {
  readonly name: string;
  readonly routerId: string;
  readonly asn: number;
  /** The address sessions are sourced from and other speakers connect to (Calico: the node IP). */
  readonly address: string;
  /** More addresses that reach this speaker (a router's other interfaces). */
  readonly addresses?: readonly string[];
  /** Default `rr cluster id` for its rr-client sessions (BIRD's default is the router id). */
  readonly clusterId?: string;
  /**
   * Directly connected subnets. Only used for eBGP next hops: BIRD keeps a route's next hop towards
   * an eBGP neighbour on the same interface (bgp_update_attrs); here "same interface" = both
   * addresses in one of these subnets.
   */
  readonly connected?: readonly string[];
}

/** What a filter sees of a route. `source` is `static` for routes this speaker originates. */
export interface FilterRoute {
  readonly prefix: string;
  readonly attrs: PathAttributes;
  readonly source: 'static' | 'bgp';
  /** BIRD protocol the route came from (`static1`, `Mesh_192_168_56_12`, …). */
  readonly protocol: string;
  /** Name of the speaker it was learned from (bgp only). */
  readonly fromSpeaker?: string;
}

/**
 * The session a filter runs for. Import filters see the session itself. Export filters run once
 * per group of sessions with equal export settings (the filter function among them), so they see
 * no protocol or peer address: a per-peer export policy needs its own filter function.
 */
export interface FilterSession {
  readonly speaker: string;
  readonly protocol?: string;
  readonly peerAddress?: string;
  readonly peerAsn: number;
  readonly internal: boolean;
}

/**
 * A BIRD filter as a function: `false` = reject, `true` = accept unchanged, attributes = accept
 * with these (e.g. a rewritten next hop). Must be pure: the export side is re-evaluated rather
 * than stored (BIRD 1.x keeps no Adj-RIB-Out either).
 */
export type BgpFilter = (route: FilterRoute, session: FilterSession) => boolean | PathAttributes;

/** One `protocol bgp` block: the neighbour and its options. */
export interface NeighborConfig {
  readonly peerAddress: string;
  readonly peerAsn: number;
  /** BIRD protocol name; default `bgp_<peer ip with _>`. Calico: `Mesh_…`, `Node_…`, `Global_…`. */
  readonly name?: string;
  /** `passive on`: never connects, only accepts. */
  readonly passive?: boolean;
  /** `rr client`: this speaker reflects to/from this neighbour (RFC 4456). */
  readonly rrClient?: boolean;
  /** `rr cluster id`; defaults to the speaker's clusterId, then its router id. */
  readonly rrClusterId?: string;
  readonly nextHopSelf?: boolean;
  readonly nextHopKeep?: boolean;
  /** `source address`; defaults to the speaker's address. */
  readonly sourceAddress?: string;
  readonly importFilter?: BgpFilter;
  readonly exportFilter?: BgpFilter;
  readonly holdTime?: number;
  readonly keepaliveTime?: number;
  readonly connectDelayTime?: number;
  readonly connectRetryTime?: number;
  readonly errorWaitTime?: readonly [number, number];
  readonly addPaths?: boolean;
  readonly gracefulRestart?: boolean | 'aware';
}

/** Calico's mesh direction rule: a node is `passive on` towards a peer whose IP string is greater. */
export function calicoMeshPassive(localIp: string, peerIp: string): boolean {
  return peerIp > localIp;
}

/** Calico's protocol names: `Mesh_192_168_56_12` (also `Node_…`, `Global_…`). */
export function birdProtocolName(prefix: string, peerIp: string): string {
  return `${prefix}_${peerIp.replace(/[.:]/g, '_')}`;
}
