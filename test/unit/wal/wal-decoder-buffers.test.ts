/**
 * WalStreamDecoder buffer ownership: records are views of the decoder's buffers, so these tests
 * check the lifetime rules that make that safe (a returned record never changes afterwards), the
 * in-place join of records that cross one page boundary (both directions, and undone when the
 * record is bad), and the zero-copy feeding paths (adoptFeed with and without headroom,
 * reserveFeed / commitFeed), which must give exactly the records `feed` gives.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import type { DecodedRecord } from '../../../src/wal/types.js';
import { WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import { filler, PAGE, WalBuilder } from './wal-builder.js';

const START = 3 * 0x1000000;

/** Records of many sizes: within a page, across one boundary (either piece smaller), across several. */
function mixedWal(start = START): { wal: WalBuilder; sizes: number[] } {
  const wal = new WalBuilder(start, { prevLsn: start - 0x100 });
  const sizes: number[] = [];
  for (let index = 0; index < 60; index++) {
    const size = index % 7 === 0 ? 20_000 + index : 300 + ((index * 2_311) % 9_000);
    sizes.push(size);
    wal.add({ rmgr: 10, info: 0, xid: index, blocks: [{ id: 0, block: index, data: filler(20, index) }], mainData: filler(size, index) });
  }
  return { wal, sizes };
}

function drainAll(decoder: WalStreamDecoder, into: DecodedRecord[], snapshots: Uint8Array[]): void {
  for (;;) {
    let record: DecodedRecord | undefined;
    try {
      record = decoder.next();
    } catch (error) {
      if (isStrataError(error, 'PS_ERR_WAL_CORRUPT') && error.context.endOfWal === true) return;
      throw error;
    }
    if (record === undefined) return;
    into.push(record);
    snapshots.push(record.record.slice());
  }
}

function checkRecords(records: DecodedRecord[], snapshots: Uint8Array[], sizes: number[], label: string): void {
  assert.is(records.length, sizes.length, `${label}: record count`);
  records.forEach((record, index) => {
    assert.equal(record.record, snapshots[index], `${label}: record ${index} changed after it was returned`);
    assert.equal(record.mainData, filler(sizes[index]!, index), `${label}: main data of record ${index}`);
    assert.equal(record.blocks[0]!.data, filler(20, index), `${label}: block data of record ${index}`);
  });
}

/** Each chunk in a fresh array with `headroom` bytes in front, handed over with adoptFeed. */
function decodeAdopted(bytes: Uint8Array, chunkBytes: number, headroom: number): { records: DecodedRecord[]; snapshots: Uint8Array[]; chunks: ArrayBufferLike[] } {
  const decoder = new WalStreamDecoder(START);
  const records: DecodedRecord[] = [];
  const snapshots: Uint8Array[] = [];
  const chunks: ArrayBufferLike[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
    const piece = bytes.subarray(offset, offset + chunkBytes);
    const chunk = new Uint8Array(headroom + piece.length);
    chunk.set(piece, headroom);
    chunks.push(chunk.buffer);
    decoder.adoptFeed(chunk, headroom, chunk.length);
    drainAll(decoder, records, snapshots);
  }
  return { records, snapshots, chunks };
}

test('returned records never change while the decoder goes on with small feeds', () => {
  const { wal, sizes } = mixedWal();
  const bytes = wal.bytes();
  for (const chunkBytes of [1_000, 3_001, 70_000]) {
    const decoder = new WalStreamDecoder(START);
    const records: DecodedRecord[] = [];
    const snapshots: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
      decoder.feed(bytes.subarray(offset, offset + chunkBytes));
      drainAll(decoder, records, snapshots);
    }
    checkRecords(records, snapshots, sizes, `chunks of ${chunkBytes}`);
  }
});

