/**
 * PostgreSQL 15's rm_mask routines: how each access method masks a page before a consistency
 * comparison (heap_mask in heapam.c, btree_mask in nbtxlog.c, hash_mask in hash_xlog.c, gin_mask
 * in ginxlog.c, gist_mask in gistxlog.c, spg_mask in spgxlog.c, brin_mask in brin_xlog.c,
 * seq_mask in sequence.c, generic_mask in generic_xlog.c), built from bufmask.ts.
 *
 * WHY: the redo verifier compares our replayed page with the primary's image of the same LSN
 * (wal_consistency_checking). Both are masked with the record's resource manager's rule first, so
 * that bytes PostgreSQL changes without WAL (hint bits, killed items, command ids, padding) do not
 * count as mismatches, and bytes redo must reproduce do.
 *
 * Special-space layouts used here (offsets from pd_special, little-endian):
 *   btree  BTPageOpaqueData      btpo_flags u16 @12, btpo_cycleid u16 @14
 *   hash   HashPageOpaqueData    hasho_flag u16 @12
 *   gin    GinPageOpaqueData     flags u16 @6
 *   gist   GISTPageOpaqueData    nsn 8 bytes @0, flags u16 @12
 *   brin   BrinSpecialSpace      flags u16 @4, page type u16 @6 (the page's last two bytes)
 * Like PageGetSpecialPointer these trust pd_special; a pd_special that would put the special
 * space past the page end skips the special-space rules instead of reading out of bounds.
 */
import { RmgrId } from '../wal/types.js';
import {
  maskLpFlags, maskMaxOffsetNumber, maskPageContent, maskPageHintBits, maskPageLsnAndChecksum, maskUnusedSpace,
  MASK_MARKER,
} from './bufmask.js';
import { BLCKSZ, ITEM_ID_SIZE, SIZE_OF_PAGE_HEADER, maxAlign, readU16, readU32, writeU16, writeU32 } from './page.js';
import type { PageMask } from './types.js';

// ---- heap (heapam.c heap_mask) -----------------------------------------------------------------

/** HeapTupleHeaderData field offsets. */
const T_CID_OFFSET = 8;
const T_CTID_OFFSET = 12;
const T_INFOMASK_OFFSET = 20;
/** Bytes of the tuple header heap_mask touches (through t_infomask). */
const HEAP_TUPLE_HEADER_TOUCHED = 22;

const HEAP_XMIN_COMMITTED = 0x0100;
const HEAP_XMIN_INVALID = 0x0200;
const HEAP_XMIN_FROZEN = HEAP_XMIN_COMMITTED | HEAP_XMIN_INVALID;
const HEAP_XMAX_COMMITTED = 0x0400;
const HEAP_XMAX_INVALID = 0x0800;
/** Visibility-related infomask bits (htup_details.h HEAP_XACT_MASK). */
const HEAP_XACT_MASK = 0xfff0;
/** ip_posid of a t_ctid that holds a speculative-insertion token (SpecTokenOffsetNumber). */
const SPEC_TOKEN_OFFSET_NUMBER = 0xfffe;

const LP_NORMAL = 1;

/**
 * heap_mask (used for both Heap and Heap2 records, and so also for visibility-map pages they
 * carry: those keep their bits between pd_lower and pd_upper, which mask_unused_space clears).
 */
export const heapMask: PageMask = (page, blockNumber) => {
  maskPageLsnAndChecksum(page);
  maskPageHintBits(page);
  maskUnusedSpace(page);
  const maxOffset = maskMaxOffsetNumber(page);
  for (let offsetNumber = 1; offsetNumber <= maxOffset; offsetNumber++) {
    const itemId = readU32(page, SIZE_OF_PAGE_HEADER + (offsetNumber - 1) * ITEM_ID_SIZE);
    const tuple = itemId & 0x7fff;
    const length = itemId >>> 17;
    if (((itemId >>> 15) & 0x3) === LP_NORMAL) maskHeapTupleHeader(page, tuple, blockNumber, offsetNumber);
    // Ignore the padding after an item whose length is not MAXALIGNed.
    if (length !== 0) page.fill(MASK_MARKER, Math.min(tuple + length, BLCKSZ), Math.min(tuple + maxAlign(length), BLCKSZ));
  }
};

