/**
 * `strata bench redo [--workers N] [--start X/Y] [--end X/Y] [--cpu-prof DIR] FILE…`: replays WAL
 * segment files with Strata's redo (src/walredo/replay-pool.ts) and prints records/s and pages/s;
 * with --cpu-prof, each redo worker writes a CPU profile (.cpuprofile) into DIR, to find where redo
 * spends its time. Unsupported and failed records are printed; the exit status is non-zero when
 * any record failed.
 */
import { mkdir } from 'node:fs/promises';
import { parseLsn } from '../lsn.js';
import { replayWalFiles } from '../walredo/replay-pool.js';

export interface BenchRedoOptions {
  workers?: string;
  start?: string;
  end?: string;
  cpuProf?: string;
}

export async function benchRedo(files: string[], options: BenchRedoOptions): Promise<number> {
  const workers = options.workers === undefined ? 1 : Number(options.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error(`--workers must be 1..64, got '${options.workers}'`);
  if (options.cpuProf !== undefined) await mkdir(options.cpuProf, { recursive: true });
  const result = await replayWalFiles(files, {
    workers,
    ...(options.start === undefined ? {} : { startLsn: parseLsn(options.start) }),
    ...(options.end === undefined ? {} : { endLsn: parseLsn(options.end) }),
    ...(options.cpuProf === undefined ? {} : { cpuProfileDirectory: options.cpuProf }),
  });
  const unsupported: Record<string, number> = {};
  let failed = 0;
  for (const { stats } of result.workers) {
    for (const [name, count] of Object.entries(stats.unsupported)) unsupported[name] = (unsupported[name] ?? 0) + count;
    failed += stats.failed;
  }
  process.stdout.write(`records=${result.records} pages=${result.pages} seconds=${result.seconds.toFixed(3)} ` +
    `recordsPerSecond=${Math.round(result.records / result.seconds)} pagesPerSecond=${Math.round(result.pages / result.seconds)} workers=${workers}\n`);
  for (const [index, worker] of result.workers.entries()) {
    process.stdout.write(`worker ${index}: busy=${worker.busySeconds.toFixed(3)}s pages=${worker.stats.pages} restored=${worker.stats.restored} redone=${worker.stats.redone} noBase=${worker.stats.noBase} failed=${worker.stats.failed}${worker.stats.firstFailure === undefined ? '' : ` first failure: ${worker.stats.firstFailure}`}\n`);
  }
  if (Object.keys(unsupported).length > 0) process.stdout.write(`unsupported: ${Object.entries(unsupported).map(([name, count]) => `${name}=${count}`).join(' ')}\n`);
  for (const profile of result.profiles) process.stdout.write(`cpu profile: ${profile}\n`);
  return failed > 0 ? 1 : 0;
}
