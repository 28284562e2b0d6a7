/**
 * Decoding of one complete XLogRecord (PostgreSQL 15, access/xlogrecord.h) into a DecodedRecord,
 * and restoring a block's full-page image.
 *
 * WHY separate from the stream decoder: framing (pages, continuation records, segment switches)
 * and the record body layout are independent concerns; this half is a pure function of the
 * record bytes and is unit-tested byte for byte with hand-built records.
 *
 * Layout of a record (all little-endian):
 *
 *   XLogRecord (24 bytes): xl_tot_len u32 | xl_xid u32 | xl_prev u64 | xl_info u8 | xl_rmid u8 |
 *                          2 bytes padding | xl_crc u32
 *   headers, in order:
 *     block header  (id 0..32): id u8 | fork_flags u8 | data_length u16
 *        [image header when BKPBLOCK_HAS_IMAGE: length u16 | hole_offset u16 | bimg_info u8
 *           [hole_length u16 when the image is compressed and has a hole]]
 *        [RelFileNode 12 bytes unless BKPBLOCK_SAME_REL] | block number u32
 *     origin        (id 253): u16          toplevel xid (id 252): u32
 *     main data     (id 255): length u8    (id 254): length u32   -- always last
 *   payloads, in header order: per block its image bytes then its data, then the main data.
 *
 * The CRC covers the bytes after the header first, then the header up to xl_crc
 * (xlogreader.c ValidXLogRecord); `verifyRecordCrc` does exactly that.
 */
import { assert, assertNever } from '../assert.js';
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import type { Lsn } from '../lsn.js';
import { lz4Decompress, pglzDecompress, zstdDecompressInto } from './compression.js';
import { crc32cOfRecord } from './crc32c.js';
import { copyBytes } from './shared-copy.js';
import { BLOCK_FIELDS, BlockField, RECORD_FIELDS, RecordField, type PackedRecords, type PackedRecordsBuilder, type RecordExtras } from './packed-records.js';
import { BLCKSZ } from './types.js';
import type { DecodedBlock, DecodedRecord, ForkNumber, ImageCompression, RelFileNode } from './types.js';

export const SIZE_OF_XLOG_RECORD = 24;
const CRC_OFFSET = 20;
const XLR_MAX_BLOCK_ID = 32;
const XLR_BLOCK_ID_DATA_SHORT = 255;
const XLR_BLOCK_ID_DATA_LONG = 254;
const XLR_BLOCK_ID_ORIGIN = 253;
const XLR_BLOCK_ID_TOPLEVEL_XID = 252;

const BKPBLOCK_FORK_MASK = 0x0f;
const BKPBLOCK_HAS_IMAGE = 0x10;
const BKPBLOCK_HAS_DATA = 0x20;
const BKPBLOCK_WILL_INIT = 0x40;
const BKPBLOCK_SAME_REL = 0x80;

const BKPIMAGE_HAS_HOLE = 0x01;
const BKPIMAGE_APPLY = 0x02;
const BKPIMAGE_COMPRESS_PGLZ = 0x04;
const BKPIMAGE_COMPRESS_LZ4 = 0x08;
const BKPIMAGE_COMPRESS_ZSTD = 0x10;
const BKPIMAGE_COMPRESSED = BKPIMAGE_COMPRESS_PGLZ | BKPIMAGE_COMPRESS_LZ4 | BKPIMAGE_COMPRESS_ZSTD;

const TWO_TO_32 = 0x1_0000_0000;
const EMPTY = new Uint8Array(0);

export function readUint16(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8);
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/** Reads a little-endian u64 as a number; values beyond 2^53 lose precision (checked by callers). */
export function readUint64(bytes: Uint8Array, offset: number): number {
  return readUint32(bytes, offset + 4) * TWO_TO_32 + readUint32(bytes, offset);
}

export function walCorrupt(message: string, lsn: Lsn, extra: Record<string, unknown> = {}): StrataError {
  return new StrataError('PS_ERR_WAL_CORRUPT', message, { lsn, ...extra });
}

/**
 * True when the stored xl_crc of the record at `bytes[offset, offset + xl_tot_len)` equals the
 * CRC-32C PostgreSQL computes over it.
 */
export function verifyRecordCrc(bytes: Uint8Array, offset = 0): boolean {
  const totalLength = readUint32(bytes, offset);
  return crc32cOfRecord(bytes, offset, totalLength) === readUint32(bytes, offset + CRC_OFFSET);
}


/** Mutable scratch for one block while headers are parsed (payload offsets are known later). */
interface BlockHeader {
  blockId: number;
  forkFlags: number;
  dataLength: number;
  imageLength: number;
  holeOffset: number;
  holeLength: number;
  imageInfo: number;
  rel: RelFileNode;
  blockNumber: number;
}

/**
 * A reader over the header section that turns every overrun into one corrupt-record error.
 * One instance and one set of block scratch objects are reused for every record (decoding is
 * synchronous and never re-entered), which keeps the per-record allocations to the results.
 */
class HeaderCursor {
  offset = SIZE_OF_XLOG_RECORD;
  record: Uint8Array = EMPTY;
  end = 0;
  lsn: Lsn = 0;

  reset(record: Uint8Array, offset: number, end: number, lsn: Lsn): void {
    this.record = record;
    this.end = end;
    this.lsn = lsn;
    this.offset = offset;
  }

  need(size: number): void {
    if (this.offset + size > this.end) throw walCorrupt(`record at ${this.lsn} is too short for its headers`, this.lsn);
  }
  u8(): number {
    this.need(1);
    return this.record[this.offset++]!;
  }
  u16(): number {
    this.need(2);
    const value = readUint16(this.record, this.offset);
    this.offset += 2;
    return value;
  }
  u32(): number {
    this.need(4);
    const value = readUint32(this.record, this.offset);
    this.offset += 4;
    return value;
  }
}

