/**
 * Full-page images inside records: the image header variants (hole, no hole, compressed with a
 * hole length field) are decoded, and decodeBlockImage restores the exact 8192-byte page.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DecodedRecord } from '../../../src/wal/types.js';
import { decodeBlockImage, WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import { copyRecordBytes, decodeBlockImageAt, mainDataByte, mainDataLength, recordByteLength } from '../../../src/wal/xlog-record.js';
import { filler, WalBuilder } from './wal-builder.js';

const START = 0x2000000;
const HOLE_OFFSET = 200;
const HOLE_LENGTH = 6000;

/** A page with a zero hole between pd_lower and pd_upper, like a real heap page. */
function pageWithHole(): Uint8Array {
  const page = filler(8192, 11);
  page.fill(0, HOLE_OFFSET, HOLE_OFFSET + HOLE_LENGTH);
  return page;
}

function withoutHole(page: Uint8Array): Uint8Array {
  const stored = new Uint8Array(8192 - HOLE_LENGTH);
  stored.set(page.subarray(0, HOLE_OFFSET));
  stored.set(page.subarray(HOLE_OFFSET + HOLE_LENGTH), HOLE_OFFSET);
  return stored;
}

/** pglz with literals only: a valid stream that any pglz decoder must accept. */
function pglzLiterals(bytes: Uint8Array): Uint8Array {
  const output: number[] = [];
  for (let index = 0; index < bytes.length; index++) {
    if (index % 8 === 0) output.push(0);
    output.push(bytes[index]!);
  }
  return Uint8Array.from(output);
}

/** LZ4 block with one literal-only sequence. */
function lz4Literals(bytes: Uint8Array): Uint8Array {
  const output = [0xf0];
  let extra = bytes.length - 15;
  while (extra >= 255) { output.push(255); extra -= 255; }
  output.push(extra);
  return Uint8Array.from([...output, ...bytes]);
}

function decodeOne(image: { bytes: Uint8Array; holeOffset: number; holeLength: number; info: number }): DecodedRecord {
  const wal = new WalBuilder(START);
  wal.add({ rmgr: 0, info: 0xb0, blocks: [{ id: 0, block: 3, image }] });
  const decoder = new WalStreamDecoder(START);
  decoder.feed(wal.bytes());
  const record = decoder.next();
  assert.ok(record, 'record decoded');
  return record;
}

test('an uncompressed image with a hole restores the page', () => {
  const page = pageWithHole();
  const record = decodeOne({ bytes: withoutHole(page), holeOffset: HOLE_OFFSET, holeLength: HOLE_LENGTH, info: 0x03 });
  const block = record.blocks[0]!;
  assert.is(block.hasImage, true);
  assert.is(block.applyImage, true);
  assert.is(block.imageCompression, 'none');
  assert.is(block.holeOffset, HOLE_OFFSET);
  assert.is(block.holeLength, HOLE_LENGTH);
  const target = new Uint8Array(8192).fill(0xaa);
  assert.equal(decodeBlockImage(block, target), page);
});

test('an uncompressed image without a hole is the page itself; no APPLY bit means verification only', () => {
  const page = filler(8192, 4);
  const block = decodeOne({ bytes: page, holeOffset: 0, holeLength: 0, info: 0x00 }).blocks[0]!;
  assert.is(block.applyImage, false);
  assert.is(block.holeLength, 0);
  assert.equal(decodeBlockImage(block), page);
});

test('a pglz-compressed image with a hole restores the page', () => {
  const page = pageWithHole();
  const compressed = pglzLiterals(withoutHole(page));
  const block = decodeOne({ bytes: compressed, holeOffset: HOLE_OFFSET, holeLength: HOLE_LENGTH, info: 0x07 }).blocks[0]!;
  assert.is(block.imageCompression, 'pglz');
  assert.is(block.holeLength, HOLE_LENGTH);
  assert.equal(decodeBlockImage(block, new Uint8Array(8192).fill(0x55)), page);
});

test('an lz4-compressed image with a hole restores the page', () => {
  const page = pageWithHole();
  const block = decodeOne({ bytes: lz4Literals(withoutHole(page)), holeOffset: HOLE_OFFSET, holeLength: HOLE_LENGTH, info: 0x0b }).blocks[0]!;
  assert.is(block.imageCompression, 'lz4');
  assert.equal(decodeBlockImage(block), page);
});

test('an image header whose hole contradicts its length is corrupt', () => {
  try {
    decodeOne({ bytes: filler(100), holeOffset: 0, holeLength: 0, info: 0x02 });
    assert.unreachable('accepted a short image without hole or compression');
  } catch (error) {
    assert.ok(error instanceof Error && /BKPIMAGE_HAS_HOLE not set/.test(error.message), String(error));
  }
});

test('decodeBlockImageAt writes the restored page at an offset and nothing around it', () => {
  const page = pageWithHole();
  const images = [
    { bytes: withoutHole(page), holeOffset: HOLE_OFFSET, holeLength: HOLE_LENGTH, info: 0x03 },
    { bytes: lz4Literals(withoutHole(page)), holeOffset: HOLE_OFFSET, holeLength: HOLE_LENGTH, info: 0x0b },
  ];
  for (const image of images) {
    const block = decodeOne(image).blocks[0]!;
    const target = new Uint8Array(8192 + 10).fill(0xaa);
    decodeBlockImageAt(block, target, 7);
    assert.equal(target.subarray(7, 7 + 8192), page);
    assert.equal([...target.subarray(0, 7), ...target.subarray(7 + 8192)], [0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]);
  }
  const noHole = filler(8192, 4);
  const target = new Uint8Array(8193);
  decodeBlockImageAt(decodeOne({ bytes: noHole, holeOffset: 0, holeLength: 0, info: 0x02 }).blocks[0]!, target, 1);
  assert.equal(target.subarray(1), noHole);
});

test('record byte helpers read what the record and mainData views hold', () => {
  const wal = new WalBuilder(START);
  wal.add({ rmgr: 10, info: 0x00, blocks: [{ id: 0, block: 3, data: filler(20, 2) }], mainData: filler(9, 5) });
  wal.add({ rmgr: 10, info: 0x00, blocks: [], mainData: filler(300, 6) });
  const decoder = new WalStreamDecoder(START);
  decoder.feed(wal.bytes());
  for (let count = 0; count < 2; count++) {
    const record = decoder.next();
    assert.ok(record, 'record decoded');
    assert.is(recordByteLength(record), record.record.length);
    assert.is(mainDataLength(record), record.mainData.length);
    for (let index = -1; index <= record.mainData.length; index++) assert.is(mainDataByte(record, index), record.mainData[index]);
    const target = new Uint8Array(record.record.length + 2);
    copyRecordBytes(record, target, 2);
    assert.equal(target.subarray(2), record.record);
  }
});

test.run();
