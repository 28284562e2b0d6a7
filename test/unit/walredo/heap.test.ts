/**
 * Heap and Heap2 redo (src/walredo/heap.ts, heap2.ts, page-heap.ts) on hand-built pages and
 * records: one test per record type at least, with the expected bytes worked out by hand from
 * heapam.c / bufpage.c / visibilitymap.c (offsets, flags), not by the code under test.
 * The same routines were checked against PostgreSQL 15 WAL written with wal_consistency_checking
 * (see the report of issue 3); these tests pin the behaviour without that WAL.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHeap2Redo } from '../../../src/walredo/heap2.js';
import { heapRedo } from '../../../src/walredo/heap.js';
import {
  BLCKSZ, itemIdGet, itemIdSet, lpFlags, lpLen, lpOff, pageAddItem, pageGetFlags, pageGetLower,
  pageGetLsn, pageGetPruneXid, pageGetUpper, pageInit, pageSetFlags, pageSetLsn, readU16, readU32, writeU16, writeU32,
} from '../../../src/walredo/page.js';
import { pageRepairFragmentation } from '../../../src/walredo/page-heap.js';
import { redoBlock } from '../../../src/walredo/redo.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { concat, struct, testBlock, testRecord } from './redo-fixtures.js';

const RM_HEAP2 = 9;
const RM_HEAP = 10;
const END_LSN = 0x1_2345_6780;
const OLD_LSN = 0x1_0000_0000;
const XID = 1000;
const PD_HAS_FREE_LINES = 1;
const PD_ALL_VISIBLE = 4;

interface BlockOptions { blockNumber?: number; fork?: number; willInit?: boolean; data?: Uint8Array }

function block(blockId: number, options: BlockOptions = {}): DecodedBlock {
  return testBlock({
    blockId, blockNumber: options.blockNumber ?? 7, relNode: 16384, data: options.data ?? new Uint8Array(0), willInit: options.willInit ?? false,
    fork: options.fork ?? 0,
  });
}

function record(rmgrId: number, info: number, mainData: Uint8Array, blocks: DecodedBlock[]): DecodedRecord {
  return testRecord({ rmgrId, info, mainData, blocks, endLsn: END_LSN, xid: XID, totalLength: 100 });
}

const ascii = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'latin1'));

interface TupleOptions { xmin?: number; xmax?: number; infomask?: number; infomask2?: number; ctid?: [number, number] }

/** A heap tuple: 23-byte header, t_hoff 24 (one padding byte), then `data`. */
function heapTuple(data: Uint8Array, options: TupleOptions = {}): Uint8Array {
  const tuple = new Uint8Array(24 + data.length);
  writeU32(tuple, 0, options.xmin ?? 500);
  writeU32(tuple, 4, options.xmax ?? 0);
  writeU32(tuple, 8, 9);
  const [ctidBlock, ctidOffset] = options.ctid ?? [7, 1];
  writeU16(tuple, 12, ctidBlock >>> 16);
  writeU16(tuple, 14, ctidBlock & 0xffff);
  writeU16(tuple, 16, ctidOffset);
  writeU16(tuple, 18, options.infomask2 ?? 2);
  writeU16(tuple, 20, options.infomask ?? 0x0800);
  tuple[22] = 24;
  tuple.set(data, 24);
  return tuple;
}

/** A heap page (LSN OLD_LSN) holding `tuples` at offsets 1..n. */
function heapPage(...tuples: Uint8Array[]): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  pageInit(page, 0);
  pageSetLsn(page, OLD_LSN);
  for (const tuple of tuples) assert.ok(pageAddItem(page, tuple, 0, 0) > 0);
  return page;
}

function tupleAt(page: Uint8Array, offsetNumber: number): number { return lpOff(itemIdGet(page, offsetNumber)); }
function ctidOf(page: Uint8Array, tuple: number): [number, number] {
  return [readU16(page, tuple + 12) * 65536 + readU16(page, tuple + 14), readU16(page, tuple + 16)];
}

// ---- Heap ----------------------------------------------------------------------------------------

