/**
 * Typed decoders for the Heap and Heap2 resource managers (access/heapam_xlog.h of PostgreSQL 15).
 *
 * WHY: heap records are most of the WAL. Ingest only needs their visibility-map flags (a cleared
 * all-visible bit changes a VM page the record does not reference), redo needs everything: main
 * data structs and the tuple data in block 0/1 (absent when a full-page image replaced it).
 *
 * Block roles: INSERT/DELETE/LOCK/CONFIRM/INPLACE/PRUNE/VACUUM/FREEZE/MULTI_INSERT: block 0 = heap
 * page. UPDATE/HOT_UPDATE: block 0 = new page, block 1 = old page (absent when the same page).
 * VISIBLE: block 0 = VM page, block 1 = heap page.
 */
import type { DecodedRecord, RelFileNode } from '../types.js';
import { BodyReader, blockData, unsupportedRecord } from './body-reader.js';

export const XLOG_HEAP_INSERT = 0x00;
export const XLOG_HEAP_DELETE = 0x10;
export const XLOG_HEAP_UPDATE = 0x20;
export const XLOG_HEAP_TRUNCATE = 0x30;
export const XLOG_HEAP_HOT_UPDATE = 0x40;
export const XLOG_HEAP_CONFIRM = 0x50;
export const XLOG_HEAP_LOCK = 0x60;
export const XLOG_HEAP_INPLACE = 0x70;
export const XLOG_HEAP_OPMASK = 0x70;
export const XLOG_HEAP_INIT_PAGE = 0x80;

export const XLOG_HEAP2_REWRITE = 0x00;
export const XLOG_HEAP2_PRUNE = 0x10;
export const XLOG_HEAP2_VACUUM = 0x20;
export const XLOG_HEAP2_FREEZE_PAGE = 0x30;
export const XLOG_HEAP2_VISIBLE = 0x40;
export const XLOG_HEAP2_MULTI_INSERT = 0x50;
export const XLOG_HEAP2_LOCK_UPDATED = 0x60;
export const XLOG_HEAP2_NEW_CID = 0x70;

export const XLH_INSERT_ALL_VISIBLE_CLEARED = 1 << 0;
export const XLH_INSERT_LAST_IN_MULTI = 1 << 1;
export const XLH_INSERT_IS_SPECULATIVE = 1 << 2;
export const XLH_INSERT_CONTAINS_NEW_TUPLE = 1 << 3;
export const XLH_INSERT_ON_TOAST_RELATION = 1 << 4;
export const XLH_INSERT_ALL_FROZEN_SET = 1 << 5;
export const XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED = 1 << 0;
export const XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED = 1 << 1;
export const XLH_UPDATE_CONTAINS_OLD_TUPLE = 1 << 2;
export const XLH_UPDATE_CONTAINS_OLD_KEY = 1 << 3;
export const XLH_UPDATE_CONTAINS_NEW_TUPLE = 1 << 4;
export const XLH_UPDATE_PREFIX_FROM_OLD = 1 << 5;
export const XLH_UPDATE_SUFFIX_FROM_OLD = 1 << 6;
export const XLH_DELETE_ALL_VISIBLE_CLEARED = 1 << 0;
export const XLH_DELETE_CONTAINS_OLD_TUPLE = 1 << 1;
export const XLH_DELETE_CONTAINS_OLD_KEY = 1 << 2;
export const XLH_DELETE_IS_SUPER = 1 << 3;
export const XLH_DELETE_IS_PARTITION_MOVE = 1 << 4;
export const XLH_LOCK_ALL_FROZEN_CLEARED = 1 << 0;

/** Visibility-map bits (access/visibilitymapdefs.h). */
export const VISIBILITYMAP_ALL_VISIBLE = 0x01;
export const VISIBILITYMAP_ALL_FROZEN = 0x02;
export const VISIBILITYMAP_VALID_BITS = 0x03;

/** xl_heap_header + tuple bytes: what block data holds for a new tuple. */
export interface HeapTupleData { infomask2: number; infomask: number; hoff: number; data: Uint8Array }

export interface HeapFreezeTuple { xmax: number; offset: number; infomask2: number; infomask: number; freezeFlags: number }

