/** The kinds of wire layer a Packet can hold, outermost first (see packet.ts `Layer`). */
export type LayerKind = 'ethernet' | 'arp' | 'ipv4' | 'ipv6' | 'icmp' | 'icmpv6' | 'tcp' | 'udp' | 'vxlan';

/** Where a decode problem sits: a wire layer, or the Linux cooked-capture header of a pcap record. */
export type DecodeLayer = LayerKind | 'sll' | 'sll2';

/**
 * A truncated or inconsistent frame. Names the layer, the header field and the byte offset (from
 * the start of the bytes given to the decoder) where decoding stopped. Decoders never throw
 * anything else for bad bytes, and never read past the buffer.
 */
export class PacketDecodeError extends Error {
  constructor(
    readonly layer: DecodeLayer,
    readonly field: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`${layer} ${field} at offset ${offset}: ${detail}`);
    this.name = 'PacketDecodeError';
  }
}

/** A header that cannot be put on the wire (a value out of its field's range, a wrong address family). */
export class PacketEncodeError extends Error {
  constructor(
    readonly layer: LayerKind,
    readonly field: string,
    detail: string,
  ) {
    super(`${layer} ${field}: ${detail}`);
    this.name = 'PacketEncodeError';
  }
}
