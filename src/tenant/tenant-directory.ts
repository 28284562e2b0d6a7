/**
 * The on-disk layout of tenants and timelines, and race-free, crash-safe creation of their
 * directories.
 *
 * ```
 * <workdir>/tenants/                                               made on demand
 * <workdir>/tenants/<tenant_id>/                                   mkdir = the lock point of a create
 * <workdir>/tenants/<tenant_id>/tenant.json                        marker: written last
 * <workdir>/tenants/<tenant_id>/timelines/<timeline_id>/           mkdir = the lock point
 * <workdir>/tenants/<tenant_id>/timelines/<timeline_id>/timeline.json   marker: written last
 * ```
 * Example: `/var/lib/strata/tenants/1f0c4a9e8b7d6c5b4a39281706f5e4d3/timelines/
 * 9a8b7c6d5e4f30211203f4e5d6c7b8a9/timeline.json`. Ids are canonical (ids.ts).
 *
 * Why `mkdir` of the final directory is the lock point: `mkdir` is atomic and fails with EEXIST
 * when the name exists, in one process or across processes, so of any number of concurrent creates
 * of one id exactly one gets past it; every other one is PS_ERR_ALREADY_EXISTS. Building in a temp
 * directory and renaming would not do: on Linux `rename` onto an existing EMPTY directory succeeds,
 * so two creators could both "win".
 *
 * Why a marker file: the directory exists before it is complete. The creator fills it, then writes
 * the marker crash-safely (temp file, fsync, rename, fsync the directory, fsync its parent). A
 * directory without its marker is therefore half-created: a create is still running, or the
 * process crashed during one. Listing skips such directories; `removeHalfCreatedDirectories`,
 * called once at startup while no create can run, removes them and logs each at WARN. Removal runs
 * in the opposite order (marker first, fsync, then the files), so a crash during a removal also
 * leaves only a half-created directory behind.
 *
 * Markers are checked on read: a format name, a version, the ids they belong to and a sha256 of
 * their body. The marker only records that creation finished (plus the tenant's config); timeline
 * metadata such as disk_consistent_lsn lives in its own file written by the timeline.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError, isStrataError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { isCanonicalId } from './ids.js';

export const TENANTS_DIRECTORY = 'tenants';
export const TIMELINES_DIRECTORY = 'timelines';
export const TENANT_MARKER_FILE = 'tenant.json';
export const TIMELINE_MARKER_FILE = 'timeline.json';
const MARKER_VERSION = 1;
/** A marker is a few hundred bytes; anything this large is not one. */
const MARKER_BYTES_MAX = 1024 * 1024;

export type MarkerFormat = 'strata-tenant' | 'strata-timeline';

export interface TenantMarker {
  tenant_id: string;
  created_at: string;
  config: Record<string, unknown>;
}

