/**
 * The compute manager without PostgreSQL: its refusals (no backup service, branches, lsn and time
 * together, max_computes, a time before the first commit), a failed full backup left as Failed and
 * persisted across a reload, a caller's error that leaves no compute behind, and the bound on
 * finished entries. The lifecycle with real PostgreSQL is test/integration/compute.test.ts.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupService, FullbackupResult, LsnForTimestamp } from '../../../src/backup/types.js';
import { ComputeManager } from '../../../src/compute/compute-manager.js';
import { isStrataError, StrataError, type ErrorCode } from '../../../src/errors.js';
import { limits } from '../../../src/limits.js';
import { silentLogger } from '../../../src/observability/log.js';
import { Metrics } from '../../../src/observability/metrics.js';

const TENANT = 'a'.repeat(32);
const TIMELINE = 'b'.repeat(32);

class FailingBackup implements BackupService {
  fullbackups = 0;
  constructor(private readonly error: StrataError, private readonly time: LsnForTimestamp = { kind: 'present', lsn: 0x1000 }) {}
  async fullbackupToDirectory(): Promise<FullbackupResult> {
    this.fullbackups++;
    throw this.error;
  }
  async lsnForTimestamp(): Promise<LsnForTimestamp> {
    return this.time;
  }
}

async function withManager(backup: BackupService | undefined, body: (manager: ComputeManager, workdir: string) => Promise<void>, computesMax = 2): Promise<void> {
  const workdir = await mkdtemp(join(tmpdir(), 'strata-compute-unit-'));
  const manager = new ComputeManager({ workdir, pgBinDirectory: '/nonexistent', computesMax, backup, logger: silentLogger(), metrics: new Metrics(), livenessPeriodMs: 0 });
  try {
    await manager.load();
    await body(manager, workdir);
  } finally {
    await manager.close();
    await rm(workdir, { recursive: true, force: true });
  }
}

async function rejects(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<StrataError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isStrataError(error, code), `expected ${code}, got ${String(error)}`);
    if (pattern !== undefined) assert.match((error as Error).message, pattern);
    return error as StrataError;
  }
  throw new Error(`expected ${code}, the promise resolved`);
}

test('refusals: no backup service, branches, lsn with time, max_computes, a time before the first commit', async () => {
  await withManager(undefined, async (manager) => {
    await rejects(manager.startCompute({ tenantId: TENANT, timelineId: TIMELINE }), 'PS_ERR_NOT_IMPLEMENTED', /no full-backup service/);
  });
  const backup = new FailingBackup(new StrataError('PS_ERR_IO', 'disk gone'), { kind: 'past', lsn: 0x2000 });
  await withManager(backup, async (manager) => {
    await rejects(manager.startCompute({ tenantId: TENANT, timelineId: TIMELINE, branch: 'dev' }), 'PS_ERR_NOT_IMPLEMENTED', /cannot create branch timelines/);
    await rejects(manager.startCompute({ tenantId: TENANT, timelineId: TIMELINE, lsn: 1, timestampUs: 1 }), 'PS_ERR_BAD_REQUEST');
    await rejects(manager.startCompute({ tenantId: TENANT, timelineId: TIMELINE, timestampUs: 1 }), 'PS_ERR_LSN_TOO_OLD', /0\/2000/);
    assert.is(backup.fullbackups, 0, 'nothing was written for a refused start');
    assert.equal(await manager.listComputes(), []);
  });
  await withManager(backup, async (manager) => {
    await rejects(manager.startCompute({ tenantId: TENANT, timelineId: TIMELINE }), 'PS_ERR_LIMIT_REACHED', /max_computes is 0/);
  }, 0);
});

test('a caller\'s error from the full backup (no such timeline) leaves no compute and no directory', async () => {
  await withManager(new FailingBackup(new StrataError('PS_ERR_NOT_FOUND', 'timeline not found')), async (manager, workdir) => {
    await rejects(manager.startCompute({ tenantId: TENANT, timelineId: TIMELINE }), 'PS_ERR_NOT_FOUND');
    assert.equal(await manager.listComputes(), []);
    const registry = JSON.parse(await readFile(join(workdir, 'computes', 'computes.json'), 'utf8')) as { computes: unknown[] };
    assert.equal(registry.computes, []);
  });
});

test('a failed full backup is a Failed compute, persisted: a reloaded manager shows it; stop cleans it', async () => {
  await withManager(new FailingBackup(new StrataError('PS_ERR_IO', 'disk gone')), async (manager, workdir) => {
    const error = await rejects(manager.startCompute({ tenantId: TENANT, timelineId: TIMELINE }), 'PS_ERR_COMPUTE_FAILED', /fullbackup failed: disk gone/);
    const computeId = error.context.compute_id as string;
    const status = await manager.computeStatus(computeId);
    assert.is(status.state, 'Failed');
    assert.equal(status.log_tail, []);
    const reloaded = new ComputeManager({ workdir, pgBinDirectory: '/nonexistent', computesMax: 2, backup: undefined, logger: silentLogger(), livenessPeriodMs: 0 });
    await reloaded.load();
    assert.is((await reloaded.computeStatus(computeId)).state, 'Failed');
    assert.is((await reloaded.stopCompute(computeId, { keep: false })).state, 'Stopped');
    assert.not.ok(existsSync(join(workdir, 'computes', computeId)));
    await rejects(reloaded.computeStatus('f'.repeat(32)), 'PS_ERR_NOT_FOUND');
    await reloaded.close();
  });
});

test('finished computes are bounded: the oldest Failed entries are dropped with their directories', async () => {
  await withManager(new FailingBackup(new StrataError('PS_ERR_IO', 'disk gone')), async (manager) => {
    const ids: string[] = [];
    for (let index = 0; index < limits.computesFinishedKeptMax + 3; index++) {
      ids.push((await rejects(manager.startCompute({ tenantId: TENANT, timelineId: TIMELINE }), 'PS_ERR_COMPUTE_FAILED')).context.compute_id as string);
    }
    const listed = (await manager.listComputes()).map((compute) => compute.compute_id);
    assert.is(listed.length, limits.computesFinishedKeptMax);
    assert.equal(listed, ids.slice(3));
  });
});

test.run();
