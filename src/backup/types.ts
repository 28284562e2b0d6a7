/**
 * What the backup side of Strata offers the rest of the server (the compute manager, the HTTP API,
 * the CLI and the page service): a full backup of a timeline at an LSN, written as a data
 * directory a stock PostgreSQL 15 starts from, and the LSN of a point in time.
 *
 * WHY an interface here: computes, the page service and the HTTP edge depend on "a backup of
 * (tenant, timeline, LSN)", not on how pages are gathered across threads; tests drive them with
 * stand-ins.
 */
import type { RelTag, SlruKind } from '../keys.js';
import type { Lsn } from '../lsn.js';

export interface FullbackupOptions {
  /** LSN of the state wanted; undefined = the timeline's last record LSN. */
  lsn?: Lsn | undefined;
  /**
   * User tablespaces: where tablespace OID → directory goes. Without a mapping a tablespace is
   * written inside the data directory (pg_tblspc/<oid> as a directory: an in-place tablespace).
   */
  tablespaceMapping?: ReadonlyMap<number, string>;
}

export interface FullbackupResult {
  /** The state the backup holds: every record that ends at or below this LSN. */
  lsn: Lsn;
  /** Where the synthesized shutdown checkpoint record sits (the compute's WAL starts after it). */
  checkpointLsn: Lsn;
  files: number;
  bytes: number;
  relationPages: number;
  ms: number;
}

/** get_lsn_by_timestamp's answer, as Neon's endpoint words it. */
export interface LsnForTimestamp {
  /**
   * present: lsn is the state after every commit at or before the time;
   * past:    the time is before the timeline's first commit Strata knows (lsn = earliest readable);
   * future:  the time is after the last commit ingested (lsn = last record LSN);
   * nodata:  no commit known at all.
   */
  kind: 'present' | 'past' | 'future' | 'nodata';
  lsn: Lsn;
}

export interface BackupService {
  /** Writes a full backup into `directory` (created; must not exist or be empty). */
  fullbackupToDirectory(tenantId: string, timelineId: string, directory: string, options?: FullbackupOptions): Promise<FullbackupResult>;
  /** `timestampUs`: PostgreSQL TimestampTz (microseconds since 2000-01-01 UTC). */
  lsnForTimestamp(tenantId: string, timelineId: string, timestampUs: number): Promise<LsnForTimestamp>;
}

/** Consecutive blocks of one relation fork. */
export interface PageRun {
  rel: RelTag;
  firstBlock: number;
  count: number;
}

/** What a full backup at an LSN consists of, read from a timeline's metadata in one pass (timeline/backup-manifest.ts). */
export interface ManifestDatabase {
  spcNode: number;
  dbNode: number;
  /** pg_filenode.map of this (tablespace, database), when it has one (its default tablespace). */
  relmap: Uint8Array | undefined;
}

export interface ManifestRelation extends RelTag {
  blocks: number;
}

export interface ManifestSlruSegment {
  kind: SlruKind;
  segment: number;
  blocks: number;
}

export interface BackupManifest {
  /** The state described: every record ending at or below this LSN. */
  lsn: Lsn;
  /** The primary's pg_control as ingest keeps it (base backup + PARAMETER_CHANGE records). */
  controlFile: Uint8Array | undefined;
  /** CheckPoint struct kept current by ingest (nextXid, nextOid, multixacts …). */
  checkpoint: Uint8Array | undefined;
  /** The global pseudo-database (1664/0) included when it has a relation map. */
  databases: ManifestDatabase[];
  relations: ManifestRelation[];
  slruSegments: ManifestSlruSegment[];
  twoPhase: { xid: number; state: Uint8Array }[];
}