test('INSERT adds the tuple below the last one, with xmin, ctid and PD_ALL_VISIBLE cleared', () => {
  const page = heapPage(heapTuple(ascii('abcd')));
  pageSetFlags(page, PD_ALL_VISIBLE);
  const data = concat(struct([2, 2], [2, 0x0802], [1, 24]), Uint8Array.of(0), ascii('wxyz'));
  redoBlock(page, record(RM_HEAP, 0x00, struct([2, 2], [1, 0x01]), [block(0, { data })]), 0);
  const itemId = itemIdGet(page, 2);
  assert.is(lpOff(itemId), 8192 - 32 - 32);
  assert.is(lpLen(itemId), 28);
  assert.is(readU32(page, 8128), XID);
  assert.is(readU32(page, 8128 + 8), 0);
  assert.equal(ctidOf(page, 8128), [7, 2]);
  assert.is(readU16(page, 8128 + 20), 0x0802);
  assert.equal([...page.subarray(8128 + 24, 8128 + 28)], [...ascii('wxyz')]);
  assert.is(pageGetLower(page), 32);
  assert.is(pageGetUpper(page), 8128);
  assert.is(pageGetFlags(page) & PD_ALL_VISIBLE, 0);
  assert.is(pageGetLsn(page), END_LSN);
});

test('INSERT+INIT initializes the page, then adds the tuple at offset 1', () => {
  const page = new Uint8Array(BLCKSZ).fill(0x5a);
  const data = concat(struct([2, 3], [2, 0x0800], [1, 24]), Uint8Array.of(0), ascii('12345678'));
  redoBlock(page, record(RM_HEAP, 0x80, struct([2, 1], [1, 0]), [block(0, { willInit: true, data })]), 0);
  assert.is(pageGetLower(page), 28);
  assert.is(pageGetUpper(page), 8192 - 32);
  assert.is(readU16(page, 16), 8192);
  assert.is(readU16(page, 18), 8192 | 4);
  assert.is(lpLen(itemIdGet(page, 1)), 32);
  assert.is(page[100], 0);
  assert.is(pageGetLsn(page), END_LSN);
});

test('DELETE sets xmax, infobits, ctid, prune xid and clears HOT_UPDATED and ALL_VISIBLE', () => {
  const page = heapPage(heapTuple(ascii('abcd'), { infomask: 0x0100 | 0x0800 | 0x0020, infomask2: 0x4000 | 2, ctid: [9, 9] }));
  pageSetFlags(page, PD_ALL_VISIBLE);
  redoBlock(page, record(RM_HEAP, 0x10, struct([4, 777], [2, 1], [1, 0x10], [1, 0x01]), [block(0)]), 0);
  const tuple = tupleAt(page, 1);
  assert.is(readU32(page, tuple + 4), 777);
  assert.is(readU32(page, tuple + 8), 0);
  assert.is(readU16(page, tuple + 20), 0x0100, 'xmax invalid and combo cid cleared, xmin committed kept');
  assert.is(readU16(page, tuple + 18), 0x2000 | 2, 'keys updated set, hot updated cleared');
  assert.equal(ctidOf(page, tuple), [7, 1]);
  assert.is(pageGetPruneXid(page), XID);
  assert.is(pageGetFlags(page) & PD_ALL_VISIBLE, 0);
});

test('DELETE of a speculative insertion (IS_SUPER) clears xmin instead of setting xmax', () => {
  const page = heapPage(heapTuple(ascii('abcd')));
  redoBlock(page, record(RM_HEAP, 0x10, struct([4, 777], [2, 1], [1, 0], [1, 0x08]), [block(0)]), 0);
  const tuple = tupleAt(page, 1);
  assert.is(readU32(page, tuple), 0);
  assert.is(readU32(page, tuple + 4), 0);
});

function updateMain(flags: number, oldOffset: number, newOffset: number): Uint8Array {
  return struct([4, 800], [2, oldOffset], [1, 0x10], [1, flags], [4, 0], [2, newOffset]);
}

