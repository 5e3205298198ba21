import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatIpsetSave, parseIpsetSave } from './ipset.js';
import { formatProbability } from './matches.js';
import { Cursor, LineScan, atomSlotOf, parseAddrMask, parseAddrMaskAt, parsePort, saveString, tokenize } from './util.js';

describe('iptables-restore argument splitting (add_param_to_argv)', () => {
  it('groups double-quoted words, keeps empty quoted arguments, unescapes inside quotes', () => {
    expect(tokenize('-A X -m comment --comment "a b  c" -j Y')).toEqual(['-A', 'X', '-m', 'comment', '--comment', 'a b  c', '-j', 'Y']);
    expect(tokenize('--comment "" -j Y')).toEqual(['--comment', '', '-j', 'Y']);
    expect(tokenize('--comment "with \\"q\\" and \\\\ b"')).toEqual(['--comment', 'with "q" and \\ b']);
    expect(tokenize('-A  X   -j Y')).toEqual(['-A', 'X', '-j', 'Y']);
  });
  it('quotes like xtables_save_string: bare only for [_-0-9a-zA-Z]', () => {
    expect(saveString('plain-Name_1')).toBe('plain-Name_1');
    expect(saveString('a/b:c')).toBe('"a/b:c"');
    expect(saveString('')).toBe('""');
    expect(saveString(`it's "x" \\`)).toBe(`"it\\'s \\"x\\" \\\\"`);
  });
});

describe('statistic probability text', () => {
  it('prints n / 2^31 with %.11f, rounding half to even like glibc', () => {
    expect(formatProbability(Math.round(0.1 * 0x80000000))).toBe('0.10000000009'); // kernel fixture
    expect(formatProbability(0x40000000)).toBe('0.50000000000');
    expect(formatProbability(0x80000000 / 4096)).toBe('0.00024414062'); // iptables-save printed this
    expect(formatProbability(0x80000000)).toBe('1.00000000000');
  });
});

describe('ipset save', () => {
  it('format(parse(ipset save)) reproduces the kernel output', () => {
    const text = readFileSync(fileURLToPath(new URL('../../fixtures/netfilter/ipsets.save', import.meta.url)), 'utf8');
    expect(formatIpsetSave(parseIpsetSave(text))).toBe(text);
  });
  it('rejects unknown types and elements that do not fit, naming the line', () => {
    expect(() => parseIpsetSave('create a hash:mac\n', { file: 's' })).toThrow(/s:1 \(hash:mac\)/);
    expect(() => parseIpsetSave('create a hash:ip,port family inet\nadd a 10.0.0.1\n', { file: 's' })).toThrow(/s:2/);
  });
});

describe('the position cursor and in-place readers', () => {
  it('tells which option words it returned as atoms, and a peek does not change that', () => {
    const line = '-A KUBE-SVC-X -m comment --comment "x y" -m statistic --mode random --probability 0.5 ! -s 10.0.0.1 -j DNAT';
    const cur = Cursor.onLine(new LineScan(line), 0, line.length)!;
    const seen: [string, number][] = [];
    for (let t = cur.take(); t !== undefined; t = cur.take()) {
      const atom = cur.atom;
      cur.peek();
      expect(cur.atom).toBe(atom);
      seen.push([t, atom]);
    }
    expect(seen.map(([t]) => t)).toEqual(tokenize(line));
    for (const [t, atom] of seen) {
      // an atom is the option word itself; everything else (chain names, values, quoted text) is not
      if (atom >= 0) expect(atomSlotOf(t)).toBe(atom);
      else expect(['KUBE-SVC-X', 'x y', '0.5', '!', '10.0.0.1']).toContain(t);
    }
    expect(seen.filter(([, a]) => a >= 0).map(([t]) => t)).toEqual(['-A', '-m', 'comment', '--comment', '-m', 'statistic', '--mode', 'random', '--probability', '-s', '-j', 'DNAT']);
  });
  it('reads addresses and ports in place exactly as from a string', () => {
    for (const a of ['10.0.0.1', '10.0.0.1/32', '10.1.2.3/8', '0.0.0.0/0', '10.0.0.0/255.255.0.0', '10.0.0.1/032', '1.2.3.4/33', '1.2.3', '1.2.3.256', '01.2.3.4', '10.0.0.0/255.0.255.0', '10.0.0.1/', 'x']) {
      const text = `-s ${a} -j X`;
      const at = (): unknown => parseAddrMaskAt(text, 3, 3 + a.length, '-s');
      let whole: unknown;
      try {
        whole = parseAddrMask(a, 4, '-s');
      } catch (e) {
        expect(at, a).toThrow((e as Error).message);
        continue;
      }
      expect(at(), a).toEqual(whole);
    }
    expect(parsePort('65535', '--dport')).toBe(65535);
    expect(parsePort('080', '--dport')).toBe(80);
    for (const p of ['65536', '', '123456', '8a', '-1', ' 80']) expect(() => parsePort(p, '--dport'), p).toThrow(/invalid port/);
  });
});
