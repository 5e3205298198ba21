import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { podpath } from '../../../test/support/cli.js';
import { flannelVtepMac, loadTopology, nthHost, parseCidr, parseIptablesSave, formatIp, type Pod, type Service } from '../../index.js';

const TOPO = join(import.meta.dirname, '..', '..', '..', 'topologies', 'default.yaml');

describe('podpath rules', () => {
  it('--what iptables prints every ClusterIP of the store in KUBE-SERVICES, loadable again', async () => {
    const topo = await loadTopology(TOPO);
    const r = await podpath(['rules', '-t', TOPO, '--node', 'node-1', '--what', 'iptables']);
    expect(r.code).toBe(0);
    const rs = parseIptablesSave(r.out, { file: 'out' });
    const services = rs.tables.get('nat')!.chains.get('KUBE-SERVICES')!.rules.map((x) => x.text);
    for (const svc of topo.store.list('Service') as Service[]) {
      for (const port of svc.spec.ports ?? []) {
        expect(services.some((t) => t.includes(`-d ${svc.spec.clusterIP}/32`) && t.includes(`--dport ${port.port} `)), `${svc.metadata.name}:${port.port}`).toBe(true);
      }
    }
    // kubelet's and the monitors' chains are there, as on a real node
    expect(rs.tables.get('mangle')!.chains.has('KUBE-IPTABLES-HINT')).toBe(true);
    expect(rs.tables.get('filter')!.chains.get('INPUT')!.rules.at(-1)!.text).toBe('-A INPUT -j KUBE-FIREWALL');
  });

  it('--explain names the Service, slice, endpoint and pod behind each DNAT, and stays loadable', async () => {
    const topo = await loadTopology(TOPO);
    const r = await podpath(['rules', '-t', TOPO, '--node', 'node-1', '--what', 'iptables', '--explain']);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const webPods = (topo.store.list('Pod') as Pod[]).filter((p) => p.metadata.labels?.app === 'web');
    expect(webPods.length).toBe(3);
    for (const pod of webPods) {
      const i = lines.findIndex((l) => l.includes(`--to-destination ${pod.status!.podIP}:8080`) && l.includes('default/web:http"'));
      expect(i, pod.metadata.name).toBeGreaterThan(0);
      expect(lines[i + 1]).toMatch(new RegExp(`^#   made by Service default/web .*endpoint ${pod.status!.podIP!.replace(/\./g, '\\.')}:8080.*Pod default/${pod.metadata.name}`));
    }
    expect(() => parseIptablesSave(r.out, { file: 'explained' })).not.toThrow();
  });

  it('--what iptables-restore is kube-proxy\'s payload: filter then nat, each ending in COMMIT', async () => {
    const r = await podpath(['rules', '-t', TOPO, '--node', 'node-2', '--what', 'iptables-restore']);
    expect(r.code).toBe(0);
    const tables = r.out.split('\n').filter((l) => l.startsWith('*'));
    expect(tables).toEqual(['*filter', '*nat']);
    expect(r.out.match(/^COMMIT$/gm)).toHaveLength(2);
    expect(r.out).toContain(':KUBE-SERVICES - [0:0]');
  });

  it('--what routes and neigh: the flannel vxlan route and permanent VTEP entry per peer subnet', async () => {
    const topo = await loadTopology(TOPO);
    const routes = await podpath(['rules', '-t', TOPO, '--node', 'node-2', '--what', 'routes']);
    const neigh = await podpath(['rules', '-t', TOPO, '--node', 'node-2', '--what', 'neigh']);
    for (const peer of topo.nodes.filter((n) => n.name !== 'node-2')) {
      const c = parseCidr(peer.podCIDRs[0]!);
      const net = formatIp(c.network);
      expect(routes.out).toContain(`${net}/${c.prefix} via ${net} dev flannel.1 onlink`);
      expect(neigh.out).toContain(`${net} dev flannel.1 lladdr ${flannelVtepMac(peer.name)} PERMANENT`);
    }
    const own = parseCidr(topo.nodes.find((n) => n.name === 'node-2')!.podCIDRs[0]!);
    expect(routes.out).toContain(`dev cni0 proto kernel scope link src ${formatIp(nthHost(own, 1))}`);
  });

  it('bad input: unknown node (with a suggestion), an unknown --what, a broken topology', async () => {
    const noNode = await podpath(['rules', '-t', TOPO, '--node', 'node-9']);
    expect(noNode.code).toBe(2);
    expect(noNode.err).toMatch(/no node "node-9".*did you mean node-1\?/);
    const unknown = await podpath(['rules', '-t', TOPO, '--node', 'node-1', '--what', 'bpg']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('--what: "bpg" is not one of iptables');
    const missing = await podpath(['rules', '-t', join(TOPO, '..', 'nope.yaml'), '--node', 'node-1']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('nope.yaml');
  });
});

describe('podpath netfilter -t', () => {
  it('laptop → NodePort on node-1: every web pod an outcome, always masqueraded', async () => {
    const topo = await loadTopology(TOPO);
    const svc = topo.store.get('Service', 'default/web-nodeport') as Service;
    const nodePort = svc.spec.ports![0]!.nodePort!;
    const r = await podpath(['netfilter', '-t', TOPO, '--node', 'node-1', '--src', '192.168.56.200', '--dst', '192.168.56.11', '--dport', String(nodePort), '--all', '--format', 'json']);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out);
    const webIps = (topo.store.list('Pod') as Pod[]).filter((p) => p.metadata.labels?.app === 'web').map((p) => p.status!.podIP).sort();
    expect(t.outcomes.map((o: { final: { dst: string } }) => o.final.dst).sort()).toEqual(webIps);
    for (const o of t.outcomes) expect(o.masqueraded).toBe(true);
    expect(t.outcomes.reduce((s: number, o: { probability: number }) => s + o.probability, 0)).toBeCloseTo(1, 9);
  });

  it('pod → its own ClusterIP: only the hairpin outcome is masqueraded', async () => {
    const topo = await loadTopology(TOPO);
    const web = topo.store.get('Service', 'default/web') as Service;
    const local = (topo.store.list('Pod') as Pod[]).find((p) => p.metadata.labels?.app === 'web' && p.spec.nodeName === 'node-1')!;
    const r = await podpath(['netfilter', '-t', TOPO, '--node', 'node-1', '--src', local.status!.podIP!, '--dst', web.spec.clusterIP!, '--dport', '80', '--all', '--format', 'json']);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out);
    expect(t.outcomes).toHaveLength(3);
    for (const o of t.outcomes) expect(o.masqueraded).toBe(o.final.dst === local.status!.podIP);
  });

  it('-t cannot be combined with a hand-made host', async () => {
    const r = await podpath(['netfilter', '-t', TOPO, '--node', 'node-1', '--local-ips', '10.0.0.1', '--src', '10.0.0.2', '--dst', '10.0.0.1', '--dport', '80']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--local-ips');
  });
});

describe('podpath rules --what ipvs | ipset (kube-proxy IPVS mode)', () => {
  const IPVS = join(import.meta.dirname, '..', '..', '..', 'topologies', 'flannel-vxlan-ipvs.yaml');
  it('ipvsadm -Ln lists a VS per ClusterIP port with the rr scheduler; ipset save has KUBE-CLUSTER-IP with each ClusterIP,proto:port', async () => {
    const topo = await loadTopology(IPVS);
    const list = await podpath(['rules', '-t', IPVS, '--node', 'node-1', '--what', 'ipvs']);
    expect(list.code).toBe(0);
    expect(list.out.split('\n')[0]).toBe('IP Virtual Server version 1.2.1 (size=4096)');
    const sets = await podpath(['rules', '-t', IPVS, '--node', 'node-1', '--what', 'ipset']);
    expect(sets.code).toBe(0);
    for (const svc of topo.store.list('Service') as Service[])
      for (const port of svc.spec.ports ?? []) {
        const proto = (port.protocol ?? 'TCP').toUpperCase();
        expect(list.out, `${svc.metadata.name}:${port.port}`).toMatch(new RegExp(`^${proto}  ${svc.spec.clusterIP!.replace(/\./g, '\\.')}:${port.port} rr`, 'm'));
        expect(sets.out).toContain(`add KUBE-CLUSTER-IP ${svc.spec.clusterIP},${proto.toLowerCase()}:${port.port}\n`);
      }
  });
  it('iptables mode: no VS (header only) and no set', async () => {
    expect((await podpath(['rules', '-t', TOPO, '--node', 'node-1', '--what', 'ipset'])).out).toBe('');
    const l = await podpath(['rules', '-t', TOPO, '--node', 'node-1', '--what', 'ipvs']);
    expect(l.out.trim().split('\n')).toHaveLength(3);
  });
});
