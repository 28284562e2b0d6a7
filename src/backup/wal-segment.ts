/**
 * The WAL of a full backup: one segment that holds a single XLOG_CHECKPOINT_SHUTDOWN record at the
 * backup's checkpoint location L, whose redo is L itself.
 *
 * WHY: a stock PostgreSQL starts by reading the checkpoint record pg_control points to
 * (InitWalRecovery); it does not trust pg_control's copy alone. Strata's backup holds the pages as
 * of an LSN X, not the primary's WAL, so it writes the record PostgreSQL would have written had it
 * shut down at X: a shutdown checkpoint that is its own redo point needs no WAL before it. The
 * compute then writes its own WAL right after the record, on the same page (StartupXLOG copies
 * the page up to the end of the record from this file), so the record must be readable exactly as
 * PostgreSQL wrote it. pg_resetwal writes the same kind of segment.
 *
 * Where L goes (`checkpointLocationFor`): at the first record position of a page, right after its
 * header, at or after X. The bytes of the page before L are then only a page header: no record
 * of the primary is cut in half, and no XLP_FIRST_IS_CONTRECORD continuation is needed.
 *
 *   segment  | long hdr (40) | zeros | short hdr (24) | zeros | … | short hdr | record | zeros … |
 *            ^ segment start                                     ^ L's page   ^ L
 *
 * Every page from the segment start through L's page has a header (PostgreSQL's reader checks the
 * segment's first page, with the system identifier, whenever it opens a segment; pg_waldump and
 * Strata's decoder walk all pages); the rest of the segment is zero, as a freshly initialized one.
 *
 * Page header (XLogPageHeaderData, 24 bytes): magic u16 0xD110 | info u16 | tli u32 |
 * pageaddr u64 | rem_len u32 | pad 4. Long header (segment's first page, XLP_LONG_HEADER):
 * + sysid u64 | seg_size u32 | xlog_blcksz u32 = 40 bytes.
 *
 * Record (114 bytes): XLogRecord (xl_tot_len u32 | xl_xid u32 = 0 | xl_prev u64 | xl_info u8 =
 * XLOG_CHECKPOINT_SHUTDOWN | xl_rmid u8 = RM_XLOG_ID | pad 2 | xl_crc u32) | XLR_BLOCK_ID_DATA_SHORT
 * (255) | length u8 (88) | CheckPoint (88). xl_crc is CRC-32C of the bytes after the header, then
 * of the header up to xl_crc. The record's end, MAXALIGNed, is where the compute's WAL starts.
 *
 * File name (XLogFileName): TLI, then the segment number split in "log" (segments per 4 GiB) and
 * "seg", each 8 upper-case hex digits: 000000010000000000000001 is TLI 1, LSN 0/1000000 in 16 MiB
 * segments.
 */
import { assert } from '../assert.js';
import { XLOG_BLCKSZ, WAL_SEGMENT_SIZE, type Lsn } from '../lsn.js';
import { crc32cOfRecord } from '../wal/crc32c.js';
import { CHECKPOINT_BYTES, XLOG_CHECKPOINT_SHUTDOWN, type CheckPoint } from '../wal/records/xlog.js';
import { RmgrId } from '../wal/types.js';
import { SIZE_OF_LONG_PAGE_HEADER, SIZE_OF_SHORT_PAGE_HEADER, XLOG_PAGE_MAGIC, XLP_LONG_HEADER } from '../wal/wal-decoder.js';
import { SIZE_OF_XLOG_RECORD } from '../wal/xlog-record.js';
import { encodeCheckPoint } from './checkpoint.js';

const XLR_BLOCK_ID_DATA_SHORT = 255;
const MAXIMUM_ALIGNOF = 8;
const TWO_TO_32 = 0x1_0000_0000;
/** Bytes of the checkpoint record: header, short main-data header (id, length), CheckPoint. */
export const CHECKPOINT_RECORD_BYTES = SIZE_OF_XLOG_RECORD + 2 + CHECKPOINT_BYTES;
/** WAL segment sizes PostgreSQL accepts (IsValidWalSegSize): powers of two, 1 MiB to 1 GiB. */
const SEGMENT_SIZE_MIN = 1024 * 1024;
const SEGMENT_SIZE_MAX = 1024 * 1024 * 1024;

