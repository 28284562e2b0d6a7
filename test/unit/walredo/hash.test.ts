/**
 * Hash redo (src/walredo/hash.ts, page-hash.ts) on hand-built pages and records, one test per
 * record type of PostgreSQL 15's hash_xlog.c, with expected values worked out from the C rules
 * (splitpoint arithmetic, bitmap bits, special-space links). The broad WAL of /work/briefs/cwal
 * checks the same code byte for byte.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { hashRedo } from '../../../src/walredo/hash.js';
import {
  hashGetBucket, hashGetFlag, hashGetNextBlock, hashGetPrevBlock, hashInitBitmapPage, hashInitBuffer, hashInitMetaPage, hashMetaGet,
  hashMetaGetMap, hashMetaGetNtuples, hashMetaGetSpare, hashMetaSetNtuples, HASHO_PAGE_ID, LH_BITMAP_PAGE, LH_BUCKET_BEING_POPULATED,
  LH_BUCKET_BEING_SPLIT, LH_BUCKET_NEEDS_SPLIT_CLEANUP, LH_BUCKET_PAGE, LH_META_PAGE, LH_OVERFLOW_PAGE, LH_PAGE_HAS_DEAD_TUPLES,
  LH_UNUSED_PAGE, META_FIRSTFREE, META_HIGHMASK, META_LOWMASK, META_MAXBUCKET, META_NMAPS, META_OVFLPOINT,
} from '../../../src/walredo/page-hash.js';
import {
  BLCKSZ, pageAddItem, pageGetItem, pageGetLower, pageGetLsn, pageGetMaxOffsetNumber, pageGetUpper, pageSetLsn, readU16, readU32,
} from '../../../src/walredo/page.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { concat, testBlock, testRecord } from './redo-fixtures.js';

const HASH = 12;
const END_LSN = 0x1e14_23c0 + 4726;
const INVALID = 0xffffffff;

function block(blockId: number, blockNumber: number, data: Uint8Array = new Uint8Array(0), willInit = false): DecodedBlock {
  return testBlock({ blockId, blockNumber, relNode: 16414, data, willInit });
}

function record(info: number, main: Uint8Array, blocks: DecodedBlock[]): DecodedRecord {
  return testRecord({ rmgrId: HASH, info, mainData: main, blocks, endLsn: END_LSN });
}

type Field = [number, 1 | 2 | 4 | 8];

/** Little-endian bytes of (value, width) fields; width 8 is a double. */
function fields(...parts: Field[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, [, width]) => sum + width, 0));
  const view = new DataView(out.buffer);
  let position = 0;
  for (const [value, width] of parts) {
    if (width === 1) view.setUint8(position, value);
    else if (width === 2) view.setUint16(position, value, true);
    else if (width === 4) view.setUint32(position, value, true);
    else view.setFloat64(position, value, true);
    position += width;
  }
  return out;
}

/** A hash index tuple: t_tid, t_info = 16 (its size), the hash key = `key`, padded to 16 bytes. */
function tuple(key: number): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setUint16(6, 12, true);
  view.setUint32(8, key, true);
  return bytes;
}

function keyAt(page: Uint8Array, offsetNumber: number): number {
  return readU32(page, pageGetItem(page, offsetNumber).offset + 8);
}

function bucketPage(flag: number, keys: number[]): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  hashInitBuffer(page, 1, 0, flag);
  keys.forEach((key, index) => assert.is(pageAddItem(page, tuple(key), 0, 0), index + 1));
  pageSetLsn(page, 0x100);
  return page;
}

function metaPage(tupleCount = 450, fillFactor = 307): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  hashInitMetaPage(page, tupleCount, 450, fillFactor);
  pageSetLsn(page, 0x100);
  return page;
}

function bitmapBit(page: Uint8Array, bit: number): boolean {
  return (page[24 + (bit >> 3)]! & (1 << (bit & 7))) !== 0;
}

