/**
 * Heap page helpers for WAL redo (PostgreSQL 15): the heap tuple header layout (htup_details.h),
 * PageRepairFragmentation with compactify_tuples and PageTruncateLinePointerArray (bufpage.c),
 * heap_page_prune_execute's line pointer changes (pruneheap.c), PageSetPrunable (bufpage.h) and
 * the visibility map byte layout (visibilitymap.c).
 *
 * WHY our own copy of these: redo output is compared byte for byte with the primary's pages, and
 * where PageRepairFragmentation puts each tuple decides the bytes of the whole page. The rules
 * here are bufpage.c's: tuples are packed down from pd_special in line pointer order, each taking
 * MAXALIGN(lp_len) bytes copied as they were (padding bytes included), and the space freed below
 * pd_upper keeps whatever bytes it had (PostgreSQL does not clear it either).
 *
 *   HeapTupleHeaderData (23 bytes before the null bitmap)
 *   offset  field
 *   0       t_xmin        u32
 *   4       t_xmax        u32
 *   8       t_cid/t_xvac  u32
 *   12      t_ctid        bi_hi u16, bi_lo u16, ip_posid u16
 *   18      t_infomask2   u16
 *   20      t_infomask    u16
 *   22      t_hoff        u8
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { DecodedBlock, DecodedRecord } from '../wal/types.js';
import {
  blockDataLength, blockDataOffset, blockDataSource, recordMainDataLength, recordMainDataOffset, recordMainDataSource,
} from '../wal/xlog-record.js';
import {
  BLCKSZ, FIRST_OFFSET_NUMBER, ITEM_ID_SIZE, LP_NORMAL, checkPageHeader, checkPagePointers, itemIdOffset, LP_UNUSED, MAX_HEAP_TUPLES_PER_PAGE, SIZE_OF_PAGE_HEADER, itemIdGet,
  itemIdHasStorage, itemIdIsUsed, itemIdSet, itemIdSetDead, itemIdSetRedirect, itemIdSetUnused, lpFlags,
  lpLen, lpOff, maxAlign, pageClearHasFreeLinePointers, pageGetLower, pageGetMaxOffsetNumber, pageGetPruneXid,
  pageGetSpecial, pageGetUpper, pageSetHasFreeLinePointers, pageSetLower, pageSetPruneXid, pageSetUpper, readU16,
  writeU16, writeU32,
} from './page.js';

// ---- heap tuple header ---------------------------------------------------------------------------

export const SIZEOF_HEAP_TUPLE_HEADER = 23;
export const TUPLE_XMIN = 0;
export const TUPLE_XMAX = 4;
export const TUPLE_CID = 8;
export const TUPLE_CTID = 12;
export const TUPLE_INFOMASK2 = 18;
export const TUPLE_INFOMASK = 20;
export const TUPLE_HOFF = 22;

/** t_infomask bits. */
export const HEAP_XMAX_KEYSHR_LOCK = 0x0010;
export const HEAP_COMBOCID = 0x0020;
export const HEAP_XMAX_EXCL_LOCK = 0x0040;
export const HEAP_XMAX_LOCK_ONLY = 0x0080;
export const HEAP_LOCK_MASK = HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_KEYSHR_LOCK;
export const HEAP_XMAX_COMMITTED = 0x0400;
export const HEAP_XMAX_INVALID = 0x0800;
export const HEAP_XMAX_IS_MULTI = 0x1000;
export const HEAP_MOVED = 0x4000 | 0x8000;
export const HEAP_XMAX_BITS = HEAP_XMAX_COMMITTED | HEAP_XMAX_INVALID | HEAP_XMAX_IS_MULTI | HEAP_LOCK_MASK | HEAP_XMAX_LOCK_ONLY;
/** t_infomask2 bits. */
export const HEAP_KEYS_UPDATED = 0x2000;
export const HEAP_HOT_UPDATED = 0x4000;

/** xl_heap_* infobits (heapam_xlog.h XLHL_*). */
export const XLHL_XMAX_IS_MULTI = 0x01;
export const XLHL_XMAX_LOCK_ONLY = 0x02;
export const XLHL_XMAX_EXCL_LOCK = 0x04;
export const XLHL_XMAX_KEYSHR_LOCK = 0x08;
export const XLHL_KEYS_UPDATED = 0x10;

