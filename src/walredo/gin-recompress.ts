/**
 * ginRedoRecompress (access/gin/ginxlog.c of PostgreSQL 15): replays the segment actions of a
 * ginxlogRecompressDataLeaf on a posting-tree leaf page, for XLOG_GIN_INSERT on a data leaf and
 * XLOG_GIN_VACUUM_DATA_LEAF_PAGE.
 *
 * WHY this shape: the primary logs only what changed, segment by segment, so redo walks the old
 * segments and the action list together. The result must be byte-identical, including what is
 * left past the new end of the data (masked by PostgreSQL, but kept equal anyway), so this follows
 * PostgreSQL's write order: segments before the first modified one stay in place untouched; from
 * the first action on an existing segment, the rest is rewritten from a copy of the old data.
 *
 * Record layout (2-byte aligned, offsets relative to `data`):
 *   nactions u16, then per action: segno u8, action u8, and
 *     INSERT / REPLACE: a GinPostingList (its size is even)
 *     ADDITEMS: nitems u16, then nitems ItemPointerData (6 bytes each)
 *     DELETE: nothing
 * Actions: UNMODIFIED 0 (never logged), DELETE 1, INSERT 2, REPLACE 3, ADDITEMS 4.
 */
import { StrataError } from '../errors.js';
import {
  GIN_COMPRESSED, GIN_DATA_OFFSET, ginDataPageSetDataSize, ginGetFlags, ginGetMaxOff, ginSetFlags, ginSetMaxOff,
} from './gin-page.js';
import {
  decodePostingList, encodePostingList, ITEM_POINTER_SIZE, itemPointerValue, mergeItemPointers, postingListSize,
} from './gin-posting-list.js';
import { pageGetLower, pageGetSpecial, readU16 } from './page.js';

export const GIN_SEGMENT_UNMODIFIED = 0;
export const GIN_SEGMENT_DELETE = 1;
export const GIN_SEGMENT_INSERT = 2;
export const GIN_SEGMENT_REPLACE = 3;
export const GIN_SEGMENT_ADDITEMS = 4;

function fail(message: string): never {
  throw new StrataError('PS_ERR_REDO_FAILED', `GIN leaf recompression: ${message}`);
}

/** A pre-9.4 uncompressed leaf (ItemPointerData array, maxoff items) becomes one compressed segment. */
function compressLegacyLeaf(page: Uint8Array): void {
  const count = ginGetMaxOff(page);
  let size = 0;
  if (count > 0) {
    const items: number[] = [];
    for (let index = 0; index < count; index++) items.push(itemPointerValue(page, GIN_DATA_OFFSET + index * ITEM_POINTER_SIZE));
    const segment = encodePostingList(items);
    page.set(segment, GIN_DATA_OFFSET);
    size = segment.length;
  }
  ginDataPageSetDataSize(page, size);
  ginSetFlags(page, ginGetFlags(page) | GIN_COMPRESSED);
  ginSetMaxOff(page, 0);
}

/** Reads the new items of an ADDITEMS action at `position`; returns them and the position after. */
function readAddedItems(data: Uint8Array, position: number): { items: number[]; next: number } {
  if (position + 2 > data.length) fail('ADDITEMS action truncated');
  const count = readU16(data, position);
  const start = position + 2;
  const next = start + count * ITEM_POINTER_SIZE;
  if (next > data.length) fail('ADDITEMS items truncated');
  const items: number[] = [];
  for (let index = 0; index < count; index++) items.push(itemPointerValue(data, start + index * ITEM_POINTER_SIZE));
  return { items, next };
}

/** Applies the recompression actions of `data` (a ginxlogRecompressDataLeaf) to leaf `page`. */
export function ginRedoRecompress(page: Uint8Array, data: Uint8Array): void {
  if ((ginGetFlags(page) & GIN_COMPRESSED) === 0) compressLegacyLeaf(page);
  const limit = pageGetSpecial(page);
  const oldSize = pageGetLower(page) - GIN_DATA_OFFSET;
  if (oldSize < 0 || GIN_DATA_OFFSET + oldSize > limit) fail(`pd_lower ${pageGetLower(page)} is outside the data area`);
  const old = page.slice(GIN_DATA_OFFSET, GIN_DATA_OFFSET + oldSize);
  if (data.length < 2) fail('record too short');
  const actionCount = readU16(data, 0);
  let position = 2;
  let read = 0;
  let write = GIN_DATA_OFFSET;
  let segmentNumber = 0;
  let rewriting = false;
  const put = (bytes: Uint8Array): void => {
    if (write + bytes.length > limit) fail('segments overflow the page');
    page.set(bytes, write);
    write += bytes.length;
  };
  for (let actionIndex = 0; actionIndex < actionCount; actionIndex++) {
    if (position + 2 > data.length) fail('action list truncated');
    const targetSegment = data[position]!;
    let action = data[position + 1]!;
    position += 2;
    let newSegment: Uint8Array | undefined;
    let addedItems: number[] = [];
    if (action === GIN_SEGMENT_INSERT || action === GIN_SEGMENT_REPLACE) {
      if (position + 8 > data.length) fail('segment header truncated');
      const size = postingListSize(data, position);
      if (position + size > data.length) fail('segment truncated');
      newSegment = data.subarray(position, position + size);
      position += size;
    } else if (action === GIN_SEGMENT_ADDITEMS) {
      const added = readAddedItems(data, position);
      addedItems = added.items;
      position = added.next;
    }
    if (targetSegment < segmentNumber) fail(`action for segment ${targetSegment} after segment ${segmentNumber}`);
    while (segmentNumber < targetSegment) {
      if (read >= oldSize) fail(`segment ${targetSegment} is past the last segment`);
      const size = postingListSize(old, read);
      if (rewriting) put(old.subarray(read, read + size));
      else write += size;
      read += size;
      segmentNumber++;
    }
    if (action === GIN_SEGMENT_ADDITEMS) {
      if (read >= oldSize) fail('ADDITEMS past the last segment');
      newSegment = encodePostingList(mergeItemPointers(addedItems, decodePostingList(old, read)));
      action = GIN_SEGMENT_REPLACE;
    }
    let oldSegmentSize = 0;
    if (read !== oldSize) {
      oldSegmentSize = postingListSize(old, read);
      rewriting = true;
    } else if (action !== GIN_SEGMENT_INSERT) {
      fail(`action ${action} past the last segment`);
    }
    switch (action) {
      case GIN_SEGMENT_DELETE:
        read += oldSegmentSize;
        segmentNumber++;
        break;
      case GIN_SEGMENT_INSERT:
        put(newSegment!);
        break;
      case GIN_SEGMENT_REPLACE:
        put(newSegment!);
        read += oldSegmentSize;
        segmentNumber++;
        break;
      default:
        fail(`unexpected GIN leaf action ${action}`);
    }
  }
  if (read !== oldSize && rewriting) put(old.subarray(read, oldSize));
  ginDataPageSetDataSize(page, write - GIN_DATA_OFFSET);
}
