/**
 * Attaching Strata to a primary (BASE_BACKUP streamed into image layers) against `pg_basebackup`
 * of the same primary to a local directory: time, and the Strata server's peak memory.
 *
 * Method:
 *   initdb ─► pgbench -i -s S ─► CHECKPOINT ─► `pairs` pairs, taken in turns (even pairs start
 *   with pg_basebackup, odd pairs with Strata, so a drifting machine shifts both sides alike):
 *
 *   - pg_basebackup -D <dir> -c fast (plain format, WAL streamed alongside, fsync at the end: its
 *     defaults), timed from spawn to exit; the directory is removed afterwards;
 *   - a fresh Strata server process (`strata start`, its own workdir), a tenant, 2 s to settle,
 *     then the server's VmRSS is the idle reference; the peak is reset (`/proc/PID/clear_refs`
 *     5) and POST /v1/tenant/:id/timeline {from_primary} is timed from request to reply. The
 *     peak is the larger of VmHWM after the reply and VmRSS sampled every 20 ms during it. The
 *     attach is checked (pgbench_accounts' relsize equals the primary's), the server is stopped,
 *     its replication slot dropped and its workdir removed.
 *
 * Reported: each pair's seconds, attach / pg_basebackup per pair and its median (below 1, the
 * attach is faster), idle RSS, peak RSS above idle per attach and its maximum, the image layer
 * files one attach wrote, and WARN/ERROR lines in the server logs. Also the CPU seconds each side
 * used (pg_basebackup's process tree; every thread of the Strata server, from /proc/PID/stat):
 * on a shared machine a side that needs more CPU loses more time to other load, and CPU seconds
 * move much less with that load than wall time does.
 *
 * Both sides read the same files from the primary's page cache (pgbench -i just wrote them) and
 * both fsync what they write. Strata's BASE_BACKUP carries no WAL (the walreceiver streams it
 * afterwards); pg_basebackup streams the WAL of the backup's duration, little on an idle primary.
 *
 * Reference numbers: docs/benchmarks.md, "Attach (base backup import)".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert } from '../../src/assert.js';
import type { Logger } from '../../src/observability/log.js';
import { parseLayerName } from '../../src/storage/layer-name.js';
import { freePort, PostgresCluster, runPg } from '../../test/helpers/postgres.js';

const BYTES_PER_MEGABYTE = 1024 * 1024;
const SETTLE_MS = 2_000;
const SAMPLE_MS = 20;
const SERVER_READY_MS_MAX = 60_000;
const SERVER_STOP_MS_MAX = 30_000;
const PAIRS_MAX = 20;
/** bin/strata of this checkout (from dist/bench/storage/). */
const strataScript = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'strata');

export interface AttachImportOptions {
  /** pgbench scale factor of the primary (scale 50: 755 MB of relation files). */
  scale: number;
  /** pg_basebackup / attach pairs, taken in turns. */
  pairs: number;
  logger?: Logger;
}

export interface AttachTurn {
  seconds: number;
  /** CPU seconds the server process used during the attach (all its threads). */
  cpuSeconds: number;
  idleRssBytes: number;
  peakRssBytes: number;
  layerFiles: number;
  layerBytes: number;
  /** WARN and ERROR lines the server logged during the turn. */
  warnings: string[];
}

export interface AttachImportResult {
  scale: number;
  databaseBytes: number;
  basebackupSeconds: number[];
  /** CPU seconds pg_basebackup used (user + system, from its waited-for process tree). */
  basebackupCpuSeconds: number[];
  attach: AttachTurn[];
  /** Attach seconds over pg_basebackup seconds, per pair. */
  pairRatios: number[];
  medianPairRatio: number;
  peakAboveIdleBytesMax: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A field of /proc/PID/status in bytes (`VmRSS:  123 kB`). */
function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
  assert(match !== null, `/proc/${pid}/status has ${field}`);
  return Number(match[1]) * 1024;
}

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds from /proc/PID/stat: the process's own (utime + stime), or with `children` those of
 * the children it waited for (cutime + cstime). Fields counted after the command name's ')'.
 */
function cpuSeconds(pid: number | 'self', children = false): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [user, system] = children ? [fields[13], fields[14]] : [fields[11], fields[12]];
  return (Number(user) + Number(system)) / CLOCK_TICKS_PER_SECOND;
}

