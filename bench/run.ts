/**
 * The benchmark runner (`npm run bench` = `node dist/bench/run.js [--quick] [--record]`).
 *
 * Strata's WAL numbers mean little on their own: a CI machine may be three times slower than a
 * laptop. So the runner measures them against PostgreSQL replaying the SAME WAL on the SAME
 * machine in the SAME run, and prints the ratio ours / PostgreSQL:
 *
 *   pgbench workload ─► PostgreSQL crash recovery (reference)
 *        │ [startLsn, endLsn)
 *        ├─► wal/decode.bench     run({walDirectory, startLsn, endLsn}) → {records, bytes, seconds}
 *        ├─► ingest/ingest.bench  run({walDirectory, startLsn, endLsn}) → {records, bytes, seconds}
 *        ├─► walredo/redo.bench   run / runTwoWorkers (as above), then runInterleaved: PostgreSQL's
 *        │                        replay and Strata's in turns, 5 pairs, median of the pair ratios
 *        └─► walredo/redo.bench   runChains: walredo pool pages/s, short and medium chains
 *   then micro benchmarks: actor/ring.bench, storage/put-get.bench   run() → {name, results}
 *   then storage/attach-import.bench: pg_basebackup of a pgbench primary and Strata's attach to
 *        it, in turns (runAttachImport → time ratio and the server's peak RSS above idle)
 *   then pagebench/pagebench.bench: GetPage over the page service (hot, cold, sequential) next to a
 *        TCP echo floor, 8 clients × depth 8
 *   then backup/pitr.bench: time to a queryable server in the past, Strata's compute against
 *        pgBackRest's restore to the same targets (STRATA_BENCH_PITR_SCALE / _SECONDS)
 *
 * LSNs are passed as `Lsn` numbers (src/lsn.ts). Every benchmark module is optional: a module that
 * is not built prints `skipped: <module> not built`; one that throws prints `failed: <reason>` and
 * makes the runner exit 1 after everything else has run.
 *
 * Output is one fixed-format line per benchmark, `bench <name>: <key>=<value> …`, then
 * `bench summary: …`, then a Markdown section for docs/benchmarks.md (printed; appended to the file
 * with --record). MB is 2^20 bytes everywhere. Defaults: pgbench scale 10, 30 s, 4 clients;
 * --quick is scale 1, 5 s; STRATA_BENCH_SCALE / STRATA_BENCH_SECONDS / STRATA_BENCH_CLIENTS win
 * over both. The attach bench has its own primary: scale 50, 3 pairs (--quick: scale 1, 1 pair);
 * STRATA_BENCH_ATTACH_SCALE / STRATA_BENCH_ATTACH_PAIRS win. Progress goes to stderr as pino JSON lines.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { assert } from '../src/assert.js';
import { formatLsn } from '../src/lsn.js';
import { createLogger, type Logger } from '../src/observability/log.js';
import { PG_BIN } from '../test/helpers/postgres.js';
import { measurePostgresRecovery, replayOnceSeconds, type RecoveryMeasurement } from './postgres-recovery.js';
import { generatePgbenchWal, type WalWorkload } from './wal-workload.js';
// Types only (erased): the module itself stays optional, loaded by loadModule.
import type { InterleavedResult } from './walredo/redo.bench.js';

const execFileAsync = promisify(execFile);
const BYTES_PER_MEGABYTE = 1024 * 1024;
const benchDirectory = dirname(fileURLToPath(import.meta.url));
const benchmarksDocument = join(benchDirectory, '..', '..', 'docs', 'benchmarks.md');

interface RunnerOptions {
  quick: boolean;
  record: boolean;
  scale: number;
  seconds: number;
  clients: number;
  attachScale: number;
  attachPairs: number;
  pitrScale: number;
  pitrSeconds: number;
  pagebenchSeconds: number;
}

/** A WAL-range benchmark module: decode or ingest over the workload's WAL. */
type WalBenchRun = (options: { walDirectory: string; startLsn: number; endLsn: number }) => Promise<WalBenchResult>;
type WalBenchModule = Record<string, WalBenchRun | undefined>;

interface WalBenchResult {
  records: number;
  bytes: number;
  seconds: number;
  /** Every timed run's seconds, when the bench reports the fastest of several. */
  runSeconds?: number[];
}

