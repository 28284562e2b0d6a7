/**
 * Full backups end to end (issue 11 §2): a real PostgreSQL 15 primary runs a workload that uses
 * what a backup must bring back — several databases (CREATE DATABASE with both strategies, one in
 * a user tablespace), a table in a tablespace, TOASTed rows, indexes, an unlogged table, a large
 * object, a sequence, a transaction left prepared, VACUUM FULL of a catalog (relation map) — and
 * records (LSN, query results) at three moments. For each moment, a stock `postgres` is started on
 * Strata's full backup at that LSN and must return the primary's results of that moment:
 *
 *   - row counts, sums and an md5 of a whole table; the tables that exist (a catalog change);
 *   - rows in the tablespace and in every database; the prepared transaction still prepared;
 *   - the large object's bytes; the unlogged table present and empty (as crash recovery leaves it);
 *   - a sequence never hands out a value the primary already used;
 *   - every btree index passes amcheck's bt_index_check with heapallindexed;
 *   - the server accepts writes and a clean restart.
 *
 * The same backup also comes as a tar over HTTP (unpacked by `strata fullbackup -D`) and over the
 * page service's `fullbackup` command; both hold the same files as the directory backup.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parseLsn } from '../../src/lsn.js';
import type { TimelineInfo } from '../../src/http/management-api.js';
import { readTar } from '../../src/ingest/tar.js';
import { PgConnection } from '../../src/pgwire/connection.js';
import { PostgresCluster } from '../helpers/postgres.js';
import { eventually, startTestServer, type TestServer } from '../helpers/strata-server.js';

const execFileAsync = promisify(execFile);

interface Moment {
  name: string;
  lsn: string;
  results: Record<string, string>;
  sequenceLast: number;
}

/** Queries whose answers must be equal on the primary then and on the compute. */
const QUERIES: Record<string, [database: string, sql: string]> = {
  accounts: ['postgres', "SELECT count(*) || ' ' || sum(bal) || ' ' || md5(string_agg(id || ':' || bal || ':' || coalesce(note, ''), ',' ORDER BY id)) FROM accounts"],
  tables: ['postgres', "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"],
  in_tablespace: ['postgres', 'SELECT count(*) || \' \' || sum(x) FROM in_ts'],
  prepared: ['postgres', "SELECT coalesce(string_agg(gid, ',' ORDER BY gid), '-') FROM pg_prepared_xacts"],
  large_object: ['postgres', "SELECT encode(lo_get(oid), 'escape') FROM pg_largeobject_metadata ORDER BY oid LIMIT 1"],
  db_wal: ['db_wal', "SELECT count(*) || ' ' || md5(string_agg(t, ',' ORDER BY t)) FROM w"],
  db_copy: ['db_copy', "SELECT count(*) || ' ' || md5(string_agg(t, ',' ORDER BY t)) FROM c"],
  db_ts: ['db_ts', 'SELECT count(*) FROM in_db_ts'],
  databases: ['postgres', "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"],
};

async function capture(cluster: PostgresCluster, name: string): Promise<Moment> {
  // Nothing else writes: the LSN and the answers describe the same state. The insert position, not
  // pg_current_wal_lsn() (the write position, which lags the last commits under asynchronous commit).
  const lsn = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
  const results: Record<string, string> = {};
  for (const [key, [database, sql]] of Object.entries(QUERIES)) results[key] = await cluster.sql(sql, database);
  const sequenceLast = Number(await cluster.sql('SELECT last_value FROM s'));
  return { name, lsn, results, sequenceLast };
}

async function filesUnder(root: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  const walk = async (directory: string) => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) await walk(path);
      else files.set(relative(root, path), (await stat(path)).size);
    }
  };
  await walk(root);
  return files;
}

async function checkCompute(moment: Moment, directory: string): Promise<string[]> {
  const problems: string[] = [];
  const compute = await PostgresCluster.fromDataDirectory(directory, { settings: { fsync: 'off' } });
  try {
    for (const [key, [database, sql]] of Object.entries(QUERIES)) {
      const ours = await compute.sql(sql, database).catch((error: Error) => `ERROR ${error.message.split('\n').find((line) => line.includes('ERROR')) ?? error.message}`);
      if (ours !== moment.results[key]) problems.push(`${moment.name} ${key}: compute ${JSON.stringify(ours)} primary ${JSON.stringify(moment.results[key])}`);
    }
    const unlogged = await compute.sql('SELECT count(*) FROM scratch');
    if (unlogged !== '0') problems.push(`${moment.name}: the unlogged table holds ${unlogged} rows, expected 0 (reset from its init fork)`);
    const next = Number(await compute.sql("SELECT nextval('s')"));
    if (!(next > moment.sequenceLast)) problems.push(`${moment.name}: nextval ${next} reuses a value (primary last_value ${moment.sequenceLast})`);
    for (const database of ['postgres', 'db_wal', 'db_copy', 'db_ts']) {
      await compute.sql('CREATE EXTENSION IF NOT EXISTS amcheck', database);
      const checked = await compute.sql(`SELECT count(bt_index_check(c.oid, true)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid`, database)
        .catch((error: Error) => `ERROR ${error.message}`);
      if (!/^\d+$/.test(checked) || Number(checked) < 10) problems.push(`${moment.name} amcheck in ${database}: ${checked}`);
      else console.log(`  ${moment.name}: amcheck bt_index_check(heapallindexed) passed on ${checked} btree indexes of ${database}`);
    }
    await compute.sql('CREATE TABLE written_on_compute AS SELECT generate_series(1, 1000) AS x');
    await compute.restart();
    const after = await compute.sql('SELECT count(*) FROM written_on_compute');
    if (after !== '1000') problems.push(`${moment.name}: a write did not survive a restart of the compute (${after})`);
  } finally {
    await compute.stop();
  }
  return problems;
}

