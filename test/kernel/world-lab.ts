/**
 * What the World-in-real-namespaces suites (flannel, calico) share: whether this machine can run
 * them (root, netns, tcpdump and tshark), where their fixture topologies are, and how they read a
 * hop's snapshots and an "ip:port" the test programs print.
 */
import { join } from 'node:path';
import { haveTool, kernelSkipNotice, kernelSupport } from '../../src/kernel/index.js';
import type { Hop } from '../../src/trace/index.js';

export const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'topologies');

/** kernelSupport plus the capture tools; prints the loud SKIPPED notice for `suite` when not ok. */
export function worldLabSupport(suite: string): { ok: boolean; reason?: string } {
  const base = kernelSupport();
  const support = base.ok && !(haveTool('tcpdump') && haveTool('tshark')) ? { ok: false, reason: 'missing tools: tcpdump, tshark' } : base;
  if (!support.ok) console.warn(`\n*** ${suite} ${kernelSkipNotice(support)} ***\n`);
  return support;
}

export type Layer = Record<string, string | number | boolean | null>;

/** The layers of a hop's packet snapshot (none for an empty one). */
export function layersOf(h: Hop, which: 'packetIn' | 'packetOut'): Layer[] {
  const s = h[which];
  return 'layers' in s ? (s.layers as Layer[]) : [];
}

export function hostPort(s: string): { ip: string; port: number } {
  const i = s.lastIndexOf(':');
  return { ip: s.slice(0, i), port: Number(s.slice(i + 1)) };
}
