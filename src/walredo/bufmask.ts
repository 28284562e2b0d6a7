/**
 * PostgreSQL 15's common page-masking routines (src/backend/access/common/bufmask.c), the building
 * blocks of every access method's rm_mask (masks.ts).
 *
 * WHY: a page replayed from WAL and the primary's page of the same LSN legitimately differ in bytes
 * that change without WAL (LSN, checksum, hint bits, garbage between pd_lower and pd_upper, line
 * pointer flags of killed index items). Before two pages are compared, both are masked the same
 * way, so only differences that redo should have reproduced remain. Every masked byte is set to
 * MASK_MARKER (0), as in bufmask.h.
 *
 * One deliberate difference from bufmask.c: where mask_unused_space raises an ERROR on corrupt
 * page pointers, maskUnusedSpace leaves the page as it is and returns false. A replayed page with
 * corrupt pointers then simply fails the comparison (a mismatch to report), instead of aborting a
 * whole verification run.
 */
import { assert } from '../assert.js';
import {
  BLCKSZ, ITEM_ID_SIZE, PD_ALL_VISIBLE, PD_HAS_FREE_LINES, PD_PAGE_FULL, SIZE_OF_PAGE_HEADER, readU16, readU32,
  writeU16, writeU32,
} from './page.js';

/** The value masked bytes get (bufmask.h MASK_MARKER). */
export const MASK_MARKER = 0;

/** The lp_flags bits (15 and 16) of a line pointer word. */
const LP_FLAGS_BITS = 0x3 << 15;

/** Header field offsets (storage/bufpage.h PageHeaderData). */
const PD_CHECKSUM_OFFSET = 8;
const PD_FLAGS_OFFSET = 10;
const PD_LOWER_OFFSET = 12;
const PD_UPPER_OFFSET = 14;
const PD_SPECIAL_OFFSET = 16;
const PD_PRUNE_XID_OFFSET = 20;

/**
 * PageGetMaxOffsetNumber with C's integer division: the number of line pointers below pd_lower.
 * Masking reads pages that may be damaged, so this never trusts pd_lower beyond the page size.
 */
export function maskMaxOffsetNumber(page: Uint8Array): number {
  const lower = Math.min(readU16(page, PD_LOWER_OFFSET), BLCKSZ);
  return lower <= SIZE_OF_PAGE_HEADER ? 0 : Math.floor((lower - SIZE_OF_PAGE_HEADER) / ITEM_ID_SIZE);
}

/** mask_page_lsn_and_checksum: pd_lsn and pd_checksum differ between primary and replay. */
export function maskPageLsnAndChecksum(page: Uint8Array): void {
  assert(page.length === BLCKSZ, 'a page to mask is BLCKSZ bytes');
  page.fill(MASK_MARKER, 0, PD_CHECKSUM_OFFSET + 2);
}

/**
 * mask_page_hint_bits: pd_prune_xid and the PD_PAGE_FULL / PD_HAS_FREE_LINES flags are hints, and
 * replay does not always set PD_ALL_VISIBLE (heap_xlog_visible skips pages whose LSN is ahead), so
 * all three flags and the prune xid are masked.
 */
export function maskPageHintBits(page: Uint8Array): void {
  assert(page.length === BLCKSZ, 'a page to mask is BLCKSZ bytes');
  writeU32(page, PD_PRUNE_XID_OFFSET, MASK_MARKER);
  const flags = readU16(page, PD_FLAGS_OFFSET);
  writeU16(page, PD_FLAGS_OFFSET, flags & ~(PD_PAGE_FULL | PD_HAS_FREE_LINES | PD_ALL_VISIBLE));
}

/** True when pd_lower, pd_upper and pd_special are ordered as mask_unused_space's sanity check requires. */
export function pagePointersValid(page: Uint8Array): boolean {
  const lower = readU16(page, PD_LOWER_OFFSET);
  const upper = readU16(page, PD_UPPER_OFFSET);
  const special = readU16(page, PD_SPECIAL_OFFSET);
  return lower <= upper && upper <= special && lower >= SIZE_OF_PAGE_HEADER && special <= BLCKSZ;
}

/**
 * mask_unused_space: the hole between pd_lower and pd_upper is never compared. Returns false (and
 * masks nothing) where bufmask.c would raise "invalid page pd_lower ... pd_upper ... pd_special".
 */
export function maskUnusedSpace(page: Uint8Array): boolean {
  assert(page.length === BLCKSZ, 'a page to mask is BLCKSZ bytes');
  if (!pagePointersValid(page)) return false;
  page.fill(MASK_MARKER, readU16(page, PD_LOWER_OFFSET), readU16(page, PD_UPPER_OFFSET));
  return true;
}

/**
 * mask_lp_flags: index AMs kill items (LP_DEAD) without WAL, so every USED line pointer gets
 * lp_flags LP_UNUSED (0), keeping lp_off and lp_len; unused pointers stay as they are.
 */
export function maskLpFlags(page: Uint8Array): void {
  assert(page.length === BLCKSZ, 'a page to mask is BLCKSZ bytes');
  const maxOffset = maskMaxOffsetNumber(page);
  for (let offsetNumber = 1; offsetNumber <= maxOffset; offsetNumber++) {
    const at = SIZE_OF_PAGE_HEADER + (offsetNumber - 1) * ITEM_ID_SIZE;
    const itemId = readU32(page, at);
    if ((itemId & LP_FLAGS_BITS) !== 0) writeU32(page, at, (itemId & ~LP_FLAGS_BITS) >>> 0);
  }
}

/**
 * mask_page_content: everything after the page header, plus pd_lower and pd_upper (deleted or
 * unused index pages whose contents replay does not reproduce). pd_special and the rest of the
 * header are kept.
 */
export function maskPageContent(page: Uint8Array): void {
  assert(page.length === BLCKSZ, 'a page to mask is BLCKSZ bytes');
  page.fill(MASK_MARKER, SIZE_OF_PAGE_HEADER, BLCKSZ);
  writeU16(page, PD_LOWER_OFFSET, MASK_MARKER);
  writeU16(page, PD_UPPER_OFFSET, MASK_MARKER);
}
