/**
 * Offline reading of WAL segment files (pg_wal/000000010000000000000003, optionally `.partial`)
 * through the WalStreamDecoder: the input of `strata waldump`, of tests and of benchmarks.
 *
 * WHY a separate reader: the decoder is pure and never touches files; this module adds the file
 * conventions PostgreSQL tools follow. Files are sorted by name, the start LSN comes from the first
 * file's name (TLI 8 hex | log 8 hex | segment 8 hex), consecutive files must be consecutive
 * segments of one timeline (a gap is an error), and the end of valid WAL in the last file (a zero
 * record header, a zeroed page, a page left over from a recycled segment, a record cut by the end
 * of the files) ends the stream cleanly, as pg_waldump stops there.
 *
 * Files are read in bounded chunks (READ_CHUNK_BYTES), one read ahead of the decoder, each into a
 * fresh array the decoder then adopts as its buffer (no copy), and records are drained after every
 * chunk, so the reader holds two chunks plus the largest record, whatever the number of files;
 * records the caller keeps pin the chunks they are views of (see wal-decoder.ts).
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { assert } from '../assert.js';
import { isStrataError, StrataError } from '../errors.js';
import { formatLsn, WAL_SEGMENT_SIZE } from '../lsn.js';
import type { Lsn } from '../lsn.js';
import type { DecodedRecord } from './types.js';
import { PackedRecordsBuilder, type PackedRecords } from './packed-records.js';
import { WalStreamDecoder } from './wal-decoder.js';

const READ_CHUNK_BYTES = 1024 * 1024;
/** Room in front of each chunk for the start of a record cut by the previous chunk's end. */
const HEADROOM_BYTES = 64 * 1024;
const SEGMENT_NAME = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$/;
const TWO_TO_32 = 0x1_0000_0000;

export interface WalFileOptions {
  /** Decode from this LSN (a page boundary or a record start) instead of the first file's start. */
  startLsn?: Lsn;
  /** Stop before the first record that ends after this LSN (pg_waldump's -e). */
  endLsn?: Lsn;
  /** WAL segment size; default 16 MiB. */
  segmentSize?: number;
}

export interface WalSegmentFile {
  readonly path: string;
  readonly timelineId: number;
  readonly segmentNumber: number;
  /** LSN of the segment's first byte. */
  readonly startLsn: Lsn;
}

/** Parses a segment file name; throws PS_ERR_BAD_REQUEST for anything else. */
export function parseWalFileName(path: string, segmentSize = WAL_SEGMENT_SIZE): WalSegmentFile {
  const match = SEGMENT_NAME.exec(basename(path));
  if (!match) throw new StrataError('PS_ERR_BAD_REQUEST', `'${path}' is not a WAL segment file name`, { path });
  const segmentsPerId = TWO_TO_32 / segmentSize;
  const segmentNumber = parseInt(match[2]!, 16) * segmentsPerId + parseInt(match[3]!, 16);
  return { path, timelineId: parseInt(match[1]!, 16), segmentNumber, startLsn: segmentNumber * segmentSize };
}

/** Sorts and checks a list of segment files: one timeline, consecutive segments. */
export function orderWalFiles(paths: readonly string[], segmentSize = WAL_SEGMENT_SIZE): WalSegmentFile[] {
  const files = paths.map((path) => parseWalFileName(path, segmentSize));
  files.sort((left, right) => left.segmentNumber - right.segmentNumber);
  for (let index = 1; index < files.length; index++) {
    const previous = files[index - 1]!;
    const current = files[index]!;
    if (current.timelineId !== previous.timelineId) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `WAL files of timelines ${previous.timelineId} and ${current.timelineId} mixed`);
    }
    if (current.segmentNumber !== previous.segmentNumber + 1) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `WAL files missing between ${basename(previous.path)} and ${basename(current.path)}`);
    }
  }
  return files;
}

function isEndOfWal(error: unknown): boolean {
  return isStrataError(error, 'PS_ERR_WAL_CORRUPT') && error.context.endOfWal === true;
}

