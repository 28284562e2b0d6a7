/**
 * End to end: flushes follow checkpoint_distance, and ingest waits for them when the in-memory
 * layers reach max_inmemory_bytes, with a real PostgreSQL 15 primary under pgbench.
 *
 * The primary runs with synchronous_commit = on (PostgreSQL's default): every commit flushes WAL
 * and wakes the walsender, so WAL arrives in many small XLogData messages. That is what used to
 * charge the open layer a whole 256 KiB decoder buffer per message and write an L0 file every
 * fraction of a second (source-identity.ts). Flushes are slowed by a failpoint
 * (`timeline-flush=sleep`), and max_inmemory_bytes = checkpoint_distance, so ingest must wait
 * for every flush: the test shows that it does (metrics), that the walreceiver path does not
 * deadlock on it (Strata catches up with the primary), and that the in-memory bytes stay bounded.
 *
 * Checks:
 *  - L0 files written during pgbench ≤ 1.5 × WAL / checkpoint_distance + 2 (the layer counts a bit
 *    more than the WAL: index entries, the unused tail of decoder buffers);
 *  - every flush during pgbench is logged with reason 'distance';
 *  - strata_ingest_backpressure_waits_total > 0, and strata_inmemory_bytes sampled during the run
 *    never exceeds max_inmemory_bytes plus one batch;
 *  - Strata reaches the primary's insert LSN afterwards, and no unexpected WARN/ERROR was logged.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseLsn } from '../../src/lsn.js';
import { parseLayerName } from '../../src/storage/layer-name.js';
import { PostgresCluster } from '../helpers/postgres.js';
import { eventually, startTestServer, type TestServer } from '../helpers/strata-server.js';
import type { TimelineInfo } from '../../src/http/management-api.js';

const MIB = 1024 * 1024;
const DISTANCE_BYTES = 4 * MIB;
const PGBENCH_SECONDS = Number(process.env.STRATA_FLUSH_PGBENCH_SECONDS ?? 10);
/**
 * One batch's charge at most: its XLogData (≤ 128 KiB), a new decoder buffer (256 KiB) and a new
 * slab for records crossing two page boundaries (1 MiB), plus index entries.
 */
const BATCH_BYTES_MAX = 128 * 1024 + 256 * 1024 + MIB + 64 * 1024;

async function deltaFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => parseLayerName(name)?.kind === 'delta');
}

/** The value of one sample line of the Prometheus text (summed over label sets that match). */
function metricValue(text: string, name: string, labels = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{${labels}`) || (labels === '' && line.startsWith(`${name} `))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

test('pgbench with synchronous commits: L0 files follow checkpoint_distance, and ingest waits for slow flushes without deadlock', async () => {
  const cluster = await PostgresCluster.create({ settings: { autovacuum: 'off', synchronous_commit: 'on' } });
  let server: TestServer | undefined;
  try {
    await cluster.pgbench(['-i', '-s', '1', '-q']);
    server = await startTestServer({
      overrides: [`checkpoint_distance=${DISTANCE_BYTES}`, `max_inmemory_bytes=${DISTANCE_BYTES}`, 'failpoints=timeline-flush=sleep(300)'],
    });
    const tenant = await server.post<{ id: string }>('/v1/tenant', {});
    const created = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
    const base = `/v1/tenant/${tenant.id}/timeline/${created.timeline_id}`;
    const directory = join(server.workdir, 'tenants', tenant.id, 'timelines', created.timeline_id);
    const lastRecordLsn = async () => parseLsn((await server!.get<TimelineInfo>(base)).last_record_lsn);
    const startLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    await eventually(async () => ((await lastRecordLsn()) >= startLsn ? true : undefined), 60_000, 'catch-up after attach');
    const filesBefore = new Set(await deltaFiles(directory));
    const startedMs = Date.now();

    let inMemoryPeak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const text = await (await fetch(`${server!.url}/metrics`)).text();
        inMemoryPeak = Math.max(inMemoryPeak, metricValue(text, 'strata_inmemory_bytes', `tenant_id="${tenant.id}"`));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await cluster.pgbench(['-c', '4', '-j', '2', '-T', String(PGBENCH_SECONDS), '-n']);
    const endLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    await eventually(async () => ((await lastRecordLsn()) >= endLsn ? true : undefined), 120_000, 'catch-up after pgbench (no deadlock)');
    const caughtUpMs = Date.now();
    sampling = false;
    await sampler;

    const walBytes = endLsn - startLsn;
    const written = (await deltaFiles(directory)).filter((name) => !filesBefore.has(name));
    const bound = Math.floor((1.5 * walBytes) / DISTANCE_BYTES) + 2;
    console.log(`WAL ${(walBytes / MIB).toFixed(1)} MiB; ${written.length} L0 files (bound ${bound}); in-memory peak ${(inMemoryPeak / MIB).toFixed(2)} MiB`);
    assert.ok(walBytes > 2 * DISTANCE_BYTES, `pgbench wrote WAL for several layers (${walBytes} bytes)`);
    assert.ok(written.length >= 1 && written.length <= bound, `${written.length} L0 files for ${walBytes} bytes of WAL at checkpoint_distance ${DISTANCE_BYTES} (at most ${bound})`);
    const flushes = server.logs.lines.filter((line) => line.msg === 'flushing in-memory layer' && (line.time as number) >= startedMs && (line.time as number) <= caughtUpMs);
    assert.ok(flushes.length >= 1);
    assert.equal([...new Set(flushes.map((line) => line.reason))], ['distance'], 'every flush during pgbench is for checkpoint_distance');

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const waits = metricValue(metrics, 'strata_ingest_backpressure_waits_total');
    assert.ok(waits >= 1, `ingest waited for flushes (${waits} times)`);
    assert.ok(metricValue(metrics, 'strata_ingest_backpressure_wait_seconds_total') > 0, 'and for some time');
    assert.ok(inMemoryPeak > 0 && inMemoryPeak <= DISTANCE_BYTES + BATCH_BYTES_MAX,
      `in-memory layers stayed within max_inmemory_bytes plus one batch: peak ${inMemoryPeak}`);
    server.logs.assertClean();
  } finally {
    await server?.stop();
    await cluster.destroy();
  }
});

test.run();
