/// <reference lib="dom" />
// ui: the browser inspector — cluster graph, trace panel, node tables, object editor — over the server's API and /ws.
// Must not import any podpath code at run time: only types from src/index.ts (`import type`); all data comes from the server.
import cytoscape from 'cytoscape';
import type { CompareRow, Hop, Outcome, PacketSnapshot, Provenance, Step, Trace } from '../index.js';

// ------------------------------------------------------------------ shapes the server sends

interface Info {
  name: string;
  file: string;
  cni: string;
  proxy: string;
  version: number;
  save: boolean;
  compare: boolean;
  whats: string[];
  kinds: string[];
}
interface Graph {
  name: string;
  cni: string;
  proxy: string;
  segments: { name: string; cidrs: string[]; mtu: number }[];
  routers: { name: string; interfaces: { network: string; ip: string }[] }[];
  nodes: { name: string; ips: string[]; network: string; podCIDRs: string[] }[];
  clients: { name: string; ips: string[]; network: string }[];
  pods: { key: string; node: string | null; ip: string | null; hostNetwork: boolean; ready: boolean }[];
  services: { key: string; type: string; clusterIP: string | null; ports: { name: string | null; port: number; protocol: string; nodePort: number | null }[]; externalTrafficPolicy: string | null; loadBalancerIPs: string[]; endpoints: string[] }[];
}
interface TableDump {
  table: string;
  chains: { chain: string; policy: string | null; rules: { index: number; rule: string; provenance: Provenance[] }[] }[];
}
interface Query {
  from: string;
  to: string;
  proto?: string;
  all?: boolean;
}
interface DiffMsg {
  type: 'node-diff';
  node: string;
  version: number;
  cause: string[];
  rules: { added: { table: string; chain: string; rule: string; provenance: Provenance[] }[]; removed: { table: string; chain: string; rule: string; provenance: Provenance[] }[] };
  routes: { added: string[]; removed: string[] };
  ipsets?: { added: DiffLine[]; removed: DiffLine[] };
  ipvs?: { added: DiffLine[]; removed: DiffLine[] };
}
interface DiffLine {
  line: string;
  provenance: Provenance[];
}

// ------------------------------------------------------------------ state

const S = {
  info: null as Info | null,
  graph: null as Graph | null,
  query: null as Query | null,
  trace: null as Trace | null,
  traceError: null as string | null,
  outcome: 0,
  hop: 0,
  reply: false,
  node: '' as string,
  what: 'tables',
  diffs: [] as DiffMsg[],
  selected: null as { kind: string; key: string } | null,
  ws: null as WebSocket | null,
  wsOpen: false,
  traceSeq: 0,
  version: 0,
};

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

function h(tag: string, attrs: Record<string, string | boolean | ((e: Event) => void)> = {}, ...kids: (Node | string | null | undefined | false)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of kids) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : document.createTextNode(c));
  return el;
}

function toast(msg: string): void {
  const t = $('toast');
  t.textContent = msg;
  t.classList.add('show');
  window.setTimeout(() => t.classList.remove('show'), 2600);
}

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const r = await fetch(path, init);
  const type = r.headers.get('content-type') ?? '';
  const body: unknown = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) {
    const b = body as { error?: string; problems?: { field?: string; line?: number; message: string }[] };
    const detail = b.problems?.length ? b.problems.map((p) => `${p.field ? `${p.field}: ` : p.line ? `line ${p.line}: ` : ''}${p.message}`).join('\n') : (b.error ?? String(body));
    throw new Error(detail);
  }
  return body as T;
}

// ------------------------------------------------------------------ websocket

