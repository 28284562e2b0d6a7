/**
 * Validation of everything a client sends: path ids, query parameters and JSON bodies.
 *
 * Every failure is a PS_ERR_BAD_REQUEST whose message names the parameter and whose details carry
 * `{ parameter }`, so a 400 tells the caller exactly what to fix. Pure functions, no I/O.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { SlruKind, type RelTag } from '../keys.js';
import { type Lsn, parseLsn } from '../lsn.js';
import { postgresTimestampOf } from '../timeline/commit-times.js';
import type { CreateTenantRequest, CreateTimelineRequest, StartComputeRequest } from './management-api.js';

const ID_PATTERN = /^[0-9a-f]{32}$/;
const FORKS: Record<string, number> = { main: 0, fsm: 1, vm: 2, init: 3 };
const U32_MAX = 0xffff_ffff;

function bad(parameter: string, message: string): StrataError {
  return new StrataError('PS_ERR_BAD_REQUEST', `invalid ${parameter}: ${message}`, { parameter });
}

/** Tenant and timeline ids: 32 lower-case hex digits (Neon's TenantId/TimelineId). */
export function parseId(parameter: string, value: unknown): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw bad(parameter, `${JSON.stringify(value)} is not 32 lower-case hex digits`);
  }
  return value;
}

function parseU32(parameter: string, text: string): number {
  if (!/^\d{1,10}$/.test(text)) throw bad(parameter, `'${text}' is not an unsigned 32-bit decimal`);
  const value = Number(text);
  if (value > U32_MAX) throw bad(parameter, `'${text}' exceeds ${U32_MAX}`);
  return value;
}

/** `rel=SPC/DB/REL` plus `fork=main|fsm|vm|init` (default main). */
export function parseRelTag(query: URLSearchParams): RelTag {
  const text = requiredQuery(query, 'rel');
  const parts = text.split('/');
  if (parts.length !== 3) throw bad('rel', `'${text}' is not SPC/DB/REL`);
  const [spcNode, dbNode, relNode] = parts.map((part) => parseU32('rel', part)) as [number, number, number];
  const forkText = query.get('fork') ?? 'main';
  const forkNumber = FORKS[forkText];
  if (forkNumber === undefined) throw bad('fork', `'${forkText}' is not one of main, fsm, vm, init`);
  return { spcNode, dbNode, relNode, forkNumber };
}

/** `blk=N` with N < 0xFFFFFFFF (InvalidBlockNumber is not a block). */
export function parseBlockNumber(query: URLSearchParams): number {
  const value = parseU32('blk', requiredQuery(query, 'blk'));
  if (value === U32_MAX) throw bad('blk', `${value} is InvalidBlockNumber`);
  return value;
}

const SLRU_KINDS: Record<string, SlruKind> = { clog: SlruKind.Clog, multixact_members: SlruKind.MultiXactMembers, multixact_offsets: SlruKind.MultiXactOffsets };

/** `kind=clog|multixact_members|multixact_offsets&segment=N` (N decimal, as the file name's number). */
export function parseSlruSegment(query: URLSearchParams): { kind: SlruKind; segment: number } {
  const name = requiredQuery(query, 'kind');
  const kind = SLRU_KINDS[name];
  if (kind === undefined) throw bad('kind', `'${name}' is not one of ${Object.keys(SLRU_KINDS).join(', ')}`);
  return { kind, segment: parseU32('segment', requiredQuery(query, 'segment')) };
}

/** Optional `lsn=X/Y`; undefined means "latest". */
export function parseOptionalLsn(query: URLSearchParams): Lsn | undefined {
  const text = query.get('lsn');
  if (text === null) return undefined;
  return parseLsnParameter('lsn', text);
}

export function parseLsnParameter(parameter: string, text: unknown): Lsn {
  if (typeof text !== 'string') throw bad(parameter, `${JSON.stringify(text)} is not an LSN string X/Y`);
  try {
    return parseLsn(text);
  } catch (error) {
    throw bad(parameter, error instanceof Error ? error.message : String(error));
  }
}