/**
 * The concrete DecodedRecord and DecodedBlock. WHY classes with lazy views: every record has one
 * hidden class (consumers' property loads stay monomorphic), and a Uint8Array view is the largest
 * object a record needs (~70 bytes), so the views (`record`, `mainData`, `data`, `imageBytes`) are
 * made on first access and then kept: a consumer pays only for the ones it reads (ingest never
 * reads block data, for instance), and the garbage collector has far less to do. Every view is of
 * `source`, the decoder's buffer the record's bytes lie in (never written again; see
 * wal-decoder.ts), so the values are exactly those of eager subarrays of the record.
 *
 * Because the views are getters, these objects lose them when structured-cloned: to send a record
 * to another thread, send `record.record.slice()` and decode it there.
 */
class XLogRecordValue implements DecodedRecord {
  // Fields are `declare`d and set in the constructor only: emitted field definitions would run an
  // initializer per construction and define every field twice.
  private declare recordView: Uint8Array | undefined;
  private declare mainDataView: Uint8Array | undefined;
  declare readonly lsn: Lsn;
  // endLsn and prevLsn are kept as distances from lsn. WHY: an LSN field holds a heap number
  // (LSNs outgrow small integers), allocated per record; the distances are small integers.
  private declare readonly endLsnDistance: number;
  private declare readonly prevLsnDistance: number;
  declare readonly xid: number;
  /** xl_rmid << 8 | xl_info: one field for two bytes. */
  private declare readonly rmgrInfo: number;
  declare readonly totalLength: number;
  declare readonly blocks: readonly DecodedBlock[];
  /** The rare origin and toplevel-xid headers: one field, an object only when either is present. */
  private declare readonly extras: RecordExtras | undefined;
  private declare readonly source: Uint8Array;
  private declare readonly offset: number;
  /** The main data is always last: it ends where the record ends. */
  private declare readonly mainDataLength: number;

  constructor(
    lsn: Lsn,
    endLsn: Lsn,
    prevLsn: Lsn,
    xid: number,
    rmgrId: number,
    info: number,
    totalLength: number,
    blocks: readonly DecodedBlock[],
    origin: number | undefined,
    toplevelXid: number | undefined,
    source: Uint8Array,
    offset: number,
    mainDataLength: number,
  ) {
    this.lsn = lsn;
    this.endLsnDistance = endLsn - lsn;
    this.prevLsnDistance = lsn - prevLsn;
    this.xid = xid;
    this.rmgrInfo = (rmgrId << 8) | info;
    this.totalLength = totalLength;
    this.blocks = blocks;
    this.extras = origin === undefined && toplevelXid === undefined ? undefined : { origin, toplevelXid };
    this.source = source;
    this.offset = offset;
    this.mainDataLength = mainDataLength;
    this.recordView = undefined;
    this.mainDataView = undefined;
  }

  get rmgrId(): number {
    return this.rmgrInfo >>> 8;
  }

  /** The decoder's array the record's bytes lie in (see recordSource). */
  get sourceBytes(): Uint8Array {
    return this.source;
  }

  /** Where the record starts in sourceBytes. */
  get sourceOffset(): number {
    return this.offset;
  }

  get info(): number {
    return this.rmgrInfo & 0xff;
  }

  get origin(): number | undefined {
    return this.extras?.origin;
  }

  get toplevelXid(): number | undefined {
    return this.extras?.toplevelXid;
  }

  get endLsn(): Lsn {
    return this.lsn + this.endLsnDistance;
  }

  get prevLsn(): Lsn {
    return this.lsn - this.prevLsnDistance;
  }

  private get mainDataOffset(): number {
    return this.offset + this.totalLength - this.mainDataLength;
  }


  get record(): Uint8Array {
    return (this.recordView ??= this.source.subarray(this.offset, this.offset + this.totalLength));
  }

  get mainData(): Uint8Array {
    if (this.mainDataLength === 0) return EMPTY;
    return (this.mainDataView ??= this.source.subarray(this.mainDataOffset, this.mainDataOffset + this.mainDataLength));
  }

  copyInto(target: Uint8Array, offset: number): void {
    const length = this.totalLength;
    if (offset < 0 || offset + length > target.length) throw new RangeError('record does not fit the target');
    if (length > SHORT_COPY_MAX || this.recordView !== undefined) {
      target.set(this.record, offset);
      return;
    }
    const source = this.source;
    const start = this.offset;
    for (let index = 0; index < length; index++) target[offset + index] = source[start + index]!;
  }

  /** Byte `index` of the main data (undefined past its end), read without making the view. */
  mainDataByte(index: number): number | undefined {
    return index >= 0 && index < this.mainDataLength ? this.source[this.mainDataOffset + index] : undefined;
  }

  get mainDataSize(): number {
    return this.mainDataLength;
  }
}

function copySourceRange(source: Uint8Array, start: number, length: number, target: Uint8Array, offset: number): void {
  if (offset < 0 || offset + length > target.length) throw new RangeError('record does not fit the target');
  if (length > SHORT_COPY_MAX) {
    target.set(source.subarray(start, start + length), offset);
    return;
  }
  for (let index = 0; index < length; index++) target[offset + index] = source[start + index]!;
}

/** Records up to this length are copied byte by byte: cheaper than making a view to copy from. */
const SHORT_COPY_MAX = 192;

/**
 * Copies a record's bytes (`record.record`) to `target[offset..]`. WHY: ingest stores the whole
 * record once per block reference; for this module's records a short record is copied straight
 * from the decoder's buffer, without making the record view.
 */
