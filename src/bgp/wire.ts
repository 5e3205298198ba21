import { InputError } from '../base/errors.js';
import { parseCidr, parseIp } from '../base/ip.js';
import type { BgpMessage, Capability, Nlri, OpenMessage, PathAttributes, UpdateMessage } from './types.js';
import { MESSAGE_TYPE_CODE } from './types.js';

/** Wire constants (RFC 4271 §4.1, RFC 4456 §7, RFC 6793 §9). */
export const BGP_PORT = 179;
export const BGP_HEADER_LEN = 19;
export const BGP_MAX_MESSAGE_LEN = 4096;
export const AS_TRANS = 23456;
export const ATTR = { ORIGIN: 1, AS_PATH: 2, NEXT_HOP: 3, MED: 4, LOCAL_PREF: 5, ORIGINATOR_ID: 9, CLUSTER_LIST: 10 } as const;
/**
 * The ADD-PATH path identifier written when an NLRI has none: podpath advertises one path per
 * prefix (the best), so one id, and a new announcement replaces the previous one.
 */
export const ADD_PATH_ID = 1;
const FLAG_OPTIONAL = 0x80;
const FLAG_TRANSITIVE = 0x40;
const FLAG_EXT_LEN = 0x10;
const AS_SEQUENCE = 2;
const AS_SET = 1;
const CAP = { MP: 1, ROUTE_REFRESH: 2, GRACEFUL_RESTART: 64, AS4: 65, ADD_PATH: 69, ENHANCED_ROUTE_REFRESH: 70, LLGR: 71 } as const;

/** What the two ends negotiated, which changes the encoding: 4-octet AS numbers and ADD-PATH path ids. */
export interface WireOptions {
  /** 4-octet AS_PATH (RFC 6793); BIRD enables it by default (`enable as4`), so default true. */
  readonly as4?: boolean;
  /** NLRI/withdrawn entries carry a 4-byte path id (RFC 7911). */
  readonly addPath?: boolean;
}

/** A malformed BGP message: names the field and byte offset. */
export class BgpWireError extends InputError {
  constructor(field: string, offset: number, message: string) {
    super({ field: `bgp.${field}`, message: `${message} (at byte ${offset})` });
    this.name = 'BgpWireError';
  }
}

