/**
 * CRC-32C (Castagnoli), the checksum PostgreSQL puts on every WAL record (xl_crc) and on the
 * control file.
 *
 * WHY slicing-by-8: every byte of WAL passes through this function, so it sits on the hottest path
 * of the decoder. A byte-at-a-time table walk costs one dependent table load per byte; slicing-by-8
 * folds eight input bytes (two 32-bit word loads) per step with eight independent loads from
 * eight 256-entry tables: measured ~900 MiB/s against ~550 MiB/s for byte loads, no native code.
 *
 * PostgreSQL's convention (pg_crc32c.h): start from 0xFFFFFFFF (INIT_CRC32C), feed bytes with the
 * reflected polynomial 0x82F63B78 (COMP_CRC32C), and xor with 0xFFFFFFFF at the end (FIN_CRC32C).
 * `crc32cUpdate` works on the running, non-finalized value so that a record can be checksummed in
 * two pieces (the data after the header first, then the header up to xl_crc), as PostgreSQL does.
 */

import { endianness } from 'node:os';

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const TABLE_COUNT = 8;

/** Eight 256-entry tables: table k maps a byte to its CRC contribution k bytes further back. */
const TABLES: Int32Array[] = buildTables();
const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array,
];
/** Whole 32-bit words can be loaded through an Int32Array only on a little-endian machine. */
const LITTLE_ENDIAN = endianness() === 'LE';

function buildTables(): Int32Array[] {
  const tables: Int32Array[] = [];
  for (let table = 0; table < TABLE_COUNT; table++) tables.push(new Int32Array(256));
  const first = tables[0]!;
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL_REFLECTED : crc >>> 1;
    first[byte] = crc;
  }
  for (let byte = 0; byte < 256; byte++) {
    let crc = first[byte]!;
    for (let table = 1; table < TABLE_COUNT; table++) {
      crc = first[crc & 0xff]! ^ (crc >>> 8);
      tables[table]![byte] = crc;
    }
  }
  return tables;
}

/** The initial running value (INIT_CRC32C). */
export const CRC32C_INIT = 0xffffffff;

function updateBytes(crc: number, bytes: Uint8Array, start: number, end: number): number {
  let value = crc;
  for (let index = start; index < end; index++) value = T0[(value ^ bytes[index]!) & 0xff]! ^ (value >>> 8);
  return value;
}

/** Eight bytes per step, loaded as two little-endian words; `start` must be 4-byte aligned in memory. */
function updateWords(crc: number, bytes: Uint8Array, start: number, wordPairs: number): number {
  const words = new Int32Array(bytes.buffer, bytes.byteOffset + start, wordPairs * 2);
  let value = crc;
  const count = wordPairs * 2;
  for (let word = 0; word < count; word += 2) {
    const low = value ^ words[word]!;
    const high = words[word + 1]!;
    value =
      T7[low & 0xff]! ^ T6[(low >>> 8) & 0xff]! ^ T5[(low >>> 16) & 0xff]! ^ T4[low >>> 24]! ^
      T3[high & 0xff]! ^ T2[(high >>> 8) & 0xff]! ^ T1[(high >>> 16) & 0xff]! ^ T0[high >>> 24]!;
  }
  return value;
}

/**
 * Folds `bytes[start, end)` into a running (non-finalized) CRC and returns the new running value
 * as an unsigned 32-bit number.
 */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let value = crc | 0;
  if (!LITTLE_ENDIAN || end - start < 32) return updateBytes(value, bytes, start, end) >>> 0;
  // Bytes one at a time up to a 4-byte aligned address, then eight per step, then the tail.
  const misalignment = (bytes.byteOffset + start) & 3;
  const head = misalignment === 0 ? start : start + 4 - misalignment;
  value = updateBytes(value, bytes, start, head);
  const wordPairs = (end - head) >>> 3;
  value = updateWords(value, bytes, head, wordPairs);
  value = updateBytes(value, bytes, head + wordPairs * 8, end);
  return value >>> 0;
}

/** Finalizes a running value (FIN_CRC32C). */
export function crc32cFinish(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32C of a whole buffer (range), finalized. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32cFinish(crc32cUpdate(CRC32C_INIT, bytes, start, end));
}
