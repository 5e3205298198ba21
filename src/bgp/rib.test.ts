import { describe, expect, it } from 'vitest';
import { Rng } from '../base/rng.js';
import { CALICO_BGP_TEMPLATE } from './config.js';
import { BgpNetwork } from './network.js';
import type { RibRoute } from './network.js';
import { Rib, RouteStore, Slab } from './rib.js';
import type { RouteData } from './rib.js';

const data = (pid: number, k: number): RouteData => ({ prefix: `10.0.${pid}.0/24`, pid, attrs: { origin: 0, asPath: [k], nextHop: '0.0.0.0' }, filtered: false, idN: k, local: null, from: null, id: -1 });

describe('Rib: route slots linked per prefix', () => {
  it('random inserts, replacements, removals and announcements match a list-of-routes model; slots stay valid while announced', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const rng = new Rng(seed);
      const sessions = [null, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }];
      const store = new RouteStore();
      const slab = new Slab();
      const rib = new Rib(sessions, store, slab);
      // A second table in the same slab, growing alongside, must not disturb the first.
      const other = new Rib(sessions, new RouteStore(), slab);
      // Model: per prefix, routes in arrival order; the announced route (kept even if removed).
      type M = { slot: number; uid: number; d: RouteData };
      const lists: M[][] = [];
      const ann: (M | undefined)[] = [];
      for (let step = 0; step < 300; step++) {
        const pid = rng.int(12);
        rib.reserve(pid);
        other.reserve(pid * 40);
        other.setAnn(pid * 40, other.alloc(pid * 40, 1, data(pid, 9), step));
        const list = (lists[pid] ??= []);
        const uid = rng.int(6);
        const op = rng.int(4);
        if (op <= 1) {
          // A route from `uid`: replaces its route in place, else is appended.
          const d = data(pid, rng.int(3));
          const i = list.findIndex((r) => r.uid === uid);
          if (rng.int(2)) {
            // add: find, alloc and link at once (a time that is not an integer takes the general path).
            const since = rng.int(4) ? step : step + 0.5;
            const slot = rib.add(pid, uid, d, since);
            expect(rib.replaced).toBe(i >= 0 ? list[i]!.d : undefined);
            expect(rib.since(slot)).toBe(since);
            if (i >= 0) list[i] = { slot, uid, d };
            else list.push({ slot, uid, d });
          } else {
            const slot = rib.alloc(pid, uid, d, step);
            if (i >= 0) {
              rib.link(slot, i === 0 ? 0 : list[i - 1]!.slot, list[i]!.slot);
              list[i] = { slot, uid, d };
            } else {
              rib.link(slot, list.length ? list[list.length - 1]!.slot : 0);
              list.push({ slot, uid, d });
            }
          }
        } else if (op === 2) {
          const i = list.findIndex((r) => r.uid === uid);
          if (i >= 0) {
            rib.unlink(list[i]!.slot, i === 0 ? 0 : list[i - 1]!.slot);
            list.splice(i, 1);
          }
        } else {
          // Announce one of the current routes (or none).
          const r = list.length && rng.int(4) ? list[rng.int(list.length)] : undefined;
          rib.setAnn(pid, r ? r.slot : 0);
          ann[pid] = r;
        }
        // Every prefix reads as the model says (one comparison per step).
        const held = new Set<RouteData>();
        const got: unknown[] = [];
        const want: unknown[] = [];
        for (let p = 0; p < lists.length; p++) {
          const l = lists[p] ?? [];
          const a = ann[p];
          got.push(rib.list(p), rib.ann(p));
          want.push(l.map((r) => r.slot), a ? a.slot : 0);
          // An announced route stays readable after leaving its list, until it stops being announced.
          for (const r of a ? [...l, a] : l) {
            got.push(rib.sessUid(r.slot), rib.sess(r.slot) === sessions[r.uid], rib.data(r.slot) === r.d);
            want.push(r.uid, true, true);
            held.add(r.d);
          }
          for (const r of l) {
            got.push(rib.find(p, r.uid));
            want.push(r.slot);
          }
        }
        // Two live routes (in a list, or announced) never share a slot number.
        const bySlot = new Map<number, M>();
        for (const r of [...lists.flat(), ...ann.filter((x): x is M => !!x)]) {
          const other = bySlot.get(r.slot);
          got.push(other === undefined || other === r);
          want.push(true);
          bySlot.set(r.slot, r);
        }
        expect(got).toEqual(want);
        expect(store.live).toBe(held.size);
      }
    }
  });
});

describe('Slab: prefix columns shared by the tables of a network', () => {
  it('tables added after their columns exist (the columns grow) keep every table\'s routes, bests and announcements', () => {
    const sessions = [null, { n: 1 }, { n: 2 }];
    const store = new RouteStore();
    const slab = new Slab();
    const ribs: Rib<{ n: number }>[] = [];
    const want: string[] = [];
    const read = (): string[] => ribs.map((r, t) => [0, 1, 2, 3].map((p) => `${t}/${p}: ${r.list(p).map((s) => `${r.sessUid(s)}:${r.data(s).idN}@${r.since(s)}`).join(',')} best ${r.best(p) && r.data(r.best(p)).idN} ann ${r.ann(p) && r.data(r.ann(p)).idN}`).join(' | '));
    for (let t = 0; t < 40; t++) {
      // Each new table gets routes from both sessions for four prefixes, then every table is checked.
      const rib = new Rib(sessions, store, slab);
      ribs.push(rib);
      for (let p = 0; p < 4; p++) {
        rib.reserve(p);
        const a = rib.add(p, 1, data(p, 100 * t + p), t);
        rib.add(p, 2, data(p, 100 * t + p + 50), t + 0.5);
        rib.setBest(p, a);
        rib.setAnn(p, a);
      }
      want.push([0, 1, 2, 3].map((p) => `${t}/${p}: 1:${100 * t + p}@${t},2:${100 * t + p + 50}@${t + 0.5} best ${100 * t + p} ann ${100 * t + p}`).join(' | '));
      expect(read()).toEqual(want);
    }
  });
});

