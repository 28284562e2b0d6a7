/**
 * PostgreSQL's own crash-recovery replay speed on a crashed pgbench workload: the reference every
 * Strata WAL benchmark is divided by.
 *
 * Method: copy the crashed data directory (`cp -a`, so it stays owned by postgres), start the copy
 * on a fresh port and let the startup process replay [redo point, end of WAL) in one process, then
 * read two LOG lines PostgreSQL 15 prints by default:
 *
 *   1795461320.121 [5657] LOG:  redo starts at 0/21867A8
 *   1795461320.204 [5657] LOG:  redo done at 0/3453FA0 system usage: CPU: user: 0.05 s, ... elapsed: 0.08 s
 *
 * `log_line_prefix = '%n [%p] '` stamps each line with Unix-epoch milliseconds, so the replay time
 * is measured to the millisecond between the two lines (PostgreSQL's own `elapsed` has only two
 * decimals, too coarse for small workloads; it is kept as a cross-check). `redo done at` names the
 * START of the last replayed record; the replayed range ends after that record, which pg_waldump
 * tells us. Records are counted by pg_waldump over exactly that range.
 *
 * Warm cache: `cp -a` itself pulls every WAL and data file into the page cache, and the replay is
 * run `runs` times (default 2) on fresh copies; the fastest run is reported. The end-of-recovery
 * checkpoint that follows redo is not timed, matching Strata's numbers, which time decode/ingest.
 */
import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assert } from '../src/assert.js';
import { StrataError } from '../src/errors.js';
import { formatLsn, parseLsn, type Lsn } from '../src/lsn.js';
import type { Logger } from '../src/observability/log.js';
import { freePort, runPg } from '../test/helpers/postgres.js';
import { countWalRecords, findWalEnd, type WalWorkload } from './wal-workload.js';

const execFileAsync = promisify(execFile);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const BYTES_PER_MEGABYTE = 1024 * 1024;
const RECOVERY_RUNS_MAX = 10;

export interface RecoveryOptions {
  /** Replays on fresh copies; the fastest is reported (default 2). */
  runs?: number;
  logger?: Logger;
}

export interface RecoveryMeasurement {
  /** Replay time of the fastest run, from `redo starts at` to `redo done at`. */
  seconds: number;
  records: number;
  /** WAL bytes replayed: redoEnd − redoStart, page headers included. */
  bytes: number;
  recordsPerSecond: number;
  /** MB here and in every Strata benchmark is 2^20 bytes. */
  megabytesPerSecond: number;
  /** `redo starts at`. */
  redoStart: string;
  /** First byte after the last replayed record. */
  redoEnd: string;
  /** `redo done at`: the start of the last replayed record. */
  redoDoneAt: string;
  /** PostgreSQL's own `elapsed: X s` of the fastest run (two decimals). */
  postgresElapsedSeconds: number;
  /** Every run's replay time, in run order. */
  runSeconds: number[];
  /** How the cache was warmed, for the printed report. */
  cache: string;
  /** True when PostgreSQL replayed exactly the workload's [startLsn, endLsn). */
  matchesWorkload: boolean;
}

/** What one replay printed. */
interface ReplayRun {
  seconds: number;
  postgresElapsedSeconds: number;
  redoStart: Lsn;
  redoDoneAt: Lsn;
}

export async function measurePostgresRecovery(
  workload: WalWorkload,
  options: RecoveryOptions = {},
): Promise<RecoveryMeasurement> {
  const runs = options.runs ?? 2;
  assert(Number.isInteger(runs) && runs >= 1 && runs <= RECOVERY_RUNS_MAX, 'recovery runs is 1..10');
  const replays: ReplayRun[] = [];
  for (let run = 0; run < runs; run += 1) {
    const replay = await replayCopy(workload.dataDirectory);
    options.logger?.info({ run, seconds: replay.seconds }, 'PostgreSQL crash recovery replayed');
    replays.push(replay);
  }
  const fastest = replays.reduce((best, replay) => (replay.seconds < best.seconds ? replay : best));
  assert(replays.every((replay) => replay.redoDoneAt === fastest.redoDoneAt), 'every replay ends at the same record');
  return summarise(workload, fastest, replays);
}

