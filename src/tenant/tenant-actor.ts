/**
 * The tenant actor: one per tenant, on the actor thread its id hashes to. It loads the tenant's
 * timelines from disk, creates new ones, and forwards reads to its timeline actors (children on the
 * same thread, so the forward does not cross threads).
 *
 * Parent: the actor system's root (spawned by the TenantManager on the main thread).
 * Children: one timeline actor per timeline (timeline-actor.ts).
 *
 *   Attaching --Activate--> Activating --ActivationDone--> Active --Stop--> Stopping --StopDone--> Stopped
 *   any but Broken/Stopped --MarkBroken--> Broken --Stop--> Stopping
 *
 * (the table and the checks are in tenant-state.ts; only `applyTenantTransition` changes state).
 *
 * Timeline creation takes a base backup and may run for minutes, and reads may wait for WAL, so
 * both run concurrently with the mailbox; creations of one id are serialized by `creating`.
 */
import { createWalRedoBehavior, walredoAddress, type WalRedoMessage } from '../walredo/walredo-actor.js';
import { assert, assertNever } from '../assert.js';
import type { ActorContext, ActorRef, Behavior } from '../actor/types.js';
import { StrataError } from '../errors.js';
import { limits } from '../limits.js';
import type { CreateTimelineRequest, TenantInfo } from './tenant-types.js';
import type { TimelineInfo } from '../timeline/timeline-info.js';
import { boundLogger, redactConnectionString } from '../observability/log.js';
import { LayeredTimelineStore } from '../storage/layered-timeline-store.js';
import { nodeFs } from '../storage/fs.js';
import { readTimelineMetadata, writeTimelineMetadata } from '../storage/timeline-metadata.js';
import type { TenantConfig } from '../config.js';
import { formatLsn, parseLsn } from '../lsn.js';
import { BranchRegistry } from '../timeline/branch-registry.js';
import { attachFromPrimary } from '../timeline/attach-primary.js';
import { createTimelineBehavior, timelineAddress, writeWalSource, type BranchPoint, type TimelineMessage } from '../timeline/timeline-actor.js';
import { beginTimelineCreation } from '../timeline/uninitialized-timeline.js';
import { generateId, parseId } from './ids.js';
import { decodePageRequest, encodeRelSizeResponse, PageRequestKind } from './page-request-codec.js';
import { listTimelineIds, removeTimelineDirectory, timelinePath } from './tenant-directory.js';
import { applyTenantTransition, initialTenantState, tenantStateForApi, type TenantState } from './tenant-state.js';

export interface TenantActorArgs {
  workdir: string;
  tenantId: string;
  waitLsnTimeoutMs: number;
  /** The server's defaults with this tenant's overrides applied (config.ts resolveTenantConfig). */
  config: TenantConfig;
}

export type TenantMessage =
  | { kind: 'Info' }
  | { kind: 'ListTimelines' }
  | { kind: 'CreateTimeline'; request: CreateTimelineRequest }
  | { kind: 'ForTimeline'; timelineId: string; message: TimelineMessage }
  /** Removes a timeline without children: stops its actor, then deletes its directory. */
  | { kind: 'DeleteTimeline'; timelineId: string }
  | { kind: 'Shutdown'; reason: string }
  /** A page read in byte form (page-request-codec.ts), arriving over the thread's ring. */
  | Uint8Array;

export function tenantAddress(tenantId: string): string {
  return `tenant/${tenantId}`;
}

/** Reads forwarded to a timeline wait for WAL up to wait_lsn_timeout; this bounds the forward itself. */
const forwardTimeoutMs = (args: TenantActorArgs) => args.waitLsnTimeoutMs + limits.askTimeoutMsDefault;
/** Compaction and GC passes asked for by the API may run for minutes. */
const MAINTENANCE_FORWARD_TIMEOUT_MS = 3_600_000;