export const INVALID_TRANSACTION_ID = 0;
export const FROZEN_TRANSACTION_ID = 2;
export const FIRST_NORMAL_TRANSACTION_ID = 3;
/** ItemPointer of a tuple moved to another partition (MovedPartitions block and offset). */
export const MOVED_PARTITIONS_BLOCK = 0xffffffff;
export const MOVED_PARTITIONS_OFFSET = 0xfffd;

/** Writes an ItemPointerData (block split in two u16 halves, high first, then the offset). */
export function setItemPointer(page: Uint8Array, at: number, blockNumber: number, offsetNumber: number): void {
  assert(blockNumber >= 0 && blockNumber <= 0xffffffff, 'a block number is a u32');
  writeU16(page, at, blockNumber >>> 16);
  writeU16(page, at + 2, blockNumber & 0xffff);
  writeU16(page, at + 4, offsetNumber);
}

/**
 * fix_infomask_from_infobits after the caller cleared HEAP_XMAX_BITS | HEAP_MOVED: rebuilds the
 * xmax lock bits and HEAP_KEYS_UPDATED of the tuple at `tuple` from a record's infobits.
 */
export function applyInfobits(page: Uint8Array, tuple: number, infobits: number): void {
  let infomask = readU16(page, tuple + TUPLE_INFOMASK);
  let infomask2 = readU16(page, tuple + TUPLE_INFOMASK2);
  infomask &= ~(HEAP_XMAX_IS_MULTI | HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_KEYSHR_LOCK | HEAP_XMAX_EXCL_LOCK);
  infomask2 &= ~HEAP_KEYS_UPDATED;
  if (infobits & XLHL_XMAX_IS_MULTI) infomask |= HEAP_XMAX_IS_MULTI;
  if (infobits & XLHL_XMAX_LOCK_ONLY) infomask |= HEAP_XMAX_LOCK_ONLY;
  if (infobits & XLHL_XMAX_EXCL_LOCK) infomask |= HEAP_XMAX_EXCL_LOCK;
  if (infobits & XLHL_XMAX_KEYSHR_LOCK) infomask |= HEAP_XMAX_KEYSHR_LOCK;
  if (infobits & XLHL_KEYS_UPDATED) infomask2 |= HEAP_KEYS_UPDATED;
  writeU16(page, tuple + TUPLE_INFOMASK, infomask);
  writeU16(page, tuple + TUPLE_INFOMASK2, infomask2);
}

/**
 * The common start of delete/update/lock redo on an existing tuple: clears the xmax bits,
 * HEAP_MOVED and HEAP_KEYS_UPDATED, then applies the record's infobits.
 */
export function resetXmaxBits(page: Uint8Array, tuple: number, infobits: number): void {
  writeU16(page, tuple + TUPLE_INFOMASK, readU16(page, tuple + TUPLE_INFOMASK) & ~(HEAP_XMAX_BITS | HEAP_MOVED));
  writeU16(page, tuple + TUPLE_INFOMASK2, readU16(page, tuple + TUPLE_INFOMASK2) & ~HEAP_KEYS_UPDATED);
  applyInfobits(page, tuple, infobits);
}

/** HeapTupleHeaderSetCmax(tuple, FirstCommandId, false): t_cid 0 and no combo CID. */
export function setCmaxFirstCommand(page: Uint8Array, tuple: number): void {
  writeU32(page, tuple + TUPLE_CID, 0);
  writeU16(page, tuple + TUPLE_INFOMASK, readU16(page, tuple + TUPLE_INFOMASK) & ~HEAP_COMBOCID);
}

/** HEAP_XMAX_IS_LOCKED_ONLY. */
export function xmaxIsLockedOnly(infomask: number): boolean {
  return (infomask & HEAP_XMAX_LOCK_ONLY) !== 0 || (infomask & (HEAP_XMAX_IS_MULTI | HEAP_LOCK_MASK)) === HEAP_XMAX_EXCL_LOCK;
}

