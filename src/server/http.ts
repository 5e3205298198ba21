/**
 * The inspector's HTTP server: express serves the bundled UI (read into memory at start, so no
 * request reads a file) and the JSON API; `ws` at /ws pushes object events, node diffs and traces
 * re-run after each change. Binds 127.0.0.1 unless told otherwise; every handler answers bad input
 * with a JSON error and the server stays up.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { WebSocketServer, type WebSocket } from 'ws';
import { stringify } from 'yaml';
import { compareDelivered, formatCompareTable, InputError, KINDS, parseCniModes, parseProxyModes, type KubeKind } from '../index.js';
import { DUMP_WHATS, type ChangeSet, type DumpWhat, type Inspector, type TraceQuery } from './inspector.js';
import { MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, MAX_SUBSCRIPTIONS, MessageError, parseClientMessage, parseTraceQuery, PROTOCOL_VERSION, type ClientMessage, type ServerMessage, type TraceSubscription } from './protocol.js';
import { parseObjectsText } from './source.js';

export interface ServeOptions {
  readonly host?: string;
  /** 0 = an ephemeral port. */
  readonly port?: number;
  /** Directory of the bundled UI (index.html, app.js, app.css); default dist/ui of the package. */
  readonly uiDir?: string;
  /** Whether the compare view is offered (default true; src/compare runs in this process). */
  readonly compare?: boolean;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Connected websocket clients. */
  clients(): number;
  close(): Promise<void>;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7070;

const MIME: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png' };

/** The package's dist/ui, found from this module (dist/server or src/server). */
export function defaultUiDir(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(d, 'package.json'))) return join(d, 'dist', 'ui');
    d = dirname(d);
  }
  return resolve('dist/ui');
}

function loadUi(dir: string): Map<string, { type: string; body: Buffer }> {
  const files = new Map<string, { type: string; body: Buffer }>();
  if (!existsSync(dir)) return files;
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (MIME[extname(n)]) files.set(`/${relative(dir, p).split(sep).join('/')}`, { type: MIME[extname(n)]!, body: readFileSync(p) });
    }
  };
  walk(dir);
  return files;
}

