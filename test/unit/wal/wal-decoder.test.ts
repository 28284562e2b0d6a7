/**
 * WalStreamDecoder on hand-built WAL: record fields, records spanning pages and segments, every
 * split offset, XLOG SWITCH padding, starting at a continuation page or mid-page, and corruption
 * (CRC, magic, pageaddr, rem_len, prev-link) reported as PS_ERR_WAL_CORRUPT with the LSN.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import type { DecodedRecord } from '../../../src/wal/types.js';
import { WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import { filler, PAGE, WalBuilder } from './wal-builder.js';

const SEGMENT = 0x1000000;
const START = 3 * SEGMENT; // 0/3000000, a segment start: long page header

/** Next record, or undefined both when bytes are missing and at the zero tail of the last page. */
function nextOrEnd(decoder: WalStreamDecoder): DecodedRecord | undefined {
  try {
    return decoder.next();
  } catch (error) {
    if (isStrataError(error, 'PS_ERR_WAL_CORRUPT') && error.context.endOfWal === true) return undefined;
    throw error;
  }
}

function decodeAll(bytes: Uint8Array, startLsn: number, options: { segmentSize?: number } = {}, chunk = bytes.length): DecodedRecord[] {
  const decoder = new WalStreamDecoder(startLsn, options);
  const records: DecodedRecord[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    decoder.feed(bytes.subarray(offset, offset + chunk));
    for (let record = nextOrEnd(decoder); record !== undefined; record = nextOrEnd(decoder)) records.push(record);
  }
  return records;
}

function expectCorrupt(action: () => unknown, lsn: number, label: string): void {
  try {
    action();
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_WAL_CORRUPT'), `${label}: wrong error ${String(error)}`);
    assert.is(error.context.lsn, lsn, `${label}: error LSN`);
    return;
  }
  assert.unreachable(`${label}: no error`);
}

function threeRecordWal(): WalBuilder {
  const wal = new WalBuilder(START, { prevLsn: START - 0x100 });
  wal.add({ rmgr: 10, info: 0x00, xid: 735, blocks: [{ id: 0, block: 7, data: filler(30) }], mainData: filler(3) });
  wal.add({ rmgr: 0, info: 0xb0, mainData: filler(17_000, 2) }); // spans two page boundaries
  wal.add({ rmgr: 1, info: 0x00, xid: 736, mainData: filler(40, 3) });
  return wal;
}

test('a record decodes to its header fields, block references and main data', () => {
  const wal = new WalBuilder(START, { prevLsn: START - 0x48 });
  const rel = { spcNode: 1663, dbNode: 16400, relNode: 16500 };
  wal.add({
    rmgr: 10, info: 0x80, xid: 999, origin: 7, toplevelXid: 900,
    blocks: [
      { id: 0, rel, block: 12, willInit: true, data: filler(10, 1) },
      { id: 3, sameRel: true, fork: 2, block: 0 },
    ],
    mainData: filler(300, 4),
  });
  const [record] = decodeAll(wal.bytes(), START);
  assert.ok(record);
  assert.is(record.lsn, START + 40);
  assert.is(record.endLsn, wal.recordEnds[0]);
  assert.is(record.prevLsn, START - 0x48);
  assert.is(record.xid, 999);
  assert.is(record.rmgrId, 10);
  assert.is(record.info, 0x80);
  assert.is(record.origin, 7);
  assert.is(record.toplevelXid, 900);
  assert.is(record.blocks.length, 2);
  assert.equal(record.blocks[0]!.rel, rel);
  assert.is(record.blocks[0]!.willInit, true);
  assert.equal(record.blocks[0]!.data, filler(10, 1));
  assert.is(record.blocks[1]!.blockId, 3);
  assert.equal(record.blocks[1]!.rel, rel);
  assert.is(record.blocks[1]!.forkNumber, 2);
  assert.is(record.blocks[1]!.data.length, 0);
  assert.equal(record.mainData, filler(300, 4));
  assert.is(record.record.length, record.totalLength);
});

test('a record spanning page boundaries is reassembled with the right end LSN', () => {
  const wal = threeRecordWal();
  const records = decodeAll(wal.bytes(), START);
  assert.is(records.length, 3);
  const spanning = records[1]!;
  assert.equal(spanning.mainData, filler(17_000, 2));
  assert.is(spanning.lsn, wal.recordLsns[1]);
  assert.is(spanning.endLsn, wal.recordEnds[1]);
  assert.ok(Math.floor(spanning.endLsn / PAGE) - Math.floor(spanning.lsn / PAGE) === 2, 'crosses two page headers');
  assert.is(records[2]!.prevLsn, spanning.lsn);
});

test('feeding in two parts at every split offset gives the same records', () => {
  const wal = threeRecordWal();
  const bytes = wal.bytes();
  const expected = decodeAll(bytes, START).map((record) => `${record.lsn}:${record.endLsn}:${record.totalLength}`).join();
  for (let split = 0; split <= bytes.length; split++) {
    const decoder = new WalStreamDecoder(START);
    const seen: string[] = [];
    for (const part of [bytes.subarray(0, split), bytes.subarray(split)]) {
      decoder.feed(part);
      for (let record = nextOrEnd(decoder); record !== undefined; record = nextOrEnd(decoder)) seen.push(`${record.lsn}:${record.endLsn}:${record.totalLength}`);
    }
    if (seen.join() !== expected) assert.fixture(seen.join(), expected, `split at ${split}`);
  }
});

