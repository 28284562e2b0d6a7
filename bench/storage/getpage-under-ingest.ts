/**
 * GetPage under sustained ingest (issue 10 §7): `node dist/bench/storage/getpage-under-ingest.js
 * [--seconds 20] [--turns 2 | --minutes-total M] [--readers 16] [--scale 10] [--clients 4]
 * [-c key=value …] [--tenant key=value …]` (-c: Strata server config; --tenant: tenant settings,
 * on top of checkpoint_distance=16MiB and compaction_period=5s so that layers accumulate in a
 * short run). --minutes-total M sets the number of turns so that pgbench runs M minutes in all.
 *
 *   primary (pgbench -i -s SCALE) ──WAL──► strata start (child process) ◄── 16 readers:
 *                                                   GET …/getpage?rel=pgbench_accounts&blk=random
 *   phases in turns: idle (no pgbench) → during (pgbench -c CLIENTS -T SECONDS) → idle → during …
 *
 * The reference is the same readers on the same timeline with no ingest, measured in the same run,
 * alternating with the ingest phases (so drift of the shared machine hits both). Before each idle
 * phase the server must have caught up with the primary's WAL (reads in that settling time are
 * discarded); compaction may still be running then, which is reported, not hidden.
 *
 * Per phase: pages/s, latency p50/p99/p99.9 (sorted array of every request's latency), errors,
 * layers searched per read (p50/p99 of the difference of the server's cumulative
 * `read_amplification` array over the phase), layer counts (L0, L1, image) at its end, and the
 * server's peak VmRSS (sampled every 500 ms from /proc). Then the ratios during / idle.
 *
 * WHY a separate process for the server: the RSS must be the server's alone, and the readers must
 * go through the real HTTP API the way a client would. The driver (this process, one thread) also
 * runs on the shared 2-core machine, so absolute pages/s include its cost; the ratio does not
 * depend on it, since both conditions pay it equally.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { http, sleep, stopServer, waitFor } from '../server-process.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseLsn } from '../../src/lsn.js';
import { freePort, PostgresCluster } from '../../src/platform/postgres-cluster.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const RSS_SAMPLE_MS = 500;
const PAGE_BYTES = 8192;

interface Options {
  seconds: number; turns: number; readers: number; scale: number; clients: number;
  config: string[]; tenant: Record<string, string | number>;
}

function parseArguments(argv: string[]): Options {
  const options: Options = { seconds: 20, turns: 2, readers: 16, scale: 10, clients: 4, config: [], tenant: { checkpoint_distance: '16MiB', compaction_period: '5s' } };
  let minutesTotal: number | undefined;
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index];
    const value = argv[++index];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--seconds') options.seconds = Number(value);
    else if (flag === '--turns') options.turns = Number(value);
    else if (flag === '--minutes-total') minutesTotal = Number(value);
    else if (flag === '--readers') options.readers = Number(value);
    else if (flag === '--scale') options.scale = Number(value);
    else if (flag === '--clients') options.clients = Number(value);
    else if (flag === '-c') options.config.push(value);
    else if (flag === '--tenant') {
      const [key, setting] = [value.slice(0, value.indexOf('=')), value.slice(value.indexOf('=') + 1)];
      options.tenant[key] = /^\d+$/.test(setting) ? Number(setting) : setting;
    } else throw new Error(`unknown flag ${flag}`);
  }
  if (minutesTotal !== undefined) options.turns = Math.max(1, Math.ceil((minutesTotal * 60) / options.seconds));
  for (const [name, value] of Object.entries({ seconds: options.seconds, turns: options.turns, readers: options.readers })) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be positive`);
  }
  return options;
}

function runNode(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(' ')} exited with ${code}`))));
  });
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

/** CPU seconds of a process (utime + stime, /proc/PID/stat) and of the whole machine (busy, /proc/stat). */
async function cpuSeconds(pid: number): Promise<{ server: number; machineBusy: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  const all = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (all[3] ?? 0) + (all[4] ?? 0);
  const ticks = 100; // USER_HZ on Linux
  return { server: (Number(stat[11]) + Number(stat[12])) / ticks, machineBusy: (all.reduce((sum, value) => sum + value, 0) - idle) / ticks };
}

