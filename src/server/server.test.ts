import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { buildWorld, compareModes, formatCompareTable, loadTopology, nodeDump, readCompareSource, renderTrace, traceRequest } from '../index.js';
import { DUMP_WHATS, Inspector, MAX_MESSAGE_BYTES, serveInspector, type RunningServer, type ServerMessage } from './index.js';

const TOPO = 'topologies/default.yaml';
const servers: RunningServer[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const s of servers.splice(0)) await s.close();
});

async function start(opts: { savePath?: string; topology?: string } = {}): Promise<{ inspector: Inspector; server: RunningServer; base: string }> {
  const inspector = await Inspector.open(opts.topology ?? TOPO, opts);
  const server = await serveInspector(inspector, { port: 0, uiDir: '/nonexistent' });
  servers.push(server);
  return { inspector, server, base: `http://127.0.0.1:${server.port}` };
}

/** A ws client that records every message and can wait for one matching a predicate. */
async function client(port: number, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers });
  sockets.push(ws);
  const got: ServerMessage[] = [];
  const waiters: { pred: (m: ServerMessage) => boolean; res: (m: ServerMessage) => void }[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as ServerMessage;
    got.push(m);
    for (const w of [...waiters]) if (w.pred(m)) waiters.splice(waiters.indexOf(w), 1) && w.res(m);
  });
  const next = (pred: (m: ServerMessage) => boolean, ms = 5000) =>
    new Promise<ServerMessage>((res, rej) => {
      const hit = got.find(pred);
      if (hit) return res(hit);
      const t = setTimeout(() => rej(new Error(`no matching message within ${ms} ms; got ${got.map((m) => m.type).join(',')}`)), ms);
      waiters.push({ pred, res: (m) => (clearTimeout(t), res(m)) });
    });
  await new Promise<void>((res, rej) => (ws.once('open', () => res()), ws.once('error', rej)));
  await next((m) => m.type === 'hello');
  return { ws, got, next, send: (o: unknown) => ws.send(typeof o === 'string' ? o : JSON.stringify(o)) };
}

const json = async (r: Response) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> });

