/**
 * The WAL decode stage: WAL bytes in, PackedRecords (packed-records.ts) out, on decode threads
 * (workers/wal-decode-thread.ts) so that ingest runs in parallel with decoding.
 *
 *   walreceiver / bench ──bytes or file names──► decode thread ──PackedRecords──► ingest thread
 *                                                (page headers, CRC-32C,          (WalIngest.ingestPacked:
 *                                                 record and block headers)        keys, sizes, layer)
 *
 * WHY: decoding (validating ~200 MB of WAL, a CRC over every byte, every record header) and
 * ingest each cost about as much as PostgreSQL's whole replay of the same WAL on one core; on two
 * threads they overlap. Batches cost nothing to hand over: their columns are transferred and the
 * WAL bytes they point into are SharedArrayBuffers, which the in-memory layer then keeps by
 * reference until its flush. Measured in docs/benchmarks.md.
 *
 * Two ways to decode, one interface (WalDecoding): InlineWalDecoding on the caller's thread (tests,
 * tools, `wal_decode_threads = 0`), and sessions of a WalDecodePool. A stream session answers
 * `decode(bytes)` in order with the records those bytes completed; the caller keeps one request in
 * flight while it ingests the previous answer (walreceiver.ts). A files session streams the
 * batches of segment files with a bounded read-ahead (credits).
 *
 * Identity: structured clone gives every batch new SharedArrayBuffer objects for memory an
 * earlier batch already brought; the thread numbers its buffers and this side hands out the first
 * object received for each number (source-identity.ts), so consumers that tell buffers apart by
 * identity (the in-memory layer, which charges each buffer once) see one object per buffer.
 *
 * Failures: a decode error fails its session (the caller sees the decoder's StrataError, e.g.
 * PS_ERR_WAL_CORRUPT); a thread that dies fails every session on it with PS_ERR_IO and is replaced
 * by the next session opened on it. Bounds: requests in flight per stream session, credits per
 * files session, sessions per thread.
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import { assert } from '../assert.js';
import { reviveError, StrataError } from '../errors.js';
import { WAL_SEGMENT_SIZE, type Lsn } from '../lsn.js';
import { PackedRecordsBuilder, packedRecordsProblem, type PackedRecords } from './packed-records.js';
import type { WalDecodeRequest, WalDecodeResponse } from './wal-decode-protocol.js';
import { SourceCanonicalizer } from './source-identity.js';
import { WalStreamDecoder } from './wal-decoder.js';

/** Decode requests a stream session may have in flight. */
const STREAM_REQUESTS_MAX = 8;
/** Batches a files session reads ahead of its consumer. */
const FILE_CREDITS_DEFAULT = 4;
const SESSIONS_PER_THREAD_MAX = 4096;

/** One stream of WAL bytes being decoded, in order. */
export interface WalDecoding {
  /**
   * Feeds the next WAL bytes (contiguous with the previous ones; the caller may reuse `bytes`
   * afterwards) and resolves with the records they completed (possibly none). Rejects with the
   * decoder's error; the session is then unusable.
   */
  decode(bytes: Uint8Array): Promise<PackedRecords>;
  /** Ends the session (requests in flight are dropped). */
  close(): void;
}

export interface WalStreamOptions {
  segmentSize?: number;
}

/** Decoding on the caller's thread: the same results as a decode thread's, without the thread. */
export class InlineWalDecoding implements WalDecoding {
  readonly #decoder: WalStreamDecoder;
  readonly #builder = new PackedRecordsBuilder();

  constructor(startLsn: Lsn, options: WalStreamOptions = {}) {
    this.#decoder = new WalStreamDecoder(startLsn, { segmentSize: options.segmentSize ?? WAL_SEGMENT_SIZE });
  }

