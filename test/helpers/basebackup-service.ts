/**
 * A test-only BackupService: the "full backup" is `pg_basebackup -D dir -X stream` of a real
 * PostgreSQL 15 primary, and its LSN is the primary's pg_current_wal_lsn() after the copy.
 *
 * WHY: the compute lifecycle (config, pg_ctl, standby, stop, reconcile) is proven against a real
 * PostgreSQL without waiting for Strata's own full-backup writer; whether a backup holds exactly
 * the state at an LSN is that writer's to prove. `options.lsn` is therefore ignored (recorded).
 */
import { StrataError } from '../../src/errors.js';
import type { BackupService, FullbackupOptions, FullbackupResult, LsnForTimestamp } from '../../src/backup/types.js';
import { parseLsn } from '../../src/lsn.js';
import { type PostgresCluster, runPg } from './postgres.js';

export class BasebackupService implements BackupService {
  /** Every call, in order, for assertions. */
  readonly calls: Array<{ kind: 'fullbackup'; tenantId: string; timelineId: string; directory: string; options: FullbackupOptions | undefined }
    | { kind: 'lsnForTimestamp'; tenantId: string; timelineId: string; timestampUs: number }> = [];
  /** Timelines the service says do not exist (PS_ERR_NOT_FOUND, as a real one would). */
  readonly unknownTimelines = new Set<string>();

  constructor(private readonly primary: PostgresCluster) {}

  async fullbackupToDirectory(tenantId: string, timelineId: string, directory: string, options?: FullbackupOptions): Promise<FullbackupResult> {
    this.calls.push({ kind: 'fullbackup', tenantId, timelineId, directory, options });
    if (this.unknownTimelines.has(timelineId)) throw new StrataError('PS_ERR_NOT_FOUND', `timeline ${timelineId} not found`, { timeline_id: timelineId });
    const started = performance.now();
    await runPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(this.primary.port), '-U', 'postgres', '-D', directory, '-X', 'stream', '-c', 'fast', '--no-sync']);
    const lsn = parseLsn(await this.primary.sql('SELECT pg_current_wal_lsn()'));
    return { lsn, checkpointLsn: lsn, files: 0, bytes: 0, relationPages: 0, ms: Math.round(performance.now() - started) };
  }

  async lsnForTimestamp(tenantId: string, timelineId: string, timestampUs: number): Promise<LsnForTimestamp> {
    this.calls.push({ kind: 'lsnForTimestamp', tenantId, timelineId, timestampUs });
    return { kind: 'present', lsn: parseLsn(await this.primary.sql('SELECT pg_current_wal_lsn()')) };
  }
}
