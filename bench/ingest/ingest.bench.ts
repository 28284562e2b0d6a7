/**
 * Decode + ingest throughput on real WAL: segment files are read, decoded (block images
 * decompressed) and ingested into a LayeredTimelineStore in a temporary directory.
 *
 * Two measurements, both against PostgreSQL's crash-recovery replay of the same WAL:
 *  - `run` (in memory): decode + ingest into the open in-memory layer. This is what PostgreSQL's
 *    redo does in its measured interval: it applies records to pages in shared buffers and writes
 *    them out later, at the end-of-recovery checkpoint, outside the "redo done" time.
 *  - `runDurable` (durable): the same, plus flushing L0 layer files at the default checkpoint
 *    distance as the server does, until the last layer is fsynced.
 * Reading WAL files from the page cache is included in both, as PostgreSQL's replay reads them too.
 * Decoding runs on a decode thread and ingest on this one, as in the server (wal-decode-stage.ts);
 * the in-memory figure is the fastest of three runs, as PostgreSQL's is the fastest of its runs.
 *
 * Run alone: node dist/bench/ingest/ingest.bench.js WAL_DIRECTORY START_LSN END_LSN [--durable]
 * The bench runner (bench/run.ts) calls run() on the WAL of a pgbench run and reports the ratio
 * against PostgreSQL's crash-recovery replay of the same WAL.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WalIngest } from '../../src/ingest/wal-ingest.js';
import { WalDecodeThread } from '../../src/wal/wal-decode-stage.js';
import { parseLsn, type Lsn } from '../../src/lsn.js';
import { silentLogger } from '../../src/observability/log.js';
import { LayeredTimelineStore } from '../../src/storage/layered-timeline-store.js';
import { limits } from '../../src/limits.js';

export interface IngestBenchResult { records: number; bytes: number; seconds: number; layerFiles: number; runSeconds: number[] }

/** Timed runs; the fastest is reported, as for PostgreSQL's replay (postgres-recovery.ts). */
const RUNS = 3;

export function run(options: { walDirectory: string; startLsn: Lsn; endLsn: Lsn }): Promise<IngestBenchResult> {
  return withDecodeThread((decodeThread) => fastestOf(RUNS, () => measureIngest({ ...options, durable: false }, decodeThread)));
}

export function runDurable(options: { walDirectory: string; startLsn: Lsn; endLsn: Lsn }): Promise<IngestBenchResult> {
  return withDecodeThread((decodeThread) => fastestOf(1, () => measureIngest({ ...options, durable: true }, decodeThread)));
}

/**
 * Durable ingest with compaction keeping up, as a timeline runs it: L0 files at a checkpoint
 * distance scaled to the WAL (a twentieth of it, at least 4 MiB, so that a bench-sized WAL makes
 * the ~20 L0 files a long run makes), L0 → L1 compaction at the default threshold (10) in the
 * background on the same thread while ingest goes on, timed until the last flush and compaction
 * are durable. Reports write amplification: bytes written to layer files (L0 + L1) per WAL byte.
 */
export function runDurableCompacted(options: { walDirectory: string; startLsn: Lsn; endLsn: Lsn }): Promise<IngestBenchResult & { writeAmplification: number; compactions: number; l0Bytes: number; l1Bytes: number }> {
  return withDecodeThread(async (decodeThread) => {
    const result = await measureIngest({ ...options, durable: true, compaction: true }, decodeThread);
    return { ...result, runSeconds: [result.seconds] };
  });
}

/**
 * One decode thread for all runs, started before the first, as the server's lives as long as the
 * server (so later runs see it warm, as a running server's is).
 */
async function withDecodeThread<T>(body: (decodeThread: WalDecodeThread) => Promise<T>): Promise<T> {
  const decodeThread = new WalDecodeThread();
  try {
    await decodeThread.warm();
    return await body(decodeThread);
  } finally {
    await decodeThread.close();
  }
}

async function fastestOf(runs: number, measure: () => Promise<Omit<IngestBenchResult, 'runSeconds'>>): Promise<IngestBenchResult> {
  const results: Omit<IngestBenchResult, 'runSeconds'>[] = [];
  for (let run = 0; run < runs; run++) results.push(await measure());
  const fastest = results.reduce((best, result) => (result.seconds < best.seconds ? result : best));
  return { ...fastest, runSeconds: results.map((result) => result.seconds) };
}

