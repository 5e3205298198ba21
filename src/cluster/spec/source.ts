/**
 * YAML/JSON text → plain values, keeping where every value came from (file, line, field path),
 * so a problem found later (e.g. a duplicate ClusterIP during allocation) can still name its line.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import type { Problem, SourceLocation } from '../../base/index.js';
import { formatPath, type Path, type Sink } from './schema.js';

/** Where one value lives: a node of a parsed document, and the path from the document root to it. */
export interface Origin {
  readonly file: string;
  /** The document's root node. */
  readonly root: unknown;
  readonly lineCounter: LineCounter;
  /** Path from the document root to this value (e.g. ['items', 3] for an item of a List). */
  readonly base: Path;
}

export interface ParsedDocument {
  readonly value: unknown;
  readonly origin: Origin;
}

/**
 * Parses every document of a YAML (or JSON: YAML 1.2 reads it) text. Syntax errors and duplicate
 * keys become problems with their line; a document with errors yields no value.
 */
export function parseDocuments(text: string, file: string, problems: Problem[]): ParsedDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const list: Document.Parsed[] = Array.isArray(docs) ? docs : [docs as unknown as Document.Parsed];
  const out: ParsedDocument[] = [];
  for (const doc of list) {
    let bad = false;
    for (const e of doc.errors) {
      const pos = lineCounter.linePos(e.pos[0]);
      problems.push({ file, line: pos.line, column: pos.col, message: yamlMessage(e.code, e.message), severity: 'error' });
      bad = true;
    }
    if (bad || doc.contents === null) continue;
    out.push({ value: doc.toJS({ maxAliasCount: 1000 }), origin: { file, root: doc.contents, lineCounter, base: [] } });
  }
  return out;
}

function yamlMessage(code: string, message: string): string {
  if (code === 'DUPLICATE_KEY') return 'duplicate key (each key may appear once in a map)';
  const first = message.split('\n')[0] ?? message;
  return `YAML syntax error: ${first.replace(/ at line \d+, column \d+.*$/, '')}`;
}

/** The origin of a value nested inside another one. */
export function childOrigin(o: Origin, rel: Path): Origin {
  return { ...o, base: [...o.base, ...rel] };
}

/** The node at `path`, or the deepest node found on the way, and whether the last step was a map key. */
function findNode(root: unknown, path: Path): { node: YamlNode | null; keyNode: YamlNode | null } {
  let node = root as YamlNode | null;
  let keyNode: YamlNode | null = null;
  for (const seg of path) {
    if (!node) break;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      keyNode = pair.key as YamlNode;
      const v = pair.value as YamlNode | null;
      if (!v) {
        node = keyNode;
        break;
      }
      node = v;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) break;
      node = item;
      keyNode = null;
    } else break;
  }
  return { node, keyNode };
}

/** File, line and field of the value at `rel` below the origin. */
export function locate(o: Origin | undefined, rel: Path = []): SourceLocation {
  if (!o) return { file: '<store>', field: formatPath(rel) };
  const full = [...o.base, ...rel];
  const { node, keyNode } = findNode(o.root, full);
  const at = keyNode?.range ?? node?.range;
  const field = formatPath(full);
  if (!at) return field ? { file: o.file, field } : { file: o.file };
  const pos = o.lineCounter.linePos(at[0]);
  return field ? { file: o.file, line: pos.line, field } : { file: o.file, line: pos.line };
}

/** A sink that turns validation problems into located Problems. */
export function sinkFor(o: Origin | undefined, problems: Problem[], prefix: Path = []): Sink {
  return {
    error: (path, message) => problems.push({ ...locate(o, [...prefix, ...path]), message, severity: 'error' }),
    warn: (path, message) => problems.push({ ...locate(o, [...prefix, ...path]), message, severity: 'warning' }),
  };
}

export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity !== 'warning');
}
