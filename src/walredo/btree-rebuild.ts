/**
 * The two B-tree redo steps that rebuild a whole page on a temporary page and copy it back
 * (nbtxlog.c): the left half of a split (btree_xlog_split) and a deduplication pass
 * (btree_xlog_dedup, with nbtdedup.c's _bt_dedup_start_pending / _bt_dedup_save_htid /
 * _bt_dedup_finish_pending), plus the item helpers btree.ts shares.
 *
 * WHY a temporary page: PostgreSQL adds the surviving tuples to an empty page in item-number order
 * (PageGetTempPageCopySpecial, then PageRestoreTempPage), so the physical layout of the result,
 * and the header it starts from (no pd_flags, no prune xid), are those of a freshly built page.
 * Replaying it the same way is what makes the redo byte-exact.
 */
import { StrataError } from '../errors.js';
import type { DecodedRecord } from '../wal/types.js';
import {
  BTP_HAS_GARBAGE, BTP_INCOMPLETE_SPLIT, BTP_LEAF, ITEM_POINTER_SIZE, P_HIKEY, P_NONE, btGetFlags, btGetNext, btSetCycleId,
  btSetFlags, btSetNext, firstDataKey, formPosting, isPosting, postingCount, postingListOffset, swapPosting, tupleSize,
} from './btree-tuple.js';
import { pageGetTempPageCopySpecial, pageRestoreTempPage } from './page-index.js';
import {
  BLCKSZ, INVALID_OFFSET_NUMBER, itemIdGet, lpLen, lpOff, maxAlign, pageAddItem, pageGetMaxOffsetNumber, readU16,
} from './page.js';

/**
 * BTMaxItemSize of PostgreSQL 15 (8 KiB pages): the largest tuple a B-tree page takes; redo's
 * deduplication uses it as its posting list bound (larger than the primary's, as PostgreSQL does).
 */
const BT_MAX_ITEM_SIZE = 2704;

/** Reused temporary page and heap TID workspace (redo runs one record at a time per thread). */
const temporaryPage = new Uint8Array(BLCKSZ);
const tidWorkspace = new Uint8Array(BLCKSZ);

function fail(record: DecodedRecord, message: string): never {
  throw new StrataError('PS_ERR_REDO_FAILED', `Btree redo (info 0x${record.info.toString(16)}): ${message}`);
}

/** Byte range of the tuple at `offsetNumber`, checked against the page. */
export function itemAt(page: Uint8Array, offsetNumber: number, record: DecodedRecord): { offset: number; length: number } {
  const count = pageGetMaxOffsetNumber(page);
  if (offsetNumber < 1 || offsetNumber > count) fail(record, `offset ${offsetNumber} is not on the page (${count} items)`);
  const itemId = itemIdGet(page, offsetNumber);
  const offset = lpOff(itemId);
  const length = lpLen(itemId);
  if (length < 8 || offset + length > page.length) fail(record, `item ${offsetNumber} has no tuple`);
  return { offset, length };
}

/** PageAddItem without overwrite, failing as PostgreSQL's PANIC / ERROR does. */
export function addItem(page: Uint8Array, item: Uint8Array, offsetNumber: number, record: DecodedRecord, what: string): void {
  if (pageAddItem(page, item, offsetNumber, 0) === INVALID_OFFSET_NUMBER) fail(record, `failed to add ${what} at offset ${offsetNumber}`);
}

/** The tuple at `offsetNumber` of `page` as a view. */
function tupleView(page: Uint8Array, offsetNumber: number, record: DecodedRecord): Uint8Array {
  const item = itemAt(page, offsetNumber, record);
  return page.subarray(item.offset, item.offset + item.length);
}

// ---- split: the left page ------------------------------------------------------------------------

export interface SplitLeftPlan {
  readonly newItemOnLeft: boolean;
  readonly isLeaf: boolean;
  readonly rightBlock: number;
  readonly firstRightOffset: number;
  readonly newItemOffset: number;
  /** Non-zero when the new item split a posting list (at newItemOffset - 1) of the original page. */
  readonly postingOffset: number;
}

