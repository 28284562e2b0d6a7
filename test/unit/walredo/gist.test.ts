/**
 * GiST redo (src/walredo/gist.ts) on hand-built pages and records: one test per record type and
 * per rule (in-place overwrite, multi-delete compaction, NSN and F_FOLLOW_RIGHT on splits). The
 * broad WAL of /work/briefs/cwal checks the same code byte for byte; these keep it honest in CI.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { gistAfterImageRestore, gistRedo } from '../../../src/walredo/gist.js';
import {
  F_DELETED, F_FOLLOW_RIGHT, F_HAS_GARBAGE, F_LEAF, F_TUPLES_DELETED, gistGetFlags, gistGetNsn, gistGetRightlink, gistInitPage,
  gistSetFlags, gistSetNsn, INVALID_BLOCK_NUMBER,
} from '../../../src/walredo/page-gist.js';
import {
  BLCKSZ, pageAddItem, pageGetItem, pageGetLower, pageGetLsn, pageGetMaxOffsetNumber, pageGetUpper, pageSetLsn, readU16, readU32,
} from '../../../src/walredo/page.js';
import { redoBlock } from '../../../src/walredo/redo.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { concat, testBlock, testRecord } from './redo-fixtures.js';

const GIST = 14;
const END_LSN = 0x1_2345_6780;

/** An index tuple of `size` bytes (t_info holds the size) whose payload bytes are `fill`. */
function tuple(size: number, fill: number): Uint8Array {
  const bytes = new Uint8Array(size).fill(fill);
  bytes.fill(0, 0, 8);
  bytes[6] = size & 0xff;
  bytes[7] = (size >> 8) & 0x1f;
  return bytes;
}

function u16s(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((value, index) => { out[index * 2] = value & 0xff; out[index * 2 + 1] = value >> 8; });
  return out;
}

function block(blockId: number, blockNumber: number, data: Uint8Array, willInit = false): DecodedBlock {
  return testBlock({ blockId, blockNumber, relNode: 16417, data, willInit });
}

function record(info: number, mainData: Uint8Array, blocks: DecodedBlock[]): DecodedRecord {
  return testRecord({ rmgrId: GIST, info, mainData, blocks, endLsn: END_LSN, length: 200 });
}

/** A GiST page holding tuples of the given sizes (fill byte = index), LSN older than the record. */
function pageWith(flags: number, sizes: number[]): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  gistInitPage(page, flags);
  sizes.forEach((size, index) => assert.is(pageAddItem(page, tuple(size, index + 1), 0, 0), index + 1));
  pageSetLsn(page, 0x100);
  return page;
}

function fillOf(page: Uint8Array, offsetNumber: number): number {
  const item = pageGetItem(page, offsetNumber);
  return page[item.offset + 8]!;
}

