// Every frame the real kernel produced (fixtures/packets/*.pcap, made by make-fixtures.sh) is
// decoded and compared field by field with what tshark says about the same frame, then encoded
// back to the identical bytes. tshark is the independent oracle: it runs at test time.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { icmpEchoId, icmpEchoSeq, icmpNextHopMtu } from './icmp.js';
import { encodePacket, packetLayout, verifyPacket } from './packet.js';
import type { Layer, Packet } from './packet.js';
import { tcpFlagsByte } from './tcp.js';
import { readPcap } from './pcap.js';
import type { PcapRecord } from './pcap.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/packets/', import.meta.url));
const ETHERNET_FILES = ['arp-icmp.pcap', 'tcp4.pcap', 'udp4.pcap', 'ipv6.pcap', 'vxlan.pcap', 'icmp-errors.pcap'];
const SLL_FILES = ['any-sll.pcap', 'any-sll2.pcap'];

function tshark(file: string, fields: readonly string[], extra: readonly string[] = []): string[][] {
  const r = spawnSync('tshark', ['-n', '-r', file, ...extra, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  if (r.error) throw new Error(`tshark is needed for this test and could not run (${r.error.message}): install it with \`apt-get install tshark\` (.ci/run installs it)`);
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
}

async function load(name: string): Promise<PcapRecord[]> {
  return readPcap(readFileSync(FIXTURES + name), name);
}

/** The bytes after a cooked-capture header (what decodePacket saw). */
function body(r: PcapRecord): Uint8Array {
  return r.linkType === 113 ? r.bytes.subarray(16) : r.linkType === 276 ? r.bytes.subarray(20) : r.bytes;
}

function all<K extends Layer['kind']>(p: Packet, kind: K): Extract<Layer, { kind: K }>[] {
  return p.layers.filter((l): l is Extract<Layer, { kind: K }> => l.kind === kind);
}

const b = (x: boolean) => (x ? 1 : 0);
const isEcho = (t: number) => t === 0 || t === 8;
const isEcho6 = (t: number) => t === 128 || t === 129;

/** tshark field → the same value from our decode, one entry per occurrence, outermost first. */
const FIELDS: Record<string, (p: Packet) => (string | number)[]> = {
  'eth.src': (p) => all(p, 'ethernet').map((h) => h.src),
  'eth.dst': (p) => all(p, 'ethernet').map((h) => h.dst),
  'eth.type': (p) => all(p, 'ethernet').map((h) => h.ethertype),
  'arp.opcode': (p) => all(p, 'arp').map((h) => h.op),
  'arp.src.hw_mac': (p) => all(p, 'arp').map((h) => h.senderMac),
  'arp.src.proto_ipv4': (p) => all(p, 'arp').map((h) => h.senderIp),
  'arp.dst.hw_mac': (p) => all(p, 'arp').map((h) => h.targetMac),
  'arp.dst.proto_ipv4': (p) => all(p, 'arp').map((h) => h.targetIp),
  'ip.src': (p) => all(p, 'ipv4').map((h) => h.src),
  'ip.dst': (p) => all(p, 'ipv4').map((h) => h.dst),
  'ip.hdr_len': (p) => all(p, 'ipv4').map((h) => 20 + (h.options?.length ?? 0)),
  'ip.dsfield': (p) => all(p, 'ipv4').map((h) => (h.dscp << 2) | h.ecn),
  'ip.len': (p) => all(p, 'ipv4').map((h) => h.totalLength!),
  'ip.id': (p) => all(p, 'ipv4').map((h) => h.id),
  'ip.flags.df': (p) => all(p, 'ipv4').map((h) => b(h.df)),
  'ip.flags.mf': (p) => all(p, 'ipv4').map((h) => b(h.mf)),
  'ip.frag_offset': (p) => all(p, 'ipv4').map((h) => h.fragOffset * 8),
  'ip.ttl': (p) => all(p, 'ipv4').map((h) => h.ttl),
  'ip.proto': (p) => all(p, 'ipv4').map((h) => h.protocol),
  'ip.checksum': (p) => all(p, 'ipv4').map((h) => h.checksum!),
  'ipv6.src': (p) => all(p, 'ipv6').map((h) => h.src),
  'ipv6.dst': (p) => all(p, 'ipv6').map((h) => h.dst),
  'ipv6.tclass': (p) => all(p, 'ipv6').map((h) => h.trafficClass),
  'ipv6.flow': (p) => all(p, 'ipv6').map((h) => h.flowLabel),
  'ipv6.plen': (p) => all(p, 'ipv6').map((h) => h.payloadLength!),
  'ipv6.nxt': (p) => all(p, 'ipv6').map((h) => h.nextHeader),
  'ipv6.hlim': (p) => all(p, 'ipv6').map((h) => h.hopLimit),
  'tcp.srcport': (p) => all(p, 'tcp').map((h) => h.sport),
  'tcp.dstport': (p) => all(p, 'tcp').map((h) => h.dport),
  'tcp.seq_raw': (p) => all(p, 'tcp').map((h) => h.seq),
  'tcp.ack_raw': (p) => all(p, 'tcp').map((h) => h.ack),
  'tcp.flags': (p) => all(p, 'tcp').map((h) => tcpFlagsByte(h.flags) | ((h.reserved ?? 0) << 8)),
  'tcp.hdr_len': (p) => all(p, 'tcp').map((h) => 20 + (h.options?.length ?? 0)),
  'tcp.window_size_value': (p) => all(p, 'tcp').map((h) => h.window),
  'tcp.checksum': (p) => all(p, 'tcp').map((h) => h.checksum!),
  'tcp.urgent_pointer': (p) => all(p, 'tcp').map((h) => h.urgent),
  'tcp.len': (p) => {
    const L = packetLayout(p);
    return p.layers.flatMap((h, i) => (h.kind === 'tcp' ? [L.inner[i]!] : []));
  },
  'udp.srcport': (p) => all(p, 'udp').map((h) => h.sport),
  'udp.dstport': (p) => all(p, 'udp').map((h) => h.dport),
  'udp.length': (p) => all(p, 'udp').map((h) => h.length!),
  'udp.checksum': (p) => all(p, 'udp').map((h) => h.checksum!),
  'vxlan.flags': (p) => all(p, 'vxlan').map((h) => (h.flags << 8) | 0),
  'vxlan.vni': (p) => all(p, 'vxlan').map((h) => h.vni),
  'icmp.type': (p) => all(p, 'icmp').map((h) => h.type),
  'icmp.code': (p) => all(p, 'icmp').map((h) => h.code),
  'icmp.checksum': (p) => all(p, 'icmp').map((h) => h.checksum!),
  'icmp.ident': (p) => all(p, 'icmp').filter((h) => isEcho(h.type)).map((h) => icmpEchoId(h)),
  'icmp.seq': (p) => all(p, 'icmp').filter((h) => isEcho(h.type)).map((h) => icmpEchoSeq(h)),
  'icmp.mtu': (p) => all(p, 'icmp').filter((h) => h.type === 3 && h.code === 4).map((h) => icmpNextHopMtu(h)),
  'icmpv6.type': (p) => all(p, 'icmpv6').map((h) => h.type),
  'icmpv6.code': (p) => all(p, 'icmpv6').map((h) => h.code),
  'icmpv6.checksum': (p) => all(p, 'icmpv6').map((h) => h.checksum!),
  'icmpv6.mtu': (p) => all(p, 'icmpv6').filter((h) => h.type === 2).map((h) => h.rest),
  'icmpv6.echo.identifier': (p) => all(p, 'icmpv6').filter((h) => isEcho6(h.type)).map((h) => h.rest >>> 16),
  'icmpv6.echo.sequence_number': (p) => all(p, 'icmpv6').filter((h) => isEcho6(h.type)).map((h) => h.rest & 0xffff),
};

/** tshark prints numbers in decimal or 0x-hex; addresses as text. */
function norm(v: string): string {
  return v
    .split(',')
    .filter((x) => x !== '')
    .map((x) => (/^(0x[0-9a-f]+|\d+)$/i.test(x) ? String(Number(x)) : x))
    .join(',');
}

describe('kernel-captured frames, decoded and checked against tshark', () => {
  for (const file of ETHERNET_FILES) {
    it(`${file}: every header field matches tshark`, async () => {
      const records = await load(file);
      expect(records.length).toBeGreaterThan(0);
      const names = Object.keys(FIELDS);
      const rows = tshark(FIXTURES + file, names, ['-d', 'udp.port==8472,vxlan', '-o', 'tcp.analyze_sequence_numbers:FALSE']);
      expect(rows.length).toBe(records.length);
      let compared = 0;
      records.forEach((r, n) => {
        expect(r.error, `frame ${n + 1}`).toBeUndefined();
        const p = r.packet!;
        // Hop-by-hop options (MLD reports) are not decoded by podpath: the rest stays payload.
        if (all(p, 'ipv6').some((h) => h.nextHeader === 0)) return;
        names.forEach((name, k) => {
          const ours = FIELDS[name]!(p).map(String).join(',');
          expect(ours, `${file} frame ${n + 1} ${name}`).toBe(norm(rows[n]![k] ?? ''));
          if (ours !== '') compared++;
        });
      });
      expect(compared).toBeGreaterThan(records.length * 4);
    });

    it(`${file}: every frame verifies clean and encodes back to the identical bytes`, async () => {
      for (const r of await load(file)) {
        expect(verifyPacket(r.bytes, 'ethernet')).toEqual([]);
        expect(Buffer.from(encodePacket(r.packet!)).equals(Buffer.from(r.bytes))).toBe(true);
        expect(Buffer.from(encodePacket(r.packet!, { recompute: false })).equals(Buffer.from(r.bytes))).toBe(true);
      }
    });
  }

  for (const file of SLL_FILES) {
    it(`${file} (tcpdump -i any): cooked header and IP layers match tshark`, async () => {
      const records = await load(file);
      const rows = tshark(FIXTURES + file, ['sll.pkttype', 'sll.etype', 'sll.src.eth', 'ip.src', 'ip.dst', 'icmp.type', 'icmp.ident']);
      expect(records.length).toBe(2);
      records.forEach((r, n) => {
        const [pkttype, etype, src, ipSrc, ipDst, icmpType, ident] = rows[n]!;
        expect(r.sll?.pkttype).toBe(Number(pkttype));
        expect(r.sll?.protocol).toBe(Number(etype));
        expect(r.sll?.addr).toBe(src);
        expect(r.direction).toBe(Number(pkttype) === 4 ? 'out' : 'in');
        const p = r.packet!;
        expect(p.layers[0]!.kind).toBe('ipv4');
        expect(FIELDS['ip.src']!(p).join(',')).toBe(ipSrc);
        expect(FIELDS['ip.dst']!(p).join(',')).toBe(ipDst);
        expect(FIELDS['icmp.type']!(p).join(',')).toBe(icmpType);
        expect(FIELDS['icmp.ident']!(p).join(',')).toBe(ident);
        expect(verifyPacket(body(r), { link: 'raw', ethertype: r.sll!.protocol })).toEqual([]);
        expect(Buffer.from(encodePacket(p)).equals(Buffer.from(body(r)))).toBe(true);
      });
      if (file === 'any-sll2.pcap') {
        const ifindex = tshark(FIXTURES + file, ['sll.ifindex']).map((row) => Number(row[0]));
        expect(records.map((r) => r.sll?.ifindex)).toEqual(ifindex);
      }
    });
  }
});
