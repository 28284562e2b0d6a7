/**
 * The pool of walredo worker threads (piscina; task module workers/walredo-thread.ts): pages are
 * reconstructed there, so no actor thread spends its time in redo and no actor waits on another's
 * redo.
 *
 *   redo(jobs) ──► jobs packed into the batch's input buffer (redo-batch-codec.ts)
 *              ──► bounded piscina queue (queueMax; full → PS_ERR_MAILBOX_FULL)
 *              ──► a worker: one task = a batch of jobs, read in place ──► pages written into the
 *                  batch's page buffer ──► copied out to the callers, buffers reused
 *
 * Batch buffers: per batch in flight, one shared input buffer (images and records, grown to the
 * largest batch seen) and one shared page buffer of REDO_BATCH_JOBS_MAX pages, taken from a free
 * list and put back when the batch is answered. A steady load allocates no buffer per request,
 * and the number of buffer pairs never exceeds the bound on batches in flight (threads +
 * queueMax). Nothing but the Strata records' small objects is structured-cloned. The one copy per
 * page, out to the caller's own page, lets the buffer be reused at once. A batch that timed out or
 * whose worker died drops its buffers instead (the worker may still use them while it is torn
 * down).
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
import { encodedRedoBatchLength, encodeRedoBatch } from './redo-batch-codec.js';
import type { RedoBatchResult, RedoBatchTask, RedoJob } from './walredo-protocol.js';

/** Jobs in one batch, at most: the pages of a batch fill one page buffer. */
export const REDO_BATCH_JOBS_MAX = 64;
/** First size of a batch's input buffer; it doubles until the batch fits (and stays so). */
const INPUT_BYTES_MIN = 256 * 1024;

/** The shared memory of one batch in flight (see the header). */
interface BatchBuffers {
  input: SharedArrayBuffer;
  readonly pages: SharedArrayBuffer;
}

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
  /** Buffers of batches no longer in flight, and how many exist (free or in use). */
  readonly #freeBuffers: BatchBuffers[] = [];
  #buffers = 0;
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
  /** Batch buffer pairs in existence (free or in use): at most the bound on batches in flight. */
  get bufferCount(): number { return this.#buffers; }
  get threadCount(): number { return this.#piscina.threads.length; }

  /**
   * Reconstructs the pages of `jobs` in one task; resolves with a page or the job's own error for
   * each, in order. Rejects only when the batch could not be queued (PS_ERR_MAILBOX_FULL).
   */
  async redo(jobs: RedoJob[]): Promise<(Uint8Array | StrataError)[]> {
    assert(!this.#closed, 'redo after close');
    if (jobs.length === 0) return [];
    if (jobs.length > REDO_BATCH_JOBS_MAX) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `a walredo batch has at most ${REDO_BATCH_JOBS_MAX} jobs, got ${jobs.length}`);
    }
    if (this.#outstanding >= this.#outstandingMax) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', `the walredo queue is full (${this.#outstanding} batches running or waiting)`);
    }
    const metrics = threadMetrics();
    const started = process.hrtime.bigint();
    const signal = AbortSignal.timeout(this.#jobTimeoutMs);
    const buffer = this.#takeBuffer(encodedRedoBatchLength(jobs));
    let strataRecords: RedoBatchTask['strataRecords'];
    try {
      strataRecords = encodeRedoBatch(jobs, new Uint8Array(buffer.input)).strataRecords;
    } catch (error) {
      this.#freeBuffers.push(buffer);
      throw error;
    }
    let result: RedoBatchResult;
    this.#outstanding += 1;
    try {
      const task: RedoBatchTask = { batch: buffer.input, strataRecords, pages: buffer.pages };
      result = await this.#piscina.run(task, { signal }) as RedoBatchResult;
    } catch (error) {
      const failure = this.#batchFailure(error, jobs, signal.aborted);
      if (failure.code === 'PS_ERR_MAILBOX_FULL') {
        this.#freeBuffers.push(buffer); // it never reached a worker
        throw failure;
      }
      this.#buffers -= 1; // dropped: a timed-out or dying worker may still write into it
      metrics.walredoFailures.inc(jobs.length);
      return jobs.map(() => failure);
    } finally {
      this.#outstanding -= 1;
      metrics.walredoLatencySeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
    const problem = resultProblem(result, jobs.length);
    if (problem !== undefined) {
      this.#buffers -= 1;
      metrics.walredoFailures.inc(jobs.length);
      return jobs.map(() => new StrataError('PS_ERR_REDO_FAILED', `walredo worker returned a malformed result: ${problem}`));
    }
    const pages = new Uint8Array(buffer.pages, 0, jobs.length * BLCKSZ);
    const outcomes: (Uint8Array | StrataError)[] = jobs.map((_, index) => pages.slice(index * BLCKSZ, (index + 1) * BLCKSZ));
    this.#freeBuffers.push(buffer);
    for (const { index, error } of result.errors) outcomes[index] = reviveError(error) as StrataError;
    metrics.walredoJobs.inc(jobs.length);
    metrics.walredoRecordsApplied.inc(result.recordsApplied);
    if (result.errors.length > 0) metrics.walredoFailures.inc(result.errors.length);
    return outcomes;
  }

  /** A free buffer pair (a new one when none is free) whose input holds `inputLength` bytes. */
  #takeBuffer(inputLength: number): BatchBuffers {
    let buffers = this.#freeBuffers.pop();
    if (buffers === undefined) {
      this.#buffers += 1;
      assert(this.#buffers <= this.#outstandingMax, 'batch buffers stay within the batches in flight');
      buffers = { input: new SharedArrayBuffer(INPUT_BYTES_MIN), pages: new SharedArrayBuffer(REDO_BATCH_JOBS_MAX * BLCKSZ) };
    }
    if (buffers.input.byteLength < inputLength) {
      let size = buffers.input.byteLength;
      while (size < inputLength) size *= 2;
      buffers.input = new SharedArrayBuffer(size);
    }
    return buffers;
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
  if (result.pagesWritten !== jobCount) return `pages for ${jobCount} jobs expected, ${String(result.pagesWritten)} written`;
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
