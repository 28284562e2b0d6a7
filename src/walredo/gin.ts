/**
 * WAL redo of the Gin resource manager (access/gin/ginxlog.c of PostgreSQL 15), one block at a
 * time (see types.ts for the contract: the dispatcher has already restored images, zeroed
 * will-init pages and skipped pages at or past the record).
 *
 * WHY per record type, per block id (PostgreSQL's block ids for each record):
 *   CREATE_PTREE        0 new posting-tree leaf (init, one compressed posting list)
 *   INSERT              0 target page (entry / data, leaf / internal); 1 child whose split this
 *                       insert finishes (incomplete-split flag cleared; internal inserts only)
 *   SPLIT               0 left, 1 right, 2 root: always full-page images; 3 child (as INSERT's 1)
 *   VACUUM_PAGE         0 always a full-page image
 *   VACUUM_DATA_LEAF    0 leaf recompressed (gin-recompress.ts)
 *   DELETE_PAGE         0 deleted page, 1 parent (posting item removed), 2 left sibling
 *   UPDATE_META_PAGE    0 metapage (re-initialized), 1 pending-list tail (tuples added, or the
 *                       old tail's right link set)
 *   INSERT_LISTPAGE     0 new pending-list page
 *   DELETE_LISTPAGE     0 metapage, 1..n pending-list pages re-initialized as deleted
 * Blocks PostgreSQL requires a full-page image for are an error when they reach redo.
 */
import { pageIndexTupleDelete } from './page-index.js';
import { StrataError } from '../errors.js';
import {
  GIN_COMPRESSED, GIN_DATA, GIN_DATA_OFFSET, GIN_DELETED, GIN_INCOMPLETE_SPLIT, GIN_LEAF, GIN_LIST, GIN_LIST_FULLROW,
  GIN_META_SIZE, INVALID_BLOCK_NUMBER, POSTING_ITEM_SIZE, ginDataPageAddPostingItem, ginDataPageSetDataSize,
  ginExpectFlags, ginGetFlags, ginGetMaxOff, ginInitMetaPage, ginInitPage, ginPageDeletePostingItem, ginSetFlags,
  ginSetMaxOff, ginSetRightLink, postingItemOffset, writeBlockId,
} from './gin-page.js';
import { ginRedoRecompress } from './gin-recompress.js';
import {
  INVALID_OFFSET_NUMBER, pageAddItem, pageGetItem, pageGetLower, pageGetMaxOffsetNumber, pageSetLsn, pageSetPruneXid,
  readU16, readU32, SIZE_OF_PAGE_HEADER, writeU16,
} from './page.js';
import type { DecodedRecord } from '../wal/types.js';
import type { RmgrRedo } from './types.js';
import {
  XLOG_GIN_CREATE_PTREE, XLOG_GIN_DELETE_LISTPAGE, XLOG_GIN_DELETE_PAGE, XLOG_GIN_INSERT, XLOG_GIN_INSERT_LISTPAGE,
  XLOG_GIN_SPLIT, XLOG_GIN_UPDATE_META_PAGE, XLOG_GIN_VACUUM_DATA_LEAF_PAGE, XLOG_GIN_VACUUM_PAGE,
} from '../wal/records/gin.js';

const GIN_INSERT_ISDATA = 0x01;
const GIN_INSERT_ISLEAF = 0x02;
/** IndexTupleData: t_tid (6 bytes), then t_info whose low 13 bits are the size. */
const INDEX_SIZE_MASK = 0x1fff;

function fail(record: DecodedRecord, message: string): never {
  throw new StrataError('PS_ERR_REDO_FAILED', `Gin redo (info 0x${record.info.toString(16)}): ${message}`);
}

/** The data of block reference `blockId` (not redo.ts's findBlock: that import would be a cycle). */
function blockData(record: DecodedRecord, blockId: number): Uint8Array {
  for (const block of record.blocks) if (block.blockId === blockId) return block.data;
  return fail(record, `no block ${blockId}`);
}

function mainData(record: DecodedRecord, length: number): Uint8Array {
  if (record.mainData.length < length) fail(record, `main data is ${record.mainData.length} bytes, needs ${length}`);
  return record.mainData;
}

function indexTupleSize(bytes: Uint8Array, offset: number): number {
  return readU16(bytes, offset + 6) & INDEX_SIZE_MASK;
}

/**
 * Adds `count` index tuples laid end to end (no alignment) in `tuples`, at offsets `first`,
 * first + 1, ... (PageAddItem without overwrite: later line pointers shift up).
 */
function addTuples(record: DecodedRecord, page: Uint8Array, tuples: Uint8Array, count: number, first: number): void {
  let position = 0;
  for (let index = 0; index < count; index++) {
    if (position + 8 > tuples.length) fail(record, `tuple ${index} of ${count} is truncated`);
    const size = indexTupleSize(tuples, position);
    if (size < 8 || position + size > tuples.length) fail(record, `tuple ${index} of ${count} has a bad size ${size}`);
    if (pageAddItem(page, tuples.subarray(position, position + size), first + index, 0) === INVALID_OFFSET_NUMBER) {
      fail(record, 'failed to add item to index page');
    }
    position += size;
  }
  if (position !== tuples.length) fail(record, `${tuples.length - position} bytes left after ${count} tuples`);
}