/**
 * The byte offset of the tuple of line pointer `offsetNumber`, which must exist and be LP_NORMAL
 * (heapam.c's "invalid lp" PANIC otherwise).
 */
export function normalTupleOffset(page: Uint8Array, offsetNumber: number, what: string): number {
  if (offsetNumber < FIRST_OFFSET_NUMBER || offsetNumber > pageGetMaxOffsetNumber(page)) {
    throw new StrataError('PS_ERR_REDO_FAILED', `${what}: invalid lp: offset ${offsetNumber} beyond ${pageGetMaxOffsetNumber(page)} line pointers`);
  }
  const itemId = itemIdGet(page, offsetNumber);
  if (lpFlags(itemId) !== LP_NORMAL) {
    throw new StrataError('PS_ERR_REDO_FAILED', `${what}: invalid lp: line pointer ${offsetNumber} has flags ${lpFlags(itemId)}`);
  }
  const offset = lpOff(itemId);
  if (offset < SIZE_OF_PAGE_HEADER || offset + lpLen(itemId) > BLCKSZ || lpLen(itemId) < SIZEOF_HEAP_TUPLE_HEADER) {
    throw new StrataError('PS_ERR_REDO_FAILED', `${what}: line pointer ${offsetNumber} points outside the page`);
  }
  return offset;
}


// ---- record bytes without views -------------------------------------------------------------------

const EMPTY = new Uint8Array(0);

/**
 * Where the bytes being read lie: `bytes[start, start + length)`, pointed at a record's main data
 * (locateMainData) or a block's data (locateBlockData). WHY: for decoded records (PackedRecordView,
 * and the record objects of GetPage's redo) both are read in the decoder's bytes with offsets,
 * without the subarray `record.mainData` / `block.data` makes for every record; other records use
 * those views. One instance per use in a redo module, re-pointed for every record (redo is
 * synchronous).
 */
export class ByteRange {
  bytes: Uint8Array = EMPTY;
  start = 0;
  length = 0;

  /** Points at `record`'s main data; returns its length. */
  locateMainData(record: DecodedRecord): number {
    return this.#point(recordMainDataSource(record), recordMainDataOffset(record), recordMainDataLength(record));
  }

  /** Points at `block`'s data, or at nothing without a block; returns its length. */
  locateBlockData(block: DecodedBlock | undefined): number {
    if (block === undefined) return this.#point(EMPTY, 0, 0);
    return this.#point(blockDataSource(block), blockDataOffset(block), blockDataLength(block));
  }

  /** Byte `at` of the range (the caller checked the length). */
  u8(at: number): number {
    return this.bytes[this.start + at]!;
  }

  u16(at: number): number {
    return readU16(this.bytes, this.start + at);
  }

  u32(at: number): number {
    const bytes = this.bytes;
    const offset = this.start + at;
    return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
  }

  #point(bytes: Uint8Array, start: number, length: number): number {
    this.bytes = bytes;
    this.start = start;
    this.length = length;
    return length;
  }
}

/**
 * Copies shorter than this go byte by byte: cheaper than making a view to copy from. Measured per
 * copy from a SharedArrayBuffer (WAL) into a page: 32 bytes, a byte loop 53 ns and subarray + set
 * 58 ns; 100 bytes 171 / 65 ns; 256 bytes 459 / 121 ns. Tuples are mostly 40 to 250 bytes.
 * (Four-byte DataView loads and stores measured faster alone, 49 ns for 100 bytes, but slower in
 * redo, where reading each array's buffer and byteOffset cost more than the copy.)
 */
const SHORT_COPY_MAX = 40;

/** `target[targetStart..] = source[sourceStart, sourceStart + length)` (ranges that do not overlap). */
export function copyBytes(target: Uint8Array, targetStart: number, source: Uint8Array, sourceStart: number, length: number): void {
  if (length <= 0) return;
  if (length > SHORT_COPY_MAX || targetStart + length > target.length || sourceStart + length > source.length) {
    target.set(source.subarray(sourceStart, sourceStart + length), targetStart);
    return;
  }
  for (let index = 0; index < length; index++) target[targetStart + index] = source[sourceStart + index]!;
}

