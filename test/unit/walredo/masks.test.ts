/**
 * Page masking (src/walredo/bufmask.ts, masks.ts) on hand-built pages: one test per rule of
 * PostgreSQL 15's bufmask.c and each rm_mask. Expected bytes and offsets are worked out from the
 * C structs (PageHeaderData, HeapTupleHeaderData, each AM's special space), not from the code under
 * test; "masks equal" / "still differ" tests build two pages that differ in exactly one place.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  maskLpFlags, maskPageContent, maskPageHintBits, maskPageLsnAndChecksum, maskUnusedSpace,
} from '../../../src/walredo/bufmask.js';
import {
  brinMask, btreeMask, genericMask, ginMask, gistMask, hashMask, heapMask, maskPage, sequenceMask, spgMask,
} from '../../../src/walredo/masks.js';
import { BLCKSZ, itemIdSet, pageAddItem, pageInit, readU16, readU32, writeU16, writeU32 } from '../../../src/walredo/page.js';
import type { PageMask } from '../../../src/walredo/types.js';

const RM_XLOG = 0;
const RM_HEAP2 = 9;
const RM_HEAP = 10;

// ---- helpers -----------------------------------------------------------------------------------

function newPage(specialSize: number): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  pageInit(page, specialSize);
  return page;
}

/** Fills the standard header's LSN, checksum and prune xid with non-zero values. */
function dirtyHeader(page: Uint8Array): void {
  writeU32(page, 0, 0x1);
  writeU32(page, 4, 0x2345678);
  writeU16(page, 8, 0xbeef);
  writeU32(page, 20, 777);
}

/** A heap tuple: 24-byte header (t_hoff 24) followed by `dataLength` bytes of 0xAB. */
function heapTuple(dataLength: number, infomask = 0): Uint8Array {
  const tuple = new Uint8Array(24 + dataLength);
  writeU32(tuple, 0, 1000); // t_xmin
  writeU32(tuple, 8, 3); // t_cid
  writeU16(tuple, 16, 1); // t_ctid.ip_posid
  writeU16(tuple, 18, 2); // t_infomask2: two attributes
  writeU16(tuple, 20, infomask);
  tuple[22] = 24; // t_hoff
  tuple.fill(0xab, 24);
  return tuple;
}

function heapPage(tuples: Uint8Array[]): Uint8Array {
  const page = newPage(0);
  for (const tuple of tuples) assert.ok(pageAddItem(page, tuple, 0, 0) > 0, 'tuple fits');
  return page;
}

