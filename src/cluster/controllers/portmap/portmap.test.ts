/**
 * The portmap plugin's rules. Facts: chain names from a real node (a Calico node's
 * `iptables -t nat -L`: chain CNI-DN-ef4fc125381c4fa682a00 for network "k8s-pod-network" and
 * container 50a94397…5212); rule texts as iptables-save 1.8.9 (nf_tables) printed them after the
 * plugin's calls were replayed with the real iptables in a netns (chain.go setup order:
 * SETMARK, MASQ with its POSTROUTING jump inserted at 1, CNI-HOSTPORT-DNAT jumps appended to
 * PREROUTING/OUTPUT, the pod's CNI-DN chain, its entry inserted at 1 of CNI-HOSTPORT-DNAT).
 */
import { describe, expect, it } from 'vitest';
import { emptyRuleset, formatIptablesSave } from '../../../netfilter/index.js';
import type { Pod } from '../../objects.js';
import { applyPortmapOps, dnatChainName, podAddress, portMappings, portmapOps, PORTMAP } from './index.js';

const BY = { kind: 'portmap', name: 'node-2', detail: 'test' };

function pod(ports: { containerPort: number; hostPort?: number; protocol?: 'TCP' | 'UDP' }[]): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x', ports }] } } as unknown as Pod;
}

function natLines(ops: ReturnType<typeof portmapOps>): string[] {
  const rs = applyPortmapOps(emptyRuleset(4), ops, BY);
  return formatIptablesSave(rs, { order: 'nft' })
    .split('\n')
    .filter((l) => l.startsWith('-A '));
}

describe('portmap', () => {
  it('chain names: CNI-DN- + sha512(network + container id), 28 characters (as on a real node)', () => {
    expect(dnatChainName('k8s-pod-network', '50a94397f8b7829adc7191a806a8679aeb5d459c8d375074bbc609a3bddc5212')).toBe('CNI-DN-ef4fc125381c4fa682a00');
  });

  it('runtime portMappings: only ports with a hostPort, protocol lower-case', () => {
    expect(portMappings(pod([{ containerPort: 80, hostPort: 8081 }, { containerPort: 9000 }, { containerPort: 5353, hostPort: 53, protocol: 'UDP' }]))).toEqual([
      { hostPort: 8081, containerPort: 80, protocol: 'tcp' },
      { hostPort: 53, containerPort: 5353, protocol: 'udp' },
    ]);
    expect(podAddress('10.244.1.5', ['10.244.1.0/24'])).toBe('10.244.1.5/24');
  });

  it('the rules as iptables-save shows them on the kernel', () => {
    const ops = portmapOps({ key: 'default/p', address: '10.244.1.5/24', mappings: [{ hostPort: 8081, containerPort: 8080, protocol: 'tcp' }] });
    const dn = (ops.find((o) => o.kind === 'chain' && o.chain.startsWith(PORTMAP.dnPrefix)) as { chain: string }).chain;
    const lines = natLines(ops).map((l) => l.replace(new RegExp(dn, 'g'), 'CNI-DN-abc').replace(/id: \\"[0-9a-f]{64}\\"/, 'id: \\"0123\\"'));
    expect(lines).toEqual([
      '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      '-A CNI-DN-abc -s 10.244.1.0/24 -p tcp -m tcp --dport 8081 -j CNI-HOSTPORT-SETMARK',
      '-A CNI-DN-abc -s 127.0.0.1/32 -p tcp -m tcp --dport 8081 -j CNI-HOSTPORT-SETMARK',
      '-A CNI-DN-abc -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.244.1.5:8080',
      '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"cbr0\\" id: \\"0123\\"" -m multiport --dports 8081 -j CNI-DN-abc',
      '-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE',
      '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000',
    ]);
  });

  it('a second pod shares the summary chains (InsertUnique) and its entry goes first in CNI-HOSTPORT-DNAT', () => {
    let rs = applyPortmapOps(emptyRuleset(4), portmapOps({ key: 'default/a', address: '10.244.1.5/24', mappings: [{ hostPort: 80, containerPort: 80, protocol: 'tcp' }] }), BY);
    rs = applyPortmapOps(rs, portmapOps({ key: 'default/b', address: '10.244.1.6/24', mappings: [{ hostPort: 443, containerPort: 443, protocol: 'tcp' }] }), BY);
    const nat = rs.tables.get('nat')!;
    expect(nat.chains.get('POSTROUTING')!.rules).toHaveLength(1);
    expect(nat.chains.get('PREROUTING')!.rules).toHaveLength(1);
    expect(nat.chains.get(PORTMAP.setMarkChain)!.rules).toHaveLength(1);
    const entries = nat.chains.get(PORTMAP.dnatChain)!.rules.map((r) => r.text);
    expect(entries[0]).toContain('--dports 443');
    expect(entries[1]).toContain('--dports 80');
  });

  it('protocols sorted, at most 15 ports per multiport rule; hostIP adds -d', () => {
    const mappings = Array.from({ length: 16 }, (_, i) => ({ hostPort: 1000 + i, containerPort: 1000 + i, protocol: 'tcp' as const }));
    const ops = portmapOps({ key: 'default/m', address: '10.244.1.7/24', mappings: [...mappings, { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '192.168.56.12' }] });
    const entries = ops.filter((o) => o.kind === 'rule' && o.chain === PORTMAP.dnatChain).map((o) => (o as { spec: string }).spec);
    expect(entries.map((e) => /-p (\w+) --destination-ports ([\d,]+)/.exec(e)!.slice(1))).toEqual([
      ['tcp', mappings.slice(0, 15).map((m) => m.hostPort).join(',')],
      ['tcp', '1015'],
      ['udp', '53'],
    ]);
    expect(ops.some((o) => o.kind === 'rule' && o.spec === '-p udp --dport 53 -d 192.168.56.12 -j DNAT --to-destination 10.244.1.7:53')).toBe(true);
  });
});
