/**
 * The inspector's websocket protocol (docs/inspector-protocol.md): the messages a client may send,
 * checked field by field on receipt. A message that fails gets one `error` message back naming the
 * field; nothing changes. Server messages are typed here too so the UI and tests share one shape.
 */
import type { KubeKind, Trace } from '../index.js';
import type { ChangeSet, NodeDiff, ObjectEvent, TraceQuery } from './inspector.js';

export const PROTOCOL_VERSION = 1;
/** Largest client message answered with an error rather than read; ws closes above MAX_FRAME_BYTES. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Per connection: at most this many node and trace subscriptions. */
export const MAX_SUBSCRIPTIONS = 256;

export type ClientMessage =
  | { type: 'subscribe'; id?: string; nodes?: string[]; objects?: boolean; traces?: TraceSubscription[] }
  | { type: 'unsubscribe'; id?: string; nodes?: string[]; objects?: boolean; traces?: string[] }
  | { type: 'apply'; id?: string; yaml: string }
  | { type: 'delete'; id?: string; kind: KubeKind; key: string }
  | { type: 'ping'; id?: string };

export interface TraceSubscription extends TraceQuery {
  /** The client's name for this subscription; trace messages carry it. */
  id: string;
}

export type ServerMessage =
  | { type: 'hello'; protocol: number; topology: string; version: number; maxMessageBytes: number }
  | { type: 'ack'; id?: string; of: ClientMessage['type']; version: number; detail?: unknown }
  | { type: 'error'; id?: string; code: 'bad-json' | 'bad-message' | 'too-large' | 'rejected' | 'internal'; message: string; problems?: { field?: string; line?: number; message: string }[] }
  | { type: 'object'; version: number; event: ObjectEvent['type']; kind: ObjectEvent['kind']; key: string; object: ObjectEvent['object'] }
  | ({ type: 'node-diff'; version: number; how: ChangeSet['how']; cause: readonly string[] } & NodeDiff)
  | { type: 'change'; version: number; how: ChangeSet['how']; cause: readonly string[]; objects: number }
  | { type: 'trace'; id: string; version: number; request: TraceQuery; trace: Trace | null; error?: string }
  | { type: 'pong'; id?: string };

export class MessageError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'MessageError';
  }
}

type Rec = Record<string, unknown>;

const KIND_NAMES = ['Namespace', 'Node', 'Pod', 'Service', 'EndpointSlice', 'Deployment', 'ReplicaSet'];
const PROTOS = ['tcp', 'udp', 'icmp'];
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,252}$/;

