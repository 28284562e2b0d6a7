/**
 * Index-page helpers of PostgreSQL 15's bufpage.c that B-tree redo needs, byte for byte:
 * PageIndexTupleDelete, PageIndexMultiDelete (with compactify_tuples), PageIndexTupleOverwrite,
 * and the temporary-page pair PageGetTempPageCopySpecial / PageRestoreTempPage.
 *
 * WHY our own copy of these rules: redo output is compared byte for byte (after masking) with the
 * primary's pages, so where a tuple lands after a delete or an overwrite must be exactly where
 * PostgreSQL puts it:
 * - PageIndexTupleDelete closes the hole by moving the tuple bytes below the deleted one up by its
 *   MAXALIGNed size, and shifts the line pointers after it down one slot (the old last slot's
 *   bytes stay behind pd_lower, as memmove leaves them).
 * - PageIndexMultiDelete deletes two or fewer items one by one (from the last), and otherwise
 *   rewrites the line pointer array without the deleted ones and packs the remaining tuples down
 *   from pd_special in line pointer order (compactify_tuples, PostgreSQL 14 and later).
 * - PageIndexTupleOverwrite moves the tuple bytes below the target by the change of its MAXALIGNed
 *   size and keeps the line pointer's flags.
 * Page-pointer corruption is PS_ERR_REDO_FAILED (PostgreSQL's "corrupted page pointers" ERROR).
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import {
  BLCKSZ, ITEM_ID_SIZE, SIZE_OF_PAGE_HEADER, checkPagePointers, itemIdGet, itemIdOffset, lpFlags, lpLen, lpOff, maxAlign, pageGetLower,
  pageGetMaxOffsetNumber, pageGetSpecial, pageGetUpper, pageInit, pageSetLower, pageSetUpper, readU32, writeU32,
} from './page.js';

/** Reused scratch space for compactify_tuples (a copy of the tuple area) and kept line pointers. */
const compactScratch = new Uint8Array(BLCKSZ);
const keptItemIds = new Uint32Array(BLCKSZ / ITEM_ID_SIZE);

function corrupted(what: string, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `${what}: ${message}`);
}


/** Throws unless `offset`/`length` lie within the tuple space and the offset is MAXALIGNed. */
function checkItem(page: Uint8Array, what: string, offset: number, length: number): void {
  if (offset < pageGetUpper(page) || offset + length > pageGetSpecial(page) || offset !== maxAlign(offset)) {
    throw corrupted(what, `corrupted line pointer: offset = ${offset}, size = ${length}`);
  }
}

function checkOffsetNumber(page: Uint8Array, what: string, offsetNumber: number): void {
  const count = pageGetMaxOffsetNumber(page);
  if (offsetNumber <= 0 || offsetNumber > count) throw corrupted(what, `invalid index offnum: ${offsetNumber} (page has ${count})`);
}

/** Adds `delta` to lp_off of the line pointers 1..count with storage whose tuple is at or below `limit`. */
function shiftTuplesAtOrBelow(page: Uint8Array, count: number, limit: number, delta: number): void {
  for (let offsetNumber = 1; offsetNumber <= count; offsetNumber++) {
    const position = itemIdOffset(offsetNumber);
    const itemId = readU32(page, position);
    if (lpLen(itemId) !== 0 && lpOff(itemId) <= limit) writeU32(page, position, (itemId + delta) >>> 0);
  }
}

/** PageIsEmpty: no line pointers. */
function pageIsEmpty(page: Uint8Array): boolean {
  return pageGetLower(page) <= SIZE_OF_PAGE_HEADER;
}

/**
 * PageIndexTupleDelete: removes line pointer `offsetNumber` (later ones move down one slot) and
 * the tuple bytes it pointed to (the tuples below it move up to close the hole).
 */
export function pageIndexTupleDelete(page: Uint8Array, offsetNumber: number): void {
  const what = 'PageIndexTupleDelete';
  checkPagePointers(page, what);
  checkOffsetNumber(page, what, offsetNumber);
  const itemId = itemIdGet(page, offsetNumber);
  const offset = lpOff(itemId);
  checkItem(page, what, offset, lpLen(itemId));
  const size = maxAlign(lpLen(itemId));
  const lower = pageGetLower(page);
  const upper = pageGetUpper(page);
  page.copyWithin(itemIdOffset(offsetNumber), itemIdOffset(offsetNumber + 1), lower);
  if (offset > upper) page.copyWithin(upper + size, upper, offset);
  pageSetUpper(page, upper + size);
  pageSetLower(page, lower - ITEM_ID_SIZE);
  if (!pageIsEmpty(page)) shiftTuplesAtOrBelow(page, pageGetMaxOffsetNumber(page), offset, size);
}

/**
 * PageIndexMultiDelete: removes the `count` line pointers listed in `offsetNumbers` (ascending,
 * as PostgreSQL requires: an unsorted or unknown offset is "incorrect index offsets supplied").
 */
