/**
 * The actions of the CLI commands that talk to a running server (tenant, timeline, relsize,
 * getpage, failpoints, compute) and the local ones (waldump). Each prints exactly what scripts need:
 * an id alone, a number, JSON, or raw page bytes.
 */
import { assert } from '../assert.js';
import { parseFailpoints } from '../failpoints.js';
import type { TenantInfo, TimelineInfo } from '../http/management-api.js';
import { parseLsn } from '../lsn.js';
import { CliFailure, type EndpointOptions, requestBytes, requestJson, resolveEndpoint } from './client.js';

const PAGE_BYTES = 8192;

export function writeStdout(data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (error) => (error ? reject(error) : resolve())));
}

function usage(message: string): CliFailure {
  return new CliFailure(message, 'usage', 2);
}

export async function tenantCreate(options: EndpointOptions & { id?: string; config?: string[] }): Promise<void> {
  const base = await resolveEndpoint(options);
  const body: Record<string, unknown> = options.id === undefined ? {} : { new_tenant_id: options.id };
  if (options.config !== undefined && options.config.length > 0) {
    const config: Record<string, string> = {};
    for (const pair of options.config) {
      const equals = pair.indexOf('=');
      if (equals <= 0) throw usage(`bad -c '${pair}': expected key=value`);
      config[pair.slice(0, equals).trim()] = pair.slice(equals + 1).trim();
    }
    body.config = config;
  }
  const tenant = (await requestJson(base, { method: 'POST', path: '/v1/tenant', body })) as TenantInfo;
  assert(typeof tenant.id === 'string', 'the server returns the tenant id');
  await writeStdout(`${tenant.id}\n`);
}

export async function tenantList(options: EndpointOptions & { json?: boolean }): Promise<void> {
  const base = await resolveEndpoint(options);
  const tenants = (await requestJson(base, { method: 'GET', path: '/v1/tenant' })) as TenantInfo[];
  if (options.json === true) return writeStdout(`${JSON.stringify(tenants, null, 2)}\n`);
  await writeStdout(tenants.map((tenant) => `${tenant.id} ${tenant.state.slug} ${tenant.timelines.length}\n`).join(''));
}

export interface TimelineCreateOptions extends EndpointOptions {
  tenant: string;
  id?: string;
  fromPrimary?: string;
  ancestor?: string;
  ancestorLsn?: string;
}

export async function timelineCreate(options: TimelineCreateOptions): Promise<void> {
  if (options.ancestorLsn !== undefined && options.ancestor === undefined) throw usage('--ancestor-lsn needs --ancestor TL');
  if (options.fromPrimary !== undefined && options.ancestor !== undefined) throw usage('--from-primary and --ancestor exclude each other');
  const body: Record<string, string> = {};
  if (options.id !== undefined) body.new_timeline_id = options.id;
  if (options.fromPrimary !== undefined) body.from_primary = options.fromPrimary;
  if (options.ancestor !== undefined) body.ancestor_timeline_id = options.ancestor;
  if (options.ancestorLsn !== undefined) body.ancestor_start_lsn = options.ancestorLsn;
  const base = await resolveEndpoint(options);
  const path = `/v1/tenant/${encodeURIComponent(options.tenant)}/timeline`;
  const timeline = (await requestJson(base, { method: 'POST', path, body })) as TimelineInfo;
  assert(typeof timeline.timeline_id === 'string', 'the server returns the timeline id');
  await writeStdout(`${timeline.timeline_id}\n`);
}

export async function timelineList(options: EndpointOptions & { tenant: string; json?: boolean }): Promise<void> {
  const base = await resolveEndpoint(options);
  const path = `/v1/tenant/${encodeURIComponent(options.tenant)}/timeline`;
  const timelines = (await requestJson(base, { method: 'GET', path })) as TimelineInfo[];
  if (options.json === true) return writeStdout(`${JSON.stringify(timelines, null, 2)}\n`);
  await writeStdout(timelines.map((timeline) => `${timeline.timeline_id} ${timeline.state} ${timeline.last_record_lsn}\n`).join(''));
}

export async function timelineShow(options: EndpointOptions & { tenant: string; timeline: string }): Promise<void> {
  const base = await resolveEndpoint(options);
  const path = `/v1/tenant/${encodeURIComponent(options.tenant)}/timeline/${encodeURIComponent(options.timeline)}`;
  await writeStdout(`${JSON.stringify(await requestJson(base, { method: 'GET', path }), null, 2)}\n`);
}