function requiredQuery(query: URLSearchParams, parameter: string): string {
  const value = query.get(parameter);
  if (value === null || value === '') throw bad(parameter, 'missing query parameter');
  return value;
}

function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('body', 'expected a JSON object');
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw bad(key, `unknown field (allowed: ${allowed.join(', ')})`);
  }
  return body as Record<string, unknown>;
}

/** Body of POST /v1/tenant. */
export function parseCreateTenantBody(body: unknown): CreateTenantRequest {
  const object = objectBody(body, ['new_tenant_id', 'config']);
  const request: CreateTenantRequest = {};
  if (object.new_tenant_id !== undefined && object.new_tenant_id !== null) request.new_tenant_id = parseId('new_tenant_id', object.new_tenant_id);
  if (object.config !== undefined && object.config !== null) {
    if (typeof object.config !== 'object' || Array.isArray(object.config)) throw bad('config', 'expected an object of tenant settings');
    // Keys and values are checked against the server's defaults by the tenant manager (config.ts).
    request.config = object.config as Record<string, unknown>;
  }
  return request;
}

/** Body of PUT …/do_gc: optional `{"gc_horizon": bytes}`. */
export function parseDoGcBody(body: unknown): number | undefined {
  if (body === undefined || body === null) return undefined;
  const object = objectBody(body, ['gc_horizon']);
  if (object.gc_horizon === undefined || object.gc_horizon === null) return undefined;
  if (typeof object.gc_horizon !== 'number' || !Number.isSafeInteger(object.gc_horizon) || object.gc_horizon < 0) {
    throw bad('gc_horizon', 'expected a non-negative number of bytes');
  }
  return object.gc_horizon;
}

/** `?force=true|false` (default false). */
export function parseForce(query: URLSearchParams): boolean {
  const value = query.get('force');
  if (value === null || value === 'false') return false;
  if (value === 'true') return true;
  throw bad('force', `expected true or false, got '${value}'`);
}

/** Body of POST /v1/tenant/:tenant_id/timeline. */
export function parseCreateTimelineBody(body: unknown): CreateTimelineRequest {
  const fields = ['new_timeline_id', 'ancestor_timeline_id', 'ancestor_start_lsn', 'pg_version', 'from_primary'];
  const object = objectBody(body, fields);
  const request: CreateTimelineRequest = {};
  const present = (key: string) => object[key] !== undefined && object[key] !== null;
  if (present('new_timeline_id')) request.new_timeline_id = parseId('new_timeline_id', object.new_timeline_id);
  if (present('ancestor_timeline_id')) request.ancestor_timeline_id = parseId('ancestor_timeline_id', object.ancestor_timeline_id);
  if (present('ancestor_start_lsn')) {
    parseLsnParameter('ancestor_start_lsn', object.ancestor_start_lsn);
    request.ancestor_start_lsn = object.ancestor_start_lsn as string;
  }
  if (present('pg_version')) {
    if (object.pg_version !== 15) throw bad('pg_version', `${JSON.stringify(object.pg_version)} is not supported (only 15)`);
    request.pg_version = 15;
  }
  if (present('from_primary')) {
    if (typeof object.from_primary !== 'string' || object.from_primary === '') throw bad('from_primary', 'expected a connection string');
    request.from_primary = object.from_primary;
  }
  if (request.ancestor_start_lsn !== undefined && request.ancestor_timeline_id === undefined) {
    throw bad('ancestor_start_lsn', 'given without ancestor_timeline_id');
  }
  if (request.from_primary !== undefined && request.ancestor_timeline_id !== undefined) {
    throw bad('from_primary', 'cannot be combined with ancestor_timeline_id');
  }
  return request;
}