export function pageIndexMultiDelete(page: Uint8Array, offsetNumbers: ArrayLike<number>, count: number): void {
  const what = 'PageIndexMultiDelete';
  assert(count >= 0 && count <= offsetNumbers.length, 'count is within the offset array');
  if (count <= 2) {
    for (let index = count - 1; index >= 0; index--) pageIndexTupleDelete(page, offsetNumbers[index]!);
    return;
  }
  checkPagePointers(page, what);
  const lineCount = pageGetMaxOffsetNumber(page);
  let next = 0;
  let kept = 0;
  let total = 0;
  for (let offsetNumber = 1; offsetNumber <= lineCount; offsetNumber++) {
    const itemId = itemIdGet(page, offsetNumber);
    checkItem(page, what, lpOff(itemId), lpLen(itemId));
    if (next < count && offsetNumbers[next] === offsetNumber) {
      next++;
      continue;
    }
    keptItemIds[kept++] = itemId;
    total += maxAlign(lpLen(itemId));
  }
  if (next !== count) throw corrupted(what, 'incorrect index offsets supplied');
  const special = pageGetSpecial(page);
  if (total > special - pageGetLower(page)) throw corrupted(what, `corrupted item lengths: total ${total}, available space ${special - pageGetLower(page)}`);
  compactifyTuples(page, kept);
}

/**
 * compactify_tuples after PageIndexMultiDelete: line pointers 1..kept become the kept ones, and
 * their tuples (each its MAXALIGNed length, padding included) are packed down from pd_special in
 * line pointer order. A copy of the tuple area is read, so overlapping moves see original bytes.
 */
function compactifyTuples(page: Uint8Array, kept: number): void {
  const special = pageGetSpecial(page);
  const upperBefore = pageGetUpper(page);
  compactScratch.set(page.subarray(upperBefore, special), upperBefore);
  let upper = special;
  for (let index = 0; index < kept; index++) {
    const itemId = keptItemIds[index]!;
    const alignedLength = maxAlign(lpLen(itemId));
    const from = lpOff(itemId);
    upper -= alignedLength;
    if (from !== upper) page.set(compactScratch.subarray(from, from + alignedLength), upper);
    writeU32(page, itemIdOffset(index + 1), (upper | (lpFlags(itemId) << 15) | (lpLen(itemId) << 17)) >>> 0);
  }
  pageSetLower(page, SIZE_OF_PAGE_HEADER + kept * ITEM_ID_SIZE);
  pageSetUpper(page, upper);
  assert(pageGetLower(page) <= pageGetUpper(page), 'compacted tuples stay above the line pointers');
}

/**
 * PageIndexTupleOverwrite: replaces the tuple of `offsetNumber` by `item` (its whole length is the
 * new lp_len), keeping the line pointer's flags. Returns false when the page has no room.
 */
export function pageIndexTupleOverwrite(page: Uint8Array, offsetNumber: number, item: Uint8Array): boolean {
  const what = 'PageIndexTupleOverwrite';
  checkPagePointers(page, what);
  checkOffsetNumber(page, what, offsetNumber);
  const count = pageGetMaxOffsetNumber(page);
  const itemId = itemIdGet(page, offsetNumber);
  const offset = lpOff(itemId);
  checkItem(page, what, offset, lpLen(itemId));
  const upper = pageGetUpper(page);
  const oldSize = maxAlign(lpLen(itemId));
  const newSize = maxAlign(item.length);
  if (newSize > oldSize + (upper - pageGetLower(page))) return false;
  const delta = oldSize - newSize;
  if (delta !== 0) {
    page.copyWithin(upper + delta, upper, offset);
    pageSetUpper(page, upper + delta);
    shiftTuplesAtOrBelow(page, count, offset, delta);
  }
  writeU32(page, itemIdOffset(offsetNumber), ((offset + delta) | (lpFlags(itemId) << 15) | (item.length << 17)) >>> 0);
  page.set(item, offset + delta);
  return true;
}

/**
 * PageGetTempPageCopySpecial into `temp`: an empty page (PageInit: header zeroed, no flags, LSN 0)
 * with `page`'s special space size and bytes.
 */
export function pageGetTempPageCopySpecial(page: Uint8Array, temp: Uint8Array): void {
  assert(temp.length === BLCKSZ && temp !== page, 'the temporary page is a separate page');
  const special = pageGetSpecial(page);
  if (special > BLCKSZ || special < SIZE_OF_PAGE_HEADER) throw corrupted('PageGetTempPageCopySpecial', `corrupted pd_special ${special}`);
  pageInit(temp, BLCKSZ - special);
  temp.set(page.subarray(special, BLCKSZ), pageGetSpecial(temp));
}

/** PageRestoreTempPage: the temporary page's bytes become the page. */
export function pageRestoreTempPage(temp: Uint8Array, page: Uint8Array): void {
  assert(temp.length === BLCKSZ && page.length === BLCKSZ, 'both are whole pages');
  page.set(temp);
}