function connect(): void {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  S.ws = ws;
  ws.onopen = () => {
    S.wsOpen = true;
    setStatus();
    ws.send(JSON.stringify({ type: 'subscribe', id: 'objects', objects: true }));
    if (S.node) ws.send(JSON.stringify({ type: 'subscribe', nodes: [S.node] }));
    if (S.query) subscribeTrace(S.query);
  };
  ws.onclose = () => {
    S.wsOpen = false;
    setStatus();
    window.setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => {
    let m: { type: string; [k: string]: unknown };
    try {
      m = JSON.parse(String(ev.data)) as typeof m;
    } catch {
      return;
    }
    onMessage(m);
  };
}

let refreshTimer = 0;
function onMessage(m: { type: string; [k: string]: unknown }): void {
  switch (m.type) {
    case 'hello':
      S.version = m.version as number;
      setStatus();
      return;
    case 'trace': {
      if (m.id !== `t${S.traceSeq}`) return;
      S.trace = (m.trace as Trace | null) ?? null;
      S.traceError = (m.error as string | undefined) ?? null;
      if (S.trace && S.outcome >= S.trace.outcomes.length) S.outcome = 0;
      clampHop();
      renderTrace();
      drawPath();
      if (S.node) renderNode();
      return;
    }
    case 'node-diff':
      S.diffs.unshift(m as unknown as DiffMsg);
      S.diffs = S.diffs.slice(0, 20);
      if ((m as unknown as DiffMsg).node === S.node) renderNode();
      return;
    case 'change':
      S.version = m.version as number;
      setStatus(`change ${m.version as number}: ${(m.cause as string[]).join(', ')}`);
      window.clearTimeout(refreshTimer);
      refreshTimer = window.setTimeout(() => {
        void loadInfo();
        void loadGraph();
        void renderObjects();
      }, 50);
      return;
    case 'error':
      toast(`server: ${m.message as string}`);
      return;
    default:
      return;
  }
}

function setStatus(extra?: string): void {
  $('conn').classList.toggle('on', S.wsOpen);
  $('status-text').textContent = S.wsOpen ? `live · v${S.version}${extra ? ` · ${extra}` : ''}` : 'reconnecting…';
}

// ------------------------------------------------------------------ trace request and URL

function queryFromHash(): (Query & { o?: number; h?: number }) | null {
  const m = /^#trace\?(.*)$/.exec(location.hash);
  if (!m) return null;
  const p = new URLSearchParams(m[1]);
  const from = p.get('from');
  const to = p.get('to');
  if (!from || !to) return null;
  const q: Query & { o?: number; h?: number } = { from, to, all: p.get('all') !== '0' };
  const proto = p.get('proto');
  if (proto) q.proto = proto;
  if (p.get('o')) q.o = Number(p.get('o'));
  if (p.get('h')) q.h = Number(p.get('h'));
  return q;
}

function writeHash(): void {
  if (!S.query) return;
  const p = new URLSearchParams({ from: S.query.from, to: S.query.to, all: S.query.all ? '1' : '0' });
  if (S.query.proto) p.set('proto', S.query.proto);
  p.set('o', String(S.outcome));
  p.set('h', String(S.hop));
  history.replaceState(null, '', `#trace?${p.toString()}`);
}

function subscribeTrace(q: Query): void {
  if (!S.ws || !S.wsOpen) return;
  if (S.traceSeq > 0) S.ws.send(JSON.stringify({ type: 'unsubscribe', traces: [`t${S.traceSeq - 1}`, `t${S.traceSeq}`] }));
  S.traceSeq++;
  const t: Record<string, unknown> = { id: `t${S.traceSeq}`, from: q.from, to: q.to, all: q.all === true };
  if (q.proto) t.proto = q.proto;
  S.ws.send(JSON.stringify({ type: 'subscribe', traces: [t] }));
}

function startTrace(q: Query, pos?: { o?: number; h?: number }): void {
  S.query = q;
  S.outcome = pos?.o ?? 0;
  S.hop = pos?.h ?? 0;
  S.reply = false;
  S.trace = null;
  S.traceError = null;
  ($('f-from') as HTMLInputElement).value = q.from;
  ($('f-to') as HTMLInputElement).value = q.to;
  ($('f-proto') as HTMLSelectElement).value = q.proto ?? '';
  ($('f-all') as HTMLInputElement).checked = q.all === true;
  writeHash();
  renderTrace();
  showTab('trace');
  subscribeTrace(q);
}

// ------------------------------------------------------------------ trace panel

function outcomeNow(): Outcome | null {
  return S.trace?.outcomes[S.outcome] ?? null;
}
function hopsNow(): Hop[] {
  const o = outcomeNow();
  if (!o) return [];
  return S.reply ? (o.reply?.hops ?? []) : o.hops;
}
function clampHop(): void {
  const n = hopsNow().length;
  if (S.hop >= n) S.hop = Math.max(0, n - 1);
}

const SUCCESS = new Set(['delivered', 'exits-cluster']);
function dispBadge(d: string): HTMLElement {
  return h('span', { class: `badge ${SUCCESS.has(d) ? 'ok' : 'bad'}` }, d);
}

function fmtProb(p: number): string {
  if (p === 1) return '100%';
  const pc = p * 100;
  return `${pc >= 10 ? pc.toFixed(1) : pc.toPrecision(3)}%`;
}

function provLinks(prov: readonly Provenance[] | undefined): HTMLElement | null {
  if (!prov?.length) return null;
  const span = h('span', { class: 'by' }, ' ← ');
  prov.forEach((p, i) => {
    if (i) span.append('; ');
    const known = ['Service', 'EndpointSlice', 'Pod', 'Deployment', 'Node', 'ReplicaSet', 'Namespace'].includes(p.kind);
    if (known) span.append(h('a', { class: 'obj', title: p.detail ?? '', onclick: () => openObject(p.kind, p.name) }, `${p.kind} ${p.name}`));
    else span.append(`${p.kind} ${p.name}`);
    if (p.detail) span.append(h('span', { class: 'muted' }, ` (${p.detail})`));
  });
  return span;
}

function stepEl(s: Step): HTMLElement {
  const li = h('li', { class: `step ${s.kind}` });
  const k = h('span', { class: 'k' }, s.kind);
  switch (s.kind) {
    case 'rule': {
      if (s.verdict !== 'no-match') li.classList.add('matched');
      li.append(k, h('span', { class: 'tc' }, `${s.table}/${s.chain} #${s.index}`), h('span', { class: 't' }, s.rule), ' ', h('span', { class: `badge ${s.verdict === 'drop' || s.verdict === 'reject' ? 'bad' : s.verdict === 'no-match' ? '' : 'ok'}` }, s.verdict));
      break;
    }
    case 'nat':
      li.append(k, h('span', { class: 't' }, `${s.nat} ${s.before.ip}${s.before.port !== undefined ? `:${s.before.port}` : ''} → ${s.after.ip}${s.after.port !== undefined ? `:${s.after.port}` : ''}`), h('span', { class: 'muted' }, `  ${s.text}`));
      break;
    case 'encap':
      li.append(k, h('span', { class: 'badge enc' }, `${s.dev} +${s.overhead}B`), ' ', h('span', { class: 't' }, `outer ${s.outer}`));
      break;
    case 'decap':
      li.append(k, h('span', { class: 'badge enc' }, s.dev), ' ', h('span', { class: 't' }, `outer ${s.outer}`));
      break;
    case 'route': {
      // a route BIRD installed (Calico BGP/IPIP): learned from a BGP peer
      const bgp = s.route !== null && / proto bird( |$)/.test(s.route);
      li.append(k, h('span', { class: 't' }, s.text), ' ', h('span', { class: 'badge' }, s.result), ...(bgp ? [' ', h('span', { class: 'badge bgp', title: 'installed by BIRD (calico-node): learned over BGP' }, 'BGP-learned')] : []));
      if (bgp) li.classList.add('bgp');
      break;
    }
    case 'conntrack':
      li.append(k, h('span', { class: 'badge' }, s.state), ' ', h('span', { class: 't' }, s.entry ?? s.text));
      break;
    case 'ipvs':
      // the IPVS decision: virtual service → real server chosen by the scheduler (or none)
      li.append(k, h('span', { class: 'badge ipvs' }, 'IPVS'), ' ', h('span', { class: 't' }, `${s.service} → ${s.realServer ?? 'no real server'}`), ...(s.realServer === null ? [' ', h('span', { class: 'badge bad' }, 'no destination')] : []), h('span', { class: 'muted' }, `  ${s.text}`));
      break;
    default:
      li.append(k, h('span', { class: 't' }, s.text));
  }
  const pv = provLinks(s.provenance);
  if (pv) li.append(h('div', { class: 'prov' }, pv));
  if (s.children?.length) {
    const ul = h('ul');
    for (const c of s.children) ul.append(stepEl(c));
    li.append(ul);
  }
  return li;
}

function isSnap(p: PacketSnapshot | Record<string, never>): p is PacketSnapshot {
  return Array.isArray((p as PacketSnapshot).layers);
}

/** Headers in and out of a hop, layer by layer; fields that changed are highlighted. */
function packetTable(hop: Hop): HTMLElement {
  const pin = isSnap(hop.packetIn) ? hop.packetIn : null;
  const pout = isSnap(hop.packetOut) ? hop.packetOut : null;
  const t = h('table', { class: 'pkt' });
  t.append(h('tr', {}, h('th', {}, 'field'), h('th', {}, `in${hop.in ? ` (${hop.in})` : ''}`), h('th', {}, `out${hop.out ? ` (${hop.out})` : ''}`)));
  const lin = pin?.layers ?? [];
  const lout = pout?.layers ?? [];
  // inner layers line up from the innermost: an encapsulated packet has outer layers in front
  const n = Math.max(lin.length, lout.length);
  for (let i = 0; i < n; i++) {
    const a = lin[lin.length - n + i];
    const b = lout[lout.length - n + i];
    const kind = String((b ?? a)?.kind ?? (b ?? a)?.layer ?? 'layer');
    const outerOnly = !a || !b;
    t.append(h('tr', { class: 'layer' }, h('td', { colspan: '3' }, `${kind}${outerOnly ? (a ? ' (removed)' : ' (added: encapsulation)') : ''}`)));
    const keys = [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].filter((k) => k !== 'kind' && k !== 'layer');
    for (const k of keys) {
      const va = a?.[k];
      const vb = b?.[k];
      const changed = a !== undefined && b !== undefined && va !== vb;
      t.append(h('tr', {}, h('td', {}, k), h('td', { class: changed ? 'chg' : '' }, va === undefined ? '' : String(va)), h('td', { class: changed || outerOnly ? 'chg' : '' }, vb === undefined ? '' : String(vb))));
    }
  }
  if (!pin && !pout) return h('div', { class: 'muted' }, 'no packet recorded');
  return h('div', {}, pin ? h('div', { class: 'mono muted' }, `in:  ${pin.summary}`) : null, pout ? h('div', { class: 'mono muted' }, `out: ${pout.summary}`) : null, t);
}

function hopTitle(hop: Hop): string {
  return hop.netns === hop.node ? hop.node : `${hop.netns} @ ${hop.node}`;
}

function renderTrace(): void {
  const root = $('tab-trace');
  root.replaceChildren();
  if (!S.query) {
    root.append(h('div', { class: 'empty' }, 'Choose a source and a destination above and press Trace.', h('br'), h('span', { class: 'muted' }, 'e.g. from pod/default/client to svc/default/web:80')));
    return;
  }
  const head = h('div', { class: 'row' }, h('h2', {}, `${S.query.from} → ${S.query.to}`), h('span', { class: 'spacer' }));
  const qs = new URLSearchParams({ from: S.query.from, to: S.query.to, all: S.query.all ? 'true' : 'false', ...(S.query.proto ? { proto: S.query.proto } : {}) }).toString();
  head.append(h('a', { href: `/api/trace.json?${qs}`, download: 'trace.json' }, h('button', {}, '⤓ JSON')), h('a', { href: `/api/trace.pcap?${qs}`, download: 'trace.pcap' }, h('button', {}, '⤓ pcap')));
  root.append(head);
  if (S.traceError) {
    root.append(h('div', { class: 'failure' }, S.traceError));
    return;
  }
  if (!S.trace) {
    root.append(h('div', { class: 'empty' }, 'tracing…'));
    return;
  }
  const list = h('div', { class: 'outcomes', id: 'outcomes' });
  S.trace.outcomes.forEach((o, i) => {
    const ep = o.endpoint ? `${o.endpoint.pod ?? o.endpoint.ip}${o.endpoint.port !== undefined ? `:${o.endpoint.port}` : ''}` : '—';
    list.append(
      h(
        'div',
        { class: `outcome${i === S.outcome ? ' sel' : ''}`, onclick: () => ((S.outcome = i), (S.hop = 0), (S.reply = false), writeHash(), renderTrace(), drawPath()) },
        h('span', { class: 'p' }, fmtProb(o.probability)),
        dispBadge(o.disposition),
        h('span', { class: 'mono' }, ep),
        o.masqueraded ? h('span', { class: 'badge warn' }, 'masqueraded') : null,
        o.reply ? h('span', { class: 'muted' }, 'reply: ') : null,
        o.reply ? dispBadge(o.reply.disposition) : null,
      ),
    );
  });
  root.append(h('h3', {}, `${S.trace.outcomes.length} outcome${S.trace.outcomes.length === 1 ? '' : 's'}`), list);
  const o = outcomeNow();
  if (!o) return;
  if (o.received) root.append(h('div', { class: 'mono muted' }, `received: ${o.received.src}${o.received.sport !== undefined ? `:${o.received.sport}` : ''} → ${o.received.dst}${o.received.dport !== undefined ? `:${o.received.dport}` : ''} ${o.received.proto}`));
  const reason = S.reply ? o.reply?.reason : o.reason;
  const disp = S.reply ? o.reply?.disposition : o.disposition;
  if (reason || (disp && !SUCCESS.has(disp))) root.append(h('div', { class: 'failure' }, h('b', {}, `${disp}: `), reason ?? ''));
  const hops = hopsNow();
  const stepper = h(
    'div',
    { class: 'stepper' },
    h('button', { id: 'prev', onclick: () => stepHop(-1), disabled: S.hop <= 0 }, '◀ back'),
    h('button', { id: 'next', onclick: () => stepHop(1), disabled: S.hop >= hops.length - 1 }, 'forward ▶'),
    h('span', { class: 'mono', id: 'hoppos' }, `hop ${hops.length ? S.hop + 1 : 0} / ${hops.length}`),
    h('span', { class: 'spacer' }),
    h('button', { class: S.reply ? '' : 'primary', onclick: () => ((S.reply = false), (S.hop = 0), renderTrace(), drawPath()) }, 'request'),
    h('button', { class: S.reply ? 'primary' : '', disabled: !o.reply, onclick: () => ((S.reply = true), (S.hop = 0), renderTrace(), drawPath()) }, 'reply'),
  );
  root.append(stepper);
  const box = h('div', { class: 'hops', id: 'hops' });
  hops.forEach((hop, i) => {
    const enc = hop.steps.some((s) => s.kind === 'encap');
    const dec = hop.steps.some((s) => s.kind === 'decap');
    const rules = countMatched(hop.steps);
    const ipvs = findStep(hop.steps, (s) => s.kind === 'ipvs');
    const bgp = findStep(hop.steps, (s) => s.kind === 'route' && s.route !== null && / proto bird( |$)/.test(s.route));
    const el = h(
      'div',
      { class: `hop${i === S.hop ? ' cur open' : ''}`, 'data-hop': String(i) },
      h(
        'div',
        { class: 'hop-h', onclick: () => ((S.hop = i), writeHash(), renderTrace(), drawPath()) },
        h('span', { class: 'n' }, String(i + 1)),
        h('span', { class: 'where' }, hopTitle(hop)),
        h('span', { class: 'mono muted' }, `${hop.in ?? '·'} → ${hop.out ?? '·'}`),
        enc ? h('span', { class: 'badge enc' }, 'encap') : null,
        dec ? h('span', { class: 'badge enc' }, 'decap') : null,
        rules ? h('span', { class: 'badge' }, `${rules} rule${rules === 1 ? '' : 's'} matched`) : null,
        ipvs ? h('span', { class: 'badge ipvs' }, 'IPVS') : null,
        bgp ? h('span', { class: 'badge bgp' }, 'BGP route') : null,
        h('span', { class: 'spacer' }),
        hop.netns === hop.node ? h('a', { class: 'obj', onclick: (e: Event) => (e.stopPropagation(), openNode(hop.node)) }, 'tables ›') : null,
      ),
    );
    if (i === S.hop) {
      const ul = h('ul', { class: 'steps' });
      for (const s of hop.steps) ul.append(stepEl(s));
      el.append(h('div', { class: 'hop-b' }, ul, h('h3', {}, 'headers in → out'), packetTable(hop)));
    }
    box.append(el);
  });
  root.append(box);
}

function findStep(steps: readonly Step[], pred: (s: Step) => boolean): Step | null {
  for (const s of steps) {
    if (pred(s)) return s;
    const c = s.children ? findStep(s.children, pred) : null;
    if (c) return c;
  }
  return null;
}

function countMatched(steps: readonly Step[]): number {
  let n = 0;
  for (const s of steps) {
    if (s.kind === 'rule' && s.verdict !== 'no-match') n++;
    if (s.children) n += countMatched(s.children);
  }
  return n;
}

function stepHop(d: number): void {
  const n = hopsNow().length;
  S.hop = Math.max(0, Math.min(n - 1, S.hop + d));
  writeHash();
  renderTrace();
  drawPath();
  document.querySelector('.hop.cur')?.scrollIntoView({ block: 'nearest' });
}

// ------------------------------------------------------------------ graph

let cy: cytoscape.Core | null = null;

/** A pod name short enough for its box: a ReplicaSet pod keeps its Deployment name and its own suffix. */
function short(name: string): string {
  if (name.length <= 16) return name;
  const parts = name.split('-');
  if (parts.length >= 3) return `${parts.slice(0, -2).join('-').slice(0, 8)}…${parts[parts.length - 1]}`;
  return `${name.slice(0, 7)}…${name.slice(-7)}`;
}

function podId(key: string): string {
  return `pod:${key}`;
}

function netnsElement(hop: Hop): string {
  if (hop.netns.startsWith('client/')) return `client:${hop.netns.slice(7)}`;
  if (hop.netns.startsWith('router/')) return `router:${hop.netns.slice(7)}`;
  if (hop.netns === hop.node) return `node:${hop.node}`;
  return podId(hop.netns);
}

async function loadGraph(): Promise<void> {
  const g = await api<Graph>('/api/graph');
  S.graph = g;
  fillLists(g);
  const els: cytoscape.ElementDefinition[] = [];
  const W = 250;
  const segX = new Map<string, number>();
  const segs = g.segments.length ? g.segments : [{ name: 'underlay', cidrs: [], mtu: 1500 }];
  const nodesPerSeg = new Map<string, typeof g.nodes>();
  for (const n of g.nodes) nodesPerSeg.set(n.network, [...(nodesPerSeg.get(n.network) ?? []), n]);
  let x = 0;
  const nodeX = new Map<string, number>();
  for (const s of segs) {
    const ns = nodesPerSeg.get(s.name) ?? [];
    const width = Math.max(1, ns.length) * W;
    segX.set(s.name, x + width / 2);
    ns.forEach((n, i) => nodeX.set(n.name, x + i * W + W / 2));
    els.push({ data: { id: `seg:${s.name}`, label: `${s.name}  ${s.cidrs.join(', ')}`, kind: 'segment', w: width - 40 }, position: { x: x + width / 2, y: 0 } });
    x += width + 60;
  }
  const big = g.nodes.length > 60;
  for (const n of g.nodes) {
    const nx = nodeX.get(n.name) ?? 0;
    els.push({ data: { id: `node:${n.name}`, label: `${n.name}\n${n.ips[0] ?? ''} · ${n.podCIDRs[0] ?? ''}`, kind: 'node' } });
    els.push({ data: { id: `nodehost:${n.name}`, parent: `node:${n.name}`, label: 'host netns', kind: 'host' }, position: { x: nx, y: 120 } });
    els.push({ data: { id: `e:${n.name}:${n.network}`, source: `nodehost:${n.name}`, target: `seg:${n.network}`, kind: 'link' } });
    if (big) continue;
    const pods = g.pods.filter((p) => p.node === n.name && !p.hostNetwork);
    pods.forEach((p, i) => {
      els.push({ data: { id: podId(p.key), parent: `node:${n.name}`, label: `${short(p.key.split('/')[1] ?? p.key)}\n${p.ip ?? ''}`, kind: 'pod', ready: p.ready ? 'yes' : 'no' }, position: { x: nx - 55 + (i % 2) * 110, y: 190 + Math.floor(i / 2) * 62 } });
    });
  }
  let cx = x;
  for (const c of g.clients) {
    els.push({ data: { id: `client:${c.name}`, label: `${c.name}\n${c.ips[0] ?? ''}`, kind: 'client' }, position: { x: cx, y: -110 } });
    els.push({ data: { id: `e:c:${c.name}`, source: `client:${c.name}`, target: `seg:${c.network}`, kind: 'link' } });
    cx += 150;
  }
  for (const r of g.routers) {
    els.push({ data: { id: `router:${r.name}`, label: `${r.name}`, kind: 'router' }, position: { x: (segX.get(r.interfaces[0]?.network ?? '') ?? 0) + 120, y: -110 } });
    for (const i of r.interfaces) els.push({ data: { id: `e:r:${r.name}:${i.network}`, source: `router:${r.name}`, target: `seg:${i.network}`, kind: 'link', label: i.ip } });
  }
  if (!big) {
    const maxPods = Math.max(1, ...g.nodes.map((n) => g.pods.filter((p) => p.node === n.name && !p.hostNetwork).length));
    const sy = 250 + Math.ceil(maxPods / 2) * 62;
    const svcs = g.services.slice(0, 40);
    const span = Math.max(x - 60, svcs.length * 140);
    svcs.forEach((s, i) => {
      const label = `${s.key}\n${s.type} ${s.clusterIP ?? ''}${s.externalTrafficPolicy === 'Local' ? ' eTP=Local' : ''}`;
      els.push({ data: { id: `svc:${s.key}`, label, kind: 'service' }, position: { x: (span / Math.max(1, svcs.length)) * (i + 0.5), y: sy } });
      for (const ep of s.endpoints) if (g.pods.some((p) => p.key === ep && !p.hostNetwork)) els.push({ data: { id: `ep:${s.key}:${ep}`, source: `svc:${s.key}`, target: podId(ep), kind: 'endpoint' } });
    });
  }
  const style: cytoscape.StylesheetJson = [
    { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'text-wrap': 'wrap', 'text-valign': 'center', 'text-halign': 'center', color: '#1d2430', 'font-family': 'DejaVu Sans Mono, monospace' } },
    { selector: 'node[kind="segment"]', style: { shape: 'round-rectangle', width: 'data(w)', height: 26, 'background-color': '#e0e7ff', 'border-width': 1, 'border-color': '#6366f1', color: '#3730a3', 'font-weight': 'bold' } },
    { selector: 'node[kind="node"]', style: { shape: 'round-rectangle', 'background-color': '#f8fafc', 'border-width': 1.5, 'border-color': '#94a3b8', 'text-valign': 'top', 'text-halign': 'center', 'font-weight': 'bold', 'font-size': 11, padding: '14px' } },
    { selector: 'node[kind="host"]', style: { shape: 'round-rectangle', width: 200, height: 30, 'background-color': '#e2e8f0', 'border-width': 1, 'border-color': '#94a3b8', 'font-size': 9, color: '#475569' } },
    { selector: 'node[kind="pod"]', style: { shape: 'round-rectangle', width: 100, height: 44, 'background-color': '#dcfce7', 'border-width': 1, 'border-color': '#16a34a', 'font-size': 9 } },
    { selector: 'node[kind="pod"][ready="no"]', style: { 'background-color': '#fee2e2', 'border-color': '#dc2626', 'border-style': 'dashed' } },
    { selector: 'node[kind="service"]', style: { shape: 'hexagon', width: 130, height: 46, 'background-color': '#fef3c7', 'border-width': 1, 'border-color': '#d97706', 'font-size': 9 } },
    { selector: 'node[kind="client"]', style: { shape: 'ellipse', width: 110, height: 42, 'background-color': '#e0f2fe', 'border-width': 1, 'border-color': '#0284c7', 'font-size': 9 } },
    { selector: 'node[kind="router"]', style: { shape: 'diamond', width: 70, height: 50, 'background-color': '#f3e8ff', 'border-color': '#9333ea', 'border-width': 1, 'font-size': 9 } },
    { selector: 'edge', style: { width: 1.5, 'line-color': '#cbd5e1', 'curve-style': 'straight' } },
    { selector: 'edge[kind="endpoint"]', style: { 'line-style': 'dashed', 'line-color': '#f59e0b', width: 1, opacity: 0.55, 'target-arrow-shape': 'triangle', 'target-arrow-color': '#f59e0b', 'arrow-scale': 0.6 } },
    { selector: '.onpath', style: { 'border-width': 3, 'border-color': '#2563eb' } },
    { selector: '.curhop', style: { 'border-width': 4, 'border-color': '#dc2626', 'background-color': '#fff7ed' } },
    { selector: 'edge.path', style: { width: 4, 'line-color': '#2563eb', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#2563eb', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 10, color: '#1e3a8a', 'text-background-color': '#fff', 'text-background-opacity': 1, 'z-index': 10 } },
    { selector: 'edge.path.encap', style: { 'line-color': '#ea580c', 'target-arrow-color': '#ea580c', 'line-style': 'dashed', color: '#9a3412' } },
    { selector: 'edge.path.cur', style: { width: 6 } },
  ];
  if (!cy) {
    cy = cytoscape({ container: $('graph'), elements: els, style, layout: { name: 'preset', padding: 30 }, wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 3 });
    cy.on('tap', 'node', (e) => {
      const id = String(e.target.id());
      if (id.startsWith('node:') || id.startsWith('nodehost:')) openNode(id.slice(id.indexOf(':') + 1));
      else if (id.startsWith('pod:')) openObject('Pod', id.slice(4));
      else if (id.startsWith('svc:')) openObject('Service', id.slice(4));
    });
  } else {
    cy.elements().remove();
    cy.add(els);
    cy.layout({ name: 'preset', padding: 30 }).run();
  }
  cy.fit(undefined, 30);
  drawPath();
}

/** Draws the traced path hop by hop; legs leaving a hop that encapsulated are dashed and labelled. */
function drawPath(): void {
  if (!cy) return;
  cy.elements('.path').remove();
  cy.elements().removeClass('onpath curhop');
  const hops = hopsNow();
  if (!hops.length) return;
  const ids = hops.map(netnsElement);
  const present = (id: string) => cy!.getElementById(id).nonempty();
  const anchor = (id: string) => (id.startsWith('node:') ? `nodehost:${id.slice(5)}` : id);
  const segOf = (id: string): string | null => {
    if (!S.graph) return null;
    if (id.startsWith('node:')) return S.graph.nodes.find((n) => n.name === id.slice(5))?.network ?? null;
    if (id.startsWith('client:')) return S.graph.clients.find((n) => n.name === id.slice(7))?.network ?? null;
    return null;
  };
  hops.forEach((hop, i) => {
    const id = anchor(ids[i]!);
    if (present(id)) cy!.getElementById(id).addClass(i === S.hop ? 'onpath curhop' : 'onpath');
  });
  const edges: cytoscape.ElementDefinition[] = [];
  for (let i = 0; i + 1 < hops.length; i++) {
    const a = anchor(ids[i]!);
    const b = anchor(ids[i + 1]!);
    if (a === b || !present(a) || !present(b)) continue;
    const enc = hops[i]!.steps.find((s) => s.kind === 'encap');
    const cls = `path${enc ? ' encap' : ''}${i === S.hop || i + 1 === S.hop ? ' cur' : ''}`;
    const label = `${i + 1}→${i + 2}${enc && enc.kind === 'encap' ? ` ${enc.dev}` : ''}`;
    const sa = segOf(ids[i]!);
    const sb = segOf(ids[i + 1]!);
    if (sa && sa === sb && present(`seg:${sa}`)) {
      edges.push({ data: { id: `p${i}a`, source: a, target: `seg:${sa}`, label }, classes: cls });
      edges.push({ data: { id: `p${i}b`, source: `seg:${sa}`, target: b, label: '' }, classes: cls });
    } else edges.push({ data: { id: `p${i}`, source: a, target: b, label }, classes: cls });
  }
  cy.add(edges);
}

function fillLists(g: Graph): void {
  const src = $('sources');
  src.replaceChildren(...g.pods.slice(0, 300).map((p) => h('option', { value: `pod/${p.key}` })), ...g.nodes.slice(0, 100).map((n) => h('option', { value: `node/${n.name}` })), ...g.clients.map((c) => h('option', { value: `client/${c.name}` })));
  const dst = $('targets');
  dst.replaceChildren(...g.services.slice(0, 300).flatMap((s) => s.ports.map((p) => h('option', { value: `svc/${s.key}:${p.port}` }))));
  const lg = $('legend');
  lg.replaceChildren(
    h('span', {}, h('b', {}, g.name), ` · ${g.cni} · kube-proxy ${g.proxy}`),
    h('span', {}, h('i', { style: 'background:#2563eb' }), 'traced path'),
    h('span', {}, h('i', { style: 'background:#ea580c' }), 'encapsulated leg'),
    h('span', {}, h('i', { style: 'background:#f59e0b' }), 'Service → endpoint'),
    h('span', {}, h('i', { style: 'background:#dc2626' }), 'current hop'),
  );
}

// ------------------------------------------------------------------ node panel

function openNode(name: string): void {
  if (S.node && S.node !== name && S.wsOpen) S.ws?.send(JSON.stringify({ type: 'unsubscribe', nodes: [S.node] }));
  if (S.node !== name && S.wsOpen) S.ws?.send(JSON.stringify({ type: 'subscribe', nodes: [name] }));
  S.node = name;
  showTab('node');
  renderNode();
}

/** Rules the current trace matched in this node's own namespace: `table|chain|index`. */
function hitRules(node: string): Set<string> {
  const hits = new Set<string>();
  const walk = (steps: readonly Step[]) => {
    for (const s of steps) {
      if (s.kind === 'rule' && s.verdict !== 'no-match') hits.add(`${s.table}|${s.chain}|${s.index}`);
      if (s.children) walk(s.children);
    }
  };
  for (const hop of hopsNow()) if (hop.node === node && hop.netns === node) walk(hop.steps);
  return hits;
}

let nodeSeq = 0;
async function renderNode(): Promise<void> {
  const root = $('tab-node');
  const seq = ++nodeSeq;
  const nodes = S.graph?.nodes.map((n) => n.name) ?? [];
  if (!S.node && nodes[0]) {
    // the first node is shown until another is chosen: its diffs are wanted too
    S.node = nodes[0];
    if (S.wsOpen) S.ws?.send(JSON.stringify({ type: 'subscribe', nodes: [S.node] }));
  }
  const sel = h('select', { class: 'small', id: 'node-sel', onchange: (e: Event) => openNode((e.target as HTMLSelectElement).value) }, ...nodes.slice(0, 500).map((n) => h('option', { value: n, ...(n === S.node ? { selected: true } : {}) }, n)));
  const whats = ['tables', ...(S.info?.whats ?? []).filter((w) => w !== 'iptables')];
  const wsel = h('select', { class: 'small', id: 'what-sel', onchange: (e: Event) => ((S.what = (e.target as HTMLSelectElement).value), void renderNode()) }, ...whats.map((w) => h('option', { value: w, ...(w === S.what ? { selected: true } : {}) }, WHAT_LABEL[w] ?? w)));
  const body = h('div', { class: 'dump', id: 'node-dump' }, 'loading…');
  const hits = hitRules(S.node);
  const header = h('div', { class: 'row' }, h('h2', {}, 'Node'), sel, wsel, h('span', { class: 'spacer' }), hits.size ? h('span', { class: 'badge warn' }, `${hits.size} rule${hits.size === 1 ? '' : 's'} hit by the trace`) : null);
  const diffs = S.diffs.filter((d) => d.node === S.node).slice(0, 5);
  const diffBox = diffs.length
    ? h(
        'div',
        {},
        h('h3', {}, 'recent changes on this node'),
        ...diffs.map((d) =>
          h(
            'div',
            { class: 'events' },
            h('div', { class: 'muted' }, `v${d.version} · ${d.cause.join(', ')}`),
            // IPVS mode's servers and sets first: there, they are what the Service change made
            ...diffLines('ipvs', d.ipvs),
            ...diffLines('ipset', d.ipsets),
            ...d.rules.added.slice(0, 30).map((r) => h('div', { class: 'diff-add rl' }, `+ [${r.table}] ${r.rule}`, provLinks(r.provenance))),
            ...d.rules.removed.slice(0, 30).map((r) => h('div', { class: 'diff-del rl' }, `- [${r.table}] ${r.rule}`, provLinks(r.provenance))),
            ...d.routes.added.map((r) => h('div', { class: 'diff-add rl' }, `+ route ${r}`)),
            ...d.routes.removed.map((r) => h('div', { class: 'diff-del rl' }, `- route ${r}`)),
          ),
        ),
      )
    : null;
  root.replaceChildren(header, diffBox ?? '', body);
  if (!S.node) return (body.textContent = 'no node'), undefined;
  try {
    if (S.what === 'tables') {
      const tables = await api<TableDump[]>(`/api/nodes/${encodeURIComponent(S.node)}/tables`);
      if (seq !== nodeSeq) return;
      body.replaceChildren();
      for (const t of tables) {
        body.append(h('div', { class: 'rl tbl' }, `*${t.table}`));
        for (const c of t.chains) body.append(h('div', { class: 'rl chain' }, `:${c.chain} ${c.policy ?? '-'}`));
        for (const c of t.chains)
          for (const r of c.rules) {
            const hit = hits.has(`${t.table}|${c.chain}|${r.index}`);
            body.append(h('div', { class: `rl${hit ? ' hit' : ''}`, 'data-rule': `${t.table}|${c.chain}|${r.index}` }, r.rule, provLinks(r.provenance)));
          }
        body.append(h('div', { class: 'rl' }, 'COMMIT'));
      }
      body.querySelector('.rl.hit')?.scrollIntoView({ block: 'nearest' });
    } else {
      const q = S.what === 'conntrack' && S.query ? `&from=${encodeURIComponent(S.query.from)}&to=${encodeURIComponent(S.query.to)}` : '';
      const text = await api<string>(`/api/nodes/${encodeURIComponent(S.node)}/dump?what=${S.what}${q}`);
      if (seq !== nodeSeq) return;
      body.replaceChildren(h('pre', {}, text || '(empty)'));
    }
  } catch (e) {
    if (seq === nodeSeq) body.replaceChildren(h('div', { class: 'errors' }, (e as Error).message));
  }
}

/** `ipvsadm -Sn` / `ipset save` lines of a node diff, each with its origin. */
function diffLines(tool: string, d: { added: DiffLine[]; removed: DiffLine[] } | undefined): HTMLElement[] {
  if (!d) return [];
  return [
    ...d.added.slice(0, 30).map((l) => h('div', { class: `diff-add rl ${tool}` }, `+ [${tool}] ${l.line}`, provLinks(l.provenance))),
    ...d.removed.slice(0, 30).map((l) => h('div', { class: `diff-del rl ${tool}` }, `- [${tool}] ${l.line}`, provLinks(l.provenance))),
    ...(d.added.length > 30 || d.removed.length > 30 ? [h('div', { class: 'muted' }, `… ${d.added.length} added, ${d.removed.length} removed ${tool} lines in all`)] : []),
  ];
}

/** What each `--what` shows, as the real tool names it. */
const WHAT_LABEL: Record<string, string> = {
  tables: 'iptables-save (with origins)',
  ip6tables: 'ip6tables-save',
  'iptables-restore': 'kube-proxy iptables-restore payload',
  'ip6tables-restore': 'kube-proxy ip6tables-restore payload',
  ipvs: 'ipvsadm -Ln',
  ipset: 'ipset save',
  routes: 'ip route',
  neigh: 'ip neigh',
  links: 'ip -d link',
  fdb: 'bridge fdb',
  conntrack: 'conntrack -L (after the trace)',
  bgp: 'birdc show protocols / route',
  'bgp-log': 'BGP exchange log',
};

// ------------------------------------------------------------------ objects and editor

const CLUSTER = { kind: '(cluster)', key: 'cni, kube-proxy' };

function openObject(kind: string, key: string): void {
  S.selected = { kind, key };
  showTab('objects');
  void renderObjects(true);
}

let objSeq = 0;
async function renderObjects(load = false): Promise<void> {
  const root = $('tab-objects');
  const seq = ++objSeq;
  const list = await api<{ kind: string; key: string }[]>('/api/objects').catch(() => []);
  if (seq !== objSeq) return;
  let editor = root.querySelector<HTMLTextAreaElement>('#yaml');
  if (!editor) {
    editor = h('textarea', { id: 'yaml', spellcheck: 'false' }) as HTMLTextAreaElement;
    const errors = h('div', { class: 'errors', id: 'obj-errors' });
    const title = h('div', { class: 'row' }, h('b', { id: 'obj-title' }, 'select an object'), h('span', { class: 'spacer' }), h('button', { id: 'obj-new', onclick: () => newObject() }, 'new'), h('button', { id: 'obj-delete', onclick: () => void deleteObject() }, 'delete'), h('button', { id: 'obj-apply', class: 'primary', onclick: () => void applyObject() }, 'apply'));
    root.replaceChildren(h('div', { class: 'objs' }, h('div', { class: 'objlist', id: 'objlist' }), h('div', { class: 'editor' }, title, editor, errors, S.info?.save ? h('button', { onclick: () => void save() }, 'save topology') : null)));
  }
  const lb = $('objlist');
  lb.replaceChildren();
  lb.append(h('div', { class: 'grp' }, 'cluster'), h('div', { class: `it${S.selected?.kind === CLUSTER.kind ? ' sel' : ''}`, onclick: () => openObject(CLUSTER.kind, CLUSTER.key) }, 'cni & kube-proxy'));
  for (const kind of S.info?.kinds ?? []) {
    const items = list.filter((o) => o.kind === kind);
    if (!items.length) continue;
    lb.append(h('div', { class: 'grp' }, `${kind} (${items.length})`));
    for (const o of items.slice(0, 400)) lb.append(h('div', { class: `it${S.selected?.kind === kind && S.selected.key === o.key ? ' sel' : ''}`, title: o.key, 'data-key': `${kind}/${o.key}`, onclick: () => openObject(kind, o.key) }, o.key));
  }
  if (load && S.selected) {
    $('obj-title').textContent = S.selected.kind === CLUSTER.kind ? 'cluster settings (topology cluster:)' : `${S.selected.kind} ${S.selected.key}`;
    $('obj-errors').textContent = '';
    try {
      editor.value = S.selected.kind === CLUSTER.kind ? await api<string>('/api/cluster?format=yaml') : await api<string>(`/api/objects/${S.selected.kind}/${S.selected.key}?format=yaml`);
    } catch (e) {
      $('obj-errors').textContent = (e as Error).message;
    }
  }
}

function newObject(): void {
  S.selected = null;
  $('obj-title').textContent = 'new object';
  ($('yaml') as HTMLTextAreaElement).value = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\n  namespace: default\nspec:\n  nodeName: node-2\n  containers:\n  - name: probe\n    image: registry.k8s.io/e2e-test-images/agnhost:2.53\n';
}

async function applyObject(): Promise<void> {
  const text = ($('yaml') as HTMLTextAreaElement).value;
  const err = $('obj-errors');
  err.textContent = '';
  try {
    const res = S.selected?.kind === CLUSTER.kind ? await api<{ version: number; objects: unknown[] }>('/api/cluster', { method: 'PUT', headers: { 'content-type': 'text/yaml' }, body: text }) : await api<{ version: number; objects: unknown[] }>('/api/apply', { method: 'POST', headers: { 'content-type': 'text/yaml' }, body: text });
    toast(`applied: v${res.version}, ${res.objects.length} object event(s)`);
  } catch (e) {
    err.textContent = (e as Error).message;
  }
}

async function deleteObject(): Promise<void> {
  const s = S.selected;
  if (!s || s.kind === CLUSTER.kind) return;
  try {
    await api(`/api/objects/${s.kind}/${s.key}`, { method: 'DELETE' });
    toast(`deleted ${s.kind} ${s.key}`);
    S.selected = null;
    ($('yaml') as HTMLTextAreaElement).value = '';
  } catch (e) {
    $('obj-errors').textContent = (e as Error).message;
  }
}

async function save(): Promise<void> {
  try {
    const r = await api<{ saved: string }>('/api/save', { method: 'POST' });
    toast(`saved to ${r.saved}`);
  } catch (e) {
    toast((e as Error).message);
  }
}

// ------------------------------------------------------------------ compare

interface CompareAnswer {
  rows: CompareRow[];
  table: string;
  delivered: boolean;
}

const CNI_MODES = ['flannel-vxlan', 'flannel-host-gw', 'calico-bgp', 'calico-ipip', 'calico-ipip-crosssubnet', 'calico-vxlan', 'calico-vxlan-crosssubnet'];
const range = (r: { min: number; max: number } | null): string => (r === null ? '-' : r.min === r.max ? String(r.min) : `${r.min}-${r.max}`);
let compareSeq = 0;

/** The current request under each CNI × kube-proxy mode (GET /api/compare, as `podpath compare`). */
async function renderCompare(run = false): Promise<void> {
  const root = $('tab-compare');
  if (!S.info?.compare) {
    root.replaceChildren(h('div', { class: 'empty' }, h('b', {}, 'Compare is not available'), h('br'), 'this server was started without the compare view.'));
    return;
  }
  if (!S.query) {
    root.replaceChildren(h('div', { class: 'empty' }, 'Trace a request first: compare runs the same request under every CNI and kube-proxy mode.'));
    return;
  }
  const q = S.query;
  const prev = root.querySelector<HTMLElement>('#cmp-result');
  const checked = new Set([...root.querySelectorAll<HTMLInputElement>('input.cmp-mode:checked')].map((i) => i.value));
  const proxies = new Set([...root.querySelectorAll<HTMLInputElement>('input.cmp-proxy:checked')].map((i) => i.value));
  const modeBoxes = CNI_MODES.map((m) => h('label', { class: 'chk' }, h('input', { type: 'checkbox', class: 'cmp-mode', value: m, ...(checked.size === 0 || checked.has(m) ? { checked: true } : {}) }), m));
  const proxyBoxes = ['iptables', 'ipvs'].map((p) => h('label', { class: 'chk' }, h('input', { type: 'checkbox', class: 'cmp-proxy', value: p, ...(proxies.size === 0 || proxies.has(p) ? { checked: true } : {}) }), `kube-proxy ${p}`));
  const result = prev ?? h('div', { id: 'cmp-result' }, h('div', { class: 'muted' }, 'Press Compare: each mode loads the topology again and traces the request (a few seconds).'));
  root.replaceChildren(
    h('div', { class: 'row' }, h('h2', {}, `${q.from} → ${q.to}`), h('span', { class: 'spacer' }), h('button', { id: 'cmp-go', class: 'primary', onclick: () => void renderCompare(true) }, 'Compare')),
    h('div', { class: 'row wrap' }, ...modeBoxes),
    h('div', { class: 'row wrap' }, ...proxyBoxes),
    result,
  );
  if (!run) return;
  const seq = ++compareSeq;
  const modes = [...root.querySelectorAll<HTMLInputElement>('input.cmp-mode:checked')].map((i) => i.value);
  const px = [...root.querySelectorAll<HTMLInputElement>('input.cmp-proxy:checked')].map((i) => i.value);
  const p = new URLSearchParams({ from: q.from, to: q.to, all: q.all ? 'true' : 'false', modes: modes.join(','), proxy: px.join(',') });
  if (q.proto) p.set('proto', q.proto);
  result.replaceChildren(h('div', { class: 'empty' }, 'comparing…'));
  try {
    const a = await api<CompareAnswer>(`/api/compare?${p.toString()}`);
    if (seq !== compareSeq) return;
    const t = h('table', { class: 'cmp', id: 'cmp-table' });
    t.append(h('tr', {}, ...['mode', 'kube-proxy', 'disposition', 'endpoint', 'hops', 'encap B', 'pod MTU', 'rules', 'routes/node', 'BGP'].map((c) => h('th', {}, c))));
    for (const r of a.rows) {
      const disp = r.status === 'error' ? h('span', { class: 'badge bad' }, 'error') : r.status === 'unmodelled' ? h('span', { class: 'badge warn' }, 'not modelled') : r.disposition ? dispBadge(r.disposition) : h('span', { class: 'badge warn' }, 'mixed');
      const eps = [...new Set(r.outcomes.map((o) => o.endpoint).filter((x): x is string => x !== null))];
      const why = r.error ?? r.outcomes.find((o) => o.disposition !== 'delivered')?.reason ?? null;
      t.append(
        h(
          'tr',
          { class: r.status === 'ok' && r.delivered ? 'ok' : 'bad', 'data-row': `${r.mode}/${r.proxy}` },
          h('td', {}, r.mode),
          h('td', {}, r.proxy),
          h('td', {}, disp, why ? h('div', { class: 'muted small' }, why) : null),
          h('td', { class: 'mono' }, eps.length > 1 ? `${eps.length} endpoints` : (eps[0] ?? '-')),
          h('td', {}, range(r.hops)),
          h('td', {}, range(r.encapBytes)),
          h('td', {}, range(r.podMtu)),
          h('td', {}, `${range(r.rulesEvaluated)}${r.ipvsLookups && r.ipvsLookups.max > 0 ? ` +${range(r.ipvsLookups)} ipvs` : ''}`),
          h('td', {}, range(r.nodeRoutes)),
          h('td', {}, r.bgpSessions === null ? '-' : String(r.bgpSessions)),
        ),
      );
    }
    result.replaceChildren(t, h('h3', {}, 'as podpath compare prints it'), h('pre', { class: 'dump' }, a.table));
  } catch (e) {
    if (seq === compareSeq) result.replaceChildren(h('div', { class: 'errors' }, (e as Error).message));
  }
}

// ------------------------------------------------------------------ tabs and start

function showTab(name: string): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const t of document.querySelectorAll<HTMLElement>('.tab')) t.classList.toggle('active', t.id === `tab-${name}`);
  if (name === 'node') void renderNode();
  if (name === 'objects' && !document.getElementById('yaml')) void renderObjects();
  if (name === 'compare') void renderCompare();
}

