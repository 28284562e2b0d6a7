/**
 * The server → client messages of physical streaming replication, carried inside CopyData.
 * Pure: parses one CopyData payload, no I/O.
 *
 *   XLogData 'w':  | 'w' | dataStart u64 | walEnd u64 | sendTime i64 | WAL bytes… |   (25-byte header)
 *   keepalive 'k': | 'k' | walEnd u64 | sendTime i64 | replyRequested u8 |           (18 bytes)
 *
 * All integers are big-endian. `sendTime` is PostgreSQL's TimestampTz (µs since 2000-01-01); it is
 * returned as Unix epoch milliseconds (fractional) because that is what the rest of Strata compares
 * against `Date.now()`. WAL bytes are a view into the CopyData payload: no copy on the hot path.
 */
import { StrataError } from '../errors.js';
import { readLsnBE, type Lsn } from '../lsn.js';
import { POSTGRES_EPOCH_UNIX_MS } from './frontend-serializer.js';

export const XLOG_DATA = 0x77; // w
export const PRIMARY_KEEPALIVE = 0x6b; // k
export const XLOG_DATA_HEADER_LENGTH = 1 + 8 + 8 + 8;
export const PRIMARY_KEEPALIVE_LENGTH = 1 + 8 + 8 + 1;

export interface XLogDataMessage {
  readonly kind: 'xlogData';
  readonly dataStart: Lsn;
  readonly walEnd: Lsn;
  /** Server clock at send, Unix epoch milliseconds. */
  readonly sendTime: number;
  readonly data: Uint8Array;
}

export interface KeepaliveMessage {
  readonly kind: 'keepalive';
  readonly walEnd: Lsn;
  /** Server clock at send, Unix epoch milliseconds. */
  readonly sendTime: number;
  readonly replyRequested: boolean;
}

export type ReplicationMessage = XLogDataMessage | KeepaliveMessage;

/** Reads a signed 64-bit µs-since-2000 timestamp as Unix epoch milliseconds. */
export function readPostgresTimestamp(view: DataView, offset: number): number {
  const high = view.getInt32(offset, false);
  const low = view.getUint32(offset + 4, false);
  return (high * 0x1_0000_0000 + low) / 1000 + POSTGRES_EPOCH_UNIX_MS;
}

/** Parses one CopyData payload of a START_REPLICATION stream; unknown tags are PS_ERR_PROTOCOL. */
export function parseReplicationMessage(payload: Uint8Array): ReplicationMessage {
  const tag = payload.length > 0 ? payload[0] : undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (tag === XLOG_DATA) {
    requireLength(payload, XLOG_DATA_HEADER_LENGTH, 'XLogData');
    return {
      kind: 'xlogData',
      dataStart: readLsnBE(payload, 1),
      walEnd: readLsnBE(payload, 9),
      sendTime: readPostgresTimestamp(view, 17),
      data: payload.subarray(XLOG_DATA_HEADER_LENGTH),
    };
  }
  if (tag === PRIMARY_KEEPALIVE) {
    requireLength(payload, PRIMARY_KEEPALIVE_LENGTH, 'keepalive');
    return {
      kind: 'keepalive',
      walEnd: readLsnBE(payload, 1),
      sendTime: readPostgresTimestamp(view, 9),
      replyRequested: payload[17] !== 0,
    };
  }
  throw new StrataError('PS_ERR_PROTOCOL', `unknown replication message tag ${tag ?? 'none'}`, { tag });
}

function requireLength(payload: Uint8Array, length: number, what: string): void {
  if (payload.length < length) {
    throw new StrataError('PS_ERR_PROTOCOL', `${what} message is ${payload.length} bytes, expected at least ${length}`, {
      length: payload.length,
    });
  }
}
