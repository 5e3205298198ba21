/**
 * The three-namespace topology every differential scenario uses:
 *
 *   client  eth0 10.0.1.2/24, 10.0.1.3/24     default via 10.0.1.1
 *      │ veth
 *   host    eth-c 10.0.1.1/24 │ eth-s 10.0.2.1/24     ip_forward=1   (the host under test: the ruleset lives here)
 *      │ veth
 *   server  eth0 10.0.2.2/24, 10.0.2.3/24, 10.0.2.4/24   default via 10.0.2.1
 *
 * Servers: TCP on the server namespace (0.0.0.0: 8080, 8081, 8082, 8083), UDP on each endpoint
 * address (5353), TCP on the host (0.0.0.0:9090) for local delivery. Each server answers with the
 * address it was reached on and the client address it saw.
 */
import { Lab } from './lab.js';

export const CLIENT_IPS = ['10.0.1.2', '10.0.1.3'] as const;
export const HOST_IPS = { c: '10.0.1.1', s: '10.0.2.1' } as const;
export const ENDPOINTS = ['10.0.2.2', '10.0.2.3', '10.0.2.4'] as const;
export const VIP = '10.96.0.10';
export const SERVER_TCP_PORTS = [8080, 8081, 8082, 8083] as const;
export const SERVER_UDP_PORT = 5353;
export const HOST_TCP_PORT = 9090;

/** Host-under-test facts podpath needs: its addresses and devices (what `ip -br addr` shows). */
export const HOST_ADDRS = [
  { ip: HOST_IPS.c, prefix: 24, dev: 'eth-c' },
  { ip: HOST_IPS.s, prefix: 24, dev: 'eth-s' },
] as const;

export interface Topology {
  readonly lab: Lab;
  readonly client: string;
  readonly host: string;
  readonly server: string;
}

export async function buildTopology(lab: Lab): Promise<Topology> {
  const client = await lab.netns('c');
  const host = await lab.netns('h');
  const server = await lab.netns('s');
  await lab.veth({ ns: client, dev: 'eth0', addrs: CLIENT_IPS.map((ip) => `${ip}/24`) }, { ns: host, dev: 'eth-c', addrs: [`${HOST_IPS.c}/24`] });
  await lab.veth({ ns: host, dev: 'eth-s', addrs: [`${HOST_IPS.s}/24`] }, { ns: server, dev: 'eth0', addrs: ENDPOINTS.map((ip) => `${ip}/24`) });
  await lab.route(client, `default via ${HOST_IPS.c}`);
  await lab.route(server, `default via ${HOST_IPS.s}`);
  // new namespaces start with ip_forward=0 (kernel default, not the host's sysctl.d)
  await lab.sysctl(host, 'net.ipv4.ip_forward', 1);
  await Promise.all([
    ...SERVER_TCP_PORTS.map((p) => lab.tcpServer(server, p)),
    ...ENDPOINTS.map((ip) => lab.udpServer(server, SERVER_UDP_PORT, ip)),
    lab.tcpServer(host, HOST_TCP_PORT),
  ]);
  return { lab, client, host, server };
}
