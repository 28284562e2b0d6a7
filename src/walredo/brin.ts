/**
 * WAL redo of the BRIN resource manager (access/brin/brin_xlog.c, PostgreSQL 15), one block at a
 * time (types.ts has the contract).
 *
 * Page kinds (brin_page.h): every BRIN page has an 8-byte special space whose last u16 is the page
 * type (META 0xF091, REVMAP 0xF092, REGULAR 0xF093) and the u16 before it the flags.
 *   meta page    BrinMetaPageData at 24: magic u32, version u32, pagesPerRange u32,
 *                lastRevmapPage u32; pd_lower just past it (40).
 *   revmap page  an array of ItemPointerData (6 bytes: block hi u16, block lo u16, offset u16)
 *                from 24, one per page range: entry (heapBlock / pagesPerRange) % 1360.
 *   regular page summary tuples; deleted ones leave unused line pointers (TIDs stay stable).
 *
 * Record types and their blocks:
 *   CREATE_INDEX      block 0: the meta page, initialized (will-init).
 *   INSERT            block 0: the regular page, the tuple (block data) added at `offnum`
 *                     (re-initialized first with XLOG_BRIN_INIT_PAGE); block 1: the revmap page,
 *                     whose entry for the range now points at (block 0's number, offnum).
 *   UPDATE            as INSERT, plus block 2: the old regular page, its old tuple deleted
 *                     without compaction.
 *   SAMEPAGE_UPDATE   block 0: the tuple at `offnum` overwritten in place.
 *   REVMAP_EXTEND     block 0: the meta page (lastRevmapPage, pd_lower); block 1: the new revmap
 *                     page, initialized.
 *   DESUMMARIZE       block 0: the revmap entry invalidated; block 1: the regular page, the
 *                     tuple deleted without compaction.
 */
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import { decodeBrinRecord, type BrinInsert, type BrinRecord } from '../wal/records/brin.js';
import type { DecodedBlock, DecodedRecord } from '../wal/types.js';
import { assert } from '../assert.js';
import {
  BLCKSZ, INVALID_OFFSET_NUMBER, ITEM_ID_SIZE, PAI_OVERWRITE, SIZE_OF_PAGE_HEADER, checkPageHeader, itemIdGet, itemIdOffset, itemIdSetUnused,
  lpLen, lpOff, maxAlign, pageAddItem, pageGetLower, pageGetMaxOffsetNumber, pageGetSpecial, pageGetUpper, pageInit, pageSetLower,
  pageSetLsn, pageSetUpper, readU32, writeU16, writeU32,
} from './page.js';
import { pageIndexTupleOverwrite } from './page-index.js';
import type { RmgrRedo } from './types.js';

export const BRIN_PAGETYPE_META = 0xf091;
export const BRIN_PAGETYPE_REVMAP = 0xf092;
export const BRIN_PAGETYPE_REGULAR = 0xf093;
export const BRIN_META_MAGIC = 0xa8109cfa;
/** sizeof(BrinSpecialSpace): one MAXALIGN unit. */
const BRIN_SPECIAL_SIZE = 8;
/** PageGetContents: MAXALIGN(SizeOfPageHeaderData). */
const CONTENTS_OFFSET = 24;
const META_PAGE_DATA_SIZE = 16;
const ITEM_POINTER_SIZE = 6;
/** REVMAP_PAGE_MAXITEMS: (BLCKSZ - 24 - 8) / 6 = 1360. */
export const REVMAP_PAGE_MAXITEMS = Math.floor((BLCKSZ - CONTENTS_OFFSET - BRIN_SPECIAL_SIZE) / ITEM_POINTER_SIZE);
const INVALID_BLOCK_NUMBER = 0xffffffff;

function redoError(record: DecodedRecord, blockId: number, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `BRIN redo at ${formatLsn(record.lsn)}, block ${blockId}: ${message}`,
    { rmgr: 'BRIN', info: record.info, lsn: formatLsn(record.lsn), block_id: blockId });
}

