/**
 * What the scenario suites share: the bundled topologies' Worlds (built once per file) and the
 * golden comparison. A golden is written only with UPDATE_GOLDENS=1; a missing one fails, so a
 * clean checkout never passes a scenario it did not check.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { buildWorld, loadTopology, type World } from '../../src/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const GOLDENS = join(ROOT, 'test', 'scenarios', 'goldens');
const worlds = new Map<string, Promise<World>>();

/** The World of topologies/<topo>.yaml, built once per test file. */
export function bundledWorld(topo: string): Promise<World> {
  let w = worlds.get(topo);
  if (!w) worlds.set(topo, (w = loadTopology(join(ROOT, 'topologies', `${topo}.yaml`)).then(buildWorld)));
  return w;
}

/** Compares `text` with goldens/<name>.txt (UPDATE_GOLDENS=1 rewrites it instead). */
export function expectGolden(name: string, text: string): void {
  const file = join(GOLDENS, `${name}.txt`);
  if (process.env.UPDATE_GOLDENS) writeFileSync(file, text);
  expect(existsSync(file), `golden ${name}.txt is missing: run with UPDATE_GOLDENS=1 and review it`).toBe(true);
  expect(text).toBe(readFileSync(file, 'utf8'));
}
