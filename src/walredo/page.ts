/**
 * PostgreSQL 15's standard page layout (storage/bufpage.h, bufpage.c), as WAL redo needs it:
 * header fields, line pointers, PageInit and PageAddItem, on a plain 8192-byte Uint8Array.
 *
 * WHY our own: redo must produce the exact bytes PostgreSQL would (they are compared byte for
 * byte, after masking, with the primary's pages), so every routine follows bufpage.c's rules on
 * where tuples go and which fields change. Pure functions of the page bytes; no allocation on the
 * common paths.
 *
 *   offset  field                 size
 *   0       pd_lsn                8    (xlogid u32, then xrecoff u32: the high half first)
 *   8       pd_checksum           2
 *   10      pd_flags              2    PD_HAS_FREE_LINES 1 | PD_PAGE_FULL 2 | PD_ALL_VISIBLE 4
 *   12      pd_lower              2    end of the line pointer array
 *   14      pd_upper              2    start of tuple space
 *   16      pd_special            2    start of the special space
 *   18      pd_pagesize_version   2    BLCKSZ | PG_PAGE_LAYOUT_VERSION (4)
 *   20      pd_prune_xid          4
 *   24      line pointers (ItemIdData, 4 bytes each): lp_off bits 0-14, lp_flags bits 15-16,
 *           lp_len bits 17-31; offset numbers start at 1.
 *
 * All integers are little-endian (the machines PostgreSQL runs on here). Corrupt page headers are
 * PS_ERR_REDO_FAILED, as PostgreSQL's "corrupted page pointers" PANIC is.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';

export const BLCKSZ = 8192;
export const SIZE_OF_PAGE_HEADER = 24;
export const ITEM_ID_SIZE = 4;
export const MAXIMUM_ALIGNOF = 8;
export const PG_PAGE_LAYOUT_VERSION = 4;

export const PD_HAS_FREE_LINES = 0x0001;
export const PD_PAGE_FULL = 0x0002;
export const PD_ALL_VISIBLE = 0x0004;

export const LP_UNUSED = 0;
export const LP_NORMAL = 1;
export const LP_REDIRECT = 2;
export const LP_DEAD = 3;

export const INVALID_OFFSET_NUMBER = 0;
export const FIRST_OFFSET_NUMBER = 1;
/** (BLCKSZ - header) / (MAXALIGN(heap tuple header 23) + line pointer) = 291. */
export const MAX_HEAP_TUPLES_PER_PAGE = Math.floor((BLCKSZ - SIZE_OF_PAGE_HEADER) / (24 + ITEM_ID_SIZE));

const TWO_TO_32 = 0x1_0000_0000;

export function maxAlign(length: number): number {
  return (length + MAXIMUM_ALIGNOF - 1) & ~(MAXIMUM_ALIGNOF - 1);
}

export function readU16(page: Uint8Array, offset: number): number {
  return page[offset]! | (page[offset + 1]! << 8);
}

export function writeU16(page: Uint8Array, offset: number, value: number): void {
  page[offset] = value & 0xff;
  page[offset + 1] = (value >>> 8) & 0xff;
}

export function readU32(page: Uint8Array, offset: number): number {
  return (page[offset]! | (page[offset + 1]! << 8) | (page[offset + 2]! << 16) | (page[offset + 3]! << 24)) >>> 0;
}

export function writeU32(page: Uint8Array, offset: number, value: number): void {
  page[offset] = value & 0xff;
  page[offset + 1] = (value >>> 8) & 0xff;
  page[offset + 2] = (value >>> 16) & 0xff;
  page[offset + 3] = (value >>> 24) & 0xff;
}

// ---- header ------------------------------------------------------------------------------------

export function pageGetLsn(page: Uint8Array): Lsn {
  return readU32(page, 0) * TWO_TO_32 + readU32(page, 4);
}

export function pageSetLsn(page: Uint8Array, lsn: Lsn): void {
  assert(Number.isSafeInteger(lsn) && lsn >= 0, 'a page LSN is a safe integer');
  writeU32(page, 0, Math.floor(lsn / TWO_TO_32));
  writeU32(page, 4, lsn % TWO_TO_32);
}

export function pageGetChecksum(page: Uint8Array): number { return readU16(page, 8); }
export function pageGetFlags(page: Uint8Array): number { return readU16(page, 10); }
export function pageSetFlags(page: Uint8Array, flags: number): void { writeU16(page, 10, flags); }
export function pageGetLower(page: Uint8Array): number { return readU16(page, 12); }
export function pageSetLower(page: Uint8Array, lower: number): void { writeU16(page, 12, lower); }
export function pageGetUpper(page: Uint8Array): number { return readU16(page, 14); }
export function pageSetUpper(page: Uint8Array, upper: number): void { writeU16(page, 14, upper); }
export function pageGetSpecial(page: Uint8Array): number { return readU16(page, 16); }
export function pageGetPruneXid(page: Uint8Array): number { return readU32(page, 20); }
export function pageSetPruneXid(page: Uint8Array, xid: number): void { writeU32(page, 20, xid); }

