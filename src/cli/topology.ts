import type { Topology } from '../index.js';

/** Loads a topology for a command, printing its warnings (unknown fields, ignored kinds) to stderr. */
export async function loadTopologyForCli(path: string): Promise<Topology> {
  const api = await import('../index.js');
  const topo = await api.loadTopology(path);
  for (const w of topo.warnings) process.stderr.write(`podpath: warning: ${api.formatLocation(w)}: ${w.message}\n`);
  return topo;
}
