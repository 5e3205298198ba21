import { describe, expect, it } from 'vitest';
import { enumerateBranches, SeededChooser, TooManyBranchesError } from './branch.js';
import { checksumValid, internetChecksum } from './checksum.js';
import { VirtualClock } from './clock.js';
import { InputError } from './errors.js';
import { macFromBytes, macFromName, macToBytes, parseMac } from './mac.js';
import { Rng } from './rng.js';

describe('MAC addresses', () => {
  it('normalises and round-trips', () => {
    expect(parseMac('EE:EE:EE:EE:EE:EE')).toBe('ee:ee:ee:ee:ee:ee');
    expect(parseMac('0a-1-2-3-4-5')).toBe('0a:01:02:03:04:05');
    expect(macFromBytes(macToBytes('02:42:ac:11:00:02'))).toBe('02:42:ac:11:00:02');
    expect(() => parseMac('02:42:ac:11:00')).toThrow(/invalid MAC/);
  });
  it('derives stable locally administered unicast MACs from names', () => {
    const a = macFromName('node-1/flannel.1');
    expect(a).toBe(macFromName('node-1/flannel.1'));
    expect(a).not.toBe(macFromName('node-2/flannel.1'));
    const first = parseInt(a.slice(0, 2), 16);
    expect(first & 1).toBe(0);
    expect(first & 2).toBe(2);
  });
});

describe('Internet checksum', () => {
  it('matches the RFC 1071 worked example and a real IPv4 header', () => {
    // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2, checksum 0x220d.
    expect(internetChecksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7))).toBe(0x220d);
    // IPv4 header of a real packet (its checksum is 0xb861): valid, and a flipped bit is not.
    const hdr = Uint8Array.from(Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex'));
    const c = internetChecksum(hdr);
    expect(c).toBe(0xb861);
    hdr[10] = c >> 8;
    hdr[11] = c & 255;
    expect(checksumValid(hdr)).toBe(true);
    hdr[15] = hdr[15]! ^ 0x10;
    expect(checksumValid(hdr)).toBe(false);
  });
  it('pads an odd trailing byte with zero', () => {
    expect(internetChecksum(Uint8Array.of(0x12, 0x34, 0x56))).toBe(~(0x1234 + 0x5600) & 0xffff);
  });
});

describe('seeded randomness and virtual time', () => {
  it('same seed, same sequence; different seed, different sequence', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const seqA = Array.from({ length: 8 }, () => a.u32());
    expect(Array.from({ length: 8 }, () => b.u32())).toEqual(seqA);
    expect(Array.from({ length: 8 }, () => new Rng(43).u32())).not.toEqual(seqA);
  });
  it('is roughly uniform', () => {
    const r = new Rng(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40000; i++) counts[r.int(4)]!++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500);
  });
  it('the clock only moves forward', () => {
    const c = new VirtualClock();
    c.advance(1500);
    expect(c.now()).toBe(1500);
    expect(() => c.advance(-1)).toThrow(RangeError);
    expect(() => c.set(1000)).toThrow(RangeError);
  });
});

describe('branch enumeration', () => {
  // kube-proxy's three-endpoint dispatch: statistic 1/3, then 1/2, then the rest.
  const dispatch = (ch: { choose(point: string, p: readonly number[]): number }) => {
    if (ch.choose('rule 1', [1 / 3, 2 / 3]) === 0) return 'A';
    if (ch.choose('rule 2', [1 / 2, 1 / 2]) === 0) return 'B';
    return 'C';
  };

  it('enumerates every outcome with its exact probability, summing to 1', () => {
    const branches = enumerateBranches(dispatch);
    expect(branches.map((b) => b.result)).toEqual(['A', 'B', 'C']);
    expect(branches.map((b) => b.probability)).toEqual([1 / 3, (2 / 3) * (1 / 2), (2 / 3) * (1 / 2)]);
    expect(branches.reduce((s, b) => s + b.probability, 0)).toBeCloseTo(1, 12);
    expect(branches[2]!.choices.map((c) => c.index)).toEqual([1, 1]);
  });

  it('never takes a zero-probability option', () => {
    const branches = enumerateBranches((ch) => ch.choose('p', [0, 1, 0]));
    expect(branches.map((b) => b.result)).toEqual([1]);
  });

  it('a seeded chooser picks outcomes with the right frequencies', () => {
    const ch = new SeededChooser(new Rng(1));
    const counts: Record<string, number> = { A: 0, B: 0, C: 0 };
    for (let i = 0; i < 30000; i++) counts[dispatch(ch)]!++;
    for (const k of ['A', 'B', 'C']) expect(Math.abs(counts[k]! - 10000)).toBeLessThan(400);
  });

  it('refuses to explode', () => {
    const run = (ch: { choose(point: string, p: readonly number[]): number }) => {
      let x = 0;
      for (let i = 0; i < 20; i++) x = x * 2 + ch.choose(`bit ${i}`, [0.5, 0.5]);
      return x;
    };
    expect(() => enumerateBranches(run, { limit: 100 })).toThrow(TooManyBranchesError);
  });
});

describe('InputError', () => {
  it('names file, line and field of every problem', () => {
    const e = new InputError([
      { file: 'topo.yaml', line: 12, field: 'nodes[1].ip', message: 'not an IP address' },
      { file: 'web.yaml', line: 3, field: 'spec.ports[0].port', message: 'port 70000 is out of range 1-65535' },
    ]);
    expect(e.message).toBe('topo.yaml:12 (nodes[1].ip): not an IP address\nweb.yaml:3 (spec.ports[0].port): port 70000 is out of range 1-65535');
    expect(e.problems).toHaveLength(2);
  });
  it('lists the first 50 problems in its message and counts the rest (all stay in problems)', () => {
    const many = Array.from({ length: 75_000 }, (_, i) => ({ file: 'big.json', line: 1, field: `objects[${i}]`, message: 'no free address' }));
    const e = new InputError(many);
    const lines = e.message.split('\n');
    expect(lines).toHaveLength(51);
    expect(lines[49]).toBe('big.json:1 (objects[49]): no free address');
    expect(lines[50]).toBe('… and 74950 more problems');
    expect(e.problems).toHaveLength(75_000);
  });
});

describe('formatLocation', () => {
  it('names a command-line option on its own and a file position in full', async () => {
    const { formatLocation } = await import('./errors.js');
    expect(formatLocation({ field: '--node' })).toBe('--node');
    expect(formatLocation({ file: 'a.yaml', line: 3, field: 'spec.ports[0].port' })).toBe('a.yaml:3 (spec.ports[0].port)');
    expect(formatLocation({ file: 'a.yaml' })).toBe('a.yaml');
  });
});

describe('closestName', () => {
  it('suggests a name within two edits, else nothing', async () => {
    const { closestName, editDistance } = await import('./suggest.js');
    expect(closestName('node-9', ['node-1', 'node-2', 'web'])).toBe('node-1');
    expect(closestName('externalTrafficPolcy', ['externalTrafficPolicy', 'internalTrafficPolicy'])).toBe('externalTrafficPolicy');
    expect(closestName('zzzzzz', ['node-1'])).toBeUndefined();
    expect(editDistance('ab', 'ba')).toBe(1);
  });
});
