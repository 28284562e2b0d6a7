/**
 * PackedRecords: a batch of decoded WAL records as columns of numbers (typed arrays) next to the
 * memory their bytes lie in, instead of one object per record and per block reference.
 *
 * WHY: ingest must keep up with PostgreSQL's own replay, about a microsecond per record. Record
 * objects cost the decoder an allocation per record and per block (and the garbage collector
 * more), and they cannot cross threads without being taken apart. Columns cost neither: the
 * decoder writes a record's header fields straight into them (xlog-record.ts
 * decodeXLogRecordPacked), they transfer to another thread for free (the WAL decode stage runs on
 * its own thread, wal-decode-stage.ts), and the ingest side reads them through one reusable view
 * (xlog-record.ts PackedRecordView) that implements DecodedRecord, so every consumer of records
 * works on them unchanged.
 *
 *   lsn, endLsn, prevLsn   Float64Array  per record
 *   records                Int32Array    per record, RECORD_FIELDS each (RecordField)
 *   blocks                 Int32Array    per block reference, BLOCK_FIELDS each (BlockField);
 *                                        record r's blocks are [blocksEnd(r-1), blocksEnd(r))
 *   rels                   Uint32Array   per relation named in the batch: spcNode, dbNode, relNode
 *   sources                ArrayBuffer or SharedArrayBuffer: the decoder's buffers the records'
 *                                        bytes lie in (a record is sources[source][offset ..
 *                                        offset + totalLength), contiguous)
 *   extras                 the rare origin / toplevel-xid headers, by index
 *
 * Ownership: like DecodedRecords (wal-decoder.ts), the bytes are never written again once a
 * record was handed out, so a batch may be kept, and referenced by the in-memory layer, for as
 * long as needed. Across threads the sources must be SharedArrayBuffers (the decoder's
 * `sharedMemory` option); the columns are transferred (packedTransferList).
 */
import { assert } from '../assert.js';
import type { Lsn } from '../lsn.js';
import type { RelFileNode } from './types.js';

export const RECORD_FIELDS = 8;
export const enum RecordField {
  /** xl_xid as an int32 (read it with >>> 0). */
  Xid = 0,
  /** xl_rmid << 8 | xl_info. */
  RmgrInfo = 1,
  TotalLength = 2,
  /** Index into `sources`. */
  Source = 3,
  /** Where the record starts in its source. */
  Offset = 4,
  MainDataLength = 5,
  /** One past the record's last block in `blocks` (block index, not field index). */
  BlocksEnd = 6,
  /** Index into `extras`, or -1. */
  Extras = 7,
}

export const BLOCK_FIELDS = 8;
export const enum BlockField {
  /** fork_flags | bimg_info << 8 | block_id << 16. */
  Flags = 0,
  /** Index of the relation in `rels` (triplets). */
  Rel = 1,
  /** Block number as an int32 (read it with >>> 0). */
  BlockNumber = 2,
  HoleOffset = 3,
  HoleLength = 4,
  /** Where the image (then the block data) starts in the record's source. */
  PayloadOffset = 5,
  ImageLength = 6,
  DataLength = 7,
}

export interface RecordExtras {
  readonly origin: number | undefined;
  readonly toplevelXid: number | undefined;
}

export interface PackedRecords {
  readonly count: number;
  readonly lsn: Float64Array;
  readonly endLsn: Float64Array;
  readonly prevLsn: Float64Array;
  readonly records: Int32Array;
  readonly blocks: Int32Array;
  readonly rels: Uint32Array;
  readonly sources: readonly ArrayBufferLike[];
  readonly extras: readonly RecordExtras[];
}

const RECORDS_INITIAL = 1024;

/**
 * Collects records into columns; `finish()` hands the columns over as a PackedRecords and starts
 * fresh ones (no copy). Sources and relations are registered once per batch (the last one is
 * cached: consecutive records mostly share both).
 */
export class PackedRecordsBuilder {
  #capacity = RECORDS_INITIAL;
  #blockCapacity = RECORDS_INITIAL * 2;
  #count = 0;
  #blockCount = 0;
  #lsn = new Float64Array(RECORDS_INITIAL);
  #endLsn = new Float64Array(RECORDS_INITIAL);
  #prevLsn = new Float64Array(RECORDS_INITIAL);
  #records = new Int32Array(RECORDS_INITIAL * RECORD_FIELDS);
  #blocks = new Int32Array(RECORDS_INITIAL * 2 * BLOCK_FIELDS);
  #rels: number[] = [];
  readonly #relIndex = new Map<RelFileNode, number>();
  #lastRel: RelFileNode | undefined;
  #lastRelIndex = -1;
  #sources: ArrayBufferLike[] = [];
  #lastSource: ArrayBufferLike | undefined;
  #lastSourceIndex = -1;
  #extras: RecordExtras[] = [];
  #lastArray: Uint8Array | undefined;
  #lastArrayOffset = 0;

