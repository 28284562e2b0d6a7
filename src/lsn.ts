/**
 * Log sequence numbers.
 *
 * PostgreSQL's XLogRecPtr is an unsigned 64-bit byte position in the WAL. Strata holds it in a JS
 * `number`: arithmetic on numbers is an order of magnitude cheaper than on bigint on the ingest hot
 * path, and 2^53 bytes (8 PiB) of WAL is far beyond any real timeline. LSNs above
 * Number.MAX_SAFE_INTEGER are rejected with a coded error where they enter (WAL, protocol, API).
 *
 * Text form is PostgreSQL's: two hex halves, upper case, no padding, `16/B374D848`.
 */
import { StrataError } from './errors.js';

export type Lsn = number;

export const INVALID_LSN: Lsn = 0;
const TWO_TO_32 = 0x1_0000_0000;

export function lsnFromParts(high: number, low: number): Lsn {
  const value = high * TWO_TO_32 + low;
  if (!Number.isSafeInteger(value)) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `LSN ${high.toString(16)}/${low.toString(16)} is beyond 2^53`);
  }
  return value;
}

export function formatLsn(lsn: Lsn): string {
  const high = Math.floor(lsn / TWO_TO_32);
  const low = lsn % TWO_TO_32;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function parseLsn(text: string): Lsn {
  const match = LSN_PATTERN.exec(text);
  if (!match) throw new StrataError('PS_ERR_BAD_REQUEST', `invalid LSN '${text}': expected X/Y in hex`);
  return lsnFromParts(parseInt(match[1]!, 16), parseInt(match[2]!, 16));
}

/** Reads a little-endian u64 LSN (WAL on-disk order). */
export function readLsnLE(buffer: Uint8Array, offset: number): Lsn {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return lsnFromParts(view.getUint32(offset + 4, true), view.getUint32(offset, true));
}

/** Reads a big-endian u64 LSN (replication protocol order). */
export function readLsnBE(buffer: Uint8Array, offset: number): Lsn {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return lsnFromParts(view.getUint32(offset, false), view.getUint32(offset + 4, false));
}

export function writeLsnBE(buffer: Uint8Array, offset: number, lsn: Lsn): void {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  view.setUint32(offset, Math.floor(lsn / TWO_TO_32), false);
  view.setUint32(offset + 4, lsn % TWO_TO_32, false);
}

export const WAL_SEGMENT_SIZE = 16 * 1024 * 1024;
export const XLOG_BLCKSZ = 8192;

export function segmentStart(lsn: Lsn): Lsn {
  return lsn - (lsn % WAL_SEGMENT_SIZE);
}

/** WAL segment file name for a timeline and LSN, e.g. 000000010000000000000003. */
export function walSegmentFileName(timelineId: number, lsn: Lsn): string {
  const segmentNumber = Math.floor(lsn / WAL_SEGMENT_SIZE);
  const segmentsPerId = TWO_TO_32 / WAL_SEGMENT_SIZE;
  const hex = (value: number) => value.toString(16).toUpperCase().padStart(8, '0');
  return hex(timelineId) + hex(Math.floor(segmentNumber / segmentsPerId)) + hex(segmentNumber % segmentsPerId);
}

/** Short and long WAL page header sizes (XLogPageHeaderData / XLogLongPageHeaderData, MAXALIGNed). */
export const WAL_SHORT_PAGE_HEADER_BYTES = 24;
export const WAL_LONG_PAGE_HEADER_BYTES = 40;

/**
 * Where the record after one ending at `endLsn` starts: MAXALIGNed (8), and past the page header
 * when that lands on a page boundary. This is PostgreSQL's insert position after the record
 * (`pg_current_wal_insert_lsn()` when idle), so a read at that LSN is satisfied by this record.
 */
export function nextRecordStart(endLsn: Lsn): Lsn {
  const aligned = Math.ceil(endLsn / 8) * 8;
  if (aligned % XLOG_BLCKSZ !== 0) return aligned;
  return aligned + (aligned % WAL_SEGMENT_SIZE === 0 ? WAL_LONG_PAGE_HEADER_BYTES : WAL_SHORT_PAGE_HEADER_BYTES);
}
