/**
 * GIN redo (src/walredo/gin.ts) on hand-built pages and records: one test per record type, with
 * the expected bytes worked out from ginxlog.c / ginblock.h by hand (not by the code under test).
 * The same routines were checked against PostgreSQL 15 WAL written with wal_consistency_checking
 * (see the report of issue 3); these tests pin the layouts so a regression shows up without it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ginRedo } from '../../../src/walredo/gin.js';
import { decodePostingList, encodePostingList } from '../../../src/walredo/gin-posting-list.js';
import {
  BLCKSZ, pageAddItem, pageGetItem, pageGetLower, pageGetLsn, pageGetMaxOffsetNumber, pageGetPruneXid, pageGetUpper,
  readU16, readU32, writeU16, writeU32,
} from '../../../src/walredo/page.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { concat, testBlock, testRecord } from './redo-fixtures.js';

const RM_GIN = 13;
const END_LSN = 0x1_2345_6780;
const INVALID = 0xffffffff;
const SPECIAL = BLCKSZ - 8;

function block(blockId: number, data: Uint8Array = new Uint8Array(0)): DecodedBlock {
  return testBlock({ blockId, blockNumber: blockId + 1, relNode: 16415, data });
}

function record(info: number, mainData: Uint8Array, blocks: DecodedBlock[]): DecodedRecord {
  return testRecord({ rmgrId: RM_GIN, info, mainData, blocks, endLsn: END_LSN, totalLength: 100 });
}

function bytes(...values: number[]): Uint8Array { return Uint8Array.from(values); }

/** A GIN page as GinInitPage leaves it (PageInit with 8 bytes of special space). */
function ginPage(flags: number, rightLink = INVALID, maxoff = 0): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  writeU16(page, 12, 24);
  writeU16(page, 14, SPECIAL);
  writeU16(page, 16, SPECIAL);
  writeU16(page, 18, BLCKSZ | 4);
  writeU32(page, SPECIAL, rightLink);
  writeU16(page, SPECIAL + 4, maxoff);
  writeU16(page, SPECIAL + 6, flags);
  writeU32(page, 0, 1);
  return page;
}

/** An IndexTuple of `size` bytes: t_tid (block, offset), t_info = size, then `fill` bytes. */
function indexTuple(size: number, tidBlock: number, tidOffset: number, fill: number): Uint8Array {
  const tuple = new Uint8Array(size).fill(fill);
  writeU16(tuple, 0, tidBlock >>> 16);
  writeU16(tuple, 2, tidBlock & 0xffff);
  writeU16(tuple, 4, tidOffset);
  writeU16(tuple, 6, size);
  return tuple;
}

function u16s(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((value, index) => writeU16(out, index * 2, value));
  return out;
}

function flagsOf(page: Uint8Array): number { return readU16(page, SPECIAL + 6); }

// Segment of items (0,1) (0,2) (0,5): first item raw, deltas 1 and 3, two bytes.
const SEGMENT_125 = bytes(0, 0, 0, 0, 1, 0, 2, 0, 1, 3);
// Segment of (0,7) (1000,1): one delta of 1000 * 2048 + 1 - 7 = 2047994 = 124 * 16384 + 127 * 128
// + 122, in 7-bit groups low first (three bytes), then a padding byte.
const SEGMENT_BIG = bytes(0, 0, 0, 0, 7, 0, 3, 0, 0x80 | 122, 0x80 | 127, 124, 0);

test('posting list codec: varbyte deltas, odd lengths padded', () => {
  assert.equal(encodePostingList([1, 2, 5]), SEGMENT_125);
  assert.equal(encodePostingList([7, 1000 * 2048 + 1]), SEGMENT_BIG);
  assert.equal(decodePostingList(SEGMENT_BIG, 0), [7, 1000 * 2048 + 1]);
});

test('CREATE_PTREE initializes a compressed leaf holding the posting list', () => {
  const page = new Uint8Array(BLCKSZ);
  const main = concat(bytes(10, 0, 0, 0), SEGMENT_125);
  ginRedo.redo(page, record(0x10, main, [block(0)]), 0);
  assert.is(flagsOf(page), 0x83, 'GIN_DATA | GIN_LEAF | GIN_COMPRESSED');
  assert.is(readU32(page, SPECIAL), INVALID);
  assert.is(pageGetLower(page), 42, 'pd_lower = 32 + posting list size');
  assert.equal(page.subarray(32, 42), SEGMENT_125);
  assert.is(pageGetLsn(page), END_LSN);
});

