import { describe, expect, it } from 'vitest';
import { InputError } from '../base/index.js';
import { CNI_MODES, cniModeOf, parseCniModes, parseProxyModes, variantDocument } from './modes.js';

describe('mode lists', () => {
  it('an unknown mode lists the valid ones', () => {
    expect(() => parseCniModes('flannel-vxlan,calico-ipipp')).toThrow(InputError);
    try {
      parseCniModes('flannel-vxlan,calico-ipipp');
    } catch (e) {
      const msg = (e as InputError).problems[0]!.message;
      expect(msg).toMatch(/unknown mode "calico-ipipp"; did you mean calico-ipip\?/);
      for (const m of CNI_MODES) expect(msg).toContain(m);
      expect((e as InputError).problems[0]!.field).toBe('--modes');
    }
    expect(() => parseProxyModes('iptables,nftables')).toThrow(/unknown mode "nftables".*valid: iptables, ipvs/);
  });

});

describe('variantDocument', () => {
  it('replaces cluster.cni and kubeProxy.mode, keeps the rest, never changes its input', () => {
    const doc = { name: 'x', cluster: { cni: { plugin: 'calico', mode: 'bgp', bgp: { routeReflectors: ['node-1'] }, asNumber: 64600 }, kubeProxy: { mode: 'iptables', masqueradeAll: true } }, objects: [{ kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.244.0.0/16', ipipMode: 'Never' } }] };
    const before = structuredClone(doc);
    const v = variantDocument(doc, 'calico-ipip-crosssubnet', 'ipvs') as typeof doc & { cluster: { cni: Record<string, unknown> } };
    expect(doc).toEqual(before);
    expect(v.cluster.cni).toEqual({ plugin: 'calico', mode: 'ipip', encapsulation: 'CrossSubnet', bgp: { routeReflectors: ['node-1'] }, asNumber: 64600 });
    expect(v.cluster.kubeProxy).toEqual({ mode: 'ipvs', masqueradeAll: true });
    expect(v.objects[0]!.spec).toEqual({ cidr: '10.244.0.0/16', ipipMode: 'CrossSubnet', vxlanMode: 'Never' });
    const f = variantDocument(doc, 'flannel-vxlan', 'iptables') as typeof doc & { cluster: { cni: Record<string, unknown> } };
    expect(f.cluster.cni).toEqual({ plugin: 'flannel', mode: 'vxlan' });
    expect(cniModeOf(doc)).toBe('calico-bgp');
    expect(cniModeOf({ cluster: { cni: { plugin: 'calico', mode: 'vxlan' } } })).toBe('calico-vxlan');
  });
});

