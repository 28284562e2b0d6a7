/**
 * Builders for hand-made DecodedRecords and little-endian struct bytes, for unit tests of the typed
 * record decoders and of ingest without real WAL.
 */
import type { DecodedBlock, DecodedRecord, RelFileNode } from '../../../src/wal/types.js';

/** Appends little-endian fields; `bytes()` returns the result. */
export class StructWriter {
  private readonly parts: number[] = [];

  u8(value: number): this { this.parts.push(value & 0xff); return this; }
  u16(value: number): this { return this.u8(value).u8(value >>> 8); }
  u32(value: number): this { return this.u16(value & 0xffff).u16(value >>> 16); }
  i64(value: bigint): this {
    const unsigned = BigInt.asUintN(64, value);
    return this.u32(Number(unsigned & 0xffffffffn)).u32(Number(unsigned >> 32n));
  }
  u64(value: number): this { return this.u32(value % 0x1_0000_0000).u32(Math.floor(value / 0x1_0000_0000)); }
  rel(node: RelFileNode): this { return this.u32(node.spcNode).u32(node.dbNode).u32(node.relNode); }
  raw(bytes: Uint8Array | number[]): this { for (const byte of bytes) this.u8(byte); return this; }
  cstring(text: string): this { return this.raw(Buffer.from(text, 'utf8')).u8(0); }
  pad(alignment: number): this { while (this.parts.length % alignment !== 0) this.u8(0); return this; }
  get length(): number { return this.parts.length; }
  bytes(): Uint8Array { return Uint8Array.from(this.parts); }
}

export interface BlockOptions {
  blockId?: number;
  rel: RelFileNode;
  forkNumber?: number;
  blockNumber: number;
  willInit?: boolean;
  image?: Uint8Array;
  applyImage?: boolean;
  data?: Uint8Array;
}

export function makeBlock(options: BlockOptions): DecodedBlock {
  return {
    blockId: options.blockId ?? 0,
    rel: options.rel,
    forkNumber: options.forkNumber ?? 0,
    blockNumber: options.blockNumber,
    willInit: options.willInit ?? false,
    hasImage: options.image !== undefined,
    applyImage: options.image !== undefined && (options.applyImage ?? true),
    imageCompression: 'none',
    imageBytes: options.image,
    holeOffset: 0,
    holeLength: 0,
    data: options.data ?? new Uint8Array(0),
  };
}

export interface RecordOptions {
  lsn: number;
  endLsn?: number;
  rmgrId: number;
  info: number;
  xid?: number;
  blocks?: DecodedBlock[];
  mainData?: Uint8Array;
}

export function makeRecord(options: RecordOptions): DecodedRecord {
  const mainData = options.mainData ?? new Uint8Array(0);
  return {
    lsn: options.lsn,
    endLsn: options.endLsn ?? options.lsn + 64,
    prevLsn: 0,
    xid: options.xid ?? 0,
    rmgrId: options.rmgrId,
    info: options.info,
    totalLength: 24 + mainData.length,
    blocks: options.blocks ?? [],
    mainData,
    origin: undefined,
    toplevelXid: undefined,
    record: Uint8Array.from([options.rmgrId, options.info, ...mainData.subarray(0, 8)]),
  };
}
