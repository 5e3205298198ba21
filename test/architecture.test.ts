import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importsOf, moduleOf, readEdges, violation } from './support/layers.js';

const SRC = join(import.meta.dirname, '..', 'src');

describe('layering of ../shared/DESIGN.md', () => {
  it('no module imports from its own layer or above (edges name both modules)', () => {
    const edges = readEdges(SRC);
    expect(edges.length).toBeGreaterThan(0);
    const bad = edges.map(violation).filter((v): v is string => v !== null);
    expect(bad, bad.join('\n')).toEqual([]);
  });

  it('the checker itself catches upward, sideways and edge-adapter imports', () => {
    const fake = (file: string, spec: string) => importsOf(SRC, join(SRC, file), `import { x } from '${spec}';\n`)[0]!;
    expect(violation(fake('packet/ipv4.ts', '../netfilter/index.js'))).toMatch(/packet\/ \(L1\) imports netfilter\/ \(L2\)/);
    expect(violation(fake('netfilter/walk.ts', '../conntrack/index.js'))).toMatch(/netfilter\/ \(L2\) imports conntrack\/ \(L2\)/);
    expect(violation(fake('cli/main.ts', '../tracer/index.js'))).toMatch(/may import only src\/index.ts/);
    expect(violation(fake('cli/main.ts', '../index.js'))).toBeNull();
    expect(violation(fake('netns/pipeline.ts', '../netfilter/index.js'))).toBeNull();
    expect(violation(fake('netns/pipeline.ts', './devices/veth.js'))).toBeNull();
    // type-only and re-exports count too
    expect(importsOf(SRC, join(SRC, 'base/x.ts'), "export * from '../trace/index.js';\nimport type { T } from '../packet/a.js';").map(violation)).toHaveLength(2);
    expect(moduleOf('index.ts')).toBe('index');
    // tests may use test/support; modules may not
    expect(violation(fake('cli/commands/rules.test.ts', '../../../test/support/cli.js'))).toBeNull();
    expect(violation(fake('cli/commands/rules.ts', '../../../test/support/cli.js'))).toMatch(/outside src/);
  });
});
