/**
 * Oracle 2 of WAL redo, page for page, against a real PostgreSQL 15 primary:
 *
 *  - every page of every WAL-logged relation fork on the primary (main and vm of permanent
 *    relations, init of unlogged ones; FSM is left out: PostgreSQL updates it without WAL, so no
 *    WAL consumer can reproduce it) equals Strata's GetPage at the LSN of the primary's shutdown
 *    checkpoint, after a CHECKPOINT and a clean shutdown: pd_lsn as it is (never masked), the
 *    rest with the access method's mask applied to both (src/walredo/masks.ts: hint bits, unused
 *    space and checksum, as wal_consistency_checking compares). Masked and pd_lsn mismatches are
 *    counted apart and must both be 0. VM pages that PostgreSQL extended without WAL and never set
 *    a bit in are counted apart (Strata has no such page: absent means the same, no bits set);
 *  - PostgreSQL's own redo decides the pages the primary changes without WAL: a stock standby
 *    streams the same WAL, replays to the shutdown checkpoint and stops cleanly. A page where
 *    Strata differs from the primary exactly as the standby does (a sequence's cached values,
 *    SP-GiST's metapage cache, pd_lsn 0 on init-fork pages written outside shared buffers) is
 *    listed, not a mismatch; a page where Strata equals the primary and the standby does not may
 *    only be a visibility-map page (the bits CREATE DATABASE WAL_LOG loses in its images, which
 *    Strata restores: src/ingest/vm-copy.ts), and such pages must exist. Against the standby
 *    nothing is masked at all: every page must equal its page byte for byte, but those VM pages;
 *  - CLOG and multixact: every segment file of pg_xact and pg_multixact equals Strata's segment
 *    (GET …/slru) at the same LSN, byte for byte;
 *  - historic reads: pages captured on the primary with pageinspect's get_raw_page at known LSNs
 *    during the run equal GetPage at those LSNs (pd_lsn too), including a page of a table dropped
 *    afterwards, and a page read at the start of the record that changes it, inside that record
 *    and at its end.
 *
 * Two runs: default settings (no data checksums, wal_log_hints off: Heap2 VISIBLE leaves heap page
 * LSNs alone) and wal_log_hints = on (VISIBLE stamps them; hint-bit changes log FPI_FOR_HINT) with
 * wal_compression = lz4 (images arrive compressed: ingest decodes them into the layer).
 *
 * Workload: pgbench (init + a short run) and the broad SQL workload (every index kind, TOAST,
 * VACUUM, TRUNCATE, CLUSTER, CREATE DATABASE from a vacuumed template with both strategies, 2PC,
 * subtransactions, sequences, multixacts, unlogged relations with an index of every kind), whose
 * tables and databases are kept (bw_keep) so that their pages are compared.
 * Pages whose redo needs a resource manager Strata does not implement yet answer 501; they are
 * counted per rmgr and allowed only for rmgrs outside IMPLEMENTED_REDO_RMGRS.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { formatLsn, parseLsn } from '../../src/lsn.js';
import type { TimelineInfo } from '../../src/http/management-api.js';
import { RmgrId } from '../../src/wal/types.js';
import {
  comparePage, compareRelationPages, compareSlruSegments, newComparison, pageLsnOf, printComparison, relationFiles, stopAfterReplaying,
} from '../helpers/page-oracle.js';
import { PostgresCluster, runPg } from '../helpers/postgres.js';
import { eventually, startTestServer, type TestServer } from '../helpers/strata-server.js';

/**
 * Record boundaries, item 2 of issue 9: a page read at exactly the start LSN of the record that
 * changes it, or at any LSN inside that record, is the page before it; read at the record's end
 * (EndRecPtr, which PostgreSQL stamps on it) it is the page after it.
 */
