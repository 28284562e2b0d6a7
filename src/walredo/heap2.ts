/**
 * WAL redo of the Heap2 resource manager (PostgreSQL 15 heapam.c heap_xlog_prune, _vacuum,
 * _freeze_page, _visible, _multi_insert, _lock_updated), one page at a time.
 *
 * Block roles: PRUNE, VACUUM, FREEZE_PAGE, MULTI_INSERT, LOCK_UPDATED: block 0 = the heap page.
 * VISIBLE: block 0 = the visibility map page, block 1 = the heap page whose bits are set.
 * NEW_CID (logical decoding only) and REWRITE (a logical-rewrite mapping file, not a page) have no
 * block: nothing to do.
 *
 * VISIBLE on the heap page sets PD_ALL_VISIBLE, and PostgreSQL bumps the page LSN only when
 * XLogHintBitIsNeeded() (data checksums or wal_log_hints) — a cluster setting the record does not
 * carry. `createHeap2Redo({ hintBitsLogged })` chooses; the default export (the dispatcher's)
 * stamps the page. WAL ingest knows the setting from the primary's pg_control and its
 * PARAMETER_CHANGE records (ingest/control-file.ts) and, where hints are not logged, stores a
 * HeapSetAllVisible Strata record for the heap page instead of this record, so GetPage pages carry
 * exactly PostgreSQL's LSN. On the VM page the bits are ORed in and the LSN set only when the
 * heap block's two bits differ from the record's flags (visibilitymap_set).
 *
 * PRUNE, VACUUM, FREEZE_PAGE and VISIBLE (most Heap2 records) are read straight from the record's
 * bytes (heapam_xlog.h layouts) without decodeHeap2Record's objects and arrays; the rarer types
 * use the decoder.
 */
import { findBlock } from './blocks.js';
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import {
  XLH_INSERT_ALL_FROZEN_SET, XLH_INSERT_ALL_VISIBLE_CLEARED, XLOG_HEAP2_FREEZE_PAGE, XLOG_HEAP2_PRUNE, XLOG_HEAP2_VACUUM,
  XLOG_HEAP2_VISIBLE, XLOG_HEAP_OPMASK, decodeHeap2Record, type Heap2Record,
} from '../wal/records/heap.js';
import { ForkNumber, type DecodedRecord } from '../wal/types.js';
import {
  BLCKSZ, INVALID_OFFSET_NUMBER, PAI_IS_HEAP, PAI_OVERWRITE, pageAddItem, pageClearAllVisible,
  pageGetMaxOffsetNumber, pageInit, pageIsNew, pageSetAllVisible, pageSetLsn, readU16, readU32, writeU16, writeU32,
} from './page.js';
import {
  FROZEN_TRANSACTION_ID, INVALID_TRANSACTION_ID, SIZEOF_HEAP_TUPLE_HEADER, TUPLE_CID, TUPLE_CTID, TUPLE_HOFF,
  TUPLE_INFOMASK, TUPLE_INFOMASK2, TUPLE_XMAX, TUPLE_XMIN, ByteRange, heapPagePruneExecuteFrom,
  heapVacuumUnusedFrom, normalTupleOffset, resetXmaxBits, setItemPointer, vmBlockOfHeapBlock, vmSetBits,
} from './page-heap.js';
import type { RmgrRedo } from './types.js';

/** xl_heap_freeze_tuple frzflags. */
const XLH_FREEZE_XVAC = 0x02;
const XLH_INVALID_XVAC = 0x04;
const MAX_HEAP_TUPLE_SIZE = BLCKSZ - 24 - 4;
const EMPTY = new Uint8Array(0);

export interface Heap2RedoOptions {
  /** XLogHintBitIsNeeded() on the primary: data checksums or wal_log_hints are on. */
  readonly hintBitsLogged: boolean;
}

const tupleBuffer = new Uint8Array(BLCKSZ);

/** The main data of the record being redone (one location, reused: redo is synchronous). */
const main = new ByteRange();
/** The block data of the block being redone (likewise). */
const blockData = new ByteRange();

function corrupt(what: string, message: string): StrataError {
  return new StrataError('PS_ERR_WAL_CORRUPT', `${what}: ${message}`);
}

