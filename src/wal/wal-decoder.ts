/**
 * WalStreamDecoder: a pure, incremental decoder from raw WAL bytes (as they sit in segment files
 * and as the primary streams them) to DecodedRecords.
 *
 * WHY incremental and pure: the walreceiver gets WAL in arbitrary chunks (XLogData messages cut
 * anywhere, even inside a page header), and `strata waldump` reads files. Both feed bytes and pull
 * records; the decoder does no I/O and keeps no clock, so it is tested by feeding the same bytes
 * in every chunking.
 *
 * WAL framing (PostgreSQL 15, access/xlog_internal.h):
 *
 *   segment (16 MiB) = pages of 8 KiB
 *   page   = header | record bytes …
 *   header = short (24 bytes: magic u16 | info u16 | tli u32 | pageaddr u64 | rem_len u32 | pad)
 *            or, on the first page of a segment, long (40 bytes: short | sysid u64 |
 *            seg_size u32 | xlog_blcksz u32)
 *   A record starts MAXALIGNed (8). It continues over as many pages as it needs; each page it
 *   continues on has XLP_FIRST_IS_CONTRECORD and rem_len = bytes of the record still to come.
 *   After an XLOG SWITCH record the rest of the segment is padding; the next record starts at the
 *   next segment.
 *
 * Method: bytes are copied into one internal growable buffer (`feed` keeps no reference to the
 * caller's array). `next()` looks at the record's xl_tot_len, computes where the record ends in
 * raw WAL (page headers included) and waits until all of it is buffered; then it validates every
 * page header crossed, copies the record into its own ArrayBuffer, checks the CRC and decodes it.
 * Nothing is consumed until a record is complete, so a call that returns `undefined` leaves the
 * state as it was.
 *
 *   buffer: | consumed | unread (readLsn …) | free |
 *           0          bufferStart          bufferEnd  buffer.length
 *
 * Ownership: the decoder keeps no reference to fed arrays, and never writes to a record once it
 * is returned. DecodedRecord.record is a copy (mainData, block data and imageBytes are subarrays of
 * it). Records larger than 2 KiB own an ArrayBuffer of exactly their length; smaller ones are
 * slices of shared 8 KiB slabs, as Node's Buffer pool does, because one ArrayBuffer per small
 * record costs ~4x the decoding time (measured). So a kept small record pins at most 8 KiB, and
 * posting a record alone to another thread clones its slab: send batches, or `record.slice()`.
 *
 * Errors: PS_ERR_WAL_CORRUPT with details {lsn}. Conditions that mark the end of valid WAL in a
 * file (a zero record length, a zeroed page, a page left from a recycled segment) also carry
 * details.endOfWal = true, which readers of files treat as a clean stop.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { limits } from '../limits.js';
import { formatLsn, WAL_SEGMENT_SIZE, XLOG_BLCKSZ } from '../lsn.js';
import type { Lsn } from '../lsn.js';
import type { DecodedRecord } from './types.js';
import { RmgrId } from './types.js';
import {
  decodeXLogRecord, readUint16, readUint32, readUint64, SIZE_OF_XLOG_RECORD, verifyRecordCrc, walCorrupt,
} from './xlog-record.js';

export { decodeBlockImage } from './xlog-record.js';

export const XLOG_PAGE_MAGIC = 0xd110;
export const SIZE_OF_SHORT_PAGE_HEADER = 24;
export const SIZE_OF_LONG_PAGE_HEADER = 40;
export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
const XLP_ALL_FLAGS = 0x000f;
const XLOG_SWITCH = 0x40;
const MAXIMUM_ALIGNOF = 8;
const BUFFER_BYTES_INITIAL = 256 * 1024;
/** Records up to this size are carved out of shared slabs; larger ones get their own buffer. */
const SLAB_RECORD_BYTES_MAX = 2048;
const SLAB_BYTES = 8192;
/** The largest record plus the page headers it may cross, plus one feed's worth of slack. */
const BUFFER_BYTES_MAX = Math.ceil(limits.walRecordBytesMax * 1.01) + 64 * 1024 * 1024;

