/**
 * A timeline's data plane: the storage engine, WAL ingest, the LSN bookkeeping and the reads
 * (relation size and GetPage@LSN) answered on top of them.
 *
 * The timeline actor (timeline-actor.ts) owns one Timeline and is the only caller, one message at a
 * time, so nothing here needs locks. LSNs it tracks:
 *
 *   consistentLsn       first LSN at which the data is consistent (end of the base backup);
 *                       reads below it are refused with PS_ERR_LSN_TOO_OLD
 *   lastRecordLsn       where the record after the last ingested one starts (its end, MAXALIGNed
 *                       and past a page header, as PostgreSQL's insert position); reads above wait
 *   diskConsistentLsn   everything at or below is in durable local layer files
 *   remoteConsistentLsn everything at or below is in remote storage (0 until it exists)
 *
 *   consistentLsn <= diskConsistentLsn? not necessarily right after import, but always
 *   diskConsistentLsn <= lastRecordLsn and remoteConsistentLsn <= diskConsistentLsn.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { formatRelTag, relBlockKey, SLRU_NAMES, slruBlockKey, type RelTag, type SlruKind } from '../keys.js';
import { getSlruSegmentSize, listRelations } from '../ingest/metadata-readers.js';
import { failpoint, failpointError } from '../failpoints.js';
import { limits } from '../limits.js';
import { formatLsn, nextRecordStart, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import { FLUSH_REASONS, threadMetrics } from '../observability/metrics.js';
import type { TimelineStore } from '../storage/types.js';
import type { ReconstructData } from '../value.js';
import { RECORD_FIELDS, RecordField, type PackedRecords } from '../wal/packed-records.js';
import type { DecodedRecord } from '../wal/types.js';
import type { CommitTimeIndex } from './commit-times.js';
import { readBackupManifest } from './backup-manifest.js';
import type { BackupManifest, PageRun } from '../backup/types.js';
import { BLCKSZ, RMGR_NAMES } from '../wal/types.js';

/** Ingest as the timeline needs it (src/ingest/wal-ingest.ts implements it). */
export interface RecordIngest {
  /** Ingests records in LSN order, each at its end LSN. */
  ingestBatch(records: readonly DecodedRecord[]): Promise<void>;
  /** Ingests the records of a packed batch from index `first` on, in order. */
  ingestPacked(batch: PackedRecords, first: number): Promise<void>;
  /** Told of every commit ingested (end LSN, TimestampTz), for the commit time index. */
  onCommit?: ((lsn: Lsn, timestamp: number) => void) | undefined;
}

/** Relation metadata reads (src/ingest/ implements them over the store). */
export interface RelationReader {
  getRelSize(store: TimelineStore, rel: RelTag, lsn: Lsn): Promise<number | undefined>;
}

/** Materializes a page from an image and records (WAL redo, issue 3); absent until then. */
export type PageRedo = (key: string, data: ReconstructData, lsn: Lsn) => Promise<Uint8Array>;

/**
 * Why a flush started (logged at info with every flush, counted in metrics):
 *   distance   the open layer reached checkpoint_distance
 *   timeout    the open layer's oldest record is checkpoint_timeout old
 *   requested  someone asked: the primary wants a reply (walreceiver), or the management API
 *   shutdown   the timeline is stopping
 *   memory     ingest waits (max_inmemory_bytes) and nothing is being flushed: only after a failed
 *              flush left a frozen layer behind, since a layer past the distance is already flushing
 */
export type FlushReason = typeof FLUSH_REASONS[number];

export interface TimelineLsns {
  consistentLsn: Lsn;
  lastRecordLsn: Lsn;
  diskConsistentLsn: Lsn;
  remoteConsistentLsn: Lsn;
}

