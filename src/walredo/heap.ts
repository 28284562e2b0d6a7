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
 *
 * WHY no decodeHeapRecord here: heap records are most of the WAL, and redo needs a handful of
 * fields. They are read straight from the record's bytes with offsets (heapam_xlog.h layouts,
 * ByteRange), so a record costs no decoded object, reader or view; truncate and unknown
 * record types still go through decodeHeapRecord (its errors are the reference).
 */
import { findBlock } from './blocks.js';
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import {
  XLH_DELETE_ALL_VISIBLE_CLEARED, XLH_DELETE_IS_PARTITION_MOVE, XLH_DELETE_IS_SUPER, XLH_INSERT_ALL_FROZEN_SET,
  XLH_INSERT_ALL_VISIBLE_CLEARED, XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED, XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED,
  XLH_UPDATE_PREFIX_FROM_OLD, XLH_UPDATE_SUFFIX_FROM_OLD, XLOG_HEAP_CONFIRM, XLOG_HEAP_DELETE, XLOG_HEAP_HOT_UPDATE,
  XLOG_HEAP_INIT_PAGE, XLOG_HEAP_INPLACE, XLOG_HEAP_INSERT, XLOG_HEAP_LOCK, XLOG_HEAP_OPMASK, XLOG_HEAP_TRUNCATE, XLOG_HEAP_UPDATE,
  decodeHeapRecord,
} from '../wal/records/heap.js';
import type { DecodedBlock, DecodedRecord } from '../wal/types.js';
import {
  BLCKSZ, INVALID_OFFSET_NUMBER, PAI_IS_HEAP, PAI_OVERWRITE, lpLen, itemIdGet, pageAddItem, pageClearAllVisible,
  pageGetMaxOffsetNumber, pageGetUpper, pageInit, pageSetAllVisible, pageSetLsn, readU16, writeU16, writeU32,
} from './page.js';
import {
  HEAP_HOT_UPDATED, MOVED_PARTITIONS_BLOCK, MOVED_PARTITIONS_OFFSET, SIZEOF_HEAP_TUPLE_HEADER, TUPLE_CID, TUPLE_CTID,
  TUPLE_HOFF, TUPLE_INFOMASK, TUPLE_INFOMASK2, TUPLE_XMAX, TUPLE_XMIN, ByteRange, copyBytes, heapAddItemAt,
  normalTupleOffset, pageSetPrunable, resetXmaxBits, setCmaxFirstCommand, setItemPointer, xmaxIsLockedOnly,
} from './page-heap.js';
import type { RmgrRedo } from './types.js';

/** The largest heap tuple (MaxHeapTupleSize): a page minus its header and one line pointer. */
const MAX_HEAP_TUPLE_SIZE = BLCKSZ - 24 - 4;
/** xl_heap_header: t_infomask2 u16, t_infomask u16, t_hoff u8 (what precedes new tuple bytes). */
const SIZE_OF_HEAP_HEADER = 5;

/**
 * Reused buffer in which a new tuple is assembled when PageAddItem must choose its line pointer
 * (offset number 0, which only corrupt WAL has); otherwise the tuple is written in place.
 */
const tupleBuffer = new Uint8Array(BLCKSZ);

function failed(record: DecodedRecord, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `Heap redo at ${formatLsn(record.lsn)}: ${message}`);
}

function corrupt(what: string, message: string): StrataError {
  return new StrataError('PS_ERR_WAL_CORRUPT', `${what}: ${message}`);
}

/** The main data of the record being redone (one location, reused: redo is synchronous). */
const main = new ByteRange();
/** The block data of the block being redone (likewise). */
const blockData = new ByteRange();

/** Locates the main data and checks it holds `length` bytes (heapam_xlog.h SizeOf* of its struct). */
function needMainData(record: DecodedRecord, length: number, what: string): void {
  const have = main.locateMainData(record);
  if (have < length) throw corrupt(what, `body too short (need ${length} bytes at 0, have ${have})`);
}