async function summarise(workload: WalWorkload, fastest: ReplayRun, replays: ReplayRun[]): Promise<RecoveryMeasurement> {
  const { lastRecordLsn, endLsn } = await findWalEnd(workload.walDirectory, fastest.redoStart);
  if (lastRecordLsn !== fastest.redoDoneAt) {
    const postgresLast = formatLsn(fastest.redoDoneAt);
    throw new StrataError('PS_ERR_IO', `PostgreSQL stopped redo at ${postgresLast} but pg_waldump reads on to ${formatLsn(lastRecordLsn)}`);
  }
  const records = await countWalRecords(workload.walDirectory, fastest.redoStart, endLsn);
  const bytes = endLsn - fastest.redoStart;
  assert(records > 0 && bytes > 0, 'crash recovery replayed at least one record');
  return {
    seconds: fastest.seconds,
    records,
    bytes,
    recordsPerSecond: records / fastest.seconds,
    megabytesPerSecond: bytes / BYTES_PER_MEGABYTE / fastest.seconds,
    redoStart: formatLsn(fastest.redoStart),
    redoEnd: formatLsn(endLsn),
    redoDoneAt: formatLsn(fastest.redoDoneAt),
    postgresElapsedSeconds: fastest.postgresElapsedSeconds,
    runSeconds: replays.map((replay) => replay.seconds),
    cache: `warm (cp -a reads every file), fastest of ${replays.length}`,
    matchesWorkload: fastest.redoStart === workload.startLsn && endLsn === workload.endLsn,
  };
}

/**
 * One crash recovery of a fresh copy of `dataDirectory`, its replay time in seconds (`redo starts
 * at` to `redo done at`): for benches that alternate PostgreSQL's replay with their own.
 */
export async function replayOnceSeconds(dataDirectory: string): Promise<number> {
  return (await replayCopy(dataDirectory)).seconds;
}

/** Copies the crashed cluster, lets PostgreSQL recover it, reads the log, removes the copy. */
async function replayCopy(dataDirectory: string): Promise<ReplayRun> {
  const directory = await mkdtemp(join(tmpdir(), 'strata-recovery-'));
  const copy = join(directory, 'data');
  const logFile = join(directory, 'recovery.log');
  let started = false;
  try {
    await chmod(directory, 0o777);
    if (isRoot) await execFileAsync('chown', ['postgres:postgres', directory]);
    await execFileAsync('cp', ['-a', dataDirectory, copy]);
    await rm(join(copy, 'postmaster.pid'), { force: true });
    await appendFile(join(copy, 'postgresql.conf'), recoveryConf(await freePort(), directory));
    started = true;
    await runPg('pg_ctl', ['-D', copy, '-l', logFile, '-w', '-t', '600', 'start'], { timeoutMs: 660_000 });
    return parseRecoveryLog(await readFile(logFile, 'utf8'));
  } catch (error) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const reason = `${String(error)}\n${log.slice(-2000)}`;
    throw new StrataError('PS_ERR_IO', `crash recovery of a copy of ${dataDirectory} failed: ${reason}`);
  } finally {
    if (started) await runPg('pg_ctl', ['-D', copy, '-w', '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  }
}

/** Lines appended to the copy's postgresql.conf; later lines win over the original's. */
function recoveryConf(port: number, socketDirectory: string): string {
  return [
    '',
    `port = ${port}`,
    `unix_socket_directories = '${socketDirectory}'`,
    "log_line_prefix = '%n [%p] '",
    "log_min_messages = 'warning'",
    "logging_collector = 'off'",
    '',
  ].join('\n');
}

const REDO_STARTS = /^(\d+\.\d+) \[\d+\] LOG:  redo starts at ([0-9A-F]+\/[0-9A-F]+)$/m;
const REDO_DONE = /^(\d+\.\d+) \[\d+\] LOG:  redo done at ([0-9A-F]+\/[0-9A-F]+) system usage: .*elapsed: ([\d.]+) s$/m;

/** Reads the replay window out of a server log written with `log_line_prefix = '%n [%p] '`. */
export function parseRecoveryLog(log: string): ReplayRun {
  const starts = REDO_STARTS.exec(log);
  const done = REDO_DONE.exec(log);
  if (!starts || !done) {
    const reason = /redo is not required/.test(log) ? 'there was no WAL to replay' : 'no redo lines in the log';
    throw new StrataError('PS_ERR_IO', `cannot time crash recovery: ${reason}`);
  }
  const startMilliseconds = Math.round(Number(starts[1]) * 1000);
  const doneMilliseconds = Math.round(Number(done[1]) * 1000);
  const postgresElapsedSeconds = Number(done[3]);
  assert(doneMilliseconds >= startMilliseconds, 'redo is done after it starts');
  // A replay shorter than the log clock's millisecond falls back to PostgreSQL's own elapsed time.
  const seconds = Math.max(doneMilliseconds - startMilliseconds, 0) / 1000 || postgresElapsedSeconds;
  if (!(seconds > 0)) throw new StrataError('PS_ERR_IO', 'crash recovery was too short to time: use a larger workload');
  return { seconds, postgresElapsedSeconds, redoStart: parseLsn(starts[2]!), redoDoneAt: parseLsn(done[2]!) };
}
