/**
 * Compact binary encoding of a stored Value (value.ts): what the in-memory layer keeps in its
 * chunks and what layer files hold as value blobs. No JSON: ingest encodes hundreds of thousands
 * of values per second and reads decode one per version.
 *
 * Byte layout (integers little-endian):
 *
 *   image         | 0x01 | page or blob bytes ...                      |
 *   walRecord     | 0x02 | flags u8 | blockId u8 | XLogRecord bytes ... |
 *   strataRecord  | 0x03 | flags u8 | kind u8   | payload ...           |
 *
 *   flags bit 0 = willInit. Byte 0 and bit 0 of byte 1 alone say whether a value stops the
 *   search (see `encodedWillInit`), so indexes can answer that without decoding.
 *
 * Strata record payloads by kind:
 *
 *   1 ClearVisibilityMapFlags  flags u8 | count u16 | heapBlocks u32 × count
 *   2 ClogSetCommitted         timestamp f64 | count u32 | xids u32 × count
 *   3 ClogSetAborted           count u32 | xids u32 × count
 *   4 MultixactOffsetCreate    multiXactId u32 | offset u32
 *   5 MultixactMembersCreate   offset u32 | count u32 | (xid u32, status u8) × count
 *   6 MultixactOffsetsSet      count u32 | (multiXactId u32, offset u32) × count
 *   7 TruncateVisibilityMap    heapBlocks u32
 *   8 HeapSetAllVisible        (no payload)
 *
 * The timestamp is a float64 so any JS number (TimestampTz microseconds fit in 2^53) round-trips.
 *
 * ValueWriters (below) write the same bytes without a Value object: ingest's fast path into the
 * in-memory layer. Whatever a writer wrote decodes with decodeValue like encodeValue's output.
 */
import { assert, assertNever } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import { stampRestoredImage } from '../page-lsn.js';
import { copyBytes } from '../wal/shared-copy.js';
import type { StrataRecord, Value } from '../value.js';

export const enum ValueTag {
  Image = 0x01,
  WalRecord = 0x02,
  StrataRecord = 0x03,
}

const enum StrataKind {
  ClearVisibilityMapFlags = 1,
  ClogSetCommitted = 2,
  ClogSetAborted = 3,
  MultixactOffsetCreate = 4,
  MultixactMembersCreate = 5,
  MultixactOffsetsSet = 6,
  TruncateVisibilityMap = 7,
  HeapSetAllVisible = 8,
}

const FLAG_WILL_INIT = 0x01;
const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);

function strataPayloadLength(record: StrataRecord): number {
  switch (record.kind) {
    case 'ClearVisibilityMapFlags': return 3 + 4 * record.heapBlocks.length;
    case 'ClogSetCommitted': return 12 + 4 * record.xids.length;
    case 'ClogSetAborted': return 4 + 4 * record.xids.length;
    case 'MultixactOffsetCreate': return 8;
    case 'MultixactMembersCreate': return 8 + 5 * record.members.length;
    case 'MultixactOffsetsSet': return 4 + 8 * record.entries.length;
    case 'TruncateVisibilityMap': return 4;
    case 'HeapSetAllVisible': return 0;
    default: return assertNever(record);
  }
}

/** Bytes `encodeValueInto` writes for `value`. */
export function encodedValueLength(value: Value): number {
  switch (value.kind) {
    case 'image': return 1 + value.bytes.length;
    case 'walRecord': return 3 + value.record.length;
    case 'strataRecord': return 3 + strataPayloadLength(value.record);
    default: return assertNever(value);
  }
}

function writeU32(target: Uint8Array, offset: number, value: number): number {
  assert(value >= 0 && value <= 0xffffffff && Number.isInteger(value), 'u32 field out of range');
  target[offset] = value & 0xff;
  target[offset + 1] = (value >>> 8) & 0xff;
  target[offset + 2] = (value >>> 16) & 0xff;
  target[offset + 3] = value >>> 24;
  return offset + 4;
}

function readU32(source: Uint8Array, offset: number): number {
  return (source[offset]! | (source[offset + 1]! << 8) | (source[offset + 2]! << 16)) + source[offset + 3]! * 0x1000000;
}

function writeU32List(target: Uint8Array, offset: number, values: readonly number[]): number {
  let position = offset;
  for (const value of values) position = writeU32(target, position, value);
  return position;
}

