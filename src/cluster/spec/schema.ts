/**
 * A small declarative schema for user input (topology files and Kubernetes objects).
 * Each key is one line of data: adding a key to the topology format or to a Kubernetes kind is
 * adding one entry to a `fields` table. `validate` walks a plain value (as `yaml` converts it)
 * and reports every problem with its field path; unknown keys are warnings, as kubectl's
 * `--validate=warn` reports them, not errors.
 */
import { closestName, isIp, parseCidr } from '../../base/index.js';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/** `spec.ports[0].port`; keys that are not identifiers are quoted: `metadata.labels["app.kubernetes.io/name"]`. */
export function formatPath(path: Path): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) s += s ? `.${seg}` : seg;
    else s += `[${JSON.stringify(seg)}]`;
  }
  return s;
}

/** Where problems go while validating: paths are relative to the value being validated. */
export interface Sink {
  error(path: Path, message: string): void;
  warn(path: Path, message: string): void;
}

/** A check on an already type-correct value; returns an error message, or reports through the sink (copy `path` to keep it). */
export type Check<T> = (value: T, path: Path, sink: Sink) => string | void;

export type Schema =
  | { readonly t: 'string'; readonly enum?: readonly string[]; readonly check?: Check<string> }
  | { readonly t: 'int'; readonly min?: number; readonly max?: number; readonly check?: Check<number> }
  | { readonly t: 'bool' }
  | { readonly t: 'intOrString'; readonly check?: Check<number | string> }
  | { readonly t: 'object'; readonly fields: Readonly<Record<string, Field>>; readonly check?: Check<Record<string, unknown>>; readonly what?: string }
  | { readonly t: 'map'; readonly values: Schema; readonly what?: string }
  | { readonly t: 'list'; readonly items: Schema; readonly check?: Check<unknown[]> }
  /** Accepted as is: a field of the real API that podpath does not read. */
  | { readonly t: 'any' }
  /** One of several shapes (e.g. a string or a list of strings), chosen by the value's type. */
  | { readonly t: 'either'; readonly options: readonly Schema[]; readonly what: string };

export interface Field {
  readonly schema: Schema;
  readonly required?: boolean;
}

// ------------------------------------------------------------------ constructors

export const str = (opts: { enum?: readonly string[]; check?: Check<string> } = {}): Schema => ({ t: 'string', ...opts });
export const oneOf = (...values: string[]): Schema => ({ t: 'string', enum: values });
export const int = (min?: number, max?: number, check?: Check<number>): Schema => ({ t: 'int', ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}), ...(check ? { check } : {}) });
export const bool: Schema = { t: 'bool' };
export const any: Schema = { t: 'any' };
export const list = (items: Schema, check?: Check<unknown[]>): Schema => ({ t: 'list', items, ...(check ? { check } : {}) });
export const map = (values: Schema, what?: string): Schema => ({ t: 'map', values, ...(what ? { what } : {}) });
export const obj = (fields: Record<string, Field | Schema>, opts: { check?: Check<Record<string, unknown>>; what?: string } = {}): Schema => ({
  t: 'object',
  fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, 'schema' in v ? v : { schema: v }])),
  ...opts,
});
export const required = (schema: Schema): Field => ({ schema, required: true });
export const either = (what: string, ...options: Schema[]): Schema => ({ t: 'either', options, what });
/** Fields of the real API that podpath accepts and ignores, as a space-separated list. */
export function known(names: string): Record<string, Schema> {
  return Object.fromEntries(names.split(/\s+/).filter(Boolean).map((n) => [n, any]));
}

// ------------------------------------------------------------------ common checks

export const ipCheck: Check<string> = (v) => (isIp(v) ? undefined : `"${v}" is not a valid IP address`);
export const cidrCheck: Check<string> = (v) => {
  try {
    parseCidr(v, { strict: true });
    if (!v.includes('/')) return `"${v}" is not a CIDR (address/prefix)`;
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
};
export const ip = (): Schema => str({ check: ipCheck });
export const cidr = (): Schema => str({ check: cidrCheck });
/** A TCP/UDP port number, 1–65535 (Kubernetes validation.IsValidPortNum). */
export const port = (): Schema => int(1, 65535);

/** IANA_SVC_NAME as Kubernetes validates a port name (validation.IsValidPortName). */
export function portNameProblem(name: string): string | undefined {
  if (name.length > 15) return `port name "${name}" is longer than 15 characters`;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) return `port name "${name}" must contain only lower-case letters, digits and '-', and start and end with a letter or digit`;
  if (name.includes('--')) return `port name "${name}" must not contain consecutive hyphens`;
  if (!/[a-z]/.test(name)) return `port name "${name}" must contain at least one letter`;
  return undefined;
}

/** RFC 1123 label (Namespace names, Service names are RFC 1035 labels; both ≤ 63). */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length > 63) return `"${name}" is longer than 63 characters`;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) return `"${name}" is not a valid DNS label (lower-case letters, digits and '-')`;
  return undefined;
}