/**
 * Rebuilds the original page as the left half: the new high key from the record, then the
 * original items before firstRightOffset, with the new item (and the rewritten posting list) in
 * place; flags become INCOMPLETE_SPLIT (| LEAF), the right link the new right page, cycle id 0.
 * Block data: [new item, MAXALIGNed, when on the left or splitting a posting list] high key.
 */
export function btreeRebuildLeftPage(page: Uint8Array, record: DecodedRecord, plan: SplitLeftPlan): void {
  const data = record.blocks.find((block) => block.blockId === 0)?.data ?? fail(record, 'no block 0');
  let position = 0;
  let newItem: Uint8Array | undefined;
  let newPosting: Uint8Array | undefined;
  let replacedPosting = INVALID_OFFSET_NUMBER;
  if (plan.newItemOnLeft || plan.postingOffset !== 0) {
    const size = data.length >= 8 ? maxAlign(tupleSize(data, 0)) : 0;
    if (size < 8 || size > data.length) fail(record, 'split record has no valid new item');
    newItem = data.slice(0, size);
    position = size;
    if (plan.postingOffset !== 0) {
      replacedPosting = plan.newItemOffset - 1;
      newPosting = swapPosting(newItem, tupleView(page, replacedPosting, record), plan.postingOffset);
    }
  }
  const highKeySize = position + 8 <= data.length ? maxAlign(tupleSize(data, position)) : 0;
  if (highKeySize < 8 || position + highKeySize !== data.length) fail(record, 'split record has no valid left high key');
  pageGetTempPageCopySpecial(page, temporaryPage);
  addItem(temporaryPage, data.subarray(position, position + highKeySize), P_HIKEY, record, 'high key to left page after split');
  let leftOffset = P_HIKEY + 1;
  let offsetNumber = firstDataKey(page);
  for (; offsetNumber < plan.firstRightOffset; offsetNumber++) {
    if (offsetNumber === replacedPosting && newPosting !== undefined) {
      addItem(temporaryPage, newPosting, leftOffset++, record, 'new posting list item to left page after split');
      continue;
    }
    if (plan.newItemOnLeft && offsetNumber === plan.newItemOffset && newItem !== undefined) {
      addItem(temporaryPage, newItem, leftOffset++, record, 'new item to left page after split');
    }
    addItem(temporaryPage, tupleView(page, offsetNumber, record), leftOffset++, record, 'old item to left page after split');
  }
  if (plan.newItemOnLeft && offsetNumber === plan.newItemOffset && newItem !== undefined) {
    addItem(temporaryPage, newItem, leftOffset++, record, 'new item to left page after split');
  }
  pageRestoreTempPage(temporaryPage, page);
  btSetFlags(page, plan.isLeaf ? BTP_INCOMPLETE_SPLIT | BTP_LEAF : BTP_INCOMPLETE_SPLIT);
  btSetNext(page, plan.rightBlock);
  btSetCycleId(page, 0);
}

// ---- deduplication -------------------------------------------------------------------------------

/** BTDedupStateData, the parts redo uses: the pending posting list. */
interface PendingPosting {
  baseAt: number;
  baseOffsetNumber: number;
  /** Key size of the base tuple: its size, or where its posting list starts. */
  baseKeySize: number;
  tidCount: number;
  itemCount: number;
  intervalsDone: number;
}

/** _bt_dedup_start_pending: the tuple at `at` becomes the base; its heap TID(s) start the list. */
function startPending(state: PendingPosting, page: Uint8Array, at: number, offsetNumber: number): void {
  if (isPosting(page, at)) {
    const count = postingCount(page, at);
    const list = at + postingListOffset(page, at);
    tidWorkspace.set(page.subarray(list, list + count * ITEM_POINTER_SIZE), 0);
    state.tidCount = count;
    state.baseKeySize = postingListOffset(page, at);
  } else {
    tidWorkspace.set(page.subarray(at, at + ITEM_POINTER_SIZE), 0);
    state.tidCount = 1;
    state.baseKeySize = tupleSize(page, at);
  }
  state.itemCount = 1;
  state.baseAt = at;
  state.baseOffsetNumber = offsetNumber;
}

