/**
 * WAL redo of the Btree resource manager (access/nbtree/nbtxlog.c of PostgreSQL 15), one block at
 * a time (see types.ts for the contract: the dispatcher has already restored images, zeroed
 * will-init pages and skipped pages at or past the record).
 *
 * WHY per record type, per block id (PostgreSQL's block ids for each record):
 *   INSERT_LEAF/UPPER/META/POST  0 target (tuple added; POST first splits a posting list);
 *                                1 child whose split the downlink finishes (UPPER, META);
 *                                2 metapage (META, re-initialized from the record)
 *   SPLIT_L / SPLIT_R            0 left (original) page rebuilt in item order; 1 right page
 *                                (will-init, tuples from the record); 2 old right sibling (left
 *                                link); 3 child whose split finishes (internal levels)
 *   DEDUP                        0 leaf rebuilt by repeating the deduplication intervals
 *   VACUUM / DELETE              0 posting lists updated, then items deleted
 *   MARK_PAGE_HALFDEAD           0 leaf (re-initialized half dead); 1 parent (downlink removed)
 *   UNLINK_PAGE(_META)           0 target (re-initialized deleted); 1 left sibling; 2 right
 *                                sibling; 3 leaf of the subtree (re-initialized half dead);
 *                                4 metapage (_META)
 *   NEWROOT                      0 new root; 1 left child (incomplete split cleared); 2 metapage
 *   META_CLEANUP                 0 metapage
 *   REUSE_PAGE                   no block (a hot-standby conflict only)
 * Every block that changes gets PageSetLSN(record.endLsn), as PostgreSQL does.
 */
import { StrataError } from '../errors.js';
import {
  XLOG_BTREE_DEDUP, XLOG_BTREE_DELETE, XLOG_BTREE_INSERT_LEAF, XLOG_BTREE_INSERT_META, XLOG_BTREE_INSERT_POST,
  XLOG_BTREE_INSERT_UPPER, XLOG_BTREE_MARK_PAGE_HALFDEAD, XLOG_BTREE_META_CLEANUP, XLOG_BTREE_NEWROOT,
  XLOG_BTREE_REUSE_PAGE, XLOG_BTREE_SPLIT_L, XLOG_BTREE_SPLIT_R, XLOG_BTREE_UNLINK_PAGE, XLOG_BTREE_UNLINK_PAGE_META,
  XLOG_BTREE_VACUUM, decodeBtreeRecord, type BtreeMetadata,
} from '../wal/records/btree.js';
import type { DecodedBlock, DecodedRecord } from '../wal/types.js';
import { findBlock } from './blocks.js';
import {
  BTP_HALF_DEAD, BTP_HAS_GARBAGE, BTP_INCOMPLETE_SPLIT, BTP_LEAF, BTP_ROOT, P_HIKEY, P_NONE, btGetFlags, btInitMetaPage,
  btInitPage, btPageSetDeleted, btSetFlags, btSetNext, btSetPrev, halfDeadHighKey, setTidBlock, swapPosting,
  tidBlock, tupleSize, updatePosting,
} from './btree-tuple.js';
import { addItem, btreeDedup, btreeRebuildLeftPage, itemAt } from './btree-rebuild.js';
import { pageIndexMultiDelete, pageIndexTupleDelete, pageIndexTupleOverwrite } from './page-index.js';
import { maxAlign, pageSetLsn, readU16 } from './page.js';
import type { RmgrRedo } from './types.js';

const RECORD_TYPE_MASK = 0xf0;

function fail(record: DecodedRecord, message: string): never {
  throw new StrataError('PS_ERR_REDO_FAILED', `Btree redo (info 0x${record.info.toString(16)}): ${message}`);
}

function blockOf(record: DecodedRecord, blockId: number): DecodedBlock {
  return findBlock(record, blockId) ?? fail(record, `no block ${blockId}`);
}

function unexpectedBlock(record: DecodedRecord, blockId: number): never {
  return fail(record, `the record has no use for block ${blockId}`);
}

/** The metadata a metapage block carries, or a failure. */
function requireMetadata(record: DecodedRecord, metadata: BtreeMetadata | undefined): BtreeMetadata {
  return metadata ?? fail(record, 'the metapage block carries no xl_btree_metadata');
}