export interface TimelineMarker {
  tenant_id: string;
  timeline_id: string;
  created_at: string;
  /** What the creator chose to record (ancestor, pg_version, …); opaque here. */
  info: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Paths.

export function tenantsPath(workdir: string): string {
  assert(workdir.length > 0, 'workdir is set');
  return join(workdir, TENANTS_DIRECTORY);
}

export function tenantPath(workdir: string, tenantId: string): string {
  assert(isCanonicalId(tenantId), `tenant id is canonical: ${tenantId}`);
  return join(tenantsPath(workdir), tenantId);
}

export function timelinesPath(workdir: string, tenantId: string): string {
  return join(tenantPath(workdir, tenantId), TIMELINES_DIRECTORY);
}

export function timelinePath(workdir: string, tenantId: string, timelineId: string): string {
  assert(isCanonicalId(timelineId), `timeline id is canonical: ${timelineId}`);
  return join(timelinesPath(workdir, tenantId), timelineId);
}

// ---------------------------------------------------------------------------------------------
// Tenants.

export interface CreateTenantOptions {
  config?: Record<string, unknown>;
  /** Clock for `created_at` (tests inject one). */
  now?: () => Date;
}

/**
 * Creates `<workdir>/tenants/<tenantId>/` with its `timelines/` directory and its marker. Of
 * concurrent creates of one id (in any number of processes) exactly one succeeds; the others, and
 * any create of an existing id, fail with PS_ERR_ALREADY_EXISTS.
 */
export async function createTenantDirectory(
  workdir: string,
  tenantId: string,
  options: CreateTenantOptions = {},
): Promise<TenantMarker> {
  const path = tenantPath(workdir, tenantId);
  await makeDirectory(tenantsPath(workdir), { recursive: true });
  await claimDirectory(path, `tenant ${tenantId}`);
  const marker: TenantMarker = {
    tenant_id: tenantId,
    created_at: (options.now ?? (() => new Date()))().toISOString(),
    config: options.config ?? {},
  };
  try {
    await makeDirectory(join(path, TIMELINES_DIRECTORY), { recursive: false });
    await writeMarker(path, TENANT_MARKER_FILE, 'strata-tenant', marker);
    await fsyncDirectory(tenantsPath(workdir));
  } catch (error) {
    await removeDirectory(path);
    throw error;
  }
  return marker;
}

/** Reads and checks a completed tenant's marker; PS_ERR_NOT_FOUND when it has none. */
export async function readTenantMarker(workdir: string, tenantId: string): Promise<TenantMarker> {
  const body = await readMarker(join(tenantPath(workdir, tenantId), TENANT_MARKER_FILE), 'strata-tenant', `tenant ${tenantId}`);
  const marker = body as unknown as TenantMarker;
  if (marker.tenant_id !== tenantId || typeof marker.config !== 'object' || marker.config === null) {
    throw new StrataError('PS_ERR_IO', `read tenant ${tenantId} marker: it belongs to tenant ${String(marker.tenant_id)}`);
  }
  return marker;
}

/** True when the tenant exists and its creation finished. */
export async function tenantExists(workdir: string, tenantId: string): Promise<boolean> {
  return fileExists(join(tenantPath(workdir, tenantId), TENANT_MARKER_FILE));
}

/** Ids of the tenants whose creation finished, sorted; half-created directories are skipped. */
export async function listTenantIds(workdir: string): Promise<string[]> {
  return listCompleted(tenantsPath(workdir), TENANT_MARKER_FILE);
}

/** Ids of the tenant's timelines whose creation finished, sorted. */
export async function listTimelineIds(workdir: string, tenantId: string): Promise<string[]> {
  if (!(await tenantExists(workdir, tenantId))) {
    throw new StrataError('PS_ERR_NOT_FOUND', `tenant ${tenantId} not found`, { tenant_id: tenantId });
  }
  return listCompleted(timelinesPath(workdir, tenantId), TIMELINE_MARKER_FILE);
}

/** Removes a tenant and all its timelines: marker first, so a crash leaves a half-created directory. */
export async function removeTenantDirectory(workdir: string, tenantId: string): Promise<void> {
  await removeMarkedDirectory(tenantPath(workdir, tenantId), TENANT_MARKER_FILE, `tenant ${tenantId}`);
}

/** Removes one timeline's directory, marker first (used by delete and by a failed creation). */
export async function removeTimelineDirectory(workdir: string, tenantId: string, timelineId: string): Promise<void> {
  const path = timelinePath(workdir, tenantId, timelineId);
  await removeMarkedDirectory(path, TIMELINE_MARKER_FILE, `timeline ${timelineId}`);
}

/**
 * Startup only, while no create can run: removes every tenant or timeline directory that has no
 * marker (a create that crashed, or a removal that crashed), logging each at WARN. Returns the
 * removed paths.
 */
export async function removeHalfCreatedDirectories(workdir: string, logger: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const tenantId of await listCanonicalEntries(tenantsPath(workdir))) {
    const path = tenantPath(workdir, tenantId);
    if (!(await fileExists(join(path, TENANT_MARKER_FILE)))) {
      logger.warn({ tenant_id: tenantId, path }, 'removing half-created tenant directory left by an interrupted create');
      await removeDirectory(path);
      removed.push(path);
      continue;
    }
    for (const timelineId of await listCanonicalEntries(timelinesPath(workdir, tenantId))) {
      const timeline = timelinePath(workdir, tenantId, timelineId);
      if (await fileExists(join(timeline, TIMELINE_MARKER_FILE))) continue;
      logger.warn(
        { tenant_id: tenantId, timeline_id: timelineId, path: timeline },
        'removing half-created timeline directory left by an interrupted create',
      );
      await removeDirectory(timeline);
      removed.push(timeline);
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// Building blocks, shared with timeline/uninitialized-timeline.ts.

/** The lock point: creates `path` (not recursive); EEXIST becomes PS_ERR_ALREADY_EXISTS. */
export async function claimDirectory(path: string, what: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') {
      throw new StrataError('PS_ERR_ALREADY_EXISTS', `${what} already exists`, { path });
    }
    throw ioError(`create ${what} directory ${path}`, error);
  }
}

/** Writes `<directory>/<fileName>` crash-safely: temp file, fsync, rename, fsync the directory. */
export async function writeMarker(
  directory: string,
  fileName: string,
  format: MarkerFormat,
  body: object,
): Promise<void> {
  const bodyText = JSON.stringify(body);
  const text = JSON.stringify({ format, version: MARKER_VERSION, sha256: sha256Hex(bodyText), body }, null, 2);
  assert(text.length < MARKER_BYTES_MAX, 'a marker is small');
  const target = join(directory, fileName);
  const temporary = `${target}.tmp`;
  try {
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
    await fsyncDirectory(directory);
  } catch (error) {
    throw ioError(`write marker ${target}`, error);
  }
}

/** Reads a marker and checks format, version and checksum; PS_ERR_NOT_FOUND when it is missing. */
export async function readMarker(path: string, format: MarkerFormat, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') throw new StrataError('PS_ERR_NOT_FOUND', `${what} not found`, { path });
    throw ioError(`read marker ${path}`, error);
  }
  let parsed: { format?: unknown; version?: unknown; sha256?: unknown; body?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    throw new StrataError('PS_ERR_IO', `read marker ${path}: not JSON`, { path }, { cause: error });
  }
  if (parsed.format !== format || parsed.version !== MARKER_VERSION) {
    throw new StrataError('PS_ERR_IO', `read marker ${path}: expected ${format} version ${MARKER_VERSION}`, { path });
  }
  if (typeof parsed.body !== 'object' || parsed.body === null || parsed.sha256 !== sha256Hex(JSON.stringify(parsed.body))) {
    throw new StrataError('PS_ERR_IO', `read marker ${path}: checksum mismatch`, { path });
  }
  return parsed.body as Record<string, unknown>;
}

