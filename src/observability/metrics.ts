/**
 * Prometheus metrics: one `Metrics` object per server (main thread) and one per worker thread.
 *
 * Why an explicit Registry instead of prom-client's global one: tests run several servers in one
 * process, and each must report only its own numbers. Worker threads are separate V8 isolates, so
 * each builds its own `Metrics` and hands `registry.getMetricsAsJSON()` to the main thread when
 * asked. The main thread merges its own JSON with the workers' through
 * `AggregatorRegistry.aggregate` (counters and histograms sum, LSN gauges take the max) and renders
 * Prometheus text for `GET /metrics`:
 *
 *   worker 1 ─ getMetricsAsJSON ─┐
 *   worker 2 ─ getMetricsAsJSON ─┼─ collectWorkerMetrics() ─┐
 *   main     ─ getMetricsAsJSON ─────────────────────────────┴─ aggregate ─ text
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { assert } from '../assert.js';

/** One registry's metrics in JSON form (what `Registry.getMetricsAsJSON()` returns). */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export interface MetricsOptions {
  /** Gathers every worker's `metrics.registry.getMetricsAsJSON()`; default: no workers. */
  collectWorkerMetrics?: () => Promise<MetricsJson[]>;
  /** Adds prom-client's process_* and nodejs_* metrics (main thread only, to avoid double counts). */
  processMetrics?: boolean;
}

type TimelineLabels = 'tenant_id' | 'timeline_id';

/** The `reason` label values of strata_layer_flushes_total (timeline.ts FlushReason). */
export const FLUSH_REASONS = ['distance', 'timeout', 'requested', 'shutdown', 'memory'] as const;

/** The `result` label values of strata_compute_starts_total. */
export const COMPUTE_START_RESULTS = ['running', 'failed', 'rejected'] as const;

/** The `phase` label values of strata_compute_startup_seconds (the reply's `startup_ms` fields). */
export const COMPUTE_STARTUP_PHASES = ['fullbackup', 'config', 'start', 'total'] as const;

export class Metrics {
  readonly registry: Registry;
  readonly walReceivedBytes: Counter;
  readonly walRecordsIngested: Counter<'rmgr'>;
  readonly lastRecordLsn: Gauge<TimelineLabels>;
  readonly diskConsistentLsn: Gauge<TimelineLabels>;
  readonly getpageRequests: Counter;
  readonly getpageLatencySeconds: Histogram;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly actorMailboxFull: Counter;
  readonly layerFlushes: Counter<'reason'>;
  readonly inMemoryBytes: Gauge<TimelineLabels>;
  readonly ingestWaits: Counter;
  readonly ingestWaitSeconds: Counter;
  readonly compactions: Counter;
  readonly imageLayersCreated: Counter;
  readonly gcLayersRemoved: Counter;
  readonly layersVisitedPerRead: Histogram;
  readonly walredoJobs: Counter;
  readonly walredoRecordsApplied: Counter;
  readonly walredoFailures: Counter;
  readonly walredoLatencySeconds: Histogram;
  readonly computeStartupSeconds: Histogram<'phase'>;
  readonly computeStarts: Counter<'result'>;
  readonly computesActive: Gauge;
  readonly fullbackups: Counter<'result'>;
  readonly fullbackupBytes: Counter;
  readonly fullbackupSeconds: Histogram;
  readonly #collectWorkerMetrics: (() => Promise<MetricsJson[]>) | undefined;

