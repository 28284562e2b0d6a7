/**
 * Base backup import + WAL ingest against a real PostgreSQL 15: after importing a pg_basebackup
 * and ingesting all WAL from its start LSN, every relation fork of every database has the size
 * PostgreSQL reports, dropped relations and databases are gone, and at an LSN before a drop they
 * still have their old size.
 *
 * WHY: relation sizes and directories are the metadata GetPage@LSN and the compute's smgr depend
 * on; they are derived from many record kinds (block references, smgr create/truncate, drops in
 * commit records, dbase create/drop, implicit fork creation in redo), so a real workload is the
 * only convincing check.
 *
 * Not compared (documented limits, the same a PostgreSQL standby has): main/FSM/VM forks of
 * unlogged relations (only their init fork is WAL-logged), temporary relations, and template0
 * (no connections allowed, so pg_class cannot be queried; its relations are still imported).
 * FSM forks that the primary extended without writing WAL may be smaller here: they are listed,
 * bounded (at most 5% of FSM forks), and never allowed to be larger.
 */
import { createReadStream } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatRelTag, type RelTag } from '../../src/keys.js';
import { parseLsn, WAL_SEGMENT_SIZE, formatLsn, type Lsn } from '../../src/lsn.js';
import { importBaseBackup, importBaseBackupDirectory } from '../../src/ingest/import-basebackup.js';
import { readTar } from '../../src/ingest/tar.js';
import { getRelSize, listDatabases, listRelations } from '../../src/ingest/metadata-readers.js';
import { WalIngest } from '../../src/ingest/wal-ingest.js';
import { reconstructPage } from '../../src/walredo/reconstruct.js';
import { readWalFileBatches } from '../../src/wal/segment-reader.js';
import { decodeRecordBody } from '../../src/wal/records/index.js';
import { decodeXactRecord } from '../../src/wal/records/xact.js';
import { RmgrId, type DecodedRecord } from '../../src/wal/types.js';
import { LogCapture } from '../helpers/log-capture.js';
import { MemoryStore } from '../helpers/memory-store.js';
import { PostgresCluster, runPg } from '../helpers/postgres.js';

const FORKS = ['main', 'fsm', 'vm', 'init'] as const;

interface PrimaryFork { tag: RelTag; blocks: number; name: string }

/** Every fork that exists on the primary in one database, with its size in blocks. */
async function primaryForks(cluster: PostgresCluster, database: string): Promise<PrimaryFork[]> {
  const query = `
    SELECT c.relname, CASE WHEN c.relisshared THEN 1664 WHEN c.reltablespace = 0 THEN d.dattablespace ELSE c.reltablespace END,
           CASE WHEN c.relisshared THEN 0 ELSE d.oid END, pg_relation_filenode(c.oid), f.fork,
           pg_relation_size(c.oid, f.fork) / 8192
    FROM pg_class c, pg_database d, unnest(ARRAY['main','fsm','vm','init']) AS f(fork)
    WHERE d.datname = current_database() AND pg_relation_filenode(c.oid) IS NOT NULL AND c.relpersistence <> 't'
      AND (c.relpersistence = 'p' OR f.fork = 'init')
      AND (pg_stat_file(pg_relation_filepath(c.oid) || CASE f.fork WHEN 'main' THEN '' ELSE '_' || f.fork END, true)).size IS NOT NULL`;
  const output = await cluster.sql(query, database);
  return output.split('\n').filter(Boolean).map((line) => {
    const [name, spc, db, relNode, fork, blocks] = line.split('|');
    const tag = { spcNode: Number(spc), dbNode: Number(db), relNode: Number(relNode), forkNumber: FORKS.indexOf(fork as (typeof FORKS)[number]) };
    return { tag, blocks: Number(blocks), name: name! };
  });
}

const INLINE_WORKLOAD = `
CREATE TABLE kept_truncated AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 5000) g;
DELETE FROM kept_truncated WHERE id > 100;
VACUUM kept_truncated;
CREATE TABLE replaced (id int PRIMARY KEY, v text);
INSERT INTO replaced SELECT g, md5(g::text) FROM generate_series(1, 3000) g;
TRUNCATE replaced;
INSERT INTO replaced SELECT g, md5(g::text) FROM generate_series(1, 50) g;
CREATE DATABASE kept_file_copy TEMPLATE template0 STRATEGY file_copy;
CREATE DATABASE kept_wal_log STRATEGY wal_log;
`;