function assertSegmentSize(segmentSize: number): void {
  assert(Number.isInteger(segmentSize) && segmentSize >= SEGMENT_SIZE_MIN && segmentSize <= SEGMENT_SIZE_MAX, 'segment size 1 MiB..1 GiB');
  assert((segmentSize & (segmentSize - 1)) === 0, 'segment size is a power of two');
}

/** The header size of the page that starts at `pageStart`: long on a segment's first page. */
function pageHeaderBytes(pageStart: Lsn, segmentSize: number): number {
  return pageStart % segmentSize === 0 ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER;
}

/**
 * The first record position of a page (right after its header) at or after `lsn`: `lsn` itself
 * when it is one, else the one on its page when `lsn` is inside the header, else the next page's.
 */
export function checkpointLocationFor(lsn: Lsn, segmentSize = WAL_SEGMENT_SIZE): Lsn {
  assert(Number.isSafeInteger(lsn) && lsn >= 0, 'an LSN is a non-negative safe integer');
  assertSegmentSize(segmentSize);
  const pageStart = lsn - (lsn % XLOG_BLCKSZ);
  const first = pageStart + pageHeaderBytes(pageStart, segmentSize);
  if (lsn <= first) return first;
  const nextPage = pageStart + XLOG_BLCKSZ;
  return nextPage + pageHeaderBytes(nextPage, segmentSize);
}

/** Whether `lsn` is a first record position of a page (what checkpointLocationFor returns). */
export function isCheckpointLocation(lsn: Lsn, segmentSize = WAL_SEGMENT_SIZE): boolean {
  return checkpointLocationFor(lsn, segmentSize) === lsn;
}

/**
 * The end of the checkpoint record at `location` as Strata and PostgreSQL's EndRecPtr count it:
 * its last byte + 1, MAXALIGNed. The compute's first record starts here.
 */
export function checkpointRecordEndLsn(location: Lsn): Lsn {
  const end = location + CHECKPOINT_RECORD_BYTES;
  return end + ((MAXIMUM_ALIGNOF - (end % MAXIMUM_ALIGNOF)) % MAXIMUM_ALIGNOF);
}

/** The number of the segment that holds `lsn` (XLByteToSeg). */
export function walSegmentNumber(lsn: Lsn, segmentSize = WAL_SEGMENT_SIZE): number {
  assertSegmentSize(segmentSize);
  return Math.floor(lsn / segmentSize);
}

/** XLogFileName: 24 upper-case hex digits, timeline, then the segment number as "log" and "seg". */
export function walSegmentFileName(timelineId: number, segmentNumber: number, segmentSize = WAL_SEGMENT_SIZE): string {
  assertSegmentSize(segmentSize);
  assert(Number.isInteger(timelineId) && timelineId >= 1 && timelineId < TWO_TO_32, 'a timeline id is a positive uint32');
  assert(Number.isSafeInteger(segmentNumber) && segmentNumber >= 0, 'a segment number is a non-negative integer');
  const segmentsPerLog = TWO_TO_32 / segmentSize;
  const hex = (value: number) => value.toString(16).toUpperCase().padStart(8, '0');
  return hex(timelineId) + hex(Math.floor(segmentNumber / segmentsPerLog)) + hex(segmentNumber % segmentsPerLog);
}

/** The 114-byte XLOG_CHECKPOINT_SHUTDOWN record carrying `checkpoint`, with its CRC. */
export function buildShutdownCheckpointRecord(checkpoint: CheckPoint, prevLsn: Lsn = 0): Uint8Array {
  assert(Number.isSafeInteger(prevLsn) && prevLsn >= 0, 'xl_prev is an LSN');
  const record = new Uint8Array(CHECKPOINT_RECORD_BYTES);
  const view = new DataView(record.buffer);
  view.setUint32(0, CHECKPOINT_RECORD_BYTES, true);
  view.setUint32(4, 0, true); // xl_xid: a checkpoint belongs to no transaction
  view.setBigUint64(8, BigInt(prevLsn), true);
  view.setUint8(16, XLOG_CHECKPOINT_SHUTDOWN);
  view.setUint8(17, RmgrId.Xlog);
  record[SIZE_OF_XLOG_RECORD] = XLR_BLOCK_ID_DATA_SHORT;
  record[SIZE_OF_XLOG_RECORD + 1] = CHECKPOINT_BYTES;
  record.set(encodeCheckPoint(checkpoint), SIZE_OF_XLOG_RECORD + 2);
  view.setUint32(20, crc32cOfRecord(record, 0, CHECKPOINT_RECORD_BYTES), true);
  return record;
}