async function recordBoundaryCaptures(cluster: PostgresCluster): Promise<{ rel: string; block: number; lsn: string; page: Uint8Array; label: string; rmgr: number }[]> {
  await cluster.sql('CREATE TABLE lsn_probe (id integer, v integer); INSERT INTO lsn_probe VALUES (1, 0)');
  const rel = await cluster.sql("SELECT (SELECT dattablespace FROM pg_database WHERE datname = current_database()) || '/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || pg_relation_filenode('lsn_probe')");
  const pageNow = async () => new Uint8Array(Buffer.from(await cluster.sql("SELECT encode(get_raw_page('lsn_probe', 0), 'hex')"), 'hex'));
  const before = await pageNow();
  const from = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
  await cluster.sql('UPDATE lsn_probe SET v = 1');
  const after = await pageNow();
  const to = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
  const relNode = rel.split('/')[2];
  const dump = await cluster.waldump(from, to);
  const update = new RegExp(`lsn: (\\S+), prev \\S+, desc: (HOT_)?UPDATE .*rel ${rel.replace(/\//g, '\\/')} blk 0`).exec(dump);
  assert.ok(update, `pg_waldump shows the UPDATE of relation ${relNode} between ${from} and ${to}`);
  const start = parseLsn(update[1]!);
  const end = parseLsn(pageLsnOf(after));
  assert.ok(end > start, 'the updated page carries the record\'s end LSN');
  return [
    { rel, block: 0, lsn: formatLsn(start), page: before, label: `lsn_probe blk 0 at the UPDATE's start ${formatLsn(start)}`, rmgr: RmgrId.Heap },
    { rel, block: 0, lsn: formatLsn(end - 8), page: before, label: `lsn_probe blk 0 inside the UPDATE ${formatLsn(end - 8)}`, rmgr: RmgrId.Heap },
    { rel, block: 0, lsn: formatLsn(end), page: after, label: `lsn_probe blk 0 at the UPDATE's end ${formatLsn(end)}`, rmgr: RmgrId.Heap },
  ];
}

interface OracleRun {
  /** postgresql.conf lines beyond the defaults of these runs. */
  settings: Record<string, string | number>;
  /** The broad workload's row scale (bw_scale). */
  scale: number;
}

/**
 * The oracle over one primary. Default settings: XLogHintBitIsNeeded() is false, so VISIBLE leaves
 * heap page LSNs alone; with wal_log_hints = on it stamps them, and hint-bit changes after a
 * checkpoint log FPI_FOR_HINT records.
 */
