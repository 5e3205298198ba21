// netfilter: tables, chains, rules, matches, targets, the table walk, ipsets, xt_recent/nth state, iptables-save/ipset save parse + format.
// Must not import conntrack, netns or packet: the pipeline calls walkTable through the interfaces in types.ts.
export * from './types.js';
export { NFT_JUMP_STACK_SIZE, applyIptablesRestore, emptyRuleset, emptyTable, formatIptablesSave, formatRule, parseIptablesSave, parseRuleLine, renderRule } from './iptables-save.js';
export type { FormatOptions, ParseOptions, RestoreOptions } from './iptables-save.js';
export { compileAllChains, compileRuleset, walkTable } from './walk.js';
export { IpsetStore, formatIpsetSave, missingIpsets, parseIpsetSave } from './ipset.js';
export type { IpSet, IpsetMember, IpsetType } from './ipset.js';
export { NthState, RecentStore, RECENT_DEFAULTS } from './state.js';
export { formatProbability as formatStatisticProbability } from './matches.js';
export { RulesetParseError, saveString, tokenize } from './util.js';
export { ADDR_TYPES, PROTO_NAMES as IPTABLES_PROTO_NAMES, REJECT_ICMP } from './names.js';
export { syntheticKubeProxyDump, syntheticService } from './synthetic.js';
export type { SyntheticOptions, SyntheticService } from './synthetic.js';