function requireBlock(record: DecodedRecord, blockId: number): DecodedBlock {
  for (const block of record.blocks) if (block.blockId === blockId) return block;
  throw redoError(record, blockId, 'no such block reference');
}

/** brin_page_init: an empty page with the BRIN special space and the given page type. */
export function brinPageInit(page: Uint8Array, pageType: number): void {
  pageInit(page, BRIN_SPECIAL_SIZE);
  writeU16(page, BLCKSZ - 2, pageType);
}

/** brin_metapage_init (with pd_lower just past the metadata, as PostgreSQL 11 and later do). */
export function brinMetapageInit(page: Uint8Array, pagesPerRange: number, version: number): void {
  brinPageInit(page, BRIN_PAGETYPE_META);
  writeU32(page, CONTENTS_OFFSET, BRIN_META_MAGIC);
  writeU32(page, CONTENTS_OFFSET + 4, version);
  writeU32(page, CONTENTS_OFFSET + 8, pagesPerRange);
  writeU32(page, CONTENTS_OFFSET + 12, 0);
  pageSetLower(page, CONTENTS_OFFSET + META_PAGE_DATA_SIZE);
}

/** brinSetHeapBlockItemptr: the revmap entry of `heapBlock`'s range becomes (block, offset). */
export function brinSetHeapBlockItemPointer(page: Uint8Array, pagesPerRange: number, heapBlock: number, block: number, offset: number): void {
  assert(pagesPerRange > 0, 'pagesPerRange is positive');
  const index = Math.floor(heapBlock / pagesPerRange) % REVMAP_PAGE_MAXITEMS;
  const position = CONTENTS_OFFSET + index * ITEM_POINTER_SIZE;
  writeU16(page, position, (block >>> 16) & 0xffff);
  writeU16(page, position + 2, block & 0xffff);
  writeU16(page, position + 4, offset);
}

/**
 * PageIndexTupleDeleteNoCompact: removes a tuple but keeps its line pointer (as unused) unless it
 * is the last one, closing the hole in tuple space as PageIndexTupleDelete does.
 */
export function pageIndexTupleDeleteNoCompact(page: Uint8Array, offsetNumber: number): void {
  checkPageHeader(page, 'PageIndexTupleDeleteNoCompact');
  const special = pageGetSpecial(page);
  if (special !== maxAlign(special)) throw new StrataError('PS_ERR_REDO_FAILED', `PageIndexTupleDeleteNoCompact: corrupted pd_special ${special}`);
  let count = pageGetMaxOffsetNumber(page);
  if (offsetNumber <= 0 || offsetNumber > count) throw new StrataError('PS_ERR_REDO_FAILED', `invalid index offnum: ${offsetNumber}`);
  const itemId = itemIdGet(page, offsetNumber);
  const offset = lpOff(itemId);
  const length = lpLen(itemId);
  const upper = pageGetUpper(page);
  if (offset < upper || offset + length > special || offset !== maxAlign(offset)) {
    throw new StrataError('PS_ERR_REDO_FAILED', `corrupted line pointer: offset = ${offset}, size = ${length}`);
  }
  const size = maxAlign(length);
  if (offsetNumber < count) {
    itemIdSetUnused(page, offsetNumber);
  } else {
    pageSetLower(page, pageGetLower(page) - ITEM_ID_SIZE);
    count--;
  }
  if (offset > upper) page.copyWithin(upper + size, upper, offset);
  pageSetUpper(page, upper + size);
  if (pageGetLower(page) <= SIZE_OF_PAGE_HEADER) return;
  for (let index = 1; index <= count; index++) {
    const position = itemIdOffset(index);
    const other = readU32(page, position);
    if (lpLen(other) !== 0 && lpOff(other) <= offset) writeU32(page, position, (other + size) >>> 0);
  }
}

