import { describe, expect, it } from 'vitest';
import { InputError } from '../base/index.js';
import { DEFAULT_TIMEOUTS } from '../conntrack/index.js';
import { Rib } from '../routing/index.js';
import type { Sysctls } from './fabric.js';
import { applySysctls, applySysctlsToRib, conntrackTimeouts, formatSysctls } from './sysctls.js';

const BASE: Sysctls = { ipForward: false, rpFilter: 0, acceptLocal: [], routeLocalnet: false, bridgeNfCallIptables: true, proxyArp: [] };

describe('applySysctls', () => {
  it("kube-proxy's writes (pkg/proxy/iptables: route_localnet; conntrack: max, TCP established 24 h, close_wait 1 h)", () => {
    const s = applySysctls(BASE, [
      { key: 'net/ipv4/conf/all/route_localnet', value: 1 },
      { key: 'net/netfilter/nf_conntrack_max', value: 131072 },
      { key: 'net/netfilter/nf_conntrack_tcp_timeout_established', value: 86400 },
      { key: 'net/netfilter/nf_conntrack_tcp_timeout_close_wait', value: 3600 },
    ]);
    expect(s.routeLocalnet).toBe(true);
    expect(s.conntrack?.max).toBe(131072);
    const t = conntrackTimeouts(s);
    expect(t.tcp.ESTABLISHED).toBe(86400 * 1000);
    expect(t.tcp.CLOSE_WAIT).toBe(3600 * 1000);
    // the others keep the kernel's tcp_timeouts[]: SYN_SENT 2 min, TIME_WAIT 2 min
    expect(t.tcp.SYN_SENT).toBe(120 * 1000);
    expect(t.tcp.TIME_WAIT).toBe(DEFAULT_TIMEOUTS.tcp.TIME_WAIT);
    expect(BASE.routeLocalnet).toBe(false);
    expect(formatSysctls(s)).toContain('net.netfilter.nf_conntrack_tcp_timeout_established = 86400\n');
  });

  it('per-device conf keys, dotted or slashed; the Rib reads conf/all OR conf/<dev>', () => {
    const s = applySysctls(BASE, [
      { key: 'net.ipv4.conf.eth0.route_localnet', value: 1 },
      { key: 'net.ipv4.conf.cni0.proxy_arp', value: 1 },
      { key: 'net/ipv4/conf/eth0/accept_local', value: 1 },
      { key: 'net.ipv4.conf.all.rp_filter', value: 2 },
    ]);
    const rib = new Rib(['eth0', 'cni0']);
    applySysctlsToRib(s, rib);
    expect([...rib.routeLocalnet]).toEqual(['eth0']);
    expect([...rib.proxyArp]).toEqual(['cni0']);
    expect([...rib.acceptLocal]).toEqual(['eth0']);
    expect(s.rpFilter).toBe(2);
  });

  it('refuses unknown keys and bad values with the key named', () => {
    expect(() => applySysctls(BASE, [{ key: 'net/ipv4/tcp_fastopen', value: 3 }])).toThrow(InputError);
    expect(() => applySysctls(BASE, [{ key: 'net/ipv4/conf/all/route_localnet', value: 2 }])).toThrow(/route_localnet takes 0 or 1/);
    expect(() => applySysctls(BASE, [{ key: 'net/netfilter/nf_conntrack_max', value: -1 }])).toThrow(/non-negative/);
  });
});
