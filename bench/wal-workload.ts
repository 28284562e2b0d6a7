/**
 * A real pgbench WAL workload for benchmarks: the WAL PostgreSQL itself writes, crash-stopped, so
 * the same byte range can be replayed by PostgreSQL's crash recovery and by Strata's decoder and
 * ingest. Comparing against PostgreSQL on the same WAL, in the same run, on the same machine is the
 * only reference that survives noisy CI machines: the ratio is stable even when absolute numbers
 * are not.
 *
 * Method (see /work/shared/postgres-facts.md, "PostgreSQL's own replay speed"):
 *
 *   initdb ─► pgbench -i -s S ─► CHECKPOINT ─► pgbench -T T -c C ─► pg_ctl stop -m immediate
 *                                  │ redo LSN = startLsn                 │ end of valid WAL = endLsn
 *
 * The range [startLsn, endLsn) is exactly what crash recovery replays: it starts at the redo point
 * of the last checkpoint (read back from pg_controldata after the crash, so a stray checkpoint
 * during the run cannot shift the range unnoticed) and stops where the WAL reader finds no valid
 * record. endLsn is found the same way recovery finds it: pg_waldump reads from startLsn until its
 * reader fails, reports the start of the last good record, and we add that record's length
 * (crossing page headers) to get the first byte after it.
 *
 * Checkpoints are pushed out of the run (checkpoint_timeout 1h, max_wal_size 16GB) so that the
 * whole pgbench run lies inside the replayed range.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assert } from '../src/assert.js';
import { StrataError } from '../src/errors.js';
import { formatLsn, parseLsn, WAL_SEGMENT_SIZE, XLOG_BLCKSZ, type Lsn } from '../src/lsn.js';
import type { Logger } from '../src/observability/log.js';
import { PG_BIN, PostgresCluster, runPg } from '../test/helpers/postgres.js';

const execFileAsync = promisify(execFile);

/** XLogLongPageHeaderData: the first page of every segment. */
const LONG_PAGE_HEADER_BYTES = 40;
/** XLogPageHeaderData: every other page (MAXALIGN'd to 24 bytes). */
const SHORT_PAGE_HEADER_BYTES = 24;
/** pg_waldump output can be large (a text line per record); reads here are bounded. */
const WALDUMP_OUTPUT_BYTES_MAX = 64 * 1024 * 1024;

export interface WalWorkloadOptions {
  /** pgbench scale factor (`-s`). */
  scale: number;
  /** pgbench duration (`-T`). */
  seconds: number;
  /** pgbench client count (`-c`); threads are min(2, clients). */
  clients: number;
  /** Extra postgresql.conf lines; they override this module's defaults. */
  settings?: Record<string, string | number>;
  logger?: Logger;
}

export interface WalWorkload {
  /** The crashed cluster (stopped by `pg_ctl stop -m immediate`); do not start it. */
  cluster: PostgresCluster;
  dataDirectory: string;
  walDirectory: string;
  /** Redo point of the last checkpoint: where crash recovery starts. */
  startLsn: Lsn;
  /** First byte after the last valid record: where crash recovery stops. */
  endLsn: Lsn;
  /** Start of the last valid record (PostgreSQL prints it as `redo done at`). */
  lastRecordLsn: Lsn;
  walBytes: number;
  /** Records in [startLsn, endLsn) as counted by pg_waldump. */
  recordCount: number;
  /** Transactions pgbench reports as processed. */
  transactions: number;
  /** pg_current_wal_lsn() read just before the immediate stop (a cross-check only). */
  lastWrittenLsn: Lsn;
  destroy(): Promise<void>;
}

/** What pg_waldump printed and how it exited; it exits 1 when it reaches the end of valid WAL. */
interface WaldumpOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs pg_waldump (it needs no particular user) and never throws on a non-zero exit. */
export async function runWaldump(args: string[]): Promise<WaldumpOutput> {
  assert(args.length > 0, 'pg_waldump needs arguments');
  try {
    const result = await execFileAsync(join(PG_BIN, 'pg_waldump'), args, {
      maxBuffer: WALDUMP_OUTPUT_BYTES_MAX,
      timeout: 600_000,
    });
    return { stdout: result.stdout, stderr: result.stderr, exitCode: 0 };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; code?: unknown };
    if (typeof failure.code !== 'number') throw error;
    return { stdout: failure.stdout ?? '', stderr: failure.stderr ?? '', exitCode: failure.code };
  }
}

