/**
 * Hand-built records and blocks for the redo routines' unit tests (one per resource manager test
 * file), and the byte helpers they share. The records are DecodedRecord objects, as the WAL
 * decoder would give, but built from their fields: the tests control every byte of main data and
 * block data.
 */
import type { Lsn } from '../../../src/lsn.js';
import { ForkNumber, type DecodedBlock, type DecodedRecord } from '../../../src/wal/types.js';

const EMPTY = new Uint8Array(0);

/** A block reference without an image, of relation 1663/5/`relNode`. */
export function testBlock(fields: {
  blockId: number; blockNumber: number; relNode: number; data?: Uint8Array; willInit?: boolean; fork?: ForkNumber;
}): DecodedBlock {
  return {
    blockId: fields.blockId, rel: { spcNode: 1663, dbNode: 5, relNode: fields.relNode }, forkNumber: fields.fork ?? ForkNumber.Main,
    blockNumber: fields.blockNumber, willInit: fields.willInit ?? false, hasImage: false, applyImage: false, imageCompression: 'none',
    imageBytes: undefined, holeOffset: 0, holeLength: 0, data: fields.data ?? EMPTY,
  };
}

/** A record ending at `endLsn` (starting `length` bytes before it, default 100). */
export function testRecord(fields: {
  rmgrId: number; info: number; mainData: Uint8Array; blocks: DecodedBlock[]; endLsn: Lsn; length?: number; xid?: number; totalLength?: number;
}): DecodedRecord {
  return {
    lsn: fields.endLsn - (fields.length ?? 100), endLsn: fields.endLsn, prevLsn: 0, xid: fields.xid ?? 0, rmgrId: fields.rmgrId,
    info: fields.info, totalLength: fields.totalLength ?? 0, blocks: fields.blocks, mainData: fields.mainData,
    origin: undefined, toplevelXid: undefined, record: EMPTY,
  };
}

/** The parts one after the other. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Little-endian struct bytes from [size, value] pairs (size 1, 2 or 4). */
export function struct(...fields: [number, number][]): Uint8Array {
  const out = new Uint8Array(fields.reduce((sum, [size]) => sum + size, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [size, value] of fields) {
    if (size === 1) view.setUint8(at, value);
    else if (size === 2) view.setUint16(at, value, true);
    else view.setUint32(at, value >>> 0, true);
    at += size;
  }
  return out;
}
