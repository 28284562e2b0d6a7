/**
 * One client connection to PostgreSQL over node:net: startup, authentication, simple queries, and
 * the low-level message access the replication client builds on.
 *
 * Why a thin shell: all protocol bytes are produced and parsed by the pure codecs
 * (frontend-serializer, backend-parser); this file only owns the socket, the bounded message queue
 * (pausing the socket under back-pressure) and the conversation state. Asynchronous messages
 * (ParameterStatus, NoticeResponse) are absorbed here and never reach the consumer.
 *
 *   Connecting ──authenticate()──▶ Ready ──simpleQuery()/sendQuery()──▶ Ready … ──close()──▶ Closed
 *        └──────── socket error / server FATAL / abort ────────▶ Closed (queue failed)
 *
 * Errors: the server's ErrorResponse becomes StrataError PS_ERR_UPSTREAM (PS_ERR_ALREADY_EXISTS for
 * SQLSTATE 42710) with every field in `details`; a lost socket becomes PS_ERR_UPSTREAM; malformed
 * bytes become PS_ERR_PROTOCOL. Messages name the host and port, never the password.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { StrataError, type ErrorCode } from '../errors.js';
import { assert } from '../assert.js';
import { limits } from '../limits.js';
import { silentLogger, type Logger } from '../observability/log.js';
import { BackendParser } from './backend-parser.js';
import { MessageQueue } from './message-queue.js';
import { md5PasswordResponse, ScramClient, SCRAM_SHA_256 } from './auth.js';
import { parseConnectionString, type ConnectionParameters } from './connection-string.js';
import {
  serializePassword,
  serializeQuery,
  serializeSaslInitialResponse,
  serializeSaslResponse,
  serializeStartup,
  serializeTerminate,
} from './frontend-serializer.js';
import type { BackendMessage, FieldDescription, NoticeFields } from './messages.js';

export interface ConnectOptions {
  /** The `replication` startup parameter: 'true' (physical) or 'database'. */
  replication?: 'true' | 'database';
  signal?: AbortSignal;
  /** Bound on TCP connect + authentication; overrides connect_timeout in the string. */
  connectTimeoutMs?: number;
  logger?: Logger;
  /** Bytes of parsed messages queued before the socket is paused. */
  receiveQueueBytesMax?: number;
}

export interface QueryColumn {
  name: string;
  typeOid: number;
}

export interface QueryResult {
  /** The CommandComplete tag, e.g. "SELECT 1"; empty for an empty query. */
  command: string;
  columns: QueryColumn[];
  rows: (string | null)[][];
}

const SQLSTATE_CODES: Readonly<Record<string, ErrorCode>> = {
  '42710': 'PS_ERR_ALREADY_EXISTS', // duplicate_object
  '42704': 'PS_ERR_NOT_FOUND', // undefined_object
};

/** Turns an ErrorResponse into a coded StrataError carrying every field the server sent. */
export function upstreamError(fields: NoticeFields, context: string): StrataError {
  const code = (fields.code !== undefined ? SQLSTATE_CODES[fields.code] : undefined) ?? 'PS_ERR_UPSTREAM';
  const { code: sqlstate, ...rest } = fields;
  return new StrataError(code, `${context}: ${fields.message ?? 'server error'}`, { sqlstate, ...rest });
}

export class PgConnection {
  readonly #socket: Socket;
  readonly #parser = new BackendParser();
  readonly #queue: MessageQueue;
  readonly #logger: Logger;
  readonly #target: string;
  readonly #parameters = new Map<string, string>();
  #backendKey: { processId: number; secretKey: number } | undefined;
  #closed = false;
  readonly #closedPromise: Promise<void>;