test('records crossing one page boundary are joined in place, whichever piece is smaller', () => {
  const { wal, sizes } = mixedWal();
  const { records, snapshots, chunks } = decodeAdopted(wal.bytes(), 1 << 20, 0);
  checkRecords(records, snapshots, sizes, 'adopted whole');
  let firstSmaller = 0;
  let secondSmaller = 0;
  for (const record of records) {
    const firstPiece = PAGE - (record.lsn % PAGE);
    const crossesOne = Math.floor((record.endLsn - 1) / PAGE) === Math.floor(record.lsn / PAGE) + 1;
    if (!crossesOne) continue;
    assert.ok(chunks.includes(record.record.buffer), `record at ${record.lsn} is a view, not a copy`);
    if (firstPiece <= record.totalLength - firstPiece) firstSmaller++;
    else secondSmaller++;
  }
  assert.ok(firstSmaller > 0 && secondSmaller > 0, `both directions seen (${firstSmaller}, ${secondSmaller})`);
});

test('a bad record joined in place leaves the bytes and the decoder as they were', () => {
  const wal = new WalBuilder(START, { prevLsn: START - 0x100 });
  wal.add({ rmgr: 10, info: 0, mainData: filler(7_000, 1) });
  const crossing = wal.add({ rmgr: 10, info: 0, mainData: filler(6_000, 2) }); // crosses one boundary
  const bytes = wal.bytes();
  bytes[crossing - START + 100]! ^= 0x40;
  const original = bytes.slice();
  const decoder = new WalStreamDecoder(START);
  decoder.adoptFeed(bytes, 0, bytes.length);
  assert.ok(decoder.next(), 'the first record is good');
  const messages: string[] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      decoder.next();
      assert.unreachable('bad CRC accepted');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_WAL_CORRUPT'), String(error));
      assert.is(error.context.lsn, crossing);
      messages.push(error.message);
    }
    assert.equal(bytes, original, `attempt ${attempt}: WAL bytes restored`);
  }
  assert.is(messages[1], messages[0], 'the same error again');
});

test('adoptFeed carries a cut record in the headroom; without room it copies; same records either way', () => {
  const { wal, sizes } = mixedWal();
  const bytes = wal.bytes();
  for (const headroom of [0, 64, 32 * 1024]) {
    const { records, snapshots } = decodeAdopted(bytes, 5_000, headroom);
    checkRecords(records, snapshots, sizes, `headroom ${headroom}`);
  }
});

test('LSNs beyond 2^32 (doubles, offsets taken with masks) decode the same records', () => {
  const high = 0x2_0000_0000 * 3 + 5 * 0x1000000; // 6/05000000, a segment start
  const { wal, sizes } = mixedWal(high);
  const bytes = wal.bytes();
  const decoder = new WalStreamDecoder(high);
  const records: DecodedRecord[] = [];
  const snapshots: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += 7_000) {
    decoder.feed(bytes.subarray(offset, offset + 7_000));
    drainAll(decoder, records, snapshots);
  }
  checkRecords(records, snapshots, sizes, 'high LSNs');
  assert.equal(records.map((record) => record.lsn), wal.recordLsns);
  assert.equal(records.map((record) => record.endLsn), wal.recordEnds);
});

test('reserveFeed / commitFeed read straight into the decoder and give the same records', () => {
  const { wal, sizes } = mixedWal();
  const bytes = wal.bytes();
  const decoder = new WalStreamDecoder(START);
  const records: DecodedRecord[] = [];
  const snapshots: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += 4_096) {
    const piece = bytes.subarray(offset, offset + 4_096);
    const target = decoder.reserveFeed(piece.length);
    assert.ok(target.length >= piece.length, 'reserved at least what was asked');
    target.set(piece);
    decoder.commitFeed(piece.length);
    drainAll(decoder, records, snapshots);
  }
  checkRecords(records, snapshots, sizes, 'reserved');
  assert.is(decoder.position, wal.recordEnds[wal.recordEnds.length - 1]);
});

test.run();
