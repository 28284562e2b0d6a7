/**
 * The management API routes (shaped like Neon's pageserver v1 API), each a thin adapter from HTTP
 * to one `ManagementApi` method: validate the input (parameters.ts), call, shape the reply.
 *
 *   GET  /v1/status
 *   POST /v1/tenant                                            201 TenantInfo
 *   GET  /v1/tenant                                            TenantInfo[]
 *   GET  /v1/tenant/:tenant_id                                 TenantInfo
 *   POST /v1/tenant/:tenant_id/timeline                        201 TimelineInfo
 *   GET  /v1/tenant/:tenant_id/timeline                        TimelineInfo[]
 *   GET  /v1/tenant/:tenant_id/timeline/:timeline_id           TimelineInfo
 *   GET  /v1/tenant/:tenant_id/timeline/:timeline_id/relsize   {"size": N}
 *   GET  /v1/tenant/:tenant_id/timeline/:timeline_id/getpage   8192 bytes, application/octet-stream
 *   GET  /v1/tenant/:tenant_id/timeline/:timeline_id/slru      ?kind=clog|multixact_members|multixact_offsets&segment=N&lsn=X/Y: the segment's pages
 *   DELETE /v1/tenant/:tenant_id/timeline/:timeline_id        a timeline without children
 *   GET  /v1/tenant/:tenant_id/timeline/:timeline_id/layer     {in_memory_layers, historic_layers}
 *   PUT  /v1/tenant/:tenant_id/timeline/:timeline_id/checkpoint  freeze, flush, compaction pass
 *   PUT  /v1/tenant/:tenant_id/timeline/:timeline_id/compact   ?force=true: compact whatever exists
 *   PUT  /v1/tenant/:tenant_id/timeline/:timeline_id/do_gc     body {"gc_horizon": bytes} optional
 *   GET  /v1/tenant/:tenant_id/timeline/:timeline_id/fullbackup  ?lsn=X/Y: a tar of a data directory a stock PostgreSQL 15 starts from
 *   GET  /v1/tenant/:tenant_id/timeline/:timeline_id/get_lsn_by_timestamp  ?timestamp=ISO 8601: {"lsn", "kind"}
 *   PUT  /v1/failpoints                                        [{"name", "actions", "description"}] every known failpoint
 *   GET  /v1/failpoints                                        [{"name", "actions", "description"}] every known failpoint
 *   POST /v1/compute                                           201 {compute_id, connstr, timeline_id, lsn, port, startup_ms}
 *   GET  /v1/compute                                           ComputeInfo[]
 *   GET  /v1/compute/:compute_id/status                        ComputeInfo (log_tail when Failed)
 *   POST /v1/compute/:compute_id/stop                          body {"keep": true} optional; ComputeInfo
 *   GET  /metrics                                              Prometheus text
 *
 * Examples for each route are in docs/api.md. Errors are thrown, never turned into statuses here.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { describeFailpoints, formatFailpoints, parseFailpoints, type FailpointDescription } from '../failpoints.js';
import type { Metrics } from '../observability/metrics.js';
import type { BackupApi, ComputeApi, ManagementApi } from './management-api.js';
import { formatLsn } from '../lsn.js';
import {
  parseBlockNumber, parseCreateTenantBody, parseCreateTimelineBody, parseDoGcBody, parseFailpointsBody, parseForce, parseId, parseOptionalLsn, parseRelTag,
  parseIsoTimestampUs, parseSlruSegment, parseStartComputeBody, parseStopComputeBody,
} from './parameters.js';
import { Router } from './router.js';

export const PAGE_BYTES = 8192;

export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Parsed JSON body; undefined when the request had none. */
  readonly body: unknown;
}

export type RouteResult =
  | { readonly status: number; readonly json: unknown }
  /** A body streamed through `write`, which resolves when the client can take more. */
  | { readonly status: number; readonly contentType: string; readonly stream: (write: (bytes: Uint8Array) => Promise<void>) => Promise<void> }
  | { readonly status: number; readonly bytes: Uint8Array; readonly contentType: string };

export type RouteHandler = (context: RouteContext) => Promise<RouteResult>;

export interface RouteDependencies {
  readonly api: ManagementApi;
  /** The compute routes exist only when the server runs a compute manager. */
  readonly computes?: ComputeApi | undefined;
  readonly metrics: Metrics;
  readonly backups?: BackupApi | undefined;
  /**
   * Applies a failpoint spec everywhere (main thread and every worker). It must configure the main
   * thread's registry too: the reply lists `describeFailpoints()` of the main thread.
   */
  readonly applyFailpoints: (spec: string) => Promise<void> | void;
}