test('a record spanning a segment boundary crosses a long page header', () => {
  const segmentSize = 64 * 1024;
  const start = 5 * segmentSize;
  const wal = new WalBuilder(start, { segmentSize });
  for (let index = 0; index < 7; index++) wal.add({ rmgr: 10, info: 0, mainData: filler(8000, index) });
  const big = wal.add({ rmgr: 0, info: 0xb0, mainData: filler(12_000, 99) });
  wal.add({ rmgr: 1, info: 0, mainData: filler(10) });
  const records = decodeAll(wal.bytes(), start, { segmentSize }, 1000);
  assert.is(records.length, 9);
  const crossing = records.find((record) => record.lsn === big)!;
  assert.ok(crossing.lsn < start + segmentSize && crossing.endLsn > start + segmentSize, 'crosses the segment start');
  assert.equal(crossing.mainData, filler(12_000, 99));
  assert.is(records[8]!.lsn, wal.recordLsns[8]);
});

test('EndRecPtr is the end rounded up to MAXALIGN: mid-page, exactly at a page end, on a continuation page', () => {
  const wal = new WalBuilder(START);
  wal.add({ rmgr: 10, info: 0, mainData: filler(101) }); // 24 + 2 + 101 = 127 bytes: ends unaligned
  const pageEnd = START + PAGE;
  const filling = pageEnd - wal.endLsn - 24 - 5; // header + XLR_BLOCK_ID_DATA_LONG + u32 length
  const exact = wal.add({ rmgr: 10, info: 0, mainData: filler(filling, 2) });
  const following = wal.add({ rmgr: 10, info: 0, mainData: filler(3000, 3) });
  const continued = wal.add({ rmgr: 10, info: 0, mainData: filler(9000, 4) }); // continues onto the next page
  wal.add({ rmgr: 1, info: 0, mainData: filler(5) });
  assert.is(wal.rawEnds[1], pageEnd, 'the second record ends exactly at the page end');
  assert.is(following, pageEnd + 24, 'the next record starts after the next page header');
  const records = decodeAll(wal.bytes(), START);
  assert.equal(records.map((record) => record.lsn), wal.recordLsns);
  const first = records[0]!;
  assert.is(wal.rawEnds[0]! % 8, 7, 'the first record ends one byte short of an 8-byte boundary');
  assert.is(first.endLsn, wal.rawEnds[0]! + 1, 'mid-page: rounded up to MAXALIGN');
  assert.is(records[1]!.lsn, exact);
  assert.is(records[1]!.endLsn, pageEnd, 'at a page end: the page boundary, not past the next page header');
  const spanning = records[3]!;
  assert.is(spanning.lsn, continued);
  assert.ok(Math.floor(wal.rawEnds[3]! / PAGE) > Math.floor(continued / PAGE), 'the fourth record continues on a later page');
  assert.is(spanning.endLsn, Math.ceil(wal.rawEnds[3]! / 8) * 8, 'continued: counted from the last page header, rounded up');
  assert.is(spanning.endLsn, records[4]!.lsn, 'the next record starts at EndRecPtr');
  assert.equal(records.map((record) => record.endLsn), wal.recordEnds);
});

test('EndRecPtr of a record crossing into a new segment counts the long page header', () => {
  const segmentSize = 64 * 1024;
  const start = 5 * segmentSize;
  const wal = new WalBuilder(start, { segmentSize });
  for (let index = 0; index < 7; index++) wal.add({ rmgr: 10, info: 0, mainData: filler(8000, index) });
  const crossing = wal.add({ rmgr: 10, info: 0, mainData: filler(12_001, 9) });
  const after = wal.add({ rmgr: 1, info: 0, mainData: filler(10) });
  const records = decodeAll(wal.bytes(), start, { segmentSize }, 999);
  const record = records.find((candidate) => candidate.lsn === crossing)!;
  const next = start + segmentSize;
  assert.ok(record.lsn < next && wal.rawEnds[7]! > next + 40, 'the record crosses the segment start');
  const remaining = wal.rawEnds[7]! - (Math.floor(wal.rawEnds[7]! / PAGE) * PAGE + (wal.rawEnds[7]! - next < PAGE ? 40 : 24));
  assert.is(record.endLsn, Math.floor(wal.rawEnds[7]! / PAGE) * PAGE + (wal.rawEnds[7]! - next < PAGE ? 40 : 24) + Math.ceil(remaining / 8) * 8,
    'last page start + its header + MAXALIGN(rem_len)');
  assert.is(records[records.length - 1]!.lsn, after);
  assert.is(record.endLsn, after, 'the next record starts at EndRecPtr');
});

