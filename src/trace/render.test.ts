import { describe, expect, it } from 'vitest';
import { StepRecorder } from './recorder.js';
import { renderTrace } from './render.js';
import type { Trace } from './types.js';
import { validateTrace } from './validate.js';

function sampleTrace(): Trace {
  const rec = new StepRecorder();
  rec.open({ kind: 'hook', hook: 'PREROUTING', text: 'PREROUTING' });
  rec.open({ kind: 'chain', table: 'nat', chain: 'KUBE-SERVICES', evaluated: 2, linearEvaluated: 40, text: '' });
  rec.add({ kind: 'rule', table: 'nat', chain: 'KUBE-SERVICES', index: 1, rule: '-A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m tcp --dport 53 -j KUBE-SVC-X', verdict: 'no-match', text: '' });
  rec.add({ kind: 'rule', table: 'nat', chain: 'KUBE-SERVICES', index: 37, rule: '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-Y', verdict: 'jump', text: '' });
  rec.close();
  rec.add({ kind: 'nat', nat: 'DNAT', before: { ip: '10.96.0.10', port: 80 }, after: { ip: '10.244.2.3', port: 8080 }, text: '' });
  rec.close();
  rec.add({ kind: 'deliver', to: 'local socket tcp:8080', text: 'delivered to a local socket on tcp:8080' });
  const steps = rec.take();
  const hop = { node: 'node-1', netns: 'node-1', in: 'eth0', out: null, steps, packetIn: {}, packetOut: {} };
  return {
    request: { from: '10.244.1.2', to: '10.96.0.10:80', proto: 'tcp' },
    outcomes: [
      { probability: 0.5, disposition: 'delivered', reason: null, endpoint: { pod: null, ip: '10.244.2.3', port: 8080 }, received: { src: '10.244.1.2', sport: 40000, dst: '10.244.2.3', dport: 8080, proto: 'tcp' }, masqueraded: false, hops: [hop] },
      { probability: 0.5, disposition: 'dropped', reason: 'filter FORWARD policy DROP', endpoint: null, received: null, masqueraded: false, hops: [] },
    ],
  };
}

describe('trace renderings', () => {
  it('detailed shows every rule evaluated, nested under its chain', () => {
    const text = renderTrace(sampleTrace(), 'detailed');
    expect(text).toContain('no-match -A KUBE-SERVICES -d 10.96.0.11/32');
    expect(text).toContain('nat KUBE-SERVICES: 2 rule(s) evaluated (a linear walk: 40)');
    const chainLine = text.split('\n').find((l) => l.includes('KUBE-SERVICES: 2'))!;
    const ruleLine = text.split('\n').find((l) => l.includes('#37'))!;
    expect(ruleLine.search(/\S/)).toBeGreaterThan(chainLine.search(/\S/));
  });

  it('summary keeps matched rules and NAT, drops non-matching rules', () => {
    const text = renderTrace(sampleTrace(), 'summary');
    expect(text).toContain('-d 10.96.0.10/32');
    expect(text).toContain('(#37, jump)');
    expect(text).not.toContain('10.96.0.11');
    expect(text).toContain('DNAT 10.96.0.10:80 -> 10.244.2.3:8080');
  });

  it('minimal keeps only rewrites and deliveries', () => {
    const text = renderTrace(sampleTrace(), 'minimal');
    expect(text).not.toContain('KUBE-SERVICES');
    expect(text).toContain('DNAT 10.96.0.10:80 -> 10.244.2.3:8080');
    expect(text).toContain('outcome 2/2 (p=0.5): dropped: filter FORWARD policy DROP');
    expect(text).toContain('received: tcp 10.244.1.2:40000 -> 10.244.2.3:8080');
  });

  it('json is the record itself', () => {
    const t = sampleTrace();
    expect(JSON.parse(renderTrace(t, 'json'))).toEqual(t);
  });
});

describe('validateTrace', () => {
  it('accepts a well-formed trace', () => {
    expect(validateTrace(sampleTrace())).toEqual([]);
  });
  it('catches probabilities not summing to 1, a failure without reason, an unknown disposition', () => {
    const t = sampleTrace();
    t.outcomes[0]!.probability = 0.3;
    t.outcomes[1]!.reason = null;
    const problems = validateTrace(t);
    expect(problems.some((p) => p.includes('sum to 0.8'))).toBe(true);
    expect(problems.some((p) => p.includes('without a reason'))).toBe(true);
    (t.outcomes[0] as { disposition: string }).disposition = 'vanished';
    expect(validateTrace(t).some((p) => p.includes('"vanished"'))).toBe(true);
  });
});