test('UPDATE across pages: block 1 gets the old tuple forwarded, block 0 the new tuple', () => {
  const oldPage = heapPage(heapTuple(ascii('old!'), { infomask2: 0x4000 | 2 }));
  const newPage = heapPage(heapTuple(ascii('1111')), heapTuple(ascii('2222')));
  const data = concat(struct([2, 2], [2, 0x0800], [1, 24]), Uint8Array.of(0), ascii('new!'));
  const update = record(RM_HEAP, 0x20, updateMain(0, 1, 3), [block(0, { blockNumber: 12, data }), block(1, { blockNumber: 3 })]);
  redoBlock(oldPage, update, 1);
  const old = tupleAt(oldPage, 1);
  assert.is(readU32(oldPage, old + 4), 800);
  assert.equal(ctidOf(oldPage, old), [12, 3]);
  assert.is(readU16(oldPage, old + 18), 0x2000 | 2, 'HOT_UPDATED cleared by a non-HOT update');
  assert.is(pageGetPruneXid(oldPage), XID);
  redoBlock(newPage, update, 0);
  const added = tupleAt(newPage, 3);
  assert.is(lpLen(itemIdGet(newPage, 3)), 28);
  assert.equal(ctidOf(newPage, added), [12, 3]);
  assert.is(readU32(newPage, added), XID);
  assert.equal([...newPage.subarray(added + 24, added + 28)], [...ascii('new!')]);
  assert.is(pageGetPruneXid(newPage), 0, 'only the old page becomes prunable');
});

test('UPDATE+INIT across pages initializes the new page', () => {
  const newPage = new Uint8Array(BLCKSZ);
  const data = concat(struct([2, 2], [2, 0x0800], [1, 24]), Uint8Array.of(0), ascii('new!'));
  const update = record(RM_HEAP, 0xa0, updateMain(0, 1, 1), [block(0, { blockNumber: 12, willInit: true, data }), block(1, { blockNumber: 3 })]);
  redoBlock(newPage, update, 0);
  assert.is(pageGetLower(newPage), 28);
  assert.is(pageGetUpper(newPage), 8192 - 32);
});

test('HOT_UPDATE on one page rebuilds the new tuple from the old prefix and suffix', () => {
  const page = heapPage(heapTuple(ascii('AAAABBBBCCCC')));
  // prefix 4, suffix 4, xl_heap_header, then the bitmap part (t_hoff - 23 = 1 byte) and the middle.
  const data = concat(struct([2, 4], [2, 4], [2, 0x8002], [2, 0x2800], [1, 24]), Uint8Array.of(0), ascii('XXXX'));
  redoBlock(page, record(RM_HEAP, 0x40, updateMain(0x20 | 0x40, 1, 2), [block(0, { data })]), 0);
  const old = tupleAt(page, 1);
  assert.is(readU16(page, old + 18) & 0x4000, 0x4000, 'old tuple marked HOT_UPDATED');
  assert.equal(ctidOf(page, old), [7, 2]);
  const added = tupleAt(page, 2);
  assert.is(lpLen(itemIdGet(page, 2)), 36);
  assert.equal(Buffer.from(page.subarray(added + 24, added + 36)).toString('latin1'), 'AAAAXXXXCCCC');
  assert.is(readU16(page, added + 18), 0x8002);
});

test('UPDATE with prefix compression and a separate old page is rejected', () => {
  const newPage = heapPage(heapTuple(ascii('1111')));
  const data = concat(struct([2, 4], [2, 2], [2, 0x0800], [1, 24]), Uint8Array.of(0), ascii('XXXX'));
  const update = record(RM_HEAP, 0x20, updateMain(0x20, 1, 2), [block(0, { data }), block(1, { blockNumber: 3 })]);
  assert.throws(() => redoBlock(newPage, update, 0), /prefix/);
});

test('LOCK (lock only) sets xmax and lock bits, clears HOT_UPDATED and points ctid at itself', () => {
  const page = heapPage(heapTuple(ascii('abcd'), { infomask2: 0x4000 | 2, ctid: [7, 5] }));
  redoBlock(page, record(RM_HEAP, 0x60, struct([4, 901], [2, 1], [1, 0x02 | 0x04], [1, 0]), [block(0)]), 0);
  const tuple = tupleAt(page, 1);
  assert.is(readU32(page, tuple + 4), 901);
  assert.is(readU16(page, tuple + 20), 0x0080 | 0x0040);
  assert.is(readU16(page, tuple + 18), 2);
  assert.equal(ctidOf(page, tuple), [7, 1]);
});

test('LOCK of an updated tuple (not lock only) keeps HOT_UPDATED and the forward ctid', () => {
  const page = heapPage(heapTuple(ascii('abcd'), { infomask2: 0x4000 | 2, ctid: [7, 5] }));
  redoBlock(page, record(RM_HEAP, 0x60, struct([4, 901], [2, 1], [1, 0x01], [1, 0]), [block(0)]), 0);
  const tuple = tupleAt(page, 1);
  assert.is(readU16(page, tuple + 18), 0x4000 | 2);
  assert.equal(ctidOf(page, tuple), [7, 5]);
  assert.is(readU16(page, tuple + 20), 0x1000);
});

