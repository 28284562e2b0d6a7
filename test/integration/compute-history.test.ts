/**
 * Computes at any point in history (issue 11 §3, the end-to-end proof): during pgbench against a
 * real PostgreSQL 15 primary, record (LSN, time, query results) at several moments — row count of
 * pgbench_history, the sum of balances, an md5 of the whole pgbench_accounts table, and a catalog
 * change (a table created and the previous one dropped at each moment). Later, start a stock
 * PostgreSQL through `POST /v1/compute` at each LSN and at each time: every answer must be the
 * primary's of that moment.
 *
 * Then a writable branch: a compute with `branch` at the second moment accepts writes, Strata
 * ingests its WAL into the branch timeline (a read-only compute on the branch sees the writes),
 * the parent does not see them, and the branch can itself be branched.
 *
 * Each moment is taken under LOCK … IN EXCLUSIVE MODE on the pgbench tables, so no pgbench
 * transaction is half-visible: every one that committed before is fully done, none commits until
 * the lock goes (the LSN is the insert position, the time clock_timestamp() under the lock).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TimelineInfo } from '../../src/http/management-api.js';
import type { ComputeStartReply } from '../../src/compute/compute-manager.js';
import { parseLsn } from '../../src/lsn.js';
import { PostgresCluster, runPg, spawnPg } from '../helpers/postgres.js';
import { eventually, startTestServer } from '../helpers/strata-server.js';
import { captureMoment } from '../helpers/moments.js';

interface Moment { index: number; lsn: string; time: string; results: string }

const RESULTS_SQL = `SELECT (SELECT count(*) FROM pgbench_history) || ' ' || (SELECT sum(abalance) FROM pgbench_accounts) || ' '
  || (SELECT md5(string_agg(aid || ':' || abalance, ',' ORDER BY aid)) FROM pgbench_accounts) || ' '
  || (SELECT coalesce(string_agg(relname, ',' ORDER BY relname), '-') FROM pg_class WHERE relname LIKE 'moment_%')`;

async function psqlAt(port: number, sql: string, database = 'postgres'): Promise<string> {
  const result = await runPg('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql]);
  return result.stdout.trim();
}

async function capture(primary: PostgresCluster, index: number): Promise<Moment> {
  // A catalog change at every moment: a table created, the previous one dropped.
  return { index, ...await captureMoment(primary, RESULTS_SQL, `CREATE TABLE moment_${index} (x int); DROP TABLE IF EXISTS moment_${index - 1};`) };
}

test('stock PostgreSQL at any recorded LSN or time answers as the primary did; a writable branch keeps its own history', async () => {
  const primary = await PostgresCluster.create({ settings: { synchronous_commit: 'on' } });
  const server = await startTestServer({ allowLogs: [/walreceiver|replication connection|connection (closed|ended|lost)|terminat/i] });
  const computes: string[] = [];
  const startCompute = async (body: Record<string, unknown>): Promise<ComputeStartReply> => {
    const reply = await server.post<ComputeStartReply>('/v1/compute', body);
    computes.push(reply.compute_id);
    return reply;
  };
  const stopCompute = async (id: string) => { await server.post(`/v1/compute/${id}/stop`, {}); };
  try {
    const tenant = await server.post<{ id: string }>('/v1/tenant', {});
    const created = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: primary.connectionString() });
    const timeline = created.timeline_id;
    const base = `/v1/tenant/${tenant.id}/timeline/${timeline}`;
    await primary.pgbench(['-i', '-s', '2', '-q']);

    const load = spawnPg('pgbench', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-c', '2', '-j', '2', '-T', '25', '-R', '150', '-n', 'postgres']);
    const loadDone = new Promise<number | null>((resolve) => load.on('close', resolve));
    const moments: Moment[] = [];
    for (let index = 1; index <= 4; index++) {
      await new Promise((resolve) => setTimeout(resolve, 3500));
      moments.push(await capture(primary, index));
    }
    assert.is(await loadDone, 0, 'pgbench ran to its end');
    const end = await primary.sql('SELECT pg_current_wal_insert_lsn()');
    await eventually(async () => (parseLsn((await server.get<TimelineInfo>(base)).last_record_lsn) >= parseLsn(end) ? true : undefined), 60_000, 'Strata caught up');
    for (const moment of moments) console.log(`  moment ${moment.index}: ${moment.lsn} ${moment.time} ${moment.results.slice(0, 60)}…`);
    assert.is(new Set(moments.map((moment) => moment.results)).size, moments.length, 'every moment differs from the others');

    const mismatches: string[] = [];
    for (const moment of moments) {
      for (const target of [{ lsn: moment.lsn }, { time: moment.time }]) {
        const reply = await startCompute({ tenant_id: tenant.id, timeline_id: timeline, ...target });
        const ours = await psqlAt(reply.port, RESULTS_SQL);
        const what = 'lsn' in target ? `lsn ${moment.lsn}` : `time ${moment.time} (→ ${reply.lsn})`;
        if (ours !== moment.results) mismatches.push(`moment ${moment.index} at ${what}: compute ${ours} primary ${moment.results}`);
        assert.is(await psqlAt(reply.port, 'SELECT pg_is_in_recovery()'), 't', 'a compute without a branch is read-only');
        console.log(`  moment ${moment.index} at ${what}: ${ours === moment.results ? 'equal' : 'DIFFERENT'}, startup_ms ${JSON.stringify(reply.startup_ms)}`);
        await stopCompute(reply.compute_id);
      }
    }
    assert.equal(mismatches, [], mismatches.join('\n'));

    // A writable branch at the second moment.
    const second = moments[1]!;
    const dev = await startCompute({ tenant_id: tenant.id, timeline_id: timeline, lsn: second.lsn, branch: 'dev' });
    assert.is.not(dev.timeline_id, timeline, 'the compute writes to a branch timeline of its own');
    assert.is(await psqlAt(dev.port, 'SELECT pg_is_in_recovery()'), 'f', 'a branch compute is a primary');
    assert.is(await psqlAt(dev.port, RESULTS_SQL), second.results, 'the branch starts at the moment');
    await psqlAt(dev.port, 'CREATE TABLE on_branch AS SELECT generate_series(1, 5000) AS x');
    await psqlAt(dev.port, 'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 100');
    const branchResults = await psqlAt(dev.port, RESULTS_SQL);
    const branchLsn = await psqlAt(dev.port, 'SELECT pg_current_wal_insert_lsn()');
    const branchBase = `/v1/tenant/${tenant.id}/timeline/${dev.timeline_id}`;
    await eventually(async () => (parseLsn((await server.get<TimelineInfo>(branchBase)).last_record_lsn) >= parseLsn(branchLsn) ? true : undefined),
      30_000, 'Strata ingests the branch compute\'s WAL');
    const branchInfo = await server.get<TimelineInfo>(branchBase);
    assert.is(branchInfo.ancestor_timeline_id, timeline);
    console.log(`  branch ${dev.timeline_id.slice(0, 8)}… ingested ${branchInfo.wal_records_ingested} records of the compute's WAL up to ${branchLsn}`);

    // The branch answers times before its branch point from its ancestor's commits.
    const inherited = await server.get<{ lsn: string; kind: string }>(`${branchBase}/get_lsn_by_timestamp?timestamp=${encodeURIComponent(moments[0]!.time)}`);
    assert.equal(inherited, { lsn: moments[0]!.lsn, kind: 'present' }, 'a time before the branch point resolves in the ancestor');
    const reader = await startCompute({ tenant_id: tenant.id, timeline_id: dev.timeline_id, lsn: branchLsn });
    assert.is(await psqlAt(reader.port, 'SELECT count(*) FROM on_branch'), '5000', 'the branch\'s own WAL is readable from Strata');
    assert.is(await psqlAt(reader.port, RESULTS_SQL), branchResults, 'a read-only compute of the branch answers as the branch compute did');
    await stopCompute(reader.compute_id);

    const parent = await startCompute({ tenant_id: tenant.id, timeline_id: timeline });
    assert.is(await psqlAt(parent.port, "SELECT to_regclass('on_branch') IS NULL"), 't', 'the parent does not see the branch\'s table');
    assert.is(await psqlAt(parent.port, RESULTS_SQL), await primary.sql(RESULTS_SQL), 'the parent is the primary\'s latest state');
    await stopCompute(parent.compute_id);

    // A branch of the branch, at the branch's latest write.
    const nested = await startCompute({ tenant_id: tenant.id, timeline_id: dev.timeline_id, lsn: branchLsn, branch: 'dev-2' });
    assert.is(await psqlAt(nested.port, 'SELECT count(*) FROM on_branch'), '5000');
    await psqlAt(nested.port, 'INSERT INTO on_branch VALUES (0)');
    assert.is(await psqlAt(dev.port, 'SELECT count(*) FROM on_branch'), '5000', 'the nested branch does not write into its parent');
    await stopCompute(nested.compute_id);
    await stopCompute(dev.compute_id);
    assert.equal((await server.get<{ state: string }[]>('/v1/compute')).filter((compute) => compute.state === 'Running'), []);
    console.log(`  ${moments.length} moments × (LSN, time) equal; branch writes ingested, parent unchanged, branch of a branch`);
    server.logs.assertClean();
  } finally {
    for (const id of computes) await server.post(`/v1/compute/${id}/stop`, {}).catch(() => undefined);
    await server.stop();
    await primary.destroy();
  }
});

test.run();