/** Body of PUT /v1/failpoints: `[{"name": "x", "actions": "return(5)"}]` (Neon's shape). */
export function parseFailpointsBody(body: unknown): Array<{ name: string; actions: string }> {
  if (!Array.isArray(body)) throw bad('body', 'expected a JSON array of {"name", "actions"}');
  const entries: Array<{ name: string; actions: string }> = [];
  for (const [index, entry] of body.entries()) {
    const object = objectBody(entry, ['name', 'actions']);
    if (typeof object.name !== 'string' || object.name === '') throw bad(`[${index}].name`, 'expected a failpoint name');
    if (typeof object.actions !== 'string') throw bad(`[${index}].actions`, 'expected an action string');
    entries.push({ name: object.name, actions: object.actions });
  }
  assert(entries.length === body.length, 'every failpoint entry is kept');
  return entries;
}

/**
 * An ISO 8601 time as PostgreSQL TimestampTz (µs since 2000-01-01 UTC), to the microsecond:
 * `2026-01-02`, `2026-01-02T03:04:05`, `…05.123456Z`, `…05+02:00`. A time without an offset is
 * UTC (a server's local zone is not something a caller should depend on).
 */
export function parseIsoTimestampUs(parameter: string, value: unknown): number {
  if (typeof value !== 'string') throw bad(parameter, `${JSON.stringify(value)} is not an ISO 8601 time string`);
  const match = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (match === null) throw bad(parameter, `'${value}' is not an ISO 8601 time such as 2026-01-02T03:04:05.123456Z`);
  const [, date, clock, fraction, offset] = match;
  const zone = offset === undefined ? 'Z' : offset.length === 5 ? `${offset.slice(0, 3)}:${offset.slice(3)}` : offset;
  const unixMs = Date.parse(`${date!}T${clock ?? '00:00'}${clock !== undefined && clock.length === 5 ? ':00' : ''}${zone}`);
  // Date.parse rolls 2026-02-30 over into March: the calendar date must survive the round trip.
  const calendarDate = Number.isFinite(Date.parse(`${date!}T00:00:00Z`)) ? new Date(`${date!}T00:00:00Z`).toISOString().slice(0, 10) : undefined;
  if (!Number.isFinite(unixMs) || calendarDate !== date) throw bad(parameter, `'${value}' is not a valid date and time`);
  const microseconds = Number((fraction ?? '').padEnd(6, '0') || '0');
  assert(microseconds >= 0 && microseconds < 1_000_000, 'six fraction digits are under a second');
  return postgresTimestampOf(unixMs) + microseconds;
}

function optionalPort(parameter: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65_535) throw bad(parameter, `${JSON.stringify(value)} is not a port 1..65535`);
  return value;
}

/** Body of POST /v1/compute: `{tenant_id, timeline_id, lsn?, time?, port?, branch?}`. */
export function parseStartComputeBody(body: unknown): StartComputeRequest {
  const object = objectBody(body, ['tenant_id', 'timeline_id', 'lsn', 'time', 'port', 'branch']);
  const present = (key: string) => object[key] !== undefined && object[key] !== null;
  const request: StartComputeRequest = { tenantId: parseId('tenant_id', object.tenant_id), timelineId: parseId('timeline_id', object.timeline_id) };
  if (present('lsn') && present('time')) throw bad('time', 'give lsn or time, not both');
  if (present('lsn')) request.lsn = parseLsnParameter('lsn', object.lsn);
  if (present('time')) request.timestampUs = parseIsoTimestampUs('time', object.time);
  if (present('port')) request.port = optionalPort('port', object.port);
  if (present('branch')) {
    if (typeof object.branch !== 'string' || object.branch === '') throw bad('branch', 'expected a branch name');
    request.branch = object.branch;
  }
  return request;
}

/** Body of POST /v1/compute/:compute_id/stop: optional `{"keep": true}` (keep the data directory). */
export function parseStopComputeBody(body: unknown): { keep: boolean } {
  const object = objectBody(body ?? undefined, ['keep']);
  if (object.keep === undefined || object.keep === null) return { keep: false };
  if (typeof object.keep !== 'boolean') throw bad('keep', 'expected true or false');
  return { keep: object.keep };
}
