import { describe, expect, it } from 'vitest';
import { formatIp, ipEquals, parseIp, Rng } from '../base/index.js';
import type { Ip } from '../base/index.js';
import { fwmHashKey, hsiphashU32, hsiphashU32Key, sipKey32, siphash, svcHashKey } from './hash.js';
import { loadIpvsadmSave } from './ipvsadm.js';
import { mhLookupTable, SCHEDULERS } from './schedulers/index.js';
import { IpvsServiceTable, serviceKeyName } from './table.js';
import type { Flow, IpvsProtocol, SchedulerName, ServiceKey, VirtualService } from './types.js';
import { IPPROTO, SCHEDULER_NAMES } from './types.js';

/**
 * The fast paths (exact-key index, 32-bit hsiphash, lazy explanations) against straightforward
 * references: the kernel's chain walk over the services in creation order, SipHash on BigInt, and
 * explanations read at once.
 */

const PROTOS: readonly IpvsProtocol[] = ['tcp', 'udp', 'sctp'];

/** A small address pool so that keys collide in buckets and share addresses across ports. */
function pool(rng: Rng): Ip[] {
  const out: Ip[] = [];
  for (let i = 0; i < 24; i++) out.push(parseIp(`10.96.${rng.int(4)}.${rng.int(256)}`));
  for (let i = 0; i < 4; i++) out.push(parseIp(`fd00::${rng.int(0xffff).toString(16)}`));
  out.push(parseIp('255.255.255.254'), parseIp('128.0.0.1')); // not small integers
  return out;
}

function randomKey(rng: Rng, addrs: readonly Ip[]): ServiceKey {
  if (rng.int(8) === 0) return { kind: 'fwmark', fwmark: 1 + rng.int(600), family: rng.int(4) === 0 ? 6 : 4 };
  const ports = [0, 53, 80, 443, 8080, 336];
  return { kind: 'addr', protocol: PROTOS[rng.int(3)]!, addr: addrs[rng.int(addrs.length)]!, port: ports[rng.int(ports.length)]! };
}

/** The lookup the kernel does (ip_vs_service_get), walking each bucket's chain newest first. */
function referenceLookup(live: readonly VirtualService[], salt: number, protocol: IpvsProtocol, vaddr: Ip, vport: number, fwmark: number) {
  const probes: string[] = [];
  const chainOf = (table: 'svc' | 'fwmark', bucket: number) =>
    live
      .filter((s) => (s.key.kind === 'fwmark' ? table === 'fwmark' && fwmHashKey(s.key.fwmark, salt) === bucket : table === 'svc' && svcHashKey(IPPROTO[s.key.protocol], s.key.addr, s.key.port, salt) === bucket))
      .reverse();
  if (fwmark) {
    const bucket = fwmHashKey(fwmark, salt);
    probes.push(`fwmark:${bucket}`);
    const chain = chainOf('fwmark', bucket);
    const i = chain.findIndex((s) => s.key.kind === 'fwmark' && s.key.fwmark === fwmark && s.key.family === vaddr.family);
    if (i >= 0) return { service: chain[i]!, table: 'fwmark', bucket, compared: i + 1, probes, why: `fwmark ${fwmark} → bucket ${bucket} of the fwmark table (entry ${i + 1} of ${chain.length})` };
  }
  const tryPort = (port: number) => {
    const bucket = svcHashKey(IPPROTO[protocol], vaddr, port, salt);
    probes.push(`svc:${bucket}`);
    const chain = chainOf('svc', bucket);
    const i = chain.findIndex((s) => s.key.kind === 'addr' && s.key.protocol === protocol && s.key.port === port && ipEquals(s.key.addr, vaddr));
    if (i < 0) return null;
    return { service: chain[i]!, table: 'svc', bucket, compared: i + 1, probes: [...probes], why: `${serviceKeyName(chain[i]!.key)} → bucket ${bucket} of the service table (entry ${i + 1} of ${chain.length})` };
  };
  const hit = tryPort(vport);
  if (hit) return hit;
  const bucket = svcHashKey(IPPROTO[protocol], vaddr, vport, salt);
  const held = chainOf('svc', bucket).length;
  if (vport !== 0 && live.some((s) => s.key.kind === 'addr' && s.key.port === 0)) {
    const zero = tryPort(0);
    if (zero) return zero;
  }
  const a = vaddr.family === 4 ? formatIp(vaddr) : `[${formatIp(vaddr)}]`;
  return { service: null, table: 'svc', bucket, compared: held, probes, why: `no virtual service ${protocol.toUpperCase()} ${a}:${vport}${fwmark ? ` nor FWM ${fwmark}` : ''} (bucket ${bucket} holds ${held})` };
}