/** _bt_dedup_save_htid: appends the heap TID(s) of the tuple at `at`; false past the size bound. */
function saveHeapTids(state: PendingPosting, page: Uint8Array, at: number): boolean {
  const posting = isPosting(page, at);
  const count = posting ? postingCount(page, at) : 1;
  const from = posting ? at + postingListOffset(page, at) : at;
  if (maxAlign(state.baseKeySize + (state.tidCount + count) * ITEM_POINTER_SIZE) > BT_MAX_ITEM_SIZE) return false;
  tidWorkspace.set(page.subarray(from, from + count * ITEM_POINTER_SIZE), state.tidCount * ITEM_POINTER_SIZE);
  state.tidCount += count;
  state.itemCount++;
  return true;
}

/** _bt_dedup_finish_pending: adds the base tuple as is, or the posting list formed from it. */
function finishPending(state: PendingPosting, page: Uint8Array, record: DecodedRecord): void {
  const offsetNumber = pageGetMaxOffsetNumber(temporaryPage) + 1;
  const base = page.subarray(state.baseAt, state.baseAt + tupleSize(page, state.baseAt));
  if (state.itemCount === 1) {
    addItem(temporaryPage, base, offsetNumber, record, 'deduplicated tuple');
  } else {
    const posting = formPosting(base, state.baseKeySize, tidWorkspace, state.tidCount);
    addItem(temporaryPage, posting, offsetNumber, record, 'posting list tuple');
    state.intervalsDone++;
  }
  state.tidCount = 0;
  state.itemCount = 0;
}

/**
 * btree_xlog_dedup: rebuilds the leaf, merging into one posting list each run of items the
 * record's intervals (BTDedupInterval: base offset u16, item count u16) name.
 */
export function btreeDedup(page: Uint8Array, record: DecodedRecord, intervalCount: number, intervals: Uint8Array): void {
  if (intervals.length < intervalCount * 4) fail(record, `${intervals.length} bytes cannot hold ${intervalCount} intervals`);
  const first = firstDataKey(page);
  const last = pageGetMaxOffsetNumber(page);
  if (first > last) fail(record, 'deduplication of a page without data items');
  pageGetTempPageCopySpecial(page, temporaryPage);
  if (btGetNext(page) !== P_NONE) addItem(temporaryPage, tupleView(page, P_HIKEY, record), P_HIKEY, record, 'high key');
  const state: PendingPosting = { baseAt: 0, baseOffsetNumber: 0, baseKeySize: 0, tidCount: 0, itemCount: 0, intervalsDone: 0 };
  for (let offsetNumber = first; offsetNumber <= last; offsetNumber++) {
    const at = itemAt(page, offsetNumber, record).offset;
    if (offsetNumber === first) {
      startPending(state, page, at, offsetNumber);
      continue;
    }
    const done = state.intervalsDone;
    if (done < intervalCount && state.baseOffsetNumber === readU16(intervals, done * 4) && state.itemCount < readU16(intervals, done * 4 + 2)) {
      if (!saveHeapTids(state, page, at)) fail(record, 'deduplication failed to add heap tid to pending posting list');
    } else {
      finishPending(state, page, record);
      startPending(state, page, at, offsetNumber);
    }
  }
  finishPending(state, page, record);
  if (state.intervalsDone !== intervalCount) fail(record, `deduplication formed ${state.intervalsDone} posting lists, the record has ${intervalCount}`);
  btSetFlags(temporaryPage, btGetFlags(temporaryPage) & ~BTP_HAS_GARBAGE);
  pageRestoreTempPage(temporaryPage, page);
}
