/**
 * Fault injection and restarts against a real PostgreSQL 15 primary, driven the way an operator
 * or a fault-injection engineer would: failpoints set at run time with PUT /v1/failpoints (they
 * reach every actor thread), and whole-server restarts on the same workdir.
 *
 *  - attach-before-base-backup=return, and import-between-image-layers=return in the middle of the
 *    base backup import: the create fails with PS_ERR_FAILPOINT, and leaves neither a timeline
 *    directory in the workdir nor a replication slot on the primary; the attach that succeeds
 *    leaves image layers at the backup start LSN only (no delta layer: nothing was flushed);
 *  - walreceiver-before-ingest=1*return: the stream breaks once, the walreceiver reconnects, and
 *    no record is lost (sizes match the primary afterwards);
 *  - a Strata restart while the primary keeps writing: the timeline comes back Active from its
 *    durable state, resumes from disk_consistent_lsn through the slot, and catches up.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TimelineInfo } from '../../src/http/management-api.js';
import { formatLsn, parseLsn } from '../../src/lsn.js';
import { parseLayerName } from '../../src/storage/layer-name.js';
import { PostgresCluster } from '../helpers/postgres.js';
import { eventually, startTestServer, type TestServer } from '../helpers/strata-server.js';

async function caughtUp(server: TestServer, base: string, cluster: PostgresCluster): Promise<TimelineInfo> {
  const target = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
  return eventually(async () => {
    const info = await server.get<TimelineInfo>(base);
    return parseLsn(info.last_record_lsn) >= target ? info : undefined;
  }, 30_000, 'Strata to catch up with the primary');
}

async function sizeMatches(server: TestServer, base: string, cluster: PostgresCluster, table: string): Promise<void> {
  const [relNode, blocks] = (await cluster.sql(`SELECT pg_relation_filenode('${table}'), pg_relation_size('${table}') / 8192`)).split('|');
  const lsn = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
  const ours = await server.get<{ size: number }>(`${base}/relsize?rel=1663/5/${relNode}&fork=main&lsn=${lsn}`);
  assert.is(ours.size, Number(blocks), `${table}: strata ${ours.size} blocks, primary ${blocks}`);
}

test('failpoints at run time: a failed attach cleans up, a broken stream loses nothing, a restart resumes', async () => {
  const cluster = await PostgresCluster.create({ settings: { autovacuum: 'off' } });
  let server: TestServer | undefined;
  try {
    await cluster.sql('CREATE TABLE faults (id int, pad text)');
    server = await startTestServer({
      allowLogs: [/replication connection lost/, /failpoint/],
    });
    const tenant = await server.post<{ id: string }>('/v1/tenant', {});

    // 1. The attach fails before the base backup, then in the middle of its import: coded error,
    // nothing left behind.
    const timelinesDirectory = join(server.workdir, 'tenants', tenant.id, 'timelines');
    for (const name of ['attach-before-base-backup', 'import-between-image-layers']) {
      const set = await server.request('PUT', '/v1/failpoints', [{ name, actions: 'return' }]);
      assert.is(set.status, 200, JSON.stringify(set.body));
      const failed = await server.request('POST', `/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
      assert.is(failed.body.code, 'PS_ERR_FAILPOINT', `${name}: ${JSON.stringify(failed.body)}`);
      assert.ok(failed.status >= 500, `failpoint error is a server-side failure: ${failed.status}`);
      const leftovers = (await readdir(timelinesDirectory).catch(() => [] as string[])).filter((entry) => !entry.startsWith('.'));
      assert.equal(leftovers, [], `${name}: no timeline directory remains`);
      assert.is(await cluster.sql('SELECT count(*) FROM pg_replication_slots'), '0', `${name}: the slot of the failed attach was dropped`);
      await server.request('PUT', '/v1/failpoints', [{ name, actions: 'off' }]);
    }

    const timeline = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
    const base = `/v1/tenant/${tenant.id}/timeline/${timeline.timeline_id}`;
    // The import wrote image layers at the backup start and nothing else: no flush followed it.
    const layers = (await readdir(join(timelinesDirectory, timeline.timeline_id))).map(parseLayerName).filter((name) => name !== undefined);
    assert.ok(layers.length > 0, 'the import wrote layer files');
    for (const layer of layers) {
      assert.is(layer.kind, 'image');
      if (layer.kind === 'image') assert.is(formatLsn(layer.lsn), timeline.disk_consistent_lsn, 'image layers lie at disk_consistent_lsn');
    }
    assert.ok(parseLsn(timeline.last_record_lsn) >= parseLsn(timeline.disk_consistent_lsn));

    // 2. The stream breaks once on its way to ingest; the walreceiver reconnects, nothing is lost.
    await server.request('PUT', '/v1/failpoints', [{ name: 'walreceiver-before-ingest', actions: '1*return' }]);
    await cluster.sql("INSERT INTO faults SELECT g, repeat('a', 200) FROM generate_series(1, 20000) g");
    const afterBreak = await caughtUp(server, base, cluster);
    assert.ok((afterBreak.walreceiver?.connections ?? 0) >= 2, `reconnected: ${JSON.stringify(afterBreak.walreceiver)}`);
    await sizeMatches(server, base, cluster, 'faults');

    // 3. Strata restarts while the primary keeps writing; the slot kept the WAL it had not flushed.
    await server.server.stop();
    await cluster.sql("INSERT INTO faults SELECT g, repeat('b', 200) FROM generate_series(1, 20000) g");
    const slot = await cluster.sql('SELECT restart_lsn FROM pg_replication_slots');
    await server.restart();
    const resumed = await caughtUp(server, base, cluster);
    assert.is(resumed.state, 'Active');
    assert.ok(parseLsn(resumed.disk_consistent_lsn) >= parseLsn(slot), 'restart_lsn never passed what Strata made durable');
    await sizeMatches(server, base, cluster, 'faults');

    const metrics = await server.request('GET', '/metrics');
    assert.match(String(metrics.body), /strata_wal_records_ingested_total\{rmgr="Heap"\} [1-9]/, 'worker-thread metrics reach /metrics');
    server.logs.assertClean();
  } finally {
    await server?.stop();
    await cluster.destroy();
  }
});

test.run();
