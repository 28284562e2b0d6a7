/**
 * The configuration Strata writes into a compute's data directory before PostgreSQL starts on it.
 *
 * WHY Strata replaces the configuration files instead of appending to them: a full backup brings
 * whatever the primary had (its port, archive_command, shared_preload_libraries of extensions this
 * machine may not have, primary_conninfo in postgresql.auto.conf). None of it describes the
 * compute, and any of it can stop it from starting or make it reach out to the primary. So
 * postgresql.conf, postgresql.auto.conf and pg_hba.conf are Strata's alone:
 *
 *   postgresql.conf       port, listen 127.0.0.1, sockets in the compute directory, small memory,
 *                         hot_standby = on, no primary_conninfo / restore_command, and the
 *                         settings a hot standby may not run below (max_connections,
 *                         max_worker_processes, max_wal_senders, max_prepared_transactions,
 *                         max_locks_per_transaction) at least what pg_control says the primary used
 *   postgresql.auto.conf  emptied (ALTER SYSTEM on a standby is refused anyway)
 *   pg_hba.conf           trust on the local socket and 127.0.0.1 (plus replication lines)
 *   standby.signal        present (read-only: a standby that never advances); recovery.signal removed
 *
 * WHY plain writes and not writeFileCrashSafe: these files live in a data directory that exists
 * only while the compute is Starting or Running. After a crash the registry reconciles such a
 * compute to Stopped and deletes the directory, so a torn config file is never read.
 *
 * The text builders are pure (unit-tested); `writeComputeConfig` does the I/O.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../assert.js';
import { controlFileSettings, type ControlFileSettings, type HotStandbyParameters } from '../ingest/control-file.js';
import type { ComputeMode } from './compute-registry-file.js';
import { StrataError } from '../errors.js';

/** Longest Unix socket path (sun_path is 108 bytes with its NUL on Linux). */
const UNIX_SOCKET_PATH_BYTES_MAX = 107;

/** A compute's own floor for the hot-standby settings: a small machine, a few clients. */
export const COMPUTE_PARAMETER_FLOOR: HotStandbyParameters = {
  maxConnections: 20,
  maxWorkerProcesses: 8,
  maxWalSenders: 0,
  maxPreparedTransactions: 0,
  maxLocksPerTransaction: 64,
};

export interface ComputeConfigOptions {
  computeId: string;
  port: number;
  /** Directory for the Unix socket; undefined: TCP only (the path would be too long). */
  socketDirectory: string | undefined;
  /** What pg_control says the primary ran with. */
  primary: ControlFileSettings;
  /** read-only: a hot standby that never advances; branch: a primary whose WAL Strata streams. */
  mode?: ComputeMode;
  sharedBuffers?: string;
}

/** Quotes a value for postgresql.conf ('' doubles a quote). */
function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The socket directory to use, or undefined when `.s.PGSQL.<port>` under it would be too long. */
export function socketDirectoryFor(directory: string, port: number): string | undefined {
  return Buffer.byteLength(join(directory, `.s.PGSQL.${port}`)) <= UNIX_SOCKET_PATH_BYTES_MAX ? directory : undefined;
}

export function postgresqlConf(options: ComputeConfigOptions): string {
  assert(Number.isInteger(options.port) && options.port > 0 && options.port <= 65_535, 'a compute port is 1..65535');
  const at = (primary: number, floor: number) => Math.max(primary, floor);
  const floor = COMPUTE_PARAMETER_FLOOR;
  const settings: Array<[string, string | number]> = [
    ['port', options.port],
    ['listen_addresses', quote('127.0.0.1')],
    ['unix_socket_directories', quote(options.socketDirectory ?? '')],
    ['cluster_name', quote(`strata-${options.computeId.slice(0, 12)}`)],
    ['hot_standby', 'on'],
    ...(options.mode === 'branch' ? [
      // Strata follows this server over physical replication, as it follows any primary.
      ['wal_level', options.primary.walLevel === 'logical' ? 'logical' : 'replica'],
      ['wal_log_hints', options.primary.walLogHints ? 'on' : 'off'],
      ['max_replication_slots', 4],
    ] as Array<[string, string | number]> : []),
    ['primary_conninfo', quote('')],
    ['restore_command', quote('')],
    ['archive_mode', 'off'],
    ['hot_standby_feedback', 'off'],
    ['shared_preload_libraries', quote('')],
    ['shared_buffers', options.sharedBuffers ?? '32MB'],
    ['max_connections', at(options.primary.maxConnections, floor.maxConnections)],
    ['max_worker_processes', at(options.primary.maxWorkerProcesses, floor.maxWorkerProcesses)],
    ['max_wal_senders', at(options.primary.maxWalSenders, options.mode === 'branch' ? 4 : floor.maxWalSenders)],
    ['max_prepared_transactions', at(options.primary.maxPreparedTransactions, floor.maxPreparedTransactions)],
    ['max_locks_per_transaction', at(options.primary.maxLocksPerTransaction, floor.maxLocksPerTransaction)],
    ['logging_collector', 'off'],
    ['log_destination', quote('stderr')],
  ];
  const lines = settings.map(([key, value]) => `${key} = ${value}`);
  const what = options.mode === 'branch' ? 'a writable branch, its WAL streamed to Strata' : 'a read-only hot standby';
  return `# Written by Strata for compute ${options.computeId}: ${what}. Do not edit.\n${lines.join('\n')}\n`;
}

export function pgHbaConf(): string {
  return [
    '# Written by Strata: computes listen on loopback only and trust it.',
    'local   all          all                  trust',
    'host    all          all   127.0.0.1/32   trust',
    'local   replication  all                  trust',
    'host    replication  all   127.0.0.1/32   trust',
    '',
  ].join('\n');
}

/** Reads the primary's hot-standby settings from `<pgdata>/global/pg_control`. */
export async function readPrimaryParameters(dataDirectory: string): Promise<ControlFileSettings> {
  const path = join(dataDirectory, 'global', 'pg_control');
  let control: Buffer;
  try {
    control = await readFile(path);
  } catch (error) {
    throw new StrataError('PS_ERR_IO', `read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { path });
  }
  const parameters = controlFileSettings(control);
  assert(parameters.maxConnections > 0, 'pg_control records a positive max_connections');
  return parameters;
}

/** Writes Strata's configuration files into `dataDirectory` (see the header). */
export async function writeComputeConfig(dataDirectory: string, options: Omit<ComputeConfigOptions, 'primary'>): Promise<void> {
  const primary = await readPrimaryParameters(dataDirectory);
  await writeFile(join(dataDirectory, 'postgresql.conf'), postgresqlConf({ ...options, primary }), { mode: 0o600 });
  await writeFile(join(dataDirectory, 'postgresql.auto.conf'), '# Emptied by Strata: a compute takes its settings from postgresql.conf only.\n', { mode: 0o600 });
  await writeFile(join(dataDirectory, 'pg_hba.conf'), pgHbaConf(), { mode: 0o600 });
  await writeFile(join(dataDirectory, 'pg_ident.conf'), '', { mode: 0o600, flag: 'a' });
  if (options.mode === 'branch') await rm(join(dataDirectory, 'standby.signal'), { force: true });
  else await writeFile(join(dataDirectory, 'standby.signal'), '', { mode: 0o600 });
  for (const stale of ['recovery.signal', 'postmaster.pid', 'postmaster.opts']) await rm(join(dataDirectory, stale), { force: true });
}
