/**
 * The server's BackupService: full backups of a timeline into a directory or a tar stream, and
 * get_lsn_by_timestamp, through the tenant manager.
 *
 * WHY two paths: a tar ends in a socket (HTTP, the page service), which lives on the main thread,
 * so its pages come over in runs (one manifest hop, then runs of pages, `depth` ahead of the
 * writer); a directory (computes, tests) is written by the timeline's own actor thread with the
 * same builder, so no page crosses threads at all.
 */
import type { SlruKind } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { buildFullbackup, type BackupSource, type FullbackupSummary } from './fullbackup.js';
import { TarBackupSink } from './sinks.js';
import type { BackupManifest, BackupService, FullbackupOptions, FullbackupResult, LsnForTimestamp, PageRun } from './types.js';

/** The tenant manager's reads a backup needs. */
export interface BackupReader {
  backupManifest(tenantId: string, timelineId: string, lsn: Lsn | undefined): Promise<BackupManifest>;
  getPageRuns(tenantId: string, timelineId: string, runs: readonly PageRun[], lsn: Lsn | undefined): Promise<Uint8Array>;
  getSlruSegment(tenantId: string, timelineId: string, kind: SlruKind, segment: number, lsn: Lsn | undefined): Promise<Uint8Array>;
  lsnForTimestamp(tenantId: string, timelineId: string, timestampUs: number): Promise<LsnForTimestamp>;
  /** The whole directory backup where the timeline lives (its actor thread writes the files). */
  fullbackupToDirectory(tenantId: string, timelineId: string, directory: string, options: FullbackupOptions): Promise<FullbackupSummary>;
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

  async #run(tenantId: string, timelineId: string, build: () => Promise<FullbackupSummary>, what: string): Promise<FullbackupResult> {
    const started = performance.now();
    let summary: FullbackupSummary;
    try {
      summary = await build();
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

  /**
   * A directory is written on the timeline's own thread: no page crosses threads, and the pages of
   * a run are read with a few positioned reads and written straight to their files.
   */
  fullbackupToDirectory(tenantId: string, timelineId: string, directory: string, options: FullbackupOptions = {}): Promise<FullbackupResult> {
    return this.#run(tenantId, timelineId, () => this.reader.fullbackupToDirectory(tenantId, timelineId, directory, options), directory);
  }

  /** A tar stream through `write` (resolves when the consumer can take more). */
  fullbackupToTar(tenantId: string, timelineId: string, write: (bytes: Uint8Array) => Promise<void>, options: FullbackupOptions = {}): Promise<FullbackupResult> {
    const build = () => buildFullbackup(this.#source(tenantId, timelineId), new TarBackupSink(write), { lsn: options.lsn, tablespaceMapping: options.tablespaceMapping });
    return this.#run(tenantId, timelineId, build, 'tar');
  }

  lsnForTimestamp(tenantId: string, timelineId: string, timestampUs: number): Promise<LsnForTimestamp> {
    return this.reader.lsnForTimestamp(tenantId, timelineId, timestampUs);
  }
}
