/**
 * WAL redo of the GiST resource manager (access/gist/gistxlog.c of PostgreSQL 15), one block at a
 * time (types.ts has the contract).
 *
 * Record types and their blocks:
 *   PAGE_UPDATE  block 0: the page (deletes, then inserts, or one in-place overwrite);
 *                block 1: the left child whose split this update finishes (NSN, F_FOLLOW_RIGHT).
 *   DELETE       block 0: removes the offsets listed in the main data (killed tuples).
 *   PAGE_SPLIT   block 0: the left child, as block 1 of PAGE_UPDATE;
 *                blocks 1..n: the halves, each rebuilt from scratch (will-init) from the tuples in
 *                its block data, chained by rightlink, all with the original page's NSN.
 *   PAGE_DELETE  block 0: the deleted leaf (F_DELETED, deleteXid); block 1: its parent (downlink
 *                removed).
 *   PAGE_REUSE, ASSIGN_LSN: no block (hot-standby conflict point, LSN bump): never called here.
 *
 * NSN rule: finishing a split stamps the left child's NSN with the record's end LSN and clears
 * F_FOLLOW_RIGHT. PostgreSQL does that even when the child's full-page image was restored
 * (BLK_RESTORED), because the primary changes the child after the image was taken; the dispatcher
 * restores such images without calling the rmgr, so `gistAfterImageRestore` is exported for it.
 */
import { pageIndexMultiDelete, pageIndexTupleDelete, pageIndexTupleOverwrite } from './page-index.js';
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import { decodeGistRecord, XLOG_GIST_PAGE_SPLIT, XLOG_GIST_PAGE_UPDATE, type GistRecord } from '../wal/records/gist.js';
import { assert } from '../assert.js';
import { RmgrId, type DecodedBlock, type DecodedRecord } from '../wal/types.js';
import {
  F_DELETED, F_FOLLOW_RIGHT, F_HAS_GARBAGE, F_LEAF, F_TUPLES_DELETED, GIST_ROOT_BLKNO, gistGetFlags, gistInitPage,
  gistPageIsLeaf, gistSetFlags, gistSetNsn, gistSetRightlink, indexTupleSize, INVALID_BLOCK_NUMBER, pageIsEmpty,
} from './page-gist.js';
import { BLCKSZ, FIRST_OFFSET_NUMBER, pageAddItem, pageGetMaxOffsetNumber, pageSetLower, pageSetLsn, readU16, readU32 } from './page.js';
import type { RmgrRedo } from './types.js';

/** MAXALIGN(SizeOfPageHeaderData): where GISTDeletedPageContents (the deleteXid) starts. */
const DELETED_CONTENTS_OFFSET = 24;

function redoError(record: DecodedRecord, blockId: number, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `Gist redo at ${formatLsn(record.lsn)}, block ${blockId}: ${message}`,
    { rmgr: 'Gist', info: record.info, lsn: formatLsn(record.lsn), block_id: blockId });
}

/** The record's block reference `blockId` (not redo.ts's findBlock: importing it would be a cycle). */
function requireBlock(record: DecodedRecord, blockId: number): DecodedBlock {
  for (const block of record.blocks) if (block.blockId === blockId) return block;
  throw redoError(record, blockId, 'no such block reference');
}

/** gistRedoClearFollowRight: the split of this child is complete; its NSN becomes the record's LSN. */
function clearFollowRight(page: Uint8Array, record: DecodedRecord): void {
  gistSetNsn(page, record.endLsn);
  gistSetFlags(page, gistGetFlags(page) & ~F_FOLLOW_RIGHT);
  pageSetLsn(page, record.endLsn);
}