interface Client {
  readonly ws: WebSocket;
  objects: boolean;
  readonly nodes: Set<string>;
  readonly traces: Map<string, { query: TraceQuery; last: string }>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function errorBody(e: unknown): { status: number; body: { error: string; problems?: { field?: string; line?: number; message: string }[] } } {
  if (e instanceof InputError) return { status: 400, body: { error: e.message, problems: e.problems.map((p) => ({ ...(p.field ? { field: p.field } : {}), ...(p.line !== undefined ? { line: p.line } : {}), message: p.message })) } };
  if (e instanceof MessageError) return { status: 400, body: { error: e.message, problems: [{ field: e.field, message: e.message }] } };
  if (e instanceof HttpError) return { status: e.status, body: { error: e.message } };
  const t = (e as { type?: string; status?: number }) ?? {};
  if (t.type === 'entity.too.large') return { status: 413, body: { error: `request body larger than ${MAX_MESSAGE_BYTES} bytes` } };
  if (t.type === 'entity.parse.failed') return { status: 400, body: { error: `body is not valid JSON: ${(e as Error).message}` } };
  return { status: 500, body: { error: `internal error: ${(e as Error)?.message ?? String(e)}` } };
}

function localHostnames(host: string): Set<string> {
  return new Set([host, 'localhost', '127.0.0.1', '[::1]', '::1']);
}

/** Starts serving an Inspector; resolves once listening. */
export async function serveInspector(inspector: Inspector, opts: ServeOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? DEFAULT_HOST;
  const wildcard = host === '0.0.0.0' || host === '::';
  const allowedHosts = localHostnames(host);
  const ui = loadUi(opts.uiDir ?? defaultUiDir());
  const app = express();
  app.disable('x-powered-by');
  // DNS rebinding: a page of another site must not reach a loopback server through its own name
  app.use((req, res, next) => {
    const h = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!wildcard && !allowedHosts.has(h)) {
      res.status(421).json({ error: `host "${h}" is not this server's` });
      return;
    }
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(express.json({ limit: MAX_MESSAGE_BYTES }));
  app.use(express.text({ type: ['text/yaml', 'application/yaml', 'text/plain'], limit: MAX_MESSAGE_BYTES }));

  const wrap = (fn: (req: Request, res: Response) => unknown | Promise<unknown>) => (req: Request, res: Response, next: NextFunction) => {
    Promise.resolve()
      .then(() => fn(req, res))
      .catch(next);
  };
  const param = (req: Request, k: string): string => {
    const v = req.params[k];
    return typeof v === 'string' ? v : '';
  };
  const kindOf = (k: string): KubeKind => {
    if (!(KINDS as readonly string[]).includes(k)) throw new HttpError(404, `kind "${k}" is not one podpath models (${KINDS.join(', ')})`);
    return k as KubeKind;
  };
  const yamlOf = (body: unknown): string => {
    if (typeof body === 'string') return body;
    if (body && typeof body === 'object' && typeof (body as { yaml?: unknown }).yaml === 'string') return (body as { yaml: string }).yaml;
    if (body && typeof body === 'object' && (body as { kind?: unknown }).kind !== undefined) return JSON.stringify(body);
    throw new InputError({ file: '<request>', field: 'yaml', message: 'give the object(s) as {"yaml": TEXT}, a JSON object, or a text/yaml body' });
  };
  const queryOf = (q: Record<string, unknown>): TraceQuery => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(q)) {
      if (typeof v !== 'string') continue;
      if (k === 'sport' || k === 'seed') o[k] = /^\d+$/.test(v) ? Number(v) : v;
      else if (k === 'all' || k === 'reply') o[k] = v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v;
      else if (['from', 'to', 'proto'].includes(k)) o[k] = v;
      else throw new MessageError(k, 'unknown parameter (from, to, proto, sport, seed, all, reply)');
    }
    return parseTraceQuery(o);
  };
  /** Changes run one at a time, in arrival order. */
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => undefined);
    return p;
  };
  const changeBody = (c: ChangeSet) => ({ version: c.version, how: c.how, cause: c.cause, objects: c.objects.map((o) => ({ type: o.type, kind: o.kind, key: o.key })) });

  app.get(
    '/api/info',
    wrap((_req, res) => {
      const t = inspector.topology;
      res.json({ name: t.name, file: inspector.file, cni: `${t.cluster.cni.plugin} ${t.cluster.cni.mode}`, proxy: t.cluster.kubeProxy.mode, version: inspector.changeVersion, protocol: PROTOCOL_VERSION, save: inspector.savePath !== null, compare: opts.compare !== false, whats: DUMP_WHATS, kinds: KINDS });
    }),
  );
  app.get('/api/graph', wrap((_req, res) => res.json(inspector.graph())));
  app.get(
    '/api/objects',
    wrap((req, res) => {
      const k = typeof req.query.kind === 'string' ? kindOf(req.query.kind) : undefined;
      res.json(inspector.list(k).map((o) => ({ kind: o.kind, key: o.metadata.namespace && o.kind !== 'Node' && o.kind !== 'Namespace' ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name, resourceVersion: o.metadata.resourceVersion ?? null })));
    }),
  );
  const getObject = (req: Request, res: Response) => {
    const kind = kindOf(param(req, 'kind'));
    const key = param(req, 'ns') ? `${param(req, 'ns')}/${param(req, 'name')}` : param(req, 'name');
    const o = inspector.get(kind, key);
    if (!o) throw new HttpError(404, `no ${kind} ${key}`);
    if (req.query.format === 'yaml') res.type('text/yaml').send(stringify(o, { lineWidth: 0 }));
    else res.json(o);
  };
  const deleteObject = async (req: Request, res: Response) => {
    const kind = kindOf(param(req, 'kind'));
    const key = param(req, 'ns') ? `${param(req, 'ns')}/${param(req, 'name')}` : param(req, 'name');
    const c = await serial(() => inspector.delete(kind, key));
    res.json(changeBody(c));
  };
  app.get('/api/objects/:kind/:ns/:name', wrap(getObject));
  app.get('/api/objects/:kind/:name', wrap(getObject));
  app.delete('/api/objects/:kind/:ns/:name', wrap(deleteObject));
  app.delete('/api/objects/:kind/:name', wrap(deleteObject));
  app.post(
    '/api/apply',
    wrap(async (req, res) => {
      const text = yamlOf(req.body);
      const c = await serial(() => inspector.applyText(text));
      res.json(changeBody(c));
    }),
  );
  app.get('/api/cluster', wrap((req, res) => (req.query.format === 'yaml' ? res.type('text/yaml').send(stringify({ cluster: inspector.clusterSection() }, { lineWidth: 0 })) : res.json(inspector.clusterSection()))));
  app.put(
    '/api/cluster',
    wrap(async (req, res) => {
      const docs = parseObjectsText(yamlOf(req.body), '<cluster>');
      const v = docs[0] as Record<string, unknown> | undefined;
      const section = v && typeof v === 'object' && 'cluster' in v ? v.cluster : v;
      const c = await serial(() => inspector.setCluster(section));
      res.json(changeBody(c));
    }),
  );
  app.get(
    '/api/nodes/:node/dump',
    wrap((req, res) => {
      const what = typeof req.query.what === 'string' ? req.query.what : 'iptables';
      if (!(DUMP_WHATS as readonly string[]).includes(what)) throw new MessageError('what', `one of ${DUMP_WHATS.join(', ')}`);
      const after = what === 'conntrack' ? queryOf({ from: req.query.from, to: req.query.to, ...(req.query.proto ? { proto: req.query.proto } : {}) }) : undefined;
      res.type('text/plain').send(inspector.dump(param(req, 'node'), what as DumpWhat, after));
    }),
  );
  app.get('/api/nodes/:node/tables', wrap((req, res) => res.json(inspector.nodeTables(param(req, 'node')))));
  app.get('/api/trace', wrap((req, res) => res.json(inspector.trace(queryOf(req.query as Record<string, unknown>)))));
  app.post('/api/trace', wrap((req, res) => res.json(inspector.trace(parseTraceQuery(req.body)))));
  app.get(
    '/api/trace.json',
    wrap((req, res) => {
      res.setHeader('Content-Disposition', 'attachment; filename="trace.json"');
      res.type('application/json').send(`${JSON.stringify(inspector.trace(queryOf(req.query as Record<string, unknown>)), null, 2)}\n`);
    }),
  );
  app.get(
    '/api/trace.pcap',
    wrap((req, res) => {
      const bytes = inspector.pcap(queryOf(req.query as Record<string, unknown>));
      res.setHeader('Content-Disposition', 'attachment; filename="trace.pcap"');
      res.type('application/vnd.tcpdump.pcap').send(Buffer.from(bytes));
    }),
  );
  app.get(
    '/api/compare',
    wrap(async (req, res) => {
      if (opts.compare === false) throw new HttpError(501, 'compare is turned off in this server');
      const { modes, proxy, format, ...rest } = req.query as Record<string, unknown>;
      const q = queryOf(rest);
      const list = <T>(v: unknown, parse: (t: string) => T[]): T[] | undefined => (typeof v === 'string' && v !== '' ? parse(v) : undefined);
      const m = list(modes, parseCniModes);
      const p = list(proxy, parseProxyModes);
      // variants are loaded from the document as it is now: a change arriving meanwhile waits
      const rows = await serial(() => inspector.compare({ ...q, ...(m ? { modes: m } : {}), ...(p ? { proxies: p } : {}) }));
      if (format === 'text') res.type('text/plain').send(formatCompareTable(rows));
      else res.json({ rows, table: formatCompareTable(rows), delivered: compareDelivered(rows) });
    }),
  );
  app.post(
    '/api/save',
    wrap(async (_req, res) => {
      const path = await serial(() => inspector.save());
      res.json({ saved: path });
    }),
  );
  app.use('/api', (_req, res) => {
    res.status(404).json({ error: 'no such API endpoint' });
  });
  app.get(/.*/, (req, res) => {
    const f = ui.get(req.path === '/' ? '/index.html' : req.path);
    if (f) {
      res.type(f.type).send(f.body);
      return;
    }
    if (req.path === '/') {
      res.type('text/html').send('<!doctype html><title>podpath</title><p>The inspector UI is not built: run <code>npm run build</code>.</p>');
      return;
    }
    res.status(404).type('text/plain').send('not found');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = errorBody(err);
    if (!res.headersSent) res.status(status).json(body);
  });

  const server = createServer(app);
  const wss = new WebSocketServer({
    server,
    path: '/ws',
    maxPayload: MAX_FRAME_BYTES,
    verifyClient: (info: { origin: string; req: IncomingMessage }) => {
      const h = (info.req.headers.host ?? '').replace(/:\d+$/, '');
      if (!wildcard && !allowedHosts.has(h)) return false;
      // cross-site websocket hijacking: a browser page may connect only from this server's own origin
      if (!info.origin) return true;
      try {
        return new URL(info.origin).host === info.req.headers.host;
      } catch {
        return false;
      }
    },
  });
  const clients = new Set<Client>();
  const send = (c: Client, m: ServerMessage | string) => {
    if (c.ws.readyState !== c.ws.OPEN) return;
    c.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  };

  const runTraces = (targets: Iterable<Client>, onlyId?: string) => {
    // each distinct request runs once per change, whatever the number of subscribers
    const results = new Map<string, { trace: unknown; error?: string }>();
    const version = inspector.changeVersion;
    for (const c of targets) {
      for (const [id, sub] of c.traces) {
        if (onlyId !== undefined && id !== onlyId) continue;
        const k = JSON.stringify(sub.query);
        let r = results.get(k);
        if (!r) {
          try {
            r = { trace: inspector.trace(sub.query) };
          } catch (e) {
            r = { trace: null, error: e instanceof Error ? e.message : String(e) };
          }
          results.set(k, r);
        }
        const body = JSON.stringify(r);
        if (body === sub.last) continue;
        sub.last = body;
        send(c, { type: 'trace', id, version, request: sub.query, trace: r.trace as never, ...(r.error !== undefined ? { error: r.error } : {}) });
      }
    }
  };

  let traceTimer: NodeJS.Immediate | null = null;
  inspector.onChange((c) => {
    const summary = JSON.stringify({ type: 'change', version: c.version, how: c.how, cause: c.cause, objects: c.objects.length } satisfies ServerMessage);
    const objectMsgs = c.objects.map((o) => JSON.stringify({ type: 'object', version: c.version, event: o.type, kind: o.kind, key: o.key, object: o.object } satisfies ServerMessage));
    const nodeMsgs = new Map(c.nodes.map((d) => [d.node, JSON.stringify({ type: 'node-diff', version: c.version, how: c.how, cause: c.cause, ...d } satisfies ServerMessage)]));
    for (const cl of clients) {
      for (const n of cl.nodes) {
        const m = nodeMsgs.get(n);
        if (m) send(cl, m);
      }
      if (cl.objects) for (const m of objectMsgs) send(cl, m);
      send(cl, summary);
    }
    // traces re-run after the change's messages are out, once for a burst of changes
    if (!traceTimer)
      traceTimer = setImmediate(() => {
        traceTimer = null;
        runTraces(clients);
      });
  });

  const handle = async (c: Client, msg: ClientMessage) => {
    const id = msg.id !== undefined ? { id: msg.id } : {};
    switch (msg.type) {
      case 'ping':
        return send(c, { type: 'pong', ...id });
      case 'subscribe': {
        const nodes = msg.nodes ?? [];
        if (c.nodes.size + nodes.length > MAX_SUBSCRIPTIONS || c.traces.size + (msg.traces?.length ?? 0) > MAX_SUBSCRIPTIONS) throw new MessageError('(message)', `at most ${MAX_SUBSCRIPTIONS} node and ${MAX_SUBSCRIPTIONS} trace subscriptions per connection`);
        for (const n of nodes) inspector.topology.nodes.some((x) => x.name === n) || (() => {
          throw new MessageError('nodes', `no node "${n}" (nodes: ${inspector.topology.nodes.slice(0, 20).map((x) => x.name).join(', ')}${inspector.topology.nodes.length > 20 ? ', …' : ''})`);
        })();
        for (const n of nodes) {
          if (c.nodes.has(n)) continue;
          inspector.watchNode(n);
          c.nodes.add(n);
        }
        if (msg.objects !== undefined) c.objects = msg.objects;
        for (const t of msg.traces ?? []) {
          const { id: tid, ...query } = t satisfies TraceSubscription;
          c.traces.set(tid, { query, last: '' });
        }
        send(c, { type: 'ack', ...id, of: 'subscribe', version: inspector.changeVersion, detail: { nodes: [...c.nodes], objects: c.objects, traces: [...c.traces.keys()] } });
        for (const t of msg.traces ?? []) runTraces([c], t.id);
        return;
      }
      case 'unsubscribe': {
        for (const n of msg.nodes ?? []) if (c.nodes.delete(n)) inspector.unwatchNode(n);
        if (msg.objects === true) c.objects = false;
        for (const t of msg.traces ?? []) c.traces.delete(t);
        return send(c, { type: 'ack', ...id, of: 'unsubscribe', version: inspector.changeVersion });
      }
      case 'apply': {
        const ch = await serial(() => inspector.applyText(msg.yaml, '<ws apply>'));
        return send(c, { type: 'ack', ...id, of: 'apply', version: ch.version, detail: changeBody(ch) });
      }
      case 'delete': {
        const ch = await serial(() => inspector.delete(msg.kind, msg.key));
        return send(c, { type: 'ack', ...id, of: 'delete', version: ch.version, detail: changeBody(ch) });
      }
    }
  };

  wss.on('connection', (ws) => {
    const c: Client = { ws, objects: false, nodes: new Set(), traces: new Map() };
    clients.add(c);
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clients.delete(c);
      for (const n of c.nodes) inspector.unwatchNode(n);
    });
    ws.on('message', (data, isBinary) => {
      const size = Array.isArray(data) ? data.reduce((s, b) => s + b.length, 0) : (data as ArrayBuffer).byteLength ?? (data as Buffer).length;
      if (size > MAX_MESSAGE_BYTES) return send(c, { type: 'error', code: 'too-large', message: `message of ${size} bytes is larger than the limit of ${MAX_MESSAGE_BYTES}` });
      if (isBinary) return send(c, { type: 'error', code: 'bad-message', message: 'messages are JSON text frames' });
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as Buffer).toString('utf8');
      let msg: ClientMessage;
      try {
        msg = parseClientMessage(text);
      } catch (e) {
        const me = e as MessageError;
        let id: string | undefined;
        try {
          const v = JSON.parse(text) as { id?: unknown };
          if (typeof v?.id === 'string' && v.id.length <= 64) id = v.id;
        } catch {
          // not JSON: no id to echo
        }
        return send(c, { type: 'error', ...(id !== undefined ? { id } : {}), code: me.field === '(message)' && /^not JSON/.test(me.message.slice(me.field.length + 2)) ? 'bad-json' : 'bad-message', message: me.message, problems: [{ field: me.field, message: me.message }] });
      }
      handle(c, msg).catch((e: unknown) => {
        const { status, body } = errorBody(e);
        send(c, { type: 'error', ...(msg.id !== undefined ? { id: msg.id } : {}), code: status === 500 ? 'internal' : e instanceof MessageError ? 'bad-message' : 'rejected', message: body.error, ...(body.problems ? { problems: body.problems } : {}) });
      });
      return undefined;
    });
    send(c, { type: 'hello', protocol: PROTOCOL_VERSION, topology: inspector.topology.name, version: inspector.changeVersion, maxMessageBytes: MAX_MESSAGE_BYTES });
  });
  wss.on('error', () => undefined);
  server.on('clientError', (_e, socket) => socket.destroy());

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? DEFAULT_PORT, host, () => {
      server.off('error', rej);
      res();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    server,
    clients: () => clients.size,
    close: () =>
      new Promise<void>((res) => {
        for (const c of clients) c.ws.terminate();
        wss.close();
        server.close(() => res());
        server.closeAllConnections?.();
      }),
  };
}
