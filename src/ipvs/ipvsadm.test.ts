import { describe, expect, it } from 'vitest';
import { InputError, parseIp } from '../base/index.js';
import { formatIpvsadmList, formatIpvsadmSave, glibcMsort, loadIpvsadmSave, parseIpvsadmSave } from './ipvsadm.js';

// Lines as kube-proxy's IPVS proxier leaves them and `ipvsadm -Sn` prints them (ipvsadm 1.31 print_service_entry, FMT_RULE).
const SAVE = `-A -t 10.96.0.1:443 -s rr
-a -t 10.96.0.1:443 -r 192.168.56.11:6443 -m -w 1
-A -t 10.96.0.10:53 -s rr
-a -t 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1
-a -t 10.96.0.10:53 -r 10.244.0.3:53 -m -w 1
-A -u 10.96.0.10:53 -s rr
-a -u 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1
-a -u 10.96.0.10:53 -r 10.244.0.3:53 -m -w 1
-A -t 10.96.100.7:80 -s rr -p 10800
-a -t 10.96.100.7:80 -r 10.244.1.5:8080 -m -w 1
-A -f 5 -s wlc -p 360 -M 255.255.255.0
-a -f 5 -r 10.244.2.9:0 -g -w 3
`;

describe('ipvsadm -Sn', () => {
  it('parses and writes back the same lines (services sorted as ipvsadm sorts them)', () => {
    const t = loadIpvsadmSave(SAVE);
    // ipvs_cmp_services: non-fwmark (fwmark 0) first, then TCP (6) before UDP (17), then address, port.
    expect(formatIpvsadmSave(t)).toBe(`-A -t 10.96.0.1:443 -s rr
-a -t 10.96.0.1:443 -r 192.168.56.11:6443 -m -w 1
-A -t 10.96.0.10:53 -s rr
-a -t 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1
-a -t 10.96.0.10:53 -r 10.244.0.3:53 -m -w 1
-A -t 10.96.100.7:80 -s rr -p 10800
-a -t 10.96.100.7:80 -r 10.244.1.5:8080 -m -w 1
-A -u 10.96.0.10:53 -s rr
-a -u 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1
-a -u 10.96.0.10:53 -r 10.244.0.3:53 -m -w 1
-A -f 5 -s wlc -p 360 -M 255.255.255.0
-a -f 5 -r 10.244.2.9:0 -g -w 3
`);
    expect(formatIpvsadmSave(loadIpvsadmSave(formatIpvsadmSave(t)))).toBe(formatIpvsadmSave(t));
  });

  it('applies ipvsadm defaults: scheduler wlc, weight 1, -g, -p 360, real port = virtual port', () => {
    const t = loadIpvsadmSave('-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1\n-A -u 10.0.0.2:53 -p\n-a -u 10.0.0.2:53 -r 10.0.1.2:5353 -g');
    expect(formatIpvsadmSave(t)).toBe('-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 1\n-A -u 10.0.0.2:53 -s wlc -p 360\n-a -u 10.0.0.2:53 -r 10.0.1.2:53 -g -w 1\n');
  });

  it('reads long options, IPv6, sctp, sched flags, thresholds and tunnel dests', () => {
    const t = loadIpvsadmSave(
      '--add-service --sctp-service [fd00::10]:9000 --scheduler sh --sched-flags sh-port,sh-fallback\n' +
        '--add-server --sctp-service [fd00::10]:9000 --real-server [fd00::5]:9000 --masquerading --weight=2 -x 100 -y 50\n' +
        '-A -t 10.0.0.9:80 -s mh -b mh-port\n-a -t 10.0.0.9:80 -r 10.0.3.3:80 -i -w 0 --tun-type ipip\n',
    );
    expect(formatIpvsadmSave(t)).toBe(
      '-A -t 10.0.0.9:80 -s mh -b mh-port\n-a -t 10.0.0.9:80 -r 10.0.3.3:80 -i -w 0 --tun-type ipip\n' +
        '-A --sctp-service [fd00::10]:9000 -s sh -b sh-fallback,sh-port\n-a --sctp-service [fd00::10]:9000 -r [fd00::5]:9000 -m -w 2\n',
    );
    const d = t.services().find((s) => s.scheduler === 'sh')!.dests[0]!;
    expect([d.uThreshold, d.lThreshold]).toEqual([100, 50]);
  });

  it('rejects bad lines with the line and the option', () => {
    const bad = ['-A -t 10.0.0.1:80 -s rr', '-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 65536', '-A -t 10.0.0.2:80 -s fancy', '-A -t 10.0.0.300:80 -s rr', '-X -t 1.2.3.4:5', '-a -t 10.0.0.1:80 -r 10.0.1.1 -w -1'].join('\n');
    let err: unknown;
    try {
      parseIpvsadmSave(bad, { file: 'node-1.ipvs' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const p = (err as InputError).problems;
    expect(p.map((x) => [x.line, x.field])).toEqual([
      [2, '-w'],
      [3, '-s'],
      [4, '-t'],
      [5, '-X'],
      [6, '-w'],
    ]);
    expect(p[0]!.file).toBe('node-1.ipvs');
    expect(p[0]!.message).toMatch(/illegal weight/);
    expect(p[1]!.message).toMatch(/unknown scheduler "fancy"/);
  });

  it('reports kernel errors (duplicate service, server of an unknown service) with their line, building nothing', () => {
    expect(() => loadIpvsadmSave('-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr')).toThrow(/:2 \(-A\): Service already exists/);
    expect(() => loadIpvsadmSave('-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m')).toThrow(/:1 \(-a\): Service not defined/);
    expect(() => loadIpvsadmSave('-A -t 10.0.0.1:0 -s rr')).toThrow(/Zero port specified for non-persistent service/);
    expect(() => loadIpvsadmSave('-A -t 10.0.0.1:53 -s rr -o')).toThrow(/only for UDP/);
  });
});

describe('ipvsadm -Ln', () => {
  it('prints the columns of print_title / print_service_entry', () => {
    const t = loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr -p 10800\n-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1\n-a -t 10.96.0.10:80 -r 10.244.2.6:8080 -m -w 0\n-A -f 7 -s sh -b sh-port\n');
    const s = t.services()[0]!;
    s.dests.find((d) => d.weight === 1)!.activeConns = 3;
    expect(formatIpvsadmList(t)).toBe(
      [
        'IP Virtual Server version 1.2.1 (size=4096)',
        'Prot LocalAddress:Port Scheduler Flags',
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
        'TCP  10.96.0.10:80 rr persistent 10800',
        '  -> 10.244.1.5:8080              Masq    1      3          0         ',
        '  -> 10.244.2.6:8080              Masq    0      0          0         ',
        'FWM  7 sh (sh-port)',
        '',
      ].join('\n'),
    );
  });

  it('prints --stats with print_largenum widths', () => {
    const t = loadIpvsadmSave('-A -u 10.96.0.10:53 -s rr\n-a -u 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1\n');
    const s = t.services()[0]!;
    s.stats = { conns: 12, inPkts: 123456789, outPkts: 0, inBytes: 2_500_000_000, outBytes: 7 };
    expect(formatIpvsadmList(t, { stats: true })).toBe(
      [
        'IP Virtual Server version 1.2.1 (size=4096)',
        'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
        '  -> RemoteAddress:Port',
        'UDP  10.96.0.10:53                      12  123456K        0    2500M        7',
        '  -> 10.244.0.2:53                       0        0        0        0        0',
        '',
      ].join('\n'),
    );
  });
});

describe('ipvsadm sort order', () => {
  it('orders addresses by wrapping int subtraction, as libipvs ipvs_cmp_dests does', () => {
    // 10.0.0.1 - 192.168.0.1 as u32 wraps to a positive int, so ipvsadm lists 192.168.0.1 first.
    const t = loadIpvsadmSave('-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 10.0.0.1:6443 -m\n-a -t 10.96.0.1:443 -r 192.168.0.1:6443 -m\n');
    expect(formatIpvsadmSave(t).split('\n')[1]).toBe('-a -t 10.96.0.1:443 -r 192.168.0.1:6443 -m -w 1');
  });
  it('glibcMsort is a stable merge sort', () => {
    const xs = [3, 1, 2, 1, 3].map((v, i) => ({ v, i }));
    expect(glibcMsort(xs, (a, b) => a.v - b.v).map((x) => x.i)).toEqual([1, 3, 2, 0, 4]);
    expect(parseIp('10.0.0.1').family).toBe(4);
  });
});
