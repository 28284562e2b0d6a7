/**
 * The page service (issue 11, first cut): a libpq server on `listen_pg_addr` that speaks Neon's
 * pagestream protocol, so a compute (or any client of the protocol) reads pages, relation sizes and
 * SLRU segments at any LSN.
 *
 * One PageServiceConnection per socket, on the main thread (Node cannot hand a socket to a worker);
 * reads go to the tenant actors through the backend (the tenant manager's byte ring path).
 *
 *   Startup ──StartupMessage──► Ready ──Query "pagestream_vN <tenant> <timeline>"──► Pagestream
 *      │  SSL/GSS request: 'N'     │ other query: ErrorResponse + ReadyForQuery        │ CopyDone,
 *      ▼                           ▼                                                   ▼ Terminate
 *   Closed ◄──── protocol error (ErrorResponse 08P01), Terminate, socket closed ──── Closed
 *
 * Pipelining: requests of one connection start as they arrive (up to `inFlightMax`, then the socket
 * is paused) and their responses are written in request order, so one slow reconstruction delays
 * only the responses behind it on its own connection.
 *
 *   pending: | answered, waiting for the ones before | … | newest | (≤ inFlightMax)
 *
 * A client that stops reading its answers stops having its requests read: responses are written
 * only while the socket's write buffer is below its high-water mark.
 *
 * request_lsn / not_modified_since (Neon's rule): request_lsn below not_modified_since is a bad
 * request; when not_modified_since is at or below the timeline's last record LSN the page is read
 * at min(last_record_lsn, request_lsn), without waiting (it has not changed since); otherwise at
 * not_modified_since, waiting for WAL up to it (wait_lsn_timeout). Lsn::MAX asks for the latest.
 * The last record LSN is asked of the timeline once and again only when a request needs a newer one.
 *
 * Not yet: authentication is trust (the startup's user is not checked: the JWT hook comes with
 * auth); basebackup/fullbackup commands.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { isStrataError, StrataError } from '../errors.js';
import type { RelTag, SlruKind } from '../keys.js';
import { formatLsn, parseLsn, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import {
  ClientMessageParser, authenticationOk, backendKeyData, commandComplete, copyBothResponse, copyData, copyDone, copyOutResponse, errorResponse, parameterStatus, readyForQuery,
  REFUSE_ENCRYPTION, type ClientMessage,
} from '../pgwire/server-codec.js';
import {
  LATEST_LSN, parsePagestreamRequest, serializePagestreamResponse, type PagestreamRequest, type PagestreamResponse, type PagestreamVersion,
} from './pagestream-codec.js';

/** What the page service reads through: the tenant manager, or a stand-in in tests. */
export interface PageServiceBackend {
  lastRecordLsn(tenantId: string, timelineId: string): Promise<Lsn>;
  relSize(tenantId: string, timelineId: string, rel: RelTag, lsn: Lsn): Promise<number>;
  getPage(tenantId: string, timelineId: string, rel: RelTag, blockNumber: number, lsn: Lsn): Promise<Uint8Array>;
  getSlruSegment(tenantId: string, timelineId: string, kind: SlruKind, segment: number, lsn: Lsn): Promise<Uint8Array>;
  dbSize(tenantId: string, timelineId: string, dbNode: number, lsn: Lsn): Promise<number>;
  /** A full backup as tar through `write` (resolves when the client can take more); absent: refused. */
  fullbackupToTar?(tenantId: string, timelineId: string, write: (bytes: Uint8Array) => Promise<void>, lsn: Lsn | undefined): Promise<unknown>;
}

export interface PageServiceOptions {
  /** host:port; port 0 picks a free one. */
  address: string;
  backend: PageServiceBackend;
  logger: Logger;
  /** Requests of one connection answered or being answered at once. */
  inFlightMax: number;
  /** Largest client message accepted (pagestream requests are tens of bytes). */
  messageBytesMax: number;
}

