/**
 * The pool of walredo worker threads (piscina; task module workers/walredo-thread.ts): pages are
 * reconstructed there, so no actor thread spends its time in redo and no actor waits on another's
 * redo.
 *
 *   redo(jobs) ──► bounded piscina queue (queueMax; full → PS_ERR_MAILBOX_FULL)
 *                  ──► a worker: one task = a batch of jobs ──► pages in one transferred buffer
 *
 * Failure isolation: a job whose routine throws fails alone (its error names the key, LSN and
 * record type, from reconstruct.ts); a batch that outlives `jobTimeoutMs`, or whose worker dies,
 * fails all of its jobs with PS_ERR_REDO_FAILED and piscina replaces the worker. Metrics: jobs,
 * records applied, failures, batch latency.
 */
import { Piscina } from 'piscina';
import { assert } from '../assert.js';
import { reviveError, StrataError } from '../errors.js';
import { threadMetrics } from '../observability/metrics.js';
import { BLCKSZ } from './page.js';
import type { RedoBatchResult, RedoBatchTask, RedoJob } from './walredo-protocol.js';

export interface WalRedoPoolOptions {
  /** Worker threads (default 1). */
  threads?: number;
  /** Batches waiting for a worker, at most (default 64). */
  queueMax?: number;
  /** A batch running longer fails (default 10 s). */
  jobTimeoutMs?: number;
  /** The compiled task module; default dist/workers/walredo-thread.js. */
  workerModule?: URL | string;
}

export class WalRedoPool {
  readonly #piscina: Piscina;
  readonly #jobTimeoutMs: number;
  /** Batches running or queued may not exceed this (threads + queueMax): our own bound, exact. */
  readonly #outstandingMax: number;
  #outstanding = 0;
  #closed = false;

  constructor(options: WalRedoPoolOptions = {}) {
    const threads = options.threads ?? 1;
    assert(Number.isInteger(threads) && threads >= 1 && threads <= 64, 'a redo pool has 1..64 threads');
    this.#jobTimeoutMs = options.jobTimeoutMs ?? 10_000;
    this.#outstandingMax = threads + (options.queueMax ?? 64);
    const module = options.workerModule ?? new URL('../../workers/walredo-thread.js', import.meta.url);
    this.#piscina = new Piscina({
      filename: module instanceof URL ? module.href : module,
      minThreads: threads, maxThreads: threads, maxQueue: options.queueMax ?? 64, idleTimeout: Infinity,
      resourceLimits: { maxYoungGenerationSizeMb: 32 },
    });
    // A worker that dies is replaced by piscina; its task's promise rejects (handled in redo()).
    this.#piscina.on('error', () => undefined);
  }

  get queueSize(): number { return this.#piscina.queueSize; }
  get threadCount(): number { return this.#piscina.threads.length; }

  /**
   * Reconstructs the pages of `jobs` in one task; resolves with a page or the job's own error for
   * each, in order. Rejects only when the batch could not be queued (PS_ERR_MAILBOX_FULL).
   */
  async redo(jobs: RedoJob[]): Promise<(Uint8Array | StrataError)[]> {
    assert(!this.#closed, 'redo after close');
    if (jobs.length === 0) return [];
    if (this.#outstanding >= this.#outstandingMax) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', `the walredo queue is full (${this.#outstanding} batches running or waiting)`);
    }
    const metrics = threadMetrics();
    const started = process.hrtime.bigint();
    const signal = AbortSignal.timeout(this.#jobTimeoutMs);
    let result: RedoBatchResult;
    this.#outstanding += 1;
    try {
      result = await this.#piscina.run({ jobs } satisfies RedoBatchTask, { signal }) as RedoBatchResult;
    } catch (error) {
      const failure = this.#batchFailure(error, jobs, signal.aborted);
      if (failure.code === 'PS_ERR_MAILBOX_FULL') throw failure;
      metrics.walredoFailures.inc(jobs.length);
      return jobs.map(() => failure);
    } finally {
      this.#outstanding -= 1;
      metrics.walredoLatencySeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
    const problem = resultProblem(result, jobs.length);
    if (problem !== undefined) {
      metrics.walredoFailures.inc(jobs.length);
      return jobs.map(() => new StrataError('PS_ERR_REDO_FAILED', `walredo worker returned a malformed result: ${problem}`));
    }
    const outcomes: (Uint8Array | StrataError)[] = jobs.map((_, index) => new Uint8Array(result.pages, index * BLCKSZ, BLCKSZ));
    for (const { index, error } of result.errors) outcomes[index] = reviveError(error) as StrataError;
    metrics.walredoJobs.inc(jobs.length);
    metrics.walredoRecordsApplied.inc(result.recordsApplied);
    if (result.errors.length > 0) metrics.walredoFailures.inc(result.errors.length);
    return outcomes;
  }

  #batchFailure(error: unknown, jobs: RedoJob[], timedOut: boolean): StrataError {
    const message = error instanceof Error ? error.message : String(error);
    const keys = jobs.slice(0, 3).map((job) => job.key).join(', ') + (jobs.length > 3 ? ', …' : '');
    if (/queue is at limit/i.test(message)) {
      return new StrataError('PS_ERR_MAILBOX_FULL', `the walredo queue is full (${this.#piscina.queueSize} batches waiting)`);
    }
    if (timedOut) return new StrataError('PS_ERR_REDO_FAILED', `walredo of ${keys} took longer than ${this.#jobTimeoutMs} ms`, { keys });
    return new StrataError('PS_ERR_REDO_FAILED', `walredo worker failed on ${keys}: ${message}`, { keys });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#piscina.destroy();
  }
}

/** Checks what a worker returned (it crossed a thread boundary); returns a reason when broken. */
function resultProblem(result: RedoBatchResult | null | undefined, jobCount: number): string | undefined {
  if (typeof result !== 'object' || result === null) return `${String(result)} instead of a batch result`;
  if (!(result.pages instanceof ArrayBuffer) || result.pages.byteLength !== jobCount * BLCKSZ) return `pages for ${jobCount} jobs expected`;
  if (!Array.isArray(result.errors) || result.errors.some((entry) => !Number.isInteger(entry.index) || entry.index < 0 || entry.index >= jobCount)) {
    return 'errors do not name jobs of the batch';
  }
  if (!Number.isInteger(result.recordsApplied) || result.recordsApplied < 0) return 'records applied is not a count';
  return undefined;
}

let defaultPool: WalRedoPool | undefined;

/** The redo pool of this (actor) thread, created on first use: a fixed set of redo workers per actor thread. */
export function defaultWalRedoPool(): WalRedoPool {
  defaultPool ??= new WalRedoPool();
  return defaultPool;
}