/** Block 0 of INSERT/UPDATE: (re-initialize and) add the summary tuple at its offset. */
function insertTuple(page: Uint8Array, record: DecodedRecord, blockId: number, insert: BrinInsert, initPage: boolean): void {
  const block = requireBlock(record, blockId);
  if (initPage) brinPageInit(page, BRIN_PAGETYPE_REGULAR);
  if (pageGetMaxOffsetNumber(page) + 1 < insert.offsetNumber) throw redoError(record, blockId, 'invalid max offset number');
  if (pageAddItem(page, block.data, insert.offsetNumber, PAI_OVERWRITE) === INVALID_OFFSET_NUMBER) {
    throw redoError(record, blockId, `failed to add a ${block.data.length}-byte tuple at offset ${insert.offsetNumber}`);
  }
  pageSetLsn(page, record.endLsn);
}

/** Block 1 of INSERT/UPDATE: the revmap entry points at the new tuple. */
function pointRevmap(page: Uint8Array, record: DecodedRecord, insert: BrinInsert): void {
  const regularBlock = requireBlock(record, 0).blockNumber;
  brinSetHeapBlockItemPointer(page, insert.pagesPerRange, insert.heapBlock, regularBlock, insert.offsetNumber);
  pageSetLsn(page, record.endLsn);
}

function insertOrUpdate(page: Uint8Array, record: DecodedRecord, blockId: number, insert: BrinInsert, initPage: boolean): void {
  if (blockId === 0) insertTuple(page, record, blockId, insert, initPage);
  else if (blockId === 1) pointRevmap(page, record, insert);
  else throw redoError(record, blockId, 'unexpected block');
}

function samepageUpdate(page: Uint8Array, record: DecodedRecord, blockId: number, offsetNumber: number): void {
  if (blockId !== 0) throw redoError(record, blockId, 'unexpected block');
  const tuple = requireBlock(record, 0).data;
  if (!pageIndexTupleOverwrite(page, offsetNumber, tuple)) throw redoError(record, blockId, 'failed to replace tuple');
  pageSetLsn(page, record.endLsn);
}

function revmapExtend(page: Uint8Array, record: DecodedRecord, blockId: number, targetBlock: number): void {
  if (blockId === 0) {
    writeU32(page, CONTENTS_OFFSET + 12, targetBlock);
    pageSetLsn(page, record.endLsn);
    pageSetLower(page, CONTENTS_OFFSET + META_PAGE_DATA_SIZE);
  } else if (blockId === 1) {
    brinPageInit(page, BRIN_PAGETYPE_REVMAP);
    pageSetLsn(page, record.endLsn);
  } else {
    throw redoError(record, blockId, 'unexpected block');
  }
}

function desummarize(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: Extract<BrinRecord, { type: 'desummarize' }>): void {
  if (blockId === 0) {
    brinSetHeapBlockItemPointer(page, decoded.pagesPerRange, decoded.heapBlock, INVALID_BLOCK_NUMBER, INVALID_OFFSET_NUMBER);
  } else if (blockId === 1) {
    pageIndexTupleDeleteNoCompact(page, decoded.regularOffset);
  } else {
    throw redoError(record, blockId, 'unexpected block');
  }
  pageSetLsn(page, record.endLsn);
}

function brinBlockRedo(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const decoded = decodeBrinRecord(record);
  switch (decoded.type) {
    case 'createIndex':
      if (blockId !== 0) throw redoError(record, blockId, 'unexpected block');
      brinMetapageInit(page, decoded.pagesPerRange, decoded.version);
      pageSetLsn(page, record.endLsn);
      return;
    case 'insert': insertOrUpdate(page, record, blockId, decoded, decoded.initPage); return;
    case 'update':
      if (blockId === 2) {
        pageIndexTupleDeleteNoCompact(page, decoded.oldOffsetNumber);
        pageSetLsn(page, record.endLsn);
      } else {
        insertOrUpdate(page, record, blockId, decoded.insert, decoded.initPage);
      }
      return;
    case 'samepageUpdate': samepageUpdate(page, record, blockId, decoded.offsetNumber); return;
    case 'revmapExtend': revmapExtend(page, record, blockId, decoded.targetBlock); return;
    case 'desummarize': desummarize(page, record, blockId, decoded); return;
  }
}

export const brinRedo: RmgrRedo = { name: 'BRIN', redo: brinBlockRedo };
