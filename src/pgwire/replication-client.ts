/**
 * A physical replication client over a `replication=true` connection: the commands the
 * walreceiver needs (IDENTIFY_SYSTEM, CREATE/DROP_REPLICATION_SLOT, BASE_BACKUP,
 * START_REPLICATION) with typed results.
 *
 * Why: Strata follows a stock primary the way a standby does. The walreceiver creates a slot,
 * takes a base backup, then streams WAL from the backup start through the slot, answering
 * keepalives with standby status updates so the primary can recycle WAL.
 *
 * One command at a time: BASE_BACKUP and START_REPLICATION keep the connection busy until their
 * stream is consumed (or ended); issuing another command meanwhile is a programmer error (assert).
 * Errors are coded: server errors PS_ERR_UPSTREAM (duplicate slot PS_ERR_ALREADY_EXISTS, missing
 * slot PS_ERR_NOT_FOUND), a lost socket PS_ERR_UPSTREAM, bad bytes PS_ERR_PROTOCOL.
 */
import { StrataError } from '../errors.js';
import { assert } from '../assert.js';
import { formatLsn, parseLsn, type Lsn } from '../lsn.js';
import { PgConnection, type ConnectOptions, type QueryResult } from './connection.js';
import { readBaseBackup, type BaseBackup } from './base-backup.js';
import { ReplicationStream } from './replication-stream.js';

export type { BaseBackup, BaseBackupArchive, BaseBackupEnd } from './base-backup.js';
export { ReplicationStream, type StatusUpdate, type StreamEnd } from './replication-stream.js';
export type { ReplicationMessage, XLogDataMessage, KeepaliveMessage } from './replication-messages.js';

export interface SystemIdentity {
  /** The cluster's system identifier (a u64, kept as decimal text). */
  systemId: string;
  timeline: number;
  /** The current WAL flush position on the primary. */
  xlogPos: Lsn;
  dbName: string | null;
}

export interface BaseBackupOptions {
  label: string;
  /** CHECKPOINT 'fast' instead of a spread checkpoint. */
  fastCheckpoint: boolean;
  /** Rate limit in kB/s (32..1048576), as PostgreSQL's MAX_RATE. */
  maxRate?: number;
  /** Ask for a tablespace_map file in base.tar (needed when tablespaces exist). */
  tablespaceMap?: boolean;
}

export interface StartReplicationOptions {
  slotName?: string;
  startLsn: Lsn;
  timeline?: number;
}

const SLOT_NAME_PATTERN = /^[a-z0-9_]{1,63}$/;

export function checkSlotName(name: string): void {
  if (!SLOT_NAME_PATTERN.test(name)) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `invalid replication slot name '${name}': use 1-63 of [a-z0-9_]`, { slotName: name });
  }
}

function quoteLiteral(text: string): string {
  assert(!text.includes('\0'), 'a literal cannot contain NUL');
  return `'${text.replace(/'/g, "''")}'`;
}

/** The BASE_BACKUP command in PG15's parenthesized option syntax. */
export function baseBackupCommand(options: BaseBackupOptions): string {
  const parts = [
    `LABEL ${quoteLiteral(options.label)}`,
    `CHECKPOINT '${options.fastCheckpoint ? 'fast' : 'spread'}'`,
    'WAL false',
    'WAIT false',
    "MANIFEST 'no'",
  ];
  if (options.maxRate !== undefined) {
    assert(Number.isInteger(options.maxRate) && options.maxRate >= 32 && options.maxRate <= 1_048_576, 'MAX_RATE is 32..1048576 kB/s');
    parts.push(`MAX_RATE ${options.maxRate}`);
  }
  if (options.tablespaceMap === true) parts.push('TABLESPACE_MAP true');
  return `BASE_BACKUP ( ${parts.join(', ')} )`;
}

