import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { podpath } from '../../../test/support/cli.js';
import { encodePacket, readPcap, tcpSyn, writePcap, LINKTYPE, type Packet, type Trace } from '../../index.js';

const TOPOS = join(import.meta.dirname, '..', '..', '..', 'topologies');
const VX = join(TOPOS, 'flannel-vxlan.yaml');
const dir = mkdtempSync(join(tmpdir(), 'pp-cli-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const eth = (p: Packet): Packet => ({ ...p, layers: [{ kind: 'ethernet', src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', ethertype: 0x0800 }, ...p.layers] });

describe('podpath trace --pcap / --pcap-in', () => {
  it('--pcap FILE writes the frames of every outcome (LINUX_SLL2) and names the interface indexes on stderr', async () => {
    const file = join(dir, 'out.pcap');
    const r = await podpath(['trace', '-t', VX, '--from', 'client/laptop', '--to', '192.168.56.11:30080', '--all', '--format', 'minimal', '--pcap', file]);
    expect(r.code).toBe(0);
    const recs = await readPcap(readFileSync(file), file);
    expect(recs.length).toBeGreaterThan(6);
    expect(recs.every((x) => x.linkType === LINKTYPE.LINUX_SLL2 && x.error === undefined)).toBe(true);
    expect(r.err).toMatch(new RegExp(`${recs.length} frames \\(LINUX_SLL2\\)`));
    // the laptop's eth0 sends first; its index is listed
    const first = recs[0]!.sll!.ifindex!;
    expect(r.err).toContain(`  ${first} = client/laptop eth0`);
    expect(recs[0]!.sll!.pkttype).toBe(4);
  });

  it('--pcap-in FILE traces each flow-opening packet from where its source lives; other records are named on stderr', async () => {
    const file = join(dir, 'in.pcap');
    const syn = eth(tcpSyn({ src: '192.168.56.200', dst: '192.168.56.11', sport: 41000, dport: 30080 }));
    const foreign = eth(tcpSyn({ src: '203.0.113.1', dst: '192.168.56.11', sport: 1, dport: 30080 }));
    writeFileSync(file, writePcap([syn, syn, foreign].map((p, i) => ({ ts: 1 + i, bytes: encodePacket(p) }))));
    const r = await podpath(['trace', '-t', VX, '--pcap-in', file, '--all', '--format', 'json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { record: number; trace: Trace }[];
    expect(out.map((x) => x.record)).toEqual([1]);
    expect(out[0]!.trace.request).toMatchObject({ from: '192.168.56.200', to: '192.168.56.11:30080', proto: 'tcp' });
    expect(out[0]!.trace.outcomes.every((o) => o.disposition === 'delivered')).toBe(true);
    expect(r.err).toContain('record 2 not traced: same flow');
    expect(r.err).toContain('record 3 not traced: source 203.0.113.1 is no address of the topology');
    const text = await podpath(['trace', '-t', VX, '--pcap-in', file, '--format', 'minimal']);
    expect(text.out).toMatch(/^# .*in\.pcap record 1 \(1\.000000\): IP 192\.168\.56\.200\.41000 > 192\.168\.56\.11\.30080/);
  });

  it('bad input: a file that is not a pcap, a missing file, --from with --pcap-in, no --from without it: exit 2 naming the problem', async () => {
    const junk = join(dir, 'junk.pcap');
    writeFileSync(junk, 'not a capture at all');
    const a = await podpath(['trace', '-t', VX, '--pcap-in', junk]);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/junk\.pcap.*not a pcap file: bad magic/);
    const b = await podpath(['trace', '-t', VX, '--pcap-in', join(dir, 'missing.pcap')]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/missing\.pcap.*cannot read/);
    const c = await podpath(['trace', '-t', VX, '--pcap-in', junk, '--from', 'client/laptop']);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/--from.*not with --pcap-in/);
    const d = await podpath(['trace', '-t', VX, '--to', 'svc/default/web:80']);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(/--from.*required/);
    const cut = join(dir, 'cut.pcap');
    writeFileSync(cut, writePcap([{ ts: 1, bytes: encodePacket(eth(tcpSyn({ src: '192.168.56.200', dst: '192.168.56.11', sport: 1, dport: 30080 }))) }]).subarray(0, 50));
    const e = await podpath(['trace', '-t', VX, '--pcap-in', cut]);
    expect(e.code).toBe(2);
    expect(e.err).toMatch(/cut\.pcap/);
  });
});
