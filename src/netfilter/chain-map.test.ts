import { describe, expect, it } from 'vitest';
import { Rng } from '../base/index.js';
import { ChainMap } from './chain-map.js';
import { applyIptablesRestore, formatIptablesSave, parseIptablesSave } from './iptables-save.js';
import type { Chain } from './types.js';

const chain = (name: string, tag: number): Chain => ({ name, builtin: false, rules: [], counters: { packets: tag, bytes: 0 } });

describe('ChainMap', () => {
  it('behaves as a Map under random set/delete/clone sequences (model: a plain Map copy)', () => {
    const rng = new Rng(3);
    for (let round = 0; round < 200; round++) {
      let model = new Map<string, Chain>();
      let map: Map<string, Chain> = new Map();
      const bad: string[] = [];
      for (let op = 0; op < 400; op++) {
        const name = `C${rng.int(40)}`;
        const r = rng.int(10);
        if (r < 5) {
          const c = chain(name, op);
          model.set(name, c);
          map.set(name, c);
        } else if (r < 8) {
          if (map.delete(name) !== model.delete(name)) bad.push(`${op}: delete ${name}`);
        }
        else if (r < 9) {
          // clone: the old map becomes a base nobody changes
          map = new ChainMap(map);
          model = new Map(model);
        } else if (rng.int(20) === 0) {
          map.clear();
          model.clear();
        }
        if (map.size !== model.size || map.get(name) !== model.get(name) || map.has(name) !== model.has(name)) bad.push(`${op}: ${name}`);
      }
      expect(bad).toEqual([]);
      const sorted = (m: Map<string, Chain>) => [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      expect(sorted(map)).toEqual(sorted(model));
      expect([...map.keys()].sort()).toEqual([...model.keys()].sort());
      expect([...map.values()].length).toBe(model.size);
    }
  });

  it('a restore that changes shared chains leaves the ruleset it started from unchanged', () => {
    const base = parseIptablesSave('*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -s 10.0.0.1/32 -j B\n-A B -j ACCEPT\nCOMMIT\n');
    const before = formatIptablesSave(base);
    const next = applyIptablesRestore(base, '*filter\n-A A -s 10.0.0.2/32 -j B\n-P INPUT DROP\n-F B\n-A B -j DROP\n:C - [0:0]\n-A C -j RETURN\n-N D\n-X D\nCOMMIT\n', { noflush: true });
    expect(formatIptablesSave(base)).toBe(before);
    expect(formatIptablesSave(next)).toBe('*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n-A INPUT -j A\n-A A -s 10.0.0.1/32 -j B\n-A A -s 10.0.0.2/32 -j B\n-A B -j DROP\n-A C -j RETURN\nCOMMIT\n');
    // an unchanged chain is the same object in both
    expect(next.tables.get('filter')!.chains.get('INPUT')!.rules[0]).toBe(base.tables.get('filter')!.chains.get('INPUT')!.rules[0]);
  });
});

describe('validation of a restore on a copy (only the changed chains are visited)', () => {
  const base = () => parseIptablesSave('*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -j ACCEPT\nCOMMIT\n');
  it('finds a loop made through a new chain, and through a changed existing chain', () => {
    expect(() => applyIptablesRestore(base(), '*filter\n:N - [0:0]\n-A N -j N\nCOMMIT\n', { noflush: true })).toThrow(/loop in table filter: chain N reaches itself/);
    expect(() => applyIptablesRestore(base(), '*filter\n-A B -j A\nCOMMIT\n', { noflush: true })).toThrow(/loop in table filter/);
  });
  it('finds a jump to a missing chain and nesting deeper than the kernel allows', () => {
    expect(() => applyIptablesRestore(base(), '*filter\n-A INPUT -j NOPE\nCOMMIT\n', { noflush: true })).toThrow(/NOPE/);
    let deep = '*filter\n';
    for (let i = 0; i < 16; i++) deep += `:D${i} - [0:0]\n`;
    for (let i = 0; i < 15; i++) deep += `-A D${i} -j D${i + 1}\n`;
    deep += '-A INPUT -j D0\nCOMMIT\n';
    expect(() => applyIptablesRestore(base(), deep, { noflush: true })).toThrow(/EMLINK/);
    // the same depth through an unchanged chain of the base: B (height 0) gains a chain of 15 jumps
    let viaB = '*filter\n';
    for (let i = 0; i < 15; i++) viaB += `:E${i} - [0:0]\n`;
    for (let i = 0; i < 14; i++) viaB += `-A E${i} -j E${i + 1}\n`;
    viaB += '-A B -j E0\nCOMMIT\n';
    expect(() => applyIptablesRestore(base(), viaB, { noflush: true })).toThrow(/EMLINK/);
  });
  it('accepts what the kernel accepts after several layered restores', () => {
    let rs = base();
    for (let i = 0; i < 5; i++) rs = applyIptablesRestore(rs, `*filter\n:N${i} - [0:0]\n-A N${i} -j B\n-A INPUT -j N${i}\nCOMMIT\n`, { noflush: true });
    expect(rs.tables.get('filter')!.chains.get('INPUT')!.rules.length).toBe(6);
    expect(() => applyIptablesRestore(rs, '*filter\n-A N4 -j N4\nCOMMIT\n', { noflush: true })).toThrow(/loop/);
  });
});
