/**
 * Time to a queryable server in the past (issue 11 §4): Strata's compute against pgBackRest
 * restoring the same primary to the same targets, in the same run.
 *
 *   pgbench -i (scale S) ─► pgBackRest full backup + WAL archive (archive_command = archive-push)
 *                       └─► Strata attaches (from_primary)
 *   pgbench for M minutes; at 20%, 50% and 90% of it record (LSN, time, results) under a lock on
 *   the pgbench tables (no transaction half-visible)
 *   then, per target, in turns (pgBackRest first, then Strata; the turns alternate per target):
 *     pgBackRest: restore --type=time --target=T --target-action=promote into a new directory,
 *                 pg_ctl start, poll until it is out of recovery, run the query
 *     Strata:     POST /v1/compute {time: T}, run the query on it
 *   each measured from the command to the first correct answer (the recorded results).
 *
 * Strata runs with smaller layers than its defaults (TENANT_CONFIG: 64 MiB L0 files, compaction at
 * 4 of them, images where 2 deltas pile up): what bounds the records a page in the past needs is
 * how often image layers are written, and a 5-minute history at the defaults (256 MiB, 10 L0
 * files) would not reach its first compaction.
 *
 * The results are `count(pgbench_history) sum(abalance)`: cheap at scale 50, and every pgbench
 * transaction changes both. Defaults follow the issue (scale 50, 5 minutes); STRATA_BENCH_PITR_SCALE
 * and STRATA_BENCH_PITR_SECONDS shrink them (--quick: scale 1, 30 s). pgBackRest comes from Debian
 * (`apt-get install pgbackrest`); without it the benchmark is skipped with that reason.
 */
import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assert } from '../../src/assert.js';
import { parseLsn } from '../../src/lsn.js';
import type { Logger } from '../../src/observability/log.js';
import type { ComputeStartReply } from '../../src/compute/compute-manager.js';
import type { TimelineInfo } from '../../src/timeline/timeline-info.js';
import { freePort, PostgresCluster, runPg, spawnPg } from '../../test/helpers/postgres.js';
import { eventually, startTestServer } from '../../test/helpers/strata-server.js';
import { captureMoment } from '../../test/helpers/moments.js';

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const STANZA = 'strata-bench';
/** Strata's tenant settings for the run (shown in the results). */
export const TENANT_CONFIG = { checkpoint_distance: '64MiB', compaction_threshold: 4, image_creation_threshold: 2, compaction_period: '10s' } as const;
const RESULTS_SQL = "SELECT (SELECT count(*) FROM pgbench_history) || ' ' || (SELECT sum(abalance) FROM pgbench_accounts)";

export interface PitrOptions {
  scale: number;
  seconds: number;
  logger: Logger;
}

export interface PitrTarget {
  /** Share of the pgbench run at which it was taken. */
  at: number;
  lsn: string;
  time: string;
  results: string;
  pgbackrestSeconds: number;
  strataSeconds: number;
  /** Strata's compute start, as it reported it. */
  strataStartupMs: ComputeStartReply['startup_ms'];
  strataLsn: string;
}

export interface PitrResult {
  scale: number;
  seconds: number;
  databaseBytes: number;
  walBytes: number;
  targets: PitrTarget[];
}

async function pgbackrestAvailable(): Promise<boolean> {
  try {
    await execFileAsync('pgbackrest', ['version']);
    return true;
  } catch {
    return false;
  }
}

async function asPostgres(command: string, args: string[], timeoutMs = 1_800_000): Promise<string> {
  const [file, fullArgs] = isRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  const result = await execFileAsync(file, fullArgs, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, cwd: '/tmp' });
  return result.stdout;
}

