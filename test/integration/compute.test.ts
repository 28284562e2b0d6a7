/**
 * Read-only computes end to end with real PostgreSQL 15 (issue 11 §3): a Strata server with a
 * test BackupService (pg_basebackup of a real primary) starts a compute over HTTP; the compute is a
 * hot standby (pg_is_in_recovery() = true) that answers queries and refuses writes; it is listed,
 * stopped (process gone, directory removed). A start on a taken port is Failed within seconds with
 * the PostgreSQL log tail in its status; max_computes is enforced with PS_ERR_LIMIT_REACHED (429).
 * A restarted compute manager adopts a live postmaster and cleans up a dead one.
 *
 * What this does NOT prove: that a backup holds the state at an LSN (the full-backup writer's).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ComputeManager, type ComputeInfo, type ComputeStartReply } from '../../src/compute/compute-manager.js';
import { silentLogger } from '../../src/observability/log.js';
import { postgresTimestampOf } from '../../src/timeline/commit-times.js';
import { BasebackupService } from '../helpers/basebackup-service.js';
import { PG_BIN, PostgresCluster, runPg } from '../helpers/postgres.js';
import { eventually, startTestServer } from '../helpers/strata-server.js';

const TENANT = 'a'.repeat(32);
const TIMELINE = 'b'.repeat(32);

/** A live process, not a zombie waiting for its (adopting) parent to reap it. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function psql(port: number, sql: string): Promise<string> {
  const result = await runPg('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql]);
  return result.stdout.trim();
}

async function psqlError(port: number, sql: string): Promise<string> {
  try {
    await psql(port, sql);
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error);
  }
  throw new Error(`expected '${sql}' to fail`);
}

let primary: PostgresCluster;

test.before(async () => {
  primary = await PostgresCluster.create({ settings: { max_connections: 30, max_prepared_transactions: 5 } });
  await primary.sql('CREATE TABLE items (id int PRIMARY KEY, label text)');
  await primary.sql("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g");
});

test.after(async () => {
  await primary.destroy();
});

test('a read-only compute: started from a full backup, queried, refuses writes, listed, stopped', async () => {
  const backup = new BasebackupService(primary);
  const server = await startTestServer({ backup, overrides: ['max_computes=1'] });
  try {
    const reply = await server.post<ComputeStartReply>('/v1/compute', { tenant_id: TENANT, timeline_id: TIMELINE, time: '2026-01-02T03:04:05.123456Z' });
    assert.equal(Object.keys(reply).sort(), ['compute_id', 'connstr', 'lsn', 'port', 'startup_ms', 'timeline_id']);
    assert.match(reply.compute_id, /^[0-9a-f]{32}$/);
    assert.is(reply.timeline_id, TIMELINE);
    assert.match(reply.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.is(reply.connstr, `postgresql://postgres@127.0.0.1:${reply.port}/postgres`);
    for (const phase of ['fullbackup', 'config', 'start', 'total'] as const) assert.ok(reply.startup_ms[phase] >= 0, phase);
    console.log(`compute startup_ms ${JSON.stringify(reply.startup_ms)}`);
    assert.ok(reply.startup_ms.total >= reply.startup_ms.fullbackup + reply.startup_ms.start, 'total covers the phases');
    // The time reached the backup service as PostgreSQL TimestampTz, to the microsecond.
    const asked = backup.calls.find((call) => call.kind === 'lsnForTimestamp');
    assert.is(asked?.kind === 'lsnForTimestamp' ? asked.timestampUs : undefined, postgresTimestampOf(Date.parse('2026-01-02T03:04:05.123Z')) + 456);

    assert.is(await psql(reply.port, 'SELECT pg_is_in_recovery()'), 't');
    assert.is(await psql(reply.port, 'SELECT count(*), max(label) FROM items'), '1000|item 999');
    assert.match(await psqlError(reply.port, "INSERT INTO items VALUES (1001, 'no')"), /read-only transaction/);
    assert.is(await psql(reply.port, 'SHOW max_prepared_transactions'), '5', 'hot-standby settings follow the primary');

    const list = await server.get<ComputeInfo[]>('/v1/compute');
    assert.is(list.length, 1);
    assert.is(list[0]!.state, 'Running');
    const status = await server.get<ComputeInfo>(`/v1/compute/${reply.compute_id}/status`);
    assert.is(status.state, 'Running');
    assert.ok(status.pid !== undefined && processAlive(status.pid));
    assert.is(status.lsn, reply.lsn);
    assert.ok(existsSync(join(status.data_dir, 'standby.signal')));

    // max_computes = 1: a second start is refused before anything is written.
    const refused = await server.request('POST', '/v1/compute', { tenant_id: TENANT, timeline_id: TIMELINE });
    assert.is(refused.status, 429);
    assert.is(refused.body.code, 'PS_ERR_LIMIT_REACHED');

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /strata_compute_startup_seconds_count\{phase="fullbackup"\} 1/);
    assert.match(metrics, /strata_computes_active 1/);

    const stopped = await server.post<ComputeInfo>(`/v1/compute/${reply.compute_id}/stop`, {});
    assert.is(stopped.state, 'Stopped');
    await eventually(async () => (processAlive(status.pid!) ? undefined : true), 5_000, 'the postmaster to be gone');
    assert.not.ok(existsSync(join(server.workdir, 'computes', reply.compute_id)), 'the compute directory is removed');
    assert.is((await server.get<ComputeInfo>(`/v1/compute/${reply.compute_id}/status`)).state, 'Stopped');
    server.logs.assertClean();
  } finally {
    await server.stop();
  }
});

test('a start on a taken port fails within seconds: Failed, with the PostgreSQL log tail in its status', async () => {
  const server = await startTestServer({ backup: new BasebackupService(primary), allowLogs: [/failed to start/] });
  try {
    const started = Date.now();
    const failed = await server.request('POST', '/v1/compute', { tenant_id: TENANT, timeline_id: TIMELINE, port: primary.port });
    assert.ok(Date.now() - started < 20_000, `failure known in ${Date.now() - started} ms`);
    assert.is(failed.status, 500);
    assert.is(failed.body.code, 'PS_ERR_COMPUTE_FAILED');
    const computeId = failed.body.compute_id as string;
    assert.match(computeId, /^[0-9a-f]{32}$/);
    const status = await server.get<ComputeInfo>(`/v1/compute/${computeId}/status`);
    assert.is(status.state, 'Failed');
    assert.match(status.reason ?? '', /^start failed/);
    assert.ok((status.log_tail ?? []).some((line) => /could not (bind|create any TCP\/IP sockets)|Address already in use/.test(line)), JSON.stringify(status.log_tail));
    // A failed compute does not count against max_computes; stop cleans its directory.
    assert.is((await server.post<ComputeInfo>(`/v1/compute/${computeId}/stop`, {})).state, 'Stopped');
    assert.not.ok(existsSync(join(server.workdir, 'computes', computeId)));
    server.logs.assertClean();
  } finally {
    await server.stop();
  }
});

test('coded refusals: a bad branch name is 400, a branch of an unknown tenant and an unknown timeline are 404 and leave nothing', async () => {
  const backup = new BasebackupService(primary);
  backup.unknownTimelines.add('c'.repeat(32));
  const server = await startTestServer({ backup });
  try {
    const badName = await server.request('POST', '/v1/compute', { tenant_id: TENANT, timeline_id: TIMELINE, branch: 'no spaces' });
    assert.is(badName.status, 400);
    const branch = await server.request('POST', '/v1/compute', { tenant_id: TENANT, timeline_id: TIMELINE, branch: 'dev' });
    assert.is(branch.status, 404, 'the branch needs a tenant Strata has');
    const unknown = await server.request('POST', '/v1/compute', { tenant_id: TENANT, timeline_id: 'c'.repeat(32) });
    assert.is(unknown.status, 404);
    assert.equal(await server.get('/v1/compute'), []);
    const both = await server.request('POST', '/v1/compute', { tenant_id: TENANT, timeline_id: TIMELINE, lsn: '0/1', time: '2026-01-01' });
    assert.is(both.status, 400);
    const missing = await server.request('GET', `/v1/compute/${'d'.repeat(32)}/status`);
    assert.is(missing.status, 404);
    server.logs.assertClean();
  } finally {
    await server.stop();
  }
});

test('after a crash: a live postmaster is adopted as Running, a dead one is cleaned up; a death is noticed', async () => {
  const workdir = await mkdtemp(join(tmpdir(), 'strata-compute-'));
  const manager = (livenessPeriodMs: number) => new ComputeManager({
    workdir, pgBinDirectory: PG_BIN, computesMax: 2, backup: new BasebackupService(primary), logger: silentLogger(), livenessPeriodMs,
  });
  let pid: number | undefined;
  try {
    const crashed = manager(0);
    await crashed.load();
    const reply = await crashed.startCompute({ tenantId: TENANT, timelineId: TIMELINE });
    pid = (await crashed.computeStatus(reply.compute_id)).pid;
    // `crashed` is dropped without close(): its postmaster keeps running, as after a crash.

    const restarted = manager(200);
    await restarted.load();
    const adopted = await restarted.computeStatus(reply.compute_id);
    assert.is(adopted.state, 'Running');
    assert.is(adopted.pid, pid);
    assert.is(await psql(reply.port, 'SELECT pg_is_in_recovery()'), 't');

    // The postmaster dies behind Strata's back: the liveness check marks the compute Failed.
    await runPg('pg_ctl', ['-D', adopted.data_dir, '-m', 'immediate', '-w', 'stop']);
    const failed = await eventually(async () => {
      const status = await restarted.computeStatus(reply.compute_id);
      return status.state === 'Failed' ? status : undefined;
    }, 5_000, 'the compute to be Failed');
    assert.match(failed.reason ?? '', /postmaster \(pid \d+\) exited/);
    await restarted.close();

    // A registry entry whose postmaster is not running is cleaned at load: Running → Stopped, directory gone.
    const second = manager(0);
    await second.load();
    const again = await second.startCompute({ tenantId: TENANT, timelineId: TIMELINE });
    const againStatus = await second.computeStatus(again.compute_id);
    await runPg('pg_ctl', ['-D', againStatus.data_dir, '-m', 'immediate', '-w', 'stop']);
    const third = manager(0);
    await third.load();
    const cleaned = await third.computeStatus(again.compute_id);
    assert.is(cleaned.state, 'Stopped');
    assert.not.ok(existsSync(join(workdir, 'computes', again.compute_id)));
    await third.close();
  } finally {
    if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGQUIT');
    await rm(workdir, { recursive: true, force: true });
  }
});

test.run();
