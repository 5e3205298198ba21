import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cidrContains, InputError, parseCidr, parseIp, type Problem } from '../../base/index.js';
import { loadTopology, loadTopologyObject, loadTopologyText } from './loader.js';

const dir = mkdtempSync(join(tmpdir(), `pp${process.pid}-topo-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes files into the temp dir; returns the path of the first. */
function files(spec: Record<string, string>): string {
  for (const [name, text] of Object.entries(spec)) writeFileSync(join(dir, name), text);
  return join(dir, Object.keys(spec)[0]!);
}

async function problemsOf(p: Promise<unknown>): Promise<readonly Problem[]> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as InputError).problems;
  }
  throw new Error('expected an InputError');
}

const BASE = `name: t
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
underlay:
  networks:
    - { name: lan, cidr: 192.168.56.0/24 }
nodes:
  - { name: node-1, ip: 192.168.56.11, network: lan }
  - { name: node-2, ip: 192.168.56.12, network: lan }
  - { name: node-3, ip: 192.168.56.13, network: lan }
`;

function find(problems: readonly Problem[], field: string): Problem {
  const p = problems.find((x) => x.field === field);
  if (!p) throw new Error(`no problem at ${field}; got:\n${problems.map((x) => `${x.file}:${x.line} ${x.field}: ${x.message}`).join('\n')}`);
  return p;
}

describe('topologies/ (every bundled file)', () => {
  const topoDir = resolve(__dirname, '../../../topologies');
  const names = readdirSync(topoDir).filter((f) => /\.ya?ml$/.test(f));
  it('has default.yaml and flannel-vxlan.yaml', () => {
    expect(names).toEqual(expect.arrayContaining(['default.yaml', 'flannel-vxlan.yaml']));
  });
  for (const name of names) {
    it(`${name} loads without warnings, with the allocation facts of a real cluster`, async () => {
      const t = await loadTopology(join(topoDir, name));
      expect(t.warnings).toEqual([]);
      const cluster = t.cluster.podCIDRs.map((c) => parseCidr(c));
      // node podCIDRs: disjoint /24s of the cluster CIDR
      const cidrs = t.nodes.flatMap((n) => n.podCIDRs);
      expect(new Set(cidrs).size).toBe(cidrs.length);
      for (const c of cidrs) expect(cluster.some((cc) => cidrContains(cc, parseCidr(c).network))).toBe(true);
      // every running pod has an IP in its node's podCIDR (hostNetwork: the node IP), none twice
      const ips = new Set<string>();
      for (const p of t.store.list('Pod')) {
        const n = t.nodes.find((x) => x.name === p.spec.nodeName)!;
        expect(n).toBeDefined();
        const ip = p.status!.podIP!;
        if (p.spec.hostNetwork) expect(n.ips).toContain(ip);
        else {
          if (t.calico) {
            // Calico IPAM: an address of a block affine to the pod's node (block .0 is a valid address)
            expect(t.calico.ipam.blocksOf(n.name).some((b) => cidrContains(parseCidr(b.cidr), parseIp(ip)))).toBe(true);
          } else {
            expect(n.podCIDRs.some((c) => cidrContains(parseCidr(c), parseIp(ip)))).toBe(true);
            expect(ip.endsWith('.0') || ip.endsWith('.1')).toBe(false);
          }
          expect(ips.has(ip)).toBe(false);
          ips.add(ip);
        }
      }
      // default/kubernetes holds the first service address and points at the first node on 6443
      const svc = t.store.get('Service', 'default/kubernetes')!;
      const first = parseCidr(t.cluster.serviceCIDRs[0]!);
      expect(parseIp(svc.spec.clusterIP!)).toEqual({ family: first.family, n: first.family === 4 ? (first.network.n as number) + 1 : (first.network.n as bigint) + 1n });
      expect(svc.spec.ports).toEqual([{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }]);
      const ks = t.store.get('EndpointSlice', 'default/kubernetes')!;
      expect(ks.endpoints[0]!.addresses).toEqual([t.nodes[0]!.ips[0]]);
      expect(ks.ports![0]!.port).toBe(6443);
      // every Service with a selector has slices; NodePorts are in range
      for (const s of t.store.list('Service')) {
        for (const p of s.spec.ports ?? []) if (p.nodePort !== undefined) expect(p.nodePort).toBeGreaterThanOrEqual(30000);
        if (s.spec.selector) expect(t.store.list('EndpointSlice').some((e) => e.metadata.labels?.['kubernetes.io/service-name'] === s.metadata.name)).toBe(true);
      }
    });
  }

  it('default.yaml: the facts of its README description', async () => {
    const t = await loadTopology(join(topoDir, 'default.yaml'));
    expect(t.nodes.map((n) => [n.name, n.podCIDRs])).toEqual([
      ['node-1', ['10.244.0.0/24']],
      ['node-2', ['10.244.1.0/24']],
      ['node-3', ['10.244.2.0/24']],
    ]);
    expect(t.cluster.cni).toEqual({ plugin: 'flannel', mode: 'vxlan', mtu: 1450, directRouting: false });
    expect(t.cluster.kubeProxy.mode).toBe('iptables');
    expect(t.cluster.kubeProxy.masqueradeBit).toBe(14);
    expect(t.store.get('Service', 'kube-system/kube-dns')!.spec.clusterIP).toBe('10.96.0.10');
    const web = t.store.list('Pod').filter((p) => p.metadata.labels?.app === 'web');
    expect(web).toHaveLength(3);
    // Deployment → ReplicaSet web-<hash> → Pods web-<hash>-<suffix>, spread one per node
    for (const p of web) expect(p.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(new Set(web.map((p) => p.spec.nodeName)).size).toBe(3);
    const hash = web[0]!.metadata.labels!['pod-template-hash']!;
    expect(t.store.get('ReplicaSet', `default/web-${hash}`)).toBeDefined();
    for (const p of web) expect(p.status!.conditions!.find((c) => c.type === 'Ready')!.status).toBe('True');
    // pods take addresses in input order: the Deployment precedes the client in web.yaml, so on
    // node-1 the web replica gets .2 and the client .3
    const client = t.store.get('Pod', 'default/client')!;
    expect(client.spec.nodeName).toBe('node-1');
    expect(client.status!.podIP).toBe('10.244.0.3');
    expect(web.find((p) => p.spec.nodeName === 'node-1')!.status!.podIP).toBe('10.244.0.2');
    const lb = t.store.get('Service', 'default/web-lb')!;
    expect(lb.status!.loadBalancer!.ingress![0]!.ip).toBe('192.168.56.240');
    expect(lb.spec.ports![0]!.nodePort).toBeDefined();
    const web80 = t.store.list('EndpointSlice').find((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web')!;
    expect(web80.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(web80.endpoints).toHaveLength(3);
    // the laptop's default route goes via the segment's router, as the nodes' do
    expect(t.clients).toEqual([{ name: 'laptop', ips: ['192.168.56.200'], network: 'lan', gateway: '192.168.56.1' }]);
  });
});

describe('allocation', () => {
  it('carves node podCIDRs in node order, skipping ones already given', async () => {
    const t = await loadTopologyText(BASE.replace('{ name: node-2, ip: 192.168.56.12, network: lan }', '{ name: node-2, ip: 192.168.56.12, network: lan, podCIDR: 10.244.0.0/24 }'), join(dir, 'a.yaml'));
    expect(t.nodes.map((n) => n.podCIDRs[0])).toEqual(['10.244.1.0/24', '10.244.0.0/24', '10.244.2.0/24']);
    expect(t.store.get('Node', 'node-1')!.spec!.podCIDR).toBe('10.244.1.0/24');
  });

  it('gives pods .2 upward in pod order (host-local; .1 is cni0) and a hostNetwork pod the node IP', async () => {
    const text = `${BASE}objects:
  - { apiVersion: v1, kind: Pod, metadata: { name: a }, spec: { nodeName: node-2, containers: [ { name: c } ] } }
  - { apiVersion: v1, kind: Pod, metadata: { name: b }, spec: { nodeName: node-2, containers: [ { name: c } ] } }
  - { apiVersion: v1, kind: Pod, metadata: { name: h }, spec: { nodeName: node-2, hostNetwork: true, containers: [ { name: c } ] } }
  - { apiVersion: v1, kind: Pod, metadata: { name: given }, spec: { nodeName: node-2, containers: [ { name: c } ] }, status: { phase: Running, podIP: 10.244.1.2 } }
  - { apiVersion: v1, kind: Pod, metadata: { name: pending }, spec: { nodeName: node-2, containers: [ { name: c } ] }, status: { phase: Pending } }
`;
    const t = await loadTopologyText(text, join(dir, 'b.yaml'));
    const ip = (n: string) => t.store.get('Pod', `default/${n}`)!.status!.podIP;
    expect(ip('given')).toBe('10.244.1.2');
    expect(ip('a')).toBe('10.244.1.3');
    expect(ip('b')).toBe('10.244.1.4');
    expect(ip('h')).toBe('192.168.56.12');
    expect(ip('pending')).toBeUndefined();
    expect(t.store.get('Pod', 'default/a')!.status!.hostIP).toBe('192.168.56.12');
  });

  it('allocates ClusterIPs (.1 kubernetes, .10 kube-dns, others from the range), NodePorts and a healthCheckNodePort', async () => {
    const text = `${BASE}objects:
  - { apiVersion: v1, kind: Service, metadata: { name: kube-dns, namespace: kube-system }, spec: { selector: { k8s-app: kube-dns }, ports: [ { name: dns, port: 53, protocol: UDP }, { name: dns-tcp, port: 53, protocol: TCP } ] } }
  - { apiVersion: v1, kind: Service, metadata: { name: a }, spec: { selector: { app: a }, ports: [ { port: 80 } ] } }
  - { apiVersion: v1, kind: Service, metadata: { name: np }, spec: { type: NodePort, selector: { app: a }, ports: [ { name: x, port: 80 }, { name: y, port: 81, nodePort: 30001 } ] } }
  - { apiVersion: v1, kind: Service, metadata: { name: lb }, spec: { type: LoadBalancer, externalTrafficPolicy: Local, selector: { app: a }, ports: [ { port: 80 } ] } }
`;
    const t = await loadTopologyText(text, join(dir, 'c.yaml'));
    const svc = (k: string) => t.store.get('Service', k)!;
    expect(svc('default/kubernetes').spec.clusterIP).toBe('10.96.0.1');
    expect(svc('kube-system/kube-dns').spec.clusterIP).toBe('10.96.0.10');
    const a = svc('default/a');
    expect(cidrContains(parseCidr('10.96.0.0/12'), parseIp(a.spec.clusterIP!))).toBe(true);
    expect(a.spec.clusterIPs).toEqual([a.spec.clusterIP]);
    expect(a.spec.ipFamilies).toEqual(['IPv4']);
    expect(a.spec.ipFamilyPolicy).toBe('SingleStack');
    expect(a.spec.ports![0]!.targetPort).toBe(80); // defaulted to port
    const np = svc('default/np');
    expect(np.spec.ports![1]!.nodePort).toBe(30001);
    const auto = np.spec.ports![0]!.nodePort!;
    expect(auto).toBeGreaterThanOrEqual(30000);
    expect(auto).toBeLessThanOrEqual(32767);
    expect(np.spec.externalTrafficPolicy).toBe('Cluster');
    const lb = svc('default/lb');
    expect(lb.spec.healthCheckNodePort).toBeGreaterThanOrEqual(30000);
    expect(lb.spec.healthCheckNodePort).not.toBe(lb.spec.ports![0]!.nodePort);
    // kube-dns UDP and TCP 53 are distinct ports of one Service
    expect(t.store.list('EndpointSlice').find((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'kube-dns')!.endpoints).toEqual([]);
    // deterministic: loading again gives the same addresses
    const t2 = await loadTopologyText(text, join(dir, 'c.yaml'));
    expect(t2.store.get('Service', 'default/a')!.spec.clusterIP).toBe(a.spec.clusterIP);
    expect(t2.store.get('Service', 'default/np')!.spec.ports![0]!.nodePort).toBe(auto);
  });

  it('dual-stack: /24 and /64 node CIDRs, pods and PreferDualStack Services of both families', async () => {
    const text = BASE.replace('podCIDR: 10.244.0.0/16', 'podCIDR: 10.244.0.0/16,fd00:10:244::/56').replace('serviceCIDR: 10.96.0.0/12', 'serviceCIDR: [10.96.0.0/12, "fd00:10:96::/112"]') +
      `objects:
  - { apiVersion: v1, kind: Pod, metadata: { name: p, labels: { app: a } }, spec: { nodeName: node-1, containers: [ { name: c } ] } }
  - { apiVersion: v1, kind: Service, metadata: { name: a }, spec: { ipFamilyPolicy: PreferDualStack, selector: { app: a }, ports: [ { port: 80 } ] } }
`;
    const t = await loadTopologyText(text, join(dir, 'd.yaml'));
    expect(t.nodes[0]!.podCIDRs).toEqual(['10.244.0.0/24', 'fd00:10:244::/64']);
    expect(t.nodes[1]!.podCIDRs).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(t.store.get('Pod', 'default/p')!.status!.podIPs).toEqual([{ ip: '10.244.0.2' }, { ip: 'fd00:10:244::2' }]);
    const a = t.store.get('Service', 'default/a')!;
    expect(a.spec.ipFamilies).toEqual(['IPv4', 'IPv6']);
    expect(a.spec.clusterIPs).toHaveLength(2);
    expect(cidrContains(parseCidr('fd00:10:96::/112'), parseIp(a.spec.clusterIPs![1]!))).toBe(true);
    expect(t.cluster.kubeProxy.ipFamilies).toEqual(['IPv4', 'IPv6']);
    const types = t.store.list('EndpointSlice').filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'a').map((s) => s.addressType).sort();
    expect(types).toEqual(['IPv4', 'IPv6']);
  });

  it('reports two objects with the same IP or NodePort with both locations', async () => {
    const text = `${BASE}objects:
  - { apiVersion: v1, kind: Service, metadata: { name: a }, spec: { clusterIP: 10.96.5.5, ports: [ { port: 80 } ] } }
  - { apiVersion: v1, kind: Service, metadata: { name: b }, spec: { clusterIP: 10.96.5.5, ports: [ { port: 80 } ] } }
  - { apiVersion: v1, kind: Service, metadata: { name: c }, spec: { type: NodePort, ports: [ { port: 80, nodePort: 30080 } ] } }
  - { apiVersion: v1, kind: Service, metadata: { name: d }, spec: { type: NodePort, ports: [ { port: 80, nodePort: 30080 } ] } }
  - { apiVersion: v1, kind: Pod, metadata: { name: p }, spec: { nodeName: node-1, containers: [ { name: c } ] }, status: { phase: Running, podIP: 10.244.0.7 } }
  - { apiVersion: v1, kind: Pod, metadata: { name: q }, spec: { nodeName: node-1, containers: [ { name: c } ] }, status: { phase: Running, podIP: 10.244.0.7 } }
`;
    const file = join(dir, 'dup.yaml');
    const ps = await problemsOf(loadTopologyText(text, file));
    const cip = find(ps, 'objects[1].spec.clusterIP');
    expect(cip.line).toBe(14);
    expect(cip.message).toContain(`${file}:13 (objects[0].spec.clusterIP)`);
    const np = find(ps, 'objects[3].spec.ports[0].nodePort');
    expect(np.line).toBe(16);
    expect(np.message).toContain(`${file}:15`);
    const ip = find(ps, 'objects[5].status.podIP');
    expect(ip.line).toBe(18);
    expect(ip.message).toContain(`${file}:17`);
  });
});

describe('bad input', () => {
  it('collects every problem of a topology with file, line and field, before throwing', async () => {
    const text = `name: bad
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.244.128.0/20
  cni: { plugin: weave, mode: vxlan }
  kubeProxy: { mode: iptables, masqueradeBit: 40 }
underlay:
  networks:
    - { name: lan, cidr: 192.168.56.0/24 }
    - { name: lan, cidr: 10.244.7.0/24 }
nodes:
  - { name: node-1, ip: 192.168.57.11, network: lan }
  - { name: node-2, ip: 192.168.56.300, network: lan }
  - { name: node-3, ip: 192.168.56.13, network: nowhere }
  - { name: node-1, ip: 192.168.56.14, network: lan }
`;
    const file = join(dir, 'bad.yaml');
    const ps = await problemsOf(loadTopologyText(text, file));
    for (const p of ps) expect(p.file).toBe(file);
    const at = (field: string, line: number, msg: RegExp) => {
      const p = find(ps, field);
      expect(p.line).toBe(line);
      expect(p.message).toMatch(msg);
    };
    at('cluster.serviceCIDR', 4, /overlaps cluster podCIDR 10\.244\.0\.0\/16/);
    at('cluster.cni.plugin', 5, /"weave" is not one of flannel, calico/);
    at('cluster.kubeProxy.masqueradeBit', 6, /40 is out of range 0–31/);
    at('underlay.networks[1].name', 10, /duplicate network name "lan"/);
    at('nodes[0].ip', 12, /192\.168\.57\.11 is not inside network lan \(192\.168\.56\.0\/24\)/);
    at('nodes[1].ip', 13, /not a valid IP address/);
    at('nodes[2].network', 14, /unknown network "nowhere"/);
    at('nodes[3].name', 15, /duplicate node name "node-1"/);
    // the error message itself names file, line and field
    expect(() => {
      throw new InputError(ps);
    }).toThrow(`${file}:12 (nodes[0].ip)`);
  });

  it('reports overlapping node podCIDRs and a node podCIDR outside the cluster CIDR (flannel)', async () => {
    const text = BASE.replace('{ name: node-1, ip: 192.168.56.11, network: lan }', '{ name: node-1, ip: 192.168.56.11, network: lan, podCIDR: 10.244.3.0/24 }')
      .replace('{ name: node-2, ip: 192.168.56.12, network: lan }', '{ name: node-2, ip: 192.168.56.12, network: lan, podCIDR: 10.244.3.0/25 }')
      .replace('{ name: node-3, ip: 192.168.56.13, network: lan }', '{ name: node-3, ip: 192.168.56.13, network: lan, podCIDR: 10.250.0.0/24 }');
    const ps = await problemsOf(loadTopologyText(text, join(dir, 'ov.yaml')));
    expect(find(ps, 'nodes[1].podCIDR').message).toMatch(/overlaps podCIDR of node node-1 10\.244\.3\.0\/24/);
    expect(find(ps, 'nodes[1].podCIDR').line).toBe(10);
    expect(find(ps, 'nodes[2].podCIDR').message).toMatch(/not inside cluster\.podCIDR/);
  });

  it('rejects bad objects in a manifest: IP, port range, selector not a map, unknown kind/apiVersion, duplicate name, ClusterIP outside serviceCIDR, NodePort range', async () => {
    const manifest = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: 10.0.0.10
  selector: app=web
  ports:
  - port: 70000
---
apiVersion: v1
kind: Service
metadata:
  name: np
spec:
  type: NodePort
  selector: { app: web }
  ports:
  - port: 80
    nodePort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  nodeName: node-1
  containers:
  - name: c
status:
  phase: Running
  podIP: 10.244.0.300
---
apiVersion: v1
kind: Widget
metadata:
  name: w
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata:
  name: old
spec: {}
---
apiVersion: v1
kind: Service
metadata:
  name: np
spec:
  ports:
  - port: 81
`;
    const top = files({ 'top-m.yaml': `${BASE}manifests: [ bad-m.yaml ]\n`, 'bad-m.yaml': manifest });
    const mfile = join(dir, 'bad-m.yaml');
    const ps = await problemsOf(loadTopology(top));
    const at = (field: string, line: number, msg: RegExp) => {
      const p = ps.find((x) => x.field === field && x.file === mfile && msg.test(x.message));
      expect(p, `${field} ${msg} in\n${ps.map((x) => `${x.file}:${x.line} ${x.field}: ${x.message}`).join('\n')}`).toBeDefined();
      expect(p!.line).toBe(line);
    };
    at('spec.selector', 7, /must be a map of label key to value/);
    at('spec.ports[0].port', 9, /70000 is out of range 1–65535/);
    at('spec.ports[0].nodePort', 20, /8080 is outside the NodePort range 30000-32767/);
    at('status.podIP', 32, /not a valid IP address/);
    at('kind', 35, /unknown kind "Widget"/);
    at('apiVersion', 39, /Deployment is served as apiVersion "apps\/v1", not "extensions\/v1beta1"/);
    at('metadata.name', 48, /duplicate Service default\/np \(first defined at .*bad-m\.yaml:14\)/);
  });

  it('rejects a ClusterIP outside the serviceCIDR with its line', async () => {
    const ps = await problemsOf(loadTopologyText(`${BASE}objects:\n  - { apiVersion: v1, kind: Service, metadata: { name: a }, spec: { clusterIP: 10.0.0.10, ports: [ { port: 80 } ] } }\n`, join(dir, 'cip.yaml')));
    const p = find(ps, 'objects[0].spec.clusterIP');
    expect(p.line).toBe(13);
    expect(p.message).toMatch(/10\.0\.0\.10 is not inside serviceCIDR 10\.96\.0\.0\/12/);
  });

  it('reports YAML syntax errors and duplicate keys with their line', async () => {
    const ps = await problemsOf(loadTopologyText('name: x\nnodes:\n  - { name: a, name: b }\n', join(dir, 'syn.yaml')));
    expect(ps[0]!.line).toBe(3);
    expect(ps[0]!.message).toMatch(/duplicate key/);
  });

  it('warns about unknown fields (topology and objects) and loads anyway', async () => {
    const t = await loadTopologyText(
      `${BASE}clientz: []\nobjects:\n  - { apiVersion: v1, kind: Pod, metadata: { name: p }, spec: { nodeName: node-1, containers: [ { name: c, ports: [ { contianerPort: 80, containerPort: 80 } ] } ] } }\n  - { apiVersion: v1, kind: ConfigMap, metadata: { name: cm } }\n`,
      join(dir, 'warn.yaml'),
    );
    const w = (field: string) => t.warnings.find((x) => x.field === field);
    expect(w('clientz')!.line).toBe(12);
    expect(w('clientz')!.message).toMatch(/unknown field "clientz"; did you mean "clients"\?/);
    expect(w('clientz')!.severity).toBe('warning');
    expect(w('objects[0].spec.containers[0].ports[0].contianerPort')!.message).toMatch(/did you mean "containerPort"/);
    expect(w('objects[1].kind')!.message).toMatch(/ConfigMap is not modelled by podpath; ignored/);
    expect(t.store.get('Pod', 'default/p')).toBeDefined();
  });

  it('loads nothing when anything is wrong (no half-loaded topology)', async () => {
    // one valid Service and one invalid Pod: the whole load fails
    const ps = await problemsOf(
      loadTopologyText(`${BASE}objects:\n  - { apiVersion: v1, kind: Service, metadata: { name: ok }, spec: { ports: [ { port: 80 } ] } }\n  - { apiVersion: v1, kind: Pod, metadata: { name: p }, spec: { nodeName: node-9, containers: [ { name: c } ] } }\n`, join(dir, 'half.yaml')),
    );
    expect(find(ps, 'objects[1].spec.nodeName').message).toMatch(/not a node of the topology/);
  });
});