/**
 * The LSN of the first byte after a record that starts at `recordLsn` and is `totalLength` bytes
 * long (xl_tot_len), skipping the page headers the record crosses.
 */
export function recordEndLsn(recordLsn: Lsn, totalLength: number): Lsn {
  assert(recordLsn % XLOG_BLCKSZ !== 0, 'a record never starts on a page boundary');
  assert(totalLength >= 24, 'a record is at least its 24-byte header');
  let position = recordLsn;
  let remaining = totalLength;
  while (remaining > 0) {
    if (position % XLOG_BLCKSZ === 0) {
      position += position % WAL_SEGMENT_SIZE === 0 ? LONG_PAGE_HEADER_BYTES : SHORT_PAGE_HEADER_BYTES;
    }
    const taken = Math.min(remaining, XLOG_BLCKSZ - (position % XLOG_BLCKSZ));
    position += taken;
    remaining -= taken;
  }
  return position;
}

/** Parses the `Total  N` line of `pg_waldump --stats`. */
export function parseWaldumpStatsTotal(stdout: string): number {
  const match = /^Total\s+(\d+)\s/m.exec(stdout);
  if (!match) throw new StrataError('PS_ERR_IO', 'pg_waldump --stats printed no Total line');
  return Number(match[1]);
}

/** Number of records wholly inside [startLsn, endLsn), counted by pg_waldump --stats. */
export async function countWalRecords(walDirectory: string, startLsn: Lsn, endLsn: Lsn): Promise<number> {
  assert(endLsn > startLsn, 'an empty WAL range has no records to count');
  const output = await runWaldump([
    '-p', walDirectory, '-s', formatLsn(startLsn), '-e', formatLsn(endLsn), '--stats',
  ]);
  if (output.exitCode !== 0) {
    const range = `${formatLsn(startLsn)}..${formatLsn(endLsn)}`;
    throw new StrataError('PS_ERR_IO', `pg_waldump failed on ${range}: ${output.stderr.trim()}`);
  }
  return parseWaldumpStatsTotal(output.stdout);
}

/**
 * Finds where valid WAL ends after `startLsn`, the way crash recovery does: read until the WAL
 * reader fails. Returns the last valid record's start and its EndRecPtr (the first byte after it,
 * rounded up to MAXALIGN, as PostgreSQL's reader and Strata's decoder give a record's end).
 */
export async function findWalEnd(walDirectory: string, startLsn: Lsn): Promise<{ lastRecordLsn: Lsn; endLsn: Lsn }> {
  const scan = await runWaldump(['-p', walDirectory, '-s', formatLsn(startLsn), '--quiet']);
  const failure = /error in WAL record at ([0-9A-F]+\/[0-9A-F]+)/.exec(scan.stderr);
  if (!failure) {
    throw new StrataError('PS_ERR_IO', `pg_waldump did not report the end of WAL: ${scan.stderr.trim()}`);
  }
  const lastRecordLsn = parseLsn(failure[1]!);
  if (lastRecordLsn < startLsn) {
    throw new StrataError('PS_ERR_IO', `no valid WAL record at ${formatLsn(startLsn)}: ${scan.stderr.trim()}`);
  }
  const endLsn = Math.ceil(recordEndLsn(lastRecordLsn, await recordTotalLength(walDirectory, lastRecordLsn)) / 8) * 8;
  assert(endLsn > lastRecordLsn, 'the WAL end lies after the last record start');
  return { lastRecordLsn, endLsn };
}

