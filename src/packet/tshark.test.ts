// The tshark round trip: podpath writes a pcap holding a VXLAN-encapsulated TCP SYN (outer UDP
// to 8472, VNI 1, as Flannel sends) and an IPIP-encapsulated one (as Calico's tunl0 sends), and
// tshark, an independent decoder, must read back the same addresses, ports and VNI, with good
// checksums and nothing malformed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ipipEncap, tcpSyn, vxlanEncap } from './build.js';
import { encap } from './build.js';
import { ETHERTYPE } from './ethernet.js';
import { encodePacket } from './packet.js';
import { writePcap, LINKTYPE } from './pcap.js';

const dir = mkdtempSync(join(tmpdir(), 'podpath-tshark-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runTshark(args: string[]): string {
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  if (r.error) {
    throw new Error(`tshark is not installed (${r.error.message}). This test needs it: apt-get install tshark (.ci/run installs it).`);
  }
  if (r.status !== 0) throw new Error(`tshark exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const CHECKS = ['-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];

function fields(file: string, names: string[]): Record<string, string>[] {
  const out = runTshark(['-n', '-r', file, '-d', 'udp.port==8472,vxlan', ...CHECKS, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...names.flatMap((n) => ['-e', n])]);
  return out.replace(/\n$/, '').split('\n').map((line) => Object.fromEntries(line.split('\t').map((v, i) => [names[i]!, v])));
}

describe('tshark reads what podpath writes', () => {
  // Pod 10.244.1.2 on node 192.168.56.11 opens a connection to pod 10.244.2.3:8080 on node 192.168.56.12.
  const inner = tcpSyn({ src: '10.244.1.2', dst: '10.244.2.3', sport: 40000, dport: 8080, seq: 1000, srcMac: '0a:58:0a:f4:01:02', dstMac: 'ee:ee:ee:ee:ee:ee' });
  const vxlan = vxlanEncap(inner, {
    srcMac: '08:00:27:00:00:11', dstMac: '08:00:27:00:00:12', srcIp: '192.168.56.11', dstIp: '192.168.56.12',
    sport: 51234, dport: 8472, vni: 1, id: 0x1234,
  });
  const ipip = encap(ipipEncap(inner, { src: '192.168.56.11', dst: '192.168.56.12', id: 0x4321 }), [
    { kind: 'ethernet', src: '08:00:27:00:00:11', dst: '08:00:27:00:00:12', ethertype: ETHERTYPE.IPV4 },
  ]);
  const file = join(dir, 'encap.pcap');
  writeFileSync(file, writePcap([{ ts: 1.5, bytes: encodePacket(vxlan) }, { ts: 2.25, bytes: encodePacket(ipip) }], LINKTYPE.ETHERNET));

  it('decodes outer and inner addresses, ports and the VNI', () => {
    const rows = fields(file, ['frame.time_epoch', 'frame.protocols', 'ip.src', 'ip.dst', 'ip.proto', 'udp.srcport', 'udp.dstport', 'vxlan.vni', 'vxlan.flags', 'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.flags', 'eth.src', 'eth.dst']);
    expect(rows).toHaveLength(2);
    const [v, i] = rows as [Record<string, string>, Record<string, string>];
    expect(Number(v['frame.time_epoch'])).toBeCloseTo(1.5, 6);
    expect(v['frame.protocols']).toBe('eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp');
    expect(v['ip.src']).toBe('192.168.56.11,10.244.1.2');
    expect(v['ip.dst']).toBe('192.168.56.12,10.244.2.3');
    expect(v['ip.proto']).toBe('17,6');
    expect(v['udp.srcport']).toBe('51234');
    expect(v['udp.dstport']).toBe('8472');
    expect(v['vxlan.vni']).toBe('1');
    expect(Number(v['vxlan.flags'])).toBe(0x0800);
    expect(v['eth.src']).toBe('08:00:27:00:00:11,0a:58:0a:f4:01:02');
    expect(v['eth.dst']).toBe('08:00:27:00:00:12,ee:ee:ee:ee:ee:ee');
    expect(v['tcp.srcport']).toBe('40000');
    expect(v['tcp.dstport']).toBe('8080');
    expect(v['tcp.seq_raw']).toBe('1000');
    expect(Number(v['tcp.flags'])).toBe(0x002);

    expect(Number(i['frame.time_epoch'])).toBeCloseTo(2.25, 6);
    expect(i['frame.protocols']).toBe('eth:ethertype:ip:ip:tcp');
    expect(i['ip.src']).toBe('192.168.56.11,10.244.1.2');
    expect(i['ip.dst']).toBe('192.168.56.12,10.244.2.3');
    expect(i['ip.proto']).toBe('4,6');
    expect(i['tcp.srcport']).toBe('40000');
    expect(i['tcp.dstport']).toBe('8080');
  });

  it('finds every checksum good and nothing malformed', () => {
    const rows = fields(file, ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', '_ws.malformed', '_ws.expert.severity', '_ws.expert.message']);
    for (const r of rows) {
      // status 1 = Good (0 Bad, 2 Unverified)
      for (const s of (r['ip.checksum.status'] ?? '').split(',')) expect(s).toBe('1');
      expect(r['tcp.checksum.status']).toBe('1');
      expect(r['_ws.malformed']).toBe('');
      // Expert info: a SYN is a "chat" note (severity 0x00200000); anything at warning (0x00600000) or error (0x00800000) fails.
      for (const sev of (r['_ws.expert.severity'] ?? '').split(',').filter(Boolean)) {
        expect(Number(sev), r['_ws.expert.message']).toBeLessThan(0x00600000);
      }
    }
    expect(rows[0]!['udp.checksum.status']).toBe('1');
  });

  it('a flipped bit is what tshark calls a bad checksum', () => {
    const bytes = encodePacket(vxlan);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x01; // inside the inner TCP header (window)
    const bad = join(dir, 'bad.pcap');
    writeFileSync(bad, writePcap([{ ts: 0, bytes }]));
    const [r] = fields(bad, ['tcp.checksum.status', 'udp.checksum.status']);
    expect(r!['tcp.checksum.status']).toBe('0');
    expect(r!['udp.checksum.status']).toBe('0');
  });
});
