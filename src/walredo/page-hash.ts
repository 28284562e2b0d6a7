/**
 * Hash index page layout of PostgreSQL 15 (access/hash.h, hashpage.c, hashovfl.c, hashutil.c) as
 * hash redo needs it: the special space, the meta page, bitmap pages, and the page initializers
 * _hash_pageinit, _hash_initbuf, _hash_init_metabuffer and _hash_initbitmapbuffer.
 *
 * WHY its own file: hash.ts holds the per-record redo; the byte layout and the arithmetic of
 * splitpoints (which decides the meta page's masks and spares on CREATE INDEX) are separate
 * concerns and are unit-tested on their own.
 *
 *   special space (HashPageOpaqueData, the last 16 bytes):
 *     0 hasho_prevblkno u32 | 4 hasho_nextblkno u32 | 8 hasho_bucket u32 | 12 hasho_flag u16 |
 *     14 hasho_page_id u16 (0xFF80)
 *   meta page (HashMetaPageData at 24, sizeof 4544 with the trailing double alignment):
 *     0 magic | 4 version | 8 ntuples f64 | 16 ffactor u16 | 18 bsize u16 | 20 bmsize u16 |
 *     22 bmshift u16 | 24 maxbucket | 28 highmask | 32 lowmask | 36 ovflpoint | 40 firstfree |
 *     44 nmaps | 48 procid | 52 spares[98] u32 | 444 mapp[1024] u32
 *   bitmap page: bmsize bytes of free-page bits (u32 words) at 24.
 */
import { assert } from '../assert.js';
import { BLCKSZ, pageInit, pageSetLower, readU16, readU32, writeU16, writeU32 } from './page.js';

export const HASH_SPECIAL_SIZE = 16;
export const HASHO_PAGE_ID = 0xff80;
export const HASH_MAGIC = 0x6440640;
export const HASH_VERSION = 4;
export const INVALID_BLOCK_NUMBER = 0xffffffff;
export const INVALID_BUCKET = 0xffffffff;

export const LH_UNUSED_PAGE = 0;
export const LH_OVERFLOW_PAGE = 1 << 0;
export const LH_BUCKET_PAGE = 1 << 1;
export const LH_BITMAP_PAGE = 1 << 2;
export const LH_META_PAGE = 1 << 3;
export const LH_BUCKET_BEING_POPULATED = 1 << 4;
export const LH_BUCKET_BEING_SPLIT = 1 << 5;
export const LH_BUCKET_NEEDS_SPLIT_CLEANUP = 1 << 6;
export const LH_PAGE_HAS_DEAD_TUPLES = 1 << 7;

const SPECIAL = BLCKSZ - HASH_SPECIAL_SIZE;
/** PageGetContents: MAXALIGN(SizeOfPageHeaderData). */
export const HASH_CONTENTS_OFFSET = 24;
const META = HASH_CONTENTS_OFFSET;
export const HASH_MAX_SPLITPOINTS = 98;
export const HASH_MAX_BITMAPS = Math.min(BLCKSZ / 8, 1024);
/** sizeof(HashMetaPageData): 52 + 98*4 + 1024*4 = 4540, rounded up to the double's alignment. */
export const HASH_META_PAGE_DATA_SIZE = 4544;
const HASH_SPLITPOINT_PHASE_BITS = 2;
const HASH_SPLITPOINT_PHASE_MASK = (1 << HASH_SPLITPOINT_PHASE_BITS) - 1;
const HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE = 10;
const BYTE_TO_BIT = 3;

/** Meta page field offsets (within the page). */
export const META_NTUPLES = META + 8;
export const META_MAXBUCKET = META + 24;
export const META_HIGHMASK = META + 28;
export const META_LOWMASK = META + 32;
export const META_OVFLPOINT = META + 36;
export const META_FIRSTFREE = META + 40;
export const META_NMAPS = META + 44;
const META_SPARES = META + 52;
const META_MAPP = META + 52 + HASH_MAX_SPLITPOINTS * 4;

// ---- special space -----------------------------------------------------------------------------

