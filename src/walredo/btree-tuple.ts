/**
 * B-tree page and index tuple layouts of PostgreSQL 15 (access/nbtree.h, access/itup.h) and the
 * tuple-building steps of nbtdedup.c that redo repeats: _bt_form_posting, _bt_update_posting,
 * _bt_swap_posting, plus _bt_pageinit, the metapage (_bt_restore_meta) and BTPageSetDeleted.
 *
 * WHY: B-tree redo rebuilds tuples (posting lists) rather than copying them from the record, so
 * the bytes it writes must follow PostgreSQL's formats exactly.
 *
 *   IndexTupleData (8 bytes): t_tid { bi_hi u16 @0, bi_lo u16 @2, ip_posid u16 @4 }, t_info u16 @6
 *     t_info: size bits 0-12 (INDEX_SIZE_MASK), INDEX_ALT_TID_MASK 0x2000, var 0x4000, null 0x8000
 *     posting tuple: ALT_TID set, ip_posid = nhtids | BT_IS_POSTING (0x2000), block = offset of
 *       the posting list (MAXALIGNed), which holds nhtids ItemPointerData (6 bytes each)
 *     pivot tuple: ALT_TID set, ip_posid = number of key attributes (| 0x1000 with a heap TID);
 *       the block number is the downlink (internal pages) or the top parent (half-dead leaf)
 *   BTPageOpaqueData (16 bytes at pd_special): btpo_prev u32 @0, btpo_next u32 @4,
 *     btpo_level u32 @8, btpo_flags u16 @12, btpo_cycleid u16 @14
 *   BTMetaPageData (at 24, 48 bytes): magic @0, version @4, root @8, level @12, fastroot @16,
 *     fastlevel @20, last_cleanup_num_delpages @24 (u32s), last_cleanup_num_heap_tuples f64 @32,
 *     allequalimage bool @40; pd_lower = 72
 *   Deleted page: safexid (FullTransactionId, 8 bytes) at 24, pd_lower = 32, pd_upper = pd_special
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { BtreeMetadata } from '../wal/records/btree.js';
import { BLCKSZ, SIZE_OF_PAGE_HEADER, maxAlign, pageGetSpecial, pageInit, pageSetLower, pageSetUpper, readU16, writeU16, writeU32 } from './page.js';

export const BT_OPAQUE_SIZE = 16;
export const P_NONE = 0;
export const P_HIKEY = 1;

export const BTP_LEAF = 1 << 0;
export const BTP_ROOT = 1 << 1;
export const BTP_DELETED = 1 << 2;
export const BTP_META = 1 << 3;
export const BTP_HALF_DEAD = 1 << 4;
export const BTP_HAS_GARBAGE = 1 << 6;
export const BTP_INCOMPLETE_SPLIT = 1 << 7;
export const BTP_HAS_FULLXID = 1 << 8;

const BTREE_MAGIC = 0x053162;
const BT_META_OFFSET = SIZE_OF_PAGE_HEADER;
const BT_META_SIZE = 48;

export const INDEX_TUPLE_HEADER_SIZE = 8;
export const ITEM_POINTER_SIZE = 6;
const INDEX_SIZE_MASK = 0x1fff;
const INDEX_ALT_TID_MASK = 0x2000;
const BT_IS_POSTING = 0x2000;
const BT_OFFSET_MASK = 0x0fff;

// ---- opaque --------------------------------------------------------------------------------------

/** Byte offset of BTPageOpaqueData; throws unless the special space is exactly one. */
export function opaqueOffset(page: Uint8Array): number {
  const special = pageGetSpecial(page);
  if (special !== BLCKSZ - BT_OPAQUE_SIZE) {
    throw new StrataError('PS_ERR_REDO_FAILED', `not a B-tree page: pd_special is ${special}, expected ${BLCKSZ - BT_OPAQUE_SIZE}`);
  }
  return special;
}

export function readU32At(page: Uint8Array, offset: number): number {
  return (page[offset]! | (page[offset + 1]! << 8) | (page[offset + 2]! << 16) | (page[offset + 3]! << 24)) >>> 0;
}