export interface WalStreamDecoderOptions {
  /** WAL segment size in bytes (a power of two); PostgreSQL's default 16 MiB. */
  segmentSize?: number;
}

function maxAlign(lsn: Lsn): Lsn {
  const remainder = lsn % MAXIMUM_ALIGNOF;
  return remainder === 0 ? lsn : lsn + MAXIMUM_ALIGNOF - remainder;
}

export class WalStreamDecoder {
  private readonly segmentSize: number;
  private buffer = new Uint8Array(BUFFER_BYTES_INITIAL);
  private bufferStart = 0;
  private bufferEnd = 0;
  /** LSN of buffer[bufferStart]: the next byte to interpret. */
  private readLsn: Lsn;
  /** Bytes up to this LSN are skipped unread (alignment padding, the tail after a switch). */
  private skipUntilLsn: Lsn;
  /** True until the first page header is read when decoding starts at a page boundary. */
  private skipContinuation: boolean;
  /** Continuation bytes of a record begun before the start that still have to be skipped. */
  private continuationRemaining = 0;
  private previousRecordLsn: Lsn | undefined;
  private systemIdentifier: number | undefined;
  private decodedUpTo: Lsn;
  private slab = new Uint8Array(0);
  private slabUsed = 0;

  constructor(startLsn: Lsn, options: WalStreamDecoderOptions = {}) {
    this.segmentSize = options.segmentSize ?? WAL_SEGMENT_SIZE;
    assert(Number.isSafeInteger(startLsn) && startLsn >= 0, 'start LSN must be a safe integer');
    assert(Number.isInteger(Math.log2(this.segmentSize)) && this.segmentSize % XLOG_BLCKSZ === 0, 'bad segment size');
    const pageOffset = startLsn % XLOG_BLCKSZ;
    const minimumOffset = startLsn % this.segmentSize < XLOG_BLCKSZ ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER;
    if (pageOffset !== 0 && pageOffset < minimumOffset) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `start LSN ${formatLsn(startLsn)} points into a page header`, { lsn: startLsn });
    }
    this.readLsn = startLsn;
    this.skipUntilLsn = pageOffset === 0 ? startLsn : maxAlign(startLsn);
    this.skipContinuation = pageOffset === 0;
    this.decodedUpTo = startLsn;
  }

  /** End of the last returned record (for an XLOG SWITCH, the end of its segment, as PostgreSQL's EndRecPtr). */
  get position(): Lsn {
    return this.decodedUpTo;
  }

  /** LSN of the first byte not yet fed (the decoder expects the next feed to start here). */
  get fedUpTo(): Lsn {
    return this.readLsn + (this.bufferEnd - this.bufferStart);
  }

  /** Bytes fed but not yet consumed by a returned record. */
  get bufferedBytes(): number {
    return this.bufferEnd - this.bufferStart;
  }

  /** Appends the next WAL bytes (contiguous with earlier ones). The caller may reuse `bytes` afterwards. */
  feed(bytes: Uint8Array): void {
    let input = bytes;
    // Padding that will be skipped anyway is dropped before it is copied.
    if (this.bufferStart === this.bufferEnd && this.skipUntilLsn > this.readLsn) {
      const skip = Math.min(input.length, this.skipUntilLsn - this.readLsn);
      this.readLsn += skip;
      input = input.subarray(skip);
    }
    if (input.length === 0) return;
    if (this.bufferEnd + input.length > this.buffer.length) this.makeRoom(input.length);
    this.buffer.set(input, this.bufferEnd);
    this.bufferEnd += input.length;
  }

  private makeRoom(incoming: number): void {
    const live = this.bufferEnd - this.bufferStart;
    const needed = live + incoming;
    if (needed > BUFFER_BYTES_MAX) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', `WAL decoder buffer would exceed ${BUFFER_BYTES_MAX} bytes: call next() between feeds`);
    }
    if (needed <= this.buffer.length && this.bufferStart >= live) {
      this.buffer.copyWithin(0, this.bufferStart, this.bufferEnd);
    } else {
      let capacity = this.buffer.length;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(Math.min(capacity, BUFFER_BYTES_MAX));
      grown.set(this.buffer.subarray(this.bufferStart, this.bufferEnd), 0);
      this.buffer = grown;
    }
    this.bufferStart = 0;
    this.bufferEnd = live;
  }

  private consume(count: number): void {
    assert(count <= this.bufferEnd - this.bufferStart, 'consume beyond buffered bytes');
    this.bufferStart += count;
    this.readLsn += count;
    if (this.bufferStart === this.bufferEnd) {
      this.bufferStart = 0;
      this.bufferEnd = 0;
    }
  }

  /** The next complete record, or undefined when more bytes are needed. */
  next(): DecodedRecord | undefined {
    // Bounded: each pass consumes bytes or returns; a page holds at most one header.
    for (;;) {
      const available = this.bufferEnd - this.bufferStart;
      if (this.skipUntilLsn > this.readLsn) {
        const skip = Math.min(available, this.skipUntilLsn - this.readLsn);
        this.consume(skip);
        if (this.skipUntilLsn > this.readLsn) return undefined;
        continue;
      }
      if (this.readLsn % XLOG_BLCKSZ === 0) {
        if (!this.readPageHeaderAtStart()) return undefined;
        continue;
      }
      if (this.continuationRemaining > 0) {
        this.skipContinuationBytes();
        continue;
      }
      return this.readRecord();
    }
  }

  private pageHeaderSize(pageLsn: Lsn): number {
    return pageLsn % this.segmentSize === 0 ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER;
  }

  /** Validates the page header at `offset` in the buffer (for page `pageLsn`); returns its info bits. */
  private checkPageHeader(offset: number, pageLsn: Lsn): number {
    const buffer = this.buffer;
    const magic = readUint16(buffer, offset);
    const info = readUint16(buffer, offset + 2);
    const pageAddress = readUint64(buffer, offset + 8);
    if (magic !== XLOG_PAGE_MAGIC) {
      const zeroed = magic === 0 && pageAddress === 0;
      throw walCorrupt(`invalid magic number ${magic.toString(16).toUpperCase().padStart(4, '0')} in WAL page ${formatLsn(pageLsn)}`, pageLsn, { endOfWal: zeroed });
    }
    if ((info & ~XLP_ALL_FLAGS) !== 0) throw walCorrupt(`invalid info bits ${info.toString(16)} in WAL page ${formatLsn(pageLsn)}`, pageLsn);
    if (pageAddress !== pageLsn) {
      throw walCorrupt(`unexpected pageaddr ${formatLsn(pageAddress)} in WAL page ${formatLsn(pageLsn)}`, pageLsn, { endOfWal: pageAddress < pageLsn });
    }
    const isSegmentStart = pageLsn % this.segmentSize === 0;
    if (isSegmentStart !== ((info & XLP_LONG_HEADER) !== 0)) {
      throw walCorrupt(`long page header flag ${isSegmentStart ? 'missing' : 'unexpected'} at ${formatLsn(pageLsn)}`, pageLsn);
    }
    if (isSegmentStart) this.checkLongHeader(offset, pageLsn);
    return info;
  }

  private checkLongHeader(offset: number, pageLsn: Lsn): void {
    const systemIdentifier = readUint64(this.buffer, offset + 24);
    const segmentSize = readUint32(this.buffer, offset + 32);
    const blockSize = readUint32(this.buffer, offset + 36);
    if (segmentSize !== this.segmentSize) throw walCorrupt(`WAL segment size ${segmentSize} in page header, expected ${this.segmentSize}`, pageLsn);
    if (blockSize !== XLOG_BLCKSZ) throw walCorrupt(`WAL block size ${blockSize} in page header, expected ${XLOG_BLCKSZ}`, pageLsn);
    if (this.systemIdentifier === undefined) this.systemIdentifier = systemIdentifier;
    else if (this.systemIdentifier !== systemIdentifier) throw walCorrupt(`WAL segment at ${formatLsn(pageLsn)} is from a different database system`, pageLsn);
  }

  /** Reads the header of the page starting at readLsn, between records. False when bytes are missing. */
  private readPageHeaderAtStart(): boolean {
    const pageLsn = this.readLsn;
    const headerSize = this.pageHeaderSize(pageLsn);
    if (this.bufferEnd - this.bufferStart < headerSize) return false;
    const info = this.checkPageHeader(this.bufferStart, pageLsn);
    const remaining = readUint32(this.buffer, this.bufferStart + 16);
    const isContinuation = (info & XLP_FIRST_IS_CONTRECORD) !== 0;
    if (this.skipContinuation) {
      this.skipContinuation = false;
      if (isContinuation) this.continuationRemaining = remaining;
    } else if (this.continuationRemaining > 0) {
      if (!isContinuation || remaining !== this.continuationRemaining) {
        throw walCorrupt(`invalid contrecord length ${remaining} (expected ${this.continuationRemaining}) at ${formatLsn(pageLsn)}`, pageLsn);
      }
    } else if (isContinuation) {
      throw walCorrupt(`contrecord is requested by ${formatLsn(pageLsn)}`, pageLsn);
    }
    this.consume(headerSize);
    return true;
  }

  /** Skips the continuation of a record that began before decoding started (within this page). */
  private skipContinuationBytes(): void {
    const pageRemaining = XLOG_BLCKSZ - (this.readLsn % XLOG_BLCKSZ);
    const skip = Math.min(pageRemaining, this.continuationRemaining);
    this.continuationRemaining -= skip;
    this.skipUntilLsn = this.continuationRemaining === 0 ? maxAlign(this.readLsn + skip) : this.readLsn + skip;
  }

  /** Where a record of `totalLength` bytes starting at `start` ends in raw WAL (page headers included). */
  private rawEndOf(start: Lsn, totalLength: number): Lsn {
    const firstPageRemaining = XLOG_BLCKSZ - (start % XLOG_BLCKSZ);
    if (totalLength <= firstPageRemaining) return start + totalLength;
    let remaining = totalLength - firstPageRemaining;
    let pageLsn = start + firstPageRemaining;
    // Bounded by walRecordBytesMax / page content size iterations.
    for (;;) {
      const content = XLOG_BLCKSZ - this.pageHeaderSize(pageLsn);
      if (remaining <= content) return pageLsn + (XLOG_BLCKSZ - content) + remaining;
      remaining -= content;
      pageLsn += XLOG_BLCKSZ;
    }
  }

  private readRecord(): DecodedRecord | undefined {
    const start = this.readLsn;
    assert(start % MAXIMUM_ALIGNOF === 0 && start % XLOG_BLCKSZ !== 0, 'record start must be aligned and inside a page');
    const available = this.bufferEnd - this.bufferStart;
    if (available < 4) return undefined;
    const totalLength = readUint32(this.buffer, this.bufferStart);
    if (totalLength === 0) throw walCorrupt(`invalid record length at ${formatLsn(start)}: expected at least ${SIZE_OF_XLOG_RECORD}, got 0`, start, { endOfWal: true });
    if (totalLength < SIZE_OF_XLOG_RECORD || totalLength > limits.walRecordBytesMax) {
      throw walCorrupt(`invalid record length at ${formatLsn(start)}: ${totalLength}`, start);
    }
    this.checkPrevLinkEarly(start);
    const rawEnd = this.rawEndOf(start, totalLength);
    if (available < rawEnd - start) return undefined;
    const record = this.assembleRecord(start, totalLength, rawEnd);
    this.checkRecordHeader(record, start);
    if (!verifyRecordCrc(record)) throw walCorrupt(`incorrect resource manager data checksum in record at ${formatLsn(start)}`, start);
    const decoded = decodeXLogRecord(record, start, rawEnd);
    this.finishRecord(decoded, rawEnd);
    return decoded;
  }

  /** Catches misframed WAL before waiting for a (possibly huge, bogus) length: the prev link. */
  private checkPrevLinkEarly(start: Lsn): void {
    const pageRemaining = XLOG_BLCKSZ - (start % XLOG_BLCKSZ);
    if (this.previousRecordLsn === undefined || pageRemaining < 16) return;
    if (this.bufferEnd - this.bufferStart < 16) return;
    const prev = readUint64(this.buffer, this.bufferStart + 8);
    if (prev !== this.previousRecordLsn) {
      throw walCorrupt(`record with incorrect prev-link ${formatLsn(prev)} at ${formatLsn(start)}`, start);
    }
  }

  /** Copies the record out of the raw bytes, validating every page header it crosses. */
  private assembleRecord(start: Lsn, totalLength: number, rawEnd: Lsn): Uint8Array {
    const record = this.allocateRecord(totalLength);
    const base = this.bufferStart - start; // buffer offset = base + lsn
    if (rawEnd - start === totalLength) {
      record.set(this.buffer.subarray(this.bufferStart, this.bufferStart + totalLength));
      return record;
    }
    let copied = XLOG_BLCKSZ - (start % XLOG_BLCKSZ);
    record.set(this.buffer.subarray(this.bufferStart, this.bufferStart + copied));
    let pageLsn = start + copied;
    while (copied < totalLength) {
      const info = this.checkPageHeader(base + pageLsn, pageLsn);
      const remaining = readUint32(this.buffer, base + pageLsn + 16);
      if ((info & XLP_FIRST_IS_CONTRECORD) === 0) throw walCorrupt(`there is no contrecord flag at ${formatLsn(pageLsn)}`, pageLsn);
      if (remaining !== totalLength - copied) {
        throw walCorrupt(`invalid contrecord length ${remaining} (expected ${totalLength - copied}) at ${formatLsn(pageLsn)}`, pageLsn);
      }
      const headerSize = this.pageHeaderSize(pageLsn);
      const piece = Math.min(XLOG_BLCKSZ - headerSize, totalLength - copied);
      const from = base + pageLsn + headerSize;
      record.set(this.buffer.subarray(from, from + piece), copied);
      copied += piece;
      pageLsn += XLOG_BLCKSZ;
    }
    return record;
  }

  /** A record buffer: a fresh slice of the current slab for small records, its own buffer otherwise. */
  private allocateRecord(totalLength: number): Uint8Array {
    if (totalLength > SLAB_RECORD_BYTES_MAX) return new Uint8Array(totalLength);
    const aligned = (totalLength + 7) & ~7; // keeps every record 8-byte aligned in its slab
    if (this.slabUsed + aligned > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const record = this.slab.subarray(this.slabUsed, this.slabUsed + totalLength);
    this.slabUsed += aligned;
    assert(record.length === totalLength, 'slab slice has the record length');
    return record;
  }

  /** The header checks of xlogreader.c ValidXLogRecordHeader (length, rmgr id, prev link). */
  private checkRecordHeader(record: Uint8Array, start: Lsn): void {
    const rmgrId = record[17]!;
    if (rmgrId > RmgrId.LogicalMessage && rmgrId < 128) throw walCorrupt(`invalid resource manager ID ${rmgrId} at ${formatLsn(start)}`, start);
    const prev = readUint64(record, 8);
    if (this.previousRecordLsn !== undefined && prev !== this.previousRecordLsn) {
      throw walCorrupt(`record with incorrect prev-link ${formatLsn(prev)} at ${formatLsn(start)}`, start);
    }
    if (this.previousRecordLsn === undefined && prev >= start) {
      throw walCorrupt(`record with incorrect prev-link ${formatLsn(prev)} at ${formatLsn(start)}`, start);
    }
  }

  private finishRecord(decoded: DecodedRecord, rawEnd: Lsn): void {
    this.consume(rawEnd - this.readLsn);
    this.previousRecordLsn = decoded.lsn;
    const isSwitch = decoded.rmgrId === RmgrId.Xlog && (decoded.info & 0xf0) === XLOG_SWITCH;
    if (isSwitch) {
      const segmentOffset = rawEnd % this.segmentSize;
      this.skipUntilLsn = segmentOffset === 0 ? rawEnd : rawEnd - segmentOffset + this.segmentSize;
    } else {
      this.skipUntilLsn = maxAlign(rawEnd);
    }
    this.decodedUpTo = isSwitch ? this.skipUntilLsn : rawEnd;
    assert(this.decodedUpTo > decoded.lsn, 'position must advance');
  }
}
