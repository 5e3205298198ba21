/**
 * Calico scenario goldens (issue 7): each bundled calico-* topology traced from a pod, to a pod on
 * another node, to a ClusterIP and from the external client to a NodePort, in the `minimal`
 * rendering. Checked by reasoning against calico.md: VXLAN on UDP 4789 VNI 4096 to the peer's node
 * IP, plain routed delivery in BGP mode, the tor's drop without peering (with the reason) and its
 * forwarding with peering, IPIP (protocol 4) only towards the other rack in CrossSubnet.
 *
 * Regenerate after an intended change: UPDATE_GOLDENS=1 npx vitest run test/scenarios/calico.test.ts
 */
import { describe, expect, it } from 'vitest';
import { bundledWorld, expectGolden } from '../support/scenarios.js';
import { renderTrace, traceRequest, validateTrace, type TraceRequest } from '../../src/index.js';

const world = bundledWorld;

const SCENARIOS: { name: string; topo: string; req: TraceRequest }[] = [
  { name: 'calico-vxlan-pod-to-pod-other-node', topo: 'calico-vxlan', req: { from: 'pod/default/client', to: '10.244.220.193:8080' } },
  { name: 'calico-vxlan-pod-to-clusterip', topo: 'calico-vxlan', req: { from: 'pod/default/client', to: 'svc/default/web:80', all: true } },
  { name: 'calico-vxlan-external-nodeport', topo: 'calico-vxlan', req: { from: 'client/laptop', to: '192.168.56.11:30080', all: true } },
  { name: 'calico-bgp-mesh-pod-to-pod-other-node', topo: 'calico-bgp-mesh', req: { from: 'pod/default/client', to: '10.244.220.192:8080' } },
  { name: 'calico-bgp-mesh-pod-to-clusterip', topo: 'calico-bgp-mesh', req: { from: 'pod/default/client', to: 'svc/default/web:80', all: true } },
  { name: 'calico-bgp-mesh-external-nodeport', topo: 'calico-bgp-mesh', req: { from: 'client/laptop', to: '192.168.56.12:30080', all: true } },
  { name: 'calico-bgp-rr-pod-to-pod-other-node', topo: 'calico-bgp-rr', req: { from: 'pod/default/client', to: '10.244.220.192:8080' } },
  { name: 'calico-bgp-routed-pod-to-pod-behind-router', topo: 'calico-bgp-routed', req: { from: 'pod/default/client', to: '10.244.87.128:8080' } },
  { name: 'calico-bgp-routed-tor-pod-to-pod-behind-router', topo: 'calico-bgp-routed-tor', req: { from: 'pod/default/client', to: '10.244.87.128:8080' } },
  { name: 'calico-bgp-routed-tor-pod-to-clusterip', topo: 'calico-bgp-routed-tor', req: { from: 'pod/default/client', to: 'svc/default/web:80', all: true } },
  { name: 'calico-bgp-routed-tor-external-nodeport', topo: 'calico-bgp-routed-tor', req: { from: 'client/laptop', to: '192.168.56.11:30080', all: true } },
  { name: 'calico-ipip-crosssubnet-same-subnet', topo: 'calico-ipip-crosssubnet', req: { from: 'pod/default/client', to: '10.244.220.193:8080' } },
  { name: 'calico-ipip-crosssubnet-other-subnet', topo: 'calico-ipip-crosssubnet', req: { from: 'pod/default/client', to: '10.244.87.129:8080' } },
  { name: 'calico-ipip-crosssubnet-pod-to-clusterip', topo: 'calico-ipip-crosssubnet', req: { from: 'pod/default/client', to: 'svc/default/web:80', all: true } },
];

describe('calico scenario goldens (minimal traces)', () => {
  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const { trace } = traceRequest(await world(s.topo), s.req);
      expect(validateTrace(trace)).toEqual([]);
      const text = `# ${s.topo}: podpath trace --from ${s.req.from} --to ${s.req.to}${s.req.all ? ' --all' : ''} --format minimal\n${renderTrace(trace, 'minimal')}`;
      expectGolden(s.name, text);
    });
  }
});
