import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import * as api from '../../src/index.js';
import type { CompareRow, Hop, Outcome, Step } from '../../src/index.js';

const REQUEST = { from: 'pod/default/client', to: 'svc/default/web:80' } as const;

/** The cluster.cni block each mode name stands for, written out here (INTERFACES.md §1), not taken from modes.ts. */
const CNI_BLOCK: Record<string, Record<string, string>> = {
  'flannel-vxlan': { plugin: 'flannel', mode: 'vxlan' },
  'flannel-host-gw': { plugin: 'flannel', mode: 'host-gw' },
  'calico-bgp': { plugin: 'calico', mode: 'bgp' },
  'calico-ipip': { plugin: 'calico', mode: 'ipip', encapsulation: 'Always' },
  'calico-ipip-crosssubnet': { plugin: 'calico', mode: 'ipip', encapsulation: 'CrossSubnet' },
  'calico-vxlan': { plugin: 'calico', mode: 'vxlan', encapsulation: 'Always' },
  'calico-vxlan-crosssubnet': { plugin: 'calico', mode: 'vxlan', encapsulation: 'CrossSubnet' },
};

/**
 * Pod eth0 MTU on a 1500-byte underlay, as the plugins derive it: flannel vxlan 1500 − 50, host-gw
 * the underlay's; Felix: IPIP − 20, VXLAN − 50, BGP the host MTU (../shared/reference/calico.md).
 */
const POD_MTU: Record<string, number> = {
  'flannel-vxlan': 1450,
  'flannel-host-gw': 1500,
  'calico-bgp': 1500,
  'calico-ipip': 1480,
  'calico-ipip-crosssubnet': 1480,
  'calico-vxlan': 1450,
  'calico-vxlan-crosssubnet': 1450,
};

/** Established sessions: a 3-node node-to-node mesh is 3·2/2 = 3; Flannel and Calico VXLAN (no BIRD) none. */
const BGP: Record<string, number> = {
  'flannel-vxlan': 0,
  'flannel-host-gw': 0,
  'calico-bgp': 3,
  'calico-ipip': 3,
  'calico-ipip-crosssubnet': 3,
  'calico-vxlan': 0,
  'calico-vxlan-crosssubnet': 0,
};

/** The frame length tcpdump prints first ("…, length N: …"): the whole frame on the wire. */
function frameLength(h: Hop, side: 'packetIn' | 'packetOut'): number | null {
  const s = (h[side] as { summary?: string }).summary;
  const m = s ? /length (\d+):/.exec(s) : null;
  return m ? Number(m[1]) : null;
}

/** Encapsulation per packet, measured on the wire: the largest frame on the path minus the frame the source sent. */
function wireOverhead(o: Outcome): number {
  const first = frameLength(o.hops[0]!, 'packetOut')!;
  let max = first;
  for (const h of o.hops) for (const side of ['packetIn', 'packetOut'] as const) max = Math.max(max, frameLength(h, side) ?? 0);
  return max - first;
}

function steps(o: Outcome): Step[] {
  const out: Step[] = [];
  const walk = (s: Step) => {
    out.push(s);
    s.children?.forEach(walk);
  };
  o.hops.forEach((h) => h.steps.forEach(walk));
  return out;
}

interface Independent {
  world: api.World;
  trace: api.Trace;
}

/** The variant as a user would write it by hand: the file's document with cluster.cni / kubeProxy.mode replaced, loaded, built and traced. */
async function independent(file: string, mode: string, proxy: string, all: boolean): Promise<Independent> {
  const doc = parseYaml(await readFile(file, 'utf8')) as { cluster: { cni: unknown; kubeProxy: { mode: string } } };
  doc.cluster.cni = CNI_BLOCK[mode];
  doc.cluster.kubeProxy = { ...doc.cluster.kubeProxy, mode: proxy };
  const world = api.buildWorld(await api.loadTopologyObject(doc, file));
  const { trace } = api.traceRequest(world, { ...REQUEST, all, seed: 1 });
  return { world, trace };
}

