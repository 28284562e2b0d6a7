/**
 * The on-disk TimelineStore: an open in-memory layer, frozen layers being flushed, and the delta
 * and image layer files of one timeline directory, searched through one LayerMap.
 *
 *   put ──► open InMemoryLayer ──flush(upTo)──► frozen InMemoryLayer ──write──► delta file
 *                (readable)          freeze is        (readable)        crash-safe, then it
 *                                    synchronous                        replaces the frozen layer
 *
 * The flush pipeline (the ingest thread only freezes, hands over, and swaps):
 *
 *   INGEST THREAD                                      FLUSH THREAD (flush-worker.ts,
 *                                                      workers/layer-flush-thread.ts)
 *   flush(upTo)
 *    ├─ freeze open layer, new open layer   (sync, µs)
 *    └─ drain pending, oldest first:
 *        1 snapshotFrozenLayer              time-sliced (flushSliceMs, then setImmediate):
 *          (delta-layer-snapshot.ts)        walk versions in (key, LSN) order into typed
 *                                           arrays; copy chunks into SharedArrayBuffers
 *        2 postMessage ──────────────────────────────► writeDeltaLayerSnapshot (delta-layer.ts)
 *          (arrays transferred,                        gather blobs, CRC-32C each, fill index,
 *           chunk copies shared)                       temp file, append, header, footer,
 *                                                      fsync, rename, fsync directory
 *        3 await ◄──────────── 'written' {fileName} ──┤ or 'failed' {StrataError PS_ERR_IO}
 *        4 openDeltaLayer (verifies the file)          (a crashed thread fails the request with
 *        5 layerMap.replace(frozen, file)               PS_ERR_IO, removes its temp file, and
 *        6 disk_consistent_lsn = upTo                   is replaced on the next request)
 *
 * While 1-4 run, the frozen layer stays in the layer map and readable; it leaves only at 5. With an
 * injected Fs (tests) or `flushThread: 'inline'`, step 2 runs writeDeltaLayerSnapshot on the ingest
 * thread instead, through that Fs.
 *
 * flush(upToLsn) freezes the open layer at once (later puts go to a new open layer), queues it,
 * and writes queued layers oldest first. disk_consistent_lsn advances only past layers whose file
 * is durable; a failed write leaves the frozen layer readable and queued, and the next flush
 * retries it first, so disk_consistent_lsn never skips a lost layer. At most
 * `limits.frozenLayersMax` layers may wait; beyond that flush rejects with PS_ERR_IO.
 *
 * Metadata: flush does NOT write the timeline metadata file; the caller persists
 * disk_consistent_lsn (timeline-metadata.ts) after flush resolves. `open` accepts the persisted
 * value and takes the maximum with what the layer files prove (a crash between a layer write and
 * the metadata write loses nothing).
 *
 * After reopening, everything flushed is readable; values put after the last flush are gone (the
 * walreceiver re-streams WAL from disk_consistent_lsn).
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Key } from '../keys.js';
import { limits } from '../limits.js';
import { formatLsn, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import { removeTempFiles } from './crashsafe.js';
import { openDeltaLayer, writeDeltaLayerSnapshot } from './delta-layer.js';
import { snapshotFrozenLayer } from './delta-layer-snapshot.js';
import { FileHandleCache } from './file-handle-cache.js';
import { defaultLayerFlushWorker, type LayerFlushWorker } from './flush-worker.js';
import { nodeFs, type Fs } from './fs.js';
import { ImageImport } from './image-import.js';
import { openImageLayer, writeImageLayer, type ImageEntries } from './image-layer.js';
import { InMemoryLayer } from './in-memory-layer.js';
import type { LayerFileReader } from './layer-file-reader.js';
import type { FinishedLayerFile } from './layer-file-writer.js';
import { LayerMap } from './layer-map.js';
import { parseLayerName } from './layer-name.js';
import type { TimelineStore } from './types.js';
import type { ReconstructData, Value } from '../value.js';
import type { ValueWriter } from './value-codec.js';

export interface LayeredTimelineStoreOptions {
  directory: string;
  logger: Logger;
  fs?: Fs;
  /** Open-layer size past which `shouldFlush` turns true (checkpoint_distance). */
  checkpointDistanceBytes?: number;
  /** disk_consistent_lsn from the timeline metadata, when the caller has one. */
  diskConsistentLsn?: Lsn;
  fileHandlesMax?: number;
  imageLayerBytesTarget?: number;
  inMemoryChunkBytes?: number;
  /**
   * Where delta layer files are written: 'worker' (the default with the real file system) on a
   * flush thread, 'inline' on this thread through `fs` (the default when `fs` is injected).
   */
  flushThread?: 'worker' | 'inline';
  /** The flush thread to use with 'worker'; default: this thread's shared one. */
  flushWorker?: LayerFlushWorker;
  /** Longest synchronous step of a flush hand-over before it yields to the event loop. */
  flushSliceMs?: number;
}

