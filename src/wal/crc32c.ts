/**
 * CRC-32C (Castagnoli), the checksum PostgreSQL puts on every WAL record (xl_crc) and on the
 * control file; storage reuses it for its files (src/storage/checksum.ts).
 *
 * WHY two implementations: every byte of WAL passes through this function, so it sits on the
 * hottest path of the decoder. The native `crc32c` of @node-rs/crc32 (Rust, SSE4.2 crc32
 * instructions) measured ~5.7 GiB/s on 1 MiB inputs on the 2-core machine (Node 20), against
 * ~1.75 GiB/s for the pure-JS code below; but each call costs ~125 ns of N-API overhead plus
 * ~50 ns for the Buffer view of the range, where the JS code takes ~100 ns for 64 bytes. Measured
 * per call (best of 9, ranges of one 8 MiB buffer): 128 B js 136 ns / native 195 ns; 320 B
 * 237 / 239; 352 B 255 / 247; 512 B 339 / 281; 8 KiB 4450 / 1650. So ranges of NATIVE_BYTES_MIN
 * (352) bytes or more go native, shorter ones stay in JS. In pgbench WAL nearly all bytes are in
 * full-page images (~8 KiB records, 87% of the bytes) and the rest in records under 200 bytes, so
 * the exact crossover matters little there. The native module is optional: when it or its
 * prebuilt binary for the platform cannot be loaded, or it fails a check value at load, every
 * input takes the JS path (same results, slower), silently.
 *
 * The JS path: table slicing over whole words. A byte-at-a-time table walk costs one dependent
 * table load per byte; slicing folds four input bytes per 32-bit word load with independent
 * loads from 256-entry tables. Sixteen tables (16 KiB, fits the L1 cache) fold sixteen bytes per
 * step; that measured the same as slicing-by-8 (slicing-by-32 no better) and is kept for its
 * shorter loop. Words are read through one Int32Array over the input's whole ArrayBuffer, cached
 * for the last two buffers seen: the WAL decoder hands out records that are views of a few large
 * buffers, so no view is made per record. Inputs shorter than WORD_PATH_BYTES_MIN use
 * slicing-by-8 with byte loads, which needs no view at all.
 *
 * PostgreSQL's convention (pg_crc32c.h): start from 0xFFFFFFFF (INIT_CRC32C), feed bytes with the
 * reflected polynomial 0x82F63B78 (COMP_CRC32C), and xor with 0xFFFFFFFF at the end (FIN_CRC32C).
 * `crc32cUpdate` works on the running, non-finalized value so that a record can be checksummed in
 * two pieces (the data after the header first, then the header up to xl_crc), as PostgreSQL does.
 */

import { createRequire } from 'node:module';
import { endianness } from 'node:os';

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const TABLE_COUNT = 16;
/** Below this length the word path's setup (view lookup, alignment) costs more than it saves. */
const WORD_PATH_BYTES_MIN = 16;

