/**
 * Page helpers for GiST and SP-GiST redo: the GiST special space (access/gist.h) and private
 * copies of bufpage.c's index-page routines (PageIndexTupleDelete, PageIndexMultiDelete,
 * PageIndexTupleOverwrite).
 *
 * WHY private copies: the shared page-index.ts (another helper's file) did not exist when GiST and
 * SP-GiST redo were written; these follow bufpage.c of PostgreSQL 15 byte for byte (where tuples
 * land matters: pages are compared with the primary's) and can be swapped for the shared ones.
 *
 * GiST special space (GISTPageOpaqueData, 16 bytes at pd_special):
 *   0  nsn            8  (PageXLogRecPtr: xlogid u32, then xrecoff u32)
 *   8  rightlink      4
 *   12 flags          2  F_LEAF 1 | F_DELETED 2 | F_TUPLES_DELETED 4 | F_FOLLOW_RIGHT 8 | F_HAS_GARBAGE 16
 *   14 gist_page_id   2  0xFF81
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import {
  BLCKSZ, ITEM_ID_SIZE, SIZE_OF_PAGE_HEADER, itemIdGet, itemIdOffset, lpFlags, lpLen, lpOff, maxAlign,
  pageGetLower, pageGetMaxOffsetNumber, pageGetSpecial, pageGetUpper, pageInit, pageSetLower, pageSetUpper,
  readU16, readU32, writeU16, writeU32,
} from './page.js';

export const GIST_OPAQUE_SIZE = 16;
export const GIST_PAGE_ID = 0xff81;
export const GIST_ROOT_BLKNO = 0;
export const INVALID_BLOCK_NUMBER = 0xffffffff;

export const F_LEAF = 1;
export const F_DELETED = 2;
export const F_TUPLES_DELETED = 4;
export const F_FOLLOW_RIGHT = 8;
export const F_HAS_GARBAGE = 16;

const TWO_TO_32 = 0x1_0000_0000;

// ---- GiST special space ------------------------------------------------------------------------

function gistOpaque(page: Uint8Array): number {
  const special = pageGetSpecial(page);
  if (special + GIST_OPAQUE_SIZE > BLCKSZ) {
    throw new StrataError('PS_ERR_REDO_FAILED', `GiST page has no room for its special space (pd_special ${special})`);
  }
  return special;
}

/** gistinitpage: an empty page with the GiST special space, rightlink invalid, NSN 0. */
export function gistInitPage(page: Uint8Array, flags: number): void {
  pageInit(page, GIST_OPAQUE_SIZE);
  const special = pageGetSpecial(page);
  writeU32(page, special + 8, INVALID_BLOCK_NUMBER);
  writeU16(page, special + 12, flags);
  writeU16(page, special + 14, GIST_PAGE_ID);
}

export function gistGetFlags(page: Uint8Array): number { return readU16(page, gistOpaque(page) + 12); }
export function gistSetFlags(page: Uint8Array, flags: number): void { writeU16(page, gistOpaque(page) + 12, flags); }
export function gistGetRightlink(page: Uint8Array): number { return readU32(page, gistOpaque(page) + 8); }
export function gistSetRightlink(page: Uint8Array, block: number): void { writeU32(page, gistOpaque(page) + 8, block); }
export function gistPageIsLeaf(page: Uint8Array): boolean { return (gistGetFlags(page) & F_LEAF) !== 0; }

export function gistGetNsn(page: Uint8Array): Lsn {
  const special = gistOpaque(page);
  return readU32(page, special) * TWO_TO_32 + readU32(page, special + 4);
}

/** GistPageSetNSN: the NSN is stored like pd_lsn, the high half first. */
export function gistSetNsn(page: Uint8Array, nsn: Lsn): void {
  assert(Number.isSafeInteger(nsn) && nsn >= 0, 'an NSN is a safe integer');
  const special = gistOpaque(page);
  writeU32(page, special, Math.floor(nsn / TWO_TO_32));
  writeU32(page, special + 4, nsn % TWO_TO_32);
}

