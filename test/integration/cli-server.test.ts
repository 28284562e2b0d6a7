/**
 * What an operator does, end to end, through the real `strata` command line: `bin/strata init`,
 * `bin/strata start` as a child process (pino JSON on its stdout), a real PostgreSQL 15 primary
 * that only lets Strata in with a SCRAM password, then tenant/timeline/relsize/getpage/waldump
 * commands, a SIGTERM stop and a restart on the same workdir.
 *
 * WHY through child processes: the unit and in-process tests call the server's functions; only
 * this test sees what a shell sees: exit statuses, one-line stderr messages with their codes, the
 * exact stdout of each command (an id alone, a number, 8192 raw bytes), the log stream of the
 * real process, and the signal handling of `strata start`.
 *
 * The tests share one server and one primary and run in order; each checks one behaviour.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseLsn } from '../../src/lsn.js';
import { PostgresCluster, freePort, runPg } from '../helpers/postgres.js';

/** The repository root: dist/test/integration/ is three levels below it. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STRATA = join(ROOT, 'bin', 'strata');
const PASSWORD = 's3cret-pw';
const REPLICATION_ROLE = 'strata_repl';
/** A known failpoint and a harmless action for it: every flush of this server run waits 1 ms. */
const STARTUP_FAILPOINT = 'timeline-flush';
const STARTUP_FAILPOINT_ACTION = 'sleep(1)';
const SERVER_READY_TIMEOUT_MS = 20_000;
const SERVER_STOP_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 30_000;
const PAGE_BYTES = 8192;
/** PG15 pages: pd_pagesize_version = BLCKSZ | PG_PAGE_LAYOUT_VERSION (4). */
const PAGE_SIZE_VERSION = PAGE_BYTES | 4;

/**
 * WARN/ERROR lines this test provokes on purpose, matched on the whole line. The HTTP edge logs
 * every 5xx at ERROR, including the 501 (no WAL redo yet) and the 504 (wait for WAL timed out)
 * asked for below; the walreceiver warns when its connection drops.
 */
const ALLOWED_LOG_LINES: Array<(line: LogLine) => boolean> = [
  (line) => /replication connection lost/.test(line.msg),
  (line) => line.component === 'http' && line.code === 'PS_ERR_REDO_UNSUPPORTED' && /\/getpage failed/.test(line.msg),
  (line) => line.component === 'http' && line.code === 'PS_ERR_TIMEOUT' && /\/relsize failed: timed out/.test(line.msg),
];

interface LogLine { level: number; msg: string; [field: string]: unknown }
interface CliResult { code: number | null; stdout: Buffer; stderr: string }
interface TimelineJson {
  tenant_id: string; timeline_id: string; state: string; last_record_lsn: string; initdb_lsn?: string; wal_source?: string;
  walreceiver?: { state: string; connections: number };
}

