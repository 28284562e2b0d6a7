/**
 * The UninitializedTimeline guard: finish() makes the timeline exist, abort() removes every file
 * written so far, concurrent creates of one timeline id cannot both win, and a failed fill leaves
 * nothing behind.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/observability/log.js';
import { generateId } from '../../../src/tenant/ids.js';
import {
  createTenantDirectory,
  listTimelineIds,
  removeTimelineDirectory,
  timelinePath,
} from '../../../src/tenant/tenant-directory.js';
import {
  beginTimelineCreation,
  createTimelineDirectory,
  readTimelineMarker,
} from '../../../src/timeline/uninitialized-timeline.js';

interface Setup { workdir: string; tenantId: string }

async function withTenant(body: (setup: Setup) => Promise<void>): Promise<void> {
  const workdir = await mkdtemp(join(tmpdir(), 'strata-uninitialized-timeline-'));
  try {
    const tenantId = generateId();
    await createTenantDirectory(workdir, tenantId);
    await body({ workdir, tenantId });
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);
const logger = silentLogger();

test('finish() writes the marker: the timeline is listed and its info is kept', () =>
  withTenant(async ({ workdir, tenantId }) => {
    const timelineId = generateId();
    const guard = await beginTimelineCreation({ workdir, tenantId, timelineId, logger });
    assert.equal(await listTimelineIds(workdir, tenantId), []);
    await guard.finish({ pg_version: 15 });
    assert.is(guard.status, 'finished');
    assert.equal(await listTimelineIds(workdir, tenantId), [timelineId]);
    assert.equal((await readTimelineMarker(workdir, tenantId, timelineId)).info, { pg_version: 15 });
  }));

test('abort() removes the directory and every file written into it; the id can be created again', () =>
  withTenant(async ({ workdir, tenantId }) => {
    const timelineId = generateId();
    const guard = await beginTimelineCreation({ workdir, tenantId, timelineId, logger });
    await writeFile(join(guard.path, 'metadata'), 'partial');
    await writeFile(join(guard.path, 'layer-1'), 'partial');
    assert.ok(await guard.abort());
    assert.not.ok(await exists(guard.path));
    assert.equal(await readdir(join(workdir, 'tenants', tenantId, 'timelines')), []);
    await createTimelineDirectory({ workdir, tenantId, timelineId, logger });
    assert.equal(await listTimelineIds(workdir, tenantId), [timelineId]);
  }));

test('abort() after finish() does nothing; finish() after abort() is a programmer error', () =>
  withTenant(async ({ workdir, tenantId }) => {
    const finished = await beginTimelineCreation({ workdir, tenantId, timelineId: generateId(), logger });
    await finished.finish();
    assert.not.ok(await finished.abort());
    assert.ok(await exists(finished.path));
    const aborted = await beginTimelineCreation({ workdir, tenantId, timelineId: generateId(), logger });
    await aborted.abort();
    const error = await aborted.finish().catch((caught: unknown) => caught);
    assert.instance(error, Error);
    assert.is((error as Error).name, 'AssertionError');
  }));

test('a fill that throws leaves no directory and the error reaches the caller', () =>
  withTenant(async ({ workdir, tenantId }) => {
    const timelineId = generateId();
    const error = await createTimelineDirectory({ workdir, tenantId, timelineId, logger }, async (path) => {
      await writeFile(join(path, 'metadata'), 'partial');
      throw new Error('base backup failed');
    }).catch((caught: unknown) => caught);
    assert.is((error as Error).message, 'base backup failed');
    assert.not.ok(await exists(timelinePath(workdir, tenantId, timelineId)));
  }));

test('creating an existing timeline is PS_ERR_ALREADY_EXISTS; 20 concurrent creates: one wins', () =>
  withTenant(async ({ workdir, tenantId }) => {
    const timelineId = generateId();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => createTimelineDirectory({ workdir, tenantId, timelineId, logger })),
    );
    assert.is(results.filter((result) => result.status === 'fulfilled').length, 1);
    for (const result of results) {
      if (result.status === 'rejected') assert.ok(isStrataError(result.reason, 'PS_ERR_ALREADY_EXISTS'));
    }
    const again = await createTimelineDirectory({ workdir, tenantId, timelineId, logger }).catch((caught: unknown) => caught);
    assert.ok(isStrataError(again, 'PS_ERR_ALREADY_EXISTS'));
  }));

test('a timeline of a missing tenant is PS_ERR_NOT_FOUND', () =>
  withTenant(async ({ workdir }) => {
    const error = await beginTimelineCreation({ workdir, tenantId: generateId(), timelineId: generateId(), logger })
      .catch((caught: unknown) => caught);
    assert.ok(isStrataError(error, 'PS_ERR_NOT_FOUND'));
  }));

test('removeTimelineDirectory removes a finished timeline', () =>
  withTenant(async ({ workdir, tenantId }) => {
    const timelineId = generateId();
    await createTimelineDirectory({ workdir, tenantId, timelineId, logger });
    await removeTimelineDirectory(workdir, tenantId, timelineId);
    assert.equal(await listTimelineIds(workdir, tenantId), []);
    assert.not.ok(await exists(timelinePath(workdir, tenantId, timelineId)));
  }));

test.run();
