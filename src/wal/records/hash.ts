/**
 * Typed decoder for the Hash resource manager (access/hash_xlog.h of PostgreSQL 15).
 *
 * WHY: redo of hash index pages needs each record's main data; block data (tuples, offsets, bitmap
 * words) stays raw in the record's blocks. Ingest stores hash records per block without reading them.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_HASH_INIT_META_PAGE = 0x00;
export const XLOG_HASH_INIT_BITMAP_PAGE = 0x10;
export const XLOG_HASH_INSERT = 0x20;
export const XLOG_HASH_ADD_OVFL_PAGE = 0x30;
export const XLOG_HASH_SPLIT_ALLOCATE_PAGE = 0x40;
export const XLOG_HASH_SPLIT_PAGE = 0x50;
export const XLOG_HASH_SPLIT_COMPLETE = 0x60;
export const XLOG_HASH_MOVE_PAGE_CONTENTS = 0x70;
export const XLOG_HASH_SQUEEZE_PAGE = 0x80;
export const XLOG_HASH_DELETE = 0x90;
export const XLOG_HASH_SPLIT_CLEANUP = 0xa0;
export const XLOG_HASH_UPDATE_META_PAGE = 0xb0;
export const XLOG_HASH_VACUUM_ONE_PAGE = 0xc0;

export type HashRecord =
  | { type: 'initMetaPage'; tupleCount: number; procedureOid: number; fillFactor: number }
  | { type: 'initBitmapPage'; bitmapSize: number }
  | { type: 'insert'; offsetNumber: number }
  | { type: 'addOverflowPage'; bitmapSize: number; bitmapPageFound: boolean }
  | { type: 'splitAllocatePage'; newBucket: number; oldBucketFlag: number; newBucketFlag: number; flags: number }
  | { type: 'splitPage' | 'splitCleanup' }
  | { type: 'splitComplete'; oldBucketFlag: number; newBucketFlag: number }
  | { type: 'movePageContents'; tupleCount: number; primaryBucketSameAsWrite: boolean }
  | { type: 'squeezePage'; previousBlock: number; nextBlock: number; tupleCount: number; primaryBucketSameAsWrite: boolean; previousBucketSameAsWrite: boolean }
  | { type: 'delete'; clearDeadMarking: boolean; isPrimaryBucketPage: boolean }
  | { type: 'updateMetaPage'; tupleCount: number }
  | { type: 'vacuumOnePage'; latestRemovedXid: number; offsets: number[] };

export function decodeHashRecord(record: DecodedRecord): HashRecord {
  const reader = new BodyReader(record.mainData, 'hash');
  switch (recordType(record.info)) {
    case XLOG_HASH_INIT_META_PAGE: return { type: 'initMetaPage', tupleCount: reader.f64(), procedureOid: reader.u32(), fillFactor: reader.u16() };
    case XLOG_HASH_INIT_BITMAP_PAGE: return { type: 'initBitmapPage', bitmapSize: reader.u16() };
    case XLOG_HASH_INSERT: return { type: 'insert', offsetNumber: reader.u16() };
    case XLOG_HASH_ADD_OVFL_PAGE: return { type: 'addOverflowPage', bitmapSize: reader.u16(), bitmapPageFound: reader.bool() };
    case XLOG_HASH_SPLIT_ALLOCATE_PAGE: return { type: 'splitAllocatePage', newBucket: reader.u32(), oldBucketFlag: reader.u16(), newBucketFlag: reader.u16(), flags: reader.u8() };
    case XLOG_HASH_SPLIT_PAGE: return { type: 'splitPage' };
    case XLOG_HASH_SPLIT_CLEANUP: return { type: 'splitCleanup' };
    case XLOG_HASH_SPLIT_COMPLETE: return { type: 'splitComplete', oldBucketFlag: reader.u16(), newBucketFlag: reader.u16() };
    case XLOG_HASH_MOVE_PAGE_CONTENTS: return { type: 'movePageContents', tupleCount: reader.u16(), primaryBucketSameAsWrite: reader.bool() };
    case XLOG_HASH_SQUEEZE_PAGE: return {
      type: 'squeezePage', previousBlock: reader.u32(), nextBlock: reader.u32(), tupleCount: reader.u16(),
      primaryBucketSameAsWrite: reader.bool(), previousBucketSameAsWrite: reader.bool(),
    };
    case XLOG_HASH_DELETE: return { type: 'delete', clearDeadMarking: reader.bool(), isPrimaryBucketPage: reader.bool() };
    case XLOG_HASH_UPDATE_META_PAGE: return { type: 'updateMetaPage', tupleCount: reader.f64() };
    case XLOG_HASH_VACUUM_ONE_PAGE: {
      const latestRemovedXid = reader.u32();
      const count = reader.count(2);
      return { type: 'vacuumOnePage', latestRemovedXid, offsets: reader.u16Array(count) };
    }
    default: throw unsupportedRecord('Hash', record.info);
  }
}