/** PageIsNew: an all-zero (never initialized) page has pd_upper 0. */
export function pageIsNew(page: Uint8Array): boolean {
  return pageGetUpper(page) === 0;
}

export function pageHasFreeLinePointers(page: Uint8Array): boolean { return (pageGetFlags(page) & PD_HAS_FREE_LINES) !== 0; }
export function pageSetHasFreeLinePointers(page: Uint8Array): void { pageSetFlags(page, pageGetFlags(page) | PD_HAS_FREE_LINES); }
export function pageClearHasFreeLinePointers(page: Uint8Array): void { pageSetFlags(page, pageGetFlags(page) & ~PD_HAS_FREE_LINES); }
export function pageIsAllVisible(page: Uint8Array): boolean { return (pageGetFlags(page) & PD_ALL_VISIBLE) !== 0; }
export function pageSetAllVisible(page: Uint8Array): void { pageSetFlags(page, pageGetFlags(page) | PD_ALL_VISIBLE); }
export function pageClearAllVisible(page: Uint8Array): void { pageSetFlags(page, pageGetFlags(page) & ~PD_ALL_VISIBLE); }
export function pageClearFull(page: Uint8Array): void { pageSetFlags(page, pageGetFlags(page) & ~PD_PAGE_FULL); }

/** PageInit: zeroes the page and lays out an empty one with `specialSize` bytes of special space. */
export function pageInit(page: Uint8Array, specialSize: number): void {
  assert(page.length === BLCKSZ, 'a page is BLCKSZ bytes');
  const special = maxAlign(specialSize);
  assert(special <= BLCKSZ - SIZE_OF_PAGE_HEADER, 'special space fits the page');
  page.fill(0);
  pageSetLower(page, SIZE_OF_PAGE_HEADER);
  pageSetUpper(page, BLCKSZ - special);
  writeU16(page, 16, BLCKSZ - special);
  writeU16(page, 18, BLCKSZ | PG_PAGE_LAYOUT_VERSION);
}

/** Throws unless the header's pointers are ordered as bufpage.c requires. */
export function checkPageHeader(page: Uint8Array, what: string): void {
  const lower = pageGetLower(page);
  const upper = pageGetUpper(page);
  const special = pageGetSpecial(page);
  if (lower < SIZE_OF_PAGE_HEADER || lower > upper || upper > special || special > BLCKSZ) {
    throw new StrataError('PS_ERR_REDO_FAILED', `${what}: corrupted page pointers: lower = ${lower}, upper = ${upper}, special = ${special}`);
  }
}

/**
 * The stricter check bufpage.c's PageRepairFragmentation and PageIndex* routines start with:
 * checkPageHeader's, and pd_special MAXALIGNed.
 */
export function checkPagePointers(page: Uint8Array, what: string): void {
  checkPageHeader(page, what);
  const special = pageGetSpecial(page);
  if (special !== maxAlign(special)) {
    throw new StrataError('PS_ERR_REDO_FAILED', `${what}: corrupted page pointers: lower = ${pageGetLower(page)}, upper = ${pageGetUpper(page)}, special = ${special}`);
  }
}

// ---- line pointers -----------------------------------------------------------------------------

/** PageGetMaxOffsetNumber: the number of line pointers. */
export function pageGetMaxOffsetNumber(page: Uint8Array): number {
  const lower = pageGetLower(page);
  return lower <= SIZE_OF_PAGE_HEADER ? 0 : (lower - SIZE_OF_PAGE_HEADER) / ITEM_ID_SIZE;
}

/** Byte offset of line pointer `offsetNumber` (1-based). */
export function itemIdOffset(offsetNumber: number): number {
  return SIZE_OF_PAGE_HEADER + (offsetNumber - 1) * ITEM_ID_SIZE;
}

export function itemIdGet(page: Uint8Array, offsetNumber: number): number {
  return readU32(page, itemIdOffset(offsetNumber));
}

export function itemIdSet(page: Uint8Array, offsetNumber: number, off: number, flags: number, length: number): void {
  assert(off >= 0 && off < 0x8000 && length >= 0 && length < 0x8000 && flags >= 0 && flags <= 3, 'line pointer fields fit their bits');
  writeU32(page, itemIdOffset(offsetNumber), (off | (flags << 15) | (length << 17)) >>> 0);
}

