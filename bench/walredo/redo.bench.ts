/**
 * Redo throughput on real WAL (issue 3), against PostgreSQL's crash-recovery replay of the same
 * WAL in the same run (bench/run.ts):
 *
 *  - `run`: the WAL of the pgbench run replayed with Strata's redo (src/walredo/replay-pool.ts):
 *    the decode thread decodes, replay threads apply every record to the pages it references,
 *    full-page images restored, everything else redone. Records/s is the ratio's numerator;
 *    pages/s (block references applied) is reported too. Fastest of three on one pool of threads
 *    kept across them (as the server keeps them), after one warm-up replay; every time listed.
 *  - `runInterleaved`: PostgreSQL's replay and Strata's (two workers) taken in turns, pair after
 *    pair, on the same WAL. WHY: this machine's speed drifts by 10-40% over minutes (a shared
 *    VM), more than the difference being measured; runs measured minutes apart compare the
 *    drift as much as the replays. In turns, both sides of a pair see the same machine, so the
 *    ratio of each pair, and their median, hold still where the separate fastest runs do not.
 *  - `runChains` (micro): pages/s of the walredo pool (the GetPage path) for short chains (an
 *    image and 1 record) and medium chains (an image and ~200 records on one page), built from
 *    the same WAL, to compare with Neon's published walredo numbers (about 120–130k short and
 *    10–12k medium pages/s for one redo process).
 *
 * Run alone: node dist/bench/walredo/redo.bench.js WAL_DIRECTORY START_LSN END_LSN [--workers N]
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLsn, type Lsn } from '../../src/lsn.js';
import type { ReconstructData } from '../../src/value.js';
import { readWalFileBatches } from '../../src/wal/segment-reader.js';
import { ReplayPool, type ReplayResult } from '../../src/walredo/replay-pool.js';
import { WalRedoPool } from '../../src/walredo/walredo-pool.js';
import type { RedoJob } from '../../src/walredo/walredo-protocol.js';
import { decodeBlockImage } from '../../src/wal/xlog-record.js';

const RUNS = 3;
const MEDIUM_CHAIN_RECORDS = 200;

export interface RedoBenchResult {
  records: number;
  bytes: number;
  seconds: number;
  runSeconds: number[];
  pages: number;
  pagesPerSecond: number;
  workers: number;
  /** The warm-up replay before the timed runs. */
  warmUpSeconds: number;
  unsupported: Record<string, number>;
  failed: number;
  noBase: number;
}

async function walFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => /^[0-9A-F]{24}$/.test(name)).map((name) => join(directory, name));
}

function merged(result: ReplayResult): { unsupported: Record<string, number>; failed: number; noBase: number } {
  const unsupported: Record<string, number> = {};
  let failed = 0;
  let noBase = 0;
  for (const { stats } of result.workers) {
    for (const [name, count] of Object.entries(stats.unsupported)) unsupported[name] = (unsupported[name] ?? 0) + count;
    failed += stats.failed;
    noBase += stats.noBase;
  }
  return { unsupported, failed, noBase };
}

export async function run(options: { walDirectory: string; startLsn: Lsn; endLsn: Lsn; workers?: number }): Promise<RedoBenchResult> {
  const files = await walFiles(options.walDirectory);
  const workers = options.workers ?? 1;
  const results: ReplayResult[] = [];
  // One pool for all runs, as the server keeps its decode thread and redo workers, which are warm
  // when they serve: one warm-up replay first (the JIT's and the page memory's first touch; its
  // time is reported as warmUpSeconds), then the timed runs.
  const pool = new ReplayPool(workers);
  let warmUpSeconds: number;
  try {
    warmUpSeconds = (await pool.replay(files, { startLsn: options.startLsn, endLsn: options.endLsn })).seconds;
    for (let run = 0; run < RUNS; run++) results.push(await pool.replay(files, { startLsn: options.startLsn, endLsn: options.endLsn }));
  } finally {
    await pool.close();
  }
  const fastest = results.reduce((best, result) => (result.seconds < best.seconds ? result : best));
  return {
    records: fastest.records, bytes: options.endLsn - options.startLsn, seconds: fastest.seconds, runSeconds: results.map((result) => result.seconds),
    pages: fastest.pages, pagesPerSecond: fastest.pages / fastest.seconds, workers, warmUpSeconds: Number(warmUpSeconds.toFixed(3)), ...merged(fastest),
  };
}

