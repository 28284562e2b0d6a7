/**
 * Crash recovery under load: the Strata server runs as a real process (`bin/strata start`) and is
 * killed with SIGKILL again and again while a PostgreSQL 15 primary runs pgbench, then restarted
 * on the same workdir each time. At the end, every page must equal the primary's.
 *
 * WHY SIGKILL of a separate process: only then does nothing of Strata's own run after the crash
 * point (no exit handler, no final flush, no closing of files), so the workdir holds exactly what a
 * crash at that moment leaves. Two kinds of kill:
 *  - at each crash-relevant failpoint (failpoint-names.ts), with the `exit` action, which SIGKILLs
 *    the process from the thread that reaches that step (the layer flush thread for the delta
 *    layer steps): the attach steps (slot created, an image layer file before its rename, between
 *    two files, all written but none published, its first metadata write) and the flush steps (before the flush, mid delta write, before the
 *    rename, before the directory fsync, between the durable layer and the metadata write, before
 *    and after the metadata rename, before ingest), and compaction's (marker written, outputs
 *    durable before the layer map swap, inputs part-deleted, an image layer about to be written;
 *    the server compacts every second at 3 L0 files). The one stderr line the action writes proves
 *    which step the process died at. GC's deletion step is not killed here (a GC that removes
 *    anything raises the cutoff above the historic captures this test reads); the seeded crash
 *    simulation covers it;
 *  - at random moments (seeded: STRATA_CRASH_SEED, printed), SIGKILL from outside; the last one
 *    while the broad SQL workload runs (CREATE DATABASE, 2PC, multixacts, every index kind);
 *  - once while a flush is held (`pause`) before its metadata rename on an idle primary after a
 *    WAL switch: the flush wrote no layer file, so only the metadata proves its LSN (this found
 *    the bug fixed in timeline-actor.ts: the slot was allowed past that LSN, and the restarted
 *    timeline could never catch up once the primary removed the WAL; the timeline now raises the
 *    value only after its metadata is written).
 * 28 kills in all, about two to three minutes on an idle 2-core machine.
 *
 * After each kill, while Strata is down, the primary checkpoints (so it removes WAL no slot
 * needs), and after the restart:
 *  - a crash during an attach leaves no timeline (no half-created directory, nothing Broken);
 *  - the timeline comes back Active, never Broken;
 *  - it resumes at or after the disk_consistent_lsn it reported before the kill (what it made
 *    durable is never lost) and at or after the slot's restart_lsn (the primary still has the WAL
 *    from there; the walreceiver refuses a gap in the stream);
 *  - last_record_lsn advances past the primary's insert LSN at the kill.
 * During the run, pages are captured on the primary with pageinspect at known LSNs. At the end
 * (pgbench stopped, CHECKPOINT, clean shutdown, Strata caught up to the shutdown checkpoint) the
 * page oracle of redo-pages.test.ts (test/helpers/page-oracle.ts) compares every page of every
 * WAL-logged relation fork with the primary (masked, pd_lsn unmasked) and a stock standby (byte for
 * byte), every CLOG/multixact segment, and every captured page at its LSN, and prints its counts.
 * A recovery that lost a range of WAL or a layer shows up there, or as a resume point below what
 * was durable, or as a Broken timeline.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { test } from 'uvu';
import { seededRandom } from '../helpers/seeded-random.js';
import * as assert from 'uvu/assert';
import type { TimelineInfo } from '../../src/http/management-api.js';
import { formatLsn, parseLsn } from '../../src/lsn.js';
import { RmgrId } from '../../src/wal/types.js';
import {
  comparePage, compareRelationPages, compareSlruSegments, newComparison, pageLsnOf, printComparison, relationFiles, stopAfterReplaying,
  type PageRequest,
} from '../helpers/page-oracle.js';
import { PostgresCluster, freePort, runPg, spawnPg } from '../helpers/postgres.js';
import { STRATA_BIN, StrataProcess, type ServerLogLine, type ServerRun } from '../helpers/strata-process.js';

/**
 * The attach steps: each kill leaves a half-created timeline and a slot behind. The base backup
 * streams into image layer files (temp names, published together at the end: image-import.ts),
 * then the first metadata is written.
 */
