/**
 * Typed decoder for the Gin resource manager (access/ginxlog.h of PostgreSQL 15).
 *
 * WHY: redo of GIN pages needs the main data structs (metapage contents, split and delete info);
 * insert payloads and recompressed leaf segments stay raw in the block data for redo.
 */
import type { DecodedRecord, RelFileNode } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_GIN_CREATE_PTREE = 0x10;
export const XLOG_GIN_INSERT = 0x20;
export const XLOG_GIN_SPLIT = 0x30;
export const XLOG_GIN_VACUUM_PAGE = 0x40;
export const XLOG_GIN_DELETE_PAGE = 0x50;
export const XLOG_GIN_UPDATE_META_PAGE = 0x60;
export const XLOG_GIN_INSERT_LISTPAGE = 0x70;
export const XLOG_GIN_DELETE_LISTPAGE = 0x80;
export const XLOG_GIN_VACUUM_DATA_LEAF_PAGE = 0x90;

export interface GinMetaPageData {
  head: number; tail: number; tailFreeSize: number; pendingPageCount: number; pendingHeapTupleCount: bigint;
  totalPageCount: number; entryPageCount: number; dataPageCount: number; entryCount: bigint; ginVersion: number;
}

export type GinRecord =
  | { type: 'createPostingTree'; size: number; postingList: Uint8Array }
  | { type: 'insert'; flags: number; leftChildBlock: number | undefined; rightChildBlock: number | undefined; payload: Uint8Array }
  | { type: 'split'; node: RelFileNode; rightLink: number; leftChildBlock: number; rightChildBlock: number; flags: number }
  | { type: 'vacuumPage' | 'vacuumDataLeafPage' }
  | { type: 'deletePage'; parentOffset: number; rightLink: number; deleteXid: number }
  | { type: 'updateMetaPage'; node: RelFileNode; metadata: GinMetaPageData; previousTail: number; newRightLink: number; tupleCount: number }
  | { type: 'insertListPage'; rightLink: number; tupleCount: number }
  | { type: 'deleteListPage'; metadata: GinMetaPageData; deletedCount: number };

const GIN_INSERT_ISLEAF = 0x02;

function readMeta(reader: BodyReader): GinMetaPageData {
  const start = reader.offset;
  const head = reader.u32();
  const tail = reader.u32();
  const tailFreeSize = reader.u32();
  const pendingPageCount = reader.u32();
  const pendingHeapTupleCount = reader.i64();
  const totalPageCount = reader.u32();
  const entryPageCount = reader.u32();
  const dataPageCount = reader.u32();
  reader.seek(start + 40);
  const entryCount = reader.i64();
  return { head, tail, tailFreeSize, pendingPageCount, pendingHeapTupleCount, totalPageCount, entryPageCount, dataPageCount, entryCount, ginVersion: reader.i32() };
}

export function decodeGinRecord(record: DecodedRecord): GinRecord {
  const reader = new BodyReader(record.mainData, 'gin');
  switch (recordType(record.info)) {
    case XLOG_GIN_CREATE_PTREE: {
      const size = reader.u32();
      return { type: 'createPostingTree', size, postingList: reader.slice(size) };
    }
    case XLOG_GIN_INSERT: {
      const flags = reader.u16();
      const isLeaf = (flags & GIN_INSERT_ISLEAF) !== 0;
      const leftChildBlock = isLeaf ? undefined : (reader.u16() << 16 | reader.u16()) >>> 0;
      const rightChildBlock = isLeaf ? undefined : (reader.u16() << 16 | reader.u16()) >>> 0;
      return { type: 'insert', flags, leftChildBlock, rightChildBlock, payload: reader.rest() };
    }
    case XLOG_GIN_SPLIT: return { type: 'split', node: reader.relFileNode(), rightLink: reader.u32(), leftChildBlock: reader.u32(), rightChildBlock: reader.u32(), flags: reader.u16() };
    case XLOG_GIN_VACUUM_PAGE: return { type: 'vacuumPage' };
    case XLOG_GIN_VACUUM_DATA_LEAF_PAGE: return { type: 'vacuumDataLeafPage' };
    case XLOG_GIN_DELETE_PAGE: return { type: 'deletePage', parentOffset: reader.u16(), rightLink: (reader.seek(4), reader.u32()), deleteXid: reader.u32() };
    case XLOG_GIN_UPDATE_META_PAGE: {
      const node = reader.relFileNode();
      reader.seek(16);
      const metadata = readMeta(reader);
      reader.seek(16 + 56);
      return { type: 'updateMetaPage', node, metadata, previousTail: reader.u32(), newRightLink: reader.u32(), tupleCount: reader.i32() };
    }
    case XLOG_GIN_INSERT_LISTPAGE: return { type: 'insertListPage', rightLink: reader.u32(), tupleCount: reader.i32() };
    case XLOG_GIN_DELETE_LISTPAGE: {
      const metadata = readMeta(reader);
      reader.seek(56);
      return { type: 'deleteListPage', metadata, deletedCount: reader.i32() };
    }
    default: throw unsupportedRecord('Gin', record.info);
  }
}