export function hashGetPrevBlock(page: Uint8Array): number { return readU32(page, SPECIAL); }
export function hashSetPrevBlock(page: Uint8Array, block: number): void { writeU32(page, SPECIAL, block); }
export function hashGetNextBlock(page: Uint8Array): number { return readU32(page, SPECIAL + 4); }
export function hashSetNextBlock(page: Uint8Array, block: number): void { writeU32(page, SPECIAL + 4, block); }
export function hashGetBucket(page: Uint8Array): number { return readU32(page, SPECIAL + 8); }
export function hashGetFlag(page: Uint8Array): number { return readU16(page, SPECIAL + 12); }
export function hashSetFlag(page: Uint8Array, flag: number): void { writeU16(page, SPECIAL + 12, flag); }

function setOpaque(page: Uint8Array, previous: number, next: number, bucket: number, flag: number): void {
  writeU32(page, SPECIAL, previous);
  writeU32(page, SPECIAL + 4, next);
  writeU32(page, SPECIAL + 8, bucket);
  writeU16(page, SPECIAL + 12, flag);
  writeU16(page, SPECIAL + 14, HASHO_PAGE_ID);
}

/** _hash_pageinit: an empty page with the hash special space (PageInit zeroes it first). */
export function hashPageInit(page: Uint8Array): void {
  pageInit(page, HASH_SPECIAL_SIZE);
}

/** _hash_initbuf with initpage: a bucket or overflow page; prevblkno holds `maxBucket`. */
export function hashInitBuffer(page: Uint8Array, maxBucket: number, bucket: number, flag: number): void {
  hashPageInit(page);
  setOpaque(page, maxBucket, INVALID_BLOCK_NUMBER, bucket, flag);
}

/** The squeeze's freed overflow page: initialized, LH_UNUSED_PAGE, no links, bucket -1. */
export function hashInitUnusedPage(page: Uint8Array): void {
  hashPageInit(page);
  setOpaque(page, INVALID_BLOCK_NUMBER, INVALID_BLOCK_NUMBER, INVALID_BUCKET, LH_UNUSED_PAGE);
}

/** _hash_initbitmapbuffer with initpage: all `bitmapSize` bytes of bits set (every page free). */
export function hashInitBitmapPage(page: Uint8Array, bitmapSize: number): void {
  assert(bitmapSize > 0 && HASH_CONTENTS_OFFSET + bitmapSize <= SPECIAL, 'the bitmap fits the page');
  hashPageInit(page);
  setOpaque(page, INVALID_BLOCK_NUMBER, INVALID_BLOCK_NUMBER, INVALID_BUCKET, LH_BITMAP_PAGE);
  page.fill(0xff, HASH_CONTENTS_OFFSET, HASH_CONTENTS_OFFSET + bitmapSize);
  pageSetLower(page, HASH_CONTENTS_OFFSET + bitmapSize);
}

/** SETBIT / CLRBIT on a bitmap page's u32 words (little-endian: bit n is byte n/8, bit n%8). */
export function hashBitmapSetBit(page: Uint8Array, bit: number, value: boolean): void {
  const position = HASH_CONTENTS_OFFSET + (bit >>> 3);
  assert(position < SPECIAL, 'the bit lies in the bitmap');
  if (value) page[position] = page[position]! | (1 << (bit & 7));
  else page[position] = page[position]! & ~(1 << (bit & 7));
}

// ---- meta page ---------------------------------------------------------------------------------