async function psqlAt(port: number, sql: string): Promise<string> {
  return (await runPg('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql])).stdout.trim();
}

async function capture(primary: PostgresCluster, at: number): Promise<Omit<PitrTarget, 'pgbackrestSeconds' | 'strataSeconds' | 'strataStartupMs' | 'strataLsn'>> {
  return { at, ...await captureMoment(primary, RESULTS_SQL) };
}

/** pgBackRest restore to `time` into a fresh directory, start, wait for promotion, query: seconds to the answer. */
async function pgbackrestTurn(configPath: string, scratch: string, target: { time: string; results: string }, index: number): Promise<number> {
  const directory = join(scratch, `restore-${index}`);
  const port = await freePort();
  const dataDirectory = join(directory, 'data');
  await execFileAsync('mkdir', ['-p', directory]);
  await chmod(directory, 0o777);
  const started = performance.now();
  await asPostgres('pgbackrest', [`--config=${configPath}`, `--stanza=${STANZA}`, `--pg1-path=${dataDirectory}`, '--type=time',
    `--target=${target.time.replace('T', ' ').replace('Z', '+00')}`, '--target-action=promote', '--delta', 'restore']);
  // pgBackRest wrote restore_command, recovery_target_time/action and recovery.signal; the rest is ours.
  await appendFile(join(dataDirectory, 'postgresql.auto.conf'), `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${directory}'\narchive_mode = off\n`);
  if (isRoot) await execFileAsync('chown', ['-R', 'postgres:postgres', directory]);
  await runPg('pg_ctl', ['-D', dataDirectory, '-l', join(directory, 'postgres.log'), '-w', '-t', '1800', 'start'], { timeoutMs: 1_900_000 });
  try {
    await eventually(async () => ((await psqlAt(port, 'SELECT pg_is_in_recovery()').catch(() => 't')) === 'f' ? true : undefined), 1_800_000, 'pgBackRest restore promoted');
    const answer = await psqlAt(port, RESULTS_SQL);
    const seconds = (performance.now() - started) / 1000;
    assert(answer === target.results, `pgBackRest at ${target.time}: ${answer}, recorded ${target.results}`);
    return seconds;
  } finally {
    await runPg('pg_ctl', ['-D', dataDirectory, '-w', '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  }
}

export async function runPitr(options: PitrOptions): Promise<PitrResult | { skipped: string }> {
  if (!(await pgbackrestAvailable())) return { skipped: 'pgbackrest is not installed (apt-get install pgbackrest)' };
  const scratch = await mkdtemp(join(tmpdir(), 'strata-pitr-bench-'));
  await chmod(scratch, 0o777);
  const repository = join(scratch, 'repo');
  const configPath = join(scratch, 'pgbackrest.conf');
  await execFileAsync('mkdir', ['-p', repository, join(scratch, 'log'), join(scratch, 'spool')]);
  if (isRoot) await execFileAsync('chown', ['-R', 'postgres:postgres', scratch]);
  const primary = await PostgresCluster.create({
    settings: {
      archive_mode: 'on', archive_command: `'pgbackrest --config=${configPath} --stanza=${STANZA} archive-push %p'`,
      synchronous_commit: 'on',
    },
  });
  const server = await startTestServer({ allowLogs: [/./] });
  try {
    await writeFile(configPath, [
      '[global]', `repo1-path=${repository}`, 'repo1-retention-full=1', `log-path=${join(scratch, 'log')}`, `spool-path=${join(scratch, 'spool')}`,
      'log-level-console=warn', 'compress-type=none', 'process-max=2', 'start-fast=y', 'archive-async=n',
      `[${STANZA}]`, `pg1-path=${primary.dataDirectory}`, `pg1-port=${primary.port}`, `pg1-socket-path=${primary.directory}`, '',
    ].join('\n'));
    await chmod(configPath, 0o644);
    options.logger.info({ scale: options.scale }, 'pitr bench: pgbench -i');
    await primary.pgbench(['-i', '-s', String(options.scale), '-q']);
    await asPostgres('pgbackrest', [`--config=${configPath}`, `--stanza=${STANZA}`, 'stanza-create']);
    options.logger.info('pitr bench: pgBackRest full backup');
    await asPostgres('pgbackrest', [`--config=${configPath}`, `--stanza=${STANZA}`, '--type=full', 'backup']);
    // Layers small enough that compaction writes image layers during the history: a read in the
    // past then starts from an image near it instead of applying the WAL since the base backup.
    const tenant = await server.post<{ id: string }>('/v1/tenant', { config: TENANT_CONFIG });
    options.logger.info('pitr bench: Strata attaches');
    const timeline = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: primary.connectionString() });
    const databaseBytes = Number(await primary.sql('SELECT pg_database_size(current_database())'));
    const startLsn = await primary.sql('SELECT pg_current_wal_insert_lsn()');

    options.logger.info({ seconds: options.seconds }, 'pitr bench: pgbench history');
    const load = spawnPg('pgbench', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-c', '4', '-j', '2', '-T', String(options.seconds), '-n', 'postgres']);
    const loadDone = new Promise<number | null>((resolve) => load.on('close', resolve));
    const began = performance.now();
    const captured: Awaited<ReturnType<typeof capture>>[] = [];
    for (const at of [0.2, 0.5, 0.9]) {
      const wait = began + at * options.seconds * 1000 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      captured.push(await capture(primary, at));
    }
    assert(await loadDone === 0, 'pgbench ran to its end');
    const endLsn = await primary.sql('SELECT pg_current_wal_insert_lsn()');
    await primary.sql('SELECT pg_switch_wal()');
    await primary.sql('CHECKPOINT');
    // Every segment up to the end archived, so pgBackRest can reach every target.
    const endSegment = await primary.sql(`SELECT pg_walfile_name('${endLsn}')`);
    await eventually(async () => ((await primary.sql('SELECT last_archived_wal FROM pg_stat_archiver')) >= endSegment ? true : undefined), 300_000, 'WAL archived');
    const base = `/v1/tenant/${tenant.id}/timeline/${timeline.timeline_id}`;
    await eventually(async () => (parseLsn((await server.get<TimelineInfo>(base)).last_record_lsn) >= parseLsn(endLsn) ? true : undefined), 600_000, 'Strata caught up');

    const targets: PitrTarget[] = [];
    for (const [index, target] of captured.entries()) {
      const strataTurn = async () => {
        const started = performance.now();
        const reply = await server.post<ComputeStartReply>('/v1/compute', { tenant_id: tenant.id, timeline_id: timeline.timeline_id, time: target.time });
        const answer = await psqlAt(reply.port, RESULTS_SQL);
        const seconds = (performance.now() - started) / 1000;
        await server.post(`/v1/compute/${reply.compute_id}/stop`, {});
        if (answer !== target.results) {
          // Which part is wrong: the LSN the time resolved to, or the state at the recorded LSN?
          const atLsn = await server.post<ComputeStartReply>('/v1/compute', { tenant_id: tenant.id, timeline_id: timeline.timeline_id, lsn: target.lsn });
          const byLsn = await psqlAt(atLsn.port, RESULTS_SQL);
          await server.post(`/v1/compute/${atLsn.compute_id}/stop`, {});
          const dump = await primary.waldump(reply.lsn, target.lsn).catch((error: Error) => error.message);
          throw new Error(`Strata at ${target.time}: ${answer} at ${reply.lsn}; recorded ${target.results} at ${target.lsn}; at the recorded LSN Strata answers ${byLsn}\n${dump}`);
        }
        return { seconds, reply };
      };
      // Turns alternate: pgBackRest first for even targets, Strata first for odd ones.
      let pgbackrestSeconds = 0;
      let strata: Awaited<ReturnType<typeof strataTurn>>;
      if (index % 2 === 0) {
        pgbackrestSeconds = await pgbackrestTurn(configPath, scratch, target, index);
        strata = await strataTurn();
      } else {
        strata = await strataTurn();
        pgbackrestSeconds = await pgbackrestTurn(configPath, scratch, target, index);
      }
      targets.push({ ...target, pgbackrestSeconds, strataSeconds: strata.seconds, strataStartupMs: strata.reply.startup_ms, strataLsn: strata.reply.lsn });
      options.logger.info({ target: target.time, pgbackrest_s: pgbackrestSeconds, strata_s: strata.seconds }, 'pitr bench: target done');
    }
    return { scale: options.scale, seconds: options.seconds, databaseBytes, walBytes: parseLsn(endLsn) - parseLsn(startLsn), targets };
  } finally {
    await server.stop();
    await primary.destroy();
    await rm(scratch, { recursive: true, force: true });
  }
}

export function describePitr(result: PitrResult): Record<string, unknown> {
  const round = (value: number) => Math.round(value * 100) / 100;
  return {
    scale: result.scale,
    historySeconds: result.seconds,
    targets: result.targets.map((target) => `${Math.round(target.at * 100)}%`).join(','),
    pgbackrestSeconds: result.targets.map((target) => round(target.pgbackrestSeconds)).join(','),
    strataSeconds: result.targets.map((target) => round(target.strataSeconds)).join(','),
    speedups: result.targets.map((target) => round(target.pgbackrestSeconds / target.strataSeconds)).join(','),
    strataFullbackupMs: result.targets.map((target) => target.strataStartupMs.fullbackup).join(','),
    strataStartMs: result.targets.map((target) => target.strataStartupMs.start).join(','),
  };
}
