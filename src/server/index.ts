// server: the inspector — express JSON API and the ws protocol over one loaded topology (Inspector), serving the bundled UI.
// Must not import anything but src/index.ts and npm/node libraries, nor read or write files on a request except the explicit save path.
export { Inspector, DUMP_WHATS, type ChangeSet, type ChangeListener, type ClusterGraph, type CompareQuery, type DiffLine, type DiffRule, type DumpWhat, type NodeDiff, type ObjectEvent, type TraceQuery } from './inspector.js';
export { serveInspector, defaultUiDir, DEFAULT_HOST, DEFAULT_PORT, type RunningServer, type ServeOptions } from './http.js';
export { parseClientMessage, parseTraceQuery, MessageError, PROTOCOL_VERSION, MAX_MESSAGE_BYTES, MAX_FRAME_BYTES, MAX_SUBSCRIPTIONS, type ClientMessage, type ServerMessage, type TraceSubscription } from './protocol.js';