export type HeapRecord =
  | { type: 'insert'; initPage: boolean; offsetNumber: number; flags: number; tuple: HeapTupleData | undefined }
  | { type: 'delete'; xmax: number; offsetNumber: number; infobitsSet: number; flags: number }
  | { type: 'update' | 'hotUpdate'; initPage: boolean; oldXmax: number; oldOffsetNumber: number; oldInfobitsSet: number; flags: number; newXmax: number; newOffsetNumber: number; prefixLength: number; suffixLength: number; tuple: HeapTupleData | undefined }
  | { type: 'truncate'; databaseOid: number; flags: number; relationOids: number[] }
  | { type: 'confirm'; offsetNumber: number }
  | { type: 'lock'; lockingXid: number; offsetNumber: number; infobitsSet: number; flags: number }
  | { type: 'inplace'; offsetNumber: number; tuple: Uint8Array | undefined };

export type Heap2Record =
  | { type: 'rewrite'; mappedXid: number; mappedDatabaseOid: number; mappedRelationOid: number; offset: bigint; mappingCount: number; startLsn: number; mappings: Uint8Array }
  | { type: 'prune'; latestRemovedXid: number; redirected: number[]; dead: number[]; unused: number[] }
  | { type: 'vacuum'; unused: number[] }
  | { type: 'freezePage'; cutoffXid: number; tuples: HeapFreezeTuple[]; offsets: number[] }
  | { type: 'visible'; cutoffXid: number; flags: number }
  | { type: 'multiInsert'; initPage: boolean; flags: number; offsets: number[]; tuples: (HeapTupleData & { offsetNumber: number })[] | undefined }
  | { type: 'lockUpdated'; xmax: number; offsetNumber: number; infobitsSet: number; flags: number }
  | { type: 'newCid'; topXid: number; cmin: number; cmax: number; combocid: number; targetNode: RelFileNode; targetBlock: number; targetOffset: number };

function readTuple(reader: BodyReader): HeapTupleData {
  return { infomask2: reader.u16(), infomask: reader.u16(), hoff: reader.u8(), data: reader.rest() };
}

export function decodeHeapRecord(record: DecodedRecord): HeapRecord {
  const reader = new BodyReader(record.mainData, 'heap');
  const initPage = (record.info & XLOG_HEAP_INIT_PAGE) !== 0;
  const block0 = blockData(record.blocks, 0);
  switch (record.info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP_INSERT: {
      const offsetNumber = reader.u16();
      const flags = reader.u8();
      const tuple = block0 && block0.length > 0 ? readTuple(new BodyReader(block0, 'heap insert tuple')) : undefined;
      return { type: 'insert', initPage, offsetNumber, flags, tuple };
    }
    case XLOG_HEAP_DELETE: return { type: 'delete', xmax: reader.u32(), offsetNumber: reader.u16(), infobitsSet: reader.u8(), flags: reader.u8() };
    case XLOG_HEAP_UPDATE:
    case XLOG_HEAP_HOT_UPDATE: return decodeHeapUpdate(record, reader, initPage, block0);
    case XLOG_HEAP_TRUNCATE: {
      const databaseOid = reader.u32();
      const count = reader.u32();
      const flags = reader.u8();
      reader.seek(12);
      return { type: 'truncate', databaseOid, flags, relationOids: reader.u32Array(count) };
    }
    case XLOG_HEAP_CONFIRM: return { type: 'confirm', offsetNumber: reader.u16() };
    case XLOG_HEAP_LOCK: return { type: 'lock', lockingXid: reader.u32(), offsetNumber: reader.u16(), infobitsSet: reader.u8(), flags: reader.u8() };
    case XLOG_HEAP_INPLACE: return { type: 'inplace', offsetNumber: reader.u16(), tuple: block0 && block0.length > 0 ? block0 : undefined };
    default: throw unsupportedRecord('Heap', record.info);
  }
}

function decodeHeapUpdate(record: DecodedRecord, reader: BodyReader, initPage: boolean, block0: Uint8Array | undefined): HeapRecord {
  const oldXmax = reader.u32();
  const oldOffsetNumber = reader.u16();
  const oldInfobitsSet = reader.u8();
  const flags = reader.u8();
  const newXmax = reader.u32();
  const newOffsetNumber = reader.u16();
  let prefixLength = 0;
  let suffixLength = 0;
  let tuple: HeapTupleData | undefined;
  if (block0 && block0.length > 0) {
    const data = new BodyReader(block0, 'heap update tuple');
    if (flags & XLH_UPDATE_PREFIX_FROM_OLD) prefixLength = data.u16();
    if (flags & XLH_UPDATE_SUFFIX_FROM_OLD) suffixLength = data.u16();
    tuple = readTuple(data);
  }
  const type = (record.info & XLOG_HEAP_OPMASK) === XLOG_HEAP_HOT_UPDATE ? 'hotUpdate' : 'update';
  return { type, initPage, oldXmax, oldOffsetNumber, oldInfobitsSet, flags, newXmax, newOffsetNumber, prefixLength, suffixLength, tuple };
}

