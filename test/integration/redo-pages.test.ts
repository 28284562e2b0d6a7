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
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLsn, parseLsn } from '../../src/lsn.js';
import type { TimelineInfo } from '../../src/http/management-api.js';
import { RmgrId } from '../../src/wal/types.js';
import { maskPage } from '../../src/walredo/masks.js';
import { PostgresCluster, runPg } from '../helpers/postgres.js';
import { IMPLEMENTED_REDO_RMGRS, unsupportedRmgrOf } from '../helpers/redo-coverage.js';
import { eventually, startTestServer, type TestServer } from '../helpers/strata-server.js';

const BLCKSZ = 8192;

interface RelationFile {
  database: string; spcNode: number; dbNode: number; relNode: number; path: string; rmgr: number; name: string;
  /** Forks WAL describes: main and vm of permanent relations, the init fork of unlogged ones. */
  forks: readonly ('main' | 'vm' | 'init')[];
}

/** The rmgr whose mask applies to a relation's main-fork pages, by access method / relkind. */
function rmgrOfRelation(am: string, relkind: string): number {
  if (relkind === 'S') return RmgrId.Sequence;
  switch (am) {
    case 'btree': return RmgrId.Btree;
    case 'hash': return RmgrId.Hash;
    case 'gin': return RmgrId.Gin;
    case 'gist': return RmgrId.Gist;
    case 'spgist': return RmgrId.SPGist;
    case 'brin': return RmgrId.BRIN;
    case 'bloom': return RmgrId.Generic;
    default: return RmgrId.Heap;
  }
}