function checkRow(row: CompareRow, ind: Independent): void {
  const { world, trace } = ind;
  const hasIpvs = trace.outcomes.some((o) => steps(o).some((s) => s.kind === 'ipvs'));
  if (row.proxy === 'ipvs' && !hasIpvs) {
    expect(row.status).toBe('unmodelled');
    expect(row.error).toMatch(/ipvs datapath not modelled/);
    expect(row.hops).toBeNull();
    expect(row.delivered).toBe(false);
    return;
  }
  expect(row.status).toBe('ok');
  expect(row.outcomes.map((o) => [o.disposition, o.probability])).toEqual(trace.outcomes.map((o) => [o.disposition, o.probability]));
  const hops = trace.outcomes.map((o) => o.hops.length);
  expect(row.hops).toEqual({ min: Math.min(...hops), max: Math.max(...hops) });
  const encap = trace.outcomes.map(wireOverhead);
  expect(row.encapBytes).toEqual({ min: Math.min(...encap), max: Math.max(...encap) });
  expect(row.outcomes.map((o) => o.encapBytes)).toEqual(encap);
  // every outcome's encapsulation is one of the real overheads: none, IPIP 20, VXLAN 50
  for (const e of encap) expect([0, 20, 50]).toContain(e);
  const rules = trace.outcomes.map((o) => steps(o).reduce((n, s) => n + (s.kind === 'chain' ? s.linearEvaluated : 0), 0));
  expect(row.outcomes.map((o) => o.rules)).toEqual(rules);
  trace.outcomes.forEach((o, i) => expect(rules[i]!).toBeGreaterThanOrEqual(steps(o).filter((s) => s.kind === 'rule').length));
  const mtu = world.fabric.get('default/client').spec.devices.find((d) => d.name === 'eth0')!.mtu;
  expect(row.podMtu).toEqual({ min: mtu, max: mtu });
  expect(mtu).toBe(POD_MTU[row.mode]);
  const routeLines = [...world.nodes.keys()].map((n) => api.formatRoutes(world.fabric.get(n).spec.rib.routes(4)).split('\n').filter((l) => l.trim() !== '').length);
  expect(row.nodeRoutes).toEqual({ min: Math.min(...routeLines), max: Math.max(...routeLines) });
  expect(row.bgpSessions).toBe(BGP[row.mode]);
  const deliveredAll = trace.outcomes.every((o) => o.disposition === 'delivered' && o.reply?.disposition === 'delivered' && o.reply.matchesRequest !== false);
  expect(row.delivered).toBe(deliveredAll);
}

describe('compareModes: pod → ClusterIP over every mode', () => {
  for (const [name, path] of [
    ['default', 'topologies/default.yaml'],
    ['flannel-vxlan', 'topologies/flannel-vxlan.yaml'],
  ] as const) {
    describe(name, () => {
      let rows: CompareRow[];
      const file = resolve(path);
      beforeAll(async () => {
        rows = await api.compareModes(await api.readCompareSource(path), REQUEST, { trace: api.traceRequest, all: true });
      }, 120_000);

      it('has one row per mode × proxy, modes outer', () => {
        expect(rows.map((r) => `${r.mode}/${r.proxy}`)).toEqual(api.CNI_MODES.flatMap((m) => [`${m}/iptables`, `${m}/ipvs`]));
      });

      it('each row\'s figures match the variant built, traced and measured independently', async () => {
        for (const row of rows) checkRow(row, await independent(file, row.mode, row.proxy, true));
      }, 120_000);

      it('Flannel rows deliver; VXLAN adds 50 bytes for a remote endpoint, host-gw none', () => {
        const fv = rows.find((r) => r.mode === 'flannel-vxlan' && r.proxy === 'iptables')!;
        const hg = rows.find((r) => r.mode === 'flannel-host-gw' && r.proxy === 'iptables')!;
        expect(fv.delivered && hg.delivered).toBe(true);
        expect(fv.encapBytes).toEqual({ min: 0, max: 50 }); // 1 local endpoint of 3
        expect(fv.encapDevices).toEqual(['flannel.1']);
        expect(hg.encapBytes).toEqual({ min: 0, max: 0 });
      });
    });
  }

  it('default.yaml without its router: Calico pods get no proxy-ARP answer for 169.254.1.1 (projectcalico/calico#3270)', async () => {
    const source = await api.readCompareSource('topologies/default.yaml');
    const doc = structuredClone(source.document) as { underlay: { routers?: unknown[] } };
    doc.underlay.routers = [];
    const rows = await api.compareModes({ document: doc, file: source.file }, REQUEST, { trace: api.traceRequest, modes: ['calico-bgp', 'flannel-vxlan'], proxies: ['iptables'] });
    // Flannel needs no default route for pod traffic; Calico's gateway is answered only for routable targets
    expect(rows[1]!.disposition).toBe('delivered');
    expect(rows[0]!.disposition).toBe('neighbour-unreachable');
    expect(rows[0]!.outcomes[0]!.reason).toMatch(/169\.254\.1\.1/);
  }, 60_000);

  it('flannel-vxlan.yaml (a gateway router): every iptables row delivers, IPIP adds 20 and VXLAN 50 for a remote endpoint', async () => {
    const rows = await api.compareModes(await api.readCompareSource('topologies/flannel-vxlan.yaml'), REQUEST, { trace: api.traceRequest, all: true, proxies: ['iptables'] });
    expect(rows.every((r) => r.delivered)).toBe(true);
    const max = Object.fromEntries(rows.map((r) => [r.mode, r.encapBytes!.max]));
    // same L2 segment: CrossSubnet encapsulates nothing (calico.md: the prefix test on node addresses)
    expect(max).toEqual({ 'flannel-vxlan': 50, 'flannel-host-gw': 0, 'calico-bgp': 0, 'calico-ipip': 20, 'calico-ipip-crosssubnet': 0, 'calico-vxlan': 50, 'calico-vxlan-crosssubnet': 0 });
  }, 60_000);
});