/** `strata timeline branch`: a branch of TL at X/Y (default: its last record LSN); prints the new id. */
export async function timelineBranch(options: EndpointOptions & { tenant: string; ancestor: string; lsn?: string; id?: string }): Promise<void> {
  if (options.lsn !== undefined) parseLsn(options.lsn);
  const { lsn, ...rest } = options;
  await timelineCreate(lsn === undefined ? rest : { ...rest, ancestorLsn: lsn });
}

export async function timelineDelete(options: EndpointOptions & { tenant: string; timeline: string }): Promise<void> {
  const base = await resolveEndpoint(options);
  await requestJson(base, { method: 'DELETE', path: timelinePath(options) });
}

function timelinePath(options: { tenant: string; timeline: string }): string {
  return `/v1/tenant/${encodeURIComponent(options.tenant)}/timeline/${encodeURIComponent(options.timeline)}`;
}

/** `strata timeline checkpoint|compact|gc`: one maintenance pass; prints its JSON report. */
export async function timelineMaintenance(what: 'checkpoint' | 'compact' | 'gc', options: EndpointOptions & { tenant: string; timeline: string; force?: boolean; gcHorizon?: string }): Promise<void> {
  const base = await resolveEndpoint(options);
  const route = what === 'gc' ? 'do_gc' : what;
  const query = what === 'compact' && options.force === true ? '?force=true' : '';
  let body: unknown;
  if (what === 'gc' && options.gcHorizon !== undefined) {
    const horizon = Number(options.gcHorizon);
    if (!Number.isSafeInteger(horizon) || horizon < 0) throw usage(`--gc-horizon expects bytes, got '${options.gcHorizon}'`);
    body = { gc_horizon: horizon };
  }
  const report = await requestJson(base, { method: 'PUT', path: `${timelinePath(options)}/${route}${query}`, ...(body === undefined ? {} : { body }) });
  await writeStdout(`${JSON.stringify(report, null, 2)}
`);
}

interface LayerRow { kind: string; l0: boolean; layer_file_name: string; layer_file_size: number; lsn_start: string; lsn_end: string; key_start: string; key_end: string }

