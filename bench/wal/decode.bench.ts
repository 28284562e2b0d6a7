/**
 * Benchmark: WAL decoding throughput, from segment files already in memory to DecodedRecords
 * with every full-page image restored (decompressed, hole re-inserted), as ingest will need.
 *
 * Method: the segment files between startLsn and endLsn are read into memory first (not timed);
 * then one WalStreamDecoder is fed 1 MiB chunks, every record is pulled with next(), and every
 * block image is decoded into one reused page buffer. Only that loop is timed. `bytes` is the WAL
 * range decoded (endLsn - startLsn), so MiB/s compares directly with PostgreSQL's replay speed of
 * the same WAL (shared/postgres-facts.md: 191–213 MiB/s FPI-heavy crash recovery on 2 cores).
 *
 * Reference numbers, 2026-11-23, 2-core machine shared with other jobs (load 2-6), Node 20,
 * pgbench scale 10, -c 4 -T 20:
 *   wal_compression = off: 168 MiB, 370k records, 89% image bytes: 270-430 MiB/s, 0.6-0.95 M rec/s
 *   wal_compression = lz4:  43 MiB, 270k records:                    90-150 MiB/s, 0.55-0.97 M rec/s
 * PostgreSQL replays the uncompressed kind at 191-213 MiB/s, 400-447k records/s.
 *
 * Usage: node dist/bench/wal/decode.bench.js WAL_DIRECTORY START_LSN END_LSN
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLsn, parseLsn, WAL_SEGMENT_SIZE } from '../../src/lsn.js';
import type { Lsn } from '../../src/lsn.js';
import { BLCKSZ } from '../../src/wal/types.js';
import { decodeBlockImage, WalStreamDecoder } from '../../src/wal/wal-decoder.js';

const CHUNK_BYTES = 1024 * 1024;
const SEGMENT_NAME = /^[0-9A-F]{24}$/;

export interface DecodeBenchOptions {
  walDirectory: string;
  startLsn: Lsn;
  endLsn: Lsn;
}

export interface DecodeBenchResult {
  records: number;
  bytes: number;
  seconds: number;
}

/** Reads the segments covering [startLsn, endLsn) into one contiguous buffer. */
async function loadSegments(options: DecodeBenchOptions): Promise<{ bytes: Uint8Array; baseLsn: Lsn }> {
  const first = Math.floor(options.startLsn / WAL_SEGMENT_SIZE);
  const last = Math.floor((options.endLsn - 1) / WAL_SEGMENT_SIZE);
  const names = (await readdir(options.walDirectory)).filter((name) => SEGMENT_NAME.test(name)).sort();
  const wanted = names.filter((name) => {
    const segment = parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16);
    return segment >= first && segment <= last;
  });
  if (wanted.length !== last - first + 1) {
    throw new Error(`WAL segments ${first}..${last} are not all in ${options.walDirectory}`);
  }
  const bytes = new Uint8Array(wanted.length * WAL_SEGMENT_SIZE);
  for (let index = 0; index < wanted.length; index++) {
    bytes.set(await readFile(join(options.walDirectory, wanted[index]!)), index * WAL_SEGMENT_SIZE);
  }
  return { bytes, baseLsn: first * WAL_SEGMENT_SIZE };
}

export async function run(options: DecodeBenchOptions): Promise<DecodeBenchResult> {
  const wal = await loadSegments(options);
  const page = new Uint8Array(BLCKSZ);
  const started = process.hrtime.bigint();
  const decoder = new WalStreamDecoder(options.startLsn);
  let records = 0;
  let offset = options.startLsn - wal.baseLsn;
  const stop = options.endLsn - wal.baseLsn;
  let done = false;
  while (offset < stop && !done) {
    const size = Math.min(CHUNK_BYTES, stop - offset);
    decoder.feed(wal.bytes.subarray(offset, offset + size));
    offset += size;
    for (let record = decoder.next(); record !== undefined; record = decoder.next()) {
      if (record.endLsn > options.endLsn) {
        done = true;
        break;
      }
      records++;
      for (const block of record.blocks) if (block.hasImage) decodeBlockImage(block, page);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { records, bytes: options.endLsn - options.startLsn, seconds };
}

async function main(argv: string[]): Promise<void> {
  const [walDirectory, start, end] = argv;
  if (walDirectory === undefined || start === undefined || end === undefined) {
    console.error('usage: decode.bench.js WAL_DIRECTORY START_LSN END_LSN');
    process.exitCode = 2;
    return;
  }
  const result = await run({ walDirectory, startLsn: parseLsn(start), endLsn: parseLsn(end) });
  const mebibytes = result.bytes / 1048576;
  console.log(
    `wal decode ${formatLsn(parseLsn(start))}..${formatLsn(parseLsn(end))}: ${result.records} records, ` +
      `${mebibytes.toFixed(1)} MiB in ${result.seconds.toFixed(3)} s = ${(mebibytes / result.seconds).toFixed(0)} MiB/s, ` +
      `${(result.records / result.seconds / 1000).toFixed(0)} k records/s`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
