/**
 * The `strata` command line (commander). bin/strata calls `main(process.argv)`.
 *
 *   strata init     --workdir DIR [-c key=value]…     write DIR/strata.toml
 *   strata start    --workdir DIR [-c key=value]…     run the server until SIGINT/SIGTERM
 *   strata tenant   create [--id ID] [-c key=value]… | list [--json]
 *   strata timeline create --tenant T [--id ID] [--from-primary CONNSTR] [--ancestor TL --ancestor-lsn X/Y]
 *                   list --tenant T [--json] | show --tenant T --timeline TL
 *                   branch --tenant T --ancestor TL [--lsn X/Y] [--id ID]   (prints the new id)
 *                   delete --tenant T --timeline TL
 *                   checkpoint | compact [--force] | gc [--gc-horizon BYTES]  --tenant T --timeline TL
 *   strata layers   --tenant T --timeline TL [--json]                  the layer map as a table
 *   strata relsize  --tenant T --timeline TL --rel S/D/R [--fork F] [--lsn X/Y]
 *   strata getpage  --tenant T --timeline TL --rel S/D/R [--fork F] [--lsn X/Y] --blk N   (8192 raw bytes)
 *   strata fullbackup --tenant T --timeline TL [--lsn X/Y] (-D DIR | -o FILE.tar|-)   data directory a stock postgres starts from
 *   strata lsn-by-time --tenant T --timeline TL --time 2026-12-08T10:00:00Z             {"lsn", "kind"}
 *   strata waldump  FILE…
 *   strata redo verify [--start X/Y] [--end X/Y] [--rmgr NAME]… [--allow-unsupported] FILE|DIR…
 *   strata bench redo  [--start X/Y] [--end X/Y] [--workers N] [--runs N] [--decoding WHERE] [--cpu-prof DIR] FILE|DIR…
 *   strata failpoints set SPEC | list
 *   strata compute  start --tenant T --timeline TL [--lsn X/Y | --time ISO8601] [--port P] [--branch NAME]
 *                   list | status --id ID | stop --id ID [--keep]        (JSON on stdout)
 *
 * Commands that talk to a server find it with `--endpoint URL` or `--workdir DIR` (listen_http_addr).
 * Every failure is one stderr line `strata: <message> (<code>)`: exit status 2 for usage errors,
 * 1 for everything else. main() sets process.exitCode instead of exiting so stdout drains.
 */
import * as backupCommands from './backup-commands.js';
import { Command, CommanderError } from 'commander';
import { StrataError } from '../errors.js';
import { CliFailure } from './client.js';
import * as commands from './commands.js';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { benchRedo, type BenchRedoOptions } from './bench-redo.js';
import { redoVerify, type RedoVerifyOptions } from './redo-verify.js';
import { init, start } from './server-commands.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function withEndpoint(command: Command): Command {
  return command
    .option('--endpoint <url>', 'management API URL, e.g. http://127.0.0.1:9898')
    .option('--workdir <dir>', 'find the server through DIR/strata.toml');
}

function withPage(command: Command): Command {
  return withEndpoint(command)
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--timeline <id>', 'timeline id')
    .requiredOption('--rel <spc/db/rel>', 'relation, e.g. 1663/5/16384')
    .option('--fork <fork>', 'main, fsm, vm or init', 'main')
    .option('--lsn <X/Y>', 'read at this LSN (default: latest)');
}

function addServerCommands(program: Command): void {
  program.command('init').description('write DIR/strata.toml')
    .requiredOption('--workdir <dir>', 'server directory').option('-c, --config <key=value>', 'set a config key', collect, [])
    .action((options: { workdir: string; config: string[] }) => init(options));
  program.command('start').description('run the server')
    .requiredOption('--workdir <dir>', 'server directory').option('-c, --config <key=value>', 'override a config key', collect, [])
    .action((options: { workdir: string; config: string[] }) => start(options));
}

