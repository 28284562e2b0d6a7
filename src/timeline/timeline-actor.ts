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
 * The disk_consistent_lsn this actor reports (Info, and the Ingest and Flush replies from which the
 * walreceiver tells the primary its flush position, which the slot follows) is the one a restart
 * can prove: what the metadata file or the layer files hold. A flush advances the Timeline's own
 * value as soon as its layer file is durable and writes the metadata after; when the flush wrote
 * no layer (nothing was put since the last one, e.g. after a WAL switch), only the metadata proves
 * it. Reporting the Timeline's value before that write let the primary's slot pass the point a
 * crash in between resumes from, and remove WAL the restarted timeline still needed.
 */
import { walredoAddress, type WalRedoMessage } from '../walredo/walredo-actor.js';
import type { PackedRecords } from '../wal/packed-records.js';
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
import type { TimelineInfo } from '../http/management-api.js';
import { boundLogger } from '../observability/log.js';
import { readSmallFile } from '../storage/crashsafe.js';
import { nodeFs } from '../storage/fs.js';
import { LayeredTimelineStore } from '../storage/layered-timeline-store.js';
import { readTimelineMetadata, writeTimelineMetadata, type TimelineMetadata } from '../storage/timeline-metadata.js';
import type { DecodedRecord } from '../wal/types.js';
import { Timeline, type TimelineLsns } from './timeline.js';
import { applyTimelineTransition, initialTimelineState, timelineStateForApi, type TimelineState } from './timeline-state.js';
import { createWalReceiverBehavior, type WalReceiverStatus } from './walreceiver-actor.js';
import { slotNameForTimeline } from './attach-primary.js';

/** The file (mode 0600) holding the full WAL source connection string, password included. */
export const WAL_SOURCE_FILE = 'wal-source';

/** A page's redo waits behind at most a queue of batches; beyond this the read fails (504). */
const REDO_ASK_TIMEOUT_MS = 30_000;

export interface TimelineActorArgs {
  tenantId: string;
  timelineId: string;
  directory: string;
  checkpointDistanceBytes: number;
  waitLsnTimeoutMs: number;
  checkpointTimeoutMs: number;
}