export interface TimelineOptions {
  tenantId: string;
  timelineId: string;
  store: TimelineStore;
  ingest: RecordIngest;
  relations: RelationReader;
  logger: Logger;
  lsns: TimelineLsns;
  waitLsnTimeoutMs: number;
  checkpointDistanceBytes: number;
  /** An open layer holding data older than this is flushed by `flushIfStale`. */
  checkpointTimeoutMs?: number;
  /**
   * Open plus frozen in-memory bytes above which `waitForMemory` makes ingest wait for flushes
   * (max_inmemory_bytes); at least checkpointDistanceBytes. Default 2 × checkpointDistanceBytes.
   */
  inMemoryBytesMax?: number;
  /** Called after every flush with the new LSNs, to persist the timeline's metadata file. */
  persist: (lsns: TimelineLsns) => Promise<void>;
  /**
   * Writes the frozen layers (up to `upToLsn`) and resolves with disk_consistent_lsn: the timeline
   * actor passes its flush actor here (flush-actor.ts). Absent: the store writes them itself.
   */
  flushFrozen?: (upToLsn: Lsn) => Promise<Lsn>;
  redo?: PageRedo;
  /** Reads below this LSN are refused: GC may have removed what they need (metadata). */
  gcCutoffLsn?: Lsn;
  /** Samples commit times for GC's pitr_interval (commit-times.ts). */
  commitTimes?: CommitTimeIndex;
}

interface LsnWaiter {
  lsn: Lsn;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const ZERO_PAGE = new Uint8Array(BLCKSZ);
/** A backup's hold on GC lapses after this long without a read (backupLeaseFloor). */
export const BACKUP_LEASE_MS = 60_000;

/** Pages one getPageRuns call returns at most (256 KiB: one ring message). */
export const PAGES_PER_READ_MAX = 32;
/**
 * Flushes `waitForMemory` awaits at most: the one in flight (its layer then leaves memory), one of
 * the open layer if that alone is still over the bound, and one retry of a frozen layer left by a
 * failed flush. Ingest is blocked meanwhile (the actor handles one message at a time), so nothing
 * else grows the layers; needing more passes is a bug.
 */
const MEMORY_WAIT_PASSES_MAX = 3;
/** pg_default: the tablespace Neon's DbSize counts. */
const DEFAULT_TABLESPACE_OID = 1663;

export class Timeline {
  readonly tenantId: string;
  readonly timelineId: string;
  readonly store: TimelineStore;
  private readonly options: TimelineOptions;
  private readonly logger: Logger;
  private readonly lsns: TimelineLsns;
  private readonly inMemoryBytesMax: number;
  private waiters: LsnWaiter[] = [];
  private flushInFlight: Promise<Lsn> | undefined;
  private recordsIngested = 0;
  private gcCutoff: Lsn;
  /** When the open layer received its first record since the last flush (undefined: nothing open). */
  private openSinceMs: number | undefined;
  /** Records ingested per resource manager id (for status and the pg_waldump comparison). */
  /** LSN → last time a backup at it read something (backupLeaseFloor). */
  private readonly backupLeases = new Map<Lsn, number>();
  private readonly recordsByRmgr = new Array<number>(RMGR_NAMES.length).fill(0);

  constructor(options: TimelineOptions) {
    assert(options.lsns.diskConsistentLsn <= options.lsns.lastRecordLsn, 'disk_consistent_lsn above last_record_lsn');
    assert(options.checkpointDistanceBytes > 0, 'checkpoint distance must be positive');
    this.inMemoryBytesMax = options.inMemoryBytesMax ?? 2 * options.checkpointDistanceBytes;
    assert(this.inMemoryBytesMax >= options.checkpointDistanceBytes, 'max_inmemory_bytes is at least checkpoint_distance');
    this.options = options;
    this.tenantId = options.tenantId;
    this.timelineId = options.timelineId;
    this.store = options.store;
    this.logger = options.logger;
    this.lsns = { ...options.lsns };
    this.gcCutoff = options.gcCutoffLsn ?? 0;
    const commitTimes = options.commitTimes;
    if (commitTimes !== undefined) options.ingest.onCommit = (lsn, timestamp) => commitTimes.add(lsn, timestamp);
  }

  /** Reads below this LSN are refused (PS_ERR_LSN_TOO_OLD): GC may have removed their versions. */
  get gcCutoffLsn(): Lsn { return this.gcCutoff; }