describe('HTTP API', () => {
  test('trace is the JSON of podpath trace --format json, pcap is a pcap file', async () => {
    const { base } = await start();
    const q = 'from=pod/default/client&to=svc/default/web:80&all=true';
    const got = await json(await fetch(`${base}/api/trace?${q}`));
    // expected independently: the library the CLI renders with, on a World of its own
    const topo = await loadTopology(TOPO);
    const expected = JSON.parse(renderTrace(traceRequest(buildWorld(topo), { from: 'pod/default/client', to: 'svc/default/web:80', all: true, seed: 1, reply: true }).trace, 'json'));
    expect(got.status).toBe(200);
    expect(got.body).toEqual(expected);
    expect((got.body.outcomes as unknown[]).length).toBe(3);
    const pcap = new Uint8Array(await (await fetch(`${base}/api/trace.pcap?${q}`)).arrayBuffer());
    // pcap global header magic 0xa1b2c3d4 in either byte order
    expect([...pcap.slice(0, 4)].map((b) => b.toString(16)).join('')).toMatch(/^(d4c3b2a1|a1b2c3d4)$/);
  });

  test('an invalid object is refused with its field and changes nothing; a valid one applies', async () => {
    const { base, inspector } = await start();
    const before = inspector.get('Deployment', 'default/web');
    const bad = await json(await fetch(`${base}/api/apply`, { method: 'POST', headers: { 'content-type': 'text/yaml' }, body: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec: {replicas: -2}\n' }));
    expect(bad.status).toBe(400);
    expect(bad.body.problems).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'spec.replicas' })]));
    expect(inspector.changeVersion).toBe(0);
    expect(inspector.get('Deployment', 'default/web')).toEqual(before);
    const syntax = await json(await fetch(`${base}/api/apply`, { method: 'POST', headers: { 'content-type': 'text/yaml' }, body: 'kind: [\n' }));
    expect(syntax.status).toBe(400);
    const notJson = await fetch(`${base}/api/trace`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(notJson.status).toBe(400);
    const huge = await fetch(`${base}/api/apply`, { method: 'POST', headers: { 'content-type': 'text/yaml' }, body: 'x'.repeat(MAX_MESSAGE_BYTES + 10) });
    expect(huge.status).toBe(413);
    const web = inspector.get('Deployment', 'default/web') as import('../index.js').Deployment;
    const ok = await json(await fetch(`${base}/api/apply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...web, spec: { ...web.spec, replicas: 1 } }) }));
    expect(ok.status).toBe(200);
    expect(inspector.list('Pod').filter((p) => p.metadata.name.startsWith('web-'))).toHaveLength(1);
    const del = await fetch(`${base}/api/objects/EndpointSlice/${inspector.list('EndpointSlice')[0]!.metadata.namespace}/${inspector.list('EndpointSlice')[0]!.metadata.name}`, { method: 'DELETE' });
    expect(del.status).toBe(400);
  });

  test('node dumps, unknown routes, host check; save only to the path given at start, atomically', async () => {
    const dir = mkdtempSync(join(tmpdir(), `pp${process.pid}-save-`));
    try {
      const save = join(dir, 'saved.yaml');
      const { base, inspector } = await start({ savePath: save });
      const ipt = await (await fetch(`${base}/api/nodes/node-1/dump?what=iptables`)).text();
      expect(ipt).toMatch(/^-A KUBE-SERVICES -d 10\.96\.100\.10\/32 -p tcp .*-j KUBE-SVC-/m);
      expect(await (await fetch(`${base}/api/nodes/node-1/dump?what=routes`)).text()).toMatch(/10\.244\.1\.0\/24 via 10\.244\.1\.0 dev flannel\.1 onlink/);
      expect((await fetch(`${base}/api/nodes/node-9/dump?what=routes`)).status).toBe(400);
      expect((await fetch(`${base}/api/nodes/node-1/dump?what=../../etc/passwd`)).status).toBe(400);
      expect((await fetch(`${base}/api/compare`)).status).toBe(400);
      expect((await fetch(`${base}/api/nope`)).status).toBe(404);
      const web = inspector.get('Deployment', 'default/web') as import('../index.js').Deployment;
      await inspector.apply([{ ...web, spec: { ...web.spec, replicas: 2 } }]);
      const r = await json(await fetch(`${base}/api/save`, { method: 'POST' }));
      expect(r.body.saved).toBe(save);
      const reloaded = await Inspector.open(save);
      expect(reloaded.list('Pod').filter((p) => p.metadata.name.startsWith('web-'))).toHaveLength(2);
      expect(readFileSync(save, 'utf8')).toMatch(/^# saved by podpath serve/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const { base } = await start();
    expect((await fetch(`${base}/api/save`, { method: 'POST' })).status).toBe(400);
    expect(existsSync('saved.yaml')).toBe(false);
  });
});

describe('compare', () => {
  test('GET /api/compare is podpath compare on the current objects; a bad mode is a 400 naming it', async () => {
    const { base } = await start();
    const q = 'from=pod/default/client&to=svc/default/web:80&all=true&modes=flannel-vxlan,calico-vxlan&proxy=iptables';
    const got = await json(await fetch(`${base}/api/compare?${q}`));
    expect(got.status).toBe(200);
    // expected independently: src/compare on the topology file, as the CLI runs it
    const topo = 'topologies/default.yaml';
    await loadTopology(topo);
    const rows = await compareModes(await readCompareSource(topo), { from: 'pod/default/client', to: 'svc/default/web:80' }, { trace: traceRequest, all: true, seed: 1, modes: ['flannel-vxlan', 'calico-vxlan'], proxies: ['iptables'] });
    expect(got.body.rows).toEqual(JSON.parse(JSON.stringify(rows)));
    expect(got.body.table).toBe(formatCompareTable(rows));
    expect((got.body.rows as { mode: string }[]).map((r) => r.mode)).toEqual(['flannel-vxlan', 'calico-vxlan']);
    const bad = await json(await fetch(`${base}/api/compare?from=pod/default/client&to=svc/default/web:80&modes=weave`));
    expect(bad.status).toBe(400);
    expect(bad.body.problems).toEqual([expect.objectContaining({ field: '--modes' })]);
  });
});

describe('websocket protocol', () => {
  test('subscribe to a node; marking a web pod unready sends object events and the rules removed, with their origin', async () => {
    const { server, inspector } = await start();
    const c = await client(server.port);
    c.send({ type: 'subscribe', id: 's1', nodes: ['node-1'], objects: true });
    expect(await c.next((m) => m.type === 'ack' && m.id === 's1')).toMatchObject({ of: 'subscribe' });
    const pod = inspector.list('Pod').find((p) => p.metadata.name.startsWith('web-'))! as unknown as { metadata: { name: string }; status: { podIP: string; conditions: unknown[] } };
    const ip = pod.status.podIP;
    const yaml = JSON.stringify({ ...pod, status: { ...pod.status, conditions: [{ type: 'Ready', status: 'False' }] } });
    c.send({ type: 'apply', id: 'a1', yaml });
    const ack = await c.next((m) => m.type === 'ack' && m.id === 'a1');
    expect(ack).toMatchObject({ of: 'apply', version: 1 });
    const diff = (await c.next((m) => m.type === 'node-diff')) as Extract<ServerMessage, { type: 'node-diff' }>;
    expect(diff.node).toBe('node-1');
    // kube-proxy drops the endpoint's KUBE-SEP chain rules and its KUBE-SVC jump for every Service of web
    const gone = diff.rules.removed;
    expect(gone.some((r) => r.rule.includes(`${ip}:8080`) && r.chain.startsWith('KUBE-SVC-'))).toBe(true);
    expect(gone.find((r) => r.rule.includes(`-j DNAT --to-destination ${ip}:8080`))?.provenance).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'EndpointSlice' })]));
    const ev = await c.next((m) => m.type === 'object' && m.kind === 'Pod');
    expect(ev).toMatchObject({ event: 'MODIFIED', key: `default/${pod.metadata.name}` });
  });

  test('bad messages get errors, change nothing, and the connection keeps working', async () => {
    const { server, inspector } = await start();
    const c = await client(server.port);
    c.send('{not json');
    expect(await c.next((m) => m.type === 'error')).toMatchObject({ code: 'bad-json' });
    c.send({ type: 'subscribe', id: 'x', nodes: ['node-1'], colour: 'red' });
    expect(await c.next((m) => m.type === 'error' && m.id === 'x')).toMatchObject({ code: 'bad-message', problems: [{ field: 'colour' }] });
    c.send({ type: 'launch', id: 'y' });
    expect(await c.next((m) => m.type === 'error' && m.id === 'y')).toMatchObject({ problems: [{ field: 'type' }] });
    c.send({ type: 'subscribe', id: 'z', nodes: ['node-77'] });
    expect(await c.next((m) => m.type === 'error' && m.id === 'z')).toMatchObject({ problems: [{ field: 'nodes' }] });
    c.send({ type: 'apply', id: 'w', yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 99999}]}\n' });
    expect(await c.next((m) => m.type === 'error' && m.id === 'w')).toMatchObject({ code: 'rejected' });
    c.send({ type: 'apply', id: 'big', yaml: 'a'.repeat(MAX_MESSAGE_BYTES) });
    expect(await c.next((m) => m.type === 'error' && m.code === 'too-large')).toBeTruthy();
    c.send({ type: 'subscribe', traces: [{ id: 't', from: 'pod/default/client', to: 'svc/default/web:80', sport: 70000 }] });
    expect(await c.next((m) => m.type === 'error' && JSON.stringify(m).includes('traces[0].sport'))).toBeTruthy();
    expect(inspector.changeVersion).toBe(0);
    c.send({ type: 'ping', id: 'p' });
    expect(await c.next((m) => m.type === 'pong' && m.id === 'p')).toBeTruthy();
  });

  test('a frame over the hard limit closes that connection only; a foreign Origin is refused', async () => {
    const { server } = await start();
    const c = await client(server.port);
    const closed = new Promise<number>((res) => c.ws.once('close', (code) => res(code)));
    c.send('x'.repeat(2 * 1024 * 1024));
    expect(await closed).toBe(1009);
    const d = await client(server.port);
    d.send({ type: 'ping', id: 'still' });
    expect(await d.next((m) => m.type === 'pong')).toBeTruthy();
    await expect(client(server.port, { Origin: 'http://evil.example' })).rejects.toThrow(/401/);
  });

  test('a subscribed trace is sent, and sent again when scaling web changes it', async () => {
    const { server } = await start();
    const c = await client(server.port);
    c.send({ type: 'subscribe', traces: [{ id: 'web', from: 'pod/default/client', to: 'svc/default/web:80', all: true }] });
    const first = (await c.next((m) => m.type === 'trace')) as Extract<ServerMessage, { type: 'trace' }>;
    expect(first.trace?.outcomes).toHaveLength(3);
    c.send({ type: 'apply', id: 'scale', yaml: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default, labels: {app: web}}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: agnhost, image: registry.k8s.io/e2e-test-images/agnhost:2.53, ports: [{containerPort: 8080, name: http}]}\n' });
    const second = (await c.next((m) => m.type === 'trace' && m.version === 1)) as Extract<ServerMessage, { type: 'trace' }>;
    expect(second.trace?.outcomes).toHaveLength(1);
    expect(second.trace?.outcomes[0]?.probability).toBe(1);
  });

  test('50 concurrent clients all receive every update', async () => {
    const { server, inspector } = await start();
    const cs = await Promise.all(Array.from({ length: 50 }, () => client(server.port)));
    for (const c of cs) c.send({ type: 'subscribe', id: 's', nodes: ['node-2'], objects: true });
    await Promise.all(cs.map((c) => c.next((m) => m.type === 'ack')));
    const pods = inspector.list('Pod').filter((p) => p.metadata.name.startsWith('web-'));
    for (const [i, p] of pods.entries()) {
      const q = p as unknown as { status: Record<string, unknown> };
      await inspector.apply([{ ...p, status: { ...q.status, conditions: [{ type: 'Ready', status: i % 2 ? 'True' : 'False' }] } }]);
    }
    const versions = inspector.changeVersion;
    expect(versions).toBeGreaterThanOrEqual(2);
    for (const c of cs) {
      await c.next((m) => m.type === 'change' && m.version === versions);
      const changes = c.got.filter((m) => m.type === 'change').map((m) => (m as { version: number }).version);
      expect(changes).toEqual(Array.from({ length: versions }, (_, i) => i + 1));
    }
    const diffs = cs.map((c) => c.got.filter((m) => m.type === 'node-diff').length);
    expect(new Set(diffs).size).toBe(1);
    expect(diffs[0]).toBeGreaterThanOrEqual(1);
  });

  test('IPVS mode: an unready pod removes its real servers, a NodePort adds virtual servers and ipset members, each with its origin', async () => {
    const { server, inspector } = await start({ topology: 'topologies/flannel-vxlan-ipvs.yaml' });
    const c = await client(server.port);
    c.send({ type: 'subscribe', id: 's', nodes: ['node-2'] });
    await c.next((m) => m.type === 'ack' && m.id === 's');
    type Diff = Extract<ServerMessage, { type: 'node-diff' }>;
    const svc = inspector.get('Service', 'default/web') as import('../index.js').Service;
    const vip = svc.spec.clusterIP!;
    const pod = inspector.list('Pod').find((p) => p.metadata.name.startsWith('web-'))! as import('../index.js').Pod;
    const ip = pod.status!.podIP!;
    await inspector.apply([{ ...pod, status: { ...pod.status, conditions: [{ type: 'Ready', status: 'False' }] } }]);
    const d1 = (await c.next((m) => m.type === 'node-diff' && m.version === 1)) as Diff;
    expect(d1.how).toBe('incremental');
    // kube-proxy deletes the endpoint's real server from the Service's VS (ipvsadm -Sn: -a -t VIP:80 -r POD:8080 -m -w 1)
    const rs = d1.ipvs.removed.find((l) => l.line === `-a -t ${vip}:80 -r ${ip}:8080 -m -w 1`);
    expect(rs?.provenance).toEqual([expect.objectContaining({ kind: 'EndpointSlice' })]);
    expect(d1.ipvs.added).toEqual([]);
    // the VS itself stays: two endpoints remain
    expect(d1.ipvs.removed.some((l) => l.line.startsWith('-A '))).toBe(false);

    // web becomes a NodePort Service: a VS on the node's address and the port in KUBE-NODE-PORT-TCP
    await inspector.apply([{ ...svc, spec: { ...svc.spec, type: 'NodePort', ports: svc.spec.ports!.map((p) => ({ ...p, nodePort: 30999 })) } }]);
    const d2 = (await c.next((m) => m.type === 'node-diff' && m.version === 2)) as Diff;
    expect(d2.how).toBe('reload');
    const vs = d2.ipvs.added.find((l) => l.line === '-A -t 192.168.56.12:30999 -s rr');
    expect(vs?.provenance).toEqual([expect.objectContaining({ kind: 'Service', name: 'default/web' })]);
    expect(d2.ipvs.added.filter((l) => l.line.startsWith('-a -t 192.168.56.12:30999 -r '))).toHaveLength(2);
    const member = d2.ipsets.added.find((l) => l.line === 'add KUBE-NODE-PORT-TCP 30999');
    expect(member?.provenance).toEqual([expect.objectContaining({ kind: 'Service', name: 'default/web' })]);
  });

  test('every dump answers, as podpath rules renders it (nodeDump), on iptables and IPVS clusters', async () => {
    for (const topology of ['topologies/default.yaml', 'topologies/flannel-vxlan-ipvs.yaml']) {
      const { base, inspector } = await start({ topology });
      const topo = await loadTopology(topology);
      for (const what of DUMP_WHATS) {
        const extra = what === 'conntrack' ? '&from=pod/default/client&to=svc/default/web:80' : '';
        const r = await fetch(`${base}/api/nodes/node-2/dump?what=${what}${extra}`);
        expect(r.status, `${topology} ${what}`).toBe(200);
        if (what !== 'conntrack') expect(await r.text(), `${topology} ${what}`).toBe(nodeDump(topo, 'node-2', what));
      }
      expect(inspector.changeVersion).toBe(0);
    }
  });

  test('the node dumps cover every podpath rules --what: ipvs, ipset, bgp on a Calico cluster', async () => {
    const { base } = await start({ topology: 'topologies/flannel-vxlan-ipvs.yaml' });
    const info = (await json(await fetch(`${base}/api/info`))).body;
    expect(info.whats).toEqual(expect.arrayContaining(['ipvs', 'ipset', 'bgp', 'bgp-log']));
    // ipvsadm -Ln: the header, then TCP VIP:port rr
    expect(await (await fetch(`${base}/api/nodes/node-1/dump?what=ipvs`)).text()).toMatch(/^IP Virtual Server version [\s\S]*^TCP {2}10\.\d+\.\d+\.\d+:80 rr/m);
    expect(await (await fetch(`${base}/api/nodes/node-1/dump?what=ipset`)).text()).toMatch(/^create KUBE-CLUSTER-IP hash:ip,port /m);
    const cal = await start({ topology: 'topologies/calico-bgp-mesh.yaml' });
    const bgp = await (await fetch(`${cal.base}/api/nodes/${cal.inspector.topology.nodes[0]!.name}/dump?what=bgp`)).text();
    // birdc show protocols: a full mesh has one Established BGP session per other node
    expect(bgp.match(/^Mesh_\S+ +BGP +master +up .*Established$/gm)).toHaveLength(cal.inspector.topology.nodes.length - 1);
  });

  test('switching the CNI to Calico (vxlan, then BGP) re-addresses the pods from Calico IPAM and the trace still delivers', async () => {
    const { server, inspector } = await start({ topology: 'topologies/flannel-vxlan.yaml' });
    const c = await client(server.port);
    c.send({ type: 'subscribe', id: 's', nodes: ['node-2'], traces: [{ id: 't', from: 'pod/default/client', to: 'svc/default/web:80', all: true }] });
    await c.next((m) => m.type === 'trace' && m.id === 't');
    const section = inspector.clusterSection() as Record<string, unknown>;
    const flannelIp = (inspector.get('Pod', 'default/client') as import('../index.js').Pod).status!.podIP!;
    await inspector.setCluster({ ...section, cni: { plugin: 'calico', mode: 'vxlan' } });
    const t1 = (await c.next((m) => m.type === 'trace' && m.version === 1)) as Extract<ServerMessage, { type: 'trace' }>;
    expect(t1.trace?.outcomes.map((o) => o.disposition)).toEqual(['delivered', 'delivered', 'delivered']);
    // Calico IPAM hands out addresses from /26 blocks (node-1's first block), not flannel's node podCIDR
    const calicoIp = (inspector.get('Pod', 'default/client') as import('../index.js').Pod).status!.podIP!;
    expect(calicoIp).not.toBe(flannelIp);
    expect(inspector.dump('node-1', 'routes')).toMatch(new RegExp(`^${calicoIp.replace(/\./g, '\\.')} dev cali`, 'm'));
    await inspector.setCluster({ ...section, cni: { plugin: 'calico', mode: 'bgp' } });
    const d2 = (await c.next((m) => m.type === 'node-diff' && m.version === 2)) as Extract<ServerMessage, { type: 'node-diff' }>;
    // BIRD's routes to the other nodes' blocks: `… via NODE-IP dev eth0 proto bird`
    expect(d2.routes.added.filter((r) => / proto bird/.test(r)).length).toBeGreaterThan(0);
    const t2 = (await c.next((m) => m.type === 'trace' && m.version === 2)) as Extract<ServerMessage, { type: 'trace' }>;
    expect(t2.trace?.outcomes.every((o) => o.disposition === 'delivered')).toBe(true);
  });
});
