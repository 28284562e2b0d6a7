/**
 * The `strata` CLI as a child process (`node bin/strata …`) against a fake-API HTTP server in this
 * process: stdout carries exactly the id, number, JSON or 8192 raw bytes; errors are one stderr
 * line `strata: <msg> (<code>)` with exit 1, usage errors exit 2; `init` writes a valid strata.toml.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../../src/config.js';
import { clearFailpoints, FAILPOINT_NAMES, listFailpoints } from '../../../src/failpoints.js';
import { type HttpServerHandle, startHttpServer } from '../../../src/http/server.js';
import { silentLogger } from '../../../src/observability/log.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { FakeManagementApi } from '../http/fake-management-api.js';
import type { ComputeApi, ComputeInfo, ComputeStartReply, StartComputeRequest } from '../../../src/http/management-api.js';
import { StrataError } from '../../../src/errors.js';
import { postgresTimestampOf } from '../../../src/timeline/commit-times.js';
import { walSegmentFileName } from '../../../src/lsn.js';
import { appliedPageImage, WalBuilder } from '../wal/wal-builder.js';

const BIN = fileURLToPath(new URL('../../../../bin/strata', import.meta.url));
const TENANT = '0123456789abcdef0123456789abcdef';
const TIMELINE = 'fedcba9876543210fedcba9876543210';

interface RunResult { code: number; stdout: Buffer; stderr: string }

function run(args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'buffer', timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

async function withServer(body: (api: FakeManagementApi, server: HttpServerHandle) => Promise<void>): Promise<void> {
  const api = new FakeManagementApi();
  const server = await startHttpServer({ address: '127.0.0.1:0', api, metrics: new Metrics(), logger: silentLogger() });
  try {
    await body(api, server);
  } finally {
    await server.close();
    clearFailpoints();
  }
}

async function withDirectory(body: (directory: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'strata-cli-'));
  try {
    await body(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

test('tenant create prints the id alone', () => withServer(async (api, server) => {
  const result = await run(['tenant', 'create', '--id', TENANT, '--endpoint', server.url]);
  assert.is(result.code, 0, result.stderr);
  assert.is(result.stdout.toString(), `${TENANT}\n`);
  assert.ok(api.tenants.has(TENANT));
  const generated = await run(['tenant', 'create', '--endpoint', server.url]);
  assert.match(generated.stdout.toString(), /^[0-9a-f]{32}\n$/);
}));

test('tenant list prints one line per tenant, --json prints JSON', () => withServer(async (api, server) => {
  await api.createTenant({ new_tenant_id: TENANT });
  const plain = await run(['tenant', 'list', '--endpoint', server.url]);
  assert.is(plain.stdout.toString(), `${TENANT} Active 0\n`);
  const json = await run(['tenant', 'list', '--json', '--endpoint', server.url]);
  assert.is(JSON.parse(json.stdout.toString())[0].id, TENANT);
}));

test('timeline create prints the id alone and passes every option', () => withServer(async (api, server) => {
  await api.createTenant({ new_tenant_id: TENANT });
  const result = await run(['timeline', 'create', '--tenant', TENANT, '--id', TIMELINE, '--from-primary', 'host=127.0.0.1 port=5', '--endpoint', server.url]);
  assert.is(result.code, 0, result.stderr);
  assert.is(result.stdout.toString(), `${TIMELINE}\n`);
  assert.equal(api.lastCreateTimeline, { new_timeline_id: TIMELINE, from_primary: 'host=127.0.0.1 port=5' });
  const branch = await run(['timeline', 'create', '--tenant', TENANT, '--ancestor', TIMELINE, '--ancestor-lsn', '0/16B3748', '--endpoint', server.url]);
  assert.is(branch.code, 0, branch.stderr);
  assert.equal(api.lastCreateTimeline, { ancestor_timeline_id: TIMELINE, ancestor_start_lsn: '0/16B3748' });
}));

test('timeline branch prints the new id; delete, checkpoint, compact, gc and layers reach their routes', () => withServer(async (api, server) => {
  await api.createTenant({ new_tenant_id: TENANT });
  await api.createTimeline(TENANT, { new_timeline_id: TIMELINE });
  const branch = await run(['timeline', 'branch', '--tenant', TENANT, '--ancestor', TIMELINE, '--lsn', '0/16B3748', '--endpoint', server.url]);
  assert.is(branch.code, 0, branch.stderr);
  const child = branch.stdout.toString().trim();
  assert.match(child, /^[0-9a-f]{32}$/);
  assert.equal(api.lastCreateTimeline, { ancestor_timeline_id: TIMELINE, ancestor_start_lsn: '0/16B3748' });
  const badLsn = await run(['timeline', 'branch', '--tenant', TENANT, '--ancestor', TIMELINE, '--lsn', 'yesterday', '--endpoint', server.url]);
  assert.is.not(badLsn.code, 0);
  const common = ['--tenant', TENANT, '--timeline', TIMELINE, '--endpoint', server.url];
  for (const args of [['timeline', 'checkpoint'], ['timeline', 'compact', '--force'], ['timeline', 'gc', '--gc-horizon', '1024']]) {
    const result = await run([...args, ...common]);
    assert.is(result.code, 0, result.stderr);
    JSON.parse(result.stdout.toString());
  }
  assert.equal(api.maintenanceCalls, ['checkpoint', 'compact force=true', 'do_gc 1024']);
  const table = await run(['layers', ...common]);
  assert.is(table.code, 0, table.stderr);
  assert.match(table.stdout.toString(), /^KIND\s+LSN_START\s+LSN_END/);
  const removed = await run(['timeline', 'delete', '--tenant', TENANT, '--timeline', child, '--endpoint', server.url]);
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(api.timelines.has(`${TENANT}/${child}`));
}));

test('timeline list and show', () => withServer(async (api, server) => {
  await api.createTenant({ new_tenant_id: TENANT });
  await api.createTimeline(TENANT, { new_timeline_id: TIMELINE });
  const list = await run(['timeline', 'list', '--tenant', TENANT, '--endpoint', server.url]);
  assert.is(list.stdout.toString(), `${TIMELINE} Active 0/16B3748\n`);
  const show = await run(['timeline', 'show', '--tenant', TENANT, '--timeline', TIMELINE, '--endpoint', server.url]);
  const parsed = JSON.parse(show.stdout.toString());
  assert.is(parsed.timeline_id, TIMELINE);
  assert.is(parsed.pg_version, 15);
}));

test('relsize prints the number and getpage writes 8192 raw bytes', () => withServer(async (api, server) => {
  await api.createTenant({ new_tenant_id: TENANT });
  await api.createTimeline(TENANT, { new_timeline_id: TIMELINE });
  const common = ['--tenant', TENANT, '--timeline', TIMELINE, '--rel', '1663/5/1259', '--endpoint', server.url];
  const size = await run(['relsize', ...common, '--fork', 'fsm', '--lsn', '0/1000']);
  assert.is(size.stdout.toString(), '1260\n');
  assert.is(api.lastPageCall?.lsn, 0x1000);
  const page = await run(['getpage', ...common, '--blk', '3']);
  assert.is(page.code, 0, page.stderr);
  assert.is(page.stdout.length, 8192);
  assert.is(page.stdout[0], 3);
  assert.is(page.stdout[100], 0xab);
}));

test('server errors are one stderr line with the code and exit 1', () => withServer(async (_api, server) => {
  const result = await run(['timeline', 'list', '--tenant', TENANT, '--endpoint', server.url]);
  assert.is(result.code, 1);
  assert.is(result.stdout.length, 0);
  assert.is(result.stderr, `strata: tenant ${TENANT} not found (PS_ERR_NOT_FOUND)\n`);
  const badId = await run(['timeline', 'list', '--tenant', 'XYZ', '--endpoint', server.url]);
  assert.is(badId.code, 1);
  assert.match(badId.stderr, /^strata: invalid tenant_id: .*\(PS_ERR_BAD_REQUEST\)\n$/);
}));

test('usage errors exit 2', async () => {
  const missing = await run(['timeline', 'list']);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /^strata: required option '--tenant <id>' not specified \(usage\)\n$/);
  const unknown = await run(['frobnicate']);
  assert.is(unknown.code, 2);
  const noServer = await run(['tenant', 'list']);
  assert.is(noServer.code, 2);
  assert.match(noServer.stderr, '--endpoint');
  const lonelyLsn = await run(['timeline', 'create', '--tenant', TENANT, '--ancestor-lsn', '0/1', '--endpoint', 'http://127.0.0.1:9']);
  assert.is(lonelyLsn.code, 2);
});

test('bench redo: --runs replays on one pool and lists every run and every profile; bad counts are coded errors', () => withDirectory(async (directory) => {
  const start = 6 * 0x1000000;
  const wal = new WalBuilder(start, { prevLsn: start - 0x100 });
  const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
  for (let block = 0; block < 10; block++) wal.add({ rmgr: 0, info: 0xb0, blocks: [{ id: 0, rel, block, image: appliedPageImage(block) }] });
  await writeFile(join(directory, walSegmentFileName(1, start)), wal.bytes());
  const profiles = join(directory, 'profiles');
  const result = await run(['bench', 'redo', '--runs', '2', '--workers', '2', '--cpu-prof', profiles, directory]);
  const stdout = result.stdout.toString('utf8');
  assert.is(result.code, 0, result.stderr);
  assert.match(stdout, /^run 1: seconds=\d+\.\d{3}\n/);
  assert.match(stdout, /records=10 pages=10 /);
  assert.is((stdout.match(/^cpu profile: /gm) ?? []).length, 4, 'two workers, two runs');
  assert.is((await readdir(profiles)).length, 4);
  const zero = await run(['bench', 'redo', '--runs', '0', directory]);
  assert.is(zero.code, 1);
  assert.is(zero.stderr, "strata: --runs must be 1..100, got '0' (PS_ERR_BAD_REQUEST)\n");
}));

test('an unreachable server is a one-line error with exit 1', async () => {
  const result = await run(['tenant', 'list', '--endpoint', 'http://127.0.0.1:2']);
  assert.is(result.code, 1);
  assert.match(result.stderr, /^strata: cannot reach http:\/\/127\.0\.0\.1:2: .*\(PS_ERR_IO\)\n$/);
});

test('failpoints set sends the spec and prints the active list', () => withServer(async (_api, server) => {
  const result = await run(['failpoints', 'set', 'timeline-flush=return(1);walreceiver-before-ingest=50%sleep(5)', '--endpoint', server.url]);
  assert.is(result.code, 0, result.stderr);
  // In table order (failpoint-names.ts), as the server lists them.
  assert.is(result.stdout.toString(), 'walreceiver-before-ingest=50%sleep(5)\ntimeline-flush=return(1)\n');
  assert.equal(listFailpoints(), { 'timeline-flush': 'return(1)', 'walreceiver-before-ingest': '50%sleep(5)' });
  const bad = await run(['failpoints', 'set', 'timeline-flush=explode', '--endpoint', server.url]);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, "failpoint 'timeline-flush'");
}));

test('failpoints set refuses an unknown name with the server\'s 400; list prints every known failpoint', () => withServer(async (_api, server) => {
  const unknown = await run(['failpoints', 'set', 'flush=return(1)', '--endpoint', server.url]);
  assert.is(unknown.code, 1, unknown.stderr);
  assert.match(unknown.stderr, /^strata: unknown failpoint 'flush': .* \(PS_ERR_BAD_REQUEST\)\n$/);
  assert.is(unknown.stdout.length, 0);
  assert.equal(listFailpoints(), {}, 'nothing applied');
  await run(['failpoints', 'set', 'delta-layer-before-rename=1*exit', '--endpoint', server.url]);
  const list = await run(['failpoints', 'list', '--endpoint', server.url]);
  assert.is(list.code, 0, list.stderr);
  const lines = list.stdout.toString().trimEnd().split('\n');
  assert.equal(lines, Object.entries(FAILPOINT_NAMES).map(([name, description]) =>
    `${name}=${name === 'delta-layer-before-rename' ? '1*exit' : 'off'}\t${description}`));
  console.log(`failpoints list printed ${lines.length} lines`);
}));

test('init writes a valid strata.toml, refuses to overwrite, and --workdir finds the server', () => withDirectory(async (directory) => {
  await withServer(async (api, server) => {
    const address = new URL(server.url).host;
    const init = await run(['init', '--workdir', directory, '-c', `listen_http_addr=${address}`, '-c', 'checkpoint_distance=64MiB']);
    assert.is(init.code, 0, init.stderr);
    const config = await loadConfig(directory);
    assert.is(config.listenHttpAddr, address);
    assert.is(config.checkpointDistanceBytes, 64 * 1024 * 1024);
    const again = await run(['init', '--workdir', directory]);
    assert.is(again.code, 1);
    assert.match(again.stderr, 'PS_ERR_ALREADY_EXISTS');
    await api.createTenant({ new_tenant_id: TENANT });
    const list = await run(['tenant', 'list', '--workdir', directory]);
    assert.is(list.stdout.toString(), `${TENANT} Active 0\n`);
  });
}));

test('init rejects an unknown key with the key named and writes nothing', () => withDirectory(async (directory) => {
  const result = await run(['init', '--workdir', directory, '-c', 'listen_http_adr=127.0.0.1:1']);
  assert.is(result.code, 1);
  assert.is(result.stderr, "strata: unknown config key 'listen_http_adr' (PS_ERR_BAD_CONFIG)\n");
  await readFile(join(directory, 'strata.toml')).then(() => assert.unreachable('no file expected'), () => undefined);
}));

test('start without strata.toml fails with a one-line config error', () => withDirectory(async (directory) => {
  const result = await run(['start', '--workdir', directory]);
  assert.is(result.code, 1);
  assert.match(result.stderr, /^strata: cannot read .*strata\.toml: ENOENT .*\(PS_ERR_BAD_CONFIG\)\n$/);
}));

/** A ComputeApi that records what the routes passed and answers canned shapes. */
class FakeComputeApi implements ComputeApi {
  readonly starts: StartComputeRequest[] = [];
  readonly stops: Array<{ id: string; keep: boolean }> = [];