  /**
   * The lowest LSN a backup is reading at (GC keeps its cutoff at or below it), or Infinity. A
   * backup's lease is taken by its manifest and renewed by each run of pages it reads; one not
   * renewed for BACKUP_LEASE_MS is forgotten (a tar whose client went away), one released
   * (`releaseBackupLease`) goes at once.
   */
  backupLeaseFloor(nowMs: number = Date.now()): Lsn {
    let floor = Infinity;
    for (const [lsn, touchedMs] of this.backupLeases) {
      if (nowMs - touchedMs > BACKUP_LEASE_MS) this.backupLeases.delete(lsn);
      else floor = Math.min(floor, lsn);
    }
    return floor;
  }

  releaseBackupLease(lsn: Lsn): void {
    this.backupLeases.delete(lsn);
  }

  /** GC persisted a higher cutoff: refuse reads below it from now on. */
  raiseGcCutoff(lsn: Lsn): void {
    assert(lsn >= this.gcCutoff, 'the GC cutoff never moves back');
    this.gcCutoff = lsn;
  }

  get lastRecordLsn(): Lsn { return this.lsns.lastRecordLsn; }
  get diskConsistentLsn(): Lsn { return this.lsns.diskConsistentLsn; }
  get remoteConsistentLsn(): Lsn { return this.lsns.remoteConsistentLsn; }
  get consistentLsn(): Lsn { return this.lsns.consistentLsn; }
  get ingestedRecordCount(): number { return this.recordsIngested; }
  /** Bytes of the open and the frozen in-memory layers: what max_inmemory_bytes bounds. */
  get inMemoryBytes(): number { return this.store.openLayerBytes + (this.store.frozenLayerBytes ?? 0); }
  snapshotLsns(): TimelineLsns { return { ...this.lsns }; }

  /** Records ingested since load, per rmgr name (only rmgrs seen). */
  recordCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    this.recordsByRmgr.forEach((count, rmgrId) => { if (count > 0) counts[RMGR_NAMES[rmgrId] ?? `rmgr${rmgrId}`] = count; });
    return counts;
  }

  /** Publishes this timeline's LSNs and counts to the thread's metrics registry. */
  private publishMetrics(batchCounts: number[] | undefined): void {
    const metrics = threadMetrics();
    const labels = { tenant_id: this.tenantId, timeline_id: this.timelineId };
    metrics.lastRecordLsn.set(labels, this.lsns.lastRecordLsn);
    metrics.diskConsistentLsn.set(labels, this.lsns.diskConsistentLsn);
    metrics.inMemoryBytes.set(labels, this.inMemoryBytes);
    batchCounts?.forEach((count, rmgrId) => { if (count > 0) metrics.walRecordsIngested.inc({ rmgr: RMGR_NAMES[rmgrId] ?? String(rmgrId) }, count); });
  }

  private countRecord(rmgrId: number): void {
    if (rmgrId < this.recordsByRmgr.length) this.recordsByRmgr[rmgrId]! += 1;
  }

  /**
   * Ingests decoded records in LSN order. Records that end at or below last_record_lsn were
   * ingested before (a reconnect re-streams from a page boundary) and are skipped.
   * Returns how many were new.
   */
  async ingestRecords(records: readonly DecodedRecord[]): Promise<number> {
    let first = 0;
    while (first < records.length && records[first]!.endLsn <= this.lsns.lastRecordLsn) first += 1;
    if (first === records.length) return 0;
    const fresh = first === 0 ? records : records.slice(first);
    // A failure part-way leaves last_record_lsn where it was; re-ingesting the same records puts
    // the same values at the same (key, LSN) again, which replaces them.
    await this.options.ingest.ingestBatch(fresh);
    const before = this.recordsByRmgr.slice();
    let previousEnd = this.lsns.lastRecordLsn;
    for (const record of fresh) {
      assert(record.endLsn > previousEnd, 'records arrive in LSN order');
      previousEnd = record.endLsn;
      this.countRecord(record.rmgrId);
    }
    this.lsns.lastRecordLsn = nextRecordStart(previousEnd);
    this.openSinceMs ??= Date.now();
    this.recordsIngested += fresh.length;
    this.wakeWaiters();
    this.publishMetrics(this.recordsByRmgr.map((count, rmgrId) => count - before[rmgrId]!));
    if (this.store.openLayerBytes >= this.options.checkpointDistanceBytes) this.startFlush('distance');
    return fresh.length;
  }