/** Adds the index tuples packed in `data` from `start`, at the end of the page (gistfillbuffer). */
function appendTuples(page: Uint8Array, record: DecodedRecord, blockId: number, data: Uint8Array, start: number): number {
  let offsetNumber = pageIsEmpty(page) ? FIRST_OFFSET_NUMBER : pageGetMaxOffsetNumber(page) + 1;
  let position = start;
  let added = 0;
  while (position < data.length) {
    const size = indexTupleSize(data, position);
    if (size === 0 || position + size > data.length) throw redoError(record, blockId, `index tuple of ${size} bytes at ${position} runs past the block data`);
    if (pageAddItem(page, data.subarray(position, position + size), offsetNumber, 0) === 0) {
      throw redoError(record, blockId, `failed to add item to GiST index page, size ${size} bytes`);
    }
    position += size;
    offsetNumber++;
    added++;
  }
  return added;
}

function redoPageUpdate(page: Uint8Array, record: DecodedRecord, blockId: number, body: GistRecord & { type: 'pageUpdate' }): void {
  if (blockId === 1) {
    clearFollowRight(page, record);
    return;
  }
  if (blockId !== 0) throw redoError(record, blockId, 'PAGE_UPDATE has blocks 0 and 1 only');
  const data = requireBlock(record, 0).data;
  let position = 0;
  let inserted = 0;
  if (body.deleteCount === 1 && body.insertCount === 1) {
    // Replacing one tuple by one: in place, as gistplacetopage does.
    const offsetNumber = readU16(data, 0);
    const size = indexTupleSize(data, 2);
    if (!pageIndexTupleOverwrite(page, offsetNumber, data.subarray(2, 2 + size))) {
      throw redoError(record, blockId, `failed to add item to GiST index page, size ${size} bytes`);
    }
    position = 2 + size;
    inserted = 1;
  } else if (body.deleteCount > 0) {
    const offsets: number[] = [];
    for (let index = 0; index < body.deleteCount; index++) offsets.push(readU16(data, index * 2));
    position = body.deleteCount * 2;
    pageIndexMultiDelete(page, offsets, offsets.length);
    if (gistPageIsLeaf(page)) gistSetFlags(page, gistGetFlags(page) | F_TUPLES_DELETED);
  }
  inserted += appendTuples(page, record, blockId, data, position);
  if (inserted !== body.insertCount) throw redoError(record, blockId, `PAGE_UPDATE carries ${inserted} tuples, header says ${body.insertCount}`);
  pageSetLsn(page, record.endLsn);
}

function redoDelete(page: Uint8Array, record: DecodedRecord, blockId: number, body: GistRecord & { type: 'delete' }): void {
  if (blockId !== 0) throw redoError(record, blockId, 'DELETE has block 0 only');
  if (body.offsets.length > 0) pageIndexMultiDelete(page, body.offsets, body.offsets.length);
  gistSetFlags(page, (gistGetFlags(page) & ~F_HAS_GARBAGE) | F_TUPLES_DELETED);
  pageSetLsn(page, record.endLsn);
}

function redoPageSplit(page: Uint8Array, record: DecodedRecord, blockId: number, body: GistRecord & { type: 'pageSplit' }): void {
  if (blockId === 0) {
    clearFollowRight(page, record);
    return;
  }
  if (blockId > body.pageCount) throw redoError(record, blockId, `PAGE_SPLIT has ${body.pageCount} pages`);
  const block = requireBlock(record, blockId);
  const isRootSplit = requireBlock(record, 1).blockNumber === GIST_ROOT_BLKNO;
  const isRoot = block.blockNumber === GIST_ROOT_BLKNO;
  gistInitPage(page, body.originalLeaf && !isRoot ? F_LEAF : 0);
  const data = block.data;
  if (data.length < 4) throw redoError(record, blockId, 'PAGE_SPLIT page data has no tuple count');
  const count = readU32(data, 0);
  const added = appendTuples(page, record, blockId, data, 4);
  if (added !== count) throw redoError(record, blockId, `PAGE_SPLIT page carries ${added} tuples, count says ${count}`);
  const isLast = blockId === body.pageCount;
  let rightlink = body.originalRightLink;
  if (isRoot) rightlink = INVALID_BLOCK_NUMBER;
  else if (!isLast) rightlink = requireBlock(record, blockId + 1).blockNumber;
  gistSetRightlink(page, rightlink);
  gistSetNsn(page, body.originalNsn);
  const followRight = !isRoot && !isLast && !isRootSplit && body.markFollowRight;
  const flags = gistGetFlags(page);
  gistSetFlags(page, followRight ? flags | F_FOLLOW_RIGHT : flags & ~F_FOLLOW_RIGHT);
  pageSetLsn(page, record.endLsn);
}

