/**
 * Starts one Strata server from an explicit config: the actor thread pool, the tenant manager
 * (which loads tenants from the workdir), the compute manager (which reconciles the computes it
 * left running), failpoints, metrics and the HTTP management API.
 * Several servers can run in one process (tests): nothing here is global except the per-thread
 * failpoint registry, which is process-wide by nature.
 *
 * Shutdown order: HTTP first (no new requests), then the computes (each PostgreSQL is stopped:
 * they read through the server), then the actors (tenants stop their timelines: walreceivers end,
 * open layers are flushed), then the threads.
 *
 * Full backups (HTTP, the page service, computes) are written by ServerBackupService, reading
 * through the tenant manager; tests may give computes another BackupService in the options.
 */
import { readFileSync } from 'node:fs';
import { ActorSystem } from './actor/system.js';
import type { StrataConfig } from './config.js';
import { configureFailpoints, FAILPOINT_NAMES, listFailpoints } from './failpoints.js';
import { startHttpServer } from './http/server.js';
import type { Logger } from './observability/log.js';
import { Metrics, type MetricsJson } from './observability/metrics.js';
import { TenantManager } from './tenant/tenant-manager.js';
import { tenantConfigOf } from './config.js';
import { limits } from './limits.js';
import { formatLsn, parseLsn } from './lsn.js';
import { assert } from './assert.js';
import { ServerBackupService } from './backup/backup-service.js';
import { startPageService, type PageServiceBackend } from './pageservice/page-service.js';
import type { BackupService } from './backup/types.js';
import { ComputeManager } from './compute/compute-manager.js';
import { join } from 'node:path';

export interface RunningServer {
  readonly httpUrl: string;
  /** host:port of the page service (libpq, pagestream). */
  readonly pgAddress: string;
  readonly manager: TenantManager;
  readonly computes: ComputeManager;
  readonly system: ActorSystem;
  readonly metrics: Metrics;
  readonly backups: ServerBackupService;
  stop(): Promise<void>;
}

export const STRATA_VERSION: string = (() => {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

/** The page service reads through the tenant manager, as the HTTP API does. */
function pageServiceBackend(manager: TenantManager, backups: ServerBackupService): PageServiceBackend {
  return {
    lastRecordLsn: async (tenantId, timelineId) => parseLsn((await manager.getTimeline(tenantId, timelineId)).last_record_lsn),
    relSize: (tenantId, timelineId, rel, lsn) => manager.relSize(tenantId, timelineId, rel, lsn),
    getPage: (tenantId, timelineId, rel, blockNumber, lsn) => manager.getPage(tenantId, timelineId, rel, blockNumber, lsn),
    getSlruSegment: (tenantId, timelineId, kind, segment, lsn) => manager.getSlruSegment(tenantId, timelineId, kind, segment, lsn),
    dbSize: (tenantId, timelineId, dbNode, lsn) => manager.dbSize(tenantId, timelineId, dbNode, lsn),
    fullbackupToTar: (tenantId, timelineId, write, lsn) => backups.fullbackupToTar(tenantId, timelineId, write, { lsn }),
  };
}

export interface StartServerOptions {
  logger: Logger;
  /** Writes the data directories computes start from; default: the server's own full backups. */
  backup?: BackupService | undefined;
}

export async function startServer(config: StrataConfig, options: StartServerOptions): Promise<RunningServer> {
  const logger = options.logger;
  // config.failpoints already holds FAILPOINTS from the environment when the config was resolved.
  const failpointSpec = config.failpoints?.trim() ?? '';
  if (failpointSpec) configureFailpoints(failpointSpec);
  const system = await ActorSystem.start({ logger, threads: config.actorThreads });
  let computes: ComputeManager | undefined;
  try {
    logger.info({ known: Object.keys(FAILPOINT_NAMES) }, 'failpoints known');
    if (failpointSpec) await system.broadcast({ kind: 'failpoints', spec: failpointSpec });
    if (failpointSpec) logger.info({ failpoints: listFailpoints() }, 'failpoints configured');
    const metrics = new Metrics({
      processMetrics: true,
      collectWorkerMetrics: async () => (await system.broadcast({ kind: 'metrics' })) as MetricsJson[],
    });
    const manager = new TenantManager({
      workdir: config.workdir, serverId: config.id, version: STRATA_VERSION, system, logger,
      waitLsnTimeoutMs: config.waitLsnTimeoutMs, tenantDefaults: tenantConfigOf(config),
    });
    await manager.load();
    const backups = new ServerBackupService(manager, { logger, metrics });
    computes = new ComputeManager({
      workdir: config.workdir, pgBinDirectory: join(config.pgDistribDir, 'bin'), computesMax: config.computesMax,
      backup: options.backup ?? backups, logger, metrics,
      branches: {
        createBranch: async (tenantId, timelineId, lsn) => {
          const branch = await manager.createTimeline(tenantId, { ancestor_timeline_id: timelineId, ...(lsn === undefined ? {} : { ancestor_start_lsn: formatLsn(lsn) }) });
          assert(branch.ancestor_lsn !== null, 'a branch has a branch point');
          return { timelineId: branch.timeline_id, lsn: parseLsn(branch.ancestor_lsn) };
        },
        followPrimary: async (tenantId, timelineId, connectionString, startLsn) => {
          await manager.followPrimary(tenantId, timelineId, connectionString, startLsn);
        },
      },
    });
    await computes.load();
    const http = await startHttpServer({
      address: config.listenHttpAddr, api: manager, computes, backups, metrics, logger,
      applyFailpoints: async (spec) => {
        configureFailpoints(spec);
        await system.broadcast({ kind: 'failpoints', spec });
      },
    });
    const pageService = await startPageService({
      address: config.listenPgAddr, logger, backend: pageServiceBackend(manager, backups),
      inFlightMax: limits.pageServiceInFlightMax, messageBytesMax: limits.pageServiceMessageBytesMax,
    }).catch(async (error: unknown) => {
      await http.close();
      throw error;
    });
    logger.info({ http: http.url, workdir: config.workdir, actor_threads: system.threads, version: STRATA_VERSION }, 'strata started');
    let stopping: Promise<void> | undefined;
    const computeManager = computes;
    return {
      httpUrl: http.url, pgAddress: `${pageService.host}:${pageService.port}`, manager, computes: computeManager, system, metrics, backups,
      stop: () => {
        stopping ??= (async () => {
          await pageService.close();
          await http.close();
          await computeManager.close();
          await system.stop();
          logger.info('strata stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await computes?.close().catch(() => undefined);
    await system.stop().catch(() => undefined);
    throw error;
  }
}
