/**
 * The server's BackupService: full backups of a timeline read through the tenant manager (one
 * manifest hop, then runs of pages over the actor threads), into a directory or a tar stream, and
 * get_lsn_by_timestamp.
 *
 * WHY on the main thread: backups end in sockets (HTTP, the page service) or in directories the
 * compute manager starts PostgreSQL on, all of which live here; the pages are reconstructed where
 * the timeline lives, `depth` runs ahead of the writer.
 */
import type { SlruKind } from '../keys.js';
import type { PageRun } from '../timeline/timeline.js';
import type { Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { BackupManifest } from '../timeline/backup-manifest.js';
import { buildFullbackup, type BackupSink, type BackupSource, type FullbackupSummary } from './fullbackup.js';
import { DirectoryBackupSink, TarBackupSink } from './sinks.js';
import type { BackupService, FullbackupOptions, FullbackupResult, LsnForTimestamp } from './types.js';

/** The tenant manager's reads a backup needs. */
export interface BackupReader {
  backupManifest(tenantId: string, timelineId: string, lsn: Lsn | undefined): Promise<BackupManifest>;
  getPageRuns(tenantId: string, timelineId: string, runs: readonly PageRun[], lsn: Lsn | undefined): Promise<Uint8Array>;
  getSlruSegment(tenantId: string, timelineId: string, kind: SlruKind, segment: number, lsn: Lsn | undefined): Promise<Uint8Array>;
  lsnForTimestamp(tenantId: string, timelineId: string, timestampUs: number): Promise<LsnForTimestamp>;
}

export class ServerBackupService implements BackupService {
  constructor(private readonly reader: BackupReader, private readonly options: { logger: Logger; metrics: Metrics }) {}

  #source(tenantId: string, timelineId: string): BackupSource {
    return {
      manifest: (lsn) => this.reader.backupManifest(tenantId, timelineId, lsn),
      readPageRuns: (runs, lsn) => this.reader.getPageRuns(tenantId, timelineId, runs, lsn),
      readSlruSegment: (kind, segment, lsn) => this.reader.getSlruSegment(tenantId, timelineId, kind, segment, lsn),
    };
  }

  async #run(tenantId: string, timelineId: string, sink: BackupSink, options: FullbackupOptions, what: string): Promise<FullbackupResult> {
    const started = performance.now();
    let summary: FullbackupSummary;
    try {
      summary = await buildFullbackup(this.#source(tenantId, timelineId), sink, { lsn: options.lsn, tablespaceMapping: options.tablespaceMapping });
    } catch (error) {
      this.options.metrics.fullbackups.inc({ result: 'error' });
      throw error;
    }
    const ms = performance.now() - started;
    this.options.metrics.fullbackups.inc({ result: 'ok' });
    this.options.metrics.fullbackupBytes.inc(summary.bytes);
    this.options.metrics.fullbackupSeconds.observe(ms / 1000);
    const result: FullbackupResult = { ...summary, ms: Math.round(ms) };
    this.options.logger.info({ tenant_id: tenantId, timeline_id: timelineId, to: what, ...result }, 'full backup written');
    return result;
  }

  fullbackupToDirectory(tenantId: string, timelineId: string, directory: string, options: FullbackupOptions = {}): Promise<FullbackupResult> {
    return this.#run(tenantId, timelineId, new DirectoryBackupSink(directory), options, directory);
  }

  /** A tar stream through `write` (resolves when the consumer can take more). */
  fullbackupToTar(tenantId: string, timelineId: string, write: (bytes: Uint8Array) => Promise<void>, options: FullbackupOptions = {}): Promise<FullbackupResult> {
    return this.#run(tenantId, timelineId, new TarBackupSink(write), options, 'tar');
  }

  lsnForTimestamp(tenantId: string, timelineId: string, timestampUs: number): Promise<LsnForTimestamp> {
    return this.reader.lsnForTimestamp(tenantId, timelineId, timestampUs);
  }
}
