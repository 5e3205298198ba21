import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Layers of ../shared/DESIGN.md: a module may import only from its own module or lower layers. */
export const LAYERS: Record<string, number> = {
  base: 0,
  packet: 1,
  trace: 1,
  conntrack: 2,
  netfilter: 2,
  ipvs: 2,
  routing: 2,
  bgp: 2,
  netns: 3,
  cluster: 4,
  tracer: 5,
  compare: 5,
  kernel: 5,
  index: 6,
  cli: 6,
  server: 6,
  ui: 6,
};

/** Adapters at the edge import only the public API (src/index.ts). */
export const EDGE = new Set(['cli', 'server', 'ui']);

export interface ImportEdge {
  file: string; // relative to src/
  line: number;
  spec: string;
  target: string; // relative to src/
}

const IMPORT_RE = /(?:^|[^\w$.])(?:import|export)\s*(?:type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function listTsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTsFiles(p));
    else if (/\.tsx?$/.test(name) && !/\.d\.ts$/.test(name)) out.push(p);
  }
  return out;
}

/** Relative imports of one file, resolved to paths under src/ (package imports are skipped). */
export function importsOf(srcRoot: string, file: string, text: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const stripped = text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
  for (const m of stripped.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2];
    if (!spec || !spec.startsWith('.')) continue;
    const line = stripped.slice(0, m.index).split('\n').length;
    const target = relative(srcRoot, resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    edges.push({ file: relative(srcRoot, file), line, spec, target });
  }
  return edges;
}

/** `packet/ipv4.ts` → `packet`; `index.ts` → `index`. */
export function moduleOf(pathUnderSrc: string): string {
  const parts = pathUnderSrc.split(sep).join('/').split('/');
  if (parts.length === 1) return parts[0]!.replace(/\.tsx?$/, '');
  return parts[0]!;
}

/** The reason an import breaks the layering, or null when it is allowed. */
export function violation(edge: ImportEdge): string | null {
  const from = moduleOf(edge.file);
  const to = moduleOf(edge.target);
  if (edge.target.startsWith('..')) {
    // A test beside the code may use the shared test helpers; modules never reach outside src/.
    const testHelper = /\.test\.ts$/.test(edge.file) && edge.target.split(sep).join('/').startsWith('../test/support/');
    return testHelper ? null : `${edge.file}:${edge.line} imports ${edge.spec}, outside src/`;
  }
  if (from === to) return null;
  const lf = LAYERS[from];
  const lt = LAYERS[to];
  if (lf === undefined) return `${edge.file}: module "${from}" is not a layer of DESIGN.md`;
  if (lt === undefined) return `${edge.file}:${edge.line} imports module "${to}", which is not a layer of DESIGN.md`;
  if (EDGE.has(from)) {
    return to === 'index' ? null : `${edge.file}:${edge.line}: ${from}/ (L${lf}) may import only src/index.ts, not ${to}/ (${edge.spec})`;
  }
  if (lt >= lf) return `${edge.file}:${edge.line}: ${from}/ (L${lf}) imports ${to}/ (L${lt}) via ${edge.spec}; only lower layers are allowed`;
  return null;
}

export function readEdges(srcRoot: string): ImportEdge[] {
  return listTsFiles(srcRoot).flatMap((f) => importsOf(srcRoot, f, readFileSync(f, 'utf8')));
}
