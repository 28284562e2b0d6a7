/**
 * WAL redo of the Hash resource manager (access/hash/hash_xlog.c, PostgreSQL 15), one block at a
 * time (types.ts has the contract; page-hash.ts the page layout).
 *
 * Record types and their blocks:
 *   INIT_META_PAGE       0: the meta page, initialized (will-init).
 *   INIT_BITMAP_PAGE     0: the bitmap page, initialized; 1: meta (mapp[nmaps++] = maxbucket + 2).
 *   INSERT               0: the bucket page, tuple (block data) added at offnum; 1: meta ntuples + 1.
 *   ADD_OVFL_PAGE        0: the new overflow page (bucket from its data, prev link = block 1);
 *                        1: the page before it (next link = block 0); 2: bitmap bit set;
 *                        3: a new bitmap page; 4: meta (firstfree, spares, mapp).
 *   SPLIT_ALLOCATE_PAGE  0: old bucket (flag, prev = new bucket number); 1: new bucket page
 *                        (will-init); 2: meta (maxbucket, masks, splitpoint).
 *   SPLIT_PAGE           0: always a full-page image: redo without one is an error.
 *   SPLIT_COMPLETE       0, 1: the old and new bucket's flags.
 *   MOVE_PAGE_CONTENTS   0: the primary bucket page (only locked); 1: tuples added at the logged
 *                        offsets; 2: the moved tuples deleted.
 *   SQUEEZE_PAGE         0: primary bucket (only locked); 1: tuples added (and the next link if it
 *                        precedes the freed page); 2: the freed overflow page re-initialized as
 *                        unused; 3: the page before it (next link); 4: the page after it (prev
 *                        link); 5: bitmap bit cleared; 6: meta firstfree.
 *   DELETE               0: primary bucket (only locked); 1: tuples deleted, dead hint cleared.
 *   SPLIT_CLEANUP        0: the needs-split-cleanup flag cleared.
 *   UPDATE_META_PAGE     0: meta ntuples.
 *   VACUUM_ONE_PAGE      0: dead tuples deleted, dead hint cleared; 1: meta ntuples decreased.
 *
 * SPLIT_ALLOCATE_PAGE block 0 and SPLIT_COMPLETE blocks 0 and 1 change the page even after its
 * full-page image was restored (BLK_RESTORED): `afterImageRestore` does that for the dispatcher.
 */
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import { decodeHashRecord, type HashRecord } from '../wal/records/hash.js';
import type { DecodedBlock, DecodedRecord } from '../wal/types.js';
import { assert } from '../assert.js';
import { INVALID_OFFSET_NUMBER, maxAlign, pageAddItem, pageSetLsn, readU16, readU32 } from './page.js';
import { pageIndexMultiDelete } from './page-index.js';
import {
  hashBitmapSetBit, hashGetFlag, hashInitBitmapPage, hashInitBuffer, hashInitMetaPage, hashInitUnusedPage, hashMetaGet,
  hashMetaGetNtuples, hashMetaGetSpare, hashMetaSet, hashMetaSetMap, hashMetaSetNtuples, hashMetaSetSpare, hashSetFlag,
  hashSetNextBlock, hashSetPrevBlock, INVALID_BLOCK_NUMBER, LH_BUCKET_NEEDS_SPLIT_CLEANUP, LH_OVERFLOW_PAGE,
  LH_PAGE_HAS_DEAD_TUPLES, META_FIRSTFREE, META_HIGHMASK, META_LOWMASK, META_MAXBUCKET, META_NMAPS, META_OVFLPOINT,
} from './page-hash.js';
import type { RmgrRedo } from './types.js';

const XLH_SPLIT_META_UPDATE_MASKS = 1 << 0;
const XLH_SPLIT_META_UPDATE_SPLITPOINT = 1 << 1;
/** IndexTupleData: t_tid (6 bytes) then t_info u16, whose low 13 bits are the size. */
const INDEX_TUPLE_INFO_OFFSET = 6;
const INDEX_SIZE_MASK = 0x1fff;

