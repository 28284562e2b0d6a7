/**
 * The HTTP management API against an in-memory ManagementApi on port 0: every route, every error
 * code's status, the edge errors (404/405/413/bad JSON), parameter validation naming the parameter,
 * PUT /v1/failpoints and GET /metrics.
 */
import { AssertionError } from 'node:assert';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ErrorCode, StrataError } from '../../../src/errors.js';
import { clearFailpoints, FAILPOINT_NAMES, listFailpoints } from '../../../src/failpoints.js';
import { statusForCode } from '../../../src/http/api-error.js';
import { type HttpServerHandle, startHttpServer } from '../../../src/http/server.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { LogCapture } from '../../helpers/log-capture.js';
import { FakeManagementApi } from './fake-management-api.js';

const TENANT = '0123456789abcdef0123456789abcdef';
const TIMELINE = 'fedcba9876543210fedcba9876543210';

interface Harness {
  api: FakeManagementApi;
  server: HttpServerHandle;
  logs: LogCapture;
  metrics: Metrics;
  applied: string[];
}

async function withServer(body: (harness: Harness) => Promise<void>, allow: RegExp[] = []): Promise<void> {
  const api = new FakeManagementApi();
  const logs = new LogCapture(allow);
  const metrics = new Metrics();
  const applied: string[] = [];
  const { configureFailpoints } = await import('../../../src/failpoints.js');
  const server = await startHttpServer({
    address: '127.0.0.1:0', api, metrics, logger: logs.logger, bodyBytesMax: 4096,
    applyFailpoints: (spec) => { applied.push(spec); configureFailpoints(spec); },
  });
  try {
    await body({ api, server, logs, metrics, applied });
    logs.assertClean();
  } finally {
    await server.close();
    clearFailpoints();
  }
}

async function call(server: HttpServerHandle, method: string, path: string, body?: string): Promise<{ status: number; json: any; response: Response }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = body;
  const response = await fetch(`${server.url}${path}`, init);
  const text = await response.clone().text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: response.status, json, response };
}

async function withTimeline(harness: Harness): Promise<void> {
  await harness.api.createTenant({ new_tenant_id: TENANT });
  await harness.api.createTimeline(TENANT, { new_timeline_id: TIMELINE });
}

test('GET /v1/status returns the server status', () => withServer(async ({ server }) => {
  const { status, json } = await call(server, 'GET', '/v1/status');
  assert.is(status, 200);
  assert.is(json.id, 'fake');
}));

test('POST /v1/tenant creates with and without an id; GET lists and shows', () => withServer(async ({ server }) => {
  const created = await call(server, 'POST', '/v1/tenant', JSON.stringify({ new_tenant_id: TENANT }));
  assert.is(created.status, 201);
  assert.is(created.json.id, TENANT);
  const generated = await call(server, 'POST', '/v1/tenant');
  assert.is(generated.status, 201);
  assert.match(generated.json.id, /^[0-9a-f]{32}$/);
  const list = await call(server, 'GET', '/v1/tenant');
  assert.is(list.json.length, 2);
  const one = await call(server, 'GET', `/v1/tenant/${TENANT}`);
  assert.is(one.json.state.slug, 'Active');
}));

test('timeline routes create, list and show', () => withServer(async (harness) => {
  const { server, api } = harness;
  await api.createTenant({ new_tenant_id: TENANT });
  const body = JSON.stringify({ new_timeline_id: TIMELINE, from_primary: 'host=127.0.0.1 port=5432', pg_version: 15 });
  const created = await call(server, 'POST', `/v1/tenant/${TENANT}/timeline`, body);
  assert.is(created.status, 201);
  assert.is(created.json.timeline_id, TIMELINE);
  assert.equal(api.lastCreateTimeline, { new_timeline_id: TIMELINE, from_primary: 'host=127.0.0.1 port=5432', pg_version: 15 });
  const list = await call(server, 'GET', `/v1/tenant/${TENANT}/timeline`);
  assert.is(list.json.length, 1);
  const one = await call(server, 'GET', `/v1/tenant/${TENANT}/timeline/${TIMELINE}`);
  assert.is(one.json.tenant_id, TENANT);
}));