function equalAfter(mask: PageMask, left: Uint8Array, right: Uint8Array, blockNumber = 0): boolean {
  const a = left.slice();
  const b = right.slice();
  mask(a, blockNumber);
  mask(b, blockNumber);
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Byte offset of line pointer `offsetNumber`'s tuple, read from the line pointer itself. */
function itemOffset(page: Uint8Array, offsetNumber: number): number {
  return readU32(page, 24 + (offsetNumber - 1) * 4) & 0x7fff;
}

/** An index page with special space of `specialSize` bytes, two 16-byte items and `flags` at `flagsAt`. */
function indexPage(specialSize: number, flagsAt: number, flags: number): Uint8Array {
  const page = newPage(specialSize);
  pageAddItem(page, new Uint8Array(16).fill(0x11), 0, 0);
  pageAddItem(page, new Uint8Array(16).fill(0x22), 0, 0);
  writeU16(page, BLCKSZ - specialSize + flagsAt, flags);
  return page;
}

function setLpFlags(page: Uint8Array, offsetNumber: number, flags: number): void {
  const word = readU32(page, 24 + (offsetNumber - 1) * 4);
  itemIdSet(page, offsetNumber, word & 0x7fff, flags, word >>> 17);
}

// ---- bufmask.c ---------------------------------------------------------------------------------

test('maskPageLsnAndChecksum zeroes pd_lsn and pd_checksum and nothing else', () => {
  const page = newPage(0);
  dirtyHeader(page);
  writeU16(page, 10, 0x0004);
  maskPageLsnAndChecksum(page);
  assert.equal(Array.from(page.subarray(0, 10)), new Array(10).fill(0));
  assert.is(readU16(page, 10), 0x0004);
  assert.is(readU32(page, 20), 777);
});

test('maskPageHintBits clears pd_prune_xid and PD_HAS_FREE_LINES, PD_PAGE_FULL, PD_ALL_VISIBLE', () => {
  const page = newPage(0);
  dirtyHeader(page);
  writeU16(page, 10, 0x0007);
  maskPageHintBits(page);
  assert.is(readU16(page, 10), 0);
  assert.is(readU32(page, 20), 0);
  assert.is(readU16(page, 8), 0xbeef, 'the checksum is not a hint bit');
});

test('maskUnusedSpace zeroes exactly pd_lower..pd_upper', () => {
  const page = heapPage([heapTuple(16)]);
  page.fill(0xee, 28, BLCKSZ - 40); // garbage in the hole (pd_lower 28, pd_upper 8152)
  assert.ok(maskUnusedSpace(page));
  assert.ok(page.subarray(28, 8152).every((byte) => byte === 0));
  assert.is(page[8152], 1000 & 0xff, 'the tuple (t_xmin) is kept');
  assert.is(readU32(page, 24) & 0x7fff, 8152, 'the line pointer is kept');
});

test('maskUnusedSpace leaves a page with corrupt pointers alone and says so', () => {
  const page = newPage(0);
  writeU16(page, 12, 9000); // pd_lower past pd_upper: bufmask.c raises an error here
  page.fill(0xee, 100, 200);
  const before = page.slice();
  assert.is(maskUnusedSpace(page), false);
  assert.equal(page, before);
  const zeroed = new Uint8Array(BLCKSZ); // an all-zero (new) page has pd_lower 0 < header size
  assert.is(maskUnusedSpace(zeroed), false);
});

test('maskLpFlags turns used line pointers LP_UNUSED, keeping offset and length', () => {
  const page = indexPage(16, 12, 0);
  setLpFlags(page, 2, 3); // LP_DEAD
  const third = 24 + 2 * 4;
  writeU16(page, 12, readU16(page, 12) + 4); // a third, unused pointer with storage bits
  writeU32(page, third, (100 | (0 << 15) | (8 << 17)) >>> 0);
  maskLpFlags(page);
  assert.is(readU32(page, 24), ((BLCKSZ - 16 - 16) | (16 << 17)) >>> 0, 'LP_NORMAL -> flags 0');
  assert.is(readU32(page, 28), ((BLCKSZ - 16 - 32) | (16 << 17)) >>> 0, 'LP_DEAD -> flags 0');
  assert.is(readU32(page, third), (100 | (8 << 17)) >>> 0, 'an unused pointer is untouched');
});

test('maskPageContent zeroes all after the header and pd_lower/pd_upper, keeping pd_special', () => {
  const page = indexPage(16, 12, 0x4);
  dirtyHeader(page);
  maskPageContent(page);
  assert.ok(page.subarray(24).every((byte) => byte === 0));
  assert.is(readU16(page, 12), 0);
  assert.is(readU16(page, 14), 0);
  assert.is(readU16(page, 16), BLCKSZ - 16);
  assert.is(readU16(page, 18), BLCKSZ | 4);
  assert.is(readU16(page, 8), 0xbeef, 'only the content, not the rest of the header');
});

// ---- heap_mask ---------------------------------------------------------------------------------

test('heap: pages differing only in tuple hint bits mask equal', () => {
  const left = heapPage([heapTuple(16, 0x0002), heapTuple(16)]);
  const right = heapPage([heapTuple(16, 0x0002 | 0x0100 | 0x0800), heapTuple(16, 0x0200 | 0x0400)]);
  assert.ok(equalAfter(heapMask, left, right));
});

test('heap: pages differing in a tuple data byte still differ', () => {
  const left = heapPage([heapTuple(16)]);
  const right = heapPage([heapTuple(16)]);
  right[itemOffset(right, 1) + 30] = 0x01;
  assert.not.ok(equalAfter(heapMask, left, right));
});

test('heap: infomask2 and non-visibility infomask bits are compared', () => {
  const hasNull = heapPage([heapTuple(16, 0x0001)]);
  const noNull = heapPage([heapTuple(16, 0x0000)]);
  assert.not.ok(equalAfter(heapMask, hasNull, noNull), 'HEAP_HASNULL (0x0001) is below HEAP_XACT_MASK');
  const other = heapPage([heapTuple(16)]);
  writeU16(other, itemOffset(other, 1) + 18, 3);
  assert.not.ok(equalAfter(heapMask, heapPage([heapTuple(16)]), other));
});

test('heap: with xmin frozen only the xmax hint bits are masked', () => {
  const frozen = 0x0300;
  assert.ok(equalAfter(heapMask, heapPage([heapTuple(8, frozen)]), heapPage([heapTuple(8, frozen | 0x0800 | 0x0400)])));
  // HEAP_XMAX_LOCK_ONLY (0x0080) is in HEAP_XACT_MASK but is not masked once xmin is frozen.
  assert.not.ok(equalAfter(heapMask, heapPage([heapTuple(8, frozen)]), heapPage([heapTuple(8, frozen | 0x0080)])));
  // Without a frozen xmin the same bit is masked.
  assert.ok(equalAfter(heapMask, heapPage([heapTuple(8, 0x0100)]), heapPage([heapTuple(8, 0x0100 | 0x0080)])));
});

test('heap: the command id is masked but xmin and xmax are not', () => {
  const left = heapPage([heapTuple(8)]);
  const right = heapPage([heapTuple(8)]);
  writeU32(right, itemOffset(right, 1) + 8, 0);
  assert.ok(equalAfter(heapMask, left, right));
  writeU32(right, itemOffset(right, 1) + 4, 1234); // t_xmax
  assert.not.ok(equalAfter(heapMask, left, right));
});

test('heap: a speculative token in t_ctid becomes the tuple own TID', () => {
  const page = heapPage([heapTuple(8), heapTuple(8)]);
  const tuple = itemOffset(page, 2);
  writeU16(page, tuple + 12, 0x00ab); // token high half (bi_hi)
  writeU16(page, tuple + 14, 0xcdef); // token low half (bi_lo)
  writeU16(page, tuple + 16, 0xfffe); // SpecTokenOffsetNumber
  heapMask(page, 0x12345);
  assert.equal([readU16(page, tuple + 12), readU16(page, tuple + 14), readU16(page, tuple + 16)], [0x0001, 0x2345, 2]);
  const plain = itemOffset(page, 1);
  assert.equal([readU16(page, plain + 12), readU16(page, plain + 14), readU16(page, plain + 16)], [0, 0, 1], 'a normal t_ctid is kept');
});

test('heap: padding after a non-MAXALIGNed tuple is masked, for dead items with storage too', () => {
  const page = heapPage([heapTuple(5), heapTuple(5)]); // length 29, MAXALIGN 32
  const first = itemOffset(page, 1);
  const second = itemOffset(page, 2);
  page.fill(0x77, first + 29, first + 32);
  page.fill(0x77, second + 29, second + 32);
  setLpFlags(page, 2, 3); // LP_DEAD, storage kept (ItemIdMarkDead)
  heapMask(page, 0);
  assert.equal(Array.from(page.subarray(first + 29, first + 32)), [0, 0, 0]);
  assert.equal(Array.from(page.subarray(second + 29, second + 32)), [0, 0, 0]);
  assert.is(page[second + 28], 0xab, 'the tuple last byte is kept');
});

test('heap: a dead item keeps its infomask (only normal items are tuple-masked)', () => {
  const page = heapPage([heapTuple(8, 0x0900)]);
  setLpFlags(page, 1, 3);
  heapMask(page, 0);
  assert.is(readU16(page, itemOffset(page, 1) + 20), 0x0900);
  assert.is(readU32(page, itemOffset(page, 1) + 8), 3, 'and its command id');
});

test('heap: line pointer flags are compared (heap does not mask them)', () => {
  const left = heapPage([heapTuple(8)]);
  const right = heapPage([heapTuple(8)]);
  setLpFlags(right, 1, 3);
  assert.not.ok(equalAfter(heapMask, left, right));
});

test('heap: PD_ALL_VISIBLE, pd_prune_xid, LSN, checksum and the hole are masked', () => {
  const left = heapPage([heapTuple(8)]);
  const right = heapPage([heapTuple(8)]);
  dirtyHeader(right);
  writeU16(right, 10, 0x0004);
  right.fill(0x55, 40, 4000);
  assert.ok(equalAfter(heapMask, left, right));
});

test('maskPage masks Heap2 pages with heap_mask and unknown rmgrs by LSN and checksum only', () => {
  const left = heapPage([heapTuple(8)]);
  const right = heapPage([heapTuple(8, 0x0100)]);
  dirtyHeader(right);
  assert.ok(equalAfter((page, block) => maskPage(RM_HEAP2, page, block), left, right));
  assert.ok(equalAfter((page, block) => maskPage(RM_HEAP, page, block), left, right));
  const xlog = heapPage([heapTuple(8)]);
  dirtyHeader(xlog);
  writeU16(xlog, 10, 0x0004);
  xlog.fill(0x55, 40, 4000);
  maskPage(RM_XLOG, xlog, 0);
  assert.equal(Array.from(xlog.subarray(0, 10)), new Array(10).fill(0));
  assert.is(readU16(xlog, 10), 0x0004, 'hint flags kept');
  assert.is(readU32(xlog, 20), 777, 'prune xid kept');
  assert.is(xlog[100], 0x55, 'hole kept');
});

// ---- btree_mask --------------------------------------------------------------------------------

const BTP_LEAF = 1;
const BTP_DELETED = 4;

test('btree: leaf line pointer flags, BTP_HAS_GARBAGE, BTP_SPLIT_END and cycle id are masked', () => {
  const left = indexPage(16, 12, BTP_LEAF);
  const right = indexPage(16, 12, BTP_LEAF | 0x40 | 0x20);
  writeU16(right, BLCKSZ - 2, 0x1234); // btpo_cycleid
  setLpFlags(right, 1, 3);
  assert.ok(equalAfter(btreeMask, left, right));
  btreeMask(right, 0);
  assert.is(readU16(right, BLCKSZ - 4), BTP_LEAF);
  assert.is(readU16(right, BLCKSZ - 2), 0);
});

test('btree: internal page line pointer flags and other special fields are compared', () => {
  const left = indexPage(16, 12, 0);
  const right = indexPage(16, 12, 0);
  setLpFlags(right, 1, 3);
  assert.not.ok(equalAfter(btreeMask, left, right));
  const otherLevel = indexPage(16, 12, 0);
  writeU32(otherLevel, BLCKSZ - 8, 2); // btpo_level
  assert.not.ok(equalAfter(btreeMask, indexPage(16, 12, 0), otherLevel));
});

test('btree: a deleted page content is compared in PostgreSQL 15', () => {
  const left = indexPage(16, 12, BTP_DELETED | BTP_LEAF);
  const right = indexPage(16, 12, BTP_DELETED | BTP_LEAF);
  right[itemOffset(right, 1)] = 0x99;
  assert.not.ok(equalAfter(btreeMask, left, right));
});

// ---- hash_mask ---------------------------------------------------------------------------------

test('hash: an unused page is masked whole; the dead-tuples hint is masked', () => {
  const left = indexPage(16, 12, 0);
  const right = indexPage(16, 12, 0x80);
  right[itemOffset(right, 1)] = 0x99;
  writeU32(right, BLCKSZ - 8, 5); // hasho_bucket
  assert.ok(equalAfter(hashMask, left, right));
  hashMask(right, 0);
  assert.is(readU16(right, 12), 0);
  assert.is(readU16(right, 16), BLCKSZ - 16, 'pd_special kept');
});

test('hash: bucket and overflow pages mask line pointer flags, bitmap and meta pages do not', () => {
  for (const type of [0x1, 0x2]) {
    const left = indexPage(16, 12, type);
    const right = indexPage(16, 12, type | 0x80);
    setLpFlags(right, 2, 3);
    assert.ok(equalAfter(hashMask, left, right), `page type ${type}`);
  }
  for (const type of [0x4, 0x8]) {
    const left = indexPage(16, 12, type);
    const right = indexPage(16, 12, type);
    setLpFlags(right, 2, 3);
    assert.not.ok(equalAfter(hashMask, left, right), `page type ${type}`);
  }
});

// ---- gin_mask ----------------------------------------------------------------------------------

test('gin: a deleted page is masked whole; a live page only in its hole', () => {
  const left = indexPage(8, 6, 4); // GIN_DELETED (1 << 2)
  const right = indexPage(8, 6, 4);
  right[itemOffset(right, 2)] = 0x99;
  writeU32(right, BLCKSZ - 8, 42); // rightlink
  assert.ok(equalAfter(ginMask, left, right));
  const live = indexPage(8, 6, 2 | 1); // GIN_LEAF | GIN_DATA: not deleted
  const liveChanged = indexPage(8, 6, 2 | 1);
  liveChanged.fill(0x33, 40, 100);
  assert.ok(equalAfter(ginMask, live, liveChanged), 'hole masked');
  liveChanged[itemOffset(liveChanged, 1)] = 0x99;
  assert.not.ok(equalAfter(ginMask, live, liveChanged), 'items compared');
});

test('gin: a page whose pd_lower is the header size keeps its hole (legacy metapage)', () => {
  const page = newPage(8);
  page.fill(0x44, 24, 200); // metapage contents written without moving pd_lower
  ginMask(page, 0);
  assert.is(page[100], 0x44);
  assert.is(page[24], 0x44);
});

// ---- gist_mask ---------------------------------------------------------------------------------

test('gist: NSN, F_HAS_GARBAGE, F_FOLLOW_RIGHT and leaf line pointer flags are masked', () => {
  const left = indexPage(16, 12, 0x1); // F_LEAF
  const right = indexPage(16, 12, 0x1 | 0x10 | 0x8);
  writeU32(right, BLCKSZ - 16, 9); // nsn
  writeU32(right, BLCKSZ - 12, 0x1234);
  setLpFlags(right, 1, 3);
  assert.ok(equalAfter(gistMask, left, right));
  gistMask(right, 0);
  assert.is(readU16(right, BLCKSZ - 4), 0x1 | 0x8, 'F_FOLLOW_RIGHT is set, F_HAS_GARBAGE cleared');
  assert.equal(Array.from(right.subarray(BLCKSZ - 16, BLCKSZ - 8)), new Array(8).fill(0));
});

test('gist: inner page line pointer flags and the rightlink are compared', () => {
  const left = indexPage(16, 12, 0);
  const right = indexPage(16, 12, 0);
  setLpFlags(right, 1, 3);
  assert.not.ok(equalAfter(gistMask, left, right));
  const link = indexPage(16, 12, 0);
  writeU32(link, BLCKSZ - 8, 7);
  assert.not.ok(equalAfter(gistMask, indexPage(16, 12, 0), link));
});

// ---- spg_mask, brin_mask, seq_mask, generic_mask ------------------------------------------------

test('spgist: the hole is masked when pd_lower is at least the header size; flags are not', () => {
  const left = indexPage(8, 0, 0);
  const right = indexPage(8, 0, 0);
  right.fill(0x33, 40, 100);
  writeU16(right, 10, 0x0002);
  assert.ok(equalAfter(spgMask, left, right));
  const lineFlags = indexPage(8, 0, 0);
  setLpFlags(lineFlags, 1, 3);
  assert.not.ok(equalAfter(spgMask, indexPage(8, 0, 0), lineFlags));
  const empty = newPage(8); // pd_lower == header size still counts
  empty.fill(0x33, 24, 100);
  spgMask(empty, 0);
  assert.is(empty[50], 0);
});

test('brin: regular page hole and BRIN_EVACUATE_PAGE are masked; revmap content is not', () => {
  const left = newPage(8);
  writeU16(left, BLCKSZ - 2, 0xf093);
  const right = left.slice();
  right.fill(0x33, 40, 100);
  writeU16(right, BLCKSZ - 4, 1); // BRIN_EVACUATE_PAGE
  assert.ok(equalAfter(brinMask, left, right));
  const revmap = newPage(8);
  writeU16(revmap, BLCKSZ - 2, 0xf092);
  const revmapChanged = revmap.slice();
  revmapChanged.fill(0x33, 40, 100);
  assert.not.ok(equalAfter(brinMask, revmap, revmapChanged));
});

test('brin: the meta page hole is masked only when pd_lower was set past the header', () => {
  const legacy = newPage(8);
  writeU16(legacy, BLCKSZ - 2, 0xf091);
  legacy.fill(0x33, 24, 48);
  brinMask(legacy, 0);
  assert.is(legacy[30], 0x33);
  const current = newPage(8);
  writeU16(current, BLCKSZ - 2, 0xf091);
  writeU16(current, 12, 48);
  current.fill(0x33, 24, 100);
  brinMask(current, 0);
  assert.is(current[30], 0x33, 'metadata below pd_lower kept');
  assert.is(current[60], 0, 'hole above pd_lower masked');
});

test('sequence and generic: LSN, checksum and hole masked; hint flags and prune xid compared', () => {
  for (const mask of [sequenceMask, genericMask]) {
    const left = heapPage([heapTuple(8)]);
    const right = heapPage([heapTuple(8)]);
    writeU32(right, 0, 5);
    writeU16(right, 8, 0xbeef);
    right.fill(0x33, 40, 100);
    assert.ok(equalAfter(mask, left, right));
    const flags = heapPage([heapTuple(8)]);
    writeU16(flags, 10, 0x0004);
    assert.not.ok(equalAfter(mask, left, flags));
    const hints = heapPage([heapTuple(8, 0x0100)]);
    assert.not.ok(equalAfter(mask, left, hints), 'tuple hint bits are not masked');
  }
});

test.run();