/**
 * Drains the decoder into `batch`; returns false when the end of valid WAL or endLsn was reached.
 */
function drain(decoder: WalStreamDecoder, batch: DecodedRecord[], endLsn: Lsn): boolean {
  for (;;) {
    let record: DecodedRecord | undefined;
    try {
      record = decoder.next();
    } catch (error) {
      if (isEndOfWal(error)) return false;
      throw error;
    }
    if (record === undefined) return true;
    if (record.endLsn > endLsn) return false;
    batch.push(record);
  }
}

/** One read of a segment file: WAL bytes at `bytes[dataStart, dataStart + bytesRead)`. */
interface WalChunk {
  readonly lsn: Lsn;
  readonly bytes: Uint8Array;
  readonly dataStart: number;
  readonly requested: number;
  readonly bytesRead: number;
}

interface ReadPlan {
  readonly file: WalSegmentFile;
  readonly position: number;
  readonly length: number;
}

/** The reads that cover the files from `startLsn` on, in order. */
function* readPlans(files: readonly WalSegmentFile[], startLsn: Lsn, segmentSize: number): Generator<ReadPlan> {
  for (const file of files) {
    if (file.startLsn + segmentSize <= startLsn) continue;
    // Bounded by the segment size / chunk size.
    for (let position = Math.max(0, startLsn - file.startLsn); position < segmentSize; position += READ_CHUNK_BYTES) {
      yield { file, position, length: Math.min(READ_CHUNK_BYTES, segmentSize - position) };
    }
  }
}

/** Reads one chunk into a fresh array with headroom in front (for the decoder, see adoptFeed). */
async function readChunk(handle: FileHandle, plan: ReadPlan, sharedMemory: boolean): Promise<WalChunk> {
  const lsn = plan.file.startLsn + plan.position;
  // `&`, not `%`: an int32 keeps every buffer offset derived from it a small integer (not a double).
  const dataStart = HEADROOM_BYTES + (lsn & 7);
  // Not zero-filled (filling measured ~3% of decoding): the read overwrites the data range, and the
  // decoder only ever reads bytes it was given or wrote itself (the headroom), never the rest.
  let bytes: Uint8Array;
  if (sharedMemory) {
    bytes = new Uint8Array(new SharedArrayBuffer(dataStart + plan.length));
  } else {
    const unfilled = Buffer.allocUnsafeSlow(dataStart + plan.length);
    bytes = new Uint8Array(unfilled.buffer, unfilled.byteOffset, unfilled.length);
  }
  const { bytesRead } = await handle.read(bytes, dataStart, plan.length, plan.position);
  return { lsn, bytes, dataStart, requested: plan.length, bytesRead };
}

/**
 * The chunks of the files, with the next read already under way while the caller works on the
 * current chunk (one read ahead: the file system copies while the decoder decodes). Each file is
 * open from its first read to the start of the next file's first read; everything is closed when
 * the caller stops, after the read in flight is done.
 */
async function* readChunks(files: readonly WalSegmentFile[], startLsn: Lsn, segmentSize: number, sharedMemory = false): AsyncGenerator<WalChunk> {
  const plans = readPlans(files, startLsn, segmentSize);
  let handle: FileHandle | undefined;
  let handleFile: WalSegmentFile | undefined;
  let pending: Promise<WalChunk> | undefined;
  /** Opens the plan's file when it is a new one; the returned read is already under way. */
  const startRead = async (plan: ReadPlan): Promise<{ read: Promise<WalChunk> }> => {
    if (handleFile !== plan.file) {
      const previous = handle;
      handle = undefined;
      await previous?.close();
      handle = await open(plan.file.path, 'r');
      handleFile = plan.file;
    }
    const read = readChunk(handle!, plan, sharedMemory);
    read.catch(() => undefined); // Rejections surface where the chunk is awaited, never unhandled.
    return { read };
  };
  try {
    let plan = plans.next();
    if (!plan.done) pending = (await startRead(plan.value)).read;
    while (pending !== undefined) {
      const chunk = await pending;
      pending = undefined;
      plan = plans.next();
      if (!plan.done) pending = (await startRead(plan.value)).read;
      yield chunk;
    }
  } finally {
    await pending?.catch(() => undefined);
    await handle?.close();
  }
}

