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
 * Files are read in bounded chunks (READ_CHUNK_BYTES) and records are drained after every chunk,
 * so memory stays at one chunk plus the largest record, whatever the number of files.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { assert } from '../assert.js';
import { isStrataError, StrataError } from '../errors.js';
import { formatLsn, WAL_SEGMENT_SIZE } from '../lsn.js';
import type { Lsn } from '../lsn.js';
import type { DecodedRecord } from './types.js';
import { WalStreamDecoder } from './wal-decoder.js';

const READ_CHUNK_BYTES = 1024 * 1024;
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

/**
 * Decodes the files and yields records in batches (one batch per chunk read), which is much cheaper
 * than one promise per record for callers that process many records.
 */
export async function* readWalFileBatches(paths: readonly string[], options: WalFileOptions = {}): AsyncGenerator<DecodedRecord[]> {
  const segmentSize = options.segmentSize ?? WAL_SEGMENT_SIZE;
  const files = orderWalFiles(paths, segmentSize);
  if (files.length === 0) return;
  const first = files[0]!;
  const last = files[files.length - 1]!;
  const startLsn = options.startLsn ?? first.startLsn;
  const endLsn = options.endLsn ?? Number.MAX_SAFE_INTEGER;
  if (startLsn < first.startLsn || startLsn >= last.startLsn + segmentSize) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `start LSN ${formatLsn(startLsn)} is not inside the WAL files`);
  }
  const decoder = new WalStreamDecoder(startLsn, { segmentSize });
  const chunk = new Uint8Array(READ_CHUNK_BYTES);
  for (const file of files) {
    if (file.startLsn + segmentSize <= startLsn) continue;
    const handle = await open(file.path, 'r');
    try {
      let position = Math.max(0, startLsn - file.startLsn);
      // Bounded by the file size / chunk size.
      for (;;) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
        if (bytesRead === 0) break;
        assert(decoder.fedUpTo === file.startLsn + position, 'WAL bytes must be fed contiguously');
        decoder.feed(chunk.subarray(0, bytesRead));
        position += bytesRead;
        const batch: DecodedRecord[] = [];
        const more = drain(decoder, batch, endLsn);
        if (batch.length > 0) yield batch;
        if (!more) return;
      }
      if (position < segmentSize) return; // A short (partial) file: WAL ends inside it.
    } finally {
      await handle.close();
    }
  }
}

/** Decodes WAL segment files in LSN order, one record at a time. */
export async function* readWalFiles(files: string[], options: WalFileOptions = {}): AsyncGenerator<DecodedRecord> {
  for await (const batch of readWalFileBatches(files, options)) {
    for (const record of batch) yield record;
  }
}