  get count(): number {
    return this.#count;
  }

  /** End LSN of the last record added (undefined when empty). */
  get lastEndLsn(): Lsn | undefined {
    return this.#count === 0 ? undefined : this.#endLsn[this.#count - 1];
  }

  /** Starts a record; its blocks follow with addBlock. Returns its index. */
  addRecord(
    lsn: Lsn, endLsn: Lsn, prevLsn: Lsn, xid: number, rmgrInfo: number, totalLength: number,
    source: Uint8Array, offset: number, mainDataLength: number, extras: RecordExtras | undefined,
  ): number {
    if (this.#count === this.#capacity) this.#growRecords();
    const index = this.#count;
    this.#lsn[index] = lsn;
    this.#endLsn[index] = endLsn;
    this.#prevLsn[index] = prevLsn;
    const base = index * RECORD_FIELDS;
    const records = this.#records;
    records[base + RecordField.Xid] = xid;
    records[base + RecordField.RmgrInfo] = rmgrInfo;
    records[base + RecordField.TotalLength] = totalLength;
    if (source !== this.#lastArray) this.#useArray(source);
    records[base + RecordField.Source] = this.#lastSourceIndex;
    records[base + RecordField.Offset] = this.#lastArrayOffset + offset;
    records[base + RecordField.MainDataLength] = mainDataLength;
    records[base + RecordField.BlocksEnd] = this.#blockCount;
    if (extras === undefined) {
      records[base + RecordField.Extras] = -1;
    } else {
      records[base + RecordField.Extras] = this.#extras.length;
      this.#extras.push(extras);
    }
    this.#count = index + 1;
    return index;
  }

  /** Adds a block reference to the last record; `payloadOffset` is relative to the record's source array. */
  addBlock(
    flags: number, rel: RelFileNode, blockNumber: number, holeOffset: number, holeLength: number,
    payloadOffset: number, imageLength: number, dataLength: number, source: Uint8Array,
  ): void {
    assert(this.#count > 0, 'a block belongs to a record');
    if (this.#blockCount === this.#blockCapacity) this.#growBlocks();
    const base = this.#blockCount * BLOCK_FIELDS;
    const blocks = this.#blocks;
    blocks[base + BlockField.Flags] = flags;
    blocks[base + BlockField.Rel] = rel === this.#lastRel ? this.#lastRelIndex : this.#relIndexOf(rel);
    blocks[base + BlockField.BlockNumber] = blockNumber;
    blocks[base + BlockField.HoleOffset] = holeOffset;
    blocks[base + BlockField.HoleLength] = holeLength;
    if (source !== this.#lastArray) this.#useArray(source);
    blocks[base + BlockField.PayloadOffset] = this.#lastArrayOffset + payloadOffset;
    blocks[base + BlockField.ImageLength] = imageLength;
    blocks[base + BlockField.DataLength] = dataLength;
    this.#blockCount += 1;
    this.#records[(this.#count - 1) * RECORD_FIELDS + RecordField.BlocksEnd] = this.#blockCount;
  }

  /** Drops records from index `count` on (the caller decided not to hand them out). */
  truncate(count: number): void {
    assert(count >= 0 && count <= this.#count, 'truncate within the batch');
    if (count === this.#count) return;
    this.#blockCount = count === 0 ? 0 : this.#records[(count - 1) * RECORD_FIELDS + RecordField.BlocksEnd]!;
    this.#count = count;
  }

  /**
   * The records so far as views of the builder's own columns, for a caller that reads them at
   * once: valid until the next add or clear (finish hands the columns over instead).
   */
  current(): PackedRecords {
    const count = this.#count;
    return {
      count,
      lsn: this.#lsn.subarray(0, count),
      endLsn: this.#endLsn.subarray(0, count),
      prevLsn: this.#prevLsn.subarray(0, count),
      records: this.#records.subarray(0, count * RECORD_FIELDS),
      blocks: this.#blocks.subarray(0, this.#blockCount * BLOCK_FIELDS),
      rels: Uint32Array.from(this.#rels),
      sources: this.#sources,
      extras: this.#extras,
    };
  }

  /** Empties the builder and keeps its columns (after `current`; no allocation). */
  clear(): void {
    this.#count = 0;
    this.#blockCount = 0;
    this.#rels.length = 0;
    this.#sources.length = 0;
    this.#extras.length = 0;
    this.#forgetLookups();
  }

  /** The batch so far; the builder starts empty with fresh columns. */
  finish(): PackedRecords {
    const batch = this.current();
    this.#lsn = new Float64Array(this.#capacity);
    this.#endLsn = new Float64Array(this.#capacity);
    this.#prevLsn = new Float64Array(this.#capacity);
    this.#records = new Int32Array(this.#capacity * RECORD_FIELDS);
    this.#blocks = new Int32Array(this.#blockCapacity * BLOCK_FIELDS);
    this.#count = 0;
    this.#blockCount = 0;
    // New lists: the batch handed out keeps the old ones.
    this.#rels = [];
    this.#sources = [];
    this.#extras = [];
    this.#forgetLookups();
    return batch;
  }

  /** Forgets the relation and source lookups of the records dropped. */
  #forgetLookups(): void {
    this.#relIndex.clear();
    this.#lastRel = undefined;
    this.#lastRelIndex = -1;
    this.#lastSource = undefined;
    this.#lastSourceIndex = -1;
    this.#lastArray = undefined;
    this.#lastArrayOffset = 0;
  }

  /**
   * Makes `array` the current source array. WHY cached by array: nearly every record of a batch
   * lies in the same decoder buffer, and an identity check is far cheaper than reading `.buffer`
   * and `.byteOffset` (accessors) per record and block.
   */
  #useArray(array: Uint8Array): void {
    this.#lastArray = array;
    this.#lastArrayOffset = array.byteOffset;
    this.#sourceIndexOf(array.buffer);
  }

  #sourceIndexOf(buffer: ArrayBufferLike): number {
    if (buffer === this.#lastSource) return this.#lastSourceIndex;
    let index = this.#sources.indexOf(buffer);
    if (index < 0) {
      index = this.#sources.length;
      this.#sources.push(buffer);
    }
    this.#lastSource = buffer;
    this.#lastSourceIndex = index;
    return index;
  }

  #relIndexOf(rel: RelFileNode): number {
    let index = this.#relIndex.get(rel);
    if (index === undefined) {
      index = this.#rels.length / 3;
      this.#rels.push(rel.spcNode, rel.dbNode, rel.relNode);
      this.#relIndex.set(rel, index);
    }
    this.#lastRel = rel;
    this.#lastRelIndex = index;
    return index;
  }

  #growRecords(): void {
    const capacity = this.#capacity * 2;
    this.#lsn = grownFloat64(this.#lsn, capacity);
    this.#endLsn = grownFloat64(this.#endLsn, capacity);
    this.#prevLsn = grownFloat64(this.#prevLsn, capacity);
    const records = new Int32Array(capacity * RECORD_FIELDS);
    records.set(this.#records);
    this.#records = records;
    this.#capacity = capacity;
  }

  #growBlocks(): void {
    const capacity = this.#blockCapacity * 2;
    const blocks = new Int32Array(capacity * BLOCK_FIELDS);
    blocks.set(this.#blocks);
    this.#blocks = blocks;
    this.#blockCapacity = capacity;
  }
}

function grownFloat64(array: Float64Array, capacity: number): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(capacity);
  grown.set(array);
  return grown;
}

/** The buffers to transfer when posting a batch to another thread (never its sources). */
export function packedTransferList(batch: PackedRecords): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const column of [batch.lsn, batch.endLsn, batch.prevLsn, batch.records, batch.blocks, batch.rels]) {
    if (column.buffer instanceof ArrayBuffer) buffers.add(column.buffer);
  }
  return [...buffers];
}

/** Checks the shape of a batch that crossed a thread boundary; returns a reason when broken. */
export function packedRecordsProblem(batch: PackedRecords): string | undefined {
  const count = batch.count;
  if (!Number.isInteger(count) || count < 0) return 'record count is not a count';
  if (batch.lsn.length !== count || batch.endLsn.length !== count || batch.prevLsn.length !== count) return 'LSN columns differ in length';
  if (batch.records.length !== count * RECORD_FIELDS) return 'record column has the wrong length';
  if (batch.blocks.length % BLOCK_FIELDS !== 0 || batch.rels.length % 3 !== 0) return 'block or relation column is ragged';
  const blockCount = batch.blocks.length / BLOCK_FIELDS;
  if (count > 0 && batch.records[(count - 1) * RECORD_FIELDS + RecordField.BlocksEnd] !== blockCount) return 'blocks do not match their records';
  const sourceLengths = batch.sources.map((source) => source.byteLength);
  const records = batch.records;
  for (let base = 0; base < records.length; base += RECORD_FIELDS) {
    const sourceLength = sourceLengths[records[base + RecordField.Source]!];
    const end = records[base + RecordField.Offset]! + records[base + RecordField.TotalLength]!;
    if (sourceLength === undefined || end > sourceLength) return `record ${base / RECORD_FIELDS} lies outside its source`;
  }
  return undefined;
}