function restoreMeta(page: Uint8Array, record: DecodedRecord, metadata: BtreeMetadata | undefined): void {
  btInitMetaPage(page, requireMetadata(record, metadata));
  pageSetLsn(page, record.endLsn);
}

/** _bt_clear_incomplete_split: the child whose split a new downlink finishes. */
function clearIncompleteSplit(page: Uint8Array, record: DecodedRecord): void {
  const flags = btGetFlags(page);
  if ((flags & BTP_INCOMPLETE_SPLIT) === 0) fail(record, 'the child page has no incomplete split to clear');
  btSetFlags(page, flags & ~BTP_INCOMPLETE_SPLIT);
  pageSetLsn(page, record.endLsn);
}

/**
 * _bt_restore_page: adds the tuples of `data` (a copy of a page's pd_upper..pd_special, highest
 * item number first) back in item number order, each with its MAXALIGNed length.
 */
function restorePage(page: Uint8Array, data: Uint8Array, record: DecodedRecord): void {
  const starts: number[] = [];
  const sizes: number[] = [];
  let position = 0;
  while (position < data.length) {
    if (position + 8 > data.length) fail(record, 'truncated tuple in page contents');
    const size = maxAlign(tupleSize(data, position));
    if (size < 8 || position + size > data.length) fail(record, `bad tuple size ${size} in page contents`);
    starts.push(position);
    sizes.push(size);
    position += size;
  }
  const count = starts.length;
  for (let index = count - 1; index >= 0; index--) {
    const start = starts[index]!;
    addItem(page, data.subarray(start, start + sizes[index]!), count - index, record, 'restored tuple');
  }
}

// ---- inserts -------------------------------------------------------------------------------------

function insertTuple(page: Uint8Array, record: DecodedRecord, offsetNumber: number, posting: boolean): void {
  const data = blockOf(record, 0).data;
  if (!posting) {
    addItem(page, data, offsetNumber, record, 'new item');
  } else {
    if (data.length < 2 + 8) fail(record, 'posting split insert data is truncated');
    const postingOffset = readU16(data, 0);
    const newItem = data.slice(2);
    const original = itemAt(page, offsetNumber - 1, record);
    const posting = swapPosting(newItem, page.subarray(original.offset, original.offset + original.length), postingOffset);
    page.set(posting, original.offset);
    if (tupleSize(newItem, 0) !== newItem.length) fail(record, 'posting split new item size differs from its data');
    addItem(page, newItem, offsetNumber, record, 'posting split new item');
  }
  pageSetLsn(page, record.endLsn);
}

function redoInsert(page: Uint8Array, record: DecodedRecord, blockId: number, type: number): void {
  const body = decodeBtreeRecord(record);
  if (body.type !== 'insertLeaf' && body.type !== 'insertUpper' && body.type !== 'insertMeta' && body.type !== 'insertPost') {
    return fail(record, `decoded as ${body.type}`);
  }
  const isLeaf = type === XLOG_BTREE_INSERT_LEAF || type === XLOG_BTREE_INSERT_POST;
  if (blockId === 0) insertTuple(page, record, body.offsetNumber, type === XLOG_BTREE_INSERT_POST);
  else if (blockId === 1 && !isLeaf) clearIncompleteSplit(page, record);
  else if (blockId === 2 && type === XLOG_BTREE_INSERT_META) restoreMeta(page, record, body.metadata);
  else unexpectedBlock(record, blockId);
}

// ---- splits --------------------------------------------------------------------------------------

function redoSplit(page: Uint8Array, record: DecodedRecord, blockId: number, type: number): void {
  const body = decodeBtreeRecord(record);
  if (body.type !== 'splitLeft' && body.type !== 'splitRight') return fail(record, `decoded as ${body.type}`);
  const isLeaf = body.level === 0;
  const leftBlock = blockOf(record, 0).blockNumber;
  const rightBlock = blockOf(record, 1).blockNumber;
  if (blockId === 0) {
    btreeRebuildLeftPage(page, record, {
      newItemOnLeft: type === XLOG_BTREE_SPLIT_L, isLeaf, rightBlock, firstRightOffset: body.firstRightOffset,
      newItemOffset: body.newItemOffset, postingOffset: body.postingOffset,
    });
    pageSetLsn(page, record.endLsn);
  } else if (blockId === 1) {
    const sibling = findBlock(record, 2);
    btInitPage(page, { prev: leftBlock, next: sibling?.blockNumber ?? P_NONE, level: body.level, flags: isLeaf ? BTP_LEAF : 0 });
    restorePage(page, blockOf(record, 1).data, record);
    pageSetLsn(page, record.endLsn);
  } else if (blockId === 2) {
    btSetPrev(page, rightBlock);
    pageSetLsn(page, record.endLsn);
  } else if (blockId === 3 && !isLeaf) {
    clearIncompleteSplit(page, record);
  } else {
    unexpectedBlock(record, blockId);
  }
}

