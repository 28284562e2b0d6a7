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
import { chmod, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { assert, assertNever } from '../assert.js';
import type { ActorContext, ActorRef, Behavior } from '../actor/types.js';
import { StrataError } from '../errors.js';
import { limits } from '../limits.js';
import type { CreateTimelineRequest, TenantInfo, TimelineInfo } from '../http/management-api.js';
import { boundLogger, redactConnectionString } from '../observability/log.js';
import { LayeredTimelineStore } from '../storage/layered-timeline-store.js';
import { nodeFs } from '../storage/fs.js';
import { writeTimelineMetadata } from '../storage/timeline-metadata.js';
import { attachFromPrimary } from '../timeline/attach-primary.js';
import { createTimelineBehavior, timelineAddress, WAL_SOURCE_FILE, type TimelineMessage } from '../timeline/timeline-actor.js';
import { beginTimelineCreation } from '../timeline/uninitialized-timeline.js';
import { generateId, parseId } from './ids.js';
import { decodePageRequest, encodeRelSizeResponse, PageRequestKind } from './page-request-codec.js';
import { listTimelineIds, timelinePath } from './tenant-directory.js';
import { applyTenantTransition, initialTenantState, tenantStateForApi, type TenantState } from './tenant-state.js';

export interface TenantActorArgs {
  workdir: string;
  tenantId: string;
  checkpointDistanceBytes: number;
  waitLsnTimeoutMs: number;
  checkpointTimeoutMs: number;
}

export type TenantMessage =
  | { kind: 'Info' }
  | { kind: 'ListTimelines' }
  | { kind: 'CreateTimeline'; request: CreateTimelineRequest }
  | { kind: 'ForTimeline'; timelineId: string; message: TimelineMessage }
  | { kind: 'Shutdown'; reason: string }
  /** A page read in byte form (page-request-codec.ts), arriving over the thread's ring. */
  | Uint8Array;

export function tenantAddress(tenantId: string): string {
  return `tenant/${tenantId}`;
}

/** Reads forwarded to a timeline wait for WAL up to wait_lsn_timeout; this bounds the forward itself. */
const forwardTimeoutMs = (args: TenantActorArgs) => args.waitLsnTimeoutMs + limits.askTimeoutMsDefault;

export function createTenantBehavior(args: TenantActorArgs): Behavior<TenantMessage> {
  let state: TenantState = initialTenantState();
  const logOf = (context: ActorContext) => boundLogger(context.logger, { tenant_id: args.tenantId });
  const timelines = new Map<string, ActorRef>();
  const creating = new Set<string>();

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
        checkpointDistanceBytes: args.checkpointDistanceBytes, waitLsnTimeoutMs: args.waitLsnTimeoutMs,
        checkpointTimeoutMs: args.checkpointTimeoutMs,
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
    if (request.ancestor_timeline_id !== undefined) {
      throw new StrataError('PS_ERR_BAD_REQUEST', 'branching from an ancestor timeline is not supported yet; create the timeline with from_primary');
    }
    if (request.from_primary === undefined || request.from_primary.trim() === '') {
      throw new StrataError('PS_ERR_BAD_REQUEST', 'from_primary is required: the connection string of a PostgreSQL 15 primary');
    }
    if (request.pg_version !== undefined && request.pg_version !== 15) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `pg_version ${request.pg_version} is not supported: only 15`);
    }
    if (timelines.has(timelineId) || creating.has(timelineId)) {
      throw new StrataError('PS_ERR_ALREADY_EXISTS', `timeline ${timelineId} already exists`, { timeline_id: timelineId });
    }
    creating.add(timelineId);
    try {
      await createFromPrimary(context, timelineId, request.from_primary);
      const ref = await spawnTimeline(context, timelineId);
      return await ref.ask<TimelineInfo>({ kind: 'Info' });
    } finally {
      creating.delete(timelineId);
    }
  };

  const createFromPrimary = async (context: ActorContext, timelineId: string, connectionString: string): Promise<void> => {
    const logger = logOf(context).child({ timeline_id: timelineId });
    const uninitialized = await beginTimelineCreation({ workdir: args.workdir, tenantId: args.tenantId, timelineId, logger });
    try {
      const store = await LayeredTimelineStore.open({ directory: uninitialized.path, logger, checkpointDistanceBytes: args.checkpointDistanceBytes });
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
        for (const timelineId of await listTimelineIds(args.workdir, args.tenantId)) await spawnTimeline(context, timelineId);
        state = applyTenantTransition(state, { kind: 'ActivationDone' }, logOf(context));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        logOf(context).error({ err: error }, 'tenant failed to activate');
        state = applyTenantTransition(state, { kind: 'MarkBroken', reason }, logOf(context));
      }
    },
    concurrent(message) {
      if (message instanceof Uint8Array) return true;
      return message.kind === 'CreateTimeline' || message.kind === 'ForTimeline' || message.kind === 'ListTimelines';
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
        case 'ForTimeline':
          return timelineRef(message.timelineId).ask(message.message, { timeoutMs: forwardTimeoutMs(args) });
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

/** Writes the full connection string (it may hold a password) readable by the owner only. */
async function writeWalSource(directory: string, connectionString: string): Promise<void> {
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
