/**
 * `conntrack -L` output (conntrack-tools 1.4 over libnetfilter_conntrack's default snprintf):
 *   `tcp      6 431999 ESTABLISHED src=A dst=B sport=P dport=Q src=B dst=A sport=Q dport=P [ASSURED] mark=0 use=1`
 * protocol name left-aligned in 8 columns, protocol number, seconds left, the TCP state, the
 * original tuple, `[UNREPLIED]` when no reply was seen, the reply tuple, `[ASSURED]`, the ctmark
 * and the reference count. Zone, secctx, labels and accounting are omitted, as the tool does by
 * default. The reference count is a kernel detail the model does not have: it is printed as 1
 * (the kernel shows 2 while a packet or timer holds the entry). Checked against fixtures/*.txt.
 */
import { IPS, type ConntrackEntryView, type Tuple } from './types.js';
import { hasPorts, icmpCodeOf, icmpTypeOf, isIcmp, protoName } from './tuple.js';

function formatTupleFields(t: Tuple): string {
  let s = `src=${t.src} dst=${t.dst} `;
  if (hasPorts(t.proto)) s += `sport=${t.sport} dport=${t.dport} `;
  else if (isIcmp(t.proto)) s += `type=${icmpTypeOf(t)} code=${icmpCodeOf(t)} id=${t.sport} `;
  return s;
}

/** One `conntrack -L` line; `secondsLeft` is the timeout column. */
export function formatConntrackEntry(e: ConntrackEntryView, secondsLeft: number): string {
  let s = `${protoName(e.original.proto).padEnd(8)} ${e.original.proto} ${secondsLeft} `;
  if (e.proto.kind === 'tcp') s += `${e.proto.state} `;
  s += formatTupleFields(e.original);
  if (!(e.status & IPS.SEEN_REPLY)) s += '[UNREPLIED] ';
  s += formatTupleFields(e.reply);
  if (e.status & IPS.ASSURED) s += '[ASSURED] ';
  s += `mark=${e.mark >>> 0} use=1`;
  return s;
}

/** What formatConntrackList needs from a table. */
export interface ConntrackListSource {
  entries(): readonly ConntrackEntryView[];
  secondsLeft(e: ConntrackEntryView): number;
}

/**
 * The whole listing, one line per confirmed connection, each ending in a newline. `conntrack -L`
 * lists the IPv4 table unless given `-f ipv6`; `family` does the same (default 4). The kernel walks
 * its hash buckets, so its order is arbitrary; podpath lists connections oldest first.
 */
export function formatConntrackList(table: ConntrackListSource, opts: { family?: 4 | 6 } = {}): string {
  const family = opts.family ?? 4;
  return table
    .entries()
    .filter((e) => e.original.family === family)
    .map((e) => formatConntrackEntry(e, table.secondsLeft(e)) + '\n')
    .join('');
}