test('imported backup + ingested WAL match every relation size of the primary', async () => {
  const capture = new LogCapture();
  const cluster = await PostgresCluster.create({ settings: { max_prepared_transactions: 10, wal_log_hints: 'on', autovacuum: 'off', wal_compression: 'lz4', wal_keep_size: "'2GB'", wal_level: 'logical', track_commit_timestamp: 'on' } });
  try {
    await cluster.sql('CREATE TABLE dropped_later AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g');
    await cluster.sql('CREATE DATABASE dropped_db');
    await cluster.sql('CREATE TABLE doomed AS SELECT g FROM generate_series(1, 3000) g', 'dropped_db');
    const backupDirectory = join(cluster.directory, 'backup');
    await runPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-D', backupDirectory, '-Fp', '-X', 'none', '-c', 'fast']);
    const label = await readFile(join(backupDirectory, 'backup_label'), 'utf8');
    const startLsn = parseLsn(/START WAL LOCATION: (\S+)/.exec(label)![1]!);
    // A second backup in tar format (the bytes BASE_BACKUP streams), imported through the tar path.
    const tarDirectory = join(cluster.directory, 'backup-tar');
    await runPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-D', tarDirectory, '-Ft', '-X', 'none', '-c', 'fast']);

    await cluster.pgbench(['-i', '-s', '1', '-q']);
    await cluster.pgbench(['-c', '2', '-j', '1', '-t', '300']);
    await cluster.sql('CREATE DATABASE bw');
    const workload = await readFile(new URL('../../../test/fixtures/broad-workload.sql', import.meta.url), 'utf8').catch(() => '');
    if (workload) await cluster.script(workload, 'bw');
    await cluster.script(INLINE_WORKLOAD);

    // Drops whose earlier state must stay readable.
    const droppedRel = (await primaryForks(cluster, 'postgres')).find((fork) => fork.name === 'dropped_later' && fork.tag.forkNumber === 0)!;
    const droppedDbOid = Number(await cluster.sql("SELECT oid FROM pg_database WHERE datname = 'dropped_db'"));
    const droppedDbForks = await primaryForks(cluster, 'dropped_db');
    const beforeDropLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    await cluster.sql('DROP TABLE dropped_later');
    await cluster.sql('DROP DATABASE dropped_db');
    await cluster.sql('CHECKPOINT');
    await cluster.sql('SELECT pg_switch_wal()');

    const databases = (await cluster.sql("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")).split('\n');
    const expected: PrimaryFork[] = [];
    for (const database of databases) {
      const forks = await primaryForks(cluster, database);
      // Shared catalogs appear in every database: keep them once.
      expected.push(...forks.filter((fork) => fork.tag.dbNode !== 0 || database === 'postgres'));
    }
    const endLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    await cluster.stop();

    const store = new MemoryStore();
    const imported = await importBaseBackupDirectory(store, backupDirectory, { lsn: startLsn, logger: capture.logger });
    const walDirectory = join(cluster.dataDirectory, 'pg_wal');
    const files = (await readdir(walDirectory)).filter((name) => /^[0-9A-F]{24}$/.test(name)).filter((name) => {
      const segmentStart = parseInt(name.slice(8, 16), 16) * 0x1_0000_0000 + parseInt(name.slice(16, 24), 16) * WAL_SEGMENT_SIZE;
      return segmentStart + WAL_SEGMENT_SIZE > startLsn && segmentStart < endLsn;
    }).map((name) => join(walDirectory, name));
    // CREATE DATABASE FILE_COPY of a template with WAL on its pages needs them redone, as the server does.
    const materializerOf = (of: MemoryStore) => async (key: string, lsn: Lsn) => reconstructPage(key, (await of.getReconstructData(key, lsn))!);
    const materializePage = materializerOf(store);
    const ingest = await WalIngest.create(store, { logger: capture.logger, consistentLsn: startLsn, materializePage });
    // Decode first, then ingest, so the printed rate is ingest alone (the WAL here is ~100 MiB).
    const batches = [];
    for await (const batch of readWalFileBatches(files, { startLsn, endLsn })) batches.push(batch);
    // Every record's body must decode with the typed decoders (they are also redo's input).
    const bodyFailures = new Map<string, string>();
    const bodyTypes = new Set<string>();
    for (const batch of batches) {
      for (const record of batch) {
        try {
          const decoded = decodeRecordBody(record);
          bodyTypes.add(`${decoded.rmgr}/${decoded.body.type}`);
        } catch (error) {
          bodyFailures.set(`${record.rmgrId}/0x${record.info.toString(16)}`, (error as Error).message);
        }
      }
    }
    console.log(`typed decoders: ${bodyTypes.size} distinct record types decoded`);
    assert.equal([...bodyFailures], [], 'records the typed decoders reject');
    const compared = await compareXactWithWaldump(cluster, batches.flat(), startLsn, endLsn);
    console.log(`commit/abort records whose dropped rels and subxacts match pg_waldump: ${compared}`);
    const started = performance.now();
    for (const batch of batches) await ingest.ingestBatch(batch);
    const seconds = (performance.now() - started) / 1000;
    const lastLsn = ingest.lastIngestedLsn;
    console.log(`imported ${imported.relationForks} forks / ${imported.relationPages} pages at ${formatLsn(startLsn)}; ingested ${ingest.recordsIngested} records in ${seconds.toFixed(2)} s (${Math.round(ingest.recordsIngested / seconds)} records/s) up to ${formatLsn(lastLsn)}`);

    const mismatches: string[] = [];
    const fsmWithoutWal: string[] = [];
    for (const fork of expected) {
      const ours = await getRelSize(store, fork.tag, lastLsn);
      if (ours === fork.blocks) continue;
      const line = `${fork.name} ${formatRelTag(fork.tag)}: primary ${fork.blocks}, ours ${ours}`;
      // Stock PostgreSQL can create and extend an FSM without any WAL (e.g. RelationAddExtraBlocks
      // under insert contention records free space in a new FSM); no WAL consumer can see those
      // pages, a PostgreSQL standby included. Such forks may only be smaller (or absent) here.
      if (fork.tag.forkNumber === 1 && (ours ?? 0) < fork.blocks) fsmWithoutWal.push(line);
      else mismatches.push(line);
    }
    const fsmCount = expected.filter((fork) => fork.tag.forkNumber === 1).length;
    if (fsmWithoutWal.length > 0) console.log(`FSM forks extended without WAL on the primary (not an error):\n  ${fsmWithoutWal.join('\n  ')}`);
    assert.ok(fsmWithoutWal.length * 20 <= fsmCount, `too many FSM forks differ (${fsmWithoutWal.length} of ${fsmCount})`);
    // The other direction: no fork we list is missing on the primary (logged relations only).
    const expectedKeys = new Set(expected.map((fork) => formatRelTag(fork.tag)));
    let ourForks = 0;
    const extra: string[] = [];
    for (const database of await listDatabases(store, lastLsn)) {
      if (database.dbNode === 0 && database.spcNode !== 1664) continue;
      for (const tag of await listRelations(store, database.spcNode, database.dbNode, lastLsn)) {
        ourForks += 1;
        if (!expectedKeys.has(formatRelTag(tag)) && tag.dbNode !== TEMPLATE0_OID) extra.push(formatRelTag(tag));
      }
    }
    console.log(`compared ${expected.length} primary forks in ${databases.length} databases; ${ourForks} forks listed by Strata; ${mismatches.length} size mismatches, ${fsmWithoutWal.length} FSM forks without WAL, ${extra.length} extra forks`);
    assert.equal(mismatches, [], 'relation sizes differ');
    assert.equal(extra, [], 'forks that do not exist on the primary');

    assert.is(await getRelSize(store, droppedRel.tag, lastLsn), undefined, 'dropped table is gone');
    assert.is(await getRelSize(store, droppedRel.tag, beforeDropLsn), droppedRel.blocks, 'dropped table has its size before the drop');
    const databasesAtEnd = (await listDatabases(store, lastLsn)).map((entry) => entry.dbNode);
    assert.not.ok(databasesAtEnd.includes(droppedDbOid), 'dropped database is gone');
    assert.ok((await listDatabases(store, beforeDropLsn)).some((entry) => entry.dbNode === droppedDbOid), 'dropped database exists before the drop');
    for (const fork of droppedDbForks.filter((candidate) => candidate.tag.dbNode !== 0)) {
      assert.is(await getRelSize(store, fork.tag, lastLsn), undefined, `${fork.name} of the dropped database is gone`);
      assert.is(await getRelSize(store, fork.tag, beforeDropLsn), fork.blocks, `${fork.name} of the dropped database before the drop`);
    }
    // The tar backup, imported at its own start LSN and ingested from there, ends in the same state.
    const tarPath = join(tarDirectory, 'base.tar');
    const tarStartLsn = parseLsn(/START WAL LOCATION: (\S+)/.exec(await backupLabelFromTar(tarPath))![1]!);
    const tarStore = new MemoryStore();
    const tarSummary = await importBaseBackup(tarStore, oneArchive(tarPath), { lsn: tarStartLsn, logger: capture.logger });
    const tarIngest = await WalIngest.create(tarStore, { logger: capture.logger, consistentLsn: tarStartLsn, materializePage: materializerOf(tarStore) });
    for (const batch of batches) await tarIngest.ingestBatch(batch);
    const tarMismatches: string[] = [];
    for (const fork of expected) {
      const [fromTar, fromDirectory] = [await getRelSize(tarStore, fork.tag, lastLsn), await getRelSize(store, fork.tag, lastLsn)];
      if (fromTar !== fromDirectory) tarMismatches.push(`${fork.name} ${formatRelTag(fork.tag)}: tar ${fromTar}, directory ${fromDirectory}`);
    }
    console.log(`tar backup: ${tarSummary.relationForks} forks / ${tarSummary.relationPages} pages at ${formatLsn(tarStartLsn)}; ${tarMismatches.length} forks differ from the directory import`);
    assert.equal(tarMismatches, [], 'tar and directory imports disagree');
    console.log(`checked ${droppedDbForks.length} forks of the dropped database and the dropped table before and after the drop`);
    capture.assertClean();
  } catch (error) {
    console.error('ingest-relsize failed:', error);
    throw error;
  } finally {
    await cluster.destroy();
  }
});

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) yield chunk as Buffer;
}

