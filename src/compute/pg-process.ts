/**
 * How the server drives a compute's PostgreSQL process: pg_ctl start and stop, the postmaster's
 * pid, whether it still lives, the last lines of its log.
 *
 * WHY pg_ctl and not a spawned `postgres`: `pg_ctl start -w` returns only when the server accepts
 * connections (for a hot standby: when it reached a consistent state) or has died, with PostgreSQL's
 * own wait logic, and the postmaster it starts outlives a crash of Strata. That is what lets the
 * registry adopt a running compute after a restart instead of losing it. Liveness is then watched
 * through postmaster.pid, the same file pg_ctl itself reads.
 *
 * WHY `runuser -u postgres` when Strata runs as root: PostgreSQL refuses to run as root, so the
 * data directory is chowned to `postgres` and every PostgreSQL binary is run as that user.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

const execFileAsync = promisify(execFile);

/** The OS user PostgreSQL runs as when Strata itself runs as root. */
export const POSTGRES_USER = 'postgres';

export const runningAsRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

export interface PgToolResult {
  stdout: string;
  stderr: string;
}

/** Runs `<binDirectory>/<tool> args…` (as `postgres` when root); PS_ERR_COMPUTE_FAILED with its stderr on failure. */
export async function runPgTool(binDirectory: string, tool: string, args: readonly string[], options: { cwd: string; timeoutMs: number }): Promise<PgToolResult> {
  assert(options.timeoutMs > 0, 'a PostgreSQL tool runs under a time bound');
  const path = join(binDirectory, tool);
  const [command, fullArgs] = runningAsRoot() ? ['runuser', ['-u', POSTGRES_USER, '--', path, ...args]] : [path, [...args]];
  try {
    const result = await execFileAsync(command, fullArgs, { cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' });
    return { stdout: result.stdout, stderr: result.stderr };
  } catch (error) {
    const failed = error as { stderr?: string; stdout?: string; code?: unknown; killed?: boolean; message?: string };
    const output = `${failed.stderr ?? ''}${failed.stdout ?? ''}`.trim().split('\n').slice(-3).join(' | ');
    const why = failed.killed === true ? `timed out after ${options.timeoutMs} ms` : `exit ${String(failed.code)}`;
    throw new StrataError('PS_ERR_COMPUTE_FAILED', `${tool} ${args.at(-1) ?? ''} failed (${why}): ${output || failed.message}`, { tool });
  }
}

/** `chown -R postgres:postgres path` when root; nothing otherwise. */
export async function chownToPostgres(path: string): Promise<void> {
  if (!runningAsRoot()) return;
  try {
    await execFileAsync('chown', ['-R', `${POSTGRES_USER}:${POSTGRES_USER}`, path]);
  } catch (error) {
    throw new StrataError('PS_ERR_IO', `chown ${path} to ${POSTGRES_USER}: ${(error as Error).message}`, { path });
  }
}

/** The postmaster's pid from `<pgdata>/postmaster.pid` (its first line), or undefined. */
export async function readPostmasterPid(dataDirectory: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDirectory, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n')[0]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether `pid` is a live process, and (where /proc exists) a PostgreSQL one: after a reboot the
 * pid in an old postmaster.pid may belong to anything.
 */
export function postmasterAlive(pid: number, readCommandLine: (pid: number) => string | undefined = procCommandLine): boolean {
  assert(Number.isSafeInteger(pid) && pid > 0, 'a pid is a positive integer');
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const commandLine = readCommandLine(pid);
  return commandLine === undefined || commandLine.includes('postgres');
}

/**
 * `/proc/<pid>/cmdline`, read synchronously on purpose: liveness is checked and acted on without an
 * await in between. undefined where there is no /proc (trust kill(0) alone); '' when the entry
 * vanished (the process just ended).
 */
function procCommandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux' ? '' : undefined;
  }
}

/** The last `lines` lines of a log file (empty when it does not exist). Reads at most 64 KiB. */
export async function readLogTail(path: string, lines: number): Promise<string[]> {
  assert(lines > 0, 'a log tail has at least one line');
  let text: string;
  try {
    const bytes = await readFile(path);
    text = bytes.subarray(Math.max(0, bytes.length - 64 * 1024)).toString('utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((line) => line.trim() !== '').slice(-lines);
}