/** A few ms: long enough that yielding costs nothing, short enough that ingest never stalls. */
const FLUSH_SLICE_MS_DEFAULT = 4;

interface PendingFlush {
  layer: InMemoryLayer | undefined;
  upToLsn: Lsn;
}

export class LayeredTimelineStore implements TimelineStore {
  readonly directory: string;
  readonly #fs: Fs;
  readonly #logger: Logger;
  readonly #handles: FileHandleCache;
  readonly #layerMap = new LayerMap();
  readonly #files = new Map<string, LayerFileReader>();
  readonly #checkpointDistanceBytes: number;
  readonly #imageLayerBytesTarget: number;
  readonly #chunkBytes: number;
  /** undefined: write inline through #fs. */
  readonly #flushWorker: LayerFlushWorker | undefined;
  readonly #flushSliceMs: number;
  #open: InMemoryLayer;
  #pending: PendingFlush[] = [];
  #flushTail: Promise<void> = Promise.resolve();
  #lastPutLsn: Lsn = 0;
  #diskConsistentLsn: Lsn = 0;
  #closed = false;

  private constructor(options: LayeredTimelineStoreOptions, fs: Fs) {
    this.directory = options.directory;
    this.#fs = fs;
    this.#logger = options.logger;
    this.#handles = new FileHandleCache(fs, options.fileHandlesMax ?? limits.layerFileHandlesMax);
    this.#checkpointDistanceBytes = options.checkpointDistanceBytes ?? limits.checkpointDistanceBytesDefault;
    this.#imageLayerBytesTarget = options.imageLayerBytesTarget ?? limits.imageLayerBytesTarget;
    this.#chunkBytes = options.inMemoryChunkBytes ?? limits.inMemoryLayerChunkBytes;
    const flushThread = options.flushThread ?? (options.fs === undefined || options.fs === nodeFs ? 'worker' : 'inline');
    this.#flushWorker = flushThread === 'worker' ? (options.flushWorker ?? defaultLayerFlushWorker()) : undefined;
    this.#flushSliceMs = options.flushSliceMs ?? FLUSH_SLICE_MS_DEFAULT;
    assert(this.#flushSliceMs > 0, 'a flush slice is positive');
    assert(this.#checkpointDistanceBytes > 0 && this.#imageLayerBytesTarget > 0, 'storage sizes must be positive');
    this.#open = this.#newOpenLayer();
  }

  /** Opens (creating if needed) a timeline directory: removes temp files, verifies every layer file. */
  static async open(options: LayeredTimelineStoreOptions): Promise<LayeredTimelineStore> {
    const store = new LayeredTimelineStore(options, options.fs ?? nodeFs);
    try {
      await store.#load(options.diskConsistentLsn ?? 0);
    } catch (error) {
      await store.#handles.close();
      throw error;
    }
    return store;
  }

  async #load(persistedDiskConsistentLsn: Lsn): Promise<void> {
    await this.#fs.mkdirRecursive(this.directory);
    const removed = await removeTempFiles(this.#fs, this.directory);
    if (removed.length > 0) this.#logger.info({ removed }, 'removed temp files of interrupted writes');
    let diskConsistentLsn = persistedDiskConsistentLsn;
    for (const fileName of (await this.#fs.readdir(this.directory)).sort()) {
      const name = parseLayerName(fileName);
      if (name === undefined) continue;
      const path = join(this.directory, fileName);
      const reader = name.kind === 'delta' ? await openDeltaLayer(path, name, this.#handles) : await openImageLayer(path, name, this.#handles);
      this.#addFile(fileName, reader);
      this.#layerMap.add(reader);
      diskConsistentLsn = Math.max(diskConsistentLsn, reader.lsnEnd - 1);
    }
    this.#diskConsistentLsn = diskConsistentLsn;
    this.#lastPutLsn = diskConsistentLsn;
    this.#logger.info({ layers: this.#files.size, disk_consistent_lsn: formatLsn(diskConsistentLsn) }, 'opened timeline storage');
  }

  #newOpenLayer(): InMemoryLayer {
    const layer = new InMemoryLayer({ chunkBytes: this.#chunkBytes });
    this.#layerMap.add(layer);
    return layer;
  }

  #addFile(fileName: string, reader: LayerFileReader): void {
    assert(!this.#files.has(fileName), `layer file ${fileName} is already in the layer map`);
    this.#files.set(fileName, reader);
  }

  get lastPutLsn(): Lsn { return this.#lastPutLsn; }
  get diskConsistentLsn(): Lsn { return this.#diskConsistentLsn; }
  get openLayerBytes(): number { return this.#open.bytesHeld; }
  /** True once the open layer passed checkpoint_distance: the timeline should flush. */
  get shouldFlush(): boolean { return this.#open.bytesHeld >= this.#checkpointDistanceBytes; }
  /** Names of the layer files in the map, sorted. */
  get layerFileNames(): string[] { return [...this.#files.keys()].sort(); }
  /** Frozen layers not yet durable. */
  get pendingFlushCount(): number { return this.#pending.length; }

  put(key: Key, lsn: Lsn, value: Value): void {
    assert(!this.#closed, 'put after close');
    assert(lsn >= this.#lastPutLsn, 'LSNs never go backwards');
    this.#open.put(key, lsn, value);
    this.#lastPutLsn = lsn;
  }

  /** The ingest fast path (TimelineStore.putEncoded): forwards to the open in-memory layer. */
  putEncoded(keyHigh: string, keyLow: number, lsn: Lsn, writer: ValueWriter): void {
    assert(!this.#closed, 'put after close');
    assert(lsn >= this.#lastPutLsn, 'LSNs never go backwards');
    this.#open.putEncoded(keyHigh, keyLow, lsn, writer);
    this.#lastPutLsn = lsn;
  }

  /** The ingest fast path (TimelineStore.putReferenced): forwards to the open in-memory layer. */
  putReferenced(keyHigh: string, keyLow: number, lsn: Lsn, shape: number, hole: number, source: Uint8Array, start: number, length: number): void {
    assert(!this.#closed, 'put after close');
    assert(lsn >= this.#lastPutLsn, 'LSNs never go backwards');
    this.#open.putReferenced(keyHigh, keyLow, lsn, shape, hole, source, start, length);
    this.#lastPutLsn = lsn;
  }

  getReconstructData(key: Key, lsn: Lsn): Promise<ReconstructData | undefined> {
    assert(!this.#closed, 'read after close');
    return this.#layerMap.getReconstructData(key, lsn);
  }

  /** Keys in [start, end) with any value at or below `lsn`, sorted. */
  keysInRange(start: Key, end: Key, lsn: Lsn): Promise<Key[]> {
    assert(!this.#closed, 'read after close');
    assert(start <= end, 'key range start must not exceed its end');
    return Promise.resolve(this.#layerMap.keysInRange(start, end, lsn));
  }

  flush(upToLsn: Lsn): Promise<Lsn> {
    assert(!this.#closed, 'flush after close');
    assert(upToLsn >= this.#open.lsnMax, 'flush covers every value put so far');
    if (this.#pending.length >= limits.frozenLayersMax) {
      return Promise.reject(new StrataError('PS_ERR_IO', `${this.#pending.length} frozen layers wait for a flush that keeps failing`, { directory: this.directory }));
    }
    let layer: InMemoryLayer | undefined;
    if (!this.#open.isEmpty) {
      layer = this.#open;
      layer.freeze(upToLsn + 1);
      this.#layerMap.invalidateOrder();
      this.#open = this.#newOpenLayer();
    }
    this.#pending.push({ layer, upToLsn });
    const run = this.#flushTail.catch(() => undefined).then(() => this.#drainPending());
    this.#flushTail = run;
    return run.then(() => this.#diskConsistentLsn);
  }

  async #drainPending(): Promise<void> {
    for (let next = this.#pending[0]; next !== undefined; next = this.#pending[0]) {
      if (next.layer !== undefined) await this.#writeFrozen(next.layer);
      assert(this.#pending[0] === next, 'only the drain removes pending flushes');
      this.#pending.shift();
      this.#diskConsistentLsn = Math.max(this.#diskConsistentLsn, next.upToLsn);
    }
  }

  async #writeFrozen(layer: InMemoryLayer): Promise<void> {
    const startedMs = Date.now();
    const finished = await this.#writeDeltaFile(layer);
    assert(finished.entryCount === layer.versionCount, 'the file holds every version of the layer');
    const name = parseLayerName(finished.fileName);
    assert(name !== undefined && name.kind === 'delta', 'a written delta layer name parses back');
    const reader = await openDeltaLayer(finished.path, name, this.#handles);
    assert(reader.entryCount === layer.versionCount, 'the reopened file holds every version');
    this.#addFile(finished.fileName, reader);
    this.#layerMap.replace(layer, reader);
    this.#logger.info({ layer: finished.fileName, entries: finished.entryCount, bytes: finished.fileBytes, ms: Date.now() - startedMs }, 'flushed in-memory layer');
  }

  /** Steps 1-3 of the pipeline in the header: snapshot (time-sliced), then the write, here or there. */
  async #writeDeltaFile(layer: InMemoryLayer): Promise<FinishedLayerFile> {
    const worker = this.#flushWorker;
    const snapshot = await snapshotFrozenLayer(layer, { shareMemory: worker !== undefined, sliceMs: this.#flushSliceMs });
    if (worker !== undefined) return worker.writeDelta(this.directory, snapshot);
    return writeDeltaLayerSnapshot({ fs: this.#fs, directory: this.directory, snapshot });
  }

  /**
   * Bulk import of images at `lsn` (the base backup), streamed to image layer files so it never
   * sits in memory. Keys must be strictly ascending. Requires an empty open layer and no pending
   * flush, and `lsn` ≥ lastPutLsn. Advances diskConsistentLsn and lastPutLsn to `lsn`. If it fails
   * half-way, files already written remain: the caller discards the timeline directory.
   */
  async importImages(lsn: Lsn, entries: ImageEntries): Promise<{ files: number; entries: number }> {
    assert(!this.#closed, 'import after close');
    await this.#flushTail.catch(() => undefined);
    assert(this.#open.isEmpty && this.#pending.length === 0, 'import into a store with unflushed values');
    assert(lsn >= this.#lastPutLsn, 'import LSN must not be below values already put');
    const finished = await writeImageLayer({ fs: this.#fs, directory: this.directory, lsn, entries, targetFileBytes: this.#imageLayerBytesTarget });
    let count = 0;
    for (const file of finished) {
      const name = parseLayerName(file.fileName);
      assert(name !== undefined && name.kind === 'image', 'a written image layer name parses back');
      const reader = await openImageLayer(file.path, name, this.#handles);
      this.#addFile(file.fileName, reader);
      this.#layerMap.add(reader);
      count += file.entryCount;
    }
    this.#diskConsistentLsn = Math.max(this.#diskConsistentLsn, lsn);
    this.#lastPutLsn = Math.max(this.#lastPutLsn, lsn);
    this.#logger.info({ files: finished.length, entries: count, lsn: formatLsn(lsn) }, 'imported images');
    return { files: finished.length, entries: count };
  }

  /**
   * Starts a streamed bulk import of images at `lsn` (image-import.ts, the base backup): its image
   * layer files are written as the images arrive, under temp names, and join the layer map
   * together when the import commits, which also advances diskConsistentLsn and lastPutLsn to
   * `lsn`. Nothing goes through the open layer, so nothing is left to flush afterwards. Requires
   * an empty open layer, no pending flush and `lsn` ≥ lastPutLsn, and no puts until it commits.
   */
  async beginImageImport(lsn: Lsn, options: { sortBufferBytes?: number } = {}): Promise<ImageImport> {
    assert(!this.#closed, 'import after close');
    await this.#flushTail.catch(() => undefined);
    assert(this.#open.isEmpty && this.#pending.length === 0, 'import into a store with unflushed values');
    assert(lsn >= this.#lastPutLsn, 'import LSN must not be below values already put');
    return new ImageImport({
      fs: this.#fs, directory: this.directory, lsn, logger: this.#logger, targetFileBytes: this.#imageLayerBytesTarget,
      sortBufferBytes: options.sortBufferBytes ?? limits.importSortBufferBytes,
      publish: (files) => this.#publishImport(lsn, files),
    });
  }

  /** ImageImport's last step: opens (verifies) every file, then adds them all to the map at once. */
  async #publishImport(lsn: Lsn, files: readonly FinishedLayerFile[]): Promise<void> {
    assert(!this.#closed && this.#open.isEmpty && this.#lastPutLsn <= lsn, 'nothing was put while the import ran');
    const readers: Array<[string, LayerFileReader]> = [];
    for (const file of files) {
      const name = parseLayerName(file.fileName);
      assert(name !== undefined && name.kind === 'image' && name.lsn === lsn, 'an imported file is an image layer at the import LSN');
      readers.push([file.fileName, await openImageLayer(file.path, name, this.#handles)]);
    }
    for (const [fileName, reader] of readers) {
      this.#addFile(fileName, reader);
      this.#layerMap.add(reader);
    }
    this.#diskConsistentLsn = Math.max(this.#diskConsistentLsn, lsn);
    this.#lastPutLsn = Math.max(this.#lastPutLsn, lsn);
  }

  /** Waits for running flushes (their errors are the flush callers'), then releases file handles. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushTail.catch(() => undefined);
    await this.#handles.close();
  }
}