export interface CheckpointSegmentOptions {
  /** The checkpoint the record carries; its redo must be `location`. */
  checkpoint: CheckPoint;
  /** Where the record goes: a first record position of a page (checkpointLocationFor). */
  location: Lsn;
  timelineId: number;
  /** pg_control's system_identifier: the long page header must carry it. */
  systemIdentifier: bigint;
  /** pg_control's xlog_seg_size; default 16 MiB. */
  segmentSize?: number;
  /** xl_prev of the record; default 0 (startup only checks that it lies before the record). */
  prevLsn?: Lsn;
}

export interface CheckpointSegment {
  /** The file name in pg_wal. */
  fileName: string;
  /** The whole segment, `segmentSize` bytes. */
  bytes: Uint8Array;
  /** LSN of the segment's first byte. */
  segmentStartLsn: Lsn;
  /** The record's EndRecPtr (checkpointRecordEndLsn). */
  recordEndLsn: Lsn;
}

function writePageHeader(segment: Uint8Array, pageStart: Lsn, segmentStart: Lsn, options: CheckpointSegmentOptions, segmentSize: number): void {
  const offset = pageStart - segmentStart;
  const view = new DataView(segment.buffer, segment.byteOffset + offset, SIZE_OF_LONG_PAGE_HEADER);
  const long = offset === 0;
  view.setUint16(0, XLOG_PAGE_MAGIC, true);
  view.setUint16(2, long ? XLP_LONG_HEADER : 0, true);
  view.setUint32(4, options.timelineId, true);
  view.setBigUint64(8, BigInt(pageStart), true);
  view.setUint32(16, 0, true); // xlp_rem_len: no record continues onto these pages
  if (!long) return;
  view.setBigUint64(24, options.systemIdentifier, true);
  view.setUint32(32, segmentSize, true);
  view.setUint32(36, XLOG_BLCKSZ, true);
}

/** The segment holding the shutdown checkpoint record at `options.location` (see the header). */
export function buildCheckpointSegment(options: CheckpointSegmentOptions): CheckpointSegment {
  const segmentSize = options.segmentSize ?? WAL_SEGMENT_SIZE;
  const { location, checkpoint } = options;
  assertSegmentSize(segmentSize);
  assert(isCheckpointLocation(location, segmentSize), 'the checkpoint goes right after a page header');
  assert(checkpoint.redo === location, 'a shutdown checkpoint is its own redo point');
  assert(options.systemIdentifier > 0n && options.systemIdentifier < 1n << 64n, 'a system identifier is a uint64');
  const segmentNumber = walSegmentNumber(location, segmentSize);
  const segmentStart = segmentNumber * segmentSize;
  const recordPageStart = location - (location % XLOG_BLCKSZ);
  // A page holds at least one record: the 114 bytes fit after any header.
  assert(location % XLOG_BLCKSZ + CHECKPOINT_RECORD_BYTES <= XLOG_BLCKSZ, 'the record fits on its page');
  const segment = new Uint8Array(segmentSize);
  for (let pageStart = segmentStart; pageStart <= recordPageStart; pageStart += XLOG_BLCKSZ) {
    writePageHeader(segment, pageStart, segmentStart, options, segmentSize);
  }
  segment.set(buildShutdownCheckpointRecord(checkpoint, options.prevLsn ?? 0), location - segmentStart);
  return {
    fileName: walSegmentFileName(options.timelineId, segmentNumber, segmentSize),
    bytes: segment,
    segmentStartLsn: segmentStart,
    recordEndLsn: checkpointRecordEndLsn(location),
  };
}
