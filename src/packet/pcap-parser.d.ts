// Types for the parts of pcap-parser 0.2 (lib/pcap-parser.js) that pcap.ts uses.
declare module 'pcap-parser' {
  import type { EventEmitter } from 'node:events';
  import type { Readable } from 'node:stream';

  export interface PcapGlobalHeader {
    magicNumber: number;
    majorVersion: number;
    minorVersion: number;
    gmtOffset: number;
    timestampAccuracy: number;
    snapshotLength: number;
    linkLayerType: number;
  }
  export interface PcapPacketHeader {
    timestampSeconds: number;
    timestampMicroseconds: number;
    capturedLength: number;
    originalLength: number;
  }
  export interface PcapParser extends EventEmitter {
    on(event: 'globalHeader', listener: (h: PcapGlobalHeader) => void): this;
    on(event: 'packet', listener: (p: { header: PcapPacketHeader; data: Buffer }) => void): this;
    on(event: 'error', listener: (e: Error) => void): this;
    on(event: 'end', listener: () => void): this;
  }
  export function parse(input: string | Readable): PcapParser;
}
