import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTopology } from '../cluster/spec/loader.js';
import { buildWorld, type World } from '../cluster/world.js';
import { LINKTYPE, encodePacket, formatPacket, icmpEcho, readPcap, tcpSyn, udpDatagram, vxlanEncap, writePcap, type Packet } from '../packet/index.js';
import type { Hop, PacketSnapshot, Trace } from '../trace/index.js';
import { packetOfSnapshot, pcapInterfaces, pcapRequests, traceFrames, tracePcap } from './pcap.js';
import { packetSnapshot, traceRequest } from './trace.js';

const TOPOS = join(import.meta.dirname, '..', '..', 'topologies');
const HAVE_TSHARK = ['/usr/bin/tshark', '/usr/local/bin/tshark'].some((p) => existsSync(p));
if (!HAVE_TSHARK) console.warn('SKIPPED (needs tshark): the tshark checks of src/tracer/pcap.test.ts');

let world: World;
let dir: string;
beforeAll(async () => {
  world = buildWorld(await loadTopology(join(TOPOS, 'flannel-vxlan.yaml')));
  dir = mkdtempSync(join(tmpdir(), 'pp-pcap-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Layer = Record<string, string | number | boolean | null>;
const layers = (s: Hop['packetIn']): Layer[] => ('layers' in s ? (s.layers as Layer[]) : []);

/** What each frame must be, derived from the hops alone: (netns, dev, direction, ip src list, ip dst list, eth src). */
function expectedFrames(t: Trace): { netns: string; dev: string; dir: 'in' | 'out'; src: string; dst: string; mac: string }[] {
  const out: { netns: string; dev: string; dir: 'in' | 'out'; src: string; dst: string; mac: string }[] = [];
  const ip = (L: Layer[], f: 'src' | 'dst') => L.filter((l) => l.kind === 'ipv4').map((l) => l[f]).join(',');
  const inner = (L: Layer[]) => L.slice(L.findIndex((l) => l.kind === 'vxlan') + 1);
  for (const o of t.outcomes) {
    for (const h of [...o.hops, ...(o.reply?.hops ?? [])]) {
      const flat = JSON.stringify(h.steps);
      const encapDev = /"kind":"encap","dev":"([^"]+)"/.exec(flat)?.[1];
      const decapDev = /"kind":"decap","dev":"([^"]+)"/.exec(flat)?.[1];
      const I = layers(h.packetIn);
      const O = layers(h.packetOut);
      if (h.in && I.length) {
        out.push({ netns: h.netns, dev: h.in, dir: 'in', src: ip(I, 'src'), dst: ip(I, 'dst'), mac: String(I[0]!.src) });
        if (decapDev && I.some((l) => l.kind === 'vxlan')) out.push({ netns: h.netns, dev: decapDev, dir: 'in', src: ip(inner(I), 'src'), dst: ip(inner(I), 'dst'), mac: String(inner(I)[0]!.src) });
      }
      if (h.out && O.length) {
        if (encapDev && O.some((l) => l.kind === 'vxlan')) out.push({ netns: h.netns, dev: encapDev, dir: 'out', src: ip(inner(O), 'src'), dst: ip(inner(O), 'dst'), mac: String(inner(O)[0]!.src) });
        out.push({ netns: h.netns, dev: h.out, dir: 'out', src: ip(O, 'src'), dst: ip(O, 'dst'), mac: String(O[0]!.src) });
      }
    }
  }
  return out;
}

