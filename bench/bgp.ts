import os from 'node:os';
import { BgpNetwork, CALICO_BGP_TEMPLATE } from '../src/bgp/index.js';
import type { ConvergenceReport } from '../src/bgp/index.js';
import type { BenchSuite, Figure } from './harness.js';

/** Node i's address: 10.0.x.y, distinct for up to 65k nodes. */
const addr = (i: number): string => `10.0.${i >> 8}.${i & 255}`;

/** Calico's node-to-node mesh of n nodes, each originating one /26 block. */
export function meshNetwork(n: number): BgpNetwork {
  const net = new BgpNetwork({ logLimit: 0 });
  for (let i = 1; i <= n; i++) net.addSpeaker({ name: `node-${i}`, routerId: addr(i), asn: 64512, address: addr(i) });
  for (let i = 1; i <= n; i++) for (let j = i + 1; j <= n; j++) net.addPeering(`node-${i}`, `node-${j}`, { namePrefix: 'Mesh', a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
  for (let i = 1; i <= n; i++) net.originate(`node-${i}`, `10.${64 + (i >> 10)}.${(i >> 2) & 255}.${(i & 3) * 64}/26`);
  return net;
}

/** n nodes of which the first `rrs` are route reflectors (one cluster id); clients peer with every RR. */
export function rrNetwork(n: number, rrs: number): BgpNetwork {
  const net = new BgpNetwork({ logLimit: 0 });
  for (let i = 1; i <= n; i++) net.addSpeaker({ name: `node-${i}`, routerId: addr(i), asn: 64512, address: addr(i), ...(i <= rrs ? { clusterId: '244.0.0.1' } : {}) });
  for (let r = 1; r <= rrs; r++) {
    for (let q = r + 1; q <= rrs; q++) net.addPeering(`node-${r}`, `node-${q}`, { namePrefix: 'Node', a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
    for (let i = rrs + 1; i <= n; i++) net.addPeering(`node-${r}`, `node-${i}`, { namePrefix: 'Node', aIsReflectorFor: true, a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
  }
  for (let i = 1; i <= n; i++) net.originate(`node-${i}`, `10.${64 + (i >> 10)}.${(i >> 2) & 255}.${(i & 3) * 64}/26`);
  return net;
}

/** Builds and runs a network to convergence: wall time and this process's CPU time (user + system). */
function converge(make: () => BgpNetwork): { ms: number; cpuMs: number; rep: ConvergenceReport; net: BgpNetwork } {
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const net = make();
  const rep = net.run();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  if (!rep.converged) throw new Error('benchmark network did not converge');
  return { ms, cpuMs: (c.user + c.system) / 1000, rep, net };
}

function figures(label: string, r: { ms: number; cpuMs: number; rep: ConvergenceReport }, target?: number): Figure[] {
  const load = os.loadavg()[0]!.toFixed(1);
  const out: Figure[] = [
    { name: `${label}: wall time to convergence`, value: r.ms / 1000, unit: 's', note: `load average ${load} on ${os.cpus().length} CPUs`, ...(target ? { target: `≤ ${target} s`, ok: r.ms / 1000 <= target } : {}) },
    { name: `${label}: CPU time (user+sys, incl. GC threads)`, value: r.cpuMs / 1000, unit: 's' },
    { name: `${label}: sessions established`, value: r.rep.sessionsEstablished / 2, unit: 'sessions' },
    { name: `${label}: messages (OPEN+KEEPALIVE+UPDATE+NOTIFICATION)`, value: r.rep.totalMessages, unit: 'msgs' },
    { name: `${label}: UPDATE messages`, value: r.rep.messages.UPDATE, unit: 'msgs' },
    { name: `${label}: virtual time to convergence`, value: r.rep.virtualTimeMs / 1000, unit: 's' },
  ];
  return out;
}

const suite: BenchSuite = {
  name: 'bgp',
  async run(): Promise<Figure[]> {
    const out: Figure[] = [];
    {
      const mesh = converge(() => meshNetwork(100));
      if (mesh.rep.sessionsEstablished !== 2 * 4950) throw new Error(`mesh: ${mesh.rep.sessionsEstablished / 2} sessions`);
      if (mesh.net.locRib('node-50').length !== 100) throw new Error('mesh: node-50 does not have 100 routes');
      out.push(...figures('100-node full mesh (4,950 sessions)', mesh));
    }
    // The mesh is garbage by now (converge() collects before it starts timing).
    const rr = converge(() => rrNetwork(1000, 3));
    if (rr.net.locRib('node-500').length !== 1000) throw new Error(`rr: node-500 has ${rr.net.locRib('node-500').length} routes`);
    out.push(...figures('1,000 nodes, 3 route reflectors', rr, 2));
    return out;
  },
};
export default suite;