test('PAGE_UPDATE appends the new tuples after the last one and sets the LSN', () => {
  const page = pageWith(F_LEAF, [16]);
  const data = concat(tuple(24, 0xaa), tuple(16, 0xbb));
  gistRedo.redo(page, record(0x00, u16s(0, 2), [block(0, 3, data)]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 3);
  assert.is(fillOf(page, 2), 0xaa);
  assert.is(fillOf(page, 3), 0xbb);
  assert.is(pageGetItem(page, 2).offset, BLCKSZ - 16 - 16 - 24);
  assert.is(pageGetLsn(page), END_LSN);
});

test('PAGE_UPDATE replacing one tuple by one overwrites it in place, moving the tuples below', () => {
  const page = pageWith(F_LEAF, [16, 24, 16]);
  const before2 = pageGetItem(page, 2).offset;
  const before3 = pageGetItem(page, 3).offset;
  gistRedo.redo(page, record(0x00, u16s(1, 1), [block(0, 3, concat(u16s(2), tuple(40, 0xcc)))]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 3, 'no line pointer added or removed');
  assert.is(pageGetItem(page, 2).offset, before2 - 16, 'the tuple grew by 16 aligned bytes, in place');
  assert.is(pageGetItem(page, 2).length, 40);
  assert.is(fillOf(page, 2), 0xcc);
  assert.is(pageGetItem(page, 3).offset, before3 - 16, 'tuples below it move down');
  assert.is(fillOf(page, 3), 3);
  assert.is(pageGetItem(page, 1).offset, BLCKSZ - 16 - 16, 'tuples above it stay');
  assert.is(pageGetUpper(page), before3 - 16);
});

test('PAGE_UPDATE deleting three tuples compacts the rest and marks a leaf F_TUPLES_DELETED', () => {
  const page = pageWith(F_LEAF, [16, 24, 32, 16, 8]);
  gistRedo.redo(page, record(0x00, u16s(3, 0), [block(0, 3, u16s(1, 3, 5))]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 2);
  assert.equal([fillOf(page, 1), fillOf(page, 2)], [2, 4]);
  assert.is(pageGetItem(page, 1).offset, BLCKSZ - 16 - 24, 'the first kept tuple lands against the special space');
  assert.is(pageGetItem(page, 2).offset, BLCKSZ - 16 - 24 - 16);
  assert.is(gistGetFlags(page) & F_TUPLES_DELETED, F_TUPLES_DELETED);
});

test('PAGE_UPDATE block 1 (left child) gets NSN = record end, F_FOLLOW_RIGHT cleared', () => {
  const child = pageWith(F_LEAF | F_FOLLOW_RIGHT, [16]);
  gistSetNsn(child, 0x50);
  const update = record(0x00, u16s(0, 1), [block(0, 3, tuple(16, 9)), block(1, 7, new Uint8Array(0))]);
  gistRedo.redo(child, update, 1);
  assert.is(gistGetNsn(child), END_LSN);
  assert.is(gistGetFlags(child) & F_FOLLOW_RIGHT, 0);
  assert.is(pageGetMaxOffsetNumber(child), 1, 'the child keeps its tuples');
  assert.is(pageGetLsn(child), END_LSN);
});

test('DELETE removes the listed offsets, clears F_HAS_GARBAGE and sets F_TUPLES_DELETED', () => {
  const page = pageWith(F_LEAF | F_HAS_GARBAGE, [16, 16, 16]);
  const main = concat(new Uint8Array([0x10, 0, 0, 0]), u16s(2), u16s(1, 3));
  gistRedo.redo(page, record(0x10, main, [block(0, 3, new Uint8Array(0))]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 1);
  assert.is(fillOf(page, 1), 2);
  assert.is(gistGetFlags(page), F_LEAF | F_TUPLES_DELETED);
  assert.is(pageGetLsn(page), END_LSN);
});

/** A PAGE_SPLIT main data: origrlink, orignsn, origleaf, npage, markfollowright. */
function splitMain(rightlink: number, nsn: number, leaf: boolean, pages: number, followRight: boolean): Uint8Array {
  const main = new Uint8Array(24);
  const view = new DataView(main.buffer);
  view.setUint32(0, rightlink, true);
  view.setUint32(8, nsn % 0x1_0000_0000, true);
  view.setUint32(12, Math.floor(nsn / 0x1_0000_0000), true);
  main[16] = leaf ? 1 : 0;
  view.setUint16(18, pages, true);
  main[20] = followRight ? 1 : 0;
  return main;
}

function splitData(...tuples: Uint8Array[]): Uint8Array {
  const count = new Uint8Array(4);
  new DataView(count.buffer).setInt32(0, tuples.length, true);
  return concat(count, ...tuples);
}

test('PAGE_SPLIT rebuilds each half: rightlink chain, original NSN, F_FOLLOW_RIGHT on all but the last', () => {
  const split = record(0x30, splitMain(99, 0x77, true, 2, true), [
    block(1, 5, splitData(tuple(16, 1), tuple(16, 2)), true), block(2, 12, splitData(tuple(24, 3)), true),
  ]);
  const left = new Uint8Array(BLCKSZ).fill(0xee);
  const right = new Uint8Array(BLCKSZ).fill(0xee);
  assert.ok(redoBlock(left, split, 1));
  assert.ok(redoBlock(right, split, 2));
  assert.is(pageGetMaxOffsetNumber(left), 2);
  assert.equal([fillOf(left, 1), fillOf(left, 2), fillOf(right, 1)], [1, 2, 3]);
  assert.is(gistGetRightlink(left), 12, 'left points at the next half');
  assert.is(gistGetRightlink(right), 99, 'the last half takes the original rightlink');
  assert.is(gistGetNsn(left), 0x77);
  assert.is(gistGetNsn(right), 0x77);
  assert.is(gistGetFlags(left), F_LEAF | F_FOLLOW_RIGHT);
  assert.is(gistGetFlags(right), F_LEAF);
  assert.is(pageGetLsn(right), END_LSN);
});

test('PAGE_SPLIT of the root: block 0 becomes an inner page, no follow-right anywhere', () => {
  const split = record(0x30, splitMain(99, 0x77, true, 2, true), [
    block(1, 0, splitData(tuple(16, 1)), true), block(2, 12, splitData(tuple(16, 2)), true),
  ]);
  const root = new Uint8Array(BLCKSZ);
  const other = new Uint8Array(BLCKSZ);
  redoBlock(root, split, 1);
  redoBlock(other, split, 2);
  assert.is(gistGetFlags(root), 0, 'the root is not a leaf any more');
  assert.is(gistGetRightlink(root), INVALID_BLOCK_NUMBER);
  assert.is(gistGetFlags(other), F_LEAF, 'a root split marks no follow-right');
});

test('PAGE_SPLIT block 0 is the left child: NSN and follow-right fixed, nothing else', () => {
  const split = record(0x30, splitMain(99, 0x77, false, 1, false), [
    block(0, 8, new Uint8Array(0)), block(1, 5, splitData(tuple(16, 1)), true),
  ]);
  const child = pageWith(F_LEAF | F_FOLLOW_RIGHT, [16, 16]);
  redoBlock(child, split, 0);
  assert.is(gistGetNsn(child), END_LSN);
  assert.is(gistGetFlags(child), F_LEAF);
  assert.is(pageGetMaxOffsetNumber(child), 2);
});

test('PAGE_DELETE marks the leaf deleted with its deleteXid and removes the parent downlink', () => {
  const main = new Uint8Array(10);
  new DataView(main.buffer).setBigUint64(0, 0x1_0000_0305n, true);
  main[8] = 2;
  const deletion = record(0x60, main, [block(0, 9, new Uint8Array(0)), block(1, 1, new Uint8Array(0))]);
  const leaf = pageWith(F_LEAF, []);
  gistRedo.redo(leaf, deletion, 0);
  assert.is(gistGetFlags(leaf), F_LEAF | F_DELETED);
  assert.is(pageGetLower(leaf), 32);
  assert.is(readU32(leaf, 24), 0x305);
  assert.is(readU32(leaf, 28), 1);
  const parent = pageWith(0, [16, 16, 16]);
  gistRedo.redo(parent, deletion, 1);
  assert.equal([pageGetMaxOffsetNumber(parent), fillOf(parent, 1), fillOf(parent, 2)], [2, 1, 3]);
  assert.is(pageGetLsn(parent), END_LSN);
});

test('PAGE_REUSE and ASSIGN_LSN reference no page: asking to redo a block is an error', () => {
  for (const info of [0x20, 0x70]) {
    const page = pageWith(F_LEAF, [16]);
    try {
      gistRedo.redo(page, record(info, new Uint8Array(24), []), 0);
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_REDO_FAILED'), String(error));
    }
  }
});

test('after a restored image, the left child of PAGE_UPDATE still gets its NSN (gistAfterImageRestore)', () => {
  const child = pageWith(F_LEAF | F_FOLLOW_RIGHT, [16]);
  const update = record(0x00, u16s(0, 0), [block(0, 3, new Uint8Array(0)), block(1, 7, new Uint8Array(0))]);
  assert.not.ok(gistAfterImageRestore(child, update, 0), 'the target page is not touched');
  assert.ok(gistAfterImageRestore(child, update, 1));
  assert.is(gistGetNsn(child), END_LSN);
  assert.is(gistGetFlags(child) & F_FOLLOW_RIGHT, 0);
  gistSetFlags(child, F_LEAF);
  assert.is(readU16(child, BLCKSZ - 4), F_LEAF, 'flags live at special + 12');
});

test.run();
