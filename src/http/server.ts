/**
 * The HTTP management server on node:http: the edge where requests are bounded, parsed, routed,
 * logged, counted, and where thrown errors become statuses (through api-error.ts only).
 *
 *   request ─ route match (404/405) ─ read body ≤ httpBodyBytesMax (413) ─ JSON.parse (400)
 *           ─ handler (routes.ts → ManagementApi) ─ 2xx JSON | bytes
 *                                              └─ throw ─ toApiError ─ {"msg","code"} 4xx/5xx
 *
 * Logging: every request at DEBUG (method, path, status, duration); a 4xx at INFO and a 5xx at
 * ERROR, logged here because this is where the error is handled. Headers are never logged, so
 * authorization tokens cannot leak.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assert } from '../assert.js';
import { parseHostPort } from '../config.js';
import { StrataError } from '../errors.js';
import { configureFailpoints } from '../failpoints.js';
import { limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { type ApiErrorResponse, methodNotAllowed, payloadTooLarge, routeNotFound, toApiError } from './api-error.js';
import type { BackupApi, ComputeApi, ManagementApi } from './management-api.js';
import { type RouteResult, buildRouter } from './routes.js';

export interface HttpServerOptions {
  /** `host:port`; port 0 picks a free port (tests). */
  address: string;
  api: ManagementApi;
  /** Serves /v1/compute… when given (the server's compute manager). */
  computes?: ComputeApi | undefined;
  metrics: Metrics;
  logger: Logger;
  /** Applies a failpoint spec in every thread; default: this thread only. */
  applyFailpoints?: (spec: string) => Promise<void> | void;
  /** Request body bound; default limits.httpBodyBytesMax. */
  bodyBytesMax?: number;
  /** Full backups and get_lsn_by_timestamp; absent: those routes answer 501. */
  backups?: BackupApi;
}

export interface HttpServerHandle {
  /** `http://host:port` with the port actually bound. */
  readonly url: string;
  close(): Promise<void>;
}

/** Thrown inside this module to short-circuit a request with a prepared error response. */
class EdgeError extends Error {
  constructor(readonly response: ApiErrorResponse) {
    super(response.body.msg);
  }
}

function readBody(request: IncomingMessage, bodyBytesMax: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > bodyBytesMax) return Promise.reject(new EdgeError(payloadTooLarge(bodyBytesMax)));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > bodyBytesMax) {
        request.removeAllListeners('data');
        request.resume();
        reject(new EdgeError(payloadTooLarge(bodyBytesMax)));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new StrataError('PS_ERR_BAD_REQUEST', `invalid JSON body: ${reason}`, { parameter: 'body' });
  }
}

/** Waits until the response can take more (its buffer drained), or fails when the client left. */
function writeWithBackpressure(response: ServerResponse, bytes: Uint8Array): Promise<void> {
  if (response.destroyed) return Promise.reject(new StrataError('PS_ERR_SHUTTING_DOWN', 'the client closed the connection'));
  if (response.write(bytes)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      response.off('drain', onDrain);
      response.off('close', onClose);
      if (error === undefined) resolve(); else reject(error);
    };
    const onDrain = () => done();
    const onClose = () => done(new StrataError('PS_ERR_SHUTTING_DOWN', 'the client closed the connection'));
    response.on('drain', onDrain);
    response.on('close', onClose);
  });
}

/**
 * A streamed body: the status line goes out with the first bytes, so a failure before them is
 * still an ordinary error response; a failure after them cuts the connection (the client sees a
 * truncated body, never a wrong one).
 */
async function sendStream(response: ServerResponse, result: Extract<RouteResult, { stream: unknown }>): Promise<void> {
  await result.stream((bytes) => {
    if (!response.headersSent) response.writeHead(result.status, { 'content-type': result.contentType });
    return writeWithBackpressure(response, bytes);
  });
  if (!response.headersSent) response.writeHead(result.status, { 'content-type': result.contentType });
  response.end();
}

function send(response: ServerResponse, result: RouteResult): void {
  assert(!('stream' in result), 'streamed results go through sendStream');
  if ('json' in result) {
    const text = JSON.stringify(result.json);
    response.writeHead(result.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    response.end(text);
    return;
  }
  response.writeHead(result.status, { 'content-type': result.contentType, 'content-length': result.bytes.length });
  response.end(result.bytes);
}

function sendError(response: ServerResponse, error: ApiErrorResponse, closeConnection: boolean): void {
  const text = JSON.stringify(error.body);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...error.headers };
  if (closeConnection) headers.connection = 'close';
  response.writeHead(error.status, headers);
  response.end(text);
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServerHandle> {
  const { host, port } = parseHostPort(options.address);
  const bodyBytesMax = options.bodyBytesMax ?? limits.httpBodyBytesMax;
  assert(bodyBytesMax > 0, 'the body limit must be positive');
  const router = buildRouter({
    api: options.api, computes: options.computes, backups: options.backups, metrics: options.metrics, applyFailpoints: options.applyFailpoints ?? configureFailpoints,
  });
  const logger = options.logger.child({ component: 'http' });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = performance.now();
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = router.match(method, url.pathname);
    const routeLabel = match.kind === 'found' ? match.route.pattern : 'unmatched';
    let status: number;
    try {
      if (match.kind === 'notFound') throw new EdgeError(routeNotFound(method, url.pathname));
      if (match.kind === 'wrongMethod') throw new EdgeError(methodNotAllowed(method, url.pathname, match.allowed));
      const body = method === 'GET' ? undefined : parseJsonBody(await readBody(request, bodyBytesMax));
      const result = await match.route.handler({ params: match.params, query: url.searchParams, body });
      status = result.status;
      if ('stream' in result) await sendStream(response, result);
      else send(response, result);
    } catch (error) {
      if (response.headersSent) {
        // A stream that failed after its first bytes: nothing to answer with but a cut connection.
        logger.warn({ method, path: url.pathname, err: error }, `${method} ${url.pathname} failed while streaming its body`);
        response.destroy();
        options.metrics.httpRequests.inc({ method, route: routeLabel, status: 'aborted' });
        return;
      }
      const apiError = error instanceof EdgeError ? error.response : toApiError(error);
      status = apiError.status;
      const fields = { method, path: url.pathname, status, code: apiError.body.code };
      // ERROR needs a human: only internal failures (500). A page needing redo (501), back-pressure
      // (503) or a read timing out (504) is the server working as designed: WARN, it carried on.
      if (status === 500) logger.error({ ...fields, err: error }, `${method} ${url.pathname} failed: ${apiError.body.msg}`);
      else if (status > 500) logger.warn(fields, `${method} ${url.pathname} failed: ${apiError.body.msg}`);
      else logger.info(fields, `${method} ${url.pathname} rejected: ${apiError.body.msg}`);
      sendError(response, apiError, apiError.status === 413);
    }
    options.metrics.httpRequests.inc({ method, route: routeLabel, status: String(status) });
    logger.debug({ method, path: url.pathname, status, duration_ms: Math.round((performance.now() - started) * 1000) / 1000 }, 'request');
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error({ err: error }, 'HTTP request handling crashed');
      if (!response.headersSent) sendError(response, toApiError(error), true);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new StrataError('PS_ERR_IO', `cannot listen on ${options.address}: ${error.code ?? error.message}`, { address: options.address }));
    });
    server.listen(port, host, () => { server.removeAllListeners('error'); resolve(); });
  });
  const bound = server.address() as AddressInfo;
  const hostText = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  logger.info({ address: `${hostText}:${bound.port}` }, 'HTTP management API listening');
  return {
    url: `http://${hostText}:${bound.port}`,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    }),
  };
}