export function decodeHeap2Record(record: DecodedRecord): Heap2Record {
  const reader = new BodyReader(record.mainData, 'heap2');
  const block0 = blockData(record.blocks, 0) ?? new Uint8Array(0);
  switch (record.info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP2_REWRITE: {
      const mappedXid = reader.u32();
      const mappedDatabaseOid = reader.u32();
      const mappedRelationOid = reader.u32();
      const offset = (reader.seek(16), reader.i64());
      const mappingCount = reader.u32();
      const startLsn = (reader.seek(32), reader.u64());
      return { type: 'rewrite', mappedXid, mappedDatabaseOid, mappedRelationOid, offset, mappingCount, startLsn, mappings: reader.rest() };
    }
    case XLOG_HEAP2_PRUNE: {
      const latestRemovedXid = reader.u32();
      const redirectedCount = reader.u16();
      const deadCount = reader.u16();
      const data = new BodyReader(block0, 'heap2 prune offsets');
      if (data.remaining === 0) return { type: 'prune', latestRemovedXid, redirected: [], dead: [], unused: [] };
      const redirected = data.u16Array(redirectedCount * 2);
      const dead = data.u16Array(deadCount);
      return { type: 'prune', latestRemovedXid, redirected, dead, unused: data.u16Array(data.remaining >> 1) };
    }
    case XLOG_HEAP2_VACUUM: {
      const count = reader.u16();
      const data = new BodyReader(block0, 'heap2 vacuum offsets');
      return { type: 'vacuum', unused: data.remaining === 0 ? [] : data.u16Array(count) };
    }
    case XLOG_HEAP2_FREEZE_PAGE: return decodeFreezePage(reader, block0);
    case XLOG_HEAP2_VISIBLE: return { type: 'visible', cutoffXid: reader.u32(), flags: reader.u8() };
    case XLOG_HEAP2_MULTI_INSERT: return decodeMultiInsert(record, reader, block0);
    case XLOG_HEAP2_LOCK_UPDATED: return { type: 'lockUpdated', xmax: reader.u32(), offsetNumber: reader.u16(), infobitsSet: reader.u8(), flags: reader.u8() };
    case XLOG_HEAP2_NEW_CID: return {
      type: 'newCid', topXid: reader.u32(), cmin: reader.u32(), cmax: reader.u32(), combocid: reader.u32(),
      targetNode: reader.relFileNode(), targetBlock: (reader.u16() << 16 | reader.u16()) >>> 0, targetOffset: reader.u16(),
    };
    default: throw unsupportedRecord('Heap2', record.info);
  }
}

const FREEZE_TUPLE_BYTES = 12;

function decodeFreezePage(reader: BodyReader, block0: Uint8Array): Heap2Record {
  const cutoffXid = reader.u32();
  const count = reader.u16();
  if (block0.length === 0) return { type: 'freezePage', cutoffXid, tuples: [], offsets: [] };
  const data = new BodyReader(block0, 'heap2 freeze tuples');
  const tuples: HeapFreezeTuple[] = [];
  for (let index = 0; index < count; index++) {
    data.seek(index * FREEZE_TUPLE_BYTES);
    tuples.push({ xmax: data.u32(), offset: data.u16(), infomask2: data.u16(), infomask: data.u16(), freezeFlags: data.u8() });
  }
  return { type: 'freezePage', cutoffXid, tuples, offsets: tuples.map((tuple) => tuple.offset) };
}

/** xl_multi_insert_tuple: datalen, infomask2, infomask, hoff, then data; each SHORTALIGNed. */
function decodeMultiInsert(record: DecodedRecord, reader: BodyReader, block0: Uint8Array): Heap2Record {
  const initPage = (record.info & XLOG_HEAP_INIT_PAGE) !== 0;
  const flags = reader.u8();
  reader.skip(1);
  const count = reader.u16();
  const offsets = initPage ? [] : reader.u16Array(count);
  if (block0.length === 0) return { type: 'multiInsert', initPage, flags, offsets, tuples: undefined };
  const data = new BodyReader(block0, 'heap2 multi-insert tuples');
  const tuples: (HeapTupleData & { offsetNumber: number })[] = [];
  for (let index = 0; index < count; index++) {
    data.align(2);
    const length = data.u16();
    const infomask2 = data.u16();
    const infomask = data.u16();
    const hoff = data.u8();
    tuples.push({ offsetNumber: initPage ? index + 1 : offsets[index]!, infomask2, infomask, hoff, data: data.slice(length) });
  }
  return { type: 'multiInsert', initPage, flags, offsets, tuples };
}
