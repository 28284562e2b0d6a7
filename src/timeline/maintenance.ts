/**
 * The work the compaction and GC actors do for a timeline, on top of the storage engine:
 *
 *   compaction   1. L0 → L1 when compaction_threshold L0 files exist (storage/compaction.ts);
 *                2. image layers at disk_consistent_lsn for each keyspace partition (about
 *                   compaction_target_size of pages) with image_creation_threshold or more delta
 *                   layers above its newest image. The keyspace comes from the metadata at that
 *                   LSN (ingest/keyspace.ts), so dropped relations are left out and GC reclaims them.
 *                   Pages that need records applied are reconstructed by WAL redo, a window of
 *                   them at a time, in key order.
 *   GC           cutoff = min(last_record_lsn − gc_horizon, LSN of the last commit older than
 *                pitr_interval), never moving back, never above disk_consistent_lsn; persisted
 *                before any file goes (reads below it are refused), then the store removes what
 *                no read at or above the cutoff, nor at a child branch point, can need.
 *
 * WHY a module of functions: the decisions (when, what) and the state stay in the actors
 * (compaction-actor.ts, gc-actor.ts); this is what they run, written once, testable without actors.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Key } from '../keys.js';
import { formatLsn, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import { collectKeyspace, keysOf, partitionKeyspace } from '../ingest/keyspace.js';
import type { CompactionOutcome, GcOutcome, LayeredTimelineStore } from '../storage/layered-timeline-store.js';
import { BLCKSZ } from '../wal/types.js';
import type { CommitTimeIndex } from './commit-times.js';
import { postgresTimestampOf } from './commit-times.js';
import type { PageRedo, Timeline } from './timeline.js';

/** Pages reconstructed concurrently while an image layer is written (redo batches them). */
const IMAGE_RECONSTRUCT_WINDOW = 32;

export interface MaintenanceSettings {
  compactionThreshold: number;
  compactionTargetBytes: number;
  imageCreationThreshold: number;
  gcHorizonBytes: number;
  pitrIntervalMs: number;
}

export interface MaintenanceContext {
  store: LayeredTimelineStore;
  timeline: Timeline;
  settings: () => MaintenanceSettings;
  logger: Logger;
  redo: PageRedo;
  /** Branch points of this timeline's children. */
  retainLsns: () => Lsn[];
  commitTimes: CommitTimeIndex;
  /** Persists a new GC cutoff (metadata) before files are deleted. */
  persistGcCutoff: (lsn: Lsn) => Promise<void>;
  nowMs: () => number;
}

export interface CompactionReport {
  l0: CompactionOutcome | undefined;
  image_layers_created: number;
  image_lsn: string;
  partitions: number;
  elapsed_ms: number;
}

export interface GcReport extends GcOutcome {
  cutoff_lsn: string;
  horizon_cutoff_lsn: string;
  pitr_cutoff_lsn: string;
  elapsed_ms: number;
}

/** One compaction pass. `force`: compact any L0 and image every partition with any delta above its image. */
export async function runCompaction(context: MaintenanceContext, options: { force?: boolean; signal?: AbortSignal } = {}): Promise<CompactionReport> {
  const startedMs = context.nowMs();
  const settings = context.settings();
  const force = options.force === true;
  const l0 = await context.store.compactLevel0({
    threshold: force ? 1 : settings.compactionThreshold, targetFileBytes: settings.compactionTargetBytes,
  });
  const lsn = context.store.diskConsistentLsn;
  let created = 0;
  let partitionCount = 0;
  if (lsn >= context.timeline.consistentLsn && lsn > 0) {
    const keyspace = await collectKeyspace(context.store, lsn);
    const partitions = partitionKeyspace(keyspace, Math.max(1, Math.floor(settings.compactionTargetBytes / BLCKSZ)));
    partitionCount = partitions.length;
    const threshold = force ? 1 : settings.imageCreationThreshold;
    for (const partition of partitions) {
      if (options.signal?.aborted === true) throw new StrataError('PS_ERR_SHUTTING_DOWN', 'compaction cancelled');
      const imageLsn = context.store.imageCoverLsn(partition.start, partition.end);
      if (imageLsn >= lsn) continue;
      if ((await context.store.deltasAbove(partition.start, partition.end, imageLsn)) < threshold) continue;
      const written = await context.store.writeImageLayer(lsn, partition.start, partition.end, reconstructPages(context, keysOf(partition.ranges), lsn));
      if (written !== undefined) created++;
    }
  }
  const report: CompactionReport = { l0, image_layers_created: created, image_lsn: formatLsn(lsn), partitions: partitionCount, elapsed_ms: context.nowMs() - startedMs };
  if (l0 !== undefined || created > 0) context.logger.info({ ...report, l0: l0 === undefined ? null : { inputs: l0.inputs, outputs: l0.outputs } }, 'compaction pass');
  return report;
}

