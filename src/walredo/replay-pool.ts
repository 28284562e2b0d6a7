/**
 * Parallel replay of WAL segment files with Strata's redo: the WAL decode thread decodes, and
 * `workers` replay threads (workers/redo-replay-thread.ts) each apply every record to their share
 * of the pages (replay.ts). What `npm run bench` and `strata bench redo` measure against
 * PostgreSQL's own single-process replay of the same WAL.
 *
 *   decode thread ──PackedRecords, through one MessagePort per worker──► replay 0..n-1
 *        ▲  ◄──────── a credit per batch done (at most `credits` waiting per worker) ─┘
 *        └─ files + ports ── this thread (ReplayPool) ◄── stats per worker, per run ──┘
 *
 * WHY the batches bypass this thread: on a machine with few cores, a relay thread that receives
 * and re-posts every batch competes with the decode and replay threads for CPU.
 *
 * A ReplayPool keeps its threads from one replay to the next, as the server keeps its decode
 * thread and redo workers: later replays run on compiled code and reuse the page memory of
 * earlier ones (replay.ts PagePool). `replayWalFiles` is one replay on a pool of its own.
 *
 * With `cpuProfileDirectory`, each worker runs the V8 profiler (node:inspector) while it replays
 * and writes a .cpuprofile there (open it in Chrome DevTools): the profiling use of the issue.
 */
import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import { WalDecodeThread } from '../wal/wal-decode-stage.js';
import type { ReplayStats } from './replay.js';

/** Batches a worker may have waiting (the decode thread's read-ahead per worker). */
const BATCHES_IN_FLIGHT_MAX = 4;

export interface WorkerResult { stats: ReplayStats; busySeconds: number }

export interface ReplayResult {
  records: number;
  pages: number;
  seconds: number;
  workers: WorkerResult[];
  /** The .cpuprofile files written (with cpuProfileDirectory). */
  profiles: string[];
}

export interface ReplayOptions {
  startLsn?: Lsn;
  endLsn?: Lsn;
  cpuProfileDirectory?: string;
}

/** main → replay worker. */
export type ReplayWorkerRequest = { kind: 'run'; run: number; port: MessagePort; cpuProfileFile?: string };
/** replay worker → main. */
export type ReplayWorkerAnswer =
  | { kind: 'ready' }
  | { kind: 'stats'; run: number; stats: ReplayStats; busySeconds: number }
  | { kind: 'failed'; run: number; message: string };

class ReplayWorker {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  #waiting: { run: number; resolve: (result: WorkerResult) => void; reject: (error: Error) => void } | undefined;
  #dead: Error | undefined;

  constructor(partition: number, partitions: number) {
    this.worker = new Worker(new URL('../../workers/redo-replay-thread.js', import.meta.url), {
      workerData: { partition, partitions }, resourceLimits: { maxYoungGenerationSizeMb: 64 },
    });
    let markReady: () => void = () => undefined;
    let failReady: (error: Error) => void = () => undefined;
    this.ready = new Promise((resolve, reject) => { markReady = resolve; failReady = reject; });
    this.ready.catch(() => undefined);
    this.worker.on('message', (answer: ReplayWorkerAnswer) => {
      if (answer.kind === 'ready') return markReady();
      const waiting = this.#waiting;
      if (waiting === undefined || waiting.run !== answer.run) return;
      this.#waiting = undefined;
      if (answer.kind === 'stats') waiting.resolve({ stats: answer.stats, busySeconds: answer.busySeconds });
      else waiting.reject(new StrataError('PS_ERR_REDO_FAILED', `replay worker ${partition}: ${answer.message}`));
    });
    const die = (reason: string) => {
      this.#dead ??= new StrataError('PS_ERR_REDO_FAILED', `replay worker ${partition} ${reason}`);
      failReady(this.#dead);
      this.#waiting?.reject(this.#dead);
      this.#waiting = undefined;
    };
    this.worker.on('error', (error) => die(`crashed: ${error.message}`));
    this.worker.on('exit', (code) => die(`exited with code ${code}`));
  }

  /** Starts run `run` reading batches from `port`; resolves with the worker's counts at its end. */
  start(run: number, port: MessagePort, cpuProfileFile: string | undefined): Promise<WorkerResult> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    assert(this.#waiting === undefined, 'one replay at a time per worker');
    const result = new Promise<WorkerResult>((resolve, reject) => { this.#waiting = { run, resolve, reject }; });
    const request: ReplayWorkerRequest = { kind: 'run', run, port, ...(cpuProfileFile === undefined ? {} : { cpuProfileFile }) };
    this.worker.postMessage(request, [port]);
    return result;
  }
}

/** Replay threads and a decode thread kept across replays; see the header. */
export class ReplayPool {
  readonly #workers: ReplayWorker[];
  readonly #decodeThread = new WalDecodeThread();
  #runs = 0;
  #busy = false;
  #closed = false;

  constructor(workers = 1) {
    assert(Number.isInteger(workers) && workers >= 1 && workers <= 64, 'replay uses 1..64 workers');
    this.#workers = Array.from({ length: workers }, (_, partition) => new ReplayWorker(partition, workers));
  }

  get workerCount(): number { return this.#workers.length; }

  /** Resolves when every thread has started (so that start-up is not timed). */
  async ready(): Promise<void> {
    await Promise.all([this.#decodeThread.warm(), ...this.#workers.map((worker) => worker.ready)]);
  }

  /** Replays `paths` (segment files); one replay at a time. */
  async replay(paths: readonly string[], options: ReplayOptions = {}): Promise<ReplayResult> {
    assert(!this.#closed, 'replay after close');
    assert(!this.#busy, 'one replay at a time per pool');
    this.#busy = true;
    try {
      await this.ready();
      const run = ++this.#runs;
      const started = process.hrtime.bigint();
      const ports: MessagePort[] = [];
      const profiles: string[] = [];
      const results = this.#workers.map((worker, partition) => {
        const channel = new MessageChannel();
        ports.push(channel.port1);
        const profile = options.cpuProfileDirectory === undefined ? undefined : join(options.cpuProfileDirectory, `redo-worker-${partition}-run-${run}-${Date.now()}.cpuprofile`);
        if (profile !== undefined) profiles.push(profile);
        return worker.start(run, channel.port2, profile);
      });
      const range = { ...(options.startLsn === undefined ? {} : { startLsn: options.startLsn }), ...(options.endLsn === undefined ? {} : { endLsn: options.endLsn }) };
      const decoded = this.#decodeThread.deliverFiles(paths, ports, { ...range, credits: BATCHES_IN_FLIGHT_MAX });
      // Every outcome is awaited before anything is thrown, so no run outlives its call.
      const settled = await Promise.allSettled([decoded, ...results]);
      const failure = settled.find((outcome) => outcome.status === 'rejected');
      if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const records = (settled[0] as PromiseFulfilledResult<number>).value;
      const workers = settled.slice(1).map((outcome) => (outcome as PromiseFulfilledResult<WorkerResult>).value);
      const pages = workers.reduce((sum, result) => sum + result.stats.pages, 0);
      return { records, pages, seconds, workers, profiles };
    } finally {
      this.#busy = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#decodeThread.close();
    await Promise.all(this.#workers.map((worker) => worker.worker.terminate()));
  }
}

/** One replay of `paths` on a pool of its own (`workers` replay threads); see the header. */
export async function replayWalFiles(paths: readonly string[], options: ReplayOptions & { workers?: number } = {}): Promise<ReplayResult> {
  const pool = new ReplayPool(options.workers ?? 1);
  try {
    return await pool.replay(paths, options);
  } finally {
    await pool.close();
  }
}
