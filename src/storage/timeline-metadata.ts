/**
 * The timeline's small metadata file, `<timeline directory>/metadata`: the LSNs that say what the
 * local layer files contain and where the timeline comes from.
 *
 * Layout (integers little-endian):
 *
 *   0  magic 'STMD'   4  u16 format version (1)   6  u16 zero   8  u32 body length
 *  12  u32 CRC-32C of the body                   16  body: UTF-8 JSON of TimelineMetadata
 *
 * JSON is fine here: the file is tiny and written once per flush, never on a hot path; the
 * envelope gives it the same magic/version/checksum discipline as the layer files. It is written
 * crash-safely (crashsafe.ts) and every read is checked (PS_ERR_IO naming the file otherwise).
 * Failpoints `metadata-before-rename` and `metadata-before-directory-fsync` sit at the two crash
 * points of that write (failpoint-names.ts).
 * LSNs are stored as numbers (exact up to 2^53, see lsn.ts).
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import { crc32c } from './checksum.js';
import { readSmallFile, writeFileCrashSafe } from './crashsafe.js';
import type { Fs } from './fs.js';

export const METADATA_FILE_NAME = 'metadata';
const MAGIC = Buffer.from('STMD', 'latin1');
const FORMAT_VERSION = 1;
const ENVELOPE_BYTES = 16;

export interface TimelineMetadata {
  diskConsistentLsn: Lsn;
  prevRecordLsn: Lsn;
  ancestorTimelineId: string | null;
  ancestorLsn: Lsn;
  latestGcCutoffLsn: Lsn;
  /** LSN of the base import: the timeline's consistent start. */
  initdbLsn: Lsn;
  pgVersion: number;
  /** Where the WAL comes from: a connection string WITHOUT password (the caller redacts). */
  walSource: string | null;
}

const LSN_FIELDS = ['diskConsistentLsn', 'prevRecordLsn', 'ancestorLsn', 'latestGcCutoffLsn', 'initdbLsn'] as const;

export function encodeTimelineMetadata(metadata: TimelineMetadata): Buffer {
  for (const field of LSN_FIELDS) assert(Number.isSafeInteger(metadata[field]) && metadata[field] >= 0, `${field} must be a valid LSN`);
  const body = Buffer.from(JSON.stringify({
    diskConsistentLsn: metadata.diskConsistentLsn, prevRecordLsn: metadata.prevRecordLsn,
    ancestorTimelineId: metadata.ancestorTimelineId, ancestorLsn: metadata.ancestorLsn,
    latestGcCutoffLsn: metadata.latestGcCutoffLsn, initdbLsn: metadata.initdbLsn,
    pgVersion: metadata.pgVersion, walSource: metadata.walSource,
  }), 'utf8');
  const bytes = Buffer.alloc(ENVELOPE_BYTES + body.length);
  MAGIC.copy(bytes, 0);
  bytes.writeUInt16LE(FORMAT_VERSION, 4);
  bytes.writeUInt32LE(body.length, 8);
  bytes.writeUInt32LE(crc32c(body), 12);
  body.copy(bytes, ENVELOPE_BYTES);
  return bytes;
}

function corruptMetadata(source: string, reason: string): StrataError {
  return new StrataError('PS_ERR_IO', `timeline metadata ${source} is corrupt: ${reason}`, { path: source });
}

/** Decodes and checks a metadata file's bytes; `source` names the file in errors. */
export function decodeTimelineMetadata(bytes: Buffer, source: string): TimelineMetadata {
  if (bytes.length < ENVELOPE_BYTES) throw corruptMetadata(source, `only ${bytes.length} bytes`);
  if (!bytes.subarray(0, 4).equals(MAGIC)) throw corruptMetadata(source, 'bad magic');
  const version = bytes.readUInt16LE(4);
  if (version !== FORMAT_VERSION) throw corruptMetadata(source, `unsupported format version ${version}`);
  const length = bytes.readUInt32LE(8);
  if (bytes.length !== ENVELOPE_BYTES + length) throw corruptMetadata(source, 'length disagrees with the file size');
  const body = bytes.subarray(ENVELOPE_BYTES);
  if (crc32c(body) !== bytes.readUInt32LE(12)) throw corruptMetadata(source, 'checksum mismatch');
  return checkFields(JSON.parse(body.toString('utf8')) as Record<string, unknown>, source);
}

function checkFields(parsed: Record<string, unknown>, source: string): TimelineMetadata {
  for (const field of LSN_FIELDS) {
    const value = parsed[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw corruptMetadata(source, `${field} is not an LSN`);
  }
  const optionalString = (value: unknown) => value === null || typeof value === 'string';
  if (!optionalString(parsed.ancestorTimelineId) || !optionalString(parsed.walSource) || typeof parsed.pgVersion !== 'number') {
    throw corruptMetadata(source, 'a field has the wrong type');
  }
  return parsed as unknown as TimelineMetadata;
}

export async function writeTimelineMetadata(fs: Fs, directory: string, metadata: TimelineMetadata): Promise<void> {
  const bytes = encodeTimelineMetadata(metadata);
  assert(decodeTimelineMetadata(bytes, METADATA_FILE_NAME).diskConsistentLsn === metadata.diskConsistentLsn, 'metadata round-trips');
  await writeFileCrashSafe(fs, join(directory, METADATA_FILE_NAME), bytes, {
    beforeRename: 'metadata-before-rename', beforeDirectoryFsync: 'metadata-before-directory-fsync',
  });
}

/**
 * The updates of one timeline's metadata file, written one at a time, in the order asked.
 *
 * WHY: a flush (disk_consistent_lsn) and GC (latest_gc_cutoff_lsn) update the same file from
 * different tasks, and each crash-safe write replaces the whole file. Two overlapping writes can
 * finish in either order, so an older snapshot could land last: a GC cutoff persisted before GC
 * deleted layers, then overwritten by a flush's snapshot taken earlier, goes back below what GC
 * removed, and after a restart reads in between would be admitted without their layers (found by
 * the crash simulation). Here an update is merged into the newest metadata at once (`current`
 * and every later write include it) and written after the previous write settled: the file
 * always ends holding every update, and never goes back to an older one.
 */
export class TimelineMetadataWriter {
  readonly #fs: Fs;
  readonly #directory: string;
  #current: TimelineMetadata;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(fs: Fs, directory: string, initial: TimelineMetadata) {
    this.#fs = fs;
    this.#directory = directory;
    this.#current = initial;
  }

  /** The metadata with every update asked so far (what the last write in the queue carries). */
  get current(): TimelineMetadata { return this.#current; }

  /** Merges `update` and writes the result after earlier writes; resolves with what it wrote. */
  update(update: Partial<TimelineMetadata>): Promise<TimelineMetadata> {
    const merged: TimelineMetadata = { ...this.#current, ...update };
    this.#current = merged;
    const write = this.#tail.catch(() => undefined).then(async () => {
      await writeTimelineMetadata(this.#fs, this.#directory, merged);
      return merged;
    });
    this.#tail = write;
    return write;
  }
}

/** The timeline's metadata, or undefined when the directory has no metadata file yet. */
export async function readTimelineMetadata(fs: Fs, directory: string): Promise<TimelineMetadata | undefined> {
  const names = await fs.readdir(directory);
  if (!names.includes(METADATA_FILE_NAME)) return undefined;
  const path = join(directory, METADATA_FILE_NAME);
  return decodeTimelineMetadata(await readSmallFile(fs, path), path);
}