/** A Strata server in a child process of its own, so its memory is its own. */
class ServerProcess {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, url: string) {
    this.#child = child;
    this.url = url;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(workdir: string): Promise<ServerProcess> {
    const [httpPort, pgPort] = [await freePort(), await freePort()];
    const config = ['-c', `listen_http_addr=127.0.0.1:${httpPort}`, '-c', `listen_pg_addr=127.0.0.1:${pgPort}`, '-c', 'log_file=strata.log'];
    await runNode(['init', '--workdir', workdir, ...config]);
    const child = spawn(process.execPath, [strataScript, 'start', '--workdir', workdir], { stdio: 'ignore' });
    const server = new ServerProcess(child, `http://127.0.0.1:${httpPort}`);
    const deadline = Date.now() + SERVER_READY_MS_MAX;
    while (Date.now() < deadline) {
      const ready = await fetch(`${server.url}/v1/status`).then((response) => response.ok, () => false);
      if (ready) return server;
      await sleep(100);
    }
    await server.stop();
    throw new Error(`strata start in ${workdir} was not ready after ${SERVER_READY_MS_MAX} ms`);
  }

  get pid(): number {
    assert(this.#child.pid !== undefined, 'the server process was spawned');
    return this.#child.pid;
  }

  async post(path: string, body: unknown): Promise<Record<string, unknown>> {
    const response = await fetch(this.url + path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const reply = await response.json() as Record<string, unknown>;
    if (!response.ok) throw new Error(`POST ${path} → ${response.status}: ${JSON.stringify(reply)}`);
    return reply;
  }

  async get(path: string): Promise<Record<string, unknown>> {
    const response = await fetch(this.url + path);
    const reply = await response.json() as Record<string, unknown>;
    if (!response.ok) throw new Error(`GET ${path} → ${response.status}: ${JSON.stringify(reply)}`);
    return reply;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), SERVER_STOP_MS_MAX);
    await this.#exited;
    clearTimeout(timer);
  }
}

function runNode(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [strataScript, ...args], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`strata ${args[0]} exited with ${code}`))));
  });
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

async function timedBasebackup(cluster: PostgresCluster, pair: number): Promise<{ seconds: number; cpuSeconds: number }> {
  const directory = join(cluster.directory, `basebackup-${pair}`);
  const cpuBefore = cpuSeconds('self', true);
  const started = performance.now();
  await runPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-D', directory, '-c', 'fast'], { timeoutMs: 900_000 });
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds('self', true) - cpuBefore;
  await rm(directory, { recursive: true, force: true });
  return { seconds, cpuSeconds: cpu };
}

/** Image layer files under a workdir: count and bytes. */
async function layerFiles(workdir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const pending = [workdir];
  for (let directory = pending.pop(); directory !== undefined; directory = pending.pop()) {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (parseLayerName(entry.name)?.kind === 'image') {
        files += 1;
        bytes += (await stat(path)).size;
      }
    }
  }
  return { files, bytes };
}

async function serverWarnings(workdir: string): Promise<string[]> {
  const text = await readFile(join(workdir, 'strata.log'), 'utf8').catch(() => '');
  return text.split('\n').filter((line) => /"level":(40|50|60)/.test(line));
}

