/**
 * WAL redo of the Heap resource manager (PostgreSQL 15 heapam.c heap_xlog_*), one page at a time.
 *
 * WHY per block: Strata rebuilds one page per GetPage@LSN, so a record is applied once for each
 * page it references, and each call does exactly what PostgreSQL's redo does to that buffer:
 *   INSERT, DELETE, CONFIRM, LOCK, INPLACE    block 0 = the heap page.
 *   UPDATE, HOT_UPDATE                        block 0 = the page of the new tuple; block 1 = the
 *                                             page of the old tuple, present only when different.
 *   TRUNCATE                                  no block (smgr records do the work): nothing to do.
 *
 * UPDATE's prefix/suffix compression (XLH_UPDATE_PREFIX_FROM_OLD / SUFFIX_FROM_OLD) rebuilds the
 * new tuple from bytes of the old one. log_heap_update only compresses when `oldbuf == newbuf`
 * (same page, so there is no block 1), which is the one case where the old tuple is on the page
 * being redone: the same-page path below first updates the old tuple, then copies its prefix and
 * suffix. A record with those flags and a block 1 cannot come from PostgreSQL; it is rejected
 * (PS_ERR_REDO_FAILED) rather than guessed.
 *
 * Visibility-map clearing implied by *_ALL_VISIBLE_CLEARED flags concerns VM pages these records
 * do not reference; Strata's ingest handles those (not here). The page-level PD_ALL_VISIBLE flag
 * is cleared here exactly as PostgreSQL does. Command ids are FirstCommandId (0), as in redo.
 */
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import {
  XLH_DELETE_ALL_VISIBLE_CLEARED, XLH_DELETE_IS_PARTITION_MOVE, XLH_DELETE_IS_SUPER, XLH_INSERT_ALL_FROZEN_SET,
  XLH_INSERT_ALL_VISIBLE_CLEARED, XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED, XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED,
  XLH_UPDATE_PREFIX_FROM_OLD, XLH_UPDATE_SUFFIX_FROM_OLD, decodeHeapRecord, type HeapRecord, type HeapTupleData,
} from '../wal/records/heap.js';
import type { DecodedRecord } from '../wal/types.js';
import {
  BLCKSZ, INVALID_OFFSET_NUMBER, PAI_IS_HEAP, PAI_OVERWRITE, lpLen, itemIdGet, pageAddItem, pageClearAllVisible,
  pageGetMaxOffsetNumber, pageInit, pageSetAllVisible, pageSetLsn, readU16, writeU16, writeU32,
} from './page.js';
import {
  HEAP_HOT_UPDATED, MOVED_PARTITIONS_BLOCK, MOVED_PARTITIONS_OFFSET, SIZEOF_HEAP_TUPLE_HEADER, TUPLE_CTID,
  TUPLE_HOFF, TUPLE_INFOMASK, TUPLE_INFOMASK2, TUPLE_XMAX, TUPLE_XMIN, findBlock, normalTupleOffset, pageSetPrunable,
  resetXmaxBits, setCmaxFirstCommand, setItemPointer, xmaxIsLockedOnly,
} from './page-heap.js';
import type { RmgrRedo } from './types.js';

/** The largest heap tuple (MaxHeapTupleSize): a page minus its header and one line pointer. */
const MAX_HEAP_TUPLE_SIZE = BLCKSZ - 24 - 4;

/** Reused buffer in which new tuples are assembled before PageAddItem copies them. */
const tupleBuffer = new Uint8Array(BLCKSZ);

function failed(record: DecodedRecord, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `Heap redo at ${formatLsn(record.lsn)}: ${message}`);
}

function blockNumberOf(record: DecodedRecord, blockId: number): number {
  const block = findBlock(record, blockId);
  if (block === undefined) throw failed(record, `no block ${blockId}`);
  return block.blockNumber;
}

/**
 * Assembles a new tuple's header in `tupleBuffer` (zeroed first 23 bytes, infomasks and t_hoff
 * from xl_heap_header, xmin = the record's xid, cmin = FirstCommandId, t_ctid = its own TID).
 */
function writeNewTupleHeader(record: DecodedRecord, tuple: HeapTupleData, blockNumber: number, offsetNumber: number): void {
  tupleBuffer.fill(0, 0, SIZEOF_HEAP_TUPLE_HEADER);
  writeU16(tupleBuffer, TUPLE_INFOMASK2, tuple.infomask2);
  writeU16(tupleBuffer, TUPLE_INFOMASK, tuple.infomask);
  tupleBuffer[TUPLE_HOFF] = tuple.hoff;
  writeU32(tupleBuffer, TUPLE_XMIN, record.xid);
  setItemPointer(tupleBuffer, TUPLE_CTID, blockNumber, offsetNumber);
}