/** IndexTupleSize: the low 13 bits of t_info (offset 6, after the 6-byte heap TID). */
export function indexTupleSize(bytes: Uint8Array, offset: number): number {
  if (offset + 8 > bytes.length) throw new StrataError('PS_ERR_REDO_FAILED', `index tuple header at ${offset} runs past its data (${bytes.length} bytes)`);
  return readU16(bytes, offset + 6) & 0x1fff;
}

/** PageIsEmpty: no line pointers. */
export function pageIsEmpty(page: Uint8Array): boolean {
  return pageGetLower(page) <= SIZE_OF_PAGE_HEADER;
}

// ---- bufpage.c index routines (private copies) ------------------------------------------------

function corrupted(what: string, page: Uint8Array): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `${what}: corrupted page pointers: lower = ${pageGetLower(page)}, upper = ${pageGetUpper(page)}, special = ${pageGetSpecial(page)}`);
}

function checkItem(page: Uint8Array, what: string, offset: number, length: number): void {
  if (offset < pageGetUpper(page) || offset + length > pageGetSpecial(page) || offset !== maxAlign(offset)) {
    throw new StrataError('PS_ERR_REDO_FAILED', `${what}: corrupted line pointer: offset = ${offset}, size = ${length}`);
  }
}

function checkOffsetNumber(page: Uint8Array, what: string, offsetNumber: number): void {
  const count = pageGetMaxOffsetNumber(page);
  if (offsetNumber <= 0 || offsetNumber > count) {
    throw new StrataError('PS_ERR_REDO_FAILED', `${what}: invalid index offnum: ${offsetNumber} (page has ${count})`);
  }
}

/** Adds `delta` to lp_off of every line pointer with storage whose tuple lies at or below `limit`. */
function shiftItemsBelow(page: Uint8Array, count: number, limit: number, delta: number): void {
  for (let offsetNumber = 1; offsetNumber <= count; offsetNumber++) {
    const position = itemIdOffset(offsetNumber);
    const itemId = readU32(page, position);
    if (lpLen(itemId) !== 0 && lpOff(itemId) <= limit) writeU32(page, position, (itemId + delta) >>> 0);
  }
}

/**
 * PageIndexTupleDelete: removes line pointer `offsetNumber` (later ones move down one slot) and
 * closes the hole its tuple leaves by moving the tuples below it up, keeping their order.
 */
export function pageIndexTupleDelete(page: Uint8Array, offsetNumber: number): void {
  const upper = pageGetUpper(page);
  if (pageGetLower(page) < SIZE_OF_PAGE_HEADER || pageGetLower(page) > upper || upper > pageGetSpecial(page) || pageGetSpecial(page) > BLCKSZ) {
    throw corrupted('PageIndexTupleDelete', page);
  }
  checkOffsetNumber(page, 'PageIndexTupleDelete', offsetNumber);
  const itemId = itemIdGet(page, offsetNumber);
  const offset = lpOff(itemId);
  checkItem(page, 'PageIndexTupleDelete', offset, lpLen(itemId));
  const size = maxAlign(lpLen(itemId));
  const lower = pageGetLower(page);
  page.copyWithin(itemIdOffset(offsetNumber), itemIdOffset(offsetNumber + 1), lower);
  if (offset > upper) page.copyWithin(upper + size, upper, offset);
  pageSetUpper(page, upper + size);
  pageSetLower(page, lower - ITEM_ID_SIZE);
  if (!pageIsEmpty(page)) shiftItemsBelow(page, pageGetMaxOffsetNumber(page), offset, size);
}

/**
 * PageIndexMultiDelete: removes the line pointers listed (ascending offset numbers); two or fewer
 * go through PageIndexTupleDelete from the last, more are removed at once and the remaining
 * tuples are packed against pd_special in line-pointer order (compactify_tuples).
 */