function blockNumberOf(record: DecodedRecord, blockId: number): number {
  const block = findBlock(record, blockId);
  if (block === undefined) throw failed(record, `no block ${blockId}`);
  return block.blockNumber;
}

/**
 * Writes a new tuple's 23-byte header at `target[at]`: xmin = the record's xid, xmax `xmax`,
 * cmin = FirstCommandId, t_ctid = its own TID, infomasks and t_hoff from the xl_heap_header at
 * `data[header]`.
 */
function writeNewTupleHeader(
  target: Uint8Array, at: number, record: DecodedRecord, xmax: number, data: Uint8Array, header: number, blockNumber: number, offsetNumber: number,
): void {
  writeU32(target, at + TUPLE_XMIN, record.xid);
  writeU32(target, at + TUPLE_XMAX, xmax);
  writeU32(target, at + TUPLE_CID, 0);
  setItemPointer(target, at + TUPLE_CTID, blockNumber, offsetNumber);
  target[at + TUPLE_INFOMASK2] = data[header]!;
  target[at + TUPLE_INFOMASK2 + 1] = data[header + 1]!;
  target[at + TUPLE_INFOMASK] = data[header + 2]!;
  target[at + TUPLE_INFOMASK + 1] = data[header + 3]!;
  target[at + TUPLE_HOFF] = data[header + 4]!;
}

/**
 * The first half of PageAddItem(page, tuple, length, offsetNumber, overwrite, is_heap): checks
 * and reserves the tuple's space; returns where in `page` the caller writes the tuple, or -1
 * when it is assembled in `tupleBuffer` and added by finishTuple: for offset number 0, and when
 * `apart` (the tuple copies bytes of the page that its reserved space might overlap).
 */
function beginTuple(page: Uint8Array, record: DecodedRecord, length: number, offsetNumber: number, apart: boolean): number {
  if (length > MAX_HEAP_TUPLE_SIZE) throw failed(record, `tuple of ${length} bytes is too large`);
  if (pageGetMaxOffsetNumber(page) + 1 < offsetNumber) throw failed(record, `invalid max offset number ${offsetNumber}`);
  if (offsetNumber === INVALID_OFFSET_NUMBER || apart) return -1;
  const at = heapAddItemAt(page, length, offsetNumber);
  if (at === 0) throw failed(record, `failed to add tuple at offset ${offsetNumber}`);
  return at;
}

/** The second half: adds a tuple assembled in `tupleBuffer` (nothing to do for one in place). */
function finishTuple(page: Uint8Array, record: DecodedRecord, at: number, length: number, offsetNumber: number): void {
  if (at >= 0) return;
  const added = pageAddItem(page, tupleBuffer.subarray(0, length), offsetNumber, PAI_OVERWRITE | PAI_IS_HEAP);
  if (added === INVALID_OFFSET_NUMBER) throw failed(record, `failed to add tuple at offset ${offsetNumber}`);
}