/** A micro benchmark module; `results` is printed as key=value pairs whatever its shape. */
interface MicroBenchModule {
  run(): Promise<{ name: string; results: unknown }>;
}

/** One printed benchmark outcome, kept for the summary and the Markdown section. */
type Outcome =
  | { kind: 'measured'; name: string; label: string; records: number; bytes: number; seconds: number; runSeconds?: number[] }
  | { kind: 'lines'; name: string; lines: string[] }
  | { kind: 'skipped'; name: string; reason: string }
  | { kind: 'failed'; name: string; reason: string };

const WAL_BENCHES = [
  { name: 'wal-decode', label: 'Strata WAL decode', module: 'wal/decode.bench.js', exportName: 'run' },
  { name: 'wal-ingest', label: 'Strata WAL decode + ingest (in memory, as redo)', module: 'ingest/ingest.bench.js', exportName: 'run' },
  { name: 'wal-ingest-durable', label: 'Strata WAL decode + ingest + L0 flush (fsynced)', module: 'ingest/ingest.bench.js', exportName: 'runDurable' },
  { name: 'wal-ingest-compacted', label: 'Strata WAL decode + ingest + L0 flush + L0→L1 compaction keeping up (fsynced)', module: 'ingest/ingest.bench.js', exportName: 'runDurableCompacted' },
  { name: 'walredo-replay', label: 'Strata WAL redo, replay (decode thread + 1 redo worker)', module: 'walredo/redo.bench.js', exportName: 'run' },
  { name: 'walredo-replay-2', label: 'Strata WAL redo, replay (2 redo workers, the first one decoding)', module: 'walredo/redo.bench.js', exportName: 'runTwoWorkers' },
] as const;

const MICRO_BENCHES = [
  { name: 'actor-ring', module: 'actor/ring.bench.js' },
  { name: 'storage-put-get', module: 'storage/put-get.bench.js' },
] as const;

