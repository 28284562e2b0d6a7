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
 * sample after T. Every commit must be offered (`add`), in LSN order.
 *
 * Exact for the whole history, memory bounded: samples live in memory until they are durable
 * (at or below disk_consistent_lsn at a flush, `persist`), then full blocks of BLOCK_SAMPLES are
 * sealed into files of their own (`commit-times-<seq>`, 24 bytes a sample + CRC-32C), and memory
 * keeps one summary per block (times and LSNs of its ends). A question reads at most one block.
 * GC prunes blocks wholly below its cutoff (`pruneBelow`): 24 bytes a commit stay on disk within
 * the retained history, and 48 bytes of memory per 16,384 commits.
 *
 *   commit-times           snapshot, rewritten at each flush: block summaries + unsealed samples
 *   commit-times-00000000  sealed block 0, …                  (written before the snapshot names it)
 *
 * A sample whose predecessor commits were not offered (the first one after the index was read
 * back: WAL between the last durable sample and the resume point is not ingested again) is marked
 * inexact; a question landing on it gets the conservative answer (no commit after T included, some
 * at or before T may be missing) and says so. Version 1 and 2 snapshots (before sealing; version 1
 * without prevEnd) are read as unsealed samples.
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
const BLOCK_FILE_PREFIX = 'commit-times-';
const MAGIC = 0x53544354; // 'STCT'
const BLOCK_MAGIC = 0x53544342; // 'STCB'
const FORMAT_VERSION = 3;
const HEADER_BYTES = 16;
const SAMPLE_BYTES_V1 = 16;
const SAMPLE_BYTES = 24;
const SUMMARY_BYTES = 48;
/** Samples per sealed block file (384 KiB). */
export const BLOCK_SAMPLES = 16_384;
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

interface BlockSummary {
  seq: number;
  count: number;
  firstLsn: Lsn;
  lastLsn: Lsn;
  firstTime: number;
  lastTime: number;
}

/** Binary search over ascending times: the first index whose time is after `time` (`length` when none). */
function firstAfter(length: number, timeAt: (index: number) => number, time: number): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (timeAt(middle) <= time) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Samples as parallel arrays; prevEnd carries the exact flag in its sign (-1 - prevEnd: inexact). */
class Samples {
  lsns: number[] = [];
  times: number[] = [];
  prevEnds: number[] = [];

  get length(): number { return this.lsns.length; }

  push(lsn: Lsn, time: number, prevEnd: number, exact: boolean): void {
    this.lsns.push(lsn);
    this.times.push(time);
    this.prevEnds.push(exact ? prevEnd : -1 - prevEnd);
  }

  /** Index of the first sample whose time is after `time` (length when none). */
  firstAfter(time: number): number {
    return firstAfter(this.times.length, (index) => this.times[index]!, time);
  }

  /** The answer when sample `index` is the first after the time and `before` the LSN of the sample ahead of it. */
  answer(index: number, before: Lsn): TimeAnswer {
    const stored = this.prevEnds[index]!;
    return stored >= 0 ? { kind: 'present', lsn: stored, exact: true } : { kind: 'present', lsn: before, exact: false };
  }

  encode(from: number, to: number): Buffer {
    const body = Buffer.alloc((to - from) * SAMPLE_BYTES);
    for (let index = from; index < to; index++) {
      const at = (index - from) * SAMPLE_BYTES;
      body.writeDoubleLE(this.lsns[index]!, at);
      body.writeDoubleLE(this.times[index]!, at + 8);
      body.writeDoubleLE(this.prevEnds[index]!, at + 16);
    }
    return body;
  }

  static decode(body: Buffer, count: number, sampleBytes: number): Samples {
    const samples = new Samples();
    for (let index = 0; index < count; index++) {
      const at = index * sampleBytes;
      samples.lsns.push(body.readDoubleLE(at));
      samples.times.push(body.readDoubleLE(at + 8));
      // Version 1 had no prevEnd: the previous sample's LSN, inexact.
      samples.prevEnds.push(sampleBytes === SAMPLE_BYTES ? body.readDoubleLE(at + 16) : -1 - (index === 0 ? 0 : samples.lsns[index - 1]!));
    }
    return samples;
  }

  drop(count: number): void {
    this.lsns.splice(0, count);
    this.times.splice(0, count);
    this.prevEnds.splice(0, count);
  }
}

