/**
 * PackedRecords (columns instead of record objects): decoding into a PackedRecordsBuilder and
 * reading through PackedRecordView gives exactly the fields of the object decoder, in every
 * chunking; materialize() makes records that outlive the view; truncate drops whole records; and
 * a batch whose columns do not fit together is recognized.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { PackedRecordsBuilder, packedRecordsProblem, RECORD_FIELDS, type PackedRecords } from '../../../src/wal/packed-records.js';
import type { DecodedRecord } from '../../../src/wal/types.js';
import { WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import { mainDataByte, PackedRecordView, recordSource, recordSourceOffset } from '../../../src/wal/xlog-record.js';
import { filler, PAGE, WalBuilder } from './wal-builder.js';

const SEGMENT = 0x1000000;
const START = 5 * SEGMENT;
const REL = { spcNode: 1663, dbNode: 16400, relNode: 16500 };
const OTHER_REL = { spcNode: 1663, dbNode: 16400, relNode: 16600 };

/** Every field a consumer can read, as plain data. */
function fieldsOf(record: DecodedRecord): unknown {
  return {
    lsn: record.lsn, endLsn: record.endLsn, prevLsn: record.prevLsn, xid: record.xid, rmgrId: record.rmgrId, info: record.info,
    totalLength: record.totalLength, origin: record.origin, toplevelXid: record.toplevelXid,
    mainData: [...record.mainData], record: [...record.record],
    blocks: record.blocks.map((block) => ({
      blockId: block.blockId, rel: { ...block.rel }, forkNumber: block.forkNumber, blockNumber: block.blockNumber,
      willInit: block.willInit, hasImage: block.hasImage, applyImage: block.applyImage, imageCompression: block.imageCompression,
      imageBytes: block.imageBytes === undefined ? undefined : [...block.imageBytes], holeOffset: block.holeOffset,
      holeLength: block.holeLength, data: [...block.data],
    })),
  };
}

/** WAL with blocks of two relations, an image with a hole, origin/toplevel headers, records over page boundaries. */
function mixedWal(): WalBuilder {
  const wal = new WalBuilder(START, { prevLsn: START - 0x100 });
  const image = filler(PAGE - 1000, 9);
  wal.add({ rmgr: 10, info: 0x00, xid: 735, blocks: [{ id: 0, rel: REL, block: 7, data: filler(30) }], mainData: filler(3) });
  wal.add({
    rmgr: 11, info: 0x10, xid: 0xfffffff0, origin: 3, toplevelXid: 700,
    blocks: [
      { id: 0, rel: REL, block: 0xfffffffe, willInit: true, image: { bytes: image, holeOffset: 200, holeLength: 1000, info: 0x03 } },
      { id: 2, rel: OTHER_REL, fork: 2, block: 1, data: filler(12, 5) },
      { id: 4, sameRel: true, block: 9 },
    ],
    mainData: filler(60, 2),
  });
  wal.add({ rmgr: 0, info: 0xb0, mainData: filler(17_000, 2) }); // spans two page boundaries
  for (let index = 0; index < 40; index++) wal.add({ rmgr: 1, info: 0x00, xid: 800 + index, mainData: filler(40 + index, index) });
  return wal;
}

function decodeObjects(bytes: Uint8Array): DecodedRecord[] {
  const decoder = new WalStreamDecoder(START);
  decoder.feed(bytes);
  const records: DecodedRecord[] = [];
  for (;;) {
    try {
      const record = decoder.next();
      if (record === undefined) return records;
      records.push(record);
    } catch (error) {
      if (isStrataError(error, 'PS_ERR_WAL_CORRUPT') && error.context.endOfWal === true) return records;
      throw error;
    }
  }
}

function decodePacked(bytes: Uint8Array, chunk: number, sharedMemory = false): PackedRecords[] {
  const decoder = new WalStreamDecoder(START, { sharedMemory });
  const builder = new PackedRecordsBuilder();
  const batches: PackedRecords[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    decoder.feed(bytes.subarray(offset, Math.min(bytes.length, offset + chunk)));
    let ended = false;
    try {
      while (decoder.nextInto(builder)) { /* drained */ }
    } catch (error) {
      if (!(isStrataError(error, 'PS_ERR_WAL_CORRUPT') && error.context.endOfWal === true)) throw error;
      ended = true;
    }
    if (builder.count > 0) batches.push(builder.finish());
    if (ended) break;
  }
  return batches;
}

function viewAll(batches: PackedRecords[]): unknown[] {
  const view = new PackedRecordView();
  const fields: unknown[] = [];
  for (const batch of batches) {
    view.reset(batch);
    for (let index = 0; index < batch.count; index++) fields.push(fieldsOf(view.moveTo(index)));
  }
  return fields;
}