test('INIT_META_PAGE: 450 tuples at fill factor 307 give 2 buckets, masks 3/1, splitpoint 1', () => {
  const page = new Uint8Array(BLCKSZ);
  hashRedo.redo(page, record(0x00, fields([450, 8], [450, 4], [307, 2]), [block(0, 0, undefined, true)]), 0);
  assert.equal([readU32(page, 24), readU32(page, 28)], [0x6440640, 4]);
  assert.equal([readU16(page, 40), readU16(page, 42), readU16(page, 44), readU16(page, 46)], [307, 8152, 4096, 15]);
  assert.equal([hashMetaGet(page, META_MAXBUCKET), hashMetaGet(page, META_HIGHMASK), hashMetaGet(page, META_LOWMASK)], [1, 3, 1]);
  assert.equal([hashMetaGet(page, META_OVFLPOINT), hashMetaGetSpare(page, 1), hashMetaGet(page, META_NMAPS)], [1, 1, 0]);
  assert.is(hashGetFlag(page), LH_META_PAGE);
  assert.is(readU16(page, BLCKSZ - 2), HASHO_PAGE_ID);
  assert.is(pageGetLower(page), 24 + 4544);
  assert.is(pageGetLsn(page), END_LSN);
});

test('INIT_META_PAGE: 10000 tuples at fill factor 10 round up to 1024 buckets in splitpoint phase 13', () => {
  const page = new Uint8Array(BLCKSZ);
  hashRedo.redo(page, record(0x00, fields([10000, 8], [450, 4], [10, 2]), [block(0, 0, undefined, true)]), 0);
  assert.equal([hashMetaGet(page, META_MAXBUCKET), hashMetaGet(page, META_HIGHMASK), hashMetaGet(page, META_LOWMASK)], [1023, 2047, 1023]);
  assert.equal([hashMetaGet(page, META_OVFLPOINT), hashMetaGetSpare(page, 13)], [13, 1]);
});

test('INIT_BITMAP_PAGE sets every bit of the new bitmap page and registers it in the meta page', () => {
  const bitmap = new Uint8Array(BLCKSZ);
  const meta = metaPage();
  const init = record(0x10, fields([4096, 2]), [block(0, 3, undefined, true), block(1, 0)]);
  hashRedo.redo(bitmap, init, 0);
  hashRedo.redo(meta, init, 1);
  assert.is(hashGetFlag(bitmap), LH_BITMAP_PAGE);
  assert.is(bitmap.subarray(24, 24 + 4096).every((byte) => byte === 0xff), true);
  assert.is(bitmap[24 + 4096], 0);
  assert.is(pageGetLower(bitmap), 24 + 4096);
  assert.equal([hashMetaGetMap(meta, 0), hashMetaGet(meta, META_NMAPS)], [3, 1], 'maxbucket 1 + 2');
});

test('INSERT adds the tuple at its offset (shifting later ones) and counts it in the meta page', () => {
  const bucket = bucketPage(LH_BUCKET_PAGE, [10, 30]);
  const meta = metaPage();
  hashMetaSetNtuples(meta, 41);
  const insert = record(0x20, fields([2, 2]), [block(0, 1, tuple(20)), block(1, 0)]);
  hashRedo.redo(bucket, insert, 0);
  hashRedo.redo(meta, insert, 1);
  assert.equal([keyAt(bucket, 1), keyAt(bucket, 2), keyAt(bucket, 3)], [10, 20, 30]);
  assert.is(hashMetaGetNtuples(meta), 42);
  assert.is(pageGetLsn(bucket), END_LSN);
  assert.is(pageGetLsn(meta), END_LSN);
});

test('ADD_OVFL_PAGE links the new overflow page, sets its bitmap bit, adds a bitmap page to the meta page', () => {
  const overflow = new Uint8Array(BLCKSZ);
  const left = bucketPage(LH_BUCKET_PAGE, [1]);
  const bitmap = new Uint8Array(BLCKSZ);
  hashInitBitmapPage(bitmap, 4096);
  bitmap.fill(0, 24, 24 + 4096);
  const newBitmap = new Uint8Array(BLCKSZ);
  const meta = metaPage();
  const add = record(0x30, fields([4096, 2], [0, 1]), [
    block(0, 9, fields([5, 4]), true), block(1, 6), block(2, 3, fields([37, 4])), block(3, 10, undefined, true), block(4, 0, fields([7, 4])),
  ]);
  hashRedo.redo(overflow, add, 0);
  hashRedo.redo(left, add, 1);
  hashRedo.redo(bitmap, add, 2);
  hashRedo.redo(newBitmap, add, 3);
  hashRedo.redo(meta, add, 4);
  assert.equal([hashGetFlag(overflow), hashGetBucket(overflow), hashGetPrevBlock(overflow), hashGetNextBlock(overflow)], [LH_OVERFLOW_PAGE, 5, 6, INVALID]);
  assert.is(hashGetNextBlock(left), 9);
  assert.equal([bitmapBit(bitmap, 37), bitmapBit(bitmap, 36), bitmapBit(bitmap, 38)], [true, false, false]);
  assert.is(hashGetFlag(newBitmap), LH_BITMAP_PAGE);
  assert.is(hashMetaGet(meta, META_FIRSTFREE), 7);
  assert.is(hashMetaGetSpare(meta, 1), 3, 'one for the overflow page, one for the new bitmap page');
  assert.equal([hashMetaGetMap(meta, 0), hashMetaGet(meta, META_NMAPS)], [10, 1]);
});