export type TimelineMessage =
  /** Records as objects, or a packed batch from the WAL decode stage (packed-records.ts). */
  | { kind: 'Ingest'; records: readonly DecodedRecord[] | PackedRecords }
  | { kind: 'Info' }
  | { kind: 'RelSize'; rel: RelTag; lsn: Lsn | undefined }
  | { kind: 'GetPage'; rel: RelTag; blockNumber: number; lsn: Lsn | undefined }
  /** A whole SLRU segment (pg_xact, multixact) at an LSN. */
  | { kind: 'GetSlruSegment'; slru: SlruKind; segment: number; lsn: Lsn | undefined }
  /** Bytes of a database's relations in the default tablespace at an LSN (Neon's DbSize). */
  | { kind: 'DbSize'; dbNode: number; lsn: Lsn | undefined }
  | { kind: 'Flush' }
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
  /** disk_consistent_lsn as the files on disk prove it: at load, then after each metadata write. */
  let provenDiskConsistentLsn = 0;
  let walReceiverStatus: WalReceiverStatus | undefined;
  let ticker: NodeJS.Timeout | undefined;

  const requireActive = (): Timeline => {
    if (state.kind === 'Broken') throw new StrataError('PS_ERR_BROKEN', `timeline ${args.timelineId} is broken: ${state.reason}`, { reason: state.reason });
    if (state.kind !== 'Active' || timeline === undefined) {
      throw new StrataError('PS_ERR_CONFLICT', `timeline ${args.timelineId} is ${state.kind}`, { state: state.kind });
    }
    return timeline;
  };

  /** The Timeline's LSNs with disk_consistent_lsn capped at what a restart can prove. */
  const reportedLsns = (active: Timeline): TimelineLsns => {
    const lsns = active.snapshotLsns();
    return { ...lsns, diskConsistentLsn: Math.min(lsns.diskConsistentLsn, provenDiskConsistentLsn) };
  };

  const info = (): TimelineInfo => {
    const lsns = timeline === undefined ? undefined : reportedLsns(timeline);
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
      ...(timeline ? { wal_records_ingested: timeline.ingestedRecordCount, wal_records_by_rmgr: timeline.recordCounts() } : {}),
    };
  };

  const load = async (context: ActorContext): Promise<void> => {
    metadata = await readTimelineMetadata(nodeFs, args.directory);
    if (metadata === undefined) throw new StrataError('PS_ERR_IO', `timeline ${args.timelineId} has no metadata file`);
    const loaded = metadata;
    const store = await LayeredTimelineStore.open({
      directory: args.directory, logger: logOf(context), diskConsistentLsn: loaded.diskConsistentLsn,
      checkpointDistanceBytes: args.checkpointDistanceBytes,
    });
    provenDiskConsistentLsn = store.diskConsistentLsn;
    // CREATE DATABASE (FILE_COPY) copies pages as of the record: those with records on top of
    // their image are reconstructed by the walredo actor first.
    const materializePage = async (key: string, lsn: Lsn): Promise<Uint8Array> => {
      const data = await store.getReconstructData(key, lsn);
      if (data === undefined) return new Uint8Array(BLCKSZ);
      if (data.records.length === 0 && data.image !== undefined) return data.image.bytes;
      return context.ask<Uint8Array>(walredoAddress(args.tenantId), { kind: 'Redo', key, data } satisfies WalRedoMessage, { timeoutMs: REDO_ASK_TIMEOUT_MS });
    };
    const ingest = await WalIngest.create(store, { logger: logOf(context), materializePage });
    timeline = new Timeline({
      tenantId: args.tenantId, timelineId: args.timelineId, store, ingest, relations: { getRelSize }, logger: logOf(context),
      // The store's disk_consistent_lsn is the metadata's or what its layer files prove, whichever
      // is higher: a crash between a layer write and the metadata write leaves layers ahead of the
      // metadata, and streaming must resume after them (re-putting older LSNs would be refused).
      lsns: { consistentLsn: loaded.initdbLsn, lastRecordLsn: store.diskConsistentLsn, diskConsistentLsn: store.diskConsistentLsn, remoteConsistentLsn: 0 },
      waitLsnTimeoutMs: args.waitLsnTimeoutMs, checkpointDistanceBytes: args.checkpointDistanceBytes,
      checkpointTimeoutMs: args.checkpointTimeoutMs,
      // Pages that need records applied are reconstructed by the tenant's walredo actor.
      redo: (key, data) => context.ask<Uint8Array>(walredoAddress(args.tenantId), { kind: 'Redo', key, data } satisfies WalRedoMessage, { timeoutMs: REDO_ASK_TIMEOUT_MS }),
      persist: async (lsns) => {
        // The flush's layer files are durable; a crash here leaves the metadata behind them.
        await failpointOrThrow('timeline-flush-before-metadata');
        const next = { ...loaded, ...metadata, diskConsistentLsn: lsns.diskConsistentLsn };
        await writeTimelineMetadata(nodeFs, args.directory, next);
        metadata = next;
        provenDiskConsistentLsn = Math.max(provenDiskConsistentLsn, next.diskConsistentLsn);
      },
    });
    state = applyTimelineTransition(state, { kind: 'Activate' }, logOf(context));
    const tickMs = Math.max(50, Math.min(1000, Math.floor(args.checkpointTimeoutMs / 4)));
    ticker = setInterval(() => {
      try { context.tell(context.self, { kind: 'Tick' }); } catch { /* stopping, or busy: the next tick comes */ }
    }, tickMs);
    ticker.unref();
    const connectionString = await readWalSource(args.directory);
    if (connectionString !== undefined) {
      const lsns = timeline.snapshotLsns();
      await context.spawn({
        address: `${context.self}/walreceiver`,
        factory: () => createWalReceiverBehavior({
          parent: context.self, tenantId: args.tenantId, timelineId: args.timelineId, connectionString, slotName: slotNameForTimeline(args.timelineId), initialLsns: lsns,
        }),
      });
    }
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
      return message.kind === 'RelSize' || message.kind === 'GetPage' || message.kind === 'GetSlruSegment' || message.kind === 'DbSize' || message.kind === 'Info';
    },
    async receive(message, context) {
      switch (message.kind) {
        case 'Ingest': {
          const active = requireActive();
          try {
            const records = message.records;
            const ingested = isPackedRecords(records) ? await active.ingestPacked(records) : await active.ingestRecords(records);
            return { ingested, lsns: reportedLsns(active) } satisfies IngestReply;
          } catch (error) {
            // WAL that cannot be ingested will not become ingestible by retrying: the timeline stops
            // serving instead of answering from a state that silently lacks a record.
            const reason = `ingest failed at ${formatLsn(active.lastRecordLsn)}: ${error instanceof Error ? error.message : String(error)}`;
            logOf(context).error({ err: error }, 'ingest failed; marking the timeline broken');
            state = applyTimelineTransition(state, { kind: 'MarkBroken', reason }, logOf(context));
            throw new StrataError('PS_ERR_BROKEN', `timeline ${args.timelineId} is broken: ${reason}`, { reason });
          }
        }
        case 'Info':
          return info();
        case 'RelSize':
          return requireActive().relSize(message.rel, message.lsn);
        case 'GetPage':
          return requireActive().getPage(message.rel, message.blockNumber, message.lsn);
        case 'GetSlruSegment':
          return requireActive().getSlruSegment(message.slru, message.segment, message.lsn);
        case 'DbSize':
          return requireActive().dbSize(message.dbNode, message.lsn);
        case 'Flush': {
          // Resolves after the metadata write of the flush it ran or joined; capped all the same,
          // for a flush that had nothing to do after an earlier metadata write failed.
          const durable = await requireActive().flush();
          return Math.min(durable, provenDiskConsistentLsn);
        }
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
      if (ticker !== undefined) clearInterval(ticker);
      if (state.kind !== 'Stopping' && state.kind !== 'Stopped') {
        state = applyTimelineTransition(state, { kind: 'Stop', reason: 'shutdown' }, logOf(context));
      }
      if (timeline !== undefined) {
        // Make what was ingested durable so a restart streams less; a failure here is not fatal
        // because the slot still holds the WAL from disk_consistent_lsn on.
        await timeline.flush().catch((error: unknown) => logOf(context).warn({ err: error }, 'final flush failed'));
        await timeline.close();
      }
      if (state.kind === 'Stopping') state = applyTimelineTransition(state, { kind: 'StopDone' }, logOf(context));
    },
  };
}

/** Module export for spawning on an actor thread: `factory(args, context)`. */
export default function timelineActorFactory(args: unknown): Behavior<TimelineMessage> {
  return createTimelineBehavior(args as TimelineActorArgs);
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