const ok = (json: unknown): RouteResult => ({ status: 200, json });
const created = (json: unknown): RouteResult => ({ status: 201, json });

/** Every known failpoint (failpoint-names.ts) with its action in the main thread, 'off' if none. */
function failpointList(): FailpointDescription[] {
  return describeFailpoints();
}

async function putFailpoints(dependencies: RouteDependencies, body: unknown): Promise<RouteResult> {
  const entries = parseFailpointsBody(body);
  for (const entry of entries) {
    // Refuses unknown names (PS_ERR_BAD_REQUEST naming them) before anything is applied.
    const parsed = parseFailpoints(`${entry.name}=${entry.actions}`);
    if (parsed.length !== 1 || parsed[0]!.name !== entry.name) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `failpoint '${entry.name}': invalid name or action`, { failpoint: entry.name });
    }
  }
  const spec = formatFailpoints(Object.fromEntries(entries.map((entry) => [entry.name, entry.actions])));
  await dependencies.applyFailpoints(spec);
  return ok(failpointList());
}

async function getPage(api: ManagementApi, context: RouteContext): Promise<RouteResult> {
  const tenantId = parseId('tenant_id', context.params.tenant_id);
  const timelineId = parseId('timeline_id', context.params.timeline_id);
  const rel = parseRelTag(context.query);
  const blockNumber = parseBlockNumber(context.query);
  const lsn = parseOptionalLsn(context.query);
  const page = await api.getPage(tenantId, timelineId, rel, blockNumber, lsn);
  assert(page.length === PAGE_BYTES, `getPage must return ${PAGE_BYTES} bytes, got ${page.length}`);
  return { status: 200, bytes: page, contentType: 'application/octet-stream' };
}

async function getSlruSegment(api: ManagementApi, context: RouteContext): Promise<RouteResult> {
  const tenantId = parseId('tenant_id', context.params.tenant_id);
  const timelineId = parseId('timeline_id', context.params.timeline_id);
  const { kind, segment } = parseSlruSegment(context.query);
  const bytes = await api.getSlruSegment(tenantId, timelineId, kind, segment, parseOptionalLsn(context.query));
  assert(bytes.length % PAGE_BYTES === 0, 'an SLRU segment is whole pages');
  return { status: 200, bytes, contentType: 'application/octet-stream' };
}

async function relSize(api: ManagementApi, context: RouteContext): Promise<RouteResult> {
  const tenantId = parseId('tenant_id', context.params.tenant_id);
  const timelineId = parseId('timeline_id', context.params.timeline_id);
  const rel = parseRelTag(context.query);
  const size = await api.relSize(tenantId, timelineId, rel, parseOptionalLsn(context.query));
  assert(Number.isInteger(size) && size >= 0, 'relSize must return a block count');
  return ok({ size });
}

function addComputeRoutes(router: Router<RouteHandler>, computes: ComputeApi): Router<RouteHandler> {
  const compute = (context: RouteContext) => parseId('compute_id', context.params.compute_id);
  return router
    .add({ method: 'POST', pattern: '/v1/compute', handler: async (context) => created(await computes.startCompute(parseStartComputeBody(context.body))) })
    .add({ method: 'GET', pattern: '/v1/compute', handler: async () => ok(await computes.listComputes()) })
    .add({ method: 'GET', pattern: '/v1/compute/:compute_id/status', handler: async (context) => ok(await computes.computeStatus(compute(context))) })
    .add({
      method: 'POST', pattern: '/v1/compute/:compute_id/stop',
      handler: async (context) => ok(await computes.stopCompute(compute(context), parseStopComputeBody(context.body))),
    });
}

function backupsOf(dependencies: RouteDependencies): BackupApi {
  if (dependencies.backups === undefined) throw new StrataError('PS_ERR_NOT_IMPLEMENTED', 'backups are not available on this server');
  return dependencies.backups;
}

function fullbackup(dependencies: RouteDependencies, context: RouteContext): RouteResult {
  const backups = backupsOf(dependencies);
  const tenantId = parseId('tenant_id', context.params.tenant_id);
  const timelineId = parseId('timeline_id', context.params.timeline_id);
  const lsn = parseOptionalLsn(context.query);
  return {
    status: 200,
    contentType: 'application/x-tar',
    stream: async (write) => { await backups.fullbackupToTar(tenantId, timelineId, write, { lsn }); },
  };
}