test('packed decoding reads back exactly the object decoder fields, in every chunking', () => {
  const bytes = mixedWal().bytes();
  const expected = decodeObjects(bytes).map(fieldsOf);
  assert.is(expected.length, 43);
  for (const chunk of [bytes.length, PAGE, 1000, 333, 24]) {
    assert.equal(viewAll(decodePacked(bytes, chunk)), expected, `chunk ${chunk}`);
  }
  assert.equal(viewAll(decodePacked(bytes, 4096, true)), expected, 'shared memory');
});

test('with sharedMemory the bytes lie in SharedArrayBuffers, and the fast accessors agree with the views', () => {
  const batches = decodePacked(mixedWal().bytes(), 5000, true);
  const view = new PackedRecordView();
  for (const batch of batches) {
    assert.ok(batch.sources.every((source) => source instanceof SharedArrayBuffer));
    view.reset(batch);
    for (let index = 0; index < batch.count; index++) {
      view.moveTo(index);
      const offset = recordSourceOffset(view);
      assert.equal([...recordSource(view).subarray(offset, offset + view.totalLength)], [...view.record]);
      assert.is(mainDataByte(view, 1), view.mainData[1]);
      assert.is(mainDataByte(view, view.mainData.length), undefined);
    }
  }
});

test('materialize() gives records that keep their fields after the view moves on', () => {
  const bytes = mixedWal().bytes();
  const [batch] = decodePacked(bytes, bytes.length);
  assert.ok(batch);
  const view = new PackedRecordView().reset(batch);
  const kept = [view.moveTo(1).materialize(), view.moveTo(0).materialize()];
  view.moveTo(batch.count - 1);
  const expected = decodeObjects(bytes);
  assert.equal(fieldsOf(kept[0]!), fieldsOf(expected[1]!));
  assert.equal(fieldsOf(kept[1]!), fieldsOf(expected[0]!));
});

test('truncate drops whole records with their blocks; finish starts an empty batch', () => {
  const bytes = mixedWal().bytes();
  const decoder = new WalStreamDecoder(START);
  decoder.feed(bytes);
  const builder = new PackedRecordsBuilder();
  assert.ok(decoder.nextInto(builder));
  assert.ok(decoder.nextInto(builder));
  builder.truncate(1);
  const batch = builder.finish();
  assert.is(batch.count, 1);
  assert.is(batch.blocks.length / 8, 1, 'the second record\'s three blocks are gone');
  assert.is(packedRecordsProblem(batch), undefined);
  assert.equal(viewAll([batch]), decodeObjects(bytes).slice(0, 1).map(fieldsOf));
  assert.is(builder.count, 0);
  assert.is(builder.lastEndLsn, undefined);
});

test('current() reads the records so far in place; clear() empties the builder for the next batch', () => {
  const bytes = mixedWal().bytes();
  const expected = decodeObjects(bytes).map(fieldsOf);
  const builder = new PackedRecordsBuilder();
  for (let round = 0; round < 3; round++) {
    const decoder = new WalStreamDecoder(START);
    decoder.feed(bytes);
    try {
      while (decoder.nextInto(builder)) { /* all of them */ }
    } catch (error) {
      if (!(isStrataError(error, 'PS_ERR_WAL_CORRUPT') && error.context.endOfWal === true)) throw error;
    }
    const batch = builder.current();
    assert.is(packedRecordsProblem(batch), undefined);
    assert.equal(viewAll([batch]), expected, `round ${round}`);
    builder.clear();
    assert.is(builder.count, 0);
    assert.is(builder.lastEndLsn, undefined);
  }
});

test('a batch whose columns do not fit together is named', () => {
  const [batch] = decodePacked(mixedWal().bytes(), 1 << 20);
  assert.ok(batch);
  assert.is(packedRecordsProblem(batch), undefined);
  assert.ok(packedRecordsProblem({ ...batch, count: batch.count + 1 }));
  assert.ok(packedRecordsProblem({ ...batch, records: batch.records.subarray(RECORD_FIELDS) }));
  assert.ok(packedRecordsProblem({ ...batch, blocks: batch.blocks.subarray(8) }));
  assert.ok(packedRecordsProblem({ ...batch, sources: [] }));
});

test('a corrupt record fails nextInto with the same error as next()', () => {
  const wal = mixedWal();
  const bytes = wal.bytes();
  const corrupt = bytes.slice();
  const second = wal.recordLsns[1]! - START;
  corrupt[second + 40] = corrupt[second + 40]! ^ 0xff;
  const decoder = new WalStreamDecoder(START);
  decoder.feed(corrupt);
  const builder = new PackedRecordsBuilder();
  assert.ok(decoder.nextInto(builder));
  try {
    decoder.nextInto(builder);
    assert.unreachable('no error');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_WAL_CORRUPT'), String(error));
    assert.is(error.context.lsn, wal.recordLsns[1]);
  }
  assert.is(builder.count, 1);
});

test.run();