test('INSERT into an entry leaf puts the tuple at its offset, shifting later ones', () => {
  const page = ginPage(0x02);
  pageAddItem(page, indexTuple(16, 0, 1, 0xaa), 0, 0);
  pageAddItem(page, indexTuple(16, 0, 1, 0xbb), 0, 0);
  const payload = concat(u16s(2), bytes(0, 0), indexTuple(12, 0, 1, 0xcc));
  ginRedo.redo(page, record(0x20, u16s(0x02), [block(0, payload)]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 3);
  assert.is(page[pageGetItem(page, 2).offset + 8], 0xcc);
  assert.is(pageGetItem(page, 2).length, 12);
  assert.is(page[pageGetItem(page, 3).offset + 8], 0xbb);
  assert.is(pageGetUpper(page), SPECIAL - 16 - 16 - 16, 'MAXALIGN(12) = 16 bytes more tuple space');
  assert.is(pageGetLsn(page), END_LSN);
});

test('INSERT with isDelete replaces an entry-leaf tuple and closes the gap', () => {
  const page = ginPage(0x02);
  pageAddItem(page, indexTuple(16, 0, 1, 0xaa), 0, 0);
  pageAddItem(page, indexTuple(24, 0, 1, 0xbb), 0, 0);
  pageAddItem(page, indexTuple(16, 0, 1, 0xdd), 0, 0);
  const payload = concat(u16s(2), bytes(1, 0), indexTuple(32, 0, 1, 0xcc));
  ginRedo.redo(page, record(0x20, u16s(0x02), [block(0, payload)]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 3);
  // Tuple 3 (0xdd) moved up by the deleted 24 bytes, then the new tuple went below it.
  assert.is(pageGetItem(page, 3).offset, SPECIAL - 16 - 16);
  assert.is(page[SPECIAL - 32 + 8], 0xdd);
  assert.is(pageGetItem(page, 2).offset, SPECIAL - 32 - 32);
  assert.is(page[pageGetItem(page, 2).offset + 8], 0xcc);
  assert.is(pageGetItem(page, 1).offset, SPECIAL - 16);
});

test('INSERT into an entry internal page sets the split child\'s downlink and clears its flag', () => {
  const page = ginPage(0x00);
  pageAddItem(page, indexTuple(16, 40, 5, 0xaa), 0, 0);
  const main = concat(u16s(0x00), u16s(0, 40), u16s(1, 7));
  const payload = concat(u16s(1), bytes(0, 0), indexTuple(16, 40, 0, 0xbb));
  ginRedo.redo(page, record(0x20, main, [block(0, payload), block(1)]), 0);
  const downlink = pageGetItem(page, 2).offset;
  assert.equal(page.subarray(downlink, downlink + 6), bytes(1, 0, 7, 0, 0, 0), 'block 0x10007, offset 0');
  assert.is(page[pageGetItem(page, 1).offset + 8], 0xbb);
  const child = ginPage(0x02 | 0x40);
  ginRedo.redo(child, record(0x20, main, [block(0, payload), block(1)]), 1);
  assert.is(flagsOf(child), 0x02, 'GIN_INCOMPLETE_SPLIT cleared');
  assert.is(pageGetLsn(child), END_LSN);
});

test('INSERT into a data leaf (ADDITEMS) merges the items into the segment', () => {
  const page = ginPage(0x83);
  page.set(SEGMENT_125, 32);
  page.set(SEGMENT_BIG, 42);
  writeU16(page, 12, 54);
  // One action: segment 0, ADDITEMS, 1 item (0,3).
  const payload = concat(u16s(1), bytes(0, 4), u16s(1, 0, 0, 3));
  ginRedo.redo(page, record(0x20, u16s(0x03), [block(0, payload)]), 0);
  assert.equal(page.subarray(32, 44), bytes(0, 0, 0, 0, 1, 0, 3, 0, 1, 1, 2, 0));
  assert.equal(page.subarray(44, 56), SEGMENT_BIG, 'the next segment is rewritten after it');
  assert.is(pageGetLower(page), 56);
});

test('INSERT into a data internal page updates the old child and adds a PostingItem', () => {
  const page = ginPage(0x01, INVALID, 2);
  page.set(bytes(0, 0, 5, 0, 0, 0, 9, 0, 1, 0), 32);
  page.set(bytes(0, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 0, 0), 42);
  writeU16(page, 12, 52);
  const main = concat(u16s(0x01), u16s(0, 6), u16s(0, 8));
  const payload = concat(u16s(2), bytes(0, 0, 6, 0, 0, 0, 20, 0, 3, 0));
  ginRedo.redo(page, record(0x20, main, [block(0, payload), block(1)]), 0);
  assert.is(readU16(page, SPECIAL + 4), 3);
  assert.is(pageGetLower(page), 62);
  assert.equal(page.subarray(42, 52), bytes(0, 0, 6, 0, 0, 0, 20, 0, 3, 0), 'new item at offset 2');
  assert.equal(page.subarray(52, 56), bytes(0, 0, 8, 0), 'old item now points to the right half');
});

test('SPLIT clears the child flag; its other pages must come as images', () => {
  const main = new Uint8Array(26);
  writeU16(main, 24, 0x01);
  const child = ginPage(0x01 | 0x40);
  ginRedo.redo(child, record(0x30, main, [block(0), block(1), block(3)]), 3);
  assert.is(flagsOf(child), 0x01);
  assert.throws(() => ginRedo.redo(ginPage(0x01), record(0x30, main, [block(0), block(1), block(3)]), 0), /full-page image/);
});

test('VACUUM_PAGE without an image is an error', () => {
  assert.throws(() => ginRedo.redo(ginPage(0x02), record(0x40, new Uint8Array(0), [block(0)]), 0), /did not restore/);
});

test('VACUUM_DATA_LEAF_PAGE: DELETE, REPLACE and INSERT actions rewrite the segments', () => {
  const page = ginPage(0x83);
  page.set(SEGMENT_125, 32);
  page.set(SEGMENT_BIG, 42);
  page.set(SEGMENT_125, 54);
  writeU16(page, 12, 64);
  const replacement = bytes(0, 0, 0, 0, 9, 0, 0, 0);
  const inserted = bytes(0, 0, 0, 0, 4, 0, 1, 0, 2, 0);
  // Segment 0 deleted, segment 1 replaced, a new segment inserted before segment 2.
  const payload = concat(u16s(3), bytes(0, 1), bytes(1, 3), replacement, bytes(2, 2), inserted);
  ginRedo.redo(page, record(0x90, new Uint8Array(0), [block(0, payload)]), 0);
  assert.equal(page.subarray(32, 60), concat(replacement, inserted, SEGMENT_125));
  assert.is(pageGetLower(page), 60);
  assert.is(pageGetLsn(page), END_LSN);
});

test('DELETE_PAGE marks the page deleted, drops the parent item, relinks the left page', () => {
  const main = concat(u16s(1, 0), bytes(12, 0, 0, 0), bytes(0x39, 0x30, 0, 0));
  const deleted = ginPage(0x03);
  ginRedo.redo(deleted, record(0x50, main, [block(0), block(1), block(2)]), 0);
  assert.is(flagsOf(deleted), 0x07);
  assert.is(pageGetPruneXid(deleted), 12345);
  const parent = ginPage(0x01, INVALID, 2);
  page10(parent, 32, 1);
  page10(parent, 42, 2);
  writeU16(parent, 12, 52);
  ginRedo.redo(parent, record(0x50, main, [block(0), block(1), block(2)]), 1);
  assert.is(readU16(parent, SPECIAL + 4), 1);
  assert.is(pageGetLower(parent), 42);
  assert.is(parent[34], 2, 'item 2 moved to offset 1');
  const left = ginPage(0x03, 99);
  ginRedo.redo(left, record(0x50, main, [block(0), block(1), block(2)]), 2);
  assert.is(readU32(left, SPECIAL), 12);
});

function page10(page: Uint8Array, at: number, child: number): void {
  page.set(bytes(0, 0, child, 0, 0, 0, child, 0, 1, 0), at);
}

function metadata(): Uint8Array {
  const meta = new Uint8Array(56);
  writeU32(meta, 0, 3);
  writeU32(meta, 4, 4);
  writeU32(meta, 8, 100);
  writeU32(meta, 48, 2);
  meta[52] = 0x5a;
  return meta;
}

test('UPDATE_META_PAGE rewrites the metapage and appends tuples to the tail', () => {
  const main = new Uint8Array(84);
  main.set(metadata(), 16);
  writeU32(main, 72, INVALID);
  writeU32(main, 80, 2);
  const meta = new Uint8Array(BLCKSZ).fill(0x77);
  ginRedo.redo(meta, record(0x60, main, [block(0), block(1)]), 0);
  assert.is(flagsOf(meta), 0x08);
  assert.is(readU32(meta, SPECIAL), INVALID);
  assert.is(pageGetLower(meta), 80);
  assert.equal(meta.subarray(24, 80), metadata(), 'padding bytes copied too');
  assert.is(meta[100], 0);
  const tail = ginPage(0x10 | 0x20, INVALID, 1);
  pageAddItem(tail, indexTuple(16, 0, 1, 0xaa), 0, 0);
  ginRedo.redo(tail, record(0x60, main, [block(0), block(1, concat(indexTuple(10, 0, 1, 0xbb), indexTuple(12, 0, 1, 0xcc)))]), 1);
  assert.is(pageGetMaxOffsetNumber(tail), 3);
  assert.is(pageGetItem(tail, 3).length, 12);
  assert.is(readU16(tail, SPECIAL + 4), 2, 'heap tuple count incremented once');
});

test('UPDATE_META_PAGE without tuples links the old tail to the new one', () => {
  const main = new Uint8Array(84);
  main.set(metadata(), 16);
  writeU32(main, 72, 4);
  writeU32(main, 76, 9);
  const previous = ginPage(0x10 | 0x20, INVALID, 1);
  ginRedo.redo(previous, record(0x60, main, [block(0), block(1)]), 1);
  assert.is(readU32(previous, SPECIAL), 9);
  assert.is(pageGetLsn(previous), END_LSN);
});

test('INSERT_LISTPAGE builds a pending-list page; the tail of a sublist is a full row', () => {
  const tuples = concat(indexTuple(14, 0, 1, 0xaa), indexTuple(16, 0, 2, 0xbb));
  const page = new Uint8Array(BLCKSZ);
  ginRedo.redo(page, record(0x70, concat(bytes(0xff, 0xff, 0xff, 0xff), bytes(2, 0, 0, 0)), [block(0, tuples)]), 0);
  assert.is(flagsOf(page), 0x30);
  assert.is(readU16(page, SPECIAL + 4), 1);
  assert.is(pageGetItem(page, 1).offset, SPECIAL - 16);
  assert.is(pageGetItem(page, 2).offset, SPECIAL - 32);
  const middle = new Uint8Array(BLCKSZ);
  ginRedo.redo(middle, record(0x70, concat(bytes(7, 0, 0, 0), bytes(2, 0, 0, 0)), [block(0, tuples)]), 0);
  assert.is(flagsOf(middle), 0x10);
  assert.is(readU32(middle, SPECIAL), 7);
  assert.is(readU16(middle, SPECIAL + 4), 0);
});

test('DELETE_LISTPAGE rewrites the metapage and re-initializes deleted pages', () => {
  const main = concat(metadata(), bytes(2, 0, 0, 0));
  const meta = ginPage(0x08);
  ginRedo.redo(meta, record(0x80, main, [block(0), block(1), block(2)]), 0);
  assert.equal(meta.subarray(24, 80), metadata());
  const listPage = ginPage(0x30, 5, 1);
  pageAddItem(listPage, indexTuple(16, 0, 1, 0xaa), 0, 0);
  ginRedo.redo(listPage, record(0x80, main, [block(0), block(1), block(2)]), 2);
  assert.is(flagsOf(listPage), 0x04);
  assert.is(readU32(listPage, SPECIAL), INVALID);
  assert.is(pageGetLower(listPage), 24);
  assert.is(listPage[SPECIAL - 8], 0, 'old tuples are gone');
  assert.throws(() => ginRedo.redo(ginPage(0x30), record(0x80, main, [block(0), block(3)]), 3), /no block 3/);
});

test.run();
