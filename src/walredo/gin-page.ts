/**
 * GIN page layout helpers for redo (access/ginblock.h, ginutil.c, gindatapage.c of PostgreSQL 15),
 * plus a private copy of bufpage.c's PageIndexTupleDelete (entry-leaf inserts that replace a
 * tuple need it; src/walredo/page-index.ts was not there when this was written).
 *
 * WHY: every GIN redo routine reads or writes the special space and the data-page layout; keeping
 * the offsets in one place keeps gin.ts about what each record does.
 *
 *   special space (GinPageOpaqueData, 8 bytes at pd_special = 8184):
 *     +0 rightlink u32, +4 maxoff u16 (PostingItems on an internal data page; heap tuples on a
 *     list page), +6 flags u16 (GIN_DATA 1, LEAF 2, DELETED 4, META 8, LIST 16, LIST_FULLROW 32,
 *     INCOMPLETE_SPLIT 64, COMPRESSED 128)
 *   metapage: GinMetaPageData (56 bytes) at 24; pd_lower = 80
 *   data page: right bound ItemPointerData at 24, data at 32 (MAXALIGN of the 24-byte header plus
 *     MAXALIGN(6)); leaf: compressed posting lists, internal: PostingItems of 10 bytes (child
 *     BlockIdData, key ItemPointerData); pd_lower = 32 + data size
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import {
  BLCKSZ, maxAlign,
  pageGetSpecial, pageInit, pageSetLower,
  readU16, readU32, SIZE_OF_PAGE_HEADER, writeU16, writeU32,
} from './page.js';

export const GIN_DATA = 1 << 0;
export const GIN_LEAF = 1 << 1;
export const GIN_DELETED = 1 << 2;
export const GIN_META = 1 << 3;
export const GIN_LIST = 1 << 4;
export const GIN_LIST_FULLROW = 1 << 5;
export const GIN_INCOMPLETE_SPLIT = 1 << 6;
export const GIN_COMPRESSED = 1 << 7;

export const INVALID_BLOCK_NUMBER = 0xffffffff;
export const GIN_OPAQUE_SIZE = 8;
/** sizeof(GinMetaPageData), padding included. */
export const GIN_META_SIZE = 56;
/** GinDataPageGetData: MAXALIGN(SizeOfPageHeaderData) + MAXALIGN(sizeof(ItemPointerData)). */
export const GIN_DATA_OFFSET = 32;
export const POSTING_ITEM_SIZE = 10;
/** GinDataPageMaxDataSize. */
export const GIN_DATA_MAX_SIZE = BLCKSZ - GIN_DATA_OFFSET - maxAlign(GIN_OPAQUE_SIZE);

function opaqueOffset(page: Uint8Array): number {
  const special = pageGetSpecial(page);
  if (special !== BLCKSZ - GIN_OPAQUE_SIZE) {
    throw new StrataError('PS_ERR_REDO_FAILED', `not a GIN page: special space at ${special}`);
  }
  return special;
}

export function ginGetRightLink(page: Uint8Array): number { return readU32(page, opaqueOffset(page)); }
export function ginSetRightLink(page: Uint8Array, block: number): void { writeU32(page, opaqueOffset(page), block); }
export function ginGetMaxOff(page: Uint8Array): number { return readU16(page, opaqueOffset(page) + 4); }
export function ginSetMaxOff(page: Uint8Array, maxoff: number): void { writeU16(page, opaqueOffset(page) + 4, maxoff); }
export function ginGetFlags(page: Uint8Array): number { return readU16(page, opaqueOffset(page) + 6); }
export function ginSetFlags(page: Uint8Array, flags: number): void { writeU16(page, opaqueOffset(page) + 6, flags); }

/** Throws unless the page has every flag of `required` and none of `forbidden`. */
export function ginExpectFlags(page: Uint8Array, required: number, forbidden: number, what: string): void {
  const flags = ginGetFlags(page);
  if ((flags & required) !== required || (flags & forbidden) !== 0) {
    throw new StrataError('PS_ERR_REDO_FAILED', `${what}: GIN page flags 0x${flags.toString(16)} are not as expected`);
  }
}

