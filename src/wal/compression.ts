/**
 * Decompressors for full-page images in WAL (wal_compression = pglz | lz4 | zstd).
 *
 * WHY our own pglz and LZ4: both formats are tiny (a control-bit stream of literals and
 * back-references), a pure-JS decoder into a caller-supplied page buffer allocates nothing, and no
 * native addon is needed. zstd is a much larger format; it comes from the `fzstd` package.
 *
 * Each function decompresses `source` into `target[targetStart, targetStart + expectedLength)` and
 * insists that exactly `expectedLength` bytes come out and that all of `source` is consumed, as
 * PostgreSQL's RestoreBlockImage does (pglz_decompress with check_complete, LZ4_decompress_safe,
 * ZSTD_decompress). A violation is corrupt WAL: a coded StrataError, never a partial page.
 *
 * pglz stream (common/pg_lzcompress.c, no header since 9.5): a control byte announces eight items,
 * least significant bit first. Bit 0: one literal byte. Bit 1: a back-reference of two or three
 * bytes: length = (b0 & 0x0f) + 3, offset = ((b0 & 0xf0) << 4) | b1, and when the length nibble
 * is 15 a third byte adds up to 255 more. Copies may overlap their own output (runs).
 *
 * LZ4 block (lz4_Block_format.md): sequences of token (high nibble literal length, low nibble
 * match length - 4, each extended by 255-valued bytes when 15), literals, a 2-byte little-endian
 * offset and the match. The last sequence has literals only.
 */
import { decompress as zstdDecompress } from 'fzstd';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

function corrupt(method: string, reason: string): StrataError {
  return new StrataError('PS_ERR_WAL_CORRUPT', `invalid ${method} compressed block image: ${reason}`, { method });
}

/** Decompresses a pglz stream; returns expectedLength or throws PS_ERR_WAL_CORRUPT. */
export function pglzDecompress(source: Uint8Array, target: Uint8Array, targetStart: number, expectedLength: number): number {
  assert(targetStart >= 0 && targetStart + expectedLength <= target.length, 'pglz target too small');
  const sourceEnd = source.length;
  const targetEnd = targetStart + expectedLength;
  let sourceIndex = 0;
  let targetIndex = targetStart;
  while (sourceIndex < sourceEnd && targetIndex < targetEnd) {
    let control = source[sourceIndex++]!;
    for (let item = 0; item < 8 && sourceIndex < sourceEnd && targetIndex < targetEnd; item++) {
      if ((control & 1) === 0) {
        target[targetIndex++] = source[sourceIndex++]!;
      } else {
        if (sourceIndex + 2 > sourceEnd) throw corrupt('pglz', 'truncated back-reference');
        const first = source[sourceIndex]!;
        let length = (first & 0x0f) + 3;
        const offset = ((first & 0xf0) << 4) | source[sourceIndex + 1]!;
        sourceIndex += 2;
        if (length === 18) {
          if (sourceIndex >= sourceEnd) throw corrupt('pglz', 'truncated length byte');
          length += source[sourceIndex++]!;
        }
        if (offset === 0 || offset > targetIndex - targetStart) throw corrupt('pglz', 'back-reference before start');
        if (length > targetEnd - targetIndex) length = targetEnd - targetIndex;
        targetIndex = copyMatch(target, targetIndex, offset, length);
      }
      control >>= 1;
    }
  }
  if (targetIndex !== targetEnd || sourceIndex !== sourceEnd) {
    throw corrupt('pglz', `produced ${targetIndex - targetStart} of ${expectedLength} bytes`);
  }
  return expectedLength;
}

/** Below this length a plain loop beats the call overhead of copyWithin / set. */
const SHORT_COPY_BYTES = 48;

/** Copies `length` bytes from `offset` back, byte by byte when the ranges overlap (runs). */
function copyMatch(target: Uint8Array, targetIndex: number, offset: number, length: number): number {
  const end = targetIndex + length;
  if (offset >= length && length >= SHORT_COPY_BYTES) {
    target.copyWithin(targetIndex, targetIndex - offset, targetIndex - offset + length);
    return end;
  }
  for (let index = targetIndex; index < end; index++) target[index] = target[index - offset]!;
  return end;
}

/** Copies literals from the compressed stream into the output. */
function copyLiterals(source: Uint8Array, sourceIndex: number, target: Uint8Array, targetIndex: number, length: number): void {
  if (length >= SHORT_COPY_BYTES) {
    target.set(source.subarray(sourceIndex, sourceIndex + length), targetIndex);
    return;
  }
  for (let index = 0; index < length; index++) target[targetIndex + index] = source[sourceIndex + index]!;
}

/** Decompresses one LZ4 block; returns expectedLength or throws PS_ERR_WAL_CORRUPT. */
export function lz4Decompress(source: Uint8Array, target: Uint8Array, targetStart: number, expectedLength: number): number {
  assert(targetStart >= 0 && targetStart + expectedLength <= target.length, 'lz4 target too small');
  const sourceEnd = source.length;
  const targetEnd = targetStart + expectedLength;
  let sourceIndex = 0;
  let targetIndex = targetStart;
  for (;;) {
    if (sourceIndex >= sourceEnd) throw corrupt('lz4', 'truncated sequence');
    const token = source[sourceIndex++]!;
    let literalLength = token >>> 4;
    if (literalLength === 15) {
      let extra: number;
      do {
        if (sourceIndex >= sourceEnd) throw corrupt('lz4', 'truncated literal length');
        extra = source[sourceIndex++]!;
        literalLength += extra;
      } while (extra === 255);
    }
    if (sourceIndex + literalLength > sourceEnd || targetIndex + literalLength > targetEnd) {
      throw corrupt('lz4', 'literals overrun');
    }
    copyLiterals(source, sourceIndex, target, targetIndex, literalLength);
    sourceIndex += literalLength;
    targetIndex += literalLength;
    if (sourceIndex === sourceEnd) break;
    if (sourceIndex + 2 > sourceEnd) throw corrupt('lz4', 'truncated offset');
    const offset = source[sourceIndex]! | (source[sourceIndex + 1]! << 8);
    sourceIndex += 2;
    if (offset === 0 || offset > targetIndex - targetStart) throw corrupt('lz4', 'offset before start');
    let matchLength = token & 0x0f;
    if (matchLength === 15) {
      let extra: number;
      do {
        if (sourceIndex >= sourceEnd) throw corrupt('lz4', 'truncated match length');
        extra = source[sourceIndex++]!;
        matchLength += extra;
      } while (extra === 255);
    }
    matchLength += 4;
    if (targetIndex + matchLength > targetEnd) throw corrupt('lz4', 'match overruns output');
    targetIndex = copyMatch(target, targetIndex, offset, matchLength);
  }
  if (targetIndex !== targetEnd) throw corrupt('lz4', `produced ${targetIndex - targetStart} of ${expectedLength} bytes`);
  return expectedLength;
}

/** Decompresses one zstd frame; returns expectedLength or throws PS_ERR_WAL_CORRUPT. */
export function zstdDecompressInto(source: Uint8Array, target: Uint8Array, targetStart: number, expectedLength: number): number {
  assert(targetStart >= 0 && targetStart + expectedLength <= target.length, 'zstd target too small');
  let output: Uint8Array;
  try {
    output = zstdDecompress(source);
  } catch (error) {
    throw corrupt('zstd', error instanceof Error ? error.message : String(error));
  }
  if (output.length !== expectedLength) throw corrupt('zstd', `produced ${output.length} of ${expectedLength} bytes`);
  target.set(output, targetStart);
  return expectedLength;
}
