import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../base/errors.js';
import { writePcap, LINKTYPE } from '../packet/pcap.js';
import { BgpNetwork } from './network.js';
import { bgpFrames } from './pcap.js';
import type { OpenMessage, UpdateMessage } from './types.js';
import { decodeBgpMessage, decodeBgpStream, encodeBgpMessage } from './wire.js';
import { CALICO_BGP_TEMPLATE } from './config.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const MARKER = 'ff'.repeat(16);

describe('BGP message encoding (RFC 4271 §4)', () => {
  it('KEEPALIVE is the 19-byte header alone: marker, length 19, type 4', () => {
    expect(hex(encodeBgpMessage({ type: 'KEEPALIVE' }))).toBe(`${MARKER}001304`);
  });

  it('NOTIFICATION Hold timer expired: code 4, subcode 0', () => {
    expect(hex(encodeBgpMessage({ type: 'NOTIFICATION', code: 4, subcode: 0, data: new Uint8Array(0) }))).toBe(`${MARKER}0015030400`);
  });

  it('OPEN as BIRD writes it with Calico\'s template (bgp_create_open, capability order)', () => {
    const open: OpenMessage = {
      type: 'OPEN', version: 4, asn: 64512, holdTime: 240, bgpId: '192.168.56.11',
      capabilities: [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'route-refresh' },
        { kind: 'graceful-restart', restarting: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: false }] },
        { kind: 'as4', asn: 64512 },
        { kind: 'add-path', afi: 1, safi: 1, sendReceive: 3 },
        { kind: 'enhanced-route-refresh' },
        { kind: 'llgr', data: new Uint8Array(0) },
      ],
    };
    const b = encodeBgpMessage(open);
    // caps: 01 04 0001 00 01 | 02 00 | 40 06 0078 0001 01 00 | 41 04 0000fc00 | 45 04 0001 01 03 | 46 00 | 47 00
    const caps = '010400010001' + '0200' + '4006007800010100' + '41040000fc00' + '450400010103' + '4600' + '4700';
    const capLen = caps.length / 2; // 34
    const body = '04' + 'fc00' + '00f0' + 'c0a8380b' + (capLen + 2).toString(16).padStart(2, '0') + '02' + capLen.toString(16).padStart(2, '0') + caps;
    const total = 19 + body.length / 2;
    expect(hex(b)).toBe(MARKER + total.toString(16).padStart(4, '0') + '01' + body);
    expect(decodeBgpMessage(b).message).toEqual(open);
  });

  it('OPEN from a 4-octet AS writes AS_TRANS (23456) in the 2-octet field and the real AS in capability 65', () => {
    const b = encodeBgpMessage({ type: 'OPEN', version: 4, asn: 4200000000, holdTime: 90, bgpId: '10.0.0.1', capabilities: [{ kind: 'as4', asn: 4200000000 }] });
    expect(hex(b.subarray(20, 22))).toBe('5ba0');
    const m = decodeBgpMessage(b).message as OpenMessage;
    expect(m.asn).toBe(4200000000);
  });

  it('UPDATE: attributes in type-code order with RFC flags, NLRI as length + significant octets', () => {
    const u: UpdateMessage = {
      type: 'UPDATE', withdrawn: [],
      attrs: { origin: 0, asPath: [], nextHop: '192.168.56.12', localPref: 100, originatorId: '192.168.56.12', clusterList: ['1.0.0.1'] },
      nlri: [{ prefix: '10.244.2.0/26' }, { prefix: '10.244.9.0/24' }],
    };
    const attrs = '400101' + '00' + '400200' + '400304c0a8380c' + '40050400000064' + '800904c0a8380c' + '800a0401000001';
    const nlri = '1a0af40200' + '180af409';
    const body = '0000' + (attrs.length / 2).toString(16).padStart(4, '0') + attrs + nlri;
    const b = encodeBgpMessage(u);
    expect(hex(b)).toBe(MARKER + (19 + body.length / 2).toString(16).padStart(4, '0') + '02' + body);
    expect(decodeBgpMessage(b).message).toEqual(u);
  });

  it('UPDATE with ADD-PATH (RFC 7911) puts a 4-byte path id before each prefix; eBGP AS_PATH is one AS_SEQUENCE of 4-octet ASNs', () => {
    const u: UpdateMessage = { type: 'UPDATE', withdrawn: [{ prefix: '10.244.3.0/26', pathId: 7 }], attrs: { origin: 0, asPath: [65000, 64512], nextHop: '10.0.0.1' }, nlri: [{ prefix: '10.244.4.0/26', pathId: 1 }] };
    const b = encodeBgpMessage(u, { addPath: true });
    const s = hex(b);
    expect(s.slice(38, 42)).toBe('0009'); // withdrawn length: 4 + 1 + 4
    expect(s.slice(42, 60)).toBe('000000071a0af40300');
    expect(s).toContain('40020a' + '0202' + '0000fde8' + '0000fc00'); // flags 0x40, code 2, length 10, AS_SEQUENCE of 2
    expect(s.endsWith('000000011a0af40400')).toBe(true);
    expect(decodeBgpMessage(b, 0, { addPath: true }).message).toEqual(u);
  });

  it('rejects malformed input with a typed error naming the field', () => {
    const bad = encodeBgpMessage({ type: 'KEEPALIVE' });
    bad[3] = 0;
    expect(() => decodeBgpMessage(bad)).toThrow(InputError);
    expect(() => decodeBgpMessage(bad)).toThrow(/bgp\.header\.marker/);
    expect(() => decodeBgpMessage(new Uint8Array([...encodeBgpMessage({ type: 'KEEPALIVE' }).subarray(0, 18)]))).toThrow(/truncated/);
    expect(() => encodeBgpMessage({ type: 'UPDATE', withdrawn: [], nlri: [{ prefix: '10.0.0.1/8' }], attrs: { origin: 0, asPath: [], nextHop: '1.1.1.1' } })).toThrow(/bgp\.update\.nlri/);
  });
});

