import { parseIp, VirtualClock } from '../src/base/index.js';
import type { Ip } from '../src/base/index.js';
import { Ipvs, SCHEDULERS, formatIpvsadmSave, loadIpvsadmSave } from '../src/ipvs/index.js';
import type { Flow } from '../src/ipvs/index.js';
import { measure, timeOnce } from './harness.js';
import type { BenchSuite, Figure } from './harness.js';

const SERVICES = 10_000;
const REAL_SERVERS = 10;

/** An `ipvsadm -Sn` dump of SERVICES ClusterIP services in 10.96.0.0/12 with REAL_SERVERS pods each. */
function dump(scheduler: string): string {
  const lines: string[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const vip = `10.96.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`-A -t ${vip}:80 -s ${scheduler}`);
    for (let j = 0; j < REAL_SERVERS; j++) lines.push(`-a -t ${vip}:80 -r 10.${100 + (i % 100)}.${(i >> 6) & 255}.${j + 1}:8080 -m -w 1`);
  }
  return lines.join('\n') + '\n';
}

/** A plain timed loop (no benchmark.js): wall and CPU time per call, best of `runs`. */
function plainLoop(fn: () => void, n: number, runs = 3): { wallUs: number; cpuUs: number } {
  for (let i = 0; i < 10_000; i++) fn(); // warm up
  let wallUs = Infinity;
  let cpuUs = Infinity;
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    const wall = Number(process.hrtime.bigint() - t0) / 1e3 / n;
    const c = process.cpuUsage(c0);
    wallUs = Math.min(wallUs, wall);
    cpuUs = Math.min(cpuUs, (c.user + c.system) / n);
  }
  return { wallUs, cpuUs };
}

const suite: BenchSuite = {
  name: 'ipvs',
  async run(): Promise<Figure[]> {
    const figures: Figure[] = [];
    const text = dump('rr');
    const loadMs = timeOnce(() => loadIpvsadmSave(text), 2);
    figures.push({ name: `parse + build ipvsadm -Sn (${SERVICES} VS × ${REAL_SERVERS} RS)`, value: loadMs, unit: 'ms' });
    const client: Ip = parseIp('10.244.1.7');
    const vips = Array.from({ length: 1024 }, (_, k) => parseIp(`10.96.${((k * 9) >> 8) & 255}.${(k * 9) & 255}`));
    for (const sched of ['rr', 'wlc', 'sh', 'mh'] as const) {
      const t = sched === 'rr' ? loadIpvsadmSave(text) : loadIpvsadmSave(dump(sched));
      let k = 0;
      const once = () => {
        const vip = vips[k++ & 1023]!;
        const l = t.lookup('tcp', vip, 80);
        const flow: Flow = { protocol: 'tcp', src: client, sport: 40000 + (k & 4095), dst: vip, dport: 80 };
        if (!SCHEDULERS[l.service!.scheduler].schedule(l.service!, flow).dest) throw new Error('no dest');
      };
      const r = measure(`lookup + schedule ${sched}`, once);
      figures.push({ name: `lookup + schedule (${sched}), ${SERVICES} VS × ${REAL_SERVERS} RS, median`, value: r.medianUs, unit: 'µs', target: '≤ 5 µs', ok: r.medianUs <= 5 });
      const p = plainLoop(once, 200_000);
      figures.push({ name: `  same, plain loop of 200,000 (best of 3), per call`, value: p.wallUs, unit: 'µs', note: `CPU time ${p.cpuUs.toFixed(2)} µs per call (wall time counts other processes on a shared machine)` });
    }
    // The whole ip_vs_in path for a SYN: conn lookup miss, service lookup, rr, new conn.
    const clock = new VirtualClock();
    const ipvs = new Ipvs({ clock }, loadIpvsadmSave(text));
    let port = 0;
    const r = measure('ip_vs_in SYN', () => {
      port = (port + 1) & 0xffff;
      clock.advance(1);
      ipvs.processIn({ protocol: 'tcp', src: client, sport: port, dst: vips[port & 1023]!, dport: 80, tcp: { syn: true } });
    });
    figures.push({ name: 'processIn (SYN → new connection), median', value: r.medianUs, unit: 'µs', note: `${ipvs.conns.size} live connections at the end` });
    const t = loadIpvsadmSave(text);
    figures.push({ name: 'format ipvsadm -Sn (10,000 VS)', value: timeOnce(() => formatIpvsadmSave(t), 2), unit: 'ms' });
    return figures;
  },
};

export default suite;
