/**
 * Reading the answer to BASE_BACKUP in PostgreSQL 15's single-COPY format
 * (src/backend/backup/basebackup_copy.c):
 *
 *   result set (recptr text, tli int8)               backup start LSN and timeline
 *   result set (spcoid oid, spclocation text, size)  one row per tablespace; main has NULLs
 *   CopyOutResponse                                  one COPY for every archive
 *     CopyData 'n' name\0 location\0                 a new archive ("base.tar", "16385.tar")
 *     CopyData 'd' bytes…                            archive (or manifest) data
 *     CopyData 'p' i64                               progress, bytes done so far
 *     CopyData 'm'                                   manifest follows (we ask for MANIFEST 'no')
 *   CopyDone
 *   result set (recptr, tli)                         backup end LSN and timeline
 *   CommandComplete, ReadyForQuery
 *
 * Why streaming: a base backup is as large as the database. Archives are handed out one at a time
 * and their chunks are read from the socket only when the consumer asks; the connection's bounded
 * queue pauses the socket in between. Archives must be consumed in order: asking for the next
 * archive discards what is left of the current one, and an earlier archive's chunks cannot be read
 * afterwards (that is an assertion). `finished` settles once the last archive has been consumed.
 */
import { StrataError } from '../errors.js';
import { assert } from '../assert.js';
import { parseLsn, type Lsn } from '../lsn.js';
import { upstreamError, type PgConnection } from './connection.js';
import type { BackendMessage } from './messages.js';

export interface BaseBackupArchive {
  /** "base.tar" for the main data directory, "<oid>.tar" for a tablespace. */
  name: string;
  tablespaceOid: number | undefined;
  /** The tablespace directory on the primary; undefined for the main data directory. */
  location: string | undefined;
  chunks: AsyncIterable<Uint8Array>;
}

export interface BaseBackupEnd {
  endLsn: Lsn;
  timeline: number;
}

export interface BaseBackup {
  startLsn: Lsn;
  timeline: number;
  archives: AsyncIterable<BaseBackupArchive>;
  /** Settles after the archives have been consumed (never, if they are not). */
  finished: Promise<BaseBackupEnd>;
}

interface TablespaceRow {
  oid: number | undefined;
  location: string | undefined;
}

type CopyEvent =
  | { kind: 'data'; data: Uint8Array }
  | { kind: 'archive'; name: string; location: string }
  | { kind: 'end' };

const COPY_NEW_ARCHIVE = 0x6e; // n
const COPY_DATA = 0x64; // d
const COPY_PROGRESS = 0x70; // p
const COPY_MANIFEST = 0x6d; // m

const textDecoder = new TextDecoder();

/** Collects result sets until the message named `until`; ErrorResponse is read to Ready, then thrown. */
export async function readResultSets(
  connection: PgConnection,
  until: 'copyOutResponse' | 'readyForQuery',
  context: string,
): Promise<(string | null)[][][]> {
  const sets: (string | null)[][][] = [];
  let current: (string | null)[][] | undefined;
  for (;;) {
    const message = await connection.nextMessage();
    if (message.name === until) return sets;
    if (message.name === 'rowDescription') {
      current = [];
      sets.push(current);
    } else if (message.name === 'dataRow') {
      if (current === undefined) throw connection.protocolError(`DataRow without RowDescription during ${context}`);
      current.push(message.values as (string | null)[]);
    } else if (message.name === 'commandComplete') {
      current = undefined;
    } else if (message.name === 'errorResponse') {
      await skipUntilReady(connection);
      throw upstreamError(message.fields, `${context} failed`);
    } else {
      throw connection.unexpected(message, context);
    }
  }
}

/** After an ErrorResponse the server still sends ReadyForQuery; consume it to keep the connection usable. */
async function skipUntilReady(connection: PgConnection): Promise<void> {
  for (;;) {
    const message: BackendMessage | undefined = await connection.nextMessage().catch(() => undefined);
    if (message === undefined || message.name === 'readyForQuery') return;
  }
}

function firstRow(sets: (string | null)[][][], index: number, context: string): (string | null)[] {
  const row = sets[index]?.[0];
  if (row === undefined) throw new StrataError('PS_ERR_PROTOCOL', `${context}: missing result set ${index}`);
  return row;
}

function positionFromRow(row: (string | null)[], context: string): BaseBackupEnd {
  const [lsn, timeline] = row;
  if (lsn == null || timeline == null) throw new StrataError('PS_ERR_PROTOCOL', `${context}: LSN or timeline is NULL`);
  return { endLsn: parseLsn(lsn), timeline: Number(timeline) };
}

/** Reads the preamble after BASE_BACKUP was sent and returns the streaming BaseBackup. */
export async function readBaseBackup(connection: PgConnection, onDone: () => void): Promise<BaseBackup> {
  const sets = await readResultSets(connection, 'copyOutResponse', 'BASE_BACKUP');
  const start = positionFromRow(firstRow(sets, 0, 'BASE_BACKUP start'), 'BASE_BACKUP start');
  const tablespaces: TablespaceRow[] = (sets[1] ?? []).map((row) => ({
    oid: row[0] == null ? undefined : Number(row[0]),
    location: row[1] == null ? undefined : row[1],
  }));
  const reader = new BaseBackupReader(connection, tablespaces, onDone);
  return { startLsn: start.endLsn, timeline: start.timeline, archives: reader.archives(), finished: reader.finished };
}