  private constructor(socket: Socket, target: string, options: ConnectOptions) {
    this.#socket = socket;
    this.#target = target;
    this.#logger = options.logger ?? silentLogger();
    this.#queue = new MessageQueue({
      bytesMax: options.receiveQueueBytesMax ?? limits.pgwireReceiveQueueBytesMax,
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    });
    this.#closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#fail(this.#lostError(`connection to ${target} failed: ${error.message}`, error)));
    socket.on('close', () => {
      this.#closed = true;
      this.#fail(this.#lostError(`connection to ${target} closed`));
    });
  }

  /** Opens a socket, sends the startup packet and authenticates; resolves at ReadyForQuery. */
  static async connect(connectionString: string, options: ConnectOptions = {}): Promise<PgConnection> {
    const parameters = parseConnectionString(connectionString);
    const timeoutMs = options.connectTimeoutMs ?? parameters.connectTimeoutMs;
    const socket = openSocket(parameters);
    const connection = new PgConnection(socket, `${parameters.host}:${parameters.port}`, options);
    const abort = () => connection.#fail(new StrataError('PS_ERR_SHUTTING_DOWN', `connect to ${connection.#target} aborted`));
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      connection.#fail(new StrataError('PS_ERR_TIMEOUT', `connect to ${connection.#target} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      await connection.#startup(parameters, options);
      return connection;
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
    }
  }

  /** Server parameters reported by ParameterStatus (server_version, integer_datetimes, …). */
  get parameters(): ReadonlyMap<string, string> {
    return this.#parameters;
  }

  get backendKey(): { processId: number; secretKey: number } | undefined {
    return this.#backendKey;
  }

  get closed(): boolean {
    return this.#closed || this.#queue.failed !== undefined;
  }

  /** Bytes of parsed messages waiting for the consumer (bounded by the pause threshold + one read). */
  get receiveQueueBytes(): number {
    return this.#queue.queuedBytes;
  }

  /** "host:port", for messages and logs. */
  get target(): string {
    return this.#target;
  }

  /** Runs SQL with the simple query protocol and collects every result set. */
  async simpleQuery(sql: string): Promise<QueryResult[]> {
    this.sendQuery(sql);
    const results: QueryResult[] = [];
    let current: QueryResult | undefined;
    let error: StrataError | undefined;
    for (;;) {
      const message = await this.nextMessage();
      switch (message.name) {
        case 'rowDescription':
          current = { command: '', columns: message.fields.map(toColumn), rows: [] };
          break;
        case 'dataRow':
          if (current === undefined) throw this.protocolError('DataRow without RowDescription');
          current.rows.push(message.values as (string | null)[]);
          break;
        case 'commandComplete':
          results.push({ ...(current ?? { columns: [], rows: [] }), command: message.tag });
          current = undefined;
          break;
        case 'emptyQueryResponse':
          results.push({ command: '', columns: [], rows: [] });
          break;
        case 'errorResponse':
          error ??= upstreamError(message.fields, 'query failed');
          // FATAL and PANIC end the session: no ReadyForQuery follows, so report it now.
          if (isSessionFatal(message.fields)) throw this.#fatal(message.fields, 'query failed');
          break;
        case 'readyForQuery':
          if (error !== undefined) throw error;
          return results;
        default:
          throw this.unexpected(message, 'a simple query');
      }
    }
  }

  /** Sends a Query without waiting; the caller reads the answer with `nextMessage()`. */
  sendQuery(sql: string): void {
    this.write(serializeQuery(sql));
  }

  /** Writes a serialized frame; a closed connection throws PS_ERR_UPSTREAM. */
  write(frame: Uint8Array): void {
    if (this.closed) throw this.#queue.failed ?? this.#lostError(`connection to ${this.#target} is closed`);
    this.#socket.write(frame);
  }

  /** The next backend message that is not ParameterStatus or NoticeResponse. */
  async nextMessage(): Promise<BackendMessage> {
    return this.#queue.next();
  }

  protocolError(message: string, details: Record<string, unknown> = {}): StrataError {
    const error = new StrataError('PS_ERR_PROTOCOL', `${this.#target}: ${message}`, details);
    this.#fail(error);
    return error;
  }

  /** Builds (and fails the connection with) an error for a message the conversation cannot take. */
  unexpected(message: BackendMessage, during: string): StrataError {
    return this.protocolError(`unexpected ${message.name} during ${during}`, { message: message.name });
  }

  /** Sends Terminate and waits for the socket to close; idempotent. */
  async close(): Promise<void> {
    if (!this.#closed && !this.#socket.destroyed) {
      if (this.#queue.failed === undefined && this.#socket.writable) this.#socket.end(serializeTerminate());
      this.#fail(new StrataError('PS_ERR_SHUTTING_DOWN', `connection to ${this.#target} closed by client`));
      const timer = setTimeout(() => this.#socket.destroy(), 1_000);
      await this.#closedPromise;
      clearTimeout(timer);
    }
  }

  /** Destroys the socket at once (abort paths). */
  destroy(error?: StrataError): void {
    this.#fail(error ?? new StrataError('PS_ERR_SHUTTING_DOWN', `connection to ${this.#target} destroyed`));
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let messages: BackendMessage[];
    try {
      messages = this.#parser.parse(chunk);
    } catch (error) {
      this.#fail(error as Error);
      this.#socket.destroy();
      return;
    }
    for (const message of messages) {
      if (message.name === 'parameterStatus') {
        this.#parameters.set(message.parameter, message.value);
      } else if (message.name === 'noticeResponse') {
        this.#logger.info({ severity: message.fields.severity, sqlstate: message.fields.code }, `server notice: ${message.fields.message ?? ''}`);
      } else {
        this.#queue.push(message);
      }
    }
  }

  #fail(error: Error): void {
    if (this.#queue.failed !== undefined) return;
    this.#queue.fail(error);
    if (!(error instanceof StrataError && error.code === 'PS_ERR_SHUTTING_DOWN' && !this.#socket.destroyed)) {
      this.#socket.destroy();
    } else {
      // A client-initiated close lets `end()` flush Terminate; the socket resumes so FIN is seen.
      this.#socket.resume();
    }
  }

  #lostError(message: string, cause?: Error): StrataError {
    return new StrataError('PS_ERR_UPSTREAM', message, { target: this.#target }, cause === undefined ? undefined : { cause });
  }

  async #startup(parameters: ConnectionParameters, options: ConnectOptions): Promise<void> {
    const startup: Record<string, string> = { user: parameters.user, database: parameters.dbname, client_encoding: 'UTF8' };
    if (parameters.applicationName !== undefined) startup.application_name = parameters.applicationName;
    if (parameters.options !== undefined) startup.options = parameters.options;
    const replication = options.replication ?? parameters.replication;
    if (replication !== undefined) startup.replication = replication;
    this.write(serializeStartup(startup));
    await this.#authenticate(parameters);
    for (;;) {
      const message = await this.nextMessage();
      if (message.name === 'readyForQuery') return;
      if (message.name === 'backendKeyData') this.#backendKey = { processId: message.processId, secretKey: message.secretKey };
      else if (message.name === 'errorResponse') throw this.#fatal(message.fields, 'startup failed');
      else throw this.unexpected(message, 'startup');
    }
  }

  async #authenticate(parameters: ConnectionParameters): Promise<void> {
    let scram: ScramClient | undefined;
    for (;;) {
      const message = await this.nextMessage();
      switch (message.name) {
        case 'authenticationOk':
          return;
        case 'authenticationCleartextPassword':
          this.write(serializePassword(this.#requirePassword(parameters)));
          break;
        case 'authenticationMD5Password':
          this.write(serializePassword(md5PasswordResponse(parameters.user, this.#requirePassword(parameters), message.salt)));
          break;
        case 'authenticationSASL':
          if (!message.mechanisms.includes(SCRAM_SHA_256)) {
            throw this.protocolError(`server offers no supported SASL mechanism (${message.mechanisms.join(', ')})`);
          }
          scram = new ScramClient({ password: this.#requirePassword(parameters) });
          this.write(serializeSaslInitialResponse(SCRAM_SHA_256, Buffer.from(scram.clientFirstMessage(), 'utf8')));
          break;
        case 'authenticationSASLContinue':
          if (scram === undefined) throw this.unexpected(message, 'authentication');
          this.write(serializeSaslResponse(Buffer.from(scram.clientFinalMessage(message.data), 'utf8')));
          break;
        case 'authenticationSASLFinal':
          if (scram === undefined) throw this.unexpected(message, 'authentication');
          scram.verifyServerFinal(message.data);
          break;
        case 'authenticationUnsupported':
          throw this.protocolError(`server asks for unsupported authentication method ${message.method}`);
        case 'errorResponse':
          throw this.#fatal(message.fields, 'authentication failed');
        default:
          throw this.unexpected(message, 'authentication');
      }
    }
  }

  #requirePassword(parameters: ConnectionParameters): string {
    if (parameters.password === undefined) {
      throw new StrataError('PS_ERR_BAD_CONFIG', `server at ${this.#target} asks for a password and the connection string has none`);
    }
    return parameters.password;
  }

  #fatal(fields: NoticeFields, context: string): StrataError {
    const error = upstreamError(fields, `${context} at ${this.#target}`);
    this.#fail(error);
    return error;
  }
}

function isSessionFatal(fields: NoticeFields): boolean {
  const severity = fields.severityNonLocalized ?? fields.severity;
  return severity === 'FATAL' || severity === 'PANIC';
}

function toColumn(field: FieldDescription): QueryColumn {
  return { name: field.name, typeOid: field.typeOid };
}

function openSocket(parameters: ConnectionParameters): Socket {
  assert(parameters.port > 0, 'port is validated by the parser');
  if (parameters.host.startsWith('/')) {
    return netConnect({ path: join(parameters.host, `.s.PGSQL.${parameters.port}`) });
  }
  const socket = netConnect({ host: parameters.host, port: parameters.port });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  return socket;
}