function positiveInteger(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got '${text}'`);
  return value;
}

export function parseRunnerOptions(argv: string[], environment: NodeJS.ProcessEnv): RunnerOptions {
  const known = new Set(['--quick', '--record']);
  const unknown = argv.filter((argument) => !known.has(argument));
  if (unknown.length > 0) throw new Error(`unknown arguments ${unknown.join(' ')}; usage: run.js [--quick] [--record]`);
  const quick = argv.includes('--quick');
  return {
    quick,
    record: argv.includes('--record'),
    scale: positiveInteger(environment.STRATA_BENCH_SCALE, quick ? 1 : 10, 'STRATA_BENCH_SCALE'),
    seconds: positiveInteger(environment.STRATA_BENCH_SECONDS, quick ? 5 : 30, 'STRATA_BENCH_SECONDS'),
    clients: positiveInteger(environment.STRATA_BENCH_CLIENTS, 4, 'STRATA_BENCH_CLIENTS'),
    attachScale: positiveInteger(environment.STRATA_BENCH_ATTACH_SCALE, quick ? 1 : 50, 'STRATA_BENCH_ATTACH_SCALE'),
    attachPairs: positiveInteger(environment.STRATA_BENCH_ATTACH_PAIRS, quick ? 1 : 3, 'STRATA_BENCH_ATTACH_PAIRS'),
    pitrScale: positiveInteger(environment.STRATA_BENCH_PITR_SCALE, quick ? 1 : 50, 'STRATA_BENCH_PITR_SCALE'),
    pitrSeconds: positiveInteger(environment.STRATA_BENCH_PITR_SECONDS, quick ? 30 : 300, 'STRATA_BENCH_PITR_SECONDS'),
    pagebenchSeconds: positiveInteger(environment.STRATA_BENCH_PAGEBENCH_SECONDS, quick ? 2 : 10, 'STRATA_BENCH_PAGEBENCH_SECONDS'),
  };
}

/** A value as printed in a `key=value` pair: quoted when it holds spaces. */
function printable(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(3);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}

function benchLine(name: string, pairs: Record<string, unknown>): string {
  const body = Object.entries(pairs).map(([key, value]) => `${key}=${printable(value)}`).join(' ');
  return `bench ${name}: ${body}`;
}

async function describeMachine(): Promise<Record<string, unknown>> {
  const processors = cpus();
  const version = await execFileAsync(join(PG_BIN, 'postgres'), ['--version']).then(
    (result) => result.stdout.trim(),
    () => 'unknown',
  );
  return {
    cpu: processors[0]?.model.trim() ?? 'unknown',
    cores: processors.length,
    memoryGiB: (totalmem() / 1024 ** 3).toFixed(1),
    os: `${platform()} ${release()}`,
    node: process.version,
    postgres: version,
  };
}

/** Imports a compiled benchmark module next to this file, or says why it cannot. */
async function loadModule(relativePath: string): Promise<{ module: unknown } | { missing: true } | { error: string }> {
  const path = join(benchDirectory, relativePath);
  if (!existsSync(path)) return { missing: true };
  try {
    return { module: await import(pathToFileURL(path).href) };
  } catch (error) {
    return { error: `import failed: ${String(error)}` };
  }
}

function hasRun(module: unknown): module is { run: (...args: never[]) => unknown } {
  return typeof module === 'object' && module !== null && typeof (module as { run?: unknown }).run === 'function';
}

function isWalBenchResult(value: unknown): value is WalBenchResult {
  const result = value as Partial<WalBenchResult> | null;
  return typeof result === 'object' && result !== null &&
    [result.records, result.bytes, result.seconds].every((field) => typeof field === 'number' && Number.isFinite(field)) &&
    (result.seconds ?? 0) > 0;
}

function rates(result: { records: number; bytes: number; seconds: number }) {
  return {
    recordsPerSecond: result.records / result.seconds,
    megabytesPerSecond: result.bytes / BYTES_PER_MEGABYTE / result.seconds,
  };
}

function recoveryOutcome(recovery: RecoveryMeasurement): Outcome {
  return {
    kind: 'measured', name: 'postgres-recovery', label: 'PostgreSQL crash recovery',
    records: recovery.records, bytes: recovery.bytes, seconds: recovery.seconds,
  };
}

function printRecovery(recovery: RecoveryMeasurement): void {
  console.log(benchLine('postgres-recovery', {
    records: recovery.records,
    megabytes: recovery.bytes / BYTES_PER_MEGABYTE,
    seconds: recovery.seconds,
    recordsPerSecond: Math.round(recovery.recordsPerSecond),
    megabytesPerSecond: recovery.megabytesPerSecond,
    redoStart: recovery.redoStart,
    redoEnd: recovery.redoEnd,
    postgresElapsedSeconds: recovery.postgresElapsedSeconds,
    runSeconds: recovery.runSeconds.join(','),
    cache: recovery.cache,
    matchesWorkload: recovery.matchesWorkload ? 'yes' : 'no',
  }));
}

/** Runs one WAL-range benchmark on the workload and prints it with its ratio to PostgreSQL. */
async function runWalBench(
  bench: (typeof WAL_BENCHES)[number],
  workload: WalWorkload,
  recovery: RecoveryMeasurement,
): Promise<Outcome> {
  const loaded = await loadModule(bench.module);
  if ('missing' in loaded) return { kind: 'skipped', name: bench.name, reason: `${bench.module} not built` };
  if ('error' in loaded) return { kind: 'failed', name: bench.name, reason: loaded.error };
  if (!hasRun(loaded.module)) return { kind: 'failed', name: bench.name, reason: `${bench.module} exports no run()` };
  const module = loaded.module as unknown as WalBenchModule;
  const runBench = module[bench.exportName];
  if (typeof runBench !== 'function') return { kind: 'failed', name: bench.name, reason: `${bench.module} exports no ${bench.exportName}()` };
  try {
    // Each bench starts on a settled heap: the garbage the previous one left (an ingest bench's
    // hundreds of megabytes of layer data) is collected now, not by V8's collector threads on the
    // same two cores while this one is timed. `npm run bench` passes --expose-gc.
    (globalThis as { gc?: () => void }).gc?.();
    const result: unknown = await runBench({
      walDirectory: workload.walDirectory, startLsn: workload.startLsn, endLsn: workload.endLsn,
    });
    if (!isWalBenchResult(result)) return { kind: 'failed', name: bench.name, reason: `bad result ${JSON.stringify(result)}` };
    printWalBench(bench.name, result, recovery);
    return { kind: 'measured', name: bench.name, label: bench.label, ...result };
  } catch (error) {
    return { kind: 'failed', name: bench.name, reason: String(error) };
  }
}

function printWalBench(name: string, result: WalBenchResult, recovery: RecoveryMeasurement): void {
  const ours = rates(result);
  console.log(benchLine(name, {
    records: result.records,
    megabytes: result.bytes / BYTES_PER_MEGABYTE,
    seconds: result.seconds,
    recordsPerSecond: Math.round(ours.recordsPerSecond),
    megabytesPerSecond: ours.megabytesPerSecond,
    ratioRecordsPerSecond: ours.recordsPerSecond / recovery.recordsPerSecond,
    ratioMegabytesPerSecond: ours.megabytesPerSecond / recovery.megabytesPerSecond,
    recordsMatchPostgres: result.records === recovery.records ? 'yes' : 'no',
    ...(result.runSeconds === undefined ? {} : { runSeconds: result.runSeconds.map((seconds) => seconds.toFixed(3)).join(',') }),
    ...extraFields(result),
  }));
}

/** Fields a WAL bench reports beyond records/bytes/seconds (redo: pages, unsupported records…). */
function extraFields(result: WalBenchResult): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(result)) {
    if (['records', 'bytes', 'seconds', 'runSeconds'].includes(key)) continue;
    // Rates are rounded to whole numbers; seconds keep milliseconds.
    if (typeof value === 'number') extra[key] = Number.isInteger(value) ? value : key.endsWith('Seconds') ? value.toFixed(3) : Math.round(value);
    else if (typeof value === 'object' && value !== null) extra[key] = JSON.stringify(value);
  }
  return extra;
}

/** Flattens a micro benchmark's `results` (object, array of objects, or scalar) into lines. */
export function microLines(name: string, results: unknown): string[] {
  const scalar = (value: unknown) => value === null || typeof value !== 'object';
  if (Array.isArray(results)) {
    return results.flatMap((entry, index) => {
      const label = (entry as { name?: unknown } | null)?.name;
      return microLines(`${name}/${typeof label === 'string' ? label : index}`, entry);
    });
  }
  if (typeof results === 'object' && results !== null) {
    const entries = Object.entries(results).filter(([key]) => key !== 'name');
    const scalars = Object.fromEntries(entries.filter(([, value]) => scalar(value)));
    const nested = entries.filter(([, value]) => !scalar(value));
    const own = Object.keys(scalars).length > 0 ? [benchLine(name, scalars)] : [];
    return [...own, ...nested.flatMap(([key, value]) => microLines(`${name}/${key}`, value))];
  }
  return [benchLine(name, { result: results })];
}

async function runMicroBench(bench: (typeof MICRO_BENCHES)[number]): Promise<Outcome> {
  const loaded = await loadModule(bench.module);
  if ('missing' in loaded) return { kind: 'skipped', name: bench.name, reason: `${bench.module} not built` };
  if ('error' in loaded) return { kind: 'failed', name: bench.name, reason: loaded.error };
  if (!hasRun(loaded.module)) return { kind: 'failed', name: bench.name, reason: `${bench.module} exports no run()` };
  try {
    const output = await (loaded.module as unknown as MicroBenchModule).run();
    const name = typeof output?.name === 'string' ? output.name : bench.name;
    const lines = microLines(name, output?.results);
    for (const line of lines) console.log(line);
    return { kind: 'lines', name, lines };
  } catch (error) {
    return { kind: 'failed', name: bench.name, reason: String(error) };
  }
}

function printUnmeasured(outcome: Outcome): void {
  if (outcome.kind === 'skipped') console.log(`bench ${outcome.name}: skipped: ${outcome.reason}`);
  if (outcome.kind === 'failed') console.log(`bench ${outcome.name}: failed: ${outcome.reason.replace(/\s+/g, ' ')}`);
}

function workloadLine(options: RunnerOptions, workload: WalWorkload): string {
  return benchLine('workload', {
    scale: options.scale,
    seconds: options.seconds,
    clients: options.clients,
    transactions: workload.transactions,
    records: workload.recordCount,
    megabytes: workload.walBytes / BYTES_PER_MEGABYTE,
    startLsn: formatLsn(workload.startLsn),
    endLsn: formatLsn(workload.endLsn),
  });
}

/** The WAL part: workload, PostgreSQL reference, then our decode and ingest on the same range. */
async function runWalPart(options: RunnerOptions, logger: Logger): Promise<{ outcomes: Outcome[]; context: string[] }> {
  logger.info({ scale: options.scale, seconds: options.seconds, clients: options.clients }, 'generate pgbench WAL');
  const workload = await generatePgbenchWal({ scale: options.scale, seconds: options.seconds, clients: options.clients, logger });
  try {
    const workloadText = workloadLine(options, workload);
    console.log(workloadText);
    const recovery = await measurePostgresRecovery(workload, { logger, runs: 3 });
    printRecovery(recovery);
    const outcomes: Outcome[] = [recoveryOutcome(recovery)];
    for (const bench of WAL_BENCHES) {
      logger.info({ bench: bench.name }, 'run WAL benchmark');
      const outcome = await runWalBench(bench, workload, recovery);
      printUnmeasured(outcome);
      outcomes.push(outcome);
    }
    const interleaved = await runRedoInterleaved(workload, logger);
    const chains = await runRedoChains(workload);
    const cache = `PostgreSQL recovery cache: ${recovery.cache}; runs ${recovery.runSeconds.join(', ')} s.`;
    const runs = outcomes.flatMap((outcome) => {
      if (outcome.kind !== 'measured' || outcome.runSeconds === undefined || outcome.runSeconds.length <= 1) return [];
      const warmUp: unknown = (outcome as unknown as { warmUpSeconds?: unknown }).warmUpSeconds;
      const after = typeof warmUp === 'number' ? `, after a warm-up replay of ${warmUp.toFixed(3)} s on the same threads` : '';
      return [`${outcome.label}: fastest of ${outcome.runSeconds.length}; runs ${outcome.runSeconds.map((seconds) => seconds.toFixed(3)).join(', ')} s${after}.`];
    });
    return { outcomes, context: [workloadText, cache, ...runs, ...interleaved, ...chains] };
  } finally {
    await workload.destroy();
  }
}

/** PostgreSQL/Strata replay pairs taken in turns (redo.bench.ts runInterleaved). */
const INTERLEAVED_PAIRS = 5;

/**
 * PostgreSQL's replay and Strata's two-worker redo replay in turns on the workload's WAL
 * (redo.bench.ts runInterleaved); its bench line and one context line, or none when the module
 * is missing.
 */
async function runRedoInterleaved(workload: WalWorkload, logger: Logger): Promise<string[]> {
  const loaded = await loadModule('walredo/redo.bench.js');
  if (!('module' in loaded)) return [];
  const runInterleaved = (loaded.module as { runInterleaved?: (options: unknown) => Promise<InterleavedResult> }).runInterleaved;
  if (typeof runInterleaved !== 'function') return [];
  logger.info({ bench: 'walredo-interleaved', pairs: INTERLEAVED_PAIRS }, 'run WAL benchmark');
  try {
    const result = await runInterleaved({
      walDirectory: workload.walDirectory, startLsn: workload.startLsn, endLsn: workload.endLsn, pairs: INTERLEAVED_PAIRS,
      postgresReplaySeconds: () => replayOnceSeconds(workload.dataDirectory),
    });
    const list = (values: number[]) => values.map((value) => value.toFixed(3)).join(',');
    console.log(benchLine('walredo-interleaved', {
      pairs: result.pairs, workers: result.workers, postgresSeconds: list(result.postgresSeconds), strataSeconds: list(result.strataSeconds),
      pairRatios: list(result.pairRatios), medianPairRatio: result.medianPairRatio, fastestRatio: result.fastestRatio,
      ownCpuSecondsDuringPostgres: list(result.ownCpuSecondsDuringPostgres),
    }));
    return [`Redo replay (${result.workers} workers) and PostgreSQL's crash recovery taken in turns, ${result.pairs} pairs: PostgreSQL ${list(result.postgresSeconds)} s, ` +
      `Strata ${list(result.strataSeconds)} s; ratio per pair (PostgreSQL's time over Strata's; above 1, Strata is faster) ${list(result.pairRatios)}, ` +
      `**median ${result.medianPairRatio.toFixed(2)}×**, fastest over fastest ${result.fastestRatio.toFixed(2)}×; ` +
      `CPU this process used during each PostgreSQL turn (spawning cp and pg_ctl included) ${list(result.ownCpuSecondsDuringPostgres)} s.`];
  } catch (error) {
    console.log(benchLine('walredo-interleaved', { failed: String(error) }));
    return [];
  }
}

