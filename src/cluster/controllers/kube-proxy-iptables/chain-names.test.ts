import { describe, expect, it } from 'vitest';
import { base32Std, formatFixed10, hash16, probability, servicePortEndpointChainName, servicePortPolicyClusterChain, serviceFirewallChainName, serviceExternalChainName, servicePortPolicyLocalChainName, isServiceChainName } from './chain-names.js';

describe('chain names (values from upstream proxier_test.go expected outputs)', () => {
  it('KUBE-SVC/EXT/FW/SVL share h16(NAME + protocol)', () => {
    expect(servicePortPolicyClusterChain('ns1/svc1:p80', 'tcp')).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(servicePortPolicyClusterChain('ns2/svc2:p80', 'tcp')).toBe('KUBE-SVC-GNZBNJ2PO5MGZ6GT');
    expect(serviceExternalChainName('ns2/svc2:p80', 'tcp')).toBe('KUBE-EXT-GNZBNJ2PO5MGZ6GT');
    expect(servicePortPolicyLocalChainName('ns2/svc2:p80', 'tcp')).toBe('KUBE-SVL-GNZBNJ2PO5MGZ6GT');
    expect(servicePortPolicyClusterChain('ns3/svc3:p80', 'tcp')).toBe('KUBE-SVC-X27LE4BHSL4DOUIK');
    expect(servicePortPolicyClusterChain('ns4/svc4:p80', 'tcp')).toBe('KUBE-SVC-4SW47YFZTEDKD3PK');
    expect(serviceFirewallChainName('ns5/svc5:p80', 'tcp')).toBe('KUBE-FW-NUKIZ6OKUXPJNT4C');
    expect(servicePortPolicyClusterChain('ns2/svc2:p8080', 'tcp')).toBe('KUBE-SVC-2VJB64SDSIJUP5T6');
    expect(servicePortPolicyClusterChain('ns4/svc4:p8082', 'tcp')).toBe('KUBE-SVC-EBDQOQU5SJFXRIL3');
  });
  it('KUBE-SEP is h16(NAME + protocol + "ip:port")', () => {
    expect(servicePortEndpointChainName('ns1/svc1:p80', 'tcp', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(servicePortEndpointChainName('ns2/svc2:p80', 'tcp', '10.180.0.2:80')).toBe('KUBE-SEP-RS4RBKLTHTF2IUXJ');
    expect(servicePortEndpointChainName('ns3/svc3:p80', 'tcp', '10.180.0.3:80')).toBe('KUBE-SEP-OYPFS5VJICHGATKP');
    expect(servicePortEndpointChainName('ns5/svc5:p80', 'tcp', '10.180.0.3:80')).toBe('KUBE-SEP-I77PXRDZVX7PMWMN');
    expect(servicePortEndpointChainName('ns4/svc4:p80', 'tcp', '10.180.0.4:80')).toBe('KUBE-SEP-UKSFD7AGPMPPLUHC');
    expect(servicePortEndpointChainName('ns4/svc4:p80', 'tcp', '10.180.0.5:80')).toBe('KUBE-SEP-C6EBXVWJJZMIWKLZ');
    expect(servicePortEndpointChainName('ns1/svc1:p80', 'tcp', '10.0.0.0:80')).toBe('KUBE-SEP-DKGQUZGBKLTPAR56');
    expect(servicePortEndpointChainName('ns3/svc3:p8081', 'tcp', '203.0.113.4:8081')).toBe('KUBE-SEP-RUVVH7YV3PHQBDOS');
    expect(servicePortEndpointChainName('ns4/svc4:p8082', 'tcp', '10.4.0.1:8082')).toBe('KUBE-SEP-SU5STNODRYEWJAUF');
  });
  it('IPv6 endpoints hash with brackets (value from python hashlib + base64.b32encode)', () => {
    expect(servicePortEndpointChainName('ns1/svc1:p80', 'tcp', '[fd00:10:180::1]:80')).toBe('KUBE-SEP-OGYCNMB4EMRUSJ6N');
    expect(hash16('ns1/svc1:p80tcp[fd00:10:180::2:1]:80')).toBe('APSFVWOCYOGIDJM2');
  });
  it('base32 is RFC 4648 with padding (RFC 4648 §10 test vectors)', () => {
    const b = (s: string) => base32Std(new TextEncoder().encode(s));
    expect(b('f')).toBe('MY======');
    expect(b('fo')).toBe('MZXQ====');
    expect(b('foob')).toBe('MZXW6YQ=');
    expect(b('foobar')).toBe('MZXW6YTBOI======');
  });
  it('isServiceChainName knows the five prefixes only', () => {
    expect(isServiceChainName('KUBE-SVL-X')).toBe(true);
    expect(isServiceChainName('KUBE-SERVICES')).toBe(false);
    expect(isServiceChainName('KUBE-MARK-MASQ')).toBe(false);
  });
});

describe('probability: Go %0.10f of 1/n (values from python "%0.10f", which rounds like Go)', () => {
  it('formats', () => {
    expect(probability(2)).toBe('0.5000000000');
    expect(probability(3)).toBe('0.3333333333');
    expect(probability(6)).toBe('0.1666666667');
    expect(probability(7)).toBe('0.1428571429');
    expect(probability(1000)).toBe('0.0010000000');
    expect(probability(100001)).toBe('0.0000099999');
    expect(probability(10240)).toBe('0.0000976563');
  });
  it('breaks exact ties to even, unlike Number#toFixed (n = 2048)', () => {
    expect((1 / 2048).toFixed(10)).toBe('0.0004882813');
    expect(probability(2048)).toBe('0.0004882812');
    expect(formatFixed10(1)).toBe('1.0000000000');
  });
});

describe('sha256Words (FIPS 180-4 vectors, and node:crypto for long and non-ASCII input)', () => {
  const hex = (w: Int32Array) => [...w].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
  it('matches', async () => {
    const { sha256Words } = await import('./chain-names.js');
    const { createHash } = await import('node:crypto');
    expect(hex(sha256Words('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(sha256Words(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (const s of ['a'.repeat(55), 'b'.repeat(56), 'c'.repeat(64), 'd'.repeat(200), 'ns/ünïcode:p80tcp[fd00::1]:80'])
      expect(hex(sha256Words(s))).toBe(createHash('sha256').update(s, 'utf8').digest('hex'));
  });
  it('matches node:crypto at every length across the one-, two- and three-block padding boundaries', async () => {
    const { sha256Words } = await import('./chain-names.js');
    const { createHash } = await import('node:crypto');
    for (let n = 0; n <= 140; n++) {
      const s = Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7) % 94))).join('');
      expect(hex(sha256Words(s)), `length ${n}`).toBe(createHash('sha256').update(s).digest('hex'));
      const u = s + 'é';
      expect(hex(sha256Words(u)), `length ${n} + é`).toBe(createHash('sha256').update(u, 'utf8').digest('hex'));
    }
  });
});
