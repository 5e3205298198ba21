import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodePacket } from './packet.js';
import { writePcap } from './pcap.js';
import { IPPROTO, TCP_FLAG, packetOfHeaders } from './skb.js';

describe('packetOfHeaders', () => {
  const syn = { family: 4 as const, src: '10.244.0.3', dst: '10.96.100.10', proto: IPPROTO.TCP, sport: 40000, dport: 80, tcpFlags: TCP_FLAG.SYN, ttl: 64, length: 60, mss: 1410 };

  it('a 60-byte SYN is a 40-byte TCP header with Linux\'s options and no payload', () => {
    const p = packetOfHeaders(syn);
    const bytes = encodePacket(p);
    expect(bytes.length).toBe(60);
    expect(p.payload.length).toBe(0);
    // data offset 10 words = 40 bytes
    expect(bytes[20 + 12]! >> 4).toBe(10);
  });

  it('tcpdump reads the options as Linux sends them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podpath-syn-'));
    const file = join(dir, 'syn.pcap');
    writeFileSync(file, writePcap([{ ts: 0, bytes: encodePacket(packetOfHeaders(syn)) }], 101));
    let out: string;
    try {
      out = execFileSync('tcpdump', ['-nn', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (e) {
      throw new Error(`tcpdump is needed for this test (apt-get install tcpdump; .ci/run installs it): ${(e as Error).message}`);
    }
    expect(out).toContain('Flags [S], seq 0, win 64240, options [mss 1410,sackOK,TS val 0 ecr 0,nop,wscale 7], length 0');
  });

  it('a non-SYN segment and a too-short SYN carry no options', () => {
    expect(encodePacket(packetOfHeaders({ ...syn, tcpFlags: TCP_FLAG.ACK, length: 40 })).length).toBe(40);
    expect(packetOfHeaders({ ...syn, length: 40 }).layers.at(-1)).not.toHaveProperty('options');
  });
});