  async startCompute(request: StartComputeRequest): Promise<ComputeStartReply> {
    this.starts.push(request);
    if (request.branch !== undefined) throw new StrataError('PS_ERR_NOT_IMPLEMENTED', 'writable branches: not yet');
    return { compute_id: 'c'.repeat(32), connstr: 'postgresql://postgres@127.0.0.1:5999/postgres', timeline_id: request.timelineId, lsn: '0/16B3748', port: 5999,
      startup_ms: { fullbackup: 10, config: 1, start: 300, total: 312 } };
  }

  async listComputes(): Promise<ComputeInfo[]> {
    return [];
  }

  async computeStatus(computeId: string): Promise<ComputeInfo> {
    return { compute_id: computeId, tenant_id: TENANT, timeline_id: TIMELINE, mode: 'read-only', state: 'Failed', lsn: null, port: 5999,
      connstr: 'postgresql://postgres@127.0.0.1:5999/postgres', data_dir: '/x', created_at: new Date(0).toISOString(), reason: 'start failed', log_tail: ['FATAL: no'] };
  }

  async stopCompute(computeId: string, options: { keep: boolean }): Promise<ComputeInfo> {
    this.stops.push({ id: computeId, keep: options.keep });
    return { ...(await this.computeStatus(computeId)), state: 'Stopped' };
  }
}