test('storage routes: layer listing, checkpoint, compact (force), do_gc (gc_horizon), DELETE; bad input is 400', () => withServer(async (harness) => {
  await withTimeline(harness);
  const base = `/v1/tenant/${TENANT}/timeline/${TIMELINE}`;
  const listing = await call(harness.server, 'GET', `${base}/layer`);
  assert.is(listing.status, 200);
  assert.equal(listing.json, { in_memory_layers: [], historic_layers: [] });
  assert.is((await call(harness.server, 'PUT', `${base}/checkpoint`)).status, 200);
  assert.is((await call(harness.server, 'PUT', `${base}/compact?force=true`)).status, 200);
  assert.is((await call(harness.server, 'PUT', `${base}/do_gc`, JSON.stringify({ gc_horizon: 4096 }))).status, 200);
  assert.is((await call(harness.server, 'PUT', `${base}/do_gc`)).status, 200);
  assert.equal(harness.api.maintenanceCalls, ['checkpoint', 'compact force=true', 'do_gc 4096', 'do_gc default']);
  const badForce = await call(harness.server, 'PUT', `${base}/compact?force=maybe`);
  assert.is(badForce.status, 400);
  assert.match(badForce.json.msg, /force/);
  const badHorizon = await call(harness.server, 'PUT', `${base}/do_gc`, JSON.stringify({ gc_horizon: -1 }));
  assert.is(badHorizon.status, 400);
  assert.match(badHorizon.json.msg, /gc_horizon/);
  const badConfig = await call(harness.server, 'POST', '/v1/tenant', JSON.stringify({ config: [1, 2] }));
  assert.is(badConfig.status, 400);
  assert.is((await call(harness.server, 'DELETE', base)).status, 200);
  assert.is((await call(harness.server, 'DELETE', base)).status, 404);
}));

test('relsize parses rel, fork and lsn', () => withServer(async (harness) => {
  await withTimeline(harness);
  const { status, json } = await call(harness.server, 'GET', `/v1/tenant/${TENANT}/timeline/${TIMELINE}/relsize?rel=1663/5/16384&fork=vm&lsn=1/A0`);
  assert.is(status, 200);
  assert.equal(json, { size: 16384 + 2 });
  assert.equal(harness.api.lastPageCall?.rel, { spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 2 });
  assert.is(harness.api.lastPageCall?.lsn, 0x1_0000_00a0);
}));

test('getpage returns 8192 raw bytes as application/octet-stream', () => withServer(async (harness) => {
  await withTimeline(harness);
  const { status, response } = await call(harness.server, 'GET', `/v1/tenant/${TENANT}/timeline/${TIMELINE}/getpage?rel=1663/5/16384&blk=7`);
  assert.is(status, 200);
  assert.is(response.headers.get('content-type'), 'application/octet-stream');
  const bytes = new Uint8Array(await response.arrayBuffer());
  assert.is(bytes.length, 8192);
  assert.is(bytes[0], 7);
  assert.is(bytes[1], 0);
  assert.is(harness.api.lastPageCall?.lsn, undefined);
}));

test('slru returns the segment\'s pages as application/octet-stream', () => withServer(async (harness) => {
  await withTimeline(harness);
  const { status, response } = await call(harness.server, 'GET', `/v1/tenant/${TENANT}/timeline/${TIMELINE}/slru?kind=multixact_offsets&segment=3&lsn=0/16B3748`);
  assert.is(status, 200);
  assert.is(response.headers.get('content-type'), 'application/octet-stream');
  const bytes = new Uint8Array(await response.arrayBuffer());
  assert.is(bytes.length, 2 * 8192);
  assert.equal([bytes[0], bytes[1], bytes[8192]], [2, 3, 2]);
  assert.equal(harness.api.lastSlruCall, { tenantId: TENANT, timelineId: TIMELINE, kind: 2, segment: 3, lsn: 0x16b3748 });
}));

