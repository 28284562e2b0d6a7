/**
 * What the HTTP management API (routes.ts) asks of the server. The tenant manager implements it;
 * tests may implement it in memory. All errors thrown are StrataErrors; routes.ts maps them.
 * JSON shapes follow Neon's v1 API (snake_case fields, LSNs as "X/Y" strings).
 */
import type { RelTag, SlruKind } from '../keys.js';
import type { Lsn } from '../lsn.js';

export interface TenantInfo {
  id: string;
  state: { slug: string; data?: { reason: string } };
  timelines: string[];
}

export interface TimelineInfo {
  tenant_id: string;
  timeline_id: string;
  state: string;
  broken_reason?: string;
  last_record_lsn: string;
  disk_consistent_lsn: string;
  remote_consistent_lsn: string;
  ancestor_timeline_id: string | null;
  ancestor_lsn: string | null;
  pg_version: number;
  initdb_lsn?: string;
  wal_source?: string;
  /** WAL records ingested since the timeline was loaded, in all and per rmgr (pg_waldump names). */
  wal_records_ingested?: number;
  wal_records_by_rmgr?: Record<string, number>;
  walreceiver?: { state: string; connections: number; last_error?: string };
}

export interface CreateTimelineRequest {
  new_timeline_id?: string;
  ancestor_timeline_id?: string;
  ancestor_start_lsn?: string;
  pg_version?: number;
  /** libpq connection string of a PostgreSQL 15 primary to attach to (base backup + streaming). */
  from_primary?: string;
}

export interface ServerStatus {
  id: string;
  version: string;
  uptime_seconds: number;
  tenants: number;
  actor_threads: number;
}

export interface ManagementApi {
  status(): Promise<ServerStatus>;
  createTenant(request: { new_tenant_id?: string }): Promise<TenantInfo>;
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
}