function redoPageDelete(page: Uint8Array, record: DecodedRecord, blockId: number, body: GistRecord & { type: 'pageDelete' }): void {
  if (blockId === 0) {
    // GistPageSetDeleted: the page is empty; its contents become the FullTransactionId deleteXid.
    gistSetFlags(page, gistGetFlags(page) | F_DELETED);
    pageSetLower(page, DELETED_CONTENTS_OFFSET + 8);
    new DataView(page.buffer, page.byteOffset, page.byteLength).setBigUint64(DELETED_CONTENTS_OFFSET, body.deleteXid, true);
  } else if (blockId === 1) {
    pageIndexTupleDelete(page, body.downlinkOffset);
  } else {
    throw redoError(record, blockId, 'PAGE_DELETE has blocks 0 and 1 only');
  }
  pageSetLsn(page, record.endLsn);
}

/** gistxlog.h of PostgreSQL 15 numbers PAGE_DELETE 0x60 and ASSIGN_LSN 0x70 (0x40, 0x50 are retired). */
const XLOG_GIST_PAGE_DELETE = 0x60;
const XLOG_GIST_ASSIGN_LSN = 0x70;

/**
 * The record body. PAGE_DELETE and ASSIGN_LSN are read here: records/gist.ts numbers them 0x50 and
 * 0x60, so it would read a PAGE_DELETE as ASSIGN_LSN (reported to its owner).
 */
function decodeBody(record: DecodedRecord, blockId: number): GistRecord {
  const type = record.info & 0xf0;
  if (type === XLOG_GIST_ASSIGN_LSN) return { type: 'assignLsn' };
  if (type !== XLOG_GIST_PAGE_DELETE) return decodeGistRecord(record);
  const data = record.mainData;
  if (data.length < 10) throw redoError(record, blockId, `PAGE_DELETE main data is ${data.length} bytes, expected 10`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { type: 'pageDelete', deleteXid: view.getBigUint64(0, true), downlinkOffset: view.getUint16(8, true) };
}

function gistBlockRedo(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  assert(page.length === BLCKSZ, 'a page is BLCKSZ bytes');
  assert(record.rmgrId === RmgrId.Gist, 'a GiST record');
  const body = decodeBody(record, blockId);
  switch (body.type) {
    case 'pageUpdate': redoPageUpdate(page, record, blockId, body); return;
    case 'delete': redoDelete(page, record, blockId, body); return;
    case 'pageSplit': redoPageSplit(page, record, blockId, body); return;
    case 'pageDelete': redoPageDelete(page, record, blockId, body); return;
    case 'pageReuse':
    case 'assignLsn':
      throw redoError(record, blockId, `${body.type} records reference no page`);
  }
}

/**
 * What PostgreSQL still does to a page after restoring its full-page image (BLK_RESTORED): the
 * left child of PAGE_UPDATE (block 1) and PAGE_SPLIT (block 0) gets its NSN and F_FOLLOW_RIGHT
 * fixed, which the image does not hold. Returns whether the page changed. For the dispatcher.
 */
export function gistAfterImageRestore(page: Uint8Array, record: DecodedRecord, blockId: number): boolean {
  const type = record.info & 0xf0;
  const isChild = (type === XLOG_GIST_PAGE_UPDATE && blockId === 1) || (type === XLOG_GIST_PAGE_SPLIT && blockId === 0);
  if (!isChild) return false;
  clearFollowRight(page, record);
  return true;
}

export const gistRedo: RmgrRedo = { name: 'Gist', redo: gistBlockRedo };
