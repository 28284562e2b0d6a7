/**
 * Commit timestamps → LSNs, for GC's pitr_interval: "keep every version a read at any LSN of the
 * last N days needs" becomes "keep everything above the LSN of the last commit older than N days".
 *
 * WHY sampled: PostgreSQL's commit records carry their commit time; the timeline samples (end LSN,
 * time) of the newest commit at most once per `spacingUs` of commit time, which is plenty for a
 * GC cutoff (an older cutoff keeps more, never less). Bounded: past `samplesMax`, every other
 * sample of the older half is dropped, so resolution thins out with age and memory never grows.
 *
 * Persisted beside the timeline metadata (`commit-times`), only samples at or below
 * disk_consistent_lsn, with the same envelope discipline (magic, version, CRC-32C).
 *
 * Times are PostgreSQL TimestampTz: microseconds since 2000-01-01 00:00:00 UTC.
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import { crc32c } from '../storage/checksum.js';
import { readSmallFile, writeFileCrashSafe } from '../storage/crashsafe.js';
import type { Fs } from '../storage/fs.js';

export const COMMIT_TIMES_FILE = 'commit-times';
const MAGIC = 0x53544354; // 'STCT'
const FORMAT_VERSION = 1;
const HEADER_BYTES = 16;
/** Microseconds between 1970-01-01 and 2000-01-01. */
const POSTGRES_EPOCH_US = 946_684_800_000_000;

export function postgresTimestampOf(unixMs: number): number {
  return unixMs * 1000 - POSTGRES_EPOCH_US;
}

export class CommitTimeIndex {
  readonly #spacingUs: number;
  readonly #samplesMax: number;
  #lsns: number[] = [];
  #times: number[] = [];

  constructor(options: { spacingUs?: number; samplesMax?: number } = {}) {
    this.#spacingUs = options.spacingUs ?? 1_000_000;
    this.#samplesMax = options.samplesMax ?? 65_536;
    assert(this.#samplesMax >= 4, 'the index keeps a few samples');
  }

  get size(): number { return this.#lsns.length; }

  /** Records the newest commit (LSNs ascend); kept when `spacingUs` after the last sample. */
  add(lsn: Lsn, timestampUs: number): void {
    const last = this.#lsns.length - 1;
    if (last >= 0) {
      if (lsn <= this.#lsns[last]!) return;
      if (timestampUs < this.#times[last]! + this.#spacingUs) return;
    }
    this.#lsns.push(lsn);
    this.#times.push(timestampUs);
    if (this.#lsns.length > this.#samplesMax) this.#thin();
  }

  #thin(): void {
    const half = this.#lsns.length >> 1;
    const lsns: number[] = [];
    const times: number[] = [];
    for (let index = 0; index < this.#lsns.length; index++) {
      if (index < half && index % 2 === 1) continue;
      lsns.push(this.#lsns[index]!);
      times.push(this.#times[index]!);
    }
    this.#lsns = lsns;
    this.#times = times;
  }

  /** End LSN of the newest sampled commit at or before `timestampUs`; undefined when none is that old. */
  lsnAtOrBefore(timestampUs: number): Lsn | undefined {
    let low = 0;
    let high = this.#times.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#times[middle]! <= timestampUs) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : this.#lsns[low - 1];
  }

  /** Samples at or below `lsnMax`, encoded for the file. */
  encode(lsnMax: Lsn): Buffer {
    let count = 0;
    while (count < this.#lsns.length && this.#lsns[count]! <= lsnMax) count++;
    const body = Buffer.alloc(count * 16);
    for (let index = 0; index < count; index++) {
      body.writeDoubleLE(this.#lsns[index]!, index * 16);
      body.writeDoubleLE(this.#times[index]!, index * 16 + 8);
    }
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt16LE(FORMAT_VERSION, 4);
    header.writeUInt32LE(count, 8);
    header.writeUInt32LE(crc32c(body), 12);
    return Buffer.concat([header, body]);
  }

  static decode(bytes: Buffer, source: string): CommitTimeIndex {
    const corrupt = (reason: string) => new StrataError('PS_ERR_IO', `${source} is corrupt: ${reason}`, { path: source });
    if (bytes.length < HEADER_BYTES || bytes.readUInt32LE(0) !== MAGIC) throw corrupt('bad magic');
    if (bytes.readUInt16LE(4) !== FORMAT_VERSION) throw corrupt(`unknown format version ${bytes.readUInt16LE(4)}`);
    const count = bytes.readUInt32LE(8);
    if (bytes.length !== HEADER_BYTES + count * 16) throw corrupt('length disagrees with the sample count');
    const body = bytes.subarray(HEADER_BYTES);
    if (crc32c(body) !== bytes.readUInt32LE(12)) throw corrupt('checksum mismatch');
    const index = new CommitTimeIndex();
    for (let at = 0; at < count; at++) {
      index.#lsns.push(body.readDoubleLE(at * 16));
      index.#times.push(body.readDoubleLE(at * 16 + 8));
    }
    return index;
  }
}

export async function readCommitTimes(fs: Fs, directory: string): Promise<CommitTimeIndex> {
  if (!(await fs.readdir(directory)).includes(COMMIT_TIMES_FILE)) return new CommitTimeIndex();
  const path = join(directory, COMMIT_TIMES_FILE);
  return CommitTimeIndex.decode(await readSmallFile(fs, path), path);
}

export async function writeCommitTimes(fs: Fs, directory: string, index: CommitTimeIndex, lsnMax: Lsn): Promise<void> {
  await writeFileCrashSafe(fs, join(directory, COMMIT_TIMES_FILE), index.encode(lsnMax));
}
