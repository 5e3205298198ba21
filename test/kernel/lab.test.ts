import { afterAll, describe, expect, it } from 'vitest';
import { Lab, labSupport, processLeftovers, ruleCounters, skipNotice } from './lab.js';
import { buildTopology, ENDPOINTS, HOST_IPS, HOST_TCP_PORT, SERVER_UDP_PORT, type Topology } from './topology.js';

const support = labSupport();
if (!support.ok) console.warn(skipNotice(support));

describe.skipIf(!support.ok)('kernel lab harness', () => {
  const lab = new Lab('lab');
  let topo: Topology;
  afterAll(() => lab.cleanup());

  it('builds client/host/server namespaces that route through the host', async () => {
    topo = await buildTopology(lab);
    const [r] = await lab.tcpConnect(topo.client, ENDPOINTS[1], 8080);
    expect(r).toMatchObject({ ok: true, servedBy: `${ENDPOINTS[1]}:8080`, peer: `${ENDPOINTS[1]}:8080` });
    expect(r!.clientSeen).toMatch(/^10\.0\.1\.2:\d+$/);
    const [h] = await lab.tcpConnect(topo.client, HOST_IPS.s, HOST_TCP_PORT, { src: '10.0.1.3', sport: 40123 });
    expect(h).toMatchObject({ ok: true, local: '10.0.1.3:40123', clientSeen: '10.0.1.3:40123' });
    const u = await lab.udpSend(topo.client, ENDPOINTS[2], SERVER_UDP_PORT);
    expect(u).toMatchObject({ ok: true, replyFrom: `${ENDPOINTS[2]}:${SERVER_UDP_PORT}`, servedBy: `${ENDPOINTS[2]}:${SERVER_UDP_PORT}` });
    expect((await lab.ping(topo.client, ENDPOINTS[0])).code).toBe(0);
  });

  it('nothing appears in the root namespace and counters/conntrack are readable', async () => {
    await lab.iptablesRestore(topo.host, '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -p tcp -m conntrack --ctstate NEW,ESTABLISHED -m tcp --dport 8080\nCOMMIT\n');
    await lab.tcpConnect(topo.client, ENDPOINTS[0], 8080, { count: 2 });
    const c = ruleCounters(await lab.iptablesSave(topo.host, 'filter'));
    // SYN, ACK, data/FIN … of two connections: more packets than connections
    expect(c.get('filter FORWARD 1')).toBeGreaterThan(2);
    const ct = await lab.conntrack(topo.host);
    expect(ct.some((l) => l.includes(`dst=${ENDPOINTS[0]}`) && l.includes('dport=8080'))).toBe(true);
  });

  it('cleanup removes every namespace of the lab', async () => {
    expect(lab.leftovers().length).toBe(3);
    await lab.cleanup();
    expect(lab.leftovers()).toEqual([]);
    expect(processLeftovers()).toEqual([]);
  });
});
