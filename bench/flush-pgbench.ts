/**
 * How often a server attached to a live primary flushes, and how much memory it takes to do so:
 * `node dist/bench/flush-pgbench.js [--scale 10] [--clients 4] [--seconds 60] [-c key=value …]
 * [--pg setting=value …]` (-c: Strata config; --pg: the primary's postgresql.conf, e.g.
 * `--pg synchronous_commit=on`, PostgreSQL's default, which the test cluster turns off).
 *
 * WHY a separate process for the server: peak RSS is the number asked for, and it must be the
 * server's alone (not this driver's, not pgbench's). The server is the real CLI (`strata start`),
 * configured with the given `-c` flags, logging pino JSON to a file this script reads afterwards.
 *
 *   primary (pgbench -i -s SCALE) ──► strata start (child) ◄── POST tenant, timeline from_primary
 *        pgbench -c CLIENTS -T SECONDS ──WAL──► walreceiver ──► L0 delta files
 *   sampled every 200 ms: the server's VmRSS; at the end: VmHWM, delta files, flush log lines
 *
 * Prints one JSON object: WAL bytes streamed during pgbench, delta (L0) files written while
 * catching up with it, flushes by reason (from the 'flushing in-memory layer' info lines), the
 * mean open-layer size at a flush, the server's RSS (at the start of pgbench, every 5 s, peak) and
 * the back-pressure metrics (ingest waits, seconds waited; 0 on servers without them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { http, stopServer, waitFor } from './server-process.js';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLsn, parseLsn } from '../src/lsn.js';
import { parseLayerName } from '../src/storage/layer-name.js';
import { freePort, PostgresCluster } from '../test/helpers/postgres.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SAMPLE_MS = 200;

interface Options { scale: number; clients: number; seconds: number; config: string[]; pg: Record<string, string> }

function parseArguments(argv: string[]): Options {
  const options: Options = { scale: 10, clients: 4, seconds: 60, config: [], pg: {} };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index];
    const value = argv[++index];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--scale') options.scale = Number(value);
    else if (flag === '--clients') options.clients = Number(value);
    else if (flag === '--seconds') options.seconds = Number(value);
    else if (flag === '-c') options.config.push(value);
    else if (flag === '--pg') options.pg[value.slice(0, value.indexOf('='))] = value.slice(value.indexOf('=') + 1);
    else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

function runNode(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(' ')} exited with ${code}`))));
  });
}

/** VmRSS and VmHWM of a process, in bytes (Linux /proc). */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

async function deltaFiles(directory: string): Promise<number> {
  return (await readdir(directory)).filter((name) => parseLayerName(name)?.kind === 'delta').length;
}

interface FlushLine { reason: string; open_layer_bytes: number; time: number }

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  const cluster = await PostgresCluster.create({ settings: { autovacuum: 'off', ...options.pg } });
  const workdir = await mkdtemp(join(tmpdir(), 'strata-flush-bench-'));
  let server: ChildProcess | undefined;
  try {
    await cluster.pgbench(['-i', '-s', String(options.scale), '-q']);
    const httpPort = await freePort();
    const cli = join(root, 'bin', 'strata');
    await runNode([cli, 'init', '--workdir', workdir, '-c', `listen_http_addr=127.0.0.1:${httpPort}`, '-c', `listen_pg_addr=127.0.0.1:${await freePort()}`,
      '-c', 'actor_threads=2', '-c', 'log_file=server.log', ...options.config.flatMap((pair) => ['-c', pair])]);
    server = spawn(process.execPath, [cli, 'start', '--workdir', workdir], { stdio: ['ignore', 'ignore', 'inherit'] });
    const pid = server.pid!;
    const api = `http://127.0.0.1:${httpPort}/v1`;
    await waitFor(() => http(`${api}/tenant`), 30_000, 'the server to listen');
    const tenant = await http<{ id: string }>(`${api}/tenant`, 'POST', {});
    const timeline = await http<{ timeline_id: string }>(`${api}/tenant/${tenant.id}/timeline`, 'POST', { from_primary: cluster.connectionString() });
    const base = `${api}/tenant/${tenant.id}/timeline/${timeline.timeline_id}`;
    const directory = join(workdir, 'tenants', tenant.id, 'timelines', timeline.timeline_id);
    const startLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    await waitFor(async () => (parseLsn((await http<{ last_record_lsn: string }>(base)).last_record_lsn) >= startLsn ? true : undefined), 120_000, 'catch-up after attach');
    const filesBefore = await deltaFiles(directory);
    const startedMs = Date.now();
    const rssAtStart = (await memoryOf(pid)).rss;
    let rssPeak = 0;
    const rssEvery5s: number[] = [];
    let samples = 0;
    const sampler = setInterval(() => {
      const index = samples++;
      memoryOf(pid).then((memory) => {
        rssPeak = Math.max(rssPeak, memory.rss);
        if (index % (5000 / SAMPLE_MS) === 0) rssEvery5s.push(Math.round(memory.rss / 2 ** 20));
      }, () => undefined);
    }, SAMPLE_MS);
    await cluster.pgbench(['-c', String(options.clients), '-j', '2', '-T', String(options.seconds), '-n']);
    const endLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    await waitFor(async () => (parseLsn((await http<{ last_record_lsn: string }>(base)).last_record_lsn) >= endLsn ? true : undefined), 300_000, 'catch-up after pgbench');
    const caughtUpMs = Date.now();
    clearInterval(sampler);
    const filesAfter = await deltaFiles(directory);
    const { hwm } = await memoryOf(pid);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const metric = (name: string) => metrics.split('\n').filter((line) => line.startsWith(name)).map((line) => Number(line.slice(line.lastIndexOf(' ') + 1))).reduce((sum, value) => sum + value, 0);
    await stopServer(server);
    const lines = (await readFile(join(workdir, 'server.log'), 'utf8')).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const flushes = lines.filter((line) => line.msg === 'flushing in-memory layer' && (line.time as number) >= startedMs && (line.time as number) <= caughtUpMs) as unknown as FlushLine[];
    const byReason: Record<string, number> = {};
    for (const flush of flushes) byReason[flush.reason] = (byReason[flush.reason] ?? 0) + 1;
    const mebibytes = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
    const meanOpen = flushes.length === 0 ? 0 : flushes.reduce((sum, flush) => sum + flush.open_layer_bytes, 0) / flushes.length;
    const problems = lines.filter((line) => (line.level as number) >= 40).map((line) => line.msg);
    console.log(JSON.stringify({
      scale: options.scale, clients: options.clients, seconds: options.seconds, config: options.config, pg: options.pg,
      wal_mib: mebibytes(endLsn - startLsn), wal_range: `${formatLsn(startLsn)}..${formatLsn(endLsn)}`,
      catch_up_s: Math.round((caughtUpMs - startedMs) / 100) / 10,
      l0_files: filesAfter - filesBefore, flushes: flushes.length, flushes_by_reason: byReason,
      mean_open_layer_mib_at_flush: mebibytes(meanOpen),
      rss_mib_at_start: mebibytes(rssAtStart), rss_peak_mib_during_pgbench: mebibytes(rssPeak), rss_mib_every_5s: rssEvery5s, rss_hwm_mib_whole_run: mebibytes(hwm),
      ingest_waits: metric('strata_ingest_backpressure_waits_total'), ingest_wait_s: Math.round(metric('strata_ingest_backpressure_wait_seconds_total') * 10) / 10,
      warn_or_error_lines: problems,
    }));
  } finally {
    if (server !== undefined) await stopServer(server);
    await cluster.destroy();
    await rm(workdir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
