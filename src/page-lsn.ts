/**
 * The page LSN that PostgreSQL 15's redo gives a page restored from a full-page image, shared by
 * everything that turns a WAL image into a page: ingest, which stores the image as the page's
 * value (wal-ingest.ts, storage/value-codec.ts), and the redo dispatcher (walredo/redo.ts).
 *
 * WHY a rule of its own: the image carries the LSN the page had when the image was taken, which
 * is older than the record that carries it. XLogReadBufferForRedoExtended (xlogutils.c) restores
 * the image and then sets pd_lsn to the record's EndRecPtr, unless the page is new (PageIsNew:
 * pd_upper is 0), because an all-zero page must stay all zeros. A page server that kept the
 * image's own LSN would return a page whose LSN is older than its contents: a standby or branch
 * replaying WAL over it would apply records twice.
 *
 *   page offset  field
 *   0            pd_lsn: xlogid u32 (high half), then xrecoff u32, little-endian
 *   14           pd_upper u16
 */
import { assert } from './assert.js';
import type { Lsn } from './lsn.js';

const TWO_TO_32 = 0x1_0000_0000;
const PD_UPPER_OFFSET = 14;

/** Sets pd_lsn of the page at `bytes[offset..]` to `endRecPtr` unless the page is new. */
export function stampRestoredImage(bytes: Uint8Array, offset: number, endRecPtr: Lsn): void {
  assert(Number.isSafeInteger(endRecPtr) && endRecPtr > 0, 'a restored image gets a valid record end LSN');
  assert(offset >= 0 && offset + PD_UPPER_OFFSET + 2 <= bytes.length, 'the page header lies inside the bytes');
  if ((bytes[offset + PD_UPPER_OFFSET]! | bytes[offset + PD_UPPER_OFFSET + 1]!) === 0) return;
  writeU32(bytes, offset, Math.floor(endRecPtr / TWO_TO_32));
  writeU32(bytes, offset + 4, endRecPtr % TWO_TO_32);
}

function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = (value >>> 24) & 0xff;
}
