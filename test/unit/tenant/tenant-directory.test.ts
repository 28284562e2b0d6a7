/**
 * On-disk layout: paths, create-once semantics (also under 20 concurrent creates and across two
 * processes), half-created directories skipped by listing and removed at startup, checked markers.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/observability/log.js';
import { generateId } from '../../../src/tenant/ids.js';
import {
  TENANT_MARKER_FILE,
  createTenantDirectory,
  listTenantIds,
  listTimelineIds,
  readTenantMarker,
  removeHalfCreatedDirectories,
  removeTenantDirectory,
  tenantExists,
  tenantPath,
  timelinePath,
} from '../../../src/tenant/tenant-directory.js';
import { createTimelineDirectory } from '../../../src/timeline/uninitialized-timeline.js';
import { LogCapture } from '../../helpers/log-capture.js';

async function withWorkdir(body: (workdir: string) => Promise<void>): Promise<void> {
  const workdir = await mkdtemp(join(tmpdir(), 'strata-tenant-directory-'));
  try {
    await body(workdir);
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

test('paths follow <workdir>/tenants/<tenant_id>/timelines/<timeline_id>', () => {
  const tenantId = generateId();
  const timelineId = generateId();
  assert.is(tenantPath('/w', tenantId), `/w/tenants/${tenantId}`);
  assert.is(timelinePath('/w', tenantId, timelineId), `/w/tenants/${tenantId}/timelines/${timelineId}`);
  assert.throws(() => tenantPath('/w', '../etc'), /canonical/);
});

test('a created tenant is listed and its marker keeps the config', () =>
  withWorkdir(async (workdir) => {
    const tenantId = generateId();
    await createTenantDirectory(workdir, tenantId, { config: { checkpoint_distance: 1234 } });
    assert.equal(await listTenantIds(workdir), [tenantId]);
    assert.ok(await tenantExists(workdir, tenantId));
    assert.ok(await exists(join(tenantPath(workdir, tenantId), 'timelines')));
    const marker = await readTenantMarker(workdir, tenantId);
    assert.equal(marker.config, { checkpoint_distance: 1234 });
    assert.is(marker.tenant_id, tenantId);
  }));

test('creating a tenant that exists is PS_ERR_ALREADY_EXISTS naming the tenant', () =>
  withWorkdir(async (workdir) => {
    const tenantId = generateId();
    await createTenantDirectory(workdir, tenantId);
    try {
      await createTenantDirectory(workdir, tenantId);
      assert.unreachable('second create succeeded');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_ALREADY_EXISTS'));
      assert.is(error.message, `tenant ${tenantId} already exists`);
    }
  }));

test('20 concurrent creates of one id: exactly one succeeds, the others get PS_ERR_ALREADY_EXISTS', () =>
  withWorkdir(async (workdir) => {
    const tenantId = generateId();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => createTenantDirectory(workdir, tenantId)));
    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result) => result.status === 'rejected');
    assert.is(won.length, 1);
    assert.is(lost.length, 19);
    for (const result of lost) assert.ok(isStrataError(result.reason, 'PS_ERR_ALREADY_EXISTS'));
    assert.equal(await listTenantIds(workdir), [tenantId]);
  }));

/** A child process that creates each id once, all starting at `startAtMs`, and prints its wins. */
function raceInChild(workdir: string, ids: string[], startAtMs: number): Promise<string[]> {
  const moduleUrl = new URL('../../../src/tenant/tenant-directory.js', import.meta.url).href;
  const script = `
    const { createTenantDirectory } = await import(${JSON.stringify(moduleUrl)});
    const ids = ${JSON.stringify(ids)};
    while (Date.now() < ${startAtMs}) await new Promise((resolve) => setTimeout(resolve, 1));
    const wins = [];
    for (const id of ids) {
      try { await createTenantDirectory(${JSON.stringify(workdir)}, id); wins.push(id); }
      catch (error) { if (error.code !== 'PS_ERR_ALREADY_EXISTS') throw error; }
    }
    process.stdout.write(JSON.stringify(wins));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { errors += chunk; });
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`child exited ${code}: ${errors}`));
      else resolve(JSON.parse(output) as string[]);
    });
  });
}

test('two processes racing to create the same 30 ids: each id is won exactly once', () =>
  withWorkdir(async (workdir) => {
    const ids = Array.from({ length: 30 }, () => generateId());
    const startAtMs = Date.now() + 1500;
    const [first, second] = await Promise.all([raceInChild(workdir, ids, startAtMs), raceInChild(workdir, ids, startAtMs)]);
    assert.is(first.length + second.length, ids.length);
    assert.equal([...first, ...second].sort(), [...ids].sort());
    assert.equal(await listTenantIds(workdir), [...ids].sort());
  }));

test('a half-created tenant is skipped by listing and removed at startup with a WARN', () =>
  withWorkdir(async (workdir) => {
    const complete = generateId();
    const half = generateId();
    await createTenantDirectory(workdir, complete);
    await mkdir(join(tenantPath(workdir, half), 'timelines'), { recursive: true });
    await writeFile(join(tenantPath(workdir, half), `${TENANT_MARKER_FILE}.tmp`), '{');
    assert.equal(await listTenantIds(workdir), [complete]);
    assert.ok(isStrataError(await createTenantDirectory(workdir, half).catch((error: unknown) => error), 'PS_ERR_ALREADY_EXISTS'));

    const capture = new LogCapture([/half-created tenant directory/]);
    const removed = await removeHalfCreatedDirectories(workdir, capture.logger);
    assert.equal(removed, [tenantPath(workdir, half)]);
    assert.not.ok(await exists(tenantPath(workdir, half)));
    assert.is(capture.lines.filter((line) => line.level === 40).length, 1);
    capture.assertClean();
    await createTenantDirectory(workdir, half);
    assert.equal(await listTenantIds(workdir), [complete, half].sort());
  }));

test('a half-created timeline is skipped by listing and removed at startup with a WARN', () =>
  withWorkdir(async (workdir) => {
    const tenantId = generateId();
    const complete = generateId();
    const half = generateId();
    await createTenantDirectory(workdir, tenantId);
    await createTimelineDirectory({ workdir, tenantId, timelineId: complete, logger: silentLogger() });
    await mkdir(timelinePath(workdir, tenantId, half));
    await writeFile(join(timelinePath(workdir, tenantId, half), 'some-layer'), 'x');
    assert.equal(await listTimelineIds(workdir, tenantId), [complete]);

    const capture = new LogCapture([/half-created timeline directory/]);
    assert.equal(await removeHalfCreatedDirectories(workdir, capture.logger), [timelinePath(workdir, tenantId, half)]);
    assert.not.ok(await exists(timelinePath(workdir, tenantId, half)));
    assert.ok(await exists(timelinePath(workdir, tenantId, complete)));
    assert.is(capture.lines.filter((line) => line.level === 40).length, 1);
    capture.assertClean();
  }));

test('startup cleanup of a clean workdir removes nothing and logs no WARN', () =>
  withWorkdir(async (workdir) => {
    const tenantId = generateId();
    await createTenantDirectory(workdir, tenantId);
    await createTimelineDirectory({ workdir, tenantId, timelineId: generateId(), logger: silentLogger() });
    const capture = new LogCapture();
    assert.equal(await removeHalfCreatedDirectories(workdir, capture.logger), []);
    assert.equal(await removeHalfCreatedDirectories(join(workdir, 'missing'), capture.logger), []);
    capture.assertClean();
  }));

test('a corrupted tenant marker is PS_ERR_IO on read', () =>
  withWorkdir(async (workdir) => {
    const tenantId = generateId();
    await createTenantDirectory(workdir, tenantId, { config: { a: 1 } });
    const path = join(tenantPath(workdir, tenantId), TENANT_MARKER_FILE);
    await writeFile(path, (await readFile(path, 'utf8')).replace('"a": 1', '"a": 2'));
    const error = await readTenantMarker(workdir, tenantId).catch((caught: unknown) => caught);
    assert.ok(isStrataError(error, 'PS_ERR_IO'));
    assert.match((error as Error).message, /checksum mismatch/);
  }));

test('removing a tenant removes its directory; removing it again is PS_ERR_NOT_FOUND', () =>
  withWorkdir(async (workdir) => {
    const tenantId = generateId();
    await createTenantDirectory(workdir, tenantId);
    await removeTenantDirectory(workdir, tenantId);
    assert.not.ok(await exists(tenantPath(workdir, tenantId)));
    assert.equal(await listTenantIds(workdir), []);
    const error = await removeTenantDirectory(workdir, tenantId).catch((caught: unknown) => caught);
    assert.ok(isStrataError(error, 'PS_ERR_NOT_FOUND'));
  }));

test('listing the timelines of a missing tenant is PS_ERR_NOT_FOUND', () =>
  withWorkdir(async (workdir) => {
    const error = await listTimelineIds(workdir, generateId()).catch((caught: unknown) => caught);
    assert.ok(isStrataError(error, 'PS_ERR_NOT_FOUND'));
  }));

test.run();
