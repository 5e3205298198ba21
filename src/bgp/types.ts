/**
 * BGP-4 message and route types (RFC 4271 §4, RFC 4456, RFC 6793, RFC 7911), as plain data.
 * Bytes live in wire.ts; behaviour in session.ts / network.ts.
 */

/** Session states of RFC 4271 §8.2.2 (BIRD's `show protocols` prints the same names). */
export type BgpState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';
export const BGP_STATES: readonly BgpState[] = ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];

/** ORIGIN attribute values (RFC 4271 §4.3: IGP 0, EGP 1, INCOMPLETE 2). */
export const ORIGIN = { IGP: 0, EGP: 1, INCOMPLETE: 2 } as const;
export type Origin = 0 | 1 | 2;

/**
 * Path attributes of one route, as they travel. `asPath` is one AS_SEQUENCE (BIRD and Calico never
 * build AS_SETs). `localPref` is carried on iBGP only; `originatorId`/`clusterList` are RFC 4456's
 * (router-id strings in dotted quad). Objects are immutable and shared between sessions.
 */
export interface PathAttributes {
  readonly origin: Origin;
  readonly asPath: readonly number[];
  readonly nextHop: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly originatorId?: string;
  readonly clusterList?: readonly string[];
}

/** OPEN capabilities (RFC 5492), the ones BIRD 1.x sends, plus any other code kept as bytes. */
export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number }
  | { readonly kind: 'route-refresh' }
  | { readonly kind: 'graceful-restart'; readonly restarting: boolean; readonly restartTime: number; readonly families: readonly { afi: number; safi: number; forwarding: boolean }[] }
  | { readonly kind: 'as4'; readonly asn: number }
  | { readonly kind: 'add-path'; readonly afi: number; readonly safi: number; readonly sendReceive: 1 | 2 | 3 }
  | { readonly kind: 'enhanced-route-refresh' }
  | { readonly kind: 'llgr'; readonly data: Uint8Array }
  | { readonly kind: 'unknown'; readonly code: number; readonly data: Uint8Array };

export interface OpenMessage {
  readonly type: 'OPEN';
  readonly version: number;
  /** The 2-octet "My Autonomous System" field's meaning: the real AS (AS_TRANS 23456 is written when it does not fit). */
  readonly asn: number;
  readonly holdTime: number;
  readonly bgpId: string;
  readonly capabilities: readonly Capability[];
}

/** One NLRI or withdrawn entry; `pathId` is present when ADD-PATH (RFC 7911) was negotiated. */
export interface Nlri {
  readonly prefix: string;
  readonly pathId?: number;
}

export interface UpdateMessage {
  readonly type: 'UPDATE';
  readonly withdrawn: readonly Nlri[];
  /** Present exactly when `nlri` is not empty. */
  readonly attrs?: PathAttributes;
  readonly nlri: readonly Nlri[];
}

export interface NotificationMessage {
  readonly type: 'NOTIFICATION';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

export interface KeepaliveMessage {
  readonly type: 'KEEPALIVE';
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage;
export type BgpMessageType = BgpMessage['type'];

/** Message type codes (RFC 4271 §4.1). */
export const MESSAGE_TYPE_CODE: Readonly<Record<BgpMessageType, number>> = { OPEN: 1, UPDATE: 2, NOTIFICATION: 3, KEEPALIVE: 4 };

/** NOTIFICATION error codes (RFC 4271 §4.5) and the Cease subcodes of RFC 4486. */
export const NOTIFY = {
  MESSAGE_HEADER_ERROR: 1,
  OPEN_MESSAGE_ERROR: 2,
  UPDATE_MESSAGE_ERROR: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM_ERROR: 5,
  CEASE: 6,
} as const;
export const CEASE = { ADMINISTRATIVE_SHUTDOWN: 2, PEER_DECONFIGURED: 3, CONNECTION_COLLISION: 7 } as const;
export const OPEN_ERROR = { UNSUPPORTED_VERSION: 1, BAD_PEER_AS: 2, BAD_BGP_ID: 3, UNACCEPTABLE_HOLD_TIME: 6 } as const;

/** Names as BIRD logs them (proto/bgp/packets.c bgp_msg_table). */
export function notificationText(code: number, subcode: number): string {
  const key = `${code}.${subcode}`;
  const known: Record<string, string> = {
    '1.0': 'Invalid message header', '2.0': 'Invalid OPEN message', '2.1': 'Unsupported version number',
    '2.2': 'Bad peer AS', '2.3': 'Bad BGP identifier', '2.6': 'Unacceptable hold time',
    '3.0': 'Invalid UPDATE message', '4.0': 'Hold timer expired', '5.0': 'Finite state machine error',
    '6.0': 'Cease', '6.2': 'Administrative shutdown', '6.3': 'Peer de-configured', '6.7': 'Connection collision resolution',
  };
  return known[key] ?? known[`${code}.0`] ?? `Error ${code}/${subcode}`;
}