  constructor(options: MetricsOptions = {}) {
    const registers = [(this.registry = new Registry())];
    this.#collectWorkerMetrics = options.collectWorkerMetrics;
    this.walReceivedBytes = new Counter({ name: 'strata_wal_received_bytes_total', help: 'WAL bytes received from primaries', registers });
    this.walRecordsIngested = new Counter({
      name: 'strata_wal_records_ingested_total', help: 'WAL records ingested, by resource manager', labelNames: ['rmgr'], registers,
    });
    this.lastRecordLsn = new Gauge({
      name: 'strata_last_record_lsn', help: 'End LSN of the last WAL record ingested', labelNames: ['tenant_id', 'timeline_id'],
      aggregator: 'max', registers,
    });
    this.diskConsistentLsn = new Gauge({
      name: 'strata_disk_consistent_lsn', help: 'LSN up to which all data is durable in local layer files',
      labelNames: ['tenant_id', 'timeline_id'], aggregator: 'max', registers,
    });
    this.getpageRequests = new Counter({ name: 'strata_getpage_requests_total', help: 'GetPage@LSN requests served', registers });
    this.getpageLatencySeconds = new Histogram({
      name: 'strata_getpage_latency_seconds', help: 'GetPage@LSN latency',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers,
    });
    this.httpRequests = new Counter({
      name: 'strata_http_requests_total', help: 'HTTP management API requests', labelNames: ['method', 'route', 'status'], registers,
    });
    this.actorMailboxFull = new Counter({ name: 'strata_actor_mailbox_full_total', help: 'Messages rejected by a full mailbox', registers });
    this.layerFlushes = new Counter({
      name: 'strata_layer_flushes_total', help: 'Flushes of in-memory layers, by why they started (timeline.ts FlushReason)',
      labelNames: ['reason'], registers,
    });
    // Every reason is shown from the start (at 0), so a rate over any of them is defined.
    for (const reason of FLUSH_REASONS) this.layerFlushes.inc({ reason }, 0);
    this.inMemoryBytes = new Gauge({
      name: 'strata_inmemory_bytes', help: 'Bytes of a timeline\'s open and frozen in-memory layers (bounded by max_inmemory_bytes)',
      labelNames: ['tenant_id', 'timeline_id'], aggregator: 'sum', registers,
    });
    this.ingestWaits = new Counter({
      name: 'strata_ingest_backpressure_waits_total', help: 'Times ingest waited for a flush because the in-memory layers exceeded max_inmemory_bytes',
      registers,
    });
    this.ingestWaitSeconds = new Counter({
      name: 'strata_ingest_backpressure_wait_seconds_total', help: 'Time ingest spent waiting for flushes (max_inmemory_bytes back-pressure)',
      registers,
    });
    this.compactions = new Counter({ name: 'strata_compactions_total', help: 'L0 to L1 compactions', registers });
    this.imageLayersCreated = new Counter({ name: 'strata_image_layers_created_total', help: 'Image layers created by compaction', registers });
    this.gcLayersRemoved = new Counter({ name: 'strata_gc_layers_removed_total', help: 'Layer files removed by GC', registers });
    this.layersVisitedPerRead = new Histogram({
      name: 'strata_layers_visited_per_read', help: 'Layers whose index a client page read (GetPage, SLRU segment) consulted: read amplification',
      buckets: [1, 2, 3, 4, 6, 8, 12, 16, 32, 64], registers,
    });
    this.walredoJobs = new Counter({ name: 'strata_walredo_jobs_total', help: 'Pages reconstructed by WAL redo', registers });
    this.walredoRecordsApplied = new Counter({ name: 'strata_walredo_records_applied_total', help: 'WAL and Strata records applied by redo', registers });
    this.walredoFailures = new Counter({ name: 'strata_walredo_failures_total', help: 'Redo jobs that failed (routine error, timeout, worker death)', registers });
    this.walredoLatencySeconds = new Histogram({
      name: 'strata_walredo_latency_seconds', help: 'Latency of a redo batch, queue wait included',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers,
    });
    this.computeStartupSeconds = new Histogram({
      name: 'strata_compute_startup_seconds', help: 'Time of a compute start, by phase (fullbackup, config, start, total)',
      labelNames: ['phase'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers,
    });
    this.computeStarts = new Counter({
      name: 'strata_compute_starts_total', help: 'Compute starts, by result (running; failed; rejected: max_computes or a full backup refused for the caller\'s reason)', labelNames: ['result'], registers,
    });
    for (const result of COMPUTE_START_RESULTS) this.computeStarts.inc({ result }, 0);
    this.computesActive = new Gauge({
      name: 'strata_computes_active', help: 'Computes Starting, Running or Stopping (bounded by max_computes)', registers,
    });
    this.fullbackups = new Counter({
      name: 'strata_fullbackups_total', help: 'Full backups written (directories, tar streams), by result', labelNames: ['result'], registers,
    });
    for (const result of ['ok', 'error']) this.fullbackups.inc({ result }, 0);
    this.fullbackupBytes = new Counter({ name: 'strata_fullbackup_bytes_total', help: 'Bytes of files written by full backups', registers });
    this.fullbackupSeconds = new Histogram({
      name: 'strata_fullbackup_seconds', help: 'Time to write a full backup', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers,
    });
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  /** Prometheus text of this registry merged with every worker's. */
  async render(): Promise<{ contentType: string; body: string }> {
    const own = await this.registry.getMetricsAsJSON();
    const workers = this.#collectWorkerMetrics === undefined ? [] : await this.#collectWorkerMetrics();
    assert(Array.isArray(workers), 'collectWorkerMetrics must return an array of metric arrays');
    if (workers.length === 0) return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    const merged = AggregatorRegistry.aggregate([own, ...workers]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }
}

let threadMetricsInstance: Metrics | undefined;

/**
 * The Metrics of the current thread's actors. Actor threads each have one (module state is per
 * thread); the main thread's server gathers them through `ActorSystem.broadcast({kind:'metrics'})`
 * and merges them into its own registry at scrape time.
 */
export function threadMetrics(): Metrics {
  threadMetricsInstance ??= new Metrics();
  return threadMetricsInstance;
}