// ---- vacuum and delete ---------------------------------------------------------------------------

/**
 * Block data of VACUUM and DELETE: `deletedCount` offsets to delete, `updatedCount` offsets of
 * posting lists to update, then per update an xl_btree_update (u16 count, then that many u16
 * posting-list indexes to remove). Updates go first, then PageIndexMultiDelete.
 */
function applyDeletions(page: Uint8Array, record: DecodedRecord, deletedCount: number, updatedCount: number): void {
  const data = blockOf(record, 0).data;
  let position = (deletedCount + updatedCount) * 2;
  if (position > data.length) fail(record, `block data of ${data.length} bytes cannot hold ${deletedCount} + ${updatedCount} offsets`);
  for (let index = 0; index < updatedCount; index++) {
    const offsetNumber = readU16(data, (deletedCount + index) * 2);
    if (position + 2 > data.length) fail(record, 'truncated xl_btree_update');
    const removeCount = readU16(data, position);
    position += 2;
    if (position + removeCount * 2 > data.length) fail(record, 'truncated xl_btree_update TID list');
    const removed: number[] = [];
    for (let tid = 0; tid < removeCount; tid++) removed.push(readU16(data, position + tid * 2));
    position += removeCount * 2;
    const item = itemAt(page, offsetNumber, record);
    const updated = updatePosting(page.subarray(item.offset, item.offset + item.length), removed);
    if (!pageIndexTupleOverwrite(page, offsetNumber, updated)) fail(record, 'failed to update partially dead item');
  }
  if (position !== data.length) fail(record, `${data.length - position} bytes left after the updates`);
  if (deletedCount > 0) {
    const offsets = new Uint16Array(deletedCount);
    for (let index = 0; index < deletedCount; index++) offsets[index] = readU16(data, index * 2);
    pageIndexMultiDelete(page, offsets, deletedCount);
  }
}

function redoVacuumOrDelete(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  if (blockId !== 0) unexpectedBlock(record, blockId);
  const body = decodeBtreeRecord(record);
  if (body.type !== 'vacuum' && body.type !== 'delete') return fail(record, `decoded as ${body.type}`);
  applyDeletions(page, record, body.deletedCount, body.updatedCount);
  // Both clear BTP_HAS_GARBAGE. The primary's VACUUM also resets the vacuum cycle id, but
  // PostgreSQL's redo (btree_xlog_vacuum) leaves it as it is (btree_mask hides it): so does Strata.
  btSetFlags(page, btGetFlags(page) & ~BTP_HAS_GARBAGE);
  pageSetLsn(page, record.endLsn);
}

// ---- page deletion -------------------------------------------------------------------------------

/** A half-dead leaf as _bt_mark_page_halfdead leaves it: no items but the top-parent high key. */
function initHalfDeadLeaf(page: Uint8Array, record: DecodedRecord, prev: number, next: number, topParent: number): void {
  btInitPage(page, { prev, next, level: 0, flags: BTP_HALF_DEAD | BTP_LEAF });
  addItem(page, halfDeadHighKey(topParent), P_HIKEY, record, 'dummy high key to half-dead page');
  pageSetLsn(page, record.endLsn);
}

function redoMarkHalfDead(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = decodeBtreeRecord(record);
  if (body.type !== 'markPageHalfdead') return fail(record, `decoded as ${body.type}`);
  if (blockId === 0) {
    initHalfDeadLeaf(page, record, body.leftBlock, body.rightBlock, body.topParent);
  } else if (blockId === 1) {
    // The downlink at parentOffset takes over the right sibling's downlink, which is removed.
    const next = itemAt(page, body.parentOffset + 1, record);
    const rightSibling = tidBlock(page, next.offset);
    const target = itemAt(page, body.parentOffset, record);
    setTidBlock(page, target.offset, rightSibling);
    pageIndexTupleDelete(page, body.parentOffset + 1);
    pageSetLsn(page, record.endLsn);
  } else {
    unexpectedBlock(record, blockId);
  }
}