type Of<T extends HashRecord['type']> = Extract<HashRecord, { type: T }>;

function redoError(record: DecodedRecord, blockId: number, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `Hash redo at ${formatLsn(record.lsn)}, block ${blockId}: ${message}`,
    { rmgr: 'Hash', info: record.info, lsn: formatLsn(record.lsn), block_id: blockId });
}

function requireBlock(record: DecodedRecord, blockId: number): DecodedBlock {
  for (const block of record.blocks) if (block.blockId === blockId) return block;
  throw redoError(record, blockId, 'no such block reference');
}

function hasBlock(record: DecodedRecord, blockId: number): boolean {
  return record.blocks.some((block) => block.blockId === blockId);
}

/** The u32 at `offset` of block `blockId`'s data. */
function blockU32(record: DecodedRecord, blockId: number, offset = 0): number {
  const data = requireBlock(record, blockId).data;
  if (data.length < offset + 4) throw redoError(record, blockId, `block data too short (${data.length} bytes)`);
  return readU32(data, offset);
}

/** Block data as an array of OffsetNumbers (u16), as the delete records log them. */
function offsetArray(record: DecodedRecord, blockId: number, data: Uint8Array, start: number, count: number): Uint16Array {
  if (start + count * 2 > data.length) throw redoError(record, blockId, `block data too short for ${count} offsets`);
  const offsets = new Uint16Array(count);
  for (let index = 0; index < count; index++) offsets[index] = readU16(data, start + index * 2);
  return offsets;
}

function multiDelete(page: Uint8Array, offsets: Uint16Array): void {
  if (offsets.length > 0) pageIndexMultiDelete(page, offsets, offsets.length);
}

/**
 * The write page of MOVE_PAGE_CONTENTS and SQUEEZE_PAGE: `tupleCount` offsets, then that many
 * index tuples (each MAXALIGNed), each added at its offset with its aligned size as length.
 */
function addMovedTuples(page: Uint8Array, record: DecodedRecord, blockId: number, tupleCount: number): void {
  if (tupleCount === 0) return;
  const data = requireBlock(record, blockId).data;
  const offsets = offsetArray(record, blockId, data, 0, tupleCount);
  let position = tupleCount * 2;
  let inserted = 0;
  while (position < data.length) {
    if (inserted >= tupleCount || position + 8 > data.length) throw redoError(record, blockId, 'more tuple bytes than logged offsets');
    const size = maxAlign(readU16(data, position + INDEX_TUPLE_INFO_OFFSET) & INDEX_SIZE_MASK);
    if (size === 0 || position + size > data.length) throw redoError(record, blockId, `truncated index tuple at ${position}`);
    if (pageAddItem(page, data.subarray(position, position + size), offsets[inserted]!, 0) === INVALID_OFFSET_NUMBER) {
      throw redoError(record, blockId, `failed to add item to hash index page, size ${size} bytes`);
    }
    position += size;
    inserted++;
  }
  if (inserted !== tupleCount) throw redoError(record, blockId, `added ${inserted} tuples, the record logs ${tupleCount}`);
}

function initBitmapPage(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: Of<'initBitmapPage'>): void {
  if (blockId === 0) {
    hashInitBitmapPage(page, decoded.bitmapSize);
  } else if (blockId === 1) {
    const maps = hashMetaGet(page, META_NMAPS);
    hashMetaSetMap(page, maps, hashMetaGet(page, META_MAXBUCKET) + 2);
    hashMetaSet(page, META_NMAPS, maps + 1);
  } else {
    throw redoError(record, blockId, 'unexpected block');
  }
}

function insert(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: Of<'insert'>): void {
  if (blockId === 0) {
    const tuple = requireBlock(record, 0).data;
    if (pageAddItem(page, tuple, decoded.offsetNumber, 0) === INVALID_OFFSET_NUMBER) throw redoError(record, blockId, 'failed to add item');
  } else if (blockId === 1) {
    hashMetaSetNtuples(page, hashMetaGetNtuples(page) + 1);
  } else {
    throw redoError(record, blockId, 'unexpected block');
  }
}