  decode(bytes: Uint8Array): Promise<PackedRecords> {
    try {
      this.#decoder.feed(bytes);
      while (this.#decoder.nextInto(this.#builder)) { /* drained into the builder */ }
      return Promise.resolve(this.#builder.finish());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): void { /* nothing held */ }
}

interface StreamState {
  kind: 'stream';
  sources: SourceCanonicalizer;
  pending: Map<number, { resolve: (batch: PackedRecords) => void; reject: (error: Error) => void }>;
  failed: Error | undefined;
}

interface FilesState {
  kind: 'files';
  sources: SourceCanonicalizer;
  ready: PackedRecords[];
  done: boolean;
  failed: Error | undefined;
  wake: (() => void) | undefined;
}

/** A files session delivering to consumer ports: main only learns how it ended. */
interface PortsState {
  kind: 'ports';
  resolve: (records: number) => void;
  reject: (error: Error) => void;
}

export interface WalDecodeThreadOptions {
  /** The compiled thread entry; default dist/workers/wal-decode-thread.js. */
  workerModule?: URL | string;
}

/** One decode thread and its sessions (see the header). */
export class WalDecodeThread {
  readonly #workerModule: URL | string;
  readonly #sessions = new Map<number, StreamState | FilesState | PortsState>();
  #worker: Worker | undefined;
  /** Resolves when the current thread said 'ready' (or died: sessions then fail on their own). */
  #ready: Promise<void> = Promise.resolve();
  #nextSession = 1;
  #nextRequest = 1;
  #closed = false;

  constructor(options: WalDecodeThreadOptions = {}) {
    this.#workerModule = options.workerModule ?? new URL('../../workers/wal-decode-thread.js', import.meta.url);
  }

  get sessionCount(): number { return this.#sessions.size; }

  /**
   * Starts the thread now (otherwise the first session does) and resolves when it is ready, so
   * that its start-up (loading modules, ~50 ms) is not on the first request's path.
   */
  warm(): Promise<void> {
    assert(!this.#closed, 'warm after close');
    this.#worker ??= this.#spawn();
    return this.#ready;
  }

  /** A stream session decoding from `startLsn` (a page boundary or record start). */
  openStream(startLsn: Lsn, options: WalStreamOptions = {}): WalDecoding {
    const { session, worker } = this.#open();
    const state: StreamState = { kind: 'stream', sources: new SourceCanonicalizer(), pending: new Map(), failed: undefined };
    this.#sessions.set(session, state);
    this.#post(worker, { kind: 'open', session, startLsn, segmentSize: options.segmentSize ?? WAL_SEGMENT_SIZE });
    return {
      decode: (bytes) => {
        if (state.failed !== undefined) return Promise.reject(state.failed);
        if (!this.#sessions.has(session)) return Promise.reject(new StrataError('PS_ERR_BAD_REQUEST', 'WAL decode session is closed'));
        if (state.pending.size >= STREAM_REQUESTS_MAX) {
          return Promise.reject(new StrataError('PS_ERR_MAILBOX_FULL', `${state.pending.size} WAL decode requests already in flight`));
        }
        const id = this.#nextRequest++;
        const copy = new Uint8Array(bytes);
        return new Promise<PackedRecords>((resolve, reject) => {
          state.pending.set(id, { resolve, reject });
          this.#worker!.ref();
          this.#post(this.#worker!, { kind: 'decode', session, id, bytes: copy.buffer }, [copy.buffer]);
        });
      },
      close: () => {
        if (!this.#sessions.delete(session)) return;
        this.#post(this.#worker, { kind: 'close', session });
        this.#unrefIfIdle();
      },
    };
  }

  /** The PackedRecords of WAL segment files (as readWalFilePackedBatches), decoded on the thread. */
  async *readFiles(
    paths: readonly string[],
    options: { startLsn?: Lsn; endLsn?: Lsn; segmentSize?: number; credits?: number } = {},
  ): AsyncGenerator<PackedRecords> {
    const { session, worker } = this.#open();
    const state: FilesState = { kind: 'files', sources: new SourceCanonicalizer(), ready: [], done: false, failed: undefined, wake: undefined };
    this.#sessions.set(session, state);
    const credits = options.credits ?? FILE_CREDITS_DEFAULT;
    assert(Number.isInteger(credits) && credits >= 1, 'a files session reads at least one batch ahead');
    worker.ref();
    this.#post(worker, {
      kind: 'files', session, paths: [...paths], startLsn: options.startLsn, endLsn: options.endLsn,
      segmentSize: options.segmentSize ?? WAL_SEGMENT_SIZE, credits,
    });
    try {
      for (;;) {
        const batch = state.ready.shift();
        if (batch !== undefined) {
          this.#post(this.#worker, { kind: 'credit', session });
          yield batch;
          continue;
        }
        if (state.failed !== undefined) throw state.failed;
        if (state.done) return;
        await new Promise<void>((resolve) => { state.wake = resolve; });
      }
    } finally {
      if (this.#sessions.delete(session) && !state.done) this.#post(this.#worker, { kind: 'close', session });
      this.#unrefIfIdle();
    }
  }

  /**
   * Decodes WAL segment files (as readFiles) and delivers the batches straight to `ports`, the
   * consumers on other threads (WalDecodePortMessage: every batch to every port, each port
   * returning its own credits), so they do not pass through this thread. Resolves with the number
   * of records decoded once every batch and `end` were posted; rejects when decoding failed (the
   * ports got `failed`) or the thread died (the ports are closed with it).
   */
  deliverFiles(
    paths: readonly string[],
    ports: MessagePort[],
    options: { startLsn?: Lsn; endLsn?: Lsn; segmentSize?: number; credits?: number } = {},
  ): Promise<number> {
    assert(ports.length >= 1, 'deliverFiles needs a consumer port');
    const credits = options.credits ?? FILE_CREDITS_DEFAULT;
    assert(Number.isInteger(credits) && credits >= 1, 'a files session reads at least one batch ahead');
    const { session, worker } = this.#open();
    return new Promise<number>((resolve, reject) => {
      this.#sessions.set(session, { kind: 'ports', resolve, reject });
      worker.ref();
      this.#post(worker, {
        kind: 'files', session, paths: [...paths], startLsn: options.startLsn, endLsn: options.endLsn,
        segmentSize: options.segmentSize ?? WAL_SEGMENT_SIZE, credits, ports,
      }, ports);
    });
  }

  /** Stops the thread; every session fails with PS_ERR_IO. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#fail(worker, 'the WAL decode thread was closed');
    await worker.terminate();
  }

  #open(): { session: number; worker: Worker } {
    assert(!this.#closed, 'session opened after close');
    if (this.#sessions.size >= SESSIONS_PER_THREAD_MAX) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', `${this.#sessions.size} WAL decode sessions already open on one thread`);
    }
    const worker = this.#worker ?? this.#spawn();
    return { session: this.#nextSession++, worker };
  }

  #post(worker: Worker | undefined, request: WalDecodeRequest, transfer: (ArrayBuffer | MessagePort)[] = []): void {
    if (worker === undefined) return; // The thread died; its sessions have already failed.
    worker.postMessage(request, transfer);
  }

  #spawn(): Worker {
    const worker = new Worker(this.#workerModule, { resourceLimits: { maxYoungGenerationSizeMb: 64 } });
    worker.unref();
    let markReady: () => void = () => undefined;
    this.#ready = new Promise<void>((resolve) => { markReady = resolve; });
    worker.on('message', (response: WalDecodeResponse) => {
      if (response.kind === 'ready') markReady();
      else this.#answer(response);
    });
    worker.once('exit', () => markReady());
    worker.on('error', (error) => this.#fail(worker, `the WAL decode thread crashed: ${error.message}`));
    worker.on('messageerror', (error) => this.#fail(worker, `a WAL decode thread message failed to deserialize: ${error.message}`));
    worker.on('exit', (code) => this.#fail(worker, `the WAL decode thread exited with code ${code}`));
    this.#worker = worker;
    return worker;
  }

  #answer(received: Exclude<WalDecodeResponse, { kind: 'ready' }>): void {
    const state = this.#sessions.get(received.session);
    if (state === undefined) return; // Closed meanwhile.
    let response = received;
    if (response.kind === 'decoded' || response.kind === 'batch') {
      const problem = packedRecordsProblem(response.batch);
      const sources = problem === undefined && state.kind !== 'ports' && response.sourceIds.length === response.batch.sources.length
        ? state.sources.canonical(response.batch.sources, response.sourceIds) : undefined;
      if (sources === undefined) {
        const reason = problem ?? 'its source ids do not match its sources';
        this.#failSession(response.session, new StrataError('PS_ERR_IO', `WAL decode thread sent a malformed batch: ${reason}`));
        return;
      }
      // The same memory as one object per buffer (source-identity.ts), so the in-memory layer
      // registers and charges each decoder buffer once.
      response = { ...response, batch: { ...response.batch, sources } };
    }
    switch (response.kind) {
      case 'decoded': {
        assert(state.kind === 'stream', 'decoded answers a stream session');
        const request = state.pending.get(response.id);
        assert(request !== undefined, 'a decode answer matches a request in flight');
        state.pending.delete(response.id);
        this.#unrefIfIdle();
        request.resolve(response.batch);
        return;
      }
      case 'batch':
        assert(state.kind === 'files', 'batches answer a files session (a ports session sends them elsewhere)');
        state.ready.push(response.batch);
        break;
      case 'end':
        assert(state.kind === 'files' || state.kind === 'ports', 'end answers a files session');
        if (state.kind === 'files') state.done = true;
        break;
      case 'failed':
        this.#failSession(response.session, reviveError(response.error));
        return;
    }
    if (state.kind === 'ports') {
      if (response.kind === 'end') {
        this.#sessions.delete(response.session);
        this.#unrefIfIdle();
        state.resolve(response.records);
      }
      return;
    }
    if (state.kind === 'files') {
      state.wake?.();
      state.wake = undefined;
    }
  }

  #failSession(session: number, error: Error): void {
    const state = this.#sessions.get(session);
    if (state === undefined) return;
    if (state.kind !== 'ports') state.failed = error;
    if (state.kind === 'stream') {
      const requests = [...state.pending.values()];
      state.pending.clear();
      for (const request of requests) request.reject(error);
    } else if (state.kind === 'ports') {
      this.#sessions.delete(session);
      state.reject(error);
    } else {
      state.wake?.();
      state.wake = undefined;
    }
    this.#unrefIfIdle();
  }

  #unrefIfIdle(): void {
    const busy = [...this.#sessions.values()].some((state) =>
      (state.kind === 'stream' ? state.pending.size > 0 : state.kind === 'ports' || (!state.done && state.failed === undefined)));
    if (!busy) this.#worker?.unref();
  }

  /** Drops a dead (or closing) thread: every session on it fails. */
  #fail(worker: Worker, reason: string): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    void worker.terminate();
    for (const session of [...this.#sessions.keys()]) this.#failSession(session, new StrataError('PS_ERR_IO', `WAL decoding failed: ${reason}`));
  }
}

/** `threads` decode threads; sessions are spread over them in turn. */
export class WalDecodePool {
  readonly #threads: WalDecodeThread[];
  #next = 0;

  constructor(threads: number, options: WalDecodeThreadOptions = {}) {
    assert(Number.isInteger(threads) && threads >= 1 && threads <= 64, 'a decode pool has 1..64 threads');
    this.#threads = Array.from({ length: threads }, () => new WalDecodeThread(options));
  }

  async warm(): Promise<void> {
    await Promise.all(this.#threads.map((thread) => thread.warm()));
  }

  openStream(startLsn: Lsn, options: WalStreamOptions = {}): WalDecoding {
    const thread = this.#threads[this.#next++ % this.#threads.length]!;
    return thread.openStream(startLsn, options);
  }

  readFiles(paths: readonly string[], options: { startLsn?: Lsn; endLsn?: Lsn; segmentSize?: number; credits?: number } = {}): AsyncGenerator<PackedRecords> {
    const thread = this.#threads[this.#next++ % this.#threads.length]!;
    return thread.readFiles(paths, options);
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((thread) => thread.close()));
  }
}

let defaultThread: WalDecodeThread | undefined;

/**
 * The decode thread shared by every walreceiver of this (actor) thread, created on first use: one
 * decode thread per actor thread, so the pipeline's threads are a fixed set too. A resource, not
 * configuration; it is unref'd while no decode is in flight, so it never keeps a process alive.
 */
export function defaultWalDecodeThread(): WalDecodeThread {
  defaultThread ??= new WalDecodeThread();
  return defaultThread;
}
