import { assertNever } from '../base/assert.js';
import type { FiveTuple, Hop, Outcome, Reply, Step, Trace } from './types.js';

/** The renderings of one trace record (DESIGN.md "The trace"). */
export type TraceFormat = 'detailed' | 'summary' | 'minimal' | 'json';
export const TRACE_FORMATS: readonly TraceFormat[] = ['detailed', 'summary', 'minimal', 'json'];

export function renderTrace(trace: Trace, format: TraceFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify(trace, null, 2) + '\n';
    case 'detailed':
    case 'summary':
    case 'minimal':
      return renderText(trace, format);
    default:
      return assertNever(format, 'trace format');
  }
}

export function formatFiveTuple(t: FiveTuple | null | undefined): string {
  if (!t) return '-';
  const port = (p: number | undefined) => (p === undefined ? '' : `:${p}`);
  const host = (ip: string, p: number | undefined) => (ip.includes(':') && p !== undefined ? `[${ip}]${port(p)}` : `${ip}${port(p)}`);
  return `${t.proto} ${host(t.src, t.sport)} -> ${host(t.dst, t.dport)}`;
}

export function formatProbability(p: number): string {
  if (p === 1) return '1';
  const s = p.toPrecision(6);
  return s.includes('e') ? s : s.replace(/\.?0+$/, '');
}

function renderText(trace: Trace, level: 'detailed' | 'summary' | 'minimal'): string {
  const out: string[] = [];
  const r = trace.request;
  out.push(`request: ${r.from} -> ${r.to} (${r.proto})`);
  const n = trace.outcomes.length;
  trace.outcomes.forEach((o, i) => {
    out.push('');
    out.push(outcomeHeader(o, i, n));
    for (const hop of o.hops) renderHop(out, hop, level, '  ');
    out.push(...outcomeFooter(o, '  '));
    if (o.reply) renderReply(out, o.reply, level);
  });
  return out.join('\n') + '\n';
}

function outcomeHeader(o: Outcome, i: number, n: number): string {
  const head = n > 1 ? `outcome ${i + 1}/${n} (p=${formatProbability(o.probability)})` : `outcome (p=${formatProbability(o.probability)})`;
  const verdict = o.verdict ? ` verdict ${o.verdict}` : '';
  const reason = o.reason ? `: ${o.reason}` : '';
  const ep = o.endpoint ? ` endpoint ${o.endpoint.pod ? `${o.endpoint.pod} ` : ''}${o.endpoint.ip}${o.endpoint.port !== undefined ? `:${o.endpoint.port}` : ''}` : '';
  return `${head}: ${o.disposition}${verdict}${ep}${reason}`;
}

function outcomeFooter(o: Outcome, indent: string): string[] {
  const lines: string[] = [];
  if (o.received) lines.push(`${indent}received: ${formatFiveTuple(o.received)}`);
  if (o.final !== undefined) lines.push(`${indent}final: ${formatFiveTuple(o.final)}`);
  lines.push(`${indent}masqueraded: ${o.masqueraded ? 'yes' : 'no'}`);
  return lines;
}

function renderReply(out: string[], reply: Reply, level: 'detailed' | 'summary' | 'minimal'): void {
  const reason = reply.reason ? `: ${reply.reason}` : '';
  const match = reply.matchesRequest === undefined ? '' : reply.matchesRequest ? ' (addresses match the request)' : ' (WRONG addresses: the client does not expect this reply)';
  out.push(`  reply: ${reply.disposition}${reason}`);
  for (const hop of reply.hops) renderHop(out, hop, level, '    ');
  if (reply.received) out.push(`    received: ${formatFiveTuple(reply.received)}${match}`);
}

function renderHop(out: string[], hop: Hop, level: 'detailed' | 'summary' | 'minimal', indent: string): void {
  const lines: string[] = [];
  for (const s of hop.steps) renderStep(lines, s, level, indent + '  ');
  if (level === 'minimal' && lines.length === 0) return;
  const dir = `${hop.in ?? '-'} -> ${hop.out ?? '-'}`;
  out.push(`${indent}${hop.node === hop.netns ? hop.node : `${hop.node} [${hop.netns}]`} (${dir})`);
  out.push(...lines);
}

/** Which steps each rendering keeps. `detailed` keeps all; containers are kept when a kept step is inside. */
function keeps(s: Step, level: 'detailed' | 'summary' | 'minimal'): boolean {
  if (level === 'detailed') return true;
  switch (s.kind) {
    case 'nat':
    case 'encap':
    case 'decap':
    case 'deliver':
    case 'drop':
      return true;
    case 'rule':
      return level === 'summary' && s.verdict !== 'no-match';
    case 'policy':
    case 'route':
    case 'conntrack':
    case 'ipvs':
    case 'neigh':
    case 'bridge':
      return level === 'summary';
    case 'note':
    case 'hook':
    case 'chain':
      return false;
    default:
      return assertNever(s, 'step');
  }
}

function renderStep(out: string[], s: Step, level: 'detailed' | 'summary' | 'minimal', indent: string): void {
  const kept = keeps(s, level);
  if (kept) out.push(`${indent}${stepLine(s, level)}`);
  const childIndent = kept || level === 'detailed' ? indent + '  ' : indent;
  for (const c of s.children ?? []) renderStep(out, c, level, childIndent);
}

function stepLine(s: Step, level: 'detailed' | 'summary' | 'minimal'): string {
  switch (s.kind) {
    case 'rule':
      return level === 'detailed' ? `${s.table} #${s.index} ${s.verdict.padEnd(8)} ${s.rule}` : `${s.table} ${s.rule}  (#${s.index}, ${s.verdict})`;
    case 'chain':
      return `${s.table} ${s.chain}: ${s.evaluated} rule(s) evaluated${s.linearEvaluated !== s.evaluated ? ` (a linear walk: ${s.linearEvaluated})` : ''}`;
    case 'nat':
      return `${s.nat} ${ep(s.before)} -> ${ep(s.after)}`;
    default:
      return s.text;
  }
}

function ep(e: { ip: string; port?: number }): string {
  return e.port === undefined ? e.ip : e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}