/**
 * PageAddItemExtended(page, item, length, offsetNumber, PAI_OVERWRITE | PAI_IS_HEAP) for an
 * offset number that is not InvalidOffsetNumber, without the item: sets up the line pointer,
 * pd_lower and pd_upper and returns the byte offset where the caller copies the item's `length`
 * bytes, or 0 when PostgreSQL's PageAddItem would fail (page.ts pageAddItem does the same).
 */
export function heapAddItemAt(page: Uint8Array, length: number, offsetNumber: number): number {
  assert(offsetNumber !== 0, 'heapAddItemAt needs an offset number');
  checkPageHeader(page, 'PageAddItem');
  const limit = pageGetMaxOffsetNumber(page) + 1;
  if (offsetNumber < limit) {
    const itemId = itemIdGet(page, offsetNumber);
    if (itemIdIsUsed(itemId) || itemIdHasStorage(itemId)) return 0;
  }
  if (offsetNumber > limit || offsetNumber > MAX_HEAP_TUPLES_PER_PAGE) return 0;
  const lower = offsetNumber === limit ? pageGetLower(page) + ITEM_ID_SIZE : pageGetLower(page);
  const upper = pageGetUpper(page) - maxAlign(length);
  if (lower > upper) return 0;
  itemIdSet(page, offsetNumber, upper, LP_NORMAL, length);
  pageSetLower(page, lower);
  pageSetUpper(page, upper);
  assert(itemIdOffset(offsetNumber) < upper, 'the line pointer stays below the item');
  return upper;
}

// ---- transaction ids and pd_prune_xid -------------------------------------------------------------

/** TransactionIdPrecedes: modulo-2^32 comparison for normal xids, plain otherwise. */
export function transactionIdPrecedes(first: number, second: number): boolean {
  if (first < FIRST_NORMAL_TRANSACTION_ID || second < FIRST_NORMAL_TRANSACTION_ID) return first < second;
  return ((first - second) | 0) < 0;
}

/** PageSetPrunable: pd_prune_xid becomes `xid` when unset or when `xid` is older. */
export function pageSetPrunable(page: Uint8Array, xid: number): void {
  const current = pageGetPruneXid(page);
  if (current === INVALID_TRANSACTION_ID || transactionIdPrecedes(xid, current)) pageSetPruneXid(page, xid);
}

// ---- PageRepairFragmentation / compactify_tuples ---------------------------------------------------

/** Scratch space, reused: items being compacted (line pointer's word, offset, aligned length). */
const compactWord = new Int32Array(MAX_HEAP_TUPLES_PER_PAGE * 2);
const compactOffset = new Int32Array(MAX_HEAP_TUPLES_PER_PAGE * 2);
const compactLength = new Int32Array(MAX_HEAP_TUPLES_PER_PAGE * 2);
const compactScratchWords = new Int32Array(BLCKSZ >>> 2);

function corrupt(what: string, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `${what}: ${message}`);
}


/** Index in a page's 32-bit words of line pointer 1 (the header is 24 bytes). */
const FIRST_LINE_POINTER_WORD = SIZE_OF_PAGE_HEADER / ITEM_ID_SIZE;
const LP_OFF_MASK = 0x7fff;
/** lp_flags (bits 15 and 16 of the word): zero is LP_UNUSED. */
const LP_FLAGS_MASK = 0x18000;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/**
 * Runs of items up to this many bytes move word by word: cheaper than a copyWithin call, which
 * measured ~28-30 ns per call here from 8 bytes to 4 KiB on a cached page, where the word loop
 * takes 22 ns at 64 bytes and 43 ns at 128.
 */
const WORD_MOVE_BYTES_MAX = 80;
/** Where a page that does not start on a 4-byte boundary is repaired (rare: subarrays). */
const alignedPage = new Uint8Array(BLCKSZ);

/**
 * compactify_tuples (PostgreSQL 14 and later) on the `count` items collected by
 * repairFragmentation: packs them down from pd_special in the order collected, which is line
 * pointer order (there is no sort by offset any more, presorted or not), updates their lp_off and
 * pd_upper. Every item keeps its MAXALIGNed length of bytes and its bytes from before compaction:
 * when the items are presorted (descending offsets, no overlap: the usual case, as tuples are
 * added downwards in line pointer order), packing in place only ever moves an item up over
 * itself or over items already moved; otherwise they are copied from a snapshot of the tuple
 * space, as PostgreSQL's memmove / scratch-buffer paths do. Runs of items adjacent in the page
 * keep their layout and move as one block.
 */
