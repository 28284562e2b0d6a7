/**
 * An in-process Strata server for tests: temporary workdir, HTTP on a free loopback port, a
 * LogCapture logger (tests call `assertCleanLogs()` to fail on unexpected WARN/ERROR), and small
 * typed HTTP helpers. Always `stop()` in finally.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config.js';
import type { BackupService } from '../../src/backup/types.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { LogCapture } from './log-capture.js';

export interface TestServer {
  server: RunningServer;
  workdir: string;
  logs: LogCapture;
  url: string;
  get<T = unknown>(path: string): Promise<T>;
  getBytes(path: string): Promise<Uint8Array>;
  post<T = unknown>(path: string, body: unknown): Promise<T>;
  /** Raw response (status + JSON or text) for error checks. */
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  restart(): Promise<void>;
  stop(options?: { keepWorkdir?: boolean }): Promise<void>;
}

export interface TestServerOptions {
  overrides?: string[];
  allowLogs?: RegExp[];
  workdir?: string;
  /** The full-backup service computes start from (the server's seam; default none: 501). */
  backup?: BackupService;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const workdir = options.workdir ?? await mkdtemp(join(tmpdir(), 'strata-test-'));
  const logs = new LogCapture(options.allowLogs ?? [], 'info');
  const config = () => resolveConfig({ workdir, overrides: ['listen_http_addr=127.0.0.1:0', 'listen_pg_addr=127.0.0.1:0', 'actor_threads=2', ...(options.overrides ?? [])] });
  const serverOptions = { logger: logs.logger, backup: options.backup };
  let server = await startServer(config(), serverOptions);
  const request = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(server.httpUrl + path, {
      method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const type = response.headers.get('content-type') ?? '';
    const parsed = type.includes('json') ? await response.json() : type.includes('octet-stream') ? new Uint8Array(await response.arrayBuffer()) : await response.text();
    return { status: response.status, body: parsed };
  };
  const expectOk = async (method: string, path: string, body?: unknown) => {
    const result = await request(method, path, body);
    if (result.status >= 300) throw new Error(`${method} ${path} → ${result.status}: ${JSON.stringify(result.body)}`);
    return result.body;
  };
  const handle: TestServer = {
    get server() { return server; },
    workdir, logs,
    get url() { return server.httpUrl; },
    get: <T>(path: string) => expectOk('GET', path) as Promise<T>,
    getBytes: (path: string) => expectOk('GET', path) as Promise<Uint8Array>,
    post: <T>(path: string, body: unknown) => expectOk('POST', path, body) as Promise<T>,
    request,
    async restart() {
      await server.stop();
      server = await startServer(config(), serverOptions);
    },
    async stop(stopOptions = {}) {
      await server.stop();
      if (!stopOptions.keepWorkdir && options.workdir === undefined) await rm(workdir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** Polls `check` until it returns a value or the bound passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