/** The per-tuple part of heap_mask, for the tuple header at byte `tuple`. */
function maskHeapTupleHeader(page: Uint8Array, tuple: number, blockNumber: number, offsetNumber: number): void {
  if (tuple + HEAP_TUPLE_HEADER_TOUCHED > BLCKSZ) return;
  const infomask = readU16(page, tuple + T_INFOMASK_OFFSET);
  // Hint bits are set without WAL; once xmin is frozen only the xmax hints can still differ.
  const masked = (infomask & HEAP_XMIN_FROZEN) === HEAP_XMIN_FROZEN
    ? infomask & ~(HEAP_XMAX_INVALID | HEAP_XMAX_COMMITTED)
    : infomask & ~HEAP_XACT_MASK;
  writeU16(page, tuple + T_INFOMASK_OFFSET, masked);
  // Replay sets the command id to FirstCommandId: mask it.
  writeU32(page, tuple + T_CID_OFFSET, MASK_MARKER);
  // A speculative tuple's t_ctid holds a token on the primary, but replay sets it to the tuple's
  // own TID: make it the own TID on both sides.
  if (readU16(page, tuple + T_CTID_OFFSET + 4) === SPEC_TOKEN_OFFSET_NUMBER) {
    writeU16(page, tuple + T_CTID_OFFSET, (blockNumber >>> 16) & 0xffff);
    writeU16(page, tuple + T_CTID_OFFSET + 2, blockNumber & 0xffff);
    writeU16(page, tuple + T_CTID_OFFSET + 4, offsetNumber);
  }
}

// ---- btree (nbtxlog.c btree_mask) --------------------------------------------------------------

const BT_SPECIAL_SIZE = 16;
const BTP_LEAF = 1 << 0;
const BTP_SPLIT_END = 1 << 5;
const BTP_HAS_GARBAGE = 1 << 6;

/**
 * btree_mask as of PostgreSQL 15: since PostgreSQL 13 deleted pages are emptied on the primary
 * too, so (unlike 10-12) their content is compared; leaf line-pointer flags, BTP_HAS_GARBAGE,
 * BTP_SPLIT_END and the vacuum cycle id are masked.
 */
export const btreeMask: PageMask = (page) => {
  maskPageLsnAndChecksum(page);
  maskPageHintBits(page);
  maskUnusedSpace(page);
  const special = specialOffset(page, BT_SPECIAL_SIZE);
  if (special < 0) return;
  const flags = readU16(page, special + 12);
  // _bt_killitems and _bt_check_unique set LP_DEAD on leaf items without WAL.
  if ((flags & BTP_LEAF) !== 0) maskLpFlags(page);
  // BTP_HAS_GARBAGE is an unlogged hint; replay of a split neither sets BTP_SPLIT_END on the right
  // sibling nor keeps the cycle id.
  writeU16(page, special + 12, flags & ~(BTP_HAS_GARBAGE | BTP_SPLIT_END));
  writeU16(page, special + 14, MASK_MARKER);
};

// ---- hash (hash_xlog.c hash_mask) --------------------------------------------------------------

const HASH_SPECIAL_SIZE = 16;
const LH_UNUSED_PAGE = 0;
const LH_OVERFLOW_PAGE = 1 << 0;
const LH_BUCKET_PAGE = 1 << 1;
const LH_PAGE_TYPE = 0xf;
const LH_PAGE_HAS_DEAD_TUPLES = 1 << 7;

/** hash_mask: unused pages entirely, item flags of bucket and overflow pages, the dead-tuples hint. */
export const hashMask: PageMask = (page) => {
  maskPageLsnAndChecksum(page);
  maskPageHintBits(page);
  maskUnusedSpace(page);
  const special = specialOffset(page, HASH_SPECIAL_SIZE);
  if (special < 0) return;
  const pageType = readU16(page, special + 12) & LH_PAGE_TYPE;
  if (pageType === LH_UNUSED_PAGE) maskPageContent(page);
  else if (pageType === LH_BUCKET_PAGE || pageType === LH_OVERFLOW_PAGE) maskLpFlags(page);
  // Read the flags again: masking an unused page's content has zeroed them.
  writeU16(page, special + 12, readU16(page, special + 12) & ~LH_PAGE_HAS_DEAD_TUPLES);
};

// ---- gin (ginxlog.c gin_mask) ------------------------------------------------------------------

const GIN_SPECIAL_SIZE = 8;
const GIN_DELETED = 1 << 2;

/** gin_mask: deleted pages entirely; other pages' hole only where pd_lower looks set. */
export const ginMask: PageMask = (page) => {
  maskPageLsnAndChecksum(page);
  const special = specialOffset(page, GIN_SPECIAL_SIZE);
  maskPageHintBits(page);
  if (special >= 0 && (readU16(page, special + 6) & GIN_DELETED) !== 0) maskPageContent(page);
  else if (readU16(page, 12) > SIZE_OF_PAGE_HEADER) maskUnusedSpace(page);
};

// ---- gist (gistxlog.c gist_mask) ---------------------------------------------------------------

