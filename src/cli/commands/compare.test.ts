import { describe, expect, it } from 'vitest';
import { podpath } from '../../../test/support/cli.js';

const REQ = ['--from', 'pod/default/client', '--to', 'svc/default/web:80'];

describe('podpath compare', () => {
  it('prints the table; exit 0 when every row delivers', async () => {
    const r = await podpath(['compare', '-t', 'topologies/flannel-vxlan.yaml', ...REQ, '--modes', 'flannel-vxlan,calico-ipip', '--proxy', 'iptables', '--all']);
    expect(r.err).toBe('');
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^MODE\s+PROXY\s+DISPOSITION\s+ENDPOINT\s+HOPS\s+ENCAP\s+POD-MTU\s+RULES\s+ROUTES\/NODE\s+BGP$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^flannel-vxlan\s+iptables\s+delivered\s+3 endpoints\s+3-4\s+0-50\s+1450\s/);
    expect(lines[2]).toMatch(/^calico-ipip\s+iptables\s+delivered\s+3 endpoints\s+3-4\s+0-20\s+1480\s.*\s3$/);
    expect(r.code).toBe(0);
  }, 60_000);

  it('--format json: an array of typed rows; exit 1 when a row does not deliver', async () => {
    const r = await podpath(['compare', '-t', 'topologies/calico-bgp-routed.yaml', ...REQ, '--modes', 'flannel-vxlan,flannel-host-gw', '--proxy', 'iptables', '--format', 'json']);
    const rows = JSON.parse(r.out) as { mode: string; proxy: string; delivered: boolean; disposition: string; podMtu: { min: number } }[];
    expect(rows.map((x) => [x.mode, x.proxy])).toEqual([
      ['flannel-vxlan', 'iptables'],
      ['flannel-host-gw', 'iptables'],
    ]);
    expect(rows.map((x) => typeof x.delivered)).toEqual(['boolean', 'boolean']);
    expect(rows.map((x) => x.podMtu.min)).toEqual([1450, 1500]);
    // host-gw cannot route to the node behind the router: some outcome fails, so exit 1
    expect(rows[1]!.delivered).toBe(false);
    expect(r.code).toBe(1);
  }, 60_000);

  it('an unknown mode is bad input (exit 2) naming the valid ones', async () => {
    const r = await podpath(['compare', '-t', 'topologies/default.yaml', ...REQ, '--modes', 'flannel-vxlan,cilium']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--modes: unknown mode "cilium" \(valid: flannel-vxlan, flannel-host-gw, calico-bgp, calico-ipip, calico-ipip-crosssubnet, calico-vxlan, calico-vxlan-crosssubnet\)/);
    expect(r.out).toBe('');
    const p = await podpath(['compare', '-t', 'topologies/default.yaml', ...REQ, '--proxy', 'nftables', '--format', 'yaml']);
    expect(p.code).toBe(2);
    expect(p.err).toMatch(/--proxy: unknown mode "nftables".* \(valid: iptables, ipvs\)/);
    expect(p.err).toMatch(/--format: "yaml" is not one of text, json/);
  });

  it('a missing pod or topology file is bad input (exit 2)', async () => {
    const r = await podpath(['compare', '-t', 'topologies/default.yaml', '--from', 'pod/default/clinet', '--to', 'svc/default/web:80', '--proxy', 'iptables']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no pod default\/clinet; did you mean default\/client\?/);
    const f = await podpath(['compare', '-t', 'topologies/nope.yaml', ...REQ]);
    expect(f.code).toBe(2);
    expect(f.err).toMatch(/nope\.yaml.*cannot read/);
  }, 60_000);
});