/**
 * Reference decision from BGP's rules (RFC 4271 §9.1.2.2, RFC 4456 §9, BIRD's order), applied
 * to what `routes()` shows: among iBGP routes of one AS these steps are a total order, so the
 * best route is the maximum whatever the arrival order.
 */
function refBetter(net: BgpNetwork, a: RibRoute, b: RibRoute): boolean {
  if (a.source !== b.source) return a.source === 'static';
  const lp = (r: RibRoute): number => r.attrs.localPref ?? 100;
  if (lp(a) !== lp(b)) return lp(a) > lp(b);
  if (a.attrs.asPath.length !== b.attrs.asPath.length) return a.attrs.asPath.length < b.attrs.asPath.length;
  if (a.attrs.origin !== b.attrs.origin) return a.attrs.origin < b.attrs.origin;
  if ((a.attrs.med ?? 0) !== (b.attrs.med ?? 0)) return (a.attrs.med ?? 0) < (b.attrs.med ?? 0);
  const n = (ip: string): number => ip.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const id = (r: RibRoute): number => n(r.attrs.originatorId ?? net.speakerConfig(r.from).routerId);
  if (id(a) !== id(b)) return id(a) < id(b);
  const cl = (r: RibRoute): number => r.attrs.clusterList?.length ?? 0;
  if (cl(a) !== cl(b)) return cl(a) < cl(b);
  return n(a.peerAddress!) < n(b.peerAddress!);
}

const key = (r: RibRoute): string => `${r.prefix} ${r.source} ${r.from} ${r.protocol} ${JSON.stringify(r.attrs)}`;

describe('decision process on random networks', () => {
  it('the Loc-RIB is the best of the Adj-RIBs-In by the reference rules, through withdrawals, re-originations and speakers going down and up', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rng = new Rng(seed);
      const net = new BgpNetwork({ seed, logLimit: 0 });
      const n = 4 + rng.int(5);
      const rrs = rng.int(3);
      const ip = (i: number): string => `192.168.7.${10 + i}`;
      for (let i = 1; i <= n; i++) net.addSpeaker({ name: `n${i}`, routerId: ip(i), asn: 64512, address: ip(i), ...(i <= rrs ? { clusterId: `244.0.0.${i}` } : {}) });
      if (rrs === 0) {
        for (let i = 1; i <= n; i++) for (let j = i + 1; j <= n; j++) net.addPeering(`n${i}`, `n${j}`, { a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
      } else {
        for (let r = 1; r <= rrs; r++) {
          for (let q = r + 1; q <= rrs; q++) net.addPeering(`n${r}`, `n${q}`, { a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
          for (let i = rrs + 1; i <= n; i++) net.addPeering(`n${r}`, `n${i}`, { aIsReflectorFor: true, a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
        }
      }
      // A few prefixes, each originated by several speakers with different preferences.
      const prefixes = ['10.1.0.0/24', '10.2.0.0/24', '10.3.0.0/24'];
      const originate = (): void => {
        const p = prefixes[rng.int(prefixes.length)]!;
        net.originate(`n${1 + rng.int(n)}`, p, { localPref: [100, 100, 200][rng.int(3)]!, med: rng.int(3), origin: rng.int(2) as 0 | 1 });
      };
      for (let k = 0; k < 2 * n; k++) originate();
      net.run();
      for (let step = 0; step < 8; step++) {
        const op = rng.int(4);
        const who = `n${1 + rng.int(n)}`;
        if (op === 0) net.withdraw(who, prefixes[rng.int(prefixes.length)]!);
        else if (op === 1) originate();
        else if (op === 2) net.stopSpeaker(who, rng.int(2) ? 'crash' : 'shutdown');
        else for (let i = 1; i <= n; i++) net.startSpeaker(`n${i}`);
        if (rng.int(2)) net.advance(300_000);
        const rep = net.run();
        expect(rep.converged).toBe(true);
        for (let i = 1; i <= n; i++) {
          const name = `n${i}`;
          if (!net.isUp(name)) continue;
          const all = net.routes(name);
          const loc = net.locRib(name);
          for (const p of prefixes) {
            const cands = all.filter((r) => r.prefix === p && !r.filtered);
            let best: RibRoute | undefined;
            for (const r of cands) if (!best || refBetter(net, r, best)) best = r;
            const got = loc.find((r) => r.prefix === p);
            expect(got && key(got), `seed ${seed} step ${step} ${name} ${p}`).toBe(best && key(best));
            // routes() marks the same route best, and lists it first.
            expect(all.filter((r) => r.prefix === p && r.best).map(key)).toEqual(best ? [key(best)] : []);
            if (best) expect(key(all.find((r) => r.prefix === p)!)).toBe(key(best));
          }
        }
      }
    }
  });
});
