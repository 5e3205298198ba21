import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatIpsetSave, parseIpsetSave } from './ipset.js';
import { formatProbability } from './matches.js';
import { saveString, tokenize } from './util.js';

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