export class CommitTimeIndex {
  readonly #fs: Fs | undefined;
  readonly #directory: string | undefined;
  #samples = new Samples();
  #blocks: BlockSummary[] = [];
  #nextSeq = 0;
  /** The newest commit offered (sampled or not). */
  #lastLsn = 0;
  #maxTime = -Infinity;
  /** Read back from a file: commits between its last sample and the resume point were not offered. */
  #resumed = false;
  /** Snapshot writes (flush, GC prune) one at a time, in order. */
  #writing: Promise<void> = Promise.resolve();
  /** The highest LSN a snapshot has made durable (a prune's snapshot keeps the same samples). */
  #durableLsn = 0;
  /** The last block read (questions tend to repeat). */
  #cached: { seq: number; samples: Samples } | undefined;

  /** Without `fs`, the index stays in memory (tests). */
  constructor(options: { fs?: Fs; directory?: string } = {}) {
    assert((options.fs === undefined) === (options.directory === undefined), 'a file system comes with its directory');
    this.#fs = options.fs;
    this.#directory = options.directory;
  }

  /** Samples held in memory (not sealed yet). */
  get size(): number { return this.#samples.length; }
  get sealedBlocks(): number { return this.#blocks.length; }

  /** Offers a commit (end LSN, commit time); LSNs ascend. */
  add(lsn: Lsn, timestampUs: number): void {
    if (lsn <= this.#lastLsn) return;
    const prevEnd = this.#lastLsn;
    this.#lastLsn = lsn;
    if (timestampUs <= this.#maxTime) return;
    this.#maxTime = timestampUs;
    this.#samples.push(lsn, timestampUs, prevEnd, !this.#resumed);
    this.#resumed = false;
  }

  /** End LSN of the newest sampled commit at or before `timestampUs`; undefined when none is that old. */
  lsnAtOrBefore(timestampUs: number): Lsn | undefined {
    const index = this.#samples.firstAfter(timestampUs);
    if (index > 0) return this.#samples.lsns[index - 1];
    // In the sealed blocks: the end of the last block wholly at or before the time (older: conservative).
    const block = this.#firstBlockAfter(timestampUs);
    return block === 0 ? undefined : this.#blocks[block - 1]!.lastLsn;
  }

  /**
   * The LSN of the state after every commit at or before `timestampUs`: just before the first
   * commit after it. `past` when no known commit is that old, `future` when no known commit is
   * newer (the answer is then the timeline's latest state, which the caller knows).
   */
  async lsnForTime(timestampUs: number): Promise<TimeAnswer> {
    if (this.#blocks.length === 0 && this.#samples.length === 0) return { kind: 'nodata' };
    const low = this.#firstBlockAfter(timestampUs);
    if (low < this.#blocks.length) {
      const block = this.#blocks[low]!;
      const samples = await this.#readBlock(block);
      const index = samples.firstAfter(timestampUs);
      assert(index < samples.length, 'a block whose last time is after the time has a sample after it');
      if (index === 0 && low === 0) return { kind: 'past' };
      const before = index > 0 ? samples.lsns[index - 1]! : this.#blocks[low - 1]!.lastLsn;
      return samples.answer(index, before);
    }
    const index = this.#samples.firstAfter(timestampUs);
    if (index === this.#samples.length) return { kind: 'future' };
    if (index === 0 && this.#blocks.length === 0) return { kind: 'past' };
    const before = index > 0 ? this.#samples.lsns[index - 1]! : this.#blocks.at(-1)!.lastLsn;
    return this.#samples.answer(index, before);
  }

  /** Index of the first sealed block whose last time is after `timestampUs` (blocks' times ascend). */
  #firstBlockAfter(timestampUs: number): number {
    return firstAfter(this.#blocks.length, (index) => this.#blocks[index]!.lastTime, timestampUs);
  }

  async #readBlock(block: BlockSummary): Promise<Samples> {
    if (this.#cached?.seq === block.seq) return this.#cached.samples;
    assert(this.#fs !== undefined && this.#directory !== undefined, 'sealed blocks exist only with a file system');
    const path = join(this.#directory, blockFileName(block.seq));
    const bytes = await readSmallFile(this.#fs, path);
    const corrupt = (reason: string) => new StrataError('PS_ERR_IO', `${path} is corrupt: ${reason}`, { path });
    if (bytes.length !== HEADER_BYTES + block.count * SAMPLE_BYTES || bytes.readUInt32LE(0) !== BLOCK_MAGIC) throw corrupt('bad magic or length');
    if (bytes.readUInt32LE(8) !== block.count || crc32c(bytes.subarray(HEADER_BYTES)) !== bytes.readUInt32LE(12)) throw corrupt('count or checksum mismatch');
    const samples = Samples.decode(bytes.subarray(HEADER_BYTES), block.count, SAMPLE_BYTES);
    if (samples.lsns[0] !== block.firstLsn || samples.lsns.at(-1) !== block.lastLsn) throw corrupt('samples disagree with the snapshot');
    this.#cached = { seq: block.seq, samples };
    return samples;
  }

  /**
   * Makes the samples at or below `lsnMax` durable: full blocks sealed into files first, then the
   * snapshot (summaries + the rest) replaces the old one. A crash between leaves block files the
   * snapshot does not name; they are removed when the index is read back.
   */
  persist(lsnMax: Lsn): Promise<void> {
    return this.#serialized(() => this.#persist(lsnMax));
  }

  async #persist(lsnMax: Lsn): Promise<void> {
    assert(this.#fs !== undefined && this.#directory !== undefined, 'persist needs a file system');
    let durable = 0;
    while (durable < this.#samples.length && this.#samples.lsns[durable]! <= lsnMax) durable++;
    let sealed = 0;
    while (durable - sealed >= BLOCK_SAMPLES) {
      const seq = this.#nextSeq;
      const body = this.#samples.encode(sealed, sealed + BLOCK_SAMPLES);
      const header = Buffer.alloc(HEADER_BYTES);
      header.writeUInt32LE(BLOCK_MAGIC, 0);
      header.writeUInt16LE(FORMAT_VERSION, 4);
      header.writeUInt32LE(BLOCK_SAMPLES, 8);
      header.writeUInt32LE(crc32c(body), 12);
      await writeFileCrashSafe(this.#fs, join(this.#directory, blockFileName(seq)), Buffer.concat([header, body]));
      this.#blocks.push({
        seq, count: BLOCK_SAMPLES, firstLsn: this.#samples.lsns[sealed]!, lastLsn: this.#samples.lsns[sealed + BLOCK_SAMPLES - 1]!,
        firstTime: this.#samples.times[sealed]!, lastTime: this.#samples.times[sealed + BLOCK_SAMPLES - 1]!,
      });
      this.#nextSeq += 1;
      sealed += BLOCK_SAMPLES;
    }
    if (sealed > 0) {
      this.#samples.drop(sealed);
      durable -= sealed;
    }
    await writeFileCrashSafe(this.#fs, join(this.#directory, COMMIT_TIMES_FILE), this.#encodeSnapshot(durable));
    this.#durableLsn = Math.max(this.#durableLsn, lsnMax);
  }

  /**
   * Removes sealed blocks that end below `lsn` (the GC cutoff: reads there are refused, and a time
   * answered there becomes `past`), keeping the newest block. The snapshot stops naming them
   * first; a crash before the unlinks leaves strays, removed at load.
   */
  pruneBelow(lsn: Lsn): Promise<number> {
    return this.#serialized(async () => {
      if (this.#fs === undefined || this.#directory === undefined) return 0;
      let count = 0;
      while (count < this.#blocks.length - 1 && this.#blocks[count]!.lastLsn < lsn) count++;
      if (count === 0) return 0;
      const removed = this.#blocks.slice(0, count);
      this.#blocks = this.#blocks.slice(count);
      let durable = 0;
      while (durable < this.#samples.length && this.#samples.lsns[durable]! <= this.#durableLsn) durable++;
      await writeFileCrashSafe(this.#fs, join(this.#directory, COMMIT_TIMES_FILE), this.#encodeSnapshot(durable));
      for (const block of removed) await this.#fs.unlink(join(this.#directory, blockFileName(block.seq)));
      if (this.#cached !== undefined && removed.some((block) => block.seq === this.#cached!.seq)) this.#cached = undefined;
      return count;
    });
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#writing.then(work);
    this.#writing = run.then(() => undefined, () => undefined);
    return run;
  }

  #encodeSnapshot(durableSamples: number): Buffer {
    const summaries = Buffer.alloc(8 + this.#blocks.length * SUMMARY_BYTES);
    summaries.writeUInt32LE(this.#blocks.length, 0);
    summaries.writeUInt32LE(this.#nextSeq, 4);
    this.#blocks.forEach((block, index) => {
      const at = 8 + index * SUMMARY_BYTES;
      summaries.writeDoubleLE(block.seq, at);
      summaries.writeDoubleLE(block.count, at + 8);
      summaries.writeDoubleLE(block.firstLsn, at + 16);
      summaries.writeDoubleLE(block.lastLsn, at + 24);
      summaries.writeDoubleLE(block.firstTime, at + 32);
      summaries.writeDoubleLE(block.lastTime, at + 40);
    });
    const body = Buffer.concat([summaries, this.#samples.encode(0, durableSamples)]);
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt16LE(FORMAT_VERSION, 4);
    header.writeUInt32LE(durableSamples, 8);
    header.writeUInt32LE(crc32c(body), 12);
    return Buffer.concat([header, body]);
  }

  /** Samples at or below `lsnMax` as a snapshot (no sealing): the in-memory form tests persist. */
  encode(lsnMax: Lsn): Buffer {
    let durable = 0;
    while (durable < this.#samples.length && this.#samples.lsns[durable]! <= lsnMax) durable++;
    return this.#encodeSnapshot(durable);
  }

  static decode(bytes: Buffer, source: string, options: { fs?: Fs; directory?: string } = {}): CommitTimeIndex {
    const corrupt = (reason: string) => new StrataError('PS_ERR_IO', `${source} is corrupt: ${reason}`, { path: source });
    if (bytes.length < HEADER_BYTES || bytes.readUInt32LE(0) !== MAGIC) throw corrupt('bad magic');
    const version = bytes.readUInt16LE(4);
    if (version < 1 || version > FORMAT_VERSION) throw corrupt(`unknown format version ${version}`);
    const count = bytes.readUInt32LE(8);
    const body = bytes.subarray(HEADER_BYTES);
    if (crc32c(body) !== bytes.readUInt32LE(12)) throw corrupt('checksum mismatch');
    const index = new CommitTimeIndex(options);
    let samplesAt = 0;
    if (version === FORMAT_VERSION) {
      if (body.length < 8) throw corrupt('truncated block summaries');
      const blocks = body.readUInt32LE(0);
      index.#nextSeq = body.readUInt32LE(4);
      samplesAt = 8 + blocks * SUMMARY_BYTES;
      if (body.length < samplesAt) throw corrupt('truncated block summaries');
      for (let block = 0; block < blocks; block++) {
        const at = 8 + block * SUMMARY_BYTES;
        index.#blocks.push({
          seq: body.readDoubleLE(at), count: body.readDoubleLE(at + 8), firstLsn: body.readDoubleLE(at + 16),
          lastLsn: body.readDoubleLE(at + 24), firstTime: body.readDoubleLE(at + 32), lastTime: body.readDoubleLE(at + 40),
        });
      }
    }
    const sampleBytes = version === 1 ? SAMPLE_BYTES_V1 : SAMPLE_BYTES;
    if (body.length !== samplesAt + count * sampleBytes) throw corrupt('length disagrees with the sample count');
    index.#samples = Samples.decode(body.subarray(samplesAt), count, sampleBytes);
    const last = index.#samples.length > 0 ? { lsn: index.#samples.lsns.at(-1)!, time: index.#samples.times.at(-1)! } : index.#blocks.at(-1) === undefined ? undefined : { lsn: index.#blocks.at(-1)!.lastLsn, time: index.#blocks.at(-1)!.lastTime };
    if (last !== undefined) {
      index.#durableLsn = last.lsn;
      index.#lastLsn = last.lsn;
      index.#maxTime = last.time;
      index.#resumed = true;
    }
    return index;
  }

  /** Block files in `names` the snapshot does not name (a crash between a seal or a prune and its snapshot). */
  strayBlockFiles(names: readonly string[]): string[] {
    const named = new Set(this.#blocks.map((block) => blockFileName(block.seq)));
    return names.filter((name) => name.startsWith(BLOCK_FILE_PREFIX) && !name.includes('.') && !named.has(name));
  }
}

function blockFileName(seq: number): string {
  return `${BLOCK_FILE_PREFIX}${seq.toString(16).padStart(8, '0')}`;
}

export async function readCommitTimes(fs: Fs, directory: string): Promise<CommitTimeIndex> {
  const names = await fs.readdir(directory);
  const index = names.includes(COMMIT_TIMES_FILE)
    ? CommitTimeIndex.decode(await readSmallFile(fs, join(directory, COMMIT_TIMES_FILE)), join(directory, COMMIT_TIMES_FILE), { fs, directory })
    : new CommitTimeIndex({ fs, directory });
  for (const stray of index.strayBlockFiles(names)) await fs.unlink(join(directory, stray));
  return index;
}

export async function writeCommitTimes(_fs: Fs, _directory: string, index: CommitTimeIndex, lsnMax: Lsn): Promise<void> {
  await index.persist(lsnMax);
}