function addOverflowPage(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: Of<'addOverflowPage'>): void {
  switch (blockId) {
    case 0:
      hashInitBuffer(page, INVALID_BLOCK_NUMBER, blockU32(record, 0), LH_OVERFLOW_PAGE);
      hashSetPrevBlock(page, requireBlock(record, 1).blockNumber);
      return;
    case 1: hashSetNextBlock(page, requireBlock(record, 0).blockNumber); return;
    case 2: hashBitmapSetBit(page, blockU32(record, 2), true); return;
    case 3: hashInitBitmapPage(page, decoded.bitmapSize); return;
    case 4: {
      hashMetaSet(page, META_FIRSTFREE, blockU32(record, 4));
      if (decoded.bitmapPageFound) return;
      const splitpoint = hashMetaGet(page, META_OVFLPOINT);
      hashMetaSetSpare(page, splitpoint, hashMetaGetSpare(page, splitpoint) + 1);
      if (!hasBlock(record, 3)) return;
      const maps = hashMetaGet(page, META_NMAPS);
      hashMetaSetMap(page, maps, requireBlock(record, 3).blockNumber);
      hashMetaSet(page, META_NMAPS, maps + 1);
      hashMetaSetSpare(page, splitpoint, hashMetaGetSpare(page, splitpoint) + 1);
      return;
    }
    default: throw redoError(record, blockId, 'unexpected block');
  }
}

/** Block 2 of SPLIT_ALLOCATE_PAGE: the meta page learns the new bucket (and masks, splitpoint). */
function splitAllocateMeta(page: Uint8Array, record: DecodedRecord, decoded: Of<'splitAllocatePage'>): void {
  hashMetaSet(page, META_MAXBUCKET, decoded.newBucket);
  let position = 0;
  if ((decoded.flags & XLH_SPLIT_META_UPDATE_MASKS) !== 0) {
    hashMetaSet(page, META_LOWMASK, blockU32(record, 2, position));
    hashMetaSet(page, META_HIGHMASK, blockU32(record, 2, position + 4));
    position += 8;
  }
  if ((decoded.flags & XLH_SPLIT_META_UPDATE_SPLITPOINT) !== 0) {
    const splitpoint = blockU32(record, 2, position);
    hashMetaSetSpare(page, splitpoint, blockU32(record, 2, position + 4));
    hashMetaSet(page, META_OVFLPOINT, splitpoint);
  }
}

function splitAllocatePage(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: Of<'splitAllocatePage'>): void {
  if (blockId === 0) {
    hashSetFlag(page, decoded.oldBucketFlag);
    hashSetPrevBlock(page, decoded.newBucket);
  } else if (blockId === 1) {
    hashInitBuffer(page, decoded.newBucket, decoded.newBucket, decoded.newBucketFlag);
  } else if (blockId === 2) {
    splitAllocateMeta(page, record, decoded);
  } else {
    throw redoError(record, blockId, 'unexpected block');
  }
}

function splitComplete(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: Of<'splitComplete'>): void {
  if (blockId === 0) hashSetFlag(page, decoded.oldBucketFlag);
  else if (blockId === 1) hashSetFlag(page, decoded.newBucketFlag);
  else throw redoError(record, blockId, 'unexpected block');
}

/** Block 2 of MOVE_PAGE_CONTENTS, block 1 of DELETE: the offsets in the block data are deleted. */
function deleteLogged(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const data = requireBlock(record, blockId).data;
  multiDelete(page, offsetArray(record, blockId, data, 0, data.length >>> 1));
}

function squeezePage(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: Of<'squeezePage'>): boolean {
  switch (blockId) {
    case 1:
      addMovedTuples(page, record, 1, decoded.tupleCount);
      if (decoded.previousBucketSameAsWrite) hashSetNextBlock(page, decoded.nextBlock);
      return true;
    case 2: hashInitUnusedPage(page); return true;
    case 3:
      if (decoded.previousBucketSameAsWrite) return false;
      hashSetNextBlock(page, decoded.nextBlock);
      return true;
    case 4: hashSetPrevBlock(page, decoded.previousBlock); return true;
    case 5: hashBitmapSetBit(page, blockU32(record, 5), false); return true;
    case 6: hashMetaSet(page, META_FIRSTFREE, blockU32(record, 6)); return true;
    default: throw redoError(record, blockId, 'unexpected block');
  }
}

