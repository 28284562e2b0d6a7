/**
 * Binary encodings of the metadata values ingest and import write as images: relation sizes
 * (and the tombstone of a dropped relation), relation directories, the database directory, and
 * the sets behind the SLRU and two-phase directories.
 *
 * WHY binary and not JSON: directories and sizes are rewritten on every create/extend on the
 * ingest hot path; a fixed little-endian layout is cheap to build and to check.
 *
 * Every value starts with a 4-byte header:  tag (u8) | version (u8 = 1) | reserved (u16 = 0)
 *
 *   'S' 0x53 relation size     header | u32 nblocks                               (8 bytes)
 *   'T' 0x54 dropped relation  header | u32 0        (relation absent from this LSN on)
 *   'D' 0x44 relation dir      header | u32 n | n × (u32 relNode | u8 forkMask | 3 pad), by relNode
 *   'B' 0x42 database dir      header | u32 n | n × (u32 spcNode | u32 dbNode), sorted
 *   'U' 0x55 u32 set           header | u32 n | n × u32, sorted (SLRU segments, two-phase xids)
 *
 * Example: a relation of 3 blocks is `53 01 00 00 03 00 00 00`. forkMask has bit f set when fork f
 * (main 0, fsm 1, vm 2, init 3) exists. A reader refuses an unknown tag or version (PS_ERR_IO).
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

export const enum MetadataTag {
  RelSize = 0x53,
  Dropped = 0x54,
  RelDir = 0x44,
  DbDir = 0x42,
  U32Set = 0x55,
}

const VERSION = 1;
const HEADER_BYTES = 4;

function header(bytes: Uint8Array, tag: MetadataTag): DataView {
  bytes[0] = tag;
  bytes[1] = VERSION;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkHeader(bytes: Uint8Array, tags: readonly MetadataTag[], what: string): DataView {
  if (bytes.length < HEADER_BYTES + 4 || !tags.includes(bytes[0]!) || bytes[1] !== VERSION) {
    throw new StrataError('PS_ERR_IO', `bad ${what} value (tag 0x${(bytes[0] ?? 0).toString(16)}, version ${bytes[1]})`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeRelSize(blocks: number): Uint8Array {
  assert(Number.isInteger(blocks) && blocks >= 0 && blocks <= 0xffffffff, 'relation size out of range');
  const bytes = new Uint8Array(8);
  header(bytes, MetadataTag.RelSize).setUint32(4, blocks, true);
  return bytes;
}

export const DROPPED_RELATION: Uint8Array = (() => {
  const bytes = new Uint8Array(8);
  header(bytes, MetadataTag.Dropped);
  return bytes;
})();

/** The size in blocks, or undefined for a dropped relation. */
export function decodeRelSize(bytes: Uint8Array): number | undefined {
  const view = checkHeader(bytes, [MetadataTag.RelSize, MetadataTag.Dropped], 'relation size');
  return bytes[0] === MetadataTag.Dropped ? undefined : view.getUint32(4, true);
}

/** relNode → fork mask. */
export type RelDirectory = Map<number, number>;

export function encodeRelDir(directory: RelDirectory): Uint8Array {
  const relNodes = [...directory.keys()].sort((a, b) => a - b);
  const bytes = new Uint8Array(HEADER_BYTES + 4 + relNodes.length * 8);
  const view = header(bytes, MetadataTag.RelDir);
  view.setUint32(4, relNodes.length, true);
  let offset = 8;
  for (const relNode of relNodes) {
    const mask = directory.get(relNode)!;
    assert(mask > 0 && mask < 16, 'a directory entry has at least one fork');
    view.setUint32(offset, relNode, true);
    view.setUint8(offset + 4, mask);
    offset += 8;
  }
  return bytes;
}

export function decodeRelDir(bytes: Uint8Array): RelDirectory {
  const view = checkHeader(bytes, [MetadataTag.RelDir], 'relation directory');
  const count = view.getUint32(4, true);
  if (bytes.length !== 8 + count * 8) throw new StrataError('PS_ERR_IO', 'relation directory length mismatch');
  const directory: RelDirectory = new Map();
  for (let index = 0, offset = 8; index < count; index++, offset += 8) directory.set(view.getUint32(offset, true), view.getUint8(offset + 4));
  return directory;
}

/** Database directory entries as `spcNode/dbNode` strings (Set-friendly). */
export type DbDirectory = Set<string>;

export function dbDirEntry(spcNode: number, dbNode: number): string {
  return `${spcNode}/${dbNode}`;
}

export function parseDbDirEntry(entry: string): { spcNode: number; dbNode: number } {
  const slash = entry.indexOf('/');
  return { spcNode: Number(entry.slice(0, slash)), dbNode: Number(entry.slice(slash + 1)) };
}

export function encodeDbDir(directory: DbDirectory): Uint8Array {
  const entries = [...directory].map(parseDbDirEntry).sort((a, b) => a.spcNode - b.spcNode || a.dbNode - b.dbNode);
  const bytes = new Uint8Array(8 + entries.length * 8);
  const view = header(bytes, MetadataTag.DbDir);
  view.setUint32(4, entries.length, true);
  entries.forEach((entry, index) => {
    view.setUint32(8 + index * 8, entry.spcNode, true);
    view.setUint32(12 + index * 8, entry.dbNode, true);
  });
  return bytes;
}

export function decodeDbDir(bytes: Uint8Array): DbDirectory {
  const view = checkHeader(bytes, [MetadataTag.DbDir], 'database directory');
  const count = view.getUint32(4, true);
  if (bytes.length !== 8 + count * 8) throw new StrataError('PS_ERR_IO', 'database directory length mismatch');
  const directory: DbDirectory = new Set();
  for (let index = 0; index < count; index++) directory.add(dbDirEntry(view.getUint32(8 + index * 8, true), view.getUint32(12 + index * 8, true)));
  return directory;
}

export function encodeU32Set(values: Set<number>): Uint8Array {
  const sorted = [...values].sort((a, b) => a - b);
  const bytes = new Uint8Array(8 + sorted.length * 4);
  const view = header(bytes, MetadataTag.U32Set);
  view.setUint32(4, sorted.length, true);
  sorted.forEach((value, index) => view.setUint32(8 + index * 4, value, true));
  return bytes;
}

export function decodeU32Set(bytes: Uint8Array): Set<number> {
  const view = checkHeader(bytes, [MetadataTag.U32Set], 'u32 set');
  const count = view.getUint32(4, true);
  if (bytes.length !== 8 + count * 4) throw new StrataError('PS_ERR_IO', 'u32 set length mismatch');
  const values = new Set<number>();
  for (let index = 0; index < count; index++) values.add(view.getUint32(8 + index * 4, true));
  return values;
}