export interface RunningPageService {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const SERVER_VERSION = '15';
const FORK_FSM = 1;
const FORK_VM = 2;

/** The SQLSTATE a client sees for a StrataError code (the edge's mapping). */
function sqlstateOf(error: unknown): string {
  if (!isStrataError(error)) return 'XX000';
  switch (error.code) {
    case 'PS_ERR_NOT_FOUND': return '42704';
    case 'PS_ERR_BAD_REQUEST': return '22023';
    case 'PS_ERR_PROTOCOL': return '08P01';
    case 'PS_ERR_TIMEOUT': return '57014';
    case 'PS_ERR_SHUTTING_DOWN': case 'PS_ERR_ACTOR_STOPPED': return '57P01';
    case 'PS_ERR_MAILBOX_FULL': return '53300';
    case 'PS_ERR_LSN_TOO_OLD': return '22023';
    case 'PS_ERR_NOT_IMPLEMENTED': return '0A000';
    case 'PS_ERR_CONFLICT': return '55000';
    default: return 'XX000';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type ConnectionState =
  | { readonly kind: 'startup' }
  | { readonly kind: 'ready' }
  | { readonly kind: 'pagestream'; readonly version: PagestreamVersion; readonly tenantId: string; readonly timelineId: string }
  | { readonly kind: 'closed' };

class PageServiceConnection {
  readonly #socket: Socket;
  readonly #options: PageServiceOptions;
  readonly #parser: ClientMessageParser;
  #state: ConnectionState = { kind: 'startup' };
  readonly #pending: Promise<Uint8Array>[] = [];
  #draining = false;
  #paused = false;
  /** The newest last_record_lsn this connection has seen of its timeline (it only grows). */
  #lastRecordLsn = 0;
  #closeAfterDrain = false;

  constructor(socket: Socket, options: PageServiceOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#parser = new ClientMessageParser({ messageBytesMax: options.messageBytesMax });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => options.logger.debug({ err: error.message }, 'page service connection error'));
    socket.on('close', () => { this.#state = { kind: 'closed' }; });
  }

  #onData(chunk: Buffer): void {
    if (this.#state.kind === 'closed') return;
    try {
      this.#parser.feed(chunk);
      // Bounded by the bytes fed: every message consumes some.
      for (let message = this.#parser.next(); message !== undefined; message = this.#parser.next()) {
        this.#handle(message);
        if (this.#closed() || this.#paused) break;
      }
    } catch (error) {
      this.#fatal(sqlstateOf(error), messageOf(error));
    }
  }

  #handle(message: ClientMessage): void {
    const state = this.#state;
    switch (state.kind) {
      case 'startup': return this.#handleStartup(message);
      case 'ready': return this.#handleReady(message);
      case 'pagestream': return this.#handlePagestream(state, message);
      case 'closed': return;
    }
  }

  #handleStartup(message: ClientMessage): void {
    switch (message.name) {
      case 'sslRequest': case 'gssEncRequest': this.#socket.write(REFUSE_ENCRYPTION); return;
      case 'cancelRequest': this.#close(); return;
      case 'startup':
        this.#state = { kind: 'ready' };
        this.#socket.write(Buffer.concat([
          authenticationOk(), parameterStatus('server_version', SERVER_VERSION), parameterStatus('client_encoding', 'UTF8'),
          backendKeyData(process.pid, 0), readyForQuery(),
        ]));
        return;
      default: this.#fatal('08P01', `unexpected ${message.name} before the startup message`);
    }
  }

  #handleReady(message: ClientMessage): void {
    if (message.name === 'terminate') { this.#close(); return; }
    if (message.name !== 'query') { this.#fatal('08P01', `unexpected ${message.name} outside a query`); return; }
    const words = message.text.trim().replace(/;$/, '').split(/\s+/);
    const command = words[0]?.toLowerCase();
    if ((command === 'pagestream_v2' || command === 'pagestream_v3') && words.length === 3) {
      const version: PagestreamVersion = command === 'pagestream_v2' ? 2 : 3;
      const [, tenantId, timelineId] = words as [string, string, string];
      this.#pause();
      this.#options.backend.lastRecordLsn(tenantId, timelineId).then((lsn) => {
        this.#lastRecordLsn = lsn;
        this.#state = { kind: 'pagestream', version, tenantId, timelineId };
        this.#socket.write(copyBothResponse());
        this.#resume();
      }, (error: unknown) => {
        this.#socket.write(Buffer.concat([errorResponse({ severity: 'ERROR', sqlstate: sqlstateOf(error), message: messageOf(error) }), readyForQuery()]));
        this.#resume();
      });
      return;
    }
    if ((command === 'basebackup' || command === 'fullbackup') && words.length >= 3 && words.length <= 5) {
      this.#backup(words.slice(1));
      return;
    }
    this.#socket.write(Buffer.concat([
      errorResponse({
        severity: 'ERROR', sqlstate: '42601', message: `unsupported command: ${message.text.slice(0, 200)}`,
        hint: 'pagestream_v2|pagestream_v3 <tenant_id> <timeline_id>, basebackup|fullbackup <tenant_id> <timeline_id> [lsn]',
      }),
      readyForQuery(),
    ]));
  }

  /**
   * `basebackup|fullbackup <tenant> <timeline> [lsn] [prev_lsn]` (Neon's commands): CopyOut of a
   * tar. Both send the full backup (every relation page): Strata's computes are stock PostgreSQL,
   * which cannot fetch pages lazily as Neon's patched compute does after its basebackup. A failure
   * before the first byte is an ordinary ErrorResponse; after it, an ErrorResponse ends the copy.
   * `--gzip` is refused (not built); prev_lsn is accepted and ignored (no WAL is replayed).
   */
  #backup(args: string[]): void {
    const fail = (error: unknown) => {
      this.#socket.write(Buffer.concat([errorResponse({ severity: 'ERROR', sqlstate: sqlstateOf(error), message: messageOf(error) }), readyForQuery()]));
    };
    const [tenantId, timelineId, lsnText] = args as [string, string, string | undefined];
    const backup = this.#options.backend.fullbackupToTar?.bind(this.#options.backend);
    if (backup === undefined) { fail(new StrataError('PS_ERR_NOT_IMPLEMENTED', 'backups are not available on this server')); return; }
    if (args.some((arg) => arg.startsWith('--'))) { fail(new StrataError('PS_ERR_NOT_IMPLEMENTED', `backup options are not supported: ${args.filter((arg) => arg.startsWith('--')).join(' ')}`)); return; }
    let lsn: Lsn | undefined;
    try {
      lsn = lsnText === undefined ? undefined : parseLsn(lsnText);
    } catch (error) {
      fail(new StrataError('PS_ERR_BAD_REQUEST', messageOf(error)));
      return;
    }
    this.#pause();
    let started = false;
    const write = (bytes: Uint8Array): Promise<void> => {
      if (this.#closed()) return Promise.reject(new StrataError('PS_ERR_SHUTTING_DOWN', 'the client closed the connection'));
      if (!started) { started = true; this.#socket.write(copyOutResponse()); }
      if (this.#socket.write(copyData(bytes))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const onDrain = () => { this.#socket.off('close', onClose); resolve(); };
        const onClose = () => { this.#socket.off('drain', onDrain); reject(new StrataError('PS_ERR_SHUTTING_DOWN', 'the client closed the connection')); };
        this.#socket.once('drain', onDrain);
        this.#socket.once('close', onClose);
      });
    };
    backup(tenantId, timelineId, write, lsn).then(() => {
      if (!started) this.#socket.write(copyOutResponse());
      this.#socket.write(Buffer.concat([copyDone(), commandComplete('SELECT 1'), readyForQuery()]));
      this.#resume();
    }, (error: unknown) => {
      if (this.#closed()) return;
      this.#options.logger.warn({ err: messageOf(error), tenant_id: tenantId, timeline_id: timelineId }, 'backup over the page service failed');
      fail(error);
      this.#resume();
    });
  }

  #handlePagestream(state: Extract<ConnectionState, { kind: 'pagestream' }>, message: ClientMessage): void {
    switch (message.name) {
      case 'copyData': {
        let request: PagestreamRequest;
        try {
          request = parsePagestreamRequest(message.data, state.version);
        } catch (error) {
          this.#fatal('08P01', messageOf(error));
          return;
        }
        this.#pending.push(this.#answer(state, request));
        if (this.#pending.length >= this.#options.inFlightMax) this.#pause();
        void this.#drain();
        return;
      }
      case 'copyDone': case 'terminate':
        this.#closeAfterDrain = true;
        void this.#drain();
        return;
      default: this.#fatal('08P01', `unexpected ${message.name} in a pagestream`);
    }
  }

  /** The response bytes for one request: its answer, or an Error response (never rejects). */
  async #answer(state: Extract<ConnectionState, { kind: 'pagestream' }>, request: PagestreamRequest): Promise<Uint8Array> {
    let response: PagestreamResponse;
    try {
      response = await this.#read(state, request);
    } catch (error) {
      this.#options.logger.debug({ tenant_id: state.tenantId, timeline_id: state.timelineId, kind: request.kind, err: messageOf(error) }, 'pagestream request failed');
      response = { kind: 'error', header: request.header, message: messageOf(error) };
    }
    return serializePagestreamResponse(response, state.version);
  }

  async #read(state: Extract<ConnectionState, { kind: 'pagestream' }>, request: PagestreamRequest): Promise<PagestreamResponse> {
    const { tenantId, timelineId } = state;
    const lsn = await this.#effectiveLsn(state, request);
    const backend = this.#options.backend;
    switch (request.kind) {
      case 'exists': {
        const exists = await backend.relSize(tenantId, timelineId, request.rel, lsn).then(() => true, (error: unknown) => {
          if (isStrataError(error, 'PS_ERR_NOT_FOUND')) return false;
          throw error;
        });
        return { kind: 'exists', request, exists };
      }
      case 'nblocks': {
        const blocks = await backend.relSize(tenantId, timelineId, request.rel, lsn).catch((error: unknown) => {
          // PostgreSQL asks the size of FSM and VM forks it has not created yet: they are empty.
          if (isStrataError(error, 'PS_ERR_NOT_FOUND') && (request.rel.forkNumber === FORK_FSM || request.rel.forkNumber === FORK_VM)) return 0;
          throw error;
        });
        return { kind: 'nblocks', request, blocks };
      }
      case 'getPage':
        return { kind: 'getPage', request, page: await backend.getPage(tenantId, timelineId, request.rel, request.blockNumber, lsn) };
      case 'getSlruSegment':
        return { kind: 'getSlruSegment', request, segmentBytes: await backend.getSlruSegment(tenantId, timelineId, request.slruKind as SlruKind, request.segment, lsn) };
      case 'dbSize':
        return { kind: 'dbSize', request, bytes: await backend.dbSize(tenantId, timelineId, request.dbNode, lsn) };
    }
  }

  /** Neon's rule (module header) for the LSN a request is read at. */
  async #effectiveLsn(state: Extract<ConnectionState, { kind: 'pagestream' }>, request: PagestreamRequest): Promise<Lsn> {
    const { requestLsn, notModifiedSince } = request.header;
    if (requestLsn < notModifiedSince) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `invalid request with request LSN ${formatLsn(requestLsn)} and not_modified_since ${formatLsn(notModifiedSince)}`);
    }
    if (notModifiedSince > this.#lastRecordLsn) {
      this.#lastRecordLsn = Math.max(this.#lastRecordLsn, await this.#options.backend.lastRecordLsn(state.tenantId, state.timelineId));
    }
    if (notModifiedSince <= this.#lastRecordLsn) return requestLsn === LATEST_LSN ? this.#lastRecordLsn : Math.min(this.#lastRecordLsn, requestLsn);
    return notModifiedSince; // not here yet: the read waits for it
  }

  /** Writes answered responses in request order. */
  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      // Bounded: the queue holds at most inFlightMax requests, and each pass removes one.
      while (this.#pending.length > 0 && this.#state.kind !== 'closed') {
        const bytes = await this.#pending[0]!;
        if (this.#closed()) return;
        // A client that does not read its answers stops getting new ones read: the socket's
        // write buffer holds at most one response beyond its high-water mark.
        if (!this.#socket.write(copyData(bytes))) await this.#writable();
        this.#pending.shift();
        if (this.#paused && this.#pending.length < this.#options.inFlightMax) this.#resume();
      }
      if (this.#closeAfterDrain) this.#close();
    } finally {
      this.#draining = false;
    }
  }

  /** Resolves when the socket's write buffer has drained, or the socket is gone. */
  #writable(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off('drain', done);
        this.#socket.off('close', done);
        resolve();
      };
      this.#socket.on('drain', done);
      this.#socket.on('close', done);
    });
  }

  /** A method, not a field test: the state changes in callbacks the compiler cannot follow. */
  #closed(): boolean {
    return this.#state.kind === 'closed';
  }

  #pause(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  #resume(): void {
    this.#paused = false;
    this.#socket.resume();
    // Messages already buffered when the socket was paused.
    this.#onData(Buffer.alloc(0));
  }

  #fatal(sqlstate: string, message: string): void {
    if (this.#state.kind === 'closed') return;
    this.#options.logger.info({ sqlstate, err: message }, 'page service connection closed on a protocol error');
    this.#socket.end(errorResponse({ severity: 'FATAL', sqlstate, message }));
    this.#state = { kind: 'closed' };
  }

  #close(): void {
    if (this.#state.kind === 'closed') return;
    this.#state = { kind: 'closed' };
    this.#socket.end();
  }

  destroy(): void {
    this.#state = { kind: 'closed' };
    this.#socket.destroy();
  }
}

/** Starts listening; resolves once the port is bound. */
export async function startPageService(options: PageServiceOptions): Promise<RunningPageService> {
  const separator = options.address.lastIndexOf(':');
  const host = options.address.slice(0, separator);
  const port = Number(options.address.slice(separator + 1));
  const connections = new Set<PageServiceConnection>();
  const server: Server = createServer((socket) => {
    const connection = new PageServiceConnection(socket, options);
    connections.add(connection);
    socket.on('close', () => connections.delete(connection));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  options.logger.info({ address: `${host}:${boundPort}` }, 'page service listening');
  return {
    host, port: boundPort,
    close: () => new Promise<void>((resolve) => {
      for (const connection of connections) connection.destroy();
      server.close(() => resolve());
    }),
  };
}