test('compute start prints one JSON object and passes every option; stop, status, list reach their routes', async () => {
  const computes = new FakeComputeApi();
  const server = await startHttpServer({ address: '127.0.0.1:0', api: new FakeManagementApi(), computes, metrics: new Metrics(), logger: silentLogger() });
  try {
    const started = await run(['compute', 'start', '--endpoint', server.url, '--tenant', TENANT, '--timeline', TIMELINE, '--time', '2026-01-02T03:04:05Z', '--port', '5999']);
    assert.is(started.code, 0, started.stderr);
    const lines = started.stdout.toString('utf8').trim().split('\n');
    assert.is(lines.length, 1, 'exactly one JSON object');
    const reply = JSON.parse(lines[0]!) as ComputeStartReply;
    assert.equal(Object.keys(reply), ['compute_id', 'connstr', 'timeline_id', 'lsn', 'port', 'startup_ms']);
    assert.equal(computes.starts[0], { tenantId: TENANT, timelineId: TIMELINE, timestampUs: postgresTimestampOf(Date.parse('2026-01-02T03:04:05Z')), port: 5999 });
    const atLsn = await run(['compute', 'start', '--endpoint', server.url, '--tenant', TENANT, '--timeline', TIMELINE, '--lsn', '0/16B3748']);
    assert.is(atLsn.code, 0, atLsn.stderr);
    assert.is(computes.starts[1]!.lsn, 0x16b3748);
    const both = await run(['compute', 'start', '--endpoint', server.url, '--tenant', TENANT, '--timeline', TIMELINE, '--lsn', '0/1', '--time', '2026-01-01']);
    assert.is(both.code, 2);
    const branch = await run(['compute', 'start', '--endpoint', server.url, '--tenant', TENANT, '--timeline', TIMELINE, '--branch', 'dev']);
    assert.is(branch.code, 1);
    assert.is(branch.stderr, 'strata: writable branches: not yet (PS_ERR_NOT_IMPLEMENTED)\n');
    const stopped = await run(['compute', 'stop', '--endpoint', server.url, '--id', 'c'.repeat(32), '--keep']);
    assert.is(stopped.code, 0, stopped.stderr);
    assert.equal(computes.stops, [{ id: 'c'.repeat(32), keep: true }]);
    assert.is((JSON.parse(stopped.stdout.toString('utf8')) as ComputeInfo).state, 'Stopped');
    const status = await run(['compute', 'status', '--endpoint', server.url, '--id', 'c'.repeat(32)]);
    assert.equal((JSON.parse(status.stdout.toString('utf8')) as ComputeInfo).log_tail, ['FATAL: no']);
    const list = await run(['compute', 'list', '--endpoint', server.url]);
    assert.equal(JSON.parse(list.stdout.toString('utf8')), []);
  } finally {
    await server.close();
  }
});

test.run();