  /** ingestRecords for a packed batch (packed-records.ts), as the WAL decode stage delivers them. */
  async ingestPacked(batch: PackedRecords): Promise<number> {
    let first = 0;
    while (first < batch.count && batch.endLsn[first]! <= this.lsns.lastRecordLsn) first += 1;
    if (first === batch.count) return 0;
    await this.options.ingest.ingestPacked(batch, first);
    const before = this.recordsByRmgr.slice();
    let previousEnd = this.lsns.lastRecordLsn;
    for (let index = first; index < batch.count; index++) {
      const endLsn = batch.endLsn[index]!;
      assert(endLsn > previousEnd, 'records arrive in LSN order');
      previousEnd = endLsn;
      this.countRecord(batch.records[index * RECORD_FIELDS + RecordField.RmgrInfo]! >>> 8);
    }
    this.lsns.lastRecordLsn = nextRecordStart(previousEnd);
    this.openSinceMs ??= Date.now();
    this.recordsIngested += batch.count - first;
    this.wakeWaiters();
    this.publishMetrics(this.recordsByRmgr.map((count, rmgrId) => count - before[rmgrId]!));
    if (this.store.openLayerBytes >= this.options.checkpointDistanceBytes) this.startFlush('distance');
    return batch.count - first;
  }

  /**
   * Back-pressure: while the open and frozen in-memory layers hold more than max_inmemory_bytes,
   * waits for flushes to make them durable (and drop them). The timeline actor awaits this after
   * each Ingest and before it replies, so the walreceiver stops reading the replication socket and
   * the primary is held back by TCP, and the LSNs it is told stay at what is ingested and durable.
   * No deadlock: a flush runs on its own (flush thread, file system), never through the mailbox.
   * Rejects with the flush's error when one fails (the frozen layer stays, to be retried).
   */
  async waitForMemory(): Promise<void> {
    if (this.inMemoryBytes <= this.inMemoryBytesMax) return;
    const startedMs = Date.now();
    const state = { in_memory_bytes: this.inMemoryBytes, max_inmemory_bytes: this.inMemoryBytesMax, frozen_bytes: this.store.frozenLayerBytes ?? 0 };
    this.logger.debug(state, 'ingest waits for a flush: in-memory layers above max_inmemory_bytes');
    for (let pass = 0; this.inMemoryBytes > this.inMemoryBytesMax; pass++) {
      assert(pass < MEMORY_WAIT_PASSES_MAX, 'flushes bring the in-memory layers below max_inmemory_bytes');
      const reason: FlushReason = this.store.openLayerBytes >= this.options.checkpointDistanceBytes ? 'distance' : 'memory';
      await (this.flushInFlight ?? this.startFlush(reason));
    }
    // Keep the pipeline full: the open layer may have reached the distance while ingest waited.
    if (this.store.openLayerBytes >= this.options.checkpointDistanceBytes) this.startFlush('distance');
    const waitedMs = Date.now() - startedMs;
    const metrics = threadMetrics();
    metrics.ingestWaits.inc();
    metrics.ingestWaitSeconds.inc(waitedMs / 1000);
    this.publishMetrics(undefined);
    this.logger.debug({ waited_ms: waitedMs, in_memory_bytes: this.inMemoryBytes }, 'ingest resumes');
  }

  /** Sets last_record_lsn after an import (the base backup's start LSN). */
  advanceLastRecordLsn(lsn: Lsn): void {
    assert(lsn >= this.lsns.lastRecordLsn, 'last_record_lsn never goes backwards');
    this.lsns.lastRecordLsn = lsn;
    this.wakeWaiters();
  }