function encodeStrataPayload(record: StrataRecord, target: Uint8Array, offset: number): number {
  switch (record.kind) {
    case 'ClearVisibilityMapFlags': {
      assert(record.heapBlocks.length <= 0xffff && record.flags >= 0 && record.flags <= 0xff, 'visibility-map record out of range');
      target[offset] = record.flags;
      target[offset + 1] = record.heapBlocks.length & 0xff;
      target[offset + 2] = record.heapBlocks.length >>> 8;
      return writeU32List(target, offset + 3, record.heapBlocks);
    }
    case 'ClogSetCommitted': {
      float64[0] = record.timestamp;
      target.set(float64Bytes, offset);
      return writeU32List(target, writeU32(target, offset + 8, record.xids.length), record.xids);
    }
    case 'ClogSetAborted':
      return writeU32List(target, writeU32(target, offset, record.xids.length), record.xids);
    case 'MultixactOffsetCreate':
      return writeU32(target, writeU32(target, offset, record.multiXactId), record.offset);
    case 'TruncateVisibilityMap':
      return writeU32(target, offset, record.heapBlocks);
    case 'HeapSetAllVisible':
      return offset;
    case 'MultixactOffsetsSet': {
      let position = writeU32(target, offset, record.entries.length);
      for (const entry of record.entries) position = writeU32(target, writeU32(target, position, entry.multiXactId), entry.offset);
      return position;
    }
    case 'MultixactMembersCreate': {
      let position = writeU32(target, writeU32(target, offset, record.offset), record.members.length);
      for (const member of record.members) {
        assert(member.status >= 0 && member.status <= 0xff, 'multixact member status is a u8');
        position = writeU32(target, position, member.xid);
        target[position++] = member.status;
      }
      return position;
    }
    default: return assertNever(record);
  }
}

function strataKindCode(record: StrataRecord): StrataKind {
  switch (record.kind) {
    case 'ClearVisibilityMapFlags': return StrataKind.ClearVisibilityMapFlags;
    case 'ClogSetCommitted': return StrataKind.ClogSetCommitted;
    case 'ClogSetAborted': return StrataKind.ClogSetAborted;
    case 'MultixactOffsetCreate': return StrataKind.MultixactOffsetCreate;
    case 'MultixactMembersCreate': return StrataKind.MultixactMembersCreate;
    case 'MultixactOffsetsSet': return StrataKind.MultixactOffsetsSet;
    case 'TruncateVisibilityMap': return StrataKind.TruncateVisibilityMap;
    case 'HeapSetAllVisible': return StrataKind.HeapSetAllVisible;
    default: return assertNever(record);
  }
}

/** Encodes `value` at `target[offset..]`; returns the offset after it. */
export function encodeValueInto(value: Value, target: Uint8Array, offset: number): number {
  assert(offset + encodedValueLength(value) <= target.length, 'value does not fit the target');
  switch (value.kind) {
    case 'image':
      target[offset] = ValueTag.Image;
      target.set(value.bytes, offset + 1);
      return offset + 1 + value.bytes.length;
    case 'walRecord':
      assert(value.blockId >= 0 && value.blockId <= 0xff, 'block id is a u8');
      target[offset] = ValueTag.WalRecord;
      target[offset + 1] = value.willInit ? FLAG_WILL_INIT : 0;
      target[offset + 2] = value.blockId;
      target.set(value.record, offset + 3);
      return offset + 3 + value.record.length;
    case 'strataRecord':
      target[offset] = ValueTag.StrataRecord;
      target[offset + 1] = value.willInit ? FLAG_WILL_INIT : 0;
      target[offset + 2] = strataKindCode(value.record);
      return encodeStrataPayload(value.record, target, offset + 3);
    default: return assertNever(value);
  }
}

/**
 * Writes one encoded value straight into a layer's memory: the fast path of ingest, which encodes
 * block values without building a Value object or an intermediate page. Writers are reusable
 * (ingest keeps one per kind and resets its fields per block), so a put allocates nothing.
 */
export interface ValueWriter {
  /** Bytes `writeInto` writes. */
  readonly encodedLength: number;
  /** Writes the encoded value (layout above) at target[offset .. offset + encodedLength). */
  writeInto(target: Uint8Array, offset: number): void;
}

