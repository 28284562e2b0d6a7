/** Byte-exact round trips of the value codec and the CRC-32C check value. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c } from '../../../src/storage/checksum.js';
import {
  CopiedWalRecordWriter, decodeValue, encodedWillInit, encodeValue, SingleClogStatusWriter, SingleVisibilityClearWriter, ValueObjectWriter,
  WalRecordWriter, type ValueWriter,
} from '../../../src/storage/value-codec.js';
import type { Value } from '../../../src/value.js';
import { isStrataError } from '../../../src/errors.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

test('crc32c matches the standard check value and continues a running checksum', () => {
  const text = Buffer.from('123456789');
  assert.is(crc32c(text), 0xe3069283);
  assert.is(crc32c(text.subarray(4), crc32c(text.subarray(0, 4))), 0xe3069283);
  assert.is(crc32c(new Uint8Array(0)), 0);
});

test('image encodes as tag 1 then the bytes', () => {
  const value: Value = { kind: 'image', bytes: Uint8Array.of(0xde, 0xad) };
  assert.is(hex(encodeValue(value)), '01dead');
  assert.equal(decodeValue(encodeValue(value)), value);
});

test('walRecord encodes tag, willInit flag and block id', () => {
  const value: Value = { kind: 'walRecord', willInit: true, blockId: 3, record: Uint8Array.of(1, 2, 3) };
  assert.is(hex(encodeValue(value)), '020103010203');
  assert.equal(decodeValue(encodeValue(value)), value);
  assert.ok(encodedWillInit(encodeValue(value), 0));
  assert.not.ok(encodedWillInit(encodeValue({ ...value, willInit: false }), 0));
});

test('every strata record kind round-trips byte-exactly', () => {
  const values: Value[] = [
    { kind: 'strataRecord', willInit: false, record: { kind: 'ClearVisibilityMapFlags', heapBlocks: [7, 0xfffffffe], flags: 3 } },
    { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetCommitted', xids: [100, 101, 4000000000], timestamp: 757382400123456 } },
    { kind: 'strataRecord', willInit: true, record: { kind: 'ClogSetAborted', xids: [] } },
    { kind: 'strataRecord', willInit: false, record: { kind: 'MultixactOffsetCreate', multiXactId: 42, offset: 99 } },
    { kind: 'strataRecord', willInit: false, record: { kind: 'MultixactMembersCreate', offset: 5, members: [{ xid: 9, status: 1 }, { xid: 10, status: 5 }] } },
    { kind: 'strataRecord', willInit: false, record: { kind: 'MultixactOffsetsSet', entries: [{ multiXactId: 3, offset: 2 }, { multiXactId: 4, offset: 0xfffffffe }] } },
    { kind: 'strataRecord', willInit: false, record: { kind: 'TruncateVisibilityMap', heapBlocks: 32679 } },
    { kind: 'strataRecord', willInit: false, record: { kind: 'HeapSetAllVisible' } },
  ];
  for (const value of values) {
    const bytes = encodeValue(value);
    assert.equal(decodeValue(bytes), value);
    assert.is(hex(encodeValue(decodeValue(bytes))), hex(bytes));
  }
});

test('multixact offset record has its documented golden bytes', () => {
  const value: Value = { kind: 'strataRecord', willInit: false, record: { kind: 'MultixactOffsetCreate', multiXactId: 0x01020304, offset: 0x0a } };
  assert.is(hex(encodeValue(value)), '030004' + '04030201' + '0a000000');
});

test('decode copies only when asked', () => {
  const bytes = encodeValue({ kind: 'image', bytes: Uint8Array.of(5, 6) });
  const view = decodeValue(bytes);
  const copy = decodeValue(bytes, true);
  bytes[1] = 9;
  assert.is(view.kind === 'image' && view.bytes[0], 9);
  assert.is(copy.kind === 'image' && copy.bytes[0], 5);
});

test('unknown tags and truncated records are PS_ERR_IO', () => {
  for (const bad of [Uint8Array.of(9, 0), Uint8Array.of(2, 0), Uint8Array.of(3, 0, 2, 1), new Uint8Array(0)]) {
    try {
      decodeValue(bad);
      assert.unreachable('decode should fail');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
    }
  }
});

function written(writer: ValueWriter, offset: number): Uint8Array {
  const target = new Uint8Array(offset + writer.encodedLength + 4).fill(0xee);
  writer.writeInto(target, offset);
  return target.subarray(offset, offset + writer.encodedLength);
}

test('WalRecordWriter writes the same bytes as encodeValue of the walRecord', () => {
  const record = Uint8Array.of(9, 8, 7, 6, 5);
  const value: Value = { kind: 'walRecord', willInit: true, blockId: 7, record };
  assert.is(hex(written(new WalRecordWriter().reset(record, 7, true), 5)), hex(encodeValue(value)));
  assert.equal(decodeValue(written(new WalRecordWriter().reset(record, 2, false), 0)), { ...value, willInit: false, blockId: 2 });
});

test('ValueObjectWriter writes the same bytes as encodeValue for every value kind', () => {
  const values: Value[] = [
    { kind: 'image', bytes: Uint8Array.of(1, 2, 3) },
    { kind: 'walRecord', willInit: false, blockId: 0, record: Uint8Array.of(4) },
    { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetCommitted', xids: [5, 6], timestamp: 12.5 } },
  ];
  const writer = new ValueObjectWriter();
  for (const value of values) assert.is(hex(written(writer.reset(value), 3)), hex(encodeValue(value)));
});

test('CopiedWalRecordWriter writes the same bytes as encodeValue, the record copied by its callback', () => {
  const record = Uint8Array.of(9, 8, 7, 6, 5);
  const value: Value = { kind: 'walRecord', willInit: true, blockId: 3, record };
  const writer = new CopiedWalRecordWriter<Uint8Array>((source, target, offset) => target.set(source, offset));
  assert.is(hex(written(writer.reset(record, record.length, 3, true), 4)), hex(encodeValue(value)));
});

test('SingleClogStatusWriter writes the same bytes as encodeValue of a one-xid commit or abort', () => {
  const writer = new SingleClogStatusWriter();
  const commit: Value = { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetCommitted', xids: [0xfffffff0], timestamp: 7.25e14 } };
  const abort: Value = { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetAborted', xids: [42] } };
  assert.is(hex(written(writer.reset(0xfffffff0, true, 7.25e14), 2)), hex(encodeValue(commit)));
  assert.is(hex(written(writer.reset(42, false, 123), 0)), hex(encodeValue(abort)));
});

test('SingleVisibilityClearWriter writes the same bytes as encodeValue of a one-block clear', () => {
  const value: Value = { kind: 'strataRecord', willInit: false, record: { kind: 'ClearVisibilityMapFlags', heapBlocks: [0x12345678], flags: 3 } };
  assert.is(hex(written(new SingleVisibilityClearWriter().reset(0x12345678, 3), 1)), hex(encodeValue(value)));
});

test.run();