describe('packetOfSnapshot', () => {
  it('rebuilds the exact frame (bytes) of snapshots without hex: TCP SYN, UDP, ICMP echo, VXLAN-encapsulated', () => {
    const frames: Packet[] = [
      tcpSyn({ src: '10.244.0.3', dst: '10.96.0.10', sport: 40000, dport: 80 }),
      udpDatagram({ src: '10.244.0.3', dst: '10.96.0.10', sport: 5353, dport: 53, data: new Uint8Array(33) }),
      icmpEcho({ src: '10.244.0.3', dst: '10.244.1.2', id: 7, seq: 1, data: new Uint8Array(56) }),
    ];
    frames.push(vxlanEncap({ layers: [{ kind: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', ethertype: 0x0800 }, ...frames[0]!.layers], payload: new Uint8Array(20) }, { srcMac: '02:00:00:00:00:03', dstMac: '02:00:00:00:00:04', srcIp: '192.168.56.11', dstIp: '192.168.56.12', sport: 51000, dport: 8472, vni: 1 }));
    for (const p of frames) {
      const snap = packetSnapshot(p);
      expect(snap.hex).toBeUndefined();
      expect(Buffer.from(encodePacket(packetOfSnapshot(snap))).toString('hex'), snap.summary).toBe(Buffer.from(encodePacket(p)).toString('hex'));
    }
  });

  it('uses the recorded bytes when the snapshot has hex', () => {
    const p = udpDatagram({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, data: Uint8Array.from([1, 2, 3]) });
    const snap: PacketSnapshot = { ...packetSnapshot(p), hex: Buffer.from(encodePacket(p)).toString('hex') };
    expect(packetOfSnapshot(snap).payload).toEqual(Uint8Array.from([1, 2, 3]));
  });

  it('refuses a snapshot whose summary its layers cannot print', () => {
    const snap = packetSnapshot(tcpSyn({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 }));
    expect(() => packetOfSnapshot({ ...snap, summary: 'IP 1.2.3.4 > 5.6.7.8: something else' })).toThrow(/cannot rebuild/);
  });
});

describe('tracePcap', () => {
  it('one frame per device crossing, in hop order, with the World interface index and direction; VXLAN adds the inner frame on flannel.1', () => {
    const { trace } = traceRequest(world, { from: 'pod/default/client', to: 'svc/default/web:80', all: true });
    const pc = tracePcap(world, [trace]);
    const want = expectedFrames(trace);
    expect(pc.frames.map((f) => [f.netns, f.dev, f.direction])).toEqual(want.map((w) => [w.netns, w.dev, w.dir]));
    expect(pc.frames.some((f) => f.dev === 'flannel.1' && f.direction === 'out')).toBe(true);
    expect(pc.frames.some((f) => f.dev === 'flannel.1' && f.direction === 'in')).toBe(true);
    // the interface index is the device's position in the World, from 1
    const ifs = pcapInterfaces(world);
    const client = world.fabric.get('default/client');
    const before = [...world.fabric.netns.values()].slice(0, [...world.fabric.netns.keys()].indexOf('default/client')).reduce((n, ns) => n + ns.spec.devices.length, 0);
    expect(ifs.find((i) => i.netns === 'default/client' && i.dev === 'eth0')!.ifindex).toBe(before + client.spec.devices.findIndex((d) => d.name === 'eth0') + 1);
    expect(new Set(ifs.map((i) => i.ifindex)).size).toBe(ifs.length);
  });

  it('reads back with readPcap: LINUX_SLL2, ifindex, pkttype 0/4, the sender MAC, frames decoding to the hops\' packets', async () => {
    const { trace } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.11:30080', all: true });
    const pc = tracePcap(world, [trace]);
    const recs = await readPcap(pc.bytes);
    const want = expectedFrames(trace);
    const index = new Map(pc.interfaces.map((i) => [`${i.netns} ${i.dev}`, i.ifindex]));
    expect(recs).toHaveLength(want.length);
    recs.forEach((r, k) => {
      const w = want[k]!;
      expect(r.linkType).toBe(LINKTYPE.LINUX_SLL2);
      expect(r.error).toBeUndefined();
      expect(r.sll).toMatchObject({ ifindex: index.get(`${w.netns} ${w.dev}`), pkttype: w.dir === 'out' ? 4 : 0, hatype: 1, protocol: 0x0800, addr: w.mac });
      const ips = r.packet!.layers.filter((l) => l.kind === 'ipv4') as { src: string; dst: string }[];
      expect(ips.map((l) => l.src).join(','), `frame ${k + 1}`).toBe(w.src);
      expect(ips.map((l) => l.dst).join(','), `frame ${k + 1}`).toBe(w.dst);
    });
    expect(traceFrames(trace)).toHaveLength(recs.length);
  });

  it.skipIf(!HAVE_TSHARK)('tshark decodes every frame: no malformed packet, no bad checksum, addresses and interfaces as the hops say', () => {
    const { trace } = traceRequest(world, { from: 'pod/default/client', to: 'svc/default/web:80', all: true });
    const { trace: udp } = traceRequest(world, { from: 'pod/default/client', to: 'kube-dns.kube-system.svc.cluster.local:53', proto: 'udp', all: true });
    const { trace: ping } = traceRequest(world, { from: 'node/node-1', to: '10.244.1.2', proto: 'icmp' });
    const traces = [trace, udp, ping];
    const pc = tracePcap(world, traces);
    const file = join(dir, 'trace.pcap');
    writeFileSync(file, pc.bytes);
    const fields = ['frame.number', 'sll.ifindex', 'sll.pkttype', 'ip.src', 'ip.dst', 'vxlan.vni', '_ws.malformed', '_ws.expert.severity', 'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status'];
    // podpath's UDP probe carries zero bytes, not a DNS query: the DNS dissector would call it malformed
    const out = execFileSync('tshark', ['-r', file, '--disable-protocol', 'dns', '-d', 'udp.port==8472,vxlan', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    const rows = out.split('\n').filter(Boolean).map((l) => Object.fromEntries(l.split('|').map((v, i) => [fields[i]!, v])) as Record<string, string>);
    const want = traces.flatMap(expectedFrames);
    expect(rows).toHaveLength(want.length);
    const index = new Map(pc.interfaces.map((i) => [`${i.netns} ${i.dev}`, String(i.ifindex)]));
    // Wireshark severities (epan/proto.h): CHAT 0x00200000, NOTE 0x00400000, WARN 0x00600000, ERROR 0x00800000
    const WARN = 0x00600000;
    rows.forEach((r, k) => {
      const w = want[k]!;
      const what = `frame ${k + 1}: ${JSON.stringify(r)}`;
      expect(r['_ws.malformed'], what).toBe('');
      for (const s of (r['_ws.expert.severity'] ?? '').split(',').filter(Boolean)) expect(Number(s), what).toBeLessThan(WARN);
      // checksum status 1 = Good (2 = Bad, 0 = unverified)
      for (const f of ['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status']) for (const s of (r[f] ?? '').split(',').filter(Boolean)) expect(s, `${what} ${f}`).toBe('1');
      expect(r['sll.ifindex'], what).toBe(index.get(`${w.netns} ${w.dev}`));
      expect(r['sll.pkttype'], what).toBe(w.dir === 'out' ? '4' : '0');
      expect(r['ip.src'], what).toBe(w.src);
      expect(r['ip.dst'], what).toBe(w.dst);
      if (w.src.includes(',')) expect(r['vxlan.vni'], what).toBe('1');
    });
  });
});

describe('pcapRequests', () => {
  const eth = (p: Packet): Packet => ({ ...p, layers: [{ kind: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', ethertype: 0x0800 }, ...p.layers] });

  it('one request per flow-opening packet, from where its source lives, with its protocol, ports, length and DF; the rest skipped with a reason', async () => {
    const client = world.pods.get('default/client')!.ip;
    const syn = eth(tcpSyn({ src: client, dst: '10.96.100.10', sport: 40123, dport: 80 }));
    const synAck = eth({ ...tcpSyn({ src: '10.96.100.10', dst: client, sport: 80, dport: 40123 }) });
    (synAck.layers[2] as { flags: { ack: boolean } }).flags = { ...(synAck.layers[2] as { flags: { ack: boolean } }).flags, ack: true };
    const udp = eth(udpDatagram({ src: '192.168.56.200', dst: '192.168.56.11', sport: 5000, dport: 30080, data: new Uint8Array(10) }));
    const ping = eth(icmpEcho({ src: '192.168.56.11', dst: '10.244.1.2', id: 9, seq: 1 }));
    const stranger = eth(tcpSyn({ src: '203.0.113.9', dst: '10.96.100.10', sport: 1, dport: 80 }));
    const inner = { layers: [{ kind: 'ethernet' as const, src: '02:00:00:00:00:05', dst: '02:00:00:00:00:06', ethertype: 0x0800 }, ...tcpSyn({ src: client, dst: '10.244.1.2', sport: 40500, dport: 8080 }).layers], payload: new Uint8Array(0) };
    const vx = vxlanEncap(inner, { srcMac: '02:00:00:00:00:03', dstMac: '02:00:00:00:00:04', srcIp: '192.168.56.11', dstIp: '192.168.56.12', sport: 50000, dport: 8472, vni: 1 });
    const pkts = [syn, syn, synAck, udp, ping, stranger, vx];
    const recs = await readPcap(writePcap(pkts.map((p, i) => ({ ts: 100 + i, bytes: encodePacket(p) }))));
    const { requests, skipped } = pcapRequests(world, recs, 'x.pcap');
    expect(requests.map((r) => [r.record, r.request])).toEqual([
      [1, { from: client, to: '10.96.100.10:80', proto: 'tcp', sport: 40123, size: encodePacket(syn).length - 14, df: true }],
      [4, { from: '192.168.56.200', to: '192.168.56.11:30080', proto: 'udp', sport: 5000, size: 38, df: true }],
      [5, { from: '192.168.56.11', to: '10.244.1.2', proto: 'icmp', sport: 9, size: 28, df: true }],
      [7, { from: client, to: '10.244.1.2:8080', proto: 'tcp', sport: 40500, size: encodePacket(syn).length - 14, df: true }],
    ]);
    expect(skipped.map((s) => s.record)).toEqual([2, 3, 6]);
    expect(skipped[0]!.reason).toMatch(/same flow/);
    expect(skipped[1]!.reason).toMatch(/SYN-ACK/);
    expect(skipped[2]!.reason).toMatch(/203\.0\.113\.9 is no address of the topology/);
    // each request traces
    for (const r of requests) expect(traceRequest(world, r.request).trace.outcomes.length).toBeGreaterThan(0);
    expect(formatPacket(syn)).toContain('40123');
  });
});