function compactifyTuples(page: Uint8Array, words: Int32Array, base: number, count: number, presorted: boolean, special: number): void {
  if (!presorted) {
    // Snapshot of the tuple space (pd_upper and pd_special are MAXALIGNed: whole words).
    for (let word = pageGetUpper(page) >>> 2, end = special >>> 2; word < end; word++) compactScratchWords[word] = words[base + word]!;
  }
  let upper = special;
  let index = 0;
  while (index < count) {
    const first = index;
    const sourceEnd = compactOffset[index]! + compactLength[index]!;
    let sourceStart = compactOffset[index]!;
    index++;
    while (index < count && compactOffset[index]! + compactLength[index]! === sourceStart) {
      sourceStart = compactOffset[index]!;
      index++;
    }
    const bytes = sourceEnd - sourceStart;
    const target = upper - bytes;
    if (target === sourceStart) {
      // The run stays where it is: its items keep their offsets.
      upper = target;
      continue;
    }
    const targetWord = base + (target >>> 2);
    if (!presorted) {
      const sourceWord = sourceStart >>> 2;
      for (let word = 0, end = bytes >>> 2; word < end; word++) words[targetWord + word] = compactScratchWords[sourceWord + word]!;
    } else if (bytes > WORD_MOVE_BYTES_MAX) {
      page.copyWithin(target, sourceStart, sourceEnd);
    } else {
      // Presorted items only move up (target > source): copy from the end down.
      const sourceWord = base + (sourceStart >>> 2);
      for (let word = (bytes >>> 2) - 1; word >= 0; word--) words[targetWord + word] = words[sourceWord + word]!;
    }
    for (let item = first; item < index; item++) {
      upper -= compactLength[item]!;
      const word = compactWord[item]!;
      words[word] = (words[word]! & ~LP_OFF_MASK) | upper;
    }
  }
  assert(upper >= pageGetLower(page), 'compacted tuples stay above the line pointers');
  pageSetUpper(page, upper);
}

/**
 * PageRepairFragmentation (PostgreSQL 15): compacts the storage of used line pointers, marks
 * unused ones fully unused, truncates the unused line pointers at the end of the array (all of
 * them when none is used; new in 15, measured against PostgreSQL's own pages), and sets
 * PD_HAS_FREE_LINES when an unused one remains before the last used one. Used line pointers are
 * never renumbered.
 */
export function pageRepairFragmentation(page: Uint8Array): void {
  if (!LITTLE_ENDIAN) throw new StrataError('PS_ERR_REDO_UNSUPPORTED', 'heap redo reads line pointers as little-endian words');
  if ((page.byteOffset & 3) !== 0) {
    alignedPage.set(page);
    repairFragmentation(alignedPage, wordsOf(alignedPage.buffer), alignedPage.byteOffset >>> 2);
    page.set(alignedPage);
    return;
  }
  repairFragmentation(page, wordsOf(page.buffer), page.byteOffset >>> 2);
}

/** One 32-bit view per buffer pages live in (page slabs, batch buffers), not one per call. */
const bufferWords = new WeakMap<ArrayBufferLike, Int32Array>();

function wordsOf(buffer: ArrayBufferLike): Int32Array {
  let words = bufferWords.get(buffer);
  if (words === undefined) {
    words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
    bufferWords.set(buffer, words);
  }
  return words;
}

/**
 * pageRepairFragmentation on a page whose 32-bit words are `words[base, base + BLCKSZ / 4)`. WHY words and one pass: it
 * touches every line pointer of the page on each prune (69 on average in a pgbench WAL, 6.5
 * million per 680k records); an ItemIdData is one little-endian word (lp_off in its low 15 bits,
 * lp_flags next, lp_len in the top 15), and items are MAXALIGNed, so they move by words. The
 * first version (byte reads, separate passes for sorting order, runs and line pointers) took
 * three times as long on real pages.
 */