/** xl_tot_len of the record at `recordLsn`, from pg_waldump's `len (rec/tot): R/T`. */
async function recordTotalLength(walDirectory: string, recordLsn: Lsn): Promise<number> {
  const output = await runWaldump(['-p', walDirectory, '-s', formatLsn(recordLsn), '-n', '1']);
  const lsnText = formatLsn(recordLsn);
  const line = output.stdout.split('\n').find((text) => text.includes('len (rec/tot)'));
  const length = line ? /len \(rec\/tot\):\s*\d+\/\s*(\d+)/.exec(line) : null;
  if (!line || !length) {
    throw new StrataError('PS_ERR_IO', `pg_waldump could not read the record at ${lsnText}: ${output.stderr.trim()}`);
  }
  const printedLsn = /lsn: ([0-9A-F]+\/[0-9A-F]+)/.exec(line);
  assert(printedLsn !== null, 'pg_waldump prints the record LSN');
  assert(parseLsn(printedLsn[1]!) === recordLsn, 'pg_waldump read the record asked for');
  return Number(length[1]);
}

/** Defaults that keep checkpoints out of the measured run; callers' settings override them. */
function workloadSettings(options: WalWorkloadOptions): Record<string, string | number> {
  return {
    checkpoint_timeout: "'1h'",
    max_wal_size: "'16GB'",
    ...options.settings,
  };
}

/** Runs the workload on a fresh cluster and crash-stops it; see the module header. */
export async function generatePgbenchWal(options: WalWorkloadOptions): Promise<WalWorkload> {
  assert(Number.isInteger(options.scale) && options.scale >= 1, 'pgbench scale is a positive integer');
  assert(options.seconds >= 1 && options.clients >= 1, 'pgbench needs at least one second and one client');
  const cluster = await PostgresCluster.create({ settings: workloadSettings(options) });
  try {
    return await crashAfterPgbench(cluster, options);
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}

async function crashAfterPgbench(cluster: PostgresCluster, options: WalWorkloadOptions): Promise<WalWorkload> {
  const logger = options.logger;
  logger?.info({ scale: options.scale }, 'initialise pgbench tables');
  await cluster.pgbench(['-i', '-q', '-s', String(options.scale)]);
  await cluster.sql('CHECKPOINT');
  const checkpointRedo = parseLsn(await cluster.sql('SELECT redo_lsn FROM pg_control_checkpoint()'));
  logger?.info({ seconds: options.seconds, clients: options.clients }, 'run pgbench');
  const threads = Math.min(2, options.clients);
  const report = await cluster.pgbench(['-T', String(options.seconds), '-c', String(options.clients), '-j', String(threads)]);
  const lastWrittenLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_lsn()'));
  await cluster.stop('immediate');
  const dataDirectory = cluster.dataDirectory;
  const walDirectory = join(dataDirectory, 'pg_wal');
  const startLsn = await controlFileRedoLsn(dataDirectory);
  if (startLsn !== checkpointRedo) {
    logger?.warn({ checkpointRedo: formatLsn(checkpointRedo), startLsn: formatLsn(startLsn) }, 'a checkpoint ran during pgbench');
  }
  const { lastRecordLsn, endLsn } = await findWalEnd(walDirectory, startLsn);
  const recordCount = await countWalRecords(walDirectory, startLsn, endLsn);
  assert(recordCount > 0, 'a pgbench run writes WAL records');
  return {
    cluster, dataDirectory, walDirectory, startLsn, endLsn, lastRecordLsn,
    walBytes: endLsn - startLsn, recordCount, transactions: parseTransactions(report), lastWrittenLsn,
    destroy: () => cluster.destroy(),
  };
}

/** `Latest checkpoint's REDO location` of a stopped cluster. */
async function controlFileRedoLsn(dataDirectory: string): Promise<Lsn> {
  const output = await runPg('pg_controldata', ['-D', dataDirectory]);
  const match = /^Latest checkpoint's REDO location:\s+(\S+)$/m.exec(output.stdout);
  if (!match) throw new StrataError('PS_ERR_IO', `pg_controldata printed no REDO location for ${dataDirectory}`);
  return parseLsn(match[1]!);
}

function parseTransactions(pgbenchReport: string): number {
  const match = /number of transactions actually processed:\s+(\d+)/.exec(pgbenchReport);
  return match ? Number(match[1]) : 0;
}
