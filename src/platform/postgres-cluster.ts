/**
 * A real PostgreSQL 15 cluster for tests and the demo: initdb in a temporary directory owned by `postgres`,
 * loopback on a free port, started and stopped with pg_ctl as the `postgres` user (postgres refuses
 * to run as root). Always call `stop()` (use try/finally); `destroy()` also removes the directory.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, writeFile, appendFile, rm, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresOptions {
  /** Extra postgresql.conf lines. */
  settings?: Record<string, string | number>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL binary as the postgres user when we are root. */
export async function runPg(binary: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}) {
  const path = join(PG_BIN, binary);
  const [command, fullArgs] = isRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
  return execFileAsync(command, fullArgs, {
    cwd: options.cwd ?? '/tmp',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'buffer',
  }).then((result) => ({ stdout: result.stdout.toString('utf8'), stderr: result.stderr.toString('utf8'), raw: result.stdout }));
}

export class PostgresCluster {
  readonly directory: string;
  readonly dataDirectory: string;
  readonly port: number;
  private running = false;

  private constructor(directory: string, port: number) {
    this.directory = directory;
    this.dataDirectory = join(directory, 'data');
    this.port = port;
  }

  static async create(options: PostgresOptions = {}): Promise<PostgresCluster> {
    const directory = await mkdtemp(join(tmpdir(), 'strata-pg-'));
    await chmod(directory, 0o777);
    if (isRoot) await execFileAsync('chown', ['postgres:postgres', directory]);
    const cluster = new PostgresCluster(directory, await freePort());
    await runPg('initdb', ['-D', cluster.dataDirectory, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const settings: Record<string, string | number> = {
      port: cluster.port,
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${directory}'`,
      wal_level: 'replica',
      max_wal_senders: 10,
      max_replication_slots: 10,
      fsync: 'off',
      synchronous_commit: 'off',
      shared_buffers: '128MB',
      max_wal_size: '1GB',
      logging_collector: 'off',
      ...options.settings,
    };
    const conf = Object.entries(settings).map(([key, value]) => `${key} = ${value}`).join('\n');
    await appendFile(join(cluster.dataDirectory, 'postgresql.conf'), `\n${conf}\n`);
    await appendFile(join(cluster.dataDirectory, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n');
    await cluster.start();
    return cluster;
  }

  /**
   * A stock hot standby of `primary`: pg_basebackup (with a physical slot, so the primary keeps
   * the WAL it has not replayed) and streaming replication on a port of its own. Its data files
   * are what PostgreSQL's own redo makes of the primary's WAL.
   */
  static async createStandby(primary: PostgresCluster, slot: string): Promise<PostgresCluster> {
    const directory = await mkdtemp(join(tmpdir(), 'strata-pg-standby-'));
    await chmod(directory, 0o777);
    if (isRoot) await execFileAsync('chown', ['postgres:postgres', directory]);
    const standby = new PostgresCluster(directory, await freePort());
    await runPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', standby.dataDirectory,
      '-R', '-X', 'stream', '-C', '-S', slot, '-c', 'fast', '--no-sync'], { timeoutMs: 300_000 });
    const conf = [`port = ${standby.port}`, `unix_socket_directories = '${directory}'`, 'hot_standby = on'].join('\n');
    await appendFile(join(standby.dataDirectory, 'postgresql.conf'), `\n${conf}\n`);
    await standby.start();
    return standby;
  }

  /**
   * A cluster on a data directory someone else wrote (a Strata full backup) at `directory`/data:
   * handed to `postgres` (owner, mode 0700), given a port and socket directory, started unless
   * `start: false`. `settings` go into postgresql.auto.conf (they win over postgresql.conf).
   */
  static async fromDataDirectory(directory: string, options: { settings?: Record<string, string | number>; start?: boolean } = {}): Promise<PostgresCluster> {
    const cluster = new PostgresCluster(directory, await freePort());
    await chmod(directory, 0o777);
    await chmod(cluster.dataDirectory, 0o700);
    if (isRoot) await execFileAsync('chown', ['-R', 'postgres:postgres', directory]);
    const settings: Record<string, string | number> = {
      port: cluster.port, listen_addresses: "'127.0.0.1'", unix_socket_directories: `'${directory}'`, logging_collector: 'off', ...options.settings,
    };
    await appendFile(join(cluster.dataDirectory, 'postgresql.auto.conf'), `\n${Object.entries(settings).map(([key, value]) => `${key} = ${value}`).join('\n')}\n`);
    if (options.start !== false) await cluster.start();
    return cluster;
  }

  get logFile(): string {
    return join(this.directory, 'postgres.log');
  }

  /** libpq connection string (key=value form). */
  connectionString(database = 'postgres', extra = ''): string {
    return `host=127.0.0.1 port=${this.port} user=postgres dbname=${database}${extra ? ' ' + extra : ''}`;
  }

  async start(): Promise<void> {
    await runPg('pg_ctl', ['-D', this.dataDirectory, '-l', this.logFile, '-w', '-t', '60', 'start']);
    this.running = true;
  }

  async stop(mode: 'fast' | 'immediate' | 'smart' = 'fast'): Promise<void> {
    if (!this.running) return;
    await runPg('pg_ctl', ['-D', this.dataDirectory, '-w', '-t', '60', '-m', mode, 'stop']).catch(() => undefined);
    this.running = false;
  }

  async restart(): Promise<void> {
    await this.stop('fast');
    await this.start();
  }

  /** Runs SQL through psql; returns unaligned, tuples-only output. */
  async sql(query: string, database = 'postgres'): Promise<string> {
    const result = await runPg('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', database, '-c', query]);
    return result.stdout.trim();
  }

  /** Runs a SQL script file-like string through psql stdin. */
  async script(text: string, database = 'postgres'): Promise<string> {
    const file = join(this.directory, `script-${Date.now()}-${Math.random().toString(16).slice(2)}.sql`);
    await writeFile(file, text);
    await chmod(file, 0o644);
    const result = await runPg('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', database, '-f', file]);
    return result.stdout.trim();
  }

  async pgbench(args: string[], database = 'postgres'): Promise<string> {
    const result = await runPg('pgbench', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', ...args, database], { timeoutMs: 600_000 });
    return result.stdout + result.stderr;
  }

  /** pg_waldump over the cluster's pg_wal between two LSNs (text form). */
  async waldump(startLsn: string, endLsn: string, extra: string[] = []): Promise<string> {
    const result = await runPg('pg_waldump', ['-p', join(this.dataDirectory, 'pg_wal'), '-s', startLsn, '-e', endLsn, ...extra]);
    return result.stdout;
  }

  async destroy(): Promise<void> {
    await this.stop('immediate');
    await rm(this.directory, { recursive: true, force: true });
  }
}

/** Spawns a long-running PostgreSQL tool (e.g. pgbench in the background) as the postgres user. */
export function spawnPg(binary: string, args: string[]) {
  const path = join(PG_BIN, binary);
  return isRoot ? spawn('runuser', ['-u', 'postgres', '--', path, ...args], { stdio: 'pipe' }) : spawn(path, args, { stdio: 'pipe' });
}