export function createTenantBehavior(args: TenantActorArgs): Behavior<TenantMessage> {
  let state: TenantState = initialTenantState();
  const logOf = (context: ActorContext) => boundLogger(context.logger, { tenant_id: args.tenantId });
  const timelines = new Map<string, ActorRef>();
  const creating = new Set<string>();
  const registry = new BranchRegistry();
  /** Each timeline's ancestor (for deletes: a leaf's parent forgets the branch point). */
  const ancestors = new Map<string, string>();

  const info = (): TenantInfo => ({ id: args.tenantId, state: tenantStateForApi(state), timelines: [...timelines.keys()].sort() });

  const requireActive = (): void => {
    if (state.kind === 'Active') return;
    if (state.kind === 'Broken') throw new StrataError('PS_ERR_BROKEN', `tenant ${args.tenantId} is broken: ${state.reason}`, { reason: state.reason });
    throw new StrataError('PS_ERR_CONFLICT', `tenant ${args.tenantId} is ${state.kind}`, { state: state.kind });
  };

  const spawnTimeline = async (context: ActorContext, timelineId: string): Promise<ActorRef> => {
    const ref = await context.spawn<TimelineMessage>({
      address: timelineAddress(args.tenantId, timelineId),
      factory: () => createTimelineBehavior({
        tenantId: args.tenantId, timelineId, directory: timelinePath(args.workdir, args.tenantId, timelineId),
        waitLsnTimeoutMs: args.waitLsnTimeoutMs, config: args.config, registry,
      }),
    });
    timelines.set(timelineId, ref);
    return ref;
  };

  const timelineRef = (timelineId: string): ActorRef => {
    const ref = timelines.get(timelineId);
    if (ref === undefined) throw new StrataError('PS_ERR_NOT_FOUND', `timeline ${timelineId} of tenant ${args.tenantId} not found`, { timeline_id: timelineId });
    return ref;
  };

  const createTimeline = async (context: ActorContext, request: CreateTimelineRequest): Promise<TimelineInfo> => {
    requireActive();
    const timelineId = request.new_timeline_id === undefined ? generateId() : parseId(request.new_timeline_id, 'timeline');
    if (request.pg_version !== undefined && request.pg_version !== 15) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `pg_version ${request.pg_version} is not supported: only 15`);
    }
    const ancestorId = request.ancestor_timeline_id === undefined ? undefined : parseId(request.ancestor_timeline_id, 'timeline');
    if (ancestorId !== undefined && request.from_primary !== undefined) {
      throw new StrataError('PS_ERR_BAD_REQUEST', 'give either ancestor_timeline_id (a branch) or from_primary (attach), not both');
    }
    if (ancestorId === undefined && (request.from_primary === undefined || request.from_primary.trim() === '')) {
      throw new StrataError('PS_ERR_BAD_REQUEST', 'from_primary is required: the connection string of a PostgreSQL 15 primary (or ancestor_timeline_id to branch)');
    }
    if (ancestorId === undefined && request.ancestor_start_lsn !== undefined) {
      throw new StrataError('PS_ERR_BAD_REQUEST', 'ancestor_start_lsn needs ancestor_timeline_id', { parameter: 'ancestor_start_lsn' });
    }
    if (timelines.has(timelineId) || creating.has(timelineId)) {
      throw new StrataError('PS_ERR_ALREADY_EXISTS', `timeline ${timelineId} already exists`, { timeline_id: timelineId });
    }
    creating.add(timelineId);
    try {
      if (ancestorId !== undefined) await createBranch(context, timelineId, ancestorId, request.ancestor_start_lsn);
      else await createFromPrimary(context, timelineId, request.from_primary!);
      const ref = await spawnTimeline(context, timelineId);
      return await ref.ask<TimelineInfo>({ kind: 'Info' });
    } finally {
      creating.delete(timelineId);
    }
  };

  /**
   * A branch copies nothing: a directory with a metadata file naming the ancestor and the branch
   * point. The ancestor validates the point (GC cutoff, last_record_lsn) and keeps it from GC.
   */
  const createBranch = async (context: ActorContext, timelineId: string, ancestorId: string, startLsnText: string | undefined): Promise<void> => {
    const ancestor = timelineRef(ancestorId);
    const startLsn = startLsnText === undefined ? undefined : parseLsnParameter(startLsnText, 'ancestor_start_lsn');
    const point = await ancestor.ask<BranchPoint>({ kind: 'PrepareBranch', lsn: startLsn } satisfies TimelineMessage, { timeoutMs: forwardTimeoutMs(args) });
    const logger = logOf(context).child({ timeline_id: timelineId });
    const uninitialized = await beginTimelineCreation({ workdir: args.workdir, tenantId: args.tenantId, timelineId, logger });
    try {
      await writeTimelineMetadata(nodeFs, uninitialized.path, {
        diskConsistentLsn: point.ancestorLsn, prevRecordLsn: 0, ancestorTimelineId: ancestorId, ancestorLsn: point.ancestorLsn, latestGcCutoffLsn: 0,
        initdbLsn: point.initdbLsn, pgVersion: point.pgVersion, walSource: null,
      });
      await uninitialized.finish();
    } catch (error) {
      await uninitialized.abort().catch(() => undefined);
      throw error;
    }
    registry.addBranch(ancestorId, timelineId, point.ancestorLsn);
    ancestors.set(timelineId, ancestorId);
    logger.info({ ancestor_timeline_id: ancestorId, ancestor_lsn: formatLsn(point.ancestorLsn) }, 'created branch');
  };

  const deleteTimeline = async (context: ActorContext, timelineId: string): Promise<void> => {
    requireActive();
    timelineRef(timelineId);
    const children = registry.childrenOf(timelineId);
    if (children.length > 0) {
      throw new StrataError('PS_ERR_CONFLICT', `timeline ${timelineId} has child timelines (${children.join(', ')}); delete them first`, { timeline_id: timelineId, children });
    }
    await context.stopChild(timelineAddress(args.tenantId, timelineId));
    timelines.delete(timelineId);
    const ancestorId = ancestors.get(timelineId);
    if (ancestorId !== undefined) registry.removeBranch(ancestorId, timelineId);
    ancestors.delete(timelineId);
    await removeTimelineDirectory(args.workdir, args.tenantId, timelineId);
    logOf(context).info({ timeline_id: timelineId }, 'deleted timeline');
  };

  const createFromPrimary = async (context: ActorContext, timelineId: string, connectionString: string): Promise<void> => {
    const logger = logOf(context).child({ timeline_id: timelineId });
    const uninitialized = await beginTimelineCreation({ workdir: args.workdir, tenantId: args.tenantId, timelineId, logger });
    try {
      const store = await LayeredTimelineStore.open({ directory: uninitialized.path, logger, checkpointDistanceBytes: args.config.checkpointDistanceBytes });
      try {
        const attached = await attachFromPrimary({ connectionString, timelineId, store, logger, signal: context.signal });
        // The import published its image layers at the start LSN: nothing is left to flush.
        assert(store.openLayerBytes === 0 && store.diskConsistentLsn === attached.startLsn, 'the base backup import is durable at its LSN');
        const durable = store.diskConsistentLsn;
        await writeWalSource(uninitialized.path, connectionString);
        await writeTimelineMetadata(nodeFs, uninitialized.path, {
          diskConsistentLsn: durable, prevRecordLsn: 0, ancestorTimelineId: null, ancestorLsn: 0, latestGcCutoffLsn: 0,
          initdbLsn: attached.endLsn, pgVersion: 15, walSource: redactConnectionString(connectionString),
        });
      } finally {
        await store.close();
      }
      await uninitialized.finish();
    } catch (error) {
      await uninitialized.abort().catch(() => undefined);
      throw error;
    }
  };

  /** Answers a byte-form read: GetPage → the page, RelSize → u32 (page-request-codec.ts). */
  const servePageRequest = async (bytes: Uint8Array): Promise<Uint8Array> => {
    const request = decodePageRequest(bytes);
    const timeline = timelineRef(request.timelineId);
    const options = { timeoutMs: forwardTimeoutMs(args) };
    if (request.kind === PageRequestKind.RelSize) {
      return encodeRelSizeResponse(await timeline.ask<number>({ kind: 'RelSize', rel: request.rel, lsn: request.lsn }, options));
    }
    return timeline.ask<Uint8Array>({ kind: 'GetPage', rel: request.rel, blockNumber: request.blockNumber, lsn: request.lsn }, options);
  };

  return {
    async start(context) {
      state = applyTenantTransition(state, { kind: 'Activate' }, logOf(context));
      try {
        // The tenant's walredo manager, asked by its timelines for pages that need records applied.
        await context.spawn<WalRedoMessage>({ address: walredoAddress(args.tenantId), factory: () => createWalRedoBehavior({ tenantId: args.tenantId }) });
        // Branch points first, so every ancestor's GC keeps its children's from its first pass.
        const ids = await listTimelineIds(args.workdir, args.tenantId);
        for (const timelineId of ids) {
          const found = await readTimelineMetadata(nodeFs, timelinePath(args.workdir, args.tenantId, timelineId)).catch(() => undefined);
          if (found?.ancestorTimelineId) {
            registry.addBranch(found.ancestorTimelineId, timelineId, found.ancestorLsn);
            ancestors.set(timelineId, found.ancestorTimelineId);
          }
        }
        // Ancestors before their branches: a branch's load waits for its ancestor's store.
        const spawned = new Set<string>();
        const spawnWithAncestors = async (timelineId: string, depth: number): Promise<void> => {
          if (spawned.has(timelineId) || depth > ids.length) return;
          const ancestorId = ancestors.get(timelineId);
          if (ancestorId !== undefined && ids.includes(ancestorId)) await spawnWithAncestors(ancestorId, depth + 1);
          spawned.add(timelineId);
          await spawnTimeline(context, timelineId);
        };
        for (const timelineId of ids) await spawnWithAncestors(timelineId, 0);
        state = applyTenantTransition(state, { kind: 'ActivationDone' }, logOf(context));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        logOf(context).error({ err: error }, 'tenant failed to activate');
        state = applyTenantTransition(state, { kind: 'MarkBroken', reason }, logOf(context));
      }
    },
    concurrent(message) {
      if (message instanceof Uint8Array) return true;
      return message.kind === 'CreateTimeline' || message.kind === 'ForTimeline' || message.kind === 'ListTimelines' || message.kind === 'DeleteTimeline';
    },
    async receive(message, context) {
      if (message instanceof Uint8Array) return servePageRequest(message);
      switch (message.kind) {
        case 'Info':
          return info();
        case 'ListTimelines':
          return Promise.all([...timelines.values()].map((ref) => ref.ask<TimelineInfo>({ kind: 'Info' })));
        case 'CreateTimeline':
          return createTimeline(context, message.request);
        case 'ForTimeline': {
          const kind = message.message.kind;
          const long = kind === 'Compact' || kind === 'DoGc' || kind === 'Checkpoint' || kind === 'FullbackupToDirectory';
          return timelineRef(message.timelineId).ask(message.message, { timeoutMs: long ? MAINTENANCE_FORWARD_TIMEOUT_MS : forwardTimeoutMs(args) });
        }
        case 'DeleteTimeline':
          return deleteTimeline(context, message.timelineId);
        case 'Shutdown':
          if (state.kind !== 'Stopping' && state.kind !== 'Stopped') {
            state = applyTenantTransition(state, { kind: 'Stop', reason: message.reason }, logOf(context));
          }
          return undefined;
        default:
          return assertNever(message);
      }
    },
    stop(context) {
      if (state.kind !== 'Stopping' && state.kind !== 'Stopped') {
        state = applyTenantTransition(state, { kind: 'Stop', reason: 'shutdown' }, logOf(context));
      }
      // Children (timelines) are stopped by the runtime before this runs.
      if (state.kind === 'Stopping') state = applyTenantTransition(state, { kind: 'StopDone' }, logOf(context));
    },
  };
}

/** Module export for spawning on an actor thread: `factory(args, context)`. */
export default function tenantActorFactory(args: unknown): Behavior<TenantMessage> {
  return createTenantBehavior(args as TenantActorArgs);
}

function parseLsnParameter(text: string, parameter: string): number {
  try {
    return parseLsn(text);
  } catch {
    throw new StrataError('PS_ERR_BAD_REQUEST', `${parameter} '${text}' is not an LSN (X/Y in hex)`, { parameter });
  }
}
