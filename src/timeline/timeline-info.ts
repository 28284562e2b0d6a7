/**
 * What a timeline reports about itself (the management API's TimelineInfo, Neon's field names).
 * A domain type: the timeline actor builds it; the HTTP edge serves it as JSON.
 */
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
  /** Reads below this LSN are refused: GC removed what they would need. */
  latest_gc_cutoff_lsn?: string;
  /** Layer counts: L0 deltas, all layer files. */
  layers?: { l0: number; files: number };
}
