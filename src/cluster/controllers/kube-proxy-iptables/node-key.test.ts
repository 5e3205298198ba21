import { describe, expect, it } from 'vitest';
import { Rng } from '../../../base/index.js';
import type { Endpoint, EndpointSlice, Service } from '../../objects.js';
import { makeService, makeSlice, upstreamFixtureNode } from './fixtures.js';
import { NodeOutputKeys, nodeOutputKey } from './node-key.js';
import { generateIptablesRules } from './proxier.js';
import type { NodeProxyConfig } from './types.js';

const NODES = ['node-a', 'node-b', 'node-c', 'node-d'];
const ZONES = ['zone-1', 'zone-2'];

function nodeConfig(name: string, i: number, over: Partial<NodeProxyConfig> = {}): NodeProxyConfig {
  return upstreamFixtureNode({
    nodeName: name,
    nodeIPs: [`192.168.0.${10 + i}`],
    nodeAddresses: ['127.0.0.1', `192.168.0.${10 + i}`],
    podCIDRs: [`10.0.${i}.0/24`],
    zone: ZONES[i % 2]!,
    ...over,
  });
}

/** A random cluster: Services of every type and policy, endpoints on random nodes, some with hints. */
function randomCluster(rng: Rng, opts: { localPolicies: boolean }): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  const n = 3 + rng.int(4);
  for (let s = 0; s < n; s++) {
    const type = (['ClusterIP', 'NodePort', 'LoadBalancer'] as const)[rng.int(3)]!;
    const name = `svc${s}`;
    const local = opts.localPolicies && rng.int(2) === 0;
    services.push(
      makeService(
        'ns',
        name,
        {
          type,
          clusterIP: `172.30.0.${s + 1}`,
          ports: [{ name: 'p', port: 80, targetPort: 8080, protocol: 'TCP', ...(type !== 'ClusterIP' ? { nodePort: 30000 + s } : {}) }],
          ...(local && type !== 'ClusterIP' ? { externalTrafficPolicy: 'Local' as const } : {}),
          ...(local && type === 'ClusterIP' ? { internalTrafficPolicy: 'Local' as const } : {}),
          ...(type === 'LoadBalancer' && opts.localPolicies && rng.int(4) === 0 ? { loadBalancerSourceRanges: ['192.168.0.0/28'] } : {}),
        },
        type === 'LoadBalancer' ? { loadBalancer: { ingress: [{ ip: `5.6.7.${s + 1}` }] } } : undefined,
      ),
    );
    const eps: Endpoint[] = [];
    const hinted = opts.localPolicies && rng.int(3) === 0;
    for (let e = 0; e < 1 + rng.int(3); e++) {
      const node = NODES[rng.int(NODES.length)]!;
      eps.push({
        addresses: [`10.0.${NODES.indexOf(node)}.${10 + s * 4 + e}`],
        nodeName: node,
        conditions: { ready: rng.int(5) !== 0 },
        ...(hinted ? { hints: { forZones: [{ name: ZONES[rng.int(2)]! }], forNodes: [{ name: NODES[rng.int(NODES.length)]! }] } } : {}),
      });
    }
    slices.push(makeSlice('ns', name, 1, 'IPv4', eps, [{ name: 'p', port: 8080, protocol: 'TCP' }]));
  }
  return { services, slices };
}

describe('nodeOutputKey: nodes with equal keys get the same kube-proxy output', () => {
  it('holds for 300 random clusters (every pair of nodes with equal keys has equal payload, jump rules and sysctls)', () => {
    const rng = new Rng(42);
    let shared = 0;
    let distinct = 0;
    for (let c = 0; c < 300; c++) {
      const { services, slices } = randomCluster(rng, { localPolicies: c % 3 !== 0 });
      const keys = new NodeOutputKeys(services, slices);
      const out = NODES.map((name, i) => {
        const node = nodeConfig(name, i, c % 5 === 0 ? { localDetector: { mode: 'NodeCIDR' } } : c % 7 === 0 ? { nodePortAddresses: ['192.168.0.0/24'] } : {});
        const g = generateIptablesRules({ services, endpointSlices: slices, node, family: 4 });
        return { key: keys.key(node, 4), text: `${g.payload}\n${JSON.stringify(g.jumpRules.map((j) => j.rule))}\n${JSON.stringify(g.sysctls)}` };
      });
      for (let i = 0; i < out.length; i++)
        for (let j = i + 1; j < out.length; j++) {
          if (out[i]!.key === out[j]!.key) {
            shared++;
            expect(out[j]!.text, `cluster ${c}: ${NODES[i]} and ${NODES[j]} share a key`).toBe(out[i]!.text);
          } else distinct++;
        }
    }
    // the property is not vacuous: many pairs share a key, many do not
    expect(shared).toBeGreaterThan(100);
    expect(distinct).toBeGreaterThan(100);
  });

  it('without node-local policies, hints, source ranges or per-node configuration, every node of a zone has one key', () => {
    const rng = new Rng(7);
    const { services, slices } = randomCluster(rng, { localPolicies: false });
    const keys = NODES.map((n, i) => nodeOutputKey({ services, endpointSlices: slices, node: nodeConfig(n, i, { zone: 'z' }), family: 4 }));
    expect(new Set(keys).size).toBe(1);
  });

  it('a node with a local endpoint of an eTP Local Service gets its own key', () => {
    const services = [makeService('ns', 'web', { type: 'NodePort', clusterIP: '172.30.0.1', externalTrafficPolicy: 'Local', ports: [{ name: 'p', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }] })];
    const slices = [makeSlice('ns', 'web', 1, 'IPv4', [{ addresses: ['10.0.1.5'], nodeName: 'node-b', conditions: { ready: true } }], [{ name: 'p', port: 8080, protocol: 'TCP' }])];
    const key = (n: string, i: number): string => nodeOutputKey({ services, endpointSlices: slices, node: nodeConfig(n, i, { zone: 'z' }), family: 4 });
    expect(key('node-a', 0)).toBe(key('node-c', 2));
    expect(key('node-b', 1)).not.toBe(key('node-a', 0));
  });
});