/**
 * One run, as the server ingests: the decode thread (wal-decode-stage.ts) decodes the files into
 * packed batches, and this thread ingests them.
 */
async function measureIngest(
  options: { walDirectory: string; startLsn: Lsn; endLsn: Lsn; durable: boolean; compaction?: boolean }, decodeThread: WalDecodeThread,
): Promise<Omit<IngestBenchResult, 'runSeconds'> & { writeAmplification: number; compactions: number; l0Bytes: number; l1Bytes: number }> {
  const files = (await readdir(options.walDirectory)).filter((name) => /^[0-9A-F]{24}$/.test(name)).map((name) => join(options.walDirectory, name));
  const directory = await mkdtemp(join(tmpdir(), 'strata-ingest-bench-'));
  const logger = silentLogger();
  try {
    // In memory: a checkpoint distance above the whole range, so nothing is flushed while timed.
    const walBytes = options.endLsn - options.startLsn;
    const checkpointDistanceBytes = !options.durable ? 64 * 1024 * 1024 * 1024
      : options.compaction === true ? Math.max(4 * 1024 * 1024, Math.floor(walBytes / 20)) : limits.checkpointDistanceBytesDefault;
    const store = await LayeredTimelineStore.open({ directory, logger, checkpointDistanceBytes });
    const ingest = await WalIngest.create(store, { logger });
    const started = process.hrtime.bigint();
    let records = 0;
    let lastEnd = options.startLsn;
    let compactions = 0;
    let l1Bytes = 0;
    let compacting: Promise<void> = Promise.resolve();
    const flushed = new Set<string>();
    let l0Bytes = 0;
    const countL0 = () => {
      for (const layer of store.describeLayers()) {
        if (layer.l0 && !flushed.has(layer.layer_file_name)) { flushed.add(layer.layer_file_name); l0Bytes += layer.layer_file_size; }
      }
    };
    const afterFlush = () => {
      countL0();
      if (options.compaction !== true || store.l0Count < 10) return;
      compacting = compacting.then(async () => {
        const outcome = await store.compactLevel0({ threshold: 10, targetFileBytes: 128 * 1024 * 1024 });
        if (outcome !== undefined) { compactions++; l1Bytes += outcome.bytesWritten; }
      });
    };
    const flushes: Promise<unknown>[] = [];
    for await (const batch of decodeThread.readFiles(files, { startLsn: options.startLsn, endLsn: options.endLsn })) {
      await ingest.ingestPacked(batch);
      records += batch.count;
      lastEnd = batch.count > 0 ? batch.endLsn[batch.count - 1]! : lastEnd;
      if (options.durable && store.openLayerBytes >= checkpointDistanceBytes) flushes.push(store.flush(lastEnd).then(afterFlush));
      // The server's back-pressure (max_inmemory_bytes, 2 × checkpoint_distance): past it, ingest
      // waits for the flush in flight, so the rate measured is the rate flushing sustains.
      while (options.durable && store.openLayerBytes + store.frozenLayerBytes > 2 * checkpointDistanceBytes && flushes.length > 0) await flushes.shift();
    }
    if (options.durable) {
      await store.flush(lastEnd);
      await Promise.all(flushes);
      afterFlush();
      await compacting;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const layerFiles = store.layerFileNames.length;
    await store.close();
    return { records, bytes: walBytes, seconds, layerFiles, compactions, l0Bytes, l1Bytes, writeAmplification: (l0Bytes + l1Bytes) / walBytes };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [walDirectory, start, end] = process.argv.slice(2);
  if (!walDirectory || !start || !end) {
    process.stderr.write('usage: ingest.bench.js WAL_DIRECTORY START_LSN END_LSN [--durable]\n');
    process.exit(2);
  }
  const durable = process.argv.includes('--durable');
  const options = { walDirectory, startLsn: parseLsn(start), endLsn: parseLsn(end) };
  const result = await (durable ? runDurable(options) : run(options));
  const megabytes = result.bytes / 1048576;
  process.stdout.write(`ingest${durable ? ' (durable)' : ' (in memory)'}: ${result.records} records, ${megabytes.toFixed(1)} MiB in ${result.seconds.toFixed(2)} s = ` +
    `${(megabytes / result.seconds).toFixed(1)} MiB/s, ${Math.round(result.records / result.seconds)} records/s, ${result.layerFiles} layer files (runs ${result.runSeconds.map((seconds) => seconds.toFixed(3)).join(", ")} s)\n`);
}