function repairFragmentation(page: Uint8Array, words: Int32Array, base: number): void {
  const what = 'PageRepairFragmentation';
  checkPagePointers(page, what);
  const lower = pageGetLower(page);
  const upper = pageGetUpper(page);
  const special = pageGetSpecial(page);
  const lineCount = pageGetMaxOffsetNumber(page);
  if (lineCount > compactWord.length) throw corrupt(what, `${lineCount} line pointers on a heap page`);
  let count = 0;
  let unused = 0;
  let total = 0;
  let finalUsed = 0;
  let presorted = true;
  let limit = special;
  for (let lineNumber = FIRST_OFFSET_NUMBER; lineNumber <= lineCount; lineNumber++) {
    const word = base + FIRST_LINE_POINTER_WORD + lineNumber - 1;
    const itemId = words[word]!;
    if ((itemId & LP_FLAGS_MASK) === 0) {
      // LP_UNUSED: itemIdSetUnused makes all four bytes zero.
      words[word] = 0;
      unused++;
      continue;
    }
    finalUsed = lineNumber;
    const itemLength = itemId >>> 17;
    if (itemLength === 0) continue;
    const offset = itemId & LP_OFF_MASK;
    if (offset < upper || offset >= special) throw corrupt(what, `corrupted line pointer: ${offset}`);
    const length = maxAlign(itemLength);
    if (offset + length > limit) presorted = false;
    limit = offset;
    compactWord[count] = word;
    compactOffset[count] = offset;
    compactLength[count] = length;
    total += length;
    count++;
  }
  if (count === 0) {
    pageSetUpper(page, special);
  } else {
    if (total > special - lower) throw corrupt(what, `corrupted item lengths: total ${total}, available space ${special - lower}`);
    compactifyTuples(page, words, base, count, presorted, special);
  }
  if (finalUsed !== lineCount) {
    const unusedAtEnd = lineCount - finalUsed;
    unused -= unusedAtEnd;
    pageSetLower(page, lower - ITEM_ID_SIZE * unusedAtEnd);
  }
  if (unused > 0) pageSetHasFreeLinePointers(page);
  else pageClearHasFreeLinePointers(page);
}

/**
 * PageTruncateLinePointerArray: drops LP_UNUSED line pointers at the end of the array (always
 * keeping the first one) and sets PD_HAS_FREE_LINES when an unused one remains before them.
 */
export function pageTruncateLinePointerArray(page: Uint8Array): void {
  let countDone = false;
  let setHint = false;
  let unusedAtEnd = 0;
  for (let lineNumber = pageGetMaxOffsetNumber(page); lineNumber >= FIRST_OFFSET_NUMBER; lineNumber--) {
    const used = itemIdIsUsed(itemIdGet(page, lineNumber));
    if (!countDone && lineNumber > FIRST_OFFSET_NUMBER) {
      if (!used) unusedAtEnd++;
      else countDone = true;
    } else if (!used) {
      setHint = true;
      break;
    }
  }
  if (unusedAtEnd > 0) pageSetLower(page, pageGetLower(page) - ITEM_ID_SIZE * unusedAtEnd);
  if (setHint) pageSetHasFreeLinePointers(page);
  else pageClearHasFreeLinePointers(page);
}

// ---- heap_page_prune_execute ---------------------------------------------------------------------

function checkLineNumber(page: Uint8Array, lineNumber: number, what: string): void {
  if (lineNumber < FIRST_OFFSET_NUMBER || lineNumber > pageGetMaxOffsetNumber(page)) {
    throw corrupt(what, `offset ${lineNumber} beyond ${pageGetMaxOffsetNumber(page)} line pointers`);
  }
}

/**
 * heap_page_prune_execute with the offsets read in place from a prune record's block data:
 * redirections (from/to pairs) of `redirectedCount` redirections, then `deadCount` dead, then unused ones to the end
 * (u16 each; an odd last byte is ignored, as the decoder does); then PageRepairFragmentation.
 * Empty data changes no line pointer.
 */
