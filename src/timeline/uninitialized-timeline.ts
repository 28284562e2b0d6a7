/**
 * A timeline that is being created: a guard over its directory that either finishes the creation
 * (writes the marker) or removes everything written so far.
 *
 * Why a guard (Neon's `UninitializedTimeline`, timeline/uninit.rs): creating a timeline writes
 * several files (metadata, the first layers from a base backup) before it can serve. If any step
 * fails, the half-built directory must not look like a timeline, and must not block a retry with
 * the same id. The directory is claimed with `mkdir` (the lock point: a concurrent create of the
 * same id gets PS_ERR_ALREADY_EXISTS), the caller fills `path`, then calls `finish()` or `abort()`.
 * A crash before `finish()` leaves a directory without marker, which startup removes
 * (tenant-directory.ts `removeHalfCreatedDirectories`).
 *
 * ```
 *   beginTimelineCreation ──► Open ──finish()──► Finished   (marker written, timeline exists)
 *                              │
 *                              └──abort()───► Aborted       (directory removed)
 * ```
 * `abort()` after `finish()` does nothing, so `finally { await guard.abort() }` is safe;
 * `finish()` twice, or after `abort()`, is a programmer error.
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import {
  TIMELINE_MARKER_FILE,
  claimDirectory,
  fsyncDirectory,
  readMarker,
  removeDirectory,
  tenantExists,
  timelinePath,
  timelinesPath,
  writeMarker,
  type TimelineMarker,
} from '../tenant/tenant-directory.js';

export interface TimelineCreationOptions {
  workdir: string;
  tenantId: string;
  timelineId: string;
  logger: Logger;
  /** Clock for `created_at` (tests inject one). */
  now?: () => Date;
}

type GuardStatus = 'open' | 'finished' | 'aborted';

export class UninitializedTimeline {
  /** The timeline's directory; the creator writes its files here before `finish()`. */
  readonly path: string;
  readonly tenantId: string;
  readonly timelineId: string;
  readonly #options: TimelineCreationOptions;
  #status: GuardStatus = 'open';

  constructor(options: TimelineCreationOptions) {
    this.#options = options;
    this.tenantId = options.tenantId;
    this.timelineId = options.timelineId;
    this.path = timelinePath(options.workdir, options.tenantId, options.timelineId);
  }

  get status(): GuardStatus {
    return this.#status;
  }

  /** Writes the marker crash-safely: from now on the timeline exists and is listed. */
  async finish(info: Record<string, unknown> = {}): Promise<TimelineMarker> {
    assert(this.#status === 'open', `finish() of a timeline guard that is ${this.#status}`);
    const marker: TimelineMarker = {
      tenant_id: this.tenantId,
      timeline_id: this.timelineId,
      created_at: (this.#options.now ?? (() => new Date()))().toISOString(),
      info,
    };
    await writeMarker(this.path, TIMELINE_MARKER_FILE, 'strata-timeline', marker);
    await fsyncDirectory(timelinesPath(this.#options.workdir, this.tenantId));
    this.#status = 'finished';
    this.#options.logger.info({ path: this.path }, 'timeline directory created');
    return marker;
  }

  /** Removes the directory and all files written so far; does nothing once finished or aborted. */
  async abort(): Promise<boolean> {
    if (this.#status !== 'open') return false;
    this.#status = 'aborted';
    await removeDirectory(this.path);
    this.#options.logger.info({ path: this.path }, 'removed the directory of a timeline whose creation failed');
    return true;
  }
}

/**
 * Claims the timeline's directory. PS_ERR_NOT_FOUND when the tenant does not exist (or is still
 * being created); PS_ERR_ALREADY_EXISTS when the timeline exists or another create holds it.
 */
export async function beginTimelineCreation(options: TimelineCreationOptions): Promise<UninitializedTimeline> {
  const { workdir, tenantId, timelineId } = options;
  if (!(await tenantExists(workdir, tenantId))) {
    throw new StrataError('PS_ERR_NOT_FOUND', `tenant ${tenantId} not found`, { tenant_id: tenantId });
  }
  const guard = new UninitializedTimeline(options);
  await claimDirectory(guard.path, `timeline ${timelineId} of tenant ${tenantId}`);
  assert(guard.status === 'open', 'a new guard is open');
  return guard;
}

/**
 * Creates a timeline directory and lets `fill` write its files; the marker is written when `fill`
 * resolves, and the directory is removed when it throws (the error is rethrown).
 */
export async function createTimelineDirectory(
  options: TimelineCreationOptions,
  fill: (path: string) => Promise<Record<string, unknown> | void> = async () => {},
): Promise<TimelineMarker> {
  const guard = await beginTimelineCreation(options);
  try {
    const info = await fill(guard.path);
    return await guard.finish(info ?? {});
  } finally {
    await guard.abort();
  }
}

/** Reads and checks a completed timeline's marker; PS_ERR_NOT_FOUND when it has none. */
export async function readTimelineMarker(workdir: string, tenantId: string, timelineId: string): Promise<TimelineMarker> {
  const path = join(timelinePath(workdir, tenantId, timelineId), TIMELINE_MARKER_FILE);
  const body = await readMarker(path, 'strata-timeline', `timeline ${timelineId} of tenant ${tenantId}`);
  const marker = body as unknown as TimelineMarker;
  if (marker.tenant_id !== tenantId || marker.timeline_id !== timelineId) {
    throw new StrataError('PS_ERR_IO', `read timeline ${timelineId} marker: it belongs to another timeline`, { path });
  }
  return marker;
}
