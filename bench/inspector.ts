import WebSocket from 'ws';
import { Inspector, serveInspector } from '../src/server/index.js';
import type { Pod } from '../src/cluster/objects.js';
import type { BenchSuite, Figure } from './harness.js';
import { benchTopologyText, type BenchClusterShape } from './trace.js';

/**
 * Issue 8 item 5: with a 1,000-node / 10,000-Service topology loaded in the inspector, an endpoint
 * change (one pod marked unready, then ready again) reaches 50 websocket clients subscribed to a
 * node as a diff of kube-proxy rules. Timed from the apply call until the last client has parsed
 * its node-diff message; target ≤ 100 ms (median over the runs).
 */
const SHAPE: BenchClusterShape = { nodes: Number(process.env.PODPATH_BENCH_INSPECTOR_NODES ?? 1000), services: 10_000, endpointsPerService: 10, workloads: 'deployments', namespaces: 50 };
const CLIENTS = 50;
const RUNS = 20;

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const suite: BenchSuite = {
  name: 'inspector',
  async run(): Promise<Figure[]> {
    const figures: Figure[] = [];
    let t0 = process.hrtime.bigint();
    const inspector = await Inspector.fromDocument(JSON.parse(benchTopologyText(SHAPE)) as Record<string, unknown>, `<bench ${SHAPE.nodes} nodes>`);
    figures.push({ name: `load ${SHAPE.nodes} nodes / ${SHAPE.services} Services into the inspector`, value: ms(t0) / 1000, unit: 's' });
    const server = await serveInspector(inspector, { port: 0, uiDir: '/nonexistent' });
    const node = inspector.topology.nodes[0]!.name;
    t0 = process.hrtime.bigint();
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, { maxPayload: 64 * 2 ** 20 });
        await new Promise<void>((res, rej) => (ws.once('open', () => res()), ws.once('error', rej)));
        return ws;
      }),
    );
    let acks = 0;
    await new Promise<void>((res) => {
      for (const ws of clients) {
        ws.on('message', (d) => {
          if ((JSON.parse(String(d)) as { type: string }).type === 'ack' && ++acks === CLIENTS) res();
        });
        ws.send(JSON.stringify({ type: 'subscribe', id: 's', nodes: [node] }));
      }
    });
    figures.push({ name: `${CLIENTS} clients subscribe to ${node} (kube-proxy full sync)`, value: ms(t0), unit: 'ms' });
    for (const ws of clients) ws.removeAllListeners('message');

    const pods = (inspector.topology.store.list('Pod') as Pod[]).filter((p) => p.metadata.name.startsWith('svc-'));
    const times: number[] = [];
    let ruleCount = 0;
    for (let r = 0; r < RUNS; r++) {
      const pod = pods[(r * 7919) % pods.length]!;
      for (const ready of ['False', 'True']) {
        let pending = CLIENTS;
        const done = new Promise<void>((res) => {
          for (const ws of clients)
            ws.once('message', function onMsg(this: WebSocket, d) {
              const m = JSON.parse(String(d)) as { type: string; rules?: { added: unknown[]; removed: unknown[] } };
              if (m.type !== 'node-diff') return void ws.once('message', onMsg);
              ruleCount = (m.rules?.added.length ?? 0) + (m.rules?.removed.length ?? 0);
              if (--pending === 0) res();
            });
        });
        const cur = inspector.get('Pod', `${pod.metadata.namespace}/${pod.metadata.name}`) as Pod;
        const t = process.hrtime.bigint();
        await inspector.apply([{ ...cur, status: { ...cur.status, conditions: [{ type: 'Ready', status: ready }] } }]);
        await done;
        times.push(ms(t));
      }
    }
    times.sort((a, b) => a - b);
    const median = times[times.length >> 1]!;
    figures.push({ name: `endpoint change → node-diff at all ${CLIENTS} clients (median)`, value: median, unit: 'ms', target: '≤ 100 ms', ok: median <= 100, note: `p90 ${times[Math.floor(times.length * 0.9)]!.toFixed(1)} ms over ${times.length} changes; ${ruleCount} rules in the last diff` });
    for (const ws of clients) ws.terminate();
    await server.close();
    return figures;
  },
};
export default suite;
