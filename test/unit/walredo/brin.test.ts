/**
 * BRIN redo (src/walredo/brin.ts) on hand-built pages and records, one test per record type:
 * CREATE_INDEX, INSERT (with and without INIT_PAGE), UPDATE, SAMEPAGE_UPDATE, REVMAP_EXTEND,
 * DESUMMARIZE; plus the no-compact delete rule (unused line pointer unless it is the last one).
 * The broad WAL of /work/briefs/cwal checks the same code byte for byte.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BRIN_META_MAGIC, BRIN_PAGETYPE_META, BRIN_PAGETYPE_REGULAR, BRIN_PAGETYPE_REVMAP, brinPageInit, brinRedo, pageIndexTupleDeleteNoCompact,
} from '../../../src/walredo/brin.js';
import {
  BLCKSZ, LP_UNUSED, itemIdGet, lpFlags, pageAddItem, pageGetItem, pageGetLower, pageGetLsn, pageGetMaxOffsetNumber, pageGetUpper,
  pageSetLsn, readU16, readU32,
} from '../../../src/walredo/page.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { testBlock, testRecord } from './redo-fixtures.js';

const BRIN = 17;
const END_LSN = 0x1e11_f058;

function block(blockId: number, blockNumber: number, data: Uint8Array = new Uint8Array(0), willInit = false): DecodedBlock {
  return testBlock({ blockId, blockNumber, relNode: 16419, data, willInit });
}

function record(info: number, main: Uint8Array, blocks: DecodedBlock[]): DecodedRecord {
  return testRecord({ rmgrId: BRIN, info, mainData: main, blocks, endLsn: END_LSN });
}

/** Little-endian bytes of the given (value, width) fields, in order. */
function fields(...parts: [number, 2 | 4][]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, [, width]) => sum + width, 0));
  const view = new DataView(out.buffer);
  let position = 0;
  for (const [value, width] of parts) {
    if (width === 2) view.setUint16(position, value, true);
    else view.setUint32(position, value, true);
    position += width;
  }
  return out;
}

function summary(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

function regularPage(sizes: number[]): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  brinPageInit(page, BRIN_PAGETYPE_REGULAR);
  sizes.forEach((size, index) => assert.is(pageAddItem(page, summary(size, index + 1), 0, 0), index + 1));
  pageSetLsn(page, 0x100);
  return page;
}

function revmapPage(): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  brinPageInit(page, BRIN_PAGETYPE_REVMAP);
  pageSetLsn(page, 0x100);
  return page;
}

/** The revmap entry at `index`: [block, offset]. */
function revmapEntry(page: Uint8Array, index: number): [number, number] {
  const position = 24 + index * 6;
  return [readU16(page, position) * 0x10000 + readU16(page, position + 2), readU16(page, position + 4)];
}

test('CREATE_INDEX initializes the meta page (magic, version, pagesPerRange, pd_lower 40)', () => {
  const page = new Uint8Array(BLCKSZ);
  brinRedo.redo(page, record(0x00, fields([4, 4], [1, 2]), [block(0, 0, undefined, true)]), 0);
  assert.is(readU16(page, BLCKSZ - 2), BRIN_PAGETYPE_META);
  assert.equal([readU32(page, 24), readU32(page, 28), readU32(page, 32), readU32(page, 36)], [BRIN_META_MAGIC, 1, 4, 0]);
  assert.is(pageGetLower(page), 40);
  assert.is(pageGetUpper(page), BLCKSZ - 8);
  assert.is(pageGetLsn(page), END_LSN);
});

test('INSERT+INIT re-initializes the regular page, then adds the tuple; block 1 points the revmap at it', () => {
  const regular = new Uint8Array(BLCKSZ);
  const revmap = revmapPage();
  const tuple = summary(20, 0x33);
  const insert = record(0x80 | 0x10, fields([8, 4], [4, 4], [1, 2]), [block(0, 2, tuple, true), block(1, 1)]);
  brinRedo.redo(regular, insert, 0);
  brinRedo.redo(revmap, insert, 1);
  assert.is(readU16(regular, BLCKSZ - 2), BRIN_PAGETYPE_REGULAR);
  assert.is(pageGetMaxOffsetNumber(regular), 1);
  assert.equal(pageGetItem(regular, 1), { offset: BLCKSZ - 8 - 24, length: 20 });
  assert.equal(revmapEntry(revmap, 2), [2, 1], 'heap block 8 / 4 pages per range = entry 2, (block 2, offset 1)');
  assert.is(pageGetLsn(regular), END_LSN);
  assert.is(pageGetLsn(revmap), END_LSN);
});

