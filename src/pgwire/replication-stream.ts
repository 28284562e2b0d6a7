/**
 * The CopyBoth phase of START_REPLICATION PHYSICAL: an async iterable of XLogData and keepalive
 * messages, plus the client's half (standby status updates and CopyDone).
 *
 * Why its own file: the stream has a small state machine of its own, and both the iterator and
 * `end()` read from the one connection, so reads are serialized through a lock.
 *
 *   Starting ──CopyBothResponse──▶ Streaming ──end(): send CopyDone──▶ Ending ──server CopyDone,
 *      │                              │                                        trailer, Ready──▶ Ended
 *      │                              └──server CopyDone (end of timeline): reply CopyDone──▶ Ending
 *      └──ErrorResponse / socket closed / server shutdown (CommandComplete) ──▶ Failed (PS_ERR_UPSTREAM)
 *
 * Back-pressure: the connection's bounded queue pauses the socket while the consumer does not
 * call `next()`, so an idle consumer holds at most `pgwireReceiveQueueBytesMax` plus one read.
 * `data` views are never reused by the parser, so the consumer may keep them.
 */
import { StrataError } from '../errors.js';
import { assert } from '../assert.js';
import { parseLsn, type Lsn } from '../lsn.js';
import { serializeCopyDone, serializeStandbyStatus } from './frontend-serializer.js';
import { parseReplicationMessage, type ReplicationMessage } from './replication-messages.js';
import { upstreamError, type PgConnection } from './connection.js';
import type { BackendMessage } from './messages.js';

export type ReplicationStreamState = 'starting' | 'streaming' | 'ending' | 'ended' | 'failed';

export interface StatusUpdate {
  /** Last WAL position received (written to memory or disk). */
  write: Lsn;
  /** Last position durable locally (disk-consistent). */
  flush: Lsn;
  /** Last position applied (for Strata: remote-consistent). */
  apply: Lsn;
  replyRequested?: boolean;
}

/** When the server ends the stream at a timeline switch it names the next timeline. */
export interface StreamEnd {
  nextTimeline: number | undefined;
  nextTimelineStartLsn: Lsn | undefined;
}

export class ReplicationStream implements AsyncIterable<ReplicationMessage> {
  readonly #connection: PgConnection;
  #state: ReplicationStreamState = 'starting';
  #lock: Promise<unknown> = Promise.resolve();
  #streamEnd: StreamEnd | undefined;
  #failure: Error | undefined;
  readonly #onSettled: () => void;

  /** The caller has already sent START_REPLICATION; `onSettled` runs once when it ends or fails. */
  constructor(connection: PgConnection, onSettled: () => void = () => undefined) {
    this.#connection = connection;
    this.#onSettled = onSettled;
  }

  get state(): ReplicationStreamState {
    return this.#state;
  }

  /** Set once the stream has ended cleanly. */
  get streamEnd(): StreamEnd | undefined {
    return this.#streamEnd;
  }

  [Symbol.asyncIterator](): AsyncIterator<ReplicationMessage> {
    return {
      next: () => this.#exclusive(() => this.#next()),
      return: async () => ({ done: true, value: undefined }),
    };
  }

  /** Sends a standby status update; ignored once the stream is ending. */
  sendStatus(status: StatusUpdate): void {
    assert(status.flush <= status.write, 'flush cannot pass write');
    assert(status.apply <= status.write, 'apply cannot pass write');
    if (this.#state !== 'streaming' && this.#state !== 'starting') return;
    this.#connection.write(
      serializeStandbyStatus({ ...status, clockUnixMs: Date.now(), replyRequested: status.replyRequested ?? false }),
    );
  }

  /** Sends CopyDone and waits for the server to finish the command; the connection stays usable. */
  async end(): Promise<void> {
    await this.#exclusive(async () => {
      if (this.#state === 'starting') await this.#awaitStart();
      if (this.#state === 'streaming') {
        this.#connection.write(serializeCopyDone());
        this.#state = 'ending';
      }
      while (this.#state === 'ending') await this.#handle(await this.#read());
    });
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(operation, operation);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async #next(): Promise<IteratorResult<ReplicationMessage>> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#state === 'starting') await this.#awaitStart();
    while (this.#state === 'streaming' || this.#state === 'ending') {
      const message = await this.#read();
      const result = await this.#handle(message);
      if (result !== undefined && this.#state === 'streaming') return { done: false, value: result };
    }
    return { done: true, value: undefined };
  }

  async #read(): Promise<BackendMessage> {
    try {
      return await this.#connection.nextMessage();
    } catch (error) {
      throw this.#fail(error as Error);
    }
  }

  async #awaitStart(): Promise<void> {
    const message = await this.#read();
    if (message.name === 'copyBothResponse') {
      this.#state = 'streaming';
      return;
    }
    if (message.name === 'errorResponse') {
      await this.#skipUntilReady();
      throw this.#fail(upstreamError(message.fields, 'START_REPLICATION failed'));
    }
    throw this.#fail(this.#connection.unexpected(message, 'START_REPLICATION'));
  }

  /** Handles one message; returns a replication message to yield while streaming. */
  async #handle(message: BackendMessage): Promise<ReplicationMessage | undefined> {
    switch (message.name) {
      case 'copyData':
        return this.#state === 'streaming' ? this.#parse(message.data) : undefined;
      case 'copyDone':
        if (this.#state === 'streaming') this.#connection.write(serializeCopyDone());
        this.#state = 'ending';
        await this.#readTrailer();
        return undefined;
      case 'commandComplete':
        // The walsender ends a stream this way when the primary shuts down, then closes.
        throw this.#fail(new StrataError('PS_ERR_UPSTREAM', `primary ${this.#connection.target} ended replication (${message.tag})`, {
          tag: message.tag,
        }));
      case 'errorResponse':
        throw this.#fail(upstreamError(message.fields, 'replication stream failed'));
      default:
        throw this.#fail(this.#connection.unexpected(message, 'replication streaming'));
    }
  }

  #parse(payload: Uint8Array): ReplicationMessage {
    try {
      return parseReplicationMessage(payload);
    } catch (error) {
      throw this.#fail(error as Error);
    }
  }

  /** After both CopyDones: an optional (next_tli, next_tli_startpos) row, CommandComplete, Ready. */
  async #readTrailer(): Promise<void> {
    let nextTimeline: number | undefined;
    let nextTimelineStartLsn: Lsn | undefined;
    for (;;) {
      const message = await this.#read();
      if (message.name === 'readyForQuery') break;
      if (message.name === 'dataRow') {
        const [timeline, start] = message.values;
        if (timeline != null) nextTimeline = Number(timeline);
        if (start != null) nextTimelineStartLsn = parseLsn(start);
      } else if (message.name === 'errorResponse') {
        await this.#skipUntilReady();
        throw this.#fail(upstreamError(message.fields, 'ending replication failed'));
      } else if (message.name !== 'rowDescription' && message.name !== 'commandComplete') {
        throw this.#fail(this.#connection.unexpected(message, 'the end of replication'));
      }
    }
    this.#streamEnd = { nextTimeline, nextTimelineStartLsn };
    this.#state = 'ended';
    this.#onSettled();
  }

  async #skipUntilReady(): Promise<void> {
    for (;;) {
      const message = await this.#connection.nextMessage().catch(() => undefined);
      if (message === undefined || message.name === 'readyForQuery') return;
    }
  }

  #fail(error: Error): Error {
    if (this.#failure === undefined) {
      this.#failure = error;
      this.#state = 'failed';
      this.#onSettled();
    }
    return this.#failure;
  }
}
