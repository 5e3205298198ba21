import type { BgpNetwork, RibRoute, SessionInfo } from './network.js';

export interface BirdFormatOptions {
  /** Wall-clock time (ms since the epoch) of virtual time 0; times print as HH:MM:SS UTC (BIRD's default `%T`). */
  readonly epochMs?: number;
  /**
   * How the speaker reaches a BGP next hop (`gateway recursive`): the resolved gateway and
   * interface, or undefined when it is unreachable. Default: the next hop itself on `eth0`.
   */
  readonly resolve?: (nextHop: string) => { gateway: string; iface: string } | undefined;
}

function hhmmss(ms: number, o: BirdFormatOptions): string {
  const d = new Date((o.epochMs ?? 0) + ms);
  return d.toISOString().slice(11, 19);
}

/**
 * `birdc show route` of one speaker. Models rt_show_rte (nest/rt-table.c) and bgp_get_route_info
 * (proto/bgp/attrs.c): `%-18s %s [%s %s%s]%s%s` — prefix (only on the first route of a net), how
 * it is reached, protocol and time, ` from <peer>` when the peer is not the gateway, ` *` on the
 * best route, then `(preference/IGP metric) [AS<origin AS><origin>]` for BGP or `(200)` for static.
 */
export function formatBirdRoutes(net: BgpNetwork, speaker: string, o: BirdFormatOptions = {}): string {
  const lines: string[] = [];
  let last = '';
  for (const r of net.routes(speaker)) {
    if (r.filtered) continue;
    const ia = r.prefix === last ? '' : r.prefix;
    last = r.prefix;
    lines.push(birdRouteLine(ia, r, o));
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

function birdRouteLine(ia: string, r: RibRoute, o: BirdFormatOptions): string {
  const tm = hhmmss(r.since, o);
  const star = r.best ? ' *' : '';
  if (r.source === 'static') {
    const via = r.attrs.nextHop === '0.0.0.0' ? 'blackhole' : `via ${r.attrs.nextHop} on eth0`;
    return `${ia.padEnd(18)} ${via} [${r.protocol} ${tm}]${star} (200)`;
  }
  const resolve = o.resolve ?? ((nh: string) => ({ gateway: nh, iface: 'eth0' }));
  const hop = resolve(r.attrs.nextHop);
  const via = hop ? `via ${hop.gateway} on ${hop.iface}` : 'unreachable';
  const from = r.peerAddress && hop && r.peerAddress !== hop.gateway ? ` from ${r.peerAddress}` : '';
  const originAs = r.attrs.asPath.at(-1);
  const info = ` (100/${hop ? 0 : '-'}) [${originAs !== undefined ? `AS${originAs}` : ''}${'ie?'[r.attrs.origin]}]`;
  return `${ia.padEnd(18)} ${via} [${r.protocol} ${tm}${from}]${star}${info}`;
}

/**
 * `birdc show protocols` lines for the speaker's BGP sessions. Models proto_cmd_show
 * (`%-8s %-8s %-8s %-5s  %-10s  %s`) and bgp_get_status (`%-14s` state, then the last error);
 * a passive session waiting for its peer shows `Passive`, as bgp_state_dsc does.
 */
export function formatBirdProtocols(net: BgpNetwork, speaker: string, o: BirdFormatOptions = {}): string {
  const lines = ['name     proto    table    state  since       info'];
  for (const s of net.sessions(speaker)) lines.push(birdProtocolLine(s, o));
  return lines.join('\n') + '\n';
}

function birdProtocolLine(s: SessionInfo, o: BirdFormatOptions): string {
  const state = s.state === 'Established' ? 'up' : 'start';
  const dsc = s.passive && s.state === 'Active' ? 'Passive' : s.state;
  const info = `${dsc.padEnd(14)}${s.lastError}`.trimEnd();
  return `${s.protocol.padEnd(8)} ${'BGP'.padEnd(8)} ${'master'.padEnd(8)} ${state.padEnd(5)}  ${hhmmss(s.since, o).padEnd(10)}  ${info}`;
}