export function copyRecordBytes(record: DecodedRecord, target: Uint8Array, offset: number): void {
  if (record instanceof XLogRecordValue) record.copyInto(target, offset);
  else if (record instanceof PackedRecordView) copySourceRange(record.sourceBytes, record.sourceOffset, record.totalLength, target, offset);
  else target.set(record.record, offset);
}

/** `record.record.length`, without making the record view for this module's records. */
export function recordByteLength(record: DecodedRecord): number {
  return record instanceof XLogRecordValue || record instanceof PackedRecordView ? record.totalLength : record.record.length;
}

/**
 * Byte `index` of a record's main data, as `record.mainData[index]`. WHY: hot consumers (ingest's
 * heap and commit checks) read a few flag bytes per record; this reads them from the decoder's
 * buffer without making the main-data view (one object fewer per record).
 */
export function mainDataByte(record: DecodedRecord, index: number): number | undefined {
  if (record instanceof XLogRecordValue || record instanceof PackedRecordView) return record.mainDataByte(index);
  return record.mainData[index];
}

/** The length of a record's main data, as `record.mainData.length`, without making the view. */
export function mainDataLength(record: DecodedRecord): number {
  return record instanceof XLogRecordValue || record instanceof PackedRecordView ? record.mainDataSize : record.mainData.length;
}

/**
 * The array a record's bytes lie in, and (recordSourceOffset) where they start in it: for storing
 * the record by reference (in-memory-layer.ts putReferenced) without making the record view. For
 * this module's records that is the decoder's buffer; for any other record, `record.record`.
 */
export function recordSource(record: DecodedRecord): Uint8Array {
  return record instanceof XLogRecordValue || record instanceof PackedRecordView ? record.sourceBytes : record.record;
}

export function recordSourceOffset(record: DecodedRecord): number {
  return record instanceof XLogRecordValue || record instanceof PackedRecordView ? record.sourceOffset : 0;
}

/**
 * The array an uncompressed full-page image's stored bytes (the page without its hole) lie in, and
 * (blockImageSourceOffset) where they start: for storing the image by reference. Throws
 * PS_ERR_WAL_CORRUPT when the image length does not match its hole. The block must have an
 * uncompressed image.
 */
export function blockImageSource(block: DecodedBlock): Uint8Array {
  assert(block.hasImage && block.imageCompression === 'none', 'an uncompressed image is referenced');
  const known = block instanceof BlockReference || block instanceof PackedBlockView;
  const source = known ? block.sourceBytes : block.imageBytes!;
  const imageLength = known ? block.storedImageLength : block.imageBytes!.length;
  if (imageLength !== BLCKSZ - block.holeLength || block.holeOffset + block.holeLength > BLCKSZ) {
    throw new StrataError('PS_ERR_WAL_CORRUPT', 'image length does not match its hole');
  }
  return source;
}

export function blockImageSourceOffset(block: DecodedBlock): number {
  return block instanceof BlockReference || block instanceof PackedBlockView ? block.imageSourceOffset : 0;
}

/**
 * The array a record's main data lies in, with recordMainDataOffset and the record's length of it
 * (`record.mainData.length`): for reading it in place, without a view per record.
 */
export function recordMainDataSource(record: DecodedRecord): Uint8Array {
  return record instanceof PackedRecordView || record instanceof XLogRecordValue ? record.sourceBytes : record.mainData;
}

export function recordMainDataOffset(record: DecodedRecord): number {
  return record instanceof PackedRecordView || record instanceof XLogRecordValue
    ? record.sourceOffset + record.totalLength - record.mainDataSize
    : 0;
}

export function recordMainDataLength(record: DecodedRecord): number {
  return record instanceof PackedRecordView || record instanceof XLogRecordValue ? record.mainDataSize : record.mainData.length;
}

/**
 * Writes the page an uncompressed image stands for into `target[offset, offset + BLCKSZ)`: the
 * image's `imageLength` bytes at `source[start]` are the page without its hole, which is zeroed.
 * Throws PS_ERR_WAL_CORRUPT when the length does not match the hole.
 */
function copyImageWithHole(
  source: Uint8Array, start: number, imageLength: number, holeOffset: number, holeLength: number, target: Uint8Array, offset: number,
): void {
  if (imageLength !== BLCKSZ - holeLength || holeOffset + holeLength > BLCKSZ) throw new StrataError('PS_ERR_WAL_CORRUPT', 'image length does not match its hole');
  if (holeLength === 0) {
    copyBytes(source, start, BLCKSZ, target, offset);
    return;
  }
  if (holeOffset > 0) copyBytes(source, start, holeOffset, target, offset);
  if (holeOffset + holeLength < BLCKSZ) copyBytes(source, start + holeOffset, imageLength - holeOffset, target, offset + holeOffset + holeLength);
  target.fill(0, offset + holeOffset, offset + holeOffset + holeLength);
}

/**
 * The array a block's data (BKPBLOCK_HAS_DATA) lies in, with blockDataOffset and blockDataLength:
 * for reading it where it is, without a view per block (redo reads the block data of nearly every
 * record).
 */
export function blockDataSource(block: DecodedBlock): Uint8Array {
  return block instanceof PackedBlockView || block instanceof BlockReference ? block.sourceBytes : block.data;
}

export function blockDataOffset(block: DecodedBlock): number {
  return block instanceof PackedBlockView || block instanceof BlockReference ? block.dataSourceOffset : 0;
}

export function blockDataLength(block: DecodedBlock): number {
  return block instanceof PackedBlockView || block instanceof BlockReference ? block.storedDataLength : block.data.length;
}