test('SPLIT_ALLOCATE_PAGE flags the old bucket, initializes the new one, updates masks and splitpoint', () => {
  const old = bucketPage(LH_BUCKET_PAGE, [1, 2]);
  const fresh = new Uint8Array(BLCKSZ);
  const meta = metaPage();
  const oldFlag = LH_BUCKET_PAGE | LH_BUCKET_BEING_SPLIT;
  const newFlag = LH_BUCKET_PAGE | LH_BUCKET_BEING_POPULATED;
  const allocate = record(0x40, fields([2, 4], [oldFlag, 2], [newFlag, 2], [3, 1]), [
    block(0, 1), block(1, 3, undefined, true), block(2, 0, fields([3, 4], [7, 4], [2, 4], [1, 4])),
  ]);
  hashRedo.redo(old, allocate, 0);
  hashRedo.redo(fresh, allocate, 1);
  hashRedo.redo(meta, allocate, 2);
  assert.equal([hashGetFlag(old), hashGetPrevBlock(old), pageGetMaxOffsetNumber(old)], [oldFlag, 2, 2]);
  assert.equal([hashGetFlag(fresh), hashGetBucket(fresh), hashGetPrevBlock(fresh), pageGetMaxOffsetNumber(fresh)], [newFlag, 2, 2, 0]);
  assert.equal([hashMetaGet(meta, META_MAXBUCKET), hashMetaGet(meta, META_LOWMASK), hashMetaGet(meta, META_HIGHMASK)], [2, 3, 7]);
  assert.equal([hashMetaGet(meta, META_OVFLPOINT), hashMetaGetSpare(meta, 2)], [2, 1]);
});

test('SPLIT_PAGE without a full-page image is refused', () => {
  try {
    hashRedo.redo(bucketPage(LH_BUCKET_PAGE, []), record(0x50, new Uint8Array(0), [block(0, 3)]), 0);
    assert.unreachable('must throw');
  } catch (error) {
    assert.ok(isStrataError(error), String(error));
  }
});

test('SPLIT_COMPLETE sets both buckets\' flags, also after a restored image', () => {
  const old = bucketPage(LH_BUCKET_PAGE | LH_BUCKET_BEING_SPLIT, [1]);
  const fresh = bucketPage(LH_BUCKET_PAGE | LH_BUCKET_BEING_POPULATED, [2]);
  const complete = record(0x60, fields([LH_BUCKET_PAGE | LH_BUCKET_NEEDS_SPLIT_CLEANUP, 2], [LH_BUCKET_PAGE, 2]), [block(0, 1), block(1, 3)]);
  hashRedo.redo(old, complete, 0);
  hashRedo.afterImageRestore?.(fresh, complete, 1);
  assert.is(hashGetFlag(old), LH_BUCKET_PAGE | LH_BUCKET_NEEDS_SPLIT_CLEANUP);
  assert.is(hashGetFlag(fresh), LH_BUCKET_PAGE);
  assert.is(pageGetLsn(fresh), END_LSN);
});

test('MOVE_PAGE_CONTENTS adds the moved tuples at their offsets and deletes them from the source', () => {
  const primary = bucketPage(LH_BUCKET_PAGE, [1]);
  const write = bucketPage(LH_OVERFLOW_PAGE, [10, 40]);
  const source = bucketPage(LH_OVERFLOW_PAGE, [20, 30, 50]);
  const primaryBefore = Uint8Array.from(primary);
  const move = record(0x70, fields([2, 2], [0, 1]), [
    block(0, 1), block(1, 5, concat(fields([2, 2], [3, 2]), tuple(20), tuple(30))), block(2, 6, fields([1, 2], [2, 2])),
  ]);
  hashRedo.redo(primary, move, 0);
  hashRedo.redo(write, move, 1);
  hashRedo.redo(source, move, 2);
  assert.equal(primary, primaryBefore, 'the primary bucket page is only locked');
  assert.equal([1, 2, 3, 4].map((offset) => keyAt(write, offset)), [10, 20, 30, 40]);
  assert.equal([pageGetMaxOffsetNumber(source), keyAt(source, 1)], [1, 50]);
  assert.is(pageGetItem(source, 1).offset, BLCKSZ - 16 - 16, 'the survivor is compacted against the special space');
});

