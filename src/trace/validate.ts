import { DISPOSITIONS, isSuccess, type Hop, type Step, type Trace } from './types.js';

/**
 * Checks the invariants every trace must keep (INTERFACES.md §3): outcome probabilities in (0, 1]
 * summing to 1, dispositions from the closed set, a reason on every failure, balanced well-formed steps.
 * Returns the problems found (empty when valid).
 */
export function validateTrace(trace: Trace): string[] {
  const problems: string[] = [];
  if (trace.outcomes.length === 0) problems.push('a trace has at least one outcome');
  let sum = 0;
  trace.outcomes.forEach((o, i) => {
    const where = `outcomes[${i}]`;
    if (!(o.probability > 0 && o.probability <= 1)) problems.push(`${where}.probability ${o.probability} is not in (0, 1]`);
    sum += o.probability;
    if (!DISPOSITIONS.includes(o.disposition)) problems.push(`${where}.disposition "${o.disposition}" is not a known disposition`);
    else if (!isSuccess(o.disposition) && !o.reason) problems.push(`${where}: failure "${o.disposition}" without a reason`);
    o.hops.forEach((h, j) => checkHop(h, `${where}.hops[${j}]`, problems));
    if (o.reply) {
      if (!DISPOSITIONS.includes(o.reply.disposition)) problems.push(`${where}.reply.disposition "${o.reply.disposition}" is not a known disposition`);
      else if (!isSuccess(o.reply.disposition) && !o.reply.reason) problems.push(`${where}.reply: failure "${o.reply.disposition}" without a reason`);
      o.reply.hops.forEach((h, j) => checkHop(h, `${where}.reply.hops[${j}]`, problems));
    }
  });
  if (trace.outcomes.length > 0 && Math.abs(sum - 1) > 1e-9) problems.push(`outcome probabilities sum to ${sum}, not 1`);
  return problems;
}

function checkHop(h: Hop, where: string, problems: string[]): void {
  if (!h.node) problems.push(`${where}.node is empty`);
  const visit = (s: Step, path: string) => {
    if (!s.text && s.kind !== 'rule' && s.kind !== 'chain' && s.kind !== 'nat') problems.push(`${path} (${s.kind}) has no text`);
    if (s.kind === 'rule' && !(s.index >= 1)) problems.push(`${path}: rule index ${s.index} is not 1-based`);
    s.children?.forEach((c, k) => visit(c, `${path}.children[${k}]`));
  };
  h.steps.forEach((s, k) => visit(s, `${where}.steps[${k}]`));
}
