import { formatIp, ipFromBytes, ipToBytes, parseIp } from '../base/ip.js';
import { parseMac } from '../base/mac.js';
import { PacketDecodeError, PacketEncodeError } from './errors.js';
import type { DecodeLayer, LayerKind } from './errors.js';

/** Throws a PacketDecodeError unless `n` bytes from `offset` lie before `end`. */
export function need(end: number, offset: number, n: number, layer: DecodeLayer, field: string): void {
  if (offset + n > end) {
    const have = Math.max(0, end - offset);
    throw new PacketDecodeError(layer, field, offset, `truncated: needs ${n} bytes, ${have} left`);
  }
}

export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}
export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 255;
  b[o + 1] = v & 255;
}
export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 255;
  b[o + 1] = (v >>> 16) & 255;
  b[o + 2] = (v >>> 8) & 255;
  b[o + 3] = v & 255;
}

/** Checks an integer field's range before it is written. */
export function checkUint(v: number, bits: number, layer: LayerKind, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 2 ** bits - 1) {
    throw new PacketEncodeError(layer, field, `${v} is not an unsigned ${bits}-bit integer`);
  }
  return v;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function readMac(b: Uint8Array, o: number): string {
  return `${HEX[b[o]!]}:${HEX[b[o + 1]!]}:${HEX[b[o + 2]!]}:${HEX[b[o + 3]!]}:${HEX[b[o + 4]!]}:${HEX[b[o + 5]!]}`;
}

const CANONICAL_MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

export function writeMac(b: Uint8Array, o: number, mac: string, layer: LayerKind, field: string): void {
  let text = mac;
  if (!CANONICAL_MAC.test(text)) {
    try {
      text = parseMac(mac);
    } catch {
      throw new PacketEncodeError(layer, field, `invalid MAC address "${mac}"`);
    }
  }
  for (let i = 0; i < 6; i++) b[o + i] = parseInt(text.slice(i * 3, i * 3 + 2), 16);
}

export function readIpv4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

export function readIpv6(b: Uint8Array, o: number): string {
  return formatIp(ipFromBytes(b.subarray(o, o + 16)));
}

/** Address text → bytes, cached: the datapath encodes the same few addresses over and over. */
const addrCache = new Map<string, Uint8Array>();

function addrBytes(text: string, family: 4 | 6, layer: LayerKind, field: string): Uint8Array {
  let bytes = addrCache.get(text);
  if (!bytes) {
    let ip;
    try {
      ip = parseIp(text);
    } catch {
      throw new PacketEncodeError(layer, field, `invalid IP address "${text}"`);
    }
    bytes = ipToBytes(ip);
    if (addrCache.size > 4096) addrCache.clear();
    addrCache.set(text, bytes);
  }
  if (bytes.length !== (family === 4 ? 4 : 16)) {
    throw new PacketEncodeError(layer, field, `"${text}" is not an IPv${family} address`);
  }
  return bytes;
}

export function writeIpv4(b: Uint8Array, o: number, text: string, layer: LayerKind, field: string): void {
  b.set(addrBytes(text, 4, layer, field), o);
}

export function writeIpv6(b: Uint8Array, o: number, text: string, layer: LayerKind, field: string): void {
  b.set(addrBytes(text, 6, layer, field), o);
}

export function hex(n: number, width = 4): string {
  return `0x${n.toString(16).padStart(width, '0')}`;
}