/** Sixteen 256-entry tables: table k maps a byte to its CRC contribution k bytes further back. */
const TABLES: Int32Array[] = buildTables();
const [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15] = TABLES as [
  Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array,
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

/**
 * Word views of the last two buffers checksummed (the decoder alternates between its read buffer
 * and its slab of page-spanning records). They keep those buffers alive until others are
 * checksummed; this is a cache, not state: any buffer gives the same results.
 */
let recentBuffer: ArrayBufferLike | undefined;
let recentWords: Int32Array<ArrayBufferLike> = new Int32Array(0);
let olderBuffer: ArrayBufferLike | undefined;
let olderWords: Int32Array<ArrayBufferLike> = new Int32Array(0);

/** A word view of `buffer` covering at least its first `byteEnd` bytes (a resizable buffer may have grown). */
function wordsOf(buffer: ArrayBufferLike, byteEnd: number): Int32Array<ArrayBufferLike> {
  if (buffer === recentBuffer && recentWords.length * 4 >= byteEnd) return recentWords;
  let words: Int32Array<ArrayBufferLike>;
  if (buffer === olderBuffer && olderWords.length * 4 >= byteEnd) words = olderWords;
  else words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  olderBuffer = recentBuffer;
  olderWords = recentWords;
  recentBuffer = buffer;
  recentWords = words;
  return words;
}

/** The initial running value (INIT_CRC32C). */
export const CRC32C_INIT = 0xffffffff;

/**
 * From this many bytes on, the native call is faster than the JS loop, Buffer view and N-API
 * call included (measured crossover, see the header).
 */
const NATIVE_BYTES_MIN = 352;

/** `crc32c(input, initialState)` of @node-rs/crc32: `initialState` is a finalized checksum. */
type NativeCrc32c = (input: Buffer, initialState?: number) => number;

/**
 * The native function, or undefined when the module or its prebuilt binary for this platform is
 * missing, fails to load, or fails the standard check value. Silent on purpose: the JS path gives
 * the same checksums, only slower, and this module has no logger to report through.
 */
function loadNative(): NativeCrc32c | undefined {
  try {
    const module: unknown = createRequire(import.meta.url)('@node-rs/crc32');
    const candidate = (module as { crc32c?: unknown } | undefined)?.crc32c;
    if (typeof candidate !== 'function') return undefined;
    const native = candidate as NativeCrc32c;
    const checkValue = native(Buffer.from('123456789', 'latin1'), 0);
    const continued = native(Buffer.from('56789', 'latin1'), native(Buffer.from('1234', 'latin1'), 0));
    return checkValue === 0xe3069283 && continued === 0xe3069283 ? native : undefined;
  } catch {
    return undefined;
  }
}

const loadedNative: NativeCrc32c | undefined = loadNative();
/** `loadedNative`, unless a test forced the JS path (forceJsCrc32cForTesting). */
let activeNative: NativeCrc32c | undefined = loadedNative;

function updateBytes(crc: number, bytes: Uint8Array, start: number, end: number): number {
  let value = crc;
  for (let index = start; index < end; index++) value = T0[(value ^ bytes[index]!) & 0xff]! ^ (value >>> 8);
  return value;
}

/** Slicing-by-8 with byte loads: for short inputs, where a word view does not pay. */
function updateShort(crc: number, bytes: Uint8Array, start: number, end: number): number {
  let value = crc;
  let index = start;
  for (const stop = end - 7; index < stop; index += 8) {
    const low = value ^ (bytes[index]! | (bytes[index + 1]! << 8) | (bytes[index + 2]! << 16) | (bytes[index + 3]! << 24));
    value =
      T7[low & 0xff]! ^ T6[(low >>> 8) & 0xff]! ^ T5[(low >>> 16) & 0xff]! ^ T4[low >>> 24]! ^
      T3[bytes[index + 4]!]! ^ T2[bytes[index + 5]!]! ^ T1[bytes[index + 6]!]! ^ T0[bytes[index + 7]!]!;
  }
  return updateBytes(value, bytes, index, end);
}

/**
 * Sixteen bytes per step from `words[first, first + wordCount)`, then four bytes per step
 * (slicing-by-4) for the last up to three words.
 */
function updateWords(crc: number, words: Int32Array<ArrayBufferLike>, first: number, wordCount: number): number {
  let value = crc;
  let word = first;
  for (const stop = first + (wordCount & ~3); word < stop; word += 4) {
    const a = value ^ words[word]!;
    const b = words[word + 1]!;
    const c = words[word + 2]!;
    const d = words[word + 3]!;
    value =
      T15[a & 0xff]! ^ T14[(a >>> 8) & 0xff]! ^ T13[(a >>> 16) & 0xff]! ^ T12[a >>> 24]! ^
      T11[b & 0xff]! ^ T10[(b >>> 8) & 0xff]! ^ T9[(b >>> 16) & 0xff]! ^ T8[b >>> 24]! ^
      T7[c & 0xff]! ^ T6[(c >>> 8) & 0xff]! ^ T5[(c >>> 16) & 0xff]! ^ T4[c >>> 24]! ^
      T3[d & 0xff]! ^ T2[(d >>> 8) & 0xff]! ^ T1[(d >>> 16) & 0xff]! ^ T0[d >>> 24]!;
  }
  for (const end = first + wordCount; word < end; word++) {
    const a = value ^ words[word]!;
    value = T3[a & 0xff]! ^ T2[(a >>> 8) & 0xff]! ^ T1[(a >>> 16) & 0xff]! ^ T0[a >>> 24]!;
  }
  return value;
}

/** The pure-JS update: the whole algorithm when the native module is absent, and short inputs always. */
function crc32cUpdateJs(crc: number, bytes: Uint8Array, start: number, end: number): number {
  let value = crc | 0;
  if (!LITTLE_ENDIAN || end - start < WORD_PATH_BYTES_MIN) return updateShort(value, bytes, start, end) >>> 0;
  // Bytes one at a time up to a 4-byte aligned address, then whole words, then the last bytes.
  const misalignment = (bytes.byteOffset + start) & 3;
  const head = misalignment === 0 ? start : start + 4 - misalignment;
  value = updateBytes(value, bytes, start, head);
  const wordCount = (end - head) >>> 2;
  value = updateWords(value, wordsOf(bytes.buffer, bytes.byteOffset + end), (bytes.byteOffset + head) >>> 2, wordCount);
  return updateBytes(value, bytes, head + wordCount * 4, end) >>> 0;
}

/**
 * Folds `bytes[start, end)` into a running (non-finalized) CRC and returns the new running value
 * as an unsigned 32-bit number.
 *
 * The native function continues from a finalized checksum (its `initialState` is the result of an
 * earlier call, 0 to start), so the running value is finalized on the way in and un-finalized on
 * the way out; both are the same xor with 0xFFFFFFFF. It reads a whole Buffer, so it gets a view
 * of the range over the input's own memory (ArrayBuffer or SharedArrayBuffer), never a copy.
 */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  const length = end - start;
  if (length >= NATIVE_BYTES_MIN && activeNative !== undefined) {
    const view = Buffer.from(bytes.buffer, bytes.byteOffset + start, length);
    return (activeNative(view, (crc ^ 0xffffffff) >>> 0) ^ 0xffffffff) >>> 0;
  }
  return crc32cUpdateJs(crc, bytes, start, end);
}