/** The value at quantile q of an ascending array (nearest rank). */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The bucket (layers searched) at quantile q of a histogram; `last` marks the open-ended bucket. */
function histogramQuantile(counts: number[], q: number): { layers: number; last: boolean } {
  const total = counts.reduce((sum, count) => sum + count, 0);
  let seen = 0;
  for (let index = 0; index < counts.length; index++) {
    seen += counts[index]!;
    if (seen >= q * total && seen > 0) return { layers: index, last: index === counts.length - 1 };
  }
  return { layers: NaN, last: false };
}

interface LayerInfo { historic_layers: { kind: 'Delta' | 'Image'; l0: boolean }[]; in_memory_layers: unknown[]; read_amplification: number[] }

/** Latencies in one growable Float64Array (millions of samples stay cheap). */
class Samples {
  #values = new Float64Array(1 << 16);
  length = 0;
  push(value: number): void {
    if (this.length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.length++] = value;
  }
  sorted(): Float64Array { return this.#values.slice(0, this.length).sort(); }
}

interface Phase {
  name: string; condition: 'idle' | 'during' | 'settle'; latencies: Samples; errors: Map<string, number>;
  startedMs: number; endedMs: number; rssPeak: number;
}

interface PhaseReport {
  phase: string; condition: 'idle' | 'during'; seconds: number; pages: number; pages_per_s: number;
  p50_ms: number; p99_ms: number; p999_ms: number; errors: Record<string, number>;
  reads_counted: number; layers_p50: string; layers_p99: string; layers_max: number;
  l0: number; l1: number; image: number; in_memory: number; rss_peak_mib: number;
  other_reads: number; server_cpu: number; machine_busy: number;
  pgbench_tps?: number; catch_up_after_s?: number;
}

const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  const cluster = await PostgresCluster.create({ settings: { autovacuum: 'off' } });
  const workdir = await mkdtemp(join(tmpdir(), 'strata-getpage-bench-'));
  let server: ChildProcess | undefined;
  let stopReaders = false;
  let serverExited = false;
  try {
    process.stderr.write(`pgbench -i -s ${options.scale}\n`);
    await cluster.pgbench(['-i', '-s', String(options.scale), '-q']);
    const rel = (await cluster.sql(`SELECT (SELECT dattablespace FROM pg_database WHERE datname = current_database()) || '/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || pg_relation_filenode('pgbench_accounts')`)).trim();
    const blocks = Number(await cluster.sql(`SELECT pg_relation_size('pgbench_accounts') / 8192`));
    const httpPort = await freePort();
    const cli = join(root, 'bin', 'strata');
    await runNode([cli, 'init', '--workdir', workdir, '-c', `listen_http_addr=127.0.0.1:${httpPort}`, '-c', `listen_pg_addr=127.0.0.1:${await freePort()}`,
      '-c', 'actor_threads=2', '-c', 'log_file=server.log', ...options.config.flatMap((pair) => ['-c', pair])]);
    server = spawn(process.execPath, [cli, 'start', '--workdir', workdir], { stdio: ['ignore', 'ignore', 'inherit'] });
    server.once('exit', (code, signal) => { serverExited = true; process.stderr.write(`strata server exited (code ${code}, signal ${signal})\n`); });
    const pid = server.pid!;
    const api = `http://127.0.0.1:${httpPort}/v1`;
    await waitFor(() => http(`${api}/tenant`), 30_000, 'the server to listen');
    const tenant = await http<{ id: string }>(`${api}/tenant`, 'POST', { config: options.tenant });
    const timeline = await http<{ timeline_id: string }>(`${api}/tenant/${tenant.id}/timeline`, 'POST', { from_primary: cluster.connectionString() });
    const base = `${api}/tenant/${tenant.id}/timeline/${timeline.timeline_id}`;
    const lastRecordLsn = async () => parseLsn((await http<{ last_record_lsn: string }>(base)).last_record_lsn);
    const catchUp = async (timeoutMs: number) => {
      const target = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
      const started = Date.now();
      await waitFor(async () => ((await lastRecordLsn()) >= target ? true : undefined), timeoutMs, 'the server to catch up with the primary');
      return (Date.now() - started) / 1000;
    };
    await catchUp(180_000);
    process.stderr.write(`attached: rel ${rel}, ${blocks} blocks; ${options.readers} readers, ${options.turns} turns of ${options.seconds} s\n`);

    // The current phase receives every sample of the requests started in it.
    const newPhase = (name: string, condition: Phase['condition']): Phase => ({ name, condition, latencies: new Samples(), errors: new Map(), startedMs: Date.now(), endedMs: 0, rssPeak: 0 });
    let current = newPhase('warm-up', 'settle');
    let rssPeakAll = 0;
    const sampler = setInterval(() => {
      rssOf(pid).then((rss) => { current.rssPeak = Math.max(current.rssPeak, rss); rssPeakAll = Math.max(rssPeakAll, rss); }, () => undefined);
    }, RSS_SAMPLE_MS);

    const reader = async () => {
      while (!stopReaders && !serverExited) {
        const phase = current;
        const block = Math.floor(Math.random() * blocks);
        const started = performance.now();
        try {
          const response = await fetch(`${base}/getpage?rel=${rel}&blk=${block}`, { signal: AbortSignal.timeout(30_000) });
          const body = await response.arrayBuffer();
          if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${Buffer.from(body).toString('utf8').slice(0, 120)}`);
          if (body.byteLength !== PAGE_BYTES) throw new Error(`${body.byteLength} bytes`);
          phase.latencies.push(performance.now() - started);
        } catch (error) {
          const key = (error as Error).message.slice(0, 160);
          phase.errors.set(key, (phase.errors.get(key) ?? 0) + 1);
          if (phase.errors.get(key) === 1) process.stderr.write(`getpage error in ${phase.name}: ${key}\n`);
          await sleep(50);
        }
      }
    };
    const readers = Array.from({ length: options.readers }, () => reader());

    await sleep(3000);
    const rssIdleBeforePgbench = await rssOf(pid);
    const reports: PhaseReport[] = [];
    const runPhase = async (name: string, condition: 'idle' | 'during'): Promise<void> => {
      const before = await http<LayerInfo>(`${base}/layer`);
      const cpuBefore = await cpuSeconds(pid);
      const phase = newPhase(name, condition);
      current = phase;
      let tps: number | undefined;
      if (condition === 'idle') await sleep(options.seconds * 1000);
      else {
        const output = await cluster.pgbench(['-c', String(options.clients), '-j', '2', '-T', String(options.seconds), '-n']);
        tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? NaN);
      }
      phase.endedMs = Date.now();
      current = newPhase(`${name}-settle`, 'settle');
      const cpuAfter = await cpuSeconds(pid);
      const after = await http<LayerInfo>(`${base}/layer`);
      const delta = after.read_amplification.map((count, index) => count - (before.read_amplification[index] ?? 0));
      const fmt = (q: number) => { const at = histogramQuantile(delta, q); return at.last ? `≥${at.layers}` : String(at.layers); };
      let maxLayers = 0;
      delta.forEach((count, index) => { if (count > 0) maxLayers = index; });
      const sorted = phase.latencies.sorted();
      const seconds = (phase.endedMs - phase.startedMs) / 1000;
      const report: PhaseReport = {
        phase: name, condition, seconds: round(seconds, 1), pages: sorted.length, pages_per_s: Math.round(sorted.length / seconds),
        p50_ms: round(quantile(sorted, 0.5)), p99_ms: round(quantile(sorted, 0.99)), p999_ms: round(quantile(sorted, 0.999)),
        errors: Object.fromEntries(phase.errors), reads_counted: delta.reduce((sum, count) => sum + count, 0),
        // Each GetPage searches twice (relation size, then the page); the rest are the server's own
        // reads (ingest metadata, image creation), which read_amplification counts as well.
        other_reads: delta.reduce((sum, count) => sum + count, 0) - 2 * sorted.length,
        // Server CPU in cores (1.0 = one core busy); machine busy in cores of the 2 (all processes).
        server_cpu: round((cpuAfter.server - cpuBefore.server) / seconds), machine_busy: round((cpuAfter.machineBusy - cpuBefore.machineBusy) / seconds),
        layers_p50: fmt(0.5), layers_p99: fmt(0.99), layers_max: maxLayers,
        l0: after.historic_layers.filter((layer) => layer.kind === 'Delta' && layer.l0).length,
        l1: after.historic_layers.filter((layer) => layer.kind === 'Delta' && !layer.l0).length,
        image: after.historic_layers.filter((layer) => layer.kind === 'Image').length,
        in_memory: after.in_memory_layers.length, rss_peak_mib: mib(phase.rssPeak),
        ...(tps === undefined ? {} : { pgbench_tps: round(tps, 0) }),
      };
      if (condition === 'during') report.catch_up_after_s = round(await catchUp(600_000), 1);
      reports.push(report);
      console.log(`phase ${report.phase.padEnd(9)} ${report.pages_per_s} pages/s p50 ${report.p50_ms} ms p99 ${report.p99_ms} ms p99.9 ${report.p999_ms} ms` +
        ` | layers/read p50 ${report.layers_p50} p99 ${report.layers_p99} max ${report.layers_max} (${report.reads_counted} reads, ${report.other_reads} not GetPage's)` +
        ` | L0 ${report.l0} L1 ${report.l1} image ${report.image} | RSS peak ${report.rss_peak_mib} MiB` +
        ` | CPU server ${report.server_cpu} machine ${report.machine_busy} cores` +
        (report.pgbench_tps === undefined ? '' : ` | pgbench ${report.pgbench_tps} tps, caught up ${report.catch_up_after_s} s after`) +
        (Object.keys(report.errors).length > 0 ? ` | errors ${JSON.stringify(report.errors)}` : ''));
    };

    for (let turn = 1; turn <= options.turns; turn++) {
      if (serverExited) throw new Error('the server exited');
      await runPhase(`idle-${turn}`, 'idle');
      await runPhase(`during-${turn}`, 'during');
    }
    stopReaders = true;
    await Promise.all(readers);
    clearInterval(sampler);

    // Ratios: per turn (each during against the idle phase just before it) and pooled.
    const pooled = (condition: 'idle' | 'during') => {
      const phases = reports.filter((report) => report.condition === condition);
      return { pagesPerS: phases.reduce((sum, report) => sum + report.pages, 0) / phases.reduce((sum, report) => sum + report.seconds, 0) };
    };
    for (let turn = 0; turn < options.turns; turn++) {
      const idle = reports[2 * turn]!;
      const during = reports[2 * turn + 1]!;
      console.log(`turn ${turn + 1}: during/idle throughput ${round(during.pages_per_s / idle.pages_per_s)} p50 ${round(during.p50_ms / idle.p50_ms)} p99 ${round(during.p99_ms / idle.p99_ms)} p99.9 ${round(during.p999_ms / idle.p999_ms)}`);
    }
    console.log(`pooled: idle ${Math.round(pooled('idle').pagesPerS)} pages/s, during ${Math.round(pooled('during').pagesPerS)} pages/s, throughput ratio during/idle ${round(pooled('during').pagesPerS / pooled('idle').pagesPerS)} (issue: within 2×, i.e. ≥ 0.5)`);
    console.log(`RSS: idle before pgbench ${mib(rssIdleBeforePgbench)} MiB, peak over the run ${mib(rssPeakAll)} MiB`);

    const lines = (await readFile(join(workdir, 'server.log'), 'utf8')).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const problems = new Map<string, number>();
    for (const line of lines) if ((line.level as number) >= 40) problems.set(String(line.msg), (problems.get(String(line.msg)) ?? 0) + 1);
    const compactions = lines.filter((line) => typeof line.msg === 'string' && /compact/i.test(line.msg)).length;
    console.log(JSON.stringify({
      options: { ...options }, rel, blocks, rss_idle_before_pgbench_mib: mib(rssIdleBeforePgbench), rss_peak_mib: mib(rssPeakAll),
      phases: reports, server_log_compaction_lines: compactions, server_warn_or_error: Object.fromEntries(problems),
    }));
  } finally {
    stopReaders = true;
    if (server !== undefined) await stopServer(server);
    await cluster.destroy();
    await rm(workdir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