/** Makes a directory's entries durable (after a create, rename or unlink inside it). */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes a directory tree; a missing directory is not an error. */
export async function removeDirectory(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    throw ioError(`remove directory ${path}`, error);
  }
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return false;
    throw ioError(`stat ${path}`, error);
  }
}

// ---------------------------------------------------------------------------------------------
// Private helpers.

async function makeDirectory(path: string, options: { recursive: boolean }): Promise<void> {
  try {
    await mkdir(path, options);
  } catch (error) {
    throw ioError(`create directory ${path}`, error);
  }
}

async function removeMarkedDirectory(path: string, markerFile: string, what: string): Promise<void> {
  const marker = join(path, markerFile);
  if (!(await fileExists(marker))) throw new StrataError('PS_ERR_NOT_FOUND', `${what} not found`, { path });
  try {
    await rm(marker);
    await fsyncDirectory(path);
  } catch (error) {
    throw ioError(`remove marker ${marker}`, error);
  }
  await removeDirectory(path);
}

/** Canonical-id entries of a directory (others, such as temp names, are ignored); [] when missing. */
async function listCanonicalEntries(directory: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw ioError(`list directory ${directory}`, error);
  }
  return names.filter((name) => isCanonicalId(name)).sort();
}

async function listCompleted(directory: string, markerFile: string): Promise<string[]> {
  const completed: string[] = [];
  for (const id of await listCanonicalEntries(directory)) {
    if (await fileExists(join(directory, id, markerFile))) completed.push(id);
  }
  return completed;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { code?: string }).code : undefined;
}

function ioError(context: string, error: unknown): StrataError {
  if (isStrataError(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StrataError('PS_ERR_IO', `${context}: ${detail}`, { code: errorCode(error) }, { cause: error });
}