/**
 * The finalized CRC-32C of a WAL record as PostgreSQL computes xl_crc: the bytes after the
 * 24-byte header (`bytes[offset + 24, offset + totalLength)`) first, then the header up to xl_crc
 * (`bytes[offset, offset + 20)`). WHY one function: most records are under a hundred bytes, and for
 * those the two generic calls cost more than the checksum; a record that starts on a 4-byte
 * boundary (all of them in the decoder's buffers: records are MAXALIGNed) is folded word by word
 * from one cached view, both pieces.
 */
export function crc32cOfRecord(bytes: Uint8Array, offset: number, totalLength: number): number {
  const dataStart = offset + 24;
  const end = offset + totalLength;
  const address = bytes.byteOffset + offset;
  if (!LITTLE_ENDIAN || (address & 3) !== 0 || totalLength < 24 || totalLength >= NATIVE_BYTES_MIN) {
    return crc32cFinish(crc32cUpdate(crc32cUpdate(CRC32C_INIT, bytes, dataStart, end), bytes, offset, offset + 20));
  }
  const words = wordsOf(bytes.buffer, bytes.byteOffset + end);
  const dataWords = (totalLength - 24) >>> 2;
  let value = updateWords(CRC32C_INIT | 0, words, (address + 24) >>> 2, dataWords);
  value = updateBytes(value, bytes, dataStart + dataWords * 4, end);
  value = updateWords(value, words, address >>> 2, 5);
  return crc32cFinish(value >>> 0);
}

/** Which implementation long inputs currently use: the native module, or the pure-JS fallback. */
export function crc32cImplementation(): 'native' | 'js' {
  return activeNative === undefined ? 'js' : 'native';
}

/**
 * Test hook: `true` makes every input take the pure-JS path, `false` restores the native path
 * when the module loaded. Only tests call it, so that both paths are exercised on one machine.
 */
export function forceJsCrc32cForTesting(forceJs: boolean): void {
  activeNative = forceJs ? undefined : loadedNative;
}

/** Finalizes a running value (FIN_CRC32C). */
export function crc32cFinish(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32C of a whole buffer (range), finalized. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32cFinish(crc32cUpdate(CRC32C_INIT, bytes, start, end));
}