class BaseBackupReader {
  readonly finished: Promise<BaseBackupEnd>;
  readonly #connection: PgConnection;
  readonly #tablespaces: TablespaceRow[];
  readonly #onDone: () => void;
  #resolve!: (end: BaseBackupEnd) => void;
  #reject!: (error: Error) => void;
  /** Index of the archive whose chunks may be read; -1 before the first. */
  #current = -1;
  #archiveOpen = false;
  #nextArchive: { name: string; location: string } | undefined;
  #copyEnded = false;
  #inManifest = false;

  constructor(connection: PgConnection, tablespaces: TablespaceRow[], onDone: () => void) {
    this.#connection = connection;
    this.#tablespaces = tablespaces;
    this.#onDone = onDone;
    this.finished = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Errors also surface through the archive iterator; this keeps an unobserved `finished` quiet.
    this.finished.catch(() => undefined);
  }

  async *archives(): AsyncGenerator<BaseBackupArchive> {
    try {
      for (;;) {
        const header = this.#nextArchive ?? (await this.#firstArchive());
        this.#nextArchive = undefined;
        if (header === undefined) break;
        const index = ++this.#current;
        this.#archiveOpen = true;
        yield this.#describe(header, this.#chunks(index));
        while (this.#archiveOpen) await this.#nextEvent(); // discard what the consumer left
      }
      await this.#finish();
    } catch (error) {
      this.#reject(error as Error);
      this.#onDone();
      throw error;
    }
  }

  #describe(header: { name: string; location: string }, chunks: AsyncIterable<Uint8Array>): BaseBackupArchive {
    const location = header.location === '' ? undefined : header.location;
    const row = location === undefined ? undefined : this.#tablespaces.find((tablespace) => tablespace.location === location);
    const oidFromName = /^(\d+)\.tar/.exec(header.name)?.[1];
    const tablespaceOid = row?.oid ?? (oidFromName === undefined ? undefined : Number(oidFromName));
    return { name: header.name, tablespaceOid: location === undefined ? undefined : tablespaceOid, location, chunks };
  }

  async *#chunks(index: number): AsyncGenerator<Uint8Array> {
    assert(index === this.#current, 'base backup archives must be consumed in order');
    while (this.#archiveOpen && index === this.#current) {
      const data = await this.#nextEvent();
      if (data !== undefined) yield data;
    }
  }

  /** Reads until the first 'n' (or the end of the COPY when there are no archives). */
  async #firstArchive(): Promise<{ name: string; location: string } | undefined> {
    while (!this.#copyEnded && this.#nextArchive === undefined) {
      this.#archiveOpen = true;
      const data = await this.#nextEvent();
      if (data !== undefined) throw new StrataError('PS_ERR_PROTOCOL', 'BASE_BACKUP sent data before any archive');
    }
    return this.#nextArchive;
  }

  /** Advances one CopyData; returns archive bytes, or undefined after a control message. */
  async #nextEvent(): Promise<Uint8Array | undefined> {
    assert(!this.#copyEnded, 'no events after the end of the COPY');
    const event = await this.#readEvent();
    if (event.kind === 'data') return this.#inManifest ? undefined : event.data;
    this.#archiveOpen = false;
    if (event.kind === 'archive') {
      this.#inManifest = false;
      this.#nextArchive = { name: event.name, location: event.location };
    } else {
      this.#copyEnded = true;
    }
    return undefined;
  }

  async #readEvent(): Promise<CopyEvent> {
    for (;;) {
      const message = await this.#connection.nextMessage();
      if (message.name === 'copyDone') return { kind: 'end' };
      if (message.name === 'errorResponse') throw upstreamError(message.fields, 'BASE_BACKUP failed');
      if (message.name !== 'copyData') throw this.#connection.unexpected(message, 'BASE_BACKUP copy');
      const payload = message.data;
      const tag = payload[0];
      if (tag === COPY_DATA) return { kind: 'data', data: payload.subarray(1) };
      if (tag === COPY_NEW_ARCHIVE) return this.#parseNewArchive(payload);
      if (tag === COPY_MANIFEST) this.#inManifest = true;
      else if (tag !== COPY_PROGRESS) throw this.#connection.protocolError(`unknown BASE_BACKUP copy tag ${tag ?? 'none'}`);
    }
  }

  #parseNewArchive(payload: Uint8Array): CopyEvent {
    const nameEnd = payload.indexOf(0, 1);
    const locationEnd = nameEnd < 0 ? -1 : payload.indexOf(0, nameEnd + 1);
    if (locationEnd < 0) throw this.#connection.protocolError('malformed BASE_BACKUP new-archive message');
    return {
      kind: 'archive',
      name: textDecoder.decode(payload.subarray(1, nameEnd)),
      location: textDecoder.decode(payload.subarray(nameEnd + 1, locationEnd)),
    };
  }

  async #finish(): Promise<void> {
    assert(this.#copyEnded, 'the trailer follows the end of the COPY');
    const sets = await readResultSets(this.#connection, 'readyForQuery', 'BASE_BACKUP end');
    const end = positionFromRow(firstRow(sets, 0, 'BASE_BACKUP end'), 'BASE_BACKUP end');
    this.#onDone();
    this.#resolve(end);
  }
}