  /**
   * Moves an idle timeline (nothing ingested past disk_consistent_lsn) to `lsn` with nothing in
   * between, durably: a writable branch's compute starts writing WAL after the checkpoint record
   * its full backup put at `lsn`, and its walreceiver must start there after any restart.
   */
  async skipTo(lsn: Lsn): Promise<void> {
    if (this.lsns.lastRecordLsn !== this.lsns.diskConsistentLsn) {
      throw new StrataError('PS_ERR_CONFLICT', `timeline has WAL ingested past ${formatLsn(this.lsns.diskConsistentLsn)}: it already follows a source`);
    }
    if (lsn < this.lsns.lastRecordLsn) {
      throw new StrataError('PS_ERR_CONFLICT', `cannot start at ${formatLsn(lsn)}: the timeline is at ${formatLsn(this.lsns.lastRecordLsn)}`);
    }
    await this.store.skipEmptyTo?.(lsn);
    this.lsns.lastRecordLsn = lsn;
    this.lsns.diskConsistentLsn = lsn;
    await this.options.persist({ ...this.lsns });
    this.wakeWaiters();
  }

  setConsistentLsn(lsn: Lsn): void {
    this.lsns.consistentLsn = lsn;
  }

  /**
   * Flushes when the oldest unflushed record arrived more than checkpoint_timeout ago, so that
   * disk_consistent_lsn (and the primary's slot) keeps moving under light load. Returns whether a
   * flush was started.
   */
  flushIfStale(nowMs: number): boolean {
    const timeoutMs = this.options.checkpointTimeoutMs;
    if (timeoutMs === undefined || this.openSinceMs === undefined || this.flushInFlight !== undefined) return false;
    if (nowMs - this.openSinceMs < timeoutMs) return false;
    this.startFlush('timeout').catch(() => undefined); // logged in startFlush
    return true;
  }

  /**
   * Flushes the open layer now (or joins the flush in flight). Resolves with disk_consistent_lsn.
   * `requestedBy` says who asked (logged with reason 'requested'), or 'shutdown'.
   */
  flush(requestedBy: 'primary' | 'api' | 'shutdown' = 'api'): Promise<Lsn> {
    return requestedBy === 'shutdown' ? this.startFlush('shutdown') : this.startFlush('requested', requestedBy);
  }

  private startFlush(reason: FlushReason, requestedBy?: 'primary' | 'api'): Promise<Lsn> {
    if (this.flushInFlight) return this.flushInFlight;
    const upTo = this.lsns.lastRecordLsn;
    // Outside the async body: returning synchronously from it would run `finally` before
    // flushInFlight is assigned, leaving a settled promise there that every later flush returned.
    if (upTo <= this.lsns.diskConsistentLsn && this.store.openLayerBytes === 0) return Promise.resolve(this.lsns.diskConsistentLsn);
    const openSince = this.openSinceMs;
    this.openSinceMs = undefined;
    this.logger.info({
      reason, ...(requestedBy === undefined ? {} : { requested_by: requestedBy }), open_layer_bytes: this.store.openLayerBytes,
      up_to_lsn: formatLsn(upTo), open_ms: openSince === undefined ? 0 : Date.now() - openSince,
    }, 'flushing in-memory layer');
    const flushing = (async () => {
      try {
        const fired = await failpoint('timeline-flush');
        if (fired !== undefined) throw failpointError('timeline-flush', fired);
        // Freeze here, on the timeline's turn (synchronous); the write is the flush actor's
        // (options.flushFrozen: LayerFrozen → Flushed), or the store's own when there is none.
        let durable: Lsn;
        if (this.store.freeze !== undefined && this.store.flushFrozen !== undefined) {
          this.store.freeze(upTo);
          durable = await (this.options.flushFrozen?.(upTo) ?? this.store.flushFrozen());
        } else {
          durable = await this.store.flush(upTo);
        }
        assert(durable >= this.lsns.diskConsistentLsn, 'disk_consistent_lsn never goes backwards');
        // Metadata first, then the value everyone sees (and reports to the primary, whose slot
        // follows it): a flush that wrote no layer file is proven by the metadata alone, and a
        // crash between the two must not leave the slot past what a restart resumes from.
        await this.options.persist({ ...this.snapshotLsns(), diskConsistentLsn: durable });
        this.lsns.diskConsistentLsn = durable;
        threadMetrics().layerFlushes.inc({ reason });
        this.publishMetrics(undefined);
        this.logger.debug({ disk_consistent_lsn: formatLsn(durable) }, 'flushed in-memory layer');
        return durable;
      } catch (error) {
        // Still unflushed: the next tick or checkpoint_distance tries again.
        this.openSinceMs = openSince ?? this.openSinceMs;
        throw error;
      } finally {
        this.flushInFlight = undefined;
      }
    })();
    this.flushInFlight = flushing;
    flushing.catch((error: unknown) => this.logger.error({ err: error }, 'flush of in-memory layer failed'));
    return flushing;
  }

