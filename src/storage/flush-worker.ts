/**
 * The ingest thread's handle on the layer flush thread (workers/layer-flush-thread.ts): it posts a
 * DeltaLayerSnapshot and gets back the published file, so the CPU and I/O of a flush run off the
 * ingest thread.
 *
 *   writeDelta(directory, snapshot)
 *        │ postMessage (typed arrays transferred, chunk memory shared)
 *        ▼
 *   ┌────────────── flush thread ──────────────┐
 *   │ one request at a time: gather blobs,     │      'written' → resolve(FinishedLayerFile)
 *   │ CRC-32C, index, temp file, fsync, rename, ├───►  'failed'  → reject(StrataError PS_ERR_IO)
 *   │ fsync directory                          │
 *   └──────────────────────────────────────────┘
 *        crash ('error' / 'exit' / 'messageerror') → every request in flight rejects with
 *        PS_ERR_IO, its temp file is removed, the thread is dropped; the next request spawns a
 *        new one (so a crash fails that flush, which stays pending and is retried).
 *
 * Supervision without restart storms: a thread is only (re)spawned by a new request, and requests
 * come from flushes, which are bounded per timeline by limits.frozenLayersMax and here by
 * `requestsMax`.
 *
 * One thread per ingest thread is enough (a flush is disk-bound once off the ingest thread); the
 * store uses `defaultLayerFlushWorker()`, created on first use. The thread is unref'd while idle,
 * so it never keeps a process alive, and ref'd while a request is in flight.
 *
 * Failpoints: the delta layer write evaluates its failpoints on the flush thread, whose registry
 * is its own (failpoints.ts "Scope"). So a new thread first receives this thread's active
 * failpoints, and every later reconfiguration of this thread is forwarded to it (followFailpoints)
 * until the thread is dropped. Messages keep their order, so a write posted after a
 * reconfiguration sees it.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { assert } from '../assert.js';
import { reviveError, StrataError } from '../errors.js';
import { followFailpoints, formatFailpoints, listFailpoints } from '../failpoints.js';
import { tempPathFor } from './crashsafe.js';
import { snapshotTransferList, type DeltaLayerSnapshot } from './delta-layer-snapshot.js';
import type { ConfigureFailpointsRequest, FlushWorkerResponse, WriteDeltaRequest } from './flush-worker-protocol.js';
import { nodeFs, type Fs } from './fs.js';
import type { FinishedLayerFile } from './layer-file-writer.js';

const REQUESTS_MAX_DEFAULT = 64;

export interface LayerFlushWorkerOptions {
  /** The compiled thread entry; default dist/workers/layer-flush-thread.js next to this file. */
  workerModule?: URL | string;
  /** Requests in flight before writeDelta rejects with PS_ERR_IO. */
  requestsMax?: number;
  /** Used to remove the temp file of a request whose thread died. */
  fs?: Fs;
}

interface InFlight {
  resolve: (finished: FinishedLayerFile) => void;
  reject: (error: Error) => void;
  tempPath: string;
}

export class LayerFlushWorker {
  readonly #workerModule: URL | string;
  readonly #requestsMax: number;
  readonly #fs: Fs;
  readonly #inFlight = new Map<number, InFlight>();
  #worker: Worker | undefined;
  /** Stops forwarding failpoint reconfigurations to #worker. */
  #unfollowFailpoints: (() => void) | undefined;
  #nextId = 1;
  #closed = false;

  constructor(options: LayerFlushWorkerOptions = {}) {
    this.#workerModule = options.workerModule ?? new URL('../../workers/layer-flush-thread.js', import.meta.url);
    this.#requestsMax = options.requestsMax ?? REQUESTS_MAX_DEFAULT;
    this.#fs = options.fs ?? nodeFs;
    assert(this.#requestsMax >= 1, 'a flush worker accepts at least one request');
  }

  /** Requests posted and not yet answered. */
  get inFlightCount(): number { return this.#inFlight.size; }
  /** Thread id of the current flush thread (undefined before the first request or after a crash). */
  get threadId(): number | undefined { return this.#worker?.threadId; }

  /** Writes `snapshot` as a delta layer file in `directory` on the flush thread. */
  writeDelta(directory: string, snapshot: DeltaLayerSnapshot): Promise<FinishedLayerFile> {
    assert(!this.#closed, 'writeDelta after close');
    if (this.#inFlight.size >= this.#requestsMax) {
      return Promise.reject(new StrataError('PS_ERR_IO', `${this.#inFlight.size} layer flushes already wait for the flush thread`, { directory }));
    }
    const worker = this.#worker ?? this.#spawn();
    const request: WriteDeltaRequest = { kind: 'writeDelta', id: this.#nextId++, directory, tempPath: tempPathFor(join(directory, 'delta')), snapshot };
    return new Promise<FinishedLayerFile>((resolve, reject) => {
      this.#inFlight.set(request.id, { resolve, reject, tempPath: request.tempPath });
      worker.ref();
      worker.postMessage(request, snapshotTransferList(snapshot));
    });
  }

  /** Stops the thread; requests in flight reject with PS_ERR_IO. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#fail(worker, 'the flush worker was closed');
    await worker.terminate();
  }

  #spawn(): Worker {
    const worker = new Worker(this.#workerModule);
    worker.unref();
    const forward = (spec: string) => worker.postMessage({ kind: 'failpoints', spec } satisfies ConfigureFailpointsRequest);
    const active = formatFailpoints(listFailpoints());
    if (active !== '') forward(active);
    assert(this.#unfollowFailpoints === undefined, 'one flush thread follows the failpoints at a time');
    this.#unfollowFailpoints = followFailpoints(forward);
    worker.on('message', (response: FlushWorkerResponse) => this.#answer(worker, response));
    worker.on('error', (error) => this.#fail(worker, `the flush thread crashed: ${error.message}`));
    worker.on('messageerror', (error) => this.#fail(worker, `a flush thread message failed to deserialize: ${error.message}`));
    worker.on('exit', (code) => this.#fail(worker, `the flush thread exited with code ${code}`));
    this.#worker = worker;
    return worker;
  }

  #answer(worker: Worker, response: FlushWorkerResponse): void {
    const request = this.#inFlight.get(response.id);
    assert(request !== undefined, 'a flush thread answers only requests in flight');
    this.#inFlight.delete(response.id);
    if (this.#inFlight.size === 0) worker.unref();
    if (response.kind === 'written') request.resolve(response.finished);
    else request.reject(reviveError(response.error));
  }

  /** Drops a dead (or closing) thread: its requests fail and their temp files are removed. */
  #fail(worker: Worker, reason: string): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#unfollowFailpoints?.();
    this.#unfollowFailpoints = undefined;
    void worker.terminate();
    const requests = [...this.#inFlight.values()];
    this.#inFlight.clear();
    for (const request of requests) {
      void this.#fs.unlink(request.tempPath).catch(() => undefined);
      request.reject(new StrataError('PS_ERR_IO', `layer flush failed: ${reason}`, { temp_path: request.tempPath }));
    }
  }
}

let defaultWorker: LayerFlushWorker | undefined;

/**
 * The flush worker shared by every store of this thread, created on first use. A resource, not
 * configuration: it holds no options a caller could vary, and it is unref'd while idle.
 */
export function defaultLayerFlushWorker(): LayerFlushWorker {
  defaultWorker ??= new LayerFlushWorker();
  return defaultWorker;
}