export function heapPagePruneExecuteFrom(
  page: Uint8Array, data: Uint8Array, redirectedCount: number, deadCount: number, start = 0, end = data.length,
): void {
  const what = 'heap_page_prune_execute';
  let at = start;
  if (end > start) {
    if ((redirectedCount * 2 + deadCount) * 2 > end - start) {
      throw new StrataError('PS_ERR_WAL_CORRUPT', `heap2 prune offsets: body too short (need ${(redirectedCount * 2 + deadCount) * 2} bytes, have ${end - start})`);
    }
    for (let index = 0; index < redirectedCount; index++, at += 4) {
      const from = readU16(data, at);
      checkLineNumber(page, from, what);
      itemIdSetRedirect(page, from, readU16(data, at + 2));
    }
    for (let index = 0; index < deadCount; index++, at += 2) {
      const lineNumber = readU16(data, at);
      checkLineNumber(page, lineNumber, what);
      itemIdSetDead(page, lineNumber);
    }
    for (const last = end - 1; at < last; at += 2) {
      const lineNumber = readU16(data, at);
      checkLineNumber(page, lineNumber, what);
      itemIdSetUnused(page, lineNumber);
    }
  }
  pageRepairFragmentation(page);
}

/**
 * heap_xlog_vacuum: marks the `count` line pointers listed in a vacuum record's block data
 * (`data[start, end)`) unused (none when it is empty), then truncates the line pointer array.
 */
export function heapVacuumUnusedFrom(page: Uint8Array, data: Uint8Array, count: number, start = 0, end = data.length): void {
  if (end > start) {
    if (count * 2 > end - start) throw new StrataError('PS_ERR_WAL_CORRUPT', `heap2 vacuum offsets: body too short (need ${count * 2} bytes, have ${end - start})`);
    for (let at = start; at < start + count * 2; at += 2) {
      const lineNumber = readU16(data, at);
      checkLineNumber(page, lineNumber, 'heap vacuum');
      itemIdSet(page, lineNumber, 0, LP_UNUSED, 0);
    }
  }
  pageTruncateLinePointerArray(page);
}

// ---- visibility map --------------------------------------------------------------------------------

/** Bytes of map per VM page: BLCKSZ - MAXALIGN(SizeOfPageHeaderData). */
export const VM_MAPSIZE = BLCKSZ - maxAlign(SIZE_OF_PAGE_HEADER);
export const VM_HEAPBLOCKS_PER_BYTE = 4;
export const VM_HEAPBLOCKS_PER_PAGE = VM_MAPSIZE * VM_HEAPBLOCKS_PER_BYTE;
export const VM_VALID_BITS = 0x03;

/** The VM page (block of the VM fork) that holds heap block `heapBlock`'s bits. */
export function vmBlockOfHeapBlock(heapBlock: number): number {
  return Math.floor(heapBlock / VM_HEAPBLOCKS_PER_PAGE);
}

/** Byte offset in the VM page and bit shift of heap block `heapBlock`'s two bits. */
export function vmBitPosition(heapBlock: number): { byteOffset: number; shift: number } {
  const inPage = heapBlock % VM_HEAPBLOCKS_PER_PAGE;
  return { byteOffset: maxAlign(SIZE_OF_PAGE_HEADER) + Math.floor(inPage / VM_HEAPBLOCKS_PER_BYTE), shift: (inPage % VM_HEAPBLOCKS_PER_BYTE) * 2 };
}

/** The two VM bits of `heapBlock` on its VM page. */
export function vmGetBits(page: Uint8Array, heapBlock: number): number {
  const { byteOffset, shift } = vmBitPosition(heapBlock);
  return (page[byteOffset]! >>> shift) & VM_VALID_BITS;
}

/**
 * visibilitymap_set's change to the map: when `flags` differ from the block's current bits, ORs
 * them in and returns true (the caller then sets the page LSN); otherwise changes nothing.
 */
export function vmSetBits(page: Uint8Array, heapBlock: number, flags: number): boolean {
  assert((flags & ~VM_VALID_BITS) === 0, 'only the two visibility map bits can be set');
  const { byteOffset, shift } = vmBitPosition(heapBlock);
  if (((page[byteOffset]! >>> shift) & VM_VALID_BITS) === flags) return false;
  page[byteOffset] = page[byteOffset]! | (flags << shift);
  return true;
}

