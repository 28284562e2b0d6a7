/**
 * Tenant-level shapes of the management API (Neon's field names): what a tenant reports and what
 * creating a tenant or a timeline asks for. Domain types: the tenant actor and manager use them;
 * the HTTP edge parses into and serves them.
 */
export interface TenantInfo {
  id: string;
  state: { slug: string; data?: { reason: string } };
  timelines: string[];
}

export interface CreateTimelineRequest {
  new_timeline_id?: string;
  ancestor_timeline_id?: string;
  ancestor_start_lsn?: string;
  pg_version?: number;
  /** libpq connection string of a PostgreSQL 15 primary to attach to (base backup + streaming). */
  from_primary?: string;
}

export interface CreateTenantRequest {
  new_tenant_id?: string;
  /** Per-tenant overrides of the storage settings (config.ts TENANT_CONFIG_KEYS), Neon's names. */
  config?: Record<string, unknown>;
}

export interface ServerStatus {
  id: string;
  version: string;
  uptime_seconds: number;
  tenants: number;
  actor_threads: number;
}
