/**
 * Parallel replay of WAL segment files with Strata's redo: the WAL decode thread decodes, and
 * `workers` replay threads (workers/redo-replay-thread.ts) each apply every record to their share
 * of the pages (replay.ts). What `npm run bench` and `strata bench redo` measure against
 * PostgreSQL's own single-process replay of the same WAL.
 *
 *   decode thread ──PackedRecords──► this thread ──the same batch to every worker──► replay 0..n-1
 *                                    (at most BATCHES_IN_FLIGHT_MAX unacknowledged per worker)
 *
 * With `cpuProfileDirectory`, each worker runs the V8 profiler (node:inspector) while it replays
 * and writes a .cpuprofile there (open it in Chrome DevTools): the profiling use of the issue.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { assert } from '../assert.js';
import type { Lsn } from '../lsn.js';
import type { PackedRecords } from '../wal/packed-records.js';
import { WalDecodeThread } from '../wal/wal-decode-stage.js';
import type { ReplayStats } from './replay.js';

const BATCHES_IN_FLIGHT_MAX = 4;

export interface ReplayResult {
  records: number;
  pages: number;
  seconds: number;
  workers: { stats: ReplayStats; busySeconds: number }[];
  /** The .cpuprofile files written (with cpuProfileDirectory). */
  profiles: string[];
}

export interface ReplayOptions {
  startLsn?: Lsn;
  endLsn?: Lsn;
  workers?: number;
  cpuProfileDirectory?: string;
}

class ReplayWorker {
  readonly worker: Worker;
  /** Where the worker writes its CPU profile (profiling only). */
  readonly profileFile: string | undefined;
  #inFlight = 0;
  #waiters: (() => void)[] = [];
  #stats: Promise<{ stats: ReplayStats; busySeconds: number }>;
  readonly ready: Promise<void>;

  constructor(partition: number, partitions: number, cpuProfileDirectory: string | undefined) {
    const cpuProfileFile = cpuProfileDirectory === undefined ? undefined : join(cpuProfileDirectory, `redo-worker-${partition}-${Date.now()}.cpuprofile`);
    this.profileFile = cpuProfileFile;
    this.worker = new Worker(new URL('../../workers/redo-replay-thread.js', import.meta.url), {
      workerData: { partition, partitions, ...(cpuProfileFile === undefined ? {} : { cpuProfileFile }) }, resourceLimits: { maxYoungGenerationSizeMb: 64 },
    });
    let markReady: () => void = () => undefined;
    let deliver: (value: { stats: ReplayStats; busySeconds: number }) => void = () => undefined;
    let fail: (error: Error) => void = () => undefined;
    this.ready = new Promise((resolve) => { markReady = resolve; });
    this.#stats = new Promise((resolve, reject) => { deliver = resolve; fail = reject; });
    this.#stats.catch(() => undefined);
    this.worker.on('message', (message: { kind: string; stats?: ReplayStats; busySeconds?: number }) => {
      if (message.kind === 'ready') markReady();
      else if (message.kind === 'done') this.#acknowledge();
      else if (message.kind === 'stats') deliver({ stats: message.stats!, busySeconds: message.busySeconds! });
    });
    this.worker.on('error', (error) => fail(error));
    this.worker.on('exit', (code) => fail(new Error(`replay worker exited with code ${code}`)));
  }

  #acknowledge(): void {
    this.#inFlight -= 1;
    this.#waiters.shift()?.();
  }

  async send(batch: PackedRecords): Promise<void> {
    while (this.#inFlight >= BATCHES_IN_FLIGHT_MAX) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#inFlight += 1;
    this.worker.postMessage({ kind: 'batch', batch });
  }

  finish(): Promise<{ stats: ReplayStats; busySeconds: number }> {
    this.worker.postMessage({ kind: 'end' });
    return this.#stats;
  }
}

/** Replays `paths` (segment files) with `workers` replay threads; see the header. */
export async function replayWalFiles(paths: readonly string[], options: ReplayOptions = {}): Promise<ReplayResult> {
  const count = options.workers ?? 1;
  assert(Number.isInteger(count) && count >= 1 && count <= 64, 'replay uses 1..64 workers');
  const decodeThread = new WalDecodeThread();
  const workers = Array.from({ length: count }, (_, partition) => new ReplayWorker(partition, count, options.cpuProfileDirectory));
  try {
    await Promise.all([decodeThread.warm(), ...workers.map((worker) => worker.ready)]);
    const started = process.hrtime.bigint();
    let records = 0;
    const range = { ...(options.startLsn === undefined ? {} : { startLsn: options.startLsn }), ...(options.endLsn === undefined ? {} : { endLsn: options.endLsn }) };
    for await (const batch of decodeThread.readFiles(paths, range)) {
      records += batch.count;
      for (const worker of workers) await worker.send(batch);
    }
    const results = await Promise.all(workers.map((worker) => worker.finish()));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const pages = results.reduce((sum, result) => sum + result.stats.pages, 0);
    const profiles = workers.flatMap((worker) => (worker.profileFile === undefined ? [] : [worker.profileFile]));
    return { records, pages, seconds, workers: results, profiles };
  } finally {
    await decodeThread.close();
    await Promise.all(workers.map((worker) => worker.worker.terminate()));
  }
}
