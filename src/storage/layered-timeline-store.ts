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
import { AssertionError } from 'node:assert';
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
import { dataOf, layerGroup, LayerMap, readGrouped, reconstructDataOf } from './layer-map.js';
import { formatLayerName, KEY_SPACE_END, KEY_SPACE_START, parseLayerName } from './layer-name.js';
import { compactL0, compactionLsnRange } from './compaction.js';
import { readSmallFile, writeFileCrashSafe } from './crashsafe.js';
import { LayerFileKind } from './layer-file-format.js';
import { LayerFileWriter } from './layer-file-writer.js';
import { ReadGate } from './read-gate.js';
import { LayerIndexCache } from './layer-index-cache.js';
import type { SearchableLayer, VersionRef } from './searchable-layer.js';
import type { ReadOptions, TimelineStore } from './types.js';
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
  /**
   * The timeline this one branched from, and the branch point: versions at or below `lsn` that
   * this store does not hold are read from the ancestor's store (same thread, read only).
   */
  ancestor?: { store: LayeredTimelineStore; lsn: Lsn };
  /** Called with the number of layers each read searched (read amplification metrics). */
  observeLayersVisited?: (layers: number) => void;
  /** Bytes of layer file indexes kept in memory (least recently used dropped and re-read). */
  layerIndexBytesMax?: number;
  /** Runs at named crash-relevant steps of compaction, image creation and GC (failpoints). */
  checkpointHook?: (step: StorageStep) => Promise<void>;
}

/** Crash-relevant steps of the maintenance work, named as their failpoints. */
export type StorageStep =
  | 'compaction-before-write' | 'compaction-after-write-before-swap' | 'compaction-mid-delete'
  | 'image-creation-before-write' | 'gc-mid-delete';

/** The marker naming an unfinished compaction (its inputs' LSN range), see #load. */
export const COMPACTION_MARKER_FILE = 'compaction-in-progress';

/** What a layer file looks like in the layer listing API. */
export interface LayerDescription {
  kind: 'Delta' | 'Image';
  l0: boolean;
  layer_file_name: string;
  layer_file_size: number;
  lsn_start: Lsn;
  lsn_end: Lsn;
  key_start: Key;
  key_end: Key;
}

export interface CompactionOutcome {
  inputs: number;
  outputs: number;
  entries: number;
  bytesWritten: number;
  lsnStart: Lsn;
  lsnEnd: Lsn;
}

export interface GcOptions {
  /** Layers holding versions above this are needed (gc_horizon below last_record_lsn). */
  horizonCutoffLsn: Lsn;
  /** Layers holding versions above this are needed (pitr_interval). */
  pitrCutoffLsn: Lsn;
  /** Branch points of child timelines: reads at each must keep working. */
  retainLsns: readonly Lsn[];
}

export interface GcOutcome {
  layers_total: number;
  layers_needed_by_cutoff: number;
  layers_needed_by_pitr: number;
  layers_needed_by_branches: number;
  layers_not_updated: number;
  layers_removed: number;
}

