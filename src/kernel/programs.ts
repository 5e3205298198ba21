/**
 * The small node programs the lab runs inside namespaces (`node -e PROGRAM ARGS`): a listener per
 * namespace that holds every listening socket of the World's namespace and tells each peer what it
 * saw, and a TCP client that makes connections one after the other and prints one JSON line each.
 */

/** What a listener tells a peer, and prints on its stdout, for each connection or datagram. */
export interface ListenerReport {
  /** The World's listener owner (`pod/NS/NAME` or the namespace's name). */
  readonly owner: string;
  readonly proto: 'tcp' | 'udp';
  /** The server socket's address as accept() returned it: the endpoint after DNAT. */
  readonly local: string;
  /** The peer as the server sees it: the client address after SNAT/MASQUERADE. */
  readonly peer: string;
}

/**
 * argv[1] = JSON [{proto, port, owner}]; prints `listening` once every socket is bound, then one
 * ListenerReport line per connection/datagram; answers each with the same line.
 */
export const LISTENER_PROGRAM = `
const net = require('net'), dgram = require('dgram');
const specs = JSON.parse(process.argv[1]);
let pending = specs.length;
const ready = () => { if (--pending === 0) console.log('listening'); };
for (const s of specs) {
  if (s.proto === 'tcp') {
    const srv = net.createServer((c) => {
      c.on('error', () => {});
      const r = JSON.stringify({ owner: s.owner, proto: 'tcp', local: c.localAddress + ':' + c.localPort, peer: c.remoteAddress + ':' + c.remotePort });
      console.log(r);
      c.end(r + '\\n');
    });
    srv.on('error', (e) => { console.error('listen tcp ' + s.port + ': ' + e.message); process.exit(3); });
    srv.listen({ port: s.port, host: '0.0.0.0', backlog: 1024 }, ready);
  } else {
    const u = dgram.createSocket('udp4');
    u.on('error', (e) => { console.error('bind udp ' + s.port + ': ' + e.message); process.exit(3); });
    u.on('message', (m, rinfo) => {
      const r = JSON.stringify({ owner: s.owner, proto: 'udp', local: '0.0.0.0:' + s.port, peer: rinfo.address + ':' + rinfo.port });
      console.log(r);
      u.send(r, rinfo.port, rinfo.address);
    });
    u.bind(s.port, '0.0.0.0', ready);
  }
}
if (pending === 0) console.log('listening');
`;

/** One TCP connection as the client saw it. */
export interface ConnectResult {
  readonly ok: boolean;
  /** getsockname(): the client's own address:port. */
  readonly local?: string;
  /** getpeername(): the address:port the client is connected to (a reply from elsewhere would not complete the handshake). */
  readonly peer?: string;
  /** The listener's report: which owner answered, the endpoint address and the peer it saw. */
  readonly served?: ListenerReport;
  readonly error?: string;
}

export interface ConnectJob {
  readonly dst: string;
  readonly port: number;
  readonly count?: number;
  /** Fixed source port of the first connection; each next connection uses the next port. */
  readonly sport?: number;
  readonly src?: string;
  readonly timeoutMs?: number;
}

/** argv[1] = JSON ConnectJob[]; prints one ConnectResult line per connection. */
export const CLIENT_PROGRAM = `
const net = require('net');
const jobs = JSON.parse(process.argv[1]);
(async () => {
  for (const j of jobs) {
    for (let k = 0; k < (j.count || 1); k++) {
      const r = await new Promise((resolve) => {
        const o = { host: j.dst, port: j.port };
        if (j.sport) o.localPort = j.sport + k;
        if (j.src) o.localAddress = j.src;
        const s = net.connect(o);
        let data = '', done = false, local, peer;
        const finish = (x) => { if (!done) { done = true; clearTimeout(t); s.destroy(); resolve(x); } };
        const t = setTimeout(() => finish({ ok: false, local, peer, error: 'ETIMEDOUT' }), j.timeoutMs || 3000);
        s.on('connect', () => { local = s.localAddress + ':' + s.localPort; peer = s.remoteAddress + ':' + s.remotePort; });
        s.on('data', (d) => { data += d; });
        s.on('end', () => { try { finish({ ok: true, local, peer, served: JSON.parse(data) }); } catch (e) { finish({ ok: false, local, peer, error: 'BADREPLY ' + data }); } });
        s.on('error', (e) => finish({ ok: false, local, peer, error: e.code || String(e) }));
      });
      console.log(JSON.stringify(r));
    }
  }
})();
`;