  /** Resolves when last_record_lsn reaches `lsn`; PS_ERR_TIMEOUT after the configured bound. */
  waitForLsn(lsn: Lsn, timeoutMs = this.options.waitLsnTimeoutMs): Promise<void> {
    if (lsn <= this.lsns.lastRecordLsn) return Promise.resolve();
    if (this.waiters.length >= limits.mailboxCapacityMax) {
      return Promise.reject(new StrataError('PS_ERR_MAILBOX_FULL', 'too many reads waiting for WAL', { lsn: formatLsn(lsn) }));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: LsnWaiter = {
        lsn, resolve, reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((other) => other !== waiter);
          reject(new StrataError('PS_ERR_TIMEOUT',
            `timed out after ${timeoutMs} ms waiting for WAL to reach ${formatLsn(lsn)} (last_record_lsn ${formatLsn(this.lsns.lastRecordLsn)})`,
            { lsn: formatLsn(lsn), last_record_lsn: formatLsn(this.lsns.lastRecordLsn) }));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: LsnWaiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.lsn <= this.lsns.lastRecordLsn) {
        clearTimeout(waiter.timer);
        waiter.resolve();
      } else {
        still.push(waiter);
      }
    }
    this.waiters = still;
  }

  /** Rejects every waiting read (shutdown). */
  cancelWaiters(error: Error): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiters = [];
  }

  /** Resolves the LSN of a read: latest when undefined; refuses below the consistent start. */
  private async readLsn(lsn: Lsn | undefined): Promise<Lsn> {
    const target = lsn ?? this.lsns.lastRecordLsn;
    if (target < this.gcCutoff) {
      throw new StrataError('PS_ERR_LSN_TOO_OLD',
        `LSN ${formatLsn(target)} is below the timeline's GC cutoff ${formatLsn(this.gcCutoff)}: its history was garbage collected`,
        { lsn: formatLsn(target), gc_cutoff_lsn: formatLsn(this.gcCutoff) });
    }
    if (target < this.lsns.consistentLsn) {
      throw new StrataError('PS_ERR_LSN_TOO_OLD',
        `LSN ${formatLsn(target)} is below the timeline's consistent start ${formatLsn(this.lsns.consistentLsn)}`,
        { lsn: formatLsn(target), consistent_lsn: formatLsn(this.lsns.consistentLsn) });
    }
    await this.waitForLsn(target);
    return target;
  }

  async relSize(rel: RelTag, lsn: Lsn | undefined): Promise<number> {
    const at = await this.readLsn(lsn);
    const size = await this.options.relations.getRelSize(this.store, rel, at);
    if (size === undefined) {
      throw new StrataError('PS_ERR_NOT_FOUND', `relation ${formatRelTag(rel)} does not exist at ${formatLsn(at)}`,
        { rel: formatRelTag(rel), lsn: formatLsn(at) });
    }
    return size;
  }

  async getPage(rel: RelTag, blockNumber: number, lsn: Lsn | undefined): Promise<Uint8Array> {
    const at = await this.readLsn(lsn);
    await this.checkBlocks(rel, blockNumber, 1, at);
    return this.pageAt(rel, blockNumber, at);
  }

  /**
   * Runs of consecutive blocks (of one or several relation forks) at one LSN, concatenated: full
   * backups read this way, one hop per PAGES_PER_READ_MAX pages whatever the relations' sizes.
   * Pages that need records applied are reconstructed concurrently.
   */
  async getPageRuns(runs: readonly PageRun[], lsn: Lsn | undefined, pagesMax = PAGES_PER_READ_MAX): Promise<Uint8Array> {
    const total = runs.reduce((sum, run) => sum + run.count, 0);
    if (runs.length === 0 || total > pagesMax || runs.some((run) => !Number.isInteger(run.count) || run.count < 1)) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `page runs hold 1..${pagesMax} pages in all, each at least one`);
    }
    const at = await this.readLsn(lsn);
    if (this.backupLeases.has(at)) this.backupLeases.set(at, Date.now());
    for (const run of runs) await this.checkBlocks(run.rel, run.firstBlock, run.count, at);
    const out = new Uint8Array(total * BLCKSZ);
    const reads: Promise<void>[] = [];
    let slot = 0;
    for (const run of runs) {
      const keys = Array.from({ length: run.count }, (_, index) => relBlockKey(run.rel, run.firstBlock + index));
      const many = this.store.getReconstructDataMany === undefined ? undefined : await this.store.getReconstructDataMany(keys, at, { clientRead: true });
      for (let index = 0; index < run.count; index++, slot++) {
        const offset = slot * BLCKSZ;
        const page = many === undefined ? this.pageAt(run.rel, run.firstBlock + index, at) : this.pageFrom(run.rel, run.firstBlock + index, keys[index]!, many[index], at);
        if (page instanceof Uint8Array) out.set(page, offset);
        else reads.push(page.then((bytes) => out.set(bytes, offset)));
      }
    }
    await Promise.all(reads);
    return out;
  }

  /**
   * get_lsn_by_timestamp: the LSN of the state after every commit at or before `timestampUs`
   * (commit-times.ts). `future` answers the last record LSN, `past` the oldest readable one.
   */
  async lsnForTimestamp(timestampUs: number): Promise<{ kind: 'present' | 'past' | 'future' | 'nodata'; lsn: Lsn }> {
    const oldest = Math.max(this.gcCutoff, this.lsns.consistentLsn);
    const answer = (await this.options.commitTimes?.lsnForTime(timestampUs)) ?? { kind: 'nodata' as const };
    switch (answer.kind) {
      case 'present': return { kind: answer.lsn < oldest ? 'past' : 'present', lsn: Math.max(answer.lsn, oldest) };
      case 'past': return { kind: 'past', lsn: oldest };
      case 'future': case 'nodata': return { kind: answer.kind, lsn: this.lsns.lastRecordLsn };
    }
  }

  /** What a full backup at `lsn` holds, from metadata (backup-manifest.ts). */
  async backupManifest(lsn: Lsn | undefined): Promise<BackupManifest> {
    const at = await this.readLsn(lsn);
    this.backupLeases.set(at, Date.now());
    return readBackupManifest(this.store, at, (store, rel, when) => this.options.relations.getRelSize(store, rel, when));
  }

  private async checkBlocks(rel: RelTag, firstBlock: number, count: number, at: Lsn): Promise<void> {
    const size = await this.options.relations.getRelSize(this.store, rel, at);
    if (size === undefined || firstBlock + count > size) {
      const last = firstBlock + count - 1;
      throw new StrataError('PS_ERR_NOT_FOUND',
        size === undefined
          ? `relation ${formatRelTag(rel)} does not exist at ${formatLsn(at)}`
          : `block ${last} is beyond the end of ${formatRelTag(rel)} (${size} blocks) at ${formatLsn(at)}`,
        { rel: formatRelTag(rel), block: last, lsn: formatLsn(at) });
    }
  }

  private async pageAt(rel: RelTag, blockNumber: number, at: Lsn): Promise<Uint8Array> {
    const key = relBlockKey(rel, blockNumber);
    return this.pageFrom(rel, blockNumber, key, await this.store.getReconstructData(key, at, { clientRead: true }), at);
  }

  /** The page from its reconstruct data: at once when it is an image (or nothing), else through redo. */
  private pageFrom(rel: RelTag, blockNumber: number, key: string, data: ReconstructData | undefined, at: Lsn): Uint8Array | Promise<Uint8Array> {
    // A block inside the relation with no stored version was extended without WAL (PostgreSQL
    // does this for visibility-map and FSM pages): it is all zeros, as on the primary.
    if (data === undefined) return ZERO_PAGE.slice();
    if (data.records.length === 0) {
      assert(data.image !== undefined, 'reconstruct data without image or records');
      return data.image.bytes;
    }
    const redo = this.options.redo;
    if (redo === undefined) {
      const first = data.records[0]!;
      throw new StrataError('PS_ERR_REDO_UNSUPPORTED',
        `page ${formatRelTag(rel)} blk ${blockNumber} at ${formatLsn(at)} needs ${data.records.length} WAL record(s) applied; WAL redo is not available`,
        { rel: formatRelTag(rel), block: blockNumber, lsn: formatLsn(at), first_record_lsn: formatLsn(first.lsn) });
    }
    return redo(key, data, at);
  }

  /**
   * Bytes of every fork of every relation of database `dbNode` in the default tablespace at `lsn`,
   * as Neon's DbSize counts them (what a compute's pg_database_size asks). Walks the database's
   * relation directory: its cost grows with the number of relations, not with their size.
   */
  async dbSize(dbNode: number, lsn: Lsn | undefined): Promise<number> {
    const at = await this.readLsn(lsn);
    let blocks = 0;
    for (const rel of await listRelations(this.store, DEFAULT_TABLESPACE_OID, dbNode, at)) {
      blocks += (await this.options.relations.getRelSize(this.store, rel, at)) ?? 0;
    }
    return blocks * BLCKSZ;
  }

  /**
   * The pages of SLRU segment `segment` (pg_xact, pg_multixact/offsets or members) at an LSN, as
   * the segment file would hold them (Neon's GetSlruSegment): each page reconstructed like a
   * relation page (images and Strata records through redo). PS_ERR_NOT_FOUND when the segment
   * does not exist at that LSN.
   */
  async getSlruSegment(kind: SlruKind, segment: number, lsn: Lsn | undefined): Promise<Uint8Array> {
    const at = await this.readLsn(lsn);
    const pages = await getSlruSegmentSize(this.store, kind, segment, at);
    if (pages === undefined) {
      throw new StrataError('PS_ERR_NOT_FOUND', `SLRU segment ${SLRU_NAMES[kind]}/${segment.toString(16).toUpperCase().padStart(4, '0')} does not exist at ${formatLsn(at)}`,
        { slru: SLRU_NAMES[kind], segment, lsn: formatLsn(at) });
    }
    const bytes = new Uint8Array(pages * BLCKSZ);
    for (let page = 0; page < pages; page++) {
      const key = slruBlockKey(kind, segment, page);
      const data = await this.store.getReconstructData(key, at, { clientRead: true });
      if (data === undefined) continue;
      if (data.records.length === 0) {
        assert(data.image !== undefined, 'reconstruct data without image or records');
        bytes.set(data.image.bytes, page * BLCKSZ);
        continue;
      }
      const redo = this.options.redo;
      if (redo === undefined) throw new StrataError('PS_ERR_REDO_UNSUPPORTED', `SLRU page ${page} of segment ${segment} needs records applied; WAL redo is not available`);
      bytes.set(await redo(key, data, at), page * BLCKSZ);
    }
    return bytes;
  }

  async close(): Promise<void> {
    this.cancelWaiters(new StrataError('PS_ERR_SHUTTING_DOWN', 'timeline is stopping'));
    if (this.flushInFlight) await this.flushInFlight.catch(() => undefined);
    await this.store.close();
  }
}
