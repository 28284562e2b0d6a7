/**
 * The timeline actor: owns one Timeline (storage engine + ingest + LSN bookkeeping) and its
 * walreceiver child, on the tenant's actor thread.
 *
 * Parent: the tenant actor. Children: the walreceiver actor (when the timeline has a WAL source).
 * State changes go through `applyTimelineTransition` (timeline-state.ts):
 *
 *   Loading --Activate--> Active --Stop--> Stopping --StopDone--> Stopped
 *   Loading/Active/Stopping --MarkBroken--> Broken --Stop--> Stopping
 *
 * Messages are handled one at a time, except reads (RelSize, GetPage, Info): they may wait for WAL
 * to arrive, which needs Ingest messages to keep flowing, so they run concurrently with the
 * mailbox (bounded by the runtime) and only read state.
 *
 * Ingest replies only once the in-memory layers are within max_inmemory_bytes
 * (Timeline.waitForMemory): the walreceiver awaits each reply, so that wait is the back-pressure
 * on the replication stream. It cannot deadlock: the flush it waits for never goes through this
 * mailbox.
 *
 * The disk_consistent_lsn this actor reports (Info, and the Ingest and Flush replies from which the
 * walreceiver tells the primary its flush position, which the slot follows) is always one a restart
 * can prove: the Timeline raises it only after the metadata file holding it is written (and after
 * the layer files). A flush that wrote no layer (nothing put since the last one, e.g. after a WAL
 * switch) is proven by the metadata alone; reporting it before that write once let the primary's
 * slot pass the point a crash in between resumes from (found by the SIGKILL crash test).
 */