describe('a variant that fails', () => {
  it('host-gw across a router is built and traced no-route; the row names the refused route', async () => {
    const rows = await api.compareModes(await api.readCompareSource('topologies/calico-bgp-routed.yaml'), REQUEST, { trace: api.traceRequest, all: true, modes: ['flannel-host-gw'], proxies: ['iptables'] });
    expect(rows[0]!.status).toBe('ok');
    expect(rows[0]!.delivered).toBe(false);
    expect(rows[0]!.outcomes.map((o) => o.disposition)).toContain('no-route');
    expect(api.formatCompareTable(rows)).toMatch(/\[1\] flannel-host-gw\/iptables: .*host-gw/);
  }, 60_000);

  it('a variant the loader rejects is a row with the loader\'s error, not a crash', async () => {
    const source = await api.readCompareSource('topologies/default.yaml');
    const doc = structuredClone(source.document) as { objects?: unknown[] };
    // an IPPool over the node network: only the Calico variants read it (Flannel ignores Calico objects)
    doc.objects = [...(doc.objects ?? []), { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'bad' }, spec: { cidr: '192.168.56.0/26' } }];
    const rows = await api.compareModes({ document: doc, file: source.file }, REQUEST, { trace: api.traceRequest, modes: ['flannel-vxlan', 'calico-bgp'], proxies: ['iptables'] });
    expect(rows[0]!.status).toBe('ok');
    expect(rows[1]!.status).toBe('error');
    expect(rows[1]!.error).toMatch(/overlaps the node network/);
    expect(api.compareDelivered(rows)).toBe(false);
  }, 60_000);
});

describe('bad input', () => {
  it('a SRC that does not exist, or a pod address as SRC, is bad input', async () => {
    const source = await api.readCompareSource('topologies/default.yaml');
    await expect(api.compareModes(source, { from: 'pod/default/nope', to: REQUEST.to }, { trace: api.traceRequest })).rejects.toThrow(/no pod default\/nope/);
    const base = api.buildWorld(await api.loadTopology('topologies/default.yaml'));
    const clientIp = base.pods.get('default/client')!.ip;
    await expect(api.compareModes(source, { from: clientIp, to: REQUEST.to }, { trace: api.traceRequest })).rejects.toThrow(/pod default\/client.*name it \(pod\/default\/client\)/);
  }, 60_000);
});

describe('formats', () => {
  let rows: CompareRow[];
  beforeAll(async () => {
    rows = await api.compareModes(await api.readCompareSource('topologies/flannel-vxlan.yaml'), REQUEST, { trace: api.traceRequest, modes: ['flannel-vxlan', 'calico-ipip'] });
  }, 60_000);

  it('text: a header and one aligned line per row; numeric columns right-aligned; notes numbered below', () => {
    const text = api.formatCompareTable(rows);
    const lines = text.split('\n');
    const header = lines[0]!;
    expect(header.split(/\s{2,}/)).toEqual(['MODE', 'PROXY', 'DISPOSITION', 'ENDPOINT', 'HOPS', 'ENCAP', 'POD-MTU', 'RULES', 'ROUTES/NODE', 'BGP']);
    const body = lines.slice(1, 1 + rows.length);
    // left-aligned columns start where their header starts; right-aligned ones end where it ends
    const proxyAt = header.indexOf('PROXY');
    const mtuEnd = header.indexOf('POD-MTU') + 'POD-MTU'.length;
    body.forEach((l, i) => {
      expect(l.slice(proxyAt).startsWith(rows[i]!.proxy)).toBe(true);
      expect(l.slice(0, mtuEnd).trimEnd().endsWith(String(rows[i]!.podMtu?.max ?? '-'))).toBe(true);
      expect(l.slice(0, mtuEnd).length).toBe(mtuEnd);
    });
    const ipip = body.find((l) => l.startsWith('calico-ipip ') && l.includes('iptables'))!;
    expect(ipip).toMatch(/ 1480 /);
    const unmodelled = rows.filter((r) => r.status === 'unmodelled').length;
    if (unmodelled) expect(text).toMatch(/\[1\] \S+\/ipvs: ipvs datapath not modelled/);
  });

  it('json: an array of rows with typed fields', () => {
    const parsed = JSON.parse(api.formatCompareJson(rows)) as Record<string, unknown>[];
    expect(parsed).toHaveLength(4);
    for (const r of parsed) {
      expect(typeof r.mode).toBe('string');
      expect(['iptables', 'ipvs']).toContain(r.proxy);
      expect(['ok', 'error', 'unmodelled']).toContain(r.status);
      expect(typeof r.delivered).toBe('boolean');
      if (r.status === 'ok') {
        for (const k of ['hops', 'encapBytes', 'podMtu', 'rulesEvaluated', 'ipvsLookups', 'nodeRoutes']) expect(r[k]).toEqual({ min: expect.any(Number), max: expect.any(Number) });
        expect(typeof r.bgpSessions).toBe('number');
        expect(Array.isArray(r.outcomes)).toBe(true);
      } else expect(typeof r.error).toBe('string');
    }
  });
});