/** Runs `node bin/strata ARGS…` and returns its exit status and raw output; never throws on exit status. */
function cli(args: string[], options: { timeoutMs?: number; environment?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [STRATA, ...args], {
      cwd: ROOT, encoding: 'buffer', timeout: options.timeoutMs ?? CLI_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, FAILPOINTS: '', ...options.environment },
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      if (error !== null && code === null) return reject(new Error(`strata ${args.join(' ')}: ${error.message}`));
      resolve({ code, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

/** Runs a command that must succeed and returns its stdout as text. */
async function cliOk(args: string[]): Promise<string> {
  const result = await cli(args);
  assert.is(result.code, 0, `strata ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout.toString('utf8');
}

/** The running server: its process, the parsed log lines of all its runs, and raw non-JSON lines. */
class ServerProcess {
  readonly lines: LogLine[] = [];
  readonly unparsed: string[] = [];
  child: ChildProcess | undefined;
  private pending = '';

  start(workdir: string, environment: Record<string, string>): void {
    assert.ok(this.child === undefined, 'one server at a time');
    const child = spawn(process.execPath, [STRATA, 'start', '--workdir', workdir], {
      cwd: ROOT, env: { ...process.env, ...environment }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.collect(chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.unparsed.push(`stderr: ${chunk}`));
    this.child = child;
  }

  private collect(chunk: string): void {
    const text = this.pending + chunk;
    const parts = text.split('\n');
    this.pending = parts.pop() ?? '';
    for (const part of parts) {
      if (part.trim() === '') continue;
      try {
        this.lines.push(JSON.parse(part) as LogLine);
      } catch {
        this.unparsed.push(part);
      }
    }
  }

  /** Polls `GET /v1/status` until the server answers or it exits. */
  async waitReady(url: string): Promise<void> {
    const deadline = Date.now() + SERVER_READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.child?.exitCode !== null) throw new Error(`server exited with ${this.child?.exitCode}: ${this.unparsed.join('\n')}`);
      try {
        const response = await fetch(`${url}/v1/status`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    throw new Error(`server did not answer ${url}/v1/status within ${SERVER_READY_TIMEOUT_MS} ms`);
  }

  /** Sends SIGTERM and returns the exit status and how long the stop took. */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null; elapsedMs: number }> {
    const child = this.child;
    assert.ok(child !== undefined, 'a server is running');
    const started = Date.now();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (child.exitCode !== null) resolve({ code: child.exitCode, signal: null });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), SERVER_STOP_TIMEOUT_MS + 5_000);
    const result = await exited;
    clearTimeout(timer);
    this.child = undefined;
    return { ...result, elapsedMs: Date.now() - started };
  }

  kill(): void {
    if (this.child !== undefined && this.child.exitCode === null) this.child.kill('SIGKILL');
    this.child = undefined;
  }
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Polls `check` until it returns a value; fails with `what` after `timeoutMs`. */
async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
}

/** Puts SCRAM lines for the replication role first, so they win over initdb's trust lines. */
async function requirePasswordForReplicationRole(cluster: PostgresCluster): Promise<void> {
  const hbaPath = join(cluster.dataDirectory, 'pg_hba.conf');
  const original = await readFile(hbaPath, 'utf8');
  const ours = [
    `host replication ${REPLICATION_ROLE} 127.0.0.1/32 scram-sha-256`,
    `host all ${REPLICATION_ROLE} 127.0.0.1/32 scram-sha-256`,
  ].join('\n');
  await writeFile(hbaPath, `# Strata CLI test: the replication role must authenticate with SCRAM.\n${ours}\n${original}`);
  await cluster.sql(`SET password_encryption = 'scram-sha-256'; CREATE ROLE ${REPLICATION_ROLE} WITH REPLICATION LOGIN PASSWORD '${PASSWORD}'`);
  assert.is(await cluster.sql('SELECT pg_reload_conf()'), 't');
}

interface Relation { rel: string; blocks: number }

/** `SPC/DB/REL` and size in blocks of a relation of database `postgres`, as the primary sees it. */
async function primaryRelation(cluster: PostgresCluster, name: string): Promise<Relation> {
  const row = await cluster.sql(`
    SELECT CASE WHEN c.relisshared THEN 1664 WHEN c.reltablespace = 0 THEN d.dattablespace ELSE c.reltablespace END,
           CASE WHEN c.relisshared THEN 0 ELSE d.oid END, pg_relation_filenode(c.oid), pg_relation_size(c.oid) / ${PAGE_BYTES}
    FROM pg_class c, pg_database d WHERE c.oid = '${name}'::regclass AND d.datname = current_database()`);
  const [spcNode, dbNode, relNode, blocks] = row.split('|');
  assert.ok(relNode !== undefined && blocks !== undefined, `relation ${name} exists: '${row}'`);
  return { rel: `${spcNode}/${dbNode}/${relNode}`, blocks: Number(blocks) };
}

/** Checks the PageHeaderData of a PG15 page: pd_lower, pd_upper, pd_special, layout version. */
function assertSanePageHeader(page: Buffer, what: string): void {
  const lower = page.readUInt16LE(12);
  const upper = page.readUInt16LE(14);
  const special = page.readUInt16LE(16);
  const sizeVersion = page.readUInt16LE(18);
  const header = `pd_lower ${lower} pd_upper ${upper} pd_special ${special} pd_pagesize_version 0x${sizeVersion.toString(16)}`;
  assert.is(sizeVersion, PAGE_SIZE_VERSION, `${what}: ${header}`);
  assert.ok(lower >= 24 && lower <= upper, `${what}: 24 <= pd_lower <= pd_upper (${header})`);
  assert.ok(upper <= special && special <= PAGE_BYTES, `${what}: pd_upper <= pd_special <= 8192 (${header})`);
  assert.ok(lower > 24, `${what}: a catalog page 0 holds tuples (${header})`);
}

const context = {
  workdir: '',
  port: 0,
  url: '',
  cluster: undefined as PostgresCluster | undefined,
  server: new ServerProcess(),
  tenant: '',
  timeline: '',
  /** The timeline as `timeline show` printed it right after creation. */
  created: undefined as TimelineJson | undefined,
};

const flow = suite('strata CLI against a real server and primary');

flow.before(async () => {
  context.workdir = join(await mkdtemp(join(tmpdir(), 'strata-cli-')), 'server');
  context.port = await freePort();
  context.url = `http://127.0.0.1:${context.port}`;
  const cluster = await PostgresCluster.create({ settings: { autovacuum: 'off' } });
  context.cluster = cluster;
  await requirePasswordForReplicationRole(cluster);
  await cluster.pgbench(['-i', '-s', '1', '-q']);
});

flow.after(async () => {
  context.server.kill();
  await context.cluster?.destroy();
  if (context.workdir !== '') await rm(join(context.workdir, '..'), { recursive: true, force: true });
});

const workdirArgs = () => ['--workdir', context.workdir];
const timelineArgs = () => [...workdirArgs(), '--tenant', context.tenant, '--timeline', context.timeline];

async function showTimeline(): Promise<TimelineJson> {
  return JSON.parse(await cliOk(['timeline', 'show', ...timelineArgs()])) as TimelineJson;
}

flow('init writes strata.toml, refuses to overwrite it, and rejects an unknown key by name', async () => {
  const output = await cliOk(['init', ...workdirArgs(), '-c', `listen_http_addr=127.0.0.1:${context.port}`, '-c', 'actor_threads=2', '-c', 'wait_lsn_timeout=2s']);
  const file = join(context.workdir, 'strata.toml');
  assert.ok(existsSync(file), 'strata.toml exists');
  assert.match(output, 'strata.toml');
  const toml = readFileSync(file, 'utf8');
  assert.match(toml, `listen_http_addr = "127.0.0.1:${context.port}"`);
  assert.match(toml, /wait_lsn_timeout = "2s"/);

  const again = await cli(['init', ...workdirArgs()]);
  assert.is(again.code, 1, `second init exits 1: ${again.stderr}`);
  assert.match(again.stderr, file, 'the message names the file');
  assert.match(again.stderr, /PS_ERR_ALREADY_EXISTS/);
  assert.is(readFileSync(file, 'utf8'), toml, 'the file is unchanged');

  const bogus = await cli(['init', '--workdir', join(context.workdir, '..', 'other'), '-c', 'bogus=1']);
  assert.ok(bogus.code !== 0 && bogus.code !== null, `init -c bogus=1 fails: ${bogus.code}`);
  assert.match(bogus.stderr, /'bogus'/);
  assert.match(bogus.stderr, /PS_ERR_BAD_CONFIG/);
  assert.is(bogus.stderr.trim().split('\n').length, 1, 'one stderr line');
  assert.not.ok(existsSync(join(context.workdir, '..', 'other', 'strata.toml')), 'nothing written for a bad key');
});

flow('start refuses an unknown failpoint in FAILPOINTS, naming it; then serves /v1/status and lists FAILPOINTS in its log', async () => {
  const refused = await cli(['start', ...workdirArgs()], { environment: { FAILPOINTS: 'flush-before-rename=panic' } });
  assert.is(refused.code, 1, `start with an unknown failpoint exits 1: ${refused.stderr}`);
  assert.match(refused.stderr, /unknown failpoint 'flush-before-rename'/);
  assert.match(refused.stderr, /PS_ERR_BAD_CONFIG/);

  context.server.start(context.workdir, { FAILPOINTS: `${STARTUP_FAILPOINT}=${STARTUP_FAILPOINT_ACTION}` });
  await context.server.waitReady(context.url);
  const status = await (await fetch(`${context.url}/v1/status`)).json() as { actor_threads: number; tenants: number };
  assert.is(status.actor_threads, 2, 'actor_threads from strata.toml');
  assert.is(status.tenants, 0);
  const listed = context.server.lines.find((line) => line.msg === 'failpoints configured');
  assert.ok(listed, 'a "failpoints configured" line');
  assert.equal(listed.failpoints, { [STARTUP_FAILPOINT]: STARTUP_FAILPOINT_ACTION });
  const known = context.server.lines.find((line) => line.msg === 'failpoints known');
  assert.ok(known && Array.isArray(known.known) && known.known.includes(STARTUP_FAILPOINT), 'one "failpoints known" line lists the names');
  assert.ok(context.server.lines.some((line) => line.msg === 'strata started'), 'a "strata started" line');
});

flow('tenant create prints the id alone, refuses a duplicate, and tenant list shows it', async () => {
  const output = await cliOk(['tenant', 'create', ...workdirArgs()]);
  assert.match(output, /^[0-9a-f]{32}\n$/, 'the id alone on one line');
  context.tenant = output.trim();

  const duplicate = await cli(['tenant', 'create', ...workdirArgs(), '--id', context.tenant]);
  assert.is(duplicate.code, 1, `duplicate exits 1: ${duplicate.stderr}`);
  assert.match(duplicate.stderr, /already exists/);
  assert.match(duplicate.stderr, /\(PS_ERR_ALREADY_EXISTS\)\n$/);

  const list = await cliOk(['tenant', 'list', ...workdirArgs()]);
  assert.equal(list.trim().split('\n'), [`${context.tenant} Active 0`]);
});

flow('timeline create attaches to the primary with a SCRAM password and never shows it', async () => {
  const cluster = context.cluster!;
  const connectionString = `host=127.0.0.1 port=${cluster.port} user=${REPLICATION_ROLE} password=${PASSWORD} dbname=postgres`;
  const output = await cliOk(['timeline', 'create', ...workdirArgs(), '--tenant', context.tenant, '--from-primary', connectionString]);
  assert.match(output, /^[0-9a-f]{32}\n$/, 'the id alone on one line');
  context.timeline = output.trim();
  assert.is(await cluster.sql(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'strata_${context.timeline}'`), '1');

  const shown = await showTimeline();
  context.created = shown;
  assert.is(shown.state, 'Active');
  assert.is(shown.tenant_id, context.tenant);
  assert.is(shown.timeline_id, context.timeline);
  assert.match(shown.last_record_lsn, /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/);
  assert.ok(shown.wal_source !== undefined, 'wal_source is shown');
  assert.not.match(shown.wal_source!, PASSWORD);
  assert.match(shown.wal_source!, `user=${REPLICATION_ROLE}`);

  const list = await cliOk(['timeline', 'list', ...workdirArgs(), '--tenant', context.tenant]);
  const [line, ...rest] = list.trim().split('\n');
  assert.is(rest.length, 0, 'one timeline');
  assert.match(line!, new RegExp(`^${context.timeline} Active [0-9A-F]+/[0-9A-F]+$`));
  // The primary authenticated the role with SCRAM: its log would show a failed password otherwise.
  assert.not.match(readFileSync(cluster.logFile, 'utf8'), /password authentication failed/);
});

flow('relsize at the primary insert LSN equals pg_relation_size / 8192', async () => {
  const cluster = context.cluster!;
  await cluster.sql("CREATE TABLE operator_notes (id int, note text); INSERT INTO operator_notes SELECT g, repeat('n', 200) FROM generate_series(1, 3000) g");
  await cluster.sql('UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 50 = 0');
  const lsn = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
  for (const name of ['pgbench_accounts', 'operator_notes']) {
    const relation = await primaryRelation(cluster, name);
    assert.ok(relation.blocks > 0, `${name} has blocks on the primary`);
    const output = await cliOk(['relsize', ...timelineArgs(), '--rel', relation.rel, '--lsn', lsn]);
    assert.is(output, `${relation.blocks}\n`, `${name} (${relation.rel}) at ${lsn}`);
  }
});

flow('getpage writes 8192 raw bytes for an image page and answers PS_ERR_REDO_UNSUPPORTED for a page that needs redo', async () => {
  const cluster = context.cluster!;
  // At the consistent start, catalog pages come from the base backup: images only.
  const atStart = context.created!.initdb_lsn!;
  assert.match(atStart, /^[0-9A-F]+\/[0-9A-F]+$/);
  const pgClass = await primaryRelation(cluster, 'pg_class');
  const image = await cli(['getpage', ...timelineArgs(), '--rel', pgClass.rel, '--blk', '0', '--lsn', atStart]);
  assert.is(image.code, 0, `getpage pg_class blk 0 at ${atStart}: ${image.stderr}`);
  assert.is(image.stdout.length, PAGE_BYTES, 'exactly one page on stdout');
  assertSanePageHeader(image.stdout, `pg_class blk 0 at ${atStart}`);
  assert.ok(parseLsn(formatPageLsn(image.stdout)) <= parseLsn(atStart), 'the page LSN is not after the read LSN');

  // A table created after the attach: its page 0 was built by WAL records alone (no image).
  const notes = await primaryRelation(cluster, 'operator_notes');
  const redo = await cli(['getpage', ...timelineArgs(), '--rel', notes.rel, '--blk', '0']);
  if (redo.code === 0) {
    assert.is(redo.stdout.length, PAGE_BYTES, 'a materialized page is exactly 8192 bytes');
    assertSanePageHeader(redo.stdout, 'operator_notes blk 0');
  } else {
    assert.is(redo.code, 1, `getpage operator_notes blk 0: ${redo.stderr}`);
    assert.match(redo.stderr, /PS_ERR_REDO_UNSUPPORTED/);
    assert.is(redo.stdout.length, 0, 'nothing on stdout when the page cannot be produced');
  }
});

/** The pd_lsn of a page as X/Y (xlogid, xrecoff little-endian). */
function formatPageLsn(page: Buffer): string {
  return `${page.readUInt32LE(0).toString(16).toUpperCase()}/${page.readUInt32LE(4).toString(16).toUpperCase()}`;
}

flow('relsize names a bad --rel and times out with PS_ERR_TIMEOUT on an LSN far ahead', async () => {
  const badRel = await cli(['relsize', ...timelineArgs(), '--rel', '1663/not-a-number/1259']);
  assert.ok(badRel.code === 1 || badRel.code === 2, `bad --rel exits 1 or 2: ${badRel.code}`);
  assert.match(badRel.stderr, /\brel\b/, 'the message names the parameter');
  assert.match(badRel.stderr, /PS_ERR_BAD_REQUEST/);

  const shown = await showTimeline();
  const ahead = parseLsn(shown.last_record_lsn) + 1024 ** 3;
  const aheadText = `${Math.floor(ahead / 2 ** 32).toString(16).toUpperCase()}/${(ahead % 2 ** 32).toString(16).toUpperCase()}`;
  const started = Date.now();
  const future = await cli(['relsize', ...timelineArgs(), '--rel', (await primaryRelation(context.cluster!, 'pg_class')).rel, '--lsn', aheadText]);
  const elapsedMs = Date.now() - started;
  assert.is(future.code, 1, `far-future LSN exits 1: ${future.stderr}`);
  assert.match(future.stderr, /PS_ERR_TIMEOUT/);
  assert.ok(elapsedMs >= 1_900 && elapsedMs < 15_000, `waited about wait_lsn_timeout=2s, took ${elapsedMs} ms`);
});

flow('waldump of a completed segment prints as many rmgr lines as pg_waldump', async () => {
  const cluster = context.cluster!;
  // A fresh segment that holds a known workload (well under 16 MiB), then closed by a switch.
  await cluster.sql('SELECT pg_switch_wal()');
  await cluster.sql("CREATE TABLE in_one_segment (id int PRIMARY KEY, pad text)");
  await cluster.sql("INSERT INTO in_one_segment SELECT g, repeat('s', 50) FROM generate_series(1, 2000) g");
  await cluster.sql('UPDATE in_one_segment SET pad = pad || id WHERE id % 4 = 0');
  const segment = await cluster.sql('SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
  await cluster.sql('SELECT pg_switch_wal()');
  const file = join(cluster.dataDirectory, 'pg_wal', segment);
  assert.ok((await stat(file)).size === 16 * 1024 * 1024, `${segment} is a full segment`);

  const ours = await cli(['waldump', file], { timeoutMs: 60_000 });
  assert.is(ours.code, 0, `strata waldump: ${ours.stderr}`);
  const ourLines = ours.stdout.toString('utf8').split('\n').filter((line) => line !== '');
  assert.ok(ourLines.length > 2000, `the segment holds the workload's records, got ${ourLines.length}`);
  for (const line of ourLines) assert.match(line, /^rmgr: /);

  const theirs = await runPg('pg_waldump', [file]).catch((error: { stdout?: Buffer }) => ({ stdout: String(error.stdout ?? '') }));
  const theirLines = theirs.stdout.split('\n').filter((line) => line.startsWith('rmgr: '));
  assert.is(ourLines.length, theirLines.length, 'strata waldump and pg_waldump count the same records');
});

flow('SIGTERM stops the server with status 0; a restart brings the timeline back and streaming resumes', async () => {
  const cluster = context.cluster!;
  const stopped = await context.server.terminate();
  assert.is(stopped.signal, null, 'exits by itself, not killed');
  assert.is(stopped.code, 0);
  assert.ok(stopped.elapsedMs < SERVER_STOP_TIMEOUT_MS, `stopped in ${stopped.elapsedMs} ms`);
  const down = await cli(['tenant', 'list', ...workdirArgs()]);
  assert.is(down.code, 1, 'the server is gone');
  assert.match(down.stderr, /cannot reach/);

  await cluster.sql("INSERT INTO operator_notes SELECT g, repeat('m', 200) FROM generate_series(1, 4000) g");
  context.server.start(context.workdir, {});
  await context.server.waitReady(context.url);
  const list = await cliOk(['tenant', 'list', ...workdirArgs()]);
  assert.equal(list.trim().split('\n'), [`${context.tenant} Active 1`]);
  const shown = await eventually(async () => {
    const info = await showTimeline();
    return info.state === 'Active' ? info : undefined;
  }, 20_000, 'the timeline to be Active again');
  assert.is(shown.timeline_id, context.timeline);

  // Written while Strata was down and after it came back: both become visible through relsize.
  await cluster.sql("INSERT INTO operator_notes SELECT g, repeat('r', 200) FROM generate_series(1, 4000) g");
  const lsn = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
  const notes = await primaryRelation(cluster, 'operator_notes');
  const output = await cliOk(['relsize', ...timelineArgs(), '--rel', notes.rel, '--lsn', lsn]);
  assert.is(output, `${notes.blocks}\n`, `operator_notes after the restart at ${lsn}`);
  const after = await showTimeline();
  assert.ok(parseLsn(after.last_record_lsn) >= parseLsn(lsn), 'streaming resumed past the new writes');
});

flow('the server log: clean of unexpected WARN/ERROR, timeline lines carry their ids, no password', async () => {
  const { lines, unparsed } = context.server;
  assert.equal(unparsed.filter((text) => !/ExperimentalWarning/.test(text)), [], 'every stdout line is JSON; nothing on stderr');
  const unexpected = lines.filter((line) => line.level >= 40 && !ALLOWED_LOG_LINES.some((allowed) => allowed(line)));
  assert.equal(unexpected.map((line) => JSON.stringify(line)), [], 'no unexpected WARN/ERROR lines');
  const timelineLines = lines.filter((line) => typeof line.actor === 'string' && (line.actor as string).startsWith('timeline/'));
  assert.ok(timelineLines.length > 0, 'timeline actors logged something');
  for (const line of timelineLines) {
    assert.is(line.tenant_id, context.tenant, `tenant_id on ${JSON.stringify(line)}`);
    assert.is(line.timeline_id, context.timeline, `timeline_id on ${JSON.stringify(line)}`);
  }
  const tenantLines = lines.filter((line) => line.actor === `tenant/${context.tenant}`);
  assert.ok(tenantLines.length > 0, 'the tenant actor logged something');
  for (const line of tenantLines) assert.is(line.tenant_id, context.tenant, `tenant_id on ${JSON.stringify(line)}`);
  const withPassword = lines.filter((line) => JSON.stringify(line).includes(PASSWORD));
  assert.equal(withPassword.map((line) => JSON.stringify(line)), [], 'no log line contains the password');
  assert.ok(lines.some((line) => line.msg === 'stopping on signal' && line.signal === 'SIGTERM'), 'the stop was logged');
  // Where the connection string is kept for restarts, only its owner may read it.
  const files = await filesContaining(context.workdir, PASSWORD);
  for (const file of files) assert.is((await stat(file)).mode & 0o077, 0, `${file} holds the password and is private`);
});

/** Files under `directory` (bounded walk) whose text contains `needle`. */
async function filesContaining(directory: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const queue = [directory];
  for (let visited = 0; queue.length > 0 && visited < 10_000; visited += 1) {
    const current = queue.shift()!;
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) queue.push(path);
      else if (entry.isFile() && (await stat(path)).size < 1024 * 1024 && (await readFile(path)).includes(needle)) found.push(path);
    }
  }
  return found;
}

flow.run();
