import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../base/index.js';
import { applyIptablesRestore, formatIptablesSave, parseIptablesSave } from './iptables-save.js';

const dir = fileURLToPath(new URL('../../fixtures/netfilter/', import.meta.url));
const read = (f: string) => readFileSync(dir + f, 'utf8');

describe('iptables-save round trip (fixtures saved by the kernel, iptables-nft 1.8.9)', () => {
  for (const [f, family, counters] of [
    ['kube-proxy.save', 4, false],
    ['kube-proxy.counters.save', 4, true],
    ['matches.save', 4, false],
    ['matches.counters.save', 4, true],
    ['ipv6.save', 6, false],
  ] as const) {
    it(`format(parse(${f})) reproduces it byte for byte`, () => {
      const text = read(f);
      expect(formatIptablesSave(parseIptablesSave(text, { file: f, family }), { counters })).toBe(text);
    });
  }
});

describe('canonicalisation of iptables-restore input, as the kernel stored it', () => {
  for (const [input, saved, family] of [
    ['input/kube-proxy.rules', 'kube-proxy.save', 4],
    ['input/matches.rules', 'matches.save', 4],
    ['input/ipv6.rules', 'ipv6.save', 6],
  ] as const) {
    it(`${input} formats as iptables-save printed it after iptables-restore`, () => {
      const rs = parseIptablesSave(read(input), { file: input, family });
      expect(formatIptablesSave(rs, { order: 'nft' })).toBe(read(saved));
    });
  }
});

describe('nfacct as iptables-save prints it', () => {
  it('keeps the two spaces after --nfacct-name', () => {
    const dump = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP\nCOMMIT\n';
    const rs = parseIptablesSave(dump.replace('name  ct', 'name ct'), { file: 'x' });
    expect(formatIptablesSave(rs)).toBe(dump);
  });
});