/**
 * Walredo pool pages/s for short and medium chains built from the workload's WAL (redo.bench.ts
 * runChains); one context line, or none when the module is missing.
 */
async function runRedoChains(workload: WalWorkload): Promise<string[]> {
  const loaded = await loadModule('walredo/redo.bench.js');
  if (!('module' in loaded)) return [];
  const runChains = (loaded.module as { runChains?: (options: unknown) => Promise<Record<string, number>> }).runChains;
  if (typeof runChains !== 'function') return [];
  try {
    const result = await runChains({ walDirectory: workload.walDirectory, startLsn: workload.startLsn, endLsn: workload.endLsn });
    console.log(benchLine('walredo-chains', result));
    return [`Walredo pool (1 worker), chains from this WAL: ${Object.entries(result).map(([key, value]) => `${key}=${value}`).join(' ')} (Neon publishes ~120-130k short, ~10-12k medium pages/s per redo process).`];
  } catch (error) {
    console.log(benchLine('walredo-chains', { failed: String(error) }));
    return [];
  }
}

/**
 * pg_basebackup and Strata's attach of one pgbench primary, in turns (attach-import.bench.ts); the
 * outcome (no table row: its numbers are not records/s) and one context line.
 */
async function runAttachBench(options: RunnerOptions, logger: Logger): Promise<{ outcome: Outcome; context: string[] }> {
  const name = 'attach-import';
  const loaded = await loadModule('storage/attach-import.bench.js');
  if ('missing' in loaded) return { outcome: { kind: 'skipped', name, reason: 'storage/attach-import.bench.js not built' }, context: [] };
  if ('error' in loaded) return { outcome: { kind: 'failed', name, reason: loaded.error }, context: [] };
  const module = loaded.module as Partial<typeof import('./storage/attach-import.bench.js')>;
  if (typeof module.runAttachImport !== 'function' || typeof module.describeAttachImport !== 'function') {
    return { outcome: { kind: 'failed', name, reason: 'attach-import.bench.js exports no runAttachImport()' }, context: [] };
  }
  logger.info({ bench: name, scale: options.attachScale, pairs: options.attachPairs }, 'run attach benchmark');
  try {
    const result = await module.runAttachImport({ scale: options.attachScale, pairs: options.attachPairs, logger });
    const fields = module.describeAttachImport(result);
    const line = benchLine(name, fields);
    console.log(line);
    const megabytes = (bytes: number) => (bytes / BYTES_PER_MEGABYTE).toFixed(0);
    return {
      outcome: { kind: 'lines', name, lines: [] },
      context: [`Attach to a pgbench scale-${result.scale} primary (${megabytes(result.databaseBytes)} MB) against pg_basebackup -D of it, ` +
        `${result.attach.length} pairs in turns: pg_basebackup ${String(fields.basebackupSeconds)} s (CPU ${String(fields.basebackupCpuSeconds)} s), ` +
        `attach ${String(fields.attachSeconds)} s (server CPU ${String(fields.attachCpuSeconds)} s); ` +
        `attach / pg_basebackup per pair ${String(fields.pairRatios)}, **median ${result.medianPairRatio.toFixed(2)}×** (below 1, the attach is faster); ` +
        `server RSS idle ${String(fields.idleRssMegabytes)} MB, peak above idle ${String(fields.peakAboveIdleMegabytes)} MB ` +
        `(**max ${megabytes(result.peakAboveIdleBytesMax)} MB**); ${String(fields.imageLayerFiles)} image layer files, ${megabytes(result.attach[0]?.layerBytes ?? 0)} MB.`],
    };
  } catch (error) {
    return { outcome: { kind: 'failed', name, reason: String(error) }, context: [] };
  }
}