test('after XLOG SWITCH the zero tail is skipped and decoding resumes at the next segment', () => {
  const segmentSize = 64 * 1024;
  const start = 2 * segmentSize;
  const wal = new WalBuilder(start, { segmentSize });
  wal.add({ rmgr: 10, info: 0, mainData: filler(100) });
  const switchLsn = wal.addSwitch();
  const after = wal.add({ rmgr: 10, info: 0, mainData: filler(100, 2) });
  assert.is(after, 3 * segmentSize + 40);
  const decoder = new WalStreamDecoder(start, { segmentSize });
  const bytes = wal.bytes();
  const records: DecodedRecord[] = [];
  for (let offset = 0; offset < bytes.length; offset += 4096) {
    decoder.feed(bytes.subarray(offset, offset + 4096));
    for (let record = nextOrEnd(decoder); record !== undefined; record = nextOrEnd(decoder)) {
      records.push(record);
      if (record.lsn === switchLsn) {
        assert.is(decoder.position, 3 * segmentSize, 'position after switch is the next segment');
        assert.is(record.endLsn, 3 * segmentSize, 'the EndRecPtr of a switch is the end of its segment');
      }
    }
  }
  assert.equal(records.map((record) => record.lsn), [start + 40, switchLsn, after]);
  assert.is(records[2]!.prevLsn, switchLsn);
  assert.ok(decoder.bufferedBytes < PAGE, 'the padding was not buffered');
});

test('starting at a page that begins with a continuation skips to the next record', () => {
  const wal = threeRecordWal();
  const bytes = wal.bytes();
  const page = Math.floor(wal.recordLsns[1]! / PAGE) * PAGE + PAGE; // first continuation page
  const records = decodeAll(bytes.subarray(page - START), page, {}, 777);
  assert.equal(records.map((record) => record.lsn), [wal.recordLsns[2]]);
});

test('starting at a record start in the middle of a page', () => {
  const wal = threeRecordWal();
  const start = wal.recordLsns[1]!;
  const records = decodeAll(wal.bytes().subarray(start - START), start, {}, 100);
  assert.equal(records.map((record) => record.lsn), wal.recordLsns.slice(1));
});

test('a CRC mismatch is PS_ERR_WAL_CORRUPT at the record LSN', () => {
  const wal = threeRecordWal();
  const bytes = wal.bytes();
  bytes[wal.recordLsns[2]! - START + 30]! ^= 0x01;
  expectCorrupt(() => decodeAll(bytes, START), wal.recordLsns[2]!, 'crc');
});

test('a bad magic, a wrong pageaddr or a wrong xlp_rem_len on a continuation page is corrupt', () => {
  const wal = threeRecordWal();
  const page = Math.floor(wal.recordLsns[1]! / PAGE) * PAGE + PAGE;
  const corruptions: [string, (view: DataView) => void][] = [
    ['magic', (view) => view.setUint16(0, 0xd10f, true)],
    ['pageaddr', (view) => view.setUint32(8, page + PAGE, true)],
    ['rem_len', (view) => view.setUint32(16, view.getUint32(16, true) + 8, true)],
    ['contrecord flag', (view) => view.setUint16(2, 0, true)],
  ];
  for (const [label, corrupt] of corruptions) {
    const bytes = wal.bytes();
    corrupt(new DataView(bytes.buffer, page - START, 24));
    expectCorrupt(() => decodeAll(bytes, START), page, label);
  }
});

test('a wrong prev-link is corrupt; a zero length marks the end of WAL', () => {
  const wal = threeRecordWal();
  const bytes = wal.bytes();
  new DataView(bytes.buffer).setUint32(wal.recordLsns[2]! - START + 8, 0x1234, true);
  expectCorrupt(() => decodeAll(bytes, START), wal.recordLsns[2]!, 'prev-link');
  const decoder = new WalStreamDecoder(START);
  const clean = wal.bytes();
  decoder.feed(clean);
  decoder.feed(new Uint8Array(PAGE));
  for (let index = 0; index < 3; index++) assert.ok(decoder.next());
  try {
    decoder.next();
    assert.unreachable('zero length accepted');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_WAL_CORRUPT') && error.context.endOfWal === true, String(error));
  }
});

test('out-of-order block ids are corrupt', () => {
  const wal = new WalBuilder(START);
  wal.add({ rmgr: 10, info: 0, blocks: [{ id: 2, block: 1 }, { id: 1, block: 2 }] });
  expectCorrupt(() => decodeAll(wal.bytes(), START), START + 40, 'block order');
});

test('records are copies: reusing the fed buffer does not change returned records', () => {
  const wal = threeRecordWal();
  const bytes = wal.bytes();
  const decoder = new WalStreamDecoder(START);
  decoder.feed(bytes);
  const first = decoder.next()!;
  const snapshot = first.record.slice();
  bytes.fill(0xee);
  for (let record = nextOrEnd(decoder); record !== undefined; record = nextOrEnd(decoder)) assert.ok(record.totalLength > 0);
  assert.equal(first.record, snapshot);
  assert.is(decoder.position, wal.recordEnds[2]);
});

test.run();
