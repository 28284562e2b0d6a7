/**
 * `strata bench redo [--workers N] [--runs N] [--decoding thread|first-worker] [--start X/Y] [--end X/Y] [--cpu-prof DIR] FILE…`:
 * replays WAL segment files with Strata's redo (src/walredo/replay-pool.ts) and prints records/s
 * and pages/s of the last run (earlier runs' times are printed as they end);
 * with --cpu-prof, each redo worker writes a CPU profile (.cpuprofile) into DIR, to find where redo
 * spends its time. Unsupported and failed records are printed; the exit status is non-zero when
 * any record failed.
 */
import { mkdir } from 'node:fs/promises';
import { StrataError } from '../errors.js';
import { parseLsn } from '../lsn.js';
import { ReplayPool, type ReplayDecoding, type ReplayResult } from '../walredo/replay-pool.js';

export interface BenchRedoOptions {
  workers?: string;
  runs?: string;
  decoding?: string;
  start?: string;
  end?: string;
  cpuProf?: string;
}

export async function benchRedo(files: string[], options: BenchRedoOptions): Promise<number> {
  const workers = options.workers === undefined ? 1 : Number(options.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new StrataError('PS_ERR_BAD_REQUEST', `--workers must be 1..64, got '${options.workers}'`);
  const runs = options.runs === undefined ? 1 : Number(options.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new StrataError('PS_ERR_BAD_REQUEST', `--runs must be 1..100, got '${options.runs}'`);
  if (options.cpuProf !== undefined) await mkdir(options.cpuProf, { recursive: true });
  // Runs share one pool of threads, as the server's redo workers outlive their requests: later
  // runs show the warm rate (compiled code, page memory reused).
  if (options.decoding !== undefined && options.decoding !== 'thread' && options.decoding !== 'first-worker') {
    throw new StrataError('PS_ERR_BAD_REQUEST', `--decoding must be thread or first-worker, got '${options.decoding}'`);
  }
  const pool = new ReplayPool(workers, options.decoding as ReplayDecoding | undefined);
  const range = {
    ...(options.start === undefined ? {} : { startLsn: parseLsn(options.start) }),
    ...(options.end === undefined ? {} : { endLsn: parseLsn(options.end) }),
    ...(options.cpuProf === undefined ? {} : { cpuProfileDirectory: options.cpuProf }),
  };
  let result: ReplayResult;
  const profiles: string[] = [];
  try {
    result = await pool.replay(files, range);
    profiles.push(...result.profiles);
    for (let run = 2; run <= runs; run++) {
      process.stdout.write(`run ${run - 1}: seconds=${result.seconds.toFixed(3)}\n`);
      result = await pool.replay(files, range);
      profiles.push(...result.profiles);
    }
  } finally {
    await pool.close();
  }
  const unsupported: Record<string, number> = {};
  let failed = 0;
  for (const { stats } of result.workers) {
    for (const [name, count] of Object.entries(stats.unsupported)) unsupported[name] = (unsupported[name] ?? 0) + count;
    failed += stats.failed;
  }
  process.stdout.write(`records=${result.records} pages=${result.pages} seconds=${result.seconds.toFixed(3)} ` +
    `recordsPerSecond=${Math.round(result.records / result.seconds)} pagesPerSecond=${Math.round(result.pages / result.seconds)} workers=${workers} decoding=${pool.decoding}\n`);
  for (const [index, worker] of result.workers.entries()) {
    process.stdout.write(`worker ${index}: busy=${worker.busySeconds.toFixed(3)}s pages=${worker.stats.pages} restored=${worker.stats.restored} redone=${worker.stats.redone} noBase=${worker.stats.noBase} failed=${worker.stats.failed}${worker.stats.firstFailure === undefined ? '' : ` first failure: ${worker.stats.firstFailure}`}\n`);
  }
  if (Object.keys(unsupported).length > 0) process.stdout.write(`unsupported: ${Object.entries(unsupported).map(([name, count]) => `${name}=${count}`).join(' ')}\n`);
  for (const profile of profiles) process.stdout.write(`cpu profile: ${profile}\n`);
  return failed > 0 ? 1 : 0;
}