/**
 * Time to a queryable server in the past: Strata's compute against pgBackRest's restore to the same
 * three targets, in turns (backup/pitr.bench.ts).
 */
async function runPitrBench(options: RunnerOptions, logger: Logger): Promise<{ outcome: Outcome; context: string[] }> {
  const name = 'pitr';
  const loaded = await loadModule('backup/pitr.bench.js');
  if ('missing' in loaded) return { outcome: { kind: 'skipped', name, reason: 'backup/pitr.bench.js not built' }, context: [] };
  if ('error' in loaded) return { outcome: { kind: 'failed', name, reason: loaded.error }, context: [] };
  const module = loaded.module as Partial<typeof import('./backup/pitr.bench.js')>;
  if (typeof module.runPitr !== 'function' || typeof module.describePitr !== 'function') {
    return { outcome: { kind: 'failed', name, reason: 'pitr.bench.js exports no runPitr()' }, context: [] };
  }
  logger.info({ bench: name, scale: options.pitrScale, seconds: options.pitrSeconds }, 'run point-in-time benchmark');
  try {
    const result = await module.runPitr({ scale: options.pitrScale, seconds: options.pitrSeconds, logger });
    if ('skipped' in result) return { outcome: { kind: 'skipped', name, reason: result.skipped }, context: [] };
    const fields = module.describePitr(result);
    console.log(benchLine(name, fields));
    const worst = Math.max(...result.targets.map((target) => target.strataSeconds));
    const slowest = Math.min(...result.targets.map((target) => target.pgbackrestSeconds / target.strataSeconds));
    return {
      outcome: { kind: 'lines', name, lines: [] },
      context: [`Time to a queryable server in the past, pgbench scale ${result.scale} (${(result.databaseBytes / BYTES_PER_MEGABYTE).toFixed(0)} MB) ` +
        `with ${result.seconds} s of history (${(result.walBytes / BYTES_PER_MEGABYTE).toFixed(0)} MB of WAL), targets at ${String(fields.targets)} of it, ` +
        `from the command to the first correct answer: pgBackRest restore ${String(fields.pgbackrestSeconds)} s, Strata compute ${String(fields.strataSeconds)} s ` +
        `(full backup ${String(fields.strataFullbackupMs)} ms, PostgreSQL start ${String(fields.strataStartMs)} ms); ` +
        `**Strata at most ${worst.toFixed(1)} s, at least ${slowest.toFixed(1)}× faster** (targets: ≤ 5 s, ≥ 10×).`],
    };
  } catch (error) {
    return { outcome: { kind: 'failed', name, reason: String(error) }, context: [] };
  }
}

