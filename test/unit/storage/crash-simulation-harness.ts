/**
 * The two halves of the crash simulation that are not the workload (crash-simulation.test.ts):
 *
 *   PageModel           what every key holds at every LSN, as plain lists of versions. A page is
 *                       a "redo" fold over its versions: an image is the page; a record makes
 *                       hash(page ‖ lsn ‖ record). The same fold turns a store read
 *                       (ReconstructData) into a page. Because image layers are written with the
 *                       folded page, a read that stops at an image layer and one that applies every
 *                       record give the same page, so the expected value of a read does not depend
 *                       on which image, compaction or GC files happen to exist after a crash,
 *                       while a lost, duplicated, reordered or misplaced version changes the hash.
 *
 *   SimulatedTimeline   the storage engine as the timeline drives it (timeline.ts, timeline-actor.ts,
 *                       maintenance.ts), with every byte going through the simulated disk:
 *                       - one flush in flight; after the store's flush returns, the commit-time
 *                         index and then the metadata (disk_consistent_lsn) are written, crash-safely,
 *                         exactly as the actor's `persist` does, metadata through the actor's own
 *                         serialized TimelineMetadataWriter (timeline-metadata.ts);
 *                       - on load, the metadata's disk_consistent_lsn is handed to the store, which
 *                         takes the maximum with what its layer files prove;
 *                       - GC as runGc: cutoffs from gc_horizon and from pitr_interval through the
 *                         commit-time index and the INJECTED clock, never above disk_consistent_lsn,
 *                         never moving back, persisted in the metadata before the store deletes
 *                         anything (a cutoff is in effect only once persisted).
 */
import type { SimulatedClock } from '../../../src/actor/clock.js';
import type { Key } from '../../../src/keys.js';
import type { Lsn } from '../../../src/lsn.js';
import type { Logger } from '../../../src/observability/log.js';
import type { Fs } from '../../../src/storage/fs.js';
import { LayeredTimelineStore, type GcOutcome, type StorageStep } from '../../../src/storage/layered-timeline-store.js';
import { readTimelineMetadata, TimelineMetadataWriter, writeTimelineMetadata, type TimelineMetadata } from '../../../src/storage/timeline-metadata.js';
import { CommitTimeIndex, postgresTimestampOf, readCommitTimes, writeCommitTimes } from '../../../src/timeline/commit-times.js';
import type { ReconstructData, Value } from '../../../src/value.js';

const EMPTY_PAGE = new Uint8Array(0);

/**
 * One record applied to a page: an 8-byte hash (cyrb53-style, two 32-bit lanes) of the page, the
 * LSN, the will-init flag and the record. Not cryptographic, and it need not be: it only has to
 * make a lost, duplicated, reordered or misplaced version change the page (a false match needs a
 * 53-bit collision). A JS loop over ~100 bytes is far cheaper than a crypto hash per record.
 */
function applyRecord(page: Uint8Array, lsn: Lsn, value: Value): Uint8Array {
  if (value.kind === 'image') throw new Error('an image is not applied, it is the page');
  const body = value.kind === 'walRecord' ? value.record : Buffer.from(JSON.stringify(value.record));
  let first = 0xdeadbeef ^ (lsn >>> 0);
  let second = 0x41c6ce57 ^ Math.floor(lsn / 0x100000000) ^ (value.willInit ? 0x5bd1e995 : 0) ^ (value.kind === 'walRecord' ? value.blockId : 0);
  const mix = (byte: number): void => {
    first = Math.imul(first ^ byte, 2654435761);
    second = Math.imul(second ^ byte, 1597334677);
  };
  for (let index = 0; index < page.length; index++) mix(page[index]!);
  mix(0x100);
  for (let index = 0; index < body.length; index++) mix(body[index]!);
  first = Math.imul(first ^ (first >>> 16), 2246822507) ^ Math.imul(second ^ (second >>> 13), 3266489909);
  second = Math.imul(second ^ (second >>> 16), 2246822507) ^ Math.imul(first ^ (first >>> 13), 3266489909);
  const hashed = new Uint8Array(8);
  new DataView(hashed.buffer).setUint32(0, first >>> 0);
  new DataView(hashed.buffer).setUint32(4, second >>> 0);
  return hashed;
}

/** The page a store read describes (undefined: the key has no value there). */
export function redo(data: ReconstructData | undefined): Uint8Array | undefined {
  if (data === undefined) return undefined;
  let page = data.image?.bytes ?? EMPTY_PAGE;
  for (const [index, record] of data.records.entries()) {
    if (index === 0 && data.image === undefined && !record.value.willInit) throw new Error(`a read without image starts with a record that does not initialize the page (lsn ${record.lsn})`);
    page = applyRecord(page, record.lsn, record.value);
  }
  return page;
}