function vacuumOnePage(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: Of<'vacuumOnePage'>): void {
  if (blockId === 0) {
    multiDelete(page, Uint16Array.from(decoded.offsets));
    hashSetFlag(page, hashGetFlag(page) & ~LH_PAGE_HAS_DEAD_TUPLES);
  } else if (blockId === 1) {
    hashMetaSetNtuples(page, hashMetaGetNtuples(page) - decoded.offsets.length);
  } else {
    throw redoError(record, blockId, 'unexpected block');
  }
}

/**
 * Applies the record to the page of `blockId`; returns false when PostgreSQL leaves that page
 * untouched (a primary bucket page registered only to take its cleanup lock).
 */
function applyHash(page: Uint8Array, record: DecodedRecord, blockId: number, decoded: HashRecord): boolean {
  switch (decoded.type) {
    case 'initMetaPage':
      if (blockId !== 0) throw redoError(record, blockId, 'unexpected block');
      hashInitMetaPage(page, decoded.tupleCount, decoded.procedureOid, decoded.fillFactor);
      return true;
    case 'initBitmapPage': initBitmapPage(page, record, blockId, decoded); return true;
    case 'insert': insert(page, record, blockId, decoded); return true;
    case 'addOverflowPage': addOverflowPage(page, record, blockId, decoded); return true;
    case 'splitAllocatePage': splitAllocatePage(page, record, blockId, decoded); return true;
    case 'splitPage': throw redoError(record, blockId, 'Hash split record did not contain a full-page image');
    case 'splitComplete': splitComplete(page, record, blockId, decoded); return true;
    case 'movePageContents':
      if (blockId === 0) return false;
      if (blockId === 1) addMovedTuples(page, record, 1, decoded.tupleCount);
      else if (blockId === 2) deleteLogged(page, record, 2);
      else throw redoError(record, blockId, 'unexpected block');
      return true;
    case 'squeezePage': return blockId === 0 ? false : squeezePage(page, record, blockId, decoded);
    case 'delete':
      if (blockId === 0) return false;
      if (blockId !== 1) throw redoError(record, blockId, 'unexpected block');
      deleteLogged(page, record, 1);
      if (decoded.clearDeadMarking) hashSetFlag(page, hashGetFlag(page) & ~LH_PAGE_HAS_DEAD_TUPLES);
      return true;
    case 'splitCleanup':
      if (blockId !== 0) throw redoError(record, blockId, 'unexpected block');
      hashSetFlag(page, hashGetFlag(page) & ~LH_BUCKET_NEEDS_SPLIT_CLEANUP);
      return true;
    case 'updateMetaPage':
      if (blockId !== 0) throw redoError(record, blockId, 'unexpected block');
      hashMetaSetNtuples(page, decoded.tupleCount);
      return true;
    case 'vacuumOnePage': vacuumOnePage(page, record, blockId, decoded); return true;
  }
}

function hashBlockRedo(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const decoded = decodeHashRecord(record);
  if (applyHash(page, record, blockId, decoded)) pageSetLsn(page, record.endLsn);
}

/** The split records whose flags PostgreSQL sets again on a restored image (BLK_RESTORED). */
function hashAfterImageRestore(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const decoded = decodeHashRecord(record);
  const applies = (decoded.type === 'splitAllocatePage' && blockId === 0) || (decoded.type === 'splitComplete' && (blockId === 0 || blockId === 1));
  if (!applies) return;
  assert(applyHash(page, record, blockId, decoded), 'split flags always change the page');
  pageSetLsn(page, record.endLsn);
}

export const hashRedo: RmgrRedo = { name: 'Hash', redo: hashBlockRedo, afterImageRestore: hashAfterImageRestore };