class Writer {
  buf = new Uint8Array(256);
  len = 0;
  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u8(v: number): void {
    this.grow(1);
    this.buf[this.len++] = v & 255;
  }
  u16(v: number): void {
    this.u8(v >>> 8);
    this.u8(v);
  }
  u32(v: number): void {
    this.u16(Math.floor(v / 65536));
    this.u16(v & 0xffff);
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  put16(at: number, v: number): void {
    this.buf[at] = (v >>> 8) & 255;
    this.buf[at + 1] = v & 255;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function ipv4ToU32(ip: string, field: string): number {
  let p;
  try {
    p = parseIp(ip);
  } catch {
    throw new BgpWireError(field, 0, `"${ip}" is not an IPv4 address`);
  }
  if (p.family !== 4) throw new BgpWireError(field, 0, `"${ip}" is not an IPv4 address`);
  return p.n;
}

function u32ToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function checkRange(v: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new BgpWireError(field, 0, `${v} is out of range 0..${max}`);
  return v;
}

/** Encodes one message with its 19-byte header (marker of 16 × 0xff, length, type). */
export function encodeBgpMessage(m: BgpMessage, opts: WireOptions = {}): Uint8Array {
  const w = new Writer();
  for (let i = 0; i < 16; i++) w.u8(0xff);
  w.u16(0); // length, patched below
  w.u8(MESSAGE_TYPE_CODE[m.type]);
  switch (m.type) {
    case 'OPEN':
      encodeOpen(w, m);
      break;
    case 'UPDATE':
      encodeUpdate(w, m, opts);
      break;
    case 'NOTIFICATION':
      w.u8(checkRange(m.code, 255, 'notification.code'));
      w.u8(checkRange(m.subcode, 255, 'notification.subcode'));
      w.bytes(m.data);
      break;
    case 'KEEPALIVE':
      break;
  }
  if (w.len > BGP_MAX_MESSAGE_LEN) throw new BgpWireError(`${m.type.toLowerCase()}.length`, 16, `message of ${w.len} bytes exceeds ${BGP_MAX_MESSAGE_LEN}`);
  w.put16(16, w.len);
  return w.done();
}

/** Models bgp_create_open (proto/bgp/packets.c): version, 2-octet AS (AS_TRANS above 65535), hold, id, one capabilities parameter. */
function encodeOpen(w: Writer, m: OpenMessage): void {
  w.u8(m.version);
  checkRange(m.asn, 0xffffffff, 'open.asn');
  w.u16(m.asn > 0xffff ? AS_TRANS : m.asn);
  w.u16(checkRange(m.holdTime, 0xffff, 'open.holdTime'));
  w.u32(ipv4ToU32(m.bgpId, 'open.bgpId'));
  if (m.capabilities.length === 0) {
    w.u8(0);
    return;
  }
  const caps = new Writer();
  for (const c of m.capabilities) encodeCapability(caps, c);
  const body = caps.done();
  if (body.length > 253) throw new BgpWireError('open.capabilities', 0, `capabilities of ${body.length} bytes do not fit one parameter`);
  w.u8(body.length + 2);
  w.u8(2); // parameter type 2: capabilities (RFC 5492)
  w.u8(body.length);
  w.bytes(body);
}

function encodeCapability(w: Writer, c: Capability): void {
  switch (c.kind) {
    case 'multiprotocol':
      w.u8(CAP.MP); w.u8(4); w.u16(c.afi); w.u8(0); w.u8(c.safi);
      return;
    case 'route-refresh':
      w.u8(CAP.ROUTE_REFRESH); w.u8(0);
      return;
    case 'graceful-restart':
      w.u8(CAP.GRACEFUL_RESTART); w.u8(2 + 4 * c.families.length);
      w.u16((c.restarting ? 0x8000 : 0) | (c.restartTime & 0x0fff));
      for (const f of c.families) { w.u16(f.afi); w.u8(f.safi); w.u8(f.forwarding ? 0x80 : 0); }
      return;
    case 'as4':
      w.u8(CAP.AS4); w.u8(4); w.u32(c.asn);
      return;
    case 'add-path':
      w.u8(CAP.ADD_PATH); w.u8(4); w.u16(c.afi); w.u8(c.safi); w.u8(c.sendReceive);
      return;
    case 'enhanced-route-refresh':
      w.u8(CAP.ENHANCED_ROUTE_REFRESH); w.u8(0);
      return;
    case 'llgr':
      w.u8(CAP.LLGR); w.u8(c.data.length); w.bytes(c.data);
      return;
    case 'unknown':
      w.u8(c.code); w.u8(c.data.length); w.bytes(c.data);
      return;
  }
}

function encodePrefix(w: Writer, n: Nlri, addPath: boolean, field: string): void {
  let c;
  try {
    c = parseCidr(n.prefix, { strict: true });
  } catch (e) {
    throw new BgpWireError(field, 0, `"${n.prefix}" is not an IPv4 prefix: ${(e as Error).message}`);
  }
  if (c.family !== 4) throw new BgpWireError(field, 0, `"${n.prefix}" is not an IPv4 prefix`);
  if (addPath) w.u32(n.pathId ?? ADD_PATH_ID);
  w.u8(c.prefix);
  const v = c.network.n as number;
  const bytes = (c.prefix + 7) >> 3;
  for (let i = 0; i < bytes; i++) w.u8((v >>> (24 - 8 * i)) & 255);
}

function attrHeader(w: Writer, flags: number, code: number, len: number): void {
  if (len > 255) {
    w.u8(flags | FLAG_EXT_LEN); w.u8(code); w.u16(len);
  } else {
    w.u8(flags); w.u8(code); w.u8(len);
  }
}

/** Path attributes in type-code order, as BIRD writes its sorted attribute list (bgp_encode_attrs). */
export function encodePathAttributes(a: PathAttributes, opts: WireOptions = {}): Uint8Array {
  const as4 = opts.as4 ?? true;
  const w = new Writer();
  attrHeader(w, FLAG_TRANSITIVE, ATTR.ORIGIN, 1);
  w.u8(a.origin);
  const asSize = as4 ? 4 : 2;
  const segs: number[][] = [];
  for (let i = 0; i < a.asPath.length; i += 255) segs.push(a.asPath.slice(i, i + 255) as number[]);
  const pathLen = segs.reduce((s, g) => s + 2 + g.length * asSize, 0);
  attrHeader(w, FLAG_TRANSITIVE, ATTR.AS_PATH, pathLen);
  for (const g of segs) {
    w.u8(AS_SEQUENCE); w.u8(g.length);
    for (const asn of g) {
      checkRange(asn, as4 ? 0xffffffff : 0xffff, 'attrs.asPath');
      if (as4) w.u32(asn); else w.u16(asn);
    }
  }
  attrHeader(w, FLAG_TRANSITIVE, ATTR.NEXT_HOP, 4);
  w.u32(ipv4ToU32(a.nextHop, 'attrs.nextHop'));
  if (a.med !== undefined) {
    attrHeader(w, FLAG_OPTIONAL, ATTR.MED, 4);
    w.u32(checkRange(a.med, 0xffffffff, 'attrs.med'));
  }
  if (a.localPref !== undefined) {
    attrHeader(w, FLAG_TRANSITIVE, ATTR.LOCAL_PREF, 4);
    w.u32(checkRange(a.localPref, 0xffffffff, 'attrs.localPref'));
  }
  if (a.originatorId !== undefined) {
    attrHeader(w, FLAG_OPTIONAL, ATTR.ORIGINATOR_ID, 4);
    w.u32(ipv4ToU32(a.originatorId, 'attrs.originatorId'));
  }
  if (a.clusterList !== undefined && a.clusterList.length > 0) {
    attrHeader(w, FLAG_OPTIONAL, ATTR.CLUSTER_LIST, 4 * a.clusterList.length);
    for (const c of a.clusterList) w.u32(ipv4ToU32(c, 'attrs.clusterList'));
  }
  return w.done();
}

function encodeUpdate(w: Writer, m: UpdateMessage, opts: WireOptions): void {
  const addPath = opts.addPath ?? false;
  const wd = new Writer();
  for (const n of m.withdrawn) encodePrefix(wd, n, addPath, 'update.withdrawn');
  w.u16(wd.len);
  w.bytes(wd.done());
  if (m.nlri.length > 0 && !m.attrs) throw new BgpWireError('update.attrs', 0, 'an UPDATE with NLRI needs path attributes');
  const attrs = m.nlri.length > 0 && m.attrs ? encodePathAttributes(m.attrs, opts) : new Uint8Array(0);
  w.u16(attrs.length);
  w.bytes(attrs);
  for (const n of m.nlri) encodePrefix(w, n, addPath, 'update.nlri');
}

// ---------------------------------------------------------------------------------------------
// Decoding

function need(b: Uint8Array, o: number, n: number, end: number, field: string): void {
  if (o + n > end) throw new BgpWireError(field, o, `truncated: needs ${n} bytes, ${Math.max(0, end - o)} left`);
}
function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

/** Decodes one message starting at `offset`; returns it and its length on the wire. */
export function decodeBgpMessage(b: Uint8Array, offset = 0, opts: WireOptions = {}): { message: BgpMessage; length: number } {
  need(b, offset, BGP_HEADER_LEN, b.length, 'header');
  for (let i = 0; i < 16; i++) if (b[offset + i] !== 0xff) throw new BgpWireError('header.marker', offset + i, 'marker byte is not 0xff');
  const len = rd16(b, offset + 16);
  if (len < BGP_HEADER_LEN || len > BGP_MAX_MESSAGE_LEN) throw new BgpWireError('header.length', offset + 16, `bad message length ${len}`);
  need(b, offset, len, b.length, 'header.length');
  const type = b[offset + 18]!;
  const o = offset + BGP_HEADER_LEN;
  const end = offset + len;
  switch (type) {
    case 1:
      return { message: decodeOpen(b, o, end), length: len };
    case 2:
      return { message: decodeUpdate(b, o, end, opts), length: len };
    case 3:
      need(b, o, 2, end, 'notification');
      return { message: { type: 'NOTIFICATION', code: b[o]!, subcode: b[o + 1]!, data: b.slice(o + 2, end) }, length: len };
    case 4:
      if (len !== BGP_HEADER_LEN) throw new BgpWireError('keepalive.length', offset + 16, `KEEPALIVE of length ${len}`);
      return { message: { type: 'KEEPALIVE' }, length: len };
    default:
      throw new BgpWireError('header.type', offset + 18, `unknown message type ${type}`);
  }
}

/** Every message in a byte stream (one TCP direction). */
export function decodeBgpStream(b: Uint8Array, opts: WireOptions = {}): BgpMessage[] {
  const out: BgpMessage[] = [];
  for (let o = 0; o < b.length;) {
    const { message, length } = decodeBgpMessage(b, o, opts);
    out.push(message);
    o += length;
  }
  return out;
}

function decodeOpen(b: Uint8Array, o: number, end: number): OpenMessage {
  need(b, o, 10, end, 'open');
  const version = b[o]!;
  let asn = rd16(b, o + 1);
  const holdTime = rd16(b, o + 3);
  const bgpId = u32ToIpv4(rd32(b, o + 5));
  const optLen = b[o + 9]!;
  need(b, o + 10, optLen, end, 'open.optionalParameters');
  const caps: Capability[] = [];
  for (let p = o + 10; p < o + 10 + optLen;) {
    need(b, p, 2, end, 'open.parameter');
    const ptype = b[p]!;
    const plen = b[p + 1]!;
    need(b, p + 2, plen, end, 'open.parameter');
    if (ptype === 2) {
      for (let c = p + 2; c < p + 2 + plen;) {
        need(b, c, 2, p + 2 + plen, 'open.capability');
        const code = b[c]!;
        const clen = b[c + 1]!;
        need(b, c + 2, clen, p + 2 + plen, 'open.capability');
        const cap = decodeCapability(b, code, c + 2, clen);
        if (cap.kind === 'as4') asn = cap.asn;
        caps.push(cap);
        c += 2 + clen;
      }
    }
    p += 2 + plen;
  }
  return { type: 'OPEN', version, asn, holdTime, bgpId, capabilities: caps };
}

function decodeCapability(b: Uint8Array, code: number, o: number, len: number): Capability {
  switch (code) {
    case CAP.MP:
      if (len === 4) return { kind: 'multiprotocol', afi: rd16(b, o), safi: b[o + 3]! };
      break;
    case CAP.ROUTE_REFRESH:
      if (len === 0) return { kind: 'route-refresh' };
      break;
    case CAP.GRACEFUL_RESTART:
      if (len >= 2 && (len - 2) % 4 === 0) {
        const flags = rd16(b, o);
        const families = [];
        for (let i = o + 2; i < o + len; i += 4) families.push({ afi: rd16(b, i), safi: b[i + 2]!, forwarding: (b[i + 3]! & 0x80) !== 0 });
        return { kind: 'graceful-restart', restarting: (flags & 0x8000) !== 0, restartTime: flags & 0x0fff, families };
      }
      break;
    case CAP.AS4:
      if (len === 4) return { kind: 'as4', asn: rd32(b, o) };
      break;
    case CAP.ADD_PATH:
      if (len === 4 && b[o + 3]! >= 1 && b[o + 3]! <= 3) return { kind: 'add-path', afi: rd16(b, o), safi: b[o + 2]!, sendReceive: b[o + 3]! as 1 | 2 | 3 };
      break;
    case CAP.ENHANCED_ROUTE_REFRESH:
      if (len === 0) return { kind: 'enhanced-route-refresh' };
      break;
    case CAP.LLGR:
      return { kind: 'llgr', data: b.slice(o, o + len) };
  }
  return { kind: 'unknown', code, data: b.slice(o, o + len) };
}

function decodePrefixes(b: Uint8Array, o: number, end: number, addPath: boolean, field: string): Nlri[] {
  const out: Nlri[] = [];
  while (o < end) {
    let pathId: number | undefined;
    if (addPath) {
      need(b, o, 4, end, field);
      pathId = rd32(b, o);
      o += 4;
    }
    need(b, o, 1, end, field);
    const plen = b[o]!;
    if (plen > 32) throw new BgpWireError(field, o, `prefix length ${plen} exceeds 32`);
    const n = (plen + 7) >> 3;
    need(b, o + 1, n, end, field);
    let v = 0;
    for (let i = 0; i < 4; i++) v = v * 256 + (i < n ? b[o + 1 + i]! : 0);
    const mask = plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
    const prefix = `${u32ToIpv4((v & mask) >>> 0)}/${plen}`;
    out.push(pathId === undefined ? { prefix } : { prefix, pathId });
    o += 1 + n;
  }
  return out;
}

function decodeUpdate(b: Uint8Array, o: number, end: number, opts: WireOptions): UpdateMessage {
  const addPath = opts.addPath ?? false;
  const as4 = opts.as4 ?? true;
  need(b, o, 2, end, 'update.withdrawnLength');
  const wlen = rd16(b, o);
  need(b, o + 2, wlen, end, 'update.withdrawn');
  const withdrawn = decodePrefixes(b, o + 2, o + 2 + wlen, addPath, 'update.withdrawn');
  let p = o + 2 + wlen;
  need(b, p, 2, end, 'update.attributesLength');
  const alen = rd16(b, p);
  need(b, p + 2, alen, end, 'update.attributes');
  const aEnd = p + 2 + alen;
  p += 2;
  let origin: number | undefined;
  let asPath: number[] | undefined;
  let nextHop: string | undefined;
  const attrs: { med?: number; localPref?: number; originatorId?: string; clusterList?: string[] } = {};
  while (p < aEnd) {
    need(b, p, 3, aEnd, 'update.attribute');
    const flags = b[p]!;
    const code = b[p + 1]!;
    const ext = (flags & FLAG_EXT_LEN) !== 0;
    need(b, p, ext ? 4 : 3, aEnd, 'update.attribute');
    const len = ext ? rd16(b, p + 2) : b[p + 2]!;
    const v = p + (ext ? 4 : 3);
    need(b, v, len, aEnd, `update.attribute[${code}]`);
    switch (code) {
      case ATTR.ORIGIN:
        if (len !== 1 || b[v]! > 2) throw new BgpWireError('update.origin', v, 'bad ORIGIN');
        origin = b[v]!;
        break;
      case ATTR.AS_PATH: {
        asPath = [];
        const size = as4 ? 4 : 2;
        for (let s = v; s < v + len;) {
          need(b, s, 2, v + len, 'update.asPath');
          const st = b[s]!;
          const cnt = b[s + 1]!;
          if (st !== AS_SEQUENCE && st !== AS_SET) throw new BgpWireError('update.asPath', s, `unknown segment type ${st}`);
          if (st === AS_SET) throw new BgpWireError('update.asPath', s, 'AS_SET segments are not modelled');
          need(b, s + 2, cnt * size, v + len, 'update.asPath');
          for (let i = 0; i < cnt; i++) asPath.push(as4 ? rd32(b, s + 2 + 4 * i) : rd16(b, s + 2 + 2 * i));
          s += 2 + cnt * size;
        }
        break;
      }
      case ATTR.NEXT_HOP:
        if (len !== 4) throw new BgpWireError('update.nextHop', v, 'NEXT_HOP length is not 4');
        nextHop = u32ToIpv4(rd32(b, v));
        break;
      case ATTR.MED:
        if (len !== 4) throw new BgpWireError('update.med', v, 'MULTI_EXIT_DISC length is not 4');
        attrs.med = rd32(b, v);
        break;
      case ATTR.LOCAL_PREF:
        if (len !== 4) throw new BgpWireError('update.localPref', v, 'LOCAL_PREF length is not 4');
        attrs.localPref = rd32(b, v);
        break;
      case ATTR.ORIGINATOR_ID:
        if (len !== 4) throw new BgpWireError('update.originatorId', v, 'ORIGINATOR_ID length is not 4');
        attrs.originatorId = u32ToIpv4(rd32(b, v));
        break;
      case ATTR.CLUSTER_LIST:
        if (len % 4 !== 0) throw new BgpWireError('update.clusterList', v, 'CLUSTER_LIST length is not a multiple of 4');
        attrs.clusterList = [];
        for (let i = 0; i < len; i += 4) attrs.clusterList.push(u32ToIpv4(rd32(b, v + i)));
        break;
      default:
        break; // other attributes are not modelled; skipped
    }
    p = v + len;
  }
  const nlri = decodePrefixes(b, aEnd, end, addPath, 'update.nlri');
  if (nlri.length === 0) return { type: 'UPDATE', withdrawn, nlri };
  if (origin === undefined || asPath === undefined || nextHop === undefined) {
    throw new BgpWireError('update.attributes', aEnd, 'missing well-known attribute (ORIGIN, AS_PATH or NEXT_HOP)');
  }
  const pa: PathAttributes = { origin: origin as 0 | 1 | 2, asPath, nextHop, ...attrs };
  return { type: 'UPDATE', withdrawn, attrs: pa, nlri };
}

/** One line per message, as `birdc debug … packets` style summaries. */
export function formatBgpMessage(m: BgpMessage): string {
  switch (m.type) {
    case 'OPEN':
      return `OPEN(ver=${m.version},as=${m.asn},hold=${m.holdTime},id=${m.bgpId})`;
    case 'UPDATE': {
      const parts: string[] = [];
      if (m.withdrawn.length) parts.push(`withdraw ${m.withdrawn.map((n) => n.prefix).join(' ')}`);
      if (m.nlri.length && m.attrs) {
        const a = m.attrs;
        let s = `${m.nlri.map((n) => n.prefix).join(' ')} next-hop ${a.nextHop} as-path [${a.asPath.join(' ')}]`;
        if (a.localPref !== undefined) s += ` local-pref ${a.localPref}`;
        if (a.originatorId) s += ` originator ${a.originatorId}`;
        if (a.clusterList?.length) s += ` cluster-list [${a.clusterList.join(' ')}]`;
        parts.push(s);
      }
      return `UPDATE ${parts.join('; ') || '(end)'}`;
    }
    case 'NOTIFICATION':
      return `NOTIFICATION ${m.code}/${m.subcode}`;
    case 'KEEPALIVE':
      return 'KEEPALIVE';
  }
}