function addTuple(page: Uint8Array, record: DecodedRecord, length: number, offsetNumber: number): void {
  if (length > MAX_HEAP_TUPLE_SIZE) throw failed(record, `tuple of ${length} bytes is too large`);
  if (pageGetMaxOffsetNumber(page) + 1 < offsetNumber) throw failed(record, `invalid max offset number ${offsetNumber}`);
  const added = pageAddItem(page, tupleBuffer.subarray(0, length), offsetNumber, PAI_OVERWRITE | PAI_IS_HEAP);
  if (added === INVALID_OFFSET_NUMBER) throw failed(record, `failed to add tuple at offset ${offsetNumber}`);
}

function redoInsert(page: Uint8Array, record: DecodedRecord, body: Extract<HeapRecord, { type: 'insert' }>): void {
  if (body.initPage) pageInit(page, 0);
  const tuple = body.tuple;
  if (tuple === undefined) throw failed(record, 'insert without tuple data');
  writeNewTupleHeader(record, tuple, blockNumberOf(record, 0), body.offsetNumber);
  if (SIZEOF_HEAP_TUPLE_HEADER + tuple.data.length > MAX_HEAP_TUPLE_SIZE) throw failed(record, 'tuple too large');
  tupleBuffer.set(tuple.data, SIZEOF_HEAP_TUPLE_HEADER);
  addTuple(page, record, SIZEOF_HEAP_TUPLE_HEADER + tuple.data.length, body.offsetNumber);
  pageSetLsn(page, record.endLsn);
  if (body.flags & XLH_INSERT_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  if (body.flags & XLH_INSERT_ALL_FROZEN_SET) pageSetAllVisible(page);
}

function redoDelete(page: Uint8Array, record: DecodedRecord, body: Extract<HeapRecord, { type: 'delete' }>): void {
  const tuple = normalTupleOffset(page, body.offsetNumber, 'heap delete');
  resetXmaxBits(page, tuple, body.infobitsSet);
  writeU16(page, tuple + TUPLE_INFOMASK2, readU16(page, tuple + TUPLE_INFOMASK2) & ~HEAP_HOT_UPDATED);
  if (body.flags & XLH_DELETE_IS_SUPER) writeU32(page, tuple + TUPLE_XMIN, 0);
  else writeU32(page, tuple + TUPLE_XMAX, body.xmax);
  setCmaxFirstCommand(page, tuple);
  pageSetPrunable(page, record.xid);
  if (body.flags & XLH_DELETE_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  if (body.flags & XLH_DELETE_IS_PARTITION_MOVE) setItemPointer(page, tuple + TUPLE_CTID, MOVED_PARTITIONS_BLOCK, MOVED_PARTITIONS_OFFSET);
  else setItemPointer(page, tuple + TUPLE_CTID, blockNumberOf(record, 0), body.offsetNumber);
  pageSetLsn(page, record.endLsn);
}

type UpdateBody = Extract<HeapRecord, { type: 'update' | 'hotUpdate' }>;

/** The old-tuple half of heap_xlog_update; returns the old tuple's offset and length. */
function redoUpdateOld(page: Uint8Array, record: DecodedRecord, body: UpdateBody): { tuple: number; length: number } {
  const tuple = normalTupleOffset(page, body.oldOffsetNumber, 'heap update (old tuple)');
  const length = lpLen(itemIdGet(page, body.oldOffsetNumber));
  const infomask2 = readU16(page, tuple + TUPLE_INFOMASK2);
  writeU16(page, tuple + TUPLE_INFOMASK2, body.type === 'hotUpdate' ? infomask2 | HEAP_HOT_UPDATED : infomask2 & ~HEAP_HOT_UPDATED);
  resetXmaxBits(page, tuple, body.oldInfobitsSet);
  writeU32(page, tuple + TUPLE_XMAX, body.oldXmax);
  setCmaxFirstCommand(page, tuple);
  setItemPointer(page, tuple + TUPLE_CTID, blockNumberOf(record, 0), body.newOffsetNumber);
  pageSetPrunable(page, record.xid);
  if (body.flags & XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  pageSetLsn(page, record.endLsn);
  return { tuple, length };
}

/**
 * The new-tuple half: rebuilds the tuple from the record (and, on the same page, the old tuple's
 * prefix and suffix) and adds it at new_offnum.
 */
function redoUpdateNew(page: Uint8Array, record: DecodedRecord, body: UpdateBody, old: { tuple: number; length: number } | undefined): void {
  const tuple = body.tuple;
  if (tuple === undefined) throw failed(record, 'update without new tuple data');
  if (pageGetMaxOffsetNumber(page) + 1 < body.newOffsetNumber) throw failed(record, `invalid max offset number ${body.newOffsetNumber}`);
  const prefix = body.flags & XLH_UPDATE_PREFIX_FROM_OLD ? body.prefixLength : 0;
  const suffix = body.flags & XLH_UPDATE_SUFFIX_FROM_OLD ? body.suffixLength : 0;
  if ((prefix > 0 || suffix > 0) && old === undefined) throw failed(record, 'prefix/suffix compression across pages');
  const length = SIZEOF_HEAP_TUPLE_HEADER + tuple.data.length + prefix + suffix;
  if (length > MAX_HEAP_TUPLE_SIZE) throw failed(record, `new tuple of ${length} bytes is too large`);
  writeNewTupleHeader(record, tuple, blockNumberOf(record, 0), body.newOffsetNumber);
  let at = SIZEOF_HEAP_TUPLE_HEADER;
  if (prefix > 0 && old !== undefined) {
    const bitmapLength = tuple.hoff - SIZEOF_HEAP_TUPLE_HEADER;
    if (bitmapLength < 0 || bitmapLength > tuple.data.length) throw failed(record, `bad t_hoff ${tuple.hoff}`);
    tupleBuffer.set(tuple.data.subarray(0, bitmapLength), at);
    at += bitmapLength;
    const oldData = old.tuple + page[old.tuple + TUPLE_HOFF]!;
    tupleBuffer.set(page.subarray(oldData, oldData + prefix), at);
    at += prefix;
    tupleBuffer.set(tuple.data.subarray(bitmapLength), at);
    at += tuple.data.length - bitmapLength;
  } else {
    tupleBuffer.set(tuple.data, at);
    at += tuple.data.length;
  }
  if (suffix > 0 && old !== undefined) {
    const oldEnd = old.tuple + old.length;
    tupleBuffer.set(page.subarray(oldEnd - suffix, oldEnd), at);
  }
  writeU32(tupleBuffer, TUPLE_XMAX, body.newXmax);
  addTuple(page, record, length, body.newOffsetNumber);
  if (body.flags & XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  pageSetLsn(page, record.endLsn);
}

function redoUpdate(page: Uint8Array, record: DecodedRecord, body: UpdateBody, blockId: number): void {
  const samePage = findBlock(record, 1) === undefined;
  if (blockId === 1) {
    if (samePage) throw failed(record, 'update has no block 1');
    redoUpdateOld(page, record, body);
    return;
  }
  if (blockId !== 0) throw failed(record, `update has no block ${blockId}`);
  if (samePage) {
    const old = redoUpdateOld(page, record, body);
    redoUpdateNew(page, record, body, old);
    return;
  }
  if (body.initPage) pageInit(page, 0);
  redoUpdateNew(page, record, body, undefined);
}

function redoConfirm(page: Uint8Array, record: DecodedRecord, offsetNumber: number): void {
  const tuple = normalTupleOffset(page, offsetNumber, 'heap confirm');
  setItemPointer(page, tuple + TUPLE_CTID, blockNumberOf(record, 0), offsetNumber);
  pageSetLsn(page, record.endLsn);
}

function redoLock(page: Uint8Array, record: DecodedRecord, body: Extract<HeapRecord, { type: 'lock' }>): void {
  const tuple = normalTupleOffset(page, body.offsetNumber, 'heap lock');
  resetXmaxBits(page, tuple, body.infobitsSet);
  if (xmaxIsLockedOnly(readU16(page, tuple + TUPLE_INFOMASK))) {
    writeU16(page, tuple + TUPLE_INFOMASK2, readU16(page, tuple + TUPLE_INFOMASK2) & ~HEAP_HOT_UPDATED);
    setItemPointer(page, tuple + TUPLE_CTID, blockNumberOf(record, 0), body.offsetNumber);
  }
  writeU32(page, tuple + TUPLE_XMAX, body.lockingXid);
  setCmaxFirstCommand(page, tuple);
  pageSetLsn(page, record.endLsn);
}

function redoInplace(page: Uint8Array, record: DecodedRecord, body: Extract<HeapRecord, { type: 'inplace' }>): void {
  const tuple = normalTupleOffset(page, body.offsetNumber, 'heap inplace');
  const newData = body.tuple ?? new Uint8Array(0);
  const hoff = page[tuple + TUPLE_HOFF]!;
  const oldLength = lpLen(itemIdGet(page, body.offsetNumber)) - hoff;
  if (oldLength !== newData.length) throw failed(record, `wrong tuple length: ${oldLength} on the page, ${newData.length} in the record`);
  page.set(newData, tuple + hoff);
  pageSetLsn(page, record.endLsn);
}

function redoHeapBlock(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = decodeHeapRecord(record);
  if (body.type !== 'update' && body.type !== 'hotUpdate' && blockId !== 0) throw failed(record, `${body.type} has no block ${blockId}`);
  switch (body.type) {
    case 'insert': redoInsert(page, record, body); return;
    case 'delete': redoDelete(page, record, body); return;
    case 'update':
    case 'hotUpdate': redoUpdate(page, record, body, blockId); return;
    case 'truncate': return;
    case 'confirm': redoConfirm(page, record, body.offsetNumber); return;
    case 'lock': redoLock(page, record, body); return;
    case 'inplace': redoInplace(page, record, body); return;
  }
}

export const heapRedo: RmgrRedo = { name: 'Heap', redo: redoHeapBlock };