/** `strata layers`: the layer map as a table (or JSON), newest first. */
export async function layers(options: EndpointOptions & { tenant: string; timeline: string; json?: boolean }): Promise<void> {
  const base = await resolveEndpoint(options);
  const listing = (await requestJson(base, { method: 'GET', path: `${timelinePath(options)}/layer` })) as {
    in_memory_layers: { lsn_start: string; lsn_end: string | null; bytes: number; frozen: boolean }[]; historic_layers: LayerRow[];
  };
  if (options.json === true) return writeStdout(`${JSON.stringify(listing, null, 2)}
`);
  const rows = [
    ['KIND', 'LSN_START', 'LSN_END', 'KEY_START', 'KEY_END', 'BYTES'],
    ...listing.in_memory_layers.map((layer) => [layer.frozen ? 'memory(frozen)' : 'memory(open)', layer.lsn_start, layer.lsn_end ?? '-', '-', '-', String(layer.bytes)]),
    ...listing.historic_layers.map((layer) => [layer.kind === 'Image' ? 'image' : layer.l0 ? 'delta L0' : 'delta L1', layer.lsn_start, layer.lsn_end, layer.key_start, layer.key_end, String(layer.layer_file_size)]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  await writeStdout(rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n');
}

export interface PageOptions extends EndpointOptions {
  tenant: string;
  timeline: string;
  rel: string;
  fork?: string;
  lsn?: string;
  blk?: string;
}

function pagePath(options: PageOptions, route: 'relsize' | 'getpage'): string {
  const query = new URLSearchParams({ rel: options.rel, fork: options.fork ?? 'main' });
  if (options.blk !== undefined) query.set('blk', options.blk);
  if (options.lsn !== undefined) {
    parseLsn(options.lsn);
    query.set('lsn', options.lsn);
  }
  return `/v1/tenant/${encodeURIComponent(options.tenant)}/timeline/${encodeURIComponent(options.timeline)}/${route}?${query}`;
}

export async function relsize(options: PageOptions): Promise<void> {
  const base = await resolveEndpoint(options);
  const reply = (await requestJson(base, { method: 'GET', path: pagePath(options, 'relsize') })) as { size: number };
  assert(Number.isInteger(reply.size), 'the server returns a block count');
  await writeStdout(`${reply.size}\n`);
}

export async function getpage(options: PageOptions): Promise<void> {
  const base = await resolveEndpoint(options);
  const page = await requestBytes(base, { method: 'GET', path: pagePath(options, 'getpage') });
  if (page.length !== PAGE_BYTES) throw new CliFailure(`server returned ${page.length} bytes instead of ${PAGE_BYTES}`, 'PS_ERR_PROTOCOL');
  await writeStdout(page);
}

export interface ComputeStartOptions extends EndpointOptions {
  tenant: string;
  timeline: string;
  lsn?: string;
  time?: string;
  port?: string;
  branch?: string;
}

/** A compute start waits for the full backup and PostgreSQL's startup: minutes on a large timeline. */
const COMPUTE_START_TIMEOUT_MS = 30 * 60_000;

/** `strata compute start`: prints the server's one JSON object (compute_id, connstr, lsn, port, startup_ms). */
export async function computeStart(options: ComputeStartOptions): Promise<void> {
  if (options.lsn !== undefined && options.time !== undefined) throw usage('--lsn and --time exclude each other');
  if (options.lsn !== undefined) parseLsn(options.lsn);
  const body: Record<string, unknown> = { tenant_id: options.tenant, timeline_id: options.timeline };
  if (options.lsn !== undefined) body.lsn = options.lsn;
  if (options.time !== undefined) body.time = options.time;
  if (options.port !== undefined) {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw usage(`--port expects 1..65535, got '${options.port}'`);
    body.port = port;
  }
  if (options.branch !== undefined) body.branch = options.branch;
  const base = await resolveEndpoint(options);
  const reply = await requestJson(base, { method: 'POST', path: '/v1/compute', body, timeoutMs: COMPUTE_START_TIMEOUT_MS });
  await writeStdout(`${JSON.stringify(reply)}\n`);
}

/** `strata compute list`: the computes as a JSON array. */
export async function computeList(options: EndpointOptions): Promise<void> {
  const base = await resolveEndpoint(options);
  await writeStdout(`${JSON.stringify(await requestJson(base, { method: 'GET', path: '/v1/compute' }), null, 2)}\n`);
}

/** `strata compute status --id ID`: one compute as JSON (with the PostgreSQL log tail when it Failed). */
export async function computeStatus(options: EndpointOptions & { id: string }): Promise<void> {
  const base = await resolveEndpoint(options);
  const path = `/v1/compute/${encodeURIComponent(options.id)}/status`;
  await writeStdout(`${JSON.stringify(await requestJson(base, { method: 'GET', path }), null, 2)}\n`);
}

/** `strata compute stop --id ID [--keep]`: prints the stopped compute as JSON. */
export async function computeStop(options: EndpointOptions & { id: string; keep?: boolean }): Promise<void> {
  const base = await resolveEndpoint(options);
  const path = `/v1/compute/${encodeURIComponent(options.id)}/stop`;
  const reply = await requestJson(base, { method: 'POST', path, body: { keep: options.keep === true }, timeoutMs: 2 * 60_000 });
  await writeStdout(`${JSON.stringify(reply)}\n`);
}

/** One known failpoint as GET/PUT /v1/failpoints return it. */
interface FailpointJson { name: string; actions: string; description?: string }

/**
 * Checks the spec's syntax here (a usage error exits 2) and leaves the names to the server, which
 * knows its own: an unknown one comes back as a 400 naming it. Prints the active failpoints.
 */
export async function failpointsSet(spec: string, options: EndpointOptions): Promise<void> {
  const entries = parseFailpoints(spec, null);
  if (entries.length === 0) throw usage('empty failpoint spec');
  const base = await resolveEndpoint(options);
  const body = entries.map((entry) => ({ name: entry.name, actions: entry.action.text }));
  const list = (await requestJson(base, { method: 'PUT', path: '/v1/failpoints', body })) as FailpointJson[];
  await writeStdout(list.filter((entry) => entry.actions !== 'off').map((entry) => `${entry.name}=${entry.actions}\n`).join(''));
}

/** Prints every failpoint the server knows: `name=action` ('off' when inactive), a tab, what it is. */
export async function failpointsList(options: EndpointOptions): Promise<void> {
  const base = await resolveEndpoint(options);
  const list = (await requestJson(base, { method: 'GET', path: '/v1/failpoints' })) as FailpointJson[];
  await writeStdout(list.map((entry) => `${entry.name}=${entry.actions}\t${entry.description ?? ''}\n`).join(''));
}

interface WaldumpModule {
  runWaldump(files: string[], output: NodeJS.WritableStream): Promise<void>;
}

export async function waldump(files: string[]): Promise<void> {
  assert(files.length > 0, 'commander requires at least one file');
  // A variable specifier keeps tsc from resolving a module another helper writes.
  const specifier = '../wal/waldump.js';
  let module: WaldumpModule;
  try {
    module = (await import(specifier)) as WaldumpModule;
  } catch (error) {
    throw new CliFailure(`waldump is not available in this build: ${(error as Error).message}`, 'PS_ERR_WAL_UNSUPPORTED');
  }
  await module.runWaldump(files, process.stdout);
}