class BlockReference implements DecodedBlock {
  // The header bytes are kept packed, flags = fork_flags | bimg_info << 8 | block_id << 16, and
  // the flag properties derived from them. WHY: there is a block reference per block of every
  // record; 11 fields instead of 16 take 40 bytes less per block.
  private declare imageView: Uint8Array | undefined;
  private declare dataView: Uint8Array | undefined;
  declare readonly rel: RelFileNode;
  declare readonly blockNumber: number;
  declare readonly holeOffset: number;
  declare readonly holeLength: number;
  private declare readonly flags: number;
  private declare readonly source: Uint8Array;
  /** Offset in `source` of the image bytes, followed by the block data. */
  private declare readonly payloadOffset: number;
  private declare readonly imageLength: number;
  private declare readonly dataLength: number;

  constructor(
    blockId: number,
    forkFlags: number,
    imageInfo: number,
    rel: RelFileNode,
    blockNumber: number,
    holeOffset: number,
    holeLength: number,
    source: Uint8Array,
    payloadOffset: number,
    imageLength: number,
    dataLength: number,
  ) {
    this.rel = rel;
    this.blockNumber = blockNumber;
    this.flags = forkFlags | (imageInfo << 8) | (blockId << 16);
    this.holeOffset = holeOffset;
    this.holeLength = holeLength;
    this.source = source;
    this.payloadOffset = payloadOffset;
    this.imageLength = imageLength;
    this.dataLength = dataLength;
    this.imageView = undefined;
    this.dataView = undefined;
  }

  get blockId(): number {
    return this.flags >>> 16;
  }

  /** The decoder's array the image and data lie in (see blockImageSource). */
  get sourceBytes(): Uint8Array {
    return this.source;
  }

  /** Where the image's stored bytes start in sourceBytes. */
  get imageSourceOffset(): number {
    return this.payloadOffset;
  }

  /** Stored bytes of the image (BLCKSZ minus the hole, when uncompressed). */
  get storedImageLength(): number {
    return this.imageLength;
  }

  get forkNumber(): ForkNumber {
    return (this.flags & BKPBLOCK_FORK_MASK) as ForkNumber;
  }

  get willInit(): boolean {
    return (this.flags & BKPBLOCK_WILL_INIT) !== 0;
  }

  get hasImage(): boolean {
    return (this.flags & BKPBLOCK_HAS_IMAGE) !== 0;
  }

  get applyImage(): boolean {
    return (this.flags & BKPBLOCK_HAS_IMAGE) !== 0 && ((this.flags >>> 8) & BKPIMAGE_APPLY) !== 0;
  }

  get imageCompression(): ImageCompression {
    return compressionOf((this.flags >>> 8) & 0xff);
  }

  get imageBytes(): Uint8Array | undefined {
    if (!this.hasImage) return undefined;
    return (this.imageView ??= this.source.subarray(this.payloadOffset, this.payloadOffset + this.imageLength));
  }

  /** Where the block data starts in sourceBytes, and (blockDataLength) how long it is. */
  get dataSourceOffset(): number {
    return this.payloadOffset + this.imageLength;
  }

  get storedDataLength(): number {
    return this.dataLength;
  }

  get data(): Uint8Array {
    if (this.dataLength === 0) return EMPTY;
    const start = this.payloadOffset + this.imageLength;
    return (this.dataView ??= this.source.subarray(start, start + this.dataLength));
  }

  /**
   * decodeBlockImage into `target[offset, offset + BLCKSZ)` for an uncompressed image, copying
   * from the decoder's buffer with offsets: no image view and no target view. False when the
   * image is compressed (the caller takes the general path).
   */
  copyUncompressedImage(target: Uint8Array, offset: number): boolean {
    if (!this.hasImage || this.imageCompression !== 'none') return false;
    copyImageWithHole(this.source, this.payloadOffset, this.imageLength, this.holeOffset, this.holeLength, target, offset);
    return true;
  }
}

/**
 * A DecodedRecord over one record of a PackedRecords batch (packed-records.ts) at a time: one
 * object per batch, moved from record to record with `moveTo`, with one reusable block view per
 * block position. WHY: ingest handles most records synchronously and keeps nothing of them, so
 * it needs no object per record; the few records that are kept (across an await, say) are turned
 * into ordinary record objects with `materialize()`. A view is only valid until the next
 * `moveTo`: never keep it, or its blocks.
 */
export class PackedRecordView implements DecodedRecord {
  // Columns of the batch, held directly (read on every field access).
  #batch: PackedRecords | undefined;
  #lsns: Float64Array = new Float64Array(0);
  #endLsns: Float64Array = new Float64Array(0);
  #prevLsns: Float64Array = new Float64Array(0);
  #records: Int32Array = new Int32Array(0);
  /** The batch's blocks column (read by the block views). */
  blockColumn: Int32Array = new Int32Array(0);
  /** Whole-buffer byte views of the batch's sources, and the batch's relations as objects. */
  #sources: Uint8Array[] = [];
  #rels: (RelFileNode | undefined)[] = [];
  #relColumn: Uint32Array = new Uint32Array(0);
  #extras: readonly RecordExtras[] = [];
  #count = 0;
  /** Block views by record block count: #blockLists[n] holds n views. */
  readonly #blockLists: PackedBlockView[][] = [[]];
  #index = 0;
  #base = 0;
  /** The current record's source array (its block views read it too). */
  source: Uint8Array = EMPTY;
  #blocks: readonly DecodedBlock[] = NO_BLOCKS;