function addTenantCommands(program: Command): void {
  const tenant = program.command('tenant').description('manage tenants');
  withEndpoint(tenant.command('create').description('create a tenant; prints its id')).option('--id <id>', 'tenant id (32 hex)')
    .option('-c, --config <key=value>', 'a tenant setting (checkpoint_distance, compaction_threshold, gc_horizon, …)', collect, [])
    .action((options: { id?: string; config: string[]; endpoint?: string; workdir?: string }) => commands.tenantCreate(options));
  withEndpoint(tenant.command('list').description('list tenants: id state timelines')).option('--json', 'print JSON')
    .action((options: { json?: boolean }) => commands.tenantList(options));
  const timeline = program.command('timeline').description('manage timelines');
  withEndpoint(timeline.command('create').description('create a timeline; prints its id')).requiredOption('--tenant <id>', 'tenant id')
    .option('--id <id>', 'timeline id (32 hex)').option('--from-primary <connstr>', 'attach to a PostgreSQL 15 primary')
    .option('--ancestor <id>', 'branch from this timeline').option('--ancestor-lsn <X/Y>', 'branch point')
    .action((options: commands.TimelineCreateOptions) => commands.timelineCreate(options));
  withEndpoint(timeline.command('list').description('list timelines: id state last_record_lsn')).requiredOption('--tenant <id>', 'tenant id')
    .option('--json', 'print JSON').action((options: { tenant: string; json?: boolean }) => commands.timelineList(options));
  withEndpoint(timeline.command('show').description('print a timeline as JSON')).requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--timeline <id>', 'timeline id')
    .action((options: { tenant: string; timeline: string }) => commands.timelineShow(options));
  withEndpoint(timeline.command('branch').description('branch a timeline at an LSN (default: its last record LSN); prints the new id'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--ancestor <id>', 'timeline to branch from')
    .option('--lsn <X/Y>', 'branch point').option('--id <id>', 'new timeline id (32 hex)')
    .action((options: { tenant: string; ancestor: string; lsn?: string; id?: string }) => commands.timelineBranch(options));
  withEndpoint(timeline.command('delete').description('delete a timeline without children'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--timeline <id>', 'timeline id')
    .action((options: { tenant: string; timeline: string }) => commands.timelineDelete(options));
  withEndpoint(timeline.command('checkpoint').description('freeze and flush now, then a compaction pass; prints its report'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--timeline <id>', 'timeline id')
    .action((options: { tenant: string; timeline: string }) => commands.timelineMaintenance('checkpoint', options));
  withEndpoint(timeline.command('compact').description('one compaction pass; prints its report'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--timeline <id>', 'timeline id')
    .option('--force', 'compact any L0 and image every key range with deltas above its image')
    .action((options: { tenant: string; timeline: string; force?: boolean }) => commands.timelineMaintenance('compact', options));
  withEndpoint(timeline.command('gc').description('one GC pass; prints its report'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--timeline <id>', 'timeline id')
    .option('--gc-horizon <bytes>', 'override gc_horizon for this pass')
    .action((options: { tenant: string; timeline: string; gcHorizon?: string }) => commands.timelineMaintenance('gc', options));
  withEndpoint(program.command('layers').description('print a timeline\'s layer map as a table'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--timeline <id>', 'timeline id').option('--json', 'print JSON')
    .action((options: { tenant: string; timeline: string; json?: boolean }) => commands.layers(options));
}

function addDataCommands(program: Command): void {
  withEndpoint(program.command('fullbackup').description('a full backup a stock PostgreSQL 15 starts from: -D DIR unpacks it, -o FILE writes the tar'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--timeline <id>', 'timeline id').option('--lsn <X/Y>', 'state at this LSN (default: the latest)')
    .option('-D, --pgdata <dir>', 'unpack into this directory (must not exist or be empty)').option('-o, --output <file>', 'write the tar here (- for stdout)')
    .action((options: backupCommands.FullbackupCliOptions) => backupCommands.fullbackup(options));
  withEndpoint(program.command('lsn-by-time').description('get_lsn_by_timestamp: the LSN of the state after every commit at or before --time'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--timeline <id>', 'timeline id').requiredOption('--time <iso8601>', 'e.g. 2026-12-08T10:00:00Z')
    .action((options: backupCommands.LsnByTimeOptions) => backupCommands.lsnByTime(options));
  withPage(program.command('relsize').description('print a relation fork size in blocks'))
    .action((options: commands.PageOptions) => commands.relsize(options));
  withPage(program.command('getpage').description('write one 8192-byte page to stdout')).requiredOption('--blk <n>', 'block number')
    .action((options: commands.PageOptions) => commands.getpage(options));
  program.command('waldump').description('print the records of WAL segment files').argument('<files...>', 'WAL segment files')
    .action((files: string[]) => commands.waldump(files));
  const failpoints = program.command('failpoints').description('configure failpoints on a running server');
  withEndpoint(failpoints.command('set').description('apply name=action;… and print the active list')).argument('<spec>', 'failpoint spec')
    .action((spec: string, options: { endpoint?: string; workdir?: string }) => commands.failpointsSet(spec, options));
  withEndpoint(failpoints.command('list').description('print every known failpoint: name=action (off when inactive), a tab, where it sits'))
    .action((options: { endpoint?: string; workdir?: string }) => commands.failpointsList(options));
}

function addComputeCommands(program: Command): void {
  const compute = program.command('compute').description('read-only PostgreSQL computes on a timeline at an LSN or a time');
  withEndpoint(compute.command('start').description('start a compute; prints {compute_id, connstr, timeline_id, lsn, port, startup_ms}'))
    .requiredOption('--tenant <id>', 'tenant id').requiredOption('--timeline <id>', 'timeline id')
    .option('--lsn <X/Y>', 'the state at this LSN (default: the last record LSN)')
    .option('--time <iso8601>', 'the state after every commit at or before this time, e.g. 2026-01-02T03:04:05Z')
    .option('--port <port>', 'listen on this port (default: a free one)')
    .option('--branch <name>', 'a writable compute on a new branch timeline of that name (its WAL streams back into Strata)')
    .action((options: commands.ComputeStartOptions) => commands.computeStart(options));
  withEndpoint(compute.command('list').description('print every compute as JSON'))
    .action((options: { endpoint?: string; workdir?: string }) => commands.computeList(options));
  withEndpoint(compute.command('status').description('print one compute as JSON (the PostgreSQL log tail when it failed)'))
    .requiredOption('--id <id>', 'compute id')
    .action((options: { id: string }) => commands.computeStatus(options));
  withEndpoint(compute.command('stop').description('stop a compute and remove its data directory'))
    .requiredOption('--id <id>', 'compute id').option('--keep', 'keep the data directory')
    .action((options: { id: string; keep?: boolean }) => commands.computeStop(options));
}

function addRedoCommands(program: Command): void {
  const redo = program.command('redo').description('WAL redo tools');
  redo.command('verify').description('check redo against WAL written with wal_consistency_checking = all')
    .argument('<files...>', 'WAL segment files or directories of them')
    .option('--start <X/Y>', 'first LSN to read').option('--end <X/Y>', 'stop before records ending after this LSN')
    .option('--rmgr <name>', 'check only this resource manager (repeatable)', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option('--allow-unsupported', 'exit 0 even when some record types have no redo')
    .option('--pages-max <n>', 'page states kept in memory')
    .action((files: string[], options: RedoVerifyOptions) => redoVerify(files, options));
  const bench = program.command('bench').description('measurements');
  bench.command('redo').description('replay WAL segment files with Strata\'s redo; records/s, pages/s, optional CPU profiles')
    .argument('<files...>', 'WAL segment files')
    .option('--start <X/Y>', 'first LSN to replay').option('--end <X/Y>', 'stop before records ending after this LSN')
    .option('--workers <n>', 'redo worker threads (default 1)')
    .option('--runs <n>', 'replays on the same threads; figures are of the last (default 1)')
    .option('--decoding <where>', "'thread' (a decode thread; the default for 1 worker) or 'first-worker' (the default for more)")
    .option('--cpu-prof <dir>', 'write a .cpuprofile of each redo worker (and run) into DIR')
    .action(async (files: string[], options: BenchRedoOptions) => {
      const status = await benchRedo(await expandSegmentFiles(files), options);
      if (status !== 0) process.exitCode = status;
    });
}

/** Directories stand for the segment files in them (as for redo verify). */
async function expandSegmentFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path);
    if (!info.isDirectory()) files.push(path);
    else files.push(...(await readdir(path)).filter((name) => /^[0-9A-F]{24}$/.test(name)).sort().map((name) => join(path, name)));
  }
  return files;
}

export function buildProgram(): Command {
  const program = new Command('strata')
    .description('Strata, a page server for PostgreSQL 15')
    .exitOverride()
    .configureOutput({ outputError: () => undefined })
    .showSuggestionAfterError(true);
  addServerCommands(program);
  addTenantCommands(program);
  addDataCommands(program);
  addComputeCommands(program);
  addRedoCommands(program);
  return program;
}

function report(message: string, code: string, exitCode: number): void {
  process.stderr.write(`strata: ${message.split('\n')[0]} (${code})\n`);
  process.exitCode = exitCode;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0 || error.code === 'commander.help' || error.code === 'commander.helpDisplayed') {
        process.exitCode = error.exitCode === 0 ? 0 : 2;
        return;
      }
      return report(error.message.replace(/^error: /, ''), 'usage', 2);
    }
    if (error instanceof CliFailure) return report(error.message, error.code, error.exitCode);
    if (error instanceof StrataError) return report(error.message, error.code, 1);
    return report(error instanceof Error ? error.message : String(error), 'PS_ERR_INTERNAL', 1);
  }
}