export function btGetNext(page: Uint8Array): number { return readU32At(page, opaqueOffset(page) + 4); }
export function btSetPrev(page: Uint8Array, block: number): void { writeU32(page, opaqueOffset(page), block); }
export function btSetNext(page: Uint8Array, block: number): void { writeU32(page, opaqueOffset(page) + 4, block); }
export function btGetFlags(page: Uint8Array): number { return readU16(page, opaqueOffset(page) + 12); }
export function btSetFlags(page: Uint8Array, flags: number): void { writeU16(page, opaqueOffset(page) + 12, flags); }
export function btSetCycleId(page: Uint8Array, cycleId: number): void { writeU16(page, opaqueOffset(page) + 14, cycleId); }

/** P_FIRSTDATAKEY: 1 on the rightmost page of a level (no high key), else 2. */
export function firstDataKey(page: Uint8Array): number {
  return btGetNext(page) === P_NONE ? P_HIKEY : P_HIKEY + 1;
}

/** _bt_pageinit plus the opaque fields redo always sets on a page it builds from nothing. */
export function btInitPage(page: Uint8Array, opaque: { prev: number; next: number; level: number; flags: number }): void {
  pageInit(page, BT_OPAQUE_SIZE);
  const at = opaqueOffset(page);
  writeU32(page, at, opaque.prev);
  writeU32(page, at + 4, opaque.next);
  writeU32(page, at + 8, opaque.level);
  writeU16(page, at + 12, opaque.flags);
  writeU16(page, at + 14, 0);
}

/** _bt_restore_meta's page: an initialized metapage holding `metadata`. */
export function btInitMetaPage(page: Uint8Array, metadata: BtreeMetadata): void {
  pageInit(page, BT_OPAQUE_SIZE);
  const at = BT_META_OFFSET;
  writeU32(page, at, BTREE_MAGIC);
  writeU32(page, at + 4, metadata.version);
  writeU32(page, at + 8, metadata.root);
  writeU32(page, at + 12, metadata.level);
  writeU32(page, at + 16, metadata.fastRoot);
  writeU32(page, at + 20, metadata.fastLevel);
  writeU32(page, at + 24, metadata.lastCleanupDeletedPages);
  new DataView(page.buffer, page.byteOffset + at + 32, 8).setFloat64(0, -1.0, true);
  page[at + 40] = metadata.allEqualImage ? 1 : 0;
  btSetFlags(page, BTP_META);
  pageSetLower(page, at + BT_META_SIZE);
}

/** BTPageSetDeleted: flags DELETED | HAS_FULLXID (not HALF_DEAD), safexid stored, no items. */
export function btPageSetDeleted(page: Uint8Array, safeXid: bigint): void {
  btSetFlags(page, (btGetFlags(page) & ~BTP_HALF_DEAD) | BTP_DELETED | BTP_HAS_FULLXID);
  pageSetLower(page, maxAlign(SIZE_OF_PAGE_HEADER) + 8);
  pageSetUpper(page, pageGetSpecial(page));
  new DataView(page.buffer, page.byteOffset + maxAlign(SIZE_OF_PAGE_HEADER), 8).setBigUint64(0, safeXid, true);
}

// ---- index tuples ------------------------------------------------------------------------------

export function tupleSize(bytes: Uint8Array, at: number): number { return readU16(bytes, at + 6) & INDEX_SIZE_MASK; }

export function tidBlock(bytes: Uint8Array, at: number): number {
  return ((readU16(bytes, at) << 16) | readU16(bytes, at + 2)) >>> 0;
}

export function setTidBlock(bytes: Uint8Array, at: number, block: number): void {
  writeU16(bytes, at, block >>> 16);
  writeU16(bytes, at + 2, block & 0xffff);
}

export function isPosting(bytes: Uint8Array, at: number): boolean {
  return (readU16(bytes, at + 6) & INDEX_ALT_TID_MASK) !== 0 && (readU16(bytes, at + 4) & BT_IS_POSTING) !== 0;
}

export function postingCount(bytes: Uint8Array, at: number): number { return readU16(bytes, at + 4) & BT_OFFSET_MASK; }
/** BTreeTupleGetPostingOffset: where the posting list starts, from the tuple's start. */
export function postingListOffset(bytes: Uint8Array, at: number): number { return tidBlock(bytes, at); }

/** The dummy high key of a half-dead leaf: 8 bytes, ALT_TID, zero attributes, top parent block. */
export function halfDeadHighKey(topParent: number): Uint8Array {
  const tuple = new Uint8Array(INDEX_TUPLE_HEADER_SIZE);
  setTidBlock(tuple, 0, topParent);
  writeU16(tuple, 6, INDEX_TUPLE_HEADER_SIZE | INDEX_ALT_TID_MASK);
  return tuple;
}

