/**
 * The on-disk format shared by delta and image layer files (delta-layer.ts, image-layer.ts).
 *
 *   +-----------------+------------------------------+---------------------+----------+
 *   | header 128 B    | value blobs                  | index               | footer   |
 *   +-----------------+------------------------------+---------------------+----------+
 *   0                 128                            indexOffset           size-16    size
 *
 * Header (integers little-endian, u64 as low u32 then high u32):
 *    0  magic 'STLF'            4  u16 format version (1)    6  u8 kind (1 delta, 2 image)
 *    8  keyStart (18 bytes)    26  keyEnd (18 bytes, exclusive)
 *   44  u64 lsnStart           52  u64 lsnEnd (exclusive)
 *   60  u32 entry count        64  u32 distinct key count
 *   68  u64 values offset      76  u64 values length
 *   84  u64 index offset       92  u64 index length
 *  100  u64 highest value LSN (lsnMax)                      108-123 zero
 *  124  u32 CRC-32C of bytes 0-123
 *
 * Value blobs: encoded values (value-codec.ts), back to back, in index order.
 *
 * Index: one 48-byte entry per version, sorted by (key bytes, LSN), binary-searchable in place:
 *    0  key (18 bytes)   18  u8 flags (bit 0: image or will-init)   19  zero
 *   20  u64 lsn          28  u64 blob offset    36  u32 blob length   40  u32 CRC-32C of the blob
 *   44  zero
 *
 * Footer (last 16 bytes): magic 'STLE' | u32 CRC-32C of the index | u32 header CRC (again) |
 * u32 CRC-32C of the footer's first 12 bytes.
 *
 * Why per-blob checksums: a reader verifies the header, footer and index when it opens a file
 * (all small), and each blob when it reads it, so opening never reads whole value regions and a
 * flipped bit anywhere still surfaces as PS_ERR_IO naming the file.
 */
import { assert } from '../assert.js';
import { KEY_BYTES, type Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import { crc32c } from './checksum.js';

export const HEADER_BYTES = 128;
export const FOOTER_BYTES = 16;
export const INDEX_ENTRY_BYTES = 48;
export const FORMAT_VERSION = 1;
export const HEADER_MAGIC = Buffer.from('STLF', 'latin1');
export const FOOTER_MAGIC = Buffer.from('STLE', 'latin1');
export const FLAG_WILL_INIT = 0x01;

export const enum LayerFileKind {
  Delta = 1,
  Image = 2,
}

export interface LayerFileHeader {
  kind: LayerFileKind;
  keyStart: Key;
  keyEnd: Key;
  lsnStart: Lsn;
  lsnEnd: Lsn;
  entryCount: number;
  keyCount: number;
  valuesOffset: number;
  valuesLength: number;
  indexOffset: number;
  indexLength: number;
  lsnMax: Lsn;
}

const TWO_TO_32 = 0x1_0000_0000;

export function writeU64(target: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, 'u64 field must be a non-negative safe integer');
  target.writeUInt32LE(value % TWO_TO_32, offset);
  target.writeUInt32LE(Math.floor(value / TWO_TO_32), offset + 4);
}

/**
 * writeU64 without its per-call check, for the flush's per-entry loop: the caller asserts once that
 * every value it writes is a non-negative safe integer (e.g. all LSNs lie inside the layer's range).
 */
export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_TO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_TO_32), true);
}

export function readU64(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset) + source.readUInt32LE(offset + 4) * TWO_TO_32;
}

export function encodeHeader(header: LayerFileHeader): Buffer {
  assert(header.keyStart < header.keyEnd, 'header key range must not be empty');
  assert(header.lsnStart < header.lsnEnd, 'header LSN range must not be empty');
  const bytes = Buffer.alloc(HEADER_BYTES);
  HEADER_MAGIC.copy(bytes, 0);
  bytes.writeUInt16LE(FORMAT_VERSION, 4);
  bytes.writeUInt8(header.kind, 6);
  bytes.write(header.keyStart, 8, KEY_BYTES, 'hex');
  bytes.write(header.keyEnd, 26, KEY_BYTES, 'hex');
  writeU64(bytes, 44, header.lsnStart);
  writeU64(bytes, 52, header.lsnEnd);
  bytes.writeUInt32LE(header.entryCount, 60);
  bytes.writeUInt32LE(header.keyCount, 64);
  writeU64(bytes, 68, header.valuesOffset);
  writeU64(bytes, 76, header.valuesLength);
  writeU64(bytes, 84, header.indexOffset);
  writeU64(bytes, 92, header.indexLength);
  writeU64(bytes, 100, header.lsnMax);
  bytes.writeUInt32LE(crc32c(bytes.subarray(0, 124)), 124);
  return bytes;
}

/** Decodes a header; returns a reason string when it is not a valid header. */
export function decodeHeader(bytes: Buffer): LayerFileHeader | string {
  if (bytes.length !== HEADER_BYTES) return `header is ${bytes.length} bytes`;
  if (!bytes.subarray(0, 4).equals(HEADER_MAGIC)) return 'bad header magic';
  if (crc32c(bytes.subarray(0, 124)) !== bytes.readUInt32LE(124)) return 'header checksum mismatch';
  const version = bytes.readUInt16LE(4);
  if (version !== FORMAT_VERSION) return `unsupported format version ${version}`;
  const kind = bytes.readUInt8(6);
  if (kind !== LayerFileKind.Delta && kind !== LayerFileKind.Image) return `unknown layer kind ${kind}`;
  return {
    kind,
    keyStart: bytes.toString('hex', 8, 26),
    keyEnd: bytes.toString('hex', 26, 44),
    lsnStart: readU64(bytes, 44),
    lsnEnd: readU64(bytes, 52),
    entryCount: bytes.readUInt32LE(60),
    keyCount: bytes.readUInt32LE(64),
    valuesOffset: readU64(bytes, 68),
    valuesLength: readU64(bytes, 76),
    indexOffset: readU64(bytes, 84),
    indexLength: readU64(bytes, 92),
    lsnMax: readU64(bytes, 100),
  };
}

export function encodeFooter(indexChecksum: number, headerChecksum: number): Buffer {
  const bytes = Buffer.alloc(FOOTER_BYTES);
  FOOTER_MAGIC.copy(bytes, 0);
  bytes.writeUInt32LE(indexChecksum, 4);
  bytes.writeUInt32LE(headerChecksum, 8);
  bytes.writeUInt32LE(crc32c(bytes.subarray(0, 12)), 12);
  return bytes;
}

/** Decodes a footer; returns a reason string when it is not valid. */
export function decodeFooter(bytes: Buffer): { indexChecksum: number; headerChecksum: number } | string {
  if (bytes.length !== FOOTER_BYTES) return `footer is ${bytes.length} bytes`;
  if (!bytes.subarray(0, 4).equals(FOOTER_MAGIC)) return 'bad footer magic (truncated file?)';
  if (crc32c(bytes.subarray(0, 12)) !== bytes.readUInt32LE(12)) return 'footer checksum mismatch';
  return { indexChecksum: bytes.readUInt32LE(4), headerChecksum: bytes.readUInt32LE(8) };
}

/** Compares the 18 key bytes of the index entry at `entryOffset` with `key` (-1, 0, 1). */
export function compareEntryKey(index: Buffer, entryOffset: number, key: Uint8Array): number {
  for (let byte = 0; byte < KEY_BYTES; byte++) {
    const difference = index[entryOffset + byte]! - key[byte]!;
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  return 0;
}