export function lpOff(itemId: number): number { return itemId & 0x7fff; }
export function lpFlags(itemId: number): number { return (itemId >>> 15) & 0x3; }
export function lpLen(itemId: number): number { return itemId >>> 17; }
export function itemIdIsUsed(itemId: number): boolean { return lpFlags(itemId) !== LP_UNUSED; }
export function itemIdIsNormal(itemId: number): boolean { return lpFlags(itemId) === LP_NORMAL; }
export function itemIdIsRedirected(itemId: number): boolean { return lpFlags(itemId) === LP_REDIRECT; }
export function itemIdIsDead(itemId: number): boolean { return lpFlags(itemId) === LP_DEAD; }
export function itemIdHasStorage(itemId: number): boolean { return lpLen(itemId) !== 0; }

export function itemIdSetUnused(page: Uint8Array, offsetNumber: number): void { itemIdSet(page, offsetNumber, 0, LP_UNUSED, 0); }
export function itemIdSetDead(page: Uint8Array, offsetNumber: number): void { itemIdSet(page, offsetNumber, 0, LP_DEAD, 0); }
/** ItemIdSetRedirect: lp_off holds the target offset number, no storage. */
export function itemIdSetRedirect(page: Uint8Array, offsetNumber: number, target: number): void { itemIdSet(page, offsetNumber, target, LP_REDIRECT, 0); }

/** ItemIdMarkDead: keeps the storage (offset and length), flags become LP_DEAD. */
export function itemIdMarkDead(page: Uint8Array, offsetNumber: number): void {
  const itemId = itemIdGet(page, offsetNumber);
  itemIdSet(page, offsetNumber, lpOff(itemId), LP_DEAD, lpLen(itemId));
}

/** The item (tuple) of a line pointer with storage: its byte range in the page. */
export function pageGetItem(page: Uint8Array, offsetNumber: number): { offset: number; length: number } {
  const itemId = itemIdGet(page, offsetNumber);
  return { offset: lpOff(itemId), length: lpLen(itemId) };
}

/** Flags of PageAddItemExtended. */
export const PAI_OVERWRITE = 1;
export const PAI_IS_HEAP = 2;

/**
 * PageAddItemExtended: puts `item` at `offsetNumber` (0: the first free line pointer, else the
 * end), shifting later line pointers up unless PAI_OVERWRITE; tuple space grows down from
 * pd_upper. Returns the offset number used, or INVALID_OFFSET_NUMBER where PostgreSQL gives up
 * (overwriting a used pointer, an offset too large, no room); redo callers turn that into an error.
 */
export function pageAddItem(page: Uint8Array, item: Uint8Array, offsetNumber: number, flags: number): number {
  checkPageHeader(page, 'PageAddItem');
  const limit = pageGetMaxOffsetNumber(page) + 1;
  let target = offsetNumber;
  let needShuffle = false;
  if (target !== INVALID_OFFSET_NUMBER) {
    if ((flags & PAI_OVERWRITE) !== 0) {
      if (target < limit) {
        const itemId = itemIdGet(page, target);
        if (itemIdIsUsed(itemId) || itemIdHasStorage(itemId)) return INVALID_OFFSET_NUMBER;
      }
    } else if (target < limit) {
      needShuffle = true;
    }
  } else if (pageHasFreeLinePointers(page)) {
    for (target = FIRST_OFFSET_NUMBER; target < limit; target++) {
      const itemId = itemIdGet(page, target);
      if (!itemIdIsUsed(itemId) && !itemIdHasStorage(itemId)) break;
    }
    if (target >= limit) pageClearHasFreeLinePointers(page);
  } else {
    target = limit;
  }
  if (target > limit) return INVALID_OFFSET_NUMBER;
  if ((flags & PAI_IS_HEAP) !== 0 && target > MAX_HEAP_TUPLES_PER_PAGE) return INVALID_OFFSET_NUMBER;
  const lower = target === limit || needShuffle ? pageGetLower(page) + ITEM_ID_SIZE : pageGetLower(page);
  const upper = pageGetUpper(page) - maxAlign(item.length);
  if (lower > upper) return INVALID_OFFSET_NUMBER;
  if (needShuffle) {
    const from = itemIdOffset(target);
    page.copyWithin(from + ITEM_ID_SIZE, from, itemIdOffset(limit));
  }
  itemIdSet(page, target, upper, LP_NORMAL, item.length);
  page.set(item, upper);
  pageSetLower(page, lower);
  pageSetUpper(page, upper);
  return target;
}

/** The bytes of special space (pd_special to the end). */
export function pageSpecial(page: Uint8Array): Uint8Array {
  return page.subarray(pageGetSpecial(page), BLCKSZ);
}