describe('service lookup fast path = the kernel chain walk', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random table and queries, seed ${seed}`, () => {
      const rng = new Rng(seed);
      const addrs = pool(rng);
      const salt = seed % 2 ? 0 : rng.u32() & 0xffffff;
      const t = new IpvsServiceTable(salt);
      const live: VirtualService[] = []; // creation order, as the kernel's list_add history leaves it
      let checked = 0;
      for (let step = 0; step < 400; step++) {
        const key = randomKey(rng, addrs);
        const existing = t.find(key);
        if (existing && rng.int(3) === 0) {
          t.deleteService(key);
          live.splice(live.indexOf(existing), 1);
        } else if (existing) {
          t.editService(key, { scheduler: 'wlc' });
        } else {
          live.push(t.addService(key, { scheduler: 'rr' }));
        }
        // Query a few keys after each change: existing ones, neighbours, marks.
        for (let q = 0; q < 3; q++) {
          const k = rng.int(2) === 0 && live.length ? live[rng.int(live.length)]!.key : randomKey(rng, addrs);
          const protocol = k.kind === 'addr' ? k.protocol : PROTOS[rng.int(3)]!;
          const vaddr = k.kind === 'addr' ? k.addr : addrs[rng.int(addrs.length)]!;
          const vport = k.kind === 'addr' ? (rng.int(4) === 0 ? 1 + rng.int(9000) : k.port) : 80;
          const mark = k.kind === 'fwmark' ? k.fwmark : rng.int(5) === 0 ? 1 + rng.int(600) : 0;
          const got = t.lookup(protocol, vaddr, vport, mark);
          const want = referenceLookup(live, salt, protocol, vaddr, vport, mark);
          expect({ service: got.service, table: got.table, bucket: got.bucket, compared: got.compared, probes: [...got.probes], why: got.why }).toEqual(want);
          checked++;
        }
      }
      expect(t.size).toBe(live.length);
      expect(checked).toBe(1200);
    });
  }

  it('a cached hit result is replaced when its bucket changes', () => {
    const t = new IpvsServiceTable();
    t.addService({ kind: 'addr', protocol: 'tcp', addr: parseIp('10.0.0.1'), port: 80 }, { scheduler: 'rr' });
    const before = t.lookup('tcp', parseIp('10.0.0.1'), 80);
    expect(t.lookup('tcp', parseIp('10.0.0.1'), 80)).toBe(before); // unchanged bucket: same answer object
    // 10.0.1.1 differs only in bits the & 0xff drops: same bucket, at the head.
    t.addService({ kind: 'addr', protocol: 'tcp', addr: parseIp('10.0.1.1'), port: 80 }, { scheduler: 'rr' });
    const after = t.lookup('tcp', parseIp('10.0.0.1'), 80);
    expect([before.compared, after.compared]).toEqual([1, 2]);
    expect(after.why).toMatch(/entry 2 of 2\)$/);
    expect(before.why).toMatch(/entry 1 of 1\)$/); // an old answer keeps what was true when it was given
    expect(JSON.parse(JSON.stringify(after)).why).toBe(after.why); // toJSON carries the lazy text
  });
});

describe('hsiphash on 32-bit halves = SipHash-1-3 on BigInt', () => {
  it('random values and keys', () => {
    const rng = new Rng(99);
    for (let i = 0; i < 2000; i++) {
      const v = rng.u32();
      const k0 = (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
      const k1 = i % 3 === 0 ? k0 : (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
      const bytes = Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
      const want = Number(siphash(bytes, k0, k1, 1, 3) & 0xffffffffn);
      expect(hsiphashU32Key(v, sipKey32([k0, k1]))).toBe(want);
      expect(hsiphashU32(v, [k0, k1])).toBe(want);
    }
  });

  it('mh picks the slot the BigInt hash names (ip_vs_mh_hashkey with the fixed key)', () => {
    const lines = ['-A -t 10.96.0.10:80 -s mh'];
    for (let j = 1; j <= 7; j++) lines.push(`-a -t 10.96.0.10:80 -r 10.244.${j}.5:8080 -m -w ${j}`);
    const svc = loadIpvsadmSave(lines.join('\n') + '\n').services()[0]!;
    const rng = new Rng(5);
    for (let i = 0; i < 200; i++) {
      const src = parseIp(`10.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}`);
      const v = (src as { n: number }).n >>> 0;
      const bytes = Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
      const slot = Number(siphash(bytes, 2654435761n, 2654435761n, 1, 3) & 0xffffffffn) % 4093;
      const d = SCHEDULERS.mh.schedule(svc, { protocol: 'tcp', src, sport: 1000 + i, dst: parseIp('10.96.0.10'), dport: 80 });
      expect(d.dest).toBe(mhLookupTable(svc)[slot]);
      expect(d.why).toContain(`slot ${slot} of 4093`);
    }
  });
});

describe('lazy explanations say what the scheduler saw', () => {
  /** A random service: weights (some 0), thresholds, counts. */
  function dump(rng: Rng, sched: SchedulerName): string {
    const lines = [`-A -t 10.96.0.10:80 -s ${sched}`];
    const n = 1 + rng.int(8);
    for (let j = 1; j <= n; j++) lines.push(`-a -t 10.96.0.10:80 -r 10.244.${j}.5:8080 -m -w ${rng.int(5) === 0 ? 0 : 1 + rng.int(6)}${rng.int(4) === 0 ? ` -x ${2 + rng.int(5)}` : ''}`);
    return lines.join('\n') + '\n';
  }

  for (const sched of SCHEDULER_NAMES) {
    it(`${sched}: same decisions and texts whether read at once or after the counts move on`, () => {
      for (const seed of [11, 12, 13, 14, 15]) {
        const text = dump(new Rng(seed), sched);
        const a = loadIpvsadmSave(text).services()[0]!;
        const b = loadIpvsadmSave(text).services()[0]!;
        const rng = new Rng(seed * 7);
        const readNow: string[] = [];
        const later: { why: string }[] = [];
        for (let i = 0; i < 40; i++) {
          const flow: Flow = { protocol: 'tcp', src: parseIp(`10.1.${rng.int(4)}.${rng.int(256)}`), sport: 1024 + rng.int(60000), dst: parseIp('10.96.0.10'), dport: 80 };
          const da = SCHEDULERS[sched].schedule(a, flow);
          readNow.push(da.why);
          const db = SCHEDULERS[sched].schedule(b, flow);
          later.push(db);
          expect(db.dest === null).toBe(da.dest === null);
          if (da.dest) expect(b.dests.indexOf(db.dest!)).toBe(a.dests.indexOf(da.dest));
          // What binding a conn does to the counts (ip_vs_bind_dest), in both services.
          for (const [svc, d] of [[a, da.dest], [b, db.dest]] as const) {
            if (!d) continue;
            if (i % 2) d.activeConns++;
            else d.inactConns++;
            if (d.uThreshold && d.activeConns + d.inactConns >= d.uThreshold) d.overloaded = true;
            void svc;
          }
        }
        expect(later.map((d) => d.why)).toEqual(readNow);
      }
    });
  }
});
