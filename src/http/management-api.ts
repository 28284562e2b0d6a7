/**
 * What the HTTP management API (routes.ts) asks of the server. The tenant manager implements it;
 * tests may implement it in memory. All errors thrown are StrataErrors; routes.ts maps them.
 * JSON shapes follow Neon's v1 API (snake_case fields, LSNs as "X/Y" strings).
 */
import type { RelTag, SlruKind } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { CreateTenantRequest, CreateTimelineRequest, ServerStatus, TenantInfo } from '../tenant/tenant-types.js';
import type { TimelineInfo } from '../timeline/timeline-info.js';
import type { ComputeApi, ComputeInfo, ComputeStartReply, StartComputeRequest } from '../compute/compute-manager.js';
import type { FullbackupOptions, FullbackupResult, LsnForTimestamp } from '../backup/types.js';

// The domain's shapes, named here for the API's users (routes, CLI, tests).
export type { CreateTenantRequest, CreateTimelineRequest, ServerStatus, TenantInfo, TimelineInfo };
// Computes have an API of their own (the compute manager implements it), served beside this one.
export type { ComputeApi, ComputeInfo, ComputeStartReply, StartComputeRequest };


export interface ManagementApi {
  status(): Promise<ServerStatus>;
  createTenant(request: CreateTenantRequest): Promise<TenantInfo>;
  listTenants(): Promise<TenantInfo[]>;
  getTenant(tenantId: string): Promise<TenantInfo>;
  createTimeline(tenantId: string, request: CreateTimelineRequest): Promise<TimelineInfo>;
  listTimelines(tenantId: string): Promise<TimelineInfo[]>;
  getTimeline(tenantId: string, timelineId: string): Promise<TimelineInfo>;
  /** Relation size in blocks at `lsn` (latest when undefined). */
  relSize(tenantId: string, timelineId: string, rel: RelTag, lsn: Lsn | undefined): Promise<number>;
  /** Page bytes (8192) at `lsn` (latest when undefined). */
  getPage(tenantId: string, timelineId: string, rel: RelTag, blockNumber: number, lsn: Lsn | undefined): Promise<Uint8Array>;
  /** An SLRU segment's pages (pg_xact, multixact offsets/members) at `lsn` (latest when undefined). */
  getSlruSegment(tenantId: string, timelineId: string, kind: SlruKind, segment: number, lsn: Lsn | undefined): Promise<Uint8Array>;
  /** Removes a timeline that has no children (409 otherwise). */
  deleteTimeline(tenantId: string, timelineId: string): Promise<void>;
  /** `{"in_memory_layers": [...], "historic_layers": [...]}` (Neon's layer listing). */
  timelineLayers(tenantId: string, timelineId: string): Promise<unknown>;
  /** Freeze and flush now, then a compaction pass. */
  checkpoint(tenantId: string, timelineId: string): Promise<unknown>;
  compact(tenantId: string, timelineId: string, force: boolean): Promise<unknown>;
  /** One GC pass; `gcHorizonBytes` overrides the tenant's gc_horizon. */
  doGc(tenantId: string, timelineId: string, gcHorizonBytes: number | undefined): Promise<unknown>;
}

/** Backups over HTTP: a tar stream of a full backup, and the LSN of a time. */
export interface BackupApi {
  /** Writes the tar through `write` (resolves when the client can take more). */
  fullbackupToTar(tenantId: string, timelineId: string, write: (bytes: Uint8Array) => Promise<void>, options?: FullbackupOptions): Promise<FullbackupResult>;
  /** `timestampUs`: PostgreSQL TimestampTz (microseconds since 2000-01-01 UTC). */
  lsnForTimestamp(tenantId: string, timelineId: string, timestampUs: number): Promise<LsnForTimestamp>;
}