/** Read amplification buckets: index = layers searched (the last bucket counts everything above). */
const READ_AMP_BUCKETS = 65;

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
  readonly #ancestor: { store: LayeredTimelineStore; lsn: Lsn } | undefined;
  readonly #observeLayersVisited: ((layers: number) => void) | undefined;
  readonly #checkpointHook: ((step: StorageStep) => Promise<void>) | undefined;
  readonly #reads = new ReadGate();
  /** Bounds the memory of layer file indexes (layer-index-cache.ts). */
  readonly #indexes: LayerIndexCache;
  /** Compaction, image creation and GC run one at a time (they swap and delete layer files). */
  #maintenanceTail: Promise<unknown> = Promise.resolve();
  /**
   * LSN range of a compaction that stopped (an I/O error, a failpoint) between writing its marker
   * and removing it: its marker and some outputs may be on disk (#removeFailedCompactionOutputs).
   */
  #failedCompaction: { lsnStart: Lsn; lsnEnd: Lsn } | undefined;
  readonly #readAmplification = new Float64Array(READ_AMP_BUCKETS);

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
    this.#ancestor = options.ancestor;
    this.#indexes = new LayerIndexCache(options.layerIndexBytesMax ?? limits.layerIndexBytesMax);
    this.#observeLayersVisited = options.observeLayersVisited;
    this.#checkpointHook = options.checkpointHook;
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
    await this.#fileSystem('create the timeline directory', () => this.#fs.mkdirRecursive(this.directory));
    const removed = await this.#fileSystem('remove temp files', () => removeTempFiles(this.#fs, this.directory));
    if (removed.length > 0) this.#logger.info({ removed }, 'removed temp files of interrupted writes');
    let diskConsistentLsn = persistedDiskConsistentLsn;
    const leftovers = await this.#interruptedMaintenanceLeftovers();
    if (leftovers.length > 0) {
      await this.#fileSystem('remove files of an interrupted compaction', async () => {
        for (const fileName of leftovers) await this.#fs.unlink(join(this.directory, fileName));
        await this.#fs.syncDirectory(this.directory);
      });
      this.#logger.info({ removed: leftovers }, 'removed layer files left by an interrupted compaction');
    }
    for (const fileName of (await this.#fileSystem('list layer files', () => this.#fs.readdir(this.directory))).sort()) {
      const name = parseLayerName(fileName);
      if (name === undefined) continue;
      const path = join(this.directory, fileName);
      const reader = name.kind === 'delta' ? await openDeltaLayer(path, name, this.#handles, this.#indexes) : await openImageLayer(path, name, this.#handles, this.#indexes);
      this.#addFile(fileName, reader);
      this.#layerMap.add(reader);
      diskConsistentLsn = Math.max(diskConsistentLsn, reader.lsnEnd - 1);
    }
    this.#diskConsistentLsn = diskConsistentLsn;
    this.#lastPutLsn = diskConsistentLsn;
    this.#logger.info({ layers: this.#files.size, disk_consistent_lsn: formatLsn(diskConsistentLsn) }, 'opened timeline storage');
  }

  /**
   * Layer files an interrupted compaction left behind, to delete before loading:
   *  - with the marker present, the compaction had not finished writing: its L1 outputs (the
   *    non-L0 deltas of exactly the marker's LSN range) may be partial, and the L0 inputs are all
   *    still there, so the outputs go (then the marker);
   *  - without it, every L1 output was durable before any input was deleted: L0 files inside an
   *    L1 delta's LSN range are inputs whose deletion was cut short, so they go.
   */
  async #interruptedMaintenanceLeftovers(): Promise<string[]> {
    const names = await this.#fileSystem('list layer files', () => this.#fs.readdir(this.directory));
    const layers = names.map((fileName) => ({ fileName, name: parseLayerName(fileName) }))
      .filter((entry): entry is { fileName: string; name: NonNullable<ReturnType<typeof parseLayerName>> } => entry.name !== undefined);
    const isL0 = (name: NonNullable<ReturnType<typeof parseLayerName>>) => name.kind === 'delta' && name.keyStart === KEY_SPACE_START && name.keyEnd === KEY_SPACE_END;
    if (names.includes(COMPACTION_MARKER_FILE)) {
      const marker = JSON.parse((await readSmallFile(this.#fs, join(this.directory, COMPACTION_MARKER_FILE))).toString('utf8')) as { lsnStart: unknown; lsnEnd: unknown };
      if (typeof marker.lsnStart !== 'number' || typeof marker.lsnEnd !== 'number') {
        throw new StrataError('PS_ERR_IO', `${COMPACTION_MARKER_FILE} in ${this.directory} is corrupt`, { directory: this.directory });
      }
      const partial = layers.filter(({ name }) => name.kind === 'delta' && !isL0(name) && name.lsnStart === marker.lsnStart && name.lsnEnd === marker.lsnEnd);
      return [...partial.map(({ fileName }) => fileName), COMPACTION_MARKER_FILE];
    }
    const l1Ranges = layers.filter(({ name }) => name.kind === 'delta' && !isL0(name)).map(({ name }) => name as { lsnStart: Lsn; lsnEnd: Lsn });
    return layers.filter(({ name }) => name.kind === 'delta' && isL0(name)
      && l1Ranges.some((range) => range.lsnStart <= name.lsnStart && name.lsnEnd <= range.lsnEnd)).map(({ fileName }) => fileName);
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
  /** Bytes held by the frozen layers not yet durable (at most limits.frozenLayersMax of them). */
  get frozenLayerBytes(): number {
    let bytes = 0;
    for (const pending of this.#pending) bytes += pending.layer?.bytesHeld ?? 0;
    return bytes;
  }

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

  async getReconstructData(key: Key, lsn: Lsn, options: ReadOptions = {}): Promise<ReconstructData | undefined> {
    assert(!this.#closed, 'read after close');
    const entered: [ReadGate, number][] = [];
    try {
      return await reconstructDataOf(await this.#collect(key, lsn, entered, options.clientRead === true));
    } finally {
      for (const [gate, epoch] of entered) gate.exit(epoch);
    }
  }

  /**
   * getReconstructData of several keys at one LSN, reading all their values with one readValues
   * call per layer: values of neighbouring keys sit back to back in a file, so a run of pages is a
   * few positioned reads instead of one per page (full backups). Results in key order.
   */
  async getReconstructDataMany(keys: readonly Key[], lsn: Lsn, options: ReadOptions = {}): Promise<(ReconstructData | undefined)[]> {
    assert(!this.#closed, 'read after close');
    const entered: [ReadGate, number][] = [];
    try {
      const perKey: VersionRef[][] = [];
      for (const key of keys) perKey.push(await this.#collect(key, lsn, entered, options.clientRead === true));
      const values = await readGrouped(perKey.flat());
      let at = 0;
      return perKey.map((versions) => {
        const data = dataOf(versions, values.slice(at, at + versions.length));
        at += versions.length;
        return data;
      });
    } finally {
      for (const [gate, epoch] of entered) gate.exit(epoch);
    }
  }

  /**
   * The versions (key, lsn) needs, oldest first, from this store and, where they do not reach an
   * image or will-init record, from the ancestors at their branch points. Enters the read gate of
   * every store it takes refs from (the caller exits them after reading the values).
   */
  async #collect(key: Key, lsn: Lsn, entered: [ReadGate, number][], clientRead: boolean): Promise<VersionRef[]> {
    entered.push([this.#reads, this.#reads.enter()]);
    const own = await this.#layerMap.collect(key, lsn);
    if (clientRead) {
      this.#readAmplification[Math.min(own.layersVisited, READ_AMP_BUCKETS - 1)]! += 1;
      this.#observeLayersVisited?.(own.layersVisited);
    }
    if (own.complete || this.#ancestor === undefined) return own.versions;
    const below = await this.#ancestor.store.#collect(key, Math.min(lsn, this.#ancestor.lsn), entered, clientRead);
    return below.length === 0 ? own.versions : own.versions.length === 0 ? below : [...below, ...own.versions];
  }

  /** Keys in [start, end) with any value at or below `lsn`, sorted (ancestors' included). */
  async keysInRange(start: Key, end: Key, lsn: Lsn): Promise<Key[]> {
    assert(!this.#closed, 'read after close');
    assert(start <= end, 'key range start must not exceed its end');
    const own = await this.#layerMap.keysInRange(start, end, lsn);
    if (this.#ancestor === undefined) return own;
    const below = await this.#ancestor.store.keysInRange(start, end, Math.min(lsn, this.#ancestor.lsn));
    return [...new Set([...below, ...own])].sort();
  }

  /** Client page reads by layers searched (index = layers, last bucket = that many or more), since open. */
  get readAmplification(): readonly number[] { return [...this.#readAmplification]; }
  get ancestorLsn(): Lsn | undefined { return this.#ancestor?.lsn; }
  get l0Count(): number { return this.#layerMap.l0Layers.length; }

  flush(upToLsn: Lsn): Promise<Lsn> {
    try {
      this.freeze(upToLsn);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.flushFrozen();
  }

  /**
   * The synchronous half of flush: freezes the open layer at `upToLsn` (later puts go to a new
   * open layer) and queues it for writing. PS_ERR_IO when too many frozen layers already wait.
   */
  freeze(upToLsn: Lsn): void {
    assert(!this.#closed, 'flush after close');
    assert(upToLsn >= this.#open.lsnMax, 'flush covers every value put so far');
    if (this.#pending.length >= limits.frozenLayersMax) {
      throw new StrataError('PS_ERR_IO', `${this.#pending.length} frozen layers wait for a flush that keeps failing`, { directory: this.directory });
    }
    let layer: InMemoryLayer | undefined;
    if (!this.#open.isEmpty) {
      layer = this.#open;
      layer.freeze(upToLsn + 1);
      this.#layerMap.invalidateOrder();
      this.#open = this.#newOpenLayer();
    }
    this.#pending.push({ layer, upToLsn });
  }

  /** The asynchronous half: writes the queued frozen layers, oldest first; resolves with disk_consistent_lsn. */
  flushFrozen(): Promise<Lsn> {
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
    const reader = await openDeltaLayer(finished.path, name, this.#handles, this.#indexes);
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
   * Declares that nothing happens between the last value put and `lsn` (a branch whose own WAL
   * starts past its branch point: the compute's first record sits at a later LSN). Requires an
   * empty open layer and no pending flush; advances diskConsistentLsn and lastPutLsn.
   */
  async skipEmptyTo(lsn: Lsn): Promise<void> {
    assert(!this.#closed, 'skip after close');
    await this.#flushTail.catch(() => undefined);
    assert(this.#open.isEmpty && this.#pending.length === 0, 'skip over unflushed values');
    assert(lsn >= this.#lastPutLsn, 'skip LSN must not be below values already put');
    this.#diskConsistentLsn = Math.max(this.#diskConsistentLsn, lsn);
    this.#lastPutLsn = lsn;
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
      const reader = await openImageLayer(file.path, name, this.#handles, this.#indexes);
      this.#addFile(file.fileName, reader);
      this.#layerMap.add(reader);
      count += file.entryCount;
    }
    this.#diskConsistentLsn = Math.max(this.#diskConsistentLsn, lsn);
    this.#lastPutLsn = Math.max(this.#lastPutLsn, lsn);
    this.#logger.info({ files: finished.length, entries: count, lsn: formatLsn(lsn) }, 'imported images');
    return { files: finished.length, entries: count };
  }

  /** Runs maintenance work one at a time (compaction, image creation and GC swap and delete files). */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#maintenanceTail.catch(() => undefined).then(work);
    this.#maintenanceTail = run;
    return run;
  }

  /**
   * Runs file-system work outside the crash-safe writers (which code their own errors): a failure
   * (EIO, ENOSPC…) is an operating error, so it becomes PS_ERR_IO naming the action, as every
   * caller of the store expects; assertions and already coded errors pass through unchanged.
   */
  async #fileSystem<T>(action: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StrataError || error instanceof AssertionError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new StrataError('PS_ERR_IO', `${action} in ${this.directory}: ${reason}`, { directory: this.directory }, { cause: error });
    }
  }

  async #step(step: StorageStep): Promise<void> {
    await this.#checkpointHook?.(step);
  }

  /** The layer files, as the layer listing API shows them, newest first. */
  describeLayers(): LayerDescription[] {
    const described: LayerDescription[] = [];
    for (const layer of this.#layerMap.layers) {
      if (layer.kind === 'memory') continue;
      const reader = layer as LayerFileReader;
      described.push({
        kind: layer.kind === 'image' ? 'Image' : 'Delta', l0: layerGroup(layer) === 'l0',
        layer_file_name: reader.description, layer_file_size: reader.fileBytes,
        lsn_start: layer.lsnStart, lsn_end: layer.lsnEnd, key_start: layer.keyStart, key_end: layer.keyEnd,
      });
    }
    return described;
  }

  /** The in-memory layers (open first), as the layer listing API shows them. */
  describeInMemoryLayers(): { lsn_start: Lsn; lsn_end: Lsn | null; bytes: number; frozen: boolean }[] {
    return this.#layerMap.inMemoryLayers.map((layer) => {
      const memory = layer as InMemoryLayer;
      return { lsn_start: memory.isEmpty ? this.#lastPutLsn : memory.lsnStart, lsn_end: memory.isFrozen ? memory.lsnEnd : null, bytes: memory.bytesHeld, frozen: memory.isFrozen };
    });
  }

  /**
   * Merges the L0 files into L1 deltas of about `targetFileBytes`, when there are at least
   * `threshold` of them (compaction.ts). Crash safety: a marker naming the inputs' LSN range is
   * written first; the outputs are written (each crash-safe); the marker is removed (from here on
   * the outputs are the truth); the layer map swaps; the inputs are deleted once no read in flight
   * can use them. #load finishes or undoes whichever step a crash interrupted.
   */
  compactLevel0(options: { threshold: number; targetFileBytes: number }): Promise<CompactionOutcome | undefined> {
    assert(options.threshold >= 1 && options.targetFileBytes > 0, 'compaction settings must be positive');
    return this.#exclusive(async () => {
      assert(!this.#closed, 'compaction after close');
      const inputs = this.#layerMap.l0Layers.filter((layer): layer is LayerFileReader => layer.kind === 'delta') as LayerFileReader[];
      if (inputs.length < options.threshold) return undefined;
      const startedMs = Date.now();
      const range = compactionLsnRange(inputs);
      const markerPath = join(this.directory, COMPACTION_MARKER_FILE);
      await this.#removeFailedCompactionOutputs();
      this.#failedCompaction = range;
      await writeFileCrashSafe(this.#fs, markerPath, Buffer.from(JSON.stringify(range), 'utf8'));
      await this.#step('compaction-before-write');
      let result;
      try {
        result = await compactL0({ fs: this.#fs, directory: this.directory, inputs, targetFileBytes: options.targetFileBytes });
      } catch (error) {
        throw new StrataError('PS_ERR_IO', `compaction of ${inputs.length} L0 layers failed: ${(error as Error).message}`, { directory: this.directory });
      }
      await this.#step('compaction-after-write-before-swap');
      await this.#fileSystem('remove the compaction marker', async () => {
        await this.#fs.unlink(markerPath);
        await this.#fs.syncDirectory(this.directory);
      });
      this.#failedCompaction = undefined;
      const readers: LayerFileReader[] = [];
      for (const output of result.outputs) {
        const name = parseLayerName(output.fileName);
        assert(name !== undefined && name.kind === 'delta', 'a compaction output name parses back');
        readers.push(await openDeltaLayer(output.path, name, this.#handles, this.#indexes));
      }
      for (const reader of readers) {
        this.#addFile(reader.description, reader);
        this.#layerMap.add(reader);
      }
      await this.#removeLayers(inputs, 'compaction-mid-delete');
      const outcome: CompactionOutcome = {
        inputs: inputs.length, outputs: readers.length, entries: result.entries, bytesWritten: result.bytesWritten, lsnStart: range.lsnStart, lsnEnd: range.lsnEnd,
      };
      this.#logger.info({ ...outcome, lsnStart: formatLsn(range.lsnStart), lsnEnd: formatLsn(range.lsnEnd), ms: Date.now() - startedMs }, 'compacted L0 layers');
      return outcome;
    });
  }

  /**
   * Deletes what a failed compaction of this process left: its outputs (L1 deltas of exactly its
   * LSN range; never in the layer map, which they join only after the marker is gone). WHY before
   * the next marker: that marker overwrites the one naming the failed range, and a restart without
   * a marker takes every L1 file for a finished output and deletes the L0 files inside its range,
   * so partial outputs left behind would cost the versions they do not hold. A crash before this
   * is safe: #load removes the outputs the marker on disk names.
   */
  async #removeFailedCompactionOutputs(): Promise<void> {
    const failed = this.#failedCompaction;
    if (failed === undefined) return;
    await this.#fileSystem('remove the outputs of a failed compaction', async () => {
      const partial = (await this.#fs.readdir(this.directory)).filter((fileName) => {
        const name = parseLayerName(fileName);
        return name !== undefined && name.kind === 'delta' && !(name.keyStart === KEY_SPACE_START && name.keyEnd === KEY_SPACE_END)
          && name.lsnStart === failed.lsnStart && name.lsnEnd === failed.lsnEnd && !this.#files.has(fileName);
      });
      for (const fileName of partial) await this.#fs.unlink(join(this.directory, fileName));
      if (partial.length > 0) await this.#fs.syncDirectory(this.directory);
      if (partial.length > 0) this.#logger.info({ removed: partial }, 'removed the outputs of a failed compaction');
    });
    this.#failedCompaction = undefined;
  }

  /** Takes layers out of the map, waits for reads that may use them, then deletes their files. */
  async #removeLayers(layers: readonly LayerFileReader[], step: StorageStep): Promise<void> {
    for (const layer of layers) {
      this.#layerMap.remove(layer);
      this.#files.delete(layer.description);
      layer.forgetIndex();
    }
    await this.#reads.drain();
    let deleted = 0;
    for (const layer of layers) {
      if (deleted === 1) await this.#step(step);
      await this.#handles.forget(layer.path);
      await this.#fileSystem('delete a layer file', () => this.#fs.unlink(layer.path));
      deleted++;
    }
    if (layers.length > 0) await this.#fileSystem('sync the directory after deleting layer files', () => this.#fs.syncDirectory(this.directory));
  }

  /**
   * The highest LSN X such that image layers at X or above cover all of [start, end) (-1 when
   * images do not cover it): reads at or above X of any key in the range stop at an image.
   */
  imageCoverLsn(start: Key, end: Key, below: Lsn = Number.MAX_SAFE_INTEGER): Lsn {
    const images = this.#layerMap.historicLayers
      .filter((layer) => layer.kind === 'image' && layer.keyStart < end && layer.keyEnd > start && layer.lsnStart <= below)
      .sort((left, right) => right.lsnStart - left.lsnStart);
    const ranges: [Key, Key][] = [];
    for (const image of images) {
      ranges.push([image.keyStart, image.keyEnd]);
      if (coversRange(ranges, start, end)) return image.lsnStart;
    }
    return -1;
  }

  /**
   * Delta layer files (L0 and L1) holding versions of keys in [start, end) above `lsn`: those a
   * read of the range may have to apply on top of its newest image. Checked against each file's
   * index, so a layer whose key range spans the partition without holding any of its keys (every
   * L0 does) does not count.
   */
  async deltasAbove(start: Key, end: Key, lsn: Lsn): Promise<number> {
    let count = 0;
    for (const layer of [...this.#layerMap.l0Layers, ...this.#layerMap.historicLayers]) {
      if (layer.kind !== 'delta' || layer.keyStart >= end || layer.keyEnd <= start || layer.lsnEnd - 1 <= lsn) continue;
      const reader = layer as LayerFileReader;
      await reader.acquireIndex();
      try {
        if (reader.hasKeysIn(start, end)) count++;
      } finally {
        reader.releaseIndex();
      }
    }
    return count;
  }

  /** Layer file index memory: resident bytes, budget, and indexes dropped to stay within it. */
  get layerIndexMemory(): { usedBytes: number; budgetBytes: number; resident: number; drops: number } {
    return { usedBytes: this.#indexes.usedBytes, budgetBytes: this.#indexes.budgetBytes, resident: this.#indexes.residentCount, drops: this.#indexes.drops };
  }

  /**
   * Writes one image layer of [keyStart, keyEnd) at `lsn` from `entries` (ascending keys, every
   * key of the keyspace in the range that has a value at `lsn`) and adds it to the layer map.
   * `lsn` must be durable (≤ disk_consistent_lsn). Returns undefined when there was nothing to write
   * or an image of exactly that range and LSN exists already (a retry after a crash).
   */
  writeImageLayer(lsn: Lsn, keyStart: Key, keyEnd: Key, entries: AsyncIterable<readonly [Key, Uint8Array]>): Promise<{ fileName: string; entries: number; bytes: number } | undefined> {
    return this.#exclusive(async () => {
      assert(!this.#closed, 'image creation after close');
      assert(lsn <= this.#diskConsistentLsn, 'image layers are created at a durable LSN');
      const fileName = formatLayerName({ kind: 'image', keyStart, keyEnd, lsn });
      if (this.#files.has(fileName)) return undefined;
      await this.#step('image-creation-before-write');
      const writer = await LayerFileWriter.create(this.#fs, this.directory, LayerFileKind.Image);
      let finished;
      try {
        for await (const [key, bytes] of entries) {
          assert(key >= keyStart && key < keyEnd, 'an image entry lies in the layer range');
          await writer.addImage(key, lsn, bytes);
        }
        if (writer.entryCount === 0) {
          await writer.abort();
          return undefined;
        }
        finished = await writer.finish({ lsnStart: lsn, lsnEnd: lsn + 1, keyStart, keyEnd });
      } catch (error) {
        await writer.abort();
        throw error;
      }
      const name = parseLayerName(finished.fileName);
      assert(name !== undefined && name.kind === 'image', 'an image layer name parses back');
      const reader = await openImageLayer(finished.path, name, this.#handles, this.#indexes);
      this.#addFile(finished.fileName, reader);
      this.#layerMap.add(reader);
      return { fileName: finished.fileName, entries: finished.entryCount, bytes: finished.fileBytes };
    });
  }

  /**
   * Removes the layer files no read at or above the cutoffs, nor at any retained branch point,
   * can need (Neon's rules): a file is kept while it holds versions above either cutoff, while it
   * holds versions at or below a branch point not covered by a newer image at or below that point,
   * and while image layers at or above its end (and at or below the cutoff) do not cover its whole
   * key range. The caller persists the new GC cutoff first (reads below it are refused).
   */
  gc(options: GcOptions): Promise<GcOutcome> {
    return this.#exclusive(async () => {
      assert(!this.#closed, 'gc after close');
      const cutoff = Math.min(options.horizonCutoffLsn, options.pitrCutoffLsn);
      const outcome: GcOutcome = {
        layers_total: 0, layers_needed_by_cutoff: 0, layers_needed_by_pitr: 0, layers_needed_by_branches: 0, layers_not_updated: 0, layers_removed: 0,
      };
      const doomed: LayerFileReader[] = [];
      for (const layer of [...this.#layerMap.l0Layers, ...this.#layerMap.historicLayers]) {
        outcome.layers_total++;
        const lastLsn = layer.lsnEnd - 1;
        if (lastLsn > options.horizonCutoffLsn) { outcome.layers_needed_by_cutoff++; continue; }
        if (lastLsn > options.pitrCutoffLsn) { outcome.layers_needed_by_pitr++; continue; }
        if (options.retainLsns.some((retain) => layer.lsnStart <= retain && !this.#supersededAt(layer, retain))) {
          outcome.layers_needed_by_branches++;
          continue;
        }
        if (!this.#supersededAt(layer, cutoff)) { outcome.layers_not_updated++; continue; }
        doomed.push(layer as LayerFileReader);
      }
      await this.#removeLayers(doomed, 'gc-mid-delete');
      outcome.layers_removed = doomed.length;
      if (doomed.length > 0) this.#logger.info({ ...outcome, cutoff: formatLsn(cutoff) }, 'garbage collected layers');
      return outcome;
    });
  }

  /** True when other image layers at LSNs in [layer's last LSN, at] cover the layer's key range. */
  #supersededAt(layer: SearchableLayer, at: Lsn): boolean {
    const lastLsn = layer.lsnEnd - 1;
    if (lastLsn > at) return false;
    const ranges: [Key, Key][] = [];
    for (const image of this.#layerMap.historicLayers) {
      if (image === layer || image.kind !== 'image' || image.keyStart >= layer.keyEnd || image.keyEnd <= layer.keyStart) continue;
      const imageLsn = image.lsnStart;
      if (imageLsn > at || imageLsn < lastLsn || (layer.kind === 'image' && imageLsn <= lastLsn)) continue;
      ranges.push([image.keyStart, image.keyEnd]);
    }
    return coversRange(ranges, layer.keyStart, layer.keyEnd);
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
      readers.push([file.fileName, await openImageLayer(file.path, name, this.#handles, this.#indexes)]);
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

/** True when the union of `ranges` covers [start, end). */
function coversRange(ranges: readonly (readonly [Key, Key])[], start: Key, end: Key): boolean {
  const sorted = [...ranges].sort((left, right) => (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0));
  let reached = start;
  for (const [rangeStart, rangeEnd] of sorted) {
    if (rangeStart > reached) return false;
    if (rangeEnd > reached) reached = rangeEnd;
    if (reached >= end) return true;
  }
  return reached >= end;
}