/** The pages (or metadata values) of `keys` at `lsn`, in key order, skipping keys with no value. */
async function* reconstructPages(context: MaintenanceContext, keys: Iterable<Key>, lsn: Lsn): AsyncGenerator<readonly [Key, Uint8Array]> {
  const pending: { key: Key; page: Promise<Uint8Array | undefined> }[] = [];
  const start = (key: Key) => {
    const page = pageAt(context, key, lsn);
    // Handled now, so a failure while an earlier page is awaited is not an unhandled rejection;
    // awaiting it later still throws.
    page.catch(() => undefined);
    pending.push({ key, page });
  };
  const iterator = keys[Symbol.iterator]();
  for (let next = iterator.next(); ; next = iterator.next()) {
    if (!next.done) start(next.value);
    if (pending.length >= IMAGE_RECONSTRUCT_WINDOW || (next.done && pending.length > 0)) {
      const head = pending.shift()!;
      const page = await head.page;
      if (page !== undefined) yield [head.key, page] as const;
    }
    if (next.done && pending.length === 0) return;
  }
}

async function pageAt(context: MaintenanceContext, key: Key, lsn: Lsn): Promise<Uint8Array | undefined> {
  const data = await context.store.getReconstructData(key, lsn);
  if (data === undefined) return undefined;
  if (data.records.length === 0) {
    assert(data.image !== undefined, 'reconstruct data without image or records');
    return data.image.bytes;
  }
  return context.redo(key, data, lsn);
}

/** The cutoffs GC would use now (before clamping to what is durable and to the previous cutoff). */
export function gcCutoffs(context: MaintenanceContext, gcHorizonBytes: number): { horizon: Lsn; pitr: Lsn } {
  const settings = context.settings();
  const last = context.timeline.lastRecordLsn;
  const horizon = Math.max(0, last - gcHorizonBytes);
  let pitr = last;
  if (settings.pitrIntervalMs > 0) {
    pitr = context.commitTimes.lsnAtOrBefore(postgresTimestampOf(context.nowMs() - settings.pitrIntervalMs)) ?? 0;
  }
  return { horizon, pitr };
}

/** One GC pass; `gcHorizonBytes` overrides the configured horizon (the do_gc API's body). */
export async function runGc(context: MaintenanceContext, options: { gcHorizonBytes?: number } = {}): Promise<GcReport> {
  const startedMs = context.nowMs();
  const settings = context.settings();
  const raw = gcCutoffs(context, options.gcHorizonBytes ?? settings.gcHorizonBytes);
  // Never past what is durable, nor past an LSN a full backup is reading at.
  const durable = Math.min(context.store.diskConsistentLsn, context.timeline.backupLeaseFloor(context.nowMs()));
  const previous = context.timeline.gcCutoffLsn;
  const horizon = Math.max(previous, Math.min(raw.horizon, durable));
  const pitr = Math.max(previous, Math.min(raw.pitr, durable));
  const cutoff = Math.min(horizon, pitr);
  if (cutoff > previous) {
    await context.persistGcCutoff(cutoff);
    context.timeline.raiseGcCutoff(cutoff);
    // Commit times wholly below the cutoff answer nothing a read may use any more.
    await context.commitTimes.pruneBelow(cutoff);
  }
  const outcome = await context.store.gc({ horizonCutoffLsn: horizon, pitrCutoffLsn: pitr, retainLsns: context.retainLsns() });
  const report: GcReport = {
    ...outcome, cutoff_lsn: formatLsn(Math.max(cutoff, previous)), horizon_cutoff_lsn: formatLsn(horizon), pitr_cutoff_lsn: formatLsn(pitr),
    elapsed_ms: context.nowMs() - startedMs,
  };
  if (outcome.layers_removed > 0) context.logger.info(report, 'GC pass');
  return report;
}