async function runOracle(run: OracleRun): Promise<void> {
  const cluster = await PostgresCluster.create({
    settings: { autovacuum: 'off', max_prepared_transactions: 4, wal_level: 'logical', track_commit_timestamp: 'on', ...run.settings },
  });
  let server: TestServer | undefined;
  let standby: PostgresCluster | undefined;
  try {
    await cluster.sql('CREATE EXTENSION pageinspect');
    standby = await PostgresCluster.createStandby(cluster, 'oracle_standby');
    // 501s are logged as WARN; the test itself fails any 501 of an implemented rmgr.
    server = await startTestServer({ allowLogs: [/replication connection lost/, /actor failed; restarting/, /redo of \S+ records .* is not implemented/] });
    const tenant = await server.post<{ id: string }>('/v1/tenant', {});
    const created = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
    const base = `/v1/tenant/${tenant.id}/timeline/${created.timeline_id}`;

    await cluster.pgbench(['-i', '-s', '1', '-q']);
    const captures: { rel: string; block: number; lsn: string; page: Uint8Array; label: string; rmgr: number }[] = [];
    const capture = async (relation: string, block: number, rmgr: number) => {
      const [rel] = (await cluster.sql(`SELECT (SELECT dattablespace FROM pg_database WHERE datname = current_database()) || '/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || pg_relation_filenode('${relation}')`)).split('\n');
      const hex = await cluster.sql(`SELECT encode(get_raw_page('${relation}', ${block}), 'hex')`);
      const lsn = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
      captures.push({ rel: rel!, block, lsn, page: new Uint8Array(Buffer.from(hex, 'hex')), label: `${relation} blk ${block} @ ${lsn}`, rmgr });
    };
    await capture('pgbench_accounts', 1, RmgrId.Heap);
    await capture('pgbench_accounts_pkey', 1, RmgrId.Btree);
    await cluster.pgbench(['-c', '2', '-j', '2', '-T', '3', '-n']);
    await capture('pgbench_branches', 0, RmgrId.Heap);
    await capture('pgbench_accounts_pkey', 3, RmgrId.Btree);
    await cluster.sql("CREATE TABLE dropped_later AS SELECT g AS id, repeat('d', 50) AS pad FROM generate_series(1, 500) g");
    await capture('dropped_later', 0, RmgrId.Heap);
    await cluster.sql('DROP TABLE dropped_later');
    // bw_keep: the workload's tables and databases stay, so their pages are compared below.
    await cluster.script(`\\set bw_keep 1\n\\set bw_scale ${run.scale}\n${await readFile(new URL('../../../test/fixtures/broad-workload.sql', import.meta.url), 'utf8')}`);
    await capture('pgbench_tellers', 0, RmgrId.Heap);

    captures.push(...await recordBoundaryCaptures(cluster));

    const files = await relationFiles(cluster);
    await cluster.sql('CHECKPOINT');
    await cluster.stop('fast');
    const control = (await runPg('pg_controldata', ['-D', cluster.dataDirectory])).stdout;
    const checkpoint = /Latest checkpoint location:\s+(\S+)/.exec(control)?.[1];
    assert.ok(checkpoint, 'pg_controldata names the shutdown checkpoint');
    await stopAfterReplaying(standby, checkpoint);
    const info = await eventually(async () => {
      const current = await server!.get<TimelineInfo>(base);
      return parseLsn(current.last_record_lsn) > parseLsn(checkpoint) ? current : undefined;
    }, 60_000, `Strata to ingest the shutdown checkpoint at ${checkpoint}`);
    const at = info.last_record_lsn;

    const result = await compareRelationPages({
      files, primaryDirectory: cluster.dataDirectory, standbyDirectory: standby.dataDirectory, request: server.request, base, lsn: at,
    });
    const historic = newComparison();
    for (const captured of captures) {
      await comparePage(server.request, base, { rel: captured.rel, fork: 'main', block: captured.block, lsn: captured.lsn, rmgr: captured.rmgr, expected: captured.page, label: captured.label }, historic);
    }
    // SLRU segments: pg_xact and pg_multixact files equal Strata's segments at the same LSN.
    const slru = await compareSlruSegments(cluster.dataDirectory, server.request, base, at);
    console.log(`SLRU segments compared: ${slru.compared}; mismatches ${slru.mismatches.length}`);
    assert.equal(slru.mismatches, [], 'CLOG and multixact segments equal the primary\'s files');
    assert.ok(slru.compared >= 1, 'at least pg_xact/0000 was compared');
    printComparison(result, files.length, at);
    console.log(`historic pages: compared ${historic.compared} of ${captures.length}; masked mismatches ${historic.mismatches.length}; pd_lsn mismatches ${historic.lsnMismatches.length}`);
    for (const line of [...historic.mismatches, ...historic.lsnMismatches]) console.log(`  historic: ${line}`);
    assert.equal(result.failures.slice(0, 20), [], 'no page failed for an implemented rmgr');
    assert.equal(result.mismatches.slice(0, 20), [], 'every page equals the primary, masked');
    assert.equal(result.lsnMismatches.slice(0, 20), [], 'every page carries the primary\'s pd_lsn');
    assert.ok((result.byFork.get('init') ?? 0) >= 1 && (result.byFork.get('vm') ?? 0) >= 1, 'init and vm forks were compared too');
    // Strata departs from PostgreSQL's own redo only where that redo loses what the primary has:
    // the VM bits of pages copied by CREATE DATABASE ... WAL_LOG (ingest/vm-copy.ts).
    assert.equal(result.beyondPostgresRedo.filter((line) => !/ vm blk \d+:/.test(line)), [], 'Strata differs from a standby only on VM pages');
    assert.ok(result.beyondPostgresRedo.some((line) => line.startsWith('bw_database_wal_log.bw_frozen vm blk 0')), 'the vacuumed template\'s VM page, copied by WAL_LOG, has its bits');
    // Byte for byte, nothing masked, every page is PostgreSQL's own redo's but those VM pages.
    assert.equal(result.unmaskedDifferences.filter((line) => !/ vm blk \d+:/.test(line)), [], 'every other page equals the standby\'s byte for byte');
    assert.is(result.unmaskedDifferences.length, result.beyondPostgresRedo.length, 'the pages that differ from the standby are those VM pages');
    assert.equal(historic.failures, [], 'no historic read failed for an implemented rmgr');
    assert.equal(historic.mismatches, [], 'historic pages equal their captures, masked');
    assert.equal(historic.lsnMismatches, [], 'historic pages carry their captures\' pd_lsn');
    assert.ok(result.compared + [...result.unsupported.values()].reduce((sum, count) => sum + count, 0) > 1000, 'thousands of pages were read');
    server.logs.assertClean();
  } finally {
    await server?.stop();
    await standby?.destroy();
    await cluster.destroy();
  }
}

test('every page equals the primary after a clean shutdown, and historic pages equal their captures', async () => {
  await runOracle({ settings: {}, scale: 4 });
});

test('the same with wal_log_hints = on (VISIBLE stamps heap pages, FPI_FOR_HINT records) and lz4-compressed images', async () => {
  await runOracle({ settings: { wal_log_hints: 'on', wal_compression: 'lz4' }, scale: 1 });
});

test.run();