/** RFC 1123 subdomain (names of most objects, ≤ 253). */
export function dnsSubdomainProblem(name: string): string | undefined {
  if (name.length > 253) return `"${name}" is longer than 253 characters`;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)) return `"${name}" is not a valid DNS subdomain name (lower-case letters, digits, '-' and '.')`;
  return undefined;
}

// ------------------------------------------------------------------ validation

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

function runCheck<T>(check: Check<T> | undefined, value: T, path: Path, sink: Sink): void {
  if (!check) return;
  const msg = check(value, path, sink);
  if (msg) sink.error(path, msg);
}

/** True when the value has the broad shape the schema wants (used to choose an `either` option). */
function shapeMatches(v: unknown, s: Schema): boolean {
  switch (s.t) {
    case 'string':
      return typeof v === 'string';
    case 'int':
      return typeof v === 'number';
    case 'bool':
      return typeof v === 'boolean';
    case 'intOrString':
      return typeof v === 'number' || typeof v === 'string';
    case 'object':
    case 'map':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'list':
      return Array.isArray(v);
    case 'any':
      return true;
    case 'either':
      return s.options.some((o) => shapeMatches(v, o));
  }
}

/**
 * Validates `value` against `schema`, reporting problems at `path`. `null` is treated as absent,
 * as Go's JSON decoding does (kubectl prints `creationTimestamp: null`).
 */
export function validate(value: unknown, schema: Schema, path: Path, sink: Sink): void {
  // One mutable path stack for the whole walk; sinks receive copies.
  const stack: PathSegment[] = [...path];
  const copying: Sink = { error: (p, m) => sink.error([...p], m), warn: (p, m) => sink.warn([...p], m) };
  walk(value, schema, stack, copying);
}

function walk(value: unknown, schema: Schema, path: PathSegment[], sink: Sink): void {
  if (value === null || value === undefined) return;
  switch (schema.t) {
    case 'any':
      return;
    case 'string':
      if (typeof value !== 'string') return sink.error(path, `must be a string, not ${typeName(value)}`);
      if (schema.enum && !schema.enum.includes(value)) return sink.error(path, `"${value}" is not one of ${schema.enum.join(', ')}`);
      return runCheck(schema.check, value, path, sink);
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return sink.error(path, `must be an integer, not ${typeName(value)}`);
      if ((schema.min !== undefined && value < schema.min) || (schema.max !== undefined && value > schema.max)) {
        return sink.error(path, `${value} is out of range ${schema.min ?? '-∞'}–${schema.max ?? '∞'}`);
      }
      return runCheck(schema.check, value, path, sink);
    case 'bool':
      if (typeof value !== 'boolean') return sink.error(path, `must be true or false, not ${typeName(value)}`);
      return;
    case 'intOrString':
      if (typeof value === 'number' && !Number.isInteger(value)) return sink.error(path, `must be an integer or a string, not ${typeName(value)}`);
      if (typeof value !== 'number' && typeof value !== 'string') return sink.error(path, `must be an integer or a string, not ${typeName(value)}`);
      return runCheck(schema.check, value, path, sink);
    case 'list':
      if (!Array.isArray(value)) return sink.error(path, `must be a list, not ${typeName(value)}`);
      for (let i = 0; i < value.length; i++) {
        path.push(i);
        walk(value[i], schema.items, path, sink);
        path.pop();
      }
      return runCheck(schema.check, value, path, sink);
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) return sink.error(path, `must be a map${schema.what ? ` of ${schema.what}` : ''}, not ${typeName(value)}`);
      for (const k in value as Record<string, unknown>) {
        path.push(k);
        walk((value as Record<string, unknown>)[k], schema.values, path, sink);
        path.pop();
      }
      return;
    }
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return sink.error(path, `must be a map${schema.what ? ` (${schema.what})` : ''}, not ${typeName(value)}`);
      const rec = value as Record<string, unknown>;
      for (const k in rec) {
        const f = schema.fields[k];
        path.push(k);
        if (!f) sink.warn(path, `unknown field "${k}"${closest(k, Object.keys(schema.fields))}`);
        else walk(rec[k], f.schema, path, sink);
        path.pop();
      }
      for (const k in schema.fields) {
        if (schema.fields[k]!.required && (rec[k] === undefined || rec[k] === null)) sink.error([...path, k], `required field "${k}" is missing`);
      }
      return runCheck(schema.check, rec, path, sink);
    }
    case 'either': {
      const option = schema.options.find((o) => shapeMatches(value, o));
      if (!option) return sink.error(path, `must be ${schema.what}, not ${typeName(value)}`);
      return walk(value, option, path, sink);
    }
  }
}

/** "; did you mean X?" when a known key is at most two edits away. */
function closest(key: string, candidates: readonly string[]): string {
  const best = closestName(key, candidates);
  return best ? `; did you mean "${best}"?` : '';
}