function onlyKeys(o: Rec, allowed: readonly string[], at: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new MessageError(`${at}${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
}

function optString(o: Rec, k: string, at: string, max = 128): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new MessageError(`${at}${k}`, `a non-empty string of at most ${max} characters`);
  return v;
}

function nameList(o: Rec, k: string, at: string): string[] | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_SUBSCRIPTIONS) throw new MessageError(`${at}${k}`, `a list of at most ${MAX_SUBSCRIPTIONS} names`);
  return v.map((x, i) => {
    if (typeof x !== 'string' || !NAME_RE.test(x)) throw new MessageError(`${at}${k}[${i}]`, 'a name (letters, digits, . _ / : @ -)');
    return x;
  });
}

function optBool(o: Rec, k: string, at: string): boolean | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new MessageError(`${at}${k}`, 'true or false');
  return v;
}

function optInt(o: Rec, k: string, at: string, lo: number, hi: number): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new MessageError(`${at}${k}`, `an integer in ${lo}..${hi}`);
  return v;
}

/** A trace request as the API and the protocol take it (the fields of `podpath trace`). */
export function parseTraceQuery(o: unknown, at = ''): TraceQuery {
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new MessageError(at.replace(/\.$/, '') || 'trace', 'an object with from and to');
  const r = o as Rec;
  const from = optString(r, 'from', at, 256);
  const to = optString(r, 'to', at, 256);
  if (from === undefined) throw new MessageError(`${at}from`, 'required: pod/NS/NAME, node/NAME, client/NAME or IP');
  if (to === undefined) throw new MessageError(`${at}to`, 'required: svc/NS/NAME:PORT, NAME.NS.svc.cluster.local:PORT or IP:PORT');
  const proto = optString(r, 'proto', at);
  if (proto !== undefined && !PROTOS.includes(proto)) throw new MessageError(`${at}proto`, `one of ${PROTOS.join(', ')}`);
  const sport = optInt(r, 'sport', at, 0, 65535);
  const seed = optInt(r, 'seed', at, 0, 2 ** 32 - 1);
  const all = optBool(r, 'all', at);
  const reply = optBool(r, 'reply', at);
  return { from, to, ...(proto ? { proto: proto as 'tcp' } : {}), ...(sport !== undefined ? { sport } : {}), ...(seed !== undefined ? { seed } : {}), ...(all !== undefined ? { all } : {}), ...(reply !== undefined ? { reply } : {}) };
}

/** Parses and checks one client message; throws MessageError naming the field. */
export function parseClientMessage(text: string): ClientMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new MessageError('(message)', `not JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new MessageError('(message)', 'a JSON object with a "type"');
  const o = v as Rec;
  const id = optString(o, 'id', '', 64);
  const base = id !== undefined ? { id } : {};
  switch (o.type) {
    case 'subscribe': {
      onlyKeys(o, ['type', 'id', 'nodes', 'objects', 'traces'], '');
      const nodes = nameList(o, 'nodes', '');
      const objects = optBool(o, 'objects', '');
      let traces: TraceSubscription[] | undefined;
      if (o.traces !== undefined) {
        if (!Array.isArray(o.traces) || o.traces.length > MAX_SUBSCRIPTIONS) throw new MessageError('traces', `a list of at most ${MAX_SUBSCRIPTIONS} trace requests`);
        traces = o.traces.map((t, i) => {
          const at = `traces[${i}].`;
          if (!t || typeof t !== 'object' || Array.isArray(t)) throw new MessageError(`traces[${i}]`, 'an object with id, from and to');
          onlyKeys(t as Rec, ['id', 'from', 'to', 'proto', 'sport', 'seed', 'all', 'reply'], at);
          const tid = optString(t as Rec, 'id', at, 64);
          if (tid === undefined) throw new MessageError(`${at}id`, 'required: the name trace messages will carry');
          return { id: tid, ...parseTraceQuery(t, at) };
        });
      }
      if (nodes === undefined && objects === undefined && traces === undefined) throw new MessageError('(message)', 'subscribe to at least one of nodes, objects, traces');
      return { type: 'subscribe', ...base, ...(nodes ? { nodes } : {}), ...(objects !== undefined ? { objects } : {}), ...(traces ? { traces } : {}) };
    }
    case 'unsubscribe': {
      onlyKeys(o, ['type', 'id', 'nodes', 'objects', 'traces'], '');
      const nodes = nameList(o, 'nodes', '');
      const objects = optBool(o, 'objects', '');
      const traces = nameList(o, 'traces', '');
      return { type: 'unsubscribe', ...base, ...(nodes ? { nodes } : {}), ...(objects !== undefined ? { objects } : {}), ...(traces ? { traces } : {}) };
    }
    case 'apply': {
      onlyKeys(o, ['type', 'id', 'yaml'], '');
      if (typeof o.yaml !== 'string' || o.yaml.trim() === '') throw new MessageError('yaml', 'required: the object(s) as YAML or JSON text');
      return { type: 'apply', ...base, yaml: o.yaml };
    }
    case 'delete': {
      onlyKeys(o, ['type', 'id', 'kind', 'key'], '');
      if (typeof o.kind !== 'string' || !KIND_NAMES.includes(o.kind)) throw new MessageError('kind', `one of ${KIND_NAMES.join(', ')}`);
      const key = optString(o, 'key', '', 253);
      if (key === undefined || !NAME_RE.test(key)) throw new MessageError('key', 'required: NS/NAME (NAME for Node and Namespace)');
      return { type: 'delete', ...base, kind: o.kind as KubeKind, key };
    }
    case 'ping':
      onlyKeys(o, ['type', 'id'], '');
      return { type: 'ping', ...base };
    default:
      throw new MessageError('type', `"${String(o.type)}" is not one of subscribe, unsubscribe, apply, delete, ping`);
  }
}