/** The topology's name, CNI and kube-proxy mode (these change with the cluster section). */
async function loadInfo(): Promise<void> {
  S.info = await api<Info>('/api/info');
  $('topo-name').textContent = `${S.info.name} · ${S.info.cni} · kube-proxy ${S.info.proxy}`;
  document.title = `podpath · ${S.info.name}`;
}

async function start(): Promise<void> {
  for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab ?? 'trace'));
  $('trace-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q: Query = { from: ($('f-from') as HTMLInputElement).value.trim(), to: ($('f-to') as HTMLInputElement).value.trim(), all: ($('f-all') as HTMLInputElement).checked };
    const proto = ($('f-proto') as HTMLSelectElement).value;
    if (proto) q.proto = proto;
    if (q.from && q.to) startTrace(q);
  });
  document.addEventListener('keydown', (e) => {
    if ((e.target as HTMLElement).tagName === 'TEXTAREA' || (e.target as HTMLElement).tagName === 'INPUT') return;
    if (e.key === 'ArrowRight') stepHop(1);
    if (e.key === 'ArrowLeft') stepHop(-1);
  });
  await loadInfo();
  await loadGraph();
  renderTrace();
  const q = queryFromHash();
  connect();
  if (q) {
    const { o, h: hop, ...query } = q;
    S.query = query;
    startTrace(query, { ...(o !== undefined ? { o } : {}), ...(hop !== undefined ? { h: hop } : {}) });
  }
}

void start();
