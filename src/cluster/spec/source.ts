/**
 * YAML/JSON text → plain values, keeping where every value came from (file, line, field path),
 * so a problem found later (e.g. a duplicate ClusterIP during allocation) can still name its line.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import type { Problem, SourceLocation } from '../../base/index.js';
import { formatPath, type Path, type Sink } from './schema.js';

/**
 * Where the values of one parsed document sit in its text: the offset of the value (or, for a map
 * entry, of its key) at a field path, and the line of an offset. For YAML this is the document's
 * node tree; for JSON read by the fast path it is computed from the text only when a problem needs
 * a line (see `jsonSourceMap`).
 */
export interface SourceMap {
  /**
   * Offset of what `path` names: the key of a map entry, the item of a list, or — when the path
   * leaves the document — the deepest of those found on the way; undefined when nothing is known.
   */
  offsetOf(path: Path): number | undefined;
  /** 1-based line and column of an offset. */
  linePos(offset: number): { line: number; col: number };
}

/** Where one value lives: a parsed document, and the path from the document root to it. */
export interface Origin {
  readonly file: string;
  readonly map: SourceMap;
  /** Path from the document root to this value (e.g. ['items', 3] for an item of a List). */
  readonly base: Path;
}

export interface ParsedDocument {
  readonly value: unknown;
  readonly origin: Origin;
}

/** A source map that knows no positions: objects given programmatically (problems name file and field). */
export const NO_SOURCE_MAP: SourceMap = { offsetOf: () => undefined, linePos: () => ({ line: 0, col: 0 }) };

/**
 * Parses every document of a YAML or JSON text. Syntax errors and duplicate keys become problems
 * with their line; a document with errors yields no value.
 *
 * JSON fast path: a text that starts with `{` or `[` is read with JSON.parse (a hundred times
 * faster than a YAML parser building a node tree), and positions are found in the text only when a
 * problem is reported. A text JSON.parse refuses, or one with a key twice in a map (JSON.parse keeps
 * the last silently; YAML 1.2 and podpath refuse it), goes through the YAML parser, which reports
 * the problem with its line. Values are the same either way: YAML 1.2 reads JSON as JSON does.
 */
export function parseDocuments(text: string, file: string, problems: Problem[]): ParsedDocument[] {
  const fast = parseJsonFast(text);
  if (fast) return [{ value: fast.value, origin: { file, map: jsonSourceMap(text), base: [] } }];
  return parseYamlDocuments(text, file, problems);
}

/** The YAML parser alone (no JSON fast path): every document of the text, positions from its node tree. */
export function parseYamlDocuments(text: string, file: string, problems: Problem[]): ParsedDocument[] {
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
    out.push({ value: doc.toJS({ maxAliasCount: 1000 }), origin: { file, map: yamlSourceMap(doc.contents, lineCounter), base: [] } });
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

// ------------------------------------------------------------------ YAML positions

function yamlSourceMap(root: unknown, lineCounter: LineCounter): SourceMap {
  return {
    offsetOf: (path) => {
      const { node, keyNode } = findNode(root, path);
      return (keyNode?.range ?? node?.range)?.[0];
    },
    linePos: (offset) => lineCounter.linePos(offset),
  };
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

// ------------------------------------------------------------------ JSON fast path

/** JSON.parse's value, or undefined when the text is not JSON or a map repeats a key. */
export function parseJsonFast(text: string): { value: unknown } | undefined {
  let i = 0;
  while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
  const c = text.charCodeAt(i);
  if (c !== 0x7b && c !== 0x5b) return undefined; // { [
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // A repeated key leaves fewer properties than the text has keys.
  if (countKeys(value) !== countTextKeys(text)) return undefined;
  return { value };
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Properties of every map in a parsed JSON value. */
function countKeys(v: unknown): number {
  if (Array.isArray(v)) {
    let n = 0;
    for (const x of v) if (x !== null && typeof x === 'object') n += countKeys(x);
    return n;
  }
  if (v === null || typeof v !== 'object') return 0;
  let n = 0;
  for (const k in v as Record<string, unknown>) {
    n++;
    const x = (v as Record<string, unknown>)[k];
    if (x !== null && typeof x === 'object') n += countKeys(x);
  }
  return n;
}

/** End offset (the closing quote) of the JSON string whose opening quote is at `q`. */
function stringEnd(text: string, q: number): number {
  let j = q + 1;
  for (;;) {
    const e = text.indexOf('"', j);
    if (e < 0) return text.length;
    let b = e - 1;
    while (text.charCodeAt(b) === 0x5c) b--; // backslashes
    if ((e - 1 - b) % 2 === 0) return e;
    j = e + 1;
  }
}

/** Keys in a valid JSON text: strings followed by a colon (outside strings, quotes only delimit strings). */
function countTextKeys(text: string): number {
  let n = 0;
  let i = 0;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return n;
    let k = stringEnd(text, q) + 1;
    while (isJsonSpace(text.charCodeAt(k))) k++;
    if (text.charCodeAt(k) === 0x3a) n++; // :
    i = k;
  }
}

/** Offset just after the JSON value starting at `i` (which is not whitespace). */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return stringEnd(text, i) + 1;
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (d === 0x22) j = stringEnd(text, j);
      else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return text.length;
  }
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === 0x2c || d === 0x7d || d === 0x5d || isJsonSpace(d)) break;
    j++;
  }
  return j;
}

