/**
 * B-tree redo (src/walredo/btree.ts, btree-rebuild.ts, btree-tuple.ts, page-index.ts) on
 * hand-built pages and records: one test per record type, plus the bufpage.c rules the module
 * depends on (multi-delete compaction, in-place overwrite). The consistency-checked WAL of
 * /work/briefs/cwal checks the same code byte for byte (strata redo verify); these keep it honest
 * in CI, where that WAL is not available.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { btreeRedo } from '../../../src/walredo/btree.js';
import {
  BTP_DELETED, BTP_HALF_DEAD, BTP_HAS_FULLXID, BTP_HAS_GARBAGE, BTP_INCOMPLETE_SPLIT, BTP_LEAF, BTP_META, BTP_ROOT, btInitPage,
} from '../../../src/walredo/btree-tuple.js';
import { pageIndexMultiDelete, pageIndexTupleDelete, pageIndexTupleOverwrite } from '../../../src/walredo/page-index.js';
import {
  BLCKSZ, pageAddItem, pageGetItem, pageGetLower, pageGetLsn, pageGetMaxOffsetNumber, pageGetUpper, pageSetLsn, readU16, readU32,
} from '../../../src/walredo/page.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { concat, testBlock, testRecord } from './redo-fixtures.js';

const BTREE = 11;
const END_LSN = 0x1_2345_6780;
const SPECIAL = BLCKSZ - 16;

// ---- builders ------------------------------------------------------------------------------------

function u16(value: number): Uint8Array { return new Uint8Array([value & 0xff, value >> 8]); }
function u32(value: number): Uint8Array { return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]); }

function tid(block: number, offset: number): Uint8Array { return concat(u16(block >>> 16), u16(block & 0xffff), u16(offset)); }

/** A plain leaf tuple: heap TID, int4 key, 16 bytes. */
function plain(key: number, heapBlock: number, heapOffset: number): Uint8Array {
  return concat(tid(heapBlock, heapOffset), u16(16), u32(key), new Uint8Array(4));
}

/** A posting list tuple of int4 `key` holding `tids` ([block, offset] pairs). */
function posting(key: number, tids: [number, number][]): Uint8Array {
  const size = (16 + tids.length * 6 + 7) & ~7;
  const out = new Uint8Array(size);
  out.set(concat(tid(16, tids.length | 0x2000), u16(size | 0x2000), u32(key)));
  tids.forEach(([block, offset], index) => out.set(tid(block, offset), 16 + index * 6));
  return out;
}

/** A pivot (internal page) tuple with a downlink and an int4 key (8 bytes when `key` is undefined). */
function pivot(downlink: number, key?: number): Uint8Array {
  if (key === undefined) return concat(tid(downlink, 0), u16(8 | 0x2000));
  return concat(tid(downlink, 1), u16(16 | 0x2000), u32(key), new Uint8Array(4));
}

function blockRef(blockId: number, blockNumber: number, data: Uint8Array, willInit = false): DecodedBlock {
  return testBlock({ blockId, blockNumber, relNode: 16420, data, willInit });
}

function record(info: number, mainData: Uint8Array, blocks: DecodedBlock[]): DecodedRecord {
  return testRecord({ rmgrId: BTREE, info, mainData, blocks, endLsn: END_LSN, length: 200 });
}

interface Opaque { prev?: number; next?: number; level?: number; flags?: number }

function btPage(tuples: Uint8Array[], opaque: Opaque = {}): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  btInitPage(page, { prev: opaque.prev ?? 0, next: opaque.next ?? 0, level: opaque.level ?? 0, flags: opaque.flags ?? BTP_LEAF });
  tuples.forEach((tuple, index) => assert.is(pageAddItem(page, tuple, 0, 0), index + 1));
  pageSetLsn(page, 0x100);
  return page;
}

function itemBytes(page: Uint8Array, offsetNumber: number): Uint8Array {
  const item = pageGetItem(page, offsetNumber);
  return page.slice(item.offset, item.offset + item.length);
}

function keyAt(page: Uint8Array, offsetNumber: number): number { return readU32(page, pageGetItem(page, offsetNumber).offset + 8); }
function flagsOf(page: Uint8Array): number { return readU16(page, SPECIAL + 12); }
function metadata(root: number, level: number): Uint8Array {
  return concat(u32(4), u32(root), u32(level), u32(root), u32(level), u32(7), new Uint8Array([1, 0, 0, 0]));
}