/**
 * The part both readers share: checks the range, then feeds each chunk of the files to one decoder
 * and yields after every chunk, so the caller drains it. `last` marks a short read (the end of a
 * partial file), after which the caller stops.
 */
async function* fedDecoder(
  paths: readonly string[], options: WalFileOptions, sharedMemory: boolean,
): AsyncGenerator<{ decoder: WalStreamDecoder; endLsn: Lsn; last: boolean }> {
  const segmentSize = options.segmentSize ?? WAL_SEGMENT_SIZE;
  const files = orderWalFiles(paths, segmentSize);
  if (files.length === 0) return;
  const first = files[0]!;
  const final = files[files.length - 1]!;
  const startLsn = options.startLsn ?? first.startLsn;
  const endLsn = options.endLsn ?? Number.MAX_SAFE_INTEGER;
  if (startLsn < first.startLsn || startLsn >= final.startLsn + segmentSize) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `start LSN ${formatLsn(startLsn)} is not inside the WAL files`);
  }
  const decoder = new WalStreamDecoder(startLsn, { segmentSize, sharedMemory });
  for await (const chunk of readChunks(files, startLsn, segmentSize, sharedMemory)) {
    if (chunk.bytesRead === 0) return; // A short (partial) file: WAL ends at its end.
    assert(decoder.fedUpTo === chunk.lsn, 'WAL bytes must be fed contiguously');
    // The chunk becomes the decoder's buffer: records come out as views of it, never copied.
    decoder.adoptFeed(chunk.bytes, chunk.dataStart, chunk.dataStart + chunk.bytesRead);
    yield { decoder, endLsn, last: chunk.bytesRead < chunk.requested };
  }
}

/**
 * Decodes the files and yields records in batches (one batch per chunk read), which is much cheaper
 * than one promise per record for callers that process many records.
 */
export async function* readWalFileBatches(paths: readonly string[], options: WalFileOptions = {}): AsyncGenerator<DecodedRecord[]> {
  for await (const { decoder, endLsn, last } of fedDecoder(paths, options, false)) {
    const batch: DecodedRecord[] = [];
    const more = drain(decoder, batch, endLsn);
    if (batch.length > 0) yield batch;
    if (!more || last) return;
  }
}

/**
 * Drains the decoder into `builder` (packed-records.ts); returns false when the end of valid WAL or
 * endLsn was reached.
 */
function drainPacked(decoder: WalStreamDecoder, builder: PackedRecordsBuilder, endLsn: Lsn): boolean {
  for (;;) {
    let added: boolean;
    try {
      added = decoder.nextInto(builder);
    } catch (error) {
      if (isEndOfWal(error)) return false;
      throw error;
    }
    if (!added) return true;
    if (builder.lastEndLsn! > endLsn) {
      builder.truncate(builder.count - 1);
      return false;
    }
  }
}

/**
 * readWalFileBatches, but each batch is a PackedRecords (columns instead of record objects; read
 * them through xlog-record.ts PackedRecordView). With `sharedMemory`, the WAL is read into
 * SharedArrayBuffers, so batches can be posted to another thread without copying their bytes.
 */
export async function* readWalFilePackedBatches(
  paths: readonly string[],
  options: WalFileOptions & { sharedMemory?: boolean } = {},
): AsyncGenerator<PackedRecords> {
  const builder = new PackedRecordsBuilder();
  for await (const { decoder, endLsn, last } of fedDecoder(paths, options, options.sharedMemory ?? false)) {
    const more = drainPacked(decoder, builder, endLsn);
    if (builder.count > 0) yield builder.finish();
    if (!more || last) return;
  }
}

/** Decodes WAL segment files in LSN order, one record at a time. */
export async function* readWalFiles(files: string[], options: WalFileOptions = {}): AsyncGenerator<DecodedRecord> {
  for await (const batch of readWalFileBatches(files, options)) {
    for (const record of batch) yield record;
  }
}
