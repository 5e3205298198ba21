import { describe, expect, it } from 'vitest';
import type { Problem } from '../../base/index.js';
import { jsonSourceMap, locate, parseDocuments, parseJsonFast, parseYamlDocuments, type Origin } from './source.js';
import type { Path } from './schema.js';

/** Every path to a value of a plain JSON value (maps and lists walked), the root first. */
function allPaths(v: unknown, at: Path = []): Path[] {
  const out: Path[] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...allPaths(x, [...at, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...allPaths(x, [...at, k]));
  return out;
}

const SAMPLE = {
  name: 'j',
  'we"ird\\key': { 'a/b': [1, 2, { deep: 'x]}"{[' }] },
  nodes: [
    { name: 'n1', ip: '192.168.56.11', labels: { 'topology.kubernetes.io/zone': 'z1' } },
    { name: 'n2', ip: '192.168.56.12', empty: {}, none: [], n: null, t: true, f: -1.5e3 },
  ],
  objects: [{ kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }, { port: 81, name: 'h\u00e9' }] } }],
};

describe('JSON fast path', () => {
  it('reads JSON with JSON.parse and gives the values the YAML parser gives', () => {
    for (const text of [JSON.stringify(SAMPLE), JSON.stringify(SAMPLE, null, 2), `  \n${JSON.stringify([SAMPLE, 3, 'x'], null, 1)}\n`]) {
      const fast = parseJsonFast(text);
      expect(fast).toBeDefined();
      const yaml = parseYamlDocuments(text, 'f', []);
      expect(fast!.value).toEqual(yaml[0]!.value);
    }
  });

  it('leaves YAML, broken JSON and JSON with a repeated key to the YAML parser', () => {
    expect(parseJsonFast('name: x\n')).toBeUndefined();
    expect(parseJsonFast('{ name: x }')).toBeUndefined(); // a YAML flow map, not JSON
    expect(parseJsonFast('{"a": 1,}')).toBeUndefined();
    expect(parseJsonFast('{"a": {"b": 1, "b": 2}}')).toBeUndefined();
    // a key that is also a value elsewhere is not a repeat
    expect(parseJsonFast('{"a": "b", "b": ["a", {"a": "a:"}]}')).toEqual({ value: { a: 'b', b: ['a', { a: 'a:' }] } });
  });

  it('reports a repeated JSON key as the YAML parser does, with its line', () => {
    const problems: Problem[] = [];
    const docs = parseDocuments('{\n  "name": "x",\n  "nodes": [\n    {"name": "a",\n     "name": "b"}\n  ]\n}\n', 'dup.json', problems);
    expect(docs).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'dup.json', line: 5, severity: 'error' });
    expect(problems[0]!.message).toMatch(/duplicate key/);
  });

  it('locates every value at the line (and column) the YAML parser gives, compact or pretty-printed', () => {
    for (const text of [JSON.stringify(SAMPLE), JSON.stringify(SAMPLE, null, 2), JSON.stringify(SAMPLE, null, '\t')]) {
      const yaml = parseYamlDocuments(text, 'f', [])[0]!.origin;
      const map = jsonSourceMap(text);
      const json: Origin = { file: 'f', map, base: [] };
      for (const path of allPaths(SAMPLE)) {
        expect(locate(json, path), JSON.stringify(path)).toEqual(locate(yaml, path));
        const a = map.offsetOf(path)!;
        expect(map.linePos(a), JSON.stringify(path)).toEqual(yaml.map.linePos(yaml.map.offsetOf(path)!));
      }
    }
  });

  it('locates paths that leave the document at the deepest value found, as for YAML', () => {
    const text = JSON.stringify(SAMPLE, null, 2);
    const yaml = parseYamlDocuments(text, 'f', [])[0]!.origin;
    const json: Origin = { file: 'f', map: jsonSourceMap(text), base: [] };
    for (const path of [['nodes', 1, 'missing'], ['nodes', 7], ['objects', 0, 'spec', 'ports', 1, 'name', 'x'], ['nodes', 'x'], ['absent', 3]] as Path[]) {
      expect(locate(json, path)).toEqual(locate(yaml, path));
    }
  });

  it('finds an item deep in a long list on the line where it is written', () => {
    const items = Array.from({ length: 5000 }, (_, i) => ({ kind: 'Pod', metadata: { name: `p${i}` }, spec: { containers: [{ name: 'c' }] } }));
    const text = JSON.stringify({ objects: items }, null, 1);
    const map = jsonSourceMap(text);
    const lines = text.split('\n');
    for (const i of [0, 1, 2500, 4999]) {
      const line = map.linePos(map.offsetOf(['objects', i, 'metadata', 'name'])!).line;
      expect(lines[line - 1]).toContain(`"name": "p${i}"`);
    }
  });
});