function assertRedoFails(run: () => void, pattern: RegExp): void {
  try {
    run();
  } catch (error) {
    assert.ok(isStrataError(error) && error.code === 'PS_ERR_REDO_FAILED', `unexpected error ${String(error)}`);
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable('redo should have failed');
}

// ---- inserts -------------------------------------------------------------------------------------

test('INSERT_LEAF adds the tuple at its offset, shifting later line pointers, and sets the LSN', () => {
  const page = btPage([plain(10, 1, 1), plain(30, 1, 3)]);
  btreeRedo.redo(page, record(0x00, u16(2), [blockRef(0, 1, plain(20, 1, 2))]), 0);
  assert.equal([keyAt(page, 1), keyAt(page, 2), keyAt(page, 3)], [10, 20, 30]);
  assert.is(pageGetItem(page, 2).offset, SPECIAL - 48);
  assert.is(pageGetLsn(page), END_LSN);
});

test('INSERT_UPPER inserts the downlink and clears the child\'s incomplete-split flag', () => {
  const parent = btPage([pivot(3), pivot(5, 100)], { level: 1, flags: 0 });
  const child = btPage([plain(1, 1, 1)], { flags: BTP_LEAF | BTP_INCOMPLETE_SPLIT });
  const insert = record(0x10, u16(3), [blockRef(0, 2, pivot(9, 200)), blockRef(1, 5, new Uint8Array(0))]);
  btreeRedo.redo(parent, insert, 0);
  btreeRedo.redo(child, insert, 1);
  assert.is(pageGetMaxOffsetNumber(parent), 3);
  assert.equal(itemBytes(parent, 3), pivot(9, 200));
  assert.is(flagsOf(child), BTP_LEAF);
  assert.is(pageGetLsn(child), END_LSN);
  assertRedoFails(() => btreeRedo.redo(btPage([]), insert, 1), /incomplete split/);
});

test('INSERT_META re-initializes the metapage from xl_btree_metadata', () => {
  const meta = new Uint8Array(BLCKSZ);
  const insert = record(0x20, u16(2), [blockRef(0, 2, pivot(9, 200)), blockRef(1, 5, new Uint8Array(0)), blockRef(2, 0, metadata(3, 2), true)]);
  btreeRedo.redo(meta, insert, 2);
  assert.equal([readU32(meta, 24), readU32(meta, 28), readU32(meta, 32), readU32(meta, 36), readU32(meta, 48)], [0x053162, 4, 3, 2, 7]);
  assert.is(new DataView(meta.buffer).getFloat64(56, true), -1);
  assert.is(meta[64], 1);
  assert.is(pageGetLower(meta), 72);
  assert.is(pageGetUpper(meta), SPECIAL);
  assert.is(flagsOf(meta), BTP_META);
  assert.is(pageGetLsn(meta), END_LSN);
});

test('INSERT_POST splits the posting list: the new TID goes inside it and the old max TID to the new item', () => {
  const page = btPage([plain(5, 1, 1), posting(7, [[2, 1], [2, 5], [2, 9]])]);
  const newItem = plain(7, 2, 3);
  btreeRedo.redo(page, record(0x50, u16(3), [blockRef(0, 1, concat(u16(1), newItem))]), 0);
  assert.equal(itemBytes(page, 2), posting(7, [[2, 1], [2, 3], [2, 5]]));
  assert.equal(itemBytes(page, 3), plain(7, 2, 9));
  assert.is(pageGetMaxOffsetNumber(page), 3);
});

// ---- splits --------------------------------------------------------------------------------------

test('SPLIT_L rebuilds the left page with the new item, the record\'s high key and the split flags', () => {
  const left = btPage([plain(90, 9, 9), plain(10, 1, 1), plain(30, 1, 3), plain(40, 1, 4), plain(50, 1, 5)], { next: 7 });
  const main = concat(u32(0), u16(4), u16(3), u16(0));
  const highKey = pivot(0, 40);
  const split = record(0x30, main, [blockRef(0, 4, concat(plain(20, 1, 2), highKey)), blockRef(1, 8, new Uint8Array(0), true)]);
  btreeRedo.redo(left, split, 0);
  assert.is(pageGetMaxOffsetNumber(left), 4);
  assert.equal(itemBytes(left, 1), highKey);
  assert.equal([keyAt(left, 2), keyAt(left, 3), keyAt(left, 4)], [10, 20, 30]);
  assert.is(pageGetItem(left, 1).offset, SPECIAL - 16);
  assert.is(pageGetItem(left, 4).offset, SPECIAL - 64);
  assert.is(flagsOf(left), BTP_LEAF | BTP_INCOMPLETE_SPLIT);
  assert.is(readU32(left, SPECIAL + 4), 8);
});

test('SPLIT_R builds the right page from the record and fixes the next sibling\'s left link', () => {
  // Right page contents as PostgreSQL logs them: pd_upper..pd_special, highest item first.
  const contents = concat(plain(60, 1, 6), plain(50, 1, 5), pivot(0, 99));
  const main = concat(u32(0), u16(3), u16(9), u16(0));
  const split = record(0x40, main, [blockRef(0, 4, pivot(0, 40)), blockRef(1, 8, contents, true), blockRef(2, 7, new Uint8Array(0))]);
  const right = new Uint8Array(BLCKSZ);
  btreeRedo.redo(right, split, 1);
  assert.is(pageGetMaxOffsetNumber(right), 3);
  assert.equal(itemBytes(right, 1), pivot(0, 99));
  assert.equal([keyAt(right, 2), keyAt(right, 3)], [50, 60]);
  assert.equal([readU32(right, SPECIAL), readU32(right, SPECIAL + 4), flagsOf(right)], [4, 7, BTP_LEAF]);
  const sibling = btPage([plain(70, 1, 7)], { prev: 4 });
  btreeRedo.redo(sibling, split, 2);
  assert.is(readU32(sibling, SPECIAL), 8);
  assert.is(pageGetLsn(sibling), END_LSN);
});

test('SPLIT_R of a posting list: the left page gets the rewritten posting list', () => {
  const left = btPage([plain(90, 9, 9), plain(10, 1, 1), posting(20, [[2, 1], [2, 5], [2, 9]]), plain(30, 1, 3)], { next: 7 });
  const main = concat(u32(0), u16(4), u16(4), u16(1));
  const split = record(0x40, main, [blockRef(0, 4, concat(plain(20, 2, 3), pivot(0, 30))), blockRef(1, 8, new Uint8Array(0), true)]);
  btreeRedo.redo(left, split, 0);
  assert.is(pageGetMaxOffsetNumber(left), 3);
  assert.equal(itemBytes(left, 3), posting(20, [[2, 1], [2, 3], [2, 5]]));
});

// ---- dedup, vacuum, delete -----------------------------------------------------------------------

test('DEDUP merges each interval into one posting list and keeps other tuples as they are', () => {
  const page = btPage([plain(99, 9, 9), plain(5, 1, 1), plain(5, 1, 2), posting(5, [[1, 3], [1, 4]]), plain(6, 1, 5)], { next: 3, flags: BTP_LEAF | BTP_HAS_GARBAGE });
  btreeRedo.redo(page, record(0x60, u16(1), [blockRef(0, 2, concat(u16(2), u16(3)))]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 3);
  assert.equal(itemBytes(page, 1), plain(99, 9, 9));
  assert.equal(itemBytes(page, 2), posting(5, [[1, 1], [1, 2], [1, 3], [1, 4]]));
  assert.equal(itemBytes(page, 3), plain(6, 1, 5));
  assert.is(flagsOf(page), BTP_LEAF);
  assertRedoFails(() => btreeRedo.redo(btPage([plain(5, 1, 1), plain(5, 1, 2)]), record(0x60, u16(1), [blockRef(0, 2, concat(u16(2), u16(2)))]), 0), /posting lists/);
});

test('VACUUM updates posting lists, deletes items (compacting), and keeps the cycle id as PostgreSQL\'s redo does', () => {
  const page = btPage([plain(1, 1, 1), plain(2, 1, 2), posting(3, [[1, 3], [1, 4], [1, 5]]), plain(4, 1, 6), plain(5, 1, 7)]);
  page[SPECIAL + 14] = 9;
  const data = concat(u16(1), u16(2), u16(5), u16(3), u16(2), u16(0), u16(2));
  btreeRedo.redo(page, record(0xc0, concat(u16(3), u16(1)), [blockRef(0, 1, data)]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 2);
  assert.equal(itemBytes(page, 1), plain(3, 1, 4));
  assert.equal(itemBytes(page, 2), plain(4, 1, 6));
  assert.equal([pageGetItem(page, 1).offset, pageGetItem(page, 2).offset, pageGetUpper(page)], [SPECIAL - 16, SPECIAL - 32, SPECIAL - 32]);
  assert.is(readU16(page, SPECIAL + 14), 9, 'btree_xlog_vacuum does not reset btpo_cycleid (only the primary does)');
});

test('DELETE removes items and clears BTP_HAS_GARBAGE but keeps the cycle id', () => {
  const page = btPage([plain(1, 1, 1), plain(2, 1, 2), plain(3, 1, 3)], { flags: BTP_LEAF | BTP_HAS_GARBAGE });
  page[SPECIAL + 14] = 9;
  btreeRedo.redo(page, record(0x70, concat(u32(700), u16(1), u16(0)), [blockRef(0, 1, u16(2))]), 0);
  assert.equal([pageGetMaxOffsetNumber(page), keyAt(page, 1), keyAt(page, 2)], [2, 1, 3]);
  assert.is(pageGetItem(page, 2).offset, SPECIAL - 32);
  assert.is(flagsOf(page), BTP_LEAF);
  assert.is(readU16(page, SPECIAL + 14), 9);
});

// ---- page deletion -------------------------------------------------------------------------------

test('MARK_PAGE_HALFDEAD moves the right downlink over the target\'s and rebuilds the leaf', () => {
  const parent = btPage([pivot(2), pivot(5, 10), pivot(6, 20)], { level: 1, flags: 0 });
  const main = concat(u16(2), u16(0), u32(5), u32(4), u32(6), u32(0xffffffff));
  const halfDead = record(0xb0, main, [blockRef(0, 5, new Uint8Array(0), true), blockRef(1, 3, new Uint8Array(0))]);
  btreeRedo.redo(parent, halfDead, 1);
  assert.is(pageGetMaxOffsetNumber(parent), 2);
  assert.equal(itemBytes(parent, 2), pivot(6, 10));
  const leaf = new Uint8Array(BLCKSZ);
  btreeRedo.redo(leaf, halfDead, 0);
  assert.equal(itemBytes(leaf, 1), pivot(0xffffffff));
  assert.equal([readU32(leaf, SPECIAL), readU32(leaf, SPECIAL + 4), flagsOf(leaf)], [4, 6, BTP_HALF_DEAD | BTP_LEAF]);
});

test('UNLINK_PAGE marks the target deleted with its safexid and relinks both siblings', () => {
  const main = concat(u32(4), u32(6), u32(0), u32(0), u32(1234), u32(1), u32(0), u32(0), u32(0xffffffff));
  const unlink = record(0x80, main, [blockRef(0, 5, new Uint8Array(0), true), blockRef(1, 4, new Uint8Array(0)), blockRef(2, 6, new Uint8Array(0))]);
  const target = new Uint8Array(BLCKSZ);
  btreeRedo.redo(target, unlink, 0);
  assert.equal([pageGetLower(target), pageGetUpper(target), flagsOf(target)], [32, SPECIAL, BTP_DELETED | BTP_HAS_FULLXID | BTP_LEAF]);
  assert.is(new DataView(target.buffer).getBigUint64(24, true), (1n << 32n) + 1234n);
  const left = btPage([plain(1, 1, 1)], { next: 5 });
  const right = btPage([plain(9, 1, 9)], { prev: 5 });
  btreeRedo.redo(left, unlink, 1);
  btreeRedo.redo(right, unlink, 2);
  assert.equal([readU32(left, SPECIAL + 4), readU32(right, SPECIAL)], [6, 4]);
});

test('UNLINK_PAGE_META of an internal page rebuilds the subtree\'s leaf and the metapage', () => {
  const main = concat(u32(0), u32(6), u32(1), u32(0), u32(55), u32(0), u32(10), u32(11), u32(0xffffffff));
  const blocks = [blockRef(0, 5, new Uint8Array(0), true), blockRef(2, 6, new Uint8Array(0)), blockRef(3, 12, new Uint8Array(0), true), blockRef(4, 0, metadata(6, 1), true)];
  const unlink = record(0x90, main, blocks);
  const target = new Uint8Array(BLCKSZ);
  btreeRedo.redo(target, unlink, 0);
  assert.is(flagsOf(target), BTP_DELETED | BTP_HAS_FULLXID);
  const leaf = new Uint8Array(BLCKSZ);
  btreeRedo.redo(leaf, unlink, 3);
  assert.equal([readU32(leaf, SPECIAL), readU32(leaf, SPECIAL + 4), flagsOf(leaf)], [10, 11, BTP_HALF_DEAD | BTP_LEAF]);
  const meta = new Uint8Array(BLCKSZ);
  btreeRedo.redo(meta, unlink, 4);
  assert.equal([readU32(meta, 32), flagsOf(meta)], [6, BTP_META]);
  assertRedoFails(() => btreeRedo.redo(new Uint8Array(BLCKSZ), unlink, 1), /no use for block 1/);
});

// ---- root and metapage ---------------------------------------------------------------------------

test('NEWROOT builds the root from the record, clears the left child\'s split flag, writes the metapage', () => {
  const contents = concat(pivot(8, 50), pivot(4));
  const newRoot = record(0xa0, concat(u32(9), u32(1)), [blockRef(0, 9, contents, true), blockRef(1, 4, new Uint8Array(0)), blockRef(2, 0, metadata(9, 1), true)]);
  const root = new Uint8Array(BLCKSZ);
  btreeRedo.redo(root, newRoot, 0);
  assert.equal([itemBytes(root, 1), itemBytes(root, 2)], [pivot(4), pivot(8, 50)]);
  assert.equal([flagsOf(root), readU32(root, SPECIAL + 8)], [BTP_ROOT, 1]);
  const child = btPage([plain(1, 1, 1)], { next: 8, flags: BTP_LEAF | BTP_INCOMPLETE_SPLIT });
  btreeRedo.redo(child, newRoot, 1);
  assert.is(flagsOf(child), BTP_LEAF);
  const meta = new Uint8Array(BLCKSZ);
  btreeRedo.redo(meta, newRoot, 2);
  assert.equal([readU32(meta, 32), readU32(meta, 36)], [9, 1]);
});

test('META_CLEANUP rewrites the metapage; REUSE_PAGE touches no page', () => {
  const meta = btPage([]);
  btreeRedo.redo(meta, record(0xe0, new Uint8Array(0), [blockRef(0, 0, metadata(3, 1), true)]), 0);
  assert.equal([readU32(meta, 24), readU32(meta, 32), readU32(meta, 48), pageGetLower(meta)], [0x053162, 3, 7, 72]);
  assert.is(pageGetLsn(meta), END_LSN);
  assertRedoFails(() => btreeRedo.redo(btPage([]), record(0xd0, new Uint8Array(28), []), 0), /REUSE_PAGE/);
});

// ---- bufpage.c rules -----------------------------------------------------------------------------

test('PageIndexMultiDelete of two items closes holes in place; of three or more packs in item order', () => {
  const sizes = [16, 24, 16, 32];
  const make = (): Uint8Array => btPage(sizes.map((size, index) => concat(tid(1, index + 1), u16(size), new Uint8Array(size - 8).fill(index + 1))));
  const few = make();
  pageIndexMultiDelete(few, [1, 3], 2);
  assert.equal([pageGetItem(few, 1).offset, pageGetItem(few, 2).offset], [SPECIAL - 24, SPECIAL - 24 - 32]);
  const many = make();
  pageIndexMultiDelete(many, [1, 2, 3], 3);
  assert.equal([pageGetMaxOffsetNumber(many), pageGetItem(many, 1).offset, many[SPECIAL - 32 + 8]], [1, SPECIAL - 32, 4]);
  assertRedoFails(() => pageIndexMultiDelete(make(), [3, 2, 1], 3), /incorrect index offsets/);
});

test('PageIndexTupleOverwrite shrinking a tuple moves the tuples below it up', () => {
  const page = btPage([posting(1, [[1, 1], [1, 2], [1, 3]]), plain(2, 1, 4)]);
  assert.ok(pageIndexTupleOverwrite(page, 1, plain(1, 1, 1)));
  assert.equal([pageGetItem(page, 1).offset, pageGetItem(page, 2).offset, pageGetUpper(page)], [SPECIAL - 16, SPECIAL - 32, SPECIAL - 32]);
  assert.equal(itemBytes(page, 2), plain(2, 1, 4));
  pageIndexTupleDelete(page, 1);
  assert.equal([pageGetMaxOffsetNumber(page), pageGetItem(page, 1).offset], [1, SPECIAL - 16]);
});

test.run();
