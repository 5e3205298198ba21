/**
 * The compare table as text (aligned columns, upper-case headers, as kubectl get and ipvsadm print
 * them) and as JSON (the rows with typed fields).
 */
import type { CompareRow } from './compare.js';
import type { Range } from './measure.js';

const range = (r: Range | null): string => (r === null ? '-' : r.min === r.max ? String(r.min) : `${r.min}-${r.max}`);

const pct = (p: number): string => {
  const v = Math.round(p * 1000) / 10;
  return `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)}%`;
};

/** DISPOSITION: the one disposition, else the mix (`delivered 67%, no-route 33%`); `error`/`unmodelled` rows say so. */
function dispositionCell(r: CompareRow): string {
  switch (r.status) {
    case 'error':
      return 'error';
    case 'unmodelled':
      return 'not modelled';
    case 'ok': {
      if (r.disposition !== null) {
        const replyBad = r.disposition === 'delivered' && !r.delivered;
        return replyBad ? 'delivered (reply fails)' : r.disposition;
      }
      const mix = new Map<string, number>();
      for (const o of r.outcomes) mix.set(o.disposition, (mix.get(o.disposition) ?? 0) + o.probability);
      return [...mix].map(([d, p]) => `${d} ${pct(p)}`).join(', ');
    }
  }
}

/** RULES: netfilter rules, plus IPVS lookups when there were any (`12+1 ipvs`). */
function rulesCell(r: CompareRow): string {
  if (r.rulesEvaluated === null) return '-';
  const ipvs = r.ipvsLookups && r.ipvsLookups.max > 0 ? `+${range(r.ipvsLookups)} ipvs` : '';
  return `${range(r.rulesEvaluated)}${ipvs}`;
}

function endpointCell(r: CompareRow): string {
  if (r.status !== 'ok') return '-';
  const eps = [...new Set(r.outcomes.map((o) => o.endpoint ?? '-'))];
  return eps.length === 1 ? eps[0]! : `${eps.length} endpoints`;
}

function bgpCell(r: CompareRow): string {
  if (r.bgpSessions === null) return '-';
  return r.bgpSessionsConfigured !== null && r.bgpSessionsConfigured !== r.bgpSessions ? `${r.bgpSessions}/${r.bgpSessionsConfigured}` : String(r.bgpSessions);
}

const HEADERS = ['MODE', 'PROXY', 'DISPOSITION', 'ENDPOINT', 'HOPS', 'ENCAP', 'POD-MTU', 'RULES', 'ROUTES/NODE', 'BGP'] as const;
/** Numeric columns are right-aligned. */
const RIGHT = new Set<string>(['HOPS', 'ENCAP', 'POD-MTU', 'RULES', 'ROUTES/NODE', 'BGP']);

/**
 * The table, one line per row, then a numbered note per row that has an error or failure reason.
 * ENCAP is bytes per packet; RULES are rules evaluated over the request path (+ IPVS lookups);
 * ROUTES/NODE is the main-table route count, min-max over nodes; BGP counts established sessions
 * (established/configured when some are down).
 */
export function formatCompareTable(rows: readonly CompareRow[]): string {
  const notes: string[] = [];
  const cells = rows.map((r) => {
    let disp = dispositionCell(r);
    const why = r.error ?? r.outcomes.find((o) => o.disposition !== 'delivered')?.reason ?? null;
    if (why !== null) {
      notes.push(`[${notes.length + 1}] ${r.mode}/${r.proxy}: ${why}`);
      disp += ` [${notes.length}]`;
    }
    return [r.mode, r.proxy, disp, endpointCell(r), range(r.hops), range(r.encapBytes), range(r.podMtu), rulesCell(r), range(r.nodeRoutes), bgpCell(r)];
  });
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c
      .map((v, i) => (RIGHT.has(HEADERS[i]!) ? v.padStart(widths[i]!) : i === c.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(HEADERS), ...cells.map(line)];
  if (notes.length) out.push('', ...notes);
  return `${out.join('\n')}\n`;
}

/** The rows as JSON text (an array; INTERFACES.md §2 `podpath compare --format json`). */
export function formatCompareJson(rows: readonly CompareRow[]): string {
  return `${JSON.stringify(rows, null, 2)}\n`;
}