/** `run` with two replay threads, the first one decoding (the pool of redo workers on this 2-core machine). */
export function runTwoWorkers(options: { walDirectory: string; startLsn: Lsn; endLsn: Lsn }): Promise<RedoBenchResult> {
  return run({ ...options, workers: 2 });
}

export interface InterleavedResult {
  pairs: number;
  workers: number;
  /** PostgreSQL's replay time of each pair, then Strata's, in seconds. */
  postgresSeconds: number[];
  strataSeconds: number[];
  /**
   * CPU seconds this process (all its threads) used while each PostgreSQL replay ran: near zero
   * shows Strata's idle threads took nothing from PostgreSQL's turn.
   */
  ownCpuSecondsDuringPostgres: number[];
  /** PostgreSQL's seconds over Strata's for each pair (above 1: Strata faster). */
  pairRatios: number[];
  medianPairRatio: number;
  /** Fastest PostgreSQL run over fastest Strata run. */
  fastestRatio: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((first, second) => first - second);
  const middle = sorted.length >>> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * `pairs` turns of: one PostgreSQL replay (`postgresReplaySeconds`), then one Strata replay on a
 * pool of `workers` kept across the turns (after one warm-up replay). See the header.
 */
export async function runInterleaved(options: {
  walDirectory: string; startLsn: Lsn; endLsn: Lsn; pairs: number; workers?: number; postgresReplaySeconds: () => Promise<number>;
}): Promise<InterleavedResult> {
  if (!Number.isInteger(options.pairs) || options.pairs < 1) throw new RangeError(`pairs must be a positive integer, got ${options.pairs}`);
  const files = await walFiles(options.walDirectory);
  const workers = options.workers ?? 2;
  const range = { startLsn: options.startLsn, endLsn: options.endLsn };
  const pool = new ReplayPool(workers);
  const postgresSeconds: number[] = [];
  const strataSeconds: number[] = [];
  const ownCpuSecondsDuringPostgres: number[] = [];
  try {
    await pool.replay(files, range);
    for (let pair = 0; pair < options.pairs; pair++) {
      const cpuBefore = process.cpuUsage();
      postgresSeconds.push(await options.postgresReplaySeconds());
      const cpu = process.cpuUsage(cpuBefore);
      ownCpuSecondsDuringPostgres.push((cpu.user + cpu.system) / 1e6);
      (globalThis as { gc?: () => void }).gc?.();
      const result = await pool.replay(files, range);
      const { unsupported, failed } = merged(result);
      if (failed > 0 || Object.keys(unsupported).length > 0) throw new Error(`replay left records unapplied: failed ${failed}, unsupported ${JSON.stringify(unsupported)}`);
      strataSeconds.push(result.seconds);
    }
  } finally {
    await pool.close();
  }
  const pairRatios = postgresSeconds.map((seconds, pair) => seconds / strataSeconds[pair]!);
  return {
    pairs: options.pairs, workers, postgresSeconds, strataSeconds, ownCpuSecondsDuringPostgres, pairRatios,
    medianPairRatio: median(pairRatios), fastestRatio: Math.min(...postgresSeconds) / Math.min(...strataSeconds),
  };
}

/** Chains of one heap page: its image and the records after it, from the WAL. */
async function collectChains(files: string[], startLsn: Lsn, endLsn: Lsn, length: number, wanted: number): Promise<RedoJob[]> {
  const open = new Map<string, ReconstructData>();
  const chains: RedoJob[] = [];
  for await (const batch of readWalFileBatches(files, { startLsn, endLsn })) {
    for (const record of batch) {
      for (const block of record.blocks) {
        if (block.forkNumber !== 0) continue;
        const key = `${block.rel.relNode}/${block.blockNumber}`;
        // Chains start at a heap page's image; every later record of the page (any rmgr: heap2
        // prunes too) belongs to the chain, or redo would see a page it never had.
        if (block.hasImage && block.applyImage) {
          if (record.rmgrId !== 10 && record.rmgrId !== 9 && !open.has(key)) continue;
          open.set(key, { image: { lsn: record.endLsn, bytes: decodeBlockImage(block) }, records: [] });
          continue;
        }
        const chain = open.get(key);
        if (chain === undefined) continue;
        chain.records.push({ lsn: record.endLsn, value: { kind: 'walRecord', willInit: block.willInit, blockId: block.blockId, record: record.record.slice() } });
        if (chain.records.length === length) {
          chains.push({ key, data: chain });
          open.delete(key);
          if (chains.length === wanted) return chains;
        }
      }
    }
  }
  return chains;
}

/**
 * Pages/s of `pool` (one redo worker) under load: batches of 64 chains, two batches in flight, as
 * the walredo actor has when GetPage requests keep coming (while the worker redoes one batch, the
 * asking thread packs the next and copies out the previous).
 */
async function chainPagesPerSecond(pool: WalRedoPool, chains: RedoJob[], seconds: number): Promise<{ pagesPerSecond: number; failed: number }> {
  if (chains.length === 0) return { pagesPerSecond: 0, failed: 0 };
  const batchSize = 64;
  const inFlight = 2;
  let pages = 0;
  let failed = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const deadline = Date.now() + seconds * 1000;
  const stream = async (): Promise<void> => {
    while (Date.now() < deadline && failed === 0) {
      // Full batches even when the WAL gave fewer chains than a batch holds (pgbench WAL has
      // only a few pages 200 records past their image): chains are taken round-robin.
      const batch = Array.from({ length: batchSize }, (_, offset) => chains[(next + offset) % chains.length]!);
      next = (next + batchSize) % chains.length;
      const outcomes = await pool.redo(batch);
      for (const outcome of outcomes) {
        if (outcome instanceof Uint8Array) pages += 1;
        else failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, stream));
  return { pagesPerSecond: pages / (Number(process.hrtime.bigint() - started) / 1e9), failed };
}

/** Short and medium chain pages/s through the walredo pool (one worker). */
export async function runChains(options: { walDirectory: string; startLsn: Lsn; endLsn: Lsn }): Promise<Record<string, number>> {
  const files = await walFiles(options.walDirectory);
  const short = await collectChains(files, options.startLsn, options.endLsn, 1, 2000);
  const medium = await collectChains(files, options.startLsn, options.endLsn, MEDIUM_CHAIN_RECORDS, 50);
  const pool = new WalRedoPool({ threads: 1 });
  try {
    const shortResult = await chainPagesPerSecond(pool, short, 2);
    const mediumResult = await chainPagesPerSecond(pool, medium, 2);
    return {
      shortChains: short.length, shortPagesPerSecond: Math.round(shortResult.pagesPerSecond), shortFailed: shortResult.failed,
      mediumChains: medium.length, mediumRecordsPerChain: MEDIUM_CHAIN_RECORDS, mediumPagesPerSecond: Math.round(mediumResult.pagesPerSecond), mediumFailed: mediumResult.failed,
    };
  } finally {
    await pool.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [walDirectory, start, end] = process.argv.slice(2);
  if (!walDirectory || !start || !end) {
    process.stderr.write('usage: redo.bench.js WAL_DIRECTORY START_LSN END_LSN [--workers N]\n');
    process.exit(2);
  }
  const workersIndex = process.argv.indexOf('--workers');
  const workers = workersIndex > 0 ? Number(process.argv[workersIndex + 1]) : 1;
  const options = { walDirectory, startLsn: parseLsn(start), endLsn: parseLsn(end) };
  const result = await run({ ...options, workers });
  process.stdout.write(`redo: ${result.records} records, ${result.pages} pages in ${result.seconds.toFixed(3)} s = ${Math.round(result.records / result.seconds)} records/s, ` +
    `${Math.round(result.pagesPerSecond)} pages/s (runs ${result.runSeconds.map((seconds) => seconds.toFixed(3)).join(', ')}); unsupported ${JSON.stringify(result.unsupported)}, failed ${result.failed}, no base ${result.noBase}\n`);
  process.stdout.write(`chains: ${JSON.stringify(await runChains(options))}\n`);
}