/** Sets the size bits of t_info and marks the tuple a posting list of `count` TIDs at `keySize`. */
function setPostingHeader(tuple: Uint8Array, size: number, count: number, keySize: number): void {
  assert(count > 1 && count <= BT_OFFSET_MASK && keySize === maxAlign(keySize), 'a posting list holds 2 or more TIDs at an aligned offset');
  writeU16(tuple, 6, (readU16(tuple, 6) & ~INDEX_SIZE_MASK) | size | INDEX_ALT_TID_MASK);
  writeU16(tuple, 4, count | BT_IS_POSTING);
  setTidBlock(tuple, 0, keySize);
}

/**
 * _bt_form_posting with more than one TID: a zeroed tuple of MAXALIGN(keySize + 6 * count) bytes
 * with the base tuple's first keySize bytes (its key, without any posting list) and the TIDs.
 */
export function formPosting(base: Uint8Array, keySize: number, tids: Uint8Array, count: number): Uint8Array {
  const size = maxAlign(keySize + count * ITEM_POINTER_SIZE);
  if (size > INDEX_SIZE_MASK) throw new StrataError('PS_ERR_REDO_FAILED', `posting list tuple of ${size} bytes is too large`);
  const tuple = new Uint8Array(size);
  tuple.set(base.subarray(0, keySize));
  setPostingHeader(tuple, size, count, keySize);
  tuple.set(tids.subarray(0, count * ITEM_POINTER_SIZE), keySize);
  return tuple;
}

/**
 * _bt_update_posting: the posting list tuple `original` without the TIDs at the (ascending)
 * posting-list indexes `deleted`; a plain tuple when one TID remains.
 */
export function updatePosting(original: Uint8Array, deleted: readonly number[]): Uint8Array {
  const total = postingCount(original, 0);
  const remaining = total - deleted.length;
  if (!isPosting(original, 0) || remaining <= 0 || remaining >= total) {
    throw new StrataError('PS_ERR_REDO_FAILED', `cannot remove ${deleted.length} of ${total} TIDs from a posting list`);
  }
  const keySize = postingListOffset(original, 0);
  const size = remaining > 1 ? maxAlign(keySize + remaining * ITEM_POINTER_SIZE) : keySize;
  const tuple = new Uint8Array(size);
  tuple.set(original.subarray(0, keySize));
  let target: number;
  if (remaining > 1) {
    setPostingHeader(tuple, size, remaining, keySize);
    target = keySize;
  } else {
    writeU16(tuple, 6, ((readU16(tuple, 6) & ~INDEX_SIZE_MASK) | size) & ~INDEX_ALT_TID_MASK);
    target = 0;
  }
  let next = 0;
  for (let index = 0; index < total; index++) {
    if (next < deleted.length && deleted[next] === index) {
      next++;
      continue;
    }
    const from = keySize + index * ITEM_POINTER_SIZE;
    tuple.set(original.subarray(from, from + ITEM_POINTER_SIZE), target);
    target += ITEM_POINTER_SIZE;
  }
  if (next !== deleted.length) throw new StrataError('PS_ERR_REDO_FAILED', 'posting list TIDs to delete are not ascending indexes of the list');
  return tuple;
}

/**
 * _bt_swap_posting: returns the new posting list (a copy of `original`, same size, with
 * `newItem`'s TID put at `postingOffset` and the last TID dropped) and gives `newItem` (a mutable
 * copy) the original's last TID.
 */
export function swapPosting(newItem: Uint8Array, original: Uint8Array, postingOffset: number): Uint8Array {
  const count = isPosting(original, 0) ? postingCount(original, 0) : 0;
  if (!(postingOffset > 0 && postingOffset < count)) {
    throw new StrataError('PS_ERR_REDO_FAILED', `posting list tuple with ${count} items cannot be split at offset ${postingOffset}`);
  }
  const posting = original.slice(0, tupleSize(original, 0));
  const list = postingListOffset(posting, 0);
  const gap = list + postingOffset * ITEM_POINTER_SIZE;
  posting.copyWithin(gap + ITEM_POINTER_SIZE, gap, list + (count - 1) * ITEM_POINTER_SIZE);
  posting.set(newItem.subarray(0, ITEM_POINTER_SIZE), gap);
  const last = list + (count - 1) * ITEM_POINTER_SIZE;
  newItem.set(original.subarray(last, last + ITEM_POINTER_SIZE), 0);
  return posting;
}
