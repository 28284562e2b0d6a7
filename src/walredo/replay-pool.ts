/**
 * Parallel replay of WAL segment files with Strata's redo: decoding, and `workers` replay threads
 * (workers/redo-replay-thread.ts) that each apply every record to their share of the pages
 * (replay.ts). What `npm run bench` and `strata bench redo` measure against PostgreSQL's own
 * single-process replay of the same WAL. Decoding runs in one of two places:
 *
 *   'thread' (the default for one worker): the WAL decode thread
 *     decode thread ──PackedRecords, one MessagePort per worker──► replay 0..n-1
 *          ▲  ◄──────── a credit per batch done (at most `credits` waiting) ─┘
 *          └─ files + ports ── this thread (ReplayPool) ◄── stats per worker, per run
 *
 *   'first-worker' (the default for two or more): worker 0 decodes, hands every batch on
 *     replay 0 (reads, decodes, applies its share) ──PackedRecords, one port each──► replay 1..n-1
 *              ▲ ◄───────────────── a credit per batch done ─────────────────────┘
 *
 * WHY the batches never pass through this thread: on a machine with few cores, a relay that
 * receives and re-posts every batch competes with the decoding and replaying threads for CPU.
 * WHY the first worker decodes when there are several: with as many workers as cores, a separate
 * decode thread is one busy thread too many (two workers, 2 cores, the same WAL: 0.61–0.72 s with
 * a decode thread, 0.55–0.64 s with the first worker decoding). The decoding worker's share
 * counts DECODING_SHARE_WEIGHT times, so it is given fewer pages and all finish together.
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
import { reviveError, StrataError, type SerializedStrataError } from '../errors.js';
import { WAL_SEGMENT_SIZE, type Lsn } from '../lsn.js';
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

/** Where a replay's decoding runs: see the header. */
export type ReplayDecoding = 'thread' | 'first-worker';

/**
 * How much the decoding worker's share of the work counts (replay.ts shareWeights): decoding costs
 * it about as much as redoing 0.6 of a share, so it is given fewer pages. Measured on the 2-core
 * machine: 1.6 made both workers finish together (1.3 and 2.2 left one waiting).
 */
const DECODING_SHARE_WEIGHT = 1.6;

/** Where a replay worker's batches come from. */
export type ReplaySource =
  | { kind: 'port'; port: MessagePort }
  | {
    kind: 'files'; paths: string[]; startLsn: Lsn | undefined; endLsn: Lsn | undefined; segmentSize: number; credits: number;
    /** The other workers' ports, to hand every batch on to. */
    ports: MessagePort[];
  };

/** main → replay worker. */
export type ReplayWorkerRequest = { kind: 'run'; run: number; source: ReplaySource; shareWeights?: number[]; cpuProfileFile?: string };
/** replay worker → main. */
export type ReplayWorkerAnswer =
  | { kind: 'ready' }
  | { kind: 'stats'; run: number; stats: ReplayStats; busySeconds: number }
  | { kind: 'failed'; run: number; error: SerializedStrataError };

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
      else waiting.reject(reviveError(answer.error));
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

  /** Starts run `run` on batches from `source`; resolves with the worker's counts at its end. */
  start(run: number, source: ReplaySource, shareWeights: number[] | undefined, cpuProfileFile: string | undefined): Promise<WorkerResult> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    assert(this.#waiting === undefined, 'one replay at a time per worker');
    const result = new Promise<WorkerResult>((resolve, reject) => { this.#waiting = { run, resolve, reject }; });
    const request: ReplayWorkerRequest = {
      kind: 'run', run, source, ...(shareWeights === undefined ? {} : { shareWeights }), ...(cpuProfileFile === undefined ? {} : { cpuProfileFile }),
    };
    this.worker.postMessage(request, source.kind === 'port' ? [source.port] : source.ports);
    return result;
  }
}

/** Replay threads and a decode thread kept across replays; see the header. */
export class ReplayPool {
  readonly #workers: ReplayWorker[];
  readonly #decoding: ReplayDecoding;
  /** Only with 'thread' decoding. */
  readonly #decodeThread: WalDecodeThread | undefined;
  #runs = 0;
  #busy = false;
  #closed = false;

  /** `decoding` defaults to the decode thread for one worker, the first worker for more. */
  constructor(workers = 1, decoding: ReplayDecoding = workers === 1 ? 'thread' : 'first-worker') {
    assert(Number.isInteger(workers) && workers >= 1 && workers <= 64, 'replay uses 1..64 workers');
    this.#workers = Array.from({ length: workers }, (_, partition) => new ReplayWorker(partition, workers));
    this.#decoding = decoding;
    this.#decodeThread = decoding === 'thread' ? new WalDecodeThread() : undefined;
  }

  get workerCount(): number { return this.#workers.length; }
  get decoding(): ReplayDecoding { return this.#decoding; }

  /** Resolves when every thread has started (so that start-up is not timed). */
  async ready(): Promise<void> {
    await Promise.all([this.#decodeThread?.warm(), ...this.#workers.map((worker) => worker.ready)]);
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
      const profiles: string[] = [];
      const profileOf = (partition: number): string | undefined => {
        if (options.cpuProfileDirectory === undefined) return undefined;
        const profile = join(options.cpuProfileDirectory, `redo-worker-${partition}-run-${run}-${Date.now()}.cpuprofile`);
        profiles.push(profile);
        return profile;
      };
      let decoded: Promise<number>;
      let results: Promise<WorkerResult>[];
      if (this.#decodeThread !== undefined) {
        const ports: MessagePort[] = [];
        results = this.#workers.map((worker, partition) => {
          const channel = new MessageChannel();
          ports.push(channel.port1);
          return worker.start(run, { kind: 'port', port: channel.port2 }, undefined, profileOf(partition));
        });
        const range = { ...(options.startLsn === undefined ? {} : { startLsn: options.startLsn }), ...(options.endLsn === undefined ? {} : { endLsn: options.endLsn }) };
        decoded = this.#decodeThread.deliverFiles(paths, ports, { ...range, credits: BATCHES_IN_FLIGHT_MAX });
      } else {
        const weights = this.#workers.map((_, partition) => (partition === 0 ? DECODING_SHARE_WEIGHT : 1));
        const channels = this.#workers.slice(1).map(() => new MessageChannel());
        const [first, ...others] = this.#workers;
        results = [
          first!.start(run, {
            kind: 'files', paths: [...paths], startLsn: options.startLsn, endLsn: options.endLsn, segmentSize: WAL_SEGMENT_SIZE,
            credits: BATCHES_IN_FLIGHT_MAX, ports: channels.map((channel) => channel.port1),
          }, weights, profileOf(0)),
          ...others.map((worker, index) => worker.start(run, { kind: 'port', port: channels[index]!.port2 }, weights, profileOf(index + 1))),
        ];
        // The first worker sees (and counts) every record of the stream.
        decoded = results[0]!.then((result) => result.stats.records);
      }
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
    await this.#decodeThread?.close();
    await Promise.all(this.#workers.map((worker) => worker.worker.terminate()));
  }
}

/** One replay of `paths` on a pool of its own (`workers` replay threads); see the header. */
export async function replayWalFiles(
  paths: readonly string[], options: ReplayOptions & { workers?: number; decoding?: ReplayDecoding } = {},
): Promise<ReplayResult> {
  const pool = new ReplayPool(options.workers ?? 1, options.decoding);
  try {
    return await pool.replay(paths, options);
  } finally {
    await pool.close();
  }
}