export function startReplicationCommand(options: StartReplicationOptions): string {
  assert(Number.isSafeInteger(options.startLsn) && options.startLsn >= 0, 'start LSN must be valid');
  let command = 'START_REPLICATION';
  if (options.slotName !== undefined) {
    checkSlotName(options.slotName);
    command += ` SLOT ${options.slotName}`;
  }
  command += ` PHYSICAL ${formatLsn(options.startLsn)}`;
  if (options.timeline !== undefined) {
    assert(Number.isInteger(options.timeline) && options.timeline >= 1, 'timeline ids start at 1');
    command += ` TIMELINE ${options.timeline}`;
  }
  return command;
}

function singleRow(results: QueryResult[], command: string): (string | null)[] {
  const row = results[0]?.rows[0];
  if (row === undefined) throw new StrataError('PS_ERR_PROTOCOL', `${command} returned no row`);
  return row;
}

export class ReplicationClient {
  readonly #connection: PgConnection;
  #busy: string | undefined;

  private constructor(connection: PgConnection) {
    this.#connection = connection;
  }

  static async connect(connectionString: string, options: Omit<ConnectOptions, 'replication'> = {}): Promise<ReplicationClient> {
    return new ReplicationClient(await PgConnection.connect(connectionString, { ...options, replication: 'true' }));
  }

  /** The underlying connection (server parameters, target name). */
  get connection(): PgConnection {
    return this.#connection;
  }

  async identifySystem(): Promise<SystemIdentity> {
    const row = singleRow(await this.#command('IDENTIFY_SYSTEM'), 'IDENTIFY_SYSTEM');
    const [systemId, timeline, xlogPos, dbName] = row;
    if (systemId == null || timeline == null || xlogPos == null) {
      throw new StrataError('PS_ERR_PROTOCOL', 'IDENTIFY_SYSTEM returned NULL fields');
    }
    return { systemId, timeline: Number(timeline), xlogPos: parseLsn(xlogPos), dbName: dbName ?? null };
  }

  async createPhysicalSlot(name: string, options: { reserveWal: boolean }): Promise<{ slotName: string; consistentPoint: Lsn | undefined }> {
    checkSlotName(name);
    const suffix = options.reserveWal ? ' (RESERVE_WAL true)' : '';
    const row = singleRow(await this.#command(`CREATE_REPLICATION_SLOT ${name} PHYSICAL${suffix}`), 'CREATE_REPLICATION_SLOT');
    const [slotName, consistentPoint] = row;
    // PostgreSQL reports 0/0 (InvalidXLogRecPtr) for physical slots; that is "no consistent point".
    const point = consistentPoint == null ? 0 : parseLsn(consistentPoint);
    return { slotName: slotName ?? name, consistentPoint: point === 0 ? undefined : point };
  }

  async dropSlot(name: string): Promise<void> {
    checkSlotName(name);
    await this.#command(`DROP_REPLICATION_SLOT ${name}`);
  }

  /** Starts BASE_BACKUP; the connection is busy until `archives` has been consumed. */
  async baseBackup(options: BaseBackupOptions): Promise<BaseBackup> {
    this.#begin('BASE_BACKUP');
    try {
      this.#connection.sendQuery(baseBackupCommand(options));
      return await readBaseBackup(this.#connection, () => this.#end('BASE_BACKUP'));
    } catch (error) {
      this.#end('BASE_BACKUP');
      throw error;
    }
  }

  /** Sends START_REPLICATION; the stream reports a refused start on its first `next()`. */
  startReplication(options: StartReplicationOptions): ReplicationStream {
    const command = startReplicationCommand(options);
    this.#begin('START_REPLICATION');
    this.#connection.sendQuery(command);
    return new ReplicationStream(this.#connection, () => this.#end('START_REPLICATION'));
  }

  async close(): Promise<void> {
    await this.#connection.close();
  }

  async #command(sql: string): Promise<QueryResult[]> {
    this.#begin(sql);
    try {
      return await this.#connection.simpleQuery(sql);
    } finally {
      this.#end(sql);
    }
  }

  #begin(what: string): void {
    assert(this.#busy === undefined, `replication connection is busy with ${this.#busy ?? ''}; cannot run ${what}`);
    this.#busy = what;
  }

  #end(what: string): void {
    assert(this.#busy === what, `ending ${what} while busy with ${this.#busy ?? 'nothing'}`);
    this.#busy = undefined;
  }
}