test('a stock PostgreSQL 15 starts from Strata\'s full backup at each recorded LSN and answers as the primary did then', async () => {
  const cluster = await PostgresCluster.create({ settings: { max_prepared_transactions: 5 } });
  const tablespace = await mkdtemp(join(tmpdir(), 'strata-ts-'));
  await chmod(tablespace, 0o700);
  if (process.getuid?.() === 0) await execFileAsync('chown', ['postgres:postgres', tablespace]);
  const server: TestServer = await startTestServer();
  const scratch = await mkdtemp(join(tmpdir(), 'strata-fullbackup-'));
  await chmod(scratch, 0o755); // computes run as postgres
  try {
    const tenant = await server.post<{ id: string }>('/v1/tenant', {});
    const created = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
    const base = `/v1/tenant/${tenant.id}/timeline/${created.timeline_id}`;
    const caughtUp = (lsn: string) => eventually(async () => {
      const info = await server.get<TimelineInfo>(base);
      return parseLsn(info.last_record_lsn) >= parseLsn(lsn) ? info : undefined;
    }, 60_000, `Strata ingests up to ${lsn}`);

    await cluster.script(`
      CREATE EXTENSION amcheck;
      CREATE TABLE accounts (id int PRIMARY KEY, bal int NOT NULL, note text);
      INSERT INTO accounts SELECT g, g * 10, CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 200) END FROM generate_series(1, 3000) g;
      CREATE INDEX accounts_bal ON accounts (bal);
      CREATE UNLOGGED TABLE scratch (x int PRIMARY KEY);
      INSERT INTO scratch SELECT generate_series(1, 500);
      CREATE SEQUENCE s;
      SELECT nextval('s') FROM generate_series(1, 5);
      SELECT lo_from_bytea(0, 'a large object, written before the first moment'::bytea);
      CREATE TABLESPACE ts LOCATION '${tablespace}';
      CREATE TABLE in_ts (x int) TABLESPACE ts;
      INSERT INTO in_ts SELECT generate_series(1, 2000);
      CREATE INDEX in_ts_x ON in_ts (x) TABLESPACE ts;
      CREATE DATABASE db_wal STRATEGY wal_log;
      CREATE DATABASE db_copy STRATEGY file_copy;
      CREATE DATABASE db_ts TABLESPACE ts;
    `);
    for (const [database, table] of [['db_wal', 'w'], ['db_copy', 'c']] as const) {
      await cluster.script(`CREATE TABLE ${table} (t text PRIMARY KEY); INSERT INTO ${table} SELECT 'row ' || g FROM generate_series(1, 1500) g;`, database);
    }
    await cluster.script('CREATE TABLE in_db_ts (x int PRIMARY KEY); INSERT INTO in_db_ts SELECT generate_series(1, 700);', 'db_ts');
    const moments: Moment[] = [await capture(cluster, 'first')];

    await cluster.script(`
      UPDATE accounts SET bal = bal + 7 WHERE id % 3 = 0;
      DELETE FROM accounts WHERE id % 11 = 0;
      VACUUM FULL pg_class;
      VACUUM FULL accounts;
      CREATE TABLE created_later (x int);
      DROP TABLE IF EXISTS nothing_here;
      SELECT nextval('s') FROM generate_series(1, 40);
      BEGIN;
      INSERT INTO accounts VALUES (100001, 1, 'prepared');
      PREPARE TRANSACTION 'p1';
    `);
    await cluster.script("INSERT INTO w SELECT 'later ' || g FROM generate_series(1, 100) g;", 'db_wal');
    await cluster.script('DELETE FROM c WHERE t LIKE \'row 1%\';', 'db_copy');
    moments.push(await capture(cluster, 'second'));

    await cluster.script(`
      COMMIT PREPARED 'p1';
      DROP TABLE created_later;
      UPDATE accounts SET bal = bal - 1 WHERE id < 500;
      INSERT INTO in_ts SELECT generate_series(1, 300);
    `);
    moments.push(await capture(cluster, 'third'));
    await caughtUp(moments.at(-1)!.lsn);

    const problems: string[] = [];
    for (const moment of moments) {
      const directory = join(scratch, moment.name);
      const result = await server.server.backups.fullbackupToDirectory(tenant.id, created.timeline_id, join(directory, 'data'), { lsn: parseLsn(moment.lsn) });
      console.log(`  ${moment.name} at ${moment.lsn}: ${result.files} files, ${result.relationPages} relation pages, ${(result.bytes / 1048576).toFixed(1)} MiB in ${result.ms} ms; checkpoint at ${result.checkpointLsn.toString(16)}`);
      assert.ok(result.relationPages > 500, 'the backup holds the relation pages');
      const found = await checkCompute(moment, directory);
      for (const problem of found) console.log(`  PROBLEM ${problem}`);
      problems.push(...found);
    }

    // The tar forms of the second moment hold the same files as a directory backup at its LSN,
    // byte for byte but for the times in pg_control and the checkpoint record.
    const second = moments[1]!;
    const pristine = join(scratch, 'second-pristine');
    await server.server.backups.fullbackupToDirectory(tenant.id, created.timeline_id, pristine, { lsn: parseLsn(second.lsn) });
    const directoryFiles = await filesUnder(pristine);
    const cliDirectory = join(scratch, 'cli', 'data');
    await execFileAsync(process.execPath, [join(process.cwd(), 'bin/strata'), 'fullbackup', '--endpoint', server.url,
      '--tenant', tenant.id, '--timeline', created.timeline_id, '--lsn', second.lsn, '-D', cliDirectory]);
    const cliFiles = await filesUnder(cliDirectory);
    assert.equal([...cliFiles.keys()].sort(), [...directoryFiles.keys()].sort(), 'the HTTP tar unpacked by the CLI holds the directory backup\'s files');
    let comparedBytes = 0;
    for (const path of cliFiles.keys()) {
      if (path === 'global/pg_control' || path.startsWith('pg_wal/')) continue;
      const [ours, theirs] = await Promise.all([readFile(join(cliDirectory, path)), readFile(join(pristine, path))]);
      assert.ok(ours.equals(theirs), `${path} differs between the HTTP tar and the directory backup`);
      comparedBytes += ours.length;
    }
    console.log(`  HTTP tar via \`strata fullbackup -D\`: ${cliFiles.size} files, ${(comparedBytes / 1048576).toFixed(1)} MiB equal to the directory backup`);
    problems.push(...await checkCompute(second, join(scratch, 'cli')));

    const [host, port] = server.server.pgAddress.split(':');
    const connection = await PgConnection.connect(`host=${host} port=${port} user=compute dbname=postgres`);
    try {
      connection.sendQuery(`fullbackup ${tenant.id} ${created.timeline_id} ${second.lsn}`);
      const first = await connection.nextMessage();
      assert.is(first.name, 'copyOutResponse', 'fullbackup answers with CopyOut');
      const chunks: Uint8Array[] = [];
      for (let message = await connection.nextMessage(); message.name !== 'copyDone'; message = await connection.nextMessage()) {
        assert.is(message.name, 'copyData');
        chunks.push((message as { data: Uint8Array }).data);
      }
      const pageServiceFiles = new Map<string, number>();
      for await (const event of readTar((async function* () { yield* chunks; })())) {
        if (event.kind === 'entry' && event.entry.type === 'file') pageServiceFiles.set(event.entry.path, event.entry.size);
      }
      assert.is((await connection.nextMessage()).name, 'commandComplete');
      assert.is((await connection.nextMessage()).name, 'readyForQuery');
      assert.equal(new Set(pageServiceFiles.keys()), new Set(cliFiles.keys()), 'the page service tar holds the same files');
      console.log(`  page service fullbackup: ${pageServiceFiles.size} files`);
    } finally {
      await connection.close();
    }

    // Bad input gets coded errors: an LSN below the consistent start, an unknown timeline.
    const tooOld = await server.request('GET', `${base}/fullbackup?lsn=0/10`);
    assert.is(tooOld.status, 410, JSON.stringify(tooOld.body));
    const unknown = await server.request('GET', `/v1/tenant/${tenant.id}/timeline/${'0'.repeat(32)}/fullbackup`);
    assert.is(unknown.status, 404);

    assert.equal(problems, [], problems.join('\n'));
    console.log(`  ${moments.length} moments × ${Object.keys(QUERIES).length} queries equal, plus unlogged reset, sequence, amcheck, writes`);
    server.logs.assertClean();
  } finally {
    await server.stop();
    await cluster.destroy();
    await rm(tablespace, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
});

test.run();