/** ginRedoClearIncompleteSplit: the child whose split an internal insert finishes. */
function clearIncompleteSplit(page: Uint8Array, record: DecodedRecord): void {
  ginSetFlags(page, ginGetFlags(page) & ~GIN_INCOMPLETE_SPLIT);
  pageSetLsn(page, record.endLsn);
}

function redoCreatePostingTree(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  if (blockId !== 0) fail(record, `CREATE_PTREE has no block ${blockId}`);
  const body = mainData(record, 4);
  const size = readU32(body, 0);
  if (body.length < 4 + size) fail(record, `posting list of ${size} bytes is truncated`);
  ginInitPage(page, GIN_DATA | GIN_LEAF | GIN_COMPRESSED);
  page.set(body.subarray(4, 4 + size), GIN_DATA_OFFSET);
  ginDataPageSetDataSize(page, size);
  pageSetLsn(page, record.endLsn);
}

/** ginRedoInsertEntry: ginxlogInsertEntry is offset u16, isDelete bool, then the IndexTuple at 4. */
function insertEntry(page: Uint8Array, record: DecodedRecord, rightChild: number, payload: Uint8Array): void {
  if (payload.length < 12) fail(record, 'entry insert payload is truncated');
  ginExpectFlags(page, 0, GIN_DATA, 'INSERT entry');
  const offset = readU16(payload, 0);
  const isDelete = payload[2]! !== 0;
  const maxOffset = pageGetMaxOffsetNumber(page);
  if (rightChild !== INVALID_BLOCK_NUMBER) {
    ginExpectFlags(page, 0, GIN_LEAF, 'INSERT entry downlink');
    if (offset < 1 || offset > maxOffset) fail(record, `downlink offset ${offset} is not on the page`);
    const tuple = pageGetItem(page, offset).offset;
    writeBlockId(page, tuple, rightChild);
    writeU16(page, tuple + 4, 0);
  }
  if (isDelete) {
    ginExpectFlags(page, GIN_LEAF, 0, 'INSERT entry replace');
    if (offset < 1 || offset > maxOffset) fail(record, `replaced offset ${offset} is not on the page`);
    pageIndexTupleDelete(page, offset);
  }
  const size = indexTupleSize(payload, 4);
  if (4 + size > payload.length) fail(record, `entry tuple of ${size} bytes is truncated`);
  if (pageAddItem(page, payload.subarray(4, 4 + size), offset, 0) === INVALID_OFFSET_NUMBER) {
    fail(record, 'failed to add item to index page');
  }
}

/** ginRedoInsertData: a leaf recompression, or an internal PostingItem after a child split. */
function insertData(page: Uint8Array, record: DecodedRecord, isLeaf: boolean, rightChild: number, payload: Uint8Array): void {
  if (isLeaf) {
    ginExpectFlags(page, GIN_DATA | GIN_LEAF, 0, 'INSERT data leaf');
    ginRedoRecompress(page, payload);
    return;
  }
  ginExpectFlags(page, GIN_DATA, GIN_LEAF, 'INSERT data internal');
  if (payload.length < 2 + POSTING_ITEM_SIZE) fail(record, 'data insert payload is truncated');
  const offset = readU16(payload, 0);
  if (offset < 1 || offset > ginGetMaxOff(page)) fail(record, `posting item ${offset} is not on the page`);
  writeBlockId(page, postingItemOffset(offset), rightChild);
  ginDataPageAddPostingItem(page, payload.subarray(2, 2 + POSTING_ITEM_SIZE), offset);
}

function redoInsert(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = mainData(record, 2);
  const flags = readU16(body, 0);
  const isLeaf = (flags & GIN_INSERT_ISLEAF) !== 0;
  let rightChild = INVALID_BLOCK_NUMBER;
  if (!isLeaf) {
    mainData(record, 10);
    rightChild = ((readU16(body, 6) << 16) | readU16(body, 8)) >>> 0;
  }
  if (blockId === 1 && !isLeaf) {
    clearIncompleteSplit(page, record);
    return;
  }
  if (blockId !== 0) fail(record, `INSERT has no block ${blockId}`);
  const payload = blockData(record, 0);
  if ((flags & GIN_INSERT_ISDATA) !== 0) insertData(page, record, isLeaf, rightChild, payload);
  else insertEntry(page, record, rightChild, payload);
  pageSetLsn(page, record.endLsn);
}

function redoSplit(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = mainData(record, 26);
  const isLeaf = (readU16(body, 24) & GIN_INSERT_ISLEAF) !== 0;
  if (blockId === 3 && !isLeaf) {
    clearIncompleteSplit(page, record);
    return;
  }
  fail(record, `GIN split record did not contain a full-page image of block ${blockId}`);
}

