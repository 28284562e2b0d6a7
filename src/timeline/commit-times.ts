/**
 * Commit timestamps → LSNs, for two questions:
 *   - GC's pitr_interval: "keep everything above the LSN of the last commit older than N days"
 *     (`lsnAtOrBefore`, conservative: an older answer keeps more, never less);
 *   - point-in-time computes and get_lsn_by_timestamp: "the state after every transaction
 *     committed at or before time T" (`lsnForTime`), PostgreSQL's recovery_target_time rule:
 *     everything before the first commit whose time is after T.
 *
 * WHY "record highs": commits reach the WAL in LSN order, but their timestamps are taken a little
 * earlier, so they are not quite sorted. The first commit after T in LSN order is always one whose
 * time exceeds every earlier commit's, so the index keeps exactly those (end LSN, time), plus the
 * end LSN of the commit just before each (`prevEnd`): the answer for T is the prevEnd of the first
 * sample after T. Every commit must be offered (`add`), not one per batch.
 *
 * Bounded: past `samplesMax`, every other sample of the older half is dropped, so memory never
 * grows; a sample whose predecessor was dropped is marked inexact, and a question that lands
 * there gets the conservative answer (the end of the previous kept sample: no commit after T is
 * included, some at or before T may be missing). Recent history stays exact.
 *
 * Persisted beside the timeline metadata (`commit-times`), only samples at or below
 * disk_consistent_lsn, with the same envelope discipline (magic, version, CRC-32C). Version 1
 * files (samples without prevEnd) are read as inexact samples.
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
const FORMAT_VERSION = 2;
const HEADER_BYTES = 16;
const SAMPLE_BYTES_V1 = 16;
const SAMPLE_BYTES = 24;
/** Microseconds between 1970-01-01 and 2000-01-01. */
const POSTGRES_EPOCH_US = 946_684_800_000_000;

export function postgresTimestampOf(unixMs: number): number {
  return unixMs * 1000 - POSTGRES_EPOCH_US;
}

/** Where a time falls in what the index knows (get_lsn_by_timestamp's kinds). */
export type TimeAnswer =
  | { kind: 'nodata' }
  | { kind: 'past' }
  | { kind: 'future' }
  | { kind: 'present'; lsn: Lsn; exact: boolean };

export class CommitTimeIndex {
  readonly #samplesMax: number;
  /** End LSN and time of each record-high commit; prevEnd: end of the commit before it (0: none). */
  #lsns: number[] = [];
  #times: number[] = [];
  #prevEnds: number[] = [];
  #exact: boolean[] = [];
  /** The newest commit offered (sampled or not). */
  #lastLsn = 0;
  #maxTime = -Infinity;
  /** Read back from a file: commits between its last sample and the resume point were not offered. */
  #resumed = false;

  constructor(options: { samplesMax?: number } = {}) {
    this.#samplesMax = options.samplesMax ?? 262_144;
    assert(this.#samplesMax >= 4, 'the index keeps a few samples');
  }

  get size(): number { return this.#lsns.length; }

  /** Offers a commit (end LSN, commit time); LSNs ascend. */
  add(lsn: Lsn, timestampUs: number): void {
    if (lsn <= this.#lastLsn) return;
    const prevEnd = this.#lastLsn;
    this.#lastLsn = lsn;
    if (timestampUs <= this.#maxTime) return;
    this.#maxTime = timestampUs;
    this.#lsns.push(lsn);
    this.#times.push(timestampUs);
    this.#prevEnds.push(prevEnd);
    this.#exact.push(!this.#resumed);
    this.#resumed = false;
    if (this.#lsns.length > this.#samplesMax) this.#thin();
  }

  #thin(): void {
    const half = this.#lsns.length >> 1;
    const lsns: number[] = [];
    const times: number[] = [];
    const prevEnds: number[] = [];
    const exact: boolean[] = [];
    let dropped = false;
    for (let index = 0; index < this.#lsns.length; index++) {
      if (index < half && index % 2 === 1) { dropped = true; continue; }
      lsns.push(this.#lsns[index]!);
      times.push(this.#times[index]!);
      prevEnds.push(this.#prevEnds[index]!);
      exact.push(this.#exact[index]! && !dropped);
      dropped = false;
    }
    this.#lsns = lsns;
    this.#times = times;
    this.#prevEnds = prevEnds;
    this.#exact = exact;
  }

  /** Index of the first sample whose time is after `timestampUs` (length when none). */
  #firstAfter(timestampUs: number): number {
    let low = 0;
    let high = this.#times.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#times[middle]! <= timestampUs) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** End LSN of the newest sampled commit at or before `timestampUs`; undefined when none is that old. */
  lsnAtOrBefore(timestampUs: number): Lsn | undefined {
    const index = this.#firstAfter(timestampUs);
    return index === 0 ? undefined : this.#lsns[index - 1];
  }

  /**
   * The LSN of the state after every commit at or before `timestampUs`: just before the first
   * commit after it. `past` when no known commit is that old, `future` when no known commit is
   * newer (the answer is then the timeline's latest state, which the caller knows).
   */
  lsnForTime(timestampUs: number): TimeAnswer {
    if (this.#lsns.length === 0) return { kind: 'nodata' };
    const index = this.#firstAfter(timestampUs);
    if (index === this.#lsns.length) return { kind: 'future' };
    if (index === 0) return { kind: 'past' };
    if (this.#exact[index]!) return { kind: 'present', lsn: this.#prevEnds[index]!, exact: true };
    return { kind: 'present', lsn: this.#lsns[index - 1]!, exact: false };
  }

  /** Samples at or below `lsnMax`, encoded for the file. */
  encode(lsnMax: Lsn): Buffer {
    let count = 0;
    while (count < this.#lsns.length && this.#lsns[count]! <= lsnMax) count++;
    const body = Buffer.alloc(count * SAMPLE_BYTES);
    for (let index = 0; index < count; index++) {
      body.writeDoubleLE(this.#lsns[index]!, index * SAMPLE_BYTES);
      body.writeDoubleLE(this.#times[index]!, index * SAMPLE_BYTES + 8);
      // prevEnd with the exact flag in its sign: LSNs are never negative.
      body.writeDoubleLE(this.#exact[index]! ? this.#prevEnds[index]! : -1 - this.#prevEnds[index]!, index * SAMPLE_BYTES + 16);
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
    const version = bytes.readUInt16LE(4);
    if (version !== 1 && version !== FORMAT_VERSION) throw corrupt(`unknown format version ${version}`);
    const sampleBytes = version === 1 ? SAMPLE_BYTES_V1 : SAMPLE_BYTES;
    const count = bytes.readUInt32LE(8);
    if (bytes.length !== HEADER_BYTES + count * sampleBytes) throw corrupt('length disagrees with the sample count');
    const body = bytes.subarray(HEADER_BYTES);
    if (crc32c(body) !== bytes.readUInt32LE(12)) throw corrupt('checksum mismatch');
    const index = new CommitTimeIndex();
    for (let at = 0; at < count; at++) {
      const lsn = body.readDoubleLE(at * sampleBytes);
      const time = body.readDoubleLE(at * sampleBytes + 8);
      const stored = version === 1 ? -1 - (at === 0 ? 0 : index.#lsns[at - 1]!) : body.readDoubleLE(at * sampleBytes + 16);
      index.#lsns.push(lsn);
      index.#times.push(time);
      index.#prevEnds.push(stored < 0 ? -1 - stored : stored);
      index.#exact.push(stored >= 0);
      index.#lastLsn = lsn;
      index.#maxTime = Math.max(index.#maxTime, time);
    }
    index.#resumed = count > 0;
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
