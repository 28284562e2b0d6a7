/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of every storage file part.
 *
 * Why a thin wrapper: CRC-32C is the checksum PostgreSQL uses for WAL, so one algorithm covers the
 * whole server, and the WAL decoder's src/wal/crc32c.ts already carries the fastest pure-JS
 * implementation we have (slicing-by-8 over aligned 32-bit word loads, roughly twice the byte-load
 * variant storage used before). Storage keeps its own, finalized-value API on top of it:
 *
 * `crc32c(bytes, initial)` continues a running checksum: crc32c(b, crc32c(a)) === crc32c(a ++ b).
 * `crc32cOfRange(bytes, start, end)` checksums a range without allocating a subarray (the flush
 * checksums every value blob in place inside its in-memory chunk).
 */
import { assert } from '../assert.js';
import { crc32cFinish, crc32cUpdate } from '../wal/crc32c.js';

/** CRC-32C of `bytes`, continuing from `initial` (the result of a previous call, 0 to start). */
export function crc32c(bytes: Uint8Array, initial = 0): number {
  assert(initial >= 0 && initial <= 0xffffffff, 'crc32c: initial must be a u32');
  return crc32cFinish(crc32cUpdate((initial ^ 0xffffffff) >>> 0, bytes, 0, bytes.length));
}

/** CRC-32C of `bytes[start, end)`, finalized. */
export function crc32cOfRange(bytes: Uint8Array, start: number, end: number): number {
  assert(start >= 0 && start <= end && end <= bytes.length, 'crc32c range lies inside the bytes');
  return crc32cFinish(crc32cUpdate(0xffffffff, bytes, start, end));
}