interface ModelVersion {
  lsn: Lsn;
  /** The page after this version (the fold up to here). */
  page: Uint8Array;
}

/** Versions per key in LSN order, each with its folded page (see the header). */
export class PageModel {
  readonly #versions = new Map<Key, ModelVersion[]>();

  put(key: Key, lsn: Lsn, value: Value): void {
    const list = this.#versions.get(key) ?? [];
    const last = list[list.length - 1];
    if (last !== undefined && last.lsn >= lsn) throw new Error(`model put of ${key} at ${lsn} is not above ${last.lsn}`);
    const before = last?.page;
    if (value.kind !== 'image' && !value.willInit && before === undefined) throw new Error('the first version of a key must initialize it');
    const page = value.kind === 'image' ? value.bytes : applyRecord(value.willInit ? EMPTY_PAGE : before!, lsn, value);
    list.push({ lsn, page });
    this.#versions.set(key, list);
  }

  /** Forgets versions above `lsn` (what a crash loses above disk_consistent_lsn). */
  truncateAbove(lsn: Lsn): void {
    for (const [key, list] of this.#versions) {
      let keep = list.length;
      while (keep > 0 && list[keep - 1]!.lsn > lsn) keep--;
      if (keep === 0) this.#versions.delete(key);
      else list.length = keep;
    }
  }