  /** Points the view at a new batch (before the first moveTo). */
  reset(batch: PackedRecords): this {
    this.#batch = batch;
    this.#lsns = batch.lsn;
    this.#endLsns = batch.endLsn;
    this.#prevLsns = batch.prevLsn;
    this.#records = batch.records;
    this.blockColumn = batch.blocks;
    this.#sources = batch.sources.map((buffer) => new Uint8Array(buffer));
    this.#relColumn = batch.rels;
    this.#rels = new Array<RelFileNode | undefined>(batch.rels.length / 3);
    this.#extras = batch.extras;
    this.#count = batch.count;
    return this;
  }

  moveTo(index: number): this {
    assert(this.#batch !== undefined && index >= 0 && index < this.#count, 'record index inside the batch');
    this.#index = index;
    const base = index * RECORD_FIELDS;
    this.#base = base;
    const records = this.#records;
    this.source = this.#sources[records[base + RecordField.Source]!]!;
    const blocksEnd = records[base + RecordField.BlocksEnd]!;
    const blocksStart = index === 0 ? 0 : records[base - RECORD_FIELDS + RecordField.BlocksEnd]!;
    const count = blocksEnd - blocksStart;
    if (count === 0) {
      this.#blocks = NO_BLOCKS;
    } else {
      const list = this.#blockLists[count] ?? this.#makeBlockList(count);
      for (let block = 0; block < count; block++) list[block]!.base = (blocksStart + block) * BLOCK_FIELDS;
      this.#blocks = list;
    }
    return this;
  }

  #makeBlockList(count: number): PackedBlockView[] {
    assert(count <= XLR_MAX_BLOCK_ID + 1, 'a record has at most 33 blocks');
    const list = Array.from({ length: count }, () => new PackedBlockView(this));
    this.#blockLists[count] = list;
    return list;
  }

  /** The relation at `index` of the batch, one object per relation and batch. */
  relAt(index: number): RelFileNode {
    let rel = this.#rels[index];
    if (rel === undefined) {
      const rels = this.#relColumn;
      rel = { spcNode: rels[index * 3]!, dbNode: rels[index * 3 + 1]!, relNode: rels[index * 3 + 2]! };
      this.#rels[index] = rel;
    }
    return rel;
  }