const GIST_SPECIAL_SIZE = 16;
const F_LEAF = 1 << 0;
const F_FOLLOW_RIGHT = 1 << 3;
const F_HAS_GARBAGE = 1 << 4;

/** gist_mask: the NSN (an LSN), F_FOLLOW_RIGHT (set, not cleared), leaf item flags, F_HAS_GARBAGE. */
export const gistMask: PageMask = (page) => {
  maskPageLsnAndChecksum(page);
  maskPageHintBits(page);
  maskUnusedSpace(page);
  const special = specialOffset(page, GIST_SPECIAL_SIZE);
  if (special < 0) return;
  page.fill(MASK_MARKER, special, special + 8);
  // gistplacetopage updates F_FOLLOW_RIGHT after writing WAL: force it on both sides.
  const flags = readU16(page, special + 12) | F_FOLLOW_RIGHT;
  if ((flags & F_LEAF) !== 0) maskLpFlags(page);
  // Redo never marks a page as having garbage.
  writeU16(page, special + 12, flags & ~F_HAS_GARBAGE);
};

// ---- spgist, brin, sequence, generic -----------------------------------------------------------

/** spg_mask: the hole is masked only where pd_lower appears to have been set. */
export const spgMask: PageMask = (page) => {
  maskPageLsnAndChecksum(page);
  maskPageHintBits(page);
  if (readU16(page, 12) >= SIZE_OF_PAGE_HEADER) maskUnusedSpace(page);
};

const BRIN_SPECIAL_SIZE = 8;
const BRIN_PAGETYPE_META = 0xf091;
const BRIN_PAGETYPE_REGULAR = 0xf093;
const BRIN_EVACUATE_PAGE = 1 << 0;

/**
 * brin_mask: regular pages' hole, the meta page's hole where pd_lower looks set (revmap pages keep
 * their array in that range), and BRIN_EVACUATE_PAGE, which brin_start_evacuating_page sets
 * without WAL (masked in PostgreSQL's brin_mask since the fix back-patched to the 15 branch).
 */
export const brinMask: PageMask = (page) => {
  maskPageLsnAndChecksum(page);
  maskPageHintBits(page);
  const special = specialOffset(page, BRIN_SPECIAL_SIZE);
  if (special < 0) return;
  const pageType = readU16(page, special + 6);
  if (pageType === BRIN_PAGETYPE_REGULAR || (pageType === BRIN_PAGETYPE_META && readU16(page, 12) > SIZE_OF_PAGE_HEADER)) {
    maskUnusedSpace(page);
  }
  writeU16(page, special + 4, readU16(page, special + 4) & ~BRIN_EVACUATE_PAGE);
};

/** seq_mask and generic_mask: LSN, checksum and the hole. */
export const sequenceMask: PageMask = (page) => {
  maskPageLsnAndChecksum(page);
  maskUnusedSpace(page);
};
export const genericMask: PageMask = sequenceMask;

/** What every other resource manager gets here (see maskPage). */
const lsnAndChecksumMask: PageMask = (page) => {
  maskPageLsnAndChecksum(page);
};

/** Byte offset of a special space of `size` bytes at pd_special, or -1 where it would not fit. */
function specialOffset(page: Uint8Array, size: number): number {
  const special = readU16(page, 16);
  return special + size <= BLCKSZ ? special : -1;
}

/**
 * Masks `page` (block `blockNumber`, which heap_mask needs for speculative t_ctids) in place as
 * the rm_mask of resource manager `rmgrId` does. Resource managers with no rm_mask in PostgreSQL
 * (XLOG, Transaction, Storage, ...; PostgreSQL never checks their pages) get their LSN and
 * checksum masked only: those two differ between any primary page and its replay.
 */
export function maskPage(rmgrId: number, page: Uint8Array, blockNumber: number): void {
  const mask = MASKS[rmgrId] ?? lsnAndChecksumMask;
  mask(page, blockNumber);
}

const MASKS: readonly (PageMask | undefined)[] = (() => {
  const table: (PageMask | undefined)[] = new Array<PageMask | undefined>(256).fill(undefined);
  table[RmgrId.Heap] = heapMask;
  table[RmgrId.Heap2] = heapMask;
  table[RmgrId.Btree] = btreeMask;
  table[RmgrId.Hash] = hashMask;
  table[RmgrId.Gin] = ginMask;
  table[RmgrId.Gist] = gistMask;
  table[RmgrId.SPGist] = spgMask;
  table[RmgrId.BRIN] = brinMask;
  table[RmgrId.Sequence] = sequenceMask;
  table[RmgrId.Generic] = genericMask;
  return table;
})();