function redoVacuumDataLeafPage(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  if (blockId !== 0) fail(record, `VACUUM_DATA_LEAF_PAGE has no block ${blockId}`);
  ginExpectFlags(page, GIN_DATA | GIN_LEAF, 0, 'VACUUM_DATA_LEAF_PAGE');
  ginRedoRecompress(page, blockData(record, 0));
  pageSetLsn(page, record.endLsn);
}

/** ginxlogDeletePage: parentOffset u16 at 0, rightLink u32 at 4, deleteXid u32 at 8. */
function redoDeletePage(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = mainData(record, 12);
  if (blockId === 0) {
    ginExpectFlags(page, GIN_DATA, 0, 'DELETE_PAGE deleted page');
    ginSetFlags(page, ginGetFlags(page) | GIN_DELETED);
    pageSetPruneXid(page, readU32(body, 8));
  } else if (blockId === 1) {
    ginExpectFlags(page, GIN_DATA, GIN_LEAF, 'DELETE_PAGE parent');
    ginPageDeletePostingItem(page, readU16(body, 0));
  } else if (blockId === 2) {
    ginExpectFlags(page, GIN_DATA, 0, 'DELETE_PAGE left sibling');
    ginSetRightLink(page, readU32(body, 4));
  } else {
    fail(record, `DELETE_PAGE has no block ${blockId}`);
  }
  pageSetLsn(page, record.endLsn);
}

/**
 * ginxlogUpdateMeta: RelFileNode (12), GinMetaPageData at 16 (56), prevTail u32 at 72,
 * newRightlink u32 at 76, ntuples i32 at 80.
 */
function redoUpdateMetaPage(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = mainData(record, 84);
  if (blockId === 0) {
    ginInitMetaPage(page, body.subarray(16, 16 + GIN_META_SIZE));
    pageSetLsn(page, record.endLsn);
    return;
  }
  if (blockId !== 1) fail(record, `UPDATE_META_PAGE has no block ${blockId}`);
  const tupleCount = readU32(body, 80) | 0;
  if (tupleCount > 0) {
    const first = pageGetLower(page) <= SIZE_OF_PAGE_HEADER ? 1 : pageGetMaxOffsetNumber(page) + 1;
    addTuples(record, page, blockData(record, 1), tupleCount, first);
    ginSetMaxOff(page, ginGetMaxOff(page) + 1);
  } else if (readU32(body, 72) !== INVALID_BLOCK_NUMBER) {
    ginSetRightLink(page, readU32(body, 76));
  } else {
    fail(record, 'UPDATE_META_PAGE block 1 without tuples or a previous tail');
  }
  pageSetLsn(page, record.endLsn);
}

/** ginxlogInsertListPage: rightlink u32, ntuples i32; the tuples are block 0's data. */
function redoInsertListPage(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  if (blockId !== 0) fail(record, `INSERT_LISTPAGE has no block ${blockId}`);
  const body = mainData(record, 8);
  const rightLink = readU32(body, 0);
  ginInitPage(page, GIN_LIST);
  ginSetRightLink(page, rightLink);
  if (rightLink === INVALID_BLOCK_NUMBER) {
    ginSetFlags(page, ginGetFlags(page) | GIN_LIST_FULLROW);
    ginSetMaxOff(page, 1);
  } else {
    ginSetMaxOff(page, 0);
  }
  addTuples(record, page, blockData(record, 0), readU32(body, 4) | 0, 1);
  pageSetLsn(page, record.endLsn);
}

/** ginxlogDeleteListPages: GinMetaPageData (56), ndeleted i32 at 56; blocks 1..ndeleted deleted. */
function redoDeleteListPage(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = mainData(record, 60);
  if (blockId === 0) {
    ginInitMetaPage(page, body.subarray(0, GIN_META_SIZE));
  } else if (blockId <= (readU32(body, 56) | 0)) {
    ginInitPage(page, GIN_DELETED);
  } else {
    fail(record, `DELETE_LISTPAGE has no block ${blockId}`);
  }
  pageSetLsn(page, record.endLsn);
}

function redoGinBlock(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  switch (record.info & 0xf0) {
    case XLOG_GIN_CREATE_PTREE: return redoCreatePostingTree(page, record, blockId);
    case XLOG_GIN_INSERT: return redoInsert(page, record, blockId);
    case XLOG_GIN_SPLIT: return redoSplit(page, record, blockId);
    case XLOG_GIN_VACUUM_PAGE: return fail(record, 'replay of gin entry tree page vacuum did not restore the page');
    case XLOG_GIN_VACUUM_DATA_LEAF_PAGE: return redoVacuumDataLeafPage(page, record, blockId);
    case XLOG_GIN_DELETE_PAGE: return redoDeletePage(page, record, blockId);
    case XLOG_GIN_UPDATE_META_PAGE: return redoUpdateMetaPage(page, record, blockId);
    case XLOG_GIN_INSERT_LISTPAGE: return redoInsertListPage(page, record, blockId);
    case XLOG_GIN_DELETE_LISTPAGE: return redoDeleteListPage(page, record, blockId);
    default: return fail(record, 'unknown op code');
  }
}

export const ginRedo: RmgrRedo = { name: 'Gin', redo: redoGinBlock };