/** One attach on a fresh server: seconds, idle and peak RSS; checks what it imported. */
async function timedAttach(cluster: PostgresCluster, accountsBlocks: number): Promise<AttachTurn> {
  const workdir = await mkdtemp(join(tmpdir(), 'strata-attach-bench-'));
  const server = await ServerProcess.start(workdir);
  try {
    const tenant = await server.post('/v1/tenant', {});
    await sleep(SETTLE_MS);
    const idleRssBytes = statusBytes(server.pid, 'VmRSS');
    // Resets VmHWM to the current RSS (Linux ≥ 4.0); sampling covers kernels without it.
    try { writeFileSync(`/proc/${server.pid}/clear_refs`, '5'); } catch { /* sampling only */ }
    let sampledPeak = idleRssBytes;
    const sampler = setInterval(() => {
      try { sampledPeak = Math.max(sampledPeak, statusBytes(server.pid, 'VmRSS')); } catch { /* exited */ }
    }, SAMPLE_MS);
    const cpuBefore = cpuSeconds(server.pid);
    const started = performance.now();
    let timeline: Record<string, unknown>;
    try {
      timeline = await server.post(`/v1/tenant/${String(tenant.id)}/timeline`, { from_primary: cluster.connectionString() });
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(server.pid) - cpuBefore;
    const peakRssBytes = Math.max(sampledPeak, statusBytes(server.pid, 'VmHWM'));
    assert(timeline.state === 'Active', `the attached timeline is Active: ${JSON.stringify(timeline)}`);
    const relNode = await cluster.sql("SELECT pg_relation_filenode('pgbench_accounts')");
    // At the primary's insert LSN: above the consistent start, reached once the WAL streamed in.
    const lsn = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
    const size = await server.get(`/v1/tenant/${String(tenant.id)}/timeline/${String(timeline.timeline_id)}/relsize?rel=1663/5/${relNode}&lsn=${lsn}`);
    assert(size.size === accountsBlocks, `pgbench_accounts: strata ${String(size.size)} blocks, primary ${accountsBlocks}`);
    const layers = await layerFiles(workdir);
    await server.stop();
    return { seconds, cpuSeconds: cpu, idleRssBytes, peakRssBytes, layerFiles: layers.files, layerBytes: layers.bytes, warnings: await serverWarnings(workdir) };
  } finally {
    await server.stop();
    await cluster.sql('SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE NOT active');
    await rm(workdir, { recursive: true, force: true });
  }
}

export async function runAttachImport(options: AttachImportOptions): Promise<AttachImportResult> {
  assert(Number.isInteger(options.scale) && options.scale >= 1, 'scale is a positive integer');
  if (!(Number.isInteger(options.pairs) && options.pairs >= 1 && options.pairs <= PAIRS_MAX)) throw new RangeError(`pairs must be 1..${PAIRS_MAX}`);
  const cluster = await PostgresCluster.create({ settings: { autovacuum: 'off' } });
  try {
    options.logger?.info({ scale: options.scale }, 'pgbench -i for the attach benchmark');
    await cluster.pgbench(['-i', '-s', String(options.scale), '-q']);
    await cluster.sql('CHECKPOINT');
    const databaseBytes = Number(await cluster.sql('SELECT sum(pg_database_size(oid)) FROM pg_database'));
    const accountsBlocks = Number(await cluster.sql("SELECT pg_relation_size('pgbench_accounts') / 8192"));
    const basebackup: Array<{ seconds: number; cpuSeconds: number }> = [];
    const attach: AttachTurn[] = [];
    for (let pair = 0; pair < options.pairs; pair++) {
      options.logger?.info({ pair }, 'pg_basebackup and attach, in turns');
      if (pair % 2 === 0) {
        basebackup.push(await timedBasebackup(cluster, pair));
        attach.push(await timedAttach(cluster, accountsBlocks));
      } else {
        attach.push(await timedAttach(cluster, accountsBlocks));
        basebackup.push(await timedBasebackup(cluster, pair));
      }
    }
    const basebackupSeconds = basebackup.map((turn) => turn.seconds);
    const pairRatios = attach.map((turn, pair) => turn.seconds / basebackupSeconds[pair]!);
    return {
      scale: options.scale, databaseBytes, basebackupSeconds, basebackupCpuSeconds: basebackup.map((turn) => turn.cpuSeconds),
      attach, pairRatios, medianPairRatio: median(pairRatios),
      peakAboveIdleBytesMax: Math.max(...attach.map((turn) => turn.peakRssBytes - turn.idleRssBytes)),
    };
  } finally {
    await cluster.destroy();
  }
}

/** The bench line's fields (MB = 2^20 bytes). */
export function describeAttachImport(result: AttachImportResult): Record<string, unknown> {
  const list = (values: number[], digits = 3) => values.map((value) => value.toFixed(digits)).join(',');
  const megabytes = (bytes: number) => bytes / BYTES_PER_MEGABYTE;
  return {
    scale: result.scale,
    databaseMegabytes: megabytes(result.databaseBytes),
    pairs: result.attach.length,
    basebackupSeconds: list(result.basebackupSeconds),
    attachSeconds: list(result.attach.map((turn) => turn.seconds)),
    basebackupCpuSeconds: list(result.basebackupCpuSeconds, 2),
    attachCpuSeconds: list(result.attach.map((turn) => turn.cpuSeconds), 2),
    pairRatios: list(result.pairRatios),
    medianPairRatio: result.medianPairRatio,
    idleRssMegabytes: list(result.attach.map((turn) => megabytes(turn.idleRssBytes)), 0),
    peakAboveIdleMegabytes: list(result.attach.map((turn) => megabytes(turn.peakRssBytes - turn.idleRssBytes)), 0),
    peakAboveIdleMegabytesMax: megabytes(result.peakAboveIdleBytesMax),
    imageLayerFiles: result.attach[0]?.layerFiles ?? 0,
    imageLayerMegabytes: megabytes(result.attach[0]?.layerBytes ?? 0),
    serverWarnings: result.attach.reduce((count, turn) => count + turn.warnings.length, 0),
  };
}

/** Standalone: `node dist/bench/storage/attach-import.bench.js [scale] [pairs]` prints the bench line. */
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [scale, pairs] = [Number(process.argv[2] ?? 50), Number(process.argv[3] ?? 3)];
  runAttachImport({ scale, pairs }).then(
    (result) => {
      const fields = describeAttachImport(result);
      console.log(`bench attach-import: ${Object.entries(fields).map(([key, value]) => `${key}=${typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(3) : String(value)}`).join(' ')}`);
      for (const warning of result.attach.flatMap((turn) => turn.warnings)) console.log(`server warning: ${warning}`);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