test('SQUEEZE_PAGE moves tuples, frees the overflow page, relinks its neighbours, clears its bitmap bit', () => {
  const write = bucketPage(LH_BUCKET_PAGE, [10]);
  const freed = bucketPage(LH_OVERFLOW_PAGE, [20]);
  const previous = bucketPage(LH_OVERFLOW_PAGE, []);
  const next = bucketPage(LH_OVERFLOW_PAGE, []);
  const bitmap = new Uint8Array(BLCKSZ);
  hashInitBitmapPage(bitmap, 4096);
  const meta = metaPage();
  const squeeze = record(0x80, fields([4, 4], [8, 4], [1, 2], [1, 1], [0, 1]), [
    block(1, 1, concat(fields([2, 2]), tuple(20))), block(2, 6), block(3, 4), block(4, 8), block(5, 3, fields([3, 4])), block(6, 0, fields([3, 4])),
  ]);
  for (const [page, blockId] of [[write, 1], [freed, 2], [previous, 3], [next, 4], [bitmap, 5], [meta, 6]] as const) hashRedo.redo(page, squeeze, blockId);
  assert.equal([keyAt(write, 1), keyAt(write, 2)], [10, 20]);
  assert.equal([hashGetFlag(freed), hashGetBucket(freed), hashGetPrevBlock(freed), pageGetMaxOffsetNumber(freed)], [LH_UNUSED_PAGE, INVALID, INVALID, 0]);
  assert.is(pageGetUpper(freed), BLCKSZ - 16);
  assert.is(hashGetNextBlock(previous), 8);
  assert.is(hashGetPrevBlock(next), 4);
  assert.equal([bitmapBit(bitmap, 3), bitmapBit(bitmap, 2)], [false, true]);
  assert.is(hashMetaGet(meta, META_FIRSTFREE), 3);
});

test('DELETE removes the logged offsets and clears the dead-tuples hint', () => {
  const page = bucketPage(LH_BUCKET_PAGE | LH_PAGE_HAS_DEAD_TUPLES, [1, 2, 3, 4]);
  hashRedo.redo(page, record(0x90, fields([1, 1], [1, 1]), [block(1, 1, fields([1, 2], [3, 2], [4, 2]))]), 1);
  assert.equal([pageGetMaxOffsetNumber(page), keyAt(page, 1)], [1, 2]);
  assert.is(hashGetFlag(page), LH_BUCKET_PAGE);
  assert.is(pageGetLsn(page), END_LSN);
});

test('SPLIT_CLEANUP clears the needs-split-cleanup flag only', () => {
  const page = bucketPage(LH_BUCKET_PAGE | LH_BUCKET_NEEDS_SPLIT_CLEANUP | LH_PAGE_HAS_DEAD_TUPLES, [1]);
  hashRedo.redo(page, record(0xa0, new Uint8Array(0), [block(0, 1)]), 0);
  assert.is(hashGetFlag(page), LH_BUCKET_PAGE | LH_PAGE_HAS_DEAD_TUPLES);
});

test('UPDATE_META_PAGE stores the logged tuple count', () => {
  const meta = metaPage();
  hashRedo.redo(meta, record(0xb0, fields([12345.5, 8]), [block(0, 0)]), 0);
  assert.is(hashMetaGetNtuples(meta), 12345.5);
  assert.is(pageGetLsn(meta), END_LSN);
});

test('VACUUM_ONE_PAGE deletes the dead tuples, clears the hint and lowers the meta tuple count', () => {
  const page = bucketPage(LH_BUCKET_PAGE | LH_PAGE_HAS_DEAD_TUPLES, [1, 2, 3]);
  const meta = metaPage();
  hashMetaSetNtuples(meta, 100);
  const vacuum = record(0xc0, concat(fields([777, 4], [2, 4]), fields([1, 2], [3, 2])), [block(0, 1), block(1, 0)]);
  hashRedo.redo(page, vacuum, 0);
  hashRedo.redo(meta, vacuum, 1);
  assert.equal([pageGetMaxOffsetNumber(page), keyAt(page, 1)], [1, 2]);
  assert.is(hashGetFlag(page), LH_BUCKET_PAGE);
  assert.is(hashMetaGetNtuples(meta), 98);
});

test.run();
