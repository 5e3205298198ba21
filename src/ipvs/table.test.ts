import { describe, expect, it } from 'vitest';
import { parseIp } from '../base/index.js';
import { fwmHashKey, svcHashKey } from './hash.js';
import { loadIpvsadmSave } from './ipvsadm.js';
import { IpvsServiceTable } from './table.js';

describe('IPVS service tables', () => {
  it('hashes <proto, addr, port> as ip_vs_svc_hashkey and fwmarks as ip_vs_svc_fwm_hashkey', () => {
    // (6 ^ 0x0a60000a ^ (80 >> 8) ^ 80) & 0xff = 0x06 ^ 0x0a ^ 0x50 = 0x5c
    expect(svcHashKey(6, parseIp('10.96.0.10'), 80)).toBe(0x5c);
    // UDP 53: (17 ^ 0x0a ^ 0 ^ 53) & 0xff = 0x11 ^ 0x0a ^ 0x35 = 0x2e
    expect(svcHashKey(17, parseIp('10.96.0.10'), 53)).toBe(0x2e);
    // port 8443 = 0x20fb: (6 ^ 0x01 ^ 0x20 ^ 0xfb) & 0xff for 10.0.0.1
    expect(svcHashKey(6, parseIp('10.0.0.1'), 8443)).toBe((6 ^ 1 ^ 0x20 ^ 0xfb) & 0xff);
    expect(fwmHashKey(0x1234)).toBe(0x34);
    expect(fwmHashKey(5, 0x100)).toBe(5);
  });

  it('finds a service with one hash and reports the bucket; misses name the bucket too', () => {
    const t = loadIpvsadmSave('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m\n-A -f 9 -s rr\n');
    const hit = t.lookup('tcp', parseIp('10.96.0.10'), 80);
    expect(hit.service?.key).toMatchObject({ kind: 'addr', port: 80 });
    expect([hit.table, hit.bucket, hit.compared]).toEqual(['svc', 0x5c, 1]);
    const miss = t.lookup('udp', parseIp('10.96.0.10'), 80);
    expect(miss.service).toBeNull();
    expect(miss.why).toMatch(/no virtual service UDP 10.96.0.10:80/);
    const fw = t.lookup('tcp', parseIp('10.1.1.1'), 1234, 9);
    expect([fw.table, fw.bucket, fw.service?.key.kind]).toEqual(['fwmark', 9, 'fwmark']);
  });

  it('falls back to the port-zero service of a persistent VIP', () => {
    const t = loadIpvsadmSave('-A -t 10.0.0.5:0 -s rr -p 60\n-a -t 10.0.0.5:0 -r 10.0.1.1:0 -g\n');
    const r = t.lookup('tcp', parseIp('10.0.0.5'), 22);
    expect(r.service?.key).toMatchObject({ port: 0 });
    expect(r.probes.length).toBe(2);
  });

  it('keeps colliding services in one bucket, newest first (list_add)', () => {
    const t = new IpvsServiceTable();
    // 10.0.0.1:80 and 10.0.1.1:80 differ only in bits that the & 0xff mask drops.
    const a = t.addService({ kind: 'addr', protocol: 'tcp', addr: parseIp('10.0.0.1'), port: 80 }, { scheduler: 'rr' });
    const b = t.addService({ kind: 'addr', protocol: 'tcp', addr: parseIp('10.0.1.1'), port: 80 }, { scheduler: 'rr' });
    const la = t.lookup('tcp', parseIp('10.0.0.1'), 80);
    const lb = t.lookup('tcp', parseIp('10.0.1.1'), 80);
    expect(la.bucket).toBe(lb.bucket);
    expect([la.service, la.compared]).toEqual([a, 2]);
    expect([lb.service, lb.compared]).toEqual([b, 1]);
  });

  it('puts a new real server at the head of the list (list_add_rcu in __ip_vs_update_dest)', () => {
    const t = loadIpvsadmSave('-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m\n-a -t 10.0.0.1:80 -r 10.0.1.2:80 -m\n');
    expect(t.services()[0]!.dests.map((d) => Number(d.addr.n) & 255)).toEqual([2, 1]);
  });
});