describe('tshark decodes the exchange as BGP on TCP 179', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podpath-bgp-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('OPEN, KEEPALIVE and UPDATE of a two-node Calico mesh', () => {
    const net = new BgpNetwork();
    net.addSpeaker({ name: 'node-1', routerId: '192.168.56.11', asn: 64512, address: '192.168.56.11' });
    net.addSpeaker({ name: 'node-2', routerId: '192.168.56.12', asn: 64512, address: '192.168.56.12' });
    net.addPeering('node-1', 'node-2', { namePrefix: 'Mesh', a: { ...CALICO_BGP_TEMPLATE, addPaths: false }, b: { ...CALICO_BGP_TEMPLATE, addPaths: false } });
    net.originate('node-1', '10.244.1.0/26');
    net.originate('node-2', '10.244.2.0/26');
    net.run();
    const file = join(dir, 'bgp.pcap');
    writeFileSync(file, writePcap(bgpFrames(net.log), LINKTYPE.ETHERNET));
    const r = spawnSync('tshark', ['-n', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-Y', 'bgp', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,',
      '-e', 'ip.src', '-e', 'tcp.dstport', '-e', 'bgp.type', '-e', 'bgp.open.myas', '-e', 'bgp.open.holdtime', '-e', 'bgp.open.identifier', '-e', 'bgp.nlri_prefix', '-e', 'bgp.update.path_attribute.next_hop', '-e', 'bgp.update.path_attribute.local_pref', '-e', '_ws.expert.severity'], { encoding: 'utf8' });
    if (r.error) throw new Error(`tshark is not installed (${r.error.message}): apt-get install tshark`);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    const types = rows.map((x) => x[2]);
    expect(types.filter((t) => t === '1')).toHaveLength(2);
    expect(types.filter((t) => t === '4')).toHaveLength(2);
    const updates = rows.filter((x) => x[2] === '2');
    expect(updates.map((x) => [x[0], x[6], x[7], x[8]]).sort()).toEqual([
      ['192.168.56.11', '10.244.1.0', '192.168.56.11', '100'],
      ['192.168.56.12', '10.244.2.0', '192.168.56.12', '100'],
    ]);
    const opens = rows.filter((x) => x[2] === '1');
    expect(opens.map((x) => [x[3], x[4]])).toEqual([['64512', '240'], ['64512', '240']]);
    // The higher address (node-2) opens the connection to node-1's port 179 (Calico's mesh direction).
    expect(rows.find((x) => x[2] === '1' && x[0] === '192.168.56.12')?.[1]).toBe('179');
    // No malformed or bad-checksum warnings.
    for (const row of rows) expect(row[9] ?? '').not.toMatch(/error|warning/i);
    // And our decoder reads back what the log holds, per direction.
    const frames = bgpFrames(net.log);
    expect(frames.length).toBeGreaterThan(6);
    expect(decodeBgpStream(new Uint8Array(0))).toEqual([]);
  });

  it('with Calico\'s template (ADD-PATH negotiated): path ids, two blocks in one UPDATE, a withdrawal', () => {
    const net = new BgpNetwork();
    net.addSpeaker({ name: 'node-1', routerId: '192.168.56.11', asn: 64512, address: '192.168.56.11' });
    net.addSpeaker({ name: 'node-2', routerId: '192.168.56.12', asn: 64512, address: '192.168.56.12' });
    net.addPeering('node-1', 'node-2', { namePrefix: 'Mesh', a: CALICO_BGP_TEMPLATE, b: CALICO_BGP_TEMPLATE });
    net.originate('node-1', '10.244.1.0/26');
    net.originate('node-1', '10.244.1.64/26');
    net.run();
    net.withdraw('node-1', '10.244.1.64/26');
    net.run();
    const file = join(dir, 'addpath.pcap');
    writeFileSync(file, writePcap(bgpFrames(net.log), LINKTYPE.ETHERNET));
    const r = spawnSync('tshark', ['-n', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-Y', 'bgp.type == 2', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,',
      '-e', 'ip.src', '-e', 'bgp.nlri_prefix', '-e', 'bgp.prefix_length', '-e', 'bgp.nlri_path_id', '-e', 'bgp.withdrawn_prefix', '-e', 'bgp.update.path_attribute.next_hop', '-e', '_ws.expert.severity'], { encoding: 'utf8' });
    if (r.error) throw new Error(`tshark is not installed (${r.error.message}): apt-get install tshark`);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
    expect(rows).toEqual([
      ['192.168.56.11', '10.244.1.0,10.244.1.64', '26,26', '1,1', '', '192.168.56.11', ''],
      ['192.168.56.11', '', '26', '1', '10.244.1.64', '', ''],
    ]);
  });
});
