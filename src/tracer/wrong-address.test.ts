/**
 * A reply from the wrong address (topologies/hostnetwork-udp-vip.yaml). Checked on the kernel
 * (netns, 6.x): a server socket bound to 0.0.0.0:5353 answering with sendto on a host holding
 * 192.168.56.11/24 and 192.168.56.99/24 answered a datagram sent to .99 from
 * "192.168.56.11.5353 > 192.168.56.200.40000"; the client's connected socket timed out and its
 * kernel sent "ICMP 192.168.56.200 udp port 40000 unreachable" back.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTopology } from '../cluster/spec/loader.js';
import { buildWorld, type World } from '../cluster/world.js';
import { validateTrace } from '../trace/index.js';
import { traceDelivered, traceRequest } from './trace.js';

let world: World;
beforeAll(async () => {
  world = buildWorld(await loadTopology(join(import.meta.dirname, '..', '..', 'topologies', 'hostnetwork-udp-vip.yaml')));
});

describe('a reply from an address the client did not send to', () => {
  it('UDP to the VIP: the wildcard-bound server answers from the primary address; the client has no socket for it', () => {
    const { trace } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.99:5353', proto: 'udp' });
    expect(validateTrace(trace)).toEqual([]);
    const o = trace.outcomes[0]!;
    expect(o.disposition).toBe('delivered');
    expect(o.received).toMatchObject({ dst: '192.168.56.99', dport: 5353 });
    expect(o.reply?.received).toEqual({ src: '192.168.56.11', sport: 5353, dst: '192.168.56.200', dport: 40000, proto: 'udp' });
    expect(o.reply?.matchesRequest).toBe(false);
    expect(o.reply?.disposition).toBe('no-listener');
    expect(o.reply?.reason).toMatch(/udp_sendmsg.*192\.168\.56\.11.*not 192\.168\.56\.99/);
    expect(traceDelivered(trace)).toBe(false);
  });

  it('TCP to the VIP answers from the VIP (the accepted socket is bound to the address the SYN was sent to)', () => {
    const { trace } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.99:8080' });
    expect(trace.outcomes[0]!.reply?.matchesRequest).toBe(true);
    expect(trace.outcomes[0]!.reply?.received?.src).toBe('192.168.56.99');
  });

  it('UDP to the primary address is answered from it', () => {
    const { trace } = traceRequest(world, { from: 'client/laptop', to: '192.168.56.11:5353', proto: 'udp' });
    expect(trace.outcomes[0]!.reply?.matchesRequest).toBe(true);
  });
});
