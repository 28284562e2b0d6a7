/**
 * Computes: stock PostgreSQL 15 servers that Strata starts on a full backup of a timeline, so a
 * client reads a timeline at an LSN (or a time) with plain SQL. Read-only for now: each compute is
 * a hot standby that never advances (standby.signal, no primary_conninfo, no restore_command).
 *
 * WHY in the main thread: a compute is a child process with files, ports and a pid, not pages. The
 * work here is waiting on pg_ctl and the file system; the page work (the full backup) happens
 * behind the BackupService. One manager per server; every compute has a state machine
 * (compute-state.ts, diagram there) and the registry is persisted after each change
 * (compute-registry-file.ts).
 *
 *   start(tenant, timeline, lsn|time, port?)
 *     ├─ resolve the LSN of a time (BackupService.lsnForTimestamp)
 *     ├─ bound: Starting+Running+Stopping < max_computes, else PS_ERR_LIMIT_REACHED (429)
 *     ├─ register Starting, persist computes.json
 *     ├─ fullbackup   BackupService.fullbackupToDirectory(<workdir>/computes/<id>/pgdata)
 *     ├─ config       postgresql.conf, pg_hba.conf, standby.signal (compute-config.ts);
 *     │               chown -R postgres, pgdata 0700 (when root: PostgreSQL refuses root)
 *     ├─ start        pg_ctl -D pgdata -l postgres.log -w -t 60 start (as postgres when root)
 *     └─ Running{pid}, persist; reply {compute_id, connstr, lsn, port, startup_ms}
 *        any failure → Failed{reason, logTail} (kept for `status`), PS_ERR_COMPUTE_FAILED
 *
 *   stop(id)       Running|Failed → Stopping → pg_ctl stop -m fast → rm -r dir (unless keep) → Stopped
 *   liveness       every second, a Running compute whose postmaster is gone → Failed{log tail}
 *   load()         computes.json reconciled: a live postmaster is adopted as Running, anything
 *                  else is stopped and its directory removed
 *   close()        no new starts, wait for the ones under way, stop every running compute
 *
 * Bounds: max_computes active computes; limits.computesFinishedKeptMax Stopped/Failed entries
 * (the oldest are dropped, with what is left of their directories); pg_ctl runs under
 * limits.computePgCtlTimeoutMs.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assert, assertNever } from '../assert.js';
import type { BackupService } from '../backup/types.js';
import { isStrataError, StrataError, type ErrorCode } from '../errors.js';
import { limits } from '../limits.js';
import { formatLsn, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { readSmallFile, removeTempFiles, writeFileCrashSafe } from '../storage/crashsafe.js';
import { nodeFs } from '../storage/fs.js';
import { socketDirectoryFor, writeComputeConfig } from './compute-config.js';
import { decodeRegistry, encodeRegistry, REGISTRY_FILE_NAME, type ComputeMode, type ComputeRecord } from './compute-registry-file.js';
import { isActive, isFinished, transitionCompute, type ComputeState } from './compute-state.js';
import { freePort } from '../platform/postgres-cluster.js';
import { chownToPostgres, postmasterAlive, readLogTail, readPostmasterPid, runningAsRoot, runPgTool } from './pg-process.js';

export interface StartComputeRequest {
  tenantId: string;
  timelineId: string;
  /** The state wanted; with neither `lsn` nor `timestampUs`, the timeline's last record LSN. */
  lsn?: Lsn;
  /** PostgreSQL TimestampTz (µs since 2000-01-01 UTC): the state after every commit at or before it. */
  timestampUs?: number;
  /** A port to listen on; default a free loopback port. */
  port?: number;
  /**
   * A writable branch named NAME: a branch timeline is created at the point, the compute is a
   * primary, and Strata streams its WAL into the branch.
   */
  branch?: string;
}

/** What `POST /v1/compute` and `strata compute start` answer. */
export interface ComputeStartReply {
  compute_id: string;
  connstr: string;
  timeline_id: string;
  lsn: string;
  port: number;
  startup_ms: { fullbackup: number; config: number; start: number; total: number };
}