  has(key: Key): boolean { return this.#versions.has(key); }

  /** The highest LSN of any version at or below `lsn` (0 when none). */
  newestLsnAtOrBelow(lsn: Lsn): Lsn {
    let newest = 0;
    for (const list of this.#versions.values()) {
      for (let index = list.length - 1; index >= 0; index--) {
        if (list[index]!.lsn > lsn) continue;
        newest = Math.max(newest, list[index]!.lsn);
        break;
      }
    }
    return newest;
  }

  /** LSNs of the versions of `key`, ascending. */
  lsnsOf(key: Key): Lsn[] {
    return (this.#versions.get(key) ?? []).map((version) => version.lsn);
  }

  /** The page of `key` at `lsn`, or undefined when it has no version at or below. */
  page(key: Key, lsn: Lsn): Uint8Array | undefined {
    const list = this.#versions.get(key);
    if (list === undefined) return undefined;
    let low = 0;
    let high = list.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (list[middle]!.lsn <= lsn) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : list[low - 1]!.page;
  }
}

export interface SimulatedTimelineOptions {
  fs: Fs;
  directory: string;
  clock: SimulatedClock;
  logger: Logger;
  /** Store options the simulation varies (small files, small caches). */
  fileHandlesMax: number;
  inMemoryChunkBytes: number;
  checkpointHook?: (step: StorageStep) => Promise<void>;
  /** Told when a store flush returned and when a metadata write completed (crash bookkeeping). */
  observer?: { flushRequested(upTo: Lsn): void; flushReturned(lsn: Lsn): void; metadataWritten(metadata: TimelineMetadata): void };
}

export interface GcSettings {
  gcHorizon: number;
  pitrIntervalMs: number;
  retainLsns: readonly Lsn[];
}

const INITIAL_METADATA: TimelineMetadata = {
  diskConsistentLsn: 0, prevRecordLsn: 0, ancestorTimelineId: null, ancestorLsn: 0, latestGcCutoffLsn: 0, initdbLsn: 0, pgVersion: 15, walSource: null,
};

/** The storage engine driven as the timeline drives it (see the header). */
export class SimulatedTimeline {
  readonly store: LayeredTimelineStore;
  readonly #options: SimulatedTimelineOptions;
  readonly #commitTimes: CommitTimeIndex;
  readonly #metadata: TimelineMetadataWriter;
  #lastRecordLsn: Lsn;
  #gcCutoffLsn: Lsn;
  #flushInFlight: Promise<Lsn> | undefined;

  private constructor(options: SimulatedTimelineOptions, store: LayeredTimelineStore, metadata: TimelineMetadata, commitTimes: CommitTimeIndex) {
    this.#options = options;
    this.store = store;
    this.#metadata = new TimelineMetadataWriter(options.fs, options.directory, metadata);
    this.#commitTimes = commitTimes;
    this.#lastRecordLsn = store.diskConsistentLsn;
    this.#gcCutoffLsn = metadata.latestGcCutoffLsn;
  }

  /** Creates the timeline directory and its first metadata (the tenant does this on creation). */
  static async create(fs: Fs, directory: string): Promise<void> {
    await fs.mkdirRecursive(directory);
    await writeTimelineMetadata(fs, directory, INITIAL_METADATA);
  }

  /** Loads as timeline-actor.ts `load` does: metadata, store, commit times. */
  static async load(options: SimulatedTimelineOptions): Promise<SimulatedTimeline> {
    const metadata = await readTimelineMetadata(options.fs, options.directory);
    if (metadata === undefined) throw new Error(`timeline ${options.directory} has no metadata file`);
    const store = await LayeredTimelineStore.open({
      directory: options.directory, logger: options.logger, fs: options.fs, diskConsistentLsn: metadata.diskConsistentLsn,
      flushThread: 'inline', flushSliceMs: Infinity, fileHandlesMax: options.fileHandlesMax, inMemoryChunkBytes: options.inMemoryChunkBytes,
      ...(options.checkpointHook === undefined ? {} : { checkpointHook: options.checkpointHook }),
    });
    try {
      return new SimulatedTimeline(options, store, metadata, await readCommitTimes(options.fs, options.directory));
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  get lastRecordLsn(): Lsn { return this.#lastRecordLsn; }
  /** Reads below this are refused by the timeline: GC may have removed what they need. */
  get gcCutoffLsn(): Lsn { return this.#gcCutoffLsn; }
  /**
   * The cutoff the next metadata write carries. Above gcCutoffLsn after a GC whose metadata write
   * failed: as timeline-actor.ts, the update is merged before the write, so the next write (a
   * flush's) persists it. Harmless: it was at most disk_consistent_lsn, and a higher persisted
   * cutoff only refuses more reads.
   */
  get metadataGcCutoffLsn(): Lsn { return this.#metadata.current.latestGcCutoffLsn; }

  /** Ingest of one record's values: puts at `lsn`; a commit is sampled at the clock's time. */
  put(entries: readonly (readonly [Key, Value])[], lsn: Lsn, commit: boolean): void {
    for (const [key, value] of entries) this.store.put(key, lsn, value);
    this.#lastRecordLsn = lsn;
    if (commit) this.#commitTimes.add(lsn, postgresTimestampOf(this.#options.clock.now()));
  }

  /** Timeline.startFlush: one flush in flight; then persist commit times and metadata. */
  flush(): Promise<Lsn> {
    if (this.#flushInFlight !== undefined) return this.#flushInFlight;
    const upTo = this.#lastRecordLsn;
    if (upTo <= this.store.diskConsistentLsn && this.store.openLayerBytes === 0) return Promise.resolve(this.store.diskConsistentLsn);
    this.#options.observer?.flushRequested(upTo);
    const flushing = (async () => {
      try {
        const durable = await this.store.flush(upTo);
        this.#options.observer?.flushReturned(durable);
        await writeCommitTimes(this.#options.fs, this.#options.directory, this.#commitTimes, durable);
        await this.#writeMetadata({ diskConsistentLsn: durable });
        return durable;
      } finally {
        this.#flushInFlight = undefined;
      }
    })();
    this.#flushInFlight = flushing;
    return flushing;
  }


  /** runGc (maintenance.ts) with the injected clock. */
  async gc(settings: GcSettings): Promise<GcOutcome> {
    const last = this.#lastRecordLsn;
    const rawHorizon = Math.max(0, last - settings.gcHorizon);
    const sinceUs = postgresTimestampOf(this.#options.clock.now() - settings.pitrIntervalMs);
    const rawPitr = settings.pitrIntervalMs > 0 ? this.#commitTimes.lsnAtOrBefore(sinceUs) ?? 0 : last;
    const durable = this.store.diskConsistentLsn;
    const previous = this.#gcCutoffLsn;
    const horizon = Math.max(previous, Math.min(rawHorizon, durable));
    const pitr = Math.max(previous, Math.min(rawPitr, durable));
    const cutoff = Math.min(horizon, pitr);
    if (cutoff > previous) {
      await this.#writeMetadata({ latestGcCutoffLsn: cutoff });
      this.#gcCutoffLsn = cutoff;
    }
    return this.store.gc({ horizonCutoffLsn: horizon, pitrCutoffLsn: pitr, retainLsns: settings.retainLsns });
  }

  /** timeline-actor.ts writeMetadata: the same serialized writer (timeline-metadata.ts). */
  async #writeMetadata(update: Partial<TimelineMetadata>): Promise<void> {
    this.#options.observer?.metadataWritten(await this.#metadata.update(update));
  }

  async close(): Promise<void> {
    await this.#flushInFlight?.catch(() => undefined);
    await this.store.close();
  }
}
