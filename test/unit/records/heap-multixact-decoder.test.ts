// Typed decoding of heap update (flags, prefix/suffix, tuple header), heap insert, multi-insert
// tuples, and MULTIXACT CREATE_ID / TRUNCATE_ID bodies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RmgrId } from '../../../src/wal/types.js';
import {
  XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED, XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED, XLH_UPDATE_PREFIX_FROM_OLD, XLH_UPDATE_SUFFIX_FROM_OLD,
  XLOG_HEAP2_MULTI_INSERT, XLOG_HEAP_HOT_UPDATE, XLOG_HEAP_INIT_PAGE, XLOG_HEAP_INSERT, XLOG_HEAP_UPDATE, decodeHeap2Record, decodeHeapRecord,
} from '../../../src/wal/records/heap.js';
import { XLOG_MULTIXACT_CREATE_ID, XLOG_MULTIXACT_TRUNCATE_ID, decodeMultiXactRecord } from '../../../src/wal/records/multixact.js';
import { StructWriter, makeBlock, makeRecord } from './record-builder.js';

const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };

test('heap update: flags, offsets, prefix and suffix lengths, tuple header', () => {
  const flags = XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED | XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED | XLH_UPDATE_PREFIX_FROM_OLD | XLH_UPDATE_SUFFIX_FROM_OLD;
  const main = new StructWriter().u32(700).u16(3).u8(0x10).u8(flags).u32(0).u16(9).bytes();
  const data = new StructWriter().u16(4).u16(6).u16(0x0803).u16(0x0902).u8(24).raw([1, 2, 3]).bytes();
  const record = makeRecord({
    lsn: 1, rmgrId: RmgrId.Heap, info: XLOG_HEAP_UPDATE | XLOG_HEAP_INIT_PAGE, mainData: main,
    blocks: [makeBlock({ rel, blockNumber: 10, data }), makeBlock({ blockId: 1, rel, blockNumber: 4 })],
  });
  const decoded = decodeHeapRecord(record);
  assert.is(decoded.type, 'update');
  if (decoded.type !== 'update') return;
  assert.is(decoded.initPage, true);
  assert.equal([decoded.oldXmax, decoded.oldOffsetNumber, decoded.oldInfobitsSet, decoded.flags], [700, 3, 0x10, flags]);
  assert.equal([decoded.newXmax, decoded.newOffsetNumber], [0, 9]);
  assert.equal([decoded.prefixLength, decoded.suffixLength], [4, 6]);
  assert.equal(decoded.tuple && [decoded.tuple.infomask2, decoded.tuple.infomask, decoded.tuple.hoff, [...decoded.tuple.data]], [0x0803, 0x0902, 24, [1, 2, 3]]);
});

test('hot update without block data (full-page image) has no tuple', () => {
  const main = new StructWriter().u32(1).u16(1).u8(0).u8(0).u32(0).u16(2).bytes();
  const decoded = decodeHeapRecord(makeRecord({ lsn: 1, rmgrId: RmgrId.Heap, info: XLOG_HEAP_HOT_UPDATE, mainData: main, blocks: [makeBlock({ rel, blockNumber: 0 })] }));
  assert.is(decoded.type, 'hotUpdate');
  if (decoded.type === 'hotUpdate') assert.is(decoded.tuple, undefined);
});

test('heap insert: offset, flags and tuple', () => {
  const data = new StructWriter().u16(2).u16(0x0800).u8(24).raw([9, 9]).bytes();
  const decoded = decodeHeapRecord(makeRecord({ lsn: 1, rmgrId: RmgrId.Heap, info: XLOG_HEAP_INSERT, mainData: new StructWriter().u16(7).u8(1).bytes(), blocks: [makeBlock({ rel, blockNumber: 3, data })] }));
  assert.equal(decoded.type === 'insert' && [decoded.offsetNumber, decoded.flags, decoded.tuple?.hoff, decoded.tuple?.data.length], [7, 1, 24, 2]);
});

test('multi-insert on an initialized page numbers tuples from 1 and honours SHORTALIGN', () => {
  const main = new StructWriter().u8(0).u8(0).u16(2).bytes();
  const data = new StructWriter().u16(3).u16(1).u16(2).u8(24).raw([1, 2, 3]).pad(2).u16(1).u16(5).u16(6).u8(24).raw([4]).bytes();
  const decoded = decodeHeap2Record(makeRecord({ lsn: 1, rmgrId: RmgrId.Heap2, info: XLOG_HEAP2_MULTI_INSERT | XLOG_HEAP_INIT_PAGE, mainData: main, blocks: [makeBlock({ rel, blockNumber: 0, data })] }));
  assert.is(decoded.type, 'multiInsert');
  if (decoded.type !== 'multiInsert') return;
  assert.equal(decoded.tuples?.map((tuple) => [tuple.offsetNumber, tuple.infomask2, [...tuple.data]]), [[1, 1, [1, 2, 3]], [2, 5, [4]]]);
});

test('multixact create: id, offset and members with status', () => {
  const main = new StructWriter().u32(77).u32(1000).u32(2).u32(500).u32(1).u32(501).u32(5).bytes();
  const decoded = decodeMultiXactRecord(makeRecord({ lsn: 1, rmgrId: RmgrId.MultiXact, info: XLOG_MULTIXACT_CREATE_ID, mainData: main }));
  assert.equal(decoded, { type: 'create', multiXactId: 77, offset: 1000, members: [{ xid: 500, status: 1 }, { xid: 501, status: 5 }] });
});

test('multixact truncate: five fields', () => {
  const main = new StructWriter().u32(5).u32(1).u32(4000).u32(0).u32(9000).bytes();
  const decoded = decodeMultiXactRecord(makeRecord({ lsn: 1, rmgrId: RmgrId.MultiXact, info: XLOG_MULTIXACT_TRUNCATE_ID, mainData: main }));
  assert.equal(decoded, { type: 'truncate', oldestMultiDb: 5, startTruncateOffset: 1, endTruncateOffset: 4000, startTruncateMember: 0, endTruncateMember: 9000 });
});

test.run();