/** Neon's get_lsn_by_timestamp: `timestamp` is ISO 8601, to the microsecond (UTC without an offset). */
async function lsnByTimestamp(dependencies: RouteDependencies, context: RouteContext): Promise<RouteResult> {
  const backups = backupsOf(dependencies);
  const timestampUs = parseIsoTimestampUs('timestamp', context.query.get('timestamp') ?? undefined);
  const answer = await backups.lsnForTimestamp(parseId('tenant_id', context.params.tenant_id), parseId('timeline_id', context.params.timeline_id), timestampUs);
  return ok({ lsn: formatLsn(answer.lsn), kind: answer.kind });
}

export function buildRouter(dependencies: RouteDependencies): Router<RouteHandler> {
  const router = buildManagementRouter(dependencies);
  return dependencies.computes === undefined ? router : addComputeRoutes(router, dependencies.computes);
}

function buildManagementRouter(dependencies: RouteDependencies): Router<RouteHandler> {
  const { api, metrics } = dependencies;
  const tenant = (context: RouteContext) => parseId('tenant_id', context.params.tenant_id);
  const timeline = (context: RouteContext) => parseId('timeline_id', context.params.timeline_id);
  const base = '/v1/tenant/:tenant_id/timeline';
  return new Router<RouteHandler>()
    .add({ method: 'GET', pattern: '/v1/status', handler: async () => ok(await api.status()) })
    .add({ method: 'POST', pattern: '/v1/tenant', handler: async (context) => created(await api.createTenant(parseCreateTenantBody(context.body))) })
    .add({ method: 'GET', pattern: '/v1/tenant', handler: async () => ok(await api.listTenants()) })
    .add({ method: 'GET', pattern: '/v1/tenant/:tenant_id', handler: async (context) => ok(await api.getTenant(tenant(context))) })
    .add({
      method: 'POST', pattern: base,
      handler: async (context) => created(await api.createTimeline(tenant(context), parseCreateTimelineBody(context.body))),
    })
    .add({ method: 'GET', pattern: base, handler: async (context) => ok(await api.listTimelines(tenant(context))) })
    .add({ method: 'GET', pattern: `${base}/:timeline_id`, handler: async (context) => ok(await api.getTimeline(tenant(context), timeline(context))) })
    .add({ method: 'GET', pattern: `${base}/:timeline_id/relsize`, handler: (context) => relSize(api, context) })
    .add({ method: 'GET', pattern: `${base}/:timeline_id/getpage`, handler: (context) => getPage(api, context) })
    .add({ method: 'GET', pattern: `${base}/:timeline_id/slru`, handler: (context) => getSlruSegment(api, context) })
    .add({
      method: 'DELETE', pattern: `${base}/:timeline_id`,
      handler: async (context) => {
        await api.deleteTimeline(tenant(context), timeline(context));
        return ok({});
      },
    })
    .add({ method: 'GET', pattern: `${base}/:timeline_id/layer`, handler: async (context) => ok(await api.timelineLayers(tenant(context), timeline(context))) })
    .add({ method: 'PUT', pattern: `${base}/:timeline_id/checkpoint`, handler: async (context) => ok(await api.checkpoint(tenant(context), timeline(context))) })
    .add({ method: 'PUT', pattern: `${base}/:timeline_id/compact`, handler: async (context) => ok(await api.compact(tenant(context), timeline(context), parseForce(context.query))) })
    .add({ method: 'PUT', pattern: `${base}/:timeline_id/do_gc`, handler: async (context) => ok(await api.doGc(tenant(context), timeline(context), parseDoGcBody(context.body))) })
    .add({ method: 'GET', pattern: `${base}/:timeline_id/fullbackup`, handler: async (context) => fullbackup(dependencies, context) })
    .add({ method: 'GET', pattern: `${base}/:timeline_id/get_lsn_by_timestamp`, handler: (context) => lsnByTimestamp(dependencies, context) })
    .add({ method: 'PUT', pattern: '/v1/failpoints', handler: (context) => putFailpoints(dependencies, context.body) })
    .add({ method: 'GET', pattern: '/v1/failpoints', handler: async () => ok(failpointList()) })
    .add({
      method: 'GET', pattern: '/metrics',
      handler: async () => {
        const rendered = await metrics.render();
        return { status: 200, bytes: Buffer.from(rendered.body, 'utf8'), contentType: rendered.contentType };
      },
    });
}
