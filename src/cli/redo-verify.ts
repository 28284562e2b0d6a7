/**
 * `strata redo verify [--start X/Y] [--end X/Y] [--rmgr NAME]… [--allow-unsupported] FILE|DIR…`:
 * checks Strata's redo against WAL written with `wal_consistency_checking = all`
 * (src/walredo/verify.ts) and prints one line per record type, then every mismatch kept.
 *
 * WHY a command: redo authors run it on the oracle WAL after every change; the exit status makes
 * it usable in scripts: 1 on any mismatch or redo failure, and on unsupported record types unless
 * --allow-unsupported (while redo modules are still being written).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLsn } from '../lsn.js';
import { RMGR_NAMES } from '../wal/types.js';
import { format, verifyPassed, verifyWalFiles, type VerifyOptions } from '../walredo/verify.js';
import { CliFailure } from './client.js';
import { writeStdout } from './commands.js';

export interface RedoVerifyOptions {
  start?: string;
  end?: string;
  rmgr?: string[];
  allowUnsupported?: boolean;
  pagesMax?: string;
}

const SEGMENT_NAME = /^[0-9A-F]{24}(\.partial)?$/;

function usage(message: string): CliFailure {
  return new CliFailure(message, 'usage', 2);
}

/** Resource manager names (pg_waldump spelling, any case) to ids. */
export function parseRmgrNames(names: readonly string[]): Set<number> {
  const ids = new Set<number>();
  for (const name of names) {
    const id = RMGR_NAMES.findIndex((known) => known.toLowerCase() === name.toLowerCase());
    if (id < 0) throw usage(`unknown resource manager '${name}' (known: ${RMGR_NAMES.join(', ')})`);
    ids.add(id);
  }
  return ids;
}

/** Files as given; a directory stands for the WAL segment files in it. */
async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    if (!(await stat(path)).isDirectory()) {
      files.push(path);
      continue;
    }
    for (const name of (await readdir(path)).sort()) if (SEGMENT_NAME.test(name)) files.push(join(path, name));
  }
  if (files.length === 0) throw usage('no WAL segment files given');
  return files;
}

function verifyOptions(options: RedoVerifyOptions): VerifyOptions {
  const result: VerifyOptions = {};
  if (options.start !== undefined) result.startLsn = parseLsn(options.start);
  if (options.end !== undefined) result.endLsn = parseLsn(options.end);
  if (options.rmgr !== undefined && options.rmgr.length > 0) result.rmgrs = parseRmgrNames(options.rmgr);
  if (options.pagesMax !== undefined) {
    const pagesMax = Number(options.pagesMax);
    if (!Number.isInteger(pagesMax) || pagesMax < 1) throw usage('--pages-max must be a positive integer');
    result.pagesMax = pagesMax;
  }
  return result;
}

export async function redoVerify(paths: string[], options: RedoVerifyOptions): Promise<void> {
  const files = await expandPaths(paths);
  const started = performance.now();
  const report = await verifyWalFiles(files, verifyOptions(options));
  const seconds = (performance.now() - started) / 1000;
  await writeStdout(`${format(report)}verified ${report.records} records in ${seconds.toFixed(1)} s\n`);
  if (!verifyPassed(report, { allowUnsupported: options.allowUnsupported === true })) {
    process.stderr.write(`strata: redo verify: ${report.mismatches} mismatches, ${report.failed} failed, ${report.unsupported} unsupported\n`);
    process.exitCode = 1;
  }
}