/**
 * Positions in a JSON text, computed on demand: a path is followed through the text (map keys
 * read, other values skipped), and the item offsets of each list walked are kept, so locating the
 * 90,000th object of a long list scans that list once. Line starts are indexed at the first use.
 */
export function jsonSourceMap(text: string): SourceMap {
  const items = new Map<number, number[]>();
  let lines: number[] | undefined;
  const ws = (i: number): number => {
    while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
    return i;
  };
  const listItems = (start: number): number[] => {
    let out = items.get(start);
    if (out) return out;
    out = [];
    let i = ws(start + 1);
    if (text.charCodeAt(i) !== 0x5d) {
      for (;;) {
        out.push(i);
        i = ws(skipValue(text, i));
        if (text.charCodeAt(i) !== 0x2c) break;
        i = ws(i + 1);
      }
    }
    items.set(start, out);
    return out;
  };
  /** Offsets of the key and the value of `key` in the map starting at `start`. */
  const mapEntry = (start: number, key: string): { key: number; value: number } | undefined => {
    let i = ws(start + 1);
    while (text.charCodeAt(i) === 0x22) {
      const end = stringEnd(text, i);
      const raw = text.slice(i + 1, end);
      const k = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
      const v = ws(ws(end + 1) + 1); // past the colon
      if (k === key) return { key: i, value: v };
      i = ws(skipValue(text, v));
      if (text.charCodeAt(i) !== 0x2c) return undefined;
      i = ws(i + 1);
    }
    return undefined;
  };
  return {
    offsetOf(path) {
      let node = ws(0);
      let keyAt: number | undefined;
      for (const seg of path) {
        const c = text.charCodeAt(node);
        if (c === 0x7b) {
          const e = mapEntry(node, String(seg));
          if (!e) break;
          keyAt = e.key;
          node = e.value;
        } else if (c === 0x5b && typeof seg === 'number') {
          const at = listItems(node)[seg];
          if (at === undefined) break;
          node = at;
          keyAt = undefined;
        } else break;
      }
      return keyAt ?? node;
    },
    linePos(offset) {
      if (!lines) {
        lines = [0];
        for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines.push(i + 1);
      }
      let lo = 0;
      let hi = lines.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (lines[mid]! <= offset) lo = mid;
        else hi = mid - 1;
      }
      return { line: lo + 1, col: offset - lines[lo]! + 1 };
    },
  };
}

// ------------------------------------------------------------------ locations

/** File, line and field of the value at `rel` below the origin. */
export function locate(o: Origin | undefined, rel: Path = []): SourceLocation {
  if (!o) return { file: '<store>', field: formatPath(rel) };
  const full = [...o.base, ...rel];
  const at = o.map.offsetOf(full);
  const field = formatPath(full);
  if (at === undefined) return field ? { file: o.file, field } : { file: o.file };
  const pos = o.map.linePos(at);
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
