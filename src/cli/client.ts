/**
 * The CLI's HTTP client for the management API: finds the server (`--endpoint URL`, or
 * `listen_http_addr` from `--workdir DIR/strata.toml`), sends one request with global fetch, and
 * turns an error reply `{"msg","code"}` into a `CliFailure` that main.ts prints as one line.
 */
import { assert } from '../assert.js';
import { loadConfig, parseHostPort } from '../config.js';

/** An error the CLI reports as `strata: <message> (<code>)` and exits with `exitCode`. */
export class CliFailure extends Error {
  constructor(message: string, readonly code: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliFailure';
  }
}

export interface EndpointOptions {
  endpoint?: string;
  workdir?: string;
}

const REQUEST_TIMEOUT_MS = 60_000;

/** Base URL of the server, without a trailing slash. */
export async function resolveEndpoint(options: EndpointOptions): Promise<string> {
  if (options.endpoint !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(options.endpoint)) throw new CliFailure(`invalid --endpoint '${options.endpoint}': expected http://host:port`, 'usage', 2);
    return options.endpoint.replace(/\/+$/, '');
  }
  if (options.workdir === undefined) throw new CliFailure('give --endpoint URL or --workdir DIR to find the server', 'usage', 2);
  const config = await loadConfig(options.workdir);
  const { host, port } = parseHostPort(config.listenHttpAddr);
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: unknown;
  /** Default REQUEST_TIMEOUT_MS; longer for requests that wait on work (a compute start). */
  timeoutMs?: number;
}

async function send(base: string, request: RequestOptions): Promise<Response> {
  assert(request.path.startsWith('/'), 'request paths are absolute');
  const init: RequestInit = { method: request.method, signal: AbortSignal.timeout(request.timeoutMs ?? REQUEST_TIMEOUT_MS) };
  if (request.body !== undefined) {
    init.body = JSON.stringify(request.body);
    init.headers = { 'content-type': 'application/json' };
  }
  try {
    return await fetch(`${base}${request.path}`, init);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
    throw new CliFailure(`cannot reach ${base}: ${reason}`, 'PS_ERR_IO');
  }
}

async function failureFrom(response: Response): Promise<CliFailure> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { msg?: unknown; code?: unknown };
    if (typeof body.msg === 'string' && typeof body.code === 'string') return new CliFailure(body.msg, body.code);
  } catch {
    // Not our JSON error shape: fall through to the status line.
  }
  return new CliFailure(`HTTP ${response.status} ${response.statusText}`, `HTTP_${response.status}`);
}

export async function requestJson(base: string, request: RequestOptions): Promise<unknown> {
  const response = await send(base, request);
  if (!response.ok) throw await failureFrom(response);
  return (await response.json()) as unknown;
}

export async function requestBytes(base: string, request: RequestOptions): Promise<Uint8Array> {
  const response = await send(base, request);
  if (!response.ok) throw await failureFrom(response);
  return new Uint8Array(await response.arrayBuffer());
}

/** The body as it arrives (a backup's tar), for a request that may take long. */
export async function requestStream(base: string, request: RequestOptions): Promise<AsyncIterable<Uint8Array>> {
  const response = await send(base, request);
  if (!response.ok) throw await failureFrom(response);
  if (response.body === null) throw new CliFailure('the server sent no body', 'PS_ERR_PROTOCOL');
  return response.body as unknown as AsyncIterable<Uint8Array>;
}