/** GetPage over the page service against a TCP echo floor (pagebench/pagebench.bench.ts). */
async function runPagebenchBench(options: RunnerOptions, logger: Logger): Promise<{ outcome: Outcome; context: string[] }> {
  const name = 'pagebench';
  const loaded = await loadModule('pagebench/pagebench.bench.js');
  if ('missing' in loaded) return { outcome: { kind: 'skipped', name, reason: 'pagebench/pagebench.bench.js not built' }, context: [] };
  if ('error' in loaded) return { outcome: { kind: 'failed', name, reason: loaded.error }, context: [] };
  const module = loaded.module as Partial<typeof import('./pagebench/pagebench.bench.js')>;
  if (typeof module.runPagebench !== 'function' || typeof module.describePagebench !== 'function') {
    return { outcome: { kind: 'failed', name, reason: 'pagebench.bench.js exports no runPagebench()' }, context: [] };
  }
  try {
    const result = await module.runPagebench({ scale: options.quick ? 1 : 10, clients: 8, depth: 8, seconds: options.pagebenchSeconds, logger });
    console.log(benchLine(name, module.describePagebench(result)));
    const rows = result.workloads.map((workload) => `${workload.name} ${Math.round(workload.pagesPerSecond)} pages/s, ` +
      `p50 ${workload.p50Us.toFixed(0)} µs, p99 ${workload.p99Us.toFixed(0)} µs, p99.9 ${workload.p999Us.toFixed(0)} µs`);
    return {
      outcome: { kind: 'lines', name, lines: [] },
      context: [`pagebench, pgbench scale ${result.scale}, ${result.clients} clients × depth ${result.depth}, pagestream v3: ${rows.join('; ')} ` +
        '(targets: hot p50 ≤ 40 µs, p99 ≤ 300 µs; cold p99 ≤ 1 ms; ≥ 50,000 pages/s).'],
    };
  } catch (error) {
    return { outcome: { kind: 'failed', name, reason: String(error) }, context: [] };
  }
}