test('INPLACE overwrites the tuple data after t_hoff, and refuses another length', () => {
  const page = heapPage(heapTuple(ascii('abcd')));
  redoBlock(page, record(RM_HEAP, 0x70, struct([2, 1]), [block(0, { data: ascii('WXYZ') })]), 0);
  const tuple = tupleAt(page, 1);
  assert.equal(Buffer.from(page.subarray(tuple + 24, tuple + 28)).toString('latin1'), 'WXYZ');
  const other = heapPage(heapTuple(ascii('abcd')));
  assert.throws(() => redoBlock(other, record(RM_HEAP, 0x70, struct([2, 1]), [block(0, { data: ascii('WXY') })]), 0), /length/);
});

test('CONFIRM replaces the speculative token in ctid with the tuple own TID', () => {
  const page = heapPage(heapTuple(ascii('abcd'), { ctid: [0, 0xfffe] }));
  redoBlock(page, record(RM_HEAP, 0x50, struct([2, 1]), [block(0)]), 0);
  assert.equal(ctidOf(page, tupleAt(page, 1)), [7, 1]);
  assert.is(pageGetLsn(page), END_LSN);
});

test('TRUNCATE changes no page', () => {
  const page = heapPage(heapTuple(ascii('abcd')));
  const before = page.slice();
  heapRedo.redo(page, record(RM_HEAP, 0x30, struct([4, 5], [4, 1], [1, 0], [1, 0], [2, 0], [4, 0], [4, 0], [4, 16384]), []), 0);
  assert.equal(page, before);
});

// ---- Heap2 ---------------------------------------------------------------------------------------

const heap2 = createHeap2Redo({ hintBitsLogged: true });

test('PRUNE redirects, kills, frees, compacts and truncates trailing unused line pointers', () => {
  const page = heapPage(heapTuple(ascii('1111')), heapTuple(ascii('2222')), heapTuple(ascii('3333333333333333')), heapTuple(ascii('4444')));
  assert.is(tupleAt(page, 3), 8192 - 32 - 32 - 40);
  const offsets = struct([2, 1], [2, 3], [2, 2], [2, 4]);
  redoBlock(page, record(RM_HEAP2, 0x10, struct([4, 900], [2, 1], [2, 1]), [block(0, { data: offsets })]), 0);
  const first = itemIdGet(page, 1);
  assert.equal([lpFlags(first), lpOff(first), lpLen(first)], [2, 3, 0]);
  assert.equal([lpFlags(itemIdGet(page, 2)), lpLen(itemIdGet(page, 2))], [3, 0]);
  assert.equal([lpFlags(itemIdGet(page, 3)), lpOff(itemIdGet(page, 3))], [1, 8192 - 40]);
  assert.equal(Buffer.from(page.subarray(8192 - 16, 8192)).toString('latin1'), '3333333333333333');
  assert.is(pageGetUpper(page), 8192 - 40);
  assert.is(pageGetLower(page), 24 + 3 * 4, 'line pointer 4 (unused, last) truncated away');
  assert.is(pageGetFlags(page) & PD_HAS_FREE_LINES, 0);
});

test('PageRepairFragmentation packs tuples in line pointer order even when not presorted', () => {
  const page = heapPage(heapTuple(ascii('aaaa')), heapTuple(ascii('bbbbbbbbbbbb')), heapTuple(ascii('cccc')));
  // Swap line pointers 1 and 2 so offsets ascend with the line number, and free line 3's storage.
  const one = itemIdGet(page, 1);
  const two = itemIdGet(page, 2);
  itemIdSet(page, 1, lpOff(two), 1, lpLen(two));
  itemIdSet(page, 2, lpOff(one), 1, lpLen(one));
  itemIdSet(page, 3, 0, 3, 0);
  pageRepairFragmentation(page);
  assert.is(lpOff(itemIdGet(page, 1)), 8192 - 40, 'line 1 (the 36-byte tuple) goes to the top');
  assert.is(lpOff(itemIdGet(page, 2)), 8192 - 40 - 32);
  assert.equal(Buffer.from(page.subarray(8192 - 40 + 24, 8192 - 4)).toString('latin1'), 'bbbbbbbbbbbb');
  assert.equal(Buffer.from(page.subarray(8192 - 72 + 24, 8192 - 72 + 28)).toString('latin1'), 'aaaa');
  assert.is(pageGetUpper(page), 8192 - 72);
  assert.is(pageGetLower(page), 36, 'a dead line pointer is kept');
});