function redoInsert(page: Uint8Array, record: DecodedRecord, block: DecodedBlock): void {
  needMainData(record, 3, 'heap');
  const offsetNumber = main.u16(0);
  const flags = main.u8(2);
  const have = blockData.locateBlockData(block);
  const data = blockData.bytes;
  const start = blockData.start;
  if (have > 0 && have < SIZE_OF_HEAP_HEADER) throw corrupt('heap insert tuple', `body too short (have ${have})`);
  if ((record.info & XLOG_HEAP_INIT_PAGE) !== 0) pageInit(page, 0);
  if (have === 0) throw failed(record, 'insert without tuple data');
  const dataLength = have - SIZE_OF_HEAP_HEADER;
  const length = SIZEOF_HEAP_TUPLE_HEADER + dataLength;
  if (length > MAX_HEAP_TUPLE_SIZE) throw failed(record, 'tuple too large');
  const at = beginTuple(page, record, length, offsetNumber, false);
  const target = at < 0 ? tupleBuffer : page;
  const base = at < 0 ? 0 : at;
  writeNewTupleHeader(target, base, record, 0, data, start, block.blockNumber, offsetNumber);
  copyBytes(target, base + SIZEOF_HEAP_TUPLE_HEADER, data, start + SIZE_OF_HEAP_HEADER, dataLength);
  finishTuple(page, record, at, length, offsetNumber);
  pageSetLsn(page, record.endLsn);
  if (flags & XLH_INSERT_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  if (flags & XLH_INSERT_ALL_FROZEN_SET) pageSetAllVisible(page);
}

/** xl_heap_delete: xmax u32 @0, offnum u16 @4, infobits_set u8 @6, flags u8 @7. */
function redoDelete(page: Uint8Array, record: DecodedRecord, block: DecodedBlock): void {
  needMainData(record, 8, 'heap');
  const xmax = main.u32(0);
  const offsetNumber = main.u16(4);
  const infobitsSet = main.u8(6);
  const flags = main.u8(7);
  const tuple = normalTupleOffset(page, offsetNumber, 'heap delete');
  resetXmaxBits(page, tuple, infobitsSet);
  writeU16(page, tuple + TUPLE_INFOMASK2, readU16(page, tuple + TUPLE_INFOMASK2) & ~HEAP_HOT_UPDATED);
  if (flags & XLH_DELETE_IS_SUPER) writeU32(page, tuple + TUPLE_XMIN, 0);
  else writeU32(page, tuple + TUPLE_XMAX, xmax);
  setCmaxFirstCommand(page, tuple);
  pageSetPrunable(page, record.xid);
  if (flags & XLH_DELETE_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  if (flags & XLH_DELETE_IS_PARTITION_MOVE) setItemPointer(page, tuple + TUPLE_CTID, MOVED_PARTITIONS_BLOCK, MOVED_PARTITIONS_OFFSET);
  else setItemPointer(page, tuple + TUPLE_CTID, block.blockNumber, offsetNumber);
  pageSetLsn(page, record.endLsn);
}

/**
 * xl_heap_update, read from the main data by the update functions:
 * old_xmax u32 @0, old_offnum u16 @4, old_infobits_set u8 @6, flags u8 @7, new_xmax u32 @8,
 * new_offnum u16 @12.
 */
const SIZE_OF_HEAP_UPDATE = 14;

/** The old-tuple half of heap_xlog_update; returns the old tuple's offset. */
function redoUpdateOld(page: Uint8Array, record: DecodedRecord, hot: boolean, newBlockNumber: number): number {
  const oldOffsetNumber = main.u16(4);
  const tuple = normalTupleOffset(page, oldOffsetNumber, 'heap update (old tuple)');
  const infomask2 = readU16(page, tuple + TUPLE_INFOMASK2);
  writeU16(page, tuple + TUPLE_INFOMASK2, hot ? infomask2 | HEAP_HOT_UPDATED : infomask2 & ~HEAP_HOT_UPDATED);
  resetXmaxBits(page, tuple, main.u8(6));
  writeU32(page, tuple + TUPLE_XMAX, main.u32(0));
  setCmaxFirstCommand(page, tuple);
  setItemPointer(page, tuple + TUPLE_CTID, newBlockNumber, main.u16(12));
  pageSetPrunable(page, record.xid);
  if (main.u8(7) & XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  pageSetLsn(page, record.endLsn);
  return tuple;
}

/**
 * The new-tuple half: rebuilds the tuple from block 0's data (prefix/suffix lengths, then
 * xl_heap_header, then bytes) and, on the same page, the old tuple's prefix and suffix (the old
 * tuple at byte `oldTuple`, -1 when on another page), and adds it at new_offnum.
 */
function redoUpdateNew(page: Uint8Array, record: DecodedRecord, block: DecodedBlock, blockNumber: number, oldTuple: number): void {
  const flags = main.u8(7);
  const newOffsetNumber = main.u16(12);
  const have = blockData.locateBlockData(block);
  const data = blockData.bytes;
  const start = blockData.start;
  if (have === 0) throw failed(record, 'update without new tuple data');
  if (pageGetMaxOffsetNumber(page) + 1 < newOffsetNumber) throw failed(record, `invalid max offset number ${newOffsetNumber}`);
  let header = start;
  let prefix = 0;
  let suffix = 0;
  if (flags & XLH_UPDATE_PREFIX_FROM_OLD) {
    prefix = readU16(data, header);
    header += 2;
  }
  if (flags & XLH_UPDATE_SUFFIX_FROM_OLD) {
    suffix = readU16(data, header);
    header += 2;
  }
  if ((prefix > 0 || suffix > 0) && oldTuple < 0) throw failed(record, 'prefix/suffix compression across pages');
  const dataStart = header + SIZE_OF_HEAP_HEADER;
  const end = start + have;
  if (dataStart > end) throw corrupt('heap update tuple', `body too short (need ${dataStart - start} bytes, have ${have})`);
  const dataLength = end - dataStart;
  const length = SIZEOF_HEAP_TUPLE_HEADER + dataLength + prefix + suffix;
  if (length > MAX_HEAP_TUPLE_SIZE) throw failed(record, `new tuple of ${length} bytes is too large`);
  const hoff = data[header + 4]!;
  const bitmapLength = hoff - SIZEOF_HEAP_TUPLE_HEADER;
  if (prefix > 0 && (bitmapLength < 0 || bitmapLength > dataLength)) throw failed(record, `bad t_hoff ${hoff}`);
  // The new tuple goes into free space below pd_upper, which the old tuple (copied from) is above
  // on any page PostgreSQL wrote; on another page it is assembled apart first, as PostgreSQL does.
  const copiesOld = prefix > 0 || suffix > 0;
  const oldPrefix = prefix > 0 ? oldTuple + page[oldTuple + TUPLE_HOFF]! : 0;
  const oldEnd = suffix > 0 ? oldTuple + lpLen(itemIdGet(page, main.u16(4))) : 0;
  const at = beginTuple(page, record, length, newOffsetNumber, copiesOld && oldTuple < pageGetUpper(page));
  const target = at < 0 ? tupleBuffer : page;
  const base = at < 0 ? 0 : at;
  writeNewTupleHeader(target, base, record, main.u32(8), data, header, blockNumber, newOffsetNumber);
  let cursor = base + SIZEOF_HEAP_TUPLE_HEADER;
  if (prefix > 0) {
    copyBytes(target, cursor, data, dataStart, bitmapLength);
    cursor += bitmapLength;
    copyBytes(target, cursor, page, oldPrefix, prefix);
    cursor += prefix;
    copyBytes(target, cursor, data, dataStart + bitmapLength, dataLength - bitmapLength);
    cursor += dataLength - bitmapLength;
  } else {
    copyBytes(target, cursor, data, dataStart, dataLength);
    cursor += dataLength;
  }
  if (suffix > 0) copyBytes(target, cursor, page, oldEnd - suffix, suffix);
  finishTuple(page, record, at, length, newOffsetNumber);
  if (flags & XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  pageSetLsn(page, record.endLsn);
}

function redoUpdate(page: Uint8Array, record: DecodedRecord, block: DecodedBlock, hot: boolean): void {
  needMainData(record, SIZE_OF_HEAP_UPDATE, 'heap');
  const blockId = block.blockId;
  const samePage = findBlock(record, 1) === undefined;
  if (blockId === 1) {
    if (samePage) throw failed(record, 'update has no block 1');
    redoUpdateOld(page, record, hot, blockNumberOf(record, 0));
    return;
  }
  if (blockId !== 0) throw failed(record, `update has no block ${blockId}`);
  if (samePage) {
    const old = redoUpdateOld(page, record, hot, block.blockNumber);
    redoUpdateNew(page, record, block, block.blockNumber, old);
    return;
  }
  if ((record.info & XLOG_HEAP_INIT_PAGE) !== 0) pageInit(page, 0);
  redoUpdateNew(page, record, block, block.blockNumber, -1);
}

function redoConfirm(page: Uint8Array, record: DecodedRecord, block: DecodedBlock): void {
  needMainData(record, 2, 'heap');
  const offsetNumber = main.u16(0);
  const tuple = normalTupleOffset(page, offsetNumber, 'heap confirm');
  setItemPointer(page, tuple + TUPLE_CTID, block.blockNumber, offsetNumber);
  pageSetLsn(page, record.endLsn);
}

/** xl_heap_lock: locking_xid u32 @0, offnum u16 @4, infobits_set u8 @6, flags u8 @7. */
function redoLock(page: Uint8Array, record: DecodedRecord, block: DecodedBlock): void {
  needMainData(record, 8, 'heap');
  const offsetNumber = main.u16(4);
  const tuple = normalTupleOffset(page, offsetNumber, 'heap lock');
  resetXmaxBits(page, tuple, main.u8(6));
  if (xmaxIsLockedOnly(readU16(page, tuple + TUPLE_INFOMASK))) {
    writeU16(page, tuple + TUPLE_INFOMASK2, readU16(page, tuple + TUPLE_INFOMASK2) & ~HEAP_HOT_UPDATED);
    setItemPointer(page, tuple + TUPLE_CTID, block.blockNumber, offsetNumber);
  }
  writeU32(page, tuple + TUPLE_XMAX, main.u32(0));
  setCmaxFirstCommand(page, tuple);
  pageSetLsn(page, record.endLsn);
}

function redoInplace(page: Uint8Array, record: DecodedRecord, block: DecodedBlock): void {
  needMainData(record, 2, 'heap');
  const offsetNumber = main.u16(0);
  const tuple = normalTupleOffset(page, offsetNumber, 'heap inplace');
  const newData = block.data;
  const hoff = page[tuple + TUPLE_HOFF]!;
  const oldLength = lpLen(itemIdGet(page, offsetNumber)) - hoff;
  if (oldLength !== newData.length) throw failed(record, `wrong tuple length: ${oldLength} on the page, ${newData.length} in the record`);
  page.set(newData, tuple + hoff);
  pageSetLsn(page, record.endLsn);
}

const TYPE_NAMES = ['insert', 'delete', 'update', 'truncate', 'hotUpdate', 'confirm', 'lock', 'inplace'];

function redoHeapBlock(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const operation = record.info & XLOG_HEAP_OPMASK;
  if (operation === XLOG_HEAP_TRUNCATE) {
    // Truncate names no page (smgr records do the work): decodeHeapRecord's checks only.
    decodeHeapRecord(record);
    if (blockId !== 0) throw failed(record, `truncate has no block ${blockId}`);
    return;
  }
  if (operation !== XLOG_HEAP_UPDATE && operation !== XLOG_HEAP_HOT_UPDATE && blockId !== 0) {
    throw failed(record, `${TYPE_NAMES[operation >> 4]} has no block ${blockId}`);
  }
  const block = findBlock(record, blockId);
  if (block === undefined) throw failed(record, `no block ${blockId}`);
  switch (operation) {
    case XLOG_HEAP_INSERT: redoInsert(page, record, block); return;
    case XLOG_HEAP_DELETE: redoDelete(page, record, block); return;
    case XLOG_HEAP_UPDATE: redoUpdate(page, record, block, false); return;
    case XLOG_HEAP_HOT_UPDATE: redoUpdate(page, record, block, true); return;
    case XLOG_HEAP_CONFIRM: redoConfirm(page, record, block); return;
    case XLOG_HEAP_LOCK: redoLock(page, record, block); return;
    case XLOG_HEAP_INPLACE: redoInplace(page, record, block); return;
  }
}

export const heapRedo: RmgrRedo = { name: 'Heap', redo: redoHeapBlock };
