// The backup's WAL segment, byte by byte: where the checkpoint goes (checkpointLocationFor), file
// names, the record's header, main data and CRC (computed here independently, in PostgreSQL's
// order), page headers on every page up to the record's and zeros after it, and Strata's own
// decoder reading the record back from its page. pg_waldump and a real startup on these bytes are
// in test/integration/backup-startup.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCheckPoint, shutdownCheckpointAt } from '../../../src/backup/checkpoint.js';
import {
  buildCheckpointSegment, buildShutdownCheckpointRecord, CHECKPOINT_RECORD_BYTES, checkpointLocationFor, checkpointRecordEndLsn,
  isCheckpointLocation, walSegmentFileName, walSegmentNumber,
} from '../../../src/backup/wal-segment.js';
import { readControlFileInfo } from '../../../src/backup/control-file.js';
import { isStrataError } from '../../../src/errors.js';
import { crc32cFinish, crc32cUpdate, CRC32C_INIT } from '../../../src/wal/crc32c.js';
import { decodeXlogRecord } from '../../../src/wal/records/xlog.js';
import { WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import { REAL_SYSTEM_IDENTIFIER, realControlFile } from '../../fixtures/pg15-control-file.js';

const MIB = 1024 * 1024;
const SEGMENT = 16 * MIB;

test('checkpointLocationFor: the first record position of a page at or after the LSN', () => {
  const cases: Array<[number, number]> = [
    [0x1000000, 0x1000028], // segment start: long header
    [0x1000028, 0x1000028], // already one
    [0x1000001, 0x1000028], // inside the long header
    [0x1000029, 0x1002018], // past it: next page, short header
    [0x1001fff, 0x1002018],
    [0x1002000, 0x1002018],
    [0x1002018, 0x1002018],
    [0x1002017, 0x1002018],
    [0x1ffe000, 0x1ffe018],
    [0x1ffe019, 0x2000028], // next page starts the next segment: long header
    [0x1_2345_6789, 0x1_2345_8018],
  ];
  for (const [lsn, expected] of cases) {
    assert.is(checkpointLocationFor(lsn).toString(16), expected.toString(16), `for ${lsn.toString(16)}`);
    assert.ok(isCheckpointLocation(expected));
  }
  assert.is(checkpointLocationFor(0x10ff019, MIB), 0x1100028, '1 MiB segments: 0x1100000 starts a segment');
  assert.is(checkpointLocationFor(0x10ff019, SEGMENT), 0x1100018);
  assert.not.ok(isCheckpointLocation(0x1000018), 'the short-header position on a segment\'s first page is inside its long header');
});

test('segment numbers and file names (XLogFileName)', () => {
  assert.is(walSegmentNumber(0x1500708), 1);
  assert.is(walSegmentFileName(1, 1), '000000010000000000000001');
  assert.is(walSegmentFileName(2, walSegmentNumber(0x1_FF00_0000)), '0000000200000001000000FF');
  assert.is(walSegmentFileName(0x1a, walSegmentNumber(0x3_4000_0000, 1024 * MIB), 1024 * MIB), '0000001A0000000300000001');
  assert.is(walSegmentFileName(1, walSegmentNumber(0x12_3456_7890, MIB), MIB), '000000010000001200000345');
});

function realCheckpointAt(location: number) {
  return shutdownCheckpointAt({ ...readControlFileInfo(realControlFile()).checkpoint, nextXid: 0x5_0000_1000n }, location, 1_800_000_000n);
}

test('the record: header fields, short main-data header, CheckPoint, CRC in PostgreSQL\'s order', () => {
  const checkpoint = realCheckpointAt(0x2002018);
  const record = buildShutdownCheckpointRecord(checkpoint, 0x2001ff0);
  const view = new DataView(record.buffer);
  assert.is(record.length, CHECKPOINT_RECORD_BYTES);
  assert.is(CHECKPOINT_RECORD_BYTES, 114);
  assert.is(view.getUint32(0, true), 114, 'xl_tot_len');
  assert.is(view.getUint32(4, true), 0, 'xl_xid');
  assert.is(view.getBigUint64(8, true), 0x2001ff0n, 'xl_prev');
  assert.is(record[16], 0x00, 'xl_info: XLOG_CHECKPOINT_SHUTDOWN');
  assert.is(record[17], 0, 'xl_rmid: RM_XLOG_ID');
  assert.equal([record[18], record[19]], [0, 0], 'padding');
  assert.equal([record[24], record[25]], [255, 88], 'XLR_BLOCK_ID_DATA_SHORT, length');
  assert.equal(decodeCheckPoint(record.subarray(26)), checkpoint);
  const crc = crc32cFinish(crc32cUpdate(crc32cUpdate(CRC32C_INIT, record, 24, 114), record, 0, 20));
  assert.is(view.getUint32(20, true), crc, 'xl_crc');
  assert.is(checkpointRecordEndLsn(0x2002018), 0x2002090, 'EndRecPtr: 0x2002018 + 114, MAXALIGNed');
});

test('the segment: a page header on every page up to the record\'s, the record, zeros after', () => {
  const location = 0x2006018; // the fourth page of segment 2
  const segment = buildCheckpointSegment({
    checkpoint: realCheckpointAt(location), location, timelineId: 1, systemIdentifier: REAL_SYSTEM_IDENTIFIER,
  });
  assert.is(segment.fileName, '000000010000000000000002');
  assert.is(segment.bytes.length, SEGMENT);
  assert.is(segment.segmentStartLsn, 0x2000000);
  assert.is(segment.recordEndLsn, 0x2006090);
  const view = new DataView(segment.bytes.buffer);
  for (let page = 0; page <= 3; page++) {
    const offset = page * 8192;
    assert.is(view.getUint16(offset, true), 0xd110, 'magic');
    assert.is(view.getUint16(offset + 2, true), page === 0 ? 0x0002 : 0, 'info: XLP_LONG_HEADER on the first page only');
    assert.is(view.getUint32(offset + 4, true), 1, 'tli');
    assert.is(view.getBigUint64(offset + 8, true), BigInt(0x2000000 + offset), 'pageaddr');
    assert.is(view.getUint32(offset + 16, true), 0, 'rem_len');
  }
  assert.is(view.getBigUint64(24, true), REAL_SYSTEM_IDENTIFIER, 'xlp_sysid');
  assert.is(view.getUint32(32, true), SEGMENT, 'xlp_seg_size');
  assert.is(view.getUint32(36, true), 8192, 'xlp_xlog_blcksz');
  const recordAt = location - 0x2000000;
  assert.equal([...segment.bytes.subarray(recordAt, recordAt + 114)], [...buildShutdownCheckpointRecord(realCheckpointAt(location))]);
  let nonZero = 0;
  for (let offset = 0; offset < SEGMENT; offset++) {
    if (segment.bytes[offset] === 0) continue;
    const inHeader = offset % 8192 < (offset < 8192 ? 40 : 24) && offset < 4 * 8192;
    const inRecord = offset >= recordAt && offset < recordAt + 114;
    if (!inHeader && !inRecord) nonZero += 1;
  }
  assert.is(nonZero, 0, 'no byte outside the headers and the record');
});

test('Strata\'s decoder reads the record from its page start, and finds the end of WAL after it', () => {
  for (const location of [0x2000028, 0x2006018]) {
    const checkpoint = realCheckpointAt(location);
    const segment = buildCheckpointSegment({ checkpoint, location, timelineId: 3, systemIdentifier: REAL_SYSTEM_IDENTIFIER, prevLsn: 0x1fffff0 });
    const pageStart = location - (location % 8192);
    const decoder = new WalStreamDecoder(pageStart);
    decoder.feed(segment.bytes.subarray(pageStart - 0x2000000, pageStart - 0x2000000 + 8192));
    const record = decoder.next();
    assert.ok(record !== undefined, 'a record');
    assert.is(record.lsn, location);
    assert.is(record.endLsn, segment.recordEndLsn);
    assert.is(record.prevLsn, 0x1fffff0);
    const body = decodeXlogRecord(record);
    assert.is(body.type, 'checkpointShutdown');
    assert.equal(body.type === 'checkpointShutdown' && body.checkpoint, checkpoint);
    try {
      decoder.next();
      assert.unreachable('zeros after the record');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_WAL_CORRUPT') && error.context['endOfWal'] === true, String(error));
    }
  }
});

test('1 MiB segments: the segment size goes into the long header and the file name', () => {
  const location = checkpointLocationFor(0x10ff019, MIB);
  const segment = buildCheckpointSegment({
    checkpoint: realCheckpointAt(location), location, timelineId: 1, systemIdentifier: REAL_SYSTEM_IDENTIFIER, segmentSize: MIB,
  });
  assert.is(segment.bytes.length, MIB);
  assert.is(segment.fileName, '000000010000000000000011');
  assert.is(new DataView(segment.bytes.buffer).getUint32(32, true), MIB);
  assert.is(location - segment.segmentStartLsn, 40);
});

test('misplaced records are programmer errors', () => {
  const options = { timelineId: 1, systemIdentifier: REAL_SYSTEM_IDENTIFIER };
  assert.throws(() => buildCheckpointSegment({ ...options, checkpoint: realCheckpointAt(0x2000030), location: 0x2000030 }), /after a page header/);
  assert.throws(() => buildCheckpointSegment({ ...options, checkpoint: realCheckpointAt(0x2000028), location: 0x2002018 }), /own redo/);
});

test.run();