test('VACUUM marks dead line pointers unused and truncates the array end', () => {
  const page = heapPage(heapTuple(ascii('1111')), heapTuple(ascii('2222')), heapTuple(ascii('3333')));
  itemIdSet(page, 2, 0, 3, 0);
  itemIdSet(page, 3, 0, 3, 0);
  redoBlock(page, record(RM_HEAP2, 0x20, struct([2, 2]), [block(0, { data: struct([2, 2], [2, 3]) })]), 0);
  assert.is(pageGetLower(page), 28);
  assert.is(pageGetFlags(page) & PD_HAS_FREE_LINES, 0);
  const middle = heapPage(heapTuple(ascii('1111')), heapTuple(ascii('2222')), heapTuple(ascii('3333')));
  itemIdSet(middle, 2, 0, 3, 0);
  redoBlock(middle, record(RM_HEAP2, 0x20, struct([2, 1]), [block(0, { data: struct([2, 2]) })]), 0);
  assert.is(pageGetLower(middle), 36);
  assert.is(lpFlags(itemIdGet(middle, 2)), 0);
  assert.is(pageGetFlags(middle) & PD_HAS_FREE_LINES, PD_HAS_FREE_LINES);
});

test('FREEZE_PAGE applies each freeze plan: xmax, xvac and both infomasks', () => {
  const page = heapPage(heapTuple(ascii('1111'), { xmax: 55, infomask: 0x4000 }), heapTuple(ascii('2222')));
  const plan = concat(struct([4, 0], [2, 1], [2, 0x0002], [2, 0x0b00], [1, 0x02]), Uint8Array.of(0));
  redoBlock(page, record(RM_HEAP2, 0x30, struct([4, 600], [2, 1]), [block(0, { data: plan })]), 0);
  const tuple = tupleAt(page, 1);
  assert.is(readU32(page, tuple + 4), 0);
  assert.is(readU32(page, tuple + 8), 2, 'xvac frozen');
  assert.is(readU16(page, tuple + 20), 0x0b00);
  assert.is(readU16(page, tuple + 18), 2);
  assert.is(readU16(page, tupleAt(page, 2) + 20), 0x0800, 'other tuples untouched');
});

function visibleRecord(heapBlock: number, vmBlock: number, flags: number): DecodedRecord {
  return record(RM_HEAP2, 0x40, struct([4, 700], [1, flags]), [block(0, { fork: 2, blockNumber: vmBlock }), block(1, { blockNumber: heapBlock })]);
}

test('VISIBLE initializes a new VM page and sets the two bits of the heap block', () => {
  const vm = new Uint8Array(BLCKSZ);
  redoBlock(vm, visibleRecord(5, 0, 0x03), 0);
  assert.is(pageGetUpper(vm), 8192);
  assert.is(pageGetLower(vm), 24);
  assert.is(vm[24 + 1], 0x03 << 2, 'heap block 5: byte 1 of the map, bits 2-3');
  assert.is(pageGetLsn(vm), END_LSN);
  const second = new Uint8Array(BLCKSZ);
  redoBlock(second, visibleRecord(32672 + 6, 1, 0x01), 0);
  assert.is(second[24 + 1], 0x01 << 4, 'the second VM page maps heap blocks from 32672');
});

test('VISIBLE leaves the VM page LSN alone when the bits are already as the record says', () => {
  const vm = new Uint8Array(BLCKSZ);
  pageInit(vm, 0);
  pageSetLsn(vm, OLD_LSN);
  vm[24] = 0x01;
  redoBlock(vm, visibleRecord(0, 0, 0x01), 0);
  assert.is(pageGetLsn(vm), OLD_LSN);
  redoBlock(vm, visibleRecord(0, 0, 0x02), 0);
  assert.is(vm[24], 0x03);
  assert.is(pageGetLsn(vm), END_LSN);
});