  get lsn(): Lsn { return this.#lsns[this.#index]!; }
  get endLsn(): Lsn { return this.#endLsns[this.#index]!; }
  get prevLsn(): Lsn { return this.#prevLsns[this.#index]!; }
  get xid(): number { return this.#records[this.#base + RecordField.Xid]! >>> 0; }
  get rmgrId(): number { return this.#records[this.#base + RecordField.RmgrInfo]! >>> 8; }
  get info(): number { return this.#records[this.#base + RecordField.RmgrInfo]! & 0xff; }
  get totalLength(): number { return this.#records[this.#base + RecordField.TotalLength]!; }
  get blocks(): readonly DecodedBlock[] { return this.#blocks; }
  get sourceBytes(): Uint8Array { return this.source; }
  get sourceOffset(): number { return this.#records[this.#base + RecordField.Offset]!; }
  get mainDataSize(): number { return this.#records[this.#base + RecordField.MainDataLength]!; }

  get origin(): number | undefined {
    const extras = this.#records[this.#base + RecordField.Extras]!;
    return extras < 0 ? undefined : this.#extras[extras]!.origin;
  }

  get toplevelXid(): number | undefined {
    const extras = this.#records[this.#base + RecordField.Extras]!;
    return extras < 0 ? undefined : this.#extras[extras]!.toplevelXid;
  }

  get record(): Uint8Array {
    const offset = this.sourceOffset;
    return this.source.subarray(offset, offset + this.totalLength);
  }

  get mainData(): Uint8Array {
    const length = this.mainDataSize;
    if (length === 0) return EMPTY;
    const end = this.sourceOffset + this.totalLength;
    return this.source.subarray(end - length, end);
  }

  /** Byte `index` of the main data (undefined past its end), as XLogRecordValue.mainDataByte. */
  mainDataByte(index: number): number | undefined {
    const base = this.#base;
    const records = this.#records;
    const length = records[base + RecordField.MainDataLength]!;
    if (index < 0 || index >= length) return undefined;
    return this.source[records[base + RecordField.Offset]! + records[base + RecordField.TotalLength]! - length + index];
  }

  /** An ordinary record object with the same fields and views (safe to keep). */
  materialize(): DecodedRecord {
    const blocks = this.#blocks.length === 0 ? NO_BLOCKS : this.#blocks.map((block) => (block as PackedBlockView).materialize());
    const extras = this.#records[this.#base + RecordField.Extras]!;
    const extra = extras < 0 ? undefined : this.#extras[extras];
    return new XLogRecordValue(
      this.lsn, this.endLsn, this.prevLsn, this.xid, this.rmgrId, this.info, this.totalLength, blocks,
      extra?.origin, extra?.toplevelXid, this.source, this.sourceOffset, this.mainDataSize,
    );
  }
}

/** One block position of a PackedRecordView (valid until the view moves). */
class PackedBlockView implements DecodedBlock {
  readonly #owner: PackedRecordView;
  /** Index of the block's first field in the blocks column. */
  base = 0;

  constructor(owner: PackedRecordView) {
    this.#owner = owner;
  }

  get #flags(): number { return this.#owner.blockColumn[this.base + BlockField.Flags]!; }
  get blockId(): number { return this.#flags >>> 16; }
  get rel(): RelFileNode { return this.#owner.relAt(this.#owner.blockColumn[this.base + BlockField.Rel]!); }
  get forkNumber(): ForkNumber { return (this.#flags & BKPBLOCK_FORK_MASK) as ForkNumber; }
  get blockNumber(): number { return this.#owner.blockColumn[this.base + BlockField.BlockNumber]! >>> 0; }
  get willInit(): boolean { return (this.#flags & BKPBLOCK_WILL_INIT) !== 0; }
  get hasImage(): boolean { return (this.#flags & BKPBLOCK_HAS_IMAGE) !== 0; }
  get applyImage(): boolean { const flags = this.#flags; return (flags & BKPBLOCK_HAS_IMAGE) !== 0 && ((flags >>> 8) & BKPIMAGE_APPLY) !== 0; }
  get imageCompression(): ImageCompression { return compressionOf((this.#flags >>> 8) & 0xff); }
  get holeOffset(): number { return this.#owner.blockColumn[this.base + BlockField.HoleOffset]!; }
  get holeLength(): number { return this.#owner.blockColumn[this.base + BlockField.HoleLength]!; }
  get sourceBytes(): Uint8Array { return this.#owner.source; }
  get imageSourceOffset(): number { return this.#owner.blockColumn[this.base + BlockField.PayloadOffset]!; }
  get storedImageLength(): number { return this.#owner.blockColumn[this.base + BlockField.ImageLength]!; }

  get imageBytes(): Uint8Array | undefined {
    if (!this.hasImage) return undefined;
    const start = this.imageSourceOffset;
    return this.sourceBytes.subarray(start, start + this.storedImageLength);
  }

  /** BlockReference.copyUncompressedImage for this view: the image copied with offsets, no views. */
  copyUncompressedImage(target: Uint8Array, offset: number): boolean {
    const flags = this.#flags;
    if ((flags & BKPBLOCK_HAS_IMAGE) === 0 || compressionOf((flags >>> 8) & 0xff) !== 'none') return false;
    copyImageWithHole(this.#owner.source, this.imageSourceOffset, this.storedImageLength, this.holeOffset, this.holeLength, target, offset);
    return true;
  }

  get dataSourceOffset(): number { return this.imageSourceOffset + this.storedImageLength; }
  get storedDataLength(): number { return this.#owner.blockColumn[this.base + BlockField.DataLength]!; }

  get data(): Uint8Array {
    const length = this.#owner.blockColumn[this.base + BlockField.DataLength]!;
    if (length === 0) return EMPTY;
    const start = this.imageSourceOffset + this.storedImageLength;
    return this.sourceBytes.subarray(start, start + length);
  }

  materialize(): DecodedBlock {
    const flags = this.#flags;
    return new BlockReference(
      flags >>> 16, flags & 0xff, (flags >>> 8) & 0xff, this.rel, this.blockNumber, this.holeOffset, this.holeLength,
      this.sourceBytes, this.imageSourceOffset, this.storedImageLength, this.#owner.blockColumn[this.base + BlockField.DataLength]!,
    );
  }
}

/**
 * Writes a block's full page (decodeBlockImage) into `target[offset, offset + BLCKSZ)`. WHY: the
 * ingest fast path decodes images straight into layer chunks; for this module's blocks an
 * uncompressed image is copied without the intermediate views decodeBlockImage needs.
 */
export function decodeBlockImageAt(block: DecodedBlock, target: Uint8Array, offset: number): void {
  if (offset < 0 || offset + BLCKSZ > target.length) throw new StrataError('PS_ERR_BAD_REQUEST', `image target must hold ${BLCKSZ} bytes`);
  if ((block instanceof PackedBlockView || block instanceof BlockReference) && block.copyUncompressedImage(target, offset)) return;
  decodeBlockImage(block, target.subarray(offset, offset + BLCKSZ));
}

/** Records without block references share one empty, frozen list. */
const NO_BLOCKS: readonly DecodedBlock[] = Object.freeze([]);

const CURSOR = new HeaderCursor();
const EMPTY_REL: RelFileNode = { spcNode: 0, dbNode: 0, relNode: 0 };
const SCRATCH: BlockHeader[] = Array.from({ length: XLR_MAX_BLOCK_ID + 1 }, () => ({
  blockId: 0, forkFlags: 0, dataLength: 0, imageLength: 0, holeOffset: 0, holeLength: 0, imageInfo: 0,
  rel: EMPTY_REL, blockNumber: 0,
}));

/** What parseRecordHeaders found, besides the block headers in SCRATCH (one instance, reused). */
const PARSED = { blockCount: 0, mainDataLength: 0, payloadOffset: 0, origin: undefined as number | undefined, toplevelXid: undefined as number | undefined };

/**
 * Parses the headers of the record at `bytes[offset, offset + length)` into SCRATCH and PARSED,
 * with every consistency check of xlogreader.c DecodeXLogRecord; throws PS_ERR_WAL_CORRUPT.
 */
function parseRecordHeaders(bytes: Uint8Array, lsn: Lsn, offset: number, length: number): void {
  const totalLength = readUint32(bytes, offset);
  if (totalLength !== length) throw walCorrupt(`record at ${formatLsn(lsn)} has inconsistent length`, lsn);
  const end = offset + totalLength;
  const cursor = CURSOR;
  cursor.reset(bytes, offset + SIZE_OF_XLOG_RECORD, end, lsn);
  let blockCount = 0;
  let payloadLength = 0;
  let mainDataLength = 0;
  let origin: number | undefined;
  let toplevelXid: number | undefined;
  let previousRel: RelFileNode | undefined;
  while (end - cursor.offset > payloadLength) {
    const blockId = cursor.u8();
    if (blockId === XLR_BLOCK_ID_DATA_SHORT) {
      mainDataLength = cursor.u8();
      payloadLength += mainDataLength;
      break;
    } else if (blockId === XLR_BLOCK_ID_DATA_LONG) {
      mainDataLength = cursor.u32();
      payloadLength += mainDataLength;
      break;
    } else if (blockId === XLR_BLOCK_ID_ORIGIN) {
      origin = cursor.u16();
    } else if (blockId === XLR_BLOCK_ID_TOPLEVEL_XID) {
      toplevelXid = cursor.u32();
    } else if (blockId <= XLR_MAX_BLOCK_ID) {
      if (blockCount > 0 && blockId <= SCRATCH[blockCount - 1]!.blockId) {
        throw walCorrupt(`out-of-order block_id ${blockId} at ${formatLsn(lsn)}`, lsn);
      }
      const header = readBlockHeader(cursor, SCRATCH[blockCount]!, blockId, previousRel);
      blockCount++;
      previousRel = header.rel;
      payloadLength += header.imageLength + header.dataLength;
    } else {
      throw walCorrupt(`invalid block_id ${blockId} at ${formatLsn(lsn)}`, lsn);
    }
  }
  if (end - cursor.offset !== payloadLength) throw walCorrupt(`record at ${formatLsn(lsn)} has bad payload length`, lsn);
  PARSED.blockCount = blockCount;
  PARSED.mainDataLength = mainDataLength;
  PARSED.payloadOffset = cursor.offset;
  PARSED.origin = origin;
  PARSED.toplevelXid = toplevelXid;
}

/**
 * Decodes the complete, CRC-checked record at `bytes[offset, offset + xl_tot_len)`. The result's
 * views (record, main data, block data, image bytes) are views of `bytes` (no copies), made on
 * first access: `bytes` must never change afterwards.
 */
export function decodeXLogRecord(bytes: Uint8Array, lsn: Lsn, endLsn: Lsn, offset = 0, length = bytes.length - offset): DecodedRecord {
  parseRecordHeaders(bytes, lsn, offset, length);
  const blockCount = PARSED.blockCount;
  let payloadOffset = PARSED.payloadOffset;
  let blocks: readonly DecodedBlock[] = NO_BLOCKS;
  if (blockCount > 0) {
    const made = new Array<DecodedBlock>(blockCount);
    for (let index = 0; index < blockCount; index++) {
      const header = SCRATCH[index]!;
      made[index] = makeBlock(bytes, header, payloadOffset);
      payloadOffset += header.imageLength + header.dataLength;
    }
    blocks = made;
  }
  return new XLogRecordValue(
    lsn, endLsn, readUint64(bytes, offset + 8), readUint32(bytes, offset + 4), bytes[offset + 17]!, bytes[offset + 16]!,
    length, blocks, PARSED.origin, PARSED.toplevelXid, bytes, offset, PARSED.mainDataLength,
  );
}

/**
 * decodeXLogRecord into the columns of a PackedRecordsBuilder instead of objects (packed-records.ts):
 * the same checks, no allocation per record. Returns xl_rmid << 8 | xl_info.
 */
export function decodeXLogRecordPacked(
  bytes: Uint8Array, lsn: Lsn, endLsn: Lsn, offset: number, length: number, builder: PackedRecordsBuilder,
): number {
  parseRecordHeaders(bytes, lsn, offset, length);
  const blockCount = PARSED.blockCount;
  const extras = PARSED.origin === undefined && PARSED.toplevelXid === undefined ? undefined : { origin: PARSED.origin, toplevelXid: PARSED.toplevelXid };
  const rmgrInfo = (bytes[offset + 17]! << 8) | bytes[offset + 16]!;
  builder.addRecord(lsn, endLsn, readUint64(bytes, offset + 8), readUint32(bytes, offset + 4), rmgrInfo, length, bytes, offset, PARSED.mainDataLength, extras);
  let payloadOffset = PARSED.payloadOffset;
  for (let index = 0; index < blockCount; index++) {
    const header = SCRATCH[index]!;
    const flags = header.forkFlags | (header.imageInfo << 8) | (header.blockId << 16);
    builder.addBlock(flags, header.rel, header.blockNumber, header.holeOffset, header.holeLength, payloadOffset, header.imageLength, header.dataLength, bytes);
    payloadOffset += header.imageLength + header.dataLength;
  }
  return rmgrInfo;
}

function readBlockHeader(cursor: HeaderCursor, header: BlockHeader, blockId: number, previousRel: RelFileNode | undefined): BlockHeader {
  const lsn = cursor.lsn;
  const forkFlags = cursor.u8();
  const dataLength = cursor.u16();
  const hasData = (forkFlags & BKPBLOCK_HAS_DATA) !== 0;
  if (hasData && dataLength === 0) throw walCorrupt(`BKPBLOCK_HAS_DATA set, but no data included at ${formatLsn(lsn)}`, lsn);
  if (!hasData && dataLength !== 0) throw walCorrupt(`BKPBLOCK_HAS_DATA not set, but data length is ${dataLength} at ${formatLsn(lsn)}`, lsn);
  let imageLength = 0;
  let holeOffset = 0;
  let holeLength = 0;
  let imageInfo = 0;
  if ((forkFlags & BKPBLOCK_HAS_IMAGE) !== 0) {
    imageLength = cursor.u16();
    holeOffset = cursor.u16();
    imageInfo = cursor.u8();
    const compressed = (imageInfo & BKPIMAGE_COMPRESSED) !== 0;
    if (compressed) holeLength = (imageInfo & BKPIMAGE_HAS_HOLE) !== 0 ? cursor.u16() : 0;
    else holeLength = BLCKSZ - imageLength;
    checkImageHeader(lsn, imageLength, holeOffset, holeLength, imageInfo);
  }
  let rel: RelFileNode;
  if ((forkFlags & BKPBLOCK_SAME_REL) === 0) {
    rel = internRel(cursor.u32(), cursor.u32(), cursor.u32());
  } else {
    if (previousRel === undefined) throw walCorrupt(`BKPBLOCK_SAME_REL set but no previous rel at ${formatLsn(lsn)}`, lsn);
    rel = previousRel;
  }
  header.blockId = blockId;
  header.forkFlags = forkFlags;
  header.dataLength = dataLength;
  header.imageLength = imageLength;
  header.holeOffset = holeOffset;
  header.holeLength = holeLength;
  header.imageInfo = imageInfo;
  header.rel = rel;
  header.blockNumber = cursor.u32();
  return header;
}

/**
 * RelFileNodes are immutable, and WAL names the same few relations over and over: a small
 * direct-mapped cache hands out one shared object per relation instead of one per block reference.
 */
const REL_CACHE_SIZE = 256;
const REL_CACHE: RelFileNode[] = Array.from({ length: REL_CACHE_SIZE }, () => EMPTY_REL);

function internRel(spcNode: number, dbNode: number, relNode: number): RelFileNode {
  const slot = (relNode ^ (relNode >>> 8) ^ dbNode) & (REL_CACHE_SIZE - 1);
  const cached = REL_CACHE[slot]!;
  if (cached.relNode === relNode && cached.dbNode === dbNode && cached.spcNode === spcNode) return cached;
  const rel: RelFileNode = { spcNode, dbNode, relNode };
  REL_CACHE[slot] = rel;
  return rel;
}

/** The consistency checks of xlogreader.c DecodeXLogRecord on an image header. */
function checkImageHeader(lsn: Lsn, imageLength: number, holeOffset: number, holeLength: number, imageInfo: number): void {
  const hasHole = (imageInfo & BKPIMAGE_HAS_HOLE) !== 0;
  const compressed = (imageInfo & BKPIMAGE_COMPRESSED) !== 0;
  if (hasHole && (holeOffset === 0 || holeLength === 0 || imageLength === BLCKSZ)) {
    throw walCorrupt(`BKPIMAGE_HAS_HOLE set, but hole offset ${holeOffset} length ${holeLength} image length ${imageLength} at ${formatLsn(lsn)}`, lsn);
  }
  if (!hasHole && (holeOffset !== 0 || holeLength !== 0)) {
    throw walCorrupt(`BKPIMAGE_HAS_HOLE not set, but hole offset ${holeOffset} length ${holeLength} at ${formatLsn(lsn)}`, lsn);
  }
  if (compressed && imageLength === BLCKSZ) throw walCorrupt(`BKPIMAGE_COMPRESSED set, but block image length ${imageLength} at ${formatLsn(lsn)}`, lsn);
  if (!hasHole && !compressed && imageLength !== BLCKSZ) {
    throw walCorrupt(`neither BKPIMAGE_HAS_HOLE nor BKPIMAGE_COMPRESSED set, but block image length is ${imageLength} at ${formatLsn(lsn)}`, lsn);
  }
  if (holeOffset + holeLength > BLCKSZ) throw walCorrupt(`image hole beyond the page at ${formatLsn(lsn)}`, lsn);
}

function compressionOf(imageInfo: number): ImageCompression {
  if ((imageInfo & BKPIMAGE_COMPRESS_PGLZ) !== 0) return 'pglz';
  if ((imageInfo & BKPIMAGE_COMPRESS_LZ4) !== 0) return 'lz4';
  if ((imageInfo & BKPIMAGE_COMPRESS_ZSTD) !== 0) return 'zstd';
  return 'none';
}

function makeBlock(bytes: Uint8Array, header: BlockHeader, payloadOffset: number): DecodedBlock {
  return new BlockReference(
    header.blockId, header.forkFlags, header.imageInfo, header.rel, header.blockNumber, header.holeOffset, header.holeLength,
    bytes, payloadOffset, header.imageLength, header.dataLength,
  );
}

/**
 * Restores a block's full 8192-byte page: decompresses the stored bytes and re-inserts the zero
 * hole. Writes into `target` (which must be BLCKSZ bytes) when given, else into a new page.
 */
export function decodeBlockImage(block: DecodedBlock, target?: Uint8Array): Uint8Array {
  const image = block.imageBytes;
  if (!block.hasImage || image === undefined) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `block ${block.blockId} has no image`, { blockId: block.blockId });
  }
  const page = target ?? new Uint8Array(BLCKSZ);
  if (page.length !== BLCKSZ) throw new StrataError('PS_ERR_BAD_REQUEST', `image target must be ${BLCKSZ} bytes`);
  const { holeOffset, holeLength } = block;
  const storedLength = BLCKSZ - holeLength;
  switch (block.imageCompression) {
    case 'none':
      if (image.length !== storedLength) throw new StrataError('PS_ERR_WAL_CORRUPT', 'image length does not match its hole');
      copyBytes(image, 0, holeOffset, page, 0);
      copyBytes(image, holeOffset, image.length - holeOffset, page, holeOffset + holeLength);
      page.fill(0, holeOffset, holeOffset + holeLength);
      return page;
    case 'pglz':
      pglzDecompress(image, page, 0, storedLength);
      break;
    case 'lz4':
      lz4Decompress(image, page, 0, storedLength);
      break;
    case 'zstd':
      zstdDecompressInto(image, page, 0, storedLength);
      break;
    default:
      assertNever(block.imageCompression, 'image compression');
  }
  // Decompressed bytes are the page without its hole: move the tail up and zero the hole.
  if (holeLength > 0) {
    page.copyWithin(holeOffset + holeLength, holeOffset, storedLength);
    page.fill(0, holeOffset, holeOffset + holeLength);
  }
  return page;
}