describe('manifest formats', () => {
  it('reads multi-document YAML, JSON and kind: List, with lines for each', async () => {
    const json = JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'j1', namespace: 'default' }, spec: { ports: [{ port: 80 }], selector: { app: 'x' } } },
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'j2', namespace: 'default' }, spec: { ports: [{ port: 99999 }] } },
        ],
      },
      null,
      4,
    );
    const top = files({
      'fmt.yaml': `${BASE}manifests: [ m.json, m.yaml ]\n`,
      'm.json': json,
      'm.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c}]}\n',
    });
    const ps = await problemsOf(loadTopology(top));
    const p = find(ps, 'items[1].spec.ports[0].port');
    expect(p.file).toBe(join(dir, 'm.json'));
    expect(p.line).toBe(json.split('\n').findIndex((l) => l.includes('99999')) + 1);
    writeFileSync(join(dir, 'm.json'), json.replace('99999', '81'));
    const t = await loadTopology(top);
    expect(t.store.get('Service', 'default/j1')).toBeDefined();
    expect(t.store.get('Pod', 'default/a')!.status!.podIP).toBeDefined();
    expect(t.store.get('Pod', 'default/b')).toBeDefined();
  });

  it('names a missing manifest file at its manifests[] entry', async () => {
    const ps = await problemsOf(loadTopologyText(`${BASE}manifests: [ nope.yaml ]\n`, join(dir, 'missing.yaml')));
    const p = find(ps, 'manifests[0]');
    expect(p.line).toBe(12);
    expect(p.message).toMatch(/cannot read manifest .*nope\.yaml: ENOENT/);
  });
});