function redoUnlink(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = decodeBtreeRecord(record);
  if (body.type !== 'unlinkPage' && body.type !== 'unlinkPageMeta') return fail(record, `decoded as ${body.type}`);
  if (blockId === 0) {
    btInitPage(page, { prev: body.leftSibling, next: body.rightSibling, level: body.level, flags: 0 });
    btPageSetDeleted(page, body.safeXid);
    if (body.level === 0) btSetFlags(page, btGetFlags(page) | BTP_LEAF);
    pageSetLsn(page, record.endLsn);
  } else if (blockId === 1 && body.leftSibling !== P_NONE) {
    btSetNext(page, body.rightSibling);
    pageSetLsn(page, record.endLsn);
  } else if (blockId === 2) {
    btSetPrev(page, body.leftSibling);
    pageSetLsn(page, record.endLsn);
  } else if (blockId === 3 && body.level !== 0) {
    initHalfDeadLeaf(page, record, body.leafLeftSibling, body.leafRightSibling, body.leafTopParent);
  } else if (blockId === 4 && body.type === 'unlinkPageMeta') {
    restoreMeta(page, record, body.metadata);
  } else {
    unexpectedBlock(record, blockId);
  }
}

// ---- root and metapage ---------------------------------------------------------------------------

function redoNewRoot(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const body = decodeBtreeRecord(record);
  if (body.type !== 'newRoot') return fail(record, `decoded as ${body.type}`);
  if (blockId === 0) {
    btInitPage(page, { prev: P_NONE, next: P_NONE, level: body.level, flags: body.level === 0 ? BTP_ROOT | BTP_LEAF : BTP_ROOT });
    if (body.level > 0) restorePage(page, blockOf(record, 0).data, record);
    pageSetLsn(page, record.endLsn);
  } else if (blockId === 1 && body.level > 0) {
    clearIncompleteSplit(page, record);
  } else if (blockId === 2) {
    restoreMeta(page, record, body.metadata);
  } else {
    unexpectedBlock(record, blockId);
  }
}

function redoMetaCleanup(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  if (blockId !== 0) unexpectedBlock(record, blockId);
  const body = decodeBtreeRecord(record);
  if (body.type !== 'metaCleanup') return fail(record, `decoded as ${body.type}`);
  restoreMeta(page, record, body.metadata);
}

function redoDedup(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  if (blockId !== 0) unexpectedBlock(record, blockId);
  const body = decodeBtreeRecord(record);
  if (body.type !== 'dedup') return fail(record, `decoded as ${body.type}`);
  btreeDedup(page, record, body.intervalCount, blockOf(record, 0).data);
  pageSetLsn(page, record.endLsn);
}

export const btreeRedo: RmgrRedo = {
  name: 'Btree',
  redo(page, record, blockId) {
    const type = record.info & RECORD_TYPE_MASK;
    switch (type) {
      case XLOG_BTREE_INSERT_LEAF:
      case XLOG_BTREE_INSERT_UPPER:
      case XLOG_BTREE_INSERT_META:
      case XLOG_BTREE_INSERT_POST: return redoInsert(page, record, blockId, type);
      case XLOG_BTREE_SPLIT_L:
      case XLOG_BTREE_SPLIT_R: return redoSplit(page, record, blockId, type);
      case XLOG_BTREE_DEDUP: return redoDedup(page, record, blockId);
      case XLOG_BTREE_VACUUM:
      case XLOG_BTREE_DELETE: return redoVacuumOrDelete(page, record, blockId);
      case XLOG_BTREE_MARK_PAGE_HALFDEAD: return redoMarkHalfDead(page, record, blockId);
      case XLOG_BTREE_UNLINK_PAGE:
      case XLOG_BTREE_UNLINK_PAGE_META: return redoUnlink(page, record, blockId);
      case XLOG_BTREE_NEWROOT: return redoNewRoot(page, record, blockId);
      case XLOG_BTREE_META_CLEANUP: return redoMetaCleanup(page, record, blockId);
      case XLOG_BTREE_REUSE_PAGE: return fail(record, 'REUSE_PAGE references no page');
      default: return fail(record, `unknown record type 0x${type.toString(16)}`);
    }
  },
};
