// ipvs: the kernel's IP Virtual Server as data — service tables (proto/addr/port and fwmark), real servers, schedulers, connection table, forwarding methods, ipvsadm formats.
// Must not import netns, netfilter, conntrack or cluster: the netns pipeline calls into it; it never walks rules or routes packets itself.
export * from './types.js';
export { IP_VS_CONN_TAB_SIZE, IP_VS_SVC_TAB_SIZE, addrFold, connHashKey, fwmHashKey, hash32, hsiphashU32, siphash, svcHashKey } from './hash.js';
export { IpvsServiceTable, sameKey, serviceKeyName } from './table.js';
export type { DestOptions, ServiceLookup, ServiceOptions } from './table.js';
export { SCHEDULERS, IP_VS_DH_TAB_SIZE, IP_VS_MH_TAB_SIZE, IP_VS_SH_TAB_SIZE, destConnOverhead, destName, dhHashKey, mhHashKey, mhLookupTable, shHashKey } from './schedulers/index.js';
export type { Candidate, Decision, DestChange, Scheduler } from './schedulers/index.js';
export { IPVS_VERSION, applyIpvsadmCommands, buildIpvsTable, formatIpvsadmList, formatIpvsadmSave, glibcMsort, ipvsCmpDests, ipvsCmpServices, loadIpvsadmSave, parseIpvsadmSave } from './ipvsadm.js';
export type { IpvsadmCommand, ListOptions } from './ipvsadm.js';
export { Ipvs } from './core.js';
export type { IpvsInResult, IpvsInVerdict, IpvsOptions, IpvsOutResult, IpvsPacket, IpvsSysctls } from './core.js';
export { IpvsConnTable, formatIpvsadmConns } from './conn.js';
export type { ConnTableOptions, IpvsConn } from './conn.js';
export { FORWARDING, forwardAction } from './forward.js';
export type { ForwardAction, FwdInfo } from './forward.js';
export { TCP_STATES, TCP_TIMEOUTS, UDP_TIMEOUT, nextTcpState } from './proto.js';
export type { IpvsDirection, TcpFlags as IpvsTcpFlags, TcpState as IpvsTcpState } from './proto.js';