function summaryLine(outcomes: Outcome[]): string {
  const reference = outcomes.find((outcome) => outcome.name === 'postgres-recovery');
  const pairs: Record<string, unknown> = {};
  for (const outcome of outcomes) {
    if (outcome.kind === 'measured' && reference?.kind === 'measured' && outcome !== reference) {
      pairs[`${outcome.name}Ratio`] = rates(outcome).recordsPerSecond / rates(reference).recordsPerSecond;
    }
  }
  pairs.measured = outcomes.filter((outcome) => outcome.kind === 'measured' || outcome.kind === 'lines').length;
  pairs.skipped = outcomes.filter((outcome) => outcome.kind === 'skipped').length;
  pairs.failed = outcomes.filter((outcome) => outcome.kind === 'failed').length;
  return benchLine('summary', pairs);
}

function tableRow(outcome: Outcome, reference: Outcome | undefined): string {
  if (outcome.kind !== 'measured') {
    const status = outcome.kind === 'lines' ? 'see below' : `${outcome.kind}: ${outcome.reason}`;
    return `| ${outcome.name} | ${status.replace(/\|/g, '/').replace(/\s+/g, ' ')} | | | | | |`;
  }
  const ours = rates(outcome);
  const theirs = reference?.kind === 'measured' ? rates(reference) : undefined;
  const ratio = theirs ? (ours.recordsPerSecond / theirs.recordsPerSecond).toFixed(2) : '';
  return `| ${outcome.label} | ${outcome.records} | ${(outcome.bytes / BYTES_PER_MEGABYTE).toFixed(1)} | ` +
    `${outcome.seconds.toFixed(3)} | ${Math.round(ours.recordsPerSecond)} | ${ours.megabytesPerSecond.toFixed(1)} | ${ratio} |`;
}