export function pageIndexMultiDelete(page: Uint8Array, offsetNumbers: readonly number[]): void {
  if (offsetNumbers.length <= 2) {
    for (let index = offsetNumbers.length - 1; index >= 0; index--) pageIndexTupleDelete(page, offsetNumbers[index]!);
    return;
  }
  const special = pageGetSpecial(page);
  if (pageGetLower(page) < SIZE_OF_PAGE_HEADER || pageGetLower(page) > pageGetUpper(page) || pageGetUpper(page) > special
    || special > BLCKSZ || special !== maxAlign(special)) {
    throw corrupted('PageIndexMultiDelete', page);
  }
  const count = pageGetMaxOffsetNumber(page);
  const kept: number[] = [];
  let next = 0;
  for (let offsetNumber = 1; offsetNumber <= count; offsetNumber++) {
    const itemId = itemIdGet(page, offsetNumber);
    checkItem(page, 'PageIndexMultiDelete', lpOff(itemId), lpLen(itemId));
    if (next < offsetNumbers.length && offsetNumbers[next] === offsetNumber) next++;
    else kept.push(itemId);
  }
  if (next !== offsetNumbers.length) throw new StrataError('PS_ERR_REDO_FAILED', 'PageIndexMultiDelete: incorrect index offsets supplied');
  compactifyItems(page, kept);
}

/** Rewrites the line pointer array as `kept` and packs their tuples down from pd_special. */
function compactifyItems(page: Uint8Array, kept: readonly number[]): void {
  const special = pageGetSpecial(page);
  const upperBefore = pageGetUpper(page);
  const scratch = page.slice(upperBefore, special);
  let upper = special;
  for (let index = 0; index < kept.length; index++) {
    const itemId = kept[index]!;
    const alignedLength = maxAlign(lpLen(itemId));
    upper -= alignedLength;
    const from = lpOff(itemId) - upperBefore;
    page.set(scratch.subarray(from, from + alignedLength), upper);
    writeU32(page, itemIdOffset(index + 1), (upper | (lpFlags(itemId) << 15) | (lpLen(itemId) << 17)) >>> 0);
  }
  pageSetLower(page, SIZE_OF_PAGE_HEADER + kept.length * ITEM_ID_SIZE);
  pageSetUpper(page, upper);
}

/**
 * PageIndexTupleOverwrite: replaces the tuple of `offsetNumber` by `item` in place, moving the
 * tuples below it when the aligned size changes. Returns false when the page has no room.
 */
export function pageIndexTupleOverwrite(page: Uint8Array, offsetNumber: number, item: Uint8Array): boolean {
  const upper = pageGetUpper(page);
  if (pageGetLower(page) < SIZE_OF_PAGE_HEADER || pageGetLower(page) > upper || upper > pageGetSpecial(page) || pageGetSpecial(page) > BLCKSZ) {
    throw corrupted('PageIndexTupleOverwrite', page);
  }
  checkOffsetNumber(page, 'PageIndexTupleOverwrite', offsetNumber);
  const count = pageGetMaxOffsetNumber(page);
  const itemId = itemIdGet(page, offsetNumber);
  const offset = lpOff(itemId);
  checkItem(page, 'PageIndexTupleOverwrite', offset, lpLen(itemId));
  const oldSize = maxAlign(lpLen(itemId));
  const newSize = maxAlign(item.length);
  if (newSize > oldSize + (upper - pageGetLower(page))) return false;
  const delta = oldSize - newSize;
  if (delta !== 0) {
    page.copyWithin(upper + delta, upper, offset);
    pageSetUpper(page, upper + delta);
    shiftItemsBelow(page, count, offset, delta);
  }
  writeU32(page, itemIdOffset(offsetNumber), ((offset + delta) | (lpFlags(itemId) << 15) | (item.length << 17)) >>> 0);
  page.set(item, offset + delta);
  return true;
}