/** A ValueWriter for any Value (the generic `put` path). */
export class ValueObjectWriter implements ValueWriter {
  #value: Value | undefined;
  encodedLength = 0;

  reset(value: Value): this {
    this.#value = value;
    this.encodedLength = encodedValueLength(value);
    return this;
  }

  writeInto(target: Uint8Array, offset: number): void {
    assert(this.#value !== undefined, 'writer reset before use');
    encodeValueInto(this.#value, target, offset);
    this.#value = undefined;
  }
}

/** A ValueWriter for a walRecord value: the block's header bytes, then the record bytes. */
export class WalRecordWriter implements ValueWriter {
  #record: Uint8Array = new Uint8Array(0);
  #blockId = 0;
  #willInit = false;
  encodedLength = 3;

  reset(record: Uint8Array, blockId: number, willInit: boolean): this {
    assert(blockId >= 0 && blockId <= 0xff, 'block id is a u8');
    this.#record = record;
    this.#blockId = blockId;
    this.#willInit = willInit;
    this.encodedLength = 3 + record.length;
    return this;
  }

  writeInto(target: Uint8Array, offset: number): void {
    target[offset] = ValueTag.WalRecord;
    target[offset + 1] = this.#willInit ? FLAG_WILL_INIT : 0;
    target[offset + 2] = this.#blockId;
    target.set(this.#record, offset + 3);
  }
}

/**
 * A ValueWriter for a walRecord value whose record bytes the caller copies (`copyRecord`): ingest
 * copies a decoded record without making a view of it. Writes the same bytes as WalRecordWriter.
 */
export class CopiedWalRecordWriter<Source> implements ValueWriter {
  #source: Source | undefined;
  #blockId = 0;
  #willInit = false;
  encodedLength = 3;

  constructor(private readonly copyRecord: (source: Source, target: Uint8Array, offset: number) => void) {}

  reset(source: Source, recordLength: number, blockId: number, willInit: boolean): this {
    assert(blockId >= 0 && blockId <= 0xff, 'block id is a u8');
    this.#source = source;
    this.#blockId = blockId;
    this.#willInit = willInit;
    this.encodedLength = 3 + recordLength;
    return this;
  }

  writeInto(target: Uint8Array, offset: number): void {
    assert(this.#source !== undefined, 'writer reset before use');
    target[offset] = ValueTag.WalRecord;
    target[offset + 1] = this.#willInit ? FLAG_WILL_INIT : 0;
    target[offset + 2] = this.#blockId;
    this.copyRecord(this.#source, target, offset + 3);
    this.#source = undefined;
  }
}

/**
 * A ValueWriter for the CLOG record of one transaction: ClogSetCommitted (with its timestamp) or
 * ClogSetAborted of a single xid, written without the record object or its xid list. Writes the
 * same bytes as encodeValue of `{ kind: 'strataRecord', willInit: false, record }`.
 */
export class SingleClogStatusWriter implements ValueWriter {
  #xid = 0;
  #committed = false;
  #timestamp = 0;
  encodedLength = 0;

  reset(xid: number, committed: boolean, timestamp: number): this {
    assert(xid >= 0 && xid <= 0xffffffff && Number.isInteger(xid), 'an xid is a u32');
    this.#xid = xid;
    this.#committed = committed;
    this.#timestamp = timestamp;
    this.encodedLength = committed ? 3 + 12 + 4 : 3 + 4 + 4;
    return this;
  }

  writeInto(target: Uint8Array, offset: number): void {
    target[offset] = ValueTag.StrataRecord;
    target[offset + 1] = 0;
    let position = offset + 3;
    if (this.#committed) {
      target[offset + 2] = StrataKind.ClogSetCommitted;
      float64[0] = this.#timestamp;
      target.set(float64Bytes, position);
      position += 8;
    } else {
      target[offset + 2] = StrataKind.ClogSetAborted;
    }
    writeU32(target, writeU32(target, position, 1), this.#xid);
  }
}

/**
 * A ValueWriter for ClearVisibilityMapFlags of one heap block, without the record object or its
 * block list. Writes the same bytes as encodeValue of `{ kind: 'strataRecord', willInit: false,
 * record: { kind: 'ClearVisibilityMapFlags', heapBlocks: [heapBlock], flags } }`.
 */
export class SingleVisibilityClearWriter implements ValueWriter {
  #heapBlock = 0;
  #flags = 0;
  readonly encodedLength = 3 + 3 + 4;

  reset(heapBlock: number, flags: number): this {
    assert(flags >= 0 && flags <= 0xff, 'visibility-map flags are a u8');
    this.#heapBlock = heapBlock;
    this.#flags = flags;
    return this;
  }

  writeInto(target: Uint8Array, offset: number): void {
    target[offset] = ValueTag.StrataRecord;
    target[offset + 1] = 0;
    target[offset + 2] = StrataKind.ClearVisibilityMapFlags;
    target[offset + 3] = this.#flags;
    target[offset + 4] = 1;
    target[offset + 5] = 0;
    writeU32(target, offset + 6, this.#heapBlock);
  }
}

/** Writes an image value's tag; the `pageLength` bytes after it are the caller's to fill. */
export function writeImageTag(target: Uint8Array, offset: number): number {
  target[offset] = ValueTag.Image;
  return offset + 1;
}

export function encodeValue(value: Value): Uint8Array {
  const bytes = new Uint8Array(encodedValueLength(value));
  const end = encodeValueInto(value, bytes, 0);
  assert(end === bytes.length, 'encoded length matches the computed length');
  return bytes;
}

/** Whether the encoded value at `bytes[offset]` is an image or a will-init record. */
export function encodedWillInit(bytes: Uint8Array, offset: number): boolean {
  const tag = bytes[offset];
  assert(tag === ValueTag.Image || tag === ValueTag.WalRecord || tag === ValueTag.StrataRecord, 'not an encoded value');
  return tag === ValueTag.Image || (bytes[offset + 1]! & FLAG_WILL_INIT) !== 0;
}

function corrupt(message: string): StrataError {
  return new StrataError('PS_ERR_IO', `decode stored value: ${message}`);
}

function readU32List(bytes: Uint8Array, offset: number, count: number): number[] {
  if (offset + 4 * count > bytes.length) throw corrupt('list runs past the end');
  const values = new Array<number>(count);
  for (let index = 0; index < count; index++) values[index] = readU32(bytes, offset + 4 * index);
  return values;
}

function decodeStrataPayload(kind: number, bytes: Uint8Array, offset: number): { record: StrataRecord; end: number } {
  const need = (length: number) => { if (offset + length > bytes.length) throw corrupt('strata record truncated'); };
  switch (kind) {
    case StrataKind.ClearVisibilityMapFlags: {
      need(3);
      const count = bytes[offset + 1]! | (bytes[offset + 2]! << 8);
      const heapBlocks = readU32List(bytes, offset + 3, count);
      return { record: { kind: 'ClearVisibilityMapFlags', heapBlocks, flags: bytes[offset]! }, end: offset + 3 + 4 * count };
    }
    case StrataKind.ClogSetCommitted: {
      need(12);
      float64Bytes.set(bytes.subarray(offset, offset + 8));
      const timestamp = float64[0]!;
      const count = readU32(bytes, offset + 8);
      return { record: { kind: 'ClogSetCommitted', xids: readU32List(bytes, offset + 12, count), timestamp }, end: offset + 12 + 4 * count };
    }
    case StrataKind.ClogSetAborted: {
      need(4);
      const count = readU32(bytes, offset);
      return { record: { kind: 'ClogSetAborted', xids: readU32List(bytes, offset + 4, count) }, end: offset + 4 + 4 * count };
    }
    case StrataKind.MultixactOffsetCreate:
      need(8);
      return { record: { kind: 'MultixactOffsetCreate', multiXactId: readU32(bytes, offset), offset: readU32(bytes, offset + 4) }, end: offset + 8 };
    case StrataKind.MultixactMembersCreate:
      return decodeMembers(bytes, offset);
    case StrataKind.TruncateVisibilityMap:
      need(4);
      return { record: { kind: 'TruncateVisibilityMap', heapBlocks: readU32(bytes, offset) }, end: offset + 4 };
    case StrataKind.HeapSetAllVisible:
      return { record: { kind: 'HeapSetAllVisible' }, end: offset };
    case StrataKind.MultixactOffsetsSet: {
      need(4);
      const count = readU32(bytes, offset);
      if (offset + 4 + 8 * count > bytes.length) throw corrupt('multixact offsets run past the end');
      const entries = Array.from({ length: count }, (_, index) => ({ multiXactId: readU32(bytes, offset + 4 + 8 * index), offset: readU32(bytes, offset + 8 + 8 * index) }));
      return { record: { kind: 'MultixactOffsetsSet', entries }, end: offset + 4 + 8 * count };
    }
    default:
      throw corrupt(`unknown strata record kind ${kind}`);
  }
}

function decodeMembers(bytes: Uint8Array, offset: number): { record: StrataRecord; end: number } {
  if (offset + 8 > bytes.length) throw corrupt('multixact members truncated');
  const memberOffset = readU32(bytes, offset);
  const count = readU32(bytes, offset + 4);
  if (offset + 8 + 5 * count > bytes.length) throw corrupt('multixact members truncated');
  const members = new Array<{ xid: number; status: number }>(count);
  for (let index = 0; index < count; index++) {
    const position = offset + 8 + 5 * index;
    members[index] = { xid: readU32(bytes, position), status: bytes[position + 4]! };
  }
  return { record: { kind: 'MultixactMembersCreate', offset: memberOffset, members }, end: offset + 8 + 5 * count };
}

/**
 * Decodes one value occupying all of `bytes`. Image and record bytes are views into `bytes` unless
 * `copy` is set: callers that hand out views of shared, long-lived buffers must copy, because redo
 * may modify a returned page in place.
 */
export function decodeValue(bytes: Uint8Array, copy = false): Value {
  if (bytes.length < 1) throw corrupt('empty value');
  const tag = bytes[0];
  // Always plain Uint8Arrays (never Buffer, whose slice() does not copy).
  const take = (start: number) => copy
    ? new Uint8Array(bytes.subarray(start))
    : new Uint8Array(bytes.buffer, bytes.byteOffset + start, bytes.length - start);
  switch (tag) {
    case ValueTag.Image:
      return { kind: 'image', bytes: take(1) };
    case ValueTag.WalRecord:
      if (bytes.length < 3) throw corrupt('wal record value truncated');
      return { kind: 'walRecord', willInit: (bytes[1]! & FLAG_WILL_INIT) !== 0, blockId: bytes[2]!, record: take(3) };
    case ValueTag.StrataRecord: {
      if (bytes.length < 3) throw corrupt('strata record value truncated');
      const { record, end } = decodeStrataPayload(bytes[2]!, bytes, 3);
      if (end !== bytes.length) throw corrupt(`strata record has ${bytes.length - end} trailing bytes`);
      return { kind: 'strataRecord', willInit: (bytes[1]! & FLAG_WILL_INIT) !== 0, record };
    }
    default:
      throw corrupt(`unknown value tag ${String(tag)}`);
  }
}

/*
 * Referenced values. WHY: most of what ingest stores is bytes that already sit in memory nobody
 * writes again — full-page images and WAL records inside the WAL decoder's buffers (wal-decoder.ts:
 * the decoder never writes bytes it has returned). Copying them into layer chunks cost ingest about
 * a fifth of its time, so the in-memory layer keeps such a value as a reference to those bytes plus
 * a `shape` saying how they become the encoded value (the layout above), and the one copy happens
 * when the layer is written to a file (on the flush thread) or when a reader asks for the value.
 *
 *   shape                                   encoded value
 *   SHAPE_ENCODED (0)                       the stored bytes as they are
 *   SHAPE_IMAGE (1)                         | 0x01 | stored bytes with a hole of zeros put back, |
 *                                                  pd_lsn set to the value's LSN (a WAL full-page
 *                                                  image as redo restores it: page-lsn.ts)
 *   SHAPE_WAL_RECORD (2) | flags << 8       | 0x02 | flags | blockId | stored bytes |
 *     | blockId << 16
 *
 *   hole = holeOffset << 16 | holeLength: an image's stored bytes are the page without the
 *   `holeLength` zero bytes at `holeOffset` (PostgreSQL's FPI hole); 0 for no hole.
 */
export const SHAPE_ENCODED = 0;
const SHAPE_KIND_MASK = 0xff;
const SHAPE_IMAGE = 1;
const SHAPE_WAL_RECORD = 2;
/** A hole field's offset and length are each below 2^16 (pages are at most 32 KiB). */
const HOLE_FIELD_MAX = 0xffff;

/** The shape of a full-page image kept by reference (its hole goes in `holeField`). */
export const SHAPE_IMAGE_VALUE = SHAPE_IMAGE;

/** The shape of a walRecord value for block `blockId` kept by reference. */
export function walRecordShape(blockId: number, willInit: boolean): number {
  assert(blockId >= 0 && blockId <= 0xff, 'block id is a u8');
  return SHAPE_WAL_RECORD | (willInit ? FLAG_WILL_INIT << 8 : 0) | (blockId << 16);
}

/** The hole field of an image whose stored bytes miss `holeLength` zero bytes at `holeOffset`. */
export function holeField(holeOffset: number, holeLength: number): number {
  assert(holeOffset >= 0 && holeOffset <= HOLE_FIELD_MAX && holeLength >= 0 && holeLength <= HOLE_FIELD_MAX, 'hole fields are u16');
  return (holeOffset << 16) | holeLength;
}

/** Bytes of the encoded value a (shape, hole, stored length) stands for. */
export function shapedEncodedLength(shape: number, hole: number, storedLength: number): number {
  switch (shape & SHAPE_KIND_MASK) {
    case SHAPE_ENCODED: return storedLength;
    case SHAPE_IMAGE: return 1 + storedLength + (hole & HOLE_FIELD_MAX);
    case SHAPE_WAL_RECORD: return 3 + storedLength;
    default: throw new StrataError('PS_ERR_IO', `unknown stored value shape ${shape}`);
  }
}

/** Whether the value stops a search (encodedWillInit of the encoded value), from its shape. */
export function shapedWillInit(shape: number, source: Uint8Array, offset: number): boolean {
  switch (shape & SHAPE_KIND_MASK) {
    case SHAPE_ENCODED: return encodedWillInit(source, offset);
    case SHAPE_IMAGE: return true;
    case SHAPE_WAL_RECORD: return ((shape >>> 8) & FLAG_WILL_INIT) !== 0;
    default: throw new StrataError('PS_ERR_IO', `unknown stored value shape ${shape}`);
  }
}

/**
 * Writes the encoded value of the stored bytes `source[start, start + length)` with `shape` and
 * `hole` at `target[offset..]`; returns the offset after it. `lsn` is the LSN the value is stored
 * at (the record's EndRecPtr), which an image takes as its pd_lsn.
 */
export function writeShaped(
  shape: number, hole: number, source: Uint8Array, start: number, length: number, target: Uint8Array, offset: number, lsn: Lsn,
): number {
  let at = offset;
  switch (shape & SHAPE_KIND_MASK) {
    case SHAPE_ENCODED:
      break;
    case SHAPE_IMAGE: {
      target[at++] = ValueTag.Image;
      const holeOffset = hole >>> 16;
      const holeLength = hole & HOLE_FIELD_MAX;
      if (holeLength > 0) {
        assert(holeOffset <= length, 'an image hole lies inside the page');
        copyRange(source, start, holeOffset, target, at);
        target.fill(0, at + holeOffset, at + holeOffset + holeLength);
        copyRange(source, start + holeOffset, length - holeOffset, target, at + holeOffset + holeLength);
      } else {
        copyRange(source, start, length, target, at);
      }
      stampRestoredImage(target, at, lsn);
      return at + length + holeLength;
    }
    case SHAPE_WAL_RECORD:
      target[at] = ValueTag.WalRecord;
      target[at + 1] = (shape >>> 8) & 0xff;
      target[at + 2] = (shape >>> 16) & 0xff;
      at += 3;
      break;
    default: throw new StrataError('PS_ERR_IO', `unknown stored value shape ${shape}`);
  }
  copyRange(source, start, length, target, at);
  return at + length;
}

/** Short ranges byte by byte (a subarray costs more than the copy), long ones with set. */
function copyRange(source: Uint8Array, start: number, length: number, target: Uint8Array, at: number): void {
  if (length <= 64) {
    for (let index = 0; index < length; index++) target[at + index] = source[start + index]!;
  } else {
    copyBytes(source, start, length, target, at);
  }
}