import { walredoAddress, type WalRedoMessage } from '../walredo/walredo-actor.js';
import type { PackedRecords } from '../wal/packed-records.js';
import { chmod, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { assertNever } from '../assert.js';
import type { ActorContext, Behavior } from '../actor/types.js';
import { StrataError } from '../errors.js';
import { failpointOrThrow } from '../failpoints.js';
import { getRelSize } from '../ingest/metadata-readers.js';
import { WalIngest } from '../ingest/wal-ingest.js';
import type { RelTag, SlruKind } from '../keys.js';
import { formatLsn, type Lsn } from '../lsn.js';
import { BLCKSZ } from '../wal/types.js';
import type { TimelineInfo } from './timeline-info.js';
import { boundLogger, redactConnectionString } from '../observability/log.js';
import { readSmallFile } from '../storage/crashsafe.js';
import { nodeFs } from '../storage/fs.js';
import { LayeredTimelineStore } from '../storage/layered-timeline-store.js';
import { readTimelineMetadata, TimelineMetadataWriter, type TimelineMetadata } from '../storage/timeline-metadata.js';
import type { DecodedRecord } from '../wal/types.js';
import type { ReconstructData } from '../value.js';
import { Timeline, type TimelineLsns } from './timeline.js';
import type { PageRun } from '../backup/types.js';
import { buildFullbackup, type BackupSource } from '../backup/fullbackup.js';
import { DirectoryBackupSink } from '../backup/sinks.js';
import { applyTimelineTransition, initialTimelineState, timelineStateForApi, type TimelineState } from './timeline-state.js';
import { createWalReceiverBehavior, type WalReceiverStatus } from './walreceiver-actor.js';
import { slotNameForTimeline } from './attach-primary.js';
import { ReplicationClient } from '../pgwire/replication-client.js';
import type { TenantConfig } from '../config.js';
import { failpoint, failpointError } from '../failpoints.js';
import { threadMetrics } from '../observability/metrics.js';
import type { BranchRegistry } from './branch-registry.js';
import { readCommitTimes, writeCommitTimes, type CommitTimeIndex } from './commit-times.js';
import { createCompactionBehavior, type CompactionMessage, type MaintenanceFailed } from './compaction-actor.js';
import { createGcBehavior, type GcMessage } from './gc-actor.js';
import { createFlushBehavior, type Flushed, type FlushMessage } from './flush-actor.js';
import type { MaintenanceContext } from './maintenance.js';

/** The file (mode 0600) holding the full WAL source connection string, password included. */
export const WAL_SOURCE_FILE = 'wal-source';

/** A page's redo waits behind at most a queue of batches; beyond this the read fails (504). */
const REDO_ASK_TIMEOUT_MS = 30_000;
/** A compaction or GC pass asked for by the API may run for a while (minutes for a big image pass). */
const MAINTENANCE_ASK_TIMEOUT_MS = 3_600_000;

export interface TimelineActorArgs {
  tenantId: string;
  timelineId: string;
  directory: string;
  waitLsnTimeoutMs: number;
  /** The tenant's storage settings (checkpoint, compaction, GC). */
  config: TenantConfig;
  /** Shared with the tenant's other timelines (ancestor stores, branch points). */
  registry: BranchRegistry;
}

/** What a branch needs from its ancestor, answered by PrepareBranch. */
export interface BranchPoint {
  ancestorLsn: Lsn;
  initdbLsn: Lsn;
  pgVersion: number;
}

/** A directory backup written on this thread reads pages in runs this long (nothing crosses threads), this many at once. */
const LOCAL_PAGES_PER_RUN = 128;
const LOCAL_RUNS_IN_FLIGHT = 8;

/** How long a branch at an LSN the ancestor has not reached yet waits for it. */
const BRANCH_WAIT_MS = 10_000;

export type TimelineMessage =
  /** Records as objects, or a packed batch from the WAL decode stage (packed-records.ts). */
  | { kind: 'Ingest'; records: readonly DecodedRecord[] | PackedRecords }
  | { kind: 'Info' }
  | { kind: 'RelSize'; rel: RelTag; lsn: Lsn | undefined }
  | { kind: 'GetPage'; rel: RelTag; blockNumber: number; lsn: Lsn | undefined }
  /** Runs of consecutive pages at one LSN, concatenated (full backups; ≤ PAGES_PER_READ_MAX pages). */
  | { kind: 'GetPageRuns'; runs: readonly PageRun[]; lsn: Lsn | undefined }
  /**
   * Follow a new primary (a writable branch's compute) from `startLsn`, where its full backup put
   * the checkpoint record its WAL continues from: a slot there, then the walreceiver.
   */
  | { kind: 'FollowPrimary'; connectionString: string; startLsn: Lsn }
  /** A full backup written into `directory` from this thread (backup/fullbackup.ts); its summary. */
  | { kind: 'FullbackupToDirectory'; directory: string; lsn: Lsn | undefined; tablespaceMapping: readonly [number, string][] }
  /** get_lsn_by_timestamp (TimestampTz microseconds). */
  | { kind: 'LsnForTimestamp'; timestampUs: number }
  /** What a full backup at an LSN holds (backup-manifest.ts). */
  | { kind: 'BackupManifest'; lsn: Lsn | undefined }
  /** A whole SLRU segment (pg_xact, multixact) at an LSN. */
  | { kind: 'GetSlruSegment'; slru: SlruKind; segment: number; lsn: Lsn | undefined }
  /** Bytes of a database's relations in the default tablespace at an LSN (Neon's DbSize). */
  | { kind: 'DbSize'; dbNode: number; lsn: Lsn | undefined }
  /** Flush now; `requestedBy` says who asked (the flush is logged with it). Default 'api'. */
  | { kind: 'Flush'; requestedBy?: 'primary' | 'api' }
  /** Freeze and flush now, then a compaction pass (PUT …/checkpoint). */
  | { kind: 'Checkpoint' }
  | { kind: 'Compact'; force: boolean }
  | { kind: 'DoGc'; gcHorizonBytes: number | undefined }
  /** The layer map, as the layer listing API shows it. */
  | { kind: 'Layers' }
  /** A child's branch point: validated against the GC cutoff and last_record_lsn (waited for, bounded). */
  | { kind: 'PrepareBranch'; lsn: Lsn | undefined }
  /** A maintenance child failed: the timeline goes Broken with the reason. */
  | MaintenanceFailed
  | { kind: 'WalReceiverStatus'; status: WalReceiverStatus }
  /** Periodic: flush an open layer older than checkpoint_timeout. */
  | { kind: 'Tick' }
  | { kind: 'Shutdown'; reason: string };

function isPackedRecords(records: readonly DecodedRecord[] | PackedRecords): records is PackedRecords {
  return !Array.isArray(records);
}

export interface IngestReply {
  ingested: number;
  lsns: TimelineLsns;
}

export function timelineAddress(tenantId: string, timelineId: string): string {
  return `timeline/${tenantId}/${timelineId}`;
}

export function createTimelineBehavior(args: TimelineActorArgs): Behavior<TimelineMessage> {
  let state: TimelineState = initialTimelineState();
  const logOf = (context: ActorContext) => boundLogger(context.logger, { tenant_id: args.tenantId, timeline_id: args.timelineId });
  let timeline: Timeline | undefined;
  let metadata: TimelineMetadata | undefined;
  let walReceiverStatus: WalReceiverStatus | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let store: LayeredTimelineStore | undefined;
  let commitTimes: CommitTimeIndex | undefined;
  let metadataWriter: TimelineMetadataWriter | undefined;
  const compactionAddress = (context: ActorContext) => `${context.self}/compaction`;
  const gcAddress = (context: ActorContext) => `${context.self}/gc`;
  const flushAddress = (context: ActorContext) => `${context.self}/flush`;
  /** Set when the actor stops: its children (the flush actor among them) are gone. */
  let stopping = false;

  const requireActive = (): Timeline => {
    if (state.kind === 'Broken') throw new StrataError('PS_ERR_BROKEN', `timeline ${args.timelineId} is broken: ${state.reason}`, { reason: state.reason });
    if (state.kind !== 'Active' || timeline === undefined) {
      throw new StrataError('PS_ERR_CONFLICT', `timeline ${args.timelineId} is ${state.kind}`, { state: state.kind });
    }
    return timeline;
  };

  const info = (): TimelineInfo => {
    const lsns = timeline?.snapshotLsns();
    const api = timelineStateForApi(state);
    return {
      tenant_id: args.tenantId,
      timeline_id: args.timelineId,
      state: api.state,
      ...(api.broken_reason === undefined ? {} : { broken_reason: api.broken_reason }),
      last_record_lsn: formatLsn(lsns?.lastRecordLsn ?? 0),
      disk_consistent_lsn: formatLsn(lsns?.diskConsistentLsn ?? metadata?.diskConsistentLsn ?? 0),
      remote_consistent_lsn: formatLsn(lsns?.remoteConsistentLsn ?? 0),
      ancestor_timeline_id: metadata?.ancestorTimelineId ?? null,
      ancestor_lsn: metadata?.ancestorTimelineId ? formatLsn(metadata.ancestorLsn) : null,
      pg_version: metadata?.pgVersion ?? 15,
      initdb_lsn: formatLsn(metadata?.initdbLsn ?? 0),
      ...(metadata?.walSource ? { wal_source: metadata.walSource } : {}),
      ...(walReceiverStatus ? { walreceiver: walReceiverStatus } : {}),
      ...(timeline ? { latest_gc_cutoff_lsn: formatLsn(timeline.gcCutoffLsn) } : {}),
      ...(store ? { layers: { l0: store.l0Count, files: store.describeLayers().length } } : {}),
      ...(timeline ? { wal_records_ingested: timeline.ingestedRecordCount, wal_records_by_rmgr: timeline.recordCounts() } : {}),
    };
  };

  const load = async (context: ActorContext): Promise<void> => {
    metadata = await readTimelineMetadata(nodeFs, args.directory);
    if (metadata === undefined) throw new StrataError('PS_ERR_IO', `timeline ${args.timelineId} has no metadata file`);
    const loaded = metadata;
    const ancestor = loaded.ancestorTimelineId === null ? undefined
      : { store: await args.registry.storeOf(loaded.ancestorTimelineId), lsn: loaded.ancestorLsn };
    const opened = await LayeredTimelineStore.open({
      directory: args.directory, logger: logOf(context), diskConsistentLsn: loaded.diskConsistentLsn,
      checkpointDistanceBytes: args.config.checkpointDistanceBytes,
      ...(ancestor === undefined ? {} : { ancestor }),
      observeLayersVisited: (layers) => threadMetrics().layersVisitedPerRead.observe(layers),
      checkpointHook: async (step) => {
        const fired = await failpoint(step);
        if (fired !== undefined) throw failpointError(step, fired);
      },
    });
    store = opened;
    commitTimes = await readCommitTimes(nodeFs, args.directory);
    const index = commitTimes;
    // CREATE DATABASE (FILE_COPY) copies pages as of the record: those with records on top of
    // their image are reconstructed by the walredo actor first.
    const redo = (key: string, data: ReconstructData) =>
      context.ask<Uint8Array>(walredoAddress(args.tenantId), { kind: 'Redo', key, data } satisfies WalRedoMessage, { timeoutMs: REDO_ASK_TIMEOUT_MS });
    const materializePage = async (key: string, lsn: Lsn): Promise<Uint8Array> => {
      const data = await opened.getReconstructData(key, lsn);
      if (data === undefined) return new Uint8Array(BLCKSZ);
      if (data.records.length === 0 && data.image !== undefined) return data.image.bytes;
      return redo(key, data);
    };
    const ingest = await WalIngest.create(opened, { logger: logOf(context), materializePage });
    // One write at a time, in order: a flush's and GC's writes must not land out of order.
    metadataWriter = new TimelineMetadataWriter(nodeFs, args.directory, loaded);
    const writer = metadataWriter;
    const writeMetadata = async (update: Partial<TimelineMetadata>) => {
      const written = writer.update(update);
      metadata = writer.current;
      await written;
    };
    const active = new Timeline({
      tenantId: args.tenantId, timelineId: args.timelineId, store: opened, ingest, relations: { getRelSize }, logger: logOf(context),
      // The store's disk_consistent_lsn is the metadata's or what its layer files prove, whichever
      // is higher: a crash between a layer write and the metadata write leaves layers ahead of the
      // metadata, and streaming must resume after them (re-putting older LSNs would be refused).
      lsns: { consistentLsn: loaded.initdbLsn, lastRecordLsn: opened.diskConsistentLsn, diskConsistentLsn: opened.diskConsistentLsn, remoteConsistentLsn: 0 },
      waitLsnTimeoutMs: args.waitLsnTimeoutMs, checkpointDistanceBytes: args.config.checkpointDistanceBytes,
      checkpointTimeoutMs: args.config.checkpointTimeoutMs, inMemoryBytesMax: args.config.inMemoryBytesMax,
      // Pages that need records applied are reconstructed by the tenant's walredo actor.
      redo,
      gcCutoffLsn: loaded.latestGcCutoffLsn,
      commitTimes: index,
      // Frozen layers are written by the flush actor; at shutdown (it stopped first) by the store.
      flushFrozen: async (upToLsn) => {
        if (stopping) return opened.flushFrozen();
        const reply = await context.ask<Flushed>(flushAddress(context), { kind: 'LayerFrozen', upToLsn } satisfies FlushMessage, { timeoutMs: MAINTENANCE_ASK_TIMEOUT_MS });
        return reply.lsn;
      },
      persist: async (lsns) => {
        // The flush's layer files are durable; a crash here leaves the metadata behind them.
        await failpointOrThrow('timeline-flush-before-metadata');
        await writeCommitTimes(nodeFs, args.directory, index, lsns.diskConsistentLsn);
        await writeMetadata({ diskConsistentLsn: lsns.diskConsistentLsn });
      },
    });
    timeline = active;
    args.registry.publishStore(args.timelineId, opened);
    const maintenance: MaintenanceContext = {
      store: opened, timeline: active, logger: logOf(context), redo, commitTimes: index, nowMs: () => Date.now(),
      settings: () => args.config,
      retainLsns: () => args.registry.retainLsns(args.timelineId),
      persistGcCutoff: (lsn) => writeMetadata({ latestGcCutoffLsn: lsn }),
    };
    await context.spawn<FlushMessage>({
      address: flushAddress(context),
      factory: () => createFlushBehavior({ tenantId: args.tenantId, timelineId: args.timelineId, store: opened }),
    });
    await context.spawn<CompactionMessage>({
      address: compactionAddress(context),
      factory: () => createCompactionBehavior({ parent: context.self, tenantId: args.tenantId, timelineId: args.timelineId, periodMs: args.config.compactionPeriodMs, maintenance }),
    });
    await context.spawn<GcMessage>({
      address: gcAddress(context),
      factory: () => createGcBehavior({ parent: context.self, tenantId: args.tenantId, timelineId: args.timelineId, periodMs: args.config.gcPeriodMs, maintenance }),
    });
    state = applyTimelineTransition(state, { kind: 'Activate' }, logOf(context));
    const tickMs = Math.max(50, Math.min(1000, Math.floor(args.config.checkpointTimeoutMs / 4)));
    ticker = setInterval(() => {
      try { context.tell(context.self, { kind: 'Tick' }); } catch { /* stopping, or busy: the next tick comes */ }
    }, tickMs);
    ticker.unref();
    const connectionString = await readWalSource(args.directory);
    if (connectionString !== undefined) await spawnWalReceiver(context, active, connectionString);
  };

  const spawnWalReceiver = async (context: ActorContext, active: Timeline, connectionString: string): Promise<void> => {
    const lsns = active.snapshotLsns();
    await context.spawn({
      address: `${context.self}/walreceiver`,
      factory: () => createWalReceiverBehavior({
        parent: context.self, tenantId: args.tenantId, timelineId: args.timelineId, connectionString, slotName: slotNameForTimeline(args.timelineId), initialLsns: lsns,
      }),
    });
  };

  /**
   * A timeline without a WAL source (a branch) starts following `connectionString` at `startLsn`:
   * the slot first (RESERVE_WAL keeps the new primary's WAL from its checkpoint on), then the
   * timeline moves to `startLsn` durably (nothing lies between its branch point and there), then
   * the source is recorded and the walreceiver starts. Repeating the request after a failure is safe.
   */
  const followPrimary = async (context: ActorContext, connectionString: string, startLsn: Lsn): Promise<TimelineInfo> => {
    const active = requireActive();
    if ((await readWalSource(args.directory)) !== undefined) {
      throw new StrataError('PS_ERR_CONFLICT', `timeline ${args.timelineId} already follows a primary`);
    }
    const client = await ReplicationClient.connect(connectionString, { signal: context.signal });
    try {
      await client.createPhysicalSlot(slotNameForTimeline(args.timelineId), { reserveWal: true }).catch((error: unknown) => {
        if (!/already exists/.test(error instanceof Error ? error.message : String(error))) throw error;
      });
    } finally {
      await client.close();
    }
    if (active.lastRecordLsn !== startLsn) await active.skipTo(startLsn);
    await writeWalSource(args.directory, connectionString);
    const written = metadataWriter?.update({ walSource: redactConnectionString(connectionString) });
    if (metadataWriter !== undefined) metadata = metadataWriter.current;
    await written;
    await spawnWalReceiver(context, active, connectionString);
    logOf(context).info({ start_lsn: formatLsn(startLsn), source: redactConnectionString(connectionString) }, 'following a new primary');
    return info();
  };

  /** Validates a child's branch point: not below the GC cutoff, not above what was ingested (after a bounded wait). */
  const prepareBranch = async (lsn: Lsn | undefined): Promise<BranchPoint> => {
    const active = requireActive();
    const point = lsn ?? active.lastRecordLsn;
    if (point < active.gcCutoffLsn) {
      throw new StrataError('PS_ERR_LSN_TOO_OLD', `cannot branch at ${formatLsn(point)}: below the ancestor's GC cutoff ${formatLsn(active.gcCutoffLsn)}`,
        { ancestor_start_lsn: formatLsn(point), gc_cutoff_lsn: formatLsn(active.gcCutoffLsn) });
    }
    if (point < active.consistentLsn) {
      throw new StrataError('PS_ERR_LSN_TOO_OLD', `cannot branch at ${formatLsn(point)}: below the ancestor's consistent start ${formatLsn(active.consistentLsn)}`,
        { ancestor_start_lsn: formatLsn(point) });
    }
    if (point > active.lastRecordLsn) {
      try {
        await active.waitForLsn(point, BRANCH_WAIT_MS);
      } catch (error) {
        throw new StrataError('PS_ERR_BAD_REQUEST', `cannot branch at ${formatLsn(point)}: the ancestor has only reached ${formatLsn(active.lastRecordLsn)} (waited ${BRANCH_WAIT_MS} ms)`,
          { ancestor_start_lsn: formatLsn(point), last_record_lsn: formatLsn(active.lastRecordLsn), cause: error instanceof Error ? error.message : String(error) });
      }
    }
    // The branch reads this timeline at or below `point`: what is at or below it must be durable
    // here, or a crash would lose what the branch stands on.
    if (active.diskConsistentLsn < point) await active.flush();
    return { ancestorLsn: point, initdbLsn: active.consistentLsn, pgVersion: metadata?.pgVersion ?? 15 };
  };

  return {
    async start(context) {
      try {
        await load(context);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        logOf(context).error({ err: error }, 'timeline failed to load');
        state = applyTimelineTransition(state, { kind: 'MarkBroken', reason }, logOf(context));
      }
    },
    concurrent(message) {
      // Maintenance requests wait for their child's pass; Ingest must keep flowing meanwhile.
      return message.kind === 'RelSize' || message.kind === 'GetPage' || message.kind === 'GetPageRuns' || message.kind === 'BackupManifest' || message.kind === 'FullbackupToDirectory' || message.kind === 'LsnForTimestamp' || message.kind === 'GetSlruSegment' || message.kind === 'DbSize' || message.kind === 'Info'
        || message.kind === 'Compact' || message.kind === 'DoGc' || message.kind === 'Checkpoint' || message.kind === 'Layers' || message.kind === 'PrepareBranch';
    },
    async receive(message, context) {
      switch (message.kind) {
        case 'Ingest': {
          const active = requireActive();
          let ingested: number;
          try {
            const records = message.records;
            ingested = isPackedRecords(records) ? await active.ingestPacked(records) : await active.ingestRecords(records);
          } catch (error) {
            // WAL that cannot be ingested will not become ingestible by retrying: the timeline stops
            // serving instead of answering from a state that silently lacks a record.
            const reason = `ingest failed at ${formatLsn(active.lastRecordLsn)}: ${error instanceof Error ? error.message : String(error)}`;
            logOf(context).error({ err: error }, 'ingest failed; marking the timeline broken');
            state = applyTimelineTransition(state, { kind: 'MarkBroken', reason }, logOf(context));
            throw new StrataError('PS_ERR_BROKEN', `timeline ${args.timelineId} is broken: ${reason}`, { reason });
          }
          // Back-pressure (max_inmemory_bytes): no reply, so no more WAL, until flushes made room.
          // A failed flush is not the WAL's fault: the walreceiver reconnects and retries later.
          await active.waitForMemory().catch((error: unknown) => {
            throw new StrataError('PS_ERR_IO', `ingest waits for a flush that failed: ${error instanceof Error ? error.message : String(error)}`);
          });
          return { ingested, lsns: active.snapshotLsns() } satisfies IngestReply;
        }
        case 'Info':
          return info();
        case 'RelSize':
          return requireActive().relSize(message.rel, message.lsn);
        case 'GetPage':
          return requireActive().getPage(message.rel, message.blockNumber, message.lsn);
        case 'GetPageRuns':
          return requireActive().getPageRuns(message.runs, message.lsn);
        case 'FollowPrimary':
          return followPrimary(context, message.connectionString, message.startLsn);
        case 'FullbackupToDirectory': {
          const active = requireActive();
          // The manifest takes a GC lease at the backup's LSN; it goes when the backup ends.
          let leased: Lsn | undefined;
          const source: BackupSource = {
            manifest: async (lsn) => {
              const manifest = await active.backupManifest(lsn);
              leased = manifest.lsn;
              return manifest;
            },
            readPageRuns: (runs, lsn) => active.getPageRuns(runs, lsn, LOCAL_PAGES_PER_RUN),
            readSlruSegment: (slru, segment, lsn) => active.getSlruSegment(slru, segment, lsn),
          };
          try {
            return await buildFullbackup(source, new DirectoryBackupSink(message.directory), {
              lsn: message.lsn, tablespaceMapping: new Map(message.tablespaceMapping), pagesPerRun: LOCAL_PAGES_PER_RUN, depth: LOCAL_RUNS_IN_FLIGHT,
            });
          } finally {
            if (leased !== undefined) active.releaseBackupLease(leased);
          }
        }
        case 'LsnForTimestamp':
          return requireActive().lsnForTimestamp(message.timestampUs);
        case 'BackupManifest':
          return requireActive().backupManifest(message.lsn);
        case 'GetSlruSegment':
          return requireActive().getSlruSegment(message.slru, message.segment, message.lsn);
        case 'DbSize':
          return requireActive().dbSize(message.dbNode, message.lsn);
        case 'Flush':
          return requireActive().flush(message.requestedBy ?? 'api');
        case 'Checkpoint': {
          await requireActive().flush('api');
          return context.ask(compactionAddress(context), { kind: 'Compact', force: false } satisfies CompactionMessage, { timeoutMs: MAINTENANCE_ASK_TIMEOUT_MS });
        }
        case 'Compact':
          requireActive();
          return context.ask(compactionAddress(context), { kind: 'Compact', force: message.force } satisfies CompactionMessage, { timeoutMs: MAINTENANCE_ASK_TIMEOUT_MS });
        case 'DoGc':
          requireActive();
          return context.ask(gcAddress(context), { kind: 'DoGc', gcHorizonBytes: message.gcHorizonBytes } satisfies GcMessage, { timeoutMs: MAINTENANCE_ASK_TIMEOUT_MS });
        case 'Layers': {
          requireActive();
          const opened = store!;
          return {
            in_memory_layers: opened.describeInMemoryLayers().map((layer) => ({ ...layer, lsn_start: formatLsn(layer.lsn_start), lsn_end: layer.lsn_end === null ? null : formatLsn(layer.lsn_end) })),
            historic_layers: opened.describeLayers().map((layer) => ({ ...layer, lsn_start: formatLsn(layer.lsn_start), lsn_end: formatLsn(layer.lsn_end) })),
            read_amplification: opened.readAmplification,
          };
        }
        case 'PrepareBranch':
          return prepareBranch(message.lsn);
        case 'MaintenanceFailed':
          if (state.kind === 'Active' || state.kind === 'Loading') {
            logOf(context).error({ task: message.task, reason: message.reason }, 'maintenance failed; marking the timeline broken');
            state = applyTimelineTransition(state, { kind: 'MarkBroken', reason: message.reason }, logOf(context));
          }
          return undefined;
        case 'WalReceiverStatus':
          walReceiverStatus = message.status;
          return undefined;
        case 'Tick':
          if (state.kind === 'Active') timeline?.flushIfStale(Date.now());
          return undefined;
        case 'Shutdown':
          if (state.kind === 'Stopping' || state.kind === 'Stopped') return undefined;
          state = applyTimelineTransition(state, { kind: 'Stop', reason: message.reason }, logOf(context));
          return undefined;
        default:
          return assertNever(message);
      }
    },
    async stop(context) {
      stopping = true;
      if (ticker !== undefined) clearInterval(ticker);
      if (state.kind !== 'Stopping' && state.kind !== 'Stopped') {
        state = applyTimelineTransition(state, { kind: 'Stop', reason: 'shutdown' }, logOf(context));
      }
      if (timeline !== undefined) {
        // Make what was ingested durable so a restart streams less; a failure here is not fatal
        // because the slot still holds the WAL from disk_consistent_lsn on.
        await timeline.flush('shutdown').catch((error: unknown) => logOf(context).warn({ err: error }, 'final flush failed'));
        await timeline.close();
        args.registry.unpublishStore(args.timelineId);
      }
      if (state.kind === 'Stopping') state = applyTimelineTransition(state, { kind: 'StopDone' }, logOf(context));
    },
  };
}

/** Module export for spawning on an actor thread: `factory(args, context)`. */
export default function timelineActorFactory(args: unknown): Behavior<TimelineMessage> {
  return createTimelineBehavior(args as TimelineActorArgs);
}

/** Writes the full connection string (it may hold a password) readable by the owner only. */
export async function writeWalSource(directory: string, connectionString: string): Promise<void> {
  const path = join(directory, WAL_SOURCE_FILE);
  const temporary = `${path}.strata-temp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(connectionString);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(temporary, 0o600);
  await rename(temporary, path);
  const directoryHandle = await open(directory, 'r');
  try { await directoryHandle.sync(); } finally { await directoryHandle.close(); }
}

export async function readWalSource(directory: string): Promise<string | undefined> {
  const names = await nodeFs.readdir(directory);
  if (!names.includes(WAL_SOURCE_FILE)) return undefined;
  return (await readSmallFile(nodeFs, join(directory, WAL_SOURCE_FILE))).toString('utf8');
}

export function describeLsns(lsns: TimelineLsns): Record<string, string> {
  return {
    consistent_lsn: formatLsn(lsns.consistentLsn), last_record_lsn: formatLsn(lsns.lastRecordLsn),
    disk_consistent_lsn: formatLsn(lsns.diskConsistentLsn), remote_consistent_lsn: formatLsn(lsns.remoteConsistentLsn),
  };
}