/** Locates the main data and checks it holds `length` bytes (heapam_xlog.h SizeOf* of its struct). */
function needMainData(record: DecodedRecord, length: number): void {
  const have = main.locateMainData(record);
  if (have < length) throw corrupt('heap2', `body too short (need ${length} bytes at 0, have ${have})`);
}

function failed(record: DecodedRecord, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `Heap2 redo at ${formatLsn(record.lsn)}: ${message}`);
}

function blockNumberOf(record: DecodedRecord, blockId: number): number {
  const block = findBlock(record, blockId);
  if (block === undefined) throw failed(record, `no block ${blockId}`);
  return block.blockNumber;
}

/** xl_heap_freeze_tuple in block 0's data: xmax u32, offset u16, t_infomask2 u16, t_infomask u16, frzflags u8 (12 bytes). */
const FREEZE_TUPLE_BYTES = 12;

function redoFreeze(page: Uint8Array, record: DecodedRecord, data: Uint8Array): void {
  const count = main.u16(4);
  if (data.length > 0) {
    if (count > 0 && (count - 1) * FREEZE_TUPLE_BYTES + 11 > data.length) {
      throw corrupt('heap2 freeze tuples', `body too short (need ${count} tuples, have ${data.length} bytes)`);
    }
    for (let index = 0, at = 0; index < count; index++, at += FREEZE_TUPLE_BYTES) {
      const tuple = normalTupleOffset(page, readU16(data, at + 4), 'heap freeze');
      const freezeFlags = data[at + 10]!;
      writeU32(page, tuple + TUPLE_XMAX, readU32(data, at));
      if (freezeFlags & XLH_FREEZE_XVAC) writeU32(page, tuple + TUPLE_CID, FROZEN_TRANSACTION_ID);
      if (freezeFlags & XLH_INVALID_XVAC) writeU32(page, tuple + TUPLE_CID, INVALID_TRANSACTION_ID);
      writeU16(page, tuple + TUPLE_INFOMASK, readU16(data, at + 8));
      writeU16(page, tuple + TUPLE_INFOMASK2, readU16(data, at + 6));
    }
  }
  pageSetLsn(page, record.endLsn);
}

function redoMultiInsert(page: Uint8Array, record: DecodedRecord, body: Extract<Heap2Record, { type: 'multiInsert' }>): void {
  if (body.initPage) pageInit(page, 0);
  if (body.tuples === undefined) throw failed(record, 'multi-insert without tuple data');
  const blockNumber = blockNumberOf(record, 0);
  for (const tuple of body.tuples) {
    if (pageGetMaxOffsetNumber(page) + 1 < tuple.offsetNumber) throw failed(record, `invalid max offset number ${tuple.offsetNumber}`);
    const length = SIZEOF_HEAP_TUPLE_HEADER + tuple.data.length;
    if (length > MAX_HEAP_TUPLE_SIZE) throw failed(record, `tuple of ${length} bytes is too large`);
    tupleBuffer.fill(0, 0, SIZEOF_HEAP_TUPLE_HEADER);
    writeU16(tupleBuffer, TUPLE_INFOMASK2, tuple.infomask2);
    writeU16(tupleBuffer, TUPLE_INFOMASK, tuple.infomask);
    tupleBuffer[TUPLE_HOFF] = tuple.hoff;
    writeU32(tupleBuffer, TUPLE_XMIN, record.xid);
    setItemPointer(tupleBuffer, TUPLE_CTID, blockNumber, tuple.offsetNumber);
    tupleBuffer.set(tuple.data, SIZEOF_HEAP_TUPLE_HEADER);
    const added = pageAddItem(page, tupleBuffer.subarray(0, length), tuple.offsetNumber, PAI_OVERWRITE | PAI_IS_HEAP);
    if (added === INVALID_OFFSET_NUMBER) throw failed(record, `failed to add tuple at offset ${tuple.offsetNumber}`);
  }
  pageSetLsn(page, record.endLsn);
  if (body.flags & XLH_INSERT_ALL_VISIBLE_CLEARED) pageClearAllVisible(page);
  if (body.flags & XLH_INSERT_ALL_FROZEN_SET) pageSetAllVisible(page);
}