async function* oneArchive(path: string) {
  yield { tablespaceOid: undefined, chunks: fileChunks(path) };
}

async function backupLabelFromTar(path: string): Promise<string> {
  let inLabel = false;
  let label = '';
  for await (const event of readTar(fileChunks(path))) {
    if (event.kind === 'entry') inLabel = event.entry.path === 'backup_label';
    else if (event.kind === 'data' && inLabel) label += Buffer.from(event.bytes).toString('utf8');
  }
  return label;
}

/** Dropped relations and subtransactions of every commit/abort, ours against pg_waldump's desc. */
async function compareXactWithWaldump(cluster: PostgresCluster, records: DecodedRecord[], startLsn: Lsn, endLsn: Lsn): Promise<number> {
  const dump = await cluster.waldump(formatLsn(startLsn), formatLsn(endLsn));
  const theirs = new Map<number, { rels: string[]; subxacts: string[] }>();
  for (const line of dump.split('\n')) {
    const match = /^rmgr: Transaction .*lsn: (\S+), prev \S+, desc: (COMMIT|ABORT|COMMIT_PREPARED|ABORT_PREPARED) (.*)$/.exec(line);
    if (!match) continue;
    const rels = /; rels:((?: [^;\s]+)+)/.exec(match[3]!)?.[1]?.trim().split(' ') ?? [];
    const subxacts = /; subxacts:((?: \d+)+)/.exec(match[3]!)?.[1]?.trim().split(' ') ?? [];
    theirs.set(parseLsn(match[1]!), { rels, subxacts });
  }
  let count = 0;
  for (const record of records) {
    if (record.rmgrId !== RmgrId.Transaction) continue;
    const decoded = decodeXactRecord(record);
    if (decoded.type === 'prepare' || decoded.type === 'assignment' || decoded.type === 'invalidations') continue;
    const expected = theirs.get(record.lsn);
    assert.ok(expected, `pg_waldump has no ${decoded.type} at ${formatLsn(record.lsn)}`);
    const path = (rel: { spcNode: number; dbNode: number; relNode: number }) =>
      rel.spcNode === 1664 ? `global/${rel.relNode}` : rel.spcNode === 1663 ? `base/${rel.dbNode}/${rel.relNode}` : `pg_tblspc/${rel.spcNode}/`;
    assert.equal(decoded.droppedRels.map(path), expected.rels.map((rel) => (rel.startsWith('pg_tblspc/') ? rel.split('/').slice(0, 2).join('/') + '/' : rel)), `rels at ${formatLsn(record.lsn)}`);
    assert.equal(decoded.subxacts.map(String), expected.subxacts, `subxacts at ${formatLsn(record.lsn)}`);
    count += 1;
  }
  assert.is(count, theirs.size, 'every commit/abort pg_waldump shows was decoded');
  return count;
}

/** template0 cannot be queried (datallowconn = false); PostgreSQL 15's initdb gives it oid 4. */
const TEMPLATE0_OID = 4;

test.run();