describe('JSON topologies (fast path) and loadTopologyObject', () => {
  const topo = (objects: unknown[]) => ({
    name: 'j',
    cluster: { podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' },
    underlay: { networks: [{ name: 'lan', cidr: '192.168.56.0/24' }] },
    nodes: [
      { name: 'node-1', ip: '192.168.56.11', network: 'lan' },
      { name: 'node-2', ip: '192.168.56.12', network: 'lan', podCIDR: '10.244.9.0/24' },
    ],
    objects,
  });
  const svc = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }], ...spec } });
  /** 1-based line of the n-th (0-based) line of `text` containing `needle`: found independently of the loader. */
  const lineOf = (text: string, needle: string, n = 0) => text.split('\n').map((l, i) => (l.includes(needle) ? i + 1 : 0)).filter(Boolean)[n];

  it('names file, line and field of schema, topology and allocation problems in pretty-printed JSON', async () => {
    const value = topo([
      svc('a', { clusterIP: '10.96.5.5' }),
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: 'node-1', containers: [{ name: 'c', ports: [{ containerPort: 99999 }] }] } },
      svc('b', { clusterIP: '10.96.5.6' }),
    ]);
    (value.nodes[1] as Record<string, unknown>).podCIDR = '10.0.0.0/24';
    const text = JSON.stringify(value, null, 2);
    const file = join(dir, 'bad.json');
    const ps = await problemsOf(loadTopologyText(text, file));
    const port = find(ps, 'objects[1].spec.containers[0].ports[0].containerPort');
    expect(port.file).toBe(file);
    expect(port.line).toBe(lineOf(text, '99999'));
    expect(find(ps, 'nodes[1].podCIDR').line).toBe(lineOf(text, '"podCIDR": "10.0.0.0/24"'));
    // nothing else is wrong
    expect(ps.filter((p) => p.severity === 'error').map((p) => p.field).sort()).toEqual(['nodes[1].podCIDR', 'objects[1].spec.containers[0].ports[0].containerPort']);

    const text2 = JSON.stringify(topo([svc('a', { clusterIP: '10.96.5.5' }), svc('b', { clusterIP: '10.96.5.5' })]), null, 4);
    const ps2 = await problemsOf(loadTopologyText(text2, file));
    const cip = find(ps2, 'objects[1].spec.clusterIP');
    expect(cip.line).toBe(lineOf(text2, '"clusterIP": "10.96.5.5"', 1));
    expect(cip.message).toContain(`${file}:${lineOf(text2, '"clusterIP": "10.96.5.5"', 0)} (objects[0].spec.clusterIP)`);
  });

  it('gives line 1 for everything in one-line JSON, and still the field', async () => {
    const ps = await problemsOf(loadTopologyText(JSON.stringify(topo([svc('a', { clusterIP: '10.0.0.1' })])), 'one.json'));
    expect(find(ps, 'objects[0].spec.clusterIP')).toMatchObject({ file: 'one.json', line: 1 });
  });

  it('reports a key repeated in JSON with its line (through the YAML parser)', async () => {
    const text = '{\n  "name": "j",\n  "name": "k"\n}\n';
    const ps = await problemsOf(loadTopologyText(text, 'dup.json'));
    expect(ps[0]).toMatchObject({ file: 'dup.json', line: 3 });
    expect(ps[0]!.message).toMatch(/duplicate key/);
  });

  it('loads the same cluster from JSON text, YAML text and a plain object', async () => {
    const value = topo([svc('web', { selector: { app: 'web' } }), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c' }] } } } }]);
    const before = JSON.stringify(value);
    const fromJson = await loadTopologyText(JSON.stringify(value), 'x');
    const fromObject = await loadTopologyObject(value, 'x');
    // YAML: the same document written as YAML flow (not JSON: keys unquoted)
    const fromYaml = await loadTopologyText(JSON.stringify(value).replace(/"([A-Za-z]+)":/g, '$1: '), 'x');
    expect(JSON.stringify(value)).toBe(before); // the object is not changed
    const dump = (t: Awaited<ReturnType<typeof loadTopologyText>>) => JSON.stringify(['Pod', 'Service', 'EndpointSlice', 'ReplicaSet', 'Node'].map((k) => t.store.list(k as 'Pod')));
    expect(dump(fromObject)).toBe(dump(fromJson));
    expect(dump(fromYaml)).toBe(dump(fromJson));
    expect(fromJson.store.count('Pod')).toBe(3);
    expect(fromJson.nodes.map((n) => n.podCIDRs[0])).toEqual(['10.244.0.0/24', '10.244.9.0/24']);
  });

  it('loadTopologyObject names file and field, without a line', async () => {
    const ps = await problemsOf(loadTopologyObject(topo([svc('a', { clusterIP: '10.0.0.1' })]), 'gen'));
    const p = find(ps, 'objects[0].spec.clusterIP');
    expect(p.file).toBe('gen');
    expect(p.line).toBeUndefined();
    await expect(loadTopologyObject([1, 2], 'gen')).rejects.toThrow(/a topology file is a map/);
  });
});
