import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../base/index.js';
import { applyIptablesRestore, formatIptablesSave, parseIptablesSave, parseIptablesSaveGeneral } from './iptables-save.js';
import { syntheticKubeProxyDump } from './synthetic.js';
import type { Ruleset } from './types.js';
import { Cursor, LineScan, tokenize } from './util.js';

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

describe('the fast path (lines read by position, shared values) gives the general path’s model', () => {
  // The general path splits every line with tokenize() and shares nothing: the reference.
  const model = (rs: Ruleset): unknown =>
    [...rs.tables].map(([tn, t]) => ({
      tn,
      order: t.order,
      chains: [...t.chains].map(([n, c]) => ({ n, name: c.name, builtin: c.builtin, policy: c.policy, counters: c.counters, rules: c.rules.map((r) => JSON.parse(JSON.stringify(r)) as unknown) })),
    }));
  const both = (text: string, family: 4 | 6 = 4) => {
    const run = (f: typeof parseIptablesSave): unknown => {
      try {
        return model(f(text, { file: 'f', family }));
      } catch (e) {
        return e instanceof InputError ? `${e.name}: ${e.message}` : e;
      }
    };
    return { fast: run(parseIptablesSave), general: run(parseIptablesSaveGeneral) };
  };
  const table = (...rules: string[]) => `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n${rules.join('\n')}\nCOMMIT\n`;

  it('on every fixture and a synthetic kube-proxy dump', () => {
    for (const [f, family] of [
      ['kube-proxy.save', 4], ['kube-proxy.counters.save', 4], ['matches.save', 4], ['matches.counters.save', 4], ['ipv6.save', 6],
      ['input/kube-proxy.rules', 4], ['input/matches.rules', 4], ['input/ipv6.rules', 6],
    ] as const) {
      const { fast, general } = both(read(f), family);
      expect(typeof fast, f).toBe('object');
      expect(fast, f).toEqual(general);
    }
    const { fast, general } = both(syntheticKubeProxyDump({ services: 120, endpointsPerService: 3 }));
    expect(fast).toEqual(general);
  });

  it('on quoting, spacing, tabs, CR, counters, -I/-N/-X/-F/-P and bad lines', () => {
    const cases = [
      table('-A INPUT -m comment --comment "a b  c" -j X', '-A INPUT -m comment --comment "" -j X', '-A INPUT -m comment --comment ab"c d"e -j X'),
      table('-A INPUT -m comment --comment "with \\"q\\" and \\\\ b" -j X'),
      table('-A INPUT -m comment --comment "unterminated -j X'),
      table('-A\tINPUT\t-s 10.0.0.1  -j   X ', '-A INPUT -s 10.0.0.1 -j X\r', '[5:100] -A INPUT -p tcp --dport 80 -j ACCEPT'),
      table('-I INPUT -s 1.2.3.4 -j DROP', '-I INPUT 2 -s 1.2.3.5 -j DROP', '-I INPUT 9 -j DROP'),
      table('-A INPUT -p tcp --dport 80 -j ACCEPT', '-A INPUT -p tcp --dport 80 -j ACCEPT', '-A INPUT -p udp -m udp ! --dport 53 -j ACCEPT', '-A INPUT -p tcp -m tcp --dport 80:90 --syn -j ACCEPT'),
      table('-A INPUT ! -s 10.0.0.0/8 -j X', '-A INPUT ! -s 10.0.0.0/8 -g X', '-A X -s 10.0.0.0/255.0.0.0 -d 10.0.0.0/8 -j RETURN'),
      table('-N Y', '-A Y -j ACCEPT', '-A INPUT -j Y', '-F Y', '-A INPUT -j X', '-D INPUT 1'),
      table('-N Y', '-A X -j Y', '-F X', '-X Y', '-N Y', '-A Y -j DROP', '-A INPUT -j Y', '-P INPUT DROP'),
      table('-A INPUT -m statistic --mode nth --every 2 --packet 0 -j X', '-A INPUT -m comment --comment "x" -m comment --comment "x" -j ACCEPT'),
      table('-A INPUT -s 10.0.0.300 -j X'), table('-A INPUT -s'), table('-A INPUT ! ! -s 1.1.1.1'), table('-A INPUT -j NOPE'),
      table('-A NOCHAIN -j ACCEPT'), table('-A INPUT "-s" 1.1.1.1 -j X'), table('-A INPUT -m comment --comment "a"b -j X'),
      table('-A INPUT -p tcp -j DNAT --to-destination 1.2.3.4:80'), table('   '), table('-N A', '-N B', '-A A -j B', '-A B -j A'),
      // jumps between declared chains (the fast path checks them over the jumps it recorded)
      table(':A - [0:0]', ':B - [0:0]', '-A INPUT -j A', '-A A -j B', '-A A -j X', '-A B -j X', '-A X -j A'),
      table(':A - [0:0]', ':B - [0:0]', '-A A -j B', '-A B -g A'),
      table(...Array.from({ length: 17 }, (_, i) => `:C${i} - [0:0]`), '-A INPUT -j C0', ...Array.from({ length: 16 }, (_, i) => `-A C${i} -j C${i + 1}`)),
      table(...Array.from({ length: 16 }, (_, i) => `:C${i} - [0:0]`), '-A OUTPUT -j C0', ...Array.from({ length: 15 }, (_, i) => `-A C${i} -j C${i + 1}`), '-A C3 -j X'),
      table(':A - [0:0]', '-A A -m comment --comment "a\\"b" -j X', '-A X -j A'),
      table(':A - [0:0]', '-A A -j X', '-I X -j A'),
      table(':X - [0:0]'), table(':A - [0:0]', ':A - [0:0]'), table('-N Y', ':Y - [0:0]'), table(':Y - [0:0]', '-N Y'), table('-X X', ':X - [0:0]', '-A X -j X'),
    ];
    for (const c of cases) {
      const { fast, general } = both(c);
      expect(fast, c).toEqual(general);
    }
  });

  it('never shares a statistic match between rules (nth counters are per rule)', () => {
    const rs = parseIptablesSave(table('-A INPUT -m statistic --mode nth --every 2 --packet 0 -j X', '-A INPUT -m statistic --mode nth --every 2 --packet 0 -j X'));
    const [a, b] = rs.tables.get('filter')!.chains.get('INPUT')!.rules;
    expect(a!.matches[0]).toEqual(b!.matches[0]);
    expect(a!.matches[0]).not.toBe(b!.matches[0]);
  });

  it('splits a line as tokenize() does when reading it by position', () => {
    for (const line of ['-A X -m comment --comment "a b  c" -j Y', '--comment "" -j Y', '-A  X   -j Y ', 'ab"c d"e "x"y ! -s', '! --dport 80 !x -m tcp']) {
      const cur = Cursor.onLine(new LineScan(line), 0, line.length)!;
      const got: string[] = [];
      for (let t = cur.take(); t !== undefined; t = cur.take()) got.push(t);
      expect(got, line).toEqual(tokenize(line));
    }
  });
});
