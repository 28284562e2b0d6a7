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
 * Method: bytes go into an internal buffer, either copied by `feed` (which keeps no reference to
 * the caller's array), or read straight into it by the caller (`reserveFeed` / `commitFeed`), or
 * handed over with the array (`adoptFeed`, which the segment reader uses: no copy at all). `next()` looks at the record's xl_tot_len, computes
 * where the record ends in raw WAL (page headers included) and waits until all of it is buffered;
 * then it validates every page header crossed, checks the CRC and decodes the record. Nothing is
 * consumed until a record is complete, so a call that returns `undefined` leaves the state as it
 * was.
 *
 *   buffer: | consumed | unread (readLsn …) | free |
 *           0          bufferStart          bufferEnd  buffer.length
 *
 * Ownership and lifetime: a record that lies within one WAL page (most records) is returned as a
 * view of the internal buffer, not a copy; so is one that crosses one page boundary, after the
 * decoder moved its smaller piece over the page header in between (its own raw bytes, never
 * returned before); one that crosses more boundaries is copied into memory of its own
 * (records up to 64 KiB share 1 MiB slabs, larger ones get an ArrayBuffer of exactly their length).
 * mainData, block data and imageBytes are views of the record. The decoder never writes to bytes it
 * has returned: once a buffer holds a returned record, it is frozen below bufferEnd (no compaction,
 * no reuse); more room means a new buffer, and the old one is freed by the GC when the caller drops
 * the last record in it. So records may be kept indefinitely, but a kept record pins its buffer
 * (up to one read's worth, about 1 MiB for files, 256 KiB for streams): to keep a few records long,
 * keep `record.record.slice()`. Posting a record to another thread clones its whole buffer: send
 * batches, or slices; never transfer `record.record.buffer` (it holds other records too).
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
import type { PackedRecordsBuilder } from './packed-records.js';
import {
  decodeXLogRecord, decodeXLogRecordPacked, readUint16, readUint32, readUint64, SIZE_OF_XLOG_RECORD, verifyRecordCrc, walCorrupt,
} from './xlog-record.js';

export { decodeBlockImage } from './xlog-record.js';

export const XLOG_PAGE_MAGIC = 0xd110;
export const SIZE_OF_SHORT_PAGE_HEADER = 24;
export const SIZE_OF_LONG_PAGE_HEADER = 40;
export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
const XLP_ALL_FLAGS = 0x000f;
const XLOG_SWITCH = 0x40;
const JOIN_NONE = 0;
/** readRecord's result when the record went into a PackedRecordsBuilder. */
const PACKED = Symbol('packed');
const JOIN_FIRST_MOVED = 1;
const JOIN_SECOND_MOVED = 2;
const MAXIMUM_ALIGNOF = 8;
/**
 * Offsets within pages, segments and alignment units are taken with masks, not `%`: LSNs are
 * doubles once beyond 2^31, and a double `%` is a library call where a mask is one instruction.
 * `lsn & mask` is exact for every safe-integer LSN, because ToInt32 keeps the value modulo 2^32,
 * a multiple of every power-of-two unit used here (segments are at most 1 GiB).
 */
const PAGE_OFFSET_MASK = XLOG_BLCKSZ - 1;
const ALIGN_MASK = MAXIMUM_ALIGNOF - 1;
const BUFFER_BYTES_INITIAL = 256 * 1024;
/**
 * Records that cross two or more page boundaries (so need a contiguous copy; those crossing one
 * are joined in place) up to this size are carved out of shared slabs; larger ones get their own
 * buffer. Such records are 8 KiB and more, so a slab holds many of them.
 */
const SLAB_RECORD_BYTES_MAX = 64 * 1024;
const SLAB_BYTES = 1024 * 1024;
/** The largest record plus the page headers it may cross, plus one feed's worth of slack. */
const BUFFER_BYTES_MAX = Math.ceil(limits.walRecordBytesMax * 1.01) + 64 * 1024 * 1024;

export interface WalStreamDecoderOptions {
  /** WAL segment size in bytes (a power of two); PostgreSQL's default 16 MiB. */
  segmentSize?: number;
  /**
   * Allocate the buffers records lie in as SharedArrayBuffers, so records (or PackedRecords) can
   * go to another thread without copying their bytes. Default false.
   */
  sharedMemory?: boolean;
}

function maxAlign(lsn: Lsn): Lsn {
  const remainder = lsn & ALIGN_MASK;
  return remainder === 0 ? lsn : lsn + MAXIMUM_ALIGNOF - remainder;
}

export class WalStreamDecoder {
  private readonly segmentSize: number;
  private readonly sharedMemory: boolean;
  /** segmentSize - 1: offset in the segment = lsn & segmentMask (see PAGE_OFFSET_MASK). */
  private readonly segmentMask: number;
  private buffer: Uint8Array<ArrayBufferLike>;
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
  private slab: Uint8Array = new Uint8Array(0);
  private slabUsed = 0;
  /** True once a returned record is a view of `buffer`: its bytes below bufferEnd are then frozen. */
  private bufferShared = false;
  /** How the record being decoded was joined in place (JOIN_*), to undo it if it is bad. */
  private joined = JOIN_NONE;
  private joinedFirst = 0;
  private joinedSecond = 0;
  private joinedHeaderSize = 0;
  private readonly savedHeader = new Uint8Array(SIZE_OF_LONG_PAGE_HEADER);
  /** Where the record last assembled starts in the array assembleRecord returned. */
  private assembledOffset = 0;
  /** Bytes handed out by the last reserveFeed and not yet committed. */
  private reserved = 0;

  constructor(startLsn: Lsn, options: WalStreamDecoderOptions = {}) {
    this.segmentSize = options.segmentSize ?? WAL_SEGMENT_SIZE;
    this.sharedMemory = options.sharedMemory ?? false;
    this.buffer = this.allocate(BUFFER_BYTES_INITIAL);
    this.segmentMask = this.segmentSize - 1;
    assert(Number.isSafeInteger(startLsn) && startLsn >= 0, 'start LSN must be a safe integer');
    assert(Number.isInteger(Math.log2(this.segmentSize)) && this.segmentSize % XLOG_BLCKSZ === 0, 'bad segment size');
    assert(this.segmentSize <= 2 ** 30, 'segment size fits the offset masks');
    const pageOffset = startLsn & PAGE_OFFSET_MASK;
    const minimumOffset = (startLsn & this.segmentMask) < XLOG_BLCKSZ ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER;
    if (pageOffset !== 0 && pageOffset < minimumOffset) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `start LSN ${formatLsn(startLsn)} points into a page header`, { lsn: startLsn });
    }
    this.readLsn = startLsn;
    this.skipUntilLsn = pageOffset === 0 ? startLsn : maxAlign(startLsn);
    this.skipContinuation = pageOffset === 0;
    this.decodedUpTo = startLsn;
    this.bufferStart = startLsn & ALIGN_MASK;
    this.bufferEnd = this.bufferStart;
  }

  /** EndRecPtr of the last returned record (its end rounded up to MAXALIGN; for an XLOG SWITCH, the end of its segment). */
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
    assert(this.reserved === 0, 'feed between reserveFeed and commitFeed');
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

  /**
   * Zero-copy feeding: returns the decoder's own free space for the next `length` WAL bytes (at
   * least that many), for the caller to read into (e.g. with a file handle); then the caller calls
   * `commitFeed(count)` with the number of bytes it wrote, before any other call.
   */
  reserveFeed(length: number): Uint8Array {
    assert(Number.isInteger(length) && length > 0, 'reserve a positive byte count');
    if (this.bufferEnd + length > this.buffer.length) this.makeRoom(length);
    this.reserved = this.buffer.length - this.bufferEnd;
    return this.buffer.subarray(this.bufferEnd);
  }

  /** Makes `count` bytes written into the region of the last `reserveFeed` part of the WAL. */
  commitFeed(count: number): void {
    assert(Number.isInteger(count) && count >= 0 && count <= this.reserved, 'commit within the reserved region');
    this.reserved = 0;
    this.bufferEnd += count;
  }

  /**
   * Zero-copy feeding of an array the caller hands over: `bytes[dataStart, dataEnd)` are the next
   * WAL bytes. The decoder owns `bytes` from now on (the caller must never write to it again) and
   * puts the unread bytes it still holds (a record cut by the end of the previous feed) into the
   * headroom `bytes[0, dataStart)`, so the new bytes are never copied; only when they do not fit
   * there is everything copied, as by `feed`. Keep `dataStart` congruent to the LSN modulo 8 for
   * word-aligned records.
   */
  adoptFeed(bytes: Uint8Array, dataStart: number, dataEnd: number): void {
    assert(this.reserved === 0, 'adoptFeed between reserveFeed and commitFeed');
    assert(dataStart >= 0 && dataStart <= dataEnd && dataEnd <= bytes.length, 'adopted range within the array');
    const live = this.bufferEnd - this.bufferStart;
    if (live > dataStart || bytes === this.buffer) {
      this.feed(bytes.subarray(dataStart, dataEnd));
      return;
    }
    bytes.set(this.buffer.subarray(this.bufferStart, this.bufferEnd), dataStart - live);
    this.buffer = bytes;
    this.bufferStart = dataStart - live;
    this.bufferEnd = dataEnd;
    this.bufferShared = false;
  }

  /**
   * Makes room for `incoming` more bytes after the unread ones. A buffer that records are views
   * of is never written below bufferEnd again: then the unread bytes move to a new buffer (the old
   * one lives on as long as the caller keeps records of it).
   */
  private makeRoom(incoming: number): void {
    const live = this.bufferEnd - this.bufferStart;
    const needed = live + incoming;
    if (needed > BUFFER_BYTES_MAX) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', `WAL decoder buffer would exceed ${BUFFER_BYTES_MAX} bytes: call next() between feeds`);
    }
    // The unread bytes keep the 8-byte alignment of their LSN, so that records stay word-aligned.
    const offset = this.readLsn & ALIGN_MASK;
    if (!this.bufferShared && offset + needed <= this.buffer.length && this.bufferStart >= offset + live) {
      this.buffer.copyWithin(offset, this.bufferStart, this.bufferEnd);
    } else {
      const capacity = Math.min(offset + live + Math.max(incoming, BUFFER_BYTES_INITIAL), BUFFER_BYTES_MAX + MAXIMUM_ALIGNOF);
      const grown = this.allocate(capacity);
      grown.set(this.buffer.subarray(this.bufferStart, this.bufferEnd), offset);
      this.buffer = grown;
      this.bufferShared = false;
    }
    this.bufferStart = offset;
    this.bufferEnd = offset + live;
  }

  private allocate(length: number): Uint8Array {
    return this.sharedMemory ? new Uint8Array(new SharedArrayBuffer(length)) : new Uint8Array(length);
  }

  private consume(count: number): void {
    assert(count <= this.bufferEnd - this.bufferStart, 'consume beyond buffered bytes');
    // `| 0` (exact: offsets stay below BUFFER_BYTES_MAX < 2^31): `count` is a difference of LSNs,
    // which are doubles, and a double stored here would make every offset and every record field
    // derived from it a boxed heap number (one allocation each per record; seen with %DebugPrint).
    this.bufferStart = (this.bufferStart + count) | 0;
    this.readLsn += count;
    if (this.bufferStart === this.bufferEnd && !this.bufferShared) {
      this.bufferStart = this.readLsn & ALIGN_MASK;
      this.bufferEnd = this.bufferStart;
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
      if ((this.readLsn & PAGE_OFFSET_MASK) === 0) {
        if (!this.readPageHeaderAtStart()) return undefined;
        continue;
      }
      if (this.continuationRemaining > 0) {
        this.skipContinuationBytes();
        continue;
      }
      const record = this.readRecord(undefined);
      assert(record !== PACKED, 'a record object without a builder');
      return record;
    }
  }

  /**
   * next(), but the record goes into `builder`'s columns (packed-records.ts) instead of an object:
   * true when one was added, false when more bytes are needed. Same checks, same errors.
   */
  nextInto(builder: PackedRecordsBuilder): boolean {
    // Bounded as next().
    for (;;) {
      const available = this.bufferEnd - this.bufferStart;
      if (this.skipUntilLsn > this.readLsn) {
        const skip = Math.min(available, this.skipUntilLsn - this.readLsn);
        this.consume(skip);
        if (this.skipUntilLsn > this.readLsn) return false;
        continue;
      }
      if ((this.readLsn & PAGE_OFFSET_MASK) === 0) {
        if (!this.readPageHeaderAtStart()) return false;
        continue;
      }
      if (this.continuationRemaining > 0) {
        this.skipContinuationBytes();
        continue;
      }
      return this.readRecord(builder) !== undefined;
    }
  }

  private pageHeaderSize(pageLsn: Lsn): number {
    return (pageLsn & this.segmentMask) === 0 ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER;
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
    const isSegmentStart = (pageLsn & this.segmentMask) === 0;
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
    const pageRemaining = XLOG_BLCKSZ - (this.readLsn & PAGE_OFFSET_MASK);
    const skip = Math.min(pageRemaining, this.continuationRemaining);
    this.continuationRemaining -= skip;
    this.skipUntilLsn = this.continuationRemaining === 0 ? maxAlign(this.readLsn + skip) : this.readLsn + skip;
  }

  /** Where a record of `totalLength` bytes starting at `start` ends in raw WAL (page headers included). */
  private rawEndOf(start: Lsn, totalLength: number): Lsn {
    const firstPageRemaining = XLOG_BLCKSZ - (start & PAGE_OFFSET_MASK);
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

  /** Reads the record at readLsn into `builder` when given (then returns PACKED), else as an object. */
  private readRecord(builder: PackedRecordsBuilder | undefined): DecodedRecord | typeof PACKED | undefined {
    const start = this.readLsn;
    assert((start & ALIGN_MASK) === 0 && (start & PAGE_OFFSET_MASK) !== 0, 'record start must be aligned and inside a page');
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
    const source = this.assembleRecord(start, totalLength, rawEnd);
    const offset = this.assembledOffset;
    let decoded: DecodedRecord | undefined;
    let endRecPtr: Lsn;
    try {
      this.checkRecordHeader(source, offset, start);
      if (!verifyRecordCrc(source, offset)) throw walCorrupt(`incorrect resource manager data checksum in record at ${formatLsn(start)}`, start);
      endRecPtr = this.endRecPtrOf(rawEnd, source[offset + 17]!, source[offset + 16]!);
      if (builder === undefined) decoded = decodeXLogRecord(source, start, endRecPtr, offset, totalLength);
      else decodeXLogRecordPacked(source, start, endRecPtr, offset, totalLength, builder);
    } catch (error) {
      this.undoJoin();
      throw error;
    }
    this.joined = JOIN_NONE;
    this.finishRecord(start, rawEnd, endRecPtr);
    return decoded ?? PACKED;
  }

  /**
   * PostgreSQL's EndRecPtr of a record whose last byte is before `rawEnd` (xlogreader.c sets it
   * from NextRecPtr): the end rounded up to MAXALIGN, where the next record may start. For a
   * record continued onto later pages xlogreader counts from the end of the last page's header
   * (page start + header + MAXALIGN(rem_len)), which is the same number, since headers are 24 or
   * 40 bytes. An XLOG SWITCH record reaches to the end of its segment. This is the LSN PostgreSQL's
   * redo stamps on the pages the record changes, and the LSN XLogInsert returned on the primary.
   */
  private endRecPtrOf(rawEnd: Lsn, rmgrId: number, info: number): Lsn {
    const aligned = maxAlign(rawEnd);
    if (rmgrId !== RmgrId.Xlog || (info & 0xf0) !== XLOG_SWITCH) return aligned;
    const segmentOffset = aligned & this.segmentMask;
    return segmentOffset === 0 ? aligned : aligned - segmentOffset + this.segmentSize;
  }

  /** Catches misframed WAL before waiting for a (possibly huge, bogus) length: the prev link. */
  private checkPrevLinkEarly(start: Lsn): void {
    const pageRemaining = XLOG_BLCKSZ - (start & PAGE_OFFSET_MASK);
    if (this.previousRecordLsn === undefined || pageRemaining < 16) return;
    if (this.bufferEnd - this.bufferStart < 16) return;
    const prev = readUint64(this.buffer, this.bufferStart + 8);
    if (prev !== this.previousRecordLsn) {
      throw walCorrupt(`record with incorrect prev-link ${formatLsn(prev)} at ${formatLsn(start)}`, start);
    }
  }

  /**
   * Where the record's bytes are, contiguous: returns the array and sets `assembledOffset`. A
   * record within one page stays where it is in the buffer (which is then never written again).
   * One that crosses exactly one page boundary (nearly every full-page-image record) is joined in
   * place: the smaller of its two pieces moves over the page header between them, which is no
   * longer needed once checked (`undoJoin` restores it if the record turns out bad, so a failed
   * next() changes nothing). Others are copied out, checking every page header they cross.
   */
  private assembleRecord(start: Lsn, totalLength: number, rawEnd: Lsn): Uint8Array {
    if (rawEnd - start === totalLength) {
      this.bufferShared = true;
      this.assembledOffset = this.bufferStart;
      return this.buffer;
    }
    const firstPiece = XLOG_BLCKSZ - (start & PAGE_OFFSET_MASK);
    const pageLsn = start + firstPiece;
    const headerSize = this.pageHeaderSize(pageLsn);
    if (rawEnd - start === totalLength + headerSize) return this.joinInPlace(pageLsn, firstPiece, totalLength - firstPiece, headerSize);
    return this.copyRecord(start, totalLength);
  }

  /** Joins the two pieces of a record around the page header at `pageLsn` (see assembleRecord). */
  private joinInPlace(pageLsn: Lsn, firstPiece: number, secondPiece: number, headerSize: number): Uint8Array {
    const buffer = this.buffer;
    const first = this.bufferStart;
    const header = first + firstPiece;
    this.checkContinuationHeader(header, pageLsn, secondPiece);
    this.savedHeader.set(buffer.subarray(header, header + headerSize));
    if (firstPiece <= secondPiece) {
      buffer.copyWithin(first + headerSize, first, header);
      this.joined = JOIN_FIRST_MOVED;
      this.assembledOffset = first + headerSize;
    } else {
      buffer.copyWithin(header, header + headerSize, header + headerSize + secondPiece);
      this.joined = JOIN_SECOND_MOVED;
      this.assembledOffset = first;
    }
    this.joinedFirst = firstPiece;
    this.joinedSecond = secondPiece;
    this.joinedHeaderSize = headerSize;
    this.bufferShared = true;
    return buffer;
  }

  /** Puts the bytes of a record joined in place back as they were in the WAL. */
  private undoJoin(): void {
    if (this.joined === JOIN_NONE) return;
    const buffer = this.buffer;
    const first = this.bufferStart;
    const header = first + this.joinedFirst;
    const headerSize = this.joinedHeaderSize;
    if (this.joined === JOIN_FIRST_MOVED) buffer.copyWithin(first, first + headerSize, header + headerSize);
    else buffer.copyWithin(header + headerSize, header, header + this.joinedSecond);
    buffer.set(this.savedHeader.subarray(0, headerSize), header);
    this.joined = JOIN_NONE;
  }

  /** The checks of a page header a record continues on: valid, contrecord flag, rem_len. */
  private checkContinuationHeader(offset: number, pageLsn: Lsn, remainingExpected: number): void {
    const info = this.checkPageHeader(offset, pageLsn);
    const remaining = readUint32(this.buffer, offset + 16);
    if ((info & XLP_FIRST_IS_CONTRECORD) === 0) throw walCorrupt(`there is no contrecord flag at ${formatLsn(pageLsn)}`, pageLsn);
    if (remaining !== remainingExpected) {
      throw walCorrupt(`invalid contrecord length ${remaining} (expected ${remainingExpected}) at ${formatLsn(pageLsn)}`, pageLsn);
    }
  }

  /** Copies a record that crosses several pages out of the buffer, checking the page headers. */
  private copyRecord(start: Lsn, totalLength: number): Uint8Array {
    const record = this.allocateRecord(totalLength);
    const target = this.assembledOffset;
    const base = this.bufferStart - start; // buffer offset = base + lsn
    let copied = XLOG_BLCKSZ - (start & PAGE_OFFSET_MASK);
    record.set(this.buffer.subarray(this.bufferStart, this.bufferStart + copied), target);
    let pageLsn = start + copied;
    while (copied < totalLength) {
      this.checkContinuationHeader(base + pageLsn, pageLsn, totalLength - copied);
      const headerSize = this.pageHeaderSize(pageLsn);
      const piece = Math.min(XLOG_BLCKSZ - headerSize, totalLength - copied);
      const from = base + pageLsn + headerSize;
      record.set(this.buffer.subarray(from, from + piece), target + copied);
      copied += piece;
      pageLsn += XLOG_BLCKSZ;
    }
    return record;
  }

  /**
   * Room for a record that spans pages: the current slab (from `assembledOffset`) for records up
   * to SLAB_RECORD_BYTES_MAX, else an array of its own. Slabs are never reused: a full one is
   * dropped for a new one and lives on while records in it are kept.
   */
  private allocateRecord(totalLength: number): Uint8Array {
    if (totalLength > SLAB_RECORD_BYTES_MAX) {
      this.assembledOffset = 0;
      return this.allocate(totalLength);
    }
    const aligned = (totalLength + 7) & ~7; // keeps every record 8-byte aligned in its slab
    if (this.slabUsed + aligned > this.slab.length) {
      this.slab = this.allocate(SLAB_BYTES);
      this.slabUsed = 0;
    }
    this.assembledOffset = this.slabUsed;
    this.slabUsed += aligned;
    assert(this.slabUsed <= this.slab.length, 'slab slice within the slab');
    return this.slab;
  }

  /** The header checks of xlogreader.c ValidXLogRecordHeader (length, rmgr id, prev link). */
  private checkRecordHeader(record: Uint8Array, offset: number, start: Lsn): void {
    const rmgrId = record[offset + 17]!;
    if (rmgrId > RmgrId.LogicalMessage && rmgrId < 128) throw walCorrupt(`invalid resource manager ID ${rmgrId} at ${formatLsn(start)}`, start);
    const prev = readUint64(record, offset + 8);
    if (this.previousRecordLsn !== undefined && prev !== this.previousRecordLsn) {
      throw walCorrupt(`record with incorrect prev-link ${formatLsn(prev)} at ${formatLsn(start)}`, start);
    }
    if (this.previousRecordLsn === undefined && prev >= start) {
      throw walCorrupt(`record with incorrect prev-link ${formatLsn(prev)} at ${formatLsn(start)}`, start);
    }
  }

  /** Consumes the record's bytes; the next one starts at its EndRecPtr (padding is skipped). */
  private finishRecord(lsn: Lsn, rawEnd: Lsn, endRecPtr: Lsn): void {
    assert(endRecPtr >= rawEnd && (endRecPtr & ALIGN_MASK) === 0, 'EndRecPtr is the aligned end or past it');
    this.consume(rawEnd - this.readLsn);
    this.previousRecordLsn = lsn;
    this.skipUntilLsn = endRecPtr;
    this.decodedUpTo = endRecPtr;
    assert(this.decodedUpTo > lsn, 'position must advance');
  }
}