export function markdownSection(machine: Record<string, unknown>, context: string[], outcomes: Outcome[]): string {
  const reference = outcomes.find((outcome) => outcome.name === 'postgres-recovery');
  const micro = outcomes.flatMap((outcome) => (outcome.kind === 'lines' ? outcome.lines : []));
  const date = new Date().toISOString().slice(0, 10);
  return [
    `## ${date}: ${String(machine.cpu)}, ${String(machine.cores)} cores, ${String(machine.memoryGiB)} GiB`,
    '',
    `Node ${String(machine.node)}, ${String(machine.postgres)}, ${String(machine.os)}.`,
    '',
    ...context.map((line) => `- ${line}`),
    '',
    '| Benchmark | Records | MB | Seconds | Records/s | MB/s | Ratio to PostgreSQL (records/s) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...outcomes.filter((outcome) => outcome.kind !== 'lines').map((outcome) => tableRow(outcome, reference)),
    '',
    ...(micro.length > 0 ? ['Micro benchmarks:', '', '```', ...micro, '```', ''] : []),
  ].join('\n');
}

/** Appends a section to docs/benchmarks.md crash-safely: temporary file, fsync, rename, fsync. */
async function appendToBenchmarksDocument(section: string): Promise<void> {
  const header = '# Benchmarks\n\nWritten by `npm run bench -- --record` (bench/run.ts). MB = 2^20 bytes.\n\n';
  const existing = await readFile(benchmarksDocument, 'utf8').catch(() => header);
  const temporary = `${benchmarksDocument}.tmp-${process.pid}`;
  const file = await open(temporary, 'w');
  try {
    await file.writeFile(`${existing.trimEnd()}\n\n${section}`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, benchmarksDocument);
  const directory = await open(dirname(benchmarksDocument), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

async function main(): Promise<number> {
  const options = parseRunnerOptions(process.argv.slice(2), process.env);
  const logger = createLogger({ destinationFd: 2, name: 'bench' });
  const machine = await describeMachine();
  console.log(benchLine('machine', machine));
  const wal = await runWalPart(options, logger);
  const outcomes = [...wal.outcomes];
  for (const bench of MICRO_BENCHES) {
    logger.info({ bench: bench.name }, 'run micro benchmark');
    const outcome = await runMicroBench(bench);
    printUnmeasured(outcome);
    outcomes.push(outcome);
  }
  const attach = await runAttachBench(options, logger);
  printUnmeasured(attach.outcome);
  outcomes.push(attach.outcome);
  const pagebench = await runPagebenchBench(options, logger);
  printUnmeasured(pagebench.outcome);
  outcomes.push(pagebench.outcome);
  const pitr = await runPitrBench(options, logger);
  printUnmeasured(pitr.outcome);
  outcomes.push(pitr.outcome);
  console.log(summaryLine(outcomes));
  const section = markdownSection(machine, [...wal.context, ...attach.context, ...pagebench.context, ...pitr.context], outcomes);
  assert(section.length > 0, 'the Markdown section is never empty');
  if (options.record) {
    await appendToBenchmarksDocument(section);
    console.log(`recorded in ${benchmarksDocument}`);
  } else {
    console.log(`\n${section}`);
  }
  return outcomes.some((outcome) => outcome.kind === 'failed') ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