async function relationFiles(cluster: PostgresCluster): Promise<RelationFile[]> {
  const databases = (await cluster.sql('SELECT datname FROM pg_database WHERE datallowconn ORDER BY oid')).split('\n');
  const files: RelationFile[] = [];
  const seen = new Set<string>();
  for (const database of databases) {
    const query = `
      SELECT CASE WHEN c.relisshared THEN 1664 WHEN c.reltablespace = 0 THEN (SELECT dattablespace FROM pg_database WHERE datname = current_database()) ELSE c.reltablespace END,
             CASE WHEN c.relisshared THEN 0 ELSE (SELECT oid FROM pg_database WHERE datname = current_database()) END,
             pg_relation_filenode(c.oid), pg_relation_filepath(c.oid), coalesce(a.amname, ''), c.relkind, c.relname, c.relpersistence
      FROM pg_class c LEFT JOIN pg_am a ON a.oid = c.relam
      WHERE pg_relation_filenode(c.oid) IS NOT NULL AND c.relpersistence IN ('p', 'u')`;
    for (const line of (await cluster.sql(query, database)).split('\n')) {
      const [spc, db, rel, path, am, relkind, name, persistence] = line.split('|');
      const key = `${spc}/${db}/${rel}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // An unlogged relation's main fork is not WAL-logged (reset from its init fork after a crash).
      const forks = persistence === 'u' ? ['init'] as const : ['main', 'vm'] as const;
      files.push({ database, spcNode: Number(spc), dbNode: Number(db), relNode: Number(rel), path: path!, rmgr: rmgrOfRelation(am!, relkind!), name: name!, forks });
    }
  }
  return files;
}

/** The pages of a relation fork's files (segments of 1 GB: `path`, `path.1`, …); empty when missing. */
async function readForkPages(dataDirectory: string, path: string): Promise<Uint8Array[]> {
  const pages: Uint8Array[] = [];
  for (let segment = 0; ; segment++) {
    const file = join(dataDirectory, segment === 0 ? path : `${path}.${segment}`);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      return pages;
    }
    for (let offset = 0; offset + BLCKSZ <= bytes.length; offset += BLCKSZ) pages.push(new Uint8Array(bytes.subarray(offset, offset + BLCKSZ)));
    if (bytes.length < 1024 * 1024 * 1024) return pages;
  }
}

function firstDifference(left: Uint8Array, right: Uint8Array): number {
  for (let index = 0; index < left.length; index++) if (left[index] !== right[index]) return index;
  return -1;
}

interface Comparison {
  compared: number;
  /** Pages whose bytes differ after both are masked as wal_consistency_checking masks them. */
  mismatches: string[];
  /** Pages whose pd_lsn (never masked here) differs. */
  lsnMismatches: string[];
  byFork: Map<string, number>;
  /**
   * Pages where Strata differs from the primary exactly as PostgreSQL's own redo (the standby)
   * does: changes the primary makes without WAL, which no WAL consumer can see.
   */
  asPostgresRedo: string[];
  /** Pages where Strata equals the primary but the standby does not (VM bits lost by WAL_LOG copies). */
  beyondPostgresRedo: string[];
  /** Pages compared with the standby byte for byte, nothing masked, and those that differ. */
  unmaskedCompared: number;
  unmaskedDifferences: string[];
  unsupported: Map<string, number>;
  failures: string[];
  unloggedVmPages: number;
}

function newComparison(): Comparison {
  return {
    compared: 0, mismatches: [], lsnMismatches: [], byFork: new Map(), asPostgresRedo: [], beyondPostgresRedo: [], unmaskedCompared: 0,
    unmaskedDifferences: [], unsupported: new Map(), failures: [], unloggedVmPages: 0,
  };
}

/** How `ours` differs from `theirs`: masked as wal_consistency_checking masks, and in pd_lsn (never masked). */
function differences(ours: Uint8Array, theirs: Uint8Array, rmgr: number, block: number): { lsn: string | undefined; masked: string | undefined } {
  const lsn = pageLsnOf(ours) === pageLsnOf(theirs) ? undefined : `pd_lsn ${pageLsnOf(ours)} vs ${pageLsnOf(theirs)}`;
  const left = ours.slice();
  const right = theirs.slice();
  maskPage(rmgr, left, block);
  maskPage(rmgr, right, block);
  const at = firstDifference(left, right);
  return { lsn, masked: at < 0 ? undefined : `first difference at byte ${at}: ${left[at]} vs ${right[at]}` };
}

function pageLsnOf(page: Uint8Array): string {
  const view = new DataView(page.buffer, page.byteOffset, 8);
  return `${view.getUint32(0, true).toString(16).toUpperCase()}/${view.getUint32(4, true).toString(16).toUpperCase()}`;
}

interface PageSpec {
  rel: string; fork: string; block: number; lsn: string; rmgr: number; label: string;
  /** The primary's page. */
  expected: Uint8Array;
  /** PostgreSQL's own redo of the same WAL: the standby's page (undefined: not compared with one). */
  standby?: Uint8Array | undefined;
}

async function comparePage(server: TestServer, base: string, spec: PageSpec, into: Comparison): Promise<void> {
  const response = await server.request('GET', `${base}/getpage?rel=${spec.rel}&fork=${spec.fork}&blk=${spec.block}&lsn=${spec.lsn}`);
  if (response.status === 501) {
    const message = String((response.body as { msg?: string; message?: string }).msg ?? (response.body as { message?: string }).message ?? JSON.stringify(response.body));
    const rmgr = unsupportedRmgrOf(message) ?? 'unknown';
    into.unsupported.set(rmgr, (into.unsupported.get(rmgr) ?? 0) + 1);
    if (IMPLEMENTED_REDO_RMGRS.has(rmgr)) into.failures.push(`${spec.label}: 501 for implemented ${rmgr}: ${message}`);
    return;
  }
  if (response.status === 404 && spec.fork === 'vm' && spec.expected.subarray(24).every((byte) => byte === 0)) {
    // PostgreSQL extends the visibility map without WAL (VACUUM pins VM pages before it knows
    // whether it will set a bit): a VM page no record ever touched has no bits set, which is what
    // a missing VM page means too. Counted, not compared.
    into.unloggedVmPages += 1;
    return;
  }
  if (response.status !== 200) {
    into.failures.push(`${spec.label}: HTTP ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
    return;
  }
  const ours = new Uint8Array(response.body as Uint8Array);
  into.compared += 1;
  into.byFork.set(spec.fork, (into.byFork.get(spec.fork) ?? 0) + 1);
  const maskRmgr = spec.fork === 'main' || spec.fork === 'init' ? spec.rmgr : RmgrId.Xlog;
  const primary = differences(ours, spec.expected, maskRmgr, spec.block);
  const standby = spec.standby === undefined ? undefined : differences(ours, spec.standby, maskRmgr, spec.block);
  if (spec.standby !== undefined) {
    // PostgreSQL's own redo, byte for byte: nothing masked (the standby ran no queries, so it set
    // no hint bits of its own).
    into.unmaskedCompared += 1;
    const at = firstDifference(ours, spec.standby);
    if (at >= 0) into.unmaskedDifferences.push(`${spec.label}: byte ${at}: strata ${ours[at]} standby ${spec.standby[at]}`);
  }
  if (primary.lsn === undefined && primary.masked === undefined) {
    if (standby !== undefined && (standby.lsn !== undefined || standby.masked !== undefined)) {
      into.beyondPostgresRedo.push(`${spec.label}: PostgreSQL's redo differs from the primary (${standby.masked ?? standby.lsn}); Strata equals the primary`);
    }
    return;
  }
  if (standby !== undefined && standby.lsn === undefined && standby.masked === undefined) {
    // The primary changed this page without WAL (or wrote it outside shared buffers): PostgreSQL's
    // own redo ends where Strata does. Listed, not a mismatch.
    into.asPostgresRedo.push(`${spec.label}: ${primary.masked ?? primary.lsn} (strata vs primary), as PostgreSQL's redo`);
    return;
  }
  if (primary.lsn !== undefined) into.lsnMismatches.push(`${spec.label}: ${primary.lsn} (strata vs primary)`);
  if (primary.masked !== undefined) into.mismatches.push(`${spec.label}: ${primary.masked} (strata vs primary)`);
}

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

/**
 * Stops the standby once it has replayed the primary's shutdown checkpoint: its shutdown
 * restartpoint then writes every page, and its files are PostgreSQL's own redo of the WAL Strata
 * ingested. WHY not ask it over SQL: a session reads catalogs and sets hint bits on their pages,
 * and the standby's pages are compared byte for byte. So: stop it, read the checkpoint its
 * restartpoint recorded, and start it again (no session) while that is not the primary's last.
 */
async function stopAfterReplaying(standby: PostgresCluster, checkpoint: string): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await standby.stop('fast');
    const control = (await runPg('pg_controldata', ['-D', standby.dataDirectory])).stdout;
    if (/Latest checkpoint location:\s+(\S+)/.exec(control)?.[1] === checkpoint) return;
    await standby.start();
  }
  assert.unreachable(`the standby did not replay the primary's shutdown checkpoint ${checkpoint}`);
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

    const result = newComparison();
    for (const file of files) {
      for (const fork of file.forks) {
        const path = fork === 'main' ? file.path : `${file.path}_${fork}`;
        const pages = await readForkPages(cluster.dataDirectory, path);
        const redone = await readForkPages(standby.dataDirectory, path);
        for (let block = 0; block < pages.length; block++) {
          await comparePage(server, base, {
            rel: `${file.spcNode}/${file.dbNode}/${file.relNode}`, fork, block, lsn: at, rmgr: file.rmgr, expected: pages[block]!,
            standby: redone[block] ?? new Uint8Array(BLCKSZ), label: `${file.database}.${file.name} ${fork} blk ${block}`,
          }, result);
        }
      }
    }
    const historic = newComparison();
    for (const captured of captures) {
      await comparePage(server, base, { rel: captured.rel, fork: 'main', block: captured.block, lsn: captured.lsn, rmgr: captured.rmgr, expected: captured.page, label: captured.label }, historic);
    }
    // SLRU segments: pg_xact and pg_multixact files equal Strata's segments at the same LSN.
    const slruMismatches: string[] = [];
    let slruSegments = 0;
    for (const [kind, directory] of [['clog', 'pg_xact'], ['multixact_offsets', 'pg_multixact/offsets'], ['multixact_members', 'pg_multixact/members']] as const) {
      for (const name of (await readdir(join(cluster.dataDirectory, directory))).filter((file) => /^[0-9A-F]{4,}$/.test(file))) {
        const expected = new Uint8Array(await readFile(join(cluster.dataDirectory, directory, name)));
        const response = await server.request('GET', `${base}/slru?kind=${kind}&segment=${parseInt(name, 16)}&lsn=${at}`);
        slruSegments += 1;
        if (response.status !== 200) {
          slruMismatches.push(`${directory}/${name}: HTTP ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
          continue;
        }
        const ours = new Uint8Array(response.body as Uint8Array);
        const differs = firstDifference(ours, expected);
        if (ours.length !== expected.length || differs >= 0) {
          slruMismatches.push(`${directory}/${name}: ${ours.length} vs ${expected.length} bytes, first difference at ${differs} (page ${Math.floor(differs / BLCKSZ)}): strata ${ours[differs]} primary ${expected[differs]}`);
        }
      }
    }
    console.log(`SLRU segments compared: ${slruSegments}; mismatches ${slruMismatches.length}`);
    assert.equal(slruMismatches, [], 'CLOG and multixact segments equal the primary\'s files');
    assert.ok(slruSegments >= 1, 'at least pg_xact/0000 was compared');
    const unsupported = [...result.unsupported].map(([rmgr, count]) => `${rmgr}=${count}`).join(' ') || 'none';
    const forks = [...result.byFork].map(([fork, count]) => `${fork} ${count}`).join(', ');
    console.log(`pages at ${at}: compared ${result.compared} (${forks}) of ${files.length} relations with the primary and with a standby's redo; masked mismatches ${result.mismatches.length}; pd_lsn mismatches ${result.lsnMismatches.length}; 501 by rmgr: ${unsupported}; VM pages extended without WAL (no bits set): ${result.unloggedVmPages}`);
    console.log(`  pages where the primary has changes no WAL carries and Strata equals PostgreSQL's own redo (the standby): ${result.asPostgresRedo.length}`);
    for (const line of result.asPostgresRedo) console.log(`    ${line}`);
    console.log(`  pages where Strata equals the primary and PostgreSQL's own redo does not: ${result.beyondPostgresRedo.length}`);
    for (const line of result.beyondPostgresRedo.slice(0, 3)) console.log(`    ${line}`);
    console.log(`  pages compared with the standby unmasked: ${result.unmaskedCompared}; differing: ${result.unmaskedDifferences.length}`);
    for (const line of result.unmaskedDifferences.slice(0, 40)) console.log(`    ${line}`);
    for (const line of result.mismatches.slice(0, 10)) console.log(`  mismatch: ${line}`);
    for (const line of result.lsnMismatches.slice(0, 10)) console.log(`  pd_lsn mismatch: ${line}`);
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
