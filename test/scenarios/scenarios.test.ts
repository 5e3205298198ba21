/**
 * Scenario goldens (issue 5 item 7): each bundled topology traced from a pod, a node or the
 * external client, compared with the `minimal` rendering in goldens/<name>.txt. Each golden was
 * checked by hand against what Linux does (kernel-lab.sh: hairpin SNAT to cni0's .1, NodePort to a
 * remote endpoint SNATed to flannel.1's address over VXLAN and to eth0's over host-gw, the outer
 * UDP/8472 packet, the eTP Local drop in KUBE-EXTERNAL-SERVICES, ip_forward's frag-needed before
 * FORWARD, the host-gw route the kernel refuses).
 *
 * Regenerate after an intended change: UPDATE_GOLDENS=1 npx vitest run test/scenarios
 * then review `git diff test/scenarios/goldens` line by line before committing.
 */
import { describe, expect, it } from 'vitest';
import { bundledWorld, expectGolden } from '../support/scenarios.js';
import { renderTrace, traceRequest, validateTrace, type TraceRequest } from '../../src/index.js';

const world = bundledWorld;

interface Scenario {
  readonly name: string;
  readonly topo: string;
  readonly req: TraceRequest;
}

const SCENARIOS: Scenario[] = [
  { name: 'vxlan-pod-to-clusterip', topo: 'flannel-vxlan', req: { from: 'pod/default/client', to: 'svc/default/web:80', all: true } },
  { name: 'vxlan-pod-to-pod-other-node', topo: 'flannel-vxlan', req: { from: 'pod/default/client', to: '10.244.2.2:8080' } },
  { name: 'vxlan-pod-to-dns-name', topo: 'flannel-vxlan', req: { from: 'pod/default/client', to: 'web.default.svc.cluster.local:http', seed: 2 } },
  { name: 'vxlan-external-nodeport-etp-cluster', topo: 'flannel-vxlan', req: { from: 'client/laptop', to: '192.168.56.11:30080', all: true } },
  { name: 'vxlan-external-nodeport-etp-local-with-endpoint', topo: 'flannel-vxlan', req: { from: 'client/laptop', to: '192.168.56.12:30081' } },
  { name: 'vxlan-external-nodeport-etp-local-no-endpoint', topo: 'flannel-vxlan', req: { from: 'client/laptop', to: '192.168.56.11:30081' } },
  { name: 'vxlan-external-lb-ip', topo: 'flannel-vxlan', req: { from: 'client/laptop', to: '192.168.56.240:80', seed: 5 } },
  { name: 'vxlan-node-to-clusterip', topo: 'flannel-vxlan', req: { from: 'node/node-1', to: 'svc/default/web:http', all: true } },
  { name: 'vxlan-hairpin', topo: 'flannel-vxlan', req: { from: 'pod/default/web-758d5775bc-gspxk', to: 'svc/default/web:80', all: true } },
  { name: 'vxlan-mtu-df', topo: 'flannel-vxlan', req: { from: 'client/laptop', to: '192.168.56.11:30080', size: 1500, all: true } },
  { name: 'host-gw-pod-to-clusterip', topo: 'flannel-host-gw', req: { from: 'pod/default/client', to: 'svc/default/web:80', all: true } },
  { name: 'host-gw-external-nodeport', topo: 'flannel-host-gw', req: { from: 'client/laptop', to: '192.168.56.11:30080', all: true } },
  { name: 'host-gw-routed-pod-to-pod-behind-router', topo: 'flannel-host-gw-routed', req: { from: 'pod/default/client', to: '10.244.2.2:8080' } },
  { name: 'default-pod-to-clusterip', topo: 'default', req: { from: 'pod/default/client', to: 'svc/default/web:80', all: true } },
  { name: 'hostport-external', topo: 'flannel-hostport', req: { from: 'client/laptop', to: '192.168.56.12:8081' } },
  { name: 'hostport-hairpin', topo: 'flannel-hostport', req: { from: 'pod/default/client', to: '192.168.56.12:8081' } },
  { name: 'hostport-udp-from-other-node', topo: 'flannel-hostport', req: { from: 'pod/default/remote', to: '192.168.56.12:53', proto: 'udp' } },
  { name: 'udp-reply-from-wrong-address', topo: 'hostnetwork-udp-vip', req: { from: 'client/laptop', to: '192.168.56.99:5353', proto: 'udp' } },
];

describe('scenario goldens (minimal traces)', () => {
  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const { trace } = traceRequest(await world(s.topo), s.req);
      expect(validateTrace(trace)).toEqual([]);
      const text = `# ${s.topo}: podpath trace --from ${s.req.from} --to ${s.req.to}${s.req.all ? ' --all' : ''}${s.req.size ? ` --size ${s.req.size}` : ''}${s.req.seed ? ` --seed ${s.req.seed}` : ''}${s.req.proto ? ` --proto ${s.req.proto}` : ''} --format minimal\n${renderTrace(trace, 'minimal')}`;
      expectGolden(s.name, text);
    });
  }
});
