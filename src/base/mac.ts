/** A MAC address in its canonical text form: six lower-case hex pairs separated by colons. */
export type Mac = string;

export const BROADCAST_MAC: Mac = 'ff:ff:ff:ff:ff:ff';
export const ZERO_MAC: Mac = '00:00:00:00:00:00';

const MAC_RE = /^([0-9a-f]{1,2})([:-])([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})$/i;

export class MacParseError extends Error {
  constructor(readonly input: string) {
    super(`invalid MAC address "${input}": expected six hex pairs like aa:bb:cc:dd:ee:ff`);
    this.name = 'MacParseError';
  }
}

export function parseMac(text: string): Mac {
  const m = MAC_RE.exec(text.trim());
  if (!m) throw new MacParseError(text);
  return [m[1], m[3], m[4], m[5], m[6], m[7]].map((h) => h!.toLowerCase().padStart(2, '0')).join(':');
}

export function macToBytes(mac: Mac): Uint8Array {
  return Uint8Array.from(parseMac(mac).split(':').map((h) => parseInt(h, 16)));
}

export function macFromBytes(bytes: Uint8Array, offset = 0): Mac {
  if (offset + 6 > bytes.length) throw new RangeError('a MAC address needs 6 bytes');
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(bytes[offset + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function isMulticastMac(mac: Mac): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

export function isBroadcastMac(mac: Mac): boolean {
  return mac === BROADCAST_MAC;
}

/**
 * A locally administered unicast MAC derived from a name, stable across runs
 * (the kernel gives veth/vxlan devices random ones; podpath must be deterministic).
 */
export function macFromName(name: string, seed = 0): Mac {
  let h = 2166136261 ^ seed;
  const bytes = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < name.length; j++) h = Math.imul(h ^ name.charCodeAt(j), 16777619) >>> 0;
    h = Math.imul(h ^ i, 16777619) >>> 0;
    bytes[i] = h & 255;
  }
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return macFromBytes(bytes);
}