const BAD_PARAMETERS: Array<[string, string]> = [
  [`/v1/tenant/NOTHEX/timeline`, 'tenant_id'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE.toUpperCase()}`, 'timeline_id'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/relsize?rel=1663/5`, 'rel'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/relsize?rel=1663/5/99999999999`, 'rel'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/relsize`, 'rel'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/relsize?rel=1/2/3&fork=data`, 'fork'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/relsize?rel=1/2/3&lsn=12345`, 'lsn'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/getpage?rel=1/2/3`, 'blk'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/getpage?rel=1/2/3&blk=4294967295`, 'blk'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/getpage?rel=1/2/3&blk=-1`, 'blk'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/slru?kind=subtrans&segment=0`, 'kind'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/slru?kind=clog`, 'segment'],
  [`/v1/tenant/${TENANT}/timeline/${TIMELINE}/slru?kind=clog&segment=x`, 'segment'],
];

test('bad ids, rel, fork, blk and lsn give 400 naming the parameter', () => withServer(async (harness) => {
  await withTimeline(harness);
  for (const [path, parameter] of BAD_PARAMETERS) {
    const { status, json } = await call(harness.server, 'GET', path);
    assert.is(status, 400, path);
    assert.is(json.code, 'PS_ERR_BAD_REQUEST');
    assert.ok(json.msg.includes(parameter), `${path}: '${json.msg}' should name ${parameter}`);
  }
}));

test('bad JSON bodies and bad fields give 400', () => withServer(async (harness) => {
  await harness.api.createTenant({ new_tenant_id: TENANT });
  const broken = await call(harness.server, 'POST', '/v1/tenant', '{"new_tenant_id": ');
  assert.is(broken.status, 400);
  assert.match(broken.json.msg, 'invalid JSON');
  const badId = await call(harness.server, 'POST', '/v1/tenant', JSON.stringify({ new_tenant_id: 'xyz' }));
  assert.match(badId.json.msg, 'new_tenant_id');
  const unknown = await call(harness.server, 'POST', `/v1/tenant/${TENANT}/timeline`, JSON.stringify({ colour: 'blue' }));
  assert.is(unknown.status, 400);
  assert.match(unknown.json.msg, 'colour');
  const badLsn = await call(harness.server, 'POST', `/v1/tenant/${TENANT}/timeline`, JSON.stringify({ ancestor_timeline_id: TIMELINE, ancestor_start_lsn: 'zz' }));
  assert.match(badLsn.json.msg, 'ancestor_start_lsn');
}));

test('unknown route is 404, wrong method is 405 with Allow, big body is 413', () => withServer(async ({ server }) => {
  const missing = await call(server, 'GET', '/v2/nothing');
  assert.is(missing.status, 404);
  assert.is(missing.json.code, 'PS_ERR_NOT_FOUND');
  const wrong = await call(server, 'DELETE', '/v1/tenant');
  assert.is(wrong.status, 405);
  assert.is(wrong.response.headers.get('allow'), 'POST, GET');
  const big = await call(server, 'POST', '/v1/tenant', JSON.stringify({ new_tenant_id: 'a'.repeat(10_000) }));
  assert.is(big.status, 413);
}));

test('every error code maps to its status with {msg, code}', () => withServer(async ({ server, api }) => {
  const expected: Record<ErrorCode, number> = {
    PS_ERR_BAD_REQUEST: 400, PS_ERR_BAD_CONFIG: 400, PS_ERR_NOT_FOUND: 404, PS_ERR_ALREADY_EXISTS: 409, PS_ERR_CONFLICT: 409,
    PS_ERR_ILLEGAL_TRANSITION: 409, PS_ERR_MAILBOX_FULL: 503, PS_ERR_SHUTTING_DOWN: 503, PS_ERR_ACTOR_STOPPED: 503,
    PS_ERR_TIMEOUT: 504, PS_ERR_REDO_UNSUPPORTED: 501, PS_ERR_NOT_IMPLEMENTED: 501, PS_ERR_REDO_FAILED: 500, PS_ERR_LSN_TOO_OLD: 410, PS_ERR_BROKEN: 500, PS_ERR_WAL_CORRUPT: 500,
    PS_ERR_WAL_UNSUPPORTED: 500, PS_ERR_PROTOCOL: 500, PS_ERR_UPSTREAM: 500, PS_ERR_IO: 500, PS_ERR_FAILPOINT: 500,
  };
  for (const [code, status] of Object.entries(expected) as Array<[ErrorCode, number]>) {
    assert.is(statusForCode(code), status, code);
    api.failure = new StrataError(code, `simulated ${code}`, { reason: 'disk gone' });
    const reply = await call(server, 'GET', '/v1/status');
    assert.is(reply.status, status, code);
    assert.is(reply.json.code, code);
    assert.is(reply.json.msg, `simulated ${code}`);
    if (code === 'PS_ERR_BROKEN') assert.is(reply.json.reason, 'disk gone');
  }
}, [/failed: simulated/]));

test('a non-coded error (an assert) is a 500 PS_ERR_INTERNAL and logged at ERROR', () => withServer(async ({ server, api, logs }) => {
  api.failure = new AssertionError({ message: 'invariant broken' });
  const reply = await call(server, 'GET', '/v1/tenant');
  assert.is(reply.status, 500);
  assert.is(reply.json.code, 'PS_ERR_INTERNAL');
  assert.ok(logs.lines.some((line) => line.level === 50 && line.msg.includes('invariant broken')));
}, [/invariant broken/]));

test('4xx are logged at INFO and authorization headers never reach the log', () => withServer(async ({ server, logs }) => {
  await fetch(`${server.url}/v1/tenant/nothex`, { headers: { authorization: 'Bearer secret-token' } });
  const line = logs.lines.find((candidate) => candidate.msg.includes('rejected'));
  assert.is(line?.level, 30);
  assert.not.ok(JSON.stringify(logs.lines).includes('secret-token'));
}));

test('PUT /v1/failpoints applies Neon-shaped entries and returns every known failpoint', () => withServer(async ({ server, applied }) => {
  const body = JSON.stringify([{ name: 'timeline-flush', actions: 'return(5)' }, { name: 'walreceiver-before-ingest', actions: '2*sleep(10)' }]);
  const reply = await call(server, 'PUT', '/v1/failpoints', body);
  assert.is(reply.status, 200);
  assert.equal(applied, ['timeline-flush=return(5);walreceiver-before-ingest=2*sleep(10)']);
  const expected = Object.entries(FAILPOINT_NAMES).map(([name, description]) => ({
    name, actions: ({ 'timeline-flush': 'return(5)', 'walreceiver-before-ingest': '2*sleep(10)' } as Record<string, string>)[name] ?? 'off', description,
  }));
  assert.equal(reply.json, expected);
  assert.equal(listFailpoints(), { 'timeline-flush': 'return(5)', 'walreceiver-before-ingest': '2*sleep(10)' });
  const bad = await call(server, 'PUT', '/v1/failpoints', JSON.stringify([{ name: 'timeline-flush', actions: 'explode' }]));
  assert.is(bad.status, 400);
  assert.match(bad.json.msg, "'timeline-flush'");
  const injected = await call(server, 'PUT', '/v1/failpoints', JSON.stringify([{ name: 'a;b', actions: 'off' }]));
  assert.is(injected.status, 400);
  assert.is(applied.length, 1);
}));

test('GET /v1/failpoints lists every known failpoint; PUT refuses an unknown name with a 400 naming it', () => withServer(async ({ server, applied }) => {
  const listed = await call(server, 'GET', '/v1/failpoints');
  assert.is(listed.status, 200);
  const names = (listed.json as Array<{ name: string; actions: string; description: string }>).map((entry) => entry.name);
  assert.equal(names, Object.keys(FAILPOINT_NAMES));
  for (const entry of listed.json as Array<{ name: string; actions: string; description: string }>) {
    assert.is(entry.actions, 'off', `${entry.name} is inactive`);
    assert.ok(entry.description.length > 10, `${entry.name} has a description`);
  }
  console.log(`GET /v1/failpoints listed ${names.length} known failpoints`);
  const unknown = await call(server, 'PUT', '/v1/failpoints',
    JSON.stringify([{ name: 'timeline-flush', actions: 'return' }, { name: 'flush-before-rename', actions: '1*panic(test)' }]));
  assert.is(unknown.status, 400);
  assert.is(unknown.json.code, 'PS_ERR_BAD_REQUEST');
  assert.match(unknown.json.msg, "unknown failpoint 'flush-before-rename'");
  assert.equal(applied, [], 'nothing is applied when one entry is unknown');
  assert.equal(listFailpoints(), {});
}));

test('GET /metrics returns Prometheus text with strata_ metrics and counts requests', () => withServer(async ({ server, metrics }) => {
  metrics.walReceivedBytes.inc(123);
  await call(server, 'GET', '/v1/status');
  const reply = await call(server, 'GET', '/metrics');
  assert.is(reply.status, 200);
  assert.match(reply.response.headers.get('content-type') ?? '', 'text/plain');
  const text = await reply.response.text();
  assert.match(text, 'strata_wal_received_bytes_total 123');
  assert.match(text, 'strata_http_requests_total{method="GET",route="/v1/status",status="200"} 1');
  assert.match(text, '# TYPE strata_getpage_latency_seconds histogram');
}));

test.run();