const ATTACH_FAILPOINTS = [
  'attach-before-base-backup', 'image-layer-before-rename', 'import-between-image-layers', 'import-before-publish', 'metadata-before-rename',
] as const;
/** The steps of a flush of the open layer (and ingest), reached while streaming. */
const STREAMING_FAILPOINTS = [
  'timeline-flush', 'delta-layer-mid-write', 'delta-layer-before-rename', 'delta-layer-before-directory-fsync', 'timeline-flush-before-metadata',
  'metadata-before-rename', 'metadata-before-directory-fsync', 'walreceiver-before-ingest',
  // Compaction runs every second at 3 L0 files (the server's -c below) and writes image layers of
  // key ranges with 2 deltas above their image: its steps are reached while streaming too.
  'compaction-before-write', 'compaction-after-write-before-swap', 'compaction-mid-delete', 'image-creation-before-write',
] as const;
const RANDOM_KILLS = 10;
/** A random kill lands this long after the server answered, at most (a flush is ~1 s apart). */
const RANDOM_DELAY_MS_MAX = 2_500;
/** pgbench rate: enough WAL for a flush about every second at checkpoint_distance = 1 MiB. */
const PGBENCH_TPS = 250;
const FAILPOINT_EXIT_TIMEOUT_MS = 20_000;
const ACTIVE_TIMEOUT_MS = 30_000;
const CATCH_UP_TIMEOUT_MS = 90_000;
const SEED = Number(process.env.STRATA_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** WARN lines a crash test provokes on purpose (matched on msg). */
const ALLOWED_WARNINGS = [
  /replication connection lost/,
  /removing half-created timeline directory left by an interrupted create/,
];

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

function httpRequest(url: string): PageRequest {
  return async (method, path) => {
    const response = await fetch(url + path, { method });
    const type = response.headers.get('content-type') ?? '';
    const body = type.includes('json') ? await response.json() : type.includes('octet-stream') ? new Uint8Array(await response.arrayBuffer()) : await response.text();
    return { status: response.status, body };
  };
}

async function requestJson<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(url + path, {
    method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [STRATA_BIN, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`strata ${args.join(' ')}: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

interface Capture { rel: string; block: number; lsn: string; page: Uint8Array; label: string; rmgr: number }

/**
 * A page of the primary and an LSN at which Strata must return it: the insert LSN read just before
 * get_raw_page, or the page's own pd_lsn when a record changed it after that read (pgbench keeps
 * writing). Every WAL-logged change of a page is in the WAL before the change is visible and sets
 * pd_lsn, so the page equals its version at max(insert LSN before, pd_lsn).
 */
async function capturePage(cluster: PostgresCluster, relation: string, block: number, rmgr: number): Promise<Capture> {
  // One psql call, statements in order: the relation's SPC/DB/REL, the insert LSN, then the page.
  const [rel, before, hex] = (await cluster.sql(`
    SELECT (SELECT dattablespace FROM pg_database WHERE datname = current_database()) || '/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || pg_relation_filenode('${relation}');
    SELECT pg_current_wal_insert_lsn();
    SELECT encode(get_raw_page('${relation}', ${block}), 'hex')`)).split('\n');
  assert.ok(rel !== undefined && before !== undefined && hex !== undefined && hex.length === 16_384, `captured ${relation} blk ${block}`);
  const page = new Uint8Array(Buffer.from(hex, 'hex'));
  const lsn = formatLsn(Math.max(parseLsn(before), parseLsn(pageLsnOf(page))));
  return { rel, block, lsn, page, label: `${relation} blk ${block} @ ${lsn}`, rmgr };
}

interface Run {
  cluster: PostgresCluster;
  server: StrataProcess;
  workdir: string;
  url: string;
  tenant: string;
  timeline: string;
  random: () => number;
  kills: Array<{ what: string; run: number; lsn: string; resumedAt?: string; durableBefore?: string; slot?: string }>;
  captures: Capture[];
}

async function timelineInfo(run: Run): Promise<TimelineInfo> {
  return requestJson<TimelineInfo>(run.url, 'GET', `/v1/tenant/${run.tenant}/timeline/${run.timeline}`);
}

/** Starts the server on the workdir and waits until it answers. */
async function startServer(run: Run): Promise<ServerRun> {
  const started = run.server.start(run.workdir);
  await run.server.waitReady(run.url);
  return started;
}

/** Waits for the timeline to be Active; a Broken timeline fails the test at once. */
async function waitActive(run: Run): Promise<TimelineInfo> {
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const info = await timelineInfo(run);
      assert.ok(info.state !== 'Broken', `the timeline came back Broken after kill ${run.kills.length}: ${info.broken_reason}`);
      if (info.state === 'Active') return info;
      last = info.state;
    } catch (error) {
      if (error instanceof assert.Assertion) throw error;
      last = String(error);
    }
    await sleep(50);
  }
  throw new Error(`the timeline was not Active ${ACTIVE_TIMEOUT_MS} ms after restart ${run.kills.length}: ${last}`);
}

async function waitLogLine(started: ServerRun, message: string, timeoutMs: number): Promise<ServerLogLine> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = started.lines.find((candidate) => candidate.msg === message);
    if (line !== undefined) return line;
    await sleep(50);
  }
  throw new Error(`no '${message}' line within ${timeoutMs} ms of run ${started.index}`);
}

/**
 * Sets `name=1*exit` and waits for the process to die there; checks the stderr line names it.
 * Returns the id of the thread that reached it (the flush thread for the delta layer steps).
 */
async function killAtFailpoint(run: Run, name: string, trigger: () => Promise<unknown>): Promise<number> {
  const dying = run.server.current;
  assert.ok(dying !== undefined, 'a server runs');
  // The reply may be lost when the failpoint is reached before it is written (ingest is fast).
  await requestJson(run.url, 'PUT', '/v1/failpoints', [{ name, actions: '1*exit' }]).catch(() => undefined);
  const triggered = trigger().catch((error: unknown) => error);
  const exit = await run.server.waitExit(FAILPOINT_EXIT_TIMEOUT_MS);
  if (exit === undefined) {
    // Not reached: say why (a Broken timeline stops flushing and ingesting).
    const state = run.timeline === '' ? 'no timeline yet' : JSON.stringify(await timelineInfo(run).catch((error: unknown) => String(error)));
    throw new Error(`the server did not die at failpoint ${name} within ${FAILPOINT_EXIT_TIMEOUT_MS} ms; timeline: ${state}`);
  }
  assert.is(exit.signal, 'SIGKILL', `killed by the exit action at ${name}: ${JSON.stringify(exit)} ${dying.stderr}`);
  const line = new RegExp(`^strata: failpoint '${name}' exit: killing process ${dying.pid} \\(thread (\\d+)\\)`, 'm').exec(dying.stderr);
  assert.ok(line !== null, `died at ${name}: ${dying.stderr}`);
  await triggered;
  return Number(line[1]);
}

/** After a kill: checkpoint the primary (it drops WAL no slot needs), note the slot, restart, check. */
async function restartAndCheck(run: Run, what: string, durableBefore: string): Promise<void> {
  const [killLsn, slot] = (await run.cluster.sql(`SELECT pg_current_wal_insert_lsn(); CHECKPOINT;
    SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'strata_${run.timeline}'`)).split('\n') as [string, string];
  const started = await startServer(run);
  await waitActive(run);
  const resumed = await waitLogLine(started, 'starting replication', ACTIVE_TIMEOUT_MS);
  const resumeLsn = String(resumed.last_record_lsn);
  // No gap: the stream starts at the WAL page holding the resume point (records before it skipped).
  assert.ok(parseLsn(String(resumed.start_lsn)) <= parseLsn(resumeLsn), `${what}: streaming starts at ${resumed.start_lsn}, after the resume point ${resumeLsn}`);
  run.kills.push({ what, run: started.index - 1, lsn: killLsn, resumedAt: resumeLsn, durableBefore, slot });
  assert.ok(parseLsn(resumeLsn) >= parseLsn(durableBefore), `${what}: resumed at ${resumeLsn}, below the disk_consistent_lsn ${durableBefore} reported before the kill`);
  assert.ok(parseLsn(resumeLsn) >= parseLsn(slot), `${what}: resumed at ${resumeLsn}, below the slot's restart_lsn ${slot}`);
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  for (;;) {
    const info = await timelineInfo(run);
    assert.is(info.state, 'Active', `${what}: ${info.broken_reason ?? ''}`);
    if (parseLsn(info.last_record_lsn) >= parseLsn(killLsn)) break;
    assert.ok(Date.now() < deadline, `${what}: last_record_lsn ${info.last_record_lsn} did not pass the kill point ${killLsn}`);
    await sleep(100);
  }
}

async function durableLsn(run: Run): Promise<string> {
  return (await timelineInfo(run)).disk_consistent_lsn;
}

/** Phase 1: kills during attaches; each leaves no timeline after the restart. */
async function crashAttaches(run: Run): Promise<number> {
  let leakedSlots = 0;
  for (const name of ATTACH_FAILPOINTS) {
    const attempt = Math.floor(run.random() * 2 ** 48).toString(16).padStart(12, '0').repeat(3).slice(0, 32);
    const thread = await killAtFailpoint(run, name, () => requestJson(run.url, 'POST', `/v1/tenant/${run.tenant}/timeline`, {
      new_timeline_id: attempt, from_primary: run.cluster.connectionString(),
    }));
    const killLsn = await run.cluster.sql('SELECT pg_current_wal_insert_lsn()');
    run.kills.push({ what: `attach at ${name} (thread ${thread})`, run: run.server.runs.length - 1, lsn: killLsn });
    const started = await startServer(run);
    const timelines = await requestJson<TimelineInfo[]>(run.url, 'GET', `/v1/tenant/${run.tenant}/timeline`);
    assert.equal(timelines, [], `after a crash at ${name} no timeline exists`);
    const left = await readdir(join(run.workdir, 'tenants', run.tenant, 'timelines')).catch(() => [] as string[]);
    assert.equal(left, [], `${name}: the half-created directory is removed`);
    assert.ok(started.lines.some((line) => /removing half-created timeline directory/.test(line.msg)), `${name}: the removal is logged`);
    // The slot of an attach that crashed stays on the primary: the restart cannot drop it (its
    // connection string was only in the request). Counted and dropped here.
    leakedSlots += Number(await run.cluster.sql(`SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = 'strata_${attempt}'`));
  }
  return leakedSlots;
}

/** The streaming kills, failpoints and random ones in a seeded order. */
function schedule(random: () => number): Array<{ failpoint: string } | { delayMs: number }> {
  const kills: Array<{ failpoint: string } | { delayMs: number }> = [
    ...STREAMING_FAILPOINTS.map((failpoint) => ({ failpoint })),
    ...Array.from({ length: RANDOM_KILLS - 1 }, () => ({ delayMs: Math.floor(random() * RANDOM_DELAY_MS_MAX) })),
  ];
  for (let index = kills.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [kills[index], kills[other]] = [kills[other]!, kills[index]!];
  }
  return kills;
}

async function captureSome(run: Run): Promise<void> {
  const [accounts, index] = (await run.cluster.sql("SELECT pg_relation_size('pgbench_accounts') / 8192, pg_relation_size('pgbench_accounts_pkey') / 8192"))
    .split('|').map(Number) as [number, number];
  run.captures.push(await capturePage(run.cluster, 'pgbench_accounts', Math.floor(run.random() * accounts), RmgrId.Heap));
  run.captures.push(await capturePage(run.cluster, 'pgbench_accounts_pkey', 1 + Math.floor(run.random() * (index - 1)), RmgrId.Btree));
  run.captures.push(await capturePage(run.cluster, run.random() < 0.5 ? 'pgbench_branches' : 'pgbench_tellers', 0, RmgrId.Heap));
}

/** Phase 2: pgbench runs throughout; kills at failpoints and at random moments. */
async function crashWhileStreaming(run: Run): Promise<void> {
  const pgbench = spawnPg('pgbench', ['-h', '127.0.0.1', '-p', String(run.cluster.port), '-U', 'postgres', '-c', '2', '-j', '2', '-n',
    '-T', '900', '-R', String(PGBENCH_TPS), 'postgres']);
  const finished = new Promise<number | null>((resolve) => pgbench.once('close', (code) => resolve(code)));
  try {
    const kills = schedule(run.random);
    console.log(`streaming kills (seed ${SEED}): ${kills.map((kill) => ('failpoint' in kill ? kill.failpoint : `random ${kill.delayMs} ms`)).join(', ')}`);
    for (const kill of kills) {
      await captureSome(run);
      const durableBefore = await durableLsn(run);
      if ('failpoint' in kill) {
        const thread = await killAtFailpoint(run, kill.failpoint, async () => undefined);
        await restartAndCheck(run, `failpoint ${kill.failpoint} (thread ${thread})`, durableBefore);
      } else {
        await sleep(kill.delayMs);
        const durable = await durableLsn(run);
        await run.server.kill();
        await restartAndCheck(run, `random kill after ${kill.delayMs} ms`, durable);
      }
    }
  } finally {
    pgbench.kill('SIGTERM');
    await finished;
  }
}

/**
 * A kill while a flush is held (`pause`) before its metadata rename, on an idle primary right after
 * a WAL switch: the open layer holds nothing then (a switch record puts no value), so the flush
 * writes no layer file and only the metadata can prove its disk_consistent_lsn. Records that come
 * in while it is held are answered, and the walreceiver reports its flush position to the primary,
 * whose slot follows it. After the kill the resume point must still be at or above the slot.
 */
async function crashHeldBeforeMetadataWhileIdle(run: Run): Promise<void> {
  const idleLsn = parseLsn(await run.cluster.sql('SELECT pg_current_wal_insert_lsn()'));
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  while (parseLsn((await timelineInfo(run)).disk_consistent_lsn) < idleLsn) {
    assert.ok(Date.now() < deadline, 'Strata made the idle primary\'s WAL durable');
    await sleep(100);
  }
  await requestJson(run.url, 'PUT', '/v1/failpoints', [{ name: 'metadata-before-rename', actions: 'pause' }]);
  const durableBefore = await durableLsn(run);
  const switched = await run.cluster.sql('SELECT pg_switch_wal()');
  await sleep(2_000); // checkpoint_timeout (1 s) passes: the flush of the switch starts and is held.
  await run.cluster.sql('SELECT pg_current_xact_id()'); // one more record, answered while held
  await sleep(2_000); // the walreceiver's status interval (1 s) passes
  const slot = await run.cluster.sql(`SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'strata_${run.timeline}'`);
  console.log(`held before the metadata rename after a switch at ${switched}: durable before ${durableBefore}, slot now ${slot}`);
  await run.server.kill();
  await restartAndCheck(run, 'SIGKILL while a flush after a WAL switch is held before its metadata rename', durableBefore);
}

/** The last random kill lands while the broad SQL workload runs. */
async function crashDuringBroadWorkload(run: Run): Promise<void> {
  const text = await readFile(new URL('../../../test/fixtures/broad-workload.sql', import.meta.url), 'utf8');
  const workload = run.cluster.script(`\\set bw_keep 1\n\\set bw_scale 1\n${text}`);
  const delayMs = Math.floor(run.random() * RANDOM_DELAY_MS_MAX);
  await sleep(delayMs);
  const durable = await durableLsn(run);
  await run.server.kill();
  const startedMs = Date.now();
  await workload;
  console.log(`broad workload finished ${Date.now() - startedMs} ms after the kill`);
  await restartAndCheck(run, `random kill during the broad workload after ${delayMs} ms`, durable);
}

async function compareAtShutdown(run: Run, standby: PostgresCluster): Promise<void> {
  const { cluster } = run;
  const files = await relationFiles(cluster);
  await cluster.sql('CHECKPOINT');
  await cluster.stop('fast');
  const control = (await runPg('pg_controldata', ['-D', cluster.dataDirectory])).stdout;
  const checkpoint = /Latest checkpoint location:\s+(\S+)/.exec(control)?.[1];
  assert.ok(checkpoint, 'pg_controldata names the shutdown checkpoint');
  await stopAfterReplaying(standby, checkpoint);
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  let info = await timelineInfo(run);
  while (parseLsn(info.last_record_lsn) <= parseLsn(checkpoint)) {
    assert.ok(Date.now() < deadline, `Strata did not ingest the shutdown checkpoint ${checkpoint}: ${info.last_record_lsn}`);
    await sleep(100);
    info = await timelineInfo(run);
  }
  assert.is(info.state, 'Active');
  const at = info.last_record_lsn;
  const request = httpRequest(run.url);
  const base = `/v1/tenant/${run.tenant}/timeline/${run.timeline}`;
  const result = await compareRelationPages({ files, primaryDirectory: cluster.dataDirectory, standbyDirectory: standby.dataDirectory, request, base, lsn: at });
  const historic = newComparison();
  for (const captured of run.captures) {
    await comparePage(request, base, { rel: captured.rel, fork: 'main', block: captured.block, lsn: captured.lsn, rmgr: captured.rmgr, expected: captured.page, label: captured.label }, historic);
  }
  const slru = await compareSlruSegments(cluster.dataDirectory, request, base, at);
  printComparison(result, files.length, at);
  console.log(`SLRU segments compared: ${slru.compared}; mismatches ${slru.mismatches.length}`);
  console.log(`historic pages: compared ${historic.compared} of ${run.captures.length}; masked mismatches ${historic.mismatches.length}; pd_lsn mismatches ${historic.lsnMismatches.length}`);
  for (const line of [...historic.mismatches, ...historic.lsnMismatches, ...historic.failures]) console.log(`  historic: ${line}`);
  assert.equal(result.failures.slice(0, 20), [], 'no page failed for an implemented rmgr');
  assert.equal(result.mismatches.slice(0, 20), [], 'every page equals the primary, masked');
  assert.equal(result.lsnMismatches.slice(0, 20), [], 'every page carries the primary\'s pd_lsn');
  assert.equal(result.beyondPostgresRedo.filter((line) => !/ vm blk \d+:/.test(line)), [], 'Strata differs from a standby only on VM pages');
  assert.equal(result.unmaskedDifferences.filter((line) => !/ vm blk \d+:/.test(line)), [], 'every other page equals the standby\'s byte for byte');
  assert.is(result.unmaskedDifferences.length, result.beyondPostgresRedo.length, 'the pages that differ from the standby are those VM pages');
  assert.ok(result.compared > 2000, `thousands of pages were compared: ${result.compared}`);
  assert.equal(slru.mismatches, [], 'CLOG and multixact segments equal the primary\'s files');
  assert.ok(slru.compared >= 1, 'at least pg_xact/0000 was compared');
  assert.equal(historic.failures, [], 'no historic read failed');
  assert.equal(historic.mismatches, [], 'historic pages equal their captures, masked');
  assert.equal(historic.lsnMismatches, [], 'historic pages carry their captures\' pd_lsn');
  assert.is(historic.compared, run.captures.length, 'every captured page was compared');
}

/** Every run's log: no unexpected WARN/ERROR, JSON only on stdout, stderr only the failpoint lines. */
function checkLogs(server: StrataProcess): void {
  const unexpected = server.lines.filter((line) => line.level >= 40 && !ALLOWED_WARNINGS.some((pattern) => pattern.test(line.msg)));
  assert.equal(unexpected.map((line) => JSON.stringify(line)).slice(0, 10), [], 'no unexpected WARN/ERROR lines');
  assert.equal(server.unparsed, [], 'every stdout line is JSON');
  for (const run of server.runs) {
    const stderr = run.stderr.split('\n').filter((line) => line !== '' && !/ExperimentalWarning|--trace-warnings/.test(line));
    assert.ok(stderr.every((line) => /^strata: failpoint '[a-z-]+' exit: killing process/.test(line)), `run ${run.index} stderr: ${run.stderr}`);
  }
  const cut = server.cutLines.length;
  console.log(`server runs: ${server.runs.length}; log lines ${server.lines.length}; lines cut by a kill: ${cut}`);
}

test('SIGKILL at every flush and attach step and at random moments under pgbench: Strata restarts Active, resumes without a gap, and every page equals the primary\'s', async () => {
  const startedMs = Date.now();
  console.log(`crash test seed ${SEED} (STRATA_CRASH_SEED=${SEED} replays the schedule)`);
  const cluster = await PostgresCluster.create({
    settings: { autovacuum: 'off', max_prepared_transactions: 4, wal_level: 'logical', track_commit_timestamp: 'on' },
  });
  let standby: PostgresCluster | undefined;
  const server = new StrataProcess();
  const workdir = join(await mkdtemp(join(tmpdir(), 'strata-crash-')), 'server');
  try {
    await cluster.sql('CREATE EXTENSION pageinspect');
    const port = await freePort();
    await cli(['init', '--workdir', workdir, '-c', `listen_http_addr=127.0.0.1:${port}`, '-c', `listen_pg_addr=127.0.0.1:${await freePort()}`,
      '-c', 'actor_threads=2', '-c', 'checkpoint_distance=1MiB', '-c', 'checkpoint_timeout=1s',
      '-c', 'compaction_threshold=3', '-c', 'compaction_period=1s', '-c', 'image_creation_threshold=2']);
    const run: Run = {
      cluster, server, workdir, url: `http://127.0.0.1:${port}`, tenant: '', timeline: '', random: seededRandom(SEED), kills: [], captures: [],
    };
    await startServer(run);
    run.tenant = (await requestJson<{ id: string }>(run.url, 'POST', '/v1/tenant', {})).id;
    const leakedSlots = await crashAttaches(run);

    // The standby and Strata start from base backups taken one right after the other, with no SQL
    // in between: a page neither changes afterwards is then the same in both (the primary sets hint
    // bits without WAL, and a base backup copies whatever it has set so far).
    standby = await PostgresCluster.createStandby(cluster, 'crash_standby');
    const created = await requestJson<TimelineInfo>(run.url, 'POST', `/v1/tenant/${run.tenant}/timeline`, { from_primary: cluster.connectionString() });
    run.timeline = created.timeline_id;
    console.log(`attach kills: ${ATTACH_FAILPOINTS.length} (slots left on the primary by them, dropped: ${leakedSlots}); timeline ${run.timeline} attached at ${created.last_record_lsn}`);
    await cluster.pgbench(['-i', '-s', '1', '-q']);
    const attachedMs = Date.now();

    await crashWhileStreaming(run);
    await crashHeldBeforeMetadataWhileIdle(run);
    await crashDuringBroadWorkload(run);
    await captureSome(run);
    const killedMs = Date.now();
    await compareAtShutdown(run, standby);
    console.log(`phases: setup and attach kills ${((attachedMs - startedMs) / 1000).toFixed(1)} s, streaming kills ${((killedMs - attachedMs) / 1000).toFixed(1)} s, shutdown and comparison ${((Date.now() - killedMs) / 1000).toFixed(1)} s`);

    const stopped = await server.terminate();
    assert.equal(stopped, { code: 0, signal: null }, 'the last run stops cleanly on SIGTERM');
    for (const kill of run.kills) {
      console.log(`  kill in run ${kill.run}: ${kill.what} at primary LSN ${kill.lsn}` +
        (kill.resumedAt === undefined ? '' : `; durable before ${kill.durableBefore}, slot ${kill.slot}, resumed at ${kill.resumedAt}`));
    }
    const layers = (await readdir(join(workdir, 'tenants', run.tenant, 'timelines', run.timeline))).filter((name) => name.includes('__')).length;
    console.log(`kills: ${run.kills.length}; historic pages captured: ${run.captures.length}; layer files: ${layers}; ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
    assert.ok(run.kills.length >= 20, `at least 20 kills: ${run.kills.length}`);
    checkLogs(server);
  } finally {
    await server.kill();
    await standby?.destroy();
    await cluster.destroy();
    await rm(join(workdir, '..'), { recursive: true, force: true });
  }
});

test.run();