function redoLockUpdated(page: Uint8Array, record: DecodedRecord, body: Extract<Heap2Record, { type: 'lockUpdated' }>): void {
  const tuple = normalTupleOffset(page, body.offsetNumber, 'heap lock updated');
  resetXmaxBits(page, tuple, body.infobitsSet);
  writeU32(page, tuple + TUPLE_XMAX, body.xmax);
  pageSetLsn(page, record.endLsn);
}

function redoVisible(page: Uint8Array, record: DecodedRecord, blockId: number, flags: number, options: Heap2RedoOptions): void {
  if (blockId === 1) {
    pageSetAllVisible(page);
    if (options.hintBitsLogged) pageSetLsn(page, record.endLsn);
    return;
  }
  const vmBlock = findBlock(record, 0);
  if (blockId !== 0 || vmBlock === undefined) throw failed(record, `visible has no block ${blockId}`);
  const heapBlock = blockNumberOf(record, 1);
  if (vmBlock.forkNumber !== ForkNumber.VisibilityMap || vmBlock.blockNumber !== vmBlockOfHeapBlock(heapBlock)) {
    throw failed(record, `wrong VM page ${vmBlock.blockNumber} (fork ${vmBlock.forkNumber}) for heap block ${heapBlock}`);
  }
  if (pageIsNew(page)) pageInit(page, 0);
  if (vmSetBits(page, heapBlock, flags & 0x03)) pageSetLsn(page, record.endLsn);
}

const TYPE_NAMES = ['rewrite', 'prune', 'vacuum', 'freezePage', 'visible', 'multiInsert', 'lockUpdated', 'newCid'];

/** PRUNE, VACUUM, FREEZE_PAGE, VISIBLE from the record's bytes; false for the other types. */
function redoFromBytes(page: Uint8Array, record: DecodedRecord, blockId: number, options: Heap2RedoOptions): boolean {
  const operation = record.info & XLOG_HEAP_OPMASK;
  switch (operation) {
    case XLOG_HEAP2_PRUNE: needMainData(record, 8); break;
    case XLOG_HEAP2_VACUUM: needMainData(record, 2); break;
    case XLOG_HEAP2_FREEZE_PAGE: needMainData(record, 6); break;
    case XLOG_HEAP2_VISIBLE: needMainData(record, 5); break;
    default: return false;
  }
  if (operation === XLOG_HEAP2_VISIBLE) {
    redoVisible(page, record, blockId, main.u8(4), options);
    return true;
  }
  if (blockId !== 0) throw failed(record, `${TYPE_NAMES[operation >> 4]} has no block ${blockId}`);
  const block = findBlock(record, 0);
  if (operation === XLOG_HEAP2_PRUNE || operation === XLOG_HEAP2_VACUUM) {
    // The offsets are read where they lie in the record (no view per record: prunes are many).
    blockData.locateBlockData(block);
    const end = blockData.start + blockData.length;
    if (operation === XLOG_HEAP2_PRUNE) heapPagePruneExecuteFrom(page, blockData.bytes, main.u16(4), main.u16(6), blockData.start, end);
    else heapVacuumUnusedFrom(page, blockData.bytes, main.u16(0), blockData.start, end);
    pageSetLsn(page, record.endLsn);
  } else {
    redoFreeze(page, record, block === undefined ? EMPTY : block.data);
  }
  return true;
}

function redoHeap2Block(page: Uint8Array, record: DecodedRecord, blockId: number, options: Heap2RedoOptions): void {
  if (redoFromBytes(page, record, blockId, options)) return;
  const body = decodeHeap2Record(record);
  if (blockId !== 0) throw failed(record, `${body.type} has no block ${blockId}`);
  switch (body.type) {
    case 'multiInsert': redoMultiInsert(page, record, body); return;
    case 'lockUpdated': redoLockUpdated(page, record, body); return;
    case 'prune':
    case 'vacuum':
    case 'freezePage':
    case 'visible':
    case 'newCid':
    case 'rewrite': return;
  }
}

/** Heap2 redo for a cluster whose XLogHintBitIsNeeded() is `options.hintBitsLogged`. */
export function createHeap2Redo(options: Heap2RedoOptions): RmgrRedo {
  return { name: 'Heap2', redo: (page, record, blockId) => redoHeap2Block(page, record, blockId, options) };
}

export const heap2Redo: RmgrRedo = createHeap2Redo({ hintBitsLogged: true });