/** One compute as `GET /v1/compute` and `GET /v1/compute/:id/status` show it. */
export interface ComputeInfo {
  compute_id: string;
  tenant_id: string;
  timeline_id: string;
  mode: ComputeMode;
  /** A writable compute's branch name. */
  branch?: string;
  state: ComputeState['kind'];
  lsn: string | null;
  port: number;
  connstr: string;
  data_dir: string;
  created_at: string;
  pid?: number;
  reason?: string;
  /** The last lines of the PostgreSQL log, when the compute Failed. */
  log_tail?: readonly string[];
}

/** What the HTTP edge asks of computes (routes.ts). All errors are StrataErrors. */
export interface ComputeApi {
  startCompute(request: StartComputeRequest): Promise<ComputeStartReply>;
  listComputes(): Promise<ComputeInfo[]>;
  computeStatus(computeId: string): Promise<ComputeInfo>;
  stopCompute(computeId: string, options: { keep: boolean }): Promise<ComputeInfo>;
}

/** Timelines for writable computes (the tenant manager implements it). */
export interface BranchTimelines {
  /** A branch of `timelineId` at `lsn` (its last record LSN when undefined): the new id and branch point. */
  createBranch(tenantId: string, timelineId: string, lsn: Lsn | undefined): Promise<{ timelineId: string; lsn: Lsn }>;
  /** The branch follows `connectionString` (the compute) from `startLsn`, where its WAL continues. */
  followPrimary(tenantId: string, timelineId: string, connectionString: string, startLsn: Lsn): Promise<void>;
}

export interface ComputeManagerOptions {
  workdir: string;
  /** Directory of pg_ctl and postgres (`<pg_distrib_dir>/bin`). */
  pgBinDirectory: string;
  computesMax: number;
  /** Writes the data directories; without one, start answers PS_ERR_NOT_IMPLEMENTED. */
  backup: BackupService | undefined;
  /** Creates and feeds branch timelines; without it, `branch` answers PS_ERR_NOT_IMPLEMENTED. */
  branches?: BranchTimelines | undefined;
  logger: Logger;
  metrics?: Metrics;
  /** Default limits.computeLivenessPeriodMs; 0 turns the periodic check off (status still checks). */
  livenessPeriodMs?: number;
}

/** Errors of the full backup that are the caller's (no such timeline, LSN out of range): no compute is left behind. */
const CALLER_ERROR_CODES: readonly ErrorCode[] = ['PS_ERR_BAD_REQUEST', 'PS_ERR_NOT_FOUND', 'PS_ERR_LSN_TOO_OLD', 'PS_ERR_CONFLICT'];

const DATA_DIRECTORY_NAME = 'pgdata';
const LOG_FILE_NAME = 'postgres.log';

export function connectionStringOf(port: number): string {
  return `postgresql://postgres@127.0.0.1:${port}/postgres`;
}


const elapsedMs = (since: number) => Math.round(performance.now() - since);

