/**
 * Test helper: makes real PostgreSQL 15 WAL written with `wal_consistency_checking = all`, the
 * oracle of the redo verifier (src/walredo/verify.ts): every record carries, for each page it
 * touched, the page as PostgreSQL left it.
 *
 * WHY small: with consistency checking every block reference carries a full 8 KiB image, so WAL
 * grows by ~8 KiB per touched page per record (the full broad workload writes ~1 GB). The default
 * workload is pgbench at scale 1 (initialization plus a 2-second run) and a reduced variant of
 * the broad workload (test/fixtures/broad-workload.sql with bw_scale 1: a quarter of the rows), which
 * keeps the WAL to a few hundred MB and its verification well under a minute.
 *
 * The caller owns the returned cluster and must `destroy()` it in a finally block; the cluster is
 * stopped on return, so the segment files are stable while they are read.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLsn, WAL_SEGMENT_SIZE } from '../../src/lsn.js';
import type { Lsn } from '../../src/lsn.js';
import { parseWalFileName } from '../../src/wal/segment-reader.js';
import { PostgresCluster } from './postgres.js';

/** Settings that make the oracle WAL (as /work/briefs/make-cwal.mjs used). */
export const CONSISTENCY_SETTINGS: Record<string, string | number> = {
  wal_level: 'logical',
  wal_log_hints: 'on',
  track_commit_timestamp: 'on',
  max_prepared_transactions: 4,
  wal_keep_size: "'2GB'",
  max_wal_size: "'2GB'",
  autovacuum: 'off',
  wal_consistency_checking: "'all'",
};

export interface ConsistencyWalOptions {
  /** pgbench -T seconds after `pgbench -i -s 1`; 0 skips pgbench entirely. Default 2. */
  pgbenchSeconds?: number;
  /** SQL script run after pgbench; default test/fixtures/broad-workload.sql at bw_scale 1. '' runs none. */
  script?: string;
}

export interface ConsistencyWal {
  readonly cluster: PostgresCluster;
  /** The segment files holding [startLsn, endLsn], in order. */
  readonly walFiles: string[];
  readonly startLsn: Lsn;
  readonly endLsn: Lsn;
}

/** Path of a file under test/fixtures (the compiled helper lives in dist/test/helpers). */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
}

/** Segment files of `directory` that hold any WAL in [startLsn, endLsn]. */
export async function segmentFilesBetween(directory: string, startLsn: Lsn, endLsn: Lsn): Promise<string[]> {
  const names = (await readdir(directory)).filter((name) => /^[0-9A-F]{24}$/.test(name)).sort();
  return names.map((name) => parseWalFileName(join(directory, name)))
    .filter((segment) => segment.startLsn <= endLsn && segment.startLsn + WAL_SEGMENT_SIZE > startLsn)
    .map((segment) => segment.path);
}

async function runWorkload(cluster: PostgresCluster, options: ConsistencyWalOptions): Promise<void> {
  const seconds = options.pgbenchSeconds ?? 2;
  if (seconds > 0) {
    await cluster.pgbench(['-i', '-s', '1', '-q']);
    await cluster.pgbench(['-T', String(seconds), '-c', '2', '-j', '2']);
  }
  const script = options.script ?? `\\set bw_scale 1\n${await readFile(fixturePath('broad-workload.sql'), 'utf8')}`;
  if (script !== '') await cluster.script(script);
}

/** Starts PostgreSQL with consistency checking, runs the workload, and stops it; see the header. */
export async function createConsistencyWal(options: ConsistencyWalOptions = {}): Promise<ConsistencyWal> {
  const cluster = await PostgresCluster.create({ settings: CONSISTENCY_SETTINGS });
  try {
    await cluster.sql('CHECKPOINT');
    const startLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    await runWorkload(cluster, options);
    await cluster.sql('CHECKPOINT');
    const endLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    await cluster.sql('SELECT pg_switch_wal()');
    await cluster.stop('fast');
    const walFiles = await segmentFilesBetween(join(cluster.dataDirectory, 'pg_wal'), startLsn, endLsn);
    return { cluster, walFiles, startLsn, endLsn };
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}
