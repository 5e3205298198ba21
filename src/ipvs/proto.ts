/**
 * IPVS protocol state machines and timeouts, as data. Sources: net/netfilter/ipvs/ip_vs_proto_tcp.c
 * (tcp_timeouts[], tcp_state_name_table[], tcp_states[], tcp_state_idx), ip_vs_proto_udp.c
 * (udp_timeouts[]), ip_vs_conn.c (ip_vs_ctpl_state_name_table). Times in virtual milliseconds.
 */

export type TcpState = 'NONE' | 'ESTABLISHED' | 'SYN_SENT' | 'SYN_RECV' | 'FIN_WAIT' | 'TIME_WAIT' | 'CLOSE' | 'CLOSE_WAIT' | 'LAST_ACK' | 'LISTEN' | 'SYNACK';

/** IP_VS_TCP_S_* in index order. */
export const TCP_STATES: readonly TcpState[] = ['NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK'];

const S = 1000;
/** tcp_timeouts[] (ip_vs_proto_tcp.c). */
export const TCP_TIMEOUTS: Readonly<Record<TcpState, number>> = {
  NONE: 2 * S,
  ESTABLISHED: 15 * 60 * S,
  SYN_SENT: 2 * 60 * S,
  SYN_RECV: 1 * 60 * S,
  FIN_WAIT: 2 * 60 * S,
  TIME_WAIT: 2 * 60 * S,
  CLOSE: 10 * S,
  CLOSE_WAIT: 60 * S,
  LAST_ACK: 30 * S,
  LISTEN: 2 * 60 * S,
  SYNACK: 120 * S,
};

/** udp_timeouts[IP_VS_UDP_S_NORMAL] (ip_vs_proto_udp.c): 5 minutes; the state is named "UDP". */
export const UDP_TIMEOUT = 5 * 60 * S;
/** sctp_timeouts[IP_VS_SCTP_S_NONE]: podpath does not model the SCTP state machine. */
export const SCTP_TIMEOUT = 2 * S;

/** The conn direction (IP_VS_DIR_INPUT, IP_VS_DIR_OUTPUT, and INPUT_ONLY for DR/TUN conns with IP_VS_CONN_F_NOOUTPUT). */
export type IpvsDirection = 'input' | 'output' | 'input-only';

export interface TcpFlags {
  syn?: boolean;
  ack?: boolean;
  fin?: boolean;
  rst?: boolean;
}

const sNO = 'NONE', sES = 'ESTABLISHED', sSS = 'SYN_SENT', sSR = 'SYN_RECV', sFW = 'FIN_WAIT', sTW = 'TIME_WAIT', sCL = 'CLOSE', sCW = 'CLOSE_WAIT', sLA = 'LAST_ACK', sLI = 'LISTEN', sSA = 'SYNACK';
type Row = readonly TcpState[];
void sNO;
void sSA;

/** tcp_states[] (secure_tcp off), rows syn/fin/ack/rst per direction, columns in TCP_STATES order. */
const TABLE: Readonly<Record<IpvsDirection, readonly [Row, Row, Row, Row]>> = {
  input: [
    [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
    [sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW],
    [sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
    [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR],
  ],
  output: [
    [sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR],
    [sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW],
    [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES],
    [sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL],
  ],
  'input-only': [
    [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
    [sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW],
    [sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
    [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
  ],
};

/** tcp_state_idx: rst, then syn, fin, ack; -1 when none is set. */
function stateIdx(f: TcpFlags): number {
  if (f.rst) return 3;
  if (f.syn) return 0;
  if (f.fin) return 1;
  if (f.ack) return 2;
  return -1;
}

/** Models the state lookup of set_tcp_state (ip_vs_proto_tcp.c); no flag → CLOSE. */
export function nextTcpState(state: TcpState, dir: IpvsDirection, flags: TcpFlags): TcpState {
  const idx = stateIdx(flags);
  if (idx < 0) return 'CLOSE';
  return TABLE[dir][idx]![TCP_STATES.indexOf(state)]!;
}