export class ComputeManager implements ComputeApi {
  readonly #options: ComputeManagerOptions;
  readonly #root: string;
  readonly #logger: Logger;
  readonly #records = new Map<string, ComputeRecord>();
  readonly #starting = new Set<Promise<unknown>>();
  #persisting: Promise<void> = Promise.resolve();
  #livenessTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: ComputeManagerOptions) {
    assert(options.computesMax >= 0 && options.computesMax <= limits.computesMaxLimit, 'max_computes within its limit');
    this.#options = options;
    this.#root = join(options.workdir, 'computes');
    this.#logger = options.logger.child({ component: 'compute' });
  }

  // ── lifecycle ────────────────────────────────────────────────────────────────────────────────

  /** Reads computes.json and reconciles it with the processes that exist; starts the liveness check. */
  async load(): Promise<void> {
    await mkdir(this.#root, { recursive: true, mode: 0o711 });
    if (runningAsRoot()) await this.#letPostgresTraverse();
    await removeTempFiles(nodeFs, this.#root);
    const path = join(this.#root, REGISTRY_FILE_NAME);
    const bytes = await readSmallFile(nodeFs, path).catch((error: unknown) => {
      if (isStrataError(error, 'PS_ERR_IO') && /ENOENT/.test(error.message)) return undefined;
      throw error;
    });
    for (const record of bytes === undefined ? [] : decodeRegistry(bytes, path)) this.#records.set(record.computeId, record);
    for (const record of [...this.#records.values()]) await this.#reconcile(record);
    this.#pruneFinished();
    await this.#persist();
    this.#updateActiveGauge();
    const period = this.#options.livenessPeriodMs ?? limits.computeLivenessPeriodMs;
    if (period > 0) {
      this.#livenessTimer = setInterval(() => this.#checkAllLiveness(), period);
      this.#livenessTimer.unref();
    }
    this.#logger.info({ computes: this.#records.size, max_computes: this.#options.computesMax }, 'computes loaded');
  }

  /** Refuses new starts, waits for those under way, stops every running compute. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#livenessTimer !== undefined) clearInterval(this.#livenessTimer);
      await Promise.allSettled([...this.#starting]);
      const running = [...this.#records.values()].filter((record) => record.state.kind === 'Running');
      await Promise.allSettled(running.map((record) => this.#stop(record, 'server shutdown')));
      await this.#persisting;
      this.#logger.info({ stopped: running.length }, 'computes stopped');
    })();
    return this.#closing;
  }

  // ── API ──────────────────────────────────────────────────────────────────────────────────────

  async startCompute(request: StartComputeRequest): Promise<ComputeStartReply> {
    const started = performance.now();
    const backup = this.#checkCanStart(request);
    const lsn = request.timestampUs === undefined ? request.lsn : await this.#lsnAtTime(backup, request, request.timestampUs);
    const port = request.port ?? await freePort();
    const record = this.#register(request, port);
    const work = this.#bringUp(record, backup, lsn, started);
    this.#starting.add(work);
    try {
      return await work;
    } finally {
      this.#starting.delete(work);
    }
  }

  async listComputes(): Promise<ComputeInfo[]> {
    return [...this.#records.values()].sort((a, b) => a.createdAt - b.createdAt).map((record) => infoOf(record));
  }

  async computeStatus(computeId: string): Promise<ComputeInfo> {
    const record = this.#get(computeId);
    await this.#checkLiveness(record);
    return infoOf(record);
  }

  async stopCompute(computeId: string, options: { keep: boolean }): Promise<ComputeInfo> {
    const record = this.#get(computeId);
    if (record.state.kind === 'Stopped') return infoOf(record);
    if (this.#closing !== undefined) throw new StrataError('PS_ERR_SHUTTING_DOWN', 'the server is stopping its computes', { compute_id: computeId });
    record.keep = options.keep;
    await this.#stop(record, 'requested');
    this.#pruneFinished();
    await this.#persist();
    return infoOf(record);
  }

  // ── start ────────────────────────────────────────────────────────────────────────────────────

  #checkCanStart(request: StartComputeRequest): BackupService {
    if (this.#closing !== undefined) throw new StrataError('PS_ERR_SHUTTING_DOWN', 'the server is stopping: no new computes');
    if (request.branch !== undefined) {
      if (this.#options.branches === undefined) {
        throw new StrataError('PS_ERR_NOT_IMPLEMENTED', 'this server cannot create branch timelines: start a read-only compute without --branch', { parameter: 'branch' });
      }
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(request.branch)) {
        throw new StrataError('PS_ERR_BAD_REQUEST', `invalid branch name ${JSON.stringify(request.branch)}: letters, digits, '_', '.', '-', at most 63`, { parameter: 'branch' });
      }
    }
    if (request.lsn !== undefined && request.timestampUs !== undefined) {
      throw new StrataError('PS_ERR_BAD_REQUEST', 'invalid lsn: give lsn or time, not both', { parameter: 'lsn' });
    }
    const backup = this.#options.backup;
    if (backup === undefined) {
      throw new StrataError('PS_ERR_NOT_IMPLEMENTED', 'this server has no full-backup service: computes cannot be started');
    }
    return backup;
  }

  async #lsnAtTime(backup: BackupService, request: StartComputeRequest, timestampUs: number): Promise<Lsn> {
    const answer = await backup.lsnForTimestamp(request.tenantId, request.timelineId, timestampUs);
    const where = { tenant_id: request.tenantId, timeline_id: request.timelineId, parameter: 'time' };
    switch (answer.kind) {
      case 'present':
      case 'future':
        return answer.lsn;
      case 'past':
        throw new StrataError('PS_ERR_LSN_TOO_OLD', `the time is before the first commit Strata knows of the timeline (earliest readable ${formatLsn(answer.lsn)})`, where);
      case 'nodata':
        throw new StrataError('PS_ERR_NOT_FOUND', 'no commit times are known for the timeline: start at an LSN instead', where);
      default:
        return assertNever(answer.kind);
    }
  }

  /** Synchronous from the bound check to the insertion, so two starts cannot both take the last slot. */
  #register(request: StartComputeRequest, port: number): ComputeRecord {
    if (this.#closing !== undefined) throw new StrataError('PS_ERR_SHUTTING_DOWN', 'the server is stopping: no new computes');
    const active = [...this.#records.values()].filter((record) => isActive(record.state));
    if (active.length >= this.#options.computesMax) {
      this.#options.metrics?.computeStarts.inc({ result: 'rejected' });
      throw new StrataError('PS_ERR_LIMIT_REACHED', `${active.length} computes are active, max_computes is ${this.#options.computesMax}: stop one first`,
        { max_computes: this.#options.computesMax });
    }
    const holder = active.find((record) => record.port === port);
    if (holder !== undefined) throw new StrataError('PS_ERR_CONFLICT', `port ${port} is used by compute ${holder.computeId}`, { parameter: 'port' });
    const computeId = randomBytes(16).toString('hex');
    const record: ComputeRecord = {
      computeId, tenantId: request.tenantId, timelineId: request.timelineId, mode: request.branch === undefined ? 'read-only' : 'branch',
      branch: request.branch ?? null, lsn: null, port,
      directory: join(this.#root, computeId), createdAt: Date.now(), keep: false, state: { kind: 'Starting', since: Date.now() },
    };
    assert(!this.#records.has(computeId), 'compute ids are random 128-bit values');
    this.#records.set(computeId, record);
    this.#logger.info({ compute_id: computeId, tenant_id: record.tenantId, timeline_id: record.timelineId, port }, 'compute starting');
    this.#updateActiveGauge();
    return record;
  }

  async #bringUp(record: ComputeRecord, backup: BackupService, lsn: Lsn | undefined, started: number): Promise<ComputeStartReply> {
    const dataDirectory = join(record.directory, DATA_DIRECTORY_NAME);
    let phase: 'fullbackup' | 'config' | 'start' = 'fullbackup';
    try {
      await this.#persist();
      await mkdir(record.directory, { mode: 0o700 });
      await chownToPostgres(record.directory);
      const backupStarted = performance.now();
      let backupLsn = lsn;
      if (record.mode === 'branch') {
        // The branch first: the backup is the branch's at its branch point (the ancestor's state there).
        const branches = this.#options.branches;
        assert(branches !== undefined, 'branch computes are refused without branch timelines');
        const created = await branches.createBranch(record.tenantId, record.timelineId, lsn);
        this.#logger.info({ compute_id: record.computeId, branch: record.branch, ancestor_timeline_id: record.timelineId, timeline_id: created.timelineId, lsn: formatLsn(created.lsn) }, 'branch created for a writable compute');
        record.timelineId = created.timelineId;
        backupLsn = created.lsn;
        await this.#persist();
      }
      const result = await backup.fullbackupToDirectory(record.tenantId, record.timelineId, dataDirectory, { lsn: backupLsn });
      record.lsn = formatLsn(result.lsn);
      const fullbackupMs = elapsedMs(backupStarted);
      phase = 'config';
      const configStarted = performance.now();
      await writeComputeConfig(dataDirectory, { computeId: record.computeId, port: record.port, socketDirectory: socketDirectoryFor(record.directory, record.port), mode: record.mode });
      await chownToPostgres(record.directory);
      await chmod(dataDirectory, 0o700);
      const configMs = elapsedMs(configStarted);
      phase = 'start';
      const startStarted = performance.now();
      await this.#pgCtl(record, ['-D', dataDirectory, '-l', join(record.directory, LOG_FILE_NAME), '-w', '-t', String(this.#pgCtlTimeoutSeconds()), 'start']);
      const pid = await readPostmasterPid(dataDirectory);
      if (pid === undefined) throw new StrataError('PS_ERR_COMPUTE_FAILED', 'pg_ctl reported a start but postmaster.pid holds no pid');
      if (record.mode === 'branch') {
        // Its WAL continues after the checkpoint record the backup put at checkpointLsn.
        await this.#options.branches!.followPrimary(record.tenantId, record.timelineId, replicationConnectionStringOf(record.port), result.checkpointLsn);
      }
      const startMs = elapsedMs(startStarted);
      this.#transition(record, { kind: 'Running', pid, since: Date.now() });
      const startupMs = { fullbackup: fullbackupMs, config: configMs, start: startMs, total: elapsedMs(started) };
      this.#observeStartup(startupMs);
      this.#logger.info({ compute_id: record.computeId, lsn: record.lsn, port: record.port, pid, startup_ms: startupMs }, 'compute running');
      return { compute_id: record.computeId, connstr: connectionStringOf(record.port), timeline_id: record.timelineId, lsn: record.lsn, port: record.port, startup_ms: startupMs };
    } catch (error) {
      throw await this.#startFailed(record, phase, error);
    }
  }

  /** Marks a failed start (or forgets it, when the caller asked for something that does not exist); returns what to throw. */
  async #startFailed(record: ComputeRecord, phase: string, error: unknown): Promise<StrataError> {
    const message = error instanceof Error ? error.message : String(error);
    const dataDirectory = join(record.directory, DATA_DIRECTORY_NAME);
    if (phase === 'fullbackup' && error instanceof StrataError && CALLER_ERROR_CODES.includes(error.code)) {
      this.#options.metrics?.computeStarts.inc({ result: 'rejected' });
      this.#records.delete(record.computeId);
      this.#updateActiveGauge();
      await rm(record.directory, { recursive: true, force: true });
      await this.#persist();
      this.#logger.info({ compute_id: record.computeId, code: error.code }, `compute not started: ${message}`);
      return error;
    }
    // A postmaster that pg_ctl gave up waiting for may still be coming up: it must not outlive the record.
    const pid = await readPostmasterPid(dataDirectory);
    if (pid !== undefined && postmasterAlive(pid)) {
      await this.#pgCtl(record, ['-D', dataDirectory, '-w', '-t', String(this.#pgCtlTimeoutSeconds()), '-m', 'immediate', 'stop']).catch(() => undefined);
    }
    this.#options.metrics?.computeStarts.inc({ result: 'failed' });
    const logTail = await readLogTail(join(record.directory, LOG_FILE_NAME), limits.computeLogTailLines);
    const reason = `${phase} failed: ${message}`;
    this.#transition(record, { kind: 'Failed', reason, at: Date.now(), logTail });
    this.#pruneFinished();
    await this.#persist();
    return new StrataError('PS_ERR_COMPUTE_FAILED', `compute ${record.computeId} failed to start (${reason}); GET /v1/compute/${record.computeId}/status has the PostgreSQL log tail`,
      { compute_id: record.computeId }, { cause: error });
  }

  #observeStartup(startupMs: ComputeStartReply['startup_ms']): void {
    const metrics = this.#options.metrics;
    if (metrics === undefined) return;
    for (const [phase, ms] of Object.entries(startupMs)) metrics.computeStartupSeconds.observe({ phase }, ms / 1000);
    metrics.computeStarts.inc({ result: 'running' });
  }

  // ── stop, liveness, reconcile ────────────────────────────────────────────────────────────────

  /** Running|Failed → Stopping → (pg_ctl stop) → directory removed unless keep → Stopped; a failure → Failed. */
  async #stop(record: ComputeRecord, reason: string): Promise<void> {
    const pid = record.state.kind === 'Running' ? record.state.pid : undefined;
    this.#transition(record, pid === undefined ? { kind: 'Stopping', reason } : { kind: 'Stopping', reason, pid });
    await this.#persist();
    const dataDirectory = join(record.directory, DATA_DIRECTORY_NAME);
    try {
      const running = await readPostmasterPid(dataDirectory);
      if (running !== undefined && postmasterAlive(running)) {
        await this.#pgCtl(record, ['-D', dataDirectory, '-w', '-t', String(this.#pgCtlTimeoutSeconds()), '-m', 'fast', 'stop']);
      }
      if (!record.keep) await rm(record.directory, { recursive: true, force: true });
      this.#transition(record, { kind: 'Stopped', at: Date.now(), reason });
    } catch (error) {
      const logTail = await readLogTail(join(record.directory, LOG_FILE_NAME), limits.computeLogTailLines);
      this.#transition(record, { kind: 'Failed', reason: `stop failed: ${error instanceof Error ? error.message : String(error)}`, at: Date.now(), logTail });
      await this.#persist();
      throw new StrataError('PS_ERR_COMPUTE_FAILED', `compute ${record.computeId} did not stop: ${(error as Error).message}`, { compute_id: record.computeId }, { cause: error });
    }
    await this.#persist();
  }

  #checkAllLiveness(): void {
    for (const record of this.#records.values()) {
      this.#checkLiveness(record).catch((error: unknown) => this.#logger.warn({ compute_id: record.computeId, err: error }, 'compute liveness check failed'));
    }
  }

  /** A Running compute whose postmaster is gone becomes Failed with the end of its log. */
  async #checkLiveness(record: ComputeRecord): Promise<void> {
    const state = record.state;
    if (state.kind !== 'Running' || postmasterAlive(state.pid)) return;
    const logTail = await readLogTail(join(record.directory, LOG_FILE_NAME), limits.computeLogTailLines);
    if (record.state !== state) return; // stopped or already marked while the log was read
    this.#logger.warn({ compute_id: record.computeId, pid: state.pid }, 'compute postmaster exited');
    this.#transition(record, { kind: 'Failed', reason: `postmaster (pid ${state.pid}) exited`, at: Date.now(), logTail });
    await this.#persist();
  }

  /** At load: adopt a live postmaster, finish or undo everything else (see the header). */
  async #reconcile(record: ComputeRecord): Promise<void> {
    const state = record.state;
    if (isFinished(state)) return;
    const pid = await readPostmasterPid(join(record.directory, DATA_DIRECTORY_NAME));
    const alive = pid !== undefined && postmasterAlive(pid);
    if (alive && state.kind !== 'Stopping') {
      // Adoption is not an edge for a Running compute (its state stays, the pid is re-read).
      const running: ComputeState = { kind: 'Running', pid, since: Date.now() };
      record.state = state.kind === 'Starting' ? transitionCompute(state, running) : running;
      this.#logger.info({ compute_id: record.computeId, pid }, 'compute adopted: its postmaster is alive');
      return;
    }
    if (state.kind === 'Starting') {
      this.#transition(record, { kind: 'Failed', reason: 'the server stopped before the compute started', at: Date.now(), logTail: [] });
    }
    if (record.state.kind === 'Stopping') {
      // A stop interrupted by the crash: Stopping has no edge back to Stopping, so finish it here.
      await this.#finishInterruptedStop(record);
      return;
    }
    await this.#stop(record, 'reconciled at server start: postmaster not running').catch((error: unknown) => {
      this.#logger.warn({ compute_id: record.computeId, err: error }, 'compute cleanup at server start failed');
    });
  }

  async #finishInterruptedStop(record: ComputeRecord): Promise<void> {
    const dataDirectory = join(record.directory, DATA_DIRECTORY_NAME);
    const pid = await readPostmasterPid(dataDirectory);
    if (pid !== undefined && postmasterAlive(pid)) {
      await this.#pgCtl(record, ['-D', dataDirectory, '-w', '-t', String(this.#pgCtlTimeoutSeconds()), '-m', 'fast', 'stop']).catch(() => undefined);
    }
    if (!record.keep) await rm(record.directory, { recursive: true, force: true });
    this.#transition(record, { kind: 'Stopped', at: Date.now(), reason: 'stop finished at server start' });
  }

  // ── helpers ──────────────────────────────────────────────────────────────────────────────────

  #get(computeId: string): ComputeRecord {
    const record = this.#records.get(computeId);
    if (record === undefined) throw new StrataError('PS_ERR_NOT_FOUND', `compute ${computeId} not found`, { compute_id: computeId });
    return record;
  }

  #transition(record: ComputeRecord, next: ComputeState): void {
    const from = record.state;
    record.state = transitionCompute(from, next);
    const reason = 'reason' in next ? next.reason : undefined;
    this.#logger.info({ compute_id: record.computeId, from: from.kind, to: next.kind, ...(reason === undefined ? {} : { reason }) },
      `compute state ${from.kind} --> ${next.kind}`);
    this.#updateActiveGauge();
  }

  #updateActiveGauge(): void {
    this.#options.metrics?.computesActive.set([...this.#records.values()].filter((record) => isActive(record.state)).length);
  }

  /** Drops the oldest Stopped/Failed entries above the bound (and what is left of their directories, unless kept). */
  #pruneFinished(): void {
    const finished = [...this.#records.values()].filter((record) => isFinished(record.state)).sort((a, b) => a.createdAt - b.createdAt);
    for (const record of finished.slice(0, Math.max(0, finished.length - limits.computesFinishedKeptMax))) {
      this.#records.delete(record.computeId);
      if (!record.keep) rm(record.directory, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Writes the registry as it is now; writes are chained so the last state written is the newest. */
  #persist(): Promise<void> {
    const write = this.#persisting.then(() => writeFileCrashSafe(nodeFs, join(this.#root, REGISTRY_FILE_NAME), encodeRegistry([...this.#records.values()])));
    this.#persisting = write.catch((error: unknown) => this.#logger.error({ err: error }, 'writing computes.json failed'));
    return write;
  }

  #pgCtl(record: ComputeRecord, args: string[]) {
    return runPgTool(this.#options.pgBinDirectory, 'pg_ctl', args, { cwd: record.directory, timeoutMs: limits.computePgCtlTimeoutMs + 5_000 });
  }

  #pgCtlTimeoutSeconds(): number {
    return Math.ceil(limits.computePgCtlTimeoutMs / 1000);
  }

  /**
   * PostgreSQL runs as `postgres` and must reach `<workdir>/computes/<id>`: give the workdir and
   * the computes directory search permission (x for others, no read). Directories above the
   * workdir are the operator's; a missing permission there shows in the compute's failure.
   */
  async #letPostgresTraverse(): Promise<void> {
    for (const directory of [this.#options.workdir, this.#root]) {
      const mode = (await stat(directory)).mode & 0o777;
      if ((mode & 0o001) === 0) {
        await chmod(directory, mode | 0o011);
        this.#logger.info({ directory, mode: (mode | 0o011).toString(8) }, 'directory made traversable for the postgres user');
      }
    }
    assert(dirname(this.#root) === this.#options.workdir, 'the computes directory is directly under the workdir');
  }
}

/** How Strata's walreceiver reaches a branch compute (replication=true: physical streaming). */
function replicationConnectionStringOf(port: number): string {
  return `host=127.0.0.1 port=${port} user=postgres dbname=postgres`;
}

function infoOf(record: ComputeRecord): ComputeInfo {
  const state = record.state;
  const info: ComputeInfo = {
    compute_id: record.computeId, tenant_id: record.tenantId, timeline_id: record.timelineId, mode: record.mode, state: state.kind,
    ...(record.branch === null ? {} : { branch: record.branch }),
    lsn: record.lsn, port: record.port, connstr: connectionStringOf(record.port), data_dir: join(record.directory, DATA_DIRECTORY_NAME),
    created_at: new Date(record.createdAt).toISOString(),
  };
  switch (state.kind) {
    case 'Running': info.pid = state.pid; break;
    case 'Stopping': if (state.pid !== undefined) info.pid = state.pid; info.reason = state.reason; break;
    case 'Stopped': info.reason = state.reason; break;
    case 'Failed': info.reason = state.reason; info.log_tail = state.logTail; break;
    case 'Starting': break;
    default: assertNever(state);
  }
  return info;
}