test('VISIBLE sets PD_ALL_VISIBLE on the heap page; the LSN only when hint bits are logged', () => {
  const logged = heapPage(heapTuple(ascii('1111')));
  heap2.redo(logged, visibleRecord(7, 0, 0x01), 1);
  assert.is(pageGetFlags(logged) & PD_ALL_VISIBLE, PD_ALL_VISIBLE);
  assert.is(pageGetLsn(logged), END_LSN);
  const unlogged = heapPage(heapTuple(ascii('1111')));
  createHeap2Redo({ hintBitsLogged: false }).redo(unlogged, visibleRecord(7, 0, 0x01), 1);
  assert.is(pageGetFlags(unlogged) & PD_ALL_VISIBLE, PD_ALL_VISIBLE);
  assert.is(pageGetLsn(unlogged), OLD_LSN);
});

/** xl_multi_insert_tuple entries, each SHORTALIGNed: datalen, infomask2, infomask, hoff, data. */
function multiTuples(...datas: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  for (const data of datas) {
    if (length % 2 === 1) { parts.push(Uint8Array.of(0)); length++; }
    const part = concat(struct([2, data.length + 1], [2, 2], [2, 0x0800], [1, 24]), Uint8Array.of(0), data);
    parts.push(part);
    length += part.length;
  }
  return concat(...parts);
}

test('MULTI_INSERT puts each tuple at its offset with its own ctid', () => {
  const page = heapPage(heapTuple(ascii('1111')));
  const main = struct([1, 0], [1, 0], [2, 2], [2, 2], [2, 3]);
  redoBlock(page, record(RM_HEAP2, 0x50, main, [block(0, { data: multiTuples(ascii('abc'), ascii('defg')) })]), 0);
  assert.is(pageGetLower(page), 36);
  assert.is(lpLen(itemIdGet(page, 2)), 27);
  assert.is(lpLen(itemIdGet(page, 3)), 28);
  assert.equal(ctidOf(page, tupleAt(page, 3)), [7, 3]);
  assert.is(readU32(page, tupleAt(page, 3)), XID);
  assert.equal(Buffer.from(page.subarray(tupleAt(page, 3) + 24, tupleAt(page, 3) + 28)).toString('latin1'), 'defg');
});

test('MULTI_INSERT+INIT initializes the page and numbers tuples from 1; ALL_FROZEN_SET sets PD_ALL_VISIBLE', () => {
  const page = new Uint8Array(BLCKSZ);
  const main = struct([1, 0x20], [1, 0], [2, 2]);
  redoBlock(page, record(RM_HEAP2, 0xd0, main, [block(0, { willInit: true, data: multiTuples(ascii('abcd'), ascii('efgh')) })]), 0);
  assert.is(pageGetLower(page), 32);
  assert.is(pageGetUpper(page), 8192 - 64);
  assert.equal(ctidOf(page, tupleAt(page, 2)), [7, 2]);
  assert.is(pageGetFlags(page) & PD_ALL_VISIBLE, PD_ALL_VISIBLE);
});

test('LOCK_UPDATED sets xmax and infobits without touching ctid or HOT_UPDATED', () => {
  const page = heapPage(heapTuple(ascii('abcd'), { infomask2: 0x4000 | 2, ctid: [7, 4], infomask: 0x0020 }));
  redoBlock(page, record(RM_HEAP2, 0x60, struct([4, 321], [2, 1], [1, 0x08 | 0x02], [1, 0]), [block(0)]), 0);
  const tuple = tupleAt(page, 1);
  assert.is(readU32(page, tuple + 4), 321);
  assert.is(readU16(page, tuple + 20), 0x0020 | 0x0010 | 0x0080, 'combo cid kept: no cmax is set');
  assert.is(readU16(page, tuple + 18), 0x4000 | 2);
  assert.equal(ctidOf(page, tuple), [7, 4]);
});

test('NEW_CID changes no page', () => {
  const page = heapPage(heapTuple(ascii('abcd')));
  const before = page.slice();
  heap2.redo(page, record(RM_HEAP2, 0x70, new Uint8Array(34), []), 0);
  assert.equal(page, before);
});

test('a record for a line pointer that is not normal fails instead of writing', () => {
  const page = heapPage(heapTuple(ascii('abcd')));
  itemIdSet(page, 1, 0, 3, 0);
  const before = page.slice();
  assert.throws(() => redoBlock(page, record(RM_HEAP, 0x10, struct([4, 777], [2, 1], [1, 0], [1, 0]), [block(0)]), 0), /invalid lp/);
  assert.equal(page, before);
});

test.run();
