/**
 * The three files that make a full backup start as a cleanly shut down cluster: a shutdown
 * checkpoint record at L (the first record position of a page at or after the backup's LSN X) in
 * the one WAL segment of pg_wal, and a pg_control naming it — from the primary's pg_control and
 * the CheckPoint ingest keeps current at X (nextXid, nextOid, multixacts).
 *
 * WHY L and not X: the record must start right after a page header so that a walreceiver that
 * starts at L's page (a writable branch's) finds it first; nothing happens between X and L, so
 * the state at L is the state at X.
 *
 * Commit timestamps (pg_commit_ts) are not kept by Strata: the checkpoint's commit-timestamp range
 * is cleared, so a server with track_commit_timestamp starts a fresh range at nextXid instead of
 * failing on files it does not have.
 */
import { controlFileSettings as readSettings, type ControlFileSettings } from '../ingest/control-file.js';
import type { Lsn } from '../lsn.js';
import { decodeCheckPoint, shutdownCheckpointAt } from './checkpoint.js';
import { readControlFileInfo, shutdownControlFile } from './control-file.js';
import { buildCheckpointSegment, checkpointLocationFor } from './wal-segment.js';

export interface PgFilesInput {
  /** The primary's pg_control as ingest keeps it. */
  controlFile: Uint8Array;
  /** The CheckPoint struct (88 bytes) ingest keeps current. */
  checkpoint: Uint8Array;
  /** The backup's LSN X. */
  lsn: Lsn;
  nowSeconds: number;
}

export interface PgFiles {
  catalogVersion: number;
  /** L: where the shutdown checkpoint record sits. */
  checkpointLsn: Lsn;
  walSegmentName: string;
  walSegment: Uint8Array;
  controlFile: Uint8Array;
}

export function buildPgFiles(input: PgFilesInput): PgFiles {
  const info = readControlFileInfo(input.controlFile);
  const location = checkpointLocationFor(input.lsn, info.walSegmentSize);
  const checkpoint = {
    ...shutdownCheckpointAt(decodeCheckPoint(input.checkpoint), location, BigInt(input.nowSeconds)),
    oldestCommitTsXid: 0,
    newestCommitTsXid: 0,
  };
  const segment = buildCheckpointSegment({
    checkpoint, location, timelineId: checkpoint.thisTimeLineId, systemIdentifier: info.systemIdentifier, segmentSize: info.walSegmentSize,
  });
  return {
    catalogVersion: info.catalogVersion,
    checkpointLsn: location,
    walSegmentName: segment.fileName,
    walSegment: segment.bytes,
    controlFile: shutdownControlFile({ control: input.controlFile, checkpoint, checkpointLocation: location, timeSeconds: input.nowSeconds }),
  };
}

export function controlFileSettings(control: Uint8Array): ControlFileSettings {
  return readSettings(control);
}
