/**
 * Metrics: each Metrics object has its own registry (several servers per process), and the main
 * thread merges worker JSON (counters and histograms summed, LSN gauges by max) into one text.
 * Workers are simulated by separate Metrics objects: JSON is exactly what crosses the thread.
 */
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Metrics, type MetricsJson } from '../../../src/observability/metrics.js';

test('two Metrics objects do not share values', async () => {
  const first = new Metrics();
  const second = new Metrics();
  first.layerFlushes.inc({ reason: 'distance' }, 5);
  const text = (await second.render()).body;
  assert.match(text, 'strata_layer_flushes_total{reason="distance"} 0');
  assert.match((await first.render()).body, 'strata_layer_flushes_total{reason="distance"} 5');
});

test('every required metric is registered', async () => {
  const text = (await new Metrics().render()).body;
  for (const name of [
    'strata_wal_received_bytes_total', 'strata_wal_records_ingested_total', 'strata_last_record_lsn', 'strata_disk_consistent_lsn',
    'strata_getpage_requests_total', 'strata_getpage_latency_seconds', 'strata_http_requests_total', 'strata_actor_mailbox_full_total',
    'strata_layer_flushes_total', 'strata_compute_startup_seconds', 'strata_compute_starts_total', 'strata_computes_active',
  ]) {
    assert.match(text, `# TYPE ${name} `, name);
  }
});

test('worker metrics are merged: counters sum, LSN gauges take the max', async () => {
  const workerA = new Metrics();
  const workerB = new Metrics();
  workerA.walRecordsIngested.inc({ rmgr: 'Heap' }, 10);
  workerB.walRecordsIngested.inc({ rmgr: 'Heap' }, 5);
  workerB.walRecordsIngested.inc({ rmgr: 'Btree' }, 2);
  workerA.lastRecordLsn.set({ tenant_id: 't', timeline_id: 'l' }, 100);
  workerB.lastRecordLsn.set({ tenant_id: 't', timeline_id: 'l' }, 250);
  workerA.getpageLatencySeconds.observe(0.002);
  workerB.getpageLatencySeconds.observe(0.003);
  const main = new Metrics({
    collectWorkerMetrics: async (): Promise<MetricsJson[]> => [await workerA.registry.getMetricsAsJSON(), await workerB.registry.getMetricsAsJSON()],
  });
  main.walReceivedBytes.inc(4096);
  const { body, contentType } = await main.render();
  assert.match(contentType, 'text/plain');
  assert.match(body, 'strata_wal_records_ingested_total{rmgr="Heap"} 15');
  assert.match(body, 'strata_wal_records_ingested_total{rmgr="Btree"} 2');
  assert.match(body, 'strata_last_record_lsn{tenant_id="t",timeline_id="l"} 250');
  assert.match(body, 'strata_getpage_latency_seconds_count 2');
  assert.match(body, 'strata_wal_received_bytes_total 4096');
});

test('metrics JSON from a real worker thread merges into the main text', async () => {
  const moduleUrl = new URL('../../../src/observability/metrics.js', import.meta.url).href;
  const source = `
    const { parentPort } = await import('node:worker_threads');
    const { Metrics } = await import(${JSON.stringify(moduleUrl)});
    const metrics = new Metrics();
    metrics.getpageRequests.inc(7);
    parentPort.postMessage(await metrics.registry.getMetricsAsJSON());`;
  const worker = new Worker(source, { eval: true, type: 'module' } as never);
  try {
    const json = await new Promise<MetricsJson>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    const main = new Metrics({ collectWorkerMetrics: async () => [json] });
    main.getpageRequests.inc(1);
    assert.match((await main.render()).body, 'strata_getpage_requests_total 8');
  } finally {
    await worker.terminate();
  }
});

test.run();
