/**
 * Starts one Strata server from an explicit config: the actor thread pool, the tenant manager
 * (which loads tenants from the workdir), failpoints, metrics and the HTTP management API.
 * Several servers can run in one process (tests): nothing here is global except the per-thread
 * failpoint registry, which is process-wide by nature.
 *
 * Shutdown order: HTTP first (no new requests), then the actors (tenants stop their timelines:
 * walreceivers end, open layers are flushed), then the threads.
 */
import { readFileSync } from 'node:fs';
import { ActorSystem } from './actor/system.js';
import type { StrataConfig } from './config.js';
import { configureFailpoints, listFailpoints } from './failpoints.js';
import { startHttpServer } from './http/server.js';
import type { Logger } from './observability/log.js';
import { Metrics, type MetricsJson } from './observability/metrics.js';
import { TenantManager } from './tenant/tenant-manager.js';

export interface RunningServer {
  readonly httpUrl: string;
  readonly manager: TenantManager;
  readonly system: ActorSystem;
  readonly metrics: Metrics;
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

export async function startServer(config: StrataConfig, options: { logger: Logger }): Promise<RunningServer> {
  const logger = options.logger;
  // config.failpoints already holds FAILPOINTS from the environment when the config was resolved.
  const failpointSpec = config.failpoints?.trim() ?? '';
  if (failpointSpec) configureFailpoints(failpointSpec);
  const system = await ActorSystem.start({ logger, threads: config.actorThreads });
  try {
    if (failpointSpec) await system.broadcast({ kind: 'failpoints', spec: failpointSpec });
    if (failpointSpec) logger.info({ failpoints: listFailpoints() }, 'failpoints configured');
    const metrics = new Metrics({
      processMetrics: true,
      collectWorkerMetrics: async () => (await system.broadcast({ kind: 'metrics' })) as MetricsJson[],
    });
    const manager = new TenantManager({
      workdir: config.workdir, serverId: config.id, version: STRATA_VERSION, system, logger,
      checkpointDistanceBytes: config.checkpointDistanceBytes, waitLsnTimeoutMs: config.waitLsnTimeoutMs,
      checkpointTimeoutMs: config.checkpointTimeoutMs,
    });
    await manager.load();
    const http = await startHttpServer({
      address: config.listenHttpAddr, api: manager, metrics, logger,
      applyFailpoints: async (spec) => {
        configureFailpoints(spec);
        await system.broadcast({ kind: 'failpoints', spec });
      },
    });
    logger.info({ http: http.url, workdir: config.workdir, actor_threads: system.threads, version: STRATA_VERSION }, 'strata started');
    let stopping: Promise<void> | undefined;
    return {
      httpUrl: http.url, manager, system, metrics,
      stop: () => {
        stopping ??= (async () => {
          await http.close();
          await system.stop();
          logger.info('strata stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await system.stop().catch(() => undefined);
    throw error;
  }
}