/** GinInitPage / GinInitBuffer: an empty page with GIN special space, no right sibling. */
export function ginInitPage(page: Uint8Array, flags: number): void {
  pageInit(page, GIN_OPAQUE_SIZE);
  ginSetFlags(page, flags);
  ginSetRightLink(page, INVALID_BLOCK_NUMBER);
}

/**
 * GinInitMetabuffer followed by the memcpy of the record's GinMetaPageData (`metadata`, 56 bytes
 * with their padding): the metapage as both meta-updating records leave it.
 */
export function ginInitMetaPage(page: Uint8Array, metadata: Uint8Array): void {
  if (metadata.length !== GIN_META_SIZE) throw new StrataError('PS_ERR_REDO_FAILED', `GIN metadata is ${metadata.length} bytes, not ${GIN_META_SIZE}`);
  ginInitPage(page, GIN_META);
  page.set(metadata, SIZE_OF_PAGE_HEADER);
  pageSetLower(page, SIZE_OF_PAGE_HEADER + GIN_META_SIZE);
}

/** GinDataPageSetDataSize: pd_lower just past `size` bytes of data. */
export function ginDataPageSetDataSize(page: Uint8Array, size: number): void {
  if (size < 0 || size > GIN_DATA_MAX_SIZE) throw new StrataError('PS_ERR_REDO_FAILED', `GIN data size ${size} does not fit a page`);
  pageSetLower(page, GIN_DATA_OFFSET + size);
}

/** Byte offset of PostingItem `offsetNumber` (1-based) of an internal data page. */
export function postingItemOffset(offsetNumber: number): number {
  return GIN_DATA_OFFSET + (offsetNumber - 1) * POSTING_ITEM_SIZE;
}

/** BlockIdSet: a block number as BlockIdData (bi_hi, then bi_lo). */
export function writeBlockId(page: Uint8Array, offset: number, block: number): void {
  writeU16(page, offset, block >>> 16);
  writeU16(page, offset + 2, block & 0xffff);
}

/** GinDataPageAddPostingItem: puts `item` (10 bytes) at `offsetNumber` (0: at the end). */
export function ginDataPageAddPostingItem(page: Uint8Array, item: Uint8Array, offsetNumber: number): void {
  assert(item.length === POSTING_ITEM_SIZE, 'a PostingItem is 10 bytes');
  const maxoff = ginGetMaxOff(page);
  if (offsetNumber > maxoff + 1 || (maxoff + 1) * POSTING_ITEM_SIZE > GIN_DATA_MAX_SIZE) {
    throw new StrataError('PS_ERR_REDO_FAILED', `GIN posting item ${offsetNumber} does not fit a page of ${maxoff} items`);
  }
  const target = offsetNumber === 0 ? maxoff + 1 : offsetNumber;
  const at = postingItemOffset(target);
  if (target !== maxoff + 1) page.copyWithin(at + POSTING_ITEM_SIZE, at, postingItemOffset(maxoff + 1));
  page.set(item, at);
  ginSetMaxOff(page, maxoff + 1);
  ginDataPageSetDataSize(page, (maxoff + 1) * POSTING_ITEM_SIZE);
}

/** GinPageDeletePostingItem: removes PostingItem `offsetNumber`, the later ones move down. */
export function ginPageDeletePostingItem(page: Uint8Array, offsetNumber: number): void {
  const maxoff = ginGetMaxOff(page);
  if (offsetNumber < 1 || offsetNumber > maxoff) {
    throw new StrataError('PS_ERR_REDO_FAILED', `GIN posting item ${offsetNumber} is not on a page of ${maxoff} items`);
  }
  if (offsetNumber !== maxoff) {
    page.copyWithin(postingItemOffset(offsetNumber), postingItemOffset(offsetNumber + 1), postingItemOffset(maxoff + 1));
  }
  ginSetMaxOff(page, maxoff - 1);
  ginDataPageSetDataSize(page, (maxoff - 1) * POSTING_ITEM_SIZE);
}

