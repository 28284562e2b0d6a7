/**
 * GIN compressed posting lists (access/gin/ginpostinglist.c of PostgreSQL 15): the varbyte codec
 * and the merge that redo of a data-leaf ADDITEMS action needs.
 *
 * WHY our own: redo of XLOG_GIN_INSERT / VACUUM_DATA_LEAF_PAGE rebuilds a segment from the old
 * segment on the page plus the record's new item pointers, and the result must be the very bytes
 * the primary wrote. A segment (GinPostingList, 2-byte aligned) is:
 *
 *   offset  field    size
 *   0       first    6    ItemPointerData: bi_hi u16, bi_lo u16, ip_posid u16 (unencoded)
 *   6       nbytes   2    length of the varbyte stream
 *   8       bytes    nbytes, then one zero byte of padding when nbytes is odd
 *
 * Each later item is the delta from the previous one, as a 43-bit integer (block << 11 | offset),
 * in 7-bit groups, low first, the high bit set on every byte but the last. Item pointers are plain
 * JS numbers here (exact below 2^53); no bit operators touch values above 32 bits.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { readU16, writeU16 } from './page.js';

/** MaxHeapTuplesPerPageBits: the offset number's share of an encoded item pointer. */
const OFFSET_BITS_MULTIPLIER = 2048;
/** offsetof(GinPostingList, bytes). */
export const POSTING_LIST_HEADER_SIZE = 8;
/** Bytes of one ItemPointerData. */
export const ITEM_POINTER_SIZE = 6;

/** An item pointer (block, offset) as PostgreSQL's itemptr_to_uint64 orders it. */
export function itemPointerValue(bytes: Uint8Array, offset: number): number {
  const block = readU16(bytes, offset) * 0x10000 + readU16(bytes, offset + 2);
  const offsetNumber = readU16(bytes, offset + 4);
  if (offsetNumber >= OFFSET_BITS_MULTIPLIER) {
    throw new StrataError('PS_ERR_REDO_FAILED', `GIN posting list: item offset ${offsetNumber} does not fit 11 bits`);
  }
  return block * OFFSET_BITS_MULTIPLIER + offsetNumber;
}

function writeItemPointer(bytes: Uint8Array, offset: number, value: number): void {
  const block = Math.floor(value / OFFSET_BITS_MULTIPLIER);
  writeU16(bytes, offset, Math.floor(block / 0x10000));
  writeU16(bytes, offset + 2, block % 0x10000);
  writeU16(bytes, offset + 4, value % OFFSET_BITS_MULTIPLIER);
}

/** SizeOfGinPostingList: header plus the varbyte stream rounded up to 2 bytes. */
export function postingListSize(bytes: Uint8Array, offset: number): number {
  const nbytes = readU16(bytes, offset + 6);
  return POSTING_LIST_HEADER_SIZE + nbytes + (nbytes & 1);
}

/** ginPostingListDecode: the items of the segment at `offset`, in order. */
export function decodePostingList(bytes: Uint8Array, offset: number): number[] {
  const end = offset + POSTING_LIST_HEADER_SIZE + readU16(bytes, offset + 6);
  if (end > bytes.length) throw new StrataError('PS_ERR_REDO_FAILED', 'GIN posting list runs past its buffer');
  let value = itemPointerValue(bytes, offset);
  const items = [value];
  let position = offset + POSTING_LIST_HEADER_SIZE;
  while (position < end) {
    let delta = 0;
    let scale = 1;
    let byte: number;
    do {
      if (position >= end) throw new StrataError('PS_ERR_REDO_FAILED', 'GIN posting list: truncated varbyte integer');
      byte = bytes[position++]!;
      delta += (byte & 0x7f) * scale;
      scale *= 128;
    } while ((byte & 0x80) !== 0);
    value += delta;
    items.push(value);
  }
  return items;
}

/**
 * ginCompressPostingList with a BLCKSZ limit (every redo caller packs all items): the segment
 * bytes, padding byte included.
 */
export function encodePostingList(items: readonly number[]): Uint8Array {
  assert(items.length > 0, 'a posting list has at least one item');
  // Seven bytes hold any 43-bit delta; one more for the padding byte.
  const output = new Uint8Array(POSTING_LIST_HEADER_SIZE + items.length * 7 + 1);
  let previous = items[0]!;
  writeItemPointer(output, 0, previous);
  let position = POSTING_LIST_HEADER_SIZE;
  for (let index = 1; index < items.length; index++) {
    const value = items[index]!;
    assert(value > previous, 'posting list items are strictly ascending');
    let delta = value - previous;
    while (delta > 0x7f) {
      output[position++] = 0x80 | (delta % 128);
      delta = Math.floor(delta / 128);
    }
    output[position++] = delta;
    previous = value;
  }
  const nbytes = position - POSTING_LIST_HEADER_SIZE;
  writeU16(output, 6, nbytes);
  if ((nbytes & 1) !== 0) output[position++] = 0;
  return output.subarray(0, position);
}

/**
 * ginMergeItemPointers: the union of two ascending lists, one copy of items in both. The
 * non-overlapping cases concatenate, as PostgreSQL does (same result, kept for fidelity).
 */
export function mergeItemPointers(first: readonly number[], second: readonly number[]): number[] {
  if (first.length === 0 || second.length === 0 || first[first.length - 1]! < second[0]!) return [...first, ...second];
  if (second[second.length - 1]! < first[0]!) return [...second, ...first];
  const merged: number[] = [];
  let a = 0;
  let b = 0;
  while (a < first.length && b < second.length) {
    const left = first[a]!;
    const right = second[b]!;
    if (left > right) {
      merged.push(right);
      b++;
    } else if (left === right) {
      merged.push(right);
      a++;
      b++;
    } else {
      merged.push(left);
      a++;
    }
  }
  while (a < first.length) merged.push(first[a++]!);
  while (b < second.length) merged.push(second[b++]!);
  return merged;
}
