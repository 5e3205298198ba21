/** Exit codes of INTERFACES.md §2. */
export const EXIT = {
  /** delivered (with --all: every outcome delivered) */
  ok: 0,
  /** not delivered */
  notDelivered: 1,
  /** bad input: topology, manifest, dump, pcap, arguments */
  badInput: 2,
} as const;
