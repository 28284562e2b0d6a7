/**
 * Bootstraps a timeline from a running PostgreSQL 15 primary:
 *
 *   1. CREATE_REPLICATION_SLOT strata_<timeline> PHYSICAL RESERVE_WAL — WAL from here on is kept
 *      for us, so nothing between the backup and the first streamed byte can be recycled.
 *   2. BASE_BACKUP — its archives are imported as page images (and SLRUs, pg_control, relmapper,
 *      two-phase files) at the backup START LSN.
 *   3. The consistent start is the backup END LSN: before it, the copied files may be torn or
 *      ahead of the WAL; from it on, WAL replay from the start LSN has made every page consistent
 *      (PostgreSQL forces full-page writes during a backup).
 *
 * The caller then starts the walreceiver at the start LSN. On failure the slot is dropped again,
 * so an aborted attach leaves no WAL pinned on the primary.
 */
import { StrataError } from '../errors.js';
import { failpoint, failpointError } from '../failpoints.js';
import { formatLsn, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import { redactConnectionString } from '../observability/log.js';
import { ReplicationClient } from '../pgwire/replication-client.js';
import { importBaseBackup } from '../ingest/import-basebackup.js';
import type { TimelineStore } from '../storage/types.js';

export interface AttachResult {
  startLsn: Lsn;
  endLsn: Lsn;
  systemId: string;
  primaryTimeline: number;
  slotName: string;
}

export function slotNameForTimeline(timelineId: string): string {
  return `strata_${timelineId}`;
}

export async function attachFromPrimary(options: {
  connectionString: string;
  timelineId: string;
  store: TimelineStore;
  logger: Logger;
  signal?: AbortSignal;
}): Promise<AttachResult> {
  const { connectionString, logger } = options;
  const slotName = slotNameForTimeline(options.timelineId);
  const source = redactConnectionString(connectionString);
  const client = await ReplicationClient.connect(connectionString, options.signal === undefined ? {} : { signal: options.signal });
  let slotCreated = false;
  try {
    const system = await client.identifySystem();
    await client.createPhysicalSlot(slotName, { reserveWal: true });
    slotCreated = true;
    logger.info({ slot: slotName, source, system_id: system.systemId }, 'created replication slot; taking base backup');
    const fired = await failpoint('attach-before-base-backup');
    if (fired !== undefined) throw failpointError('attach-before-base-backup', fired);
    const backup = await client.baseBackup({ label: `strata ${options.timelineId}`, fastCheckpoint: true });
    const summary = await importBaseBackup(options.store, backup.archives, { lsn: backup.startLsn, logger });
    const finished = await backup.finished;
    if (finished.endLsn < backup.startLsn) {
      throw new StrataError('PS_ERR_PROTOCOL', `base backup ended at ${formatLsn(finished.endLsn)} before its start ${formatLsn(backup.startLsn)}`);
    }
    logger.info({ start_lsn: formatLsn(backup.startLsn), end_lsn: formatLsn(finished.endLsn), summary }, 'imported base backup');
    return { startLsn: backup.startLsn, endLsn: finished.endLsn, systemId: system.systemId, primaryTimeline: backup.timeline, slotName };
  } catch (error) {
    if (slotCreated) await dropSlotQuietly(connectionString, slotName, options.signal, logger);
    throw error;
  } finally {
    await Promise.resolve(client.close()).catch(() => undefined);
  }
}

async function dropSlotQuietly(connectionString: string, slotName: string, signal: AbortSignal | undefined, logger: Logger): Promise<void> {
  try {
    const client = await ReplicationClient.connect(connectionString, signal === undefined ? {} : { signal });
    try {
      await client.dropSlot(slotName);
    } finally {
      await Promise.resolve(client.close()).catch(() => undefined);
    }
  } catch (error) {
    logger.warn({ slot: slotName, err: error }, 'could not drop the replication slot of a failed attach; drop it on the primary');
  }
}