test('INSERT without INIT reuses an unused line pointer at its offset (overwrite mode)', () => {
  const regular = regularPage([16, 16, 16]);
  pageIndexTupleDeleteNoCompact(regular, 2);
  brinRedo.redo(regular, record(0x10, fields([0, 4], [1, 4], [2, 2]), [block(0, 5, summary(8, 0x44)), block(1, 1)]), 0);
  assert.is(pageGetMaxOffsetNumber(regular), 3, 'no line pointer added');
  const item = pageGetItem(regular, 2);
  assert.is(item.length, 8);
  assert.is(regular[item.offset], 0x44);
});

test('UPDATE deletes the old tuple without compaction (block 2) and inserts the new one (block 0)', () => {
  const old = regularPage([16, 16, 16]);
  const fresh = regularPage([24]);
  const main = new Uint8Array([...fields([1, 2], [0, 2]), ...fields([12, 4], [4, 4], [2, 2])]);
  const update = record(0x20, main, [block(0, 7, summary(32, 0x55)), block(1, 1), block(2, 6)]);
  brinRedo.redo(old, update, 2);
  brinRedo.redo(fresh, update, 0);
  assert.is(pageGetMaxOffsetNumber(old), 3, 'the first line pointer stays, unused');
  assert.is(lpFlags(itemIdGet(old, 1)), LP_UNUSED);
  assert.is(pageGetItem(old, 2).offset, BLCKSZ - 8 - 16, 'the tuple stored below the deleted one moved up by 16');
  assert.is(pageGetUpper(old), BLCKSZ - 8 - 32);
  assert.is(pageGetMaxOffsetNumber(fresh), 2);
  assert.is(fresh[pageGetItem(fresh, 2).offset], 0x55);
  assert.is(pageGetLsn(old), END_LSN);
});

test('SAMEPAGE_UPDATE overwrites the tuple in place, shifting the tuples below it', () => {
  const page = regularPage([16, 16, 16]);
  brinRedo.redo(page, record(0x30, fields([2, 2]), [block(0, 2, summary(32, 0x66))]), 0);
  assert.equal(pageGetItem(page, 2), { offset: BLCKSZ - 8 - 16 - 32, length: 32 });
  assert.is(page[pageGetItem(page, 2).offset], 0x66);
  assert.is(pageGetItem(page, 3).offset, BLCKSZ - 8 - 64);
  assert.is(page[pageGetItem(page, 3).offset], 3);
  assert.is(pageGetItem(page, 1).offset, BLCKSZ - 8 - 16);
});

test('REVMAP_EXTEND moves lastRevmapPage on the meta page and initializes the new revmap page', () => {
  const meta = new Uint8Array(BLCKSZ);
  brinRedo.redo(meta, record(0x00, fields([4, 4], [1, 2]), [block(0, 0, undefined, true)]), 0);
  const target = new Uint8Array(BLCKSZ).fill(0x77);
  const extend = record(0x40, fields([1, 4]), [block(0, 0), block(1, 1, undefined, true)]);
  brinRedo.redo(meta, extend, 0);
  brinRedo.redo(target, extend, 1);
  assert.is(readU32(meta, 36), 1);
  assert.is(pageGetLower(meta), 40);
  assert.is(readU16(target, BLCKSZ - 2), BRIN_PAGETYPE_REVMAP);
  assert.is(target.subarray(0, BLCKSZ - 8).some((byte, index) => index >= 24 && byte !== 0), false);
  assert.is(pageGetLsn(target), END_LSN);
});

test('DESUMMARIZE invalidates the revmap entry and deletes the last tuple, shrinking pd_lower', () => {
  const revmap = revmapPage();
  const regular = regularPage([16, 16]);
  const insert = record(0x10, fields([40, 4], [4, 4], [2, 2]), [block(0, 3, summary(8, 1)), block(1, 1)]);
  brinRedo.redo(revmap, insert, 1);
  assert.equal(revmapEntry(revmap, 10), [3, 2]);
  const desummarize = record(0x50, fields([4, 4], [40, 4], [2, 2]), [block(0, 1), block(1, 3)]);
  brinRedo.redo(revmap, desummarize, 0);
  brinRedo.redo(regular, desummarize, 1);
  assert.equal(revmapEntry(revmap, 10), [0xffffffff, 0]);
  assert.is(pageGetMaxOffsetNumber(regular), 1, 'the last line pointer is removed');
  assert.is(pageGetItem(regular, 1).offset, BLCKSZ - 8 - 16);
  assert.is(pageGetUpper(regular), BLCKSZ - 8 - 16);
});

test.run();