function view(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

export function hashMetaGetNtuples(page: Uint8Array): number { return view(page).getFloat64(META_NTUPLES, true); }
export function hashMetaSetNtuples(page: Uint8Array, value: number): void { view(page).setFloat64(META_NTUPLES, value, true); }
export function hashMetaGet(page: Uint8Array, field: number): number { return readU32(page, field); }
export function hashMetaSet(page: Uint8Array, field: number, value: number): void { writeU32(page, field, value >>> 0); }
export function hashMetaGetSpare(page: Uint8Array, index: number): number { return readU32(page, META_SPARES + checkSpare(index) * 4); }
export function hashMetaSetSpare(page: Uint8Array, index: number, value: number): void { writeU32(page, META_SPARES + checkSpare(index) * 4, value >>> 0); }
export function hashMetaGetMap(page: Uint8Array, index: number): number { return readU32(page, META_MAPP + checkMap(index) * 4); }
export function hashMetaSetMap(page: Uint8Array, index: number, block: number): void { writeU32(page, META_MAPP + checkMap(index) * 4, block); }

function checkSpare(index: number): number {
  assert(Number.isInteger(index) && index >= 0 && index < HASH_MAX_SPLITPOINTS, 'a splitpoint index is within hashm_spares');
  return index;
}

function checkMap(index: number): number {
  assert(Number.isInteger(index) && index >= 0 && index < HASH_MAX_BITMAPS, 'a bitmap index is within hashm_mapp');
  return index;
}

/** pg_ceil_log2_32: the smallest i with 2^i >= value (0 for 0 and 1). */
function ceilLog2(value: number): number {
  let result = 0;
  while (result < 32 && 2 ** result < value) result++;
  return result;
}

/** _hash_spareindex: the splitpoint phase holding bucket count `bucketCount`. */
export function hashSpareIndex(bucketCount: number): number {
  const group = ceilLog2(bucketCount);
  if (group < HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) return group;
  let phases = HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE + ((group - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) << HASH_SPLITPOINT_PHASE_BITS);
  phases += ((bucketCount - 1) >>> (group - (HASH_SPLITPOINT_PHASE_BITS + 1))) & HASH_SPLITPOINT_PHASE_MASK;
  return phases;
}

/** _hash_get_totalbuckets: buckets allocated once splitpoint phase `phase` is complete. */
export function hashTotalBuckets(phase: number): number {
  if (phase < HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) return 2 ** phase;
  const group = HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE + ((phase - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) >>> HASH_SPLITPOINT_PHASE_BITS);
  const before = 2 ** (group - 1);
  const phasesWithin = ((phase - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) & HASH_SPLITPOINT_PHASE_MASK) + 1;
  return before + Math.floor(before / 2 ** HASH_SPLITPOINT_PHASE_BITS) * phasesWithin;
}

/** The initial bucket count of _hash_init_metabuffer: enough for the estimate, at least 2. */
export function hashInitialBucketCount(tupleCount: number, fillFactor: number): number {
  assert(fillFactor > 0, 'the fill factor is positive');
  const estimate = tupleCount / fillFactor;
  if (estimate <= 2) return 2;
  if (estimate >= 0x40000000) return 0x40000000;
  return hashTotalBuckets(hashSpareIndex(Math.trunc(estimate) >>> 0));
}

/** _hash_init_metabuffer with initpage: the meta page of a new index. */
export function hashInitMetaPage(page: Uint8Array, tupleCount: number, procedureOid: number, fillFactor: number): void {
  const buckets = hashInitialBucketCount(tupleCount, fillFactor);
  const spareIndex = hashSpareIndex(buckets);
  hashPageInit(page);
  setOpaque(page, INVALID_BLOCK_NUMBER, INVALID_BLOCK_NUMBER, INVALID_BUCKET, LH_META_PAGE);
  const bitmapBytesMax = BLCKSZ - HASH_CONTENTS_OFFSET - HASH_SPECIAL_SIZE;
  const shift = Math.floor(Math.log2(bitmapBytesMax));
  writeU32(page, META, HASH_MAGIC);
  writeU32(page, META + 4, HASH_VERSION);
  hashMetaSetNtuples(page, 0);
  writeU16(page, META + 16, fillFactor);
  writeU16(page, META + 18, bitmapBytesMax);
  writeU16(page, META + 20, 1 << shift);
  writeU16(page, META + 22, shift + BYTE_TO_BIT);
  writeU32(page, META + 48, procedureOid);
  hashMetaSet(page, META_MAXBUCKET, buckets - 1);
  const highmask = 2 ** ceilLog2(buckets + 1) - 1;
  hashMetaSet(page, META_HIGHMASK, highmask);
  hashMetaSet(page, META_LOWMASK, highmask >>> 1);
  hashMetaSetSpare(page, spareIndex, 1);
  hashMetaSet(page, META_OVFLPOINT, spareIndex);
  hashMetaSet(page, META_FIRSTFREE, 0);
  hashMetaSet(page, META_NMAPS, 0);
  pageSetLower(page, META + HASH_META_PAGE_DATA_SIZE);
}
