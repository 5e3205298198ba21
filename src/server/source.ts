/**
 * The inspector's source of truth: the topology document as the user wrote it, with its manifests
 * read once at start and inlined as `objects`. Every change edits this document and loads it again
 * with the topology loader (loadTopologyObject), so an applied object is validated, defaulted and
 * allocated exactly as in a file; a document that does not load changes nothing.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { InputError, type Problem } from '../index.js';

export type Json = Record<string, unknown>;

const NAMESPACED = new Set(['Pod', 'Service', 'EndpointSlice', 'Deployment', 'ReplicaSet']);

/** `Kind/ns/name` (`Kind/name` for Node and Namespace): one object's identity in the document and the store. */
export function sourceKey(o: { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }): string {
  const kind = String(o.kind);
  const name = String(o.metadata?.name);
  return NAMESPACED.has(kind) ? `${kind}/${typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : 'default'}/${name}` : `${kind}/${name}`;
}

/** Kubernetes objects of one parsed document: the object itself, or the items of a `kind: List` (recursively). */
export function flattenObjects(v: unknown): unknown[] {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return [v];
  const o = v as Json;
  if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) return o.items.flatMap(flattenObjects);
  return [o];
}

/**
 * Parses YAML (or JSON) text of one or more documents into objects; a syntax error is a Problem
 * with the line. Empty documents are skipped.
 */
export function parseObjectsText(text: string, file: string): unknown[] {
  const problems: Problem[] = [];
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(text, { prettyErrors: false })) {
    for (const e of doc.errors) problems.push({ file, ...(e.linePos?.[0] ? { line: e.linePos[0].line, column: e.linePos[0].col } : {}), message: e.message.split('\n')[0] ?? e.message, severity: 'error' });
    if (doc.errors.length) continue;
    const v = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (v === null || v === undefined) continue;
    out.push(...flattenObjects(v));
  }
  if (problems.length) throw new InputError(problems);
  return out;
}

/**
 * Reads a topology file and its manifests into one document whose `objects` hold every object
 * (inline ones first, then each manifest's, as the loader orders them) and whose `manifests` is empty.
 * Call after loadTopology accepted the file: it reports problems with lines first.
 */
export async function readSourceDocument(path: string): Promise<Json> {
  const file = resolve(path);
  const docs = parseObjectsText(await readFile(file, 'utf8'), file);
  const top = docs[0] as Json;
  const objects: unknown[] = Array.isArray(top.objects) ? [...top.objects] : [];
  for (const m of Array.isArray(top.manifests) ? top.manifests : []) {
    if (typeof m !== 'string') continue;
    const mfile = resolve(dirname(file), m);
    objects.push(...parseObjectsText(await readFile(mfile, 'utf8'), mfile));
  }
  return { ...top, manifests: [], objects };
}
