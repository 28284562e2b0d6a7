/**
 * The tenant manager: the main thread's view of all tenants, and the implementation of the HTTP
 * management API. It creates tenant directories (race-free, tenant-directory.ts), spawns one tenant
 * actor per tenant on the actor thread pool (placed by tenant id), and turns API calls into asks.
 *
 * It holds no tenant state of its own beyond "which tenants exist": states, timelines and LSNs
 * live in the actors and are always read from them.
 */
import type { BackupManifest, FullbackupOptions, LsnForTimestamp, PageRun } from '../backup/types.js';
import type { FullbackupSummary } from '../backup/fullbackup.js';
import { StrataError } from '../errors.js';
import type { ActorSystem } from '../actor/system.js';
import type { CreateTenantRequest, CreateTimelineRequest, ServerStatus, TenantInfo } from './tenant-types.js';
import type { TimelineInfo } from '../timeline/timeline-info.js';
import type { RelTag, SlruKind } from '../keys.js';
import { limits } from '../limits.js';
import { parseLsn, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import type { TimelineMessage } from '../timeline/timeline-actor.js';
import { generateId, parseId } from './ids.js';
import { decodeRelSizeResponse, encodePageRequest, PageRequestKind, type PageRequest } from './page-request-codec.js';
import { tenantAddress, type TenantActorArgs, type TenantMessage } from './tenant-actor.js';
import { createTenantDirectory, listTenantIds, readTenantMarker, removeHalfCreatedDirectories } from './tenant-directory.js';
import { resolveTenantConfig, type TenantConfig } from '../config.js';

export interface TenantManagerOptions {
  workdir: string;
  serverId: string;
  version: string;
  system: ActorSystem;
  logger: Logger;
  waitLsnTimeoutMs: number;
  /** Storage settings every tenant starts from (strata.toml); a tenant's create body may override them. */
  tenantDefaults: TenantConfig;
}

const TENANT_ACTOR_MODULE = new URL('./tenant-actor.js', import.meta.url);
/** Creating a timeline takes a base backup; reads are bounded by wait_lsn_timeout plus slack. */
const CREATE_TIMELINE_TIMEOUT_MS = 3_600_000;
/** Compaction and GC passes asked for by the API may run for minutes. */
const MAINTENANCE_TIMEOUT_MS = 3_600_000;

/** Serves the HTTP API's ManagementApi (http/management-api.ts) structurally; the edge checks the fit. */
export class TenantManager {
  readonly #options: TenantManagerOptions;
  readonly #tenants = new Set<string>();
  readonly #startedAt = Date.now();

  constructor(options: TenantManagerOptions) {
    this.#options = options;
  }

  /** Spawns actors for every tenant found on disk (removing half-created directories first). */
  async load(): Promise<void> {
    await removeHalfCreatedDirectories(this.#options.workdir, this.#options.logger);
    for (const tenantId of await listTenantIds(this.#options.workdir)) await this.#spawn(tenantId);
  }

  async #spawn(tenantId: string): Promise<void> {
    const marker = await readTenantMarker(this.#options.workdir, tenantId);
    const args: TenantActorArgs = {
      workdir: this.#options.workdir, tenantId, waitLsnTimeoutMs: this.#options.waitLsnTimeoutMs,
      config: resolveTenantConfig(this.#options.tenantDefaults, marker.config),
    };
    await this.#options.system.spawn({ address: tenantAddress(tenantId), module: TENANT_ACTOR_MODULE, exportName: 'default', args, placementKey: tenantId });
    this.#tenants.add(tenantId);
  }

  #ask<Reply>(tenantId: string, message: TenantMessage, timeoutMs?: number): Promise<Reply> {
    if (!this.#tenants.has(tenantId)) return Promise.reject(new StrataError('PS_ERR_NOT_FOUND', `tenant ${tenantId} not found`, { tenant_id: tenantId }));
    return this.#options.system.ask<Reply>(tenantAddress(tenantId), message, { timeoutMs: timeoutMs ?? this.#readTimeoutMs() });
  }

  #readTimeoutMs(): number {
    return this.#options.waitLsnTimeoutMs + limits.askTimeoutMsDefault;
  }

  #forTimeline<Reply>(tenantId: string, timelineId: string, message: TimelineMessage, timeoutMs?: number): Promise<Reply> {
    const tenant = parseId(tenantId, 'tenant');
    return this.#ask<Reply>(tenant, { kind: 'ForTimeline', timelineId: parseId(timelineId, 'timeline'), message }, timeoutMs);
  }

  async status(): Promise<ServerStatus> {
    return {
      id: this.#options.serverId, version: this.#options.version,
      uptime_seconds: Math.round((Date.now() - this.#startedAt) / 1000),
      tenants: this.#tenants.size, actor_threads: this.#options.system.threads,
    };
  }

  async createTenant(request: CreateTenantRequest): Promise<TenantInfo> {
    const tenantId = request.new_tenant_id === undefined ? generateId() : parseId(request.new_tenant_id, 'tenant');
    if (this.#tenants.size >= limits.tenantsMax) throw new StrataError('PS_ERR_CONFLICT', `the server holds the maximum of ${limits.tenantsMax} tenants`);
    // Bad settings are refused before anything is created (the key is named).
    resolveTenantConfig(this.#options.tenantDefaults, request.config);
    // mkdir of the tenant directory is the lock point: a concurrent create of the same id fails there.
    await createTenantDirectory(this.#options.workdir, tenantId, { config: request.config ?? {} });
    await this.#spawn(tenantId);
    return this.getTenant(tenantId);
  }

  async listTenants(): Promise<TenantInfo[]> {
    return Promise.all([...this.#tenants].sort().map((tenantId) => this.getTenant(tenantId)));
  }

  getTenant(tenantId: string): Promise<TenantInfo> {
    return this.#ask<TenantInfo>(parseId(tenantId, 'tenant'), { kind: 'Info' });
  }

  createTimeline(tenantId: string, request: CreateTimelineRequest): Promise<TimelineInfo> {
    return this.#ask<TimelineInfo>(parseId(tenantId, 'tenant'), { kind: 'CreateTimeline', request }, CREATE_TIMELINE_TIMEOUT_MS);
  }

  listTimelines(tenantId: string): Promise<TimelineInfo[]> {
    return this.#ask<TimelineInfo[]>(parseId(tenantId, 'tenant'), { kind: 'ListTimelines' });
  }

  getTimeline(tenantId: string, timelineId: string): Promise<TimelineInfo> {
    return this.#forTimeline<TimelineInfo>(tenantId, timelineId, { kind: 'Info' });
  }

  async relSize(tenantId: string, timelineId: string, rel: RelTag, lsn: Lsn | undefined): Promise<number> {
    const response = await this.#askPage(tenantId, { kind: PageRequestKind.RelSize, timelineId, rel, blockNumber: 0, lsn });
    return decodeRelSizeResponse(response);
  }

  getPage(tenantId: string, timelineId: string, rel: RelTag, blockNumber: number, lsn: Lsn | undefined): Promise<Uint8Array> {
    return this.#askPage(tenantId, { kind: PageRequestKind.GetPage, timelineId, rel, blockNumber, lsn });
  }

  getSlruSegment(tenantId: string, timelineId: string, kind: SlruKind, segment: number, lsn: Lsn | undefined): Promise<Uint8Array> {
    return this.#forTimeline<Uint8Array>(tenantId, timelineId, { kind: 'GetSlruSegment', slru: kind, segment, lsn });
  }

  /** Runs of consecutive pages at one LSN, concatenated (≤ PAGES_PER_READ_MAX pages in all). */
  getPageRuns(tenantId: string, timelineId: string, runs: readonly PageRun[], lsn: Lsn | undefined): Promise<Uint8Array> {
    return this.#forTimeline<Uint8Array>(tenantId, timelineId, { kind: 'GetPageRuns', runs, lsn });
  }

  /** What a full backup of the timeline at `lsn` holds (relations, sizes, SLRUs, control data). */
  backupManifest(tenantId: string, timelineId: string, lsn: Lsn | undefined): Promise<BackupManifest> {
    return this.#forTimeline<BackupManifest>(tenantId, timelineId, { kind: 'BackupManifest', lsn });
  }

  /** A full backup written into `directory` by the timeline's actor thread. */
  fullbackupToDirectory(tenantId: string, timelineId: string, directory: string, options: FullbackupOptions): Promise<FullbackupSummary> {
    return this.#forTimeline<FullbackupSummary>(tenantId, timelineId, {
      kind: 'FullbackupToDirectory', directory, lsn: options.lsn, tablespaceMapping: options.tablespaceMapping === undefined ? [] : [...options.tablespaceMapping],
    }, MAINTENANCE_TIMEOUT_MS);
  }

  /** A branch starts following a primary (its writable compute) at `startLsn` (timeline-actor.ts FollowPrimary). */
  followPrimary(tenantId: string, timelineId: string, connectionString: string, startLsn: Lsn): Promise<TimelineInfo> {
    return this.#forTimeline<TimelineInfo>(tenantId, timelineId, { kind: 'FollowPrimary', connectionString, startLsn });
  }

  /**
   * get_lsn_by_timestamp. A branch knows the commits of its own WAL only: a time before its first
   * commit is asked of its ancestor, whose answer stands when it lies at or below the branch point
   * (the branch's state there is the ancestor's), up the chain of ancestors.
   */
  async lsnForTimestamp(tenantId: string, timelineId: string, timestampUs: number): Promise<LsnForTimestamp> {
    const own = await this.#forTimeline<LsnForTimestamp>(tenantId, timelineId, { kind: 'LsnForTimestamp', timestampUs });
    if (own.kind !== 'past' && own.kind !== 'nodata') return own;
    const info = await this.getTimeline(tenantId, timelineId);
    if (info.ancestor_timeline_id === null || info.ancestor_lsn === null) return own;
    const branchPoint = parseLsn(info.ancestor_lsn);
    const inherited = await this.lsnForTimestamp(tenantId, info.ancestor_timeline_id, timestampUs);
    if (inherited.kind === 'present' && inherited.lsn <= branchPoint) return inherited;
    if (inherited.kind === 'past') return inherited;
    if (inherited.kind === 'nodata') return own;
    // Every ancestor commit up to the branch point is at or before the time, and no commit of the
    // branch is: the branch point (or, for a branch without commits, its latest state).
    return own.kind === 'nodata' ? { kind: 'future', lsn: own.lsn } : { kind: 'present', lsn: branchPoint };
  }

  dbSize(tenantId: string, timelineId: string, dbNode: number, lsn: Lsn | undefined): Promise<number> {
    return this.#forTimeline<number>(tenantId, timelineId, { kind: 'DbSize', dbNode, lsn });
  }

  /** Page reads take the hot path: bytes over the actor thread's SharedArrayBuffer ring. */
  #askPage(tenantId: string, request: PageRequest): Promise<Uint8Array> {
    const tenant = parseId(tenantId, 'tenant');
    if (!this.#tenants.has(tenant)) return Promise.reject(new StrataError('PS_ERR_NOT_FOUND', `tenant ${tenant} not found`, { tenant_id: tenant }));
    const bytes = encodePageRequest({ ...request, timelineId: parseId(request.timelineId, 'timeline') });
    return this.#options.system.askBytes(tenantAddress(tenant), bytes, { timeoutMs: this.#readTimeoutMs() });
  }

  deleteTimeline(tenantId: string, timelineId: string): Promise<void> {
    return this.#ask<void>(parseId(tenantId, 'tenant'), { kind: 'DeleteTimeline', timelineId: parseId(timelineId, 'timeline') });
  }

  /** The layer map: in-memory layers and layer files (Neon's layer listing). */
  timelineLayers(tenantId: string, timelineId: string): Promise<unknown> {
    return this.#forTimeline<unknown>(tenantId, timelineId, { kind: 'Layers' });
  }

  /** Freeze and flush now, then one compaction pass. */
  checkpoint(tenantId: string, timelineId: string): Promise<unknown> {
    return this.#forTimeline<unknown>(tenantId, timelineId, { kind: 'Checkpoint' }, MAINTENANCE_TIMEOUT_MS);
  }

  compact(tenantId: string, timelineId: string, force: boolean): Promise<unknown> {
    return this.#forTimeline<unknown>(tenantId, timelineId, { kind: 'Compact', force }, MAINTENANCE_TIMEOUT_MS);
  }

  doGc(tenantId: string, timelineId: string, gcHorizonBytes: number | undefined): Promise<unknown> {
    return this.#forTimeline<unknown>(tenantId, timelineId, { kind: 'DoGc', gcHorizonBytes }, MAINTENANCE_TIMEOUT_MS);
  }

  /** Flushes a timeline's open layer (tests and operators forcing durability). */
  flushTimeline(tenantId: string, timelineId: string): Promise<Lsn> {
    return this.#forTimeline<Lsn>(tenantId, timelineId, { kind: 'Flush' });
  }
}
